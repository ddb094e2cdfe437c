//! The accept loop of a KMIP server: admission (see [`admission`](super::admission)), one task
//! per connection, graceful shutdown.
//!
//! The loop itself never waits on a client: a connection that would find no place to be served
//! is accepted and closed at once, and handshakes run on the connection's own task. On shutdown the listener is closed
//! first, so no new client gets in; connections between requests close at once, requests in
//! flight get [`ServerLimits::shutdown_grace`] to finish, and whatever is left is then cut.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tokio::time::{sleep, timeout};
use tracing::{Instrument, error, info, info_span, warn};

use crate::net::admission::Admission;
use crate::net::connection::{Shared, serve_connection};
use crate::net::identity::IdentitySource;
use crate::net::limits::ServerLimits;
use crate::net::reload::TlsSource;
use crate::net::service::Service;

/// The IANA-registered port of KMIP over TLS.
pub const DEFAULT_PORT: u16 = 5696;

/// How long the loop pauses after `accept` fails for want of resources (file descriptors,
/// memory), so a full process table does not turn it into a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves KMIP over mutual TLS on `listener` until `shutdown` completes, then drains.
///
/// `tls` (a fixed configuration, or a [`TlsSource`] that can be replaced while serving) must
/// require client certificates, as [`server_config`](crate::net::server_config)'s does; a client let in without one is refused. Each client's identity is read from its
/// certificate per `identity`; a client whose certificate has none is answered *Authentication
/// Not Successful* and disconnected. Returns once every connection has closed, at most
/// [`ServerLimits::shutdown_grace`] after `shutdown` completed.
pub async fn serve<S: Service>(
    listener: TcpListener,
    tls: impl Into<TlsSource>,
    identity: IdentitySource,
    limits: ServerLimits,
    service: Arc<S>,
    shutdown: impl Future<Output = ()>,
) {
    let grace = limits.shutdown_grace;
    let (stop, stopping) = watch::channel(false);
    let shared = Arc::new(Shared {
        tls: tls.into(),
        admission: Admission::new(limits.clone()),
        identity_source: identity,
        limits,
        service,
        stopping,
    });
    let mut connections = JoinSet::new();
    info!(address = ?listener.local_addr().ok(), "KMIP server listening");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => admit(&shared, &mut connections, tcp, remote),
                Err(error) => accept_failed(&error).await,
            },
            Some(joined) = connections.join_next() => reap(joined),
        }
    }
    drop(listener);
    info!(
        connections = connections.len(),
        "KMIP server shutting down: no longer accepting"
    );
    stop.send_replace(true);
    drain(connections, grace).await;
    info!("KMIP server stopped");
}

/// Starts the handshake of `tcp` in the handshake stage (or waiting for a place there), unless
/// it would find no place to be served: then it is closed at once.
fn admit<S: Service>(
    shared: &Arc<Shared<S>>,
    connections: &mut JoinSet<()>,
    tcp: TcpStream,
    remote: std::net::SocketAddr,
) {
    if let Some(full) = shared.admission.serving_full(remote.ip()) {
        warn!(%remote, ?full, "connection refused: at the connection limit");
        return;
    }
    // Requests and responses are small and answered one at a time: Nagle's algorithm would
    // only add latency.
    if let Err(error) = tcp.set_nodelay(true) {
        info!(%remote, %error, "connection dropped: cannot set TCP_NODELAY");
        return;
    }
    let span = info_span!("kmip_connection", %remote, peer = tracing::field::Empty);
    span.in_scope(|| info!("connection accepted"));
    // Placed here, in the order connections are accepted; only a wait for a place goes to the
    // connection's task.
    let arrival = shared.admission.handshake(remote.ip());
    connections
        .spawn(serve_connection(Arc::clone(shared), tcp, remote.ip(), arrival).instrument(span));
}

/// Carries on after a failed `accept`: at once if only that connection failed, after a pause if
/// the process ran out of resources.
async fn accept_failed(error: &io::Error) {
    let per_connection = matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    );
    if per_connection {
        info!(%error, "accept failed");
    } else {
        error!(%error, "accept failed; pausing");
        sleep(ACCEPT_BACKOFF).await;
    }
}

/// Logs a connection task that did not end normally: a panic in the service or the transport
/// takes down that connection only.
fn reap(joined: Result<(), JoinError>) {
    if let Err(error) = joined
        && error.is_panic()
    {
        error!(%error, "connection task panicked");
    }
}

/// Waits up to `grace` for every connection to finish, then cuts the rest.
async fn drain(mut connections: JoinSet<()>, grace: Duration) {
    let all_done = async {
        while let Some(joined) = connections.join_next().await {
            reap(joined);
        }
    };
    if timeout(grace, all_done).await.is_err() {
        warn!(
            remaining = connections.len(),
            ?grace,
            "shutdown grace over: cutting the remaining connections"
        );
        connections.shutdown().await;
    }
}
