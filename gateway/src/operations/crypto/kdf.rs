//! The key derivation functions of Derive Key ([`crate::operations::derive`]), aws-lc-rs
//! underneath. Each makes the bytes PyKMIP's server makes for the same request, so a client
//! gets the same key from either:
//!
//! | Derivation Method | the new key | from the Derivation Parameters |
//! |---|---|---|
//! | PBKDF2 | PBKDF2 (SP 800-132) with the base key as the password | Hashing Algorithm SHA-1, -256, -384 or -512; Salt; Iteration Count, 1 to 10,000,000 |
//! | HMAC, HKDF | HKDF (RFC 5869): the base key as input keying material, the Salt (optional) as salt, the Derivation Data (optional) as info | Hashing Algorithm SHA-1, -256, -384 or -512 |
//! | NIST 800-108-C | KBKDF in counter mode with an HMAC PRF (SP 800-108r1 §4.1): a 32-bit counter before the Derivation Data as fixed input, no length field | Hashing Algorithm SHA-224 to SHA-512; Derivation Data |
//! | Hash | the hash of the base key, cut to the new key's length | Hashing Algorithm SHA-1 to SHA-512; no Derivation Data |
//! | Encrypt | the Derivation Data encrypted under the base AES key, cut to the new key's length | Block Cipher Mode CBC or ECB with PKCS5 padding, or CTR; the Initialization Vector (CBC, CTR); Derivation Data |
//!
//! What a method needs is checked by [`Derivation::read`], before the base key is unwrapped.
//! The other methods (NIST 800-108 feedback and double-pipeline, Asymmetric Key, AWS Signature
//! Version 4) are refused.

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, EncryptingKey, EncryptionContext, PaddedBlockEncryptingKey,
    UnboundCipherKey,
};
use aws_lc_rs::error::Unspecified;
use aws_lc_rs::kdf::{KbkdfCtrHmacAlgorithmId, get_kbkdf_ctr_hmac_algorithm, kbkdf_ctr_hmac};
use aws_lc_rs::{digest, hkdf, pbkdf2};
use kmip::{
    BlockCipherMode, CryptographicAlgorithm, DerivationMethod, DerivationParameters,
    HashingAlgorithm, PaddingMethod, ResultReason, SecretBytes,
};
use zeroize::Zeroizing;

use super::{crypto_failure, unsupported};
use crate::refusal::Refusal;

/// The most PBKDF2 iterations a request may ask for: over seven times what OWASP recommends
/// even for PBKDF2-HMAC-SHA1 (1,300,000), and seconds of work — more is a way to stall the
/// gateway, not a stronger key.
const MAX_ITERATIONS: i32 = 10_000_000;
/// AES's block: CBC's IV and CTR's initial counter block.
const BLOCK_LEN: usize = 16;

/// A derivation the request asked for, checked: run it with [`Derivation::derive`].
pub(in crate::operations) struct Derivation {
    function: Function,
    /// The new key's length in bytes.
    len: usize,
}

