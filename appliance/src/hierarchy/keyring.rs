//! The tenants' keys in memory: each tenant's L2 and its services' L3 versions, in guarded
//! memory, or the reason a tenant has none.
//!
//! The keyring belongs to the unsealed state: seal closes it, which drops, and so wipes, every
//! key at once, and a closed keyring takes no new keys, so a re-open still running when the core
//! is sealed cannot bring keys back.
//!
//! **The lock discipline.** Each tenant's slot carries a generation, bumped by every change.
//! Taking keys *away* ([`Keyring::revoke`]: unlink, an L1 found gone) never waits and always
//! wins: the old state, keys and all, is dropped under the write lock, and once it returns no
//! wrap or unwrap can use them. That is the kill switch. Putting keys *in* is slow (the HSM
//! unwraps the L2 first), so it is a compare-and-set ([`Keyring::install`]): it succeeds only
//! if the slot is still at the generation the work started from ([`Keyring::ticket`]). An
//! unlink that lands while a re-open or a link is talking to the HSM therefore cannot be undone
//! by it: the late install finds a newer generation and its keys are dropped.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::Error;
use crate::hsm::{L1Answer, L1Ref, Probe, TenantId, WrappedL2};
use crate::secret::SecretKey;

use super::names::ServiceName;
use super::registry_keys::RegistryKeys;
use super::versions::VersionState;

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
    /// Every state's name, as [`name`](Self::name) gives it.
    pub(crate) const NAMES: [&'static str; 4] = ["opening", "active", "unavailable", "unlinked"];

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

/// A tenant's L2, the registry keys derived from it (and from older L2 versions still
/// sealing objects), and its service keys; and what the HSM needs to check that the L2's L1
/// still answers.
#[derive(Debug)]
pub(crate) struct TenantKeys {
    pub(crate) l2: SecretKey,
    origin: Origin,
    /// Seals the tenant's objects in the core's registry. Shared (not copied) with a registry
    /// operation in flight, which checks afterwards that the tenant was not revoked meanwhile.
    registry: Arc<RegistryKeys>,
    pub(crate) services: HashMap<ServiceName, ServiceKeys>,
}

/// Where a tenant's L2 came from: the L1, the L2's version and the L2 as the HSM wrapped it.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) l1: L1Ref,
    pub(crate) version: u32,
    pub(crate) wrapped: WrappedL2,
}

impl TenantKeys {
    /// The keys of `tenant`: its L2 (opened from `origin`), the registry keys derived from it
    /// and from the `older` L2 versions still sealing objects, and its services.
    pub(crate) fn new(
        tenant: &TenantId,
        l2: SecretKey,
        origin: Origin,
        older: Vec<(u32, SecretKey)>,
        services: HashMap<ServiceName, ServiceKeys>,
    ) -> Result<Self, Error> {
        let registry = Arc::new(RegistryKeys::new(tenant, origin.version, &l2, older)?);
        Ok(Self {
            l2,
            origin,
            registry,
            services,
        })
    }

    /// The keys that seal the tenant's registry objects.
    pub(crate) fn registry_keys(&self) -> &RegistryKeys {
        &self.registry
    }
}

/// Every version of one service key; version `n` is at index `n - 1`. The newest is the active
/// one, always open.
#[derive(Debug, Default)]
pub(crate) struct ServiceKeys {
    versions: Vec<VersionKey>,
}

/// One version of a service key in memory: its key if it unwraps, or the state that keeps it
/// out of memory.
#[derive(Debug)]
pub(crate) enum VersionKey {
    Open(SecretKey),
    /// Retired or destroyed: blobs under it are refused.
    Closed(VersionState),
}

/// Why a version of a service key gives no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoVersion {
    /// The service key never had this version.
    Unknown,
    /// Retired or destroyed.
    Closed(VersionState),
}

impl ServiceKeys {
    /// Adds the next version.
    pub(super) fn push(&mut self, key: VersionKey) {
        self.versions.push(key);
    }

    /// The version new wraps use, and its key.
    pub(super) fn current(&self) -> Option<(u32, &SecretKey)> {
        let version = u32::try_from(self.versions.len()).ok()?;
        match self.versions.last()? {
            VersionKey::Open(key) => Some((version, key)),
            VersionKey::Closed(_) => None,
        }
    }

