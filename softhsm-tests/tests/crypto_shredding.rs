//! Destroy is crypto-shredding, end to end on the real binaries (krypton-dev's `Stack`:
//! SoftHSM2 L1, core, gateway on its RocksDB vault, mutual TLS) with PyKMIP as the application:
//! once a key is destroyed, a copy of its vault record with the wrapped blob (a restored
//! backup) never gives the key back — refused by the core once it has heard of the Destroy, and
//! by the gateway itself until then, the core being down meanwhile.
//!
//! Also with the core's store in PostgreSQL, whose in-memory record of the destroyed-L4 keys it
//! knows absent must learn of the Destroy.
//!
//! The vault is read and written between gateway runs through krypton-gateway's own
//! `RocksDbVault`, as a backup restore would put the record back.
//!
//! Runs the debug binaries of the workspace (`cargo build --workspace --bins` builds them).

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use krypton_dev::Stack;
use krypton_dev::config::{CoreStore, Password};
use krypton_dev::vault_server::PostgresServer;
use krypton_gateway::{Record, RocksDbVault, ShredNotice, Vault};
use krypton_softhsm_tests::pykmip::{App, message, ok, reason};
use krypton_softhsm_tests::suite::{self, Fixture, Test};
use serde_json::{Value, json};

const ALICE: &str = "app-alice";

/// The longest the test waits for the gateway to deliver a queued Destroy once the core is
/// back: a bound against a hang, well above the courier's longest backoff (60 s).
const DELIVERY_LIMIT: Duration = Duration::from_secs(150);

const TESTS: [(&str, Test); 3] = [
    (
        "a_destroyed_keys_blob_written_back_into_the_vault_is_refused",
        a_destroyed_keys_blob_written_back_into_the_vault_is_refused,
    ),
    (
        "a_destroyed_keys_blob_is_refused_by_a_core_on_postgresql",
        a_destroyed_keys_blob_is_refused_by_a_core_on_postgresql,
    ),
    (
        "a_destroy_while_the_core_is_down_is_delivered_when_it_is_back",
        a_destroy_while_the_core_is_down_is_delivered_when_it_is_back,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

fn vault_dir(stack: &Stack) -> PathBuf {
    stack.data_dir().join("gateway").join("vault")
}

/// Runs `work` on the vault of the stopped gateway.
fn on_vault<T, F: Future<Output = T>>(stack: &Stack, work: impl FnOnce(RocksDbVault) -> F) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = vault_dir(stack);
    runtime.block_on(async move { work(RocksDbVault::open(&dir).await.unwrap()).await })
}

/// Alice's record of `uid`, as a backup would have it.
fn back_up(stack: &Stack, uid: &str) -> Record {
    let uid = uid.to_owned();
    let record = on_vault(stack, |vault| async move {
        vault.get(ALICE, &uid).await.unwrap().unwrap()
    });
    assert!(record.wrapped.is_some(), "{record:?}");
    record
}

/// Puts `saved` back in place of its record, wrapped blob and all, as a restore would.
fn restore(stack: &Stack, saved: Record) {
    on_vault(stack, |vault| async move {
        let now = vault.get(&saved.owner, &saved.id).await.unwrap().unwrap();
        assert_eq!(now.wrapped, None, "destroyed: {now:?}");
        vault
            .update(Record {
                revision: now.revision,
                ..saved
            })
            .await
            .unwrap();
    });
}

fn queued(stack: &Stack) -> Vec<ShredNotice> {
    on_vault(stack, |vault| async move {
        vault.pending_shreds(100).await.unwrap()
    })
}

fn get(app: &App, uid: &str) -> Value {
    app.run(&json!([{"op": "get", "uid": uid}])).remove(0)
}

/// A Get of `uid` was refused as destroyed, with `why` in its message, and no key came back.
fn assert_refused(result: &Value, key: &str, why: &str) {
    assert!(
        ["PERMISSION_DENIED", "OBJECT_DESTROYED"].contains(&reason(result)),
        "{result}"
    );
    assert!(message(result).contains("was destroyed"), "{result}");
    assert!(message(result).contains(why), "{result}");
    assert!(!result.to_string().contains(key), "{result}");
}

fn a_destroyed_keys_blob_written_back_into_the_vault_is_refused(fixture: &Fixture) {
    a_blob_written_back_is_refused(&mut fixture.stack());
}

/// The same on a core whose store is in PostgreSQL, which keeps in memory the destroyed-L4
/// records it knows are absent: the Get before the Destroy taught it this one's.
fn a_destroyed_keys_blob_is_refused_by_a_core_on_postgresql(fixture: &Fixture) {
    let server = PostgresServer::shared().unwrap();
    let database = server.create_database().unwrap();
    let store = CoreStore::Postgres {
        url: server.url(&database),
        password: Password::File(server.password_file().to_owned()),
        standby: false,
        follow: false,
    };
    a_blob_written_back_is_refused(
        &mut fixture.stack_configured(|config| config.core_store = Some(store)),
    );
}

fn a_blob_written_back_is_refused(stack: &mut Stack) {
    let alice = App::of(stack, ALICE);
    let uid = alice.create("shredded");
    let key = alice.get(&uid);
    let sibling = alice.create("kept");
    let sibling_key = alice.get(&sibling);
    stack.stop_gateway().unwrap();
    let saved = back_up(stack, &uid);
    stack.restart_gateway().unwrap();

    ok(&alice.run(&json!([{"op": "destroy", "uid": uid}]))[0]);
    stack.stop_gateway().unwrap();
    // The core acknowledged at once: nothing is left to deliver.
    assert_eq!(queued(stack), []);
    restore(stack, saved);
    stack.restart_gateway().unwrap();

    assert_refused(&get(&alice, &uid), &key, "krypton-core refused");
    // Only that key: its sibling under the same L3 still opens.
    assert_eq!(alice.get(&sibling), sibling_key);
    // And a restart of the core changes nothing: its record of the Destroy is durable.
    stack.restart_core().unwrap();
    assert_refused(&get(&alice, &uid), &key, "krypton-core refused");
}

fn a_destroy_while_the_core_is_down_is_delivered_when_it_is_back(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("shredded-offline");
    let key = alice.get(&uid);
    stack.stop_gateway().unwrap();
    let saved = back_up(&stack, &uid);
    stack.restart_gateway().unwrap();

    stack.stop_core().unwrap();
    ok(&alice.run(&json!([{"op": "destroy", "uid": uid}]))[0]);
    stack.stop_gateway().unwrap();
    let notices = queued(&stack);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(
        (notices[0].owner.as_str(), notices[0].id.as_str()),
        (ALICE, uid.as_str())
    );
    restore(&stack, saved);
    stack.restart_gateway().unwrap();

    // The core is still down: the gateway refuses the restored key itself.
    assert_refused(&get(&alice, &uid), &key, "as soon as it is reachable");

    // The core comes back; the gateway's courier tells it, and from then on the core refuses.
    stack.restart_core().unwrap();
    let deadline = Instant::now() + DELIVERY_LIMIT;
    loop {
        let result = get(&alice, &uid);
        if message(&result).contains("krypton-core refused") {
            assert_refused(&result, &key, "krypton-core refused");
            break;
        }
        assert_refused(&result, &key, "as soon as it is reachable");
        assert!(
            Instant::now() < deadline,
            "the Destroy was not delivered within {DELIVERY_LIMIT:?}"
        );
        thread::sleep(Duration::from_secs(1));
    }
    stack.stop_gateway().unwrap();
    assert_eq!(queued(&stack), []);
}
