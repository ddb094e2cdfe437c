//! The pluggable vault: where the gateway keeps wrapped L4 keys and their metadata.
//!
//! A vault holds [`Record`]s keyed by `(owner, id)`: every call names the owner, so a backend
//! cannot hand one identity another's key. It never holds a key in plaintext, nor the L3 that
//! could open one. A record carries its owner and id as well, and every backend refuses one
//! read under another key ([`Record::check_place`]); the wrapped key inside is bound to both by
//! the core, so a record altered to match its new key still does not unwrap.
//!
//! The trait asks only what a key-value store with a compare-and-set can give, so the Redis and
//! PostgreSQL backends fit beside the in-memory and RocksDB ones: create-if-absent, read, replace-if-unchanged
//! (by [`Record::revision`]) and a scan of one owner's records. Destroying a key is a
//! replacement that drops the wrapped bytes and keeps the metadata, as KMIP requires of Destroy,
//! and queues a [`ShredNotice`] for the core in the same atomic write: the queue is a second
//! keyspace beside the records, written in one transaction with them.

mod batch;
mod key;
mod memory;
mod metered;
mod postgres;
mod record;
mod redis;
mod rocksdb;
mod scan;
mod shred_notice;

use std::error::Error as StdError;
use std::future::Future;

pub use self::postgres::PostgresVault;
pub use self::redis::RedisVault;
pub use self::rocksdb::RocksDbVault;
pub use kmip::objects::Filter;
pub use memory::MemoryVault;
pub use metered::Metered;
pub use record::{Record, WrappedKey};
pub use scan::{ScanCursor, ScanPage};
pub use shred_notice::ShredNotice;

