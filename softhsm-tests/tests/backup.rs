//! Backup and restore of the core's store, end to end on the real binaries: a backup taken by
//! `kryptonctl backup` while applications create keys, the core's store deleted, rebuilt by
//! `krypton-core restore`, and every key created before the backup readable through the gateway
//! once the restored core is unsealed with the same shares.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, ExitCode, Output};

use krypton_softhsm_tests::binaries::debug_bin_dir;
use krypton_softhsm_tests::pykmip::App;
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test};

const ALICE: &str = "app-alice";
const BOB: &str = "app-bob";

const TESTS: [(&str, Test); 1] = [(
    "a_backup_taken_under_load_restores_every_key_created_before_it",
    a_backup_taken_under_load_restores_every_key_created_before_it,
)];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

fn restore(file: &Path, data_dir: &Path) -> Output {
    Command::new(debug_bin_dir().join("krypton-core"))
        .arg("restore")
        .arg(file)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

fn a_backup_taken_under_load_restores_every_key_created_before_it(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let mut stack = fixture.stack();
    let (alice, bob) = (App::of(&stack, ALICE), App::of(&stack, BOB));
    let before: Vec<(String, String)> = (0..5)
        .map(|i| {
            let uid = alice.create(&format!("before-the-backup-{i}"));
            let key = alice.get(&uid);
            (uid, key)
        })
        .collect();
    let backup = dir.path().join("core.backup");
    let ctl = stack.core().ctl().clone();
    // Bob keeps creating keys while the backup is taken.
    std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            for i in 0..10 {
                bob.create(&format!("during-the-backup-{i}"));
            }
        });
        ctl.backup(&backup).unwrap();
        load.join().unwrap();
    });
    let audit = ctl.audit_search(1, &[("--operation", "backup")]).unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    // An existing file is never overwritten.
    assert!(ctl.backup(&backup).is_err());

    // The core's store is lost.
    stack.stop_core().unwrap();
    let store = stack.core_store();
    std::fs::remove_dir_all(&store).unwrap();

    // A restore refuses a directory that is not empty, and a file that is not a backup.
    let occupied = dir.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("x"), b"x").unwrap();
    let refused = restore(&backup, &occupied);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not empty"),
        "{refused:?}"
    );
    let refused = restore(&occupied.join("x"), &dir.path().join("never"));
    assert!(!refused.status.success());

    let restored = restore(&backup, &store);
    assert!(restored.status.success(), "{restored:?}");
    // The restored core is sealed; the same shares unseal it and the tenant re-opens.
    stack.restart_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    for (uid, key) in &before {
        assert_eq!(&alice.get(uid), key);
    }
}
