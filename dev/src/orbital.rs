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

/// Where a dev run with `--orbital` notes how to reach its broker, for `krypton-dev task`.
const BROKER_NOTE: &str = "orbital-broker.json";
/// The dev run's queues: the core's defaults.
const TASK_QUEUE: &str = "krypton.tasks";
const UNLINK_QUEUE: &str = "krypton.tasks.unlink";
const RESULTS_EXCHANGE: &str = "krypton.results";
const DEAD_LETTER_QUEUE: &str = "krypton.tasks.dead";
/// The queue `krypton-dev task` reads results from.
const RESULTS_SEEN: &str = "krypton-dev.results";

/// The core's `[orchestration.amqp]` for `broker`, with the default queue names.
pub fn amqp_settings(broker: &crate::broker::RabbitServer) -> crate::config::OrchestrationAmqp {
    crate::config::OrchestrationAmqp {
        url: format!("amqp://{}/%2f", broker.addr()),
        username: crate::broker::BROKER_USER.to_owned(),
        password: crate::config::Password::File(broker.password_file().to_owned()),
        server_ca: None,
        task_queue: TASK_QUEUE.to_owned(),
        unlink_queue: UNLINK_QUEUE.to_owned(),
        results_exchange: RESULTS_EXCHANGE.to_owned(),
        dead_letter_queue: DEAD_LETTER_QUEUE.to_owned(),
        max_attempts: 5,
    }
}

/// How `krypton-dev task` reaches the broker of the run in `data_dir`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct BrokerNote {
    url: String,
    username: String,
    password_file: std::path::PathBuf,
}

/// Notes in `data_dir` how to reach `broker` (its password stays in its own 0600 file).
///
/// # Errors
///
/// [`Error::Io`] if the note cannot be written.
pub fn save_broker(data_dir: &Path, broker: &crate::broker::RabbitServer) -> Result<(), Error> {
    let note = BrokerNote {
        url: format!("amqp://{}/%2f", broker.addr()),
        username: crate::broker::BROKER_USER.to_owned(),
        password_file: broker.password_file().to_owned(),
    };
    let path = data_dir.join(BROKER_NOTE);
    let text = serde_json::to_vec_pretty(&note).map_err(orchestration)?;
    std::fs::write(&path, text).map_err(|source| Error::Io {
        action: "write",
        path,
        source,
    })
}

/// Publishes `task` (JSON) to the broker of the `--orbital` run in `data_dir`, on the lane its
/// type calls for, and returns the core's first result for it.
///
/// # Errors
///
/// [`Error::Orchestration`] if no `--orbital` run is found, the task is not JSON with a
/// `task_id`, the broker fails, or no result comes within a minute.
pub fn publish_task(data_dir: &Path, task: &str) -> Result<String, Error> {
    let path = data_dir.join(BROKER_NOTE);
    let note = std::fs::read(&path).map_err(|error| {
        Error::Orchestration(format!(
            "{}: {error} (is krypton-dev running with --orbital on this data dir?)",
            path.display()
        ))
    })?;
    let note: BrokerNote = serde_json::from_slice(&note).map_err(orchestration)?;
    let value: serde_json::Value = serde_json::from_str(task).map_err(orchestration)?;
    let task_id = value["task_id"]
        .as_str()
        .ok_or_else(|| Error::Orchestration("the task has no \"task_id\"".to_owned()))?
        .to_owned();
    let queue = if value["type"] == "UNLINK_KEY" {
        UNLINK_QUEUE
    } else {
        TASK_QUEUE
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(orchestration)?;
    runtime.block_on(async {
        let broker = TaskBroker::connect(&note.url, &note.username, &note.password_file).await?;
        broker.bind_results(RESULTS_EXCHANGE, RESULTS_SEEN).await?;
        broker.publish(queue, task.as_bytes()).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            let Some(result) = broker.next(RESULTS_SEEN, Duration::from_secs(1)).await? else {
                continue;
            };
            let parsed: serde_json::Value =
                serde_json::from_slice(&result.body).map_err(orchestration)?;
            if parsed["task_id"] == task_id.as_str() {
                return Ok(parsed.to_string());
            }
        }
        Err(Error::Orchestration(format!(
            "no result for task {task_id} within a minute (see the dead-letter queue {DEAD_LETTER_QUEUE})"
        )))
    })
}
