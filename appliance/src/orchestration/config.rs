//! `[orchestration]`: how the governance plane reaches the core, over gRPC with mutual TLS, a
//! RabbitMQ broker, or both.
//!
//! ```toml
//! [orchestration]
//! task_retention_days = 7                      # how long task ids are remembered
//! [orchestration.grpc]
//! listen = "0.0.0.0:7443"
//! identity_source = "common_name"              # common_name | san_dns | san_uri
//! orchestrators = ["orbital-eu-1"]             # the certificate identities served
//! [orchestration.grpc.tls]
//! cert_chain = "/etc/krypton/core/orchestration.pem"
//! private_key = "/etc/krypton/core/orchestration.key"
//! client_ca = "/etc/krypton/core/orbital-ca.pem"
//! client_crls = ["/etc/krypton/core/orbital-ca.crl"]   # optional
//! [orchestration.amqp]
//! url = "amqps://broker.example:5671/%2f"        # no credentials in the URL
//! username = "krypton-core-eu-1"
//! password = { file = "/etc/krypton/core/amqp.password" }  # or { systemd_credential = "…" }
//! server_ca = "/etc/krypton/core/broker-ca.pem"  # amqps: the broker's CA
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kmip::net::{IdentitySource, TlsFiles};
use krypton_service::config::{require_absolute, require_range};
use krypton_service::secret_file::SecretSource;
use serde::Deserialize;

use crate::error::ConfigError;

/// Most orchestrator identities one core serves.
const MAX_ORCHESTRATORS: usize = 64;

/// The `[orchestration]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrchestrationConfig {
    /// How long a task id that took effect is remembered: a task delivered again within this
    /// long acts once.
    #[serde(default = "default_retention_days")]
    task_retention_days: u64,
    pub(crate) grpc: Option<GrpcConfig>,
    pub(crate) amqp: Option<AmqpConfig>,
}

/// `[orchestration.grpc]`: the mutual-TLS gRPC listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrpcConfig {
    pub(crate) listen: SocketAddr,
    #[serde(default = "default_identity_source")]
    pub(crate) identity_source: IdentitySource,
    orchestrators: Vec<String>,
    pub(crate) tls: TlsFiles,
    /// Connections served at once; more are closed at once.
    #[serde(default = "default_max_connections")]
    pub(crate) max_connections: usize,
    /// How long one call may take (a link waits on the HSM).
    #[serde(default = "default_request_timeout_secs")]
    request_timeout_secs: u64,
}

/// `[orchestration.amqp]`: the RabbitMQ task consumer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AmqpConfig {
    /// `amqp://` or `amqps://` URL of the broker and vhost, without credentials.
    pub(crate) url: String,
    pub(crate) username: String,
    /// Where the broker password is read, at each connection: a file or a systemd credential.
    pub(crate) password: SecretSource,
    /// For `amqps://`: the CA of the broker's certificate, in PEM.
    pub(crate) server_ca: Option<PathBuf>,
    /// Link, rotate and service tasks, in order.
    #[serde(default = "default_task_queue")]
    pub(crate) task_queue: String,
    /// Lane 0: unlink tasks only, consumed on their own so they never wait behind the rest.
    #[serde(default = "default_unlink_queue")]
    pub(crate) unlink_queue: String,
    /// Where each task's result is published, routed by task type.
    #[serde(default = "default_results_exchange")]
    pub(crate) results_exchange: String,
    /// Where a task that cannot be carried out ends, with its reason.
    #[serde(default = "default_dead_letter_queue")]
    pub(crate) dead_letter_queue: String,
    /// How many times a task is tried before it is dead-lettered.
    #[serde(default = "default_max_attempts")]
    pub(crate) max_attempts: u32,
}

fn default_retention_days() -> u64 {
    7
}
fn default_identity_source() -> IdentitySource {
    IdentitySource::CommonName
}
fn default_max_connections() -> usize {
    64
}
fn default_request_timeout_secs() -> u64 {
    60
}
fn default_task_queue() -> String {
    "krypton.tasks".to_owned()
}
fn default_unlink_queue() -> String {
    "krypton.tasks.unlink".to_owned()
}
fn default_results_exchange() -> String {
    "krypton.results".to_owned()
}
fn default_dead_letter_queue() -> String {
    "krypton.tasks.dead".to_owned()
}
fn default_max_attempts() -> u32 {
    5
}

