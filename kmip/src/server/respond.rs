//! Reading a request and building its response: success and failure items, the answer to a
//! request that does not decode, and the response header, in one place.

use crate::datetime::DateTime;
use crate::enums::{Operation, ResultStatus};
use crate::message::{
    RequestBatchItem, RequestHeader, RequestMessage, ResponseBatchItem, ResponseHeader,
    ResponseMessage,
};
use crate::objects::Refusal;
use crate::operations::ResponsePayload;
use crate::ttlv::Item;
use crate::version::ProtocolVersion;

/// The request `request` holds, or the answer to send when it holds none: valid TTLV that is
/// not a request gets one failed item — *Invalid Message*, or the codec's reason — in the
/// protocol version the request claims if the server speaks it, else 1.0.
pub fn read(request: &Item) -> Result<RequestMessage, Item> {
    RequestMessage::from_item(request).map_err(|error| {
        tracing::info!(%error, "malformed KMIP request");
        let version = RequestMessage::protocol_version_of(request)
            .filter(|version| version.is_supported())
            .unwrap_or(ProtocolVersion::V1_0);
        ResponseMessage::failure(version, error.result_reason(), error.to_string()).to_item()
    })
}

/// The answer refusing every item of `message` for one reason: the requester may not ask.
#[must_use]
pub fn refuse(message: &RequestMessage, refusal: &Refusal) -> Item {
    respond(&message.header, refuse_items(&message.batch_items, refusal))
}

/// Every one of `items` refused for the same reason.
pub(super) fn refuse_items(
    items: &[RequestBatchItem],
    refusal: &Refusal,
) -> Vec<ResponseBatchItem> {
    items
        .iter()
        .map(|item| {
            result_item(
                item.operation,
                item.unique_batch_item_id.clone(),
                Err(refusal.clone()),
            )
        })
        .collect()
}

/// The Response Message of `items` to the request headed by `header`: in its version, stamped
/// now, its Client Correlation Value echoed.
pub(super) fn respond(header: &RequestHeader, items: Vec<ResponseBatchItem>) -> Item {
    let mut response_header = ResponseHeader::new(header.protocol_version, DateTime::now());
    response_header
        .client_correlation_value
        .clone_from(&header.client_correlation_value);
    ResponseMessage {
        header: response_header,
        batch_items: items,
    }
    .to_item()
}

/// The response item answering `operation` (the request item's, echoed even if KMIP does not
/// define it) with `answer`, under the request item's Unique Batch Item ID.
pub(super) fn result_item(
    operation: Operation,
    unique_batch_item_id: Option<Vec<u8>>,
    answer: Result<ResponsePayload, Refusal>,
) -> ResponseBatchItem {
    let item = match answer {
        Ok(payload) => ResponseBatchItem {
            operation: Some(operation),
            unique_batch_item_id: None,
            result_status: ResultStatus::Success,
            result_reason: None,
            result_message: None,
            asynchronous_correlation_value: None,
            payload: Some(payload),
            message_extension: None,
        },
        Err(refusal) => refusal.into_item(Some(operation)),
    };
    ResponseBatchItem {
        unique_batch_item_id,
        ..item
    }
}

/// Withdraws a successful answer: the item is reported *Operation Undone*, without its payload.
pub(super) fn undone(item: &mut ResponseBatchItem) {
    item.result_status = ResultStatus::OperationUndone;
    item.payload = None;
    item.result_message = Some(
        "undone: a later item of the batch failed under Batch Error Continuation Option Undo"
            .into(),
    );
}
