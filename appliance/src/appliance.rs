//! The appliance: the lifecycle state machine bound to its store and audit log.
//!
//! Every operation of the control API (and, later, of the KMIP service) is a method here. The
//! lifecycle sits behind a read-write lock: transitions (init, unseal, reset, seal, expiry)
//! take it for writing; everything that only uses the keys takes it for reading, so concurrent
//! audited operations reach RocksDB together and share its group commit. Methods block on disk
//! syncs; async callers run them on the blocking pool.

use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::audit::{AuditLog, AuditRecord, Operation};
use crate::caller::Caller;
use crate::error::{Bug, Error, ErrorChain};
use crate::installation::{self, Installation, StoredInstallation};
use crate::master_key::MasterKey;
use crate::registry::{EditLock, Registry, RegistryLimits};
use crate::seal::{AddShare, Lifecycle, Progress, Sealed, State, Unsealed};
use crate::store::{Column, Store};

/// The core's state, persistent and in memory.
#[derive(Debug)]
pub(crate) struct Appliance {
    store: Store,
    audit: AuditLog,
    lifecycle: RwLock<Lifecycle>,
    /// Orders the edits of the KMIP object registry's records.
    registry_edits: EditLock,
    started: Instant,
    unseal_timeout: Duration,
}

/// What `status` reports.
#[derive(Debug)]
pub(crate) struct StatusReport {
    pub(crate) state: State,
    pub(crate) progress: Option<Progress>,
    pub(crate) installation: Option<InstallationInfo>,
    pub(crate) tenants_linked: u64,
    pub(crate) uptime: Duration,
    pub(crate) audit_sequence: Option<u64>,
}

/// The public facts of an installation.
#[derive(Debug)]
pub(crate) struct InstallationInfo {
    pub(crate) key_set: shamir::KeySetId,
    pub(crate) threshold: u8,
    pub(crate) shares: u8,
    pub(crate) created_unix_secs: u64,
}

/// What `init` hands back, once.
pub(crate) struct InitReport {
    /// The shares in their text form, wiped when dropped.
    pub(crate) shares: Vec<Zeroizing<String>>,
    pub(crate) installation: InstallationInfo,
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

impl Appliance {
    /// Opens the store in `data_dir`. The core starts sealed, or uninitialized.
    pub(crate) fn open(data_dir: &Path, unseal_timeout: Duration) -> Result<Self, Error> {
        let store = Store::open(data_dir)?;
        let audit = AuditLog::open(&store)?;
        let installation = store
            .get_plain(Column::Meta, installation::RECORD_KEY)?
            .map(|stored| StoredInstallation::decode(&stored))
            .transpose()?;
        let lifecycle = Lifecycle::boot(installation);
        tracing::info!(state = ?lifecycle.state(), "core started");
        Ok(Self {
            store,
            audit,
            lifecycle: RwLock::new(lifecycle),
            registry_edits: EditLock::default(),
            started: Instant::now(),
            unseal_timeout,
        })
    }

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
        let audit_sequence = match &*lifecycle {
            Lifecycle::Unsealed(unsealed) => {
                Some(self.append_audit(unsealed, Operation::Status, caller)?)
            }
            _ => None,
        };
        Ok(StatusReport {
            state,
            progress,
            installation: lifecycle.installation().map(info),
            tenants_linked: self.store.count(Column::Tenants)?,
            uptime: now.saturating_duration_since(self.started),
            audit_sequence,
        })
    }

    /// Generates the master key, splits it `threshold`-of-`count`, stores the install record
    /// and the first audit record, and returns the shares. The core is left sealed: the
    /// shares are proven by the first unseal.
    pub(crate) fn init(
        &self,
        caller: &Caller,
        threshold: u8,
        count: u8,
    ) -> Result<InitReport, Error> {
        let mut lifecycle = self.write()?;
        if !matches!(*lifecycle, Lifecycle::Uninitialized) {
            return Err(Error::AlreadyInitialized);
        }
        let master = MasterKey::generate()?;
        let split = master.split(threshold, count)?;
        let stored = Installation::new(&split.key_check, count).encode(&master)?;
        // Read back as a restart will read it, before anything is committed.
        let installation = StoredInstallation::decode(&stored)?;
        let mut batch = self.store.batch(master.record_key());
        batch.put_plain(Column::Meta, installation::RECORD_KEY, &stored)?;
        let audit_sequence = self.audit.stage(&mut batch, Operation::Init, caller)?;
        batch.commit()?;
        let report = InitReport {
            shares: split
                .shares
                .iter()
                .map(|share| Zeroizing::new(share.to_string()))
                .collect(),
            installation: info(&installation),
        };
        *lifecycle = Lifecycle::Sealed(Sealed::new(installation));
        tracing::warn!(
            %caller,
            key_set = %report.installation.key_set,
            threshold,
            shares = count,
            audit_sequence,
            "initialized: master key generated and split; the shares are handed out once"
        );
        Ok(report)
    }

