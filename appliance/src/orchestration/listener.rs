//! The orchestration listener: TCP, then a mutual-TLS handshake, then the client's identity
//! checked against the orchestrators in config, before gRPC sees a byte.
//!
//! The accept loop is the daemons' shared one ([`accept_tls`]): a connection is taken only while
//! a place is free (`max_connections`), held for the connection's life, and its handshake is
//! bounded in time on its own task. A certificate that chains to the CA but names no
//! orchestrator is refused at this point, before any request.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;

use kmip::net::{IdentitySource, PeerIdentity};
use krypton_service::tls_accept::accept_tls;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use crate::admitted::Admitted;

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
    let Admission {
        tls,
        identity_source,
        orchestrators,
        max_connections,
    } = admission;
    let admitted = accept_tls(
        "orchestration",
        listener,
        tls,
        max_connections,
        move |stream, remote, place| {
            let stream = authenticate(identity_source, &orchestrators, stream, place)?;
            tracing::info!(%remote, orchestrator = %stream.peer().0, "orchestrator connected");
            Ok(Ok(stream))
        },
    );
    ReceiverStream::new(admitted)
}

/// The identity check of a completed handshake: the connection keeps its `place`.
fn authenticate(
    identity_source: IdentitySource,
    orchestrators: &HashSet<String>,
    tls: TlsStream<TcpStream>,
    place: OwnedSemaphorePermit,
) -> Result<OrchestratorStream, String> {
    let certificate = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(<[_]>::first)
        .ok_or_else(|| "no client certificate".to_owned())?;
    let identity = PeerIdentity::from_certificate(certificate, identity_source)
        .map_err(|error| format!("unusable client certificate: {error}"))?;
    if !orchestrators.contains(identity.name()) {
        return Err(format!("{identity} is not an orchestrator"));
    }
    Ok(Admitted::new(
        tls,
        Orchestrator(identity.name().into()),
        place,
    ))
}
