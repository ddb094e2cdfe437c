//! Probing a tenant's L1: does the HSM still open the tenant's stored wrapped L2, to the L2 the
//! core holds?
//!
//! The customer can revoke Krypton at any time, in the HSM, without telling the core: delete the
//! L1, turn its `CKA_DECRYPT` off, or replace it. A probe notices by doing what the core would do
//! at the next unseal, one `C_Decrypt` of the stored wrapped L2 ([`Hsm::probe_l1`]), and then
//! comparing the result with the L2 in memory in constant time ([`L1Answer::verdict`]). Its
//! [`Probe`] verdict tells a definitive answer from the HSM ([`Refusal`]: the L1 is gone or
//! refuses, now and until the customer acts) apart from no answer ([`Outage`]: the token, module
//! or device is away, or too slow), because the core fails a tenant closed at once on the first
//! and only after a grace on the second. The one place that judges an [`HsmError`] either way is
//! [`verdict_of`].
//!
//! A probe runs as any HSM call: on a pooled session, on a blocking thread, and it holds no lock
//! of the caller's. Each wait (for a free session, for the call) is bounded by `call_timeout_ms`,
//! and only a token that went away is retried once, so a probe returns within four call
//! timeouts however the HSM behaves. A remembered L1 handle is used only while it works: a
//! deleted key fails with an invalid handle, and the fresh lookup that follows then finds
//! nothing ([`HsmError::L1NotFound`]).

use std::fmt;

use super::Hsm;
use super::error::HsmError;
use super::l1::{L1Ref, Lookup};
use super::tenant::TenantId;
use super::wrap::WrappedL2;
use crate::error::ErrorChain;
use crate::secret::SecretKey;

/// What one probe of a tenant's L1 found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The HSM opened the stored wrapped L2 under the L1, to the L2 in memory.
    Alive,
    /// The HSM answered, and the answer means the L1 no longer serves this tenant.
    Refused(Refusal),
    /// The HSM gave no usable answer; it may come back.
    Unreachable(Outage),
}

/// Why the HSM's answer means the tenant's L1 is revoked. Names no key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The token holds no AES key the L1 reference names: the customer deleted it.
    L1NotFound,
    /// Several AES keys match the L1 reference; the core does not guess between them.
    L1Ambiguous,
    /// The key the reference names is not an AES-256 key: not the L1 the tenant was linked to.
    L1NotAes256,
    /// The HSM refuses to decrypt with the L1: its usage (`CKA_DECRYPT`) was turned off.
    L1NotPermitted,
    /// The token refuses the core's login: the user PIN was changed, locked or expired.
    LoginRefused,
    /// The stored wrapped L2 does not open under the key the reference names: another key, or
    /// an altered blob.
    WrappedL2Refused,
    /// The wrapped L2 opens, but to another L2 than the one the core holds.
    L2Differs,
}

/// Why the HSM gave no usable answer. Names no key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outage {
    /// The PKCS#11 module, its token or its device is gone, or our sessions died and fresh
    /// ones could not be opened.
    TokenUnavailable,
    /// The HSM did not answer within the call timeout.
    TimedOut,
    /// A call failed with an error that says nothing about the L1, or returned nonsense.
    HsmFault,
    /// The core itself could not run the probe (guarded memory, a worker thread).
    CoreFault,
}

impl Hsm {
    /// Asks the HSM to open `wrapped`, the stored wrapped L2 of `tenant`, under `l1`: the first
    /// half of a probe, whose answer [`L1Answer::verdict`] judges.
    ///
    /// The L2 in memory is not needed while the HSM works, so a caller holds nothing of the
    /// tenant's across the wait: a tenant unlinked meanwhile has its keys wiped at once, and
    /// the caller drops the answer (the opened copy is wiped with it). Every wait is bounded by
    /// the call timeout, so a probe of an HSM that hangs comes back unreachable instead of
    /// waiting for it.
    pub async fn probe_l1(&self, l1: &L1Ref, tenant: &TenantId, wrapped: &WrappedL2) -> L1Answer {
        L1Answer {
            opened: self.unwrap_l2(l1, tenant, wrapped).await,
            l1: l1.clone(),
            tenant: tenant.clone(),
        }
    }

    /// Whether the token answers at all: one call on a pooled session (a new one logs in),
    /// bounded as every call. For a check that needs no L1 (the core sealed).
    pub(crate) async fn check_token(&self) -> Result<(), HsmError> {
        self.pool
            .run("checking the HSM token", |lease| {
                lease
                    .session()
                    .get_session_info()
                    .map(drop)
                    .map_err(HsmError::from_call)
            })
            .await
    }

    /// Whether the token holds the one AES-256 key `key` names, looked up afresh.
    pub(crate) async fn check_key(&self, key: &L1Ref) -> Result<(), HsmError> {
        self.with_l1(key, Lookup::Fresh, "finding a key", |_, _| Ok(()))
            .await
    }
}

