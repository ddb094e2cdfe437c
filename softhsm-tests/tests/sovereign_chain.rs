//! The promise customers buy, on the real binaries (krypton-dev's `Stack`: SoftHSM2 L1, core,
//! gateway, mutual TLS) with PyKMIP as the application: every object Krypton keeps for a tenant
//! falls with the tenant — unlinked, destroyed, or its L1 gone from the HSM — and a data key
//! opens only in its place: a vault record copied to another owner or key, or pointed at
//! another service key, is refused, while records written before that binding keep working and
//! are bound on their first Get.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use krypton_dev::Stack;
use krypton_dev::config::Liveness;
use krypton_gateway::{RocksDbVault, Vault, WrappedKey};
use krypton_softhsm_tests::pykmip::{App, message, ok, reason};
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test, stalling_hsm};
use serde_json::{Value, json};

// The recovery of keys from the store and the HSM, shared with krypton-core's own suites; this
// suite uses part of it.
#[allow(dead_code)]
#[path = "../../appliance/tests/common/secrets.rs"]
mod secrets;

const ALICE: &str = "app-alice";
const BOB: &str = "app-bob";

/// The probe interval the liveness tests give the core, and the longest they wait for a
/// verdict (a bound against a hang, not a speed assertion: the time is measured by the
/// benchmark in docs/benchmarks.md).
const PROBE_INTERVAL_SECS: u64 = 1;
const FAIL_CLOSED_LIMIT: Duration = Duration::from_secs(60);

