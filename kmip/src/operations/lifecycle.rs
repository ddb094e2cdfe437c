//! Create, Register, Re-key, Derive Key, Activate, Revoke and Destroy: the life of a managed
//! object (KMIP 1.4 §4.1, §4.3, §4.4, §4.6, §4.19–4.21).

use crate::attribute_values::{CryptographicParameters, RevocationReason};
use crate::attributes::{
    Attribute, push_attribute_set, read_attribute_set, read_tagged, read_template_attribute,
    tagged, template_attribute,
};
use crate::datetime::DateTime;
use crate::enums::{DerivationMethod, ObjectType};
use crate::error::Error;
use crate::identifier::UniqueIdentifier;
use crate::object::ManagedObject;
use crate::operations::{Payload, struct_payload};
use crate::secret::SecretBytes;
use crate::structure::{Builder, Fields, kmip_struct, structure_field};
use crate::ttlv::Tag;
use crate::version::ProtocolVersion;

/// Create: make a new object of `object_type` with `attributes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRequest {
    pub object_type: ObjectType,
    pub attributes: Vec<Attribute>,
}

impl Payload for CreateRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        Ok(Self {
            object_type: fields.required(Tag::OBJECT_TYPE)?,
            attributes: read_attribute_set(fields, version)?,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push(Tag::OBJECT_TYPE, &self.object_type);
        push_attribute_set(b, &self.attributes, version);
    }
}

/// The new object's identifier. In KMIP 1.x the server may list the attributes it set
/// implicitly; KMIP 2.x has no such field, and they are left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateResponse {
    pub object_type: ObjectType,
    pub unique_identifier: String,
    pub attributes: Vec<Attribute>,
}

impl Payload for CreateResponse {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        Ok(Self {
            object_type: fields.required(Tag::OBJECT_TYPE)?,
            unique_identifier: fields.required(Tag::UNIQUE_IDENTIFIER)?,
            attributes: read_implicit_attributes(fields, version)?,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push(Tag::OBJECT_TYPE, &self.object_type);
        b.push(Tag::UNIQUE_IDENTIFIER, &self.unique_identifier);
        push_implicit_attributes(b, &self.attributes, version);
    }
}

/// Create Key Pair (KMIP 1.4 §4.2, 2.1 §6.1.4): make a private and a public key together, with
/// the attributes common to both and those of each half. KMIP 1.x carries the three sets as
/// Template-Attributes, 2.x as Attributes structures; each set is optional. The 2.x Protection
/// Storage Masks are not supported and are refused on decode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateKeyPairRequest {
    pub common_attributes: Vec<Attribute>,
    pub private_key_attributes: Vec<Attribute>,
    pub public_key_attributes: Vec<Attribute>,
}

/// The tags of Create Key Pair's three attribute sets in `version`: common, private, public.
fn key_pair_tags(version: ProtocolVersion) -> [Tag; 3] {
    if version.uses_tagged_attributes() {
        [
            Tag::COMMON_ATTRIBUTES,
            Tag::PRIVATE_KEY_ATTRIBUTES,
            Tag::PUBLIC_KEY_ATTRIBUTES,
        ]
    } else {
        [
            Tag::COMMON_TEMPLATE_ATTRIBUTE,
            Tag::PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
            Tag::PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
        ]
    }
}

impl Payload for CreateKeyPairRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let [common, private, public] = key_pair_tags(version);
        let mut set = |tag| match fields.next_item(tag) {
            Some(item) if version.uses_tagged_attributes() => read_tagged(item),
            Some(item) => read_template_attribute(item),
            None => Ok(Vec::new()),
        };
        Ok(Self {
            common_attributes: set(common)?,
            private_key_attributes: set(private)?,
            public_key_attributes: set(public)?,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        let sets = [
            &self.common_attributes,
            &self.private_key_attributes,
            &self.public_key_attributes,
        ];
        for (tag, attributes) in key_pair_tags(version).into_iter().zip(sets) {
            if attributes.is_empty() {
                continue;
            }
            if version.uses_tagged_attributes() {
                b.push_item(tagged(attributes, version, tag));
            } else {
                let mut item = template_attribute(attributes, version);
                item.tag = tag;
                b.push_item(item);
            }
        }
    }
}

