//! krypton-gateway: the KMIP front door.
//!
//! Reads its configuration, hardens the process before any key can reach it, opens the vault,
//! binds the KMIP listener and serves until SIGTERM or SIGINT, then lets requests in flight
//! finish. SIGHUP reads the configuration again and applies its identities and TLS files.
//!
//! `krypton-gateway vault copy --from A.toml --to B.toml` copies every record of one
//! configuration's vault into another's, and exits. `krypton-gateway check` checks the
//! installation (files, vault, core) and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use krypton_gateway::{Config, DEFAULT_CONFIG_PATH, Error, ErrorChain, Server, copy_between};
use krypton_service::daemon::serve;
use krypton_service::doctor;
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
    #[arg(long, global = true, value_name = "FILE", default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work on the vaults of gateway configurations, without serving.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Check this gateway's installation without serving, one line per check (ok, warn or
    /// FAIL): the configuration file, the TLS files' permissions and certificates' dates, the
    /// vault's password file, the vault reachable (one read; a RocksDB vault is only looked
    /// at, its gateway holds it) and the core reachable over mutual TLS. Exits 1 when a check
    /// fails. The core's side: `kryptonctl doctor` on the core's host.
    Check {
        /// Print one JSON document instead of lines.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum VaultCommand {
    /// Copy every record of one configuration's [vault] into another's, then read each back
    /// to verify it. Records stay wrapped; one the target has already is compared and left,
    /// so an interrupted copy is run again to resume. Stop gateways on a RocksDB vault first.
    Copy {
        /// The configuration whose vault is read.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// The configuration whose vault is written.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match &args.command {
        Some(Command::Vault(VaultCommand::Copy { from, to })) => return vault_copy(from, to),
        Some(Command::Check { json }) => return check(&args.config, *json),
        None => {}
    }
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

/// `check`: the findings on stdout; exit status 1 if one failed (or the checks could not run).
fn check(config: &std::path::Path, json: bool) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("krypton-gateway check: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let findings = runtime.block_on(krypton_gateway::check(config));
    match doctor::print(&findings, json) {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// `vault copy`: one line on stdout when done, one on stderr and exit status 1 when not.
fn vault_copy(from: &std::path::Path, to: &std::path::Path) -> ExitCode {
    let copied = (|| {
        let (from, to) = (Config::load(from)?, Config::load(to)?);
        let runtime = tokio::runtime::Runtime::new().map_err(|source| Error::Io {
            context: "starting the async runtime",
            source,
        })?;
        runtime
            .block_on(copy_between(from.vault(), to.vault()))
            .map_err(Error::from)
    })();
    match copied {
        Ok(report) => {
            println!(
                "vault copied: {} records written, {} already there, {} verified",
                report.copied, report.present, report.verified
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("krypton-gateway vault copy: {}", ErrorChain(&error));
            ExitCode::FAILURE
        }
    }
}
