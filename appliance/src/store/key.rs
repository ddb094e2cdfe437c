//! Record keys made of length-prefixed parts, so that no choice of names makes one key a
//! prefix of another's: `("a", "bc")` and `("ab", "c")` never share a key range. Every record
//! kept per tenant starts with [`tenant_prefix`], so a destroyed tenant's records are one range.

/// The start of every record key of `tenant`.
pub(crate) fn tenant_prefix(tenant: &str) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(2 + tenant.len());
    push_part(&mut prefix, tenant);
    prefix
}

/// Appends `part`, length-prefixed, to a record key.
pub(crate) fn push_part(key: &mut Vec<u8>, part: &str) {
    // Tenants, services and identities are bounded far below 64 KiB by their checks.
    let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(part.as_bytes());
}
