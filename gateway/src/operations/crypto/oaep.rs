//! RSA-OAEP: Encrypt with the public key of one of the caller's RSA key pairs, Decrypt with
//! its private key, aws-lc-rs underneath; also how a Get wraps a key under an RSA public key,
//! and a Register unwraps one under the private key ([`super::key_wrap`]).
//!
//! | Cryptographic Parameters | what is done |
//! |---|---|
//! | Padding Method OAEP, Hashing Algorithm SHA-1, SHA-256, SHA-384 or SHA-512 | RSAES-OAEP (RFC 8017) with that hash, MGF1 with the same hash, and no label |
//!
//! Both the padding and the hash must be named (the request's parameters, else the key's
//! Cryptographic Parameters attribute), as PyKMIP's server also requires: nothing else says
//! which encryption the client expects. A Mask Generator Hashing Algorithm (KMIP 1.4 and 2.x)
//! must be the hash itself (aws-lc-rs offers OAEP with MGF1 of the same hash only), and a
//! label (P Source) is not taken. PKCS#1 v1.5 encryption is not offered. The message is at
//! most the modulus less twice the hash and two bytes (Invalid Field beyond); a ciphertext is
//! exactly the modulus long.

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use kmip::{
    CryptographicAlgorithm, CryptographicParameters, DecryptRequest, DecryptResponse,
    EncryptRequest, EncryptResponse, HashingAlgorithm, MaskGenerator, ObjectType, PaddingMethod,
    ResultReason, SecretBytes,
};
use zeroize::Zeroizing;

use super::{Use, admit, crypto_failure, parameters, unsupported, unwrapped};
use crate::operations::Context;
use crate::refusal::Refusal;
use crate::vault::{Found, Record, Vault};

/// RSA-OAEP with one hash, for the hash and MGF1 both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Oaep(HashingAlgorithm);

impl Oaep {
    /// The OAEP the parameters (the given ones, else the key's attribute) name for `record`'s
    /// RSA key.
    pub(super) fn of(
        requested: Option<&CryptographicParameters>,
        record: &Record,
    ) -> Result<Self, Refusal> {
        let metadata = &record.metadata;
        if metadata.algorithm != Some(CryptographicAlgorithm::Rsa) {
            return Err(unsupported(format!(
                "RSA-OAEP takes RSA keys; this key is {:?}",
                metadata.algorithm
            )));
        }
        let parameters = parameters(requested, record).ok_or_else(missing_parameters)?;
        if let Some(algorithm) = parameters.cryptographic_algorithm
            && algorithm != CryptographicAlgorithm::Rsa
        {
            return Err(unsupported(format!(
                "Cryptographic Algorithm {algorithm:?} does not match the RSA key"
            )));
        }
        match parameters.padding_method {
            Some(PaddingMethod::Oaep) => {}
            None => return Err(missing_parameters()),
            Some(other) => {
                return Err(unsupported(format!(
                    "RSA encryption here is OAEP, not Padding Method {other:?}"
                )));
            }
        }
        if let Some(mode) = parameters.block_cipher_mode {
            return Err(unsupported(format!(
                "RSA-OAEP takes no Block Cipher Mode ({mode:?} was named)"
            )));
        }
        let hash = parameters
            .hashing_algorithm
            .ok_or_else(missing_parameters)?;
        let oaep = Self(hash);
        oaep.algorithm()?;
        if let Some(generator) = parameters.mask_generator
            && generator != MaskGenerator::Mgf1
        {
            return Err(unsupported(format!(
                "OAEP here uses MGF1, not {generator:?}"
            )));
        }
        if let Some(mgf_hash) = parameters.mask_generator_hashing_algorithm
            && mgf_hash != hash
        {
            return Err(unsupported(format!(
                "OAEP here uses MGF1 with its own hash ({hash:?}), not {mgf_hash:?}"
            )));
        }
        if parameters
            .p_source
            .as_ref()
            .is_some_and(|label| !label.is_empty())
        {
            return Err(unsupported(
                "RSA-OAEP here takes no label (P Source)".to_owned(),
            ));
        }
        Ok(oaep)
    }

