//! The telemetry listener's optional mutual TLS, for a scraper on another host: TCP, then the
//! handshake on the connection's own task, then HTTP.
//!
//! The accept loop never waits on a client: a handshake runs on its own task, bounded in time,
//! and only so many run at once; a connection beyond that is closed at once, so a flood of
//! silent connects cannot keep the scraper out for longer than the handshake timeout.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once: a scraper or two and their retries need far fewer.
const MAX_HANDSHAKES: usize = 16;

/// A listener whose connections have completed a mutual-TLS handshake, for `axum::serve`.
#[derive(Debug)]
pub(super) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `listener` and hands over the connections whose handshake under `tls`
    /// succeeded, until dropped.
    pub(super) fn new(listener: TcpListener, tls: Arc<ServerConfig>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (done, ready) = mpsc::channel(MAX_HANDSHAKES);
        let accepting = tokio::spawn(accept_loop(listener, TlsAcceptor::from(tls), done));
        Ok(Self {
            local,
            ready,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // The server has stopped: stop accepting too (handshakes in flight end on their own).
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop ends only when aborted by `drop`: never while the server runs.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    done: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let places = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "telemetry accept failed");
                // Out of file descriptors or memory: pause rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(place) = Arc::clone(&places).try_acquire_owned() else {
            tracing::warn!(%remote, "telemetry connection refused: too many TLS handshakes in progress");
            continue;
        };
        let (acceptor, done) = (acceptor.clone(), done.clone());
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
            drop(place);
            match handshake {
                // The server gone: the connection is dropped with the send.
                Ok(Ok(stream)) => drop(done.send((stream, remote)).await),
                Ok(Err(error)) => {
                    tracing::warn!(%remote, %error, "telemetry connection refused: TLS handshake failed");
                }
                Err(_) => {
                    tracing::warn!(%remote, "telemetry connection refused: the TLS handshake timed out");
                }
            }
        });
    }
}
