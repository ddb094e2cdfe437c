//! Differential tests against PyKMIP: for each message PyKMIP builds (see `pykmip/vectors.py`),
//! the same message built with this crate must encode to the same bytes, and PyKMIP's bytes
//! must decode to the same typed message.
//!
//! Where PyKMIP departs from the specification the test says so and follows the
//! specification; each such vector is compared only where the two agree.
#![allow(clippy::unwrap_used)]

#[path = "pykmip/oracle.rs"]
mod oracle;

use kmip::{
    ActivateRequest, ActivateResponse, AddAttributeRequest, Attribute, AttributeReference,
    AttributeType, Authentication, BatchErrorContinuationOption, BlockCipherMode, CheckRequest,
    CheckResponse, CreateKeyPairRequest, CreateKeyPairResponse, CreateRequest, CreateResponse,
    Credential, CryptographicAlgorithm, CryptographicParameters, CryptographicUsageMask, DateTime,
    DecryptRequest, DecryptResponse, DeleteAttributeRequest, DeleteAttributeResponse,
    DerivationMethod, DerivationParameters, DeriveKeyRequest, DeriveKeyResponse, DestroyRequest,
    DestroyResponse, DiscoverVersionsRequest, DiscoverVersionsResponse, EncryptRequest,
    EncryptResponse, GetAttributeListRequest, GetAttributeListResponse, GetAttributesRequest,
    GetAttributesResponse, GetRequest, GetResponse, HashingAlgorithm, Item, KeyBlock,
    KeyFormatType, KeyMaterial, Limits, LocateRequest, LocateResponse, ManagedObject,
    ModifyAttributeRequest, ModifyAttributeResponse, Name, ObjectType, Operation, PaddingMethod,
    ProtocolVersion, QueryFunction, QueryRequest, QueryResponse, RegisterRequest, RegisterResponse,
    RequestBatchItem, RequestHeader, RequestMessage, ResponseBatchItem, ResponseHeader,
    ResponseMessage, ResultReason, RevocationReason, RevocationReasonCode, RevokeRequest,
    RevokeResponse, SecretBytes, SecretData, SecretDataType, SetAttributeRequest,
    SetAttributeResponse, SignRequest, SignResponse, SignatureVerifyRequest,
    SignatureVerifyResponse, State, StorageStatusMask, SymmetricKey, TypedRequest, TypedResponse,
    UniqueIdentifier, UsernamePasswordCredential, ValidityIndicator, Value, VendorAttribute,
};
use oracle::vector;

// The fixed inputs of vectors.py.
const TIME_STAMP: i64 = 1_700_000_000;
const UID: &str = "b4faee10-aa2a-4446-8ad4-0881f3422959";
const UID2: &str = "1f165d65-cbbd-4bd6-9867-80e0b390acf9";
const PLAINTEXT: &[u8] = b"attack at dawn";
const AAD: &[u8] = b"header";

const V1_0: ProtocolVersion = ProtocolVersion::V1_0;
const V1_2: ProtocolVersion = ProtocolVersion::V1_2;
const V1_4: ProtocolVersion = ProtocolVersion::V1_4;
const V2_0: ProtocolVersion = ProtocolVersion::V2_0;
const EVERY: [ProtocolVersion; 4] = [V1_0, V1_2, V1_4, V2_0];
const FROM_1_2: [ProtocolVersion; 3] = [V1_2, V1_4, V2_0];
const ALL_1X: [ProtocolVersion; 3] = [V1_0, V1_2, V1_4];

fn key() -> SecretBytes {
    SecretBytes::new((0..32).collect())
}

/// 96 bytes: the Secret Data libmongocrypt registers.
fn secret() -> SecretBytes {
    SecretBytes::new((0..96).collect())
}

fn iv() -> Vec<u8> {
    (0..12).collect()
}

fn ciphertext() -> Vec<u8> {
    hex::decode("0123456789abcdef0123456789abcdef").unwrap()
}

