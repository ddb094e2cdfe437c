//! Get: the caller's key, unwrapped by the core.
//!
//! The local state decides first (see [`crate::lifecycle`]): a compromised or destroyed key is
//! refused without asking the core. Otherwise the core unwraps the blob under the L3 that
//! wrapped it, and the key goes back to the client as Raw or Transparent Symmetric Key bytes;
//! every copy is wiped when the response has been written.

use kmip::{
    GetRequest, GetResponse, KeyBlock, KeyFormatType, KeyMaterial, ManagedObject, ResultReason,
    SymmetricKey,
};

use crate::lifecycle;
use crate::operations::{Context, core_failure};
use crate::refusal::Refusal;
use crate::vault::{Record, Vault};

pub(super) async fn get<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
    request: &GetRequest,
) -> Result<GetResponse, Refusal> {
    let format = key_format(request)?;
    lifecycle::check_get(&record.metadata, context.now)?;
    let Some(wrapped) = &record.wrapped else {
        return Err(Refusal::wrong_state("Get", record.metadata.state));
    };
    super::lifecycle::refuse_if_shredding(context, &record).await?;
    let key = context
        .core
        .unwrap(&record.l3, &record.id, wrapped)
        .await
        .map_err(|error| core_failure("unwrap the key", error))?;
    let expected = record
        .metadata
        .length
        .and_then(|bits| usize::try_from(bits / 8).ok())
        .unwrap_or(0);
    if key.len() != expected {
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
    let key_material = match format {
        KeyFormatType::TransparentSymmetricKey => KeyMaterial::TransparentSymmetricKey(key),
        _ => KeyMaterial::Bytes(key),
    };
    Ok(GetResponse {
        unique_identifier: record.id,
        object: ManagedObject::SymmetricKey(SymmetricKey {
            key_block: KeyBlock {
                key_format_type: format,
                key_compression_type: None,
                key_material,
                cryptographic_algorithm: record.metadata.algorithm,
                cryptographic_length: record.metadata.length,
            },
        }),
    })
}

/// The key format asked for: Raw unless the client names Transparent Symmetric Key.
fn key_format(request: &GetRequest) -> Result<KeyFormatType, Refusal> {
    if request.key_compression_type.is_some() {
        return Err(Refusal::new(
            ResultReason::KeyCompressionTypeNotSupported,
            "symmetric keys are not compressed",
        ));
    }
    match request.key_format_type {
        None | Some(KeyFormatType::Raw) => Ok(KeyFormatType::Raw),
        Some(KeyFormatType::TransparentSymmetricKey) => Ok(KeyFormatType::TransparentSymmetricKey),
        Some(other) => Err(Refusal::new(
            ResultReason::KeyFormatTypeNotSupported,
            format!("symmetric keys are returned Raw or Transparent Symmetric Key, not {other:?}"),
        )),
    }
}
