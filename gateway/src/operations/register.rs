//! Register of a Public Key, Private Key or X.509 Certificate: an object the client brings,
//! wrapped by the core and kept by the gateway like the keys it makes, so Get, the lifecycle
//! operations, Locate (and, for keys, Sign and Signature Verify) treat both alike.
//! Certificates are checked and described by [`super::certificate`]; keys as follows.
//!
//! The material is parsed by aws-lc-rs and normalised to the stored forms (PKCS#8 for a
//! private key, `SubjectPublicKeyInfo` for a public key; [`super::asymmetric`]); the key's
//! algorithm and length come from the key itself, and an algorithm or length the request
//! states (in the Key Block or as attributes) must be the key's. The usage mask is the one
//! asked for or Create Key Pair's default, and the key starts Pre-Active (Active once an
//! Activation Date it was given has come), like every registered object. Wrapped material and
//! the Transparent structures never get here: the codec refuses them with the reason KMIP
//! gives ([`kmip::Error::NotSupported`]).
//!
//! Other object types are registered in the core's registry: the router forwards them.

use kmip::{
    Attribute, KeyBlock, KeyMaterial, ManagedObject, ObjectType, RegisterRequest, RegisterResponse,
    ResultReason, SecretBytes,
};

use super::asymmetric::{KeyKind, MAX_REGISTERED_KEY_LEN};
use super::certificate;
use super::create::{Requested, new_identifier, store, wrapped_record};
use super::key_pair::key_metadata;
use crate::metadata::Metadata;
use crate::operations::Context;
use crate::refusal::Refusal;
use crate::vault::Vault;

/// Whether the gateway registers objects of `object_type` itself.
pub(crate) fn registers_here(object_type: ObjectType) -> bool {
    matches!(
        object_type,
        ObjectType::PublicKey | ObjectType::PrivateKey | ObjectType::Certificate
    )
}

pub(super) async fn register<V: Vault>(
    context: &Context<'_, V>,
    request: RegisterRequest,
) -> Result<RegisterResponse, Refusal> {
    let object_type = request.object_type();
    let attributes = &request.attributes;
    let (material, metadata) = match &request.object {
        ManagedObject::PublicKey(key) => {
            read_key(context, &key.key_block, object_type, attributes)?
        }
        ManagedObject::PrivateKey(key) => {
            read_key(context, &key.key_block, object_type, attributes)?
        }
        ManagedObject::Certificate(object) => certificate::read(context, object, attributes)?,
        _ => {
            return Err(Refusal::new(
                ResultReason::InvalidObjectType,
                "the gateway registers public keys, private keys and X.509 certificates",
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

/// The stored form and metadata of a public or private key (`object_type`) registered as
/// `block` with `attributes`.
fn read_key<V>(
    context: &Context<'_, V>,
    block: &KeyBlock,
    object_type: ObjectType,
    attributes: &[Attribute],
) -> Result<(SecretBytes, Metadata), Refusal> {
    if block.key_compression_type.is_some() {
        return Err(Refusal::new(
            ResultReason::KeyCompressionTypeNotSupported,
            "key material is registered uncompressed",
        ));
    }
    let KeyMaterial::Bytes(der) = &block.key_material else {
        return Err(Refusal::new(
            ResultReason::KeyFormatTypeNotSupported,
            "a public or private key is not a Transparent Symmetric Key",
        ));
    };
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
    let (kind, stored) = if object_type == ObjectType::PrivateKey {
        KeyKind::parse_private(block.key_format_type, der)?
    } else {
        KeyKind::parse_public(block.key_format_type, der)?
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
