//! Discover Versions and Query: what the server speaks and offers (KMIP 1.4 §4.26 and §4.25).

use crate::enums::{ObjectType, Operation, QueryFunction};
use crate::error::Error;
use crate::operations::{Payload, struct_payload};
use crate::structure::{Builder, Fields, kmip_struct};
use crate::ttlv::{Tag, Value};
use crate::version::ProtocolVersion;

kmip_struct! {
    /// The versions the client speaks, most preferred first; empty asks for all the server's.
    #[derive(Default)]
    pub struct DiscoverVersionsRequest {
        pub protocol_versions: repeated ProtocolVersion => PROTOCOL_VERSION,
    }
}

kmip_struct! {
    /// The versions both sides speak, the server's preferred first.
    #[derive(Default)]
    pub struct DiscoverVersionsResponse {
        pub protocol_versions: repeated ProtocolVersion => PROTOCOL_VERSION,
    }
}

kmip_struct! {
    /// What the client wants listed.
    #[derive(Default)]
    pub struct QueryRequest {
        pub query_functions: repeated QueryFunction => QUERY_FUNCTION,
    }
}

/// What the server offers. The KMIP 1.1+ extension, 1.2+ attestation and 1.3+ capability
/// listings are not modelled: a response carrying them is refused on decode. Operations and
/// object types newer than the response's version are left out: the client could not decode
/// them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueryResponse {
    pub operations: Vec<Operation>,
    pub object_types: Vec<ObjectType>,
    pub vendor_identification: Option<String>,
    /// Vendor-defined content, kept as TTLV.
    pub server_information: Option<Value>,
    pub application_namespaces: Vec<String>,
}

impl Payload for QueryResponse {
    fn read(fields: &mut Fields<'_>, _version: ProtocolVersion) -> Result<Self, Error> {
        Ok(Self {
            operations: fields.repeated(Tag::OPERATION)?,
            object_types: fields.repeated(Tag::OBJECT_TYPE)?,
            vendor_identification: fields.optional(Tag::VENDOR_IDENTIFICATION)?,
            server_information: fields.optional(Tag::SERVER_INFORMATION)?,
            application_namespaces: fields.repeated(Tag::APPLICATION_NAMESPACE)?,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        for operation in self.operations.iter().filter(|op| op.since() <= version) {
            b.push(Tag::OPERATION, operation);
        }
        for object_type in self.object_types.iter().filter(|t| t.since() <= version) {
            b.push(Tag::OBJECT_TYPE, object_type);
        }
        b.push_opt(
            Tag::VENDOR_IDENTIFICATION,
            self.vendor_identification.as_ref(),
        );
        b.push_opt(Tag::SERVER_INFORMATION, self.server_information.as_ref());
        b.push_all(Tag::APPLICATION_NAMESPACE, &self.application_namespaces);
    }
}

struct_payload!(
    DiscoverVersionsRequest,
    DiscoverVersionsResponse,
    QueryRequest
);
