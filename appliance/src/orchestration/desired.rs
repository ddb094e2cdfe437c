//! Applying a desired state: the whole set of tenants the governance plane wants this core to
//! serve, stamped with a generation. The core compares it with what it holds and converges:
//!
//! 1. **unlinks first** (tenants marked unlinked, and linked tenants the state does not name):
//!    the kill switch never waits behind a slow link;
//! 2. links and relinks (a tenant linked to another L1 is a failure: moving a tenant to a new
//!    L1 is a separate operation);
//! 3. missing services of tenants that are now active.
//!
//! Each step that fails is reported with its reason and the others go on. The generation is
//! recorded last, with a summary in the audit log; an older generation than the last recorded
//! is refused before anything changes. Applied twice, the second apply finds nothing to do.

use std::collections::HashMap;
use std::sync::Arc;

use crate::caller::Caller;
use crate::control::remote_message;
use crate::core::{Core, Task, TaskOutcome, TenantState};
use crate::error::Error;
use crate::hierarchy::ServiceName;
use crate::hsm::TenantId;

/// Most tenants one desired state may name.
pub(super) const MAX_TENANTS: usize = 10_000;

/// One tenant as the governance plane wants it.
#[derive(Debug, Clone)]
pub(super) struct DesiredTenant {
    pub(super) tenant: TenantId,
    pub(super) l1_label: String,
    pub(super) linked: bool,
    pub(super) services: Vec<ServiceName>,
}

/// The whole desired state.
#[derive(Debug, Clone)]
pub(super) struct DesiredState {
    pub(super) generation: u64,
    pub(super) tenants: Vec<DesiredTenant>,
}

/// A step the core took.
#[derive(Debug)]
pub(super) struct Change {
    pub(super) tenant: String,
    pub(super) action: &'static str,
    pub(super) service: String,
    pub(super) audit_sequence: u64,
}

/// A step that failed.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) tenant: String,
    pub(super) action: &'static str,
    pub(super) service: String,
    pub(super) reason: String,
}

/// What an apply did.
#[derive(Debug, Default)]
pub(super) struct ApplyReport {
    pub(super) generation: u64,
    pub(super) changes: Vec<Change>,
    pub(super) failures: Vec<Failure>,
    pub(super) audit_sequence: u64,
}

/// Converges the core to `desired` for `caller`.
pub(super) async fn apply(
    core: &Arc<Core>,
    caller: &Caller,
    desired: DesiredState,
) -> Result<ApplyReport, Error> {
    let applied = core.applied_generation().await?;
    if desired.generation < applied {
        return Err(Error::StaleGeneration {
            offered: desired.generation,
            applied,
        });
    }
    let (actual, _) = core.actual_state(caller.clone(), None).await?;
    let actual: HashMap<String, TenantState> = actual
        .into_iter()
        .map(|state| (state.tenant.tenant.clone(), state))
        .collect();
    let wanted: HashMap<&str, &DesiredTenant> = desired
        .tenants
        .iter()
        .map(|t| (t.tenant.as_str(), t))
        .collect();
    let mut report = ApplyReport {
        generation: desired.generation,
        ..ApplyReport::default()
    };

    // 1. The kill switch first.
    for (name, state) in &actual {
        let keep = wanted.get(name.as_str()).is_some_and(|t| t.linked);
        if !keep && state.tenant.state != "unlinked" {
            let tenant = TenantId::new(name.as_str()).map_err(Error::InvalidName)?;
            let task = Task::Unlink {
                tenant,
                destroy: false,
            };
            step(core, caller, &mut report, task, "unlink", "").await;
        }
    }
    // 2. Links, then 3. services.
    for want in desired.tenants.iter().filter(|t| t.linked) {
        let state = actual.get(want.tenant.as_str());
        if state.is_none_or(|s| s.tenant.state != "active") {
            let action = if state.is_some() { "relink" } else { "link" };
            let task = Task::Link {
                tenant: want.tenant.clone(),
                l1_label: want.l1_label.clone(),
            };
            if !step(core, caller, &mut report, task, action, "").await {
                continue;
            }
        } else if let Some(state) = state.filter(|s| s.tenant.l1_label != want.l1_label) {
            report.failures.push(Failure {
                tenant: want.tenant.to_string(),
                action: "link",
                service: String::new(),
                reason: format!(
                    "linked to L1 {:?}; moving a tenant to another L1 is not done by a desired state",
                    state.tenant.l1_label
                ),
            });
            continue;
        }
        for service in &want.services {
            let exists =
                state.is_some_and(|s| s.services.iter().any(|x| x.service == service.as_str()));
            if !exists {
                let task = Task::CreateService {
                    tenant: want.tenant.clone(),
                    service: service.clone(),
                };
                step(
                    core,
                    caller,
                    &mut report,
                    task,
                    "create-service",
                    service.as_str(),
                )
                .await;
            }
        }
    }
    let summary = format!(
        "changes={} failures={}",
        report.changes.len(),
        report.failures.len()
    );
    report.audit_sequence = core
        .record_generation(caller.clone(), desired.generation, summary)
        .await?;
    Ok(report)
}

/// Runs one step, recording it as a change or a failure; true if it did not fail.
async fn step(
    core: &Arc<Core>,
    caller: &Caller,
    report: &mut ApplyReport,
    task: Task,
    action: &'static str,
    service: &str,
) -> bool {
    let tenant = task.tenant().to_string();
    match core.run_task(caller.clone(), task).await {
        Ok(TaskOutcome {
            changed: true,
            audit_sequence: Some(audit_sequence),
            ..
        }) => {
            report.changes.push(Change {
                tenant,
                action,
                service: service.to_owned(),
                audit_sequence,
            });
            true
        }
        Ok(_) => true,
        Err(error) => {
            report.failures.push(Failure {
                tenant,
                action,
                service: service.to_owned(),
                reason: remote_message(&error),
            });
            false
        }
    }
}
