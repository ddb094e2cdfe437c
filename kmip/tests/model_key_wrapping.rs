//! Key wrapping in the model: the Key Wrapping Specification of a Get request and the Key
//! Wrapping Data of a Key Block round-trip in every version (1.x and 2.x write them alike);
//! wrapped material is read from a Key Value Byte String (as KMIP writes it) and from a Key
//! Value structure's Key Material (as PyKMIP writes it), whatever the Encoding Option; the
//! TTLV-encoded Key Value a wrap of that encoding holds round-trips for every form of key
//! material; a Transparent structure wrapped without encoding is refused with the reason KMIP
//! gives.
#![allow(clippy::unwrap_used)]

mod items;

use items::find;

use kmip::{
    BlockCipherMode, CryptographicAlgorithm, CryptographicParameters, DateTime, EncodingOption,
    EncryptionKeyInformation, GetRequest, GetResponse, HashingAlgorithm, Item, KeyBlock,
    KeyFormatType, KeyMaterial, KeyWrappingData, KeyWrappingSpecification, Limits,
    MacSignatureKeyInformation, ManagedObject, PaddingMethod, PrivateKey, ProtocolVersion,
    RecommendedCurve, RegisterRequest, RequestBatchItem, RequestHeader, RequestMessage,
    ResponseBatchItem, ResponseHeader, ResponseMessage, ResultReason, SecretBytes, SecretInteger,
    SymmetricKey, Tag, TransparentEcPrivateKey, TransparentRsaPublicKey, Value, WrappingMethod,
};

fn information(uid: &str, parameters: Option<CryptographicParameters>) -> EncryptionKeyInformation {
    EncryptionKeyInformation {
        unique_identifier: uid.into(),
        cryptographic_parameters: parameters.map(Box::new),
    }
}

fn key_wrap() -> CryptographicParameters {
    CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::NistKeyWrap),
        ..CryptographicParameters::default()
    }
}

fn wrapping_data(encoding_option: Option<EncodingOption>) -> KeyWrappingData {
    KeyWrappingData {
        wrapping_method: WrappingMethod::Encrypt,
        encryption_key_information: Some(information("kek", Some(key_wrap()))),
        mac_signature_key_information: None,
        mac_signature: None,
        iv_counter_nonce: None,
        encoding_option,
    }
}

/// An AES-256 key wrapped with RFC 3394: 40 bytes.
fn wrapped_block() -> KeyBlock {
    KeyBlock {
        key_wrapping_data: Some(wrapping_data(Some(EncodingOption::NoEncoding))),
        ..KeyBlock::raw(
            CryptographicAlgorithm::Aes,
            SecretBytes::new(vec![0xC3; 40]),
        )
    }
}

fn encoded(item: &Item) -> Vec<u8> {
    let mut bytes = Vec::new();
    kmip::encode(item, &mut bytes).unwrap();
    bytes
}

fn request(version: ProtocolVersion, item: RequestBatchItem) -> RequestMessage {
    RequestMessage {
        header: RequestHeader::new(version),
        batch_items: vec![item],
    }
}

fn decode_request(item: &Item) -> Result<RequestMessage, kmip::Error> {
    RequestMessage::from_item(&kmip::decode(&encoded(item), &Limits::default()).unwrap())
}

#[test]
fn get_requests_carry_a_key_wrapping_specification_in_every_version() {
    let spec = |parameters, names: Vec<String>| KeyWrappingSpecification {
        wrapping_method: WrappingMethod::Encrypt,
        encryption_key_information: Some(information("kek", parameters)),
        mac_signature_key_information: None,
        attribute_names: names,
        encoding_option: Some(EncodingOption::NoEncoding),
    };
    let oaep = CryptographicParameters {
        padding_method: Some(PaddingMethod::Oaep),
        hashing_algorithm: Some(HashingAlgorithm::Sha256),
        ..CryptographicParameters::default()
    };
    let mac = KeyWrappingSpecification {
        wrapping_method: WrappingMethod::MacSign,
        encryption_key_information: None,
        mac_signature_key_information: Some(MacSignatureKeyInformation {
            unique_identifier: "mac-key".into(),
            cryptographic_parameters: None,
        }),
        attribute_names: Vec::new(),
        encoding_option: None,
    };
    for spec in [
        spec(None, Vec::new()),
        spec(
            Some(oaep),
            vec!["Name".into(), "Cryptographic Usage Mask".into()],
        ),
        mac,
    ] {
        let get = GetRequest {
            unique_identifier: Some("k1".into()),
            key_wrapping_specification: Some(spec),
            ..GetRequest::default()
        };
        for version in ProtocolVersion::SUPPORTED {
            let message = request(version, RequestBatchItem::new(get.clone()));
            assert_eq!(
                decode_request(&message.to_item()).unwrap(),
                message,
                "{version}"
            );
        }
    }
}

#[test]
fn wrapped_key_blocks_round_trip_in_every_version() {
    let get = GetResponse {
        unique_identifier: "k1".into(),
        object: ManagedObject::SymmetricKey(SymmetricKey {
            key_block: wrapped_block(),
        }),
    };
    let register = RegisterRequest {
        attributes: Vec::new(),
        object: ManagedObject::PrivateKey(PrivateKey {
            key_block: KeyBlock {
                key_format_type: KeyFormatType::Pkcs8,
                cryptographic_algorithm: Some(CryptographicAlgorithm::Rsa),
                cryptographic_length: Some(2048),
                ..wrapped_block()
            },
        }),
    };
    for version in ProtocolVersion::SUPPORTED {
        let response = ResponseMessage {
            header: ResponseHeader::new(version, DateTime(1_700_000_000)),
            batch_items: vec![ResponseBatchItem::success(get.clone())],
        };
        let item = kmip::decode(&encoded(&response.to_item()), &Limits::default()).unwrap();
        assert_eq!(
            ResponseMessage::from_item(&item).unwrap(),
            response,
            "{version}"
        );
        let message = request(version, RequestBatchItem::new(register.clone()));
        assert_eq!(
            decode_request(&message.to_item()).unwrap(),
            message,
            "{version}"
        );
    }
}

