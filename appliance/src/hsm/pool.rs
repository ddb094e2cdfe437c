//! The session pool: a fixed number of logged-in sessions on one token, kept open.
//!
//! Why it looks like this:
//! - cryptoki's `Session` is `Send` but not `Sync`: a session serves one call at a time, so
//!   each call checks one out and puts it back.
//! - Closing the last session of a slot logs the application out, and SoftHSM2 then invalidates
//!   the object handles it gave out: sessions are opened once and stay open.
//! - Login is per application, not per session: every new session logs in, and
//!   `CKR_USER_ALREADY_LOGGED_IN` means another one already did.
//! - When the token goes away or our sessions die (closed behind our back, device removed,
//!   logged out), every session of the pool is suspect. The pool moves to a new *generation*:
//!   it closes its idle sessions and forgets the slot (a re-inserted token may sit in another
//!   one); the next checkout finds the token by its label, opens a session and logs in. A
//!   session of an older generation is closed when it comes back, and an L1 handle found in one
//!   is not used in a newer one.
//! - At most `pool_size` calls run at once. A call that overruns its time limit keeps its
//!   permit until the module returns, so a hung HSM ties up at most `pool_size` threads and
//!   later calls time out waiting for a session instead of piling up.
//! - The pool's lock guards plain data only; no PKCS#11 call runs under it.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::RawAuthPin;
use tokio::sync::Semaphore;

use super::blocking::{Abandoned, run_bounded};
use super::error::HsmError;
use crate::error::ErrorChain;

/// How many times the token is searched for before the core gives up, and the pause before
/// the next search (growing: 100, 200, 300 ms; well inside any call timeout).
const SEARCH_ATTEMPTS: u32 = 4;
const SEARCH_PAUSE: Duration = Duration::from_millis(100);

/// Sessions on one token, shared by every call the core makes to it.
pub(super) struct Pool {
    context: Pkcs11,
    token_label: String,
    pin: RawAuthPin,
    size: usize,
    call_timeout: Duration,
    permits: Arc<Semaphore>,
    state: Mutex<State>,
}

struct State {
    generation: u64,
    /// The token's slot, once found in this generation.
    slot: Option<Slot>,
    idle: Vec<Session>,
}

/// A session checked out of the pool, and the generation it belongs to.
pub(super) struct Lease {
    session: Session,
    generation: u64,
}

impl Lease {
    pub(super) fn session(&self) -> &Session {
        &self.session
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation
    }
}

impl Pool {
    pub(super) fn new(
        context: Pkcs11,
        token_label: String,
        pin: RawAuthPin,
        size: usize,
        call_timeout: Duration,
    ) -> Self {
        Self {
            context,
            token_label,
            pin,
            size,
            call_timeout,
            permits: Arc::new(Semaphore::new(size)),
            state: Mutex::new(State {
                generation: 0,
                slot: None,
                idle: Vec::with_capacity(size),
            }),
        }
    }

    /// Opens and logs in all `pool_size` sessions: a wrong label or PIN shows at start-up.
    pub(super) async fn fill(self: &Arc<Self>) -> Result<(), HsmError> {
        let pool = Arc::clone(self);
        run_bounded(
            "opening HSM sessions",
            self.call_timeout,
            move |abandoned| {
                let leases = (0..pool.size)
                    .map(|_| pool.checkout())
                    .collect::<Result<Vec<_>, _>>()?;
                if !abandoned.is_set() {
                    leases.into_iter().for_each(|lease| pool.checkin(lease));
                }
                Ok(())
            },
        )
        .await
    }

    /// Runs `op` on a pooled session on the blocking pool, waiting at most the call timeout for
    /// a free session and again for `op`.
    pub(super) async fn run<T, F>(
        self: &Arc<Self>,
        operation: &'static str,
        op: F,
    ) -> Result<T, HsmError>
    where
        T: Send + 'static,
        F: FnOnce(&Lease) -> Result<T, HsmError> + Send + 'static,
    {
        let permit =
            tokio::time::timeout(self.call_timeout, Arc::clone(&self.permits).acquire_owned())
                .await
                .map_err(|_elapsed| HsmError::Timeout {
                    operation: "waiting for a free HSM session",
                    after: self.call_timeout,
                })?
                .map_err(|closed| HsmError::Internal(Box::new(closed)))?;
        let pool = Arc::clone(self);
        run_bounded(operation, self.call_timeout, move |abandoned| {
            let result = pool.run_blocking(abandoned, op);
            // Released when the module returned, not when the caller gave up waiting.
            drop(permit);
            result
        })
        .await
    }

