//! The L3 and L1 lifecycle on the real binaries (SoftHSM2 L1s, core, gateway, mutual TLS), with
//! PyKMIP and krypton-load as the applications:
//!
//! - service key versions rotated while applications work, every record re-wrapped by the
//!   gateway under the active version, the old versions retired (a saved blob under one is then
//!   refused), reinstated, destroyed;
//! - a kill -9 of the gateway and of the core in the middle of a re-wrap, and nothing lost;
//! - a tenant moved from one L1 to another in the same token, the old key deleted from the HSM
//!   afterwards, every key still readable, across a restart and a kill -9 during a move;
//! - a tenant's L2 rotated while applications create and get keys and register objects, the
//!   old L2 retired once the registry is re-sealed, across a restart and a kill -9 during a
//!   rotation;
//! - krypton-load's server-side cryptography workloads (the benchmarks' Encrypt, MAC and Sign)
//!   answered without a failure.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use krypton_dev::config::{Liveness, Rewrap};
use krypton_dev::ctl::Ctl;
use krypton_dev::{Error as DevError, Stack};
use krypton_gateway::{Record, RocksDbVault, Vault, WrappedKey};
use krypton_softhsm_tests::binaries::debug_binary;
use krypton_softhsm_tests::load::{krypton_load, rewrap_done_since, rewrapped};
use krypton_softhsm_tests::pykmip::{App, message, ok, reason};
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test, wait_for_tenant};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

const ALICE: &str = "app-alice";

/// The longest a re-wrap of the test's keys may take: a bound against a hang, not a speed
/// expectation (the rate is measured in docs/benchmarks.md).
const REWRAP_LIMIT: Duration = Duration::from_secs(300);

/// The keys re-wrapped from version 1 to version 3 under load.
const MANY_KEYS: usize = 100_000;

