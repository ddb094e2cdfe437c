//! The unseal ceremony and the lifecycle around it: init, status, unseal (and the re-open of
//! every linked tenant that follows it), reset, seal, expiry and the zeroization at shutdown.
//!
//! An unseal that reaches the threshold does, under the lifecycle's write lock, everything that
//! must be true the moment the core reads as unsealed: the unseal is audited, and every tenant
//! on record is in the keyring, linked ones as *opening* (so a request for one says it is being
//! re-opened, never "not linked") and unlinked ones as *unlinked*. Only then does the HSM
//! re-open the linked ones, outside every lock (see [`Core::reopen`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use zeroize::Zeroizing;

use super::rotation::MasterKeyInfo;
use super::tenants::Opening;
use super::{Core, blocking};
use crate::audit::{self, AuditLog, AuditRecord, Filter, Operation, Verification};
use crate::backup;
use crate::caller::Caller;
use crate::error::{Bug, Error, ErrorChain};
use crate::hsm::TenantId;
use crate::installation::{self, Installation, SealKind, SealRecord, StoredInstallation};
use crate::master_key::MasterKey;
use crate::record_keys::RecordKeys;
use crate::seal::{AddShare, Lifecycle, Progress, Sealed, State, Unsealed};
use crate::secret::{SecretKey, WhenIdle};
use crate::store::Column;

/// What `status` reports.
#[derive(Debug)]
pub(crate) struct StatusReport {
    pub(crate) state: State,
    pub(crate) progress: Option<Progress>,
    pub(crate) installation: Option<InstallationInfo>,
    pub(crate) tenants_linked: u64,
    /// The tenants failed closed (their L1 refused or the HSM away), with the reason.
    pub(crate) unavailable: Vec<(TenantId, String)>,
    pub(crate) uptime: Duration,
    pub(crate) audit_sequence: Option<u64>,
    /// On the PKCS#11 seal while sealed: why the last auto-unseal failed.
    pub(crate) auto_unseal_error: Option<String>,
    /// Where the master key stands; `None` unless unsealed.
    pub(crate) master_key: Option<MasterKeyInfo>,
    /// This core follows the core that leads its store.
    pub(crate) follows: bool,
}

/// The public facts of an installation.
#[derive(Debug)]
pub(crate) struct InstallationInfo {
    pub(crate) key_set: shamir::KeySetId,
    pub(crate) threshold: u8,
    pub(crate) shares: u8,
    pub(crate) created_unix_secs: u64,
    /// How the master key is kept: `shamir` or `pkcs11`.
    pub(crate) seal: &'static str,
}

/// What `init` hands back, once.
pub(crate) struct InitReport {
    /// The shares in their text form, wiped when dropped.
    pub(crate) shares: Vec<Zeroizing<String>>,
    pub(crate) installation: InstallationInfo,
}

impl InitReport {
    /// The shares of `split`, in text, and the facts of `installation`.
    pub(super) fn new(split: &shamir::Split, installation: &StoredInstallation) -> Self {
        Self {
            shares: split
                .shares
                .iter()
                .map(|share| Zeroizing::new(share.to_string()))
                .collect(),
            installation: info(installation),
        }
    }
}

impl std::fmt::Debug for InitReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitReport")
            .field("shares", &format_args!("<{} redacted>", self.shares.len()))
            .field("installation", &self.installation)
            .finish()
    }
}

/// What one `unseal` call achieved.
#[derive(Debug)]
pub(crate) struct UnsealReport {
    pub(crate) outcome: UnsealOutcome,
    /// The shares received before had expired: this share started a new attempt.
    pub(crate) restarted_after_expiry: bool,
}

/// Where the unseal stands after a share.
#[derive(Debug)]
pub(crate) enum UnsealOutcome {
    /// The share counted; more are needed.
    Progress(Progress),
    /// The core is unsealed; the unseal is audit record `audit_sequence`.
    Unsealed { audit_sequence: u64 },
}

/// Where one share left the unseal, and the tenants to re-open if it unsealed.
type Settled = (UnsealOutcome, Option<Vec<Opening>>);

