//! The promise customers buy, on the real binaries (krypton-dev's `Stack`: SoftHSM2 L1, core,
//! gateway, mutual TLS) with PyKMIP as the application: every object Krypton keeps for a tenant
//! falls with the tenant — unlinked, destroyed, or its L1 gone from the HSM.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use krypton_dev::Stack;
use krypton_dev::config::Liveness;
use krypton_softhsm_tests::pykmip::{App, message, ok, reason};
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test, stalling_hsm};
use serde_json::{Value, json};

const ALICE: &str = "app-alice";

/// The probe interval the liveness tests give the core, and the longest they wait for a
/// verdict (a bound against a hang, not a speed assertion: the time is measured by the
/// benchmark in docs/benchmarks.md).
const PROBE_INTERVAL_SECS: u64 = 1;
const FAIL_CLOSED_LIMIT: Duration = Duration::from_secs(60);

const TESTS: [(&str, Test); 4] = [
    (
        "registered_objects_fall_with_their_tenant",
        registered_objects_fall_with_their_tenant,
    ),
    (
        "an_l1_deleted_while_serving_fails_the_tenant_closed_without_a_restart",
        an_l1_deleted_while_serving_fails_the_tenant_closed_without_a_restart,
    ),
    (
        "an_unreachable_hsm_fails_the_tenant_closed_after_the_grace",
        an_unreachable_hsm_fails_the_tenant_closed_after_the_grace,
    ),
    (
        "an_unlink_during_the_reopen_after_an_unseal_stands",
        an_unlink_during_the_reopen_after_an_unseal_stands,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

/// One of each object type the core's registry keeps, registered by `app`: (uid, hex value).
fn register_one_of_each(app: &App) -> Vec<(String, String)> {
    let values = [
        ("register_secret", "5ec2e7da7a0001"),
        ("register_key", &"4b".repeat(32)[..]),
        ("register_opaque", "0bad0f00d5"),
    ];
    let commands: Vec<Value> = values
        .iter()
        .map(|(op, value)| json!({"op": op, "value": value}))
        .collect();
    let results = app.run(&Value::Array(commands));
    results
        .iter()
        .zip(values)
        .map(|(result, (_, value))| (ok(result).as_str().unwrap().to_owned(), value.to_owned()))
        .collect()
}

/// Gets every object of `objects` and returns each result.
fn get_all(app: &App, objects: &[(String, String)]) -> Vec<Value> {
    let commands: Vec<Value> = objects
        .iter()
        .map(|(uid, _)| json!({"op": "get", "uid": uid}))
        .collect();
    app.run(&Value::Array(commands))
}

fn assert_readable(app: &App, objects: &[(String, String)]) {
    for (result, (_, value)) in get_all(app, objects).iter().zip(objects) {
        assert_eq!(ok(result)["value"], json!(value), "{result}");
    }
}

/// Every Get fails with `expected`, its message containing `why`, and no value comes back.
fn assert_refused(app: &App, objects: &[(String, String)], expected: &str, why: &str) {
    for (result, (_, value)) in get_all(app, objects).iter().zip(objects) {
        assert_eq!(reason(result), expected, "{result}");
        assert!(message(result).contains(why), "{result}");
        assert!(!result.to_string().contains(value.as_str()), "{result}");
    }
}

fn wait_for_tenant(stack: &Stack, state: &str) {
    suite::wait_for_tenant(stack, state, REOPEN_LIMIT);
}

fn registered_objects_fall_with_their_tenant(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let objects = register_one_of_each(&alice);
    assert_readable(&alice, &objects);
    let ctl = stack.core().ctl();
    let tenant = &stack.config().tenant;

    // The kill switch: the registry's objects are refused like the gateway's keys.
    ctl.unlink_tenant(tenant).unwrap();
    let why = format!("tenant {tenant} is unavailable");
    assert_refused(&alice, &objects, "PERMISSION_DENIED", &why);
    // And nothing new is registered for an unlinked tenant.
    let results = alice.run(&json!([{"op": "register_secret", "value": "00"}]));
    assert_eq!(reason(&results[0]), "PERMISSION_DENIED", "{}", results[0]);

    // Relinked to the same L1, the same L2 opens them again.
    ctl.link_tenant(tenant, &fixture.hsm().l1_label).unwrap();
    wait_for_tenant(&stack, "active");
    assert_readable(&alice, &objects);

    // Destroyed: the objects are deleted, and a new link (a new L2) finds none of them.
    ctl.destroy_tenant(tenant).unwrap();
    assert_eq!(ctl.tenant_state(tenant).unwrap(), None);
    assert_refused(
        &alice,
        &objects,
        "PERMISSION_DENIED",
        &format!("tenant {tenant}"),
    );
    ctl.link_tenant(tenant, &fixture.hsm().l1_label).unwrap();
    ctl.create_service(tenant, &stack.config().service).unwrap();
    assert_refused(&alice, &objects, "ITEM_NOT_FOUND", "");
}

/// A key created by `app` and a secret it registered, with their values, for the checks of a
/// tenant that fails closed: (created uid, its key, registered objects).
fn a_key_and_a_secret(app: &App) -> (String, String, Vec<(String, String)>) {
    let uid = app.create("under-watch");
    let key = app.get(&uid);
    let results = app.run(&json!([{"op": "register_secret", "value": "5ec2e7"}]));
    let secret = vec![(
        ok(&results[0]).as_str().unwrap().to_owned(),
        "5ec2e7".to_owned(),
    )];
    (uid, key, secret)
}

/// Create, Get and a registry Get all refused for an unavailable tenant, no value returned.
fn assert_everything_refused(
    app: &App,
    tenant: &str,
    uid: &str,
    key: &str,
    secret: &[(String, String)],
) {
    let why = format!("tenant {tenant} is unavailable");
    let results = app.run(&json!([
        {"op": "create", "name": "refused"},
        {"op": "get", "uid": uid},
    ]));
    for result in &results {
        assert_eq!(reason(result), "PERMISSION_DENIED", "{result}");
        assert!(message(result).contains(&why), "{result}");
        assert!(!result.to_string().contains(key), "{result}");
    }
    assert_refused(app, secret, "PERMISSION_DENIED", &why);
}

fn an_l1_deleted_while_serving_fails_the_tenant_closed_without_a_restart(fixture: &Fixture) {
    const L1: &str = "deleted-while-serving";
    let mut hsm = fixture.new_l1(L1);
    hsm.liveness = Some(Liveness {
        interval_secs: PROBE_INTERVAL_SECS,
        grace_secs: 60,
    });
    let stack = fixture.stack_with(hsm);
    let alice = App::of(&stack, ALICE);
    let (uid, key, secret) = a_key_and_a_secret(&alice);
    let tenant = stack.config().tenant.clone();

    // The customer deletes the L1 in the HSM; the core is neither restarted nor sealed.
    fixture.delete_l1(L1);
    let deleted = Instant::now();
    suite::wait_for_tenant(&stack, "unavailable", FAIL_CLOSED_LIMIT);
    eprintln!(
        "L1 deleted -> tenant unavailable in {:?}",
        deleted.elapsed()
    );
    let reason = stack.core().ctl().tenant_reason(&tenant).unwrap().unwrap();
    assert!(reason.contains("the HSM refused the L1"), "{reason}");
    assert_eq!(
        stack.core().ctl().unavailable_tenants().unwrap(),
        [(tenant.clone(), reason)],
        "status names the tenant and why"
    );
    assert_everything_refused(&alice, &tenant, &uid, &key, &secret);
    // The decision is in the audit log, made by the core itself.
    let audit = stack.core().ctl().audit_tail(20).unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r["operation"] == "tenant-fail-closed" && r["caller"] == "krypton-core"),
        "{audit:?}"
    );
}