const TESTS: [(&str, Test); 5] = [
    (
        "krypton_load_drives_the_server_side_cryptography_workloads",
        krypton_load_drives_the_server_side_cryptography_workloads,
    ),
    (
        "old_versions_are_rewrapped_under_load_then_retired_and_a_saved_blob_is_refused",
        old_versions_are_rewrapped_under_load_then_retired_and_a_saved_blob_is_refused,
    ),
    (
        "a_rewrap_survives_kill_9_of_the_gateway_and_of_the_core",
        a_rewrap_survives_kill_9_of_the_gateway_and_of_the_core,
    ),
    (
        "a_tenant_moves_to_a_new_l1_and_the_old_one_is_deleted",
        a_tenant_moves_to_a_new_l1_and_the_old_one_is_deleted,
    ),
    (
        "a_tenant_l2_rotates_under_load_and_the_old_one_is_retired",
        a_tenant_l2_rotates_under_load_and_the_old_one_is_retired,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any thread starts.
    unsafe { suite::run(&TESTS) }
}

fn old_versions_are_rewrapped_under_load_then_retired_and_a_saved_blob_is_refused(
    fixture: &Fixture,
) {
    // Paced (the product's default is 1,000/s) but fast enough for a test of 100,000 keys.
    let mut stack = fixture.stack_configured(|config| config.rewrap = Some(paced(5_000)));
    let (tenant, service) = names(&stack);
    let ctl = stack.core().ctl().clone();
    let alice = App::of(&stack, ALICE);
    let (saved_uid, saved_value) = alice_key(&alice, "saved");
    let (other_uid, other_value) = alice_key(&alice, "other");
    create_keys(&stack, MANY_KEYS);

    // A copy of a version 1 blob, as a backup of the vault would keep it.
    stack.stop_gateway().unwrap();
    let before = vault_records(&stack);
    assert!(before.len() >= MANY_KEYS, "{} records", before.len());
    assert!(before.values().all(|record| version(record) == Some(1)));
    let saved_blob = before[&(ALICE.to_owned(), saved_uid.clone())]
        .wrapped
        .clone()
        .unwrap();
    let restarted = SystemTime::now();
    stack.restart_gateway().unwrap();
    // Its first pass finds nothing to do: everything is under the active version.
    wait_for_pass_after(&stack, restarted);

    assert_eq!(ctl.rotate_service(&tenant, &service).unwrap(), 2);
    assert_eq!(ctl.rotate_service(&tenant, &service).unwrap(), 3);
    let rotated = SystemTime::now();
    assert_eq!(
        ctl.service_versions(&tenant, &service).unwrap(),
        states(&[(1, "decrypt-only"), (2, "decrypt-only"), (3, "active")])
    );
    // The first Create under version 3 tells the gateway of the rotation; the re-wrap runs
    // while applications create and get keys, and none of them fails.
    let during = thread::scope(|scope| {
        let load = scope.spawn(|| load(&stack, &["create-get"], 2, Duration::from_secs(4)));
        wait_for_pass_after(&stack, rotated);
        load.join().unwrap()
    });
    assert_eq!(during["failures"], 0, "{during}");
    assert!(during["operations"].as_u64().unwrap() > 0, "{during}");
    // The core has the gateway's word for it too.
    let reported = wait_for_report_after(&ctl, &tenant, &service, rotated);
    assert!(reported.is_empty(), "left behind: {reported:?}");

    stack.stop_gateway().unwrap();
    let after = vault_records(&stack);
    for (place, record) in &before {
        assert_eq!(
            after.get(place).and_then(version),
            Some(3),
            "{place:?} re-wrapped under the active version"
        );
        assert_eq!(after[place].metadata, record.metadata, "{place:?}");
    }
    stack.restart_gateway().unwrap();
    assert_eq!(alice.get(&saved_uid), saved_value);

    // Versions 1 and 2 retire; the active one and a destroy before retiring are refused.
    ctl.change_version(&tenant, &service, 1, "retire").unwrap();
    ctl.change_version(&tenant, &service, 2, "retire").unwrap();
    for (version, change) in [(3, "retire"), (3, "destroy-version")] {
        let refused = ctl.change_version(&tenant, &service, version, change);
        assert!(
            matches!(&refused, Err(DevError::Ctl { reason, .. }) if reason == "version-state"),
            "{change} v{version}: {refused:?}"
        );
    }
    assert_eq!(
        ctl.service_versions(&tenant, &service).unwrap(),
        states(&[(1, "retired"), (2, "retired"), (3, "active")])
    );
    assert_eq!(alice.get(&other_uid), other_value);

    // The saved version 1 blob, put back into its record, is refused: its version is retired.
    // (Wrong Key Lifecycle State, which KMIP 1.2 — PyKMIP's — knows as Permission Denied.)
    let put_back = SystemTime::now();
    put_blob(&mut stack, &saved_uid, saved_blob);
    let results = alice.run(&json!([{"op": "get", "uid": saved_uid}]));
    assert_eq!(reason(&results[0]), "PERMISSION_DENIED", "{}", results[0]);
    assert!(message(&results[0]).contains("retired"), "{}", results[0]);
    assert!(!results[0].to_string().contains(&saved_value));
    // The restarted gateway's pass could not re-wrap it, and says so.
    let reported = wait_for_report_after(&ctl, &tenant, &service, put_back);
    assert_eq!(reported, BTreeMap::from([(1, 1)]));

    // Reinstated, it opens again (it is authentic); destroyed, never again, across a restart.
    ctl.change_version(&tenant, &service, 1, "reinstate")
        .unwrap();
    assert_eq!(alice.get(&saved_uid), saved_value);
    ctl.change_version(&tenant, &service, 1, "retire").unwrap();
    let versions = ctl
        .change_version(&tenant, &service, 1, "destroy-version")
        .unwrap();
    assert_eq!(versions[0], (1, "destroyed".to_owned()));
    stack.restart_core().unwrap();
    assert_eq!(
        ctl.service_versions(&tenant, &service).unwrap(),
        states(&[(1, "destroyed"), (2, "retired"), (3, "active")])
    );
    let results =
        alice.run(&json!([{"op": "get", "uid": saved_uid}, {"op": "get", "uid": other_uid}]));
    assert_eq!(reason(&results[0]), "PERMISSION_DENIED", "{}", results[0]);
    assert!(message(&results[0]).contains("destroyed"), "{}", results[0]);
    assert_eq!(ok(&results[1])["value"], other_value.as_str());
    let reinstated = ctl.change_version(&tenant, &service, 1, "reinstate");
    assert!(
        matches!(&reinstated, Err(DevError::Ctl { reason, .. }) if reason == "version-state"),
        "{reinstated:?}"
    );

    for operation in [
        "service-version-retire",
        "service-version-reinstate",
        "service-version-destroy",
    ] {
        let audited = ctl.audit_search(1, &[("--operation", operation)]).unwrap();
        assert!(!audited.is_empty(), "{operation}: {audited:?}");
    }
}

fn a_rewrap_survives_kill_9_of_the_gateway_and_of_the_core(fixture: &Fixture) {
    // Slow enough that each kill lands in the middle of a pass.
    let mut stack = fixture.stack_configured(|config| config.rewrap = Some(paced(300)));
    let (tenant, service) = names(&stack);
    let alice = App::of(&stack, ALICE);
    let created = load(&stack, &["create"], 2, Duration::from_secs(4));
    assert_eq!(created["failures"], 0, "{created}");
    stack.stop_gateway().unwrap();
    let before = vault_records(&stack);
    stack.restart_gateway().unwrap();
    let values = alice_values(&alice, &before);

    // Rotated, the re-wrap starts with the first Create; the gateway is killed once it has
    // re-wrapped a few records, and its next start finishes the work.
    stack
        .core()
        .ctl()
        .rotate_service(&tenant, &service)
        .unwrap();
    alice.create("after-rotation-1");
    wait_for_rewrapped(&stack, 1);
    kill_9(stack.gateway_pid());
    stack.restart_gateway().unwrap();
    // The core is killed while the restarted gateway's pass runs; the pass waits for it.
    wait_for_rewrapped(&stack, 1);
    kill_9(stack.core().pid());
    thread::sleep(Duration::from_millis(500));
    stack.restart_core().unwrap();

    stack
        .core()
        .ctl()
        .rotate_service(&tenant, &service)
        .unwrap();
    // Taken before the Create that starts the pass: a pass begun after the rotation, under
    // version 3, may be under way before the Create returns.
    let rotated = SystemTime::now();
    alice.create("after-rotation-2");
    wait_for_pass_after(&stack, rotated);
    stack.stop_gateway().unwrap();
    let after = vault_records(&stack);
    for place in before.keys() {
        assert_eq!(after.get(place).and_then(version), Some(3), "{place:?}");
    }
    stack.restart_gateway().unwrap();
    assert_eq!(
        alice_values(&alice, &before),
        values,
        "no key lost or changed"
    );
}

fn a_tenant_moves_to_a_new_l1_and_the_old_one_is_deleted(fixture: &Fixture) {
    let old_l1 = "lifecycle-move-old";
    let mut hsm = fixture.new_l1(old_l1);
    hsm.liveness = Some(Liveness {
        interval_secs: 1,
        grace_secs: 60,
    });
    let mut stack = fixture.stack_with(hsm);
    let tenant = stack.config().tenant.clone();
    let ctl = stack.core().ctl().clone();
    let alice = App::of(&stack, ALICE);
    let (uid, value) = alice_key(&alice, "moving");

    // A second key in the same token; the tenant moves to it, and the customer deletes the
    // first. The liveness probe, which re-opens the L2 every second, finds nothing wrong.
    let new_l1 = "lifecycle-move-new";
    fixture.new_l1(new_l1);
    ctl.move_l1(&tenant, new_l1).unwrap();
    assert_eq!(ctl.tenant_l1(&tenant).unwrap().as_deref(), Some(new_l1));
    fixture.delete_l1(old_l1);
    thread::sleep(Duration::from_secs(3));
    assert_eq!(
        ctl.tenant_state(&tenant).unwrap().as_deref(),
        Some("active")
    );
    assert_eq!(alice.get(&uid), value);
    let created_after = alice.create("after-the-move");
    let audited = ctl
        .audit_search(1, &[("--operation", "tenant-move-l1")])
        .unwrap();
    assert_eq!(audited.len(), 1, "{audited:?}");
    // Moving back to the deleted key is refused by the HSM and changes nothing.
    assert!(ctl.move_l1(&tenant, old_l1).is_err());
    assert_eq!(ctl.tenant_l1(&tenant).unwrap().as_deref(), Some(new_l1));

    // After a restart the L2 re-opens under the new L1.
    stack.restart_core().unwrap();
    wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), value);

    // A kill -9 in the middle of a move leaves the tenant usable under one of the two keys.
    let third_l1 = "lifecycle-move-third";
    fixture.new_l1(third_l1);
    let mover = ctl.clone();
    let moving = thread::spawn(move || mover.move_l1(&tenant, third_l1));
    thread::sleep(Duration::from_millis(30));
    kill_9(stack.core().pid());
    let _ = moving.join().unwrap();
    stack.restart_core().unwrap();
    wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    let tenant = stack.config().tenant.clone();
    let on = ctl.tenant_l1(&tenant).unwrap().unwrap();
    assert!(on == new_l1 || on == third_l1, "on {on}");
    assert_eq!(alice.get(&uid), value);
    assert_eq!(alice.get(&created_after).len(), 64);
    ctl.move_l1(&tenant, third_l1).unwrap();
    assert_eq!(ctl.tenant_l1(&tenant).unwrap().as_deref(), Some(third_l1));
    assert_eq!(alice.get(&uid), value);

    // A kill -9 of the gateway during a move: the core finishes it, the next gateway serves.
    let fourth_l1 = "lifecycle-move-fourth";
    fixture.new_l1(fourth_l1);
    let moving = {
        let (mover, tenant) = (ctl.clone(), tenant.clone());
        thread::spawn(move || mover.move_l1(&tenant, fourth_l1))
    };
    kill_9(stack.gateway_pid());
    moving.join().unwrap().unwrap();
    stack.restart_gateway().unwrap();
    assert_eq!(ctl.tenant_l1(&tenant).unwrap().as_deref(), Some(fourth_l1));
    assert_eq!(alice.get(&uid), value);
    assert_eq!(alice.get(&created_after).len(), 64);
}