impl Core {
    /// The lifecycle state, progress, installation, linked tenants and uptime. Audited when
    /// unsealed.
    pub(crate) fn status(&self, caller: &Caller) -> Result<StatusReport, Error> {
        let now = Instant::now();
        let lifecycle = self.read()?;
        let (state, progress) = match &*lifecycle {
            // An attempt past its deadline is already forgotten, whether or not the sweep ran.
            Lifecycle::Unsealing(attempt) if attempt.is_expired(now) => (State::Sealed, None),
            Lifecycle::Unsealing(attempt) => (State::Unsealing, Some(attempt.progress())),
            other => (other.state(), None),
        };
        let (audit_sequence, unavailable, master_key) = match &*lifecycle {
            Lifecycle::Unsealed(unsealed) => (
                Some(self.append_audit(unsealed, Operation::Status, caller)?),
                unsealed.keyring().unavailable(),
                Some(self.master_key_info(unsealed)),
            ),
            _ => (None, Vec::new(), None),
        };
        Ok(StatusReport {
            state,
            progress,
            installation: lifecycle.installation().map(info),
            tenants_linked: self.store.count(Column::Tenants)?,
            unavailable,
            uptime: now.saturating_duration_since(self.started),
            audit_sequence,
            auto_unseal_error: match state {
                State::Sealed => self.auto_unseal_failure(),
                _ => None,
            },
            master_key,
            follows: !self.leads(),
        })
    }

    /// Generates the master key and stores the install record and the first audit record.
    ///
    /// On the Shamir seal the master key is split `threshold`-of-`count` and the core is left
    /// sealed: the shares are proven by the first unseal. On the PKCS#11 seal the seal HSM
    /// seals the master key (and is seen to open it again before anything is stored), the
    /// shares are those of a separate recovery key, and the core is left unsealed.
    pub(crate) async fn init(
        self: &Arc<Self>,
        caller: Caller,
        threshold: u8,
        count: u8,
    ) -> Result<InitReport, Error> {
        let master = MasterKey::generate()?;
        let kind = match self.seal {
            Some(_) => SealKind::Pkcs11,
            None => SealKind::Shamir,
        };
        let (split, seal) = self.new_shares(&master, threshold, count, kind).await?;
        let core = Arc::clone(self);
        blocking(move || core.commit_init(&caller, master, &split, count, seal)).await
    }

    /// `count` new shares, any `threshold` of which rebuild `master` (the Shamir seal) or a new
    /// recovery key (the PKCS#11 seal: the seal HSM seals `master` for the new key check, and
    /// is seen to open it again), with the seal record that goes with them.
    pub(super) async fn new_shares(
        &self,
        master: &MasterKey,
        threshold: u8,
        count: u8,
        kind: SealKind,
    ) -> Result<(shamir::Split, SealRecord), Error> {
        if kind == SealKind::Shamir {
            return Ok((master.split(threshold, count)?, SealRecord::Shamir));
        }
        let hsm_seal = self.seal.as_ref().ok_or(Error::SealNotConfigured)?;
        let recovery = SecretKey::random(WhenIdle::NoAccess)?;
        let split = recovery.expose(|key| shamir::split(key, threshold, count))?;
        let key_check = split.key_check.to_bytes();
        let sealed_master = hsm_seal.wrap(master, &key_check).await?;
        let reopened = hsm_seal.unwrap(&sealed_master, &key_check).await?;
        if !master.same_as(&reopened) {
            return Err(Bug::HsmRoundTrip.into());
        }
        Ok((split, SealRecord::Pkcs11 { sealed_master }))
    }

    /// Stores the install record of `master` and the first audit record, and moves the
    /// lifecycle on: sealed, or unsealed on the PKCS#11 seal.
    fn commit_init(
        &self,
        caller: &Caller,
        master: MasterKey,
        split: &shamir::Split,
        count: u8,
        seal: SealRecord,
    ) -> Result<InitReport, Error> {
        let mut lifecycle = self.write()?;
        if !matches!(*lifecycle, Lifecycle::Uninitialized) {
            return Err(Error::AlreadyInitialized);
        }
        let stored = Installation::new(&split.key_check, count, seal).encode(&master)?;
        // Read back as a restart will read it, before anything is committed.
        let installation = StoredInstallation::decode(&stored)?;
        let records = RecordKeys::first(&master)?;
        let mut batch = self.store.batch(&records);
        batch.put_plain(Column::Meta, installation::RECORD_KEY, &stored)?;
        self.audit.stage(&mut batch, Operation::Init, caller)?;
        let audit_sequence = batch.commit_audited()?;
        let report = InitReport::new(split, &installation);
        tracing::warn!(
            %caller,
            key_set = %report.installation.key_set,
            threshold = split.key_check.threshold(),
            shares = count,
            seal = report.installation.seal,
            audit_sequence,
            "initialized: master key generated; the shares are handed out once"
        );
        let sealed = Sealed::new(installation);
        if self.seal.is_none() {
            *lifecycle = Lifecycle::Sealed(sealed);
            return Ok(report);
        }
        let (next, settled) = self.settle(sealed.auto_unseal(master), &Caller::Core, None);
        *lifecycle = next;
        // A new installation has no tenant to re-open.
        settled.map(|_| report)
    }

