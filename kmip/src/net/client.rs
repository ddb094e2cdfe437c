//! A KMIP client connection over mutual TLS: one request at a time, each bounded by a timeout,
//! and the dialling it shares with [`Pool`](crate::net::Pool).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::framing::{FrameReader, FrameWriter};
use crate::net::error::NetError;
use crate::net::limits::ClientLimits;
use crate::ttlv::Item;

/// One connection to a KMIP server.
///
/// Any failed call poisons the connection (its stream position is lost): later calls fail
/// with [`NetError::Poisoned`], and the caller connects anew. So does dropping a call's future
/// before it completes.
#[derive(Debug)]
pub struct Client {
    /// `None` once poisoned.
    stream: Option<TlsStream<TcpStream>>,
    reader: FrameReader,
    writer: FrameWriter,
    request_timeout: Duration,
}

impl Client {
    /// Connects to `addr` (`host:port`) and completes the TLS handshake, verifying the server's
    /// certificate against `server_name`, all within [`ClientLimits::connect_timeout`].
    ///
    /// # Errors
    ///
    /// [`NetError::InvalidServerName`], [`NetError::Connect`], [`NetError::Handshake`] or
    /// [`NetError::ConnectTimeout`].
    pub async fn connect(
        addr: &str,
        server_name: &str,
        tls: Arc<ClientConfig>,
        limits: &ClientLimits,
    ) -> Result<Self, NetError> {
        Dialer::new(addr, server_name, tls, limits.clone())?
            .dial()
            .await
    }

    /// Sends `request` and returns the response, within [`ClientLimits::request_timeout`].
    ///
    /// # Errors
    ///
    /// [`NetError::Poisoned`] if an earlier call failed. Otherwise [`NetError::RequestTimeout`],
    /// [`NetError::Closed`] or [`NetError::Transport`], each of which poisons the connection.
    pub async fn call(&mut self, request: &Item) -> Result<Item, NetError> {
        let Self {
            stream,
            reader,
            writer,
            request_timeout,
        } = self;
        let Some(connection) = stream.as_mut() else {
            return Err(NetError::Poisoned);
        };
        let exchange = async {
            writer.write_message(connection, request).await?;
            reader
                .read_message(connection)
                .await?
                .ok_or(NetError::Closed)
        };
        let outcome = match timeout(*request_timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(NetError::RequestTimeout {
                after: *request_timeout,
            }),
        };
        if outcome.is_err() {
            *stream = None;
        }
        outcome
    }

    /// Whether the connection can take a request: not poisoned, and not closed by the server.
    ///
    /// Looks at the stream without waiting. The server never speaks unasked, so anything
    /// readable between requests — end of stream, an alert, stray bytes — means the connection
    /// is gone; it is then poisoned.
    pub fn is_usable(&mut self) -> bool {
        let Some(stream) = self.stream.as_mut() else {
            return false;
        };
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        let mut context = Context::from_waker(Waker::noop());
        let idle = Pin::new(stream)
            .poll_read(&mut context, &mut buf)
            .is_pending();
        if !idle {
            self.stream = None;
        }
        idle
    }
}

/// Everything needed to open a connection to one server, again and again.
#[derive(Debug)]
pub(super) struct Dialer {
    addr: String,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    pub(super) limits: ClientLimits,
}

impl Dialer {
    pub(super) fn new(
        addr: &str,
        server_name: &str,
        tls: Arc<ClientConfig>,
        limits: ClientLimits,
    ) -> Result<Self, NetError> {
        let server_name = ServerName::try_from(server_name.to_owned()).map_err(|source| {
            NetError::InvalidServerName {
                name: server_name.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            addr: addr.to_owned(),
            server_name,
            tls,
            limits,
        })
    }

    /// A new connection, within the connect timeout.
    pub(super) async fn dial(&self) -> Result<Client, NetError> {
        let after = self.limits.connect_timeout;
        let stream = match timeout(after, self.open()).await {
            Ok(opened) => opened?,
            Err(_) => {
                return Err(NetError::ConnectTimeout {
                    addr: self.addr.clone(),
                    after,
                });
            }
        };
        Ok(Client {
            stream: Some(stream),
            reader: FrameReader::new(self.limits.codec),
            writer: FrameWriter::new(),
            request_timeout: self.limits.request_timeout,
        })
    }

    async fn open(&self) -> Result<TlsStream<TcpStream>, NetError> {
        let tcp = TcpStream::connect(&self.addr)
            .await
            .map_err(|source| NetError::Connect {
                addr: self.addr.clone(),
                source,
            })?;
        // One small request at a time: Nagle's algorithm would only add latency.
        tcp.set_nodelay(true).map_err(|source| NetError::Connect {
            addr: self.addr.clone(),
            source,
        })?;
        TlsConnector::from(Arc::clone(&self.tls))
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|source| NetError::Handshake {
                addr: self.addr.clone(),
                source,
            })
    }
}
