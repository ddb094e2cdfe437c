//! kryptonctl: the operators' tool for krypton-core.
//!
//! Every command is one call on the core's control socket. Output is for people unless
//! `--json` is given; errors are one line on stderr and a distinct exit code (see `--help`).

mod clock;
mod failure;
mod output;
mod shares;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use krypton_control_api::{self as control, ControlClient, v1};
use krypton_service::doctor::{Finding, Level};

use crate::failure::Failure;
use crate::output::Output;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  internal error in the core, or an answer kryptonctl does not understand
  2  usage error: bad arguments, or values the core refused as out of range
  3  the core cannot be reached on its control socket, or the connection broke before it answered
  4  the core's state does not allow this (sealed, uninitialized, already initialized, already unsealed,
     a recovery share offered to unseal a core on the PKCS#11 seal, no rekey to confirm, a master-key
     rotation while the previous version is still being retired, too many keys in guarded memory, a
     service key version whose state does not allow the change)
  5  share refused and not counted (mistyped, from another installation, entered twice)
  6  wrong shares: the threshold was reached but they do not rebuild the master key; still sealed
  7  a stored record failed authentication: tampering; the record was not served (audit verify:
     a record of the audit log is not as the core wrote it)
  8  permission denied on the control socket
  9  local file or terminal error (share file, share directory, prompt)
 10  no such tenant, service or service key version
 11  conflict: the tenant is already linked, the service exists, or a relink names another L1
 12  the tenant is unavailable (unlinked, or its L1 refused by the HSM)
 13  the HSM refused or failed (L1 not found or not usable, token down, no [pkcs11] configured)
 14  reload: the configuration file is unusable; the core keeps the configuration it runs with
 15  doctor: at least one check failed (each is a FAIL line)";