    /// Takes one share. Unseals when the threshold is reached and the shares rebuild and verify
    /// the master key; the unseal is audited before it is reported. An unseal then re-opens
    /// every linked tenant through the HSM before it returns (each bounded in time).
    pub(crate) async fn unseal(
        self: &Arc<Self>,
        caller: Caller,
        share: shamir::Share,
    ) -> Result<UnsealReport, Error> {
        let core = Arc::clone(self);
        let (report, opening) = blocking(move || core.add_share(&caller, share)).await?;
        if let Some(opening) = opening {
            // A task of its own: a caller that gives up (the control request's timeout) must
            // not cancel the re-open halfway and leave tenants opening for ever.
            let core = Arc::clone(self);
            if let Err(join) = tokio::spawn(async move { core.reopen(opening).await }).await {
                tracing::error!(error = %join, "the tenants' re-open task failed");
            }
            self.resume_leader_work();
        }
        Ok(report)
    }

    /// One share, under the lifecycle's write lock: the report, and the tenants to re-open
    /// when it unsealed.
    fn add_share(
        &self,
        caller: &Caller,
        share: shamir::Share,
    ) -> Result<(UnsealReport, Option<Vec<Opening>>), Error> {
        let index = share.index();
        let deadline = Instant::now() + self.unseal_timeout;
        self.transition(|lifecycle| {
            let (lifecycle, restarted) = lifecycle.expire(Instant::now());
            if restarted {
                self.unseal_expired();
            }
            let step = match lifecycle {
                Lifecycle::Uninitialized => return (lifecycle, Err(Error::Uninitialized)),
                Lifecycle::Unsealed(_) => return (lifecycle, Err(Error::AlreadyUnsealed)),
                Lifecycle::Sealed(sealed) => sealed.add_share(share, deadline),
                Lifecycle::Unsealing(attempt) => attempt.add_share(share),
            };
            let (next, outcome) = self.settle(step, caller, Some(index));
            let report = outcome.map(|(outcome, opening)| {
                let report = UnsealReport {
                    outcome,
                    restarted_after_expiry: restarted,
                };
                (report, opening)
            });
            (next, report)
        })
    }

    /// The state and answer that follow one added share (`index`), or the master key the seal
    /// HSM opened (`None`); logs it, and audits an unseal.
    pub(super) fn settle(
        &self,
        step: AddShare,
        caller: &Caller,
        index: Option<u8>,
    ) -> (Lifecycle, Result<Settled, Error>) {
        let operation = match index {
            Some(_) => Operation::Unseal,
            None => Operation::AutoUnseal,
        };
        match step {
            AddShare::Pending(attempt) => {
                if let Some(index) = index {
                    self.unseal_events.accepted(index, caller);
                }
                let progress = attempt.progress();
                tracing::info!(
                    %caller,
                    index = ?index,
                    received = progress.received,
                    threshold = progress.threshold,
                    "unseal share accepted"
                );
                (
                    Lifecycle::Unsealing(attempt),
                    Ok((UnsealOutcome::Progress(progress), None)),
                )
            }
            AddShare::Unsealed(mut unsealed) => {
                if let Some(index) = index {
                    self.unseal_events.accepted(index, caller);
                }
                let opened = RecordKeys::load(&self.store, unsealed.master())
                    .map(|records| unsealed.load_records(records))
                    .and_then(|()| self.record_unseal(&unsealed, operation, caller))
                    .and_then(|sequence| Ok((sequence, self.mark_tenants(&unsealed)?)));
                match opened {
                    Ok((sequence, opening)) => {
                        tracing::warn!(%caller, index = ?index, audit_sequence = sequence, operation = operation.name(), "unsealed: master key rebuilt and verified");
                        let outcome = UnsealOutcome::Unsealed {
                            audit_sequence: sequence,
                        };
                        (Lifecycle::Unsealed(unsealed), Ok((outcome, Some(opening))))
                    }
                    Err(error) => {
                        tracing::error!(error = %ErrorChain(&error), "the unseal could not be audited or the tenants read; staying sealed");
                        (Lifecycle::Sealed(unsealed.seal()), Err(error))
                    }
                }
            }
            AddShare::Refused(lifecycle, error) => {
                tracing::warn!(%caller, index = ?index, error = %ErrorChain(&error), "unseal share refused");
                let reason = ErrorChain(&error).to_string();
                self.unseal_events.refused(index, caller, &reason);
                (lifecycle, Err(error))
            }
            AddShare::Failed(sealed, error) => {
                if let Some(index) = index {
                    self.unseal_events.accepted(index, caller);
                }
                let reason = ErrorChain(&error).to_string();
                self.unseal_events
                    .abandoned(Operation::UnsealFailed, caller, &reason);
                tracing::error!(
                    %caller,
                    error = %ErrorChain(&error),
                    "unseal failed; every share forgotten, still sealed"
                );
                (Lifecycle::Sealed(sealed), Err(error))
            }
        }
    }

