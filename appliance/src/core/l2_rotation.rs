//! L2 rotation: a tenant gets a new root key, wrapped by the same L1, and the old one is
//! archived until nothing depends on it, then destroyed.
//!
//! What the L2 protects, and how each moves to the new version:
//!
//! - **The L3s** are sealed under it: the rotation opens every version of every service key
//!   under the old L2 and seals it under the new one, and writes them in the same durable write
//!   as the tenant record that names the new L2. The L3s themselves do not change, so no L4
//!   does, and wraps and unwraps carry on through the rotation untouched.
//! - **The registry objects** are sealed under a key derived from it, and may be many: the old
//!   L2 is archived in the tenant record (wrapped by the L1, as the current one is) and its
//!   derived key kept in memory to open them, while a re-seal moves them under the new key a
//!   step at a time ([`RESEAL_STEP`] objects, edits held off). When it ends, one write drops
//!   the archived L2 (audited as `tenant-retire-l2`) and the keyring drops its key.
//!
//! A registry operation that took the tenant's keys before the switch may still write under
//! the old version after it; the re-seal starts only once none is in flight
//! ([`RegistryKeys::replaced_in_use`]), so nothing is left under a version being retired.
//!
//! A kill at any point leaves the tenant under the old L2 (before the write) or the new one
//! with the old archived (after it): the next unseal or relink unwraps both through the HSM and
//! resumes the re-seal. A rotation, and a move to another L1, first finish the retirement of
//! an archive left over, so a tenant holds at most two L2 versions.
//!
//! [`RegistryKeys::replaced_in_use`]: crate::hierarchy::RegistryKeys::replaced_in_use

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tenants::{OpenedL2, record_key};
use super::{Core, blocking};
use crate::audit::Operation;
use crate::caller::Caller;
use crate::error::{Error, ErrorChain};
use crate::hierarchy::records::{self, ArchivedL2, TenantRecord};
use crate::hierarchy::{self, Origin, RegistryKeys};
use crate::hsm::{L1Ref, TenantId};
use crate::registry;
use crate::secret::{SecretKey, WhenIdle};
use crate::store::Column;

/// Registry objects re-sealed per step, with edits held off: a few milliseconds of work.
const RESEAL_STEP: usize = 256;
/// The pause between steps, which leaves the edit lock to the registry's requests.
const RESEAL_PAUSE: Duration = Duration::from_millis(5);
/// The longest the re-seal waits for registry operations that took the replaced keys; each is
/// bounded by the disk, so this is reached only by a stuck disk.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(60);
const IN_FLIGHT_POLL: Duration = Duration::from_millis(10);

/// What a rotation did.
#[derive(Debug)]
pub(crate) struct L2Rotation {
    /// The tenant's L2 version now.
    pub(crate) version: u32,
    pub(crate) audit_sequence: u64,
}

impl Core {
    /// Rotates the L2 of the active `tenant`. Answers once the new L2 is stored and in use;
    /// the re-seal of the tenant's registry objects and the retirement of the old L2 follow in
    /// the background.
    pub(crate) async fn rotate_l2(
        self: &Arc<Self>,
        caller: Caller,
        tenant: TenantId,
    ) -> Result<L2Rotation, Error> {
        if self.hsm.is_none() {
            return Err(Error::HsmNotConfigured);
        }
        let admin = self.admin().await?;
        self.retire_archived_l2(&tenant).await?;
        let (record, ticket) = self.active_record(&tenant).await?;
        let version = record.l2_version.checked_add(1).ok_or(Error::OutOfRange {
            field: "versions of a tenant's L2",
            value: u64::from(record.l2_version),
            max: u64::from(u32::MAX),
        })?;
        let l1 = L1Ref::label(record.l1_label.clone()).map_err(Error::InvalidName)?;
        let l2 = SecretKey::random(WhenIdle::NoAccess)?;
        let wrapped = self.wrap_checked(&l1, &tenant, &l2).await?;
        let new = OpenedL2::new(
            l2,
            Origin {
                l1,
                version,
                wrapped,
            },
        );
        let (tenant, audit_sequence) = self
            .unsealed(move |core, unsealed| {
                core.switch_l2(unsealed, &caller, tenant, record, ticket, new)
            })
            .await?;
        drop(admin);
        self.resume_l2_retirement(tenant);
        Ok(L2Rotation {
            version,
            audit_sequence,
        })
    }

