//! The wrapped-L2 format: a tenant's L2 as the HSM sealed it under the tenant's L1, as bytes.
//!
//! This module is the codec only; the sealing happens in the HSM (see [`super::Hsm`]).
//!
//! Version 1, 68 bytes, integers big-endian:
//!
//! | offset | size | field                                                       |
//! |--------|------|-------------------------------------------------------------|
//! | 0      | 1    | format version: 1                                           |
//! | 1      | 4    | PKCS#11 mechanism: `CKM_AES_GCM` (0x1087)                   |
//! | 5      | 1    | IV length: 12                                               |
//! | 6      | 12   | IV                                                          |
//! | 18     | 2    | sealed length: 48                                           |
//! | 20     | 48   | AES-256-GCM ciphertext of the 32-byte L2, then a 128-bit tag |
//!
//! The associated data is not stored: it is [`associated_data`] of the tenant, rebuilt at
//! unwrap from the tenant the caller names, so a blob opens only for the tenant it was made
//! for. The mechanism and length fields make the format self-describing, so a later version
//! (another mechanism for HSMs without GCM) can be read beside this one; version 1 accepts
//! exactly one value for each, and nothing after the sealed bytes.

use std::fmt;

use super::tenant::TenantId;

/// The format version this code writes and reads.
const VERSION: u8 = 1;
/// `CKM_AES_GCM` in PKCS#11.
const MECHANISM_AES_GCM: u32 = 0x1087;
/// Length of a tenant root key (L2), which is also the length of an AES-256 L1.
pub(super) const L2_LEN: usize = crate::secret::KEY_LEN;
/// The GCM IV length: 96 bits, the size GCM handles without hashing it.
pub(super) const IV_LEN: usize = 12;
/// The GCM tag length, in bits (asked of the HSM explicitly: some default to none).
pub(super) const TAG_BITS: u64 = 128;
/// Ciphertext of an L2 followed by its tag.
pub(super) const SEALED_LEN: usize = L2_LEN + TAG_BITS as usize / 8;
/// The encoded length of version 1.
const ENCODED_LEN: usize = 1 + 4 + 1 + IV_LEN + 2 + SEALED_LEN;
/// Longest input looked at: anything longer is refused before parsing.
const MAX_ENCODED_LEN: usize = 1024;

/// Prefix of the associated data. Names the purpose and version, so a GCM output of the same
/// L1 made for anything else does not open as a wrapped L2.
const DOMAIN: &[u8] = b"krypton/l2-wrap/v1\0";

/// A tenant's L2, sealed by the HSM under the tenant's L1. Not secret: it opens only inside
/// that HSM, and only for that tenant.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedL2 {
    iv: [u8; IV_LEN],
    sealed: [u8; SEALED_LEN],
}

/// Why bytes are not a wrapped L2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WrappedL2Error {
    /// Longer than any wrapped L2.
    #[error("{len} bytes is longer than any wrapped L2 ({MAX_ENCODED_LEN} at most)")]
    TooLong {
        /// The input length.
        len: usize,
    },
    /// The input ends inside a field.
    #[error("truncated: {len} bytes")]
    Truncated {
        /// The input length.
        len: usize,
    },
    /// A format version this code does not read.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// A mechanism this format version does not use.
    #[error("unsupported mechanism 0x{0:08x}")]
    UnsupportedMechanism(u32),
    /// An IV length the mechanism does not use.
    #[error("IV of {0} bytes, expected {IV_LEN}")]
    IvLength(u8),
    /// A sealed length that is not an L2 and its tag.
    #[error("sealed part of {0} bytes, expected {SEALED_LEN}")]
    SealedLength(u16),
    /// Bytes after the sealed part.
    #[error("{0} unexpected bytes after the sealed part")]
    TrailingBytes(usize),
}

impl WrappedL2 {
    pub(super) fn new(iv: [u8; IV_LEN], sealed: [u8; SEALED_LEN]) -> Self {
        Self { iv, sealed }
    }

    pub(super) fn iv(&self) -> [u8; IV_LEN] {
        self.iv
    }

    pub(super) fn sealed(&self) -> &[u8; SEALED_LEN] {
        &self.sealed
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_LEN);
        out.push(VERSION);
        out.extend_from_slice(&MECHANISM_AES_GCM.to_be_bytes());
        out.push(IV_LEN as u8);
        out.extend_from_slice(&self.iv);
        out.extend_from_slice(&(SEALED_LEN as u16).to_be_bytes());
        out.extend_from_slice(&self.sealed);
        out
    }

    /// Parses the stored form, strictly: one version, one mechanism, exact lengths.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WrappedL2Error> {
        if bytes.len() > MAX_ENCODED_LEN {
            return Err(WrappedL2Error::TooLong { len: bytes.len() });
        }
        let mut input = Reader {
            rest: bytes,
            len: bytes.len(),
        };
        let [version] = input.take()?;
        if version != VERSION {
            return Err(WrappedL2Error::UnsupportedVersion(version));
        }
        let mechanism = u32::from_be_bytes(input.take()?);
        if mechanism != MECHANISM_AES_GCM {
            return Err(WrappedL2Error::UnsupportedMechanism(mechanism));
        }
        let [iv_len] = input.take()?;
        if usize::from(iv_len) != IV_LEN {
            return Err(WrappedL2Error::IvLength(iv_len));
        }
        let iv = input.take()?;
        let sealed_len = u16::from_be_bytes(input.take()?);
        if usize::from(sealed_len) != SEALED_LEN {
            return Err(WrappedL2Error::SealedLength(sealed_len));
        }
        let sealed = input.take()?;
        if !input.rest.is_empty() {
            return Err(WrappedL2Error::TrailingBytes(input.rest.len()));
        }
        Ok(Self { iv, sealed })
    }
}

