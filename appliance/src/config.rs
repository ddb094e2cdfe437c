//! The core's one configuration file (`/etc/krypton/core.toml` by default).
//!
//! Every key is checked: an unknown key, a relative path or a limit out of range is an error
//! at start-up rather than a surprise later. Sections that later parts of the core need (the
//! HSM, the KMIP listener) are added to [`Config`] by the code that reads them; nothing here is
//! parsed without being used.

use std::path::{Path, PathBuf};
use std::time::Duration;

use krypton_service::audit::AuditConfig;
use krypton_service::config::{parse_toml, read_toml, require_absolute, require_range};
use krypton_service::hardening::Hardening;
use krypton_service::telemetry::TelemetryConfig;
use serde::Deserialize;

use crate::error::ConfigError;
use crate::hsm::HsmConfig;
use crate::hsm_seal::SealConfig;
use crate::kmip_service::config::{Gateways, KmipConfig};
use crate::orchestration::OrchestrationConfig;
use crate::store::StoreConfig;

/// Where the core reads its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/krypton/core.toml";

/// The core's validated configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The core's directory: the RocksDB database when `[store]` is RocksDB. Absolute.
    data_dir: PathBuf,
    /// `[store]`: where the sealed records are kept; RocksDB in `data_dir` by default.
    #[serde(default)]
    store: StoreConfig,
    #[serde(default)]
    control: ControlConfig,
    #[serde(default)]
    unseal: UnsealConfig,
    /// `[hardening]`: process hardening applied before any secret is read.
    #[serde(default)]
    hardening: Hardening,
    /// The customer's HSM; without it tenants cannot be linked.
    pkcs11: Option<HsmConfig>,
    /// How the master key is kept: Shamir shares (the default) or an HSM key.
    #[serde(default)]
    seal: SealConfig,
    /// The KMIP service for gateways; without it only the control socket is served.
    kmip: Option<KmipConfig>,
    /// `[telemetry]`: metrics, liveness and readiness over HTTP; absent: off.
    telemetry: Option<TelemetryConfig>,
    /// `[audit]`: whether the data path is recorded, and the JSON-lines export.
    #[serde(default)]
    audit: AuditConfig,
    /// `[orchestration]`: the governance plane's gRPC listener and task broker; absent: off.
    orchestration: Option<OrchestrationConfig>,
    /// Built from `kmip.gateways` by validation.
    #[serde(skip)]
    gateways: Gateways,
}

/// `[control]`: the operators' control socket.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ControlConfig {
    socket: PathBuf,
    max_request_bytes: usize,
    request_timeout_secs: u64,
    max_concurrent_requests: usize,
    max_connections: usize,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from("/run/krypton/control.sock"),
            max_request_bytes: 64 * 1024,
            request_timeout_secs: 30,
            max_concurrent_requests: 32,
            max_connections: 16,
        }
    }
}

/// `[unseal]`: the unseal ceremony.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct UnsealConfig {
    progress_timeout_secs: u64,
}

impl Default for UnsealConfig {
    fn default() -> Self {
        Self {
            progress_timeout_secs: 600,
        }
    }
}