/// Operate a krypton-core appliance.
#[derive(Debug, Parser)]
#[command(name = "kryptonctl", version, after_help = EXIT_CODES)]
struct Cli {
    /// The core's control socket.
    #[arg(long, global = true, default_value = "/run/krypton/control.sock")]
    socket: PathBuf,
    /// Print machine-readable JSON (errors too, on stderr).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate the master key and split it into shares. Once per installation; the shares are
    /// shown once.
    Init(InitArgs),
    /// Submit one share towards unsealing (prompted without echo unless --share-file).
    Unseal(UnsealArgs),
    /// Replace the shares (optionally with a new K and N), authorized by K current shares.
    /// The current shares keep working until `rekey --confirm` with K of the new ones.
    Rekey(RekeyArgs),
    /// Write a consistent backup of the core's store, taken while it serves, to FILE (a new
    /// file, mode 0600). It holds no key in plaintext: restoring it needs the same shares or
    /// seal key (`krypton-core restore`).
    Backup {
        /// The file to create.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Zeroize the master key and every key derived from it.
    Seal,
    /// Read the configuration file again and apply its KMIP TLS files and gateways, without a
    /// restart (the core stays unsealed); a file with any error changes nothing.
    Reload,
    /// Show the state, unseal progress, master key version, linked tenants and uptime.
    Status,
    /// Rotate the master key's record key.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
    /// Check the installation end to end and print one line per check: ok, warn or FAIL.
    ///
    /// The core checks its state, its configuration file, data directory, PIN files and KMIP
    /// TLS files (permissions, certificates' and CRLs' dates: a warning 30 days before a
    /// certificate ends), the HSM token, each linked tenant's L1, and the seal HSM; kryptonctl
    /// adds the clock's synchronisation as this host's kernel reports it. Exits 15 when a
    /// check fails; warnings alone exit 0. Works while sealed. The gateway's own files, its
    /// vault and its link to the core are checked on the gateway's host with
    /// `krypton-gateway check --config FILE`.
    Doctor,
    /// Read the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Link, unlink, list and move tenants (each tenant's root key L2 is wrapped by its L1 in the
    /// HSM).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Create, rotate, list, retire and destroy a tenant's service keys (L3) and their versions.
    #[command(subcommand)]
    Service(ServiceCommand),
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Link TENANT to its L1 key in the HSM; relinks an unlinked tenant with the same L1.
    Link {
        tenant: String,
        /// The CKA_LABEL of the tenant's AES-256 key in the configured HSM token.
        #[arg(long, value_name = "LABEL")]
        l1: String,
    },
    /// The kill switch: zeroize TENANT's keys now; every wrap and unwrap for it fails.
    Unlink {
        tenant: String,
        /// Also delete its wrapped keys: IRREVERSIBLE, nothing wrapped for it opens again.
        #[arg(long)]
        destroy: bool,
        /// Confirms --destroy.
        #[arg(long, requires = "destroy")]
        yes: bool,
    },
    /// List the tenants and their state.
    List,
    /// Move TENANT to another L1 in the same HSM token (the customer replaced its root key):
    /// its L2 is wrapped by the new L1, checked, and stored; the old L1 may then be deleted.
    MoveL1 {
        tenant: String,
        /// The CKA_LABEL of the new AES-256 key in the configured HSM token.
        #[arg(long, value_name = "LABEL")]
        l1: String,
    },
    /// Give TENANT a new L2, wrapped by the same L1: its service keys are sealed under it at
    /// once, its registry objects re-sealed in the background, then the old L2 is destroyed.
    RotateL2 { tenant: String },
}

#[derive(Debug, Subcommand)]
enum MasterKeyCommand {
    /// Make a new version of the key that seals the core's records: it seals every write from
    /// now on, the core re-seals older records in the background and then retires the old
    /// version (`status` shows it). The shares and the seal HSM's key stay as they are.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Create service SERVICE of TENANT with a new random key.
    Create { tenant: String, service: String },
    /// Add a key version for new wraps; older versions still unwrap.
    Rotate { tenant: String, service: String },
    /// List TENANT's services, each with its versions' states.
    List { tenant: String },
    /// What each gateway's last re-wrap pass left under the older versions of SERVICE (as
    /// reported to the core since it started): retire a version once every gateway of the
    /// service reports nothing behind after a pass that began after the rotation.
    RewrapStatus { tenant: String, service: String },
    /// Retire a decrypt-only version: every blob under it is refused from now on (check first
    /// that the gateways re-wrapped their records: `service rewrap-status`).
    Retire {
        tenant: String,
        service: String,
        #[arg(long)]
        version: u32,
    },
    /// Make a retired version decrypt-only again.
    Reinstate {
        tenant: String,
        service: String,
        #[arg(long)]
        version: u32,
    },
    /// Destroy a retired version: IRREVERSIBLE, nothing wrapped under it opens again.
    DestroyVersion {
        tenant: String,
        service: String,
        #[arg(long)]
        version: u32,
        /// Confirms the destruction.
        #[arg(long)]
        yes: bool,
    },
}

/// Which audit records to show.
#[derive(Debug, Args)]
struct AuditFilterArgs {
    /// Only records about TENANT (and its services).
    #[arg(long)]
    tenant: Option<String>,
    /// Only records whose caller contains this text (e.g. `uid=0`, an orchestrator's name).
    #[arg(long)]
    caller: Option<String>,
    /// Only records of this operation (e.g. `tenant-unlink`, `kmip-get`).
    #[arg(long)]
    operation: Option<String>,
    /// Only records of this outcome.
    #[arg(long, value_parser = ["ok", "refused"])]
    outcome: Option<String>,
}

impl From<AuditFilterArgs> for v1::AuditFilter {
    fn from(args: AuditFilterArgs) -> Self {
        Self {
            tenant: args.tenant.unwrap_or_default(),
            caller: args.caller.unwrap_or_default(),
            operation: args.operation.unwrap_or_default(),
            outcome: args.outcome.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Args)]
struct InitArgs {
    /// How many shares to create (N).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=255))]
    shares: u32,
    /// How many shares unseal the core (K).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=255))]
    threshold: u32,
    /// Write each share to DIR/share-<i>.txt (mode 0600) instead of printing it.
    #[arg(long, value_name = "DIR")]
    share_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RekeyArgs {
    /// A share file: of a current share (repeat it K times), or with --confirm of a new one.
    #[arg(long = "share-file", value_name = "FILE", required = true)]
    share_files: Vec<PathBuf>,
    /// How many new shares to create (N).
    #[arg(long, required_unless_present = "confirm", conflicts_with = "confirm",
          value_parser = clap::value_parser!(u32).range(2..=255))]
    shares: Option<u32>,
    /// How many new shares will unseal the core (K).
    #[arg(long, required_unless_present = "confirm", conflicts_with = "confirm",
          value_parser = clap::value_parser!(u32).range(2..=255))]
    threshold: Option<u32>,
    /// Write each new share to DIR/share-<i>.txt (mode 0600) instead of printing it.
    #[arg(long, value_name = "DIR", conflicts_with = "confirm")]
    share_dir: Option<PathBuf>,
    /// Move the installation to this seal (default: its own): `pkcs11` needs the seal HSM
    /// configured; the new shares are then recovery shares.
    #[arg(long, value_enum, conflicts_with = "confirm")]
    seal: Option<SealArg>,
    /// Put the new shares in force: the share files are K of the new shares.
    #[arg(long)]
    confirm: bool,
}

