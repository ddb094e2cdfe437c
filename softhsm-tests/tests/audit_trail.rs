//! The audit trail end to end on the real binaries (krypton-dev's `Stack`: SoftHSM2 L1, core,
//! gateway, mutual TLS) with PyKMIP as the application: the decisions a security team asks
//! about — a Get refused for isolation, a Get refused by the kill switch, a refused unseal share —
//! are each in the core's hash chain (`kryptonctl audit tail`, `audit verify`) and in both
//! daemons' JSON-lines exports with the right fields, and the gateway's event of a request
//! carries the same correlation id as the core's record of it.
//!
//! Runs the debug binaries of the workspace (`cargo build --workspace --bins` builds them).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use krypton_dev::Stack;
use krypton_dev::ctl::Ctl;
use krypton_dev::pki::GATEWAY_IDENTITY;
use krypton_softhsm_tests::pykmip::{App, ok, reason};
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test, wait_for_tenant};
use serde_json::{Value, json};

const ALICE: &str = "app-alice";
const BOB: &str = "app-bob";

/// The longest a record may take to reach the chain or an export: the writers are
/// asynchronous, a group at a time; a bound against a hang, far above their pace.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(30);

const TESTS: [(&str, Test); 2] = [
    (
        "refusals_for_isolation_and_by_the_kill_switch_are_in_the_chain_and_both_exports_with_one_correlation_id",
        refusals_for_isolation_and_by_the_kill_switch_are_in_the_chain_and_both_exports_with_one_correlation_id,
    ),
    (
        "a_refused_unseal_share_is_in_the_chain_and_the_cores_export",
        a_refused_unseal_share_is_in_the_chain_and_the_cores_export,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

/// Waits for the first line of the JSON-lines file `path` that `matches`.
fn wait_for_line(path: &Path, matches: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found = text
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .find(|line| matches(line));
        if let Some(line) = found {
            return line;
        }
        assert!(
            started.elapsed() < ARRIVAL_LIMIT,
            "no such line in {}:\n{text}",
            path.display()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the newest record of the core's chain that `matches`.
fn wait_for_record(ctl: &Ctl, matches: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let records = ctl.audit_tail(200).unwrap();
        if let Some(record) = records.iter().rev().find(|record| matches(record)) {
            return record.clone();
        }
        assert!(
            started.elapsed() < ARRIVAL_LIMIT,
            "no such record in the chain: {records:#?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The gateway's event of a refused Get of `uid` by `app`, and the core's line and chain
/// record of the same request (found by the event's correlation id), each checked against
/// `reason` (the KMIP Result Reason) and `operation` (the core's), and `caller`'s rights.
fn assert_refused_everywhere(stack: &Stack, app: &str, uid: &str, reason: &str, operation: &str) {
    let event = wait_for_line(&stack.gateway_audit_file("gateway"), |line| {
        line["operation"] == "kmip-get" && line["caller"] == app && line["outcome"] == "refused"
    });
    assert_eq!(event["source"], "krypton-gateway", "{event}");
    assert_eq!(event["plane"], "data", "{event}");
    let subject = event["subject"].as_str().unwrap();
    assert!(subject.ends_with(&format!("object {uid}")), "{event}");
    assert!(
        event["reason"].as_str().unwrap().starts_with(reason),
        "{event}"
    );
    let correlation = event["correlation"].as_str().unwrap().to_owned();

    let caller = format!("gateway={GATEWAY_IDENTITY} for={app}");
    let line = wait_for_line(&stack.core_audit_file(), |line| {
        line["correlation"] == correlation.as_str()
    });
    assert_eq!(line["source"], "krypton-core", "{line}");
    assert_eq!(line["operation"], operation, "{line}");
    assert_eq!(line["caller"], caller.as_str(), "{line}");
    assert_eq!(line["outcome"], "refused", "{line}");
    assert!(
        line["reason"].as_str().unwrap().starts_with(reason),
        "{line}"
    );
    assert!(line["subject"].as_str().unwrap().contains(uid), "{line}");

    let record = wait_for_record(stack.core().ctl(), |record| {
        record["correlation"] == correlation.as_str()
    });
    assert_eq!(record["sequence"], line["sequence"], "{record} / {line}");
    assert_eq!(record["operation"], operation, "{record}");
    assert_eq!(record["caller"], caller.as_str(), "{record}");
    assert_eq!(record["outcome"], "refused", "{record}");
    assert_eq!(record["reason"], line["reason"], "{record}");
}

fn refusals_for_isolation_and_by_the_kill_switch_are_in_the_chain_and_both_exports_with_one_correlation_id(
    fixture: &Fixture,
) {
    let stack = fixture.stack();
    let (alice, bob) = (App::of(&stack, ALICE), App::of(&stack, BOB));
    let uid = alice.create("audited");
    let key = alice.get(&uid);

    // Isolation: Bob's Get of Alice's key goes to the core (it is not Bob's in the vault),
    // which finds no object of Bob's by that name.
    let refused = bob.run(&json!([{"op": "get", "uid": uid}])).remove(0);
    assert_eq!(reason(&refused), "ITEM_NOT_FOUND", "{refused}");
    assert!(!refused.to_string().contains(&key), "{refused}");
    assert_refused_everywhere(&stack, BOB, &uid, "ItemNotFound", "kmip-get");

    // Done operations are recorded too: Alice's Create and Get, as wrap and unwrap.
    let tenant = &stack.config().tenant;
    for operation in ["kmip-encrypt", "kmip-decrypt"] {
        let record = wait_for_record(stack.core().ctl(), |record| {
            record["operation"] == operation && record["outcome"] == "ok"
        });
        assert_eq!(
            record["caller"],
            format!("gateway={GATEWAY_IDENTITY} for={ALICE}").as_str(),
            "{record}"
        );
        assert_eq!(
            record["subject"],
            format!("{tenant}/{} key {uid}", stack.config().service).as_str(),
            "{record}"
        );
    }

    // The kill switch: the core refuses the unwrap of an unlinked tenant's key.
    let ctl = stack.core().ctl();
    ctl.unlink_tenant(tenant).unwrap();
    let refused = alice.run(&json!([{"op": "get", "uid": uid}])).remove(0);
    assert_eq!(reason(&refused), "PERMISSION_DENIED", "{refused}");
    assert_refused_everywhere(&stack, ALICE, &uid, "PermissionDenied", "kmip-decrypt");

    // The chain is whole, data-path records and all.
    let verified = ctl.audit_verify().unwrap();
    assert_eq!(verified["intact"], true, "{verified}");
}

fn a_refused_unseal_share_is_in_the_chain_and_the_cores_export(fixture: &Fixture) {
    let stack = fixture.stack();
    let ctl = stack.core().ctl();
    ctl.seal().unwrap();
    let shares = stack.share_files();
    ctl.unseal(&shares[0]).unwrap();
    // The same share again: refused, and the attempt goes on.
    assert!(
        ctl.unseal(&shares[0]).is_err(),
        "a repeated share is refused"
    );
    ctl.unseal(&shares[1]).unwrap();
    wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    ok(&App::of(&stack, ALICE).run(&json!([{"op": "create", "name": "after"}]))[0]);

    let record = wait_for_record(ctl, |record| record["operation"] == "unseal-share-refused");
    let subject = record["subject"].as_str().unwrap();
    assert!(subject.starts_with("share 1"), "{record}");
    let share = std::fs::read_to_string(&shares[0]).unwrap();
    let material = share.lines().last().unwrap().trim();
    assert!(
        !record.to_string().contains(material),
        "no share material in the record: {record}"
    );
    let line = wait_for_line(&stack.core_audit_file(), |line| {
        line["operation"] == "unseal-share-refused"
    });
    assert_eq!(line["sequence"], record["sequence"], "{line} / {record}");
    assert_eq!(line["plane"], "control", "{line}");
    assert_eq!(line["subject"], record["subject"], "{line}");
}
