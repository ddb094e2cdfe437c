//! The core's persistent state: one RocksDB database under the data directory, with a column
//! family per kind of record.
//!
//! Every value except the install metadata is CBOR sealed under the master key's record key
//! (see [`sealed_record`]), so nothing secret reaches the disk in plaintext. Every write is
//! synced to the write-ahead log before it returns: a caller told "done" keeps its write
//! through a crash or `kill -9`. Writers never take a lock of ours, so RocksDB groups
//! concurrent writers into one WAL write and one sync.

pub(crate) mod column;
pub(crate) mod key;
mod sealed_record;

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBRecoveryMode, Direction, IteratorMode, Options,
    WriteBatch, WriteOptions,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::error::{Bug, Error};
pub(crate) use column::Column;
pub(crate) use sealed_record::SealingKeys;

/// Old info logs RocksDB keeps in the data directory.
const KEEP_INFO_LOGS: usize = 10;

/// The database, open.
pub(crate) struct Store {
    db: DB,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

/// Where a scan starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scan<'a> {
    /// The first records at or after this key, in key order.
    From(&'a [u8]),
    /// The records with the greatest keys, returned in key order.
    Last,
    /// The records at or after `from` whose keys start with `prefix`, in key order.
    Within { prefix: &'a [u8], from: &'a [u8] },
}

/// A record read back: its key and its opened value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry<T> {
    pub(crate) key: Box<[u8]>,
    pub(crate) value: T,
}

/// What one step of a re-seal did.
#[derive(Debug)]
pub(crate) struct Resealed {
    /// Where the next step starts; `None`: the column is done.
    pub(crate) next: Option<Box<[u8]>>,
    /// How many records this step re-sealed.
    pub(crate) resealed: usize,
}

/// Writes that commit together, durably, or not at all.
pub(crate) struct Batch<'a> {
    store: &'a Store,
    keys: &'a dyn SealingKeys,
    batch: WriteBatch,
    /// The audit record of this write, numbered and chained only as it commits
    /// ([`AuditLog::stage`](crate::audit::AuditLog::stage)).
    audit: Option<Box<dyn Numbered>>,
}

/// A record numbered only as its write commits, in commit order (the audit log's next record):
/// it adds itself to the write, writes it, and returns its number.
pub(crate) trait Numbered: Send + std::fmt::Debug {
    /// Adds the record to `batch` and writes it.
    fn commit(self: Box<Self>, batch: Batch<'_>) -> Result<u64, Error>;
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("writes", &self.batch.len())
            .finish_non_exhaustive()
    }
}

