//! Tenants and their service keys: link, relink, unlink (the kill switch), destroy, services,
//! and the re-open of every linked tenant after an unseal.
//!
//! - **Link** generates an L2 in guarded memory, has the HSM wrap it under the tenant's L1
//!   (found by label), checks the HSM unwraps it again, stores the wrapped L2 and marks the
//!   tenant active. Linking an unlinked tenant again with the same L1 is a **relink**: the
//!   stored L2 is unwrapped, and every L3 and L4 made before opens again.
//! - **Re-open** (after an unseal) unwraps every linked tenant's L2 through the HSM, all at
//!   once, each bounded in time ([`REOPEN_TIMEOUT`]); a tenant whose L1 the HSM refuses stays
//!   unavailable with the reason, and the others are not held up.
//! - **Unlink** is the kill switch: the tenant's L2 and L3s are wiped from memory first, without
//!   waiting for any administrative operation in progress, and every wrap and unwrap for it
//!   fails from then on. The wrapped L2 stays on disk for a relink, unless the operator
//!   **destroys** the tenant: its records are deleted and compacted away, and its L4s can never
//!   be unwrapped again.
//! - **Services**: `create` draws a random L3, `rotate` adds a version used for new wraps; the
//!   versions before it stay decrypt-only until an operator retires them
//!   (`core/service_versions.rs`).
//!
//! Keys go into the keyring only by
//! [`Keyring::install`](crate::hierarchy::Keyring::install) against the ticket taken when the
//! slow work began, so neither a link nor a re-open can bring back a tenant unlinked meanwhile.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::{Core, GatewayRewrap, blocking};
use crate::audit::Operation;
use crate::caller::Caller;
use crate::error::{Bug, Error, ErrorChain};
use crate::hierarchy::records::{self, ServiceRecord, TenantRecord};
use crate::hierarchy::{
    self, Origin, ServiceName, TenantKeys, TenantState, Ticket, VersionState, l3,
};
use crate::hsm::{L1Ref, TenantId, WrappedL2};
use crate::record_keys::RecordKeys;
use crate::registry;
use crate::seal::Unsealed;
use crate::secret::{SecretKey, WhenIdle};
use crate::store::Column;
use crate::store::key::tenant_prefix;

/// The longest one tenant's re-open may take after an unseal: the HSM unwrap (itself bounded
/// by `call_timeout_ms`, retried once) and opening its L3s.
pub(crate) const REOPEN_TIMEOUT: Duration = Duration::from_secs(30);

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
    pub(crate) l2_version: u32,
    /// Older L2 versions an L2 rotation still holds.
    pub(crate) archived_l2_versions: Vec<u32>,
}

/// A service key, as listed.
#[derive(Debug)]
pub(crate) struct ServiceInfo {
    pub(crate) tenant: String,
    pub(crate) service: String,
    /// Its KMIP Unique Identifier, `l3/<tenant>/<service>`.
    pub(crate) unique_identifier: String,
    /// The version new wraps use.
    pub(crate) current_version: u32,
    /// Every version, oldest first, with its state.
    pub(crate) versions: Vec<(u32, VersionState)>,
    /// Each gateway's last re-wrap report on it.
    pub(crate) rewrap: Vec<GatewayRewrap>,
}

/// A tenant's L2 as the HSM unwrapped it, where it came from, and the registry keys of the
/// older versions an L2 rotation still holds.
#[derive(Debug)]
pub(super) struct OpenedL2 {
    pub(super) l2: SecretKey,
    pub(super) origin: Origin,
    older: Vec<(u32, SecretKey)>,
}

impl OpenedL2 {
    /// A new L2, with nothing older.
    pub(super) fn new(l2: SecretKey, origin: Origin) -> Self {
        Self {
            l2,
            origin,
            older: Vec::new(),
        }
    }
}

/// A linked tenant marked opening at an unseal, to be re-opened through the HSM.
#[derive(Debug)]
pub(crate) struct Opening {
    tenant: TenantId,
    record: TenantRecord,
    ticket: Ticket,
}

