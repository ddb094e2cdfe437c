//! The CBOR form of vault records, for backends that store bytes.
//!
//! Byte strings (wrapped keys, encoded attributes) go through [`Bytes`], so CBOR carries them
//! as byte strings rather than arrays of integers.

use std::io;

pub use kmip::objects::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The CBOR encoding of `value`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ciborium::ser::Error<io::Error>> {
    let mut bytes = Vec::new();
    ciborium::into_writer(value, &mut bytes)?;
    Ok(bytes)
}

/// Decodes a `T` from its CBOR encoding.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ciborium::de::Error<io::Error>> {
    ciborium::from_reader(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_a_cbor_byte_string() {
        let encoded = encode(&Bytes(vec![1, 2, 3])).unwrap();
        // Major type 2 (byte string), length 3.
        assert_eq!(encoded, [0x43, 1, 2, 3]);
        assert_eq!(decode::<Bytes>(&encoded).unwrap(), Bytes(vec![1, 2, 3]));
    }

    #[test]
    fn an_integer_array_is_not_bytes() {
        let encoded = encode(&vec![1u8, 2, 3]).unwrap();
        assert!(decode::<Bytes>(&encoded).is_err());
    }
}
