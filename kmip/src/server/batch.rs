//! One request's batch, item by item, under the Batch Error Continuation Option it chose
//! (KMIP 1.4 §6.7, 2.1 §8.4).
//!
//! Items run in order (so Batch Order Option is honoured whatever it says). Under *Stop*, the
//! default, the batch ends at the first failed item and the items before keep their results;
//! under *Continue* every item runs. *Undo* asks the server to take back the earlier items when
//! one fails, and a Krypton server cannot take back a change once committed (the gateway's
//! spans its vault and the core). So:
//!
//! - a batch of several items of which any may change state ([`Effect::Changes`]) is refused
//!   whole before anything runs: every item *Feature Not Supported*, saying which operation
//!   could not be undone;
//! - a batch whose items all change nothing runs as under *Stop*; when an item fails, the
//!   items before it are answered *Operation Undone* without their payloads: they changed
//!   nothing, so undoing them is only withdrawing their answers;
//! - a one-item batch has nothing before it to undo and runs as under *Stop* (KMIP sends the
//!   option only with several items).
//!
//! An operation the server does not offer never runs, so it changes nothing: it is refused
//! *Operation Not Supported* in its place in the batch.
//!
//! The batch's ID Placeholder is kept here and handed to the daemon for items that name no
//! object: the object the last successful item made ([`ResponsePayload::created`]: Create,
//! Create Key Pair's private key, Register, Re-key…), or the one object a Locate found (KMIP 1.4
//! §4.9: a Locate finding several, or none, empties it, so that the items after it fail rather
//! than act on an earlier object).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::enums::{BatchErrorContinuationOption, Operation, ResultReason};
use crate::message::{RequestBatchItem, RequestHeader, RequestMessage, ResponseBatchItem};
use crate::objects::Refusal;
use crate::operations::{RequestPayload, ResponsePayload};
use crate::server::respond::{refuse_items, respond, result_item, undone};
use crate::server::table::{Effect, Server};
use crate::ttlv::Item;

/// A daemon's answer to one batch item.
pub trait Dispatch: Sync {
    /// The answer to `item` of the request headed by `header`. Called only for an operation the
    /// [`Server`] lists, other than Discover Versions and Query, which the skeleton answers.
    /// `placeholder` is the batch's ID Placeholder, for an item that names no object.
    fn answer(
        &self,
        header: &RequestHeader,
        item: RequestBatchItem,
        placeholder: Option<&str>,
    ) -> impl Future<Output = Result<ResponsePayload, Refusal>> + Send;
}

impl Server {
    /// The response to `message`, its items answered by `dispatch` under the batch's
    /// continuation option.
    pub async fn answer<D: Dispatch>(&self, message: RequestMessage, dispatch: &D) -> Item {
        let RequestMessage {
            header,
            batch_items,
        } = message;
        let answers = match self.cannot_undo(&header, &batch_items) {
            Some(refusal) => refuse_items(&batch_items, &refusal),
            None => self.run(&header, batch_items, dispatch).await,
        };
        respond(&header, answers)
    }

    /// Why the batch cannot run under *Undo*: it has several items and one may change state.
    fn cannot_undo(&self, header: &RequestHeader, items: &[RequestBatchItem]) -> Option<Refusal> {
        if header.batch_error_continuation_option != Some(BatchErrorContinuationOption::Undo)
            || items.len() < 2
        {
            return None;
        }
        let changing = items
            .iter()
            .map(|item| item.operation)
            .find(|&operation| self.effect(operation) == Some(Effect::Changes))?;
        Some(Refusal::new(
            ResultReason::FeatureNotSupported,
            format!(
                "Batch Error Continuation Option Undo needs a batch that changes nothing: \
                 {changing:?} cannot be taken back once done; send the batch with Stop or \
                 Continue"
            ),
        ))
    }

    /// Answers `items` in order until the continuation option ends the batch.
    async fn run<D: Dispatch>(
        &self,
        header: &RequestHeader,
        items: Vec<RequestBatchItem>,
        dispatch: &D,
    ) -> Vec<ResponseBatchItem> {
        let option = header
            .batch_error_continuation_option
            .unwrap_or(BatchErrorContinuationOption::Stop);
        let mut placeholder: Option<String> = None;
        let mut answers = Vec::with_capacity(items.len());
        for item in items {
            let (operation, id) = (item.operation, item.unique_batch_item_id.clone());
            let started = Instant::now();
            let answer = self
                .answer_item(header, item, placeholder.as_deref(), dispatch)
                .await;
            count(operation, &answer, started.elapsed());
            if let Some(next) = answer.as_ref().ok().and_then(next_placeholder) {
                placeholder = next;
            }
            let failed = answer.is_err();
            answers.push(result_item(operation, id, answer));
            if !failed {
                continue;
            }
            match option {
                BatchErrorContinuationOption::Continue => {}
                BatchErrorContinuationOption::Stop => break,
                BatchErrorContinuationOption::Undo => {
                    let done = answers.len() - 1;
                    answers[..done].iter_mut().for_each(undone);
                    break;
                }
            }
        }
        answers
    }

    /// One item: refused if not offered, answered here if it asks about the server, else by
    /// the daemon.
    async fn answer_item<D: Dispatch>(
        &self,
        header: &RequestHeader,
        item: RequestBatchItem,
        placeholder: Option<&str>,
        dispatch: &D,
    ) -> Result<ResponsePayload, Refusal> {
        if self.effect(item.operation).is_none() {
            return Err(self.not_offered(item.operation));
        }
        match &item.payload {
            RequestPayload::DiscoverVersions(request) => {
                Ok(Self::discover_versions(request).into())
            }
            RequestPayload::Query(request) => self.query(request).map(Into::into),
            _ => dispatch.answer(header, item, placeholder).await,
        }
    }
}

/// Counts one answered item for the daemon's metrics: by operation and outcome (`Success` or
/// the Result Reason), and its latency by operation. A no-op unless a recorder is installed.
fn count(operation: Operation, answer: &Result<ResponsePayload, Refusal>, took: Duration) {
    let result = match answer {
        Ok(_) => "Success",
        Err(refusal) => refusal.reason.name(),
    };
    metrics::counter!(
        "kmip_requests_total",
        "operation" => operation.name(),
        "result" => result,
    )
    .increment(1);
    metrics::histogram!("kmip_request_duration_seconds", "operation" => operation.name())
        .record(took.as_secs_f64());
}

/// The batch's ID Placeholder after an item answered `payload`, or `None` when the operation
/// leaves it as it was.
fn next_placeholder(payload: &ResponsePayload) -> Option<Option<String>> {
    match payload {
        ResponsePayload::Locate(located) => Some(match located.unique_identifiers.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }),
        made => made.created().map(|id| Some(id.to_owned())),
    }
}
