//! The README's run command end to end: `scripts/run.sh` (krypton-dev) brings up krypton-core and
//! krypton-gateway (SoftHSM2 token, ceremony, tenant link, service L3), PyKMIP creates and gets
//! a key through the gateway, Ctrl-C (SIGINT) stops both processes, and a second run on the same
//! data dir comes back unsealed with the key still there.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them): the script's
//! `KRYPTON_BIN_DIR` replaces its release build, everything else is what a user runs.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread;
use std::time::{Duration, Instant};

use krypton_dev::process::free_loopback_addr;
use krypton_softhsm_tests::pykmip::App;
use krypton_softhsm_tests::{debug_bin_dir, debug_binary};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

const RUN_COMMAND: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/run.sh");
/// Bring-up includes building RocksDB stores and a SoftHSM2 token; generous for a loaded CI.
const READY_LIMIT: Duration = Duration::from_secs(180);
const STOP_LIMIT: Duration = Duration::from_secs(60);

/// A running `krypton-dev`, killed (with the processes it started) if the test fails.
struct DevRun {
    child: Option<Child>,
    lines: Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
    output: Vec<String>,
    gateway: SocketAddr,
    data_dir: PathBuf,
}

impl DevRun {
    fn start(data_dir: &Path) -> Self {
        for name in ["krypton-core", "kryptonctl", "krypton-gateway"] {
            debug_binary(name).unwrap_or_else(|message| panic!("{message}"));
        }
        debug_binary("krypton-dev").unwrap_or_else(|message| panic!("{message}"));
        let gateway = free_loopback_addr().unwrap();
        let core = free_loopback_addr().unwrap();
        // The README's run command itself, on the debug binaries instead of a release build.
        let mut child = Command::new(RUN_COMMAND)
            .env("KRYPTON_BIN_DIR", debug_bin_dir())
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(gateway.to_string())
            .arg("--core-listen")
            .arg(core.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (send, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut run = Self {
            child: Some(child),
            lines,
            stderr: Some(stderr),
            output: Vec::new(),
            gateway,
            data_dir: data_dir.to_owned(),
        };
        run.wait_for_ready();
        run
    }

    fn wait_for_ready(&mut self) {
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.starts_with("krypton-dev: ready");
                    self.output.push(line);
                    if ready {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.fail("not ready in time"),
                Err(RecvTimeoutError::Disconnected) => self.fail("exited before it was ready"),
            }
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        self.kill();
        let stderr = self
            .stderr
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default();
        panic!(
            "krypton-dev {what}\n--- stdout\n{}\n--- stderr\n{stderr}",
            self.output.join("\n")
        );
    }

    /// The process ids the banner reports: `pids  core=N gateway=M`.
    fn pids(&self) -> Vec<Pid> {
        let line = self
            .output
            .iter()
            .find(|line| line.trim_start().starts_with("pids "))
            .expect("the banner names the processes");
        line.split_whitespace()
            .filter_map(|word| word.split_once('=')?.1.parse().ok())
            .map(Pid::from_raw)
            .collect()
    }

    fn banner_has(&self, text: &str) -> bool {
        self.output.iter().any(|line| line.contains(text))
    }

    /// PyKMIP as app-alice, with the certificate files the dev run wrote.
    fn alice(&self) -> App {
        App::in_data_dir(&self.data_dir, self.gateway, "app-alice")
    }

    fn core_state(&self) -> String {
        let output = Command::new(debug_binary("kryptonctl").unwrap())
            .arg("--socket")
            .arg(self.data_dir.join("core/control.sock"))
            .args(["--json", "status"])
            .output()
            .unwrap();
        let status: Value = serde_json::from_slice(&output.stdout).unwrap();
        status["state"].as_str().unwrap().to_owned()
    }

    /// Ctrl-C: krypton-dev stops the gateway and the core and exits cleanly; none is left.
    fn interrupt(mut self) {
        let pids = self.pids();
        let mut child = self.child.take().unwrap();
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
        let deadline = Instant::now() + STOP_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("krypton-dev did not stop within {STOP_LIMIT:?} of SIGINT");
            }
            thread::sleep(Duration::from_millis(50));
        };
        let rest: Vec<String> = self.lines.iter().collect();
        assert!(
            status.success(),
            "krypton-dev exited with {status}: {rest:?}"
        );
        assert!(
            rest.iter()
                .any(|line| line.starts_with("krypton-dev: stopped"))
        );
        assert_eq!(pids.len(), 2, "{:?}", self.output);
        for pid in pids {
            assert_eq!(kill(pid, None), Err(Errno::ESRCH), "{pid} is still running");
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: krypton-dev stops what it started; it must not outlive the test either.
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + STOP_LIMIT;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DevRun {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn dev_run_serves_pykmip_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("dev-data");

    let first = DevRun::start(&data_dir);
    assert!(first.banner_has("DEV ONLY"));
    assert!(first.banner_has("ProxyKmipClient("));
    assert!(first.banner_has("share-2.txt"));
    let uid = first.alice().create("dev-run");
    let key = first.alice().get(&uid);
    assert_eq!(key.len(), 64, "an AES-256 key: {key}");
    first.interrupt();

    let second = DevRun::start(&data_dir);
    assert!(second.banner_has("started sealed, unsealed with 2 saved shares"));
    assert_eq!(second.core_state(), "unsealed");
    assert_eq!(second.alice().get(&uid), key);
    second.interrupt();
}