    /// Forgets the shares received so far; returns how many.
    pub(crate) fn reset_unseal(&self, caller: &Caller) -> Result<usize, Error> {
        self.transition(|lifecycle| match lifecycle {
            Lifecycle::Unsealing(attempt) => {
                let (sealed, discarded) = attempt.reset();
                tracing::warn!(%caller, discarded, "unseal progress reset");
                let reason = format!("{discarded} shares discarded");
                self.unseal_events
                    .abandoned(Operation::UnsealReset, caller, &reason);
                (Lifecycle::Sealed(sealed), Ok(discarded))
            }
            Lifecycle::Sealed(_) => (lifecycle, Ok(0)),
            Lifecycle::Uninitialized => (lifecycle, Err(Error::Uninitialized)),
            Lifecycle::Unsealed(_) => (lifecycle, Err(Error::AlreadyUnsealed)),
        })
    }

    /// Zeroizes the master key and every key derived from it. The seal is audited first; the
    /// keys are wiped even if that write fails, and the error is then returned.
    pub(crate) fn seal(&self, caller: &Caller) -> Result<u64, Error> {
        self.transition(|lifecycle| match lifecycle {
            Lifecycle::Unsealed(unsealed) => {
                let audited = self.append_audit(&unsealed, Operation::Seal, caller);
                let sealed = unsealed.seal();
                tracing::warn!(%caller, audit_sequence = audited.as_ref().ok(), "sealed: keys zeroized");
                (Lifecycle::Sealed(sealed), audited)
            }
            Lifecycle::Uninitialized => (lifecycle, Err(Error::Uninitialized)),
            other => (other, Err(Error::Sealed)),
        })
    }

    /// Takes a backup of the store while it serves (see [`backup`]): the file, at its start.
    /// Audited before the file is handed out. Holds the lifecycle's read lock meanwhile, so a
    /// seal waits for it.
    pub(crate) fn backup(&self, caller: &Caller) -> Result<std::fs::File, Error> {
        self.with_unsealed(|unsealed| {
            let file = backup::take(&self.store, &backup::Header::of(unsealed.installation()))?;
            self.append_audit(unsealed, Operation::Backup, caller)?;
            Ok(file)
        })
    }

    /// Reads the audit log (see [`AuditLog::read`]), keeping the records `filter` matches;
    /// audited.
    pub(crate) fn audit_log(
        &self,
        caller: &Caller,
        from: Option<u64>,
        limit: usize,
        filter: &Filter,
    ) -> Result<(Vec<AuditRecord>, u64), Error> {
        self.with_unsealed(|unsealed| {
            let records = match from {
                // The newest records that match, however far back the data path put them.
                None if !filter.is_empty() => {
                    AuditLog::read_newest_matching(&self.store, unsealed.records(), filter, limit)?
                }
                _ => {
                    let mut records = AuditLog::read(&self.store, unsealed.records(), from, limit)?;
                    records.retain(|record| filter.matches(record));
                    records
                }
            };
            let sequence = self.append_audit(unsealed, Operation::AuditLog, caller)?;
            Ok((records, sequence))
        })
    }

    /// Starts following the audit log for `caller`, audited once, here: where to start
    /// (`from`, or this call's own record), and what tells of each record written after.
    pub(crate) fn follow_audit(
        &self,
        caller: &Caller,
        from: Option<u64>,
    ) -> Result<(u64, watch::Receiver<u64>), Error> {
        self.with_unsealed(|unsealed| {
            let written = self.audit.subscribe();
            let sequence = self.append_audit(unsealed, Operation::AuditFollow, caller)?;
            Ok((from.unwrap_or(sequence), written))
        })
    }

