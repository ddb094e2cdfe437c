//! krypton-gateway in front of krypton-core, end to end: the real binaries brought up by
//! krypton-dev's `Stack` (SoftHSM2 L1, unsealed core, tenant and service L3, mutual TLS), driven
//! by PyKMIP as the application identities "app-alice" and "app-bob". Covers the full key
//! lifecycle, isolation between identities, the core going away and coming back, a gateway
//! restart on its RocksDB vault, Register forwarded to the core's registry, what both
//! daemons' telemetry says about it, and the keys put to use without leaving (Encrypt, Decrypt,
//! MAC, MAC Verify; MongoDB's libmongocrypt; Sign and Signature Verify with the key pairs the
//! gateway makes and the keys applications register), keys derived from keys (Derive Key),
//! RNG Retrieve, and X.509 certificates registered, read back and located.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;

use kmip::net::{Client, ClientLimits, ClientTlsFiles, client_config};
use kmip::{
    Attribute, BlockCipherMode, CryptographicParameters, DecryptRequest, EncryptRequest,
    GetAttributesRequest, LinkType, MacVerifyRequest, ProtocolVersion, RequestBatchItem,
    RequestHeader, RequestMessage, ResponseMessage, ResponsePayload, RngRetrieveRequest,
    TypedRequest, ValidityIndicator,
};
use krypton_dev::Stack;
use krypton_dev::http::{self, scrape, value};
use krypton_dev::pki::SERVER_NAMES;
use krypton_softhsm_tests::pykmip::{App, message, ok, reason};
use krypton_softhsm_tests::suite::{self, Fixture, Test};
use prometheus_parse::Value;
use serde_json::json;

const ALICE: &str = "app-alice";
const BOB: &str = "app-bob";

const TESTS: [(&str, Test); 22] = [
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
    (
        "encrypt_and_decrypt_use_the_key_without_it_leaving",
        encrypt_and_decrypt_use_the_key_without_it_leaving,
    ),
    (
        "mongodb_client_side_encryption_keeps_its_keys_here_in_both_modes",
        mongodb_client_side_encryption_keeps_its_keys_here_in_both_modes,
    ),
    (
        "mac_and_random_bytes_come_from_the_gateway",
        mac_and_random_bytes_come_from_the_gateway,
    ),
    (
        "symmetric_keys_of_every_algorithm_at_their_lengths",
        symmetric_keys_of_every_algorithm_at_their_lengths,
    ),
    (
        "rekey_replaces_a_key_and_takes_its_name",
        rekey_replaces_a_key_and_takes_its_name,
    ),
    (
        "derive_key_makes_the_keys_pykmip_would",
        derive_key_makes_the_keys_pykmip_would,
    ),
    (
        "key_pairs_sign_here_and_their_signatures_verify_anywhere",
        key_pairs_sign_here_and_their_signatures_verify_anywhere,
    ),
    (
        "pykmip_at_1_4_and_2_0_runs_the_operations_end_to_end",
        pykmip_at_1_4_and_2_0_runs_the_operations_end_to_end,
    ),
    (
        "key_pairs_are_linked_located_and_retired_like_keys",
        key_pairs_are_linked_located_and_retired_like_keys,
    ),
    (
        "registered_keys_sign_here_and_their_signatures_verify_anywhere",
        registered_keys_sign_here_and_their_signatures_verify_anywhere,
    ),
    (
        "transparent_keys_go_in_and_out_as_their_numbers",
        transparent_keys_go_in_and_out_as_their_numbers,
    ),
    (
        "transparent_keys_travel_wrapped_in_the_ttlv_encoding",
        transparent_keys_travel_wrapped_in_the_ttlv_encoding,
    ),
    (
        "certificates_are_registered_read_back_located_and_retired",
        certificates_are_registered_read_back_located_and_retired,
    ),
    (
        "rsa_oaep_encrypts_with_the_public_key_and_decrypts_with_the_private",
        rsa_oaep_encrypts_with_the_public_key_and_decrypts_with_the_private,
    ),
    (
        "get_returns_keys_wrapped_under_the_callers_keys",
        get_returns_keys_wrapped_under_the_callers_keys,
    ),
    (
        "register_unwraps_key_material_wrapped_under_the_callers_keys",
        register_unwraps_key_material_wrapped_under_the_callers_keys,
    ),
];

/// Runs `future` to its end on a runtime of its own: the tests are synchronous, the KMIP
/// client async.
fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

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

/// Encrypt and Decrypt at the gateway with Alice's key, which never leaves Krypton. CBC (PKCS#5
/// padding, an IV the server draws: MongoDB's delegated KMIP mode) and CTR through PyKMIP at
/// KMIP 1.2; GCM, whose tag PyKMIP does not carry, through Krypton's codec at 1.4. Every result
/// is checked against the `cryptography` package's AES with the key read back by Get. Bob
/// cannot use Alice's key; once revoked, the key decrypts but no longer encrypts.
fn encrypt_and_decrypt_use_the_key_without_it_leaving(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("encrypts-here");
    ok(&alice.run(&json!([{"op": "activate", "uid": uid}]))[0]);
    let key = alice.get(&uid);
    // A data key as MongoDB's delegated mode sends one: 96 bytes.
    let plain: String = (0..96u8).map(|byte| format!("{byte:02x}")).collect();
    let counter = "f0".repeat(16);
    let results = alice.run(&json!([
        {"op": "encrypt", "uid": uid, "mode": "CBC", "data": plain, "random_iv": true},
        {"op": "encrypt", "uid": uid, "mode": "CTR", "data": plain, "iv": counter},
        {"op": "encrypt", "uid": uid, "mode": "ECB", "data": plain},
    ]));
    let cbc = ok(&results[0]);
    let (cbc_data, cbc_iv) = (text(&cbc["data"]), text(&cbc["iv"]));
    assert_eq!((cbc_data.len(), cbc_iv.len()), (2 * 112, 32), "{cbc}");
    let ctr = ok(&results[1]);
    assert!(
        ctr["iv"].is_null(),
        "the client's counter is not sent back: {ctr}"
    );
    let ctr_data = text(&ctr["data"]);
    // ECB without padding: whole blocks (96 bytes here), no IV.
    let ecb = ok(&results[2]);
    assert!(ecb["iv"].is_null(), "{ecb}");
    let ecb_data = text(&ecb["data"]);
    assert!(!results.iter().any(|r| r.to_string().contains(&key)));

    let (gcm_data, gcm_tag) = encrypt_gcm(&stack, &uid, &plain);
    let checks = alice.run(&json!([
        {"op": "aes", "key": key, "mode": "CBC", "iv": cbc_iv, "data": cbc_data, "decrypt": true},
        {"op": "aes", "key": key, "mode": "CTR", "iv": counter, "data": plain},
        {"op": "aes", "key": key, "mode": "GCM", "iv": GCM_NONCE, "data": gcm_data,
         "tag": gcm_tag, "aad": GCM_AAD, "decrypt": true},
        {"op": "decrypt", "uid": uid, "mode": "CBC", "data": cbc_data, "iv": cbc_iv},
        {"op": "decrypt", "uid": uid, "mode": "CTR", "data": ctr_data, "iv": counter},
        // A wrong IV garbles the first block; a truncated ciphertext does not decrypt.
        {"op": "decrypt", "uid": uid, "mode": "CBC", "data": cbc_data, "iv": "00".repeat(16)},
        {"op": "decrypt", "uid": uid, "mode": "CBC", "data": &cbc_data[2..], "iv": cbc_iv},
        {"op": "aes", "key": key, "mode": "ECB", "data": ecb_data, "decrypt": true},
        {"op": "decrypt", "uid": uid, "mode": "ECB", "data": ecb_data},
    ]));
    // The key wraps: RFC 3394 over whole semiblocks, RFC 5649 over any length (21 bytes here).
    let odd = &plain[..42];
    let wraps = alice.run(&json!([
        {"op": "encrypt", "uid": uid, "mode": "NIST_KEY_WRAP", "data": plain},
        {"op": "encrypt", "uid": uid, "mode": "AES_KEY_WRAP_PADDING", "data": odd},
        {"op": "encrypt", "uid": uid, "mode": "NIST_KEY_WRAP", "data": odd},
    ]));
    let (kw, kwp) = (ok(&wraps[0]), ok(&wraps[1]));
    assert!(kw["iv"].is_null() && kwp["iv"].is_null(), "{kw} {kwp}");
    let (kw_data, kwp_data) = (text(&kw["data"]), text(&kwp["data"]));
    assert_eq!(reason(&wraps[2]), "INVALID_FIELD", "{}", wraps[2]);
    let unwraps = alice.run(&json!([
        {"op": "aes", "key": key, "mode": "NIST_KEY_WRAP", "data": kw_data, "decrypt": true},
        {"op": "aes", "key": key, "mode": "AES_KEY_WRAP_PADDING", "data": kwp_data,
         "decrypt": true},
        {"op": "decrypt", "uid": uid, "mode": "NIST_KEY_WRAP", "data": kw_data},
        {"op": "decrypt", "uid": uid, "mode": "AES_KEY_WRAP_PADDING", "data": kwp_data},
        // A wrap changed by one bit fails its integrity check.
        {"op": "decrypt", "uid": uid, "mode": "NIST_KEY_WRAP",
         "data": format!("{}{}", if kw_data.starts_with('0') { "1" } else { "0" }, &kw_data[1..])},
    ]));
    assert_eq!(ok(&unwraps[0]), &json!(plain), "the server's RFC 3394 wrap");
    assert_eq!(ok(&unwraps[1]), &json!(odd), "the server's RFC 5649 wrap");
    assert_eq!(ok(&unwraps[2]), &json!(plain));
    assert_eq!(ok(&unwraps[3]), &json!(odd));
    assert_eq!(
        reason(&unwraps[4]),
        "CRYPTOGRAPHIC_FAILURE",
        "{}",
        unwraps[4]
    );

    assert_eq!(ok(&checks[0]), &json!(plain), "the server's CBC");
    assert_eq!(ok(&checks[1]), &json!(ctr_data), "the server's CTR");
    assert_eq!(ok(&checks[2]), &json!(plain), "the server's GCM");
    assert_eq!(ok(&checks[3]), &json!(plain));
    assert_eq!(ok(&checks[4]), &json!(plain));
    assert_ne!(ok(&checks[5]), &json!(plain));
    assert_eq!(reason(&checks[6]), "CRYPTOGRAPHIC_FAILURE", "{}", checks[6]);
    assert_eq!(ok(&checks[7]), &json!(plain), "the server's ECB");
    assert_eq!(ok(&checks[8]), &json!(plain));

    // A key the application registers encrypts here like a made one.
    let registered = "5a".repeat(32);
    let results = alice.run(&json!([
        {"op": "register_key", "value": registered, "usage": ["ENCRYPT", "DECRYPT"]},
    ]));
    let registered_uid = text(ok(&results[0])).to_owned();
    let results = alice.run(&json!([
        {"op": "activate", "uid": registered_uid},
        {"op": "encrypt", "uid": registered_uid, "mode": "CBC", "data": plain, "iv": counter},
    ]));
    let sealed = ok(&results[1]);
    let check = alice.run(&json!([
        {"op": "aes", "key": registered, "mode": "CBC", "iv": counter, "data": sealed["data"],
         "decrypt": true},
    ]));
    assert_eq!(ok(&check[0]), &json!(plain), "CBC under the registered key");

    // Bob is told exactly what he is told of a key that does not exist: not one of his, so
    // the request goes on to the core's registry, which holds no key of that name he owns.
    let bob = App::of(&stack, BOB).run(&json!([
        {"op": "encrypt", "uid": uid, "mode": "CBC", "data": plain, "random_iv": true},
        {"op": "decrypt", "uid": uid, "mode": "CBC", "data": cbc_data, "iv": cbc_iv},
        {"op": "encrypt", "uid": "no-such-key", "mode": "CBC", "data": plain, "random_iv": true},
        {"op": "decrypt", "uid": "no-such-key", "mode": "CBC", "data": cbc_data, "iv": cbc_iv},
    ]));
    for (result, nothing) in bob[..2].iter().zip(&bob[2..]) {
        assert!(
            result.get("error").is_some(),
            "Bob with Alice's key: {result}"
        );
        assert_eq!(result, nothing, "Bob with Alice's key, and with none");
        assert!(!result.to_string().contains(&plain), "{result}");
    }

    let results = alice.run(&json!([
        {"op": "revoke", "uid": uid},
        {"op": "encrypt", "uid": uid, "mode": "CBC", "data": plain, "random_iv": true},
        {"op": "decrypt", "uid": uid, "mode": "CBC", "data": cbc_data, "iv": cbc_iv},
    ]));
    ok(&results[0]);
    assert_eq!(reason(&results[1]), "PERMISSION_DENIED", "{}", results[1]);
    assert_eq!(
        ok(&results[2]),
        &json!(plain),
        "a revoked key decrypts what it protected"
    );
}