/// The seals a rekey can move an installation to.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SealArg {
    Shamir,
    Pkcs11,
}

#[derive(Debug, Args)]
struct UnsealArgs {
    /// Read the share from FILE ("-" for standard input) instead of prompting.
    #[arg(long, value_name = "FILE", conflicts_with = "reset")]
    share_file: Option<PathBuf>,
    /// Forget the shares received so far instead of adding one.
    #[arg(long)]
    reset: bool,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Show the newest records, or the records from a sequence number on; with --follow, then
    /// every record as it is written, until interrupted (or the core seals).
    Tail {
        /// How many records (at most 1000), before any filter.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Start at this sequence number instead of showing the newest records.
        #[arg(long, value_name = "SEQUENCE")]
        from: Option<u64>,
        /// Go on showing records as they are written (with --json: one document per line).
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        filter: AuditFilterArgs,
    },
    /// Check that every record is as the core wrote it (its seal, its link to the record
    /// before, the checkpoint of the last one); names the first that is not and exits 7.
    Verify {
        /// Start at this sequence number, taking its link on trust.
        #[arg(long, value_name = "SEQUENCE")]
        from: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(source) => {
            return output.failure(&Failure::Local {
                context: "starting the async runtime",
                source,
            });
        }
    };
    match runtime.block_on(run(cli.command, &cli.socket, &output)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => output.failure(&failure),
    }
}

async fn run(command: Command, socket: &Path, output: &Output) -> Result<(), Failure> {
    let action = Action::prepare(command)?;
    let mut client = control::connect(socket)
        .await
        .map_err(Failure::Unreachable)?;
    action.perform(&mut client, output).await
}

/// Writes the backup the core streams to `file`.
async fn receive_backup(
    client: &mut ControlClient,
    file: &mut shares::BackupFile,
) -> Result<(), Failure> {
    let mut chunks = client.backup(v1::BackupRequest {}).await?.into_inner();
    while let Some(chunk) = chunks.message().await? {
        file.append(&chunk.data)?;
    }
    Ok(())
}

/// A command with everything it needs from the local machine already in hand. That is
/// obtained before the core is contacted: init must not generate shares it then cannot
/// write, and a mistyped share never leaves the terminal.
enum Action {
    Init {
        request: v1::InitRequest,
        share_dir: Option<shares::ShareDir>,
    },
    Unseal(shares::TypedShare),
    Rekey {
        request: v1::RekeyRequest,
        share_dir: Option<shares::ShareDir>,
    },
    ConfirmRekey(v1::ConfirmRekeyRequest),
    Backup(shares::BackupFile),
    ResetUnseal,
    Seal,
    Reload,
    Status,
    RotateMasterKey,
    Doctor,
    AuditTail(v1::AuditLogRequest),
    AuditFollow(v1::AuditLogRequest),
    AuditVerify(v1::VerifyAuditRequest),
    Link(v1::LinkTenantRequest),
    Unlink(v1::UnlinkTenantRequest),
    Tenants,
    CreateService(v1::CreateServiceRequest),
    RotateService(v1::RotateServiceRequest),
    Services(v1::ListServicesRequest),
    RewrapStatus(v1::ListServicesRequest, String),
    ChangeVersion(v1::ChangeServiceVersionRequest),
    MoveL1(v1::MoveTenantL1Request),
    RotateL2(v1::RotateTenantL2Request),
}

