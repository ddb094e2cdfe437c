//! Sign with one of the caller's private keys and Signature Verify with one of its public keys,
//! the key pairs the gateway makes ([`crate::operations::asymmetric`]), aws-lc-rs underneath.
//!
//! **What is done** (the data is signed whole: Digested Data is not taken):
//!
//! | key | Cryptographic Parameters | signature |
//! |---|---|---|
//! | RSA | Padding Method PSS or PKCS1 v1.5 with Hashing Algorithm SHA-256, -384 or -512; or Digital Signature Algorithm SHA-256/384/512 with RSA Encryption (PKCS#1 v1.5), or RSASSA-PSS with a Hashing Algorithm | PSS with MGF1 of the same hash and a salt as long as the hash |
//! | ECDSA P-256 | none needed; may name ECDSA with SHA-256, SHA-256 | DER (`Ecdsa-Sig-Value`) |
//! | ECDSA P-384 | none needed; may name ECDSA with SHA-384, SHA-384 | DER |
//! | Ed25519 | none needed; names no hash | 64 bytes (RFC 8032, PureEdDSA) |
//!
//! The parameters are the request's, else the key's Cryptographic Parameters attribute. A key
//! pair's curve fixes its hash, so EC and Ed25519 keys need none; an RSA key needs its padding
//! and hash named, as nothing else says which signature the client expects. Anything else —
//! another hash, salt length or mask generator hash, a parameter that contradicts the key —
//! is refused with the reason, before the key is unwrapped. Signature Verify answers *Valid*
//! or *Invalid* (a signature of the wrong length or encoding included).

use aws_lc_rs::error::Unspecified;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, UnparsedPublicKey};
use kmip::{
    CryptographicAlgorithm, CryptographicParameters, DigitalSignatureAlgorithm, HashingAlgorithm,
    ObjectType, PaddingMethod, ResultReason, SignRequest, SignResponse, SignatureVerifyRequest,
    SignatureVerifyResponse,
};

use super::{Use, admit, crypto_failure, parameters, unsupported, unwrapped, validity};
use crate::operations::Context;
use crate::operations::asymmetric::KeyKind;
use crate::refusal::Refusal;
use crate::vault::{Found, Record, Vault};

/// The hashes RSA signatures are made with here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn of(algorithm: HashingAlgorithm) -> Result<Self, Refusal> {
        match algorithm {
            HashingAlgorithm::Sha256 => Ok(Self::Sha256),
            HashingAlgorithm::Sha384 => Ok(Self::Sha384),
            HashingAlgorithm::Sha512 => Ok(Self::Sha512),
            other => Err(unsupported(format!(
                "RSA signatures here use SHA-256, SHA-384 or SHA-512, not {other:?}"
            ))),
        }
    }

    const fn len(self) -> i32 {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// How a signature is made and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    RsaPkcs1(Hash),
    RsaPss(Hash),
    Ecdsa(KeyKind),
    Ed25519,
}

