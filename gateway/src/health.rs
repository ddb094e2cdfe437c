//! What the gateway tells its telemetry listener: ready when both the vault and the core
//! answer, each within [`PROBE_LIMIT`].

use std::time::Duration;

use kmip::{
    DiscoverVersionsRequest, ProtocolVersion, RequestBatchItem, RequestHeader, RequestMessage,
};
use krypton_service::ErrorChain;
use krypton_service::telemetry::{Health, Readiness};

use crate::service::Gateway;
use crate::vault::Vault;

/// The longest a readiness probe waits for the vault, and again for the core.
const PROBE_LIMIT: Duration = Duration::from_secs(2);

impl<V: Vault> Health for Gateway<V> {
    /// Ready when a read of the vault and a Discover Versions at the core both succeed: Create
    /// and Get need both, and fail closed without either.
    async fn readiness(&self) -> Readiness {
        match tokio::time::timeout(PROBE_LIMIT, self.vault().pending_shreds(1)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                return Readiness::not_ready("vault-unavailable", ErrorChain(&error).to_string());
            }
            Err(_) => {
                return Readiness::not_ready(
                    "vault-unavailable",
                    format!("no answer within {PROBE_LIMIT:?}"),
                );
            }
        }
        let probe = RequestMessage {
            header: RequestHeader::new(ProtocolVersion::V1_4),
            batch_items: vec![RequestBatchItem::new(DiscoverVersionsRequest::default())],
        }
        .to_item();
        match tokio::time::timeout(PROBE_LIMIT, self.core().call(&probe)).await {
            Ok(Ok(_)) => Readiness::ready(),
            Ok(Err(error)) => {
                Readiness::not_ready("core-unreachable", ErrorChain(&error).to_string())
            }
            Err(_) => Readiness::not_ready(
                "core-unreachable",
                format!("no answer within {PROBE_LIMIT:?}"),
            ),
        }
    }

    /// Everything the gateway reports is an event, counted where it happens.
    fn observe(&self) {}
}
