//! krypton-gateway in front of krypton-core, spoken to in raw TTLV over mutual TLS as
//! "app-alice" (and "app-bob" where identities meet): requests written out byte by byte below (every line one item, its tag named),
//! responses taken apart by this file's own small TTLV reader. Nothing of Krypton's `kmip` codec
//! is used, so the bytes on the wire are checked against the specification rather than against
//! the code that produced them.
//!
//! Covers Discover Versions and Query (only the Query Functions asked), Create then Get of an
//! AES-256 key, the lifecycle of a key (Create, Activate, Get, Revoke, Destroy) with Bob refused
//! it throughout, the core going away (Create and Get fail closed, Revoke and Destroy go on) and
//! coming back, a gateway restart that keeps the key, a batch answered item by item with its
//! Unique Batch Item IDs, batches under each Batch Error Continuation Option (Stop, Continue,
//! Undo), operation codes KMIP does not define (Operation Not Supported, the connection kept),
//! requests at KMIP 1.0 and 2.0 answered in their own
//! version (Get Attributes with only 1.0 attributes, or in the 2.x Attributes structure), and bad
//! input — garbage, a message that is not a structure, an over-long length, a truncated message,
//! valid TTLV that is no request — answered with an error or a closed connection within a
//! bounded wait, while other connections go on being served. (A message that stalls half-sent
//! is dropped at the gateway's read timeout: `gateway/tests/limits.rs`, with a short timeout.)
//! And a flood of 2,000 silent TCP connections, after which Alice still creates and gets a key.
//!
//! Runs the debug binaries of the workspace (`cargo build --workspace --bins` builds them).

#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use krypton_dev::Stack;
use krypton_softhsm_tests::pykmip::App;
use krypton_softhsm_tests::suite::{self, Fixture, Test};
use krypton_softhsm_tests::tls::{self, TlsStream};

const ALICE: &str = "app-alice";
const BOB: &str = "app-bob";

/// The longest any read or write may wait: a response that takes longer is a hang.
const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest response this client reads.
const MAX_RESPONSE: usize = 1 << 20;

// The tags and values the checks read, from the KMIP 1.4 §9.1.3 and 2.1 §11 tables.
const RESPONSE_MESSAGE: u32 = 0x42007B;
const RESPONSE_HEADER: u32 = 0x42007A;
const PROTOCOL_VERSION: u32 = 0x420069;
const PROTOCOL_VERSION_MAJOR: u32 = 0x42006A;
const PROTOCOL_VERSION_MINOR: u32 = 0x42006B;
const TIME_STAMP: u32 = 0x420092;
const BATCH_COUNT: u32 = 0x42000D;
const BATCH_ITEM: u32 = 0x42000F;
const OPERATION: u32 = 0x42005C;
const UNIQUE_BATCH_ITEM_ID: u32 = 0x420093;
const RESULT_STATUS: u32 = 0x42007F;
const RESULT_REASON: u32 = 0x42007E;
const RESULT_MESSAGE: u32 = 0x42007D;
const RESPONSE_PAYLOAD: u32 = 0x42007C;
const VENDOR_IDENTIFICATION: u32 = 0x42009D;
const OBJECT_TYPE: u32 = 0x420057;
const UNIQUE_IDENTIFIER: u32 = 0x420094;
const SYMMETRIC_KEY: u32 = 0x42008F;
const KEY_BLOCK: u32 = 0x420040;
const KEY_FORMAT_TYPE: u32 = 0x420042;
const KEY_VALUE: u32 = 0x420045;
const KEY_MATERIAL: u32 = 0x420043;
const CRYPTOGRAPHIC_ALGORITHM: u32 = 0x420028;
const CRYPTOGRAPHIC_LENGTH: u32 = 0x42002A;
const STATE: u32 = 0x42008D;
const ATTRIBUTE: u32 = 0x420008;
const ATTRIBUTE_NAME: u32 = 0x42000A;
const ATTRIBUTE_VALUE: u32 = 0x42000B;
/// KMIP 2.x: the attributes of an object, each under its own tag.
const ATTRIBUTES: u32 = 0x420125;

const STRUCTURE: u8 = 0x01;
const INTEGER: u8 = 0x02;
const ENUMERATION: u8 = 0x05;
const TEXT_STRING: u8 = 0x07;
const BYTE_STRING: u8 = 0x08;
const DATE_TIME: u8 = 0x09;

const OP_CREATE: u32 = 0x01;
const OP_GET: u32 = 0x0A;
const OP_GET_ATTRIBUTES: u32 = 0x0B;
const OP_ACTIVATE: u32 = 0x12;
const OP_REVOKE: u32 = 0x13;
const OP_DESTROY: u32 = 0x14;
const OP_QUERY: u32 = 0x18;
const OP_DISCOVER_VERSIONS: u32 = 0x1E;
/// Join Split Key: the last operation KMIP 1.2 defines.
const OP_LAST_OF_1_2: u32 = 0x29;
const STATUS_SUCCESS: u32 = 0;
const STATUS_OPERATION_FAILED: u32 = 1;
const STATUS_OPERATION_UNDONE: u32 = 3;
const REASON_ITEM_NOT_FOUND: u32 = 0x01;
const REASON_INVALID_MESSAGE: u32 = 0x04;
const REASON_OPERATION_NOT_SUPPORTED: u32 = 0x05;
const REASON_FEATURE_NOT_SUPPORTED: u32 = 0x08;
const REASON_PERMISSION_DENIED: u32 = 0x0C;
const REASON_GENERAL_FAILURE: u32 = 0x0100;
const OBJECT_SYMMETRIC_KEY: u32 = 0x02;
const FORMAT_RAW: u32 = 0x01;
const ALGORITHM_AES: u32 = 0x03;
const STATE_PRE_ACTIVE: u32 = 0x01;
const REVOCATION_CESSATION_OF_OPERATION: u32 = 0x06;
const CONTINUE: u32 = 0x01;
const STOP: u32 = 0x02;
const UNDO: u32 = 0x03;
/// A key no one has, in the form of the gateway's identifiers.
const NO_SUCH_KEY: &str = "00000000-0000-0000-0000-000000000000";

/// The attributes KMIP 1.0 defines (§3), by name.
const KMIP_1_0_ATTRIBUTES: [&str; 32] = [
    "Unique Identifier",
    "Name",
    "Object Type",
    "Cryptographic Algorithm",
    "Cryptographic Length",
    "Cryptographic Parameters",
    "Cryptographic Domain Parameters",
    "Certificate Type",
    "Certificate Identifier",
    "Certificate Subject",
    "Certificate Issuer",
    "Digest",
    "Operation Policy Name",
    "Cryptographic Usage Mask",
    "Lease Time",
    "Usage Limits",
    "State",
    "Initial Date",
    "Activation Date",
    "Process Start Date",
    "Protect Stop Date",
    "Deactivation Date",
    "Destroy Date",
    "Compromise Occurrence Date",
    "Compromise Date",
    "Revocation Reason",
    "Archive Date",
    "Object Group",
    "Link",
    "Application Specific Information",
    "Contact Information",
    "Last Change Date",
];

