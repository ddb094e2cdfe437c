//! How the core's errors travel on the control API: a gRPC code for generic clients and an
//! [`ErrorDetail`] with a stable reason for ours.
//!
//! Faults of the caller or of stored data are described to the caller; faults inside the core
//! are logged in full and reported only as internal, so a remote caller learns nothing of the
//! core's insides.

use prost::Message;
use prost::bytes::Bytes;
use tonic::{Code, Status};

use super::v1::{ErrorDetail, ErrorReason};
use crate::error::{Error, ErrorChain, ReloadError, ShareRefusal};
use crate::secret::SecretError;
use crate::store::StoreError;

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let (code, reason) = classify(&error);
        let detail = ErrorDetail {
            reason: reason.into(),
            share_group: share_group(&error),
        };
        Status::with_details(
            code,
            remote_message(&error),
            Bytes::from(detail.encode_to_vec()),
        )
    }
}

/// The stable reason `error` travels with.
pub(crate) fn error_reason(error: &Error) -> ErrorReason {
    classify(error).1
}

/// What a remote caller is told of `error`: the whole chain for faults of the caller or of
/// stored data; for a fault inside the core, only that there was one (it is logged in full).
pub(crate) fn remote_message(error: &Error) -> String {
    if classify(error).1 == ErrorReason::Internal {
        tracing::error!(error = %ErrorChain(error), "request failed");
        "internal error in the core; see its log".to_owned()
    } else {
        ErrorChain(error).to_string()
    }
}

impl From<ReloadError> for Status {
    /// Every reload error is the file's: the caller is told what is wrong with it.
    fn from(error: ReloadError) -> Self {
        let (code, reason) = match error {
            ReloadError::Config(_) | ReloadError::Tls(_) | ReloadError::KmipAddedOrRemoved => {
                (Code::FailedPrecondition, ErrorReason::InvalidConfiguration)
            }
        };
        let detail = ErrorDetail {
            reason: reason.into(),
            share_group: None,
        };
        Status::with_details(
            code,
            ErrorChain(&error).to_string(),
            Bytes::from(detail.encode_to_vec()),
        )
    }
}

fn classify(error: &Error) -> (Code, ErrorReason) {
    match error {
        Error::Sealed => (Code::FailedPrecondition, ErrorReason::Sealed),
        Error::Following
        | Error::Store {
            source: StoreError::Following,
            ..
        } => (Code::FailedPrecondition, ErrorReason::Following),
        Error::Uninitialized => (Code::FailedPrecondition, ErrorReason::Uninitialized),
        Error::AlreadyInitialized => (Code::AlreadyExists, ErrorReason::AlreadyInitialized),
        Error::AlreadyUnsealed => (Code::FailedPrecondition, ErrorReason::AlreadyUnsealed),
        Error::InvalidSplit(_) | Error::OutOfRange { .. } => {
            (Code::InvalidArgument, ErrorReason::InvalidArgument)
        }
        Error::PermissionDenied { .. } => (Code::PermissionDenied, ErrorReason::PermissionDenied),
        Error::ShareRefused { kind, .. } => match kind {
            ShareRefusal::Malformed => (Code::InvalidArgument, ErrorReason::MalformedShare),
            ShareRefusal::Duplicate => (Code::AlreadyExists, ErrorReason::DuplicateShare),
            ShareRefusal::Foreign => (Code::InvalidArgument, ErrorReason::ForeignShare),
            // Fewer shares than the threshold to authorize a rekey.
            ShareRefusal::TooFew => (Code::InvalidArgument, ErrorReason::InvalidArgument),
        },
        Error::WrongShares(_) => (Code::InvalidArgument, ErrorReason::WrongShares),
        Error::RecoveryShare => (Code::FailedPrecondition, ErrorReason::RecoveryShare),
        Error::NoRekeyPending => (Code::FailedPrecondition, ErrorReason::NoRekeyPending),
        Error::MasterKeyRetiring { .. } => {
            (Code::FailedPrecondition, ErrorReason::MasterKeyRetiring)
        }
        // Restore runs offline: never on the control API.
        Error::InvalidBackup(_) => (Code::Internal, ErrorReason::Internal),
        Error::BackupOnPostgres => (Code::FailedPrecondition, ErrorReason::InvalidConfiguration),
        Error::SealMismatch { .. } => (Code::FailedPrecondition, ErrorReason::Sealed),
        Error::TamperedRecord { .. } => (Code::DataLoss, ErrorReason::TamperedRecord),
        Error::InvalidName(_) => (Code::InvalidArgument, ErrorReason::InvalidArgument),
        Error::TenantNotFound(_)
        | Error::ServiceNotFound { .. }
        | Error::VersionNotFound { .. } => (Code::NotFound, ErrorReason::NotFound),
        Error::VersionChangeRefused { .. } => (Code::FailedPrecondition, ErrorReason::VersionState),
        Error::TenantLinked(_)
        | Error::ServiceExists { .. }
        | Error::L1Mismatch { .. }
        | Error::StaleGeneration { .. } => (Code::AlreadyExists, ErrorReason::Conflict),
        Error::TenantUnavailable { .. } => {
            (Code::FailedPrecondition, ErrorReason::TenantUnavailable)
        }
        Error::HsmNotConfigured | Error::SealNotConfigured | Error::Hsm(_) => {
            (Code::Unavailable, ErrorReason::Hsm)
        }
        Error::SecretMemory(SecretError::TooManyKeys { .. }) => {
            (Code::ResourceExhausted, ErrorReason::TooManyKeys)
        }
        // The core's own faults: the caller can do nothing about them but tell an operator.
        Error::Store { .. }
        | Error::Io { .. }
        | Error::SecretMemory(
            SecretError::Allocation
            | SecretError::Protection(_)
            | SecretError::Random(_)
            | SecretError::Derivation,
        )
        | Error::Random(_)
        | Error::Internal(_) => (Code::Internal, ErrorReason::Internal),
    }
}

