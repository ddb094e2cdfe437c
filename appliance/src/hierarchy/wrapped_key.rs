//! The wrapped data key (L4) a gateway stores: self-describing, so rotation is transparent.
//!
//! Version 1, integers big-endian:
//!
//! | offset | size | field                                              |
//! |--------|------|----------------------------------------------------|
//! | 0      | 1    | format version: 1                                  |
//! | 1      | 4    | the L3 version that sealed it                      |
//! | 5      | 12   | IV, drawn by the core                              |
//! | 17     | n    | AES-256-GCM ciphertext of the L4 (n = its length)  |
//! | 17 + n | 16   | GCM tag                                            |
//!
//! The associated data is `"krypton/l4-wrap/v1\0" || L3 version || the L4's Unique
//! Identifier`, which the gateway sends with every wrap and unwrap: a blob moved to another
//! key's record, or relabelled with another version, does not open. The L3 itself is named
//! by the request (`l3/<tenant>/<service>`), so a blob opens only under its own service.

use zeroize::Zeroizing;

use crate::error::Error;
use crate::secret::SecretKey;

use super::gcm::{self, IV_LEN, TAG_LEN};

const FORMAT: u8 = 1;
const DOMAIN: &[u8] = b"krypton/l4-wrap/v1\0";
const HEADER_LEN: usize = 1 + 4 + IV_LEN;
/// The largest L4 wrapped: data keys are 16 to 64 bytes; this leaves room for any key format
/// while keeping a blob under the gateway's 1 KiB bound.
pub(crate) const MAX_KEY_LEN: usize = 512;
/// The largest L4 identifier bound as associated data.
pub(crate) const MAX_ID_LEN: usize = 1024;

/// Wraps `key` (an L4) whose identifier is `id` under `l3`, version `version`.
pub(super) fn wrap(l3: &SecretKey, version: u32, id: &[u8], key: &[u8]) -> Result<Vec<u8>, Error> {
    check_inputs(id, key.len())?;
    let (iv, sealed) = gcm::seal(l3, &associated_data(version, id), key)?;
    let mut blob = Vec::with_capacity(HEADER_LEN + sealed.len());
    blob.push(FORMAT);
    blob.extend_from_slice(&version.to_be_bytes());
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// The L3 version a blob names, read before the key is chosen.
pub(super) fn version(blob: &[u8]) -> Result<u32, Error> {
    let (&format, rest) = blob
        .split_first()
        .ok_or(Error::MalformedWrappedKey("empty"))?;
    if format != FORMAT {
        return Err(Error::MalformedWrappedKey("unknown format version"));
    }
    if blob.len() < HEADER_LEN + TAG_LEN + 1 {
        return Err(Error::MalformedWrappedKey("truncated"));
    }
    if blob.len() > HEADER_LEN + MAX_KEY_LEN + TAG_LEN {
        return Err(Error::MalformedWrappedKey("longer than any wrapped key"));
    }
    let version = rest
        .first_chunk::<4>()
        .ok_or(Error::MalformedWrappedKey("truncated"))?;
    Ok(u32::from_be_bytes(*version))
}

/// Unwraps the L4 whose identifier is `id` from `blob`, under `l3` (the version
/// [`version`] named).
pub(super) fn unwrap(l3: &SecretKey, id: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let version = version(blob)?;
    check_inputs(id, 1)?;
    let (header, sealed) = blob.split_at(HEADER_LEN);
    let iv = header[5..]
        .first_chunk::<IV_LEN>()
        .ok_or(Error::MalformedWrappedKey("truncated"))?;
    gcm::open(l3, iv, &associated_data(version, id), sealed).ok_or(Error::UnauthenticWrappedKey)
}

fn check_inputs(id: &[u8], key_len: usize) -> Result<(), Error> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Error::InvalidRequest(
            "the additional data must be the L4's Unique Identifier (1 to 1024 bytes)",
        ));
    }
    if key_len == 0 || key_len > MAX_KEY_LEN {
        return Err(Error::InvalidRequest(
            "the data to wrap must be 1 to 512 bytes",
        ));
    }
    Ok(())
}

fn associated_data(version: u32, id: &[u8]) -> Vec<u8> {
    [DOMAIN, &version.to_be_bytes(), id].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::WhenIdle;

    #[test]
    fn round_trips_with_the_documented_layout() {
        let l3 = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let blob = wrap(&l3, 7, b"key-1", &[0x11; 32]).unwrap();
        assert_eq!(blob.len(), HEADER_LEN + 32 + TAG_LEN);
        assert_eq!(blob[..5], [1, 0, 0, 0, 7]);
        assert_eq!(version(&blob).unwrap(), 7);
        assert_eq!(
            unwrap(&l3, b"key-1", &blob).unwrap().as_slice(),
            &[0x11; 32]
        );
        assert!(!blob.windows(32).any(|w| w == [0x11; 32]));
    }

    #[test]
    fn refuses_other_ids_versions_and_tampering() {
        let l3 = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let blob = wrap(&l3, 1, b"key-1", &[0x11; 32]).unwrap();
        assert!(matches!(
            unwrap(&l3, b"key-2", &blob),
            Err(Error::UnauthenticWrappedKey)
        ));
        let mut relabelled = blob.clone();
        relabelled[4] = 2;
        assert!(matches!(
            unwrap(&l3, b"key-1", &relabelled),
            Err(Error::UnauthenticWrappedKey)
        ));
        for bad in [&blob[..0], &blob[..HEADER_LEN + TAG_LEN], &[2u8; 60][..]] {
            assert!(matches!(
                unwrap(&l3, b"key-1", bad),
                Err(Error::MalformedWrappedKey(_))
            ));
        }
        assert!(matches!(
            wrap(&l3, 1, b"", &[1; 32]),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            wrap(&l3, 1, b"id", &[1; MAX_KEY_LEN + 1]),
            Err(Error::InvalidRequest(_))
        ));
    }
}
