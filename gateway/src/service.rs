//! The gateway as a KMIP service: each request, batch item by batch item, answered here or
//! forwarded to the core.
//!
//! **Routing.** The gateway answers Create of symmetric keys, Locate, Discover Versions and
//! Query, and every operation on a key the caller owns in the vault. Everything else — other
//! operations, and identifiers the caller does not own here — goes to the core, which answers
//! for the caller's objects there and *Item Not Found* for everything else. So another
//! identity's key is never found, and whether it exists is never said.
//!
//! **Batches.** A one-item request to forward travels as it came (its Authentication replaced),
//! and the core's response is relayed as it came. A batch of several items is answered item by
//! item in order, each forwarded item sent on its own; the gateway keeps the batch's ID
//! Placeholder itself, from the object each Create or Register made, and writes it into the
//! items that rely on it, so a batch like Register + Activate works across both sides. Batch
//! Error Continuation Option *Stop* (the default) ends the batch at the first failure,
//! *Continue* runs every item, and *Undo* is refused for batches of several items: the gateway
//! cannot take back what the core did.

use kmip::net::{PeerIdentity, Service};
use kmip::{
    BatchErrorContinuationOption, DateTime, Item, ObjectType, Operation, ProtocolVersion,
    RequestBatchItem, RequestMessage, RequestPayload, ResponseBatchItem, ResponseHeader,
    ResponseMessage, ResponsePayload, ResultReason, ResultStatus, UniqueIdentifier,
    UniqueIdentifierPlaceholder,
};

use crate::config::KeyLimits;
use crate::core_link::{CoreError, CoreLink};
use crate::forward::{forward_item, forward_message};
use crate::operations::{self, Context, Local, core_failure, vault_failure};
use crate::principal::Tenancy;
use crate::refusal::Refusal;
use crate::shredding;
use crate::vault::Vault;

/// The KMIP front door: the vault of the gateway's own keys, the link to the core, and who may
/// use them.
#[derive(Debug)]
pub struct Gateway<V> {
    vault: V,
    core: CoreLink,
    tenancy: Tenancy,
    keys: KeyLimits,
}

/// Where one batch item is answered.
enum Route {
    /// Here: an operation of the gateway's, or a refusal.
    Here(Result<Local, Refusal>),
    /// By the core, on the caller's behalf.
    Core(RequestBatchItem),
}

impl<V: Vault> Gateway<V> {
    /// A gateway keeping its keys in `vault`, wrapping them through `core`, serving the
    /// identities of `tenancy`.
    pub fn new(vault: V, core: CoreLink, tenancy: Tenancy, keys: KeyLimits) -> Self {
        Self {
            vault,
            core,
            tenancy,
            keys,
        }
    }

    /// The vault the gateway keeps its keys in.
    pub fn vault(&self) -> &V {
        &self.vault
    }

    /// Delivers the queued notices of destroyed keys to the core, until the task running it is
    /// aborted (see [`crate::shredding`]).
    pub(crate) async fn run_courier(&self) {
        shredding::run_courier(&self.vault, &self.core).await;
    }

    /// The response to `request` from the application known as `identity`.
    pub async fn answer(&self, identity: &str, request: Item) -> Item {
        let now = DateTime::now();
        let message = match RequestMessage::from_item(&request) {
            Ok(message) => message,
            Err(error) => return malformed(&request, &error, now),
        };
        let Some(principal) = self.tenancy.principal(identity) else {
            tracing::warn!(identity, "request refused: identity is not in [identities]");
            let refusal = Refusal::new(
                ResultReason::PermissionDenied,
                format!("identity {identity:?} is not assigned to a tenant on this gateway"),
            );
            return refuse_all(&message, &refusal, now);
        };
        let undo = message.header.batch_error_continuation_option
            == Some(BatchErrorContinuationOption::Undo);
        if undo && message.batch_items.len() > 1 {
            let refusal = Refusal::new(
                ResultReason::FeatureNotSupported,
                "Batch Error Continuation Option Undo is not supported; use Stop or Continue",
            );
            return refuse_all(&message, &refusal, now);
        }
        let RequestMessage {
            header,
            batch_items,
        } = message;
        let context = Context {
            vault: &self.vault,
            core: &self.core,
            principal,
            header: &header,
            now,
            keys: self.keys,
        };
        match <[_; 1]>::try_from(batch_items) {
            Ok([item]) => self.answer_one(&context, item).await,
            Err(items) => self.answer_batch(&context, items).await,
        }
    }

