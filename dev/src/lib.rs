//! krypton-dev: Krypton on one machine for development and end-to-end tests.
//!
//! [`Stack`] brings up krypton-core and krypton-gateway from their binaries with a throw-away
//! PKI ([`pki`]) and a SoftHSM2 token holding the L1 ([`token`], [`softhsm`]): it writes both
//! configuration files, runs the unseal ceremony with kryptonctl (dev shares kept on disk, DEV
//! ONLY), links a tenant to the L1, creates a service L3, and starts the gateway in front. The
//! `krypton-dev` binary is that stack serving until Ctrl-C; tests start one per test on a
//! temporary directory and free ports.
//!
//! For tests of an HSM that stops answering, [`stall`] puts OpenSC's PKCS#11 spy in front of
//! SoftHSM2 and can block every call in the module until released.
//!
//! Private servers for what the appliance shares with others, each in a temporary directory of
//! its own and stopped when dropped: PostgreSQL and Redis for the shared vault
//! ([`vault_server`]), and RabbitMQ, the orchestration task broker ([`broker`]).

pub mod broker;
pub mod config;
pub mod core;
pub mod ctl;
mod error;
pub mod http;
pub mod orbital;
pub mod pki;
pub mod process;
pub mod softhsm;
pub mod stack;
pub mod stall;
pub mod token;
pub mod vault_server;

pub use error::Error;
pub use stack::{ExtraGateway, Stack, StackConfig, StackVault, Stopped};
