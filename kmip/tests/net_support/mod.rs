//! Shared by the `net_*` tests: a test PKI (krypton-dev's) in a temporary directory, KMIP
//! servers on ephemeral loopback ports, test services, and raw TLS connections that send
//! whatever bytes a test needs.
#![allow(dead_code, clippy::unwrap_used)] // each test crate uses its own part of this module

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kmip::net::{
    ClientLimits, ClientTlsFiles, IdentitySource, PeerIdentity, ServerLimits, Service, TlsFiles,
    TlsSource, client_config, serve, server_config,
};
use kmip::{
    DiscoverVersionsRequest, FrameReader, Item, Limits, ProtocolVersion, RequestBatchItem,
    RequestHeader, RequestMessage, ResponseMessage, ResultReason, Tag, Value,
};
pub use krypton_dev::pki::Subject;
use krypton_dev::pki::{Ca, client_params, server_params};
use rustls::crypto::aws_lc_rs;
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The name in the test server's certificate.
pub const SERVER_NAME: &str = "localhost";

/// The longest any step of a test may take before the test fails instead of hanging.
pub const BOUND: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test if it takes longer than [`BOUND`].
pub async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("test step did not complete within its bound")
}

/// A CA, a server certificate for [`SERVER_NAME`], and client certificates on demand, as PEM
/// files in a temporary directory.
pub struct Pki {
    dir: TempDir,
    ca: Ca,
    pub ca_file: PathBuf,
    pub server: TlsFiles,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("Krypton Test CA").unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let server = ca
            .issue(
                &server_params(&[SERVER_NAME]).unwrap(),
                dir.path(),
                "server",
            )
            .unwrap();
        Self {
            server: TlsFiles {
                cert_chain: server.cert,
                private_key: server.key,
                client_ca: ca_file.clone(),
                client_crls: Vec::new(),
            },
            ca,
            ca_file,
            dir,
        }
    }

    /// A client certificate for `subject`, issued by this PKI's CA, trusting this PKI's server.
    pub fn client(&self, file_name: &str, subject: &Subject<'_>) -> ClientTlsFiles {
        let files = self
            .ca
            .issue(&client_params(subject).unwrap(), self.dir.path(), file_name)
            .unwrap();
        ClientTlsFiles {
            cert_chain: files.cert,
            private_key: files.key,
            server_ca: self.ca_file.clone(),
        }
    }

    /// As [`Pki::client`], with the certificate's serial number set, for a test that revokes it.
    pub fn client_with_serial(&self, file_name: &str, name: &str, serial: u64) -> ClientTlsFiles {
        let mut params = client_params(&Subject::common_name(name)).unwrap();
        params.serial_number = Some(serial.into());
        let files = self.ca.issue(&params, self.dir.path(), file_name).unwrap();
        ClientTlsFiles {
            cert_chain: files.cert,
            private_key: files.key,
            server_ca: self.ca_file.clone(),
        }
    }

    /// Writes this PKI's CA's CRL number `number`, revoking `serials`, to `path` (replaced
    /// whole, as an operator's tooling would).
    pub fn write_crl(&self, path: &std::path::Path, number: u64, serials: &[u64]) {
        let pem = self.ca.revocation_list(number, serials).unwrap();
        let fresh = path.with_extension("new");
        std::fs::write(&fresh, pem).unwrap();
        std::fs::rename(&fresh, path).unwrap();
    }

    /// A client certificate for `subject` in DER, issued by this PKI's CA.
    pub fn client_certificate(&self, subject: &Subject<'_>) -> CertificateDer<'static> {
        let (certificate, _key) = self.ca.sign(&client_params(subject).unwrap()).unwrap();
        certificate.der().clone()
    }

    /// The path of a new file in this PKI's directory.
    pub fn path(&self, file_name: &str) -> PathBuf {
        self.dir.path().join(file_name)
    }
}

/// Server limits small enough for tests: every wait of a few seconds at most.
pub fn test_limits() -> ServerLimits {
    ServerLimits {
        handshake_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(10),
        read_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(5),
        ..ServerLimits::default()
    }
}

