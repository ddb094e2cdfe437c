//! A batch item a server answers with *Operation Failed*: the KMIP Result Reason and a Result
//! Message that tells the application what to do about it.
//!
//! Reasons are chosen from KMIP 2.1 (*Wrong Key Lifecycle State*, *Object Destroyed*, …); the
//! response encoder maps each to its KMIP 1.x equivalent for older clients
//! ([`ResultReason::for_version`]). A refusal never says whether another identity's object
//! exists.

use std::borrow::Cow;

use crate::enums::{Operation, ResultReason, State};
use crate::message::ResponseBatchItem;

/// Why one batch item failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The KMIP Result Reason.
    pub reason: ResultReason,
    /// The Result Message.
    pub message: Cow<'static, str>,
}

impl Refusal {
    /// A refusal for `reason`, explained by `message`.
    pub fn new(reason: ResultReason, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// The Result Reason's name and the message, `ItemNotFound: no object "k1"`: how an audit
    /// record says why.
    #[must_use]
    pub fn summary(&self) -> String {
        format!("{}: {}", self.reason.name(), self.message)
    }

    /// The caller has no object `id`: whether another identity has one is not said.
    #[must_use]
    pub fn not_found(id: &str) -> Self {
        Self::new(ResultReason::ItemNotFound, format!("no object {id:?}"))
    }

    /// `operation` is not allowed in `state`.
    #[must_use]
    pub fn wrong_state(operation: &'static str, state: State) -> Self {
        let reason = match state {
            State::Destroyed | State::DestroyedCompromised => ResultReason::ObjectDestroyed,
            _ => ResultReason::WrongKeyLifecycleState,
        };
        Self::new(
            reason,
            format!("{operation} is not allowed for an object in state {state:?}"),
        )
    }

    /// The batch item answering `operation` with this refusal.
    #[must_use]
    pub fn into_item(self, operation: Option<Operation>) -> ResponseBatchItem {
        ResponseBatchItem::failure(operation, self.reason, self.message)
    }
}
