//! The control service: authenticates the caller, runs the operation on the [`Core`], and
//! translates between the wire messages and the core's types. It holds nothing but the core.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use krypton_service::doctor::{Finding, Level};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Response, Status};
use zeroize::Zeroizing;

use super::v1;
use crate::audit::{AuditRecord, Filter, MAX_AUDIT_PAGE, Operation, Verification};
use crate::caller::Caller;
use crate::core::{
    Core, GatewayRewrap, InstallationInfo, L1Move, L2Rotation, ServiceInfo, StatusReport,
    TenantInfo, UnsealOutcome, UnsealReport, VersionOf,
};
use crate::doctor;
use crate::error::{Bug, Error, ErrorChain};
use crate::hierarchy::{ServiceName, VersionChange, VersionState, tenant_id};
use crate::installation::SealKind;
use crate::orchestration::{Links, LinksReport};
use crate::reload::Reloader;
use crate::seal::{Progress, State};

/// Bytes of a backup per message.
const BACKUP_CHUNK_BYTES: usize = 1 << 20;
/// Backup messages read ahead of the client.
const BACKUP_CHUNKS_IN_FLIGHT: usize = 4;

/// Records returned when an audit log request names no limit.
const DEFAULT_AUDIT_PAGE: usize = 20;
/// Followed audit records sent ahead of a client that reads slowly.
const FOLLOWED_IN_FLIGHT: usize = 64;
/// How often a follow with nothing new checks that the core is still unsealed.
const FOLLOW_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves the control API from the [`Core`].
#[derive(Debug, Clone)]
pub(crate) struct ControlService {
    core: Arc<Core>,
    reloader: Arc<Reloader>,
    /// The orchestration links, for `status`.
    links: Arc<Links>,
    /// Besides root, the only user served: the one the core runs as.
    owner_uid: u32,
}

impl ControlService {
    pub(crate) fn new(core: Arc<Core>, reloader: Arc<Reloader>, links: Arc<Links>) -> Self {
        Self {
            core,
            reloader,
            links,
            owner_uid: nix::unistd::geteuid().as_raw(),
        }
    }

    /// The caller as the kernel reported it on the socket. The socket's mode already keeps
    /// other users out; this check holds even if the mode were widened by mistake.
    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let credentials = request
            .extensions()
            .get::<UdsConnectInfo>()
            .and_then(|info| info.peer_cred);
        let Some(credentials) = credentials else {
            return Err(Error::PermissionDenied {
                caller: "an unidentified peer".to_owned(),
            }
            .into());
        };
        let caller = Caller::LocalProcess {
            uid: credentials.uid(),
            pid: credentials.pid(),
        };
        if credentials.uid() == self.owner_uid || credentials.uid() == 0 {
            Ok(caller)
        } else {
            tracing::warn!(%caller, "control request from another user refused");
            Err(Error::PermissionDenied {
                caller: caller.to_string(),
            }
            .into())
        }
    }

    /// Runs a synchronous `operation` of the core on the blocking pool: it waits on disk syncs.
    async fn run<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&Core) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Status> {
        self.run_core(operation).await.map_err(Status::from)
    }

    /// [`run`](Self::run), the core's error as it is.
    async fn run_core<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&Core) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let core = Arc::clone(&self.core);
        tokio::task::spawn_blocking(move || operation(&core))
            .await
            .map_err(|join| Error::Internal(Bug::Task(join)))?
    }

    /// `result` of `operation` by `caller` on `subject`, a refusal recorded in the audit log
    /// with why: every decision of the core is in the log, the refused ones too.
    async fn recorded<T>(
        &self,
        operation: Operation,
        caller: &Caller,
        subject: Option<String>,
        result: Result<T, Error>,
    ) -> Result<T, Status> {
        if let Err(error) = &result {
            let reason = ErrorChain(error).to_string();
            self.core
                .record_refusal_later(operation, caller.clone(), subject, reason)
                .await;
        }
        result.map_err(Status::from)
    }
}

