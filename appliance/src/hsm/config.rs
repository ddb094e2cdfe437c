//! `[pkcs11]`: the PKCS#11 module, token and PIN through which the core reaches customer root
//! keys (L1).
//!
//! A value of [`HsmConfig`] is always valid: it is checked when parsed or built, so a relative
//! path or a limit out of range stops the core at start-up, not at the first tenant.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use krypton_service::config::{OutOfRange, RelativePath, require_absolute, require_range};
use krypton_service::secret_file::SecretSource;
use serde::Deserialize;

use crate::liveness::LivenessConfig;

/// Sessions kept open when `pool_size` is not given.
const DEFAULT_POOL_SIZE: usize = 4;
/// Most sessions one core keeps open on the token; HSMs limit sessions per application.
const MAX_POOL_SIZE: usize = 64;
/// Wait for one HSM call when `call_timeout_ms` is not given. Network HSMs answer in tens of
/// milliseconds; seconds mean trouble.
const DEFAULT_CALL_TIMEOUT_MS: u64 = 5_000;
/// Longest configurable wait for one HSM call.
const MAX_CALL_TIMEOUT_MS: u64 = 300_000;
/// `CK_TOKEN_INFO.label` is 32 bytes, padded with spaces.
const MAX_TOKEN_LABEL_BYTES: usize = 32;

/// How the core reaches the customer's HSM: the `[pkcs11]` table of the configuration.
///
/// ```toml
/// [pkcs11]
/// module = "/usr/lib/softhsm/libsofthsm2.so"
/// token_label = "krypton"
/// pin = { file = "/etc/krypton/hsm.pin" }   # or { systemd_credential = "krypton-hsm-pin" }
/// pool_size = 4                             # sessions kept open (1 to 64)
/// call_timeout_ms = 5000                    # longest wait for one HSM call (1 to 300000)
///
/// [pkcs11.liveness]                         # optional: see LivenessConfig
/// interval_secs = 5
/// grace_secs = 60
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawHsmConfig")]
pub struct HsmConfig {
    pub(super) module: PathBuf,
    pub(super) token_label: String,
    pub(super) pin: SecretSource,
    pub(super) pool_size: usize,
    pub(super) call_timeout: Duration,
    liveness: LivenessConfig,
}

/// The table as written, before it is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHsmConfig {
    module: PathBuf,
    token_label: String,
    pin: SecretSource,
    #[serde(default = "default_pool_size")]
    pool_size: usize,
    #[serde(default = "default_call_timeout_ms")]
    call_timeout_ms: u64,
    #[serde(default)]
    liveness: LivenessConfig,
}

fn default_pool_size() -> usize {
    DEFAULT_POOL_SIZE
}

fn default_call_timeout_ms() -> u64 {
    DEFAULT_CALL_TIMEOUT_MS
}

/// Why an HSM configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmConfigError {
    /// A path that must be absolute is relative.
    #[error(transparent)]
    RelativePath(#[from] RelativePath),
    /// The token label cannot match any token.
    #[error(
        "pkcs11.token_label must be 1 to {MAX_TOKEN_LABEL_BYTES} bytes without trailing spaces, not {label:?}"
    )]
    TokenLabel {
        /// The label given.
        label: String,
    },
    /// A systemd credential name that is not a plain file name.
    #[error("pkcs11.pin.systemd_credential must be a plain file name, not {name:?}")]
    CredentialName {
        /// The name given.
        name: String,
    },
    /// A number is outside its allowed range.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
}

impl HsmConfig {
    /// A configuration with the default pool size, call timeout and liveness checks.
    pub fn new(
        module: impl Into<PathBuf>,
        token_label: impl Into<String>,
        pin: SecretSource,
    ) -> Result<Self, HsmConfigError> {
        Self::try_from(RawHsmConfig {
            module: module.into(),
            token_label: token_label.into(),
            pin,
            pool_size: DEFAULT_POOL_SIZE,
            call_timeout_ms: DEFAULT_CALL_TIMEOUT_MS,
            liveness: LivenessConfig::default(),
        })
    }

    /// The same configuration with `pool_size` sessions.
    pub fn with_pool_size(self, pool_size: usize) -> Result<Self, HsmConfigError> {
        Ok(Self {
            pool_size: check_pool_size(pool_size)?,
            ..self
        })
    }

    /// The same configuration with another wait limit per HSM call, in whole milliseconds.
    pub fn with_call_timeout(self, call_timeout: Duration) -> Result<Self, HsmConfigError> {
        let ms = u64::try_from(call_timeout.as_millis()).unwrap_or(u64::MAX);
        Ok(Self {
            call_timeout: check_call_timeout(ms)?,
            ..self
        })
    }

    /// The same configuration with other liveness checks (valid by construction).
    pub fn with_liveness(self, liveness: LivenessConfig) -> Self {
        Self { liveness, ..self }
    }

    /// How often the core probes each tenant's L1 in this HSM, and how long it keeps tenants
    /// while the HSM does not answer.
    pub fn liveness(&self) -> LivenessConfig {
        self.liveness
    }

    /// Where the user PIN is read from.
    pub(crate) fn pin(&self) -> &SecretSource {
        &self.pin
    }
}

impl TryFrom<RawHsmConfig> for HsmConfig {
    type Error = HsmConfigError;

