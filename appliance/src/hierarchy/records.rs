//! How tenants and service keys are stored, and how they are read back: CBOR records sealed under the master key (see
//! [`crate::store`]), holding only wrapped keys.
//!
//! - `tenants` / `<tenant>`: the L1 label, the L2 as the HSM wrapped it, and whether the tenant
//!   is linked. Unlinking keeps the record (so a relink restores access); destroying deletes it.
//! - `services` / `<tenant>/<service>`: every version of the L3, each sealed under the L2
//!   (see [`super::l3`]). Names contain no `/`, so a tenant's services share the prefix
//!   `<tenant>/` and no other tenant's do.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hsm::{TenantId, WrappedL2};
use crate::secret::SecretKey;
use crate::store::{Column, Entry, SealingKeys, Store};

use super::keyring::ServiceKeys;
use super::l3;
use super::names::ServiceName;

/// Most tenants one core serves; re-opening reads them all.
pub(crate) const MAX_TENANTS: usize = 100_000;
/// Most services one tenant has.
pub(crate) const MAX_SERVICES: usize = 10_000;
/// Most versions one service key has; rotation past it is refused.
pub(crate) const MAX_VERSIONS: usize = 10_000;

/// A linked (or unlinked) tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TenantRecord {
    /// The `CKA_LABEL` of the tenant's L1 in the HSM token.
    pub(crate) l1_label: String,
    /// The L2, wrapped by the HSM under the L1 ([`crate::WrappedL2`]'s stored form).
    pub(crate) wrapped_l2: Vec<u8>,
    /// False once unlinked: the core does not re-open it at unseal.
    pub(crate) linked: bool,
}

/// One service key's versions, each sealed under the tenant's L2; version `n` at index `n - 1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceRecord {
    pub(crate) versions: Vec<Vec<u8>>,
}

/// The key of a tenant's record.
pub(crate) fn tenant_key(tenant: &TenantId) -> Vec<u8> {
    tenant.as_str().as_bytes().to_vec()
}

/// The prefix shared by every service record of `tenant`.
pub(crate) fn services_prefix(tenant: &TenantId) -> Vec<u8> {
    format!("{tenant}/").into_bytes()
}

/// The key of a service's record.
pub(crate) fn service_key(tenant: &TenantId, service: &ServiceName) -> Vec<u8> {
    format!("{tenant}/{service}").into_bytes()
}

/// `tenant`'s record, if it was ever linked and not destroyed.
pub(crate) fn read_tenant(
    store: &Store,
    key: &dyn SealingKeys,
    tenant: &TenantId,
) -> Result<Option<TenantRecord>, Error> {
    store.get_sealed(key, Column::Tenants, &tenant_key(tenant))
}

/// Every tenant on record, linked or not.
pub(crate) fn tenants(
    store: &Store,
    key: &dyn SealingKeys,
) -> Result<Vec<(TenantId, TenantRecord)>, Error> {
    let stored: Vec<Entry<TenantRecord>> =
        store.scan_prefix_sealed(key, Column::Tenants, b"", MAX_TENANTS)?;
    stored
        .into_iter()
        .map(|entry| Ok((tenant_of(&entry.key)?, entry.value)))
        .collect()
}

/// Every service record of `tenant`.
pub(crate) fn service_records(
    store: &Store,
    key: &dyn SealingKeys,
    tenant: &TenantId,
) -> Result<Vec<Entry<ServiceRecord>>, Error> {
    store.scan_prefix_sealed(
        key,
        Column::Services,
        &services_prefix(tenant),
        MAX_SERVICES,
    )
}

/// The L2 as the HSM wrapped it, from `tenant`'s record.
pub(crate) fn wrapped_l2(tenant: &TenantId, record: &TenantRecord) -> Result<WrappedL2, Error> {
    WrappedL2::from_bytes(&record.wrapped_l2)
        .map_err(|_| tampered(Column::Tenants, tenant_key(tenant)))
}

/// Opens every version of every service key of `tenant` under `l2`.
pub(crate) fn open_services(
    store: &Store,
    key: &dyn SealingKeys,
    tenant: &TenantId,
    l2: &SecretKey,
) -> Result<HashMap<ServiceName, ServiceKeys>, Error> {
    let mut services = HashMap::new();
    for entry in service_records(store, key, tenant)? {
        let name = service_of(tenant, &entry.key)?;
        let mut keys = ServiceKeys::default();
        for (index, sealed) in entry.value.versions.iter().enumerate() {
            let version = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let l3 = l3::open(l2, tenant, &name, version, sealed)?
                .ok_or_else(|| tampered(Column::Services, entry.key.to_vec()))?;
            keys.versions.push(l3);
        }
        services.insert(name, keys);
    }
    Ok(services)
}

/// The tenant a record key names. A key that names none was not written by the core.
fn tenant_of(key: &[u8]) -> Result<TenantId, Error> {
    std::str::from_utf8(key)
        .ok()
        .and_then(|id| TenantId::new(id).ok())
        .ok_or_else(|| tampered(Column::Tenants, key.to_vec()))
}

/// The service a record key of `tenant` names.
pub(crate) fn service_of(tenant: &TenantId, key: &[u8]) -> Result<ServiceName, Error> {
    std::str::from_utf8(key)
        .ok()
        .and_then(|key| key.strip_prefix(tenant.as_str())?.strip_prefix('/'))
        .and_then(|name| ServiceName::new(name).ok())
        .ok_or_else(|| tampered(Column::Services, key.to_vec()))
}

fn tampered(column: Column, key: Vec<u8>) -> Error {
    Error::TamperedRecord {
        column,
        key: key.into_boxed_slice(),
    }
}
