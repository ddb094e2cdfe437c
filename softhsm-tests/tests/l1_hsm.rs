//! krypton-core's HSM client (`krypton_core::Hsm`) against a real SoftHSM2 token: wrapping a
//! tenant's L2 under a customer L1 key, and every way the customer, the token or the operator
//! can make that fail.
//!
//! The harness initialised the module first in this process; `Hsm` shares that initialisation
//! (one PKCS#11 state per process), exactly as it would with any other component of the core
//! that had loaded the module before it.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cryptoki::object::Attribute;
use krypton_core::{
    ErrorChain, Hsm, HsmConfig, HsmError, L1Ref, PinError, PinSource, SecretKey, TenantId,
    WhenIdle, WrappedL2,
};
use krypton_dev::softhsm::{SoftHsm, Token};
use krypton_softhsm_tests::suite::{self, HsmTest};
use libtest_mimic::Failed;
use tempfile::TempDir;

const TESTS: [(&str, HsmTest); 13] = [
    ("wrap_and_unwrap_round_trip", wrap_and_unwrap_round_trip),
    ("l1_is_found_by_id", l1_is_found_by_id),
    (
        "blob_for_one_tenant_refuses_another",
        blob_for_one_tenant_refuses_another,
    ),
    ("tampered_blobs_are_refused", tampered_blobs_are_refused),
    ("deleted_l1_is_not_found", deleted_l1_is_not_found),
    ("l1_without_decrypt_refuses", l1_without_decrypt_refuses),
    ("wrong_pin_fails_login", wrong_pin_fails_login),
    (
        "pin_file_readable_by_others_is_refused",
        pin_file_readable_by_others_is_refused,
    ),
    ("unknown_token_is_not_found", unknown_token_is_not_found),
    ("missing_module_fails_to_load", missing_module_fails_to_load),
    ("many_tasks_share_the_pool", many_tasks_share_the_pool),
    ("closed_sessions_are_reopened", closed_sessions_are_reopened),
    (
        "logout_behind_the_pool_is_recovered",
        logout_behind_the_pool_is_recovered,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run_on_softhsm(&TESTS) }
}

/// A token with one L1 key, and a PIN file for it.
struct Fixture<'h> {
    token: Token<'h>,
    config: HsmConfig,
    l1: L1Ref,
    dir: TempDir,
}

const L1_LABEL: &str = "customer-l1";

/// Creates token `label` with an L1 key, writes its PIN file, and logs the harness out so the
/// client's own login is what counts (login state is per process and token).
fn fixture<'h>(hsm: &'h SoftHsm, label: &str) -> Result<Fixture<'h>, Failed> {
    let token = hsm.create_token(label)?;
    token.generate_l1(L1_LABEL)?;
    token.with_session(|s| s.logout())?;
    let dir = tempfile::tempdir()?;
    let pin = pin_file(dir.path(), "hsm.pin", token.user_pin(), 0o600)?;
    let config = HsmConfig::new(hsm.module_path(), label, PinSource::File(pin))?;
    Ok(Fixture {
        token,
        config,
        l1: L1Ref::label(L1_LABEL)?,
        dir,
    })
}

fn pin_file(dir: &Path, name: &str, pin: &str, mode: u32) -> Result<PathBuf, Failed> {
    let path = dir.join(name);
    std::fs::write(&path, format!("{pin}\n"))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    Ok(path)
}

/// Runs `test` on a multi-threaded runtime of its own, as the core runs.
fn block_on(test: impl Future<Output = Result<(), Failed>>) -> Result<(), Failed> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(test)
}

fn random_l2() -> Result<SecretKey, Failed> {
    Ok(SecretKey::random(WhenIdle::ReadOnly)?)
}

fn same_key(a: &SecretKey, b: &SecretKey) -> bool {
    a.expose(|a| b.expose(|b| a == b))
}

