//! The operations the gateway answers from its own vault, driven through its KMIP request path
//! (`Gateway::answer`) with real TLS material for a core that is down: lifecycle, attributes,
//! identity isolation, batches, and Create/Get failing closed.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../kmip/tests/requests/mod.rs"]
mod requests;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::{AsDer, EcPrivateKeyRfc5915Der, PublicKeyX509Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
};
use common::records::{CREATED, app_a_key, l3};
use common::{Pki, dead_address};
use kmip::net::ClientLimits;
use kmip::{
    ActivateRequest, AddAttributeRequest, Attribute, AttributeReference, AttributeType,
    BatchErrorContinuationOption, BlockCipherMode, Certificate, CertificateType,
    CreateKeyPairRequest, CreateRequest, CryptographicAlgorithm, CryptographicParameters,
    CryptographicUsageMask, DateTime, DecryptRequest, DeleteAttributeRequest, DerivationMethod,
    DerivationParameters, DeriveKeyRequest, DestroyRequest, DiscoverVersionsRequest,
    EncodingOption, EncryptRequest, EncryptionKeyInformation, GetAttributeListRequest,
    GetAttributesRequest, GetRequest, HashingAlgorithm, Item, KeyBlock, KeyFormatType, KeyMaterial,
    KeyWrappingData, KeyWrappingSpecification, MacRequest, MacVerifyRequest, ManagedObject,
    ModifyAttributeRequest, Name, ObjectType, Operation, PaddingMethod, PrivateKey,
    ProtocolVersion, PublicKey, QueryFunction, QueryRequest, RegisterRequest, RekeyRequest,
    RequestBatchItem, RequestHeader, RequestMessage, RequestPayload, ResponseBatchItem,
    ResponseMessage, ResponsePayload, ResultReason, ResultStatus, RevocationReason,
    RevocationReasonCode, RevokeRequest, RngRetrieveRequest, SecretBytes, SetAttributeRequest,
    SignRequest, SignatureVerifyRequest, State, Tag, TypedRequest, Value, WrappingMethod,
};
use krypton_gateway::{
    CoreConfig, CoreLink, Filter, Gateway, KeyLimits, MemoryVault, Record, Tenancy, Vault,
};

const V1_4: ProtocolVersion = ProtocolVersion::V1_4;
const V2_0: ProtocolVersion = ProtocolVersion::V2_0;

struct Harness {
    gateway: Gateway<MemoryVault>,
    _pki: Pki,
}

/// A gateway whose core is down, with `keys` of app-a in its vault: `(id, state)`.
async fn harness(keys: &[(&str, State)]) -> Harness {
    harness_with_core(keys, dead_address(), ClientLimits::default()).await
}

/// A gateway with `keys` of app-a in its vault, its core at `address`.
async fn harness_with_core(
    keys: &[(&str, State)],
    address: String,
    limits: ClientLimits,
) -> Harness {
    let pki = Pki::new();
    let core = CoreLink::new(&CoreConfig {
        address,
        failover: Vec::new(),
        server_name: "localhost".into(),
        tls: pki.core_client(),
        limits,
    })
    .unwrap();
    let vault = MemoryVault::new();
    for (id, state) in keys {
        vault
            .create(app_a_key(id, *state, &["disk"]))
            .await
            .unwrap();
    }
    let identities = BTreeMap::from([
        ("app-a".to_owned(), l3("acme", "payments")),
        ("app-b".to_owned(), l3("acme", "orders")),
    ]);
    Harness {
        gateway: Gateway::new(vault, core, Tenancy::new(&identities), KeyLimits::default()),
        _pki: pki,
    }
}

impl Harness {
    async fn batch(
        &self,
        identity: &str,
        header: RequestHeader,
        items: Vec<RequestBatchItem>,
    ) -> Vec<ResponseBatchItem> {
        let version = header.protocol_version;
        let request = RequestMessage {
            header,
            batch_items: items,
        }
        .to_item();
        let response =
            ResponseMessage::from_item(&self.gateway.answer(identity, request).await).unwrap();
        assert_eq!(response.header.protocol_version, version);
        response.batch_items
    }

    /// Asks as app-a in `version`: the one answer.
    async fn ask(&self, version: ProtocolVersion, payload: impl TypedRequest) -> ResponseBatchItem {
        let mut items = self
            .batch(
                "app-a",
                RequestHeader::new(version),
                vec![RequestBatchItem::new(payload)],
            )
            .await;
        assert_eq!(items.len(), 1);
        items.remove(0)
    }

    /// Asks as app-a in `version`; the answer must be a success.
    async fn succeeds(&self, version: ProtocolVersion, payload: impl TypedRequest) {
        succeeded(&self.ask(version, payload).await);
    }

    /// Asks as app-a in `version`; the answer must be a refusal for `reason`.
    async fn refuses(
        &self,
        version: ProtocolVersion,
        payload: impl TypedRequest,
        reason: ResultReason,
    ) {
        refused(&self.ask(version, payload).await, reason);
    }

    async fn attributes(&self, id: &str) -> Vec<Attribute> {
        let answer = self
            .ask(
                V2_0,
                GetAttributesRequest {
                    unique_identifier: Some(id.into()),
                    attribute_references: Vec::new(),
                },
            )
            .await;
        let Some(ResponsePayload::GetAttributes(response)) = answer.payload else {
            panic!("{answer:?}")
        };
        response.attributes
    }

    async fn state(&self, id: &str) -> State {
        self.attributes(id)
            .await
            .into_iter()
            .find_map(|attribute| match attribute {
                Attribute::State(state) => Some(state),
                _ => None,
            })
            .unwrap()
    }

    /// The identifiers of every object of app-a's in the vault (at most 100).
    async fn stored(&self) -> Vec<String> {
        let everything = Filter::new(Vec::new(), None, DateTime::now());
        self.gateway
            .vault()
            .locate("app-a", &everything, 100)
            .await
            .unwrap()
    }

    async fn record(&self, id: &str) -> Record {
        self.gateway
            .vault()
            .get("app-a", id)
            .await
            .unwrap()
            .unwrap()
    }
}

fn succeeded(answer: &ResponseBatchItem) {
    assert_eq!(answer.result_status, ResultStatus::Success, "{answer:?}");
}

fn refused(answer: &ResponseBatchItem, reason: ResultReason) {
    assert_eq!(
        answer.result_status,
        ResultStatus::OperationFailed,
        "{answer:?}"
    );
    assert_eq!(answer.result_reason, Some(reason), "{answer:?}");
}

/// A refusal because the core cannot be reached: the gateway fails closed.
fn failed_closed(answer: &ResponseBatchItem) {
    refused(answer, ResultReason::GeneralFailure);
    let message = answer.result_message.as_deref().unwrap();
    assert!(message.contains("unreachable"), "{answer:?}");
}

fn id(id: &str) -> Option<kmip::UniqueIdentifier> {
    Some(id.into())
}

fn activate(key: &str) -> ActivateRequest {
    ActivateRequest {
        unique_identifier: id(key),
    }
}

fn destroy(key: &str) -> DestroyRequest {
    DestroyRequest {
        unique_identifier: id(key),
    }
}

fn get(key: &str) -> GetRequest {
    GetRequest {
        unique_identifier: id(key),
        ..GetRequest::default()
    }
}

fn revoke(key: &str, code: RevocationReasonCode) -> RevokeRequest {
    RevokeRequest {
        unique_identifier: id(key),
        revocation_reason: RevocationReason {
            code,
            message: Some("test".into()),
        },
        compromise_occurrence_date: None,
    }
}

fn create_aes() -> CreateRequest {
    CreateRequest {
        object_type: ObjectType::SymmetricKey,
        attributes: vec![
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
            Attribute::CryptographicLength(256),
            Attribute::Name(Name::text("new")),
        ],
    }
}

#[tokio::test]
async fn the_full_lifecycle_of_a_key_is_local() {
    let h = harness(&[("k1", State::PreActive)]).await;

    h.succeeds(V1_4, activate("k1")).await;
    assert_eq!(h.state("k1").await, State::Active);
    assert!(
        h.attributes("k1")
            .await
            .iter()
            .any(|a| matches!(a, Attribute::ActivationDate(_)))
    );

    // Activating twice, destroying an active key: refused by state, in each version's terms.
    h.refuses(V2_0, activate("k1"), ResultReason::WrongKeyLifecycleState)
        .await;
    h.refuses(V1_4, activate("k1"), ResultReason::PermissionDenied)
        .await;
    h.refuses(V2_0, destroy("k1"), ResultReason::WrongKeyLifecycleState)
        .await;

    h.succeeds(V1_4, revoke("k1", RevocationReasonCode::Superseded))
        .await;
    assert_eq!(h.state("k1").await, State::Deactivated);
    let attributes = h.attributes("k1").await;
    assert!(
        attributes
            .iter()
            .any(|a| matches!(a, Attribute::DeactivationDate(_)))
    );
    assert!(attributes.iter().any(|a| matches!(
        a,
        Attribute::RevocationReason(r) if r.code == RevocationReasonCode::Superseded
    )));

    h.succeeds(V1_4, destroy("k1")).await;
    assert_eq!(h.state("k1").await, State::Destroyed);
    let record = h.record("k1").await;
    assert_eq!(record.wrapped, None, "the wrapped key is shredded");
    assert!(record.metadata.destroy_date.is_some(), "the metadata stays");

    h.refuses(V2_0, get("k1"), ResultReason::ObjectDestroyed)
        .await;
    h.refuses(V1_4, get("k1"), ResultReason::PermissionDenied)
        .await;
    h.refuses(V2_0, destroy("k1"), ResultReason::ObjectDestroyed)
        .await;
}

