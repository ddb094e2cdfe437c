//! The orchestration API over gRPC: each call checked and turned into a [`Task`] or a desired
//! state, run on the [`Core`], and its outcome turned back into messages. Errors travel as on
//! the control API (a status with a typed detail).
//!
//! **Lane 0.** Every call but an unlink first takes a place among [`BUSY_LANE`] in flight; an
//! unlink takes none, and the transport's own limit is far above that lane, so an unlink is
//! served however many links are queued. The core wipes the tenant's keys before the unlink
//! waits for anything.

use std::sync::Arc;

use krypton_control_api::orchestration::v1;
use tokio::sync::{Semaphore, SemaphorePermit};
use tonic::{Request, Response, Status};

use super::desired::{self, DesiredState, DesiredTenant, MAX_TENANTS};
use super::listener::Orchestrator;
use crate::caller::{Caller, TaskId};
use crate::core::{Core, Task, TaskOutcome, TenantState};
use crate::error::{Bug, Error};
use crate::hierarchy::{ServiceName, VersionState, tenant_id};

/// Calls other than unlinks in flight at once; the rest wait for a place.
pub(super) const BUSY_LANE: usize = 32;
/// Requests one connection may have in flight: well above [`BUSY_LANE`], so unlinks always
/// find room.
pub(super) const MAX_CONCURRENT_PER_CONNECTION: usize = 4 * BUSY_LANE;
/// Services one desired tenant may name.
const MAX_SERVICES_PER_TENANT: usize = 1024;

/// Serves the orchestration API from the [`Core`].
#[derive(Debug, Clone)]
pub(super) struct OrchestrationService {
    core: Arc<Core>,
    busy: Arc<Semaphore>,
}

impl OrchestrationService {
    pub(super) fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            busy: Arc::new(Semaphore::new(BUSY_LANE)),
        }
    }

    /// The orchestrator the transport authenticated, carrying out `task_id` if not empty.
    fn caller<T>(request: &Request<T>, task_id: &str) -> Result<Caller, Status> {
        let Some(Orchestrator(identity)) = request.extensions().get::<Orchestrator>() else {
            return Err(Error::PermissionDenied {
                caller: "an unauthenticated peer".to_owned(),
            }
            .into());
        };
        let task = match task_id {
            "" => None,
            id => Some(TaskId::new(id).map_err(Error::InvalidName)?),
        };
        Ok(Caller::Orchestrator {
            identity: identity.to_string(),
            task,
        })
    }

    async fn busy_place(&self) -> Result<SemaphorePermit<'_>, Status> {
        self.busy
            .acquire()
            .await
            .map_err(|_| Status::from(Error::Internal(Bug::LockPoisoned)))
    }

    async fn run(&self, caller: Caller, task: Task) -> Result<Response<v1::TaskResult>, Status> {
        let kind = task.kind();
        let tenant = task.tenant().clone();
        let outcome = self.core.run_task(caller.clone(), task).await?;
        tracing::info!(%caller, %tenant, task = kind, changed = outcome.changed, note = outcome.note, "orchestration task done");
        Ok(Response::new(task_result(outcome)))
    }
}

#[tonic::async_trait]
impl v1::orchestration_server::Orchestration for OrchestrationService {
    async fn link_tenant(
        &self,
        request: Request<v1::LinkTenantRequest>,
    ) -> Result<Response<v1::TaskResult>, Status> {
        let caller = Self::caller(&request, &request.get_ref().task_id)?;
        let request = request.into_inner();
        let task = Task::Link {
            tenant: tenant_id(request.tenant)?,
            l1_label: request.l1_label,
        };
        let _place = self.busy_place().await?;
        self.run(caller, task).await
    }

    async fn unlink_tenant(
        &self,
        request: Request<v1::UnlinkTenantRequest>,
    ) -> Result<Response<v1::TaskResult>, Status> {
        let caller = Self::caller(&request, &request.get_ref().task_id)?;
        let request = request.into_inner();
        let task = Task::Unlink {
            tenant: tenant_id(request.tenant)?,
            destroy: request.destroy,
        };
        // Lane 0: no place taken.
        self.run(caller, task).await
    }

    async fn create_service(
        &self,
        request: Request<v1::ServiceRequest>,
    ) -> Result<Response<v1::TaskResult>, Status> {
        let caller = Self::caller(&request, &request.get_ref().task_id)?;
        let request = request.into_inner();
        let task = Task::CreateService {
            tenant: tenant_id(request.tenant)?,
            service: ServiceName::new(request.service)?,
        };
        let _place = self.busy_place().await?;
        self.run(caller, task).await
    }

    async fn rotate_service(
        &self,
        request: Request<v1::ServiceRequest>,
    ) -> Result<Response<v1::TaskResult>, Status> {
        let caller = Self::caller(&request, &request.get_ref().task_id)?;
        let request = request.into_inner();
        let task = Task::RotateService {
            tenant: tenant_id(request.tenant)?,
            service: ServiceName::new(request.service)?,
        };
        let _place = self.busy_place().await?;
        self.run(caller, task).await
    }

