//! The byte keys of records in the key-value backends (RocksDB, Redis): the owner's length
//! (4 bytes, big-endian) and bytes, then the id. The length prefix keeps one owner's records a
//! contiguous range that no other owner's name can extend, and gives every backend the same
//! `(owner, id)` order.

/// The key of the owner's record `id`.
pub(super) fn record_key(owner: &str, id: &str) -> Vec<u8> {
    let mut key = owner_prefix(owner);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The owner and id of a [`record_key`], for an error message (lossily, if it is damaged).
pub(super) fn split_key(key: &[u8]) -> (String, String) {
    let (length, rest) = key.split_at(key.len().min(4));
    let length = <[u8; 4]>::try_from(length).map_or(0, u32::from_be_bytes);
    let (owner, id) = rest.split_at(rest.len().min(usize::try_from(length).unwrap_or(0)));
    (
        String::from_utf8_lossy(owner).into_owned(),
        String::from_utf8_lossy(id).into_owned(),
    )
}

/// What every key of the owner's records starts with.
pub(super) fn owner_prefix(owner: &str) -> Vec<u8> {
    let length = u32::try_from(owner.len()).unwrap_or(u32::MAX);
    let mut prefix = Vec::with_capacity(4 + owner.len());
    prefix.extend_from_slice(&length.to_be_bytes());
    prefix.extend_from_slice(owner.as_bytes());
    prefix
}