    /// Stores the `new` L2 as the L2 of `tenant`, whose `record` was read at `ticket`, with
    /// every L3 sealed under it and the old L2 archived, in one durable write; then puts it in
    /// memory.
    fn switch_l2(
        &self,
        unsealed: &crate::seal::Unsealed,
        caller: &Caller,
        tenant: TenantId,
        record: TenantRecord,
        ticket: hierarchy::Ticket,
        new: OpenedL2,
    ) -> Result<(TenantId, u64), Error> {
        let OpenedL2 { l2, origin, .. } = new;
        let key = record_key(unsealed);
        let keyring = unsealed.keyring();
        let mut services = records::service_records(&self.store, key, &tenant)?;
        // Under the keyring's read lock only for the crypto: the L2 in memory is the record's
        // (the admin lock keeps every other writer of the record out).
        let older = keyring.with_tenant(&tenant, |keys| {
            records::reseal_services(&tenant, &mut services, &keys.l2, &l2)?;
            hierarchy::derive_registry_key(&tenant, &keys.l2)
        })?;
        let registry = RegistryKeys::new(
            &tenant,
            origin.version,
            &l2,
            vec![(record.l2_version, older)],
        )?;
        let previous = record.l2_version;
        let rotated = TenantRecord {
            wrapped_l2: origin.wrapped.to_bytes(),
            l2_version: origin.version,
            archived_l2: vec![ArchivedL2 {
                version: record.l2_version,
                wrapped_l2: record.wrapped_l2.clone(),
            }],
            ..record
        };
        let mut batch = self.store.batch(key);
        batch.put_sealed(Column::Tenants, &records::tenant_key(&tenant), &rotated)?;
        for service in &services {
            batch.put_sealed(Column::Services, &service.key, &service.value)?;
        }
        self.audit.stage_about(
            &mut batch,
            Operation::TenantRotateL2,
            caller,
            Some(format!("{tenant} l2=v{previous}->v{}", origin.version)),
        )?;
        let audit_sequence = batch.commit_audited()?;
        if keyring
            .switch_l2(&tenant, ticket, l2, origin, registry)
            .is_err()
        {
            // Revoked between the read and here: the revocation stands, and the record, with
            // its archive, is what a relink opens.
            tracing::warn!(%tenant, "tenant revoked during its L2 rotation; the rotation is stored");
        }
        tracing::warn!(%caller, %tenant, from = previous, to = rotated.l2_version, audit_sequence, "tenant L2 rotated");
        Ok((tenant, audit_sequence))
    }

    /// Finishes, in the background, the retirement of the archived L2 of `tenant`: after a
    /// rotation, and after the re-open of a tenant whose record holds an archive.
    pub(super) fn resume_l2_retirement(self: &Arc<Self>, tenant: TenantId) {
        let core = Arc::clone(self);
        tokio::spawn(async move {
            // A core that follows leaves it to the leading one, which re-opened the tenant too.
            let Ok(_admin) = core.admin().await else {
                return;
            };
            if let Err(error) = core.retire_archived_l2(&tenant).await {
                tracing::error!(%tenant, error = %ErrorChain(&error), "the archived L2 was not retired; its re-seal resumes at the next unseal, relink or rotation");
            }
        });
    }

    /// Re-seals every registry object of `tenant` under its current L2, then drops the
    /// archived versions from its record and from memory. Nothing to do without an archive.
    /// The caller holds the admin lock.
    pub(super) async fn retire_archived_l2(
        self: &Arc<Self>,
        tenant: &TenantId,
    ) -> Result<(), Error> {
        let archived = {
            let tenant = tenant.clone();
            self.unsealed(move |core, unsealed| {
                Ok(
                    records::read_tenant(&core.store, record_key(unsealed), &tenant)?
                        .is_some_and(|record| !record.archived_l2.is_empty()),
                )
            })
            .await?
        };
        if !archived {
            return Ok(());
        }
        self.replaced_keys_released(tenant).await?;
        let mut from = Box::<[u8]>::default();
        loop {
            let core = Arc::clone(self);
            let tenant = tenant.clone();
            let step = blocking(move || {
                core.with_unsealed(|unsealed| {
                    let (keys, _) = unsealed.keyring().registry_key(&tenant)?;
                    registry::reseal(
                        &core.store,
                        keys.as_ref(),
                        &core.registry_edits,
                        &tenant,
                        &from,
                        RESEAL_STEP,
                    )
                })
            })
            .await?;
            match step.next {
                Some(next) => from = next,
                None => break,
            }
            tokio::time::sleep(RESEAL_PAUSE).await;
        }
        let tenant = tenant.clone();
        self.unsealed(move |core, unsealed| core.drop_archived_l2(unsealed, &tenant))
            .await
    }

    /// Waits until no registry operation of `tenant` holds the keys the last rotation
    /// replaced.
    async fn replaced_keys_released(self: &Arc<Self>, tenant: &TenantId) -> Result<(), Error> {
        let deadline = Instant::now() + IN_FLIGHT_WAIT;
        loop {
            let in_use = self.with_unsealed(|unsealed| {
                let (keys, _) = unsealed.keyring().registry_key(tenant)?;
                Ok::<_, Error>(keys.replaced_in_use())
            })?;
            if !in_use {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::TenantUnavailable {
                    tenant: tenant.clone(),
                    reason: format!(
                        "registry requests under its old L2 were still running after {IN_FLIGHT_WAIT:?}"
                    ),
                });
            }
            tokio::time::sleep(IN_FLIGHT_POLL).await;
        }
    }

    /// Drops the archived L2 versions of `tenant`, whose objects are all sealed under its
    /// current one: one durable write, audited by the core, then the keys in memory.
    fn drop_archived_l2(
        &self,
        unsealed: &crate::seal::Unsealed,
        tenant: &TenantId,
    ) -> Result<(), Error> {
        let key = record_key(unsealed);
        let mut record = records::read_tenant(&self.store, key, tenant)?
            .ok_or_else(|| Error::TenantNotFound(tenant.clone()))?;
        let retired: Vec<String> = record
            .archived_l2
            .iter()
            .map(|archived| format!("v{}", archived.version))
            .collect();
        record.archived_l2.clear();
        let mut batch = self.store.batch(key);
        batch.put_sealed(Column::Tenants, &records::tenant_key(tenant), &record)?;
        self.audit.stage_about(
            &mut batch,
            Operation::TenantRetireL2,
            &Caller::Core,
            Some(format!("{tenant} l2={}", retired.join(","))),
        )?;
        let audit_sequence = batch.commit_audited()?;
        unsealed
            .keyring()
            .retire_older_registry_keys(tenant, record.l2_version)?;
        tracing::warn!(%tenant, retired = %retired.join(","), audit_sequence, "archived L2 destroyed: every registry object is sealed under the current L2");
        Ok(())
    }
}
