//! The whole system on one machine: krypton-core unsealed, a tenant linked to the L1, a service
//! L3 made, and krypton-gateway serving applications in front of it. The dev run and the
//! end-to-end tests bring it up the same way.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use tempfile::TempDir;

use crate::Error;
use crate::config::{
    self, AllowedGateway, Audit, ClientTls, CoreKmip, CoreOrchestration, CoreStore, GatewayCore,
    GatewayToml, Hardening, Mapping, OrchestrationAmqp, OrchestrationGrpc, Password, Rewrap,
    ServerTls, Telemetry, Vault,
};
use crate::core::{Ceremony, Core, Listeners, share_files};
use crate::pki::{self, DevPki, GATEWAY_IDENTITY, ORCHESTRATOR_IDENTITY, SERVER_NAMES};
use crate::process::{Daemon, free_loopback_addr};
use crate::token::HsmSetup;

/// How long the core may take to answer on its control socket.
const CORE_START_LIMIT: Duration = Duration::from_secs(60);
/// How long the gateway may take to open its vault and listen.
const GATEWAY_START_LIMIT: Duration = Duration::from_secs(60);
/// The file that marks a directory as a krypton-dev data dir, so that only such a directory is
/// ever deleted by [`wipe_data_dir`].
const MARKER: &str = "KRYPTON-DEV-DATA";

/// What to bring up, and where.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Where everything is kept; `None`: a temporary directory, removed when the stack is dropped.
    pub data_dir: Option<PathBuf>,
    /// Where krypton-core, kryptonctl and krypton-gateway are.
    pub bin_dir: PathBuf,
    /// The gateway's KMIP listener for applications; port 0: a free port.
    pub gateway_listen: SocketAddr,
    /// The core's KMIP listener for the gateway; port 0: a free port.
    pub core_listen: SocketAddr,
    /// The HSM holding the L1 the tenant is linked to.
    pub hsm: HsmSetup,
    pub tenant: String,
    pub service: String,
    /// The application identities the gateway maps to the tenant's service; each gets a client
    /// certificate.
    pub apps: Vec<String>,
    /// Where the gateway keeps its keys.
    pub vault: StackVault,
    /// Where the core keeps its sealed records; `None`: RocksDB in the data dir.
    pub core_store: Option<CoreStore>,
    /// Further cores' KMIP addresses the gateways fail over to (`[core] failover`): standbys
    /// started by [`Stack::start_another_core`].
    pub core_failover: Vec<SocketAddr>,
    /// Whether both daemons serve `[telemetry]` (metrics, health, readiness).
    pub telemetry: bool,
    /// Whether both daemons record the data path (`[audit] data_path`) and write their audit
    /// JSON-lines files ([`Stack::core_audit_file`], [`Stack::gateway_audit_file`]).
    pub data_audit: bool,
    /// Whether the core serves the orchestration API (gRPC, mutual TLS) to
    /// [`crate::pki::ORCHESTRATOR_IDENTITY`].
    pub orchestration: bool,
    /// Revocation lists for the orchestration API's client certificates; empty: none.
    pub orchestrator_crls: Vec<PathBuf>,
    /// A broker the core takes orchestration tasks from.
    pub amqp: Option<OrchestrationAmqp>,
    /// The gateways' `[rewrap]`; `None`: its defaults.
    pub rewrap: Option<Rewrap>,
}

/// The vault of the stack's gateway, and of every other gateway started on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackVault {
    /// A RocksDB directory in the data dir: one gateway only.
    Rocksdb,
    /// A PostgreSQL database (see [`crate::vault_server::PostgresServer`]).
    Postgres { url: String, password_file: PathBuf },
    /// A Redis server, under a key prefix (see [`crate::vault_server::RedisServer`]).
    Redis {
        url: String,
        password_file: PathBuf,
        key_prefix: String,
    },
}

/// A further gateway on the stack's core and vault ([`Stack::start_gateway`]), stopped when
/// dropped.
#[derive(Debug)]
pub struct ExtraGateway {
    pub daemon: Daemon,
    pub addr: SocketAddr,
    /// Its telemetry listener (`/metrics`, `/healthz`, `/readyz`).
    pub telemetry: SocketAddr,
}

