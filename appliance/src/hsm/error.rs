//! What can go wrong between the core and the customer's HSM.

use std::path::PathBuf;
use std::time::Duration;

use cryptoki::context::Function;
use cryptoki::error::{Error as Pkcs11Error, RvError};

use super::l1::L1Ref;
use super::tenant::TenantId;
use super::wrap::WrappedL2Error;
use krypton_service::secret_file::SecretError;

/// Everything that can go wrong while reaching the HSM or using an L1 key in it.
///
/// The variants fall into groups that call for different answers:
/// - **set-up** (the operator fixes configuration or the HSM): [`ModuleLoad`](Self::ModuleLoad),
///   [`Pin`](Self::Pin), [`TokenNotFound`](Self::TokenNotFound),
///   [`TokenNotUnique`](Self::TokenNotUnique), [`Login`](Self::Login);
/// - **the HSM's health**: [`TokenUnavailable`](Self::TokenUnavailable) and
///   [`LoggedOut`](Self::LoggedOut) (both already retried once on fresh sessions),
///   [`Timeout`](Self::Timeout);
/// - **the customer's L1 key**, which the customer controls and may revoke:
///   [`L1NotFound`](Self::L1NotFound), [`L1NotUnique`](Self::L1NotUnique),
///   [`L1NotAes256`](Self::L1NotAes256), [`L1Refused`](Self::L1Refused);
/// - **the wrapped L2** given to unwrap: [`MalformedWrappedL2`](Self::MalformedWrappedL2) (not
///   a blob this format knows), [`Unauthentic`](Self::Unauthentic) (a well-formed blob that
///   does not open: wrong tenant, wrong L1, or altered);
/// - **the HSM misbehaving**: [`UnexpectedOutput`](Self::UnexpectedOutput), and
///   [`Pkcs11`](Self::Pkcs11) for any other failed call;
/// - **the environment or a bug** in this crate: [`Random`](Self::Random),
///   [`SecretMemory`](Self::SecretMemory), [`Internal`](Self::Internal).
///
/// PKCS#11 failures keep cryptoki's error as their source, which names the call that failed
/// and its return value. No variant carries key material or the PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("cannot load the PKCS#11 module {}", module.display())]
    ModuleLoad {
        /// The module's path.
        module: PathBuf,
        /// The loader's or `C_Initialize`'s error.
        #[source]
        source: Pkcs11Error,
    },

    /// The user PIN could not be read from its configured source.
    #[error("cannot read the HSM user PIN")]
    Pin(#[from] SecretError),

    /// No slot holds a token with the configured label.
    #[error("no HSM token is labelled {label:?}")]
    TokenNotFound {
        /// The configured token label.
        label: String,
    },

    /// Several tokens carry the configured label; guessing one could use the wrong customer's
    /// keys.
    #[error("{count} HSM tokens are labelled {label:?}; the label must name exactly one")]
    TokenNotUnique {
        /// The configured token label.
        label: String,
        /// How many tokens carry it.
        count: usize,
    },

    /// The token refused the user PIN (wrong, locked or expired).
    #[error("login to HSM token {label:?} failed")]
    Login {
        /// The token's label.
        label: String,
        /// `C_Login`'s error.
        #[source]
        source: Pkcs11Error,
    },

    /// The token went away or our sessions on it died (removed, closed behind our back,
    /// logged out), and a retry on fresh sessions did not help.
    #[error("the HSM token is unavailable")]
    TokenUnavailable(#[source] Pkcs11Error),

    /// Our session on the token is no longer logged in (the process was logged out behind the
    /// pool's back), and logging in again on fresh sessions did not help.
    #[error("the HSM session is not logged in")]
    LoggedOut,

    /// The HSM did not answer in time. The call may still be running in the HSM; its session
    /// is discarded when it returns.
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        /// What was waited for.
        operation: &'static str,
        /// The time limit (`call_timeout_ms`).
        after: Duration,
    },

    /// The token holds no AES secret key with this label or id: the customer deleted it, or
    /// it never existed.
    #[error("L1 key {l1} not found in the HSM token")]
    L1NotFound {
        /// The key looked for.
        l1: L1Ref,
    },

    /// Several AES keys match; guessing one could bind a tenant to the wrong key.
    #[error("more than one AES key in the HSM token matches L1 {l1}")]
    L1NotUnique {
        /// The ambiguous reference.
        l1: L1Ref,
    },

    /// The key is an AES key but not a 256-bit one.
    #[error("L1 key {l1} is not an AES-256 key")]
    L1NotAes256 {
        /// The key.
        l1: L1Ref,
    },

    /// The HSM refuses to use the key for this operation: the customer turned off
    /// `CKA_ENCRYPT` or `CKA_DECRYPT`, or the key does not fit the mechanism.
    #[error("L1 key {l1} refuses the operation")]
    L1Refused {
        /// The key.
        l1: L1Ref,
        /// The refusing call and its return value.
        #[source]
        source: Pkcs11Error,
    },

    /// The bytes are not a wrapped L2 in a format this version reads.
    #[error("malformed wrapped L2")]
    MalformedWrappedL2(#[from] WrappedL2Error),

    /// The wrapped L2 does not authenticate under this L1 for this tenant: it belongs to
    /// another tenant or another L1 key, or it was altered.
    #[error("the wrapped L2 does not open under L1 {l1} for tenant {tenant}")]
    Unauthentic {
        /// The key it was tried under.
        l1: L1Ref,
        /// The tenant it was tried for.
        tenant: TenantId,
        /// `C_Decrypt`'s error as the HSM reported it.
        #[source]
        source: Pkcs11Error,
    },

    /// The sealed master key does not open under the seal key for this installation: it was
    /// sealed under another key or for another installation, or it was altered.
    #[error("the sealed master key does not open under seal key {key}")]
    MasterUnauthentic {
        /// The seal key it was tried under.
        key: L1Ref,
        /// `C_Decrypt`'s error as the HSM reported it.
        #[source]
        source: Pkcs11Error,
    },

    /// A call succeeded but returned output of the wrong size.
    #[error("{operation} returned {len} bytes, expected {expected}")]
    UnexpectedOutput {
        /// The operation.
        operation: &'static str,
        /// The length returned.
        len: usize,
        /// The length the mechanism defines.
        expected: usize,
    },

    /// Any other PKCS#11 failure.
    #[error("PKCS#11 call failed")]
    Pkcs11(#[source] Pkcs11Error),

    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random(#[source] aws_lc_rs::error::Unspecified),

    /// Guarded memory for the unwrapped L2 could not be allocated or protected.
    #[error("guarded key memory")]
    SecretMemory(#[from] crate::secret::SecretError),

    /// A bug: a blocking worker panicked, or the session pool was shut while in use.
    #[error("internal error in the HSM client")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A tenant id or L1 reference outside its allowed form.
#[derive(Debug, thiserror::Error)]
#[error("{what} must be {rule}")]
pub struct InvalidIdentifier {
    /// Which kind of identifier.
    pub(super) what: &'static str,
    /// The form it must have.
    pub(super) rule: &'static str,
}

impl HsmError {
    /// Whether the token or our sessions on it went away. The pool then starts afresh, and
    /// the operation is worth exactly one retry.
    pub(super) fn is_token_unavailable(&self) -> bool {
        matches!(self, Self::TokenUnavailable(_) | Self::LoggedOut)
    }

    /// Classifies a failed call that uses no key: slot lookup, session open, object search.
    pub(super) fn from_call(source: Pkcs11Error) -> Self {
        if is_session_fault(&source) {
            Self::TokenUnavailable(source)
        } else {
            Self::Pkcs11(source)
        }
    }

    /// Classifies a failed `C_Login`.
    pub(super) fn from_login(label: &str, source: Pkcs11Error) -> Self {
        use RvError as R;
        match return_value(&source) {
            Some(
                R::PinIncorrect | R::PinInvalid | R::PinLenRange | R::PinExpired | R::PinLocked,
            ) => Self::Login {
                label: label.to_owned(),
                source,
            },
            _ => Self::from_call(source),
        }
    }

    /// Classifies a failed encryption or decryption under the L1 key `l1` for `tenant`.
    pub(super) fn from_key_call(source: Pkcs11Error, l1: &L1Ref, tenant: &TenantId) -> Self {
        Self::from_any_key_call(source, l1, |source| Self::Unauthentic {
            l1: l1.clone(),
            tenant: tenant.clone(),
            source,
        })
    }

    /// Classifies a failed encryption or decryption of the master key under the seal key.
    pub(super) fn from_seal_call(source: Pkcs11Error, key: &L1Ref) -> Self {
        Self::from_any_key_call(source, key, |source| Self::MasterUnauthentic {
            key: key.clone(),
            source,
        })
    }

    /// Classifies a failed call under `l1`; a tag that does not verify is `unauthentic`.
    fn from_any_key_call(
        source: Pkcs11Error,
        l1: &L1Ref,
        unauthentic: impl FnOnce(Pkcs11Error) -> Self,
    ) -> Self {
        use RvError as R;
        match return_value(&source) {
            // The handle no longer names an object: the key was deleted since it was found.
            Some(R::KeyHandleInvalid | R::ObjectHandleInvalid) => {
                Self::L1NotFound { l1: l1.clone() }
            }
            Some(R::KeyFunctionNotPermitted | R::KeyTypeInconsistent) => Self::L1Refused {
                l1: l1.clone(),
                source,
            },
            _ if is_failed_authentication(&source) => unauthentic(source),
            _ => Self::from_call(source),
        }
    }
}

fn return_value(error: &Pkcs11Error) -> Option<RvError> {
    match error {
        Pkcs11Error::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// Whether a failed decryption means the GCM tag did not verify. PKCS#11 says
/// `CKR_ENCRYPTED_DATA_INVALID`; SoftHSM2 (2.6) answers `CKR_GENERAL_ERROR` from `C_Decrypt`
/// itself, once `C_DecryptInit` has accepted key and mechanism, so that counts as well.
fn is_failed_authentication(error: &Pkcs11Error) -> bool {
    use RvError as R;
    matches!(
        error,
        Pkcs11Error::Pkcs11(R::EncryptedDataInvalid | R::EncryptedDataLenRange, _)
            | Pkcs11Error::Pkcs11(R::GeneralError, Function::Decrypt)
    )
}

/// Return values that say our sessions, our login or the token itself are gone, rather than
/// anything about the request: fresh sessions on a re-found token may succeed.
fn is_session_fault(error: &Pkcs11Error) -> bool {
    use RvError as R;
    matches!(
        return_value(error),
        Some(
            R::SessionHandleInvalid
                | R::SessionClosed
                | R::DeviceRemoved
                | R::DeviceError
                | R::TokenNotPresent
                | R::TokenNotRecognized
                | R::UserNotLoggedIn
                | R::SlotIdInvalid
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(rv: RvError, call: Function) -> Pkcs11Error {
        Pkcs11Error::Pkcs11(rv, call)
    }

    #[test]
    fn key_call_failures_are_classified() {
        let l1 = L1Ref::label("customer-root").unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let classify =
            |rv| HsmError::from_key_call(failed(rv, Function::DecryptInit), &l1, &tenant);
        assert!(matches!(
            classify(RvError::KeyHandleInvalid),
            HsmError::L1NotFound { .. }
        ));
        assert!(matches!(
            classify(RvError::KeyFunctionNotPermitted),
            HsmError::L1Refused { .. }
        ));
        assert!(matches!(
            classify(RvError::EncryptedDataInvalid),
            HsmError::Unauthentic { .. }
        ));
        // SoftHSM2's tag mismatch, from C_Decrypt only.
        let decrypt = HsmError::from_key_call(
            failed(RvError::GeneralError, Function::Decrypt),
            &l1,
            &tenant,
        );
        assert!(matches!(decrypt, HsmError::Unauthentic { .. }));
        assert!(classify(RvError::SessionHandleInvalid).is_token_unavailable());
        assert!(classify(RvError::DeviceRemoved).is_token_unavailable());
        assert!(matches!(
            classify(RvError::GeneralError),
            HsmError::Pkcs11(_)
        ));
    }

    #[test]
    fn login_failures_are_classified() {
        let login = |rv| HsmError::from_login("tok", failed(rv, Function::Login));
        assert!(matches!(
            login(RvError::PinIncorrect),
            HsmError::Login { .. }
        ));
        assert!(matches!(login(RvError::PinLocked), HsmError::Login { .. }));
        assert!(login(RvError::TokenNotPresent).is_token_unavailable());
    }

    #[test]
    fn refusal_keeps_the_failed_call() {
        let l1 = L1Ref::label("k").unwrap();
        let tenant = TenantId::new("t").unwrap();
        let error = HsmError::from_key_call(
            failed(RvError::KeyFunctionNotPermitted, Function::DecryptInit),
            &l1,
            &tenant,
        );
        let source = std::error::Error::source(&error).unwrap().to_string();
        assert!(source.contains("DecryptInit"), "{source}");
    }
}