    async fn get_state(
        &self,
        request: Request<v1::GetStateRequest>,
    ) -> Result<Response<v1::StateResponse>, Status> {
        let caller = Self::caller(&request, "")?;
        let tenant = match request.into_inner().tenant {
            name if name.is_empty() => None,
            name => Some(tenant_id(name)?),
        };
        let _place = self.busy_place().await?;
        let (tenants, audit_sequence) = self.core.actual_state(caller, tenant).await?;
        let generation = self.core.applied_generation().await?;
        Ok(Response::new(v1::StateResponse {
            tenants: tenants.into_iter().map(tenant_message).collect(),
            generation,
            audit_sequence,
        }))
    }

    async fn apply_desired_state(
        &self,
        request: Request<v1::DesiredState>,
    ) -> Result<Response<v1::ApplyReport>, Status> {
        let caller = Self::caller(&request, "")?;
        let desired = desired_state(request.into_inner())?;
        let _place = self.busy_place().await?;
        let report = desired::apply(&self.core, &caller, desired).await?;
        tracing::warn!(
            %caller,
            generation = report.generation,
            changes = report.changes.len(),
            failures = report.failures.len(),
            "desired state applied"
        );
        Ok(Response::new(v1::ApplyReport {
            generation: report.generation,
            changes: report
                .changes
                .into_iter()
                .map(|c| v1::Change {
                    tenant: c.tenant,
                    action: c.action.to_owned(),
                    service: c.service,
                    audit_sequence: c.audit_sequence,
                })
                .collect(),
            failures: report
                .failures
                .into_iter()
                .map(|f| v1::Failure {
                    tenant: f.tenant,
                    action: f.action.to_owned(),
                    service: f.service,
                    reason: f.reason,
                })
                .collect(),
            audit_sequence: report.audit_sequence,
        }))
    }
}

fn task_result(outcome: TaskOutcome) -> v1::TaskResult {
    v1::TaskResult {
        changed: outcome.changed,
        audit_sequence: outcome.audit_sequence,
        note: outcome.note.to_owned(),
    }
}

fn tenant_message(state: TenantState) -> v1::Tenant {
    let info = state.tenant;
    let tenant_state = match info.state {
        "active" => v1::TenantState::Active,
        "opening" => v1::TenantState::Opening,
        "unavailable" => v1::TenantState::Unavailable,
        "unlinked" => v1::TenantState::Unlinked,
        _ => v1::TenantState::Unspecified,
    };
    v1::Tenant {
        tenant: info.tenant,
        l1_label: info.l1_label,
        state: tenant_state.into(),
        reason: info.reason,
        services: state
            .services
            .into_iter()
            .map(|s| v1::Service {
                service: s.service,
                unique_identifier: s.unique_identifier,
                current_version: s.current_version,
                versions: s
                    .versions
                    .into_iter()
                    .map(|(version, state)| v1::ServiceVersion {
                        version,
                        state: version_state(state).into(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn version_state(state: VersionState) -> v1::ServiceVersionState {
    match state {
        VersionState::Active => v1::ServiceVersionState::Active,
        VersionState::DecryptOnly => v1::ServiceVersionState::DecryptOnly,
        VersionState::Retired => v1::ServiceVersionState::Retired,
        VersionState::Destroyed => v1::ServiceVersionState::Destroyed,
    }
}

/// Checks a desired state: bounded, every name valid, no tenant twice.
fn desired_state(message: v1::DesiredState) -> Result<DesiredState, Error> {
    if message.tenants.len() > MAX_TENANTS {
        return Err(Error::OutOfRange {
            field: "tenants of a desired state",
            value: u64::try_from(message.tenants.len()).unwrap_or(u64::MAX),
            max: MAX_TENANTS as u64,
        });
    }
    let mut seen = std::collections::HashSet::new();
    let mut tenants = Vec::with_capacity(message.tenants.len());
    for tenant in message.tenants {
        if tenant.services.len() > MAX_SERVICES_PER_TENANT {
            return Err(Error::OutOfRange {
                field: "services of a desired tenant",
                value: u64::try_from(tenant.services.len()).unwrap_or(u64::MAX),
                max: MAX_SERVICES_PER_TENANT as u64,
            });
        }
        let id = tenant_id(tenant.tenant)?;
        if !seen.insert(id.clone()) {
            return Err(Error::OutOfRange {
                field: "times one tenant is named in a desired state",
                value: 2,
                max: 1,
            });
        }
        tenants.push(DesiredTenant {
            tenant: id,
            l1_label: tenant.l1_label,
            linked: tenant.linked,
            services: tenant
                .services
                .into_iter()
                .map(ServiceName::new)
                .collect::<Result<_, _>>()?,
        });
    }
    Ok(DesiredState {
        generation: message.generation,
        tenants,
    })
}