impl Action {
    fn prepare(command: Command) -> Result<Self, Failure> {
        Ok(match command {
            Command::Init(args) => Self::Init {
                share_dir: args
                    .share_dir
                    .as_deref()
                    .map(|dir| shares::ShareDir::prepare(dir, args.shares))
                    .transpose()?,
                request: v1::InitRequest {
                    shares: args.shares,
                    threshold: args.threshold,
                },
            },
            Command::Unseal(UnsealArgs { reset: true, .. }) => Self::ResetUnseal,
            Command::Unseal(UnsealArgs { share_file, .. }) => {
                Self::Unseal(shares::TypedShare::read(share_file.as_deref())?)
            }
            Command::Rekey(args) => Self::rekey(args)?,
            Command::Backup { out } => Self::Backup(shares::BackupFile::create(&out)?),
            Command::Seal => Self::Seal,
            Command::Reload => Self::Reload,
            Command::Status => Self::Status,
            Command::MasterKey(MasterKeyCommand::Rotate) => Self::RotateMasterKey,
            Command::Doctor => Self::Doctor,
            Command::Audit(AuditCommand::Verify { from }) => {
                Self::AuditVerify(v1::VerifyAuditRequest {
                    from_sequence: from,
                })
            }
            Command::Audit(AuditCommand::Tail {
                limit,
                from,
                follow,
                filter,
            }) => {
                let request = v1::AuditLogRequest {
                    from_sequence: from,
                    limit,
                    filter: Some(filter.into()),
                };
                if follow {
                    Self::AuditFollow(request)
                } else {
                    Self::AuditTail(request)
                }
            }
            Command::Tenant(TenantCommand::Link { tenant, l1 }) => {
                Self::Link(v1::LinkTenantRequest {
                    tenant,
                    l1_label: l1,
                })
            }
            Command::Tenant(TenantCommand::Unlink {
                destroy: true,
                yes: false,
                ..
            }) => {
                return Err(Failure::Usage(
                    "--destroy irreversibly deletes the tenant's keys: confirm with --yes",
                ));
            }
            Command::Tenant(TenantCommand::Unlink {
                tenant, destroy, ..
            }) => Self::Unlink(v1::UnlinkTenantRequest { tenant, destroy }),
            Command::Tenant(TenantCommand::List) => Self::Tenants,
            Command::Service(ServiceCommand::Create { tenant, service }) => {
                Self::CreateService(v1::CreateServiceRequest { tenant, service })
            }
            Command::Service(ServiceCommand::Rotate { tenant, service }) => {
                Self::RotateService(v1::RotateServiceRequest { tenant, service })
            }
            Command::Service(ServiceCommand::List { tenant }) => {
                Self::Services(v1::ListServicesRequest { tenant })
            }
            Command::Service(ServiceCommand::RewrapStatus { tenant, service }) => {
                Self::RewrapStatus(v1::ListServicesRequest { tenant }, service)
            }
            Command::Service(ServiceCommand::DestroyVersion { yes: false, .. }) => {
                return Err(Failure::Usage(
                    "destroy-version irreversibly deletes the version: confirm with --yes",
                ));
            }
            Command::Service(ServiceCommand::Retire {
                tenant,
                service,
                version,
            }) => Self::change_version(tenant, service, version, v1::VersionChange::Retire),
            Command::Service(ServiceCommand::Reinstate {
                tenant,
                service,
                version,
            }) => Self::change_version(tenant, service, version, v1::VersionChange::Reinstate),
            Command::Service(ServiceCommand::DestroyVersion {
                tenant,
                service,
                version,
                yes: true,
            }) => Self::change_version(tenant, service, version, v1::VersionChange::Destroy),
            Command::Tenant(TenantCommand::MoveL1 { tenant, l1 }) => {
                Self::MoveL1(v1::MoveTenantL1Request {
                    tenant,
                    l1_label: l1,
                })
            }
            Command::Tenant(TenantCommand::RotateL2 { tenant }) => {
                Self::RotateL2(v1::RotateTenantL2Request { tenant })
            }
        })
    }

