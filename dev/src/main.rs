//! krypton-dev: runs Krypton on this machine for development, until Ctrl-C.
//!
//! Everything is kept in the data dir: a throw-away PKI, a SoftHSM2 token with the L1, the
//! core's store, the dev unseal shares (DEV ONLY), the gateway's vault and both logs.

use std::error::Error as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use krypton_dev::broker::RabbitServer;
use krypton_dev::config::{CoreStore, Password};
use krypton_dev::core::{Ceremony, Core};
use krypton_dev::ctl::CoreState;
use krypton_dev::stack::{claim_data_dir, wipe_data_dir};
use krypton_dev::vault_server::{AppendFsync, PostgresServer, RedisServer};
use krypton_dev::{Error, ExtraGateway, Stack, StackConfig, StackVault, orbital, token};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Runs krypton-core and krypton-gateway on this machine with a throw-away PKI, SoftHSM2 token
/// and unseal shares (DEV ONLY), and serves KMIP to applications until Ctrl-C or SIGTERM.
///
/// A later run reuses the data dir: the core starts sealed and is unsealed with the saved
/// shares, and the keys made earlier are still there.
#[derive(Debug, Parser)]
#[command(name = "krypton-dev", version)]
struct Args {
    /// Where everything is kept.
    #[arg(long, value_name = "DIR", default_value = "dev-data")]
    data_dir: PathBuf,
    /// Delete the data dir of an earlier run and start from scratch.
    #[arg(long)]
    fresh: bool,
    /// Where krypton-core, kryptonctl and krypton-gateway are [default: next to krypton-dev].
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// The gateway's KMIP listener for applications.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5696")]
    listen: SocketAddr,
    /// The core's KMIP listener for the gateway.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5697")]
    core_listen: SocketAddr,
    /// Where the gateway keeps its keys: RocksDB in the data dir, or a private PostgreSQL or
    /// Redis server started for this run (its keys are gone when the run ends).
    #[arg(long, value_enum, default_value = "rocksdb")]
    vault: VaultKind,
    /// Where the core keeps its sealed records: RocksDB in the data dir, or a private
    /// PostgreSQL server started for this run (shared with `--vault postgres`). Its records are
    /// gone when the run ends, so a PostgreSQL store starts the run fresh.
    #[arg(long, value_enum, default_value = "rocksdb")]
    core_store: CoreStoreKind,
    /// Also run a second gateway on the same core and vault, for applications at ADDR (only
    /// with `--vault postgres` or `--vault redis`: a RocksDB vault belongs to one process).
    #[arg(long, value_name = "ADDR")]
    second_gateway: Option<SocketAddr>,
    /// Also run a second core, following the first on their PostgreSQL store and serving
    /// wraps and unwraps with it, its KMIP listener for the gateway at ADDR (implies
    /// `--core-store postgres`; the gateway spreads its data path over both cores).
    #[arg(long, value_name = "ADDR")]
    follower: Option<SocketAddr>,
    /// Run both daemons without `[telemetry]` (to measure what metrics cost).
    #[arg(long)]
    no_telemetry: bool,
    /// Run both daemons with `[audit] data_path = false` and no JSON-lines file (to measure
    /// what the data path's audit costs); control operations are audited still.
    #[arg(long)]
    no_data_audit: bool,
    /// Play the governance plane: the core serves its orchestration API (gRPC, mutual TLS)
    /// and takes tasks from a private RabbitMQ broker started for this run.
    #[arg(long)]
    orbital: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Publishes one orchestration task to the broker of a running `--orbital` dev run (UNLINK_KEY
    /// on the unlink lane, the others on the task queue) and prints the core's result.
    Task {
        /// The task, as JSON: e.g. '{"type":"UNLINK_KEY","task_id":"t1","tenant":"demo"}'.
        json: String,
    },
}

/// The gateway's vault backend in a dev run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum VaultKind {
    Rocksdb,
    Postgres,
    Redis,
}

/// The core's store backend in a dev run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CoreStoreKind {
    Rocksdb,
    Postgres,
}

/// The name of `--second-gateway`'s configuration and log.
const SECOND_GATEWAY: &str = "gateway-2";
/// The name of `--follower`'s configuration and log.
const FOLLOWER: &str = "core-2";

