//! Managed-object attributes, and the two ways KMIP carries them.
//!
//! * KMIP 1.x: an `Attribute` structure holding the attribute's text `Attribute Name`, an
//!   optional `Attribute Index` and the value under the generic `Attribute Value` tag; lists of
//!   them travel in a `Template-Attribute` (Create, Register) or directly in a payload.
//! * KMIP 2.x: the value under the attribute's own tag, lists of them in an `Attributes`
//!   structure; custom attributes become `Attribute` structures naming a vendor.
//!
//! [`Attribute`] is one model for both: the protocol version of the message decides the form on
//! the wire. Attributes the version does not define are left out when encoding, so a KMIP 1.0
//! client never receives a 1.4 or 2.x attribute. Attributes this crate does not interpret still
//! decode — standard ones as [`Attribute::Other`], custom ones as [`Attribute::Vendor`] — so a
//! Create carrying them does not fail.

use crate::attribute_type::{AttributeReference, AttributeType};
use crate::attribute_values::{CryptographicParameters, Digest, Link, Name, RevocationReason};
use crate::datetime::DateTime;
use crate::enums::{
    CertificateType, CryptographicAlgorithm, CryptographicUsageMask, ObjectType, State,
};
use crate::error::Error;
use crate::structure::{Builder, FieldValue, Fields};
use crate::ttlv::{Item, Tag, Value};
use crate::version::ProtocolVersion;

/// Declares the attributes this crate interprets: each variant is named like its
/// [`AttributeType`] and holds the Rust type of its value.
macro_rules! typed_attributes {
    ($($variant:ident($ty:ty),)+) => {
        /// One attribute of a managed object.
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Attribute {
            $(#[doc = concat!("The *", stringify!($variant), "* attribute.")] $variant($ty),)+
            /// A custom attribute: `x-…`/`y-…` names in KMIP 1.x, a Vendor Attribute in 2.x.
            Vendor(VendorAttribute),
            /// A standard attribute this crate carries without interpreting its value.
            Other(OtherAttribute),
        }

        impl Attribute {
            /// The reference that names this attribute in Get Attributes and the like.
            #[must_use]
            pub fn reference(&self) -> AttributeReference {
                match self {
                    $(Self::$variant(_) => AttributeReference::Standard(AttributeType::$variant),)+
                    Self::Vendor(vendor) => AttributeReference::Vendor {
                        vendor_identification: vendor.vendor_identification.clone(),
                        attribute_name: vendor.attribute_name.clone(),
                    },
                    Self::Other(other) => AttributeReference::Standard(other.attribute_type),
                }
            }

            /// The attribute's value, without its tag.
            fn value(&self) -> Value {
                match self {
                    $(Self::$variant(value) => value.value(),)+
                    Self::Vendor(vendor) => vendor.value.clone(),
                    Self::Other(other) => other.value.clone(),
                }
            }

            /// Reads the value of a standard attribute from `item`, whatever its tag.
            fn read_value(attribute_type: AttributeType, item: &Item) -> Result<Self, Error> {
                Ok(match attribute_type {
                    $(AttributeType::$variant => Self::$variant(<$ty>::read(item)?),)+
                    attribute_type => {
                        Self::Other(OtherAttribute { attribute_type, value: item.value.clone() })
                    }
                })
            }
        }
    };
}

typed_attributes! {
    UniqueIdentifier(String),
    Name(Name),
    ObjectType(ObjectType),
    CryptographicAlgorithm(CryptographicAlgorithm),
    CryptographicLength(i32),
    CryptographicParameters(CryptographicParameters),
    CertificateType(CertificateType),
    CertificateLength(i32),
    Digest(Digest),
    OperationPolicyName(String),
    CryptographicUsageMask(CryptographicUsageMask),
    State(State),
    InitialDate(DateTime),
    ActivationDate(DateTime),
    ProcessStartDate(DateTime),
    ProtectStopDate(DateTime),
    DeactivationDate(DateTime),
    DestroyDate(DateTime),
    CompromiseOccurrenceDate(DateTime),
    CompromiseDate(DateTime),
    RevocationReason(RevocationReason),
    ArchiveDate(DateTime),
    ObjectGroup(String),
    Link(Link),
    ContactInformation(String),
    LastChangeDate(DateTime),
    OriginalCreationDate(DateTime),
    Description(String),
    Comment(String),
    Sensitive(bool),
    Extractable(bool),
}

/// A custom attribute. KMIP 1.x names it `x-name` (set by clients) or `y-name` (set by
/// servers); KMIP 2.x names it by vendor identification and attribute name, with the vendor
/// identifications `x` and `y` standing for those 1.x names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorAttribute {
    pub vendor_identification: String,
    pub attribute_name: String,
    pub value: Value,
}

