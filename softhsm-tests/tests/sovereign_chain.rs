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
use krypton_softhsm_tests::pykmip::{App, message, ok, reason};
use krypton_softhsm_tests::suite::{self, Fixture, Test};
use serde_json::{Value, json};

const ALICE: &str = "app-alice";
/// How long the core may take to re-open a tenant's L2 through the HSM after a link.
const REOPEN_LIMIT: Duration = Duration::from_secs(30);

const TESTS: [(&str, Test); 1] = [(
    "registered_objects_fall_with_their_tenant",
    registered_objects_fall_with_their_tenant,
)];

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
    let tenant = &stack.config().tenant;
    let deadline = Instant::now() + REOPEN_LIMIT;
    loop {
        let now = stack.core().ctl().tenant_state(tenant).unwrap();
        if now.as_deref() == Some(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tenant {tenant} is {now:?}, not {state}, after {REOPEN_LIMIT:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
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
