//! Which records a Locate finds (KMIP 1.4 §4.9, 2.1 §6.1.27).
//!
//! A record matches when it has every attribute the request names, compared by value, except:
//! - a Cryptographic Usage Mask matches every key whose mask has all of its bits;
//! - two values of the same date attribute are a range, both ends included;
//! - destroyed objects are found only when the Storage Status Mask asks for destroyed storage
//!   (KMIP 2.0); without a mask, only objects in online storage are found.
//!
//! The semantics live here once: a store may narrow its scan however it can, but it decides
//! with [`Filter::matches`].

use crate::attribute_type::AttributeReference;
use crate::attributes::Attribute;
use crate::datetime::DateTime;
use crate::enums::{State, StorageStatusMask};
use crate::objects::metadata::Metadata;

/// What a Locate looks for, evaluated at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    attributes: Vec<Attribute>,
    storage: StorageStatusMask,
    now: DateTime,
}

impl Filter {
    /// A filter for `attributes` in `storage` (online storage when `None`), with lifecycle
    /// states as they are at `now`.
    #[must_use]
    pub fn new(
        attributes: Vec<Attribute>,
        storage: Option<StorageStatusMask>,
        now: DateTime,
    ) -> Self {
        Self {
            attributes,
            storage: storage.unwrap_or(StorageStatusMask::ONLINE_STORAGE),
            now,
        }
    }

    /// Whether object `id`, with `metadata`, is one the Locate finds.
    #[must_use]
    pub fn matches(&self, id: &str, metadata: &Metadata) -> bool {
        if !self.storage.contains(storage_of(metadata)) {
            return false;
        }
        let held = metadata.attributes(id, self.now);
        self.groups().iter().all(|wanted| match date_range(wanted) {
            Some((from, to)) => held
                .iter()
                .filter(|attribute| attribute.reference() == wanted[0].reference())
                .filter_map(date_of)
                .any(|date| (from..=to).contains(&date)),
            None => wanted.iter().all(|want| has(&held, want)),
        })
    }

    /// The requested attributes grouped by attribute, in request order.
    fn groups(&self) -> Vec<Vec<&Attribute>> {
        let mut groups: Vec<(AttributeReference, Vec<&Attribute>)> = Vec::new();
        for attribute in &self.attributes {
            let reference = attribute.reference();
            match groups.iter_mut().find(|(r, _)| *r == reference) {
                Some((_, group)) => group.push(attribute),
                None => groups.push((reference, vec![attribute])),
            }
        }
        groups.into_iter().map(|(_, group)| group).collect()
    }
}

/// The storage an object is in: destroyed once its key material is gone, online before.
fn storage_of(metadata: &Metadata) -> StorageStatusMask {
    match metadata.state {
        State::Destroyed | State::DestroyedCompromised => StorageStatusMask::DESTROYED_STORAGE,
        _ => StorageStatusMask::ONLINE_STORAGE,
    }
}

/// Whether `held` satisfies one requested attribute.
fn has(held: &[Attribute], want: &Attribute) -> bool {
    match want {
        Attribute::CryptographicUsageMask(wanted) => held.iter().any(|attribute| {
            matches!(attribute, Attribute::CryptographicUsageMask(mask) if mask.contains(*wanted))
        }),
        _ => held.contains(want),
    }
}

/// The range two values of one date attribute ask for, earlier end first.
fn date_range(wanted: &[&Attribute]) -> Option<(DateTime, DateTime)> {
    match wanted {
        [a, b] => {
            let (a, b) = (date_of(a)?, date_of(b)?);
            Some((a.min(b), a.max(b)))
        }
        _ => None,
    }
}

/// The value of a date attribute.
fn date_of(attribute: &Attribute) -> Option<DateTime> {
    match attribute {
        Attribute::InitialDate(date)
        | Attribute::ActivationDate(date)
        | Attribute::ProcessStartDate(date)
        | Attribute::ProtectStopDate(date)
        | Attribute::DeactivationDate(date)
        | Attribute::DestroyDate(date)
        | Attribute::CompromiseOccurrenceDate(date)
        | Attribute::CompromiseDate(date)
        | Attribute::ArchiveDate(date)
        | Attribute::LastChangeDate(date)
        | Attribute::OriginalCreationDate(date) => Some(*date),
        _ => None,
    }
}
