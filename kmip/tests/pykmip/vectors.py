"""Builds KMIP messages with PyKMIP's own classes and prints their encodings.

The Rust tests in kmip/tests/pykmip_*.rs run this script once and compare every vector against
the message the `kmip` crate builds, byte for byte, and decode every vector with the crate. The
script prints one JSON object: {vector name: lowercase hex of the encoded message}.

Every message is built fresh for each protocol version: PyKMIP's 2.0 conversion of a
Template-Attribute retags the attribute objects it is given.

Usage: python vectors.py   (needs PyKMIP: pip install pykmip)
"""

import json
import sys

from kmip.core import attributes as cattributes
from kmip.core import enums, objects, primitives, utils
from kmip.core.factories.attributes import AttributeFactory
from kmip.core.factories.credentials import CredentialFactory
from kmip.core.messages import contents, messages, payloads
from kmip.pie import factory as pie_factory
from kmip.pie import objects as pie_objects

V1_0 = enums.KMIPVersion.KMIP_1_0
V1_2 = enums.KMIPVersion.KMIP_1_2
V1_4 = enums.KMIPVersion.KMIP_1_4
V2_0 = enums.KMIPVersion.KMIP_2_0
VERSIONS = {"1_0": V1_0, "1_2": V1_2, "1_4": V1_4, "2_0": V2_0}
PROTOCOL = {V1_0: (1, 0), V1_2: (1, 2), V1_4: (1, 4), V2_0: (2, 0)}

# Fixed inputs, mirrored by the Rust tests.
TIME_STAMP = 1_700_000_000
UID = "b4faee10-aa2a-4446-8ad4-0881f3422959"
UID2 = "1f165d65-cbbd-4bd6-9867-80e0b390acf9"
KEY = bytes(range(32))
WRAPPED_KEY = bytes(range(40))  # KEY's length wrapped by RFC 3394
SECRET = bytes(range(96))  # 96 bytes: the Secret Data libmongocrypt registers
IV = bytes(range(16))
PLAINTEXT = b"attack at dawn"
CIPHERTEXT = bytes.fromhex("0123456789abcdef0123456789abcdef")
AAD = b"header"
AUTH_TAG = bytes(16)

attribute_factory = AttributeFactory()
object_factory = pie_factory.ObjectFactory()


def encode(message, version):
    stream = utils.BytearrayStream()
    message.write(stream, kmip_version=version)
    return stream.buffer.hex()


def request(version, items, authentication=None, header_extras=None):
    header = messages.RequestHeader(
        protocol_version=contents.ProtocolVersion(*PROTOCOL[version]),
        authentication=authentication,
        batch_count=contents.BatchCount(len(items)),
        **(header_extras or {}),
    )
    batch = [
        messages.RequestBatchItem(
            operation=contents.Operation(operation),
            unique_batch_item_id=(
                contents.UniqueBatchItemID(batch_id) if batch_id is not None else None
            ),
            request_payload=payload,
        )
        for operation, payload, batch_id in items
    ]
    return encode(messages.RequestMessage(request_header=header, batch_items=batch), version)


def response(version, items):
    header = messages.ResponseHeader(
        protocol_version=contents.ProtocolVersion(*PROTOCOL[version]),
        time_stamp=contents.TimeStamp(TIME_STAMP),
        batch_count=contents.BatchCount(len(items)),
    )
    batch = []
    for item in items:
        operation, payload, batch_id = item[:3]
        status, reason, text = item[3] if len(item) > 3 else (enums.ResultStatus.SUCCESS, None, None)
        batch.append(
            messages.ResponseBatchItem(
                operation=contents.Operation(operation),
                unique_batch_item_id=(
                    contents.UniqueBatchItemID(batch_id) if batch_id is not None else None
                ),
                result_status=contents.ResultStatus(status),
                result_reason=contents.ResultReason(reason) if reason else None,
                result_message=contents.ResultMessage(text) if text else None,
                response_payload=payload,
            )
        )
    return encode(messages.ResponseMessage(response_header=header, batch_items=batch), version)