impl Scheme {
    fn rsa_encoding(self) -> Option<&'static dyn signature::RsaEncoding> {
        Some(match self {
            Self::RsaPkcs1(Hash::Sha256) => &signature::RSA_PKCS1_SHA256,
            Self::RsaPkcs1(Hash::Sha384) => &signature::RSA_PKCS1_SHA384,
            Self::RsaPkcs1(Hash::Sha512) => &signature::RSA_PKCS1_SHA512,
            Self::RsaPss(Hash::Sha256) => &signature::RSA_PSS_SHA256,
            Self::RsaPss(Hash::Sha384) => &signature::RSA_PSS_SHA384,
            Self::RsaPss(Hash::Sha512) => &signature::RSA_PSS_SHA512,
            Self::Ecdsa(_) | Self::Ed25519 => return None,
        })
    }

    fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Self::RsaPkcs1(Hash::Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RsaPkcs1(Hash::Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RsaPkcs1(Hash::Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::RsaPss(Hash::Sha256) => &signature::RSA_PSS_2048_8192_SHA256,
            Self::RsaPss(Hash::Sha384) => &signature::RSA_PSS_2048_8192_SHA384,
            Self::RsaPss(Hash::Sha512) => &signature::RSA_PSS_2048_8192_SHA512,
            Self::Ecdsa(KeyKind::P384) => &signature::ECDSA_P384_SHA384_ASN1,
            Self::Ecdsa(_) => &signature::ECDSA_P256_SHA256_ASN1,
            Self::Ed25519 => &signature::ED25519,
        }
    }

    /// The signature of `data` under the PKCS#8 private key `key`.
    fn sign(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Unspecified> {
        Ok(match self {
            Self::RsaPkcs1(_) | Self::RsaPss(_) => {
                let encoding = self.rsa_encoding().ok_or(Unspecified)?;
                let pair = rsa::KeyPair::from_pkcs8(key)?;
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &SystemRandom::new(), data, &mut signature)?;
                signature
            }
            Self::Ecdsa(kind) => {
                let pair = EcdsaKeyPair::from_pkcs8(kind.ecdsa().ok_or(Unspecified)?, key)?;
                pair.sign(&SystemRandom::new(), data)?.as_ref().to_vec()
            }
            Self::Ed25519 => Ed25519KeyPair::from_pkcs8(key)?
                .try_sign(data)?
                .as_ref()
                .to_vec(),
        })
    }

    /// Whether `signature` is one of `data` under the `SubjectPublicKeyInfo` `key`.
    fn verify(self, key: &[u8], data: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(self.verification(), key)
            .verify(data, signature)
            .is_ok()
    }
}

/// Sign: the signature of `request.data` under the caller's private key `record`.
pub(in crate::operations) async fn sign<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: SignRequest,
) -> Result<SignResponse, Refusal> {
    let record = &found.record;
    let scheme = admitted(
        context,
        record,
        request.cryptographic_parameters.as_ref(),
        Use::Sign,
    )?;
    let key = unwrapped(context, &found, Use::Sign).await?;
    let signature_data = scheme
        .sign(&key, &request.data)
        .map_err(|Unspecified| crypto_failure())?;
    Ok(SignResponse {
        unique_identifier: found.record.id,
        signature_data,
    })
}

/// Signature Verify: whether `request.signature_data` is a signature of `request.data` under
/// the caller's public key `record`.
pub(in crate::operations) async fn signature_verify<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: SignatureVerifyRequest,
) -> Result<SignatureVerifyResponse, Refusal> {
    let record = &found.record;
    let scheme = admitted(
        context,
        record,
        request.cryptographic_parameters.as_ref(),
        Use::SignatureVerify,
    )?;
    let key = unwrapped(context, &found, Use::SignatureVerify).await?;
    let valid = scheme.verify(&key, &request.data, &request.signature_data);
    Ok(SignatureVerifyResponse {
        unique_identifier: found.record.id,
        validity_indicator: validity(valid),
    })
}

/// The scheme `record`'s key signs or verifies with, if it may be put `to` use now with these
/// parameters: the right half of a pair, its parameters, its state and its usage mask.
fn admitted<V>(
    context: &Context<'_, V>,
    record: &Record,
    requested: Option<&CryptographicParameters>,
    to: Use,
) -> Result<Scheme, Refusal> {
    let (half, which) = match to {
        Use::Sign => (ObjectType::PrivateKey, "private"),
        _ => (ObjectType::PublicKey, "public"),
    };
    let metadata = &record.metadata;
    if metadata.object_type != half {
        return Err(Refusal::new(
            ResultReason::InvalidObjectType,
            format!(
                "{} takes the {which} key of a key pair; this object is a {:?}",
                to.operation(),
                metadata.object_type
            ),
        ));
    }
    let kind = KeyKind::of_record(metadata).ok_or_else(|| {
        unsupported(format!(
            "{} takes RSA, ECDSA and Ed25519 keys; this key is {:?}",
            to.operation(),
            metadata.algorithm
        ))
    })?;
    let scheme = scheme(kind, metadata.algorithm, parameters(requested, record))?;
    admit(context, record, to)?;
    Ok(scheme)
}

