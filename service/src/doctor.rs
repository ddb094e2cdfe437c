//! What `kryptonctl doctor` (the core) and `krypton-gateway check` report: findings, one line
//! each, and the checks of local files both daemons share — who may read a secret or a private
//! key, who owns a private directory, and the dates of certificates and CRLs.
//!
//! A finding names the file and what is wrong with it, never a secret's content.

use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use x509_parser::pem::Pem;

use crate::ErrorChain;
use crate::secret_file::SecretSource;

/// A certificate that ends within this long is a warning.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// The largest certificate or CRL file read.
const MAX_PEM_FILE_LEN: u64 = 4 << 20;

/// Others' permission bits, and group write: what no private key may allow.
const KEY_FORBIDDEN: u32 = 0o027;
/// Group and others' write: what no configuration file may allow.
const CONFIG_FORBIDDEN: u32 = 0o022;
/// Group and others' permission bits: what no private directory may allow.
const GROUP_OTHER_BITS: u32 = 0o077;
const ROOT_UID: u32 = 0;

/// How bad a finding is. Warnings alone leave an installation working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Checked and as it should be.
    Ok,
    /// Works now, needs attention soon (a certificate near its end, a check that could not run).
    Warning,
    /// Broken, or unsafe now.
    Fail,
}

/// One check's outcome: `check` names what was checked (`tls`, `hsm`, `tenant demo`), and
/// `message` says what was found, on one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked.
    pub check: String,
    /// How bad it is.
    pub level: Level,
    /// What was found.
    pub message: String,
}

impl Finding {
    /// A finding of `level` about `check`; `message` is kept to one line.
    pub fn new(check: impl Into<String>, level: Level, message: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            level,
            message: message.into().replace(['\n', '\r'], " "),
        }
    }

    /// All is well with `check`.
    pub fn ok(check: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(check, Level::Ok, message)
    }

    /// `check` needs attention soon.
    pub fn warning(check: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(check, Level::Warning, message)
    }

    /// `check` is broken.
    pub fn fail(check: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(check, Level::Fail, message)
    }
}

/// `ok   check: message`, `warn check: message` or `FAIL check: message`.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ok => "ok  ",
            Level::Warning => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{level} {}: {}", self.check, self.message)
    }
}

/// Prints `findings` on stdout, one line each, or with `json` as one document
/// `{"findings": [{"check", "level", "message"}]}`; returns how many failed.
pub fn print(findings: &[Finding], json: bool) -> usize {
    if json {
        println!("{}", serde_json::json!({ "findings": findings }));
    } else {
        findings.iter().for_each(|finding| println!("{finding}"));
    }
    findings
        .iter()
        .filter(|finding| finding.level == Level::Fail)
        .count()
}

/// The files of one TLS endpoint: its certificate chain and private key, the CA bundle it
/// verifies its peers with, and that CA's CRLs.
#[derive(Debug, Clone, Copy)]
pub struct TlsPaths<'a> {
    /// The endpoint's certificate and intermediates.
    pub cert_chain: &'a Path,
    /// The endpoint's private key.
    pub private_key: &'a Path,
    /// The CAs its peers must chain to.
    pub peer_ca: &'a Path,
    /// CRLs of those CAs.
    pub crls: &'a [PathBuf],
}

impl<'a> From<&'a kmip::net::TlsFiles> for TlsPaths<'a> {
    /// The files of a server that requires client certificates.
    fn from(files: &'a kmip::net::TlsFiles) -> Self {
        Self {
            cert_chain: &files.cert_chain,
            private_key: &files.private_key,
            peer_ca: &files.client_ca,
            crls: &files.client_crls,
        }
    }
}

/// Every file of a TLS endpoint, each a finding named `check` (`check-key`, `check-ca`, ...).
pub fn tls(check: &str, paths: TlsPaths<'_>, now: SystemTime) -> Vec<Finding> {
    let mut findings = vec![
        certificates(check, paths.cert_chain, now),
        private_key(&format!("{check}-key"), paths.private_key),
        certificates(&format!("{check}-ca"), paths.peer_ca, now),
    ];
    let crl_check = format!("{check}-crl");
    findings.extend(paths.crls.iter().map(|crl| crls(&crl_check, crl, now)));
    findings
}

