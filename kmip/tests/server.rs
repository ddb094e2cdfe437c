//! The server skeleton (`kmip::server`) around a stand-in daemon: batches under Stop, Continue
//! and Undo, the ID Placeholder, operations not offered (codes KMIP does not define among
//! them), Query Functions, Discover Versions, and the answers built for a request that does not
//! decode or is refused whole. Requests and responses go through the codec's bytes.
#![allow(clippy::unwrap_used)]

mod items;
mod requests;

use std::sync::Mutex;

use items::{batch_item, enumeration, request_item, structure};
use kmip::objects::Refusal;
use kmip::server::{self, Dispatch, Effect, Offered, Server};
use kmip::{
    ActivateRequest, ActivateResponse, BatchErrorContinuationOption, CheckRequest, CheckResponse,
    CreateRequest, CreateResponse, DiscoverVersionsRequest, Item, KmipEnum, Limits, LocateRequest,
    LocateResponse, ObjectType, Operation, ProtocolVersion, QueryFunction, QueryRequest,
    QueryResponse, RequestBatchItem, RequestHeader, RequestMessage, RequestPayload,
    ResponseBatchItem, ResponseMessage, ResponsePayload, ResultReason, ResultStatus, Tag,
    UnassignedCode, UniqueIdentifier,
};

/// A stand-in daemon's offer: Create and Activate change state, Check, Locate and the
/// protocol's own operations only read.
static SERVER: Server = Server::new(
    &[
        Offered::reads(Operation::DiscoverVersions),
        Offered::reads(Operation::Query),
        Offered::changes(Operation::Create),
        Offered::changes(Operation::Activate),
        Offered::reads(Operation::Check),
        Offered::reads(Operation::Locate),
    ],
    &[ObjectType::SymmetricKey],
    "Test server",
);

/// The object the stand-in daemon never has.
const MISSING: &str = "missing";

/// The stand-in daemon: Create makes `k<n>` (n counting the items it was asked), Activate and
/// Check succeed on any object but [`MISSING`] (*Item Not Found*), Locate finds as many
/// objects as its Maximum Items (`found1`, `found2`…). It records what it was asked
/// and the ID Placeholder it was given.
#[derive(Debug, Default)]
struct Daemon {
    asked: Mutex<Vec<(Operation, Option<String>)>>,
}

impl Daemon {
    fn asked(&self) -> Vec<(Operation, Option<String>)> {
        self.asked.lock().unwrap().clone()
    }
}

impl Dispatch for Daemon {
    async fn answer(
        &self,
        _header: &RequestHeader,
        item: RequestBatchItem,
        placeholder: Option<&str>,
    ) -> Result<ResponsePayload, Refusal> {
        let count = {
            let mut asked = self.asked.lock().unwrap();
            asked.push((item.operation, placeholder.map(str::to_owned)));
            asked.len()
        };
        let object = |named: Option<UniqueIdentifier>| {
            let id = named
                .as_ref()
                .and_then(UniqueIdentifier::as_text)
                .or(placeholder)
                .unwrap_or_default()
                .to_owned();
            if id == MISSING {
                Err(Refusal::not_found(&id))
            } else {
                Ok(id)
            }
        };
        match item.payload {
            RequestPayload::Create(_) => Ok(CreateResponse {
                object_type: ObjectType::SymmetricKey,
                unique_identifier: format!("k{count}"),
                attributes: Vec::new(),
            }
            .into()),
            RequestPayload::Activate(request) => object(request.unique_identifier).map(|id| {
                ActivateResponse {
                    unique_identifier: id,
                }
                .into()
            }),
            RequestPayload::Check(request) => object(request.unique_identifier).map(|id| {
                CheckResponse {
                    unique_identifier: id,
                    usage_limits_count: None,
                    cryptographic_usage_mask: None,
                    lease_time: None,
                }
                .into()
            }),
            RequestPayload::Locate(request) => Ok(LocateResponse {
                located_items: None,
                unique_identifiers: (1..=request.maximum_items.unwrap_or_default())
                    .map(|n| format!("found{n}"))
                    .collect(),
            }
            .into()),
            other => panic!("the skeleton dispatched {other:?}"),
        }
    }
}

