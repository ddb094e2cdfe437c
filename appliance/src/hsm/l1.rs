//! Customer root keys (L1): how the core names them, finds them in the token, and remembers
//! their handles.
//!
//! Finding a key (`C_FindObjects`) is slow on some HSMs (SoftHSM2's file store with many
//! objects), so a key's handle is looked up once and remembered per pool generation, for
//! unwrapping (every tenant at every start). A remembered handle is trusted only while it
//! works: any failure other than the token going away drops it, and the operation is tried
//! once more with a fresh lookup. So a deleted, re-created or re-numbered key is found again,
//! and a stale handle can never make an error that a fresh one would not. Wrapping (once per
//! tenant link) always looks the key up afresh.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState};

use super::error::{HsmError, InvalidIdentifier};
use super::pool::Lease;
use super::wrap::L2_LEN;

/// Longest L1 label or id accepted.
const MAX_L1_REF_BYTES: usize = 256;
/// Most handles remembered; past it the memory starts over (lookups are only slower).
const MAX_REMEMBERED: usize = 4096;
/// Two results are enough to tell a unique match from an ambiguous one.
const FIND_AT_MOST: NonZeroUsize = NonZeroUsize::MIN.saturating_add(1);

/// Names a customer root key (L1) in the token: an AES-256 secret key, by `CKA_LABEL` or by
/// `CKA_ID`. Krypton never creates or exports it; the customer does, and may revoke it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct L1Ref(Selector);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Selector {
    Label(String),
    Id(Vec<u8>),
}

impl L1Ref {
    /// The key whose `CKA_LABEL` is `label` (1 to 256 bytes).
    pub fn label(label: impl Into<String>) -> Result<Self, InvalidIdentifier> {
        let label = label.into();
        check_len("an L1 label", label.len())?;
        Ok(Self(Selector::Label(label)))
    }

    /// The key whose `CKA_ID` is `id` (1 to 256 bytes).
    pub fn id(id: impl Into<Vec<u8>>) -> Result<Self, InvalidIdentifier> {
        let id = id.into();
        check_len("an L1 id", id.len())?;
        Ok(Self(Selector::Id(id)))
    }

    fn template(&self) -> [Attribute; 3] {
        let selector = match &self.0 {
            Selector::Label(label) => Attribute::Label(label.as_bytes().to_vec()),
            Selector::Id(id) => Attribute::Id(id.clone()),
        };
        [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            selector,
        ]
    }
}

impl fmt::Display for L1Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Selector::Label(label) => write!(f, "label {label:?}"),
            Selector::Id(id) => {
                f.write_str("id 0x")?;
                id.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

fn check_len(what: &'static str, len: usize) -> Result<(), InvalidIdentifier> {
    if (1..=MAX_L1_REF_BYTES).contains(&len) {
        Ok(())
    } else {
        Err(InvalidIdentifier {
            what,
            rule: "1 to 256 bytes",
        })
    }
}

/// Finds the one AES-256 key `l1` names.
fn find(session: &Session, l1: &L1Ref) -> Result<ObjectHandle, HsmError> {
    let found = session
        .iter_objects_with_cache_size(&l1.template(), FIND_AT_MOST)
        .map_err(HsmError::from_call)?
        .take(FIND_AT_MOST.get())
        .collect::<Result<Vec<_>, _>>()
        .map_err(HsmError::from_call)?;
    let key = match found[..] {
        [key] => key,
        [] => return Err(not_found(session, l1)),
        _ => return Err(HsmError::L1NotUnique { l1: l1.clone() }),
    };
    let length = session
        .get_attributes(key, &[AttributeType::ValueLen])
        .map_err(HsmError::from_call)?;
    match length[..] {
        [Attribute::ValueLen(len)] if usize::from(len) == L2_LEN => Ok(key),
        _ => Err(HsmError::L1NotAes256 { l1: l1.clone() }),
    }
}

/// Why a search found nothing. A session that is not logged in sees no private objects, so
/// only a logged-in one may conclude that the key is gone.
fn not_found(session: &Session, l1: &L1Ref) -> HsmError {
    match session.get_session_info().map(|info| info.session_state()) {
        Ok(SessionState::RoUser | SessionState::RwUser) => HsmError::L1NotFound { l1: l1.clone() },
        Ok(_) => HsmError::LoggedOut,
        Err(source) => HsmError::from_call(source),
    }
}

/// Whether an operation may use a remembered handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// A remembered handle, if it works: for unwrapping, where a stale handle can only fail.
    Remembered,
    /// A fresh search: for wrapping, where a handle that some HSM re-used for another key
    /// would seal the L2 under the wrong key without any error.
    Fresh,
}

/// The remembered handles of L1 keys, each with the pool generation it was found in.
#[derive(Debug, Default)]
pub(super) struct L1Handles {
    handles: Mutex<HashMap<L1Ref, (u64, ObjectHandle)>>,
}

impl L1Handles {
    /// Runs `op` with the handle of `l1` on the leased session: the remembered one if `lookup`
    /// allows and it works, else a freshly found one.
    pub(super) fn with_key<T>(
        &self,
        lease: &Lease,
        l1: &L1Ref,
        lookup: Lookup,
        op: impl Fn(ObjectHandle) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        let remembered = match lookup {
            Lookup::Remembered => self.remembered(l1, lease.generation()),
            Lookup::Fresh => None,
        };
        if let Some(key) = remembered {
            match op(key) {
                Err(error) if !error.is_token_unavailable() => self.forget(l1),
                done => return done,
            }
        }
        let key = find(lease.session(), l1)?;
        self.remember(l1, lease.generation(), key);
        op(key)
    }

    fn remembered(&self, l1: &L1Ref, generation: u64) -> Option<ObjectHandle> {
        self.lock()
            .get(l1)
            .filter(|(found_in, _)| *found_in == generation)
            .map(|&(_, key)| key)
    }

    fn remember(&self, l1: &L1Ref, generation: u64, key: ObjectHandle) {
        let mut handles = self.lock();
        if handles.len() >= MAX_REMEMBERED && !handles.contains_key(l1) {
            handles.clear();
        }
        handles.insert(l1.clone(), (generation, key));
    }

    fn forget(&self, l1: &L1Ref) {
        self.lock().remove(l1);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<L1Ref, (u64, ObjectHandle)>> {
        // A panic cannot leave the map half-updated, and any entry in it is only a hint.
        self.handles.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_bounded_and_print_readably() {
        assert!(L1Ref::label("").is_err());
        assert!(L1Ref::id(Vec::new()).is_err());
        assert!(L1Ref::label("x".repeat(MAX_L1_REF_BYTES + 1)).is_err());
        assert!(L1Ref::id(vec![0; MAX_L1_REF_BYTES]).is_ok());
        assert_eq!(
            L1Ref::label("acme root").unwrap().to_string(),
            "label \"acme root\""
        );
        assert_eq!(L1Ref::id([0x0a, 0xff]).unwrap().to_string(), "id 0x0aff");
    }

    #[test]
    fn label_and_id_references_differ() {
        assert_ne!(L1Ref::label("01").unwrap(), L1Ref::id(*b"01").unwrap());
    }
}