/// What the HSM answered to a probe of a tenant's L1: the L2 it opened (in guarded memory,
/// wiped on drop), or why it did not.
#[derive(Debug)]
#[must_use = "a probe tells nothing until its verdict is taken"]
pub struct L1Answer {
    l1: L1Ref,
    tenant: TenantId,
    opened: Result<SecretKey, HsmError>,
}

impl L1Answer {
    /// The verdict, given `expected`, the L2 the core holds for the tenant, compared in
    /// constant time with the one the HSM opened.
    ///
    /// A refusal is logged with the HSM's error; an outage only at debug level, since the pool
    /// already warns when sessions are lost or calls overrun.
    pub fn verdict(self, expected: &SecretKey) -> Probe {
        let Self { l1, tenant, opened } = self;
        let error = match opened {
            Ok(l2) if l2.same_as(expected) => return Probe::Alive,
            Ok(_) => {
                tracing::warn!(%tenant, %l1, "the HSM opened the wrapped L2 to another L2");
                return Probe::Refused(Refusal::L2Differs);
            }
            Err(error) => error,
        };
        let verdict = verdict_of(&error);
        match verdict {
            Probe::Refused(reason) => tracing::warn!(
                %tenant, %l1, %reason, error = %ErrorChain(&error), "the HSM refused the L1"
            ),
            Probe::Unreachable(reason) => tracing::debug!(
                %tenant, %l1, %reason, error = %ErrorChain(&error), "the HSM did not answer for the L1"
            ),
            Probe::Alive => {}
        }
        verdict
    }
}