/// Encodes `item` to bytes and decodes it again.
fn through_wire(item: &Item) -> Item {
    let mut bytes = Vec::new();
    kmip::encode(item, &mut bytes).unwrap();
    kmip::decode(&bytes, &Limits::default()).unwrap()
}

/// `message` answered by [`SERVER`] and `daemon`, through the wire both ways.
async fn answer(daemon: &Daemon, message: &RequestMessage) -> ResponseMessage {
    let request = server::read(&through_wire(&message.to_item())).unwrap();
    let response = SERVER.answer(request, daemon).await;
    ResponseMessage::from_item(&through_wire(&response)).unwrap()
}

/// The answers to `items` sent at KMIP 1.4 under `option`.
async fn batch(
    daemon: &Daemon,
    option: Option<BatchErrorContinuationOption>,
    items: Vec<RequestBatchItem>,
) -> Vec<ResponseBatchItem> {
    let mut header = RequestHeader::new(ProtocolVersion::V1_4);
    header.batch_error_continuation_option = option;
    let message = RequestMessage {
        header,
        batch_items: items,
    };
    answer(daemon, &message).await.batch_items
}

fn check(id: &str) -> RequestBatchItem {
    RequestBatchItem::new(CheckRequest {
        unique_identifier: Some(id.into()),
        ..CheckRequest::default()
    })
    .with_id(id)
}

fn activate(id: &str) -> RequestBatchItem {
    RequestBatchItem::new(ActivateRequest {
        unique_identifier: Some(id.into()),
    })
    .with_id(id)
}

fn query(functions: &[QueryFunction]) -> QueryRequest {
    QueryRequest {
        query_functions: functions.to_vec(),
    }
}

fn statuses(answers: &[ResponseBatchItem]) -> Vec<ResultStatus> {
    answers.iter().map(|answer| answer.result_status).collect()
}

fn reason(answer: &ResponseBatchItem) -> ResultReason {
    assert_eq!(
        answer.result_status,
        ResultStatus::OperationFailed,
        "{answer:?}"
    );
    answer.result_reason.unwrap()
}

/// The Query payload of a successful answer.
fn offer(answer: &ResponseBatchItem) -> &QueryResponse {
    match &answer.payload {
        Some(ResponsePayload::Query(response)) => response,
        _ => panic!("{answer:?}"),
    }
}

#[tokio::test]
async fn stop_the_default_ends_the_batch_at_the_first_failure() {
    for option in [None, Some(BatchErrorContinuationOption::Stop)] {
        let daemon = Daemon::default();
        let answers = batch(
            &daemon,
            option,
            vec![check("a"), check(MISSING), check("c")],
        )
        .await;
        assert_eq!(
            statuses(&answers),
            [ResultStatus::Success, ResultStatus::OperationFailed],
            "{option:?}"
        );
        assert_eq!(reason(&answers[1]), ResultReason::ItemNotFound);
        assert_eq!(
            answers[1].unique_batch_item_id.as_deref(),
            Some(&b"missing"[..])
        );
        assert_eq!(daemon.asked().len(), 2, "the third item never ran");
    }
}

#[tokio::test]
async fn continue_runs_every_item() {
    let daemon = Daemon::default();
    let answers = batch(
        &daemon,
        Some(BatchErrorContinuationOption::Continue),
        vec![activate(MISSING), activate("b"), check(MISSING), check("d")],
    )
    .await;
    assert_eq!(
        statuses(&answers),
        [
            ResultStatus::OperationFailed,
            ResultStatus::Success,
            ResultStatus::OperationFailed,
            ResultStatus::Success,
        ]
    );
    let ids: Vec<_> = answers
        .iter()
        .map(|answer| answer.unique_batch_item_id.clone().unwrap())
        .collect();
    assert_eq!(ids, [&b"missing"[..], b"b", b"missing", b"d"]);
    assert_eq!(daemon.asked().len(), 4);
}

