//! The gateway as a KMIP service: each request, batch item by batch item, answered here or
//! forwarded to the core.
//!
//! **Routing.** The gateway answers Create of symmetric keys, Create Key Pair, Register of
//! public keys, private keys (which it uses for Sign and Signature Verify), certificates and
//! symmetric keys wrapped under a key it holds,
//! Locate, RNG Retrieve, Discover Versions and Query, and every operation on a key the caller
//! owns in the vault. The other operations it offers — and identifiers the caller does not own
//! here — go to the core, which answers for the caller's objects there and *Item Not Found*
//! for everything else. So another identity's key is never found, and whether it exists is
//! never said. An operation the gateway does not
//! offer ([`SERVER`]) is answered *Operation Not Supported* without going anywhere.
//!
//! **Batches.** The shared skeleton (`kmip::server`) runs the batch: Batch Error Continuation
//! Options, the ID Placeholder, Discover Versions and Query. Each item to forward travels on its
//! own (its Authentication replaced), with the ID Placeholder written into it, so a batch like
//! Register + Activate works across both sides; the core's answer to it — payload, or Result
//! Reason and Result Message — is relayed unchanged. *Undo* is refused for a batch of several
//! items that may change anything: the gateway cannot take back what it or the core did.

use std::sync::{Arc, PoisonError, RwLock};

use kmip::net::{PeerIdentity, Service};
use kmip::server::{self, Dispatch, Offered, Server};
use kmip::{
    DateTime, Item, ObjectType, Operation, RequestBatchItem, RequestHeader, RequestPayload,
    ResponsePayload, ResultReason, UniqueIdentifier, UniqueIdentifierPlaceholder,
};

use crate::audit::{CORRELATION, GatewayAudit};
use crate::config::KeyLimits;
use crate::core_link::{CoreError, CoreLink};
use crate::forward::forward_item;
use crate::operations::{self, Context, Local, core_failure, vault_failure};
use crate::principal::{Principal, Tenancy};
use crate::refusal::Refusal;
use crate::shredding;
use crate::vault::Vault;

/// What the gateway offers: the operations it answers for its own keys and those it forwards
/// to the core, the object types a client can create or register (symmetric keys, public and
/// private keys and certificates, held here; registered symmetric keys, Secret Data and Opaque
/// Objects, held by the core). Query lists these; any other operation is refused.
static SERVER: Server = Server::new(
    &[
        Offered::changes(Operation::Create),
        Offered::changes(Operation::CreateKeyPair),
        Offered::changes(Operation::Register),
        Offered::changes(Operation::Rekey),
        Offered::changes(Operation::DeriveKey),
        Offered::reads(Operation::Locate),
        Offered::reads(Operation::Check),
        Offered::reads(Operation::Get),
        Offered::reads(Operation::Encrypt),
        Offered::reads(Operation::Decrypt),
        Offered::reads(Operation::Sign),
        Offered::reads(Operation::SignatureVerify),
        Offered::reads(Operation::Mac),
        Offered::reads(Operation::MacVerify),
        Offered::reads(Operation::RngRetrieve),
        Offered::reads(Operation::GetAttributes),
        Offered::reads(Operation::GetAttributeList),
        Offered::changes(Operation::AddAttribute),
        Offered::changes(Operation::ModifyAttribute),
        Offered::changes(Operation::DeleteAttribute),
        Offered::changes(Operation::Activate),
        Offered::changes(Operation::Revoke),
        Offered::changes(Operation::Destroy),
        Offered::reads(Operation::Query),
        Offered::reads(Operation::DiscoverVersions),
        Offered::changes(Operation::SetAttribute),
        Offered::changes(Operation::AdjustAttribute),
    ],
    &[
        ObjectType::SymmetricKey,
        ObjectType::PublicKey,
        ObjectType::PrivateKey,
        ObjectType::Certificate,
        ObjectType::SecretData,
        ObjectType::OpaqueData,
    ],
    concat!("Krypton gateway ", env!("CARGO_PKG_VERSION")),
);

/// The KMIP front door: the vault of the gateway's own keys, the link to the core, and who may
/// use them.
#[derive(Debug)]
pub struct Gateway<V> {
    vault: V,
    core: CoreLink,
    /// Replaced whole by a configuration reload; each request reads it once.
    tenancy: RwLock<Arc<Tenancy>>,
    keys: KeyLimits,
    /// Where each operation's event goes.
    audit: GatewayAudit,
}

