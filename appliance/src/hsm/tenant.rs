//! Tenant identifiers, as the control plane names tenants.

use std::fmt;

use super::error::InvalidIdentifier;

/// Longest tenant id: room for a UUID or a readable slug, bounded for logs and storage keys.
const MAX_TENANT_ID_BYTES: usize = 128;

/// A tenant's identifier: 1 to 128 printable ASCII characters, no spaces, no `/`.
///
/// It is bound into every wrapped L2 as associated data, so a blob made for one tenant never
/// opens as another's. The restricted alphabet keeps ids unambiguous in logs and messages, and
/// without `/` an id is one segment of a service key's identifier (`l3/<tenant>/<service>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// Checks and wraps a tenant id.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidIdentifier> {
        let id = id.into();
        check_name("a tenant id", &id)?;
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks the rule tenant ids and service names share: 1 to 128 printable ASCII characters,
/// no space, no `/`.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), InvalidIdentifier> {
    let valid = (1..=MAX_TENANT_ID_BYTES).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    if valid {
        Ok(())
    } else {
        Err(InvalidIdentifier {
            what,
            rule: "1 to 128 printable ASCII characters without spaces or '/'",
        })
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_slugs_and_uuids_and_refuses_the_rest() {
        assert!(TenantId::new("acme-prod").is_ok());
        assert!(TenantId::new("6f1c2a0e-3b9d-4c1e-9a57-0d2f4e8b7c61").is_ok());
        assert!(TenantId::new("x".repeat(MAX_TENANT_ID_BYTES)).is_ok());
        for bad in [
            String::new(),
            "x".repeat(MAX_TENANT_ID_BYTES + 1),
            "two words".to_owned(),
            "tab\there".to_owned(),
            "ünïcode".to_owned(),
            "a/b".to_owned(),
        ] {
            assert!(TenantId::new(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
