//! The key hierarchy below the master key: each tenant's root key (L2), wrapped by the
//! customer's L1 in the HSM, and each service's keys (L3), sealed under the L2; and the data
//! keys (L4) that gateways have wrapped and unwrapped under an L3.
//!
//! - **Link** generates an L2 in guarded memory, has the HSM wrap it under the tenant's L1
//!   (found by label), checks the HSM unwraps it again, stores the wrapped L2 and marks the
//!   tenant active. Linking an unlinked tenant again with the same L1 is a **relink**: the
//!   stored L2 is unwrapped, and every L3 and L4 made before opens again.
//! - **Unseal** re-opens every linked tenant through the HSM, all at once, each bounded in
//!   time ([`REOPEN_TIMEOUT`]); a tenant whose L1 the HSM refuses stays unavailable with the
//!   reason, and the others are not held up.
//! - **Unlink** is the kill switch: the tenant's L2 and L3s are wiped from memory before
//!   anything else happens, and every wrap and unwrap for it fails from then on. The wrapped L2
//!   stays on disk for a relink, unless the operator **destroys** the tenant: its records are
//!   deleted and compacted away, and its L4s can never be unwrapped again.
//! - **Services**: `create` draws a random L3, `rotate` adds a version used for new wraps;
//!   every version stays, so every blob ever made still unwraps.
//!
//! Administrative operations (link, unlink, services) run one at a time: they are rare, and
//! serialising them means a link cannot race an unlink of the same tenant. Wraps and unwraps
//! never wait for them; they read the [`Keyring`] only.

mod gcm;
pub(crate) mod keyring;
mod l3;
pub(crate) mod names;
mod records;
pub(crate) mod wrapped_key;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use zeroize::Zeroizing;

use crate::appliance::Appliance;
use crate::audit::Operation;
use crate::caller::Caller;
use crate::error::{Bug, Error, ErrorChain};
use crate::hsm::{Hsm, L1Ref, TenantId, WrappedL2};
use crate::seal::Unsealed;
use crate::secret::{SecretKey, WhenIdle};
use crate::store::{Column, Entry};

pub(crate) use keyring::Keyring;
use keyring::{ServiceKeys, TenantKeys, TenantState};
pub(crate) use names::{L3Id, ServiceName, tenant_id};
use records::{ServiceRecord, TenantRecord};

/// The longest one tenant's re-open may take after an unseal: the HSM unwrap (itself bounded
/// by `call_timeout_ms`, retried once) and opening its L3s.
pub(crate) const REOPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The hierarchy's operations, over the appliance's store and keyring and the HSM.
#[derive(Debug)]
pub(crate) struct Hierarchy {
    appliance: Arc<Appliance>,
    hsm: Option<Hsm>,
    admin: tokio::sync::Mutex<()>,
}

/// What a link did.
#[derive(Debug)]
pub(crate) struct LinkReport {
    /// The tenant was linked before and its stored L2 was re-opened.
    pub(crate) relinked: bool,
    pub(crate) audit_sequence: u64,
}

/// A tenant, as listed.
#[derive(Debug)]
pub(crate) struct TenantInfo {
    pub(crate) tenant: String,
    pub(crate) l1_label: String,
    /// `active`, `opening`, `unavailable` or `unlinked`.
    pub(crate) state: &'static str,
    pub(crate) reason: Option<String>,
    pub(crate) services: u32,
}

/// A service key, as listed.
#[derive(Debug)]
pub(crate) struct ServiceInfo {
    pub(crate) tenant: String,
    pub(crate) service: String,
    /// Its KMIP Unique Identifier, `l3/<tenant>/<service>`.
    pub(crate) unique_identifier: String,
    /// The version new wraps use; every version up to it unwraps.
    pub(crate) current_version: u32,
}

impl Hierarchy {
    pub(crate) fn new(appliance: Arc<Appliance>, hsm: Option<Hsm>) -> Self {
        Self {
            appliance,
            hsm,
            admin: tokio::sync::Mutex::new(()),
        }
    }

    /// The appliance the hierarchy lives in.
    pub(crate) fn appliance(&self) -> &Arc<Appliance> {
        &self.appliance
    }