fn a_tenant_l2_rotates_under_load_and_the_old_one_is_retired(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let (tenant, _) = names(&stack);
    let ctl = stack.core().ctl().clone();
    let alice = App::of(&stack, ALICE);
    let (uid, value) = alice_key(&alice, "before-l2");
    // Enough registry objects (ten re-seal steps) that a kill as a rotation answers usually
    // lands in its re-seal.
    let mut objects = register_secrets(&alice, 0, 2400);
    assert_eq!(ctl.tenant_l2(&tenant).unwrap(), Some((1, Vec::new())));

    // Two rotations while one application creates and gets keys and another registers
    // objects: no request fails.
    let (during, registered) = thread::scope(|scope| {
        let load = scope.spawn(|| load(&stack, &["create-get"], 2, Duration::from_secs(4)));
        let registering = scope.spawn(|| register_secrets(&alice, 2400, 300));
        thread::sleep(Duration::from_millis(500));
        assert_eq!(ctl.rotate_l2(&tenant).unwrap(), 2);
        assert_eq!(ctl.rotate_l2(&tenant).unwrap(), 3);
        (load.join().unwrap(), registering.join().unwrap())
    });
    assert_eq!(during["failures"], 0, "{during}");
    assert!(during["operations"].as_u64().unwrap() > 0, "{during}");
    objects.extend(registered);
    wait_for_l2(&ctl, &tenant, 3);
    assert_registered(&alice, &objects);
    assert_eq!(alice.get(&uid), value);
    for operation in ["tenant-rotate-l2", "tenant-retire-l2"] {
        let audited = ctl.audit_search(1, &[("--operation", operation)]).unwrap();
        assert_eq!(audited.len(), 1, "{operation}: {audited:?}");
    }

    // After a restart the tenant opens under its third L2 alone.
    stack.restart_core().unwrap();
    wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(ctl.tenant_l2(&tenant).unwrap(), Some((3, Vec::new())));
    assert_eq!(alice.get(&uid), value);

    // A kill -9 during a rotation: the tenant opens under the old L2 or the new one (with the
    // old archived, its re-seal resumed and finished), and nothing is lost.
    let rotator = ctl.clone();
    let rotating = {
        let tenant = tenant.clone();
        thread::spawn(move || rotator.rotate_l2(&tenant))
    };
    thread::sleep(Duration::from_millis(40));
    kill_9(stack.core().pid());
    let _ = rotating.join().unwrap();
    stack.restart_core().unwrap();
    wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    let (version, _) = ctl.tenant_l2(&tenant).unwrap().unwrap();
    assert!(version == 3 || version == 4, "L2 v{version}");
    wait_for_l2(&ctl, &tenant, version);
    assert_registered(&alice, &objects);
    assert_eq!(alice.get(&uid), value);

    // A kill -9 as soon as a rotation answers, while its re-seal of the registry runs: the
    // next start opens the archived L2 too, resumes the re-seal and retires it.
    assert_eq!(ctl.rotate_l2(&tenant).unwrap(), version + 1);
    kill_9(stack.core().pid());
    stack.restart_core().unwrap();
    wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    wait_for_l2(&ctl, &tenant, version + 1);
    assert_registered(&alice, &objects);
    assert_eq!(alice.get(&uid), value);
    let after = load(&stack, &["create-get"], 2, Duration::from_secs(1));
    assert_eq!(after["failures"], 0, "{after}");

    // A kill -9 of the gateway during a rotation: the core finishes it and its re-seal, the
    // next gateway serves every key and object.
    let rotating = {
        let (rotator, tenant) = (ctl.clone(), tenant.clone());
        thread::spawn(move || rotator.rotate_l2(&tenant))
    };
    kill_9(stack.gateway_pid());
    assert_eq!(rotating.join().unwrap().unwrap(), version + 2);
    stack.restart_gateway().unwrap();
    wait_for_l2(&ctl, &tenant, version + 2);
    assert_registered(&alice, &objects);
    assert_eq!(alice.get(&uid), value);
}

