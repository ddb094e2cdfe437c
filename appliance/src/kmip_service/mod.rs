//! The core's KMIP service for gateways, over mutual TLS (`kmip::net`).
//!
//! **Who may ask.** Only clients whose certificate identity is listed in `[[kmip.gateways]]`;
//! anyone else is answered *Permission Denied* on every item. Each gateway may act only for
//! its listed tenants. A configuration reload replaces the list whole; each request reads it
//! once.
//!
//! **What it answers itself.** With no Delegated credential, the gateway speaks for itself:
//! Encrypt wraps an L4 and Decrypt unwraps it, under the service key named by the Unique
//! Identifier `l3/<tenant>/<service>` (AES-256-GCM-SIV, nonce drawn by the core, the L4's owner
//! and identifier as Authenticated Encryption Additional Data in the encoding of
//! [`kmip::objects::WrapBinding`], the result a self-describing blob bound to tenant, service,
//! owner and identifier: see [`crate::hierarchy::wrapped_key`]). Rewrap (Krypton's vendor
//! extension, [`kmip::RewrapRequest`]) does both in one step, so a blob moves to the active
//! version without its key leaving the core; Rewrap Report ([`kmip::RewrapReportRequest`])
//! tells the core what a gateway's re-wrap pass left behind ([`crate::core::GatewayRewrap`]).
//! Destroy of an L4 named
//! `l4/<tenant>/<service>/<binding>` records that its blob never unwraps again
//! ([`crate::hierarchy::shred`]). Discover Versions and Query are answered for anyone listed,
//! from the core's table of operations ([`SERVER`]), by the skeleton both daemons share
//! (`kmip::server`), which also runs batches and refuses every operation the table does not
//! list.
//!
//! **On behalf of applications.** A request carrying a Delegated credential
//! (`kmip::Credential::Delegated`) is the gateway forwarding for an application. It is
//! accepted only for a tenant of that gateway, and goes, with the owner (tenant, identity),
//! to the object registry ([`registry_seam::registry_answer`]), as does every other
//! operation. A service key is never used on an application's behalf.
//!
//! Errors become KMIP results in one function, [`result::result_of`].

mod audit;
pub(crate) mod config;
mod registry_seam;
mod result;

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

use kmip::net::{PeerIdentity, Service};
use kmip::objects::Refusal;
use kmip::objects::WrapBinding;
use kmip::server::{self, Dispatch, Offered, Server};
use kmip::{
    BlockCipherMode, Credential, CryptographicParameters, DecryptRequest, DecryptResponse,
    DestroyRequest, DestroyResponse, EncryptRequest, EncryptResponse, Item, ObjectType, Operation,
    RequestBatchItem, RequestHeader, RequestPayload, ResponsePayload, RewrapReportRequest,
    RewrapReportResponse, RewrapRequest, RewrapResponse, SecretBytes, UniqueIdentifier,
};

use crate::core::{Core, RewrapReport};
use crate::error::RequestError;
use crate::hierarchy::L3Id;
use crate::hierarchy::shred::L4Id;
use crate::hsm::TenantId;
use crate::registry::Owner;
use audit::About;
use config::Gateways;
use registry_seam::{Requester, registry_answer};
pub(crate) use result::result_of;

/// What the core offers: wrap and unwrap for gateways, the protocol's own operations, and the
/// object registry's for applications, with the object types the registry keeps. Query lists
/// these; any other operation is refused.
static SERVER: Server = Server::new(
    &[
        Offered::reads(Operation::Encrypt),
        Offered::reads(Operation::Decrypt),
        Offered::reads(Operation::Rewrap),
        Offered::changes(Operation::RewrapReport),
        Offered::reads(Operation::DiscoverVersions),
        Offered::reads(Operation::Query),
        Offered::changes(Operation::Register),
        Offered::reads(Operation::Locate),
        Offered::reads(Operation::Get),
        Offered::reads(Operation::GetAttributes),
        Offered::reads(Operation::GetAttributeList),
        Offered::reads(Operation::Check),
        Offered::changes(Operation::Activate),
        Offered::changes(Operation::Revoke),
        Offered::changes(Operation::Destroy),
        Offered::changes(Operation::AddAttribute),
        Offered::changes(Operation::ModifyAttribute),
        Offered::changes(Operation::DeleteAttribute),
        Offered::changes(Operation::SetAttribute),
        Offered::changes(Operation::AdjustAttribute),
    ],
    &[
        ObjectType::SymmetricKey,
        ObjectType::SecretData,
        ObjectType::OpaqueData,
    ],
    "Krypton core",
);

