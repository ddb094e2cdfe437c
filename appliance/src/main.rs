//! krypton-core: the sealed appliance process.
//!
//! Reads its configuration, hardens the process before any secret can reach it, opens the
//! store sealed and serves the control API until SIGTERM or SIGINT, then zeroizes its keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use krypton_core::{
    Config, DEFAULT_CONFIG_PATH, Daemon, Error, ErrorChain, Hardening, harden_process,
};
use nix::sys::stat::{Mode, umask};
use tokio::signal::unix::{SignalKind, signal};

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
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %ErrorChain(&error), "krypton-core stopped on an error");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Error> {
    // Everything the core creates (database files, the control socket) is for its owner
    // alone. Set before any thread exists, so no file is ever created under a wider mask.
    umask(Mode::from_bits_truncate(0o077));
    let config = Config::load(&args.config)?;
    let hardening = harden_process(Hardening {
        allow_unlocked_memory: config.allow_unlocked_memory(),
    })
    .map_err(Error::Hardening)?;
    match &hardening.unlocked_memory {
        None => tracing::info!("process hardened: no core dumps, memory locked"),
        Some(error) => tracing::warn!(
            error = %ErrorChain(error),
            "memory is NOT locked (allowed by [hardening] allow_unlocked_memory): keys may reach swap"
        ),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            context: "starting the async runtime",
            source,
        })?;
    runtime.block_on(async move {
        let shutdown = shutdown_signal()?;
        Daemon::open(config)?.run(shutdown).await
    })
}

/// Completes on the first SIGTERM or SIGINT, once systemd has been told the core is stopping.
fn shutdown_signal() -> Result<impl Future<Output = ()>, Error> {
    let io = |source| Error::Io {
        context: "installing signal handlers",
        source,
    };
    let mut terminate = signal(SignalKind::terminate()).map_err(io)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(io)?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down");
        krypton_service::notify::stopping();
    })
}