def key_attributes():
    """AES-256, Encrypt|Decrypt, named "key-1": what Create sends."""
    return [
        attribute_factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.AES
        ),
        attribute_factory.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 256),
        attribute_factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
            [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT],
        ),
        attribute_factory.create_attribute(enums.AttributeType.NAME, "key-1"),
    ]


def template(attrs):
    return objects.TemplateAttribute(attributes=attrs)


def symmetric_key():
    return object_factory.convert(
        pie_objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 256, KEY)
    )


def secret_data():
    return object_factory.convert(
        pie_objects.SecretData(SECRET, enums.SecretDataType.PASSWORD)
    )


def credential():
    return CredentialFactory().create_credential(
        enums.CredentialType.USERNAME_AND_PASSWORD,
        {"Username": "app-1", "Password": "s3cret"},
    )


def get_request(v):
    return request(v, [(enums.Operation.GET, payloads.GetRequestPayload(
        unique_identifier=UID, key_format_type=enums.KeyFormatType.RAW), None)])


def get_response(v):
    return response(v, [(enums.Operation.GET, payloads.GetResponsePayload(
        object_type=enums.ObjectType.SYMMETRIC_KEY, unique_identifier=UID,
        secret=symmetric_key()), None)])


def wrapping_key_information():
    """UID2, an AES key, wrapping with NIST Key Wrap."""
    return {"unique_identifier": UID2,
            "cryptographic_parameters": {"block_cipher_mode": enums.BlockCipherMode.NIST_KEY_WRAP}}


def get_wrapped_request(v):
    """Get of UID wrapped under UID2: a Key Wrapping Specification, No Encoding."""
    information = wrapping_key_information()
    return request(v, [(enums.Operation.GET, payloads.GetRequestPayload(
        unique_identifier=UID,
        key_wrapping_specification=objects.KeyWrappingSpecification(
            wrapping_method=enums.WrappingMethod.ENCRYPT,
            encryption_key_information=objects.EncryptionKeyInformation(
                unique_identifier=information["unique_identifier"],
                cryptographic_parameters=cattributes.CryptographicParameters(
                    **information["cryptographic_parameters"])),
            encoding_option=enums.EncodingOption.NO_ENCODING)), None)])


def get_wrapped_response(v):
    """The AES-256 key UID, wrapped (40 bytes) as get_wrapped_request asks."""
    key = object_factory.convert(pie_objects.SymmetricKey(
        enums.CryptographicAlgorithm.AES, 256, WRAPPED_KEY, key_wrapping_data={
            "wrapping_method": enums.WrappingMethod.ENCRYPT,
            "encryption_key_information": wrapping_key_information(),
            "encoding_option": enums.EncodingOption.NO_ENCODING,
        }))
    return response(v, [(enums.Operation.GET, payloads.GetResponsePayload(
        object_type=enums.ObjectType.SYMMETRIC_KEY, unique_identifier=UID,
        secret=key), None)])


def create_request(v):
    return request(
        v,
        [(enums.Operation.CREATE, payloads.CreateRequestPayload(
            object_type=enums.ObjectType.SYMMETRIC_KEY,
            template_attribute=template(key_attributes())), None)],
        authentication=contents.Authentication(credentials=[credential()]),
        header_extras={
            "maximum_response_size": contents.MaximumResponseSize(4096),
            "batch_error_cont_option": contents.BatchErrorContinuationOption(
                enums.BatchErrorContinuationOption.STOP),
            "batch_order_option": contents.BatchOrderOption(True),
            "time_stamp": contents.TimeStamp(TIME_STAMP),
        },
    )


def create_response(v):
    return response(v, [(enums.Operation.CREATE, payloads.CreateResponsePayload(
        object_type=enums.ObjectType.SYMMETRIC_KEY, unique_identifier=UID), None)])