/// Checks that `result` failed the way `expected` describes.
fn expect_error<T>(
    result: Result<T, HsmError>,
    expected: &str,
    matches: impl FnOnce(&HsmError) -> bool,
) -> Result<HsmError, Failed> {
    match result {
        Err(error) if matches(&error) => Ok(error),
        Err(error) => Err(format!("expected {expected}, got: {}", ErrorChain(&error)).into()),
        Ok(_) => Err(format!("expected {expected}, got success").into()),
    }
}

fn tenant(id: &str) -> Result<TenantId, Failed> {
    Ok(TenantId::new(id)?)
}

fn wrap_and_unwrap_round_trip(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "round-trip")?;
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        let acme = tenant("acme")?;
        let l2 = random_l2()?;
        let wrapped = client.wrap_l2(&f.l1, &acme, &l2).await?;
        let stored = wrapped.to_bytes();
        assert_eq!(stored.len(), 68);
        let unwrapped = client
            .unwrap_l2(&f.l1, &acme, &WrappedL2::from_bytes(&stored)?)
            .await?;
        assert!(same_key(&l2, &unwrapped), "unwrapped L2 differs");
        // A fresh IV each time: wrapping the same key twice gives different blobs.
        let again = client.wrap_l2(&f.l1, &acme, &l2).await?;
        assert_ne!(again.to_bytes(), stored);
        // A second client in the same process shares the module and the token's login.
        let second = Hsm::open(&f.config).await?;
        let unwrapped = second.unwrap_l2(&f.l1, &acme, &again).await?;
        assert!(same_key(&l2, &unwrapped));
        Ok(())
    })
}

fn l1_is_found_by_id(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "by-id")?;
    let id = b"\x01customer-key-7".to_vec();
    // The customer tags the key; the harness session sees it once the client has logged in.
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        let key = f.token.find_key(L1_LABEL)?;
        f.token
            .with_session(|s| s.update_attributes(key, &[Attribute::Id(id.clone())]))?;
        let by_id = L1Ref::id(id)?;
        let t = tenant("by-id-tenant")?;
        let l2 = random_l2()?;
        let wrapped = client.wrap_l2(&by_id, &t, &l2).await?;
        // Label and id name the same key, so either opens the blob.
        let unwrapped = client.unwrap_l2(&f.l1, &t, &wrapped).await?;
        assert!(same_key(&l2, &unwrapped));
        let missing = client.wrap_l2(&L1Ref::id(*b"no-such-id")?, &t, &l2).await;
        expect_error(missing, "L1NotFound", |e| {
            matches!(e, HsmError::L1NotFound { .. })
        })?;
        Ok(())
    })
}

fn blob_for_one_tenant_refuses_another(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "tenants")?;
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        let (a, b) = (tenant("tenant-a")?, tenant("tenant-b")?);
        let wrapped = client.wrap_l2(&f.l1, &a, &random_l2()?).await?;
        let error = expect_error(
            client.unwrap_l2(&f.l1, &b, &wrapped).await,
            "Unauthentic",
            |e| matches!(e, HsmError::Unauthentic { .. }),
        )?;
        let text = error.to_string();
        assert!(
            text.contains("tenant-b") && text.contains(L1_LABEL),
            "{text}"
        );
        // The refusal changed nothing: the right tenant still opens it.
        client.unwrap_l2(&f.l1, &a, &wrapped).await?;
        Ok(())
    })
}

fn tampered_blobs_are_refused(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "tamper")?;
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        let t = tenant("tamper")?;
        let stored = client.wrap_l2(&f.l1, &t, &random_l2()?).await?.to_bytes();
        for at in 0..stored.len() {
            let mut altered = stored.clone();
            altered[at] ^= 0x01;
            let result = match WrappedL2::from_bytes(&altered) {
                Err(malformed) => Err(HsmError::from(malformed)),
                Ok(wrapped) => client.unwrap_l2(&f.l1, &t, &wrapped).await,
            };
            expect_error(result, "a malformed or unauthentic blob", |e| {
                matches!(
                    e,
                    HsmError::MalformedWrappedL2(_) | HsmError::Unauthentic { .. }
                )
            })
            .map_err(|e| format!("byte {at}: {}", e.message().unwrap_or_default()))?;
        }
        Ok(())
    })
}