#[tokio::test]
async fn revocation_reasons_lead_where_the_spec_says() {
    use RevocationReasonCode::{CaCompromise, CessationOfOperation, KeyCompromise, Unspecified};
    use State::{Active, Compromised, Deactivated, PreActive};

    // A key in a state, revoked for a reason, ends in a state.
    let revocations = [
        ("compromised", Active, KeyCompromise, Compromised),
        ("ca-compromised", PreActive, CaCompromise, Compromised),
        ("superseded", Active, CessationOfOperation, Deactivated),
        ("pre-active", PreActive, Unspecified, Deactivated),
    ];
    let keys = revocations.map(|(key, state, _, _)| (key, state));
    let h = harness(&keys).await;
    for (key, _, reason, _) in revocations {
        h.succeeds(V1_4, revoke(key, reason)).await;
    }
    for (key, _, _, revoked) in revocations {
        assert_eq!(h.state(key).await, revoked, "{key}");
    }
    let attributes = h.attributes("compromised").await;
    assert!(attributes.contains(&Attribute::CompromiseOccurrenceDate(CREATED)));

    // A deactivated key cannot be revoked again for a reason other than compromise.
    h.refuses(
        V2_0,
        revoke("superseded", RevocationReasonCode::Superseded),
        ResultReason::WrongKeyLifecycleState,
    )
    .await;

    // A compromised key is refused by its local state: the core (down) is never asked.
    h.refuses(
        V2_0,
        get("compromised"),
        ResultReason::WrongKeyLifecycleState,
    )
    .await;
    h.succeeds(V1_4, destroy("compromised")).await;
    assert_eq!(h.state("compromised").await, State::DestroyedCompromised);
}

#[tokio::test]
async fn create_and_get_fail_closed_while_the_core_is_down() {
    let h = harness(&[("k1", State::Active), ("k2", State::Deactivated)]).await;
    for version in [ProtocolVersion::V1_0, V1_4, V2_0] {
        failed_closed(&h.ask(version, create_aes()).await);
        for key in ["k1", "k2"] {
            failed_closed(&h.ask(version, get(key)).await);
        }
    }
    // Nothing half-written: the vault holds the two keys it had.
    let stored = h.stored().await;
    assert_eq!(stored, ["k1", "k2"]);
    assert_eq!(h.record("k1").await.revision, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_get_fail_closed_within_the_connect_timeout_when_the_core_hangs() {
    // A core that accepts TCP connections and never says a word: the TLS handshake stalls.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = hung.local_addr().unwrap().to_string();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = hung.accept().await {
            open.push(stream);
        }
    });
    let limits = ClientLimits {
        connect_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(600),
        ..ClientLimits::default()
    };
    let h = harness_with_core(&[("k1", State::Active)], address, limits).await;
    failed_closed(&timed(h.ask(V2_0, create_aes())).await);
    failed_closed(&timed(h.ask(V1_4, get("k1"))).await);
    // The local operations do not wait for it at all.
    let revoked = timed(h.ask(V1_4, revoke("k1", RevocationReasonCode::Superseded))).await;
    succeeded(&revoked);
    held.abort();
}

/// Awaits an answer that must come within the core's connect timeout and some slack.
async fn timed(answer: impl Future<Output = ResponseBatchItem>) -> ResponseBatchItem {
    let began = Instant::now();
    let answer = answer.await;
    let took = began.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}: {answer:?}");
    answer
}

#[tokio::test]
async fn another_identity_cannot_tell_a_key_exists() {
    let h = harness(&[("k1", State::Active)]).await;
    let probes = |key: &str| -> Vec<RequestBatchItem> {
        vec![
            RequestBatchItem::new(get(key)),
            RequestBatchItem::new(GetAttributesRequest {
                unique_identifier: id(key),
                attribute_references: Vec::new(),
            }),
            RequestBatchItem::new(revoke(key, RevocationReasonCode::KeyCompromise)),
            RequestBatchItem::new(destroy(key)),
            RequestBatchItem::new(activate(key)),
        ]
    };
    for item in probes("k1").into_iter().zip(probes("no-such-key")) {
        let (existing, missing) = item;
        let mut header = RequestHeader::new(V1_4);
        header.batch_error_continuation_option = Some(BatchErrorContinuationOption::Continue);
        let on_existing = h.batch("app-b", header.clone(), vec![existing]).await;
        let on_missing = h.batch("app-b", header, vec![missing]).await;
        assert_eq!(on_existing[0].result_status, ResultStatus::OperationFailed);
        assert_eq!(
            (
                &on_existing[0].result_reason,
                &on_existing[0].result_message
            ),
            (&on_missing[0].result_reason, &on_missing[0].result_message),
            "app-b's answers must not depend on app-a's keys"
        );
    }
    let record = h.record("k1").await;
    assert_eq!((record.revision, record.metadata.state), (1, State::Active));
}

#[tokio::test]
async fn identities_outside_the_configuration_are_refused() {
    let h = harness(&[("k1", State::Active)]).await;
    let answers = h
        .batch(
            "intruder",
            RequestHeader::new(V1_4),
            vec![
                RequestBatchItem::new(GetAttributesRequest {
                    unique_identifier: id("k1"),
                    attribute_references: Vec::new(),
                })
                .with_id(*b"1"),
                RequestBatchItem::new(QueryRequest::default()).with_id(*b"2"),
            ],
        )
        .await;
    assert_eq!(answers.len(), 2);
    for (answer, batch_id) in answers.iter().zip([b"1", b"2"]) {
        refused(answer, ResultReason::PermissionDenied);
        assert_eq!(answer.unique_batch_item_id.as_deref(), Some(&batch_id[..]));
    }
}

#[tokio::test]
async fn client_attributes_are_edited_and_server_attributes_are_not() {
    let h = harness(&[("k1", State::PreActive)]).await;
    let name = |text: &str| Attribute::Name(Name::text(text));

    let added = h
        .ask(
            V1_4,
            AddAttributeRequest {
                unique_identifier: id("k1"),
                attribute: name("second"),
            },
        )
        .await;
    succeeded(&added);
    let Some(ResponsePayload::AddAttribute(echo)) = &added.payload else {
        panic!()
    };
    assert_eq!(
        echo.attribute,
        Some(name("second")),
        "KMIP 1.x echoes the attribute"
    );

    let modified = ModifyAttributeRequest {
        unique_identifier: id("k1"),
        attribute_index: Some(1),
        current_attribute: None,
        new_attribute: name("renamed"),
    };
    h.succeeds(V1_4, modified).await;
    let names: Vec<_> = h
        .attributes("k1")
        .await
        .into_iter()
        .filter(|a| matches!(a, Attribute::Name(_)))
        .collect();
    assert_eq!(names, [name("disk"), name("renamed")]);

    let deleted = DeleteAttributeRequest {
        unique_identifier: id("k1"),
        attribute: AttributeReference::Standard(AttributeType::Name),
        attribute_index: None,
        current_attribute: Some(name("disk")),
    };
    h.succeeds(V2_0, deleted).await;
    let set = SetAttributeRequest {
        unique_identifier: id("k1"),
        new_attribute: Attribute::Description("payments key".into()),
    };
    h.succeeds(V2_0, set).await;
    let attributes = h.attributes("k1").await;
    assert!(attributes.contains(&Attribute::Description("payments key".into())));
    assert!(!attributes.contains(&name("disk")));

    let list = h
        .ask(
            V1_4,
            GetAttributeListRequest {
                unique_identifier: id("k1"),
            },
        )
        .await;
    let Some(ResponsePayload::GetAttributeList(list)) = list.payload else {
        panic!()
    };
    for expected in [
        AttributeType::State,
        AttributeType::Name,
        AttributeType::Description,
        AttributeType::InitialDate,
    ] {
        assert!(
            list.attribute_references
                .contains(&AttributeReference::Standard(expected)),
            "{expected:?}"
        );
    }

    // The gateway's own attributes change only through the lifecycle.
    let forged = AddAttributeRequest {
        unique_identifier: id("k1"),
        attribute: Attribute::State(State::Active),
    };
    h.refuses(V2_0, forged.clone(), ResultReason::ReadOnlyAttribute)
        .await;
    h.refuses(V1_4, forged, ResultReason::InvalidField).await;
    let set_name = SetAttributeRequest {
        unique_identifier: id("k1"),
        new_attribute: name("x"),
    };
    h.refuses(V2_0, set_name, ResultReason::MultiValuedAttribute)
        .await;
    assert_eq!(h.state("k1").await, State::PreActive);
}

#[tokio::test]
async fn get_attributes_answers_what_was_asked_in_the_clients_version() {
    let h = harness(&[("k1", State::Active)]).await;
    let answer = h
        .ask(
            ProtocolVersion::V1_0,
            GetAttributesRequest {
                unique_identifier: id("k1"),
                attribute_references: vec![AttributeReference::Standard(AttributeType::State)],
            },
        )
        .await;
    let Some(ResponsePayload::GetAttributes(response)) = answer.payload else {
        panic!("{answer:?}")
    };
    assert_eq!(response.unique_identifier, "k1");
    assert_eq!(response.attributes, [Attribute::State(State::Active)]);
}

