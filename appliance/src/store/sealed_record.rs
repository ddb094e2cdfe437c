//! The envelope every stored value is sealed in, bound to the column family and record key it
//! was written under, and naming the version of the key that sealed it.
//!
//! Layout of version 3: `3 || key version (4, big-endian) || nonce (12) || ciphertext || tag (16)`.
//! The associated data is `label || key version || len(family) || family || record key`, so a
//! value copied to another key or family, re-labelled with another envelope version or claimed
//! for another key version, fails to open. Nonces are random.
//!
//! | version | AEAD            | label                 | key version                        |
//! |---------|-----------------|-----------------------|------------------------------------|
//! | 3       | AES-256-GCM-SIV | `"krypton.record.v3"` | in the header; every write         |
//! | 2       | AES-256-GCM-SIV | `"krypton.record.v2"` | 1; still opened                    |
//! | 1       | AES-256-GCM     | `"krypton.record.v1"` | 1; still opened                    |
//!
//! Versions 1 and 2 are rewritten as 3 when the record is next written, or re-sealed by a
//! master-key rotation (see `record_keys`). One installation-wide key seals every record, and
//! nothing bounds how many it seals over the installation's life; GCM-SIV keeps that safe well
//! past the 2^32 seals at which random 96-bit GCM nonces start to risk a collision
//! (docs/architecture.md, "Why AES-256-GCM-SIV for data keys").

use aws_lc_rs::aead::{
    AES_256_GCM, AES_256_GCM_SIV, Aad, Algorithm, NONCE_LEN, Nonce, RandomizedNonceKey,
};
use zeroize::Zeroizing;

use crate::error::{Bug, Error};
use crate::secret::SecretKey;
use crate::store::column::Column;

/// The version every seal writes.
const VERSION: Version = Version::V3;
const TAG_LEN: usize = 16;
/// The header of version 3; versions 1 and 2 have no key version.
const HEADER_LEN: usize = 1 + KEY_VERSION_LEN + NONCE_LEN;
const KEY_VERSION_LEN: usize = 4;
/// The key version of envelopes that name none.
const UNNAMED_KEY_VERSION: u32 = 1;

/// The keys records are sealed and opened with: one key (version 1 only), the versions of a
/// tenant's registry key (one per L2 version), or the versions of the master record key.
pub(crate) trait SealingKeys {
    /// The version new seals use, and its key.
    fn sealing(&self) -> (u32, &SecretKey);
    /// The key of `version`, if it is still held.
    fn opening(&self, version: u32) -> Option<&SecretKey>;
}

impl SealingKeys for SecretKey {
    fn sealing(&self) -> (u32, &SecretKey) {
        (UNNAMED_KEY_VERSION, self)
    }

    fn opening(&self, version: u32) -> Option<&SecretKey> {
        (version == UNNAMED_KEY_VERSION).then_some(self)
    }
}

/// An envelope version: its AEAD and the label of its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
    V3,
}

impl Version {
    fn of(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            3 => Some(Self::V3),
            _ => None,
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
            Self::V3 => 3,
        }
    }

    fn algorithm(self) -> &'static Algorithm {
        match self {
            Self::V1 => &AES_256_GCM,
            Self::V2 | Self::V3 => &AES_256_GCM_SIV,
        }
    }

    fn label(self) -> &'static [u8] {
        match self {
            Self::V1 => b"krypton.record.v1",
            Self::V2 => b"krypton.record.v2",
            Self::V3 => b"krypton.record.v3",
        }
    }

    /// Whether the envelope names its key version in the header.
    fn names_key_version(self) -> bool {
        matches!(self, Self::V3)
    }
}

/// The envelope did not authenticate: it was altered, truncated, or moved to another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unauthentic;

/// Seals `plaintext` for storage at `record_key` in `column`, under the sealing version of
/// `keys`.
pub(crate) fn seal(
    keys: &(impl SealingKeys + ?Sized),
    column: Column,
    record_key: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    let (key_version, key) = keys.sealing();
    // Sized once so the buffer never reallocates and leaves a plaintext copy behind.
    let mut sealed = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    sealed.push(VERSION.byte());
    sealed.extend_from_slice(&key_version.to_be_bytes());
    sealed.extend_from_slice(&[0; NONCE_LEN]);
    sealed.extend_from_slice(plaintext);
    let (nonce, tag) = key
        .expose(|bytes| {
            let aead = RandomizedNonceKey::new(VERSION.algorithm(), bytes)?;
            aead.seal_in_place_separate_tag(
                Aad::from(aad(VERSION, key_version, column, record_key)),
                &mut sealed[HEADER_LEN..],
            )
        })
        .map_err(|_| Error::Internal(Bug::Aead))?;
    sealed[1 + KEY_VERSION_LEN..HEADER_LEN].copy_from_slice(nonce.as_ref());
    sealed.extend_from_slice(tag.as_ref());
    Ok(sealed)
}

