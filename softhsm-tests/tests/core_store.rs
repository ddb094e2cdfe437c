//! The core's store end to end on the real binaries, on both backends:
//! - backup and restore: a backup taken by `kryptonctl backup` while applications create keys,
//!   the core's store deleted, rebuilt by `krypton-core restore`, and every key created before
//!   the backup readable through the gateway once the restored core is unsealed with the same
//!   shares;
//! - a core on PostgreSQL (`[store] backend = "postgres"`, a private server): keys kept across
//!   a restart, only sealed records in the database, a second core on the same database
//!   refused, `kryptonctl backup` refused with what to do instead;
//! - `krypton-core store copy` moving a core from RocksDB to PostgreSQL, every key readable
//!   through the gateway from the moved core;
//! - active/standby cores on one PostgreSQL store with the PKCS#11 seal: the active core
//!   killed under load, the standby taking over with no failed request, PostgreSQL stopped
//!   (the core fails closed: it stops) and back, and an unlink through the new active core;
//! - a leading core and a follower on one PostgreSQL store, two gateways on one PostgreSQL
//!   vault: the gateways spread the data path over both cores, keys made through either gateway
//!   read through the other, the follower refuses changes but an unlink, an unlink and a relink
//!   through the leader reach the follower and an unlink through the follower reaches the
//!   leader, which carries it out (the delays measured), the leader killed under load with no failed
//!   request and every key readable through both gateways, the follower leading after it, one
//!   audit chain written by both cores, and PostgreSQL stopped (both cores stop) and back (they
//!   lead and follow again).
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

use krypton_dev::config::{CoreStore, Password};
use krypton_dev::core::Core;
use krypton_dev::http;
use krypton_dev::process::free_loopback_addr;
use krypton_dev::vault_server::{Crashable, PostgresServer};
use krypton_dev::{Stack, StackVault};
use krypton_softhsm_tests::binaries::{debug_bin_dir, debug_binary};
use krypton_softhsm_tests::load::krypton_load;
use krypton_softhsm_tests::pykmip::{App, ok, reason};
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

const ALICE: &str = "app-alice";
const BOB: &str = "app-bob";
/// How long a core refused its store may take to give up: its request timeout (2 s here) and
/// start-up.
const REFUSAL_LIMIT: Duration = Duration::from_secs(30);
/// How long a standby may take to take a store over, unseal and re-open its tenant, or a core
/// to notice that PostgreSQL is gone: a bound against a hang, not a speed expectation.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(60);

const TESTS: [(&str, Test); 5] = [
    (
        "a_backup_taken_under_load_restores_every_key_created_before_it",
        a_backup_taken_under_load_restores_every_key_created_before_it,
    ),
    (
        "a_core_on_postgresql_keeps_its_keys_and_admits_no_second_core",
        a_core_on_postgresql_keeps_its_keys_and_admits_no_second_core,
    ),
    (
        "store_copy_moves_a_core_from_rocksdb_to_postgresql_with_every_key",
        store_copy_moves_a_core_from_rocksdb_to_postgresql_with_every_key,
    ),
    (
        "a_standby_core_takes_over_with_no_failed_request_and_fails_closed_without_postgresql",
        a_standby_core_takes_over_with_no_failed_request_and_fails_closed_without_postgresql,
    ),
    (
        "a_follower_serves_with_the_leader_and_an_unlink_reaches_it",
        a_follower_serves_with_the_leader_and_an_unlink_reaches_it,
    ),
];

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

/// A fresh database on `server`, as a core's `[store]`.
fn postgres_store(server: &PostgresServer) -> (String, CoreStore) {
    let database = server.create_database().unwrap();
    let store = CoreStore::Postgres {
        url: server.url(&database),
        password: Password::File(server.password_file().to_owned()),
        standby: false,
        follow: false,
    };
    (database, store)
}

/// What a core does when another holds its store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Standby,
    Follower,
}