/// MongoDB's client-side encryption (libmongocrypt, from PyPI's pymongocrypt) with the gateway
/// as its KMIP key manager, as a driver would use it, without a mongod: in the default mode its
/// master key is a Secret Data it registers (forwarded to the core's registry) and later Gets;
/// in the delegated mode an AES-256 key the gateway creates, and the data key is encrypted and
/// decrypted by the gateway (AES-CBC), the master key never leaving. Each time a value encrypted
/// with the data key is decrypted by a second libmongocrypt, which opens the data key through
/// the gateway again.
fn mongodb_client_side_encryption_keeps_its_keys_here_in_both_modes(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    for mode in ["default", "delegated"] {
        let report = alice.mongocrypt(mode);
        assert_eq!(report["value_back"], true, "{mode}: {report}");
        assert!(
            report["requests_to_open_it_again"].as_u64() >= Some(1),
            "{mode}: {report}"
        );
        let master_key = &report["master_key"];
        assert_eq!(master_key["provider"], "kmip", "{report}");
        assert_eq!(
            master_key["delegated"].as_bool().unwrap_or(false),
            mode == "delegated",
            "{report}"
        );
        let uid = text(&master_key["keyId"]);
        let results = alice.run(&json!([{"op": "get_attributes", "uid": uid}]));
        let attributes = ok(&results[0]);
        let expected_type = if mode == "delegated" {
            "SYMMETRIC_KEY"
        } else {
            "SECRET_DATA"
        };
        assert!(
            attributes["Object Type"]
                .as_str()
                .is_some_and(|t| t.contains(expected_type)),
            "{mode}: {attributes}"
        );
        assert!(
            attributes["State"]
                .as_str()
                .is_some_and(|s| s.contains("ACTIVE")),
            "{mode}: {attributes}"
        );
        // Bob cannot use Alice's master key.
        let results = App::of(&stack, BOB).run(&json!([{"op": "get", "uid": uid}]));
        assert!(
            ["ITEM_NOT_FOUND", "PERMISSION_DENIED"].contains(&reason(&results[0])),
            "{}",
            results[0]
        );
    }
}

/// An HMAC-SHA256 key made by the gateway MACs through PyKMIP (checked against Python's hmac
/// with the key read back by Get) and verifies through Krypton's codec, which PyKMIP's client
/// cannot ask; Bob cannot use it. RNG Retrieve gives fresh bytes each time.
fn mac_and_random_bytes_come_from_the_gateway(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let results = alice.run(&json!([{"op": "create", "name": "signs-tokens",
        "algorithm": "HMAC_SHA256", "usage": ["MAC_GENERATE", "MAC_VERIFY"]}]));
    let uid = text(ok(&results[0])).to_owned();
    ok(&alice.run(&json!([{"op": "activate", "uid": uid}]))[0]);
    let key = alice.get(&uid);
    let data = hex::encode(b"a session token");
    let results = alice.run(&json!([
        {"op": "mac", "uid": uid, "data": data},
        {"op": "hmac", "key": key, "data": data},
    ]));
    let mac = text(ok(&results[0])).to_owned();
    assert_eq!(mac.len(), 64);
    assert_eq!(ok(&results[1]), &json!(mac), "the server's HMAC-SHA256");

    block_on(async {
        let mut client = alice_client(&stack).await;
        let verify = |mac_data: Vec<u8>| MacVerifyRequest {
            unique_identifier: Some(uid.as_str().into()),
            cryptographic_parameters: None,
            data: b"a session token".to_vec().into(),
            mac_data,
        };
        let mut forged = hex::decode(&mac).unwrap();
        for (mac_data, expected) in [
            (hex::decode(&mac).unwrap(), ValidityIndicator::Valid),
            (forged[..16].to_vec(), ValidityIndicator::Invalid),
            (
                {
                    forged[31] ^= 1;
                    forged
                },
                ValidityIndicator::Invalid,
            ),
        ] {
            let Some(ResponsePayload::MacVerify(answer)) =
                call(&mut client, verify(mac_data)).await
            else {
                panic!("MAC Verify failed")
            };
            assert_eq!(answer.validity_indicator, expected);
        }
        let mut drawn = HashSet::new();
        for _ in 0..2 {
            let Some(ResponsePayload::RngRetrieve(random)) =
                call(&mut client, RngRetrieveRequest { data_length: 32 }).await
            else {
                panic!("RNG Retrieve failed")
            };
            assert_eq!(random.data.len(), 32);
            drawn.insert(random.data.to_vec());
        }
        assert_eq!(drawn.len(), 2, "fresh bytes each time");
    });

    assert_bob_is_told_nothing(&stack, json!({"op": "mac", "uid": uid, "data": data}));
}

/// PyKMIP creates keys of the symmetric algorithms it names, at their lengths, and reads them
/// back at that length; a single-DES key and a 3DES key of 64 bits are refused.
fn symmetric_keys_of_every_algorithm_at_their_lengths(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let made = [
        ("TRIPLE_DES", 192),
        ("CAMELLIA", 256),
        ("BLOWFISH", 128),
        ("CAST5", 128),
        ("IDEA", 128),
        ("RC4", 2048),
        ("CHACHA20", 256),
        ("HMAC_SHA512", 512),
    ];
    let commands: Vec<_> = made
        .iter()
        .map(|(algorithm, length)| {
            json!({"op": "create", "name": format!("made-{algorithm}"), "algorithm": algorithm,
                   "length": length})
        })
        .chain([
            json!({"op": "create", "name": "des", "algorithm": "DES", "length": 64}),
            json!({"op": "create", "name": "short", "algorithm": "TRIPLE_DES", "length": 64}),
        ])
        .collect();
    let results = alice.run(&json!(commands));
    for ((algorithm, length), result) in made.iter().zip(&results) {
        let uid = text(ok(result));
        ok(&alice.run(&json!([{"op": "activate", "uid": uid}]))[0]);
        assert_eq!(alice.get(uid).len(), length / 4, "{algorithm}");
    }
    for refused in &results[made.len()..] {
        assert_eq!(reason(refused), "INVALID_FIELD", "{refused}");
    }
}

/// Re-key through PyKMIP: the new key is another key of the same kind under the old one's name
/// (Locate finds it alone), the two linked both ways, active as the old one was; with an Offset
/// the next one waits for its activation date. A key replaced once is not re-keyed again, and
/// Bob is told of Alice's key what he is told of a key that does not exist.
fn rekey_replaces_a_key_and_takes_its_name(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let old = alice.create("rotating");
    ok(&alice.run(&json!([{"op": "activate", "uid": old}]))[0]);
    let results = alice.run(&json!([
        {"op": "rekey", "uid": old},
        {"op": "rekey", "uid": old},
        {"op": "locate", "name": "rotating"},
    ]));
    let new = text(ok(&results[0])).to_owned();
    assert_ne!(new, old);
    assert_eq!(reason(&results[1]), "INVALID_FIELD", "{}", results[1]);
    assert_eq!(ok(&results[2]), &json!([new]), "the name moved");
    assert_ne!(alice.get(&new), alice.get(&old));
    // PyKMIP cannot read a Link attribute back (its attribute factory has none): the links are
    // read with Krypton's codec below, the rest by name with PyKMIP.
    let names = ["State", "Cryptographic Length", "Name"];
    let results = alice.run(&json!([
        {"op": "get_attributes", "uid": new, "names": names},
        {"op": "get_attributes", "uid": old, "names": names},
        {"op": "rekey", "uid": new, "offset": 3600},
    ]));
    let (new_attributes, old_attributes) = (ok(&results[0]), ok(&results[1]));
    assert!(old_attributes.get("Name").is_none(), "{old_attributes}");
    assert!(new_attributes.get("Name").is_some(), "{new_attributes}");
    for attributes in [new_attributes, old_attributes] {
        assert_eq!(text(&attributes["State"]), "State.ACTIVE", "{attributes}");
        assert_eq!(
            text(&attributes["Cryptographic Length"]),
            "256",
            "{attributes}"
        );
    }
    let links = |uid: &str| links(&stack, uid);
    assert_eq!(
        links(&old),
        [(LinkType::ReplacementObjectLink, new.clone())]
    );
    let next = text(ok(&results[2])).to_owned();
    assert_eq!(
        links(&new),
        [
            (LinkType::ReplacedObjectLink, old.clone()),
            (LinkType::ReplacementObjectLink, next.clone())
        ]
    );
    let results = alice.run(&json!([{"op": "get_attributes", "uid": next, "names": names}]));
    let next_attributes = ok(&results[0]);
    assert_eq!(
        text(&next_attributes["State"]),
        "State.PRE_ACTIVE",
        "an Offset of an hour: {next_attributes}"
    );

    assert_bob_is_told_nothing(&stack, json!({"op": "rekey", "uid": next}));
}

/// Creates a key pair as Alice through PyKMIP and activates both halves: (private, public).
/// The links of Alice's object `uid`, read with Krypton's codec: PyKMIP cannot read a Link
/// attribute back (its attribute factory has none).
fn links(stack: &Stack, uid: &str) -> Vec<(LinkType, String)> {
    let request = GetAttributesRequest {
        unique_identifier: Some(uid.into()),
        attribute_references: Vec::new(),
    };
    let Some(ResponsePayload::GetAttributes(answer)) =
        block_on(async { call(&mut alice_client(stack).await, request).await })
    else {
        panic!("Get Attributes of {uid} failed")
    };
    answer
        .attributes
        .into_iter()
        .filter_map(|attribute| match attribute {
            Attribute::Link(link) => Some((link.link_type, link.linked_object_identifier)),
            _ => None,
        })
        .collect()
}

