//! Register of a Symmetric Key, Public Key, Private Key or X.509 Certificate: an object the
//! client brings, wrapped by the core and kept by the gateway like the keys it makes, so Get,
//! the lifecycle operations, Locate and the cryptographic operations (Encrypt, Decrypt, MAC,
//! Derive Key for symmetric keys; Sign and Signature Verify for key pairs) treat both alike.
//! Certificates are checked and described by [`super::certificate`]; keys as follows.
//!
//! A symmetric key is Raw or a Transparent Symmetric Key, its algorithm named (in the Key Block
//! or as an attribute), its length the key's, of an algorithm and length the gateway makes
//! ([`key_bytes`]: a weaker one, such as single DES, is refused as Create refuses it).
//!
//! A public or private key's material is parsed by aws-lc-rs and normalised to the stored forms (PKCS#8 for a
//! private key, `SubjectPublicKeyInfo` for a public key; [`super::asymmetric`]); the key's
//! algorithm and length come from the key itself, and an algorithm or length the request
//! states (in the Key Block or as attributes) must be the key's. The usage mask is the one
//! asked for or Create Key Pair's default, and the key starts Pre-Active (Active once an
//! Activation Date it was given has come), like every registered object. A key given as a
//! Transparent RSA or EC structure is first made into DER by aws-lc-rs
//! ([`super::transparent`]) and then taken as the DER would be; the Transparent DSA and DH
//! structures never get here: the codec refuses them with the reason KMIP gives
//! ([`kmip::Error::NotSupported`]).
//!
//! **Wrapped key material** (a Key Block with Key Wrapping Data): a symmetric or private key
//! wrapped under one of the caller's keys here is unwrapped first
//! ([`super::crypto::unwrap_registered`]) — the bare material with the Encoding Option *No
//! Encoding*, else a TTLV-encoded Key Value, decoded in the Key Block's format — then
//! registered as the plain key would be; a wrap that does not check out is a Cryptographic
//! Failure, and nothing is stored.
//!
//! Other object types (Secret Data, Opaque Objects) are registered in the core's registry: the
//! router forwards them.

use kmip::{
    Attribute, EncodingOption, KeyBlock, KeyFormatType, KeyMaterial, ManagedObject, ObjectType,
    RegisterRequest, RegisterResponse, ResultReason, SecretBytes,
};

use super::asymmetric::{KeyKind, MAX_REGISTERED_KEY_LEN};
use super::certificate;
use super::create::{Requested, key_bytes, new_identifier, store, wrapped_record};
use super::crypto::unwrap_registered;
use super::key_pair::key_metadata;
use super::transparent;
use crate::attribute_policy::admit;
use crate::metadata::Metadata;
use crate::operations::Context;
use crate::refusal::Refusal;
use crate::vault::Vault;

/// Whether the gateway registers the object of `request` itself: keys and certificates.
pub(crate) fn registers_here(request: &RegisterRequest) -> bool {
    matches!(
        &request.object,
        ManagedObject::SymmetricKey(_)
            | ManagedObject::PublicKey(_)
            | ManagedObject::PrivateKey(_)
            | ManagedObject::Certificate(_)
    )
}

pub(super) async fn register<V: Vault>(
    context: &Context<'_, V>,
    request: RegisterRequest,
) -> Result<RegisterResponse, Refusal> {
    let object_type = request.object_type();
    let attributes = &request.attributes;
    let (material, metadata) = match &request.object {
        ManagedObject::SymmetricKey(key) => {
            read_symmetric(context, &key.key_block, attributes).await?
        }
        ManagedObject::PublicKey(key) => {
            read_key(context, &key.key_block, object_type, attributes)?
        }
        ManagedObject::PrivateKey(key) => {
            let block = unwrapped_block(context, &key.key_block).await?;
            read_key(context, &block, object_type, attributes)?
        }
        ManagedObject::Certificate(object) => certificate::read(context, object, attributes)?,
        _ => {
            return Err(Refusal::new(
                ResultReason::InvalidObjectType,
                "the gateway registers symmetric, public and private keys and X.509 certificates",
            ));
        }
    };
    let id = new_identifier()?;
    let record = wrapped_record(context, id.clone(), &material, metadata).await?;
    drop(material);
    store(context, record).await?;
    tracing::info!(owner = context.owner(), object = %id, ?object_type, "object registered");
    Ok(RegisterResponse {
        unique_identifier: id,
        attributes: Vec::new(),
    })
}

