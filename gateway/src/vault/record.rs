//! One stored L4 key: who owns it, the L3 that wrapped it, the wrapped bytes while the key
//! exists, and its metadata.

use std::fmt;

use serde::{Deserialize, Serialize};

use kmip::objects::wrap_binding::BLOB_FORMAT_ID_ONLY;

use crate::cbor::{self, Bytes};
use crate::metadata::Metadata;
use crate::principal::L3Ref;
use crate::vault::{VaultError, storage};

/// A record of the vault, keyed by `(owner, id)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The identity that created the key: the only one that can see it.
    pub owner: String,
    /// The key's Unique Identifier.
    pub id: String,
    /// 1 when created, one more at each update: what [`Vault::update`](super::Vault::update)
    /// compares to detect a concurrent change.
    pub revision: u64,
    /// The service key the core wrapped the key under; unwrapping asks for the same one.
    pub l3: L3Ref,
    /// The key, wrapped by the core; `None` once the key is destroyed.
    pub wrapped: Option<WrappedKey>,
    pub metadata: Metadata,
}

impl Record {
    /// A new record, at revision 1.
    #[must_use]
    pub fn new(
        owner: impl Into<String>,
        id: impl Into<String>,
        l3: L3Ref,
        wrapped: WrappedKey,
        metadata: Metadata,
    ) -> Self {
        Self {
            owner: owner.into(),
            id: id.into(),
            revision: 1,
            l3,
            wrapped: Some(wrapped),
            metadata,
        }
    }

    /// Checks that the record names the `owner` and `id` it was read under: every backend calls
    /// it on every record it reads.
    ///
    /// # Errors
    ///
    /// [`VaultError::Misplaced`] if it names another owner or id.
    pub fn check_place(&self, owner: &str, id: &str) -> Result<(), VaultError> {
        if self.owner == owner && self.id == id {
            Ok(())
        } else {
            Err(VaultError::Misplaced {
                owner: owner.to_owned(),
                id: id.to_owned(),
            })
        }
    }
}

/// A record's stored form (CBOR), for backends that store bytes.
pub(super) fn encode(record: &Record) -> Result<Vec<u8>, VaultError> {
    cbor::encode(record).map_err(|source| storage("encoding a record", source))
}

/// The record stored under `(owner, id)`, if it decodes and names that owner and id.
pub(super) fn decode(owner: &str, id: &str, value: &[u8]) -> Result<Record, VaultError> {
    let record: Record = cbor::decode(value).map_err(|source| VaultError::Corrupt {
        owner: owner.to_owned(),
        id: id.to_owned(),
        source: Box::new(source),
    })?;
    record.check_place(owner, id)?;
    Ok(record)
}

/// An L4 key as the core wrapped it: a self-describing blob (format, L3 version, nonce,
/// ciphertext and tag) that only the core can open, and of which the gateway reads only the
/// format and the L3 version. Not secret on its own, but never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey(Bytes);

impl WrappedKey {
    #[must_use]
    pub fn new(blob: Vec<u8>) -> Self {
        Self(Bytes(blob))
    }

    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0.0
    }

    /// The version of the L3 that wrapped it, as the blob's header says (bytes 1 to 4,
    /// big-endian); `None` for a blob too short to have one.
    #[must_use]
    pub fn l3_version(&self) -> Option<u32> {
        let header = self.as_bytes().get(1..5)?;
        Some(u32::from_be_bytes(header.try_into().ok()?))
    }

    /// Whether the core wrapped it in the blob format bound to the identifier only (format 1),
    /// which the gateway re-wraps, bound to owner and identifier as well, once it unwraps.
    #[must_use]
    pub fn binds_id_only(&self) -> bool {
        self.as_bytes().first() == Some(&BLOB_FORMAT_ID_ONLY)
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey(<{} bytes>)", self.0.0.len())
    }
}
