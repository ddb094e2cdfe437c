//! What the core's audit record of a data-path request says: who asked (the gateway, and the
//! application it acts for), about what (tenant, service, object), how it went, and the
//! gateway's correlation id (its Client Correlation Value), which the gateway's own export
//! carries too. Never a key: identifiers only.

use kmip::objects::{Refusal, WrapBinding};
use kmip::{Credential, Operation, RequestHeader, RequestPayload, ResponsePayload};

use super::registry_seam::Requester;
use crate::audit::AuditEntry;

/// The longest correlation id recorded, in bytes; a longer one is cut (at a character
/// boundary): it is the gateway's, bounded by the message only.
const MAX_CORRELATION: usize = 128;

/// Who asked and what about, read from the request before it is answered.
pub(super) struct About {
    caller: String,
    subject: Option<String>,
}

impl About {
    /// A request refused before its requester was known (a gateway no longer configured, a
    /// tenant it may not act for): only the peer's name.
    pub(super) fn peer(gateway: &str) -> Self {
        Self {
            caller: format!("gateway={gateway}"),
            subject: None,
        }
    }

    /// A request of `requester` with `payload`.
    pub(super) fn request(requester: &Requester, payload: &RequestPayload) -> Self {
        match requester {
            Requester::Gateway { gateway } => for_gateway(gateway, payload),
            Requester::Application { gateway, owner } => {
                let subject = match payload.target_text() {
                    Some(id) => format!("{} object {id}", owner.tenant),
                    None => owner.tenant.clone(),
                };
                Self {
                    caller: format!("gateway={gateway} for={}", owner.identity),
                    subject: Some(subject),
                }
            }
        }
    }

    /// The record of `operation`, answered with `answer`, under `header`.
    pub(super) fn record(
        self,
        operation: Operation,
        header: &RequestHeader,
        answer: Result<&ResponsePayload, &Refusal>,
    ) -> AuditEntry {
        let mut subject = self.subject;
        if let (Ok(created), Some(subject)) = (answer.map(ResponsePayload::created), &mut subject)
            && let Some(id) = created
        {
            *subject = format!("{subject} object {id}");
        }
        let refused = answer.err().map(Refusal::summary);
        let correlation =
            correlation_of(header).map(|value| bounded(value, MAX_CORRELATION).to_owned());
        AuditEntry::data_path(operation, self.caller, subject, refused, correlation)
    }
}

/// A gateway's own request: a wrap, unwrap or re-wrap names the service key and, in its
/// additional data, the L4's owner and identifier; a Destroy names the L4.
fn for_gateway(gateway: &str, payload: &RequestPayload) -> About {
    let aad = match payload {
        RequestPayload::Encrypt(request) => {
            request.authenticated_encryption_additional_data.as_deref()
        }
        RequestPayload::Decrypt(request) => {
            request.authenticated_encryption_additional_data.as_deref()
        }
        RequestPayload::Rewrap(request) => {
            request.authenticated_encryption_additional_data.as_deref()
        }
        _ => None,
    };
    let service = payload.target_text().map(|id| {
        id.strip_prefix("l3/")
            .or(id.strip_prefix("l4/"))
            .unwrap_or(id)
    });
    match (service, aad.and_then(|aad| WrapBinding::decode(aad).ok())) {
        (Some(service), Some(binding)) => About {
            caller: format!("gateway={gateway} for={}", binding.owner),
            subject: Some(format!("{service} key {}", binding.id)),
        },
        (service, _) => About {
            caller: format!("gateway={gateway}"),
            subject: service.map(str::to_owned),
        },
    }
}

/// The gateway's correlation id: in its Delegated credential when it forwards for an
/// application (any protocol version), else its Client Correlation Value (KMIP 1.4 and later,
/// which its own requests use).
fn correlation_of(header: &RequestHeader) -> Option<&str> {
    let delegated = header
        .authentication
        .iter()
        .flat_map(|authentication| &authentication.credentials)
        .find_map(|credential| match credential {
            Credential::Delegated(delegated) => delegated.correlation.as_deref(),
            _ => None,
        });
    delegated.or(header.client_correlation_value.as_deref())
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn bounded(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use kmip::{ActivateRequest, ActivateResponse, DecryptRequest, ProtocolVersion, ResultReason};

    use super::*;
    use crate::registry::Owner;

    fn header(correlation: Option<&str>) -> RequestHeader {
        let mut header = RequestHeader::new(ProtocolVersion::V1_4);
        header.client_correlation_value = correlation.map(str::to_owned);
        header
    }

    #[test]
    fn an_unwrap_names_the_service_the_key_and_its_owner() {
        let binding = WrapBinding {
            owner: "app-7".into(),
            id: "k1".into(),
        };
        let payload = RequestPayload::Decrypt(DecryptRequest {
            unique_identifier: Some("l3/acme/payments".into()),
            cryptographic_parameters: None,
            data: vec![1],
            iv_counter_nonce: None,
            authenticated_encryption_additional_data: Some(binding.encode().unwrap()),
            authenticated_encryption_tag: None,
        });
        let requester = Requester::Gateway {
            gateway: "gw-1".into(),
        };
        let refusal = Refusal::new(ResultReason::PermissionDenied, "tenant acme is unlinked");
        let entry = About::request(&requester, &payload).record(
            Operation::Decrypt,
            &header(Some("c-42")),
            Err(&refusal),
        );
        assert_eq!(entry.caller, "gateway=gw-1 for=app-7");
        assert_eq!(entry.subject.as_deref(), Some("acme/payments key k1"));
        assert_eq!(entry.operation.name(), "kmip-decrypt");
        assert_eq!(
            entry.refused.as_deref(),
            Some("PermissionDenied: tenant acme is unlinked")
        );
        assert_eq!(entry.correlation.as_deref(), Some("c-42"));
    }

    #[test]
    fn an_applications_request_names_its_tenant_and_object_and_a_long_correlation_is_cut() {
        let requester = Requester::Application {
            gateway: "gw-1".into(),
            owner: Owner {
                tenant: "acme".into(),
                identity: "app-7".into(),
            },
        };
        let payload = RequestPayload::Activate(ActivateRequest {
            unique_identifier: Some("k9".into()),
        });
        let long = "é".repeat(100);
        let answer = ResponsePayload::Activate(ActivateResponse {
            unique_identifier: "k9".into(),
        });
        let entry = About::request(&requester, &payload).record(
            Operation::Activate,
            &header(Some(&long)),
            Ok(&answer),
        );
        assert_eq!(entry.caller, "gateway=gw-1 for=app-7");
        assert_eq!(entry.subject.as_deref(), Some("acme object k9"));
        assert_eq!(entry.operation.name(), "kmip-activate");
        assert!(entry.refused.is_none());
        assert_eq!(entry.correlation.unwrap().len(), 128);
    }
}