impl Core {
    /// Links `tenant` to the L1 labelled `l1_label`, or relinks it.
    pub(crate) async fn link(
        self: &Arc<Self>,
        caller: Caller,
        tenant: TenantId,
        l1_label: String,
    ) -> Result<LinkReport, Error> {
        if self.hsm.is_none() {
            return Err(Error::HsmNotConfigured);
        }
        let l1 = L1Ref::label(l1_label.clone()).map_err(Error::InvalidName)?;
        let _admin = self.admin().await?;
        let (stored, ticket) = {
            let tenant = tenant.clone();
            let l1_label = l1_label.clone();
            self.unsealed(move |core, unsealed| {
                // An unlink asked through a follower goes first: the link would undo it.
                if records::unlink_asked(&core.store, record_key(unsealed), &tenant)? {
                    return Err(Error::TenantUnavailable {
                        tenant,
                        reason: "an unlink asked through a following core is being carried out; \
                                 link it again once it is"
                            .to_owned(),
                    });
                }
                let record = records::read_tenant(&core.store, record_key(unsealed), &tenant)?;
                // Another L1 is refused first, linked or not: "already linked" must mean
                // linked to this L1, which an orchestrator takes as done.
                if let Some(record) = record.as_ref().filter(|r| r.l1_label != l1_label) {
                    return Err(Error::L1Mismatch {
                        tenant,
                        stored: record.l1_label.clone(),
                    });
                }
                let keyring = unsealed.keyring();
                if record.as_ref().is_some_and(|r| r.linked) && keyring.is_active(&tenant) {
                    return Err(Error::TenantLinked(tenant));
                }
                Ok((record, keyring.ticket(&tenant)))
            })
            .await?
        };
        let (opened, record, relinked) = match stored {
            Some(record) => (self.open_l2(&tenant, &record).await?, record, true),
            None => {
                let l2 = SecretKey::random(WhenIdle::NoAccess)?;
                let wrapped = self.wrap_checked(&l1, &tenant, &l2).await?;
                let record = TenantRecord::linked(l1_label.clone(), &wrapped);
                let origin = Origin {
                    l1,
                    version: record.l2_version,
                    wrapped,
                };
                (OpenedL2::new(l2, origin), record, false)
            }
        };
        let archived = !record.archived_l2.is_empty();
        let linked = self.unsealed(move |core, unsealed| {
            let keys = core.open_keys(unsealed, &tenant, opened)?;
            let record = TenantRecord {
                linked: true,
                ..record
            };
            let mut batch = core.store.batch(record_key(unsealed));
            batch.put_sealed(Column::Tenants, &records::tenant_key(&tenant), &record)?;
            core.audit.stage_about(
                &mut batch,
                Operation::TenantLink,
                &caller,
                Some(format!("{tenant} l1={l1_label}")),
            )?;
            let audit_sequence = batch.commit_audited()?;
            if unsealed
                .keyring()
                .install(&tenant, ticket, TenantState::Active(keys))
                .is_err()
            {
                // An unlink (or an L1 found gone) landed while the HSM answered: it wins, and
                // its own write follows this one.
                tracing::warn!(%caller, %tenant, "tenant changed during its link; the link's keys were dropped");
                return Err(Error::TenantUnavailable {
                    tenant,
                    reason: "it was unlinked while the link was in progress".to_owned(),
                });
            }
            tracing::warn!(%caller, %tenant, l1 = %l1_label, relinked, audit_sequence, "tenant linked");
            Ok((
                tenant,
                LinkReport {
                    relinked,
                    audit_sequence,
                },
            ))
        })
        .await;
        let (tenant, report) = linked?;
        if archived {
            self.resume_l2_retirement(tenant);
        }
        Ok(report)
    }

