//! Encrypt and Decrypt with one of the caller's AES keys.
//!
//! **What is done**, AES keys of 128, 192 or 256 bits, aws-lc-rs underneath:
//!
//! | Block Cipher Mode | Padding | IV/Counter/Nonce | additional data and tag |
//! |---|---|---|---|
//! | GCM | none | 12 bytes | Authenticated Encryption Additional Data; a 16-byte tag (KMIP 1.4 and later, whose messages carry it) |
//! | CBC | PKCS#5, or none (whole blocks) | 16 bytes | — |
//! | ECB | PKCS#5, or none (whole blocks) | none | — |
//! | CTR | none | 16 bytes, the initial counter block | — |
//! | NIST Key Wrap (RFC 3394, SP 800-38F KW) | none | none (the default ICV) | — |
//! | AES Key Wrap Padding (RFC 5649, KWP) | none | none (the default ICV) | — |
//!
//! The two key wraps take 128- and 256-bit keys only (aws-lc-rs has no AES-192 key wrap), and
//! KW data of 16 bytes or more in whole 8-byte blocks (KWP takes any length): they wrap key
//! material a client holds under a key it keeps here, and are how a Get returns a key wrapped
//! under one of the caller's AES keys, or a Register unwraps one ([`AesKeyWrap`],
//! [`super::key_wrap`]).
//!
//! The parameters are the request's Cryptographic Parameters, or else the key's Cryptographic
//! Parameters attribute (set by the client). Encrypt takes the client's IV, or draws one when
//! the client sends none (or asks for a Random IV) and returns it; Decrypt needs it. Anything
//! else — another algorithm, mode, padding or tag length, streaming — is refused with the
//! reason, before the key is unwrapped. ECB, which shows equal blocks as equal, is offered
//! because KMIP's Basic Cryptographic profile requires it and key check values use it; what
//! to encrypt with it is the client's choice.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::error::Unspecified;
use aws_lc_rs::key_wrap::{self, AesKek, KeyWrap, KeyWrapPadded};
use kmip::{
    BlockCipherMode, CryptographicAlgorithm, CryptographicParameters, DecryptRequest,
    DecryptResponse, EncryptRequest, EncryptResponse, PaddingMethod, ProtocolVersion, ResultReason,
    SecretBytes,
};
use zeroize::Zeroizing;

use super::{Use, admit, crypto_failure, parameters, unsupported, unwrapped};
use crate::operations::Context;
use crate::refusal::Refusal;
use crate::vault::{Found, Record, Vault};

/// The only GCM tag length aws-lc-rs produces and checks.
const GCM_TAG_LEN: usize = 16;
/// The GCM nonce length aws-lc-rs takes (96 bits, as SP 800-38D recommends).
const GCM_NONCE_LEN: usize = 12;
/// The AES block: CBC's IV and CTR's counter block.
const BLOCK_LEN: usize = 16;
/// What a key wrap adds to the data: the integrity check value's semiblock (KW), and up to
/// seven bytes of padding before it (KWP).
const KW_OVERHEAD: usize = 8;
const KWP_OVERHEAD: usize = 15;

/// How a key encrypts, from the Cryptographic Parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Gcm,
    CbcPkcs5,
    /// CBC without padding: whole blocks only.
    Cbc,
    EcbPkcs5,
    /// ECB without padding: whole blocks only.
    Ecb,
    Ctr,
    /// RFC 3394 (SP 800-38F KW).
    KeyWrap,
    /// RFC 5649 (SP 800-38F KWP).
    KeyWrapPadded,
}

impl Mode {
    /// The IV/Counter/Nonce the mode takes; 0: none (the key wraps use their default ICV).
    fn iv_len(self) -> usize {
        match self {
            Self::Gcm => GCM_NONCE_LEN,
            Self::CbcPkcs5 | Self::Cbc | Self::Ctr => BLOCK_LEN,
            Self::EcbPkcs5 | Self::Ecb | Self::KeyWrap | Self::KeyWrapPadded => 0,
        }
    }

    fn takes_iv(self) -> bool {
        self.iv_len() > 0
    }
}

/// The mode in which `record`'s key may be put to `to` now, or why it may not: its algorithm
/// and the parameters, its state, its usage mask, and the fields the request's version
/// carries. Decided before the core is asked to unwrap anything.
fn admitted<V>(
    context: &Context<'_, V>,
    record: &Record,
    parameters: Option<&CryptographicParameters>,
    additional_data: bool,
    to: Use,
) -> Result<Mode, Refusal> {
    let mode = mode(parameters, record)?;
    admit(context, record, to)?;
    require_aead_fields(mode, context.version(), additional_data)?;
    Ok(mode)
}

