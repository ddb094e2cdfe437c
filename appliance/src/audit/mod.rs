//! The audit log: one sealed, synced record per control operation served while unsealed, in
//! a hash chain.
//!
//! Records are keyed by a big-endian sequence number, so key order is log order. A record is
//! numbered as its write commits, under the chain's lock, so numbers follow commit order with
//! no gaps: a write that fails takes no number. Each record carries the hash of the one before
//! ([`chain_hash`]: SHA-256 of its sequence number and its CBOR), and every audited write also
//! replaces a checkpoint (the last sequence number and hash, sealed like every record: a MAC
//! under a key from the master key). [`verify()`] walks the log: a record modified or moved does
//! not open (its key is bound into its seal); one deleted leaves a gap; one inserted, reordered
//! or replaced breaks the chain; a truncated or extended tail disagrees with the checkpoint.
//! Records written before the chain existed carry no link and may have gaps; the chain starts
//! at the first record after them, linked to the last of them.
//!
//! The response of every audited operation carries its sequence number, so a caller can later
//! prove its operation was logged.
//!
//! A record made for an orchestrator's task is also indexed by the task's id, in the same
//! write ([`TaskDone`]): a task delivered again finds it and acts no more.
//!
//! While sealed there is no key to seal records with: status reads go to the process log only;
//! the unseal attempts ([`Noted`]) are kept in memory and written at the next unseal, right
//! after its record.

use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest;
use krypton_service::audit::{AuditEvent, AuditExport, Outcome, Plane, now_unix_millis};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::caller::{Caller, TaskId};
use crate::error::{Bug, Error};
use crate::store::{Batch, ChainTurn, Column, Entry, Numbered, Scan, SealingKeys, Store};

mod verify;

pub(crate) use verify::{Verification, verify};

/// A link of the chain: the SHA-256 of a record ([`chain_hash`]).
pub(crate) type Link = [u8; 32];

/// What the first record of a log links to.
const GENESIS: Link = [0; 32];

/// The checkpoint's key in [`Column::Meta`].
pub(crate) const CHECKPOINT_KEY: &[u8] = b"audit-checkpoint";

/// The most records one read returns.
pub(crate) const MAX_AUDIT_PAGE: usize = 1000;

/// The most records a filtered read of the newest records looks at, going back from the end:
/// the data path can put many records between two control operations, and a search must
/// still end.
pub(crate) const MAX_FILTERED_SCAN: u64 = 200_000;

/// A control operation, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Operation {
    /// The master key was generated and split.
    Init,
    /// The threshold of shares was reached and the master key rebuilt.
    Unseal,
    /// The seal HSM opened the master key and the core unsealed itself (the PKCS#11 seal).
    AutoUnseal,
    /// New shares were made, authorized by a quorum of the current ones; not yet in force.
    RekeyStart,
    /// The new shares were confirmed: only they work from now on.
    Rekey,
    /// The master key was rotated: a new record key version seals every write.
    MasterKeyRotate,
    /// The record key versions a rotation replaced were retired, every record re-sealed.
    MasterKeyRetire,
    /// A backup of the store was taken.
    Backup,
    /// The master key was zeroized on request.
    Seal,
    /// The status was read.
    Status,
    /// The audit log was read.
    AuditLog,
    /// The audit log's chain was verified.
    AuditVerify,
    /// The audit log was followed: its records streamed as they are written.
    AuditFollow,
    /// A tenant was linked (or relinked) to its L1.
    TenantLink,
    /// A tenant was unlinked: its keys zeroized in memory.
    TenantUnlink,
    /// A tenant's wrapped keys were destroyed.
    TenantDestroy,
    /// The core failed a tenant closed: its L1 was refused by the HSM, or the HSM stayed
    /// unreachable past the grace.
    TenantFailClosed,
    /// The tenants were listed.
    TenantList,
    /// A service key (L3) was created.
    ServiceCreate,
    /// A service key got a new version.
    ServiceRotate,
    /// A tenant's services were listed.
    ServiceList,
    /// A decrypt-only version of a service key was retired.
    ServiceVersionRetire,
    /// A retired version of a service key was reinstated (decrypt-only again).
    ServiceVersionReinstate,
    /// A retired version of a service key was destroyed.
    ServiceVersionDestroy,
    /// A tenant's L2 was moved under another L1.
    TenantMoveL1,
    /// A tenant got a new L2 version; the old one was archived.
    TenantRotateL2,
    /// A tenant's archived L2 versions were destroyed, nothing being sealed under them.
    TenantRetireL2,
    /// A share was refused while sealed (recorded at the next unseal).
    UnsealShareRefused,
    /// A share was accepted into an unseal attempt that then ended without unsealing.
    UnsealShareAbandoned,
    /// The shares received so far were discarded on request.
    UnsealReset,
    /// The unseal progress timed out and its shares were forgotten.
    UnsealExpired,
    /// The threshold was reached but the shares did not rebuild the master key.
    UnsealFailed,
    /// More happened while sealed than was kept: the count of what was dropped.
    UnsealEventsDropped,
    /// The orchestrator read the actual state of the tenants.
    StateRead,
    /// The orchestrator applied a desired state: its generation is recorded.
    DesiredStateApply,
}