    /// A one-item request: answered here, or forwarded whole with the core's response relayed
    /// as it came.
    async fn answer_one(&self, context: &Context<'_, V>, item: RequestBatchItem) -> Item {
        let (operation, batch_id) = (item.operation, item.unique_batch_item_id.clone());
        let answer = match self.route(context, item, None).await {
            Route::Here(local) => answer_here(context, operation, batch_id, local).await,
            Route::Core(item) => {
                let forwarded =
                    forward_message(&self.core, context.header, vec![item], context.principal);
                match forwarded.await {
                    Ok(response) => return response,
                    Err(error) => result_item(operation, batch_id, Err(forward_failure(error))),
                }
            }
        };
        respond(context, vec![answer])
    }

    /// A batch of several items, answered in order with the gateway keeping the ID Placeholder.
    async fn answer_batch(&self, context: &Context<'_, V>, items: Vec<RequestBatchItem>) -> Item {
        let stop_on_failure = context.header.batch_error_continuation_option
            != Some(BatchErrorContinuationOption::Continue);
        let mut placeholder: Option<String> = None;
        let mut answers = Vec::with_capacity(items.len());
        for item in items {
            let answer = self
                .answer_item(context, item, placeholder.as_deref())
                .await;
            if let Some(created) = answer.payload.as_ref().and_then(created_id) {
                placeholder = Some(created.to_owned());
            }
            let failed = answer.result_status != ResultStatus::Success;
            answers.push(answer);
            if failed && stop_on_failure {
                break;
            }
        }
        respond(context, answers)
    }

    /// One item of a batch, forwarded on its own if it is not the gateway's.
    async fn answer_item(
        &self,
        context: &Context<'_, V>,
        item: RequestBatchItem,
        placeholder: Option<&str>,
    ) -> ResponseBatchItem {
        let (operation, batch_id) = (item.operation, item.unique_batch_item_id.clone());
        match self.route(context, item, placeholder).await {
            Route::Here(local) => answer_here(context, operation, batch_id, local).await,
            Route::Core(item) => {
                match forward_item(&self.core, context.header, item, context.principal).await {
                    Ok(answer) => ResponseBatchItem {
                        unique_batch_item_id: batch_id,
                        ..answer
                    },
                    Err(error) => result_item(operation, batch_id, Err(forward_failure(error))),
                }
            }
        }
    }

    /// Decides where `item` is answered, reading the caller's record when the item names an
    /// object. A missing identifier is taken from `placeholder` and written into the item.
    async fn route(
        &self,
        context: &Context<'_, V>,
        mut item: RequestBatchItem,
        placeholder: Option<&str>,
    ) -> Route {
        let unbound = match &item.payload {
            RequestPayload::Create(create) => create.object_type == ObjectType::SymmetricKey,
            RequestPayload::Locate(_)
            | RequestPayload::DiscoverVersions(_)
            | RequestPayload::Query(_) => true,
            _ => false,
        };
        if unbound {
            return Route::Here(Ok(Local::Unbound(item.payload)));
        }
        let Some(id) = resolve_target(&mut item.payload, placeholder) else {
            return Route::Core(item);
        };
        match self.vault.get(context.owner(), &id).await {
            Ok(Some(record)) => Route::Here(Ok(Local::Owned(Box::new(record), item.payload))),
            Ok(None) => Route::Core(item),
            Err(error) => Route::Here(Err(vault_failure(&error))),
        }
    }
}

