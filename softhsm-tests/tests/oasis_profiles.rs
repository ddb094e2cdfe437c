//! The mandatory server test cases of the OASIS KMIP Profiles 1.4 (`kmip-profiles-v1.4`, test
//! cases under `test-cases/kmip-v1.4/mandatory/`) for the Baseline (TL-M), Symmetric Key
//! Lifecycle (SKLC-M), Asymmetric Key Lifecycle (AKLC-M) and Basic Cryptographic (CS-BC-M)
//! server profiles, each written as a test of the real stack: krypton-gateway in front of
//! krypton-core on SoftHSM2, spoken to at KMIP 1.4 by Krypton's own codec client as app-alice.
//!
//! Each test sends the test case's requests in order and asserts what its expected responses
//! assert: result status and reason, object types, attribute values, key sizes. The fields a
//! test case marks as variable (`$UNIQUE_IDENTIFIER_n`, `$NOW`, ciphertexts under a random key)
//! are carried forward from the server's answers rather than compared. Where Krypton answers
//! otherwise, by design or for want of a feature, the test asserts Krypton's documented
//! answer and says why; docs/kmip-support.md ("OASIS profile test cases") lists them.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::process::ExitCode;
use std::sync::Arc;

use aws_lc_rs::cipher::{
    AES_128, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use kmip::net::{Client, ClientLimits, ClientTlsFiles, client_config};
use kmip::{
    ActivateRequest, Attribute, AttributeReference, AttributeType, BlockCipherMode,
    CreateKeyPairRequest, CreateRequest, CryptographicAlgorithm, CryptographicParameters,
    CryptographicUsageMask, DateTime, DecryptRequest, DestroyRequest, EncryptRequest,
    EncryptResponse, GetAttributeListRequest, GetAttributesRequest, GetRequest, Item, KeyBlock,
    KeyFormatType, LocateRequest, ManagedObject, ModifyAttributeRequest, Name, ObjectType,
    Operation, PaddingMethod, ProtocolVersion, QueryFunction, QueryRequest, RegisterRequest,
    RequestBatchItem, RequestHeader, RequestMessage, ResponseBatchItem, ResponseMessage,
    ResponsePayload, ResultReason, ResultStatus, RevocationReason, RevocationReasonCode,
    RevokeRequest, State, SymmetricKey, Tag, TypedRequest, Value,
};
use krypton_dev::Stack;
use krypton_dev::pki::SERVER_NAMES;
use krypton_softhsm_tests::suite::{self, Fixture, Test};

const ALICE: &str = "app-alice";

const TESTS: [(&str, Test); 25] = [
    ("tl_m_1_14_query", tl_m_1_14_query),
    (
        "tl_m_2_14_create_with_custom_attributes_then_get",
        tl_m_2_14_create_with_custom_attributes_then_get,
    ),
    (
        "tl_m_3_14_locate_by_application_data",
        tl_m_3_14_locate_by_application_data,
    ),
    (
        "sklc_m_1_14_create_get_attributes_destroy",
        sklc_m_1_14_create_get_attributes_destroy,
    ),
    (
        "sklc_m_2_14_active_key_destroyed_once_compromised",
        sklc_m_2_14_active_key_destroyed_once_compromised,
    ),
    (
        "sklc_m_3_14_activation_date_fixed_once_active",
        sklc_m_3_14_activation_date_fixed_once_active,
    ),
    (
        "aklc_m_1_14_create_key_pair_get_attributes_destroy",
        aklc_m_1_14_create_key_pair_get_attributes_destroy,
    ),
    (
        "aklc_m_2_14_active_private_key_destroyed_once_compromised",
        aklc_m_2_14_active_private_key_destroyed_once_compromised,
    ),
    (
        "aklc_m_3_14_activation_date_fixed_once_active",
        aklc_m_3_14_activation_date_fixed_once_active,
    ),
    ("cs_bc_m_1_14_ecb_encrypt", cs_bc_m_1_14_ecb_encrypt),
    ("cs_bc_m_2_14_ecb_decrypt", cs_bc_m_2_14_ecb_decrypt),
    ("cs_bc_m_3_14_ecb_round_trip", cs_bc_m_3_14_ecb_round_trip),
    (
        "cs_bc_m_4_14_registered_key_ecb_encrypt",
        cs_bc_m_4_14_registered_key_ecb_encrypt,
    ),
    (
        "cs_bc_m_5_14_registered_key_ecb_decrypt",
        cs_bc_m_5_14_registered_key_ecb_decrypt,
    ),
    (
        "cs_bc_m_6_14_registered_key_ecb_round_trip",
        cs_bc_m_6_14_registered_key_ecb_round_trip,
    ),
    (
        "cs_bc_m_7_14_usage_limits_in_bytes",
        cs_bc_m_7_14_usage_limits_in_bytes,
    ),
    (
        "cs_bc_m_8_14_ecb_pkcs5_one_block",
        cs_bc_m_8_14_ecb_pkcs5_one_block,
    ),
    (
        "cs_bc_m_9_14_ecb_pkcs5_three_blocks",
        cs_bc_m_9_14_ecb_pkcs5_three_blocks,
    ),
    (
        "cs_bc_m_10_14_cbc_pkcs5_client_iv",
        cs_bc_m_10_14_cbc_pkcs5_client_iv,
    ),
    (
        "cs_bc_m_11_14_cbc_pkcs5_iv_required",
        cs_bc_m_11_14_cbc_pkcs5_iv_required,
    ),
    (
        "cs_bc_m_12_14_cbc_parameters_from_the_key",
        cs_bc_m_12_14_cbc_parameters_from_the_key,
    ),
    (
        "cs_bc_m_13_14_cbc_random_iv_from_the_key",
        cs_bc_m_13_14_cbc_random_iv_from_the_key,
    ),
    (
        "cs_bc_m_14_14_outside_process_and_protect_dates",
        cs_bc_m_14_14_outside_process_and_protect_dates,
    ),
    (
        "cs_bc_m_gcm_1_14_known_answer",
        cs_bc_m_gcm_1_14_known_answer,
    ),
    (
        "cs_bc_m_gcm_2_14_test_vectors",
        cs_bc_m_gcm_2_14_test_vectors,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

// ---------------------------------------------------------------------------------------------
// The helper layer: app-alice's KMIP 1.4 session, and the steps the test cases share.
// ---------------------------------------------------------------------------------------------

/// The typed payload in a response payload, `$op` naming its operation.
macro_rules! expect {
    ($payload:expr, $op:ident) => {
        match $payload {
            ResponsePayload::$op(payload) => payload,
            other => panic!("expected a {} response: {other:?}", stringify!($op)),
        }
    };
}

/// app-alice at the gateway over mutual TLS, speaking KMIP 1.4 with Krypton's codec client.
struct Alice {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Alice {
    fn at(stack: &Stack) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pki = stack.pki();
        let (_, alice) = pki.apps.iter().find(|(name, _)| name == ALICE).unwrap();
        let files = ClientTlsFiles {
            cert_chain: alice.cert.clone(),
            private_key: alice.key.clone(),
            server_ca: pki.ca.clone(),
        };
        let client = runtime
            .block_on(Client::connect(
                &stack.gateway_addr().to_string(),
                SERVER_NAMES[0],
                Arc::new(client_config(&files).unwrap()),
                &ClientLimits::default(),
            ))
            .unwrap();
        Self { runtime, client }
    }

    /// Sends `items` as one KMIP 1.4 batch in the order given (the test cases' Batch Order
    /// Option), and returns the answers, whose header must echo the version and be stamped
    /// `$NOW`.
    fn batch(&mut self, items: Vec<RequestBatchItem>) -> Vec<ResponseBatchItem> {
        let sent = DateTime::now();
        let mut header = RequestHeader::new(ProtocolVersion::V1_4);
        header.batch_order_option = (items.len() > 1).then_some(true);
        let message = RequestMessage {
            header,
            batch_items: items,
        };
        let answer = self
            .runtime
            .block_on(self.client.call(&message.to_item()))
            .unwrap();
        let response = ResponseMessage::from_item(&answer).unwrap();
        assert_eq!(response.header.protocol_version, ProtocolVersion::V1_4);
        assert_now(response.header.time_stamp, sent);
        response.batch_items
    }

    /// The answer to `request` sent alone.
    fn send(&mut self, request: impl TypedRequest) -> ResponseBatchItem {
        let mut answers = self.batch(vec![RequestBatchItem::new(request)]);
        assert_eq!(answers.len(), 1, "{answers:?}");
        answers.remove(0)
    }

    /// The payload of `request`, which must succeed.
    fn ok(&mut self, request: impl TypedRequest) -> ResponsePayload {
        success(self.send(request))
    }

    /// The Result Reason of `request`, which must fail.
    fn refused(&mut self, request: impl TypedRequest) -> ResultReason {
        failure(&self.send(request))
    }

    /// The attributes `types` of `uid`, as Get Attributes returns them.
    fn attributes(&mut self, uid: &str, types: &[AttributeType]) -> Vec<Attribute> {
        let attributes = expect!(
            self.ok(GetAttributesRequest {
                unique_identifier: Some(uid.into()),
                attribute_references: types
                    .iter()
                    .map(|t| AttributeReference::Standard(*t))
                    .collect(),
            }),
            GetAttributes
        );
        assert_eq!(attributes.unique_identifier, uid);
        attributes.attributes
    }

    fn state(&mut self, uid: &str) -> State {
        match self.attributes(uid, &[AttributeType::State]).as_slice() {
            [Attribute::State(state)] => *state,
            other => panic!("the State of {uid}: {other:?}"),
        }
    }

    /// Activate, answered with the key's identifier.
    fn activate(&mut self, uid: &str) {
        let activated = expect!(
            self.ok(ActivateRequest {
                unique_identifier: Some(uid.into()),
            }),
            Activate
        );
        assert_eq!(activated.unique_identifier, uid);
    }

    /// Revoke for `code`, answered with the key's identifier; a Key Compromise gives the test
    /// cases' Compromise Occurrence Date, six seconds after the epoch.
    fn revoke(&mut self, uid: &str, code: RevocationReasonCode) {
        let compromised = code == RevocationReasonCode::KeyCompromise;
        let revoked = expect!(
            self.ok(RevokeRequest {
                unique_identifier: Some(uid.into()),
                revocation_reason: RevocationReason {
                    code,
                    message: None,
                },
                compromise_occurrence_date: compromised.then_some(DateTime(6)),
            }),
            Revoke
        );
        assert_eq!(revoked.unique_identifier, uid);
    }

    fn destroy_request(uid: &str) -> DestroyRequest {
        DestroyRequest {
            unique_identifier: Some(uid.into()),
        }
    }

    /// Destroy, answered with the key's identifier.
    fn destroy(&mut self, uid: &str) {
        let destroyed = expect!(self.ok(Self::destroy_request(uid)), Destroy);
        assert_eq!(destroyed.unique_identifier, uid);
    }

    /// The test cases' Create of a symmetric key with `attributes`; returns its identifier.
    fn create(&mut self, attributes: Vec<Attribute>) -> String {
        let created = expect!(
            self.ok(CreateRequest {
                object_type: ObjectType::SymmetricKey,
                attributes,
            }),
            Create
        );
        assert_eq!(created.object_type, ObjectType::SymmetricKey);
        assert!(!created.unique_identifier.is_empty());
        created.unique_identifier
    }

    /// The test cases' Register; returns the new object's identifier.
    fn register(&mut self, request: RegisterRequest) -> String {
        let registered = expect!(self.ok(request), Register);
        assert!(!registered.unique_identifier.is_empty());
        registered.unique_identifier
    }
}

fn success(answer: ResponseBatchItem) -> ResponsePayload {
    assert_eq!(answer.result_status, ResultStatus::Success, "{answer:?}");
    answer.payload.unwrap()
}

fn failure(answer: &ResponseBatchItem) -> ResultReason {
    assert_eq!(
        answer.result_status,
        ResultStatus::OperationFailed,
        "{answer:?}"
    );
    assert!(answer.payload.is_none(), "{answer:?}");
    answer.result_reason.unwrap()
}

/// A KMIP 1.x attribute as a client names it, read by the codec like one off the wire: how the
/// test cases' custom (`x-…`) and uninterpreted standard attributes are written.
fn named(name: &str, value: Value) -> Attribute {
    let item = Item {
        tag: Tag::ATTRIBUTE,
        value: Value::Structure(vec![
            Item {
                tag: Tag::ATTRIBUTE_NAME,
                value: Value::TextString(name.into()),
            },
            Item {
                tag: Tag::ATTRIBUTE_VALUE,
                value,
            },
        ]),
    };
    Attribute::from_item(&item, ProtocolVersion::V1_4).unwrap()
}

fn text(tag: u32, value: &str) -> Item {
    Item {
        tag: Tag(tag),
        value: Value::TextString(value.into()),
    }
}

/// The KMIP 1.x name of the attribute `reference` names.
fn attribute_name(reference: &AttributeReference) -> String {
    match reference {
        AttributeReference::Standard(standard) => standard.name().to_owned(),
        AttributeReference::Vendor {
            vendor_identification,
            attribute_name,
        } => format!("{vendor_identification}-{attribute_name}"),
    }
}

fn name(value: &str) -> Attribute {
    Attribute::Name(Name::text(value))
}

fn aes(length: i32, usage_mask: CryptographicUsageMask) -> Vec<Attribute> {
    vec![
        Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
        Attribute::CryptographicLength(length),
        Attribute::CryptographicUsageMask(usage_mask),
    ]
}

fn encrypt_decrypt() -> CryptographicUsageMask {
    CryptographicUsageMask::ENCRYPT | CryptographicUsageMask::DECRYPT
}

/// The one attribute of type `wanted` in `attributes`.
fn find(attributes: &[Attribute], wanted: AttributeType) -> Option<&Attribute> {
    let mut found = attributes
        .iter()
        .filter(|a| a.attribute_type() == Some(wanted));
    let first = found.next();
    assert!(found.next().is_none(), "{wanted:?} twice: {attributes:?}");
    first
}

/// A `$NOW` of the test cases: a date set by the server during the test.
fn assert_now(date: DateTime, since: DateTime) {
    let now = DateTime::now();
    assert!(
        since.unix_seconds() <= date.unix_seconds() && date.unix_seconds() <= now.unix_seconds(),
        "{date:?} is not between {since:?} and {now:?}"
    );
}

/// The attributes SKLC-M-1..3 and AKLC-M-1..3 read back after Create: what each test case
/// asks for and expects (Initial and Last Change Date set by the server as `$NOW`, no
/// Activation Date yet), but the Digest.
fn assert_created(
    attributes: &[Attribute],
    uid: &str,
    object_type: ObjectType,
    (algorithm, length): (CryptographicAlgorithm, i32),
    usage_mask: CryptographicUsageMask,
    since: DateTime,
) {
    use AttributeType as T;
    assert_eq!(
        find(attributes, T::State),
        Some(&Attribute::State(State::PreActive))
    );
    assert_eq!(
        find(attributes, T::CryptographicUsageMask),
        Some(&Attribute::CryptographicUsageMask(usage_mask))
    );
    assert_eq!(
        find(attributes, T::UniqueIdentifier),
        Some(&Attribute::UniqueIdentifier(uid.into()))
    );
    assert_eq!(
        find(attributes, T::ObjectType),
        Some(&Attribute::ObjectType(object_type))
    );
    assert_eq!(
        find(attributes, T::CryptographicAlgorithm),
        Some(&Attribute::CryptographicAlgorithm(algorithm))
    );
    assert_eq!(
        find(attributes, T::CryptographicLength),
        Some(&Attribute::CryptographicLength(length))
    );
    for date in [T::InitialDate, T::LastChangeDate] {
        match find(attributes, date) {
            Some(Attribute::InitialDate(at) | Attribute::LastChangeDate(at)) => {
                assert_now(*at, since)
            }
            other => panic!("{date:?}: {other:?} in {attributes:?}"),
        }
    }
    assert_eq!(find(attributes, T::ActivationDate), None, "{attributes:?}");
    // The test cases expect a Digest (SHA-256 of the key). The gateway keeps no digest of a
    // key by design (docs/gateway.md, "The metadata"): the vault, which holds its attributes
    // in the clear, must not hold a fingerprint of the key either.
    assert_eq!(find(attributes, T::Digest), None, "{attributes:?}");
}

/// The attribute types SKLC-M-1..3 read after Create.
const CREATED: [AttributeType; 10] = [
    AttributeType::State,
    AttributeType::CryptographicUsageMask,
    AttributeType::UniqueIdentifier,
    AttributeType::ObjectType,
    AttributeType::CryptographicAlgorithm,
    AttributeType::CryptographicLength,
    AttributeType::Digest,
    AttributeType::InitialDate,
    AttributeType::LastChangeDate,
    AttributeType::ActivationDate,
];

/// What SKLC-M-2/3 and AKLC-M-2/3 read after Activate: Active since `$NOW`, no Deactivation
/// Date.
fn assert_activated(alice: &mut Alice, uid: &str, since: DateTime) {
    use AttributeType as T;
    let attributes = alice.attributes(uid, &[T::State, T::ActivationDate, T::DeactivationDate]);
    assert_eq!(attributes.len(), 2, "{attributes:?}");
    assert_eq!(
        find(&attributes, T::State),
        Some(&Attribute::State(State::Active))
    );
    match find(&attributes, T::ActivationDate) {
        Some(Attribute::ActivationDate(at)) => assert_now(*at, since),
        other => panic!("Activation Date: {other:?}"),
    }
}

/// The tail the SKLC, AKLC and CS-BC test cases share: revoked for a compromise (or for no
/// stated reason) the key is Compromised (or Deactivated), then destroyed.
fn revoke_and_destroy(alice: &mut Alice, uid: &str, code: RevocationReasonCode) {
    alice.revoke(uid, code);
    let state = if code == RevocationReasonCode::KeyCompromise {
        State::Compromised
    } else {
        State::Deactivated
    };
    assert_eq!(alice.state(uid), state);
    alice.destroy(uid);
}

// ---------------------------------------------------------------------------------------------
// Baseline Server (KMIP 1.4's TL-M test cases; the 2.x profiles number them BL-M).
// ---------------------------------------------------------------------------------------------

/// TL-M-1-14: Query Operations, Objects, Server Information and Application Namespaces.
fn tl_m_1_14_query(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let query = expect!(
        alice.ok(QueryRequest {
            query_functions: vec![
                QueryFunction::QueryOperations,
                QueryFunction::QueryObjects,
                QueryFunction::QueryServerInformation,
                QueryFunction::QueryApplicationNamespaces,
            ],
        }),
        Query
    );
    use Operation as O;
    for operation in [
        O::Query,
        O::Locate,
        O::Destroy,
        O::Get,
        O::Create,
        O::Register,
        O::GetAttributes,
        O::GetAttributeList,
        O::AddAttribute,
        O::ModifyAttribute,
        O::DeleteAttribute,
        O::Activate,
        O::Revoke,
        O::Check,
    ] {
        assert!(
            query.operations.contains(&operation),
            "{operation:?} not in {:?}",
            query.operations
        );
    }
    assert!(query.object_types.contains(&ObjectType::SymmetricKey));
    // Templates were deprecated by KMIP 1.3 and are not kept: the test case's second object
    // type is not offered.
    assert!(!query.object_types.contains(&ObjectType::Template));
    assert!(
        query
            .vendor_identification
            .as_deref()
            .is_some_and(|v| !v.is_empty()),
        "{query:?}"
    );
    // No application namespaces are defined, so none is listed.
    assert!(query.application_namespaces.is_empty(), "{query:?}");
}

/// The attributes TL-M-2-14 gives its key, as a tape library does.
fn tape_attributes() -> Vec<Attribute> {
    let mut attributes = vec![
        named("x-ID", Value::TextString("TL-M-2-14".into())),
        named(
            "Alternative Name",
            Value::Structure(vec![
                text(0x4200C0, "XXA012A1"),
                Item {
                    tag: Tag(0x4200C1),
                    value: Value::Enumeration(1),
                },
            ]),
        ),
        name("AAAAAAA1A1AA12345678901234567"),
    ];
    attributes.extend(aes(256, encrypt_decrypt()));
    attributes.extend([
        application_data(),
        named("x-Barcode", Value::TextString("XXA012A1".into())),
        named("x-VendorAttribute1", Value::TextString("XXA012A1".into())),
        named("x-VendorAttribute2", Value::Integer(0)),
        named(
            "x-VendorAttribute3",
            Value::DateTime(DateTime::now().unix_seconds()),
        ),
    ]);
    attributes
}

/// The tape's Application Specific Information, by which TL-M-3-14 finds its key.
fn application_data() -> Attribute {
    named(
        "Application Specific Information",
        Value::Structure(vec![
            text(0x420003, "LIBRARY-LTO"),
            text(
                0x420002,
                "123456789ABCDEF123456789123456789ABCDEF123456789ABCDEF1234000000",
            ),
        ]),
    )
}

/// TL-M-2-14: Create with a tape library's standard and custom attributes, and Get of the new
/// key through the ID Placeholder, in one ordered batch.
fn tl_m_2_14_create_with_custom_attributes_then_get(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    create_tape_key(&mut alice);
}

/// TL-M-2-14's batch: Create, then Get of the ID Placeholder; returns the key's identifier.
fn create_tape_key(alice: &mut Alice) -> String {
    let answers = alice.batch(vec![
        RequestBatchItem::new(CreateRequest {
            object_type: ObjectType::SymmetricKey,
            attributes: tape_attributes(),
        })
        .with_id([1u8]),
        RequestBatchItem::new(GetRequest::default()).with_id([2u8]),
    ]);
    let [created, got] = <[_; 2]>::try_from(answers).unwrap();
    assert_eq!(created.unique_batch_item_id.as_deref(), Some(&[1u8][..]));
    assert_eq!(got.unique_batch_item_id.as_deref(), Some(&[2u8][..]));
    let created = expect!(success(created), Create);
    assert_eq!(created.object_type, ObjectType::SymmetricKey);
    let got = expect!(success(got), Get);
    assert_eq!(got.unique_identifier, created.unique_identifier);
    assert_raw_aes_256(&got.object);
    created.unique_identifier
}

/// The Get of TL-M-2/3-14: a 256-bit AES key in Raw format (its bytes random here).
fn assert_raw_aes_256(object: &ManagedObject) {
    let ManagedObject::SymmetricKey(SymmetricKey { key_block }) = object else {
        panic!("not a symmetric key: {object:?}")
    };
    assert_eq!(key_block.key_format_type, KeyFormatType::Raw);
    assert_eq!(key_block.key_material.key().unwrap().len(), 32);
    assert_eq!(
        key_block.cryptographic_algorithm,
        Some(CryptographicAlgorithm::Aes)
    );
    assert_eq!(key_block.cryptographic_length, Some(256));
}

/// TL-M-3-14: the tape library finds TL-M-2-14's key by Object Type and Application Specific
/// Information, reads it, its attribute list and its attributes, modifies two custom
/// attributes, and destroys it.
fn tl_m_3_14_locate_by_application_data(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let since = DateTime::now();
    let uid = create_tape_key(&mut alice);
    // Another symmetric key, without the tape's data, so that the Locate has to tell them apart.
    alice.create(aes(256, encrypt_decrypt()));
    let [got] = after_locate(
        &mut alice,
        &uid,
        vec![RequestBatchItem::new(GetRequest::default())],
    );
    let got = expect!(success(got), Get);
    assert_eq!(got.unique_identifier, uid);
    assert_raw_aes_256(&got.object);

    let [list] = after_locate(
        &mut alice,
        &uid,
        vec![RequestBatchItem::new(GetAttributeListRequest::default())],
    );
    let list = expect!(success(list), GetAttributeList);
    assert_eq!(list.unique_identifier, uid);
    for expected in [
        "x-Barcode",
        "x-ID",
        "x-VendorAttribute1",
        "x-VendorAttribute2",
        "x-VendorAttribute3",
        "Unique Identifier",
        "Object Type",
        "Cryptographic Algorithm",
        "Cryptographic Length",
        "Alternative Name",
        "Application Specific Information",
        "Cryptographic Usage Mask",
        "Initial Date",
        "Last Change Date",
        "Name",
        "State",
    ] {
        assert!(
            list.attribute_references
                .iter()
                .any(|r| attribute_name(r) == expected),
            "{expected} not in {:?}",
            list.attribute_references
        );
    }

    let [attributes] = after_locate(
        &mut alice,
        &uid,
        vec![RequestBatchItem::new(GetAttributesRequest::default())],
    );
    let attributes = expect!(success(attributes), GetAttributes).attributes;
    for custom in tape_attributes()
        .into_iter()
        .filter(|a| matches!(a, Attribute::Vendor(_)))
        .filter(|a| attribute_name(&a.reference()) != "x-VendorAttribute3")
    {
        assert!(attributes.contains(&custom), "{custom:?} in {attributes:?}");
    }
    assert!(attributes.contains(&application_data()), "{attributes:?}");
    assert!(attributes.contains(&name("AAAAAAA1A1AA12345678901234567")));
    assert_eq!(
        find(&attributes, AttributeType::State),
        Some(&Attribute::State(State::PreActive))
    );
    assert_created(
        &attributes,
        &uid,
        ObjectType::SymmetricKey,
        (CryptographicAlgorithm::Aes, 256),
        encrypt_decrypt(),
        since,
    );

    let modified_date = named("x-VendorAttribute3", Value::DateTime(DateTime::now().0));
    let modified_number = named("x-VendorAttribute2", Value::Integer(1));
    let modify = |attribute: &Attribute| ModifyAttributeRequest {
        unique_identifier: None,
        attribute_index: None,
        current_attribute: None,
        new_attribute: attribute.clone(),
    };
    let [date, number] = after_locate(
        &mut alice,
        &uid,
        vec![
            RequestBatchItem::new(modify(&modified_date)),
            RequestBatchItem::new(modify(&modified_number)),
        ],
    );
    for (answer, attribute) in [(date, modified_date), (number, modified_number)] {
        let modified = expect!(success(answer), ModifyAttribute);
        assert_eq!(modified.unique_identifier, uid);
        assert_eq!(modified.attribute, Some(attribute));
    }
    alice.destroy(&uid);
}

/// TL-M-3-14's batches: its Locate by Object Type and Application Specific Information, which
/// must find `uid` alone, then `requests`, which name no object and so act on the one found
/// (the ID Placeholder). The answers to `requests`, in order.
fn after_locate<const N: usize>(
    alice: &mut Alice,
    uid: &str,
    requests: Vec<RequestBatchItem>,
) -> [ResponseBatchItem; N] {
    let locate = LocateRequest {
        attributes: vec![
            Attribute::ObjectType(ObjectType::SymmetricKey),
            application_data(),
        ],
        ..LocateRequest::default()
    };
    let items = std::iter::once(RequestBatchItem::new(locate))
        .chain(requests)
        .zip(1u8..)
        .map(|(item, id)| item.with_id([id]))
        .collect();
    let mut answers = alice.batch(items);
    let found = expect!(success(answers.remove(0)), Locate);
    assert_eq!(found.unique_identifiers, [uid.to_owned()]);
    <[_; N]>::try_from(answers).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Symmetric Key Lifecycle Server.
// ---------------------------------------------------------------------------------------------

/// SKLC-M-1..3-14's Create: an AES-256 key for Encrypt and Decrypt named after the test case,
/// read back with its attributes as the test cases expect them. Returns its identifier.
fn create_sklc_key(alice: &mut Alice, case: &str) -> String {
    let since = DateTime::now();
    let mut attributes = aes(256, encrypt_decrypt());
    attributes.push(name(case));
    let uid = alice.create(attributes);
    let attributes = alice.attributes(&uid, &CREATED);
    assert_created(
        &attributes,
        &uid,
        ObjectType::SymmetricKey,
        (CryptographicAlgorithm::Aes, 256),
        encrypt_decrypt(),
        since,
    );
    uid
}

/// SKLC-M-1-14: Create, Get Attributes, Destroy of a Pre-Active key.
fn sklc_m_1_14_create_get_attributes_destroy(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let uid = create_sklc_key(&mut alice, "SKLC-M-1-14");
    alice.destroy(&uid);
}

/// SKLC-M-2-14: an Active key is not destroyed (Permission Denied) until revoked for a
/// compromise, after which it is Compromised and destroyed.
fn sklc_m_2_14_active_key_destroyed_once_compromised(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let uid = create_sklc_key(&mut alice, "SKLC-M-2-14");
    let since = DateTime::now();
    alice.activate(&uid);
    assert_activated(&mut alice, &uid, since);
    assert_eq!(
        alice.refused(Alice::destroy_request(&uid)),
        ResultReason::PermissionDenied
    );
    revoke_and_destroy(&mut alice, &uid, RevocationReasonCode::KeyCompromise);
}

/// The Modify Attribute of SKLC-M-3-14 and AKLC-M-3-14: the Activation Date of an Active
/// object cannot be changed. The test cases expect *Permission Denied*; Krypton refuses every
/// change to an attribute the server keeps as *Read Only Attribute*, which KMIP 1.x, lacking
/// that reason, receives as *Invalid Field* (docs/gateway.md, Get Attributes … Set Attribute).
fn assert_activation_date_fixed(alice: &mut Alice, uid: &str) {
    let answers = alice.batch(vec![
        RequestBatchItem::new(ModifyAttributeRequest {
            unique_identifier: Some(uid.into()),
            attribute_index: None,
            current_attribute: None,
            new_attribute: Attribute::ActivationDate(DateTime::now()),
        })
        .with_id(hex::decode("0752c951bb9926cc").unwrap()),
    ]);
    let [answer] = <[_; 1]>::try_from(answers).unwrap();
    assert_eq!(
        answer.unique_batch_item_id,
        Some(hex::decode("0752c951bb9926cc").unwrap())
    );
    assert_eq!(failure(&answer), ResultReason::InvalidField);
    assert_eq!(alice.state(uid), State::Active);
}

/// SKLC-M-3-14: as SKLC-M-2-14, with the Activation Date of the Active key refused a change.
fn sklc_m_3_14_activation_date_fixed_once_active(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let uid = create_sklc_key(&mut alice, "SKLC-M-3-14");
    let since = DateTime::now();
    alice.activate(&uid);
    assert_activated(&mut alice, &uid, since);
    assert_activation_date_fixed(&mut alice, &uid);
    revoke_and_destroy(&mut alice, &uid, RevocationReasonCode::KeyCompromise);
}

// ---------------------------------------------------------------------------------------------
// Asymmetric Key Lifecycle Server.
// ---------------------------------------------------------------------------------------------

/// AKLC-M-1..3-14's Create Key Pair: RSA-2048, the private half named `<case>-private` for
/// Sign, the public `<case>-public` for Verify, both read back as the test cases expect.
/// Returns the private and the public key's identifiers.
fn create_aklc_pair(alice: &mut Alice, case: &str) -> (String, String) {
    let since = DateTime::now();
    let pair = expect!(
        alice.ok(CreateKeyPairRequest {
            common_attributes: vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Rsa),
                Attribute::CryptographicLength(2048),
            ],
            private_key_attributes: vec![
                name(&format!("{case}-private")),
                Attribute::CryptographicUsageMask(CryptographicUsageMask::SIGN),
            ],
            public_key_attributes: vec![
                name(&format!("{case}-public")),
                Attribute::CryptographicUsageMask(CryptographicUsageMask::VERIFY),
            ],
        }),
        CreateKeyPair
    );
    let (private, public) = (
        pair.private_key_unique_identifier,
        pair.public_key_unique_identifier,
    );
    assert_ne!(private, public);
    use AttributeType as T;
    let asked = [
        T::State,
        T::CryptographicUsageMask,
        T::UniqueIdentifier,
        T::ObjectType,
        T::CryptographicAlgorithm,
        T::CryptographicLength,
        T::Digest,
        T::InitialDate,
        T::LastChangeDate,
        T::ActivationDate,
        T::OriginalCreationDate,
        T::RandomNumberGenerator,
    ];
    for (uid, object_type, usage_mask) in [
        (
            &private,
            ObjectType::PrivateKey,
            CryptographicUsageMask::SIGN,
        ),
        (
            &public,
            ObjectType::PublicKey,
            CryptographicUsageMask::VERIFY,
        ),
    ] {
        let attributes = alice.attributes(uid, &asked);
        assert_created(
            &attributes,
            uid,
            object_type,
            (CryptographicAlgorithm::Rsa, 2048),
            usage_mask,
            since,
        );
        // The test cases also expect an Original Creation Date and the Random Number
        // Generator that made the key: Krypton keeps neither.
        assert_eq!(find(&attributes, T::OriginalCreationDate), None);
        assert_eq!(find(&attributes, T::RandomNumberGenerator), None);
    }
    (private, public)
}

/// AKLC-M-1-14: Create Key Pair, Get Attributes of both halves, Destroy of both.
fn aklc_m_1_14_create_key_pair_get_attributes_destroy(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let (private, public) = create_aklc_pair(&mut alice, "AKLC-M-1-14");
    alice.destroy(&private);
    alice.destroy(&public);
}

/// What AKLC-M-2/3-14 share after Activate of the private key: it is Active, the public key
/// still Pre-Active.
fn activate_private_key(alice: &mut Alice, private: &str, public: &str) {
    let since = DateTime::now();
    alice.activate(private);
    assert_activated(alice, private, since);
    use AttributeType as T;
    let attributes = alice.attributes(public, &[T::State, T::ActivationDate, T::DeactivationDate]);
    assert_eq!(attributes, [Attribute::State(State::PreActive)]);
}

/// AKLC-M-2-14: the Active private key is not destroyed until revoked for a compromise; the
/// Pre-Active public key is.
fn aklc_m_2_14_active_private_key_destroyed_once_compromised(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let (private, public) = create_aklc_pair(&mut alice, "AKLC-M-2-14");
    activate_private_key(&mut alice, &private, &public);
    assert_eq!(
        alice.refused(Alice::destroy_request(&private)),
        ResultReason::PermissionDenied
    );
    alice.destroy(&public);
    revoke_and_destroy(&mut alice, &private, RevocationReasonCode::KeyCompromise);
}

/// AKLC-M-3-14: as AKLC-M-2-14, with the Activation Date of the Active private key refused a
/// change, and the public key destroyed last.
fn aklc_m_3_14_activation_date_fixed_once_active(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let (private, public) = create_aklc_pair(&mut alice, "AKLC-M-3-14");
    activate_private_key(&mut alice, &private, &public);
    assert_activation_date_fixed(&mut alice, &private);
    alice.revoke(&private, RevocationReasonCode::KeyCompromise);
    assert_eq!(alice.state(&private), State::Compromised);
    assert_eq!(alice.state(&public), State::PreActive);
    alice.destroy(&private);
    alice.destroy(&public);
}

// ---------------------------------------------------------------------------------------------
// Basic Cryptographic Server.
// ---------------------------------------------------------------------------------------------

/// The plaintext of the CS-BC test cases: one block, and two blocks and a byte.
const BLOCK: &str = "01020304050607080910111213141516";
const BLOCKS: &str = "010203040506070809101112131415160102030405060708091011121314151601";
/// The key CS-BC-M-4..14-14 register, and `BLOCK` under it in ECB.
const KEY: &str = "0123456789abcdef0123456789abcdef";
const ECB_BLOCK: &str = "d9bcce11b0b437b90239552df3a360c9";
/// The IV of CS-BC-M-11..13-14, and `BLOCKS` under `KEY` with it in CBC with PKCS#5 padding.
const IV: &str = "FF020304050607080910111213141516";
const CBC_BLOCKS: &str = "e768203ba72b6e157daaad34b1e791d8e88457dc147942f01bfaff7b28a3cdde\
                          2203d4d5a4c7928ba9e9cc78b66a6546";

fn bytes(hex: &str) -> Vec<u8> {
    hex::decode(hex).unwrap()
}

fn mode(mode: BlockCipherMode, padding: Option<PaddingMethod>) -> CryptographicParameters {
    CryptographicParameters {
        block_cipher_mode: Some(mode),
        padding_method: padding,
        ..CryptographicParameters::default()
    }
}

fn encrypt(
    uid: &str,
    parameters: Option<CryptographicParameters>,
    data: &str,
    iv: Option<&str>,
) -> EncryptRequest {
    EncryptRequest {
        unique_identifier: Some(uid.into()),
        cryptographic_parameters: parameters,
        data: bytes(data).into(),
        iv_counter_nonce: iv.map(bytes),
        authenticated_encryption_additional_data: None,
    }
}

fn decrypt(
    uid: &str,
    parameters: Option<CryptographicParameters>,
    data: &[u8],
    iv: Option<&str>,
) -> DecryptRequest {
    DecryptRequest {
        unique_identifier: Some(uid.into()),
        cryptographic_parameters: parameters,
        data: data.to_vec(),
        iv_counter_nonce: iv.map(bytes),
        authenticated_encryption_additional_data: None,
        authenticated_encryption_tag: None,
    }
}

/// CS-BC-M-1..3-14's Create: an AES-128 key for Encrypt and Decrypt whose Cryptographic
/// Parameters name ECB, active since an hour ago.
fn create_ecb_key(alice: &mut Alice, case: &str) -> String {
    let mut attributes = aes(128, encrypt_decrypt());
    attributes.extend([
        name(case),
        Attribute::CryptographicParameters(mode(BlockCipherMode::Ecb, None)),
        Attribute::ActivationDate(DateTime(DateTime::now().0 - 3600)),
    ]);
    let uid = alice.create(attributes);
    assert_eq!(alice.state(&uid), State::Active);
    uid
}

/// The key of `uid`, read back by Get: the oracle for what the gateway computed with it.
fn key_of(alice: &mut Alice, uid: &str) -> Vec<u8> {
    let got = expect!(
        alice.ok(GetRequest {
            unique_identifier: Some(uid.into()),
            ..GetRequest::default()
        }),
        Get
    );
    let ManagedObject::SymmetricKey(SymmetricKey { key_block }) = got.object else {
        panic!("not a symmetric key: {:?}", got.object)
    };
    key_block.key_material.key().unwrap().to_vec()
}

/// One AES-128 block through aws-lc-rs's ECB, the other way when `decrypting`.
fn aes_128_ecb(key: &[u8], block: &[u8], decrypting: bool) -> Vec<u8> {
    let key = || UnboundCipherKey::new(&AES_128, key).unwrap();
    let mut buffer = block.to_vec();
    if decrypting {
        DecryptingKey::ecb(key())
            .unwrap()
            .decrypt(&mut buffer, DecryptionContext::None)
            .unwrap();
    } else {
        EncryptingKey::ecb(key())
            .unwrap()
            .encrypt(&mut buffer)
            .unwrap();
    }
    buffer
}

/// CS-BC-M-1-14: Encrypt of one block with the key's own parameters (ECB). The ciphertext,
/// under a random key here, is checked against aws-lc-rs's AES-ECB with the key read back.
fn cs_bc_m_1_14_ecb_encrypt(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let uid = create_ecb_key(&mut alice, "CS-BC-M-1-14");
    let encrypted = expect!(alice.ok(encrypt(&uid, None, BLOCK, None)), Encrypt);
    assert_eq!(encrypted.unique_identifier, uid);
    let key = key_of(&mut alice, &uid);
    assert_eq!(encrypted.data, aes_128_ecb(&key, &bytes(BLOCK), false));
    assert_eq!(encrypted.iv_counter_nonce, None, "ECB takes no IV");
    revoke_and_destroy(&mut alice, &uid, RevocationReasonCode::Unspecified);
}

/// CS-BC-M-2-14: Decrypt of the test case's block with the key's own parameters (ECB),
/// checked as in CS-BC-M-1-14.
fn cs_bc_m_2_14_ecb_decrypt(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let uid = create_ecb_key(&mut alice, "CS-BC-M-2-14");
    let data = bytes("fd912d102dbb482f6f6e91bd57119095");
    let decrypted = expect!(alice.ok(decrypt(&uid, None, &data, None)), Decrypt);
    assert_eq!(decrypted.unique_identifier, uid);
    let key = key_of(&mut alice, &uid);
    assert_eq!(&decrypted.data[..], aes_128_ecb(&key, &data, true));
    revoke_and_destroy(&mut alice, &uid, RevocationReasonCode::Unspecified);
}

/// CS-BC-M-3-14: Encrypt then Decrypt of one block with the key's own parameters (ECB): the
/// block comes back.
fn cs_bc_m_3_14_ecb_round_trip(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let uid = create_ecb_key(&mut alice, "CS-BC-M-3-14");
    let encrypted = expect!(alice.ok(encrypt(&uid, None, BLOCK, None)), Encrypt);
    assert_eq!(encrypted.data.len(), 16);
    let decrypted = expect!(
        alice.ok(decrypt(&uid, None, &encrypted.data, None)),
        Decrypt
    );
    assert_eq!(&decrypted.data[..], bytes(BLOCK));
    revoke_and_destroy(&mut alice, &uid, RevocationReasonCode::Unspecified);
}

/// CS-BC-M-4..14-14's and the GCM test cases' Register: an AES `key` (hex), for Encrypt and
/// Decrypt, active since an hour ago, with `extra` attributes.
fn register_request(case: &str, key: &str, extra: Vec<Attribute>) -> RegisterRequest {
    let mut attributes = vec![
        Attribute::CryptographicUsageMask(encrypt_decrypt()),
        named("x-ID", Value::TextString(case.into())),
        Attribute::ActivationDate(DateTime(DateTime::now().0 - 3600)),
    ];
    attributes.extend(extra);
    RegisterRequest {
        attributes,
        object: ManagedObject::SymmetricKey(SymmetricKey {
            key_block: KeyBlock::raw(CryptographicAlgorithm::Aes, bytes(key).into()),
        }),
    }
}

/// A test case on a registered key: `register`, the test case's requests (`use_key`), then
/// the key retired as the test cases retire it. The gateway keeps registered symmetric keys
/// as it keeps the keys it makes, and encrypts and decrypts with them.
fn with_registered_key(
    fixture: &Fixture,
    register: RegisterRequest,
    use_key: impl FnOnce(&mut Alice, &str),
) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let uid = alice.register(register);
    use_key(&mut alice, &uid);
    revoke_and_destroy(&mut alice, &uid, RevocationReasonCode::Unspecified);
}

/// The answer to `request`, which must succeed for its key.
fn encrypted(alice: &mut Alice, request: EncryptRequest) -> EncryptResponse {
    let uid = request.unique_identifier.clone();
    let encrypted = expect!(alice.ok(request), Encrypt);
    assert_eq!(uid, Some(encrypted.unique_identifier.as_str().into()));
    encrypted
}

/// The plaintext `request` is answered with, which must succeed for its key.
fn decrypted(alice: &mut Alice, request: DecryptRequest) -> Vec<u8> {
    let uid = request.unique_identifier.clone();
    let decrypted = expect!(alice.ok(request), Decrypt);
    assert_eq!(uid, Some(decrypted.unique_identifier.as_str().into()));
    decrypted.data.to_vec()
}

/// An ECB or CBC Encrypt answered with the test case's `ciphertext` (hex), and no IV: the
/// client gave it, or the mode takes none.
fn assert_encrypts(alice: &mut Alice, request: EncryptRequest, ciphertext: &str) {
    let encrypted = encrypted(alice, request);
    assert_eq!(encrypted.data, bytes(ciphertext));
    assert_eq!(encrypted.iv_counter_nonce, None);
    assert_eq!(encrypted.authenticated_encryption_tag, None);
}

fn assert_decrypts(alice: &mut Alice, request: DecryptRequest, plaintext: &str) {
    assert_eq!(decrypted(alice, request), bytes(plaintext));
}

/// CS-BC-M-11..13-14's Decrypt of `data` without the IV it was encrypted with (CBC): refused
/// *Invalid Message*, as the test cases expect (Krypton's *Missing Initialization Vector*, the
/// KMIP 2.0 reason, as a 1.4 client receives it: `ResultReason::for_version`).
fn assert_iv_required(
    alice: &mut Alice,
    uid: &str,
    parameters: Option<CryptographicParameters>,
    data: &[u8],
) {
    let refused = alice.refused(decrypt(uid, parameters, data, None));
    assert_eq!(refused, ResultReason::InvalidMessage);
}

fn ecb() -> Option<CryptographicParameters> {
    Some(mode(BlockCipherMode::Ecb, None))
}

fn ecb_pkcs5() -> Option<CryptographicParameters> {
    Some(mode(BlockCipherMode::Ecb, Some(PaddingMethod::Pkcs5)))
}

fn cbc_pkcs5() -> Option<CryptographicParameters> {
    Some(mode(BlockCipherMode::Cbc, Some(PaddingMethod::Pkcs5)))
}

/// CS-BC-M-4-14: Encrypt of one block in ECB with the registered key: the known answer.
fn cs_bc_m_4_14_registered_key_ecb_encrypt(fixture: &Fixture) {
    let register = register_request("CS-BC-M-4-14", KEY, vec![]);
    with_registered_key(fixture, register, |alice, uid| {
        assert_encrypts(alice, encrypt(uid, ecb(), BLOCK, None), ECB_BLOCK);
    });
}

/// CS-BC-M-5-14: Decrypt of that block in ECB with the registered key.
fn cs_bc_m_5_14_registered_key_ecb_decrypt(fixture: &Fixture) {
    let register = register_request("CS-BC-M-5-14", KEY, vec![]);
    with_registered_key(fixture, register, |alice, uid| {
        assert_decrypts(alice, decrypt(uid, ecb(), &bytes(ECB_BLOCK), None), BLOCK);
    });
}

/// CS-BC-M-6-14: Encrypt then Decrypt of one block in ECB with the registered key.
fn cs_bc_m_6_14_registered_key_ecb_round_trip(fixture: &Fixture) {
    round_trip(fixture, "CS-BC-M-6-14", ecb, (BLOCK, None), ECB_BLOCK);
}

/// The test case `case`: Register of [`KEY`], then Encrypt of `plaintext` (hex) with
/// `parameters` and the client's `iv` (hex) to the known `ciphertext` (hex), and Decrypt of it
/// back to `plaintext`.
fn round_trip(
    fixture: &Fixture,
    case: &str,
    parameters: fn() -> Option<CryptographicParameters>,
    (plaintext, iv): (&str, Option<&str>),
    ciphertext: &str,
) {
    let register = register_request(case, KEY, vec![]);
    with_registered_key(fixture, register, |alice, uid| {
        assert_encrypts(alice, encrypt(uid, parameters(), plaintext, iv), ciphertext);
        let back = decrypt(uid, parameters(), &bytes(ciphertext), iv);
        assert_decrypts(alice, back, plaintext);
    });
}

/// CS-BC-M-7-14: a registered key with Usage Limits of 16 bytes encrypts one block, then is
/// refused a second (Permission Denied).
///
/// Krypton keeps no usage limits: Usage Limits is an attribute the server sets, so the
/// Register that gives it is refused (*Invalid Field* at KMIP 1.4) and nothing is stored.
fn cs_bc_m_7_14_usage_limits_in_bytes(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    let limits = named(
        "Usage Limits",
        Value::Structure(vec![
            Item {
                tag: Tag(0x420097), // Usage Limits Total
                value: Value::LongInteger(16),
            },
            Item {
                tag: Tag(0x420098), // Usage Limits Unit: Byte
                value: Value::Enumeration(1),
            },
        ]),
    );
    let refused = alice.refused(register_request("CS-BC-M-7-14", KEY, vec![limits]));
    assert_eq!(refused, ResultReason::InvalidField);
}

/// CS-BC-M-8-14: ECB with PKCS#5 padding over one block (two blocks out) and back.
fn cs_bc_m_8_14_ecb_pkcs5_one_block(fixture: &Fixture) {
    let ciphertext = "d9bcce11b0b437b90239552df3a360c90efb6bfed93b4d1ea2123ba4db075ff6";
    round_trip(
        fixture,
        "CS-BC-M-8-14",
        ecb_pkcs5,
        (BLOCK, None),
        ciphertext,
    );
}

/// CS-BC-M-9-14: ECB with PKCS#5 padding over two blocks and a byte (three blocks out, the
/// first two equal) and back.
fn cs_bc_m_9_14_ecb_pkcs5_three_blocks(fixture: &Fixture) {
    let ciphertext = "d9bcce11b0b437b90239552df3a360c9d9bcce11b0b437b90239552df3a360c9\
                      be261a7bd1371bb738fe004d500381d0";
    round_trip(
        fixture,
        "CS-BC-M-9-14",
        ecb_pkcs5,
        (BLOCKS, None),
        ciphertext,
    );
}

/// CS-BC-M-10-14: CBC with PKCS#5 padding and the client's IV, and back.
fn cs_bc_m_10_14_cbc_pkcs5_client_iv(fixture: &Fixture) {
    let ciphertext = "79abc5c23868ad84d388ce61110a62742bda19d694bbcb757dd06617c0d80fb1\
                      df2e71864ad9633d7d797e30860df00d";
    round_trip(
        fixture,
        "CS-BC-M-10-14",
        cbc_pkcs5,
        (BLOCKS, Some(BLOCK)),
        ciphertext,
    );
}

/// CS-BC-M-11-14: CBC with PKCS#5 padding and the client's IV; a Decrypt with another IV
/// (zeros) garbles the first block only, one without the IV is refused, one with it gives the
/// plaintext back.
fn cs_bc_m_11_14_cbc_pkcs5_iv_required(fixture: &Fixture) {
    let register = register_request("CS-BC-M-11-14", KEY, vec![]);
    with_registered_key(fixture, register, |alice, uid| {
        let request = encrypt(uid, cbc_pkcs5(), BLOCKS, Some(IV));
        assert_encrypts(alice, request, CBC_BLOCKS);
        let zero_iv = Some("00000000000000000000000000000000");
        let garbled = decrypt(uid, cbc_pkcs5(), &bytes(CBC_BLOCKS), zero_iv);
        let first_block_garbled =
            "fe0000000000000000000000000000000102030405060708091011121314151601";
        assert_decrypts(alice, garbled, first_block_garbled);
        assert_iv_required(alice, uid, cbc_pkcs5(), &bytes(CBC_BLOCKS));
        let back = decrypt(uid, cbc_pkcs5(), &bytes(CBC_BLOCKS), Some(IV));
        assert_decrypts(alice, back, BLOCKS);
    });
}

/// CS-BC-M-12-14: CBC with PKCS#5 padding named by the registered key's Cryptographic
/// Parameters, the IV by the client; a Decrypt without the IV refused, one with it right.
/// (The test case registers this key with the x-ID CS-BC-M-13-14; not a value it checks.)
fn cs_bc_m_12_14_cbc_parameters_from_the_key(fixture: &Fixture) {
    let parameters = Attribute::CryptographicParameters(cbc_pkcs5().unwrap());
    let register = register_request("CS-BC-M-12-14", KEY, vec![parameters]);
    with_registered_key(fixture, register, |alice, uid| {
        assert_encrypts(alice, encrypt(uid, None, BLOCKS, Some(IV)), CBC_BLOCKS);
        assert_iv_required(alice, uid, None, &bytes(CBC_BLOCKS));
        let back = decrypt(uid, None, &bytes(CBC_BLOCKS), Some(IV));
        assert_decrypts(alice, back, BLOCKS);
    });
}

/// CS-BC-M-13-14: CBC with PKCS#5 padding and a server-drawn IV (Random IV), all named by the
/// registered key's Cryptographic Parameters. The IV is the server's: the test case's
/// expected IV and ciphertext are one such draw, so the answer is checked against aws-lc-rs's
/// CBC with the IV returned; then a Decrypt without the IV is refused, one with it right.
fn cs_bc_m_13_14_cbc_random_iv_from_the_key(fixture: &Fixture) {
    let parameters = Attribute::CryptographicParameters(CryptographicParameters {
        random_iv: Some(true),
        ..cbc_pkcs5().unwrap()
    });
    let register = register_request("CS-BC-M-13-14", KEY, vec![parameters]);
    with_registered_key(fixture, register, |alice, uid| {
        let encrypted = encrypted(alice, encrypt(uid, None, BLOCKS, None));
        let iv = encrypted.iv_counter_nonce.expect("the IV the server drew");
        let expected = aes_128_cbc_pkcs5(&bytes(KEY), &iv, &bytes(BLOCKS));
        assert_eq!(encrypted.data, expected);
        assert_iv_required(alice, uid, None, &encrypted.data);
        let back = DecryptRequest {
            iv_counter_nonce: Some(iv),
            ..decrypt(uid, None, &encrypted.data, None)
        };
        assert_decrypts(alice, back, BLOCKS);
    });
}

/// AES-128 in CBC with PKCS#5 padding through aws-lc-rs: the oracle for a server-drawn IV.
fn aes_128_cbc_pkcs5(key: &[u8], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let key = UnboundCipherKey::new(&AES_128, key).unwrap();
    let iv: [u8; 16] = iv.try_into().unwrap();
    let mut buffer = data.to_vec();
    PaddedBlockEncryptingKey::cbc_pkcs7(key)
        .unwrap()
        .less_safe_encrypt(&mut buffer, EncryptionContext::Iv128(iv.into()))
        .unwrap();
    buffer
}

/// CS-BC-M-14-14: a registered key past its Protect Stop Date and before its Process Start
/// Date; the test case expects its Encrypt and Decrypt refused *Permission Denied*.
///
/// Krypton keeps Process Start Date and Protect Stop Date as the client's attributes, shown
/// back but not interpreted (`kmip::objects::attribute_policy`): what may use a key is its
/// state and usage mask. The Active key encrypts and decrypts, with the known answers.
fn cs_bc_m_14_14_outside_process_and_protect_dates(fixture: &Fixture) {
    let now = DateTime::now().0;
    let dates = vec![
        named("Process Start Date", Value::DateTime(now + 3600)),
        named("Protect Stop Date", Value::DateTime(now - 3600)),
    ];
    let register = register_request("CS-BC-M-14-14", KEY, dates);
    with_registered_key(fixture, register, |alice, uid| {
        assert_encrypts(alice, encrypt(uid, ecb(), BLOCK, None), ECB_BLOCK);
        let data = bytes("fd912d102dbb482f6f6e91bd57119095");
        let plaintext = decrypted(alice, decrypt(uid, ecb(), &data, None));
        assert_eq!(plaintext, aes_128_ecb(&bytes(KEY), &data, true));
    });
}

/// One AES-GCM known answer of CS-BC-M-GCM-1/2-14 (hex): the client's IV, the additional data
/// if sent, the plaintext, and the ciphertext and tag expected, whose length is the Tag
/// Length asked.
#[derive(Clone, Copy)]
struct GcmVector {
    key: &'static str,
    iv: &'static str,
    aad: Option<&'static str>,
    plaintext: &'static str,
    ciphertext: &'static str,
    tag: &'static str,
}

impl GcmVector {
    fn parameters(&self) -> CryptographicParameters {
        gcm_parameters(i32::try_from(self.tag.len() / 2).unwrap())
    }

    fn encrypt(&self, uid: &str) -> EncryptRequest {
        EncryptRequest {
            cryptographic_parameters: Some(self.parameters()),
            authenticated_encryption_additional_data: self.aad.map(bytes),
            ..encrypt(uid, None, self.plaintext, Some(self.iv))
        }
    }

    fn decrypt(&self, uid: &str) -> DecryptRequest {
        DecryptRequest {
            cryptographic_parameters: Some(self.parameters()),
            authenticated_encryption_additional_data: self.aad.map(bytes),
            authenticated_encryption_tag: Some(bytes(self.tag)),
            ..decrypt(uid, None, &bytes(self.ciphertext), Some(self.iv))
        }
    }

    /// How Krypton refuses the vector, which the test cases expect to succeed. aws-lc-rs, the
    /// gateway's only cryptography, does AES-GCM with a 96-bit IV and a 16-byte tag (the
    /// recommendations of SP 800-38D), so another Tag Length is *Unsupported Cryptographic
    /// Parameters* (*Feature Not Supported* at KMIP 1.4) and another IV length *Bad
    /// Cryptographic Parameters* (*Invalid Field*).
    fn refusal(&self) -> Option<ResultReason> {
        if self.tag.len() != 32 {
            Some(ResultReason::FeatureNotSupported)
        } else if self.iv.len() != 24 {
            Some(ResultReason::InvalidField)
        } else {
            None
        }
    }
}

fn gcm_parameters(tag_length: i32) -> CryptographicParameters {
    CryptographicParameters {
        tag_length: Some(tag_length),
        ..mode(BlockCipherMode::Gcm, None)
    }
}

/// The vector's Encrypt answered with its ciphertext and tag (and no IV: the client gave it),
/// and its Decrypt with its plaintext; or both refused as Krypton refuses the vector.
fn assert_gcm(alice: &mut Alice, uid: &str, vector: &GcmVector) {
    if let Some(reason) = vector.refusal() {
        assert_eq!(alice.refused(vector.encrypt(uid)), reason);
        assert_eq!(alice.refused(vector.decrypt(uid)), reason);
        return;
    }
    let encrypted = encrypted(alice, vector.encrypt(uid));
    assert_eq!(encrypted.data, bytes(vector.ciphertext));
    let tag = encrypted.authenticated_encryption_tag;
    assert_eq!(tag, Some(bytes(vector.tag)));
    assert_eq!(encrypted.iv_counter_nonce, None);
    let plaintext = decrypted(alice, vector.decrypt(uid));
    assert_eq!(plaintext, bytes(vector.plaintext));
}

/// CS-BC-M-GCM-1-14: a zero block under an all-zero AES-128 key and a zero IV, no additional
/// data (the GCM specification's test case 2), and back; Decrypts with the tag, the IV and the
/// data each altered in their first byte refused *Cryptographic Failure*.
///
/// The test case then expects a Decrypt with the tag cut to 12 bytes (Tag Length 12) to
/// succeed, and Encrypts asking Tag Lengths of 1 and 32 refused *General Failure*. Krypton
/// does 16-byte tags only ([`GcmVector::refusal`]): all three are *Feature Not Supported*.
fn cs_bc_m_gcm_1_14_known_answer(fixture: &Fixture) {
    let vector = GcmVector {
        aad: None,
        ..GCM_VECTORS[1]
    };
    let register = register_request("CS-BC-M-GCM-1-14", vector.key, vec![]);
    with_registered_key(fixture, register, |alice, uid| {
        assert_gcm(alice, uid, &vector);
        for altered in [
            GcmVector {
                tag: "006e47d42cec13bdf53a67b21257bddf",
                ..vector
            },
            GcmVector {
                iv: "ff0000000000000000000000",
                ..vector
            },
            GcmVector {
                ciphertext: "ff88dace60b6a392f328c2b971b2fe78",
                ..vector
            },
        ] {
            let refused = alice.refused(altered.decrypt(uid));
            assert_eq!(refused, ResultReason::CryptographicFailure);
        }
        let truncated = GcmVector {
            tag: "ab6e47d42cec13bdf53a67b2",
            ..vector
        };
        let refused = alice.refused(truncated.decrypt(uid));
        assert_eq!(refused, ResultReason::FeatureNotSupported);
        for tag_length in [1, 32] {
            let request = EncryptRequest {
                cryptographic_parameters: Some(gcm_parameters(tag_length)),
                ..vector.encrypt(uid)
            };
            assert_eq!(alice.refused(request), ResultReason::FeatureNotSupported);
        }
    });
}

/// CS-BC-M-GCM-2-14: AES-GCM known answers, each under a key registered for it and retired
/// after: the GCM specification's test cases 1 to 18 (AES-128, -192 and -256 keys; empty
/// and whole-block data, with and without additional data; 96-bit, 64-bit and 480-bit IVs),
/// four vectors with tags of 15 down to 12 bytes, then a Random IV with a 12-byte tag.
///
/// Krypton gives the known answers of the vectors with a 96-bit IV and a 16-byte tag (twelve
/// of them) and refuses the others ([`GcmVector::refusal`]), the Random IV one for its tag
/// length, so there is no ciphertext of it to decrypt.
fn cs_bc_m_gcm_2_14_test_vectors(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut alice = Alice::at(&stack);
    for (n, vector) in GCM_VECTORS.iter().enumerate() {
        let case = format!("CS-BC-M-GCM-2-14-key-{n}");
        let uid = alice.register(register_request(&case, vector.key, vec![]));
        assert_gcm(&mut alice, &uid, vector);
        revoke_and_destroy(&mut alice, &uid, RevocationReasonCode::Unspecified);
    }
    let last = GCM_VECTORS[GCM_VECTORS.len() - 1];
    let case = format!("CS-BC-M-GCM-2-14-key-{}", GCM_VECTORS.len());
    let uid = alice.register(register_request(&case, last.key, vec![]));
    let random_iv = EncryptRequest {
        cryptographic_parameters: Some(CryptographicParameters {
            random_iv: Some(true),
            ..last.parameters()
        }),
        iv_counter_nonce: None,
        ..last.encrypt(&uid)
    };
    assert_eq!(alice.refused(random_iv), ResultReason::FeatureNotSupported);
    revoke_and_destroy(&mut alice, &uid, RevocationReasonCode::Unspecified);
}

/// The plaintexts, IVs and additional data of the GCM specification's test cases 3 to 18.
const GCM_P64: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                       1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const GCM_P60: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                       1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const GCM_IV_96: &str = "cafebabefacedbaddecaf888";
const GCM_IV_64: &str = "cafebabefacedbad";
const GCM_IV_480: &str = "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728\
                          c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b";
const GCM_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const ZERO_IV: &str = "000000000000000000000000";
const ZERO_BLOCK: &str = "00000000000000000000000000000000";

/// CS-BC-M-GCM-2-14's vectors with the client's IV, key-0 to key-21 (key-1 is GCM-1-14's).
const GCM_VECTORS: [GcmVector; 22] = [
    GcmVector {
        key: ZERO_BLOCK,
        iv: ZERO_IV,
        aad: Some(""),
        plaintext: "",
        ciphertext: "",
        tag: "58e2fccefa7e3061367f1d57a4e7455a",
    },
    GcmVector {
        key: ZERO_BLOCK,
        iv: ZERO_IV,
        aad: Some(""),
        plaintext: ZERO_BLOCK,
        ciphertext: "0388dace60b6a392f328c2b971b2fe78",
        tag: "ab6e47d42cec13bdf53a67b21257bddf",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308",
        iv: GCM_IV_96,
        aad: Some(""),
        plaintext: GCM_P64,
        ciphertext: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
                     21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
        tag: "4d5c2af327cd64a62cf35abd2ba6fab4",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308",
        iv: GCM_IV_96,
        aad: Some(GCM_AAD),
        plaintext: GCM_P60,
        ciphertext: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
                     21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
        tag: "5bc94fbc3221a5db94fae95ae7121a47",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308",
        iv: GCM_IV_64,
        aad: Some(GCM_AAD),
        plaintext: GCM_P60,
        ciphertext: "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423\
                     73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
        tag: "3612d2e79e3b0785561be14aaca2fccb",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308",
        iv: GCM_IV_480,
        aad: Some(GCM_AAD),
        plaintext: GCM_P60,
        ciphertext: "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca7\
                     01e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
        tag: "619cc5aefffe0bfa462af43c1699d050",
    },
    GcmVector {
        key: "000000000000000000000000000000000000000000000000",
        iv: ZERO_IV,
        aad: Some(""),
        plaintext: "",
        ciphertext: "",
        tag: "cd33b28ac773f74ba00ed1f312572435",
    },
    GcmVector {
        key: "000000000000000000000000000000000000000000000000",
        iv: ZERO_IV,
        aad: Some(""),
        plaintext: ZERO_BLOCK,
        ciphertext: "98e7247c07f0fe411c267e4384b0f600",
        tag: "2ff58d80033927ab8ef4d4587514f0fb",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c",
        iv: GCM_IV_96,
        aad: Some(""),
        plaintext: GCM_P64,
        ciphertext: "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c\
                     7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256",
        tag: "9924a7c8587336bfb118024db8674a14",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c",
        iv: GCM_IV_96,
        aad: Some(GCM_AAD),
        plaintext: GCM_P60,
        ciphertext: "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c\
                     7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
        tag: "2519498e80f1478f37ba55bd6d27618c",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c",
        iv: GCM_IV_64,
        aad: Some(GCM_AAD),
        plaintext: GCM_P60,
        ciphertext: "0f10f599ae14a154ed24b36e25324db8c566632ef2bbb34f8347280fc4507057\
                     fddc29df9a471f75c66541d4d4dad1c9e93a19a58e8b473fa0f062f7",
        tag: "65dcc57fcf623a24094fcca40d3533f8",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c",
        iv: GCM_IV_480,
        aad: Some(GCM_AAD),
        plaintext: GCM_P60,
        ciphertext: "d27e88681ce3243c4830165a8fdcf9ff1de9a1d8e6b447ef6ef7b79828666e45\
                     81e79012af34ddd9e2f037589b292db3e67c036745fa22e7e9b7373b",
        tag: "dcf566ff291c25bbb8568fc3d376a6d9",
    },
    GcmVector {
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        iv: ZERO_IV,
        aad: Some(""),
        plaintext: "",
        ciphertext: "",
        tag: "530f8afbc74536b9a963b4f1c4cb738b",
    },
    GcmVector {
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        iv: ZERO_IV,
        aad: Some(""),
        plaintext: ZERO_BLOCK,
        ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
        tag: "d0d1c8a799996bf0265b98b5d48ab919",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        iv: GCM_IV_96,
        aad: Some(""),
        plaintext: GCM_P64,
        ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                     8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        tag: "b094dac5d93471bdec1a502270e3cc6c",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        iv: GCM_IV_96,
        aad: Some(GCM_AAD),
        plaintext: GCM_P60,
        ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                     8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        tag: "76fc6ece0f4e1768cddf8853bb2d551b",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        iv: GCM_IV_64,
        aad: Some(GCM_AAD),
        plaintext: GCM_P60,
        ciphertext: "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0\
                     feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
        tag: "3a337dbf46a792c45e454913fe2ea8f2",
    },
    GcmVector {
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        iv: GCM_IV_480,
        aad: Some(GCM_AAD),
        plaintext: GCM_P60,
        ciphertext: "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4\
                     0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
        tag: "a44a8266ee1c8eb0c8b5d4cf5ae9f19a",
    },
    GcmVector {
        key: "6dfa1a07c14f978020ace450ad663d18",
        iv: "34edfa462a14c6969a680ec1",
        aad: Some("2a35c7f5f8578e919a581c60500c04f6"),
        plaintext: "",
        ciphertext: "",
        tag: "751f3098d59cf4ea1d2fb0853bde1c",
    },
    GcmVector {
        key: "ed6cd876ceba555706674445c229c12d",
        iv: "92ecbf74b765bc486383ca2e",
        aad: Some("95bd10d77dbe0e87fb34217f1a2e5efe"),
        plaintext: "bfaaaea3880d72d4378561e2597a9b35",
        ciphertext: "bdd2ed6c66fa087dce617d7fd1ff6d93",
        tag: "ba82e49c55a22ed02ca67da4ec6f",
    },
    GcmVector {
        key: "a1412ff6f687787fb404a4a9d18511d1",
        iv: "7e78061027ac22ddad25c930",
        aad: Some("e21cfc627452107d55f34f7d06bca88e"),
        plaintext: "abef8c37dfc74ad8b5e59e71ae9a9583",
        ciphertext: "0d378e6a61589c6f49b739ae374e6fc1",
        tag: "75ea647ff1318e4a53b55ac0d2",
    },
    GcmVector {
        key: "5ac0b25cccaaa4bb2375aef5034db959",
        iv: "65765ef5c5ff39c256af5838",
        aad: Some("77d997b514608c0d0b0668cecae21f4a"),
        plaintext: "53b4f37fcb17ecbf88f47f5aa53bfe96",
        ciphertext: "506959e2cc4929a7047a5bc986854e0e",
        tag: "c69d14f2e795336f6eb22171",
    },
];
