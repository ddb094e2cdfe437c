//! The running gateway: the configured vault, the link to the core and the KMIP listener, from
//! start-up to shutdown.
//!
//! [`Server::bind`] does everything that can fail on the operator's files — TLS set-up, opening
//! the vault, binding the port — so a gateway that starts is one that serves.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use kmip::net::{IdentitySource, ServerLimits};
use rustls::ServerConfig;
use tokio::net::TcpListener;

use crate::config::{Config, VaultConfig};
use crate::core_link::CoreLink;
use crate::error::{Error, ErrorChain};
use crate::principal::Tenancy;
use crate::service::Gateway;
use crate::vault::{MemoryVault, PostgresVault, RedisVault, RocksDbVault, Vault};

/// A gateway bound to its port, ready to serve.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    identity_source: IdentitySource,
    limits: ServerLimits,
    gateway: Backend,
}

/// The gateway over the vault backend the configuration names.
#[derive(Debug)]
enum Backend {
    Memory(Arc<Gateway<MemoryVault>>),
    RocksDb(Arc<Gateway<RocksDbVault>>),
    Postgres(Arc<Gateway<PostgresVault>>),
    Redis(Arc<Gateway<RedisVault>>),
}

impl Server {
    /// Sets up TLS, the core link and the vault, and binds the listener.
    ///
    /// # Errors
    ///
    /// [`Error::Net`] for TLS files that cannot be used, [`Error::Vault`] for a vault that
    /// cannot be opened, [`Error::Io`] if the address cannot be bound.
    pub async fn bind(config: &Config) -> Result<Self, Error> {
        let tls = Arc::new(kmip::net::server_config(config.tls())?);
        let core = CoreLink::new(config.core())?;
        let tenancy = Tenancy::new(config.identities());
        let keys = config.keys();
        let gateway = match config.vault() {
            VaultConfig::Memory {} => Backend::Memory(Arc::new(Gateway::new(
                MemoryVault::new(),
                core,
                tenancy,
                keys,
            ))),
            VaultConfig::Rocksdb { path } => {
                let vault = RocksDbVault::open(path).await?;
                Backend::RocksDb(Arc::new(Gateway::new(vault, core, tenancy, keys)))
            }
            VaultConfig::Postgres(settings) => {
                let vault = PostgresVault::connect(settings).await?;
                Backend::Postgres(Arc::new(Gateway::new(vault, core, tenancy, keys)))
            }
            VaultConfig::Redis(settings) => {
                let vault = RedisVault::connect(settings).await?;
                Backend::Redis(Arc::new(Gateway::new(vault, core, tenancy, keys)))
            }
        };
        let listener = TcpListener::bind(config.listen())
            .await
            .map_err(|source| Error::Io {
                context: "binding the KMIP listener",
                source,
            })?;
        Ok(Self {
            listener,
            tls,
            identity_source: config.identity_source(),
            limits: config.limits().clone(),
            gateway,
        })
    }

    /// The address the listener is bound to (useful when the configuration asks for port 0).
    ///
    /// # Errors
    ///
    /// The OS error if the socket cannot tell.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish and closes the
    /// vault. Meanwhile a task delivers the notices of destroyed keys to the core.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            tls,
            identity_source,
            limits,
            gateway,
        } = self;
        let endpoint = (listener, tls, identity_source, limits);
        match gateway {
            Backend::Memory(gateway) => serve(endpoint, gateway, shutdown).await,
            Backend::RocksDb(gateway) => serve(endpoint, gateway, shutdown).await,
            Backend::Postgres(gateway) => serve(endpoint, gateway, shutdown).await,
            Backend::Redis(gateway) => serve(endpoint, gateway, shutdown).await,
        }
    }
}

/// What the gateway serves on: the listener, its TLS, where identities are read, its bounds.
type Endpoint = (TcpListener, Arc<ServerConfig>, IdentitySource, ServerLimits);

async fn serve<V: Vault>(
    (listener, tls, identity_source, limits): Endpoint,
    gateway: Arc<Gateway<V>>,
    shutdown: impl Future<Output = ()>,
) {
    let courier = tokio::spawn({
        let gateway = Arc::clone(&gateway);
        async move { gateway.run_courier().await }
    });
    kmip::net::serve(listener, tls, identity_source, limits, gateway, shutdown).await;
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
