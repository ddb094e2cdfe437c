//! Delivering shred notices: telling the core which keys were destroyed, until it has heard.
//!
//! Destroy marks the key destroyed and queues its [`ShredNotice`] in one vault write, then
//! delivers the notice at once ([`deliver`]). When the core cannot be reached, the notice stays
//! queued, Destroy still succeeds, and the gateway itself refuses the key meanwhile (even a
//! copy of its record restored with the wrapped blob). The courier ([`run_courier`], one task
//! per gateway) delivers what is queued, backing off exponentially up to [`MAX_BACKOFF`] while
//! the core refuses or is away; a notice leaves the queue only once the core acknowledged it,
//! and from then on the core refuses every copy of the blob.

use std::time::Duration;

use crate::core_link::{CoreError, CoreLink};
use crate::error::ErrorChain;
use crate::vault::{ShredNotice, Vault, VaultError};

/// The most notices waiting for the core. Past it Destroy is refused, nothing changed, until the
/// core is back: a destroyed key the core has not heard of could be restored from a backup.
/// A notice is a few hundred bytes, so the bound keeps the queue within tens of megabytes.
pub(crate) const MAX_PENDING: usize = 100_000;

/// How many notices the courier reads from the vault at once.
const BATCH: usize = 64;
/// The courier's first wait after a failed round, doubled after each further one.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between rounds while the core is away.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often the courier looks for notices an immediate delivery left behind.
const IDLE: Duration = Duration::from_secs(10);

/// Why a notice was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum DeliveryError {
    /// The core was not told, or did not acknowledge.
    #[error("krypton-core did not acknowledge the destroyed key")]
    Core(#[from] CoreError),
    /// The core acknowledged, but the notice could not be removed from the queue: it will be
    /// delivered again, which the core acknowledges alike.
    #[error("the acknowledged notice stays queued")]
    Vault(#[from] VaultError),
}

/// Tells the core of `notice`'s destroyed key and, once it acknowledged, removes the notice
/// from the queue. Bounded by the core link's timeouts.
pub(crate) async fn deliver<V: Vault>(
    vault: &V,
    core: &CoreLink,
    notice: &ShredNotice,
) -> Result<(), DeliveryError> {
    core.shred(&notice.l3, &notice.owner, &notice.id).await?;
    vault.acknowledge_shred(&notice.owner, &notice.id).await?;
    tracing::info!(
        owner = %notice.owner,
        key = %notice.id,
        "krypton-core acknowledged the destroyed key: its wrapped blob never unwraps again"
    );
    Ok(())
}

/// Delivers queued notices until the task is aborted (at shutdown: a notice is removed only
/// after the core acknowledged it, so stopping anywhere loses nothing).
pub(crate) async fn run_courier<V: Vault>(vault: &V, core: &CoreLink) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match deliver_round(vault, core).await {
            Round::Drained => {
                backoff = MIN_BACKOFF;
                tokio::time::sleep(IDLE).await;
            }
            Round::More => backoff = MIN_BACKOFF,
            Round::Failed => {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
            }
        }
    }
}

/// What one round of the courier achieved.
enum Round {
    /// Nothing is queued any more.
    Drained,
    /// A full batch was delivered: more may be queued.
    More,
    /// A notice was not delivered, or the queue could not be read.
    Failed,
}

/// Delivers the first [`BATCH`] queued notices, each on its own: one the core refuses does not
/// hold back the others.
async fn deliver_round<V: Vault>(vault: &V, core: &CoreLink) -> Round {
    let notices = match vault.pending_shreds(BATCH).await {
        Ok(notices) => notices,
        Err(error) => {
            tracing::error!(error = %ErrorChain(&error), "cannot read the queue of destroyed keys");
            return Round::Failed;
        }
    };
    let mut failed = false;
    for notice in &notices {
        if let Err(error) = deliver(vault, core, notice).await {
            failed = true;
            tracing::warn!(
                owner = %notice.owner,
                key = %notice.id,
                error = %ErrorChain(&error),
                "destroyed key not yet acknowledged by krypton-core; retrying with backoff"
            );
        }
    }
    match (failed, notices.len()) {
        (true, _) => Round::Failed,
        (false, BATCH) => Round::More,
        (false, _) => Round::Drained,
    }
}
