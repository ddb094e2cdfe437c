//! Guarded memory for the keys the core holds in plaintext: the master key, L2 and L3.
//!
//! Each [`SecretKey`] lives in an allocation of its own from `memsec` (libsodium's guarded
//! allocator): the key's page is excluded from core dumps and `mlock`ed, it sits between two
//! no-access guard pages with the key flush against the upper one so that a read past its end
//! faults, and a canary below it is checked on free. On top of that the page is write-protected
//! as soon as the key is in it, and for rarely used keys made inaccessible altogether between
//! uses, so a stray pointer faults instead of reading key bytes.
//!
//! memsec does not report a failed `mlock`; what keeps keys out of swap for certain is
//! [`harden_process`](krypton_service::hardening::harden_process)'s `mlockall`. Each key costs four pages of locked
//! memory and about four memory mappings, so this is for the keys the core holds (a master
//! key, an L2 per tenant, an L3 per service version), not for bulk data.
//!
//! **The number of keys is bounded.** The kernel allows a process `vm.max_map_count` mappings
//! (65,530 by default). A process that reached it could no longer change a key's protection,
//! and must then abort rather than leave a key readable or unreadable; so the keys alive at once
//! are capped below it ([`key_limit`]), and a key past the cap is refused with
//! [`SecretError::TooManyKeys`] — a link or rotation fails with a clear reason, and the core
//! goes on serving every key it holds. Raising `vm.max_map_count` raises the cap.

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use memsec::Prot;
use nix::errno::Errno;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of every key held here: AES-256 and HMAC-SHA256 keys.
pub const KEY_LEN: usize = 32;

/// How a key's page is protected while no [`SecretKey::expose`] call is reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenIdle {
    /// No access at all: a stray read faults. Each `expose` pays two `mprotect` calls, and
    /// concurrent callers share the window in which the page is readable. For keys used now and
    /// then: the master key, L2 keys.
    NoAccess,
    /// Read-only: `expose` costs nothing. For hot keys that many threads use per request (L3),
    /// where changing page protection on every use would serialise them.
    ReadOnly,
}

/// A 32-byte key in guarded, locked memory, wiped on drop.
///
/// It is read only through [`SecretKey::expose`]. It has no `Clone`, no `Serialize`, and its
/// `Debug` prints `SecretKey(..)`.
pub struct SecretKey {
    key: NonNull<[u8; KEY_LEN]>,
    access: Access,
}

enum Access {
    /// The page is `PROT_NONE` unless an `expose` is running; counts the running ones.
    NoAccessWhenIdle { readers: Mutex<usize> },
    /// The page is `PROT_READ` for the key's whole life.
    ReadOnly,
}

// SAFETY: the key's memory is owned by this value alone. After construction its bytes are only
// read (through `&self`), never written until `drop`, which has `&mut self`; page protection
// changes made through `&self` are serialised by the `readers` mutex.
unsafe impl Send for SecretKey {}
// SAFETY: as for `Send`.
unsafe impl Sync for SecretKey {}

/// Guarded key memory could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The guarded allocation failed: the process is out of memory.
    #[error("cannot allocate guarded memory for a key")]
    Allocation,
    /// The key's page could not be protected (`mprotect`), typically because the process hit
    /// `vm.max_map_count`.
    #[error("cannot protect a key's memory page")]
    Protection(#[source] Errno),
    /// As many keys as the process can guard are alive (`key_limit`): raise
    /// `vm.max_map_count` to hold more.
    #[error(
        "{limit} keys are held in guarded memory, the most vm.max_map_count allows; raise it (sysctl vm.max_map_count) to hold more"
    )]
    TooManyKeys {
        /// The cap.
        limit: usize,
    },
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random(#[source] aws_lc_rs::error::Unspecified),
    /// HKDF refused to expand a 32-byte key: a bug, its output length is fixed.
    #[error("key derivation failed")]
    Derivation,
}

