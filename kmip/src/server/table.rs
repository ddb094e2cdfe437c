//! The one table of what a server offers, and the answers made from it alone: Discover
//! Versions (KMIP 1.4 §4.26) and Query (§4.25).

use crate::enums::{ObjectType, Operation, QueryFunction, ResultReason};
use crate::objects::Refusal;
use crate::operations::{
    DiscoverVersionsRequest, DiscoverVersionsResponse, QueryRequest, QueryResponse,
};
use crate::version::ProtocolVersion;

/// What answering an operation may do to what the server keeps. It decides which batches run
/// under Batch Error Continuation Option *Undo* ([`Server::answer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Changes nothing the server keeps (Get, Locate, a wrap under a service key): once done,
    /// there is nothing to take back.
    ReadsOnly,
    /// May create, change or destroy something the server keeps.
    Changes,
}

/// One operation a server dispatches, and its effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offered {
    pub operation: Operation,
    pub effect: Effect,
}

impl Offered {
    /// `operation`, which changes nothing the server keeps.
    #[must_use]
    pub const fn reads(operation: Operation) -> Self {
        Self {
            operation,
            effect: Effect::ReadsOnly,
        }
    }

    /// `operation`, which may change what the server keeps.
    #[must_use]
    pub const fn changes(operation: Operation) -> Self {
        Self {
            operation,
            effect: Effect::Changes,
        }
    }
}

/// What a KMIP server offers: the operations it dispatches (Discover Versions and Query among
/// them if it answers those), the object types it keeps, and its name.
#[derive(Debug)]
pub struct Server {
    operations: &'static [Offered],
    object_types: &'static [ObjectType],
    vendor_identification: &'static str,
}

impl Server {
    /// A server dispatching exactly `operations`, listed by Query in this order; keeping
    /// `object_types`; calling itself `vendor_identification`.
    #[must_use]
    pub const fn new(
        operations: &'static [Offered],
        object_types: &'static [ObjectType],
        vendor_identification: &'static str,
    ) -> Self {
        Self {
            operations,
            object_types,
            vendor_identification,
        }
    }

    /// The operations the server dispatches, in the order Query lists them.
    pub fn operations(&self) -> impl Iterator<Item = Operation> + '_ {
        self.operations.iter().map(|offered| offered.operation)
    }

    /// The effect of `operation`, or `None` if the server does not offer it.
    #[must_use]
    pub fn effect(&self, operation: Operation) -> Option<Effect> {
        self.operations
            .iter()
            .find(|offered| offered.operation == operation)
            .map(|offered| offered.effect)
    }

    /// The refusal of an operation the server does not offer.
    pub(super) fn not_offered(&self, operation: Operation) -> Refusal {
        let vendor = self.vendor_identification;
        let message = match operation {
            Operation::Unassigned(code) => {
                format!(
                    "operation code 0x{:08X} is not a KMIP operation",
                    code.code()
                )
            }
            Operation::Extension(code) => {
                format!("{vendor} offers no vendor operation 0x{:08X}", code.code())
            }
            operation => format!("{vendor} does not offer {operation:?}"),
        };
        Refusal::new(ResultReason::OperationNotSupported, message)
    }

    /// The versions both sides speak, newest (the server's preferred) first; every version
    /// the server speaks when the client lists none.
    pub(super) fn discover_versions(request: &DiscoverVersionsRequest) -> DiscoverVersionsResponse {
        let protocol_versions = ProtocolVersion::SUPPORTED
            .into_iter()
            .filter(|version| {
                request.protocol_versions.is_empty() || request.protocol_versions.contains(version)
            })
            .collect();
        DiscoverVersionsResponse { protocol_versions }
    }

    /// What the server offers, limited to what the client's Query Functions ask for: Query
    /// Operations lists the operations, Query Objects the object types, Query Server
    /// Information the vendor identification, Query Application Namespaces the namespaces (the
    /// server has none). The other functions (extensions, attestation types, RNGs, profiles,
    /// capabilities, …) ask about features the server does not have, so they add nothing. The
    /// request must name at least one function ("SHALL contain one or more", KMIP 1.4 §4.25).
    pub(super) fn query(&self, request: &QueryRequest) -> Result<QueryResponse, Refusal> {
        if request.query_functions.is_empty() {
            return Err(Refusal::new(
                ResultReason::MissingData,
                "Query names no Query Function: ask for one or more (Query Operations, Query \
                 Objects, Query Server Information, …)",
            ));
        }
        let asked = |function| request.query_functions.contains(&function);
        Ok(QueryResponse {
            operations: if asked(QueryFunction::QueryOperations) {
                self.operations().collect()
            } else {
                Vec::new()
            },
            object_types: if asked(QueryFunction::QueryObjects) {
                self.object_types.to_vec()
            } else {
                Vec::new()
            },
            vendor_identification: asked(QueryFunction::QueryServerInformation)
                .then(|| self.vendor_identification.to_owned()),
            server_information: None,
            application_namespaces: Vec::new(),
        })
    }
}
