//! A private RabbitMQ broker, the orchestration task broker of tests and the dev run: in a
//! temporary directory of its own, with a node name, AMQP port, Erlang distribution port and
//! epmd of its own, one generated user, stopped and removed when dropped. No system service is
//! used or needed, and one that runs is not disturbed: the binaries are Debian's
//! `rabbitmq-server` package (scripts/install-deps.sh installs it), run directly rather than
//! through /usr/sbin's wrappers, which switch to the `rabbitmq` user and its /var/lib/rabbitmq.
//!
//! Erlang nodes find each other through epmd, which `erl` starts on demand as a daemon that
//! leaves the node's session and outlives it. So each broker gets an epmd of its own on a
//! private port, started before it and stopped after it, and the node is told to start none.
//! Everything listens on loopback only. The broker runs as this process's user (root in CI,
//! which RabbitMQ accepts); its administrative commands (`rabbitmqctl`) find it by its node
//! name through its epmd, and authenticate with the Erlang cookie in its private `HOME`.
//!
//! A test binary can share one broker between its tests ([`RabbitServer::shared`]), each test
//! taking queues of its own names. A shared broker outlives every test; when the test binary
//! exits, it is stopped and its directory removed by a small watcher process.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::Deserialize;
use tempfile::TempDir;

use crate::Error;
use crate::pki::{Ca, SERVER_NAMES, server_params};
use crate::process::{Daemon, POLL, command_result, free_loopback_addr, run_bounded, share};
use crate::vault_server::{
    Crashable, generated_password, make_private_dir, private_dir, require_package, write_private,
};

/// Debian's `rabbitmq-server` scripts themselves, without /usr/sbin's change of user.
const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const RABBITMQCTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";
/// Erlang's port mapper, from Debian's `erlang-base` (a dependency of `rabbitmq-server`).
const EPMD: &str = "/usr/bin/epmd";
/// What the broker's scripts and the Erlang VM need on their `PATH` (`erl`, `sh`, `df`).
const PATH: &str = "/usr/bin:/bin";
/// The user the broker knows its clients as.
pub const BROKER_USER: &str = "krypton";
/// How long the broker gets to start (or to recover its queues after a crash).
const START_LIMIT: Duration = Duration::from_secs(120);
/// How long its epmd gets to listen.
const EPMD_LIMIT: Duration = Duration::from_secs(10);
/// How long one administrative command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// How long one readiness probe may take.
const PROBE_LIMIT: Duration = Duration::from_secs(10);
/// How long a graceful stop may take before the broker's processes are killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// How long a killed Erlang VM gets to be gone.
const KILL_LIMIT: Duration = Duration::from_secs(10);
/// The Erlang distribution (the broker's, and that of `rabbitmqctl`'s own node) on loopback.
const LOOPBACK_DIST: &str = "-kernel inet_dist_use_interface {127,0,0,1}";

/// A private RabbitMQ broker.
#[derive(Debug)]
pub struct RabbitServer {
    broker: Daemon,
    node: Node,
    password_file: PathBuf,
    /// Stopped after the broker, whose name it holds.
    epmd: Daemon,
    /// Dropped last: the broker is stopped before its directory goes.
    dir: TempDir,
}

/// Where a broker keeps its state and how it is reached: the same for every start on one
/// directory, so a restarted broker is the same node.
#[derive(Debug)]
struct Node {
    /// `krypton-<pid>-<n>@localhost`: no other node on this machine has it.
    name: String,
    dir: PathBuf,
    amqp: SocketAddr,
    /// Its AMQP-over-TLS listener and the CA of its certificate, when it takes TLS.
    tls: Option<(SocketAddr, PathBuf)>,
    dist_port: u16,
    epmd_port: u16,
}

impl Crashable for RabbitServer {
    /// Kills the broker's shell, its Erlang VM and their helpers at once, and waits until the
    /// VM is gone; its epmd lives on, as it would after a crash of the broker alone.
    fn kill(&mut self) -> Result<(), Error> {
        self.kill_all()
    }

    /// Starts the broker again as the same node on the same directory and ports: it recovers
    /// its durable queues and their persistent messages.
    fn restart(&mut self) -> Result<(), Error> {
        self.broker = self.node.spawn_broker()?;
        self.wait_ready()
    }
}

