//! One share of a split master key.

use std::fmt;
use std::str::FromStr;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{Error, KEY_LEN, KeySetId, format};

/// One share of a master key: its index, the key set and threshold it belongs to, and the share
/// value, which is secret and wiped on drop.
///
/// [`Display`](fmt::Display) writes the share in the text format of the crate documentation: that
/// text *is* the share, so only format a share to hand it to its custodian. [`Debug`] names the
/// key set, threshold and index and never the value. Parse with [`Share::parse`] or
/// [`str::parse`].
pub struct Share {
    pub(crate) key_set: KeySetId,
    pub(crate) threshold: u8,
    pub(crate) index: u8,
    pub(crate) value: [u8; KEY_LEN],
}

impl Share {
    /// Reads a share typed by an operator. Case, spaces, dashes and the look-alikes O, I and L
    /// are forgiven; anything else wrong is an [`Error::MalformedShare`] that, where it can, names
    /// the group that looks wrong, or [`Error::UnsupportedVersion`].
    pub fn parse(text: &str) -> Result<Self, Error> {
        format::read(text)
    }

    /// The share's index, 1 to 255: which of the N shares this is.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The split this share belongs to.
    pub fn key_set(&self) -> KeySetId {
        self.key_set
    }

    /// How many shares of this key set rebuild the key.
    pub fn threshold(&self) -> u8 {
        self.threshold
    }
}

impl FromStr for Share {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text)
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format::write(self, f)
    }
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("key_set", &self.key_set)
            .field("threshold", &self.threshold)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl ZeroizeOnDrop for Share {}