    /// The parameters that name this OAEP.
    pub(super) fn parameters(self) -> CryptographicParameters {
        CryptographicParameters {
            padding_method: Some(PaddingMethod::Oaep),
            hashing_algorithm: Some(self.0),
            cryptographic_algorithm: Some(CryptographicAlgorithm::Rsa),
            ..CryptographicParameters::default()
        }
    }

    fn algorithm(self) -> Result<&'static OaepAlgorithm, Refusal> {
        match self.0 {
            HashingAlgorithm::Sha1 => Ok(&OAEP_SHA1_MGF1SHA1),
            HashingAlgorithm::Sha256 => Ok(&OAEP_SHA256_MGF1SHA256),
            HashingAlgorithm::Sha384 => Ok(&OAEP_SHA384_MGF1SHA384),
            HashingAlgorithm::Sha512 => Ok(&OAEP_SHA512_MGF1SHA512),
            other => Err(unsupported(format!(
                "RSA-OAEP here hashes with SHA-1, SHA-256, SHA-384 or SHA-512, not {other:?}"
            ))),
        }
    }

    /// `plaintext` encrypted under the `SubjectPublicKeyInfo` `key`.
    pub(super) fn seal(self, key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Refusal> {
        let algorithm = self.algorithm()?;
        let key = PublicEncryptingKey::from_der(key)
            .ok()
            .and_then(|key| OaepPublicEncryptingKey::new(key).ok())
            .ok_or_else(crypto_failure)?;
        let max = key.max_plaintext_size(algorithm);
        if plaintext.len() > max {
            return Err(Refusal::new(
                ResultReason::InvalidField,
                format!(
                    "RSA-OAEP with {:?} under this {}-bit key takes at most {max} bytes, not {}",
                    self.0,
                    key.key_size_bits(),
                    plaintext.len()
                ),
            ));
        }
        let mut ciphertext = vec![0; key.ciphertext_size()];
        let len = key
            .encrypt(algorithm, plaintext, &mut ciphertext, None)
            .map_err(|_| crypto_failure())?
            .len();
        ciphertext.truncate(len);
        Ok(ciphertext)
    }

    /// `ciphertext` decrypted under the PKCS#8 private key `key`. A failure says nothing of
    /// why: a wrong key, hash or altered ciphertext look alike, as they must.
    pub(super) fn open(self, key: &[u8], ciphertext: &[u8]) -> Result<SecretBytes, Refusal> {
        let algorithm = self.algorithm()?;
        let key = PrivateDecryptingKey::from_pkcs8(key)
            .ok()
            .and_then(|key| OaepPrivateDecryptingKey::new(key).ok())
            .ok_or_else(crypto_failure)?;
        if ciphertext.len() != key.key_size_bytes() {
            return Err(Refusal::new(
                ResultReason::InvalidField,
                format!(
                    "an RSA-OAEP ciphertext under this {}-bit key is {} bytes, not {}",
                    key.key_size_bits(),
                    key.key_size_bytes(),
                    ciphertext.len()
                ),
            ));
        }
        let mut plaintext = Zeroizing::new(vec![0; key.min_output_size()]);
        let len = key
            .decrypt(algorithm, ciphertext, &mut plaintext, None)
            .map_err(|_| {
                Refusal::new(
                    ResultReason::CryptographicFailure,
                    "the data does not decrypt under this key with these parameters",
                )
            })?
            .len();
        plaintext.truncate(len);
        Ok(SecretBytes::new(std::mem::take(&mut *plaintext)))
    }
}

fn missing_parameters() -> Refusal {
    Refusal::new(
        ResultReason::MissingData,
        "RSA encryption needs Padding Method OAEP and a Hashing Algorithm (SHA-1, SHA-256, \
         SHA-384 or SHA-512) in the Cryptographic Parameters (the request's, or the key's \
         attribute)",
    )
}

/// Encrypt: `request.data` under the caller's RSA public key `record`.
pub(in crate::operations) async fn encrypt<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: EncryptRequest,
) -> Result<EncryptResponse, Refusal> {
    let record = &found.record;
    no_symmetric_fields(
        request.iv_counter_nonce.is_some()
            || request.authenticated_encryption_additional_data.is_some(),
    )?;
    let oaep = admitted(
        context,
        record,
        request.cryptographic_parameters.as_ref(),
        Use::Encrypt,
    )?;
    let key = unwrapped(context, &found, Use::Encrypt).await?;
    let data = oaep.seal(&key, &request.data)?;
    Ok(EncryptResponse {
        unique_identifier: found.record.id,
        data,
        iv_counter_nonce: None,
        authenticated_encryption_tag: None,
    })
}

