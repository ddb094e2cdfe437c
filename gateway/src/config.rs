//! The gateway's one configuration file (`/etc/krypton/gateway.toml` by default).
//!
//! Every key is checked: an unknown key, a relative path, a limit out of range or a tenant name
//! the core could not resolve is an error at start-up rather than a surprise later. The
//! transport's own tables (`[tls]`, `[limits]`, `[core.tls]`, `[core.limits]`) are the
//! [`kmip::net`] types, with their defaults and humantime durations (`"30s"`).
//!
//! ```toml
//! listen = "127.0.0.1:5696"          # 0.0.0.0:5696 to serve other hosts
//! identity_source = "common_name"    # or "san_dns", "san_uri"
//!
//! [tls]
//! cert_chain = "/etc/krypton/gateway/server.pem"
//! private_key = "/etc/krypton/gateway/server.key"
//! client_ca = "/etc/krypton/gateway/clients-ca.pem"
//!
//! [core]
//! address = "core.example:5697"
//! # failover = ["core-2.example:5697"]  # standby cores, tried when the one answering goes
//! server_name = "core.example"
//! [core.tls]
//! cert_chain = "/etc/krypton/gateway/to-core.pem"
//! private_key = "/etc/krypton/gateway/to-core.key"
//! server_ca = "/etc/krypton/gateway/core-ca.pem"
//!
//! [vault]
//! backend = "rocksdb"                # or "memory", "postgres", "redis" (below)
//! path = "/var/lib/krypton-gateway/vault"
//! # backend = "postgres"
//! # url = "postgres://krypton@db.example:5432/krypton"   # no password here
//! # password = { file = "/etc/krypton/gateway/vault.password" }  # or { systemd_credential = "…" }
//! # server_ca = "/etc/krypton/gateway/db-ca.pem"          # TLS, required off this host
//! # pool_size = 16
//! # connect_timeout = "5s"
//! # request_timeout = "10s"
//! # backend = "redis"
//! # url = "rediss://krypton@cache.example:6380/0"
//! # key_prefix = "krypton:"
//!
//! [hardening]
//! allow_unlocked_memory = false      # development only: start where memory cannot be locked
//!
//! [identities]
//! "payments-app" = { tenant = "acme", service = "payments" }
//! ```

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use std::time::Duration;

use kmip::net::{ClientLimits, ClientTlsFiles, IdentitySource, ServerLimits, TlsFiles};
use krypton_service::audit::AuditConfig;
use krypton_service::config::{parse_toml, read_toml, require_absolute, require_range};
use krypton_service::hardening::Hardening;
use krypton_service::postgres::{Connection, SettingKeys, SettingsError};
use krypton_service::secret_file::SecretSource;
use krypton_service::telemetry::TelemetryConfig;
use serde::Deserialize;

use crate::error::ConfigError;
use crate::principal::L3Ref;

/// Where the gateway reads its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/krypton/gateway.toml";

/// The IANA port for KMIP over TLS.
pub const KMIP_PORT: u16 = 5696;

/// The gateway's validated configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    #[serde(default = "default_identity_source")]
    identity_source: IdentitySource,
    tls: TlsFiles,
    #[serde(default)]
    limits: ServerLimits,
    core: CoreConfig,
    vault: VaultConfig,
    #[serde(default)]
    keys: KeyLimits,
    /// `[rewrap]`: the background re-wrap of records under older service key versions.
    #[serde(default)]
    rewrap: RewrapConfig,
    /// `[hardening]`: process hardening applied before the vault is opened.
    #[serde(default)]
    hardening: Hardening,
    /// `[telemetry]`: metrics, liveness and readiness over HTTP; absent: off.
    telemetry: Option<TelemetryConfig>,
    /// `[audit]`: whether each operation is exported, and the JSON-lines file.
    #[serde(default)]
    audit: AuditConfig,
    identities: BTreeMap<String, L3Ref>,
}