fn register(block: KeyBlock) -> RequestMessage {
    request(
        ProtocolVersion::V2_0,
        RequestBatchItem::new(RegisterRequest {
            attributes: Vec::new(),
            object: ManagedObject::SymmetricKey(SymmetricKey { key_block: block }),
        }),
    )
}

/// KMIP writes wrapped material as the Key Value itself, a Byte String; PyKMIP inside a Key
/// Value structure, as Key Material. Both read the same.
#[test]
fn a_wrapped_key_value_is_read_as_a_byte_string_too() {
    let message = register(wrapped_block());
    let mut item = message.to_item();
    find(&mut item, Tag::KEY_VALUE).value = Value::ByteString(vec![0xC3; 40].into());
    assert_eq!(decode_request(&item).unwrap(), message);
}

/// With no Encoding Option (TTLV encoding, KMIP's default) or TTLV Encoding named, the wrapped
/// bytes are read as they are: what they hold is known once unwrapped.
#[test]
fn ttlv_encoded_wrapped_material_is_read_whatever_its_format() {
    for encoding in [None, Some(EncodingOption::TtlvEncoding)] {
        for format in [KeyFormatType::Raw, KeyFormatType::TransparentSymmetricKey] {
            let message = register(KeyBlock {
                key_format_type: format,
                key_wrapping_data: Some(wrapping_data(encoding)),
                ..wrapped_block()
            });
            assert_eq!(decode_request(&message.to_item()).unwrap(), message);
        }
    }
}

/// The Key Value a TTLV-encoded wrap holds: encoded and read back for bare bytes and every
/// Transparent form; the exact bytes of a Raw key's; a Key Value in another format than the
/// one announced, one carrying attributes, and anything but a Key Value are refused.
#[test]
fn key_values_encode_to_ttlv_and_back() {
    let key = SecretBytes::new(vec![0x5A; 16]);
    let number = |bytes: &[u8]| SecretInteger::from_be_bytes(bytes);
    let forms = [
        (KeyFormatType::Raw, KeyMaterial::Bytes(key.clone())),
        (
            KeyFormatType::TransparentSymmetricKey,
            KeyMaterial::TransparentSymmetricKey(key.clone()),
        ),
        (
            KeyFormatType::TransparentRsaPublicKey,
            KeyMaterial::TransparentRsaPublicKey(Box::new(TransparentRsaPublicKey {
                modulus: number(&[0xC1; 256]),
                public_exponent: number(&[1, 0, 1]),
            })),
        ),
        (
            KeyFormatType::TransparentEcPrivateKey,
            KeyMaterial::TransparentEcPrivateKey(TransparentEcPrivateKey {
                recommended_curve: RecommendedCurve::P256,
                d: number(&[0x9C; 32]),
            }),
        ),
    ];
    for (format, material) in &forms {
        let ttlv = material.key_value_ttlv().unwrap();
        assert_eq!(
            &KeyMaterial::from_key_value_ttlv(&ttlv, *format).unwrap(),
            material,
            "{format:?}"
        );
    }
    // Key Value { Key Material: Byte String of 16 bytes }.
    let raw = forms[0].1.key_value_ttlv().unwrap();
    let expected = [
        &[0x42, 0x00, 0x45, 0x01, 0, 0, 0, 24][..],
        &[0x42, 0x00, 0x43, 0x08, 0, 0, 0, 16],
        &[0x5A; 16],
    ]
    .concat();
    assert_eq!(&raw[..], &expected[..]);

    let refused = |bytes: &[u8], format| KeyMaterial::from_key_value_ttlv(bytes, format).is_err();
    assert!(refused(&raw, KeyFormatType::TransparentSymmetricKey));
    assert!(
        refused(&raw[8..], KeyFormatType::Raw),
        "a Key Material alone"
    );
    assert!(
        refused(&raw[..raw.len() - 8], KeyFormatType::Raw),
        "cut short"
    );
    let with_attribute = Item {
        tag: Tag::KEY_VALUE,
        value: Value::Structure(vec![
            Item {
                tag: Tag::KEY_MATERIAL,
                value: Value::ByteString(vec![0x5A; 16].into()),
            },
            Item {
                tag: Tag::ATTRIBUTE,
                value: Value::Structure(Vec::new()),
            },
        ]),
    };
    assert!(refused(&encoded(&with_attribute), KeyFormatType::Raw));
}

#[test]
fn transparent_material_wrapped_without_encoding_is_refused_with_the_spec_reason() {
    let mut item = register(wrapped_block()).to_item();
    // Transparent Symmetric Key.
    find(&mut item, Tag::KEY_FORMAT_TYPE).value = Value::Enumeration(0x07);
    let err = decode_request(&item).unwrap_err();
    assert_eq!(
        err.result_reason(),
        ResultReason::KeyFormatTypeNotSupported,
        "{err}"
    );
    // Key Wrapping Data without its Wrapping Method is malformed.
    let mut item = register(wrapped_block()).to_item();
    find(&mut item, Tag::KEY_WRAPPING_DATA).value = Value::Structure(Vec::new());
    assert!(decode_request(&item).is_err());
}