/// Decrypt: `request.data` under the caller's RSA private key `record`.
pub(in crate::operations) async fn decrypt<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: DecryptRequest,
) -> Result<DecryptResponse, Refusal> {
    let record = &found.record;
    no_symmetric_fields(
        request.iv_counter_nonce.is_some()
            || request.authenticated_encryption_additional_data.is_some()
            || request.authenticated_encryption_tag.is_some(),
    )?;
    let oaep = admitted(
        context,
        record,
        request.cryptographic_parameters.as_ref(),
        Use::Decrypt,
    )?;
    let key = unwrapped(context, &found, Use::Decrypt).await?;
    let data = oaep.open(&key, &request.data)?;
    Ok(DecryptResponse {
        unique_identifier: found.record.id,
        data,
    })
}

/// The OAEP `record`'s key is put `to` use with, if it may be now: the right half of the pair
/// (Encrypt the public key, Decrypt the private), its parameters, state and usage mask.
fn admitted<V>(
    context: &Context<'_, V>,
    record: &Record,
    requested: Option<&CryptographicParameters>,
    to: Use,
) -> Result<Oaep, Refusal> {
    let (half, which) = match to {
        Use::Encrypt => (ObjectType::PublicKey, "public"),
        _ => (ObjectType::PrivateKey, "private"),
    };
    if record.metadata.object_type != half {
        return Err(Refusal::new(
            ResultReason::InvalidObjectType,
            format!(
                "{} with a key pair takes its {which} key; this object is a {:?}",
                to.operation(),
                record.metadata.object_type
            ),
        ));
    }
    let oaep = Oaep::of(requested, record)?;
    admit(context, record, to)?;
    Ok(oaep)
}

/// RSA-OAEP takes no IV, additional data or tag.
fn no_symmetric_fields(present: bool) -> Result<(), Refusal> {
    if present {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            "RSA-OAEP takes no IV/Counter/Nonce, Authenticated Encryption Additional Data or Tag",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
    use aws_lc_rs::rsa::KeySize;

    use super::*;

    #[test]
    fn seals_and_opens_with_every_hash_and_bounds_the_message() {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let pkcs8: Pkcs8V1Der<'_> = private.as_der().unwrap();
        let spki: PublicKeyX509Der<'_> = private.public_key().as_der().unwrap();
        for (hash, len) in [
            (HashingAlgorithm::Sha1, 20),
            (HashingAlgorithm::Sha256, 32),
            (HashingAlgorithm::Sha384, 48),
            (HashingAlgorithm::Sha512, 64),
        ] {
            let oaep = Oaep(hash);
            let max = 256 - 2 * len - 2;
            let data = vec![0x5a; max];
            let sealed = oaep.seal(spki.as_ref(), &data).unwrap();
            assert_eq!(sealed.len(), 256);
            assert_eq!(
                &*oaep.open(pkcs8.as_ref(), &sealed).unwrap(),
                data.as_slice()
            );
            let refusal = oaep.seal(spki.as_ref(), &[0; 1 + 256]).unwrap_err();
            assert_eq!(refusal.reason, ResultReason::InvalidField);
            assert!(oaep.seal(spki.as_ref(), &vec![0; max + 1]).is_err());
            let mut altered = sealed.clone();
            altered[10] ^= 1;
            let refusal = oaep.open(pkcs8.as_ref(), &altered).unwrap_err();
            assert_eq!(refusal.reason, ResultReason::CryptographicFailure);
        }
        let sealed = Oaep(HashingAlgorithm::Sha256)
            .seal(spki.as_ref(), b"k")
            .unwrap();
        let refusal = Oaep(HashingAlgorithm::Sha1)
            .open(pkcs8.as_ref(), &sealed)
            .unwrap_err();
        assert_eq!(refusal.reason, ResultReason::CryptographicFailure);
    }
}