#[tonic::async_trait]
impl v1::control_server::Control for ControlService {
    async fn status(
        &self,
        request: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusResponse>, Status> {
        let caller = self.caller(&request)?;
        let report = self.run(move |core| core.status(&caller)).await?;
        Ok(Response::new(status_response(report, self.links.report())))
    }

    async fn init(
        &self,
        request: Request<v1::InitRequest>,
    ) -> Result<Response<v1::InitResponse>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        let threshold = small("threshold", request.threshold)?;
        let count = small("shares", request.shares)?;
        // On the PKCS#11 seal, init asks the seal HSM (each call bounded in time).
        let report = self.core.init(caller.clone(), threshold, count).await;
        let report = self
            .recorded(Operation::Init, &caller, None, report)
            .await?;
        Ok(Response::new(v1::InitResponse {
            shares: report
                .shares
                .iter()
                .map(|share| share.as_str().to_owned())
                .collect(),
            installation: Some(installation(&report.installation)),
        }))
    }

    async fn rekey(
        &self,
        request: Request<v1::RekeyRequest>,
    ) -> Result<Response<v1::RekeyResponse>, Status> {
        let caller = self.caller(&request)?;
        let mut request = request.into_inner();
        let threshold = small("threshold", request.threshold)?;
        let count = small("shares", request.shares)?;
        let current = parse_shares(&caller, std::mem::take(&mut request.current_shares))?;
        // On the PKCS#11 seal, the seal HSM seals the master key again (bounded in time).
        let to = match request.seal() {
            v1::SealType::Unspecified => None,
            v1::SealType::Shamir => Some(SealKind::Shamir),
            v1::SealType::Pkcs11 => Some(SealKind::Pkcs11),
        };
        let report = self
            .core
            .rekey(caller.clone(), current, (threshold, count), to)
            .await;
        let report = self
            .recorded(Operation::RekeyStart, &caller, None, report)
            .await?;
        Ok(Response::new(v1::RekeyResponse {
            shares: report
                .shares
                .iter()
                .map(|share| share.as_str().to_owned())
                .collect(),
            installation: Some(installation(&report.installation)),
        }))
    }

    async fn confirm_rekey(
        &self,
        request: Request<v1::ConfirmRekeyRequest>,
    ) -> Result<Response<v1::ConfirmRekeyResponse>, Status> {
        let caller = self.caller(&request)?;
        let mut request = request.into_inner();
        let new = parse_shares(&caller, std::mem::take(&mut request.new_shares))?;
        let by = caller.clone();
        let confirmed = self
            .run_core(move |core| core.confirm_rekey(&by, &new))
            .await;
        let (info, audit_sequence) = self
            .recorded(Operation::Rekey, &caller, None, confirmed)
            .await?;
        Ok(Response::new(v1::ConfirmRekeyResponse {
            installation: Some(installation(&info)),
            audit_sequence,
        }))
    }

    type BackupStream = ReceiverStream<Result<v1::BackupChunk, Status>>;

    async fn backup(
        &self,
        request: Request<v1::BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        let caller = self.caller(&request)?;
        let by = caller.clone();
        let file = self.run_core(move |core| core.backup(&by)).await;
        let file = self
            .recorded(Operation::Backup, &caller, None, file)
            .await?;
        let (chunks, stream) = tokio::sync::mpsc::channel(BACKUP_CHUNKS_IN_FLIGHT);
        // The file is read on a blocking thread, a chunk at a time, as fast as the client
        // takes them; it is deleted when closed.
        tokio::task::spawn_blocking(move || send_backup(file, &chunks));
        Ok(Response::new(ReceiverStream::new(stream)))
    }

    async fn unseal(
        &self,
        request: Request<v1::UnsealRequest>,
    ) -> Result<Response<v1::UnsealResponse>, Status> {
        let caller = self.caller(&request)?;
        let mut request = request.into_inner();
        let text = Zeroizing::new(std::mem::take(&mut request.share));
        let share = text.parse::<shamir::Share>().map_err(|refusal| {
            tracing::warn!(%caller, error = %refusal, "unseal share refused");
            self.core.note_refused_share(&caller, &refusal.to_string());
            Status::from(Error::from(refusal))
        })?;
        // An unseal re-opens every linked tenant before it returns, each bounded in time.
        let report = self.core.unseal(caller, share).await?;
        Ok(Response::new(unseal_response(report)))
    }

