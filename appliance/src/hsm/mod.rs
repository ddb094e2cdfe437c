//! The customer's HSM, reached through PKCS#11: where each tenant's root key (L2) is wrapped
//! under the customer's root key (L1), which never leaves the HSM.
//!
//! Wrapping is AES-256-GCM computed by the HSM (`C_Encrypt`/`C_Decrypt` with `CKM_AES_GCM`, a
//! random 96-bit IV, a 128-bit tag) with the tenant id in the associated data. SoftHSM2 and
//! common HSMs implement it for real, and unlike `C_WrapKey` it binds the tenant: a blob made
//! for one tenant never opens for another. The L2 goes to the HSM from guarded memory and comes
//! back straight into guarded memory ([`SecretKey`]).
//!
//! Every PKCS#11 call runs on a blocking thread with a time limit ([`blocking`]), on a session
//! of the pool ([`pool`]); an operation that finds the token gone is retried once on fresh
//! sessions, and one that fails with a remembered L1 handle once with a fresh lookup ([`l1`]).
//! Failures are typed ([`HsmError`]) so that a tenant whose L1 was revoked is told apart from
//! a token that is down, a blob that does not open, or a bad configuration. A liveness probe
//! ([`probe`]) re-opens a tenant's stored wrapped L2 and sorts the outcome into alive, refused
//! by the HSM, or unreachable.
//! The PKCS#11 module is loaded and initialised once per process ([`module`]).

mod blocking;
mod config;
mod error;
mod l1;
mod module;
mod pool;
mod probe;
mod tenant;
mod wrap;

use std::fmt;
use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::types::RawAuthPin;
use krypton_service::secret_file::{SecretError, SecretSource};
use zeroize::Zeroizing;

use crate::secret::{SecretKey, WhenIdle};
use blocking::run_bounded;
use l1::{L1Handles, Lookup};
use pool::Pool;
use wrap::{IV_LEN, L2_LEN, SEALED_LEN, TAG_BITS};

pub use config::{HsmConfig, HsmConfigError};
pub use error::{HsmError, InvalidIdentifier};
pub use l1::L1Ref;
pub use probe::{L1Answer, Outage, Probe, Refusal};
pub use tenant::TenantId;
pub(crate) use tenant::check_name;
pub use wrap::{WrappedL2, WrappedL2Error};

/// The core's connection to the customer's HSM token. Clones share one session pool.
#[derive(Clone)]
pub struct Hsm {
    pool: Arc<Pool>,
    l1s: Arc<L1Handles>,
}

impl Hsm {
    /// Reads the PIN, loads the PKCS#11 module (once per process), finds the token by its
    /// label, and opens and logs in the pool's sessions, so that a wrong module, label or PIN
    /// shows at start-up. Each step waits at most the configured call timeout.
    pub async fn open(config: &HsmConfig) -> Result<Self, HsmError> {
        let limit = config.call_timeout;
        let source = config.pin.clone();
        let pin = run_bounded("reading the HSM user PIN", limit, move |_| {
            Ok(read_pin(&source)?)
        })
        .await?;
        let path = config.module.clone();
        let context = run_bounded("loading the PKCS#11 module", limit, move |_| {
            module::load(&path)
        })
        .await?;
        let label = config.token_label.clone();
        let pool = Arc::new(Pool::new(context, label, pin, config.pool_size, limit));
        pool.fill().await?;
        Ok(Self {
            pool,
            l1s: Arc::default(),
        })
    }

    /// Has the HSM seal `l2` under the key `l1` for `tenant`.
    pub async fn wrap_l2(
        &self,
        l1: &L1Ref,
        tenant: &TenantId,
        l2: &SecretKey,
    ) -> Result<WrappedL2, HsmError> {
        let (key_ref, tenant) = (l1.clone(), tenant.clone());
        let aad = wrap::associated_data(&tenant);
        self.encrypt_key(l1, aad, l2, "wrapping an L2", move |source| {
            HsmError::from_key_call(source, &key_ref, &tenant)
        })
        .await
    }

    /// Has the HSM open `wrapped` under the key `l1` for `tenant`, into guarded memory.
    pub async fn unwrap_l2(
        &self,
        l1: &L1Ref,
        tenant: &TenantId,
        wrapped: &WrappedL2,
    ) -> Result<SecretKey, HsmError> {
        let (key_ref, tenant) = (l1.clone(), tenant.clone());
        let aad = wrap::associated_data(&tenant);
        self.decrypt_key(l1, aad, wrapped, "unwrapping an L2", move |source| {
            HsmError::from_key_call(source, &key_ref, &tenant)
        })
        .await
    }

    /// Has the HSM seal the core's master key under the seal key `key`, bound to
    /// `installation` (the key set it belongs to), in the wrapped-L2 format.
    pub(crate) async fn wrap_master(
        &self,
        key: &L1Ref,
        installation: &[u8],
        master: &SecretKey,
    ) -> Result<WrappedL2, HsmError> {
        let key_ref = key.clone();
        let aad = wrap::master_associated_data(installation);
        self.encrypt_key(key, aad, master, "wrapping the master key", move |source| {
            HsmError::from_seal_call(source, &key_ref)
        })
        .await
    }