impl OrchestrationConfig {
    /// Checks paths, names and bounds.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        require_range(
            "orchestration.task_retention_days",
            self.task_retention_days,
            1,
            366,
        )?;
        if let Some(grpc) = &self.grpc {
            grpc.validate()?;
        }
        if let Some(amqp) = &self.amqp {
            amqp.validate()?;
        }
        Ok(())
    }

    /// How long task ids are remembered.
    pub(crate) fn task_retention(&self) -> Duration {
        Duration::from_secs(self.task_retention_days.saturating_mul(24 * 3600))
    }
}

impl GrpcConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        require_absolute("orchestration.grpc.tls.cert_chain", &self.tls.cert_chain)?;
        require_absolute("orchestration.grpc.tls.private_key", &self.tls.private_key)?;
        require_absolute("orchestration.grpc.tls.client_ca", &self.tls.client_ca)?;
        for crl in &self.tls.client_crls {
            require_absolute("orchestration.grpc.tls.client_crls", crl)?;
        }
        require_range(
            "orchestration.grpc.max_connections",
            self.max_connections,
            1,
            4096,
        )?;
        require_range(
            "orchestration.grpc.request_timeout_secs",
            self.request_timeout_secs,
            1,
            3600,
        )?;
        if self.orchestrators.is_empty() || self.orchestrators.len() > MAX_ORCHESTRATORS {
            return Err(ConfigError::Orchestration(format!(
                "orchestration.grpc.orchestrators must list 1 to {MAX_ORCHESTRATORS} identities"
            )));
        }
        Ok(())
    }

    /// The identities served.
    pub(crate) fn orchestrators(&self) -> Arc<HashSet<String>> {
        Arc::new(self.orchestrators.iter().cloned().collect())
    }

    /// How long one call may take.
    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

impl AmqpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(file) = self.password.file() {
            require_absolute("orchestration.amqp.password.file", file)?;
        }
        if let Some(ca) = &self.server_ca {
            require_absolute("orchestration.amqp.server_ca", ca)?;
        }
        let scheme_ok = self.url.starts_with("amqp://") || self.url.starts_with("amqps://");
        let authority = self.url.split_once("://").map_or("", |(_, rest)| rest);
        if !scheme_ok || authority.split('/').next().is_some_and(|a| a.contains('@')) {
            return Err(ConfigError::Orchestration(
                "orchestration.amqp.url must be amqp:// or amqps://, without credentials (use username and password)".to_owned(),
            ));
        }
        require_range("orchestration.amqp.max_attempts", self.max_attempts, 1, 100)?;
        for (key, name) in [
            ("task_queue", &self.task_queue),
            ("unlink_queue", &self.unlink_queue),
            ("results_exchange", &self.results_exchange),
            ("dead_letter_queue", &self.dead_letter_queue),
        ] {
            // AMQP short strings: at most 255 bytes.
            if name.is_empty() || name.len() > 255 {
                return Err(ConfigError::Orchestration(format!(
                    "orchestration.amqp.{key} must be 1 to 255 bytes"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amqp(url: &str) -> Result<(), ConfigError> {
        let table = format!(
            "url = {url:?}\nusername = \"core\"\npassword = {{ file = \"/etc/krypton/amqp.password\" }}\n"
        );
        toml::from_str::<AmqpConfig>(&table).unwrap().validate()
    }

    #[test]
    fn a_broker_url_with_credentials_is_refused() {
        assert!(amqp("amqps://broker.example:5671/%2f").is_ok());
        assert!(amqp("amqp://127.0.0.1:5672/%2f").is_ok());
        let error = amqp("amqp://core:secret@broker.example/%2f").unwrap_err();
        assert!(error.to_string().contains("without credentials"), "{error}");
        assert!(!error.to_string().contains("secret"), "{error}");
        assert!(amqp("http://broker.example/").is_err());
    }

    #[test]
    fn the_grpc_listener_needs_orchestrators() {
        let table = r#"
            listen = "127.0.0.1:7443"
            orchestrators = []
            [tls]
            cert_chain = "/etc/krypton/c.pem"
            private_key = "/etc/krypton/c.key"
            client_ca = "/etc/krypton/ca.pem"
        "#;
        let error = toml::from_str::<GrpcConfig>(table)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(error.to_string().contains("orchestrators"), "{error}");
    }
}
