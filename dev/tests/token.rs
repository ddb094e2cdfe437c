//! The dev token against a real SoftHSM2: made once in the data dir with its L1, found again by
//! a later run (same L1, no second key), PIN file private.
//!
//! `token::prepare` sets SOFTHSM2_CONF for the process, so this suite owns its `main` and runs
//! its steps one after the other before any other thread exists.

use std::os::unix::fs::PermissionsExt;
use std::process::ExitCode;

use cryptoki::object::{Attribute, ObjectClass};
use krypton_dev::softhsm::SoftHsm;
use krypton_dev::token::{self, L1_LABEL, TOKEN_LABEL};

fn main() -> ExitCode {
    let dir = tempfile::tempdir().expect("temporary directory");
    let hsm_dir = dir.path().join("softhsm");
    // SAFETY: first statements of main; no other thread exists.
    let first = unsafe { token::prepare(&hsm_dir) }.expect("first prepare");
    // SAFETY: still no other thread; the first installation was dropped (finalized).
    let second = unsafe { token::prepare(&hsm_dir) }.expect("second prepare");
    assert_eq!(first.pin_file, second.pin_file);
    assert_eq!(second.token_label, TOKEN_LABEL);
    assert_eq!(
        second.softhsm_conf.as_deref(),
        Some(hsm_dir.join("softhsm2.conf").as_path())
    );
    let mode = std::fs::metadata(&second.pin_file)
        .expect("pin file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // SAFETY: still no other thread.
    let hsm = unsafe { SoftHsm::install_in(&hsm_dir) }.expect("install");
    let token = hsm
        .open_token(TOKEN_LABEL)
        .expect("open")
        .expect("the dev token exists");
    assert_eq!(
        std::fs::read_to_string(&second.pin_file).expect("pin"),
        token.user_pin()
    );
    let l1_keys = token
        .with_session(|session| {
            session.find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(L1_LABEL.as_bytes().to_vec()),
            ])
        })
        .expect("find");
    assert_eq!(l1_keys.len(), 1, "one L1, made once");
    assert!(hsm.open_token("no-such-token").expect("open").is_none());
    println!("test dev_token_is_made_once_and_found_again ... ok");
    ExitCode::SUCCESS
}