/// A re-wrap at `records_per_second`, rescanning only once an hour.
fn paced(records_per_second: u32) -> Rewrap {
    Rewrap {
        records_per_second,
        rescan_interval_secs: 3600,
    }
}

fn names(stack: &Stack) -> (String, String) {
    (
        stack.config().tenant.clone(),
        stack.config().service.clone(),
    )
}

fn states(expected: &[(u64, &str)]) -> Vec<(u64, String)> {
    expected
        .iter()
        .map(|(version, state)| (*version, (*state).to_owned()))
        .collect()
}

/// `count` secrets registered by `app` in the core's registry, numbered from `first`:
/// (uid, hex value).
fn register_secrets(app: &App, first: usize, count: usize) -> Vec<(String, String)> {
    let values: Vec<String> = (first..first + count)
        .map(|n| format!("{n:016x}"))
        .collect();
    let mut registered = Vec::with_capacity(count);
    for chunk in values.chunks(300) {
        let commands: Vec<Value> = chunk
            .iter()
            .map(|value| json!({"op": "register_secret", "value": value}))
            .collect();
        let results = app.run(&Value::Array(commands));
        for (result, value) in results.iter().zip(chunk) {
            registered.push((ok(result).as_str().unwrap().to_owned(), value.clone()));
        }
    }
    registered
}