pub fn client_limits() -> ClientLimits {
    ClientLimits {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..ClientLimits::default()
    }
}

/// A KMIP server running on a loopback port, until stopped.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Starts a server on an ephemeral loopback port.
    pub fn start<S: Service>(
        pki: &Pki,
        identity: IdentitySource,
        limits: ServerLimits,
        service: S,
    ) -> Self {
        Self::start_with(pki.server.clone(), identity, limits, service)
    }

    /// As [`Running::start`], with the server's TLS files given.
    pub fn start_with<S: Service>(
        files: TlsFiles,
        identity: IdentitySource,
        limits: ServerLimits,
        service: S,
    ) -> Self {
        let tls = Arc::new(server_config(&files).unwrap());
        Self::serve_on(
            "127.0.0.1:0".parse().unwrap(),
            tls,
            identity,
            limits,
            service,
        )
    }

    /// As [`Running::start`], taking each connection's TLS configuration from `tls`.
    pub fn start_from<S: Service>(
        tls: TlsSource,
        identity: IdentitySource,
        limits: ServerLimits,
        service: S,
    ) -> Self {
        Self::serve_on(
            "127.0.0.1:0".parse().unwrap(),
            tls,
            identity,
            limits,
            service,
        )
    }

    /// Starts a server on `addr`, which may have been another server's a moment ago.
    pub fn start_at<S: Service>(
        pki: &Pki,
        addr: SocketAddr,
        identity: IdentitySource,
        limits: ServerLimits,
        service: S,
    ) -> Self {
        let tls = Arc::new(server_config(&pki.server).unwrap());
        Self::serve_on(addr, tls, identity, limits, service)
    }

    fn serve_on<S: Service>(
        addr: SocketAddr,
        tls: impl Into<TlsSource>,
        identity: IdentitySource,
        limits: ServerLimits,
        service: S,
    ) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(addr).unwrap();
        let listener: TcpListener = socket.listen(1024).unwrap();
        let addr = listener.local_addr().unwrap();
        let tls: TlsSource = tls.into();
        let (stop, stopped) = oneshot::channel();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve(
            listener,
            tls,
            identity,
            limits,
            Arc::new(service),
            shutdown,
        ));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    /// Asks the server to shut down, without waiting for it.
    pub fn request_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts the server down and waits until it has stopped.
    pub async fn stop(mut self) {
        self.request_stop();
        bounded(&mut self.task).await.unwrap();
    }

    /// Waits until the server has stopped by itself (after [`Running::request_stop`]).
    pub async fn stopped(mut self) {
        bounded(&mut self.task).await.unwrap();
    }
}

/// The tag the echo services wrap their answer in, and the tag of the peer name inside it.
const ECHO: Tag = Tag(0x54_0001);
const ECHO_PEER: Tag = Tag(0x54_0002);

/// Answers every request with a structure holding the peer's name and the request itself.
#[derive(Debug)]
pub struct Echo;

impl Service for Echo {
    async fn handle(&self, peer: &PeerIdentity, request: Item) -> Item {
        echo(peer, request)
    }

    /// Every identity but [`UNKNOWN`].
    fn admits(&self, peer: &PeerIdentity) -> bool {
        peer.name() != UNKNOWN
    }
}

/// The one identity the test services do not serve.
pub const UNKNOWN: &str = "unknown-app";

fn echo(peer: &PeerIdentity, request: Item) -> Item {
    Item {
        tag: ECHO,
        value: Value::Structure(vec![
            Item {
                tag: ECHO_PEER,
                value: Value::TextString(peer.name().to_owned()),
            },
            request,
        ]),
    }
}

/// The peer name and the request an [`Echo`] answer carries.
pub fn echoed(response: &Item) -> (String, Item) {
    let Value::Structure(items) = &response.value else {
        panic!("not an echo: {response:?}");
    };
    let [peer, request] = items.as_slice() else {
        panic!("not an echo: {response:?}");
    };
    let Value::TextString(name) = &peer.value else {
        panic!("not an echo: {response:?}");
    };
    (name.clone(), request.clone())
}