const TESTS: [(&str, Test); 12] = [
    ("discover_versions_and_query", discover_versions_and_query),
    (
        "create_then_get_returns_32_key_bytes",
        create_then_get_returns_32_key_bytes,
    ),
    ("lifecycle_and_isolation", lifecycle_and_isolation),
    (
        "core_down_fails_closed_and_comes_back",
        core_down_fails_closed_and_comes_back,
    ),
    (
        "gateway_restart_keeps_the_key",
        gateway_restart_keeps_the_key,
    ),
    (
        "a_batch_is_answered_item_by_item",
        a_batch_is_answered_item_by_item,
    ),
    (
        "batch_error_continuation_options_stop_continue_and_undo",
        batch_error_continuation_options_stop_continue_and_undo,
    ),
    (
        "an_operation_kmip_does_not_define_is_not_supported_and_the_connection_kept",
        an_operation_kmip_does_not_define_is_not_supported_and_the_connection_kept,
    ),
    (
        "requests_at_1_0_and_2_0_are_answered_in_their_version",
        requests_at_1_0_and_2_0_are_answered_in_their_version,
    ),
    (
        "bad_input_gets_an_error_or_a_closed_connection",
        bad_input_gets_an_error_or_a_closed_connection,
    ),
    (
        "valid_ttlv_that_is_no_request_is_refused_and_the_connection_kept",
        valid_ttlv_that_is_no_request_is_refused_and_the_connection_kept,
    ),
    (
        "a_flood_of_silent_connections_does_not_keep_alice_out",
        a_flood_of_silent_connections_does_not_keep_alice_out,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

// ---------------------------------------------------------------------------------------------
// The tests

fn discover_versions_and_query(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut connection = Connection::open(&stack);

    let response = connection.exchange(&discover_versions((1, 2)));
    let [item] = response.items((1, 2))[..] else {
        panic!("one batch item expected: {response:?}")
    };
    let payload = succeeded(item, OP_DISCOVER_VERSIONS);
    let versions: Vec<(u32, u32)> = payload
        .all(PROTOCOL_VERSION)
        .map(|version| {
            (
                version.child(PROTOCOL_VERSION_MAJOR).integer(),
                version.child(PROTOCOL_VERSION_MINOR).integer(),
            )
        })
        .collect();
    for spoken in [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0), (2, 1)] {
        assert!(versions.contains(&spoken), "{spoken:?} not in {versions:?}");
    }
    let mut newest_first = versions.clone();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(
        versions, newest_first,
        "Discover Versions lists newest first"
    );

    let response = connection.exchange(&query((1, 2)));
    let [item] = response.items((1, 2))[..] else {
        panic!("one batch item expected: {response:?}")
    };
    let payload = succeeded(item, OP_QUERY);
    let operations: Vec<u32> = payload.all(OPERATION).map(Ttlv::enumeration).collect();
    for operation in [OP_CREATE, OP_GET, OP_QUERY, OP_DISCOVER_VERSIONS] {
        assert!(
            operations.contains(&operation),
            "{operation:#x} not in {operations:x?}"
        );
    }
    assert!(
        operations
            .iter()
            .all(|&operation| operation <= OP_LAST_OF_1_2),
        "a KMIP 1.2 client is offered operations of later versions: {operations:x?}"
    );
    let object_types: Vec<u32> = payload.all(OBJECT_TYPE).map(Ttlv::enumeration).collect();
    assert!(
        object_types.contains(&OBJECT_SYMMETRIC_KEY),
        "{object_types:x?}"
    );
    assert!(payload.find(VENDOR_IDENTIFICATION).is_none(), "{payload:?}");

    // Only what is asked: here the server information, and neither list.
    let item = connection.answer(&query_server_information(KMIP_1_2));
    let payload = succeeded(&item, OP_QUERY);
    assert!(
        payload
            .child(VENDOR_IDENTIFICATION)
            .text()
            .starts_with("Krypton gateway"),
        "{payload:?}"
    );
    assert!(payload.find(OPERATION).is_none(), "{payload:?}");
    assert!(payload.find(OBJECT_TYPE).is_none(), "{payload:?}");
}

fn create_then_get_returns_32_key_bytes(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut connection = Connection::open(&stack);
    let created = connection.exchange(&create_aes_256_1x((1, 2)));
    let [item] = created.items((1, 2))[..] else {
        panic!("one batch item expected: {created:?}")
    };
    let payload = succeeded(item, OP_CREATE);
    assert_eq!(
        payload.child(OBJECT_TYPE).enumeration(),
        OBJECT_SYMMETRIC_KEY
    );
    let id = payload.child(UNIQUE_IDENTIFIER).text().to_owned();

    let got = connection.exchange(&on_key((1, 2), OP_GET, &id));
    let [item] = got.items((1, 2))[..] else {
        panic!("one batch item expected: {got:?}")
    };
    let key = aes_256_key(succeeded(item, OP_GET), &id);
    // The same key again, on a new connection.
    let again = Connection::open(&stack).exchange(&on_key((1, 2), OP_GET, &id));
    let [item] = again.items((1, 2))[..] else {
        panic!("one batch item expected: {again:?}")
    };
    assert_eq!(aes_256_key(succeeded(item, OP_GET), &id), key);
}

/// Alice's key through its lifecycle, at KMIP 1.2: readable while Active and after Revoke, never
/// by Bob, who cannot destroy it either, and refused to Alice too once she destroys it.
fn lifecycle_and_isolation(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Connection::open(&stack);
    let id = alice.create();
    alice.on_key_succeeds(&on_key(KMIP_1_2, OP_ACTIVATE, &id), OP_ACTIVATE, &id);
    let key = alice.get(&id);
    alice.on_key_succeeds(
        &revoke(KMIP_1_2, &id, REVOCATION_CESSATION_OF_OPERATION),
        OP_REVOKE,
        &id,
    );
    // A revoked (Deactivated) key can still be read: old data stays decryptable.
    assert_eq!(alice.get(&id), key);

    let mut bob = Connection::open_as(&stack, BOB);
    for operation in [OP_GET, OP_DESTROY] {
        let item = bob.answer(&on_key(KMIP_1_2, operation, &id));
        let reason = failed(&item);
        assert!(
            [REASON_ITEM_NOT_FOUND, REASON_PERMISSION_DENIED].contains(&reason),
            "Bob's {operation:#x} of Alice's key: {item:?}"
        );
        assert_no_key(&item, &key);
    }
    // Bob's Destroy left the key as it was.
    assert_eq!(alice.get(&id), key);

    alice.on_key_succeeds(&on_key(KMIP_1_2, OP_DESTROY, &id), OP_DESTROY, &id);
    let item = alice.answer(&on_key(KMIP_1_2, OP_GET, &id));
    let reason = failed(&item);
    assert!(
        [REASON_ITEM_NOT_FOUND, REASON_PERMISSION_DENIED].contains(&reason),
        "Get after Destroy: {item:?}"
    );
    assert_no_key(&item, &key);
}

/// With the core stopped, on a connection made before: Create and Get fail closed (General
/// Failure, the core named unreachable, no key bytes), Revoke and Destroy of the active key
/// succeed. With the core back, the same connection creates and reads keys again.
fn core_down_fails_closed_and_comes_back(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let mut alice = Connection::open(&stack);
    let id = alice.create();
    alice.on_key_succeeds(&on_key(KMIP_1_2, OP_ACTIVATE, &id), OP_ACTIVATE, &id);
    let key = alice.get(&id);

    stack.stop_core().unwrap();
    for request in [create_aes_256_1x(KMIP_1_2), on_key(KMIP_1_2, OP_GET, &id)] {
        let item = alice.answer(&request);
        assert_eq!(failed(&item), REASON_GENERAL_FAILURE, "{item:?}");
        assert!(
            item.child(RESULT_MESSAGE).text().contains("unreachable"),
            "{item:?}"
        );
        assert_no_key(&item, &key);
    }
    alice.on_key_succeeds(
        &revoke(KMIP_1_2, &id, REVOCATION_CESSATION_OF_OPERATION),
        OP_REVOKE,
        &id,
    );
    alice.on_key_succeeds(&on_key(KMIP_1_2, OP_DESTROY, &id), OP_DESTROY, &id);

    stack.restart_core().unwrap();
    let id = alice.create();
    assert_ne!(alice.get(&id), key);
}

/// A key made before a gateway restart is read, with the same bytes, on a connection to the
/// restarted gateway: its vault kept the key.
fn gateway_restart_keeps_the_key(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let mut alice = Connection::open(&stack);
    let id = alice.create();
    let key = alice.get(&id);

    let stopped = stack.restart_gateway().unwrap();
    assert!(
        stopped.is_some_and(|status| status.success()),
        "{stopped:?}"
    );
    assert_eq!(Connection::open(&stack).get(&id), key);
    stack_still_running(stack);
}

fn a_batch_is_answered_item_by_item(fixture: &Fixture) {
    let stack = fixture.stack();
    let response = Connection::open(&stack).exchange(&batch_create_then_get((1, 2)));
    let [created, got] = response.items((1, 2))[..] else {
        panic!("two batch items expected: {response:?}")
    };
    assert_eq!(
        created.child(UNIQUE_BATCH_ITEM_ID).bytes(),
        [0xC0, 0xFF, 0xEE, 0x01]
    );
    assert_eq!(
        got.child(UNIQUE_BATCH_ITEM_ID).bytes(),
        [0xC0, 0xFF, 0xEE, 0x02]
    );
    let id = succeeded(created, OP_CREATE)
        .child(UNIQUE_IDENTIFIER)
        .text();
    // The Get named no key: the ID Placeholder, set by the Create, stood for it.
    aes_256_key(succeeded(got, OP_GET), id);
}

/// Batches of Gets of Alice's key and of a key no one has, through the gateway to the core: Stop
/// ends at the failure, Continue runs every item, Undo withdraws the Get before the failure and
/// refuses outright a batch with a Create, which could not be taken back.
fn batch_error_continuation_options_stop_continue_and_undo(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Connection::open(&stack);
    let id = alice.create();
    let key = alice.get(&id);
    let get = get_item(&id);
    let missing = get_item(NO_SUCH_KEY);

    let response = alice.exchange(&batch(KMIP_1_2, STOP, &[&get, &missing, &get]));
    let [got, refused] = response.items(KMIP_1_2)[..] else {
        panic!("Stop: two batch items expected: {response:?}")
    };
    assert_eq!(aes_256_key(succeeded(got, OP_GET), &id), key);
    assert_eq!(failed(refused), REASON_ITEM_NOT_FOUND, "{refused:?}");

    let response = alice.exchange(&batch(KMIP_1_2, CONTINUE, &[&missing, &get, &missing]));
    let [first, got, last] = response.items(KMIP_1_2)[..] else {
        panic!("Continue: three batch items expected: {response:?}")
    };
    assert_eq!(failed(first), REASON_ITEM_NOT_FOUND, "{first:?}");
    assert_eq!(aes_256_key(succeeded(got, OP_GET), &id), key);
    assert_eq!(failed(last), REASON_ITEM_NOT_FOUND, "{last:?}");

    // Gets change nothing: under Undo the batch runs, and the Get before the failure is
    // reported undone, without its key.
    let response = alice.exchange(&batch(KMIP_1_2, UNDO, &[&get, &missing, &get]));
    let [undone, refused] = response.items(KMIP_1_2)[..] else {
        panic!("Undo: two batch items expected: {response:?}")
    };
    assert_eq!(
        undone.child(RESULT_STATUS).enumeration(),
        STATUS_OPERATION_UNDONE,
        "{undone:?}"
    );
    assert_eq!(undone.child(OPERATION).enumeration(), OP_GET);
    assert!(undone.find(RESPONSE_PAYLOAD).is_none(), "{undone:?}");
    assert_no_key(undone, &key);
    assert_eq!(failed(refused), REASON_ITEM_NOT_FOUND, "{refused:?}");

    // A Create cannot be undone: the batch is refused whole, before anything runs.
    let response = alice.exchange(&batch(KMIP_1_2, UNDO, &[&create_item(), &missing]));
    let [create, get] = response.items(KMIP_1_2)[..] else {
        panic!("Undo with a Create: two batch items expected: {response:?}")
    };
    for refused in [create, get] {
        assert_eq!(failed(refused), REASON_FEATURE_NOT_SUPPORTED, "{refused:?}");
    }
    assert_eq!(create.child(OPERATION).enumeration(), OP_CREATE);
}

/// Operation codes KMIP does not define: each item answered Operation Not Supported, the code
/// echoed, the other items of its batch answered, and the connection served on.
fn an_operation_kmip_does_not_define_is_not_supported_and_the_connection_kept(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut connection = Connection::open(&stack);
    for code in [0x0000_00FF, 0x00AB_CDEF] {
        let unknown = item_without_payload(code);
        let item = connection.answer(&batch(KMIP_1_2, STOP, &[&unknown]));
        assert_eq!(failed(&item), REASON_OPERATION_NOT_SUPPORTED, "{item:?}");
        assert_eq!(item.child(OPERATION).enumeration(), code, "{item:?}");
        connection.discover_versions();

        let discover = item_without_payload(OP_DISCOVER_VERSIONS);
        let response = connection.exchange(&batch(KMIP_1_2, CONTINUE, &[&unknown, &discover]));
        let [refused, answered] = response.items(KMIP_1_2)[..] else {
            panic!("two batch items expected: {response:?}")
        };
        assert_eq!(
            failed(refused),
            REASON_OPERATION_NOT_SUPPORTED,
            "{refused:?}"
        );
        succeeded(answered, OP_DISCOVER_VERSIONS);
    }
}

fn requests_at_1_0_and_2_0_are_answered_in_their_version(fixture: &Fixture) {
    let stack = fixture.stack();
    let cases: [(Version, Vec<u8>, AttributesCheck); 2] = [
        ((1, 0), create_aes_256_1x((1, 0)), attributes_of_kmip_1_0),
        ((2, 0), create_aes_256_2x((2, 0)), attributes_of_kmip_2),
    ];
    for (version, create, check_attributes) in cases {
        let mut connection = Connection::open(&stack);
        let created = connection.exchange(&create);
        let [item] = created.items(version)[..] else {
            panic!("one batch item expected at {version:?}: {created:?}")
        };
        let id = succeeded(item, OP_CREATE)
            .child(UNIQUE_IDENTIFIER)
            .text()
            .to_owned();
        let got = connection.exchange(&on_key(version, OP_GET, &id));
        let [item] = got.items(version)[..] else {
            panic!("one batch item expected at {version:?}: {got:?}")
        };
        aes_256_key(succeeded(item, OP_GET), &id);
        let attributes = connection.exchange(&on_key(version, OP_GET_ATTRIBUTES, &id));
        let [item] = attributes.items(version)[..] else {
            panic!("one batch item expected at {version:?}: {attributes:?}")
        };
        let payload = succeeded(item, OP_GET_ATTRIBUTES);
        assert_eq!(payload.child(UNIQUE_IDENTIFIER).text(), id);
        check_attributes(payload);
    }
}

fn bad_input_gets_an_error_or_a_closed_connection(fixture: &Fixture) {
    let stack = fixture.stack();
    // A client already connected before the bad input, served throughout.
    let mut bystander = Connection::open(&stack);
    bystander.discover_versions();

    // Each sent on a new connection; `true`: then half-closed, for a message the gateway can
    // only know to be cut short when the stream ends. The others stay open, so the gateway
    // must answer from what it has, not wait for bytes that never come.
    let truncated = discover_versions((1, 2));
    let bad_inputs: [(&str, Vec<u8>, bool); 5] = [
        (
            "garbage",
            b"GET / HTTP/1.1\r\nHost: krypton\r\n\r\n".to_vec(),
            false,
        ),
        (
            "a message that is not a structure",
            hex(
                "42006A 02 00000004 00000001 00000000", // Protocol Version Major, alone
            ),
            false,
        ),
        (
            "a length just over the gateway's 1 MiB limit",
            hex(
                "420078 01 000FFFF9", // Request Message, 1 MiB - 7 bytes (1 MiB + 1 in all)
            ),
            false,
        ),
        (
            "a 4 GiB length",
            hex(
                "420078 01 FFFFFFF8", // Request Message, 4 GiB - 8 bytes
            ),
            false,
        ),
        (
            "a truncated message",
            truncated[..truncated.len() / 2].to_vec(),
            true,
        ),
    ];
    for (what, bytes, half_close) in bad_inputs {
        let mut connection = Connection::open(&stack);
        connection.send(&bytes);
        if half_close {
            connection.finish_sending();
        }
        match connection.next() {
            Next::Closed => {}
            Next::Response(response) => {
                let [item] = response.items((1, 0))[..] else {
                    panic!("{what}: one batch item expected: {response:?}")
                };
                let reason = failed(item);
                assert_eq!(reason, REASON_INVALID_MESSAGE, "{what}: {item:?}");
                assert!(
                    matches!(connection.next(), Next::Closed),
                    "{what}: the connection stays open after a framing fault"
                );
            }
        }
        bystander.discover_versions();
        Connection::open(&stack).discover_versions();
    }
    stack_still_running(stack);
}

fn valid_ttlv_that_is_no_request_is_refused_and_the_connection_kept(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut connection = Connection::open(&stack);
    // Each answered in the version it claims, or in 1.0 when it claims none.
    let not_requests = [
        (
            (1, 0),
            hex(
                "420078 01 00000000", // Request Message, empty: no header, no batch item
            ),
        ),
        (
            (1, 2),
            hex(&format!(
                concat!(
                    "420078 01 00000040", // Request Message, 64 bytes
                    "{header}",           //   Request Header, 64 bytes: 1 item, yet none follows
                ),
                header = request_header((1, 2), 1),
            )),
        ),
    ];
    for (version, request) in not_requests {
        let response = connection.exchange(&request);
        let [item] = response.items(version)[..] else {
            panic!("one batch item expected: {response:?}")
        };
        assert_eq!(failed(item), REASON_INVALID_MESSAGE, "{response:?}");
        // The stream is still at a message boundary: the same connection goes on.
        connection.discover_versions();
    }
}

/// The stack is dropped (and so stopped) only now, after every check of a test; the gateway
/// must still have been running.
/// 2,000 TCP connections that never begin TLS, from the applications' own address, then Alice
/// creates and gets a key: the gateway pushes the oldest silent connections out of its small
/// handshake stage to make room, so the flood never holds her out.
fn a_flood_of_silent_connections_does_not_keep_alice_out(fixture: &Fixture) {
    const FLOOD: u64 = 2_000;
    let stack = fixture.stack();
    raise_open_file_limit(FLOOD + 256);
    let silent: Vec<_> = (0..FLOOD)
        .map(|_| std::net::TcpStream::connect(stack.gateway_addr()).unwrap())
        .collect();
    let mut alice = Connection::open(&stack);
    let id = alice.create();
    let key = alice.get(&id);
    assert_eq!(Connection::open(&stack).get(&id), key);
    drop(silent);
    stack_still_running(stack);
}

/// Raises this process's soft limit of open files to at least `wanted`, within the hard limit.
fn raise_open_file_limit(wanted: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < wanted {
        assert!(
            hard >= wanted,
            "the hard limit of open files ({hard}) is below {wanted}"
        );
        setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).unwrap();
    }
}

