//! Process hardening, applied by each daemon first thing in `main`, before any secret exists in
//! the process and before the async runtime starts its threads.
//!
//! - `RLIMIT_CORE = 0`, soft and hard: no core file can be written, so no key ends up in one.
//! - `PR_SET_DUMPABLE = 0`: no core dump by any route, and processes of the same user that are
//!   not root can neither `ptrace` this one nor read its `/proc/<pid>/mem`.
//! - `mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)`: no page of the process, now or later,
//!   is written to swap. `MCL_ONFAULT` locks each page when it is first touched, before anything
//!   is written to it, instead of populating every mapping as it is made: the guarantee is the
//!   same (a page that ever held a byte is locked), but the untouched rest of each thread's
//!   stack and of malloc's reservations costs no memory. Without it each thread held its whole
//!   stack, 2 MiB for a Rust thread and 8 MiB for RocksDB's, so a gateway under 256
//!   connections held 470 MiB. A kernel older than 4.4 lacks the flag; the lock is then taken
//!   without it. Locked pages still count against `RLIMIT_MEMLOCK`: both daemons' systemd
//!   units set `LimitMEMLOCK=infinity`.
//! - glibc's malloc kept to what is in use, since every page it keeps stays locked: one arena per
//!   CPU (`M_ARENA_MAX`) instead of up to eight per CPU, which with tokio's and RocksDB's
//!   threads each picking its own held about 16 MiB more per daemon under load; and blocks of 256 KiB and more
//!   (RocksDB's memtable blocks) mapped for themselves and unmapped when freed
//!   (`M_MMAP_THRESHOLD`, which also stops glibc raising that threshold as it sees them freed):
//!   otherwise they came from the heap and left the core's memory creeping up, some 25 MiB in
//!   two minutes of audited Gets, with no live memory behind it.
//!
//! Both daemons read [`Hardening`] from the `[hardening]` table of their configuration file.

use nix::errno::Errno;
use nix::sys::mman::{MlockAllFlags, mlockall};
use nix::sys::prctl;
use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};
use serde::Deserialize;

/// What [`harden_process`] may let pass: the `[hardening]` table of a daemon's configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hardening {
    /// Development only: start even when memory cannot be locked, reporting the failure in
    /// [`HardeningReport::unlocked_memory`] instead of refusing. Keys may then reach swap.
    pub allow_unlocked_memory: bool,
}

/// What [`harden_process`] achieved.
#[derive(Debug)]
#[non_exhaustive]
pub struct HardeningReport {
    /// Why memory is not locked, when [`Hardening::allow_unlocked_memory`] let the process start
    /// regardless. The caller logs it as a warning.
    pub unlocked_memory: Option<HardeningError>,
}

/// The process could not be hardened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HardeningError {
    /// `setrlimit(RLIMIT_CORE, 0)` failed.
    #[error("cannot disable core files (setrlimit RLIMIT_CORE = 0)")]
    CoreLimit(#[source] Errno),

    /// `prctl(PR_SET_DUMPABLE, 0)` failed.
    #[error("cannot make the process non-dumpable (prctl PR_SET_DUMPABLE = 0)")]
    Dumpable(#[source] Errno),

    /// `mlockall` failed, almost always because `RLIMIT_MEMLOCK` is below the process's size.
    #[error(
        "cannot lock the process's memory (mlockall), so keys could be swapped to disk: \
         RLIMIT_MEMLOCK is {limit}, too low for this process. Set LimitMEMLOCK=infinity in the \
         daemon's systemd unit (or run it with CAP_IPC_LOCK); for development only, \
         `allow_unlocked_memory = true` under [hardening] starts it regardless",
        limit = MemlockLimit(*limit)
    )]
    MemoryLock {
        /// The soft `RLIMIT_MEMLOCK` in bytes when `mlockall` failed (`RLIM_INFINITY` when
        /// unlimited); `None` if it could not be read.
        limit: Option<u64>,
        /// The error `mlockall` returned: `ENOMEM` over the limit, `EPERM` with a limit of 0.
        #[source]
        source: Errno,
    },
}

/// Hardens this process as the module documentation describes.
///
/// Call it first thing in `main`, before any key is read or derived and before the runtime starts
/// ([`serve`](crate::daemon::serve)), then log the report with [`log_hardening!`](crate::log_hardening).
/// Core dumps are disabled even when locking memory then fails.
///
/// # Errors
///
/// [`HardeningError`] if core dumps cannot be disabled, or memory cannot be locked and
/// [`Hardening::allow_unlocked_memory`] is not set.
pub fn harden_process(options: Hardening) -> Result<HardeningReport, HardeningError> {
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(HardeningError::CoreLimit)?;
    prctl::set_dumpable(false).map_err(HardeningError::Dumpable)?;
    tune_malloc();
    let unlocked_memory = match lock_memory() {
        Ok(()) => None,
        Err(error) if options.allow_unlocked_memory => Some(error),
        Err(error) => return Err(error),
    };
    Ok(HardeningReport { unlocked_memory })
}

/// Blocks at least this large are mapped for themselves, and unmapped when freed.
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD: libc::c_int = 256 << 10;

/// Keeps glibc's malloc to what is in use, as the module says. Best effort: were a setting
/// refused, the process would only hold more memory.
#[cfg(target_env = "gnu")]
fn tune_malloc() {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let arenas = libc::c_int::try_from(cpus).unwrap_or(libc::c_int::MAX);
    for (parameter, value) in [
        (libc::M_ARENA_MAX, arenas),
        (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
    ] {
        // SAFETY: mallopt sets one of glibc's allocator parameters, read at its next
        // allocation; it takes no pointer and runs before the runtime's threads exist.
        let _ = unsafe { libc::mallopt(parameter, value) };
    }
}

/// Other C libraries' allocators are not glibc's: nothing to tune.
#[cfg(not(target_env = "gnu"))]
fn tune_malloc() {}

fn lock_memory() -> Result<(), HardeningError> {
    let now_and_later = MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE;
    // nix names no MCL_ONFAULT; libc has the kernel's value.
    let on_fault = MlockAllFlags::from_bits_retain(libc::MCL_ONFAULT);
    let locked = match mlockall(now_and_later | on_fault) {
        Err(Errno::EINVAL) => mlockall(now_and_later),
        locked => locked,
    };
    locked.map_err(|source| HardeningError::MemoryLock {
        limit: getrlimit(Resource::RLIMIT_MEMLOCK)
            .ok()
            .map(|(soft, _hard)| soft),
        source,
    })
}

/// Shows a memory-lock limit the way `ulimit -l` and systemd think of it.
struct MemlockLimit(Option<u64>);

impl std::fmt::Display for MemlockLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("unknown"),
            Some(RLIM_INFINITY) => f.write_str("unlimited"),
            Some(bytes) => write!(f, "{} KiB", bytes / 1024),
        }
    }
}

/// Logs what [`harden_process`] achieved, given its [`HardeningReport`]: an info line when memory
/// is locked, a warning when `allow_unlocked_memory` let the daemon start without. A macro, so
/// that the line is logged under the calling daemon's target and a filter naming the daemon
/// (`KRYPTON_LOG=krypton_gateway=debug`) keeps it.
#[macro_export]
macro_rules! log_hardening {
    ($report:expr) => {
        match &$report.unlocked_memory {
            None => ::tracing::info!("process hardened: no core dumps, not traceable, memory locked"),
            Some(error) => ::tracing::warn!(
                error = %$crate::ErrorChain(error),
                "memory is NOT locked (allowed by [hardening] allow_unlocked_memory): keys may reach swap"
            ),
        }
    };
}
