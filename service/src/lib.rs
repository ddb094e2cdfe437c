//! What krypton-core and krypton-gateway need from the service manager that runs them, and the
//! start-up both daemons share: their configuration file and the shell of their `main`.
//!
//! - [`init_logging`]: structured records to the systemd journal when the process's stderr is
//!   the journal (it runs as a systemd service), human-readable lines on stderr otherwise.
//! - [`notify`]: readiness, status and shutdown reports to systemd (`Type=notify`). Outside
//!   systemd (no `NOTIFY_SOCKET`) they do nothing.
//! - [`config`]: the configuration file read within a bound and parsed as TOML, and the checks
//!   its values share (a number in range, an absolute path), naming the file or the key.
//! - [`hardening`]: what each daemon does to its process before anything else: no core dumps,
//!   not traceable, memory locked out of swap ([`log_hardening!`] reports it).
//! - [`daemon`]: the shell of `main`: the async runtime, and SIGTERM and SIGINT as the
//!   shutdown signal.
//! - [`telemetry`]: Prometheus metrics, liveness and readiness over HTTP on a listener of
//!   their own, when configured.
//! - [`tls_accept`]: the accept loop of a TLS-only listener (orchestration, telemetry with TLS):
//!   handshakes on their own tasks, bounded in time and number.
//! - [`doctor`]: the findings of `kryptonctl doctor` and `krypton-gateway check`, and the
//!   checks of files both daemons share (secrets' access, certificates' dates).
//! - [`audit`]: the audit trail as both daemons export it: JSON lines in a rotated file and
//!   journal fields.
//! - [`postgres`]: a PostgreSQL connection pool set up as both daemons need one (TLS or
//!   loopback, password from a file, synchronous commit, bounded sessions) and a versioned schema.
//! - [`rocks`]: RocksDB opened as both daemons need it (the core's store, the gateway's vault):
//!   replayed to the last acknowledged write, within a fixed memory budget.
//! - [`ErrorChain`]: an error and its causes on one line, as the daemons log them.

use std::io::{self, IsTerminal};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub mod audit;
pub mod config;
pub mod daemon;
pub mod doctor;
mod error_chain;
pub mod hardening;
pub mod notify;
pub mod postgres;
pub mod rocks;
pub mod secret_file;
pub mod telemetry;
pub mod tls_accept;

pub use error_chain::ErrorChain;

/// The environment variable that sets the log filter (`debug`, `krypton_core=trace`, ...).
pub const LOG_FILTER_VAR: &str = "KRYPTON_LOG";

/// The variable systemd sets to `<device>:<inode>` of the journal stream it connected to the
/// service's stdout and stderr.
const JOURNAL_STREAM_VAR: &str = "JOURNAL_STREAM";

/// Where [`init_logging`] sent the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// The systemd journal, one entry per event with its fields as journal fields.
    Journal,
    /// Formatted lines on stderr.
    Stderr,
}

/// Installs the process's global subscriber, filtered by [`LOG_FILTER_VAR`] (default `info`).
///
/// Journal entries keep each event's fields as separate journal fields (`F_ERROR=`,
/// `F_SOCKET=`, ...) so they can be matched with `journalctl F_SOCKET=...`. Call once, first
/// thing in `main`.
pub fn init_logging() -> LogTarget {
    let filter = EnvFilter::try_from_env(LOG_FILTER_VAR).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    if stderr_is_journal() {
        // The journal socket can be missing even under systemd (e.g. a minimal container):
        // then the stream on stderr still reaches the journal, as plain lines.
        if let Ok(journal) = tracing_journald::layer() {
            registry.with(journal).init();
            return LogTarget::Journal;
        }
    }
    registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(io::stderr)
                // Colour for a terminal only: under a redirect, plain text.
                .with_ansi(io::stderr().is_terminal()),
        )
        .init();
    LogTarget::Stderr
}

/// Whether stderr is the stream systemd connected to the journal. `JOURNAL_STREAM` alone is not
/// enough: a child started from a service inherits the variable with another stderr.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os(JOURNAL_STREAM_VAR) else {
        return false;
    };
    let Some((device, inode)) = stream.to_str().and_then(|value| value.split_once(':')) else {
        return false;
    };
    let Ok(stderr) = io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(metadata) = std::fs::File::from(stderr).metadata() else {
        return false;
    };
    device.parse() == Ok(metadata.dev()) && inode.parse() == Ok(metadata.ino())
}
