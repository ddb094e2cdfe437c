//! One request of each operation the model types, well formed enough to reach a server's
//! handler for that operation: for the tests that check a server answers every operation it
//! lists in Query, and refuses the others. Shared with the daemons' suites (`#[path]`).
#![allow(dead_code)] // each test crate uses its own part of this module

use kmip::{
    ActivateRequest, AddAttributeRequest, AdjustAttributeRequest, AdjustmentType, Attribute,
    AttributeReference, AttributeType, BlockCipherMode, CheckRequest, CreateKeyPairRequest,
    CreateRequest, CryptographicAlgorithm, CryptographicParameters, DateTime, DecryptRequest,
    DeleteAttributeRequest, DerivationMethod, DerivationParameters, DeriveKeyRequest,
    DestroyRequest, DiscoverVersionsRequest, EncryptRequest, GetAttributeListRequest,
    GetAttributesRequest, GetRequest, HashingAlgorithm, KeyBlock, KeyFormatType, KeyMaterial,
    LocateRequest, MacRequest, MacVerifyRequest, ManagedObject, ModifyAttributeRequest, Name,
    ObjectType, Operation, QueryFunction, QueryRequest, RegisterRequest, RekeyRequest,
    RequestPayload, RevocationReason, RevocationReasonCode, RevokeRequest, RewrapReportRequest,
    RewrapRequest, RngRetrieveRequest, SecretBytes, SecretData, SecretDataType,
    SetAttributeRequest, SignRequest, SignatureVerifyRequest, Value, VersionBehind,
};

