//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::store::Column;

/// Everything that can go wrong in the core.
///
/// The variants fall into groups that call for different answers:
/// - **caller misuse** (the request does not fit the core's state or the API's bounds):
///   [`Sealed`](Error::Sealed), [`Uninitialized`](Error::Uninitialized),
///   [`AlreadyInitialized`](Error::AlreadyInitialized), [`AlreadyUnsealed`](Error::AlreadyUnsealed),
///   [`InvalidSplit`](Error::InvalidSplit), [`OutOfRange`](Error::OutOfRange),
///   [`PermissionDenied`](Error::PermissionDenied);
/// - **operator input** at the unseal ceremony: [`ShareRefused`](Error::ShareRefused) (not
///   counted, progress kept) and [`WrongShares`](Error::WrongShares) (attempt over, still sealed);
/// - **stored data** that failed authentication: [`TamperedRecord`](Error::TamperedRecord);
/// - **the environment** (configuration, disk, OS, socket): [`Config`](Error::Config),
///   [`Store`](Error::Store), [`Io`](Error::Io), [`SecretMemory`](Error::SecretMemory),
///   [`Hardening`](Error::Hardening), [`Random`](Error::Random),
///   [`SocketInUse`](Error::SocketInUse), [`SocketPathOccupied`](Error::SocketPathOccupied),
///   [`Transport`](Error::Transport);
/// - **bugs** in this crate or a dependency: [`Internal`](Error::Internal).
///
/// No variant carries secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operation needs the master key and the core is sealed.
    #[error("the core is sealed: unseal it first")]
    Sealed,

    /// The operation needs an initialized core.
    #[error("the core is not initialized: run init first")]
    Uninitialized,

    /// `init` on a core that already has a master key.
    #[error("the core is already initialized")]
    AlreadyInitialized,

    /// `unseal` or a reset on a core that is already unsealed.
    #[error("the core is already unsealed")]
    AlreadyUnsealed,

    /// The requested threshold and share count cannot be split.
    #[error("invalid share parameters")]
    InvalidSplit(#[source] shamir::Error),

    /// A numeric request field is outside what the API accepts.
    #[error("{field} is {value}, the most allowed is {max}")]
    OutOfRange {
        /// The request field.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The largest value accepted.
        max: u64,
    },

    /// The transport authenticated a caller this core does not serve.
    #[error("caller {caller} is not allowed on the control socket")]
    PermissionDenied {
        /// The caller as the transport identified it.
        caller: String,
    },

    /// A share was refused and not counted: mistyped, from another installation, or entered
    /// twice. Progress so far is kept.
    #[error("share refused")]
    ShareRefused(#[source] shamir::Error),

    /// The threshold of shares was reached but they do not rebuild this installation's master
    /// key. Every share received is forgotten and the core stays sealed.
    #[error("the shares do not rebuild this installation's master key; the core stays sealed")]
    WrongShares(#[source] shamir::Error),

    /// A stored record failed authentication: it was altered, or moved from another key or
    /// family. It is not served.
    #[error("record {key} in {column} failed authentication: it was altered on disk and is not served", key = RecordKey(key))]
    TamperedRecord {
        /// The column family the record was read from.
        column: Column,
        /// The record's key.
        key: Box<[u8]>,
    },

    /// The configuration file is missing, unreadable or invalid.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),

    /// The database failed.
    #[error("database error while {context}")]
    Store {
        /// What the core was doing.
        context: &'static str,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },

    /// A file system or socket operation failed.
    #[error("I/O error while {context}")]
    Io {
        /// What the core was doing.
        context: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// Guarded memory for a key could not be allocated or protected.
    #[error("guarded key memory")]
    SecretMemory(#[from] crate::secret::SecretError),

    /// The process could not be hardened as configured.
    #[error("process hardening")]
    Hardening(#[source] crate::hardening::HardeningError),

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random(#[source] shamir::Error),

    /// Another process is serving the control socket.
    #[error("{} is in use by a running process", path.display())]
    SocketInUse {
        /// The socket path.
        path: PathBuf,
    },

    /// The control socket path exists and is not a socket.
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    SocketPathOccupied {
        /// The socket path.
        path: PathBuf,
    },

    /// The control API's transport failed.
    #[error("control API transport")]
    Transport(#[source] tonic::transport::Error),

    /// A bug: a condition the code rules out happened.
    #[error("internal error")]
    Internal(#[source] Bug),
}

/// A condition that should be impossible: reaching one is a bug in this crate or a dependency.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Bug {
    /// A column family opened at start-up is missing.
    #[error("column family {0} is not open")]
    MissingColumnFamily(Column),
    /// A record that authenticated did not decode: written by an incompatible version.
    #[error("record in {column} authenticated but does not decode")]
    RecordDecode {
        /// The record's family.
        column: Column,
        /// The decoder's error.
        #[source]
        source: ciborium::de::Error<io::Error>,
    },
    /// A record could not be encoded.
    #[error("record does not encode")]
    RecordEncode(#[source] ciborium::ser::Error<io::Error>),
    /// AES-GCM sealing failed.
    #[error("AES-GCM sealing failed")]
    Aead,
    /// HKDF refused its own fixed-size output.
    #[error("key derivation failed")]
    KeyDerivation,
    /// An audit key is not a 64-bit sequence number.
    #[error("audit record key has {0} bytes, expected 8")]
    AuditKeyLength(usize),
    /// The audit sequence reached 2^64 - 1.
    #[error("audit sequence numbers are exhausted")]
    AuditSequenceExhausted,
    /// A lock was poisoned by a panic while held; the state it guards is not trusted.
    #[error("the lifecycle lock is poisoned")]
    LockPoisoned,
    /// A blocking task panicked or was cancelled.
    #[error("a blocking task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The secret-sharing crate reported an internal error.
    #[error("secret sharing")]
    Shamir(#[source] shamir::Error),
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is larger than any configuration file.
    #[error("the file has {len} bytes; a configuration file is at most 1 MiB")]
    TooLarge {
        /// The file's size.
        len: u64,
    },
    /// The file is not valid TOML or has an unknown, missing or mistyped key.
    #[error("invalid configuration")]
    Parse(#[source] toml::de::Error),
    /// A path that must be absolute is relative.
    #[error("{key} must be an absolute path, not {}", path.display())]
    RelativePath {
        /// The key.
        key: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// A number is outside its allowed range.
    #[error("{key} is {value}, must be between {min} and {max}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
}

impl From<shamir::Error> for Error {
    fn from(error: shamir::Error) -> Self {
        use shamir::Error as E;
        match error {
            E::InvalidParameters { .. } => Self::InvalidSplit(error),
            E::MalformedShare(_)
            | E::UnsupportedVersion { .. }
            | E::MixedKeySets { .. }
            | E::ForeignKeySet { .. }
            | E::ThresholdMismatch { .. }
            | E::DuplicateIndex { .. }
            | E::NotEnoughShares { .. } => Self::ShareRefused(error),
            E::WrongKey => Self::WrongShares(error),
            E::Random(_) => Self::Random(error),
            _ => Self::Internal(Bug::Shamir(error)),
        }
    }
}

impl From<Bug> for Error {
    fn from(bug: Bug) -> Self {
        Self::Internal(bug)
    }
}

/// Displays an error followed by each of its sources, on one line: `a: b: c`.
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Shows a record key as text when it is printable, else as hex.
struct RecordKey<'a>(&'a [u8]);

impl fmt::Display for RecordKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_empty() && self.0.iter().all(|b| b.is_ascii_graphic()) {
            self.0
                .iter()
                .try_for_each(|&b| write!(f, "{}", char::from(b)))
        } else {
            f.write_str("0x")?;
            self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampered_record_names_family_and_key() {
        let text = Error::TamperedRecord {
            column: Column::Meta,
            key: b"installation".as_slice().into(),
        }
        .to_string();
        assert!(
            text.starts_with("record installation in meta failed"),
            "{text}"
        );
        let text = Error::TamperedRecord {
            column: Column::Audit,
            key: 42u64.to_be_bytes().as_slice().into(),
        }
        .to_string();
        assert!(
            text.starts_with("record 0x000000000000002a in audit"),
            "{text}"
        );
    }

    #[test]
    fn shamir_errors_are_classified() {
        assert!(matches!(
            Error::from(shamir::Error::WrongKey),
            Error::WrongShares(_)
        ));
        assert!(matches!(
            Error::from(shamir::Error::DuplicateIndex { index: 2 }),
            Error::ShareRefused(_)
        ));
        assert!(matches!(
            Error::from(shamir::Error::InvalidParameters {
                threshold: 1,
                count: 1
            }),
            Error::InvalidSplit(_)
        ));
        assert!(matches!(
            Error::from(shamir::Error::MalformedKeyCheck),
            Error::Internal(Bug::Shamir(_))
        ));
    }
}