impl SecretKey {
    /// A key drawn from the system RNG straight into guarded memory.
    pub fn random(when_idle: WhenIdle) -> Result<Self, SecretError> {
        Self::from_fn(when_idle, |key| {
            SystemRandom::new().fill(key).map_err(SecretError::Random)
        })
    }

    /// A key written by `fill` straight into guarded memory, so that it never exists anywhere
    /// else: a Shamir combine or an HSM unwrap writes its output here.
    ///
    /// `fill` must write all 32 bytes; what the buffer holds before is unspecified. If `fill`
    /// fails, the memory is wiped and freed and its error returned.
    pub fn from_fn<E>(
        when_idle: WhenIdle,
        fill: impl FnOnce(&mut [u8; KEY_LEN]) -> Result<(), E>,
    ) -> Result<Self, E>
    where
        E: From<SecretError>,
    {
        let mut key = Self::allocate(when_idle)?;
        // SAFETY: the allocation is ours, initialised (memsec fills it) and still read-write,
        // and `key` is not shared yet, so this is the only reference to it.
        fill(unsafe { key.key.as_mut() })?;
        key.protect(match when_idle {
            WhenIdle::NoAccess => Prot::NoAccess,
            WhenIdle::ReadOnly => Prot::ReadOnly,
        })?;
        Ok(key)
    }

    /// A new key derived from this one by HKDF-SHA256 (no salt: this key is already uniformly
    /// random) expanded under `info`, in its own guarded memory.
    pub(crate) fn derive(&self, info: &[&[u8]], when_idle: WhenIdle) -> Result<Self, SecretError> {
        Self::from_fn(when_idle, |out| {
            self.expose(|root| {
                Salt::new(HKDF_SHA256, &[])
                    .extract(root)
                    .expand(info, HKDF_SHA256)
                    .and_then(|okm| okm.fill(out))
            })
            .map_err(|_| SecretError::Derivation)
        })
    }

    /// Runs `f` with the key. The reference cannot outlive the call; whatever `f` copies out of
    /// it is the caller's to protect.
    ///
    /// # Aborts
    ///
    /// If the page protection of a [`WhenIdle::NoAccess`] key cannot be changed (the kernel
    /// refuses `mprotect`), the process aborts: it could neither read the key nor put it back
    /// out of reach, and a key-management process fails closed.
    pub fn expose<R>(&self, f: impl FnOnce(&[u8; KEY_LEN]) -> R) -> R {
        let _exposure = Exposure::open(self);
        // SAFETY: the key is initialised and lives as long as `self`; its page is readable while
        // `_exposure` lives, and nothing writes to it while `&self` exists.
        f(unsafe { self.key.as_ref() })
    }

    /// Whether `other` holds the same key, compared in constant time.
    pub(crate) fn same_as(&self, other: &SecretKey) -> bool {
        self.expose(|a| other.expose(|b| verify_slices_are_equal(a, b).is_ok()))
    }

    fn allocate(when_idle: WhenIdle) -> Result<Self, SecretError> {
        take_place(&LIVE_KEYS, key_limit())?;
        // SAFETY: `memsec::malloc` has no preconditions; it returns a fresh allocation or None.
        let Some(key) = (unsafe { memsec::malloc::<[u8; KEY_LEN]>() }) else {
            LIVE_KEYS.fetch_sub(1, Ordering::Relaxed);
            return Err(SecretError::Allocation);
        };
        let access = match when_idle {
            WhenIdle::NoAccess => Access::NoAccessWhenIdle {
                readers: Mutex::new(0),
            },
            WhenIdle::ReadOnly => Access::ReadOnly,
        };
        Ok(Self { key, access })
    }

    fn protect(&self, prot: Prot::Ty) -> Result<(), SecretError> {
        // SAFETY: `self.key` came from `memsec::malloc` and is freed only in `drop`.
        if unsafe { memsec::mprotect(self.key, prot) } {
            Ok(())
        } else {
            Err(SecretError::Protection(Errno::last()))
        }
    }

    /// `protect`, for callers that cannot go on without it.
    fn protect_or_abort(&self, prot: Prot::Ty) {
        if let Err(error) = self.protect(prot) {
            tracing::error!(%error, "cannot change a key's page protection; aborting");
            std::process::abort();
        }
    }
}