/// The verdict a failed probe stands for: the one place where an [`HsmError`] is judged
/// definitive or not.
fn verdict_of(error: &HsmError) -> Probe {
    use HsmError as E;
    match error {
        E::L1NotFound { .. } => Probe::Refused(Refusal::L1NotFound),
        E::L1NotUnique { .. } => Probe::Refused(Refusal::L1Ambiguous),
        E::L1NotAes256 { .. } => Probe::Refused(Refusal::L1NotAes256),
        E::L1Refused { .. } => Probe::Refused(Refusal::L1NotPermitted),
        E::Login { .. } => Probe::Refused(Refusal::LoginRefused),
        // A stored blob that does not parse can never open again either.
        E::Unauthentic { .. } | E::MasterUnauthentic { .. } | E::MalformedWrappedL2(_) => {
            Probe::Refused(Refusal::WrappedL2Refused)
        }
        // The token may be re-inserted, re-labelled or reached again.
        E::ModuleLoad { .. }
        | E::TokenNotFound { .. }
        | E::TokenNotUnique { .. }
        | E::TokenUnavailable(_)
        | E::LoggedOut => Probe::Unreachable(Outage::TokenUnavailable),
        E::Timeout { .. } => Probe::Unreachable(Outage::TimedOut),
        E::Pkcs11(_) | E::UnexpectedOutput { .. } => Probe::Unreachable(Outage::HsmFault),
        E::Pin(_) | E::Random(_) | E::SecretMemory(_) | E::Internal(_) => {
            Probe::Unreachable(Outage::CoreFault)
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Alive => f.write_str("alive"),
            Self::Refused(reason) => write!(f, "refused: {reason}"),
            Self::Unreachable(reason) => write!(f, "unreachable: {reason}"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::L1NotFound => "the L1 key is not in the HSM token",
            Self::L1Ambiguous => "more than one key in the HSM token matches the L1",
            Self::L1NotAes256 => "the key named as L1 is not an AES-256 key",
            Self::L1NotPermitted => "the HSM does not permit decryption with the L1 key",
            Self::LoginRefused => "the HSM token refuses the user PIN",
            Self::WrappedL2Refused => "the stored wrapped L2 does not open under the L1 key",
            Self::L2Differs => "the L1 opens the stored wrapped L2 to another L2",
        })
    }
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TokenUnavailable => "the HSM token is unavailable",
            Self::TimedOut => "the HSM did not answer in time",
            Self::HsmFault => "the HSM failed the call",
            Self::CoreFault => "the core could not run the probe",
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cryptoki::context::Function;
    use cryptoki::error::{Error as Pkcs11Error, RvError};

    use super::*;
    use crate::hsm::wrap::WrappedL2Error;
    use crate::secret::{SecretError, WhenIdle};
    use krypton_service::secret_file::SecretError as SecretFileError;

    fn failed(rv: RvError, call: Function) -> Pkcs11Error {
        Pkcs11Error::Pkcs11(rv, call)
    }

    /// What the HSM answers to a decryption under the L1, as the probe judges it.
    fn decrypt_verdict(rv: RvError, call: Function) -> Probe {
        let l1 = L1Ref::label("customer-root").unwrap();
        let tenant = TenantId::new("acme").unwrap();
        verdict_of(&HsmError::from_key_call(failed(rv, call), &l1, &tenant))
    }

    #[test]
    fn definitive_answers_of_the_hsm_are_refusals() {
        use Function::{Decrypt, DecryptInit};
        for (rv, call, reason) in [
            (RvError::KeyHandleInvalid, DecryptInit, Refusal::L1NotFound),
            (
                RvError::ObjectHandleInvalid,
                DecryptInit,
                Refusal::L1NotFound,
            ),
            (
                RvError::KeyFunctionNotPermitted,
                DecryptInit,
                Refusal::L1NotPermitted,
            ),
            (
                RvError::KeyTypeInconsistent,
                DecryptInit,
                Refusal::L1NotPermitted,
            ),
            (
                RvError::EncryptedDataInvalid,
                Decrypt,
                Refusal::WrappedL2Refused,
            ),
            // SoftHSM2's answer to a GCM tag that does not verify.
            (RvError::GeneralError, Decrypt, Refusal::WrappedL2Refused),
        ] {
            assert_eq!(decrypt_verdict(rv, call), Probe::Refused(reason), "{rv:?}");
        }
        let l1 = L1Ref::label("k").unwrap();
        for (error, reason) in [
            (HsmError::L1NotFound { l1: l1.clone() }, Refusal::L1NotFound),
            (
                HsmError::L1NotUnique { l1: l1.clone() },
                Refusal::L1Ambiguous,
            ),
            (HsmError::L1NotAes256 { l1 }, Refusal::L1NotAes256),
            (
                HsmError::from_login("tok", failed(RvError::PinIncorrect, Function::Login)),
                Refusal::LoginRefused,
            ),
            (
                HsmError::MalformedWrappedL2(WrappedL2Error::Truncated { len: 3 }),
                Refusal::WrappedL2Refused,
            ),
        ] {
            assert_eq!(verdict_of(&error), Probe::Refused(reason), "{error}");
        }
    }

    #[test]
    fn no_answer_is_an_outage() {
        use Function::{Decrypt, DecryptInit};
        for (rv, call, reason) in [
            (
                RvError::DeviceRemoved,
                DecryptInit,
                Outage::TokenUnavailable,
            ),
            // What p11-kit's client module answers once its server is gone.
            (RvError::DeviceError, Decrypt, Outage::TokenUnavailable),
            (
                RvError::SessionHandleInvalid,
                DecryptInit,
                Outage::TokenUnavailable,
            ),
            (
                RvError::TokenNotPresent,
                DecryptInit,
                Outage::TokenUnavailable,
            ),
            // A general error before the tag is checked says nothing about the key.
            (RvError::GeneralError, DecryptInit, Outage::HsmFault),
            (RvError::DeviceMemory, Decrypt, Outage::HsmFault),
        ] {
            assert_eq!(
                decrypt_verdict(rv, call),
                Probe::Unreachable(reason),
                "{rv:?}"
            );
        }
        let pkcs11 = || failed(RvError::DeviceError, Function::Initialize);
        for (error, reason) in [
            (
                HsmError::ModuleLoad {
                    module: "/m.so".into(),
                    source: pkcs11(),
                },
                Outage::TokenUnavailable,
            ),
            (
                HsmError::TokenNotFound { label: "t".into() },
                Outage::TokenUnavailable,
            ),
            (
                HsmError::TokenNotUnique {
                    label: "t".into(),
                    count: 2,
                },
                Outage::TokenUnavailable,
            ),
            (HsmError::LoggedOut, Outage::TokenUnavailable),
            (
                HsmError::Timeout {
                    operation: "unwrapping an L2",
                    after: Duration::from_secs(5),
                },
                Outage::TimedOut,
            ),
            (
                HsmError::UnexpectedOutput {
                    operation: "C_Decrypt",
                    len: 31,
                    expected: 32,
                },
                Outage::HsmFault,
            ),
            (
                HsmError::Pin(SecretFileError::NotAFile { path: "/p".into() }),
                Outage::CoreFault,
            ),
            (
                HsmError::Random(aws_lc_rs::error::Unspecified),
                Outage::CoreFault,
            ),
            (
                HsmError::SecretMemory(SecretError::Allocation),
                Outage::CoreFault,
            ),
            (HsmError::Internal("worker bug".into()), Outage::CoreFault),
        ] {
            assert_eq!(verdict_of(&error), Probe::Unreachable(reason), "{error}");
        }
    }

    #[test]
    fn keys_are_compared_whole() {
        let key = |byte: u8| {
            SecretKey::from_fn(WhenIdle::NoAccess, |k| {
                *k = [byte; 32];
                Ok::<_, SecretError>(())
            })
            .unwrap()
        };
        assert!(key(7).same_as(&key(7)));
        assert!(!key(7).same_as(&key(8)));
        let mut last_differs = [7u8; 32];
        last_differs[31] = 8;
        let other = SecretKey::from_fn(WhenIdle::ReadOnly, |k| {
            *k = last_differs;
            Ok::<_, SecretError>(())
        })
        .unwrap();
        assert!(!key(7).same_as(&other));
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(Probe::Alive.to_string(), "alive");
        assert_eq!(
            Probe::Refused(Refusal::L1NotFound).to_string(),
            "refused: the L1 key is not in the HSM token"
        );
        assert_eq!(
            Probe::Unreachable(Outage::TimedOut).to_string(),
            "unreachable: the HSM did not answer in time"
        );
    }
}