    /// Links `tenant` to the L1 labelled `l1_label`, or relinks it.
    pub(crate) async fn link(
        &self,
        caller: Caller,
        tenant: TenantId,
        l1_label: String,
    ) -> Result<LinkReport, Error> {
        let hsm = self.hsm.as_ref().ok_or(Error::HsmNotConfigured)?;
        let l1 = L1Ref::label(l1_label.clone()).map_err(Error::InvalidName)?;
        let _admin = self.admin.lock().await;
        let stored = {
            let tenant = tenant.clone();
            self.blocking(move |appliance, unsealed| {
                let record = read_tenant(appliance, unsealed, &tenant)?;
                if record.as_ref().is_some_and(|r| r.linked)
                    && unsealed.keyring().is_active(&tenant)
                {
                    return Err(Error::TenantLinked(tenant));
                }
                Ok(record)
            })
            .await?
        };
        let (l2, record, relinked) = match stored {
            Some(record) if record.l1_label != l1_label => {
                return Err(Error::L1Mismatch {
                    tenant,
                    stored: record.l1_label,
                });
            }
            Some(record) => {
                let wrapped = WrappedL2::from_bytes(&record.wrapped_l2)
                    .map_err(|_| tampered(Column::Tenants, records::tenant_key(&tenant)))?;
                let l2 = hsm
                    .unwrap_l2(&l1, &tenant, &wrapped)
                    .await
                    .map_err(Error::Hsm)?;
                (l2, record, true)
            }
            None => {
                let l2 = SecretKey::random(WhenIdle::NoAccess)?;
                let wrapped = hsm.wrap_l2(&l1, &tenant, &l2).await.map_err(Error::Hsm)?;
                // Prove now that the HSM gives the L2 back (CKA_DECRYPT allowed), before any
                // key depends on it.
                let back = hsm
                    .unwrap_l2(&l1, &tenant, &wrapped)
                    .await
                    .map_err(Error::Hsm)?;
                if !back.expose(|a| l2.expose(|b| a == b)) {
                    return Err(Error::Internal(Bug::HsmRoundTrip));
                }
                let record = TenantRecord {
                    l1_label: l1_label.clone(),
                    wrapped_l2: wrapped.to_bytes(),
                    linked: true,
                };
                (l2, record, false)
            }
        };
        self.blocking(move |appliance, unsealed| {
            let services = open_services(appliance, unsealed, &tenant, &l2)?;
            let record = TenantRecord {
                linked: true,
                ..record
            };
            let master = unsealed.master().record_key();
            let mut batch = appliance.store().batch(master);
            batch.put_sealed(Column::Tenants, &records::tenant_key(&tenant), &record)?;
            let audit_sequence = appliance.audit().stage_about(
                &mut batch,
                Operation::TenantLink,
                &caller,
                Some(format!("{tenant} l1={l1_label}")),
            )?;
            batch.commit()?;
            unsealed
                .keyring()
                .set(&tenant, TenantState::Active(TenantKeys { l2, services }));
            tracing::warn!(%caller, %tenant, l1 = %l1_label, relinked, audit_sequence, "tenant linked");
            Ok(LinkReport {
                relinked,
                audit_sequence,
            })
        })
        .await
    }

    /// Unlinks `tenant`: its keys are wiped from memory first. With `destroy`, its wrapped keys
    /// are deleted for good.
    pub(crate) async fn unlink(
        &self,
        caller: Caller,
        tenant: TenantId,
        destroy: bool,
    ) -> Result<u64, Error> {
        let _admin = self.admin.lock().await;
        self.blocking(move |appliance, unsealed| {
            let record = read_tenant(appliance, unsealed, &tenant)?
                .ok_or_else(|| Error::TenantNotFound(tenant.clone()))?;
            // The kill switch: from here on no wrap or unwrap for the tenant succeeds, whatever
            // happens to the writes below.
            unsealed.keyring().set(&tenant, TenantState::Unlinked);
            tracing::warn!(%caller, %tenant, "tenant keys zeroized");
            let store = appliance.store();
            let mut batch = store.batch(unsealed.master().record_key());
            let tenant_key = records::tenant_key(&tenant);
            let (operation, sequence) = if destroy {
                batch.delete(Column::Tenants, &tenant_key)?;
                for service in service_records(appliance, unsealed, &tenant)? {
                    batch.delete(Column::Services, &service.key)?;
                }
                let op = Operation::TenantDestroy;
                let sequence =
                    appliance
                        .audit()
                        .stage_about(&mut batch, op, &caller, Some(tenant.to_string()))?;
                (op, sequence)
            } else {
                let record = TenantRecord {
                    linked: false,
                    ..record
                };
                batch.put_sealed(Column::Tenants, &tenant_key, &record)?;
                let op = Operation::TenantUnlink;
                let sequence =
                    appliance
                        .audit()
                        .stage_about(&mut batch, op, &caller, Some(tenant.to_string()))?;
                (op, sequence)
            };
            batch.commit()?;
            if destroy {
                unsealed.keyring().remove(&tenant);
                store.purge_deleted(Column::Tenants)?;
                store.purge_deleted(Column::Services)?;
            }
            tracing::warn!(%caller, %tenant, operation = operation.name(), audit_sequence = sequence, "tenant unlinked");
            Ok(sequence)
        })
        .await
    }

