//! Private PostgreSQL and Redis servers for the shared vault backends: each in a temporary
//! directory of its own, on a free loopback port, with a generated password, stopped and
//! removed when dropped. No system service is used or needed: the binaries are Debian's
//! `postgresql` and `redis-server` packages (scripts/install-deps.sh installs them).
//!
//! PostgreSQL refuses to run as root. Started by root (as CI is), the server runs as `nobody`,
//! in a directory handed to that user; started by anyone else, as that user.
//!
//! A test binary can share one server between its tests ([`PostgresServer::shared`],
//! [`RedisServer::shared`]), each test taking a fresh database or key prefix of its own. A
//! shared server outlives every test; when the test binary exits, the server is stopped and its
//! directory removed by a small watcher process.

use std::fs::{self, File};
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid, User, chown};
use tempfile::TempDir;

use crate::Error;
use crate::pki::{Ca, CertFiles, SERVER_NAMES, Subject, client_params, server_params};
use crate::process::{Daemon, command_result, free_loopback_addr, run_bounded, share};

/// Where Debian's `postgresql` package puts each major version's binaries.
const POSTGRES_VERSIONS_DIR: &str = "/usr/lib/postgresql";
/// Debian's `redis-server` and `redis-tools` binaries.
const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CLI: &str = "/usr/bin/redis-cli";
/// The user PostgreSQL knows the gateway as.
pub const VAULT_USER: &str = "krypton";
/// How long a server gets to initialise and start.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long one administrative command (initdb, psql, redis-cli) may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// How often readiness is probed.
const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// A private PostgreSQL server.
#[derive(Debug)]
pub struct PostgresServer {
    daemon: Daemon,
    bin: PathBuf,
    addr: SocketAddr,
    sockets: PathBuf,
    password_file: PathBuf,
    /// The CA of its TLS certificate, when it takes TLS.
    ca: Option<PathBuf>,
    /// Dropped last: the server is stopped before its directory goes.
    dir: TempDir,
}

/// A private Redis server.
#[derive(Debug)]
pub struct RedisServer {
    daemon: Daemon,
    addr: SocketAddr,
    /// Its TLS port and the CA of its certificate, when it takes TLS.
    tls: Option<(SocketAddr, PathBuf)>,
    password_file: PathBuf,
    args: Vec<String>,
    dir: TempDir,
}

/// A server a test can crash and start again.
pub trait Crashable {
    /// Kills the server and every process of its group at once (SIGKILL), as a crash would:
    /// nothing is flushed on the way.
    fn kill(&mut self) -> Result<(), Error>;

    /// Starts the server again on the same directory and port after [`kill`](Self::kill) (it
    /// recovers from what it had made durable), waiting until it is ready.
    fn restart(&mut self) -> Result<(), Error>;
}

impl Crashable for PostgresServer {
    fn kill(&mut self) -> Result<(), Error> {
        self.daemon.kill()
    }

    fn restart(&mut self) -> Result<(), Error> {
        self.daemon = spawn_postgres(&self.bin, self.dir.path(), self.addr, self.ca.is_some())?;
        self.wait_ready()
    }
}

impl Crashable for RedisServer {
    fn kill(&mut self) -> Result<(), Error> {
        self.daemon.kill()
    }

    fn restart(&mut self) -> Result<(), Error> {
        self.daemon = spawn_redis(&self.args, self.dir.path())?;
        let password = read_password(&self.password_file)?;
        self.wait_ready(&password)
    }
}

/// How Redis syncs its append-only file: what "acknowledged" means for a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendFsync {
    /// Once a second (Redis's default): a crash of the machine can lose the last second.
    EverySec,
    /// Before every reply.
    Always,
}

impl PostgresServer {
    /// Initialises and starts a server in a new temporary directory, waiting until it takes
    /// connections.
    pub fn start() -> Result<Self, Error> {
        Self::start_with(false)
    }