    async fn reset_unseal(
        &self,
        request: Request<v1::ResetUnsealRequest>,
    ) -> Result<Response<v1::ResetUnsealResponse>, Status> {
        let caller = self.caller(&request)?;
        let discarded = self.run(move |core| core.reset_unseal(&caller)).await?;
        Ok(Response::new(v1::ResetUnsealResponse {
            discarded: saturate(discarded),
        }))
    }

    async fn seal(
        &self,
        request: Request<v1::SealRequest>,
    ) -> Result<Response<v1::SealResponse>, Status> {
        let caller = self.caller(&request)?;
        let by = caller.clone();
        let sealed = self.run_core(move |core| core.seal(&by)).await;
        let audit_sequence = self
            .recorded(Operation::Seal, &caller, None, sealed)
            .await?;
        Ok(Response::new(v1::SealResponse { audit_sequence }))
    }

    async fn reload(
        &self,
        request: Request<v1::ReloadRequest>,
    ) -> Result<Response<v1::ReloadResponse>, Status> {
        let caller = self.caller(&request)?;
        tracing::warn!(%caller, "configuration reload asked on the control socket");
        let reloader = Arc::clone(&self.reloader);
        let unapplied = tokio::task::spawn_blocking(move || reloader.reload())
            .await
            .map_err(|join| Status::from(Error::Internal(Bug::Task(join))))??;
        Ok(Response::new(v1::ReloadResponse {
            restart_only_changes: unapplied.into_iter().map(str::to_owned).collect(),
        }))
    }

    async fn rotate_master_key(
        &self,
        request: Request<v1::RotateMasterKeyRequest>,
    ) -> Result<Response<v1::RotateMasterKeyResponse>, Status> {
        let caller = self.caller(&request)?;
        let rotated = self.core.rotate_master_key(caller.clone()).await;
        let (version, audit_sequence) = self
            .recorded(Operation::MasterKeyRotate, &caller, None, rotated)
            .await?;
        Ok(Response::new(v1::RotateMasterKeyResponse {
            version,
            audit_sequence,
        }))
    }

    async fn doctor(
        &self,
        request: Request<v1::DoctorRequest>,
    ) -> Result<Response<v1::DoctorResponse>, Status> {
        self.caller(&request)?;
        let config = self.reloader.path().to_owned();
        let mut findings = self
            .run(move |core| {
                let mut findings = vec![core.state_finding()];
                findings.extend(doctor::file_findings(&config, SystemTime::now()));
                Ok(findings)
            })
            .await?;
        findings.extend(self.core.hsm_findings().await);
        Ok(Response::new(v1::DoctorResponse {
            findings: findings.into_iter().map(finding).collect(),
        }))
    }