#[tokio::test]
async fn undo_withdraws_the_answers_before_a_failure_in_a_batch_that_changes_nothing() {
    let daemon = Daemon::default();
    let answers = batch(
        &daemon,
        Some(BatchErrorContinuationOption::Undo),
        vec![
            check("a"),
            RequestBatchItem::new(query(&[QueryFunction::QueryOperations])).with_id(*b"q"),
            check(MISSING),
            check("d"),
        ],
    )
    .await;
    assert_eq!(
        statuses(&answers),
        [
            ResultStatus::OperationUndone,
            ResultStatus::OperationUndone,
            ResultStatus::OperationFailed,
        ]
    );
    for undone in &answers[..2] {
        assert_eq!(undone.payload, None, "an undone item has no result");
        assert_eq!(undone.result_reason, None);
        assert!(undone.result_message.as_deref().unwrap().contains("Undo"));
    }
    assert_eq!(answers[0].operation, Some(Operation::Check));
    assert_eq!(answers[1].unique_batch_item_id.as_deref(), Some(&b"q"[..]));
    assert_eq!(reason(&answers[2]), ResultReason::ItemNotFound);
    assert_eq!(
        daemon.asked().len(),
        2,
        "Query is the skeleton's; the last item never ran"
    );

    // Without a failure, every item keeps its answer.
    let answers = batch(
        &daemon,
        Some(BatchErrorContinuationOption::Undo),
        vec![check("a"), check("b")],
    )
    .await;
    assert_eq!(statuses(&answers), [ResultStatus::Success; 2]);
    assert!(answers.iter().all(|answer| answer.payload.is_some()));
}

#[tokio::test]
async fn undo_of_a_batch_that_may_change_state_is_refused_whole_before_anything_runs() {
    let daemon = Daemon::default();
    let answers = batch(
        &daemon,
        Some(BatchErrorContinuationOption::Undo),
        vec![check("a"), activate("b"), check(MISSING)],
    )
    .await;
    assert_eq!(answers.len(), 3);
    for (answer, id) in answers.iter().zip([&b"a"[..], b"b", b"missing"]) {
        assert_eq!(reason(answer), ResultReason::FeatureNotSupported);
        assert_eq!(answer.unique_batch_item_id.as_deref(), Some(id));
        let message = answer.result_message.as_deref().unwrap();
        assert!(message.contains("Activate"), "{message}");
    }
    assert_eq!(answers[1].operation, Some(Operation::Activate));
    assert!(daemon.asked().is_empty());

    // One item has nothing before it to undo: it runs.
    let answers = batch(
        &daemon,
        Some(BatchErrorContinuationOption::Undo),
        vec![activate(MISSING)],
    )
    .await;
    assert_eq!(reason(&answers[0]), ResultReason::ItemNotFound);
    assert_eq!(daemon.asked(), [(Operation::Activate, None)]);
}

#[tokio::test]
async fn under_undo_an_operation_not_offered_changes_nothing_and_fails_its_item() {
    let daemon = Daemon::default();
    let mut message = RequestMessage::from_item(&request_item(
        (1, 4),
        vec![
            batch_item(Operation::Check.to_u32(), vec![]),
            batch_item(0x0000_00FF, vec![]),
        ],
    ))
    .unwrap();
    message.header.batch_error_continuation_option = Some(BatchErrorContinuationOption::Undo);
    let answers = answer(&daemon, &message).await.batch_items;
    assert_eq!(
        statuses(&answers),
        [ResultStatus::OperationUndone, ResultStatus::OperationFailed]
    );
    assert_eq!(reason(&answers[1]), ResultReason::OperationNotSupported);
}

