//! `[store]`: where the core keeps its sealed records.
//!
//! ```toml
//! [store]
//! backend = "rocksdb"          # the default: a RocksDB database in data_dir
//! # backend = "postgres"
//! # url = "postgres://krypton@db.example:5432/krypton_core"   # no password here
//! # password = { file = "/etc/krypton/store-password" }       # or { credential = "…" }
//! # server_ca = "/etc/krypton/db-ca.pem"                      # TLS; required off this machine
//! # pool_size = 8
//! # connect_timeout = "5s"
//! # request_timeout = "10s"
//! # standby = true      # another core holds the store: wait, then take over (see below)
//! # follow = true       # another core holds the store: serve wraps and unwraps meanwhile
//! ```
//!
//! One core at a time *leads* a PostgreSQL store (it holds the store's ownership lock): it
//! alone makes changes. With `standby = true` a core that finds the store held waits for the
//! holder to go and then takes over: active/standby, serving nothing while it waits. With
//! `follow = true` it serves the data path meanwhile (wraps, unwraps, re-wraps), following
//! every change the leader makes, and takes over as a standby would: active-active for the
//! data path. Gateways list every core (`[core] failover`).

use std::path::PathBuf;
use std::time::Duration;

use krypton_service::postgres::{Connection, SettingKeys, SettingsError};
use krypton_service::secret_file::SecretSource;
use serde::Deserialize;

use crate::error::ConfigError;

/// `[store]`: the backend of the core's store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreConfig {
    /// A RocksDB database in `data_dir`, for one core on one machine: the default. (A struct
    /// variant, so that settings of another backend given with it are refused.)
    Rocksdb {},
    /// A PostgreSQL database, which the operator replicates and backs up with its own tools.
    Postgres(PostgresStoreConfig),
}

impl StoreConfig {
    /// Whether this core waits as a standby when another holds the store (a follower does
    /// not: it serves the data path meanwhile).
    pub fn standby(&self) -> bool {
        matches!(self, Self::Postgres(settings) if settings.standby)
    }

    /// Whether this core serves the data path as a follower when another holds the store.
    pub fn follows(&self) -> bool {
        matches!(self, Self::Postgres(settings) if settings.follow)
    }

    /// Whether this core may start without the store's lock: a standby or a follower.
    pub fn may_wait(&self) -> bool {
        self.standby() || self.follows()
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self::Rocksdb {}
    }
}

/// The settings of a store in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresStoreConfig {
    /// `postgres://user@host:port/database`, never with a password.
    pub url: String,
    /// Where the password is read at start-up, if the server asks for one.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// The CA bundle the server's certificate must chain to: given, the connection is TLS and
    /// verified; absent, plaintext, allowed only to a Unix socket or loopback. Absolute.
    #[serde(default)]
    pub server_ca: Option<PathBuf>,
    /// A certificate the core presents to a server that authenticates clients by certificate.
    /// Only with `server_ca`.
    #[serde(default)]
    pub client_certificate: Option<ClientCertificate>,
    /// How many connections the core keeps to the server (one more holds its ownership).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// The longest wait for a new connection.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "kmip::net::humantime_duration::deserialize"
    )]
    pub connect_timeout: Duration,
    /// The longest one store call may take: past it the call fails, and what needed it.
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "kmip::net::humantime_duration::deserialize"
    )]
    pub request_timeout: Duration,
    /// Whether a core that finds the store held by another waits to take over (a standby)
    /// rather than refusing to start.
    #[serde(default)]
    pub standby: bool,
    /// Whether a core that finds the store held by another serves the data path meanwhile,
    /// following the holder's changes, and takes over when it goes.
    #[serde(default)]
    pub follow: bool,
}

/// `store.client_certificate`: the core's certificate towards its database server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificate {
    /// The certificate followed by its intermediates, in PEM. Absolute.
    pub cert_chain: PathBuf,
    /// Its private key in PEM. Absolute.
    pub private_key: PathBuf,
}

impl PostgresStoreConfig {
    /// The most connections the core keeps to its store.
    pub const MAX_POOL_SIZE: usize = 256;
    /// The longest timeout accepted.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

    /// The settings of a store at `url`, with no password, no TLS and the defaults.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            server_ca: None,
            client_certificate: None,
            pool_size: default_pool_size(),
            connect_timeout: default_connect_timeout(),
            request_timeout: default_request_timeout(),
            standby: false,
            follow: false,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.standby && self.follow {
            return Err(ConfigError::Store(
                "store.standby and store.follow are exclusive: a follower already takes over \
                 when the leading core goes",
            ));
        }
        if self.client_certificate.is_some() && self.server_ca.is_none() {
            return Err(ConfigError::Store(
                "store.client_certificate needs store.server_ca: a client certificate goes \
                 over verified TLS only",
            ));
        }
        let keys = SettingKeys {
            password_file: "store.password.file",
            server_ca: "store.server_ca",
            cert_chain: "store.client_certificate.cert_chain",
            private_key: "store.client_certificate.private_key",
            pool_size: "store.pool_size",
            connect_timeout: "store.connect_timeout",
            request_timeout: "store.request_timeout",
        };
        self.connection()
            .check(&keys, Self::MAX_POOL_SIZE, Self::MAX_TIMEOUT)
            .map_err(|refused| match refused {
                SettingsError::RelativePath(error) => ConfigError::RelativePath(error),
                SettingsError::OutOfRange(error) => ConfigError::OutOfRange(error),
            })
    }

    /// These settings as the shared PostgreSQL set-up takes them.
    pub(crate) fn connection(&self) -> Connection<'_> {
        Connection {
            section: "store",
            application: "krypton-core",
            url: &self.url,
            password: self.password.as_ref(),
            server_ca: self.server_ca.as_deref(),
            client_certificate: self
                .client_certificate
                .as_ref()
                .map(|client| (client.cert_chain.as_path(), client.private_key.as_path())),
            pool_size: self.pool_size,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
        }
    }
}

fn default_pool_size() -> usize {
    8
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}