#[tokio::test]
async fn batches_are_answered_item_by_item() {
    let h = harness(&[("active", State::Active), ("pre", State::PreActive)]).await;
    let items = || {
        vec![
            RequestBatchItem::new(destroy("active")).with_id(*b"a"),
            RequestBatchItem::new(activate("pre")).with_id(*b"b"),
        ]
    };
    // Stop, the default: the batch ends at the failed item.
    let stopped = h.batch("app-a", RequestHeader::new(V1_4), items()).await;
    assert_eq!(stopped.len(), 1);
    refused(&stopped[0], ResultReason::PermissionDenied);
    assert_eq!(stopped[0].unique_batch_item_id.as_deref(), Some(&b"a"[..]));
    assert_eq!(h.state("pre").await, State::PreActive);

    let mut header = RequestHeader::new(V1_4);
    header.batch_error_continuation_option = Some(BatchErrorContinuationOption::Continue);
    let continued = h.batch("app-a", header, items()).await;
    assert_eq!(continued.len(), 2);
    assert_eq!(
        continued[1].unique_batch_item_id.as_deref(),
        Some(&b"b"[..])
    );
    assert_eq!(continued[1].operation, Some(Operation::Activate));
    succeeded(&continued[1]);
    assert_eq!(h.state("pre").await, State::Active);

    // Undo: a batch that changes state cannot be taken back, so it is refused whole.
    let mut undo = RequestHeader::new(V1_4);
    undo.batch_error_continuation_option = Some(BatchErrorContinuationOption::Undo);
    let undone = h.batch("app-a", undo.clone(), items()).await;
    assert_eq!(undone.len(), 2);
    for answer in &undone {
        refused(answer, ResultReason::FeatureNotSupported);
    }
    assert_eq!(h.record("active").await.metadata.state, State::Active);

    // A batch that only reads runs; at a failure the reads before it are withdrawn.
    let read = |key: &str| {
        RequestBatchItem::new(GetAttributesRequest {
            unique_identifier: id(key),
            attribute_references: Vec::new(),
        })
    };
    let undone = h
        .batch(
            "app-a",
            undo,
            vec![read("active"), read("not-here"), read("pre")],
        )
        .await;
    let statuses: Vec<_> = undone.iter().map(|answer| answer.result_status).collect();
    assert_eq!(
        statuses,
        [ResultStatus::OperationUndone, ResultStatus::OperationFailed]
    );
    assert_eq!(undone[0].payload, None);
    // "not-here" went to the core, which is down.
    refused(&undone[1], ResultReason::GeneralFailure);
}

#[tokio::test]
async fn versions_and_capabilities_are_the_gateways() {
    let h = harness(&[]).await;
    let versions = h
        .ask(ProtocolVersion::V1_1, DiscoverVersionsRequest::default())
        .await;
    let Some(ResponsePayload::DiscoverVersions(versions)) = versions.payload else {
        panic!()
    };
    assert_eq!(versions.protocol_versions, ProtocolVersion::SUPPORTED);

    let query = QueryRequest {
        query_functions: vec![QueryFunction::QueryOperations, QueryFunction::QueryObjects],
    };
    let answer = h.ask(ProtocolVersion::V1_0, query.clone()).await;
    let Some(ResponsePayload::Query(offer)) = answer.payload else {
        panic!()
    };
    assert!(offer.operations.contains(&Operation::Create));
    assert!(
        !offer.operations.contains(&Operation::DiscoverVersions),
        "1.0 has no Discover Versions"
    );
    let answer = h.ask(V2_0, query).await;
    let Some(ResponsePayload::Query(offer)) = answer.payload else {
        panic!()
    };
    assert!(offer.operations.contains(&Operation::SetAttribute));
}

/// What Query lists is what the gateway dispatches: each listed operation is answered here
/// (Create and Locate fail closed with the core down) or forwarded (an object not in the vault:
/// the core, down, is named unreachable); every other operation is Operation Not Supported.
#[tokio::test]
async fn every_operation_listed_is_dispatched_and_no_other() {
    let h = harness(&[]).await;
    let query = QueryRequest {
        query_functions: vec![QueryFunction::QueryOperations],
    };
    let answer = h.ask(V2_0, query).await;
    let Some(ResponsePayload::Query(offer)) = answer.payload else {
        panic!("{answer:?}")
    };
    for &operation in Operation::ALL {
        let Some(payload) = requests::request(operation, "not-here") else {
            assert!(
                !offer.operations.contains(&operation),
                "{operation:?} is listed but the model has no request of it"
            );
            continue;
        };
        let item = RequestBatchItem {
            operation,
            ephemeral: None,
            unique_batch_item_id: None,
            payload,
            message_extension: None,
        };
        let answer = h
            .batch("app-a", RequestHeader::new(V2_0), vec![item])
            .await
            .remove(0);
        let not_supported = answer.result_reason == Some(ResultReason::OperationNotSupported);
        assert_eq!(
            not_supported,
            !offer.operations.contains(&operation),
            "{operation:?}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn a_request_that_is_not_kmip_gets_invalid_message_in_its_version() {
    let h = harness(&[]).await;
    let mut request = RequestMessage {
        header: RequestHeader::new(ProtocolVersion::V1_2),
        batch_items: vec![RequestBatchItem::new(QueryRequest::default())],
    }
    .to_item();
    // A header without its Batch Count.
    let Value::Structure(message) = &mut request.value else {
        panic!()
    };
    let Value::Structure(header) = &mut message[0].value else {
        panic!()
    };
    header.retain(|field| field.tag != Tag::BATCH_COUNT);
    let response: Item = h.gateway.answer("app-a", request).await;
    let response = ResponseMessage::from_item(&response).unwrap();
    assert_eq!(response.header.protocol_version, ProtocolVersion::V1_2);
    refused(&response.batch_items[0], ResultReason::InvalidMessage);
}

#[tokio::test]
async fn operations_that_would_use_the_key_here_are_not_offered() {
    let h = harness(&[("k1", State::Active)]).await;
    let check = kmip::CheckRequest {
        unique_identifier: id("k1"),
        ..kmip::CheckRequest::default()
    };
    h.refuses(V1_4, check, ResultReason::OperationNotSupported)
        .await;
}

fn cbc() -> CryptographicParameters {
    CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::Cbc),
        padding_method: Some(PaddingMethod::Pkcs5),
        ..CryptographicParameters::default()
    }
}

/// Parameters naming `mode` and nothing else.
fn block_mode(mode: BlockCipherMode) -> CryptographicParameters {
    CryptographicParameters {
        block_cipher_mode: Some(mode),
        ..CryptographicParameters::default()
    }
}

fn gcm() -> CryptographicParameters {
    CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::Gcm),
        ..CryptographicParameters::default()
    }
}

fn encrypt(key: &str, parameters: Option<CryptographicParameters>) -> EncryptRequest {
    EncryptRequest {
        unique_identifier: id(key),
        cryptographic_parameters: parameters,
        data: b"sixteen bytes!!!".to_vec().into(),
        iv_counter_nonce: None,
        authenticated_encryption_additional_data: None,
    }
}

fn decrypt(key: &str, parameters: CryptographicParameters, iv: Option<Vec<u8>>) -> DecryptRequest {
    DecryptRequest {
        unique_identifier: id(key),
        cryptographic_parameters: Some(parameters),
        data: vec![0; 32],
        iv_counter_nonce: iv,
        authenticated_encryption_additional_data: None,
        authenticated_encryption_tag: None,
    }
}