#[tokio::test]
async fn operations_not_offered_are_refused_item_by_item_with_their_code_echoed() {
    let codes = [
        0x0000_00FF,                       // not a KMIP operation
        0x00AB_CDEF,                       // nor this
        0x8000_0042,                       // a vendor extension
        Operation::Certify.to_u32(),       // KMIP's, not offered
        Operation::GetAttributes.to_u32(), // KMIP's, typed, not offered
    ];
    let mut items: Vec<Item> = codes.iter().map(|&code| batch_item(code, vec![])).collect();
    items.push(batch_item(
        Operation::Query.to_u32(),
        vec![enumeration(Tag::QUERY_FUNCTION, 1)],
    ));
    let mut message = RequestMessage::from_item(&request_item((1, 4), items)).unwrap();
    assert_eq!(
        message.batch_items[0].operation,
        Operation::Unassigned(UnassignedCode::new(0xFF).unwrap())
    );
    message.header.batch_error_continuation_option = Some(BatchErrorContinuationOption::Continue);
    let daemon = Daemon::default();
    let answers = answer(&daemon, &message).await.batch_items;
    assert_eq!(answers.len(), codes.len() + 1);
    for (answer, code) in answers.iter().zip(codes) {
        assert_eq!(reason(answer), ResultReason::OperationNotSupported);
        assert_eq!(answer.operation.map(Operation::to_u32), Some(code));
    }
    let message = answers[0].result_message.as_deref().unwrap();
    assert!(message.contains("0x000000FF"), "{message}");
    let message = answers[3].result_message.as_deref().unwrap();
    assert!(
        message.contains("Test server does not offer Certify"),
        "{message}"
    );
    assert_eq!(answers[codes.len()].result_status, ResultStatus::Success);
    assert!(
        daemon.asked().is_empty(),
        "nothing unoffered reaches the daemon"
    );
}

#[tokio::test]
async fn every_typed_operation_the_table_does_not_list_is_refused_before_the_daemon() {
    let refused: Vec<RequestBatchItem> = Operation::ALL
        .iter()
        .filter(|&&operation| SERVER.effect(operation).is_none())
        .filter_map(|&operation| requests::request(operation, "a"))
        .map(|payload| RequestBatchItem {
            operation: payload.operation().unwrap(),
            ephemeral: None,
            unique_batch_item_id: None,
            payload,
            message_extension: None,
        })
        .collect();
    assert!(refused.len() > 10, "{refused:?}");
    let daemon = Daemon::default();
    // At 2.1, which defines every one of them.
    let mut header = RequestHeader::new(ProtocolVersion::V2_1);
    header.batch_error_continuation_option = Some(BatchErrorContinuationOption::Continue);
    let message = RequestMessage {
        header,
        batch_items: refused.clone(),
    };
    let answers = answer(&daemon, &message).await.batch_items;
    assert_eq!(answers.len(), refused.len());
    for (answer, item) in answers.iter().zip(&refused) {
        assert_eq!(reason(answer), ResultReason::OperationNotSupported);
        assert_eq!(answer.operation, Some(item.operation));
    }
    assert!(daemon.asked().is_empty());
}

/// KMIP 1.4 §4.9: a Locate that finds one object makes it the ID Placeholder (so that a Get
/// batched after it reads it); one that finds several empties it.
#[tokio::test]
async fn a_locate_sets_the_id_placeholder_to_the_one_object_it_finds() {
    let daemon = Daemon::default();
    let locate = |maximum_items| {
        RequestBatchItem::new(LocateRequest {
            maximum_items: Some(maximum_items),
            ..LocateRequest::default()
        })
    };
    let check = || RequestBatchItem::new(CheckRequest::default());
    let answers = batch(
        &daemon,
        None,
        vec![
            RequestBatchItem::new(CreateRequest {
                object_type: ObjectType::SymmetricKey,
                attributes: Vec::new(),
            }),
            locate(1),
            check(),
            locate(2),
            check(),
        ],
    )
    .await;
    assert_eq!(statuses(&answers), [ResultStatus::Success; 5]);
    let placeholders = placeholders_seen(&daemon);
    assert_eq!(
        placeholders,
        [
            None,
            Some("k1".to_owned()),
            Some("found1".to_owned()),
            Some("found1".to_owned()),
            None,
        ]
    );
}

