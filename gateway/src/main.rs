//! krypton-gateway: the KMIP front door.
//!
//! Reads its configuration, opens the vault, binds the KMIP listener and serves until SIGTERM
//! or SIGINT, then lets requests in flight finish.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use krypton_gateway::{Config, DEFAULT_CONFIG_PATH, Error, ErrorChain, Server};
use tokio::signal::unix::{SignalKind, signal};

/// The Krypton gateway: serves KMIP to applications over mutual TLS, keeps their data keys
/// wrapped by krypton-core, and forwards everything else to the core.
///
/// Logs go to the systemd journal when run as a systemd service, to stderr otherwise; set
/// KRYPTON_LOG (e.g. `debug`, `krypton_gateway=trace`) to change the level.
#[derive(Debug, Parser)]
#[command(name = "krypton-gateway", version)]
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
            tracing::error!(error = %ErrorChain(&error), "krypton-gateway stopped on an error");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Error> {
    let config = Config::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            context: "starting the async runtime",
            source,
        })?;
    runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        let server = Server::bind(&config).await?;
        tracing::info!(
            address = ?server.local_addr().ok(),
            vault = ?config.vault(),
            core = %config.core().address,
            "krypton-gateway serving"
        );
        krypton_service::notify::ready("serving");
        server.run(shutdown).await;
        tracing::info!("krypton-gateway stopped");
        Ok(())
    })
}

/// Completes on the first SIGTERM or SIGINT, once systemd has been told the gateway is stopping.
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
