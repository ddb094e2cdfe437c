//! How tenants and service keys are stored: CBOR records sealed under the master key (see
//! [`crate::store`]), holding only wrapped keys.
//!
//! - `tenants` / `<tenant>`: the L1 label, the L2 as the HSM wrapped it, and whether the tenant
//!   is linked. Unlinking keeps the record (so a relink restores access); destroying deletes it.
//! - `services` / `<tenant>/<service>`: every version of the L3, each sealed under the L2
//!   (see [`super::l3`]). Names contain no `/`, so a tenant's services share the prefix
//!   `<tenant>/` and no other tenant's do.

use serde::{Deserialize, Serialize};

use crate::hsm::TenantId;

use super::names::ServiceName;

/// Most tenants one core serves; re-opening reads them all.
pub(super) const MAX_TENANTS: usize = 100_000;
/// Most services one tenant has.
pub(super) const MAX_SERVICES: usize = 10_000;
/// Most versions one service key has; rotation past it is refused.
pub(super) const MAX_VERSIONS: usize = 10_000;

/// A linked (or unlinked) tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TenantRecord {
    /// The `CKA_LABEL` of the tenant's L1 in the HSM token.
    pub(super) l1_label: String,
    /// The L2, wrapped by the HSM under the L1 ([`crate::WrappedL2`]'s stored form).
    pub(super) wrapped_l2: Vec<u8>,
    /// False once unlinked: the core does not re-open it at unseal.
    pub(super) linked: bool,
}

/// One service key's versions, each sealed under the tenant's L2; version `n` at index `n - 1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ServiceRecord {
    pub(super) versions: Vec<Vec<u8>>,
}

/// The key of a tenant's record.
pub(super) fn tenant_key(tenant: &TenantId) -> Vec<u8> {
    tenant.as_str().as_bytes().to_vec()
}

/// The prefix shared by every service record of `tenant`.
pub(super) fn services_prefix(tenant: &TenantId) -> Vec<u8> {
    format!("{tenant}/").into_bytes()
}

/// The key of a service's record.
pub(super) fn service_key(tenant: &TenantId, service: &ServiceName) -> Vec<u8> {
    format!("{tenant}/{service}").into_bytes()
}
