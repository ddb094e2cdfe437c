//! The PKCS#11 seal's side of the lifecycle: the core unseals itself with the master key its
//! seal HSM opens, and says why when it cannot.
//!
//! The HSM is asked outside every lock (each call bounded in time by the seal's
//! `call_timeout_ms`); only the move from `Sealed` to `Unsealed` takes the lifecycle's write
//! lock, and it does there what a Shamir unseal does: audits the unseal (as `auto-unseal`, by
//! the core itself) and puts every tenant on record in the keyring. The tenants are then
//! re-opened through the tenants' HSM as after a Shamir unseal.

use std::sync::{Arc, MutexGuard, PoisonError};

use super::{Core, blocking};
use crate::caller::Caller;
use crate::error::{Error, ErrorChain};
use crate::installation::SealRecord;
use crate::master_key::MasterKey;
use crate::seal::Lifecycle;

/// What the HSM needs to open the master key: the sealed master key and the installation's
/// key check it is bound to.
type SealedMaster = (Vec<u8>, Vec<u8>);

impl Core {
    /// Has the seal HSM open the master key and unseals with it, then re-opens the linked
    /// tenants. Returns whether this call unsealed the core: `false` when there was nothing to
    /// do (the Shamir seal, not initialized, or not sealed). A failure is kept for `status`
    /// and returned; the core stays sealed.
    pub(crate) async fn auto_unseal(self: &Arc<Self>) -> Result<bool, Error> {
        let Some(seal) = &self.seal else {
            return Ok(false);
        };
        let core = Arc::clone(self);
        let Some((sealed_master, key_check)) = blocking(move || core.sealed_master()).await? else {
            return Ok(false);
        };
        let master = match seal.unwrap(&sealed_master, &key_check).await {
            Ok(master) => master,
            Err(error) => return Err(self.auto_unseal_failed(error)),
        };
        let core = Arc::clone(self);
        let opening = match blocking(move || core.unseal_with(master)).await {
            Ok(Some(opening)) => opening,
            Ok(None) => return Ok(false),
            Err(error) => return Err(self.auto_unseal_failed(error)),
        };
        *self.auto_unseal_error() = None;
        let core = Arc::clone(self);
        // A task of its own, as after a Shamir unseal: nothing cancels the re-open halfway.
        if let Err(join) = tokio::spawn(async move { core.reopen(opening).await }).await {
            tracing::error!(error = %join, "the tenants' re-open task failed");
        }
        self.resume_leader_work();
        Ok(true)
    }

    /// Why the last auto-unseal failed, while sealed on the PKCS#11 seal.
    pub(crate) fn auto_unseal_failure(&self) -> Option<String> {
        self.auto_unseal_error().clone()
    }

    /// The sealed master key and key check, if the core is sealed on the PKCS#11 seal.
    fn sealed_master(&self) -> Result<Option<SealedMaster>, Error> {
        let lifecycle = self.read()?;
        let Lifecycle::Sealed(_) = &*lifecycle else {
            return Ok(None);
        };
        Ok(lifecycle.installation().and_then(|installation| {
            match installation.unverified().seal() {
                SealRecord::Pkcs11 { sealed_master } => Some((
                    sealed_master.clone(),
                    installation.key_check().to_bytes().to_vec(),
                )),
                SealRecord::Shamir => None,
            }
        }))
    }

    /// Unseals with `master` if the core is still sealed: audited, every tenant in the
    /// keyring. Returns the tenants to re-open, or `None` if the core was no longer sealed.
    fn unseal_with(
        &self,
        master: MasterKey,
    ) -> Result<Option<Vec<super::tenants::Opening>>, Error> {
        self.transition(|lifecycle| match lifecycle {
            Lifecycle::Sealed(sealed) => {
                let (next, settled) = self.settle(sealed.auto_unseal(master), &Caller::Core, None);
                (next, settled.map(|(_, opening)| opening))
            }
            other => (other, Ok(None)),
        })
    }

    /// Keeps `error` for `status` and the service manager, and hands it back.
    fn auto_unseal_failed(&self, error: Error) -> Error {
        *self.auto_unseal_error() = Some(ErrorChain(&error).to_string());
        error
    }

    fn auto_unseal_error(&self) -> MutexGuard<'_, Option<String>> {
        // A panic cannot leave the message half-written; it is only a report.
        self.auto_unseal_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