impl Operation {
    /// The operation's name in the log.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Init => "init",
            Self::Unseal => "unseal",
            Self::AutoUnseal => "auto-unseal",
            Self::RekeyStart => "rekey-start",
            Self::Rekey => "rekey",
            Self::MasterKeyRotate => "master-key-rotate",
            Self::MasterKeyRetire => "master-key-retire",
            Self::Backup => "backup",
            Self::Seal => "seal",
            Self::Status => "status",
            Self::AuditLog => "audit-log",
            Self::AuditVerify => "audit-verify",
            Self::AuditFollow => "audit-follow",
            Self::TenantLink => "tenant-link",
            Self::TenantUnlink => "tenant-unlink",
            Self::TenantDestroy => "tenant-destroy",
            Self::TenantFailClosed => "tenant-fail-closed",
            Self::TenantList => "tenant-list",
            Self::ServiceCreate => "service-create",
            Self::ServiceRotate => "service-rotate",
            Self::ServiceList => "service-list",
            Self::ServiceVersionRetire => "service-version-retire",
            Self::ServiceVersionReinstate => "service-version-reinstate",
            Self::ServiceVersionDestroy => "service-version-destroy",
            Self::TenantMoveL1 => "tenant-move-l1",
            Self::TenantRotateL2 => "tenant-rotate-l2",
            Self::TenantRetireL2 => "tenant-retire-l2",
            Self::UnsealShareRefused => "unseal-share-refused",
            Self::UnsealShareAbandoned => "unseal-share-abandoned",
            Self::UnsealReset => "unseal-reset",
            Self::UnsealExpired => "unseal-expired",
            Self::UnsealFailed => "unseal-failed",
            Self::UnsealEventsDropped => "unseal-events-dropped",
            Self::StateRead => "state-read",
            Self::DesiredStateApply => "desired-state-apply",
        }
    }
}

/// What a record is of: a control operation, or a KMIP operation on the data path.
///
/// Stored as the operation's name (a control operation's, as records always were, or
/// `kmip-` and the KMIP operation's), so that records written before the data path was
/// recorded read and hash as they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Action {
    /// An operator's, the orchestrator's or the core's own.
    Control(Operation),
    /// A gateway's or, through one, an application's.
    Kmip(KmipOperation),
}

impl Action {
    /// The name in the log: `tenant-unlink`, `kmip-decrypt`.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Control(operation) => operation.name(),
            Self::Kmip(operation) => &operation.0,
        }
    }

    /// The plane it belongs to, for the export.
    fn plane(&self) -> Plane {
        match self {
            Self::Control(_) => Plane::Control,
            Self::Kmip(_) => Plane::Data,
        }
    }
}

impl From<Operation> for Action {
    fn from(operation: Operation) -> Self {
        Self::Control(operation)
    }
}

/// A KMIP operation's name in the log: `kmip-` and the specification's name in kebab case
/// (`kmip-get-attributes`); `kmip-other` for a code the specification does not name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct KmipOperation(String);

impl From<kmip::Operation> for KmipOperation {
    fn from(operation: kmip::Operation) -> Self {
        Self(format!("kmip-{}", operation.kebab_name()))
    }
}

impl TryFrom<String> for KmipOperation {
    type Error = &'static str;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        if name.starts_with("kmip-") {
            Ok(Self(name))
        } else {
            Err("not a KMIP operation's name")
        }
    }
}

