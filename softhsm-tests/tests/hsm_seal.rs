//! The PKCS#11 seal (auto-unseal), end to end on the real binaries: the core's master key
//! sealed by a key in a SoftHSM2 seal token (another token than the tenants' L1s), the core
//! unsealing itself at every start, staying sealed while the seal token refuses it or hangs and
//! unsealing when it returns, recovery shares that never unseal, and a core that cannot unseal
//! without its seal HSM refusing to start.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use krypton_dev::Stack;
use krypton_dev::core::{Ceremony, Core, Listeners};
use krypton_dev::ctl::{CoreState, Ctl};
use krypton_dev::softhsm;
use krypton_dev::stall::HsmStall;
use krypton_softhsm_tests::pykmip::{App, message, reason};
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

const ALICE: &str = "app-alice";

/// How long the core may take to notice that its seal token refuses it: a bound against a
/// hang, not a speed expectation.
const NOTICE_LIMIT: Duration = Duration::from_secs(30);

const TESTS: [(&str, Test); 5] = [
    (
        "a_core_on_the_hsm_seal_restarts_and_serves_with_no_operator",
        a_core_on_the_hsm_seal_restarts_and_serves_with_no_operator,
    ),
    ("recovery_shares_never_unseal", recovery_shares_never_unseal),
    (
        "a_refusing_seal_token_keeps_the_core_sealed_until_it_returns",
        a_refusing_seal_token_keeps_the_core_sealed_until_it_returns,
    ),
    (
        "a_hung_seal_hsm_keeps_the_core_sealed_until_it_answers",
        a_hung_seal_hsm_keeps_the_core_sealed_until_it_answers,
    ),
    (
        "a_core_on_the_hsm_seal_without_its_seal_hsm_refuses_to_start",
        a_core_on_the_hsm_seal_without_its_seal_hsm_refuses_to_start,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

/// A stack on the PKCS#11 seal, the seal token's PIN in `dir/seal-pin`.
fn sealed_stack(fixture: &Fixture, dir: &Path) -> Stack {
    let stack = fixture.stack_with(fixture.sealed_hsm(&dir.join("seal-pin")));
    assert_eq!(stack.ceremony(), Ceremony::Initialized);
    stack
}

fn kill_core(stack: &Stack) {
    let pid = stack.core().pid().expect("the core runs");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
}

/// Asserts that Get of `uid` is refused because the core is sealed, with no key bytes.
fn assert_get_refused_sealed(app: &App, uid: &str, key: &str) {
    let results = app.run(&json!([{"op": "get", "uid": uid}]));
    assert_eq!(reason(&results[0]), "GENERAL_FAILURE", "{}", results[0]);
    assert!(
        message(&results[0]).contains("krypton-core is sealed"),
        "{}",
        results[0]
    );
    assert!(!results[0].to_string().contains(key), "{}", results[0]);
}

fn a_core_on_the_hsm_seal_restarts_and_serves_with_no_operator(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let mut stack = sealed_stack(fixture, dir.path());
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("under-the-hsm-seal");
    let key = alice.get(&uid);

    // A clean stop, then a crash: each time the core unseals itself and re-opens the tenant.
    stack.restart_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);
    kill_core(&stack);
    stack.restart_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);
    let uid = alice.create("after-the-crash");
    assert_eq!(alice.get(&uid).len(), 64);

    // Every auto-unseal is audited, as the core's own act.
    let audit = stack
        .core()
        .ctl()
        .audit_search(50, &[("--operation", "auto-unseal")])
        .unwrap();
    let auto_unseals = audit
        .iter()
        .filter(|r| r["operation"] == "auto-unseal" && r["caller"] == "krypton-core")
        .count();
    assert_eq!(auto_unseals, 3, "{audit:?}");
}

fn recovery_shares_never_unseal(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let mut stack = sealed_stack(fixture, dir.path());
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("behind-recovery-shares");
    let key = alice.get(&uid);
    let ctl = stack.core().ctl().clone();

    // An operator's seal holds: the core does not unseal itself again until it restarts, and
    // the shares init handed out are recovery shares, each refused before it is counted.
    ctl.seal().unwrap();
    let shares = stack.share_files();
    assert_eq!(shares.len(), 3);
    for share in &shares {
        let error = ctl.unseal(share).unwrap_err();
        assert!(
            matches!(&error, krypton_dev::Error::Ctl { reason, message, .. }
                if reason == "recovery-share" && message.contains("never unseal")),
            "{error:?}"
        );
    }
    assert_eq!(ctl.status().unwrap(), CoreState::Sealed);
    assert_get_refused_sealed(&alice, &uid, &key);

    stack.restart_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);
}

