//! The tenants' keys in memory: each tenant's L2 and its services' L3 versions, in guarded
//! memory, or the reason a tenant has none.
//!
//! The keyring belongs to the unsealed state (see [`crate::seal::Unsealed`]): seal closes it,
//! which drops, and so wipes, every key at once, and a closed keyring takes no new keys, so a
//! re-open still running when the core is sealed cannot bring keys back. Replacing a tenant's
//! state drops its old keys under the write lock: once [`Keyring::set`] returns, no wrap or
//! unwrap can use them. That is the kill switch.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::Error;
use crate::hsm::TenantId;
use crate::secret::SecretKey;

use super::names::ServiceName;

/// Where a tenant stands in memory.
#[derive(Debug)]
pub(crate) enum TenantState {
    /// Its L2 is being unwrapped by the HSM after an unseal.
    Opening,
    /// Its keys are in memory.
    Active(TenantKeys),
    /// The HSM refused its L1, or failed: requests fail closed until it is relinked.
    Unavailable(String),
    /// The operator threw the kill switch.
    Unlinked,
}

impl TenantState {
    /// The state's name, as the control API reports it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Opening => "opening",
            Self::Active(_) => "active",
            Self::Unavailable(_) => "unavailable",
            Self::Unlinked => "unlinked",
        }
    }
}

/// A tenant's L2 and its service keys.
#[derive(Debug)]
pub(crate) struct TenantKeys {
    pub(super) l2: SecretKey,
    pub(super) services: HashMap<ServiceName, ServiceKeys>,
}

/// Every version of one service key; version `n` is at index `n - 1`.
#[derive(Debug, Default)]
pub(crate) struct ServiceKeys {
    pub(super) versions: Vec<SecretKey>,
}

impl ServiceKeys {
    /// The version new wraps use, and its key.
    pub(super) fn current(&self) -> Option<(u32, &SecretKey)> {
        let version = u32::try_from(self.versions.len()).ok()?;
        Some((version, self.versions.last()?))
    }

    /// Version `version`, if the service has it.
    pub(super) fn version(&self, version: u32) -> Option<&SecretKey> {
        let index = usize::try_from(version).ok()?.checked_sub(1)?;
        self.versions.get(index)
    }
}

/// The keys of every tenant of an unsealed core.
#[derive(Debug, Default)]
pub(crate) struct Keyring {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tenants: HashMap<TenantId, TenantState>,
    closed: bool,
}

impl Keyring {
    /// Runs `f` with the keys of `tenant`; fails closed if it has none in memory.
    pub(crate) fn with_tenant<T>(
        &self,
        tenant: &TenantId,
        f: impl FnOnce(&TenantKeys) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let inner = self.read();
        let unavailable = |reason: &str| Error::TenantUnavailable {
            tenant: tenant.clone(),
            reason: reason.to_owned(),
        };
        match inner.tenants.get(tenant) {
            Some(TenantState::Active(keys)) => f(keys),
            Some(TenantState::Unavailable(reason)) => Err(unavailable(reason)),
            Some(TenantState::Unlinked) => Err(unavailable("it is unlinked")),
            Some(TenantState::Opening) => Err(unavailable(
                "its L2 is being re-opened by the HSM after the unseal",
            )),
            None => Err(Error::TenantNotFound(tenant.clone())),
        }
    }

    /// Whether `tenant`'s keys are in memory.
    pub(super) fn is_active(&self, tenant: &TenantId) -> bool {
        matches!(
            self.read().tenants.get(tenant),
            Some(TenantState::Active(_))
        )
    }

    /// The name of `tenant`'s state and the reason it is unavailable, if it is.
    pub(super) fn describe(&self, tenant: &TenantId) -> Option<(&'static str, Option<String>)> {
        self.read().tenants.get(tenant).map(|state| {
            let reason = match state {
                TenantState::Unavailable(reason) => Some(reason.clone()),
                _ => None,
            };
            (state.name(), reason)
        })
    }

    /// Sets `tenant`'s state, dropping (wiping) the keys it had. Ignored once closed.
    pub(super) fn set(&self, tenant: &TenantId, state: TenantState) {
        let mut inner = self.write();
        if !inner.closed {
            // The old state, keys and all, is dropped here, under the lock.
            inner.tenants.insert(tenant.clone(), state);
        }
    }

    /// Forgets `tenant` altogether (it was destroyed), wiping its keys.
    pub(super) fn remove(&self, tenant: &TenantId) {
        self.write().tenants.remove(tenant);
    }

    /// Adds `l3` as the next version of `service` of the active `tenant`.
    pub(super) fn add_version(&self, tenant: &TenantId, service: &ServiceName, l3: SecretKey) {
        if let Some(TenantState::Active(keys)) = self.write().tenants.get_mut(tenant) {
            keys.services
                .entry(service.clone())
                .or_default()
                .versions
                .push(l3);
        }
    }

    /// Wipes every key and takes no more: the core is being sealed.
    pub(crate) fn close(&self) {
        let mut inner = self.write();
        inner.closed = true;
        inner.tenants.clear();
    }

    // A panic while holding the lock leaves at worst a tenant in its old or new state, both
    // consistent: the lock is used past poisoning rather than failing every request.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}
