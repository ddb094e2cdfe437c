//! The destroyed-L4 records ([`Column::Shredded`]) this core knows are absent, so that the
//! check every unwrap makes (was this L4 destroyed?) does not cost a PostgreSQL round trip each
//! time the same key is read.
//!
//! On the leading core exact, not a guess, because only the leader writes ([`super::ownership`]:
//! another core's write is fenced off), and every write of the column passes
//! [`AbsentKeys::written`] once it has ended. A follower learns the leader's writes from the
//! change feed ([`AbsentKeys::present`]): what it knows absent is as stale as the feed, at most
//! its poll interval, or the core stops ([`super::feed`]). A key learned absent from a read that
//! overlapped such a write is not kept: a read takes the generation first and keeps what it
//! learned only if no write ended meanwhile. A write whose outcome is unknown (it failed, maybe
//! after committing) turns the cache off for good: every check asks the server again.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use super::Write;
use crate::store::Column;

/// The column whose absent keys are kept.
const COLUMN: Column = Column::Shredded;
/// The most keys kept (some 100 bytes each); past it the set starts over.
const MAX_KEYS: usize = 16_384;

/// Keys of [`COLUMN`] known absent.
#[derive(Debug, Default)]
pub(super) struct AbsentKeys {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped by every write of the column that ended.
    generation: u64,
    keys: HashSet<Box<[u8]>>,
    /// Turned on by the first write; off for good after a write with an unknown outcome.
    off: bool,
}

/// What the cache knows of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Known {
    /// It is absent: no need to ask.
    Absent,
    /// Ask the server; what it says may be kept if no write ends first.
    Ask(Ticket),
    /// Ask the server; nothing is kept.
    Unknown,
}

/// The generation a read began at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ticket(u64);

impl AbsentKeys {
    pub(super) fn lookup(&self, column: Column, key: &[u8]) -> Known {
        if column != COLUMN {
            return Known::Unknown;
        }
        let inner = self.lock();
        if inner.off {
            Known::Unknown
        } else if inner.keys.contains(key) {
            Known::Absent
        } else {
            Known::Ask(Ticket(inner.generation))
        }
    }

    /// The server said `key` is absent, to a read that began with `ticket`.
    pub(super) fn learned_absent(&self, key: &[u8], ticket: Ticket) {
        let mut inner = self.lock();
        if inner.off || inner.generation != ticket.0 {
            return;
        }
        if inner.keys.len() >= MAX_KEYS {
            inner.keys.clear();
        }
        inner.keys.insert(key.into());
    }

    /// `writes` ended, `committed` or with an unknown outcome.
    pub(super) fn written(&self, writes: &[Write], committed: bool) {
        let puts: Vec<&[u8]> = writes
            .iter()
            .filter_map(|write| match write {
                Write::Put { column, key, .. } if *column == COLUMN => Some(&key[..]),
                // A delete only makes keys absent, which the cache may not know yet: harmless.
                Write::Put { .. } | Write::Delete { .. } | Write::DeletePrefix { .. } => None,
            })
            .collect();
        if puts.is_empty() {
            return;
        }
        if !committed {
            let mut inner = self.lock();
            inner.generation += 1;
            inner.off = true;
            inner.keys.clear();
            return;
        }
        self.present(puts);
    }

    /// `keys` were written, here or (on a follower) by the leading core.
    pub(super) fn present<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) {
        let mut inner = self.lock();
        inner.generation += 1;
        for key in keys {
            inner.keys.remove(key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &[u8]) -> Write {
        Write::Put {
            column: COLUMN,
            key: key.into(),
            value: vec![1],
        }
    }

    fn learn(cache: &AbsentKeys, key: &[u8]) {
        let Known::Ask(ticket) = cache.lookup(COLUMN, key) else {
            panic!("not asked");
        };
        cache.learned_absent(key, ticket);
    }

    #[test]
    fn a_key_written_is_no_longer_known_absent() {
        let cache = AbsentKeys::default();
        learn(&cache, b"a");
        learn(&cache, b"b");
        assert_eq!(cache.lookup(COLUMN, b"a"), Known::Absent);
        cache.written(&[put(b"a")], true);
        assert!(matches!(cache.lookup(COLUMN, b"a"), Known::Ask(_)));
        assert_eq!(cache.lookup(COLUMN, b"b"), Known::Absent);
        assert_eq!(cache.lookup(Column::Registry, b"b"), Known::Unknown);
    }

    #[test]
    fn a_read_that_overlapped_a_write_keeps_nothing() {
        let cache = AbsentKeys::default();
        let Known::Ask(ticket) = cache.lookup(COLUMN, b"a") else {
            panic!("not asked");
        };
        // The read saw the server before the write committed; the write ended first.
        cache.written(&[put(b"a")], true);
        cache.learned_absent(b"a", ticket);
        assert!(matches!(cache.lookup(COLUMN, b"a"), Known::Ask(_)));
    }

    #[test]
    fn a_write_of_unknown_outcome_turns_the_cache_off() {
        let cache = AbsentKeys::default();
        learn(&cache, b"b");
        cache.written(&[put(b"a")], false);
        assert_eq!(cache.lookup(COLUMN, b"b"), Known::Unknown);
        assert_eq!(cache.lookup(COLUMN, b"a"), Known::Unknown);
    }
}
