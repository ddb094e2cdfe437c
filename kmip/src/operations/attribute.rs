//! Reading and changing attributes: Get Attributes, Get Attribute List, the KMIP 1.x Add,
//! Modify and Delete Attribute and the KMIP 2.x Set and Adjust Attribute
//! (KMIP 1.4 §4.12–4.15, 2.1 §6.1.2, §6.1.16–6.1.18, §6.1.43–6.1.44).
//!
//! In KMIP 1.x an attribute travels as a named `Attribute` structure; in 2.x Add, Modify and
//! Set wrap the attribute in a `New Attribute` (and `Current Attribute`) structure, and
//! responses no longer echo it.

use crate::attribute_type::AttributeReference;
use crate::attributes::{Attribute, push_named, read_named, read_tagged, tagged};
use crate::enums::AdjustmentType;
use crate::error::Error;
use crate::identifier::UniqueIdentifier;
use crate::operations::{Payload, struct_payload};
use crate::structure::{Builder, Fields, kmip_struct, read_structure};
use crate::ttlv::{Item, Tag, Value};
use crate::version::ProtocolVersion;

/// Get Attributes: the attributes named, or all of them when `attribute_references` is empty.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GetAttributesRequest {
    pub unique_identifier: Option<UniqueIdentifier>,
    pub attribute_references: Vec<AttributeReference>,
}

impl Payload for GetAttributesRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        Ok(Self {
            unique_identifier: fields.optional(Tag::UNIQUE_IDENTIFIER)?,
            attribute_references: AttributeReference::read_all(fields, version)?,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push_opt(Tag::UNIQUE_IDENTIFIER, self.unique_identifier.as_ref());
        AttributeReference::push_all(b, &self.attribute_references, version);
    }
}

/// The attributes found; attributes the protocol version lacks are left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetAttributesResponse {
    pub unique_identifier: String,
    pub attributes: Vec<Attribute>,
}

impl Payload for GetAttributesResponse {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let unique_identifier = fields.required(Tag::UNIQUE_IDENTIFIER)?;
        let attributes = if version.uses_tagged_attributes() {
            read_tagged(fields.required_item(Tag::ATTRIBUTES)?)?
        } else {
            read_named(fields.items(Tag::ATTRIBUTE))?
        };
        Ok(Self {
            unique_identifier,
            attributes,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push(Tag::UNIQUE_IDENTIFIER, &self.unique_identifier);
        if version.uses_tagged_attributes() {
            b.push_item(tagged(&self.attributes, version, Tag::ATTRIBUTES));
        } else {
            push_named(b, &self.attributes, version);
        }
    }
}

kmip_struct! {
    /// Get Attribute List: which attributes does the object have?
    #[derive(Default)]
    pub struct GetAttributeListRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
    }
}

/// The attributes the object has: names in KMIP 1.x, references in 2.x.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetAttributeListResponse {
    pub unique_identifier: String,
    pub attribute_references: Vec<AttributeReference>,
}

impl Payload for GetAttributeListResponse {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        Ok(Self {
            unique_identifier: fields.required(Tag::UNIQUE_IDENTIFIER)?,
            attribute_references: AttributeReference::read_all(fields, version)?,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push(Tag::UNIQUE_IDENTIFIER, &self.unique_identifier);
        AttributeReference::push_all(b, &self.attribute_references, version);
    }
}

/// Reads the attribute of a KMIP 1.x Add/Modify/Delete payload, or the attribute inside a
/// KMIP 2.x `New Attribute` or `Current Attribute` structure under `wrapper`.
fn read_attribute(
    fields: &mut Fields<'_>,
    version: ProtocolVersion,
    wrapper: Tag,
) -> Result<(Attribute, Option<i32>), Error> {
    if version.uses_tagged_attributes() {
        let wrapped = fields.required_item(wrapper)?;
        read_wrapped(wrapped, version).map(|attribute| (attribute, None))
    } else {
        Attribute::from_named(fields.required_item(Tag::ATTRIBUTE)?)
    }
}

/// Reads the one attribute inside a `New Attribute` or `Current Attribute` structure.
fn read_wrapped(wrapped: &Item, version: ProtocolVersion) -> Result<Attribute, Error> {
    read_structure(wrapped, |inner| match inner.remaining() {
        [attribute] => Attribute::from_item(attribute, version),
        [] => Err(Error::MissingField {
            parent: wrapped.tag,
            field: Tag::ATTRIBUTE,
        }),
        [_, extra, ..] => Err(Error::UnexpectedField {
            parent: wrapped.tag,
            field: extra.tag,
        }),
    })
}

/// Writes the attribute of an Add/Modify/Delete/Set payload: a named `Attribute` in KMIP 1.x,
/// wrapped under `wrapper` in 2.x. An attribute the version lacks is written all the same:
/// leaving it out would change the operation's meaning.
fn push_attribute(
    b: &mut Builder,
    attribute: &Attribute,
    index: Option<i32>,
    version: ProtocolVersion,
    wrapper: Tag,
) {
    if version.uses_tagged_attributes() {
        push_wrapped(b, attribute, wrapper);
    } else if let Some(item) = attribute.to_named(index) {
        b.push_item(item);
    }
}

/// Writes `attribute` in its KMIP 2.x form, wrapped in a structure under `wrapper`.
fn push_wrapped(b: &mut Builder, attribute: &Attribute, wrapper: Tag) {
    let mut inner = Builder::new();
    inner.push_item(attribute.to_tagged());
    b.push_item(inner.finish(wrapper));
}

/// Reads the echoed attribute of a KMIP 1.x Add/Modify/Delete response (absent in 2.x).
fn read_echo(
    fields: &mut Fields<'_>,
    version: ProtocolVersion,
) -> Result<Option<Attribute>, Error> {
    if version.uses_tagged_attributes() {
        return Ok(None);
    }
    let item = fields.required_item(Tag::ATTRIBUTE)?;
    Attribute::from_named(item).map(|(attribute, _index)| Some(attribute))
}

/// Writes the echoed attribute of a KMIP 1.x response.
fn push_echo(b: &mut Builder, attribute: Option<&Attribute>, version: ProtocolVersion) {
    if version.uses_tagged_attributes() {
        return;
    }
    if let Some(item) = attribute.and_then(|a| a.to_named(None)) {
        b.push_item(item);
    }
}

/// Add Attribute (KMIP 1.x; kept in 2.x): add one instance of an attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddAttributeRequest {
    pub unique_identifier: Option<UniqueIdentifier>,
    pub attribute: Attribute,
}