/// The secret (a PIN, a password) is where it is configured, with no access for group or
/// others; it is not read.
pub fn secret(check: &str, source: &SecretSource) -> Finding {
    match source.check() {
        Ok(()) => Finding::ok(check, format!("{source}: present, owner-only")),
        Err(error) => Finding::fail(check, ErrorChain(&error).to_string()),
    }
}

/// A private key: owned by the daemon's user or root, not writable by group and no access for
/// others (the packages install them `root:krypton 0640`).
pub fn private_key(check: &str, path: &Path) -> Finding {
    guarded_file(
        check,
        path,
        KEY_FORBIDDEN,
        "others must have no access and group no write (chmod 0640)",
    )
}

/// A configuration file: owned by the daemon's user or root, writable by no one else. It holds
/// no secret (those are in their own files), so others may read it.
pub fn config_file(check: &str, path: &Path) -> Finding {
    guarded_file(
        check,
        path,
        CONFIG_FORBIDDEN,
        "group and others must not write it (chmod 0644)",
    )
}

/// A daemon's configuration file at `path`: the findings on it (its permissions, then whether
/// `load` reads it), and the configuration when it loads. The checks of the files it names
/// follow only then.
pub fn loaded_config<C, E>(
    path: &Path,
    load: impl FnOnce(&Path) -> Result<C, E>,
) -> (Vec<Finding>, Option<C>)
where
    E: std::error::Error + 'static,
{
    let mut findings = vec![config_file("config", path)];
    match load(path) {
        Ok(config) => (findings, Some(config)),
        Err(error) => {
            findings.push(Finding::fail("config", ErrorChain(&error).to_string()));
            (findings, None)
        }
    }
}

/// A regular file with none of the `forbidden` permission bits, owned by the daemon's user or
/// root; `rule` says what to do otherwise.
fn guarded_file(check: &str, path: &Path, forbidden: u32, rule: &str) -> Finding {
    let metadata = match fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => metadata,
        Ok(_) => return Finding::fail(check, format!("{} is not a file", path.display())),
        Err(error) => return Finding::fail(check, format!("{}: {error}", path.display())),
    };
    let mode = metadata.mode() & 0o7777;
    if mode & forbidden != 0 {
        return Finding::fail(
            check,
            format!("{} has mode {mode:04o}: {rule}", path.display()),
        );
    }
    owned(check, path, &metadata, ROOT_UID)
        .unwrap_or_else(|| Finding::ok(check, format!("{} mode {mode:04o}", path.display())))
}

/// A directory only the daemon's user may enter: its own, with no access for group or others.
pub fn private_directory(check: &str, path: &Path) -> Finding {
    let metadata = match fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => metadata,
        Ok(_) => return Finding::fail(check, format!("{} is not a directory", path.display())),
        Err(error) => return Finding::fail(check, format!("{}: {error}", path.display())),
    };
    let mode = metadata.mode() & 0o7777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Finding::fail(
            check,
            format!(
                "{} has mode {mode:04o}: group and others must have no access (chmod 0700)",
                path.display()
            ),
        );
    }
    let euid = nix::unistd::geteuid().as_raw();
    owned(check, path, &metadata, euid)
        .unwrap_or_else(|| Finding::ok(check, format!("{} mode {mode:04o}", path.display())))
}

/// A failure if `metadata` belongs neither to the daemon's user nor to `other_owner`.
fn owned(check: &str, path: &Path, metadata: &fs::Metadata, other_owner: u32) -> Option<Finding> {
    let euid = nix::unistd::geteuid().as_raw();
    let owner = metadata.uid();
    (owner != euid && owner != other_owner).then(|| {
        Finding::fail(
            check,
            format!(
                "{} is owned by uid {owner}, not by uid {euid} (the daemon's user)",
                path.display()
            ),
        )
    })
}

