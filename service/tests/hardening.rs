//! Process hardening, checked against the kernel's own view of the process.
//!
//! Hardening changes the whole process for good, so each scenario runs in a fresh copy of this
//! test binary: the test re-executes it with an environment variable naming the scenario, and
//! passes if that child exits successfully. The suite has its own `main` (libtest-mimic, with
//! cargo test's interface) so that the child runs the scenario before any harness thread exists
//! and the parent never hardens itself.
//!
//! The scenarios need root, as CI runs: root's `CAP_IPC_LOCK` lets `mlockall` pass whatever
//! `RLIMIT_MEMLOCK` says, and a scenario that must see `mlockall` fail gives that capability up by
//! switching to the unprivileged user `nobody`.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Failed, Trial};

/// Names the scenario a child process is to run; unset in the parent.
const SCENARIO: &str = "KRYPTON_HARDENING_SCENARIO";

/// Each test: its name, and the scenario its child process runs.
const TESTS: [(&str, &str, fn()); 3] = [
    (
        "hardening_locks_all_memory_and_makes_the_process_undumpable",
        "locked_and_undumpable",
        scenarios::locked_and_undumpable,
    ),
    (
        "a_low_memlock_limit_stops_the_start_with_a_message_naming_the_fix",
        "memlock_limit_too_low",
        scenarios::memlock_limit_too_low,
    ),
    (
        "the_development_flag_turns_the_memlock_failure_into_a_warning",
        "memlock_failure_allowed",
        scenarios::memlock_failure_allowed,
    ),
];

fn main() -> ExitCode {
    if let Ok(wanted) = std::env::var(SCENARIO) {
        // The child: run the one scenario in this otherwise idle process; a panic fails it.
        let (_, _, scenario) = TESTS
            .iter()
            .find(|(_, name, _)| *name == wanted)
            .unwrap_or_else(|| panic!("no scenario {wanted}"));
        scenario();
        return ExitCode::SUCCESS;
    }
    let trials = TESTS
        .iter()
        .map(|&(test, scenario, _)| Trial::test(test, move || run_scenario(scenario)))
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}

fn run_scenario(name: &str) -> Result<(), Failed> {
    let output = Command::new(std::env::current_exe()?)
        .env(SCENARIO, name)
        .output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "scenario {name} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
    .into())
}

/// The scenarios, each run alone in a child process by the test of the same purpose above.
mod scenarios {
    use std::hint::black_box;

    use crate::common::status_kib;

    use krypton_service::hardening::{Hardening, HardeningError, harden_process};
    use nix::sys::prctl;
    use nix::sys::resource::{Resource, setrlimit};
    use nix::unistd::{Gid, Uid, geteuid, setgid, setgroups, setuid};

    /// Special mappings the kernel installs and `mlock` leaves alone.
    const KERNEL_MAPPINGS: [&str; 4] = ["[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]"];