kmip_struct! {
    /// The identifiers of the two keys Create Key Pair made. (KMIP 1.x lets a server list the
    /// attributes it set implicitly on each; Krypton's servers list none.)
    pub struct CreateKeyPairResponse {
        pub private_key_unique_identifier: required String => PRIVATE_KEY_UNIQUE_IDENTIFIER,
        pub public_key_unique_identifier: required String => PUBLIC_KEY_UNIQUE_IDENTIFIER,
    }
}

/// Register: store `object`, supplied by the client, with `attributes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterRequest {
    pub attributes: Vec<Attribute>,
    pub object: ManagedObject,
}

impl RegisterRequest {
    /// The type of the object being registered.
    #[must_use]
    pub fn object_type(&self) -> ObjectType {
        self.object.object_type()
    }
}

impl Payload for RegisterRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let object_type = fields.required(Tag::OBJECT_TYPE)?;
        let attributes = read_attribute_set(fields, version)?;
        let object = ManagedObject::read(fields, object_type)?;
        Ok(Self { attributes, object })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push(Tag::OBJECT_TYPE, &self.object_type());
        push_attribute_set(b, &self.attributes, version);
        b.push_item(self.object.to_item());
    }
}

/// Declares a response that names the object the operation made and, in KMIP 1.x, the
/// attributes the server set implicitly: Register's and Re-key's.
macro_rules! made_object_response {
    ($($(#[$doc:meta])* $name:ident,)+) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Debug, PartialEq, Eq)]
            pub struct $name {
                pub unique_identifier: String,
                pub attributes: Vec<Attribute>,
            }

            impl Payload for $name {
                fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
                    Ok(Self {
                        unique_identifier: fields.required(Tag::UNIQUE_IDENTIFIER)?,
                        attributes: read_implicit_attributes(fields, version)?,
                    })
                }

                fn write(&self, b: &mut Builder, version: ProtocolVersion) {
                    b.push(Tag::UNIQUE_IDENTIFIER, &self.unique_identifier);
                    push_implicit_attributes(b, &self.attributes, version);
                }
            }
        )+
    };
}

made_object_response! {
    /// The registered object's identifier, and in KMIP 1.x the attributes the server set.
    RegisterResponse,
    /// The new key's identifier, and in KMIP 1.x the attributes the server set implicitly.
    RekeyResponse,
    /// The derived object's identifier, and in KMIP 1.x the attributes the server set
    /// implicitly.
    DeriveKeyResponse,
}

/// Derive Key (KMIP 1.4 §4.6): a new `object_type` object made by
/// `derivation_method` from the objects `unique_identifiers` name, with `attributes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeriveKeyRequest {
    pub object_type: ObjectType,
    /// At least one: the base object first; KMIP lets a second name a Secret Data object whose
    /// value is the Derivation Data. Never the ID Placeholder, which KMIP rules out here.
    pub unique_identifiers: Vec<UniqueIdentifier>,
    pub derivation_method: DerivationMethod,
    /// Boxed: the largest field of any request, kept off the stack of every other one.
    pub derivation_parameters: Box<DerivationParameters>,
    pub attributes: Vec<Attribute>,
}

impl Payload for DeriveKeyRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let object_type = fields.required(Tag::OBJECT_TYPE)?;
        let unique_identifiers = fields.repeated(Tag::UNIQUE_IDENTIFIER)?;
        if unique_identifiers.is_empty() {
            return Err(Error::MissingField {
                parent: fields.parent(),
                field: Tag::UNIQUE_IDENTIFIER,
            });
        }
        Ok(Self {
            object_type,
            unique_identifiers,
            derivation_method: fields.required(Tag::DERIVATION_METHOD)?,
            derivation_parameters: Box::new(fields.required(Tag::DERIVATION_PARAMETERS)?),
            attributes: read_attribute_set(fields, version)?,
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push(Tag::OBJECT_TYPE, &self.object_type);
        b.push_all(Tag::UNIQUE_IDENTIFIER, &self.unique_identifiers);
        b.push(Tag::DERIVATION_METHOD, &self.derivation_method);
        b.push(Tag::DERIVATION_PARAMETERS, &*self.derivation_parameters);
        push_attribute_set(b, &self.attributes, version);
    }
}

