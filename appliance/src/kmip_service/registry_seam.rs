//! Where the KMIP service hands a request to the core's object registry.
//!
//! Every KMIP operation the core does not answer itself (everything but Encrypt and Decrypt
//! on a service key, Discover Versions and Query) comes here: Register, Locate, Get, Get
//! Attributes, Get Attribute List, Activate, Revoke, Destroy, Check and the attribute edits on
//! objects of the core's own registry, for the application the gateway named. A gateway has
//! no objects of its own: without a Delegated credential such a request is refused.

use std::sync::Arc;

use kmip::{RequestBatchItem, RequestHeader, ResponsePayload};

use crate::core::Core;
use crate::error::{Error, RequestError};
use crate::hsm::TenantId;
use crate::registry::Owner;

/// On whose behalf a request is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Requester {
    /// The gateway speaking for itself (no Delegated credential).
    Gateway {
        /// The gateway's certificate identity.
        gateway: String,
    },
    /// An application the gateway forwards for, named by a Delegated credential the core has
    /// checked: the gateway is configured for `owner.tenant`.
    Application {
        /// The forwarding gateway's certificate identity.
        gateway: String,
        /// The object owner: the application's (tenant, identity).
        owner: Owner,
    },
}

/// Answers one batch item on the core's own object registry, for the application the gateway
/// named. Errors are mapped to the KMIP result by [`super::result::result_of`].
pub(crate) async fn registry_answer(
    core: &Arc<Core>,
    requester: &Requester,
    header: &RequestHeader,
    item: RequestBatchItem,
) -> Result<ResponsePayload, RequestError> {
    let Requester::Application { owner, .. } = requester else {
        return Err(RequestError::GatewayOwnsNoObjects(item.operation));
    };
    let tenant = TenantId::new(owner.tenant.as_str()).map_err(Error::InvalidName)?;
    core.registry(tenant, owner.clone(), header.protocol_version, item.payload)
        .await
}
