//! Requests the gateway does not answer itself, sent to the core on the application's behalf.
//!
//! Whatever Authentication the application put in its request header is replaced by one
//! credential, Krypton's [`DelegatedIdentity`], naming the tenant and identity the gateway
//! authenticated from the application's certificate: an application can never speak for
//! another. The core accepts that credential only from gateway certificates it trusts, enforces
//! ownership by it, and answers in the request's protocol version; the gateway relays the
//! answer's payload, or its Result Reason and Result Message, unchanged.

use kmip::{
    Authentication, Credential, DelegatedIdentity, RequestBatchItem, RequestHeader, RequestMessage,
    ResponseMessage, ResponsePayload, ResultReason, ResultStatus,
};

use crate::audit::current_correlation;
use crate::core_link::{CoreError, CoreLink};
use crate::principal::Principal;

/// `header`, speaking for `principal` instead of whoever the application claimed to be, with
/// the correlation id of the item being answered.
#[must_use]
pub fn delegated(header: &RequestHeader, principal: Principal<'_>) -> RequestHeader {
    RequestHeader {
        authentication: Some(Authentication {
            credentials: vec![Credential::Delegated(DelegatedIdentity {
                tenant: principal.l3.tenant.clone(),
                identity: principal.identity.to_owned(),
                correlation: current_correlation(),
            })],
        }),
        ..header.clone()
    }
}

/// Forwards one batch item under `header` for `principal`, on its own; returns the core's
/// answer: its payload, or its refusal as [`CoreError::Refused`].
pub(crate) async fn forward_item(
    core: &CoreLink,
    header: &RequestHeader,
    item: RequestBatchItem,
    principal: Principal<'_>,
) -> Result<ResponsePayload, CoreError> {
    let message = RequestMessage {
        header: delegated(header, principal),
        batch_items: vec![item],
    };
    let response = core.call(&message.to_item()).await?;
    let response = ResponseMessage::from_item(&response).map_err(CoreError::Decode)?;
    let [item] = <[_; 1]>::try_from(response.batch_items)
        .map_err(|_| CoreError::Contract("one request item got several answers"))?;
    match (item.result_status, item.payload) {
        (ResultStatus::Success, Some(payload)) => Ok(payload),
        (ResultStatus::OperationFailed, _) => Err(CoreError::Refused {
            reason: item.result_reason.unwrap_or(ResultReason::GeneralFailure),
            message: item.result_message.unwrap_or_default(),
        }),
        _ => Err(CoreError::Contract(
            "an item answered neither with a payload nor as failed",
        )),
    }
}

#[cfg(test)]
mod tests {
    use kmip::{ProtocolVersion, UsernamePasswordCredential};

    use super::*;
    use crate::principal::L3Ref;

    #[test]
    fn the_applications_credentials_are_replaced() {
        let mut header = RequestHeader::new(ProtocolVersion::V1_2);
        header.authentication = Some(Authentication {
            credentials: vec![Credential::UsernamePassword(UsernamePasswordCredential {
                username: "someone-else".into(),
                password: Some("guess".into()),
            })],
        });
        header.batch_order_option = Some(true);
        let l3 = L3Ref {
            tenant: "acme".into(),
            service: "payments".into(),
        };
        let principal = Principal {
            identity: "app-1",
            l3: &l3,
        };
        let forwarded = delegated(&header, principal);
        assert_eq!(
            forwarded.authentication,
            Some(Authentication {
                credentials: vec![Credential::Delegated(DelegatedIdentity {
                    tenant: "acme".into(),
                    identity: "app-1".into(),
                    correlation: None,
                })],
            })
        );
        assert_eq!(forwarded.protocol_version, ProtocolVersion::V1_2);
        assert_eq!(forwarded.batch_order_option, Some(true));
    }
}