/// Keeps a key's page readable while it lives.
struct Exposure<'a> {
    key: &'a SecretKey,
}

impl<'a> Exposure<'a> {
    /// The first reader in makes the page readable; the others find it so.
    fn open(key: &'a SecretKey) -> Self {
        if let Access::NoAccessWhenIdle { readers } = &key.access {
            let mut readers = readers.lock().unwrap_or_else(PoisonError::into_inner);
            if *readers == 0 {
                key.protect_or_abort(Prot::ReadOnly);
            }
            *readers += 1;
        }
        Self { key }
    }
}

impl Drop for Exposure<'_> {
    /// The last reader out makes the page inaccessible again, also when `f` panicked.
    fn drop(&mut self) {
        if let Access::NoAccessWhenIdle { readers } = &self.key.access {
            let mut readers = readers.lock().unwrap_or_else(PoisonError::into_inner);
            *readers -= 1;
            if *readers == 0 {
                self.key.protect_or_abort(Prot::NoAccess);
            }
        }
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        // `&mut self`: no `expose` is running, so the page can be opened for the wipe.
        self.protect_or_abort(Prot::ReadWrite);
        // SAFETY: the allocation is live, initialised, now writable, and this is the only
        // reference to it.
        unsafe { self.key.as_mut() }.zeroize();
        // SAFETY: `self.key` came from `memsec::malloc` and is freed exactly once, here. memsec
        // checks the canary, wipes and unlocks the page, and returns it to the allocator.
        unsafe { memsec::free(self.key) }
        LIVE_KEYS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Keys alive in this process.
static LIVE_KEYS: AtomicUsize = AtomicUsize::new(0);
/// Where the kernel says how many mappings a process may have.
const MAX_MAP_COUNT: &str = "/proc/sys/vm/max_map_count";
/// The kernel's default, assumed if the file cannot be read.
const DEFAULT_MAX_MAP_COUNT: usize = 65_530;
/// Mappings one key may take: its guarded allocation (guard, key page, guard) and the split a
/// change of its page's protection can add.
const MAPS_PER_KEY: usize = 4;
/// Mappings left to the rest of the process: RocksDB's files, thread stacks, libraries.
const MAPS_RESERVED: usize = 16_384;

/// Counts one more key in `live`, unless `limit` are alive already.
fn take_place(live: &AtomicUsize, limit: usize) -> Result<(), SecretError> {
    if live.fetch_add(1, Ordering::Relaxed) >= limit {
        live.fetch_sub(1, Ordering::Relaxed);
        return Err(SecretError::TooManyKeys { limit });
    }
    Ok(())
}

/// The most keys alive at once: what `vm.max_map_count` leaves after the rest of the process,
/// read once.
pub fn key_limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let maps = std::fs::read_to_string(MAX_MAP_COUNT)
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_MAX_MAP_COUNT);
        maps.saturating_sub(MAPS_RESERVED) / MAPS_PER_KEY
    })
}

impl ZeroizeOnDrop for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

#[cfg(test)]
mod tests {
    //! The kernel's view of a key's memory: page permissions from `/proc/self/maps`, contents
    //! through `/proc/self/mem`, and faults in forked children.

