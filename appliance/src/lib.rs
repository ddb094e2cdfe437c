//! krypton-core: the sealed appliance that holds the middle of Krypton's key chain.
//!
//! It boots sealed, rebuilds its master key from K of N Shamir shares (or has an HSM open it:
//! the PKCS#11 seal), re-opens each linked
//! tenant's root key (L2) through the customer's HSM (L1), and wraps and unwraps data keys (L4)
//! for gateways under service keys (L3). L2 and L3 exist in plaintext only in locked, guarded
//! memory of this process.
//!
//! The crate builds the `krypton-core` process ([`Daemon`], configured by [`Config`]), which
//! serves the control API of `krypton-control-api` to operators' `kryptonctl` on an owner-only
//! Unix socket. Everything the core stores lives in one database (RocksDB in its data
//! directory, or PostgreSQL: [`StoreConfig`]), each value sealed under a key derived from the
//! master key; the master key itself exists only in guarded
//! memory, and only while the core is unsealed.

mod admitted;
mod audit;
mod backup;
mod caller;
mod config;
mod control;
mod core;
mod daemon;
mod doctor;
mod error;
mod hierarchy;
mod hsm;
mod hsm_seal;
mod installation;
mod kmip_service;
mod liveness;
mod master_key;
mod orchestration;
mod record_keys;
mod registry;
mod reload;
mod seal;
mod secret;
mod store;

pub use backup::{Header as BackupHeader, restore};
pub use config::{Config, DEFAULT_CONFIG_PATH};
pub use daemon::Daemon;
pub use error::{Bug, ConfigError, Error, ErrorChain, RequestError, ShareRefusal, StartError};
pub use hsm::{
    Hsm, HsmConfig, HsmConfigError, HsmError, InvalidIdentifier, L1Answer, L1Ref, Outage, Probe,
    Refusal, TenantId, WrappedL2, WrappedL2Error,
};
pub use hsm_seal::{Pkcs11Seal, SealConfig};
pub use liveness::LivenessConfig;
pub use secret::{SecretError, SecretKey, WhenIdle};
pub use store::column::Column;
pub use store::{
    ClientCertificate, CopyReport, PostgresStoreConfig, StoreConfig, StoreError, copy as copy_store,
};