impl Batch<'_> {
    /// The store this batch writes to.
    pub(crate) fn store(&self) -> &Store {
        self.store
    }

    /// The keys this batch seals under.
    pub(crate) fn keys(&self) -> &dyn SealingKeys {
        self.keys
    }

    /// Makes `record` this write's audit record. One to a write: the chain links writes.
    pub(crate) fn add_audit(&mut self, record: Box<dyn Numbered>) -> Result<(), Error> {
        if self.audit.is_some() {
            return Err(Error::Internal(Bug::TwoAuditRecords));
        }
        self.audit = Some(record);
        Ok(())
    }

    /// Adds `value`, CBOR-encoded and sealed, at `record_key` in `column`.
    pub(crate) fn put_sealed<T: Serialize>(
        &mut self,
        column: Column,
        record_key: &[u8],
        value: &T,
    ) -> Result<(), Error> {
        self.put_sealed_with(self.keys, column, record_key, value)
    }

    /// Adds `value`, CBOR-encoded and sealed under `keys` rather than the batch's keys, at
    /// `record_key` in `column`.
    pub(crate) fn put_sealed_with<T: Serialize>(
        &mut self,
        keys: &dyn SealingKeys,
        column: Column,
        record_key: &[u8],
        value: &T,
    ) -> Result<(), Error> {
        let plaintext = encode(value)?;
        self.put_plaintext_with(keys, column, record_key, &plaintext)
    }

    /// Adds `plaintext`, a value its caller encoded already (the audit log, which hashes the
    /// same bytes), sealed at `record_key` in `column`.
    pub(crate) fn put_sealed_encoded(
        &mut self,
        column: Column,
        record_key: &[u8],
        plaintext: &[u8],
    ) -> Result<(), Error> {
        self.put_plaintext_with(self.keys, column, record_key, plaintext)
    }

    fn put_plaintext_with(
        &mut self,
        keys: &dyn SealingKeys,
        column: Column,
        record_key: &[u8],
        plaintext: &[u8],
    ) -> Result<(), Error> {
        let sealed = sealed_record::seal(keys, column, record_key, plaintext)?;
        self.batch
            .put_cf(self.store.family(column)?, record_key, sealed);
        Ok(())
    }

    /// Adds `value` as it is. Only for records that hold no secret and are authenticated by
    /// their own means (the install metadata, which must be readable before unseal).
    pub(crate) fn put_plain(
        &mut self,
        column: Column,
        record_key: &[u8],
        value: &[u8],
    ) -> Result<(), Error> {
        self.batch
            .put_cf(self.store.family(column)?, record_key, value);
        Ok(())
    }

    /// Removes the record at `record_key` in `column`.
    pub(crate) fn delete(&mut self, column: Column, record_key: &[u8]) -> Result<(), Error> {
        self.batch.delete_cf(self.store.family(column)?, record_key);
        Ok(())
    }

    /// Removes every record of `column` whose key starts with `prefix`.
    pub(crate) fn delete_prefix(&mut self, column: Column, prefix: &[u8]) -> Result<(), Error> {
        let family = self.store.family(column)?;
        if let Some(end) = prefix_end(prefix) {
            self.batch.delete_range_cf(family, prefix, &end[..]);
            return Ok(());
        }
        // A prefix of 0xff bytes only has no end key: delete what the scan finds.
        let keys = self
            .store
            .db
            .iterator_cf(family, IteratorMode::From(prefix, Direction::Forward));
        for item in keys {
            let (key, _) = item.map_err(|source| Error::Store {
                context: "scanning",
                source,
            })?;
            if !key.starts_with(prefix) {
                break;
            }
            self.batch.delete_cf(family, key);
        }
        Ok(())
    }

    /// Commits the batch: it is in the synced WAL when this returns `Ok`.
    pub(crate) fn commit(self) -> Result<(), Error> {
        self.commit_maybe_audited().map(drop)
    }

    /// Commits the batch with its audit record; returns the record's sequence number.
    pub(crate) fn commit_audited(self) -> Result<u64, Error> {
        self.commit_maybe_audited()?
            .ok_or(Error::Internal(Bug::NoAuditRecord))
    }

    /// Commits; the audit record, if any, is numbered and chained in commit order, and its
    /// sequence number returned.
    pub(crate) fn commit_maybe_audited(mut self) -> Result<Option<u64>, Error> {
        match self.audit.take() {
            None => self.write().map(|()| None),
            Some(record) => record.commit(self).map(Some),
        }
    }

    /// Writes the batch as it is, synced.
    pub(crate) fn write(self) -> Result<(), Error> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.store
            .db
            .write_opt(self.batch, &options)
            .map_err(|source| Error::Store {
                context: "writing",
                source,
            })
    }
}