fn stack_still_running(mut stack: Stack) {
    stack
        .check_running()
        .unwrap_or_else(|error| panic!("the stack died: {error}"));
}

// ---------------------------------------------------------------------------------------------
// Requests, byte by byte. A version is (major, minor).

type Version = (u32, u32);

/// The version of the lifecycle tests' requests.
const KMIP_1_2: Version = (1, 2);

/// The checks of a Get Attributes payload in one protocol version.
type AttributesCheck = fn(&Ttlv);

/// A Request Header (64 bytes in all) at `version` for `count` batch items.
fn request_header((major, minor): Version, count: u32) -> String {
    format!(
        concat!(
            "420077 01 00000038",                      // Request Header, 56 bytes
            "420069 01 00000020",                      //   Protocol Version, 32 bytes
            "42006A 02 00000004 {major:08X} 00000000", //     Protocol Version Major
            "42006B 02 00000004 {minor:08X} 00000000", //     Protocol Version Minor
            "42000D 02 00000004 {count:08X} 00000000", //   Batch Count
        ),
        major = major,
        minor = minor,
        count = count,
    )
}

/// Discover Versions listing no version: the server lists every version it speaks.
fn discover_versions(version: Version) -> Vec<u8> {
    hex(&format!(
        concat!(
            "420078 01 00000060",                   // Request Message, 96 bytes
            "{header}",                             //   Request Header, 64 bytes
            "42000F 01 00000018",                   //   Batch Item, 24 bytes
            "42005C 05 00000004 0000001E 00000000", //     Operation: Discover Versions
            "420079 01 00000000",                   //     Request Payload, empty
        ),
        header = request_header(version, 1),
    ))
}