/// The scheme a key of `kind` (and of the algorithm `key_algorithm`) signs with, given the
/// parameters.
fn scheme(
    kind: KeyKind,
    key_algorithm: Option<CryptographicAlgorithm>,
    parameters: Option<&CryptographicParameters>,
) -> Result<Scheme, Refusal> {
    let empty = CryptographicParameters::default();
    let parameters = parameters.unwrap_or(&empty);
    if let Some(named) = parameters.cryptographic_algorithm {
        let matches = Some(named) == key_algorithm
            || (matches!(kind, KeyKind::P256 | KeyKind::P384)
                && matches!(
                    named,
                    CryptographicAlgorithm::Ec | CryptographicAlgorithm::Ecdsa
                ));
        if !matches {
            return Err(unsupported(format!(
                "Cryptographic Algorithm {named:?} does not match the key's {key_algorithm:?}"
            )));
        }
    }
    match kind {
        KeyKind::Rsa(_) => rsa_scheme(parameters),
        KeyKind::P256 | KeyKind::P384 => {
            let (signature, hash) = if kind == KeyKind::P256 {
                (
                    DigitalSignatureAlgorithm::EcdsaWithSha256,
                    HashingAlgorithm::Sha256,
                )
            } else {
                (
                    DigitalSignatureAlgorithm::EcdsaWithSha384,
                    HashingAlgorithm::Sha384,
                )
            };
            fixed_by_the_key(parameters, Some(signature), Some(hash))?;
            Ok(Scheme::Ecdsa(kind))
        }
        KeyKind::Ed25519 => {
            fixed_by_the_key(parameters, None, None)?;
            Ok(Scheme::Ed25519)
        }
    }
}

/// Refuses parameters that contradict a key whose curve fixes its signature algorithm
/// (`signature`, if KMIP names one) and hash (`hash`, if any).
fn fixed_by_the_key(
    parameters: &CryptographicParameters,
    signature: Option<DigitalSignatureAlgorithm>,
    hash: Option<HashingAlgorithm>,
) -> Result<(), Refusal> {
    if let Some(named) = parameters.digital_signature_algorithm
        && Some(named) != signature
    {
        return Err(unsupported(format!(
            "Digital Signature Algorithm {named:?} does not match the key, which signs with {signature:?}"
        )));
    }
    if let Some(named) = parameters.hashing_algorithm
        && Some(named) != hash
    {
        return Err(unsupported(format!(
            "Hashing Algorithm {named:?} does not match the key, which hashes with {hash:?}"
        )));
    }
    if let Some(padding) = parameters.padding_method
        && padding != PaddingMethod::None
    {
        return Err(unsupported(format!(
            "Padding Method {padding:?} belongs to RSA signatures"
        )));
    }
    Ok(())
}

