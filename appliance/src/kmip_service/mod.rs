//! The core's KMIP service for gateways, over mutual TLS (`kmip::net`).
//!
//! **Who may ask.** Only clients whose certificate identity is listed in `[[kmip.gateways]]`;
//! anyone else is answered *Permission Denied* on every item. Each gateway may act only for
//! its listed tenants.
//!
//! **What it answers itself.** With no Delegated credential, the gateway speaks for itself:
//! Encrypt wraps an L4 and Decrypt unwraps it, under the service key named by the Unique
//! Identifier `l3/<tenant>/<service>` (AES-256-GCM-SIV, nonce drawn by the core, the L4's owner
//! and identifier as Authenticated Encryption Additional Data in the encoding of
//! [`kmip::objects::WrapBinding`], the result a self-describing blob bound to tenant, service,
//! owner and identifier: see [`crate::hierarchy::wrapped_key`]). Discover Versions and Query are answered for anyone
//! listed.
//!
//! **On behalf of applications.** A request carrying a Delegated credential
//! (`kmip::Credential::Delegated`) is the gateway forwarding for an application. It is
//! accepted only for a tenant of that gateway, and goes, with the owner (tenant, identity),
//! to the object registry ([`registry_seam::registry_answer`]), as does every other
//! operation. A service key is never used on an application's behalf.
//!
//! Errors become KMIP results in one function, [`result::result_of`].

pub(crate) mod config;
mod registry_seam;
mod result;

use std::sync::Arc;

use kmip::net::{PeerIdentity, Service};
use kmip::objects::WrapBinding;
use kmip::{
    BatchErrorContinuationOption, BlockCipherMode, Credential, CryptographicParameters, DateTime,
    DecryptRequest, DecryptResponse, DiscoverVersionsRequest, DiscoverVersionsResponse,
    EncryptRequest, EncryptResponse, Item, ObjectType, Operation, ProtocolVersion, QueryRequest,
    QueryResponse, RequestBatchItem, RequestHeader, RequestMessage, RequestPayload,
    ResponseBatchItem, ResponseHeader, ResponseMessage, ResponsePayload, ResultStatus, SecretBytes,
    UniqueIdentifier,
};

use crate::core::Core;
use crate::error::Error;
use crate::hierarchy::L3Id;
use crate::hsm::TenantId;
use crate::registry::Owner;
use config::Gateways;
use registry_seam::{Requester, registry_answer};
pub(crate) use result::result_of;

/// What the core calls itself in Query responses.
const VENDOR: &str = "Krypton core";
/// The operations the core answers: wrap and unwrap for gateways, the protocol's own, and the
/// object registry's for applications.
const OPERATIONS: [Operation; 17] = [
    Operation::Encrypt,
    Operation::Decrypt,
    Operation::DiscoverVersions,
    Operation::Query,
    Operation::Register,
    Operation::Locate,
    Operation::Get,
    Operation::GetAttributes,
    Operation::GetAttributeList,
    Operation::Check,
    Operation::Activate,
    Operation::Revoke,
    Operation::Destroy,
    Operation::AddAttribute,
    Operation::ModifyAttribute,
    Operation::DeleteAttribute,
    Operation::SetAttribute,
];

/// The KMIP service.
#[derive(Debug)]
pub(crate) struct KmipService {
    core: Arc<Core>,
    gateways: Gateways,
}

/// A request's origin, checked: the gateway and what it may do.
struct Checked<'a> {
    gateway: &'a str,
    tenants: &'a std::collections::HashSet<TenantId>,
    requester: Requester,
}

impl KmipService {
    pub(crate) fn new(core: Arc<Core>, gateways: Gateways) -> Self {
        Self { core, gateways }
    }

