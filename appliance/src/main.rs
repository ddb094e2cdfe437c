//! krypton-core: the sealed appliance process.
//!
//! Reads its configuration, hardens the process before any secret can reach it, opens the
//! store sealed and serves the control API until SIGTERM or SIGINT, then zeroizes its keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use krypton_core::{Config, DEFAULT_CONFIG_PATH, Daemon, ErrorChain, StartError};
use krypton_service::daemon::serve;
use krypton_service::hardening::harden_process;
use nix::sys::stat::{Mode, umask};

/// The Krypton core: holds the master key and tenant keys, sealed until K operators unseal it.
///
/// Logs go to the systemd journal when run as a systemd service, to stderr otherwise; set
/// KRYPTON_LOG (e.g. `debug`, `krypton_core=trace`) to change the level.
#[derive(Debug, Parser)]
#[command(name = "krypton-core", version)]
struct Args {
    /// The configuration file.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    krypton_service::init_logging();
    let Err(error) = run(&args) else {
        return ExitCode::SUCCESS;
    };
    tracing::error!(error = %ErrorChain(&error), "krypton-core stopped on an error");
    ExitCode::FAILURE
}

fn run(args: &Args) -> Result<(), StartError> {
    // Everything the core creates (database files, the control socket) is for its owner
    // alone. Set before any thread exists, so no file is ever created under a wider mask.
    umask(Mode::from_bits_truncate(0o077));
    let config = Config::load(&args.config)?;
    let hardening = harden_process(config.hardening()).map_err(StartError::Hardening)?;
    krypton_service::log_hardening!(hardening);
    // The runtime's threads start only here, after the process is hardened.
    serve(|shutdown| async move { Daemon::new(config).run(shutdown).await })
}
