//! The process's PKCS#11 modules: each loaded and initialised once, and kept until exit.
//!
//! A PKCS#11 library keeps one state per process: `C_Initialize` runs once, a second call
//! answers `CKR_CRYPTOKI_ALREADY_INITIALIZED`, and initialising one module from two threads at
//! once has crashed SoftHSM2. So every [`Hsm`](super::Hsm) of the process shares one context
//! per module path, made under a lock.
//!
//! Another part of the same process may have initialised the module before (a test harness, or
//! a library linked in): the library state is the same either way, so
//! `CKR_CRYPTOKI_ALREADY_INITIALIZED` counts as success. No context is ever finalised:
//! `C_Finalize` would pull the module from under every other user in the process. A forked
//! child would have to initialise again; the core does not fork after start-up.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};

use super::error::HsmError;

/// The modules loaded so far, by the path they were configured with.
static MODULES: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

/// The initialised context of the module at `path`, loading it on first use. Blocking.
pub(super) fn load(path: &Path) -> Result<Pkcs11, HsmError> {
    // A panic under this lock leaves the list as it was: recovering it is sound.
    let mut modules = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, context)) = modules.iter().find(|(loaded, _)| loaded == path) {
        return Ok(context.clone());
    }
    let failed = |source| HsmError::ModuleLoad {
        module: path.to_owned(),
        source,
    };
    let context = Pkcs11::new(path).map_err(failed)?;
    // The module creates its own mutexes; sessions are used from several threads.
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(source) => return Err(failed(source)),
    }
    modules.push((path.to_owned(), context.clone()));
    Ok(context)
}