/// The certificates of a PEM file at `now`: a failure if one has ended or not yet begun, a
/// warning if one ends within [`EXPIRY_WARNING`]. The certificate that ends first is named.
pub fn certificates(check: &str, path: &Path, now: SystemTime) -> Finding {
    let items = match pem_items(path) {
        Ok(items) => items,
        Err(message) => return Finding::fail(check, message),
    };
    let mut validity = Vec::new();
    for item in items.iter().filter(|item| item.label == "CERTIFICATE") {
        match item.parse_x509() {
            Ok(cert) => validity.push((
                cert.subject().to_string(),
                cert.validity().not_before.timestamp(),
                cert.validity().not_after.timestamp(),
            )),
            Err(error) => {
                return Finding::fail(check, format!("{}: {error}", path.display()));
            }
        }
    }
    let now = unix_secs(now);
    if let Some((subject, begins, _)) = validity.iter().find(|(_, begins, _)| *begins > now) {
        return Finding::fail(
            check,
            format!(
                "{}: {subject} is not valid before {}",
                path.display(),
                date(*begins)
            ),
        );
    }
    let Some((subject, _, ends)) = validity.iter().min_by_key(|(_, _, ends)| *ends) else {
        return Finding::fail(check, format!("{} holds no certificate", path.display()));
    };
    let (path, ends_on) = (path.display(), date(*ends));
    let left = ends.saturating_sub(now);
    if left <= 0 {
        Finding::fail(check, format!("{path}: {subject} expired {ends_on}"))
    } else if left < secs(EXPIRY_WARNING) {
        let days = left / 86_400;
        Finding::warning(
            check,
            format!("{path}: {subject} expires {ends_on} (in {days} days)"),
        )
    } else {
        Finding::ok(check, format!("{path} valid until {ends_on}"))
    }
}

/// The CRLs of a PEM file at `now`: a warning when one is past its next update (its issuer
/// should have published a newer one).
pub fn crls(check: &str, path: &Path, now: SystemTime) -> Finding {
    let items = match pem_items(path) {
        Ok(items) => items,
        Err(message) => return Finding::fail(check, message),
    };
    let mut next_updates = Vec::new();
    for item in items.iter().filter(|item| item.label == "X509 CRL") {
        match x509_parser::parse_x509_crl(&item.contents) {
            Ok((_, crl)) => next_updates.extend(crl.next_update().map(|next| next.timestamp())),
            Err(error) => return Finding::fail(check, format!("{}: {error}", path.display())),
        }
    }
    match next_updates.into_iter().min() {
        Some(due) if due <= unix_secs(now) => Finding::warning(
            check,
            format!(
                "{}: a CRL's next update was due {}",
                path.display(),
                date(due)
            ),
        ),
        _ => Finding::ok(check, format!("{} current", path.display())),
    }
}

/// The PEM items of a file, read within a bound.
fn pem_items(path: &Path) -> Result<Vec<Pem>, String> {
    let unreadable = |error: &dyn fmt::Display| format!("{}: {error}", path.display());
    let len = fs::metadata(path).map_err(|e| unreadable(&e))?.len();
    if len > MAX_PEM_FILE_LEN {
        return Err(format!(
            "{} is larger than {MAX_PEM_FILE_LEN} bytes",
            path.display()
        ));
    }
    let bytes = fs::read(path).map_err(|e| unreadable(&e))?;
    Pem::iter_from_buffer(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))
}

