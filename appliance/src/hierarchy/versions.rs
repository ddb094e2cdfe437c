//! The life of one version of a service key (L3):
//!
//! ```text
//! active ──rotate──▶ decrypt-only ──retire──▶ retired ──destroy──▶ destroyed
//!                         ▲                      │
//!                         └──────reinstate───────┘
//! ```
//!
//! - **active**: the one version new wraps use, always the newest; there is exactly one.
//! - **decrypt-only**: unwraps (and re-wraps) what it wrapped; wraps nothing new.
//! - **retired**: refused for every unwrap, so a stray blob under it (a backup, a record the
//!   re-wrap missed) no longer opens; kept sealed under the L2 and out of memory, so an
//!   operator who retired it too early can reinstate it.
//! - **destroyed**: its sealed bytes are deleted; nothing under it ever opens again.
//!
//! Retiring is what a compliance cryptoperiod or a suspected exposure needs, once the gateways
//! have re-wrapped their records under the active version (`krypton-gateway vault versions`
//! counts what is left).

use serde::{Deserialize, Serialize};

/// Where one version of a service key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum VersionState {
    Active,
    DecryptOnly,
    Retired,
    Destroyed,
}

/// A change of a version's state an operator may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionChange {
    /// decrypt-only → retired.
    Retire,
    /// retired → decrypt-only.
    Reinstate,
    /// retired → destroyed, for good.
    Destroy,
}

impl VersionState {
    /// The state's name, as the control API and the audit log give it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::DecryptOnly => "decrypt-only",
            Self::Retired => "retired",
            Self::Destroyed => "destroyed",
        }
    }

    /// Whether blobs under a version in this state unwrap.
    pub(crate) fn unwraps(self) -> bool {
        matches!(self, Self::Active | Self::DecryptOnly)
    }

    /// The state `change` leads to from this one, or `None` if it does not apply here: the
    /// active version is rotated away first, and only a retired version is destroyed (so a
    /// destroy always follows a period in which nothing unwrapped under it).
    pub(crate) fn after(self, change: VersionChange) -> Option<Self> {
        match (self, change) {
            (Self::DecryptOnly, VersionChange::Retire) => Some(Self::Retired),
            (Self::Retired, VersionChange::Reinstate) => Some(Self::DecryptOnly),
            (Self::Retired, VersionChange::Destroy) => Some(Self::Destroyed),
            _ => None,
        }
    }
}

impl VersionChange {
    /// The change's name, as the audit log gives it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Retire => "retire",
            Self::Reinstate => "reinstate",
            Self::Destroy => "destroy",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VersionChange::{Destroy, Reinstate, Retire};
    use super::VersionState::{Active, DecryptOnly, Destroyed, Retired};

    #[test]
    fn only_the_drawn_transitions_apply() {
        let all_states = [Active, DecryptOnly, Retired, Destroyed];
        let all_changes = [Retire, Reinstate, Destroy];
        let mut allowed = Vec::new();
        for state in all_states {
            for change in all_changes {
                if let Some(next) = state.after(change) {
                    allowed.push((state, change, next));
                }
            }
        }
        assert_eq!(
            allowed,
            [
                (DecryptOnly, Retire, Retired),
                (Retired, Reinstate, DecryptOnly),
                (Retired, Destroy, Destroyed),
            ]
        );
        assert!(Active.unwraps() && DecryptOnly.unwraps());
        assert!(!Retired.unwraps() && !Destroyed.unwraps());
    }
}
