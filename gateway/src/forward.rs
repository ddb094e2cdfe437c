//! Requests the gateway does not answer itself, sent to the core on the application's behalf.
//!
//! Whatever Authentication the application put in its request header is replaced by one
//! credential, Krypton's [`DelegatedIdentity`], naming the tenant and identity the gateway
//! authenticated from the application's certificate: an application can never speak for
//! another. The core accepts that credential only from gateway certificates it trusts, enforces
//! ownership by it, and answers in the request's protocol version; the gateway relays the
//! answer unchanged.

use kmip::{
    Authentication, Credential, DelegatedIdentity, Item, RequestBatchItem, RequestHeader,
    RequestMessage, ResponseBatchItem, ResponseMessage,
};

use crate::core_link::{CoreError, CoreLink};
use crate::principal::Principal;

/// `header`, speaking for `principal` instead of whoever the application claimed to be.
#[must_use]
pub fn delegated(header: &RequestHeader, principal: Principal<'_>) -> RequestHeader {
    RequestHeader {
        authentication: Some(Authentication {
            credentials: vec![Credential::Delegated(DelegatedIdentity {
                tenant: principal.l3.tenant.clone(),
                identity: principal.identity.to_owned(),
            })],
        }),
        ..header.clone()
    }
}

/// Forwards `batch_items` under `header` for `principal`; returns the core's Response Message
/// as it came.
pub(crate) async fn forward_message(
    core: &CoreLink,
    header: &RequestHeader,
    batch_items: Vec<RequestBatchItem>,
    principal: Principal<'_>,
) -> Result<Item, CoreError> {
    let message = RequestMessage {
        header: delegated(header, principal),
        batch_items,
    };
    core.call(&message.to_item()).await
}

/// Forwards one batch item of a larger batch on its own; returns the core's answer to it.
pub(crate) async fn forward_item(
    core: &CoreLink,
    header: &RequestHeader,
    item: RequestBatchItem,
    principal: Principal<'_>,
) -> Result<ResponseBatchItem, CoreError> {
    let response = forward_message(core, header, vec![item], principal).await?;
    let response = ResponseMessage::from_item(&response).map_err(CoreError::Decode)?;
    let [item] = <[_; 1]>::try_from(response.batch_items)
        .map_err(|_| CoreError::Contract("one request item got several answers"))?;
    Ok(item)
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
                })],
            })
        );
        assert_eq!(forwarded.protocol_version, ProtocolVersion::V1_2);
        assert_eq!(forwarded.batch_order_option, Some(true));
    }
}
