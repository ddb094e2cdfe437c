//! The one error type of [`kmip::net`](crate::net).
//!
//! Variants fall in four groups, kept apart so callers can answer each correctly:
//!
//! * **Configuration** (the operator's files and settings): every variant names the file at
//!   fault, so a start-up failure says which path to fix.
//! * **Peer identity** (a client certificate that passed verification but carries no usable
//!   identity): the variant names the identity source that was looked for.
//! * **The remote peer** (a server that is down, slow, or answers with bytes that are not KMIP):
//!   these poison a [`Client`](crate::net::Client), which must then be dropped.
//! * **Caller misuse and internal faults**: a poisoned client called again, a server
//!   configuration without client authentication, a TLS set-up rustls refuses.
//!
//! TTLV faults keep their [`crate::Error`] as source, I/O faults their [`std::io::Error`].

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use rustls::server::VerifierBuilderError;
use rustls_pki_types::InvalidDnsNameError;
use x509_parser::error::X509Error;

use crate::net::identity::IdentitySource;

/// Everything that can go wrong while configuring TLS, identifying a peer, or exchanging KMIP
/// messages over the network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    // ---- Configuration ------------------------------------------------------------------------
    /// A certificate, key or CA file cannot be read.
    #[error("cannot read {}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A certificate, key or CA file is larger than any PEM file of its kind can be.
    #[error("{} is larger than {limit} bytes", path.display())]
    FileTooLarge { path: PathBuf, limit: u64 },

    /// A file is not valid PEM.
    #[error("{} is not valid PEM", path.display())]
    Pem {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },

    /// A file holds no PEM section of the kind expected there (`expected` names it).
    #[error("{} holds no {expected}", path.display())]
    NoPemItem {
        path: PathBuf,
        expected: &'static str,
    },

    /// A CA file holds a certificate that cannot serve as a trust anchor.
    #[error("{} holds a certificate that cannot be a trust anchor", path.display())]
    InvalidCa {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },

    /// The client CA bundle cannot be used to verify client certificates.
    #[error("client CA bundle {} is unusable", path.display())]
    ClientVerifier {
        path: PathBuf,
        #[source]
        source: VerifierBuilderError,
    },

    /// The private key does not match the certificate chain, or is of a kind TLS cannot use.
    #[error(
        "private key {} does not fit certificate chain {}",
        private_key.display(),
        cert_chain.display()
    )]
    KeyMismatch {
        cert_chain: PathBuf,
        private_key: PathBuf,
        #[source]
        source: rustls::Error,
    },

    /// A server name to verify the server's certificate against is not a DNS name or IP address.
    #[error("{name:?} is not a valid TLS server name")]
    InvalidServerName {
        name: String,
        #[source]
        source: InvalidDnsNameError,
    },

    // ---- Peer identity ------------------------------------------------------------------------
    /// The verified client certificate is not X.509 this parser understands.
    #[error("client certificate cannot be parsed")]
    Certificate(#[source] X509Error),

    /// The client certificate has no value of the configured identity source.
    #[error("client certificate has no {0}")]
    IdentityMissing(IdentitySource),

    /// The client certificate has several values of the configured identity source. Access
    /// decisions are keyed on one name, so none is picked: which one came first is up to
    /// whoever issued the certificate.
    #[error("client certificate has {count} values of {from}, so its identity is ambiguous")]
    IdentityAmbiguous { from: IdentitySource, count: usize },

    /// The identity value cannot name a peer in logs and access decisions.
    #[error("client certificate's {from} cannot serve as an identity: {reason}")]
    IdentityInvalid {
        from: IdentitySource,
        reason: &'static str,
    },

    /// The client certificate's identity is not one the service serves (say, an application
    /// not configured at the gateway, or a client that is no gateway at the core).
    #[error("client certificate identity {identity:?} is not configured on this server")]
    NotAdmitted { identity: String },

    // ---- The remote peer ----------------------------------------------------------------------
    /// The TCP connection to the server could not be opened (refused, unreachable, name not
    /// resolved): the server is down or the address is wrong.
    #[error("cannot connect to {addr}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },

    /// The TLS handshake with the server failed: certificate not trusted, or our own refused.
    #[error("TLS handshake with {addr} failed")]
    Handshake {
        addr: String,
        #[source]
        source: io::Error,
    },

    /// Connecting and the TLS handshake together took longer than the connect timeout.
    #[error("connecting to {addr} took longer than {after:?}")]
    ConnectTimeout { addr: String, after: Duration },

    /// The server did not answer within the request timeout.
    #[error("no response within {after:?}")]
    RequestTimeout { after: Duration },

    /// Every pooled connection stayed busy for longer than the request timeout.
    #[error("no pooled connection became free within {after:?}")]
    PoolBusy { after: Duration },

    /// The server closed the connection instead of answering.
    #[error("the server closed the connection without answering")]
    Closed,

    /// Writing the request or reading the response failed: an I/O error, or a response that is
    /// not valid TTLV.
    #[error("KMIP exchange failed")]
    Transport(#[from] crate::Error),

    // ---- Caller misuse ------------------------------------------------------------------------
    /// The connection failed earlier and its stream position is lost; open a new one.
    #[error("connection is unusable after an earlier failure")]
    Poisoned,

    /// The TLS server let a client in without a certificate: its configuration does not require
    /// client authentication, which [`server_config`](crate::net::server_config) always does.
    #[error("TLS server configuration admits clients without a certificate")]
    NoClientCertificate,

    // ---- Internal ------------------------------------------------------------------------------
    /// rustls refused the fixed protocol versions and provider this crate configures: a bug
    /// here, never a fault of the operator's files.
    #[error("TLS library refused the protocol configuration")]
    TlsSetup(#[source] rustls::Error),
}
