//! Who made a control request, as the transport authenticated them, or the core itself.

use std::fmt;

use crate::hsm::{InvalidIdentifier, check_name};

/// The authenticated origin of a control request, recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A process on this host, identified by the kernel (`SO_PEERCRED`) on the Unix socket.
    LocalProcess {
        /// The peer's user id.
        uid: u32,
        /// The peer's process id, where the kernel reports one.
        pid: Option<i32>,
    },
    /// The governance plane, by the identity in its client certificate (gRPC over mutual
    /// TLS) or the broker it reads tasks from, and the task it is carrying out, if it named one.
    Orchestrator {
        /// Its certificate's identity, or `amqp` for the broker's tasks.
        identity: String,
        /// The orchestrator's id of the task: what makes a task delivered twice act once.
        task: Option<TaskId>,
    },
    /// The core, deciding on its own: a tenant whose L1 the HSM refused is failed closed.
    Core,
}

impl Caller {
    /// The task this request carries out, if the orchestrator named one.
    pub(crate) fn task(&self) -> Option<&TaskId> {
        match self {
            Self::Orchestrator { task, .. } => task.as_ref(),
            Self::LocalProcess { .. } | Self::Core => None,
        }
    }
}

/// An orchestrator's task id: 1 to 128 printable ASCII characters, no space or `/`, as tenant
/// ids (a UUID fits). Remembered durably once the task has had its effect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TaskId(String);

impl TaskId {
    /// Checks and wraps a task id.
    pub(crate) fn new(id: impl Into<String>) -> Result<Self, InvalidIdentifier> {
        let id = id.into();
        check_name("a task id", &id)?;
        Ok(Self(id))
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LocalProcess {
                uid,
                pid: Some(pid),
            } => write!(f, "uid={uid} pid={pid}"),
            Self::LocalProcess { uid, pid: None } => write!(f, "uid={uid}"),
            Self::Orchestrator {
                identity,
                task: Some(task),
            } => write!(f, "orchestrator={identity} task={task}"),
            Self::Orchestrator {
                identity,
                task: None,
            } => write!(f, "orchestrator={identity}"),
            Self::Core => f.write_str("krypton-core"),
        }
    }
}
