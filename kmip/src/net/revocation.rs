//! Client certificate revocation: CRLs read from files, and read again when a file changes, so
//! that a stolen client certificate is refused at its next handshake without a restart.
//!
//! webpki checks the CRLs; this module only keeps its verifier current. At most once per
//! [`RECHECK`], a handshake looks at the files' size and modification time (a `stat`, far
//! cheaper than the handshake's signatures); when one changed, the CRLs are read and a new
//! verifier replaces the old one. A file that no longer reads or parses is logged and the
//! verifier built from the last good CRLs stays: a revoked certificate must not come back
//! because a CRL was half-written. The CA bundle is read once, at start.
//!
//! Revocation is checked for the end-entity certificate only, and a certificate whose issuer
//! has no CRL in the files is refused (webpki's default): once CRLs are configured, a client
//! whose revocation status is unknown does not get in.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use tracing::{error, info};

use crate::net::error::NetError;
use crate::net::tls::read_bounded;

/// How often, at most, a handshake looks whether a CRL file changed.
pub(super) const RECHECK: Duration = Duration::from_secs(1);

/// A client certificate verifier whose CRLs follow their files.
#[derive(Debug)]
pub(super) struct RevocationVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    client_ca: PathBuf,
    crl_files: Vec<PathBuf>,
    /// The CA names hinted to clients; the CA bundle does not change while running.
    subjects: Vec<DistinguishedName>,
    current: RwLock<Current>,
}

#[derive(Debug)]
struct Current {
    verifier: Arc<dyn ClientCertVerifier>,
    /// What the files looked like when last read (or last failed to read).
    stamps: Vec<Option<Stamp>>,
    checked: Instant,
}

/// A file's size and modification time: a changed file changes one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: SystemTime,
}

impl RevocationVerifier {
    /// A verifier of client certificates chaining to `roots` (read from `client_ca`), checked
    /// against the CRLs in `crl_files`, which must all read and parse now.
    pub(super) fn new(
        roots: Arc<RootCertStore>,
        provider: Arc<CryptoProvider>,
        client_ca: &Path,
        crl_files: Vec<PathBuf>,
    ) -> Result<Self, NetError> {
        let stamps = stamps(&crl_files);
        let verifier = build(&roots, &provider, client_ca, &crl_files)?;
        Ok(Self {
            subjects: verifier.root_hint_subjects().to_vec(),
            roots,
            provider,
            client_ca: client_ca.to_owned(),
            crl_files,
            current: RwLock::new(Current {
                verifier,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// The verifier to use now, after reading the CRLs again if a file changed.
    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        let due = self.read().checked.elapsed() >= RECHECK;
        if due {
            self.refresh();
        }
        Arc::clone(&self.read().verifier)
    }

    fn refresh(&self) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        // Another handshake may have refreshed while this one waited for the lock.
        if current.checked.elapsed() < RECHECK {
            return;
        }
        current.checked = Instant::now();
        let stamps = stamps(&self.crl_files);
        if stamps == current.stamps {
            return;
        }
        // Recorded whatever the outcome, so a broken file is reported once, not per handshake.
        current.stamps = stamps;
        match build(
            &self.roots,
            &self.provider,
            &self.client_ca,
            &self.crl_files,
        ) {
            Ok(verifier) => {
                info!(files = ?self.crl_files, "client certificate CRLs reloaded");
                current.verifier = verifier;
            }
            Err(error) => error!(
                error = &error as &dyn std::error::Error,
                "client certificate CRLs not reloaded: the last good ones stay in force"
            ),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Current> {
        // The lock guards a verifier swapped whole: a panic cannot leave it half-changed.
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn stamps(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    files
        .iter()
        .map(|file| {
            let metadata = fs::metadata(file).ok()?;
            Some(Stamp {
                len: metadata.len(),
                modified: metadata.modified().ok()?,
            })
        })
        .collect()
}

/// webpki's verifier for `roots` with the CRLs of `crl_files`.
fn build(
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    client_ca: &Path,
    crl_files: &[PathBuf],
) -> Result<Arc<dyn ClientCertVerifier>, NetError> {
    let mut crls = Vec::new();
    for file in crl_files {
        crls.extend(revocation_lists(file)?);
    }
    WebPkiClientVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(provider))
        .with_crls(crls)
        .only_check_end_entity_revocation()
        .build()
        .map_err(|source| NetError::ClientVerifier {
            path: client_ca.to_owned(),
            source,
        })
}

/// Every CRL in a PEM file; at least one.
fn revocation_lists(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, NetError> {
    let pem = read_bounded(path)?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| NetError::Pem {
            path: path.to_owned(),
            source,
        })?;
    if crls.is_empty() {
        return Err(NetError::NoPemItem {
            path: path.to_owned(),
            expected: "PEM X509 CRL",
        });
    }
    Ok(crls)
}

impl ClientCertVerifier for RevocationVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.subjects
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.read()
            .verifier
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.read()
            .verifier
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.read().verifier.supported_verify_schemes()
    }
}