    /// As [`start`](Self::start), the server also taking TLS with a certificate for
    /// `localhost` and `127.0.0.1` from a CA of its own ([`ca`](Self::ca)); over TCP it then
    /// takes TLS sessions only, of clients with a certificate of that CA for [`VAULT_USER`]
    /// ([`client_certificate`](Self::client_certificate)) and the password.
    pub fn start_with_tls() -> Result<Self, Error> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Result<Self, Error> {
        let bin = postgres_bin()?;
        let dir = server_dir("krypton-pg-")?;
        let (password, password_file) = generated_password(dir.path(), "vault.password")?;
        let sockets = dir.path().join("sockets");
        let data = dir.path().join("data");
        make_dir(&sockets)?;
        // initdb reads the password as the server's user: a copy it can read, removed after.
        let initdb_password = dir.path().join("initdb.password");
        write_private(&initdb_password, password.as_bytes())?;
        hand_over(&initdb_password)?;
        let mut initdb = as_server_user(&bin.join("initdb"));
        initdb
            .arg("--pgdata")
            .arg(&data)
            .args([
                "--username",
                VAULT_USER,
                "--encoding",
                "UTF8",
                "--locale",
                "C",
            ])
            .args(["--auth-local", "trust", "--auth-host", "scram-sha-256"])
            .arg("--pwfile")
            .arg(&initdb_password)
            .arg("--no-instructions");
        let ran = run_bounded(initdb, COMMAND_LIMIT)?;
        remove_file(&initdb_password)?;
        check_command("initdb", ran)?;

        let ca = tls.then(|| server_certificate(dir.path())).transpose()?;
        if ca.is_some() {
            // Rewritten in place: the file keeps the server user as its owner.
            fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n",
            )
            .map_err(|source| Error::Io {
                action: "write",
                path: data.join("pg_hba.conf"),
                source,
            })?;
        }
        let addr = free_loopback_addr()?;
        let daemon = spawn_postgres(&bin, dir.path(), addr, ca.is_some())?;
        let mut server = Self {
            daemon,
            bin,
            addr,
            sockets,
            password_file,
            ca,
            dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// One server for the whole test binary, started on first use.
    pub fn shared() -> Result<&'static Self, Error> {
        static SHARED: OnceLock<Result<PostgresServer, String>> = OnceLock::new();
        share(&SHARED, Self::start, |server| {
            (server.daemon.pid(), server.dir.path().to_owned())
        })
        .map_err(|message| Error::VaultServer(message.to_owned()))
    }

    /// A URL of database `database` for [`VAULT_USER`] over TCP (password required).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{VAULT_USER}@{}/{database}", self.addr)
    }

    /// The file holding [`VAULT_USER`]'s password, owned by this process's user, mode 0600.
    pub fn password_file(&self) -> &Path {
        &self.password_file
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Creates a new, empty database with a name unique in this process; returns the name.
    pub fn create_database(&self) -> Result<String, Error> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("vault_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(name)
    }

    /// Runs `sql` in `database` through the Unix socket (trusted), returning what psql printed
    /// (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, Error> {
        let mut psql = Command::new(self.bin.join("psql"));
        psql.env_clear()
            .arg("--no-psqlrc")
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-h"])
            .arg(&self.sockets)
            .args(["-p", &self.addr.port().to_string(), "-U", VAULT_USER])
            .args(["-d", database, "-c", sql]);
        let output = run_bounded(psql, COMMAND_LIMIT)?;
        check_command("psql", output)
    }

    /// The certificate for [`VAULT_USER`] the server asks of TLS clients, if it was started with
    /// TLS.
    pub fn client_certificate(&self) -> Option<CertFiles> {
        self.ca.as_ref().map(|_| client_files(self.dir.path()))
    }

    /// The CA of the server's TLS certificate, if it was started with TLS.
    pub fn ca(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let isready = self.bin.join("pg_isready");
        let (sockets, port) = (self.sockets.clone(), self.addr.port().to_string());
        self.daemon
            .wait_until("accepting connections", START_LIMIT, || {
                let mut probe = Command::new(&isready);
                probe
                    .env_clear()
                    .arg("-h")
                    .arg(&sockets)
                    .args(["-p", &port, "-U", VAULT_USER, "-d", "postgres"]);
                matches!(run_bounded(probe, PROBE_LIMIT), Ok(Some(output)) if output.status.success())
            })
    }
}