/// The largest wrapped key material taken, checked before it is unwrapped: the largest key
/// registered, with the TTLV headers of its Key Value (a Transparent RSA-4096 private key's
/// are fewer than 128 bytes) and what a key wrap adds (RSA-OAEP's ciphertext, at most 512
/// bytes, is less).
const MAX_WRAPPED_KEY_LEN: usize = MAX_REGISTERED_KEY_LEN + 128 + 16;

/// `block` with its material unwrapped if it is wrapped (under the caller's key its Key
/// Wrapping Data names), else as it is.
async fn unwrapped_block<V: Vault>(
    context: &Context<'_, V>,
    block: &KeyBlock,
) -> Result<KeyBlock, Refusal> {
    let Some(data) = &block.key_wrapping_data else {
        return Ok(block.clone());
    };
    uncompressed(block)?;
    // The codec reads wrapped material as a byte string only.
    let Some(wrapped) = block.key_material.key() else {
        return Err(Refusal::new(
            ResultReason::KeyFormatTypeNotSupported,
            "wrapped key material is a byte string",
        ));
    };
    if wrapped.len() > MAX_WRAPPED_KEY_LEN {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            format!(
                "the wrapped key material is {} bytes; it is at most {MAX_WRAPPED_KEY_LEN}",
                wrapped.len()
            ),
        ));
    }
    let key = unwrap_registered(context, data, wrapped).await?;
    let key_material = if data.encoding_option == Some(EncodingOption::NoEncoding) {
        KeyMaterial::Bytes(key)
    } else {
        KeyMaterial::from_key_value_ttlv(&key, block.key_format_type).map_err(|error| {
            Refusal::new(
                error.result_reason(),
                format!(
                    "the unwrapped material is not the TTLV encoding of a Key Value of {:?} \
                     (the Encoding Option named none, or TTLV Encoding): {error}",
                    block.key_format_type
                ),
            )
        })?
    };
    Ok(KeyBlock {
        key_material,
        key_wrapping_data: None,
        ..block.clone()
    })
}

/// The key and metadata of a symmetric key registered as `block` (wrapped or not) with
/// `attributes` (the module's rules).
async fn read_symmetric<V: Vault>(
    context: &Context<'_, V>,
    block: &KeyBlock,
    attributes: &[Attribute],
) -> Result<(SecretBytes, Metadata), Refusal> {
    uncompressed(block)?;
    let format = block.key_format_type;
    if !matches!(
        format,
        KeyFormatType::Raw | KeyFormatType::TransparentSymmetricKey
    ) {
        return Err(Refusal::new(
            ResultReason::KeyFormatTypeNotSupported,
            format!(
                "a symmetric key is registered Raw or as a Transparent Symmetric Key, not \
                 {format:?}"
            ),
        ));
    }
    let mut requested = Requested::read(attributes, Some(ObjectType::SymmetricKey))?;
    let algorithm = match (block.cryptographic_algorithm, requested.algorithm) {
        (Some(given), Some(other)) if given != other => {
            return Err(mismatch(format!(
                "the Key Block's Cryptographic Algorithm {given:?} is not the attribute's {other:?}"
            )));
        }
        (Some(algorithm), _) | (None, Some(algorithm)) => algorithm,
        (None, None) => {
            return Err(Refusal::new(
                ResultReason::MissingData,
                "a symmetric key's key block names its Cryptographic Algorithm",
            ));
        }
    };
    admit(&requested.client_attributes, context.keys)?;
    let KeyBlock { key_material, .. } = unwrapped_block(context, block).await?;
    let key = key_material.key().cloned().ok_or_else(|| {
        Refusal::new(
            ResultReason::KeyFormatTypeNotSupported,
            "a symmetric key is registered Raw or as a Transparent Symmetric Key",
        )
    })?;
    let bits = i32::try_from(key.len().saturating_mul(8)).unwrap_or(i32::MAX);
    let lengths = [block.cryptographic_length, requested.length];
    if let Some(stated) = lengths.into_iter().flatten().find(|l| *l != bits) {
        return Err(mismatch(format!(
            "the Cryptographic Length {stated} is not the unwrapped key's ({bits})"
        )));
    }
    key_bytes(algorithm, bits)?;
    requested.algorithm = Some(algorithm);
    requested.length = Some(bits);
    Ok((
        key,
        requested.into_metadata(ObjectType::SymmetricKey, context.now),
    ))
}

