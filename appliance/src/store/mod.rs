//! The core's persistent state: a record per key in one of a few [`Column`]s, on a backend
//! chosen in `[store]`: a RocksDB database under the data directory (one machine, the default)
//! or a PostgreSQL database ([`StoreConfig`]).
//!
//! Every value except the install metadata is CBOR sealed under the master key's record key
//! (see [`sealed_record`]), so nothing secret reaches either backend in plaintext, and a sealed
//! record is bound to its column and key, not to the backend: `krypton-core store copy` moves
//! records as they are. Every write is durable before it returns (RocksDB's synced WAL,
//! PostgreSQL's synchronous commit): a caller told "done" keeps its write through a crash or
//! `kill -9`.

pub(crate) mod column;
mod config;
mod copy;
pub(crate) mod key;
mod postgres;
mod rocks;
mod sealed_record;

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use krypton_service::postgres::PostgresError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::error::{Bug, Error};
pub(crate) use column::Column;
pub use config::{ClientCertificate, PostgresStoreConfig, StoreConfig};
pub use copy::{CopyReport, copy};
pub(crate) use sealed_record::SealingKeys;

/// Why a backend failed a call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// RocksDB failed.
    #[error("RocksDB failed")]
    RocksDb(#[source] rocksdb::Error),
    /// PostgreSQL could not be reached, refused the settings, or failed a statement.
    #[error("PostgreSQL failed")]
    Postgres(#[source] Box<PostgresError>),
    /// PostgreSQL did not answer in time.
    #[error("no answer from PostgreSQL within {0:?}")]
    Timeout(Duration),
    /// Another core holds this store: one core at a time serves it.
    #[error("another core holds this store's ownership lock: one core per store")]
    Owned,
    /// This core held the store and lost it (its lock's session ended, or another core took
    /// the store over): it serves no more.
    #[error("this core lost the store's ownership")]
    OwnershipLost,
    /// The leading core changed the installation (the master key's record key versions, the
    /// shares): a core that follows stops, and opens it again when it is started again.
    #[error("the leading core changed the installation: this core stops, to be started again")]
    InstallationChanged,
    /// This core follows the core that leads the store: it changes nothing but the audit log.
    #[error("this core follows another that leads the store: only the leading core makes changes")]
    Following,
    /// A copy's target holds another installation's records.
    #[error("the target store holds another installation")]
    OtherInstallation,
    /// A copy's target does not hold what its source does.
    #[error("the copy differs from its source in column {0}")]
    CopyDiffers(Column),
}

/// The database, open.
pub(crate) struct Store {
    backend: Backend,
}

/// Where the records are.
enum Backend {
    Rocks(rocks::Rocks),
    Postgres(postgres::Postgres),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            Backend::Rocks(rocks) => f
                .debug_struct("Store")
                .field("path", &rocks.dir())
                .finish_non_exhaustive(),
            Backend::Postgres(postgres) => f.debug_tuple("Store").field(postgres).finish(),
        }
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

/// What a backend scans: the records at or after `start` whose keys begin with `prefix`, in
/// key order; or those with the greatest keys, greatest first.
#[derive(Debug, Clone, Copy)]
enum Range<'a> {
    From { start: &'a [u8], prefix: &'a [u8] },
    Last,
}

impl<'a> From<Scan<'a>> for Range<'a> {
    fn from(scan: Scan<'a>) -> Self {
        match scan {
            Scan::From(start) => Range::From { start, prefix: &[] },
            Scan::Last => Range::Last,
            Scan::Within { prefix, from } => Range::From {
                start: from,
                prefix,
            },
        }
    }
}

/// A record as a backend stores it: its key and its sealed (or plain) value.
type Raw = (Box<[u8]>, Vec<u8>);

/// One change of a [`Batch`], as a backend applies it.
#[derive(Debug)]
enum Write {
    Put {
        column: Column,
        key: Box<[u8]>,
        value: Vec<u8>,
    },
    Delete {
        column: Column,
        key: Box<[u8]>,
    },
    DeletePrefix {
        column: Column,
        prefix: Box<[u8]>,
    },
}

/// A record the leading core changed, as a follower learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) column: Column,
    pub(crate) key: Box<[u8]>,
}

