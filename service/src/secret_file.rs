//! Secrets a daemon reads at start-up (a database password): from a file only its user can read,
//! or from a systemd credential (`LoadCredential=`), never from the configuration text, the
//! command line or the environment, which other processes and logs can see.
//!
//! A file that group or others could read is refused rather than trusted: the secret may
//! already have leaked, and the operator must hear about it. The secret is read into a buffer
//! of fixed size, so no growing vector leaves copies behind, and is wiped when dropped.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

/// The longest secret read: the bound stops a misconfigured path (a large file) from being
/// read whole.
pub const MAX_SECRET_BYTES: usize = 4096;

/// The variable systemd sets to the unit's private credential directory.
const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// Permission bits for group and others: none may be set on a secret file.
const GROUP_OTHER_BITS: u32 = 0o077;

/// The uid systemd may give credential files, granting the service user access by ACL.
const ROOT_UID: u32 = 0;

/// Where a secret comes from: `{ file = "/etc/krypton/x.secret" }` or
/// `{ systemd_credential = "name" }` in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    /// A file owned by the service user, with no access for group or others. One trailing
    /// newline is ignored. Absolute.
    File(PathBuf),
    /// The systemd credential of this name: `$CREDENTIALS_DIRECTORY/<name>`.
    SystemdCredential(String),
}

/// Why a secret could not be read. Names the path, never the content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The file is missing or unreadable.
    #[error("cannot read the secret file {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The path is a directory, device or other non-regular file.
    #[error("the secret file {} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// Group or others have access to the file.
    #[error(
        "the secret file {} has mode {mode:04o}; group and others must have no access (chmod 0600)",
        path.display()
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file belongs to another user than the one the daemon runs as.
    #[error("the secret file {} is owned by uid {owner}; it must belong to uid {expected}, which runs the daemon", path.display())]
    WrongOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The daemon's effective uid.
        expected: u32,
    },
    /// The file holds nothing, or more than [`MAX_SECRET_BYTES`].
    #[error("the secret file {} is empty or longer than {MAX_SECRET_BYTES} bytes", path.display())]
    BadLength {
        /// The file.
        path: PathBuf,
    },
    /// A systemd credential is configured but the daemon was not started with credentials.
    #[error(
        "${CREDENTIALS_DIRECTORY} is not set: pass the credential {name:?} with LoadCredential="
    )]
    NoCredentialsDirectory {
        /// The credential's name.
        name: String,
    },
}

impl SecretSource {
    /// The file path, if the secret is a file: for the configuration's absolute-path check.
    #[must_use]
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::SystemdCredential(_) => None,
        }
    }

    /// Reads the secret. Blocking file I/O.
    ///
    /// # Errors
    ///
    /// [`SecretError`] naming the file and what is wrong with it.
    pub fn read(&self) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let (path, owner) = self.location()?;
        read_secret_file(&path, owner)
    }

    /// Checks that the secret is there with the access [`read`](Self::read) requires, without
    /// reading it: what `kryptonctl doctor` and `krypton-gateway check` report.
    ///
    /// # Errors
    ///
    /// [`SecretError`] naming the file and what is wrong with it.
    pub fn check(&self) -> Result<(), SecretError> {
        let (path, owner) = self.location()?;
        open_secret_file(&path, owner).map(drop)
    }

    /// The file the secret is in, and who may own it.
    fn location(&self) -> Result<(PathBuf, Owner), SecretError> {
        match self {
            Self::File(path) => Ok((path.clone(), Owner::ServiceUser)),
            Self::SystemdCredential(name) => {
                let directory = std::env::var_os(CREDENTIALS_DIRECTORY);
                Ok((credential_path(directory, name)?, Owner::ServiceUserOrRoot))
            }
        }
    }
}

/// Where the secret is, for a report: the file, or the credential's name.
impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::SystemdCredential(name) => write!(f, "systemd credential {name:?}"),
        }
    }
}

/// Who may own a secret file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Only the user the daemon runs as: an operator-provisioned file.
    ServiceUser,
    /// Also root: systemd may keep credential files root-owned and grant the service user
    /// read access by ACL, inside a directory no one else can enter.
    ServiceUserOrRoot,
}