    /// Every tenant ever linked and not destroyed, with its state.
    pub(crate) async fn tenants(&self, caller: Caller) -> Result<(Vec<TenantInfo>, u64), Error> {
        self.blocking(move |appliance, unsealed| {
            let master = unsealed.master().record_key();
            let stored: Vec<Entry<TenantRecord>> = appliance.store().scan_prefix_sealed(
                master,
                Column::Tenants,
                b"",
                records::MAX_TENANTS,
            )?;
            let mut tenants = Vec::with_capacity(stored.len());
            for entry in stored {
                let tenant = tenant_of(&entry.key)?;
                let services = service_records(appliance, unsealed, &tenant)?.len();
                let (state, reason) = if entry.value.linked {
                    unsealed
                        .keyring()
                        .describe(&tenant)
                        .unwrap_or(("opening", None))
                } else {
                    ("unlinked", None)
                };
                tenants.push(TenantInfo {
                    tenant: tenant.to_string(),
                    l1_label: entry.value.l1_label,
                    state,
                    reason,
                    services: u32::try_from(services).unwrap_or(u32::MAX),
                });
            }
            let sequence =
                appliance.audit_operation(unsealed, Operation::TenantList, &caller, None)?;
            Ok((tenants, sequence))
        })
        .await
    }

    /// Creates service `service` of `tenant` with a fresh L3 (`rotate == false`), or adds a
    /// version to it (`rotate == true`).
    pub(crate) async fn new_service_key(
        &self,
        caller: Caller,
        tenant: TenantId,
        service: ServiceName,
        rotate: bool,
    ) -> Result<(ServiceInfo, u64), Error> {
        let _admin = self.admin.lock().await;
        self.blocking(move |appliance, unsealed| {
            let master = unsealed.master().record_key();
            let key = records::service_key(&tenant, &service);
            let stored: Option<ServiceRecord> =
                appliance.store().get_sealed(master, Column::Services, &key)?;
            let mut record = match (stored, rotate) {
                (Some(_), false) => {
                    return Err(Error::ServiceExists {
                        tenant,
                        service: service.to_string(),
                    });
                }
                (None, true) => {
                    return Err(Error::ServiceNotFound {
                        tenant,
                        service: service.to_string(),
                    });
                }
                (Some(record), true) => record,
                (None, false) => {
                    let count = service_records(appliance, unsealed, &tenant)?.len();
                    if count >= records::MAX_SERVICES {
                        return Err(Error::OutOfRange {
                            field: "services of a tenant",
                            value: count as u64,
                            max: records::MAX_SERVICES as u64,
                        });
                    }
                    ServiceRecord {
                        versions: Vec::new(),
                    }
                }
            };
            if record.versions.len() >= records::MAX_VERSIONS {
                return Err(Error::OutOfRange {
                    field: "versions of a service key",
                    value: record.versions.len() as u64,
                    max: records::MAX_VERSIONS as u64,
                });
            }
            // Bounded by MAX_VERSIONS above.
            let version = u32::try_from(record.versions.len() + 1).unwrap_or(u32::MAX);
            let new_l3 = l3::generate()?;
            let sealed = unsealed.keyring().with_tenant(&tenant, |keys| {
                l3::seal(&keys.l2, &tenant, &service, version, &new_l3)
            })?;
            record.versions.push(sealed);
            let mut batch = appliance.store().batch(master);
            batch.put_sealed(Column::Services, &key, &record)?;
            let operation = if rotate {
                Operation::ServiceRotate
            } else {
                Operation::ServiceCreate
            };
            let audit_sequence = appliance.audit().stage_about(
                &mut batch,
                operation,
                &caller,
                Some(format!("{tenant}/{service} v{version}")),
            )?;
            batch.commit()?;
            unsealed.keyring().add_version(&tenant, &service, new_l3);
            tracing::warn!(%caller, %tenant, %service, version, audit_sequence, operation = operation.name(), "service key stored");
            let info = service_info(&tenant, &service, version);
            Ok((info, audit_sequence))
        })
        .await
    }

