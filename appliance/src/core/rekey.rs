//! Rekey: new shares for the same master key, in two steps so that no crash and no lost share
//! file can leave an installation that nothing opens.
//!
//! 1. [`Core::rekey`]: a quorum of the shares in force authorizes it; the new shares are made
//!    (on the PKCS#11 seal: a new recovery key, and the master key sealed again for its key
//!    check) and their install record is stored *beside* the one in force, at
//!    [`installation::PENDING_RECORD_KEY`]. The shares in force keep working, across restarts.
//! 2. [`Core::confirm_rekey`]: a quorum of the new shares proves they reached their custodians;
//!    one atomic write puts their record in force and removes the pending one. From then on
//!    the old shares are refused (another key set).
//!
//! A kill at any point leaves either record in force, whole, and the operator is told which:
//! `status` shows the key set in force. Both steps need the core unsealed: the records are
//! tagged under the master key.
//!
//! A rekey may also move the installation to the other seal (seal migration): Shamir to
//! PKCS#11 needs the seal HSM configured; PKCS#11 to Shamir is done while the seal HSM is still
//! configured, and the confirmation with K new shares proves they can unseal before they are
//! the only way in. The master key, and so every record, stays as it is.

use std::sync::Arc;

use super::ceremony::{InitReport, InstallationInfo, info};
use super::{Core, blocking};
use crate::audit::Operation;
use crate::caller::Caller;
use crate::error::Error;
use crate::installation::{self, Installation, SealKind, SealRecord, StoredInstallation};
use crate::master_key::MasterKey;
use crate::seal::Unsealed;
use crate::secret::{SecretKey, WhenIdle};
use crate::store::Column;

impl Core {
    /// Makes `count` new shares, any `threshold` of which will unseal (or, on the PKCS#11
    /// seal, recover), authorized by `current`, a quorum of the shares in force. `to` moves
    /// the installation to another seal (`None`: it stays on its own). They are not in force
    /// until [`Core::confirm_rekey`]. Audited as `rekey-start`.
    pub(crate) async fn rekey(
        self: &Arc<Self>,
        caller: Caller,
        current: Vec<shamir::Share>,
        new: (u8, u8),
        to: Option<SealKind>,
    ) -> Result<InitReport, Error> {
        if !self.leads() {
            return Err(Error::Following);
        }
        let (threshold, count) = new;
        let core = Arc::clone(self);
        let (master, installed) = blocking(move || {
            core.with_unsealed(|unsealed| {
                let installation = unsealed.installation();
                check_quorum(&current, installation.key_check())?;
                let installed = installation.unverified().seal().kind();
                Ok::<_, Error>((unsealed.master().duplicate()?, installed))
            })
        })
        .await?;
        let kind = to.unwrap_or(installed);
        let (split, seal) = self.new_shares(&master, threshold, count, kind).await?;
        let core = Arc::clone(self);
        blocking(move || core.stage_rekey(&caller, &master, &split, count, seal)).await
    }

    /// Puts the new shares in force, once `new` (a quorum of them) proves they were received.
    /// Audited as `rekey`; returns the installation in force and the audit record.
    pub(crate) fn confirm_rekey(
        &self,
        caller: &Caller,
        new: &[shamir::Share],
    ) -> Result<(InstallationInfo, u64), Error> {
        if !self.leads() {
            return Err(Error::Following);
        }
        self.with_unsealed_mut(|unsealed| self.commit_rekey(unsealed, caller, new))
    }

    /// Stores the install record of `split` as pending, with its audit record.
    fn stage_rekey(
        &self,
        caller: &Caller,
        master: &MasterKey,
        split: &shamir::Split,
        count: u8,
        seal: SealRecord,
    ) -> Result<InitReport, Error> {
        self.with_unsealed(|unsealed| {
            let stored = Installation::new(&split.key_check, count, seal).encode(master)?;
            let pending = StoredInstallation::decode(&stored)?;
            let mut batch = self.store.batch(unsealed.records());
            batch.put_plain(Column::Meta, installation::PENDING_RECORD_KEY, &stored)?;
            self.audit.stage(&mut batch, Operation::RekeyStart, caller)?;
            let audit_sequence = batch.commit_audited()?;
            let report = InitReport::new(split, &pending);
            tracing::warn!(
                %caller,
                key_set = %report.installation.key_set,
                threshold = split.key_check.threshold(),
                shares = count,
                audit_sequence,
                "rekey started: new shares handed out; the shares in force work until they are confirmed"
            );
            Ok(report)
        })
    }

    /// Checks `new` against the pending record and puts it in force, in one atomic write.
    fn commit_rekey(
        &self,
        unsealed: &mut Unsealed,
        caller: &Caller,
        new: &[shamir::Share],
    ) -> Result<(InstallationInfo, u64), Error> {
        let stored = self
            .store
            .get_plain(Column::Meta, installation::PENDING_RECORD_KEY)?
            .ok_or(Error::NoRekeyPending)?;
        let pending = StoredInstallation::decode(&stored)?;
        pending.authenticate(unsealed.master())?;
        // Started under a seal HSM that is no longer configured: in force, nothing would unseal.
        if pending.unverified().seal().kind() == SealKind::Pkcs11 && self.seal.is_none() {
            return Err(Error::SealNotConfigured);
        }
        check_quorum(new, pending.key_check())?;
        let mut batch = self.store.batch(unsealed.records());
        batch.put_plain(Column::Meta, installation::RECORD_KEY, &stored)?;
        batch.delete(Column::Meta, installation::PENDING_RECORD_KEY)?;
        self.audit.stage(&mut batch, Operation::Rekey, caller)?;
        let audit_sequence = batch.commit_audited()?;
        let confirmed = info(&pending);
        unsealed.reinstall(pending)?;
        tracing::warn!(
            %caller,
            key_set = %confirmed.key_set,
            audit_sequence,
            "rekey confirmed: only the new shares work from now on"
        );
        Ok((confirmed, audit_sequence))
    }
}

/// Checks that `shares` rebuild the key `key_check` verifies: a quorum of that key set.
fn check_quorum(shares: &[shamir::Share], key_check: &shamir::KeyCheck) -> Result<(), Error> {
    SecretKey::from_fn(WhenIdle::NoAccess, |key| {
        shamir::combine_into(shares, key_check, key).map_err(Error::from)
    })
    .map(drop)
}
