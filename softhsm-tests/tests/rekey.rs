//! Rekey, end to end on the real binaries: new shares authorized by a quorum of the current
//! ones, in force only once a quorum of the new ones confirms them, with the core killed
//! (`SIGKILL`) on either side of the confirmation and opening each time with the shares then in
//! force; on the Shamir seal and on the PKCS#11 seal (recovery shares), and from one seal to the
//! other (seal migration).
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use krypton_dev::Stack;
use krypton_dev::ctl::{CoreState, Ctl};
use krypton_softhsm_tests::pykmip::App;
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const ALICE: &str = "app-alice";

const TESTS: [(&str, Test); 3] = [
    (
        "rekey_2_of_3_to_3_of_5_survives_kills_and_refuses_the_old_shares",
        rekey_2_of_3_to_3_of_5_survives_kills_and_refuses_the_old_shares,
    ),
    (
        "the_recovery_shares_of_the_hsm_seal_are_rekeyed",
        the_recovery_shares_of_the_hsm_seal_are_rekeyed,
    ),
    (
        "seal_migration_shamir_to_pkcs11_and_back_keeps_every_key_readable",
        seal_migration_shamir_to_pkcs11_and_back_keeps_every_key_readable,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

fn share_files(dir: &Path, count: u32) -> Vec<PathBuf> {
    (1..=count)
        .map(|i| dir.join(format!("share-{i}.txt")))
        .collect()
}

/// Asserts that `command` failed with kryptonctl's `reason`.
fn assert_refused<T: std::fmt::Debug>(outcome: Result<T, krypton_dev::Error>, expected: &str) {
    let error = outcome.unwrap_err();
    assert!(
        matches!(&error, krypton_dev::Error::Ctl { reason, .. } if reason == expected),
        "expected {expected}: {error:?}"
    );
}

/// Kills the core and starts it again, sealed, with the gateway still running.
fn crash_and_launch(stack: &mut Stack) -> Ctl {
    let pid = stack.core().pid().expect("the core runs");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    stack.launch_core().unwrap();
    stack.core().ctl().clone()
}

fn rekey_2_of_3_to_3_of_5_survives_kills_and_refuses_the_old_shares(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let mut stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("across-the-rekey");
    let key = alice.get(&uid);
    let ctl = stack.core().ctl().clone();
    let old = stack.share_files();
    let old_key_set = ctl.key_set().unwrap();
    let new_dir = dir.path().join("new");
    let new = share_files(&new_dir, 5);

    // One share is not a quorum of 2-of-3.
    assert_refused(
        ctl.rekey(&old[..1], (5, 3), None, &dir.path().join("refused")),
        "invalid-argument",
    );
    let new_key_set = ctl.rekey(&old[1..], (5, 3), None, &new_dir).unwrap();
    assert_ne!(new_key_set, old_key_set);
    assert_eq!(ctl.key_set().unwrap(), old_key_set);

    // Killed before the confirmation: the old shares are in force, the new ones refused.
    let ctl = crash_and_launch(&mut stack);
    assert_refused(ctl.unseal(&new[0]), "foreign-share");
    ctl.unseal(&old[0]).unwrap();
    ctl.unseal(&old[2]).unwrap();
    assert_eq!(ctl.status().unwrap(), CoreState::Unsealed);
    stack.unseal_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);

    // The rekey is still pending: two new shares are not a quorum of 3-of-5, three are.
    assert_refused(ctl.confirm_rekey(&new[..2]), "invalid-argument");
    assert_refused(ctl.confirm_rekey(&old[..2]), "foreign-share");
    ctl.confirm_rekey(&new[1..4]).unwrap();
    assert_eq!(ctl.key_set().unwrap(), new_key_set);
    assert_refused(ctl.confirm_rekey(&new[1..4]), "no-rekey-pending");

    // Killed after it: the old shares are refused, three new ones unseal.
    let ctl = crash_and_launch(&mut stack);
    assert_refused(ctl.unseal(&old[0]), "foreign-share");
    for share in [&new[4], &new[0]] {
        ctl.unseal(share).unwrap();
        assert_eq!(ctl.status().unwrap(), CoreState::Unsealing);
    }
    ctl.unseal(&new[2]).unwrap();
    assert_eq!(ctl.status().unwrap(), CoreState::Unsealed);
    stack.unseal_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);

    let audit = ctl.audit_tail(100).unwrap();
    for operation in ["rekey-start", "rekey"] {
        assert!(
            audit.iter().any(|r| r["operation"] == operation),
            "{operation}: {audit:?}"
        );
    }
}

