//! Mutual TLS to the gateway as an application, for the suites that speak KMIP from Rust: a
//! blocking rustls stream (aws-lc-rs, TLS 1.3 or 1.2) that presents the application's
//! certificate and verifies the gateway's against the stack's CA. Made here rather than with
//! Krypton's own TLS set-up, so the client side owes nothing to the code under test.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::aws_lc_rs;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::pykmip::App;

/// A mutual-TLS connection to the gateway.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// The name the gateway's certificate is checked against (one of krypton-dev's `SERVER_NAMES`).
const SERVER_NAME: &str = "localhost";

/// Opens a connection as `app` and completes the TLS handshake. Every later read and write
/// fails with `WouldBlock` or `TimedOut` after `io_timeout` instead of waiting longer.
///
/// # Errors
///
/// The I/O error of the connect or the handshake (a refused certificate among them).
pub fn connect(app: &App, io_timeout: Duration) -> io::Result<TlsStream> {
    let server = ServerName::try_from(SERVER_NAME).map_err(io::Error::other)?;
    let connection =
        ClientConnection::new(client_config(app)?, server).map_err(io::Error::other)?;
    let socket = TcpStream::connect_timeout(&app.gateway, io_timeout)?;
    socket.set_read_timeout(Some(io_timeout))?;
    socket.set_write_timeout(Some(io_timeout))?;
    socket.set_nodelay(true)?;
    let mut stream = StreamOwned::new(connection, socket);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// The client side of mutual TLS for `app`: its certificate and key, the stack's CA.
fn client_config(app: &App) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&app.ca).map_err(io::Error::other)? {
        roots
            .add(ca.map_err(io::Error::other)?)
            .map_err(io::Error::other)?;
    }
    let chain = CertificateDer::pem_file_iter(&app.cert)
        .map_err(io::Error::other)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    let key = PrivateKeyDer::from_pem_file(&app.key).map_err(io::Error::other)?;
    let config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}