/// Query for the operations and the object types.
fn query(version: Version) -> Vec<u8> {
    hex(&format!(
        concat!(
            "420078 01 00000080",                   // Request Message, 128 bytes
            "{header}",                             //   Request Header, 64 bytes
            "42000F 01 00000038",                   //   Batch Item, 56 bytes
            "42005C 05 00000004 00000018 00000000", //     Operation: Query
            "420079 01 00000020",                   //     Request Payload, 32 bytes
            "420074 05 00000004 00000001 00000000", //       Query Function: Query Operations
            "420074 05 00000004 00000002 00000000", //       Query Function: Query Objects
        ),
        header = request_header(version, 1),
    ))
}

/// Query for the server information alone.
fn query_server_information(version: Version) -> Vec<u8> {
    hex(&format!(
        concat!(
            "420078 01 00000070",                   // Request Message, 112 bytes
            "{header}",                             //   Request Header, 64 bytes
            "42000F 01 00000028",                   //   Batch Item, 40 bytes
            "42005C 05 00000004 00000018 00000000", //     Operation: Query
            "420079 01 00000010",                   //     Request Payload, 16 bytes
            "420074 05 00000004 00000003 00000000", //       Query Function: Server Information
        ),
        header = request_header(version, 1),
    ))
}

/// A request at `version` of `items` (batch items as below, whose lengths are counted here)
/// under the Batch Error Continuation Option `option`.
fn batch(version: Version, option: u32, items: &[&str]) -> Vec<u8> {
    let count = u32::try_from(items.len()).unwrap();
    let items = items.concat();
    let length = 80 + hex_digits(&items) / 2;
    hex(&format!(
        concat!(
            "420078 01 {length:08X}", // Request Message
            "{header}",               //   Request Header, 80 bytes
            "{items}",
        ),
        length = length,
        header = request_header_with_option(version, count, option),
        items = items,
    ))
}