impl From<KmipOperation> for String {
    fn from(operation: KmipOperation) -> Self {
        operation.0
    }
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditRecord {
    /// Position in the log.
    pub(crate) sequence: u64,
    /// The stored entry.
    pub(crate) entry: AuditEntry,
}

/// What a record says. Stored sealed; the sequence number is its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditEntry {
    /// When the operation was served, in milliseconds since the Unix epoch.
    pub(crate) time_unix_millis: u64,
    /// What was done.
    pub(crate) operation: Action,
    /// Who asked, as the transport authenticated them.
    pub(crate) caller: String,
    /// What the operation was about, e.g. `acme` or `acme/payments v2`; never secret. Absent
    /// for operations on the core as a whole (and in records written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<String>,
    /// Why it was refused (the KMIP Result Reason and message); absent when it was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refused: Option<String>,
    /// The gateway's id of the request (KMIP Client Correlation Value), also in its own
    /// export: ties the gateway's event to this record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) correlation: Option<String>,
    /// The [`chain_hash`] of the record before ([`GENESIS`] for the first); absent in records
    /// written before the chain existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) previous: Option<Link>,
}

impl AuditEntry {
    /// A record of a data-path request, now: `operation` by `caller` (`gateway=gw-1
    /// for=app-7`) on `subject`, refused for `refused` if it was.
    pub(crate) fn data_path(
        operation: kmip::Operation,
        caller: String,
        subject: Option<String>,
        refused: Option<String>,
        correlation: Option<String>,
    ) -> Self {
        Self {
            time_unix_millis: now_unix_millis(),
            operation: Action::Kmip(operation.into()),
            caller,
            subject,
            refused,
            correlation,
            previous: None,
        }
    }

    /// The record as the export shows it: at `sequence` in the chain, if it is in it.
    fn event(&self, sequence: Option<u64>) -> AuditEvent<'_> {
        AuditEvent {
            sequence,
            time_unix_millis: self.time_unix_millis,
            source: "krypton-core",
            plane: self.operation.plane(),
            operation: self.operation.name(),
            caller: &self.caller,
            subject: self.subject.as_deref(),
            outcome: Outcome::of(self.refused.as_deref()),
            reason: self.refused.as_deref(),
            correlation: self.correlation.as_deref(),
        }
    }
}

/// The last record as of the last audited write, sealed in [`Column::Meta`]: a tail deleted or
/// added after it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    sequence: u64,
    hash: Link,
}

/// Something to record on its own, with the time it happened: while sealed, kept until the
/// next unseal can write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Noted {
    time_unix_millis: u64,
    operation: Operation,
    caller: String,
    subject: Option<String>,
    refused: Option<String>,
}

impl Noted {
    /// `operation` by `caller` on `subject`, now.
    pub(crate) fn now(operation: Operation, caller: String, subject: String) -> Self {
        Self {
            time_unix_millis: now_unix_millis(),
            operation,
            caller,
            subject: Some(subject),
            refused: None,
        }
    }

    /// `operation` by `caller` on `subject`, refused now for `reason`.
    pub(crate) fn refusal(
        operation: Operation,
        caller: String,
        subject: Option<String>,
        reason: String,
    ) -> Self {
        Self {
            time_unix_millis: now_unix_millis(),
            operation,
            caller,
            subject,
            refused: Some(reason),
        }
    }
}

/// What an orchestrator's task did, found by its id: stored in [`Column::Tasks`] with the
/// effect, in one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TaskDone {
    /// The audit record of the task's effect.
    pub(crate) sequence: u64,
    /// When, in milliseconds since the Unix epoch: old entries are pruned.
    pub(crate) time_unix_millis: u64,
}

/// Numbers, chains and writes records, and reads them.
#[derive(Debug)]
pub(crate) struct AuditLog {
    head: Arc<Mutex<Head>>,
    /// Where each record also goes as it is written: the journal, a JSON-lines file.
    export: Arc<AuditExport>,
}

/// Where the chain stands: the next sequence number and the hash the next record links to.
/// Until the first audited write of the process, `next` is what the keys on disk say and
/// `last` is `None`: resuming reads sealed records, which takes the keys ([`resume`]).
#[derive(Debug)]
struct Head {
    next: u64,
    last: Option<Link>,
    /// The last sequence number written, for those following the log.
    written: watch::Sender<u64>,
}