/// Every object of `objects` reads back with its value.
fn assert_registered(app: &App, objects: &[(String, String)]) {
    for chunk in objects.chunks(300) {
        let gets: Vec<Value> = chunk
            .iter()
            .map(|(uid, _)| json!({"op": "get", "uid": uid}))
            .collect();
        for (result, (uid, value)) in app.run(&Value::Array(gets)).iter().zip(chunk) {
            assert_eq!(ok(result)["value"], json!(value), "{uid}: {result}");
        }
    }
}

/// Waits until `tenant` is on L2 `version` with no archived version left.
fn wait_for_l2(ctl: &Ctl, tenant: &str, version: u64) {
    wait_until(&format!("L2 v{version} alone"), || {
        ctl.tenant_l2(tenant).unwrap() == Some((version, Vec::new()))
    });
}

/// Alice creates and activates a key named `name`: its id and hex value.
fn alice_key(alice: &App, name: &str) -> (String, String) {
    let uid = alice.create(name);
    let results = alice.run(&json!([{"op": "activate", "uid": uid}, {"op": "get", "uid": uid}]));
    ok(&results[0]);
    let value = ok(&results[1])["value"].as_str().unwrap().to_owned();
    (uid, value)
}

/// The hex value of each of alice's keys among `records`, read through the gateway by PyKMIP,
/// a few hundred to a run (one connection each).
fn alice_values(alice: &App, records: &BTreeMap<(String, String), Record>) -> Vec<String> {
    let gets: Vec<Value> = records
        .keys()
        .filter(|(owner, _)| owner == ALICE)
        .map(|(_, uid)| json!({"op": "get", "uid": uid}))
        .collect();
    gets.chunks(300)
        .flat_map(|chunk| alice.run(&Value::Array(chunk.to_vec())))
        .map(|result| ok(&result)["value"].as_str().unwrap().to_owned())
        .collect()
}

