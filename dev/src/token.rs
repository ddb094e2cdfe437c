//! The dev run's HSM: a SoftHSM2 token in the data dir with one AES-256 L1 key, standing in for
//! the customer's HSM.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::Liveness;
use crate::softhsm::{self, SoftHsm};
use crate::{Error, pki};

/// The label of the dev token.
pub const TOKEN_LABEL: &str = "krypton-dev";
/// The label (CKA_LABEL) of the dev L1 key.
pub const L1_LABEL: &str = "krypton-dev-l1";
/// The label of the token of the PKCS#11 seal, apart from the tenants' token.
pub const SEAL_TOKEN_LABEL: &str = "krypton-dev-seal";
/// The label of the key that seals the core's master key, in the seal token.
pub const SEAL_KEY_LABEL: &str = "krypton-dev-seal-key";

/// What krypton-core needs to reach an L1 key: the PKCS#11 module, the token, its PIN file, the
/// key's label, and for SoftHSM2 the configuration file that locates the token.
#[derive(Debug, Clone)]
pub struct HsmSetup {
    pub module: PathBuf,
    /// Given to krypton-core as `SOFTHSM2_CONF`.
    pub softhsm_conf: Option<PathBuf>,
    pub token_label: String,
    /// The user PIN, in a file of mode 0600.
    pub pin_file: PathBuf,
    pub l1_label: String,
    /// The core's longest wait for one HSM call; `None`: the core's default.
    pub call_timeout_ms: Option<u64>,
    /// The core's `[pkcs11.liveness]` table; `None`: the core's defaults.
    pub liveness: Option<Liveness>,
    /// More environment for krypton-core, such as what a PKCS#11 module in front of SoftHSM2
    /// needs ([`crate::stall::HsmStall::envs`]).
    pub extra_env: Vec<(&'static str, OsString)>,
    /// The PKCS#11 seal (`[seal] type = "pkcs11"`); `None`: the Shamir seal, the dev shares
    /// unseal.
    pub seal: Option<SealSetup>,
}

/// Where the key that seals the core's master key is: its token (in the same SoftHSM2
/// installation as the L1's, under another label), the token's PIN file and the key's label.
#[derive(Debug, Clone)]
pub struct SealSetup {
    pub module: PathBuf,
    pub token_label: String,
    /// The seal token's user PIN, in a file of mode 0600.
    pub pin_file: PathBuf,
    pub key_label: String,
}

impl HsmSetup {
    /// The environment krypton-core needs for this HSM.
    pub fn core_env(&self) -> Vec<(&'static str, OsString)> {
        self.softhsm_conf
            .iter()
            .map(|conf| ("SOFTHSM2_CONF", conf.clone().into_os_string()))
            .chain(self.extra_env.iter().cloned())
            .collect()
    }
}

/// Makes the dev token and its L1 in `dir` unless they exist already, writes the PIN file, and
/// returns where they are. The PKCS#11 session is closed again before this returns.
///
/// # Safety
/// Sets `SOFTHSM2_CONF` for this process (see [`SoftHsm::install_in`]): call it before any
/// thread starts.
pub unsafe fn prepare(dir: &Path) -> Result<HsmSetup, Error> {
    pki::create_private_dir(dir)?;
    // SAFETY: the caller's guarantee, passed on.
    let hsm = unsafe { SoftHsm::install_in(dir) }?;
    prepare_in(&hsm, dir)
}

/// As [`prepare`], with a SoftHSM2 installation the caller made in `dir` and keeps, for tests
/// that go on to add or delete keys in the token.
pub fn prepare_in(hsm: &SoftHsm, dir: &Path) -> Result<HsmSetup, Error> {
    let token = match hsm.open_token(TOKEN_LABEL)? {
        Some(token) => token,
        None => hsm.create_token(TOKEN_LABEL)?,
    };
    match token.find_key(L1_LABEL) {
        Ok(_) => {}
        Err(softhsm::Error::KeyNotFound(_)) => {
            token.generate_l1(L1_LABEL)?;
        }
        Err(error) => return Err(error.into()),
    }
    let pin_file = dir.join("user-pin");
    if !pin_file.exists() {
        pki::write_new(&pin_file, token.user_pin().as_bytes(), 0o600)?;
    }
    Ok(HsmSetup {
        module: hsm.module_path().to_owned(),
        softhsm_conf: Some(hsm.conf_path()),
        token_label: TOKEN_LABEL.to_owned(),
        pin_file,
        l1_label: L1_LABEL.to_owned(),
        call_timeout_ms: None,
        liveness: None,
        extra_env: Vec::new(),
        seal: None,
    })
}

/// Makes the seal token and its key in `hsm` unless they exist already, writes the seal
/// token's PIN to `pin_file` (a new file), and returns where they are.
pub fn prepare_seal_in(hsm: &SoftHsm, pin_file: &Path) -> Result<SealSetup, Error> {
    let token = match hsm.open_token(SEAL_TOKEN_LABEL)? {
        Some(token) => token,
        None => hsm.create_token(SEAL_TOKEN_LABEL)?,
    };
    match token.find_key(SEAL_KEY_LABEL) {
        Ok(_) => {}
        Err(softhsm::Error::KeyNotFound(_)) => {
            token.generate_l1(SEAL_KEY_LABEL)?;
        }
        Err(error) => return Err(error.into()),
    }
    pki::write_new(pin_file, token.user_pin().as_bytes(), 0o600)?;
    Ok(SealSetup {
        module: hsm.module_path().to_owned(),
        token_label: SEAL_TOKEN_LABEL.to_owned(),
        pin_file: pin_file.to_owned(),
        key_label: SEAL_KEY_LABEL.to_owned(),
    })
}
