//! What `kryptonctl doctor` asks of the core itself: its lifecycle state, the customer's HSM and
//! each linked tenant's L1, and the seal HSM. Read-only: a probe that finds an L1 gone reports
//! it and leaves failing the tenant closed to [`super::watch`]. Every HSM wait is bounded by
//! its call timeout, so a hung HSM makes the report slow, never stuck.

use std::time::Instant;

use krypton_service::ErrorChain;
use krypton_service::doctor::Finding;
use tokio::task::JoinSet;

use super::Core;
use super::watch::probe;
use crate::error::Error;
use crate::hierarchy::{Origin, Ticket};
use crate::hsm::{Hsm, Probe, TenantId};
use crate::seal::{Lifecycle, State};
use crate::store::Column;

impl Core {
    /// The lifecycle state as a finding: anything but unsealed serves no key, so it fails.
    /// Blocks on a store read.
    pub(crate) fn state_finding(&self) -> Finding {
        const CHECK: &str = "state";
        let linked = match self.store.count(Column::Tenants) {
            Ok(linked) => linked,
            Err(error) => return Finding::fail(CHECK, ErrorChain(&error).to_string()),
        };
        let state = match self.read() {
            Ok(lifecycle) => match &*lifecycle {
                // An attempt past its deadline is already forgotten, as status reports it.
                Lifecycle::Unsealing(attempt) if !attempt.is_expired(Instant::now()) => {
                    let progress = attempt.progress();
                    return Finding::fail(
                        CHECK,
                        format!(
                            "unsealing: {} of {} shares entered; no key is served until unsealed",
                            progress.received, progress.threshold
                        ),
                    );
                }
                Lifecycle::Unsealing(_) => State::Sealed,
                other => other.state(),
            },
            Err(error) => return Finding::fail(CHECK, ErrorChain(&error).to_string()),
        };
        match state {
            State::Unsealed => Finding::ok(CHECK, format!("unsealed; tenants linked: {linked}")),
            State::Uninitialized => {
                Finding::fail(CHECK, "uninitialized: no master key yet (kryptonctl init)")
            }
            State::Sealed | State::Unsealing => Finding::fail(
                CHECK,
                match self.auto_unseal_failure() {
                    Some(why) => format!("sealed: auto-unseal failing, retrying: {why}"),
                    None => "sealed: no key is served until K custodians unseal it".to_owned(),
                },
            ),
        }
    }

    /// The customer's HSM and, while unsealed, every linked tenant's L1; and the seal HSM, at
    /// the same time: each waits its own call timeouts.
    pub(crate) async fn hsm_findings(&self) -> Vec<Finding> {
        let customer = async {
            match &self.hsm {
                None => vec![Finding::warning(
                    "hsm",
                    "no [pkcs11] configured: no tenant can be linked",
                )],
                Some(hsm) => self.l1_findings(hsm).await,
            }
        };
        let seal = async {
            let seal = self.seal.as_ref()?;
            Some(match seal.check().await {
                Ok(key) => Finding::ok("seal", format!("seal HSM answers, key {key} present")),
                Err(error) => Finding::fail("seal", ErrorChain(&error).to_string()),
            })
        };
        let (mut findings, seal) = tokio::join!(customer, seal);
        findings.extend(seal);
        findings
    }

    /// Whether the token answers; while unsealed, a probe of each active tenant's L1 (as the
    /// liveness watch makes it) and the tenants already unavailable.
    async fn l1_findings(&self, hsm: &Hsm) -> Vec<Finding> {
        if let Err(error) = hsm.check_token().await {
            return vec![Finding::fail("hsm", ErrorChain(&error).to_string())];
        }
        let Ok((targets, unavailable)) = self.with_unsealed(|unsealed| {
            let keyring = unsealed.keyring();
            Ok::<_, Error>((keyring.active(), keyring.unavailable()))
        }) else {
            return vec![Finding::ok(
                "hsm",
                "the token answers; tenants' L1s are checked once unsealed",
            )];
        };
        let mut findings: Vec<Finding> = unavailable
            .into_iter()
            .map(|(tenant, reason)| {
                Finding::fail(format!("tenant {tenant}"), format!("unavailable: {reason}"))
            })
            .collect();
        let present = self.probe_l1s(hsm, targets, &mut findings).await;
        findings.insert(
            0,
            Finding::ok("hsm", format!("the token answers, {present} L1s present")),
        );
        findings
    }

    /// Probes every tenant of `targets` at once; returns how many L1s answered as they should,
    /// and adds a failure to `findings` for each that did not.
    async fn probe_l1s(
        &self,
        hsm: &Hsm,
        targets: Vec<(TenantId, Origin, Ticket)>,
        findings: &mut Vec<Finding>,
    ) -> usize {
        let mut probes = JoinSet::new();
        for (tenant, origin, ticket) in targets {
            probes.spawn(probe(hsm.clone(), tenant, origin, ticket));
        }
        let mut present = 0;
        while let Some(probed) = probes.join_next().await {
            let (tenant, ticket, answer, _) = match probed {
                Ok(probed) => probed,
                Err(join) => {
                    findings.push(Finding::warning(
                        "hsm",
                        format!("an L1 probe failed: {join}"),
                    ));
                    continue;
                }
            };
            // None: the tenant changed while the HSM answered (unlinked, relinked).
            let verdict = self.with_unsealed(|unsealed| {
                Ok::<_, Error>(unsealed.keyring().verdict(&tenant, ticket, answer))
            });
            match verdict {
                Ok(Some(Probe::Alive)) => present += 1,
                Ok(Some(failed)) => {
                    findings.push(Finding::fail(
                        format!("tenant {tenant}"),
                        format!("L1 {failed}"),
                    ));
                }
                Ok(None) | Err(_) => {}
            }
        }
        present
    }
}
