//! The RocksDB vault's one writer: a thread that applies every change in turn and syncs the
//! write-ahead log once for all the changes that arrived while it was syncing.
//!
//! With a synced write per request on the blocking pool, RocksDB groups concurrent writers
//! itself, but each of them is a thread woken from the runtime that then waits for the group's
//! leader (spinning, then on a futex) and wakes the runtime again: on two CPUs the gateway spent
//! ~140–170 µs of CPU per durable Create that way, against ~40 per Get. Here a change is queued
//! to one thread, which writes what is queued without syncing, syncs once, and answers the
//! group: the same group commit, with a wake per group instead of several per write.
//!
//! Being the only writer, it also orders every read-check-write: a change's checks (absent for
//! a create, the same revision for an update) see every change queued before it, so the vault
//! needs no lock of its own. No change is answered before the group's sync, not even one that
//! failed or wrote nothing: its answer may rest on a write of the same group.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::Store;
use crate::vault::{VaultError, storage};

/// Changes queued for the writer, at most; a caller past them waits for room.
const QUEUED: usize = 1024;

/// Changes written together, at most, before one sync.
const GROUP: usize = 256;

/// A change of the vault: checks the stored state and writes, unsynced ([`Store::write`]).
type Change = Box<dyn FnOnce(&Store) -> Result<(), VaultError> + Send>;

struct Job {
    change: Change,
    answer: oneshot::Sender<Result<(), VaultError>>,
}

/// The handle on the writer thread. Dropping it lets the thread finish what is queued and
/// waits for it, so the database is closed once the vault is dropped.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer of `store`.
    pub(super) fn start(store: Arc<Store>) -> Result<Self, VaultError> {
        let (jobs, mut queue) = mpsc::channel(QUEUED);
        let thread = std::thread::Builder::new()
            .name("vault-writer".into())
            .spawn(move || write_groups(&store, &mut queue))
            .map_err(|source| storage("starting the vault's writer", source))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Applies `change` and returns once what it wrote is synced.
    pub(super) async fn apply(
        &self,
        change: impl FnOnce(&Store) -> Result<(), VaultError> + Send + 'static,
    ) -> Result<(), VaultError> {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            change: Box::new(change),
            answer,
        };
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send(job).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            // The thread catches the changes' panics; one of its own has nothing left to report.
            let _ = thread.join();
        }
    }
}

/// The error of a change the writer will not answer: it has stopped (the vault is closing).
fn stopped() -> VaultError {
    storage(
        "handing a change to the vault's writer",
        "the writer has stopped",
    )
}

/// The writer thread: a group per wake, until every handle is dropped.
fn write_groups(store: &Store, queue: &mut mpsc::Receiver<Job>) {
    while let Some(first) = queue.blocking_recv() {
        let mut answers = Vec::new();
        let mut next = Some(first);
        while let Some(Job { change, answer }) = next {
            // A change that panics fails alone: the writer goes on with the others.
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| change(store)))
                .unwrap_or_else(|_| Err(storage("applying a change", "the change panicked")));
            answers.push((answer, outcome));
            next = if answers.len() < GROUP {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        // Synced whatever the changes did: a group that wrote nothing is rare, and its sync
        // finds nothing to write.
        let synced = store.sync();
        for (answer, outcome) in answers {
            let outcome = outcome.and_then(|()| {
                synced
                    .clone()
                    .map_err(|source| storage("syncing the write-ahead log", source))
            });
            // A caller that stopped waiting (its connection closed) needs no answer.
            let _ = answer.send(outcome);
        }
    }
}