/// How long the following core may take to re-open the tenant after its unseal.
const FOLLOWER_OPEN_LIMIT: Duration = Duration::from_secs(60);

/// How often the running processes are checked while serving.
const HEALTH_CHECK: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("krypton-dev: {}", chain(&error));
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, Error> {
    let data_dir = std::path::absolute(&args.data_dir).map_err(|source| Error::Io {
        action: "resolve",
        path: args.data_dir.clone(),
        source,
    })?;
    if let Some(Command::Task { json }) = &args.command {
        let result = orbital::publish_task(&data_dir, json)?;
        println!("{result}");
        return Ok(ExitCode::SUCCESS);
    }
    // A core store on this run's PostgreSQL server is gone when the run ends: so are the
    // shares and the vault's keys that went with it.
    let core_store_kind = match args.follower {
        Some(_) => CoreStoreKind::Postgres,
        None => args.core_store,
    };
    if args.fresh || core_store_kind == CoreStoreKind::Postgres {
        wipe_data_dir(&data_dir)?;
    }
    claim_data_dir(&data_dir)?;
    // SAFETY: no thread has been started yet.
    let hsm = unsafe { token::prepare(&data_dir.join("softhsm")) }?;
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => own_dir()?,
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| process_error("start the async runtime", source))?;
    let _context = runtime.enter();
    // Installed before the stack starts, so that a Ctrl-C during start-up is not lost.
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| process_error("handle SIGINT", e))?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| process_error("handle SIGTERM", e))?;

    // Kept until the stack has stopped: the gateway closes its vault first.
    let (mut _postgres, mut _redis) = (None, None);
    let core_store = match core_store_kind {
        CoreStoreKind::Rocksdb => None,
        CoreStoreKind::Postgres => {
            let server = _postgres.insert(PostgresServer::start()?);
            let database = server.create_database()?;
            Some(CoreStore::Postgres {
                url: server.url(&database),
                password: Password::File(server.password_file().to_owned()),
                standby: false,
                follow: args.follower.is_some(),
            })
        }
    };
    let vault = match args.vault {
        VaultKind::Rocksdb => StackVault::Rocksdb,
        VaultKind::Postgres => {
            let server = match &mut _postgres {
                Some(server) => server,
                None => _postgres.insert(PostgresServer::start()?),
            };
            let database = server.create_database()?;
            StackVault::Postgres {
                url: server.url(&database),
                password_file: server.password_file().to_owned(),
            }
        }
        VaultKind::Redis => {
            let server = _redis.insert(RedisServer::start(AppendFsync::EverySec)?);
            StackVault::Redis {
                url: server.url(),
                password_file: server.password_file().to_owned(),
                key_prefix: "krypton:".to_owned(),
            }
        }
    };
    // Kept until the stack has stopped, as the vault servers are.
    let mut _broker = None;
    let mut config = StackConfig::new(&bin_dir, hsm);
    if args.orbital {
        let broker = _broker.insert(RabbitServer::start()?);
        config.orchestration = true;
        config.amqp = Some(orbital::amqp_settings(broker));
        orbital::save_broker(&data_dir, broker)?;
    }
    config.vault = vault;
    config.core_store = core_store;
    config.telemetry = !args.no_telemetry;
    config.data_audit = !args.no_data_audit;
    config.data_dir = Some(data_dir);
    config.gateway_listen = args.listen;
    config.core_listen = args.core_listen;
    config.core_failover = args.follower.into_iter().collect();
    let mut stack = Stack::start(config)?;
    let mut follower = match args.follower {
        Some(addr) => match start_follower(&stack, addr) {
            Ok(core) => Some(core),
            Err(error) => {
                let _ = stack.stop();
                return Err(error);
            }
        },
        None => None,
    };
    let mut second = match args.second_gateway {
        Some(addr) => match stack.start_gateway_at(SECOND_GATEWAY, addr) {
            Ok(gateway) => Some(gateway),
            Err(error) => {
                let _ = stack.stop();
                return Err(error);
            }
        },
        None => None,
    };
    print_banner(&stack, &bin_dir);
    if let Some(gateway) = &second {
        println!(
            "  second gateway         {} on the same core and vault, log {}\n",
            gateway.addr,
            gateway.daemon.log().display()
        );
    }

    if let (Some(core), Some(addr)) = (&follower, args.follower) {
        println!(
            "  following core         {addr} on the same store, serving wraps and unwraps; control socket {}, log {}\n",
            core.ctl().socket().display(),
            core.log().display()
        );
    }

    let served = runtime.block_on(serve(
        &mut stack,
        (second.as_mut(), follower.as_mut()),
        &mut interrupt,
        &mut terminate,
    ));
    // The second gateway goes first: the stack's stop ends with the core.
    if let Some(mut gateway) = second
        && let Err(error) = gateway.daemon.stop()
    {
        eprintln!(
            "krypton-dev: stopping the second gateway: {}",
            chain(&error)
        );
    }
    if let Some(mut core) = follower
        && let Err(error) = core.stop()
    {
        eprintln!(
            "krypton-dev: stopping the following core: {}",
            chain(&error)
        );
    }
    if let Err(error) = served {
        eprintln!("krypton-dev: {}", chain(&error));
        eprintln!("krypton-dev: stopping");
        let _ = stack.stop();
        return Ok(ExitCode::FAILURE);
    }
    println!("krypton-dev: stopping krypton-gateway, then krypton-core (which seals itself)");
    let stopped = stack.stop()?;
    let describe = |status: Option<std::process::ExitStatus>| {
        status.map_or_else(|| "had exited".to_owned(), |s| s.to_string())
    };
    println!(
        "krypton-dev: stopped (krypton-gateway: {}, krypton-core: {})",
        describe(stopped.gateway),
        describe(stopped.core)
    );
    Ok(if stopped.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Starts the core that follows the stack's, unseals it with the stack's shares and waits
/// until it serves the tenant.
fn start_follower(stack: &Stack, addr: SocketAddr) -> Result<Core, Error> {
    let mut core = stack.start_another_core(FOLLOWER, addr)?;
    for share in stack.share_files() {
        if core.ctl().status()? == CoreState::Unsealed {
            break;
        }
        core.ctl().unseal(&share)?;
    }
    core.wait_for_tenant(&stack.config().tenant, FOLLOWER_OPEN_LIMIT)?;
    Ok(core)
}

/// Serves until SIGINT or SIGTERM; fails if a core or a gateway exits meanwhile.
async fn serve(
    stack: &mut Stack,
    (mut second, mut follower): (Option<&mut ExtraGateway>, Option<&mut Core>),
    interrupt: &mut Signal,
    terminate: &mut Signal,
) -> Result<(), Error> {
    let mut check = tokio::time::interval(HEALTH_CHECK);
    loop {
        tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = check.tick() => {
                stack.check_running()?;
                if let Some(gateway) = second.as_deref_mut() {
                    gateway.daemon.check_running()?;
                }
                if let Some(core) = follower.as_deref_mut() {
                    core.check_running()?;
                }
            }
        }
    }
}

