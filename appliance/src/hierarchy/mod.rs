//! The key hierarchy below the master key, as data: each tenant's root key (L2), wrapped by
//! the customer's L1 in the HSM, and each service's keys (L3), sealed under the L2; the keyring
//! that holds them in guarded memory; and the data keys (L4) wrapped under an L3.
//!
//! Nothing here owns state or takes a lock beyond the keyring's: [`crate::core::Core`] owns the
//! keyring (through the unsealed state), the store and the HSM, and makes every transition.
//! This module gives it the pieces: the keyring and its lock discipline ([`keyring`]), how an
//! L3 is sealed under its L2 ([`l3`]), how tenants and services are stored ([`records`]), the
//! wrapped-L4 format ([`wrapped_key`]), the states of an L3's versions ([`versions`]), and the
//! data path's functions, [`wrap`], [`unwrap`] and [`rewrap`], which read the keyring only.

mod gcm;
mod keyring;
pub(crate) mod l3;
mod names;
pub(crate) mod records;
mod registry_keys;
pub(crate) mod shred;
mod versions;
pub(crate) mod wrapped_key;

use kmip::objects::WrapBinding;
use zeroize::Zeroizing;

use crate::error::{Error, RequestError};

pub(crate) use keyring::{
    Keyring, NoVersion, Origin, ServiceKeys, TenantKeys, TenantState, Ticket, VersionKey,
};
pub(crate) use names::{L3Id, ServiceName, tenant_id};
pub(crate) use registry_keys::{RegistryKeys, derive as derive_registry_key};
pub(crate) use versions::{VersionChange, VersionState};

/// Wraps L4 `key`, the one `binding` names, under the current version of `l3`.
pub(crate) fn wrap(
    keyring: &Keyring,
    l3: &L3Id,
    binding: &WrapBinding,
    key: &[u8],
) -> Result<Vec<u8>, RequestError> {
    keyring.with_tenant(&l3.tenant, |keys| {
        let (version, l3_key) = service(keys, l3)?.current().ok_or_else(|| not_found(l3))?;
        wrapped_key::wrap(l3_key, l3, version, binding, key)
    })
}

/// Unwraps the L4 `binding` names from `blob`, under the version of `l3` the blob names.
pub(crate) fn unwrap(
    keyring: &Keyring,
    l3: &L3Id,
    binding: &WrapBinding,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, RequestError> {
    let version = wrapped_key::version(blob)?;
    keyring.with_tenant(&l3.tenant, |keys| {
        let l3_key = version_key(service(keys, l3)?, l3, version)?;
        wrapped_key::unwrap(l3_key, l3, binding, blob)
    })
}

/// Unwraps the L4 `binding` names from `blob` and wraps it again under the current version of
/// `l3`, in one read of the keyring: the L4 never leaves this function. A blob already under
/// the current version is checked and given back as it is.
pub(crate) fn rewrap(
    keyring: &Keyring,
    l3: &L3Id,
    binding: &WrapBinding,
    blob: Vec<u8>,
) -> Result<Vec<u8>, RequestError> {
    let version = wrapped_key::version(&blob)?;
    keyring.with_tenant(&l3.tenant, |keys| {
        let service = service(keys, l3)?;
        let key = wrapped_key::unwrap(version_key(service, l3, version)?, l3, binding, &blob)?;
        let (current, l3_key) = service.current().ok_or_else(|| not_found(l3))?;
        if current == version {
            return Ok(blob);
        }
        wrapped_key::wrap(l3_key, l3, current, binding, &key)
    })
}

/// The version of `l3` new wraps use.
pub(crate) fn current_version(keyring: &Keyring, l3: &L3Id) -> Result<u32, RequestError> {
    keyring.with_tenant(&l3.tenant, |keys| {
        let (current, _) = service(keys, l3)?.current().ok_or_else(|| not_found(l3))?;
        Ok(current)
    })
}

/// The key of `version` of `l3`, or why a blob under it does not open.
fn version_key<'k>(
    service: &'k ServiceKeys,
    l3: &L3Id,
    version: u32,
) -> Result<&'k crate::secret::SecretKey, RequestError> {
    service.version(version).map_err(|missing| match missing {
        NoVersion::Unknown => RequestError::UnauthenticWrappedKey,
        NoVersion::Closed(state) => RequestError::VersionClosed {
            l3: l3.to_string(),
            version,
            state: state.name(),
        },
    })
}

fn service<'k>(keys: &'k TenantKeys, l3: &L3Id) -> Result<&'k ServiceKeys, Error> {
    keys.services.get(&l3.service).ok_or_else(|| not_found(l3))
}

fn not_found(l3: &L3Id) -> Error {
    Error::ServiceNotFound {
        tenant: l3.tenant.clone(),
        service: l3.service.to_string(),
    }
}
