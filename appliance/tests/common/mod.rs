//! Runs the real `krypton-core` binary on a temporary data directory and drives it through the
//! real `kryptonctl` binary or the control API client.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod secrets;

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use krypton_control_api::{self as control, ControlClient};
use krypton_softhsm_tests::debug_binary;

/// How long a core may take to open its store and listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a core may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A data directory, a socket path and a configuration file: one installation.
pub struct Site {
    dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
}

impl Site {
    pub fn new() -> Self {
        Self::with_config("")
    }

    /// A site whose configuration has `extra` appended (TOML sections).
    pub fn with_config(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run/control.sock");
        let config = dir.path().join("core.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {data:?}\n\n[control]\nsocket = {socket:?}\n\n\
                 [hardening]\n# Containers may not allow locking memory.\nallow_unlocked_memory = true\n{extra}",
                data = dir.path().join("data"),
            ),
        )
        .unwrap();
        Self {
            dir,
            socket,
            config,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the core and waits until its socket answers.
    pub fn start(&self) -> Core {
        let log = self.dir.path().join(format!(
            "core-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_krypton-core"))
            .arg("--config")
            .arg(&self.config)
            .env("KRYPTON_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut core = Core {
            child: Some(child),
            log,
        };
        let started = Instant::now();
        while UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = core.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("krypton-core exited with {status}:\n{}", core.log());
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "krypton-core did not listen in time:\n{}",
                core.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        core
    }

    /// Runs `kryptonctl --socket <this site's socket> args...`.
    pub fn ctl(&self, args: &[&str]) -> Ctl {
        self.ctl_with_stdin(args, "")
    }

    /// Runs kryptonctl with `stdin` as its standard input.
    pub fn ctl_with_stdin(&self, args: &[&str], stdin: &str) -> Ctl {
        use std::io::Write;
        let mut child = Command::new(kryptonctl())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        Ctl(child.wait_with_output().unwrap())
    }

    /// A control API client on this site's socket.
    pub async fn client(&self) -> ControlClient {
        control::connect(&self.socket).await.unwrap()
    }

    /// `kryptonctl --json init`, returning the shares.
    pub fn init(&self, shares: u8, threshold: u8) -> Vec<String> {
        let out = self
            .ctl(&[
                "--json",
                "init",
                "--shares",
                &shares.to_string(),
                "--threshold",
                &threshold.to_string(),
            ])
            .success();
        out.json()["shares"]
            .as_array()
            .unwrap()
            .iter()
            .map(|share| share.as_str().unwrap().to_owned())
            .collect()
    }

    /// Feeds `shares` to `kryptonctl unseal --share-file -`, one call each, and returns the
    /// last call's output.
    pub fn unseal(&self, shares: &[&String]) -> Ctl {
        let mut last = None;
        for share in shares {
            last = Some(
                self.ctl_with_stdin(&["--json", "unseal", "--share-file", "-"], share)
                    .success(),
            );
        }
        last.unwrap()
    }

    /// The state `kryptonctl status` reports.
    pub fn state(&self) -> String {
        self.ctl(&["--json", "status"]).success().json()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Opens the core's database directly (the core must be stopped).
    pub fn open_db(&self) -> rocksdb::DB {
        rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            self.data_dir(),
            krypton_core::Column::ALL.map(krypton_core::Column::name),
        )
        .unwrap()
    }
}

impl Site {
    /// Rewrites the stored install record's CBOR body through `edit`, keeping its tag: the
    /// record stays well formed, so only its authentication can catch the change.
    pub fn edit_install_record(
        &self,
        edit: impl FnOnce(&mut Vec<(ciborium::Value, ciborium::Value)>),
    ) {
        let db = self.open_db();
        let meta = db.cf_handle("meta").unwrap();
        let stored = db.get_cf(meta, b"installation").unwrap().unwrap();
        let (tag, body) = stored.split_at(32);
        let mut record: ciborium::Value = ciborium::from_reader(body).unwrap();
        edit(record.as_map_mut().unwrap());
        let mut edited = tag.to_vec();
        ciborium::into_writer(&record, &mut edited).unwrap();
        db.put_cf(meta, b"installation", edited).unwrap();
    }
}

/// A running core. Dropping it kills the process.
pub struct Core {
    child: Option<Child>,
    log: PathBuf,
}

impl Core {
    /// SIGKILL, as a crash or power loss would end it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("core already stopped");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "krypton-core exited with {status}:\n{}",
                    self.log()
                );
                return;
            }
            if started.elapsed() > STOP_TIMEOUT {
                child.kill().unwrap();
                panic!("krypton-core ignored SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the running core.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let child = self.child.as_ref().expect("core stopped");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().unwrap().is_none())
    }

    /// Waits, at most 20 s, until `text` appears in the log `times` times.
    pub fn wait_for_log(&self, text: &str, times: usize) {
        let started = Instant::now();
        while self.log().matches(text).count() < times {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "krypton-core did not log {text:?} {times} times:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the core has logged so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        std::fs::File::open(&self.log)
            .and_then(|mut f| f.read_to_string(&mut text))
            .unwrap();
        text
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The `kryptonctl` binary, built beside the test binaries (it is another package's:
/// `cargo test --workspace` builds it, or `cargo build -p kryptonctl`).
pub fn kryptonctl() -> PathBuf {
    debug_binary("kryptonctl").unwrap_or_else(|message| panic!("{message}"))
}

/// The output of one kryptonctl run.
#[derive(Debug)]
pub struct Ctl(pub Output);

impl Ctl {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("kryptonctl killed by a signal")
    }

    pub fn stdout(&self) -> String {
        String::from_utf8(self.0.stdout.clone()).unwrap()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8(self.0.stderr.clone()).unwrap()
    }

    /// Asserts exit code 0.
    pub fn success(self) -> Self {
        assert_eq!(self.code(), 0, "kryptonctl failed: {}", self.stderr());
        self
    }

    /// Asserts exit code `code` and one line on stderr.
    pub fn fails_with(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "stdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        assert_eq!(
            self.stderr().lines().count(),
            1,
            "stderr: {}",
            self.stderr()
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout()).unwrap()
    }

    /// The JSON error kryptonctl printed on stderr under `--json`.
    pub fn json_error(&self) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&self.stderr()).unwrap()["error"].clone()
    }
}

/// Reads every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    files
}
