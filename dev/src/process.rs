//! The processes krypton-dev starts: long-running daemons that are always stopped again, and
//! short commands that are always bounded in time.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Error;

/// How often a waiting loop looks again.
pub(crate) const POLL: Duration = Duration::from_millis(50);
/// How long a daemon gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// How much of a daemon's log an error shows.
const LOG_TAIL_BYTES: u64 = 4096;
/// How many ports [`free_loopback_addr`] draws from the kernel before giving up.
const MAX_PORT_DRAWS: usize = 64;
/// How much output of a short command is read.
const MAX_OUTPUT_BYTES: u64 = 1024 * 1024;

/// A daemon started by krypton-dev, its output going to a log file. Stopped (SIGTERM, then
/// SIGKILL after a grace period) when dropped.
///
/// Daemons run in a process group of their own, so a Ctrl-C in the terminal reaches only
/// krypton-dev, which stops them in order; and they get SIGTERM if the thread that started them
/// dies, so not even a killed krypton-dev leaves them behind.
#[derive(Debug)]
pub struct Daemon {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
    /// The signal that asks it to stop.
    stop_signal: Signal,
}

impl Daemon {
    /// Starts `program` with `args`, its stdout and stderr appended to `log`.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[&OsStr],
        envs: &[(&str, &OsStr)],
        log: &Path,
    ) -> Result<Self, Error> {
        let mut command = Command::new(program);
        command.args(args).envs(envs.iter().copied());
        Self::spawn_command(name, command, log, Signal::SIGTERM)
    }

    /// Starts `command` as it is prepared (its user, its environment), its stdout and stderr
    /// appended to `log`; [`stop`](Self::stop) sends it `stop_signal` first.
    pub fn spawn_command(
        name: &'static str,
        mut command: Command,
        log: &Path,
        stop_signal: Signal,
    ) -> Result<Self, Error> {
        let program = Path::new(command.get_program()).to_owned();
        if !program.is_file() {
            return Err(Error::MissingBinary(program));
        }
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|source| Error::Io {
                action: "open",
                path: log.to_owned(),
                source,
            })?;
        let stderr = log_file.try_clone().map_err(|source| Error::Io {
            action: "open",
            path: log.to_owned(),
            source,
        })?;
        command
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .process_group(0);
        // SAFETY: runs in the child between fork and exec (after any change of user, which
        // would clear the setting), and makes one async-signal-safe system call (prctl)
        // without allocating.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let child = command.spawn().map_err(|source| Error::Process {
            action: "start",
            program: program.display().to_string(),
            source,
        })?;
        Ok(Self {
            name,
            child: Some(child),
            log: log.to_owned(),
            stop_signal,
        })
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The daemon's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails if the daemon has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        let Some(child) = self.child.as_mut() else {
            return Err(self.process_error("check", std::io::ErrorKind::NotFound.into()));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(Error::Exited {
                    name: self.name,
                    status,
                    log: self.log.clone(),
                    tail: log_tail(&self.log),
                })
            }
            Err(source) => Err(self.process_error("check", source)),
        }
    }

    /// Waits until `ready` returns true, failing if the daemon exits or `limit` passes first.
    pub fn wait_until(
        &mut self,
        what: &'static str,
        limit: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + limit;
        loop {
            self.check_running()?;
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    name: self.name,
                    what,
                    waited: limit,
                    log: self.log.clone(),
                    tail: log_tail(&self.log),
                });
            }
            thread::sleep(POLL);
        }
    }

    /// Waits until something accepts TCP connections on `addr`.
    pub fn wait_for_listener(&mut self, addr: SocketAddr, limit: Duration) -> Result<(), Error> {
        self.wait_until("listening on its port", limit, || {
            TcpStream::connect_timeout(&addr, POLL).is_ok()
        })
    }

    /// Stops the daemon: its stop signal (SIGTERM unless it was started with another), and
    /// SIGKILL if it has not exited after a grace period.
    /// Returns how it exited (`None` if it had already been reaped).
    pub fn stop(&mut self) -> Result<Option<ExitStatus>, Error> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        // ESRCH: it has exited already and only waits to be reaped.
        let _ = kill(pid, self.stop_signal);
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(Some(status)),
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                Ok(None) => {
                    let _ = child.kill();
                    return child
                        .wait()
                        .map(Some)
                        .map_err(|source| self.process_error("kill", source));
                }
                Err(source) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.process_error("wait for", source));
                }
            }
        }
    }

    /// Kills the daemon and every process of its group at once (SIGKILL), as a crash would,
    /// and reaps it.
    pub fn kill(&mut self) -> Result<(), Error> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        // ESRCH: the group is gone already; the child is still reaped below.
        let _ = nix::sys::signal::killpg(group, Signal::SIGKILL);
        let killed = child.kill().and_then(|()| child.wait());
        killed
            .map(drop)
            .map_err(|source| self.process_error("kill", source))
    }

    fn process_error(&self, action: &'static str, source: std::io::Error) -> Error {
        Error::Process {
            action,
            program: self.name.to_owned(),
            source,
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Nothing to report to: the caller that wanted the outcome called stop().
        let _ = self.stop();
    }
}

