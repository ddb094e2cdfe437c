//! Rekey, end to end on the real binaries: new shares authorized by a quorum of the current
//! ones, in force only once a quorum of the new ones confirms them, with the core killed
//! (`SIGKILL`) on either side of the confirmation and opening each time with the shares then in
//! force; on the Shamir seal and on the PKCS#11 seal (recovery shares), and from one seal to the
//! other (seal migration). And master-key rotation, with the core killed right after it, in the
//! middle of its background re-seal, and after the old version's retirement.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use krypton_dev::Stack;
use krypton_dev::ctl::{CoreState, Ctl};
use krypton_softhsm_tests::pykmip::{self, App};
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const ALICE: &str = "app-alice";

const TESTS: [(&str, Test); 4] = [
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
    (
        "master_key_rotation_killed_at_every_point_keeps_every_key_readable",
        master_key_rotation_killed_at_every_point_keeps_every_key_readable,
    ),
];

/// How long a re-seal of this suite's few hundred records may take to retire the old version.
const RETIRE_LIMIT: Duration = Duration::from_secs(60);

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

    for operation in ["rekey-start", "rekey"] {
        let audit = ctl.audit_search(1, &[("--operation", operation)]).unwrap();
        assert_eq!(audit.len(), 1, "{operation}: {audit:?}");
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

/// Waits until the core has retired every older version of the master key; returns the
/// version in force.
fn wait_for_retirement(ctl: &Ctl) -> u64 {
    let deadline = Instant::now() + RETIRE_LIMIT;
    loop {
        let (version, retiring) = ctl.master_key().unwrap().expect("unsealed");
        if retiring.is_empty() {
            return version;
        }
        assert!(
            Instant::now() < deadline,
            "version(s) {retiring:?} not retired within {RETIRE_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the core, starts it again and unseals it with the shares in force.
fn crash_and_unseal(stack: &mut Stack) -> Ctl {
    let ctl = crash_and_launch(stack);
    stack.unseal_core().unwrap();
    suite::wait_for_tenant(stack, "active", REOPEN_LIMIT);
    ctl
}

fn master_key_rotation_killed_at_every_point_keeps_every_key_readable(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let kept: Vec<(String, String)> = (0..3)
        .map(|i| {
            let uid = alice.create(&format!("across-rotations-{i}"));
            (uid.clone(), alice.get(&uid))
        })
        .collect();
    // Each destroyed key leaves a record sealed under the master key in the core (its
    // shredding): several hundred, so that the re-seal takes several steps.
    let creates: Vec<_> = (0..600)
        .map(|i| serde_json::json!({"op": "create", "name": format!("shredded-{i}")}))
        .collect();
    let destroyed: Vec<String> = alice
        .run(&serde_json::Value::Array(creates))
        .iter()
        .map(|result| pykmip::ok(result).as_str().unwrap().to_owned())
        .collect();
    let destroys: Vec<_> = destroyed
        .iter()
        .map(|uid| serde_json::json!({"op": "destroy", "uid": uid}))
        .collect();
    for result in alice.run(&serde_json::Value::Array(destroys)) {
        pykmip::ok(&result);
    }
    let ctl = stack.core().ctl().clone();
    assert_eq!(ctl.master_key().unwrap(), Some((1, vec![])));
    let readable = |stack: &Stack| {
        let alice = App::of(stack, ALICE);
        for (uid, key) in &kept {
            assert_eq!(&alice.get(uid), key, "{uid}");
        }
        let result = alice.run(&serde_json::json!([{"op": "get", "uid": destroyed[0]}]));
        pykmip::reason(&result[0]);
    };

    // Killed as soon as the rotation is acknowledged: the new version is in force, and the
    // re-seal resumes after the unseal and retires version 1.
    assert_eq!(ctl.rotate_master_key().unwrap(), 2);
    let ctl = crash_and_unseal(&mut stack);
    assert_eq!(ctl.master_key().unwrap().unwrap().0, 2);
    assert_eq!(wait_for_retirement(&ctl), 2);
    readable(&stack);

    // Killed in the middle of the re-seal.
    assert_eq!(ctl.rotate_master_key().unwrap(), 3);
    std::thread::sleep(Duration::from_millis(20));
    let ctl = crash_and_unseal(&mut stack);
    assert_eq!(wait_for_retirement(&ctl), 3);
    readable(&stack);

    // Killed after the retirement: version 3 alone opens everything.
    let ctl = crash_and_unseal(&mut stack);
    assert_eq!(ctl.master_key().unwrap(), Some((3, vec![])));
    readable(&stack);

    // Sealed, there is nothing to rotate with.
    ctl.seal().unwrap();
    assert_refused(ctl.rotate_master_key(), "sealed");
    stack.unseal_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);

    for operation in ["master-key-rotate", "master-key-retire"] {
        let done = [("--operation", operation), ("--outcome", "ok")];
        let audit = ctl.audit_search(10, &done).unwrap();
        assert_eq!(audit.len(), 2, "{operation}: {audit:?}");
    }
    // The rotation asked while sealed is on record too, refused, with why.
    let refused = [
        ("--operation", "master-key-rotate"),
        ("--outcome", "refused"),
    ];
    let audit = ctl.audit_search(10, &refused).unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert!(
        audit[0]["reason"].as_str().unwrap().contains("sealed"),
        "{audit:?}"
    );
}
