//! What the gateway tells its telemetry listener: ready when both the vault and the core
//! answer, each within [`PROBE_LIMIT`].

use std::time::Duration;

use kmip::{
    DiscoverVersionsRequest, ProtocolVersion, RequestBatchItem, RequestHeader, RequestMessage,
};
use krypton_service::ErrorChain;
use krypton_service::telemetry::{Health, Readiness};

use crate::core_link::CoreLink;
use crate::service::Gateway;
use crate::vault::Vault;

/// The longest a readiness probe waits for the vault, and again for the core.
const PROBE_LIMIT: Duration = Duration::from_secs(2);

impl<V: Vault> Health for Gateway<V> {
    /// Ready when a read of the vault and a Discover Versions at the core both succeed: Create
    /// and Get need both, and fail closed without either.
    async fn readiness(&self) -> Readiness {
        if let Err(why) = probe_vault(self.vault()).await {
            return Readiness::not_ready("vault-unavailable", why);
        }
        match probe_core(self.core()).await {
            Ok(()) => Readiness::ready(),
            Err(why) => Readiness::not_ready("core-unreachable", why),
        }
    }

    /// Everything the gateway reports is an event, counted where it happens.
    fn observe(&self) {}
}

/// One cheap read of the vault (a page of the shred queue), within [`PROBE_LIMIT`]; why it
/// failed otherwise. Readiness and `krypton-gateway check` both ask it.
pub(crate) async fn probe_vault(vault: &impl Vault) -> Result<(), String> {
    match tokio::time::timeout(PROBE_LIMIT, vault.pending_shreds(1)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(ErrorChain(&error).to_string()),
        Err(_) => Err(format!("no answer within {PROBE_LIMIT:?}")),
    }
}

/// A Discover Versions at the core over the link's mutual TLS, within [`PROBE_LIMIT`]; why it
/// failed otherwise.
pub(crate) async fn probe_core(core: &CoreLink) -> Result<(), String> {
    let probe = RequestMessage {
        header: RequestHeader::new(ProtocolVersion::V1_4),
        batch_items: vec![RequestBatchItem::new(DiscoverVersionsRequest::default())],
    }
    .to_item();
    match tokio::time::timeout(PROBE_LIMIT, core.call(&probe)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(ErrorChain(&error).to_string()),
        Err(_) => Err(format!("no answer within {PROBE_LIMIT:?}")),
    }
}
