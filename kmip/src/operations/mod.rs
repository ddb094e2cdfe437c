//! The request and response payloads of the operations this crate types, one module per group
//! of operations, and the dispatch from an [`Operation`] to its payload.
//!
//! A payload of any other operation — one this crate does not type, or a vendor extension —
//! decodes as [`RequestPayload::Other`] / [`ResponsePayload::Other`] holding the raw TTLV, so a
//! server can answer *Operation Not Supported* and a proxy can forward it unchanged.

mod attribute;
mod crypto;
mod discovery;
mod lifecycle;
mod retrieval;

pub use attribute::{
    AddAttributeRequest, AddAttributeResponse, AdjustAttributeRequest, AdjustAttributeResponse,
    DeleteAttributeRequest, DeleteAttributeResponse, GetAttributeListRequest,
    GetAttributeListResponse, GetAttributesRequest, GetAttributesResponse, ModifyAttributeRequest,
    ModifyAttributeResponse, SetAttributeRequest, SetAttributeResponse,
};
pub use crypto::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, MacRequest, MacResponse,
    MacVerifyRequest, MacVerifyResponse, RewrapReportRequest, RewrapReportResponse, RewrapRequest,
    RewrapResponse, RngRetrieveRequest, RngRetrieveResponse, SignRequest, SignResponse,
    SignatureVerifyRequest, SignatureVerifyResponse, VersionBehind,
};
pub use discovery::{
    DiscoverVersionsRequest, DiscoverVersionsResponse, QueryRequest, QueryResponse,
};
pub use lifecycle::{
    ActivateRequest, ActivateResponse, CreateKeyPairRequest, CreateKeyPairResponse, CreateRequest,
    CreateResponse, DerivationParameters, DeriveKeyRequest, DeriveKeyResponse, DestroyRequest,
    DestroyResponse, RegisterRequest, RegisterResponse, RekeyRequest, RekeyResponse, RevokeRequest,
    RevokeResponse,
};
pub use retrieval::{
    CheckRequest, CheckResponse, GetRequest, GetResponse, LocateRequest, LocateResponse,
};

use crate::enums::Operation;
use crate::error::Error;
use crate::identifier::UniqueIdentifier;
use crate::message::{TypedRequest, TypedResponse};
use crate::structure::{Builder, Fields, read_structure, write_structure};
use crate::ttlv::{Item, Tag};
use crate::version::ProtocolVersion;

/// The body of one payload structure, read and written in the form of a protocol version.
pub(crate) trait Payload: Sized {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error>;
    fn write(&self, b: &mut Builder, version: ProtocolVersion);
}

/// Implements [`Payload`] for a `kmip_struct!` whose form depends on the version only
/// through its `since` fields.
macro_rules! struct_payload {
    ($($name:ident),+ $(,)?) => {
        $(
            impl $crate::operations::Payload for $name {
                fn read(
                    fields: &mut $crate::structure::Fields<'_>,
                    _version: $crate::version::ProtocolVersion,
                ) -> Result<Self, $crate::error::Error> {
                    Self::read_fields(fields)
                }

                fn write(
                    &self,
                    b: &mut $crate::structure::Builder,
                    version: $crate::version::ProtocolVersion,
                ) {
                    self.write_fields(b, version);
                }
            }
        )+
    };
}
pub(crate) use struct_payload;

/// Reads the payload structure `item` as a `T`.
fn read_payload<T: Payload>(item: &Item, version: ProtocolVersion) -> Result<T, Error> {
    read_structure(item, |fields| T::read(fields, version))
}

/// Builds the payload structure of `payload` under `tag`.
fn write_payload<T: Payload>(payload: &T, tag: Tag, version: ProtocolVersion) -> Item {
    write_structure(tag, |b| payload.write(b, version))
}

/// Declares the typed operations: one line per operation, naming its request and response.
macro_rules! payloads {
    ($($op:ident($request:ident, $response:ident),)+) => {
        payload_enum!(
            RequestPayload, TypedRequest, "request", REQUEST_PAYLOAD, "Request Payload",
            $($op($request),)+
        );
        payload_enum!(
            ResponsePayload, TypedResponse, "response", RESPONSE_PAYLOAD, "Response Payload",
            $($op($response),)+
        );
    };
}

