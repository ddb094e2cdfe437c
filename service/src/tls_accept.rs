//! The accept loop of a listener that takes TLS connections alone (the core's orchestration
//! API, a telemetry listener with `[telemetry.tls]`): TCP, then the handshake on the
//! connection's own task, bounded in time, then the listener's own admission.
//!
//! The loop never waits on a client. A connection is taken only while one of the listener's
//! places is free, otherwise it is closed at once, so a flood of silent connects cannot queue;
//! the place goes with the admitted connection (held for its life) or is dropped by the
//! admission (held for the handshake alone). Every refusal is logged with the remote address
//! and the reason, a revoked or unknown certificate among them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Admitted connections waiting for the server to take them.
const READY_QUEUE: usize = 16;

/// Accepts on `listener` with `tls`, at most `places` connections at once, and hands over
/// what `admit` makes of each completed handshake, until the receiver is dropped. `name`
/// starts the log lines (`"<name> connection refused: …"`).
pub fn accept_tls<T, A>(
    name: &'static str,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    places: usize,
    admit: A,
) -> mpsc::Receiver<T>
where
    T: Send + 'static,
    A: Fn(TlsStream<TcpStream>, SocketAddr, OwnedSemaphorePermit) -> Result<T, String>
        + Send
        + Sync
        + 'static,
{
    let (ready, admitted) = mpsc::channel(READY_QUEUE);
    let acceptor = TlsAcceptor::from(tls);
    let places = Arc::new(Semaphore::new(places));
    tokio::spawn(accept_loop(
        name,
        listener,
        acceptor,
        places,
        Arc::new(admit),
        ready,
    ));
    admitted
}

async fn accept_loop<T, A>(
    name: &'static str,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    places: Arc<Semaphore>,
    admit: Arc<A>,
    ready: mpsc::Sender<T>,
) where
    T: Send + 'static,
    A: Fn(TlsStream<TcpStream>, SocketAddr, OwnedSemaphorePermit) -> Result<T, String>
        + Send
        + Sync
        + 'static,
{
    loop {
        let (tcp, remote) = tokio::select! {
            () = ready.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "{name} accept failed");
                    // Out of file descriptors or memory: pause rather than spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(place) = Arc::clone(&places).try_acquire_owned() else {
            tracing::warn!(%remote, "{name} connection refused: at the connection limit");
            continue;
        };
        let (acceptor, admit, ready) = (acceptor.clone(), Arc::clone(&admit), ready.clone());
        tokio::spawn(async move {
            let admitted = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                Err(_) => Err("the TLS handshake timed out".to_owned()),
                Ok(Err(error)) => Err(format!("TLS handshake failed: {error}")),
                Ok(Ok(stream)) => admit(stream, remote, place),
            };
            match admitted {
                // The server gone: the connection is dropped with the send.
                Ok(connection) => drop(ready.send(connection).await),
                Err(reason) => tracing::warn!(%remote, %reason, "{name} connection refused"),
            }
        });
    }
}