/// Encrypt and Decrypt decide everything they can before the core unwraps the key: the key's
/// state and usage mask, the parameters, the IV. With the core down, what passes those checks
/// fails closed; what does not is refused with the specification's reason.
#[tokio::test]
async fn encrypt_and_decrypt_refuse_what_the_key_or_the_parameters_do_not_allow() {
    let h = harness(&[
        ("active", State::Active),
        ("pre", State::PreActive),
        ("revoked", State::Deactivated),
    ])
    .await;
    let mut decrypt_only = app_a_key("decrypt-only", State::Active, &[]);
    decrypt_only.metadata.usage_mask = Some(CryptographicUsageMask::DECRYPT);
    h.gateway.vault().create(decrypt_only).await.unwrap();
    // A key whose own Cryptographic Parameters ask the server to draw the IV.
    let draws_its_iv = CryptographicParameters {
        random_iv: Some(true),
        ..cbc()
    };
    let mut random_iv = app_a_key("random-iv", State::Active, &[]);
    random_iv
        .metadata
        .client_attributes
        .push(Attribute::CryptographicParameters(draws_its_iv));
    h.gateway.vault().create(random_iv).await.unwrap();

    // What passes every check reaches the core, which is down.
    failed_closed(&h.ask(V2_0, encrypt("active", Some(cbc()))).await);
    failed_closed(&h.ask(V2_0, encrypt("random-iv", None)).await);
    failed_closed(
        &h.ask(V2_0, decrypt("revoked", cbc(), Some(vec![0; 16])))
            .await,
    );
    failed_closed(
        &h.ask(V2_0, decrypt("decrypt-only", cbc(), Some(vec![0; 16])))
            .await,
    );
    // GCM from KMIP 1.4 on, where the tag has a field.
    failed_closed(&h.ask(V1_4, encrypt("active", Some(gcm()))).await);

    let cases = [
        // An IV sent for a key whose parameters have the server draw it.
        (
            h.ask(
                V2_0,
                EncryptRequest {
                    iv_counter_nonce: Some(vec![0; 16]),
                    ..encrypt("random-iv", None)
                },
            )
            .await,
            ResultReason::InvalidField,
        ),
        // State: a Pre-Active key does nothing; a Deactivated one decrypts but never encrypts.
        (
            h.ask(V2_0, encrypt("pre", Some(cbc()))).await,
            ResultReason::WrongKeyLifecycleState,
        ),
        (
            h.ask(V2_0, encrypt("revoked", Some(cbc()))).await,
            ResultReason::WrongKeyLifecycleState,
        ),
        (
            h.ask(V2_0, decrypt("pre", cbc(), Some(vec![0; 16]))).await,
            ResultReason::WrongKeyLifecycleState,
        ),
        // 1.x clients get their version's reason.
        (
            h.ask(V1_4, encrypt("pre", Some(cbc()))).await,
            ResultReason::PermissionDenied,
        ),
        // Usage mask.
        (
            h.ask(V2_0, encrypt("decrypt-only", Some(cbc()))).await,
            ResultReason::IncompatibleCryptographicUsageMask,
        ),
        // Parameters: none sent and none on the key; a mode not offered; GCM before 1.4.
        (
            h.ask(V2_0, encrypt("active", None)).await,
            ResultReason::MissingData,
        ),
        (
            h.ask(
                V2_0,
                encrypt("active", Some(block_mode(BlockCipherMode::Ofb))),
            )
            .await,
            ResultReason::UnsupportedCryptographicParameters,
        ),
        // ECB without padding takes whole blocks.
        (
            h.ask(
                V2_0,
                EncryptRequest {
                    data: b"seventeen bytes!!".to_vec().into(),
                    ..encrypt("active", Some(block_mode(BlockCipherMode::Ecb)))
                },
            )
            .await,
            ResultReason::InvalidField,
        ),
        (
            h.ask(ProtocolVersion::V1_2, encrypt("active", Some(gcm())))
                .await,
            ResultReason::FeatureNotSupported,
        ),
        // The IV: Decrypt needs one of the mode's length; Encrypt takes one or draws one.
        (
            h.ask(V2_0, decrypt("active", cbc(), None)).await,
            ResultReason::MissingInitializationVector,
        ),
        (
            h.ask(V2_0, decrypt("active", cbc(), Some(vec![0; 12])))
                .await,
            ResultReason::BadCryptographicParameters,
        ),
        (
            h.ask(
                V2_0,
                EncryptRequest {
                    iv_counter_nonce: Some(vec![0; 16]),
                    ..encrypt(
                        "active",
                        Some(CryptographicParameters {
                            random_iv: Some(true),
                            ..cbc()
                        }),
                    )
                },
            )
            .await,
            ResultReason::InvalidField,
        ),
        // GCM's tag is needed to decrypt.
        (
            h.ask(V2_0, decrypt("active", gcm(), Some(vec![0; 12])))
                .await,
            ResultReason::MissingData,
        ),
    ];
    for (answer, reason) in &cases {
        refused(answer, *reason);
    }
}

/// app-a's Active HMAC-SHA-256 key `id` allowed `usage`, in `state`.
fn hmac_key(id: &str, state: State, usage: CryptographicUsageMask) -> Record {
    let mut record = app_a_key(id, state, &[]);
    record.metadata.algorithm = Some(CryptographicAlgorithm::HmacSha256);
    record.metadata.usage_mask = Some(usage);
    record
}

fn mac(key: &str, parameters: Option<CryptographicParameters>) -> MacRequest {
    MacRequest {
        unique_identifier: id(key),
        cryptographic_parameters: parameters,
        data: b"a token to sign".to_vec().into(),
    }
}

fn mac_verify(key: &str) -> MacVerifyRequest {
    MacVerifyRequest {
        unique_identifier: id(key),
        cryptographic_parameters: None,
        data: b"a token to sign".to_vec().into(),
        mac_data: vec![0; 32],
    }
}

/// MAC and MAC Verify, like Encrypt and Decrypt, decide on the key's algorithm, state and
/// usage mask and on the parameters before the core unwraps anything.
#[tokio::test]
async fn mac_refuses_what_the_key_or_the_parameters_do_not_allow() {
    use CryptographicUsageMask as U;
    let h = harness(&[("aes", State::Active)]).await;
    let vault = h.gateway.vault();
    let both = U::MAC_GENERATE | U::MAC_VERIFY;
    vault
        .create(hmac_key("mac", State::Active, both))
        .await
        .unwrap();
    vault
        .create(hmac_key("verify-only", State::Active, U::MAC_VERIFY))
        .await
        .unwrap();
    vault
        .create(hmac_key("pre", State::PreActive, both))
        .await
        .unwrap();
    let mut old = hmac_key("old", State::Deactivated, both);
    old.metadata.deactivation_date = Some(CREATED);
    vault.create(old).await.unwrap();

    let sha256 = CryptographicParameters {
        cryptographic_algorithm: Some(CryptographicAlgorithm::HmacSha256),
        hashing_algorithm: Some(HashingAlgorithm::Sha256),
        ..CryptographicParameters::default()
    };
    failed_closed(&h.ask(V2_0, mac("mac", None)).await);
    failed_closed(&h.ask(ProtocolVersion::V1_2, mac("mac", Some(sha256))).await);
    failed_closed(&h.ask(V2_0, mac_verify("old")).await);
    failed_closed(&h.ask(V2_0, mac_verify("verify-only")).await);

    let other_hash = CryptographicParameters {
        hashing_algorithm: Some(HashingAlgorithm::Sha512),
        ..CryptographicParameters::default()
    };
    let other_algorithm = CryptographicParameters {
        cryptographic_algorithm: Some(CryptographicAlgorithm::HmacSha384),
        ..CryptographicParameters::default()
    };
    let cases = [
        (
            h.ask(V2_0, mac("aes", None)).await,
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            h.ask(V2_0, mac("mac", Some(other_hash))).await,
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            h.ask(V2_0, mac("mac", Some(other_algorithm))).await,
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            h.ask(V2_0, mac("verify-only", None)).await,
            ResultReason::IncompatibleCryptographicUsageMask,
        ),
        (
            h.ask(V2_0, mac("old", None)).await,
            ResultReason::WrongKeyLifecycleState,
        ),
        (
            h.ask(V2_0, mac_verify("pre")).await,
            ResultReason::WrongKeyLifecycleState,
        ),
    ];
    for (answer, reason) in &cases {
        refused(answer, *reason);
    }
}

/// RNG Retrieve is the gateway's, with the core down too, and bounded.
#[tokio::test]
async fn rng_retrieve_answers_here_within_its_bound() {
    let h = harness(&[]).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let answer = h.ask(V2_0, RngRetrieveRequest { data_length: 48 }).await;
        let Some(ResponsePayload::RngRetrieve(random)) = answer.payload else {
            panic!("{answer:?}")
        };
        assert_eq!(random.data.len(), 48);
        seen.push(random.data.to_vec());
    }
    assert_ne!(seen[0], seen[1]);
    succeeded(
        &h.ask(
            ProtocolVersion::V1_2,
            RngRetrieveRequest {
                data_length: 65_536,
            },
        )
        .await,
    );
    for data_length in [0, -1, 65_537] {
        h.refuses(
            V2_0,
            RngRetrieveRequest { data_length },
            ResultReason::InvalidField,
        )
        .await;
    }
}

/// Re-key decides before it makes anything: a destroyed key, a key replaced already, or
/// attributes it does not set are refused; with the core down it fails closed and the old key
/// is left exactly as it was (its names, no link).
#[tokio::test]
async fn rekey_refuses_what_it_cannot_replace_and_changes_nothing_when_it_fails() {
    let h = harness(&[("k1", State::Active), ("gone", State::PreActive)]).await;
    h.succeeds(V2_0, destroy("gone")).await;
    let mut replaced = app_a_key("replaced", State::Active, &["old"]);
    replaced
        .metadata
        .client_attributes
        .push(Attribute::Link(kmip::Link {
            link_type: kmip::LinkType::ReplacementObjectLink,
            linked_object_identifier: "newer".into(),
        }));
    h.gateway.vault().create(replaced).await.unwrap();
    let rekey = |key: &str, attributes: Vec<Attribute>| RekeyRequest {
        unique_identifier: id(key),
        offset: None,
        attributes,
    };
    let before = h.record("k1").await;
    failed_closed(&h.ask(V2_0, rekey("k1", Vec::new())).await);
    failed_closed(
        &h.ask(
            V1_4,
            RekeyRequest {
                offset: Some(60),
                ..rekey("k1", Vec::new())
            },
        )
        .await,
    );
    assert_eq!(h.record("k1").await, before, "nothing changed");

    h.refuses(
        V2_0,
        rekey("gone", Vec::new()),
        ResultReason::ObjectDestroyed,
    )
    .await;
    h.refuses(
        V2_0,
        rekey("replaced", Vec::new()),
        ResultReason::InvalidField,
    )
    .await;
    h.refuses(
        V2_0,
        rekey("k1", vec![Attribute::Name(Name::text("renamed"))]),
        ResultReason::InvalidField,
    )
    .await;
}