const TESTS: [(&str, Test); 6] = [
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
    (
        "a_vault_record_moved_or_copied_is_refused",
        a_vault_record_moved_or_copied_is_refused,
    ),
    (
        "a_format_1_record_still_opens_and_is_bound_on_its_first_get",
        a_format_1_record_still_opens_and_is_bound_on_its_first_get,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

/// A symmetric key (which the gateway keeps) and one of each object type the core's registry
/// keeps, registered by `app`: (uid, hex value), the key first.
fn register_one_of_each(app: &App) -> Vec<(String, String)> {
    let values = [
        ("register_key", &"4b".repeat(32)[..]),
        ("register_secret", "5ec2e7da7a0001"),
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
    let (key, registry) = objects.split_at(1);
    assert_refused(&alice, registry, "ITEM_NOT_FOUND", "");
    // The key's record is still in the gateway's vault, but no key of the new L2 opens it.
    assert_refused(&alice, key, "CRYPTOGRAPHIC_FAILURE", "does not unwrap");
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
    let audit = stack
        .core()
        .ctl()
        .audit_search(1, &[("--operation", "tenant-fail-closed")])
        .unwrap();
    assert!(
        audit.iter().any(|r| r["caller"] == "krypton-core"),
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

/// Runs `edit` on the stopped gateway's vault, as anyone with access to its storage could.
fn with_vault<T>(stack: &Stack, edit: impl AsyncFnOnce(&RocksDbVault) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let vault = RocksDbVault::open(&stack.gateway_vault()).await.unwrap();
        edit(&vault).await
    })
}

/// The key of `owner`'s record `id` in the RocksDB vault: the owner's length (4 bytes,
/// big-endian) and bytes, then the id.
fn vault_key(owner: &str, id: &str) -> Vec<u8> {
    let length = u32::try_from(owner.len()).unwrap().to_be_bytes();
    [&length[..], owner.as_bytes(), id.as_bytes()].concat()
}

/// Alice creates and activates a key named `name`: its id and hex value.
fn alice_key(alice: &App, name: &str) -> (String, String) {
    let uid = alice.create(name);
    let results = alice.run(&json!([{"op": "activate", "uid": uid}, {"op": "get", "uid": uid}]));
    ok(&results[0]);
    let value = ok(&results[1])["value"].as_str().unwrap().to_owned();
    (uid, value)
}

/// `app`'s Get of `uid` fails with `expected`, says `why`, and carries no key.
fn assert_get_refused(app: &App, uid: &str, expected: &str, why: &str, value: &str) {
    let results = app.run(&json!([{"op": "get", "uid": uid}]));
    assert_eq!(reason(&results[0]), expected, "{}", results[0]);
    assert!(message(&results[0]).contains(why), "{}", results[0]);
    assert!(!results[0].to_string().contains(value), "{}", results[0]);
}

fn a_vault_record_moved_or_copied_is_refused(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let (tenant, service) = (
        stack.config().tenant.clone(),
        stack.config().service.clone(),
    );
    let other = format!("{service}-other");
    stack.core().ctl().create_service(&tenant, &other).unwrap();
    let alice = App::of(&stack, ALICE);
    let (copied, copied_value) = alice_key(&alice, "copied");
    let (repointed, repointed_value) = alice_key(&alice, "repointed");

    stack.stop_gateway().unwrap();
    with_vault(&stack, async |vault| {
        let record = vault.get(ALICE, &copied).await.unwrap().unwrap();
        // Copied to Bob under the same id, the record rewritten to name Bob.
        let mut to_bob = record.clone();
        to_bob.owner = BOB.to_owned();
        vault.create(to_bob).await.unwrap();
        // Moved to another id of Alice's, the record rewritten to name it.
        let mut moved = record;
        moved.id = "moved".to_owned();
        vault.create(moved).await.unwrap();
        // Pointed at the tenant's other service key.
        let mut pointed = vault.get(ALICE, &repointed).await.unwrap().unwrap();
        pointed.l3.service.clone_from(&other);
        vault.update(pointed).await.unwrap();
    });
    // And copied byte for byte, the record still naming Alice, under Bob's key.
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            stack.gateway_vault(),
            ["default", "shreds"],
        )
        .unwrap();
        let stored = db.get(vault_key(ALICE, &copied)).unwrap().unwrap();
        db.put(vault_key(BOB, "raw-copy"), stored).unwrap();
    }
    stack.restart_gateway().unwrap();

    let bob = App::of(&stack, BOB);
    let altered = "altered, moved or copied";
    assert_get_refused(
        &bob,
        &copied,
        "CRYPTOGRAPHIC_FAILURE",
        altered,
        &copied_value,
    );
    assert_get_refused(
        &alice,
        "moved",
        "CRYPTOGRAPHIC_FAILURE",
        altered,
        &copied_value,
    );
    assert_get_refused(
        &alice,
        &repointed,
        "CRYPTOGRAPHIC_FAILURE",
        altered,
        &repointed_value,
    );
    assert_get_refused(
        &bob,
        "raw-copy",
        "GENERAL_FAILURE",
        "moved or copied",
        &copied_value,
    );
    // The original still opens in its place.
    assert_eq!(alice.get(&copied), copied_value);
}

fn a_format_1_record_still_opens_and_is_bound_on_its_first_get(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let (tenant, service) = (
        stack.config().tenant.clone(),
        stack.config().service.clone(),
    );
    let alice = App::of(&stack, ALICE);
    let (uid, _) = alice_key(&alice, "legacy");

    // The service's L3, recovered as only someone with the shares AND the HSM could, wraps a
    // known key for the record the old way.
    stack.stop_core().unwrap();
    let l3 = {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            stack.core_store(),
            krypton_core::Column::ALL.map(krypton_core::Column::name),
        )
        .unwrap();
        let shares: Vec<String> = stack
            .share_files()
            .iter()
            .map(|file| std::fs::read_to_string(file).unwrap())
            .collect();
        let record_key = secrets::record_key(&secrets::master_key(&db, &shares[..2]));
        let l2 = secrets::tenant_l2(
            &db,
            &record_key,
            &fixture.token(),
            &tenant,
            &fixture.hsm().l1_label,
        );
        secrets::service_l3s(&db, &record_key, &l2, &tenant, &service).remove(0)
    };
    stack.restart_core().unwrap();
    let legacy_value = "6b".repeat(32);
    let legacy = secrets::wrap_l4_v1(&l3, 1, &uid, &[0x6b; 32]);
    stack.stop_gateway().unwrap();
    with_vault(&stack, async |vault| {
        let mut record = vault.get(ALICE, &uid).await.unwrap().unwrap();
        record.wrapped = Some(WrappedKey::new(legacy));
        vault.update(record).await.unwrap();
    });
    stack.restart_gateway().unwrap();

    // Format 1 binds the identifier only: it opens, and the gateway binds it on the way.
    assert_eq!(alice.get(&uid), legacy_value);
    stack.stop_gateway().unwrap();
    let record = with_vault(&stack, async |vault| {
        vault.get(ALICE, &uid).await.unwrap().unwrap()
    });
    assert_eq!(
        record.revision, 4,
        "created, activated, given the old blob, re-wrapped"
    );
    let blob = record.wrapped.unwrap();
    assert_eq!(blob.as_bytes()[0], 2, "re-wrapped in format 2");
    assert_eq!(
        secrets::open_l4_v2(&l3, &tenant, &service, ALICE, &uid, blob.as_bytes()),
        [0x6b; 32]
    );
    stack.restart_gateway().unwrap();
    assert_eq!(alice.get(&uid), legacy_value);
}
