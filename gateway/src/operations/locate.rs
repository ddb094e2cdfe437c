//! Locate, scoped to the caller: its keys in the gateway's vault, then its objects in the core.
//!
//! An application's objects live in two places — the L4 keys it created through the gateway, and
//! whatever it registered, which the core keeps — so a Locate searches both and answers with one
//! list: the gateway's matches first, in identifier order, then the core's. The core is asked
//! on the caller's behalf (delegated identity), so it too returns only the caller's objects.
//! Offset and Maximum Items apply to the merged list, and Located Items counts both sides (the
//! gateway's side up to `keys.max_locate_items`).
//!
//! When the core is unreachable the Locate fails rather than answer with half the objects: a
//! client told "not found" may create a duplicate or conclude a key was deleted.

use kmip::{LocateRequest, LocateResponse, RequestBatchItem, ResponsePayload, ResultReason};

use crate::core_link::CoreError;
use crate::forward::forward_item;
use crate::operations::{Context, core_failure, vault_failure};
use crate::refusal::Refusal;
use crate::vault::{Filter, Vault};

pub(super) async fn locate<V: Vault>(
    context: &Context<'_, V>,
    request: LocateRequest,
) -> Result<LocateResponse, Refusal> {
    let offset = count("Offset Items", request.offset_items)?.unwrap_or(0);
    let maximum = count("Maximum Items", request.maximum_items)?;
    let filter = Filter::new(
        request.attributes.clone(),
        request.storage_status_mask,
        context.now,
    );
    let local = context
        .vault
        .locate(context.owner(), &filter, context.keys.max_locate_items)
        .await
        .map_err(|error| vault_failure(&error))?;
    let wanted = maximum.map(|maximum| offset.saturating_add(maximum));
    let remote = search_core(context, request, wanted)
        .await
        .map_err(|error| core_failure("search krypton-core's objects", error))?;
    let remote_located = remote
        .located_items
        .and_then(|located| usize::try_from(located).ok())
        .unwrap_or(remote.unique_identifiers.len());
    let located = local.len().saturating_add(remote_located);
    let unique_identifiers = local
        .into_iter()
        .chain(remote.unique_identifiers)
        .skip(offset)
        .take(maximum.unwrap_or(usize::MAX))
        .collect();
    Ok(LocateResponse {
        located_items: Some(i32::try_from(located).unwrap_or(i32::MAX)),
        unique_identifiers,
    })
}

/// The caller's matching objects in the core: the first `wanted` (all when `None`), counted
/// from the first match.
async fn search_core<V>(
    context: &Context<'_, V>,
    mut request: LocateRequest,
    wanted: Option<usize>,
) -> Result<LocateResponse, CoreError> {
    request.offset_items = None;
    request.maximum_items = wanted.map(|wanted| i32::try_from(wanted).unwrap_or(i32::MAX));
    let payload = forward_item(
        context.core,
        context.header,
        RequestBatchItem::new(request),
        context.principal,
    )
    .await?;
    match payload {
        ResponsePayload::Locate(response) => Ok(response),
        _ => Err(CoreError::Contract(
            "Locate answered without a Locate payload",
        )),
    }
}

/// A count the client gave, which must not be negative.
fn count(field: &'static str, value: Option<i32>) -> Result<Option<usize>, Refusal> {
    value
        .map(|value| {
            usize::try_from(value).map_err(|_| {
                Refusal::new(ResultReason::InvalidField, format!("{field} is negative"))
            })
        })
        .transpose()
}