fn an_unreachable_hsm_fails_the_tenant_closed_after_the_grace(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let (stall, mut hsm) = stalling_hsm(fixture, &dir.path().join("pkcs11-spy.fifo"));
    hsm.liveness = Some(Liveness {
        interval_secs: PROBE_INTERVAL_SECS,
        grace_secs: 20,
    });
    let stack = fixture.stack_with(hsm.clone());
    let alice = App::of(&stack, ALICE);
    let (uid, key, secret) = a_key_and_a_secret(&alice);
    let tenant = stack.config().tenant.clone();

    // The HSM stops answering. Within the grace the tenant is served, and a hung HSM holds up
    // neither Get nor Create: the data path never waits for it.
    stall.stall().unwrap();
    let stalled = Instant::now();
    assert_eq!(alice.get(&uid), key);
    assert_eq!(alice.get(&alice.create("while-the-hsm-hangs")).len(), 64);
    assert_readable(&alice, &secret);
    // Past the grace, the tenant fails closed.
    suite::wait_for_tenant(&stack, "unavailable", FAIL_CLOSED_LIMIT);
    eprintln!(
        "HSM stalled -> tenant unavailable in {:?}",
        stalled.elapsed()
    );
    let reason = stack.core().ctl().tenant_reason(&tenant).unwrap().unwrap();
    assert!(reason.contains("the HSM was unreachable"), "{reason}");
    assert_everything_refused(&alice, &tenant, &uid, &key, &secret);

    // The HSM is back: a relink restores the tenant and everything it had.
    stall.release();
    stack
        .core()
        .ctl()
        .link_tenant(&tenant, &hsm.l1_label)
        .unwrap();
    wait_for_tenant(&stack, "active");
    assert_eq!(alice.get(&uid), key);
    assert_readable(&alice, &secret);
}