    fn run_blocking<T>(
        &self,
        abandoned: &Abandoned,
        op: impl FnOnce(&Lease) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        let lease = self.checkout()?;
        let result = op(&lease);
        match &result {
            Err(error) if error.is_token_unavailable() => {
                self.start_new_generation(lease.generation, error);
            }
            // The caller was told this timed out; the session is not trusted again.
            _ if abandoned.is_set() => {}
            _ => self.checkin(lease),
        }
        result
    }

    /// An idle session, or a new logged-in one. Blocking.
    fn checkout(&self) -> Result<Lease, HsmError> {
        let (idle, generation, slot) = {
            let mut state = self.lock();
            (state.idle.pop(), state.generation, state.slot)
        };
        if let Some(session) = idle {
            return Ok(Lease {
                session,
                generation,
            });
        }
        self.open(generation, slot).inspect_err(|error| {
            if error.is_token_unavailable() {
                self.start_new_generation(generation, error);
            }
        })
    }

    fn open(&self, generation: u64, slot: Option<Slot>) -> Result<Lease, HsmError> {
        let slot = match slot {
            Some(slot) => slot,
            None => {
                let slot = self.find_slot()?;
                let mut state = self.lock();
                if state.generation == generation {
                    state.slot = Some(slot);
                }
                slot
            }
        };
        // Read-only: the core never creates, changes or deletes objects in the customer's token.
        let session = self
            .context
            .open_ro_session(slot)
            .map_err(HsmError::from_call)?;
        match session.login_with_raw(UserType::User, &self.pin) {
            Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(Lease {
                session,
                generation,
            }),
            Err(source) => Err(HsmError::from_login(&self.token_label, source)),
        }
    }

    /// The slot of the one token labelled as configured, searched for again a few times while
    /// no readable token carries the label. A file-backed token such as SoftHSM2's cannot be
    /// read (CKR_GENERAL_ERROR), or is missing from the slot list, for a moment while another
    /// process rewrites it: seen when several cores log in to one token at once.
    fn find_slot(&self) -> Result<Slot, HsmError> {
        let mut attempt = 1;
        loop {
            match self.search_slots() {
                Err(error)
                    if attempt < SEARCH_ATTEMPTS
                        && !matches!(error, HsmError::TokenNotUnique { .. }) =>
                {
                    tracing::debug!(%error, attempt, "the HSM token was not found; searching again");
                    std::thread::sleep(SEARCH_PAUSE * attempt);
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// One search of the slots for the token. A slot whose token cannot be read does not stop
    /// the search: it is only reported if no readable token carries the label, since it might
    /// have been ours.
    fn search_slots(&self) -> Result<Slot, HsmError> {
        let mut matching = Vec::new();
        let mut unreadable = None;
        for slot in self
            .context
            .get_slots_with_token()
            .map_err(HsmError::from_call)?
        {
            match self.context.get_token_info(slot) {
                Ok(info) if info.label() == self.token_label => matching.push(slot),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%slot, %error, "skipping an HSM slot whose token cannot be read");
                    unreadable.get_or_insert(error);
                }
            }
        }
        match matching[..] {
            [slot] => Ok(slot),
            [] => Err(unreadable.map_or_else(
                || HsmError::TokenNotFound {
                    label: self.token_label.clone(),
                },
                HsmError::from_call,
            )),
            _ => Err(HsmError::TokenNotUnique {
                label: self.token_label.clone(),
                count: matching.len(),
            }),
        }
    }

    /// Puts a session back, or closes it if the pool moved on to a newer generation.
    fn checkin(&self, lease: Lease) {
        let stale = {
            let mut state = self.lock();
            if state.generation == lease.generation {
                state.idle.push(lease.session);
                None
            } else {
                Some(lease)
            }
        };
        // Closed here, outside the lock: closing is a PKCS#11 call.
        drop(stale);
    }

    /// Retires generation `failed` and its idle sessions, unless a newer one already exists.
    fn start_new_generation(&self, failed: u64, cause: &HsmError) {
        let retired = {
            let mut state = self.lock();
            if state.generation != failed {
                return;
            }
            state.generation += 1;
            state.slot = None;
            std::mem::take(&mut state.idle)
        };
        tracing::warn!(
            token = %self.token_label,
            error = %ErrorChain(cause),
            "HSM sessions lost; reopening them"
        );
        drop(retired);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update under this lock is a single assignment or push: a panic cannot leave
        // the state half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("token_label", &self.token_label)
            .field("size", &self.size)
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}
