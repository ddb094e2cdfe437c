//! Configuration reload (SIGHUP or `kryptonctl reload`): the core reads its configuration file
//! again and applies what can change while it runs — the KMIP listener's TLS files
//! (`[kmip.tls]`: certificate, key, client CAs, CRLs) and the gateways it serves
//! (`[[kmip.gateways]]`). The file is checked whole first: a file with any error changes
//! nothing. The seal, the store, the HSM and every key are left alone, so an unsealed core stays
//! unsealed: a reload is how an operator rotates a certificate or adds a gateway without an
//! unseal ceremony.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use kmip::net::TlsReload;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::Config;
use crate::error::{ErrorChain, ReloadError, StartError};
use crate::kmip_service::KmipService;

/// What a reload replaces: the KMIP listener's TLS and its service's gateway table, when the
/// core serves KMIP.
#[derive(Debug)]
pub(crate) struct Reloadable {
    pub(crate) tls: TlsReload,
    pub(crate) service: Arc<KmipService>,
}

/// Reloads the configuration file the core was started with.
#[derive(Debug)]
pub(crate) struct Reloader {
    path: PathBuf,
    /// What the core started with: a reload says which restart-only settings it leaves.
    started: Config,
    kmip: Option<Reloadable>,
    /// One reload at a time, so that the file read last is the one in force.
    running: Mutex<()>,
}

impl Reloader {
    /// Reloads of `path`, which the core `started` with, into `kmip` (`None`: the core serves
    /// no KMIP).
    pub(crate) fn new(path: PathBuf, started: Config, kmip: Option<Reloadable>) -> Self {
        Self {
            path,
            started,
            kmip,
            running: Mutex::new(()),
        }
    }

    /// The configuration file a reload reads.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file, checks it whole, then applies it; logs the outcome. Blocks on file I/O.
    /// Returns the settings that changed in the file but take a restart (the core runs on as
    /// it started with those).
    pub(crate) fn reload(&self) -> Result<Vec<&'static str>, ReloadError> {
        let _running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let applied = self.apply();
        match &applied {
            Ok(unapplied) => {
                tracing::warn!(
                    path = %self.path.display(),
                    "configuration reloaded: [kmip.tls] and [[kmip.gateways]] apply from the \
                     next handshake and request; other settings take a restart"
                );
                if !unapplied.is_empty() {
                    tracing::warn!(
                        changed = %unapplied.join(", "),
                        "settings changed in the file that a reload does not apply: they take \
                         a restart, and until then the core runs as it started"
                    );
                }
            }
            Err(error) => tracing::error!(
                path = %self.path.display(),
                error = %ErrorChain(error),
                "configuration not reloaded: the running one stays"
            ),
        }
        applied
    }

    /// Reads the file and applies it; everything is built and checked before anything is
    /// replaced.
    fn apply(&self) -> Result<Vec<&'static str>, ReloadError> {
        let config = Config::load(&self.path)?;
        match (config.kmip(), &self.kmip) {
            (Some((wanted, gateways)), Some(kmip)) => {
                let tls = kmip::net::server_config(&wanted.tls).map_err(ReloadError::Tls)?;
                kmip.tls.replace(Arc::new(tls));
                kmip.service.replace_gateways(gateways.clone());
            }
            (None, None) => {}
            // The listener is bound at start: serving KMIP or not takes a restart.
            (Some(_), None) | (None, Some(_)) => return Err(ReloadError::KmipAddedOrRemoved),
        }
        Ok(self.started.restart_only_changes(&config))
    }
}

/// SIGHUP's stream: from [`hangups`] on, SIGHUP is a reload rather than the end of the process.
pub(crate) fn hangups() -> Result<Signal, StartError> {
    signal(SignalKind::hangup()).map_err(|source| StartError::Io {
        context: "installing the SIGHUP handler",
        source,
    })
}

/// Reloads on every SIGHUP, for as long as the core runs.
pub(crate) async fn reload_on_hangups(reloader: Arc<Reloader>, mut hangups: Signal) {
    while hangups.recv().await.is_some() {
        let reloader = Arc::clone(&reloader);
        // The outcome is logged by the reload itself.
        let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
    }
}
