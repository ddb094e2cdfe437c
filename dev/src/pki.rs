//! A throw-away PKI made with rcgen: a CA that issues server and client certificates as PEM
//! files, private keys written mode 0600. The dev run's certificates ([`DevPki`]) and the KMIP
//! transport tests' certificates are both made here.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertificateRevocationListParams,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, SanType, SerialNumber,
};

use crate::Error;

/// The names in every server certificate of the dev PKI: clients connect to the loopback
/// address, and some check it as a name, some as an IP address.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// The client identity (Common Name) of the gateway's certificate towards the core.
pub const GATEWAY_IDENTITY: &str = "krypton-gateway";
/// The governance plane's identity towards the core's orchestration API.
pub const ORCHESTRATOR_IDENTITY: &str = "orbital";

/// A certificate authority whose key lives only in memory.
#[derive(Debug)]
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate and its private key as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    /// A new self-signed CA named `common_name`.
    pub fn new(common_name: &str) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate()?;
        let pem = params.self_signed(&key)?.pem();
        Ok(Self {
            issuer: Issuer::new(params, key),
            pem,
        })
    }

    /// The CA certificate in PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Signs a certificate with `params` for a new key.
    pub fn sign(&self, params: &CertificateParams) -> Result<(Certificate, KeyPair), rcgen::Error> {
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        Ok((certificate, key))
    }

    /// A certificate revocation list of this CA in PEM, number `number`, revoking the
    /// certificates whose serial numbers are `serials` (for key compromise).
    pub fn revocation_list(&self, number: u64, serials: &[u64]) -> Result<String, rcgen::Error> {
        let revoked_on = rcgen::date_time_ymd(2025, 1, 2);
        let params = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2025, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|&serial| RevokedCertParams {
                    serial_number: SerialNumber::from(serial),
                    revocation_time: revoked_on,
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer)?.pem()
    }

    /// Signs a certificate with `params` and writes it to `dir/<stem>.pem`, its key to
    /// `dir/<stem>.key` (mode 0600), replacing files of those names.
    pub fn issue(
        &self,
        params: &CertificateParams,
        dir: &Path,
        stem: &str,
    ) -> Result<CertFiles, Error> {
        let (certificate, key) = self.sign(params).map_err(Error::Pki)?;
        let files = cert_files(dir, stem);
        replace(&files.cert, certificate.pem().as_bytes(), 0o644)?;
        replace(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
        Ok(files)
    }
}

/// What a client certificate carries.
#[derive(Clone, Copy, Debug, Default)]
pub struct Subject<'a> {
    pub common_name: Option<&'a str>,
    pub dns: &'a [&'a str],
    pub uris: &'a [&'a str],
    /// Whether the certificate has an Extended Key Usage extension (with client auth).
    pub client_auth_eku: bool,
}

impl<'a> Subject<'a> {
    /// A certificate with only a Common Name: no SAN, no EKU.
    pub fn common_name(name: &'a str) -> Self {
        Self {
            common_name: Some(name),
            ..Self::default()
        }
    }
}

/// A TLS server certificate for `names` (DNS names or IP addresses; the first is also its
/// Common Name).
pub fn server_params(names: &[&str]) -> Result<CertificateParams, rcgen::Error> {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
    if let Some(first) = names.first() {
        params.distinguished_name = name(first);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

/// A TLS client certificate for `subject`.
pub fn client_params(subject: &Subject<'_>) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject
        .common_name
        .map_or_else(DistinguishedName::new, name);
    let mut sans = Vec::new();
    for dns in subject.dns {
        sans.push(SanType::DnsName((*dns).try_into()?));
    }
    for uri in subject.uris {
        sans.push(SanType::URI((*uri).try_into()?));
    }
    params.subject_alt_names = sans;
    if subject.client_auth_eku {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    Ok(params)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

fn cert_files(dir: &Path, stem: &str) -> CertFiles {
    CertFiles {
        cert: dir.join(format!("{stem}.pem")),
        key: dir.join(format!("{stem}.key")),
    }
}

/// Writes `path` anew with `mode`: an old file is removed first, so that the mode is the new
/// file's and no reader sees old and new contents mixed.
fn replace(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Io {
                action: "replace",
                path: path.to_owned(),
                source,
            });
        }
    }
    write_new(path, contents, mode)
}

/// Writes a new file with `mode`; an existing file is an error, never overwritten.
pub(crate) fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|source| Error::Io {
            action: "write",
            path: path.to_owned(),
            source,
        })
}

