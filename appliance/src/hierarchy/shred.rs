//! Destroyed data keys (L4): what makes Destroy crypto-shredding.
//!
//! A gateway that destroys an L4 tells the core, which keeps a small sealed record under a key
//! derived from where the L4 was bound when it was wrapped: its tenant and service (the L3) and
//! the associated data the gateway binds (the L4's owner and identifier). Every unwrap looks
//! for that record first, so the L4's wrapped blob never opens again, wherever a copy of it
//! survives — a vault backup, an SST file not yet compacted. The record keys start with the
//! tenant, so destroying the tenant removes its records with the rest.
//!
//! The gateway names a destroyed L4 as `l4/<tenant>/<service>/<associated data in hex>`.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

use super::names::{L3Id, ServiceName};
use crate::hsm::TenantId;
use crate::store::key::{push_part, tenant_prefix};

/// The prefix of a destroyed L4's KMIP Unique Identifier.
const L4_PREFIX: &str = "l4/";
/// Domain of the digest of the associated data. Part of the on-disk format.
const DOMAIN: &[u8] = b"krypton/l4-shred/v1\0";
/// The longest associated data a gateway binds (see `wrapped_key::MAX_ID_LEN`), hex-encoded.
const MAX_BINDING_HEX: usize = 2 * 4096;

/// One L4, as a gateway names it when it destroys it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct L4Id {
    pub(crate) l3: L3Id,
    /// The associated data the L4 was wrapped with.
    pub(crate) binding: Vec<u8>,
}

impl L4Id {
    /// Parses `l4/<tenant>/<service>/<hex>`; anything else names no L4.
    pub(crate) fn parse(uid: &str) -> Option<Self> {
        let mut parts = uid.strip_prefix(L4_PREFIX)?.splitn(3, '/');
        let (tenant, service, binding) = (parts.next()?, parts.next()?, parts.next()?);
        if binding.is_empty() || binding.len() > MAX_BINDING_HEX {
            return None;
        }
        Some(Self {
            l3: L3Id {
                tenant: TenantId::new(tenant).ok()?,
                service: ServiceName::new(service).ok()?,
            },
            binding: hex::decode(binding).ok()?,
        })
    }
}

impl fmt::Display for L4Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{L4_PREFIX}{}/{}/{}",
            self.l3.tenant,
            self.l3.service,
            hex::encode(&self.binding)
        )
    }
}

/// What the core keeps of a destroyed L4: when it learnt of it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Shredded {
    pub(crate) destroyed_unix_secs: u64,
}

/// The record key of the L4 bound to `binding` under `l3`: tenant, service, and a digest of
/// the binding (fixed size, whatever the identifier's length).
pub(crate) fn record_key(l3: &L3Id, binding: &[u8]) -> Vec<u8> {
    let mut key = tenant_prefix(l3.tenant.as_str());
    push_part(&mut key, l3.service.as_str());
    key.extend_from_slice(digest(&SHA256, &[DOMAIN, binding].concat()).as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l4_identifiers_round_trip_and_refuse_the_rest() {
        let id = L4Id::parse("l4/acme/payments/00ff").unwrap();
        assert_eq!(id.l3.to_string(), "l3/acme/payments");
        assert_eq!(id.binding, [0x00, 0xff]);
        assert_eq!(id.to_string(), "l4/acme/payments/00ff");
        for bad in [
            "l4/acme/payments/",
            "l4/acme/payments/0g",
            "l4/acme/payments/abc",
            "l4/acme/payments",
            "l4//payments/00",
            "l3/acme/payments/00",
        ] {
            assert_eq!(L4Id::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn record_keys_bind_tenant_service_and_binding() {
        let l3 = |tenant: &str, service: &str| L3Id {
            tenant: TenantId::new(tenant).unwrap(),
            service: ServiceName::new(service).unwrap(),
        };
        let key = record_key(&l3("acme", "pay"), b"alice/k1");
        assert!(key.starts_with(&tenant_prefix("acme")));
        assert_ne!(key, record_key(&l3("acme", "pay"), b"alice/k2"));
        assert_ne!(key, record_key(&l3("acme", "bill"), b"alice/k1"));
        assert_ne!(key, record_key(&l3("acme2", "pay"), b"alice/k1"));
    }
}
