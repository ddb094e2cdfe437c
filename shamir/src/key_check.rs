//! The stored value that tells whether a rebuilt master key is the right one.

use std::fmt;

use aws_lc_rs::hmac;

use crate::{Error, KEY_LEN, KeySetId, Share};

/// Domain of the key-check MAC, so that this tag can never be mistaken for any other use of
/// HMAC under the master key.
const DOMAIN: &[u8] = b"krypton/shamir/key-check/v1";
const VERSION: u8 = 1;
const TAG_LEN: usize = 32;

/// Proof that a master key is the one a key set was split from, without revealing the key.
///
/// It is HMAC-SHA256 keyed by the master key over a fixed domain string, the key-set id and the
/// threshold. A MAC over a purpose string rather than a bare hash of the key: the value is bound
/// to this purpose and this key set, and can never coincide with another value derived from the
/// same key (a fingerprint, a KDF output) elsewhere. It is not secret and is stored next to the
/// appliance's data with [`KeyCheck::to_bytes`], read back with [`KeyCheck::from_bytes`].
#[derive(Clone, PartialEq, Eq)]
pub struct KeyCheck {
    key_set: KeySetId,
    threshold: u8,
    tag: [u8; TAG_LEN],
}

impl KeyCheck {
    /// Length of [`KeyCheck::to_bytes`]: version, key-set id, threshold, tag.
    pub const LEN: usize = 1 + KeySetId::LEN + 1 + TAG_LEN;

    pub(crate) fn compute(master: &[u8; KEY_LEN], key_set: KeySetId, threshold: u8) -> Self {
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(hmac::sign(&mac_key(master), &message(key_set, threshold)).as_ref());
        Self {
            key_set,
            threshold,
            tag,
        }
    }

    /// Checks, in constant time, that `master` is the key this check was made for.
    pub(crate) fn verify(&self, master: &[u8; KEY_LEN]) -> Result<(), Error> {
        let message = message(self.key_set, self.threshold);
        hmac::verify(&mac_key(master), &message, &self.tag).map_err(|_| Error::WrongKey)
    }

    /// Checks at entry time that a share belongs to this key set, so that a share of another
    /// installation is refused as it is typed rather than after K shares have been collected.
    pub fn admit(&self, share: &Share) -> Result<(), Error> {
        if share.key_set() != self.key_set {
            return Err(Error::ForeignKeySet {
                share: share.key_set(),
                expected: self.key_set,
            });
        }
        if share.threshold() != self.threshold {
            return Err(Error::ThresholdMismatch {
                share: share.threshold(),
                expected: self.threshold,
            });
        }
        Ok(())
    }

    /// The key set this check belongs to.
    pub fn key_set(&self) -> KeySetId {
        self.key_set
    }

    /// How many shares rebuild the key.
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// The stored form: a version byte, the key-set id, the threshold and the 32-byte tag.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut bytes = [0; Self::LEN];
        let (version, rest) = bytes.split_at_mut(1);
        let (key_set, rest) = rest.split_at_mut(KeySetId::LEN);
        let (threshold, tag) = rest.split_at_mut(1);
        version[0] = VERSION;
        key_set.copy_from_slice(&self.key_set.to_bytes());
        threshold[0] = self.threshold;
        tag.copy_from_slice(&self.tag);
        bytes
    }

    /// Reads the stored form back; [`Error::MalformedKeyCheck`] if it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bytes: &[u8; Self::LEN] = bytes.try_into().map_err(|_| Error::MalformedKeyCheck)?;
        let (version, rest) = bytes.split_at(1);
        let (key_set, rest) = rest.split_at(KeySetId::LEN);
        let (threshold, tag) = rest.split_at(1);
        if version != [VERSION] || threshold[0] < 2 {
            return Err(Error::MalformedKeyCheck);
        }
        let key_set = <[u8; KeySetId::LEN]>::try_from(key_set);
        let tag = <[u8; TAG_LEN]>::try_from(tag);
        let (Ok(key_set), Ok(tag)) = (key_set, tag) else {
            return Err(Error::MalformedKeyCheck);
        };
        Ok(Self {
            key_set: KeySetId::from_bytes(key_set),
            threshold: threshold[0],
            tag,
        })
    }
}

fn mac_key(master: &[u8; KEY_LEN]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, master)
}

fn message(key_set: KeySetId, threshold: u8) -> Vec<u8> {
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&key_set.to_bytes());
    message.push(threshold);
    message
}

impl fmt::Debug for KeyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCheck")
            .field("key_set", &self.key_set)
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}
