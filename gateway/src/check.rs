//! `krypton-gateway check --config FILE`: the gateway's half of `kryptonctl doctor`, run on the
//! gateway's host. One finding per check: the configuration file, the TLS files of the KMIP
//! listener and of the link to the core (permissions, certificates' and CRLs' dates), the
//! vault's password file, the vault reachable (one cheap read) and each core reachable over
//! mutual TLS (a Discover Versions) — each probe bounded as readiness bounds it.
//!
//! A RocksDB vault is checked as a directory and not opened: the gateway running on it holds
//! its lock.

use std::path::Path;
use std::time::SystemTime;

use krypton_service::ErrorChain;
use krypton_service::doctor::{self, Finding, TlsPaths};

use crate::config::{Config, CoreConfig, ServerVaultConfig, VaultConfig};
use crate::core_link::CoreLink;
use crate::health::{probe_core, probe_vault};
use crate::vault::{PostgresVault, RedisVault, Vault, VaultError};

/// The findings on the configuration at `path`, the files it names, its vault and its core.
pub async fn check(path: &Path) -> Vec<Finding> {
    let (mut findings, config) = doctor::loaded_config(path, Config::load);
    let Some(config) = config else {
        return findings;
    };
    findings.extend(tls_findings(&config, SystemTime::now()));
    findings.extend(vault_findings(config.vault()).await);
    findings.extend(core_findings(&config).await);
    findings
}

/// The KMIP listener's TLS files (`tls`), the core link's (`core-tls`) and the telemetry
/// listener's (`telemetry-tls`).
fn tls_findings(config: &Config, now: SystemTime) -> Vec<Finding> {
    let mut findings = doctor::tls("tls", TlsPaths::from(config.tls()), now);
    if let Some(tls) = config.telemetry().and_then(|t| t.tls.as_ref()) {
        findings.extend(doctor::tls("telemetry-tls", TlsPaths::from(tls), now));
    }
    let client = &config.core().tls;
    findings.extend(doctor::tls(
        "core-tls",
        TlsPaths {
            cert_chain: &client.cert_chain,
            private_key: &client.private_key,
            peer_ca: &client.server_ca,
            crls: &[],
        },
        now,
    ));
    findings
}

/// The vault: its directory, or its password file and one read on its server.
async fn vault_findings(vault: &VaultConfig) -> Vec<Finding> {
    const CHECK: &str = "vault";
    match vault {
        VaultConfig::Memory {} => vec![Finding::warning(
            CHECK,
            "memory: every key is lost when the gateway stops",
        )],
        VaultConfig::Rocksdb { path } => vec![doctor::private_directory(CHECK, path)],
        VaultConfig::Postgres(settings) => {
            let reached = reached(PostgresVault::connect(settings).await).await;
            server_findings("PostgreSQL", settings, reached)
        }
        VaultConfig::Redis(settings) => {
            let reached = reached(RedisVault::connect(settings).await).await;
            server_findings("Redis", settings, reached)
        }
    }
}

/// Whether the vault opened and answers one read; why not otherwise.
async fn reached(opened: Result<impl Vault, VaultError>) -> Result<(), String> {
    let vault = opened.map_err(|error| ErrorChain(&error).to_string())?;
    probe_vault(&vault).await
}

/// The password file's and client certificate's findings, and whether the server at
/// `settings.url` answered.
fn server_findings(
    backend: &str,
    settings: &ServerVaultConfig,
    reached: Result<(), String>,
) -> Vec<Finding> {
    let mut findings: Vec<Finding> = settings
        .password
        .iter()
        .map(|password| doctor::secret("vault-password", password))
        .collect();
    if let (Some(client), Some(ca)) = (&settings.client_certificate, &settings.server_ca) {
        let paths = TlsPaths {
            cert_chain: &client.cert_chain,
            private_key: &client.private_key,
            peer_ca: ca,
            crls: &[],
        };
        findings.extend(doctor::tls("vault-tls", paths, SystemTime::now()));
    }
    findings.push(match reached {
        Ok(()) => Finding::ok("vault", format!("{backend} at {} answers", settings.url)),
        Err(why) => Finding::fail("vault", format!("{backend} at {}: {why}", settings.url)),
    });
    findings
}

/// A Discover Versions at each core, over the link the gateway would use. With standbys listed
/// (`[core] failover`), one core answering is enough: a standby does not listen until it takes
/// over, so the others not answering is only a warning.
async fn core_findings(config: &Config) -> Vec<Finding> {
    const CHECK: &str = "core";
    let core = config.core();
    let mut findings = Vec::new();
    let mut answered = false;
    for address in core.addresses() {
        let alone = CoreConfig {
            address: address.to_owned(),
            failover: Vec::new(),
            ..core.clone()
        };
        let link = match CoreLink::new(&alone) {
            Ok(link) => link,
            Err(error) => return vec![Finding::fail(CHECK, ErrorChain(&error).to_string())],
        };
        findings.push(match probe_core(&link).await {
            Ok(()) => {
                answered = true;
                Finding::ok(CHECK, format!("{address} answers over mutual TLS"))
            }
            Err(why) if core.failover.is_empty() => {
                Finding::fail(CHECK, format!("{address}: {why}"))
            }
            Err(why) => Finding::warning(
                CHECK,
                format!("{address}: {why} (a standby listens only once it takes over)"),
            ),
        });
    }
    if !answered && !core.failover.is_empty() {
        findings.push(Finding::fail(CHECK, "no core answers"));
    }
    findings
}