    /// The key of version `version`, if it unwraps.
    pub(super) fn version(&self, version: u32) -> Result<&SecretKey, NoVersion> {
        let index = usize::try_from(version)
            .ok()
            .and_then(|version| version.checked_sub(1))
            .ok_or(NoVersion::Unknown)?;
        match self.versions.get(index) {
            Some(VersionKey::Open(key)) => Ok(key),
            Some(VersionKey::Closed(state)) => Err(NoVersion::Closed(*state)),
            None => Err(NoVersion::Unknown),
        }
    }
}

/// The keys of every tenant of an unsealed core.
#[derive(Debug, Default)]
pub(crate) struct Keyring {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tenants: HashMap<TenantId, Slot>,
    /// The last generation handed out, for every tenant: never reused, so a ticket taken
    /// before a tenant was forgotten cannot match a later slot.
    generation: u64,
    closed: bool,
}

#[derive(Debug)]
struct Slot {
    generation: u64,
    /// The generation the state was put at: an L2 rotation or an L1 move changes the
    /// generation, not the keys being held.
    since: u64,
    state: TenantState,
}

/// The generation of a tenant's slot when slow work on it began; see [`Keyring::install`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

/// The slot changed since the ticket was taken: the install was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Superseded;

impl Keyring {
    /// Runs `f` with the keys of `tenant`; fails closed if it has none in memory.
    pub(crate) fn with_tenant<T, E: From<Error>>(
        &self,
        tenant: &TenantId,
        f: impl FnOnce(&TenantKeys) -> Result<T, E>,
    ) -> Result<T, E> {
        let inner = self.read();
        let unavailable = |reason: &str| Error::TenantUnavailable {
            tenant: tenant.clone(),
            reason: reason.to_owned(),
        };
        let refusal = match inner.tenants.get(tenant).map(|slot| &slot.state) {
            Some(TenantState::Active(keys)) => return f(keys),
            Some(TenantState::Unavailable(reason)) => unavailable(reason),
            Some(TenantState::Unlinked) => unavailable("it is unlinked"),
            Some(TenantState::Opening) => {
                unavailable("its L2 is being re-opened by the HSM after the unseal")
            }
            None => Error::TenantNotFound(tenant.clone()),
        };
        Err(refusal.into())
    }

    /// `tenant`'s registry keys and the ticket they were read at, for an operation that runs
    /// without the keyring's lock and checks [`kept_since`](Self::kept_since) at its end.
    pub(crate) fn registry_key(
        &self,
        tenant: &TenantId,
    ) -> Result<(Arc<RegistryKeys>, Ticket), Error> {
        let ticket = self.ticket(tenant);
        self.with_tenant(tenant, |keys| Ok((Arc::clone(&keys.registry), ticket)))
    }

    /// Whether `tenant`'s keys have stayed in memory since `ticket`: nothing revoked them. An
    /// L2 rotation or an L1 move in between keeps them (the registry keys a request took still
    /// open and seal what the tenant's next keys do).
    pub(crate) fn kept_since(&self, tenant: &TenantId, ticket: Ticket) -> bool {
        matches!(
            self.read().tenants.get(tenant),
            Some(Slot { since, state: TenantState::Active(_), .. }) if *since <= ticket.0
        )
    }

