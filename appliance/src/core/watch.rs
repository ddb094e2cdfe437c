//! L1 liveness: the core re-checks each active tenant's L1 through the HSM on an interval, so
//! that a customer who deletes or disables the L1 (or an HSM that stays away) takes the
//! tenant's keys down without waiting for a restart.
//!
//! Each round probes every active tenant at once ([`crate::Hsm::probe_l1`]: the HSM re-opens
//! the stored wrapped L2, and the result is compared with the L2 in memory). A probe holds no
//! lock of the core while the HSM works, and each HSM wait is bounded, so a slow or hung HSM
//! never reaches the data path. The verdicts go through the policy of [`crate::liveness`]: a
//! refusal fails the tenant closed at once, an unreachable HSM after the grace. Failing closed
//! is a compare-and-set on the keyring against the ticket the probe began at, so a tenant
//! relinked or unlinked meanwhile keeps its newer state. It is logged and audited, and `tenant
//! list` shows the reason; a relink, once the L1 answers again, restores the tenant.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::Core;
use crate::audit::Operation;
use crate::caller::Caller;
use crate::error::{Error, ErrorChain};
use crate::hierarchy::{Origin, TenantState, Ticket};
use crate::hsm::{Hsm, L1Answer, TenantId};
use crate::liveness::{Decision, FailReason, LivenessConfig, TenantLiveness};

impl Core {
    /// Probes the L1 of every active tenant every `config.interval()`, for as long as the task
    /// runs (the daemon aborts it at shutdown). A round ends when all its probes have: a
    /// tenant is never probed twice at once. Returns at once without an HSM.
    pub(crate) async fn watch_l1s(self: Arc<Self>, config: LivenessConfig) {
        let Some(hsm) = self.hsm.clone() else {
            return;
        };
        let mut ticks = tokio::time::interval(config.interval());
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut runs: HashMap<TenantId, TenantLiveness> = HashMap::new();
        loop {
            ticks.tick().await;
            let targets =
                match self.with_unsealed(|unsealed| Ok::<_, Error>(unsealed.keyring().active())) {
                    Ok(targets) => targets,
                    // Sealed or not initialized: no tenant has keys to lose.
                    Err(_) => {
                        runs.clear();
                        continue;
                    }
                };
            // A tenant that left (unlinked, failed closed) starts afresh when it is back.
            runs.retain(|tenant, _| targets.iter().any(|(active, ..)| active == tenant));
            let mut probes = JoinSet::new();
            for (tenant, origin, ticket) in targets {
                probes.spawn(probe(hsm.clone(), tenant, origin, ticket));
            }
            while let Some(probed) = probes.join_next().await {
                match probed {
                    Ok((tenant, ticket, answer, at)) => {
                        let run = runs.entry(tenant.clone()).or_default();
                        self.judge(&tenant, ticket, answer, at, run, &config);
                    }
                    Err(join) => tracing::error!(error = %join, "an L1 probe task failed"),
                }
            }
        }
    }

    /// Takes the verdict on one probe and fails the tenant closed if the policy says so.
    fn judge(
        &self,
        tenant: &TenantId,
        ticket: Ticket,
        answer: L1Answer,
        at: Instant,
        run: &mut TenantLiveness,
        config: &LivenessConfig,
    ) {
        let judged: Result<_, Error> = self.with_unsealed(|unsealed| {
            let keyring = unsealed.keyring();
            // None: the tenant changed while the HSM answered; the answer is dropped.
            let Some(verdict) = keyring.verdict(tenant, ticket, answer) else {
                return Ok(None);
            };
            let Decision::FailClosed(reason) = run.observe(verdict, at, config.grace()) else {
                return Ok(None);
            };
            let state = TenantState::Unavailable(reason.to_string());
            if keyring.install(tenant, ticket, state).is_err() {
                return Ok(None);
            }
            let audited =
                self.audit_operation(unsealed, Operation::TenantFailClosed, &Caller::Core, {
                    Some(format!("{tenant}: {reason}"))
                });
            Ok(Some((reason, audited)))
        });
        match judged {
            Ok(Some((reason, audited))) => fail_closed_logged(tenant, reason, audited),
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%tenant, error = %ErrorChain(&error), "L1 probe dropped: the core is sealed");
            }
        }
    }
}

/// One probe of `tenant`'s L1, with the time it began: the time a probe spends timing out
/// counts as time the HSM was unreachable.
pub(super) async fn probe(
    hsm: Hsm,
    tenant: TenantId,
    origin: Origin,
    ticket: Ticket,
) -> (TenantId, Ticket, L1Answer, Instant) {
    let at = Instant::now();
    let answer = hsm.probe_l1(&origin.l1, &tenant, &origin.wrapped).await;
    (tenant, ticket, answer, at)
}

fn fail_closed_logged(tenant: &TenantId, reason: FailReason, audited: Result<u64, Error>) {
    match audited {
        Ok(sequence) => tracing::error!(
            %tenant, %reason, audit_sequence = sequence,
            "tenant failed closed: its L2 and L3s are wiped; relink it once the L1 answers"
        ),
        // The keys are gone either way: an audit write that fails does not keep them.
        Err(error) => tracing::error!(
            %tenant, %reason, audit_error = %ErrorChain(&error),
            "tenant failed closed (its keys are wiped), but the audit record was not written"
        ),
    }
}
