//! `kryptonctl doctor`'s checks of the core's files, as the configuration file names them now:
//! the file itself, the data directory (or the PostgreSQL store's password), the PIN files and the TLS files of the KMIP,
//! orchestration and telemetry listeners. The
//! file is read again (as a reload would), so an edit that would break the next start or reload
//! shows before it is needed.

use std::path::Path;
use std::time::SystemTime;

use krypton_service::doctor::{self, Finding, TlsPaths};

use crate::config::Config;
use crate::hsm_seal::SealConfig;
use crate::store::StoreConfig;

/// The findings on the configuration file at `path` and the files it names. Blocking file I/O.
pub(crate) fn file_findings(path: &Path, now: SystemTime) -> Vec<Finding> {
    let (mut findings, config) = doctor::loaded_config(path, Config::load);
    let Some(config) = config else {
        return findings;
    };
    match config.store() {
        StoreConfig::Rocksdb {} => {
            findings.push(doctor::private_directory("data-dir", config.data_dir()));
        }
        StoreConfig::Postgres(store) => {
            if let Some(password) = &store.password {
                findings.push(doctor::secret("store-password", password));
            }
        }
    }
    if let Some(hsm) = config.hsm() {
        findings.push(doctor::secret("hsm-pin", hsm.pin()));
    }
    if let SealConfig::Pkcs11(seal) = config.seal() {
        findings.push(doctor::secret("seal-pin", seal.hsm().pin()));
    }
    if let Some((kmip, _)) = config.kmip() {
        findings.extend(doctor::tls("tls", TlsPaths::from(&kmip.tls), now));
    }
    let grpc = config.orchestration().and_then(|o| o.grpc.as_ref());
    if let Some(grpc) = grpc {
        findings.extend(doctor::tls(
            "orchestration-tls",
            TlsPaths::from(&grpc.tls),
            now,
        ));
    }
    if let Some(tls) = config.telemetry().and_then(|t| t.tls.as_ref()) {
        findings.extend(doctor::tls("telemetry-tls", TlsPaths::from(tls), now));
    }
    findings
}