    async fn audit_log(
        &self,
        request: Request<v1::AuditLogRequest>,
    ) -> Result<Response<v1::AuditLogResponse>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        let limit = match request.limit {
            0 => DEFAULT_AUDIT_PAGE,
            limit => usize::try_from(limit).unwrap_or(usize::MAX),
        };
        let filter = audit_filter(request.filter)?;
        let (records, audit_sequence) = self
            .run(move |core| core.audit_log(&caller, request.from_sequence, limit, &filter))
            .await?;
        Ok(Response::new(v1::AuditLogResponse {
            records: records.into_iter().map(audit_record).collect(),
            audit_sequence,
        }))
    }

    type FollowAuditStream = ReceiverStream<Result<v1::AuditRecord, Status>>;

    async fn follow_audit(
        &self,
        request: Request<v1::FollowAuditRequest>,
    ) -> Result<Response<Self::FollowAuditStream>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        let filter = audit_filter(request.filter)?;
        let from = request.from_sequence;
        let (start, written) = self
            .run(move |core| core.follow_audit(&caller, from))
            .await?;
        let (records, stream) = tokio::sync::mpsc::channel(FOLLOWED_IN_FLIGHT);
        tokio::spawn(follow_audit(
            Arc::clone(&self.core),
            start,
            written,
            filter,
            records,
        ));
        Ok(Response::new(ReceiverStream::new(stream)))
    }

    async fn verify_audit(
        &self,
        request: Request<v1::VerifyAuditRequest>,
    ) -> Result<Response<v1::VerifyAuditResponse>, Status> {
        let caller = self.caller(&request)?;
        let from = request.into_inner().from_sequence;
        let (verdict, audit_sequence) = self
            .run(move |core| core.verify_audit(&caller, from))
            .await?;
        let mut response = v1::VerifyAuditResponse {
            audit_sequence,
            ..v1::VerifyAuditResponse::default()
        };
        match verdict {
            Verification::Intact { range, unchained } => {
                response.intact = true;
                (response.first_sequence, response.last_sequence) = range.unwrap_or_default();
                response.unchained = unchained;
            }
            Verification::Broken { sequence, reason } => {
                response.broken_sequence = sequence;
                response.reason = reason;
            }
        }
        Ok(Response::new(response))
    }

    async fn link_tenant(
        &self,
        request: Request<v1::LinkTenantRequest>,
    ) -> Result<Response<v1::LinkTenantResponse>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        let tenant = tenant_id(request.tenant)?;
        let subject = Some(tenant.to_string());
        let report = self
            .core
            .link(caller.clone(), tenant, request.l1_label)
            .await;
        let report = self
            .recorded(Operation::TenantLink, &caller, subject, report)
            .await?;
        Ok(Response::new(v1::LinkTenantResponse {
            relinked: report.relinked,
            audit_sequence: report.audit_sequence,
        }))
    }

    async fn unlink_tenant(
        &self,
        request: Request<v1::UnlinkTenantRequest>,
    ) -> Result<Response<v1::UnlinkTenantResponse>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        let tenant = tenant_id(request.tenant)?;
        let subject = Some(tenant.to_string());
        let operation = if request.destroy {
            Operation::TenantDestroy
        } else {
            Operation::TenantUnlink
        };
        let unlinked = self
            .core
            .unlink(caller.clone(), tenant, request.destroy)
            .await;
        let audit_sequence = self.recorded(operation, &caller, subject, unlinked).await?;
        Ok(Response::new(v1::UnlinkTenantResponse { audit_sequence }))
    }

    async fn list_tenants(
        &self,
        request: Request<v1::ListTenantsRequest>,
    ) -> Result<Response<v1::ListTenantsResponse>, Status> {
        let caller = self.caller(&request)?;
        let (tenants, audit_sequence) = self.core.tenants(caller).await?;
        Ok(Response::new(v1::ListTenantsResponse {
            tenants: tenants.into_iter().map(tenant).collect(),
            audit_sequence,
        }))
    }

    async fn create_service(
        &self,
        request: Request<v1::CreateServiceRequest>,
    ) -> Result<Response<v1::ServiceResponse>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        self.new_service_key(caller, request.tenant, request.service, false)
            .await
    }

    async fn rotate_service(
        &self,
        request: Request<v1::RotateServiceRequest>,
    ) -> Result<Response<v1::ServiceResponse>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        self.new_service_key(caller, request.tenant, request.service, true)
            .await
    }

    async fn list_services(
        &self,
        request: Request<v1::ListServicesRequest>,
    ) -> Result<Response<v1::ListServicesResponse>, Status> {
        let caller = self.caller(&request)?;
        let tenant = tenant_id(request.into_inner().tenant)?;
        let (services, audit_sequence) = self.core.services(caller, tenant).await?;
        Ok(Response::new(v1::ListServicesResponse {
            services: services.into_iter().map(service).collect(),
            audit_sequence,
        }))
    }

    async fn change_service_version(
        &self,
        request: Request<v1::ChangeServiceVersionRequest>,
    ) -> Result<Response<v1::ServiceResponse>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        let change = match request.change() {
            v1::VersionChange::Retire => VersionChange::Retire,
            v1::VersionChange::Reinstate => VersionChange::Reinstate,
            v1::VersionChange::Destroy => VersionChange::Destroy,
            v1::VersionChange::Unspecified => {
                return Err(Error::OutOfRange {
                    field: "change",
                    value: 0,
                    max: 3,
                }
                .into());
            }
        };
        let version = VersionOf {
            tenant: tenant_id(request.tenant)?,
            service: ServiceName::new(request.service)?,
            version: request.version,
        };
        let subject = Some(format!(
            "{}/{} v{}",
            version.tenant, version.service, version.version
        ));
        let operation = match change {
            VersionChange::Retire => Operation::ServiceVersionRetire,
            VersionChange::Reinstate => Operation::ServiceVersionReinstate,
            VersionChange::Destroy => Operation::ServiceVersionDestroy,
        };
        let changed = self
            .core
            .change_version(caller.clone(), version, change)
            .await;
        let (info, audit_sequence) = self.recorded(operation, &caller, subject, changed).await?;
        Ok(Response::new(v1::ServiceResponse {
            service: Some(service(info)),
            audit_sequence,
        }))
    }

    async fn move_tenant_l1(
        &self,
        request: Request<v1::MoveTenantL1Request>,
    ) -> Result<Response<v1::MoveTenantL1Response>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        let tenant = tenant_id(request.tenant)?;
        let L1Move {
            moved,
            previous_l1_label,
            audit_sequence,
        } = {
            let subject = Some(tenant.to_string());
            let moved = self
                .core
                .move_l1(caller.clone(), tenant, request.l1_label)
                .await;
            self.recorded(Operation::TenantMoveL1, &caller, subject, moved)
                .await?
        };
        Ok(Response::new(v1::MoveTenantL1Response {
            moved,
            previous_l1_label,
            audit_sequence,
        }))
    }

    async fn rotate_tenant_l2(
        &self,
        request: Request<v1::RotateTenantL2Request>,
    ) -> Result<Response<v1::RotateTenantL2Response>, Status> {
        let caller = self.caller(&request)?;
        let tenant = tenant_id(request.into_inner().tenant)?;
        let L2Rotation {
            version,
            audit_sequence,
        } = {
            let subject = Some(tenant.to_string());
            let rotated = self.core.rotate_l2(caller.clone(), tenant).await;
            self.recorded(Operation::TenantRotateL2, &caller, subject, rotated)
                .await?
        };
        Ok(Response::new(v1::RotateTenantL2Response {
            l2_version: version,
            audit_sequence,
        }))
    }
}