    /// Takes one share. Unseals when the threshold is reached and the shares rebuild and verify
    /// the master key; the unseal is audited before it is reported.
    pub(crate) fn unseal(
        &self,
        caller: &Caller,
        share: shamir::Share,
    ) -> Result<UnsealReport, Error> {
        let index = share.index();
        let deadline = Instant::now() + self.unseal_timeout;
        self.transition(|lifecycle| {
            let (lifecycle, restarted) = lifecycle.expire(Instant::now());
            let step = match lifecycle {
                Lifecycle::Uninitialized => return (lifecycle, Err(Error::Uninitialized)),
                Lifecycle::Unsealed(_) => return (lifecycle, Err(Error::AlreadyUnsealed)),
                Lifecycle::Sealed(sealed) => sealed.add_share(share, deadline),
                Lifecycle::Unsealing(attempt) => attempt.add_share(share),
            };
            let (next, outcome) = self.settle(step, caller, index);
            let report = outcome.map(|outcome| UnsealReport {
                outcome,
                restarted_after_expiry: restarted,
            });
            (next, report)
        })
    }

    /// The state and answer that follow one added share; logs it, and audits an unseal.
    fn settle(
        &self,
        step: AddShare,
        caller: &Caller,
        index: u8,
    ) -> (Lifecycle, Result<UnsealOutcome, Error>) {
        match step {
            AddShare::Pending(attempt) => {
                let progress = attempt.progress();
                tracing::info!(
                    %caller,
                    index,
                    received = progress.received,
                    threshold = progress.threshold,
                    "unseal share accepted"
                );
                (
                    Lifecycle::Unsealing(attempt),
                    Ok(UnsealOutcome::Progress(progress)),
                )
            }
            AddShare::Unsealed(unsealed) => {
                match self.append_audit(&unsealed, Operation::Unseal, caller) {
                    Ok(sequence) => {
                        tracing::warn!(%caller, index, audit_sequence = sequence, "unsealed: master key rebuilt and verified");
                        let outcome = UnsealOutcome::Unsealed {
                            audit_sequence: sequence,
                        };
                        (Lifecycle::Unsealed(unsealed), Ok(outcome))
                    }
                    Err(error) => {
                        tracing::error!(error = %ErrorChain(&error), "the unseal could not be audited; staying sealed");
                        (Lifecycle::Sealed(unsealed.seal()), Err(error))
                    }
                }
            }
            AddShare::Refused(lifecycle, error) => {
                tracing::warn!(%caller, index, error = %ErrorChain(&error), "unseal share refused");
                (lifecycle, Err(error))
            }
            AddShare::Failed(sealed, error) => {
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

    /// Reads the audit log (see [`AuditLog::read`]); the read itself is audited after it.
    pub(crate) fn audit_log(
        &self,
        caller: &Caller,
        from: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<AuditRecord>, u64), Error> {
        self.with_unsealed(|unsealed| {
            let records = AuditLog::read(&self.store, unsealed.master().record_key(), from, limit)?;
            let sequence = self.append_audit(unsealed, Operation::AuditLog, caller)?;
            Ok((records, sequence))
        })
    }

    /// Forgets an unseal attempt whose deadline has passed, so its shares do not linger in
    /// memory until the next call.
    pub(crate) fn expire_unseal(&self) -> Result<(), Error> {
        self.transition(|lifecycle| {
            let (lifecycle, expired) = lifecycle.expire(Instant::now());
            if expired {
                tracing::warn!("unseal progress expired; the shares received were forgotten");
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

    /// Runs `f` with the KMIP object registry, whose records are sealed under the master key;
    /// refuses with [`Error::Sealed`] while the core is sealed.
    pub(crate) fn with_registry<T>(&self, f: impl FnOnce(&Registry<'_>) -> T) -> Result<T, Error> {
        self.with_unsealed(|unsealed| {
            let registry = Registry::new(
                &self.store,
                unsealed.master().record_key(),
                &self.registry_edits,
                RegistryLimits::default(),
            );
            Ok(f(&registry))
        })
    }

    /// Runs `f` with the unsealed state; refuses with [`Error::Sealed`] otherwise. The gate
    /// every cryptographic operation passes through.
    pub(crate) fn with_unsealed<T>(
        &self,
        f: impl FnOnce(&Unsealed) -> Result<T, Error>,
    ) -> Result<T, Error> {
        gate(&*self.read()?, f)
    }

    /// As [`Appliance::with_unsealed`], but never waits: while a seal or unseal holds the
    /// lifecycle lock (across a disk sync), `f` is handed back for the caller to run where
    /// waiting is allowed.
    pub(crate) fn try_with_unsealed<T, F>(&self, f: F) -> Result<Result<T, Error>, F>
    where
        F: FnOnce(&Unsealed) -> Result<T, Error>,
    {
        match self.lifecycle.try_read() {
            Ok(lifecycle) => Ok(gate(&lifecycle, f)),
            Err(TryLockError::WouldBlock) => Err(f),
            Err(TryLockError::Poisoned(_)) => Ok(Err(Bug::LockPoisoned.into())),
        }
    }

    /// The database.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The audit log, for operations that stage their record with their own writes.
    pub(crate) fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Writes the audit record of `operation` on `subject`, on its own.
    pub(crate) fn audit_operation(
        &self,
        unsealed: &Unsealed,
        operation: Operation,
        caller: &Caller,
        subject: Option<String>,
    ) -> Result<u64, Error> {
        let mut batch = self.store.batch(unsealed.master().record_key());
        let sequence = self
            .audit
            .stage_about(&mut batch, operation, caller, subject)?;
        batch.commit()?;
        Ok(sequence)
    }

    fn append_audit(
        &self,
        unsealed: &Unsealed,
        operation: Operation,
        caller: &Caller,
    ) -> Result<u64, Error> {
        self.audit.append(
            &self.store,
            unsealed.master().record_key(),
            operation,
            caller,
        )
    }

    /// Moves the lifecycle through `f`, which consumes the current state and returns the next.
    /// If `f` panics the lock is poisoned and every later call fails closed.
    fn transition<T>(
        &self,
        f: impl FnOnce(Lifecycle) -> (Lifecycle, Result<T, Error>),
    ) -> Result<T, Error> {
        let mut guard = self.write()?;
        let current = std::mem::replace(&mut *guard, Lifecycle::Uninitialized);
        let (next, result) = f(current);
        *guard = next;
        result
    }

    /// The lifecycle state alone, not audited: for the service manager's status line.
    pub(crate) fn state(&self) -> Result<State, Error> {
        Ok(self.read()?.state())
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Lifecycle>, Error> {
        self.lifecycle.read().map_err(|_| Bug::LockPoisoned.into())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Lifecycle>, Error> {
        self.lifecycle.write().map_err(|_| Bug::LockPoisoned.into())
    }
}

/// Runs `f` if the appliance is unsealed; refuses otherwise.
fn gate<T>(
    lifecycle: &Lifecycle,
    f: impl FnOnce(&Unsealed) -> Result<T, Error>,
) -> Result<T, Error> {
    match lifecycle {
        Lifecycle::Unsealed(unsealed) => f(unsealed),
        Lifecycle::Uninitialized => Err(Error::Uninitialized),
        Lifecycle::Sealed(_) | Lifecycle::Unsealing(_) => Err(Error::Sealed),
    }
}

fn info(installation: &StoredInstallation) -> InstallationInfo {
    let key_check = installation.key_check();
    let recorded = installation.unverified();
    InstallationInfo {
        key_set: key_check.key_set(),
        threshold: key_check.threshold(),
        shares: recorded.shares(),
        created_unix_secs: recorded.created_unix_secs(),
    }
}