/// A standard attribute whose value this crate keeps as TTLV without interpreting it.
///
/// Only decoding makes these, and only for attributes [`Attribute`] has no variant for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherAttribute {
    attribute_type: AttributeType,
    value: Value,
}

impl OtherAttribute {
    #[must_use]
    pub fn attribute_type(&self) -> AttributeType {
        self.attribute_type
    }

    #[must_use]
    pub fn value(&self) -> &Value {
        &self.value
    }
}

impl Attribute {
    /// The standard attribute this is, or `None` for a custom attribute.
    #[must_use]
    pub fn attribute_type(&self) -> Option<AttributeType> {
        match self.reference() {
            AttributeReference::Standard(attribute_type) => Some(attribute_type),
            AttributeReference::Vendor { .. } => None,
        }
    }

    /// Whether `version` can carry this attribute.
    #[must_use]
    pub fn exists_in(&self, version: ProtocolVersion) -> bool {
        self.reference().exists_in(version)
    }

    /// The attribute as `version` carries it in a list, or `None` if `version` cannot.
    #[must_use]
    pub fn to_item(&self, version: ProtocolVersion) -> Option<Item> {
        if !self.exists_in(version) {
            None
        } else if version.uses_tagged_attributes() {
            Some(self.to_tagged())
        } else {
            self.to_named(None)
        }
    }

    /// Decodes one attribute in the form of `version`. A KMIP 1.x `Attribute Index` is
    /// accepted and dropped.
    pub fn from_item(item: &Item, version: ProtocolVersion) -> Result<Self, Error> {
        if version.uses_tagged_attributes() {
            Self::from_tagged(item, Tag::ATTRIBUTES)
        } else {
            Self::from_named(item).map(|(attribute, _index)| attribute)
        }
    }

    /// The KMIP 1.x `Attribute` structure, or `None` for a vendor attribute 1.x cannot name.
    pub(crate) fn to_named(&self, index: Option<i32>) -> Option<Item> {
        let name = self.reference().name()?;
        let mut b = Builder::new();
        b.push(Tag::ATTRIBUTE_NAME, &name);
        b.push_opt(Tag::ATTRIBUTE_INDEX, index.as_ref());
        b.push_item(Item {
            tag: Tag::ATTRIBUTE_VALUE,
            value: self.value(),
        });
        Some(b.finish(Tag::ATTRIBUTE))
    }

    /// Decodes a KMIP 1.x `Attribute` structure, with its index if it has one.
    pub(crate) fn from_named(item: &Item) -> Result<(Self, Option<i32>), Error> {
        let mut fields = Fields::new(item)?;
        let name_item = fields.required_item(Tag::ATTRIBUTE_NAME)?;
        let index = fields.optional(Tag::ATTRIBUTE_INDEX)?;
        let value = fields.required_item(Tag::ATTRIBUTE_VALUE)?;
        fields.finish()?;
        let attribute = match AttributeReference::from_name(name_item)? {
            AttributeReference::Standard(attribute_type) => {
                Self::read_value(attribute_type, value)?
            }
            AttributeReference::Vendor {
                vendor_identification,
                attribute_name,
            } => Self::Vendor(VendorAttribute {
                vendor_identification,
                attribute_name,
                value: value.value.clone(),
            }),
        };
        Ok((attribute, index))
    }

    /// The KMIP 2.x form: the value under the attribute's own tag, or a Vendor Attribute.
    pub(crate) fn to_tagged(&self) -> Item {
        match self {
            Self::Vendor(vendor) => {
                let mut b = Builder::new();
                b.push(Tag::VENDOR_IDENTIFICATION, &vendor.vendor_identification);
                b.push(Tag::ATTRIBUTE_NAME, &vendor.attribute_name);
                b.push_item(Item {
                    tag: Tag::ATTRIBUTE_VALUE,
                    value: vendor.value.clone(),
                });
                b.finish(Tag::ATTRIBUTE)
            }
            _ => {
                let tag = self
                    .attribute_type()
                    .map_or(Tag::ATTRIBUTE, AttributeType::tag);
                Item {
                    tag,
                    value: self.value(),
                }
            }
        }
    }