impl ControlService {
    async fn new_service_key(
        &self,
        caller: Caller,
        tenant: String,
        service_name: String,
        rotate: bool,
    ) -> Result<Response<v1::ServiceResponse>, Status> {
        let tenant = tenant_id(tenant)?;
        let name = ServiceName::new(service_name)?;
        let subject = Some(format!("{tenant}/{name}"));
        let operation = if rotate {
            Operation::ServiceRotate
        } else {
            Operation::ServiceCreate
        };
        let made = self
            .core
            .new_service_key(caller.clone(), tenant, name, rotate)
            .await;
        let (info, audit_sequence) = self.recorded(operation, &caller, subject, made).await?;
        Ok(Response::new(v1::ServiceResponse {
            service: Some(service(info)),
            audit_sequence,
        }))
    }
}

fn tenant(info: TenantInfo) -> v1::Tenant {
    let state = match info.state {
        "active" => v1::TenantState::Active,
        "opening" => v1::TenantState::Opening,
        "unavailable" => v1::TenantState::Unavailable,
        "unlinked" => v1::TenantState::Unlinked,
        _ => v1::TenantState::Unspecified,
    };
    v1::Tenant {
        tenant: info.tenant,
        l1_label: info.l1_label,
        state: state.into(),
        reason: info.reason,
        services: info.services,
        l2_version: info.l2_version,
        archived_l2_versions: info.archived_l2_versions,
    }
}

fn service(info: ServiceInfo) -> v1::Service {
    v1::Service {
        tenant: info.tenant,
        service: info.service,
        unique_identifier: info.unique_identifier,
        current_version: info.current_version,
        versions: info
            .versions
            .into_iter()
            .map(|(version, state)| v1::ServiceVersion {
                version,
                state: version_state(state).into(),
            })
            .collect(),
        rewrap: info.rewrap.into_iter().map(gateway_rewrap).collect(),
    }
}

