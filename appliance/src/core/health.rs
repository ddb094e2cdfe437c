//! What the core tells its telemetry listener: ready when unsealed; its lifecycle state, the
//! unseal under way and its tenants by state as gauges, read at each scrape.

use krypton_service::ErrorChain;
use krypton_service::telemetry::{Health, Readiness};

use super::Core;
use crate::error::Error;
use crate::hierarchy::TenantState;
use crate::seal::State;

impl Core {
    /// Whether the core can serve its tenants now: unsealed, and no tenant's L2 still being
    /// opened by the HSM. A standby that took over serves KMIP from then on, so that gateways
    /// go on trying the cores they know until one answers with keys.
    pub(crate) fn serves_tenants(&self) -> bool {
        self.with_unsealed(|unsealed| {
            Ok::<_, Error>(
                unsealed
                    .keyring()
                    .counts()
                    .get("opening")
                    .copied()
                    .unwrap_or(0)
                    == 0,
            )
        })
        .unwrap_or(false)
    }

    /// Completes when this core has lost its store to another core: it must stop serving.
    pub(crate) fn ownership_lost(&self) -> impl Future<Output = ()> + Send + 'static {
        self.store.ownership_lost()
    }
}

impl Health for Core {
    async fn readiness(&self) -> Readiness {
        match self.state() {
            Ok(State::Unsealed) => Readiness::ready(),
            Ok(State::Sealed | State::Unsealing) => Readiness::not_ready(
                "sealed",
                "the core is sealed: it serves no key until unsealed",
            ),
            Ok(State::Uninitialized) => Readiness::not_ready(
                "uninitialized",
                "the core has no master key yet: run kryptonctl init",
            ),
            Err(error) => Readiness::not_ready("internal", ErrorChain(&error).to_string()),
        }
    }

    fn observe(&self) {
        let now = self.state().ok();
        for (state, name) in [
            (State::Uninitialized, "uninitialized"),
            (State::Sealed, "sealed"),
            (State::Unsealing, "unsealing"),
            (State::Unsealed, "unsealed"),
        ] {
            let value = if now == Some(state) { 1.0 } else { 0.0 };
            metrics::gauge!("krypton_core_state", "state" => name).set(value);
        }
        let progress = self.unseal_progress().ok().flatten();
        #[allow(clippy::cast_precision_loss)] // at most 255 shares
        let received = progress.map_or(0.0, |progress| progress.received as f64);
        let needed = progress.map_or(0.0, |progress| f64::from(progress.threshold));
        metrics::gauge!("krypton_core_unseal_shares_received").set(received);
        metrics::gauge!("krypton_core_unseal_shares_needed").set(needed);
        // Sealed: no tenant has keys in memory, which the zero counts say.
        let counts = self
            .with_unsealed(|unsealed| Ok::<_, Error>(unsealed.keyring().counts()))
            .unwrap_or_default();
        for name in TenantState::NAMES {
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            let count = counts.get(name).copied().unwrap_or(0) as f64;
            metrics::gauge!("krypton_core_tenants", "state" => name).set(count);
        }
    }
}
