//! The master key and the purpose keys derived from it.
//!
//! The 32-byte master key is generated once at `init`, split into shares, and afterwards exists
//! only while unsealed, rebuilt from K shares. It is never used directly: HKDF-SHA256 derives
//! one key per purpose, so the AES-GCM key that seals records is never also an HMAC key.
//! Every one of these keys lives in its own guarded [`SecretKey`] and is wiped when the
//! `MasterKey` is dropped (on seal and on shutdown).

use aws_lc_rs::hmac;

use crate::error::Error;
use crate::secret::{SecretKey, WhenIdle};

/// HKDF `info` labels. Part of the on-disk format: changing one orphans every record.
const RECORD_KEY_LABEL: &[u8] = b"krypton/v1/record-seal";
const METADATA_KEY_LABEL: &[u8] = b"krypton/v1/metadata-mac";
const RECORD_KEYS_KEY_LABEL: &[u8] = b"krypton/v1/record-keys-seal";

/// The master key and its derived keys, each in guarded memory.
pub(crate) struct MasterKey {
    root: SecretKey,
    metadata: SecretKey,
    record_keys: SecretKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Draws a new master key from the operating system's RNG.
    pub(crate) fn generate() -> Result<Self, Error> {
        Self::from_root(SecretKey::random(WhenIdle::NoAccess)?)
    }

    /// Rebuilds the master key from `shares` and checks it against `key_check`.
    pub(crate) fn combine(
        shares: &[shamir::Share],
        key_check: &shamir::KeyCheck,
    ) -> Result<Self, Error> {
        let root = SecretKey::from_fn(WhenIdle::NoAccess, |root| {
            shamir::combine_into(shares, key_check, root).map_err(Error::from)
        })?;
        Self::from_root(root)
    }

    /// The master key whose root is `root` (as the HSM seal gives it back).
    pub(crate) fn from_root(root: SecretKey) -> Result<Self, Error> {
        // Both are used rarely (at unseal, rekey, rotation) and are unreadable between uses.
        let metadata = derive(&root, METADATA_KEY_LABEL, WhenIdle::NoAccess)?;
        let record_keys = derive(&root, RECORD_KEYS_KEY_LABEL, WhenIdle::NoAccess)?;
        Ok(Self {
            root,
            metadata,
            record_keys,
        })
    }

    /// A second copy of the master key, in its own guarded memory, for work that outlives a
    /// lock (the HSM sealing it again at a rekey).
    pub(crate) fn duplicate(&self) -> Result<Self, Error> {
        let root = SecretKey::from_fn(WhenIdle::NoAccess, |copy| {
            self.root.expose(|root| *copy = *root);
            Ok::<_, Error>(())
        })?;
        Self::from_root(root)
    }

    /// Splits the master key into `count` shares, any `threshold` of which rebuild it.
    pub(crate) fn split(&self, threshold: u8, count: u8) -> Result<shamir::Split, Error> {
        self.root
            .expose(|root| shamir::split(root, threshold, count))
            .map_err(Error::from)
    }

    /// The root itself, for the HSM seal to seal; used for nothing else.
    pub(crate) fn root(&self) -> &SecretKey {
        &self.root
    }

    /// Whether `other` is the same master key, compared in constant time.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        self.root.expose(|mine| {
            other.root.expose(|theirs| {
                aws_lc_rs::constant_time::verify_slices_are_equal(mine, theirs).is_ok()
            })
        })
    }

    /// Version 1 of the record key, which seals stored records until the first master-key
    /// rotation (see `record_keys`). It seals and opens from many threads at once: its page
    /// stays readable.
    pub(crate) fn derived_record_key(&self) -> Result<SecretKey, Error> {
        derive(&self.root, RECORD_KEY_LABEL, WhenIdle::ReadOnly)
    }

    /// The key that seals the stored versions of the record key.
    pub(crate) fn record_keys_key(&self) -> &SecretKey {
        &self.record_keys
    }

    /// An HMAC-SHA256 tag over `data` under the metadata key.
    pub(crate) fn metadata_tag(&self, data: &[u8]) -> hmac::Tag {
        self.metadata.expose(|key| {
            let key = hmac::Key::new(hmac::HMAC_SHA256, key);
            hmac::sign(&key, data)
        })
    }

    /// Checks, in constant time, that `tag` is the metadata tag of `data`.
    pub(crate) fn verify_metadata_tag(&self, data: &[u8], tag: &[u8]) -> bool {
        self.metadata.expose(|key| {
            let key = hmac::Key::new(hmac::HMAC_SHA256, key);
            hmac::verify(&key, data, tag).is_ok()
        })
    }
}

/// The key derived from `root` for the purpose `label`.
fn derive(root: &SecretKey, label: &[u8], when_idle: WhenIdle) -> Result<SecretKey, Error> {
    Ok(root.derive(&[label], when_idle)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ShareRefusal;

    fn root_bytes(master: &MasterKey) -> [u8; 32] {
        master.root.expose(|root| *root)
    }

    #[test]
    fn derived_keys_are_distinct_and_deterministic() {
        let master = MasterKey::generate().unwrap();
        let root = root_bytes(&master);
        let records = master.derived_record_key().unwrap().expose(|k| *k);
        let metadata = master.metadata.expose(|k| *k);
        let record_keys = master.record_keys.expose(|k| *k);
        for (a, b) in [(records, root), (metadata, root), (record_keys, root)] {
            assert_ne!(a, b);
        }
        assert_ne!(records, metadata);
        assert_ne!(records, record_keys);
        assert_ne!(metadata, record_keys);

        let again = MasterKey::from_root(
            SecretKey::from_fn(WhenIdle::NoAccess, |out| {
                *out = root;
                Ok::<(), Error>(())
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(again.derived_record_key().unwrap().expose(|k| *k), records);
        assert_eq!(again.metadata.expose(|k| *k), metadata);
    }

    #[test]
    fn split_then_combine_rebuilds_the_same_keys() {
        let master = MasterKey::generate().unwrap();
        let split = master.split(3, 5).unwrap();
        let rebuilt = MasterKey::combine(&split.shares[1..4], &split.key_check).unwrap();
        assert_eq!(root_bytes(&rebuilt), root_bytes(&master));
        let tag = master.metadata_tag(b"install");
        assert!(rebuilt.verify_metadata_tag(b"install", tag.as_ref()));
        assert!(!rebuilt.verify_metadata_tag(b"instal1", tag.as_ref()));
    }

    #[test]
    fn combine_reports_a_short_share_set() {
        let master = MasterKey::generate().unwrap();
        let split = master.split(3, 5).unwrap();
        let err = MasterKey::combine(&split.shares[..2], &split.key_check).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ShareRefused {
                    kind: ShareRefusal::TooFew,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn debug_is_redacted() {
        let master = MasterKey::generate().unwrap();
        assert_eq!(format!("{master:?}"), "MasterKey(<redacted>)");
    }
}
