//! The KMIP protocol version (KMIP 1.4 §6.1, 2.1 §8.1) and what it changes in the encoding.

use std::fmt;

use crate::error::Error;
use crate::structure::{Builder, FieldValue, read_structure};
use crate::ttlv::{Item, Tag, Value};

/// A KMIP protocol version. Ordered, so `version >= ProtocolVersion::V1_2` asks whether a field
/// introduced in KMIP 1.2 may be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolVersion {
    pub major: i32,
    pub minor: i32,
}

impl ProtocolVersion {
    pub const V1_0: Self = Self::new(1, 0);
    pub const V1_1: Self = Self::new(1, 1);
    pub const V1_2: Self = Self::new(1, 2);
    pub const V1_3: Self = Self::new(1, 3);
    pub const V1_4: Self = Self::new(1, 4);
    pub const V2_0: Self = Self::new(2, 0);
    pub const V2_1: Self = Self::new(2, 1);

    /// Every version this crate encodes and decodes, newest first (the order Discover Versions
    /// answers in).
    pub const SUPPORTED: [Self; 7] = [
        Self::V2_1,
        Self::V2_0,
        Self::V1_4,
        Self::V1_3,
        Self::V1_2,
        Self::V1_1,
        Self::V1_0,
    ];

    #[must_use]
    pub const fn new(major: i32, minor: i32) -> Self {
        Self { major, minor }
    }

    /// Whether this crate speaks this version.
    #[must_use]
    pub fn is_supported(self) -> bool {
        Self::SUPPORTED.contains(&self)
    }

    /// This version if this crate speaks it, else [`Error::UnsupportedVersion`].
    pub fn supported(self) -> Result<Self, Error> {
        if self.is_supported() {
            Ok(self)
        } else {
            Err(Error::UnsupportedVersion {
                major: self.major,
                minor: self.minor,
            })
        }
    }

    /// Whether attributes travel in the KMIP 2.x `Attributes` structure, each under its own tag,
    /// rather than as 1.x `Attribute` structures named by text.
    #[must_use]
    pub fn uses_tagged_attributes(self) -> bool {
        self.major >= 2
    }
}

/// A `Protocol Version` structure. Reading does not check the version against
/// [`ProtocolVersion::SUPPORTED`]: Discover Versions lists versions this crate does not speak.
impl FieldValue for ProtocolVersion {
    fn read(item: &Item) -> Result<Self, Error> {
        read_structure(item, |fields| {
            Ok(Self {
                major: fields.required(Tag::PROTOCOL_VERSION_MAJOR)?,
                minor: fields.required(Tag::PROTOCOL_VERSION_MINOR)?,
            })
        })
    }

    fn value(&self) -> Value {
        let mut b = Builder::new();
        b.push(Tag::PROTOCOL_VERSION_MAJOR, &self.major);
        b.push(Tag::PROTOCOL_VERSION_MINOR, &self.minor);
        b.into_value()
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}