    use std::fs::File;
    use std::os::unix::fs::FileExt;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use nix::sys::resource::{Resource, setrlimit};
    use nix::sys::signal::Signal;
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};

    use super::*;

    const PATTERN: [u8; KEY_LEN] = [0xa5; KEY_LEN];
    /// Every Linux page size is a multiple of this, so the aligned block of this size around
    /// the key lies within the key's page.
    const BLOCK: usize = 4096;

    fn page_size() -> usize {
        // SAFETY: sysconf has no preconditions.
        let size = unsafe { nix::libc::sysconf(nix::libc::_SC_PAGESIZE) };
        usize::try_from(size).unwrap()
    }

    fn patterned(when_idle: WhenIdle) -> SecretKey {
        SecretKey::from_fn(when_idle, |key| {
            *key = PATTERN;
            Ok::<(), SecretError>(())
        })
        .unwrap()
    }

    fn address(key: &SecretKey) -> usize {
        key.key.as_ptr() as usize
    }

    /// The permissions (`r--p`, `---p`, ...) of the mapping that holds `address`.
    fn permissions(address: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines()
            .find_map(|line| {
                let (range, rest) = line.split_once(' ')?;
                let (start, end) = range.split_once('-')?;
                let start = usize::from_str_radix(start, 16).ok()?;
                let end = usize::from_str_radix(end, 16).ok()?;
                (start..end)
                    .contains(&address)
                    .then(|| rest[..4].to_owned())
            })
            .unwrap()
    }

    /// Runs `child` in a forked copy of this process and returns how it ended. The child only
    /// allocates and makes system calls (glibc's malloc is fork-safe); it exits with `child`'s
    /// return value, or 101 if it panicked, and never returns into the test harness.
    fn in_child(child: impl FnOnce() -> i32) -> WaitStatus {
        // SAFETY: the child runs `child` and `_exit`s; it touches no lock another thread of the
        // harness could have held at fork time except malloc's, which glibc resets in the child.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                // No core file from the faults these children provoke.
                let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
                let code = catch_unwind(AssertUnwindSafe(child)).unwrap_or(101);
                // SAFETY: ends the child without running the harness's exit handlers.
                unsafe { nix::libc::_exit(code) }
            }
            ForkResult::Parent { child } => waitpid(child, None).unwrap(),
        }
    }

    fn assert_segfault(status: WaitStatus) {
        assert!(
            matches!(status, WaitStatus::Signaled(_, Signal::SIGSEGV, _)),
            "{status:?}"
        );
    }

    /// Reads one byte the way a stray pointer would.
    fn touch(address: usize) -> i32 {
        // SAFETY: deliberately reads memory that may be a guard page or a no-access key page,
        // in a forked child whose only purpose is to show that the kernel kills it for that.
        i32::from(unsafe { std::ptr::read_volatile(address as *const u8) })
    }

    #[test]
    fn expose_shows_what_from_fn_wrote() {
        for when_idle in [WhenIdle::NoAccess, WhenIdle::ReadOnly] {
            assert_eq!(patterned(when_idle).expose(|key| *key), PATTERN);
        }
    }

    #[test]
    fn random_keys_differ() {
        let a = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        let b = SecretKey::random(WhenIdle::ReadOnly).unwrap();
        assert_ne!(a.expose(|a| *a), b.expose(|b| *b));
    }

    #[test]
    fn a_failed_fill_is_returned() {
        let refused = SecretKey::from_fn(WhenIdle::NoAccess, |_| Err(SecretError::Allocation));
        assert!(matches!(refused, Err(SecretError::Allocation)));
    }

    #[test]
    fn debug_prints_nothing_of_the_key() {
        assert_eq!(
            format!("{:?}", patterned(WhenIdle::ReadOnly)),
            "SecretKey(..)"
        );
    }

    #[test]
    fn a_no_access_key_is_readable_only_while_exposed() {
        let key = patterned(WhenIdle::NoAccess);
        let at = address(&key);
        assert_eq!(permissions(at), "---p");
        key.expose(|_| assert_eq!(permissions(at), "r--p"));
        assert_eq!(permissions(at), "---p");
    }

    #[test]
    fn a_read_only_key_is_never_writable() {
        let key = patterned(WhenIdle::ReadOnly);
        assert_eq!(permissions(address(&key)), "r--p");
        key.expose(|_| ());
        assert_eq!(permissions(address(&key)), "r--p");
    }

    #[test]
    fn a_panic_inside_expose_still_closes_the_page() {
        let key = patterned(WhenIdle::NoAccess);
        let panicked = catch_unwind(AssertUnwindSafe(|| key.expose(|_| panic!("inside expose"))));
        assert!(panicked.is_err());
        assert_eq!(permissions(address(&key)), "---p");
        assert_eq!(key.expose(|key| *key), PATTERN);
    }

    #[test]
    fn concurrent_exposes_of_a_no_access_key_all_read_it() {
        let key = patterned(WhenIdle::NoAccess);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..2000 {
                        assert_eq!(key.expose(|key| *key), PATTERN);
                    }
                });
            }
        });
        assert_eq!(permissions(address(&key)), "---p");
    }

    #[test]
    fn reading_past_the_key_hits_the_guard_page() {
        let key = patterned(WhenIdle::ReadOnly);
        let end = address(&key) + KEY_LEN;
        assert_segfault(in_child(|| touch(end)));
    }

    #[test]
    fn reading_below_the_key_page_hits_the_guard_page() {
        let key = patterned(WhenIdle::ReadOnly);
        // The key and its canary fit one page, so the page below the key's is the guard page.
        let page_start = address(&key) & !(page_size() - 1);
        assert_segfault(in_child(|| touch(page_start - 1)));
    }

    #[test]
    fn reading_an_idle_no_access_key_faults_and_an_exposed_one_does_not() {
        let key = patterned(WhenIdle::NoAccess);
        let at = address(&key);
        assert_segfault(in_child(|| touch(at)));
        let status = in_child(|| key.expose(|_| touch(at)));
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0xa5));
    }

    #[test]
    fn the_key_page_is_zero_after_drop() {
        // memsec sets itself up under a `Once` on first use: do that here, not in the child.
        drop(patterned(WhenIdle::ReadOnly));
        // In a child, so that no other test thread can be handed the freed memory before it is
        // read back. `/proc/self/mem` reads the address without a Rust-level use after free.
        let status = in_child(|| {
            // SAFETY: mallopt has no preconditions. It keeps glibc from returning the freed
            // block to the kernel, so the page is still there to be read after the drop.
            if unsafe { nix::libc::mallopt(nix::libc::M_TRIM_THRESHOLD, i32::MAX) } != 1 {
                return 2;
            }
            let Ok(memory) = File::open("/proc/self/mem") else {
                return 3;
            };
            let key = patterned(WhenIdle::ReadOnly);
            let block_start = (address(&key) & !(BLOCK - 1)) as u64;
            let mut block = [0u8; BLOCK];
            if memory.read_exact_at(&mut block, block_start).is_err()
                || !block.windows(KEY_LEN).any(|bytes| bytes == PATTERN)
            {
                return 4;
            }
            drop(key);
            if memory.read_exact_at(&mut block, block_start).is_err() {
                return 5;
            }
            if block.iter().any(|&byte| byte != 0) {
                return 1;
            }
            // Control: an ordinary heap buffer read the same way after it is freed still holds
            // its bytes, so the zeros above are the wipe's doing and not the allocator's.
            let plain = vec![PATTERN[0]; 4 * BLOCK];
            let plain_block = ((plain.as_ptr() as usize + 2 * BLOCK) & !(BLOCK - 1)) as u64;
            drop(plain);
            if memory.read_exact_at(&mut block, plain_block).is_err()
                || !block.windows(KEY_LEN).any(|bytes| bytes == PATTERN)
            {
                return 6;
            }
            0
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }

    #[test]
    fn keys_past_the_cap_are_refused_and_places_come_back() {
        let live = AtomicUsize::new(0);
        take_place(&live, 2).unwrap();
        take_place(&live, 2).unwrap();
        assert!(matches!(
            take_place(&live, 2),
            Err(SecretError::TooManyKeys { limit: 2 })
        ));
        assert_eq!(live.load(Ordering::Relaxed), 2);
        live.fetch_sub(1, Ordering::Relaxed);
        take_place(&live, 2).unwrap();
    }

    #[test]
    fn the_cap_leaves_room_for_the_rest_of_the_process() {
        let maps: usize = std::fs::read_to_string(MAX_MAP_COUNT)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let limit = key_limit();
        assert!(
            limit * MAPS_PER_KEY + MAPS_RESERVED <= maps,
            "{limit} of {maps}"
        );
        assert!(limit >= 10_000, "the default leaves room for {limit} keys");
    }
}
