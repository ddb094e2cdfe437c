//! How tenants and service keys are stored, and how they are read back: CBOR records sealed
//! under the master key (see [`crate::store`]), holding only wrapped keys.
//!
//! - `tenants` / `<tenant>`: the L1 label, the L2 as the HSM wrapped it (with its version, and
//!   the older versions an L2 rotation still holds), and whether the tenant is linked.
//!   Unlinking keeps the record (so a relink restores access); destroying deletes it.
//! - `services` / `<tenant>/<service>`: every version of the L3, each sealed under the L2
//!   (see [`super::l3`]). Names contain no `/`, so a tenant's services share the prefix
//!   `<tenant>/` and no other tenant's do.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hsm::{TenantId, WrappedL2};
use crate::secret::SecretKey;
use crate::store::{Batch, Column, Entry, SealingKeys, Store};

use super::keyring::{ServiceKeys, VersionKey};
use super::l3;
use super::names::ServiceName;
use super::versions::VersionState;

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
    /// The version of the L2 in `wrapped_l2`; records written before L2 rotation existed
    /// hold version 1.
    #[serde(default = "first_l2_version")]
    pub(crate) l2_version: u32,
    /// Older L2 versions, wrapped under the same L1, that registry objects may still be sealed
    /// under: kept from an L2 rotation until its re-seal ends, then dropped.
    #[serde(default)]
    pub(crate) archived_l2: Vec<ArchivedL2>,
}

/// An older version of a tenant's L2, as the HSM wrapped it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ArchivedL2 {
    pub(crate) version: u32,
    pub(crate) wrapped_l2: Vec<u8>,
}

impl TenantRecord {
    /// A tenant just linked to `l1_label`, its first L2 `wrapped` by it.
    pub(crate) fn linked(l1_label: String, wrapped: &WrappedL2) -> Self {
        Self {
            l1_label,
            wrapped_l2: wrapped.to_bytes(),
            linked: true,
            l2_version: first_l2_version(),
            archived_l2: Vec::new(),
        }
    }
}

fn first_l2_version() -> u32 {
    1
}

/// One service key's versions, each sealed under the tenant's L2; version `n` at index `n - 1`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ServiceRecord {
    /// Each version sealed under the L2; empty once the version is destroyed.
    versions: Vec<Vec<u8>>,
    /// Each version's state, in the same order. Records written before versions had states
    /// have none: their newest version is active and the others decrypt-only, as they were.
    #[serde(default)]
    states: Vec<VersionState>,
}

impl ServiceRecord {
    /// How many versions the service key has had.
    pub(crate) fn len(&self) -> usize {
        self.versions.len()
    }

    /// The number the next version gets.
    pub(crate) fn next_version(&self) -> u32 {
        // Bounded by MAX_VERSIONS, far below u32::MAX.
        u32::try_from(self.versions.len() + 1).unwrap_or(u32::MAX)
    }

    /// Every version, its number, state and sealed bytes (empty once destroyed).
    pub(crate) fn versions(&self) -> impl Iterator<Item = (u32, VersionState, &[u8])> {
        let last = self.versions.len();
        self.versions
            .iter()
            .enumerate()
            .map(move |(index, sealed)| {
                let state = self
                    .states
                    .get(index)
                    .copied()
                    .unwrap_or(if index + 1 == last {
                        VersionState::Active
                    } else {
                        VersionState::DecryptOnly
                    });
                (
                    u32::try_from(index + 1).unwrap_or(u32::MAX),
                    state,
                    sealed.as_slice(),
                )
            })
    }

    /// The state of `version`, if the key has it.
    pub(crate) fn state(&self, version: u32) -> Option<VersionState> {
        self.versions()
            .find_map(|(number, state, _)| (number == version).then_some(state))
    }

    /// The sealed bytes of `version`, if the key has it and it is not destroyed.
    pub(crate) fn sealed(&self, version: u32) -> Option<&[u8]> {
        let index = usize::try_from(version).ok()?.checked_sub(1)?;
        self.versions
            .get(index)
            .map(Vec::as_slice)
            .filter(|sealed| !sealed.is_empty())
    }