/// A request of `operation` naming the object `id` where it names one (the service key, for
/// Encrypt, Decrypt, Rewrap and Rewrap Report; AES-GCM, the additional data `id` too). `None` for an operation the
/// model does not type.
pub fn request(operation: Operation, id: &str) -> Option<RequestPayload> {
    let uid = || Some(id.into());
    let name = || Attribute::Name(Name::text("every-operation"));
    let gcm = || {
        Some(CryptographicParameters {
            block_cipher_mode: Some(BlockCipherMode::Gcm),
            ..CryptographicParameters::default()
        })
    };
    Some(match operation {
        Operation::DiscoverVersions => DiscoverVersionsRequest::default().into(),
        Operation::Query => QueryRequest {
            query_functions: vec![QueryFunction::QueryOperations],
        }
        .into(),
        Operation::Create => CreateRequest {
            object_type: ObjectType::SymmetricKey,
            attributes: vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
                Attribute::CryptographicLength(256),
            ],
        }
        .into(),
        Operation::Register => RegisterRequest {
            attributes: vec![name()],
            object: ManagedObject::SecretData(SecretData {
                secret_data_type: SecretDataType::Password,
                key_block: KeyBlock {
                    key_format_type: KeyFormatType::Opaque,
                    key_compression_type: None,
                    key_material: KeyMaterial::Bytes(SecretBytes::new(b"every".to_vec())),
                    cryptographic_algorithm: None,
                    cryptographic_length: None,
                    key_wrapping_data: None,
                },
            }),
        }
        .into(),
        Operation::Locate => LocateRequest::default().into(),
        Operation::Get => GetRequest {
            unique_identifier: uid(),
            ..GetRequest::default()
        }
        .into(),
        Operation::GetAttributes => GetAttributesRequest {
            unique_identifier: uid(),
            attribute_references: Vec::new(),
        }
        .into(),
        Operation::GetAttributeList => GetAttributeListRequest {
            unique_identifier: uid(),
        }
        .into(),
        Operation::Check => CheckRequest {
            unique_identifier: uid(),
            ..CheckRequest::default()
        }
        .into(),
        Operation::Activate => ActivateRequest {
            unique_identifier: uid(),
        }
        .into(),
        Operation::Revoke => RevokeRequest {
            unique_identifier: uid(),
            revocation_reason: RevocationReason {
                code: RevocationReasonCode::CessationOfOperation,
                message: None,
            },
            compromise_occurrence_date: None,
        }
        .into(),
        Operation::Destroy => DestroyRequest {
            unique_identifier: uid(),
        }
        .into(),
        Operation::AddAttribute => AddAttributeRequest {
            unique_identifier: uid(),
            attribute: name(),
        }
        .into(),
        Operation::ModifyAttribute => ModifyAttributeRequest {
            unique_identifier: uid(),
            attribute_index: None,
            current_attribute: None,
            new_attribute: name(),
        }
        .into(),
        Operation::DeleteAttribute => DeleteAttributeRequest {
            unique_identifier: uid(),
            attribute: AttributeReference::Standard(AttributeType::Name),
            attribute_index: None,
            current_attribute: None,
        }
        .into(),
        Operation::SetAttribute => SetAttributeRequest {
            unique_identifier: uid(),
            new_attribute: name(),
        }
        .into(),
        Operation::AdjustAttribute => AdjustAttributeRequest {
            unique_identifier: uid(),
            attribute_reference: AttributeReference::Standard(AttributeType::UsageLimits),
            adjustment_type: AdjustmentType::Increment,
            adjustment_value: Some(Value::LongInteger(1)),
        }
        .into(),
        Operation::Encrypt => EncryptRequest {
            unique_identifier: uid(),
            cryptographic_parameters: gcm(),
            data: SecretBytes::new(vec![1; 32]),
            iv_counter_nonce: None,
            authenticated_encryption_additional_data: Some(id.as_bytes().to_vec()),
        }
        .into(),
        Operation::Decrypt => DecryptRequest {
            unique_identifier: uid(),
            cryptographic_parameters: gcm(),
            data: vec![1; 64],
            iv_counter_nonce: None,
            authenticated_encryption_additional_data: Some(id.as_bytes().to_vec()),
            authenticated_encryption_tag: None,
        }
        .into(),
        Operation::Rekey => RekeyRequest {
            unique_identifier: uid(),
            offset: Some(3600),
            attributes: Vec::new(),
        }
        .into(),
        Operation::DeriveKey => DeriveKeyRequest {
            object_type: ObjectType::SymmetricKey,
            unique_identifiers: vec![id.into()],
            derivation_method: DerivationMethod::Hmac,
            derivation_parameters: Box::new(DerivationParameters {
                cryptographic_parameters: Some(CryptographicParameters {
                    hashing_algorithm: Some(HashingAlgorithm::Sha256),
                    ..CryptographicParameters::default()
                }),
                derivation_data: Some(SecretBytes::new(vec![1; 16])),
                ..DerivationParameters::default()
            }),
            attributes: vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
                Attribute::CryptographicLength(256),
            ],
        }
        .into(),
        Operation::Mac => MacRequest {
            unique_identifier: uid(),
            cryptographic_parameters: None,
            data: SecretBytes::new(vec![1; 32]),
        }
        .into(),
        Operation::MacVerify => MacVerifyRequest {
            unique_identifier: uid(),
            cryptographic_parameters: None,
            data: SecretBytes::new(vec![1; 32]),
            mac_data: vec![2; 32],
        }
        .into(),
        Operation::CreateKeyPair => CreateKeyPairRequest {
            common_attributes: vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Ecdsa),
                Attribute::CryptographicLength(256),
            ],
            private_key_attributes: vec![name()],
            public_key_attributes: Vec::new(),
        }
        .into(),
        Operation::Sign => SignRequest {
            unique_identifier: uid(),
            cryptographic_parameters: None,
            data: SecretBytes::new(vec![1; 32]),
        }
        .into(),
        Operation::SignatureVerify => SignatureVerifyRequest {
            unique_identifier: uid(),
            cryptographic_parameters: None,
            data: SecretBytes::new(vec![1; 32]),
            signature_data: vec![2; 64],
        }
        .into(),
        Operation::RngRetrieve => RngRetrieveRequest { data_length: 32 }.into(),
        Operation::Rewrap => RewrapRequest {
            unique_identifier: uid(),
            data: vec![1; 64],
            authenticated_encryption_additional_data: Some(id.as_bytes().to_vec()),
        }
        .into(),
        Operation::RewrapReport => RewrapReportRequest {
            unique_identifier: id.into(),
            pass_started: DateTime::now(),
            behind: vec![VersionBehind {
                version: 1,
                records: 0,
            }],
        }
        .into(),
        _ => return None,
    })
}
