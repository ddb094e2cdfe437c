//! krypton-core: the sealed appliance process.
//!
//! Reads its configuration, hardens the process before any secret can reach it, opens the
//! store sealed and serves the control API until SIGTERM or SIGINT, then zeroizes its keys.
//! SIGHUP reads the configuration again and applies the KMIP listener's TLS files and gateways.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use krypton_core::{
    Config, DEFAULT_CONFIG_PATH, Daemon, ErrorChain, StartError, copy_store, restore,
};
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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rebuild a store from a backup (`kryptonctl backup`), offline, into an empty or absent
    /// directory; then point `data_dir` at it and unseal with the same shares (or seal HSM key).
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The directory to rebuild the store in: absent or empty.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Work on a store offline (no core may be using it).
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Copy every record, as it is stored, from the store one configuration names into the
    /// store another names (RocksDB to PostgreSQL, or back), then read both back and compare.
    /// Resumes after the last record the target already holds.
    Copy {
        /// The configuration whose `data_dir` and `[store]` name the source.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// The configuration whose `data_dir` and `[store]` name the target.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    krypton_service::init_logging();
    match &args.command {
        Some(Command::Restore { file, data_dir }) => return restore_backup(file, data_dir),
        Some(Command::Store(StoreCommand::Copy { from, to })) => return store_copy(from, to),
        None => {}
    }
    let Err(error) = run(&args) else {
        return ExitCode::SUCCESS;
    };
    tracing::error!(error = %ErrorChain(&error), "krypton-core stopped on an error");
    ExitCode::FAILURE
}

fn restore_backup(file: &Path, data_dir: &Path) -> ExitCode {
    umask(Mode::from_bits_truncate(0o077));
    match restore(file, data_dir) {
        Ok(header) => {
            println!(
                "restored into {}: key set {}, {} seal, backup taken at {} (Unix time); unseal it with that key set's shares or seal key",
                data_dir.display(),
                header.key_set,
                header.seal,
                header.created_unix_secs
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("krypton-core restore: {}", ErrorChain(&error));
            ExitCode::FAILURE
        }
    }
}

fn store_copy(from: &Path, to: &Path) -> ExitCode {
    umask(Mode::from_bits_truncate(0o077));
    let copied = Config::load(from)
        .map_err(StartError::from)
        .and_then(|from| Ok((from, Config::load(to)?)))
        .and_then(|(from, to)| Ok(copy_store(&from, &to)?));
    match copied {
        Ok(report) => {
            println!(
                "copied {} records; {} records verified equal in both stores",
                report.copied, report.verified
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("krypton-core store copy: {}", ErrorChain(&error));
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), StartError> {
    // Everything the core creates (database files, the control socket) is for its owner
    // alone. Set before any thread exists, so no file is ever created under a wider mask.
    umask(Mode::from_bits_truncate(0o077));
    let config = Config::load(&args.config)?;
    let hardening = harden_process(config.hardening()).map_err(StartError::Hardening)?;
    krypton_service::log_hardening!(hardening);
    // The runtime's threads start only here, after the process is hardened.
    serve(|shutdown| async move { Daemon::new(config, args.config.clone()).run(shutdown).await })
}
