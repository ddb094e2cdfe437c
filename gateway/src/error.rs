//! The crate's one error type, for what stops the gateway from starting or serving.
//!
//! A single request never fails with this type: a request that cannot be served is answered
//! with a KMIP result (see [`crate::refusal`]), and the fault behind it is logged.

use std::io;
use std::path::PathBuf;

use kmip::net::NetError;

use crate::vault::VaultError;

/// Everything that can stop the gateway.
///
/// The variants fall into groups that call for different answers:
/// - **the operator's configuration**: [`Config`](Error::Config), and the configuration
///   variants of [`Net`](Error::Net) (a TLS file that cannot be read or does not fit);
/// - **the environment** (disk, sockets, the OS): [`Vault`](Error::Vault), [`Io`](Error::Io);
/// - **bugs**: [`VaultError::Task`] inside [`Vault`](Error::Vault).
///
/// No variant carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file is missing, unreadable or invalid.
    #[error("configuration")]
    Config(#[from] ConfigError),

    /// The vault could not be opened or failed.
    #[error("vault")]
    Vault(#[from] VaultError),

    /// TLS could not be set up from the configured files, or the KMIP listener failed.
    #[error("KMIP transport")]
    Net(#[from] NetError),

    /// An operating-system call failed.
    #[error("I/O error while {context}")]
    Io {
        /// What the gateway was doing.
        context: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
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

    /// A tenant or service name in the identity map cannot name an L3 in the core.
    #[error("identity {identity:?}: {what} {value:?} must be {rule}")]
    InvalidName {
        /// The identity whose assignment is at fault.
        identity: String,
        /// `"tenant"` or `"service"`.
        what: &'static str,
        /// The value given.
        value: String,
        /// What a valid value looks like.
        rule: &'static str,
    },

    /// The identity map is empty: no application could use the gateway.
    #[error("[identities] maps no identity to a tenant and service")]
    NoIdentities,
}

/// Displays an error followed by each of its sources, on one line: `a: b: c`.
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
