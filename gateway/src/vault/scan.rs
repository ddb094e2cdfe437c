//! A walk over every record of a vault, whatever its owner, a page at a time: how records
//! leave one vault for another (`krypton-gateway vault copy`). Never used to serve a request,
//! which always names its owner.

use super::Record;

/// Where a scan goes on from: opaque, meaningful only to the vault that gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanCursor(pub(super) Vec<u8>);

/// One page of a scan.
#[derive(Debug)]
pub struct ScanPage {
    /// The records of this page, each checked to be in its place.
    pub records: Vec<Record>,
    /// Where the next page begins; `None` once every record was seen.
    pub next: Option<ScanCursor>,
}
