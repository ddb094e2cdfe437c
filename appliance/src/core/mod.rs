//! The core's one owner: the sealed or unsealed state, the store, the audit log, the HSM and,
//! while unsealed, the keyring. Every state transition is a method here, and the control API
//! and the KMIP service are thin adapters that hold only an `Arc<Core>`.
//!
//! | what                                   | where                  |
//! |----------------------------------------|------------------------|
//! | init, unseal (and re-open), seal       | [`ceremony`]           |
//! | unseal attempts, audited at the unseal | [`unseal_events`]      |
//! | the PKCS#11 seal's auto-unseal         | [`auto_unseal`]        |
//! | rekey: new shares, then confirmed      | [`rekey`]              |
//! | master-key rotation and its re-seal    | [`rotation`]           |
//! | a backup of the store                  | [`ceremony`]           |
//! | link, unlink, relink, destroy, services | [`tenants`]            |
//! | moving a tenant to another L1          | [`l1_move`]            |
//! | retire, reinstate, destroy L3 versions | [`service_versions`]   |
//! | orchestrator tasks, once per task id   | [`tasks`]              |
//! | wrap / unwrap / re-wrap of L4s, registry | [`data`]             |
//! | the data path's audit records, in groups | [`data_audit`]       |
//! | the gateways' re-wrap reports          | [`rewrap_progress`]    |
//! | L1 liveness: failing a tenant closed   | [`watch`]              |
//! | `kryptonctl doctor`: state, HSMs, L1s  | [`doctor`]             |
//! | a follower applying the leader's changes | [`follow`]           |
//!
//! **Locks, outermost first.**
//! 1. `admin` (async mutex): one persistent tenant or service change at a time (link, the
//!    durable half of unlink, an L1 move, service create/rotate, a version's state). Held
//!    across HSM calls, never by the data path, never by the kill switch's in-memory half.
//!    Taken only by the core that leads its store: one that follows refuses the change.
//! 2. `lifecycle` (read-write lock): transitions (init, unseal, seal, expiry) write it; every
//!    operation that needs the master key reads it. A transition may hold it across a disk
//!    sync; the data path only ever *tries* it and otherwise goes to the blocking pool.
//! 3. The keyring's own lock (in-memory only, see [`crate::hierarchy::Keyring`]): keys are
//!    taken away at once and put in only by compare-and-set against a generation, so a slow
//!    link or re-open can never undo an unlink that landed meanwhile.

mod auto_unseal;
mod ceremony;
mod data;
mod data_audit;
mod doctor;
mod follow;
mod health;
mod l1_move;
mod l2_rotation;
mod rekey;
mod rewrap_progress;
mod rotation;
mod service_versions;
mod tasks;
mod tenants;
mod unseal_events;
mod watch;

use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::audit::{AuditLog, Noted, Operation};
use crate::caller::Caller;
use crate::error::{Bug, Error};
use crate::hsm::Hsm;
use crate::hsm_seal::{HsmSeal, SealConfig};
use crate::installation::{self, SealKind, StoredInstallation};
use crate::registry::EditLock;
use crate::seal::{Lifecycle, Progress, State, Unsealed};
use crate::store::{Column, Store};

pub(crate) use ceremony::{InstallationInfo, StatusReport, UnsealOutcome, UnsealReport};
pub(crate) use data_audit::AuditSettings;
pub(crate) use l1_move::L1Move;
pub(crate) use l2_rotation::L2Rotation;
pub(crate) use rewrap_progress::{GatewayRewrap, RewrapReport};
pub(crate) use service_versions::VersionOf;
pub(crate) use tasks::{Task, TaskOutcome, TenantState};
pub(crate) use tenants::{ServiceInfo, TenantInfo};