    /// Adds `sealed` as the new active version ([`next_version`](Self::next_version)); the
    /// active one becomes decrypt-only.
    pub(crate) fn push(&mut self, sealed: Vec<u8>) {
        let mut states: Vec<VersionState> = self
            .versions()
            .map(|(_, state, _)| match state {
                VersionState::Active => VersionState::DecryptOnly,
                other => other,
            })
            .collect();
        states.push(VersionState::Active);
        self.states = states;
        self.versions.push(sealed);
    }

    /// Puts `version` in `state`; a destroyed version's sealed bytes are dropped.
    pub(crate) fn set_state(&mut self, version: u32, state: VersionState) {
        let mut states: Vec<VersionState> = self.versions().map(|(_, state, _)| state).collect();
        let Some(index) = usize::try_from(version).ok().and_then(|v| v.checked_sub(1)) else {
            return;
        };
        if let Some(slot) = states.get_mut(index) {
            *slot = state;
            if state == VersionState::Destroyed {
                self.versions[index] = Vec::new();
            }
            self.states = states;
        }
    }
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

/// The tenant whose tenant or service record is at `key` in `column`; `None` for any other
/// record.
pub(crate) fn changed_tenant(column: Column, key: &[u8]) -> Option<TenantId> {
    let tenant = match column {
        Column::Tenants | Column::Unlinks => key,
        Column::Services => key.split(|&byte| byte == b'/').next()?,
        _ => return None,
    };
    tenant_of(tenant).ok()
}

/// An unlink asked through a core that follows the store's leader, until the leader carries
/// it out ([`Column::Unlinks`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UnlinkRequest {
    /// Who asked, as the audit log names callers.
    pub(crate) caller: String,
    /// When, in milliseconds since the Unix epoch.
    pub(crate) time_unix_millis: u64,
}

/// `tenant`'s record, if it was ever linked and not destroyed; unlinked while an unlink asked
/// through a follower is on record.
pub(crate) fn read_tenant(
    store: &Store,
    key: &dyn SealingKeys,
    tenant: &TenantId,
) -> Result<Option<TenantRecord>, Error> {
    let record: Option<TenantRecord> =
        store.get_sealed(key, Column::Tenants, &tenant_key(tenant))?;
    let Some(record) = record else {
        return Ok(None);
    };
    if !record.linked {
        return Ok(Some(record));
    }
    let asked = unlink_asked(store, key, tenant)?;
    Ok(Some(TenantRecord {
        linked: !asked,
        ..record
    }))
}

/// Whether an unlink of `tenant` asked through a follower is on record.
pub(crate) fn unlink_asked(
    store: &Store,
    key: &dyn SealingKeys,
    tenant: &TenantId,
) -> Result<bool, Error> {
    Ok(store
        .get_sealed::<UnlinkRequest>(key, Column::Unlinks, &tenant_key(tenant))?
        .is_some())
}

/// Every tenant on record, linked or not; unlinked while an unlink asked through a follower is
/// on record.
pub(crate) fn tenants(
    store: &Store,
    key: &dyn SealingKeys,
) -> Result<Vec<(TenantId, TenantRecord)>, Error> {
    let stored: Vec<Entry<TenantRecord>> =
        store.scan_prefix_sealed(key, Column::Tenants, b"", MAX_TENANTS)?;
    let asked = unlink_requests(store, key)?;
    stored
        .into_iter()
        .map(|entry| {
            let tenant = tenant_of(&entry.key)?;
            let linked = entry.value.linked && !asked.contains(&tenant);
            Ok((
                tenant,
                TenantRecord {
                    linked,
                    ..entry.value
                },
            ))
        })
        .collect()
}

/// The tenants whose unlink was asked through a follower and not yet carried out.
pub(crate) fn unlink_requests(
    store: &Store,
    key: &dyn SealingKeys,
) -> Result<Vec<TenantId>, Error> {
    let asked: Vec<Entry<UnlinkRequest>> =
        store.scan_prefix_sealed(key, Column::Unlinks, b"", MAX_TENANTS)?;
    asked.iter().map(|entry| tenant_of(&entry.key)).collect()
}