fn a_refusing_seal_token_keeps_the_core_sealed_until_it_returns(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let mut stack = sealed_stack(fixture, dir.path());
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("while-the-seal-token-refuses");
    let key = alice.get(&uid);

    // The seal token refuses the core (its PIN file now holds a wrong PIN) and the core dies.
    let pin_file = dir.path().join("seal-pin");
    let pin = std::fs::read(&pin_file).unwrap();
    std::fs::write(&pin_file, b"not-the-seal-pin").unwrap();
    kill_core(&stack);
    stack.launch_core().unwrap();
    let ctl = stack.core().ctl().clone();
    let why = auto_unseal_failure(&ctl);
    assert!(why.contains("login to HSM token"), "{why}");
    assert_eq!(ctl.status().unwrap(), CoreState::Sealed);
    assert_get_refused_sealed(&alice, &uid, &key);
    // It keeps trying, and stays sealed while refused.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(ctl.status().unwrap(), CoreState::Sealed);

    // The token accepts the core again: it unseals itself, with no operator.
    std::fs::write(&pin_file, pin).unwrap();
    stack.unseal_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);
    assert_eq!(ctl.auto_unseal_error().unwrap(), None);
}

/// Waits until the core reports why its auto-unseal fails, and returns it.
fn auto_unseal_failure(ctl: &Ctl) -> String {
    let deadline = Instant::now() + NOTICE_LIMIT;
    loop {
        if let Some(why) = ctl.auto_unseal_error().unwrap() {
            return why;
        }
        assert!(Instant::now() < deadline, "no auto-unseal failure reported");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn a_hung_seal_hsm_keeps_the_core_sealed_until_it_answers(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    // The seal token reached through the PKCS#11 spy, whose FIFO the test holds; the tenants'
    // token directly.
    let fifo = dir.path().join("seal-spy.fifo");
    let stall = HsmStall::open(&fifo).unwrap();
    let mut hsm = fixture.sealed_hsm(&dir.path().join("seal-pin"));
    hsm.seal.as_mut().unwrap().module = HsmStall::spy_module();
    hsm.extra_env = HsmStall::envs(&softhsm::module(), &fifo).to_vec();
    let mut stack = fixture.stack_with(hsm);
    assert_eq!(stack.ceremony(), Ceremony::Initialized);
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("while-the-seal-hsm-hangs");
    let key = alice.get(&uid);

    // The seal HSM hangs in every call and the core dies: it comes back sealed, and says why
    // (each HSM call is bounded), and stays sealed while the HSM hangs.
    stall.stall().unwrap();
    kill_core(&stack);
    stack.launch_core().unwrap();
    let ctl = stack.core().ctl().clone();
    let why = auto_unseal_failure(&ctl);
    assert!(why.contains("timed out"), "{why}");
    assert_get_refused_sealed(&alice, &uid, &key);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(ctl.status().unwrap(), CoreState::Sealed);

    // The HSM answers again: the core unseals itself.
    stall.release();
    stack.unseal_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);
}

fn a_core_on_the_hsm_seal_without_its_seal_hsm_refuses_to_start(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = krypton_softhsm_tests::binaries::debug_bin_dir();
    let core_dir = dir.path().join("core");
    let log = dir.path().join("core.log");
    let sealed = fixture.sealed_hsm(&dir.path().join("seal-pin"));
    let mut core = Core::start(
        &bin_dir,
        &core_dir,
        Some(&sealed),
        Listeners::default(),
        &log,
    )
    .unwrap();
    assert_eq!(
        core.ceremony(&dir.path().join("shares")).unwrap(),
        Ceremony::Initialized
    );
    core.stop().unwrap();

    // Started without its seal HSM nothing could unseal it: it stops and says how to move it.
    let error = Core::start(
        &bin_dir,
        &core_dir,
        Some(fixture.hsm()),
        Listeners::default(),
        &log,
    )
    .unwrap_err();
    assert!(
        matches!(&error, krypton_dev::Error::Exited { tail, .. }
            if tail.contains("kryptonctl rekey --seal shamir")),
        "{error:?}"
    );
}