    /// Decodes the KMIP 2.x form found inside `parent`.
    fn from_tagged(item: &Item, parent: Tag) -> Result<Self, Error> {
        if item.tag == Tag::ATTRIBUTE {
            let mut fields = Fields::new(item)?;
            let vendor_identification = fields.required(Tag::VENDOR_IDENTIFICATION)?;
            let attribute_name = fields.required(Tag::ATTRIBUTE_NAME)?;
            let value = fields.required_item(Tag::ATTRIBUTE_VALUE)?.value.clone();
            fields.finish()?;
            return Ok(Self::Vendor(VendorAttribute {
                vendor_identification,
                attribute_name,
                value,
            }));
        }
        match AttributeType::from_tag(item.tag) {
            Some(attribute_type) => Self::read_value(attribute_type, item),
            None => Err(Error::UnexpectedField {
                parent,
                field: item.tag,
            }),
        }
    }
}

/// Reads a run of KMIP 1.x `Attribute` structures.
pub(crate) fn read_named(items: &[Item]) -> Result<Vec<Attribute>, Error> {
    items
        .iter()
        .map(|item| Attribute::from_named(item).map(|(a, _)| a))
        .collect()
}

/// Writes attributes as KMIP 1.x `Attribute` structures, leaving out those `version` lacks.
pub(crate) fn push_named(b: &mut Builder, attributes: &[Attribute], version: ProtocolVersion) {
    for item in attributes
        .iter()
        .filter(|a| a.exists_in(version))
        .filter_map(|a| a.to_named(None))
    {
        b.push_item(item);
    }
}

/// Reads a KMIP 2.x `Attributes` structure (or one of its siblings under another tag).
pub(crate) fn read_tagged(item: &Item) -> Result<Vec<Attribute>, Error> {
    let mut fields = Fields::new(item)?;
    let attributes = fields
        .remaining()
        .iter()
        .map(|child| Attribute::from_tagged(child, item.tag))
        .collect::<Result<_, _>>()?;
    fields.finish()?;
    Ok(attributes)
}

/// Builds a KMIP 2.x `Attributes` structure under `tag`.
pub(crate) fn tagged(attributes: &[Attribute], version: ProtocolVersion, tag: Tag) -> Item {
    let mut b = Builder::new();
    for attribute in attributes.iter().filter(|a| a.exists_in(version)) {
        b.push_item(attribute.to_tagged());
    }
    b.finish(tag)
}

/// Reads the attributes of a Create or Register request: a KMIP 1.x `Template-Attribute`
/// (template references by name are not supported and are refused) or a 2.x `Attributes`.
pub(crate) fn read_attribute_set(
    fields: &mut Fields<'_>,
    version: ProtocolVersion,
) -> Result<Vec<Attribute>, Error> {
    if version.uses_tagged_attributes() {
        read_tagged(fields.required_item(Tag::ATTRIBUTES)?)
    } else {
        read_template_attribute(fields.required_item(Tag::TEMPLATE_ATTRIBUTE)?)
    }
}

/// Writes the attributes of a Create or Register request in the form of `version`.
pub(crate) fn push_attribute_set(
    b: &mut Builder,
    attributes: &[Attribute],
    version: ProtocolVersion,
) {
    if version.uses_tagged_attributes() {
        b.push_item(tagged(attributes, version, Tag::ATTRIBUTES));
    } else {
        b.push_item(template_attribute(attributes, version));
    }
}

/// Reads a KMIP 1.x `Template-Attribute`.
pub(crate) fn read_template_attribute(item: &Item) -> Result<Vec<Attribute>, Error> {
    let mut fields = Fields::new(item)?;
    let attributes = read_named(fields.items(Tag::ATTRIBUTE))?;
    fields.finish()?;
    Ok(attributes)
}

/// Builds a KMIP 1.x `Template-Attribute`.
pub(crate) fn template_attribute(attributes: &[Attribute], version: ProtocolVersion) -> Item {
    let mut b = Builder::new();
    push_named(&mut b, attributes, version);
    b.finish(Tag::TEMPLATE_ATTRIBUTE)
}
