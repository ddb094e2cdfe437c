//! The one error type of the `kmip` crate.
//!
//! Variants fall in three groups, kept apart so callers can answer each correctly:
//!
//! * **Wire faults** (the peer sent bytes that are not valid TTLV): every variant carries the
//!   byte `offset`, counted from the start of the message, of the *first header byte of the
//!   item at fault* (or where the input ended), and the item's tag once its header has been read.
//!   A server answers these with a `Result Reason` of *Invalid Message*.
//! * **Model faults** (valid TTLV that is not a valid KMIP message): missing fields, wrong types,
//!   unknown enumeration values, unsupported protocol versions.
//! * **Caller misuse and I/O**: an item tree the encoder cannot express (too large, too deep, a
//!   tag wider than three bytes), and failures of the underlying transport, which keep their
//!   `std::io::Error` as source.

use crate::enums::ResultReason;
use crate::ttlv::{ItemType, Tag};

/// Everything that can go wrong while encoding, decoding, framing or interpreting KMIP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- Wire faults: the bytes are not valid TTLV ------------------------------------------
    /// The type byte of an item header is not one of the types KMIP defines.
    #[error("item {tag} at offset {offset}: unknown item type byte 0x{byte:02x}")]
    UnknownItemType { offset: usize, tag: Tag, byte: u8 },

    /// The length field is impossible for the item's type: not the fixed size of an Integer,
    /// Long Integer, Enumeration, Boolean, Date-Time, Interval or Date-Time Extended, or not a
    /// multiple of eight for a Big Integer or Structure.
    #[error("item {tag} at offset {offset}: length {length} is invalid for type {item_type:?}")]
    InvalidLength {
        offset: usize,
        tag: Tag,
        item_type: ItemType,
        length: u32,
    },

    /// The padding after a value is not all zero bytes.
    #[error("item {tag} at offset {offset}: padding is not zero")]
    NonZeroPadding { offset: usize, tag: Tag },

    /// The input ends inside an item: within its 8-byte header (`tag` is then unknown), within
    /// its padding, or — when reading from a stream — anywhere before the message is complete.
    #[error("input truncated at offset {offset}{}", fmt_tag(*.tag))]
    Truncated { offset: usize, tag: Option<Tag> },

    /// An item's length runs past the end of the structure that contains it, or past the end of
    /// the message for the top-level item.
    #[error(
        "item {tag} at offset {offset}: length {length} exceeds the {available} bytes available"
    )]
    LengthOverrun {
        offset: usize,
        tag: Tag,
        length: u32,
        available: usize,
    },

    /// A Text String is not valid UTF-8.
    #[error("item {tag} at offset {offset}: text string is not valid UTF-8")]
    InvalidUtf8 {
        offset: usize,
        tag: Tag,
        #[source]
        source: std::str::Utf8Error,
    },

    /// A Boolean is neither 0 nor 1.
    #[error("item {tag} at offset {offset}: boolean value {value} is neither 0 nor 1")]
    InvalidBoolean { offset: usize, tag: Tag, value: u64 },

    /// Structures nest deeper than the configured limit.
    #[error("item {tag} at offset {offset}: structures nest deeper than {limit}")]
    TooDeep {
        offset: usize,
        tag: Tag,
        limit: usize,
    },

    /// The message is larger than the configured limit. Detected from the header, before the
    /// body is read or any buffer is sized for it.
    #[error("message of {length} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge { length: usize, limit: usize },

    /// Bytes follow the top-level item.
    #[error("{count} trailing bytes after the message, at offset {offset}")]
    TrailingBytes { offset: usize, count: usize },

    // ---- Model faults: valid TTLV, invalid KMIP -----------------------------------------
    /// A required field is absent from a structure.
    #[error("structure {parent} lacks required field {field}")]
    MissingField { parent: Tag, field: Tag },

    /// An item has a different type than KMIP prescribes for its tag.
    #[error("item {tag} has type {found:?}, expected {expected:?}")]
    UnexpectedType {
        tag: Tag,
        expected: ItemType,
        found: ItemType,
    },

    /// An Enumeration carries a value its tag does not define.
    #[error("item {tag}: unknown enumeration value 0x{value:08x}")]
    UnknownEnumValue { tag: Tag, value: u32 },

    /// An item is well typed but its value is not acceptable.
    #[error("item {tag}: invalid value: {reason}")]
    InvalidValue { tag: Tag, reason: &'static str },

    /// A well-formed field asks for something the model does not carry (wrapped key
    /// material, a Transparent asymmetric key structure): answered with `reason`, the Result
    /// Reason the specification gives for it, rather than as a malformed message.
    #[error("item {tag}: {message}")]
    NotSupported {
        tag: Tag,
        reason: ResultReason,
        message: &'static str,
    },

    /// The message uses a KMIP protocol version this crate does not speak.
    #[error("unsupported KMIP protocol version {major}.{minor}")]
    UnsupportedVersion { major: i32, minor: i32 },

    /// A structure holds a field the specification does not put there: unknown, out of order,
    /// or repeated where it may appear once.
    #[error("structure {parent} has unexpected field {field}")]
    UnexpectedField { parent: Tag, field: Tag },

    /// The top-level item is not the message expected (a request where a response was
    /// expected, or not a message at all).
    #[error("expected a message with tag {expected}, found tag {found}")]
    UnexpectedTag { expected: Tag, found: Tag },

    // ---- Caller misuse ----------------------------------------------------------------------
    /// An item tree handed to the encoder has a value or structure longer than the 32-bit
    /// length field can express.
    #[error("item {tag}: encoded length {length} does not fit the 32-bit length field")]
    EncodeTooLarge { tag: Tag, length: usize },

    /// An item tree handed to the encoder nests deeper than [`MAX_DEPTH`](crate::MAX_DEPTH).
    #[error("item {tag}: structures nest deeper than {limit}, cannot encode")]
    EncodeTooDeep { tag: Tag, limit: usize },

    /// A tag handed to the encoder does not fit the three bytes a tag has on the wire.
    #[error("tag {tag} does not fit in three bytes, cannot encode")]
    EncodeInvalidTag { tag: Tag },

    // ---- Transport --------------------------------------------------------------------------
    /// Reading from or writing to the transport failed.
    #[error("I/O error on the KMIP transport")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The KMIP Result Reason a server answers this error with: the one place where codec and
    /// model errors map to the protocol.
    ///
    /// Malformed TTLV, a request over the size limit, and messages that break the structure
    /// the specification prescribes are *Invalid Message*, as is an unsupported protocol
    /// version (KMIP 1.4 §11 answers a version mismatch so; the 2.x *Unsupported Protocol
    /// Version* would not decode in a 1.x client). A well-formed field whose value the server
    /// cannot accept is *Invalid Field*. Encoding faults and I/O are the server's own failures:
    /// *General Failure*.
    #[must_use]
    pub fn result_reason(&self) -> ResultReason {
        match self {
            Self::UnknownItemType { .. }
            | Self::InvalidLength { .. }
            | Self::NonZeroPadding { .. }
            | Self::Truncated { .. }
            | Self::LengthOverrun { .. }
            | Self::InvalidUtf8 { .. }
            | Self::InvalidBoolean { .. }
            | Self::TooDeep { .. }
            | Self::MessageTooLarge { .. }
            | Self::TrailingBytes { .. }
            | Self::MissingField { .. }
            | Self::UnexpectedType { .. }
            | Self::UnexpectedField { .. }
            | Self::UnexpectedTag { .. }
            | Self::UnsupportedVersion { .. } => ResultReason::InvalidMessage,
            Self::UnknownEnumValue { .. } | Self::InvalidValue { .. } => ResultReason::InvalidField,
            Self::NotSupported { reason, .. } => *reason,
            Self::EncodeTooLarge { .. }
            | Self::EncodeTooDeep { .. }
            | Self::EncodeInvalidTag { .. }
            | Self::Io(_) => ResultReason::GeneralFailure,
        }
    }
}

/// Renders the optional tag of [`Error::Truncated`].
fn fmt_tag(tag: Option<Tag>) -> String {
    tag.map_or_else(String::new, |tag| format!(", inside item {tag}"))
}
