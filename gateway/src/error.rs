//! The crate's one error type, for what stops the gateway from starting or serving.
//!
//! A single request never fails with this type: a request that cannot be served is answered
//! with a KMIP result (see [`crate::refusal`]), and the fault behind it is logged.

use std::io;

use kmip::net::NetError;
pub use krypton_service::ErrorChain;
use krypton_service::config::{ConfigFileError, OutOfRange, RelativePath};
use krypton_service::daemon::StartError;
use krypton_service::hardening::HardeningError;
use krypton_service::telemetry::TelemetryError;

use crate::vault::VaultError;

/// Everything that can stop the gateway.
///
/// The variants fall into groups that call for different answers:
/// - **the operator's configuration**: [`Config`](Error::Config), and the configuration
///   variants of [`Net`](Error::Net) (a TLS file that cannot be read or does not fit);
/// - **the environment** (disk, sockets, the OS): [`Vault`](Error::Vault), [`Io`](Error::Io),
///   [`Start`](Error::Start), [`Hardening`](Error::Hardening);
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

    /// The async runtime or the signal handlers could not be set up.
    #[error(transparent)]
    Start(#[from] StartError),

    /// The process could not be hardened as configured.
    #[error("process hardening")]
    Hardening(#[source] HardeningError),

    /// The telemetry listener could not be set up.
    #[error("telemetry")]
    Telemetry(#[from] TelemetryError),

    /// `vault copy` stopped.
    #[error("vault copy")]
    Copy(#[from] crate::copy::CopyError),
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read, is too large, or is not valid TOML or has an unknown,
    /// missing or mistyped key.
    #[error(transparent)]
    File(#[from] ConfigFileError),

    /// A path that must be absolute is relative.
    #[error(transparent)]
    RelativePath(#[from] RelativePath),

    /// A number is outside its allowed range.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),

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

    /// A setting that is valid alone but not with the others.
    #[error("{key} {reason}")]
    Conflict {
        /// The setting at fault.
        key: &'static str,
        /// What it needs, or what it contradicts.
        reason: &'static str,
    },
}
