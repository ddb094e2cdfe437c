//! `[kmip]`: the core's KMIP listener for gateways, and which gateway may act for which
//! tenants.
//!
//! ```toml
//! [kmip]
//! listen = "127.0.0.1:5697"
//! identity_source = "common_name"            # common_name | san_dns | san_uri
//! [kmip.tls]
//! cert_chain = "/etc/krypton/core/server.pem"
//! private_key = "/etc/krypton/core/server.key"
//! client_ca = "/etc/krypton/core/gateways-ca.pem"
//! # [kmip.limits] optional, see kmip::net::ServerLimits
//! [[kmip.gateways]]
//! identity = "krypton-gateway"
//! tenants = ["demo"]
//! ```

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use kmip::net::{IdentitySource, ServerLimits, TlsFiles};
use krypton_service::config::require_absolute;
use serde::Deserialize;

use crate::error::ConfigError;
use crate::hsm::TenantId;

/// Most gateways one core is configured for.
const MAX_GATEWAYS: usize = 1024;

/// The `[kmip]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KmipConfig {
    pub(crate) listen: SocketAddr,
    #[serde(default = "default_identity_source")]
    pub(crate) identity_source: IdentitySource,
    pub(crate) tls: TlsFiles,
    #[serde(default)]
    pub(crate) limits: ServerLimits,
    gateways: Vec<GatewayConfig>,
}

/// One `[[kmip.gateways]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayConfig {
    identity: String,
    tenants: Vec<String>,
}

fn default_identity_source() -> IdentitySource {
    IdentitySource::CommonName
}

/// The gateways the core serves, each with the tenants it may act for. Each set is shared, so
/// a request holds its gateway's tenants while a reload replaces the table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gateways(HashMap<String, Arc<HashSet<TenantId>>>);

impl Gateways {
    /// The tenants the gateway known as `identity` may act for; `None` if it is no gateway.
    pub(crate) fn tenants(&self, identity: &str) -> Option<&Arc<HashSet<TenantId>>> {
        self.0.get(identity)
    }
}

impl KmipConfig {
    /// Checks paths, names and bounds, and builds the gateway table.
    pub(crate) fn validate(&self) -> Result<Gateways, ConfigError> {
        for (key, path) in [
            ("kmip.tls.cert_chain", &self.tls.cert_chain),
            ("kmip.tls.private_key", &self.tls.private_key),
            ("kmip.tls.client_ca", &self.tls.client_ca),
        ] {
            require_absolute(key, path)?;
        }
        if self.gateways.is_empty() || self.gateways.len() > MAX_GATEWAYS {
            return Err(ConfigError::Gateways(format!(
                "kmip.gateways must list 1 to {MAX_GATEWAYS} gateways"
            )));
        }
        let mut gateways = HashMap::new();
        for gateway in &self.gateways {
            let tenants = gateway
                .tenants
                .iter()
                .map(|tenant| {
                    TenantId::new(tenant.as_str()).map_err(|error| {
                        ConfigError::Gateways(format!(
                            "gateway {:?}: tenant {tenant:?}: {error}",
                            gateway.identity
                        ))
                    })
                })
                .collect::<Result<HashSet<_>, _>>()?;
            if gateways
                .insert(gateway.identity.clone(), Arc::new(tenants))
                .is_some()
            {
                return Err(ConfigError::Gateways(format!(
                    "gateway {:?} is listed twice",
                    gateway.identity
                )));
            }
        }
        Ok(Gateways(gateways))
    }
}