    /// Unlinks `tenant`: its keys are wiped from memory first, before any lock but the
    /// keyring's is taken. With `destroy`, its wrapped keys are deleted for good.
    pub(crate) async fn unlink(
        self: &Arc<Self>,
        caller: Caller,
        tenant: TenantId,
        destroy: bool,
    ) -> Result<u64, Error> {
        // A follower destroys nothing: that is the leader's.
        if destroy && !self.leads() {
            return Err(Error::Following);
        }
        // The kill switch: from here on no wrap or unwrap for the tenant succeeds, whatever
        // happens to the writes below, and no link or re-open in progress can undo it.
        {
            let tenant = tenant.clone();
            let caller = caller.clone();
            self.unsealed(move |_, unsealed| {
                let keyring = unsealed.keyring();
                if keyring.describe(&tenant).is_none() {
                    return Err(Error::TenantNotFound(tenant));
                }
                keyring.revoke(&tenant, TenantState::Unlinked);
                tracing::warn!(%caller, %tenant, "tenant keys zeroized");
                Ok(())
            })
            .await?;
        }
        if !self.leads() {
            return self.ask_unlink(caller, tenant).await;
        }
        let _admin = self.admin().await?;
        self.unsealed(move |core, unsealed| {
            let key = record_key(unsealed);
            let record = records::read_tenant(&core.store, key, &tenant)?
                .ok_or_else(|| Error::TenantNotFound(tenant.clone()))?;
            let mut batch = core.store.batch(key);
            records::settle_unlink(&mut batch, &tenant)?;
            let tenant_key = records::tenant_key(&tenant);
            let operation = if destroy {
                batch.delete(Column::Tenants, &tenant_key)?;
                for service in records::service_records(&core.store, key, &tenant)? {
                    batch.delete(Column::Services, &service.key)?;
                }
                registry::forget(&mut batch, &tenant)?;
                batch.delete_prefix(Column::Shredded, &tenant_prefix(tenant.as_str()))?;
                Operation::TenantDestroy
            } else {
                let record = TenantRecord {
                    linked: false,
                    ..record
                };
                batch.put_sealed(Column::Tenants, &tenant_key, &record)?;
                Operation::TenantUnlink
            };
            core.audit
                .stage_about(&mut batch, operation, &caller, Some(tenant.to_string()))?;
            let sequence = batch.commit_audited()?;
            if destroy {
                unsealed.keyring().remove(&tenant);
                for column in [
                    Column::Tenants,
                    Column::Services,
                    Column::Registry,
                    Column::Objects,
                    Column::Shredded,
                    Column::Unlinks,
                ] {
                    core.store.purge_deleted(column)?;
                }
            }
            tracing::warn!(%caller, %tenant, operation = operation.name(), audit_sequence = sequence, "tenant unlinked");
            Ok(sequence)
        })
        .await
    }

    /// The durable half of an unlink through a core that follows: the unlink is asked on
    /// record, audited, and every core takes the tenant as unlinked from then on; the leading
    /// core, told by the change feed, carries it out.
    async fn ask_unlink(self: &Arc<Self>, caller: Caller, tenant: TenantId) -> Result<u64, Error> {
        self.unsealed(move |core, unsealed| {
            let key = record_key(unsealed);
            records::read_tenant(&core.store, key, &tenant)?
                .ok_or_else(|| Error::TenantNotFound(tenant.clone()))?;
            let mut batch = core.store.batch(key);
            records::ask_unlink(&mut batch, &tenant, caller.to_string())?;
            core.audit.stage_about(
                &mut batch,
                Operation::TenantUnlink,
                &caller,
                Some(tenant.to_string()),
            )?;
            let sequence = batch.commit_audited()?;
            tracing::warn!(%caller, %tenant, audit_sequence = sequence, "tenant unlinked through this following core; the leading core carries it out");
            Ok(sequence)
        })
        .await
    }

    /// Every tenant ever linked and not destroyed, with its state.
    pub(crate) async fn tenants(
        self: &Arc<Self>,
        caller: Caller,
    ) -> Result<(Vec<TenantInfo>, u64), Error> {
        self.unsealed(move |core, unsealed| {
            let tenants = core.tenant_infos(unsealed)?;
            let sequence = core.audit_operation(unsealed, Operation::TenantList, &caller, None)?;
            Ok((tenants, sequence))
        })
        .await
    }

    /// Creates service `service` of `tenant` with a fresh L3 (`rotate == false`), or adds a
    /// version to it (`rotate == true`).
    pub(crate) async fn new_service_key(
        self: &Arc<Self>,
        caller: Caller,
        tenant: TenantId,
        service: ServiceName,
        rotate: bool,
    ) -> Result<(ServiceInfo, u64), Error> {
        let _admin = self.admin().await?;
        self.unsealed(move |core, unsealed| {
            let key = record_key(unsealed);
            let mut record = next_versions(core, key, &tenant, &service, rotate)?;
            let version = record.next_version();
            let new_l3 = l3::generate()?;
            let sealed = unsealed.keyring().with_tenant(&tenant, |keys| {
                l3::seal(&keys.l2, &tenant, &service, version, &new_l3)
            })?;
            record.push(sealed);
            let mut batch = core.store.batch(key);
            batch.put_sealed(
                Column::Services,
                &records::service_key(&tenant, &service),
                &record,
            )?;
            let operation = if rotate {
                Operation::ServiceRotate
            } else {
                Operation::ServiceCreate
            };
            core.audit.stage_about(
                &mut batch,
                operation,
                &caller,
                Some(format!("{tenant}/{service} v{version}")),
            )?;
            let audit_sequence = batch.commit_audited()?;
            unsealed.keyring().add_version(&tenant, &service, new_l3);
            tracing::warn!(%caller, %tenant, %service, version, audit_sequence, operation = operation.name(), "service key stored");
            Ok((core.service_info(&tenant, &service, &record), audit_sequence))
        })
        .await
    }