kmip_struct! {
    /// What a Derive Key method takes besides the base key: each field as the method needs it.
    /// The Derivation Data may be what the client keeps secret (Encrypt makes the key from it),
    /// so it is wiped on drop.
    #[derive(Default)]
    pub struct DerivationParameters {
        pub cryptographic_parameters: optional CryptographicParameters => CRYPTOGRAPHIC_PARAMETERS,
        pub initialization_vector: optional Vec<u8> => INITIALIZATION_VECTOR,
        pub derivation_data: optional SecretBytes => DERIVATION_DATA,
        pub salt: optional Vec<u8> => SALT,
        pub iteration_count: optional i32 => ITERATION_COUNT,
    }
}
structure_field!(DerivationParameters);

/// Re-key: a new symmetric key replacing the key `unique_identifier` (without one, the object
/// the previous batch item produced), with `attributes` for the new key. `offset`, in seconds,
/// puts the new key's Activation Date that long after its Initial Date.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RekeyRequest {
    pub unique_identifier: Option<UniqueIdentifier>,
    pub offset: Option<u32>,
    pub attributes: Vec<Attribute>,
}

impl Payload for RekeyRequest {
    fn read(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let unique_identifier = fields.optional(Tag::UNIQUE_IDENTIFIER)?;
        let offset = fields.optional(Tag::OFFSET)?;
        // Optional here, unlike in Create: a re-key may ask for nothing new.
        let attributes = if version.uses_tagged_attributes() {
            // PyKMIP 0.11 writes its 1.x Template-Attribute into a 2.x Re-key too: read as the
            // Attributes it stands for (the same checks follow), so that it re-keys at 2.0.
            match fields.next_item(Tag::ATTRIBUTES) {
                Some(item) => Some(read_tagged(item)),
                None => fields
                    .next_item(Tag::TEMPLATE_ATTRIBUTE)
                    .map(read_template_attribute),
            }
        } else {
            fields
                .next_item(Tag::TEMPLATE_ATTRIBUTE)
                .map(read_template_attribute)
        };
        Ok(Self {
            unique_identifier,
            offset,
            attributes: attributes.transpose()?.unwrap_or_default(),
        })
    }

    fn write(&self, b: &mut Builder, version: ProtocolVersion) {
        if let Some(id) = &self.unique_identifier {
            b.push(Tag::UNIQUE_IDENTIFIER, id);
        }
        if let Some(offset) = &self.offset {
            b.push(Tag::OFFSET, offset);
        }
        if !self.attributes.is_empty() {
            push_attribute_set(b, &self.attributes, version);
        }
    }
}

/// Reads the optional KMIP 1.x `Template-Attribute` of a Create, Register or Re-key response.
fn read_implicit_attributes(
    fields: &mut Fields<'_>,
    version: ProtocolVersion,
) -> Result<Vec<Attribute>, Error> {
    match fields.next_item(Tag::TEMPLATE_ATTRIBUTE) {
        Some(item) if !version.uses_tagged_attributes() => read_template_attribute(item),
        Some(item) => Err(Error::UnexpectedField {
            parent: fields.parent(),
            field: item.tag,
        }),
        None => Ok(Vec::new()),
    }
}

/// Writes the KMIP 1.x `Template-Attribute` of a Create, Register or Re-key response, if there is
/// anything to say in it.
fn push_implicit_attributes(b: &mut Builder, attributes: &[Attribute], version: ProtocolVersion) {
    if !version.uses_tagged_attributes() && attributes.iter().any(|a| a.exists_in(version)) {
        b.push_item(template_attribute(attributes, version));
    }
}

kmip_struct! {
    /// Activate: make an object usable. Without an identifier, the object the previous batch
    /// item produced.
    #[derive(Default)]
    pub struct ActivateRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
    }
}

kmip_struct! {
    pub struct ActivateResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
    }
}

kmip_struct! {
    /// Revoke: withdraw an object from use, for `revocation_reason`.
    pub struct RevokeRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub revocation_reason: required RevocationReason => REVOCATION_REASON,
        pub compromise_occurrence_date: optional DateTime => COMPROMISE_OCCURRENCE_DATE,
    }
}

kmip_struct! {
    pub struct RevokeResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
    }
}

kmip_struct! {
    /// Destroy: erase an object's key material.
    #[derive(Default)]
    pub struct DestroyRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
    }
}

kmip_struct! {
    pub struct DestroyResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
    }
}

struct_payload!(
    CreateKeyPairResponse,
    ActivateRequest,
    ActivateResponse,
    RevokeRequest,
    RevokeResponse,
    DestroyRequest,
    DestroyResponse,
);
