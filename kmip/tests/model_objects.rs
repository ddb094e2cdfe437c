//! Managed objects and the payloads PyKMIP cannot build: Transparent Symmetric, RSA and EC
//! keys, Opaque Objects, certificates and Transparent DSA keys (refused with the reason KMIP
//! gives), and the KMIP 2.x Add and Adjust Attribute forms.
//! Wrapped key blocks are in `model_key_wrapping.rs`.
#![allow(clippy::unwrap_used)]

mod items;

use items::find;

use kmip::{
    AddAttributeRequest, AddAttributeResponse, AdjustAttributeRequest, AdjustmentType, Attribute,
    AttributeReference, AttributeType, Certificate, CertificateType, CryptographicAlgorithm,
    DateTime, Error, GetResponse, KeyBlock, KeyFormatType, KeyMaterial, Limits, ManagedObject,
    Name, OpaqueDataType, OpaqueObject, PrivateKey, ProtocolVersion, PublicKey, RecommendedCurve,
    RegisterRequest, RequestBatchItem, RequestHeader, RequestMessage, ResponseBatchItem,
    ResponseHeader, ResponseMessage, ResultReason, SecretBytes, SecretInteger, SymmetricKey, Tag,
    TransparentEcPrivateKey, TransparentEcPublicKey, TransparentRsaPrivateKey,
    TransparentRsaPublicKey, Value,
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

fn number(bytes: &[u8]) -> SecretInteger {
    SecretInteger::from_be_bytes(bytes)
}

fn key_response(format: KeyFormatType, material: KeyMaterial, private: bool) -> GetResponse {
    let key_block = KeyBlock {
        key_format_type: format,
        key_compression_type: None,
        key_material: material,
        cryptographic_algorithm: Some(CryptographicAlgorithm::Rsa),
        cryptographic_length: Some(2048),
        key_wrapping_data: None,
    };
    GetResponse {
        unique_identifier: "k1".into(),
        object: if private {
            ManagedObject::PrivateKey(PrivateKey { key_block })
        } else {
            ManagedObject::PublicKey(PublicKey { key_block })
        },
    }
}

/// The Transparent RSA and EC structures round-trip in every version: an RSA private key with
/// all its numbers and with the modulus and private exponent only, and the EC structures under
/// each name KMIP gives them.
#[test]
fn transparent_rsa_and_ec_keys_round_trip() {
    let rsa_public = KeyMaterial::TransparentRsaPublicKey(Box::new(TransparentRsaPublicKey {
        modulus: number(&[0xC1; 256]),
        public_exponent: number(&[1, 0, 1]),
    }));
    let rsa_private = |all: bool| {
        let some = |byte: u8, len: usize| all.then(|| number(&vec![byte; len]));
        KeyMaterial::TransparentRsaPrivateKey(Box::new(TransparentRsaPrivateKey {
            modulus: number(&[0xC1; 256]),
            private_exponent: Some(number(&[0x3D; 256])),
            public_exponent: some(1, 3),
            p: some(0xE1, 128),
            q: some(0xF3, 128),
            prime_exponent_p: some(0x11, 128),
            prime_exponent_q: some(0x22, 128),
            crt_coefficient: some(0x83, 127),
        }))
    };
    let ec_private = KeyMaterial::TransparentEcPrivateKey(TransparentEcPrivateKey {
        recommended_curve: RecommendedCurve::P256,
        d: number(&[0x9C; 32]),
    });
    let ec_public = KeyMaterial::TransparentEcPublicKey(TransparentEcPublicKey {
        recommended_curve: RecommendedCurve::P384,
        q_string: [&[4][..], &[0x77; 96]].concat(),
    });
    use KeyFormatType as F;
    let keys = [
        key_response(F::TransparentRsaPublicKey, rsa_public, false),
        key_response(F::TransparentRsaPrivateKey, rsa_private(true), true),
        key_response(F::TransparentRsaPrivateKey, rsa_private(false), true),
        key_response(F::TransparentEcPrivateKey, ec_private.clone(), true),
        key_response(F::TransparentEcdsaPrivateKey, ec_private.clone(), true),
        key_response(F::TransparentEcmqvPrivateKey, ec_private, true),
        key_response(F::TransparentEcPublicKey, ec_public.clone(), false),
        key_response(F::TransparentEcdhPublicKey, ec_public, false),
    ];
    for key in keys {
        for version in ProtocolVersion::SUPPORTED {
            round_trip_response(version, ResponseBatchItem::success(key.clone()));
        }
    }
}

/// A key's numbers are non-negative Big Integers: a magnitude whose top bit is set is written
/// with a zero byte first (else it would read as negative), sign-extended with zeros to eight
/// bytes; leading zero bytes are dropped on reading; a negative number is refused.
#[test]
fn key_numbers_are_non_negative_big_integers() {
    let response = key_response(
        KeyFormatType::TransparentRsaPublicKey,
        KeyMaterial::TransparentRsaPublicKey(Box::new(TransparentRsaPublicKey {
            modulus: number(&[0x80, 0x01]),
            public_exponent: number(&[0, 0, 1, 0, 1]),
        })),
        false,
    );
    let message = ResponseMessage {
        header: ResponseHeader::new(ProtocolVersion::V1_4, DateTime(0)),
        batch_items: vec![ResponseBatchItem::success(response)],
    };
    let mut bytes = Vec::new();
    kmip::encode(&message.to_item(), &mut bytes).unwrap();
    let modulus = [
        &[0x42, 0x00, 0x52, 0x04, 0, 0, 0, 8][..],
        &[0, 0, 0, 0, 0, 0, 0x80, 0x01],
    ]
    .concat();
    let exponent = [
        &[0x42, 0x00, 0x6C, 0x04, 0, 0, 0, 8][..],
        &[0, 0, 0, 0, 0, 1, 0, 1],
    ]
    .concat();
    assert!(
        bytes.windows(16).any(|w| w == modulus),
        "modulus as written"
    );
    assert!(
        bytes.windows(16).any(|w| w == exponent),
        "exponent as written"
    );
    let decoded =
        ResponseMessage::from_item(&kmip::decode(&bytes, &Limits::default()).unwrap()).unwrap();
    assert_eq!(decoded, message);

    let mut item = message.to_item();
    find(&mut item, Tag::MODULUS).value = Value::BigInteger(vec![0xFF, 0x01].into());
    let err = ResponseMessage::from_item(&item).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidValue {
                tag: Tag::MODULUS,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.result_reason(), ResultReason::InvalidField);
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

/// The Transparent DSA and DH structures are not malformed KMIP: they are refused with *Key
/// Format Type Not Supported*.
#[test]
fn transparent_dsa_keys_are_refused_with_the_spec_reason() {
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
    let mut transparent = register.to_item();
    // Transparent DSA Private Key.
    find(&mut transparent, Tag::KEY_FORMAT_TYPE).value = Value::Enumeration(0x08);
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
