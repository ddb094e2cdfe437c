//! The telemetry listener's optional mutual TLS, for a scraper on another host: the daemons'
//! shared TLS accept loop ([`accept_tls`]), with a place held for the handshake alone (a
//! scraper or two and their retries need few), then HTTP.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use crate::tls_accept::accept_tls;

/// Handshakes in progress at once; a connection beyond them is closed at once.
const MAX_HANDSHAKES: usize = 16;

/// A listener whose connections have completed a mutual-TLS handshake, for `axum::serve`.
/// Dropped, it stops accepting.
#[derive(Debug)]
pub(super) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Accepts on `listener` and hands over the connections whose handshake under `tls`
    /// succeeded.
    pub(super) fn new(listener: TcpListener, tls: Arc<ServerConfig>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let ready = accept_tls(
            "telemetry",
            listener,
            tls,
            MAX_HANDSHAKES,
            |stream, remote, place| {
                drop(place);
                Ok((stream, remote))
            },
        );
        Ok(Self { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop ends only once this receiver is dropped: never while in use.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
