//! TLS configuration from PEM files: mutual TLS for the server and the client.
//!
//! Both sides offer TLS 1.3 and TLS 1.2 with the aws-lc-rs provider's default suites: the TLS 1.3
//! AEAD suites and, for TLS 1.2, ECDHE with AES-GCM or ChaCha20-Poly1305 only — what KMIP
//! clients in the field negotiate (PyKMIP PR #659). The server requires a client certificate
//! chaining to its client CA bundle; webpki accepts one without Extended Key Usage, and one whose
//! EKU includes client authentication.
//!
//! Files are read whole into memory that is wiped afterwards, because the key file holds a
//! private key; their size is bounded, so a path to a device or a huge file cannot exhaust memory.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::net::error::NetError;
use crate::net::revocation::RevocationVerifier;

/// The largest PEM file read: a generous bound for a CA bundle (the whole Mozilla root store is
/// about 250 KiB).
const MAX_PEM_FILE_LEN: u64 = 4 << 20;

const PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The files of a server that requires client certificates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The server's certificate followed by its intermediates, in PEM.
    pub cert_chain: PathBuf,
    /// The server's private key in PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub private_key: PathBuf,
    /// The CAs that issue client certificates, in PEM; a client must chain to one of them.
    pub client_ca: PathBuf,
    /// Certificate revocation lists of those CAs, in PEM, read again when they change (see
    /// [`server_config`]). Empty (the default): no revocation check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_crls: Vec<PathBuf>,
}

/// The files of a client that authenticates with a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsFiles {
    /// The client's certificate followed by its intermediates, in PEM.
    pub cert_chain: PathBuf,
    /// The client's private key in PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub private_key: PathBuf,
    /// The CAs that issue server certificates, in PEM; the server must chain to one of them.
    pub server_ca: PathBuf,
}

/// A TLS server configuration that requires and verifies a client certificate.
///
/// TLS 1.3 and 1.2 are offered, TLS 1.2 with ECDHE and AEAD suites only; a client certificate
/// must chain to `client_ca`, and may lack Extended Key Usage (if it has one, it must allow
/// client authentication). With `client_crls`, a client certificate must also be absent from
/// them; a file that changes is read again within a second of the change, at the next
/// handshake, and a file that no longer parses leaves the last good lists in force.
///
/// # Errors
///
/// A configuration variant of [`NetError`] that names the file at fault.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, NetError> {
    let provider = provider();
    let roots = Arc::new(root_store(&files.client_ca)?);
    let verifier: Arc<dyn ClientCertVerifier> = if files.client_crls.is_empty() {
        WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|source| NetError::ClientVerifier {
                path: files.client_ca.clone(),
                source,
            })?
    } else {
        Arc::new(RevocationVerifier::new(
            roots,
            provider.clone(),
            &files.client_ca,
            files.client_crls.clone(),
        )?)
    };
    let chain = certificates(&files.cert_chain)?;
    let key = private_key(&files.private_key)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(NetError::TlsSetup)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|source| key_mismatch(&files.cert_chain, &files.private_key, source))?;
    // The server's suite order (strongest first) decides, not the client's.
    config.ignore_client_order = true;
    Ok(config)
}

/// A TLS client configuration that presents a client certificate and verifies the server's.
///
/// # Errors
///
/// A configuration variant of [`NetError`] that names the file at fault.
pub fn client_config(files: &ClientTlsFiles) -> Result<ClientConfig, NetError> {
    let roots = root_store(&files.server_ca)?;
    let chain = certificates(&files.cert_chain)?;
    let key = private_key(&files.private_key)?;
    ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(NetError::TlsSetup)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|source| key_mismatch(&files.cert_chain, &files.private_key, source))
}

/// A TLS client configuration that verifies the server against `server_ca` and presents no
/// certificate: for servers that authenticate their clients otherwise (a database password).
///
/// # Errors
///
/// A configuration variant of [`NetError`] that names the file at fault.
pub fn server_verifying_config(server_ca: &Path) -> Result<ClientConfig, NetError> {
    let roots = root_store(server_ca)?;
    Ok(ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(NetError::TlsSetup)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The one crypto provider: aws-lc-rs with its default suites and key exchange groups.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// The trust anchors in a CA bundle.
fn root_store(path: &Path) -> Result<RootCertStore, NetError> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(path)? {
        roots
            .add(certificate)
            .map_err(|source| NetError::InvalidCa {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(roots)
}

/// Every certificate in a PEM file; at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let pem = read_bounded(path)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| pem_error(path, source))?;
    if certificates.is_empty() {
        return Err(NetError::NoPemItem {
            path: path.to_owned(),
            expected: "PEM certificate",
        });
    }
    Ok(certificates)
}

/// The first private key in a PEM file.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, NetError> {
    let pem = read_bounded(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|source| match source {
        pem::Error::NoItemsFound => NetError::NoPemItem {
            path: path.to_owned(),
            expected: "PEM private key",
        },
        source => pem_error(path, source),
    })
}

/// The whole file, in memory that is wiped when dropped.
pub(super) fn read_bounded(path: &Path) -> Result<Zeroizing<Vec<u8>>, NetError> {
    let read_error = |source| NetError::ReadFile {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    // Sized up front so the buffer does not grow: a grown-out-of allocation is freed unwiped.
    let expected = file.metadata().map_or(0, |metadata| metadata.len());
    let capacity = usize::try_from(expected.min(MAX_PEM_FILE_LEN) + 1).unwrap_or(0);
    let mut contents = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_PEM_FILE_LEN + 1)
        .read_to_end(&mut contents)
        .map_err(read_error)?;
    if contents.len() as u64 > MAX_PEM_FILE_LEN {
        return Err(NetError::FileTooLarge {
            path: path.to_owned(),
            limit: MAX_PEM_FILE_LEN,
        });
    }
    Ok(contents)
}

fn pem_error(path: &Path, source: pem::Error) -> NetError {
    NetError::Pem {
        path: path.to_owned(),
        source,
    }
}

fn key_mismatch(cert_chain: &Path, private_key: &Path, source: rustls::Error) -> NetError {
    NetError::KeyMismatch {
        cert_chain: cert_chain.to_owned(),
        private_key: private_key.to_owned(),
        source,
    }
}
