//! Service keys (L3): random 256-bit keys, sealed under their tenant's L2 for storage.
//!
//! The stored form of one version is `IV (12) || ciphertext (32) || tag (16)`, AES-256-GCM
//! under the L2 with associated data `"krypton/l3-wrap/v1\0" || tenant || 0 || service || 0
//! || version (u32, big-endian)`. Names contain no NUL, so the fields cannot run together: a
//! sealed L3 opens only as the tenant, service and version it was made for.

use crate::error::{Bug, Error};
use crate::hsm::TenantId;
use crate::secret::{KEY_LEN, SecretKey, WhenIdle};

use super::gcm::{self, IV_LEN, TAG_LEN};
use super::names::ServiceName;

const DOMAIN: &[u8] = b"krypton/l3-wrap/v1\0";
/// The stored length of one sealed L3 version.
const SEALED_LEN: usize = IV_LEN + KEY_LEN + TAG_LEN;

/// Draws a new L3 into guarded memory. L3s are used on every wrap and unwrap, by many
/// threads at once, so their pages stay readable (see [`WhenIdle::ReadOnly`]).
pub(crate) fn generate() -> Result<SecretKey, Error> {
    Ok(SecretKey::random(WhenIdle::ReadOnly)?)
}

/// Seals `l3` under `l2` for `tenant`, `service`, `version`.
pub(crate) fn seal(
    l2: &SecretKey,
    tenant: &TenantId,
    service: &ServiceName,
    version: u32,
    l3: &SecretKey,
) -> Result<Vec<u8>, Error> {
    let aad = associated_data(tenant, service, version);
    let (iv, sealed) = l3.expose(|l3| gcm::seal(l2, &aad, l3))?;
    Ok([iv.as_slice(), &sealed].concat())
}

/// Opens a sealed L3 into guarded memory; `None` if it is not the L3 of this tenant,
/// service and version under this L2.
pub(crate) fn open(
    l2: &SecretKey,
    tenant: &TenantId,
    service: &ServiceName,
    version: u32,
    stored: &[u8],
) -> Result<Option<SecretKey>, Error> {
    let Some((iv, sealed)) = stored.split_first_chunk::<IV_LEN>() else {
        return Ok(None);
    };
    if stored.len() != SEALED_LEN {
        return Ok(None);
    }
    let aad = associated_data(tenant, service, version);
    let Some(plain) = gcm::open(l2, iv, &aad, sealed) else {
        return Ok(None);
    };
    let plain =
        <&[u8; KEY_LEN]>::try_from(plain.as_slice()).map_err(|_| Error::Internal(Bug::Aead))?;
    SecretKey::from_fn(WhenIdle::ReadOnly, |key| {
        *key = *plain;
        Ok::<_, Error>(())
    })
    .map(Some)
}

fn associated_data(tenant: &TenantId, service: &ServiceName, version: u32) -> Vec<u8> {
    [
        DOMAIN,
        tenant.as_str().as_bytes(),
        &[0],
        service.as_str().as_bytes(),
        &[0],
        &version.to_be_bytes(),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_as_what_it_was_sealed_for() {
        let l2 = SecretKey::random(WhenIdle::NoAccess).unwrap();
        let l3 = generate().unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let service = ServiceName::new("payments").unwrap();
        let stored = seal(&l2, &tenant, &service, 1, &l3).unwrap();
        assert_eq!(stored.len(), SEALED_LEN);
        let opened = open(&l2, &tenant, &service, 1, &stored).unwrap().unwrap();
        assert!(opened.expose(|a| l3.expose(|b| a == b)));

        let other_tenant = TenantId::new("acme2").unwrap();
        let other_service = ServiceName::new("billing").unwrap();
        let other_l2 = SecretKey::random(WhenIdle::NoAccess).unwrap();
        assert!(open(&l2, &tenant, &service, 2, &stored).unwrap().is_none());
        assert!(
            open(&l2, &other_tenant, &service, 1, &stored)
                .unwrap()
                .is_none()
        );
        assert!(
            open(&l2, &tenant, &other_service, 1, &stored)
                .unwrap()
                .is_none()
        );
        assert!(
            open(&other_l2, &tenant, &service, 1, &stored)
                .unwrap()
                .is_none()
        );
        assert!(
            open(&l2, &tenant, &service, 1, &stored[1..])
                .unwrap()
                .is_none()
        );
    }
}