fn uid() -> Option<UniqueIdentifier> {
    Some(UID.into())
}

fn vector_name(name: &str, version: ProtocolVersion) -> String {
    format!("{name}_{}_{}", version.major, version.minor)
}

/// Reports the first byte where two encodings differ, with both item trees.
fn assert_same_bytes(name: &str, ours: &[u8], theirs: &[u8]) {
    if ours == theirs {
        return;
    }
    let at = ours
        .iter()
        .zip(theirs)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(theirs.len()));
    let limits = Limits::default();
    panic!(
        "{name}: our encoding differs from PyKMIP's at byte {at} (ours {} bytes, theirs {})\n\
         ours:   {}\ntheirs: {}\nours decoded:   {:#?}\ntheirs decoded: {:#?}",
        ours.len(),
        theirs.len(),
        hex::encode(ours),
        hex::encode(theirs),
        kmip::decode(ours, &limits),
        kmip::decode(theirs, &limits),
    );
}

/// What a vector holds: a request or a response message.
trait Message: PartialEq + std::fmt::Debug + Sized {
    fn version(&self) -> ProtocolVersion;
    fn item(&self) -> Item;
    fn parse(item: &Item) -> Result<Self, kmip::Error>;
}

macro_rules! message {
    ($($message:ident),+) => {$(
        impl Message for $message {
            fn version(&self) -> ProtocolVersion {
                self.header.protocol_version
            }
            fn item(&self) -> Item {
                self.to_item()
            }
            fn parse(item: &Item) -> Result<Self, kmip::Error> {
                Self::from_item(item)
            }
        }
    )+};
}

message!(RequestMessage, ResponseMessage);

/// `item` in TTLV.
fn encoding(item: &Item) -> Vec<u8> {
    let mut bytes = Vec::new();
    kmip::encode(item, &mut bytes).unwrap();
    bytes
}

/// Builds `message` for `name`: it must encode to PyKMIP's bytes, and PyKMIP's bytes must
/// decode to it.
fn check_vector<M: Message>(name: &str, message: M) {
    let name = vector_name(name, message.version());
    let theirs = vector(&name);
    assert_same_bytes(&name, &encoding(&message.item()), theirs);
    let item = kmip::decode(theirs, &Limits::default()).unwrap();
    let decoded =
        M::parse(&item).unwrap_or_else(|err| panic!("{name}: PyKMIP's bytes do not decode: {err}"));
    assert_eq!(
        decoded, message,
        "{name}: PyKMIP's bytes decode to another message"
    );
}

/// [`check_vector`]s a request of `version` carrying `payload` alone.
fn check_request(name: &str, version: ProtocolVersion, payload: impl TypedRequest) {
    check_vector(name, request(version, vec![RequestBatchItem::new(payload)]));
}

/// [`check_vector`]s a response of `version` carrying `payload` alone, successfully.
fn check_response(name: &str, version: ProtocolVersion, payload: impl TypedResponse) {
    check_vector(
        name,
        response(version, vec![ResponseBatchItem::success(payload)]),
    );
}

fn request(version: ProtocolVersion, items: Vec<RequestBatchItem>) -> RequestMessage {
    RequestMessage {
        header: RequestHeader::new(version),
        batch_items: items,
    }
}

fn response(version: ProtocolVersion, items: Vec<ResponseBatchItem>) -> ResponseMessage {
    ResponseMessage {
        header: ResponseHeader::new(version, DateTime(TIME_STAMP)),
        batch_items: items,
    }
}

/// AES-256, Encrypt|Decrypt, named "key-1": what Create sends.
fn key_attributes() -> Vec<Attribute> {
    vec![
        Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
        Attribute::CryptographicLength(256),
        Attribute::CryptographicUsageMask(
            CryptographicUsageMask::ENCRYPT | CryptographicUsageMask::DECRYPT,
        ),
        Attribute::Name(Name::text("key-1")),
    ]
}