/// The dev run's certificates, all from one CA, in one directory: the core's and the gateway's
/// server certificates, the gateway's client certificate towards the core (identity
/// [`GATEWAY_IDENTITY`]), the governance plane's client certificate towards the core's
/// orchestration API ([`ORCHESTRATOR_IDENTITY`]), and one client certificate per application
/// identity (the Common Name).
#[derive(Debug, Clone)]
pub struct DevPki {
    pub ca: PathBuf,
    pub core_server: CertFiles,
    pub gateway_server: CertFiles,
    pub gateway_client: CertFiles,
    pub orchestrator: CertFiles,
    /// Application identity and its certificate, in the order asked for.
    pub apps: Vec<(String, CertFiles)>,
}

impl DevPki {
    /// The PKI in `dir`: made there if `dir` holds none, else the one made earlier (which must
    /// hold every certificate asked for). The CA's key is never written: nothing is issued later.
    pub fn ensure(dir: &Path, apps: &[&str]) -> Result<Self, Error> {
        let pki = Self::layout(dir, apps);
        if pki.ca.exists() {
            return pki.check_complete(dir).map(|()| pki);
        }
        let ca = Ca::new("Krypton dev CA (throw-away)").map_err(Error::Pki)?;
        Self::issued_by(&ca, dir, apps)
    }

    /// A new PKI in `dir` (which must hold none) issued by `ca`, for a test that keeps the CA
    /// to issue or revoke certificates later; [`DevPki::ensure`] then finds it complete.
    pub fn issued_by(ca: &Ca, dir: &Path, apps: &[&str]) -> Result<Self, Error> {
        let pki = Self::layout(dir, apps);
        create_private_dir(dir)?;
        let server = server_params(&SERVER_NAMES).map_err(Error::Pki)?;
        ca.issue(&server, dir, "core-server")?;
        ca.issue(&server, dir, "gateway-server")?;
        let gateway = client_params(&Subject::common_name(GATEWAY_IDENTITY)).map_err(Error::Pki)?;
        ca.issue(&gateway, dir, "gateway-client")?;
        let orchestrator =
            client_params(&Subject::common_name(ORCHESTRATOR_IDENTITY)).map_err(Error::Pki)?;
        ca.issue(&orchestrator, dir, "orchestrator")?;
        for app in apps {
            let params = client_params(&Subject::common_name(app)).map_err(Error::Pki)?;
            ca.issue(&params, dir, app)?;
        }
        // Written last: its presence says the PKI is complete.
        write_new(&pki.ca, ca.pem().as_bytes(), 0o644)?;
        Ok(pki)
    }

    fn layout(dir: &Path, apps: &[&str]) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            core_server: cert_files(dir, "core-server"),
            gateway_server: cert_files(dir, "gateway-server"),
            gateway_client: cert_files(dir, "gateway-client"),
            orchestrator: cert_files(dir, "orchestrator"),
            apps: apps
                .iter()
                .map(|app| ((*app).to_owned(), cert_files(dir, app)))
                .collect(),
        }
    }

    fn check_complete(&self, dir: &Path) -> Result<(), Error> {
        let all = [
            &self.core_server,
            &self.gateway_server,
            &self.gateway_client,
            &self.orchestrator,
        ]
        .into_iter()
        .chain(self.apps.iter().map(|(_, files)| files));
        for files in all {
            for path in [&files.cert, &files.key] {
                if !path.exists() {
                    return Err(Error::Inconsistent {
                        path: dir.to_owned(),
                        what: "the dev PKI lacks a certificate it needs",
                    });
                }
            }
        }
        Ok(())
    }
}

/// Creates `dir` (and its parents) and makes it private to the user.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| Error::Io {
        action: "create",
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn dev_pki_is_made_once_with_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let pki_dir = dir.path().join("pki");
        let pki = DevPki::ensure(&pki_dir, &["app-alice", "app-bob"]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&pki_dir), 0o700);
        for files in [&pki.core_server, &pki.gateway_client, &pki.apps[1].1] {
            assert_eq!(mode(&files.key), 0o600);
            assert!(
                std::fs::read_to_string(&files.cert)
                    .unwrap()
                    .starts_with("-----BEGIN CERTIFICATE")
            );
        }
        let before = std::fs::read(&pki.apps[0].1.cert).unwrap();
        let again = DevPki::ensure(&pki_dir, &["app-alice", "app-bob"]).unwrap();
        assert_eq!(std::fs::read(&again.apps[0].1.cert).unwrap(), before);
    }

    #[test]
    fn incomplete_dev_pki_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::ensure(dir.path(), &["app-alice"]).unwrap();
        std::fs::remove_file(&pki.gateway_client.key).unwrap();
        let error = DevPki::ensure(dir.path(), &["app-alice"]).unwrap_err();
        assert!(matches!(error, Error::Inconsistent { .. }), "{error:?}");
    }
}