fn unix_secs(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => secs(since),
        Err(before) => -secs(before.duration()),
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// A date as `YYYY-MM-DD` (UTC).
fn date(unix_secs: i64) -> String {
    let time =
        u64::try_from(unix_secs).map_or(UNIX_EPOCH, |secs| UNIX_EPOCH + Duration::from_secs(secs));
    let mut text = humantime::format_rfc3339_seconds(time).to_string();
    text.truncate("YYYY-MM-DD".len());
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use rcgen::{
        BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
        DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber,
    };

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    /// A self-signed certificate for `name`, valid from `not_before` to `not_after`, in PEM.
    fn certificate(name: &str, not_before: SystemTime, not_after: SystemTime) -> String {
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .pem()
    }

    fn write(dir: &Path, name: &str, content: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn the_certificate_that_ends_first_decides() {
        let dir = tempfile::tempdir().unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000); // 2027-01-15
        let long = certificate("long", now - DAY, now + 400 * DAY);
        let soon = certificate("soon", now - DAY, now + 20 * DAY + DAY / 2);
        let ended = certificate("ended", now - 9 * DAY, now - DAY);
        let future = certificate("future", now + DAY, now + 9 * DAY);

        let ok = write(dir.path(), "ok.pem", &long, 0o644);
        let found = certificates("tls", &ok, now);
        assert_eq!(found.level, Level::Ok, "{found:?}");
        assert_eq!(
            found.message,
            format!("{} valid until 2028-02-19", ok.display())
        );

        let chain = write(dir.path(), "chain.pem", &format!("{long}{soon}"), 0o644);
        let found = certificates("tls", &chain, now);
        assert_eq!(found.level, Level::Warning, "{found:?}");
        assert!(
            found.message.ends_with("expires 2027-02-04 (in 20 days)"),
            "{found:?}"
        );
        assert!(found.message.contains(": CN=soon expires"), "{found:?}");

        let expired = write(dir.path(), "expired.pem", &format!("{long}{ended}"), 0o644);
        let found = certificates("tls", &expired, now);
        assert_eq!(found.level, Level::Fail, "{found:?}");
        assert!(found.message.ends_with("expired 2027-01-14"), "{found:?}");

        let early = write(dir.path(), "early.pem", &future, 0o644);
        let found = certificates("tls", &early, now);
        assert_eq!(found.level, Level::Fail, "{found:?}");
        assert!(
            found.message.ends_with("is not valid before 2027-01-16"),
            "{found:?}"
        );

        let empty = write(dir.path(), "empty.pem", "", 0o644);
        assert_eq!(certificates("tls", &empty, now).level, Level::Fail);
        let missing = certificates("tls", &dir.path().join("absent.pem"), now);
        assert_eq!(missing.level, Level::Fail);
    }

    #[test]
    fn a_crl_past_its_next_update_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000); // 2027-01-15
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = Issuer::new(params, KeyPair::generate().unwrap());
        let crl = |next_update: SystemTime| {
            CertificateRevocationListParams {
                this_update: (now - 9 * DAY).into(),
                next_update: next_update.into(),
                crl_number: SerialNumber::from(1_u64),
                issuing_distribution_point: None,
                revoked_certs: Vec::new(),
                key_identifier_method: KeyIdMethod::Sha256,
            }
            .signed_by(&issuer)
            .unwrap()
            .pem()
            .unwrap()
        };
        let current = write(dir.path(), "current.crl.pem", &crl(now + DAY), 0o644);
        assert_eq!(crls("tls-crl", &current, now).level, Level::Ok);
        let stale = write(dir.path(), "stale.crl.pem", &crl(now - DAY), 0o644);
        let found = crls("tls-crl", &stale, now);
        assert_eq!(found.level, Level::Warning, "{found:?}");
        assert!(
            found.message.ends_with("next update was due 2027-01-14"),
            "{found:?}"
        );
    }

    #[test]
    fn file_modes_are_judged_by_what_the_file_holds() {
        let dir = tempfile::tempdir().unwrap();
        let key = write(dir.path(), "server.key", "k", 0o640);
        assert_eq!(private_key("tls-key", &key).level, Level::Ok);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let found = private_key("tls-key", &key);
        assert_eq!(found.level, Level::Fail);
        assert!(found.message.contains("has mode 0644"), "{found:?}");

        let config = write(dir.path(), "core.toml", "", 0o644);
        assert_eq!(config_file("config", &config).level, Level::Ok);
        fs::set_permissions(&config, fs::Permissions::from_mode(0o664)).unwrap();
        assert_eq!(config_file("config", &config).level, Level::Fail);

        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(private_directory("data-dir", &data).level, Level::Ok);
        fs::set_permissions(&data, fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(private_directory("data-dir", &data).level, Level::Fail);
    }

    #[test]
    fn a_secret_is_checked_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let pin = write(dir.path(), "pin", "1234", 0o600);
        let found = secret("hsm-pin", &SecretSource::File(pin.clone()));
        assert_eq!(found.level, Level::Ok, "{found:?}");
        fs::set_permissions(&pin, fs::Permissions::from_mode(0o644)).unwrap();
        let found = secret("hsm-pin", &SecretSource::File(pin));
        assert_eq!(found.level, Level::Fail);
        assert!(found.message.contains("mode 0644"), "{found:?}");
        assert!(!found.message.contains("1234"), "{found:?}");
    }
}
