//! Discover Versions and Query: what the gateway speaks and offers, answered by the gateway
//! itself — it is the server the client talks to.

use kmip::{
    DiscoverVersionsRequest, DiscoverVersionsResponse, ObjectType, Operation, ProtocolVersion,
    QueryFunction, QueryRequest, QueryResponse,
};

/// The operations a client can use through the gateway: those it answers for its own keys, and
/// those it forwards to the core. The response encoder leaves out the ones the client's
/// version lacks.
const OPERATIONS: &[Operation] = &[
    Operation::Create,
    Operation::Register,
    Operation::Locate,
    Operation::Check,
    Operation::Get,
    Operation::GetAttributes,
    Operation::GetAttributeList,
    Operation::AddAttribute,
    Operation::ModifyAttribute,
    Operation::DeleteAttribute,
    Operation::Activate,
    Operation::Revoke,
    Operation::Destroy,
    Operation::Query,
    Operation::DiscoverVersions,
    Operation::SetAttribute,
    Operation::AdjustAttribute,
];

/// The object types a client can create (symmetric keys, held by the gateway) or register
/// (held by the core).
const OBJECT_TYPES: &[ObjectType] = &[
    ObjectType::SymmetricKey,
    ObjectType::SecretData,
    ObjectType::OpaqueData,
];

/// The versions both sides speak, the gateway's preferred (newest) first; every version the
/// gateway speaks when the client lists none.
pub(super) fn discover_versions(request: &DiscoverVersionsRequest) -> DiscoverVersionsResponse {
    let protocol_versions = ProtocolVersion::SUPPORTED
        .into_iter()
        .filter(|version| {
            request.protocol_versions.is_empty() || request.protocol_versions.contains(version)
        })
        .collect();
    DiscoverVersionsResponse { protocol_versions }
}

/// What the gateway offers, limited to the listings the client asked for.
pub(super) fn query(request: &QueryRequest) -> QueryResponse {
    let asked = |function| request.query_functions.contains(&function);
    QueryResponse {
        operations: if asked(QueryFunction::QueryOperations) {
            OPERATIONS.to_vec()
        } else {
            Vec::new()
        },
        object_types: if asked(QueryFunction::QueryObjects) {
            OBJECT_TYPES.to_vec()
        } else {
            Vec::new()
        },
        vendor_identification: asked(QueryFunction::QueryServerInformation)
            .then(|| format!("Krypton gateway {}", env!("CARGO_PKG_VERSION"))),
        server_information: None,
        application_namespaces: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_the_common_ones_newest_first() {
        let all = discover_versions(&DiscoverVersionsRequest::default());
        assert_eq!(all.protocol_versions, ProtocolVersion::SUPPORTED.to_vec());
        let some = discover_versions(&DiscoverVersionsRequest {
            protocol_versions: vec![
                ProtocolVersion::V1_2,
                ProtocolVersion::new(3, 0),
                ProtocolVersion::V2_0,
            ],
        });
        assert_eq!(
            some.protocol_versions,
            vec![ProtocolVersion::V2_0, ProtocolVersion::V1_2]
        );
    }

    #[test]
    fn query_lists_only_what_is_asked() {
        let response = query(&QueryRequest {
            query_functions: vec![QueryFunction::QueryServerInformation],
        });
        assert!(response.operations.is_empty());
        assert!(
            response
                .vendor_identification
                .unwrap()
                .starts_with("Krypton gateway")
        );
        let response = query(&QueryRequest {
            query_functions: vec![QueryFunction::QueryOperations, QueryFunction::QueryObjects],
        });
        assert!(response.operations.contains(&Operation::Create));
        assert!(response.object_types.contains(&ObjectType::SymmetricKey));
        assert_eq!(response.vendor_identification, None);
    }
}