/// A Create Key Pair with the `common` attributes and those of each half.
fn key_pair(
    common: Vec<Attribute>,
    private: Vec<Attribute>,
    public: Vec<Attribute>,
) -> CreateKeyPairRequest {
    CreateKeyPairRequest {
        common_attributes: common,
        private_key_attributes: private,
        public_key_attributes: public,
    }
}

fn ecdsa_p256() -> Vec<Attribute> {
    vec![
        Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Ecdsa),
        Attribute::CryptographicLength(256),
    ]
}

/// Create Key Pair decides what to make before it makes anything: a kind or length it does not
/// make, halves that disagree, attributes the gateway sets, are refused; what passes fails
/// closed with the core down, in the 1.x and the 2.x forms, and leaves nothing in the vault.
#[tokio::test]
async fn create_key_pair_refuses_what_it_cannot_make_and_leaves_nothing_when_it_fails() {
    let h = harness(&[]).await;
    let named = |name: &str| vec![Attribute::Name(Name::text(name))];
    for version in [ProtocolVersion::V1_2, V1_4, V2_0] {
        failed_closed(
            &h.ask(
                version,
                key_pair(ecdsa_p256(), named("signer"), named("verifier")),
            )
            .await,
        );
    }
    let rsa = |length| {
        vec![
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Rsa),
            Attribute::CryptographicLength(length),
        ]
    };
    failed_closed(
        &h.ask(V2_0, key_pair(rsa(4096), Vec::new(), Vec::new()))
            .await,
    );
    let located = h.stored().await;
    assert!(located.is_empty(), "nothing stored: {located:?}");

    for (request, reason) in [
        (
            key_pair(rsa(1024), Vec::new(), Vec::new()),
            ResultReason::InvalidField,
        ),
        (
            key_pair(rsa(2048)[1..].to_vec(), Vec::new(), Vec::new()),
            ResultReason::InvalidField,
        ),
        (
            key_pair(
                vec![
                    Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
                    Attribute::CryptographicLength(256),
                ],
                Vec::new(),
                Vec::new(),
            ),
            ResultReason::InvalidField,
        ),
        (
            key_pair(Vec::new(), rsa(2048), ecdsa_p256()),
            ResultReason::InvalidField,
        ),
        (
            key_pair(
                ecdsa_p256(),
                vec![Attribute::ObjectType(ObjectType::PublicKey)],
                Vec::new(),
            ),
            ResultReason::ReadOnlyAttribute,
        ),
        (
            key_pair(
                ecdsa_p256(),
                Vec::new(),
                vec![Attribute::State(State::Active)],
            ),
            ResultReason::ReadOnlyAttribute,
        ),
        (
            key_pair(
                ecdsa_p256(),
                vec![
                    Attribute::CryptographicUsageMask(CryptographicUsageMask::SIGN),
                    Attribute::CryptographicUsageMask(CryptographicUsageMask::DECRYPT),
                ],
                Vec::new(),
            ),
            ResultReason::AttributeSingleValued,
        ),
    ] {
        h.refuses(V2_0, request, reason).await;
    }
}

/// app-a's half of a key pair: `object_type`, an `algorithm` key of `length` bits, in `state`,
/// with `usage`.
fn half(
    key: &str,
    object_type: ObjectType,
    algorithm: CryptographicAlgorithm,
    length: i32,
    state: State,
    usage: CryptographicUsageMask,
) -> Record {
    let mut record = app_a_key(key, state, &[]);
    record.metadata.object_type = object_type;
    record.metadata.algorithm = Some(algorithm);
    record.metadata.length = Some(length);
    record.metadata.usage_mask = Some(usage);
    record
}

fn sign(key: &str, parameters: Option<CryptographicParameters>) -> SignRequest {
    SignRequest {
        unique_identifier: id(key),
        cryptographic_parameters: parameters,
        data: b"a payment order".to_vec().into(),
    }
}

fn signature_verify(key: &str) -> SignatureVerifyRequest {
    SignatureVerifyRequest {
        unique_identifier: id(key),
        cryptographic_parameters: None,
        data: b"a payment order".to_vec().into(),
        signature_data: vec![0; 64],
    }
}

/// Sign, Signature Verify and Get of a key pair's halves decide everything they can before the
/// core unwraps the key: the half, its state and usage mask, the parameters, the key format.
/// What passes fails closed with the core down; the rest is refused with the spec's reason.
/// Streaming (an Init Indicator) is refused.
#[tokio::test]
async fn sign_and_verify_refuse_what_the_key_or_the_parameters_do_not_allow() {
    use CryptographicAlgorithm as A;
    use CryptographicUsageMask as U;
    let h = harness(&[("aes", State::Active)]).await;
    for record in [
        half(
            "ec",
            ObjectType::PrivateKey,
            A::Ecdsa,
            256,
            State::Active,
            U::SIGN,
        ),
        half(
            "ec-public",
            ObjectType::PublicKey,
            A::Ecdsa,
            256,
            State::Deactivated,
            U::VERIFY,
        ),
        half(
            "rsa",
            ObjectType::PrivateKey,
            A::Rsa,
            2048,
            State::Active,
            U::SIGN,
        ),
        half(
            "pre",
            ObjectType::PrivateKey,
            A::Ed25519,
            256,
            State::PreActive,
            U::SIGN,
        ),
        half(
            "decrypts",
            ObjectType::PrivateKey,
            A::Rsa,
            2048,
            State::Active,
            U::DECRYPT,
        ),
        half(
            "verify-off",
            ObjectType::PublicKey,
            A::Ed25519,
            256,
            State::Active,
            U::ENCRYPT,
        ),
    ] {
        h.gateway.vault().create(record).await.unwrap();
    }
    let pss = CryptographicParameters {
        padding_method: Some(PaddingMethod::Pss),
        hashing_algorithm: Some(HashingAlgorithm::Sha256),
        ..CryptographicParameters::default()
    };

    // What passes every check reaches the core, which is down.
    failed_closed(&h.ask(V2_0, sign("ec", None)).await);
    failed_closed(
        &h.ask(ProtocolVersion::V1_2, sign("rsa", Some(pss.clone())))
            .await,
    );
    failed_closed(&h.ask(V2_0, signature_verify("ec-public")).await);
    failed_closed(&h.ask(V2_0, get("ec-public")).await);
    let in_format = |key: &str, format| GetRequest {
        key_format_type: Some(format),
        ..get(key)
    };
    // An RSA private key as PKCS#1 and as its numbers passes the checks.
    for format in [
        KeyFormatType::Pkcs1,
        KeyFormatType::TransparentRsaPrivateKey,
    ] {
        failed_closed(&h.ask(V2_0, in_format("rsa", format)).await);
    }

    let sha384 = CryptographicParameters {
        hashing_algorithm: Some(HashingAlgorithm::Sha384),
        ..CryptographicParameters::default()
    };
    for (request, reason) in [
        (sign("ec-public", None), ResultReason::InvalidObjectType),
        (sign("aes", None), ResultReason::InvalidObjectType),
        (sign("pre", None), ResultReason::WrongKeyLifecycleState),
        (
            sign("decrypts", Some(pss.clone())),
            ResultReason::IncompatibleCryptographicUsageMask,
        ),
        (sign("rsa", None), ResultReason::MissingData),
        (
            sign("ec", Some(sha384)),
            ResultReason::UnsupportedCryptographicParameters,
        ),
    ] {
        h.refuses(V2_0, request, reason).await;
    }
    h.refuses(
        V2_0,
        signature_verify("ec"),
        ResultReason::InvalidObjectType,
    )
    .await;
    h.refuses(
        V2_0,
        signature_verify("verify-off"),
        ResultReason::IncompatibleCryptographicUsageMask,
    )
    .await;
    for (key, format) in [
        ("ec-public", KeyFormatType::Pkcs1),
        ("ec-public", KeyFormatType::TransparentRsaPublicKey),
        ("rsa", KeyFormatType::TransparentEcPrivateKey),
        ("rsa", KeyFormatType::X509),
    ] {
        h.refuses(
            V2_0,
            in_format(key, format),
            ResultReason::KeyFormatTypeNotSupported,
        )
        .await;
    }
    // A key pair's half is not re-keyed as a symmetric key is.
    let rekey = RekeyRequest {
        unique_identifier: id("ec"),
        offset: None,
        attributes: Vec::new(),
    };
    h.refuses(V2_0, rekey, ResultReason::InvalidObjectType)
        .await;

    // Streaming: a Sign with an Init Indicator (which the model does not carry) is refused.
    let mut payload = RequestPayload::from(sign("ec", None)).to_item(V2_0);
    let Value::Structure(fields) = &mut payload.value else {
        panic!()
    };
    fields.push(Item {
        tag: Tag(0x42_00D7),
        value: Value::Boolean(true),
    });
    let item = RequestBatchItem {
        operation: Operation::Sign,
        ephemeral: None,
        unique_batch_item_id: None,
        payload: RequestPayload::Other(payload),
        message_extension: None,
    };
    let answer = h
        .batch("app-a", RequestHeader::new(V2_0), vec![item])
        .await
        .remove(0);
    assert_eq!(
        answer.result_status,
        ResultStatus::OperationFailed,
        "{answer:?}"
    );
    assert_ne!(
        answer.result_reason,
        Some(ResultReason::GeneralFailure),
        "{answer:?}"
    );
}

