"""PyKMIP's ProxyKmipClient as an application of krypton-gateway, driven by the end-to-end tests.

Usage: client.py HOST PORT CERT KEY CA COMMANDS

COMMANDS is a JSON list run in order on one connection, each an object with "op" and its
arguments:
  {"op": "create", "name": N, "algorithm": A?, "length": L?, "usage": [U, ...]?}
                                        a key of PyKMIP's CryptographicAlgorithm A and L bits
                                        (AES, 256), Name N, usage mask U|... (ENCRYPT|DECRYPT)
                                        -> uid
  {"op": "activate", "uid": U}          -> uid
  {"op": "get", "uid": U}               -> {"type": object type, "value": hex}, and a key's
                                        "format", "algorithm", "length", a certificate's
                                        "certificate_type"
  {"op": "get_attributes", "uid": U, "names": [N, ...]?}
                                        the attributes named N (all without names) ->
                                        {attribute name: value as text; a Digest as
                                        "ALGORITHM:hex"}
  {"op": "locate", "name": N?, "object_type": T?}
                                        by Name N and/or PyKMIP's ObjectType T -> [uid, ...]
  {"op": "revoke", "uid": U}            Cessation of Operation -> uid
  {"op": "rekey", "uid": U, "offset": O?}  Re-key, the new key active O seconds after it is
                                        made -> the new key's uid
  {"op": "destroy", "uid": U}           -> uid
  {"op": "register_secret", "value": H} Secret Data (password) of the hex bytes H -> uid
  {"op": "register_key", "value": H}    AES Symmetric Key of the hex bytes H -> uid
  {"op": "register_opaque", "value": H} Opaque Object of the hex bytes H -> uid
  {"op": "register_asymmetric", "kind": "PRIVATE" or "PUBLIC", "format": F, "algorithm": A,
   "length": L, "value": H, "name": N?, "usage": [U]?}
                                        a Private or Public Key of PyKMIP's KeyFormatType F
                                        (PKCS_8, PKCS_1, X_509), CryptographicAlgorithm A and
                                        L bits, DER H -> uid
  {"op": "register_certificate", "value": H, "name": N?}
                                        an X.509 Certificate of DER H -> uid
  {"op": "encrypt", "uid": U, "mode": M, "data": H, "iv": H?, "random_iv": bool?}
                                        AES in mode M (CBC with PKCS5 padding, CTR, ECB) by
                                        the server -> {"data": hex, "iv": hex or null}
  {"op": "decrypt", "uid": U, "mode": M, "data": H, "iv": H}  by the server -> hex
  {"op": "mac", "uid": U, "data": H}    HMAC-SHA256 by the server -> hex
  {"op": "create_key_pair", "algorithm": A, "length": L, "name": N?, "private_usage": [U]?,
   "public_usage": [U]?}                a key pair of PyKMIP's CryptographicAlgorithm A (RSA,
                                        ECDSA, ED25519) and L bits, both halves named N (the
                                        private one N-private), usage masks as given (none:
                                        the server's) -> {"private": uid, "public": uid}
  {"op": "sign", "uid": U, "data": H, "params": P?}
                                        Sign by the server with Cryptographic Parameters P
                                        ({PyKMIP parameter name: enumeration member name},
                                        e.g. {"padding_method": "PSS", "hashing_algorithm":
                                        "SHA_256"}) -> hex
  {"op": "verify", "uid": U, "data": H, "signature": H, "params": P?}
                                        Signature Verify by the server -> "VALID" or "INVALID"
  {"op": "aes", "key": H, "mode": M, "iv": H, "data": H, "aad": H?, "tag": H?, "decrypt": bool}
                                        (M NIST_KEY_WRAP or AES_KEY_WRAP_PADDING: no "iv")
                                        the same here, with the `cryptography` package (and
                                        GCM, whose tag PyKMIP does not carry): the oracle the
                                        server's results are checked against -> hex (GCM
                                        encryption: {"data": hex, "tag": hex})
  {"op": "hmac", "key": H, "data": H}   HMAC-SHA256 here, by Python's hmac module -> hex
  {"op": "check_signature", "key": H, "data": H, "signature": H, "scheme": S}
                                        the signature checked here with the `cryptography`
                                        package against the DER public key H (as Get returns
                                        it), S one of PSS_SHA256, PKCS1_SHA256, ECDSA_SHA256,
                                        ECDSA_SHA384, ED25519 -> true or false
  {"op": "generate_rsa", "bits": B}     an RSA key pair made here by the `cryptography`
                                        package -> {"pkcs8": hex, "pkcs1": hex, "spki": hex,
                                        "pkcs1_public": hex}
  {"op": "make_certificate", "cn": CN, "sans": N?}
                                        a self-signed X.509 certificate (P-256) made here by
                                        the `cryptography` package, with N DNS names in its
                                        Subject Alternative Name (none by default) -> DER as hex

Prints one JSON list with one entry per command: {"ok": result}, or {"error": Result Reason,
"message": Result Message} for a KMIP failure, or {"exception": text} for anything else (such
as a dropped connection). The exit status is 0 whenever the list is printed.
"""