/// The KMIP service.
#[derive(Debug)]
pub(crate) struct KmipService {
    core: Arc<Core>,
    gateways: RwLock<Arc<Gateways>>,
}

/// A request's origin, checked: the gateway and what it may do.
struct Checked<'a> {
    gateway: &'a str,
    tenants: Arc<HashSet<TenantId>>,
    requester: Requester,
}

impl KmipService {
    pub(crate) fn new(core: Arc<Core>, gateways: Gateways) -> Self {
        Self {
            core,
            gateways: RwLock::new(Arc::new(gateways)),
        }
    }

    /// The gateways served now.
    fn gateways(&self) -> Arc<Gateways> {
        // The table is replaced whole, never changed in place: a panic elsewhere while the
        // lock was held cannot have left it half-written.
        Arc::clone(&self.gateways.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// From the next request on, `gateways` are served (a configuration reload). Requests in
    /// flight finish with the tenants they began with.
    pub(crate) fn replace_gateways(&self, gateways: Gateways) {
        *self
            .gateways
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(gateways);
    }

    /// Who is asking: a configured gateway, for itself or (Delegated credential) for an
    /// application of one of its tenants.
    fn check<'a>(
        &'a self,
        peer: &'a PeerIdentity,
        header: &RequestHeader,
    ) -> Result<Checked<'a>, RequestError> {
        let gateway = peer.name();
        let tenants = self
            .gateways()
            .tenants(gateway)
            .cloned()
            .ok_or_else(|| RequestError::UnknownGateway(gateway.to_owned()))?;
        let delegated = header
            .authentication
            .iter()
            .flat_map(|authentication| &authentication.credentials)
            .find_map(|credential| match credential {
                Credential::Delegated(delegated) => Some(delegated),
                _ => None,
            });
        let requester = match delegated {
            None => Requester::Gateway {
                gateway: gateway.to_owned(),
            },
            Some(delegated) => {
                let tenant = TenantId::new(delegated.tenant.as_str())
                    .ok()
                    .filter(|tenant| tenants.contains(tenant))
                    .ok_or_else(|| RequestError::TenantNotPermitted {
                        gateway: gateway.to_owned(),
                        tenant: delegated.tenant.clone(),
                    })?;
                Requester::Application {
                    gateway: gateway.to_owned(),
                    owner: Owner {
                        tenant: tenant.to_string(),
                        identity: delegated.identity.clone(),
                    },
                }
            }
        };
        Ok(Checked {
            gateway,
            tenants,
            requester,
        })
    }

    async fn answer_item(
        &self,
        checked: &Checked<'_>,
        header: &RequestHeader,
        item: RequestBatchItem,
    ) -> Result<ResponsePayload, RequestError> {
        let for_gateway = matches!(checked.requester, Requester::Gateway { .. });
        match item.payload {
            RequestPayload::Encrypt(request) if for_gateway => {
                self.encrypt(checked, request).await.map(Into::into)
            }
            RequestPayload::Decrypt(request) if for_gateway => {
                self.decrypt(checked, request).await.map(Into::into)
            }
            RequestPayload::Rewrap(request) if for_gateway => {
                self.rewrap(checked, request).await.map(Into::into)
            }
            // Kept in the memory of the core that leads, where `kryptonctl service list` reads it.
            RequestPayload::RewrapReport(_) if for_gateway && !self.core.leads() => {
                Err(RequestError::Core(crate::error::Error::Following))
            }
            RequestPayload::RewrapReport(request) if for_gateway => {
                self.rewrap_report(checked, request).await.map(Into::into)
            }
            RequestPayload::Destroy(request) if for_gateway => {
                self.destroy_l4(checked, request).await.map(Into::into)
            }
            _ => registry_answer(&self.core, &checked.requester, header, item).await,
        }
    }