impl<V: Vault> Service for Gateway<V> {
    async fn handle(&self, peer: &PeerIdentity, request: Item) -> Item {
        self.answer(peer.name(), request).await
    }
}

/// The object an item names, as text: its Unique Identifier, or the ID Placeholder when it
/// names none (KMIP 1.x) or names the placeholder (KMIP 2.x), which is then written into the
/// item. `None` for an operation that names no object, or names it in a way only the core can
/// resolve.
fn resolve_target(payload: &mut RequestPayload, placeholder: Option<&str>) -> Option<String> {
    let slot = target(payload)?;
    match slot {
        Some(UniqueIdentifier::Text(id)) => Some(id.clone()),
        None | Some(UniqueIdentifier::Placeholder(UniqueIdentifierPlaceholder::IdPlaceholder)) => {
            let id = placeholder?.to_owned();
            *slot = Some(UniqueIdentifier::Text(id.clone()));
            Some(id)
        }
        Some(_) => None,
    }
}

/// The Unique Identifier field of an operation that names one object.
fn target(payload: &mut RequestPayload) -> Option<&mut Option<UniqueIdentifier>> {
    use RequestPayload as P;
    Some(match payload {
        P::Get(request) => &mut request.unique_identifier,
        P::GetAttributes(request) => &mut request.unique_identifier,
        P::GetAttributeList(request) => &mut request.unique_identifier,
        P::AddAttribute(request) => &mut request.unique_identifier,
        P::ModifyAttribute(request) => &mut request.unique_identifier,
        P::DeleteAttribute(request) => &mut request.unique_identifier,
        P::SetAttribute(request) => &mut request.unique_identifier,
        P::AdjustAttribute(request) => &mut request.unique_identifier,
        P::Check(request) => &mut request.unique_identifier,
        P::Activate(request) => &mut request.unique_identifier,
        P::Revoke(request) => &mut request.unique_identifier,
        P::Destroy(request) => &mut request.unique_identifier,
        P::Encrypt(request) => &mut request.unique_identifier,
        P::Decrypt(request) => &mut request.unique_identifier,
        _ => return None,
    })
}

/// The identifier of the object a Create or Register made: the batch's next ID Placeholder.
fn created_id(payload: &ResponsePayload) -> Option<&str> {
    match payload {
        ResponsePayload::Create(response) => Some(&response.unique_identifier),
        ResponsePayload::Register(response) => Some(&response.unique_identifier),
        _ => None,
    }
}

/// The answer to an item the gateway keeps: the operation's result, or the router's refusal.
async fn answer_here<V: Vault>(
    context: &Context<'_, V>,
    operation: Operation,
    batch_id: Option<Vec<u8>>,
    local: Result<Local, Refusal>,
) -> ResponseBatchItem {
    let answered = match local {
        Ok(local) => operations::run(context, local).await,
        Err(refusal) => Err(refusal),
    };
    result_item(operation, batch_id, answered)
}

/// The refusal for a request the core could not be asked.
fn forward_failure(error: CoreError) -> Refusal {
    core_failure("forward the request to krypton-core", error)
}

/// The response item for a locally answered (or refused) batch item.
fn result_item(
    operation: Operation,
    unique_batch_item_id: Option<Vec<u8>>,
    answered: Result<ResponsePayload, Refusal>,
) -> ResponseBatchItem {
    let mut item = match answered {
        Ok(payload) => ResponseBatchItem {
            operation: Some(operation),
            unique_batch_item_id: None,
            result_status: ResultStatus::Success,
            result_reason: None,
            result_message: None,
            asynchronous_correlation_value: None,
            payload: Some(payload),
            message_extension: None,
        },
        Err(refusal) => refusal.into_item(Some(operation)),
    };
    item.unique_batch_item_id = unique_batch_item_id;
    item
}

