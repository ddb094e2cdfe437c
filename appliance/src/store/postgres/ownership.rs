//! One core at a time leads a PostgreSQL store: the one that holds its ownership. It alone
//! makes changes; followers ([`super::feed`]) serve the data path from what it wrote.
//!
//! Ownership is a session-level advisory lock held on a session of its own for as long as the
//! core runs, plus an **epoch** in the store, bumped by every core that takes the lock. Each
//! write transaction first reads the epoch `FOR SHARE` and goes on only if it is the one this
//! core took: the fencing token. A core that took over bumps it with an `UPDATE`, which waits
//! for the writes in flight under the old epoch and fails every later one of the old owner,
//! even one sent on a pooled session that outlived the lock's.
//!
//! The owner pings its lock's session every [`CHECK_EVERY`]; a ping that fails or takes longer
//! than [`CHECK_LIMIT`] means the lock may be gone, and ownership is **lost for good**: every
//! later call fails and [`Ownership::lost`] completes, so the daemon stops (and a service
//! manager starts it again, as a standby if another core took over). The server ends the
//! session of a core cut off from it only after its TCP keepalive gives up (some 35 seconds,
//! see `krypton_service::postgres`), long after the core itself stopped serving.
//!
//! A follower keeps a session too, and tries the lock on it every [`CHECK_EVERY`]: the try
//! is its check that the server still answers (a follower cut off from the store stops, as an
//! owner does), and once the leader has gone it takes the store over the same way.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, GenericClient, Object, Pool};
use tokio::sync::{Mutex, watch};

use super::{failed, statement};
use crate::error::Error;
use crate::store::StoreError;
use krypton_service::postgres::PostgresError;

/// The advisory lock the owner of a store holds for as long as it runs ("kryptonO").
const OWNER_LOCK: i64 = 0x6b72_7970_746f_6e4f;
/// How often the owner checks that its lock's session is alive.
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long one check may take before ownership counts as lost.
pub(super) const CHECK_LIMIT: Duration = Duration::from_secs(2);

/// This core's ownership of the store.
#[derive(Debug)]
pub(super) struct Ownership {
    /// The session that holds [`OWNER_LOCK`], out of the pool, once taken.
    session: Mutex<Option<ClientWrapper>>,
    /// The epoch this core took the store at; 0: not taken.
    epoch: AtomicI64,
    /// Turns true, once, when ownership is lost.
    lost: watch::Sender<bool>,
    /// Turns true when this core takes the store.
    taken: watch::Sender<bool>,
    /// The longest a takeover may wait for the writes in flight of the core it replaces.
    takeover_limit: Duration,
}

impl Ownership {
    pub(super) fn new(takeover_limit: Duration) -> Self {
        Self {
            session: Mutex::new(None),
            epoch: AtomicI64::new(0),
            lost: watch::Sender::new(false),
            taken: watch::Sender::new(false),
            takeover_limit,
        }
    }

    /// Tries once to take the store: `Ok(false)` if another core holds it. The session tried
    /// on is kept for the next try (a follower's check), or dropped if it failed.
    pub(super) async fn try_take(&self, pool: &Pool) -> Result<bool, Error> {
        let context = "taking the store's ownership";
        let mut session = self.session.lock().await;
        let client = match session.take() {
            Some(client) => client,
            None => Object::take(
                pool.get()
                    .await
                    .map_err(|source| failed(context)(PostgresError::Connect(source)))?,
            ),
        };
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&OWNER_LOCK])
            .await
            .map_err(statement(context))?
            .get(0);
        if taken {
            // Waits for the writes in flight under the last epoch: they hold its row.
            let epoch: i64 = client
                .query_one(
                    "UPDATE krypton_core_owner SET epoch = epoch + 1 RETURNING epoch",
                    &[],
                )
                .await
                .map_err(statement(context))?
                .get(0);
            self.epoch.store(epoch, Ordering::Release);
            self.taken.send_replace(true);
            tracing::info!(epoch, "this core owns the store");
        }
        *session = Some(client);
        Ok(taken)
    }

    /// Turns true when this core takes the store (at once, if it has).
    pub(super) fn taken(&self) -> watch::Receiver<bool> {
        self.taken.subscribe()
    }

    /// Whether this core leads the store: it took it, and has not lost it.
    pub(super) fn leads(&self) -> bool {
        self.epoch.load(Ordering::Acquire) != 0 && !*self.lost.borrow()
    }

    /// Fails with [`StoreError::OwnershipLost`] once ownership is lost.
    pub(super) fn check(&self, context: &'static str) -> Result<(), Error> {
        if *self.lost.borrow() {
            return Err(lost(context));
        }
        Ok(())
    }

    /// The fence of a write: in `tx`, its first statement, checks that the store's epoch is
    /// still the one this core took, and keeps it so until `tx` ends.
    pub(super) async fn fence(&self, tx: &impl GenericClient) -> Result<(), Error> {
        let context = "writing";
        let stored: i64 = tx
            .query_one("SELECT epoch FROM krypton_core_owner FOR SHARE", &[])
            .await
            .map_err(statement(context))?
            .get(0);
        if stored != self.epoch.load(Ordering::Acquire) {
            self.lose("another core took the store over").await;
            return Err(lost(context));
        }
        Ok(())
    }

    /// Completes when ownership is lost.
    pub(super) fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut lost = self.lost.subscribe();
        async move {
            // An error means the store is gone: nothing is owned any more either.
            let _ = lost.wait_for(|lost| *lost).await;
        }
    }

    /// Pings the lock's session — or, while following, tries the lock on it — until that
    /// fails or hangs; then ownership is lost.
    pub(super) async fn watch(&self, pool: Pool) {
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        loop {
            ticks.tick().await;
            let checked = if self.leads() {
                let session = self.session.lock().await;
                let Some(client) = session.as_ref() else {
                    return;
                };
                let ping = client.simple_query("SELECT 1");
                tokio::time::timeout(CHECK_LIMIT, ping)
                    .await
                    .map(|pinged| pinged.map(drop).map_err(statement("checking the store")))
            } else {
                // A takeover waits for the last owner's writes in flight: longer than a check.
                tokio::time::timeout(self.takeover_limit + CHECK_LIMIT, self.try_take(&pool))
                    .await
                    .map(|taken| taken.map(drop))
            };
            match checked {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(error = %crate::error::ErrorChain(&error), "the store's ownership session failed");
                    return self.lose("the ownership session failed").await;
                }
                Err(_) => return self.lose("the ownership session stopped answering").await,
            }
        }
    }

    /// Marks ownership lost, for good, and ends the lock's session.
    pub(super) async fn lose(&self, why: &'static str) {
        if !self.lost.send_replace(true) {
            tracing::error!(
                why,
                "this core lost the store's ownership: it stops serving"
            );
        }
        self.session.lock().await.take();
    }
}

fn lost(context: &'static str) -> Error {
    Error::Store {
        context,
        source: StoreError::OwnershipLost,
    }
}
