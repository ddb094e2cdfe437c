//! Where the HSM user PIN comes from, and reading it without spreading it.
//!
//! The PIN is never taken from the command line or the environment: both are visible to other
//! processes and end up in shell histories and crash reports. It comes from a file that only
//! the service user can read, or from a systemd credential (`LoadCredential=`), which systemd
//! places in a private directory named by `$CREDENTIALS_DIRECTORY`. A file that group or others
//! could read is refused rather than trusted: the PIN may already have leaked, and the
//! operator must hear about it.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use cryptoki::types::RawAuthPin;
use serde::Deserialize;
use zeroize::Zeroizing;

/// The longest PIN read. Tokens take far shorter PINs; the bound stops a misconfigured path
/// (a large file) from being read whole.
const MAX_PIN_BYTES: usize = 256;

/// The variable systemd sets to the unit's private credential directory.
const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// Permission bits for group and others: none may be set on a PIN file.
const GROUP_OTHER_BITS: u32 = 0o077;

/// The uid systemd may give credential files, granting the service user access by ACL.
const ROOT_UID: u32 = 0;

/// Where the core reads the HSM user PIN: `pin = { file = "/etc/krypton/hsm.pin" }` or
/// `pin = { systemd_credential = "krypton-hsm-pin" }` in the `[pkcs11]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinSource {
    /// A file owned by the service user, with no access for group or others. One trailing
    /// newline is ignored.
    File(PathBuf),
    /// The systemd credential of this name: `$CREDENTIALS_DIRECTORY/<name>`.
    SystemdCredential(String),
}

/// Why the PIN could not be read. Names the path, never the content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The file is missing or unreadable.
    #[error("cannot read the PIN file {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The path is a directory, device or other non-regular file.
    #[error("the PIN file {} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// Group or others have access to the file.
    #[error(
        "the PIN file {} has mode {mode:04o}; group and others must have no access (chmod 0600)",
        path.display()
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file belongs to another user than the one the core runs as.
    #[error("the PIN file {} is owned by uid {owner}; it must belong to uid {expected}, which runs the core", path.display())]
    WrongOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The core's effective uid.
        expected: u32,
    },
    /// The file holds no PIN.
    #[error("the PIN file {} is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is longer than any PIN.
    #[error("the PIN file {} is longer than {MAX_PIN_BYTES} bytes", path.display())]
    TooLong {
        /// The file.
        path: PathBuf,
    },
    /// A systemd credential is configured but the core was not started with credentials.
    #[error(
        "${CREDENTIALS_DIRECTORY} is not set: pass the PIN credential {name:?} with LoadCredential="
    )]
    NoCredentialsDirectory {
        /// The credential's name.
        name: String,
    },
}

impl PinSource {
    /// Reads the PIN. Blocking file I/O.
    pub(super) fn read(&self) -> Result<RawAuthPin, PinError> {
        let mut pin = match self {
            Self::File(path) => read_pin_file(path, Owner::ServiceUser)?,
            Self::SystemdCredential(name) => {
                let path = credential_path(std::env::var_os(CREDENTIALS_DIRECTORY), name)?;
                read_pin_file(&path, Owner::ServiceUserOrRoot)?
            }
        };
        // The vector moves into the box: no copy of the PIN is left behind.
        Ok(RawAuthPin::new(Box::new(std::mem::take(&mut *pin))))
    }
}

/// Who may own a PIN file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Only the user the core runs as: an operator-provisioned file.
    ServiceUser,
    /// Also root: systemd may keep credential files root-owned and grant the service user
    /// read access by ACL, inside a directory no one else can enter.
    ServiceUserOrRoot,
}

fn credential_path(directory: Option<OsString>, name: &str) -> Result<PathBuf, PinError> {
    let directory = directory.ok_or_else(|| PinError::NoCredentialsDirectory {
        name: name.to_owned(),
    })?;
    Ok(Path::new(&directory).join(name))
}