impl Payload for AddAttributeRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let unique_identifier = fields.optional(Tag::UNIQUE_IDENTIFIER)?;
        let (attribute, _index) = read_attribute(fields, version, Tag::NEW_ATTRIBUTE)?;
        Ok(Self {
            unique_identifier,
            attribute,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push_opt(Tag::UNIQUE_IDENTIFIER, self.unique_identifier.as_ref());
        push_attribute(b, &self.attribute, None, version, Tag::NEW_ATTRIBUTE);
    }
}

/// The identifier, and in KMIP 1.x the attribute as added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddAttributeResponse {
    pub unique_identifier: String,
    pub attribute: Option<Attribute>,
}

/// Modify Attribute: replace an attribute's value. KMIP 1.x picks the instance by
/// `attribute_index`; KMIP 2.x by `current_attribute`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModifyAttributeRequest {
    pub unique_identifier: Option<UniqueIdentifier>,
    pub attribute_index: Option<i32>,
    pub current_attribute: Option<Attribute>,
    pub new_attribute: Attribute,
}

impl Payload for ModifyAttributeRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let unique_identifier = fields.optional(Tag::UNIQUE_IDENTIFIER)?;
        let current_attribute = match fields.next_item(Tag::CURRENT_ATTRIBUTE) {
            Some(item) if version.uses_tagged_attributes() => Some(read_wrapped(item, version)?),
            Some(item) => {
                return Err(Error::UnexpectedField {
                    parent: fields.parent(),
                    field: item.tag,
                });
            }
            None => None,
        };
        let (new_attribute, attribute_index) = read_attribute(fields, version, Tag::NEW_ATTRIBUTE)?;
        Ok(Self {
            unique_identifier,
            attribute_index,
            current_attribute,
            new_attribute,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push_opt(Tag::UNIQUE_IDENTIFIER, self.unique_identifier.as_ref());
        if let Some(current) = self.current_attribute.as_ref()
            && version.uses_tagged_attributes()
        {
            push_attribute(b, current, None, version, Tag::CURRENT_ATTRIBUTE);
        }
        push_attribute(
            b,
            &self.new_attribute,
            self.attribute_index,
            version,
            Tag::NEW_ATTRIBUTE,
        );
    }
}

/// The identifier, and in KMIP 1.x the attribute as modified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModifyAttributeResponse {
    pub unique_identifier: String,
    pub attribute: Option<Attribute>,
}

/// Delete Attribute: remove an attribute instance. KMIP 1.x names it with `attribute` and an
/// optional `attribute_index`; KMIP 2.x with `current_attribute` (one instance, by value) or
/// `attribute` (every instance).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteAttributeRequest {
    pub unique_identifier: Option<UniqueIdentifier>,
    pub attribute: AttributeReference,
    pub attribute_index: Option<i32>,
    pub current_attribute: Option<Attribute>,
}

