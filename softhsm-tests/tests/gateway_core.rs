//! krypton-gateway in front of krypton-core, end to end: the real binaries brought up by
//! krypton-dev's `Stack` (SoftHSM2 L1, unsealed core, tenant and service L3, mutual TLS), driven
//! by PyKMIP as the application identities "app-alice" and "app-bob". Covers the full key
//! lifecycle, isolation between identities, the core going away and coming back, a gateway
//! restart on its RocksDB vault, and Register forwarded to the core's registry.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them). One SoftHSM2
//! token (made before any thread starts: its configuration is an environment variable) serves
//! every test; each test has its own data dir, ports and processes, stopped when it ends.

#![allow(clippy::unwrap_used)]

use std::process::{Command, ExitCode};

use krypton_dev::token::{self, HsmSetup};
use krypton_dev::{Stack, StackConfig};
use krypton_softhsm_tests::{debug_bin_dir, debug_binary, python};
use libtest_mimic::{Arguments, Trial};
use serde_json::{Value, json};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gateway_core/client.py");
const ALICE: &str = "app-alice";
const BOB: &str = "app-bob";

type Test = fn(&HsmSetup);

fn main() -> ExitCode {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: first thing main does after making a directory; no other thread exists yet.
    let hsm = match unsafe { token::prepare(&dir.path().join("softhsm")) } {
        Ok(hsm) => hsm,
        Err(e) => {
            eprintln!("cannot set up the SoftHSM2 token: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tests: [(&str, Test); 5] = [
        ("lifecycle_per_identity", lifecycle_per_identity),
        ("identities_are_isolated", identities_are_isolated),
        (
            "core_down_fails_closed_and_comes_back",
            core_down_fails_closed_and_comes_back,
        ),
        (
            "gateway_restart_keeps_every_key",
            gateway_restart_keeps_every_key,
        ),
        (
            "register_secret_data_is_forwarded_to_the_core",
            register_secret_data_is_forwarded_to_the_core,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let hsm = hsm.clone();
            Trial::test(name, move || {
                test(&hsm);
                Ok(())
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&Arguments::from_args(), trials);
    drop(dir);
    conclusion.exit_code()
}

/// A stack of its own: temporary data dir, free ports; stopped when dropped.
fn stack(hsm: &HsmSetup) -> Stack {
    for name in ["krypton-core", "kryptonctl", "krypton-gateway"] {
        debug_binary(name).unwrap_or_else(|message| panic!("{message}"));
    }
    Stack::start(StackConfig::new(&debug_bin_dir(), hsm.clone())).unwrap()
}

/// Runs `commands` (see client.py) as `app` on one connection; one result per command.
fn client(stack: &Stack, app: &str, commands: &Value) -> Vec<Value> {
    let pki = stack.pki();
    let (_, files) = pki.apps.iter().find(|(name, _)| name == app).unwrap();
    let addr = stack.gateway_addr();
    let output = Command::new(python())
        .arg(CLIENT)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(&files.cert)
        .arg(&files.key)
        .arg(&pki.ca)
        .arg(commands.to_string())
        .output()
        .expect("KRYPTON_PYTHON runs");
    assert!(
        output.status.success(),
        "PyKMIP {commands} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(results.len(), commands.as_array().unwrap().len());
    results
}

/// The result of a command that must have succeeded.
fn ok(result: &Value) -> &Value {
    result
        .get("ok")
        .unwrap_or_else(|| panic!("expected success: {result}"))
}

/// The KMIP Result Reason of a command that must have failed with a KMIP error.
fn reason(result: &Value) -> &str {
    result["error"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a KMIP error: {result}"))
}

/// Creates an AES-256 key named `name` as `app`; its id.
fn create(stack: &Stack, app: &str, name: &str) -> String {
    let results = client(stack, app, &json!([{"op": "create", "name": name}]));
    ok(&results[0]).as_str().unwrap().to_owned()
}

/// The key bytes `app` gets for `uid`, as hex.
fn get(stack: &Stack, app: &str, uid: &str) -> String {
    let results = client(stack, app, &json!([{"op": "get", "uid": uid}]));
    ok(&results[0])["value"].as_str().unwrap().to_owned()
}

fn lifecycle_per_identity(hsm: &HsmSetup) {
    let stack = stack(hsm);
    let mut keys = Vec::new();
    for app in [ALICE, BOB] {
        let name = format!("lifecycle-{app}");
        let uid = create(&stack, app, &name);
        let results = client(
            &stack,
            app,
            &json!([
                {"op": "activate", "uid": uid},
                {"op": "get", "uid": uid},
                {"op": "get_attributes", "uid": uid},
                {"op": "locate", "name": name},
                {"op": "revoke", "uid": uid},
                {"op": "get", "uid": uid},
                {"op": "destroy", "uid": uid},
                {"op": "get", "uid": uid},
                {"op": "locate", "name": name},
            ]),
        );
        ok(&results[0]);
        let key = ok(&results[1]);
        assert_eq!(key["type"], "SYMMETRIC_KEY", "{key}");
        let value = key["value"].as_str().unwrap();
        assert_eq!(value.len(), 64, "32 key bytes: {key}");
        let attributes = ok(&results[2]);
        assert!(
            attributes["Cryptographic Algorithm"]
                .as_str()
                .is_some_and(|a| a.contains("AES")),
            "{attributes}"
        );
        assert_eq!(attributes["Cryptographic Length"], "256", "{attributes}");
        assert_eq!(attributes["Cryptographic Usage Mask"], "12", "{attributes}");
        assert!(
            attributes["Name"]
                .as_str()
                .is_some_and(|n| n.contains(&name)),
            "{attributes}"
        );
        assert_eq!(ok(&results[3]), &json!([uid]));
        ok(&results[4]);
        // A revoked (Deactivated) key can still be read: old data stays decryptable.
        assert_eq!(ok(&results[5])["value"], value);
        ok(&results[6]);
        let refused = reason(&results[7]);
        assert!(
            ["ITEM_NOT_FOUND", "PERMISSION_DENIED", "OBJECT_DESTROYED"].contains(&refused),
            "Get after Destroy: {}",
            results[7]
        );
        // Locate without a Storage Status Mask finds only live keys.
        assert_eq!(ok(&results[8]), &json!([]));
        keys.push(value.to_owned());
    }
    assert_ne!(keys[0], keys[1]);
}

fn identities_are_isolated(hsm: &HsmSetup) {
    let stack = stack(hsm);
    let name = "alice-only";
    let uid = create(&stack, ALICE, name);
    let key = get(&stack, ALICE, &uid);
    let results = client(
        &stack,
        BOB,
        &json!([
            {"op": "get", "uid": uid},
            {"op": "get_attributes", "uid": uid},
            {"op": "locate", "name": name},
            {"op": "activate", "uid": uid},
            {"op": "revoke", "uid": uid},
            {"op": "destroy", "uid": uid},
        ]),
    );
    for (i, result) in results.iter().enumerate() {
        if i == 2 {
            assert_eq!(ok(result), &json!([]), "Bob locates Alice's key");
            continue;
        }
        assert!(
            ["ITEM_NOT_FOUND", "PERMISSION_DENIED"].contains(&reason(result)),
            "Bob's command {i} on Alice's key: {result}"
        );
        assert!(!result.to_string().contains(&key), "{result}");
    }
    // Alice's key is untouched: still Pre-Active, still hers.
    assert_eq!(get(&stack, ALICE, &uid), key);
    let results = client(&stack, ALICE, &json!([{"op": "destroy", "uid": uid}]));
    ok(&results[0]);
}

fn core_down_fails_closed_and_comes_back(hsm: &HsmSetup) {
    let mut stack = stack(hsm);
    let uid = create(&stack, ALICE, "survives-the-core");
    let key = get(&stack, ALICE, &uid);
    let results = client(&stack, ALICE, &json!([{"op": "activate", "uid": uid}]));
    ok(&results[0]);

    stack.stop_core().unwrap();
    let results = client(
        &stack,
        ALICE,
        &json!([
            {"op": "create", "name": "while-the-core-is-down"},
            {"op": "get", "uid": uid},
            {"op": "revoke", "uid": uid},
            {"op": "destroy", "uid": uid},
        ]),
    );
    for result in &results[..2] {
        assert_eq!(reason(result), "GENERAL_FAILURE", "{result}");
        assert!(
            result["message"]
                .as_str()
                .is_some_and(|m| m.contains("unreachable")),
            "{result}"
        );
        assert!(!result.to_string().contains(&key), "{result}");
    }
    ok(&results[2]);
    ok(&results[3]);
    // The failed Create stored nothing.
    let results = client(
        &stack,
        ALICE,
        &json!([{"op": "locate", "name": "while-the-core-is-down"}]),
    );
    // Locate fails rather than answer from the vault alone.
    assert_eq!(reason(&results[0]), "GENERAL_FAILURE", "{}", results[0]);

    stack.restart_core().unwrap();
    let results = client(
        &stack,
        ALICE,
        &json!([{"op": "locate", "name": "while-the-core-is-down"}]),
    );
    assert_eq!(ok(&results[0]), &json!([]));
    let uid = create(&stack, ALICE, "after-the-core-came-back");
    assert_eq!(get(&stack, ALICE, &uid).len(), 64);
}

fn gateway_restart_keeps_every_key(hsm: &HsmSetup) {
    let mut stack = stack(hsm);
    let mut keys = Vec::new();
    for (i, app) in [ALICE, BOB, ALICE].into_iter().enumerate() {
        let uid = create(&stack, app, &format!("kept-{i}"));
        let key = get(&stack, app, &uid);
        keys.push((app, uid, key));
    }
    let stopped = stack.restart_gateway().unwrap();
    assert!(
        stopped.is_some_and(|status| status.success()),
        "{stopped:?}"
    );
    for (app, uid, key) in &keys {
        assert_eq!(&get(&stack, app, uid), key, "{app}'s {uid}");
    }
}

fn register_secret_data_is_forwarded_to_the_core(hsm: &HsmSetup) {
    let stack = stack(hsm);
    let secret = "6b727970746f6e2d7365637265742d64617461";
    let results = client(
        &stack,
        ALICE,
        &json!([{"op": "register_secret", "value": secret}]),
    );
    let uid = ok(&results[0]).as_str().unwrap().to_owned();
    let results = client(&stack, ALICE, &json!([{"op": "get", "uid": uid}]));
    let object = ok(&results[0]);
    assert_eq!(object["type"], "SECRET_DATA", "{object}");
    assert_eq!(object["value"], secret);
    let results = client(&stack, BOB, &json!([{"op": "get", "uid": uid}]));
    assert!(
        ["ITEM_NOT_FOUND", "PERMISSION_DENIED"].contains(&reason(&results[0])),
        "{}",
        results[0]
    );
}
