//! AES-256-GCM under a guarded key, with a random 96-bit nonce: what seals an L3 under its
//! L2 and an L4 under its L3.
//!
//! Nonces are drawn at random for every seal (aws-lc's randomized-nonce GCM). One key seals
//! far fewer than the 2^32 messages at which random 96-bit nonces start to risk a collision:
//! an L2 seals one L3 version per rotation, and an L3 is rotated long before (operators rotate
//! services; the blob records the version, so old blobs stay readable).

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use zeroize::Zeroizing;

use crate::error::{Bug, Error};
use crate::secret::SecretKey;

/// The nonce length: 96 bits.
pub(super) const IV_LEN: usize = NONCE_LEN;
/// The tag length: 128 bits.
pub(super) const TAG_LEN: usize = 16;

/// Seals `plaintext` under `key` with `aad`: returns the nonce and `ciphertext || tag`.
pub(super) fn seal(
    key: &SecretKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; IV_LEN], Vec<u8>), Error> {
    // Sized once: no reallocation leaves a plaintext copy in freed memory.
    let mut sealed = Vec::with_capacity(plaintext.len() + TAG_LEN);
    sealed.extend_from_slice(plaintext);
    let nonce = key
        .expose(|bytes| {
            let aead = RandomizedNonceKey::new(&AES_256_GCM, bytes)?;
            aead.seal_in_place_append_tag(Aad::from(aad), &mut sealed)
        })
        .map_err(|_| Error::Internal(Bug::Aead))?;
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(nonce.as_ref());
    Ok((iv, sealed))
}

/// Opens `ciphertext || tag` sealed under `key` with `iv` and `aad`; `None` if it does not
/// authenticate.
pub(super) fn open(
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
            let aead = RandomizedNonceKey::new(&AES_256_GCM, bytes)?;
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
        let key = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let other = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let (iv, sealed) = seal(&key, b"aad", b"secret").unwrap();
        assert_eq!(sealed.len(), 6 + TAG_LEN);
        assert_eq!(
            open(&key, &iv, b"aad", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert!(open(&key, &iv, b"aae", &sealed).is_none());
        assert!(open(&other, &iv, b"aad", &sealed).is_none());
        let mut flipped = sealed.clone();
        flipped[0] ^= 1;
        assert!(open(&key, &iv, b"aad", &flipped).is_none());
        assert!(open(&key, &iv, b"aad", &sealed[..TAG_LEN - 1]).is_none());
        let (iv2, _) = seal(&key, b"aad", b"secret").unwrap();
        assert_ne!(iv, iv2, "every seal draws its own nonce");
    }
}