/// A turn at appending to a chain of records (the audit log) that several cores may append
/// to: the chain's head and tail as read under the chain's lock, which is held until the
/// write made with [`Batch::write_in`] commits. On RocksDB there is none: one process writes,
/// and the chain's own lock orders its writes.
#[derive(Debug)]
pub(crate) struct ChainTurn {
    turn: postgres::ChainTurn,
    head: (Column, Box<[u8]>),
    tail: Column,
}

impl ChainTurn {
    /// The chain's head record, opened.
    pub(crate) fn head<T: DeserializeOwned>(
        &self,
        keys: &dyn SealingKeys,
    ) -> Result<Option<T>, Error> {
        let (column, key) = (self.head.0, &self.head.1);
        self.turn
            .head
            .as_ref()
            .map(|sealed| open_record(keys, column, key, sealed))
            .transpose()
    }

    /// The last record of the chain, opened.
    pub(crate) fn tail<T: DeserializeOwned>(
        &self,
        keys: &dyn SealingKeys,
    ) -> Result<Option<Entry<T>>, Error> {
        let tail = self.turn.tail.clone();
        Ok(open_all(keys, self.tail, tail.into_iter().collect())?.pop())
    }

    /// The key of the last record of the chain.
    pub(crate) fn tail_key(&self) -> Option<&[u8]> {
        self.turn.tail.as_ref().map(|(key, _)| &**key)
    }
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
    writes: Vec<Write>,
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
            .field("writes", &self.writes.len())
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
        self.put_plain(column, record_key, &sealed)
    }

    /// Adds `value` as it is. Only for records that hold no secret and are authenticated by
    /// their own means (the install metadata, which must be readable before unseal), and for
    /// sealed records moved as they are.
    pub(crate) fn put_plain(
        &mut self,
        column: Column,
        record_key: &[u8],
        value: &[u8],
    ) -> Result<(), Error> {
        self.writes.push(Write::Put {
            column,
            key: record_key.into(),
            value: value.to_vec(),
        });
        Ok(())
    }

    /// Removes the record at `record_key` in `column`.
    pub(crate) fn delete(&mut self, column: Column, record_key: &[u8]) -> Result<(), Error> {
        self.writes.push(Write::Delete {
            column,
            key: record_key.into(),
        });
        Ok(())
    }

    /// Removes every record of `column` whose key starts with `prefix`.
    pub(crate) fn delete_prefix(&mut self, column: Column, prefix: &[u8]) -> Result<(), Error> {
        self.writes.push(Write::DeletePrefix {
            column,
            prefix: prefix.into(),
        });
        Ok(())
    }

    /// Commits the batch: it is durable when this returns `Ok`.
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

    /// Writes the batch as it is, durably.
    pub(crate) fn write(self) -> Result<(), Error> {
        self.store.write(self.writes)
    }

    /// Writes the batch as it is, durably, within `turn` at the chain it appends to.
    pub(crate) fn write_in(self, turn: ChainTurn) -> Result<(), Error> {
        match &self.store.backend {
            Backend::Postgres(postgres) => turn.turn.commit(postgres, self.writes),
            // A turn is only had on PostgreSQL.
            Backend::Rocks(_) => self.write(),
        }
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

/// The least key greater than `key`.
fn after(key: Box<[u8]>) -> Box<[u8]> {
    let mut next = key.into_vec();
    next.push(0);
    next.into_boxed_slice()
}

impl Store {
    /// Opens the RocksDB database in `dir`, creating it and its column families if missing.
    pub(crate) fn open(dir: &Path) -> Result<Self, Error> {
        rocks::Rocks::open(dir).map(|rocks| Self {
            backend: Backend::Rocks(rocks),
        })
    }

    /// Opens the store `config` names: RocksDB in `data_dir`, or a PostgreSQL database. A
    /// standby waits until it owns the store, or until `cancel` turns true.
    pub(crate) fn open_configured(
        config: &StoreConfig,
        data_dir: &Path,
        cancel: &AtomicBool,
    ) -> Result<Self, Error> {
        match config {
            StoreConfig::Rocksdb {} => Self::open(data_dir),
            StoreConfig::Postgres(settings) => {
                postgres::Postgres::connect(settings, cancel).map(|postgres| Self {
                    backend: Backend::Postgres(postgres),
                })
            }
        }
    }

    /// Whether other cores may serve this store too: PostgreSQL's (RocksDB's belongs to this
    /// process).
    pub(crate) fn shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Whether this core leads its store, making changes (always, on RocksDB); else it
    /// follows the core that does.
    pub(crate) fn leads(&self) -> bool {
        match &self.backend {
            Backend::Rocks(_) => true,
            Backend::Postgres(postgres) => postgres.leads(),
        }
    }

    /// The changes the other cores on the store make: `None` on RocksDB (one core), and after
    /// the first call.
    pub(crate) fn changes(&self) -> Option<tokio::sync::mpsc::Receiver<Vec<Change>>> {
        match &self.backend {
            Backend::Rocks(_) => None,
            Backend::Postgres(postgres) => postgres.changes(),
        }
    }

    /// Turns true when this core leads its store: at once on RocksDB, or for a core that took
    /// its PostgreSQL store; when a follower takes it over.
    pub(crate) fn leading(&self) -> tokio::sync::watch::Receiver<bool> {
        match &self.backend {
            Backend::Rocks(_) => tokio::sync::watch::channel(true).1,
            Backend::Postgres(postgres) => postgres.leading(),
        }
    }

    /// A turn at appending to the chain whose head record is `head` and whose records are
    /// `tail`'s: `None` on RocksDB, where one process writes.
    pub(crate) fn chain_turn(
        &self,
        head: (Column, &[u8]),
        tail: Column,
    ) -> Result<Option<ChainTurn>, Error> {
        match &self.backend {
            Backend::Rocks(_) => Ok(None),
            Backend::Postgres(postgres) => Ok(Some(ChainTurn {
                turn: postgres.chain_turn(head, tail)?,
                head: (head.0, head.1.into()),
                tail,
            })),
        }
    }

    /// Completes when this core has lost the store to another (never, for RocksDB, whose lock
    /// file is held by the process itself).
    pub(crate) fn ownership_lost(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match &self.backend {
            Backend::Rocks(_) => Box::pin(std::future::pending()),
            Backend::Postgres(postgres) => Box::pin(postgres.ownership_lost()),
        }
    }

    /// The directory a checkpoint of the store is taken in: RocksDB's. A store in PostgreSQL
    /// is backed up with PostgreSQL's own tools.
    pub(crate) fn checkpoint_dir(&self) -> Result<&Path, Error> {
        match &self.backend {
            Backend::Rocks(rocks) => Ok(rocks.dir()),
            Backend::Postgres(_) => Err(Error::BackupOnPostgres),
        }
    }

    /// Writes a consistent snapshot of the database to `into` (which must not exist), while
    /// it serves: a RocksDB checkpoint, hard links of the immutable files where it can.
    pub(crate) fn checkpoint(&self, into: &Path) -> Result<(), Error> {
        match &self.backend {
            Backend::Rocks(rocks) => rocks.checkpoint(into),
            Backend::Postgres(_) => Err(Error::BackupOnPostgres),
        }
    }

    /// Starts a batch of writes whose sealed records are sealed under `keys`.
    pub(crate) fn batch<'a>(&'a self, keys: &'a dyn SealingKeys) -> Batch<'a> {
        Batch {
            store: self,
            keys,
            writes: Vec::new(),
            audit: None,
        }
    }

    /// Applies `writes` durably, all or none.
    fn write(&self, writes: Vec<Write>) -> Result<(), Error> {
        match &self.backend {
            Backend::Rocks(rocks) => rocks.write(&writes),
            Backend::Postgres(postgres) => postgres.write(writes),
        }
    }

    /// Reads the value at `record_key` in `column` as it is stored.
    pub(crate) fn get_plain(
        &self,
        column: Column,
        record_key: &[u8],
    ) -> Result<Option<Vec<u8>>, Error> {
        match &self.backend {
            Backend::Rocks(rocks) => rocks.get(column, record_key),
            Backend::Postgres(postgres) => postgres.get(column, record_key),
        }
    }

    /// Up to `limit` records of `column` in `range`, as they are stored.
    fn scan_raw(&self, column: Column, range: Range<'_>, limit: usize) -> Result<Vec<Raw>, Error> {
        match &self.backend {
            Backend::Rocks(rocks) => rocks.scan(column, range, limit),
            Backend::Postgres(postgres) => postgres.scan(column, range, limit),
        }
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
        let mut records = self.scan_raw(column, scan.into(), limit)?;
        if matches!(scan, Scan::Last) {
            records.reverse();
        }
        open_all(key, column, records)
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
        let range = Range::From {
            start: prefix,
            prefix,
        };
        let records = self.scan_raw(column, range, limit.saturating_add(1))?;
        if records.len() > limit {
            return Err(Error::Internal(Bug::TooManyRecords { column, limit }));
        }
        open_all(key, column, records)
    }

    /// Has deleted records of `column` leave the backend's files now rather than later: how
    /// a destroyed tenant's wrapped keys are shredded. RocksDB flushes and compacts the
    /// column; PostgreSQL vacuums the table.
    pub(crate) fn purge_deleted(&self, column: Column) -> Result<(), Error> {
        match &self.backend {
            Backend::Rocks(rocks) => rocks.purge_deleted(column),
            Backend::Postgres(postgres) => postgres.purge_deleted(),
        }
    }

    /// The greatest key in `column`, if any.
    pub(crate) fn last_key(&self, column: Column) -> Result<Option<Box<[u8]>>, Error> {
        Ok(self
            .scan_raw(column, Range::Last, 1)?
            .pop()
            .map(|(key, _)| key))
    }

    /// How many records `column` holds.
    pub(crate) fn count(&self, column: Column) -> Result<u64, Error> {
        match &self.backend {
            Backend::Rocks(rocks) => rocks.count(column),
            Backend::Postgres(postgres) => postgres.count(column),
        }
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
        let (current, _) = keys.sealing();
        let records = self.scan_raw(
            column,
            Range::From {
                start: from,
                prefix,
            },
            limit,
        )?;
        let scanned = records.len();
        let mut batch = self.batch(keys);
        let mut resealed = 0;
        let mut last = None;
        for (record_key, sealed) in records {
            if sealed_record::key_version(&sealed) != Some(current) {
                let plaintext = open_raw(keys, column, &record_key, &sealed)?;
                let sealed = sealed_record::seal(keys, column, &record_key, &plaintext)?;
                batch.put_plain(column, &record_key, &sealed)?;
                resealed += 1;
            }
            last = Some(record_key);
        }
        if resealed > 0 {
            batch.commit()?;
        }
        // Fewer than `limit` records: the scan reached the end of the column or of `prefix`.
        let next = last.filter(|_| scanned == limit).map(after);
        Ok(Resealed { next, resealed })
    }

    /// The key version every record of `column` claims, in key order: what a test checks a
    /// re-seal against without opening anything.
    #[cfg(test)]
    pub(crate) fn key_versions(&self, column: Column) -> Vec<Option<u32>> {
        self.scan_raw(
            column,
            Range::From {
                start: &[],
                prefix: &[],
            },
            usize::MAX,
        )
        .unwrap()
        .iter()
        .map(|(_, sealed)| sealed_record::key_version(sealed))
        .collect()
    }
}

/// Opens every record of `records`, stopping at the first that fails.
fn open_all<T: DeserializeOwned>(
    key: &dyn SealingKeys,
    column: Column,
    records: Vec<Raw>,
) -> Result<Vec<Entry<T>>, Error> {
    records
        .into_iter()
        .map(|(record_key, sealed)| {
            let value = open_record(key, column, &record_key, &sealed)?;
            Ok(Entry {
                key: record_key,
                value,
            })
        })
        .collect()
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
    use krypton_dev::vault_server::PostgresServer;
    use krypton_service::secret_file::SecretSource;
    use serde::Deserialize;
    use std::sync::Arc;

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

    /// Opens one store again and again: at one place on one backend.
    type Opener = Box<dyn Fn() -> Result<Store, Error>>;

    /// The settings of a fresh database on the test binary's PostgreSQL server.
    fn postgres_settings() -> PostgresStoreConfig {
        postgres_database().1
    }

    /// A fresh database on the test binary's PostgreSQL server: its name and the settings of
    /// a store in it.
    fn postgres_database() -> (String, PostgresStoreConfig) {
        let server = PostgresServer::shared().unwrap();
        let database = server.create_database().unwrap();
        let mut settings = PostgresStoreConfig::new(server.url(&database));
        settings.password = Some(SecretSource::File(server.password_file().to_owned()));
        settings.request_timeout = Duration::from_secs(2);
        (database, settings)
    }

    fn open_postgres(settings: &PostgresStoreConfig) -> Result<Store, Error> {
        let config = StoreConfig::Postgres(settings.clone());
        Store::open_configured(&config, Path::new("/nonexistent"), &AtomicBool::new(false))
    }

    /// A fresh, empty store on each backend: RocksDB in a temporary directory, and a database
    /// of its own on the test binary's PostgreSQL server.
    fn each_backend() -> [(&'static str, Opener); 2] {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let config = StoreConfig::Postgres(postgres_settings());
        [
            ("rocksdb", Box::new(move || Store::open(dir.path()))),
            (
                "postgres",
                Box::new(move || {
                    Store::open_configured(
                        &config,
                        Path::new("/nonexistent"),
                        &AtomicBool::new(false),
                    )
                }),
            ),
        ]
    }

    #[test]
    fn sealed_records_survive_reopen() {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        for (backend, open) in each_backend() {
            {
                let store = open().unwrap();
                put(&store, &key, Column::Audit, b"a", 1);
            }
            let store = open().unwrap();
            let got: Vec<Entry<Record>> = store
                .scan_sealed(&key, Column::Audit, Scan::From(b""), 10)
                .unwrap();
            let expected = [Entry {
                key: b"a".as_slice().into(),
                value: record(1),
            }];
            assert_eq!(got, expected, "{backend}");
        }
    }

    #[test]
    fn scans_are_bounded_and_ordered() {
        for (backend, open) in each_backend() {
            scans_on(&open().unwrap(), backend);
        }
    }

    fn scans_on(store: &Store, backend: &str) {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        for n in 1..=5u64 {
            put(store, &key, Column::Audit, &n.to_be_bytes(), n);
        }
        let numbers = |records: Vec<Entry<Record>>| -> Vec<u64> {
            records.into_iter().map(|entry| entry.value.n).collect()
        };
        let first = store
            .scan_sealed(&key, Column::Audit, Scan::From(&2u64.to_be_bytes()), 2)
            .unwrap();
        assert_eq!(numbers(first), [2, 3], "{backend}");
        let last = store
            .scan_sealed(&key, Column::Audit, Scan::Last, 3)
            .unwrap();
        assert_eq!(numbers(last), [3, 4, 5], "{backend}");
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
        for (_, open) in each_backend() {
            moved_record_on(&open().unwrap());
        }
    }

    fn moved_record_on(store: &Store) {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        put(store, &key, Column::Audit, b"a", 1);
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
    fn prefixes_are_deleted_and_bounded_alike_on_both_backends() {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        for (backend, open) in each_backend() {
            let store = open().unwrap();
            for record_key in [
                &b"t/a/1"[..],
                b"t/a/2",
                b"t/b/1",
                b"\xff\xff",
                b"\xff\xff\x01",
            ] {
                put(&store, &key, Column::Registry, record_key, 1);
            }
            let prefix_of = |prefix: &[u8], limit| {
                store
                    .scan_prefix_sealed::<Record>(&key, Column::Registry, prefix, limit)
                    .map(|found| found.len())
            };
            assert_eq!(prefix_of(b"t/a/", 2).unwrap(), 2, "{backend}");
            assert!(
                matches!(
                    prefix_of(b"t/", 2),
                    Err(Error::Internal(Bug::TooManyRecords { .. }))
                ),
                "{backend}"
            );
            assert_eq!(prefix_of(b"\xff\xff", 5).unwrap(), 2, "{backend}");
            let mut batch = store.batch(&key);
            batch.delete_prefix(Column::Registry, b"t/a/").unwrap();
            batch.delete_prefix(Column::Registry, b"\xff\xff").unwrap();
            batch.delete(Column::Registry, b"t/b/1").unwrap();
            batch.commit().unwrap();
            assert_eq!(store.count(Column::Registry).unwrap(), 0, "{backend}");
            store.purge_deleted(Column::Registry).unwrap();
        }
    }

    #[test]
    fn a_postgres_store_has_one_core_at_a_time() {
        let config = StoreConfig::Postgres(postgres_settings());
        let open =
            || Store::open_configured(&config, Path::new("/nonexistent"), &AtomicBool::new(false));
        let first = open().unwrap();
        let refused = open().unwrap_err();
        assert!(
            matches!(
                &refused,
                Error::Store {
                    source: StoreError::Owned,
                    ..
                }
            ),
            "{refused:?}"
        );
        drop(first);
        // The first core's session ends as it goes; the next core waits for that, briefly.
        let second = open().unwrap();
        assert_eq!(second.count(Column::Audit).unwrap(), 0);
        assert!(matches!(
            second.checkpoint_dir(),
            Err(Error::BackupOnPostgres)
        ));
    }

    /// The changes `changes` delivers until `count` arrived, within a bound.
    fn changes_until(
        changes: &mut tokio::sync::mpsc::Receiver<Vec<Change>>,
        count: usize,
    ) -> Vec<Change> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while seen.len() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "only {seen:?} arrived"
            );
            match changes.try_recv() {
                Ok(page) => seen.extend(page),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        seen
    }

    /// A fresh database with a core leading it and one following: its name and both stores.
    fn leader_and_follower() -> (String, Store, Store) {
        let (database, settings) = postgres_database();
        let leader = open_postgres(&settings).unwrap();
        let following = PostgresStoreConfig {
            follow: true,
            ..settings
        };
        (database, leader, open_postgres(&following).unwrap())
    }

    #[test]
    fn a_follower_learns_the_leaders_changes_and_writes_only_audit_records() {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let (_, leader, follower) = leader_and_follower();
        assert!(leader.leads() && !follower.leads());
        let mut changes = follower.changes().unwrap();
        let mut at_leader = leader.changes().unwrap();

        let refused = write_refusal(&follower, &key, Column::Tenants);
        assert!(matches!(refused, StoreError::Following), "{refused:?}");
        assert_eq!(leader.count(Column::Tenants).unwrap(), 0);
        put(&follower, &key, Column::Audit, &1_u64.to_be_bytes(), 1);
        // An unlink asked through the follower reaches the leader, which carries it out.
        put(&follower, &key, Column::Unlinks, b"acme", 1);
        assert_eq!(
            changes_until(&mut at_leader, 1),
            [Change {
                column: Column::Unlinks,
                key: b"acme"[..].into(),
            }]
        );

        put(&leader, &key, Column::Registry, b"acme/not-held", 2);
        put(&leader, &key, Column::Tenants, b"acme", 2);
        put(&leader, &key, Column::Services, b"acme/payments", 3);
        let change = |column, key: &[u8]| Change {
            column,
            key: key.into(),
        };
        assert_eq!(
            changes_until(&mut changes, 2),
            [
                change(Column::Tenants, b"acme"),
                change(Column::Services, b"acme/payments")
            ]
        );
        assert_eq!(
            follower
                .get_sealed::<Record>(&key, Column::Tenants, b"acme")
                .unwrap(),
            Some(record(2))
        );

        // A destroyed L4 the follower knew absent is read again once the leader records it.
        let destroyed = b"acme/payments/l4";
        assert_eq!(
            follower.get_plain(Column::Shredded, destroyed).unwrap(),
            None
        );
        assert_eq!(
            follower.get_plain(Column::Shredded, destroyed).unwrap(),
            None
        );
        put(&leader, &key, Column::Shredded, destroyed, 5);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while follower
            .get_plain(Column::Shredded, destroyed)
            .unwrap()
            .is_none()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the follower still knows it absent"
            );
            std::thread::sleep(Duration::from_millis(10));
        }

        // The leader goes: the follower takes the store over, and makes changes.
        drop(leader);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !follower.leads() {
            assert!(
                std::time::Instant::now() < deadline,
                "the follower never led"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        put(&follower, &key, Column::Tenants, b"acme", 4);
    }

    #[test]
    fn a_follower_that_loses_its_sessions_loses_the_store() {
        let (database, _leader, follower) = leader_and_follower();
        let lost = follower.ownership_lost();
        // The server ends every session of the database (an administrator, a failover).
        PostgresServer::shared()
            .unwrap()
            .psql(
                &database,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .unwrap();
        wait_until_lost(lost);
        // It fails closed: it serves no more reads either.
        assert!(follower.count(Column::Audit).is_err());
    }

    #[test]
    fn two_cores_append_to_one_audit_chain() {
        use crate::audit::{self, AuditLog, Operation, Verification};
        use crate::caller::Caller;
        use krypton_service::audit::AuditExport;
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let (_, leader, follower) = leader_and_follower();
        let caller = Caller::LocalProcess { uid: 0, pid: None };
        let logs = [&leader, &follower]
            .map(|store| AuditLog::open(store, Arc::new(AuditExport::journal_only())).unwrap());
        std::thread::scope(|scope| {
            for (log, store) in logs.iter().zip([&leader, &follower]) {
                let (key, caller) = (&key, &caller);
                scope.spawn(move || {
                    for _ in 0..25 {
                        log.append(store, key, Operation::Status, caller).unwrap();
                    }
                });
            }
        });
        let verified = audit::verify(&follower, &key, None).unwrap();
        assert!(
            matches!(
                verified,
                Verification::Intact {
                    range: Some((1, 50)),
                    unchained: 0
                }
            ),
            "{verified:?}"
        );
    }

    /// Waits, within a bound, until `lost` (a store's [`Store::ownership_lost`]) completes.
    fn wait_until_lost(lost: Pin<Box<dyn Future<Output = ()> + Send>>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), lost).await })
            .unwrap();
    }

    /// Why `store` refuses a write of a record in `column`.
    fn write_refusal(store: &Store, key: &SecretKey, column: Column) -> StoreError {
        let mut batch = store.batch(key);
        batch.put_sealed(column, b"late", &record(3)).unwrap();
        match batch.commit() {
            Err(Error::Store { source, .. }) => source,
            other => panic!("not refused by the store: {other:?}"),
        }
    }

    /// Asserts that `store`, taken over, writes nothing more.
    fn assert_late_write_refused(store: &Store, key: &SecretKey) {
        let refused = write_refusal(store, key, Column::Audit);
        assert!(matches!(refused, StoreError::OwnershipLost), "{refused:?}");
    }

    #[test]
    fn a_standby_takes_over_and_the_old_owner_writes_nothing_more() {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let (database, settings) = postgres_database();
        let first = open_postgres(&settings).unwrap();
        put(&first, &key, Column::Audit, b"first", 1);
        let lost = first.ownership_lost();

        let standby = PostgresStoreConfig {
            standby: true,
            ..settings
        };
        let (opened, taking_over) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The test may have failed and gone: then nobody hears the answer.
            let _ = opened.send(open_postgres(&standby));
        });
        // A standby waits, past its request timeout, for as long as the owner holds the store.
        assert!(taking_over.recv_timeout(Duration::from_secs(3)).is_err());

        // The owner's lock session is ended by the server (a network cut, an administrator).
        PostgresServer::shared()
            .unwrap()
            .psql(
                &database,
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' \
                 AND classid = x'6b727970'::int AND objid = x'746f6e4f'::int",
            )
            .unwrap();
        let second = taking_over
            .recv_timeout(Duration::from_secs(30))
            .unwrap()
            .unwrap();
        put(&second, &key, Column::Audit, b"second", 2);

        // The old owner knows it lost the store, and writes nothing more.
        wait_until_lost(lost);
        assert_late_write_refused(&first, &key);
        assert_eq!(second.count(Column::Audit).unwrap(), 2);
    }

    #[test]
    fn a_write_of_an_owner_that_was_taken_over_is_fenced_off() {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let (database, settings) = postgres_database();
        let first = open_postgres(&settings).unwrap();
        // Another core takes the store over before the first noticed anything: the epoch moves.
        PostgresServer::shared()
            .unwrap()
            .psql(&database, "UPDATE krypton_core_owner SET epoch = epoch + 1")
            .unwrap();
        assert_late_write_refused(&first, &key);
        // Lost for good: reads fail too.
        assert!(first.count(Column::Audit).is_err());
    }

    #[test]
    fn encoding_is_sized_exactly() {
        let buffer = encode(&record(7)).unwrap();
        assert_eq!(buffer.len(), buffer.capacity());
    }
}