impl StackConfig {
    /// A temporary data dir, free ports, tenant "demo" with service "app", and the applications
    /// "app-alice" and "app-bob".
    pub fn new(bin_dir: &Path, hsm: HsmSetup) -> Self {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            data_dir: None,
            bin_dir: bin_dir.to_owned(),
            gateway_listen: any_port,
            core_listen: any_port,
            hsm,
            tenant: "demo".to_owned(),
            service: "app".to_owned(),
            apps: vec!["app-alice".to_owned(), "app-bob".to_owned()],
            vault: StackVault::Rocksdb,
            core_store: None,
            core_failover: Vec::new(),
            telemetry: true,
            data_audit: true,
            orchestration: false,
            orchestrator_crls: Vec::new(),
            amqp: None,
            rewrap: None,
        }
    }
}

/// A running core and gateway. Dropping it stops both (gateway first); [`Stack::stop`] does the
/// same and reports how they exited.
///
/// The processes get SIGTERM if the thread that started them exits, so keep the stack on that
/// thread.
#[derive(Debug)]
pub struct Stack {
    // Fields drop in this order: the gateway stops before the core, and the data dir goes last.
    gateway: Daemon,
    core: Core,
    gateway_addr: SocketAddr,
    gateway_telemetry: SocketAddr,
    core_addr: SocketAddr,
    core_telemetry: SocketAddr,
    core_orchestration: SocketAddr,
    pki: DevPki,
    data_dir: PathBuf,
    ceremony: Ceremony,
    config: StackConfig,
    _temporary: Option<TempDir>,
}

/// How the two processes exited when the stack was stopped (`None`: exited earlier).
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    pub gateway: Option<ExitStatus>,
    pub core: Option<ExitStatus>,
}

impl Stopped {
    /// Whether both processes exited cleanly.
    pub fn clean(&self) -> bool {
        [self.gateway, self.core]
            .iter()
            .all(|status| status.is_some_and(|s| s.success()))
    }
}