    fn change_version(
        tenant: String,
        service: String,
        version: u32,
        change: v1::VersionChange,
    ) -> Self {
        Self::ChangeVersion(v1::ChangeServiceVersionRequest {
            tenant,
            service,
            version,
            change: change.into(),
        })
    }

    fn rekey(args: RekeyArgs) -> Result<Self, Failure> {
        let shares = args
            .share_files
            .iter()
            .map(|file| shares::TypedShare::read(Some(file)).map(shares::TypedShare::into_text))
            .collect::<Result<Vec<_>, _>>()?;
        let (Some(count), Some(threshold)) = (args.shares, args.threshold) else {
            return Ok(Self::ConfirmRekey(v1::ConfirmRekeyRequest {
                new_shares: shares,
            }));
        };
        Ok(Self::Rekey {
            share_dir: args
                .share_dir
                .as_deref()
                .map(|dir| shares::ShareDir::prepare(dir, count))
                .transpose()?,
            request: v1::RekeyRequest {
                current_shares: shares,
                shares: count,
                threshold,
                seal: match args.seal {
                    None => v1::SealType::Unspecified,
                    Some(SealArg::Shamir) => v1::SealType::Shamir,
                    Some(SealArg::Pkcs11) => v1::SealType::Pkcs11,
                }
                .into(),
            },
        })
    }

