//! The control API's server side: the service over the appliance, its errors as gRPC statuses,
//! the owner-only Unix socket it is served on, and what a standby answers on it.
//!
//! The API itself (its `.proto`, the generated messages, client and server) is
//! `krypton-control-api`'s, shared with `kryptonctl`.

pub(crate) mod connections;
mod errors;
pub(crate) use errors::{error_reason, remote_message};
pub(crate) mod service;
pub(crate) mod socket;
pub(crate) mod standby;

pub(crate) use krypton_control_api::v1;