/// Derive Key through PyKMIP from an Active AES key whose usage mask allows it: each method
/// (PBKDF2, HMAC, NIST 800-108 counter mode, Hash, Encrypt) makes a new key whose bytes, read
/// back with Get, are those the `cryptography` package and PyKMIP's own server engine derive
/// from the base key's; the new key is Pre-Active, of the algorithm and length asked, and
/// linked to its base; so is the key Krypton's codec derives by HKDF at KMIP 2.0. A base whose
/// mask does not allow Derive Key, an absurd iteration count and a method that is not offered
/// are refused; Bob is told of Alice's key what he is told of none.
fn derive_key_makes_the_keys_pykmip_would(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let results = alice.run(&json!([
        {"op": "create", "name": "derives", "usage": ["DERIVE_KEY"]},
        {"op": "create", "name": "encrypts-only"},
    ]));
    let base = text(ok(&results[0])).to_owned();
    let encrypts = text(ok(&results[1])).to_owned();
    for result in alice.run(&json!([
        {"op": "activate", "uid": base},
        {"op": "activate", "uid": encrypts},
    ])) {
        ok(&result);
    }
    let key = alice.get(&base);
    let data = hex::encode(b"payments/2026");
    let salt = hex::encode(b"NaCl-and-pepper!");
    let iv = "000102030405060708090a0b0c0d0e0f";
    let sha = |name: &str| json!({"hashing_algorithm": name});
    let derivations = [
        json!({"method": "PBKDF2", "params": sha("SHA_256"), "salt": salt, "iterations": 4096,
               "algorithm": "AES", "length": 256}),
        json!({"method": "PBKDF2", "params": sha("SHA_1"), "salt": salt, "iterations": 1000,
               "algorithm": "AES", "length": 128}),
        json!({"method": "HMAC", "params": sha("SHA_512"), "salt": salt, "data": data,
               "algorithm": "HMAC_SHA512", "length": 512}),
        json!({"method": "HMAC", "params": sha("SHA_256"), "algorithm": "AES", "length": 192}),
        json!({"method": "NIST800_108_C", "params": sha("SHA_384"), "data": data,
               "algorithm": "AES", "length": 256}),
        json!({"method": "HASH", "params": sha("SHA_256"), "algorithm": "AES", "length": 128}),
        json!({"method": "ENCRYPT", "params": {"cryptographic_algorithm": "AES",
               "block_cipher_mode": "CBC", "padding_method": "PKCS5"}, "iv": iv,
               "data": hex::encode([7u8; 32]), "algorithm": "AES", "length": 256}),
        json!({"method": "ENCRYPT", "params": {"block_cipher_mode": "CTR"}, "iv": iv,
               "data": hex::encode(b"payments/2026/orders"), "algorithm": "HMAC_SHA256",
               "length": 160}),
    ];
    let mut commands = Vec::new();
    for derivation in &derivations {
        let mut derive = derivation.clone();
        derive["op"] = json!("derive");
        derive["uid"] = json!(base);
        derive["usage"] = json!(["ENCRYPT", "DECRYPT"]);
        let mut kdf = derivation.clone();
        kdf["op"] = json!("kdf");
        kdf["key"] = json!(key);
        kdf["bytes"] = json!(derivation["length"].as_u64().unwrap() / 8);
        commands.extend([derive, kdf]);
    }
    let results = alice.run(&json!(commands));
    let names = ["State", "Cryptographic Algorithm", "Cryptographic Length"];
    for (derivation, pair) in derivations.iter().zip(results.chunks(2)) {
        let uid = text(ok(&pair[0]));
        let expected = text(ok(&pair[1]));
        assert_ne!(uid, base);
        let results = alice.run(&json!([
            {"op": "get_attributes", "uid": uid, "names": names},
            {"op": "activate", "uid": uid},
            {"op": "get", "uid": uid},
        ]));
        let attributes = ok(&results[0]);
        assert_eq!(
            text(&attributes["State"]),
            "State.PRE_ACTIVE",
            "{attributes}"
        );
        assert_eq!(
            attributes["Cryptographic Algorithm"],
            json!(format!(
                "CryptographicAlgorithm.{}",
                text(&derivation["algorithm"])
            )),
        );
        assert_eq!(
            attributes["Cryptographic Length"],
            json!(derivation["length"].to_string()),
        );
        ok(&results[1]);
        assert_eq!(text(&ok(&results[2])["value"]), expected, "{derivation}");
        assert_eq!(
            links(&stack, uid),
            [(LinkType::DerivationBaseObjectLink, base.clone())]
        );
    }

    let hmac = json!({"op": "derive", "uid": base, "method": "HMAC", "params": sha("SHA_256"),
                      "data": data, "algorithm": "AES", "length": 256});
    let mut unmasked = hmac.clone();
    unmasked["uid"] = json!(encrypts);
    let mut endless = hmac.clone();
    endless["method"] = json!("PBKDF2");
    endless["salt"] = json!(salt);
    endless["iterations"] = json!(10_000_001);
    let mut feedback = hmac.clone();
    feedback["method"] = json!("NIST800_108_F");
    let results = alice.run(&json!([unmasked, endless, feedback]));
    // *Incompatible Cryptographic Usage Mask* is KMIP 2.0's: a 1.2 client is told *Permission
    // Denied*.
    assert_eq!(reason(&results[0]), "PERMISSION_DENIED", "{}", results[0]);
    assert_eq!(reason(&results[1]), "INVALID_FIELD", "{}", results[1]);
    assert_eq!(reason(&results[2]), "INVALID_FIELD", "{}", results[2]);

    // KMIP 2.0 through Krypton's codec, by HKDF: 2.0's name for what PyKMIP's HMAC does.
    let expected = alice.run(&json!([{"op": "kdf", "method": "HMAC", "key": key,
        "params": sha("SHA_256"), "salt": salt, "data": data, "bytes": 32}]));
    let uid = derive_in_2_0(&stack, &base);
    ok(&alice.run(&json!([{"op": "activate", "uid": uid}]))[0]);
    assert_eq!(alice.get(&uid), text(ok(&expected[0])));
    assert_eq!(
        links(&stack, &uid),
        [(LinkType::DerivationBaseObjectLink, base.clone())]
    );

    assert_bob_is_told_nothing(&stack, hmac);
}

/// An AES-256 key derived from Alice's `base` by HKDF-SHA-256 at KMIP 2.0, with the Salt and
/// Derivation Data of [`derive_key_makes_the_keys_pykmip_would`]: its identifier.
fn derive_in_2_0(stack: &Stack, base: &str) -> String {
    use kmip::{
        CryptographicAlgorithm, CryptographicUsageMask, DerivationMethod, DerivationParameters,
        DeriveKeyRequest, HashingAlgorithm, ObjectType,
    };
    let request = DeriveKeyRequest {
        object_type: ObjectType::SymmetricKey,
        unique_identifiers: vec![base.into()],
        derivation_method: DerivationMethod::Hkdf,
        derivation_parameters: Box::new(DerivationParameters {
            cryptographic_parameters: Some(CryptographicParameters {
                hashing_algorithm: Some(HashingAlgorithm::Sha256),
                ..CryptographicParameters::default()
            }),
            derivation_data: Some(b"payments/2026".to_vec().into()),
            salt: Some(b"NaCl-and-pepper!".to_vec()),
            ..DerivationParameters::default()
        }),
        attributes: vec![
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
            Attribute::CryptographicLength(256),
            Attribute::CryptographicUsageMask(CryptographicUsageMask::ENCRYPT),
        ],
    };
    block_on(async {
        let mut client = alice_client(stack).await;
        let Some(ResponsePayload::DeriveKey(derived)) =
            call_in(&mut client, ProtocolVersion::V2_0, request).await
        else {
            panic!("Derive Key at 2.0 failed")
        };
        derived.unique_identifier
    })
}

fn active_key_pair(alice: &App, algorithm: &str, length: u32, name: &str) -> (String, String) {
    let results = alice.run(&json!([{"op": "create_key_pair", "algorithm": algorithm,
        "length": length, "name": name}]));
    let pair = ok(&results[0]);
    let (private, public) = (text(&pair["private"]), text(&pair["public"]));
    for result in alice.run(&json!([
        {"op": "activate", "uid": private},
        {"op": "activate", "uid": public},
    ])) {
        ok(&result);
    }
    (private.to_owned(), public.to_owned())
}

/// PyKMIP's `ProxyKmipClient` speaking KMIP 1.4 and 2.0 (the other tests speak its default,
/// 1.2) through the whole stack: Create, Activate, Get, Encrypt and Decrypt (CBC, checked by
/// the `cryptography` package), Create Key Pair, Sign and Signature Verify, Register of a
/// symmetric key used for Encrypt, Locate by name, MAC (HMAC-SHA256, checked by Python's
/// `hmac`), Re-key, Get with a Key Wrapping Specification (unwrapped by `cryptography`),
/// Register and Get of Secret Data (the core's registry), Revoke and Destroy — and a Get after
/// Destroy refused. (PyKMIP 0.11's Re-key at 2.0 carries a 1.x Template-Attribute, which the
/// codec takes there for the Attributes it stands for.)
fn pykmip_at_1_4_and_2_0_runs_the_operations_end_to_end(fixture: &Fixture) {
    let stack = fixture.stack();
    let plain = hex::encode(b"a record of forty-two bytes, more or less");
    let iv = "a5".repeat(16);
    for version in ["1.4", "2.0"] {
        let alice = App {
            kmip_version: Some(version),
            ..App::of(&stack, ALICE)
        };
        let name = format!("speaks-{version}");
        let results = alice.run(&json!([
            {"op": "create", "name": name},
            {"op": "register_key", "value": "3c".repeat(32), "usage": ["ENCRYPT", "DECRYPT"]},
        ]));
        let (uid, registered) = (text(ok(&results[0])), text(ok(&results[1])));
        let results = alice.run(&json!([
            {"op": "activate", "uid": uid},
            {"op": "activate", "uid": registered},
            {"op": "get", "uid": uid},
            {"op": "encrypt", "uid": uid, "mode": "CBC", "data": plain, "iv": iv},
            {"op": "encrypt", "uid": registered, "mode": "CBC", "data": plain, "iv": iv},
            {"op": "locate", "name": name},
        ]));
        for result in &results[..2] {
            ok(result);
        }
        let key = text(&ok(&results[2])["value"]).to_owned();
        let sealed = text(&ok(&results[3])["data"]).to_owned();
        let registered_sealed = text(&ok(&results[4])["data"]).to_owned();
        assert_eq!(ok(&results[5]), &json!([uid]), "at {version}");
        let checks = alice.run(&json!([
            {"op": "aes", "key": key, "mode": "CBC", "iv": iv, "data": sealed, "decrypt": true},
            {"op": "aes", "key": "3c".repeat(32), "mode": "CBC", "iv": iv,
             "data": registered_sealed, "decrypt": true},
            {"op": "decrypt", "uid": uid, "mode": "CBC", "data": sealed, "iv": iv},
        ]));
        for check in &checks {
            assert_eq!(ok(check), &json!(plain), "at {version}");
        }

        let (private, public) = active_key_pair(&alice, "ECDSA", 256, &format!("pair-{version}"));
        let results = alice.run(&json!([{"op": "sign", "uid": private, "data": plain}]));
        let signature = text(ok(&results[0])).to_owned();
        let results = alice.run(&json!([
            {"op": "verify", "uid": public, "data": plain, "signature": signature},
        ]));
        assert_eq!(ok(&results[0]), &json!("VALID"), "at {version}");

        // MAC, Re-key, a key returned wrapped, and the core's registry (Secret Data).
        let results = alice.run(&json!([
            {"op": "create", "name": format!("mac-{version}"), "algorithm": "HMAC_SHA256",
                "usage": ["MAC_GENERATE", "MAC_VERIFY"]},
            {"op": "create", "name": format!("kek-{version}"), "usage": ["WRAP_KEY"]},
            {"op": "register_secret", "value": "70617373776f7264"},
            {"op": "rekey", "uid": registered},
        ]));
        let (mac_key, kek, secret) = (
            text(ok(&results[0])).to_owned(),
            text(ok(&results[1])).to_owned(),
            text(ok(&results[2])).to_owned(),
        );
        // At 2.0 PyKMIP 0.11 sends Re-key's 1.x Template-Attribute, taken for its Attributes.
        let replacement = text(ok(&results[3])).to_owned();
        let results = alice.run(&json!([
            {"op": "activate", "uid": mac_key},
            {"op": "activate", "uid": kek},
            {"op": "mac", "uid": mac_key, "data": plain},
            {"op": "get", "uid": mac_key},
            {"op": "get_wrapped", "uid": replacement, "wrapping_uid": kek},
            {"op": "get", "uid": kek},
            {"op": "get", "uid": replacement},
            {"op": "get", "uid": secret},
        ]));
        for result in &results[..2] {
            ok(result);
        }
        let mac = ok(&results[2]);
        let mac_key_bytes = &ok(&results[3])["value"];
        let wrapped = &ok(&results[4])["value"];
        let (kek_bytes, replacement_bytes) = (&ok(&results[5])["value"], &ok(&results[6])["value"]);
        assert_eq!(ok(&results[7])["value"], "70617373776f7264", "at {version}");
        let checks = alice.run(&json!([
            {"op": "hmac", "key": mac_key_bytes, "data": plain},
            {"op": "aes", "key": kek_bytes, "mode": "NIST_KEY_WRAP", "data": wrapped,
                "decrypt": true},
        ]));
        assert_eq!(ok(&checks[0]), mac, "HMAC-SHA256 at {version}");
        assert_eq!(
            ok(&checks[1]),
            replacement_bytes,
            "the re-keyed key, unwrapped, at {version}"
        );
        assert_ne!(
            replacement_bytes,
            &json!("3c".repeat(32)),
            "a new key at {version}"
        );

        let results = alice.run(&json!([
            {"op": "revoke", "uid": uid},
            {"op": "destroy", "uid": uid},
            {"op": "get", "uid": uid},
        ]));
        ok(&results[0]);
        ok(&results[1]);
        assert!(
            results[2].get("error").is_some(),
            "at {version}: {}",
            results[2]
        );
    }
}