/// The RSA signature the parameters name: a padding (Padding Method, or implied by the
/// Digital Signature Algorithm) and a hash (Hashing Algorithm, or implied likewise), which
/// must agree where both are given.
fn rsa_scheme(parameters: &CryptographicParameters) -> Result<Scheme, Refusal> {
    use DigitalSignatureAlgorithm as D;
    let (implied_padding, implied_hash) = match parameters.digital_signature_algorithm {
        None => (None, None),
        Some(D::Sha256WithRsaEncryption) => (Some(PaddingMethod::Pkcs1v15), Some(Hash::Sha256)),
        Some(D::Sha384WithRsaEncryption) => (Some(PaddingMethod::Pkcs1v15), Some(Hash::Sha384)),
        Some(D::Sha512WithRsaEncryption) => (Some(PaddingMethod::Pkcs1v15), Some(Hash::Sha512)),
        Some(D::RsassaPss) => (Some(PaddingMethod::Pss), None),
        Some(other) => {
            return Err(unsupported(format!(
                "Digital Signature Algorithm {other:?} is not offered for RSA keys: SHA-256, \
                 SHA-384 or SHA-512 with RSA Encryption, and RSASSA-PSS, are"
            )));
        }
    };
    let padding = agreed("Padding Method", parameters.padding_method, implied_padding)?;
    let hash = parameters.hashing_algorithm.map(Hash::of).transpose()?;
    let hash = agreed("Hashing Algorithm", hash, implied_hash)?;
    let (Some(padding), Some(hash)) = (padding, hash) else {
        return Err(Refusal::new(
            ResultReason::MissingData,
            "an RSA signature needs its Padding Method (PSS or PKCS1 v1.5) and Hashing \
             Algorithm, or a Digital Signature Algorithm, in the Cryptographic Parameters \
             (the request's, or the key's attribute)",
        ));
    };
    match padding {
        PaddingMethod::Pkcs1v15 => Ok(Scheme::RsaPkcs1(hash)),
        PaddingMethod::Pss => {
            if let Some(salt) = parameters.salt_length
                && salt != hash.len()
            {
                return Err(unsupported(format!(
                    "a PSS salt of {salt} bytes is not offered: the salt is as long as the hash, \
                     {} bytes",
                    hash.len()
                )));
            }
            if let Some(mgf_hash) = parameters.mask_generator_hashing_algorithm
                && Hash::of(mgf_hash)? != hash
            {
                return Err(unsupported(format!(
                    "PSS here uses MGF1 with the signature's hash, not {mgf_hash:?}"
                )));
            }
            Ok(Scheme::RsaPss(hash))
        }
        other => Err(unsupported(format!(
            "Padding Method {other:?} is not offered for RSA signatures: PSS and PKCS1 v1.5 are"
        ))),
    }
}