def register_symmetric_request(v):
    return request(v, [(enums.Operation.REGISTER, payloads.RegisterRequestPayload(
        object_type=enums.ObjectType.SYMMETRIC_KEY,
        template_attribute=template(key_attributes()),
        managed_object=symmetric_key()), None)])


def register_secret_request(v):
    attrs = [
        attribute_factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
            [enums.CryptographicUsageMask.VERIFY]),
        attribute_factory.create_attribute(enums.AttributeType.NAME, "db-password"),
    ]
    return request(v, [(enums.Operation.REGISTER, payloads.RegisterRequestPayload(
        object_type=enums.ObjectType.SECRET_DATA,
        template_attribute=template(attrs),
        managed_object=secret_data()), None)])


def register_response(v):
    return response(v, [(enums.Operation.REGISTER, payloads.RegisterResponsePayload(
        unique_identifier=UID), None)])


def locate_by_name_request(v):
    return request(v, [(enums.Operation.LOCATE, payloads.LocateRequestPayload(
        maximum_items=10,
        attributes=[attribute_factory.create_attribute(enums.AttributeType.NAME, "key-1")]),
        None)])


def locate_by_state_request(v):
    return request(v, [(enums.Operation.LOCATE, payloads.LocateRequestPayload(
        storage_status_mask=1,
        attributes=[
            attribute_factory.create_attribute(enums.AttributeType.STATE, enums.State.ACTIVE),
            attribute_factory.create_attribute(
                enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY),
        ]), None)])


def locate_response(v):
    # Located Items exists from KMIP 1.3 on; PyKMIP would write it in any version.
    located = 2 if v >= V1_4 else None
    return response(v, [(enums.Operation.LOCATE, payloads.LocateResponsePayload(
        located_items=located, unique_identifiers=[UID, UID2]), None)])


def get_attributes_request(v):
    return request(v, [(enums.Operation.GET_ATTRIBUTES, payloads.GetAttributesRequestPayload(
        unique_identifier=UID, attribute_names=["State", "Cryptographic Algorithm"]), None)])


def get_attributes_response(v):
    attrs = [
        attribute_factory.create_attribute(enums.AttributeType.STATE, enums.State.ACTIVE),
        attribute_factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.AES),
    ]
    body = payloads.GetAttributesResponsePayload(unique_identifier=UID, attributes=attrs)
    return response(v, [(enums.Operation.GET_ATTRIBUTES, body, None)])


def get_attribute_list_request(v):
    return request(v, [(enums.Operation.GET_ATTRIBUTE_LIST,
                        payloads.GetAttributeListRequestPayload(unique_identifier=UID), None)])


def get_attribute_list_response(v):
    return response(v, [(enums.Operation.GET_ATTRIBUTE_LIST,
                         payloads.GetAttributeListResponsePayload(
                             unique_identifier=UID,
                             attribute_names=["Name", "State", "Cryptographic Length"]), None)])


def activate_request(v):
    return request(v, [(enums.Operation.ACTIVATE, payloads.ActivateRequestPayload(
        unique_identifier=cattributes.UniqueIdentifier(UID)), None)])


def activate_response(v):
    return response(v, [(enums.Operation.ACTIVATE, payloads.ActivateResponsePayload(
        unique_identifier=cattributes.UniqueIdentifier(UID)), None)])


def revoke_request(v):
    reason = objects.RevocationReason(
        code=enums.RevocationReasonCode.KEY_COMPROMISE, message="laptop stolen")
    return request(v, [(enums.Operation.REVOKE, payloads.RevokeRequestPayload(
        unique_identifier=cattributes.UniqueIdentifier(UID),
        revocation_reason=reason,
        compromise_occurrence_date=primitives.DateTime(
            TIME_STAMP - 3600, enums.Tags.COMPROMISE_OCCURRENCE_DATE)), None)])


def revoke_response(v):
    return response(v, [(enums.Operation.REVOKE, payloads.RevokeResponsePayload(
        unique_identifier=cattributes.UniqueIdentifier(UID)), None)])