/// PyKMIP makes RSA-2048 and ECDSA P-256 key pairs (and Ed25519, an enumeration it names)
/// at the gateway, signs with the private keys there, and the signatures verify with the
/// `cryptography` package against the public keys read back by Get, and with the gateway's
/// Signature Verify: *Valid* for each, *Invalid* once tampered with. The private key of a
/// 4096-bit pair (a PKCS#8 of about 2.4 KB) is wrapped by the core and read back. Bob can
/// neither sign with Alice's key nor tell it exists.
fn key_pairs_sign_here_and_their_signatures_verify_anywhere(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let data = hex::encode(b"pay 100 EUR to account 42");
    let pss = json!({"padding_method": "PSS", "hashing_algorithm": "SHA_256"});
    let pkcs1 = json!({"digital_signature_algorithm": "SHA256_WITH_RSA_ENCRYPTION"});
    let (rsa, rsa_public) = active_key_pair(&alice, "RSA", 2048, "signs-payments");
    let (ec, ec_public) = active_key_pair(&alice, "ECDSA", 256, "signs-tokens");
    let (ed, ed_public) = active_key_pair(&alice, "ED25519", 256, "signs-releases");
    let cases = [
        (&rsa, &rsa_public, pss.clone(), "PSS_SHA256", "RSA", 2048),
        (&rsa, &rsa_public, pkcs1, "PKCS1_SHA256", "RSA", 2048),
        (&ec, &ec_public, json!(null), "ECDSA_SHA256", "ECDSA", 256),
        (&ed, &ed_public, json!(null), "ED25519", "ED25519", 256),
    ];
    for (private, public, params, scheme, algorithm, length) in cases {
        let results = alice.run(&json!([
            {"op": "sign", "uid": private, "data": data, "params": params},
            {"op": "get", "uid": public},
        ]));
        let signature = text(ok(&results[0])).to_owned();
        let key = ok(&results[1]);
        assert_eq!(key["type"], "PUBLIC_KEY", "{key}");
        let default_format = if algorithm == "RSA" {
            "PKCS_1"
        } else {
            "X_509"
        };
        assert_eq!(
            key["format"], default_format,
            "PKCS#1 for RSA, SubjectPublicKeyInfo for the others, by default: {key}"
        );
        assert_eq!(key["algorithm"], algorithm, "{key}");
        assert_eq!(key["length"], length, "{key}");
        let mut tampered = hex::decode(&signature).unwrap();
        tampered[7] ^= 1;
        let tampered = hex::encode(tampered);
        let other_data = hex::encode(b"pay 900 EUR to account 42");
        let results = alice.run(&json!([
            {"op": "check_signature", "key": key["value"], "data": data,
                "signature": signature, "scheme": scheme},
            {"op": "check_signature", "key": key["value"], "data": data,
                "signature": tampered, "scheme": scheme},
            {"op": "verify", "uid": public, "data": data, "signature": signature,
                "params": params},
            {"op": "verify", "uid": public, "data": data, "signature": tampered,
                "params": params},
            {"op": "verify", "uid": public, "data": other_data, "signature": signature,
                "params": params},
        ]));
        assert_eq!(
            ok(&results[0]),
            &json!(true),
            "{scheme}: cryptography's verdict"
        );
        assert_eq!(ok(&results[1]), &json!(false), "{scheme}: tampered");
        assert_eq!(ok(&results[2]), &json!("VALID"), "{scheme}");
        assert_eq!(ok(&results[3]), &json!("INVALID"), "{scheme}");
        assert_eq!(ok(&results[4]), &json!("INVALID"), "{scheme}");
    }

    // An RSA signature needs its padding and hash named; the public key does not sign.
    let results = alice.run(&json!([
        {"op": "sign", "uid": rsa, "data": data},
        {"op": "sign", "uid": rsa_public, "data": data, "params": pss},
        {"op": "get", "uid": rsa},
    ]));
    assert_eq!(reason(&results[0]), "MISSING_DATA", "{}", results[0]);
    // Invalid Object Type, as KMIP 1.2 (which lacks it) says it.
    assert_eq!(reason(&results[1]), "INVALID_FIELD", "{}", results[1]);
    let private = ok(&results[2]);
    assert_eq!(private["type"], "PRIVATE_KEY", "{private}");
    assert_eq!(private["format"], "PKCS_8", "{private}");

    // The largest pair: its private key is the largest L4 the core wraps.
    let results = alice.run(&json!([{"op": "create_key_pair", "algorithm": "RSA",
        "length": 4096}]));
    let big = text(&ok(&results[0])["private"]).to_owned();
    let results = alice.run(&json!([{"op": "get", "uid": big}]));
    let key = ok(&results[0]);
    assert_eq!(key["length"], 4096, "{key}");
    let der = text(&key["value"]).len() / 2;
    assert!(
        (2300..4096).contains(&der),
        "a PKCS#8 RSA-4096 key: {der} bytes"
    );

    assert_bob_is_told_nothing(&stack, json!({"op": "sign", "uid": ec, "data": data}));
}

/// Create Key Pair through Krypton's codec in KMIP 2.0 (Common, Private Key and Public Key
/// Attributes): each half links to the other, has its own usage mask and name, and is found
/// by Locate on its Object Type; a half that may not sign is refused with the spec's reason;
/// Get converts the public key to PKCS#1 and the private key of an EC pair to an EC Private
/// Key; revoked and destroyed, either half stops working.
fn key_pairs_are_linked_located_and_retired_like_keys(fixture: &Fixture) {
    use kmip::{
        CreateKeyPairRequest, CryptographicAlgorithm, CryptographicUsageMask, GetRequest,
        KeyFormatType, LocateRequest, Name, ObjectType, SignRequest,
    };
    let stack = fixture.stack();
    let (rsa_private, rsa_public) = block_on(async {
        let mut client = alice_client(&stack).await;
        let v2 = ProtocolVersion::V2_0;
        let pair = |algorithm, length, name: &str| CreateKeyPairRequest {
            common_attributes: vec![
                Attribute::CryptographicAlgorithm(algorithm),
                Attribute::CryptographicLength(length),
            ],
            private_key_attributes: vec![
                Attribute::Name(Name::text(format!("{name}-private"))),
                // A private key that may decrypt but not sign.
                Attribute::CryptographicUsageMask(CryptographicUsageMask::DECRYPT),
            ],
            public_key_attributes: vec![Attribute::Name(Name::text(format!("{name}-public")))],
        };
        let Some(ResponsePayload::CreateKeyPair(rsa)) = call_in(
            &mut client,
            v2,
            pair(CryptographicAlgorithm::Rsa, 3072, "linked"),
        )
        .await
        else {
            panic!("Create Key Pair failed")
        };
        let (private, public) = (
            rsa.private_key_unique_identifier,
            rsa.public_key_unique_identifier,
        );
        for (id, link_type, other, mask, object_type) in [
            (
                &private,
                LinkType::PublicKeyLink,
                &public,
                CryptographicUsageMask::DECRYPT,
                ObjectType::PrivateKey,
            ),
            (
                &public,
                LinkType::PrivateKeyLink,
                &private,
                CryptographicUsageMask::VERIFY,
                ObjectType::PublicKey,
            ),
        ] {
            let attributes = attributes_in(&mut client, v2, id).await;
            assert!(
                attributes.iter().any(|attribute| matches!(attribute,
                    Attribute::Link(link) if link.link_type == link_type
                        && &link.linked_object_identifier == other)),
                "{attributes:?}"
            );
            assert!(attributes.contains(&Attribute::CryptographicUsageMask(mask)));
            assert!(attributes.contains(&Attribute::ObjectType(object_type)));
            assert!(attributes.contains(&Attribute::CryptographicLength(3072)));
            let Some(ResponsePayload::Locate(located)) = call_in(
                &mut client,
                v2,
                LocateRequest {
                    attributes: vec![Attribute::ObjectType(object_type)],
                    ..LocateRequest::default()
                },
            )
            .await
            else {
                panic!("Locate failed")
            };
            assert!(located.unique_identifiers.contains(id));
            assert!(!located.unique_identifiers.contains(other));
        }

        // Pre-Active, the private key may not sign; Active, its usage mask still forbids it.
        let sign = SignRequest {
            unique_identifier: Some(private.as_str().into()),
            cryptographic_parameters: Some(CryptographicParameters {
                digital_signature_algorithm: Some(
                    kmip::DigitalSignatureAlgorithm::Sha256WithRsaEncryption,
                ),
                ..CryptographicParameters::default()
            }),
            data: b"anything".to_vec().into(),
        };
        assert_eq!(
            refusal_in(&mut client, v2, sign.clone()).await,
            kmip::ResultReason::WrongKeyLifecycleState
        );
        let activate = kmip::ActivateRequest {
            unique_identifier: Some(private.as_str().into()),
        };
        assert!(call_in(&mut client, v2, activate).await.is_some());
        let refused = refusal_in(&mut client, v2, sign).await;
        assert_eq!(
            refused,
            kmip::ResultReason::IncompatibleCryptographicUsageMask
        );

        // Get in the other formats.
        let get = |id: &str, format| GetRequest {
            unique_identifier: Some(id.into()),
            key_format_type: Some(format),
            ..GetRequest::default()
        };
        let spki = key_block_in(&mut client, v2, get(&public, KeyFormatType::X509)).await;
        assert_eq!(spki.key_format_type, KeyFormatType::X509);
        // A SubjectPublicKeyInfo names its algorithm (rsaEncryption); PKCS#1 does not.
        const RSA_ENCRYPTION: [u8; 11] = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
        ];
        assert!(
            spki.key_material
                .key()
                .unwrap()
                .windows(RSA_ENCRYPTION.len())
                .any(|window| window == RSA_ENCRYPTION)
        );
        // The private key as PKCS#1, which aws-lc-rs reads as the same key; not as an EC key.
        let pkcs1 = key_block_in(&mut client, v2, get(&private, KeyFormatType::Pkcs1)).await;
        assert_eq!(pkcs1.key_format_type, KeyFormatType::Pkcs1);
        aws_lc_rs::rsa::KeyPair::from_der(pkcs1.key_material.key().unwrap()).unwrap();
        assert_eq!(
            refusal_in(
                &mut client,
                v2,
                get(&private, KeyFormatType::TransparentEcPrivateKey)
            )
            .await,
            kmip::ResultReason::KeyFormatTypeNotSupported
        );

        let Some(ResponsePayload::CreateKeyPair(ec)) = call_in(
            &mut client,
            v2,
            pair(CryptographicAlgorithm::Ec, 384, "curve"),
        )
        .await
        else {
            panic!("Create Key Pair (EC) failed")
        };
        let sec1 = get(
            &ec.private_key_unique_identifier,
            KeyFormatType::EcPrivateKey,
        );
        let sec1 = key_block_in(&mut client, v2, sec1).await;
        aws_lc_rs::signature::EcdsaKeyPair::from_private_key_der(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            sec1.key_material.key().unwrap(),
        )
        .unwrap();
        (private, public)
    });

    // Revoked, then destroyed, through PyKMIP: each half on its own.
    let alice = App::of(&stack, ALICE);
    let data = hex::encode(b"after the end");
    let params = json!({"digital_signature_algorithm": "SHA256_WITH_RSA_ENCRYPTION"});
    let results = alice.run(&json!([
        {"op": "revoke", "uid": rsa_private},
        {"op": "sign", "uid": rsa_private, "data": data, "params": params},
        {"op": "destroy", "uid": rsa_private},
        {"op": "get", "uid": rsa_private},
        {"op": "activate", "uid": rsa_public},
        {"op": "revoke", "uid": rsa_public},
        {"op": "destroy", "uid": rsa_public},
        {"op": "get", "uid": rsa_public},
    ]));
    ok(&results[0]);
    // Wrong Key Lifecycle State, as KMIP 1.2 (which lacks it) says it.
    assert_eq!(reason(&results[1]), "PERMISSION_DENIED", "{}", results[1]);
    ok(&results[2]);
    assert!(results[3].get("error").is_some(), "{}", results[3]);
    for result in &results[4..7] {
        ok(result);
    }
    assert!(results[7].get("error").is_some(), "{}", results[7]);
}

