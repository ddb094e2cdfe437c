//! The versions of the record key: the keys that seal the core's own records (tenants,
//! services, the audit log, shredded data keys), and their rotation.
//!
//! Version 1 is derived from the master key's root, as every installation began. A rotation
//! draws a new random version, which seals every write from then on; the versions before it
//! are kept only until the core has re-sealed, in the background, every record sealed under
//! them, and are then retired.
//!
//! The versions other than the derived one are stored in one record, [`RECORD_KEY`] in the
//! meta family, sealed under a key derived from the root for that purpose alone: the root (the
//! shares, or the seal HSM) is all that opens them, and a rekey, which keeps the root, keeps
//! them. Every change is one durable write of that record, made before the keys in memory
//! change, so a crash leaves the record as it was before the change or after it, and both open
//! every record on disk: a rotation adds a version before anything is sealed under it, and a
//! retirement removes versions only once nothing is sealed under them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::error::{Bug, Error};
use crate::master_key::MasterKey;
use crate::secret::{KEY_LEN, SecretKey, WhenIdle};
use crate::store::{Batch, Column, SealingKeys, Store};

/// Where the stored versions live in [`Column::Meta`]. Part of the on-disk format.
const RECORD_KEY: &[u8] = b"record-keys";

/// The version derived from the root.
const DERIVED: u32 = 1;

/// Every version of the record key held in memory: the one that seals, and older ones that
/// only open.
pub(crate) struct RecordKeys {
    current: u32,
    sealing: SecretKey,
    older: BTreeMap<u32, SecretKey>,
}