impl Payload for DeleteAttributeRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let unique_identifier = fields.optional(Tag::UNIQUE_IDENTIFIER)?;
        if !version.uses_tagged_attributes() {
            let attribute =
                AttributeReference::from_name(fields.required_item(Tag::ATTRIBUTE_NAME)?)?;
            let attribute_index = fields.optional(Tag::ATTRIBUTE_INDEX)?;
            return Ok(Self {
                unique_identifier,
                attribute,
                attribute_index,
                current_attribute: None,
            });
        }
        let current_attribute = fields
            .next_item(Tag::CURRENT_ATTRIBUTE)
            .map(|item| read_wrapped(item, version))
            .transpose()?;
        let attribute = match (
            &current_attribute,
            fields.next_item(Tag::ATTRIBUTE_REFERENCE),
        ) {
            (_, Some(reference)) => AttributeReference::from_reference(reference)?,
            (Some(current), None) => current.reference(),
            (None, None) => {
                return Err(Error::MissingField {
                    parent: fields.parent(),
                    field: Tag::ATTRIBUTE_REFERENCE,
                });
            }
        };
        Ok(Self {
            unique_identifier,
            attribute,
            attribute_index: None,
            current_attribute,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push_opt(Tag::UNIQUE_IDENTIFIER, self.unique_identifier.as_ref());
        if !version.uses_tagged_attributes() {
            if let Some(name) = self.attribute.name() {
                b.push(Tag::ATTRIBUTE_NAME, &name);
            }
            b.push_opt(Tag::ATTRIBUTE_INDEX, self.attribute_index.as_ref());
        } else if let Some(current) = self.current_attribute.as_ref() {
            push_attribute(b, current, None, version, Tag::CURRENT_ATTRIBUTE);
        } else {
            b.push_item(self.attribute.to_reference());
        }
    }
}

/// The identifier, and in KMIP 1.x the attribute as deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteAttributeResponse {
    pub unique_identifier: String,
    pub attribute: Option<Attribute>,
}

/// Implements [`Payload`] for the responses that echo the attribute in KMIP 1.x.
macro_rules! echo_response {
    ($($name:ident),+) => {
        $(
            impl Payload for $name {
                fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
                    Ok(Self {
                        unique_identifier: fields.required(Tag::UNIQUE_IDENTIFIER)?,
                        attribute: read_echo(fields, version)?,
                    })
                }

                fn write(&self, b: &mut Builder, version: ProtocolVersion) {
                    b.push(Tag::UNIQUE_IDENTIFIER, &self.unique_identifier);
                    push_echo(b, self.attribute.as_ref(), version);
                }
            }
        )+
    };
}

echo_response!(
    AddAttributeResponse,
    ModifyAttributeResponse,
    DeleteAttributeResponse
);

/// Set Attribute (KMIP 2.x): set a single-valued attribute, creating it if absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAttributeRequest {
    pub unique_identifier: Option<UniqueIdentifier>,
    pub new_attribute: Attribute,
}

impl Payload for SetAttributeRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let unique_identifier = fields.optional(Tag::UNIQUE_IDENTIFIER)?;
        let new_attribute = read_wrapped(fields.required_item(Tag::NEW_ATTRIBUTE)?, version)?;
        Ok(Self {
            unique_identifier,
            new_attribute,
        })
    }

    /// Set Attribute exists only in KMIP 2.x, so it is always written in the 2.x form.
    fn write(&self, b: &mut Builder, _version: ProtocolVersion) {
        b.push_opt(Tag::UNIQUE_IDENTIFIER, self.unique_identifier.as_ref());
        push_wrapped(b, &self.new_attribute, Tag::NEW_ATTRIBUTE);
    }
}

kmip_struct! {
    pub struct SetAttributeResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
    }
}

/// Adjust Attribute (KMIP 2.x): increment, decrement or negate a numeric or date attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdjustAttributeRequest {
    pub unique_identifier: Option<UniqueIdentifier>,
    pub attribute_reference: AttributeReference,
    pub adjustment_type: AdjustmentType,
    /// The amount, of the attribute's own type; absent for negation.
    pub adjustment_value: Option<Value>,
}

impl Payload for AdjustAttributeRequest {
    fn read(fields: &mut Fields<'_>, _version: ProtocolVersion) -> Result<Self, Error> {
        Ok(Self {
            unique_identifier: fields.optional(Tag::UNIQUE_IDENTIFIER)?,
            attribute_reference: AttributeReference::from_reference(
                fields.required_item(Tag::ATTRIBUTE_REFERENCE)?,
            )?,
            adjustment_type: fields.required(Tag::ADJUSTMENT_TYPE)?,
            adjustment_value: fields.optional(Tag::ADJUSTMENT_VALUE)?,
        })
    }

    fn write(&self, b: &mut Builder, _version: ProtocolVersion) {
        b.push_opt(Tag::UNIQUE_IDENTIFIER, self.unique_identifier.as_ref());
        b.push_item(self.attribute_reference.to_reference());
        b.push(Tag::ADJUSTMENT_TYPE, &self.adjustment_type);
        b.push_opt(Tag::ADJUSTMENT_VALUE, self.adjustment_value.as_ref());
    }
}

kmip_struct! {
    pub struct AdjustAttributeResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
    }
}

struct_payload!(
    GetAttributeListRequest,
    SetAttributeResponse,
    AdjustAttributeResponse,
);