/// Declares one side of [`payloads!`]: the payload enum of requests or of responses, its
/// dispatch on the operation, and the conversions from each typed payload. The two sides
/// differ only in the payload types, the tag and the words of their documentation.
macro_rules! payload_enum {
    (
        $name:ident, $typed:ident, $side:literal, $tag:ident, $field:literal,
        $($op:ident($payload:ident),)+
    ) => {
        #[doc = concat!("The ", $side, " payload of one batch item.")]
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum $name {
            $($op($payload),)+
            /// The payload of an operation this crate does not type, as received.
            Other(Item),
        }

        impl $name {
            /// The operation this payload belongs to, or `None` for [`Self::Other`].
            #[must_use]
            pub fn operation(&self) -> Option<Operation> {
                match self {
                    $(Self::$op(_) => Some(Operation::$op),)+
                    Self::Other(_) => None,
                }
            }

            #[doc = concat!("Decodes the `", $field, "` of a batch item for `operation`.")]
            pub fn from_item(
                operation: Operation,
                item: &Item,
                version: ProtocolVersion,
            ) -> Result<Self, Error> {
                match operation {
                    $(Operation::$op => read_payload(item, version).map(Self::$op),)+
                    _ => Ok(Self::Other(item.clone())),
                }
            }

            #[doc = concat!("The `", $field, "` in the form of `version`.")]
            #[must_use]
            pub fn to_item(&self, version: ProtocolVersion) -> Item {
                match self {
                    $(Self::$op(p) => write_payload(p, Tag::$tag, version),)+
                    Self::Other(item) => item.clone(),
                }
            }
        }

        $(
            impl $typed for $payload {
                const OPERATION: Operation = Operation::$op;
            }

            impl From<$payload> for $name {
                fn from(payload: $payload) -> Self {
                    Self::$op(payload)
                }
            }
        )+
    };
}

payloads! {
    DiscoverVersions(DiscoverVersionsRequest, DiscoverVersionsResponse),
    Query(QueryRequest, QueryResponse),
    Create(CreateRequest, CreateResponse),
    CreateKeyPair(CreateKeyPairRequest, CreateKeyPairResponse),
    Register(RegisterRequest, RegisterResponse),
    Rekey(RekeyRequest, RekeyResponse),
    DeriveKey(DeriveKeyRequest, DeriveKeyResponse),
    Get(GetRequest, GetResponse),
    GetAttributes(GetAttributesRequest, GetAttributesResponse),
    GetAttributeList(GetAttributeListRequest, GetAttributeListResponse),
    AddAttribute(AddAttributeRequest, AddAttributeResponse),
    ModifyAttribute(ModifyAttributeRequest, ModifyAttributeResponse),
    DeleteAttribute(DeleteAttributeRequest, DeleteAttributeResponse),
    SetAttribute(SetAttributeRequest, SetAttributeResponse),
    AdjustAttribute(AdjustAttributeRequest, AdjustAttributeResponse),
    Locate(LocateRequest, LocateResponse),
    Check(CheckRequest, CheckResponse),
    Activate(ActivateRequest, ActivateResponse),
    Revoke(RevokeRequest, RevokeResponse),
    Destroy(DestroyRequest, DestroyResponse),
    Encrypt(EncryptRequest, EncryptResponse),
    Decrypt(DecryptRequest, DecryptResponse),
    Sign(SignRequest, SignResponse),
    SignatureVerify(SignatureVerifyRequest, SignatureVerifyResponse),
    Mac(MacRequest, MacResponse),
    MacVerify(MacVerifyRequest, MacVerifyResponse),
    RngRetrieve(RngRetrieveRequest, RngRetrieveResponse),
    Rewrap(RewrapRequest, RewrapResponse),
    RewrapReport(RewrapReportRequest, RewrapReportResponse),
}

