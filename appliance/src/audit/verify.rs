//! `kryptonctl audit verify`: walks the log and names the first record that is not as the core
//! wrote it.
//!
//! The checkpoint is read before the walk, so records that commit while it runs come after it
//! and only have to link on: a busy core verifies without a lock.

use super::{AuditEntry, CHECKPOINT_KEY, Checkpoint, GENESIS, Link, MAX_AUDIT_PAGE};
use super::{chain_hash, decode_sequence};
use crate::error::Error;
use crate::store::{Column, Scan, SealingKeys, Store};

/// What a walk of the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verification {
    /// Every record walked is as written, and the log reaches its checkpoint.
    Intact {
        /// The first and last records walked; `None`: the log is empty.
        range: Option<(u64, u64)>,
        /// Of them, written before the chain existed (no link; gaps allowed).
        unchained: u64,
    },
    /// The first record that is not as written.
    Broken {
        /// Its sequence number.
        sequence: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// Walks the log from `from` (its start when `None`; a walk from a record takes that record's
/// link on trust) to its end.
pub(crate) fn verify(
    store: &Store,
    keys: &dyn SealingKeys,
    from: Option<u64>,
) -> Result<Verification, Error> {
    let checkpoint = match store.get_sealed::<Checkpoint>(keys, Column::Meta, CHECKPOINT_KEY) {
        Ok(checkpoint) => checkpoint,
        Err(Error::TamperedRecord { .. }) => {
            return Ok(broken(
                0,
                "the checkpoint does not open: it was modified".into(),
            ));
        }
        Err(error) => return Err(error),
    };
    let mut walk = Walk {
        trust_first: from.is_some(),
        ..Walk::default()
    };
    let mut cursor = from
        .map(|from| from.to_be_bytes().to_vec())
        .unwrap_or_default();
    loop {
        let page = match store.scan_sealed::<AuditEntry>(
            keys,
            Column::Audit,
            Scan::From(&cursor),
            MAX_AUDIT_PAGE,
        ) {
            Ok(page) => page,
            Err(Error::TamperedRecord { key, .. }) => {
                let reason = "does not open: modified, moved from another place, or not sealed \
                              by this installation";
                return Ok(broken(decode_sequence(&key)?, reason.into()));
            }
            Err(error) => return Err(error),
        };
        let Some(last) = page.last() else { break };
        cursor = [&last.key[..], &[0]].concat();
        for record in page {
            let sequence = decode_sequence(&record.key)?;
            if let Some(broken) = walk.step(sequence, &record.value, checkpoint)? {
                return Ok(broken);
            }
        }
    }
    Ok(walk.end(checkpoint))
}

/// The walk so far.
#[derive(Debug, Default)]
struct Walk {
    trust_first: bool,
    first: Option<u64>,
    last: Option<Walked>,
    unchained: u64,
    /// Whether the walk passed the checkpoint's record, with the checkpoint's hash.
    reached_checkpoint: bool,
}

#[derive(Debug, Clone, Copy)]
struct Walked {
    sequence: u64,
    hash: Link,
    linked: bool,
}

impl Walk {
    /// Checks the next record; `Some` is the verdict when it is not as written.
    fn step(
        &mut self,
        sequence: u64,
        entry: &AuditEntry,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Option<Verification>, Error> {
        let hash = chain_hash(sequence, entry)?;
        if let Some(problem) = self.link_problem(sequence, entry.previous) {
            return Ok(Some(problem));
        }
        if let Some(checkpoint) = checkpoint.filter(|c| c.sequence == sequence) {
            if checkpoint.hash != hash {
                let reason = "differs from what the checkpoint says of it".to_owned();
                return Ok(Some(broken(sequence, reason)));
            }
            self.reached_checkpoint = true;
        }
        self.first.get_or_insert(sequence);
        self.unchained += u64::from(entry.previous.is_none());
        self.last = Some(Walked {
            sequence,
            hash,
            linked: entry.previous.is_some(),
        });
        Ok(None)
    }

    /// What is wrong with how record `sequence`, linking to `previous`, follows the walk.
    fn link_problem(&self, sequence: u64, previous: Option<Link>) -> Option<Verification> {
        match (self.last, previous) {
            // Before the chain: no link, gaps allowed.
            (None, None) => None,
            (Some(last), None) if !last.linked => None,
            (Some(last), None) => Some(broken(
                sequence,
                format!("carries no link, after record {} did", last.sequence),
            )),
            (None, Some(_)) if self.trust_first => None,
            (None, Some(_)) if sequence != 1 => Some(broken(
                1,
                format!("missing: the log starts at record {sequence}"),
            )),
            (None, Some(previous)) => (previous != GENESIS)
                .then(|| broken(sequence, "does not link to the start of the log".into())),
            (Some(last), Some(_)) if sequence != last.sequence + 1 => Some(broken(
                last.sequence + 1,
                format!(
                    "missing: record {sequence} follows record {}",
                    last.sequence
                ),
            )),
            (Some(last), Some(previous)) => (previous != last.hash).then(|| {
                broken(
                    sequence,
                    format!("does not link to record {}", last.sequence),
                )
            }),
        }
    }

    /// The verdict once every record is walked.
    fn end(self, checkpoint: Option<Checkpoint>) -> Verification {
        let last = self.last.map(|last| last.sequence);
        match checkpoint {
            Some(checkpoint) if !self.reached_checkpoint => {
                let missing = last.map_or(1, |last| last + 1);
                if last.is_some_and(|last| last >= checkpoint.sequence) {
                    // Walked past it without meeting it: only a walk from after it does that.
                    return self.intact(last);
                }
                broken(
                    missing,
                    format!(
                        "missing: the log ends at record {} but its checkpoint is at record {}",
                        last.unwrap_or(0),
                        checkpoint.sequence
                    ),
                )
            }
            None if self.last.is_some_and(|last| last.linked) => broken(
                last.unwrap_or(0),
                "the checkpoint is missing: the end of the log cannot be checked".into(),
            ),
            _ => self.intact(last),
        }
    }

    fn intact(&self, last: Option<u64>) -> Verification {
        Verification::Intact {
            range: self.first.zip(last),
            unchained: self.unchained,
        }
    }
}

fn broken(sequence: u64, reason: String) -> Verification {
    Verification::Broken { sequence, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use krypton_service::audit::AuditExport;

    use crate::audit::{AuditLog, Operation};
    use crate::caller::Caller;
    use crate::secret::{SecretKey, WhenIdle};

    const CALLER: Caller = Caller::LocalProcess {
        uid: 1000,
        pid: Some(42),
    };

    struct Log {
        _dir: tempfile::TempDir,
        store: Store,
        key: SecretKey,
    }

    impl Log {
        /// A log of `count` records.
        fn of(count: usize) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let log = Self {
                _dir: dir,
                store,
                key: SecretKey::random(WhenIdle::ReadOnly).unwrap(),
            };
            log.append(count);
            log
        }

        /// Appends `count` records, as a core that just started would.
        fn append(&self, count: usize) {
            let audit = AuditLog::open(&self.store, Arc::new(AuditExport::journal_only())).unwrap();
            for _ in 0..count {
                audit
                    .append(&self.store, &self.key, Operation::Status, &CALLER)
                    .unwrap();
            }
        }

        fn verify(&self, from: Option<u64>) -> Verification {
            verify(&self.store, &self.key, from).unwrap()
        }

        fn raw(&self, sequence: u64) -> Vec<u8> {
            let key = sequence.to_be_bytes();
            self.store.get_plain(Column::Audit, &key).unwrap().unwrap()
        }

        fn entry(&self, sequence: u64) -> AuditEntry {
            let key = sequence.to_be_bytes();
            self.store
                .get_sealed(&self.key, Column::Audit, &key)
                .unwrap()
                .unwrap()
        }

        /// Runs `edit` on a batch and writes it, as someone at the disk would (`with key`: one
        /// who also holds the record key).
        fn tamper(&self, edit: impl FnOnce(&mut crate::store::Batch<'_>)) {
            let mut batch = self.store.batch(&self.key);
            edit(&mut batch);
            batch.commit().unwrap();
        }
    }

    fn intact(first: u64, last: u64, unchained: u64) -> Verification {
        Verification::Intact {
            range: Some((first, last)),
            unchained,
        }
    }

    fn broken_at(verdict: &Verification) -> u64 {
        match verdict {
            Verification::Broken { sequence, .. } => *sequence,
            Verification::Intact { .. } => panic!("intact: {verdict:?}"),
        }
    }

    #[test]
    fn a_clean_log_verifies_across_restarts_and_from_a_record() {
        let log = Log::of(5);
        assert_eq!(log.verify(None), intact(1, 5, 0));
        log.append(2);
        assert_eq!(log.verify(None), intact(1, 7, 0));
        assert_eq!(log.verify(Some(3)), intact(3, 7, 0));
        let empty = Log::of(0);
        assert_eq!(
            empty.verify(None),
            Verification::Intact {
                range: None,
                unchained: 0
            }
        );
    }

    #[test]
    fn a_deleted_record_is_named() {
        let log = Log::of(5);
        log.tamper(|batch| batch.delete(Column::Audit, &3u64.to_be_bytes()).unwrap());
        let verdict = log.verify(None);
        assert_eq!(broken_at(&verdict), 3, "{verdict:?}");
        let first = Log::of(3);
        first.tamper(|batch| batch.delete(Column::Audit, &1u64.to_be_bytes()).unwrap());
        assert_eq!(broken_at(&first.verify(None)), 1);
    }

    #[test]
    fn a_truncated_log_is_named_even_after_the_core_wrote_more() {
        let log = Log::of(5);
        log.tamper(|batch| {
            for sequence in [4u64, 5] {
                batch
                    .delete(Column::Audit, &sequence.to_be_bytes())
                    .unwrap();
            }
        });
        let verdict = log.verify(None);
        assert_eq!(broken_at(&verdict), 4, "{verdict:?}");
        // The next start numbers on from the checkpoint: the gap stays.
        log.append(1);
        assert_eq!(broken_at(&log.verify(None)), 4);
        assert!(
            log.store
                .get_plain(Column::Audit, &6u64.to_be_bytes())
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_modified_or_moved_record_does_not_open() {
        let log = Log::of(5);
        let mut garbage = log.raw(2);
        let last = garbage.len() - 1;
        garbage[last] ^= 1;
        log.tamper(|batch| {
            batch
                .put_plain(Column::Audit, &2u64.to_be_bytes(), &garbage)
                .unwrap()
        });
        assert_eq!(broken_at(&log.verify(None)), 2);

        // Swapped as stored: each is bound to its own key.
        let log = Log::of(5);
        let (third, fourth) = (log.raw(3), log.raw(4));
        log.tamper(|batch| {
            batch
                .put_plain(Column::Audit, &3u64.to_be_bytes(), &fourth)
                .unwrap();
            batch
                .put_plain(Column::Audit, &4u64.to_be_bytes(), &third)
                .unwrap();
        });
        assert_eq!(broken_at(&log.verify(None)), 3);
    }

    #[test]
    fn records_reordered_replaced_or_inserted_with_the_key_break_the_chain() {
        // Reordered by someone holding the record key: sealed anew, each at the other's place.
        let log = Log::of(5);
        let (second, third) = (log.entry(2), log.entry(3));
        log.tamper(|batch| {
            batch
                .put_sealed(Column::Audit, &2u64.to_be_bytes(), &third)
                .unwrap();
            batch
                .put_sealed(Column::Audit, &3u64.to_be_bytes(), &second)
                .unwrap();
        });
        let verdict = log.verify(None);
        assert_eq!(broken_at(&verdict), 2, "{verdict:?}");

        // Replaced: another operation in its place.
        let log = Log::of(5);
        let mut replaced = log.entry(4);
        replaced.operation = Operation::Seal.into();
        log.tamper(|batch| {
            batch
                .put_sealed(Column::Audit, &4u64.to_be_bytes(), &replaced)
                .unwrap();
        });
        assert_eq!(broken_at(&log.verify(None)), 5);

        // Inserted after the end, not linked to it.
        let log = Log::of(5);
        let mut forged = log.entry(5);
        forged.previous = Some(GENESIS);
        log.tamper(|batch| {
            batch
                .put_sealed(Column::Audit, &6u64.to_be_bytes(), &forged)
                .unwrap();
        });
        assert_eq!(broken_at(&log.verify(None)), 6);

        // The last record replaced: only the checkpoint knows.
        let log = Log::of(5);
        let mut last = log.entry(5);
        last.caller = "someone else".to_owned();
        log.tamper(|batch| {
            batch
                .put_sealed(Column::Audit, &5u64.to_be_bytes(), &last)
                .unwrap();
        });
        assert_eq!(broken_at(&log.verify(None)), 5);
    }

    #[test]
    fn a_missing_or_modified_checkpoint_is_reported() {
        let log = Log::of(3);
        log.tamper(|batch| batch.delete(Column::Meta, CHECKPOINT_KEY).unwrap());
        assert_eq!(broken_at(&log.verify(None)), 3);
        let log = Log::of(3);
        let mut garbage = log
            .store
            .get_plain(Column::Meta, CHECKPOINT_KEY)
            .unwrap()
            .unwrap()
            .to_vec();
        garbage[0] ^= 1;
        log.tamper(|batch| {
            batch
                .put_plain(Column::Meta, CHECKPOINT_KEY, &garbage)
                .unwrap()
        });
        assert_eq!(broken_at(&log.verify(None)), 0);
    }

    #[test]
    fn records_from_before_the_chain_are_counted_and_the_chain_links_to_them() {
        let log = Log::of(0);
        let old = |time| AuditEntry {
            time_unix_millis: time,
            operation: Operation::Status.into(),
            caller: "uid=0".to_owned(),
            subject: None,
            refused: None,
            correlation: None,
            previous: None,
        };
        // A gap (a failed write, as the old log allowed) among them.
        log.tamper(|batch| {
            for sequence in [1u64, 2, 4] {
                batch
                    .put_sealed(Column::Audit, &sequence.to_be_bytes(), &old(sequence))
                    .unwrap();
            }
        });
        log.append(2);
        assert_eq!(log.verify(None), intact(1, 6, 3));
        assert_eq!(
            log.entry(5).previous,
            Some(chain_hash(4, &log.entry(4)).unwrap())
        );
    }
}