    /// The services of `tenant`.
    pub(crate) async fn services(
        self: &Arc<Self>,
        caller: Caller,
        tenant: TenantId,
    ) -> Result<(Vec<ServiceInfo>, u64), Error> {
        self.unsealed(move |core, unsealed| {
            let key = record_key(unsealed);
            if records::read_tenant(&core.store, key, &tenant)?.is_none() {
                return Err(Error::TenantNotFound(tenant));
            }
            let services = core.service_infos(key, &tenant)?;
            let sequence = core.audit_operation(
                unsealed,
                Operation::ServiceList,
                &caller,
                Some(tenant.to_string()),
            )?;
            Ok((services, sequence))
        })
        .await
    }

    /// Puts every tenant on record into the keyring of a core being unsealed: linked ones
    /// *opening*, with the ticket their re-open installs against, the others *unlinked* (known,
    /// so that their requests say why they fail). Runs inside the unseal's transition.
    pub(super) fn mark_tenants(&self, unsealed: &Unsealed) -> Result<Vec<Opening>, Error> {
        let keyring = unsealed.keyring();
        let mut opening = Vec::new();
        for (tenant, record) in records::tenants(&self.store, record_key(unsealed))? {
            if record.linked {
                let ticket = keyring.revoke(&tenant, TenantState::Opening);
                opening.push(Opening {
                    tenant,
                    record,
                    ticket,
                });
            } else {
                keyring.revoke(&tenant, TenantState::Unlinked);
            }
        }
        Ok(opening)
    }

    /// Re-opens the tenants [`mark_tenants`](Self::mark_tenants) marked, all at once, each
    /// within [`REOPEN_TIMEOUT`]. A tenant that fails is left unavailable with the reason; one
    /// that changed meanwhile (unlinked, relinked) keeps its new state. Returns when every
    /// re-open has ended.
    pub(super) async fn reopen(self: &Arc<Self>, tenants: Vec<Opening>) {
        let mut reopening = JoinSet::new();
        for opening in tenants {
            let core = Arc::clone(self);
            reopening.spawn(async move {
                let Opening {
                    tenant,
                    record,
                    ticket,
                } = opening;
                let archived = !record.archived_l2.is_empty();
                let opened =
                    tokio::time::timeout(REOPEN_TIMEOUT, core.open_tenant(&tenant, record)).await;
                let state = match opened {
                    Ok(Ok(keys)) => TenantState::Active(keys),
                    Ok(Err(error)) => {
                        let reason = ErrorChain(&error).to_string();
                        tracing::error!(%tenant, %reason, "tenant unavailable: its L2 did not re-open");
                        TenantState::Unavailable(reason)
                    }
                    Err(_) => {
                        let reason =
                            format!("the HSM did not re-open its L2 within {REOPEN_TIMEOUT:?}");
                        tracing::error!(%tenant, %reason, "tenant unavailable");
                        TenantState::Unavailable(reason)
                    }
                };
                let active = matches!(state, TenantState::Active(_));
                match core.install(&tenant, ticket, state) {
                    Ok(()) if active => {
                        tracing::info!(%tenant, "tenant re-opened");
                        if archived {
                            core.resume_l2_retirement(tenant);
                        }
                    }
                    Ok(()) => {}
                    Err(error) => tracing::warn!(%tenant, error = %ErrorChain(&error), "tenant changed during its re-open; the re-open's result was dropped"),
                }
            });
        }
        while let Some(joined) = reopening.join_next().await {
            if let Err(join) = joined {
                tracing::error!(error = %join, "a tenant re-open task failed");
            }
        }
    }