fn the_recovery_shares_of_the_hsm_seal_are_rekeyed(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let mut stack = fixture.stack_with(fixture.sealed_hsm(&dir.path().join("seal-pin")));
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("under-rekeyed-recovery-shares");
    let key = alice.get(&uid);
    let ctl = stack.core().ctl().clone();
    let old = stack.share_files();
    let new_dir = dir.path().join("new");
    let new = share_files(&new_dir, 4);

    let new_key_set = ctl.rekey(&old[..2], (4, 3), None, &new_dir).unwrap();
    ctl.confirm_rekey(&new[..3]).unwrap();
    assert_eq!(ctl.key_set().unwrap(), new_key_set);
    // The old recovery shares authorize nothing any more; the new ones still never unseal.
    assert_refused(
        ctl.rekey(&old[..2], (3, 2), None, &dir.path().join("refused")),
        "foreign-share",
    );

    // The master key was sealed again for the new installation: a crash still auto-unseals.
    let ctl = crash_and_launch(&mut stack);
    stack.unseal_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);
    ctl.seal().unwrap();
    assert_refused(ctl.unseal(&new[0]), "recovery-share");
}

fn seal_migration_shamir_to_pkcs11_and_back_keeps_every_key_readable(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let mut stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("across-seal-migrations");
    let key = alice.get(&uid);
    let shamir = stack.share_files();
    let ctl = stack.core().ctl().clone();

    // No seal HSM is configured: the move is refused.
    assert_refused(
        ctl.rekey(&shamir[..2], (3, 2), Some("pkcs11"), &dir.path().join("x")),
        "hsm",
    );

    // With the seal HSM configured the installation stays on its shares until it is moved.
    stack.reconfigure_hsm(fixture.sealed_hsm(&dir.path().join("seal-pin")));
    stack.stop_core().unwrap();
    stack.launch_core().unwrap();
    let ctl = stack.core().ctl().clone();
    ctl.unseal(&shamir[0]).unwrap();
    ctl.unseal(&shamir[1]).unwrap();
    stack.unseal_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    let recovery_dir = dir.path().join("recovery");
    let recovery = share_files(&recovery_dir, 3);
    ctl.rekey(&shamir[1..], (3, 2), Some("pkcs11"), &recovery_dir)
        .unwrap();
    ctl.confirm_rekey(&recovery[..2]).unwrap();

    // Shamir -> PKCS#11: after a crash the core unseals itself; no share unseals it any more.
    let ctl = crash_and_launch(&mut stack);
    stack.unseal_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);
    ctl.seal().unwrap();
    assert_refused(ctl.unseal(&shamir[0]), "recovery-share");
    stack.restart_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);

    // PKCS#11 -> Shamir, authorized by the recovery shares and confirmed by the new shares.
    let back_dir = dir.path().join("back");
    let back = share_files(&back_dir, 3);
    ctl.rekey(&recovery[1..], (3, 2), Some("shamir"), &back_dir)
        .unwrap();
    ctl.confirm_rekey(&back[1..]).unwrap();
    stack.reconfigure_hsm(fixture.hsm().clone());
    let ctl = crash_and_launch(&mut stack);
    assert_eq!(ctl.status().unwrap(), CoreState::Sealed);
    ctl.unseal(&back[0]).unwrap();
    ctl.unseal(&back[2]).unwrap();
    stack.unseal_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);
    assert_refused(
        ctl.rekey(&recovery[..2], (3, 2), None, &dir.path().join("y")),
        "foreign-share",
    );
}