fn uncompressed(block: &KeyBlock) -> Result<(), Refusal> {
    if block.key_compression_type.is_some() {
        return Err(Refusal::new(
            ResultReason::KeyCompressionTypeNotSupported,
            "key material is registered uncompressed",
        ));
    }
    Ok(())
}

/// The stored form and metadata of a public or private key (`object_type`) registered as
/// `block` with `attributes`.
fn read_key<V>(
    context: &Context<'_, V>,
    block: &KeyBlock,
    object_type: ObjectType,
    attributes: &[Attribute],
) -> Result<(SecretBytes, Metadata), Refusal> {
    uncompressed(block)?;
    if block.key_wrapping_data.is_some() {
        return Err(Refusal::new(
            ResultReason::FeatureNotSupported,
            "a public key is not secret and is registered unwrapped",
        ));
    }
    let private = object_type == ObjectType::PrivateKey;
    let (kind, stored) = match &block.key_material {
        KeyMaterial::Bytes(der) => {
            if der.len() > MAX_REGISTERED_KEY_LEN {
                return Err(Refusal::new(
                    ResultReason::InvalidField,
                    format!(
                        "the key material is {} bytes; keys the gateway uses are at most \
                         {MAX_REGISTERED_KEY_LEN}",
                        der.len()
                    ),
                ));
            }
            if private {
                KeyKind::parse_private(block.key_format_type, der)?
            } else {
                KeyKind::parse_public(block.key_format_type, der)?
            }
        }
        KeyMaterial::TransparentSymmetricKey(_) => {
            return Err(Refusal::new(
                ResultReason::KeyFormatTypeNotSupported,
                "a public or private key is not a Transparent Symmetric Key",
            ));
        }
        numbers if private => {
            KeyKind::parse_private(KeyFormatType::Pkcs8, &transparent::private_der(numbers)?)?
        }
        numbers => KeyKind::parse_public(KeyFormatType::X509, &transparent::public_der(numbers)?)?,
    };
    let mut requested = Requested::read(attributes, Some(object_type))?;
    let algorithms = [block.cryptographic_algorithm, requested.algorithm];
    if let Some(stated) = algorithms
        .into_iter()
        .flatten()
        .find(|a| !kind.is_named_by(*a))
    {
        return Err(mismatch(format!(
            "the Cryptographic Algorithm {stated:?} is not the registered key's ({:?})",
            kind.algorithm()
        )));
    }
    let lengths = [block.cryptographic_length, requested.length];
    if let Some(stated) = lengths.into_iter().flatten().find(|l| *l != kind.bits()) {
        return Err(mismatch(format!(
            "the Cryptographic Length {stated} is not the registered key's ({})",
            kind.bits()
        )));
    }
    requested.algorithm = Some(
        requested
            .algorithm
            .or(block.cryptographic_algorithm)
            .unwrap_or(kind.algorithm()),
    );
    let metadata = key_metadata(context, requested, kind, object_type, None)?;
    Ok((stored, metadata))
}

fn mismatch(message: String) -> Refusal {
    Refusal::new(ResultReason::InvalidField, message)
}