#[tokio::test]
async fn the_id_placeholder_is_the_last_created_object() {
    let daemon = Daemon::default();
    let create = || {
        RequestBatchItem::new(CreateRequest {
            object_type: ObjectType::SymmetricKey,
            attributes: Vec::new(),
        })
    };
    let answers = batch(
        &daemon,
        None,
        vec![
            RequestBatchItem::new(ActivateRequest::default()),
            create(),
            RequestBatchItem::new(ActivateRequest::default()),
            create(),
            RequestBatchItem::new(ActivateRequest::default()),
        ],
    )
    .await;
    assert_eq!(statuses(&answers), [ResultStatus::Success; 5]);
    let placeholders = placeholders_seen(&daemon);
    assert_eq!(
        placeholders,
        [
            None,
            None,
            Some("k2".to_owned()),
            Some("k2".to_owned()),
            Some("k4".to_owned()),
        ]
    );
    let Some(ResponsePayload::Activate(activated)) = &answers[4].payload else {
        panic!("{:?}", answers[4])
    };
    assert_eq!(activated.unique_identifier, "k4");
}

#[tokio::test]
async fn query_answers_only_the_functions_asked() {
    let daemon = Daemon::default();
    let ask = |functions: &[QueryFunction]| RequestBatchItem::new(query(functions));
    let answers = batch(
        &daemon,
        Some(BatchErrorContinuationOption::Continue),
        vec![
            ask(&[QueryFunction::QueryOperations]),
            ask(&[QueryFunction::QueryObjects]),
            ask(&[QueryFunction::QueryServerInformation]),
            ask(&[
                QueryFunction::QueryProfiles,
                QueryFunction::QueryExtensionList,
                QueryFunction::QueryApplicationNamespaces,
            ]),
            ask(&[]),
        ],
    )
    .await;
    let operations: Vec<_> = SERVER.operations().collect();
    assert_eq!(
        offer(&answers[0]),
        &QueryResponse {
            operations,
            ..QueryResponse::default()
        }
    );
    assert_eq!(
        offer(&answers[1]),
        &QueryResponse {
            object_types: vec![ObjectType::SymmetricKey],
            ..QueryResponse::default()
        }
    );
    assert_eq!(
        offer(&answers[2]),
        &QueryResponse {
            vendor_identification: Some("Test server".into()),
            ..QueryResponse::default()
        }
    );
    assert_eq!(offer(&answers[3]), &QueryResponse::default());
    assert_eq!(reason(&answers[4]), ResultReason::MissingData);
    assert!(daemon.asked().is_empty());

    // A KMIP 1.0 client is not offered Discover Versions (KMIP 1.1), which it could not decode.
    let message = RequestMessage {
        header: RequestHeader::new(ProtocolVersion::V1_0),
        batch_items: vec![ask(&[QueryFunction::QueryOperations])],
    };
    let response = answer(&daemon, &message).await;
    let listed = &offer(&response.batch_items[0]).operations;
    assert!(listed.contains(&Operation::Create));
    assert!(!listed.contains(&Operation::DiscoverVersions));
}

#[tokio::test]
async fn discover_versions_lists_the_common_versions_newest_first() {
    let daemon = Daemon::default();
    let answers = batch(
        &daemon,
        None,
        vec![
            RequestBatchItem::new(DiscoverVersionsRequest::default()),
            RequestBatchItem::new(DiscoverVersionsRequest {
                protocol_versions: vec![
                    ProtocolVersion::V1_2,
                    ProtocolVersion::new(3, 0),
                    ProtocolVersion::V2_0,
                ],
            }),
        ],
    )
    .await;
    let versions = |answer: &ResponseBatchItem| match &answer.payload {
        Some(ResponsePayload::DiscoverVersions(response)) => response.protocol_versions.clone(),
        _ => panic!("{answer:?}"),
    };
    assert_eq!(versions(&answers[0]), ProtocolVersion::SUPPORTED);
    assert_eq!(
        versions(&answers[1]),
        [ProtocolVersion::V2_0, ProtocolVersion::V1_2]
    );
}