fn symmetric_key() -> ManagedObject {
    ManagedObject::SymmetricKey(SymmetricKey {
        key_block: KeyBlock::raw(CryptographicAlgorithm::Aes, key()),
    })
}

#[test]
fn get() {
    for v in EVERY {
        let get = GetRequest {
            key_format_type: Some(KeyFormatType::Raw),
            unique_identifier: uid(),
            ..GetRequest::default()
        };
        check_request("get_request", v, get);
        let got = GetResponse {
            unique_identifier: UID.into(),
            object: symmetric_key(),
        };
        check_response("get_response", v, got);
    }
}

/// Get with a Key Wrapping Specification (UID under UID2, NIST Key Wrap, No Encoding), and the
/// answer: the key block with its Key Wrapping Data, the wrapped bytes as Key Material in a Key
/// Value structure, as PyKMIP writes and reads them.
#[test]
fn get_wrapped() {
    let information = || {
        Some(kmip::EncryptionKeyInformation {
            unique_identifier: UID2.into(),
            cryptographic_parameters: Some(Box::new(CryptographicParameters {
                block_cipher_mode: Some(BlockCipherMode::NistKeyWrap),
                ..CryptographicParameters::default()
            })),
        })
    };
    for v in FROM_1_2 {
        let get = GetRequest {
            unique_identifier: uid(),
            key_wrapping_specification: Some(kmip::KeyWrappingSpecification {
                wrapping_method: kmip::WrappingMethod::Encrypt,
                encryption_key_information: information(),
                mac_signature_key_information: None,
                attribute_names: Vec::new(),
                encoding_option: Some(kmip::EncodingOption::NoEncoding),
            }),
            ..GetRequest::default()
        };
        check_request("get_wrapped_request", v, get);
        let key_block = KeyBlock {
            key_format_type: KeyFormatType::Raw,
            key_compression_type: None,
            key_material: KeyMaterial::Bytes(SecretBytes::new((0..40).collect())),
            cryptographic_algorithm: Some(CryptographicAlgorithm::Aes),
            cryptographic_length: Some(256),
            key_wrapping_data: Some(kmip::KeyWrappingData {
                wrapping_method: kmip::WrappingMethod::Encrypt,
                encryption_key_information: information(),
                mac_signature_key_information: None,
                mac_signature: None,
                iv_counter_nonce: None,
                encoding_option: Some(kmip::EncodingOption::NoEncoding),
            }),
        };
        let got = GetResponse {
            unique_identifier: UID.into(),
            object: ManagedObject::SymmetricKey(SymmetricKey { key_block }),
        };
        check_response("get_wrapped_response", v, got);
    }
}

#[test]
fn get_response_decodes_to_the_key_material() {
    let item = kmip::decode(vector("get_response_1_0"), &Limits::default()).unwrap();
    let message = ResponseMessage::from_item(&item).unwrap();
    let Some(kmip::ResponsePayload::Get(got)) = &message.batch_items[0].payload else {
        panic!("not a Get response: {message:?}");
    };
    let ManagedObject::SymmetricKey(key_object) = &got.object else {
        panic!("not a key")
    };
    assert_eq!(key_object.key_block.key_material, KeyMaterial::Bytes(key()));
    assert_eq!(**key_object.key_block.key_material.key().unwrap(), *key());
}

#[test]
fn create() {
    for v in EVERY {
        let mut message = request(
            v,
            vec![RequestBatchItem::new(CreateRequest {
                object_type: ObjectType::SymmetricKey,
                attributes: key_attributes(),
            })],
        );
        message.header.maximum_response_size = Some(4096);
        message.header.authentication = Some(Authentication {
            credentials: vec![Credential::UsernamePassword(UsernamePasswordCredential {
                username: "app-1".into(),
                password: Some("s3cret".into()),
            })],
        });
        message.header.batch_error_continuation_option = Some(BatchErrorContinuationOption::Stop);
        message.header.batch_order_option = Some(true);
        message.header.time_stamp = Some(DateTime(TIME_STAMP));
        check_vector("create_request", message);
        let created = CreateResponse {
            object_type: ObjectType::SymmetricKey,
            unique_identifier: UID.into(),
            attributes: Vec::new(),
        };
        check_response("create_response", v, created);
    }
}