enum Function {
    Pbkdf2 {
        algorithm: pbkdf2::Algorithm,
        salt: Vec<u8>,
        iterations: NonZeroU32,
    },
    Hkdf {
        algorithm: hkdf::Algorithm,
        salt: Vec<u8>,
        info: SecretBytes,
    },
    Kbkdf {
        algorithm: KbkdfCtrHmacAlgorithmId,
        fixed: SecretBytes,
    },
    Hash(&'static digest::Algorithm),
    Encrypt {
        mode: Mode,
        iv: Vec<u8>,
        data: SecretBytes,
    },
}

/// How the Encrypt method encrypts.
#[derive(Clone, Copy, Debug)]
enum Mode {
    CbcPkcs5,
    EcbPkcs5,
    Ctr,
}

impl Derivation {
    /// The derivation of a `len`-byte key by `method` with `parameters`, from a base key of
    /// `base_algorithm`, or why there is none.
    pub(in crate::operations) fn read(
        method: DerivationMethod,
        parameters: DerivationParameters,
        base_algorithm: Option<CryptographicAlgorithm>,
        len: usize,
    ) -> Result<Self, Refusal> {
        let hash = parameters
            .cryptographic_parameters
            .as_ref()
            .and_then(|parameters| parameters.hashing_algorithm);
        let function = match method {
            DerivationMethod::Pbkdf2 => Function::Pbkdf2 {
                algorithm: pbkdf2_hash(required_hash(hash, method)?)?,
                salt: parameters.salt.ok_or_else(|| missing("PBKDF2", "a Salt"))?,
                iterations: iterations(parameters.iteration_count)?,
            },
            DerivationMethod::Hmac | DerivationMethod::Hkdf => Function::Hkdf {
                algorithm: hkdf_hash(required_hash(hash, method)?)?,
                salt: parameters.salt.unwrap_or_default(),
                info: parameters.derivation_data.unwrap_or_default(),
            },
            DerivationMethod::Nist800_108C => Function::Kbkdf {
                algorithm: kbkdf_hash(required_hash(hash, method)?)?,
                fixed: parameters
                    .derivation_data
                    .ok_or_else(|| missing("NIST 800-108-C", "Derivation Data"))?,
            },
            DerivationMethod::Hash => {
                if parameters.derivation_data.is_some() {
                    return Err(Refusal::new(
                        ResultReason::InvalidField,
                        "the Hash method hashes the base key: send no Derivation Data",
                    ));
                }
                let algorithm = digest_hash(required_hash(hash, method)?)?;
                require_output(algorithm.output_len(), len)?;
                Function::Hash(algorithm)
            }
            DerivationMethod::Encrypt => encryption(parameters, base_algorithm, len)?,
            other => {
                return Err(Refusal::new(
                    ResultReason::InvalidField,
                    format!(
                        "Derivation Method {other:?} is not offered: PBKDF2, HMAC, HKDF, \
                         NIST 800-108-C, Hash and Encrypt are"
                    ),
                ));
            }
        };
        Ok(Self { function, len })
    }

