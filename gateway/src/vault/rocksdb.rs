//! The durable vault: one RocksDB database, each record CBOR under `(owner, id)`.
//!
//! Every write is synced to the write-ahead log before it is acknowledged, so a key the client
//! was told exists survives a crash or `kill -9`. Every change goes through one writer thread
//! ([`writer`]), which checks and writes the changes queued in turn and syncs them with one
//! sync: it groups the writes, and orders each read-check-write (create-if-absent, the
//! compare-and-set of an update) after every change before it, without a lock of ours.
//!
//! Shred notices live in their own column family, under the same `(owner, id)` key as their
//! record, and are written with the destroyed record in one write batch: the two cannot be
//! separated by a crash.
//!
//! RocksDB calls block: reads that may touch the disk run on the blocking thread pool, never on
//! the async runtime.

mod writer;

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ::rocksdb::{
    ColumnFamily, DB, DEFAULT_COLUMN_FAMILY_NAME, Direction, ErrorKind, IteratorMode, ReadOptions,
    ReadTier, WriteBatch, WriteOptions,
};

use self::writer::Writer;
use crate::cbor;
use crate::vault::key::{owner_prefix, record_key, split_key};
use crate::vault::record::{decode, encode};
use crate::vault::{
    Filter, Found, Record, ScanCursor, ScanPage, ShredNotice, Vault, VaultError, storage,
};

/// The column family of the shred notices not yet acknowledged by the core.
const SHREDS: &str = "shreds";

/// A vault in a RocksDB database directory.
#[derive(Clone)]
pub struct RocksDbVault {
    store: Arc<Store>,
    writer: Arc<Writer>,
}

/// The database, shared by the readers and the writer thread.
struct Store {
    db: DB,
    /// How many shred notices are queued: changed only by the writer, with the notice. Zero
    /// spares every Get a read of the queue.
    shreds_queued: AtomicUsize,
}

impl std::fmt::Debug for RocksDbVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbVault")
            .field("path", &self.store.db.path())
            .finish_non_exhaustive()
    }
}

impl RocksDbVault {
    /// Opens the database in `dir`, creating it if missing.
    ///
    /// # Errors
    ///
    /// [`VaultError::Storage`] if the directory cannot be created or the database opened (for
    /// example because another process has it open).
    pub async fn open(dir: &Path) -> Result<Self, VaultError> {
        let dir = dir.to_owned();
        let store = tokio::task::spawn_blocking(move || {
            let db = open_db(&dir)?;
            let queued = count_shreds(&db)?;
            Ok::<_, VaultError>(Store {
                db,
                shreds_queued: AtomicUsize::new(queued),
            })
        })
        .await
        .map_err(VaultError::Task)??;
        let store = Arc::new(store);
        let writer = Writer::start(Arc::clone(&store))?;
        Ok(Self {
            store,
            writer: Arc::new(writer),
        })
    }

    /// Runs `work` on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, VaultError> + Send + 'static,
    ) -> Result<T, VaultError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(VaultError::Task)?
    }
}

fn open_db(dir: &Path) -> Result<DB, VaultError> {
    // Wrapped keys are for the gateway's eyes only, like the core's data directory.
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| storage("creating the vault directory", source))?;
    // A vault made before the queue existed gains its column family on first open.
    krypton_service::rocks::open(dir, &[DEFAULT_COLUMN_FAMILY_NAME, SHREDS])
        .map_err(|source| storage("opening the vault database", source))
}

/// The number of queued shred notices, counted once at open.
fn count_shreds(db: &DB) -> Result<usize, VaultError> {
    let cf = shreds_cf(db)?;
    let mut count = 0;
    for entry in db.iterator_cf(cf, IteratorMode::Start) {
        entry.map_err(|source| storage("counting shred notices", source))?;
        count += 1;
    }
    Ok(count)
}

fn shreds_cf(db: &DB) -> Result<&ColumnFamily, VaultError> {
    db.cf_handle(SHREDS).ok_or_else(|| VaultError::Storage {
        context: "finding the shred queue",
        source: "the column family is missing".into(),
    })
}

impl Vault for RocksDbVault {
    async fn create(&self, record: Record) -> Result<(), VaultError> {
        let key = record_key(&record.owner, &record.id);
        let value = encode(&record)?;
        self.writer
            .apply(move |store| {
                if store.read(&key)?.is_some() {
                    return Err(VaultError::Exists);
                }
                store.put(&key, &value)
            })
            .await
    }

    async fn get(&self, owner: &str, id: &str) -> Result<Option<Record>, VaultError> {
        let key = record_key(owner, id);
        // Every Get of a key comes here: a record in the memtable or the block cache is read
        // inline, which never touches the disk and costs less than the hop to the blocking pool.
        if let Some(cached) = self.store.read_cached(&key)? {
            return cached.map(|value| decode(owner, id, &value)).transpose();
        }
        let (owner, id) = (owner.to_owned(), id.to_owned());
        self.blocking(move |store| {
            store
                .read(&key)?
                .map(|value| decode(&owner, &id, &value))
                .transpose()
        })
        .await
    }

