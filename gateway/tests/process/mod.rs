//! The real `krypton-gateway` binary as a child process of a test: started with its stderr in a
//! log file the test reads back, signalled, waited for within a bound, killed when dropped.
//! Apart from `common`, which the load generator's tests share and which cannot name this
//! package's binary.

// Every test binary that starts the gateway compiles this module and uses a part of it.
#![allow(dead_code)]

use std::fs::{self, File};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::BOUND;

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// A running `krypton-gateway`, killed when dropped.
pub struct GatewayProcess {
    child: Child,
    log: PathBuf,
}

impl GatewayProcess {
    /// The binary reading `config`; the caller adds environment, user and the like.
    pub fn command(config: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_krypton-gateway"));
        command.arg("--config").arg(config);
        command
    }

    /// Starts `command` with its stderr going to `log`.
    pub fn spawn(mut command: Command, log: &Path) -> Self {
        let child = command.stderr(File::create(log).unwrap()).spawn().unwrap();
        Self {
            child,
            log: log.to_owned(),
        }
    }

    /// The process ID.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the gateway logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits, at most [`BOUND`], until the gateway accepts connections on `port`; fails the test
    /// with the log if it exits first.
    pub fn wait_until_listening(&mut self, port: u16) {
        self.wait_for("listening", |gateway| {
            TcpStream::connect(("127.0.0.1", port)).is_ok() || gateway.exited()
        });
        assert!(!self.exited(), "gateway exited:\n{}", self.log());
    }

    /// Waits, at most [`BOUND`], until `text` appears in the log `times` times.
    pub fn wait_for_log(&mut self, text: &str, times: usize) {
        self.wait_for(text, |gateway| gateway.log().matches(text).count() >= times);
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(i32::try_from(self.id()).unwrap()), signal).unwrap();
    }

    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits, at most [`BOUND`], for the process to end.
    pub fn exit_status(&mut self) -> ExitStatus {
        self.wait_for("the exit", Self::exited);
        self.child.wait().unwrap()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.exit_status()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn wait_for(&mut self, what: &str, mut done: impl FnMut(&mut Self) -> bool) {
        let deadline = Instant::now() + BOUND;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "gateway: no {what} within {BOUND:?}:\n{}",
                self.log()
            );
            sleep(POLL);
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