    fn try_from(raw: RawHsmConfig) -> Result<Self, Self::Error> {
        Ok(Self {
            module: check_absolute("pkcs11.module", raw.module)?,
            token_label: check_token_label(raw.token_label)?,
            pin: check_pin_source(raw.pin)?,
            pool_size: check_pool_size(raw.pool_size)?,
            call_timeout: check_call_timeout(raw.call_timeout_ms)?,
            liveness: raw.liveness,
        })
    }
}

fn check_absolute(key: &'static str, path: PathBuf) -> Result<PathBuf, HsmConfigError> {
    require_absolute(key, &path)?;
    Ok(path)
}

fn check_token_label(label: String) -> Result<String, HsmConfigError> {
    // cryptoki reports labels with their space padding removed, so a label ending in a space
    // would never match.
    if label.is_empty() || label.len() > MAX_TOKEN_LABEL_BYTES || label.ends_with(' ') {
        Err(HsmConfigError::TokenLabel { label })
    } else {
        Ok(label)
    }
}

fn check_pin_source(pin: SecretSource) -> Result<SecretSource, HsmConfigError> {
    match pin {
        SecretSource::File(path) => {
            Ok(SecretSource::File(check_absolute("pkcs11.pin.file", path)?))
        }
        SecretSource::SystemdCredential(name) => {
            let mut components = Path::new(&name).components();
            let plain = matches!(
                (components.next(), components.next()),
                (Some(Component::Normal(first)), None) if first == name.as_str()
            );
            if plain {
                Ok(SecretSource::SystemdCredential(name))
            } else {
                Err(HsmConfigError::CredentialName { name })
            }
        }
    }
}

fn check_pool_size(pool_size: usize) -> Result<usize, HsmConfigError> {
    require_range("pkcs11.pool_size", pool_size, 1, MAX_POOL_SIZE as u64)?;
    Ok(pool_size)
}

fn check_call_timeout(ms: u64) -> Result<Duration, HsmConfigError> {
    require_range("pkcs11.call_timeout_ms", ms, 1, MAX_CALL_TIMEOUT_MS)?;
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HsmConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn parses_a_full_table_and_applies_defaults() {
        let config = parse(
            r#"
            module = "/usr/lib/softhsm/libsofthsm2.so"
            token_label = "krypton"
            pin = { file = "/etc/krypton/hsm.pin" }
            "#,
        )
        .unwrap();
        assert_eq!(config.pool_size, DEFAULT_POOL_SIZE);
        assert_eq!(
            config.call_timeout,
            Duration::from_millis(DEFAULT_CALL_TIMEOUT_MS)
        );
        assert_eq!(
            config.pin,
            SecretSource::File("/etc/krypton/hsm.pin".into())
        );
        assert_eq!(config.liveness(), LivenessConfig::default());

        let config = parse(
            r#"
            module = "/m.so"
            token_label = "t"
            pin = { systemd_credential = "hsm-pin" }
            pool_size = 8
            call_timeout_ms = 250
            [liveness]
            interval_secs = 2
            grace_secs = 0
            "#,
        )
        .unwrap();
        assert_eq!(config.liveness(), LivenessConfig::new(2, 0).unwrap());
        assert_eq!(config.pool_size, 8);
        assert_eq!(config.call_timeout, Duration::from_millis(250));
        assert_eq!(
            config.pin,
            SecretSource::SystemdCredential("hsm-pin".into())
        );
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let base = r#"module = "/m.so"
token_label = "t"
pin = { file = "/p" }
"#;
        for extra in [
            "user_pin = \"1234\"",
            "pool_size = 0",
            "pool_size = 65",
            "call_timeout_ms = 0",
            "call_timeout_ms = 300001",
            "liveness = { interval_secs = 0 }",
            "liveness = { grace_secs = 86401 }",
            "liveness = { timeout = 1 }",
        ] {
            assert!(parse(&format!("{base}{extra}")).is_err(), "{extra}");
        }
        for bad in [
            r#"module = "m.so"
token_label = "t"
pin = { file = "/p" }"#,
            r#"module = "/m.so"
token_label = "t"
pin = { file = "p" }"#,
            r#"module = "/m.so"
token_label = ""
pin = { file = "/p" }"#,
            r#"module = "/m.so"
token_label = "t"
pin = { systemd_credential = "../p" }"#,
            r#"module = "/m.so"
token_label = "t"
pin = { pin = "1234" }"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checks_labels_and_credential_names() {
        let pin = || SecretSource::File("/p".into());
        assert!(HsmConfig::new("/m.so", "a".repeat(32), pin()).is_ok());
        for label in ["a".repeat(33), "padded ".to_owned()] {
            assert!(matches!(
                HsmConfig::new("/m.so", label, pin()),
                Err(HsmConfigError::TokenLabel { .. })
            ));
        }
        for name in ["", ".", "..", "a/b", "/abs"] {
            let source = SecretSource::SystemdCredential(name.to_owned());
            assert!(
                matches!(
                    HsmConfig::new("/m.so", "t", source),
                    Err(HsmConfigError::CredentialName { .. })
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn builders_check_their_values() {
        let config = HsmConfig::new("/m.so", "t", SecretSource::File("/p".into())).unwrap();
        assert!(config.clone().with_pool_size(0).is_err());
        assert_eq!(config.clone().with_pool_size(64).unwrap().pool_size, 64);
        assert!(config.clone().with_call_timeout(Duration::ZERO).is_err());
        let config = config.with_call_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!(config.call_timeout, Duration::from_secs(2));
    }
}
