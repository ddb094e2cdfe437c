//! Where a wrapped data key (L4) belongs: its owner and Unique Identifier, as krypton-gateway
//! sends them to krypton-core in the Authenticated Encryption Additional Data of the Encrypt
//! that wraps the key and of every Decrypt that unwraps it.
//!
//! The core binds both into the wrapped blob (with the tenant and service of the L3 it wraps
//! under), so a blob moved or copied to another owner's or another key's record does not
//! unwrap.
//!
//! Encoding, lengths big-endian:
//!
//! | size | field                                                    |
//! |------|----------------------------------------------------------|
//! | 1    | encoding version: 1                                      |
//! | 2    | owner length *o*, 1 to [`MAX_FIELD_LEN`]                 |
//! | *o*  | owner: the application identity, UTF-8                   |
//! | 2    | identifier length *i*, 1 to [`MAX_FIELD_LEN`]            |
//! | *i*  | the L4's Unique Identifier, UTF-8                        |
//!
//! Nothing follows. Each field carries its length, so no two (owner, identifier) pairs encode
//! alike. The leading control byte sets it apart from what gateways before it sent, the bare
//! identifier (printable text), which the core refuses with a message naming the upgrade.
//!
//! The blob's own first byte is its format ([`BLOB_FORMAT_ID_ONLY`], [`BLOB_FORMAT_BOUND`]): a
//! gateway re-wraps a blob of the older format, which binds the identifier only, the first time
//! it unwraps it.

use std::fmt;

/// The encoding's version, its first byte.
const ENCODING: u8 = 1;
/// The longest owner or identifier bound, in bytes.
pub const MAX_FIELD_LEN: usize = 1024;

/// Format 1 of a wrapped blob: AES-256-GCM, bound to the L3 version and the identifier only.
/// Still unwrapped; never written any more.
pub const BLOB_FORMAT_ID_ONLY: u8 = 1;
/// Format 2 of a wrapped blob: AES-256-GCM-SIV, bound to tenant, service, L3 version, owner and
/// identifier.
pub const BLOB_FORMAT_BOUND: u8 = 2;

const TRUNCATED: InvalidBinding =
    InvalidBinding("the key's owner and identifier in the additional data are truncated");

/// An L4's owner and identifier.
#[derive(Clone, PartialEq, Eq)]
pub struct WrapBinding {
    /// The application identity that owns the key.
    pub owner: String,
    /// The key's Unique Identifier.
    pub id: String,
}

/// Additional data that is not a [`WrapBinding`]'s encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidBinding(pub &'static str);

impl WrapBinding {
    /// The binding of `owner`'s key `id`.
    #[must_use]
    pub fn new(owner: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            id: id.into(),
        }
    }

    /// The encoding the module documentation describes.
    ///
    /// # Errors
    ///
    /// [`InvalidBinding`] if the owner or the identifier is empty or longer than
    /// [`MAX_FIELD_LEN`].
    pub fn encode(&self) -> Result<Vec<u8>, InvalidBinding> {
        let mut bytes = Vec::with_capacity(5 + self.owner.len() + self.id.len());
        bytes.push(ENCODING);
        put_field(&mut bytes, &self.owner)?;
        put_field(&mut bytes, &self.id)?;
        Ok(bytes)
    }

    /// Reads the encoding the module documentation describes, and nothing else.
    ///
    /// # Errors
    ///
    /// [`InvalidBinding`] naming what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, InvalidBinding> {
        let rest = match bytes.split_first() {
            Some((&ENCODING, rest)) => rest,
            Some((first, _)) if first.is_ascii_graphic() => {
                return Err(InvalidBinding(
                    "the additional data is a bare identifier, as gateways before the owner \
                     binding sent: upgrade krypton-gateway",
                ));
            }
            _ => {
                return Err(InvalidBinding(
                    "the additional data is not a key's owner and identifier (unknown encoding)",
                ));
            }
        };
        let (owner, rest) = take_field(rest)?;
        let (id, rest) = take_field(rest)?;
        if !rest.is_empty() {
            return Err(InvalidBinding(
                "bytes follow the key's owner and identifier in the additional data",
            ));
        }
        Ok(Self::new(owner, id))
    }
}

impl fmt::Debug for WrapBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrapBinding({:?} of {:?})", self.id, self.owner)
    }
}

fn put_field(bytes: &mut Vec<u8>, field: &str) -> Result<(), InvalidBinding> {
    let len = checked_len(field.len())?;
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(field.as_bytes());
    Ok(())
}

fn take_field(bytes: &[u8]) -> Result<(&str, &[u8]), InvalidBinding> {
    let (len, rest) = bytes.split_first_chunk::<2>().ok_or(TRUNCATED)?;
    let len = usize::from(u16::from_be_bytes(*len));
    checked_len(len)?;
    if rest.len() < len {
        return Err(TRUNCATED);
    }
    let (field, rest) = rest.split_at(len);
    let field = std::str::from_utf8(field).map_err(|_| {
        InvalidBinding("the key's owner and identifier in the additional data must be UTF-8")
    })?;
    Ok((field, rest))
}

fn checked_len(len: usize) -> Result<u16, InvalidBinding> {
    u16::try_from(len)
        .ok()
        .filter(|_| (1..=MAX_FIELD_LEN).contains(&len))
        .ok_or(InvalidBinding(
            "the key's owner and identifier in the additional data are 1 to 1024 bytes each",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_layout_and_reads_it_back() {
        let binding = WrapBinding::new("app-alice", "k1");
        let bytes = binding.encode().unwrap();
        assert_eq!(bytes, b"\x01\x00\x09app-alice\x00\x02k1");
        assert_eq!(WrapBinding::decode(&bytes).unwrap(), binding);
    }

    #[test]
    fn no_two_pairs_encode_alike() {
        let a = WrapBinding::new("ab", "c").encode().unwrap();
        let b = WrapBinding::new("a", "bc").encode().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn refuses_what_is_not_exactly_a_binding() {
        let good = WrapBinding::new("app", "id").encode().unwrap();
        let bare = WrapBinding::decode(b"06064737-f32a-4e83-aae6-827fd5fee25d").unwrap_err();
        assert!(bare.0.contains("upgrade krypton-gateway"), "{bare}");
        for bad in [
            &b""[..],
            &[2, 0, 1, b'a', 0, 1, b'b'],
            &good[..good.len() - 1],
            &[good.as_slice(), b"x"].concat(),
            &[1, 0, 0, 0, 1, b'b'],
            &[1, 0, 1, 0xff, 0, 1, b'b'],
        ] {
            assert!(WrapBinding::decode(bad).is_err(), "{bad:?}");
        }
        let long = "x".repeat(MAX_FIELD_LEN + 1);
        assert!(WrapBinding::new(long.as_str(), "id").encode().is_err());
        assert!(WrapBinding::new("app", "").encode().is_err());
        let longest = "x".repeat(MAX_FIELD_LEN);
        let bytes = WrapBinding::new(longest.as_str(), longest.as_str())
            .encode()
            .unwrap();
        assert_eq!(WrapBinding::decode(&bytes).unwrap().id, longest);
    }
}
