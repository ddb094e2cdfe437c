//! The orchestration listener: TCP, then a mutual-TLS handshake, then the client's identity
//! checked against the orchestrators in config, before gRPC sees a byte.
//!
//! A connection is accepted only while a place is free (`max_connections`); otherwise it is
//! closed at once, so a flood cannot queue. The handshake is bounded in time on the
//! connection's own task: the accept loop never waits on a client. A certificate that chains
//! to the CA but names no orchestrator is refused at this point, before any request.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use kmip::net::{IdentitySource, PeerIdentity};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use crate::admitted::Admitted;

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Authenticated connections waiting for the gRPC server to take them.
const READY_QUEUE: usize = 16;

/// An orchestrator, as its certificate names it: put on every request by the transport.
#[derive(Debug, Clone)]
pub(super) struct Orchestrator(pub(super) Arc<str>);

/// An authenticated orchestrator's connection; its place is freed when it closes.
pub(super) type OrchestratorStream = Admitted<TlsStream<TcpStream>, Orchestrator>;

/// What the listener needs to admit a connection.
#[derive(Debug, Clone)]
pub(super) struct Admission {
    pub(super) tls: Arc<ServerConfig>,
    pub(super) identity_source: IdentitySource,
    pub(super) orchestrators: Arc<HashSet<String>>,
    pub(super) max_connections: usize,
}

/// Accepts on `listener` and yields the connections of authenticated orchestrators, until
/// the stream is dropped.
pub(super) fn incoming(
    listener: TcpListener,
    admission: Admission,
) -> ReceiverStream<io::Result<OrchestratorStream>> {
    let (ready, stream) = mpsc::channel(READY_QUEUE);
    tokio::spawn(accept_loop(listener, admission, ready));
    ReceiverStream::new(stream)
}

async fn accept_loop(
    listener: TcpListener,
    admission: Admission,
    ready: mpsc::Sender<io::Result<OrchestratorStream>>,
) {
    let places = Arc::new(Semaphore::new(admission.max_connections));
    let acceptor = TlsAcceptor::from(Arc::clone(&admission.tls));
    let admission = Arc::new(admission);
    loop {
        let (tcp, remote) = tokio::select! {
            () = ready.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "orchestration accept failed");
                    // Out of file descriptors or memory: pause rather than spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(place) = Arc::clone(&places).try_acquire_owned() else {
            tracing::warn!(%remote, "orchestration connection refused: at the connection limit");
            continue;
        };
        let acceptor = acceptor.clone();
        let admission = Arc::clone(&admission);
        let ready = ready.clone();
        tokio::spawn(async move {
            match authenticate(&acceptor, &admission, tcp, place).await {
                Ok(stream) => {
                    tracing::info!(%remote, orchestrator = %stream.peer().0, "orchestrator connected");
                    // The server gone: the connection is dropped with the send.
                    let _ = ready.send(Ok(stream)).await;
                }
                Err(reason) => {
                    tracing::warn!(%remote, %reason, "orchestration connection refused");
                }
            }
        });
    }
}

/// The handshake, bounded in time, and the identity check.
async fn authenticate(
    acceptor: &TlsAcceptor,
    admission: &Admission,
    tcp: TcpStream,
    place: OwnedSemaphorePermit,
) -> Result<OrchestratorStream, String> {
    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
        .await
        .map_err(|_| "the TLS handshake timed out".to_owned())?
        .map_err(|error| format!("TLS handshake failed: {error}"))?;
    let certificate = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(<[_]>::first)
        .ok_or_else(|| "no client certificate".to_owned())?;
    let identity = PeerIdentity::from_certificate(certificate, admission.identity_source)
        .map_err(|error| format!("unusable client certificate: {error}"))?;
    if !admission.orchestrators.contains(identity.name()) {
        return Err(format!("{identity} is not an orchestrator"));
    }
    Ok(Admitted::new(
        tls,
        Orchestrator(identity.name().into()),
        place,
    ))
}
