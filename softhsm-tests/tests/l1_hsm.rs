//! krypton-core's HSM client (`krypton_core::Hsm`) against a real SoftHSM2 token: wrapping a
//! tenant's L2 under a customer L1 key, and every way the customer, the token or the operator
//! can make that fail; and the liveness probe of an L1 (`Hsm::probe_l1`), which tells an L1 the
//! customer revoked from an HSM that does not answer. For the latter the token is reached
//! through OpenSC's PKCS#11 spy, whose log pipe the test can hold full so that every call
//! blocks in the module (`krypton_dev::stall`).
//!
//! The harness initialised the module first in this process; `Hsm` shares that initialisation
//! (one PKCS#11 state per process), exactly as it would with any other component of the core
//! that had loaded the module before it.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cryptoki::object::Attribute;
use krypton_core::{
    ErrorChain, Hsm, HsmConfig, HsmError, L1Ref, Outage, Probe, Refusal, SecretKey, TenantId,
    WhenIdle, WrappedL2,
};
use krypton_dev::process::run_bounded;
use krypton_dev::softhsm::{self, SoftHsm, Token};
use krypton_dev::stall::HsmStall;
use krypton_service::secret_file::{SecretError, SecretSource};
use krypton_softhsm_tests::suite::{self, HsmTest};
use libtest_mimic::Failed;
use tempfile::TempDir;

const TESTS: [(&str, HsmTest); 18] = [
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
    (
        "probe_of_a_working_l1_is_alive",
        probe_of_a_working_l1_is_alive,
    ),
    (
        "probe_of_a_deleted_l1_is_refused",
        probe_of_a_deleted_l1_is_refused,
    ),
    (
        "probe_of_an_l1_without_decrypt_is_refused",
        probe_of_an_l1_without_decrypt_is_refused,
    ),
    (
        "probe_of_another_l2_or_l1_is_refused",
        probe_of_another_l2_or_l1_is_refused,
    ),
    (
        "probe_of_a_stalled_hsm_is_bounded_until_it_is_back",
        probe_of_a_stalled_hsm_is_bounded_until_it_is_back,
    ),
];

/// The FIFO of the PKCS#11 spy through which the stalled-HSM test reaches the token. The spy
/// reads its path from the environment, which is set before any thread starts.
static SPY_FIFO: OnceLock<PathBuf> = OnceLock::new();

fn main() -> ExitCode {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("cannot make a directory for the PKCS#11 spy's FIFO: {error}");
            return ExitCode::FAILURE;
        }
    };
    let fifo = dir.path().join("pkcs11-spy.fifo");
    for (name, value) in HsmStall::envs(&softhsm::module(), &fifo) {
        // SAFETY: main has started no thread yet, and tempdir starts none.
        unsafe { std::env::set_var(name, value) };
    }
    SPY_FIFO.get_or_init(|| fifo);
    // SAFETY: still no other thread.
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
    let config = HsmConfig::new(hsm.module_path(), label, SecretSource::File(pin))?;
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
    let config = HsmConfig::new(hsm.module_path(), "wrong-pin", SecretSource::File(wrong))?;
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
    let config = HsmConfig::new(
        hsm.module_path(),
        "pin-mode",
        SecretSource::File(open.clone()),
    )?;
    block_on(async {
        let error = expect_error(Hsm::open(&config).await, "TooOpen", |e| {
            matches!(e, HsmError::Pin(SecretError::TooOpen { mode: 0o644, .. }))
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
    let config = HsmConfig::new(hsm.module_path(), "unknown", SecretSource::File(pin))?;
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
    let config = HsmConfig::new("/nonexistent/libpkcs11.so", "t", SecretSource::File(pin))?;
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

/// Longest wait for one HSM call in the unreachable-HSM test.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);
/// A probe not back after this long hangs: far above the bound of a few call timeouts.
const HANG: Duration = Duration::from_secs(30);

/// Probes `l1` for tenant `t` whose L2 is `l2`, failing the test if the probe does not return
/// within [`HANG`]; returns the verdict and how long the probe took.
async fn probe(
    client: &Hsm,
    l1: &L1Ref,
    t: &TenantId,
    wrapped: &WrappedL2,
    l2: &SecretKey,
) -> Result<(Probe, Duration), Failed> {
    let start = Instant::now();
    let answer = tokio::time::timeout(HANG, client.probe_l1(l1, t, wrapped))
        .await
        .map_err(|_| format!("the probe did not return within {HANG:?}"))?;
    Ok((answer.verdict(l2), start.elapsed()))
}

fn probe_of_a_working_l1_is_alive(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "probe-alive")?;
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        let t = tenant("alive")?;
        let l2 = random_l2()?;
        let wrapped = client.wrap_l2(&f.l1, &t, &l2).await?;
        // The first probe finds the key, the second uses the remembered handle.
        for _ in 0..2 {
            assert_eq!(
                probe(&client, &f.l1, &t, &wrapped, &l2).await?.0,
                Probe::Alive
            );
        }
        Ok(())
    })
}

fn probe_of_a_deleted_l1_is_refused(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "probe-delete")?;
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        let t = tenant("deleted")?;
        let l2 = random_l2()?;
        let wrapped = client.wrap_l2(&f.l1, &t, &l2).await?;
        assert_eq!(
            probe(&client, &f.l1, &t, &wrapped, &l2).await?.0,
            Probe::Alive
        );
        // The customer deletes the key from another process, while the client remembers its
        // handle.
        delete_with_pkcs11_tool(hsm, &f.token, L1_LABEL)?;
        let refused = Probe::Refused(Refusal::L1NotFound);
        assert_eq!(probe(&client, &f.l1, &t, &wrapped, &l2).await?.0, refused);
        // And stays refused: a refusal is an answer, not a fluke.
        assert_eq!(probe(&client, &f.l1, &t, &wrapped, &l2).await?.0, refused);
        Ok(())
    })
}