/// A fresh database on `server`, as the `[store]` of cores in `role`.
fn on_postgres(server: &PostgresServer, role: Role) -> CoreStore {
    let database = server.create_database().unwrap();
    CoreStore::Postgres {
        url: server.url(&database),
        password: Password::File(server.password_file().to_owned()),
        standby: role == Role::Standby,
        follow: role == Role::Follower,
    }
}

/// A core configuration of its own in `dir`, on `store`: its own data dir and control socket,
/// no HSM, no listener.
fn other_core_config(dir: &Path, name: &str, store: &CoreStore) -> PathBuf {
    let CoreStore::Postgres {
        url,
        password: Password::File(password),
        ..
    } = store;
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "data_dir = \"{data}\"\n\
         [store]\nbackend = \"postgres\"\nurl = \"{url}\"\npassword = {{ file = \"{password}\" }}\n\
         request_timeout = \"2s\"\n\
         [control]\nsocket = \"{socket}\"\n\
         [hardening]\nallow_unlocked_memory = true\n",
        data = dir.join(name).display(),
        password = password.display(),
        socket = dir.join(format!("{name}.sock")).display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `krypton-core` with `args`, killed if it has not exited within `limit`.
fn krypton_core(args: &[&std::ffi::OsStr], limit: Duration) -> Output {
    let mut child = Command::new(debug_bin_dir().join("krypton-core"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("krypton-core {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Creates `n` keys as `app`, returning each id with its key material.
fn keys(app: &App, name: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let uid = app.create(&format!("{name}-{i}"));
            let key = app.get(&uid);
            (uid, key)
        })
        .collect()
}

fn assert_readable(app: &App, keys: &[(String, String)]) {
    for (uid, key) in keys {
        assert_eq!(&app.get(uid), key, "{uid}");
    }
}

fn a_core_on_postgresql_keeps_its_keys_and_admits_no_second_core(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let server = PostgresServer::shared().unwrap();
    let (database, store) = postgres_store(server);
    let mut stack = fixture.stack_configured(|config| config.core_store = Some(store.clone()));
    let alice = App::of(&stack, ALICE);
    let created = keys(&alice, "on-postgresql", 3);

    // The records are in PostgreSQL, and no RocksDB store was made.
    assert!(!stack.core_store().exists());
    let tenants = server
        .psql(
            &database,
            "SELECT count(*) FROM krypton_core_records WHERE family = 'tenants'",
        )
        .unwrap();
    assert_eq!(tenants.trim(), "1");
    // Sealed: the tenant's name is in the key, nowhere in a value.
    let plaintext = server
        .psql(
            &database,
            "SELECT count(*) FROM krypton_core_records WHERE position('demo'::bytea in value) > 0",
        )
        .unwrap();
    assert_eq!(plaintext.trim(), "0");

    // A second core on the same database is refused while the first runs.
    let second = other_core_config(dir.path(), "second", &store);
    let refused = krypton_core(&["--config".as_ref(), second.as_os_str()], REFUSAL_LIMIT);
    assert!(!refused.status.success(), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("one core per store"), "{stderr}");
    // Nor does store copy write into it.
    let from = other_core_config(dir.path(), "from", &postgres_store(server).1);
    let copy = krypton_core(
        &[
            "store".as_ref(),
            "copy".as_ref(),
            "--from".as_ref(),
            from.as_os_str(),
            "--to".as_ref(),
            second.as_os_str(),
        ],
        REFUSAL_LIMIT,
    );
    assert!(!copy.status.success(), "{copy:?}");

    // kryptonctl backup says what to do instead.
    let refused = stack.core().ctl().backup(&dir.path().join("backup"));
    let message = format!("{:?}", refused.unwrap_err());
    assert!(message.contains("pg_dump"), "{message}");

    // Restarted, the core comes up sealed on the same store; the shares unseal it.
    stack.restart_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_readable(&alice, &created);
    assert_readable(&alice, &keys(&alice, "after-restart", 1));
}

fn store_copy_moves_a_core_from_rocksdb_to_postgresql_with_every_key(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let server = PostgresServer::shared().unwrap();
    let mut stack: Stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let created = keys(&alice, "before-the-move", 3);

    // Offline: the core is stopped, and the copy resumes and verifies.
    stack.stop_core().unwrap();
    let (_, store) = postgres_store(server);
    let to = other_core_config(dir.path(), "moved", &store);
    let copy = |limit| {
        let output = krypton_core(
            &[
                "store".as_ref(),
                "copy".as_ref(),
                "--from".as_ref(),
                stack.core_config().as_os_str(),
                "--to".as_ref(),
                to.as_os_str(),
            ],
            limit,
        );
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let first = copy(REFUSAL_LIMIT);
    assert!(first.contains("records verified equal"), "{first}");
    let again = copy(REFUSAL_LIMIT);
    assert!(again.starts_with("copied 0 records"), "{again}");

    // The RocksDB store is gone; the core serves from PostgreSQL with the same shares.
    std::fs::remove_dir_all(stack.core_store()).unwrap();
    stack.reconfigure_core_store(Some(store));
    stack.restart_core().unwrap();
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert!(!stack.core_store().exists());
    assert_readable(&alice, &created);
    assert_readable(&alice, &keys(&alice, "after-the-move", 1));
}

/// Kills `core` (SIGKILL).
fn sigkill(core: &Core) {
    let pid = i32::try_from(core.pid().unwrap()).unwrap();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
}

/// Runs Creates as app-alice on 16 connections for `duration` and kills the stack's core 2 s
/// in: no request may fail. Prints the slowest request, the window an application saw, as
/// `what`.
fn core_killed_under_load(stack: &Stack, duration: Duration, what: &str) {
    let binary = debug_binary("krypton-load").unwrap();
    let report = std::thread::scope(|scope| {
        let load = scope.spawn(|| krypton_load(&binary, stack, ALICE, &["create"], 16, duration));
        std::thread::sleep(Duration::from_secs(2));
        sigkill(stack.core());
        load.join().unwrap()
    });
    assert_eq!(report["failures"].as_u64(), Some(0), "{report}");
    eprintln!(
        "{what} under load: slowest request {} µs",
        report["latency_us"]["max"]
    );
}

/// Kills `server`: each of `cores` loses the store and stops, and `app`'s Get of `key` no
/// longer returns it.
fn postgresql_gone(
    server: &mut PostgresServer,
    cores: &mut [&mut Core],
    app: &App,
    (uid, value): &(String, String),
) {
    server.kill().unwrap();
    for core in cores {
        let exited = wait_for_exit(core, TAKEOVER_LIMIT);
        assert!(exited.contains("lost the store's ownership"), "{exited}");
    }
    let refused = app.run(&json!([{"op": "get", "uid": uid}]));
    assert!(!refused[0].to_string().contains(value), "{}", refused[0]);
}

/// Waits until `core` has exited by itself; the end of its log.
fn wait_for_exit(core: &mut Core, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        if let Err(exited) = core.check_running() {
            return exited.to_string();
        }
        assert!(Instant::now() < deadline, "still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the telemetry listener at `address` answers `/readyz` with `expected`.
fn wait_for_readiness(address: SocketAddr, expected: Result<(), String>) {
    let deadline = Instant::now() + TAKEOVER_LIMIT;
    loop {
        let said = http::readiness(address);
        if said.as_ref().is_ok_and(|said| *said == expected) {
            return;
        }
        assert!(Instant::now() < deadline, "/readyz: {said:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `core`, a standby that took over, serves its tenant.
fn wait_until_serving(core: &mut Core, tenant: &str) {
    core.wait_for_control(TAKEOVER_LIMIT).unwrap();
    let deadline = Instant::now() + TAKEOVER_LIMIT;
    while core.ctl().tenant_state(tenant).unwrap().as_deref() != Some("active") {
        assert!(Instant::now() < deadline, "the tenant is not active");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn a_standby_core_takes_over_with_no_failed_request_and_fails_closed_without_postgresql(
    fixture: &Fixture,
) {
    let dir = tempfile::tempdir().unwrap();
    // A server of this test's own: it is stopped and started again.
    let mut server = PostgresServer::start().unwrap();
    let store = on_postgres(&server, Role::Standby);
    let standby_kmip = free_loopback_addr().unwrap();
    let hsm = fixture.sealed_hsm(&dir.path().join("seal-pin"));
    let stack = fixture.stack_configured(|config| {
        config.hsm = hsm;
        config.core_store = Some(store);
        config.core_failover = vec![standby_kmip];
    });
    let tenant = stack.config().tenant.clone();
    let alice = App::of(&stack, ALICE);
    let created = keys(&alice, "before-the-takeover", 3);
    let mut standby = stack.start_another_core("core-2", standby_kmip).unwrap();
    // Up and seen so by monitoring, not ready: its telemetry says it stands by.
    let standby_telemetry = standby.telemetry().unwrap();
    wait_for_readiness(standby_telemetry, Err("standby".to_owned()));
    // kryptonctl on its machine is told it stands by, not that no core runs.
    match standby.ctl().status() {
        Err(krypton_dev::Error::Ctl { message, .. }) => {
            assert!(message.contains("standing by"), "{message}");
        }
        other => panic!("a standby answered status with {other:?}"),
    }
    // The gateway's check: the active core answers, the standby does not yet (a warning).
    let check = Command::new(debug_binary("krypton-gateway").unwrap())
        .arg("check")
        .arg("--config")
        .arg(stack.gateway_config("gateway"))
        .output()
        .unwrap();
    let findings = String::from_utf8_lossy(&check.stdout);
    assert!(findings.contains("answers over mutual TLS"), "{findings}");
    assert!(
        findings.contains("a standby listens only once it takes over"),
        "{findings}"
    );

    // The active core dies under load: the standby takes over, the gateway follows, and no
    // request fails.
    core_killed_under_load(&stack, Duration::from_secs(6), "takeover");
    wait_until_serving(&mut standby, &tenant);
    wait_for_readiness(standby_telemetry, Ok(()));
    assert_readable(&alice, &created);

    // PostgreSQL goes away: the serving core loses the store and stops; nothing serves.
    postgresql_gone(&mut server, &mut [&mut standby], &alice, &created[0]);

    // PostgreSQL is back: a core started again takes the store and serves every key.
    server.restart().unwrap();
    let mut again = stack.start_another_core("core-2", standby_kmip).unwrap();
    wait_until_serving(&mut again, &tenant);
    assert_readable(&alice, &created);

    // The kill switch through the core that now serves.
    again.ctl().unlink_tenant(&tenant).unwrap();
    let refused = alice.run(&json!([{"op": "get", "uid": created[0].0}]));
    assert_eq!(reason(&refused[0]), "PERMISSION_DENIED", "{}", refused[0]);
}

/// How many of `operation` the core whose telemetry is at `address` answered with `result`
/// (`Success` or a Result Reason).
fn answered(address: SocketAddr, operation: &str, result: &str) -> f64 {
    let samples = http::scrape(address).unwrap();
    http::value(
        &samples,
        "kmip_requests_total",
        &[("operation", operation), ("result", result)],
    )
    .unwrap_or(0.0)
}

/// Asserts that a Get of `uid` through each of `apps` is refused: its tenant is unlinked.
fn assert_refused(apps: &[&App], uid: &str) {
    for app in apps {
        for _ in 0..2 {
            let refused = app.run(&json!([{"op": "get", "uid": uid}]));
            assert_eq!(reason(&refused[0]), "PERMISSION_DENIED", "{}", refused[0]);
        }
    }
}

/// Waits until `tenant` is in `state` on `core`; how long that took.
fn until_tenant(core: &Core, tenant: &str, state: &str) -> Duration {
    let started = Instant::now();
    while core.ctl().tenant_state(tenant).unwrap().as_deref() != Some(state) {
        assert!(
            started.elapsed() < TAKEOVER_LIMIT,
            "the tenant is not {state} on the follower"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    started.elapsed()
}

fn a_follower_serves_with_the_leader_and_an_unlink_reaches_it(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = PostgresServer::start().unwrap();
    let store = on_postgres(&server, Role::Follower);
    let vault = server.create_database().unwrap();
    let follower_kmip = free_loopback_addr().unwrap();
    let hsm = fixture.sealed_hsm(&dir.path().join("seal-pin"));
    let mut stack = fixture.stack_configured(|config| {
        config.hsm = hsm;
        config.core_store = Some(store);
        config.core_failover = vec![follower_kmip];
        config.vault = StackVault::Postgres {
            url: server.url(&vault),
            password_file: server.password_file().to_owned(),
        };
    });
    let tenant = stack.config().tenant.clone();
    let alice = App::of(&stack, ALICE);
    let created = keys(&alice, "before-the-follower", 3);
    let second_gateway = stack.start_gateway("gateway-2").unwrap();
    let alice_at_two = App {
        gateway: second_gateway.addr,
        ..App::of(&stack, ALICE)
    };
    // The first core on the store leads; the second finds it held and follows, serving.
    let mut follower = stack.start_another_core("core-2", follower_kmip).unwrap();
    wait_until_serving(&mut follower, &tenant);
    let follower_telemetry = follower.telemetry().unwrap();
    wait_for_readiness(follower_telemetry, Ok(()));
    let role = |core: &Core| core.ctl().status_document().unwrap()["store_role"].clone();
    assert_eq!(role(&follower), json!("follows"));
    assert_eq!(role(stack.core()), json!("leads"));

    // The gateway spreads the data path over both cores: the follower unwraps too.
    let binary = debug_binary("krypton-load").unwrap();
    let before = answered(follower_telemetry, "Decrypt", "Success");
    let report = krypton_load(&binary, &stack, ALICE, &["get"], 4, Duration::from_secs(2));
    assert_eq!(report["failures"].as_u64(), Some(0), "{report}");
    assert!(
        answered(follower_telemetry, "Decrypt", "Success") > before,
        "the follower served no unwrap"
    );
    let created_at_two = keys(&alice_at_two, "through-gateway-2", 3);
    for app in [&alice, &alice_at_two] {
        assert_readable(app, &created);
        assert_readable(app, &created_at_two);
    }

    // Changes are the leader's: the follower refuses them, and changes nothing.
    match follower
        .ctl()
        .create_service(&tenant, "through-the-follower")
    {
        Err(krypton_dev::Error::Ctl { message, .. }) => {
            assert!(message.contains("follows"), "{message}");
        }
        other => panic!("a follower answered a service create with {other:?}"),
    }
    assert_eq!(
        follower.ctl().tenant_state(&tenant).unwrap().as_deref(),
        Some("active")
    );

    // The kill switch through the leader reaches the follower; a relink brings it back.
    stack.core().ctl().unlink_tenant(&tenant).unwrap();
    let delay = until_tenant(&follower, &tenant, "unlinked");
    eprintln!("unlink at the leader -> tenant unlinked on the follower: {delay:?}");
    assert_refused(&[&alice, &alice_at_two], &created[0].0);
    let l1 = stack.core().ctl().tenant_l1(&tenant).unwrap().unwrap();
    stack.core().ctl().link_tenant(&tenant, &l1).unwrap();
    let delay = until_tenant(&follower, &tenant, "active");
    eprintln!("relink at the leader -> tenant active on the follower: {delay:?}");
    assert_readable(&alice, &created);

    // The kill switch through the follower: unlinked there at once, carried out by the leader.
    follower.ctl().unlink_tenant(&tenant).unwrap();
    assert_eq!(
        follower.ctl().tenant_state(&tenant).unwrap().as_deref(),
        Some("unlinked")
    );
    let delay = until_tenant(stack.core(), &tenant, "unlinked");
    eprintln!("unlink at the follower -> tenant unlinked on the leader: {delay:?}");
    assert_refused(&[&alice, &alice_at_two], &created[0].0);
    let until_linked = Instant::now() + TAKEOVER_LIMIT;
    // Refused while the leader has not carried the unlink out yet.
    while stack.core().ctl().link_tenant(&tenant, &l1).is_err() {
        assert!(
            Instant::now() < until_linked,
            "the unlink is never carried out"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    until_tenant(&follower, &tenant, "active");
    assert_readable(&alice_at_two, &created);

    // The follower dies: the gateways pass it over, and every key reads through both; it comes
    // back by itself (the PKCS#11 seal) and follows again.
    sigkill(&follower);
    for app in [&alice, &alice_at_two] {
        assert_readable(app, &created);
        assert_readable(app, &created_at_two);
    }
    let _ = wait_for_exit(&mut follower, TAKEOVER_LIMIT);
    let mut follower = stack.start_another_core("core-2", follower_kmip).unwrap();
    wait_until_serving(&mut follower, &tenant);
    assert_eq!(role(&follower), json!("follows"));

    // The leader dies under load: the follower goes on serving, then leads.
    core_killed_under_load(&stack, Duration::from_secs(5), "the leader killed");
    for app in [&alice, &alice_at_two] {
        assert_readable(app, &created);
        assert_readable(app, &created_at_two);
    }
    let deadline = Instant::now() + TAKEOVER_LIMIT;
    while follower
        .ctl()
        .create_service(&tenant, "after-the-leader")
        .is_err()
    {
        assert!(Instant::now() < deadline, "the follower does not lead");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(role(&follower), json!("leads"));

    // The old leader, started again, follows. A gateway started now sends what only the
    // leader does to it first (the first core it lists): it refuses, having done nothing, and
    // the gateway sends the request on to the leader.
    stack.launch_core().unwrap();
    suite::wait_for_tenant(&stack, "active", TAKEOVER_LIMIT);
    assert_eq!(role(stack.core()), json!("follows"));
    stack.restart_gateway().unwrap();
    let registered = alice.run(&json!([{"op": "register_secret", "value": "0011223344"}]));
    let secret = ok(&registered[0]).as_str().unwrap().to_owned();
    let read = alice_at_two.run(&json!([{"op": "get", "uid": secret}]));
    assert!(read[0].to_string().contains("0011223344"), "{}", read[0]);
    let old_leader = stack.core_telemetry().unwrap();
    // The gateway's re-wrap report may have been the first such request.
    let refused = answered(old_leader, "Register", "GeneralFailure")
        + answered(old_leader, "RewrapReport", "GeneralFailure");
    assert!(refused >= 1.0, "the follower refused nothing");
    assert_eq!(answered(old_leader, "Register", "Success"), 0.0);

    // Both cores appended to one audit chain.
    let verified = follower.ctl().audit_verify().unwrap();
    assert_eq!(verified["intact"], json!(true), "{verified}");

    // PostgreSQL goes away: both cores lose the store and stop, keys zeroized; nothing serves.
    postgresql_gone(
        &mut server,
        &mut [&mut follower, stack.core_mut()],
        &alice,
        &created[0],
    );

    // PostgreSQL is back: the cores started again lead and follow, and serve every key through
    // both gateways.
    server.restart().unwrap();
    stack.launch_core().unwrap();
    suite::wait_for_tenant(&stack, "active", TAKEOVER_LIMIT);
    let mut follower = stack.start_another_core("core-2", follower_kmip).unwrap();
    wait_until_serving(&mut follower, &tenant);
    assert_eq!(role(stack.core()), json!("leads"));
    assert_eq!(role(&follower), json!("follows"));
    for app in [&alice, &alice_at_two] {
        assert_readable(app, &created);
        assert_readable(app, &created_at_two);
    }
}