#[test]
fn register() {
    for v in EVERY {
        let key = RegisterRequest {
            attributes: key_attributes(),
            object: symmetric_key(),
        };
        check_request("register_symmetric_request", v, key);
        let secret = RegisterRequest {
            attributes: vec![
                Attribute::CryptographicUsageMask(CryptographicUsageMask::VERIFY),
                Attribute::Name(Name::text("db-password")),
            ],
            object: ManagedObject::SecretData(SecretData {
                secret_data_type: SecretDataType::Password,
                key_block: KeyBlock {
                    key_format_type: KeyFormatType::Opaque,
                    key_compression_type: None,
                    key_material: KeyMaterial::Bytes(secret()),
                    cryptographic_algorithm: None,
                    cryptographic_length: None,
                    key_wrapping_data: None,
                },
            }),
        };
        check_request("register_secret_request", v, secret);
        let registered = RegisterResponse {
            unique_identifier: UID.into(),
            attributes: Vec::new(),
        };
        check_response("register_response", v, registered);
    }
}

#[test]
fn locate() {
    for v in EVERY {
        let by_name = LocateRequest {
            maximum_items: Some(10),
            attributes: vec![Attribute::Name(Name::text("key-1"))],
            ..LocateRequest::default()
        };
        check_request("locate_by_name_request", v, by_name);
        let by_state = LocateRequest {
            storage_status_mask: Some(StorageStatusMask::ONLINE_STORAGE),
            attributes: vec![
                Attribute::State(State::Active),
                Attribute::ObjectType(ObjectType::SymmetricKey),
            ],
            ..LocateRequest::default()
        };
        check_request("locate_by_state_request", v, by_state);
        let found = LocateResponse {
            located_items: (v >= V1_4).then_some(2),
            unique_identifiers: vec![UID.into(), UID2.into()],
        };
        check_response("locate_response", v, found);
    }
}

/// Located Items arrived in KMIP 1.3: a 1.0 client must not receive it, even when the server
/// fills it in. (PyKMIP writes it in any version it is given; the spec decides here.)
#[test]
fn locate_response_leaves_located_items_out_before_1_3() {
    let found = LocateResponse {
        located_items: Some(2),
        unique_identifiers: vec![UID.into(), UID2.into()],
    };
    let message = response(V1_0, vec![ResponseBatchItem::success(found)]);
    let ours = encoding(&message.to_item());
    assert_same_bytes("locate_response_1_0", &ours, vector("locate_response_1_0"));
}

#[test]
fn get_attributes() {
    for v in EVERY {
        let ask = GetAttributesRequest {
            unique_identifier: uid(),
            attribute_references: vec![
                AttributeReference::Standard(AttributeType::State),
                AttributeReference::Standard(AttributeType::CryptographicAlgorithm),
            ],
        };
        check_request("get_attributes_request", v, ask);
        let answer = GetAttributesResponse {
            unique_identifier: UID.into(),
            attributes: vec![
                Attribute::State(State::Active),
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
            ],
        };
        check_response("get_attributes_response", v, answer);
    }
}

#[test]
fn get_attribute_list() {
    for v in EVERY {
        let ask = GetAttributeListRequest {
            unique_identifier: uid(),
        };
        check_request("get_attribute_list_request", v, ask);
        let answer = GetAttributeListResponse {
            unique_identifier: UID.into(),
            attribute_references: [
                AttributeType::Name,
                AttributeType::State,
                AttributeType::CryptographicLength,
            ]
            .into_iter()
            .map(AttributeReference::Standard)
            .collect(),
        };
        check_response("get_attribute_list_response", v, answer);
    }
}