/// The directory of this executable, where `cargo build --bins` puts the other binaries too.
fn own_dir() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().map_err(|e| process_error("locate krypton-dev", e))?;
    Ok(exe.parent().map_or_else(PathBuf::new, Path::to_owned))
}

fn process_error(action: &'static str, source: std::io::Error) -> Error {
    Error::Process {
        action,
        program: "krypton-dev".to_owned(),
        source,
    }
}

fn chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn print_banner(stack: &Stack, bin_dir: &Path) {
    let pki = stack.pki();
    let data = stack.data_dir().display();
    let logs = stack.data_dir().join("logs");
    let gateway = stack.gateway_addr();
    println!("Krypton is running. DEV ONLY: the PKI, the SoftHSM2 token and the unseal shares in");
    println!("{data} are throw-away development material.\n");
    println!("  KMIP for applications  {gateway} (krypton-gateway, mutual TLS)");
    println!(
        "  core                   KMIP for the gateway on {}, control socket {}",
        stack.core_addr(),
        stack.core().ctl().socket().display()
    );
    let ceremony = match stack.ceremony() {
        Ceremony::Initialized => "new installation: master key made, split 2 of 3, unsealed",
        Ceremony::Unsealed => "started sealed, unsealed with 2 saved shares",
        _ => "was unsealed already",
    };
    println!("  unseal ceremony        {ceremony}");
    let vault = match &stack.config().vault {
        StackVault::Rocksdb => "RocksDB in the data dir".to_owned(),
        StackVault::Postgres { url, .. } => format!("PostgreSQL {url} (this run only)"),
        StackVault::Redis { url, .. } => format!("Redis {url} (this run only)"),
    };
    println!("  gateway vault          {vault}");
    if let (Some(gateway), Some(core)) = (stack.gateway_telemetry(), stack.core_telemetry()) {
        println!(
            "  telemetry              http://{gateway}/metrics (gateway), http://{core}/metrics (core)"
        );
    }
    if stack.config().data_audit {
        println!(
            "  audit (JSON lines)     {} (core), {} (gateway)",
            stack.core_audit_file().display(),
            stack.gateway_audit_file("gateway").display()
        );
    }
    println!(
        "  tenant / service       demo / app, L1 {:?} in SoftHSM2 token {:?}",
        token::L1_LABEL,
        token::TOKEN_LABEL
    );
    println!(
        "  logs                   {} and {}",
        logs.join("core.log").display(),
        logs.join("gateway.log").display()
    );
    println!(
        "  pids                   core={} gateway={}",
        stack.core().pid().unwrap_or(0),
        stack.gateway_pid().unwrap_or(0)
    );
    println!(
        "  operator CLI           {} --socket {} status\n",
        bin_dir.join("kryptonctl").display(),
        stack.core().ctl().socket().display()
    );
    println!("Client identities (CA {}):", pki.ca.display());
    for (name, files) in &pki.apps {
        println!("  {name:<10} cert {}", files.cert.display());
        println!("  {:<10} key  {}", "", files.key.display());
    }
    if let Some((name, files)) = pki.apps.first() {
        println!("\nPyKMIP, as {name} (pip install pykmip):\n");
        println!("from kmip.pie.client import ProxyKmipClient");
        println!("from kmip.core import enums");
        println!(
            "client = ProxyKmipClient(hostname={:?}, port={}, cert={:?}, key={:?}, ca={:?})",
            gateway.ip().to_string(),
            gateway.port(),
            files.cert.display().to_string(),
            files.key.display().to_string(),
            pki.ca.display().to_string()
        );
        println!("with client:");
        println!("    uid = client.create(enums.CryptographicAlgorithm.AES, 256)");
        println!("    print(uid, client.get(uid).value.hex())");
    }
    println!(
        "\nUnseal shares, any 2 of 3 (DEV ONLY: real shares go to separate custodians and are"
    );
    println!("never stored with the core):");
    for share in stack.share_files() {
        let text = std::fs::read_to_string(&share).unwrap_or_default();
        println!("  {}: {}", share.display(), text.trim());
    }
    if let Some(grpc) = stack.core_orchestration() {
        print_orbital(stack, grpc);
    }
    println!("\nkrypton-dev: ready (Ctrl-C stops krypton-gateway and krypton-core)");
}