    /// Answers a decoded request message from `peer`.
    async fn answer(&self, peer: &PeerIdentity, message: RequestMessage) -> Item {
        let RequestMessage {
            header,
            batch_items,
        } = message;
        let checked = match self.check(peer, &header) {
            Ok(checked) => checked,
            Err(refusal) => {
                let (reason, message) = result_of(&refusal);
                tracing::warn!(peer = %peer, ?reason, %message, "KMIP request refused");
                let answers = batch_items
                    .iter()
                    .map(|item| {
                        let failure =
                            ResponseBatchItem::failure(Some(item.operation), reason, &message);
                        ResponseBatchItem {
                            unique_batch_item_id: item.unique_batch_item_id.clone(),
                            ..failure
                        }
                    })
                    .collect();
                return respond(header, answers);
            }
        };
        let stop_on_failure =
            header.batch_error_continuation_option != Some(BatchErrorContinuationOption::Continue);
        let mut answers = Vec::with_capacity(batch_items.len());
        for item in batch_items {
            let (operation, id) = (item.operation, item.unique_batch_item_id.clone());
            let answer = match self.answer_item(&checked, &header, item).await {
                Ok(payload) => success(operation, payload),
                Err(error) => {
                    let (reason, message) = result_of(&error);
                    tracing::warn!(peer = %peer, ?operation, ?reason, %message, "KMIP request refused");
                    ResponseBatchItem::failure(Some(operation), reason, message)
                }
            };
            let failed = answer.result_status != ResultStatus::Success;
            answers.push(ResponseBatchItem {
                unique_batch_item_id: id,
                ..answer
            });
            if failed && stop_on_failure {
                break;
            }
        }
        respond(header, answers)
    }