impl RabbitServer {
    /// Starts a broker in a new temporary directory, waiting until it takes connections and
    /// has finished starting.
    pub fn start() -> Result<Self, Error> {
        Self::start_with(false)
    }

    /// As [`start`](Self::start), the broker also taking AMQP over TLS (`amqps://`) with a
    /// certificate for `localhost` and `127.0.0.1` from a CA of its own ([`tls`](Self::tls)).
    pub fn start_with_tls() -> Result<Self, Error> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Result<Self, Error> {
        require_package(Path::new(RABBITMQ_SERVER), "rabbitmq-server")?;
        require_package(Path::new(EPMD), "erlang-base")?;
        let dir = private_dir("krypton-rabbit-")?;
        let tls = if tls {
            Some((free_loopback_addr()?, server_certificate(dir.path())?))
        } else {
            None
        };
        let node = Node {
            name: node_name(),
            dir: dir.path().to_owned(),
            amqp: free_loopback_addr()?,
            tls,
            dist_port: free_loopback_addr()?.port(),
            epmd_port: free_loopback_addr()?.port(),
        };
        let password_file = node.configure()?;
        let epmd = node.spawn_epmd()?;
        let broker = node.spawn_broker()?;
        let mut server = Self {
            broker,
            node,
            password_file,
            epmd,
            dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Its `amqps://` listener and the CA file of its certificate, when it takes TLS.
    pub fn tls(&self) -> Option<(SocketAddr, &Path)> {
        self.node
            .tls
            .as_ref()
            .map(|(addr, ca)| (*addr, ca.as_path()))
    }

    /// One broker for the whole test binary, started on first use.
    pub fn shared() -> Result<&'static Self, Error> {
        static SHARED: OnceLock<Result<RabbitServer, String>> = OnceLock::new();
        share(&SHARED, Self::start, |server| {
            (server.broker.pid(), server.dir.path().to_owned())
        })
        .map_err(|message| Error::Broker(message.to_owned()))
    }

    /// The AMQP URL of [`BROKER_USER`] on vhost `/` (the password is in
    /// [`password_file`](Self::password_file)).
    pub fn url(&self) -> String {
        format!("amqp://{BROKER_USER}@{}/%2f", self.node.amqp)
    }

    /// The file holding [`BROKER_USER`]'s password, owned by this process's user, mode 0600.
    pub fn password_file(&self) -> &Path {
        &self.password_file
    }

    /// The loopback address it takes AMQP connections on.
    pub fn addr(&self) -> SocketAddr {
        self.node.amqp
    }

    /// The queues of vhost `/` and how many messages each holds (ready and unacknowledged).
    pub fn list_queues(&self) -> Result<Vec<(String, u64)>, Error> {
        #[derive(Deserialize)]
        struct Queue {
            name: String,
            messages: u64,
        }
        let json = self.rabbitmqctl(&["list_queues", "name", "messages", "--formatter", "json"])?;
        let queues: Vec<Queue> = serde_json::from_str(&json).map_err(|error| {
            Error::Broker(format!(
                "rabbitmqctl list_queues printed unexpected output ({error}): {json}"
            ))
        })?;
        Ok(queues
            .into_iter()
            .map(|queue| (queue.name, queue.messages))
            .collect())
    }

    /// Runs `rabbitmqctl` (quiet) with `args` against this broker, returning what it printed.
    pub fn rabbitmqctl(&self, args: &[&str]) -> Result<String, Error> {
        self.node.ctl(args, COMMAND_LIMIT)
    }

    /// Kills the broker's process group (SIGKILL) and waits until its Erlang VM is gone: the
    /// VM is the shell's child, and still holds the broker's ports and files for a moment after
    /// the shell has been reaped.
    fn kill_all(&mut self) -> Result<(), Error> {
        let vm = self.node.vm_pid();
        self.broker.kill()?;
        let Some(vm) = vm else {
            return Ok(());
        };
        let deadline = Instant::now() + KILL_LIMIT;
        while running(vm) {
            if Instant::now() >= deadline {
                return Err(Error::Broker(format!(
                    "its Erlang VM (pid {vm}) was still running {KILL_LIMIT:?} after SIGKILL"
                )));
            }
            thread::sleep(POLL);
        }
        Ok(())
    }

    /// Waits until the broker takes TCP connections on its AMQP port and says it has started.
    /// The port is probed first: `rabbitmqctl` starts an Erlang VM of its own, and fails at once
    /// while the node is not yet up.
    fn wait_ready(&mut self) -> Result<(), Error> {
        let node = &self.node;
        let await_startup = ["await_startup", "--timeout", "10"];
        let mut refused = None;
        let ready = self.broker.wait_until("started", START_LIMIT, || {
            if TcpStream::connect_timeout(&node.amqp, PROBE_LIMIT).is_err() {
                return false;
            }
            node.ctl(&await_startup, PROBE_LIMIT)
                .map_err(|error| refused = Some(error))
                .is_ok()
        });
        ready.map_err(|error| match refused {
            Some(ctl) => Error::Broker(format!("{error}\n(last probe: {ctl})")),
            None => error,
        })
    }
}

impl Drop for RabbitServer {
    /// Stops the broker gracefully (bounded), then kills whatever is left of its process group,
    /// then its epmd.
    fn drop(&mut self) {
        // Nothing to report to: a broker that is down already refuses at once.
        if self.broker.pid().is_some() {
            let _ = self.node.ctl(&["shutdown"], STOP_LIMIT);
        }
        let _ = self.kill_all();
        let _ = self.epmd.stop();
    }
}

impl Node {
    /// Writes the broker's configuration (its AMQP listener, its user, no plugins), its Erlang
    /// cookie and the user's password; returns the password's file.
    fn configure(&self) -> Result<PathBuf, Error> {
        let (password, password_file) = generated_password(&self.dir, "broker.password")?;
        let mut conf = config(self.amqp, &password);
        if let Some((addr, ca)) = &self.tls {
            conf.push_str(&tls_config(*addr, ca, &self.dir));
        }
        write_private(&self.dir.join("rabbitmq.conf"), conf.as_bytes())?;
        write_private(&self.dir.join("enabled_plugins"), b"[].\n")?;
        // The cookie, a password of the Erlang distribution, is made before the broker starts:
        // a rabbitmqctl that found none would make one of its own and be refused.
        let home = self.dir.join("home");
        make_private_dir(&home)?;
        generated_password(&home, ".erlang.cookie")?;
        Ok(password_file)
    }