/// The version of the key that sealed `sealed`, as its header claims (opening checks the
/// claim); `None` if the header is not one of ours.
pub(crate) fn key_version(sealed: &[u8]) -> Option<u32> {
    let (&version, rest) = sealed.split_first()?;
    if !Version::of(version)?.names_key_version() {
        return Some(UNNAMED_KEY_VERSION);
    }
    let bytes = rest.get(..KEY_VERSION_LEN)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// Opens a value read from `record_key` in `column`, returning its plaintext.
pub(crate) fn open(
    keys: &(impl SealingKeys + ?Sized),
    column: Column,
    record_key: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Unauthentic> {
    let (&version, rest) = sealed.split_first().ok_or(Unauthentic)?;
    let version = Version::of(version).ok_or(Unauthentic)?;
    let key_version = key_version(sealed).ok_or(Unauthentic)?;
    let rest = if version.names_key_version() {
        &rest[KEY_VERSION_LEN..]
    } else {
        rest
    };
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(Unauthentic);
    }
    let key = keys.opening(key_version).ok_or(Unauthentic)?;
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unauthentic)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len = key
        .expose(|bytes| {
            let aead = RandomizedNonceKey::new(version.algorithm(), bytes)?;
            aead.open_in_place(
                nonce,
                Aad::from(aad(version, key_version, column, record_key)),
                &mut buffer,
            )
            .map(|plaintext| plaintext.len())
        })
        .map_err(|_| Unauthentic)?;
    buffer.truncate(plaintext_len);
    Ok(buffer)
}

fn aad(version: Version, key_version: u32, column: Column, record_key: &[u8]) -> Vec<u8> {
    let label = version.label();
    let family = column.name().as_bytes();
    let mut aad =
        Vec::with_capacity(label.len() + KEY_VERSION_LEN + 1 + family.len() + record_key.len());
    aad.extend_from_slice(label);
    // Versions 1 and 2 bound no key version; their associated data stays as it was.
    if version.names_key_version() {
        aad.extend_from_slice(&key_version.to_be_bytes());
    }
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
        for version in [Version::V1, Version::V2, Version::V3] {
            assert_ne!(
                aad(version, 1, Column::Meta, b"x"),
                aad(version, 1, Column::Audit, b"")
            );
            assert_ne!(
                aad(version, 1, Column::Meta, b"audit"),
                aad(version, 1, Column::Audit, b"")
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
    fn writes_version_3_with_gcm_siv_and_the_key_version_as_documented() {
        let key = key();
        let sealed = seal(&key, Column::Meta, b"k", b"payload").unwrap();
        assert_eq!(sealed[0], 3);
        assert_eq!(sealed[1..5], 1u32.to_be_bytes());
        assert_eq!(key_version(&sealed), Some(1));
        let aad = [
            &b"krypton.record.v3"[..],
            &[0, 0, 0, 1],
            &[4],
            b"meta",
            b"k",
        ]
        .concat();
        let mut buffer = sealed[HEADER_LEN..].to_vec();
        let plain = key.expose(|bytes| {
            let siv = aws_lc_rs::aead::LessSafeKey::new(
                aws_lc_rs::aead::UnboundKey::new(&AES_256_GCM_SIV, bytes).unwrap(),
            );
            let nonce = Nonce::try_assume_unique_for_key(&sealed[5..HEADER_LEN]).unwrap();
            siv.open_in_place(nonce, Aad::from(aad), &mut buffer)
                .unwrap()
                .to_vec()
        });
        assert_eq!(plain, b"payload");
    }

    /// Two versions of a key, sealing under the second.
    struct TwoVersions(SecretKey, SecretKey);

    impl SealingKeys for TwoVersions {
        fn sealing(&self) -> (u32, &SecretKey) {
            (2, &self.1)
        }

        fn opening(&self, version: u32) -> Option<&SecretKey> {
            match version {
                1 => Some(&self.0),
                2 => Some(&self.1),
                _ => None,
            }
        }
    }

    #[test]
    fn the_key_version_is_sealed_in_and_needed_to_open() {
        let keys = TwoVersions(key(), key());
        let old = seal(&keys.0, Column::Tenants, b"t", b"old").unwrap();
        let new = seal(&keys, Column::Tenants, b"t", b"new").unwrap();
        assert_eq!((key_version(&old), key_version(&new)), (Some(1), Some(2)));
        assert_eq!(
            open(&keys, Column::Tenants, b"t", &old).unwrap().as_slice(),
            b"old"
        );
        assert_eq!(
            open(&keys, Column::Tenants, b"t", &new).unwrap().as_slice(),
            b"new"
        );
        // Version 1 alone (version 2 not held, or retired) does not open version 2.
        assert_eq!(open(&keys.0, Column::Tenants, b"t", &new), Err(Unauthentic));
        // A header claiming the other version does not open, with either key.
        let mut claimed = new.clone();
        claimed[1..5].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(
            open(&keys, Column::Tenants, b"t", &claimed),
            Err(Unauthentic)
        );
    }

    /// A version 2 envelope, sealed as the core sealed records before version 3.
    fn seal_v2(key: &SecretKey, record_key: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut sealed = plaintext.to_vec();
        let nonce = key.expose(|bytes| {
            RandomizedNonceKey::new(&AES_256_GCM_SIV, bytes)
                .unwrap()
                .seal_in_place_append_tag(
                    Aad::from([&b"krypton.record.v2"[..], &[4], b"meta", record_key].concat()),
                    &mut sealed,
                )
                .unwrap()
        });
        [&[2u8][..], nonce.as_ref(), &sealed].concat()
    }

    #[test]
    fn version_2_records_still_open_under_key_version_1() {
        let key = key();
        let old = seal_v2(&key, b"k", b"payload");
        assert_eq!(key_version(&old), Some(1));
        assert_eq!(
            open(&key, Column::Meta, b"k", &old).unwrap().as_slice(),
            b"payload"
        );
        let mut relabelled = old;
        relabelled[0] = 3;
        assert_eq!(
            open(&key, Column::Meta, b"k", &relabelled),
            Err(Unauthentic)
        );
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
        unknown[0] = 4;
        assert_eq!(key_version(&unknown), None);
        assert_eq!(open(&key, Column::Meta, b"k", &unknown), Err(Unauthentic));
    }
}
