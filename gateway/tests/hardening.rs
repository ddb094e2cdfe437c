//! The real `krypton-gateway` binary hardens itself before it serves: memory locked, core dumps
//! off, not dumpable (so not traceable by its own user), and without the development escape
//! hatch it refuses to start where memory cannot be locked.
//!
//! The kernel's view of the running process is read from `/proc/<pid>`. The scenarios need root,
//! as CI runs: root's `CAP_IPC_LOCK` lets `mlockall` pass, and the unprivileged scenarios run
//! the gateway as `nobody` with a 64 KiB `RLIMIT_MEMLOCK` so that it cannot.
#![allow(clippy::unwrap_used)]

mod common;
mod process;

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{MEMORY_VAULT, Pki, core_section, dead_address, gateway_toml};
use krypton_dev::process::free_loopback_addr;
use nix::sys::resource::{Resource, setrlimit};
use process::GatewayProcess;

/// The unprivileged user the gateway drops to in the scenarios that must not lock memory.
const NOBODY: u32 = 65534;

/// Who runs the gateway.
#[derive(Clone, Copy)]
enum As {
    Root,
    /// `nobody`, allowed 64 KiB of locked memory.
    Nobody,
}

/// A gateway configuration on disk, readable by `nobody` (throw-away test credentials).
struct Setup {
    pki: Pki,
    config: PathBuf,
    port: u16,
}

impl Setup {
    fn new(allow_unlocked_memory: bool) -> Self {
        let pki = Pki::new();
        let port = free_loopback_addr().unwrap().port();
        let toml = gateway_toml(
            &pki,
            &format!("127.0.0.1:{port}"),
            "",
            &core_section(&pki, &dead_address()),
            MEMORY_VAULT,
        )
        .replace(
            "allow_unlocked_memory = true",
            &format!("allow_unlocked_memory = {allow_unlocked_memory}"),
        );
        let config = pki.dir().join("gateway.toml");
        fs::write(&config, toml).unwrap();
        fs::set_permissions(pki.dir(), fs::Permissions::from_mode(0o755)).unwrap();
        for entry in fs::read_dir(pki.dir()).unwrap() {
            fs::set_permissions(entry.unwrap().path(), fs::Permissions::from_mode(0o644)).unwrap();
        }
        Self { pki, config, port }
    }

    fn spawn(&self, user: As) -> GatewayProcess {
        let mut command = GatewayProcess::command(&self.config);
        if let As::Nobody = user {
            command.uid(NOBODY).gid(NOBODY);
            // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else of
            // the parent's between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    setrlimit(Resource::RLIMIT_MEMLOCK, 64 << 10, 64 << 10)
                        .map_err(std::io::Error::from)
                });
            }
        }
        GatewayProcess::spawn(command, &self.pki.dir().join("gateway.log"))
    }
}

/// `file` of the gateway's `/proc/<pid>` directory.
fn proc(gateway: &GatewayProcess, file: &str) -> PathBuf {
    Path::new("/proc").join(gateway.id().to_string()).join(file)
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib(gateway: &GatewayProcess, field: &str) -> u64 {
    let status = fs::read_to_string(proc(gateway, "status")).unwrap();
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    value.trim().trim_end_matches(" kB").trim().parse().unwrap()
}

/// The kernel's record of `RLIMIT_CORE`: soft and hard limits both 0.
fn assert_no_core_files(gateway: &GatewayProcess) {
    let limits = fs::read_to_string(proc(gateway, "limits")).unwrap();
    let core = limits
        .lines()
        .find(|line| line.starts_with("Max core file size"))
        .unwrap();
    let values: Vec<&str> = core.split_whitespace().skip(4).take(2).collect();
    assert_eq!(values, ["0", "0"], "{core}");
}

/// The owner of `/proc/<pid>/status`: the process's own user while it is dumpable, root once
/// it is not (proc(5)).
fn proc_owner(proc_dir_file: &Path) -> u32 {
    fs::metadata(proc_dir_file).unwrap().uid()
}

#[test]
fn the_gateway_locks_its_memory_and_disables_core_files() {
    let setup = Setup::new(false);
    let mut gateway = setup.spawn(As::Root);
    gateway.wait_until_listening(setup.port);
    let locked = status_kib(&gateway, "VmLck");
    let resident = status_kib(&gateway, "VmRSS");
    // Everything resident is locked, but for the kernel's few vDSO pages, which mlock skips.
    assert!(
        locked + 64 >= resident,
        "VmLck {locked} kB, VmRSS {resident} kB"
    );
    assert_no_core_files(&gateway);
    let log = gateway.log();
    assert!(
        log.contains("process hardened: no core dumps, not traceable, memory locked"),
        "{log}"
    );
}

#[test]
fn an_unprivileged_gateway_is_not_dumpable_and_warns_that_memory_is_not_locked() {
    // The check below tells the two apart: an ordinary process of nobody's owns its /proc files.
    let mut ordinary = Command::new("sleep")
        .arg("30")
        .uid(NOBODY)
        .gid(NOBODY)
        .spawn()
        .unwrap();
    let ordinary_owner = proc_owner(
        &Path::new("/proc")
            .join(ordinary.id().to_string())
            .join("status"),
    );
    ordinary.kill().unwrap();
    ordinary.wait().unwrap();
    assert_eq!(ordinary_owner, NOBODY);

    let setup = Setup::new(true);
    let mut gateway = setup.spawn(As::Nobody);
    gateway.wait_until_listening(setup.port);
    let status = fs::read_to_string(proc(&gateway, "status")).unwrap();
    assert!(status.contains(&format!("Uid:\t{NOBODY}\t")), "{status}");
    assert_eq!(
        proc_owner(&proc(&gateway, "status")),
        0,
        "the gateway is not dumpable"
    );
    assert_no_core_files(&gateway);
    assert_eq!(status_kib(&gateway, "VmLck"), 0);
    let log = gateway.log();
    assert!(
        log.contains("memory is NOT locked (allowed by [hardening] allow_unlocked_memory)"),
        "{log}"
    );
}

#[test]
fn without_the_escape_hatch_a_gateway_that_cannot_lock_memory_does_not_start() {
    let setup = Setup::new(false);
    let mut gateway = setup.spawn(As::Nobody);
    let status = gateway.exit_status();
    assert!(!status.success(), "{status}");
    let log = gateway.log();
    for named in [
        "RLIMIT_MEMLOCK is 64 KiB",
        "LimitMEMLOCK=infinity",
        "allow_unlocked_memory",
    ] {
        assert!(log.contains(named), "{named}: {log}");
    }
    assert!(TcpStream::connect(("127.0.0.1", setup.port)).is_err());
}
