//! A byte string that serde formats carry as bytes (a CBOR byte string) rather than as an array
//! of integers: encoded attributes in [`Metadata`](super::Metadata), and the blobs servers keep
//! beside it.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte string in a serde record.
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

/// Shows only the length: byte strings here are wrapped keys and encoded attributes.
impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes(<{} bytes>)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }
}

struct BytesVisitor;

impl Visitor<'_> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes(bytes.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes(bytes))
    }
}

/// Key material in a stored record: a byte string, read back straight into wiped memory.
impl Serialize for crate::secret::SecretBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self)
    }
}

impl<'de> Deserialize<'de> for crate::secret::SecretBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_byte_buf(BytesVisitor)
            .map(|bytes| Self::new(bytes.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretBytes;

    #[test]
    fn bytes_and_secrets_are_cbor_byte_strings() {
        let mut encoded = Vec::new();
        ciborium::into_writer(&Bytes(vec![1, 2, 3]), &mut encoded).unwrap();
        assert_eq!(encoded, [0x43, 1, 2, 3]);
        let mut secret = Vec::new();
        ciborium::into_writer(&SecretBytes::new(vec![1, 2, 3]), &mut secret).unwrap();
        assert_eq!(secret, encoded);
        let back: SecretBytes = ciborium::from_reader(secret.as_slice()).unwrap();
        assert_eq!(&*back, &[1, 2, 3]);
    }
}
