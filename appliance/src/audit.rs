//! The audit log: one sealed, synced record per control operation served while unsealed.
//!
//! Records are keyed by a big-endian sequence number, so key order is log order. Sequence
//! numbers are handed out before the write and never reused; a write that fails leaves a gap,
//! and its caller was told it failed. The response of every audited operation carries its
//! sequence number, so a caller can later prove its operation was logged.
//!
//! A record made for an orchestrator's task is also indexed by the task's id, in the same
//! write ([`TaskDone`]): a task delivered again finds it and acts no more.
//!
//! While sealed there is no key to seal records with: those operations (status, unseal
//! progress, refused shares) go to the process log only, and the unseal that completes is
//! the first record written after them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::caller::{Caller, TaskId};
use crate::error::{Bug, Error};
use crate::store::{Batch, Column, Scan, SealingKeys, Store};

/// The most records one read returns.
pub(crate) const MAX_AUDIT_PAGE: usize = 1000;

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
            Self::StateRead => "state-read",
            Self::DesiredStateApply => "desired-state-apply",
        }
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
    pub(crate) operation: Operation,
    /// Who asked, as the transport authenticated them.
    pub(crate) caller: String,
    /// What the operation was about, e.g. `acme` or `acme/payments v2`; never secret. Absent
    /// for operations on the core as a whole (and in records written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<String>,
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

/// Hands out sequence numbers and writes and reads records.
#[derive(Debug)]
pub(crate) struct AuditLog {
    next: AtomicU64,
}

impl AuditLog {
    /// Resumes the log after the last record on disk.
    pub(crate) fn open(store: &Store) -> Result<Self, Error> {
        let next = match store.last_key(Column::Audit)? {
            None => 1,
            Some(key) => decode_sequence(&key)?
                .checked_add(1)
                .ok_or(Error::Internal(Bug::AuditSequenceExhausted))?,
        };
        Ok(Self {
            next: AtomicU64::new(next),
        })
    }

    /// Adds a record of `operation` by `caller` to `batch`, returning its sequence number.
    pub(crate) fn stage(
        &self,
        batch: &mut Batch<'_>,
        operation: Operation,
        caller: &Caller,
    ) -> Result<u64, Error> {
        self.stage_about(batch, operation, caller, None)
    }

    /// [`stage`](Self::stage) for an operation on `subject` (a tenant, a service).
    pub(crate) fn stage_about(
        &self,
        batch: &mut Batch<'_>,
        operation: Operation,
        caller: &Caller,
        subject: Option<String>,
    ) -> Result<u64, Error> {
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        if sequence == u64::MAX {
            return Err(Error::Internal(Bug::AuditSequenceExhausted));
        }
        let entry = AuditEntry {
            time_unix_millis: now_unix_millis(),
            operation,
            caller: caller.to_string(),
            subject,
        };
        batch.put_sealed(Column::Audit, &sequence.to_be_bytes(), &entry)?;
        if let Some(task) = caller.task() {
            let done = TaskDone {
                sequence,
                time_unix_millis: entry.time_unix_millis,
            };
            batch.put_sealed(Column::Tasks, task.as_str().as_bytes(), &done)?;
        }
        Ok(sequence)
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
        let mut batch = store.batch(key);
        let sequence = self.stage(&mut batch, operation, caller)?;
        batch.commit()?;
        Ok(sequence)
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

fn decode_sequence(key: &[u8]) -> Result<u64, Error> {
    // Keys authenticate with their records, so a key of the wrong length is our bug.
    let bytes = key
        .try_into()
        .map_err(|_| Error::Internal(Bug::AuditKeyLength(key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

fn now_unix_millis() -> u64 {
    // A clock before 1970 is a broken clock; record it as the epoch rather than refuse to log.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
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
            let log = AuditLog::open(&store).unwrap();
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
        let log = AuditLog::open(&store).unwrap();
        assert_eq!(
            log.append(&store, &key, Operation::Seal, &CALLER).unwrap(),
            3
        );
        let records = AuditLog::read(&store, &key, None, 10).unwrap();
        let ops: Vec<_> = records
            .iter()
            .map(|r| (r.sequence, r.entry.operation))
            .collect();
        assert_eq!(
            ops,
            [
                (1, Operation::Init),
                (2, Operation::Status),
                (3, Operation::Seal)
            ]
        );
        assert_eq!(records[0].entry.caller, "uid=1000 pid=42");
    }

    #[test]
    fn reads_page_forward_and_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let log = AuditLog::open(&store).unwrap();
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
        ] {
            let mut encoded = Vec::new();
            ciborium::into_writer(&op, &mut encoded).unwrap();
            let text: String = ciborium::from_reader(encoded.as_slice()).unwrap();
            assert_eq!(text, op.name());
        }
    }
}