#[tokio::test]
async fn the_response_is_in_the_requests_version_with_its_correlation_value() {
    let daemon = Daemon::default();
    for version in ProtocolVersion::SUPPORTED {
        let mut header = RequestHeader::new(version);
        header.client_correlation_value = Some("trace-7".into());
        let message = RequestMessage {
            header,
            batch_items: vec![check("a")],
        };
        let response = answer(&daemon, &message).await;
        assert_eq!(response.header.protocol_version, version);
        let echoed = (version >= ProtocolVersion::V1_4).then(|| "trace-7".to_owned());
        assert_eq!(
            response.header.client_correlation_value, echoed,
            "{version:?}"
        );
        assert_eq!(response.batch_items[0].result_status, ResultStatus::Success);
    }
}

#[test]
fn a_request_that_does_not_decode_is_answered_in_the_version_it_claims() {
    // A 1.2 header without its Batch Count.
    let request = structure(
        Tag::REQUEST_MESSAGE,
        vec![
            structure(Tag::REQUEST_HEADER, vec![items::version(1, 2)]),
            batch_item(Operation::Query.to_u32(), vec![]),
        ],
    );
    let answer = server::read(&request).unwrap_err();
    let response = ResponseMessage::from_item(&through_wire(&answer)).unwrap();
    assert_eq!(response.header.protocol_version, ProtocolVersion::V1_2);
    let [item] = response.batch_items.as_slice() else {
        panic!("{response:?}")
    };
    assert_eq!(reason(item), ResultReason::InvalidMessage);
    assert_eq!(item.operation, None);

    // A version the server does not speak: answered in 1.0.
    let request = request_item((3, 0), vec![batch_item(Operation::Query.to_u32(), vec![])]);
    let response = ResponseMessage::from_item(&server::read(&request).unwrap_err()).unwrap();
    assert_eq!(response.header.protocol_version, ProtocolVersion::V1_0);
}

#[test]
fn a_refused_requester_gets_every_item_refused() {
    let mut header = RequestHeader::new(ProtocolVersion::V2_0);
    header.client_correlation_value = Some("c".into());
    let message = RequestMessage {
        header,
        batch_items: vec![check("a"), activate("b")],
    };
    let refusal = Refusal::new(ResultReason::PermissionDenied, "not listed");
    let response = ResponseMessage::from_item(&server::refuse(&message, &refusal)).unwrap();
    assert_eq!(
        response.header.client_correlation_value.as_deref(),
        Some("c")
    );
    assert_eq!(response.batch_items.len(), 2);
    for (item, (operation, id)) in response
        .batch_items
        .iter()
        .zip([(Operation::Check, &b"a"[..]), (Operation::Activate, b"b")])
    {
        assert_eq!(reason(item), ResultReason::PermissionDenied);
        assert_eq!(item.result_message.as_deref(), Some("not listed"));
        assert_eq!(item.operation, Some(operation));
        assert_eq!(item.unique_batch_item_id.as_deref(), Some(id));
    }
}

#[test]
fn the_table_says_what_each_operation_may_do() {
    assert_eq!(SERVER.effect(Operation::Create), Some(Effect::Changes));
    assert_eq!(SERVER.effect(Operation::Check), Some(Effect::ReadsOnly));
    assert_eq!(SERVER.effect(Operation::Rekey), None);
}

/// The ID Placeholder each item the daemon was asked saw, in order.
fn placeholders_seen(daemon: &Daemon) -> Vec<Option<String>> {
    daemon
        .asked()
        .into_iter()
        .map(|(_, placeholder)| placeholder)
        .collect()
}