    async fn find(&self, owner: &str, id: &str) -> Result<Option<Found>, VaultError> {
        let Some(record) = self.get(owner, id).await? else {
            return Ok(None);
        };
        // Notices are few and short-lived: with none queued, the queue is not read at all.
        let shred_pending = if self.store.shreds_queued.load(Ordering::Acquire) == 0 {
            false
        } else {
            let key = record_key(owner, id);
            self.blocking(move |store| Ok(store.read_shred(&key)?.is_some()))
                .await?
        };
        Ok(Some(Found {
            record,
            shred_pending,
        }))
    }

    async fn update(&self, mut record: Record) -> Result<(), VaultError> {
        let Replacement { key, read, value } = Replacement::of(&mut record)?;
        self.writer
            .apply(move |store| {
                store.compare_revision(&key, &record, read)?;
                store.put(&key, &value)
            })
            .await
    }

    async fn locate(
        &self,
        owner: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<String>, VaultError> {
        let owner = owner.to_owned();
        let filter = filter.clone();
        self.blocking(move |store| store.scan(&owner, &filter, limit))
            .await
    }

    async fn shred(&self, mut record: Record, max_pending: usize) -> Result<(), VaultError> {
        let notice = cbor::encode(&ShredNotice::of(&record))
            .map_err(|source| storage("encoding a shred notice", source))?;
        let Replacement { key, read, value } = Replacement::of(&mut record)?;
        self.writer
            .apply(move |store| {
                store.compare_revision(&key, &record, read)?;
                let requeued = store.read_shred(&key)?.is_some();
                let queued = store.shreds_queued.load(Ordering::Acquire);
                if !requeued && queued >= max_pending {
                    return Err(VaultError::ShredQueueFull { limit: max_pending });
                }
                let mut batch = WriteBatch::default();
                batch.put(&key, &value);
                batch.put_cf(shreds_cf(&store.db)?, &key, &notice);
                store.write(batch)?;
                if !requeued {
                    store.shreds_queued.store(queued + 1, Ordering::Release);
                }
                Ok(())
            })
            .await
    }

    async fn pending_shreds(&self, limit: usize) -> Result<Vec<ShredNotice>, VaultError> {
        if self.store.shreds_queued.load(Ordering::Acquire) == 0 {
            return Ok(Vec::new());
        }
        self.blocking(move |store| store.scan_shreds(limit)).await
    }

    async fn acknowledge_shred(&self, owner: &str, id: &str) -> Result<(), VaultError> {
        let key = record_key(owner, id);
        self.writer
            .apply(move |store| {
                if store.read_shred(&key)?.is_none() {
                    return Ok(());
                }
                let mut batch = WriteBatch::default();
                batch.delete_cf(shreds_cf(&store.db)?, &key);
                store.write(batch)?;
                store.shreds_queued.fetch_sub(1, Ordering::AcqRel);
                Ok(())
            })
            .await
    }

    async fn scan(&self, from: Option<ScanCursor>, limit: usize) -> Result<ScanPage, VaultError> {
        self.blocking(move |store| store.scan_all(from, limit))
            .await
    }
}

/// What a compare-and-set writes in place of a record read at revision `read`.
struct Replacement {
    key: Vec<u8>,
    read: u64,
    /// The record at its next revision, encoded.
    value: Vec<u8>,
}

impl Replacement {
    /// Moves `record` on to its next revision and encodes it.
    fn of(record: &mut Record) -> Result<Self, VaultError> {
        let read = record.revision;
        record.revision = read.saturating_add(1);
        Ok(Self {
            key: record_key(&record.owner, &record.id),
            read,
            value: encode(record)?,
        })
    }
}

impl Store {
    /// Fails unless the stored `record` (at `key`) is still at revision `read`. Called by the
    /// writer, which no other change can interleave with.
    fn compare_revision(&self, key: &[u8], record: &Record, read: u64) -> Result<(), VaultError> {
        let stored = self.read(key)?.ok_or(VaultError::NotFound)?;
        if decode(&record.owner, &record.id, &stored)?.revision == read {
            Ok(())
        } else {
            Err(VaultError::Conflict)
        }
    }

    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, VaultError> {
        self.db
            .get(key)
            .map_err(|source| storage("reading a record", source))
    }

    /// Reads `key` from memory only (memtable and block cache): `None` when answering would
    /// need the disk.
    fn read_cached(&self, key: &[u8]) -> Result<Option<Option<Vec<u8>>>, VaultError> {
        let mut memory_only = ReadOptions::default();
        memory_only.set_read_tier(ReadTier::BlockCache);
        match self.db.get_opt(key, &memory_only) {
            Ok(found) => Ok(Some(found)),
            Err(error) if error.kind() == ErrorKind::Incomplete => Ok(None),
            Err(source) => Err(storage("reading a record", source)),
        }
    }

