//! Byte strings, big integers and text strings that carry secrets: key material, plaintext,
//! passwords, the numbers of a Transparent private key.
//!
//! They are wiped from memory when dropped and never printed: `Debug` shows only their length.

use std::fmt;
use std::ops::Deref;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::structure::{FieldValue, wrong_type};
use crate::ttlv::{Item, ItemType, Tag, Value};

/// Secret bytes, wiped on drop, redacted from `Debug`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<&[u8]> for SecretBytes {
    fn from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }
}

impl Deref for SecretBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes>)", self.0.len())
    }
}

impl FieldValue for SecretBytes {
    fn read(item: &Item) -> Result<Self, Error> {
        match &item.value {
            Value::ByteString(bytes) => Ok(Self(bytes.clone())),
            _ => Err(wrong_type(item, ItemType::ByteString)),
        }
    }

    fn value(&self) -> Value {
        Value::ByteString(self.0.clone())
    }
}

/// A non-negative big integer (a KMIP Big Integer), held as its big-endian magnitude without
/// leading zero bytes (zero is empty): the form cryptographic libraries take and give. Wiped on
/// drop, redacted from `Debug`.
///
/// On the wire a Big Integer is two's complement, sign-extended to a multiple of eight bytes
/// (KMIP 1.4 §9.1.1.4): reading drops the extension, and refuses a negative number, which no
/// key component is; writing puts a zero byte first where the magnitude's top bit is set, so the
/// number does not read as negative.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretInteger(Zeroizing<Vec<u8>>);

impl SecretInteger {
    /// The integer whose big-endian magnitude is `bytes` (leading zero bytes allowed).
    #[must_use]
    pub fn from_be_bytes(bytes: &[u8]) -> Self {
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Self(Zeroizing::new(bytes[first..].to_vec()))
    }

    /// The magnitude, big-endian, without leading zero bytes.
    #[must_use]
    pub fn be_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretInteger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretInteger(<{} bytes>)", self.0.len())
    }
}

impl FieldValue for SecretInteger {
    fn read(item: &Item) -> Result<Self, Error> {
        match &item.value {
            Value::BigInteger(bytes) if bytes.first().is_some_and(|msb| msb & 0x80 != 0) => {
                Err(negative(item.tag))
            }
            Value::BigInteger(bytes) => Ok(Self::from_be_bytes(bytes)),
            _ => Err(wrong_type(item, ItemType::BigInteger)),
        }
    }

    fn value(&self) -> Value {
        // A zero byte first for a top bit set, and for zero itself (no bytes at all).
        let lead = usize::from(self.0.first().is_none_or(|msb| msb & 0x80 != 0));
        let mut bytes = Zeroizing::new(Vec::with_capacity(self.0.len() + lead));
        bytes.resize(lead, 0);
        bytes.extend_from_slice(&self.0);
        Value::BigInteger(bytes)
    }
}

fn negative(tag: Tag) -> Error {
    Error::InvalidValue {
        tag,
        reason: "a key component is a non-negative integer",
    }
}

/// Secret text, wiped on drop, redacted from `Debug`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    #[must_use]
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

impl From<&str> for SecretString {
    fn from(text: &str) -> Self {
        Self::new(text.to_owned())
    }
}

impl Deref for SecretString {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString(<{} bytes>)", self.0.len())
    }
}

impl FieldValue for SecretString {
    fn read(item: &Item) -> Result<Self, Error> {
        match &item.value {
            Value::TextString(text) => Ok(Self::new(text.clone())),
            _ => Err(wrong_type(item, ItemType::TextString)),
        }
    }

    fn value(&self) -> Value {
        Value::TextString(self.0.to_string())
    }
}