fn print_orbital(stack: &Stack, grpc: SocketAddr) {
    let pki = stack.pki();
    println!("\nOrchestration (docs/orchestration.md), as the governance plane \"orbital\":");
    println!("  gRPC, mutual TLS       {grpc} (krypton.orchestration.v1)");
    println!(
        "  orbital's certificate  cert {}",
        pki.orchestrator.cert.display()
    );
    println!("  {:<22} key  {}", "", pki.orchestrator.key.display());
    if let Some(amqp) = &stack.config().amqp {
        println!(
            "  RabbitMQ (this run)    {} as {:?}; tasks on {:?}, unlinks on {:?}",
            amqp.url, amqp.username, amqp.task_queue, amqp.unlink_queue
        );
        println!("\nPublish a task and print the core's result:\n");
        println!(
            "  krypton-dev --data-dir {} task '{{\"type\":\"UNLINK_KEY\",\"task_id\":\"t1\",\"tenant\":\"demo\"}}'",
            stack.data_dir().display()
        );
        println!(
            "  krypton-dev --data-dir {} task '{{\"type\":\"LINK_KEY\",\"task_id\":\"t2\",\"tenant\":\"demo\",\"l1_label\":\"{}\"}}'",
            stack.data_dir().display(),
            token::L1_LABEL
        );
    }
}