def destroy_request(v):
    return request(v, [(enums.Operation.DESTROY, payloads.DestroyRequestPayload(
        unique_identifier=cattributes.UniqueIdentifier(UID)), None)])


def destroy_response(v):
    return response(v, [(enums.Operation.DESTROY, payloads.DestroyResponsePayload(
        unique_identifier=cattributes.UniqueIdentifier(UID)), None)])


def query_request(v):
    return request(v, [(enums.Operation.QUERY, payloads.QueryRequestPayload(query_functions=[
        enums.QueryFunction.QUERY_OPERATIONS, enums.QueryFunction.QUERY_OBJECTS]), None)])


def query_response(v):
    return response(v, [(enums.Operation.QUERY, payloads.QueryResponsePayload(
        operations=[enums.Operation.CREATE, enums.Operation.GET, enums.Operation.DESTROY],
        object_types=[enums.ObjectType.SYMMETRIC_KEY, enums.ObjectType.SECRET_DATA],
        vendor_identification="Krypton"), None)])


def discover_versions_request(v):
    return request(v, [(enums.Operation.DISCOVER_VERSIONS,
                        payloads.DiscoverVersionsRequestPayload(protocol_versions=[
                            contents.ProtocolVersion(1, 4), contents.ProtocolVersion(1, 2)]),
                        None)])


def discover_versions_response(v):
    return response(v, [(enums.Operation.DISCOVER_VERSIONS,
                         payloads.DiscoverVersionsResponsePayload(protocol_versions=[
                             contents.ProtocolVersion(1, 4)]), None)])


def check_request(v):
    return request(v, [(enums.Operation.CHECK, payloads.CheckRequestPayload(
        unique_identifier=UID, usage_limits_count=500, cryptographic_usage_mask=12,
        lease_time=3600), None)])


def check_response(v):
    return response(v, [(enums.Operation.CHECK, payloads.CheckResponsePayload(
        unique_identifier=UID, usage_limits_count=500), None)])


def crypto_parameters():
    return cattributes.CryptographicParameters(
        block_cipher_mode=enums.BlockCipherMode.GCM,
        cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
        tag_length=16)


def encrypt_request(v):
    aad = AAD if v >= V1_4 else None
    return request(v, [(enums.Operation.ENCRYPT, payloads.EncryptRequestPayload(
        unique_identifier=UID, cryptographic_parameters=crypto_parameters(), data=PLAINTEXT,
        iv_counter_nonce=IV[:12], auth_additional_data=aad), None)])


def encrypt_response(v):
    tag = AUTH_TAG if v >= V1_4 else None
    return response(v, [(enums.Operation.ENCRYPT, payloads.EncryptResponsePayload(
        unique_identifier=UID, data=CIPHERTEXT, iv_counter_nonce=IV[:12], auth_tag=tag), None)])


def decrypt_request(v):
    aad = AAD if v >= V1_4 else None
    tag = AUTH_TAG if v >= V1_4 else None
    return request(v, [(enums.Operation.DECRYPT, payloads.DecryptRequestPayload(
        unique_identifier=UID, cryptographic_parameters=crypto_parameters(), data=CIPHERTEXT,
        iv_counter_nonce=IV[:12], auth_additional_data=aad, auth_tag=tag), None)])


def decrypt_response(v):
    return response(v, [(enums.Operation.DECRYPT, payloads.DecryptResponsePayload(
        unique_identifier=UID, data=PLAINTEXT), None)])