/// PyKMIP registers an RSA-2048 private key made by the `cryptography` package twice (as
/// PKCS#8 and as PKCS#1) and its public key twice (as SubjectPublicKeyInfo and as PKCS#1). Each
/// registered key starts Pre-Active and signs only once activated; both private keys sign at
/// the gateway, the signatures verify with `cryptography` and with the gateway's Signature
/// Verify under both registered public keys. Get returns the keys in the default forms, byte for
/// byte the DER `cryptography` writes for them (PKCS#8; PKCS#1 for an RSA public key).
/// Material that is not what its format says, or a key that is not of the algorithm the
/// request states, is refused; Bob can neither use Alice's registered key nor tell it exists.
fn registered_keys_sign_here_and_their_signatures_verify_anywhere(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let generated = alice.run(&json!([{"op": "generate_rsa", "bits": 2048}]));
    let der = ok(&generated[0]).clone();
    // PyKMIP always sends a usage mask (0 when given none), which the gateway keeps: the
    // masks are named.
    let register = |kind: &str, format: &str, value: &serde_json::Value, name: &str| {
        let usage = if kind == "PRIVATE" { "SIGN" } else { "VERIFY" };
        json!({"op": "register_asymmetric", "kind": kind, "format": format,
            "algorithm": "RSA", "length": 2048, "value": value, "name": name,
            "usage": [usage]})
    };
    let data = hex::encode(b"release 1.4.2");
    let pss = json!({"padding_method": "PSS", "hashing_algorithm": "SHA_256"});
    let results = alice.run(&json!([
        register("PRIVATE", "PKCS_8", &der["pkcs8"], "registered-pkcs8"),
        register("PRIVATE", "PKCS_1", &der["pkcs1"], "registered-pkcs1"),
        register("PUBLIC", "X_509", &der["spki"], "registered-spki"),
        register(
            "PUBLIC",
            "PKCS_1",
            &der["pkcs1_public"],
            "registered-pkcs1-public"
        ),
    ]));
    let ids: Vec<String> = results.iter().map(|r| text(ok(r)).to_owned()).collect();
    let (pkcs8, pkcs1, spki, pkcs1_public) = (&ids[0], &ids[1], &ids[2], &ids[3]);

    // Pre-Active, like every registered object: no signature until activated.
    let results = alice.run(&json!([
        {"op": "sign", "uid": pkcs8, "data": data, "params": pss},
        {"op": "get_attributes", "uid": pkcs8, "names": ["State", "Cryptographic Usage Mask",
            "Cryptographic Algorithm", "Cryptographic Length"]},
    ]));
    assert!(results[0].get("error").is_some(), "{}", results[0]);
    let attributes = ok(&results[1]);
    assert!(
        text(&attributes["State"]).contains("PRE_ACTIVE"),
        "{attributes}"
    );
    assert_eq!(
        attributes["Cryptographic Usage Mask"], "1",
        "Sign: {attributes}"
    );
    assert!(
        text(&attributes["Cryptographic Algorithm"]).contains("RSA"),
        "{attributes}"
    );
    assert_eq!(attributes["Cryptographic Length"], "2048", "{attributes}");
    for id in &ids {
        ok(&alice.run(&json!([{"op": "activate", "uid": id}]))[0]);
    }

    for private in [pkcs8, pkcs1] {
        let results = alice.run(&json!([
            {"op": "sign", "uid": private, "data": data, "params": pss},
        ]));
        let signature = text(ok(&results[0])).to_owned();
        let results = alice.run(&json!([
            {"op": "check_signature", "key": der["spki"], "data": data,
                "signature": signature, "scheme": "PSS_SHA256"},
            {"op": "verify", "uid": spki, "data": data, "signature": signature,
                "params": pss},
            {"op": "verify", "uid": pkcs1_public, "data": data, "signature": signature,
                "params": pss},
            {"op": "verify", "uid": spki, "data": hex::encode(b"release 6.6.6"),
                "signature": signature, "params": pss},
        ]));
        assert_eq!(ok(&results[0]), &json!(true), "cryptography's verdict");
        assert_eq!(ok(&results[1]), &json!("VALID"));
        assert_eq!(ok(&results[2]), &json!("VALID"));
        assert_eq!(ok(&results[3]), &json!("INVALID"));
    }

    // Read back in the default forms, whatever they were registered as.
    let results = alice.run(&json!([
        {"op": "get", "uid": pkcs1},
        {"op": "get", "uid": pkcs8},
        {"op": "get", "uid": pkcs1_public},
    ]));
    for (result, format, value) in [
        (&results[0], "PKCS_8", &der["pkcs8"]),
        (&results[1], "PKCS_8", &der["pkcs8"]),
        (&results[2], "PKCS_1", &der["pkcs1_public"]),
    ] {
        let key = ok(result);
        assert_eq!(key["format"], format, "{key}");
        assert_eq!(&key["value"], value, "{key}");
        assert_eq!(key["algorithm"], "RSA", "{key}");
        assert_eq!(key["length"], 2048, "{key}");
    }

    // PKCS#1 announced as SubjectPublicKeyInfo; an RSA key announced as EC.
    let mut wrong_algorithm = register("PRIVATE", "PKCS_8", &der["pkcs8"], "not-ec");
    wrong_algorithm["algorithm"] = json!("EC");
    wrong_algorithm["length"] = json!(256);
    let results = alice.run(&json!([
        register("PUBLIC", "X_509", &der["pkcs1_public"], "mislabelled"),
        wrong_algorithm,
    ]));
    assert_eq!(reason(&results[0]), "INVALID_FIELD", "{}", results[0]);
    assert_eq!(reason(&results[1]), "INVALID_FIELD", "{}", results[1]);

    assert_bob_is_told_nothing(
        &stack,
        json!({"op": "sign", "uid": pkcs8, "data": data, "params": pss}),
    );
}

/// The Transparent key formats with PyKMIP's KMIPProxy, whose own primitives write and read
/// the Big Integers. An RSA-2048 and a P-256 key pair made by the `cryptography` package are
/// registered as their numbers (Transparent RSA and, KMIP 1.2's names, ECDSA keys): Get then
/// returns byte for byte the DER `cryptography` writes for them (PKCS#8; PKCS#1 or
/// SubjectPublicKeyInfo; the RSA private key as PKCS#1 too), and the private keys sign what
/// `cryptography` verifies. Key pairs made here (RSA-3072, P-384) read back as Transparent
/// structures at KMIP 1.2, 1.4 and 2.0 (the last two under the EC names) hold the numbers
/// `cryptography` reads from the same keys' DER. Numbers that do not belong together, and
/// formats of another kind of key, are refused; Bob gets nothing of Alice's keys in any form.
fn transparent_keys_go_in_and_out_as_their_numbers(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let made = alice.run(&json!([
        {"op": "generate_rsa", "bits": 2048},
        {"op": "generate_ec", "curve": "P-256"},
    ]));
    let (rsa, ec) = (ok(&made[0]).clone(), ok(&made[1]).clone());
    let numbers = &rsa["numbers"];
    let fields = |tags: &[&str]| -> serde_json::Value {
        tags.iter().map(|tag| json!([tag, numbers[tag]])).collect()
    };
    let rsa_private = fields(&[
        "MODULUS",
        "PRIVATE_EXPONENT",
        "PUBLIC_EXPONENT",
        "P",
        "Q",
        "PRIME_EXPONENT_P",
        "PRIME_EXPONENT_Q",
        "CRT_COEFFICIENT",
    ]);
    let register = |kind: &str, format: &str, algorithm: &str, length: i32, fields, usage| {
        json!({"op": "register_transparent", "kind": kind, "format": format,
            "algorithm": algorithm, "length": length, "fields": fields, "usage": [usage]})
    };
    let results = alice.run(&json!([
        register(
            "PRIVATE",
            "TRANSPARENT_RSA_PRIVATE_KEY",
            "RSA",
            2048,
            rsa_private.clone(),
            "SIGN"
        ),
        register(
            "PUBLIC",
            "TRANSPARENT_RSA_PUBLIC_KEY",
            "RSA",
            2048,
            fields(&["MODULUS", "PUBLIC_EXPONENT"]),
            "VERIFY"
        ),
        register(
            "PRIVATE",
            "TRANSPARENT_ECDSA_PRIVATE_KEY",
            "ECDSA",
            256,
            json!([["RECOMMENDED_CURVE", "P_256"], ["D", ec["d"]]]),
            "SIGN"
        ),
        register(
            "PUBLIC",
            "TRANSPARENT_ECDSA_PUBLIC_KEY",
            "ECDSA",
            256,
            json!([["RECOMMENDED_CURVE", "P_256"], ["Q_STRING", ec["q"]]]),
            "VERIFY"
        ),
    ]));
    let ids: Vec<String> = results.iter().map(|r| text(ok(r)).to_owned()).collect();
    let mut commands: Vec<_> = ids
        .iter()
        .map(|id| json!({"op": "get", "uid": id}))
        .collect();
    commands.push(json!({"op": "get_in_format", "uid": ids[0], "format": "PKCS_1"}));
    commands.extend(ids.iter().map(|id| json!({"op": "activate", "uid": id})));
    let results = alice.run(&json!(commands));
    let expected = [
        &rsa["pkcs8"],
        &rsa["pkcs1_public"],
        &ec["pkcs8"],
        &ec["spki"],
    ];
    for (result, value) in results.iter().zip(expected) {
        assert_eq!(&ok(result)["value"], value, "{result}");
    }
    let pkcs1 = ok(&results[4]);
    assert_eq!(pkcs1["format"], "PKCS_1", "{pkcs1}");
    assert_eq!(
        pkcs1["value"], rsa["pkcs1"],
        "cryptography's TraditionalOpenSSL DER"
    );
    for result in &results[5..] {
        ok(result);
    }

    let data = hex::encode(b"settlement batch 7");
    let pss = json!({"padding_method": "PSS", "hashing_algorithm": "SHA_256"});
    let results = alice.run(&json!([
        {"op": "sign", "uid": ids[0], "data": data, "params": pss},
        {"op": "sign", "uid": ids[2], "data": data},
    ]));
    let (rsa_signature, ec_signature) = (text(ok(&results[0])), text(ok(&results[1])));
    let results = alice.run(&json!([
        {"op": "check_signature", "key": rsa["spki"], "data": data,
            "signature": rsa_signature, "scheme": "PSS_SHA256"},
        {"op": "check_signature", "key": ec["spki"], "data": data,
            "signature": ec_signature, "scheme": "ECDSA_SHA256"},
        {"op": "verify", "uid": ids[1], "data": data, "signature": rsa_signature,
            "params": pss},
        {"op": "verify", "uid": ids[3], "data": data, "signature": ec_signature},
    ]));
    assert_eq!(ok(&results[0]), &json!(true), "cryptography's verdict");
    assert_eq!(ok(&results[1]), &json!(true), "cryptography's verdict");
    assert_eq!(ok(&results[2]), &json!("VALID"));
    assert_eq!(ok(&results[3]), &json!("VALID"));

    // Key pairs made here, read as their numbers at 1.2 (ECDSA names), 1.4 and 2.0 (EC names).
    let pairs = alice.run(&json!([
        {"op": "create_key_pair", "algorithm": "RSA", "length": 3072},
        {"op": "create_key_pair", "algorithm": "ECDSA", "length": 384},
    ]));
    let (rsa_pair, ec_pair) = (ok(&pairs[0]), ok(&pairs[1]));
    let halves = [
        (&rsa_pair["private"], true, "TRANSPARENT_RSA_PRIVATE_KEY"),
        (&rsa_pair["public"], false, "TRANSPARENT_RSA_PUBLIC_KEY"),
        (&ec_pair["private"], true, "TRANSPARENT_EC_PRIVATE_KEY"),
        (&ec_pair["public"], false, "TRANSPARENT_EC_PUBLIC_KEY"),
    ];
    let ders = alice.run(&json!(
        halves
            .iter()
            .map(|(uid, _, _)| json!({"op": "get", "uid": uid}))
            .collect::<Vec<_>>()
    ));
    let expected = alice.run(&json!(
        halves
            .iter()
            .zip(&ders)
            .map(|((_, private, _), der)| {
                json!({"op": "key_numbers", "value": ok(der)["value"], "private": private})
            })
            .collect::<Vec<_>>()
    ));
    for (version, ec_name) in [(None, "ECDSA"), (Some("1.4"), "EC"), (Some("2.0"), "EC")] {
        let app = App {
            kmip_version: version,
            ..App::of(&stack, ALICE)
        };
        let commands: Vec<_> = halves
            .iter()
            .map(|(uid, _, format)| {
                let format = format.replace("_EC_", &format!("_{ec_name}_"));
                json!({"op": "get_in_format", "uid": uid, "format": format})
            })
            .collect();
        let results = app.run(&json!(commands));
        for (index, (result, numbers)) in results.iter().zip(&expected).enumerate() {
            let got = ok(result);
            assert_eq!(got["format"], commands[index]["format"], "{got}");
            let mut fields = got["fields"].clone();
            if index >= 2 {
                let curve = fields.as_object_mut().unwrap().remove("RECOMMENDED_CURVE");
                assert_eq!(curve, Some(json!("P_384")), "{got}");
            }
            assert_eq!(&fields, ok(numbers), "at {version:?}: {got}");
        }
    }

    // A CRT coefficient of another key; a format of another kind of key; as a wrapped key.
    let mut wrong = rsa_private;
    wrong[7][1] = numbers["P"].clone();
    let results = alice.run(&json!([
        register("PRIVATE", "TRANSPARENT_RSA_PRIVATE_KEY", "RSA", 2048, wrong, "SIGN"),
        {"op": "get_in_format", "uid": rsa_pair["private"], "format": "TRANSPARENT_EC_PRIVATE_KEY"},
        {"op": "get_in_format", "uid": ec_pair["public"], "format": "TRANSPARENT_RSA_PUBLIC_KEY"},
    ]));
    assert_eq!(reason(&results[0]), "INVALID_FIELD", "{}", results[0]);
    assert_eq!(
        reason(&results[1]),
        "KEY_FORMAT_TYPE_NOT_SUPPORTED",
        "{}",
        results[1]
    );
    assert_eq!(
        reason(&results[2]),
        "KEY_FORMAT_TYPE_NOT_SUPPORTED",
        "{}",
        results[2]
    );

    // Bob is told what he is told of a key that does not exist.
    let bob = App::of(&stack, BOB).run(&json!([
        {"op": "get_in_format", "uid": ids[0], "format": "TRANSPARENT_RSA_PRIVATE_KEY"},
        {"op": "get_in_format", "uid": "no-such-key", "format": "TRANSPARENT_RSA_PRIVATE_KEY"},
    ]));
    assert_eq!(reason(&bob[0]), "ITEM_NOT_FOUND", "{}", bob[0]);
    assert_eq!(
        message(&bob[0]).replace(&ids[0], "no-such-key"),
        message(&bob[1]),
        "Bob with Alice's key, and with none"
    );
}

