//! A server's TLS configuration that can be replaced while it serves: new certificates, keys
//! or client CAs take effect for the next handshake, and connections already open keep theirs.

use std::sync::Arc;

use rustls::ServerConfig;
use tokio::sync::watch;

/// Where a server takes the TLS configuration of each new connection from.
#[derive(Debug, Clone)]
pub struct TlsSource(watch::Receiver<Arc<ServerConfig>>);

/// Replaces the configuration a [`TlsSource`] gives out.
#[derive(Debug)]
pub struct TlsReload(watch::Sender<Arc<ServerConfig>>);

impl TlsSource {
    /// A source giving out `config` until its [`TlsReload`] replaces it.
    #[must_use]
    pub fn reloadable(config: Arc<ServerConfig>) -> (Self, TlsReload) {
        let (reload, source) = watch::channel(config);
        (Self(source), TlsReload(reload))
    }

    /// The configuration for a connection accepted now.
    pub(super) fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.0.borrow())
    }
}

impl From<Arc<ServerConfig>> for TlsSource {
    /// A configuration that is never replaced.
    fn from(config: Arc<ServerConfig>) -> Self {
        Self::reloadable(config).0
    }
}

impl TlsReload {
    /// From the next handshake on, connections get `config`.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        self.0.send_replace(config);
    }
}
