//! The running gateway: the configured vault, the link to the core and the KMIP listener, from
//! start-up to shutdown.
//!
//! [`Server::bind`] does everything that can fail on the operator's files — TLS set-up, opening
//! the vault, binding the port — so a gateway that starts is one that serves.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kmip::net::{IdentitySource, ServerLimits, TlsReload, TlsSource};
use krypton_service::telemetry::Telemetry;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::audit::GatewayAudit;
use crate::config::{Config, RewrapConfig, VaultConfig};
use crate::core_link::CoreLink;
use crate::error::{Error, ErrorChain};
use crate::principal::Tenancy;
use crate::service::Gateway;
use crate::vault::{MemoryVault, Metered, PostgresVault, RedisVault, RocksDbVault, Vault};

/// A gateway bound to its port, ready to serve.
#[derive(Debug)]
pub struct Server {
    endpoint: Endpoint,
    gateway: Backend,
}

/// What the gateway serves on, whatever its vault: the listener, its TLS and bounds, the
/// telemetry listener and what SIGHUP reloads.
#[derive(Debug)]
struct Endpoint {
    listener: TcpListener,
    tls: TlsSource,
    tls_reload: TlsReload,
    identity_source: IdentitySource,
    limits: ServerLimits,
    /// The background re-wrap's settings.
    rewrap: RewrapConfig,
    /// The configuration file to read again on SIGHUP, and the signal's stream.
    reload: Option<Reload>,
    telemetry: Option<Telemetry>,
    /// The configuration bound, kept for [`Reload::started`].
    started: Config,
}

/// A configuration file to read again when SIGHUP arrives.
#[derive(Debug)]
struct Reload {
    path: PathBuf,
    hangups: Signal,
    /// What the gateway started with: a reload says which restart-only settings it leaves.
    started: Config,
}

/// The gateway over the vault backend the configuration names, measured for telemetry.
#[derive(Debug)]
enum Backend {
    Memory(Arc<Gateway<Metered<MemoryVault>>>),
    RocksDb(Arc<Gateway<Metered<RocksDbVault>>>),
    Postgres(Arc<Gateway<Metered<PostgresVault>>>),
    Redis(Arc<Gateway<Metered<RedisVault>>>),
}

impl Server {
    /// Sets up TLS, the core link and the vault, and binds the listener.
    ///
    /// # Errors
    ///
    /// [`Error::Net`] for TLS files that cannot be used, [`Error::Vault`] for a vault that
    /// cannot be opened, [`Error::Io`] if the address cannot be bound.
    pub async fn bind(config: &Config) -> Result<Self, Error> {
        let (tls, tls_reload) =
            TlsSource::reloadable(Arc::new(kmip::net::server_config(config.tls())?));
        let core = CoreLink::new(config.core())?;
        let tenancy = Tenancy::new(config.identities());
        let keys = config.keys();
        let audit = GatewayAudit::open(config.audit()).map_err(|source| Error::Io {
            context: "opening the audit JSON-lines file",
            source,
        })?;
        let gateway = match config.vault() {
            VaultConfig::Memory {} => {
                let vault = Metered::new(MemoryVault::new(), "memory");
                Backend::Memory(Arc::new(
                    Gateway::new(vault, core, tenancy, keys).with_audit(audit),
                ))
            }
            VaultConfig::Rocksdb { path } => {
                let vault = Metered::new(RocksDbVault::open(path).await?, "rocksdb");
                Backend::RocksDb(Arc::new(
                    Gateway::new(vault, core, tenancy, keys).with_audit(audit),
                ))
            }
            VaultConfig::Postgres(settings) => {
                let vault = Metered::new(PostgresVault::connect(settings).await?, "postgres");
                Backend::Postgres(Arc::new(
                    Gateway::new(vault, core, tenancy, keys).with_audit(audit),
                ))
            }
            VaultConfig::Redis(settings) => {
                let vault = Metered::new(RedisVault::connect(settings).await?, "redis");
                Backend::Redis(Arc::new(
                    Gateway::new(vault, core, tenancy, keys).with_audit(audit),
                ))
            }
        };
        let listener = TcpListener::bind(config.listen())
            .await
            .map_err(|source| Error::Io {
                context: "binding the KMIP listener",
                source,
            })?;
        let telemetry = match config.telemetry() {
            Some(telemetry) => Some(Telemetry::bind(telemetry).await?),
            None => None,
        };
        let endpoint = Endpoint {
            listener,
            tls,
            tls_reload,
            rewrap: config.rewrap(),
            identity_source: config.identity_source(),
            limits: config.limits().clone(),
            reload: None,
            telemetry,
            started: config.clone(),
        };
        Ok(Self { endpoint, gateway })
    }

