//! One server-side connection: TLS handshake, peer identity, then requests answered in order.
//!
//! Every wait is bounded: the handshake by the handshake timeout, the pause between messages by
//! the idle timeout, a message from its first byte to its last by the read timeout, a response
//! by the write timeout. Between messages the connection also listens for shutdown; once a
//! message has begun, it is read, handled and answered before shutdown is looked at again.
//!
//! TTLV that does not decode is answered with a KMIP error response in protocol version 1.0
//! (the request's version is unknown), then the connection is closed: after a framing fault the
//! stream is no longer at a message boundary.

use std::error::Error;
use std::fmt::Display;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{Span, debug, info, warn};

use crate::enums::ResultReason;
use crate::framing::{FrameReader, FrameWriter};
use crate::message::{RequestMessage, ResponseMessage};
use crate::net::admission::{Admission, Arrival, HandshakePlace};
use crate::net::error::NetError;
use crate::net::identity::{IdentitySource, PeerIdentity};
use crate::net::limits::ServerLimits;
use crate::net::reload::TlsSource;
use crate::net::service::Service;
use crate::ttlv::Item;
use crate::version::ProtocolVersion;

/// What every connection of one server shares.
pub(super) struct Shared<S> {
    pub(super) tls: TlsSource,
    pub(super) admission: Arc<Admission>,
    pub(super) identity_source: IdentitySource,
    pub(super) limits: ServerLimits,
    pub(super) service: Arc<S>,
    /// Becomes `true` when the server shuts down.
    pub(super) stopping: watch::Receiver<bool>,
}

/// Serves one accepted TCP connection from `address` to its end. It starts in the handshake
/// stage (once `arrival` has a place there), and moves to the serving stage once
/// authenticated and admitted.
pub(super) async fn serve_connection<S: Service>(
    shared: Arc<Shared<S>>,
    tcp: TcpStream,
    address: IpAddr,
    arrival: Arrival,
) {
    let mut stopping = shared.stopping.clone();
    let mut place = tokio::select! {
        biased;
        _ = stopping.wait_for(|stopping| *stopping) => return,
        place = arrival.place() => match place {
            Some(place) => place,
            None => {
                info!("connection dropped: no place in the handshake stage in time");
                return;
            }
        },
    };
    let Some(stream) = handshake(&shared, tcp, &mut stopping, &mut place).await else {
        return;
    };
    let mut connection = Connection {
        stream,
        reader: FrameReader::new(shared.limits.codec),
        writer: FrameWriter::new(),
        limits: &shared.limits,
        stopping,
    };
    let peer = connection
        .identify(shared.identity_source)
        .and_then(|peer| admitted(&*shared.service, peer));
    match peer {
        Ok(peer) => {
            Span::current().record("peer", peer.name());
            match shared.admission.serve(address) {
                Ok(_serving) => {
                    drop(place);
                    connection.serve(&peer, &*shared.service).await;
                }
                Err(full) => warn!(?full, "connection closed: at the connection limit"),
            }
        }
        // Still in the handshake stage: the answer waits no longer than a handshake may, and
        // gives way to newer connections as a handshake does.
        Err(error) => {
            tokio::select! {
                () = connection.refuse(&error) => {}
                () = place.evicted() => info!("refused connection dropped: handshake stage full"),
            }
        }
    }
    connection.close().await;
}

/// `peer`, if the service serves it.
fn admitted<S: Service>(service: &S, peer: PeerIdentity) -> Result<PeerIdentity, NetError> {
    if service.admits(&peer) {
        return Ok(peer);
    }
    Err(NetError::NotAdmitted {
        identity: peer.name().to_owned(),
    })
}

/// The TLS handshake, bounded by the handshake timeout, abandoned on shutdown and when newer
/// connections push this one out of the handshake stage.
async fn handshake<S>(
    shared: &Shared<S>,
    tcp: TcpStream,
    stopping: &mut watch::Receiver<bool>,
    place: &mut HandshakePlace,
) -> Option<TlsStream<TcpStream>> {
    let limit = shared.limits.handshake_timeout;
    tokio::select! {
        biased;
        _ = stopping.wait_for(|stopping| *stopping) => {
            debug!("handshake abandoned: server shutting down");
            None
        }
        () = place.evicted() => {
            info!("handshake abandoned: the handshake stage is full and this was the oldest");
            None
        }
        accepted = timeout(limit, TlsAcceptor::from(shared.tls.current()).accept(tcp)) => match accepted {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(error)) => {
                info!(error = &error as &dyn Error, "TLS handshake failed");
                None
            }
            Err(_) => {
                info!(?limit, "TLS handshake timed out");
                None
            }
        },
    }
}

/// An authenticated TLS stream and its message buffers.
struct Connection<'a> {
    stream: TlsStream<TcpStream>,
    reader: FrameReader,
    writer: FrameWriter,
    limits: &'a ServerLimits,
    stopping: watch::Receiver<bool>,
}

/// Why a connection stopped taking requests.
#[derive(Debug)]
enum End {
    /// The client closed the connection between messages.
    PeerClosed,
    /// No message began within the idle timeout.
    Idle,
    /// The server is shutting down.
    Stopping,
    /// A message began but did not complete within the read timeout.
    Stalled,
    /// The bytes are not a valid TTLV message.
    Malformed(crate::Error),
    /// Reading or writing failed, or a response could not be encoded.
    Failed(crate::Error),
    /// A response could not be written within the write timeout.
    WriteStalled,
}