/// Adds to `batch` the unlink of `tenant` asked by `caller` through a follower.
pub(crate) fn ask_unlink(
    batch: &mut Batch<'_>,
    tenant: &TenantId,
    caller: String,
) -> Result<(), Error> {
    let request = UnlinkRequest {
        caller,
        time_unix_millis: krypton_service::audit::now_unix_millis(),
    };
    batch.put_sealed(Column::Unlinks, &tenant_key(tenant), &request)
}

/// Adds to `batch` the removal of an unlink of `tenant` asked through a follower: carried out,
/// or overtaken by a link.
pub(crate) fn settle_unlink(batch: &mut Batch<'_>, tenant: &TenantId) -> Result<(), Error> {
    batch.delete(Column::Unlinks, &tenant_key(tenant))
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
    parse_wrapped(tenant, &record.wrapped_l2)
}

/// An archived L2 as the HSM wrapped it.
pub(crate) fn archived_l2(tenant: &TenantId, archived: &ArchivedL2) -> Result<WrappedL2, Error> {
    parse_wrapped(tenant, &archived.wrapped_l2)
}

fn parse_wrapped(tenant: &TenantId, bytes: &[u8]) -> Result<WrappedL2, Error> {
    WrappedL2::from_bytes(bytes).map_err(|_| tampered(Column::Tenants, tenant_key(tenant)))
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
        for (version, state, sealed) in entry.value.versions() {
            // Only the versions that unwrap come into memory; a retired one stays sealed.
            let key = if state.unwraps() {
                VersionKey::Open(
                    l3::open(l2, tenant, &name, version, sealed)?
                        .ok_or_else(|| tampered(Column::Services, entry.key.to_vec()))?,
                )
            } else {
                VersionKey::Closed(state)
            };
            keys.push(key);
        }
        services.insert(name, keys);
    }
    Ok(services)
}

/// Opens each version's L3 in `services` (records of `tenant`) under `from` and seals it again
/// under `to` (destroyed versions stay empty): what an L2 rotation writes. The L3s themselves
/// do not change, so neither do the L4s under them.
pub(crate) fn reseal_services(
    tenant: &TenantId,
    services: &mut [Entry<ServiceRecord>],
    from: &SecretKey,
    to: &SecretKey,
) -> Result<(), Error> {
    for entry in services {
        let name = service_of(tenant, &entry.key)?;
        for (index, sealed) in entry.value.versions.iter_mut().enumerate() {
            if sealed.is_empty() {
                continue;
            }
            let version = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let l3 = l3::open(from, tenant, &name, version, sealed)?
                .ok_or_else(|| tampered(Column::Services, entry.key.to_vec()))?;
            *sealed = l3::seal(to, tenant, &name, version, &l3)?;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::WhenIdle;

    #[test]
    fn an_unlink_asked_through_a_follower_unlinks_the_tenant_until_it_is_settled() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let other = TenantId::new("globex").unwrap();
        let mut batch = store.batch(&key);
        for tenant in [&tenant, &other] {
            let record = TenantRecord::linked("l1".into(), &WrappedL2::sample());
            batch
                .put_sealed(Column::Tenants, &tenant_key(tenant), &record)
                .unwrap();
        }
        batch.commit().unwrap();
        let linked = |tenant: &TenantId| read_tenant(&store, &key, tenant).unwrap().unwrap().linked;
        let listed = || -> Vec<(String, bool)> {
            tenants(&store, &key)
                .unwrap()
                .into_iter()
                .map(|(tenant, record)| (tenant.to_string(), record.linked))
                .collect()
        };

        let mut batch = store.batch(&key);
        ask_unlink(&mut batch, &tenant, "uid=0".into()).unwrap();
        batch.commit().unwrap();
        assert!(unlink_asked(&store, &key, &tenant).unwrap());
        assert!(!linked(&tenant));
        assert!(linked(&other));
        assert_eq!(listed(), [("acme".into(), false), ("globex".into(), true)]);
        assert_eq!(
            unlink_requests(&store, &key).unwrap(),
            std::slice::from_ref(&tenant)
        );

        let mut batch = store.batch(&key);
        settle_unlink(&mut batch, &tenant).unwrap();
        batch.commit().unwrap();
        assert!(linked(&tenant));
        assert!(unlink_requests(&store, &key).unwrap().is_empty());
    }
}
