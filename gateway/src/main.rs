//! krypton-gateway: the KMIP front door.
//!
//! Reads its configuration, hardens the process before any key can reach it, opens the vault,
//! binds the KMIP listener and serves until SIGTERM or SIGINT, then lets requests in flight
//! finish. SIGHUP reads the configuration again and applies its identities and TLS files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use krypton_gateway::{Config, DEFAULT_CONFIG_PATH, Error, ErrorChain, Server};
use krypton_service::daemon::serve;
use krypton_service::hardening::harden_process;

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
    let Err(error) = run(&args) else {
        return ExitCode::SUCCESS;
    };
    tracing::error!(error = %ErrorChain(&error), "krypton-gateway stopped on an error");
    ExitCode::FAILURE
}

fn run(args: &Args) -> Result<(), Error> {
    let config = Config::load(&args.config)?;
    // Plaintext data keys pass through this process on every Create and Get.
    let hardening = harden_process(config.hardening()).map_err(Error::Hardening)?;
    krypton_service::log_hardening!(hardening);
    // The runtime's threads start only here, after the process is hardened.
    serve(|shutdown| async move {
        let server = Server::bind(&config)
            .await?
            .reload_on_sighup(args.config.clone())?;
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