fn credential_path(directory: Option<OsString>, name: &str) -> Result<PathBuf, SecretError> {
    let directory = directory.ok_or_else(|| SecretError::NoCredentialsDirectory {
        name: name.to_owned(),
    })?;
    Ok(Path::new(&directory).join(name))
}

/// The secret file, opened and checked: a regular file `owner` owns, no access for group or
/// others.
fn open_secret_file(path: &Path, owner: Owner) -> Result<File, SecretError> {
    let unreadable = |source| SecretError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(unreadable)?;
    // fstat of the open file: the file checked is the file read, whatever the path does next.
    let metadata = file.metadata().map_err(unreadable)?;
    check_access(path, &metadata, owner)?;
    Ok(file)
}

fn read_secret_file(path: &Path, owner: Owner) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let unreadable = |source| SecretError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut file = open_secret_file(path, owner)?;

    // One byte more than allowed, to tell a full-length secret from a longer file.
    let mut buffer = Zeroizing::new([0u8; MAX_SECRET_BYTES + 1]);
    let len = read_up_to(&mut file, buffer.as_mut_slice()).map_err(unreadable)?;
    let secret = without_line_end(&buffer[..len]);
    if len > MAX_SECRET_BYTES || secret.is_empty() {
        return Err(SecretError::BadLength {
            path: path.to_owned(),
        });
    }
    Ok(Zeroizing::new(secret.to_vec()))
}

fn check_access(
    path: &Path,
    metadata: &std::fs::Metadata,
    owner: Owner,
) -> Result<(), SecretError> {
    if !metadata.is_file() {
        return Err(SecretError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(SecretError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let expected = nix::unistd::geteuid().as_raw();
    let allowed = metadata.uid() == expected
        || (owner == Owner::ServiceUserOrRoot && metadata.uid() == ROOT_UID);
    if !allowed {
        return Err(SecretError::WrongOwner {
            path: path.to_owned(),
            owner: metadata.uid(),
            expected,
        });
    }
    Ok(())
}

/// Reads until end of file or until `buffer` is full, into `buffer` only.
fn read_up_to(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut len = 0;
    while len < buffer.len() {
        match file.read(&mut buffer[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

/// Drops one trailing `\n` or `\r\n`, as editors and `echo` write them.
fn without_line_end(secret: &[u8]) -> &[u8] {
    let secret = secret.strip_suffix(b"\n").unwrap_or(secret);
    secret.strip_suffix(b"\r").unwrap_or(secret)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn secret_file(dir: &Path, content: &[u8], mode: u32) -> SecretSource {
        let path = dir.join("db.secret");
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        SecretSource::File(path)
    }

    #[test]
    fn a_private_file_is_read_without_its_line_end() {
        let dir = tempfile::tempdir().unwrap();
        let secret = secret_file(dir.path(), b"s3cret\r\n", 0o600)
            .read()
            .unwrap();
        assert_eq!(secret.as_slice(), b"s3cret");
    }

    #[test]
    fn open_empty_long_or_missing_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = secret_file(dir.path(), b"s3cret", 0o640).read();
        assert!(matches!(
            open,
            Err(SecretError::TooOpen { mode: 0o640, .. })
        ));
        let empty = secret_file(dir.path(), b"\n", 0o600).read();
        assert!(matches!(empty, Err(SecretError::BadLength { .. })));
        let long = secret_file(dir.path(), &[b'x'; MAX_SECRET_BYTES + 1], 0o600).read();
        assert!(matches!(long, Err(SecretError::BadLength { .. })));
        let missing = SecretSource::File(dir.path().join("absent")).read();
        assert!(matches!(missing, Err(SecretError::Unreadable { .. })));
        let directory = SecretSource::File(dir.path().to_owned()).read();
        assert!(matches!(directory, Err(SecretError::NotAFile { .. })));
    }

    #[test]
    fn a_credential_is_read_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        secret_file(dir.path(), b"s3cret\n", 0o600);
        let path = credential_path(Some(dir.path().into()), "db.secret").unwrap();
        let secret = read_secret_file(&path, Owner::ServiceUserOrRoot).unwrap();
        assert_eq!(secret.as_slice(), b"s3cret");
        assert!(matches!(
            credential_path(None, "db.secret"),
            Err(SecretError::NoCredentialsDirectory { .. })
        ));
    }
}