impl Stack {
    /// Brings the system up, reusing what an earlier run left in the data dir: the PKI, the
    /// store (sealed: unsealed with the saved dev shares), the tenant link and the service.
    pub fn start(config: StackConfig) -> Result<Self, Error> {
        let (temporary, data_dir) = match &config.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temporary = tempfile::Builder::new()
                    .prefix("krypton-dev-")
                    .tempdir()
                    .map_err(|source| Error::Io {
                        action: "create",
                        path: std::env::temp_dir(),
                        source,
                    })?;
                let dir = temporary.path().to_owned();
                (Some(temporary), dir)
            }
        };
        claim_data_dir(&data_dir)?;
        let gateway_addr = resolve(config.gateway_listen)?;
        let core_addr = resolve(config.core_listen)?;
        let apps: Vec<&str> = config.apps.iter().map(String::as_str).collect();
        let pki = DevPki::ensure(&data_dir.join("pki"), &apps)?;
        let logs = data_dir.join("logs");
        pki::create_private_dir(&logs)?;

        let ports = CorePorts {
            kmip: core_addr,
            telemetry: free_loopback_addr()?,
            orchestration: free_loopback_addr()?,
        };
        let (core, ceremony) = start_core(&config, &pki, &data_dir, ports)?;
        let gateway_telemetry = free_loopback_addr()?;
        let gateway = start_gateway(
            &config,
            &pki,
            &data_dir,
            (gateway_addr, gateway_telemetry),
            core_addr,
            "gateway",
        )?;
        Ok(Self {
            gateway,
            core,
            gateway_addr,
            gateway_telemetry,
            core_telemetry: ports.telemetry,
            core_orchestration: ports.orchestration,
            core_addr,
            pki,
            data_dir,
            ceremony,
            config,
            _temporary: temporary,
        })
    }

    /// Stops only the core (SIGTERM seals it) and leaves the gateway running, so that the
    /// gateway's behaviour without its core can be seen. Returns how the core exited.
    pub fn stop_core(&mut self) -> Result<Option<ExitStatus>, Error> {
        self.core.stop()
    }

    /// Starts the core again on the same store and port after [`Stack::stop_core`], unseals it
    /// with the saved dev shares and waits for its KMIP service, as [`Stack::start`] does.
    pub fn restart_core(&mut self) -> Result<Ceremony, Error> {
        self.launch_core()?;
        self.unseal_core()
    }

    /// Starts the core again on the same store and port (after [`Stack::stop_core`], or after
    /// it was killed) and waits only for its control socket: it is sealed, or on the PKCS#11
    /// seal unsealing itself. [`Stack::unseal_core`] completes the start.
    pub fn launch_core(&mut self) -> Result<(), Error> {
        self.core.stop()?;
        self.core = launch_core(
            &self.config,
            &self.pki,
            &self.data_dir,
            CorePorts {
                kmip: self.core_addr,
                telemetry: self.core_telemetry,
                orchestration: self.core_orchestration,
            },
        )?;
        Ok(())
    }

    /// Brings the core started by [`Stack::launch_core`] to serving, as [`Stack::start`] does:
    /// the unseal ceremony (or, on the PKCS#11 seal, waiting for the core to unseal itself),
    /// the tenant and service, the KMIP service.
    pub fn unseal_core(&mut self) -> Result<Ceremony, Error> {
        self.ceremony = settle_core(&mut self.core, &self.config, &self.data_dir, self.core_addr)?;
        Ok(self.ceremony)
    }

    /// Stops only the gateway, so that its vault ([`Stack::gateway_vault`]) can be opened
    /// while the core keeps running. Returns how it exited; [`Stack::restart_gateway`] starts
    /// it again.
    pub fn stop_gateway(&mut self) -> Result<Option<ExitStatus>, Error> {
        self.gateway.stop()
    }

    /// Stops the gateway (unless [`Stack::stop_gateway`] did) and starts it again on the same
    /// vault and port.
    pub fn restart_gateway(&mut self) -> Result<Option<ExitStatus>, Error> {
        let stopped = self.gateway.stop()?;
        self.gateway = start_gateway(
            &self.config,
            &self.pki,
            &self.data_dir,
            (self.gateway_addr, self.gateway_telemetry),
            self.core_addr,
            "gateway",
        )?;
        Ok(stopped)
    }

    /// Starts the core with `hsm` from its next start on (a seal HSM added or removed): the
    /// tenant's L1 must stay where it was.
    pub fn reconfigure_hsm(&mut self, hsm: HsmSetup) {
        self.config.hsm = hsm;
    }

    /// Starts another core on the stack's PostgreSQL store (which must be configured with
    /// `standby` or `follow`), its KMIP service at `kmip` (one of
    /// [`StackConfig::core_failover`]), its files in `<data dir>/<name>` and its log
    /// `<data dir>/logs/<name>.log`. While the stack's core holds the store it waits as a
    /// standby, or follows it, serving the data path; it takes over when that core goes. On
    /// the PKCS#11 seal it unseals itself and re-opens the tenants.
    pub fn start_another_core(&self, name: &str, kmip: SocketAddr) -> Result<Core, Error> {
        let ports = CorePorts {
            kmip,
            telemetry: free_loopback_addr()?,
            orchestration: free_loopback_addr()?,
        };
        launch_core_named(&self.config, &self.pki, &self.data_dir, ports, name)
    }

    /// Gateways started from now on keep their keys in `vault` (an operator moving vaults).
    pub fn reconfigure_vault(&mut self, vault: StackVault) {
        self.config.vault = vault;
    }

    /// The core keeps its records in `store` from its next start on (an operator moving it
    /// after `krypton-core store copy`).
    pub fn reconfigure_core_store(&mut self, store: Option<CoreStore>) {
        self.config.core_store = store;
    }

    /// The core's configuration file.
    pub fn core_config(&self) -> PathBuf {
        core_dir(&self.data_dir).join(crate::core::CONFIG_FILE)
    }

    /// Gateways started from now on re-wrap with `rewrap` (`None`: the gateway's defaults).
    pub fn reconfigure_rewrap(&mut self, rewrap: Option<Rewrap>) {
        self.config.rewrap = rewrap;
    }

    /// The configuration file of the gateway named `name` (`"gateway"`: the stack's own).
    pub fn gateway_config(&self, name: &str) -> PathBuf {
        gateway_dir(&self.data_dir).join(format!("{name}.toml"))
    }

    /// Starts another gateway on the same core and vault, on a free port, its configuration
    /// and log named after `name` (not "gateway"). Only a shared vault (PostgreSQL, Redis) can
    /// have two: a second gateway on the RocksDB vault fails to start.
    pub fn start_gateway(&self, name: &str) -> Result<ExtraGateway, Error> {
        self.start_gateway_at(name, free_loopback_addr()?)
    }

    /// [`Self::start_gateway`], serving applications at `addr`.
    pub fn start_gateway_at(&self, name: &str, addr: SocketAddr) -> Result<ExtraGateway, Error> {
        let telemetry = free_loopback_addr()?;
        let daemon = start_gateway(
            &self.config,
            &self.pki,
            &self.data_dir,
            (addr, telemetry),
            self.core_addr,
            name,
        )?;
        Ok(ExtraGateway {
            daemon,
            addr,
            telemetry,
        })
    }

    /// What the stack was started with: its tenant, service and applications among them.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// Where applications connect.
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway_addr
    }

    /// The gateway's telemetry listener (`/metrics`, `/healthz`, `/readyz`), unless off.
    pub fn gateway_telemetry(&self) -> Option<SocketAddr> {
        self.config.telemetry.then_some(self.gateway_telemetry)
    }

    /// Where the gateway reaches the core.
    pub fn core_addr(&self) -> SocketAddr {
        self.core_addr
    }

    /// The core's telemetry listener (`/metrics`, `/healthz`, `/readyz`), unless off.
    pub fn core_telemetry(&self) -> Option<SocketAddr> {
        self.config.telemetry.then_some(self.core_telemetry)
    }

    /// The core's orchestration API, if the stack serves it.
    pub fn core_orchestration(&self) -> Option<SocketAddr> {
        self.config.orchestration.then_some(self.core_orchestration)
    }

    /// The certificates: the CA and one client certificate per application.
    pub fn pki(&self) -> &DevPki {
        &self.pki
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The gateway's RocksDB vault directory.
    pub fn gateway_vault(&self) -> PathBuf {
        gateway_vault(&self.data_dir)
    }

    /// The core's RocksDB store directory.
    pub fn core_store(&self) -> PathBuf {
        core_dir(&self.data_dir).join(crate::core::STORE_DIR)
    }

    /// The core's audit JSON-lines file.
    pub fn core_audit_file(&self) -> PathBuf {
        core_dir(&self.data_dir).join(crate::core::AUDIT_FILE)
    }

    /// The audit JSON-lines file of the gateway `name` (`"gateway"`: the stack's own).
    pub fn gateway_audit_file(&self, name: &str) -> PathBuf {
        gateway_audit_file(&self.data_dir, name)
    }

    /// The saved dev shares (DEV ONLY).
    pub fn share_files(&self) -> Vec<PathBuf> {
        share_files(&self.data_dir.join("shares"))
    }

    /// What the unseal ceremony had to do on this start.
    pub fn ceremony(&self) -> Ceremony {
        self.ceremony
    }

    /// The core.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The core, to wait on (its exit) or stop.
    pub fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    pub fn gateway_pid(&self) -> Option<u32> {
        self.gateway.pid()
    }

    pub fn gateway_log(&self) -> &Path {
        self.gateway.log()
    }

    /// Fails if the core or the gateway has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        self.core.check_running()?;
        self.gateway.check_running()
    }

    /// Stops the gateway, then the core (which seals itself), and reports how they exited.
    pub fn stop(mut self) -> Result<Stopped, Error> {
        let gateway = self.gateway.stop();
        let core = self.core.stop()?;
        Ok(Stopped {
            gateway: gateway?,
            core,
        })
    }
}

