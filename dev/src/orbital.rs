//! The governance plane's side of the core's orchestration API, for tests and the dev run: a
//! gRPC client over mutual TLS presenting [`ORCHESTRATOR_IDENTITY`]'s certificate (or any
//! other, to see it refused). Its TLS is set up here with rustls directly, so the client owes
//! nothing to the core's own TLS code.
//!
//! [`ORCHESTRATOR_IDENTITY`]: crate::pki::ORCHESTRATOR_IDENTITY

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use krypton_control_api::orchestration::v1::orchestration_client;
use rustls::crypto::aws_lc_rs;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::Error;
use crate::pki::{CertFiles, SERVER_NAMES};

/// A client of the orchestration API.
pub type OrchestrationClient = orchestration_client::OrchestrationClient<Channel>;

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one call may take (a link waits on the HSM).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects to the orchestration API at `addr` as the holder of `client`, checking the core's
/// certificate against `ca`. The connection is made lazily, at the first call: a refused
/// certificate shows there, as the call's error. Must be called inside a Tokio runtime,
/// which then carries the connection.
///
/// # Errors
///
/// [`Error::Orchestration`] if the certificate files cannot be read.
pub fn connect(
    addr: SocketAddr,
    client: &CertFiles,
    ca: &Path,
) -> Result<OrchestrationClient, Error> {
    let tls = TlsConnector::from(client_config(client, ca)?);
    let server = ServerName::try_from(SERVER_NAMES[0]).map_err(orchestration)?;
    let connector = tower::service_fn(move |_: Uri| {
        let (tls, server) = (tls.clone(), server.clone());
        async move {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let stream = tls.connect(server, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    // The URI only names the authority for HTTP/2; the connector above decides where to go.
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(orchestration)?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .connect_with_connector_lazy(connector);
    Ok(OrchestrationClient::new(channel))
}

fn client_config(client: &CertFiles, ca: &Path) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(orchestration)? {
        roots
            .add(cert.map_err(orchestration)?)
            .map_err(orchestration)?;
    }
    let chain = CertificateDer::pem_file_iter(&client.cert)
        .map_err(orchestration)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(orchestration)?;
    let key = PrivateKeyDer::from_pem_file(&client.key).map_err(orchestration)?;
    let mut config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(orchestration)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(orchestration)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn orchestration(error: impl std::fmt::Display) -> Error {
    Error::Orchestration(error.to_string())
}

/// The governance plane's side of the task broker: publishes tasks (persistent, confirmed by
/// the broker) and reads what the core answers, for tests and the dev run.
#[derive(Debug)]
pub struct TaskBroker {
    _connection: lapin::Connection,
    channel: lapin::Channel,
}

/// A message read back from a queue: its body and, if it has them, its text headers.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Vec<u8>,
    pub headers: std::collections::BTreeMap<String, String>,
}

impl TaskBroker {
    /// Connects to the broker at `url` (no credentials in it) as `username`, whose password
    /// is in `password_file`.
    ///
    /// # Errors
    ///
    /// [`Error::Orchestration`] if the broker cannot be reached or refuses the login.
    pub async fn connect(url: &str, username: &str, password_file: &Path) -> Result<Self, Error> {
        let mut uri: lapin::uri::AMQPUri = url.parse().map_err(orchestration)?;
        let password = std::fs::read_to_string(password_file).map_err(orchestration)?;
        uri.authority.userinfo.username = username.to_owned();
        uri.authority.userinfo.password = password.trim_end().to_owned();
        let connection =
            lapin::Connection::connect_uri(uri, lapin::ConnectionProperties::default())
                .await
                .map_err(orchestration)?;
        let channel = connection.create_channel().await.map_err(orchestration)?;
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .map_err(orchestration)?;
        Ok(Self {
            _connection: connection,
            channel,
        })
    }

    /// Declares durable `queue`, as the core declares its own (so it may be done first).
    ///
    /// # Errors
    ///
    /// [`Error::Orchestration`] if the broker refuses.
    pub async fn declare_queue(&self, queue: &str) -> Result<(), Error> {
        let options = lapin::options::QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        self.channel
            .queue_declare(queue.into(), options, lapin::types::FieldTable::default())
            .await
            .map_err(orchestration)?;
        Ok(())
    }

    /// Declares durable `queue` bound to the topic `exchange` for every result.
    ///
    /// # Errors
    ///
    /// [`Error::Orchestration`] if the broker refuses.
    pub async fn bind_results(&self, exchange: &str, queue: &str) -> Result<(), Error> {
        let options = lapin::options::ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        self.channel
            .exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Topic,
                options,
                lapin::types::FieldTable::default(),
            )
            .await
            .map_err(orchestration)?;
        self.declare_queue(queue).await?;
        self.channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                "result.#".into(),
                lapin::options::QueueBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await
            .map_err(orchestration)
    }

    /// Publishes `body` to `queue`, persistent, and waits for the broker to confirm it.
    ///
    /// # Errors
    ///
    /// [`Error::Orchestration`] if the broker refuses or does not confirm.
    pub async fn publish(&self, queue: &str, body: &[u8]) -> Result<(), Error> {
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                queue.into(),
                lapin::options::BasicPublishOptions::default(),
                body,
                lapin::BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .map_err(orchestration)?
            .await
            .map_err(orchestration)?;
        if confirm.is_nack() {
            return Err(Error::Orchestration(format!(
                "the broker refused a task on {queue}"
            )));
        }
        Ok(())
    }

    /// Takes the next message of `queue`, waiting up to `limit` for one.
    ///
    /// # Errors
    ///
    /// [`Error::Orchestration`] if the broker fails.
    pub async fn next(&self, queue: &str, limit: Duration) -> Result<Option<Received>, Error> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = self
                .channel
                .basic_get(
                    queue.into(),
                    lapin::options::BasicGetOptions { no_ack: true },
                )
                .await
                .map_err(orchestration)?;
            if let Some(message) = got {
                return Ok(Some(received(message.delivery)));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn received(delivery: lapin::message::Delivery) -> Received {
    let headers = delivery
        .properties
        .headers()
        .as_ref()
        .map(|table| {
            table
                .inner()
                .iter()
                .filter_map(|(key, value)| {
                    let text = match value {
                        lapin::types::AMQPValue::LongString(s) => s.to_string(),
                        lapin::types::AMQPValue::LongUInt(n) => n.to_string(),
                        lapin::types::AMQPValue::LongLongInt(n) => n.to_string(),
                        _ => return None,
                    };
                    Some((key.to_string(), text))
                })
                .collect()
        })
        .unwrap_or_default();
    Received {
        body: delivery.data,
        headers,
    }
}
