//! Activate, Revoke and Destroy on the caller's keys: local vault updates that work while the
//! core is unreachable. The transitions themselves are [`crate::lifecycle`]'s.
//!
//! Destroy is crypto-shredding: it drops the wrapped key from the record and keeps the
//! metadata, as KMIP requires, and in the same vault write queues a notice that has the core
//! refuse every other copy of the blob (a backup, a disk image); see [`crate::shredding`]. The
//! notice is delivered at once when the core is reachable, later otherwise, and until the core
//! has it the gateway refuses the key itself ([`refuse_if_shredding`]).

use kmip::{ActivateResponse, DestroyResponse, ResultReason, RevokeRequest, RevokeResponse};

use crate::error::ErrorChain;
use crate::lifecycle;
use crate::operations::{Context, shred, update};
use crate::refusal::Refusal;
use crate::shredding;
use crate::vault::{Found, Record, ShredNotice, Vault};

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
    let notice = ShredNotice::of(&record);
    shred(context, record, |record| {
        lifecycle::destroy(&mut record.metadata, context.now)?;
        record.wrapped = None;
        Ok(())
    })
    .await?;
    tracing::info!(owner = context.owner(), key = %notice.id, "L4 key destroyed");
    if let Err(error) = shredding::deliver(context.vault, context.core, &notice).await {
        tracing::warn!(
            owner = context.owner(),
            key = %notice.id,
            error = %ErrorChain(&error),
            "krypton-core not yet told of the destroyed key; it stays queued"
        );
    }
    Ok(DestroyResponse {
        unique_identifier: notice.id,
    })
}

/// Refuses a key destroyed here that the core has not yet acknowledged: a copy of its record
/// with the wrapped blob (restored from a backup, say) must not unwrap meanwhile.
pub(super) fn refuse_if_shredding(found: &Found) -> Result<(), Refusal> {
    let record = &found.record;
    if found.shred_pending {
        tracing::warn!(
            owner = %record.owner,
            key = %record.id,
            "a destroyed key's record holds a wrapped blob again; refused"
        );
        return Err(Refusal::new(
            ResultReason::ObjectDestroyed,
            format!(
                "key {} was destroyed (krypton-core will be told as soon as it is reachable)",
                record.id
            ),
        ));
    }
    Ok(())
}