/// A Request Header (80 bytes in all) at `version` for `count` batch items, with a Batch Error
/// Continuation Option.
fn request_header_with_option((major, minor): Version, count: u32, option: u32) -> String {
    format!(
        concat!(
            "420077 01 00000048",                       // Request Header, 72 bytes
            "420069 01 00000020",                       //   Protocol Version, 32 bytes
            "42006A 02 00000004 {major:08X} 00000000",  //     Protocol Version Major
            "42006B 02 00000004 {minor:08X} 00000000",  //     Protocol Version Minor
            "42000E 05 00000004 {option:08X} 00000000", //   Batch Error Continuation Option
            "42000D 02 00000004 {count:08X} 00000000",  //   Batch Count
        ),
        major = major,
        minor = minor,
        option = option,
        count = count,
    )
}

/// A Batch Item (80 bytes in all): Get of key `id`, which must be a UUID.
fn get_item(id: &str) -> String {
    assert_eq!(id.len(), 36, "not a UUID: {id}");
    format!(
        concat!(
            "42000F 01 00000048",                   // Batch Item, 72 bytes
            "42005C 05 00000004 0000000A 00000000", //   Operation: Get
            "420079 01 00000030",                   //   Request Payload, 48 bytes
            "420094 07 00000024 {id} 00000000",     //     Unique Identifier, 36 bytes + padding
        ),
        id = hex_of(id.as_bytes()),
    )
}

/// A Batch Item (224 bytes in all): Create of an AES-256 key at KMIP 1.x.
fn create_item() -> String {
    format!(
        concat!(
            "42000F 01 000000D8",                   // Batch Item, 216 bytes
            "42005C 05 00000004 00000001 00000000", //   Operation: Create
            "{payload}",                            //   Request Payload, 200 bytes
        ),
        payload = CREATE_AES_256_PAYLOAD_1X,
    )
}

/// A Batch Item (32 bytes in all) of the operation coded `operation`, with an empty payload.
fn item_without_payload(operation: u32) -> String {
    format!(
        concat!(
            "42000F 01 00000018",                          // Batch Item, 24 bytes
            "42005C 05 00000004 {operation:08X} 00000000", //   Operation
            "420079 01 00000000",                          //   Request Payload, empty
        ),
        operation = operation,
    )
}

/// The Request Payload (200 bytes in all) of a KMIP 1.x Create of an AES-256 key for Encrypt
/// and Decrypt: attributes in a Template-Attribute, each named by text.
const CREATE_AES_256_PAYLOAD_1X: &str = concat!(
    "420079 01 000000C0",                   // Request Payload, 192 bytes
    "420057 05 00000004 00000002 00000000", //   Object Type: Symmetric Key
    "420091 01 000000A8",                   //   Template-Attribute, 168 bytes
    "420008 01 00000030",                   //     Attribute, 48 bytes
    "42000A 07 00000017",                   //       Attribute Name, 23 bytes:
    "43727970746F6772617068696320416C676F726974686D 00", // "Cryptographic Algorithm" + padding
    "42000B 05 00000004 00000003 00000000", //       Attribute Value: AES
    "420008 01 00000030",                   //     Attribute, 48 bytes
    "42000A 07 00000014",                   //       Attribute Name, 20 bytes:
    "43727970746F67726170686963204C656E677468 00000000", // "Cryptographic Length" + padding
    "42000B 02 00000004 00000100 00000000", //       Attribute Value: 256
    "420008 01 00000030",                   //     Attribute, 48 bytes
    "42000A 07 00000018",                   //       Attribute Name, 24 bytes:
    "43727970746F67726170686963205573616765204D61736B", // "Cryptographic Usage Mask"
    "42000B 02 00000004 0000000C 00000000", //       Attribute Value: Encrypt | Decrypt
);