fn read_pin_file(path: &Path, owner: Owner) -> Result<Zeroizing<Vec<u8>>, PinError> {
    let unreadable = |source| PinError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(unreadable)?;
    // fstat of the open file: the file checked is the file read, whatever the path does next.
    let metadata = file.metadata().map_err(unreadable)?;
    check_access(path, &metadata, owner)?;

    // One byte more than allowed, to tell a full-length PIN from a longer file.
    let mut buffer = Zeroizing::new([0u8; MAX_PIN_BYTES + 1]);
    let len = read_up_to(&mut file, buffer.as_mut_slice()).map_err(unreadable)?;
    if len > MAX_PIN_BYTES {
        return Err(PinError::TooLong {
            path: path.to_owned(),
        });
    }
    let pin = without_line_end(&buffer[..len]);
    if pin.is_empty() {
        return Err(PinError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(Zeroizing::new(pin.to_vec()))
}

fn check_access(path: &Path, metadata: &std::fs::Metadata, owner: Owner) -> Result<(), PinError> {
    if !metadata.is_file() {
        return Err(PinError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(PinError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let expected = nix::unistd::geteuid().as_raw();
    let allowed = metadata.uid() == expected
        || (owner == Owner::ServiceUserOrRoot && metadata.uid() == ROOT_UID);
    if !allowed {
        return Err(PinError::WrongOwner {
            path: path.to_owned(),
            owner: metadata.uid(),
            expected,
        });
    }
    Ok(())
}

/// Reads until end of file or until `buffer` is full, into `buffer` only (no growing vector
/// that would leave copies of the PIN behind).
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
fn without_line_end(pin: &[u8]) -> &[u8] {
    let pin = pin.strip_suffix(b"\n").unwrap_or(pin);
    pin.strip_suffix(b"\r").unwrap_or(pin)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn pin_file(dir: &Path, content: &[u8], mode: u32) -> PathBuf {
        let path = dir.join("hsm.pin");
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, PinError> {
        read_pin_file(path, Owner::ServiceUser)
    }

    #[test]
    fn reads_an_owner_only_file_without_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read(&pin_file(dir.path(), b"1234\n", 0o600))
                .unwrap()
                .as_slice(),
            b"1234"
        );
        assert_eq!(
            read(&pin_file(dir.path(), b"12 34\r\n", 0o400))
                .unwrap()
                .as_slice(),
            b"12 34"
        );
        assert_eq!(
            read(&pin_file(dir.path(), b"9\n\n", 0o600))
                .unwrap()
                .as_slice(),
            b"9\n"
        );
        assert!(
            PinSource::File(pin_file(dir.path(), b"1", 0o600))
                .read()
                .is_ok()
        );
    }

    #[test]
    fn refuses_a_file_group_or_others_can_reach_and_names_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o610] {
            let path = pin_file(dir.path(), b"1234", mode);
            let error = read(&path).unwrap_err();
            assert!(
                matches!(&error, PinError::TooOpen { mode: m, path: p } if *m == mode && *p == path),
                "{error:?}"
            );
            let text = error.to_string();
            assert!(text.contains(&format!("{mode:04o}")), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
    }

    #[test]
    fn refuses_missing_empty_oversized_and_non_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read(&dir.path().join("absent")).unwrap_err();
        assert!(
            matches!(missing, PinError::Unreadable { .. }),
            "{missing:?}"
        );

        let empty = read(&pin_file(dir.path(), b"\n", 0o600));
        assert!(matches!(empty, Err(PinError::Empty { .. })), "{empty:?}");

        let long = read(&pin_file(dir.path(), &[b'7'; MAX_PIN_BYTES + 1], 0o600));
        assert!(matches!(long, Err(PinError::TooLong { .. })), "{long:?}");
        let longest = read(&pin_file(dir.path(), &[b'7'; MAX_PIN_BYTES], 0o600));
        assert_eq!(longest.unwrap().len(), MAX_PIN_BYTES);

        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(read(&sub), Err(PinError::NotAFile { .. })));
    }

    #[test]
    fn credentials_come_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        pin_file(dir.path(), b"5678", 0o400);
        let path = credential_path(Some(dir.path().into()), "hsm.pin").unwrap();
        assert_eq!(path, dir.path().join("hsm.pin"));
        assert_eq!(
            read_pin_file(&path, Owner::ServiceUserOrRoot)
                .unwrap()
                .as_slice(),
            b"5678"
        );

        let unset = credential_path(None, "hsm.pin").unwrap_err();
        assert!(unset.to_string().contains("LoadCredential"), "{unset}");
    }

    #[test]
    fn refuses_a_file_of_another_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = pin_file(dir.path(), b"1234", 0o600);
        const NOBODY: u32 = 65534;
        // Giving a file away takes CAP_CHOWN; without it there is no foreign file to test with.
        if std::os::unix::fs::chown(&path, Some(NOBODY), None).is_err() {
            return;
        }
        let error = read(&path).unwrap_err();
        assert!(
            matches!(error, PinError::WrongOwner { owner: NOBODY, .. }),
            "{error:?}"
        );
    }
}
