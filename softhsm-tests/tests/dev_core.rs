//! krypton-dev's krypton-core handling against the real binaries: start, the 2-of-3 ceremony
//! with dev shares on disk, restart sealed and unseal from the saved shares, stop without
//! strays. (The core without `[pkcs11]` and `[kmip]`: the stack adds those.)

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use krypton_dev::Error;
use krypton_dev::core::{Ceremony, Core, Listeners, share_files};
use krypton_dev::ctl::CoreState;
use krypton_softhsm_tests::{debug_bin_dir, debug_binary};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

fn bin_dir() -> std::path::PathBuf {
    for name in ["krypton-core", "kryptonctl"] {
        debug_binary(name).unwrap_or_else(|message| panic!("{message}"));
    }
    debug_bin_dir()
}

fn start(dir: &Path) -> Result<Core, Error> {
    Core::start(
        &bin_dir(),
        &dir.join("core"),
        None,
        Listeners::default(),
        &dir.join("core.log"),
    )
}

fn assert_gone(pid: u32) {
    assert_eq!(
        kill(Pid::from_raw(pid as i32), None),
        Err(Errno::ESRCH),
        "{pid} is still running"
    );
}

#[test]
fn ceremony_initializes_then_unseals_a_restarted_core_from_saved_shares() {
    let dir = tempfile::tempdir().unwrap();
    let shares = dir.path().join("shares");

    let mut core = start(dir.path()).unwrap();
    assert_eq!(core.ctl().status().unwrap(), CoreState::Uninitialized);
    assert_eq!(core.ceremony(&shares).unwrap(), Ceremony::Initialized);
    assert_eq!(core.ctl().status().unwrap(), CoreState::Unsealed);
    for share in share_files(&shares) {
        let mode = std::fs::metadata(&share).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", share.display());
    }
    assert!(shares.join("DEV-ONLY.txt").is_file());
    assert_eq!(core.ceremony(&shares).unwrap(), Ceremony::AlreadyUnsealed);
    let pid = core.pid().unwrap();
    assert!(core.stop().unwrap().unwrap().success());
    assert_gone(pid);

    let mut core = start(dir.path()).unwrap();
    assert_eq!(core.ctl().status().unwrap(), CoreState::Sealed);
    assert_eq!(core.ceremony(&shares).unwrap(), Ceremony::Unsealed);
    assert_eq!(core.ctl().status().unwrap(), CoreState::Unsealed);
}

#[test]
fn half_entered_ceremony_is_reset_and_completed() {
    let dir = tempfile::tempdir().unwrap();
    let shares = dir.path().join("shares");
    let mut core = start(dir.path()).unwrap();
    core.ceremony(&shares).unwrap();
    drop(core);

    let mut core = start(dir.path()).unwrap();
    core.ctl().unseal(&share_files(&shares)[2]).unwrap();
    assert_eq!(core.ctl().status().unwrap(), CoreState::Unsealing);
    assert_eq!(core.ceremony(&shares).unwrap(), Ceremony::Unsealed);
    assert_eq!(core.ctl().status().unwrap(), CoreState::Unsealed);
}

#[test]
fn shares_of_another_installation_are_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let shares = dir.path().join("shares");
    std::fs::create_dir(&shares).unwrap();
    std::fs::write(shares.join("share-1.txt"), "an earlier share").unwrap();
    let mut core = start(dir.path()).unwrap();
    let error = core.ceremony(&shares).unwrap_err();
    assert!(matches!(error, Error::Inconsistent { .. }), "{error:?}");
    assert_eq!(core.ctl().status().unwrap(), CoreState::Uninitialized);
    assert_eq!(
        std::fs::read_to_string(shares.join("share-1.txt")).unwrap(),
        "an earlier share"
    );
}

#[test]
fn dropping_the_core_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let core = start(dir.path()).unwrap();
    let pid = core.pid().unwrap();
    drop(core);
    assert_gone(pid);
}

#[test]
fn a_core_that_exits_at_start_is_reported_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    // A store the core cannot open: a regular file where its database directory goes.
    std::fs::create_dir(dir.path().join("core")).unwrap();
    std::fs::write(dir.path().join("core/store"), "not a database").unwrap();
    match start(dir.path()) {
        Err(Error::Exited { name, tail, .. }) => {
            assert_eq!(name, "krypton-core");
            assert!(!tail.trim().is_empty(), "the error shows the core's log");
        }
        other => panic!("expected the core's exit: {other:?}"),
    }
}

#[test]
fn missing_binaries_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let error = Core::start(
        empty.path(),
        &dir.path().join("core"),
        None,
        Listeners::default(),
        &dir.path().join("core.log"),
    )
    .unwrap_err();
    assert!(matches!(error, Error::MissingBinary(_)), "{error:?}");
}
