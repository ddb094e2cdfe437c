//! A shred notice: what the core must learn of a destroyed key so that no copy of its wrapped
//! blob ever unwraps again.
//!
//! The vault queues one in the same atomic write that marks the key destroyed, and keeps it
//! until the core has acknowledged it. It holds no key material: the L3 the key was wrapped
//! under and the key's owner and identifier, from which the gateway rebuilds the additional
//! data the blob is bound to.

use serde::{Deserialize, Serialize};

use crate::principal::L3Ref;
use crate::vault::Record;

/// A destroyed key the core has not yet acknowledged, keyed in the queue by `(owner, id)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShredNotice {
    /// The identity that owned the key.
    pub owner: String,
    /// The key's Unique Identifier.
    pub id: String,
    /// The service key the key was wrapped under.
    pub l3: L3Ref,
}

impl ShredNotice {
    /// The notice of `record`'s key.
    #[must_use]
    pub fn of(record: &Record) -> Self {
        Self {
            owner: record.owner.clone(),
            id: record.id.clone(),
            l3: record.l3.clone(),
        }
    }
}
