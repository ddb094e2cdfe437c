//! The orchestration links as `kryptonctl status` shows them: where the gRPC API listens, and
//! whether the broker is connected, the last task it brought and the backlog it holds.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

/// Shared by the transports, which update it, and the control service, which reads it.
#[derive(Debug, Default)]
pub(crate) struct Links {
    grpc: Option<SocketAddr>,
    amqp_configured: bool,
    amqp_connected: AtomicBool,
    amqp_backlog: AtomicU64,
    last_task: Mutex<Option<LastTask>>,
}

/// The last task the broker brought.
#[derive(Debug, Clone)]
pub(crate) struct LastTask {
    pub(crate) task_id: String,
    pub(crate) kind: &'static str,
    pub(crate) at: SystemTime,
}

/// A snapshot for `status`.
#[derive(Debug, Clone)]
pub(crate) struct LinksReport {
    pub(crate) grpc: Option<SocketAddr>,
    /// `None`: no broker configured.
    pub(crate) amqp_connected: Option<bool>,
    pub(crate) amqp_backlog: u64,
    pub(crate) last_task: Option<LastTask>,
}

impl Links {
    pub(super) fn new(grpc: Option<SocketAddr>, amqp_configured: bool) -> Self {
        Self {
            grpc,
            amqp_configured,
            ..Self::default()
        }
    }

    pub(super) fn amqp_connected(&self, connected: bool) {
        self.amqp_connected.store(connected, Ordering::Relaxed);
    }

    pub(super) fn amqp_backlog(&self, waiting: u64) {
        self.amqp_backlog.store(waiting, Ordering::Relaxed);
    }

    pub(super) fn amqp_task(&self, task_id: &str, kind: &'static str) {
        let last = LastTask {
            task_id: task_id.to_owned(),
            kind,
            at: SystemTime::now(),
        };
        if let Ok(mut slot) = self.last_task.lock() {
            *slot = Some(last);
        }
    }

    /// What the links are now.
    pub(crate) fn report(&self) -> LinksReport {
        LinksReport {
            grpc: self.grpc,
            amqp_connected: self
                .amqp_configured
                .then(|| self.amqp_connected.load(Ordering::Relaxed)),
            amqp_backlog: self.amqp_backlog.load(Ordering::Relaxed),
            last_task: self.last_task.lock().ok().and_then(|last| last.clone()),
        }
    }
}