    /// Up to `limit` records from `from` on, for a follow audited when it started; read on
    /// the blocking pool.
    pub(crate) async fn followed_records(
        self: &Arc<Self>,
        from: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Error> {
        self.unsealed(move |core, unsealed| {
            AuditLog::read(&core.store, unsealed.records(), Some(from), limit)
        })
        .await
    }

    /// Walks the audit log from `from` (its start when `None`), checking every record's seal
    /// and link and the checkpoint ([`audit::verify`]); audited as `audit-verify`, after the
    /// walk.
    pub(crate) fn verify_audit(
        &self,
        caller: &Caller,
        from: Option<u64>,
    ) -> Result<(Verification, u64), Error> {
        self.with_unsealed(|unsealed| {
            let verdict = audit::verify(&self.store, unsealed.records(), from)?;
            let sequence = self.append_audit(unsealed, Operation::AuditVerify, caller)?;
            Ok((verdict, sequence))
        })
    }

    /// Forgets an unseal attempt whose deadline has passed, so its shares do not linger in
    /// memory until the next call.
    pub(crate) fn expire_unseal(&self) -> Result<(), Error> {
        self.transition(|lifecycle| {
            let (lifecycle, expired) = lifecycle.expire(Instant::now());
            if expired {
                tracing::warn!("unseal progress expired; the shares received were forgotten");
                self.unseal_expired();
            }
            (lifecycle, Ok(()))
        })
    }

    /// Wipes every key at shutdown, without an audit record: the process is going away.
    pub(crate) fn zeroize(&self) -> Result<(), Error> {
        self.transition(|lifecycle| match lifecycle {
            Lifecycle::Unsealed(unsealed) => (Lifecycle::Sealed(unsealed.seal()), Ok(())),
            Lifecycle::Unsealing(attempt) => (Lifecycle::Sealed(attempt.reset().0), Ok(())),
            other => (other, Ok(())),
        })
    }

    /// A share refused before it reached the unseal (it does not parse), for the audit log.
    pub(crate) fn note_refused_share(&self, caller: &Caller, reason: &str) {
        self.unseal_events.refused(None, caller, reason);
    }

    fn unseal_expired(&self) {
        let reason = "the unseal progress timed out; its shares were forgotten";
        self.unseal_events
            .abandoned(Operation::UnsealExpired, &Caller::Core, reason);
    }

    /// Writes the unseal's audit record, naming the shares that rebuilt the key and who gave
    /// them, then what happened while sealed. What cannot be written after the unseal record
    /// is kept for the next unseal: it does not undo the unseal.
    fn record_unseal(
        &self,
        unsealed: &Unsealed,
        operation: Operation,
        caller: &Caller,
    ) -> Result<u64, Error> {
        let (shares, noted) = self.unseal_events.take();
        let keys = unsealed.records();
        let sequence = match self
            .audit
            .append_about(&self.store, keys, operation, caller, shares)
        {
            Ok(sequence) => sequence,
            Err(error) => {
                self.unseal_events.put_back(noted);
                return Err(error);
            }
        };
        let mut noted = noted.into_iter();
        while let Some(event) = noted.next() {
            if let Err(error) = self.audit.append_noted(&self.store, keys, event.clone()) {
                tracing::error!(error = %ErrorChain(&error), "the unseal attempts could not be audited; they are kept for the next unseal");
                self.unseal_events
                    .put_back(std::iter::once(event).chain(noted).collect());
                break;
            }
        }
        Ok(sequence)
    }

    /// Appends the audit record of `operation` on its own.
    fn append_audit(
        &self,
        unsealed: &Unsealed,
        operation: Operation,
        caller: &Caller,
    ) -> Result<u64, Error> {
        self.audit
            .append(&self.store, unsealed.records(), operation, caller)
    }
}

pub(super) fn info(installation: &StoredInstallation) -> InstallationInfo {
    let key_check = installation.key_check();
    let recorded = installation.unverified();
    InstallationInfo {
        key_set: key_check.key_set(),
        threshold: key_check.threshold(),
        shares: recorded.shares(),
        created_unix_secs: recorded.created_unix_secs(),
        seal: recorded.seal().name(),
    }
}
