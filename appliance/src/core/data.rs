//! The data path: wrap, unwrap and re-wrap of L4s for gateways (and the record of the L4s they
//! destroyed, which no unwrap opens again), and the object registry for applications.
//!
//! A wrap is one read of the lifecycle (unsealed?) and one read of the keyring (the tenant's
//! L3), then AES on a few dozen bytes; an unwrap also looks the L4 up among the destroyed ones
//! (one RocksDB point read, from memory in the common case). It runs inline on the caller's thread when the
//! lifecycle lock is free, which is always but during a seal or unseal: an AES-GCM of a few
//! dozen bytes costs less than a hop to the blocking pool, and every Get and Create through a
//! gateway comes here. While a transition holds the lock across a disk sync, the request goes
//! to the blocking pool instead, so that no runtime thread waits for the disk.

use std::sync::{Arc, TryLockError};
use std::time::{SystemTime, UNIX_EPOCH};

use kmip::objects::WrapBinding;
use kmip::{DateTime, ProtocolVersion, RequestPayload, ResponsePayload, SecretBytes};
use zeroize::Zeroizing;

use super::{Core, blocking, gate};
use crate::error::{Bug, Error, RequestError};
use crate::hierarchy::shred::{self, L4Id, Shredded};
use crate::hierarchy::{self, L3Id};
use crate::hsm::TenantId;
use crate::registry::{Owner, Registry, RegistryLimits};
use crate::seal::Unsealed;
use crate::store::Column;

impl Core {
    /// Wraps L4 `key`, the one `binding` names, under the current version of `l3`.
    pub(crate) async fn wrap(
        self: &Arc<Self>,
        l3: L3Id,
        binding: WrapBinding,
        key: SecretBytes,
    ) -> Result<Vec<u8>, RequestError> {
        self.keys(move |_, unsealed| hierarchy::wrap(unsealed.keyring(), &l3, &binding, &key))
            .await
    }

    /// Unwraps the L4 `binding` names from `blob`, under the version of `l3` the blob names;
    /// refuses an L4 that was destroyed ([`shred`](Self::shred)).
    pub(crate) async fn unwrap(
        self: &Arc<Self>,
        l3: L3Id,
        binding: WrapBinding,
        blob: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>, RequestError> {
        self.keys(move |core, unsealed| {
            core.refuse_shredded(&l3, &binding)?;
            hierarchy::unwrap(unsealed.keyring(), &l3, &binding, &blob)
        })
        .await
    }

    /// Wraps the L4 `binding` names, now in `blob`, under the current version of `l3`, without
    /// it leaving the core: how gateways bring their records under the active version before
    /// an older one retires. Refuses what [`unwrap`](Self::unwrap) refuses.
    pub(crate) async fn rewrap(
        self: &Arc<Self>,
        l3: L3Id,
        binding: WrapBinding,
        blob: Vec<u8>,
    ) -> Result<Vec<u8>, RequestError> {
        self.keys(move |core, unsealed| {
            core.refuse_shredded(&l3, &binding)?;
            hierarchy::rewrap(unsealed.keyring(), &l3, &binding, blob)
        })
        .await
    }

    /// Refuses the L4 `binding` names if its gateway destroyed it (one point read).
    fn refuse_shredded(&self, l3: &L3Id, binding: &WrapBinding) -> Result<(), RequestError> {
        let bound = binding
            .encode()
            .map_err(|invalid| RequestError::InvalidRequest(invalid.0))?;
        let shredded = shred::record_key(l3, &bound);
        if self.store.get_plain(Column::Shredded, &shredded)?.is_some() {
            return Err(RequestError::Shredded(
                L4Id {
                    l3: l3.clone(),
                    binding: bound,
                }
                .to_string(),
            ));
        }
        Ok(())
    }

    /// Records that the gateway destroyed `l4`: from now on its wrapped blob never unwraps,
    /// wherever a copy survives. Needs no key of the tenant (it works while the tenant is
    /// unlinked), only an unsealed core; doing it twice is doing it once.
    pub(crate) async fn shred(self: &Arc<Self>, l4: L4Id) -> Result<(), Error> {
        let core = Arc::clone(self);
        blocking(move || {
            core.with_unsealed(|unsealed| {
                let tenant = &l4.l3.tenant;
                if unsealed.keyring().describe(tenant).is_none() {
                    return Err(Error::TenantNotFound(tenant.clone()));
                }
                let destroyed_unix_secs = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |since| since.as_secs());
                let mut batch = core.store.batch(unsealed.records());
                batch.put_sealed(
                    Column::Shredded,
                    &shred::record_key(&l4.l3, &l4.binding),
                    &Shredded {
                        destroyed_unix_secs,
                    },
                )?;
                batch.commit()?;
                tracing::info!(l4 = %l4.l3, "data key destroyed: its wrapped copies no longer unwrap");
                Ok(())
            })
        })
        .await
    }

    /// Answers one request of `owner` (of `tenant`) on the object registry, made in
    /// `version`, on the blocking pool: the registry syncs to disk.
    ///
    /// The objects are sealed under the tenant's registry key, so the request fails closed
    /// while the tenant is not active. The keyring's lock is not held across the disk: the key
    /// is shared out with the tenant's ticket, and an answer computed while the tenant was
    /// revoked (an unlink, an L1 found gone) is dropped, never sent.
    pub(crate) async fn registry(
        self: &Arc<Self>,
        tenant: TenantId,
        owner: Owner,
        version: ProtocolVersion,
        payload: RequestPayload,
    ) -> Result<ResponsePayload, RequestError> {
        let core = Arc::clone(self);
        blocking(move || {
            core.with_unsealed(|unsealed| {
                let keyring = unsealed.keyring();
                let (key, ticket) = keyring.registry_key(&tenant)?;
                let registry = Registry::new(
                    &core.store,
                    key.as_ref(),
                    &core.registry_edits,
                    RegistryLimits::default(),
                );
                let answer = registry.answer(&owner, version, DateTime::now(), payload)?;
                if !keyring.kept_since(&tenant, ticket) {
                    return Err(Error::TenantUnavailable {
                        tenant,
                        reason: "its keys were revoked while the request ran".to_owned(),
                    }
                    .into());
                }
                Ok(answer)
            })
        })
        .await
    }

    /// Runs the L4 crypto `f` with the unsealed state: inline when the lifecycle lock is free,
    /// on the blocking pool while a transition holds it.
    pub(super) async fn keys<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Core, &Unsealed) -> Result<T, RequestError> + Send + 'static,
    ) -> Result<T, RequestError> {
        let f = match self.lifecycle.try_read() {
            Ok(lifecycle) => return gate(&lifecycle, |unsealed| f(self, unsealed)),
            Err(TryLockError::Poisoned(_)) => return Err(Bug::LockPoisoned.into()),
            Err(TryLockError::WouldBlock) => f,
        };
        let core = Arc::clone(self);
        blocking(move || core.with_unsealed(|unsealed| f(&core, unsealed))).await
    }
}
