//! An HSM that stops answering, for real: SoftHSM2 reached through OpenSC's PKCS#11 spy
//! (`pkcs11-spy.so`, Debian package `opensc-pkcs11`), whose log goes into a FIFO that
//! [`HsmStall`] holds.
//!
//! The spy forwards every call to the module named by `PKCS11SPY` and writes a record of it to
//! the file named by `PKCS11SPY_OUTPUT`, flushing it before the call returns to its caller.
//! While the FIFO is drained, calls go through. [`HsmStall::stall`] stops draining and fills the
//! pipe: the spy's next write blocks, and with it the call, inside the PKCS#11 module, as a
//! network HSM's client library blocks on a device that does not answer. [`HsmStall::release`]
//! drains the pipe again and the waiting calls complete.
//!
//! Why not p11-kit's remoting (`p11-kit server` and `p11-kit-client.so`), which would also let a
//! test kill the HSM: the p11-kit of Debian 12 (0.24) does not carry `CKM_AES_GCM` parameters
//! over its RPC (that came with 0.25), and AES-GCM is the mechanism Krypton wraps L2s with.
//!
//! The spy reads both variables and opens the FIFO when the module is loaded, waiting until the
//! FIFO has a reader: put [`HsmStall::envs`] in the environment of a test process before any
//! thread starts, or of a daemon when it is started, and open the [`HsmStall`] before the module
//! is loaded. The spy logs the calls' arguments and results, key bytes that come out of the HSM
//! included: the FIFO is a pipe in memory, drained into nothing, and this is for test tokens
//! only, never for a customer's HSM.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::Error;

/// How long the drain waits when the FIFO is empty.
const POLL: Duration = Duration::from_millis(10);
/// Bytes read or written at a time.
const CHUNK: usize = 4096;

/// The FIFO behind the PKCS#11 spy, drained unless stalled. Dropping it closes the FIFO: the
/// spy's writes then fail (`EPIPE`; Rust programs ignore `SIGPIPE`) and calls go through.
#[derive(Debug)]
pub struct HsmStall {
    fifo: PathBuf,
    shared: Arc<Shared>,
    /// Fills the pipe when stalling. Non-blocking.
    filler: File,
    drain: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// The FIFO's read end. Non-blocking.
    reader: File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Draining,
    Stalled,
    Closing,
}

impl HsmStall {
    /// Where Debian's `opensc-pkcs11` puts the spy; `KRYPTON_PKCS11_SPY` overrides it.
    pub fn spy_module() -> PathBuf {
        std::env::var_os("KRYPTON_PKCS11_SPY").map_or_else(
            || {
                let arch = std::env::consts::ARCH;
                PathBuf::from(format!("/usr/lib/{arch}-linux-gnu/pkcs11/pkcs11-spy.so"))
            },
            PathBuf::from,
        )
    }

    /// The environment under which the spy forwards to `module` and writes to `fifo`.
    pub fn envs(module: &Path, fifo: &Path) -> [(&'static str, OsString); 2] {
        [
            ("PKCS11SPY", module.into()),
            ("PKCS11SPY_OUTPUT", fifo.into()),
        ]
    }

    /// Makes the FIFO `fifo` (if it does not exist yet) and starts draining it.
    pub fn open(fifo: &Path) -> Result<Self, Error> {
        let spy = Self::spy_module();
        if !spy.is_file() {
            return Err(Error::MissingPackage {
                path: spy,
                package: "opensc-pkcs11",
            });
        }
        let io_error = |action| {
            move |source| Error::Io {
                action,
                path: fifo.to_owned(),
                source,
            }
        };
        match nix::unistd::mkfifo(fifo, Mode::S_IRUSR | Mode::S_IWUSR) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(errno) => return Err(io_error("make the FIFO")(errno.into())),
        }
        // Non-blocking: opening the read end does not wait for a writer, and with a reader
        // open, neither does the write end.
        let nonblocking = OFlag::O_NONBLOCK.bits();
        let reader = OpenOptions::new()
            .read(true)
            .custom_flags(nonblocking)
            .open(fifo)
            .map_err(io_error("open"))?;
        let filler = OpenOptions::new()
            .write(true)
            .custom_flags(nonblocking)
            .open(fifo)
            .map_err(io_error("open"))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::Draining),
            changed: Condvar::new(),
            reader,
        });
        let drain = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("hsm-stall-drain".into())
                .spawn(move || shared.drain())
                .map_err(io_error("start draining"))?
        };
        Ok(Self {
            fifo: fifo.to_owned(),
            shared,
            filler,
            drain: Some(drain),
        })
    }

    /// Stops draining and fills the pipe: every call through the spy from now on (and any in
    /// flight) blocks in the module until [`HsmStall::release`].
    pub fn stall(&self) -> Result<(), Error> {
        let mut state = self.shared.lock();
        *state = State::Stalled;
        // Under the lock, so the drain cannot read between the state change and the filling.
        fill(&self.filler).map_err(|source| Error::Io {
            action: "fill",
            path: self.fifo.clone(),
            source,
        })
    }

    /// Drains the pipe again: the blocked calls complete, and new ones go through.
    pub fn release(&self) {
        self.shared.set(State::Draining);
    }
}

impl Drop for HsmStall {
    fn drop(&mut self) {
        self.shared.set(State::Closing);
        if let Some(drain) = self.drain.take() {
            // A panicked drain has nothing left to clean up.
            let _ = drain.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a plain value: a panic cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, state: State) {
        *self.lock() = state;
        self.changed.notify_all();
    }

    /// Reads whatever the spy writes and throws it away, except while stalled.
    fn drain(&self) {
        let mut buffer = [0u8; CHUNK];
        loop {
            let mut state = self.lock();
            while *state == State::Stalled {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if *state == State::Closing {
                return;
            }
            // Read under the lock: stalling waits for this read to end.
            let read = (&self.reader).read(&mut buffer);
            drop(state);
            match read {
                Ok(n) if n > 0 => {}
                // Empty (WouldBlock), or no writer yet (0).
                Ok(_) | Err(_) => thread::sleep(POLL),
            }
        }
    }
}

/// Writes into the non-blocking `pipe` until it holds not one more byte: large writes first,
/// then single bytes, since a write of up to a page is all or nothing.
fn fill(mut pipe: &File) -> std::io::Result<()> {
    for chunk in [CHUNK, 1] {
        let bytes = vec![b'.'; chunk];
        loop {
            match pipe.write(&bytes) {
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}
