//! AES-256-GCM and AES-256-GCM-SIV under a guarded key, with a random 96-bit nonce: what
//! seals an L3 under its L2 (GCM) and an L4 under its L3 (GCM-SIV from blob format 2 on; GCM in
//! format 1).
//!
//! Nonces are drawn at random for every seal (aws-lc's randomized-nonce AEADs). An L2 seals one
//! L3 version per rotation, far fewer than the 2^32 messages at which random 96-bit GCM nonces
//! start to risk a collision. An L3 may wrap billions of L4s, so L4s use GCM-SIV, whose
//! security does not collapse when a nonce repeats and which derives a fresh key per nonce
//! (docs/architecture.md, "Why AES-256-GCM-SIV for data keys").

use aws_lc_rs::aead::{
    AES_256_GCM, AES_256_GCM_SIV, Aad, Algorithm, NONCE_LEN, Nonce, RandomizedNonceKey,
};
use zeroize::Zeroizing;

use crate::error::{Bug, Error};
use crate::secret::SecretKey;

/// The nonce length: 96 bits.
pub(super) const IV_LEN: usize = NONCE_LEN;
/// The tag length: 128 bits.
pub(super) const TAG_LEN: usize = 16;

/// The two AEADs, both with a 256-bit key, a 96-bit nonce and a 128-bit tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cipher {
    Gcm,
    GcmSiv,
}

impl Cipher {
    fn algorithm(self) -> &'static Algorithm {
        match self {
            Self::Gcm => &AES_256_GCM,
            Self::GcmSiv => &AES_256_GCM_SIV,
        }
    }
}

/// Seals `plaintext` under `key` with AES-256-GCM and `aad`: returns the nonce and
/// `ciphertext || tag`.
pub(super) fn seal(
    key: &SecretKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; IV_LEN], Vec<u8>), Error> {
    seal_with(Cipher::Gcm, key, aad, plaintext)
}

/// Seals `plaintext` under `key` with `cipher` and `aad`: returns the nonce and
/// `ciphertext || tag`.
pub(super) fn seal_with(
    cipher: Cipher,
    key: &SecretKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; IV_LEN], Vec<u8>), Error> {
    // Sized once: no reallocation leaves a plaintext copy in freed memory.
    let mut sealed = Vec::with_capacity(plaintext.len() + TAG_LEN);
    sealed.extend_from_slice(plaintext);
    let nonce = key
        .expose(|bytes| {
            let aead = RandomizedNonceKey::new(cipher.algorithm(), bytes)?;
            aead.seal_in_place_append_tag(Aad::from(aad), &mut sealed)
        })
        .map_err(|_| Error::Internal(Bug::Aead))?;
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(nonce.as_ref());
    Ok((iv, sealed))
}

/// Opens `ciphertext || tag` sealed with AES-256-GCM under `key` with `iv` and `aad`; `None`
/// if it does not authenticate.
pub(super) fn open(
    key: &SecretKey,
    iv: &[u8; IV_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    open_with(Cipher::Gcm, key, iv, aad, sealed)
}

/// Opens `ciphertext || tag` sealed with `cipher` under `key` with `iv` and `aad`; `None` if it
/// does not authenticate.
pub(super) fn open_with(
    cipher: Cipher,
    key: &SecretKey,
    iv: &[u8; IV_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < TAG_LEN {
        return None;
    }
    let mut buffer = Zeroizing::new(sealed.to_vec());
    let len = key
        .expose(|bytes| {
            let aead = RandomizedNonceKey::new(cipher.algorithm(), bytes)?;
            let nonce = Nonce::assume_unique_for_key(*iv);
            aead.open_in_place(nonce, Aad::from(aad), &mut buffer)
                .map(|plain| plain.len())
        })
        .ok()?;
    buffer.truncate(len);
    Some(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::WhenIdle;

    #[test]
    fn binds_key_nonce_and_aad() {
        for cipher in [Cipher::Gcm, Cipher::GcmSiv] {
            let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
            let other = SecretKey::random(WhenIdle::ReadOnly).unwrap();
            let (iv, sealed) = seal_with(cipher, &key, b"aad", b"secret").unwrap();
            assert_eq!(sealed.len(), 6 + TAG_LEN);
            assert_eq!(
                open_with(cipher, &key, &iv, b"aad", &sealed)
                    .unwrap()
                    .as_slice(),
                b"secret"
            );
            assert!(open_with(cipher, &key, &iv, b"aae", &sealed).is_none());
            assert!(open_with(cipher, &other, &iv, b"aad", &sealed).is_none());
            let mut flipped = sealed.clone();
            flipped[0] ^= 1;
            assert!(open_with(cipher, &key, &iv, b"aad", &flipped).is_none());
            assert!(open_with(cipher, &key, &iv, b"aad", &sealed[..TAG_LEN - 1]).is_none());
            let (iv2, _) = seal_with(cipher, &key, b"aad", b"secret").unwrap();
            assert_ne!(iv, iv2, "every seal draws its own nonce");
        }
    }

    #[test]
    fn the_two_ciphers_do_not_open_each_other() {
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let (iv, gcm) = seal(&key, b"aad", b"secret").unwrap();
        assert!(open(&key, &iv, b"aad", &gcm).is_some());
        assert!(open_with(Cipher::GcmSiv, &key, &iv, b"aad", &gcm).is_none());
        let (iv, siv) = seal_with(Cipher::GcmSiv, &key, b"aad", b"secret").unwrap();
        assert!(open(&key, &iv, b"aad", &siv).is_none());
    }
}