/// Which records to show: an empty field matches every record.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    /// Records about this tenant: the subject is the tenant, or starts with it and `/` or a
    /// space (`acme/payments v2`).
    pub(crate) tenant: String,
    /// Records whose caller contains this text.
    pub(crate) caller: String,
    /// Records of the operation of this name.
    pub(crate) operation: String,
    /// Records of this outcome: `ok` or `refused`.
    pub(crate) outcome: String,
}

impl Filter {
    /// Whether the filter matches every record.
    pub(crate) fn is_empty(&self) -> bool {
        self.tenant.is_empty()
            && self.caller.is_empty()
            && self.operation.is_empty()
            && self.outcome.is_empty()
    }

    /// Whether `record` is one to show.
    pub(crate) fn matches(&self, record: &AuditRecord) -> bool {
        let entry = &record.entry;
        let about_tenant = |subject: &str| {
            subject
                .strip_prefix(self.tenant.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', ' ']))
        };
        (self.tenant.is_empty() || entry.subject.as_deref().is_some_and(about_tenant))
            && entry.caller.contains(self.caller.as_str())
            && (self.operation.is_empty() || entry.operation.name() == self.operation)
            && match self.outcome.as_str() {
                "ok" => entry.refused.is_none(),
                "refused" => entry.refused.is_some(),
                _ => true,
            }
    }
}

/// An audit record staged in a write, numbered and linked as the write commits
/// ([`Batch::commit_audited`]).
#[derive(Debug)]
struct PendingRecord {
    head: Arc<Mutex<Head>>,
    export: Arc<AuditExport>,
    /// One record, or a group from the data path ([`AuditLog::append_data`]).
    entries: Vec<AuditEntry>,
    /// The task the (one) record is of.
    task: Option<TaskId>,
}

impl AuditLog {
    /// Resumes the log after the last record on disk; each record written is also exported
    /// to `export`.
    pub(crate) fn open(store: &Store, export: Arc<AuditExport>) -> Result<Self, Error> {
        let next = match store.last_key(Column::Audit)? {
            None => 1,
            Some(key) => decode_sequence(&key)?
                .checked_add(1)
                .ok_or(Error::Internal(Bug::AuditSequenceExhausted))?,
        };
        let head = Head {
            next,
            last: None,
            written: watch::Sender::new(next - 1),
        };
        Ok(Self {
            head: Arc::new(Mutex::new(head)),
            export,
        })
    }

    /// A record for each of `entries`, in order, in one durable write: how the data path's
    /// records are written, a group at a time (`core::data_audit`).
    pub(crate) fn append_data(
        &self,
        store: &Store,
        key: &dyn SealingKeys,
        entries: Vec<AuditEntry>,
    ) -> Result<u64, Error> {
        let mut batch = store.batch(key);
        batch.add_audit(Box::new(PendingRecord {
            head: Arc::clone(&self.head),
            export: Arc::clone(&self.export),
            entries,
            task: None,
        }))?;
        batch.commit_audited()
    }

    /// Exports `entries` that could not be written to the chain (the core sealed first), so
    /// that they are not lost from the journal and the JSON lines too.
    pub(crate) fn export_unwritten(&self, entries: &[AuditEntry]) {
        let events: Vec<_> = entries.iter().map(|entry| entry.event(None)).collect();
        self.export.emit(&events);
    }

    /// Tells of every record written from now on: its sequence number.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.head
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .written
            .subscribe()
    }

    /// Adds a record of `operation` by `caller` to `batch`; [`Batch::commit_audited`] numbers
    /// it.
    pub(crate) fn stage(
        &self,
        batch: &mut Batch<'_>,
        operation: Operation,
        caller: &Caller,
    ) -> Result<(), Error> {
        self.stage_about(batch, operation, caller, None)
    }

    /// [`stage`](Self::stage) for an operation on `subject` (a tenant, a service).
    pub(crate) fn stage_about(
        &self,
        batch: &mut Batch<'_>,
        operation: Operation,
        caller: &Caller,
        subject: Option<String>,
    ) -> Result<(), Error> {
        batch.add_audit(Box::new(PendingRecord {
            head: Arc::clone(&self.head),
            export: Arc::clone(&self.export),
            entries: vec![AuditEntry {
                time_unix_millis: now_unix_millis(),
                operation: operation.into(),
                caller: caller.to_string(),
                subject,
                refused: None,
                correlation: None,
                previous: None,
            }],
            task: caller.task().cloned(),
        }))
    }