    /// The services of `tenant`.
    pub(crate) async fn services(
        &self,
        caller: Caller,
        tenant: TenantId,
    ) -> Result<(Vec<ServiceInfo>, u64), Error> {
        self.blocking(move |appliance, unsealed| {
            if read_tenant(appliance, unsealed, &tenant)?.is_none() {
                return Err(Error::TenantNotFound(tenant));
            }
            let services = service_records(appliance, unsealed, &tenant)?
                .into_iter()
                .map(|entry| {
                    let name = service_of(&tenant, &entry.key)?;
                    let version = u32::try_from(entry.value.versions.len()).unwrap_or(u32::MAX);
                    Ok(service_info(&tenant, &name, version))
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let sequence = appliance.audit_operation(
                unsealed,
                Operation::ServiceList,
                &caller,
                Some(tenant.to_string()),
            )?;
            Ok((services, sequence))
        })
        .await
    }

    /// Re-opens every linked tenant after an unseal (and notes the unlinked ones), all at once, each within
    /// [`REOPEN_TIMEOUT`]. A tenant that fails is left unavailable with the reason; this
    /// returns when every tenant is active or unavailable.
    pub(crate) async fn reopen(&self) -> Result<(), Error> {
        let tenants = self
            .blocking(|appliance, unsealed| {
                let master = unsealed.master().record_key();
                let stored: Vec<Entry<TenantRecord>> = appliance.store().scan_prefix_sealed(
                    master,
                    Column::Tenants,
                    b"",
                    records::MAX_TENANTS,
                )?;
                let mut linked = Vec::new();
                for entry in stored {
                    let tenant = tenant_of(&entry.key)?;
                    if entry.value.linked {
                        unsealed.keyring().set(&tenant, TenantState::Opening);
                        linked.push((tenant, entry.value));
                    } else {
                        // Known, so that its requests say why they fail.
                        unsealed.keyring().set(&tenant, TenantState::Unlinked);
                    }
                }
                Ok((Arc::clone(unsealed.keyring()), linked))
            })
            .await?;
        let (keyring, tenants) = tenants;
        let mut reopening = JoinSet::new();
        for (tenant, record) in tenants {
            let appliance = Arc::clone(&self.appliance);
            let hsm = self.hsm.clone();
            let keyring = Arc::clone(&keyring);
            reopening.spawn(async move {
                let opened = tokio::time::timeout(
                    REOPEN_TIMEOUT,
                    open_tenant(appliance, hsm, &tenant, record),
                )
                .await;
                let state = match opened {
                    Ok(Ok(keys)) => {
                        tracing::info!(%tenant, "tenant re-opened");
                        TenantState::Active(keys)
                    }
                    Ok(Err(error)) => {
                        let reason = ErrorChain(&error).to_string();
                        tracing::error!(%tenant, %reason, "tenant unavailable: its L2 did not re-open");
                        TenantState::Unavailable(reason)
                    }
                    Err(_) => {
                        let reason = format!("the HSM did not re-open its L2 within {REOPEN_TIMEOUT:?}");
                        tracing::error!(%tenant, %reason, "tenant unavailable");
                        TenantState::Unavailable(reason)
                    }
                };
                keyring.set(&tenant, state);
            });
        }
        while let Some(joined) = reopening.join_next().await {
            joined.map_err(|join| Error::Internal(Bug::Task(join)))?;
        }
        Ok(())
    }

    /// Wraps L4 `key`, whose identifier is `id`, under the current version of `l3`.
    pub(crate) fn wrap(
        unsealed: &Unsealed,
        l3: &L3Id,
        id: &[u8],
        key: &[u8],
    ) -> Result<Vec<u8>, Error> {
        unsealed.keyring().with_tenant(&l3.tenant, |keys| {
            let (version, l3_key) = service(keys, l3)?.current().ok_or_else(|| not_found(l3))?;
            wrapped_key::wrap(l3_key, version, id, key)
        })
    }

    /// Unwraps the L4 whose identifier is `id` from `blob`, under the version of `l3` the blob
    /// names.
    pub(crate) fn unwrap(
        unsealed: &Unsealed,
        l3: &L3Id,
        id: &[u8],
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let version = wrapped_key::version(blob)?;
        unsealed.keyring().with_tenant(&l3.tenant, |keys| {
            let l3_key = service(keys, l3)?
                .version(version)
                .ok_or(Error::UnauthenticWrappedKey)?;
            wrapped_key::unwrap(l3_key, id, blob)
        })
    }

    /// Runs `f` on the blocking pool with the unsealed state: the store syncs to disk.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Appliance, &Unsealed) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let appliance = Arc::clone(&self.appliance);
        tokio::task::spawn_blocking(move || {
            appliance.with_unsealed(|unsealed| f(&appliance, unsealed))
        })
        .await
        .map_err(|join| Error::Internal(Bug::Task(join)))?
    }
}

/// Unwraps `tenant`'s L2 in the HSM and opens its L3s.
async fn open_tenant(
    appliance: Arc<Appliance>,
    hsm: Option<Hsm>,
    tenant: &TenantId,
    record: TenantRecord,
) -> Result<TenantKeys, Error> {
    let hsm = hsm.ok_or(Error::HsmNotConfigured)?;
    let l1 = L1Ref::label(record.l1_label).map_err(Error::InvalidName)?;
    let wrapped = WrappedL2::from_bytes(&record.wrapped_l2)
        .map_err(|_| tampered(Column::Tenants, records::tenant_key(tenant)))?;
    let l2 = hsm
        .unwrap_l2(&l1, tenant, &wrapped)
        .await
        .map_err(Error::Hsm)?;
    let tenant = tenant.clone();
    tokio::task::spawn_blocking(move || {
        appliance.with_unsealed(|unsealed| {
            let services = open_services(&appliance, unsealed, &tenant, &l2)?;
            Ok(TenantKeys { l2, services })
        })
    })
    .await
    .map_err(|join| Error::Internal(Bug::Task(join)))?
}

/// Opens every version of every service key of `tenant` under `l2`.
fn open_services(
    appliance: &Appliance,
    unsealed: &Unsealed,
    tenant: &TenantId,
    l2: &SecretKey,
) -> Result<HashMap<ServiceName, ServiceKeys>, Error> {
    let mut services = HashMap::new();
    for entry in service_records(appliance, unsealed, tenant)? {
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

fn read_tenant(
    appliance: &Appliance,
    unsealed: &Unsealed,
    tenant: &TenantId,
) -> Result<Option<TenantRecord>, Error> {
    appliance.store().get_sealed(
        unsealed.master().record_key(),
        Column::Tenants,
        &records::tenant_key(tenant),
    )
}

fn service_records(
    appliance: &Appliance,
    unsealed: &Unsealed,
    tenant: &TenantId,
) -> Result<Vec<Entry<ServiceRecord>>, Error> {
    appliance.store().scan_prefix_sealed(
        unsealed.master().record_key(),
        Column::Services,
        &records::services_prefix(tenant),
        records::MAX_SERVICES,
    )
}

fn service<'k>(keys: &'k TenantKeys, l3: &L3Id) -> Result<&'k ServiceKeys, Error> {
    keys.services.get(&l3.service).ok_or_else(|| not_found(l3))
}

fn not_found(l3: &L3Id) -> Error {
    Error::ServiceNotFound {
        tenant: l3.tenant.clone(),
        service: l3.service.to_string(),
    }
}

fn service_info(tenant: &TenantId, service: &ServiceName, version: u32) -> ServiceInfo {
    ServiceInfo {
        tenant: tenant.to_string(),
        service: service.to_string(),
        unique_identifier: L3Id {
            tenant: tenant.clone(),
            service: service.clone(),
        }
        .to_string(),
        current_version: version,
    }
}

/// The tenant a record key names. A key that names none was not written by the core.
fn tenant_of(key: &[u8]) -> Result<TenantId, Error> {
    std::str::from_utf8(key)
        .ok()
        .and_then(|id| TenantId::new(id).ok())
        .ok_or_else(|| tampered(Column::Tenants, key.to_vec()))
}

/// The service a record key of `tenant` names.
fn service_of(tenant: &TenantId, key: &[u8]) -> Result<ServiceName, Error> {
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
