//! The orchestrator's tasks: link, unlink, create and rotate a service, each taking effect at
//! most once per task id, and the state reads and generation record that applying a desired
//! state needs.
//!
//! A task with an id is looked up first: the audit record of its effect was indexed by that id
//! in the same write as the effect ([`crate::audit::TaskDone`]), so a task delivered again,
//! even after a crash between the effect and the broker's acknowledgement, acts no more. A
//! task is also judged by the state it aims at: linking a tenant already linked to that L1,
//! creating a service that exists, or unlinking a tenant not linked here changes nothing and
//! succeeds, which is what keeps desired-state convergence idempotent.

use std::sync::Arc;
use std::time::Duration;

use super::{Core, ServiceInfo, TenantInfo};
use crate::audit::{AuditLog, Operation};
use crate::caller::Caller;
use crate::error::Error;
use crate::hierarchy::ServiceName;
use crate::hsm::TenantId;
use crate::store::Column;

/// Where the generation of the last desired state applied is kept, in [`Column::Tasks`]: no
/// task id starts with a control character, so it is never taken for a task.
const GENERATION_KEY: &[u8] = b"\0generation";
/// Task ids read per write when old ones are forgotten.
const PRUNE_PAGE: usize = 1024;

/// An orchestration task, as both transports carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Task {
    /// `LINK_KEY`: link (or relink) `tenant` to the L1 labelled `l1_label`.
    Link { tenant: TenantId, l1_label: String },
    /// `UNLINK_KEY`, the kill switch; with `destroy`, the tenant's wrapped keys are deleted.
    Unlink { tenant: TenantId, destroy: bool },
    /// `CREATE_SERVICE`: a service key (L3) for the tenant.
    CreateService {
        tenant: TenantId,
        service: ServiceName,
    },
    /// `ROTATE_SERVICE`: a new version of a service key.
    RotateService {
        tenant: TenantId,
        service: ServiceName,
    },
}

impl Task {
    /// The task type, as the task schema names it.
    pub(crate) const fn kind(&self) -> &'static str {
        match self {
            Self::Link { .. } => "LINK_KEY",
            Self::Unlink { .. } => "UNLINK_KEY",
            Self::CreateService { .. } => "CREATE_SERVICE",
            Self::RotateService { .. } => "ROTATE_SERVICE",
        }
    }

    /// The control operation the task is, as the audit log names it.
    const fn operation(&self) -> Operation {
        match self {
            Self::Link { .. } => Operation::TenantLink,
            Self::Unlink { destroy: false, .. } => Operation::TenantUnlink,
            Self::Unlink { destroy: true, .. } => Operation::TenantDestroy,
            Self::CreateService { .. } => Operation::ServiceCreate,
            Self::RotateService { .. } => Operation::ServiceRotate,
        }
    }

    /// What the task is about, as the audit log names it: `acme`, `acme/payments`.
    fn subject(&self) -> String {
        match self {
            Self::Link { tenant, .. } | Self::Unlink { tenant, .. } => tenant.to_string(),
            Self::CreateService { tenant, service } | Self::RotateService { tenant, service } => {
                format!("{tenant}/{service}")
            }
        }
    }

    /// The tenant the task is about.
    pub(crate) const fn tenant(&self) -> &TenantId {
        match self {
            Self::Link { tenant, .. }
            | Self::Unlink { tenant, .. }
            | Self::CreateService { tenant, .. }
            | Self::RotateService { tenant, .. } => tenant,
        }
    }
}

/// What a task did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskOutcome {
    /// The task changed the state; `false`: the state was already what the task aims at.
    pub(crate) changed: bool,
    /// The audit record of the change, now or when the same task id first took effect.
    pub(crate) audit_sequence: Option<u64>,
    /// In a few words, what happened.
    pub(crate) note: &'static str,
}

impl TaskOutcome {
    const fn changed(audit_sequence: u64, note: &'static str) -> Self {
        Self {
            changed: true,
            audit_sequence: Some(audit_sequence),
            note,
        }
    }

    const fn unchanged(note: &'static str) -> Self {
        Self {
            changed: false,
            audit_sequence: None,
            note,
        }
    }
}

/// A tenant's actual state, with its services.
#[derive(Debug)]
pub(crate) struct TenantState {
    pub(crate) tenant: TenantInfo,
    pub(crate) services: Vec<ServiceInfo>,
}

impl Core {
    /// Carries out `task` for `caller`, once per task id. A refusal is recorded in the audit
    /// log with why, as the control socket's are; a sealed core is not a refusal (the task
    /// waits for the unseal).
    pub(crate) async fn run_task(
        self: &Arc<Self>,
        caller: Caller,
        task: Task,
    ) -> Result<TaskOutcome, Error> {
        let (operation, subject) = (task.operation(), task.subject());
        let outcome = self.carry_out(caller.clone(), task).await;
        if let Err(error) = &outcome
            && !matches!(error, Error::Sealed | Error::Uninitialized)
        {
            let reason = crate::error::ErrorChain(error).to_string();
            self.record_refusal_later(operation, caller, Some(subject), reason)
                .await;
        }
        outcome
    }