    /// Writes `value` at `key`: see [`write`](Self::write).
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), VaultError> {
        let mut batch = WriteBatch::default();
        batch.put(key, value);
        self.write(batch)
    }

    /// Writes `batch` atomically, to the log and the memtable, without syncing: only in a
    /// change the [`Writer`] applies, which syncs the group before answering. Later changes of
    /// the group read what it wrote.
    fn write(&self, batch: WriteBatch) -> Result<(), VaultError> {
        self.db
            .write_opt(batch, &WriteOptions::default())
            .map_err(|source| storage("writing a record", source))
    }

    /// Syncs the write-ahead log: every write before it is durable once it returns.
    fn sync(&self) -> Result<(), ::rocksdb::Error> {
        self.db.flush_wal(true)
    }

    fn read_shred(&self, key: &[u8]) -> Result<Option<Vec<u8>>, VaultError> {
        self.db
            .get_cf(shreds_cf(&self.db)?, key)
            .map_err(|source| storage("reading a shred notice", source))
    }

    fn scan_shreds(&self, limit: usize) -> Result<Vec<ShredNotice>, VaultError> {
        let mut notices = Vec::new();
        for entry in self
            .db
            .iterator_cf(shreds_cf(&self.db)?, IteratorMode::Start)
            .take(limit)
        {
            let (key, value) = entry.map_err(|source| storage("scanning shred notices", source))?;
            let notice = cbor::decode(&value).map_err(|source| {
                let (owner, id) = split_key(&key);
                VaultError::Corrupt {
                    owner,
                    id,
                    source: Box::new(source),
                }
            })?;
            notices.push(notice);
        }
        Ok(notices)
    }

    /// Up to `limit` records of every owner in key order, after the key `from` names.
    fn scan_all(&self, from: Option<ScanCursor>, limit: usize) -> Result<ScanPage, VaultError> {
        let mode = match &from {
            Some(ScanCursor(key)) => IteratorMode::From(key.as_slice(), Direction::Forward),
            None => IteratorMode::Start,
        };
        let mut records = Vec::new();
        let mut last = None;
        for entry in self.db.iterator(mode) {
            let (key, value) = entry.map_err(|source| storage("scanning records", source))?;
            if from.as_ref().is_some_and(|ScanCursor(from)| **from == *key) {
                continue;
            }
            let (owner, id) = split_key(&key);
            records.push(decode(&owner, &id, &value)?);
            if records.len() >= limit {
                last = Some(ScanCursor(key.to_vec()));
                break;
            }
        }
        Ok(ScanPage {
            records,
            next: last,
        })
    }

    fn scan(&self, owner: &str, filter: &Filter, limit: usize) -> Result<Vec<String>, VaultError> {
        let prefix = owner_prefix(owner);
        let mut ids = Vec::new();
        for entry in self
            .db
            .iterator(IteratorMode::From(prefix.as_slice(), Direction::Forward))
        {
            let (key, value) = entry.map_err(|source| storage("scanning records", source))?;
            let Some(id) = key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            let record = decode(owner, &String::from_utf8_lossy(id), &value)?;
            if filter.matches(&record.id, &record.metadata) {
                ids.push(record.id);
                if ids.len() >= limit {
                    break;
                }
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `get` relies on: a record only on disk is not read from memory (the caller then
    /// reads it on the blocking pool), and once read it is served from the block cache.
    #[tokio::test]
    async fn a_cold_record_is_left_to_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault");
        {
            let vault = RocksDbVault::open(&path).await.unwrap();
            vault.store.put(b"k", b"v").unwrap();
            assert_eq!(
                vault.store.read_cached(b"k").unwrap(),
                Some(Some(b"v".to_vec()))
            );
            vault.store.db.flush().unwrap();
        }
        let vault = RocksDbVault::open(&path).await.unwrap();
        assert_eq!(vault.store.read_cached(b"k").unwrap(), None);
        assert_eq!(vault.store.read(b"k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(
            vault.store.read_cached(b"k").unwrap(),
            Some(Some(b"v".to_vec()))
        );
        assert_eq!(vault.store.read_cached(b"absent").unwrap(), Some(None));
    }

    /// A change that panics fails alone, and the writer goes on with the next.
    #[tokio::test]
    async fn a_change_that_panics_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let vault = RocksDbVault::open(&dir.path().join("vault")).await.unwrap();
        let panicked = vault.writer.apply(|_| panic!("a bug")).await;
        assert!(
            matches!(
                panicked,
                Err(VaultError::Storage {
                    context: "applying a change",
                    ..
                })
            ),
            "{panicked:?}"
        );
        vault
            .writer
            .apply(|store| store.put(b"k", b"v"))
            .await
            .unwrap();
        assert_eq!(vault.store.read(b"k").unwrap(), Some(b"v".to_vec()));
    }
}
