//! The crate's errors: of an operation of the core ([`Error`]), of a KMIP request
//! ([`RequestError`]), of start-up ([`StartError`]) and of the configuration ([`ConfigError`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use krypton_service::ErrorChain;
use krypton_service::config::{ConfigFileError, OutOfRange, RelativePath};
use krypton_service::daemon::StartError as RuntimeError;

use crate::hsm::{HsmError, InvalidIdentifier, TenantId};
use crate::store::Column;

/// Why an operation of the core failed: a control request, a step of the core's own work, or
/// what is beneath a KMIP request ([`RequestError::Core`]).
///
/// The variants fall into groups that call for different answers:
/// - **caller misuse** (the request does not fit the core's state or the API's bounds):
///   [`Sealed`](Error::Sealed), [`Uninitialized`](Error::Uninitialized),
///   [`AlreadyInitialized`](Error::AlreadyInitialized), [`AlreadyUnsealed`](Error::AlreadyUnsealed),
///   [`InvalidSplit`](Error::InvalidSplit), [`OutOfRange`](Error::OutOfRange),
///   [`PermissionDenied`](Error::PermissionDenied), [`InvalidName`](Error::InvalidName),
///   [`TenantNotFound`](Error::TenantNotFound), [`TenantLinked`](Error::TenantLinked),
///   [`L1Mismatch`](Error::L1Mismatch), [`ServiceNotFound`](Error::ServiceNotFound),
///   [`ServiceExists`](Error::ServiceExists), [`VersionNotFound`](Error::VersionNotFound),
///   [`VersionChangeRefused`](Error::VersionChangeRefused),
///   [`HsmNotConfigured`](Error::HsmNotConfigured),
///   [`StaleGeneration`](Error::StaleGeneration), [`BackupOnPostgres`](Error::BackupOnPostgres);
/// - **a tenant's keys** out of reach: [`TenantUnavailable`](Error::TenantUnavailable) (unlinked,
///   or its L1 refused by the HSM), [`Hsm`](Error::Hsm) (the HSM failed a link);
/// - **operator input** at the unseal ceremony: [`ShareRefused`](Error::ShareRefused) (not
///   counted, progress kept), [`RecoveryShare`](Error::RecoveryShare) (the HSM seal's shares
///   never unseal), [`WrongShares`](Error::WrongShares) (attempt over, still sealed), and
///   [`SealMismatch`](Error::SealMismatch) (`[seal]` is not the installation's seal);
/// - **stored data** that failed authentication: [`TamperedRecord`](Error::TamperedRecord);
/// - **the environment** (disk, OS): [`Store`](Error::Store), [`Io`](Error::Io),
///   [`SecretMemory`](Error::SecretMemory), [`Random`](Error::Random);
/// - **bugs** in this crate or a dependency: [`Internal`](Error::Internal).
///
/// What only a KMIP request can get wrong is a [`RequestError`]. No variant carries secret
/// material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operation needs the master key and the core is sealed.
    #[error("the core is sealed: unseal it first")]
    Sealed,

    /// The operation changes what only the core leading the store changes, and this core
    /// follows that one (`[store] follow`).
    #[error(
        "this core follows the core that leads its store: make changes through the leading core"
    )]
    Following,

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

    /// A tenant id or service name outside its allowed form.
    #[error("invalid name")]
    InvalidName(#[source] InvalidIdentifier),

    /// No tenant of this id was ever linked (or it was destroyed).
    #[error("tenant {0} is not linked")]
    TenantNotFound(TenantId),

    /// `tenant link` for a tenant that is linked and available.
    #[error("tenant {0} is already linked")]
    TenantLinked(TenantId),

    /// A relink names another L1 than the one the tenant's L2 is wrapped under.
    #[error(
        "tenant {tenant} is linked to L1 label {stored:?}: relink it with that key, or destroy it first"
    )]
    L1Mismatch {
        /// The tenant.
        tenant: TenantId,
        /// The L1 label its wrapped L2 was made with.
        stored: String,
    },

    /// The tenant's keys are not in memory: it was unlinked, or the HSM refused its L1 at
    /// re-open. Every request for it fails closed.
    #[error("tenant {tenant} is unavailable: {reason}")]
    TenantUnavailable {
        /// The tenant.
        tenant: TenantId,
        /// Why, for the operator (names no secret).
        reason: String,
    },

    /// The tenant has no service of this name.
    #[error("tenant {tenant} has no service {service}")]
    ServiceNotFound {
        /// The tenant.
        tenant: TenantId,
        /// The service name.
        service: String,
    },

    /// The service key has no such version.
    #[error("service {tenant}/{service} has no version {version}")]
    VersionNotFound {
        /// The tenant.
        tenant: TenantId,
        /// The service name.
        service: String,
        /// The version asked for.
        version: u32,
    },

    /// A change that does not apply to the version's state: retiring the active version,
    /// destroying one not retired, reinstating one not retired.
    #[error(
        "version {version} of {tenant}/{service} is {state}: it cannot be {change}d (the active version is rotated away first; only a retired version is reinstated or destroyed)"
    )]
    VersionChangeRefused {
        /// The tenant.
        tenant: TenantId,
        /// The service name.
        service: String,
        /// The version.
        version: u32,
        /// Its state.
        state: &'static str,
        /// The change asked for.
        change: &'static str,
    },

    /// `service create` for a service that exists.
    #[error("tenant {tenant} already has a service {service}")]
    ServiceExists {
        /// The tenant.
        tenant: TenantId,
        /// The service name.
        service: String,
    },

    /// A tenant link was asked of a core without `[pkcs11]`.
    #[error("no HSM is configured: add a [pkcs11] table to the core's configuration")]
    HsmNotConfigured,

    /// The HSM failed or refused while linking or re-opening a tenant.
    #[error("the HSM failed")]
    Hsm(#[source] HsmError),

    /// A share was refused and not counted: mistyped, from another installation, or entered
    /// twice. Progress so far is kept.
    #[error("share refused")]
    ShareRefused {
        /// Which of the three it was, for the operator's next step.
        kind: ShareRefusal,
        /// The share parser's or combiner's finding.
        #[source]
        source: shamir::Error,
    },

    /// A share offered to an installation on the PKCS#11 seal: its shares are recovery shares,
    /// which never unseal. Not counted.
    #[error(
        "this installation is sealed by its HSM: its shares are recovery shares, which never unseal; the core unseals itself when the seal HSM answers"
    )]
    RecoveryShare,

    /// A file given to restore is not a backup this version reads, or does not restore into
    /// the directory given.
    #[error("cannot restore: {0}")]
    InvalidBackup(&'static str),

    /// A rekey to the PKCS#11 seal on a core whose `[seal]` configures no seal HSM.
    #[error("no seal HSM is configured: set [seal] type = \"pkcs11\" and restart first")]
    SealNotConfigured,

    /// A master-key rotation while the versions an earlier one replaced are still being
    /// retired.
    #[error(
        "master key version {version} is still being retired (its records re-sealed in the background); rotate again once status shows it retired"
    )]
    MasterKeyRetiring {
        /// The oldest version still held.
        version: u32,
    },

    /// A desired state older than the one last applied: the orchestrator is behind.
    #[error(
        "desired state generation {offered} is older than generation {applied}, already applied"
    )]
    StaleGeneration {
        /// The generation offered.
        offered: u64,
        /// The generation last applied.
        applied: u64,
    },

    /// `kryptonctl backup` of a store in PostgreSQL: PostgreSQL's own tools back it up.
    #[error(
        "this core's store is in PostgreSQL: back it up with PostgreSQL's tools (pg_dump, pg_basebackup), which copy its records sealed as they are; kryptonctl backup takes RocksDB checkpoints"
    )]
    BackupOnPostgres,

    /// A rekey confirmation with no rekey started, or one already confirmed.
    #[error("no rekey is waiting for confirmation: start one with rekey")]
    NoRekeyPending,

    /// The installation is on the PKCS#11 seal and `[seal]` configures no seal HSM: nothing
    /// could unseal it.
    #[error(
        "the installation's master key is kept by the {installed} seal but [seal] type is {configured:?}: start it with its seal HSM configured, and move it to the Shamir seal with kryptonctl rekey --seal shamir"
    )]
    SealMismatch {
        /// The seal of the install record.
        installed: &'static str,
        /// The seal of the configuration.
        configured: &'static str,
    },

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

    /// The store failed, or refused what was asked of it.
    #[error("store error while {context}")]
    Store {
        /// What the core was doing.
        context: &'static str,
        /// The backend's error.
        #[source]
        source: crate::store::StoreError,
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

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random(#[source] shamir::Error),

    /// A bug: a condition the code rules out happened.
    #[error("internal error")]
    Internal(#[source] Bug),
}

/// Why a share was refused at the unseal ceremony.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShareRefusal {
    /// Mistyped or damaged (the group that does not check is in the error), or of a format
    /// version this core does not read.
    Malformed,
    /// A share with this index was entered already in this attempt.
    Duplicate,
    /// From another installation's split, or another split of this one.
    Foreign,
    /// Fewer shares than the threshold, where a quorum must be given at once (authorizing a
    /// rekey); the unseal ceremony counts shares itself and never combines too few.
    TooFew,
}

/// Why a KMIP request to the core failed: the request, the caller's rights, the object it
/// names — or the core beneath it ([`Core`](RequestError::Core)), as a control request can
/// fail. Mapped to a KMIP Result Reason in one place, `kmip_service::result`.
///
/// No variant carries secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A KMIP request that decodes but asks for something the core does not do this way.
    #[error("{0}")]
    InvalidRequest(&'static str),

    /// A KMIP client whose certificate identity is not a configured gateway.
    #[error("client {0:?} is not a gateway this core serves")]
    UnknownGateway(String),

    /// A gateway asked for a tenant it is not configured for.
    #[error("gateway {gateway:?} may not act for tenant {tenant}")]
    TenantNotPermitted {
        /// The gateway's certificate identity.
        gateway: String,
        /// The tenant asked for.
        tenant: String,
    },

    /// A KMIP Unique Identifier that names no object of the core.
    #[error("no object {0:?}")]
    ObjectNotFound(String),

    /// A gateway asked, for itself, for an operation on registry objects: objects belong to
    /// applications, which a gateway names with a Delegated credential.
    #[error("{0:?} needs the application's identity: a gateway owns no objects")]
    GatewayOwnsNoObjects(kmip::Operation),

    /// The KMIP object rules refuse a registry request: the caller's input, the object's
    /// state, or a limit. The refusal carries its own Result Reason.
    #[error("{}", .0.message)]
    Refused(kmip::objects::Refusal),

    /// A registry object authenticated but holds a value this version does not know.
    #[error("stored object {0:?} holds a value this version of krypton-core does not know")]
    CorruptObject(String),

    /// A wrapped data key that is not in the format the core writes.
    #[error("malformed wrapped key: {0}")]
    MalformedWrappedKey(&'static str),

    /// A wrapped data key that does not open: another owner or L4 identifier, another service
    /// key, or altered.
    #[error("the wrapped key does not open under this service key, owner and identifier")]
    UnauthenticWrappedKey,

    /// A data key (L4) its gateway destroyed: its wrapped copies never unwrap again.
    #[error("data key {0} was destroyed")]
    Shredded(String),

    /// A wrapped data key under a version of its service key that was retired or destroyed:
    /// it is refused wherever the blob comes from.
    #[error("the wrapped key is under version {version} of {l3}, which is {state}")]
    VersionClosed {
        /// The service key, `l3/<tenant>/<service>`.
        l3: String,
        /// The version the blob names.
        version: u32,
        /// `retired` or `destroyed`.
        state: &'static str,
    },

    /// The audit log could not take the request's record in time (its writer is behind: the
    /// disk is slow or failing), so the request was refused before it did anything.
    #[error(
        "the audit log cannot take the record of this request now: refused, not served unrecorded"
    )]
    AuditUnavailable,

    /// The core failed beneath the request: sealed, the tenant unavailable, the store.
    #[error(transparent)]
    Core(#[from] Error),
}

impl From<Bug> for RequestError {
    fn from(bug: Bug) -> Self {
        Self::Core(Error::Internal(bug))
    }
}

/// Why the core could not start, or stopped serving. Each of these ends the process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration file is missing, unreadable or invalid.
    #[error("configuration")]
    Config(#[from] ConfigError),

    /// The process could not be hardened as configured.
    #[error("process hardening")]
    Hardening(#[source] krypton_service::hardening::HardeningError),

    /// The HSM named in `[pkcs11]` could not be opened.
    #[error("the HSM could not be opened")]
    Hsm(#[source] HsmError),

    /// The store could not be opened, or the core failed while starting or stopping.
    #[error("the core's store")]
    Core(#[from] Error),

    /// A listener could not be set up.
    #[error("I/O error while {context}")]
    Io {
        /// What the core was doing.
        context: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },

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

    /// The KMIP listener's TLS configuration could not be built from its files.
    #[error("KMIP service set-up")]
    KmipSetup(#[source] kmip::net::NetError),

    /// The `[telemetry]` listener could not be set up.
    #[error("telemetry")]
    Telemetry(#[from] krypton_service::telemetry::TelemetryError),

    /// The control API's transport failed.
    #[error("control API transport")]
    Transport(#[source] tonic::transport::Error),

    /// The async runtime or the signal handlers could not be set up.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Why a configuration reload (SIGHUP) changed nothing. None of these stops the core: it goes
/// on with the configuration it had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The file is missing, unreadable or invalid.
    #[error("configuration")]
    Config(#[from] ConfigError),

    /// `[kmip.tls]` names files that do not make a TLS configuration.
    #[error("KMIP TLS files")]
    Tls(#[source] kmip::net::NetError),

    /// `[kmip]` was added or removed: the listener is bound at start.
    #[error("[kmip] was added or removed: serving KMIP or not takes a restart")]
    KmipAddedOrRemoved,
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
    /// The HSM unwrapped another key (an L2, the master key) than the one it had just wrapped.
    #[error("the HSM did not give back the key it wrapped")]
    HsmRoundTrip,
    /// An audit key is not a 64-bit sequence number.
    #[error("audit record key has {0} bytes, expected 8")]
    AuditKeyLength(usize),
    /// More records than the core ever writes under one prefix.
    #[error("more than {limit} records under one prefix in {column}")]
    TooManyRecords {
        /// The family.
        column: Column,
        /// The bound.
        limit: usize,
    },
    /// The stored versions of the record key are inconsistent.
    #[error("the stored record key versions are inconsistent: {0}")]
    RecordKeys(&'static str),
    /// The audit sequence reached 2^64 - 1.
    #[error("audit sequence numbers are exhausted")]
    AuditSequenceExhausted,
    /// A write was given two audit records; the chain takes one per write.
    #[error("two audit records in one write")]
    TwoAuditRecords,
    /// A write committed as audited had no audit record.
    #[error("an audited write has no audit record")]
    NoAuditRecord,
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
    /// The file could not be read, is too large, or is not valid TOML or has an unknown,
    /// missing or mistyped key.
    #[error(transparent)]
    File(#[from] ConfigFileError),
    /// `[[kmip.gateways]]` is empty, too long, repeats a gateway or names an invalid tenant.
    #[error("{0}")]
    Gateways(String),
    /// `[orchestration]` lists no orchestrator, or names a broker or queue that cannot be.
    #[error("{0}")]
    Orchestration(String),
    /// `[store]` combines settings that do not go together.
    #[error("{0}")]
    Store(&'static str),
    /// A path that must be absolute is relative.
    #[error(transparent)]
    RelativePath(#[from] RelativePath),
    /// A number is outside its allowed range.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
}

impl From<shamir::Error> for Error {
    fn from(error: shamir::Error) -> Self {
        use shamir::Error as E;
        match error {
            E::InvalidParameters { .. } => Self::InvalidSplit(error),
            E::MalformedShare(_) | E::UnsupportedVersion { .. } => {
                Self::share_refused(ShareRefusal::Malformed, error)
            }
            E::DuplicateIndex { .. } => Self::share_refused(ShareRefusal::Duplicate, error),
            E::MixedKeySets { .. } | E::ForeignKeySet { .. } | E::ThresholdMismatch { .. } => {
                Self::share_refused(ShareRefusal::Foreign, error)
            }
            E::NotEnoughShares { .. } => Self::share_refused(ShareRefusal::TooFew, error),
            E::WrongKey => Self::WrongShares(error),
            E::Random(_) => Self::Random(error),
            // What the crate adds later is a bug here until it is classified above.
            _ => Self::Internal(Bug::Shamir(error)),
        }
    }
}

impl Error {
    fn share_refused(kind: ShareRefusal, source: shamir::Error) -> Self {
        Self::ShareRefused { kind, source }
    }
}

impl From<Bug> for Error {
    fn from(bug: Bug) -> Self {
        Self::Internal(bug)
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
            Error::ShareRefused {
                kind: ShareRefusal::Duplicate,
                ..
            }
        ));
        assert!(matches!(
            Error::from(shamir::Error::NotEnoughShares { have: 1, need: 2 }),
            Error::ShareRefused {
                kind: ShareRefusal::TooFew,
                ..
            }
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