    /// The new key, derived from `base`.
    pub(in crate::operations) fn derive(&self, base: &[u8]) -> Result<SecretBytes, Refusal> {
        let mut key = Zeroizing::new(vec![0; self.len]);
        match &self.function {
            Function::Pbkdf2 {
                algorithm,
                salt,
                iterations,
            } => pbkdf2::derive(*algorithm, *iterations, salt, base, &mut key),
            Function::Hkdf {
                algorithm,
                salt,
                info,
            } => hkdf::Salt::new(*algorithm, salt)
                .extract(base)
                .expand(&[&info[..]], Len(self.len))
                .and_then(|okm| okm.fill(&mut key))
                .map_err(|_| crypto_failure())?,
            Function::Kbkdf { algorithm, fixed } => get_kbkdf_ctr_hmac_algorithm(*algorithm)
                .ok_or(Unspecified)
                .and_then(|algorithm| kbkdf_ctr_hmac(algorithm, base, fixed, &mut key))
                .map_err(|_| crypto_failure())?,
            Function::Hash(algorithm) => {
                key.copy_from_slice(&digest::digest(algorithm, base).as_ref()[..self.len]);
            }
            Function::Encrypt { mode, iv, data } => {
                let encrypted = encrypt(*mode, base, iv, data).map_err(|_| crypto_failure())?;
                key.copy_from_slice(&encrypted[..self.len]);
            }
        }
        Ok(SecretBytes::new(std::mem::take(&mut *key)))
    }
}

/// The Encrypt method's derivation: the Derivation Data encrypted under the AES base key.
fn encryption(
    parameters: DerivationParameters,
    base_algorithm: Option<CryptographicAlgorithm>,
    len: usize,
) -> Result<Function, Refusal> {
    let cryptographic = parameters.cryptographic_parameters.unwrap_or_default();
    let algorithm = cryptographic.cryptographic_algorithm.or(base_algorithm);
    if algorithm != Some(CryptographicAlgorithm::Aes) || base_algorithm != algorithm {
        return Err(unsupported(format!(
            "the Encrypt method encrypts with AES base keys; this key is {base_algorithm:?} \
             and the Cryptographic Parameters name {:?}",
            cryptographic.cryptographic_algorithm
        )));
    }
    let mode = match (
        cryptographic.block_cipher_mode,
        cryptographic.padding_method,
    ) {
        (Some(BlockCipherMode::Cbc), Some(PaddingMethod::Pkcs5)) => Mode::CbcPkcs5,
        (Some(BlockCipherMode::Ecb), Some(PaddingMethod::Pkcs5)) => Mode::EcbPkcs5,
        (Some(BlockCipherMode::Ctr), None | Some(PaddingMethod::None)) => Mode::Ctr,
        (mode, padding) => {
            return Err(unsupported(format!(
                "the Encrypt method takes CBC or ECB with PKCS5 padding, or CTR; not Block \
                 Cipher Mode {mode:?} with Padding Method {padding:?}"
            )));
        }
    };
    let data = parameters
        .derivation_data
        .ok_or_else(|| missing("Encrypt", "Derivation Data"))?;
    let iv = parameters.initialization_vector.unwrap_or_default();
    let iv_len = match mode {
        Mode::CbcPkcs5 | Mode::Ctr => BLOCK_LEN,
        Mode::EcbPkcs5 => 0,
    };
    if iv.len() != iv_len {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            format!(
                "the Initialization Vector is {} bytes; {mode:?} takes {iv_len}",
                iv.len()
            ),
        ));
    }
    let encrypted_len = match mode {
        Mode::CbcPkcs5 | Mode::EcbPkcs5 => (data.len() / BLOCK_LEN + 1) * BLOCK_LEN,
        Mode::Ctr => data.len(),
    };
    require_output(encrypted_len, len)?;
    Ok(Function::Encrypt { mode, iv, data })
}