/// The Response Message for `items`, in the request's version, echoing its correlation value.
fn respond<V>(context: &Context<'_, V>, items: Vec<ResponseBatchItem>) -> Item {
    let mut header = ResponseHeader::new(context.version(), context.now);
    header.client_correlation_value = context.header.client_correlation_value.clone();
    ResponseMessage {
        header,
        batch_items: items,
    }
    .to_item()
}

/// Every item of `message` refused for the same reason.
fn refuse_all(message: &RequestMessage, refusal: &Refusal, now: DateTime) -> Item {
    let batch_items = message
        .batch_items
        .iter()
        .map(|item| {
            result_item(
                item.operation,
                item.unique_batch_item_id.clone(),
                Err(refusal.clone()),
            )
        })
        .collect();
    ResponseMessage {
        header: ResponseHeader::new(message.header.protocol_version, now),
        batch_items,
    }
    .to_item()
}

/// The answer to valid TTLV that is not a valid request: *Invalid Message* (or the codec's
/// reason) in the version the request claims, if the gateway speaks it.
fn malformed(request: &Item, error: &kmip::Error, now: DateTime) -> Item {
    tracing::info!(%error, "malformed request");
    let version = RequestMessage::protocol_version_of(request)
        .filter(|version| version.is_supported())
        .unwrap_or(ProtocolVersion::V1_0);
    ResponseMessage {
        header: ResponseHeader::new(version, now),
        batch_items: vec![ResponseBatchItem::failure(
            None,
            error.result_reason(),
            error.to_string(),
        )],
    }
    .to_item()
}

#[cfg(test)]
mod tests {
    use kmip::{ActivateRequest, CreateResponse, GetRequest, QueryRequest};

    use super::*;

    fn get(id: Option<UniqueIdentifier>) -> RequestPayload {
        GetRequest {
            unique_identifier: id,
            ..GetRequest::default()
        }
        .into()
    }

    #[test]
    fn the_placeholder_fills_in_a_missing_identifier() {
        let mut explicit = get(Some("k1".into()));
        assert_eq!(resolve_target(&mut explicit, Some("k9")), Some("k1".into()));

        let mut implicit = RequestPayload::from(ActivateRequest::default());
        assert_eq!(resolve_target(&mut implicit, Some("k9")), Some("k9".into()));
        assert_eq!(
            implicit,
            ActivateRequest {
                unique_identifier: Some("k9".into())
            }
            .into(),
            "written into the item, for the core too"
        );

        let mut named_placeholder = get(Some(UniqueIdentifier::Placeholder(
            UniqueIdentifierPlaceholder::IdPlaceholder,
        )));
        assert_eq!(
            resolve_target(&mut named_placeholder, Some("k9")),
            Some("k9".into())
        );
    }

    #[test]
    fn what_only_the_core_can_resolve_is_left_to_it() {
        let mut no_placeholder = get(None);
        assert_eq!(resolve_target(&mut no_placeholder, None), None);
        assert_eq!(no_placeholder, get(None));
        let mut by_index = get(Some(UniqueIdentifier::Index(0)));
        assert_eq!(resolve_target(&mut by_index, Some("k9")), None);
        let mut query = RequestPayload::from(QueryRequest::default());
        assert_eq!(resolve_target(&mut query, Some("k9")), None);
    }

    #[test]
    fn creations_set_the_placeholder() {
        let created = ResponsePayload::from(CreateResponse {
            object_type: ObjectType::SymmetricKey,
            unique_identifier: "new".into(),
            attributes: Vec::new(),
        });
        assert_eq!(created_id(&created), Some("new"));
        let other = ResponsePayload::from(kmip::ActivateResponse {
            unique_identifier: "k1".into(),
        });
        assert_eq!(created_id(&other), None);
    }
}