/// Deletes a data dir made by an earlier run, refusing any directory krypton-dev did not
/// make. A missing directory is fine.
pub fn wipe_data_dir(data_dir: &Path) -> Result<(), Error> {
    if !data_dir.exists() {
        return Ok(());
    }
    if !data_dir.join(MARKER).is_file() {
        return Err(Error::NotDevData(data_dir.to_owned()));
    }
    std::fs::remove_dir_all(data_dir).map_err(|source| Error::Io {
        action: "delete",
        path: data_dir.to_owned(),
        source,
    })
}

/// Makes `data_dir` (private) and marks it as krypton-dev's. An existing directory must be
/// empty or krypton-dev's already: the mark is what lets `--fresh` delete it later.
pub fn claim_data_dir(data_dir: &Path) -> Result<(), Error> {
    let marker = data_dir.join(MARKER);
    if marker.exists() {
        return Ok(());
    }
    let io = |source| Error::Io {
        action: "read",
        path: data_dir.to_owned(),
        source,
    };
    if data_dir.exists() && std::fs::read_dir(data_dir).map_err(io)?.next().is_some() {
        return Err(Error::NotDevData(data_dir.to_owned()));
    }
    pki::create_private_dir(data_dir)?;
    pki::write_new(
        &marker,
        b"krypton-dev keeps a throw-away development installation here. DEV ONLY.\n",
        0o644,
    )
}

