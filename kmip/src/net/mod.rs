//! KMIP over mutual TLS: the transport krypton-core and krypton-gateway share (feature `net`).
//!
//! The server side is [`serve`]: it accepts TLS 1.2 and 1.3 connections from clients whose
//! certificate chains to a configured CA, reads each client's [`PeerIdentity`] from that
//! certificate, and hands every decoded request to a [`Service`]. Every wait and size is bounded
//! by [`ServerLimits`]; a peer that sends garbage, stalls or never leaves costs one connection
//! slot for a bounded time and never disturbs another connection.
//!
//! The client side is [`Client`], one connection with per-request timeouts, and [`Pool`], a
//! bounded set of persistent connections to one server. TLS configuration for both sides is
//! built from PEM files by [`server_config`] and [`client_config`].
//!
//! Framing and TTLV come from the codec ([`FrameReader`](crate::FrameReader),
//! [`FrameWriter`](crate::FrameWriter)); this module adds only sockets, TLS and time.

mod admission;
mod client;
mod connection;
mod error;
mod identity;
mod limits;
mod pool;
mod reload;
mod revocation;
mod server;
mod service;
mod tls;

pub use client::Client;
pub use error::NetError;
pub use identity::{IdentitySource, PeerIdentity};
pub use limits::{ClientLimits, ServerLimits, humantime_duration};
pub use pool::Pool;
pub use reload::{TlsReload, TlsSource};
pub use server::{DEFAULT_PORT, serve};
pub use service::Service;
pub use tls::{ClientTlsFiles, TlsFiles, client_config, server_config, server_verifying_config};
