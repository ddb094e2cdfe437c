//! The in-memory vault: records in a map in process memory, gone when the gateway stops.
//!
//! For the speed tier, where keys live as long as the workload that uses them.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use crate::vault::key::{record_key, split_key};
use crate::vault::{Filter, Found, Record, ScanCursor, ScanPage, ShredNotice, Vault, VaultError};

/// Records keyed by `(owner, id)`, ordered so one owner's records are one range, and the shred
/// notices not yet acknowledged by the core.
#[derive(Debug, Default)]
pub struct MemoryVault {
    records: RwLock<BTreeMap<(String, String), Record>>,
    /// Changed together with a record only while `records` is write-locked (lock order:
    /// `records`, then `shreds`), so no reader sees one change without the other.
    shreds: Mutex<BTreeMap<(String, String), ShredNotice>>,
}

impl MemoryVault {
    /// An empty vault.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A vault holding `records`, each under the `(owner, id)` given with it and as it is: what
    /// a snapshot taken elsewhere would hold. A record that names another owner or id than the
    /// key it is given under is kept, and refused when read, as every backend refuses it.
    #[must_use]
    pub fn with_records(records: impl IntoIterator<Item = ((String, String), Record)>) -> Self {
        Self {
            records: RwLock::new(records.into_iter().collect()),
            shreds: Mutex::default(),
        }
    }
}

// Every critical section below is one map operation, which a panic cannot leave half done, so
// a poisoned lock still guards a consistent map and is taken over.
impl Vault for MemoryVault {
    async fn create(&self, record: Record) -> Result<(), VaultError> {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        let key = (record.owner.clone(), record.id.clone());
        if records.contains_key(&key) {
            return Err(VaultError::Exists);
        }
        records.insert(key, record);
        Ok(())
    }

    async fn get(&self, owner: &str, id: &str) -> Result<Option<Record>, VaultError> {
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        records
            .get(&(owner.to_owned(), id.to_owned()))
            .map(|record| {
                record.check_place(owner, id)?;
                Ok(record.clone())
            })
            .transpose()
    }

    async fn find(&self, owner: &str, id: &str) -> Result<Option<Found>, VaultError> {
        let Some(record) = self.get(owner, id).await? else {
            return Ok(None);
        };
        let shred_pending = self
            .shreds()
            .contains_key(&(owner.to_owned(), id.to_owned()));
        Ok(Some(Found {
            record,
            shred_pending,
        }))
    }

    async fn update(&self, mut record: Record) -> Result<(), VaultError> {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        let stored = records
            .get_mut(&(record.owner.clone(), record.id.clone()))
            .ok_or(VaultError::NotFound)?;
        stored.check_place(&record.owner, &record.id)?;
        if stored.revision != record.revision {
            return Err(VaultError::Conflict);
        }
        record.revision = record.revision.saturating_add(1);
        *stored = record;
        Ok(())
    }

    async fn locate(
        &self,
        owner: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<String>, VaultError> {
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        let mut ids = Vec::new();
        for ((_, id), record) in records
            .range((owner.to_owned(), String::new())..)
            .take_while(|((stored_owner, _), _)| stored_owner == owner)
        {
            record.check_place(owner, id)?;
            if filter.matches(id, &record.metadata) {
                ids.push(id.clone());
                if ids.len() >= limit {
                    break;
                }
            }
        }
        Ok(ids)
    }

    async fn shred(&self, mut record: Record, max_pending: usize) -> Result<(), VaultError> {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        let key = (record.owner.clone(), record.id.clone());
        let stored = records.get_mut(&key).ok_or(VaultError::NotFound)?;
        if stored.revision != record.revision {
            return Err(VaultError::Conflict);
        }
        let mut shreds = self.shreds();
        if !shreds.contains_key(&key) && shreds.len() >= max_pending {
            return Err(VaultError::ShredQueueFull { limit: max_pending });
        }
        // Nothing below can fail: both changes are made, or (above) neither.
        shreds.insert(key, ShredNotice::of(&record));
        record.revision = record.revision.saturating_add(1);
        *stored = record;
        Ok(())
    }

    async fn pending_shreds(&self, limit: usize) -> Result<Vec<ShredNotice>, VaultError> {
        Ok(self.shreds().values().take(limit).cloned().collect())
    }

    async fn acknowledge_shred(&self, owner: &str, id: &str) -> Result<(), VaultError> {
        self.shreds().remove(&(owner.to_owned(), id.to_owned()));
        Ok(())
    }

    async fn scan(&self, from: Option<ScanCursor>, limit: usize) -> Result<ScanPage, VaultError> {
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        let start = from.map_or(Bound::Unbounded, |ScanCursor(place)| {
            Bound::Excluded(split_key(&place))
        });
        let mut page = Vec::new();
        for ((owner, id), record) in records.range((start, Bound::Unbounded)).take(limit) {
            record.check_place(owner, id)?;
            page.push(record.clone());
        }
        let next = (page.len() == limit)
            .then(|| {
                page.last()
                    .map(|last| ScanCursor(record_key(&last.owner, &last.id)))
            })
            .flatten();
        Ok(ScanPage {
            records: page,
            next,
        })
    }
}

impl MemoryVault {
    fn shreds(&self) -> MutexGuard<'_, BTreeMap<(String, String), ShredNotice>> {
        self.shreds.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