def derive_key_request(v):
    """PBKDF2 from UID (UID2 names a Secret Data), every Derivation Parameter set."""
    attrs = [
        attribute_factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.AES
        ),
        attribute_factory.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 128),
    ]
    parameters = cattributes.DerivationParameters(
        cryptographic_parameters=cattributes.CryptographicParameters(
            hashing_algorithm=enums.HashingAlgorithm.SHA_256),
        initialization_vector=IV, derivation_data=PLAINTEXT, salt=b"salt",
        iteration_count=4096)
    return request(v, [(enums.Operation.DERIVE_KEY, payloads.DeriveKeyRequestPayload(
        object_type=enums.ObjectType.SYMMETRIC_KEY, unique_identifiers=[UID, UID2],
        derivation_method=enums.DerivationMethod.PBKDF2,
        derivation_parameters=parameters, template_attribute=template(attrs)), None)])


def derive_key_response(v):
    return response(v, [(enums.Operation.DERIVE_KEY, payloads.DeriveKeyResponsePayload(
        unique_identifier=UID), None)])


def key_pair_template(attrs, tag):
    return objects.TemplateAttribute(attributes=attrs, tag=tag)


def create_key_pair_request(v):
    """RSA-2048 in the common set, a name and usage mask for each half."""
    common = [
        attribute_factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.RSA),
        attribute_factory.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 2048),
    ]
    private = [
        attribute_factory.create_attribute(enums.AttributeType.NAME, "signer"),
        attribute_factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK, [enums.CryptographicUsageMask.SIGN]),
    ]
    public = [
        attribute_factory.create_attribute(enums.AttributeType.NAME, "verifier"),
        attribute_factory.create_attribute(
            enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK, [enums.CryptographicUsageMask.VERIFY]),
    ]
    return request(v, [(enums.Operation.CREATE_KEY_PAIR, payloads.CreateKeyPairRequestPayload(
        common_template_attribute=key_pair_template(
            common, enums.Tags.COMMON_TEMPLATE_ATTRIBUTE),
        private_key_template_attribute=key_pair_template(
            private, enums.Tags.PRIVATE_KEY_TEMPLATE_ATTRIBUTE),
        public_key_template_attribute=key_pair_template(
            public, enums.Tags.PUBLIC_KEY_TEMPLATE_ATTRIBUTE)), None)])


def create_key_pair_response(v):
    return response(v, [(enums.Operation.CREATE_KEY_PAIR, payloads.CreateKeyPairResponsePayload(
        private_key_unique_identifier=UID, public_key_unique_identifier=UID2), None)])


def signature_parameters():
    return cattributes.CryptographicParameters(
        padding_method=enums.PaddingMethod.PSS,
        hashing_algorithm=enums.HashingAlgorithm.SHA_256,
        cryptographic_algorithm=enums.CryptographicAlgorithm.RSA)


def sign_request(v):
    return request(v, [(enums.Operation.SIGN, payloads.SignRequestPayload(
        unique_identifier=UID, cryptographic_parameters=signature_parameters(),
        data=PLAINTEXT), None)])


def sign_response(v):
    return response(v, [(enums.Operation.SIGN, payloads.SignResponsePayload(
        unique_identifier=UID, signature_data=CIPHERTEXT), None)])


def signature_verify_request(v):
    return request(v, [(enums.Operation.SIGNATURE_VERIFY, payloads.SignatureVerifyRequestPayload(
        unique_identifier=UID2, cryptographic_parameters=signature_parameters(),
        data=PLAINTEXT, signature_data=CIPHERTEXT), None)])


def signature_verify_response(v):
    return response(v, [(enums.Operation.SIGNATURE_VERIFY,
                         payloads.SignatureVerifyResponsePayload(
                             unique_identifier=UID2,
                             validity_indicator=enums.ValidityIndicator.INVALID), None)])


class AddAttributeRequestPayload(primitives.Struct):
    """PyKMIP 0.11 has no Add Attribute payload: this one is assembled from PyKMIP's own
    primitives and attribute objects, in the field order of KMIP 1.4 §4.13."""

    def __init__(self, unique_identifier, attribute):
        super().__init__(tag=enums.Tags.REQUEST_PAYLOAD)
        self.fields = [
            primitives.TextString(unique_identifier, enums.Tags.UNIQUE_IDENTIFIER),
            attribute,
        ]

    def write(self, ostream, kmip_version=V1_0):
        body = utils.BytearrayStream()
        for field in self.fields:
            field.write(body, kmip_version=kmip_version)
        self.length = body.length()
        super().write(ostream, kmip_version=kmip_version)
        ostream.write(body.buffer)