/// Krypton's codec at KMIP 2.0: a P-256 and an RSA-2048 private key made here are returned as
/// their Transparent structures wrapped under an AES key in the TTLV encoding (no Encoding
/// Option named, KMIP's default). aws-lc-rs unwraps them with the key read back by Get: each
/// holds a Key Value whose numbers are the ones a plain Get in the same format gives. Each
/// wrap, registered as it came (a Transparent private key wrapped, no Encoding Option), is
/// unwrapped by the gateway and stored: Get gives the original key's PKCS#8. With No Encoding a
/// structure is not wrapped.
fn transparent_keys_travel_wrapped_in_the_ttlv_encoding(fixture: &Fixture) {
    use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrap};
    use kmip::{
        ActivateRequest, CreateKeyPairRequest, CreateRequest, CryptographicAlgorithm,
        CryptographicUsageMask, EncodingOption, EncryptionKeyInformation, GetRequest, KeyBlock,
        KeyFormatType, KeyMaterial, KeyWrappingData, KeyWrappingSpecification, ManagedObject,
        ObjectType, PrivateKey, RegisterRequest, WrappingMethod,
    };
    let stack = fixture.stack();
    block_on(async {
        let mut client = alice_client(&stack).await;
        let v2 = ProtocolVersion::V2_0;
        let mask = CryptographicUsageMask::WRAP_KEY | CryptographicUsageMask::UNWRAP_KEY;
        let create = CreateRequest {
            object_type: ObjectType::SymmetricKey,
            attributes: vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
                Attribute::CryptographicLength(256),
                Attribute::CryptographicUsageMask(mask),
            ],
        };
        let Some(ResponsePayload::Create(kek)) = call_in(&mut client, v2, create).await else {
            panic!("Create of the wrapping key failed")
        };
        let kek = kek.unique_identifier;
        let activate = ActivateRequest {
            unique_identifier: Some(kek.as_str().into()),
        };
        assert!(call_in(&mut client, v2, activate).await.is_some());
        let get = |id: &str, format, wrapping: Option<KeyWrappingSpecification>| GetRequest {
            unique_identifier: Some(id.into()),
            key_format_type: format,
            key_wrapping_specification: wrapping,
            ..GetRequest::default()
        };
        let kek_bytes = key_block_in(&mut client, v2, get(&kek, None, None))
            .await
            .key_material
            .key()
            .unwrap()
            .to_vec();
        let information = EncryptionKeyInformation {
            unique_identifier: kek.clone(),
            cryptographic_parameters: Some(Box::new(CryptographicParameters {
                block_cipher_mode: Some(BlockCipherMode::NistKeyWrap),
                ..CryptographicParameters::default()
            })),
        };
        let spec = |encoding_option| KeyWrappingSpecification {
            wrapping_method: WrappingMethod::Encrypt,
            encryption_key_information: Some(information.clone()),
            mac_signature_key_information: None,
            attribute_names: Vec::new(),
            encoding_option,
        };

        let pairs = [
            (
                CryptographicAlgorithm::Ec,
                256,
                KeyFormatType::TransparentEcPrivateKey,
            ),
            (
                CryptographicAlgorithm::Rsa,
                2048,
                KeyFormatType::TransparentRsaPrivateKey,
            ),
        ];
        for (algorithm, length, format) in pairs {
            let pair = CreateKeyPairRequest {
                common_attributes: vec![
                    Attribute::CryptographicAlgorithm(algorithm),
                    Attribute::CryptographicLength(length),
                ],
                private_key_attributes: Vec::new(),
                public_key_attributes: Vec::new(),
            };
            let Some(ResponsePayload::CreateKeyPair(pair)) = call_in(&mut client, v2, pair).await
            else {
                panic!("Create Key Pair of {algorithm:?} failed")
            };
            let private = pair.private_key_unique_identifier;
            let numbers = key_block_in(&mut client, v2, get(&private, Some(format), None)).await;
            let wrapped = get(&private, Some(format), Some(spec(None)));
            let wrapped = key_block_in(&mut client, v2, wrapped).await;
            assert_eq!(wrapped.key_format_type, format);
            let data = wrapped.key_wrapping_data.clone().unwrap();
            assert_eq!(data.encoding_option, None, "{data:?}");
            let sealed = wrapped.key_material.key().unwrap();
            let mut plain = vec![0; sealed.len()];
            let plain = AesKek::new(&AES_256, &kek_bytes)
                .unwrap()
                .unwrap(sealed, &mut plain)
                .unwrap();
            let material = KeyMaterial::from_key_value_ttlv(plain, format).unwrap();
            assert_eq!(material, numbers.key_material, "{algorithm:?}");

            // Registered back as it came: a Transparent private key, wrapped, TTLV-encoded.
            let register = RegisterRequest {
                attributes: vec![Attribute::CryptographicUsageMask(
                    CryptographicUsageMask::SIGN,
                )],
                object: ManagedObject::PrivateKey(PrivateKey {
                    key_block: KeyBlock {
                        key_wrapping_data: Some(KeyWrappingData {
                            wrapping_method: WrappingMethod::Encrypt,
                            encryption_key_information: Some(information.clone()),
                            mac_signature_key_information: None,
                            mac_signature: None,
                            iv_counter_nonce: None,
                            encoding_option: None,
                        }),
                        ..wrapped
                    },
                }),
            };
            let Some(ResponsePayload::Register(registered)) =
                call_in(&mut client, v2, register).await
            else {
                panic!("Register of the wrapped {algorithm:?} key failed")
            };
            let pkcs8 = |id: &str| get(id, Some(KeyFormatType::Pkcs8), None);
            let original = key_block_in(&mut client, v2, pkcs8(&private)).await;
            let copy = key_block_in(&mut client, v2, pkcs8(&registered.unique_identifier)).await;
            assert_eq!(copy.key_material, original.key_material, "{algorithm:?}");

            let bare = get(
                &private,
                Some(format),
                Some(spec(Some(EncodingOption::NoEncoding))),
            );
            assert_eq!(
                refusal_in(&mut client, v2, bare).await,
                kmip::ResultReason::KeyFormatTypeNotSupported
            );
        }
    });
}

/// PyKMIP registers an X.509 certificate made by the `cryptography` package, gets it back byte
/// for byte, reads its Certificate Type, Certificate Length and Digest (SHA-256 of the DER),
/// finds it by Locate on its Object Type (and not among the keys) and by name, and revokes and
/// destroys it. Krypton's codec reads the same attributes at KMIP 2.0 (where PyKMIP cannot read
/// Certificate Type), sees Query list the Certificate object type, and a certificate that does
/// not parse refused. A certificate of about 48 KB goes through the core and back whole.
fn certificates_are_registered_read_back_located_and_retired(fixture: &Fixture) {
    use kmip::{
        CertificateType, Digest, GetRequest, HashingAlgorithm, ManagedObject, ObjectType,
        QueryFunction, QueryRequest, RegisterRequest,
    };
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let made = alice.run(&json!([{"op": "make_certificate", "cn": "db-01.example"}]));
    let der = text(ok(&made[0])).to_owned();
    let bytes = hex::decode(&der).unwrap();
    let sha256 = hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &bytes,
    ));
    let key = App::of(&stack, ALICE).create("not-a-certificate");
    let results = alice.run(&json!([
        {"op": "register_certificate", "value": der, "name": "db-01-certificate"},
    ]));
    let id = text(ok(&results[0])).to_owned();
    let results = alice.run(&json!([
        {"op": "get", "uid": id},
        {"op": "get_attributes", "uid": id},
        {"op": "locate", "object_type": "CERTIFICATE"},
        {"op": "locate", "name": "db-01-certificate"},
    ]));
    let certificate = ok(&results[0]);
    assert_eq!(certificate["type"], "CERTIFICATE", "{certificate}");
    assert_eq!(certificate["certificate_type"], "X_509", "{certificate}");
    assert_eq!(certificate["value"], der.as_str(), "byte for byte");
    let attributes = ok(&results[1]);
    assert!(
        text(&attributes["Certificate Type"]).contains("X_509"),
        "{attributes}"
    );
    assert_eq!(
        attributes["Certificate Length"],
        bytes.len().to_string(),
        "{attributes}"
    );
    assert_eq!(
        attributes["Digest"],
        format!("SHA_256:{sha256}"),
        "{attributes}"
    );
    assert!(
        text(&attributes["State"]).contains("PRE_ACTIVE"),
        "{attributes}"
    );
    assert_eq!(
        ok(&results[2]),
        &json!([id]),
        "the certificate, not the key {key}"
    );
    assert_eq!(ok(&results[3]), &json!([id]));

    block_on(async {
        let mut client = alice_client(&stack).await;
        let v2 = ProtocolVersion::V2_0;
        let attributes = attributes_in(&mut client, v2, &id).await;
        assert!(attributes.contains(&Attribute::ObjectType(ObjectType::Certificate)));
        assert!(attributes.contains(&Attribute::CertificateType(CertificateType::X509)));
        assert!(attributes.contains(&Attribute::CertificateLength(
            i32::try_from(bytes.len()).unwrap()
        )));
        assert!(
            attributes.iter().any(|attribute| matches!(attribute,
                Attribute::Digest(Digest { hashing_algorithm: HashingAlgorithm::Sha256,
                    digest_value: Some(value), .. }) if hex::encode(value) == sha256)),
            "{attributes:?}"
        );
        let Some(ResponsePayload::Get(got)) = call_in(
            &mut client,
            v2,
            GetRequest {
                unique_identifier: Some(id.as_str().into()),
                ..GetRequest::default()
            },
        )
        .await
        else {
            panic!("Get failed")
        };
        let ManagedObject::Certificate(got) = got.object else {
            panic!("not a certificate")
        };
        assert_eq!(got.certificate_value, bytes);

        let Some(ResponsePayload::Query(offer)) = call_in(
            &mut client,
            v2,
            QueryRequest {
                query_functions: vec![QueryFunction::QueryObjects],
            },
        )
        .await
        else {
            panic!("Query failed")
        };
        assert!(
            offer.object_types.contains(&ObjectType::Certificate),
            "{offer:?}"
        );

        let garbage = RegisterRequest {
            attributes: Vec::new(),
            object: ManagedObject::Certificate(kmip::Certificate {
                certificate_type: CertificateType::X509,
                certificate_value: bytes[..bytes.len() - 1].to_vec(),
            }),
        };
        assert_eq!(
            refusal_in(&mut client, v2, garbage).await,
            kmip::ResultReason::InvalidField
        );
    });

    let results = alice.run(&json!([
        {"op": "activate", "uid": id},
        {"op": "revoke", "uid": id},
        {"op": "get", "uid": id},
        {"op": "destroy", "uid": id},
        {"op": "get", "uid": id},
        {"op": "locate", "object_type": "CERTIFICATE"},
    ]));
    for result in &results[..4] {
        ok(result);
    }
    assert_eq!(
        ok(&results[2])["value"],
        der.as_str(),
        "a revoked certificate still reads"
    );
    assert!(results[4].get("error").is_some(), "{}", results[4]);
    assert_eq!(ok(&results[5]), &json!([]));

    // A certificate with 2,000 names (about 48 KB of DER): wrapped by the core and read back
    // whole, within the 64 KiB bound.
    let made = alice.run(&json!([{"op": "make_certificate", "cn": "fleet", "sans": 2000}]));
    let big = text(ok(&made[0])).to_owned();
    assert!(
        (40_000..65_536).contains(&(big.len() / 2)),
        "{} bytes",
        big.len() / 2
    );
    let results = alice.run(&json!([{"op": "register_certificate", "value": big}]));
    let id = text(ok(&results[0])).to_owned();
    let results = alice.run(&json!([{"op": "get", "uid": id}]));
    assert_eq!(ok(&results[0])["value"], big.as_str(), "byte for byte");
}

const GCM_NONCE: &str = "000102030405060708090a0b";
const GCM_AAD: &str = "6b727970746f6e";

