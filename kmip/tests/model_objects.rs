//! Managed objects and the payloads PyKMIP cannot build: Transparent Symmetric Keys, Opaque
//! Objects, certificates, TTLV-encoded wrapped key blocks and Transparent asymmetric keys
//! (refused with the reasons KMIP gives), and the KMIP 2.x Add and Adjust Attribute forms.
//! Wrapped key blocks are in `model_key_wrapping.rs`.
#![allow(clippy::unwrap_used)]

mod items;

use items::find;

use kmip::{
    AddAttributeRequest, AddAttributeResponse, AdjustAttributeRequest, AdjustmentType, Attribute,
    AttributeReference, AttributeType, Certificate, CertificateType, CryptographicAlgorithm,
    DateTime, Error, GetResponse, KeyBlock, KeyFormatType, KeyMaterial, Limits, ManagedObject,
    Name, OpaqueDataType, OpaqueObject, PrivateKey, ProtocolVersion, RegisterRequest,
    RequestBatchItem, RequestHeader, RequestMessage, ResponseBatchItem, ResponseHeader,
    ResponseMessage, ResultReason, SecretBytes, SymmetricKey, Tag, Value,
};

fn key() -> SecretBytes {
    SecretBytes::new(vec![0x5A; 32])
}

fn round_trip_response(version: ProtocolVersion, item: ResponseBatchItem) -> ResponseMessage {
    let message = ResponseMessage {
        header: ResponseHeader::new(version, DateTime(1_700_000_000)),
        batch_items: vec![item],
    };
    let mut bytes = Vec::new();
    kmip::encode(&message.to_item(), &mut bytes).unwrap();
    let decoded =
        ResponseMessage::from_item(&kmip::decode(&bytes, &Limits::default()).unwrap()).unwrap();
    assert_eq!(decoded, message);
    decoded
}

fn round_trip_request(version: ProtocolVersion, item: RequestBatchItem) {
    let message = RequestMessage {
        header: RequestHeader::new(version),
        batch_items: vec![item],
    };
    let mut bytes = Vec::new();
    kmip::encode(&message.to_item(), &mut bytes).unwrap();
    let decoded =
        RequestMessage::from_item(&kmip::decode(&bytes, &Limits::default()).unwrap()).unwrap();
    assert_eq!(decoded, message);
}

#[test]
fn transparent_symmetric_keys_round_trip() {
    let transparent = GetResponse {
        unique_identifier: "k1".into(),
        object: ManagedObject::SymmetricKey(SymmetricKey {
            key_block: KeyBlock {
                key_format_type: KeyFormatType::TransparentSymmetricKey,
                key_compression_type: None,
                key_material: KeyMaterial::TransparentSymmetricKey(key()),
                cryptographic_algorithm: Some(CryptographicAlgorithm::Aes),
                cryptographic_length: Some(256),
                key_wrapping_data: None,
            },
        }),
    };
    for version in ProtocolVersion::SUPPORTED {
        round_trip_response(version, ResponseBatchItem::success(transparent.clone()));
    }
}

#[test]
fn opaque_objects_round_trip() {
    let register = RegisterRequest {
        attributes: vec![Attribute::Name(Name::text("blob"))],
        object: ManagedObject::OpaqueObject(OpaqueObject {
            opaque_data_type: OpaqueDataType(0x8000_0001),
            opaque_data_value: SecretBytes::new(b"anything at all".to_vec()),
        }),
    };
    for version in ProtocolVersion::SUPPORTED {
        round_trip_request(version, RequestBatchItem::new(register.clone()));
    }
}