def add_attribute_request(v):
    attribute = attribute_factory.create_attribute("x-department", "payments")
    return request(v, [(enums.Operation.ADD_ATTRIBUTE,
                        AddAttributeRequestPayload(UID, attribute), None)])


def modify_attribute_request(v):
    if v < V2_0:
        body = payloads.ModifyAttributeRequestPayload(
            unique_identifier=UID,
            attribute=attribute_factory.create_attribute(enums.AttributeType.NAME, "key-2"))
    else:
        old = attribute_factory.create_attribute(enums.AttributeType.NAME, "key-1")
        new = attribute_factory.create_attribute(enums.AttributeType.NAME, "key-2")
        old_value, new_value = old.attribute_value, new.attribute_value
        old_value.tag = enums.Tags.NAME
        new_value.tag = enums.Tags.NAME
        body = payloads.ModifyAttributeRequestPayload(
            unique_identifier=UID,
            current_attribute=objects.CurrentAttribute(attribute=old_value),
            new_attribute=objects.NewAttribute(attribute=new_value))
    return request(v, [(enums.Operation.MODIFY_ATTRIBUTE, body, None)])


def modify_attribute_response(v):
    attribute = None
    if v < V2_0:
        attribute = attribute_factory.create_attribute(enums.AttributeType.NAME, "key-2")
    return response(v, [(enums.Operation.MODIFY_ATTRIBUTE,
                         payloads.ModifyAttributeResponsePayload(
                             unique_identifier=UID, attribute=attribute), None)])


def delete_attribute_request(v):
    if v < V2_0:
        body = payloads.DeleteAttributeRequestPayload(
            unique_identifier=UID, attribute_name="Contact Information", attribute_index=0)
    else:
        body = payloads.DeleteAttributeRequestPayload(
            unique_identifier=UID,
            attribute_reference=objects.AttributeReference(
                vendor_identification="x", attribute_name="department"))
    return request(v, [(enums.Operation.DELETE_ATTRIBUTE, body, None)])


def delete_attribute_response(v):
    attribute = None
    if v < V2_0:
        attribute = attribute_factory.create_attribute(
            enums.AttributeType.CONTACT_INFORMATION, "ops@example.com")
    return response(v, [(enums.Operation.DELETE_ATTRIBUTE,
                         payloads.DeleteAttributeResponsePayload(
                             unique_identifier=UID, attribute=attribute), None)])


def set_attribute_request(v):
    value = primitives.Integer(128, enums.Tags.CRYPTOGRAPHIC_LENGTH)
    return request(v, [(enums.Operation.SET_ATTRIBUTE, payloads.SetAttributeRequestPayload(
        unique_identifier=UID, new_attribute=objects.NewAttribute(attribute=value)), None)])


def set_attribute_response(v):
    return response(v, [(enums.Operation.SET_ATTRIBUTE,
                         payloads.SetAttributeResponsePayload(unique_identifier=UID), None)])


def batch_request(v):
    """Create then Activate the object Create made (no identifier: the ID placeholder)."""
    return request(v, [
        (enums.Operation.CREATE, payloads.CreateRequestPayload(
            object_type=enums.ObjectType.SYMMETRIC_KEY,
            template_attribute=template(key_attributes())), b"\x01"),
        (enums.Operation.ACTIVATE, payloads.ActivateRequestPayload(), b"\x02"),
    ], header_extras={"batch_error_cont_option": contents.BatchErrorContinuationOption(
        enums.BatchErrorContinuationOption.STOP)})