    /// The process id of the broker's Erlang VM, from the file it writes when it starts, if it
    /// has.
    fn vm_pid(&self) -> Option<u32> {
        let file = self.dir.join("mnesia").join(format!("{}.pid", self.name));
        fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// Starts the broker's epmd on its private port, waiting until it listens.
    fn spawn_epmd(&self) -> Result<Daemon, Error> {
        let mut epmd = Command::new(EPMD);
        epmd.env_clear().args([
            "-port",
            &self.epmd_port.to_string(),
            "-address",
            "127.0.0.1",
        ]);
        let mut daemon =
            Daemon::spawn_command("epmd", epmd, &self.dir.join("epmd.log"), Signal::SIGTERM)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.epmd_port));
        daemon.wait_for_listener(addr, EPMD_LIMIT)?;
        Ok(daemon)
    }

    /// Starts the broker. Its script runs the Erlang VM as a child and stops it gracefully on
    /// SIGTERM; its log goes to `broker.log`.
    fn spawn_broker(&self) -> Result<Daemon, Error> {
        let mut broker = self.command(RABBITMQ_SERVER);
        broker
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                format!("{LOOPBACK_DIST} -start_epmd false"),
            );
        Daemon::spawn_command(
            "rabbitmq-server",
            broker,
            &self.dir.join("broker.log"),
            Signal::SIGTERM,
        )
    }

    /// Runs `rabbitmqctl` with `args` against the node, bounded by `limit`.
    fn ctl(&self, args: &[&str], limit: Duration) -> Result<String, Error> {
        let mut ctl = self.command(RABBITMQCTL);
        // The CLI's own hidden node: loopback, any free port (not the shared 35672-35682).
        ctl.env("RABBITMQ_CTL_ERL_ARGS", LOOPBACK_DIST)
            .env("RABBITMQ_CTL_DIST_PORT_MIN", "0")
            .env("RABBITMQ_CTL_DIST_PORT_MAX", "0")
            .args(["--node", &self.name, "--quiet"])
            .args(args);
        let name = format!("rabbitmqctl {}", args.first().copied().unwrap_or_default());
        let ran = run_bounded(ctl, limit)?;
        command_result(&name, ran, limit).map_err(Error::Broker)
    }

    /// `program` with the node's environment and nothing inherited: every file the scripts
    /// would look for under /etc/rabbitmq or /var/lib/rabbitmq is one in the node's directory
    /// (the environment file, `conf.d` and `advanced.config` are deliberately absent).
    fn command(&self, program: &str) -> Command {
        let file = |name: &str| self.dir.join(name);
        let mut command = Command::new(program);
        command
            .env_clear()
            .current_dir(&self.dir)
            .env("PATH", PATH)
            .env("LANG", "C.UTF-8")
            .env("HOME", file("home"))
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_CONF_ENV_FILE", file("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", file("rabbitmq.conf"))
            .env("RABBITMQ_CONFIG_FILES", file("conf.d/*.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", file("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", file("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", file("mnesia"))
            .env("RABBITMQ_LOG_BASE", file("log"));
        command
    }
}

/// The broker's rabbitmq.conf: AMQP on `amqp` only, [`BROKER_USER`] with `password` and every
/// permission on vhost `/` made on first start (instead of `guest`), logs to stdout uncoloured.
fn config(amqp: SocketAddr, password: &str) -> String {
    format!(
        "listeners.tcp.default = {amqp}\n\
         default_vhost = /\n\
         default_user = {BROKER_USER}\n\
         default_pass = {password}\n\
         default_permissions.configure = .*\n\
         default_permissions.read = .*\n\
         default_permissions.write = .*\n\
         log.file = false\n\
         log.console = true\n\
         log.console.level = info\n\
         log.console.use_colors = off\n"
    )
}

/// The broker's TLS listener: the server certificate [`server_certificate`] wrote in `dir`;
/// clients are not asked for one (they log in with the password).
fn tls_config(addr: SocketAddr, ca: &Path, dir: &Path) -> String {
    format!(
        "listeners.ssl.default = {addr}\n\
         ssl_options.cacertfile = {}\n\
         ssl_options.certfile = {}\n\
         ssl_options.keyfile = {}\n\
         ssl_options.verify = verify_none\n\
         ssl_options.fail_if_no_peer_cert = false\n",
        ca.display(),
        dir.join("server.pem").display(),
        dir.join("server.key").display()
    )
}

/// A server certificate for `localhost` and `127.0.0.1` in `dir` (`server.pem`, `server.key`)
/// from a CA of its own, whose certificate it returns (`ca.pem`).
fn server_certificate(dir: &Path) -> Result<PathBuf, Error> {
    let ca = Ca::new("krypton-dev broker CA").map_err(Error::Pki)?;
    let params = server_params(&SERVER_NAMES).map_err(Error::Pki)?;
    ca.issue(&params, dir, "server")?;
    let ca_file = dir.join("ca.pem");
    write_private(&ca_file, ca.pem().as_bytes())?;
    Ok(ca_file)
}

/// Whether process `pid` runs: it exists, and is no zombie or one with threads still exiting.
/// (The Erlang VM's main thread turns zombie first, while its other threads still hold its
/// files and sockets; a zombie without them has let go of everything, and an orphan's may wait
/// for a reaper that never comes.)
fn running(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _)| {
        state != 'Z'
            || fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|threads| threads.count() > 1)
    })
}

