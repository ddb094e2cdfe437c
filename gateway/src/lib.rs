//! krypton-gateway: Krypton's KMIP front door, next to the applications.
//!
//! Applications speak standard KMIP (1.0–1.4, 2.0, 2.1) over mutual TLS; each is known by a
//! name in its client certificate, which the configuration maps to a tenant and a service. The
//! gateway owns the application's data keys (L4): it generates them, has krypton-core wrap them
//! under the service's key (L3), keeps only the wrapped blobs and their metadata in its
//! pluggable [`Vault`], and has the core unwrap them on Get. Lifecycle and attribute operations
//! on its keys are local and keep working while the core is away; Create and Get fail closed.
//! Destroy is crypto-shredding: the core is told, at once or as soon as it is back, never to
//! unwrap the key's blob again.
//! Everything else is forwarded to the core on the application's behalf, with its identity
//! conveyed in a delegated credential.
//!
//! The crate builds the `krypton-gateway` program: [`Config`] read from a TOML file, a
//! [`Server`] bound from it, run until SIGTERM or SIGINT.

mod audit;
mod cbor;
mod check;
mod config;
mod copy;
mod core_link;
mod error;
mod forward;
mod health;
mod operations;
mod principal;
mod rewrap;
mod server;
mod service;
mod shredding;
mod vault;

// The KMIP object rules the gateway shares with krypton-core, under the names its modules use.
use kmip::objects::{attribute_policy, lifecycle, metadata, refusal};

pub use check::check;
pub use config::{
    ClientCertificate, Config, CoreConfig, DEFAULT_CONFIG_PATH, KMIP_PORT, KeyLimits, RewrapConfig,
    ServerVaultConfig, VaultConfig,
};
pub use copy::{CopyError, CopyReport, copy, copy_between};
pub use core_link::{CoreError, CoreLink};
pub use error::{ConfigError, Error, ErrorChain};
pub use forward::delegated;
pub use metadata::Metadata;
pub use principal::{L3Ref, Principal, Tenancy};
pub use server::Server;
pub use service::Gateway;
pub use vault::{
    Filter, Found, MemoryVault, Metered, PostgresVault, Record, RedisVault, RocksDbVault,
    ScanCursor, ScanPage, ShredNotice, Vault, VaultError, WrappedKey,
};