/// One of the AES key wraps, for the key material of a Get or a Register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AesKeyWrap(Mode);

impl AesKeyWrap {
    /// The key wrap `parameters` name for `record`'s AES key: NIST Key Wrap (RFC 3394) unless
    /// they name a Block Cipher Mode, which must be one of the two key wraps.
    pub(super) fn of(
        parameters: Option<&CryptographicParameters>,
        record: &Record,
    ) -> Result<Self, Refusal> {
        let default = CryptographicParameters {
            block_cipher_mode: Some(BlockCipherMode::NistKeyWrap),
            ..CryptographicParameters::default()
        };
        let parameters = parameters
            .filter(|parameters| parameters.block_cipher_mode.is_some())
            .unwrap_or(&default);
        match mode(Some(parameters), record)? {
            mode @ (Mode::KeyWrap | Mode::KeyWrapPadded) => Ok(Self(mode)),
            other => Err(unsupported(format!(
                "keys are wrapped with NIST Key Wrap or AES Key Wrap Padding, not {other:?}"
            ))),
        }
    }

    pub(super) fn block_cipher_mode(self) -> BlockCipherMode {
        if self.0 == Mode::KeyWrap {
            BlockCipherMode::NistKeyWrap
        } else {
            BlockCipherMode::AesKeyWrapPadding
        }
    }

    /// `material` wrapped under the AES key `kek`.
    pub(super) fn wrap(self, kek: &[u8], material: &[u8]) -> Result<Vec<u8>, Refusal> {
        require_length(self.0, material.len())?;
        let (wrapped, _) = seal(self.0, kek, &[], &[], material).map_err(|_| crypto_failure())?;
        Ok(wrapped)
    }

    /// `wrapped` unwrapped under the AES key `kek`: a wrap that does not check out (another
    /// key, altered bytes) is a Cryptographic Failure.
    pub(super) fn unwrap(self, kek: &[u8], wrapped: Vec<u8>) -> Result<SecretBytes, Refusal> {
        open(self.0, kek, &[], &[], wrapped, None).map_err(|_| decrypt_failure())
    }
}

/// Encrypt: `request.data` under the caller's `record`.
pub(in crate::operations) async fn encrypt<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: EncryptRequest,
) -> Result<EncryptResponse, Refusal> {
    let record = &found.record;
    let mode = admitted(
        context,
        record,
        request.cryptographic_parameters.as_ref(),
        request.authenticated_encryption_additional_data.is_some(),
        Use::Encrypt,
    )?;
    // From the parameters the mode came from: the request's, else the key's attribute.
    let random = parameters(request.cryptographic_parameters.as_ref(), record)
        .and_then(|parameters| parameters.random_iv)
        .unwrap_or(false);
    let (iv, drawn) = match request.iv_counter_nonce {
        Some(_) if random => {
            return Err(Refusal::new(
                ResultReason::InvalidField,
                "Random IV asks the server to draw the IV: send no IV/Counter/Nonce with it",
            ));
        }
        Some(iv) => (checked_iv(mode, iv)?, false),
        None if mode.takes_iv() => (random_iv(mode)?, true),
        None => (Vec::new(), false),
    };
    require_length(mode, request.data.len())?;
    let key = unwrapped(context, &found, Use::Encrypt).await?;
    let aad = request
        .authenticated_encryption_additional_data
        .unwrap_or_default();
    let (data, tag) = seal(mode, &key, &iv, &aad, &request.data).map_err(|_| crypto_failure())?;
    Ok(EncryptResponse {
        unique_identifier: found.record.id,
        data,
        iv_counter_nonce: drawn.then_some(iv),
        authenticated_encryption_tag: tag,
    })
}