fn gateway_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("gateway")
}

fn gateway_vault(data_dir: &Path) -> PathBuf {
    gateway_dir(data_dir).join("vault")
}

fn gateway_audit_file(data_dir: &Path, name: &str) -> PathBuf {
    gateway_dir(data_dir).join(format!("{name}-audit.jsonl"))
}

/// The stack's core: its directory in the data dir, and its log's name.
const CORE: &str = "core";

fn core_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(CORE)
}

fn resolve(addr: SocketAddr) -> Result<SocketAddr, Error> {
    if addr.port() == 0 {
        free_loopback_addr()
    } else {
        Ok(addr)
    }
}

fn core_kmip(config: &StackConfig, pki: &DevPki, listen: SocketAddr) -> CoreKmip {
    CoreKmip {
        listen,
        identity_source: "common_name",
        tls: ServerTls {
            cert_chain: pki.core_server.cert.clone(),
            private_key: pki.core_server.key.clone(),
            client_ca: pki.ca.clone(),
            client_crls: Vec::new(),
        },
        gateways: vec![AllowedGateway {
            identity: GATEWAY_IDENTITY.to_owned(),
            tenants: vec![config.tenant.clone()],
        }],
    }
}

/// Links the tenant and creates the service unless an earlier run did. Each step is recorded
/// in `done_dir` once the core has confirmed it.
fn provision(core: &Core, config: &StackConfig, done_dir: &Path) -> Result<(), Error> {
    pki::create_private_dir(done_dir)?;
    let step = |name: String, run: &dyn Fn() -> Result<(), Error>| -> Result<(), Error> {
        let marker = done_dir.join(name);
        if marker.exists() {
            return Ok(());
        }
        run()?;
        pki::write_new(&marker, b"", 0o600)
    };
    let (tenant, service) = (&config.tenant, &config.service);
    step(format!("tenant-{tenant}-linked"), &|| {
        core.ctl().link_tenant(tenant, &config.hsm.l1_label)
    })?;
    step(format!("service-{tenant}-{service}-created"), &|| {
        core.ctl().create_service(tenant, service)
    })
}

/// Starts the core, listening on `listen` (KMIP, and telemetry), brings it to unsealed,
/// provisions it and waits for its KMIP service.
fn start_core(
    config: &StackConfig,
    pki: &DevPki,
    data_dir: &Path,
    ports: CorePorts,
) -> Result<(Core, Ceremony), Error> {
    let mut core = launch_core(config, pki, data_dir, ports)?;
    let ceremony = settle_core(&mut core, config, data_dir, ports.kmip)?;
    Ok((core, ceremony))
}

/// Where a core of the stack listens.
#[derive(Debug, Clone, Copy)]
struct CorePorts {
    kmip: SocketAddr,
    telemetry: SocketAddr,
    orchestration: SocketAddr,
}

/// Starts the core, listening on `ports` (KMIP, telemetry and orchestration as configured),
/// and waits for its control socket.
fn launch_core(
    config: &StackConfig,
    pki: &DevPki,
    data_dir: &Path,
    ports: CorePorts,
) -> Result<Core, Error> {
    let mut core = launch_core_named(config, pki, data_dir, ports, CORE)?;
    // One that may stand by was not waited for, but the stack's own core is the first on its
    // store: it takes it at once.
    if config.core_store.as_ref().is_some_and(CoreStore::standby) {
        core.wait_for_control(CORE_START_LIMIT)?;
    }
    Ok(core)
}

