//! Two krypton-gateway processes on one shared vault (PostgreSQL, Redis), in front of one
//! krypton-core, driven by PyKMIP as the same application identity: a key created through one
//! gateway is served by the other, a state change made through one is seen by the other at once
//! (no stale cache), Locate agrees, and a Revoke and a Destroy of one key sent together through
//! both gateways are ordered, none lost. And a gateway whose vault server is killed fails
//! closed and recovers by itself when it returns. And the keys of a RocksDB vault, moved to
//! PostgreSQL with `krypton-gateway vault copy`, are served from there with the same bytes. And
//! after a service key rotation the gateway re-wraps a PostgreSQL and a Redis vault under the
//! new version, so the old one retires with every key still served. The
//! vault servers are private instances started by krypton-dev (Debian's `postgresql` and
//! `redis-server`).
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use krypton_dev::StackVault;
use krypton_dev::http::readiness;
use krypton_dev::vault_server::{AppendFsync, Crashable, PostgresServer, RedisServer};
use krypton_softhsm_tests::debug_binary;
use krypton_softhsm_tests::load::{krypton_load, rewrap_done_since};
use krypton_softhsm_tests::pykmip::{App, message, ok, reason};
use krypton_softhsm_tests::suite::{self, Fixture, Test};
use serde_json::json;

const ALICE: &str = "app-alice";