/// `[core]`: how the gateway reaches krypton-core.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreConfig {
    /// `host:port` of the core's KMIP service.
    pub address: String,
    /// `host:port` of further cores on the same store (a standby that takes over), tried in
    /// order when the one that answered last cannot be reached; then a call goes on trying
    /// them all, within the request timeout, until one answers. Their certificates must be
    /// valid for `server_name` too.
    #[serde(default)]
    pub failover: Vec<String>,
    /// The name the core's certificate must carry.
    pub server_name: String,
    /// The gateway's client certificate and the CA of the core's certificate.
    pub tls: ClientTlsFiles,
    /// Connect and request timeouts, and how many connections the pool keeps.
    #[serde(default)]
    pub limits: ClientLimits,
}

impl CoreConfig {
    /// The most further cores a gateway lists.
    pub const MAX_FAILOVER: usize = 8;

    /// Every core's address, the configured one first.
    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.address.as_str()).chain(self.failover.iter().map(String::as_str))
    }
}

/// `[vault]`: where wrapped keys and their metadata are kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case", deny_unknown_fields)]
pub enum VaultConfig {
    /// In process memory: fast, and gone when the gateway stops. (A struct variant, so that
    /// settings of another backend given with it are refused.)
    Memory {},
    /// A RocksDB database in a directory: every write synced before it is acknowledged.
    Rocksdb {
        /// The database directory. Absolute.
        path: PathBuf,
    },
    /// A PostgreSQL database that several gateways may share.
    Postgres(ServerVaultConfig),
    /// A Redis server that several gateways may share.
    Redis(ServerVaultConfig),
}

/// The settings of a vault on a database server, PostgreSQL or Redis.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerVaultConfig {
    /// `postgres://user@host:port/database` or `redis://user@host:port/db` (`rediss://` for
    /// TLS). Never with a password: that comes from [`password`](Self::password).
    pub url: String,
    /// Where the password is read at start-up, if the server asks for one.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// The CA bundle the server's certificate must chain to. PostgreSQL: given, the connection
    /// is TLS and verified; absent, plaintext, allowed only to a Unix socket or loopback.
    /// Redis: the trust anchor of a `rediss://` URL. Absolute.
    #[serde(default)]
    pub server_ca: Option<PathBuf>,
    /// A certificate the gateway presents to the server, for a server that authenticates its
    /// clients by certificate (PostgreSQL `clientcert=verify-full` or `cert`, Redis
    /// `tls-auth-clients yes`). Only with `server_ca`: it goes over verified TLS alone.
    #[serde(default)]
    pub client_certificate: Option<ClientCertificate>,
    /// How many connections the gateway keeps to the server.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// The longest wait for a new connection.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "kmip::net::humantime_duration::deserialize"
    )]
    pub connect_timeout: Duration,
    /// The longest one vault call may take, waiting for a free connection included: past it
    /// the call fails, and the KMIP request with it.
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "kmip::net::humantime_duration::deserialize"
    )]
    pub request_timeout: Duration,
    /// Redis only: what every key of this vault starts with, so that several vaults can share
    /// one server.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

/// `vault.client_certificate`: the gateway's certificate towards its vault server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificate {
    /// The certificate followed by its intermediates, in PEM. Absolute.
    pub cert_chain: PathBuf,
    /// Its private key in PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC). Absolute.
    pub private_key: PathBuf,
}

impl ServerVaultConfig {
    /// The most connections one gateway may keep to its vault server.
    pub const MAX_POOL_SIZE: usize = 1024;
    /// The longest timeout accepted: longer would hold KMIP clients past their own.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

    /// The settings of a vault at `url`, with no password, no TLS and the defaults.
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
            key_prefix: default_key_prefix(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.client_certificate.is_some() && self.server_ca.is_none() {
            return Err(ConfigError::Conflict {
                key: "vault.client_certificate",
                reason: "needs vault.server_ca: a client certificate goes over verified TLS only",
            });
        }
        let keys = SettingKeys {
            password_file: "vault.password.file",
            server_ca: "vault.server_ca",
            cert_chain: "vault.client_certificate.cert_chain",
            private_key: "vault.client_certificate.private_key",
            pool_size: "vault.pool_size",
            connect_timeout: "vault.connect_timeout",
            request_timeout: "vault.request_timeout",
        };
        self.connection()
            .check(&keys, Self::MAX_POOL_SIZE, Self::MAX_TIMEOUT)
            .map_err(|refused| match refused {
                SettingsError::RelativePath(error) => ConfigError::RelativePath(error),
                SettingsError::OutOfRange(error) => ConfigError::OutOfRange(error),
            })
    }

