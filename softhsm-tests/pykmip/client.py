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
  {"op": "register_key", "value": H, "usage": [U]?}
                                        AES Symmetric Key of the hex bytes H, with the usage
                                        mask of PyKMIP's CryptographicUsageMask names U -> uid
  {"op": "register_opaque", "value": H} Opaque Object of the hex bytes H -> uid
  {"op": "register_asymmetric", "kind": "PRIVATE" or "PUBLIC", "format": F, "algorithm": A,
   "length": L, "value": H, "name": N?, "usage": [U]?}
                                        a Private or Public Key of PyKMIP's KeyFormatType F
                                        (PKCS_8, PKCS_1, X_509), CryptographicAlgorithm A and
                                        L bits, DER H -> uid
  {"op": "get_in_format", "uid": U, "format": F}
                                        Get in PyKMIP's KeyFormatType F through PyKMIP's
                                        KMIPProxy (its ProxyKmipClient neither names a format
                                        nor carries a structure of key material) -> {"format":
                                        F, "value": hex} for key material that is a byte
                                        string; for a Transparent structure {"format": F,
                                        "fields": {tag name: hex of a Big Integer or Byte
                                        String, name of an enumeration}}, the fields read by
                                        PyKMIP's own primitives
  {"op": "register_transparent", "kind": "PRIVATE" or "PUBLIC", "format": F, "algorithm": A,
   "length": L, "fields": [[TAG, V], ...], "usage": [U]?}
                                        a Private or Public Key in the Transparent format F
                                        (PyKMIP's KeyFormatType), through KMIPProxy: its Key
                                        Material structure written by PyKMIP's primitives, each
                                        field a Big Integer of the hex V, but Q_STRING (a Byte
                                        String of the hex V) and RECOMMENDED_CURVE (the
                                        RecommendedCurve named V) -> uid
  {"op": "register_certificate", "value": H, "name": N?}
                                        an X.509 Certificate of DER H -> uid
  {"op": "encrypt", "uid": U, "mode": M, "data": H, "iv": H?, "random_iv": bool?}
                                        AES in mode M (CBC with PKCS5 padding, CTR, ECB) by
                                        the server -> {"data": hex, "iv": hex or null}
  {"op": "decrypt", "uid": U, "mode": M, "data": H, "iv": H}  by the server -> hex
                                        (encrypt and decrypt with "params" P instead of
                                        "mode": the Cryptographic Parameters P, as for "sign",
                                        e.g. RSA-OAEP)
  {"op": "get_wrapped", "uid": U, "wrapping_uid": W, "params": P?, "encoding": E?,
   "method": M?, "attribute_names": [N]?}
                                        Get with a Key Wrapping Specification: Wrapping Method
                                        M (ENCRYPT), the key W with Cryptographic Parameters P
                                        (as for "sign"), Encoding Option E (NO_ENCODING;
                                        "NONE" sends none) -> {"value": hex of the wrapped
                                        material, "format": F, "wrapping": the Key Wrapping
                                        Data as PyKMIP reads it, enumerations by name}
  {"op": "register_wrapped", "kind": "SYMMETRIC" or "PRIVATE", "value": H, "wrapping_uid": W,
   "params": P?, "algorithm": A, "length": L, "format": F?, "usage": [U]?, "encoding": E?}
                                        a Symmetric Key (Raw) or Private Key (format F) whose
                                        material H is wrapped under the key W (Encryption Key
                                        Information with parameters P, Encoding Option E:
                                        NO_ENCODING by default, "NONE" sends none) -> uid
  {"op": "key_value", "value": H}       the TTLV encoding of a Key Value holding the key
                                        material H, written by PyKMIP (what a wrap in the TTLV
                                        encoding wraps) -> hex
  {"op": "read_key_value", "value": H}  the key material of the TTLV-encoded Key Value H, read
                                        by PyKMIP -> hex
  {"op": "oaep", "key": H, "data": H, "hash": S, "decrypt": bool?}
                                        RSA-OAEP (MGF1 of the same hash S: SHA1, SHA256…) here,
                                        with the `cryptography` package: encrypting under the
                                        DER public key H (SubjectPublicKeyInfo or PKCS#1), or
                                        decrypting under the PKCS#8 private key H -> hex
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
                                        (M NIST_KEY_WRAP, AES_KEY_WRAP_PADDING or ECB: no "iv")
                                        the same here, with the `cryptography` package (and
                                        GCM, whose tag PyKMIP does not carry): the oracle the
                                        server's results are checked against -> hex (GCM
                                        encryption: {"data": hex, "tag": hex})
  {"op": "hmac", "key": H, "data": H}   HMAC-SHA256 here, by Python's hmac module -> hex
  {"op": "derive", "uid": U, "method": M, "algorithm": A, "length": L, "usage": [U]?,
   "params": P?, "data": H?, "salt": H?, "iterations": N?, "iv": H?}
                                        Derive Key of a Symmetric Key of PyKMIP's
                                        CryptographicAlgorithm A and L bits from the key U by
                                        PyKMIP's DerivationMethod M, with Cryptographic
                                        Parameters P (as for "sign", and "block_cipher_mode"),
                                        Derivation Data, Salt, Iteration Count and
                                        Initialization Vector as given -> the new key's uid
  {"op": "kdf", "key": H, "method": M, "bytes": B, ...}
                                        the key "derive" makes (same arguments), made here from
                                        the key bytes H twice: with the `cryptography` package
                                        and hashlib, and with PyKMIP's own server engine; the
                                        two must agree -> hex of B bytes
  {"op": "check_signature", "key": H, "data": H, "signature": H, "scheme": S}
                                        the signature checked here with the `cryptography`
                                        package against the DER public key H (as Get returns
                                        it), S one of PSS_SHA256, PKCS1_SHA256, ECDSA_SHA256,
                                        ECDSA_SHA384, ED25519 -> true or false
  {"op": "generate_rsa", "bits": B}     an RSA key pair made here by the `cryptography`
                                        package -> {"pkcs8": hex, "pkcs1": hex, "spki": hex,
                                        "pkcs1_public": hex, "numbers": {tag name: hex}}
                                        (the numbers under their Transparent RSA Private Key
                                        tags, MODULUS…CRT_COEFFICIENT)
  {"op": "generate_ec", "curve": C}     an EC key pair on C (P-256 or P-384) made here by the
                                        `cryptography` package -> {"pkcs8": hex, "spki": hex,
                                        "d": hex, "q": hex of the uncompressed point}
  {"op": "key_numbers", "value": H, "private": bool}
                                        the numbers of the DER key H (PKCS#8 private, or
                                        SubjectPublicKeyInfo or PKCS#1 public), read here by the
                                        `cryptography` package: RSA keys as "numbers" above
                                        (a public key: MODULUS and PUBLIC_EXPONENT), EC keys as
                                        {"D": hex} or {"Q_STRING": hex}
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
import os
import sys

from kmip.core import attributes as core_attributes
from kmip.core import enums, misc, primitives, secrets, utils
from kmip.core import objects as core_objects
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
        key = objects.SymmetricKey(
            enums.CryptographicAlgorithm.AES, len(value) * 8, value,
            masks=usage_mask(command.get("usage")))
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
    if op == "get_in_format":
        result = client.proxy.get(
            command["uid"],
            key_format_type=misc.KeyFormatType(getattr(enums.KeyFormatType, command["format"])))
        if result.result_status.value != enums.ResultStatus.SUCCESS:
            raise KmipOperationFailure(
                result.result_status.value, result.result_reason.value,
                result.result_message.value)
        block = result.secret.key_block
        material = block.key_value.key_material
        if isinstance(material, core_objects.KeyMaterialStruct):
            return {"format": block.key_format_type.value.name,
                    "fields": read_fields(material.data.buffer)}
        return {"format": block.key_format_type.value.name, "value": bytes(material.value).hex()}
    if op == "register_transparent":
        return register_transparent(client, command)
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
    if op == "get_wrapped":
        information = {"unique_identifier": command["wrapping_uid"]}
        if command.get("params"):
            information["cryptographic_parameters"] = signature_parameters(command)
        spec = {
            "wrapping_method": getattr(enums.WrappingMethod, command.get("method", "ENCRYPT")),
            "encryption_key_information": information,
        }
        if command.get("encoding", "NO_ENCODING") != "NONE":
            spec["encoding_option"] = getattr(
                enums.EncodingOption, command.get("encoding", "NO_ENCODING"))
        if command.get("attribute_names"):
            spec["attribute_names"] = command["attribute_names"]
        managed = client.get(command["uid"], key_wrapping_specification=spec)
        return {
            "value": managed.value.hex(),
            "format": managed.key_format_type.name,
            "wrapping": enum_names(managed.key_wrapping_data),
        }
    if op == "register_wrapped":
        information = {"unique_identifier": command["wrapping_uid"]}
        if command.get("params"):
            information["cryptographic_parameters"] = signature_parameters(command)
        wrapping = {
            "wrapping_method": enums.WrappingMethod.ENCRYPT,
            "encryption_key_information": information,
        }
        if command.get("encoding", "NO_ENCODING") != "NONE":
            wrapping["encoding_option"] = getattr(
                enums.EncodingOption, command.get("encoding", "NO_ENCODING"))
        algorithm = getattr(enums.CryptographicAlgorithm, command["algorithm"])
        value = bytes.fromhex(command["value"])
        if command["kind"] == "SYMMETRIC":
            key = objects.SymmetricKey(
                algorithm, command["length"], value, masks=usage_mask(command.get("usage")),
                key_wrapping_data=wrapping)
        else:
            key = objects.PrivateKey(
                algorithm, command["length"], value,
                getattr(enums.KeyFormatType, command.get("format", "PKCS_8")),
                masks=usage_mask(command.get("usage")), key_wrapping_data=wrapping)
        return client.register(key)
    if op == "derive":
        derivation = {
            "cryptographic_parameters": signature_parameters(command),
            "derivation_data": optional_hex(command.get("data")),
            "salt": optional_hex(command.get("salt")),
            "iteration_count": command.get("iterations"),
            "initialization_vector": optional_hex(command.get("iv")),
        }
        return client.derive_key(
            enums.ObjectType.SYMMETRIC_KEY, [command["uid"]],
            getattr(enums.DerivationMethod, command["method"]),
            {name: value for name, value in derivation.items() if value is not None},
            cryptographic_algorithm=getattr(enums.CryptographicAlgorithm, command["algorithm"]),
            cryptographic_length=command["length"],
            cryptographic_usage_mask=usage_mask(command.get("usage")))
    raise ValueError("unknown op " + op)


def number_hex(value):
    """A non-negative integer as hex of whole bytes, as every number here is compared."""
    text = format(value, "x")
    return "0" * (len(text) % 2) + text


def read_fields(data):
    """The fields of a Transparent key structure, read by PyKMIP's primitives."""
    stream = utils.BytearrayStream(bytes(data))
    fields = {}
    while stream.length():
        header = stream.peek(4)
        tag = enums.Tags(int.from_bytes(header[:3], "big"))
        item_type = enums.Types(header[3])
        if item_type == enums.Types.BIG_INTEGER:
            item = primitives.BigInteger(tag=tag)
            item.read(stream)
            fields[tag.name] = number_hex(item.value)
        elif item_type == enums.Types.BYTE_STRING:
            item = primitives.ByteString(tag=tag)
            item.read(stream)
            fields[tag.name] = bytes(item.value).hex()
        elif item_type == enums.Types.ENUMERATION:
            item = primitives.Enumeration(enums.RecommendedCurve, tag=tag)
            item.read(stream)
            fields[tag.name] = item.value.name
        else:
            raise ValueError("unexpected field {} of type {}".format(tag, item_type))
    return fields


def register_transparent(client, command):
    """A key registered as a Transparent structure PyKMIP's primitives write."""
    stream = utils.BytearrayStream()
    for name, value in command["fields"]:
        tag = getattr(enums.Tags, name)
        if tag == enums.Tags.RECOMMENDED_CURVE:
            item = primitives.Enumeration(
                enums.RecommendedCurve, getattr(enums.RecommendedCurve, value), tag=tag)
        elif tag == enums.Tags.Q_STRING:
            item = primitives.ByteString(bytes.fromhex(value), tag=tag)
        else:
            item = primitives.BigInteger(int(value, 16), tag=tag)
        item.write(stream)
    material = core_objects.KeyMaterialStruct()
    material.data = stream
    block = core_objects.KeyBlock(
        key_format_type=misc.KeyFormatType(getattr(enums.KeyFormatType, command["format"])),
        key_value=core_objects.KeyValue(material),
        cryptographic_algorithm=core_attributes.CryptographicAlgorithm(
            getattr(enums.CryptographicAlgorithm, command["algorithm"])),
        cryptographic_length=core_attributes.CryptographicLength(command["length"]))
    private = command["kind"] == "PRIVATE"
    key = secrets.PrivateKey(block) if private else secrets.PublicKey(block)
    object_type = enums.ObjectType.PRIVATE_KEY if private else enums.ObjectType.PUBLIC_KEY
    mask = AttributeFactory().create_attribute(
        enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK, usage_mask(command.get("usage")) or [])
    template = core_objects.TemplateAttribute(attributes=[mask])
    result = client.proxy.register(object_type, template, key)
    if result.result_status.value != enums.ResultStatus.SUCCESS:
        raise KmipOperationFailure(
            result.result_status.value, result.result_reason.value, result.result_message.value)
    return result.uuid


def enum_names(value):
    """PyKMIP's nested dictionaries of enumerations, as JSON: members by name, bytes as hex,
    empty entries left out."""
    if isinstance(value, dict):
        return {k: enum_names(v) for k, v in value.items() if v not in (None, {}, [])}
    if isinstance(value, bytes):
        return value.hex()
    return getattr(value, "name", value)


def local_oaep(command):
    """RSA-OAEP by the `cryptography` package: the oracle for the server's."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    hash_algorithm = getattr(hashes, command["hash"])()
    oaep = padding.OAEP(mgf=padding.MGF1(hash_algorithm), algorithm=hash_algorithm, label=None)
    key, data = bytes.fromhex(command["key"]), bytes.fromhex(command["data"])
    if command.get("decrypt"):
        return serialization.load_der_private_key(key, None).decrypt(data, oaep).hex()
    try:
        public = serialization.load_der_public_key(key)
    except ValueError:
        public = serialization.load_der_private_key(key, None).public_key()
    return public.encrypt(data, oaep).hex()


def usage_mask(names):
    return [getattr(enums.CryptographicUsageMask, name) for name in names] if names else None


# The enumeration each Cryptographic Parameters field a test names takes its members from.
PARAMETER_ENUMS = {
    "padding_method": enums.PaddingMethod,
    "hashing_algorithm": enums.HashingAlgorithm,
    "digital_signature_algorithm": enums.DigitalSignatureAlgorithm,
    "cryptographic_algorithm": enums.CryptographicAlgorithm,
    "block_cipher_mode": enums.BlockCipherMode,
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
        "numbers": rsa_numbers(key),
        "pkcs8": key.private_bytes(der, serialization.PrivateFormat.PKCS8, none).hex(),
        "pkcs1": key.private_bytes(
            der, serialization.PrivateFormat.TraditionalOpenSSL, none).hex(),
        "spki": key.public_key().public_bytes(
            der, serialization.PublicFormat.SubjectPublicKeyInfo).hex(),
        "pkcs1_public": key.public_key().public_bytes(
            der, serialization.PublicFormat.PKCS1).hex(),
    }


def rsa_numbers(key):
    """An RSA private or public key's numbers, under their Transparent RSA key tags."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    numbers = {"MODULUS": public.public_numbers().n, "PUBLIC_EXPONENT": public.public_numbers().e}
    if isinstance(key, rsa.RSAPrivateKey):
        private = key.private_numbers()
        numbers.update({
            "PRIVATE_EXPONENT": private.d, "P": private.p, "Q": private.q,
            "PRIME_EXPONENT_P": private.dmp1, "PRIME_EXPONENT_Q": private.dmq1,
            "CRT_COEFFICIENT": private.iqmp})
    return {name: number_hex(value) for name, value in numbers.items()}


def ec_point(public):
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint).hex()


def generate_ec(command):
    """An EC key pair made by the `cryptography` package: its DER and its numbers."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}[command["curve"]]
    key = ec.generate_private_key(curve)
    der = serialization.Encoding.DER
    return {
        "pkcs8": key.private_bytes(
            der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).hex(),
        "spki": key.public_key().public_bytes(
            der, serialization.PublicFormat.SubjectPublicKeyInfo).hex(),
        "d": number_hex(key.private_numbers().private_value),
        "q": ec_point(key.public_key()),
    }


def key_numbers(command):
    """The numbers of a DER key, read by the `cryptography` package."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    value = bytes.fromhex(command["value"])
    if command["private"]:
        key = serialization.load_der_private_key(value, password=None)
    else:
        # SubjectPublicKeyInfo, or PKCS#1 RSAPublicKey: `cryptography` reads both.
        key = serialization.load_der_public_key(value)
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return rsa_numbers(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"D": number_hex(key.private_numbers().private_value)}
    return {"Q_STRING": ec_point(key)}


def key_value(command):
    """A Key Value holding the bytes H, TTLV-encoded by PyKMIP."""
    stream = utils.BytearrayStream()
    value = core_objects.KeyValue(core_objects.KeyMaterial(bytes.fromhex(command["value"])))
    value.write(stream)
    return bytes(stream.buffer).hex()


def read_key_value(command):
    """The key material of a TTLV-encoded Key Value, read by PyKMIP."""
    value = core_objects.KeyValue()
    value.read(utils.BytearrayStream(bytes.fromhex(command["value"])))
    return bytes(value.key_material.value).hex()


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


def kdf(command):
    """The key Derive Key makes, computed with the `cryptography` package and hashlib, and
    checked against PyKMIP's server engine: what PyKMIP's server would have stored."""
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf import hkdf, kbkdf
    import warnings
    with warnings.catch_warnings():
        # PyKMIP's engine names ciphers the `cryptography` package has since moved.
        warnings.simplefilter("ignore")
        from kmip.services.server.crypto.engine import CryptographyEngine

    key, length, method = bytes.fromhex(command["key"]), command["bytes"], command["method"]
    params = signature_parameters(command) or {}
    data, salt = optional_hex(command.get("data")), optional_hex(command.get("salt"))
    iv = optional_hex(command.get("iv")) or b""
    hash_name = params["hashing_algorithm"].name.replace("_", "").lower() \
        if "hashing_algorithm" in params else None
    if method == "PBKDF2":
        ours = hashlib.pbkdf2_hmac(hash_name, key, salt, command["iterations"], length)
    elif method == "HMAC":
        ours = hkdf.HKDF(getattr(hashes, hash_name.upper())(), length, salt, data).derive(key)
    elif method == "NIST800_108_C":
        ours = kbkdf.KBKDFHMAC(
            getattr(hashes, hash_name.upper())(), kbkdf.Mode.CounterMode, length, 4, None,
            kbkdf.CounterLocation.BeforeFixed, None, None, fixed=data).derive(key)
    elif method == "HASH":
        ours = hashlib.new(hash_name, key).digest()[:length]
    elif method == "ENCRYPT":
        mode, plain = params["block_cipher_mode"].name, data
        if mode in ("CBC", "ECB"):
            padder = padding.PKCS7(128).padder()
            plain = padder.update(plain) + padder.finalize()
        cipher_mode = {"CBC": lambda: modes.CBC(iv), "ECB": modes.ECB,
                       "CTR": lambda: modes.CTR(iv)}[mode]()
        encryptor = Cipher(algorithms.AES(key), cipher_mode).encryptor()
        ours = (encryptor.update(plain) + encryptor.finalize())[:length]
    else:
        raise ValueError("unknown method " + method)
    theirs = CryptographyEngine().derive_key(
        getattr(enums.DerivationMethod, method), length, derivation_data=data,
        key_material=key,
        hash_algorithm=params.get("hashing_algorithm"), salt=salt,
        iteration_count=command.get("iterations"),
        encryption_algorithm=enums.CryptographicAlgorithm.AES,
        cipher_mode=params.get("block_cipher_mode"),
        padding_method=params.get("padding_method"), iv_nonce=iv)[:length]
    if ours != theirs:
        raise ValueError("cryptography and PyKMIP's engine disagree: {} {}".format(
            ours.hex(), theirs.hex()))
    return ours.hex()


LOCAL_OPS = {"check_signature": check_signature, "generate_rsa": generate_rsa,
             "generate_ec": generate_ec, "key_numbers": key_numbers,
             "key_value": key_value, "read_key_value": read_key_value,
             "make_certificate": make_certificate, "kdf": kdf, "oaep": local_oaep}


def optional_hex(value):
    return bytes.fromhex(value) if value is not None else None


def parameters(command):
    if "params" in command:
        return signature_parameters(command)
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
    if mode == "ECB":
        # No padding: whole blocks, as the server's ECB without a Padding Method.
        cipher = Cipher(algorithms.AES(key), modes.ECB())
        context = cipher.decryptor() if decrypting else cipher.encryptor()
        return (context.update(data) + context.finalize()).hex()
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


def accept_key_material_structures():
    """PyKMIP 0.11 reads a Key Material structure (a Transparent key) into its
    KeyMaterialStruct, whose fields it keeps as raw TTLV, and then its Key Value's own check
    refuses anything but a byte-string Key Material, when reading and building alike. That one
    check is widened to take the structure PyKMIP itself read or was given; every byte is still
    written and read by PyKMIP."""
    check = core_objects.KeyValue.validate

    def validate(self):
        if not isinstance(self.key_material, core_objects.KeyMaterialStruct):
            check(self)

    core_objects.KeyValue.validate = validate


def main():
    accept_key_material_structures()
    host, port, cert, key, ca, commands = sys.argv[1:7]
    results = []
    # The KMIP version the client speaks: PyKMIP's default (1.2) unless the environment names
    # another ("1.4", "2.0").
    version = os.environ.get("KRYPTON_PYKMIP_VERSION")
    options = {}
    if version:
        from kmip.core.enums import KMIPVersion
        options["kmip_version"] = getattr(KMIPVersion, "KMIP_" + version.replace(".", "_"))
    client = ProxyKmipClient(hostname=host, port=int(port), cert=cert, key=key, ca=ca, **options)
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