impl std::fmt::Debug for RecordKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordKeys")
            .field("current", &self.current)
            .field("older", &self.older.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The stored versions, as CBOR inside their sealed envelope.
#[derive(Serialize, Deserialize)]
struct Stored {
    current: u32,
    versions: Vec<StoredVersion>,
}

/// One stored version: its key, or `None` for the version derived from the root.
#[derive(Serialize, Deserialize)]
struct StoredVersion {
    version: u32,
    key: Option<[u8; KEY_LEN]>,
}

impl Drop for StoredVersion {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl RecordKeys {
    /// Version 1 only, derived from `master`'s root: an installation never rotated.
    pub(crate) fn first(master: &MasterKey) -> Result<Self, Error> {
        Ok(Self {
            current: DERIVED,
            sealing: master.derived_record_key()?,
            older: BTreeMap::new(),
        })
    }

    /// The versions stored in `store`, opened under `master`; version 1 alone when none are.
    pub(crate) fn load(store: &Store, master: &MasterKey) -> Result<Self, Error> {
        let Some(stored) =
            store.get_sealed::<Stored>(master.record_keys_key(), Column::Meta, RECORD_KEY)?
        else {
            return Self::first(master);
        };
        let mut versions = BTreeMap::new();
        for entry in &stored.versions {
            let key = match &entry.key {
                None if entry.version == DERIVED => master.derived_record_key()?,
                Some(bytes) => SecretKey::from_fn(WhenIdle::ReadOnly, |key| {
                    key.copy_from_slice(bytes);
                    Ok::<_, Error>(())
                })?,
                None => {
                    return Err(Error::Internal(Bug::RecordKeys(
                        "a random version without its key",
                    )));
                }
            };
            versions.insert(entry.version, key);
        }
        let sealing = versions
            .remove(&stored.current)
            .ok_or(Error::Internal(Bug::RecordKeys(
                "the current version is not stored",
            )))?;
        Ok(Self {
            current: stored.current,
            sealing,
            older: versions,
        })
    }

    /// The version that seals every write.
    pub(crate) fn current(&self) -> u32 {
        self.current
    }

    /// The older versions still held, oldest first: records sealed under them may remain.
    pub(crate) fn retiring(&self) -> Vec<u32> {
        self.older.keys().copied().collect()
    }

    /// Adds a new random version and makes it current: durably first, with whatever `stage`
    /// adds to the same write (the audit record), then in memory. Refused while older
    /// versions are still being retired, which bounds the versions to two.
    pub(crate) fn rotate(
        &mut self,
        store: &Store,
        master: &MasterKey,
        stage: impl FnOnce(&mut Batch<'_>) -> Result<(), Error>,
    ) -> Result<Option<u64>, Error> {
        if let Some(&version) = self.retiring().first() {
            return Err(Error::MasterKeyRetiring { version });
        }
        let version = self
            .current
            .checked_add(1)
            .ok_or(Error::Internal(Bug::RecordKeys("no version number left")))?;
        let key = SecretKey::random(WhenIdle::ReadOnly)?;
        let next = [(self.current, &self.sealing), (version, &key)];
        let staged = self.write(store, master, version, &next, stage)?;
        let previous = std::mem::replace(&mut self.sealing, key);
        self.older.insert(self.current, previous);
        self.current = version;
        Ok(staged)
    }

    /// Drops every version but the current one: durably first, with whatever `stage` adds to
    /// the same write, then in memory (which wipes them). The caller has made sure that no
    /// record is sealed under them any more.
    pub(crate) fn retire(
        &mut self,
        store: &Store,
        master: &MasterKey,
        stage: impl FnOnce(&mut Batch<'_>) -> Result<(), Error>,
    ) -> Result<Option<u64>, Error> {
        let only = [(self.current, &self.sealing)];
        let staged = self.write(store, master, self.current, &only, stage)?;
        self.older.clear();
        Ok(staged)
    }

    /// Writes `versions`, `current` sealing, with what `stage` adds, in one durable write; the
    /// sequence number of the audit record `stage` added, if it did.
    fn write(
        &self,
        store: &Store,
        master: &MasterKey,
        current: u32,
        versions: &[(u32, &SecretKey)],
        stage: impl FnOnce(&mut Batch<'_>) -> Result<(), Error>,
    ) -> Result<Option<u64>, Error> {
        let stored = Stored {
            current,
            versions: versions
                .iter()
                .map(|&(version, key)| StoredVersion {
                    version,
                    key: (version != DERIVED).then(|| key.expose(|bytes| *bytes)),
                })
                .collect(),
        };
        let mut batch = store.batch(self);
        batch.put_sealed_with(master.record_keys_key(), Column::Meta, RECORD_KEY, &stored)?;
        stage(&mut batch)?;
        batch.commit_maybe_audited()
    }
}

impl SealingKeys for RecordKeys {
    fn sealing(&self) -> (u32, &SecretKey) {
        (self.current, &self.sealing)
    }

    fn opening(&self, version: u32) -> Option<&SecretKey> {
        if version == self.current {
            return Some(&self.sealing);
        }
        self.older.get(&version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    fn no_stage(_: &mut Batch<'_>) -> Result<(), Error> {
        Ok(())
    }

    #[test]
    fn a_store_never_rotated_has_version_1_from_the_root() {
        let (_dir, store) = open_store();
        let master = MasterKey::generate().unwrap();
        let keys = RecordKeys::load(&store, &master).unwrap();
        assert_eq!((keys.current(), keys.retiring()), (1, vec![]));
        let first = RecordKeys::first(&master).unwrap();
        let same = keys
            .sealing()
            .1
            .expose(|a| first.sealing().1.expose(|b| a == b));
        assert!(same);
    }

    #[test]
    fn a_rotation_is_stored_before_it_is_used_and_a_retirement_too() {
        let (_dir, store) = open_store();
        let master = MasterKey::generate().unwrap();
        let mut keys = RecordKeys::load(&store, &master).unwrap();
        let mut batch = store.batch(&keys);
        batch.put_sealed(Column::Tenants, b"old", &1u8).unwrap();
        batch.commit().unwrap();

        keys.rotate(&store, &master, no_stage).unwrap();
        assert_eq!((keys.current(), keys.retiring()), (2, vec![1]));
        let mut batch = store.batch(&keys);
        batch.put_sealed(Column::Tenants, b"new", &2u8).unwrap();
        batch.commit().unwrap();
        let err = keys.rotate(&store, &master, no_stage).unwrap_err();
        assert!(
            matches!(err, Error::MasterKeyRetiring { version: 1 }),
            "{err}"
        );

        // As a restart finds it: both versions, both records open.
        let reloaded = RecordKeys::load(&store, &master).unwrap();
        assert_eq!((reloaded.current(), reloaded.retiring()), (2, vec![1]));
        let old: Option<u8> = store
            .get_sealed(&reloaded, Column::Tenants, b"old")
            .unwrap();
        let new: Option<u8> = store
            .get_sealed(&reloaded, Column::Tenants, b"new")
            .unwrap();
        assert_eq!((old, new), (Some(1), Some(2)));

        let page = store.reseal(&keys, Column::Tenants, b"", b"", 10).unwrap();
        assert_eq!((page.resealed, page.next), (1, None));
        keys.retire(&store, &master, no_stage).unwrap();
        let reloaded = RecordKeys::load(&store, &master).unwrap();
        assert_eq!((reloaded.current(), reloaded.retiring()), (2, vec![]));
        let old: Option<u8> = store
            .get_sealed(&reloaded, Column::Tenants, b"old")
            .unwrap();
        assert_eq!(old, Some(1));
        assert!(
            store
                .get_sealed::<u8>(
                    &RecordKeys::first(&master).unwrap(),
                    Column::Tenants,
                    b"old"
                )
                .is_err()
        );
    }

    #[test]
    fn the_stored_versions_open_only_under_their_master_key() {
        let (_dir, store) = open_store();
        let master = MasterKey::generate().unwrap();
        let mut keys = RecordKeys::load(&store, &master).unwrap();
        keys.rotate(&store, &master, no_stage).unwrap();
        let stored = store.get_plain(Column::Meta, RECORD_KEY).unwrap().unwrap();
        keys.expose_each(|bytes| assert!(!stored.windows(KEY_LEN).any(|w| w == bytes)));
        let other = MasterKey::generate().unwrap();
        let err = RecordKeys::load(&store, &other).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TamperedRecord {
                    column: Column::Meta,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn debug_names_versions_only() {
        let master = MasterKey::generate().unwrap();
        let keys = RecordKeys::first(&master).unwrap();
        assert_eq!(format!("{keys:?}"), "RecordKeys { current: 1, older: [] }");
    }

    impl RecordKeys {
        fn expose_each(&self, mut f: impl FnMut(&[u8; KEY_LEN])) {
            self.sealing.expose(&mut f);
            for key in self.older.values() {
                key.expose(&mut f);
            }
        }
    }
}