    /// Name and resident kB of each mapping in `/proc/self/smaps` that has resident pages but no
    /// `lo` (VM_LOCKED) flag.
    fn resident_unlocked_mappings() -> Vec<(String, u64)> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut found = Vec::new();
        let (mut name, mut rss) = (String::new(), 0);
        for line in smaps.lines() {
            let mut fields = line.split_whitespace();
            let Some(first) = fields.next() else { continue };
            if let Some(value) = line.strip_prefix("Rss:") {
                rss = value.trim().trim_end_matches(" kB").trim().parse().unwrap();
            } else if first == "VmFlags:" {
                if rss > 0 && !fields.any(|flag| flag == "lo") {
                    found.push((name.clone(), rss));
                }
            } else if !first.ends_with(':') {
                // A mapping's header: range, perms, offset, device, inode, then the name.
                name = fields.nth(4).unwrap_or("").to_owned();
            }
        }
        found
    }

    /// The kernel's record of `RLIMIT_CORE`: soft and hard limits both 0.
    fn assert_no_core_files() {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let core = limits
            .lines()
            .find(|line| line.starts_with("Max core file size"))
            .unwrap();
        let values: Vec<&str> = core.split_whitespace().skip(4).take(2).collect();
        assert_eq!(values, ["0", "0"], "{core}");
    }

    /// Leaves `RLIMIT_MEMLOCK` at 64 KiB and, as root, becomes `nobody` so that no
    /// `CAP_IPC_LOCK` lifts the limit again.
    fn lose_the_right_to_lock_memory() {
        setrlimit(Resource::RLIMIT_MEMLOCK, 64 << 10, 64 << 10).unwrap();
        if geteuid().is_root() {
            let nobody = 65534;
            setgroups(&[]).unwrap();
            setgid(Gid::from_raw(nobody)).unwrap();
            setuid(Uid::from_raw(nobody)).unwrap();
        }
        let capabilities = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(
            capabilities.contains("CapEff:\t0000000000000000"),
            "{capabilities}"
        );
    }

    pub(super) fn locked_and_undumpable() {
        let report = harden_process(Hardening::default()).unwrap();
        assert!(report.unlocked_memory.is_none(), "{report:?}");

        // MCL_FUTURE: memory the process maps after hardening is locked as well.
        let late = black_box(vec![0x5au8; 16 << 20]);
        // MCL_ONFAULT: memory mapped but never touched (like the unused depth of a thread's
        // stack) is not made resident by the lock.
        let before = status_kib("VmRSS");
        let reserved: Vec<u8> = black_box(Vec::with_capacity(64 << 20));
        let after = status_kib("VmRSS");
        assert!(
            after < before + (8 << 10),
            "64 MiB reserved, untouched: VmRSS {before} kB, then {after} kB"
        );
        drop(reserved);

        // Every mapping with resident pages carries VM_LOCKED ("lo"), except the kernel's own
        // vDSO-style mappings, which mlock skips.
        let unlocked = resident_unlocked_mappings();
        let unlocked_kib: u64 = unlocked.iter().map(|(_, rss)| rss).sum();
        assert!(
            unlocked
                .iter()
                .all(|(name, _)| KERNEL_MAPPINGS.contains(&name.as_str())),
            "resident but not locked: {unlocked:?}"
        );
        // The headline numbers: the locked size covers the resident set.
        let locked = status_kib("VmLck");
        let resident = status_kib("VmRSS");
        assert!(
            locked + unlocked_kib >= resident,
            "VmLck {locked} kB, VmRSS {resident} kB"
        );
        assert!(
            resident > 16 << 10,
            "the late 16 MiB are resident: {resident} kB"
        );
        drop(late);

        // M_MMAP_THRESHOLD: blocks of a MiB are unmapped when freed, even after glibc has seen
        // such a block freed (which would raise its threshold) and with small allocations made
        // between them still in use (which would keep the heap's holes resident and locked).
        drop(black_box(vec![0xa5u8; 1 << 20]));
        let settled = status_kib("VmRSS");
        let mut pins = Vec::new();
        let mut blocks = Vec::new();
        for _ in 0..16 {
            blocks.push(black_box(vec![0xa5u8; 1 << 20]));
            pins.push(black_box(Box::new([0u8; 64])));
        }
        drop(blocks);
        let after = status_kib("VmRSS");
        assert!(
            after < settled + (4 << 10),
            "16 MiB freed: VmRSS {settled} kB, then {after} kB"
        );
        drop(pins);

        assert!(!prctl::get_dumpable().unwrap());
        assert_no_core_files();
    }

    pub(super) fn memlock_limit_too_low() {
        lose_the_right_to_lock_memory();
        let error = harden_process(Hardening::default()).unwrap_err();
        assert!(matches!(
            error,
            HardeningError::MemoryLock {
                limit: Some(65536),
                ..
            }
        ));
        let message = error.to_string();
        for named in [
            "RLIMIT_MEMLOCK is 64 KiB",
            "LimitMEMLOCK=infinity",
            "allow_unlocked_memory",
        ] {
            assert!(message.contains(named), "{message}");
        }
        // Core files were disabled before locking failed.
        assert_no_core_files();
        assert_eq!(status_kib("VmLck"), 0);
    }

    pub(super) fn memlock_failure_allowed() {
        lose_the_right_to_lock_memory();
        let report = harden_process(Hardening {
            allow_unlocked_memory: true,
        })
        .unwrap();
        assert!(matches!(
            report.unlocked_memory,
            Some(HardeningError::MemoryLock { .. })
        ));
        assert!(!prctl::get_dumpable().unwrap());
    }
}
