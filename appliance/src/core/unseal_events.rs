//! The unseal attempts of a sealed core, for the audit log. While sealed there is no key to seal
//! a record with, so each share accepted or refused, and each attempt reset, expired or failed,
//! is kept here (who, when, which share and why — never share material) and written at the
//! next unseal: the shares that rebuilt the key in the unseal record itself, everything else as
//! records of its own right after it, each with the time it happened.
//!
//! Bounded: past [`MAX_EVENTS`] the oldest are dropped and counted, and the count is recorded.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::audit::{Noted, Operation};
use crate::caller::Caller;

/// The most events kept while sealed.
const MAX_EVENTS: usize = 256;

/// What happened while sealed, not yet recorded.
#[derive(Debug, Default)]
pub(super) struct UnsealEvents(Mutex<Events>);

#[derive(Debug, Default)]
struct Events {
    /// The shares of the attempt in progress: (share index, caller).
    attempt: Vec<(u8, String)>,
    /// Everything else, oldest first.
    noted: VecDeque<Noted>,
    dropped: u64,
}

impl UnsealEvents {
    /// Share `index` from `caller` was accepted into the attempt in progress.
    pub(super) fn accepted(&self, index: u8, caller: &Caller) {
        self.lock().attempt.push((index, caller.to_string()));
    }

    /// A share from `caller` (`index`, if it could be read) was refused, for `reason`.
    pub(super) fn refused(&self, index: Option<u8>, caller: &Caller, reason: &str) {
        let share = index.map_or_else(|| "a share".to_owned(), |i| format!("share {i}"));
        self.lock().note(
            Operation::UnsealShareRefused,
            caller.to_string(),
            format!("{share}: {reason}"),
        );
    }

    /// A control operation was refused while sealed: recorded at the next unseal.
    pub(super) fn refused_operation(&self, noted: Noted) {
        self.lock().keep(noted);
    }

    /// The attempt in progress ended without unsealing (`operation`: reset, expired, failed),
    /// through `caller`, for `reason`: its shares are recorded as abandoned, then the end.
    pub(super) fn abandoned(&self, operation: Operation, caller: &Caller, reason: &str) {
        let mut events = self.lock();
        let attempt = std::mem::take(&mut events.attempt);
        if attempt.is_empty() && operation == Operation::UnsealExpired {
            return;
        }
        for (index, by) in attempt {
            events.note(
                Operation::UnsealShareAbandoned,
                by,
                format!("share {index}"),
            );
        }
        events.note(operation, caller.to_string(), reason.to_owned());
    }

    /// Takes what to record at an unseal: the subject of the unseal record (the shares that
    /// rebuilt the key and who gave them), and the rest, oldest first.
    pub(super) fn take(&self) -> (Option<String>, Vec<Noted>) {
        let mut events = self.lock();
        let shares = std::mem::take(&mut events.attempt);
        let subject = (!shares.is_empty()).then(|| {
            let given: Vec<String> = shares
                .iter()
                .map(|(index, by)| format!("share {index} ({by})"))
                .collect();
            given.join(", ")
        });
        let mut noted: Vec<Noted> = std::mem::take(&mut events.noted).into();
        let dropped = std::mem::take(&mut events.dropped);
        if dropped > 0 {
            noted.push(Noted::now(
                Operation::UnsealEventsDropped,
                Caller::Core.to_string(),
                format!("{dropped} older events while sealed were not kept"),
            ));
        }
        (subject, noted)
    }

    /// Puts back what an unseal could not record (its write failed: it stays sealed).
    pub(super) fn put_back(&self, noted: Vec<Noted>) {
        let mut events = self.lock();
        for event in noted.into_iter().rev() {
            events.noted.push_front(event);
        }
        while events.noted.len() > MAX_EVENTS {
            events.noted.pop_front();
            events.dropped += 1;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Events> {
        // Each change is whole: a panic elsewhere cannot leave one half-made.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Events {
    fn note(&mut self, operation: Operation, caller: String, subject: String) {
        self.keep(Noted::now(operation, caller, subject));
    }

    fn keep(&mut self, noted: Noted) {
        if self.noted.len() == MAX_EVENTS {
            self.noted.pop_front();
            self.dropped += 1;
        }
        self.noted.push_back(noted);
    }
}
