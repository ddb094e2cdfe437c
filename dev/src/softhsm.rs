//! A SoftHSM2 installation in a directory of its own, driven through PKCS#11 (`cryptoki`): a
//! temporary one per test process, or a lasting one in the dev data dir.
//!
//! SoftHSM2 reads its configuration file from `SOFTHSM2_CONF` when the module is initialised, and
//! a process may initialise a PKCS#11 module once at a time. So [`SoftHsm::install`] and
//! [`SoftHsm::install_in`] run first thing in `main`, before any thread exists; the processes
//! started afterwards (krypton-core) inherit the same configuration and see the same tokens.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::Error as Pkcs11Error;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::AuthPin;
use tempfile::TempDir;

/// Where Debian's `softhsm2` package puts the module; `KRYPTON_PKCS11_MODULE` overrides it.
const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// What went wrong while setting up or using the test HSM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A PKCS#11 call failed; `call` names it.
    #[error("PKCS#11 {call} failed")]
    Pkcs11 {
        call: &'static str,
        #[source]
        source: Pkcs11Error,
    },
    /// The temporary directory or configuration file could not be written.
    #[error("cannot prepare the SoftHSM2 directory")]
    Io(#[from] std::io::Error),
    /// SoftHSM2 always offers one uninitialised slot; not finding it means the module misbehaves.
    #[error("SoftHSM2 offers no free slot for a new token")]
    NoFreeSlot,
    /// No secret key with this label exists in the token.
    #[error("no key labelled {0:?} in the token")]
    KeyNotFound(String),
}

/// The SoftHSM2 module of this machine: `KRYPTON_PKCS11_MODULE`, or where Debian puts it.
pub fn module() -> PathBuf {
    std::env::var_os("KRYPTON_PKCS11_MODULE")
        .map_or_else(|| PathBuf::from(DEFAULT_MODULE), PathBuf::from)
}

/// SoftHSM2 keeps a token in files. A process reads them when it initialises the module and
/// drops a token it cannot read until it finalises (SoftHSM2 2.6.1's object store); another
/// process rewrites them on every user login and object change. A krypton-core started while
/// another process logged in has stopped with "no HSM token is labelled ..." (seen in CI, with
/// tests starting cores in parallel). So within one process, starting a core on the token and
/// writing to the token take turns under this lock ([`token_files`]).
static TOKEN_FILES: Mutex<()> = Mutex::new(());

/// Held while a core on a SoftHSM2 token starts up, and while this process writes to a token:
/// see `TOKEN_FILES`. Also serialises object creation, which has failed at random with
/// CKR_GENERAL_ERROR when concurrent in SoftHSM2.
pub fn token_files() -> MutexGuard<'static, ()> {
    // The lock guards no data: a panic while holding it leaves nothing to repair.
    TOKEN_FILES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn pkcs11(call: &'static str) -> impl FnOnce(Pkcs11Error) -> Error {
    move |source| Error::Pkcs11 { call, source }
}

/// One SoftHSM2 configuration and token directory for this process, and the process's one
/// initialised PKCS#11 context.
#[derive(Debug)]
pub struct SoftHsm {
    dir: PathBuf,
    /// Set when the directory is temporary: removed when the installation is dropped.
    _temporary: Option<TempDir>,
    module: PathBuf,
    context: Pkcs11,
}

impl SoftHsm {
    /// Creates a temporary token directory and configuration, points `SOFTHSM2_CONF` at it, and
    /// initialises the PKCS#11 module. The directory is removed when the installation is dropped.
    ///
    /// # Safety
    /// This sets an environment variable of the process, which is only sound while no other
    /// thread can read the environment: call it first thing in `main`, before any thread starts.
    pub unsafe fn install() -> Result<Self, Error> {
        let temporary = tempfile::Builder::new()
            .prefix("krypton-softhsm-")
            .tempdir()?;
        // SAFETY: the caller's guarantee, passed on.
        let mut hsm = unsafe { Self::install_in(temporary.path()) }?;
        hsm._temporary = Some(temporary);
        Ok(hsm)
    }

