//! The PKCS#11 seal (auto-unseal): the core's master key sealed by a key in an HSM, so that a
//! core unseals itself at start when that HSM answers, with no custodian.
//!
//! `[seal] type = "pkcs11"` names its own module, token, PIN and key, which may differ from the
//! `[pkcs11]` table of the tenants' L1s. The master key is sealed by the HSM (`C_Encrypt` with
//! `CKM_AES_GCM`, a random 96-bit IV, a 128-bit tag), in the wrapped-L2 format of
//! [`crate::hsm`], with the installation's key check in the associated data: a sealed master key
//! copied into another installation's store does not open there. The sealed form is kept in the
//! install record ([`crate::installation`]). The master key never reaches the HSM's storage,
//! and it leaves guarded memory only inside `C_Encrypt`.
//!
//! The HSM is opened when first needed and kept: a token that is absent or refuses the PIN at
//! start is tried again by the next attempt (see the daemon's retry), so it may come later.

use serde::Deserialize;

use crate::error::Error;
use crate::hsm::{Hsm, HsmConfig, HsmError, InvalidIdentifier, L1Ref, WrappedL2};
use crate::master_key::MasterKey;

/// `[seal]`: how the master key is kept while the core is not running.
///
/// ```toml
/// [seal]
/// type = "pkcs11"                 # or "shamir", the default: K of N shares unseal
/// key_label = "krypton-seal"      # CKA_LABEL of an AES-256 key in the seal token
/// [seal.pkcs11]                   # the same keys as the [pkcs11] table
/// module = "/usr/lib/softhsm/libsofthsm2.so"
/// token_label = "krypton-seal"
/// pin = { file = "/etc/krypton/seal.pin" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SealConfig {
    /// The master key is split into shares; K custodians unseal. (A struct variant, so that
    /// serde refuses keys that only the PKCS#11 seal has.)
    Shamir {},
    /// The master key is sealed by a key in an HSM; the core unseals itself.
    Pkcs11(Pkcs11Seal),
}

/// `[seal] type = "pkcs11"`: the HSM key that seals the master key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawPkcs11Seal")]
pub struct Pkcs11Seal {
    key: L1Ref,
    hsm: HsmConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPkcs11Seal {
    key_label: String,
    pkcs11: HsmConfig,
}

impl TryFrom<RawPkcs11Seal> for Pkcs11Seal {
    type Error = InvalidIdentifier;

    fn try_from(raw: RawPkcs11Seal) -> Result<Self, Self::Error> {
        Ok(Self {
            key: L1Ref::label(raw.key_label)?,
            hsm: raw.pkcs11,
        })
    }
}

impl Default for SealConfig {
    fn default() -> Self {
        Self::Shamir {}
    }
}

/// The seal key and the HSM it lives in, opened on first use.
#[derive(Debug)]
pub(crate) struct HsmSeal {
    config: Pkcs11Seal,
    hsm: tokio::sync::Mutex<Option<Hsm>>,
}

impl Pkcs11Seal {
    /// The seal HSM's module, token and PIN.
    pub(crate) fn hsm(&self) -> &HsmConfig {
        &self.hsm
    }
}

impl HsmSeal {
    pub(crate) fn new(config: Pkcs11Seal) -> Self {
        Self {
            config,
            hsm: tokio::sync::Mutex::default(),
        }
    }

    /// Has the HSM seal `master` for the installation whose key check is `key_check`.
    pub(crate) async fn wrap(
        &self,
        master: &MasterKey,
        key_check: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let hsm = self.hsm().await?;
        let wrapped = hsm
            .wrap_master(&self.config.key, key_check, master.root())
            .await
            .map_err(Error::Hsm)?;
        Ok(wrapped.to_bytes())
    }

    /// Has the HSM open the sealed master key `stored` of the installation whose key check is
    /// `key_check`.
    pub(crate) async fn unwrap(&self, stored: &[u8], key_check: &[u8]) -> Result<MasterKey, Error> {
        let wrapped = WrappedL2::from_bytes(stored)
            .map_err(|malformed| Error::Hsm(HsmError::MalformedWrappedL2(malformed)))?;
        let hsm = self.hsm().await?;
        let root = hsm
            .unwrap_master(&self.config.key, key_check, &wrapped)
            .await
            .map_err(Error::Hsm)?;
        MasterKey::from_root(root)
    }

    /// Whether the seal HSM answers and holds the seal key (for `kryptonctl doctor`), opening
    /// it if needed; each call bounded by the seal's call timeout.
    pub(crate) async fn check(&self) -> Result<&L1Ref, Error> {
        let hsm = self.hsm().await?;
        hsm.check_key(&self.config.key).await.map_err(Error::Hsm)?;
        Ok(&self.config.key)
    }

    /// The open HSM, opening it (PIN, module, token, login) if no attempt has yet succeeded.
    async fn hsm(&self) -> Result<Hsm, Error> {
        let mut hsm = self.hsm.lock().await;
        if let Some(open) = &*hsm {
            return Ok(open.clone());
        }
        let open = Hsm::open(&self.config.hsm).await.map_err(Error::Hsm)?;
        tracing::info!(key = %self.config.key, "seal HSM token opened");
        *hsm = Some(open.clone());
        Ok(open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        #[serde(default)]
        seal: SealConfig,
    }

    fn parse(text: &str) -> Result<SealConfig, toml::de::Error> {
        toml::from_str::<File>(text).map(|file| file.seal)
    }

    #[test]
    fn shamir_is_the_default() {
        assert_eq!(parse("").unwrap(), SealConfig::Shamir {});
        assert_eq!(
            parse("[seal]\ntype = \"shamir\"").unwrap(),
            SealConfig::Shamir {}
        );
    }

    #[test]
    fn a_pkcs11_seal_names_its_own_token_and_key() {
        let seal = parse(
            r#"
            [seal]
            type = "pkcs11"
            key_label = "krypton-seal"
            [seal.pkcs11]
            module = "/usr/lib/softhsm/libsofthsm2.so"
            token_label = "seal"
            pin = { file = "/etc/krypton/seal.pin" }
            call_timeout_ms = 2000
            "#,
        )
        .unwrap();
        let SealConfig::Pkcs11(seal) = seal else {
            panic!("not a PKCS#11 seal: {seal:?}");
        };
        assert_eq!(seal.key.to_string(), "label \"krypton-seal\"");
    }

    #[test]
    fn bad_seal_tables_are_refused() {
        for text in [
            "[seal]\ntype = \"transit\"",
            "[seal]\ntype = \"shamir\"\nkey_label = \"k\"",
            "[seal]\ntype = \"pkcs11\"\nkey_label = \"k\"",
            "[seal]\ntype = \"pkcs11\"\nkey_label = \"\"\n[seal.pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin = { file = \"/p\" }",
            "[seal]\ntype = \"pkcs11\"\nkey_label = \"k\"\nkey_id = \"x\"\n[seal.pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\npin = { file = \"/p\" }",
            "[seal]\ntype = \"pkcs11\"\nkey_label = \"k\"\n[seal.pkcs11]\nmodule = \"m.so\"\ntoken_label = \"t\"\npin = { file = \"/p\" }",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
