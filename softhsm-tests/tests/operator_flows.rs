//! What operators do to a running installation, seen by applications through krypton-gateway:
//! the real binaries (krypton-dev's `Stack`: SoftHSM2 L1, core, gateway, mutual TLS) driven by
//! kryptonctl on one side and by PyKMIP on the other. Sealing and the unseal ceremony, the kill
//! switch (tenant unlink) and relink, the customer deleting the L1 in the HSM, and L3 rotation.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::process::ExitCode;

use krypton_dev::Stack;
use krypton_softhsm_tests::pykmip::{App, message, reason};
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test};
use serde_json::{Value, json};

const ALICE: &str = "app-alice";
const BOB: &str = "app-bob";

const TESTS: [(&str, Test); 4] = [
    (
        "sealing_fails_closed_and_the_ceremony_reopens",
        sealing_fails_closed_and_the_ceremony_reopens,
    ),
    (
        "unlink_is_the_kill_switch_and_relink_restores",
        unlink_is_the_kill_switch_and_relink_restores,
    ),
    (
        "a_deleted_l1_fails_closed_after_restart",
        a_deleted_l1_fails_closed_after_restart,
    ),
    (
        "rotation_keeps_older_keys_readable",
        rotation_keeps_older_keys_readable,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

/// Asserts that Create and Get of `uid` both fail with `expected` reason and a message that
/// contains `why`, and that no key bytes (`key`) come back.
fn assert_create_and_get_refused(app: &App, uid: &str, key: &str, expected: &str, why: &str) {
    let results = app.run(&json!([
        {"op": "create", "name": "refused"},
        {"op": "get", "uid": uid},
    ]));
    for result in &results {
        assert_eq!(reason(result), expected, "{result}");
        assert!(message(result).contains(why), "{result}");
        assert!(!result.to_string().contains(key), "{result}");
    }
}

fn wait_for_tenant(stack: &Stack, state: &str) {
    suite::wait_for_tenant(stack, state, REOPEN_LIMIT);
}

fn sealing_fails_closed_and_the_ceremony_reopens(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("before-the-seal");
    let key = alice.get(&uid);
    let ctl = stack.core().ctl();

    let refused_while_sealed = || {
        assert_create_and_get_refused(
            &alice,
            &uid,
            &key,
            "GENERAL_FAILURE",
            "krypton-core is sealed",
        )
    };
    ctl.seal().unwrap();
    refused_while_sealed();
    // Gateway-local operations go on: Activate is a vault update.
    let results = alice.run(&json!([{"op": "activate", "uid": uid}]));
    assert_eq!(results[0], json!({"ok": uid}));

    // 2 of 3: one share is not enough...
    let shares = stack.share_files();
    assert_eq!(shares.len(), 3);
    ctl.unseal(&shares[2]).unwrap();
    refused_while_sealed();
    // ...two are, and the tenant's L2 is re-opened through the HSM.
    ctl.unseal(&shares[0]).unwrap();
    wait_for_tenant(&stack, "active");
    assert_eq!(alice.get(&uid), key);
    let uid = alice.create("after-the-ceremony");
    assert_eq!(alice.get(&uid).len(), 64);
}

fn unlink_is_the_kill_switch_and_relink_restores(fixture: &Fixture) {
    let stack = fixture.stack();
    let (alice, bob) = (App::of(&stack, ALICE), App::of(&stack, BOB));
    let uid = alice.create("behind-the-kill-switch");
    let key = alice.get(&uid);
    let bobs = bob.create("bobs-key");
    let bobs_key = bob.get(&bobs);
    let ctl = stack.core().ctl();
    let tenant = &stack.config().tenant;

    ctl.unlink_tenant(tenant).unwrap();
    assert_eq!(
        ctl.tenant_state(tenant).unwrap().as_deref(),
        Some("unlinked")
    );
    // At once, for every identity of the tenant: nothing wrapped under its L3 opens.
    let why = format!("tenant {tenant} is unavailable");
    assert_create_and_get_refused(&alice, &uid, &key, "PERMISSION_DENIED", &why);
    assert_create_and_get_refused(&bob, &bobs, &bobs_key, "PERMISSION_DENIED", &why);
    // Locate searches the core's registry too, whose objects fall with the tenant: refused.
    let results = alice.run(&json!([{"op": "locate", "name": "refused"}]));
    assert_eq!(reason(&results[0]), "PERMISSION_DENIED", "{}", results[0]);

    // Relinking to the same L1 re-opens the tenant's L2 from its wrapped copy: the keys are back.
    ctl.link_tenant(tenant, &fixture.hsm().l1_label).unwrap();
    wait_for_tenant(&stack, "active");
    assert_eq!(alice.get(&uid), key);
    assert_eq!(bob.get(&bobs), bobs_key);
    // The refused Create stored nothing.
    let results = alice.run(&json!([{"op": "locate", "name": "refused"}]));
    assert_eq!(results[0], json!({"ok": []}));
}

fn a_deleted_l1_fails_closed_after_restart(fixture: &Fixture) {
    const L1: &str = "deleted-by-the-customer";
    let mut stack = fixture.stack_with(fixture.new_l1(L1));
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("under-a-doomed-l1");
    let key = alice.get(&uid);

    // The customer revokes Krypton's access at the HSM. The L2 stays open in the core's memory
    // until it is sealed or restarted: that is when the HSM's answer counts.
    fixture.delete_l1(L1);
    stack.restart_core().unwrap();
    wait_for_tenant(&stack, "unavailable");
    let why = format!("tenant {} is unavailable", stack.config().tenant);
    assert_create_and_get_refused(&alice, &uid, &key, "PERMISSION_DENIED", &why);
    // Relinking cannot bring the tenant back while its L1 is gone; the core says the HSM refused.
    let error = stack
        .core()
        .ctl()
        .link_tenant(&stack.config().tenant, L1)
        .unwrap_err();
    assert!(
        matches!(&error, krypton_dev::Error::Ctl { reason, .. } if reason == "hsm"),
        "{error:?}"
    );
}

fn rotation_keeps_older_keys_readable(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let config = stack.config().clone();
    let before = alice.create("wrapped-under-version-1");
    let before_key = alice.get(&before);

    let version = stack
        .core()
        .ctl()
        .rotate_service(&config.tenant, &config.service)
        .unwrap();
    assert_eq!(version, 2);
    let after = alice.create("wrapped-under-version-2");
    let after_key = alice.get(&after);
    assert_eq!(alice.get(&before), before_key);

    // Both versions come back from the store after a restart and the ceremony.
    stack.restart_core().unwrap();
    wait_for_tenant(&stack, "active");
    let results = alice.run(&json!([
        {"op": "get", "uid": before},
        {"op": "get", "uid": after},
    ]));
    let values: Vec<&Value> = results.iter().map(|r| &r["ok"]["value"]).collect();
    assert_eq!(values, [&json!(before_key), &json!(after_key)]);
}