    /// Wraps an L4 under a service key.
    async fn encrypt(
        &self,
        checked: &Checked<'_>,
        request: EncryptRequest,
    ) -> Result<EncryptResponse, RequestError> {
        let l3 = self.service_key(checked, request.unique_identifier.as_ref())?;
        check_parameters(request.cryptographic_parameters.as_ref())?;
        if request.iv_counter_nonce.is_some() {
            return Err(RequestError::InvalidRequest(
                "the core draws the IV: send no IV/Counter/Nonce",
            ));
        }
        let binding = binding(request.authenticated_encryption_additional_data)?;
        let uid = l3.to_string();
        let data = request.data;
        let blob = self.core.wrap(l3, binding, data).await?;
        Ok(EncryptResponse {
            unique_identifier: uid,
            data: blob,
            iv_counter_nonce: None,
            authenticated_encryption_tag: None,
        })
    }

    /// Unwraps an L4 from a blob made by [`encrypt`](Self::encrypt).
    async fn decrypt(
        &self,
        checked: &Checked<'_>,
        request: DecryptRequest,
    ) -> Result<DecryptResponse, RequestError> {
        let l3 = self.service_key(checked, request.unique_identifier.as_ref())?;
        check_parameters(request.cryptographic_parameters.as_ref())?;
        if request.iv_counter_nonce.is_some() || request.authenticated_encryption_tag.is_some() {
            return Err(RequestError::InvalidRequest(
                "the wrapped blob carries its IV and tag: send neither apart",
            ));
        }
        let binding = binding(request.authenticated_encryption_additional_data)?;
        let uid = l3.to_string();
        let blob = request.data;
        let key = self.core.unwrap(l3, binding, blob).await?;
        Ok(DecryptResponse {
            unique_identifier: uid,
            data: SecretBytes::new(key.to_vec()),
        })
    }

    /// Wraps the L4 in a blob made by [`encrypt`](Self::encrypt) again, under the active
    /// version of its service key.
    async fn rewrap(
        &self,
        checked: &Checked<'_>,
        request: RewrapRequest,
    ) -> Result<RewrapResponse, RequestError> {
        let l3 = self.service_key(checked, request.unique_identifier.as_ref())?;
        let binding = binding(request.authenticated_encryption_additional_data)?;
        let uid = l3.to_string();
        let blob = self.core.rewrap(l3, binding, request.data).await?;
        Ok(RewrapResponse {
            unique_identifier: uid,
            data: blob,
        })
    }

