//! The one place where an error of a KMIP request becomes a KMIP Result Reason and Result
//! Message.
//!
//! Faults of the request, of the caller's rights or of a tenant's keys are described to the
//! gateway; faults inside the core are logged in full here and reported only as a general
//! failure, so a client learns nothing of the core's insides.

use kmip::ResultReason;
use kmip::objects::FOLLOWING_CORE;

use crate::error::{Error, ErrorChain, RequestError};
use crate::store::StoreError;

/// The Result Reason and Result Message that answer `error`.
pub(crate) fn result_of(error: &RequestError) -> (ResultReason, String) {
    let described = |reason| (reason, ErrorChain(error).to_string());
    match error {
        RequestError::InvalidRequest(_) | RequestError::MalformedWrappedKey(_) => {
            described(ResultReason::InvalidField)
        }
        RequestError::UnknownGateway(_)
        | RequestError::GatewayOwnsNoObjects(_)
        | RequestError::TenantNotPermitted { .. } => described(ResultReason::PermissionDenied),
        RequestError::ObjectNotFound(_) => described(ResultReason::ItemNotFound),
        RequestError::Refused(refusal) => (refusal.reason, refusal.message.to_string()),
        RequestError::UnauthenticWrappedKey => described(ResultReason::CryptographicFailure),
        RequestError::Shredded(_) => described(ResultReason::ObjectDestroyed),
        RequestError::VersionClosed { .. } => described(ResultReason::WrongKeyLifecycleState),
        RequestError::AuditUnavailable => described(ResultReason::GeneralFailure),
        RequestError::CorruptObject(_) => internal(error),
        RequestError::Core(core) => core_result(core).unwrap_or_else(|| internal(error)),
    }
}

/// The answer to a failure of the core beneath a request, or `None` when it is the core's own
/// fault (or a control-side refusal no KMIP request can cause), which the client only learns
/// was internal.
fn core_result(error: &Error) -> Option<(ResultReason, String)> {
    let described = |reason| Some((reason, ErrorChain(error).to_string()));
    match error {
        Error::Sealed => Some((
            ResultReason::GeneralFailure,
            "krypton-core is sealed".into(),
        )),
        // A gateway sends the request on to another core when it reads this message.
        Error::Following
        | Error::Store {
            source: StoreError::Following,
            ..
        } => Some((ResultReason::GeneralFailure, FOLLOWING_CORE.into())),
        Error::Uninitialized => Some((
            ResultReason::GeneralFailure,
            "krypton-core is not initialized".into(),
        )),
        Error::InvalidName(_) => described(ResultReason::InvalidField),
        Error::TenantUnavailable { .. } | Error::TenantNotFound(_) => {
            described(ResultReason::PermissionDenied)
        }
        Error::ServiceNotFound { .. } => described(ResultReason::ItemNotFound),
        Error::AlreadyInitialized
        | Error::AlreadyUnsealed
        | Error::InvalidSplit(_)
        | Error::OutOfRange { .. }
        | Error::PermissionDenied { .. }
        | Error::TenantLinked(_)
        | Error::L1Mismatch { .. }
        | Error::ServiceExists { .. }
        | Error::VersionNotFound { .. }
        | Error::VersionChangeRefused { .. }
        | Error::HsmNotConfigured
        | Error::Hsm(_)
        | Error::ShareRefused { .. }
        | Error::WrongShares(_)
        | Error::RecoveryShare
        | Error::NoRekeyPending
        | Error::MasterKeyRetiring { .. }
        | Error::StaleGeneration { .. }
        | Error::SealNotConfigured
        | Error::InvalidBackup(_)
        | Error::BackupOnPostgres
        | Error::SealMismatch { .. }
        | Error::TamperedRecord { .. }
        | Error::Store { .. }
        | Error::Io { .. }
        | Error::SecretMemory(_)
        | Error::Random(_)
        | Error::Internal(_) => None,
    }
}

fn internal(error: &RequestError) -> (ResultReason, String) {
    tracing::error!(error = %ErrorChain(error), "KMIP request failed inside the core");
    (
        ResultReason::GeneralFailure,
        "internal error in krypton-core; see its log".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Bug;
    use crate::hsm::TenantId;

    #[test]
    fn the_contracts_refusals() {
        let tenant = TenantId::new("acme").unwrap();
        assert_eq!(
            result_of(&Error::Sealed.into()),
            (
                ResultReason::GeneralFailure,
                "krypton-core is sealed".into()
            )
        );
        let (reason, message) = result_of(
            &Error::TenantUnavailable {
                tenant,
                reason: "it is unlinked".into(),
            }
            .into(),
        );
        assert_eq!(reason, ResultReason::PermissionDenied);
        assert_eq!(message, "tenant acme is unavailable: it is unlinked");
        let (reason, _) = result_of(&RequestError::Shredded("l4/acme/db/00".into()));
        assert_eq!(reason, ResultReason::ObjectDestroyed);
        let (reason, message) = result_of(&Bug::Aead.into());
        assert_eq!(reason, ResultReason::GeneralFailure);
        assert!(!message.contains("AES"), "{message}");
        // A follower's refusal, whether the core or its store refused the change.
        for following in [
            Error::Following,
            Error::Store {
                context: "writing",
                source: StoreError::Following,
            },
        ] {
            assert_eq!(
                result_of(&following.into()),
                (ResultReason::GeneralFailure, FOLLOWING_CORE.into())
            );
        }
        let (reason, message) = result_of(&RequestError::CorruptObject("7".into()));
        assert_eq!(reason, ResultReason::GeneralFailure);
        assert!(!message.contains('7'), "{message}");
    }
}