/// An echo that reports each request as it starts and answers only when let through.
#[derive(Debug)]
pub struct Gate {
    started: mpsc::UnboundedSender<()>,
    passes: Arc<Semaphore>,
}

/// The test's side of a [`Gate`].
pub struct GateControl {
    pub started: mpsc::UnboundedReceiver<()>,
    passes: Arc<Semaphore>,
}

impl Gate {
    pub fn new() -> (Self, GateControl) {
        let (started, started_rx) = mpsc::unbounded_channel();
        let passes = Arc::new(Semaphore::new(0));
        let gate = Self {
            started,
            passes: Arc::clone(&passes),
        };
        (
            gate,
            GateControl {
                started: started_rx,
                passes,
            },
        )
    }
}

impl GateControl {
    /// Lets one request through.
    pub fn open_once(&self) {
        self.passes.add_permits(1);
    }
}

impl Service for Gate {
    async fn handle(&self, peer: &PeerIdentity, request: Item) -> Item {
        let _ = self.started.send(());
        self.passes.acquire().await.unwrap().forget();
        echo(peer, request)
    }

    fn admits(&self, peer: &PeerIdentity) -> bool {
        peer.name() != UNKNOWN
    }
}

/// A small, valid KMIP request.
pub fn request() -> Item {
    RequestMessage {
        header: RequestHeader::new(ProtocolVersion::V1_2),
        batch_items: vec![RequestBatchItem::new(DiscoverVersionsRequest {
            protocol_versions: vec![ProtocolVersion::V1_2],
        })],
    }
    .to_item()
}

/// `request()` in TTLV.
pub fn request_bytes() -> Vec<u8> {
    let mut bytes = Vec::new();
    kmip::encode(&request(), &mut bytes).unwrap();
    bytes
}

/// The client-side TLS configuration of `files`, limited to `versions`.
pub fn tls_client(
    files: &ClientTlsFiles,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let chain = CertificateDer::pem_file_iter(&files.cert_chain)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&files.private_key).unwrap();
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots(files))
            .with_client_auth_cert(chain, key)
            .unwrap(),
    )
}

/// A client TLS configuration that trusts the server but presents no certificate.
pub fn tls_client_without_certificate(files: &ClientTlsFiles) -> Arc<ClientConfig> {
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(files))
            .with_no_client_auth(),
    )
}

fn roots(files: &ClientTlsFiles) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&files.server_ca).unwrap())
        .unwrap();
    roots
}

/// The library's client configuration for `files`.
pub fn tls_client_default(files: &ClientTlsFiles) -> Arc<ClientConfig> {
    Arc::new(client_config(files).unwrap())
}

/// A TLS connection on which the test writes raw bytes.
pub async fn raw_connect(
    addr: SocketAddr,
    tls: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(tls)
        .connect(ServerName::try_from(SERVER_NAME).unwrap(), tcp)
        .await
}

/// Reads the next message from a raw connection.
pub async fn read_message(stream: &mut TlsStream<TcpStream>) -> Result<Option<Item>, kmip::Error> {
    bounded(FrameReader::new(Limits::default()).read_message(stream)).await
}

/// Reads a KMIP error response and returns its result reason and message.
pub async fn read_failure(stream: &mut TlsStream<TcpStream>) -> (ResultReason, String) {
    let item = read_message(stream).await.unwrap().unwrap();
    let response = ResponseMessage::from_item(&item).unwrap();
    let [result] = response.batch_items.as_slice() else {
        panic!("one batch item expected: {response:?}");
    };
    (
        result.result_reason.unwrap(),
        result.result_message.clone().unwrap(),
    )
}

/// Asserts that the server closes the connection without sending another message.
pub async fn assert_closed(stream: &mut TlsStream<TcpStream>) {
    match read_message(stream).await {
        Ok(None) | Err(kmip::Error::Io(_)) => {}
        other => panic!("connection still open: {other:?}"),
    }
}
