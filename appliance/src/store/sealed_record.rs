//! The envelope every stored value is sealed in, under the record key, bound to the column
//! family and record key it was written under.
//!
//! Layout: `version (1) || nonce (12) || ciphertext || tag (16)`. The associated data is
//! `label || len(family) || family || record key`, so a value copied to another key or family,
//! or re-labelled with another version, fails to open. Nonces are random.
//!
//! | version | AEAD            | label                 |                                  |
//! |---------|-----------------|-----------------------|----------------------------------|
//! | 2       | AES-256-GCM-SIV | `"krypton.record.v2"` | every write                      |
//! | 1       | AES-256-GCM     | `"krypton.record.v1"` | still opened; rewritten as 2 when the record is next written |
//!
//! One installation-wide key seals every record, and nothing bounds how many it seals over the
//! installation's life; GCM-SIV keeps that safe well past the 2^32 seals at which random
//! 96-bit GCM nonces start to risk a collision (docs/architecture.md, "Why AES-256-GCM-SIV for
//! data keys").

use aws_lc_rs::aead::{
    AES_256_GCM, AES_256_GCM_SIV, Aad, Algorithm, NONCE_LEN, Nonce, RandomizedNonceKey,
};
use zeroize::Zeroizing;

use crate::error::{Bug, Error};
use crate::secret::SecretKey;
use crate::store::column::Column;

/// The version every seal writes.
const VERSION: Version = Version::V2;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;

/// An envelope version: its AEAD and the label of its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

impl Version {
    fn of(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    fn algorithm(self) -> &'static Algorithm {
        match self {
            Self::V1 => &AES_256_GCM,
            Self::V2 => &AES_256_GCM_SIV,
        }
    }

    fn label(self) -> &'static [u8] {
        match self {
            Self::V1 => b"krypton.record.v1",
            Self::V2 => b"krypton.record.v2",
        }
    }
}

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
    sealed.push(VERSION.byte());
    sealed.extend_from_slice(&[0; NONCE_LEN]);
    sealed.extend_from_slice(plaintext);
    let (nonce, tag) = key
        .expose(|bytes| {
            let aead = RandomizedNonceKey::new(VERSION.algorithm(), bytes)?;
            aead.seal_in_place_separate_tag(
                Aad::from(aad(VERSION, column, record_key)),
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
    let version = Version::of(version).ok_or(Unauthentic)?;
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(Unauthentic);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unauthentic)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len = key
        .expose(|bytes| {
            let aead = RandomizedNonceKey::new(version.algorithm(), bytes)?;
            aead.open_in_place(
                nonce,
                Aad::from(aad(version, column, record_key)),
                &mut buffer,
            )
            .map(|plaintext| plaintext.len())
        })
        .map_err(|_| Unauthentic)?;
    buffer.truncate(plaintext_len);
    Ok(buffer)
}

fn aad(version: Version, column: Column, record_key: &[u8]) -> Vec<u8> {
    let label = version.label();
    let family = column.name().as_bytes();
    let mut aad = Vec::with_capacity(label.len() + 1 + family.len() + record_key.len());
    aad.extend_from_slice(label);
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
        for version in [Version::V1, Version::V2] {
            assert_ne!(
                aad(version, Column::Meta, b"x"),
                aad(version, Column::Audit, b"")
            );
            assert_ne!(
                aad(version, Column::Meta, b"audit"),
                aad(version, Column::Audit, b"")
            );
        }
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

    /// A version 1 envelope in the meta family, sealed as the core sealed records before
    /// version 2.
    fn seal_v1(key: &SecretKey, record_key: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut sealed = plaintext.to_vec();
        let nonce = key.expose(|bytes| {
            RandomizedNonceKey::new(&AES_256_GCM, bytes)
                .unwrap()
                .seal_in_place_append_tag(
                    Aad::from([&b"krypton.record.v1"[..], &[4], b"meta", record_key].concat()),
                    &mut sealed,
                )
                .unwrap()
        });
        [&[1u8][..], nonce.as_ref(), &sealed].concat()
    }

    #[test]
    fn writes_version_2_with_gcm_siv_as_documented() {
        let key = key();
        let sealed = seal(&key, Column::Meta, b"k", b"payload").unwrap();
        assert_eq!(sealed[0], 2);
        let aad = [&b"krypton.record.v2"[..], &[4], b"meta", b"k"].concat();
        let mut buffer = sealed[HEADER_LEN..].to_vec();
        let plain = key.expose(|bytes| {
            let siv = aws_lc_rs::aead::LessSafeKey::new(
                aws_lc_rs::aead::UnboundKey::new(&AES_256_GCM_SIV, bytes).unwrap(),
            );
            let nonce = Nonce::try_assume_unique_for_key(&sealed[1..HEADER_LEN]).unwrap();
            siv.open_in_place(nonce, Aad::from(aad), &mut buffer)
                .unwrap()
                .to_vec()
        });
        assert_eq!(plain, b"payload");
    }

    #[test]
    fn version_1_records_still_open_and_cannot_be_relabelled() {
        let key = key();
        let old = seal_v1(&key, b"k", b"payload");
        assert_eq!(
            open(&key, Column::Meta, b"k", &old).unwrap().as_slice(),
            b"payload"
        );
        assert_eq!(open(&key, Column::Meta, b"j", &old), Err(Unauthentic));
        let mut relabelled = old.clone();
        relabelled[0] = 2;
        assert_eq!(
            open(&key, Column::Meta, b"k", &relabelled),
            Err(Unauthentic)
        );
        let mut downgraded = seal(&key, Column::Meta, b"k", b"payload").unwrap();
        downgraded[0] = 1;
        assert_eq!(
            open(&key, Column::Meta, b"k", &downgraded),
            Err(Unauthentic)
        );
        let mut unknown = old;
        unknown[0] = 3;
        assert_eq!(open(&key, Column::Meta, b"k", &unknown), Err(Unauthentic));
    }
}
