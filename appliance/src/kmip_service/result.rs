//! The one place where an error of the core becomes a KMIP Result Reason and Result Message.
//!
//! Faults of the request, of the caller's rights or of a tenant's keys are described to the
//! gateway; faults inside the core are logged in full here and reported only as a general
//! failure, so a client learns nothing of the core's insides.

use kmip::ResultReason;

use crate::error::{Error, ErrorChain};

/// The Result Reason and Result Message that answer `error`.
pub(crate) fn result_of(error: &Error) -> (ResultReason, String) {
    let described = |reason| (reason, ErrorChain(error).to_string());
    match error {
        Error::Sealed => (
            ResultReason::GeneralFailure,
            "krypton-core is sealed".into(),
        ),
        Error::Uninitialized => (
            ResultReason::GeneralFailure,
            "krypton-core is not initialized".into(),
        ),
        Error::Kmip(source) => described(source.result_reason()),
        Error::InvalidRequest(_) | Error::InvalidName(_) | Error::MalformedWrappedKey(_) => {
            described(ResultReason::InvalidField)
        }
        Error::UnknownGateway(_)
        | Error::GatewayOwnsNoObjects(_)
        | Error::TenantNotPermitted { .. }
        | Error::TenantUnavailable { .. }
        | Error::TenantNotFound(_) => described(ResultReason::PermissionDenied),
        Error::ServiceNotFound { .. } | Error::ObjectNotFound(_) => {
            described(ResultReason::ItemNotFound)
        }
        Error::OperationNotSupported(_) => described(ResultReason::OperationNotSupported),
        Error::Refused(refusal) => (refusal.reason, refusal.message.to_string()),
        Error::UnauthenticWrappedKey => described(ResultReason::CryptographicFailure),
        Error::Shredded(_) => described(ResultReason::ObjectDestroyed),
        // Control-side refusals cannot come from a KMIP request; and the core's own faults.
        // Either way the client learns only that the core failed: the log has the rest.
        Error::AlreadyInitialized
        | Error::AlreadyUnsealed
        | Error::InvalidSplit(_)
        | Error::OutOfRange { .. }
        | Error::PermissionDenied { .. }
        | Error::TenantLinked(_)
        | Error::L1Mismatch { .. }
        | Error::ServiceExists { .. }
        | Error::HsmNotConfigured
        | Error::Hsm(_)
        | Error::ShareRefused(_)
        | Error::WrongShares(_)
        | Error::RecoveryShare
        | Error::NoRekeyPending
        | Error::SealNotConfigured
        | Error::InvalidBackup(_)
        | Error::SealMismatch { .. }
        | Error::CorruptObject(_)
        | Error::TamperedRecord { .. }
        | Error::Store { .. }
        | Error::Io { .. }
        | Error::SecretMemory(_)
        | Error::Random(_)
        | Error::Internal(_) => {
            tracing::error!(error = %ErrorChain(error), "KMIP request failed inside the core");
            (
                ResultReason::GeneralFailure,
                "internal error in krypton-core; see its log".into(),
            )
        }
    }
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
            result_of(&Error::Sealed),
            (
                ResultReason::GeneralFailure,
                "krypton-core is sealed".into()
            )
        );
        let (reason, message) = result_of(&Error::TenantUnavailable {
            tenant,
            reason: "it is unlinked".into(),
        });
        assert_eq!(reason, ResultReason::PermissionDenied);
        assert_eq!(message, "tenant acme is unavailable: it is unlinked");
        let (reason, _) = result_of(&Error::OperationNotSupported(kmip::Operation::Rekey));
        assert_eq!(reason, ResultReason::OperationNotSupported);
        let (reason, message) = result_of(&Error::Internal(Bug::Aead));
        assert_eq!(reason, ResultReason::GeneralFailure);
        assert!(!message.contains("AES"), "{message}");
    }
}