/// `data` encrypted under the AES key `key`.
fn encrypt(
    mode: Mode,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Unspecified> {
    let algorithm = match key.len() {
        16 => &AES_128,
        24 => &AES_192,
        32 => &AES_256,
        _ => return Err(Unspecified),
    };
    let key = UnboundCipherKey::new(algorithm, key)?;
    // Sized for the padding, so that it never reallocates and leaves a copy behind.
    let mut buffer = Zeroizing::new(Vec::with_capacity(data.len() + BLOCK_LEN));
    buffer.extend_from_slice(data);
    let block = || -> Result<EncryptionContext, Unspecified> {
        let iv: [u8; BLOCK_LEN] = iv.try_into().map_err(|_| Unspecified)?;
        Ok(EncryptionContext::Iv128(iv.into()))
    };
    match mode {
        Mode::CbcPkcs5 => {
            PaddedBlockEncryptingKey::cbc_pkcs7(key)?.less_safe_encrypt(&mut *buffer, block()?)?;
        }
        Mode::EcbPkcs5 => {
            PaddedBlockEncryptingKey::ecb_pkcs7(key)?
                .less_safe_encrypt(&mut *buffer, EncryptionContext::None)?;
        }
        Mode::Ctr => {
            EncryptingKey::ctr(key)?.less_safe_encrypt(&mut buffer[..], block()?)?;
        }
    }
    Ok(buffer)
}

/// A method's output of `available` bytes must make the new key's `len`: PyKMIP's rule, with
/// its reason.
fn require_output(available: usize, len: usize) -> Result<(), Refusal> {
    if len > available {
        return Err(Refusal::new(
            ResultReason::CryptographicFailure,
            format!(
                "the method makes {available} bytes, fewer than the {len} of the key asked for"
            ),
        ));
    }
    Ok(())
}

fn iterations(count: Option<i32>) -> Result<NonZeroU32, Refusal> {
    let count = count.ok_or_else(|| missing("PBKDF2", "an Iteration Count"))?;
    match u32::try_from(count).ok().and_then(NonZeroU32::new) {
        Some(iterations) if count <= MAX_ITERATIONS => Ok(iterations),
        _ => Err(Refusal::new(
            ResultReason::InvalidField,
            format!("an Iteration Count of {count}: PBKDF2 takes 1 to {MAX_ITERATIONS}"),
        )),
    }
}

fn required_hash(
    hash: Option<HashingAlgorithm>,
    method: DerivationMethod,
) -> Result<HashingAlgorithm, Refusal> {
    hash.ok_or_else(|| {
        Refusal::new(
            ResultReason::InvalidField,
            format!(
                "the {method:?} method needs a Hashing Algorithm in the Derivation Parameters' \
                 Cryptographic Parameters"
            ),
        )
    })
}

fn pbkdf2_hash(hash: HashingAlgorithm) -> Result<pbkdf2::Algorithm, Refusal> {
    Ok(match hash {
        HashingAlgorithm::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
        HashingAlgorithm::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
        HashingAlgorithm::Sha384 => pbkdf2::PBKDF2_HMAC_SHA384,
        HashingAlgorithm::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        other => return Err(unoffered(other, "PBKDF2", "SHA-1, -256, -384 and -512")),
    })
}

fn hkdf_hash(hash: HashingAlgorithm) -> Result<hkdf::Algorithm, Refusal> {
    Ok(match hash {
        HashingAlgorithm::Sha1 => hkdf::HKDF_SHA1_FOR_LEGACY_USE_ONLY,
        HashingAlgorithm::Sha256 => hkdf::HKDF_SHA256,
        HashingAlgorithm::Sha384 => hkdf::HKDF_SHA384,
        HashingAlgorithm::Sha512 => hkdf::HKDF_SHA512,
        other => return Err(unoffered(other, "HKDF", "SHA-1, -256, -384 and -512")),
    })
}

fn kbkdf_hash(hash: HashingAlgorithm) -> Result<KbkdfCtrHmacAlgorithmId, Refusal> {
    Ok(match hash {
        HashingAlgorithm::Sha224 => KbkdfCtrHmacAlgorithmId::Sha224,
        HashingAlgorithm::Sha256 => KbkdfCtrHmacAlgorithmId::Sha256,
        HashingAlgorithm::Sha384 => KbkdfCtrHmacAlgorithmId::Sha384,
        HashingAlgorithm::Sha512 => KbkdfCtrHmacAlgorithmId::Sha512,
        other => {
            return Err(unoffered(
                other,
                "NIST 800-108-C",
                "SHA-224, -256, -384 and -512",
            ));
        }
    })
}

fn digest_hash(hash: HashingAlgorithm) -> Result<&'static digest::Algorithm, Refusal> {
    Ok(match hash {
        HashingAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashingAlgorithm::Sha224 => &digest::SHA224,
        HashingAlgorithm::Sha256 => &digest::SHA256,
        HashingAlgorithm::Sha384 => &digest::SHA384,
        HashingAlgorithm::Sha512 => &digest::SHA512,
        other => return Err(unoffered(other, "Hash", "SHA-1 to SHA-512")),
    })
}

fn unoffered(hash: HashingAlgorithm, method: &str, offered: &str) -> Refusal {
    unsupported(format!(
        "the {method} method does not take Hashing Algorithm {hash:?}: it takes {offered}"
    ))
}

fn missing(method: &str, what: &str) -> Refusal {
    Refusal::new(
        ResultReason::InvalidField,
        format!("the {method} method needs {what} in the Derivation Parameters"),
    )
}