#[test]
fn activate_revoke_destroy() {
    for v in EVERY {
        check_request(
            "activate_request",
            v,
            ActivateRequest {
                unique_identifier: uid(),
            },
        );
        check_response(
            "activate_response",
            v,
            ActivateResponse {
                unique_identifier: UID.into(),
            },
        );
        let revoke = RevokeRequest {
            unique_identifier: uid(),
            revocation_reason: RevocationReason {
                code: RevocationReasonCode::KeyCompromise,
                message: Some("laptop stolen".into()),
            },
            compromise_occurrence_date: Some(DateTime(TIME_STAMP - 3600)),
        };
        check_request("revoke_request", v, revoke);
        check_response(
            "revoke_response",
            v,
            RevokeResponse {
                unique_identifier: UID.into(),
            },
        );
        check_request(
            "destroy_request",
            v,
            DestroyRequest {
                unique_identifier: uid(),
            },
        );
        check_response(
            "destroy_response",
            v,
            DestroyResponse {
                unique_identifier: UID.into(),
            },
        );
    }
}

#[test]
fn query_and_discover_versions() {
    for v in EVERY {
        let query = QueryRequest {
            query_functions: vec![QueryFunction::QueryOperations, QueryFunction::QueryObjects],
        };
        check_request("query_request", v, query);
        let offer = QueryResponse {
            operations: vec![Operation::Create, Operation::Get, Operation::Destroy],
            object_types: vec![ObjectType::SymmetricKey, ObjectType::SecretData],
            vendor_identification: Some("Krypton".into()),
            ..QueryResponse::default()
        };
        check_response("query_response", v, offer);
        let discover = DiscoverVersionsRequest {
            protocol_versions: vec![V1_4, V1_2],
        };
        check_request("discover_versions_request", v, discover);
        let versions = DiscoverVersionsResponse {
            protocol_versions: vec![V1_4],
        };
        check_response("discover_versions_response", v, versions);
    }
}

#[test]
fn check() {
    for v in EVERY {
        let ask = CheckRequest {
            unique_identifier: uid(),
            usage_limits_count: Some(500),
            cryptographic_usage_mask: Some(
                CryptographicUsageMask::ENCRYPT | CryptographicUsageMask::DECRYPT,
            ),
            lease_time: Some(3600),
        };
        check_request("check_request", v, ask);
        let answer = CheckResponse {
            unique_identifier: UID.into(),
            usage_limits_count: Some(500),
            cryptographic_usage_mask: None,
            lease_time: None,
        };
        check_response("check_response", v, answer);
    }
}

#[test]
fn derive_key() {
    for v in EVERY {
        let derive = DeriveKeyRequest {
            object_type: ObjectType::SymmetricKey,
            unique_identifiers: vec![UID.into(), UID2.into()],
            derivation_method: DerivationMethod::Pbkdf2,
            derivation_parameters: Box::new(DerivationParameters {
                cryptographic_parameters: Some(CryptographicParameters {
                    hashing_algorithm: Some(HashingAlgorithm::Sha256),
                    ..CryptographicParameters::default()
                }),
                initialization_vector: Some((0..16).collect()),
                derivation_data: Some(PLAINTEXT.into()),
                salt: Some(b"salt".to_vec()),
                iteration_count: Some(4096),
            }),
            attributes: vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
                Attribute::CryptographicLength(128),
            ],
        };
        check_request("derive_key_request", v, derive);
        let derived = DeriveKeyResponse {
            unique_identifier: UID.into(),
            attributes: Vec::new(),
        };
        check_response("derive_key_response", v, derived);
    }
}

