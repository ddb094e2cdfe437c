//! Activate, Revoke and Destroy on the caller's keys: local vault updates that work while the
//! core is unreachable. The transitions themselves are [`crate::lifecycle`]'s.
//!
//! Destroy drops the wrapped key from the record (crypto-shredding: without the blob, nothing
//! can recover the key) and keeps the metadata, as KMIP requires.

use kmip::{ActivateResponse, DestroyResponse, RevokeRequest, RevokeResponse};

use crate::lifecycle;
use crate::operations::{Context, update};
use crate::refusal::Refusal;
use crate::vault::{Record, Vault};

pub(super) async fn activate<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
) -> Result<ActivateResponse, Refusal> {
    let id = record.id.clone();
    update(context, record, |record| {
        lifecycle::activate(&mut record.metadata, context.now)
    })
    .await?;
    tracing::info!(owner = context.owner(), key = %id, "L4 key activated");
    Ok(ActivateResponse {
        unique_identifier: id,
    })
}

pub(super) async fn revoke<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
    request: RevokeRequest,
) -> Result<RevokeResponse, Refusal> {
    let id = record.id.clone();
    let state = update(context, record, |record| {
        lifecycle::revoke(
            &mut record.metadata,
            request.revocation_reason.clone(),
            request.compromise_occurrence_date,
            context.now,
        )?;
        Ok(record.metadata.state)
    })
    .await?;
    tracing::info!(
        owner = context.owner(),
        key = %id,
        reason = ?request.revocation_reason.code,
        ?state,
        "L4 key revoked"
    );
    Ok(RevokeResponse {
        unique_identifier: id,
    })
}

pub(super) async fn destroy<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
) -> Result<DestroyResponse, Refusal> {
    let id = record.id.clone();
    update(context, record, |record| {
        lifecycle::destroy(&mut record.metadata, context.now)?;
        record.wrapped = None;
        Ok(())
    })
    .await?;
    tracing::info!(owner = context.owner(), key = %id, "L4 key destroyed");
    Ok(DestroyResponse {
        unique_identifier: id,
    })
}