fn gateway_rewrap(report: GatewayRewrap) -> v1::GatewayRewrap {
    v1::GatewayRewrap {
        gateway: report.gateway,
        pass_started_unix_secs: report.pass_started.unix_seconds(),
        reported_unix_secs: report.reported.unix_seconds(),
        behind: report
            .behind
            .into_iter()
            .map(|(version, records)| v1::VersionBehind { version, records })
            .collect(),
    }
}

/// A version's state on the control API.
pub(crate) fn version_state(state: VersionState) -> v1::ServiceVersionState {
    match state {
        VersionState::Active => v1::ServiceVersionState::Active,
        VersionState::DecryptOnly => v1::ServiceVersionState::DecryptOnly,
        VersionState::Retired => v1::ServiceVersionState::Retired,
        VersionState::Destroyed => v1::ServiceVersionState::Destroyed,
    }
}

/// Sends `file` to `chunks` until its end, the client goes away, or a read fails.
fn send_backup(
    mut file: std::fs::File,
    chunks: &tokio::sync::mpsc::Sender<Result<v1::BackupChunk, Status>>,
) {
    let mut buffer = vec![0u8; BACKUP_CHUNK_BYTES];
    loop {
        let chunk = match std::io::Read::read(&mut file, &mut buffer) {
            Ok(0) => return,
            Ok(len) => Ok(v1::BackupChunk {
                data: buffer[..len].to_vec(),
            }),
            Err(source) => Err(Status::from(Error::Io {
                context: "reading the backup file",
                source,
            })),
        };
        let failed = chunk.is_err();
        if chunks.blocking_send(chunk).is_err() || failed {
            return;
        }
    }
}

/// Parses shares typed by custodians; each text is wiped when parsed.
fn parse_shares(caller: &Caller, texts: Vec<String>) -> Result<Vec<shamir::Share>, Status> {
    texts
        .into_iter()
        .map(|text| {
            let text = Zeroizing::new(text);
            text.parse::<shamir::Share>().map_err(|refusal| {
                tracing::warn!(%caller, error = %refusal, "rekey share refused");
                Status::from(Error::from(refusal))
            })
        })
        .collect()
}

/// Share counts and thresholds travel as `uint32` but are at most 255.
fn small(field: &'static str, value: u32) -> Result<u8, Status> {
    u8::try_from(value).map_err(|_| {
        Status::from(Error::OutOfRange {
            field,
            value: value.into(),
            max: u8::MAX.into(),
        })
    })
}

fn saturate(value: impl TryInto<u32>) -> u32 {
    value.try_into().unwrap_or(u32::MAX)
}

fn state(state: State) -> v1::State {
    match state {
        State::Uninitialized => v1::State::Uninitialized,
        State::Sealed => v1::State::Sealed,
        State::Unsealing => v1::State::Unsealing,
        State::Unsealed => v1::State::Unsealed,
    }
}

fn progress(progress: Progress) -> v1::UnsealProgress {
    v1::UnsealProgress {
        received: saturate(progress.received),
        threshold: progress.threshold.into(),
        expires_in_secs: progress
            .deadline
            .saturating_duration_since(Instant::now())
            .as_secs(),
    }
}

fn installation(info: &InstallationInfo) -> v1::Installation {
    v1::Installation {
        key_set: info.key_set.to_string(),
        threshold: info.threshold.into(),
        shares: info.shares.into(),
        created_unix_secs: info.created_unix_secs,
        seal: info.seal.to_owned(),
    }
}

fn status_response(report: StatusReport, links: LinksReport) -> v1::StatusResponse {
    v1::StatusResponse {
        state: state(report.state).into(),
        progress: report.progress.map(progress),
        installation: report.installation.as_ref().map(installation),
        tenants_linked: saturate(report.tenants_linked),
        unavailable_tenants: report
            .unavailable
            .into_iter()
            .map(|(tenant, reason)| v1::UnavailableTenant {
                tenant: tenant.to_string(),
                reason,
            })
            .collect(),
        uptime_secs: report.uptime.as_secs(),
        audit_sequence: report.audit_sequence,
        auto_unseal_error: report.auto_unseal_error.unwrap_or_default(),
        master_key: report.master_key.map(|info| v1::MasterKey {
            version: info.version,
            retiring: info.retiring,
            resealed: info.resealed,
        }),
        orchestration: orchestration(links),
        follows: report.follows,
    }
}

