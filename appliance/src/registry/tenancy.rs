//! What happens to a tenant's objects when the tenant opens or is destroyed.
//!
//! Objects are sealed under their tenant's registry key (derived from the L2) in the
//! [`Column::Registry`] family. Before that, the core sealed them under the master key in
//! [`Column::Objects`]; such a legacy object moves when its tenant next opens (the first unseal
//! after an upgrade, or a relink): each page of records is re-sealed under the tenant's key and
//! deleted from the old family in one atomic batch, so an interrupted migration resumes where it
//! stopped, and the old family is compacted afterwards so the master-sealed copies leave the
//! disk. A tenant with nothing left in the old family costs one seek.
//!
//! After an L2 rotation the tenant's objects are re-sealed under the new L2's registry key, a
//! step at a time ([`reseal`]), by `core/l2_rotation.rs`.

use crate::error::Error;
use crate::hsm::TenantId;
use crate::registry::EditLock;
use crate::registry::record::StoredObject;
use crate::store::key::tenant_prefix;
use crate::store::{Batch, Column, Resealed, Scan, SealingKeys, Store};

/// How many legacy records one migration batch moves.
const MIGRATION_PAGE: usize = 256;

/// Moves `tenant`'s legacy objects, sealed under `master_key`, into the registry sealed under
/// `registry_key`. Returns how many moved.
pub(crate) fn migrate_legacy(
    store: &Store,
    master_key: &dyn SealingKeys,
    registry_key: &dyn SealingKeys,
    tenant: &TenantId,
) -> Result<usize, Error> {
    let prefix = tenant_prefix(tenant.as_str());
    let mut moved = 0;
    loop {
        let page = store.scan_sealed::<StoredObject>(
            master_key,
            Column::Objects,
            Scan::Within {
                prefix: &prefix,
                from: &prefix,
            },
            MIGRATION_PAGE,
        )?;
        if page.is_empty() {
            break;
        }
        let mut batch = store.batch(registry_key);
        for entry in &page {
            batch.put_sealed(Column::Registry, &entry.key, &entry.value)?;
            batch.delete(Column::Objects, &entry.key)?;
        }
        batch.commit()?;
        moved += page.len();
    }
    if moved > 0 {
        store.purge_deleted(Column::Objects)?;
        tracing::warn!(%tenant, moved, "registry objects re-sealed under the tenant's key");
    }
    Ok(moved)
}

/// Re-seals under the sealing version of `keys` the objects of `tenant` sealed under an older
/// one, among the first `limit` at or after `from`, in one durable write. Edits are held off
/// meanwhile, so none is put back as it was; a Register writes a new record, which a step
/// never rewrites unless it is sealed under an older version (see `core/l2_rotation.rs` for
/// why none is, once the step runs).
pub(crate) fn reseal(
    store: &Store,
    keys: &dyn SealingKeys,
    edits: &EditLock,
    tenant: &TenantId,
    from: &[u8],
    limit: usize,
) -> Result<Resealed, Error> {
    let _order = edits.hold();
    let prefix = tenant_prefix(tenant.as_str());
    store.reseal(keys, Column::Registry, &prefix, from, limit)
}

/// Adds the deletion of every object of `tenant`, in both families, to `batch`.
pub(crate) fn forget(batch: &mut Batch<'_>, tenant: &TenantId) -> Result<(), Error> {
    let prefix = tenant_prefix(tenant.as_str());
    batch.delete_prefix(Column::Registry, &prefix)?;
    batch.delete_prefix(Column::Objects, &prefix)
}