/// The state and parent of process `pid`, from `/proc/<pid>/stat` (after its name, which is in
/// parentheses and may hold anything).
fn stat(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// A node name no other broker on this machine has: this process's id and a counter.
fn node_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("krypton-{}-{n}@localhost", std::process::id())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// How long the processes of a dropped broker get to be gone.
    const GONE_LIMIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_private_broker_starts_takes_a_login_and_stops_without_leftovers() {
        let started = Instant::now();
        let server = RabbitServer::start().expect("start a broker");
        eprintln!("a broker started in {:?}", started.elapsed());
        assert!(server.addr().ip().is_loopback());
        assert_eq!(
            server.url(),
            format!("amqp://krypton@127.0.0.1:{}/%2f", server.addr().port())
        );
        TcpStream::connect_timeout(&server.addr(), PROBE_LIMIT).expect("connect to AMQP");

        let mode = fs::metadata(server.password_file())
            .expect("password file")
            .permissions();
        assert_eq!(mode.mode() & 0o777, 0o600);
        let password = fs::read_to_string(server.password_file()).expect("read the password");
        server
            .rabbitmqctl(&["authenticate_user", BROKER_USER, &password])
            .expect("log in as krypton");
        for (user, password) in [(BROKER_USER, "wrong"), ("guest", "guest")] {
            let refused = server.rabbitmqctl(&["authenticate_user", user, password]);
            assert!(refused.is_err(), "{user} logged in with {password}");
        }
        assert_eq!(server.list_queues().expect("list queues"), []);

        let dir = server.dir.path().to_owned();
        let mut processes = family(server.broker.pid().expect("broker pid"));
        processes.extend(server.epmd.pid());
        assert!(processes.len() >= 3, "shell, VM and epmd: {processes:?}");
        assert!(
            !naming(&dir).is_empty(),
            "the VM's command line names its HOME"
        );

        let stopping = Instant::now();
        drop(server);
        eprintln!("a broker stopped in {:?}", stopping.elapsed());
        let deadline = Instant::now() + GONE_LIMIT;
        while processes.iter().any(|&pid| running(pid)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
        }
        let left: Vec<_> = processes.iter().filter(|&&pid| running(pid)).collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        assert_eq!(naming(&dir), Vec::<u32>::new(), "processes naming {dir:?}");
        assert!(!dir.exists());
    }

    #[test]
    fn a_killed_broker_restarts_with_its_durable_queue_and_persistent_messages() {
        let mut server = RabbitServer::start().expect("start a broker");
        server
            .rabbitmqctl(&["eval", &declare_durable("tasks")])
            .expect("declare a durable queue");
        server
            .rabbitmqctl(&["eval", &publish_persistent("tasks", "task one")])
            .expect("publish a persistent message");
        assert_eq!(server.list_queues().expect("list"), [("tasks".into(), 1)]);
        // Past the queue's sync interval (200 ms): what a publisher confirm would wait for.
        thread::sleep(Duration::from_secs(1));

        server.kill().expect("kill the broker");
        assert!(TcpStream::connect_timeout(&server.addr(), PROBE_LIMIT).is_err());
        let restarting = Instant::now();
        server.restart().expect("restart the broker");
        eprintln!("a killed broker restarted in {:?}", restarting.elapsed());
        assert_eq!(server.list_queues().expect("list"), [("tasks".into(), 1)]);
    }

    #[test]
    fn a_test_binary_shares_one_broker() {
        let first = RabbitServer::shared().expect("the shared broker");
        let second = RabbitServer::shared().expect("the shared broker again");
        assert!(std::ptr::eq(first, second));
        first.list_queues().expect("list queues");
    }

    /// Erlang that declares durable queue `name` on vhost `/`, as an AMQP client would.
    fn declare_durable(name: &str) -> String {
        format!(
            "rabbit_amqqueue:declare(rabbit_misc:r(<<\"/\">>, queue, <<\"{name}\">>), \
             true, false, [], none, <<\"{BROKER_USER}\">>)."
        )
    }

    /// Erlang that publishes `body` persistently (delivery mode 2) to queue `queue` through the
    /// default exchange.
    fn publish_persistent(queue: &str, body: &str) -> String {
        format!(
            "rabbit_basic:publish(rabbit_misc:r(<<\"/\">>, exchange, <<\"\">>), \
             <<\"{queue}\">>, [{{delivery_mode, 2}}], <<\"{body}\">>)."
        )
    }

    /// `root` and every process descended from it.
    fn family(root: u32) -> Vec<u32> {
        let parents: Vec<(u32, u32)> = pids()
            .into_iter()
            .filter_map(|pid| Some((pid, stat(pid)?.1)))
            .collect();
        let mut family = vec![root];
        let mut next = 0;
        while let Some(&parent) = family.get(next) {
            family.extend(
                parents
                    .iter()
                    .filter(|&&(_, ppid)| ppid == parent)
                    .map(|&(pid, _)| pid),
            );
            next += 1;
        }
        family
    }

    /// The live processes whose command line mentions `dir`.
    fn naming(dir: &Path) -> Vec<u32> {
        let dir = dir.display().to_string();
        pids()
            .into_iter()
            .filter(|&pid| running(pid))
            .filter(|pid| {
                fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|line| String::from_utf8_lossy(&line).contains(&dir))
            })
            .collect()
    }

    fn pids() -> Vec<u32> {
        fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect()
    }
}