/// Create of an AES-256 key at a KMIP 1.x `version`.
fn create_aes_256_1x(version: Version) -> Vec<u8> {
    hex(&format!(
        concat!(
            "420078 01 00000120",                   // Request Message, 288 bytes
            "{header}",                             //   Request Header, 64 bytes
            "42000F 01 000000D8",                   //   Batch Item, 216 bytes
            "42005C 05 00000004 00000001 00000000", //     Operation: Create
            "{payload}",                            //     Request Payload, 200 bytes
        ),
        header = request_header(version, 1),
        payload = CREATE_AES_256_PAYLOAD_1X,
    ))
}

/// Create of an AES-256 key at a KMIP 2.x `version`: attributes in an Attributes structure,
/// each under its own tag.
fn create_aes_256_2x(version: Version) -> Vec<u8> {
    hex(&format!(
        concat!(
            "420078 01 000000A8",                   // Request Message, 168 bytes
            "{header}",                             //   Request Header, 64 bytes
            "42000F 01 00000060",                   //   Batch Item, 96 bytes
            "42005C 05 00000004 00000001 00000000", //     Operation: Create
            "420079 01 00000048",                   //     Request Payload, 72 bytes
            "420057 05 00000004 00000002 00000000", //       Object Type: Symmetric Key
            "420125 01 00000030",                   //       Attributes, 48 bytes
            "420028 05 00000004 00000003 00000000", //         Cryptographic Algorithm: AES
            "42002A 02 00000004 00000100 00000000", //         Cryptographic Length: 256
            "42002C 02 00000004 0000000C 00000000", //         Cryptographic Usage Mask: 12
        ),
        header = request_header(version, 1),
    ))
}

/// `operation` (Get, Get Attributes: one whose payload may be just the Unique Identifier) on
/// key `id`, which must be a UUID (36 characters: the lengths below count on it).
fn on_key(version: Version, operation: u32, id: &str) -> Vec<u8> {
    assert_eq!(id.len(), 36, "not a UUID: {id}");
    hex(&format!(
        concat!(
            "420078 01 00000090",                          // Request Message, 144 bytes
            "{header}",                                    //   Request Header, 64 bytes
            "42000F 01 00000048",                          //   Batch Item, 72 bytes
            "42005C 05 00000004 {operation:08X} 00000000", //     Operation
            "420079 01 00000030",                          //     Request Payload, 48 bytes
            "420094 07 00000024 {id} 00000000", //       Unique Identifier, 36 bytes + padding
        ),
        header = request_header(version, 1),
        operation = operation,
        id = hex_of(id.as_bytes()),
    ))
}

/// Revoke of key `id`, which must be a UUID (36 characters: the lengths below count on it), for
/// `reason` (a Revocation Reason Code).
fn revoke(version: Version, id: &str, reason: u32) -> Vec<u8> {
    assert_eq!(id.len(), 36, "not a UUID: {id}");
    hex(&format!(
        concat!(
            "420078 01 000000A8",                       // Request Message, 168 bytes
            "{header}",                                 //   Request Header, 64 bytes
            "42000F 01 00000060",                       //   Batch Item, 96 bytes
            "42005C 05 00000004 00000013 00000000",     //     Operation: Revoke
            "420079 01 00000048",                       //     Request Payload, 72 bytes
            "420094 07 00000024 {id} 00000000", //       Unique Identifier, 36 bytes + padding
            "420081 01 00000010",               //       Revocation Reason, 16 bytes
            "420082 05 00000004 {reason:08X} 00000000", //         Revocation Reason Code
        ),
        header = request_header(version, 1),
        id = hex_of(id.as_bytes()),
        reason = reason,
    ))
}

/// A batch of two items with Unique Batch Item IDs: Create of an AES-256 key, then Get naming
/// no key, which the ID Placeholder the Create set stands for.
fn batch_create_then_get(version: Version) -> Vec<u8> {
    hex(&format!(
        concat!(
            "420078 01 00000160",                   // Request Message, 352 bytes
            "{header}",                             //   Request Header, 64 bytes, 2 items
            "42000F 01 000000E8",                   //   Batch Item, 232 bytes
            "42005C 05 00000004 00000001 00000000", //     Operation: Create
            "420093 08 00000004 C0FFEE01 00000000", //     Unique Batch Item ID: C0FFEE01
            "{payload}",                            //     Request Payload, 200 bytes
            "42000F 01 00000028",                   //   Batch Item, 40 bytes
            "42005C 05 00000004 0000000A 00000000", //     Operation: Get
            "420093 08 00000004 C0FFEE02 00000000", //     Unique Batch Item ID: C0FFEE02
            "420079 01 00000000",                   //     Request Payload, empty
        ),
        header = request_header(version, 2),
        payload = CREATE_AES_256_PAYLOAD_1X,
    ))
}

/// The bytes of `text`, hex digits with any whitespace between them. A message's stated length
/// is checked against its bytes, so a slip in the hand-counted lengths shows here, not as a
/// puzzling refusal by the gateway.
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits: {text}"
    );
    let bytes: Vec<u8> = digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect();
    if bytes.len() > 8 && bytes[3] == STRUCTURE {
        let stated = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        assert_eq!(stated, bytes.len() - 8, "miscounted message: {text}");
    }
    bytes
}

