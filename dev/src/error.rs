//! The one error type of krypton-dev.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why bringing up, running or stopping the dev stack failed.
///
/// The caller's misuse (an unusable data dir or binary directory), faults of the parts it runs
/// (a process that exits or never becomes ready, a kryptonctl command that fails) and faults of
/// this machine (I/O, PKCS#11) are separate variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Caller misuse: the data dir holds something this run cannot continue from.
    #[error("{path}: {what} (start again with --fresh)")]
    Inconsistent { path: PathBuf, what: &'static str },
    /// Caller misuse: the data dir is a directory that krypton-dev did not make, which it
    /// neither fills nor deletes.
    #[error(
        "{0}: not a krypton-dev data dir (not empty, and not made by krypton-dev); choose another --data-dir"
    )]
    NotDevData(PathBuf),
    /// Caller misuse: a program to run is not where it is looked for.
    #[error("{0}: not found (build it with `cargo build --bins`, or pass --bin-dir)")]
    MissingBinary(PathBuf),
    /// Caller misuse: a program or library of a system package is not installed.
    #[error(
        "{path}: not found (install the Debian package {package}; scripts/install-deps.sh does)"
    )]
    MissingPackage {
        path: PathBuf,
        package: &'static str,
    },
    /// A file or directory operation failed.
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A process could not be started, waited for or signalled.
    #[error("cannot {action} {program}")]
    Process {
        action: &'static str,
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// No free loopback port could be reserved.
    #[error("cannot find a free loopback port")]
    NoFreePort(#[source] std::io::Error),
    /// A certificate could not be made.
    #[error("cannot make the dev PKI")]
    Pki(#[source] rcgen::Error),
    /// The SoftHSM2 token could not be prepared.
    #[error("cannot prepare the SoftHSM2 token")]
    SoftHsm(#[from] crate::softhsm::Error),
    /// A configuration file could not be rendered.
    #[error("cannot render {file}")]
    Config {
        file: &'static str,
        #[source]
        source: toml::ser::Error,
    },
    /// A daemon exited while it should have been running.
    #[error("{name} exited ({status}); the end of its log {log}:\n{tail}")]
    Exited {
        name: &'static str,
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    /// A daemon did not become ready in time.
    #[error("{name} was not {what} within {waited:?}; the end of its log {log}:\n{tail}")]
    NotReady {
        name: &'static str,
        what: &'static str,
        waited: Duration,
        log: PathBuf,
        tail: String,
    },
    /// A private database server for the vault could not be set up.
    #[error("vault server: {0}")]
    VaultServer(String),
    /// The core's orchestration API could not be reached, or the broker could not be driven.
    #[error("orchestration: {0}")]
    Orchestration(String),
    /// The private message broker could not be set up, or a command to it failed.
    #[error("message broker: {0}")]
    Broker(String),
    /// A kryptonctl command did not finish in time (it was killed).
    #[error("`kryptonctl {command}` did not finish within {waited:?}")]
    CtlTimeout { command: String, waited: Duration },
    /// A kryptonctl command failed; `reason` and `message` are what it reported.
    #[error("`kryptonctl {command}` failed ({status}): {reason}: {message}")]
    Ctl {
        command: String,
        status: ExitStatus,
        reason: String,
        message: String,
    },
    /// kryptonctl printed something that is not the JSON it documents.
    #[error("`kryptonctl {command}` printed unexpected output: {output}")]
    CtlOutput { command: String, output: String },
}
