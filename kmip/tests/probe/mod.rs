//! The smallest request every KMIP server of Krypton answers for anyone it serves — Query of
//! its operations, in KMIP 1.4 — and how it was answered: shared by the tests that watch who is
//! served (`#[path]`-included by the gateway's and the core's tests).
#![allow(dead_code, clippy::unwrap_used)] // each test crate uses its own part of this module

use std::time::Duration;

use kmip::net::Client;
use kmip::{
    Item, ProtocolVersion, QueryFunction, QueryRequest, RequestBatchItem, RequestHeader,
    RequestMessage, ResponseMessage, ResultReason, ResultStatus,
};

/// The longest a Query may take before the test fails instead of hanging.
const BOUND: Duration = Duration::from_secs(20);

/// Query Operations, KMIP 1.4.
pub fn query() -> Item {
    RequestMessage {
        header: RequestHeader::new(ProtocolVersion::V1_4),
        batch_items: vec![RequestBatchItem::new(QueryRequest {
            query_functions: vec![QueryFunction::QueryOperations],
        })],
    }
    .to_item()
}

/// How a server answered one Query.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Served,
    Refused(ResultReason),
    /// No KMIP answer at all: the TLS handshake or the connection failed.
    Unanswered,
}

/// Sends [`query`] on `client`.
pub async fn ask(client: &mut Client) -> Answer {
    let Ok(response) = tokio::time::timeout(BOUND, client.call(&query()))
        .await
        .expect("the server did not answer within the bound")
    else {
        return Answer::Unanswered;
    };
    let response = ResponseMessage::from_item(&response).unwrap();
    let item = &response.batch_items[0];
    match item.result_status {
        ResultStatus::Success => Answer::Served,
        _ => Answer::Refused(item.result_reason.unwrap()),
    }
}