/// The last few kilobytes of a log, for an error message.
fn log_tail(log: &Path) -> String {
    let mut tail = Vec::new();
    if let Ok(mut file) = File::open(log) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)));
        let _ = file.take(LOG_TAIL_BYTES).read_to_end(&mut tail);
    }
    String::from_utf8_lossy(&tail).into_owned()
}

/// What a short command printed, and how it exited.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to completion with stdin closed; kills it and returns `None` if it takes
/// longer than `limit`.
pub fn run_bounded(mut command: Command, limit: Duration) -> Result<Option<Output>, Error> {
    let program = command.get_program().to_string_lossy().into_owned();
    let process_error = |action, source| Error::Process {
        action,
        program: program.clone(),
        source,
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| process_error("start", source))?;
    let stdout = child.stdout.take().map(read_in_background);
    let stderr = child.stderr.take().map(read_in_background);
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            Err(source) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(process_error("wait for", source));
            }
        }
    };
    let collect = |reader: Option<thread::JoinHandle<String>>| {
        reader
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    };
    Ok(Some(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }))
}

/// What a command run by [`run_bounded`] printed, or why it failed: it ran out of `limit`
/// (`ran` is `None`), or exited non-zero (what it printed on stderr, else on stdout).
pub(crate) fn command_result(
    name: &str,
    ran: Option<Output>,
    limit: Duration,
) -> Result<String, String> {
    match ran {
        None => Err(format!("{name} did not finish within {limit:?}")),
        Some(output) if output.status.success() => Ok(output.stdout),
        Some(output) => {
            let printed = match output.stderr.trim() {
                "" => output.stdout.trim(),
                stderr => stderr,
            };
            Err(format!("{name} failed ({}): {printed}", output.status))
        }
    }
}

fn read_in_background(pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.take(MAX_OUTPUT_BYTES).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A loopback address whose port was free a moment ago and that this process has not handed
/// out before. The port is released before this returns, so another process could take it
/// first; but two stacks of one test binary never race for one port, nor does a new stack take
/// the port of a daemon another stack stopped and is about to restart. (The kernel may well give
/// a just-released port out again, and a waiter that only sees *something* listen there would
/// take another stack's daemon for its own.)
pub fn free_loopback_addr() -> Result<SocketAddr, Error> {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..MAX_PORT_DRAWS {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(Error::NoFreePort)?;
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if handed_out.insert(addr.port()) {
            return Ok(addr);
        }
    }
    Err(Error::NoFreePort(std::io::ErrorKind::AddrInUse.into()))
}

/// Starts the shared server of `cell` on first use, from a thread that lives as long as the
/// process (a daemon is signalled when the thread that started it ends), and a watcher that
/// stops it and removes its directory when the process exits. `place` names the server's main
/// process and its directory. Fails with why the first start failed, on every call.
pub(crate) fn share<S: Send + Sync + 'static>(
    cell: &'static OnceLock<Result<S, String>>,
    start: fn() -> Result<S, Error>,
    place: fn(&S) -> (Option<u32>, PathBuf),
) -> Result<&'static S, &'static str> {
    cell.get_or_init(|| {
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            let started = start().and_then(|server| {
                let (pid, dir) = place(&server);
                watch(pid, &dir)?;
                Ok(server)
            });
            let _ = sender.send(started.map_err(|error| error.to_string()));
            // Park for good: this thread's end would stop the server.
            loop {
                thread::park();
            }
        });
        receiver
            .recv()
            .map_err(|_| "the server's thread ended".to_owned())?
    })
    .as_ref()
    .map_err(String::as_str)
}

/// Starts a watcher that, once this process is gone, waits (bounded) for the server `pid` to
/// stop and removes `dir`: statics are never dropped.
fn watch(pid: Option<u32>, dir: &Path) -> Result<(), Error> {
    let pid = pid.map_or_else(String::new, |pid| pid.to_string());
    let script = "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
                  for _ in $(seq 30); do kill -0 \"$2\" 2>/dev/null || break; sleep 1; done; \
                  rm -rf -- \"$3\"";
    Command::new("/bin/sh")
        .args(["-c", script, "watcher"])
        .arg(std::process::id().to_string())
        .arg(pid)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|source| Error::Process {
            action: "start",
            program: "the shared server's watcher".into(),
            source,
        })
}
