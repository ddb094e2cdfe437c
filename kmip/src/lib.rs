//! The KMIP wire protocol for Krypton: a strict TTLV codec and the KMIP 1.0–2.1 message model
//! shared by krypton-core and krypton-gateway.

mod decode;
mod encode;
mod error;
mod framing;
mod ttlv;

// The KMIP message model over the item tree.
mod attribute_type;
mod attribute_values;
mod attributes;
mod credential;
mod datetime;
mod enums;
mod identifier;
mod key_wrapping;
mod message;
mod object;
mod operations;
mod secret;
mod structure;
mod tags;
mod transparent;
mod version;

// The object-management rules shared by the servers (gateway and core). Behind the `objects`
// feature, which brings serde for the stored metadata.
#[cfg(feature = "objects")]
pub mod objects;

// KMIP over mutual TLS: server, client and connection pool. Behind the `net` feature, so the
// codec builds without sockets or TLS.
#[cfg(feature = "net")]
pub mod net;

// The server skeleton the two daemons share: batches, responses, Discover Versions and Query
// from one table of operations. Behind the `server` feature.
#[cfg(feature = "server")]
pub mod server;

pub use attribute_type::{AttributeReference, AttributeType};
pub use attribute_values::{CryptographicParameters, Digest, Link, Name, RevocationReason};
pub use attributes::{Attribute, OtherAttribute, VendorAttribute};
pub use credential::{
    AttestationCredential, Authentication, Credential, DelegatedIdentity, DeviceCredential, Nonce,
    UsernamePasswordCredential,
};
pub use datetime::DateTime;
pub use enums::{
    AdjustmentType, AttestationType, BatchErrorContinuationOption, BlockCipherMode,
    CertificateType, CredentialType, CryptographicAlgorithm, CryptographicUsageMask,
    DerivationMethod, DigitalSignatureAlgorithm, EncodingOption, ExtensionCode, HashingAlgorithm,
    KeyCompressionType, KeyFormatType, KeyRoleType, KeyWrapType, KmipEnum, LinkType, MaskGenerator,
    NameType, ObjectGroupMember, ObjectType, Operation, PaddingMethod, QueryFunction,
    RecommendedCurve, ResultReason, ResultStatus, RevocationReasonCode, SecretDataType, State,
    StorageStatusMask, UnassignedCode, UniqueIdentifierPlaceholder, ValidityIndicator,
    WrappingMethod,
};
pub use identifier::UniqueIdentifier;
pub use key_wrapping::{
    EncryptionKeyInformation, KeyWrappingData, KeyWrappingSpecification, MacSignatureKeyInformation,
};
pub use message::{
    RequestBatchItem, RequestHeader, RequestMessage, ResponseBatchItem, ResponseHeader,
    ResponseMessage, TypedRequest, TypedResponse,
};
pub use object::{
    Certificate, KeyBlock, KeyMaterial, ManagedObject, OpaqueDataType, OpaqueObject, PrivateKey,
    PublicKey, SecretData, SymmetricKey,
};
pub use operations::{
    ActivateRequest, ActivateResponse, AddAttributeRequest, AddAttributeResponse,
    AdjustAttributeRequest, AdjustAttributeResponse, CheckRequest, CheckResponse,
    CreateKeyPairRequest, CreateKeyPairResponse, CreateRequest, CreateResponse, DecryptRequest,
    DecryptResponse, DeleteAttributeRequest, DeleteAttributeResponse, DerivationParameters,
    DeriveKeyRequest, DeriveKeyResponse, DestroyRequest, DestroyResponse, DiscoverVersionsRequest,
    DiscoverVersionsResponse, EncryptRequest, EncryptResponse, GetAttributeListRequest,
    GetAttributeListResponse, GetAttributesRequest, GetAttributesResponse, GetRequest, GetResponse,
    LocateRequest, LocateResponse, MacRequest, MacResponse, MacVerifyRequest, MacVerifyResponse,
    ModifyAttributeRequest, ModifyAttributeResponse, QueryRequest, QueryResponse, RegisterRequest,
    RegisterResponse, RekeyRequest, RekeyResponse, RequestPayload, ResponsePayload, RevokeRequest,
    RevokeResponse, RewrapReportRequest, RewrapReportResponse, RewrapRequest, RewrapResponse,
    RngRetrieveRequest, RngRetrieveResponse, SetAttributeRequest, SetAttributeResponse,
    SignRequest, SignResponse, SignatureVerifyRequest, SignatureVerifyResponse, VersionBehind,
};
pub use secret::{SecretBytes, SecretInteger, SecretString};
pub use transparent::{
    TransparentEcPrivateKey, TransparentEcPublicKey, TransparentRsaPrivateKey,
    TransparentRsaPublicKey,
};
pub use version::ProtocolVersion;

pub use decode::{Limits, decode, peek_header};
pub use encode::{MAX_DEPTH, encode};
pub use error::Error;
pub use framing::{FrameReader, FrameWriter};
pub use ttlv::{Item, ItemType, Tag, Value};