/// The least key greater than every key that starts with `prefix`, if there is one.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Store {
    /// Opens the database in `dir`, creating it and its column families if missing.
    pub(crate) fn open(dir: &Path) -> Result<Self, Error> {
        // Only the core's user may enter a directory it makes (`kryptonctl doctor` checks it).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| Error::Io {
                context: "creating the data directory",
                source,
            })?;
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_keep_log_file_num(KEEP_INFO_LOGS);
        // Every acknowledged write was synced, so replay up to the last intact WAL record:
        // only a write that was never acknowledged can be torn.
        options.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
        let families = Column::ALL
            .iter()
            .map(|c| ColumnFamilyDescriptor::new(c.name(), Options::default()));
        let db =
            DB::open_cf_descriptors(&options, dir, families).map_err(|source| Error::Store {
                context: "opening the database",
                source,
            })?;
        Ok(Self { db })
    }

    /// The directory the database lives in.
    pub(crate) fn dir(&self) -> &Path {
        self.db.path()
    }

    /// Writes a consistent snapshot of the database to `into` (which must not exist), while
    /// it serves: a RocksDB checkpoint, hard links of the immutable files where it can.
    pub(crate) fn checkpoint(&self, into: &Path) -> Result<(), Error> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|checkpoint| checkpoint.create_checkpoint(into))
            .map_err(|source| Error::Store {
                context: "taking a checkpoint",
                source,
            })
    }

    /// Starts a batch of writes whose sealed records are sealed under `keys`.
    pub(crate) fn batch<'a>(&'a self, keys: &'a dyn SealingKeys) -> Batch<'a> {
        Batch {
            store: self,
            keys,
            batch: WriteBatch::default(),
            audit: None,
        }
    }

    /// Reads the value at `record_key` in `column` as it is stored.
    pub(crate) fn get_plain(
        &self,
        column: Column,
        record_key: &[u8],
    ) -> Result<Option<Vec<u8>>, Error> {
        self.db
            .get_cf(self.family(column)?, record_key)
            .map_err(|source| Error::Store {
                context: "reading",
                source,
            })
    }

    /// Reads and opens the sealed record at `record_key` in `column`, if there is one. A record
    /// that fails to open is [`Error::TamperedRecord`]: it is never returned.
    pub(crate) fn get_sealed<T: DeserializeOwned>(
        &self,
        key: &dyn SealingKeys,
        column: Column,
        record_key: &[u8],
    ) -> Result<Option<T>, Error> {
        self.get_plain(column, record_key)?
            .map(|sealed| open_record(key, column, record_key, &sealed))
            .transpose()
    }

    /// Reads and opens up to `limit` sealed records of `column`, in key order. A record that
    /// fails to open stops the scan with [`Error::TamperedRecord`]: it is never returned.
    pub(crate) fn scan_sealed<T: DeserializeOwned>(
        &self,
        key: &dyn SealingKeys,
        column: Column,
        scan: Scan<'_>,
        limit: usize,
    ) -> Result<Vec<Entry<T>>, Error> {
        let (mode, prefix) = match scan {
            Scan::From(start) => (IteratorMode::From(start, Direction::Forward), &[][..]),
            Scan::Last => (IteratorMode::End, &[][..]),
            Scan::Within { prefix, from } => (
                IteratorMode::From(from.max(prefix), Direction::Forward),
                prefix,
            ),
        };
        let mut records = self
            .db
            .iterator_cf(self.family(column)?, mode)
            .take_while(|item| {
                item.as_ref()
                    .map_or(true, |(record_key, _)| record_key.starts_with(prefix))
            })
            .take(limit)
            .map(|item| {
                let (record_key, sealed) = item.map_err(|source| Error::Store {
                    context: "scanning",
                    source,
                })?;
                let value = open_record(key, column, &record_key, &sealed)?;
                Ok(Entry {
                    key: record_key,
                    value,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        if matches!(scan, Scan::Last) {
            records.reverse();
        }
        Ok(records)
    }

    /// Reads and opens the sealed records of `column` whose keys start with `prefix`, in key
    /// order; more than `limit` of them is an error, not a silent truncation.
    pub(crate) fn scan_prefix_sealed<T: DeserializeOwned>(
        &self,
        key: &dyn SealingKeys,
        column: Column,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry<T>>, Error> {
        let mut records = Vec::new();
        let iter = self.db.iterator_cf(
            self.family(column)?,
            IteratorMode::From(prefix, Direction::Forward),
        );
        for item in iter {
            let (record_key, sealed) = item.map_err(|source| Error::Store {
                context: "scanning",
                source,
            })?;
            if !record_key.starts_with(prefix) {
                break;
            }
            if records.len() == limit {
                return Err(Error::Internal(Bug::TooManyRecords { column, limit }));
            }
            let value = open_record(key, column, &record_key, &sealed)?;
            records.push(Entry {
                key: record_key,
                value,
            });
        }
        Ok(records)
    }

    /// Flushes `column` and compacts it whole, so deleted records leave the files on disk
    /// now rather than at some later compaction: how a destroyed tenant's wrapped keys are
    /// shredded.
    pub(crate) fn purge_deleted(&self, column: Column) -> Result<(), Error> {
        let family = self.family(column)?;
        let failed = |source| Error::Store {
            context: "purging deleted records",
            source,
        };
        self.db.flush_cf(family).map_err(failed)?;
        self.db
            .compact_range_cf(family, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }

    /// The greatest key in `column`, if any.
    pub(crate) fn last_key(&self, column: Column) -> Result<Option<Box<[u8]>>, Error> {
        self.db
            .iterator_cf(self.family(column)?, IteratorMode::End)
            .next()
            .transpose()
            .map(|entry| entry.map(|(key, _)| key))
            .map_err(|source| Error::Store {
                context: "scanning",
                source,
            })
    }

    /// How many records `column` holds.
    pub(crate) fn count(&self, column: Column) -> Result<u64, Error> {
        let mut iter = self.db.raw_iterator_cf(self.family(column)?);
        iter.seek_to_first();
        let mut count = 0;
        while iter.valid() {
            count += 1;
            iter.next();
        }
        iter.status().map_err(|source| Error::Store {
            context: "counting",
            source,
        })?;
        Ok(count)
    }

    /// Re-seals under the sealing version of `keys` the records of `column` sealed under an
    /// older version, among the first `limit` at or after `from` whose keys start with
    /// `prefix`, in one durable write.
    ///
    /// The plaintext is never decoded, only opened and sealed again. The caller must keep
    /// every other writer of `column` out until this returns: a record rewritten between
    /// this read and this write would be put back as it was.
    pub(crate) fn reseal(
        &self,
        keys: &dyn SealingKeys,
        column: Column,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Resealed, Error> {
        let family = self.family(column)?;
        let (current, _) = keys.sealing();
        let mut batch = self.batch(keys);
        let (mut scanned, mut resealed) = (0, 0);
        let mut last = None;
        let iter = self.db.iterator_cf(
            family,
            IteratorMode::From(from.max(prefix), Direction::Forward),
        );
        for item in iter.take(limit) {
            let (record_key, sealed) = item.map_err(|source| Error::Store {
                context: "scanning",
                source,
            })?;
            if !record_key.starts_with(prefix) {
                break;
            }
            scanned += 1;
            if sealed_record::key_version(&sealed) != Some(current) {
                let plaintext = open_raw(keys, column, &record_key, &sealed)?;
                let sealed = sealed_record::seal(keys, column, &record_key, &plaintext)?;
                batch.batch.put_cf(family, &record_key, sealed);
                resealed += 1;
            }
            last = Some(record_key);
        }
        if resealed > 0 {
            batch.commit()?;
        }
        // Fewer than `limit` records: the scan reached the end of the column or of `prefix`.
        let next = last.filter(|_| scanned == limit).map(|key| {
            let mut next = key.into_vec();
            next.push(0);
            next.into_boxed_slice()
        });
        Ok(Resealed { next, resealed })
    }

    /// The key version every record of `column` claims, in key order: what a test checks a
    /// re-seal against without opening anything.
    #[cfg(test)]
    pub(crate) fn key_versions(&self, column: Column) -> Vec<Option<u32>> {
        self.db
            .iterator_cf(self.family(column).unwrap(), IteratorMode::Start)
            .map(|item| sealed_record::key_version(&item.unwrap().1))
            .collect()
    }

    fn family(&self, column: Column) -> Result<&ColumnFamily, Error> {
        self.db
            .cf_handle(column.name())
            .ok_or(Error::Internal(Bug::MissingColumnFamily(column)))
    }
}

fn open_record<T: DeserializeOwned>(
    key: &dyn SealingKeys,
    column: Column,
    record_key: &[u8],
    sealed: &[u8],
) -> Result<T, Error> {
    let plaintext = open_raw(key, column, record_key, sealed)?;
    // The record authenticated, so we wrote it: a decoding failure is our bug, not an attack.
    ciborium::from_reader(plaintext.as_slice())
        .map_err(|source| Error::Internal(Bug::RecordDecode { column, source }))
}

/// The plaintext of a record, or [`Error::TamperedRecord`].
fn open_raw(
    keys: &dyn SealingKeys,
    column: Column,
    record_key: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    sealed_record::open(keys, column, record_key, sealed).map_err(|_| Error::TamperedRecord {
        column,
        key: record_key.into(),
    })
}

/// CBOR-encodes `value` into a buffer sized exactly once, so that no reallocation leaves a
/// plaintext copy in freed memory; the buffer is wiped when dropped.
fn encode<T: Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut counter = ByteCounter(0);
    ciborium::into_writer(value, &mut counter)
        .map_err(|source| Error::Internal(Bug::RecordEncode(source)))?;
    let mut buffer = Zeroizing::new(Vec::with_capacity(counter.0));
    ciborium::into_writer(value, &mut *buffer)
        .map_err(|source| Error::Internal(Bug::RecordEncode(source)))?;
    Ok(buffer)
}

/// A writer that only counts what it is given.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{SecretKey, WhenIdle};
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        name: String,
        n: u64,
    }

    fn record(n: u64) -> Record {
        Record {
            name: format!("record {n}"),
            n,
        }
    }

    fn put(store: &Store, key: &SecretKey, column: Column, record_key: &[u8], n: u64) {
        let mut batch = store.batch(key);
        batch.put_sealed(column, record_key, &record(n)).unwrap();
        batch.commit().unwrap();
    }

    #[test]
    fn sealed_records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            put(&store, &key, Column::Audit, b"a", 1);
        }
        let store = Store::open(dir.path()).unwrap();
        let got: Vec<Entry<Record>> = store
            .scan_sealed(&key, Column::Audit, Scan::From(b""), 10)
            .unwrap();
        assert_eq!(
            got,
            [Entry {
                key: b"a".as_slice().into(),
                value: record(1)
            }]
        );
    }

    #[test]
    fn scans_are_bounded_and_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let store = Store::open(dir.path()).unwrap();
        for n in 1..=5u64 {
            put(&store, &key, Column::Audit, &n.to_be_bytes(), n);
        }
        let numbers = |records: Vec<Entry<Record>>| -> Vec<u64> {
            records.into_iter().map(|entry| entry.value.n).collect()
        };
        let first = store
            .scan_sealed(&key, Column::Audit, Scan::From(&2u64.to_be_bytes()), 2)
            .unwrap();
        assert_eq!(numbers(first), [2, 3]);
        let last = store
            .scan_sealed(&key, Column::Audit, Scan::Last, 3)
            .unwrap();
        assert_eq!(numbers(last), [3, 4, 5]);
        assert_eq!(store.count(Column::Audit).unwrap(), 5);
        assert_eq!(store.count(Column::Tenants).unwrap(), 0);
        assert_eq!(
            store.last_key(Column::Audit).unwrap().as_deref(),
            Some(&5u64.to_be_bytes()[..])
        );
        assert_eq!(store.last_key(Column::Objects).unwrap(), None);
    }

    #[test]
    fn a_record_moved_to_another_key_is_reported_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let store = Store::open(dir.path()).unwrap();
        put(&store, &key, Column::Audit, b"a", 1);
        let sealed = store.get_plain(Column::Audit, b"a").unwrap().unwrap();
        let mut batch = store.batch(&key);
        batch.put_plain(Column::Audit, b"b", &sealed).unwrap();
        batch.put_plain(Column::Services, b"a", &sealed).unwrap();
        batch.commit().unwrap();
        // The genuine record at "a" still opens; the copies at "b" and in services do not.
        let genuine = store
            .scan_sealed::<Record>(&key, Column::Audit, Scan::From(b""), 1)
            .unwrap();
        assert_eq!(genuine.len(), 1);
        for (column, start) in [(Column::Audit, b"b"), (Column::Services, b"a")] {
            let err = store
                .scan_sealed::<Record>(&key, column, Scan::From(start), 10)
                .unwrap_err();
            assert!(
                matches!(&err, Error::TamperedRecord { column: c, key: k } if *c == column && **k == *start),
                "{err}"
            );
        }
    }

    #[test]
    fn encoding_is_sized_exactly() {
        let buffer = encode(&record(7)).unwrap();
        assert_eq!(buffer.len(), buffer.capacity());
    }
}