    /// Unwraps `tenant`'s L2 in the HSM and opens its L3s.
    pub(super) async fn open_tenant(
        self: &Arc<Self>,
        tenant: &TenantId,
        record: TenantRecord,
    ) -> Result<TenantKeys, Error> {
        let opened = self.open_l2(tenant, &record).await?;
        let tenant = tenant.clone();
        self.unsealed(move |core, unsealed| core.open_keys(unsealed, &tenant, opened))
            .await
    }

    /// Has the HSM wrap `l2` under `l1` for `tenant` and open the result again: the L1 is
    /// proven usable for unwrap (`CKA_DECRYPT` allowed) before any key depends on it.
    pub(super) async fn wrap_checked(
        &self,
        l1: &L1Ref,
        tenant: &TenantId,
        l2: &SecretKey,
    ) -> Result<WrappedL2, Error> {
        let hsm = self.hsm.as_ref().ok_or(Error::HsmNotConfigured)?;
        let wrapped = hsm.wrap_l2(l1, tenant, l2).await.map_err(Error::Hsm)?;
        let back = hsm
            .unwrap_l2(l1, tenant, &wrapped)
            .await
            .map_err(Error::Hsm)?;
        if !back.same_as(l2) {
            return Err(Error::Internal(Bug::HsmRoundTrip));
        }
        Ok(wrapped)
    }

    /// The record of the linked and active `tenant`, and the ticket of its keys in memory.
    pub(super) async fn active_record(
        self: &Arc<Self>,
        tenant: &TenantId,
    ) -> Result<(TenantRecord, Ticket), Error> {
        let tenant = tenant.clone();
        self.unsealed(move |core, unsealed| {
            let record = records::read_tenant(&core.store, record_key(unsealed), &tenant)?
                .filter(|record| record.linked)
                .ok_or_else(|| Error::TenantNotFound(tenant.clone()))?;
            let keyring = unsealed.keyring();
            keyring.with_tenant(&tenant, |_| Ok::<_, Error>(()))?;
            Ok((record, keyring.ticket(&tenant)))
        })
        .await
    }

    /// Unwraps in the HSM the L2 of `tenant`'s `record`, and the archived versions an L2
    /// rotation still holds, which give their registry keys and are wiped.
    async fn open_l2(&self, tenant: &TenantId, record: &TenantRecord) -> Result<OpenedL2, Error> {
        let hsm = self.hsm.as_ref().ok_or(Error::HsmNotConfigured)?;
        let l1 = L1Ref::label(record.l1_label.clone()).map_err(Error::InvalidName)?;
        let wrapped = records::wrapped_l2(tenant, record)?;
        let l2 = hsm
            .unwrap_l2(&l1, tenant, &wrapped)
            .await
            .map_err(Error::Hsm)?;
        let mut older = Vec::with_capacity(record.archived_l2.len());
        for archived in &record.archived_l2 {
            let wrapped = records::archived_l2(tenant, archived)?;
            let l2 = hsm
                .unwrap_l2(&l1, tenant, &wrapped)
                .await
                .map_err(Error::Hsm)?;
            older.push((
                archived.version,
                hierarchy::derive_registry_key(tenant, &l2)?,
            ));
        }
        let origin = Origin {
            l1,
            version: record.l2_version,
            wrapped,
        };
        Ok(OpenedL2 { l2, origin, older })
    }

    /// `tenant`'s keys under its `opened` L2: its service keys opened, its registry keys
    /// derived, and its registry objects still sealed the old way (under the master key) moved
    /// under them.
    fn open_keys(
        &self,
        unsealed: &Unsealed,
        tenant: &TenantId,
        opened: OpenedL2,
    ) -> Result<TenantKeys, Error> {
        let key = record_key(unsealed);
        let OpenedL2 { l2, origin, older } = opened;
        let services = records::open_services(&self.store, key, tenant, &l2)?;
        let keys = TenantKeys::new(tenant, l2, origin, older, services)?;
        // The leading core moves them; a follower reads them where they are moved to.
        if self.leads() {
            registry::migrate_legacy(&self.store, key, keys.registry_keys(), tenant)?;
        }
        Ok(keys)
    }

    /// Installs `state` for `tenant` in the keyring of the unsealed core, if the slot is still
    /// at `ticket`.
    pub(super) fn install(
        &self,
        tenant: &TenantId,
        ticket: Ticket,
        state: TenantState,
    ) -> Result<(), Error> {
        self.with_unsealed(|unsealed| {
            unsealed
                .keyring()
                .install(tenant, ticket, state)
                .map_err(|_| Error::TenantUnavailable {
                    tenant: tenant.clone(),
                    reason: "its state changed while the HSM answered".to_owned(),
                })
        })
    }