    /// What task `task` did, if it took effect (and was not pruned since).
    pub(crate) fn task(
        store: &Store,
        key: &dyn SealingKeys,
        task: &TaskId,
    ) -> Result<Option<TaskDone>, Error> {
        store.get_sealed(key, Column::Tasks, task.as_str().as_bytes())
    }

    /// Forgets the tasks done more than `retention` ago, a page of `page` records (at least
    /// one) per write; returns how many were forgotten. A task delivered again after that
    /// acts again.
    pub(crate) fn prune_tasks(
        store: &Store,
        key: &dyn SealingKeys,
        retention: std::time::Duration,
        page: usize,
    ) -> Result<usize, Error> {
        let cutoff = now_unix_millis()
            .saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
        // Task ids are printable: records under keys before `!` are not tasks.
        let mut cursor = b"!".to_vec();
        let mut pruned = 0;
        loop {
            let stored = store.scan_sealed::<TaskDone>(
                key,
                Column::Tasks,
                Scan::From(&cursor),
                page.max(1),
            )?;
            let Some(last) = stored.last() else {
                return Ok(pruned);
            };
            // The next page starts just after this one's last key.
            cursor = [&last.key[..], &[0]].concat();
            let mut batch = store.batch(key);
            for old in stored.iter().filter(|s| s.value.time_unix_millis < cutoff) {
                batch.delete(Column::Tasks, &old.key)?;
                pruned += 1;
            }
            batch.commit()?;
        }
    }

    /// Writes a record of `operation` by `caller` durably, returning its sequence number.
    pub(crate) fn append(
        &self,
        store: &Store,
        key: &dyn SealingKeys,
        operation: Operation,
        caller: &Caller,
    ) -> Result<u64, Error> {
        self.append_about(store, key, operation, caller, None)
    }

    /// [`append`](Self::append) for an operation on `subject`.
    pub(crate) fn append_about(
        &self,
        store: &Store,
        key: &dyn SealingKeys,
        operation: Operation,
        caller: &Caller,
        subject: Option<String>,
    ) -> Result<u64, Error> {
        let mut batch = store.batch(key);
        self.stage_about(&mut batch, operation, caller, subject)?;
        batch.commit_audited()
    }

    /// Writes `noted` durably as a record of its own, with the time it happened.
    pub(crate) fn append_noted(
        &self,
        store: &Store,
        key: &dyn SealingKeys,
        noted: Noted,
    ) -> Result<u64, Error> {
        let mut batch = store.batch(key);
        batch.add_audit(Box::new(PendingRecord {
            head: Arc::clone(&self.head),
            export: Arc::clone(&self.export),
            entries: vec![AuditEntry {
                time_unix_millis: noted.time_unix_millis,
                operation: noted.operation.into(),
                caller: noted.caller,
                subject: noted.subject,
                refused: noted.refused,
                correlation: None,
                previous: None,
            }],
            task: None,
        }))?;
        batch.commit_audited()
    }

