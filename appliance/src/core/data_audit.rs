//! The data path's audit records: a record for every wrap, unwrap and registry request,
//! written to the chain a group at a time by one task, so that tens of thousands of requests a
//! second cost one synced write per group rather than one each.
//!
//! **No request goes unrecorded.** A request takes a place in the queue ([`Core::audit_place`])
//! before it does anything, and fills it with its record before it is answered. When the queue
//! is full — the disk is slow or failing and the writer has fallen [`QUEUE`] records behind —
//! a request waits up to [`ROOM_WAIT`] for a place and is then refused, having done nothing:
//! the core does not serve what it cannot record.
//!
//! **What a crash can lose**: records queued and not yet written, of requests already
//! answered — the group gathering ([`GATHER`], a few milliseconds), the one being written, and
//! what queued behind them, which is small unless the disk is stalling (then requests stop at
//! the queue's bound). A seal between
//! a request and its group's write leaves no key to seal the records with: they go to the
//! export (journal, JSON lines) without a sequence number, and a warning counts them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use krypton_service::audit::AuditExport;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{self, OwnedPermit, Receiver, Sender};

use super::{Core, blocking};
use crate::audit::AuditEntry;
use crate::error::{Error, RequestError};

/// Records queued, at most, before requests wait for room.
const QUEUE: usize = 65_536;

/// Records written together, at most: one synced write.
const GROUP: usize = 4096;

/// How long a group gathers after its first record before it is written.
const GATHER: Duration = Duration::from_millis(5);

/// How long a request waits for a place in a full queue before it is refused.
const ROOM_WAIT: Duration = Duration::from_secs(2);

/// After a failed write, the first pause before trying again; it doubles up to
/// [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What the core records and where it exports its records.
#[derive(Debug, Clone)]
pub(crate) struct AuditSettings {
    /// Whether the data path is recorded (`[audit] data_path`).
    pub(crate) data_path: bool,
    /// The journal, and the JSON-lines file if configured.
    pub(crate) export: Arc<AuditExport>,
}

/// The queue of the data path's records, when they are recorded (`[audit] data_path`).
#[derive(Debug)]
pub(crate) struct DataAudit {
    queue: Sender<AuditEntry>,
    /// Taken by the writer ([`Core::write_data_audit`]) when it starts.
    records: Mutex<Option<Receiver<AuditEntry>>>,
}

impl DataAudit {
    pub(crate) fn new() -> Self {
        let (queue, records) = mpsc::channel(QUEUE);
        Self {
            queue,
            records: Mutex::new(Some(records)),
        }
    }
}

/// A place in the queue, taken before a request acts and filled with its record after.
/// Dropped unfilled (the request did not get as far as a decision), it frees its place.
#[derive(Debug)]
pub(crate) struct AuditPlace(Option<OwnedPermit<AuditEntry>>);

impl AuditPlace {
    /// Queues `entry` for the writer.
    pub(crate) fn fill(self, entry: AuditEntry) {
        if let Some(permit) = self.0 {
            permit.send(entry);
        }
    }
}

impl Core {
    /// A place for the record of a data-path request: at once while the writer keeps up, else
    /// after up to [`ROOM_WAIT`]; refused after that. Always given when the data path is not
    /// recorded (a place that records nothing).
    pub(crate) async fn audit_place(&self) -> Result<AuditPlace, RequestError> {
        let Some(data_audit) = &self.data_audit else {
            return Ok(AuditPlace(None));
        };
        let queue = data_audit.queue.clone();
        // At once in the common case, without arming a timer.
        let queue = match queue.try_reserve_owned() {
            Ok(permit) => return Ok(AuditPlace(Some(permit))),
            Err(TrySendError::Full(queue)) => queue,
            // Closed: the writer stopped, at shutdown.
            Err(TrySendError::Closed(_)) => return Err(RequestError::AuditUnavailable),
        };
        match tokio::time::timeout(ROOM_WAIT, queue.reserve_owned()).await {
            Ok(Ok(permit)) => Ok(AuditPlace(Some(permit))),
            Ok(Err(_)) | Err(_) => Err(RequestError::AuditUnavailable),
        }
    }