impl RedisServer {
    /// Starts a server with an append-only file synced as `fsync` says, in a new temporary
    /// directory, waiting until it answers.
    pub fn start(fsync: AppendFsync) -> Result<Self, Error> {
        Self::start_with(fsync, false)
    }

    /// As [`start`](Self::start), the server also taking TLS on a port of its own
    /// ([`tls_url`](Self::tls_url)) with a certificate for `localhost` and `127.0.0.1` from a
    /// CA of its own ([`ca`](Self::ca)).
    pub fn start_with_tls(fsync: AppendFsync) -> Result<Self, Error> {
        Self::start_with(fsync, true)
    }

    fn start_with(fsync: AppendFsync, tls: bool) -> Result<Self, Error> {
        let dir = server_dir("krypton-redis-")?;
        let (password, password_file) = generated_password(dir.path(), "vault.password")?;
        // The password goes in a private config file, not on the command line. It is the
        // default user's: Redis 7.0 replays no transaction (so no script's writes) from its
        // append-only file when the default user is off, and loses them after a crash
        // (redis/redis#14541, fixed in later releases).
        let conf = dir.path().join("redis.conf");
        write_private(&conf, format!("requirepass {password}\n").as_bytes())?;
        let addr = free_loopback_addr()?;
        let fsync = match fsync {
            AppendFsync::EverySec => "everysec",
            AppendFsync::Always => "always",
        };
        let args = [
            conf.display().to_string(),
            "--port".into(),
            addr.port().to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.path().display().to_string(),
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            fsync.into(),
            "--save".into(),
            String::new(),
        ]
        .to_vec();
        let mut args = args;
        let tls = if tls {
            let ca = server_certificate(dir.path())?;
            let tls_addr = free_loopback_addr()?;
            let file = |name: &str| dir.path().join(name).display().to_string();
            args.extend([
                "--tls-port".into(),
                tls_addr.port().to_string(),
                "--tls-cert-file".into(),
                file("server.pem"),
                "--tls-key-file".into(),
                file("server.key"),
                "--tls-ca-cert-file".into(),
                file("ca.pem"),
                "--tls-auth-clients".into(),
                "yes".into(),
            ]);
            Some((tls_addr, ca))
        } else {
            None
        };
        let daemon = spawn_redis(&args, dir.path())?;
        let mut server = Self {
            daemon,
            addr,
            tls,
            password_file,
            args,
            dir,
        };
        server.wait_ready(&password)?;
        Ok(server)
    }

    /// One server (`appendfsync everysec`) for the whole test binary, started on first use.
    pub fn shared() -> Result<&'static Self, Error> {
        static SHARED: OnceLock<Result<RedisServer, String>> = OnceLock::new();
        share(
            &SHARED,
            || Self::start(AppendFsync::EverySec),
            |server| (server.daemon.pid(), server.dir.path().to_owned()),
        )
        .map_err(|message| Error::VaultServer(message.to_owned()))
    }

    /// The URL of the server's default user (the password is in
    /// [`password_file`](Self::password_file)).
    pub fn url(&self) -> String {
        format!("redis://{}/0", self.addr)
    }

    /// The `rediss://` URL of its TLS port, by name, if it was started with TLS: it takes
    /// clients with a certificate of its CA only ([`client_certificate`](Self::client_certificate)).
    pub fn tls_url(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|(addr, _)| format!("rediss://localhost:{}/0", addr.port()))
    }

    /// The CA of its TLS certificate, if it was started with TLS.
    pub fn ca(&self) -> Option<&Path> {
        self.tls.as_ref().map(|(_, ca)| ca.as_path())
    }

    /// The certificate its TLS port asks of clients, if it was started with TLS.
    pub fn client_certificate(&self) -> Option<CertFiles> {
        self.tls.as_ref().map(|_| client_files(self.dir.path()))
    }

    /// The file holding the default user's password, owned by this process's user, mode 0600.
    pub fn password_file(&self) -> &Path {
        &self.password_file
    }

    /// A key prefix unique in this process, for one vault on a shared server.
    pub fn key_prefix(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        format!("vault{}:", NEXT.fetch_add(1, Ordering::Relaxed))
    }

    fn wait_ready(&mut self, password: &str) -> Result<(), Error> {
        let port = self.addr.port().to_string();
        self.daemon.wait_until("answering", START_LIMIT, || {
            let mut ping = Command::new(REDIS_CLI);
            ping.env_clear()
                .env("REDISCLI_AUTH", password)
                .args(["-h", "127.0.0.1", "-p", &port, "ping"]);
            matches!(run_bounded(ping, PROBE_LIMIT), Ok(Some(output)) if output.stdout.trim() == "PONG")
        })
    }
}