/// Decrypt: `request.data` under the caller's `record`.
pub(in crate::operations) async fn decrypt<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: DecryptRequest,
) -> Result<DecryptResponse, Refusal> {
    let record = &found.record;
    let mode = admitted(
        context,
        record,
        request.cryptographic_parameters.as_ref(),
        request.authenticated_encryption_additional_data.is_some(),
        Use::Decrypt,
    )?;
    let iv = match request.iv_counter_nonce {
        Some(iv) => checked_iv(mode, iv)?,
        None if mode.takes_iv() => {
            return Err(Refusal::new(
                ResultReason::MissingInitializationVector,
                "Decrypt needs the IV/Counter/Nonce the data was encrypted with",
            ));
        }
        None => Vec::new(),
    };
    let tag = match (mode, request.authenticated_encryption_tag) {
        (Mode::Gcm, Some(tag)) if tag.len() == GCM_TAG_LEN => Some(tag),
        (Mode::Gcm, Some(tag)) => {
            return Err(Refusal::new(
                ResultReason::BadCryptographicParameters,
                format!(
                    "the Authenticated Encryption Tag is {} bytes; GCM tags here are {GCM_TAG_LEN}",
                    tag.len()
                ),
            ));
        }
        (Mode::Gcm, None) => {
            return Err(Refusal::new(
                ResultReason::MissingData,
                "GCM decryption needs the Authenticated Encryption Tag",
            ));
        }
        (_, Some(_)) => {
            return Err(Refusal::new(
                ResultReason::InvalidField,
                "an Authenticated Encryption Tag belongs to GCM only",
            ));
        }
        (_, None) => None,
    };
    let key = unwrapped(context, &found, Use::Decrypt).await?;
    let aad = request
        .authenticated_encryption_additional_data
        .unwrap_or_default();
    let data =
        open(mode, &key, &iv, &aad, request.data, tag.as_deref()).map_err(|_| decrypt_failure())?;
    Ok(DecryptResponse {
        unique_identifier: found.record.id,
        data,
    })
}

/// The mode the parameters (the request's, else the key's attribute) name, for an AES key.
fn mode(requested: Option<&CryptographicParameters>, record: &Record) -> Result<Mode, Refusal> {
    let metadata = &record.metadata;
    if metadata.algorithm != Some(CryptographicAlgorithm::Aes) {
        return Err(unsupported(format!(
            "server-side encryption takes AES keys; this key is {:?}",
            metadata.algorithm
        )));
    }
    let parameters = parameters(requested, record).ok_or_else(|| {
        Refusal::new(
            ResultReason::MissingData,
            "no Cryptographic Parameters: send them, or set them on the key as its attribute",
        )
    })?;
    if let Some(algorithm) = parameters.cryptographic_algorithm
        && algorithm != CryptographicAlgorithm::Aes
    {
        return Err(unsupported(format!(
            "Cryptographic Algorithm {algorithm:?} does not match the AES key"
        )));
    }
    let padding = parameters.padding_method;
    let mode = match (parameters.block_cipher_mode, padding) {
        (Some(BlockCipherMode::Gcm), None | Some(PaddingMethod::None)) => Mode::Gcm,
        (Some(BlockCipherMode::Cbc), Some(PaddingMethod::Pkcs5)) => Mode::CbcPkcs5,
        (Some(BlockCipherMode::Cbc), None | Some(PaddingMethod::None)) => Mode::Cbc,
        (Some(BlockCipherMode::Ecb), Some(PaddingMethod::Pkcs5)) => Mode::EcbPkcs5,
        (Some(BlockCipherMode::Ecb), None | Some(PaddingMethod::None)) => Mode::Ecb,
        (Some(BlockCipherMode::Ctr), None | Some(PaddingMethod::None)) => Mode::Ctr,
        (Some(BlockCipherMode::NistKeyWrap), None | Some(PaddingMethod::None)) => Mode::KeyWrap,
        (Some(BlockCipherMode::AesKeyWrapPadding), None | Some(PaddingMethod::None)) => {
            Mode::KeyWrapPadded
        }
        (None, _) => {
            return Err(Refusal::new(
                ResultReason::MissingData,
                "the Cryptographic Parameters name no Block Cipher Mode",
            ));
        }
        (Some(mode), padding) => {
            return Err(unsupported(format!(
                "Block Cipher Mode {mode:?} with Padding Method {padding:?} is not offered: \
                 GCM, CBC and ECB (with PKCS5 padding or none), CTR, NIST Key Wrap and AES Key \
                 Wrap Padding are"
            )));
        }
    };
    if matches!(mode, Mode::KeyWrap | Mode::KeyWrapPadded)
        && !matches!(metadata.length, Some(128 | 256))
    {
        return Err(unsupported(format!(
            "the AES key wraps take 128- or 256-bit keys; this key is {:?} bits",
            metadata.length
        )));
    }
    if mode == Mode::Gcm
        && let Some(bytes) = parameters.tag_length
        && usize::try_from(bytes).ok() != Some(GCM_TAG_LEN)
    {
        return Err(unsupported(format!(
            "a GCM tag of {bytes} bytes is not offered: tags are {GCM_TAG_LEN} bytes"
        )));
    }
    // KMIP gives the IV Length in bits.
    if mode.takes_iv()
        && let Some(bits) = parameters.iv_length
        && usize::try_from(bits).ok() != Some(mode.iv_len() * 8)
    {
        return Err(unsupported(format!(
            "an IV Length of {bits} bits is not offered for {mode:?}: it is {} bits",
            mode.iv_len() * 8
        )));
    }
    Ok(mode)
}