/// HKDF's output length, as aws-lc-rs asks for it.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use kmip::CryptographicParameters;

    use super::*;

    fn hashed(hash: HashingAlgorithm) -> DerivationParameters {
        DerivationParameters {
            cryptographic_parameters: Some(CryptographicParameters {
                hashing_algorithm: Some(hash),
                ..CryptographicParameters::default()
            }),
            ..DerivationParameters::default()
        }
    }

    fn derive(method: DerivationMethod, parameters: DerivationParameters, len: usize) -> Vec<u8> {
        Derivation::read(method, parameters, Some(CryptographicAlgorithm::Aes), len)
            .unwrap()
            .derive(&[0x0b; 22])
            .unwrap()
            .to_vec()
    }

    fn reason(method: DerivationMethod, parameters: DerivationParameters) -> ResultReason {
        Derivation::read(method, parameters, Some(CryptographicAlgorithm::Aes), 32)
            .err()
            .unwrap()
            .reason
    }

    #[test]
    fn hkdf_matches_rfc_5869_case_1() {
        let mut parameters = hashed(HashingAlgorithm::Sha256);
        parameters.salt = Some(hex::decode("000102030405060708090a0b0c").unwrap());
        parameters.derivation_data = Some(SecretBytes::new(
            hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap(),
        ));
        assert_eq!(
            hex::encode(derive(DerivationMethod::Hmac, parameters, 42)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
             34007208d5b887185865"
        );
    }

    #[test]
    fn pbkdf2_matches_rfc_6070() {
        let mut parameters = hashed(HashingAlgorithm::Sha1);
        parameters.salt = Some(b"salt".to_vec());
        parameters.iteration_count = Some(2);
        let key = Derivation::read(DerivationMethod::Pbkdf2, parameters, None, 20)
            .unwrap()
            .derive(b"password")
            .unwrap();
        assert_eq!(
            hex::encode(&key[..]),
            "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"
        );
    }

    #[test]
    fn refuses_what_a_method_lacks_or_cannot_take() {
        use DerivationMethod as M;
        let mut no_salt = hashed(HashingAlgorithm::Sha256);
        no_salt.iteration_count = Some(1000);
        assert_eq!(reason(M::Pbkdf2, no_salt), ResultReason::InvalidField);
        for count in [0, -1, MAX_ITERATIONS + 1] {
            let mut parameters = hashed(HashingAlgorithm::Sha256);
            parameters.salt = Some(vec![1; 16]);
            parameters.iteration_count = Some(count);
            assert_eq!(reason(M::Pbkdf2, parameters), ResultReason::InvalidField);
        }
        assert_eq!(
            reason(M::Hmac, DerivationParameters::default()),
            ResultReason::InvalidField
        );
        assert_eq!(
            reason(M::Hmac, hashed(HashingAlgorithm::Md5)),
            ResultReason::UnsupportedCryptographicParameters
        );
        assert_eq!(
            reason(M::Nist800_108C, hashed(HashingAlgorithm::Sha256)),
            ResultReason::InvalidField,
            "no Derivation Data"
        );
        // SHA-256 makes 32 bytes, not 48.
        let short = Derivation::read(M::Hash, hashed(HashingAlgorithm::Sha256), None, 48);
        assert_eq!(
            short.err().unwrap().reason,
            ResultReason::CryptographicFailure
        );
        assert_eq!(
            reason(M::Nist800_108F, DerivationParameters::default()),
            ResultReason::InvalidField
        );
        let mut ctr = DerivationParameters {
            cryptographic_parameters: Some(CryptographicParameters {
                block_cipher_mode: Some(BlockCipherMode::Ctr),
                ..CryptographicParameters::default()
            }),
            derivation_data: Some(SecretBytes::new(vec![0; 32])),
            ..DerivationParameters::default()
        };
        assert_eq!(
            reason(M::Encrypt, ctr.clone()),
            ResultReason::InvalidField,
            "no IV"
        );
        ctr.initialization_vector = Some(vec![0; 16]);
        let hmac_base = Derivation::read(
            M::Encrypt,
            ctr,
            Some(CryptographicAlgorithm::HmacSha256),
            32,
        );
        assert_eq!(
            hmac_base.err().unwrap().reason,
            ResultReason::UnsupportedCryptographicParameters
        );
    }
}