fn deleted_l1_is_not_found(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "delete")?;
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        let t = tenant("delete")?;
        let wrapped = client.wrap_l2(&f.l1, &t, &random_l2()?).await?;
        // Unwrapping remembers the key's handle; the deletion must still be noticed.
        client.unwrap_l2(&f.l1, &t, &wrapped).await?;
        f.token.delete_key(L1_LABEL)?;
        let error = expect_error(
            client.unwrap_l2(&f.l1, &t, &wrapped).await,
            "L1NotFound",
            |e| matches!(e, HsmError::L1NotFound { .. }),
        )?;
        assert!(error.to_string().contains(L1_LABEL), "{error}");
        Ok(())
    })
}

fn l1_without_decrypt_refuses(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "no-decrypt")?;
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        let t = tenant("no-decrypt")?;
        let l2 = random_l2()?;
        let wrapped = client.wrap_l2(&f.l1, &t, &l2).await?;
        client.unwrap_l2(&f.l1, &t, &wrapped).await?;
        // The customer revokes Krypton's use of the key by turning CKA_DECRYPT off.
        let key = f.token.find_key(L1_LABEL)?;
        f.token
            .with_session(|s| s.update_attributes(key, &[Attribute::Decrypt(false)]))?;
        let error = expect_error(
            client.unwrap_l2(&f.l1, &t, &wrapped).await,
            "L1Refused",
            |e| matches!(e, HsmError::L1Refused { .. }),
        )?;
        let chain = ErrorChain(&error).to_string();
        assert!(
            chain.contains("Decrypt"),
            "the failed call is named: {chain}"
        );
        // And new links stop once CKA_ENCRYPT is off too.
        f.token
            .with_session(|s| s.update_attributes(key, &[Attribute::Encrypt(false)]))?;
        expect_error(client.wrap_l2(&f.l1, &t, &l2).await, "L1Refused", |e| {
            matches!(e, HsmError::L1Refused { .. })
        })?;
        Ok(())
    })
}

fn wrong_pin_fails_login(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "wrong-pin")?;
    let wrong = pin_file(f.dir.path(), "wrong.pin", "not-the-pin", 0o600)?;
    let config = HsmConfig::new(hsm.module_path(), "wrong-pin", PinSource::File(wrong))?;
    block_on(async {
        expect_error(
            Hsm::open(&config).await,
            "Login",
            |e| matches!(e, HsmError::Login { label, .. } if label == "wrong-pin"),
        )?;
        // The right PIN still works: the failure left nothing behind.
        Hsm::open(&f.config).await?;
        Ok(())
    })
}

fn pin_file_readable_by_others_is_refused(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "pin-mode")?;
    let open = pin_file(f.dir.path(), "open.pin", f.token.user_pin(), 0o644)?;
    let config = HsmConfig::new(hsm.module_path(), "pin-mode", PinSource::File(open.clone()))?;
    block_on(async {
        let error = expect_error(Hsm::open(&config).await, "TooOpen", |e| {
            matches!(e, HsmError::Pin(PinError::TooOpen { mode: 0o644, .. }))
        })?;
        let chain = ErrorChain(&error).to_string();
        assert!(chain.contains("0644"), "{chain}");
        assert!(chain.contains(&open.display().to_string()), "{chain}");
        Ok(())
    })
}

fn unknown_token_is_not_found(hsm: &SoftHsm) -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let pin = pin_file(dir.path(), "hsm.pin", "1234", 0o600)?;
    let config = HsmConfig::new(hsm.module_path(), "unknown", PinSource::File(pin))?;
    block_on(async {
        expect_error(
            Hsm::open(&config).await,
            "TokenNotFound",
            |e| matches!(e, HsmError::TokenNotFound { label } if label == "unknown"),
        )?;
        Ok(())
    })
}

