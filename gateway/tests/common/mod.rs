//! What the gateway's integration tests share: a real test PKI on disk, gateway configuration
//! files with a pluggable `[core]` section, a gateway served in-process on an ephemeral port, a
//! core address where nothing listens, and the vault records of test keys ([`records`]).
//!
//! Tests that need krypton-core take the core's section from [`core_section`]; today every test
//! points it at [`dead_address`], and the end-to-end suite will point it at a real core.

// Every test binary compiles this module and uses a part of it.
#![allow(dead_code)]

pub mod records;

use std::fs;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kmip::net::ClientTlsFiles;
use krypton_dev::pki::{
    Ca, CertFiles, GATEWAY_IDENTITY, SERVER_NAMES, Subject, client_params, server_params,
};
use krypton_dev::process::free_loopback_addr;
use krypton_gateway::{Config, Server};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The longest any step of a test may take before the test fails instead of hanging.
pub const BOUND: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test if it takes longer than [`BOUND`].
pub async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("test step did not complete within its bound")
}

/// A test PKI in a temporary directory, made with krypton-dev's (as the dev run's and the KMIP
/// transport tests' are): a CA whose certificate is `ca.pem`, issuing certificates as PEM files.
pub struct Pki {
    dir: TempDir,
    ca: Ca,
}

impl Pki {
    pub fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let ca = Ca::new("Krypton test CA").unwrap();
        fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Self { dir, ca }
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server(&self) -> CertFiles {
        let params = server_params(&SERVER_NAMES).unwrap();
        self.ca.issue(&params, self.dir(), "server").unwrap()
    }

    /// A client certificate (with the client-auth EKU) whose subject common name is `name`.
    pub fn client(&self, name: &str) -> CertFiles {
        let subject = Subject {
            client_auth_eku: true,
            ..Subject::common_name(name)
        };
        let file = name.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
        let params = client_params(&subject).unwrap();
        self.ca.issue(&params, self.dir(), &file).unwrap()
    }

    /// As [`Pki::client_files`], with the certificate's serial number set, for a test that
    /// revokes it.
    pub fn client_files_with_serial(&self, name: &str, serial: u64) -> ClientTlsFiles {
        let mut params = client_params(&Subject {
            client_auth_eku: true,
            ..Subject::common_name(name)
        })
        .unwrap();
        params.serial_number = Some(serial.into());
        let client = self
            .ca
            .issue(&params, self.dir(), &format!("{name}-{serial}"))
            .unwrap();
        ClientTlsFiles {
            cert_chain: client.cert,
            private_key: client.key,
            server_ca: self.ca(),
        }
    }

    /// Writes this CA's CRL number `number`, revoking `serials`, to `path`, replaced whole.
    pub fn write_crl(&self, path: &Path, number: u64, serials: &[u64]) {
        let fresh = path.with_extension("new");
        fs::write(&fresh, self.ca.revocation_list(number, serials).unwrap()).unwrap();
        fs::rename(&fresh, path).unwrap();
    }

    /// The gateway's credentials towards the core.
    pub fn core_client(&self) -> ClientTlsFiles {
        self.client_files(GATEWAY_IDENTITY)
    }

    /// The client-side TLS files of `name`, trusting this CA for the server.
    pub fn client_files(&self, name: &str) -> ClientTlsFiles {
        let client = self.client(name);
        ClientTlsFiles {
            cert_chain: client.cert,
            private_key: client.key,
            server_ca: self.ca(),
        }
    }
}

/// `127.0.0.1:<port>` where nothing listens: the port was free a moment ago, and is closed.
pub fn dead_address() -> String {
    free_loopback_addr().unwrap().to_string()
}

/// The `[core]` section for a core at `address` whose certificate, issued by `pki`, names
/// `localhost`; the gateway authenticates as `krypton-gateway`. Timeouts are short, so a test
/// against a core that is down fails closed quickly.
pub fn core_section(pki: &Pki, address: &str) -> String {
    let core = pki.core_client();
    format!(
        r#"[core]
address = "{address}"
server_name = "localhost"
[core.tls]
cert_chain = "{cert}"
private_key = "{key}"
server_ca = "{ca}"
[core.limits]
connect_timeout = "2s"
request_timeout = "5s"
"#,
        cert = core.cert_chain.display(),
        key = core.private_key.display(),
        ca = core.server_ca.display(),
    )
}

/// A gateway configuration: listening on `listen` with `pki`'s server certificate, trusting
/// `pki`'s CA for clients, with `limits` (the body of a `[limits]` table, may be empty), the
/// `core` section (see [`core_section`]) and the `vault` section, allowed to run with unlocked
/// memory. The identities `app-a` and `app-b` are services `payments` and `orders` of tenant
/// `acme`.
pub fn gateway_toml(pki: &Pki, listen: &str, limits: &str, core: &str, vault: &str) -> String {
    let server = pki.server();
    format!(
        r#"listen = "{listen}"
identity_source = "common_name"

[tls]
cert_chain = "{cert}"
private_key = "{key}"
client_ca = "{ca}"

[limits]
{limits}

{core}
{vault}

[hardening]
# Containers and unprivileged users may not lock this much memory.
allow_unlocked_memory = true

[identities]
"app-a" = {{ tenant = "acme", service = "payments" }}
"app-b" = {{ tenant = "acme", service = "orders" }}
"#,
        cert = server.cert.display(),
        key = server.key.display(),
        ca = pki.ca().display(),
    )
}

/// The `[vault]` section of an in-memory vault.
pub const MEMORY_VAULT: &str = "[vault]\nbackend = \"memory\"\n";

/// The `[vault]` section of a RocksDB vault at `path`.
pub fn rocksdb_vault(path: &Path) -> String {
    format!(
        "[vault]\nbackend = \"rocksdb\"\npath = \"{}\"\n",
        path.display()
    )
}

/// A gateway served by this process (the library's [`Server`], as the binary runs it).
pub struct InProcess {
    pub addr: SocketAddr,
    /// The telemetry listener's address, when the configuration has one.
    pub telemetry: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl InProcess {
    /// Binds a gateway configured by `toml` (listen on port 0 for an ephemeral port) and serves
    /// it on a task of the current runtime.
    pub async fn start(toml: &str) -> Self {
        let config = Config::parse(toml).unwrap();
        let server = Server::bind(&config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let telemetry = server.telemetry_addr();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            telemetry,
            stop: Some(stop),
            task,
        }
    }

    /// Shuts the gateway down and waits until it has drained.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        bounded(&mut self.task).await.unwrap();
    }
}

/// `files` as a client TLS configuration, as the library builds it.
pub fn client_tls(files: &ClientTlsFiles) -> Arc<ClientConfig> {
    Arc::new(kmip::net::client_config(files).unwrap())
}

/// A TLS connection to a gateway at `addr` (certificate for `localhost`) on which a test writes
/// raw bytes.
pub async fn raw_connect(
    addr: SocketAddr,
    tls: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(tls)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}