/// A Register of app-a's public or private key (`object_type`), `der` in `format`.
fn register_key(
    object_type: ObjectType,
    format: KeyFormatType,
    der: &[u8],
    attributes: Vec<Attribute>,
) -> RegisterRequest {
    let key_block = KeyBlock {
        key_format_type: format,
        key_compression_type: None,
        key_material: KeyMaterial::Bytes(SecretBytes::new(der.to_vec())),
        cryptographic_algorithm: None,
        cryptographic_length: None,
        key_wrapping_data: None,
    };
    let object = if object_type == ObjectType::PrivateKey {
        ManagedObject::PrivateKey(PrivateKey { key_block })
    } else {
        ManagedObject::PublicKey(PublicKey { key_block })
    };
    RegisterRequest { attributes, object }
}

fn register_certificate(der: Vec<u8>, attributes: Vec<Attribute>) -> RegisterRequest {
    RegisterRequest {
        attributes,
        object: ManagedObject::Certificate(Certificate {
            certificate_type: CertificateType::X509,
            certificate_value: der,
        }),
    }
}

/// A DER X.509 certificate from a test CA.
fn test_certificate() -> Vec<u8> {
    let ca = krypton_dev::pki::Ca::new("Krypton register test CA").unwrap();
    let params =
        krypton_dev::pki::client_params(&krypton_dev::pki::Subject::common_name("db-01")).unwrap();
    ca.sign(&params).unwrap().0.der().to_vec()
}

/// The first item tagged `tag` in `item`, depth first.
fn find_item(item: &mut Item, tag: Tag) -> Option<&mut Item> {
    if item.tag == tag {
        return Some(item);
    }
    let Value::Structure(children) = &mut item.value else {
        return None;
    };
    children.iter_mut().find_map(|child| find_item(child, tag))
}

/// Register of public keys, private keys and certificates decides everything at the gateway
/// before the core is asked to wrap: a format the object type is not registered in, material
/// that is not a key of a kind the gateway uses (or not in the format announced), an algorithm
/// or length that is not the key's, a certificate that does not parse, attributes the gateway
/// sets. What passes fails closed with the core down, in 1.x and 2.x, and leaves nothing.
#[tokio::test]
async fn register_refuses_keys_and_certificates_it_cannot_use_and_leaves_nothing_when_it_fails() {
    use KeyFormatType as F;
    use ObjectType::{PrivateKey as Private, PublicKey as Public};
    let h = harness(&[]).await;
    let p256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let pkcs8 = p256.to_pkcs8v1().unwrap().as_ref().to_vec();
    let sec1 = AsDer::<EcPrivateKeyRfc5915Der<'_>>::as_der(&p256.private_key())
        .unwrap()
        .as_ref()
        .to_vec();
    let spki = AsDer::<PublicKeyX509Der<'_>>::as_der(p256.public_key())
        .unwrap()
        .as_ref()
        .to_vec();
    let rsa = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).unwrap();
    let rsa_pkcs1_public = rsa.public_key().as_ref().to_vec();
    let p521 = EcdsaKeyPair::generate(&ECDSA_P521_SHA512_ASN1_SIGNING)
        .unwrap()
        .to_pkcs8v1()
        .unwrap()
        .as_ref()
        .to_vec();
    let certificate = test_certificate();
    let named = |name: &str| vec![Attribute::Name(Name::text(name))];

    for version in [ProtocolVersion::V1_2, V1_4, V2_0] {
        for request in [
            register_key(Private, F::Pkcs8, &pkcs8, named("signer")),
            register_key(Private, F::EcPrivateKey, &sec1, ecdsa_p256()),
            register_key(Public, F::X509, &spki, Vec::new()),
            register_key(Public, F::Pkcs1, &rsa_pkcs1_public, Vec::new()),
            register_certificate(certificate.clone(), named("db-01")),
        ] {
            failed_closed(&h.ask(version, request).await);
        }
    }
    let located = h.stored().await;
    assert!(located.is_empty(), "nothing stored: {located:?}");

    let rsa_2048 = vec![
        Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Rsa),
        Attribute::CryptographicLength(2048),
    ];
    let p384 = vec![
        Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Ec),
        Attribute::CryptographicLength(384),
    ];
    let mut trailing = certificate.clone();
    trailing.push(0);
    for (request, reason) in [
        (
            register_key(Private, F::X509, &pkcs8, Vec::new()),
            ResultReason::KeyFormatTypeNotSupported,
        ),
        (
            register_key(Public, F::Pkcs8, &spki, Vec::new()),
            ResultReason::KeyFormatTypeNotSupported,
        ),
        (
            register_key(Private, F::Pkcs8, b"not a key", Vec::new()),
            ResultReason::InvalidField,
        ),
        // PKCS#1 announced as X.509, a bare EC point announced as X.509, SEC1 as PKCS#8.
        (
            register_key(Public, F::X509, &rsa_pkcs1_public, Vec::new()),
            ResultReason::InvalidField,
        ),
        (
            register_key(Public, F::X509, &spki[spki.len() - 65..], Vec::new()),
            ResultReason::InvalidField,
        ),
        (
            register_key(Private, F::Pkcs8, &sec1, Vec::new()),
            ResultReason::InvalidField,
        ),
        // A key of a kind the gateway does not use.
        (
            register_key(Private, F::Pkcs8, &p521, Vec::new()),
            ResultReason::InvalidField,
        ),
        // An algorithm or length that is not the key's.
        (
            register_key(Private, F::Pkcs8, &pkcs8, rsa_2048),
            ResultReason::InvalidField,
        ),
        (
            register_key(Private, F::Pkcs8, &pkcs8, p384),
            ResultReason::InvalidField,
        ),
        (
            register_key(
                Public,
                F::X509,
                &spki,
                vec![Attribute::State(State::Active)],
            ),
            ResultReason::ReadOnlyAttribute,
        ),
        (
            register_key(Private, F::Pkcs8, &[0x30; 4097], Vec::new()),
            ResultReason::InvalidField,
        ),
        (
            register_certificate(b"not a certificate".to_vec(), Vec::new()),
            ResultReason::InvalidField,
        ),
        (
            register_certificate(trailing, Vec::new()),
            ResultReason::InvalidField,
        ),
        (
            register_certificate(vec![0x30; 64 * 1024 + 1], Vec::new()),
            ResultReason::InvalidField,
        ),
        (
            register_certificate(
                certificate.clone(),
                vec![Attribute::CryptographicAlgorithm(
                    CryptographicAlgorithm::Rsa,
                )],
            ),
            ResultReason::InvalidField,
        ),
        (
            register_certificate(certificate.clone(), vec![Attribute::CertificateLength(1)]),
            ResultReason::ReadOnlyAttribute,
        ),
    ] {
        h.refuses(V2_0, request, reason).await;
    }

    // Wrapped material naming no wrapping key, and the Transparent DSA structures, are
    // refused with the reasons KMIP gives them, as the one failed item of an answer in the
    // request's version.
    let wrapped = |item: &mut Item| {
        let Value::Structure(fields) = &mut find_item(item, Tag::KEY_BLOCK).unwrap().value else {
            panic!()
        };
        fields.push(Item {
            tag: Tag::KEY_WRAPPING_DATA,
            value: Value::Structure(vec![Item {
                tag: Tag::WRAPPING_METHOD,
                value: Value::Enumeration(1),
            }]),
        });
    };
    let transparent = |item: &mut Item| {
        // Transparent DSA Private Key.
        find_item(item, Tag::KEY_FORMAT_TYPE).unwrap().value = Value::Enumeration(0x08);
    };
    for (edit, reason) in [
        (&wrapped as &dyn Fn(&mut Item), ResultReason::MissingData),
        (&transparent, ResultReason::KeyFormatTypeNotSupported),
    ] {
        for version in [ProtocolVersion::V1_2, V2_0] {
            let mut request = RequestMessage {
                header: RequestHeader::new(version),
                batch_items: vec![RequestBatchItem::new(register_key(
                    Private,
                    F::Pkcs8,
                    &pkcs8,
                    Vec::new(),
                ))],
            }
            .to_item();
            edit(&mut request);
            let response = h.gateway.answer("app-a", request).await;
            let response = ResponseMessage::from_item(&response).unwrap();
            assert_eq!(response.header.protocol_version, version);
            refused(&response.batch_items[0], reason);
        }
    }
}

/// A Register of the symmetric `key` (Raw) of `algorithm`, with `attributes`.
fn register_symmetric(
    algorithm: CryptographicAlgorithm,
    key: &[u8],
    attributes: Vec<Attribute>,
) -> RegisterRequest {
    RegisterRequest {
        attributes,
        object: ManagedObject::SymmetricKey(kmip::SymmetricKey {
            key_block: KeyBlock::raw(algorithm, SecretBytes::new(key.to_vec())),
        }),
    }
}