impl Connection<'_> {
    /// The peer's identity, from the certificate the handshake verified.
    fn identify(&self, source: IdentitySource) -> Result<PeerIdentity, NetError> {
        let (_, session) = self.stream.get_ref();
        let certificate = session
            .peer_certificates()
            .and_then(<[_]>::first)
            .ok_or(NetError::NoClientCertificate)?;
        let peer = PeerIdentity::from_certificate(certificate, source)?;
        info!(
            peer = peer.name(),
            %source,
            version = ?session.protocol_version(),
            suite = ?session.negotiated_cipher_suite().map(|suite| suite.suite()),
            "client authenticated",
        );
        Ok(peer)
    }

    /// Answers requests until the client leaves, a limit is hit, or the server shuts down.
    async fn serve<S: Service>(&mut self, peer: &PeerIdentity, service: &S) {
        let end = loop {
            let request = match self.next_request(self.limits.idle_timeout).await {
                Ok(request) => request,
                Err(End::Malformed(error)) => {
                    let response =
                        error_response(ProtocolVersion::V1_0, error.result_reason(), &error);
                    // The peer gets the reason if it still listens; the end is logged anyway.
                    let _ = self.answer(&response).await;
                    break End::Malformed(error);
                }
                Err(end) => break end,
            };
            let response = service.handle(peer, request).await;
            if let Err(end) = self.answer(&response).await {
                break end;
            }
        };
        log_end(&end);
    }

    /// Answers the first request of a client whose certificate names no usable or admitted
    /// identity with *Authentication Not Successful*, saying why. Read first, so the answer is
    /// not lost to a connection reset while the client is still sending; waited for no longer
    /// than a handshake may take.
    async fn refuse(&mut self, error: &NetError) {
        warn!(%error, "client refused: no identity this server serves");
        let version = match self.next_request(self.limits.handshake_timeout).await {
            Ok(request) => RequestMessage::protocol_version_of(&request)
                .filter(|version| version.is_supported())
                .unwrap_or(ProtocolVersion::V1_0),
            Err(End::Malformed(_)) => ProtocolVersion::V1_0,
            Err(end) => {
                log_end(&end);
                return;
            }
        };
        let response = error_response(version, ResultReason::AuthenticationNotSuccessful, error);
        if let Err(end) = self.answer(&response).await {
            log_end(&end);
        }
    }

    /// Waits up to `wait` for the next message to begin, then reads it within the read timeout.
    async fn next_request(&mut self, wait: Duration) -> Result<Item, End> {
        // One byte first: the wait for a message to begin is the idle timeout's, and a one-byte
        // read is cancellation safe, so shutdown can interrupt it without losing data.
        let mut first = [0u8; 1];
        let began = tokio::select! {
            biased;
            _ = self.stopping.wait_for(|stopping| *stopping) => return Err(End::Stopping),
            began = timeout(wait, self.stream.read(&mut first)) => began,
        };
        match began {
            Err(_) => return Err(End::Idle),
            Ok(Ok(0)) => return Err(End::PeerClosed),
            // A client that closes TCP without a TLS close_notify between messages just left.
            Ok(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(End::PeerClosed);
            }
            Ok(Err(error)) => return Err(End::Failed(error.into())),
            Ok(Ok(_)) => {}
        }
        let mut message = (&first[..]).chain(&mut self.stream);
        match timeout(
            self.limits.read_timeout,
            self.reader.read_message(&mut message),
        )
        .await
        {
            Err(_) => Err(End::Stalled),
            Ok(Ok(Some(request))) => Ok(request),
            Ok(Ok(None)) => Err(End::PeerClosed),
            Ok(Err(error @ crate::Error::Io(_))) => Err(End::Failed(error)),
            Ok(Err(error)) => Err(End::Malformed(error)),
        }
    }

    async fn answer(&mut self, response: &Item) -> Result<(), End> {
        let write = self.writer.write_message(&mut self.stream, response);
        match timeout(self.limits.write_timeout, write).await {
            Ok(written) => written.map_err(End::Failed),
            Err(_) => Err(End::WriteStalled),
        }
    }

    /// Sends TLS close_notify and shuts the TCP stream down, as far as the client lets us
    /// within the write timeout.
    async fn close(&mut self) {
        let _ = timeout(self.limits.write_timeout, self.stream.shutdown()).await;
    }
}

fn log_end(end: &End) {
    match end {
        End::PeerClosed => debug!("connection closed by the client"),
        End::Stopping => debug!("connection closed: server shutting down"),
        End::Idle => info!("connection closed: idle timeout"),
        End::Stalled => warn!("connection dropped: message incomplete at the read timeout"),
        End::Malformed(error) => warn!(%error, "connection closed: malformed message"),
        End::Failed(error) => info!(error = error as &dyn Error, "connection failed"),
        End::WriteStalled => {
            warn!("connection dropped: response not taken within the write timeout")
        }
    }
}

/// A Response Message with one failed batch item, which names no operation: the request's is
/// unknown or irrelevant.
fn error_response(version: ProtocolVersion, reason: ResultReason, message: &impl Display) -> Item {
    ResponseMessage::failure(version, reason, message.to_string()).to_item()
}