/// Storage for wrapped L4 keys.
///
/// Implementations are cheap to share (`&self` everywhere) and never block the async runtime:
/// a backend whose client blocks runs it on [`tokio::task::spawn_blocking`].
pub trait Vault: Send + Sync + 'static {
    /// Stores a new record.
    ///
    /// # Errors
    ///
    /// [`VaultError::Exists`] if the owner has a record with this id; a storage error.
    fn create(&self, record: Record) -> impl Future<Output = Result<(), VaultError>> + Send;

    /// The owner's record `id`, if there is one.
    ///
    /// # Errors
    ///
    /// A storage error, [`VaultError::Corrupt`] for a record that does not decode, or
    /// [`VaultError::Misplaced`] for one that names another owner or id (see
    /// [`Record::check_place`]).
    fn get(
        &self,
        owner: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Record>, VaultError>> + Send;

    /// The owner's record `id` as an operation on its key reads it: with whether a shred notice
    /// of it is queued, read in the same round trip where the backend has round trips.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    fn find(
        &self,
        owner: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Found>, VaultError>> + Send;

    /// Replaces a record the caller read and changed. `record.revision` is the revision the
    /// caller read; the record is stored with the next revision if the stored one still has
    /// that revision.
    ///
    /// # Errors
    ///
    /// [`VaultError::Conflict`] if the record changed since it was read (read it again and
    /// retry), [`VaultError::NotFound`] if it is gone; a storage error.
    fn update(&self, record: Record) -> impl Future<Output = Result<(), VaultError>> + Send;

    /// The ids of the owner's records that `filter` matches, in id order, at most `limit`.
    ///
    /// # Errors
    ///
    /// A storage error, or [`VaultError::Corrupt`] or [`VaultError::Misplaced`] for a record
    /// read on the way.
    fn locate(
        &self,
        owner: &str,
        filter: &Filter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>, VaultError>> + Send;

    /// Replaces a record as [`update`](Self::update) does — the caller has marked it destroyed
    /// — and, in the same atomic write, queues its [`ShredNotice`]. A notice of the same key
    /// already queued is replaced.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update), and [`VaultError::ShredQueueFull`] if `max_pending` notices
    /// of other keys are queued: then nothing is written.
    fn shred(
        &self,
        record: Record,
        max_pending: usize,
    ) -> impl Future<Output = Result<(), VaultError>> + Send;

    /// The first `limit` queued shred notices, in `(owner, id)` order.
    ///
    /// # Errors
    ///
    /// A storage error, or [`VaultError::Corrupt`] for a notice that does not decode.
    fn pending_shreds(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ShredNotice>, VaultError>> + Send;

    /// Removes the shred notice of the owner's key `id`, which the core has acknowledged. No
    /// notice queued is not an error: delivering one twice is harmless.
    ///
    /// # Errors
    ///
    /// A storage error.
    fn acknowledge_shred(
        &self,
        owner: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), VaultError>> + Send;

    /// About `limit` records of any owner (a page may hold fewer, or a few more), from where
    /// `from` left off (`None`: the beginning), in an order of the backend's. A record written
    /// during a scan may or may not be seen, and Redis may show one twice.
    ///
    /// # Errors
    ///
    /// A storage error, or [`VaultError::Corrupt`] or [`VaultError::Misplaced`] for a record
    /// read on the way.
    fn scan(
        &self,
        from: Option<ScanCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<ScanPage, VaultError>> + Send;
}

/// A record as [`Vault::find`] reads it for an operation on its key.
#[derive(Debug, Clone)]
pub struct Found {
    /// The record.
    pub record: Record,
    /// Whether a shred notice of it is queued: its key was destroyed here and the core has not
    /// acknowledged that yet, so no copy of its wrapped blob may be unwrapped meanwhile.
    pub shred_pending: bool,
}

/// Why a vault call failed.
///
/// [`Exists`](Self::Exists), [`NotFound`](Self::NotFound), [`Conflict`](Self::Conflict) and
/// [`ShredQueueFull`](Self::ShredQueueFull) are answers about the records;
/// [`Storage`](Self::Storage) is the environment; [`Corrupt`](Self::Corrupt) and
/// [`Misplaced`](Self::Misplaced) are stored data that cannot be trusted; [`Task`](Self::Task)
/// is a bug.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// A record with this owner and id exists already.
    #[error("a record with this owner and id exists already")]
    Exists,

    /// The record to update does not exist.
    #[error("the record does not exist")]
    NotFound,

    /// The record changed since it was read.
    #[error("the record changed since it was read")]
    Conflict,

    /// The queue of shred notices for the core is full: the core has been unreachable for as
    /// long as it took to destroy this many keys. Nothing was written.
    #[error("{limit} destroyed keys are waiting to be reported to krypton-core")]
    ShredQueueFull {
        /// The queue's bound.
        limit: usize,
    },

    /// The backend's storage failed.
    #[error("vault storage failed while {context}")]
    Storage {
        /// What the vault was doing.
        context: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },

    /// A stored record does not decode: damaged, or written by an incompatible version.
    #[error("stored record {id:?} of {owner:?} does not decode")]
    Corrupt {
        /// The record's owner.
        owner: String,
        /// The record's id.
        id: String,
        /// The decoder's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },

    /// A stored record names another owner or id than the key it is stored under: it was moved
    /// or copied there (a restored backup, a writer with access to the storage), and is not
    /// served.
    #[error(
        "stored record {id:?} of {owner:?} names another owner or id: it was moved or copied there"
    )]
    Misplaced {
        /// The owner it is stored under.
        owner: String,
        /// The id it is stored under.
        id: String,
    },

    /// The vault's settings cannot be used: a URL that does not parse, a password inline, TLS
    /// asked for in two places. Found when the vault is opened, before anything is served.
    #[error("the vault settings cannot be used: {0}")]
    Settings(String),

    /// A blocking vault task panicked or was cancelled.
    #[error("a vault task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// A [`VaultError::Storage`] for the backend's `source` error met while doing `context`.
pub(crate) fn storage(
    context: &'static str,
    source: impl Into<Box<dyn StdError + Send + Sync>>,
) -> VaultError {
    VaultError::Storage {
        context,
        source: source.into(),
    }
}
