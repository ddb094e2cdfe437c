//! The envelope every stored value is sealed in: AES-256-GCM under the record key, bound to
//! the column family and record key it was written under.
//!
//! Layout: `version (1) || nonce (12) || ciphertext || tag (16)`. The associated data is
//! `"krypton.record.v1" || len(family) || family || record key`, so a value copied to another
//! key or family, or re-labelled with another version, fails to open. Nonces are random
//! (aws-lc's randomized-nonce GCM): one key seals at most a few billion records before the
//! nonce-collision bound matters, far beyond what one installation writes.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use zeroize::Zeroizing;

use crate::error::{Bug, Error};
use crate::secret::SecretKey;
use crate::store::column::Column;

const VERSION: u8 = 1;
const AAD_LABEL: &[u8] = b"krypton.record.v1";
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;

/// The envelope did not authenticate: it was altered, truncated, or moved to another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unauthentic;

/// Seals `plaintext` for storage at `record_key` in `column`.
pub(crate) fn seal(
    key: &SecretKey,
    column: Column,
    record_key: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    // Sized once so the buffer never reallocates and leaves a plaintext copy behind.
    let mut sealed = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    sealed.push(VERSION);
    sealed.extend_from_slice(&[0; NONCE_LEN]);
    sealed.extend_from_slice(plaintext);
    let (nonce, tag) = key
        .expose(|bytes| {
            let aead = RandomizedNonceKey::new(&AES_256_GCM, bytes)?;
            aead.seal_in_place_separate_tag(
                Aad::from(aad(column, record_key)),
                &mut sealed[HEADER_LEN..],
            )
        })
        .map_err(|_| Error::Internal(Bug::Aead))?;
    sealed[1..HEADER_LEN].copy_from_slice(nonce.as_ref());
    sealed.extend_from_slice(tag.as_ref());
    Ok(sealed)
}

/// Opens a value read from `record_key` in `column`, returning its plaintext.
pub(crate) fn open(
    key: &SecretKey,
    column: Column,
    record_key: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Unauthentic> {
    let (&version, rest) = sealed.split_first().ok_or(Unauthentic)?;
    if version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
        return Err(Unauthentic);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unauthentic)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len = key
        .expose(|bytes| {
            let aead = RandomizedNonceKey::new(&AES_256_GCM, bytes)?;
            aead.open_in_place(nonce, Aad::from(aad(column, record_key)), &mut buffer)
                .map(|plaintext| plaintext.len())
        })
        .map_err(|_| Unauthentic)?;
    buffer.truncate(plaintext_len);
    Ok(buffer)
}

fn aad(column: Column, record_key: &[u8]) -> Vec<u8> {
    let family = column.name().as_bytes();
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 1 + family.len() + record_key.len());
    aad.extend_from_slice(AAD_LABEL);
    // Family names are short constants; the length byte keeps family and key apart.
    aad.push(family.len() as u8);
    aad.extend_from_slice(family);
    aad.extend_from_slice(record_key);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::WhenIdle;

    fn key() -> SecretKey {
        SecretKey::random(WhenIdle::ReadOnly).unwrap()
    }

    #[test]
    fn round_trip() {
        let key = key();
        let sealed = seal(&key, Column::Audit, b"k1", b"hello").unwrap();
        assert_eq!(sealed.len(), HEADER_LEN + 5 + TAG_LEN);
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
        let plain = open(&key, Column::Audit, b"k1", &sealed).unwrap();
        assert_eq!(plain.as_slice(), b"hello");
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let key = key();
        let sealed = seal(&key, Column::Meta, b"", b"").unwrap();
        assert!(open(&key, Column::Meta, b"", &sealed).unwrap().is_empty());
    }

    #[test]
    fn nonces_differ_between_seals() {
        let key = key();
        let a = seal(&key, Column::Audit, b"k", b"same").unwrap();
        let b = seal(&key, Column::Audit, b"k", b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn moved_record_fails_to_open() {
        let key = key();
        let sealed = seal(&key, Column::Tenants, b"tenant-a", b"secret").unwrap();
        assert_eq!(
            open(&key, Column::Tenants, b"tenant-b", &sealed),
            Err(Unauthentic)
        );
        assert_eq!(
            open(&key, Column::Services, b"tenant-a", &sealed),
            Err(Unauthentic)
        );
    }

    #[test]
    fn family_and_key_boundary_is_unambiguous() {
        // Without the length byte, ("meta", "x") and ("metax", "") would share associated data.
        assert_ne!(aad(Column::Meta, b"x"), aad(Column::Audit, b""));
        assert_ne!(aad(Column::Meta, b"audit"), aad(Column::Audit, b""));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let key = key();
        let sealed = seal(&key, Column::Audit, b"k", b"payload").unwrap();
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut tampered = sealed.clone();
                tampered[i] ^= 1 << bit;
                assert_eq!(
                    open(&key, Column::Audit, b"k", &tampered),
                    Err(Unauthentic),
                    "byte {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn truncated_and_foreign_keys_are_refused() {
        let key = key();
        let sealed = seal(&key, Column::Audit, b"k", b"payload").unwrap();
        for len in 0..sealed.len() {
            assert_eq!(
                open(&key, Column::Audit, b"k", &sealed[..len]),
                Err(Unauthentic)
            );
        }
        assert_eq!(
            open(&self::key(), Column::Audit, b"k", &sealed),
            Err(Unauthentic)
        );
    }
}
