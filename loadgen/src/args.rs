//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kmip::ProtocolVersion;

/// A closed-loop KMIP load generator over mutual TLS.
///
/// Each of `--connections` connections runs the workload back to back for `--duration`; set-up
/// (connecting, and the keys `get` reads: all connections make theirs together) is not
/// measured. One operation is one run of the
/// workload: `create-get` and `lifecycle` take several requests each.
#[derive(Debug, Parser)]
#[command(name = "krypton-load", version)]
pub struct Args {
    /// The server, `host:port`.
    #[arg(long, default_value = "127.0.0.1:5696")]
    pub address: String,
    /// The name the server's certificate must carry.
    #[arg(long, default_value = "localhost")]
    pub server_name: String,
    /// The client certificate (PEM; the identity the server sees).
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The CA certificate(s) the server's certificate must chain to (PEM).
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
    /// What each connection does.
    #[arg(long, value_enum, default_value_t = Workload::Get)]
    pub workload: Workload,
    /// Concurrent connections, each one client in a closed loop.
    #[arg(long, short = 'c', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub connections: u16,
    /// How long to run, e.g. `10s`, `1m`.
    #[arg(long, short = 'd', default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The KMIP version of the requests.
    #[arg(long, default_value = "1.4", value_parser = parse_version)]
    pub kmip_version: ProtocolVersion,
    /// The longest one request may take before it counts as failed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Keys `get` reads, made at set-up and shared out among the connections, each reading its
    /// own in turn (1 to 10,000,000; default: one per connection). A million of them read over
    /// is how the servers' memory is measured against a full vault.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub keys: Option<u32>,
    /// Bytes each `encrypt`, `mac` or `sign` request carries (1 to 65,536).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub data_size: u32,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The keys `get` reads: `--keys`, or one per connection.
    pub fn get_keys(&self) -> u32 {
        self.keys.unwrap_or(u32::from(self.connections))
    }
}

/// The unit of work a connection repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Create an AES-256 key.
    Create,
    /// Get a key created during set-up (one per connection, or `--keys` in all).
    Get,
    /// Create an AES-256 key, then Get it.
    CreateGet,
    /// Create, Activate, Get, Revoke (cessation of operation), Destroy.
    Lifecycle,
    /// Query the server's operations and object types: needs no key and no core.
    Query,
    /// Locate by a name no key has: the search without the transfer.
    Locate,
    /// Encrypt `--data-size` bytes with AES-256-GCM under a key made at set-up: server-side
    /// cryptography, the key unwrapped by the core for each request.
    Encrypt,
    /// HMAC-SHA256 of `--data-size` bytes under a key made at set-up.
    Mac,
    /// Sign `--data-size` bytes with ECDSA P-256 (SHA-256) under a key pair made at set-up.
    Sign,
}

impl Workload {
    /// Whether its requests carry `--data-size` bytes of data.
    pub fn carries_data(self) -> bool {
        matches!(self, Self::Encrypt | Self::Mac | Self::Sign)
    }

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Get => "get",
            Self::CreateGet => "create-get",
            Self::Lifecycle => "lifecycle",
            Self::Query => "query",
            Self::Locate => "locate",
            Self::Encrypt => "encrypt",
            Self::Mac => "mac",
            Self::Sign => "sign",
        }
    }
}

fn parse_version(text: &str) -> Result<ProtocolVersion, String> {
    let supported = [
        ProtocolVersion::V1_0,
        ProtocolVersion::V1_1,
        ProtocolVersion::V1_2,
        ProtocolVersion::V1_3,
        ProtocolVersion::V1_4,
        ProtocolVersion::V2_0,
        ProtocolVersion::V2_1,
    ];
    supported
        .into_iter()
        .find(|version| version.to_string() == text)
        .ok_or_else(|| format!("{text:?} is not a KMIP version (1.0 to 1.4, 2.0, 2.1)"))
}
