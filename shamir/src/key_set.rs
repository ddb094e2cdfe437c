//! The short identifier that ties the shares of one split to each other and to their key check.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::Error;

/// Identifies one split of one master key, so that shares of two installations (or of two
/// re-splits of the same installation) are never combined.
///
/// Drawn at random by [`split`](crate::split); 32 bits make an accidental clash between the
/// handful of key sets one operator holds negligible, and the key check catches the rest.
/// Not secret: it is printed as 8 hex digits for operators to compare.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySetId([u8; KeySetId::LEN]);

impl KeySetId {
    /// Length of the identifier in bytes.
    pub(crate) const LEN: usize = 4;

    pub(crate) fn random(rng: &SystemRandom) -> Result<Self, Error> {
        let mut id = [0; Self::LEN];
        rng.fill(&mut id).map_err(Error::Random)?;
        Ok(Self(id))
    }

    pub(crate) fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    pub(crate) fn to_bytes(self) -> [u8; Self::LEN] {
        self.0
    }
}

impl fmt::Display for KeySetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for KeySetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySetId({self})")
    }
}