def batch_response(v):
    return response(v, [
        (enums.Operation.CREATE, payloads.CreateResponsePayload(
            object_type=enums.ObjectType.SYMMETRIC_KEY, unique_identifier=UID), b"\x01"),
        (enums.Operation.ACTIVATE, payloads.ActivateResponsePayload(
            unique_identifier=cattributes.UniqueIdentifier(UID)), b"\x02"),
    ])


def error_response(v):
    return response(v, [(enums.Operation.GET, None, b"\x07", (
        enums.ResultStatus.OPERATION_FAILED, enums.ResultReason.ITEM_NOT_FOUND,
        "no object with this identifier"))])


# Vector name -> (builder, versions it is built in).
ALL_1X = ("1_0", "1_2", "1_4")
EVERY = ALL_1X + ("2_0",)
FROM_1_2 = ("1_2", "1_4", "2_0")
BUILDERS = {
    "get_request": (get_request, EVERY),
    "get_response": (get_response, EVERY),
    "get_wrapped_request": (get_wrapped_request, FROM_1_2),
    "get_wrapped_response": (get_wrapped_response, FROM_1_2),
    "create_request": (create_request, EVERY),
    "create_response": (create_response, EVERY),
    "register_symmetric_request": (register_symmetric_request, EVERY),
    "register_secret_request": (register_secret_request, EVERY),
    "register_response": (register_response, EVERY),
    "locate_by_name_request": (locate_by_name_request, EVERY),
    "locate_by_state_request": (locate_by_state_request, EVERY),
    "locate_response": (locate_response, EVERY),
    "get_attributes_request": (get_attributes_request, EVERY),
    "get_attributes_response": (get_attributes_response, EVERY),
    "get_attribute_list_request": (get_attribute_list_request, EVERY),
    "get_attribute_list_response": (get_attribute_list_response, EVERY),
    "activate_request": (activate_request, EVERY),
    "activate_response": (activate_response, EVERY),
    "revoke_request": (revoke_request, EVERY),
    "revoke_response": (revoke_response, EVERY),
    "destroy_request": (destroy_request, EVERY),
    "destroy_response": (destroy_response, EVERY),
    "query_request": (query_request, EVERY),
    "query_response": (query_response, EVERY),
    "discover_versions_request": (discover_versions_request, EVERY),
    "discover_versions_response": (discover_versions_response, EVERY),
    "check_request": (check_request, EVERY),
    "check_response": (check_response, EVERY),
    "encrypt_request": (encrypt_request, FROM_1_2),
    "encrypt_response": (encrypt_response, FROM_1_2),
    "decrypt_request": (decrypt_request, FROM_1_2),
    "decrypt_response": (decrypt_response, FROM_1_2),
    "derive_key_request": (derive_key_request, EVERY),
    "derive_key_response": (derive_key_response, EVERY),
    "create_key_pair_request": (create_key_pair_request, EVERY),
    "create_key_pair_response": (create_key_pair_response, EVERY),
    "sign_request": (sign_request, FROM_1_2),
    "sign_response": (sign_response, FROM_1_2),
    "signature_verify_request": (signature_verify_request, FROM_1_2),
    "signature_verify_response": (signature_verify_response, FROM_1_2),
    "add_attribute_request": (add_attribute_request, ALL_1X),
    "modify_attribute_request": (modify_attribute_request, EVERY),
    "modify_attribute_response": (modify_attribute_response, EVERY),
    "delete_attribute_request": (delete_attribute_request, EVERY),
    "delete_attribute_response": (delete_attribute_response, EVERY),
    "set_attribute_request": (set_attribute_request, ("2_0",)),
    "set_attribute_response": (set_attribute_response, ("2_0",)),
    "batch_request": (batch_request, EVERY),
    "batch_response": (batch_response, EVERY),
    "error_response": (error_response, EVERY),
}


def main():
    vectors = {}
    for name, (build, versions) in BUILDERS.items():
        for version in versions:
            vectors[f"{name}_{version}"] = build(VERSIONS[version])
    json.dump(vectors, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