/// Starts a core whose files are in `<data dir>/<name>`, as [`launch_core`] does.
fn launch_core_named(
    config: &StackConfig,
    pki: &DevPki,
    data_dir: &Path,
    ports: CorePorts,
    name: &str,
) -> Result<Core, Error> {
    let grpc = config.orchestration.then(|| OrchestrationGrpc {
        listen: ports.orchestration,
        orchestrators: vec![ORCHESTRATOR_IDENTITY.to_owned()],
        tls: ServerTls {
            cert_chain: pki.core_server.cert.clone(),
            private_key: pki.core_server.key.clone(),
            client_ca: pki.ca.clone(),
            client_crls: config.orchestrator_crls.clone(),
        },
    });
    let orchestration = (grpc.is_some() || config.amqp.is_some()).then(|| CoreOrchestration {
        grpc,
        amqp: config.amqp.clone(),
    });
    let listeners = Listeners {
        store: config.core_store.clone(),
        kmip: Some(core_kmip(config, pki, ports.kmip)),
        telemetry: config.telemetry.then_some(ports.telemetry),
        orchestration,
        without_data_audit: !config.data_audit,
    };
    Core::start(
        &config.bin_dir,
        &data_dir.join(name),
        Some(&config.hsm),
        listeners,
        &data_dir.join("logs").join(format!("{name}.log")),
    )
}

/// Brings a started core to unsealed, provisions it and waits for its KMIP service.
fn settle_core(
    core: &mut Core,
    config: &StackConfig,
    data_dir: &Path,
    core_addr: SocketAddr,
) -> Result<Ceremony, Error> {
    let ceremony = core.ceremony(&data_dir.join("shares"))?;
    provision(core, config, &data_dir.join("done"))?;
    core.wait_for_kmip(core_addr)?;
    Ok(ceremony)
}

/// Starts a gateway whose configuration is `<data dir>/gateway/<name>.toml` and whose log is
/// `<data dir>/logs/<name>.log`, listening on `listen`: KMIP, and telemetry.
fn start_gateway(
    config: &StackConfig,
    pki: &DevPki,
    data_dir: &Path,
    (listen, telemetry): (SocketAddr, SocketAddr),
    core_addr: SocketAddr,
    name: &str,
) -> Result<Daemon, Error> {
    let dir = gateway_dir(data_dir);
    pki::create_private_dir(&dir)?;
    let identities: BTreeMap<String, Mapping> = config
        .apps
        .iter()
        .map(|app| {
            let mapping = Mapping {
                tenant: config.tenant.clone(),
                service: config.service.clone(),
            };
            (app.clone(), mapping)
        })
        .collect();
    let toml = GatewayToml {
        listen,
        identity_source: "common_name",
        tls: ServerTls {
            cert_chain: pki.gateway_server.cert.clone(),
            private_key: pki.gateway_server.key.clone(),
            client_ca: pki.ca.clone(),
            client_crls: Vec::new(),
        },
        core: GatewayCore {
            address: core_addr,
            failover: config.core_failover.clone(),
            server_name: SERVER_NAMES[0].to_owned(),
            tls: ClientTls {
                cert_chain: pki.gateway_client.cert.clone(),
                private_key: pki.gateway_client.key.clone(),
                server_ca: pki.ca.clone(),
            },
        },
        vault: match &config.vault {
            StackVault::Rocksdb => Vault::Rocksdb {
                path: gateway_vault(data_dir),
            },
            StackVault::Postgres { url, password_file } => Vault::Postgres {
                url: url.clone(),
                password: Password::File(password_file.clone()),
            },
            StackVault::Redis {
                url,
                password_file,
                key_prefix,
            } => Vault::Redis {
                url: url.clone(),
                password: Password::File(password_file.clone()),
                key_prefix: key_prefix.clone(),
            },
        },
        hardening: Hardening {
            allow_unlocked_memory: true,
        },
        identities,
        telemetry: config.telemetry.then_some(Telemetry { listen: telemetry }),
        rewrap: config.rewrap,
        audit: Audit::new(config.data_audit, gateway_audit_file(data_dir, name)),
    };
    let config_file = dir.join(format!("{name}.toml"));
    config::write(&config_file, "gateway.toml", &toml)?;
    let mut gateway = Daemon::spawn(
        "krypton-gateway",
        &config.bin_dir.join("krypton-gateway"),
        &["--config".as_ref(), config_file.as_os_str()],
        &[],
        &data_dir.join("logs").join(format!("{name}.log")),
    )?;
    gateway.wait_for_listener(listen, GATEWAY_START_LIMIT)?;
    Ok(gateway)
}