fn an_unlink_during_the_reopen_after_an_unseal_stands(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let (stall, mut hsm) = stalling_hsm(fixture, &dir.path().join("pkcs11-spy.fifo"));
    // The re-open must wait for the stalled HSM rather than time out, and no probe runs.
    hsm.call_timeout_ms = Some(60_000);
    hsm.liveness = Some(Liveness {
        interval_secs: 3600,
        grace_secs: 86_400,
    });
    let stack = fixture.stack_with(hsm);
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("through-the-race");
    let key = alice.get(&uid);
    let tenant = stack.config().tenant.clone();
    let ctl = stack.core().ctl();
    let shares = stack.share_files();
    ctl.seal().unwrap();

    // The unseal's re-open of the tenant's L2 hangs in the HSM...
    stall.stall().unwrap();
    thread::scope(|scope| {
        let unseal = scope.spawn(|| {
            ctl.unseal(&shares[0]).unwrap();
            ctl.unseal(&shares[1]).unwrap();
        });
        // (The core answers "sealed" until the second share is in.)
        let deadline = Instant::now() + REOPEN_LIMIT;
        while ctl.tenant_state(&tenant).ok().flatten().as_deref() != Some("opening") {
            assert!(
                Instant::now() < deadline,
                "the tenant never showed as opening"
            );
            thread::sleep(Duration::from_millis(50));
        }
        // ...the operator unlinks meanwhile (the kill switch waits for no HSM)...
        ctl.unlink_tenant(&tenant).unwrap();
        assert_eq!(
            ctl.tenant_state(&tenant).unwrap().as_deref(),
            Some("unlinked")
        );
        // ...and then the HSM answers: the late re-open does not bring the keys back.
        stall.release();
        unseal.join().unwrap();
    });
    assert_eq!(
        ctl.tenant_state(&tenant).unwrap().as_deref(),
        Some("unlinked")
    );
    let results = alice.run(&json!([{"op": "get", "uid": uid}]));
    assert_eq!(reason(&results[0]), "PERMISSION_DENIED", "{}", results[0]);
    assert!(!results[0].to_string().contains(&key));
}