impl RequestPayload {
    /// The Unique Identifier field of an operation on one managed object (absent or not), for a
    /// proxy to fill in from the ID Placeholder; `None` for any other operation.
    pub fn target_mut(&mut self) -> Option<&mut Option<UniqueIdentifier>> {
        Some(match self {
            Self::Get(request) => &mut request.unique_identifier,
            Self::GetAttributes(request) => &mut request.unique_identifier,
            Self::GetAttributeList(request) => &mut request.unique_identifier,
            Self::AddAttribute(request) => &mut request.unique_identifier,
            Self::ModifyAttribute(request) => &mut request.unique_identifier,
            Self::DeleteAttribute(request) => &mut request.unique_identifier,
            Self::SetAttribute(request) => &mut request.unique_identifier,
            Self::AdjustAttribute(request) => &mut request.unique_identifier,
            Self::Check(request) => &mut request.unique_identifier,
            Self::Activate(request) => &mut request.unique_identifier,
            Self::Revoke(request) => &mut request.unique_identifier,
            Self::Destroy(request) => &mut request.unique_identifier,
            Self::Rekey(request) => &mut request.unique_identifier,
            Self::Encrypt(request) => &mut request.unique_identifier,
            Self::Decrypt(request) => &mut request.unique_identifier,
            Self::Sign(request) => &mut request.unique_identifier,
            Self::SignatureVerify(request) => &mut request.unique_identifier,
            Self::Mac(request) => &mut request.unique_identifier,
            Self::MacVerify(request) => &mut request.unique_identifier,
            // Krypton's extension between gateway and core names a service key, never a
            // placeholder.
            // Derive Key names its objects itself: KMIP rules the ID Placeholder out there.
            Self::Rewrap(_)
            | Self::DeriveKey(_)
            | Self::DiscoverVersions(_)
            | Self::Query(_)
            | Self::Create(_)
            | Self::CreateKeyPair(_)
            | Self::Register(_)
            | Self::Locate(_)
            | Self::RewrapReport(_)
            | Self::RngRetrieve(_)
            | Self::Other(_) => return None,
        })
    }

    /// The object the request names by a textual Unique Identifier, if it names one so: what
    /// an audit record says it was about.
    #[must_use]
    pub fn target_text(&self) -> Option<&str> {
        let uid = match self {
            Self::Get(request) => request.unique_identifier.as_ref(),
            Self::GetAttributes(request) => request.unique_identifier.as_ref(),
            Self::GetAttributeList(request) => request.unique_identifier.as_ref(),
            Self::AddAttribute(request) => request.unique_identifier.as_ref(),
            Self::ModifyAttribute(request) => request.unique_identifier.as_ref(),
            Self::DeleteAttribute(request) => request.unique_identifier.as_ref(),
            Self::SetAttribute(request) => request.unique_identifier.as_ref(),
            Self::AdjustAttribute(request) => request.unique_identifier.as_ref(),
            Self::Check(request) => request.unique_identifier.as_ref(),
            Self::Activate(request) => request.unique_identifier.as_ref(),
            Self::Revoke(request) => request.unique_identifier.as_ref(),
            Self::Destroy(request) => request.unique_identifier.as_ref(),
            Self::Rekey(request) => request.unique_identifier.as_ref(),
            Self::Encrypt(request) => request.unique_identifier.as_ref(),
            Self::Decrypt(request) => request.unique_identifier.as_ref(),
            Self::Sign(request) => request.unique_identifier.as_ref(),
            Self::SignatureVerify(request) => request.unique_identifier.as_ref(),
            Self::Mac(request) => request.unique_identifier.as_ref(),
            Self::MacVerify(request) => request.unique_identifier.as_ref(),
            Self::Rewrap(request) => request.unique_identifier.as_ref(),
            Self::RewrapReport(request) => Some(&request.unique_identifier),
            // The base object: the object the derived key is made from.
            Self::DeriveKey(request) => request.unique_identifiers.first(),
            Self::DiscoverVersions(_)
            | Self::Query(_)
            | Self::Create(_)
            | Self::CreateKeyPair(_)
            | Self::Register(_)
            | Self::Locate(_)
            | Self::RngRetrieve(_)
            | Self::Other(_) => None,
        };
        uid.and_then(UniqueIdentifier::as_text)
    }
}

impl ResponsePayload {
    /// The identifier of the object a Create, Register, Re-key or Derive Key made: for Create
    /// Key Pair, the private key, which KMIP makes the ID Placeholder.
    #[must_use]
    pub fn created(&self) -> Option<&str> {
        match self {
            Self::Create(response) => Some(&response.unique_identifier),
            Self::CreateKeyPair(response) => Some(&response.private_key_unique_identifier),
            Self::Register(response) => Some(&response.unique_identifier),
            Self::Rekey(response) => Some(&response.unique_identifier),
            Self::DeriveKey(response) => Some(&response.unique_identifier),
            _ => None,
        }
    }
}