    /// Uses `dir` for the configuration and tokens, creating them if absent and keeping the
    /// tokens already there, points `SOFTHSM2_CONF` at it, and initialises the PKCS#11 module.
    ///
    /// # Safety
    /// As [`SoftHsm::install`]: no other thread may exist yet.
    pub unsafe fn install_in(dir: &Path) -> Result<Self, Error> {
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens)?;
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )?;
        // SAFETY: the caller guarantees that no other thread exists yet.
        unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };

        let module = module();
        let context = Pkcs11::new(&module).map_err(pkcs11("C_GetFunctionList"))?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(pkcs11("C_Initialize"))?;
        Ok(Self {
            dir: dir.to_owned(),
            _temporary: None,
            module,
            context,
        })
    }

    /// The configuration file that processes started by a test must get as `SOFTHSM2_CONF`.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.join("softhsm2.conf")
    }

    /// The PKCS#11 module in use.
    pub fn module_path(&self) -> &Path {
        &self.module
    }

    /// Initialises a new token in the free slot, with a user PIN set, and returns it.
    pub fn create_token(&self, label: &str) -> Result<Token<'_>, Error> {
        let session = {
            let _token_files = token_files();
            let slot = self.free_slot()?;
            let so_pin = AuthPin::new(format!("so-{label}").into());
            self.context
                .init_token(slot, &so_pin, label)
                .map_err(pkcs11("C_InitToken"))?;
            let session = self
                .context
                .open_rw_session(slot)
                .map_err(pkcs11("C_OpenSession"))?;
            session
                .login(UserType::So, Some(&so_pin))
                .map_err(pkcs11("C_Login(SO)"))?;
            session
                .init_pin(&AuthPin::new(user_pin(label).into()))
                .map_err(pkcs11("C_InitPIN"))?;
            session.logout().map_err(pkcs11("C_Logout"))?;
            session
        };
        self.logged_in(session, label)
    }

    /// The token made earlier by [`SoftHsm::create_token`] with this label, if there is one.
    pub fn open_token(&self, label: &str) -> Result<Option<Token<'_>>, Error> {
        let Some(slot) =
            self.slot_where(|info| info.token_initialized() && info.label() == label)?
        else {
            return Ok(None);
        };
        let session = self
            .context
            .open_rw_session(slot)
            .map_err(pkcs11("C_OpenSession"))?;
        self.logged_in(session, label).map(Some)
    }

    fn logged_in(&self, session: Session, label: &str) -> Result<Token<'_>, Error> {
        let user_pin = user_pin(label);
        // A login rewrites the token file.
        let _token_files = token_files();
        session
            .login(UserType::User, Some(&AuthPin::new(user_pin.clone().into())))
            .map_err(pkcs11("C_Login(User)"))?;
        Ok(Token {
            _installation: PhantomData,
            session: Mutex::new(session),
            label: label.to_owned(),
            user_pin,
        })
    }

    fn free_slot(&self) -> Result<Slot, Error> {
        self.slot_where(|info| !info.token_initialized())?
            .ok_or(Error::NoFreeSlot)
    }

    /// The first slot whose token `wanted` accepts.
    fn slot_where(&self, wanted: impl Fn(&TokenInfo) -> bool) -> Result<Option<Slot>, Error> {
        let slots = self
            .context
            .get_slots_with_token()
            .map_err(pkcs11("C_GetSlotList"))?;
        for slot in slots {
            let info = self
                .context
                .get_token_info(slot)
                .map_err(pkcs11("C_GetTokenInfo"))?;
            if wanted(&info) {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }
}

/// The user PIN of the token labelled `label`: derived from the label, because these tokens are
/// fixtures for tests and development, never a customer's HSM.
fn user_pin(label: &str) -> String {
    format!("user-{label}")
}

/// A token of the SoftHSM2 installation, with its label, user PIN and one logged-in session.
///
/// The session stays open for the token's lifetime: closing the last session of a slot logs the
/// application out, and SoftHSM2 then invalidates the object handles it gave out.
#[derive(Debug)]
pub struct Token<'h> {
    /// The token's files live in the installation's directory, removed when it is dropped.
    _installation: PhantomData<&'h SoftHsm>,
    session: Mutex<Session>,
    label: String,
    user_pin: String,
}

impl Token<'_> {
    /// The token label, by which Krypton's configuration finds the token.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The user PIN (a fixture, not a secret).
    pub fn user_pin(&self) -> &str {
        &self.user_pin
    }

    /// Runs `f` with the token's logged-in read-write session.
    pub fn with_session<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        let session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&session)
    }

    /// Generates a customer root key (L1) inside the token: AES-256, persistent, sensitive and
    /// never extractable, usable for encrypt/decrypt and wrap/unwrap, as a customer would create it.
    pub fn generate_l1(&self, key_label: &str) -> Result<ObjectHandle, Error> {
        let _token_files = token_files();
        let template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::ValueLen(32.into()),
            Attribute::Label(key_label.as_bytes().to_vec()),
        ];
        self.with_session(|s| s.generate_key(&Mechanism::AesKeyGen, &template))
            .map_err(pkcs11("C_GenerateKey"))
    }

    /// Finds the secret key with this label.
    pub fn find_key(&self, key_label: &str) -> Result<ObjectHandle, Error> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(key_label.as_bytes().to_vec()),
        ];
        self.with_session(|s| s.find_objects(&template))
            .map_err(pkcs11("C_FindObjects"))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::KeyNotFound(key_label.to_owned()))
    }

    /// Deletes the key with this label from the token, as a customer revoking Krypton's access
    /// at the HSM would.
    pub fn delete_key(&self, key_label: &str) -> Result<(), Error> {
        let key = self.find_key(key_label)?;
        let _token_files = token_files();
        self.with_session(|s| s.destroy_object(key))
            .map_err(pkcs11("C_DestroyObject"))
    }
}