    /// These settings as the shared PostgreSQL set-up takes them (Redis reads the same ones).
    pub(crate) fn connection(&self) -> Connection<'_> {
        Connection {
            section: "vault",
            application: "krypton-gateway",
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
    16
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_key_prefix() -> String {
    "krypton:".to_owned()
}

/// `[keys]`: bounds on what one application may store and ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyLimits {
    /// The most client-set attributes (names, groups, custom attributes…) one key may carry.
    pub max_attributes: usize,
    /// The most bytes those attributes may take, encoded.
    pub max_attribute_bytes: usize,
    /// The most keys one Locate considers; Located Items counts at most this many.
    pub max_locate_items: usize,
}

impl Default for KeyLimits {
    fn default() -> Self {
        Self {
            max_attributes: 64,
            max_attribute_bytes: 16 * 1024,
            max_locate_items: 10_000,
        }
    }
}

impl From<KeyLimits> for kmip::objects::AttributeLimits {
    fn from(limits: KeyLimits) -> Self {
        Self {
            max_attributes: limits.max_attributes,
            max_attribute_bytes: limits.max_attribute_bytes,
        }
    }
}

/// `[rewrap]`: how the gateway brings its records under the active version of their service
/// key in the background (see `rewrap.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewrapConfig {
    /// Off: records stay under the version that wrapped them until a Get of a format 1 blob.
    pub enabled: bool,
    /// The most records per second sent to the core for re-wrapping.
    pub records_per_second: u32,
    /// How often a pass walks the vault when no rotation was seen meanwhile.
    pub rescan_interval_secs: u64,
}

impl Default for RewrapConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            records_per_second: 1000,
            rescan_interval_secs: 3600,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, KMIP_PORT))
}

fn default_identity_source() -> IdentitySource {
    IdentitySource::CommonName
}

