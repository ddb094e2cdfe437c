//! The core's KMIP object registry: the objects applications register through a gateway, kept
//! in the core's own database, each visible only to its owner.
//!
//! The gateway forwards an application's control-path operations here with the application's
//! identity (a Delegated credential the KMIP service checks): Register, Locate, Get, Get
//! Attributes, Get Attribute List, Activate, Revoke, Destroy, Check, and the attribute edits.
//! The KMIP rules — lifecycle states, which attributes the server manages, edits, Locate
//! matching, refusals — are the shared ones of [`kmip::objects`], the same the gateway applies
//! to its own keys.
//!
//! Every object belongs to an [`Owner`], a (tenant, identity) pair; records are keyed by owner
//! first (see [`record`]), so an owner reaches only its own objects and another's are Item Not
//! Found, never the object. Records are sealed by the [`Store`] under the owner's *tenant's*
//! registry key, derived from the tenant's L2 (see [`crate::hierarchy::RegistryKeys`]): the
//! master key alone (K shares without the customer's HSM) opens none of them, and while the
//! tenant is unlinked or its L1 is gone the core has no key to open them with. Key material is
//! held in wiped memory ([`kmip::SecretBytes`]) and returned only by Get. Destroy drops the
//! material and keeps the metadata; destroying the tenant deletes its objects ([`forget`]).
//!
//! Edits of an existing object are read-modify-write: they are serialised by one lock, so two
//! concurrent requests on an object never lose each other's change. The control path is not
//! the hot path (wrap/unwrap is), so one lock costs nothing that matters.

mod operations;
mod record;
mod register;
mod tenancy;
#[cfg(test)]
mod tests;

use std::sync::{Mutex, MutexGuard, PoisonError};

use kmip::objects::{AttributeLimits, Refusal};
use kmip::{DateTime, ProtocolVersion, RequestPayload, ResponsePayload, ResultReason};

use crate::error::{Error, RequestError};
use crate::store::{SealingKeys, Store};

pub(crate) use tenancy::{forget, migrate_legacy, reseal};

/// Who an object belongs to: the application's identity within its tenant, as the gateway
/// conveyed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Owner {
    pub(crate) tenant: String,
    pub(crate) identity: String,
}

/// The bounds of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegistryLimits {
    /// Client attributes per object: count and encoded bytes.
    pub(crate) attributes: AttributeLimits,
    /// The largest key material or secret one object may hold.
    pub(crate) max_object_bytes: usize,
    /// The most objects one Locate returns, and counts in Located Items.
    pub(crate) max_locate_items: usize,
    /// The longest tenant or identity name an owner may have.
    pub(crate) max_owner_name: usize,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        Self {
            attributes: AttributeLimits::default(),
            max_object_bytes: 64 * 1024,
            max_locate_items: 10_000,
            max_owner_name: 1024,
        }
    }
}

/// Serialises the edits of existing objects. Lives as long as the store; the registry borrows
/// it.
#[derive(Debug, Default)]
pub(crate) struct EditLock(Mutex<()>);

impl EditLock {
    fn hold(&self) -> MutexGuard<'_, ()> {
        // The lock guards no data, only the order of writes: a panic while it was held left
        // nothing half-changed in memory, and a write either committed or did not.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why an operation on the registry failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RegistryError {
    /// KMIP refuses the request: the caller's input, the object's state, or a limit.
    #[error("refused ({:?}): {}", .0.reason, .0.message)]
    Refused(Refusal),

    /// The database failed, or a stored record did not open.
    #[error("the object registry's storage failed")]
    Store(#[source] Error),

    /// A stored object authenticated but holds a value this version does not know: written
    /// by a newer version.
    #[error("stored object {id:?} holds a value this version of krypton-core does not know")]
    Corrupt {
        /// The object's identifier.
        id: String,
    },
}

impl From<Refusal> for RegistryError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<Error> for RegistryError {
    fn from(error: Error) -> Self {
        Self::Store(error)
    }
}

impl From<RegistryError> for RequestError {
    /// Into the KMIP request's error, which `kmip_service::result` maps to the wire.
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Refused(refusal) => Self::Refused(refusal),
            RegistryError::Store(error) => Self::Core(error),
            RegistryError::Corrupt { id } => Self::CorruptObject(id),
        }
    }
}

/// The registry over the core's store, for one unsealed period: records are sealed under
/// `record_key`.
pub(crate) struct Registry<'a> {
    store: &'a Store,
    record_key: &'a dyn SealingKeys,
    edits: &'a EditLock,
    limits: RegistryLimits,
}

impl std::fmt::Debug for Registry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<'a> Registry<'a> {
    /// The registry in `store`, sealing under `record_key`, with edits ordered by `edits`.
    pub(crate) fn new(
        store: &'a Store,
        record_key: &'a dyn SealingKeys,
        edits: &'a EditLock,
        limits: RegistryLimits,
    ) -> Self {
        Self {
            store,
            record_key,
            edits,
            limits,
        }
    }

    /// Answers one control-path request of `owner`, made in `version` at `now`. Blocks on
    /// disk; async callers run it on the blocking pool.
    ///
    /// The request must name its object by a text Unique Identifier: the KMIP service resolves
    /// ID placeholders of a batch before calling.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Refused`] with the KMIP Result Reason; [`RegistryError::Store`] when
    /// storage failed. Its conversion into a `RequestError` turns either into the client's answer.
    pub(crate) fn answer(
        &self,
        owner: &Owner,
        version: ProtocolVersion,
        now: DateTime,
        payload: RequestPayload,
    ) -> Result<ResponsePayload, RegistryError> {
        self.check_owner(owner)?;
        operations::answer(self, owner, version, now, payload)
    }

    fn check_owner(&self, owner: &Owner) -> Result<(), Refusal> {
        let max = self.limits.max_owner_name;
        if owner.tenant.len() > max || owner.identity.len() > max {
            return Err(Refusal::new(
                ResultReason::PermissionDenied,
                format!("tenant and identity names are at most {max} bytes"),
            ));
        }
        Ok(())
    }
}
