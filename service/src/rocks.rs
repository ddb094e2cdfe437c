//! RocksDB as both daemons open it (the core's store, the gateway's vault): every acknowledged
//! write replayed after a crash, and a memory budget that does not grow with the keys.
//!
//! RocksDB's defaults suit a database server with memory to spare: 64 MiB of memtable per column
//! family, and index and filter blocks held outside the block cache, growing with the data.
//! In a daemon whose every page is locked (see [`crate::hardening`]), that is memory the machine
//! never gets back. Here all column families' memtables together flush at [`MEMTABLES`], and one
//! block cache of [`BLOCK_CACHE`] holds data, index and filter blocks alike, so a vault of a
//! million keys is held in the same memory as one of a thousand: what does not fit is read from
//! the files (the page cache, which the kernel may reclaim). A Bloom filter per table spares
//! a point read of an absent key (an unknown identifier, the destroyed-key check) the reads of
//! every table it is not in.
//!
//! Two things still grew with the data and are bounded too. **Open tables**: RocksDB keeps a
//! reader per table file open for good by default, each holding memory outside the cache, and
//! the core's audit column, appended in key order, never merges its flushed tables (they move
//! down the levels as they are): a table per few thousand records, a reader each. At most
//! [`MAX_OPEN_FILES`] are open now; the least recently read close. **Write-ahead logs**: a log
//! is deleted only once every column family has flushed what it holds, and the core kept 116
//! of them, 824 MiB, after a million Creates, all replayed at its next start. Past [`MAX_WAL`]
//! of logs RocksDB flushes the families that hold the oldest, and deletes it.

use std::path::Path;

use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBRecoveryMode,
    Options,
};

/// What the memtables of all column families may hold before the largest is flushed.
pub const MEMTABLES: usize = 16 << 20;

/// The block cache shared by all column families: data, index and filter blocks.
pub const BLOCK_CACHE: usize = 8 << 20;

/// Table files open at once, at most: the readers of the least recently read ones close.
pub const MAX_OPEN_FILES: i32 = 64;

/// Write-ahead logs kept, at most, before the families holding the oldest are flushed.
pub const MAX_WAL: u64 = 64 << 20;

/// Old info logs RocksDB keeps in the database directory.
const KEEP_INFO_LOGS: usize = 10;

/// Bits per key of each table's Bloom filter: about 1 % false positives.
const BLOOM_BITS_PER_KEY: f64 = 10.0;

/// Opens (creating what is missing) the database in `dir` with the column families `families`,
/// bounded as the module says.
///
/// # Errors
///
/// RocksDB's, for example when another process holds the directory.
pub fn open(dir: &Path, families: &[&str]) -> Result<DB, rocksdb::Error> {
    let family = family_options();
    // The database's options are also those of the default column family.
    let mut options = family.clone();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_keep_log_file_num(KEEP_INFO_LOGS);
    options.set_db_write_buffer_size(MEMTABLES);
    options.set_max_open_files(MAX_OPEN_FILES);
    options.set_max_total_wal_size(MAX_WAL);
    // Every acknowledged write was synced, so replay up to the last intact WAL record: only a
    // write that was never acknowledged can be torn.
    options.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    let families = families
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, family.clone()));
    DB::open_cf_descriptors(&options, dir, families)
}

/// The options every column family shares, the block cache among them (copies of the options
/// share it).
fn family_options() -> Options {
    let cache = Cache::new_lru_cache(BLOCK_CACHE);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&cache);
    table.set_cache_index_and_filter_blocks(true);
    // A table's index and filter in partitions of a few KiB, found through a small top level
    // pinned in the cache: a lookup in a vault larger than the cache reads back the one
    // partition it needs, not a table's whole index and filter (hundreds of KiB each).
    table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
    table.set_partition_filters(true);
    table.set_pin_top_level_index_and_filter(true);
    // The newest tables' are read by almost every lookup: kept in the cache whole.
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
    let mut options = Options::default();
    options.set_block_based_table_factory(&table);
    // One family alone may use half the budget before it flushes.
    options.set_write_buffer_size(MEMTABLES / 2);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_opens_again_with_its_families_and_records() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = open(dir.path(), &["one", "two"]).unwrap();
            let two = db.cf_handle("two").unwrap();
            db.put_cf(two, b"key", b"value").unwrap();
        }
        let db = open(dir.path(), &["one", "two"]).unwrap();
        let two = db.cf_handle("two").unwrap();
        assert_eq!(
            db.get_cf(two, b"key").unwrap().as_deref(),
            Some(&b"value"[..])
        );
        assert!(db.cf_handle("one").is_some());
    }

    /// The table files of `dir` this process holds open, and those there are.
    fn tables(dir: &Path) -> (usize, usize) {
        let is_table =
            |path: &Path| path.starts_with(dir) && path.extension().is_some_and(|ext| ext == "sst");
        let open = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.unwrap().path()).ok())
            .filter(|target| is_table(target))
            .count();
        let all = std::fs::read_dir(dir)
            .unwrap()
            .filter(|entry| is_table(&entry.as_ref().unwrap().path()))
            .count();
        (open, all)
    }

    #[test]
    fn no_more_tables_are_open_than_the_bound_however_many_there_are() {
        const TABLES: u32 = 100;
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path(), &["log"]).unwrap();
        let log = db.cf_handle("log").unwrap();
        // Keys in order, a flush each, as the core's audit column is written: its tables move
        // down the levels as they are, never merged.
        for table in 0..TABLES {
            db.put_cf(log, table.to_be_bytes(), [0u8; 64]).unwrap();
            db.flush_cf(log).unwrap();
        }
        for table in 0..TABLES {
            assert!(db.get_cf(log, table.to_be_bytes()).unwrap().is_some());
        }
        let (open, all) = tables(dir.path());
        assert!(
            all > MAX_OPEN_FILES as usize,
            "only {all} tables: the bound was not put to the test"
        );
        assert!(
            open <= MAX_OPEN_FILES as usize,
            "{open} of {all} tables open"
        );
    }

    /// RocksDB took the bound on the logs. (What made a running core keep 800 MiB of them is
    /// measured in docs/benchmarks.md; a small database here deletes its logs either way.)
    #[test]
    fn the_logs_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path(), &["one"]).unwrap());
        let options = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| {
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("OPTIONS-")
            })
            .unwrap();
        let options = std::fs::read_to_string(options).unwrap();
        assert!(
            options
                .lines()
                .any(|line| line.trim() == format!("max_total_wal_size={MAX_WAL}")),
            "{options}"
        );
    }
}