/// The items of one request, answered for one caller.
struct Items<'a, V> {
    gateway: &'a Gateway<V>,
    principal: Principal<'a>,
    /// The time of the request.
    now: DateTime,
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
            tenancy: RwLock::new(Arc::new(tenancy)),
            keys,
            audit: GatewayAudit::journal_only(),
        }
    }

    /// The gateway, exporting its audit events to `audit`.
    pub(crate) fn with_audit(self, audit: GatewayAudit) -> Self {
        Self { audit, ..self }
    }

    /// Who may use the gateway now.
    pub(crate) fn tenancy(&self) -> Arc<Tenancy> {
        // A tenancy is replaced whole, never changed in place: a panic elsewhere while the
        // lock was held cannot have left it half-written.
        Arc::clone(&self.tenancy.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// From the next request on, identities are mapped by `tenancy` (a configuration reload).
    /// Requests in flight finish under the mapping they began with.
    pub(crate) fn replace_tenancy(&self, tenancy: Tenancy) {
        *self.tenancy.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tenancy);
    }

    /// The vault the gateway keeps its keys in.
    pub fn vault(&self) -> &V {
        &self.vault
    }

    /// The link to the core.
    pub(crate) fn core(&self) -> &CoreLink {
        &self.core
    }

    /// Delivers the queued notices of destroyed keys to the core, until the task running it is
    /// aborted (see [`crate::shredding`]).
    pub(crate) async fn run_courier(&self) {
        shredding::run_courier(&self.vault, &self.core).await;
    }

    /// The response to `request` from the application known as `identity`.
    pub async fn answer(&self, identity: &str, request: Item) -> Item {
        let now = DateTime::now();
        let message = match server::read(&request) {
            Ok(message) => message,
            Err(answer) => return answer,
        };
        let tenancy = self.tenancy();
        let Some(principal) = tenancy.principal(identity) else {
            tracing::warn!(identity, "request refused: identity is not in [identities]");
            let refusal = Refusal::new(
                ResultReason::PermissionDenied,
                format!("identity {identity:?} is not assigned to a tenant on this gateway"),
            );
            for item in &message.batch_items {
                let correlation = self.audit.correlation();
                self.audit.record(
                    item.operation,
                    identity,
                    None,
                    Err(&refusal),
                    Some(&correlation),
                );
            }
            return server::refuse(&message, &refusal);
        };
        let items = Items {
            gateway: self,
            principal,
            now,
        };
        SERVER.answer(message, &items).await
    }

    /// Decides where `item` is answered, reading the caller's record when the item names an
    /// object (`target`, resolved by [`resolve_target`]).
    async fn route(
        &self,
        context: &Context<'_, V>,
        item: RequestBatchItem,
        target: Option<String>,
    ) -> Route {
        let unbound = match &item.payload {
            RequestPayload::Create(create) => create.object_type == ObjectType::SymmetricKey,
            RequestPayload::Register(register) => operations::registers_here(register),
            RequestPayload::CreateKeyPair(_)
            | RequestPayload::Locate(_)
            | RequestPayload::RngRetrieve(_) => true,
            _ => false,
        };
        if unbound {
            return Route::Here(Ok(Local::Unbound(item.payload)));
        }
        let Some(id) = target else {
            return Route::Core(item);
        };
        match self.vault.find(context.owner(), &id).await {
            Ok(Some(found)) => Route::Here(Ok(Local::Owned(Box::new(found), item.payload))),
            Ok(None) => Route::Core(item),
            Err(error) => Route::Here(Err(vault_failure(&error))),
        }
    }
}

impl<V: Vault> Dispatch for Items<'_, V> {
    /// One item, answered here or forwarded on its own to the core, under a correlation id of
    /// its own, and exported as an audit event.
    async fn answer(
        &self,
        header: &RequestHeader,
        mut item: RequestBatchItem,
        placeholder: Option<&str>,
    ) -> Result<ResponsePayload, Refusal> {
        let gateway = self.gateway;
        let context = Context {
            vault: &gateway.vault,
            core: &gateway.core,
            principal: self.principal,
            header,
            now: self.now,
            keys: gateway.keys,
        };
        let operation = item.operation;
        let target = resolve_target(&mut item.payload, placeholder);
        let l3 = self.principal.l3;
        let subject = match &target {
            Some(id) => format!("{}/{} object {id}", l3.tenant, l3.service),
            None => format!("{}/{}", l3.tenant, l3.service),
        };
        let correlation = gateway.audit.correlation();
        let answer = CORRELATION
            .scope(correlation.clone(), async {
                match gateway.route(&context, item, target).await {
                    Route::Here(local) => operations::run(&context, local?).await,
                    Route::Core(item) => forward_item(&gateway.core, header, item, self.principal)
                        .await
                        .map_err(relay_failure),
                }
            })
            .await;
        gateway.audit.record(
            operation,
            self.principal.identity,
            Some(&subject),
            answer.as_ref(),
            Some(&correlation),
        );
        answer
    }
}

impl<V: Vault> Service for Gateway<V> {
    async fn handle(&self, peer: &PeerIdentity, request: Item) -> Item {
        self.answer(peer.name(), request).await
    }

    fn admits(&self, peer: &PeerIdentity) -> bool {
        self.tenancy().principal(peer.name()).is_some()
    }
}

/// The object an item names, as text: its Unique Identifier, or the ID Placeholder when it
/// names none (KMIP 1.x) or names the placeholder (KMIP 2.x), which is then written into the
/// item. `None` for an operation that names no object, or names it in a way only the core can
/// resolve.
fn resolve_target(payload: &mut RequestPayload, placeholder: Option<&str>) -> Option<String> {
    // Derive Key names its base object first, never by the placeholder (KMIP 1.4 §4.6).
    if let RequestPayload::DeriveKey(_) = payload {
        return payload.target_text().map(str::to_owned);
    }
    let slot = payload.target_mut()?;
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

/// The refusal for an item the core did not answer: its own refusal, relayed as it came, or
/// the gateway's account of why it could not be asked.
fn relay_failure(error: CoreError) -> Refusal {
    match error {
        CoreError::Refused { reason, message } => Refusal::new(reason, message),
        error => core_failure("forward the request to krypton-core", error),
    }
}

#[cfg(test)]
mod tests {
    use kmip::{ActivateRequest, GetRequest, QueryRequest};

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
}
