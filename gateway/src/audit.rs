//! The gateway's audit events: one per KMIP operation it answers or forwards, exported
//! (`krypton_service::audit`: the journal's share, and the JSON-lines file if configured) with
//! who asked, about what, how it went, and a correlation id.
//!
//! **Correlation.** Each batch item gets an id, `<gateway run>-<n>`: a random 64-bit prefix
//! drawn at start (ids never repeat across restarts or gateways) and a counter. Every request
//! the gateway sends the core while answering that item carries it as its KMIP Client
//! Correlation Value, and the core writes it into its record of that request: the gateway's
//! event and the core's chain record of one request share it. It travels in a task-local
//! ([`CORRELATION`]), set around the item's answer, so that the layers between (operations, the
//! vault, the core link's pool) need not pass it along.

use std::sync::atomic::{AtomicU64, Ordering};

use kmip::objects::Refusal;
use kmip::{Operation, ResponsePayload};
use krypton_service::audit::{
    AuditConfig, AuditEvent, AuditExport, Outcome, Plane, now_unix_millis,
};

tokio::task_local! {
    /// The correlation id of the batch item being answered.
    pub(crate) static CORRELATION: String;
}

/// The correlation id of the item being answered, if any: requests of the gateway's own
/// (re-wrap passes, destroy notices) have none.
pub(crate) fn current_correlation() -> Option<String> {
    CORRELATION.try_with(Clone::clone).ok()
}

/// Where the gateway's events go, and the source of correlation ids.
#[derive(Debug)]
pub(crate) struct GatewayAudit {
    export: AuditExport,
    /// Whether every operation is exported (`[audit] data_path`), or nothing.
    data_path: bool,
    /// This run's prefix of correlation ids.
    run: String,
    next: AtomicU64,
}

impl GatewayAudit {
    /// Refusals to the journal, no file: until the configuration says otherwise.
    pub(crate) fn journal_only() -> Self {
        Self::new(AuditExport::journal_only(), true)
    }

    /// As `config` says.
    pub(crate) fn open(config: &AuditConfig) -> std::io::Result<Self> {
        Ok(Self::new(AuditExport::open(config)?, config.data_path))
    }

    fn new(export: AuditExport, data_path: bool) -> Self {
        let mut run = [0u8; 8];
        // Without randomness only the uniqueness of ids across runs suffers; they stay
        // unique within this one.
        let _ = aws_lc_rs::rand::fill(&mut run);
        Self {
            export,
            data_path,
            run: hex::encode(run),
            next: AtomicU64::new(1),
        }
    }

    /// A new correlation id.
    pub(crate) fn correlation(&self) -> String {
        format!("{}-{}", self.run, self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Exports the event of `operation` asked by `identity` about `subject`, answered with
    /// `answer`.
    pub(crate) fn record(
        &self,
        operation: Operation,
        identity: &str,
        subject: Option<&str>,
        answer: Result<&ResponsePayload, &Refusal>,
        correlation: Option<&str>,
    ) {
        if !self.data_path {
            return;
        }
        let name = format!("kmip-{}", operation.kebab_name());
        let reason = answer.err().map(Refusal::summary);
        let created = answer.ok().and_then(ResponsePayload::created);
        let subject = match (subject, created) {
            (Some(subject), Some(id)) => Some(format!("{subject} object {id}")),
            (subject, _) => subject.map(str::to_owned),
        };
        self.export.emit(&[AuditEvent {
            sequence: None,
            time_unix_millis: now_unix_millis(),
            source: "krypton-gateway",
            plane: Plane::Data,
            operation: &name,
            caller: identity,
            subject: subject.as_deref(),
            outcome: Outcome::of(reason.as_deref()),
            reason: reason.as_deref(),
            correlation,
        }]);
    }
}