/// Starts `postgres` on the cluster in `dir` (its `data`, `sockets` and, with `tls`, its
/// certificate), listening on `addr`.
fn spawn_postgres(bin: &Path, dir: &Path, addr: SocketAddr, tls: bool) -> Result<Daemon, Error> {
    let mut postgres = as_server_user(&bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &addr.port().to_string()])
        .arg("-k")
        .arg(dir.join("sockets"))
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=300",
        ]);
    if tls {
        postgres.args(["-c", "ssl=on", "-c"]);
        postgres.arg(format!(
            "ssl_cert_file={}",
            dir.join("server.pem").display()
        ));
        postgres.arg("-c");
        postgres.arg(format!("ssl_key_file={}", dir.join("server.key").display()));
        postgres.arg("-c");
        postgres.arg(format!("ssl_ca_file={}", dir.join("ca.pem").display()));
    }
    // SIGINT is PostgreSQL's fast shutdown: SIGTERM would wait for every client to leave.
    Daemon::spawn_command(
        "postgres",
        postgres,
        &dir.join("postgres.log"),
        Signal::SIGINT,
    )
}

/// A CA (`ca.pem`) and a server certificate it signed for `localhost` and `127.0.0.1`
/// (`server.pem`, `server.key` readable by the server's user only), in `dir`.
fn server_certificate(dir: &Path) -> Result<PathBuf, Error> {
    let ca = Ca::new("krypton-dev vault server CA").map_err(Error::Pki)?;
    let params = server_params(&SERVER_NAMES).map_err(Error::Pki)?;
    let files = ca.issue(&params, dir, "server")?;
    hand_over(&files.key)?;
    let client = client_params(&Subject::common_name(VAULT_USER)).map_err(Error::Pki)?;
    ca.issue(&client, dir, "client")?;
    let ca_file = dir.join("ca.pem");
    write_private(&ca_file, ca.pem().as_bytes())?;
    // The server reads the CA too, to verify its clients.
    hand_over(&ca_file)?;
    Ok(ca_file)
}

/// The client certificate [`server_certificate`] issued in `dir`.
fn client_files(dir: &Path) -> CertFiles {
    CertFiles {
        cert: dir.join("client.pem"),
        key: dir.join("client.key"),
    }
}

fn spawn_redis(args: &[String], dir: &Path) -> Result<Daemon, Error> {
    require_package(Path::new(REDIS_SERVER), "redis-server")?;
    let mut redis = Command::new(REDIS_SERVER);
    redis.env_clear().args(args);
    Daemon::spawn_command(
        "redis-server",
        redis,
        &dir.join("redis.log"),
        Signal::SIGTERM,
    )
}

/// The newest PostgreSQL's binaries under [`POSTGRES_VERSIONS_DIR`].
fn postgres_bin() -> Result<PathBuf, Error> {
    let newest = fs::read_dir(POSTGRES_VERSIONS_DIR)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .max_by_key(|(version, _)| *version);
    newest
        .map(|(_, bin)| bin)
        .ok_or_else(|| Error::MissingPackage {
            path: Path::new(POSTGRES_VERSIONS_DIR).join("<version>/bin/initdb"),
            package: "postgresql",
        })
}

