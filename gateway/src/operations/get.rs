//! Get: the caller's key, unwrapped by the core.
//!
//! The local state decides first (see [`crate::lifecycle`]): a compromised or destroyed key is
//! refused without asking the core. Otherwise the core unwraps the blob under the L3 that
//! wrapped it, bound to the record's owner and identifier: a record moved or copied from
//! another owner or key does not unwrap, and is refused as such. A symmetric key goes back to
//! the client as Raw or Transparent Symmetric Key bytes, a public or private key in its stored
//! DER format or another one it converts to, Transparent structures among them
//! ([`super::asymmetric`]), a certificate as it was registered; the format is decided before
//! anything is unwrapped. Every copy of a key is wiped when the response has been written (a
//! certificate, not secret, is not).
//!
//! With a Key Wrapping Specification, the key's material in the format asked for (bare, or
//! TTLV-encoded as its Key Value) is returned wrapped under another of the caller's keys, with
//! the Key Wrapping Data that says how ([`super::crypto::Wrapper`]); the wrapping key is
//! admitted before anything is unwrapped.
//!
//! A blob of the older format, bound to the identifier only, is re-wrapped in the current one
//! once it has unwrapped, and the record replaced if no one changed it meanwhile (a lost race
//! leaves it for the next Get).

use kmip::{
    GetRequest, GetResponse, KeyBlock, KeyFormatType, KeyMaterial, KeyWrappingData,
    KeyWrappingSpecification, ManagedObject, ObjectType, PrivateKey, PublicKey, ResultReason,
    SecretBytes, SymmetricKey,
};

use super::asymmetric::KeyKind;
use super::crypto::{Wrapper, bare_structure};

use crate::core_link::CoreError;
use crate::error::ErrorChain;
use crate::lifecycle;
use crate::operations::{Context, core_failure};
use crate::refusal::Refusal;
use crate::vault::{Found, Record, Vault, VaultError, WrappedKey};

pub(super) async fn get<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: &GetRequest,
) -> Result<GetResponse, Refusal> {
    let record = &found.record;
    let format = key_format(record, request)?;
    lifecycle::check_get(&record.metadata, context.now)?;
    let Some(wrapped) = &record.wrapped else {
        return Err(Refusal::wrong_state("Get", record.metadata.state));
    };
    let wrapper = match &request.key_wrapping_specification {
        Some(spec) => Some(wrapper(context, format, spec).await?),
        None => None,
    };
    let key = unwrap_key(context, &found, wrapped).await?;
    if wrapped.binds_id_only() {
        rewrap(context, record, &key).await;
    }
    let (format, material) = match format {
        Format::Certificate => {
            return Ok(GetResponse {
                unique_identifier: record.id.clone(),
                object: ManagedObject::Certificate(super::certificate::object(&key)),
            });
        }
        Format::Symmetric(KeyFormatType::TransparentSymmetricKey) => (
            KeyFormatType::TransparentSymmetricKey,
            KeyMaterial::TransparentSymmetricKey(key),
        ),
        Format::Symmetric(format) => (format, KeyMaterial::Bytes(key)),
        Format::Asymmetric(kind, format) => (
            format,
            kind.encode(record.metadata.object_type, format, key)?,
        ),
    };
    let (material, wrapping) = match wrapper {
        Some(wrapper) => {
            let (sealed, data) = wrapper.wrap(context, &material).await?;
            (KeyMaterial::Bytes(sealed), Some(data))
        }
        None => (material, None),
    };
    let object = key_object(record, format, material, wrapping);
    Ok(GetResponse {
        unique_identifier: found.record.id,
        object,
    })
}

/// The wrapping key a Get's `spec` names, admitted, for a key returned in `format`: a
/// certificate is not wrapped, and a Transparent structure only TTLV-encoded.
async fn wrapper<V: Vault>(
    context: &Context<'_, V>,
    format: Format,
    spec: &KeyWrappingSpecification,
) -> Result<Wrapper, Refusal> {
    let format = match format {
        Format::Certificate => {
            return Err(Refusal::new(
                ResultReason::InvalidObjectType,
                "a certificate is not secret and is not returned wrapped: keys are",
            ));
        }
        Format::Symmetric(format) | Format::Asymmetric(_, format) => format,
    };
    let wrapper = Wrapper::for_get(context, spec).await?;
    if format.is_transparent() && wrapper.wraps_bare_material() {
        return Err(bare_structure());
    }
    Ok(wrapper)
}

/// The key object of `record`, its material `key_material` in `format` — wrapped, if
/// `key_wrapping_data` says how.
fn key_object(
    record: &Record,
    format: KeyFormatType,
    key_material: KeyMaterial,
    key_wrapping_data: Option<KeyWrappingData>,
) -> ManagedObject {
    let metadata = &record.metadata;
    let key_block = KeyBlock {
        key_format_type: format,
        key_compression_type: None,
        key_material,
        cryptographic_algorithm: metadata.algorithm,
        cryptographic_length: metadata.length,
        key_wrapping_data,
    };
    match metadata.object_type {
        ObjectType::PrivateKey => ManagedObject::PrivateKey(PrivateKey { key_block }),
        ObjectType::PublicKey => ManagedObject::PublicKey(PublicKey { key_block }),
        _ => ManagedObject::SymmetricKey(SymmetricKey { key_block }),
    }
}