    /// Keeps what the gateway's last re-wrap pass left under the older versions of a service
    /// key, for `kryptonctl service rewrap-status`.
    async fn rewrap_report(
        &self,
        checked: &Checked<'_>,
        request: RewrapReportRequest,
    ) -> Result<RewrapReportResponse, RequestError> {
        let l3 = self.service_key(checked, Some(&request.unique_identifier))?;
        let behind = request
            .behind
            .iter()
            .map(|behind| {
                Some((
                    u32::try_from(behind.version).ok()?,
                    u64::try_from(behind.records).ok()?,
                ))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or(RequestError::InvalidRequest(
                "a Version Behind holds a negative number",
            ))?;
        let unique_identifier = l3.to_string();
        let report = RewrapReport {
            l3,
            gateway: checked.gateway.to_owned(),
            pass_started: request.pass_started,
            behind,
        };
        self.core.record_rewrap(report).await?;
        Ok(RewrapReportResponse { unique_identifier })
    }

    /// Records that the gateway destroyed the L4 named `l4/<tenant>/<service>/<binding>`, so
    /// that no copy of its wrapped blob unwraps again.
    async fn destroy_l4(
        &self,
        checked: &Checked<'_>,
        request: DestroyRequest,
    ) -> Result<DestroyResponse, RequestError> {
        let text = request
            .unique_identifier
            .as_ref()
            .and_then(UniqueIdentifier::as_text)
            .ok_or(RequestError::InvalidRequest(
                "a gateway's Destroy names the data key as l4/<tenant>/<service>/<binding>",
            ))?;
        let l4 = L4Id::parse(text).ok_or_else(|| RequestError::ObjectNotFound(text.to_owned()))?;
        self.permit(checked, &l4.l3.tenant)?;
        let unique_identifier = text.to_owned();
        self.core.shred(l4).await?;
        Ok(DestroyResponse { unique_identifier })
    }

    /// The service key a request names, if the gateway may use it.
    fn service_key(
        &self,
        checked: &Checked<'_>,
        uid: Option<&UniqueIdentifier>,
    ) -> Result<L3Id, RequestError> {
        let text = uid
            .and_then(UniqueIdentifier::as_text)
            .ok_or(RequestError::InvalidRequest(
                "Encrypt, Decrypt, Rewrap and Rewrap Report name the service key by its Unique Identifier",
            ))?;
        let l3 = L3Id::parse(text).ok_or_else(|| RequestError::ObjectNotFound(text.to_owned()))?;
        self.permit(checked, &l3.tenant)?;
        Ok(l3)
    }

    /// Refuses a request of a gateway for a tenant it is not configured for.
    fn permit(&self, checked: &Checked<'_>, tenant: &TenantId) -> Result<(), RequestError> {
        if checked.tenants.contains(tenant) {
            return Ok(());
        }
        Err(RequestError::TenantNotPermitted {
            gateway: checked.gateway.to_owned(),
            tenant: tenant.to_string(),
        })
    }
}

impl KmipService {
    /// Records each item of a request refused as a whole, if the audit log takes them now.
    async fn record_refused(
        &self,
        peer: &PeerIdentity,
        message: &kmip::RequestMessage,
        refused: &Refusal,
    ) {
        for item in &message.batch_items {
            let Ok(place) = self.core.audit_place().await else {
                return;
            };
            let about = About::peer(peer.name());
            place.fill(about.record(item.operation, &message.header, Err(refused)));
        }
    }
}

impl Service for KmipService {
    async fn handle(&self, peer: &PeerIdentity, request: Item) -> Item {
        let message = match server::read(&request) {
            Ok(message) => message,
            Err(answer) => return answer,
        };
        match self.check(peer, &message.header) {
            Ok(checked) => {
                let items = Items {
                    service: self,
                    peer,
                    checked,
                };
                SERVER.answer(message, &items).await
            }
            Err(error) => {
                let refused = refusal(peer, None, &error);
                self.record_refused(peer, &message, &refused).await;
                server::refuse(&message, &refused)
            }
        }
    }

    /// Only configured gateways: any other certificate of the trusted CA is turned away
    /// before it holds a connection place.
    fn admits(&self, peer: &PeerIdentity) -> bool {
        self.gateways().tenants(peer.name()).is_some()
    }
}

/// The items of one request, answered for a checked requester.
struct Items<'a> {
    service: &'a KmipService,
    peer: &'a PeerIdentity,
    checked: Checked<'a>,
}

impl Dispatch for Items<'_> {
    /// The core resolves no ID Placeholder: a gateway writes the identifier into each item it
    /// forwards, so `_placeholder` is left unused.
    async fn answer(
        &self,
        header: &RequestHeader,
        item: RequestBatchItem,
        _placeholder: Option<&str>,
    ) -> Result<ResponsePayload, Refusal> {
        let operation = item.operation;
        let refuse = |error| refusal(self.peer, Some(operation), &error);
        // The place in the audit queue first: a request that could not be recorded does
        // nothing.
        let place = self.service.core.audit_place().await.map_err(refuse)?;
        let about = About::request(&self.checked.requester, &item.payload);
        let answer = self
            .service
            .answer_item(&self.checked, header, item)
            .await
            .map_err(refuse);
        place.fill(about.record(operation, header, answer.as_ref()));
        answer
    }
}

/// The KMIP answer to `error`, logged with who asked and for which operation.
fn refusal(peer: &PeerIdentity, operation: Option<Operation>, error: &RequestError) -> Refusal {
    let (reason, message) = result_of(error);
    tracing::warn!(peer = %peer, ?operation, ?reason, %message, "KMIP request refused");
    Refusal::new(reason, message)
}

/// Only AES-GCM (the L3's algorithm and mode family: KMIP names no GCM-SIV mode, and the blob's
/// format says which of the two sealed it); unset fields take those values.
fn check_parameters(parameters: Option<&CryptographicParameters>) -> Result<(), RequestError> {
    let mode = parameters.and_then(|p| p.block_cipher_mode);
    if mode.is_some_and(|mode| mode != BlockCipherMode::Gcm) {
        return Err(RequestError::InvalidRequest(
            "service keys wrap with AES-GCM: Block Cipher Mode must be GCM",
        ));
    }
    Ok(())
}

/// The L4's owner and Unique Identifier, which the contract sends as the additional data.
fn binding(aad: Option<Vec<u8>>) -> Result<WrapBinding, RequestError> {
    let aad = aad.ok_or(RequestError::InvalidRequest(
        "the Authenticated Encryption Additional Data must be the L4's owner and Unique \
         Identifier",
    ))?;
    WrapBinding::decode(&aad).map_err(|invalid| RequestError::InvalidRequest(invalid.0))
}
