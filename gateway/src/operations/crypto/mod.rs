//! The caller's keys put to use without leaving Krypton: the core unwraps the key for the one
//! operation, the gateway uses it and wipes it. This is what clients that must not hold keys
//! ask for — MongoDB's "delegated" KMIP mode, database TDE products wrapping their own keys,
//! services that sign tokens with an HMAC key they never see.
//!
//! - [`cipher`]: Encrypt and Decrypt with AES keys;
//! - [`oaep`]: Encrypt and Decrypt with RSA key pairs (RSA-OAEP);
//! - [`key_wrap`]: keys returned wrapped by Get, and wrapped keys unwrapped for Register,
//!   under the caller's AES keys (key wrap) or RSA key pairs (RSA-OAEP);
//! - [`signature`]: Sign and Signature Verify with the private and public keys of key pairs;
//! - [`mac`](mod@mac): MAC and MAC Verify with HMAC keys;
//! - [`kdf`]: the key derivation functions of Derive Key ([`super::derive`]).
//!
//! **Who may** ([`admit`]): an operation that protects data (Encrypt, Sign, MAC) or makes a
//! key from the key (Derive Key) needs an Active key; one that processes what a key protected
//! (Decrypt, Signature Verify, MAC Verify) an Active or Deactivated key, as KMIP lets a
//! deactivated key check what it made. The key's Cryptographic Usage Mask must name the
//! operation: a key created without a mask does nothing here, since nothing is allowed that the
//! key's creator did not ask for. Everything is decided before the core is asked to unwrap
//! anything.

mod cipher;
mod kdf;
mod key_wrap;
mod mac;
mod oaep;
mod signature;

pub(super) use kdf::Derivation;
pub(super) use key_wrap::{Wrapper, bare_structure, unwrap_registered};
pub(super) use mac::{mac, mac_verify};
pub(super) use signature::{sign, signature_verify};

use kmip::objects::lifecycle;
use kmip::{
    Attribute, CryptographicParameters, CryptographicUsageMask, DecryptRequest, DecryptResponse,
    EncryptRequest, EncryptResponse, ObjectType, ResultReason, SecretBytes, ValidityIndicator,
};

use crate::operations::Context;
use crate::refusal::Refusal;
use crate::vault::{Found, Record, Vault};

/// What an operation does with the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Use {
    Encrypt,
    Decrypt,
    Sign,
    SignatureVerify,
    Mac,
    MacVerify,
    /// Wrapping another key for a Get.
    WrapKey,
    /// Unwrapping key material for a Register.
    UnwrapKey,
    DeriveKey,
}

impl Use {
    const fn operation(self) -> &'static str {
        match self {
            Self::Encrypt => "Encrypt",
            Self::Decrypt => "Decrypt",
            Self::Sign => "Sign",
            Self::SignatureVerify => "Signature Verify",
            Self::Mac => "MAC",
            Self::MacVerify => "MAC Verify",
            Self::WrapKey => "Wrap Key",
            Self::UnwrapKey => "Unwrap Key",
            Self::DeriveKey => "Derive Key",
        }
    }

    const fn usage(self) -> CryptographicUsageMask {
        match self {
            Self::Encrypt => CryptographicUsageMask::ENCRYPT,
            Self::Decrypt => CryptographicUsageMask::DECRYPT,
            Self::Sign => CryptographicUsageMask::SIGN,
            Self::SignatureVerify => CryptographicUsageMask::VERIFY,
            Self::Mac => CryptographicUsageMask::MAC_GENERATE,
            Self::MacVerify => CryptographicUsageMask::MAC_VERIFY,
            Self::WrapKey => CryptographicUsageMask::WRAP_KEY,
            Self::UnwrapKey => CryptographicUsageMask::UNWRAP_KEY,
            Self::DeriveKey => CryptographicUsageMask::DERIVE_KEY,
        }
    }

    /// Whether it protects data or makes a key (only an Active key may), rather than processing
    /// data the key protected.
    const fn protects(self) -> bool {
        matches!(
            self,
            Self::Encrypt | Self::Sign | Self::Mac | Self::WrapKey | Self::DeriveKey
        )
    }
}

/// Encrypt: with an RSA public key ([`oaep`]) or a symmetric key ([`cipher`]).
pub(in crate::operations) async fn encrypt<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: EncryptRequest,
) -> Result<EncryptResponse, Refusal> {
    if is_key_pair_half(&found.record) {
        oaep::encrypt(context, found, request).await
    } else {
        cipher::encrypt(context, found, request).await
    }
}

/// Decrypt: with an RSA private key ([`oaep`]) or a symmetric key ([`cipher`]).
pub(in crate::operations) async fn decrypt<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: DecryptRequest,
) -> Result<DecryptResponse, Refusal> {
    if is_key_pair_half(&found.record) {
        oaep::decrypt(context, found, request).await
    } else {
        cipher::decrypt(context, found, request).await
    }
}

fn is_key_pair_half(record: &Record) -> bool {
    matches!(
        record.metadata.object_type,
        ObjectType::PublicKey | ObjectType::PrivateKey
    )
}

/// Whether `record`'s key may be put to `to` now: its state and its usage mask.
pub(super) fn admit<V>(context: &Context<'_, V>, record: &Record, to: Use) -> Result<(), Refusal> {
    let metadata = &record.metadata;
    if to.protects() {
        lifecycle::check_protect(metadata, context.now, to.operation())?;
    } else {
        lifecycle::check_process(metadata, context.now, to.operation())?;
    }
    match metadata.usage_mask {
        Some(mask) if mask.contains(to.usage()) => Ok(()),
        _ => Err(Refusal::new(
            ResultReason::IncompatibleCryptographicUsageMask,
            format!(
                "the key's Cryptographic Usage Mask does not allow {}",
                to.operation()
            ),
        )),
    }
}

/// The parameters an operation runs with: the request's, else the key's Cryptographic
/// Parameters attribute (set by the client).
fn parameters<'a>(
    requested: Option<&'a CryptographicParameters>,
    record: &'a Record,
) -> Option<&'a CryptographicParameters> {
    requested.or_else(|| {
        record
            .metadata
            .client_attributes
            .iter()
            .find_map(|attribute| match attribute {
                Attribute::CryptographicParameters(parameters) => Some(parameters),
                _ => None,
            })
    })
}

/// The found record's key, unwrapped by the core for this one operation.
pub(super) async fn unwrapped<V: Vault>(
    context: &Context<'_, V>,
    found: &Found,
    to: Use,
) -> Result<SecretBytes, Refusal> {
    let record = &found.record;
    let Some(wrapped) = &record.wrapped else {
        return Err(Refusal::wrong_state(to.operation(), record.metadata.state));
    };
    super::get::unwrap_key(context, found, wrapped).await
}

fn unsupported(message: String) -> Refusal {
    Refusal::new(ResultReason::UnsupportedCryptographicParameters, message)
}

/// A verification's answer: MAC Verify and Signature Verify.
fn validity(valid: bool) -> ValidityIndicator {
    if valid {
        ValidityIndicator::Valid
    } else {
        ValidityIndicator::Invalid
    }
}

fn crypto_failure() -> Refusal {
    Refusal::new(
        ResultReason::CryptographicFailure,
        "the cryptographic operation failed",
    )
}