    /// Who is asking: a configured gateway, for itself or (Delegated credential) for an
    /// application of one of its tenants.
    fn check<'a>(
        &'a self,
        peer: &'a PeerIdentity,
        header: &RequestHeader,
    ) -> Result<Checked<'a>, Error> {
        let gateway = peer.name();
        let tenants = self
            .gateways
            .tenants(gateway)
            .ok_or_else(|| Error::UnknownGateway(gateway.to_owned()))?;
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
                    .ok_or_else(|| Error::TenantNotPermitted {
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
    ) -> Result<ResponsePayload, Error> {
        let for_gateway = matches!(checked.requester, Requester::Gateway { .. });
        match item.payload {
            RequestPayload::DiscoverVersions(request) => Ok(discover_versions(&request).into()),
            RequestPayload::Query(request) => Ok(query(&request).into()),
            RequestPayload::Encrypt(request) if for_gateway => {
                self.encrypt(checked, request).await.map(Into::into)
            }
            RequestPayload::Decrypt(request) if for_gateway => {
                self.decrypt(checked, request).await.map(Into::into)
            }
            _ => registry_answer(&self.core, &checked.requester, header, item).await,
        }
    }

    /// Wraps an L4 under a service key.
    async fn encrypt(
        &self,
        checked: &Checked<'_>,
        request: EncryptRequest,
    ) -> Result<EncryptResponse, Error> {
        let l3 = self.service_key(checked, request.unique_identifier.as_ref())?;
        check_parameters(request.cryptographic_parameters.as_ref())?;
        if request.iv_counter_nonce.is_some() {
            return Err(Error::InvalidRequest(
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
    ) -> Result<DecryptResponse, Error> {
        let l3 = self.service_key(checked, request.unique_identifier.as_ref())?;
        check_parameters(request.cryptographic_parameters.as_ref())?;
        if request.iv_counter_nonce.is_some() || request.authenticated_encryption_tag.is_some() {
            return Err(Error::InvalidRequest(
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

    /// The service key a request names, if the gateway may use it.
    fn service_key(
        &self,
        checked: &Checked<'_>,
        uid: Option<&UniqueIdentifier>,
    ) -> Result<L3Id, Error> {
        let text = uid
            .and_then(UniqueIdentifier::as_text)
            .ok_or(Error::InvalidRequest(
                "Encrypt and Decrypt name the service key by its Unique Identifier",
            ))?;
        let l3 = L3Id::parse(text).ok_or_else(|| Error::ObjectNotFound(text.to_owned()))?;
        if !checked.tenants.contains(&l3.tenant) {
            return Err(Error::TenantNotPermitted {
                gateway: checked.gateway.to_owned(),
                tenant: l3.tenant.to_string(),
            });
        }
        Ok(l3)
    }
}

impl Service for KmipService {
    async fn handle(&self, peer: &PeerIdentity, request: Item) -> Item {
        match RequestMessage::from_item(&request) {
            Ok(message) => self.answer(peer, message).await,
            Err(error) => malformed(&request, Error::Kmip(error)),
        }
    }
}

/// The response message to `header`'s request: its version and correlation value.
fn respond(header: RequestHeader, answers: Vec<ResponseBatchItem>) -> Item {
    let mut response_header = ResponseHeader::new(header.protocol_version, DateTime::now());
    response_header.client_correlation_value = header.client_correlation_value;
    ResponseMessage {
        header: response_header,
        batch_items: answers,
    }
    .to_item()
}

/// The answer to a message that does not decode: one failed item, Invalid Message.
fn malformed(request: &Item, error: Error) -> Item {
    let (reason, message) = result_of(&error);
    tracing::warn!(%message, "malformed KMIP request");
    let version = RequestMessage::protocol_version_of(request)
        .filter(|version| version.is_supported())
        .unwrap_or(ProtocolVersion::V1_0);
    ResponseMessage {
        header: ResponseHeader::new(version, DateTime::now()),
        batch_items: vec![ResponseBatchItem::failure(None, reason, message)],
    }
    .to_item()
}

fn success(operation: Operation, payload: ResponsePayload) -> ResponseBatchItem {
    ResponseBatchItem {
        operation: Some(operation),
        unique_batch_item_id: None,
        result_status: ResultStatus::Success,
        result_reason: None,
        result_message: None,
        asynchronous_correlation_value: None,
        payload: Some(payload),
        message_extension: None,
    }
}

/// Only AES-GCM (the L3's algorithm and mode family: KMIP names no GCM-SIV mode, and the blob's
/// format says which of the two sealed it); unset fields take those values.
fn check_parameters(parameters: Option<&CryptographicParameters>) -> Result<(), Error> {
    let mode = parameters.and_then(|p| p.block_cipher_mode);
    if mode.is_some_and(|mode| mode != BlockCipherMode::Gcm) {
        return Err(Error::InvalidRequest(
            "service keys wrap with AES-GCM: Block Cipher Mode must be GCM",
        ));
    }
    Ok(())
}

/// The L4's owner and Unique Identifier, which the contract sends as the additional data.
fn binding(aad: Option<Vec<u8>>) -> Result<WrapBinding, Error> {
    let aad = aad.ok_or(Error::InvalidRequest(
        "the Authenticated Encryption Additional Data must be the L4's owner and Unique \
         Identifier",
    ))?;
    WrapBinding::decode(&aad).map_err(|invalid| Error::InvalidRequest(invalid.0))
}

/// The versions both sides speak, the core's preferred (newest) first.
fn discover_versions(request: &DiscoverVersionsRequest) -> DiscoverVersionsResponse {
    let ours = ProtocolVersion::SUPPORTED.iter().copied();
    let protocol_versions = if request.protocol_versions.is_empty() {
        ours.collect()
    } else {
        ours.filter(|v| request.protocol_versions.contains(v))
            .collect()
    };
    DiscoverVersionsResponse { protocol_versions }
}

/// What the core offers: its operations and, for the registry, the object types it keeps.
fn query(_request: &QueryRequest) -> QueryResponse {
    QueryResponse {
        operations: OPERATIONS.to_vec(),
        object_types: vec![
            ObjectType::SymmetricKey,
            ObjectType::SecretData,
            ObjectType::OpaqueData,
        ],
        vendor_identification: Some(VENDOR.to_owned()),
        ..QueryResponse::default()
    }
}