/// How many hex digits `text` holds.
fn hex_digits(text: &str) -> usize {
    text.bytes().filter(|b| !b.is_ascii_whitespace()).count()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

// ---------------------------------------------------------------------------------------------
// One connection, and what comes back on it

/// A mutual-TLS connection as Alice.
struct Connection {
    stream: TlsStream,
}

/// What a read from the gateway gave.
#[derive(Debug)]
enum Next {
    Response(Ttlv),
    /// The gateway closed the connection (cleanly or not).
    Closed,
}

impl Connection {
    fn open(stack: &Stack) -> Self {
        Self::open_as(stack, ALICE)
    }

    /// A mutual-TLS connection as the application `app`.
    fn open_as(stack: &Stack, app: &str) -> Self {
        let stream = tls::connect(&App::of(stack, app), IO_TIMEOUT)
            .unwrap_or_else(|error| panic!("{app} cannot connect to the gateway: {error}"));
        Self { stream }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
        self.stream.flush().unwrap();
    }

    /// Half-closes the connection: TLS close_notify, so the gateway reads the end of the stream
    /// while its answer can still come back.
    fn finish_sending(&mut self) {
        self.stream.conn.send_close_notify();
        self.stream.flush().unwrap();
    }

    /// Sends `request` and reads its response.
    fn exchange(&mut self, request: &[u8]) -> Ttlv {
        self.send(request);
        match self.next() {
            Next::Response(response) => response,
            Next::Closed => panic!("the gateway closed the connection instead of answering"),
        }
    }

    /// The one batch item of the response to `request`, a request of one item at KMIP 1.2.
    fn answer(&mut self, request: &[u8]) -> Ttlv {
        let response = self.exchange(request);
        assert_eq!(
            response.items(KMIP_1_2).len(),
            1,
            "one batch item expected: {response:?}"
        );
        response
            .children
            .into_iter()
            .find(|child| child.tag == BATCH_ITEM)
            .unwrap()
    }

    /// Creates an AES-256 key at KMIP 1.2; its identifier.
    fn create(&mut self) -> String {
        let item = self.answer(&create_aes_256_1x(KMIP_1_2));
        let payload = succeeded(&item, OP_CREATE);
        assert_eq!(
            payload.child(OBJECT_TYPE).enumeration(),
            OBJECT_SYMMETRIC_KEY
        );
        payload.child(UNIQUE_IDENTIFIER).text().to_owned()
    }

    /// The 32 bytes of key `id`, read by a Get at KMIP 1.2.
    fn get(&mut self, id: &str) -> Vec<u8> {
        let item = self.answer(&on_key(KMIP_1_2, OP_GET, id));
        aes_256_key(succeeded(&item, OP_GET), id)
    }

    /// `request`, `operation` on key `id` at KMIP 1.2, must succeed and name the key.
    fn on_key_succeeds(&mut self, request: &[u8], operation: u32, id: &str) {
        let item = self.answer(request);
        assert_eq!(
            succeeded(&item, operation).child(UNIQUE_IDENTIFIER).text(),
            id
        );
    }

    /// Discover Versions at 1.2 must succeed: the connection is served.
    fn discover_versions(&mut self) {
        let response = self.exchange(&discover_versions((1, 2)));
        let [item] = response.items((1, 2))[..] else {
            panic!("one batch item expected: {response:?}")
        };
        succeeded(item, OP_DISCOVER_VERSIONS);
    }

    /// The next response, or the end of the connection; a wait longer than [`IO_TIMEOUT`]
    /// fails the test.
    fn next(&mut self) -> Next {
        let mut header = [0u8; 8];
        if !self.fill(&mut header) {
            return Next::Closed;
        }
        let tag = u32::from_be_bytes([0, header[0], header[1], header[2]]);
        assert_eq!(
            tag, RESPONSE_MESSAGE,
            "not a Response Message: {header:02X?}"
        );
        assert_eq!(header[3], STRUCTURE, "{header:02X?}");
        let length = u32::from_be_bytes(header[4..].try_into().unwrap()) as usize;
        assert!(length <= MAX_RESPONSE, "a response of {length} bytes");
        let mut message = header.to_vec();
        message.resize(8 + length, 0);
        assert!(
            self.fill(&mut message[8..]),
            "the connection closed inside a response"
        );
        let mut items = parse(&message);
        assert_eq!(items.len(), 1);
        Next::Response(items.remove(0))
    }

    /// Fills `buf`; `false` if the connection closed before the first byte.
    fn fill(&mut self, buf: &mut [u8]) -> bool {
        let mut filled = 0;
        while filled < buf.len() {
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    panic!("no answer within {IO_TIMEOUT:?}: the gateway hangs")
                }
                // A close without close_notify, or a reset: the connection is over.
                Err(_) => break,
            }
        }
        assert!(
            filled == 0 || filled == buf.len(),
            "the connection closed after {filled} of {} bytes",
            buf.len()
        );
        filled == buf.len()
    }
}

/// The payload of a batch item that must have succeeded in `operation`.
fn succeeded(item: &Ttlv, operation: u32) -> &Ttlv {
    assert_eq!(
        item.child(RESULT_STATUS).enumeration(),
        STATUS_SUCCESS,
        "{item:?} (message: {:?})",
        item.find(RESULT_MESSAGE).map(Ttlv::text)
    );
    assert_eq!(item.child(OPERATION).enumeration(), operation, "{item:?}");
    item.child(RESPONSE_PAYLOAD)
}

/// The Result Reason of a batch item that must have failed, with a Result Message.
fn failed(item: &Ttlv) -> u32 {
    assert_eq!(
        item.child(RESULT_STATUS).enumeration(),
        STATUS_OPERATION_FAILED,
        "{item:?}"
    );
    assert!(!item.child(RESULT_MESSAGE).text().is_empty(), "{item:?}");
    assert!(item.find(RESPONSE_PAYLOAD).is_none(), "{item:?}");
    item.child(RESULT_REASON).enumeration()
}

/// `key` appears nowhere in a refused batch item: neither as bytes nor as hex in its message.
fn assert_no_key(item: &Ttlv, key: &[u8]) {
    assert!(
        !item.value.windows(key.len()).any(|bytes| bytes == key),
        "{item:?}"
    );
    let message = item.child(RESULT_MESSAGE).text().to_uppercase();
    assert!(!message.contains(&hex_of(key)), "{item:?}");
}

/// The 32 key bytes of a Get payload that must hold `id`, a Raw AES-256 Symmetric Key.
fn aes_256_key(payload: &Ttlv, id: &str) -> Vec<u8> {
    assert_eq!(
        payload.child(OBJECT_TYPE).enumeration(),
        OBJECT_SYMMETRIC_KEY
    );
    assert_eq!(payload.child(UNIQUE_IDENTIFIER).text(), id);
    let block = payload.child(SYMMETRIC_KEY).child(KEY_BLOCK);
    assert_eq!(block.child(KEY_FORMAT_TYPE).enumeration(), FORMAT_RAW);
    assert_eq!(
        block.child(CRYPTOGRAPHIC_ALGORITHM).enumeration(),
        ALGORITHM_AES
    );
    assert_eq!(block.child(CRYPTOGRAPHIC_LENGTH).integer(), 256);
    let key = block.child(KEY_VALUE).child(KEY_MATERIAL).bytes();
    assert_eq!(key.len(), 32, "{payload:?}");
    assert_ne!(key, [0u8; 32]);
    key.to_vec()
}

