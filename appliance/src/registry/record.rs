//! One registered object as the registry stores it, and where.
//!
//! Records live in the `registry` column family under `owner || id`, the owner written as two
//! length-prefixed strings (tenant, identity): one owner's records are one key range, and no
//! choice of names can make one owner's key a prefix of another's. The value is sealed like
//! every record of the core, so key material never reaches the disk in plaintext.

use kmip::objects::Metadata;
use kmip::{
    KeyBlock, KeyFormatType, KeyMaterial, KmipEnum, ManagedObject, OpaqueDataType, OpaqueObject,
    SecretBytes, SecretData, SecretDataType, SymmetricKey,
};
use serde::{Deserialize, Serialize};

use crate::registry::Owner;
use crate::store::key::{push_part, tenant_prefix};

/// A registered object: its metadata, and its material until it is destroyed.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredObject {
    pub(super) metadata: Metadata,
    pub(super) material: Option<Material>,
}

/// The material of an object as the client registered it. Enumerations are their KMIP values,
/// so a record does not depend on the Rust types.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Material {
    /// A symmetric key in the format it came in (Raw or Transparent Symmetric Key).
    SymmetricKey { format: u32, key: SecretBytes },
    /// A password or seed, in the format it came in.
    SecretData {
        secret_data_type: u32,
        format: u32,
        data: SecretBytes,
    },
    /// Bytes kept without interpretation.
    Opaque {
        opaque_data_type: u32,
        data: SecretBytes,
    },
}

impl Material {
    /// The material of `object`, taken out of it; `None` for an object type or a form of key
    /// material the registry does not keep.
    pub(super) fn from_object(object: ManagedObject) -> Option<Self> {
        Some(match object {
            ManagedObject::SymmetricKey(key) => Self::SymmetricKey {
                format: key.key_block.key_format_type.to_u32(),
                key: key.key_block.key_material.key()?.clone(),
            },
            ManagedObject::SecretData(secret) => Self::SecretData {
                secret_data_type: secret.secret_data_type.to_u32(),
                format: secret.key_block.key_format_type.to_u32(),
                data: secret.key_block.key_material.key()?.clone(),
            },
            ManagedObject::OpaqueObject(opaque) => Self::Opaque {
                opaque_data_type: opaque.opaque_data_type.0,
                data: opaque.opaque_data_value,
            },
            _ => return None,
        })
    }

    /// The object to return on Get: symmetric keys in `format` (Raw or Transparent Symmetric
    /// Key), everything else as registered. `None` if a stored enumeration is unknown.
    pub(super) fn to_object(
        &self,
        metadata: &Metadata,
        format: Option<KeyFormatType>,
    ) -> Option<ManagedObject> {
        Some(match self {
            Self::SymmetricKey {
                format: stored,
                key,
            } => {
                let format = format.unwrap_or(KeyFormatType::from_u32(*stored)?);
                let key_material = match format {
                    KeyFormatType::TransparentSymmetricKey => {
                        KeyMaterial::TransparentSymmetricKey(key.clone())
                    }
                    _ => KeyMaterial::Bytes(key.clone()),
                };
                ManagedObject::SymmetricKey(SymmetricKey {
                    key_block: KeyBlock {
                        key_format_type: format,
                        key_compression_type: None,
                        key_material,
                        cryptographic_algorithm: metadata.algorithm,
                        cryptographic_length: metadata.length,
                        key_wrapping_data: None,
                    },
                })
            }
            Self::SecretData {
                secret_data_type,
                format,
                data,
            } => ManagedObject::SecretData(SecretData {
                secret_data_type: SecretDataType::from_u32(*secret_data_type)?,
                key_block: KeyBlock {
                    key_format_type: KeyFormatType::from_u32(*format)?,
                    key_compression_type: None,
                    key_material: KeyMaterial::Bytes(data.clone()),
                    cryptographic_algorithm: metadata.algorithm,
                    cryptographic_length: metadata.length,
                    key_wrapping_data: None,
                },
            }),
            Self::Opaque {
                opaque_data_type,
                data,
            } => ManagedObject::OpaqueObject(OpaqueObject {
                opaque_data_type: OpaqueDataType(*opaque_data_type),
                opaque_data_value: data.clone(),
            }),
        })
    }
}

/// The start of every record key of `owner`.
pub(super) fn owner_prefix(owner: &Owner) -> Vec<u8> {
    let mut prefix = tenant_prefix(&owner.tenant);
    push_part(&mut prefix, &owner.identity);
    prefix
}

/// The record key of object `id` of `owner`.
pub(super) fn record_key(owner: &Owner, id: &str) -> Vec<u8> {
    let mut key = owner_prefix(owner);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The object id in a record key of the owner whose prefix is `prefix`.
pub(super) fn id_of<'a>(prefix: &[u8], record_key: &'a [u8]) -> Option<&'a str> {
    std::str::from_utf8(record_key.strip_prefix(prefix)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(tenant: &str, identity: &str) -> Owner {
        Owner {
            tenant: tenant.into(),
            identity: identity.into(),
        }
    }

    #[test]
    fn no_owner_prefix_is_a_prefix_of_another() {
        // Without length prefixes, ("a", "bc") and ("ab", "c") would share a key range.
        let a = owner_prefix(&owner("a", "bc"));
        let b = owner_prefix(&owner("ab", "c"));
        assert!(!a.starts_with(&b) && !b.starts_with(&a));
        let key = record_key(&owner("a", "b"), "id-1");
        assert_eq!(id_of(&owner_prefix(&owner("a", "b")), &key), Some("id-1"));
        assert_eq!(id_of(&owner_prefix(&owner("a", "c")), &key), None);
    }
}
