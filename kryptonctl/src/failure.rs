//! Why a command failed, as one line and one exit code a script can rely on.

use std::io;
use std::process::ExitCode;

use krypton_control_api::{self as control, ConnectError, v1::ErrorReason};
use krypton_service::ErrorChain;
use tonic::Code;

/// A failed command.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The control socket could not be reached.
    Unreachable(ConnectError),
    /// The core answered with an error.
    Core(tonic::Status),
    /// The share was refused before it was sent.
    Share(shamir::Error),
    /// The command line asks for something only with a confirmation it lacks.
    Usage(&'static str),
    /// `doctor`: this many checks failed.
    ChecksFailed(usize),
    /// `audit verify`: a record is not as the core wrote it.
    AuditBroken { sequence: u64, reason: String },
    /// A local file or terminal operation failed.
    Local {
        context: &'static str,
        source: io::Error,
    },
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Self::Core(status)
    }
}

impl Failure {
    /// What kind of failure this is.
    pub(crate) fn reason(&self) -> Reason {
        match self {
            // The socket's mode refused this user: not a core that is down.
            Self::Unreachable(error) if denied(error) => Reason::PermissionDenied,
            Self::Unreachable(_) => Reason::Unreachable,
            Self::Local { .. } => Reason::Local,
            Self::Usage(_) => Reason::InvalidArgument,
            Self::ChecksFailed(_) => Reason::ChecksFailed,
            Self::AuditBroken { .. } => Reason::TamperedRecord,
            Self::Share(
                shamir::Error::MalformedShare(_) | shamir::Error::UnsupportedVersion { .. },
            ) => Reason::MalformedShare,
            Self::Share(_) => Reason::Internal,
            Self::Core(status) => match control::error_detail(status) {
                Some(detail) => detail.reason().into(),
                // No detail: the status came from the transport, not from the core. A connection
                // lost mid-request is `Unknown`: tonic has no better code for it.
                None if matches!(
                    status.code(),
                    Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
                ) =>
                {
                    Reason::Unreachable
                }
                None => Reason::Internal,
            },
        }
    }

    /// The 1-based group of a mistyped share, when it can be pinned down.
    pub(crate) fn share_group(&self) -> Option<u32> {
        match self {
            Self::Share(shamir::Error::MalformedShare(malformed)) => {
                malformed.group().and_then(|g| u32::try_from(g).ok())
            }
            Self::Core(status) => control::error_detail(status).and_then(|d| d.share_group),
            _ => None,
        }
    }

    /// The failure on one line.
    pub(crate) fn message(&self) -> String {
        let line = match self {
            Self::Unreachable(error) => ErrorChain(error).to_string(),
            // No detail: the transport's words (a lost connection, a deadline), not the core's.
            Self::Core(status) if control::error_detail(status).is_none() => {
                format!("no usable answer from the core: {}", status.message())
            }
            Self::Core(status) => status.message().to_owned(),
            Self::Share(error) => format!("share refused: {}", ErrorChain(error)),
            Self::Local { context, source } => format!("{context}: {source}"),
            Self::Usage(message) => (*message).to_owned(),
            Self::ChecksFailed(failed) => format!("doctor: {failed} check(s) failed"),
            Self::AuditBroken {
                sequence: 0,
                reason,
            } => {
                format!("audit log not intact: {reason}")
            }
            Self::AuditBroken { sequence, reason } => {
                format!("audit log not intact at record {sequence}: {reason}")
            }
        };
        // One line whatever a source put in its message.
        line.replace(['\n', '\r'], " ")
    }
}

/// Whether the OS refused the connection for lack of permission.
fn denied(error: &ConnectError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return io.kind() == io::ErrorKind::PermissionDenied;
        }
        source = cause.source();
    }
    false
}

/// The kinds of failure a script can tell apart: the core's `ErrorReason`s plus the two that
/// happen on this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Internal,
    InvalidArgument,
    Unreachable,
    Sealed,
    Uninitialized,
    AlreadyInitialized,
    AlreadyUnsealed,
    MalformedShare,
    ForeignShare,
    DuplicateShare,
    WrongShares,
    TamperedRecord,
    PermissionDenied,
    Local,
    NotFound,
    Conflict,
    TenantUnavailable,
    Hsm,
    RecoveryShare,
    NoRekeyPending,
    MasterKeyRetiring,
    TooManyKeys,
    VersionState,
    Following,
    InvalidConfiguration,
    ChecksFailed,
}