/// A symmetric key is registered here, as a key the gateway makes: of an algorithm and length
/// it makes, stated consistently, uncompressed. With the core down a good one fails closed, and
/// no Register leaves anything in the vault.
#[tokio::test]
async fn register_of_a_symmetric_key_is_the_gateways_and_fails_closed() {
    use CryptographicAlgorithm::{Aes, Des};
    let h = harness(&[]).await;
    let compressed = {
        let mut request = register_symmetric(Aes, &[1; 32], Vec::new());
        if let ManagedObject::SymmetricKey(key) = &mut request.object {
            key.key_block.key_compression_type =
                Some(kmip::KeyCompressionType::EcPublicKeyTypeUncompressed);
        }
        request
    };
    for version in [ProtocolVersion::V1_2, V1_4, V2_0] {
        for (request, reason) in [
            // Single DES: weaker than anything Create makes.
            (
                register_symmetric(Des, &[1; 8], Vec::new()),
                ResultReason::InvalidField,
            ),
            // 20 bytes are no AES key.
            (
                register_symmetric(Aes, &[1; 20], Vec::new()),
                ResultReason::InvalidField,
            ),
            // A stated length that is not the key's.
            (
                register_symmetric(Aes, &[1; 32], vec![Attribute::CryptographicLength(128)]),
                ResultReason::InvalidField,
            ),
            (
                compressed.clone(),
                ResultReason::KeyCompressionTypeNotSupported,
            ),
        ] {
            refused(&h.ask(version, request).await, reason);
        }
        failed_closed(
            &h.ask(version, register_symmetric(Aes, &[1; 32], Vec::new()))
                .await,
        );
    }
    let stored = h.stored().await;
    assert!(stored.is_empty(), "{stored:?}");
}

/// app-a's AES-256 key `id` in `state`, allowed `usage`.
fn derivable(id: &str, state: State, usage: CryptographicUsageMask) -> Record {
    let mut record = app_a_key(id, state, &[]);
    record.metadata.usage_mask = Some(usage);
    record
}

/// Derive Key of an AES-`bits` key from `base` by HKDF-SHA-256 (KMIP's HMAC method).
fn derive_key(base: &str, bits: i32) -> DeriveKeyRequest {
    DeriveKeyRequest {
        object_type: ObjectType::SymmetricKey,
        unique_identifiers: vec![base.into()],
        derivation_method: DerivationMethod::Hmac,
        derivation_parameters: Box::new(derivation(HashingAlgorithm::Sha256)),
        attributes: vec![
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
            Attribute::CryptographicLength(bits),
        ],
    }
}

fn derivation(hash: HashingAlgorithm) -> DerivationParameters {
    DerivationParameters {
        cryptographic_parameters: Some(CryptographicParameters {
            hashing_algorithm: Some(hash),
            ..CryptographicParameters::default()
        }),
        derivation_data: Some(SecretBytes::new(b"context".to_vec())),
        ..DerivationParameters::default()
    }
}

/// Derive Key decides on the base key's type, state and usage mask, on the new key's
/// attributes and on the method and its parameters before the core unwraps anything; with the
/// core down it fails closed and stores nothing; and another identity learns nothing of the
/// base key.
#[tokio::test]
async fn derive_key_refuses_what_the_base_or_the_request_do_not_allow() {
    use CryptographicUsageMask as U;
    let h = harness(&[]).await;
    let vault = h.gateway.vault();
    for record in [
        derivable("base", State::Active, U::DERIVE_KEY),
        derivable("encrypt-only", State::Active, U::ENCRYPT),
        derivable("pre", State::PreActive, U::DERIVE_KEY),
        hmac_key("hmac", State::Active, U::DERIVE_KEY),
    ] {
        vault.create(record).await.unwrap();
    }
    for version in [ProtocolVersion::V1_2, V1_4, V2_0] {
        failed_closed(&h.ask(version, derive_key("base", 256)).await);
    }
    assert_eq!(
        h.stored().await,
        ["base", "encrypt-only", "hmac", "pre"],
        "nothing stored"
    );

    let with = |change: &dyn Fn(&mut DeriveKeyRequest)| {
        let mut request = derive_key("base", 256);
        change(&mut request);
        request
    };
    let pbkdf2 = |salt: Option<Vec<u8>>, iterations: i32| {
        with(&|request| {
            request.derivation_method = DerivationMethod::Pbkdf2;
            request.derivation_parameters.salt.clone_from(&salt);
            request.derivation_parameters.iteration_count = Some(iterations);
        })
    };
    let ctr = CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::Ctr),
        ..CryptographicParameters::default()
    };
    let cases = [
        (
            with(&|request| request.object_type = ObjectType::SecretData),
            ResultReason::InvalidObjectType,
        ),
        (
            with(&|request| request.unique_identifiers.push("base".into())),
            ResultReason::InvalidField,
        ),
        (
            derive_key("encrypt-only", 256),
            ResultReason::IncompatibleCryptographicUsageMask,
        ),
        (derive_key("pre", 256), ResultReason::WrongKeyLifecycleState),
        (derive_key("base", 100), ResultReason::InvalidField),
        (
            with(&|request| request.attributes.truncate(1)),
            ResultReason::InvalidField,
        ),
        (pbkdf2(None, 1000), ResultReason::InvalidField),
        (
            pbkdf2(Some(vec![7; 16]), 10_000_001),
            ResultReason::InvalidField,
        ),
        (pbkdf2(Some(vec![7; 16]), 0), ResultReason::InvalidField),
        (
            with(&|request| request.derivation_method = DerivationMethod::Nist800_108F),
            ResultReason::InvalidField,
        ),
        (
            with(&|request| *request.derivation_parameters = derivation(HashingAlgorithm::Md5)),
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            with(&|request| {
                request.derivation_method = DerivationMethod::Nist800_108C;
                request.derivation_parameters.derivation_data = None;
            }),
            ResultReason::InvalidField,
        ),
        (
            // SHA-256 makes 32 bytes: not a 1024-bit HMAC key.
            with(&|request| {
                request.derivation_method = DerivationMethod::Hash;
                request.derivation_parameters.derivation_data = None;
                request.attributes = vec![
                    Attribute::CryptographicAlgorithm(CryptographicAlgorithm::HmacSha256),
                    Attribute::CryptographicLength(1024),
                ];
            }),
            ResultReason::CryptographicFailure,
        ),
        (
            DeriveKeyRequest {
                derivation_method: DerivationMethod::Encrypt,
                derivation_parameters: Box::new(DerivationParameters {
                    cryptographic_parameters: Some(ctr.clone()),
                    initialization_vector: Some(vec![0; 16]),
                    ..derivation(HashingAlgorithm::Sha256)
                }),
                ..derive_key("hmac", 128)
            },
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            with(&|request| {
                request.derivation_method = DerivationMethod::Encrypt;
                request.derivation_parameters.cryptographic_parameters = Some(ctr.clone());
            }),
            ResultReason::InvalidField,
        ),
    ];
    for (request, reason) in cases {
        let answer = h.ask(V2_0, request.clone()).await;
        assert_eq!(
            answer.result_reason,
            Some(reason),
            "{request:?}: {answer:?}"
        );
    }

    // app-b is told of app-a's key what it is told of none.
    let mut header = RequestHeader::new(V1_4);
    header.batch_error_continuation_option = Some(BatchErrorContinuationOption::Continue);
    let on_existing = h
        .batch(
            "app-b",
            header.clone(),
            vec![RequestBatchItem::new(derive_key("base", 256))],
        )
        .await;
    let on_missing = h
        .batch(
            "app-b",
            header,
            vec![RequestBatchItem::new(derive_key("no-such-key", 256))],
        )
        .await;
    assert_eq!(on_existing[0].result_status, ResultStatus::OperationFailed);
    assert_eq!(
        (
            &on_existing[0].result_reason,
            &on_existing[0].result_message
        ),
        (&on_missing[0].result_reason, &on_missing[0].result_message),
    );
    assert_eq!(
        h.record("base").await.revision,
        1,
        "the base key is unchanged"
    );
}

/// The Key Wrapping Specification of a Get naming `wrapping` with `parameters`, Encoding
/// Option No Encoding.
fn wrapping(
    wrapping: &str,
    parameters: Option<CryptographicParameters>,
) -> KeyWrappingSpecification {
    KeyWrappingSpecification {
        wrapping_method: WrappingMethod::Encrypt,
        encryption_key_information: Some(EncryptionKeyInformation {
            unique_identifier: wrapping.into(),
            cryptographic_parameters: parameters.map(Box::new),
        }),
        mac_signature_key_information: None,
        attribute_names: Vec::new(),
        encoding_option: Some(EncodingOption::NoEncoding),
    }
}

fn get_wrapped(key: &str, spec: KeyWrappingSpecification) -> GetRequest {
    GetRequest {
        key_wrapping_specification: Some(spec),
        ..get(key)
    }
}

fn oaep(hash: HashingAlgorithm) -> CryptographicParameters {
    CryptographicParameters {
        padding_method: Some(PaddingMethod::Oaep),
        hashing_algorithm: Some(hash),
        ..CryptographicParameters::default()
    }
}

/// Register of an AES-256 key wrapped as `data` says.
fn register_wrapped(data: KeyWrappingData) -> RegisterRequest {
    RegisterRequest {
        attributes: Vec::new(),
        object: ManagedObject::SymmetricKey(kmip::SymmetricKey {
            key_block: KeyBlock {
                key_wrapping_data: Some(data),
                ..KeyBlock::raw(CryptographicAlgorithm::Aes, SecretBytes::new(vec![7; 40]))
            },
        }),
    }
}

fn wrapped_under(wrapping: &str, parameters: Option<CryptographicParameters>) -> KeyWrappingData {
    KeyWrappingData {
        wrapping_method: WrappingMethod::Encrypt,
        encryption_key_information: Some(EncryptionKeyInformation {
            unique_identifier: wrapping.into(),
            cryptographic_parameters: parameters.map(Box::new),
        }),
        mac_signature_key_information: None,
        mac_signature: None,
        iv_counter_nonce: None,
        encoding_option: Some(EncodingOption::NoEncoding),
    }
}