fn probe_of_an_l1_without_decrypt_is_refused(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "probe-no-decrypt")?;
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        let t = tenant("no-decrypt")?;
        let l2 = random_l2()?;
        let wrapped = client.wrap_l2(&f.l1, &t, &l2).await?;
        assert_eq!(
            probe(&client, &f.l1, &t, &wrapped, &l2).await?.0,
            Probe::Alive
        );
        // SoftHSM2 lets the customer turn CKA_DECRYPT off on a key (C_SetAttributeValue).
        let key = f.token.find_key(L1_LABEL)?;
        f.token
            .with_session(|s| s.update_attributes(key, &[Attribute::Decrypt(false)]))?;
        assert_eq!(
            probe(&client, &f.l1, &t, &wrapped, &l2).await?.0,
            Probe::Refused(Refusal::L1NotPermitted)
        );
        // Turned on again, the L1 serves the tenant again.
        f.token
            .with_session(|s| s.update_attributes(key, &[Attribute::Decrypt(true)]))?;
        assert_eq!(
            probe(&client, &f.l1, &t, &wrapped, &l2).await?.0,
            Probe::Alive
        );
        Ok(())
    })
}

fn probe_of_another_l2_or_l1_is_refused(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "probe-other")?;
    block_on(async {
        let client = Hsm::open(&f.config).await?;
        // The harness session may create keys once the client has logged in.
        f.token.generate_l1("replacement-l1")?;
        let t = tenant("other")?;
        let l2 = random_l2()?;
        let wrapped = client.wrap_l2(&f.l1, &t, &l2).await?;
        // The wrapped L2 opens, but not to the L2 in memory.
        assert_eq!(
            probe(&client, &f.l1, &t, &wrapped, &random_l2()?).await?.0,
            Probe::Refused(Refusal::L2Differs)
        );
        // The reference names another key than the one the L2 was wrapped under.
        let other = L1Ref::label("replacement-l1")?;
        assert_eq!(
            probe(&client, &other, &t, &wrapped, &l2).await?.0,
            Probe::Refused(Refusal::WrappedL2Refused)
        );
        // Neither refusal changed anything: the right pair is still alive.
        assert_eq!(
            probe(&client, &f.l1, &t, &wrapped, &l2).await?.0,
            Probe::Alive
        );
        Ok(())
    })
}

fn probe_of_a_stalled_hsm_is_bounded_until_it_is_back(hsm: &SoftHsm) -> Result<(), Failed> {
    let f = fixture(hsm, "probe-stall")?;
    let stall = HsmStall::open(SPY_FIFO.get().ok_or("main chose no FIFO")?)?;
    let config = HsmConfig::new(
        HsmStall::spy_module(),
        f.token.label(),
        SecretSource::File(f.dir.path().join("hsm.pin")),
    )?
    .with_pool_size(2)?
    .with_call_timeout(CALL_TIMEOUT)?;
    block_on(async {
        let client = Hsm::open(&config).await?;
        let t = tenant("stall")?;
        let l2 = random_l2()?;
        let wrapped = client.wrap_l2(&f.l1, &t, &l2).await?;
        assert_eq!(
            probe(&client, &f.l1, &t, &wrapped, &l2).await?.0,
            Probe::Alive
        );

        // The HSM stops answering. Three probes: one per pooled session, whose calls hang in
        // the module, and one that finds no free session. Each is back once its waits time out.
        stall.stall()?;
        for n in 1..=3 {
            let (verdict, took) = probe(&client, &f.l1, &t, &wrapped, &l2).await?;
            eprintln!("stalled HSM, probe {n}: {verdict} after {took:?}");
            assert_eq!(verdict, Probe::Unreachable(Outage::TimedOut), "probe {n}");
        }
        // Back: the hung calls complete, and the next probe finds the L1 again.
        stall.release();
        let (verdict, took) = probe(&client, &f.l1, &t, &wrapped, &l2).await?;
        eprintln!("released HSM: {verdict} after {took:?}");
        assert_eq!(verdict, Probe::Alive);
        Ok(())
    })
}

/// Deletes the secret key `label` from `token` with `pkcs11-tool`, from a process of its own, as
/// a customer would.
fn delete_with_pkcs11_tool(hsm: &SoftHsm, token: &Token, label: &str) -> Result<(), Failed> {
    let mut command = Command::new("pkcs11-tool");
    command
        .arg("--module")
        .arg(hsm.module_path())
        .args(["--token-label", token.label(), "--login", "--pin"])
        .arg(token.user_pin())
        .args(["--delete-object", "--type", "secrkey", "--label", label])
        .env("SOFTHSM2_CONF", hsm.conf_path());
    let output = run_bounded(command, Duration::from_secs(30))?
        .ok_or("pkcs11-tool did not finish within 30 s")?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("pkcs11-tool failed ({}): {}", output.status, output.stderr).into())
    }
}
