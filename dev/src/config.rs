//! The configuration files of krypton-core (`core.toml`) and krypton-gateway (`gateway.toml`),
//! rendered from typed values so that every path and name is quoted correctly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;

/// krypton-core's configuration: the control socket always; the HSM and the KMIP service for
/// gateways when given (without them the core serves only its control socket).
#[derive(Debug, Clone, Serialize)]
pub struct CoreToml {
    pub data_dir: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<CoreStore>,
    pub control: Control,
    pub hardening: Hardening,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<Pkcs11>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal: Option<Seal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kmip: Option<CoreKmip>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<Telemetry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orchestration: Option<CoreOrchestration>,
    pub audit: Audit,
}

/// The core's `[store]` when it is not RocksDB in its data dir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "backend", rename_all = "snake_case")]
pub enum CoreStore {
    Postgres {
        url: String,
        password: Password,
        /// Wait to take the store over when another core holds it.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        standby: bool,
        /// Serve the data path while another core leads the store, and lead when it goes.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        follow: bool,
    },
}

impl CoreStore {
    /// Whether a core on this store waits as a standby while another holds it.
    pub fn standby(&self) -> bool {
        match self {
            Self::Postgres { standby, .. } => *standby,
        }
    }
}

/// `[audit]`: whether the data path is recorded, and the JSON-lines export.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub data_path: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_lines: Option<PathBuf>,
}

impl Audit {
    /// The data path recorded and exported to `json_lines`, or neither.
    pub fn new(data_path: bool, json_lines: PathBuf) -> Self {
        Self {
            data_path,
            json_lines: data_path.then_some(json_lines),
        }
    }
}

/// `[orchestration]`: the governance plane's gRPC listener and task broker.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CoreOrchestration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<OrchestrationGrpc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amqp: Option<OrchestrationAmqp>,
}

/// `[orchestration.grpc]`.
#[derive(Debug, Clone, Serialize)]
pub struct OrchestrationGrpc {
    pub listen: SocketAddr,
    pub orchestrators: Vec<String>,
    pub tls: ServerTls,
}

/// `[orchestration.amqp]`.
#[derive(Debug, Clone, Serialize)]
pub struct OrchestrationAmqp {
    pub url: String,
    pub username: String,
    pub password: Password,
    /// For `amqps://`: the CA of the broker's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_ca: Option<PathBuf>,
    pub task_queue: String,
    pub unlink_queue: String,
    pub results_exchange: String,
    pub dead_letter_queue: String,
    pub max_attempts: u32,
}

/// `[seal] type = "pkcs11"`: the HSM key that seals the master key (the core unseals itself).
#[derive(Debug, Clone, Serialize)]
pub struct Seal {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub key_label: String,
    pub pkcs11: Pkcs11,
}

#[derive(Debug, Clone, Serialize)]
pub struct Control {
    pub socket: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hardening {
    /// A normal user's RLIMIT_MEMLOCK is too small for mlockall; a package install runs the
    /// core and the gateway under systemd with LimitMEMLOCK=infinity and leaves this off.
    pub allow_unlocked_memory: bool,
}

/// `[pkcs11]`: the token holding the L1 keys.
#[derive(Debug, Clone, Serialize)]
pub struct Pkcs11 {
    pub module: PathBuf,
    pub token_label: String,
    pub pin: PinFile,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Liveness>,
}

/// `[pkcs11.liveness]`: how often the core probes each tenant's L1, and how long it keeps a
/// tenant whose HSM does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Liveness {
    pub interval_secs: u64,
    pub grace_secs: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PinFile {
    pub file: PathBuf,
}

/// `[kmip]`: the core's KMIP service for gateways.
#[derive(Debug, Clone, Serialize)]
pub struct CoreKmip {
    pub listen: SocketAddr,
    pub identity_source: &'static str,
    pub tls: ServerTls,
    pub gateways: Vec<AllowedGateway>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerTls {
    pub cert_chain: PathBuf,
    pub private_key: PathBuf,
    pub client_ca: PathBuf,
    /// Revocation lists of the client CA, read again by the daemon when they change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_crls: Vec<PathBuf>,
}

/// One `[[kmip.gateways]]` entry: a gateway identity and the tenants it may use.
#[derive(Debug, Clone, Serialize)]
pub struct AllowedGateway {
    pub identity: String,
    pub tenants: Vec<String>,
}

/// krypton-gateway's configuration (docs/gateway.md).
#[derive(Debug, Clone, Serialize)]
pub struct GatewayToml {
    pub listen: SocketAddr,
    pub identity_source: &'static str,
    pub tls: ServerTls,
    pub core: GatewayCore,
    pub vault: Vault,
    pub hardening: Hardening,
    /// Application identity → the tenant and service whose L3 wraps its keys.
    pub identities: BTreeMap<String, Mapping>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<Telemetry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrap: Option<Rewrap>,
    pub audit: Audit,
}

/// The gateway's `[rewrap]`: the background re-wrap under the active service key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rewrap {
    pub records_per_second: u32,
    pub rescan_interval_secs: u64,
}

/// `[telemetry]`: metrics, liveness and readiness over HTTP.
#[derive(Debug, Clone, Serialize)]
pub struct Telemetry {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayCore {
    pub address: SocketAddr,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<SocketAddr>,
    pub server_name: String,
    pub tls: ClientTls,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientTls {
    pub cert_chain: PathBuf,
    pub private_key: PathBuf,
    pub server_ca: PathBuf,
}

/// The gateway's `[vault]` table.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "backend", rename_all = "snake_case")]
pub enum Vault {
    Rocksdb {
        path: PathBuf,
    },
    Postgres {
        url: String,
        password: Password,
    },
    Redis {
        url: String,
        password: Password,
        key_prefix: String,
    },
}

/// Where a server's password is read (a vault server, the task broker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Password {
    File(PathBuf),
}

#[derive(Debug, Clone, Serialize)]
pub struct Mapping {
    pub tenant: String,
    pub service: String,
}

/// Writes `value` as TOML to `path`, replacing what was there (ports may differ between runs).
pub fn write<T: Serialize>(path: &Path, file: &'static str, value: &T) -> Result<(), Error> {
    let text = toml::to_string(value).map_err(|source| Error::Config { file, source })?;
    std::fs::write(path, text).map_err(|source| Error::Io {
        action: "write",
        path: path.to_owned(),
        source,
    })
}