/// The core: its state, persistent and in memory.
#[derive(Debug)]
pub(crate) struct Core {
    store: Store,
    audit: AuditLog,
    lifecycle: RwLock<Lifecycle>,
    hsm: Option<Hsm>,
    /// The PKCS#11 seal, when `[seal] type = "pkcs11"`; `None`: the Shamir seal.
    seal: Option<HsmSeal>,
    /// Why the last auto-unseal failed, while the core is sealed on the PKCS#11 seal.
    auto_unseal_error: Mutex<Option<String>>,
    admin: tokio::sync::Mutex<()>,
    /// Orders the edits of the KMIP object registry's records.
    registry_edits: EditLock,
    /// The background re-seal after a master-key rotation.
    resealing: rotation::Resealing,
    /// What each gateway last reported of its re-wrap, in memory.
    rewrap_progress: rewrap_progress::RewrapProgress,
    /// The unseal attempts while sealed, until the next unseal records them.
    unseal_events: unseal_events::UnsealEvents,
    /// The queue of the data path's audit records; `None` when they are not recorded.
    data_audit: Option<data_audit::DataAudit>,
    started: Instant,
    unseal_timeout: Duration,
}

impl Core {
    /// Serves from `store`. The core starts sealed, or uninitialized. `hsm` is the
    /// customer's HSM, if one is configured: without it no tenant can be linked or re-opened.
    /// `seal` must be the seal the installation was made with, if it was.
    pub(crate) fn open(
        store: Store,
        unseal_timeout: Duration,
        hsm: Option<Hsm>,
        seal: &SealConfig,
        audit: &AuditSettings,
    ) -> Result<Self, Error> {
        let audit_log = AuditLog::open(&store, Arc::clone(&audit.export))?;
        let installation = store
            .get_plain(Column::Meta, installation::RECORD_KEY)?
            .map(|stored| StoredInstallation::decode(&stored))
            .transpose()?;
        let seal = match seal {
            SealConfig::Shamir {} => None,
            SealConfig::Pkcs11(config) => Some(HsmSeal::new(config.clone())),
        };
        match (
            installation.as_ref().map(|i| i.unverified().seal().kind()),
            &seal,
        ) {
            (Some(SealKind::Pkcs11), None) => {
                return Err(Error::SealMismatch {
                    installed: SealKind::Pkcs11.name(),
                    configured: SealKind::Shamir.name(),
                });
            }
            // A seal HSM configured for an installation still on the Shamir seal: the shares
            // unseal it, and a rekey can move it.
            (Some(SealKind::Shamir), Some(_)) => tracing::warn!(
                "the installation is on the Shamir seal and [seal] type is \"pkcs11\": unseal it with its shares, then move it with kryptonctl rekey --seal pkcs11"
            ),
            _ => {}
        }
        let lifecycle = Lifecycle::boot(installation);
        tracing::info!(state = ?lifecycle.state(), "core started");
        Ok(Self {
            store,
            audit: audit_log,
            lifecycle: RwLock::new(lifecycle),
            hsm,
            seal,
            auto_unseal_error: Mutex::default(),
            admin: tokio::sync::Mutex::new(()),
            registry_edits: EditLock::default(),
            resealing: rotation::Resealing::default(),
            rewrap_progress: rewrap_progress::RewrapProgress::default(),
            unseal_events: unseal_events::UnsealEvents::default(),
            data_audit: audit.data_path.then(data_audit::DataAudit::new),
            started: Instant::now(),
            unseal_timeout,
        })
    }

    /// The lifecycle state, not audited.
    pub(crate) fn state(&self) -> Result<State, Error> {
        Ok(self.read()?.state())
    }

    /// How far the unseal attempt under way has come, not audited; `None` when none is.
    pub(crate) fn unseal_progress(&self) -> Result<Option<Progress>, Error> {
        Ok(match &*self.read()? {
            Lifecycle::Unsealing(attempt) if !attempt.is_expired(Instant::now()) => {
                Some(attempt.progress())
            }
            _ => None,
        })
    }

    /// The service manager's status line (`STATUS=`), not audited: the lifecycle state, and
    /// while sealed on the PKCS#11 seal why the last auto-unseal failed.
    pub(crate) fn status_line(&self) -> Result<String, Error> {
        let state = self.state()?;
        let name = match state {
            State::Uninitialized => "Uninitialized",
            State::Sealed => "Sealed",
            State::Unsealing => "Unsealing",
            State::Unsealed => "Unsealed",
        };
        Ok(match (state, self.auto_unseal_failure()) {
            (State::Sealed, Some(error)) => {
                format!("{name}; auto-unseal failing, retrying: {error}")
            }
            _ => name.to_owned(),
        })
    }