const TESTS: [(&str, Test); 7] = [
    (
        "two_gateways_on_one_postgres_vault",
        two_gateways_on_one_postgres_vault,
    ),
    (
        "a_rocksdb_vault_copied_to_postgres_serves_every_key",
        a_rocksdb_vault_copied_to_postgres_serves_every_key,
    ),
    (
        "two_gateways_on_one_redis_vault",
        two_gateways_on_one_redis_vault,
    ),
    (
        "the_gateway_fails_closed_while_postgres_is_away_and_recovers",
        the_gateway_fails_closed_while_postgres_is_away_and_recovers,
    ),
    (
        "the_gateway_fails_closed_while_redis_is_away_and_recovers",
        the_gateway_fails_closed_while_redis_is_away_and_recovers,
    ),
    (
        "a_postgres_vault_is_rewrapped_and_the_old_version_retires",
        a_postgres_vault_is_rewrapped_and_the_old_version_retires,
    ),
    (
        "a_redis_vault_is_rewrapped_and_the_old_version_retires",
        a_redis_vault_is_rewrapped_and_the_old_version_retires,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

fn two_gateways_on_one_postgres_vault(fixture: &Fixture) {
    let server = PostgresServer::shared().unwrap();
    let database = server.create_database().unwrap();
    two_gateways_serve_one_vault(
        fixture,
        StackVault::Postgres {
            url: server.url(&database),
            password_file: server.password_file().to_owned(),
        },
    );
}

fn two_gateways_on_one_redis_vault(fixture: &Fixture) {
    let server = RedisServer::shared().unwrap();
    two_gateways_serve_one_vault(
        fixture,
        StackVault::Redis {
            url: server.url(),
            password_file: server.password_file().to_owned(),
            key_prefix: server.key_prefix(),
        },
    );
}

fn a_postgres_vault_is_rewrapped_and_the_old_version_retires(fixture: &Fixture) {
    let server = PostgresServer::shared().unwrap();
    let database = server.create_database().unwrap();
    rewrapped_then_retired(
        fixture,
        StackVault::Postgres {
            url: server.url(&database),
            password_file: server.password_file().to_owned(),
        },
    );
}

fn a_redis_vault_is_rewrapped_and_the_old_version_retires(fixture: &Fixture) {
    let server = RedisServer::shared().unwrap();
    rewrapped_then_retired(
        fixture,
        StackVault::Redis {
            url: server.url(),
            password_file: server.password_file().to_owned(),
            key_prefix: server.key_prefix(),
        },
    );
}

/// Keys created under version 1 on `vault`, the service rotated: the gateway re-wraps every
/// record (more than one page of its scan), version 1 retires, and every key reads the same.
fn rewrapped_then_retired(fixture: &Fixture, vault: StackVault) {
    let stack = fixture.stack_on(vault);
    let (tenant, service) = (&stack.config().tenant, &stack.config().service);
    let ctl = stack.core().ctl();
    let alice = App::of(&stack, ALICE);
    let creates: Vec<_> = (0..20)
        .map(|n| json!({"op": "create", "name": format!("rewrap-{n}")}))
        .collect();
    let uids: Vec<String> = alice
        .run(&json!(creates))
        .iter()
        .map(|result| ok(result).as_str().unwrap().to_owned())
        .collect();
    let activates: Vec<_> = uids
        .iter()
        .map(|uid| json!({"op": "activate", "uid": uid}))
        .collect();
    alice.run(&json!(activates)).iter().for_each(|result| {
        ok(result);
    });
    let values = values_of(&alice, &uids);
    // More records than one page of the re-wrap's scan (256): as many one-second runs as that
    // takes on a busy machine.
    let binary = debug_binary("krypton-load").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut made = 0;
    while made <= 256 {
        assert!(Instant::now() < deadline, "only {made} keys made in 120 s");
        let bulk = krypton_load(
            &binary,
            &stack,
            ALICE,
            &["create"],
            2,
            Duration::from_secs(1),
        );
        assert_eq!(bulk["failures"], 0, "{bulk}");
        made += bulk["operations"].as_u64().unwrap();
    }

    assert_eq!(ctl.rotate_service(tenant, service).unwrap(), 2);
    let rotated = SystemTime::now();
    alice.create("tells-the-gateway-of-v2");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !rewrap_done_since(&stack, rotated) {
        assert!(Instant::now() < deadline, "no complete re-wrap pass");
        thread::sleep(Duration::from_millis(100));
    }
    ctl.change_version(tenant, service, 1, "retire").unwrap();
    assert_eq!(values_of(&alice, &uids), values);
}

/// The hex value of each of `uids`, read through the gateway.
fn values_of(app: &App, uids: &[String]) -> Vec<String> {
    let gets: Vec<_> = uids
        .iter()
        .map(|uid| json!({"op": "get", "uid": uid}))
        .collect();
    app.run(&json!(gets))
        .iter()
        .map(|result| ok(result)["value"].as_str().unwrap().to_owned())
        .collect()
}

fn two_gateways_serve_one_vault(fixture: &Fixture, vault: StackVault) {
    let stack = fixture.stack_on(vault);
    let second = stack.start_gateway("gateway-2").unwrap();
    let one = App::of(&stack, ALICE);
    let two = App {
        gateway: second.addr,
        ..App::of(&stack, ALICE)
    };

    // Created at 1, served by 2 with the same key bytes; Locate agrees at both.
    let uid = one.create("shared-key");
    let value = one.get(&uid);
    assert_eq!(two.get(&uid), value);
    for app in [&one, &two] {
        assert_eq!(
            ok(&app.run(&json!([{"op": "locate", "name": "shared-key"}]))[0]),
            &json!([uid])
        );
    }

    // Activated at 2 (1 sees it Active at once), revoked at 2: 1 at once refuses to activate
    // it again, the state of a revoked (Deactivated) key.
    ok(&two.run(&json!([{"op": "activate", "uid": uid}]))[0]);
    let state = ok(&one.run(&json!([{"op": "get_attributes", "uid": uid}]))[0])["State"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(state.contains("ACTIVE"), "state at 1: {state}");
    ok(&two.run(&json!([{"op": "revoke", "uid": uid}]))[0]);
    let at_one = one.run(&json!([
        {"op": "activate", "uid": uid},
        {"op": "get", "uid": uid},
    ]));
    assert_eq!(reason(&at_one[0]), "PERMISSION_DENIED", "{}", at_one[0]);
    assert!(message(&at_one[0]).contains("Deactivated"), "{}", at_one[0]);
    // A revoked key can still be read, through either gateway.
    assert_eq!(ok(&at_one[1])["value"], value);

    // Destroyed at 1: refused at 2, and gone from Locate at both.
    ok(&one.run(&json!([{"op": "destroy", "uid": uid}]))[0]);
    let after = two.run(&json!([{"op": "get", "uid": uid}]));
    assert!(
        ["ITEM_NOT_FOUND", "PERMISSION_DENIED", "OBJECT_DESTROYED"].contains(&reason(&after[0])),
        "Get at 2 after Destroy at 1: {}",
        after[0]
    );
    for app in [&one, &two] {
        assert_eq!(
            ok(&app.run(&json!([{"op": "locate", "name": "shared-key"}]))[0]),
            &json!([])
        );
    }

    // A Revoke at 1 and a Destroy at 2 of one Active key, sent together, are both applied in
    // some order (the compare-and-set retries the loser): the key ends Destroyed, whatever
    // the order, and neither gateway answered with a vault failure.
    for round in 0..5 {
        let name = format!("raced-{round}");
        let uid = one.create(&name);
        ok(&one.run(&json!([{"op": "activate", "uid": uid}]))[0]);
        let (revoke, destroy) = thread::scope(|scope| {
            let revoke = scope.spawn(|| one.run(&json!([{"op": "revoke", "uid": uid}])));
            let destroy = scope.spawn(|| two.run(&json!([{"op": "destroy", "uid": uid}])));
            (revoke.join().unwrap(), destroy.join().unwrap())
        });
        // Destroy of an Active key is refused unless the Revoke came first; a Revoke after the
        // Destroy finds it destroyed. Either way each answer is a lifecycle answer, never a
        // failure of the vault.
        for result in [&revoke[0], &destroy[0]] {
            assert!(
                result.get("ok").is_some() || result.get("error").is_some(),
                "round {round}: {result}"
            );
            if result.get("error").is_some() {
                assert!(
                    ["PERMISSION_DENIED", "ITEM_NOT_FOUND", "OBJECT_DESTROYED"]
                        .contains(&reason(result)),
                    "round {round}: {result}"
                );
            }
        }
        // Deactivated (the Destroy lost) or Destroyed: both gateways give the same answer.
        let seen_at_one = one.run(&json!([{"op": "get", "uid": uid}]));
        let seen_at_two = two.run(&json!([{"op": "get", "uid": uid}]));
        assert_eq!(
            seen_at_one, seen_at_two,
            "round {round}: the gateways disagree"
        );
    }
}

/// PostgreSQL killed under a running gateway.
fn the_gateway_fails_closed_while_postgres_is_away_and_recovers(fixture: &Fixture) {
    let mut server = PostgresServer::start().unwrap();
    let database = server.create_database().unwrap();
    let vault = StackVault::Postgres {
        url: server.url(&database),
        password_file: server.password_file().to_owned(),
    };
    the_gateway_rides_out_an_outage(fixture, vault, &mut server);
}

/// Redis killed under a running gateway.
fn the_gateway_fails_closed_while_redis_is_away_and_recovers(fixture: &Fixture) {
    let mut server = RedisServer::start(AppendFsync::Always).unwrap();
    let vault = StackVault::Redis {
        url: server.url(),
        password_file: server.password_file().to_owned(),
        key_prefix: server.key_prefix(),
    };
    the_gateway_rides_out_an_outage(fixture, vault, &mut server);
}

/// The vault server killed (SIGKILL, its whole process group) under a running gateway: its
/// readiness says `vault-unavailable`, Create and Get fail with a KMIP General Failure that says
/// the vault failed, and nothing is stored;
/// once the server is back, the same gateway process serves the keys it had and creates new
/// ones.
fn the_gateway_rides_out_an_outage(
    fixture: &Fixture,
    vault: StackVault,
    server: &mut impl Crashable,
) {
    let stack = fixture.stack_on(vault);
    let ready = || readiness(stack.gateway_telemetry().unwrap()).unwrap();
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("before-outage");
    let value = alice.get(&uid);
    assert_eq!(ready(), Ok(()));

    server.kill().unwrap();
    assert_eq!(ready(), Err("vault-unavailable".to_owned()));
    let during = alice.run(&json!([
        {"op": "create", "name": "during-outage"},
        {"op": "get", "uid": uid},
    ]));
    for result in &during {
        assert_eq!(reason(result), "GENERAL_FAILURE", "{result}");
        assert!(message(result).contains("vault"), "{result}");
    }

    server.restart().unwrap();
    let after = alice.run(&json!([
        {"op": "get", "uid": uid},
        {"op": "locate", "name": "during-outage"},
        {"op": "create", "name": "after-outage"},
    ]));
    assert_eq!(ok(&after[0])["value"], value);
    assert_eq!(ok(&after[1]), &json!([]), "a failed Create stored a key");
    let created = ok(&after[2]).as_str().unwrap().to_owned();
    assert_eq!(alice.get(&created).len(), 64);
    assert_eq!(ready(), Ok(()));
}

/// The operator's move from RocksDB to PostgreSQL: keys created on the stack's RocksDB vault,
/// its gateway stopped, `krypton-gateway vault copy` from its configuration to that of a
/// gateway on PostgreSQL; that gateway serves every key with the same bytes and finds it by
/// name, and a second copy finds everything there already.
fn a_rocksdb_vault_copied_to_postgres_serves_every_key(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let keys: Vec<(String, String)> = (0..3)
        .map(|n| {
            let uid = alice.create(&format!("moving-{n}"));
            let value = alice.get(&uid);
            (uid, value)
        })
        .collect();
    stack.stop_gateway().unwrap();

    let server = PostgresServer::shared().unwrap();
    let database = server.create_database().unwrap();
    stack.reconfigure_vault(StackVault::Postgres {
        url: server.url(&database),
        password_file: server.password_file().to_owned(),
    });
    let on_postgres = stack.start_gateway("on-postgres").unwrap();
    let copy = || {
        Command::new(debug_binary("krypton-gateway").unwrap())
            .args(["vault", "copy", "--from"])
            .arg(stack.gateway_config("gateway"))
            .arg("--to")
            .arg(stack.gateway_config("on-postgres"))
            .output()
            .unwrap()
    };
    let first = copy();
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        said.contains("3 records written, 0 already there, 3 verified"),
        "{said}"
    );

    let moved = App {
        gateway: on_postgres.addr,
        ..App::of(&stack, ALICE)
    };
    for (n, (uid, value)) in keys.iter().enumerate() {
        assert_eq!(&moved.get(uid), value);
        let found = moved.run(&json!([{"op": "locate", "name": format!("moving-{n}")}]));
        assert_eq!(ok(&found[0]), &json!([uid]));
    }
    let second = copy();
    assert!(
        String::from_utf8_lossy(&second.stdout)
            .contains("0 records written, 3 already there, 3 verified")
    );
}