    /// Every tenant ever linked and not destroyed, with its state; not audited.
    pub(super) fn tenant_infos(&self, unsealed: &Unsealed) -> Result<Vec<TenantInfo>, Error> {
        let key = record_key(unsealed);
        let mut tenants = Vec::new();
        for (tenant, record) in records::tenants(&self.store, key)? {
            let services = records::service_records(&self.store, key, &tenant)?.len();
            let (state, reason) = if record.linked {
                unsealed
                    .keyring()
                    .describe(&tenant)
                    .unwrap_or(("opening", None))
            } else {
                ("unlinked", None)
            };
            tenants.push(TenantInfo {
                tenant: tenant.to_string(),
                l1_label: record.l1_label,
                state,
                reason,
                services: u32::try_from(services).unwrap_or(u32::MAX),
                l2_version: record.l2_version,
                archived_l2_versions: record.archived_l2.iter().map(|a| a.version).collect(),
            });
        }
        Ok(tenants)
    }

    /// The services of `tenant`, which must exist; not audited.
    pub(super) fn service_infos(
        &self,
        key: &RecordKeys,
        tenant: &TenantId,
    ) -> Result<Vec<ServiceInfo>, Error> {
        records::service_records(&self.store, key, tenant)?
            .into_iter()
            .map(|entry| {
                let name = records::service_of(tenant, &entry.key)?;
                Ok(self.service_info(tenant, &name, &entry.value))
            })
            .collect()
    }

    /// Runs `f` on the blocking pool with the core and its unsealed state: the store syncs to
    /// disk, and the lifecycle lock may be held by a transition.
    pub(super) async fn unsealed<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Core, &Unsealed) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let core = Arc::clone(self);
        blocking(move || core.with_unsealed(|unsealed| f(&core, unsealed))).await
    }
}

/// The service record a create (`rotate == false`) or rotate will extend, checked against the
/// bounds.
fn next_versions(
    core: &Core,
    key: &RecordKeys,
    tenant: &TenantId,
    service: &ServiceName,
    rotate: bool,
) -> Result<ServiceRecord, Error> {
    let stored: Option<ServiceRecord> = core.store.get_sealed(
        key,
        Column::Services,
        &records::service_key(tenant, service),
    )?;
    let record = match (stored, rotate) {
        (Some(_), false) => {
            return Err(Error::ServiceExists {
                tenant: tenant.clone(),
                service: service.to_string(),
            });
        }
        (None, true) => {
            return Err(Error::ServiceNotFound {
                tenant: tenant.clone(),
                service: service.to_string(),
            });
        }
        (Some(record), true) => record,
        (None, false) => {
            let count = records::service_records(&core.store, key, tenant)?.len();
            if count >= records::MAX_SERVICES {
                return Err(Error::OutOfRange {
                    field: "services of a tenant",
                    value: count as u64,
                    max: records::MAX_SERVICES as u64,
                });
            }
            ServiceRecord::default()
        }
    };
    if record.len() >= records::MAX_VERSIONS {
        return Err(Error::OutOfRange {
            field: "versions of a service key",
            value: record.len() as u64,
            max: records::MAX_VERSIONS as u64,
        });
    }
    Ok(record)
}

pub(super) fn record_key(unsealed: &Unsealed) -> &RecordKeys {
    unsealed.records()
}

/// `service` of `tenant` as listed, from its record.
impl Core {
    /// What the control API shows of a service: its record, and what the gateways last
    /// reported of their re-wrap.
    pub(super) fn service_info(
        &self,
        tenant: &TenantId,
        service: &ServiceName,
        record: &ServiceRecord,
    ) -> ServiceInfo {
        let l3 = hierarchy::L3Id {
            tenant: tenant.clone(),
            service: service.clone(),
        };
        ServiceInfo {
            tenant: tenant.to_string(),
            service: service.to_string(),
            unique_identifier: l3.to_string(),
            current_version: record.next_version().saturating_sub(1),
            versions: record
                .versions()
                .map(|(version, state, _)| (version, state))
                .collect(),
            rewrap: self.rewrap_reports(&l3),
        }
    }
}