fn missing_module_fails_to_load(_: &SoftHsm) -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let pin = pin_file(dir.path(), "hsm.pin", "1234", 0o600)?;
    let config = HsmConfig::new("/nonexistent/libpkcs11.so", "t", PinSource::File(pin))?;
    block_on(async {
        expect_error(Hsm::open(&config).await, "ModuleLoad", |e| {
            matches!(e, HsmError::ModuleLoad { .. })
        })?;
        Ok(())
    })
}

fn many_tasks_share_the_pool(hsm: &SoftHsm) -> Result<(), Failed> {
    const TASKS: usize = 48;
    let f = fixture(hsm, "concurrent")?;
    let config = f.config.clone().with_pool_size(3)?;
    block_on(async {
        let client = Hsm::open(&config).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..TASKS {
            let (client, l1) = (client.clone(), f.l1.clone());
            tasks.spawn(async move {
                let t = TenantId::new(format!("tenant-{i}"))?;
                let l2 = SecretKey::random(WhenIdle::ReadOnly)?;
                let wrapped = client.wrap_l2(&l1, &t, &l2).await?;
                let unwrapped = client.unwrap_l2(&l1, &t, &wrapped).await?;
                Ok::<_, Failed>(same_key(&l2, &unwrapped))
            });
        }
        let mut done = 0;
        while let Some(joined) = tasks.join_next().await {
            assert!(joined??, "an unwrapped L2 differs");
            done += 1;
        }
        assert_eq!(done, TASKS);
        Ok(())
    })
}

fn closed_sessions_are_reopened(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "close-all")?;
    let slot = f.token.with_session(|s| s.get_session_info())?.slot_id();
    block_on(async {
        let client = Hsm::open(&f.config.clone().with_pool_size(2)?).await?;
        let t = tenant("close-all")?;
        let l2 = random_l2()?;
        let wrapped = client.wrap_l2(&f.l1, &t, &l2).await?;
        client.unwrap_l2(&f.l1, &t, &wrapped).await?;
        // Every session of the slot is closed, the pool's too: their handles are now invalid,
        // the process is logged out of the token, and the L1 handle it remembered is gone.
        close_all_sessions(hsm.module_path(), slot.id())?;
        let unwrapped = client.unwrap_l2(&f.l1, &t, &wrapped).await?;
        assert!(same_key(&l2, &unwrapped));
        // And the pool stays healthy afterwards, for more calls than it has sessions.
        for _ in 0..4 {
            let again = client.wrap_l2(&f.l1, &t, &l2).await?;
            assert!(same_key(&l2, &client.unwrap_l2(&f.l1, &t, &again).await?));
        }
        Ok(())
    })
}

fn logout_behind_the_pool_is_recovered(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "logout")?;
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        let t = tenant("logout")?;
        let l2 = random_l2()?;
        let wrapped = client.wrap_l2(&f.l1, &t, &l2).await?;
        client.unwrap_l2(&f.l1, &t, &wrapped).await?;
        // Login is per process and token: this logs the pool's sessions out as well.
        f.token.with_session(|s| s.logout())?;
        let unwrapped = client.unwrap_l2(&f.l1, &t, &wrapped).await?;
        assert!(same_key(&l2, &unwrapped));
        Ok(())
    })
}

/// `C_CloseAllSessions` on `slot`, which cryptoki does not offer, through the raw bindings.
fn close_all_sessions(module: &Path, slot: u64) -> Result<(), Failed> {
    // SAFETY: loads the module the harness already loaded and initialised in this process:
    // the loader hands back the same instance and runs no initialiser again.
    let module = unsafe { cryptoki_sys::Pkcs11::new(module) }?;
    // SAFETY: the module is initialised and the call takes a plain slot id; it closes this
    // process's sessions on that slot only.
    let rv = unsafe { module.C_CloseAllSessions(slot) };
    if rv == cryptoki_sys::CKR_OK {
        Ok(())
    } else {
        Err(format!("C_CloseAllSessions failed: 0x{rv:x}").into())
    }
}
