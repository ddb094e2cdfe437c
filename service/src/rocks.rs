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

use std::path::Path;

use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBRecoveryMode,
    Options,
};

/// What the memtables of all column families may hold before the largest is flushed.
pub const MEMTABLES: usize = 16 << 20;

/// The block cache shared by all column families: data, index and filter blocks.
pub const BLOCK_CACHE: usize = 8 << 20;

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
}