    /// Has the HSM open the master key `wrapped` under the seal key `key` for `installation`.
    pub(crate) async fn unwrap_master(
        &self,
        key: &L1Ref,
        installation: &[u8],
        wrapped: &WrappedL2,
    ) -> Result<SecretKey, HsmError> {
        let key_ref = key.clone();
        let aad = wrap::master_associated_data(installation);
        self.decrypt_key(
            key,
            aad,
            wrapped,
            "unwrapping the master key",
            move |source| HsmError::from_seal_call(source, &key_ref),
        )
        .await
    }

    /// AES-256-GCM in the HSM of the 32-byte `secret` under `key`, bound to `aad`. A failed
    /// call is classified by `classify`.
    async fn encrypt_key(
        &self,
        key: &L1Ref,
        aad: Vec<u8>,
        secret: &SecretKey,
        operation: &'static str,
        classify: impl Fn(cryptoki::error::Error) -> HsmError + Clone + Send + 'static,
    ) -> Result<WrappedL2, HsmError> {
        let mut iv = [0u8; IV_LEN];
        aws_lc_rs::rand::fill(&mut iv).map_err(HsmError::Random)?;
        // The worker thread needs a key it owns: a guarded copy, wiped when the work is done.
        let secret = Arc::new(SecretKey::from_fn(WhenIdle::NoAccess, |copy| {
            secret.expose(|key| *copy = *key);
            Ok::<_, HsmError>(())
        })?);
        let sealed = self.with_l1(key, Lookup::Fresh, operation, move |session, handle| {
            let mut iv = iv;
            let params =
                GcmParams::new(&mut iv, &aad, TAG_BITS.into()).map_err(HsmError::Pkcs11)?;
            let sealed = secret
                .expose(|secret| session.encrypt(&Mechanism::AesGcm(params), handle, secret))
                .map_err(classify.clone())?;
            <[u8; SEALED_LEN]>::try_from(sealed).map_err(|sealed| HsmError::UnexpectedOutput {
                operation: "C_Encrypt",
                len: sealed.len(),
                expected: SEALED_LEN,
            })
        });
        Ok(WrappedL2::new(iv, sealed.await?))
    }

    /// Opens `wrapped` in the HSM under `key` and `aad`, into guarded memory.
    async fn decrypt_key(
        &self,
        key: &L1Ref,
        aad: Vec<u8>,
        wrapped: &WrappedL2,
        operation: &'static str,
        classify: impl Fn(cryptoki::error::Error) -> HsmError + Clone + Send + 'static,
    ) -> Result<SecretKey, HsmError> {
        let (iv, sealed) = (wrapped.iv(), *wrapped.sealed());
        let secret = self.with_l1(
            key,
            Lookup::Remembered,
            operation,
            move |session, handle| {
                let mut iv = iv;
                let params =
                    GcmParams::new(&mut iv, &aad, TAG_BITS.into()).map_err(HsmError::Pkcs11)?;
                let plain = session
                    .decrypt(&Mechanism::AesGcm(params), handle, &sealed)
                    .map_err(classify.clone())?;
                // cryptoki's buffer is the only copy outside guarded memory: wiped on every path.
                let plain = Zeroizing::new(plain);
                let plain = <&[u8; L2_LEN]>::try_from(plain.as_slice()).map_err(|_| {
                    HsmError::UnexpectedOutput {
                        operation: "C_Decrypt",
                        len: plain.len(),
                        expected: L2_LEN,
                    }
                })?;
                SecretKey::from_fn(WhenIdle::NoAccess, |secret| {
                    *secret = *plain;
                    Ok::<_, HsmError>(())
                })
            },
        );
        secret.await
    }

    /// Runs `op` with the handle of `l1` on a pooled session; once more on fresh sessions if
    /// the token went away under the first try.
    async fn with_l1<T, F>(
        &self,
        l1: &L1Ref,
        lookup: Lookup,
        operation: &'static str,
        op: F,
    ) -> Result<T, HsmError>
    where
        T: Send + 'static,
        F: Fn(&Session, ObjectHandle) -> Result<T, HsmError> + Clone + Send + 'static,
    {
        match self.attempt(l1, lookup, operation, op.clone()).await {
            Err(error) if error.is_token_unavailable() => {
                self.attempt(l1, lookup, operation, op).await
            }
            done => done,
        }
    }

    async fn attempt<T, F>(
        &self,
        l1: &L1Ref,
        lookup: Lookup,
        operation: &'static str,
        op: F,
    ) -> Result<T, HsmError>
    where
        T: Send + 'static,
        F: Fn(&Session, ObjectHandle) -> Result<T, HsmError> + Send + 'static,
    {
        let l1s = Arc::clone(&self.l1s);
        let l1 = l1.clone();
        self.pool
            .run(operation, move |lease| {
                l1s.with_key(lease, &l1, lookup, |key| op(lease.session(), key))
            })
            .await
    }
}

/// The HSM user PIN from its file or systemd credential (never the command line or the
/// environment), moved into cryptoki's secret type without a copy. Blocking file I/O.
fn read_pin(source: &SecretSource) -> Result<RawAuthPin, SecretError> {
    let mut pin = source.read()?;
    // The vector moves into the box: no copy of the PIN is left behind.
    Ok(RawAuthPin::new(Box::new(std::mem::take(&mut *pin))))
}

impl fmt::Debug for Hsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hsm")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}
