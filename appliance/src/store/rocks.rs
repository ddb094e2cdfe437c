//! The store on one machine: a RocksDB database under the data directory, a column family per
//! [`Column`]. Every write is synced to the write-ahead log before it returns; writers never
//! take a lock of ours, so RocksDB groups concurrent writers into one WAL write and one sync.
//! RocksDB's own lock file keeps a second process out of the directory.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use rocksdb::{ColumnFamily, DB, Direction, IteratorMode, WriteBatch, WriteOptions};

use super::{Range, Raw, StoreError, Write, prefix_end};
use crate::error::{Bug, Error};
use crate::store::Column;

/// The database, open.
pub(super) struct Rocks {
    db: DB,
}

fn failed(context: &'static str) -> impl FnOnce(rocksdb::Error) -> Error {
    move |source| Error::Store {
        context,
        source: StoreError::RocksDb(source),
    }
}

impl Rocks {
    /// Opens the database in `dir`, creating it and its column families if missing.
    pub(super) fn open(dir: &Path) -> Result<Self, Error> {
        // Only the core's user may enter a directory it makes (`kryptonctl doctor` checks it).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| Error::Io {
                context: "creating the data directory",
                source,
            })?;
        let names = Column::ALL.map(Column::name);
        let db =
            krypton_service::rocks::open(dir, &names).map_err(failed("opening the database"))?;
        Ok(Self { db })
    }

    pub(super) fn dir(&self) -> &Path {
        self.db.path()
    }

    /// Writes a consistent snapshot to `into` (which must not exist), while the database
    /// serves: hard links of the immutable files where it can.
    pub(super) fn checkpoint(&self, into: &Path) -> Result<(), Error> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|checkpoint| checkpoint.create_checkpoint(into))
            .map_err(failed("taking a checkpoint"))
    }

    pub(super) fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.db
            .get_cf(self.family(column)?, key)
            .map_err(failed("reading"))
    }

    pub(super) fn scan(
        &self,
        column: Column,
        range: Range<'_>,
        limit: usize,
    ) -> Result<Vec<Raw>, Error> {
        let family = self.family(column)?;
        let (mode, prefix) = match range {
            Range::From { start, prefix } => (
                IteratorMode::From(start.max(prefix), Direction::Forward),
                prefix,
            ),
            Range::Last => (IteratorMode::End, &[][..]),
        };
        self.db
            .iterator_cf(family, mode)
            .take_while(|item| {
                item.as_ref()
                    .map_or(true, |(key, _)| key.starts_with(prefix))
            })
            .take(limit)
            .map(|item| {
                item.map(|(key, value)| (key, value.into_vec()))
                    .map_err(failed("scanning"))
            })
            .collect()
    }

    /// Applies `writes` in one synced write: all or none.
    pub(super) fn write(&self, writes: &[Write]) -> Result<(), Error> {
        let mut batch = WriteBatch::default();
        for write in writes {
            match write {
                Write::Put { column, key, value } => {
                    batch.put_cf(self.family(*column)?, key, value);
                }
                Write::Delete { column, key } => batch.delete_cf(self.family(*column)?, key),
                Write::DeletePrefix { column, prefix } => {
                    self.delete_prefix(&mut batch, *column, prefix)?;
                }
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .write_opt(batch, &options)
            .map_err(failed("writing"))
    }

    fn delete_prefix(
        &self,
        batch: &mut WriteBatch,
        column: Column,
        prefix: &[u8],
    ) -> Result<(), Error> {
        let family = self.family(column)?;
        if let Some(end) = prefix_end(prefix) {
            batch.delete_range_cf(family, prefix, &end[..]);
            return Ok(());
        }
        // A prefix of 0xff bytes only has no end key: delete what the scan finds.
        let keys = self
            .db
            .iterator_cf(family, IteratorMode::From(prefix, Direction::Forward));
        for item in keys {
            let (key, _) = item.map_err(failed("scanning"))?;
            if !key.starts_with(prefix) {
                break;
            }
            batch.delete_cf(family, key);
        }
        Ok(())
    }

    /// Flushes `column` and compacts it whole, so deleted records leave the files on disk now
    /// rather than at some later compaction.
    pub(super) fn purge_deleted(&self, column: Column) -> Result<(), Error> {
        let family = self.family(column)?;
        self.db
            .flush_cf(family)
            .map_err(failed("purging deleted records"))?;
        self.db
            .compact_range_cf(family, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }

    pub(super) fn count(&self, column: Column) -> Result<u64, Error> {
        let mut iter = self.db.raw_iterator_cf(self.family(column)?);
        iter.seek_to_first();
        let mut count = 0;
        while iter.valid() {
            count += 1;
            iter.next();
        }
        iter.status().map_err(failed("counting"))?;
        Ok(count)
    }

    fn family(&self, column: Column) -> Result<&ColumnFamily, Error> {
        self.db
            .cf_handle(column.name())
            .ok_or(Error::Internal(Bug::MissingColumnFamily(column)))
    }
}