impl fmt::Debug for WrappedL2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedL2")
            .field("version", &VERSION)
            .field("mechanism", &"CKM_AES_GCM")
            .field("sealed_len", &SEALED_LEN)
            .finish_non_exhaustive()
    }
}

/// Prefix of the associated data of the core's master key sealed by the seal key.
const MASTER_DOMAIN: &[u8] = b"krypton/master-seal/v1\0";

/// The associated data that binds a sealed master key to its installation: [`MASTER_DOMAIN`],
/// then the installation's key-set id.
pub(super) fn master_associated_data(installation: &[u8]) -> Vec<u8> {
    [MASTER_DOMAIN, installation].concat()
}

/// The associated data that binds a wrapped L2 to its tenant: [`DOMAIN`], then the tenant id.
/// The domain has a fixed length, so the id is exactly what follows it.
pub(super) fn associated_data(tenant: &TenantId) -> Vec<u8> {
    [DOMAIN, tenant.as_str().as_bytes()].concat()
}

/// Reads fixed-size fields off the front of the input.
struct Reader<'a> {
    rest: &'a [u8],
    len: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WrappedL2Error> {
        let truncated = WrappedL2Error::Truncated { len: self.len };
        let (field, rest) = self.rest.split_first_chunk::<N>().ok_or(truncated)?;
        self.rest = rest;
        Ok(*field)
    }
}

#[cfg(test)]
impl WrappedL2 {
    /// A well-formed wrapped L2 that no HSM made, for tests of what carries one.
    pub(crate) fn sample() -> Self {
        let mut sealed = [0u8; SEALED_LEN];
        sealed
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = i as u8);
        Self::new([0xa5; IV_LEN], sealed)
    }
}

#[cfg(test)]
mod tests {
    use cryptoki::mechanism::MechanismType;

    use super::*;

    fn sample() -> WrappedL2 {
        WrappedL2::sample()
    }

    #[test]
    fn round_trips_with_the_documented_layout() {
        let bytes = sample().to_bytes();
        assert_eq!(bytes.len(), ENCODED_LEN);
        assert_eq!(bytes.len(), 68);
        assert_eq!(bytes[..6], [1, 0, 0, 0x10, 0x87, 12]);
        assert_eq!(bytes[18..20], [0, 48]);
        assert_eq!(WrappedL2::from_bytes(&bytes).unwrap(), sample());
    }

    #[test]
    fn mechanism_is_pkcs11_aes_gcm() {
        assert_eq!(*MechanismType::AES_GCM, u64::from(MECHANISM_AES_GCM));
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert_eq!(
                WrappedL2::from_bytes(&bytes[..len]),
                Err(WrappedL2Error::Truncated { len }),
                "{len}"
            );
        }
    }

    #[test]
    fn refuses_other_versions_mechanisms_and_lengths() {
        let bytes = sample().to_bytes();
        let with = |offset: usize, value: u8| {
            let mut b = bytes.clone();
            b[offset] = value;
            WrappedL2::from_bytes(&b)
        };
        assert_eq!(with(0, 2), Err(WrappedL2Error::UnsupportedVersion(2)));
        assert_eq!(with(0, 0), Err(WrappedL2Error::UnsupportedVersion(0)));
        assert_eq!(
            with(4, 0x0a),
            Err(WrappedL2Error::UnsupportedMechanism(0x100a))
        );
        assert_eq!(with(5, 16), Err(WrappedL2Error::IvLength(16)));
        assert_eq!(with(19, 47), Err(WrappedL2Error::SealedLength(47)));
        assert_eq!(with(18, 1), Err(WrappedL2Error::SealedLength(256 + 48)));
    }

    #[test]
    fn refuses_trailing_and_oversized_input() {
        let mut bytes = sample().to_bytes();
        bytes.push(0);
        assert_eq!(
            WrappedL2::from_bytes(&bytes),
            Err(WrappedL2Error::TrailingBytes(1))
        );
        let huge = vec![1u8; MAX_ENCODED_LEN + 1];
        assert_eq!(
            WrappedL2::from_bytes(&huge),
            Err(WrappedL2Error::TooLong {
                len: MAX_ENCODED_LEN + 1
            })
        );
        // Within the bound but garbage: refused by the first field that does not fit.
        assert!(WrappedL2::from_bytes(&vec![1u8; MAX_ENCODED_LEN]).is_err());
    }

    #[test]
    fn associated_data_binds_the_tenant() {
        let a = associated_data(&TenantId::new("a").unwrap());
        let ab = associated_data(&TenantId::new("ab").unwrap());
        assert!(a.starts_with(DOMAIN) && a.ends_with(b"a"));
        assert_ne!(a, ab);
    }
}