/// Additional data goes with GCM only, and GCM needs the tag field KMIP 1.4 brought.
fn require_aead_fields(
    mode: Mode,
    version: ProtocolVersion,
    additional_data: bool,
) -> Result<(), Refusal> {
    if mode == Mode::Gcm && version < ProtocolVersion::V1_4 {
        return Err(unsupported(format!(
            "GCM needs KMIP 1.4 or later, whose messages carry the Authenticated Encryption Tag; \
             this request speaks {version}"
        )));
    }
    if mode != Mode::Gcm && additional_data {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            "Authenticated Encryption Additional Data belongs to GCM only",
        ));
    }
    Ok(())
}

/// RFC 3394 wraps whole semiblocks, two at least; RFC 5649 pads whatever it is given; CBC and
/// ECB without padding take whole blocks.
fn require_length(mode: Mode, len: usize) -> Result<(), Refusal> {
    if matches!(mode, Mode::Cbc | Mode::Ecb) && !len.is_multiple_of(BLOCK_LEN) {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            format!(
                "{mode:?} without padding takes whole {BLOCK_LEN}-byte blocks, not {len} bytes: \
                 ask for PKCS5 padding"
            ),
        ));
    }
    if mode == Mode::KeyWrap && (len < 16 || !len.is_multiple_of(8)) {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            format!(
                "NIST Key Wrap takes 16 bytes or more in whole 8-byte blocks, not {len}: \
                 AES Key Wrap Padding takes any length"
            ),
        ));
    }
    Ok(())
}

fn checked_iv(mode: Mode, iv: Vec<u8>) -> Result<Vec<u8>, Refusal> {
    if !mode.takes_iv() {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            format!("{mode:?} takes no IV/Counter/Nonce"),
        ));
    }
    if iv.len() == mode.iv_len() {
        Ok(iv)
    } else {
        Err(Refusal::new(
            ResultReason::BadCryptographicParameters,
            format!(
                "the IV/Counter/Nonce is {} bytes; {mode:?} takes {}",
                iv.len(),
                mode.iv_len()
            ),
        ))
    }
}

fn random_iv(mode: Mode) -> Result<Vec<u8>, Refusal> {
    let mut iv = vec![0; mode.iv_len()];
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| crypto_failure())?;
    Ok(iv)
}

fn decrypt_failure() -> Refusal {
    Refusal::new(
        ResultReason::CryptographicFailure,
        "the data does not decrypt under this key with these parameters",
    )
}

fn aes_gcm(key: &[u8]) -> Result<LessSafeKey, Unspecified> {
    let algorithm = match key.len() {
        16 => &aead::AES_128_GCM,
        24 => &aead::AES_192_GCM,
        32 => &aead::AES_256_GCM,
        _ => return Err(Unspecified),
    };
    UnboundKey::new(algorithm, key).map(LessSafeKey::new)
}

fn aes(key: &[u8]) -> Result<UnboundCipherKey, Unspecified> {
    let algorithm = match key.len() {
        16 => &cipher::AES_128,
        24 => &cipher::AES_192,
        32 => &cipher::AES_256,
        _ => return Err(Unspecified),
    };
    UnboundCipherKey::new(algorithm, key)
}

fn kek(key: &[u8]) -> Result<AesKek, Unspecified> {
    let algorithm = match key.len() {
        16 => &key_wrap::AES_128,
        32 => &key_wrap::AES_256,
        _ => return Err(Unspecified),
    };
    AesKek::new(algorithm, key)
}

fn block(iv: &[u8]) -> Result<[u8; BLOCK_LEN], Unspecified> {
    iv.try_into().map_err(|_| Unspecified)
}