/// A key block whose material does not have the form its format announces is refused, and
/// so is a wrapped key value (a Byte String): the appliance stores neither.
#[test]
fn key_material_must_match_its_format() {
    let raw = GetResponse {
        unique_identifier: "k1".into(),
        object: ManagedObject::SymmetricKey(SymmetricKey {
            key_block: KeyBlock::raw(CryptographicAlgorithm::Aes, key()),
        }),
    };
    let message = ResponseMessage {
        header: ResponseHeader::new(ProtocolVersion::V1_2, DateTime(0)),
        batch_items: vec![ResponseBatchItem::success(raw)],
    };
    let mut item = message.to_item();
    let key_block = find(&mut item, Tag::KEY_BLOCK);
    let Value::Structure(fields) = &mut key_block.value else {
        panic!()
    };
    fields[0].value = Value::Enumeration(0x07); // Transparent Symmetric Key
    let err = ResponseMessage::from_item(&item).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedType {
                tag: Tag::KEY_MATERIAL,
                ..
            }
        ),
        "{err:?}"
    );

    let mut item = message.to_item();
    let key_value = find(&mut item, Tag::KEY_VALUE);
    key_value.value = Value::ByteString(vec![1, 2, 3].into());
    let err = ResponseMessage::from_item(&item).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedType {
                tag: Tag::KEY_VALUE,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn certificates_round_trip() {
    let certificate = ManagedObject::Certificate(Certificate {
        certificate_type: CertificateType::X509,
        certificate_value: vec![0x30, 0x03, 0x02, 0x01, 0x01],
    });
    let register = RegisterRequest {
        attributes: vec![Attribute::Name(Name::text("db-01"))],
        object: certificate.clone(),
    };
    let get = GetResponse {
        unique_identifier: "c1".into(),
        object: certificate,
    };
    for version in ProtocolVersion::SUPPORTED {
        round_trip_request(version, RequestBatchItem::new(register.clone()));
        round_trip_response(version, ResponseBatchItem::success(get.clone()));
    }
}

/// A wrapped key block in the TTLV encoding (KMIP's default: Key Wrapping Data naming no
/// Encoding Option) and the Transparent asymmetric structures are not malformed KMIP: they are
/// refused with *Encoding Option Error* and *Key Format Type Not Supported*.
#[test]
fn wrapped_and_transparent_asymmetric_keys_are_refused_with_the_spec_reasons() {
    let register = RequestMessage {
        header: RequestHeader::new(ProtocolVersion::V1_4),
        batch_items: vec![RequestBatchItem::new(RegisterRequest {
            attributes: Vec::new(),
            object: ManagedObject::PrivateKey(PrivateKey {
                key_block: KeyBlock {
                    key_format_type: KeyFormatType::Pkcs8,
                    key_compression_type: None,
                    key_material: KeyMaterial::Bytes(key()),
                    cryptographic_algorithm: Some(CryptographicAlgorithm::Rsa),
                    cryptographic_length: Some(2048),
                    key_wrapping_data: None,
                },
            }),
        })],
    };
    let mut wrapped = register.to_item();
    let Value::Structure(fields) = &mut find(&mut wrapped, Tag::KEY_BLOCK).value else {
        panic!()
    };
    fields.push(kmip::Item {
        tag: Tag::KEY_WRAPPING_DATA,
        // Wrapping Method Encrypt, and nothing else.
        value: Value::Structure(vec![kmip::Item {
            tag: Tag::WRAPPING_METHOD,
            value: Value::Enumeration(1),
        }]),
    });
    let err = RequestMessage::from_item(&wrapped).unwrap_err();
    assert_eq!(
        err.result_reason(),
        ResultReason::EncodingOptionError,
        "{err}"
    );

    let mut transparent = register.to_item();
    // Transparent RSA Private Key.
    find(&mut transparent, Tag::KEY_FORMAT_TYPE).value = Value::Enumeration(0x0A);
    let err = RequestMessage::from_item(&transparent).unwrap_err();
    assert_eq!(
        err.result_reason(),
        ResultReason::KeyFormatTypeNotSupported,
        "{err}"
    );
}

#[test]
fn add_attribute_in_both_forms() {
    let add = AddAttributeRequest {
        unique_identifier: Some("k1".into()),
        attribute: Attribute::ContactInformation("ops@example.com".into()),
    };
    for version in [ProtocolVersion::V1_0, ProtocolVersion::V2_0] {
        round_trip_request(version, RequestBatchItem::new(add.clone()));
    }
    let added = AddAttributeResponse {
        unique_identifier: "k1".into(),
        attribute: Some(Attribute::ContactInformation("ops@example.com".into())),
    };
    round_trip_response(
        ProtocolVersion::V1_4,
        ResponseBatchItem::success(added.clone()),
    );
    // KMIP 2.x responses do not echo the attribute.
    let message = ResponseMessage {
        header: ResponseHeader::new(ProtocolVersion::V2_0, DateTime(0)),
        batch_items: vec![ResponseBatchItem::success(added)],
    };
    let decoded = ResponseMessage::from_item(&message.to_item()).unwrap();
    let Some(kmip::ResponsePayload::AddAttribute(echo)) = &decoded.batch_items[0].payload else {
        panic!()
    };
    assert_eq!(echo.attribute, None);
}

#[test]
fn adjust_attribute_round_trips() {
    let adjust = AdjustAttributeRequest {
        unique_identifier: Some("k1".into()),
        attribute_reference: AttributeReference::Standard(AttributeType::DeactivationDate),
        adjustment_type: AdjustmentType::Increment,
        adjustment_value: Some(Value::Interval(86_400)),
    };
    round_trip_request(ProtocolVersion::V2_1, RequestBatchItem::new(adjust));
}