/// A KMIP 1.0 Get Attributes payload: Attribute structures named by text, every name one that
/// KMIP 1.0 defines (a 1.0 client cannot decode a later one), the key's among them.
fn attributes_of_kmip_1_0(payload: &Ttlv) {
    assert!(payload.find(ATTRIBUTES).is_none(), "{payload:?}");
    let attributes: Vec<(&str, &Ttlv)> = payload
        .all(ATTRIBUTE)
        .map(|attribute| {
            (
                attribute.child(ATTRIBUTE_NAME).text(),
                attribute.child(ATTRIBUTE_VALUE),
            )
        })
        .collect();
    for (name, _) in &attributes {
        assert!(
            KMIP_1_0_ATTRIBUTES.contains(name),
            "{name} is not a KMIP 1.0 attribute: {payload:?}"
        );
    }
    let value = |wanted: &str| {
        attributes
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, value)| *value)
            .unwrap_or_else(|| panic!("no {wanted}: {payload:?}"))
    };
    assert_eq!(value("Object Type").enumeration(), OBJECT_SYMMETRIC_KEY);
    assert_eq!(
        value("Cryptographic Algorithm").enumeration(),
        ALGORITHM_AES
    );
    assert_eq!(value("Cryptographic Length").integer(), 256);
    assert_eq!(value("State").enumeration(), STATE_PRE_ACTIVE);
}

/// A KMIP 2.x Get Attributes payload: one Attributes structure, each attribute under its own tag.
fn attributes_of_kmip_2(payload: &Ttlv) {
    assert!(payload.find(ATTRIBUTE).is_none(), "{payload:?}");
    let attributes = payload.child(ATTRIBUTES);
    assert_eq!(
        attributes.child(OBJECT_TYPE).enumeration(),
        OBJECT_SYMMETRIC_KEY
    );
    assert_eq!(
        attributes.child(CRYPTOGRAPHIC_ALGORITHM).enumeration(),
        ALGORITHM_AES
    );
    assert_eq!(attributes.child(CRYPTOGRAPHIC_LENGTH).integer(), 256);
    assert_eq!(attributes.child(STATE).enumeration(), STATE_PRE_ACTIVE);
}

// ---------------------------------------------------------------------------------------------
// A small TTLV reader of its own

/// One TTLV item: its tag, its type and its value (without padding), a structure's items
/// already read.
struct Ttlv {
    tag: u32,
    kind: u8,
    value: Vec<u8>,
    children: Vec<Ttlv>,
}

/// Every item in `bytes`, which they must fill exactly, padding zero and lengths right.
fn parse(mut bytes: &[u8]) -> Vec<Ttlv> {
    let mut items = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 8, "{} bytes left, not a header", bytes.len());
        let tag = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        let kind = bytes[3];
        let length = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        let fixed = match kind {
            INTEGER | ENUMERATION => Some(4),
            0x03 | DATE_TIME | 0x0A => Some(8), // Long Integer, Date-Time, Interval
            0x06 => Some(8),                    // Boolean
            _ => None,
        };
        if let Some(fixed) = fixed {
            assert_eq!(length, fixed, "item {tag:06X} of type {kind:02X}");
        }
        let padded = length.div_ceil(8) * 8;
        assert!(
            bytes.len() >= 8 + padded,
            "item {tag:06X} overruns its parent"
        );
        assert!(
            bytes[8 + length..8 + padded].iter().all(|&b| b == 0),
            "item {tag:06X}: padding not zero"
        );
        let value = bytes[8..8 + length].to_vec();
        let children = if kind == STRUCTURE {
            assert_eq!(length, padded, "structure {tag:06X} of {length} bytes");
            parse(&value)
        } else {
            Vec::new()
        };
        items.push(Ttlv {
            tag,
            kind,
            value,
            children,
        });
        bytes = &bytes[8 + padded..];
    }
    items
}

impl Ttlv {
    /// The one child tagged `tag`.
    fn child(&self, tag: u32) -> &Ttlv {
        let mut found = self.all(tag);
        let child = found
            .next()
            .unwrap_or_else(|| panic!("no {tag:06X} in {self:?}"));
        assert!(found.next().is_none(), "several {tag:06X} in {self:?}");
        child
    }

    fn find(&self, tag: u32) -> Option<&Ttlv> {
        self.all(tag).next()
    }

    fn all(&self, tag: u32) -> impl Iterator<Item = &Ttlv> {
        assert_eq!(self.kind, STRUCTURE, "{self:?} is not a structure");
        self.children.iter().filter(move |child| child.tag == tag)
    }

    fn integer(&self) -> u32 {
        self.four_bytes(INTEGER)
    }

    fn enumeration(&self) -> u32 {
        self.four_bytes(ENUMERATION)
    }

    fn four_bytes(&self, kind: u8) -> u32 {
        assert_eq!(self.kind, kind, "{self:?}");
        u32::from_be_bytes(self.value[..4].try_into().unwrap())
    }

    fn text(&self) -> &str {
        assert_eq!(self.kind, TEXT_STRING, "{self:?}");
        std::str::from_utf8(&self.value).unwrap()
    }

    fn bytes(&self) -> &[u8] {
        assert_eq!(self.kind, BYTE_STRING, "{self:?}");
        &self.value
    }

    /// The batch items of a Response Message, after checking its header: the version it
    /// answers in, a time stamp, and a batch count that matches the items.
    fn items(&self, version: Version) -> Vec<&Ttlv> {
        let header = self.child(RESPONSE_HEADER);
        let answered = header.child(PROTOCOL_VERSION);
        assert_eq!(
            (
                answered.child(PROTOCOL_VERSION_MAJOR).integer(),
                answered.child(PROTOCOL_VERSION_MINOR).integer()
            ),
            version,
            "answered in another version: {self:?}"
        );
        assert_eq!(header.child(TIME_STAMP).kind, DATE_TIME);
        self.batch_items()
    }

    /// The batch items of a Response Message, as many as its Batch Count says.
    fn batch_items(&self) -> Vec<&Ttlv> {
        assert_eq!(self.tag, RESPONSE_MESSAGE, "{self:?}");
        let count = self.child(RESPONSE_HEADER).child(BATCH_COUNT).integer();
        let items: Vec<&Ttlv> = self.all(BATCH_ITEM).collect();
        assert_eq!(items.len(), count as usize, "{self:?}");
        items
    }
}

impl std::fmt::Debug for Ttlv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind == STRUCTURE {
            write!(f, "{:06X}", self.tag)?;
            f.debug_list().entries(&self.children).finish()
        } else if self.kind == TEXT_STRING {
            write!(
                f,
                "{:06X}={:?}",
                self.tag,
                String::from_utf8_lossy(&self.value)
            )
        } else {
            write!(
                f,
                "{:06X}:{:02X}={}",
                self.tag,
                self.kind,
                hex_of(&self.value)
            )
        }
    }
}