/// Get with a Key Wrapping Specification, RSA-OAEP Encrypt and Decrypt, and Register of wrapped
/// key material decide everything they can before the core unwraps a key: the wrapping
/// method, encoding and key (the caller's, its kind, state and usage mask), the parameters,
/// the half of the pair. What passes fails closed with the core down; the rest is refused with
/// the spec's reason, and nothing is stored.
#[tokio::test]
async fn key_wrapping_and_rsa_oaep_refuse_what_the_keys_or_the_parameters_do_not_allow() {
    use CryptographicAlgorithm as A;
    use CryptographicUsageMask as U;
    use ObjectType::{PrivateKey as Private, PublicKey as Public};
    let h = harness(&[("data", State::Active)]).await;
    let symmetric =
        |id, state, usage| half(id, ObjectType::SymmetricKey, A::Aes, 256, state, usage);
    let mut kek_192 = symmetric("kek-192", State::Active, U::WRAP_KEY);
    kek_192.metadata.length = Some(192);
    for record in [
        symmetric("kek", State::Active, U::WRAP_KEY | U::UNWRAP_KEY),
        symmetric("kek-pre", State::PreActive, U::WRAP_KEY),
        kek_192,
        half(
            "rsa-public",
            Public,
            A::Rsa,
            2048,
            State::Active,
            U::ENCRYPT | U::WRAP_KEY,
        ),
        half(
            "rsa-private",
            Private,
            A::Rsa,
            2048,
            State::Active,
            U::DECRYPT | U::UNWRAP_KEY,
        ),
        half("verifies", Public, A::Rsa, 2048, State::Active, U::VERIFY),
    ] {
        h.gateway.vault().create(record).await.unwrap();
    }
    let sha256 = oaep(HashingAlgorithm::Sha256);
    let kwp = CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::AesKeyWrapPadding),
        ..CryptographicParameters::default()
    };
    let rsa_encrypt = encrypt;

    // What passes every check reaches the core, which is down.
    for version in [V1_4, V2_0] {
        failed_closed(
            &h.ask(version, get_wrapped("data", wrapping("kek", None)))
                .await,
        );
    }
    failed_closed(
        &h.ask(V2_0, get_wrapped("data", wrapping("kek", Some(kwp))))
            .await,
    );
    failed_closed(
        &h.ask(
            V2_0,
            get_wrapped("data", wrapping("rsa-public", Some(sha256.clone()))),
        )
        .await,
    );
    failed_closed(
        &h.ask(V2_0, rsa_encrypt("rsa-public", Some(sha256.clone())))
            .await,
    );
    failed_closed(
        &h.ask(V2_0, decrypt("rsa-private", sha256.clone(), None))
            .await,
    );
    failed_closed(
        &h.ask(V2_0, register_wrapped(wrapped_under("kek", None)))
            .await,
    );
    failed_closed(
        &h.ask(
            V2_0,
            register_wrapped(wrapped_under("rsa-private", Some(sha256.clone()))),
        )
        .await,
    );

    let spec = |change: fn(&mut KeyWrappingSpecification)| {
        let mut spec = wrapping("kek", None);
        change(&mut spec);
        get_wrapped("data", spec)
    };
    let gcm = CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::Gcm),
        ..CryptographicParameters::default()
    };
    let mgf1_sha1 = CryptographicParameters {
        mask_generator_hashing_algorithm: Some(HashingAlgorithm::Sha1),
        ..sha256.clone()
    };
    let pkcs1 = CryptographicParameters {
        padding_method: Some(PaddingMethod::Pkcs1v15),
        ..sha256.clone()
    };
    let get_cases: Vec<(GetRequest, ResultReason)> = vec![
        (
            spec(|s| s.wrapping_method = WrappingMethod::MacSign),
            ResultReason::FeatureNotSupported,
        ),
        (
            spec(|s| s.attribute_names = vec!["Name".into()]),
            ResultReason::FeatureNotSupported,
        ),
        (
            spec(|s| s.encryption_key_information = None),
            ResultReason::MissingData,
        ),
        (
            get_wrapped("data", wrapping("nope", None)),
            ResultReason::WrappingObjectNotFound,
        ),
        (
            get_wrapped("data", wrapping("data", None)),
            ResultReason::IncompatibleCryptographicUsageMask,
        ),
        (
            get_wrapped("data", wrapping("kek-pre", None)),
            ResultReason::WrongKeyLifecycleState,
        ),
        (
            get_wrapped("data", wrapping("kek", Some(gcm))),
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            get_wrapped("data", wrapping("kek-192", None)),
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            get_wrapped("data", wrapping("rsa-public", None)),
            ResultReason::MissingData,
        ),
        (
            get_wrapped("data", wrapping("rsa-public", Some(mgf1_sha1.clone()))),
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            get_wrapped("data", wrapping("rsa-private", Some(sha256.clone()))),
            ResultReason::InvalidObjectType,
        ),
        (
            GetRequest {
                key_format_type: Some(KeyFormatType::TransparentSymmetricKey),
                ..get_wrapped("data", wrapping("kek", None))
            },
            ResultReason::KeyFormatTypeNotSupported,
        ),
    ];
    for (request, reason) in get_cases {
        refused(&h.ask(V2_0, request).await, reason);
    }
    // The TTLV encoding, named or not (KMIP's default), passes the checks, and wraps a
    // Transparent structure too.
    for encoding in [None, Some(EncodingOption::TtlvEncoding)] {
        let mut spec = wrapping("kek", None);
        spec.encoding_option = encoding;
        let request = GetRequest {
            key_format_type: Some(KeyFormatType::TransparentSymmetricKey),
            ..get_wrapped("data", spec)
        };
        failed_closed(&h.ask(V2_0, request).await);
    }
    // KMIP 1.x has no Wrapping Object Not Found: its clients are told Item Not Found.
    refused(
        &h.ask(V1_4, get_wrapped("data", wrapping("nope", None)))
            .await,
        ResultReason::ItemNotFound,
    );
    // Another identity's wrapping key is not found either.
    let items = h
        .batch(
            "app-b",
            RequestHeader::new(V2_0),
            vec![RequestBatchItem::new(register_wrapped(wrapped_under(
                "kek", None,
            )))],
        )
        .await;
    refused(&items[0], ResultReason::WrappingObjectNotFound);

    let encrypt_cases = [
        (rsa_encrypt("rsa-public", None), ResultReason::MissingData),
        (
            rsa_encrypt("rsa-public", Some(CryptographicParameters::default())),
            ResultReason::MissingData,
        ),
        (
            rsa_encrypt("rsa-public", Some(pkcs1)),
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            rsa_encrypt("rsa-public", Some(mgf1_sha1)),
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            rsa_encrypt("rsa-public", Some(oaep(HashingAlgorithm::Md5))),
            ResultReason::UnsupportedCryptographicParameters,
        ),
        (
            EncryptRequest {
                iv_counter_nonce: Some(vec![0; 16]),
                ..rsa_encrypt("rsa-public", Some(sha256.clone()))
            },
            ResultReason::InvalidField,
        ),
        (
            rsa_encrypt("rsa-private", Some(sha256.clone())),
            ResultReason::InvalidObjectType,
        ),
        (
            rsa_encrypt("verifies", Some(sha256.clone())),
            ResultReason::IncompatibleCryptographicUsageMask,
        ),
    ];
    for (request, reason) in encrypt_cases {
        refused(&h.ask(V2_0, request).await, reason);
    }
    refused(
        &h.ask(V2_0, decrypt("rsa-public", sha256.clone(), None))
            .await,
        ResultReason::InvalidObjectType,
    );

    let mac_signed = KeyWrappingData {
        mac_signature: Some(vec![0; 32]),
        ..wrapped_under("kek", None)
    };
    let with_iv = KeyWrappingData {
        iv_counter_nonce: Some(vec![0; 12]),
        ..wrapped_under("kek", None)
    };
    let register_cases = [
        (
            register_wrapped(wrapped_under("nope", None)),
            ResultReason::WrappingObjectNotFound,
        ),
        (
            register_wrapped(wrapped_under("data", None)),
            ResultReason::IncompatibleCryptographicUsageMask,
        ),
        (
            register_wrapped(mac_signed),
            ResultReason::FeatureNotSupported,
        ),
        (register_wrapped(with_iv), ResultReason::InvalidField),
        // A public key unwraps nothing; one not linked to its private key names none.
        (
            register_wrapped(wrapped_under("rsa-public", Some(sha256.clone()))),
            ResultReason::InvalidObjectType,
        ),
    ];
    for (request, reason) in register_cases {
        refused(&h.ask(V2_0, request).await, reason);
    }
    let mut public = register_key(Public, KeyFormatType::X509, &[0x30, 0], Vec::new());
    if let ManagedObject::PublicKey(key) = &mut public.object {
        key.key_block.key_wrapping_data = Some(wrapped_under("kek", None));
    }
    refused(
        &h.ask(V2_0, public).await,
        ResultReason::FeatureNotSupported,
    );
    let located = h.stored().await;
    assert_eq!(located.len(), 7, "nothing stored: {located:?}");
}