    /// Writes the data path's records, a group per synced write, until `stopping` completes;
    /// then writes what is queued and returns. Returns at once when the data path is not
    /// recorded.
    pub(crate) async fn write_data_audit(self: Arc<Self>, stopping: impl Future<Output = ()>) {
        let taken = self.data_audit.as_ref().and_then(|data_audit| {
            data_audit
                .records
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        });
        let Some(mut records) = taken else {
            return;
        };
        let mut group = Vec::with_capacity(GROUP);
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                received = records.recv_many(&mut group, GROUP) => {
                    if received == 0 {
                        return;
                    }
                    // Let the group gather: a synced write (and a wake of this task) per few
                    // milliseconds, not per request, whatever the request rate.
                    tokio::time::sleep(GATHER).await;
                    while group.len() < GROUP {
                        let Ok(record) = records.try_recv() else { break };
                        group.push(record);
                    }
                    self.write_group(std::mem::replace(&mut group, Vec::with_capacity(GROUP))).await;
                    // How far the chain is behind the requests answered: the audit lag.
                    metrics::gauge!("krypton_audit_queued_records").set(records.len() as f64);
                }
                () = &mut stopping => break,
            }
        }
        // No new places from now on; what was queued, and the places still open, are written.
        records.close();
        while records.recv_many(&mut group, GROUP).await > 0 {
            self.write_group(std::mem::replace(&mut group, Vec::with_capacity(GROUP)))
                .await;
        }
    }

    /// Writes `group`, trying again until it is written or the core seals: the queue fills
    /// meanwhile, and requests are refused rather than served unrecorded.
    async fn write_group(self: &Arc<Self>, group: Vec<AuditEntry>) {
        let mut pause = RETRY_FIRST;
        let mut said = false;
        loop {
            let core = Arc::clone(self);
            let entries = group.clone();
            let written = blocking(move || {
                core.with_unsealed(|unsealed| {
                    core.audit
                        .append_data(&core.store, unsealed.records(), entries)
                })
            })
            .await;
            match written {
                Ok(_) => {
                    metrics::counter!("krypton_audit_data_records_total")
                        .increment(group.len() as u64);
                    return;
                }
                Err(Error::Sealed | Error::Uninitialized) => {
                    tracing::warn!(
                        records = group.len(),
                        "the core sealed before these data-path records were written: exported without a sequence number, not in the chain"
                    );
                    self.audit.export_unwritten(&group);
                    return;
                }
                Err(error) => {
                    if !said {
                        said = true;
                        tracing::error!(error = %crate::error::ErrorChain(&error), records = group.len(), "data-path audit records cannot be written: retrying; requests are refused once the queue is full");
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hsm_seal::SealConfig;
    use crate::store::Store;

    #[tokio::test]
    async fn a_request_that_finds_no_place_in_time_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditSettings {
            data_path: true,
            export: Arc::new(AuditExport::journal_only()),
        };
        let core = Core::open(
            Store::open(dir.path()).unwrap(),
            ROOM_WAIT,
            None,
            &SealConfig::Shamir {},
            &audit,
        )
        .unwrap();
        // No writer runs: the places taken are never freed, as when the disk stalls.
        let mut taken = Vec::with_capacity(QUEUE);
        for _ in 0..QUEUE {
            taken.push(core.audit_place().await.unwrap());
        }
        let started = std::time::Instant::now();
        let refused = core.audit_place().await;
        assert!(matches!(refused, Err(RequestError::AuditUnavailable)));
        assert!(started.elapsed() >= ROOM_WAIT);
        // A place given back is taken at once.
        drop(taken.pop());
        assert!(core.audit_place().await.is_ok());
    }
}
