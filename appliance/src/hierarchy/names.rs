//! Service names and the KMIP identifier of a service key: `l3/<tenant>/<service>`.

use std::fmt;

use crate::error::Error;
use crate::hsm::{TenantId, check_name};

/// The prefix of every service key's KMIP Unique Identifier.
const L3_PREFIX: &str = "l3/";

/// A service's name within its tenant: 1 to 128 printable ASCII characters, no space, no `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ServiceName(String);

impl ServiceName {
    pub(crate) fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        check_name("a service name", &name).map_err(Error::InvalidName)?;
        Ok(Self(name))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant id checked for the control API: its refusal is an [`Error`].
pub(crate) fn tenant_id(id: impl Into<String>) -> Result<TenantId, Error> {
    TenantId::new(id).map_err(Error::InvalidName)
}

/// A service key (L3), as gateways name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct L3Id {
    pub(crate) tenant: TenantId,
    pub(crate) service: ServiceName,
}

impl L3Id {
    /// Parses `l3/<tenant>/<service>`; anything else names no service key.
    pub(crate) fn parse(uid: &str) -> Option<Self> {
        let (tenant, service) = uid.strip_prefix(L3_PREFIX)?.split_once('/')?;
        Some(Self {
            tenant: TenantId::new(tenant).ok()?,
            service: ServiceName::new(service).ok()?,
        })
    }
}

impl fmt::Display for L3Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{L3_PREFIX}{}/{}", self.tenant, self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l3_identifiers_round_trip_and_refuse_the_rest() {
        let id = L3Id::parse("l3/acme/payments").unwrap();
        assert_eq!(id.tenant.as_str(), "acme");
        assert_eq!(id.service.as_str(), "payments");
        assert_eq!(id.to_string(), "l3/acme/payments");
        for bad in [
            "l3/acme",
            "l3/acme/",
            "l3//payments",
            "l3/acme/pay/ments",
            "L3/acme/payments",
            "acme/payments",
            "l3/ac me/payments",
        ] {
            assert_eq!(L3Id::parse(bad), None, "{bad}");
        }
    }
}
