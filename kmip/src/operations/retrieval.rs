//! Get, Locate and Check: finding objects and reading them (KMIP 1.4 §4.9, §4.10, §4.11).

use crate::attributes::{Attribute, push_named, read_named, read_tagged, tagged};
use crate::enums::ObjectType;
use crate::enums::{
    CryptographicUsageMask, KeyCompressionType, KeyFormatType, KeyWrapType, ObjectGroupMember,
    StorageStatusMask,
};
use crate::error::Error;
use crate::identifier::UniqueIdentifier;
use crate::key_wrapping::KeyWrappingSpecification;
use crate::object::ManagedObject;
use crate::operations::{Payload, struct_payload};
use crate::structure::{Builder, Fields, kmip_struct};
use crate::ttlv::Tag;
use crate::version::ProtocolVersion;

kmip_struct! {
    /// Get: return an object, optionally in a given key format, and wrapped as the Key
    /// Wrapping Specification says.
    #[derive(Default)]
    pub struct GetRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub key_format_type: optional KeyFormatType => KEY_FORMAT_TYPE,
        pub key_wrap_type: optional KeyWrapType => KEY_WRAP_TYPE since V1_4,
        pub key_compression_type: optional KeyCompressionType => KEY_COMPRESSION_TYPE,
        pub key_wrapping_specification: optional KeyWrappingSpecification
            => KEY_WRAPPING_SPECIFICATION,
    }
}

/// The object asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetResponse {
    pub unique_identifier: String,
    pub object: ManagedObject,
}

impl GetResponse {
    /// The type of the object returned.
    #[must_use]
    pub fn object_type(&self) -> ObjectType {
        self.object.object_type()
    }
}

impl Payload for GetResponse {
    fn read(fields: &mut Fields<'_>, _version: ProtocolVersion) -> Result<Self, Error> {
        let object_type = fields.required(Tag::OBJECT_TYPE)?;
        let unique_identifier = fields.required(Tag::UNIQUE_IDENTIFIER)?;
        let object = ManagedObject::read(fields, object_type)?;
        Ok(Self {
            unique_identifier,
            object,
        })
    }

    fn write(&self, b: &mut Builder, _version: ProtocolVersion) {
        b.push(Tag::OBJECT_TYPE, &self.object_type());
        b.push(Tag::UNIQUE_IDENTIFIER, &self.unique_identifier);
        b.push_item(self.object.to_item());
    }
}

/// Locate: find the objects whose attributes match all of `attributes`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LocateRequest {
    pub maximum_items: Option<i32>,
    /// KMIP 1.3.
    pub offset_items: Option<i32>,
    pub storage_status_mask: Option<StorageStatusMask>,
    /// KMIP 1.1.
    pub object_group_member: Option<ObjectGroupMember>,
    pub attributes: Vec<Attribute>,
}

impl Payload for LocateRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        Ok(Self {
            maximum_items: fields.optional(Tag::MAXIMUM_ITEMS)?,
            offset_items: fields.optional(Tag::OFFSET_ITEMS)?,
            storage_status_mask: fields.optional(Tag::STORAGE_STATUS_MASK)?,
            object_group_member: fields.optional(Tag::OBJECT_GROUP_MEMBER)?,
            attributes: if version.uses_tagged_attributes() {
                fields
                    .next_item(Tag::ATTRIBUTES)
                    .map(read_tagged)
                    .transpose()?
                    .unwrap_or_default()
            } else {
                read_named(fields.items(Tag::ATTRIBUTE))?
            },
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push_opt(Tag::MAXIMUM_ITEMS, self.maximum_items.as_ref());
        if version >= ProtocolVersion::V1_3 {
            b.push_opt(Tag::OFFSET_ITEMS, self.offset_items.as_ref());
        }
        b.push_opt(Tag::STORAGE_STATUS_MASK, self.storage_status_mask.as_ref());
        if version >= ProtocolVersion::V1_1 {
            b.push_opt(Tag::OBJECT_GROUP_MEMBER, self.object_group_member.as_ref());
        }
        if !version.uses_tagged_attributes() {
            push_named(b, &self.attributes, version);
        } else if !self.attributes.is_empty() {
            b.push_item(tagged(&self.attributes, version, Tag::ATTRIBUTES));
        }
    }
}

kmip_struct! {
    /// The identifiers found; from KMIP 1.3 also how many matched in all.
    #[derive(Default)]
    pub struct LocateResponse {
        pub located_items: optional i32 => LOCATED_ITEMS since V1_3,
        pub unique_identifiers: repeated String => UNIQUE_IDENTIFIER,
    }
}

kmip_struct! {
    /// Check: would the object allow this use?
    #[derive(Default)]
    pub struct CheckRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub usage_limits_count: optional i64 => USAGE_LIMITS_COUNT,
        pub cryptographic_usage_mask: optional CryptographicUsageMask => CRYPTOGRAPHIC_USAGE_MASK,
        /// Seconds.
        pub lease_time: optional u32 => LEASE_TIME,
    }
}

kmip_struct! {
    /// On success, the identifier alone; on failure the server also echoes the check that
    /// failed.
    pub struct CheckResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
        pub usage_limits_count: optional i64 => USAGE_LIMITS_COUNT,
        pub cryptographic_usage_mask: optional CryptographicUsageMask => CRYPTOGRAPHIC_USAGE_MASK,
        /// Seconds.
        pub lease_time: optional u32 => LEASE_TIME,
    }
}

struct_payload!(GetRequest, LocateResponse, CheckRequest, CheckResponse);
