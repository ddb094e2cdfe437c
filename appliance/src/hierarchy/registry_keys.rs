//! The keys that seal a tenant's objects in the core's registry: one derived from each version
//! of the tenant's L2 that objects may still be sealed under.
//!
//! Version `n` of the L2 gives the registry key that seals under envelope key version `n`, so
//! a record names the L2 it depends on. After an L2 rotation the new version seals every write
//! and the older ones only open, until the core has re-sealed the tenant's objects and retired
//! them (`core/l2_rotation.rs`). An older version is held as its derived key only: its L2 is
//! wiped once the derivation is done, so it can read what it still seals and wrap nothing.

use std::sync::Weak;

use crate::error::Error;
use crate::hsm::TenantId;
use crate::secret::{SecretKey, WhenIdle};
use crate::store::SealingKeys;

/// HKDF `info` label of a tenant's registry key. Part of the on-disk format.
const REGISTRY_KEY_LABEL: &[u8] = b"krypton/v1/registry-seal";

/// The registry keys of one tenant.
#[derive(Debug)]
pub(crate) struct RegistryKeys {
    current: u32,
    sealing: SecretKey,
    /// Keys of older L2 versions, kept while objects may still be sealed under them.
    older: Vec<(u32, SecretKey)>,
    /// The keys these replaced at an L2 rotation, alive while a registry operation that took
    /// them is still in flight: it may yet write a record sealed under the old version.
    replaced: Weak<RegistryKeys>,
}

impl RegistryKeys {
    /// The keys of `tenant` whose L2 is at `version`, with `older` ones still opening.
    pub(crate) fn new(
        tenant: &TenantId,
        version: u32,
        l2: &SecretKey,
        older: Vec<(u32, SecretKey)>,
    ) -> Result<Self, Error> {
        Ok(Self {
            current: version,
            sealing: derive(tenant, l2)?,
            older,
            replaced: Weak::new(),
        })
    }

    /// These keys, replacing `replaced` at an L2 rotation.
    pub(crate) fn replacing(self, replaced: Weak<RegistryKeys>) -> Self {
        Self { replaced, ..self }
    }

    /// Whether a registry operation that took the keys these replaced is still in flight.
    pub(crate) fn replaced_in_use(&self) -> bool {
        self.replaced.strong_count() > 0
    }
}

/// The registry key `l2` gives `tenant`; the tenant's name is bound in, so two tenants'
/// keys differ even under one L2.
pub(crate) fn derive(tenant: &TenantId, l2: &SecretKey) -> Result<SecretKey, Error> {
    let info: [&[u8]; 2] = [REGISTRY_KEY_LABEL, tenant.as_str().as_bytes()];
    Ok(l2.derive(&info, WhenIdle::ReadOnly)?)
}

impl SealingKeys for RegistryKeys {
    fn sealing(&self) -> (u32, &SecretKey) {
        (self.current, &self.sealing)
    }

    fn opening(&self, version: u32) -> Option<&SecretKey> {
        if version == self.current {
            return Some(&self.sealing);
        }
        self.older
            .iter()
            .find_map(|(older, key)| (*older == version).then_some(key))
    }
}