    /// The newest `limit` records (capped at [`MAX_AUDIT_PAGE`]) that `filter` matches, in log
    /// order, looking back from the end page by page through at most [`MAX_FILTERED_SCAN`]
    /// records. A tampered record fails the read.
    pub(crate) fn read_newest_matching(
        store: &Store,
        key: &dyn SealingKeys,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Error> {
        let limit = limit.min(MAX_AUDIT_PAGE);
        let Some(last) = store.last_key(Column::Audit)? else {
            return Ok(Vec::new());
        };
        let end = decode_sequence(&last)?;
        let page = MAX_AUDIT_PAGE as u64;
        let mut found: Vec<AuditRecord> = Vec::new();
        let mut upto = end;
        while found.len() < limit && upto > 0 && end - upto < MAX_FILTERED_SCAN {
            let from = upto.saturating_sub(page - 1).max(1);
            let mut matched: Vec<_> = Self::read(store, key, Some(from), MAX_AUDIT_PAGE)?
                .into_iter()
                .filter(|record| record.sequence <= upto && filter.matches(record))
                .collect();
            matched.append(&mut found);
            found = matched;
            upto = from - 1;
        }
        let surplus = found.len().saturating_sub(limit);
        Ok(found.split_off(surplus))
    }

    /// Reads up to `limit` records (capped at [`MAX_AUDIT_PAGE`]) forward from `from`, or the
    /// newest ones when `from` is `None`. A tampered record fails the read; it is never returned.
    pub(crate) fn read(
        store: &Store,
        key: &dyn SealingKeys,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Error> {
        let start = from.map(u64::to_be_bytes);
        let scan = match &start {
            Some(start) => Scan::From(start),
            None => Scan::Last,
        };
        store
            .scan_sealed::<AuditEntry>(key, Column::Audit, scan, limit.min(MAX_AUDIT_PAGE))?
            .into_iter()
            .map(|stored| {
                Ok(AuditRecord {
                    sequence: decode_sequence(&stored.key)?,
                    entry: stored.value,
                })
            })
            .collect()
    }
}

impl Numbered for PendingRecord {
    /// Numbers and links the records, adds them (with the task's index and the checkpoint) to
    /// `batch`, and writes the batch; the chain moves on only if the write is durable. Returns
    /// the last record's sequence number.
    fn commit(self: Box<Self>, mut batch: Batch<'_>) -> Result<u64, Error> {
        // Held across the write: records are numbered and linked in the order they commit.
        let mut head = self.head.lock().unwrap_or_else(PoisonError::into_inner);
        // Where several cores append (PostgreSQL), the head is read under the chain's lock,
        // held until the write commits; else it is this process's own.
        let turn = batch
            .store()
            .chain_turn((Column::Meta, CHECKPOINT_KEY), Column::Audit)?;
        let (first, mut previous) = match (&turn, head.last) {
            (Some(turn), _) => resume_in(turn, batch.keys())?,
            (None, Some(last)) => (head.next, last),
            (None, None) => resume(batch.store(), batch.keys(), head.next)?,
        };
        let count = u64::try_from(self.entries.len()).unwrap_or(u64::MAX);
        let last = first
            .checked_add(count)
            .filter(|&end| end < u64::MAX && count > 0)
            .ok_or(Error::Internal(Bug::AuditSequenceExhausted))?
            - 1;
        let mut linked = Vec::with_capacity(self.entries.len());
        // Each record is encoded once, for its link and its seal alike: a group holds
        // thousands. Records hold no secret, so one buffer serves them all.
        let mut encoded = Vec::new();
        for (sequence, mut entry) in (first..=last).zip(self.entries) {
            entry.previous = Some(previous);
            encoded.clear();
            encode_entry(&entry, &mut encoded)?;
            previous = link(sequence, &encoded);
            batch.put_sealed_encoded(Column::Audit, &sequence.to_be_bytes(), &encoded)?;
            linked.push(entry);
        }
        if let (Some(task), Some(entry)) = (&self.task, linked.last()) {
            let done = TaskDone {
                sequence: last,
                time_unix_millis: entry.time_unix_millis,
            };
            batch.put_sealed(Column::Tasks, task.as_str().as_bytes(), &done)?;
        }
        let checkpoint = Checkpoint {
            sequence: last,
            hash: previous,
        };
        batch.put_sealed(Column::Meta, CHECKPOINT_KEY, &checkpoint)?;
        match turn {
            Some(turn) => batch.write_in(turn)?,
            None => batch.write()?,
        }
        let events: Vec<_> = (first..)
            .zip(&linked)
            .map(|(n, e)| e.event(Some(n)))
            .collect();
        self.export.emit(&events);
        head.next = last + 1;
        head.last = Some(previous);
        head.written.send_replace(last);
        Ok(last)
    }
}

/// The next sequence number and the hash it links to, from the store: the checkpoint's when
/// it is the newest, so that a tail deleted while the core was down stays a gap rather than
/// being numbered again; else the last record's. What does not open (tampering, which
/// [`verify()`] reports) is passed over, so the core goes on recording.
fn resume(store: &Store, keys: &dyn SealingKeys, next_on_disk: u64) -> Result<(u64, Link), Error> {
    let checkpoint = store.get_sealed::<Checkpoint>(keys, Column::Meta, CHECKPOINT_KEY);
    let last = || {
        store
            .scan_sealed::<AuditEntry>(keys, Column::Audit, Scan::Last, 1)
            .map(|mut last| last.pop())
    };
    chain_head(checkpoint, last, next_on_disk)
}

/// [`resume`] from what `turn` read under the chain's lock: another core may have written
/// since this one last did.
fn resume_in(turn: &ChainTurn, keys: &dyn SealingKeys) -> Result<(u64, Link), Error> {
    let next_on_disk = match turn.tail_key() {
        None => 1,
        Some(key) => decode_sequence(key)?
            .checked_add(1)
            .ok_or(Error::Internal(Bug::AuditSequenceExhausted))?,
    };
    chain_head(turn.head(keys), || turn.tail(keys), next_on_disk)
}

/// The chain's head from its `checkpoint` and, if that is not the newest, its `last` record.
fn chain_head(
    checkpoint: Result<Option<Checkpoint>, Error>,
    last: impl FnOnce() -> Result<Option<Entry<AuditEntry>>, Error>,
    next_on_disk: u64,
) -> Result<(u64, Link), Error> {
    let checkpoint = match checkpoint {
        Ok(checkpoint) => checkpoint,
        Err(Error::TamperedRecord { .. }) => None,
        Err(error) => return Err(error),
    };
    if let Some(checkpoint) = checkpoint.filter(|c| c.sequence >= next_on_disk.saturating_sub(1)) {
        let next = checkpoint
            .sequence
            .checked_add(1)
            .ok_or(Error::Internal(Bug::AuditSequenceExhausted))?;
        return Ok((next, checkpoint.hash));
    }
    let last = match last() {
        Ok(last) => last,
        Err(Error::TamperedRecord { .. }) => return Ok((next_on_disk, GENESIS)),
        Err(error) => return Err(error),
    };
    let link = match last {
        None => GENESIS,
        Some(last) => chain_hash(decode_sequence(&last.key)?, &last.value)?,
    };
    Ok((next_on_disk, link))
}

/// SHA-256 of a record's sequence number (8 bytes, big-endian) and its CBOR.
pub(crate) fn chain_hash(sequence: u64, entry: &AuditEntry) -> Result<Link, Error> {
    let mut encoded = Vec::new();
    encode_entry(entry, &mut encoded)?;
    Ok(link(sequence, &encoded))
}

/// Appends the CBOR of `entry` to `out`: what is sealed, and what its link hashes.
fn encode_entry(entry: &AuditEntry, out: &mut Vec<u8>) -> Result<(), Error> {
    ciborium::into_writer(entry, out).map_err(|e| Error::Internal(Bug::RecordEncode(e)))
}

/// The [`chain_hash`] of the record at `sequence` whose CBOR is `encoded`.
fn link(sequence: u64, encoded: &[u8]) -> Link {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(&sequence.to_be_bytes());
    context.update(encoded);
    let mut link = GENESIS;
    link.copy_from_slice(context.finish().as_ref());
    link
}

fn decode_sequence(key: &[u8]) -> Result<u64, Error> {
    // Keys authenticate with their records, so a key of the wrong length is our bug.
    let bytes = key
        .try_into()
        .map_err(|_| Error::Internal(Bug::AuditKeyLength(key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{SecretKey, WhenIdle};

    const CALLER: Caller = Caller::LocalProcess {
        uid: 1000,
        pid: Some(42),
    };

    #[test]
    fn sequence_resumes_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let log = AuditLog::open(&store, Arc::new(AuditExport::journal_only())).unwrap();
            assert_eq!(
                log.append(&store, &key, Operation::Init, &CALLER).unwrap(),
                1
            );
            assert_eq!(
                log.append(&store, &key, Operation::Status, &CALLER)
                    .unwrap(),
                2
            );
        }
        let store = Store::open(dir.path()).unwrap();
        let log = AuditLog::open(&store, Arc::new(AuditExport::journal_only())).unwrap();
        assert_eq!(
            log.append(&store, &key, Operation::Seal, &CALLER).unwrap(),
            3
        );
        let records = AuditLog::read(&store, &key, None, 10).unwrap();
        let ops: Vec<_> = records
            .iter()
            .map(|r| (r.sequence, r.entry.operation.clone()))
            .collect();
        assert_eq!(
            ops,
            [
                (1, Operation::Init.into()),
                (2, Operation::Status.into()),
                (3, Operation::Seal.into())
            ]
        );
        assert_eq!(records[0].entry.caller, "uid=1000 pid=42");
    }

    #[test]
    fn reads_page_forward_and_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let log = AuditLog::open(&store, Arc::new(AuditExport::journal_only())).unwrap();
        for _ in 0..10 {
            log.append(&store, &key, Operation::Status, &CALLER)
                .unwrap();
        }
        let sequences = |records: Vec<AuditRecord>| -> Vec<u64> {
            records.into_iter().map(|r| r.sequence).collect()
        };
        assert_eq!(
            sequences(AuditLog::read(&store, &key, Some(4), 3).unwrap()),
            [4, 5, 6]
        );
        assert_eq!(
            sequences(AuditLog::read(&store, &key, None, 2).unwrap()),
            [9, 10]
        );
        assert!(
            AuditLog::read(&store, &key, Some(11), 5)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_group_of_data_path_records_is_chained_and_a_filtered_tail_looks_past_them() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let log = AuditLog::open(&store, Arc::new(AuditExport::journal_only())).unwrap();
        log.append(&store, &key, Operation::Seal, &CALLER).unwrap();
        let entry = |n: usize| {
            AuditEntry::data_path(
                kmip::Operation::Decrypt,
                "gateway=gw-1 for=app-1".into(),
                Some(format!("acme/payments key k{n}")),
                n.is_multiple_of(2)
                    .then(|| "PermissionDenied: unlinked".to_owned()),
                Some(format!("c-{n}")),
            )
        };
        // Two groups, far more records than a page.
        assert_eq!(
            log.append_data(&store, &key, (0..1500).map(entry).collect())
                .unwrap(),
            1501
        );
        assert_eq!(
            log.append_data(&store, &key, (1500..2500).map(entry).collect())
                .unwrap(),
            2501
        );
        assert_eq!(
            verify(&store, &key, None).unwrap(),
            Verification::Intact {
                range: Some((1, 2501)),
                unchained: 0
            }
        );

        let seal = Filter {
            operation: "seal".into(),
            ..Filter::default()
        };
        let found = AuditLog::read_newest_matching(&store, &key, &seal, 5).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].sequence, 1);

        let refused = Filter {
            outcome: "refused".into(),
            tenant: "acme".into(),
            ..Filter::default()
        };
        let found = AuditLog::read_newest_matching(&store, &key, &refused, 3).unwrap();
        let sequences: Vec<u64> = found.iter().map(|r| r.sequence).collect();
        // Records 2..=2501 hold k0..=k2499; the even ones are refused.
        assert_eq!(sequences, [2496, 2498, 2500]);
        assert_eq!(found[2].entry.operation.name(), "kmip-decrypt");
        assert_eq!(found[2].entry.correlation.as_deref(), Some("c-2498"));
    }

    #[test]
    fn actions_are_stored_as_their_names_and_read_back() {
        // A control operation's stored form is what it always was: its name alone, so older
        // records read and hash as they did.
        for action in [
            Action::from(Operation::TenantUnlink),
            Action::Kmip(kmip::Operation::GetAttributes.into()),
        ] {
            let mut encoded = Vec::new();
            ciborium::into_writer(&action, &mut encoded).unwrap();
            let text: String = ciborium::from_reader(encoded.as_slice()).unwrap();
            assert_eq!(text, action.name());
            let read: Action = ciborium::from_reader(encoded.as_slice()).unwrap();
            assert_eq!(read, action);
        }
        assert_eq!(
            Action::Kmip(kmip::Operation::GetAttributes.into()).name(),
            "kmip-get-attributes"
        );
    }

    #[test]
    fn operation_names_match_their_serialized_form() {
        for op in [
            Operation::Init,
            Operation::Unseal,
            Operation::AutoUnseal,
            Operation::RekeyStart,
            Operation::Rekey,
            Operation::Backup,
            Operation::Seal,
            Operation::Status,
            Operation::AuditLog,
            Operation::AuditVerify,
            Operation::AuditFollow,
        ] {
            let mut encoded = Vec::new();
            ciborium::into_writer(&op, &mut encoded).unwrap();
            let text: String = ciborium::from_reader(encoded.as_slice()).unwrap();
            assert_eq!(text, op.name());
        }
    }
}
