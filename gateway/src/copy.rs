//! `krypton-gateway vault copy`: every record of one vault into another, for an operator moving
//! the gateways from one backend to another (RocksDB to PostgreSQL, say).
//!
//! Records move as they are stored: still wrapped, with their revision, so nothing secret
//! passes and a wrapped key opens under the same L3, owner and identifier in its new vault. A
//! record the target has already is compared, not written again, so an interrupted copy is
//! simply run again: it resumes where the target stands. A record the target holds in another
//! form (changed there since) stops the copy, naming it: nothing is overwritten. Once every
//! record is in, each is read back from the target and compared with the source.
//!
//! The source's shred notices must all have reached the core first: a destroyed key whose
//! notice is still queued would otherwise lose the notice in the move.

use crate::config::VaultConfig;
use crate::vault::{
    PostgresVault, Record, RedisVault, RocksDbVault, ScanCursor, Vault, VaultError,
};

/// How many records one scan of the source reads.
const PAGE: usize = 256;

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Records written to the target.
    pub copied: u64,
    /// Records the target held already, identical.
    pub present: u64,
    /// Records read back from the target and found identical to the source's.
    pub verified: u64,
}

/// Why a copy stopped. What was copied before stays; running the copy again resumes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// The source vault failed.
    #[error("the source vault")]
    Source(#[source] VaultError),

    /// The target vault failed.
    #[error("the target vault")]
    Target(#[source] VaultError),

    /// The source still queues shred notices for the core.
    #[error(
        "the source vault still queues notices of destroyed keys for krypton-core: start a \
         gateway on it with the core reachable until they are delivered, then copy"
    )]
    ShredsPending,

    /// A memory vault was named: it holds nothing beyond its own process.
    #[error("a memory vault holds nothing beyond the gateway process: there is nothing to copy")]
    MemoryVault,

    /// The target holds another record under the same owner and id.
    #[error(
        "the target vault holds another record for {owner:?}'s key {id:?}: it changed there \
         since, or another vault was copied in; nothing was overwritten"
    )]
    Differs {
        /// The record's owner.
        owner: String,
        /// The record's id.
        id: String,
    },
}

/// Opens the vaults `from` and `to` describe and copies `from` into `to` ([`copy`]). A
/// RocksDB vault can be open in one process only: stop the gateway that uses it first.
///
/// # Errors
///
/// [`CopyError`]: a vault that cannot be opened, or what stopped the copy.
pub async fn copy_between(from: &VaultConfig, to: &VaultConfig) -> Result<CopyReport, CopyError> {
    match from {
        VaultConfig::Memory {} => Err(CopyError::MemoryVault),
        VaultConfig::Rocksdb { path } => {
            let source = RocksDbVault::open(path).await.map_err(CopyError::Source)?;
            copy_into(&source, to).await
        }
        VaultConfig::Postgres(settings) => {
            let source = PostgresVault::connect(settings)
                .await
                .map_err(CopyError::Source)?;
            copy_into(&source, to).await
        }
        VaultConfig::Redis(settings) => {
            let source = RedisVault::connect(settings)
                .await
                .map_err(CopyError::Source)?;
            copy_into(&source, to).await
        }
    }
}

async fn copy_into(source: &impl Vault, to: &VaultConfig) -> Result<CopyReport, CopyError> {
    match to {
        VaultConfig::Memory {} => Err(CopyError::MemoryVault),
        VaultConfig::Rocksdb { path } => {
            let target = RocksDbVault::open(path).await.map_err(CopyError::Target)?;
            copy(source, &target).await
        }
        VaultConfig::Postgres(settings) => {
            let target = PostgresVault::connect(settings)
                .await
                .map_err(CopyError::Target)?;
            copy(source, &target).await
        }
        VaultConfig::Redis(settings) => {
            let target = RedisVault::connect(settings)
                .await
                .map_err(CopyError::Target)?;
            copy(source, &target).await
        }
    }
}

/// Copies every record of `source` into `target`, then verifies them all.
///
/// # Errors
///
/// [`CopyError`]: what stopped the copy; the records copied until then stay.
pub async fn copy(source: &impl Vault, target: &impl Vault) -> Result<CopyReport, CopyError> {
    if !source
        .pending_shreds(1)
        .await
        .map_err(CopyError::Source)?
        .is_empty()
    {
        return Err(CopyError::ShredsPending);
    }
    let mut report = CopyReport::default();
    for_each_record(source, async |record| {
        if put(target, record).await? {
            report.copied += 1;
        } else {
            report.present += 1;
        }
        Ok(())
    })
    .await?;
    for_each_record(source, async |record| {
        match target.get(&record.owner, &record.id).await {
            Ok(Some(stored)) if stored == *record => {
                report.verified += 1;
                Ok(())
            }
            Ok(_) => Err(differs(record)),
            Err(error) => Err(CopyError::Target(error)),
        }
    })
    .await?;
    Ok(report)
}

/// Runs `each` on every record of `source`, a page at a time.
async fn for_each_record(
    source: &impl Vault,
    mut each: impl AsyncFnMut(&Record) -> Result<(), CopyError>,
) -> Result<(), CopyError> {
    let mut from: Option<ScanCursor> = None;
    loop {
        let page = source.scan(from, PAGE).await.map_err(CopyError::Source)?;
        for record in &page.records {
            each(record).await?;
        }
        match page.next {
            Some(next) => from = Some(next),
            None => return Ok(()),
        }
    }
}

/// Puts `record` in `target` unless it is there already; `true` if it was written.
async fn put(target: &impl Vault, record: &Record) -> Result<bool, CopyError> {
    match target.create(record.clone()).await {
        Ok(()) => Ok(true),
        Err(VaultError::Exists) => match target.get(&record.owner, &record.id).await {
            Ok(Some(stored)) if stored == *record => Ok(false),
            Ok(_) => Err(differs(record)),
            Err(error) => Err(CopyError::Target(error)),
        },
        Err(error) => Err(CopyError::Target(error)),
    }
}

fn differs(record: &Record) -> CopyError {
    CopyError::Differs {
        owner: record.owner.clone(),
        id: record.id.clone(),
    }
}