#[test]
fn create_key_pair() {
    for v in EVERY {
        let ask = CreateKeyPairRequest {
            common_attributes: vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Rsa),
                Attribute::CryptographicLength(2048),
            ],
            private_key_attributes: vec![
                Attribute::Name(Name::text("signer")),
                Attribute::CryptographicUsageMask(CryptographicUsageMask::SIGN),
            ],
            public_key_attributes: vec![
                Attribute::Name(Name::text("verifier")),
                Attribute::CryptographicUsageMask(CryptographicUsageMask::VERIFY),
            ],
        };
        check_request("create_key_pair_request", v, ask);
        let answer = CreateKeyPairResponse {
            private_key_unique_identifier: UID.into(),
            public_key_unique_identifier: UID2.into(),
        };
        check_response("create_key_pair_response", v, answer);
    }
}

#[test]
fn sign_and_signature_verify() {
    let pss = || {
        Some(CryptographicParameters {
            padding_method: Some(PaddingMethod::Pss),
            hashing_algorithm: Some(HashingAlgorithm::Sha256),
            cryptographic_algorithm: Some(CryptographicAlgorithm::Rsa),
            ..CryptographicParameters::default()
        })
    };
    for v in FROM_1_2 {
        let sign = SignRequest {
            unique_identifier: uid(),
            cryptographic_parameters: pss(),
            data: PLAINTEXT.into(),
        };
        check_request("sign_request", v, sign);
        let signed = SignResponse {
            unique_identifier: UID.into(),
            signature_data: ciphertext(),
        };
        check_response("sign_response", v, signed);
        let verify = SignatureVerifyRequest {
            unique_identifier: Some(UID2.into()),
            cryptographic_parameters: pss(),
            data: PLAINTEXT.into(),
            signature_data: ciphertext(),
        };
        check_request("signature_verify_request", v, verify);
        let verified = SignatureVerifyResponse {
            unique_identifier: UID2.into(),
            validity_indicator: ValidityIndicator::Invalid,
        };
        check_response("signature_verify_response", v, verified);
    }
}

fn gcm() -> Option<CryptographicParameters> {
    Some(CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::Gcm),
        cryptographic_algorithm: Some(CryptographicAlgorithm::Aes),
        tag_length: Some(16),
        ..CryptographicParameters::default()
    })
}

#[test]
fn encrypt_decrypt() {
    for v in FROM_1_2 {
        let aead = v >= V1_4;
        let encrypt = EncryptRequest {
            unique_identifier: uid(),
            cryptographic_parameters: gcm(),
            data: PLAINTEXT.into(),
            iv_counter_nonce: Some(iv()),
            authenticated_encryption_additional_data: aead.then(|| AAD.to_vec()),
        };
        check_request("encrypt_request", v, encrypt);
        let encrypted = EncryptResponse {
            unique_identifier: UID.into(),
            data: ciphertext(),
            iv_counter_nonce: Some(iv()),
            authenticated_encryption_tag: aead.then(|| vec![0; 16]),
        };
        check_response("encrypt_response", v, encrypted);
        let decrypt = DecryptRequest {
            unique_identifier: uid(),
            cryptographic_parameters: gcm(),
            data: ciphertext(),
            iv_counter_nonce: Some(iv()),
            authenticated_encryption_additional_data: aead.then(|| AAD.to_vec()),
            authenticated_encryption_tag: aead.then(|| vec![0; 16]),
        };
        check_request("decrypt_request", v, decrypt);
        let decrypted = DecryptResponse {
            unique_identifier: UID.into(),
            data: PLAINTEXT.into(),
        };
        check_response("decrypt_response", v, decrypted);
    }
}

fn department() -> Attribute {
    Attribute::Vendor(VendorAttribute {
        vendor_identification: "x".into(),
        attribute_name: "department".into(),
        value: Value::TextString("payments".into()),
    })
}

#[test]
fn add_attribute() {
    for v in ALL_1X {
        let add = AddAttributeRequest {
            unique_identifier: uid(),
            attribute: department(),
        };
        check_request("add_attribute_request", v, add);
    }
}