    /// How many tenants are in each state, by the state's name.
    pub(crate) fn counts(&self) -> HashMap<&'static str, usize> {
        let mut counts = HashMap::new();
        for slot in self.read().tenants.values() {
            *counts.entry(slot.state.name()).or_default() += 1;
        }
        counts
    }

    /// Every tenant that is unavailable, with the reason, in name order.
    pub(crate) fn unavailable(&self) -> Vec<(TenantId, String)> {
        let mut unavailable: Vec<_> = self
            .read()
            .tenants
            .iter()
            .filter_map(|(tenant, slot)| match &slot.state {
                TenantState::Unavailable(reason) => Some((tenant.clone(), reason.clone())),
                _ => None,
            })
            .collect();
        unavailable.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        unavailable
    }

    /// Every tenant whose keys are in memory, with where its L2 came from and the ticket to
    /// judge a probe of its L1 at ([`verdict`](Self::verdict)).
    pub(crate) fn active(&self) -> Vec<(TenantId, Origin, Ticket)> {
        self.read()
            .tenants
            .iter()
            .filter_map(|(tenant, slot)| match &slot.state {
                TenantState::Active(keys) => {
                    Some((tenant.clone(), keys.origin.clone(), Ticket(slot.generation)))
                }
                _ => None,
            })
            .collect()
    }

    /// The verdict on `answer`, a probe of `tenant`'s L1 begun at `ticket`, against the L2 in
    /// memory; `None` (and the answer wiped) if the tenant changed since.
    pub(crate) fn verdict(
        &self,
        tenant: &TenantId,
        ticket: Ticket,
        answer: L1Answer,
    ) -> Option<Probe> {
        let inner = self.read();
        match inner.tenants.get(tenant) {
            Some(Slot {
                generation,
                state: TenantState::Active(keys),
                ..
            }) if *generation == ticket.0 => Some(answer.verdict(&keys.l2)),
            _ => None,
        }
    }

    /// Whether `tenant`'s keys are in memory.
    pub(crate) fn is_active(&self, tenant: &TenantId) -> bool {
        matches!(
            self.read().tenants.get(tenant).map(|slot| &slot.state),
            Some(TenantState::Active(_))
        )
    }

    /// The name of `tenant`'s state and the reason it is unavailable, if it is.
    pub(crate) fn describe(&self, tenant: &TenantId) -> Option<(&'static str, Option<String>)> {
        self.read().tenants.get(tenant).map(|slot| {
            let reason = match &slot.state {
                TenantState::Unavailable(reason) => Some(reason.clone()),
                _ => None,
            };
            (slot.state.name(), reason)
        })
    }

    /// The generation of `tenant`'s slot now, to [`install`](Self::install) against later.
    pub(crate) fn ticket(&self, tenant: &TenantId) -> Ticket {
        Ticket(
            self.read()
                .tenants
                .get(tenant)
                .map_or(0, |slot| slot.generation),
        )
    }

    /// Sets `tenant`'s state without keys (opening, unavailable, unlinked), dropping (wiping)
    /// the keys it had, whatever work on it is under way; returns the new generation. Never
    /// waits for anything but the in-memory lock. Ignored once closed.
    pub(crate) fn revoke(&self, tenant: &TenantId, state: TenantState) -> Ticket {
        debug_assert!(
            !matches!(state, TenantState::Active(_)),
            "keys go in by install"
        );
        let mut inner = self.write();
        Self::put(&mut inner, tenant, state)
    }

    /// Sets `tenant`'s state to `state` if its slot is still at `ticket`'s generation; else
    /// drops `state` (wiping any keys in it) and reports [`Superseded`].
    pub(crate) fn install(
        &self,
        tenant: &TenantId,
        ticket: Ticket,
        state: TenantState,
    ) -> Result<(), Superseded> {
        let mut inner = self.write();
        let current = inner.tenants.get(tenant).map_or(0, |slot| slot.generation);
        if inner.closed || current != ticket.0 {
            return Err(Superseded);
        }
        Self::put(&mut inner, tenant, state);
        Ok(())
    }

    /// Whether `tenant` is active at `ticket` with `l2` as its L2.
    pub(crate) fn holds_l2(&self, tenant: &TenantId, ticket: Ticket, l2: &SecretKey) -> bool {
        matches!(
            self.read().tenants.get(tenant),
            Some(Slot { generation, state: TenantState::Active(keys), .. })
                if *generation == ticket.0 && keys.l2.same_as(l2)
        )
    }

    /// Records that `tenant`'s L2 now comes from `origin` (its tenant moved to another L1), if
    /// its slot is still at `ticket`. The slot gets a new generation, so a probe of the old L1
    /// still in flight is judged against nothing: deleting the old L1 right after the move does
    /// not fail the tenant.
    pub(crate) fn move_origin(
        &self,
        tenant: &TenantId,
        ticket: Ticket,
        origin: Origin,
    ) -> Result<(), Superseded> {
        let mut inner = self.write();
        inner.generation += 1;
        let generation = inner.generation;
        match inner.tenants.get_mut(tenant) {
            Some(slot) if slot.generation == ticket.0 => match &mut slot.state {
                TenantState::Active(keys) => {
                    keys.origin = origin;
                    slot.generation = generation;
                    Ok(())
                }
                _ => Err(Superseded),
            },
            _ => Err(Superseded),
        }
    }

    /// Puts a new version of `tenant`'s L2 in place of the one in memory (an L2 rotation), if
    /// its slot is still at `ticket`: the old L2 is wiped, and `registry` (the new version's
    /// key, older ones opening) replaces the registry keys, keeping a handle on the replaced
    /// ones (see [`RegistryKeys::replaced_in_use`]). The slot gets a new generation, as in
    /// [`move_origin`](Self::move_origin).
    pub(crate) fn switch_l2(
        &self,
        tenant: &TenantId,
        ticket: Ticket,
        l2: SecretKey,
        origin: Origin,
        registry: RegistryKeys,
    ) -> Result<(), Superseded> {
        let mut inner = self.write();
        inner.generation += 1;
        let generation = inner.generation;
        match inner.tenants.get_mut(tenant) {
            Some(Slot {
                generation: current,
                state: TenantState::Active(keys),
                ..
            }) if *current == ticket.0 => {
                keys.l2 = l2;
                keys.origin = origin;
                keys.registry = Arc::new(registry.replacing(Arc::downgrade(&keys.registry)));
                *current = generation;
                Ok(())
            }
            _ => Err(Superseded),
        }
    }

    /// Drops the registry keys of `tenant`'s older L2 versions once nothing is sealed under
    /// them, if its L2 is still at `version`. Returns whether they were dropped.
    pub(crate) fn retire_older_registry_keys(
        &self,
        tenant: &TenantId,
        version: u32,
    ) -> Result<bool, Error> {
        let mut inner = self.write();
        match inner.tenants.get_mut(tenant).map(|slot| &mut slot.state) {
            Some(TenantState::Active(keys)) if keys.origin.version == version => {
                keys.registry = Arc::new(RegistryKeys::new(tenant, version, &keys.l2, Vec::new())?);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Forgets `tenant` altogether (it was destroyed), wiping its keys.
    pub(crate) fn remove(&self, tenant: &TenantId) {
        self.write().tenants.remove(tenant);
    }

    /// Adds `l3` as the next version of `service` of the active `tenant`.
    pub(crate) fn add_version(&self, tenant: &TenantId, service: &ServiceName, l3: SecretKey) {
        self.with_service(tenant, service, |keys| {
            keys.versions.push(VersionKey::Open(l3));
        });
    }

    /// Puts `key` in place of version `version` of `service` of the active `tenant`: closing
    /// a version wipes its key at once.
    pub(crate) fn replace_version(
        &self,
        tenant: &TenantId,
        service: &ServiceName,
        version: u32,
        key: VersionKey,
    ) {
        self.with_service(tenant, service, |keys| {
            let index = usize::try_from(version).ok().and_then(|v| v.checked_sub(1));
            if let Some(slot) = index.and_then(|index| keys.versions.get_mut(index)) {
                *slot = key;
            }
        });
    }

    fn with_service(
        &self,
        tenant: &TenantId,
        service: &ServiceName,
        f: impl FnOnce(&mut ServiceKeys),
    ) {
        let mut inner = self.write();
        if let Some(Slot {
            state: TenantState::Active(keys),
            ..
        }) = inner.tenants.get_mut(tenant)
        {
            f(keys.services.entry(service.clone()).or_default());
        }
    }

    /// Wipes every key and takes no more: the core is being sealed.
    pub(crate) fn close(&self) {
        let mut inner = self.write();
        inner.closed = true;
        inner.tenants.clear();
    }

    fn put(inner: &mut Inner, tenant: &TenantId, state: TenantState) -> Ticket {
        if inner.closed {
            return Ticket(0);
        }
        inner.generation += 1;
        let generation = inner.generation;
        // The old state, keys and all, is dropped here, under the lock.
        inner.tenants.insert(
            tenant.clone(),
            Slot {
                generation,
                since: generation,
                state,
            },
        );
        Ticket(generation)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::WhenIdle;

    fn keys() -> TenantState {
        let tenant = TenantId::new("acme").unwrap();
        let l2 = SecretKey::random(WhenIdle::NoAccess).unwrap();
        let origin = Origin {
            l1: L1Ref::label("l1").unwrap(),
            version: 1,
            wrapped: WrappedL2::sample(),
        };
        TenantState::Active(
            TenantKeys::new(&tenant, l2, origin, Vec::new(), HashMap::new()).unwrap(),
        )
    }

    #[test]
    fn an_unlink_during_a_reopen_is_never_undone() {
        let keyring = Keyring::default();
        let tenant = TenantId::new("acme").unwrap();
        // The unseal marks the tenant opening and the re-open goes to the HSM with its ticket.
        let reopen = keyring.revoke(&tenant, TenantState::Opening);
        // The operator unlinks while the HSM is still answering.
        keyring.revoke(&tenant, TenantState::Unlinked);
        // The HSM answers: the re-open's keys are dropped, the unlink stands.
        assert_eq!(keyring.install(&tenant, reopen, keys()), Err(Superseded));
        assert_eq!(keyring.describe(&tenant), Some(("unlinked", None)));
        assert!(!keyring.is_active(&tenant));
    }

    #[test]
    fn an_install_at_its_generation_succeeds_and_a_revoke_wipes_it() {
        let keyring = Keyring::default();
        let tenant = TenantId::new("acme").unwrap();
        let ticket = keyring.ticket(&tenant);
        keyring.install(&tenant, ticket, keys()).unwrap();
        assert!(keyring.is_active(&tenant));
        // A second install from the same (now stale) ticket is refused.
        assert_eq!(keyring.install(&tenant, ticket, keys()), Err(Superseded));
        keyring.revoke(&tenant, TenantState::Unavailable("L1 deleted".into()));
        assert!(!keyring.is_active(&tenant));
        assert!(matches!(
            keyring.with_tenant(&tenant, |_| Ok(())),
            Err(Error::TenantUnavailable { .. })
        ));
    }

    #[test]
    fn an_l2_switch_keeps_the_keys_a_revoke_does_not() {
        let keyring = Keyring::default();
        let tenant = TenantId::new("acme").unwrap();
        keyring
            .install(&tenant, keyring.ticket(&tenant), keys())
            .unwrap();
        let (old, taken) = keyring.registry_key(&tenant).unwrap();
        let l2 = SecretKey::random(WhenIdle::NoAccess).unwrap();
        let origin = Origin {
            l1: L1Ref::label("l1").unwrap(),
            version: 2,
            wrapped: WrappedL2::sample(),
        };
        let registry = RegistryKeys::new(&tenant, 2, &l2, Vec::new()).unwrap();
        keyring
            .switch_l2(&tenant, keyring.ticket(&tenant), l2, origin, registry)
            .unwrap();
        // A registry request that took the keys before the rotation still answers, and the
        // rotation's re-seal waits for it to drop them.
        assert!(keyring.kept_since(&tenant, taken));
        let (now, _) = keyring.registry_key(&tenant).unwrap();
        assert!(now.replaced_in_use());
        drop(old);
        assert!(!now.replaced_in_use());
        keyring.revoke(&tenant, TenantState::Unlinked);
        assert!(!keyring.kept_since(&tenant, taken));
    }

    #[test]
    fn a_forgotten_tenant_does_not_accept_an_old_ticket() {
        let keyring = Keyring::default();
        let tenant = TenantId::new("acme").unwrap();
        let old = keyring.revoke(&tenant, TenantState::Opening);
        keyring.remove(&tenant);
        keyring.revoke(&tenant, TenantState::Opening);
        assert_eq!(keyring.install(&tenant, old, keys()), Err(Superseded));
    }

    #[test]
    fn a_closed_keyring_takes_no_keys() {
        let keyring = Keyring::default();
        let tenant = TenantId::new("acme").unwrap();
        let ticket = keyring.revoke(&tenant, TenantState::Opening);
        keyring.close();
        assert_eq!(keyring.install(&tenant, ticket, keys()), Err(Superseded));
        assert!(keyring.describe(&tenant).is_none());
    }
}
