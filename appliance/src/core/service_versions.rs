//! The states of a service key's versions (`hierarchy/versions.rs` draws them): retire an old
//! version once the gateways re-wrapped what it wrapped, reinstate one retired too early,
//! destroy a retired one for good.
//!
//! Each change is one durable write of the service record with its audit record; the keyring
//! follows it: a retired or destroyed version's key is wiped from memory at once, so every
//! unwrap under it is refused from the moment the operator is answered. A reinstated version
//! is opened under the L2 before anything is written, so a reinstate that cannot open it
//! changes nothing.

use std::sync::Arc;

use super::Core;
use super::tenants::{ServiceInfo, record_key};
use crate::audit::Operation;
use crate::caller::Caller;
use crate::error::Error;
use crate::hierarchy::records::{self, ServiceRecord};
use crate::hierarchy::{ServiceName, VersionChange, VersionKey, VersionState, l3};
use crate::hsm::TenantId;
use crate::seal::Unsealed;
use crate::secret::SecretKey;
use crate::store::Column;

/// One version of one service key.
#[derive(Debug, Clone)]
pub(crate) struct VersionOf {
    pub(crate) tenant: TenantId,
    pub(crate) service: ServiceName,
    pub(crate) version: u32,
}

impl Core {
    /// Applies `change` to `version`; returns the service as it now stands.
    pub(crate) async fn change_version(
        self: &Arc<Self>,
        caller: Caller,
        version: VersionOf,
        change: VersionChange,
    ) -> Result<(ServiceInfo, u64), Error> {
        let _admin = self.admin().await?;
        self.unsealed(move |core, unsealed| {
            let key = record_key(unsealed);
            let of = version;
            let VersionOf {
                tenant,
                service,
                version,
            } = of.clone();
            let service_key = records::service_key(&tenant, &service);
            let mut record: ServiceRecord = core
                .store
                .get_sealed(key, Column::Services, &service_key)?
                .ok_or_else(|| Error::ServiceNotFound {
                    tenant: tenant.clone(),
                    service: service.to_string(),
                })?;
            let state = record
                .state(version)
                .ok_or_else(|| Error::VersionNotFound {
                    tenant: tenant.clone(),
                    service: service.to_string(),
                    version,
                })?;
            let next = state
                .after(change)
                .ok_or_else(|| Error::VersionChangeRefused {
                    tenant: tenant.clone(),
                    service: service.to_string(),
                    version,
                    state: state.name(),
                    change: change.name(),
                })?;
            let in_memory = if next.unwraps() {
                VersionKey::Open(open_version(unsealed, &record, &of)?)
            } else {
                VersionKey::Closed(next)
            };
            record.set_state(version, next);
            let mut batch = core.store.batch(key);
            batch.put_sealed(Column::Services, &service_key, &record)?;
            let operation = match change {
                VersionChange::Retire => Operation::ServiceVersionRetire,
                VersionChange::Reinstate => Operation::ServiceVersionReinstate,
                VersionChange::Destroy => Operation::ServiceVersionDestroy,
            };
            core.audit.stage_about(
                &mut batch,
                operation,
                &caller,
                Some(format!("{tenant}/{service} v{version}")),
            )?;
            let audit_sequence = batch.commit_audited()?;
            unsealed
                .keyring()
                .replace_version(&tenant, &service, version, in_memory);
            if next == VersionState::Destroyed {
                // The old value of the record held the sealed version: compact it away.
                core.store.purge_deleted(Column::Services)?;
            }
            tracing::warn!(%caller, %tenant, %service, version, state = next.name(), audit_sequence, "service key version changed");
            Ok((core.service_info(&tenant, &service, &record), audit_sequence))
        })
        .await
    }
}

/// Opens `version` of the record under the tenant's L2, which must be in memory.
fn open_version(
    unsealed: &Unsealed,
    record: &ServiceRecord,
    of: &VersionOf,
) -> Result<SecretKey, Error> {
    let VersionOf {
        tenant,
        service,
        version,
    } = of;
    let tampered = || Error::TamperedRecord {
        column: Column::Services,
        key: records::service_key(tenant, service).into_boxed_slice(),
    };
    let sealed = record.sealed(*version).ok_or_else(tampered)?;
    unsealed.keyring().with_tenant(tenant, |keys| {
        l3::open(&keys.l2, tenant, service, *version, sealed)?.ok_or_else(tampered)
    })
}