fn krypton_load_drives_the_server_side_cryptography_workloads(fixture: &Fixture) {
    let stack = fixture.stack();
    for workload in ["encrypt", "mac", "sign"] {
        for size in ["1", "64", "4096", "65536"] {
            let run = load(
                &stack,
                &[workload, "--data-size", size],
                2,
                Duration::from_millis(300),
            );
            assert_eq!(run["failures"], 0, "{workload} of {size} bytes: {run}");
            assert!(run["operations"].as_u64().unwrap() > 0, "{workload}: {run}");
            assert_eq!(run["data_bytes"].to_string(), size, "{run}");
        }
    }
}

/// At least `count` keys created by krypton-load as app-alice, none failing.
fn create_keys(stack: &Stack, count: usize) {
    let mut created = 0;
    for _ in 0..100 {
        let run = load(stack, &["create"], 8, Duration::from_secs(5));
        assert_eq!(run["failures"], 0, "{run}");
        created += usize::try_from(run["operations"].as_u64().unwrap()).unwrap();
        if created >= count {
            return;
        }
    }
    panic!("only {created} keys created in 100 runs");
}

/// krypton-load as app-alice against the stack's gateway: `workload` on `connections`
/// connections for `duration`; its JSON report.
fn load(stack: &Stack, workload: &[&str], connections: u16, duration: Duration) -> Value {
    let binary = debug_binary("krypton-load").unwrap();
    krypton_load(&binary, stack, ALICE, workload, connections, duration)
}

/// Every record of the stopped gateway's vault, by owner and id.
fn vault_records(stack: &Stack) -> BTreeMap<(String, String), Record> {
    with_vault(stack, async |vault| {
        let mut records = BTreeMap::new();
        let mut from = None;
        loop {
            let page = vault.scan(from, 1000).await.unwrap();
            for record in page.records {
                records.insert((record.owner.clone(), record.id.clone()), record);
            }
            match page.next {
                Some(next) => from = Some(next),
                None => return records,
            }
        }
    })
}

/// Puts `blob` into alice's record `uid`, with the gateway stopped meanwhile.
fn put_blob(stack: &mut Stack, uid: &str, blob: WrappedKey) {
    stack.stop_gateway().unwrap();
    with_vault(stack, async |vault| {
        let mut record = vault.get(ALICE, uid).await.unwrap().unwrap();
        record.wrapped = Some(blob);
        vault.update(record).await.unwrap();
    });
    stack.restart_gateway().unwrap();
}

fn with_vault<T>(stack: &Stack, work: impl AsyncFnOnce(&RocksDbVault) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let vault = RocksDbVault::open(&stack.gateway_vault()).await.unwrap();
        work(&vault).await
    })
}

/// The L3 version a record's blob names.
fn version(record: &Record) -> Option<u32> {
    record.wrapped.as_ref()?.l3_version()
}

/// Waits until the running gateway finished a re-wrap pass that began after `time`, and left
/// no record behind.
fn wait_for_pass_after(stack: &Stack, time: SystemTime) {
    wait_until("a complete re-wrap pass", || rewrap_done_since(stack, time));
}

/// Waits until the core holds the stack's gateway's report of a re-wrap pass over `service`
/// that began after `time`; what it left under each older version.
fn wait_for_report_after(
    ctl: &Ctl,
    tenant: &str,
    service: &str,
    time: SystemTime,
) -> BTreeMap<u64, u64> {
    let after = i64::try_from(time.duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap();
    let mut behind = None;
    wait_until("the gateway's re-wrap report", || {
        let status = ctl.rewrap_status(tenant, service).unwrap();
        assert!(status.len() <= 1, "one gateway: {status:?}");
        behind = status
            .into_values()
            .find(|report| report.pass_started_unix_secs >= after)
            .map(|report| report.behind);
        behind.is_some()
    });
    behind.unwrap()
}

/// Waits until the running gateway re-wrapped at least `count` records.
fn wait_for_rewrapped(stack: &Stack, count: usize) {
    wait_until(&format!("{count} records re-wrapped"), || {
        rewrapped(stack) >= count as f64
    });
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + REWRAP_LIMIT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "not done after {REWRAP_LIMIT:?}: {what}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn kill_9(pid: Option<u32>) {
    let pid = i32::try_from(pid.expect("the daemon runs")).unwrap();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
}