/// Encrypts `plaintext`: the ciphertext, and GCM's tag.
fn seal(
    mode: Mode,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Option<Vec<u8>>), Unspecified> {
    // Encrypted in place, in a buffer sized for CBC's padding so that it never reallocates
    // (and leaves no plaintext behind), wiped if anything fails before it is ciphertext.
    let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + BLOCK_LEN));
    buffer.extend_from_slice(plaintext);
    let tag = match mode {
        Mode::Gcm => {
            let nonce = Nonce::try_assume_unique_for_key(iv)?;
            let tag =
                aes_gcm(key)?.seal_in_place_separate_tag(nonce, Aad::from(aad), &mut buffer[..])?;
            Some(tag.as_ref().to_vec())
        }
        Mode::CbcPkcs5 => {
            let context = EncryptionContext::Iv128(block(iv)?.into());
            PaddedBlockEncryptingKey::cbc_pkcs7(aes(key)?)?
                .less_safe_encrypt(&mut *buffer, context)?;
            None
        }
        Mode::Cbc => {
            let context = EncryptionContext::Iv128(block(iv)?.into());
            EncryptingKey::cbc(aes(key)?)?.less_safe_encrypt(&mut buffer[..], context)?;
            None
        }
        Mode::EcbPkcs5 => {
            PaddedBlockEncryptingKey::ecb_pkcs7(aes(key)?)?.encrypt(&mut *buffer)?;
            None
        }
        Mode::Ecb => {
            EncryptingKey::ecb(aes(key)?)?.encrypt(&mut buffer[..])?;
            None
        }
        Mode::Ctr => {
            let context = EncryptionContext::Iv128(block(iv)?.into());
            EncryptingKey::ctr(aes(key)?)?.less_safe_encrypt(&mut buffer[..], context)?;
            None
        }
        // Not in place: the wrapped data is written apart, and the plaintext buffer wiped.
        Mode::KeyWrap => {
            let mut wrapped = vec![0; plaintext.len() + KW_OVERHEAD];
            let len = kek(key)?.wrap(plaintext, &mut wrapped)?.len();
            wrapped.truncate(len);
            return Ok((wrapped, None));
        }
        Mode::KeyWrapPadded => {
            let mut wrapped = vec![0; plaintext.len() + KWP_OVERHEAD];
            let len = kek(key)?.wrap_with_padding(plaintext, &mut wrapped)?.len();
            wrapped.truncate(len);
            return Ok((wrapped, None));
        }
    };
    Ok((std::mem::take(&mut *buffer), tag))
}

