//! The crate's one error type.

use aws_lc_rs::error::Unspecified;

use crate::KeySetId;

/// Everything that can go wrong while splitting a master key, reading a share or rebuilding the key.
///
/// The variants fall into four groups, so that a caller can answer each the right way:
/// - **caller misuse**: [`Error::InvalidParameters`];
/// - **operator input** (a share typed at the unseal prompt): [`Error::MalformedShare`],
///   [`Error::UnsupportedVersion`], [`Error::MixedKeySets`], [`Error::ForeignKeySet`],
///   [`Error::ThresholdMismatch`], [`Error::DuplicateIndex`], [`Error::NotEnoughShares`] and
///   [`Error::WrongKey`]: tell the operator and ask again;
/// - **stored state**: [`Error::MalformedKeyCheck`];
/// - **the platform or this crate**: [`Error::Random`], [`Error::Internal`].
///
/// No variant carries secret material: messages name groups, indices and key-set ids only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `split` was asked for a threshold or share count outside `2 <= threshold <= count <= 255`.
    #[error(
        "cannot split into {count} shares with threshold {threshold}: need 2 <= threshold <= count <= 255"
    )]
    InvalidParameters {
        /// The requested threshold K.
        threshold: u8,
        /// The requested number of shares N.
        count: u8,
    },

    /// The text of a share is not well formed: a typo, a missing group, a group from another share.
    /// The message says which group looks wrong, so it is the detail itself rather than a source.
    #[error("the share is mistyped: {0}")]
    MalformedShare(Malformed),

    /// The share was written in a share format this build does not read.
    #[error("share format version {version} is not supported (this build reads version 1)")]
    UnsupportedVersion {
        /// The version the share names.
        version: u8,
    },

    /// The shares entered come from two different splits.
    #[error("the shares come from different key sets ({first} and {other})")]
    MixedKeySets {
        /// Key set of the first share entered.
        first: KeySetId,
        /// Key set of a later share that disagrees with it.
        other: KeySetId,
    },

    /// A share (or a whole set of shares) belongs to another key set than this appliance's key check.
    #[error(
        "a share from key set {share} does not belong to this installation's key set {expected}"
    )]
    ForeignKeySet {
        /// Key set the share names.
        share: KeySetId,
        /// Key set of the stored key check.
        expected: KeySetId,
    },

    /// A share names the right key set but another threshold than the key check records.
    #[error(
        "a share claims threshold {share} but this key set was split with threshold {expected}"
    )]
    ThresholdMismatch {
        /// Threshold the share names.
        share: u8,
        /// Threshold recorded in the key check.
        expected: u8,
    },

    /// Two of the shares entered have the same index: one share was entered twice.
    #[error("share {index} was entered twice")]
    DuplicateIndex {
        /// The repeated share index.
        index: u8,
    },

    /// Fewer shares than the threshold were given.
    #[error("{have} shares entered, {need} needed")]
    NotEnoughShares {
        /// Number of shares given.
        have: usize,
        /// The threshold K.
        need: u8,
    },

    /// Every share is well formed and from this key set, yet the rebuilt key fails the key check.
    #[error("these shares do not rebuild this master key")]
    WrongKey,

    /// A stored key-check value has the wrong length, version or content.
    #[error("the stored key-check value is malformed")]
    MalformedKeyCheck,

    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random(#[source] Unspecified),

    /// `blahaj` refused input that this crate had already validated: a bug here or there.
    #[error("internal error in secret sharing: {0}")]
    Internal(&'static str),
}

/// What is wrong with the text of a share; see the crate documentation for the format.
///
/// Groups and positions are 1-based, as an operator counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The share has the wrong number of groups (a group was skipped, or typed twice).
    #[error("it has {found} groups, expected {expected}")]
    WrongGroupCount {
        /// Number of groups read.
        found: usize,
        /// Number of groups a share of this format has.
        expected: usize,
    },

    /// A group, as delimited by spaces or dashes, has too few or too many characters.
    #[error("group {group} has {found} characters, expected 5")]
    WrongGroupLength {
        /// The group.
        group: usize,
        /// Number of characters it has.
        found: usize,
    },

    /// A character outside the share alphabet. The character itself is not repeated: it is part
    /// of a secret share and error messages end up in logs.
    #[error("group {group} has a character that cannot appear in a share at position {position}")]
    BadCharacter {
        /// The group.
        group: usize,
        /// Position of the character within the group.
        position: usize,
    },

    /// A group's check character does not match its other characters: this group looks wrong.
    #[error("group {group} looks wrong: its check character does not match")]
    GroupCheck {
        /// The group.
        group: usize,
    },

    /// Every group is consistent but the checksum over the whole share does not match: several
    /// typos, or a group typed from another share.
    #[error("every group looks right but the share's checksum does not match")]
    ShareCheck,

    /// The checksums match but the share names index 0 or a threshold below 2, which `split`
    /// never writes.
    #[error("the share names an impossible index or threshold")]
    Content,
}

impl Malformed {
    /// The 1-based group the problem was found in, when it can be pinned to one group.
    pub fn group(&self) -> Option<usize> {
        match *self {
            Self::WrongGroupLength { group, .. }
            | Self::BadCharacter { group, .. }
            | Self::GroupCheck { group } => Some(group),
            Self::WrongGroupCount { .. } | Self::ShareCheck | Self::Content => None,
        }
    }
}

impl From<Malformed> for Error {
    fn from(malformed: Malformed) -> Self {
        Self::MalformedShare(malformed)
    }
}
