//! Byte and text strings that carry secrets: key material, plaintext, passwords.
//!
//! They are wiped from memory when dropped and never printed: `Debug` shows only their length.

use std::fmt;
use std::ops::Deref;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::structure::{FieldValue, wrong_type};
use crate::ttlv::{Item, ItemType, Value};

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