/// Decrypts `ciphertext`, checking GCM's `tag`. A failure says nothing of why: a wrong key,
/// IV, tag or padding look alike to the client, as they must.
fn open(
    mode: Mode,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: Vec<u8>,
    tag: Option<&[u8]>,
) -> Result<SecretBytes, Unspecified> {
    let mut buffer = Zeroizing::new(ciphertext);
    let length = match mode {
        Mode::Gcm => {
            // aws-lc-rs opens the ciphertext with its tag at the end; neither is secret, so
            // growing the buffer for it leaves nothing behind.
            buffer.extend_from_slice(tag.ok_or(Unspecified)?);
            let nonce = Nonce::try_assume_unique_for_key(iv)?;
            aes_gcm(key)?
                .open_in_place(nonce, Aad::from(aad), &mut buffer)?
                .len()
        }
        Mode::CbcPkcs5 => {
            let context = DecryptionContext::Iv128(block(iv)?.into());
            PaddedBlockDecryptingKey::cbc_pkcs7(aes(key)?)?
                .decrypt(&mut buffer[..], context)?
                .len()
        }
        Mode::Cbc => {
            let context = DecryptionContext::Iv128(block(iv)?.into());
            DecryptingKey::cbc(aes(key)?)?
                .decrypt(&mut buffer[..], context)?
                .len()
        }
        Mode::EcbPkcs5 => PaddedBlockDecryptingKey::ecb_pkcs7(aes(key)?)?
            .decrypt(&mut buffer[..], DecryptionContext::None)?
            .len(),
        Mode::Ecb => DecryptingKey::ecb(aes(key)?)?
            .decrypt(&mut buffer[..], DecryptionContext::None)?
            .len(),
        Mode::Ctr => {
            let context = DecryptionContext::Iv128(block(iv)?.into());
            DecryptingKey::ctr(aes(key)?)?
                .decrypt(&mut buffer[..], context)?
                .len()
        }
        // The unwrapped data is never longer than the wrapped: it goes to a wiped buffer of
        // that size.
        Mode::KeyWrap | Mode::KeyWrapPadded => {
            let mut unwrapped = Zeroizing::new(vec![0; buffer.len()]);
            let len = if mode == Mode::KeyWrap {
                kek(key)?.unwrap(&buffer, &mut unwrapped)?.len()
            } else {
                kek(key)?
                    .unwrap_with_padding(&buffer, &mut unwrapped)?
                    .len()
            };
            unwrapped.truncate(len);
            buffer = unwrapped;
            len
        }
    };
    buffer.truncate(length);
    Ok(SecretBytes::new(std::mem::take(&mut *buffer)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn nist_key_wrap_matches_rfc_3394() {
        // RFC 3394 §4.1: 128 bits of key data under a 128-bit KEK.
        let kek = hex("000102030405060708090A0B0C0D0E0F");
        let data = hex("00112233445566778899AABBCCDDEEFF");
        let (wrapped, tag) = seal(Mode::KeyWrap, &kek, &[], &[], &data).unwrap();
        assert_eq!(
            wrapped,
            hex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
        );
        assert_eq!(tag, None);
        let opened = open(Mode::KeyWrap, &kek, &[], &[], wrapped, None).unwrap();
        assert_eq!(&*opened, data.as_slice());
    }

    #[test]
    fn key_wrap_with_padding_takes_any_length_and_refuses_a_changed_wrap() {
        let kek = [7; 32];
        for len in [1, 7, 20, 33] {
            let data = vec![0xa5; len];
            let (mut wrapped, _) = seal(Mode::KeyWrapPadded, &kek, &[], &[], &data).unwrap();
            assert_eq!(wrapped.len(), len.div_ceil(8) * 8 + 8);
            let opened = open(Mode::KeyWrapPadded, &kek, &[], &[], wrapped.clone(), None).unwrap();
            assert_eq!(&*opened, data.as_slice());
            wrapped[0] ^= 1;
            assert!(open(Mode::KeyWrapPadded, &kek, &[], &[], wrapped, None).is_err());
        }
    }

    #[test]
    fn nist_key_wrap_refuses_data_it_cannot_wrap() {
        assert!(require_length(Mode::KeyWrap, 24).is_ok());
        for len in [0, 8, 20] {
            let refusal = require_length(Mode::KeyWrap, len).unwrap_err();
            assert_eq!(refusal.reason, ResultReason::InvalidField);
        }
        assert!(require_length(Mode::KeyWrapPadded, 3).is_ok());
    }

    #[test]
    fn ecb_and_cbc_give_the_known_answers_with_and_without_padding() {
        // KMIP 1.4 profile test cases CS-BC-M-4-14 (ECB) and CS-BC-M-8-14 (ECB, PKCS#5):
        // one block under an AES-128 key; NIST SP 800-38A F.2.1 (CBC).
        let key = hex("0123456789abcdef0123456789abcdef");
        let block = hex("01020304050607080910111213141516");
        let (ecb, _) = seal(Mode::Ecb, &key, &[], &[], &block).unwrap();
        assert_eq!(ecb, hex("d9bcce11b0b437b90239552df3a360c9"));
        let (padded, _) = seal(Mode::EcbPkcs5, &key, &[], &[], &block).unwrap();
        assert_eq!(padded.len(), 32);
        assert_eq!(padded[..16], ecb[..]);
        for (mode, ciphertext) in [(Mode::Ecb, ecb), (Mode::EcbPkcs5, padded)] {
            let opened = open(mode, &key, &[], &[], ciphertext, None).unwrap();
            assert_eq!(&*opened, block.as_slice());
        }

        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        let plaintext = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let (cbc, _) = seal(Mode::Cbc, &key, &iv, &[], &plaintext).unwrap();
        assert_eq!(
            cbc,
            hex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")
        );
        let opened = open(Mode::Cbc, &key, &iv, &[], cbc, None).unwrap();
        assert_eq!(&*opened, plaintext.as_slice());
    }

    #[test]
    fn unpadded_modes_take_whole_blocks() {
        for mode in [Mode::Ecb, Mode::Cbc] {
            assert!(require_length(mode, 32).is_ok());
            let refusal = require_length(mode, 17).unwrap_err();
            assert_eq!(refusal.reason, ResultReason::InvalidField);
        }
        assert!(require_length(Mode::EcbPkcs5, 17).is_ok());
    }
}