/// AES-GCM Encrypt of `plain` (hex) with `uid` as Alice, at KMIP 1.4: the ciphertext and the
/// tag, in hex.
fn encrypt_gcm(stack: &Stack, uid: &str, plain: &str) -> (String, String) {
    let request = EncryptRequest {
        unique_identifier: Some(uid.into()),
        cryptographic_parameters: Some(CryptographicParameters {
            block_cipher_mode: Some(BlockCipherMode::Gcm),
            ..CryptographicParameters::default()
        }),
        data: hex::decode(plain).unwrap().into(),
        iv_counter_nonce: Some(hex::decode(GCM_NONCE).unwrap()),
        authenticated_encryption_additional_data: Some(hex::decode(GCM_AAD).unwrap()),
    };
    let (encrypted, decrypted) = block_on(async {
        let mut client = alice_client(stack).await;
        let Some(ResponsePayload::Encrypt(encrypted)) = call(&mut client, request).await else {
            panic!("GCM Encrypt failed")
        };
        // The server's own Decrypt, and with a tag altered, a refusal.
        let decrypt = |tag: Vec<u8>| DecryptRequest {
            unique_identifier: Some(uid.into()),
            cryptographic_parameters: Some(CryptographicParameters {
                block_cipher_mode: Some(BlockCipherMode::Gcm),
                ..CryptographicParameters::default()
            }),
            data: encrypted.data.clone(),
            iv_counter_nonce: Some(hex::decode(GCM_NONCE).unwrap()),
            authenticated_encryption_additional_data: Some(hex::decode(GCM_AAD).unwrap()),
            authenticated_encryption_tag: Some(tag),
        };
        let tag = encrypted.authenticated_encryption_tag.clone().unwrap();
        let Some(ResponsePayload::Decrypt(decrypted)) =
            call(&mut client, decrypt(tag.clone())).await
        else {
            panic!("GCM Decrypt failed")
        };
        let mut forged = tag;
        forged[0] ^= 1;
        assert!(call(&mut client, decrypt(forged)).await.is_none());
        (encrypted, decrypted)
    });
    assert_eq!(hex::encode(&decrypted.data[..]), plain);
    assert_eq!(
        encrypted.iv_counter_nonce, None,
        "the client's nonce is not sent back"
    );
    let tag = encrypted.authenticated_encryption_tag.unwrap();
    assert_eq!(tag.len(), 16);
    (hex::encode(&encrypted.data), hex::encode(&tag))
}

/// app-alice at the gateway, with Krypton's own KMIP client.
async fn alice_client(stack: &Stack) -> Client {
    let pki = stack.pki();
    let (_, alice) = pki.apps.iter().find(|(name, _)| name == ALICE).unwrap();
    let files = ClientTlsFiles {
        cert_chain: alice.cert.clone(),
        private_key: alice.key.clone(),
        server_ca: pki.ca.clone(),
    };
    Client::connect(
        &stack.gateway_addr().to_string(),
        SERVER_NAMES[0],
        Arc::new(client_config(&files).unwrap()),
        &ClientLimits::default(),
    )
    .await
    .unwrap()
}

/// The payload of the one item's answer at KMIP 1.4; `None` if it failed.
async fn call(client: &mut Client, request: impl TypedRequest) -> Option<ResponsePayload> {
    call_in(client, ProtocolVersion::V1_4, request).await
}

/// The payload of the one item's answer at `version`; `None` if it failed.
async fn call_in(
    client: &mut Client,
    version: ProtocolVersion,
    request: impl TypedRequest,
) -> Option<ResponsePayload> {
    answer_in(client, version, request).await.payload
}

/// Every attribute of `id`, read by Get Attributes at `version`, which must succeed.
async fn attributes_in(client: &mut Client, version: ProtocolVersion, id: &str) -> Vec<Attribute> {
    let request = GetAttributesRequest {
        unique_identifier: Some(id.into()),
        attribute_references: Vec::new(),
    };
    let Some(ResponsePayload::GetAttributes(answer)) = call_in(client, version, request).await
    else {
        panic!("Get Attributes of {id} failed")
    };
    answer.attributes
}

/// The Key Block of the key a Get at `version` returns, which must succeed.
async fn key_block_in(
    client: &mut Client,
    version: ProtocolVersion,
    get: kmip::GetRequest,
) -> kmip::KeyBlock {
    match call_in(client, version, get).await {
        Some(ResponsePayload::Get(got)) => match got.object {
            kmip::ManagedObject::SymmetricKey(key) => key.key_block,
            kmip::ManagedObject::PublicKey(key) => key.key_block,
            kmip::ManagedObject::PrivateKey(key) => key.key_block,
            other => panic!("Get returned {other:?}"),
        },
        other => panic!("Get failed: {other:?}"),
    }
}

/// The Result Reason of the one item's answer at `version`, which must be a failure.
async fn refusal_in(
    client: &mut Client,
    version: ProtocolVersion,
    request: impl TypedRequest,
) -> kmip::ResultReason {
    let answer = answer_in(client, version, request).await;
    answer
        .result_reason
        .unwrap_or_else(|| panic!("expected a refusal: {answer:?}"))
}

async fn answer_in(
    client: &mut Client,
    version: ProtocolVersion,
    request: impl TypedRequest,
) -> kmip::ResponseBatchItem {
    let message = RequestMessage {
        header: RequestHeader::new(version),
        batch_items: vec![RequestBatchItem::new(request)],
    };
    let item = client.call(&message.to_item()).await.unwrap();
    let mut response = ResponseMessage::from_item(&item).unwrap();
    response.batch_items.remove(0)
}

/// Bob, running `command` on one of Alice's keys, is refused and told exactly what he is told
/// of a key that does not exist.
fn assert_bob_is_told_nothing(stack: &Stack, command: serde_json::Value) {
    let mut absent = command.clone();
    absent["uid"] = json!("no-such-key");
    let bob = App::of(stack, BOB).run(&json!([command, absent]));
    assert!(
        bob[0].get("error").is_some(),
        "Bob with Alice's key: {}",
        bob[0]
    );
    assert_eq!(bob[0], bob[1], "Bob with Alice's key, and with none");
}

/// An RSA key pair made at the gateway whose halves may `public_usage` and `private_usage`,
/// both activated: (private, public, the private key's PKCS#8, the public key's DER).
fn active_rsa_pair(
    alice: &App,
    name: &str,
    public_usage: &str,
    private_usage: &str,
) -> (String, String, String, String) {
    let results = alice.run(&json!([{"op": "create_key_pair", "algorithm": "RSA",
        "length": 2048, "name": name, "public_usage": [public_usage],
        "private_usage": [private_usage]}]));
    let pair = ok(&results[0]);
    let (private, public) = (text(&pair["private"]), text(&pair["public"]));
    let results = alice.run(&json!([
        {"op": "activate", "uid": private},
        {"op": "activate", "uid": public},
        {"op": "get", "uid": private},
        {"op": "get", "uid": public},
    ]));
    let (pkcs8, der) = (ok(&results[2]), ok(&results[3]));
    (
        private.to_owned(),
        public.to_owned(),
        text(&pkcs8["value"]).to_owned(),
        text(&der["value"]).to_owned(),
    )
}

/// RSA-OAEP through PyKMIP: Encrypt with the public key of a pair made at the gateway, Decrypt
/// with its private key, with SHA-1, SHA-256, SHA-384 and SHA-512 (MGF1 of the same hash). The
/// `cryptography` package decrypts what the gateway encrypted, and the gateway decrypts what
/// `cryptography` encrypted. A message longer than the key takes, a changed ciphertext,
/// parameters without a hash, the wrong half, a pair whose usage masks do not allow it, and
/// Bob with Alice's key are refused.
fn rsa_oaep_encrypts_with_the_public_key_and_decrypts_with_the_private(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let (private, public, pkcs8, der) = active_rsa_pair(&alice, "oaep", "ENCRYPT", "DECRYPT");
    let plain = hex::encode(b"a data key of 32 bytes, wrapped!");
    for (hash, kmip_hash) in [
        ("SHA1", "SHA_1"),
        ("SHA256", "SHA_256"),
        ("SHA384", "SHA_384"),
        ("SHA512", "SHA_512"),
    ] {
        let params = json!({"padding_method": "OAEP", "hashing_algorithm": kmip_hash});
        let results = alice.run(&json!([
            {"op": "encrypt", "uid": public, "data": plain, "params": params},
            {"op": "oaep", "key": der, "data": plain, "hash": hash},
        ]));
        let sealed = text(&ok(&results[0])["data"]).to_owned();
        assert_eq!(sealed.len(), 2 * 256, "{hash}");
        let theirs = text(ok(&results[1])).to_owned();
        let results = alice.run(&json!([
            {"op": "oaep", "key": pkcs8, "data": sealed, "hash": hash, "decrypt": true},
            {"op": "decrypt", "uid": private, "data": theirs, "params": params},
        ]));
        assert_eq!(ok(&results[0]), &json!(plain), "{hash}: the gateway's OAEP");
        assert_eq!(
            ok(&results[1]),
            &json!(plain),
            "{hash}: cryptography's OAEP"
        );
    }

    let params = json!({"padding_method": "OAEP", "hashing_algorithm": "SHA_256"});
    let sealed = alice.run(&json!([
        {"op": "encrypt", "uid": public, "data": plain, "params": params},
    ]));
    let sealed = text(&ok(&sealed[0])["data"]).to_owned();
    let mut altered = hex::decode(&sealed).unwrap();
    altered[9] ^= 1;
    let (_, signing, _, _) = active_rsa_pair(&alice, "oaep-sign", "VERIFY", "SIGN");
    let results = alice.run(&json!([
        // RSA-2048 with SHA-256 takes 256 - 2 * 32 - 2 = 190 bytes.
        {"op": "encrypt", "uid": public, "data": "00".repeat(190), "params": params},
        {"op": "encrypt", "uid": public, "data": "00".repeat(191), "params": params},
        {"op": "decrypt", "uid": private, "data": hex::encode(&altered), "params": params},
        {"op": "encrypt", "uid": public, "data": plain,
            "params": {"padding_method": "OAEP"}},
        {"op": "decrypt", "uid": public, "data": sealed, "params": params},
        {"op": "encrypt", "uid": public, "data": plain,
            "params": {"padding_method": "PKCS1v15", "hashing_algorithm": "SHA_256"}},
        // The signing pair's public key may verify, not encrypt.
        {"op": "encrypt", "uid": signing, "data": plain, "params": params},
    ]));
    ok(&results[0]);
    assert_eq!(reason(&results[1]), "INVALID_FIELD", "{}", results[1]);
    assert_eq!(
        reason(&results[2]),
        "CRYPTOGRAPHIC_FAILURE",
        "{}",
        results[2]
    );
    assert_eq!(reason(&results[3]), "MISSING_DATA", "{}", results[3]);
    // KMIP 1.2's equivalents of Invalid Object Type, Unsupported Cryptographic Parameters
    // and Incompatible Cryptographic Usage Mask, which 2.0 brought.
    assert_eq!(reason(&results[4]), "INVALID_FIELD", "{}", results[4]);
    assert_eq!(
        reason(&results[5]),
        "FEATURE_NOT_SUPPORTED",
        "{}",
        results[5]
    );
    assert_eq!(reason(&results[6]), "PERMISSION_DENIED", "{}", results[6]);
    assert!(
        message(&results[6]).contains("Usage Mask"),
        "{}",
        results[6]
    );

    let bob = App::of(&stack, BOB).run(&json!([
        {"op": "decrypt", "uid": private, "data": sealed, "params": params},
        {"op": "decrypt", "uid": "no-such-key", "data": sealed, "params": params},
    ]));
    assert!(bob[0].get("error").is_some(), "{}", bob[0]);
    assert_eq!(bob[0], bob[1], "Bob with Alice's key, and with none");
}