impl Reason {
    /// The stable name printed in `--json` errors.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Internal => "internal",
            Self::InvalidArgument => "invalid-argument",
            Self::Unreachable => "unreachable",
            Self::Sealed => "sealed",
            Self::Uninitialized => "uninitialized",
            Self::AlreadyInitialized => "already-initialized",
            Self::AlreadyUnsealed => "already-unsealed",
            Self::MalformedShare => "malformed-share",
            Self::ForeignShare => "foreign-share",
            Self::DuplicateShare => "duplicate-share",
            Self::WrongShares => "wrong-shares",
            Self::TamperedRecord => "tampered-record",
            Self::PermissionDenied => "permission-denied",
            Self::Local => "local",
            Self::NotFound => "not-found",
            Self::Conflict => "conflict",
            Self::TenantUnavailable => "tenant-unavailable",
            Self::Hsm => "hsm",
            Self::RecoveryShare => "recovery-share",
            Self::NoRekeyPending => "no-rekey-pending",
            Self::MasterKeyRetiring => "master-key-retiring",
            Self::TooManyKeys => "too-many-keys",
            Self::VersionState => "version-state",
            Self::Following => "following",
            Self::InvalidConfiguration => "invalid-configuration",
            Self::ChecksFailed => "checks-failed",
        }
    }

    /// The exit code documented in `--help`.
    pub(crate) fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Self::Internal => 1,
            Self::InvalidArgument => 2,
            Self::Unreachable => 3,
            Self::Sealed
            | Self::Uninitialized
            | Self::AlreadyInitialized
            | Self::AlreadyUnsealed
            | Self::RecoveryShare
            | Self::NoRekeyPending
            | Self::MasterKeyRetiring
            | Self::TooManyKeys
            | Self::VersionState
            | Self::Following => 4,
            Self::MalformedShare | Self::ForeignShare | Self::DuplicateShare => 5,
            Self::WrongShares => 6,
            Self::TamperedRecord => 7,
            Self::PermissionDenied => 8,
            Self::Local => 9,
            Self::NotFound => 10,
            Self::Conflict => 11,
            Self::TenantUnavailable => 12,
            Self::Hsm => 13,
            Self::InvalidConfiguration => 14,
            Self::ChecksFailed => 15,
        })
    }
}

impl From<ErrorReason> for Reason {
    fn from(reason: ErrorReason) -> Self {
        match reason {
            ErrorReason::Unspecified | ErrorReason::Internal => Self::Internal,
            ErrorReason::Sealed => Self::Sealed,
            ErrorReason::Uninitialized => Self::Uninitialized,
            ErrorReason::AlreadyInitialized => Self::AlreadyInitialized,
            ErrorReason::AlreadyUnsealed => Self::AlreadyUnsealed,
            ErrorReason::InvalidArgument => Self::InvalidArgument,
            ErrorReason::MalformedShare => Self::MalformedShare,
            ErrorReason::ForeignShare => Self::ForeignShare,
            ErrorReason::DuplicateShare => Self::DuplicateShare,
            ErrorReason::WrongShares => Self::WrongShares,
            ErrorReason::TamperedRecord => Self::TamperedRecord,
            ErrorReason::PermissionDenied => Self::PermissionDenied,
            ErrorReason::NotFound => Self::NotFound,
            ErrorReason::Conflict => Self::Conflict,
            ErrorReason::TenantUnavailable => Self::TenantUnavailable,
            ErrorReason::Hsm => Self::Hsm,
            ErrorReason::RecoveryShare => Self::RecoveryShare,
            ErrorReason::NoRekeyPending => Self::NoRekeyPending,
            ErrorReason::MasterKeyRetiring => Self::MasterKeyRetiring,
            ErrorReason::TooManyKeys => Self::TooManyKeys,
            ErrorReason::VersionState => Self::VersionState,
            ErrorReason::Following => Self::Following,
            ErrorReason::InvalidConfiguration => Self::InvalidConfiguration,
        }
    }
}
