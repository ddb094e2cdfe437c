//! Who is asking, and under which service key (L3) their keys are wrapped.
//!
//! An application is known by one name from its TLS client certificate. The configuration maps
//! each name to a tenant and a service; the core holds that pair's L3 under the identifier
//! `l3/<tenant>/<service>`. Names not in the map are refused: the gateway serves no one it
//! cannot attribute to a tenant.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

/// The most bytes in a tenant or service name: the core's limit for tenant ids.
const MAX_NAME_BYTES: usize = 128;

/// The service key (L3) of one tenant's service, as the core names it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L3Ref {
    /// The tenant, as linked in the core.
    pub tenant: String,
    /// The service within the tenant.
    pub service: String,
}

impl L3Ref {
    /// The rule tenant and service names follow: the core's rule for tenant ids, without `/`,
    /// which separates the parts of the L3's identifier.
    pub const NAME_RULE: &'static str =
        "1 to 128 printable ASCII characters, without spaces or '/'";

    /// The L3's Unique Identifier in the core: `l3/<tenant>/<service>`.
    #[must_use]
    pub fn unique_identifier(&self) -> String {
        format!("l3/{}/{}", self.tenant, self.service)
    }

    /// The part (`"tenant"` or `"service"`) that breaks [`Self::NAME_RULE`], if one does.
    #[must_use]
    pub fn invalid_part(&self) -> Option<(&'static str, &str)> {
        [("tenant", &self.tenant), ("service", &self.service)]
            .into_iter()
            .find(|(_, name)| !valid_name(name))
            .map(|(what, name)| (what, name.as_str()))
    }
}

impl fmt::Debug for L3Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L3Ref({})", self.unique_identifier())
    }
}

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_BYTES).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

/// An authenticated application and the L3 its new keys are wrapped under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal<'a> {
    /// The name from the client certificate: the owner of every key it creates.
    pub identity: &'a str,
    /// The L3 configured for the identity.
    pub l3: &'a L3Ref,
}

/// The configured map from identities to tenants and services.
#[derive(Clone, Debug, Default)]
pub struct Tenancy {
    identities: HashMap<String, L3Ref>,
}

impl Tenancy {
    /// A tenancy from the configuration's identity map, whose names are already checked.
    #[must_use]
    pub fn new(identities: &BTreeMap<String, L3Ref>) -> Self {
        Self {
            identities: identities
                .iter()
                .map(|(identity, l3)| (identity.clone(), l3.clone()))
                .collect(),
        }
    }

    /// Whether some identity of this tenancy uses `l3`.
    #[must_use]
    pub fn serves(&self, l3: &L3Ref) -> bool {
        self.identities.values().any(|mine| mine == l3)
    }

    /// Every L3 some identity of this tenancy uses, once each.
    #[must_use]
    pub fn services(&self) -> Vec<&L3Ref> {
        let mut services: Vec<&L3Ref> = Vec::new();
        for l3 in self.identities.values() {
            if !services.contains(&l3) {
                services.push(l3);
            }
        }
        services
    }

    /// The principal for `identity`, or `None` if the identity is not configured.
    #[must_use]
    pub fn principal<'a>(&'a self, identity: &'a str) -> Option<Principal<'a>> {
        self.identities
            .get(identity)
            .map(|l3| Principal { identity, l3 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l3(tenant: &str, service: &str) -> L3Ref {
        L3Ref {
            tenant: tenant.into(),
            service: service.into(),
        }
    }

    #[test]
    fn identifier_is_the_agreed_form() {
        assert_eq!(
            l3("acme", "payments").unique_identifier(),
            "l3/acme/payments"
        );
    }

    #[test]
    fn names_that_would_make_the_identifier_ambiguous_are_invalid() {
        assert_eq!(l3("acme", "payments").invalid_part(), None);
        assert_eq!(l3("a/b", "s").invalid_part(), Some(("tenant", "a/b")));
        assert_eq!(l3("a", "").invalid_part(), Some(("service", "")));
        assert_eq!(l3("a b", "s").invalid_part(), Some(("tenant", "a b")));
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert_eq!(
            l3("a", &long).invalid_part(),
            Some(("service", long.as_str()))
        );
    }

    #[test]
    fn only_configured_identities_are_principals() {
        let map = BTreeMap::from([("app-1".to_owned(), l3("acme", "payments"))]);
        let tenancy = Tenancy::new(&map);
        let principal = tenancy.principal("app-1").unwrap();
        assert_eq!(principal.identity, "app-1");
        assert_eq!(principal.l3, &l3("acme", "payments"));
        assert!(tenancy.principal("app-2").is_none());
        assert!(tenancy.principal("APP-1").is_none());
    }
}
