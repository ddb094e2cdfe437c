//! The column families of the core's database: one per kind of record.

use std::fmt;

/// A column family. Its name is part of every sealed record's associated data, so a record
/// copied into another family no longer opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// Install metadata: the key-check value and share parameters, authenticated, not sealed.
    Meta,
    /// Linked tenants and their wrapped root keys (L2).
    Tenants,
    /// Service keys (L3) and their versions.
    Services,
    /// The KMIP object registry as it was before objects fell with their tenant: sealed under
    /// the master key. Emptied tenant by tenant into [`Column::Registry`] when each tenant next
    /// opens; never written.
    Objects,
    /// The KMIP object registry: each object sealed under its tenant's registry key, derived
    /// from the tenant's L2, so it opens only while the tenant's L1 does.
    Registry,
    /// The audit log, keyed by sequence number.
    Audit,
    /// The data keys (L4) destroyed: one small record per key, so that its wrapped copy, wherever
    /// it survives (a vault backup), never unwraps again.
    Shredded,
    /// The orchestrator's tasks that took effect, by task id: the audit sequence of each, so
    /// a task delivered again acts once. Pruned after a retention period.
    Tasks,
    /// Unlinks asked through a core that follows the store's leader, by tenant: the kill switch
    /// pulled there. Every core takes the tenant as unlinked while one is on record; the leading
    /// core carries it out and removes it.
    Unlinks,
}

impl Column {
    /// Every family, in the order they are opened.
    pub const ALL: [Self; 9] = [
        Self::Meta,
        Self::Tenants,
        Self::Services,
        Self::Objects,
        Self::Registry,
        Self::Audit,
        Self::Shredded,
        Self::Tasks,
        Self::Unlinks,
    ];

    /// The family's name on disk. Never change one: it is bound into every sealed record.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Meta => "meta",
            Self::Tenants => "tenants",
            Self::Services => "services",
            Self::Objects => "objects",
            Self::Registry => "registry",
            Self::Audit => "audit",
            Self::Shredded => "shredded",
            Self::Tasks => "tasks",
            Self::Unlinks => "unlinks",
        }
    }
}

impl Column {
    /// The family named `name` on disk.
    pub(crate) fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|column| column.name() == name)
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