import hashlib
import hmac
import json
import sys

from kmip.core import enums
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import objects
from kmip.pie.client import ProxyKmipClient
from kmip.pie.exceptions import KmipOperationFailure


def run(client, command):
    op = command["op"]
    if op == "create":
        algorithm = getattr(enums.CryptographicAlgorithm, command.get("algorithm", "AES"))
        usage = command.get("usage", ["ENCRYPT", "DECRYPT"])
        mask = [getattr(enums.CryptographicUsageMask, name) for name in usage]
        return client.create(
            algorithm, command.get("length", 256), name=command["name"],
            cryptographic_usage_mask=mask)
    if op == "activate":
        client.activate(command["uid"])
        return command["uid"]
    if op == "get":
        managed = client.get(command["uid"])
        result = {"type": managed.object_type.name, "value": managed.value.hex()}
        if managed.object_type in (enums.ObjectType.PUBLIC_KEY, enums.ObjectType.PRIVATE_KEY):
            result["format"] = managed.key_format_type.name
            result["algorithm"] = managed.cryptographic_algorithm.name
            result["length"] = managed.cryptographic_length
        if managed.object_type == enums.ObjectType.CERTIFICATE:
            result["certificate_type"] = managed.certificate_type.name
        return result
    if op == "get_attributes":
        _, attributes = client.get_attributes(command["uid"], command.get("names"))
        return {a.attribute_name.value: attribute_text(a.attribute_value) for a in attributes}
    if op == "locate":
        factory = AttributeFactory()
        filters = []
        if "name" in command:
            filters.append(factory.create_attribute(enums.AttributeType.NAME, command["name"]))
        if "object_type" in command:
            filters.append(factory.create_attribute(
                enums.AttributeType.OBJECT_TYPE,
                getattr(enums.ObjectType, command["object_type"])))
        return client.locate(attributes=filters)
    if op == "rekey":
        return client.rekey(uid=command["uid"], offset=command.get("offset"))
    if op == "revoke":
        client.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, command["uid"])
        return command["uid"]
    if op == "destroy":
        client.destroy(command["uid"])
        return command["uid"]
    if op == "register_secret":
        secret = objects.SecretData(
            bytes.fromhex(command["value"]), enums.SecretDataType.PASSWORD)
        return client.register(secret)
    if op == "register_key":
        value = bytes.fromhex(command["value"])
        key = objects.SymmetricKey(enums.CryptographicAlgorithm.AES, len(value) * 8, value)
        return client.register(key)
    if op == "register_opaque":
        opaque = objects.OpaqueObject(
            bytes.fromhex(command["value"]), enums.OpaqueDataType.NONE)
        return client.register(opaque)
    if op == "register_asymmetric":
        kind = objects.PrivateKey if command["kind"] == "PRIVATE" else objects.PublicKey
        key = kind(
            getattr(enums.CryptographicAlgorithm, command["algorithm"]), command["length"],
            bytes.fromhex(command["value"]), getattr(enums.KeyFormatType, command["format"]),
            masks=usage_mask(command.get("usage")))
        if "name" in command:
            key.names = [command["name"]]
        return client.register(key)
    if op == "register_certificate":
        certificate = objects.X509Certificate(bytes.fromhex(command["value"]))
        if "name" in command:
            certificate.names = [command["name"]]
        return client.register(certificate)
    if op == "encrypt":
        data, iv = client.encrypt(
            bytes.fromhex(command["data"]), uid=command["uid"],
            cryptographic_parameters=parameters(command),
            iv_counter_nonce=optional_hex(command.get("iv")))
        return {"data": data.hex(), "iv": iv.hex() if iv else None}
    if op == "decrypt":
        data = client.decrypt(
            bytes.fromhex(command["data"]), uid=command["uid"],
            cryptographic_parameters=parameters(command),
            iv_counter_nonce=optional_hex(command.get("iv")))
        return data.hex()
    if op == "mac":
        _, mac = client.mac(
            bytes.fromhex(command["data"]), uid=command["uid"],
            algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
        return mac.hex()
    if op == "create_key_pair":
        name = command.get("name")
        public, private = client.create_key_pair(
            getattr(enums.CryptographicAlgorithm, command["algorithm"]), command["length"],
            public_name=name, private_name=name and name + "-private",
            public_usage_mask=usage_mask(command.get("public_usage")),
            private_usage_mask=usage_mask(command.get("private_usage")))
        return {"private": private, "public": public}
    if op == "sign":
        signature = client.sign(
            bytes.fromhex(command["data"]), uid=command["uid"],
            cryptographic_parameters=signature_parameters(command))
        return signature.hex()
    if op == "verify":
        validity = client.signature_verify(
            bytes.fromhex(command["data"]), bytes.fromhex(command["signature"]),
            uid=command["uid"], cryptographic_parameters=signature_parameters(command))
        return validity.name
    raise ValueError("unknown op " + op)


def usage_mask(names):
    return [getattr(enums.CryptographicUsageMask, name) for name in names] if names else None


# The enumeration each Cryptographic Parameters field a test names takes its members from.
PARAMETER_ENUMS = {
    "padding_method": enums.PaddingMethod,
    "hashing_algorithm": enums.HashingAlgorithm,
    "digital_signature_algorithm": enums.DigitalSignatureAlgorithm,
    "cryptographic_algorithm": enums.CryptographicAlgorithm,
}


def signature_parameters(command):
    params = command.get("params")
    if not params:
        return None
    return {field: getattr(PARAMETER_ENUMS[field], member) for field, member in params.items()}


def check_signature(command):
    """The signature checked by the `cryptography` package: independent of the server's."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    key = serialization.load_der_public_key(bytes.fromhex(command["key"]))
    data, signature = bytes.fromhex(command["data"]), bytes.fromhex(command["signature"])
    scheme = command["scheme"]
    try:
        if scheme == "PSS_SHA256":
            key.verify(signature, data, padding.PSS(
                mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        elif scheme == "PKCS1_SHA256":
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif scheme == "ECDSA_SHA256":
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif scheme == "ECDSA_SHA384":
            key.verify(signature, data, ec.ECDSA(hashes.SHA384()))
        elif scheme == "ED25519":
            key.verify(signature, data)
        else:
            raise ValueError("unknown scheme " + scheme)
    except InvalidSignature:
        return False
    return True


def attribute_text(value):
    """An attribute's value as text; a Digest (whose text PyKMIP does not give) as ALG:hex."""
    if hasattr(value, "digest_value"):
        return "{}:{}".format(value.hashing_algorithm.value.name, value.digest_value.value.hex())
    return str(value)


def generate_rsa(command):
    """An RSA key pair in the DER forms a client registers, made by the `cryptography`
    package."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=command["bits"])
    der, none = serialization.Encoding.DER, serialization.NoEncryption()
    return {
        "pkcs8": key.private_bytes(der, serialization.PrivateFormat.PKCS8, none).hex(),
        "pkcs1": key.private_bytes(
            der, serialization.PrivateFormat.TraditionalOpenSSL, none).hex(),
        "spki": key.public_key().public_bytes(
            der, serialization.PublicFormat.SubjectPublicKeyInfo).hex(),
        "pkcs1_public": key.public_key().public_bytes(
            der, serialization.PublicFormat.PKCS1).hex(),
    }


def make_certificate(command):
    """A self-signed X.509 certificate for a new P-256 key, made by the `cryptography`
    package."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, command["cn"])])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30)))
    sans = command.get("sans", 0)
    if sans:
        names = [x509.DNSName("host-{:05}.example.com".format(i)) for i in range(sans)]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    certificate = builder.sign(key, hashes.SHA256())
    return certificate.public_bytes(serialization.Encoding.DER).hex()


LOCAL_OPS = {"check_signature": check_signature, "generate_rsa": generate_rsa,
             "make_certificate": make_certificate}


def optional_hex(value):
    return bytes.fromhex(value) if value is not None else None


def parameters(command):
    mode = command["mode"]
    result = {
        "cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
        "block_cipher_mode": getattr(enums.BlockCipherMode, mode),
    }
    if mode == "CBC":
        result["padding_method"] = enums.PaddingMethod.PKCS5
    if command.get("random_iv"):
        result["random_iv"] = True
    return result


def local_aes(command):
    """AES by the `cryptography` package: an implementation independent of the server's."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key, data = bytes.fromhex(command["key"]), bytes.fromhex(command["data"])
    mode, decrypting = command["mode"], command.get("decrypt", False)
    if mode in ("NIST_KEY_WRAP", "AES_KEY_WRAP_PADDING"):
        from cryptography.hazmat.primitives import keywrap
        padded = mode == "AES_KEY_WRAP_PADDING"
        if decrypting:
            unwrap = keywrap.aes_key_unwrap_with_padding if padded else keywrap.aes_key_unwrap
            return unwrap(key, data).hex()
        wrap = keywrap.aes_key_wrap_with_padding if padded else keywrap.aes_key_wrap
        return wrap(key, data).hex()
    iv = bytes.fromhex(command["iv"])
    if mode == "GCM":
        aad = bytes.fromhex(command.get("aad", ""))
        if decrypting:
            return AESGCM(key).decrypt(iv, data + bytes.fromhex(command["tag"]), aad).hex()
        sealed = AESGCM(key).encrypt(iv, data, aad)
        return {"data": sealed[:-16].hex(), "tag": sealed[-16:].hex()}
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv) if mode == "CBC" else modes.CTR(iv))
    if decrypting:
        context = cipher.decryptor()
        plain = context.update(data) + context.finalize()
        if mode == "CBC":
            unpadder = padding.PKCS7(128).unpadder()
            plain = unpadder.update(plain) + unpadder.finalize()
        return plain.hex()
    if mode == "CBC":
        padder = padding.PKCS7(128).padder()
        data = padder.update(data) + padder.finalize()
    context = cipher.encryptor()
    return (context.update(data) + context.finalize()).hex()


def main():
    host, port, cert, key, ca, commands = sys.argv[1:7]
    results = []
    client = ProxyKmipClient(hostname=host, port=int(port), cert=cert, key=key, ca=ca)
    with client:
        for command in json.loads(commands):
            try:
                if command["op"] == "aes":
                    results.append({"ok": local_aes(command)})
                    continue
                if command["op"] in LOCAL_OPS:
                    results.append({"ok": LOCAL_OPS[command["op"]](command)})
                    continue
                if command["op"] == "hmac":
                    key, data = bytes.fromhex(command["key"]), bytes.fromhex(command["data"])
                    results.append({"ok": hmac.new(key, data, hashlib.sha256).hexdigest()})
                    continue
                results.append({"ok": run(client, command)})
            except KmipOperationFailure as failure:
                results.append({"error": failure.reason.name, "message": failure.message})
            except Exception as error:  # a dropped connection: reported, the rest still tried
                results.append({"exception": repr(error)})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