impl Config {
    /// Reads and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        read_toml::<Self>(path)
            .map_err(ConfigError::from)?
            .validated()
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        parse_toml::<Self>(text)
            .map_err(ConfigError::from)?
            .validated()
    }

    /// Checks what the types alone do not, and builds the gateway table.
    fn validated(mut self) -> Result<Self, ConfigError> {
        self.validate()?;
        if let Some(kmip) = &self.kmip {
            self.gateways = kmip.validate()?;
        }
        if let Some(orchestration) = &self.orchestration {
            orchestration.validate()?;
        }
        Ok(self)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        require_absolute("data_dir", &self.data_dir)?;
        if let StoreConfig::Postgres(store) = &self.store {
            store.validate()?;
        }
        self.audit.check::<ConfigError>()?;
        require_absolute("control.socket", &self.control.socket)?;
        require_range(
            "control.max_request_bytes",
            self.control.max_request_bytes,
            1024,
            1024 * 1024,
        )?;
        require_range(
            "control.request_timeout_secs",
            self.control.request_timeout_secs,
            1,
            3600,
        )?;
        require_range(
            "control.max_concurrent_requests",
            self.control.max_concurrent_requests,
            1,
            1024,
        )?;
        require_range(
            "control.max_connections",
            self.control.max_connections,
            1,
            1024,
        )?;
        require_range(
            "unseal.progress_timeout_secs",
            self.unseal.progress_timeout_secs,
            1,
            24 * 3600,
        )?;
        Ok(())
    }

    /// The core's directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the sealed records are kept.
    pub fn store(&self) -> &StoreConfig {
        &self.store
    }

    /// The path of the operators' control socket.
    pub fn control_socket(&self) -> &Path {
        &self.control.socket
    }

    /// The largest control request the core decodes.
    pub fn max_request_bytes(&self) -> usize {
        self.control.max_request_bytes
    }

    /// How long one control request may take before it is cancelled.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.control.request_timeout_secs)
    }

    /// How many requests one control connection may have in flight.
    pub fn max_concurrent_requests(&self) -> usize {
        self.control.max_concurrent_requests
    }

    /// How many control connections are served at once; more wait to be accepted.
    pub fn max_connections(&self) -> usize {
        self.control.max_connections
    }

    /// How long received shares are kept while waiting for the rest.
    pub fn unseal_progress_timeout(&self) -> Duration {
        Duration::from_secs(self.unseal.progress_timeout_secs)
    }

    /// The settings a reload does not apply (only `[kmip.tls]` and `[[kmip.gateways]]` are),
    /// named, that differ between `self`, the configuration the core started with, and `next`.
    pub(crate) fn restart_only_changes(&self, next: &Self) -> Vec<&'static str> {
        // Adding or removing [kmip] is refused by the reload itself.
        let listen = |config: &Self| config.kmip.as_ref().map(|kmip| kmip.listen);
        let source = |config: &Self| config.kmip.as_ref().map(|kmip| kmip.identity_source);
        let limits = |config: &Self| config.kmip.as_ref().map(|kmip| kmip.limits.clone());
        [
            ("data_dir", self.data_dir != next.data_dir),
            ("[store]", self.store != next.store),
            ("[control]", self.control != next.control),
            ("[unseal]", self.unseal != next.unseal),
            ("[hardening]", self.hardening != next.hardening),
            ("[pkcs11]", self.pkcs11 != next.pkcs11),
            ("[seal]", self.seal != next.seal),
            ("[kmip] listen", listen(self) != listen(next)),
            ("[kmip] identity_source", source(self) != source(next)),
            ("[kmip.limits]", limits(self) != limits(next)),
            ("[telemetry]", self.telemetry != next.telemetry),
            ("[audit]", self.audit != next.audit),
            ("[orchestration]", self.orchestration != next.orchestration),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }

    pub(crate) fn hsm(&self) -> Option<&HsmConfig> {
        self.pkcs11.as_ref()
    }

    /// The `[seal]` table: how the master key is kept between runs.
    pub(crate) fn seal(&self) -> &SealConfig {
        &self.seal
    }

    /// The `[kmip]` table and the gateways it lists, if the core serves KMIP.
    pub(crate) fn kmip(&self) -> Option<(&KmipConfig, &Gateways)> {
        self.kmip.as_ref().map(|kmip| (kmip, &self.gateways))
    }

    /// The telemetry listener, if configured.
    pub(crate) fn telemetry(&self) -> Option<&TelemetryConfig> {
        self.telemetry.as_ref()
    }

    /// What is recorded and where it is exported.
    pub(crate) fn audit(&self) -> &AuditConfig {
        &self.audit
    }

    /// The `[orchestration]` table, if the governance plane drives this core.
    pub(crate) fn orchestration(&self) -> Option<&OrchestrationConfig> {
        self.orchestration.as_ref()
    }

    /// What process hardening may let pass: whether the core may run where memory cannot be
    /// locked (development only).
    pub fn hardening(&self) -> Hardening {
        self.hardening
    }
}

#[cfg(test)]
mod tests {
    use krypton_service::config::{ConfigFileError, OutOfRange, RelativePath};

    use super::*;

    #[test]
    fn minimal_file_takes_defaults() {
        let config = Config::parse("data_dir = \"/var/lib/krypton\"").unwrap();
        assert_eq!(config.data_dir(), Path::new("/var/lib/krypton"));
        assert_eq!(
            config.control_socket(),
            Path::new("/run/krypton/control.sock")
        );
        assert_eq!(config.unseal_progress_timeout(), Duration::from_secs(600));
        assert!(!config.hardening().allow_unlocked_memory);
    }

    #[test]
    fn every_section_is_read() {
        let config = Config::parse(
            r#"
            data_dir = "/srv/krypton"
            [control]
            socket = "/tmp/k.sock"
            max_request_bytes = 4096
            request_timeout_secs = 5
            max_concurrent_requests = 4
            [unseal]
            progress_timeout_secs = 60
            [hardening]
            allow_unlocked_memory = true
            "#,
        )
        .unwrap();
        assert_eq!(config.control_socket(), Path::new("/tmp/k.sock"));
        assert_eq!(config.max_request_bytes(), 4096);
        assert_eq!(config.request_timeout(), Duration::from_secs(5));
        assert_eq!(config.max_concurrent_requests(), 4);
        assert_eq!(config.unseal_progress_timeout(), Duration::from_secs(60));
        assert!(config.hardening().allow_unlocked_memory);
    }

    #[test]
    fn unknown_keys_are_errors() {
        for text in [
            "data_dir = \"/d\"\nlisten = \"x\"",
            "data_dir = \"/d\"\n[control]\nsocket_mode = 1",
            "data_dir = \"/d\"\n[contrl]\nsocket = \"/x.sock\"",
        ] {
            let err = Config::parse(text).unwrap_err();
            assert!(
                matches!(err, ConfigError::File(ConfigFileError::Parse(_))),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn data_dir_is_required_and_absolute() {
        assert!(matches!(
            Config::parse("").unwrap_err(),
            ConfigError::File(ConfigFileError::Parse(_))
        ));
        assert!(matches!(
            Config::parse("data_dir = \"var/lib\"").unwrap_err(),
            ConfigError::RelativePath(RelativePath {
                key: "data_dir",
                ..
            })
        ));
    }

    #[test]
    fn limits_are_bounded() {
        let err =
            Config::parse("data_dir = \"/d\"\n[unseal]\nprogress_timeout_secs = 0").unwrap_err();
        assert!(matches!(
            err,
            ConfigError::OutOfRange(OutOfRange {
                key: "unseal.progress_timeout_secs",
                ..
            })
        ));
        let err = Config::parse("data_dir = \"/d\"\n[control]\nmax_request_bytes = 100000000")
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::OutOfRange(OutOfRange {
                key: "control.max_request_bytes",
                ..
            })
        ));
    }
}