impl Config {
    /// Reads and validates the configuration file at `path`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming what is wrong with the file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        read_toml::<Self>(path)?.validated()
    }

    /// Parses and validates configuration text.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming what is wrong with the text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        parse_toml::<Self>(text)?.validated()
    }

    /// Checks what the types alone do not.
    fn validated(self) -> Result<Self, ConfigError> {
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, path) in [
            ("tls.cert_chain", &self.tls.cert_chain),
            ("tls.private_key", &self.tls.private_key),
            ("tls.client_ca", &self.tls.client_ca),
            ("core.tls.cert_chain", &self.core.tls.cert_chain),
            ("core.tls.private_key", &self.core.tls.private_key),
            ("core.tls.server_ca", &self.core.tls.server_ca),
        ] {
            require_absolute(key, path)?;
        }
        self.audit.check::<ConfigError>()?;
        require_range(
            "core.failover",
            self.core.failover.len(),
            0,
            CoreConfig::MAX_FAILOVER as u64,
        )?;
        match &self.vault {
            VaultConfig::Memory {} => {}
            VaultConfig::Rocksdb { path } => require_absolute("vault.path", path)?,
            VaultConfig::Postgres(server) | VaultConfig::Redis(server) => server.validate()?,
        }
        require_range("keys.max_attributes", self.keys.max_attributes, 1, 1024)?;
        require_range(
            "keys.max_attribute_bytes",
            self.keys.max_attribute_bytes,
            256,
            1024 * 1024,
        )?;
        require_range(
            "keys.max_locate_items",
            self.keys.max_locate_items,
            1,
            1_000_000,
        )?;
        require_range(
            "rewrap.records_per_second",
            self.rewrap.records_per_second,
            1,
            1_000_000,
        )?;
        require_range(
            "rewrap.rescan_interval_secs",
            self.rewrap.rescan_interval_secs,
            10,
            7 * 24 * 3600,
        )?;
        self.validate_identities()
    }

    fn validate_identities(&self) -> Result<(), ConfigError> {
        if self.identities.is_empty() {
            return Err(ConfigError::NoIdentities);
        }
        for (identity, l3) in &self.identities {
            if let Some((what, value)) = l3.invalid_part() {
                return Err(ConfigError::InvalidName {
                    identity: identity.clone(),
                    what,
                    value: value.to_owned(),
                    rule: L3Ref::NAME_RULE,
                });
            }
        }
        Ok(())
    }

    /// The address the KMIP listener binds.
    #[must_use]
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Where a client's identity is read from in its certificate.
    #[must_use]
    pub fn identity_source(&self) -> IdentitySource {
        self.identity_source
    }

    /// The listener's certificate, key and client CA bundle.
    #[must_use]
    pub fn tls(&self) -> &TlsFiles {
        &self.tls
    }

    /// The listener's bounds on clients.
    #[must_use]
    pub fn limits(&self) -> &ServerLimits {
        &self.limits
    }

    /// How to reach the core.
    #[must_use]
    pub fn core(&self) -> &CoreConfig {
        &self.core
    }

    /// The vault backend and its settings.
    #[must_use]
    pub fn vault(&self) -> &VaultConfig {
        &self.vault
    }

    /// The telemetry listener, if configured.
    #[must_use]
    pub fn telemetry(&self) -> Option<&TelemetryConfig> {
        self.telemetry.as_ref()
    }

    /// What is exported of each operation, and where.
    #[must_use]
    pub fn audit(&self) -> &AuditConfig {
        &self.audit
    }

    /// How records are re-wrapped under the active versions of their service keys.
    #[must_use]
    pub fn rewrap(&self) -> RewrapConfig {
        self.rewrap
    }

    /// Bounds on keys' attributes and on Locate.
    #[must_use]
    pub fn keys(&self) -> KeyLimits {
        self.keys
    }

    /// What process hardening may let pass: whether the gateway may run where memory cannot be
    /// locked (development only).
    #[must_use]
    pub fn hardening(&self) -> Hardening {
        self.hardening
    }

    /// Which tenant and service each identity belongs to.
    #[must_use]
    pub fn identities(&self) -> &BTreeMap<String, L3Ref> {
        &self.identities
    }

    /// The settings a reload does not apply (only `[identities]` and `[tls]` are), named, that
    /// differ between `self`, the configuration the gateway started with, and `next`.
    pub(crate) fn restart_only_changes(&self, next: &Self) -> Vec<&'static str> {
        [
            ("listen", self.listen != next.listen),
            (
                "identity_source",
                self.identity_source != next.identity_source,
            ),
            ("[limits]", self.limits != next.limits),
            ("[core]", self.core != next.core),
            ("[vault]", self.vault != next.vault),
            ("[keys]", self.keys != next.keys),
            ("[rewrap]", self.rewrap != next.rewrap),
            ("[hardening]", self.hardening != next.hardening),
            ("[telemetry]", self.telemetry != next.telemetry),
            ("[audit]", self.audit != next.audit),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use krypton_service::config::{ConfigFileError, OutOfRange, RelativePath};

    use super::*;

    const MINIMAL: &str = r#"
        [tls]
        cert_chain = "/etc/k/server.pem"
        private_key = "/etc/k/server.key"
        client_ca = "/etc/k/ca.pem"
        [core]
        address = "core:5697"
        server_name = "core"
        [core.tls]
        cert_chain = "/etc/k/gw.pem"
        private_key = "/etc/k/gw.key"
        server_ca = "/etc/k/core-ca.pem"
        [vault]
        backend = "memory"
        [identities]
        "app-1" = { tenant = "acme", service = "payments" }
    "#;

    fn with(extra: &str) -> String {
        format!("{MINIMAL}\n{extra}")
    }

    #[test]
    fn minimal_file_takes_defaults() {
        let config = Config::parse(MINIMAL).unwrap();
        assert_eq!(config.listen(), "127.0.0.1:5696".parse().unwrap());
        assert_eq!(config.identity_source(), IdentitySource::CommonName);
        assert_eq!(config.vault(), &VaultConfig::Memory {});
        assert_eq!(config.keys(), KeyLimits::default());
        assert_eq!(config.hardening(), Hardening::default());
        assert!(!config.hardening().allow_unlocked_memory);
        assert_eq!(config.limits(), &ServerLimits::default());
        assert_eq!(config.core().limits, ClientLimits::default());
        assert_eq!(
            config.identities()["app-1"].unique_identifier(),
            "l3/acme/payments"
        );
    }

    #[test]
    fn every_section_is_read() {
        let text = MINIMAL
            .replace(
                "[tls]",
                "listen = \"0.0.0.0:15696\"\nidentity_source = \"san_uri\"\n[tls]",
            )
            .replace(
                "backend = \"memory\"",
                "backend = \"rocksdb\"\npath = \"/var/lib/kg\"",
            );
        let text = format!(
            "{text}\n\"spiffe://acme/orders\" = {{ tenant = \"acme\", service = \"orders\" }}\n\
             [limits]\nidle_timeout = \"2m\"\n\
             [core.limits]\nconnect_timeout = \"250ms\"\npool_size = 4\n\
             [keys]\nmax_attributes = 8\nmax_attribute_bytes = 4096\nmax_locate_items = 50\n\
             [hardening]\nallow_unlocked_memory = true\n"
        );
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.listen(), "0.0.0.0:15696".parse().unwrap());
        assert_eq!(config.identity_source(), IdentitySource::SanUri);
        assert_eq!(
            config.vault(),
            &VaultConfig::Rocksdb {
                path: "/var/lib/kg".into()
            }
        );
        assert_eq!(config.limits().idle_timeout, Duration::from_secs(120));
        assert_eq!(
            config.core().limits.connect_timeout,
            Duration::from_millis(250)
        );
        assert_eq!(config.core().limits.pool_size.get(), 4);
        assert_eq!(
            config.keys(),
            KeyLimits {
                max_attributes: 8,
                max_attribute_bytes: 4096,
                max_locate_items: 50
            }
        );
        assert_eq!(config.identities().len(), 2);
        assert!(config.hardening().allow_unlocked_memory);
    }

    #[test]
    fn unknown_keys_are_errors() {
        for text in [
            with("lisen = \"x\""),
            with("[keys]\nmax_keys = 1"),
            MINIMAL.replace(
                "backend = \"memory\"",
                "backend = \"memory\"\npath = \"/x\"",
            ),
            MINIMAL.replace("backend = \"memory\"", "backend = \"redis\""),
            MINIMAL.replace(
                "backend = \"memory\"",
                "backend = \"redis\"\nurl = \"redis://h\"\npath = \"/x\"",
            ),
            MINIMAL.replace("service = \"payments\"", "service = \"p\", role = \"x\""),
        ] {
            let error = Config::parse(&text).unwrap_err();
            assert!(
                matches!(error, ConfigError::File(ConfigFileError::Parse(_))),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn paths_must_be_absolute() {
        let error = Config::parse(&MINIMAL.replace("/etc/k/gw.key", "gw.key")).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::RelativePath(RelativePath {
                key: "core.tls.private_key",
                ..
            })
        ));
        let text = MINIMAL.replace(
            "backend = \"memory\"",
            "backend = \"rocksdb\"\npath = \"vault\"",
        );
        assert!(matches!(
            Config::parse(&text).unwrap_err(),
            ConfigError::RelativePath(RelativePath {
                key: "vault.path",
                ..
            })
        ));
    }

    #[test]
    fn a_vault_client_certificate_needs_the_server_ca() {
        let client = "client_certificate = { cert_chain = \"/etc/k/db-client.pem\", \
                      private_key = \"/etc/k/db-client.key\" }";
        let without_ca = MINIMAL.replace(
            "backend = \"memory\"",
            &format!("backend = \"postgres\"\nurl = \"postgres://k@localhost/v\"\n{client}"),
        );
        assert!(matches!(
            Config::parse(&without_ca).unwrap_err(),
            ConfigError::Conflict {
                key: "vault.client_certificate",
                ..
            }
        ));
        let with_ca = without_ca.replace(
            "client_certificate",
            "server_ca = \"/etc/k/db.pem\"\nclient_certificate",
        );
        let VaultConfig::Postgres(vault) = Config::parse(&with_ca).unwrap().vault().clone() else {
            panic!("not a PostgreSQL vault");
        };
        assert_eq!(
            vault.client_certificate,
            Some(ClientCertificate {
                cert_chain: "/etc/k/db-client.pem".into(),
                private_key: "/etc/k/db-client.key".into(),
            })
        );
    }

    #[test]
    fn a_shared_vault_takes_its_server_settings() {
        let text = MINIMAL.replace(
            "backend = \"memory\"",
            "backend = \"postgres\"\nurl = \"postgres://k@db:5432/v\"\n\
             password = { file = \"/etc/k/vault.password\" }\nserver_ca = \"/etc/k/db.pem\"\n\
             pool_size = 4\nrequest_timeout = \"2s\"",
        );
        let VaultConfig::Postgres(vault) = Config::parse(&text).unwrap().vault().clone() else {
            panic!("not a PostgreSQL vault");
        };
        assert_eq!(
            vault,
            ServerVaultConfig {
                password: Some(SecretSource::File("/etc/k/vault.password".into())),
                server_ca: Some("/etc/k/db.pem".into()),
                pool_size: 4,
                request_timeout: Duration::from_secs(2),
                ..ServerVaultConfig::new("postgres://k@db:5432/v")
            }
        );
        let redis = MINIMAL.replace(
            "backend = \"memory\"",
            "backend = \"redis\"\nurl = \"redis://localhost\"\n\
             password = { systemd_credential = \"vault\" }",
        );
        assert!(matches!(
            Config::parse(&redis).unwrap().vault(),
            VaultConfig::Redis(ServerVaultConfig { password: Some(SecretSource::SystemdCredential(name)), .. }) if name == "vault"
        ));
        for (setting, key) in [
            ("pool_size = 0", "vault.pool_size"),
            ("pool_size = 1025", "vault.pool_size"),
            ("connect_timeout = \"6m\"", "vault.connect_timeout"),
        ] {
            let text = redis.replace("[identities]", &format!("{setting}\n[identities]"));
            let error = Config::parse(&text).unwrap_err();
            assert!(
                matches!(&error, ConfigError::OutOfRange(OutOfRange { key: k, .. }) if *k == key),
                "{setting}: {error}"
            );
        }
        let relative = redis.replace(
            "password = { systemd_credential = \"vault\" }",
            "password = { file = \"vault.password\" }",
        );
        assert!(matches!(
            Config::parse(&relative).unwrap_err(),
            ConfigError::RelativePath(RelativePath {
                key: "vault.password.file",
                ..
            })
        ));
    }

    #[test]
    fn limits_are_bounded() {
        let error = Config::parse(&with("[keys]\nmax_locate_items = 0")).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::OutOfRange(OutOfRange {
                key: "keys.max_locate_items",
                ..
            })
        ));
        let error = Config::parse(&with("[limits]\nread_timeout = \"0s\"")).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::File(ConfigFileError::Parse(_))
        ));
    }

    #[test]
    fn identities_must_name_a_resolvable_l3() {
        let error =
            Config::parse(&MINIMAL.replace("tenant = \"acme\"", "tenant = \"ac/me\"")).unwrap_err();
        assert!(
            matches!(&error, ConfigError::InvalidName { what: "tenant", identity, .. } if identity == "app-1"),
            "{error}"
        );
        let empty = MINIMAL.replace(
            "\"app-1\" = { tenant = \"acme\", service = \"payments\" }",
            "",
        );
        assert!(matches!(
            Config::parse(&empty).unwrap_err(),
            ConfigError::NoIdentities
        ));
    }
}