    async fn perform(self, client: &mut ControlClient, output: &Output) -> Result<(), Failure> {
        match self {
            Self::Rekey { request, share_dir } => {
                let response = client.rekey(request).await?.into_inner();
                output.rekey(response, share_dir.as_ref())
            }
            Self::Backup(mut file) => match receive_backup(client, &mut file).await {
                Ok(()) => {
                    let (path, bytes) = file.finish()?;
                    output.backup(&path, bytes);
                    Ok(())
                }
                Err(failure) => {
                    file.discard();
                    Err(failure)
                }
            },
            Self::ConfirmRekey(request) => {
                let response = client.confirm_rekey(request).await?.into_inner();
                output.rekey_confirmed(&response);
                Ok(())
            }
            Self::Init { request, share_dir } => {
                let response = client.init(request).await?.into_inner();
                output.init(&response, share_dir.as_ref())
            }
            Self::Unseal(share) => {
                let response = client.unseal(share.into_request()).await?.into_inner();
                output.unseal(&response);
                Ok(())
            }
            Self::ResetUnseal => {
                let response = client
                    .reset_unseal(v1::ResetUnsealRequest {})
                    .await?
                    .into_inner();
                output.reset(&response);
                Ok(())
            }
            Self::Seal => {
                let response = client.seal(v1::SealRequest {}).await?.into_inner();
                output.sealed(&response);
                Ok(())
            }
            Self::Reload => {
                let response = client.reload(v1::ReloadRequest {}).await?.into_inner();
                output.reloaded(&response);
                Ok(())
            }
            Self::RotateMasterKey => {
                let response = client
                    .rotate_master_key(v1::RotateMasterKeyRequest {})
                    .await?
                    .into_inner();
                output.master_key_rotated(&response);
                Ok(())
            }
            Self::Status => {
                let response = client.status(v1::StatusRequest {}).await?.into_inner();
                output.status(&response);
                Ok(())
            }
            Self::Doctor => {
                let response = client.doctor(v1::DoctorRequest {}).await?.into_inner();
                let mut findings: Vec<_> = response.findings.into_iter().map(finding).collect();
                findings.push(clock::finding());
                match output.doctor(&findings) {
                    0 => Ok(()),
                    failed => Err(Failure::ChecksFailed(failed)),
                }
            }
            Self::AuditTail(request) => {
                let response = client.audit_log(request).await?.into_inner();
                output.audit(&response);
                Ok(())
            }
            Self::AuditFollow(request) => {
                let filter = request.filter.clone();
                // What is there first, then what comes after it, this read's own record included.
                let response = client.audit_log(request).await?.into_inner();
                output.audit_lines(&response.records);
                // After the last record shown; with none, from the read's own record.
                let from = response
                    .records
                    .last()
                    .map_or(response.audit_sequence, |last| last.sequence + 1);
                let follow = v1::FollowAuditRequest {
                    from_sequence: Some(from),
                    filter,
                };
                let mut stream = client.follow_audit(follow).await?.into_inner();
                while let Some(record) = stream.message().await? {
                    output.audit_lines(std::slice::from_ref(&record));
                }
                Ok(())
            }
            Self::AuditVerify(request) => {
                let response = client.verify_audit(request).await?.into_inner();
                output.audit_verified(&response);
                if response.intact {
                    Ok(())
                } else {
                    Err(Failure::AuditBroken {
                        sequence: response.broken_sequence,
                        reason: response.reason,
                    })
                }
            }
            Self::Link(request) => {
                let tenant = request.tenant.clone();
                let response = client.link_tenant(request).await?.into_inner();
                output.linked(&tenant, &response);
                Ok(())
            }
            Self::Unlink(request) => {
                let (tenant, destroy) = (request.tenant.clone(), request.destroy);
                let response = client.unlink_tenant(request).await?.into_inner();
                output.unlinked(&tenant, destroy, &response);
                Ok(())
            }
            Self::Tenants => {
                let response = client
                    .list_tenants(v1::ListTenantsRequest {})
                    .await?
                    .into_inner();
                output.tenants(&response);
                Ok(())
            }
            Self::CreateService(request) => {
                let response = client.create_service(request).await?.into_inner();
                output.service(&response);
                Ok(())
            }
            Self::RotateService(request) => {
                let response = client.rotate_service(request).await?.into_inner();
                output.service(&response);
                Ok(())
            }
            Self::Services(request) => {
                let response = client.list_services(request).await?.into_inner();
                output.services(&response);
                Ok(())
            }
            Self::RewrapStatus(request, service) => {
                let tenant = request.tenant.clone();
                let response = client.list_services(request).await?.into_inner();
                let found = response.services.iter().find(|s| s.service == service);
                let found = found.ok_or_else(|| {
                    tonic::Status::not_found(format!("tenant {tenant} has no service {service}"))
                })?;
                output.rewrap_status(found);
                Ok(())
            }
            Self::ChangeVersion(request) => {
                let response = client.change_service_version(request).await?.into_inner();
                output.service(&response);
                Ok(())
            }
            Self::MoveL1(request) => {
                let (tenant, l1) = (request.tenant.clone(), request.l1_label.clone());
                let response = client.move_tenant_l1(request).await?.into_inner();
                output.moved(&tenant, &l1, &response);
                Ok(())
            }
            Self::RotateL2(request) => {
                let tenant = request.tenant.clone();
                let response = client.rotate_tenant_l2(request).await?.into_inner();
                output.l2_rotated(&tenant, &response);
                Ok(())
            }
        }
    }
}

/// A finding of the core as kryptonctl prints it. A level this kryptonctl does not know is
/// taken for a failure: the core thought it worth reporting.
fn finding(finding: v1::Finding) -> Finding {
    let level = match finding.level() {
        v1::FindingLevel::Ok => Level::Ok,
        v1::FindingLevel::Warning => Level::Warning,
        v1::FindingLevel::Fail | v1::FindingLevel::Unspecified => Level::Fail,
    };
    Finding::new(finding.check, level, finding.message)
}