    /// The address the listener is bound to (useful when the configuration asks for port 0).
    ///
    /// # Errors
    ///
    /// The OS error if the socket cannot tell.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.endpoint.listener.local_addr()
    }

    /// From now on SIGHUP reads `path` again and applies its `[identities]` and `[tls]` (see
    /// `reload_on_hangups`). Call it before telling systemd the gateway is ready: until then,
    /// SIGHUP ends the process.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the signal handler cannot be installed.
    pub fn reload_on_sighup(mut self, path: PathBuf) -> Result<Self, Error> {
        let hangups = signal(SignalKind::hangup()).map_err(|source| Error::Io {
            context: "installing the SIGHUP handler",
            source,
        })?;
        let started = self.endpoint.started.clone();
        self.endpoint.reload = Some(Reload {
            path,
            hangups,
            started,
        });
        Ok(self)
    }

    /// The address of the telemetry listener, if one is configured.
    pub fn telemetry_addr(&self) -> Option<SocketAddr> {
        self.endpoint.telemetry.as_ref()?.local_addr().ok()
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish and closes the
    /// vault. Meanwhile a task delivers the notices of destroyed keys to the core.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self { endpoint, gateway } = self;
        match gateway {
            Backend::Memory(gateway) => serve(endpoint, gateway, shutdown).await,
            Backend::RocksDb(gateway) => serve(endpoint, gateway, shutdown).await,
            Backend::Postgres(gateway) => serve(endpoint, gateway, shutdown).await,
            Backend::Redis(gateway) => serve(endpoint, gateway, shutdown).await,
        }
    }
}

async fn serve<V: Vault>(
    endpoint: Endpoint,
    gateway: Arc<Gateway<V>>,
    shutdown: impl Future<Output = ()>,
) {
    let Endpoint {
        listener,
        tls,
        tls_reload,
        rewrap,
        identity_source,
        limits,
        reload,
        telemetry,
        started: _,
    } = endpoint;
    let courier = tokio::spawn({
        let gateway = Arc::clone(&gateway);
        async move { gateway.run_courier().await }
    });
    let rewrapper = rewrap
        .enabled
        .then(|| tokio::spawn(crate::rewrap::run(Arc::clone(&gateway), rewrap)));
    let reloader = reload.map(|reload| {
        let gateway = Arc::clone(&gateway);
        tokio::spawn(reload_on_hangups(reload, tls_reload, gateway))
    });
    // Stopped with the KMIP listener: it reports on a gateway that is serving.
    let telemetry = telemetry.map(|telemetry| {
        tokio::spawn(telemetry.serve(Arc::clone(&gateway), std::future::pending()))
    });
    kmip::net::serve(listener, tls, identity_source, limits, gateway, shutdown).await;
    telemetry.inspect(tokio::task::JoinHandle::abort);
    reloader.inspect(tokio::task::JoinHandle::abort);
    // A record is only ever replaced whole: stopping a pass anywhere loses nothing.
    rewrapper.inspect(tokio::task::JoinHandle::abort);
    // Stopping the courier anywhere loses nothing: a notice leaves the queue only once the core
    // acknowledged it. Awaited, so that its hold on the vault is gone when `run` returns.
    courier.abort();
    match courier.await {
        Err(error) if !error.is_cancelled() => {
            tracing::error!(error = %ErrorChain(&error), "the courier of destroyed keys failed");
        }
        _ => {}
    }
}

async fn reload_on_hangups<V: Vault>(mut reload: Reload, tls: TlsReload, gateway: Arc<Gateway<V>>) {
    while reload.hangups.recv().await.is_some() {
        match reloaded(&reload.path) {
            Ok((config, server_tls, tenancy)) => {
                tls.replace(Arc::new(server_tls));
                gateway.replace_tenancy(tenancy);
                tracing::info!(
                    path = %reload.path.display(),
                    "configuration reloaded: [identities] and [tls] apply from the next request \
                     and handshake; other sections take a restart"
                );
                let unapplied = reload.started.restart_only_changes(&config);
                if !unapplied.is_empty() {
                    tracing::warn!(
                        changed = %unapplied.join(", "),
                        "settings changed in the file that a reload does not apply: they take \
                         a restart, and until then the gateway runs as it started"
                    );
                }
            }
            Err(error) => tracing::error!(
                path = %reload.path.display(),
                error = %ErrorChain(&error),
                "configuration not reloaded: the running one stays"
            ),
        }
    }
}

/// What a reload applies, read from `path` and checked whole before anything is replaced: a
/// file with any error changes nothing.
fn reloaded(path: &Path) -> Result<(Config, rustls::ServerConfig, Tenancy), Error> {
    let config = Config::load(path)?;
    let tls = kmip::net::server_config(config.tls())?;
    let tenancy = Tenancy::new(config.identities());
    Ok((config, tls, tenancy))
}
