//! The KMIP object-management rules a server applies to the objects it keeps, whatever it keeps
//! them in: the lifecycle state table, which attributes the server manages and which the client
//! owns, the attribute edits, Locate's matching, and the refusals with their Result Reasons.
//!
//! krypton-gateway applies them to its L4 keys and krypton-core to the objects applications
//! register through the gateway; both store [`Metadata`] (serde, so any record format fits) and
//! answer with [`Refusal`]s. Behind the `objects` feature, which brings serde.
//!
//! Also the two contracts of theirs that are not KMIP's: how the gateway names a data key's
//! owner and identifier to the core when it has the key wrapped ([`WrapBinding`]), and how a
//! core that follows another refuses what only the leading core does ([`FOLLOWING_CORE`]).

pub mod attribute_edit;
pub mod attribute_policy;
pub mod bytes;
pub mod filter;
pub mod identifier;
pub mod lifecycle;
pub mod metadata;
pub mod refusal;
pub mod wrap_binding;

pub use attribute_policy::AttributeLimits;
pub use bytes::Bytes;
pub use filter::Filter;
pub use metadata::Metadata;
pub use refusal::Refusal;
pub use wrap_binding::WrapBinding;

/// The Result Message (with Result Reason *General Failure*) of a krypton-core that follows
/// the core leading its store, refusing what only the leading core does: a gateway reading it
/// sends the request on to another core, for the refusing core did nothing with it.
pub const FOLLOWING_CORE: &str =
    "this krypton-core follows the core that leads its store: send this to the leading core";