#[test]
fn modify_attribute() {
    for v in EVERY {
        let modify = ModifyAttributeRequest {
            unique_identifier: uid(),
            attribute_index: None,
            current_attribute: (v >= V2_0).then(|| Attribute::Name(Name::text("key-1"))),
            new_attribute: Attribute::Name(Name::text("key-2")),
        };
        check_request("modify_attribute_request", v, modify);
        let modified = ModifyAttributeResponse {
            unique_identifier: UID.into(),
            attribute: (v < V2_0).then(|| Attribute::Name(Name::text("key-2"))),
        };
        check_response("modify_attribute_response", v, modified);
    }
}

#[test]
fn delete_attribute() {
    for v in EVERY {
        let delete = if v < V2_0 {
            DeleteAttributeRequest {
                unique_identifier: uid(),
                attribute: AttributeReference::Standard(AttributeType::ContactInformation),
                attribute_index: Some(0),
                current_attribute: None,
            }
        } else {
            DeleteAttributeRequest {
                unique_identifier: uid(),
                attribute: AttributeReference::Vendor {
                    vendor_identification: "x".into(),
                    attribute_name: "department".into(),
                },
                attribute_index: None,
                current_attribute: None,
            }
        };
        check_request("delete_attribute_request", v, delete);
        let deleted = DeleteAttributeResponse {
            unique_identifier: UID.into(),
            attribute: (v < V2_0).then(|| Attribute::ContactInformation("ops@example.com".into())),
        };
        check_response("delete_attribute_response", v, deleted);
    }
}

#[test]
fn set_attribute() {
    let set = SetAttributeRequest {
        unique_identifier: uid(),
        new_attribute: Attribute::CryptographicLength(128),
    };
    check_request("set_attribute_request", V2_0, set);
    check_response(
        "set_attribute_response",
        V2_0,
        SetAttributeResponse {
            unique_identifier: UID.into(),
        },
    );
}

#[test]
fn batch_of_create_then_activate() {
    for v in EVERY {
        let mut message = request(
            v,
            vec![
                RequestBatchItem::new(CreateRequest {
                    object_type: ObjectType::SymmetricKey,
                    attributes: key_attributes(),
                })
                .with_id([1]),
                RequestBatchItem::new(ActivateRequest::default()).with_id([2]),
            ],
        );
        message.header.batch_error_continuation_option = Some(BatchErrorContinuationOption::Stop);
        check_vector("batch_request", message);
        let answer = response(
            v,
            vec![
                ResponseBatchItem::success(CreateResponse {
                    object_type: ObjectType::SymmetricKey,
                    unique_identifier: UID.into(),
                    attributes: Vec::new(),
                })
                .with_id([1]),
                ResponseBatchItem::success(ActivateResponse {
                    unique_identifier: UID.into(),
                })
                .with_id([2]),
            ],
        );
        check_vector("batch_response", answer);
    }
}

#[test]
fn error_response() {
    for v in EVERY {
        let failed = ResponseBatchItem::failure(
            Some(Operation::Get),
            ResultReason::ItemNotFound,
            "no object with this identifier",
        )
        .with_id([7]);
        check_vector("error_response", response(v, vec![failed]));
    }
}

/// A KMIP 2.0 reason has no meaning to a 1.0 client: it receives the 1.x equivalent, which
/// is exactly what PyKMIP encodes for Item Not Found.
#[test]
fn error_response_maps_2_0_reasons_for_1_x_clients() {
    let failed = ResponseBatchItem::failure(
        Some(Operation::Get),
        ResultReason::ObjectNotFound,
        "no object with this identifier",
    )
    .with_id([7]);
    let message = response(V1_0, vec![failed]);
    let ours = encoding(&message.to_item());
    assert_same_bytes("error_response_1_0", &ours, vector("error_response_1_0"));
}