/// Get with a Key Wrapping Specification through PyKMIP: an AES key returned wrapped under
/// one of Alice's AES keys (NIST Key Wrap by default, AES Key Wrap Padding when named) and
/// under the public key of one of her RSA pairs (RSA-OAEP), an EC private key (PKCS#8, not a
/// whole number of semiblocks) under AES Key Wrap Padding. Each wrap is undone by the
/// `cryptography` package with the wrapping key read back by a plain Get, and gives the key a
/// plain Get returns; the Key Wrapping Data says how it was wrapped. In the TTLV encoding
/// (KMIP's default, and named), the wrap holds the key's Key Value, which PyKMIP reads.
/// Refused: MAC/signature wrapping, attributes, a wrapping key without Wrap Key in its mask or
/// not Active, NIST Key Wrap of material it cannot wrap, Bob's keys under Alice's wrapping
/// key, and objects held by the core.
fn get_returns_keys_wrapped_under_the_callers_keys(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let created = alice.run(&json!([
        {"op": "create", "name": "kek", "usage": ["WRAP_KEY", "UNWRAP_KEY"]},
        {"op": "create", "name": "kek-pre-active", "usage": ["WRAP_KEY"]},
        {"op": "create", "name": "wrapped-data-key"},
        {"op": "create_key_pair", "algorithm": "ECDSA", "length": 256, "name": "wrapped-ec"},
        {"op": "register_secret", "value": "73656372657421"},
    ]));
    let ids: Vec<&str> = created[..3].iter().map(|r| text(ok(r))).collect();
    let (kek, pre_active, key) = (ids[0], ids[1], ids[2]);
    let ec = text(&ok(&created[3])["private"]).to_owned();
    let secret = text(ok(&created[4])).to_owned();
    ok(&alice.run(&json!([{"op": "activate", "uid": kek}]))[0]);
    let (_, rsa_public, rsa_pkcs8, _) = active_rsa_pair(&alice, "wraps", "WRAP_KEY", "UNWRAP_KEY");
    let (kek_bytes, key_bytes) = (alice.get(kek), alice.get(key));
    let ec_pkcs8 = text(&ok(&alice.run(&json!([{"op": "get", "uid": ec}]))[0])["value"]).to_owned();
    assert!(
        !ec_pkcs8.len().is_multiple_of(16),
        "not whole semiblocks: {ec_pkcs8}"
    );

    let kwp = json!({"block_cipher_mode": "AES_KEY_WRAP_PADDING"});
    let oaep = json!({"padding_method": "OAEP", "hashing_algorithm": "SHA_256"});
    let results = alice.run(&json!([
        {"op": "get_wrapped", "uid": key, "wrapping_uid": kek},
        {"op": "get_wrapped", "uid": key, "wrapping_uid": kek, "params": kwp},
        {"op": "get_wrapped", "uid": key, "wrapping_uid": rsa_public, "params": oaep},
        {"op": "get_wrapped", "uid": ec, "wrapping_uid": kek, "params": kwp},
    ]));
    let wrapped: Vec<&serde_json::Value> = results.iter().map(ok).collect();
    let data = &wrapped[0]["wrapping"];
    assert_eq!(data["wrapping_method"], "ENCRYPT", "{data}");
    assert_eq!(data["encoding_option"], "NO_ENCODING", "{data}");
    let information = &data["encryption_key_information"];
    assert_eq!(information["unique_identifier"], kek, "{data}");
    assert_eq!(
        information["cryptographic_parameters"]["block_cipher_mode"], "NIST_KEY_WRAP",
        "the mode used is said: {data}"
    );
    assert_eq!(wrapped[0]["format"], "RAW", "{}", wrapped[0]);
    assert_eq!(wrapped[3]["format"], "PKCS_8", "{}", wrapped[3]);
    assert!(!results.iter().any(|r| r.to_string().contains(&key_bytes)));
    let unwrapped = alice.run(&json!([
        {"op": "aes", "key": kek_bytes, "mode": "NIST_KEY_WRAP", "data": wrapped[0]["value"],
            "decrypt": true},
        {"op": "aes", "key": kek_bytes, "mode": "AES_KEY_WRAP_PADDING",
            "data": wrapped[1]["value"], "decrypt": true},
        {"op": "oaep", "key": rsa_pkcs8, "data": wrapped[2]["value"], "hash": "SHA256",
            "decrypt": true},
        {"op": "aes", "key": kek_bytes, "mode": "AES_KEY_WRAP_PADDING",
            "data": wrapped[3]["value"], "decrypt": true},
    ]));
    assert_eq!(ok(&unwrapped[0]), &json!(key_bytes), "RFC 3394");
    assert_eq!(ok(&unwrapped[1]), &json!(key_bytes), "RFC 5649");
    assert_eq!(ok(&unwrapped[2]), &json!(key_bytes), "RSA-OAEP");
    assert_eq!(
        ok(&unwrapped[3]),
        &json!(ec_pkcs8),
        "a private key, RFC 5649"
    );

    let results = alice.run(&json!([
        {"op": "get_wrapped", "uid": key, "wrapping_uid": kek, "encoding": "NONE"},
        {"op": "get_wrapped", "uid": key, "wrapping_uid": kek, "encoding": "TTLV_ENCODING"},
        {"op": "get_wrapped", "uid": key, "wrapping_uid": kek, "method": "MAC_SIGN"},
        {"op": "get_wrapped", "uid": key, "wrapping_uid": kek,
            "attribute_names": ["Cryptographic Usage Mask"]},
        // The data key may encrypt and decrypt, not wrap.
        {"op": "get_wrapped", "uid": kek, "wrapping_uid": key},
        {"op": "get_wrapped", "uid": key, "wrapping_uid": pre_active},
        {"op": "get_wrapped", "uid": ec, "wrapping_uid": kek},
        {"op": "get_wrapped", "uid": secret, "wrapping_uid": kek},
        {"op": "get_wrapped", "uid": key, "wrapping_uid": "no-such-key"},
    ]));
    // In the TTLV encoding, named or not (KMIP's default), the wrap holds the key's Key Value
    // as PyKMIP reads it.
    for (result, named) in [(&results[0], false), (&results[1], true)] {
        let wrapped = ok(result);
        let encoding = &wrapped["wrapping"]["encoding_option"];
        assert_eq!(
            encoding.as_str() == Some("TTLV_ENCODING"),
            named,
            "{wrapped}"
        );
        let unwrapped = alice.run(&json!([{"op": "aes", "key": kek_bytes,
            "mode": "NIST_KEY_WRAP", "data": wrapped["value"], "decrypt": true}]));
        let key_value = alice.run(&json!([{"op": "read_key_value",
            "value": ok(&unwrapped[0])}]));
        assert_eq!(ok(&key_value[0]), &json!(key_bytes), "{wrapped}");
    }
    assert_eq!(
        reason(&results[2]),
        "FEATURE_NOT_SUPPORTED",
        "{}",
        results[2]
    );
    assert_eq!(
        reason(&results[3]),
        "FEATURE_NOT_SUPPORTED",
        "{}",
        results[3]
    );
    // KMIP 1.2's Incompatible Cryptographic Usage Mask.
    assert_eq!(reason(&results[4]), "PERMISSION_DENIED", "{}", results[4]);
    assert!(message(&results[4]).contains("Wrap Key"), "{}", results[4]);
    assert!(results[5].get("error").is_some(), "{}", results[5]);
    assert_eq!(reason(&results[6]), "INVALID_FIELD", "{}", results[6]);
    assert_eq!(
        reason(&results[7]),
        "FEATURE_NOT_SUPPORTED",
        "{}",
        results[7]
    );
    assert_eq!(reason(&results[8]), "ITEM_NOT_FOUND", "{}", results[8]);

    let bob = App::of(&stack, BOB);
    let bobs = bob.create("bobs-key");
    let results = bob.run(&json!([
        {"op": "get_wrapped", "uid": bobs, "wrapping_uid": kek},
        {"op": "get_wrapped", "uid": key, "wrapping_uid": kek},
    ]));
    assert_eq!(reason(&results[0]), "ITEM_NOT_FOUND", "{}", results[0]);
    assert!(results[1].get("error").is_some(), "{}", results[1]);
}

/// Register of wrapped key material through PyKMIP: an AES key wrapped by the `cryptography`
/// package under one of Alice's AES keys (RFC 3394: bare, and as the Key Value PyKMIP
/// TTLV-encodes, no Encoding Option named) and under the public key of one of her RSA pairs
/// (RSA-OAEP, unwrapped by its private key), and an RSA private key (PKCS#8) wrapped with RFC
/// 5649, are unwrapped by the gateway and stored: a plain Get returns the keys
/// `cryptography` wrapped, and the AES key encrypts at the gateway. A wrap altered by one bit
/// is a Cryptographic Failure and stores nothing; a wrapping key without Unwrap Key in its
/// mask, and Bob with Alice's wrapping key, are refused.
fn register_unwraps_key_material_wrapped_under_the_callers_keys(fixture: &Fixture) {
    let stack = fixture.stack();
    let alice = App::of(&stack, ALICE);
    let created = alice.run(&json!([
        {"op": "create", "name": "unwrapping-kek", "usage": ["WRAP_KEY", "UNWRAP_KEY"]},
        {"op": "create", "name": "wrap-only-kek", "usage": ["WRAP_KEY"]},
        {"op": "generate_rsa", "bits": 2048},
    ]));
    let (kek, wrap_only) = (text(ok(&created[0])), text(ok(&created[1])));
    let generated = ok(&created[2]).clone();
    for uid in [kek, wrap_only] {
        ok(&alice.run(&json!([{"op": "activate", "uid": uid}]))[0]);
    }
    let (_, rsa_public, _, rsa_der) = active_rsa_pair(&alice, "unwraps", "WRAP_KEY", "UNWRAP_KEY");
    let kek_bytes = alice.get(kek);
    let key: String = (0..32u8)
        .map(|byte| format!("{:02x}", byte ^ 0xa5))
        .collect();
    let key_value = alice.run(&json!([{"op": "key_value", "value": key}]));
    let wraps = alice.run(&json!([
        {"op": "aes", "key": kek_bytes, "mode": "NIST_KEY_WRAP", "data": key},
        {"op": "oaep", "key": rsa_der, "data": key, "hash": "SHA256"},
        {"op": "aes", "key": kek_bytes, "mode": "AES_KEY_WRAP_PADDING",
            "data": generated["pkcs8"]},
        {"op": "aes", "key": kek_bytes, "mode": "NIST_KEY_WRAP", "data": ok(&key_value[0])},
    ]));
    let (kw, oaep_wrap, kwp) = (ok(&wraps[0]), ok(&wraps[1]), ok(&wraps[2]));
    let ttlv_wrap = ok(&wraps[3]);
    let symmetric = |value: &serde_json::Value, wrapping: &str, params: serde_json::Value| {
        json!({"op": "register_wrapped", "kind": "SYMMETRIC", "value": value,
            "wrapping_uid": wrapping, "params": params, "algorithm": "AES", "length": 256,
            "usage": ["ENCRYPT", "DECRYPT"]})
    };
    let oaep = json!({"padding_method": "OAEP", "hashing_algorithm": "SHA_256"});
    let mut altered = hex::decode(text(kw)).unwrap();
    altered[3] ^= 1;
    let altered = json!(hex::encode(altered));
    let before = alice.run(&json!([{"op": "locate", "object_type": "SYMMETRIC_KEY"}]));
    let results = alice.run(&json!([
        symmetric(kw, kek, json!(null)),
        symmetric(oaep_wrap, &rsa_public, oaep),
        {"op": "register_wrapped", "kind": "PRIVATE", "value": kwp, "wrapping_uid": kek,
            "params": {"block_cipher_mode": "AES_KEY_WRAP_PADDING"}, "algorithm": "RSA",
            "length": 2048, "usage": ["SIGN"]},
    ]));
    let ids: Vec<&str> = results.iter().map(|r| text(ok(r))).collect();
    // Registered by a client naming no Encoding Option (in 1.2 PyKMIP writes it none): the
    // wrap holds a TTLV-encoded Key Value, KMIP's default.
    let mut ttlv = symmetric(ttlv_wrap, kek, json!(null));
    ttlv["encoding"] = json!("NONE");
    let registered = alice.run(&json!([ttlv]));
    let ttlv_id = text(ok(&registered[0]));
    let gets = alice.run(&json!([
        {"op": "get", "uid": ids[0]},
        {"op": "get", "uid": ids[1]},
        {"op": "get", "uid": ids[2]},
        {"op": "activate", "uid": ids[0]},
        {"op": "encrypt", "uid": ids[0], "mode": "CBC", "data": "00".repeat(16),
            "random_iv": true},
        {"op": "get", "uid": ttlv_id},
    ]));
    assert_eq!(ok(&gets[0])["value"], json!(key), "RFC 3394 unwrapped");
    assert_eq!(ok(&gets[1])["value"], json!(key), "RSA-OAEP unwrapped");
    assert_eq!(
        ok(&gets[2])["value"],
        generated["pkcs8"],
        "RFC 5649 unwrapped"
    );
    ok(&gets[4]);
    assert_eq!(ok(&gets[5])["value"], json!(key), "TTLV-encoded, unwrapped");

    let middle = alice.run(&json!([{"op": "locate", "object_type": "SYMMETRIC_KEY"}]));
    let results = alice.run(&json!([
        symmetric(&altered, kek, json!(null)),
        symmetric(kw, wrap_only, json!(null)),
        symmetric(kw, "no-such-key", json!(null)),
        {"op": "locate", "object_type": "SYMMETRIC_KEY"},
    ]));
    assert_eq!(
        reason(&results[0]),
        "CRYPTOGRAPHIC_FAILURE",
        "{}",
        results[0]
    );
    // KMIP 1.2's Incompatible Cryptographic Usage Mask.
    assert_eq!(reason(&results[1]), "PERMISSION_DENIED", "{}", results[1]);
    assert!(
        message(&results[1]).contains("Unwrap Key"),
        "{}",
        results[1]
    );
    assert_eq!(reason(&results[2]), "ITEM_NOT_FOUND", "{}", results[2]);
    let count = |located: &serde_json::Value| ok(located).as_array().unwrap().len();
    assert_eq!(
        count(&middle[0]),
        count(&before[0]) + 3,
        "three keys registered"
    );
    assert_eq!(count(&results[3]), count(&middle[0]), "nothing stored");

    let bob = App::of(&stack, BOB).run(&json!([symmetric(kw, kek, json!(null))]));
    assert_eq!(reason(&bob[0]), "ITEM_NOT_FOUND", "{}", bob[0]);
}

fn text(value: &serde_json::Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected text: {value}"))
}
