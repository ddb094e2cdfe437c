//! krypton-gateway in front of krypton-core, end to end: the real binaries brought up by
//! krypton-dev's `Stack` (SoftHSM2 L1, unsealed core, tenant and service L3, mutual TLS), driven
//! by PyKMIP as the application identities "app-alice" and "app-bob". Covers the full key
//! lifecycle, isolation between identities, the core going away and coming back, a gateway
//! restart on its RocksDB vault, Register forwarded to the core's registry, and what both
//! daemons' telemetry says about it.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::process::ExitCode;

use krypton_dev::http::{self, scrape, value};
use krypton_softhsm_tests::pykmip::{App, ok, reason};
use krypton_softhsm_tests::suite::{self, Fixture, Test};
use prometheus_parse::Value;
use serde_json::json;

const ALICE: &str = "app-alice";
const BOB: &str = "app-bob";

const TESTS: [(&str, Test); 6] = [
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
    (
        "both_daemons_report_the_work_on_their_telemetry",
        both_daemons_report_the_work_on_their_telemetry,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

fn lifecycle_per_identity(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut keys = Vec::new();
    for app in [ALICE, BOB] {
        let name = format!("lifecycle-{app}");
        let uid = App::of(&stack, app).create(&name);
        let results = App::of(&stack, app).run(&json!([
            {"op": "activate", "uid": uid},
            {"op": "get", "uid": uid},
            {"op": "get_attributes", "uid": uid},
            {"op": "locate", "name": name},
            {"op": "revoke", "uid": uid},
            {"op": "get", "uid": uid},
            {"op": "destroy", "uid": uid},
            {"op": "get", "uid": uid},
            {"op": "locate", "name": name},
        ]));
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

fn identities_are_isolated(fixture: &Fixture) {
    let stack = fixture.stack();
    let name = "alice-only";
    let uid = App::of(&stack, ALICE).create(name);
    let key = App::of(&stack, ALICE).get(&uid);
    let results = App::of(&stack, BOB).run(&json!([
        {"op": "get", "uid": uid},
        {"op": "get_attributes", "uid": uid},
        {"op": "locate", "name": name},
        {"op": "activate", "uid": uid},
        {"op": "revoke", "uid": uid},
        {"op": "destroy", "uid": uid},
    ]));
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
    assert_eq!(App::of(&stack, ALICE).get(&uid), key);
    let results = App::of(&stack, ALICE).run(&json!([{"op": "destroy", "uid": uid}]));
    ok(&results[0]);
}

fn core_down_fails_closed_and_comes_back(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let uid = App::of(&stack, ALICE).create("survives-the-core");
    let key = App::of(&stack, ALICE).get(&uid);
    let results = App::of(&stack, ALICE).run(&json!([{"op": "activate", "uid": uid}]));
    ok(&results[0]);

    stack.stop_core().unwrap();
    let results = App::of(&stack, ALICE).run(&json!([
        {"op": "create", "name": "while-the-core-is-down"},
        {"op": "get", "uid": uid},
        {"op": "revoke", "uid": uid},
        {"op": "destroy", "uid": uid},
    ]));
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
    let results =
        App::of(&stack, ALICE).run(&json!([{"op": "locate", "name": "while-the-core-is-down"}]));
    // Locate fails rather than answer from the vault alone.
    assert_eq!(reason(&results[0]), "GENERAL_FAILURE", "{}", results[0]);

    stack.restart_core().unwrap();
    let results =
        App::of(&stack, ALICE).run(&json!([{"op": "locate", "name": "while-the-core-is-down"}]));
    assert_eq!(ok(&results[0]), &json!([]));
    let uid = App::of(&stack, ALICE).create("after-the-core-came-back");
    assert_eq!(App::of(&stack, ALICE).get(&uid).len(), 64);
}

fn gateway_restart_keeps_every_key(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let mut keys = Vec::new();
    for (i, app) in [ALICE, BOB, ALICE].into_iter().enumerate() {
        let uid = App::of(&stack, app).create(&format!("kept-{i}"));
        let key = App::of(&stack, app).get(&uid);
        keys.push((app, uid, key));
    }
    let stopped = stack.restart_gateway().unwrap();
    assert!(
        stopped.is_some_and(|status| status.success()),
        "{stopped:?}"
    );
    for (app, uid, key) in &keys {
        assert_eq!(&App::of(&stack, app).get(uid), key, "{app}'s {uid}");
    }
}

fn register_secret_data_is_forwarded_to_the_core(fixture: &Fixture) {
    let stack = fixture.stack();
    let secret = "6b727970746f6e2d7365637265742d64617461";
    let results = App::of(&stack, ALICE).run(&json!([{"op": "register_secret", "value": secret}]));
    let uid = ok(&results[0]).as_str().unwrap().to_owned();
    let results = App::of(&stack, ALICE).run(&json!([{"op": "get", "uid": uid}]));
    let object = ok(&results[0]);
    assert_eq!(object["type"], "SECRET_DATA", "{object}");
    assert_eq!(object["value"], secret);
    let results = App::of(&stack, BOB).run(&json!([{"op": "get", "uid": uid}]));
    assert!(
        ["ITEM_NOT_FOUND", "PERMISSION_DENIED"].contains(&reason(&results[0])),
        "{}",
        results[0]
    );
}

/// A Create and a Get through the gateway, seen on both telemetry listeners: the gateway's KMIP
/// requests, vault calls and core-link calls; the core's wraps, its HSM work, its one active
/// tenant and its lifecycle state; and every metric the Grafana dashboard queries.
fn both_daemons_report_the_work_on_their_telemetry(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("measured");
    assert_eq!(alice.get(&uid).len(), 64);
    assert_eq!(
        http::readiness(stack.gateway_telemetry().unwrap()).unwrap(),
        Ok(())
    );
    assert_eq!(
        http::readiness(stack.core_telemetry().unwrap()).unwrap(),
        Ok(())
    );

    let gateway = scrape(stack.gateway_telemetry().unwrap()).unwrap();
    for operation in ["Create", "Get"] {
        assert!(
            value(
                &gateway,
                "kmip_requests_total",
                &[("operation", operation), ("result", "Success")]
            ) >= Some(1.0),
            "{operation}"
        );
    }
    let vault_creates = &[("backend", "rocksdb"), ("call", "create")];
    assert!(value(&gateway, "krypton_vault_duration_seconds", vault_creates) >= Some(1.0));
    assert_eq!(value(&gateway, "krypton_vault_errors_total", &[]), None);
    assert!(
        value(
            &gateway,
            "krypton_core_link_calls_total",
            &[("result", "answered")]
        ) >= Some(2.0),
        "a wrap and an unwrap"
    );

    let core = scrape(stack.core_telemetry().unwrap()).unwrap();
    for operation in ["Encrypt", "Decrypt"] {
        assert!(
            value(
                &core,
                "kmip_requests_total",
                &[("operation", operation), ("result", "Success")]
            ) >= Some(1.0),
            "{operation}"
        );
    }
    assert_eq!(
        value(&core, "krypton_core_state", &[("state", "unsealed")]),
        Some(1.0)
    );
    assert_eq!(
        value(&core, "krypton_core_tenants", &[("state", "active")]),
        Some(1.0)
    );
    // Linking the tenant and opening its L2 went through the HSM, and nothing failed there.
    let hsm_work: f64 = core
        .iter()
        .filter(|sample| sample.metric == "krypton_hsm_duration_seconds")
        .filter_map(|sample| match &sample.value {
            Value::Histogram(buckets) => buckets.last().map(|bucket| bucket.count),
            _ => None,
        })
        .sum();
    assert!(hsm_work >= 1.0, "{core:?}");
    assert_eq!(value(&core, "krypton_hsm_failures_total", &[]), None);

    // Every metric the packaged Grafana dashboard queries is one the daemons export: seen in
    // these scrapes, or a counter of failures, which appears with the first one.
    let exported: HashSet<&str> = gateway
        .iter()
        .chain(&core)
        .map(|sample| sample.metric.as_str())
        .collect();
    for metric in dashboard_metrics() {
        assert!(
            exported.contains(metric.as_str()) || ONLY_ONCE_COUNTED.contains(&metric.as_str()),
            "the dashboard queries {metric}, which no daemon exports"
        );
    }
}

/// Counters that appear only once what they count has happened.
const ONLY_ONCE_COUNTED: [&str; 3] = [
    "kmip_connections_dropped_total",
    "krypton_vault_errors_total",
    "krypton_hsm_failures_total",
];

/// The metric names in the queries of `packaging/grafana/krypton.json` (a histogram's by its
/// own name, as Prometheus's parser gives it).
fn dashboard_metrics() -> HashSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/grafana/krypton.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut metrics = HashSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            metrics.extend(
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|word| word.starts_with("kmip_") || word.starts_with("krypton_"))
                    .map(|word| word.trim_end_matches("_bucket").to_owned()),
            );
        }
    }
    assert!(metrics.len() >= 10, "{metrics:?}");
    metrics
}