pub(crate) fn require_package(path: &Path, package: &'static str) -> Result<(), Error> {
    if path.is_file() {
        Ok(())
    } else {
        Err(Error::MissingPackage {
            path: path.to_owned(),
            package,
        })
    }
}

/// The user a server runs as: `nobody` when this process is root, which PostgreSQL refuses to
/// run as; otherwise this process's own user.
fn server_user() -> Result<Option<(Uid, Gid)>, Error> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let nobody = User::from_name("nobody").ok().flatten().ok_or_else(|| {
        Error::VaultServer("root must run servers as nobody: no such user".into())
    })?;
    Ok(Some((nobody.uid, nobody.gid)))
}

/// `program`, run as the server's user with a clean environment.
fn as_server_user(program: &Path) -> Command {
    let mut command = Command::new(program);
    command.env_clear().env("LANG", "C");
    if let Ok(Some((uid, gid))) = server_user() {
        // std drops the supplementary groups too when root changes user.
        command.uid(uid.as_raw()).gid(gid.as_raw());
    }
    command
}

/// Gives `path` to the server's user, when that is not this process's.
fn hand_over(path: &Path) -> Result<(), Error> {
    if let Some((uid, gid)) = server_user()? {
        chown(path, Some(uid), Some(gid)).map_err(|errno| Error::Io {
            action: "hand over",
            path: path.to_owned(),
            source: errno.into(),
        })?;
    }
    Ok(())
}

/// A new temporary directory the server's user owns (0700).
fn server_dir(prefix: &str) -> Result<TempDir, Error> {
    let dir = private_dir(prefix)?;
    hand_over(dir.path())?;
    Ok(dir)
}

/// A new temporary directory this process's user owns (0700), for a server that runs as it.
pub(crate) fn private_dir(prefix: &str) -> Result<TempDir, Error> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|source| Error::Io {
            action: "create",
            path: std::env::temp_dir(),
            source,
        })?;
    // Made as the umask says (often 0755): the servers' data is no one else's to read.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).map_err(|source| {
        Error::Io {
            action: "restrict",
            path: dir.path().to_owned(),
            source,
        }
    })?;
    Ok(dir)
}

fn make_dir(path: &Path) -> Result<(), Error> {
    make_private_dir(path)?;
    hand_over(path)
}

/// A new directory `path` that this process's user owns (0700).
pub(crate) fn make_private_dir(path: &Path) -> Result<(), Error> {
    fs::create_dir(path)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o700)))
        .map_err(|source| Error::Io {
            action: "create",
            path: path.to_owned(),
            source,
        })
}

/// A random password and the private file `dir/name` (this process's user, 0600) that holds
/// it.
pub(crate) fn generated_password(dir: &Path, name: &str) -> Result<(String, PathBuf), Error> {
    let mut bytes = [0u8; 18];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(|source| Error::Io {
            action: "read",
            path: "/dev/urandom".into(),
            source,
        })?;
    let password: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let path = dir.join(name);
    write_private(&path, password.as_bytes())?;
    Ok((password, path))
}

fn read_password(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|source| Error::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })
}

pub(crate) fn write_private(path: &Path, content: &[u8]) -> Result<(), Error> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, content))
        .map_err(|source| Error::Io {
            action: "write",
            path: path.to_owned(),
            source,
        })
}

fn remove_file(path: &Path) -> Result<(), Error> {
    fs::remove_file(path).map_err(|source| Error::Io {
        action: "remove",
        path: path.to_owned(),
        source,
    })
}

/// What a bounded administrative command printed, or why it failed.
fn check_command(name: &'static str, ran: Option<crate::process::Output>) -> Result<String, Error> {
    command_result(name, ran, COMMAND_LIMIT).map_err(Error::VaultServer)
}