/// The value a parameter has, given directly (`given`) or implied by another (`implied`); a
/// refusal if the two differ.
fn agreed<T: PartialEq + std::fmt::Debug>(
    name: &str,
    given: Option<T>,
    implied: Option<T>,
) -> Result<Option<T>, Refusal> {
    match (given, implied) {
        (Some(given), Some(implied)) if given != implied => Err(unsupported(format!(
            "{name} {given:?} contradicts the Digital Signature Algorithm, which implies \
             {implied:?}"
        ))),
        (given, implied) => Ok(given.or(implied)),
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::KeySize;

    use super::*;

    fn with(edit: impl FnOnce(&mut CryptographicParameters)) -> CryptographicParameters {
        let mut parameters = CryptographicParameters::default();
        edit(&mut parameters);
        parameters
    }

    #[test]
    fn names_the_schemes_clients_ask_for() {
        let rsa = KeyKind::Rsa(KeySize::Rsa2048);
        let pss = with(|p| {
            p.padding_method = Some(PaddingMethod::Pss);
            p.hashing_algorithm = Some(HashingAlgorithm::Sha384);
        });
        assert_eq!(
            scheme(rsa, Some(CryptographicAlgorithm::Rsa), Some(&pss)).unwrap(),
            Scheme::RsaPss(Hash::Sha384)
        );
        let pkcs1 = with(|p| {
            p.digital_signature_algorithm =
                Some(DigitalSignatureAlgorithm::Sha512WithRsaEncryption);
        });
        assert_eq!(
            scheme(rsa, Some(CryptographicAlgorithm::Rsa), Some(&pkcs1)).unwrap(),
            Scheme::RsaPkcs1(Hash::Sha512)
        );
        assert_eq!(
            scheme(KeyKind::P384, Some(CryptographicAlgorithm::Ecdsa), None).unwrap(),
            Scheme::Ecdsa(KeyKind::P384)
        );
        let ecdsa = with(|p| {
            p.digital_signature_algorithm = Some(DigitalSignatureAlgorithm::EcdsaWithSha256);
            p.cryptographic_algorithm = Some(CryptographicAlgorithm::Ec);
        });
        assert_eq!(
            scheme(
                KeyKind::P256,
                Some(CryptographicAlgorithm::Ecdsa),
                Some(&ecdsa)
            )
            .unwrap(),
            Scheme::Ecdsa(KeyKind::P256)
        );
        assert_eq!(
            scheme(
                KeyKind::Ed25519,
                Some(CryptographicAlgorithm::Ed25519),
                None
            )
            .unwrap(),
            Scheme::Ed25519
        );
    }

    #[test]
    fn refuses_parameters_that_do_not_fit_the_key() {
        let rsa = KeyKind::Rsa(KeySize::Rsa2048);
        let reason = |kind, parameters: CryptographicParameters| {
            scheme(kind, Some(CryptographicAlgorithm::Rsa), Some(&parameters))
                .unwrap_err()
                .reason
        };
        assert_eq!(
            scheme(rsa, Some(CryptographicAlgorithm::Rsa), None)
                .unwrap_err()
                .reason,
            ResultReason::MissingData
        );
        let unsupported = ResultReason::UnsupportedCryptographicParameters;
        let sha1 = with(|p| {
            p.padding_method = Some(PaddingMethod::Pss);
            p.hashing_algorithm = Some(HashingAlgorithm::Sha1);
        });
        assert_eq!(reason(rsa, sha1), unsupported);
        let contradiction = with(|p| {
            p.padding_method = Some(PaddingMethod::Pss);
            p.digital_signature_algorithm =
                Some(DigitalSignatureAlgorithm::Sha256WithRsaEncryption);
        });
        assert_eq!(reason(rsa, contradiction), unsupported);
        let salt = with(|p| {
            p.digital_signature_algorithm = Some(DigitalSignatureAlgorithm::RsassaPss);
            p.hashing_algorithm = Some(HashingAlgorithm::Sha256);
            p.salt_length = Some(20);
        });
        assert_eq!(reason(rsa, salt), unsupported);
        let oaep = with(|p| {
            p.padding_method = Some(PaddingMethod::Oaep);
            p.hashing_algorithm = Some(HashingAlgorithm::Sha256);
        });
        assert_eq!(reason(rsa, oaep), unsupported);
        let wrong_hash = with(|p| p.hashing_algorithm = Some(HashingAlgorithm::Sha384));
        assert_eq!(reason(KeyKind::P256, wrong_hash.clone()), unsupported);
        assert_eq!(reason(KeyKind::Ed25519, wrong_hash), unsupported);
        let aes = with(|p| p.cryptographic_algorithm = Some(CryptographicAlgorithm::Aes));
        assert_eq!(reason(rsa, aes), unsupported);
    }

    #[test]
    fn signs_and_verifies_with_each_scheme() {
        let data = b"a payment order";
        for (kind, scheme) in [
            (KeyKind::Rsa(KeySize::Rsa2048), Scheme::RsaPss(Hash::Sha256)),
            (
                KeyKind::Rsa(KeySize::Rsa2048),
                Scheme::RsaPkcs1(Hash::Sha512),
            ),
            (KeyKind::P256, Scheme::Ecdsa(KeyKind::P256)),
            (KeyKind::P384, Scheme::Ecdsa(KeyKind::P384)),
            (KeyKind::Ed25519, Scheme::Ed25519),
        ] {
            let pair = kind.generate().unwrap();
            let mut signature = scheme.sign(&pair.private, data).unwrap();
            assert!(scheme.verify(&pair.public, data, &signature), "{scheme:?}");
            assert!(!scheme.verify(&pair.public, b"another order", &signature));
            signature[0] ^= 1;
            assert!(!scheme.verify(&pair.public, data, &signature), "{scheme:?}");
            assert!(!scheme.verify(&pair.public, data, &[]), "{scheme:?}");
        }
    }
}