fn share_group(error: &Error) -> Option<u32> {
    match error {
        Error::ShareRefused {
            source: shamir::Error::MalformedShare(malformed),
            ..
        } => malformed
            .group()
            .and_then(|group| u32::try_from(group).ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use krypton_control_api::error_detail;

    use super::*;
    use crate::error::Bug;
    use crate::store::Column;

    fn round_trip(error: Error) -> (Status, ErrorDetail) {
        let status = Status::from(error);
        let detail = error_detail(&status).unwrap();
        (status, detail)
    }

    #[test]
    fn a_mistyped_share_names_its_group() {
        let malformed: shamir::Error = "0G6QP".parse::<shamir::Share>().unwrap_err();
        let (status, detail) = round_trip(malformed.into());
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(detail.reason(), ErrorReason::MalformedShare);
        assert!(
            status
                .message()
                .starts_with("share refused: the share is mistyped")
        );

        let group_typo = shamir::Error::MalformedShare(shamir::Malformed::GroupCheck { group: 7 });
        let (_, detail) = round_trip(group_typo.into());
        assert_eq!(detail.share_group, Some(7));
    }

    #[test]
    fn tampering_is_data_loss_and_named() {
        let (status, detail) = round_trip(Error::TamperedRecord {
            column: Column::Audit,
            key: [0u8; 8].as_slice().into(),
        });
        assert_eq!(status.code(), Code::DataLoss);
        assert_eq!(detail.reason(), ErrorReason::TamperedRecord);
        assert!(status.message().contains("in audit"));
    }

    #[test]
    fn internal_faults_are_not_described_to_the_caller() {
        let (status, detail) = round_trip(Error::Internal(Bug::MissingColumnFamily(Column::Meta)));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(detail.reason(), ErrorReason::Internal);
        assert!(!status.message().contains("meta"));
    }

    #[test]
    fn state_errors_have_their_own_reasons() {
        for (error, reason) in [
            (Error::Sealed, ErrorReason::Sealed),
            (Error::Uninitialized, ErrorReason::Uninitialized),
            (Error::AlreadyInitialized, ErrorReason::AlreadyInitialized),
            (Error::AlreadyUnsealed, ErrorReason::AlreadyUnsealed),
            (
                shamir::Error::DuplicateIndex { index: 1 }.into(),
                ErrorReason::DuplicateShare,
            ),
            (shamir::Error::WrongKey.into(), ErrorReason::WrongShares),
        ] {
            assert_eq!(round_trip(error).1.reason(), reason);
        }
    }
}