    /// Runs `f` with the unsealed state; refuses with [`Error::Sealed`] otherwise. The gate
    /// every operation that needs a key passes through.
    fn with_unsealed<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&Unsealed) -> Result<T, E>,
    ) -> Result<T, E> {
        gate(&*self.read()?, f)
    }

    /// Runs `f` on the unsealed state under the lifecycle's write lock: for changes to what
    /// the unsealed state holds, which no reader may see half-made.
    fn with_unsealed_mut<T>(
        &self,
        f: impl FnOnce(&mut Unsealed) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match &mut *self.write()? {
            Lifecycle::Unsealed(unsealed) => f(unsealed),
            Lifecycle::Uninitialized => Err(Error::Uninitialized),
            Lifecycle::Sealed(_) | Lifecycle::Unsealing(_) => Err(Error::Sealed),
        }
    }

    /// The admin lock, for a persistent change: only the core that leads its store makes one.
    async fn admin(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, Error> {
        if !self.store.leads() {
            return Err(Error::Following);
        }
        Ok(self.admin.lock().await)
    }

    /// Whether this core leads its store, making changes; else it follows the one that does.
    pub(crate) fn leads(&self) -> bool {
        self.store.leads()
    }

    /// Writes the audit record of `operation` on `subject`, on its own.
    fn audit_operation(
        &self,
        unsealed: &Unsealed,
        operation: Operation,
        caller: &Caller,
        subject: Option<String>,
    ) -> Result<u64, Error> {
        let mut batch = self.store.batch(unsealed.records());
        self.audit
            .stage_about(&mut batch, operation, caller, subject)?;
        let sequence = batch.commit_audited()?;
        Ok(sequence)
    }

    /// Records that `operation` by `caller` (on `subject`) was refused, for `reason`: at once
    /// while unsealed, else at the next unseal (kept with the unseal attempts, bounded). A
    /// record that cannot be written is logged: the refusal stands either way.
    pub(crate) fn record_refusal(
        &self,
        operation: Operation,
        caller: &Caller,
        subject: Option<String>,
        reason: String,
    ) {
        let noted = Noted::refusal(operation, caller.to_string(), subject, reason);
        let written = self.with_unsealed(|unsealed| {
            self.audit
                .append_noted(&self.store, unsealed.records(), noted.clone())
        });
        match written {
            Ok(_) => {}
            Err(Error::Sealed | Error::Uninitialized) => {
                self.unseal_events.refused_operation(noted);
            }
            Err(error) => tracing::error!(
                error = %crate::error::ErrorChain(&error),
                operation = operation.name(),
                "a refused control operation could not be recorded"
            ),
        }
    }

    /// [`record_refusal`](Self::record_refusal) from async code: on the blocking pool, for the
    /// record is a synced write.
    pub(crate) async fn record_refusal_later(
        self: &Arc<Self>,
        operation: Operation,
        caller: Caller,
        subject: Option<String>,
        reason: String,
    ) {
        let core = Arc::clone(self);
        let recording = tokio::task::spawn_blocking(move || {
            core.record_refusal(operation, &caller, subject, reason);
        });
        if let Err(join) = recording.await {
            tracing::error!(error = %join, "recording a refusal failed");
        }
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

    fn read(&self) -> Result<RwLockReadGuard<'_, Lifecycle>, Error> {
        self.lifecycle.read().map_err(|_| Bug::LockPoisoned.into())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Lifecycle>, Error> {
        self.lifecycle.write().map_err(|_| Bug::LockPoisoned.into())
    }
}

/// Runs `f` if the core is unsealed; refuses otherwise.
fn gate<T, E: From<Error>>(
    lifecycle: &Lifecycle,
    f: impl FnOnce(&Unsealed) -> Result<T, E>,
) -> Result<T, E> {
    match lifecycle {
        Lifecycle::Unsealed(unsealed) => f(unsealed),
        Lifecycle::Uninitialized => Err(Error::Uninitialized.into()),
        Lifecycle::Sealed(_) | Lifecycle::Unsealing(_) => Err(Error::Sealed.into()),
    }
}

/// Runs `f` on the blocking pool: it syncs to disk or waits for the lifecycle lock.
async fn blocking<T: Send + 'static, E: From<Error> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|join| Error::Internal(Bug::Task(join)))?
}
