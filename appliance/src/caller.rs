//! Who made a control request, as the transport authenticated them, or the core itself.

use std::fmt;

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
    /// The core, deciding on its own: a tenant whose L1 the HSM refused is failed closed.
    Core,
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LocalProcess {
                uid,
                pid: Some(pid),
            } => write!(f, "uid={uid} pid={pid}"),
            Self::LocalProcess { uid, pid: None } => write!(f, "uid={uid}"),
            Self::Core => f.write_str("krypton-core"),
        }
    }
}
