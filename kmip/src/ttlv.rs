//! The TTLV item model (KMIP 1.4 §9.1, 2.1 §9.1): a tag, a type, a length and a value.
//!
//! This module fixes the in-memory shape of an item. Encoding and decoding live beside it.

use std::fmt;

use zeroize::Zeroizing;

/// A KMIP tag: three bytes on the wire, `0x42xxxx` for standard tags, `0x54xxxx` for extensions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

/// The one-byte item type that follows the tag on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ItemType {
    Structure = 0x01,
    Integer = 0x02,
    LongInteger = 0x03,
    BigInteger = 0x04,
    Enumeration = 0x05,
    Boolean = 0x06,
    TextString = 0x07,
    ByteString = 0x08,
    DateTime = 0x09,
    Interval = 0x0A,
    DateTimeExtended = 0x0B,
}

/// The value of an item. Byte strings and big integers are wiped when dropped, because key
/// material travels in them.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    Structure(Vec<Item>),
    Integer(i32),
    LongInteger(i64),
    /// Two's-complement, big-endian; the wire length is a multiple of eight.
    BigInteger(Zeroizing<Vec<u8>>),
    Enumeration(u32),
    Boolean(bool),
    TextString(String),
    ByteString(Zeroizing<Vec<u8>>),
    /// Seconds since the Unix epoch.
    DateTime(i64),
    /// Seconds.
    Interval(u32),
    /// Microseconds since the Unix epoch (KMIP 2.0 and later).
    DateTimeExtended(i64),
}

/// One tagged item.
#[derive(Clone, PartialEq, Eq)]
pub struct Item {
    pub tag: Tag,
    pub value: Value,
}

/// The tag of the `Password` field of a `Credential`: its Text String value is redacted from
/// `Debug` output like key material is.
const PASSWORD: Tag = Tag(0x42_00A1);

impl Tag {
    /// The tag as its three wire bytes, big-endian: the low three bytes of the value (the
    /// encoder refuses a tag with any higher bit set).
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 3] {
        let [_, a, b, c] = self.0.to_be_bytes();
        [a, b, c]
    }

    /// The tag from its three wire bytes, big-endian.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 3]) -> Self {
        Self(u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]))
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag(0x{:06X})", self.0)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:06X}", self.0)
    }
}

impl ItemType {
    /// The item type for a wire type byte, or `None` for a byte KMIP does not define.
    #[must_use]
    pub const fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0x01 => Self::Structure,
            0x02 => Self::Integer,
            0x03 => Self::LongInteger,
            0x04 => Self::BigInteger,
            0x05 => Self::Enumeration,
            0x06 => Self::Boolean,
            0x07 => Self::TextString,
            0x08 => Self::ByteString,
            0x09 => Self::DateTime,
            0x0A => Self::Interval,
            0x0B => Self::DateTimeExtended,
            _ => return None,
        })
    }
}

impl Value {
    /// The wire type of this value.
    #[must_use]
    pub const fn item_type(&self) -> ItemType {
        match self {
            Self::Structure(_) => ItemType::Structure,
            Self::Integer(_) => ItemType::Integer,
            Self::LongInteger(_) => ItemType::LongInteger,
            Self::BigInteger(_) => ItemType::BigInteger,
            Self::Enumeration(_) => ItemType::Enumeration,
            Self::Boolean(_) => ItemType::Boolean,
            Self::TextString(_) => ItemType::TextString,
            Self::ByteString(_) => ItemType::ByteString,
            Self::DateTime(_) => ItemType::DateTime,
            Self::Interval(_) => ItemType::Interval,
            Self::DateTimeExtended(_) => ItemType::DateTimeExtended,
        }
    }
}

/// Byte strings and big integers print only their length: they carry key material.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Structure(items) => f.debug_tuple("Structure").field(items).finish(),
            Self::Integer(v) => f.debug_tuple("Integer").field(v).finish(),
            Self::LongInteger(v) => f.debug_tuple("LongInteger").field(v).finish(),
            Self::BigInteger(v) => write!(f, "BigInteger(<{} bytes>)", v.len()),
            Self::Enumeration(v) => write!(f, "Enumeration(0x{v:08X})"),
            Self::Boolean(v) => f.debug_tuple("Boolean").field(v).finish(),
            Self::TextString(v) => f.debug_tuple("TextString").field(v).finish(),
            Self::ByteString(v) => write!(f, "ByteString(<{} bytes>)", v.len()),
            Self::DateTime(v) => f.debug_tuple("DateTime").field(v).finish(),
            Self::Interval(v) => f.debug_tuple("Interval").field(v).finish(),
            Self::DateTimeExtended(v) => f.debug_tuple("DateTimeExtended").field(v).finish(),
        }
    }
}

/// Prints like a derived `Debug`, except that a `Password` text string prints only its length.
impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Item");
        s.field("tag", &self.tag);
        match &self.value {
            Value::TextString(text) if self.tag == PASSWORD => {
                s.field("value", &format_args!("TextString(<{} bytes>)", text.len()))
            }
            value => s.field("value", value),
        };
        s.finish()
    }
}