    /// [`run_task`](Self::run_task) without its record of a refusal.
    async fn carry_out(self: &Arc<Self>, caller: Caller, task: Task) -> Result<TaskOutcome, Error> {
        if let Some(id) = caller.task().cloned() {
            let done = self
                .unsealed(move |core, unsealed| {
                    AuditLog::task(&core.store, unsealed.records(), &id)
                })
                .await?;
            if let Some(done) = done {
                return Ok(TaskOutcome {
                    changed: false,
                    audit_sequence: Some(done.sequence),
                    note: "this task already took effect",
                });
            }
        }
        match task {
            Task::Link { tenant, l1_label } => match self.link(caller, tenant, l1_label).await {
                Ok(report) if report.relinked => {
                    Ok(TaskOutcome::changed(report.audit_sequence, "relinked"))
                }
                Ok(report) => Ok(TaskOutcome::changed(report.audit_sequence, "linked")),
                Err(Error::TenantLinked(_)) => Ok(TaskOutcome::unchanged("already linked")),
                Err(error) => Err(error),
            },
            Task::Unlink { tenant, destroy } => match self.unlink(caller, tenant, destroy).await {
                Ok(sequence) if destroy => Ok(TaskOutcome::changed(sequence, "destroyed")),
                Ok(sequence) => Ok(TaskOutcome::changed(sequence, "unlinked")),
                Err(Error::TenantNotFound(_)) => Ok(TaskOutcome::unchanged("not linked here")),
                Err(error) => Err(error),
            },
            Task::CreateService { tenant, service } => {
                match self.new_service_key(caller, tenant, service, false).await {
                    Ok((_, sequence)) => Ok(TaskOutcome::changed(sequence, "created")),
                    Err(Error::ServiceExists { .. }) => {
                        Ok(TaskOutcome::unchanged("already exists"))
                    }
                    Err(error) => Err(error),
                }
            }
            Task::RotateService { tenant, service } => self
                .new_service_key(caller, tenant, service, true)
                .await
                .map(|(_, sequence)| TaskOutcome::changed(sequence, "rotated")),
        }
    }

    /// The actual state of `tenant`, or of every tenant when `None`, with their services.
    pub(crate) async fn actual_state(
        self: &Arc<Self>,
        caller: Caller,
        tenant: Option<TenantId>,
    ) -> Result<(Vec<TenantState>, u64), Error> {
        self.unsealed(move |core, unsealed| {
            let mut states = Vec::new();
            for info in core.tenant_infos(unsealed)? {
                if tenant.as_ref().is_some_and(|t| t.as_str() != info.tenant) {
                    continue;
                }
                let id = TenantId::new(info.tenant.as_str()).map_err(Error::InvalidName)?;
                let services = core.service_infos(unsealed.records(), &id)?;
                states.push(TenantState {
                    tenant: info,
                    services,
                });
            }
            if let (Some(tenant), true) = (tenant.as_ref(), states.is_empty()) {
                return Err(Error::TenantNotFound(tenant.clone()));
            }
            let subject = tenant.map(|t| t.to_string());
            let sequence =
                core.audit_operation(unsealed, Operation::StateRead, &caller, subject)?;
            Ok((states, sequence))
        })
        .await
    }

    /// Forgets the task ids remembered longer than `retention`; returns how many.
    pub(crate) async fn prune_tasks(self: &Arc<Self>, retention: Duration) -> Result<usize, Error> {
        self.unsealed(move |core, unsealed| {
            AuditLog::prune_tasks(&core.store, unsealed.records(), retention, PRUNE_PAGE)
        })
        .await
    }

    /// The generation of the last desired state applied; 0 before any.
    pub(crate) async fn applied_generation(self: &Arc<Self>) -> Result<u64, Error> {
        self.unsealed(|core, unsealed| {
            Ok(core
                .store
                .get_sealed(unsealed.records(), Column::Tasks, GENERATION_KEY)?
                .unwrap_or(0))
        })
        .await
    }

    /// Records that desired state `generation` was applied, with `summary` in the audit log;
    /// refuses a generation older than the last one recorded.
    pub(crate) async fn record_generation(
        self: &Arc<Self>,
        caller: Caller,
        generation: u64,
        summary: String,
    ) -> Result<u64, Error> {
        let _admin = self.admin().await?;
        self.unsealed(move |core, unsealed| {
            let key = unsealed.records();
            let applied: u64 = core
                .store
                .get_sealed(key, Column::Tasks, GENERATION_KEY)?
                .unwrap_or(0);
            if generation < applied {
                return Err(Error::StaleGeneration {
                    offered: generation,
                    applied,
                });
            }
            let mut batch = core.store.batch(key);
            batch.put_sealed(Column::Tasks, GENERATION_KEY, &generation)?;
            core.audit.stage_about(
                &mut batch,
                Operation::DesiredStateApply,
                &caller,
                Some(format!("generation={generation} {summary}")),
            )?;
            let sequence = batch.commit_audited()?;
            Ok(sequence)
        })
        .await
    }
}