/// The orchestration links; `None` when the core has none configured.
fn orchestration(links: LinksReport) -> Option<v1::Orchestration> {
    if links.grpc.is_none() && links.amqp_connected.is_none() {
        return None;
    }
    Some(v1::Orchestration {
        grpc_listen: links.grpc.map(|addr| addr.to_string()).unwrap_or_default(),
        amqp: links.amqp_connected.map(|connected| v1::AmqpLink {
            connected,
            backlog: links.amqp_backlog,
            last_task_id: links.last_task.as_ref().map(|t| t.task_id.clone()),
            last_task_type: links.last_task.as_ref().map(|t| t.kind.to_owned()),
            last_task_unix_secs: links.last_task.as_ref().and_then(|t| {
                t.at.duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs())
            }),
        }),
    })
}

fn unseal_response(report: UnsealReport) -> v1::UnsealResponse {
    let (state, progress, audit_sequence) = match report.outcome {
        UnsealOutcome::Progress(p) => (v1::State::Unsealing, Some(progress(p)), None),
        UnsealOutcome::Unsealed { audit_sequence } => {
            (v1::State::Unsealed, None, Some(audit_sequence))
        }
    };
    v1::UnsealResponse {
        state: state.into(),
        progress,
        audit_sequence,
        restarted_after_expiry: report.restarted_after_expiry,
    }
}

fn finding(finding: Finding) -> v1::Finding {
    let level = match finding.level {
        Level::Ok => v1::FindingLevel::Ok,
        Level::Warning => v1::FindingLevel::Warning,
        Level::Fail => v1::FindingLevel::Fail,
    };
    v1::Finding {
        check: finding.check,
        level: level.into(),
        message: finding.message,
    }
}

/// The records `filter` asks for; refuses an outcome that is neither `ok` nor `refused`.
fn audit_filter(filter: Option<v1::AuditFilter>) -> Result<Filter, Status> {
    let filter = filter.unwrap_or_default();
    if !["", "ok", "refused"].contains(&filter.outcome.as_str()) {
        return Err(Status::invalid_argument(
            "the outcome filter is \"ok\" or \"refused\"",
        ));
    }
    Ok(Filter {
        tenant: filter.tenant,
        caller: filter.caller,
        operation: filter.operation,
        outcome: filter.outcome,
    })
}

/// Sends `records` every record from `next` on that `filter` matches, as they are written,
/// until the client goes away or a read fails (the core sealed: the stream ends with why,
/// within [`FOLLOW_RECHECK`] at the latest).
async fn follow_audit(
    core: Arc<Core>,
    mut next: u64,
    mut written: tokio::sync::watch::Receiver<u64>,
    filter: Filter,
    records: tokio::sync::mpsc::Sender<Result<v1::AuditRecord, Status>>,
) {
    loop {
        // Marked seen before the reads: a record written during them wakes the next wait.
        written.borrow_and_update();
        loop {
            let page = core.followed_records(next, MAX_AUDIT_PAGE).await;
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    let _ = records.send(Err(Status::from(error))).await;
                    return;
                }
            };
            let full = page.len() == MAX_AUDIT_PAGE;
            for record in page {
                next = record.sequence + 1;
                if filter.matches(&record) && records.send(Ok(audit_record(record))).await.is_err()
                {
                    return;
                }
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            changed = written.changed() => if changed.is_err() { return },
            () = records.closed() => return,
            () = tokio::time::sleep(FOLLOW_RECHECK) => {}
        }
    }
}

fn audit_record(record: AuditRecord) -> v1::AuditRecord {
    v1::AuditRecord {
        sequence: record.sequence,
        time_unix_millis: record.entry.time_unix_millis,
        operation: record.entry.operation.name().to_owned(),
        caller: record.entry.caller,
        subject: record.entry.subject,
        refused: record.entry.refused,
        correlation: record.entry.correlation,
    }
}