/// The key of the found record (whose blob is `wrapped`), unwrapped by the core, checked to
/// have the record's length: for a Get, or for the gateway's own use of it (Encrypt, Decrypt).
pub(super) async fn unwrap_key<V: Vault>(
    context: &Context<'_, V>,
    found: &Found,
    wrapped: &WrappedKey,
) -> Result<SecretBytes, Refusal> {
    super::lifecycle::refuse_if_shredding(found)?;
    let record = &found.record;
    let key = context
        .core
        .unwrap(&record.l3, &record.owner, &record.id, wrapped)
        .await
        .map_err(|error| unwrap_failure(record, error))?;
    // A symmetric key is its length's bytes. The DER of a public or private key has no fixed
    // length; it is parsed where it is used, and the core authenticated it as this record's.
    let expected = record
        .metadata
        .length
        .and_then(|bits| usize::try_from(bits / 8).ok())
        .unwrap_or(0);
    if record.metadata.object_type == ObjectType::SymmetricKey && key.len() != expected {
        tracing::error!(
            key = %record.id,
            expected,
            got = key.len(),
            "krypton-core unwrapped a key of the wrong length"
        );
        return Err(Refusal::new(
            ResultReason::CryptographicFailure,
            "the unwrapped key does not have the key's length",
        ));
    }
    Ok(key)
}

/// The refusal for an unwrap that failed: a blob the core finds unauthentic is one whose record
/// was altered, moved or copied, which is said as such (and logged as the alarm it is).
fn unwrap_failure(record: &Record, error: CoreError) -> Refusal {
    match error {
        CoreError::Refused {
            reason: ResultReason::CryptographicFailure,
            message,
        } => {
            tracing::error!(
                owner = %record.owner,
                key = %record.id,
                core = %message,
                "a stored key does not unwrap in its place: its vault record was altered, moved or copied"
            );
            Refusal::new(
                ResultReason::CryptographicFailure,
                "the stored key does not unwrap for this owner and identifier: its vault record \
                 was altered, moved or copied from another key, and it is not served",
            )
        }
        error => core_failure("unwrap the key", error),
    }
}

/// Has `key`, just unwrapped from `record`'s blob of the older format, wrapped again in the
/// current one, bound to owner and identifier, and replaces the record's blob if the record is
/// unchanged. Nothing here fails the Get: a failure leaves the old blob, which still unwraps.
async fn rewrap<V: Vault>(context: &Context<'_, V>, record: &Record, key: &SecretBytes) {
    let wrapped = match context
        .core
        .wrap(&record.l3, &record.owner, &record.id, key)
        .await
    {
        Ok(wrapped) => wrapped,
        Err(error) => {
            tracing::warn!(key = %record.id, error = %ErrorChain(&error), "could not re-wrap a key of the older blob format; the next Get tries again");
            return;
        }
    };
    let updated = Record {
        wrapped: Some(wrapped),
        ..record.clone()
    };
    match context.vault.update(updated).await {
        Ok(()) => {
            tracing::info!(owner = %record.owner, key = %record.id, "key re-wrapped, bound to its owner and identifier")
        }
        Err(VaultError::Conflict | VaultError::NotFound) => {
            tracing::debug!(key = %record.id, "the key changed while it was re-wrapped; the next Get tries again");
        }
        Err(error) => {
            tracing::warn!(key = %record.id, error = %ErrorChain(&error), "could not store a re-wrapped key; the next Get tries again");
        }
    }
}

/// The form a Get answers in.
#[derive(Clone, Copy, Debug)]
enum Format {
    Symmetric(KeyFormatType),
    Asymmetric(KeyKind, KeyFormatType),
    /// A certificate's own encoding (DER for X.509): it has no Key Format Type.
    Certificate,
}

/// The key format asked for, decided before the key is unwrapped: for a symmetric key Raw
/// unless the client names Transparent Symmetric Key; for a public or private key its stored
/// format unless the client names another one it can be converted to
/// ([`KeyKind::format`]).
fn key_format(record: &Record, request: &GetRequest) -> Result<Format, Refusal> {
    if request.key_compression_type.is_some() {
        return Err(Refusal::new(
            ResultReason::KeyCompressionTypeNotSupported,
            "keys are not compressed",
        ));
    }
    let metadata = &record.metadata;
    if metadata.object_type == ObjectType::Certificate {
        return match request.key_format_type {
            None => Ok(Format::Certificate),
            Some(other) => Err(Refusal::new(
                ResultReason::KeyFormatTypeNotSupported,
                format!("a certificate is returned as it was registered, not as {other:?}"),
            )),
        };
    }
    if matches!(
        metadata.object_type,
        ObjectType::PublicKey | ObjectType::PrivateKey
    ) {
        let kind = KeyKind::of_record(metadata).ok_or_else(|| {
            Refusal::new(
                ResultReason::GeneralFailure,
                "the stored key names no kind of key pair the gateway makes",
            )
        })?;
        return kind
            .format(metadata.object_type, request.key_format_type)
            .map(|format| Format::Asymmetric(kind, format));
    }
    match request.key_format_type {
        None | Some(KeyFormatType::Raw) => Ok(Format::Symmetric(KeyFormatType::Raw)),
        Some(KeyFormatType::TransparentSymmetricKey) => {
            Ok(Format::Symmetric(KeyFormatType::TransparentSymmetricKey))
        }
        Some(other) => Err(Refusal::new(
            ResultReason::KeyFormatTypeNotSupported,
            format!("symmetric keys are returned Raw or Transparent Symmetric Key, not {other:?}"),
        )),
    }
}
