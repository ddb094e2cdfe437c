//! The managed objects Krypton stores: Symmetric Key, Public Key, Private Key, Secret Data,
//! Opaque Object and Certificate (its DER as a byte string), with the Key Block that carries
//! key material (KMIP 1.4 §2.1.3–2.1.7 and §2.2, 2.1 §2.3 and §3). Public and private keys
//! carry their material as a DER byte string (the PKCS#1, PKCS#8, SubjectPublicKeyInfo and EC
//! Private Key formats).
//!
//! Key material is held in [`SecretBytes`]: wiped on drop, never printed. A wrapped key block
//! (one with [`KeyWrappingData`]) holds the wrapped bytes of the Key Material as its material,
//! with the Encoding Option *No Encoding* only; a wrapped TTLV-encoded Key Value is refused
//! with *Encoding Option Error*. Attributes inside a Key Value, the Transparent asymmetric key
//! structures, Certificate Requests and PGP Keys are refused on decode: the appliance neither
//! stores nor returns them. The Transparent asymmetric formats are refused with *Key Format
//! Type Not Supported* ([`Error::NotSupported`]), so a client learns which of its choices to
//! change.

use crate::enums::EncodingOption;
use crate::enums::{
    CertificateType, CryptographicAlgorithm, KeyCompressionType, KeyFormatType, ObjectType,
    ResultReason, SecretDataType,
};
use crate::error::Error;
use crate::key_wrapping::KeyWrappingData;
use crate::secret::SecretBytes;
use crate::structure::{Builder, FieldValue, Fields, kmip_struct, read_structure, wrong_type};
use crate::ttlv::{Item, ItemType, Tag, Value};
use crate::version::ProtocolVersion;

/// The key material inside a Key Value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMaterial {
    /// The key as a byte string: the Raw and Opaque key formats, and the PKCS formats.
    Bytes(SecretBytes),
    /// A `Transparent Symmetric Key` structure holding the key bytes.
    TransparentSymmetricKey(SecretBytes),
}

impl KeyMaterial {
    /// The key bytes, whichever the form.
    #[must_use]
    pub fn key(&self) -> &SecretBytes {
        match self {
            Self::Bytes(key) | Self::TransparentSymmetricKey(key) => key,
        }
    }

    fn read(item: &Item, format: KeyFormatType) -> Result<Self, Error> {
        if is_transparent_asymmetric(format) {
            return Err(Error::NotSupported {
                tag: Tag::KEY_FORMAT_TYPE,
                reason: ResultReason::KeyFormatTypeNotSupported,
                message: "Transparent public and private key structures are not accepted: \
                          give the key as PKCS#1, PKCS#8, X.509 (SubjectPublicKeyInfo) or EC \
                          Private Key DER",
            });
        }
        if format == KeyFormatType::TransparentSymmetricKey {
            read_structure(item, |fields| fields.required(Tag::KEY))
                .map(Self::TransparentSymmetricKey)
        } else {
            SecretBytes::read(item).map(Self::Bytes)
        }
    }

    fn to_item(&self) -> Item {
        match self {
            Self::Bytes(key) => Item {
                tag: Tag::KEY_MATERIAL,
                value: key.value(),
            },
            Self::TransparentSymmetricKey(key) => {
                let mut b = Builder::new();
                b.push(Tag::KEY, key);
                b.finish(Tag::KEY_MATERIAL)
            }
        }
    }
}

/// A Key Block: key material, plain or wrapped.
///
/// Decoding guarantees that the material's form matches `key_format_type`
/// ([`KeyMaterial::TransparentSymmetricKey`] exactly for the Transparent Symmetric Key format).
/// With `key_wrapping_data`, the material is [`KeyMaterial::Bytes`] holding the wrapped bytes
/// of the key material of `key_format_type` (Encoding Option *No Encoding*).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBlock {
    pub key_format_type: KeyFormatType,
    pub key_compression_type: Option<KeyCompressionType>,
    pub key_material: KeyMaterial,
    pub cryptographic_algorithm: Option<CryptographicAlgorithm>,
    pub cryptographic_length: Option<i32>,
    pub key_wrapping_data: Option<KeyWrappingData>,
}

impl KeyBlock {
    /// A Raw key block for symmetric key bytes of algorithm `algorithm`; the length is in bits.
    #[must_use]
    pub fn raw(algorithm: CryptographicAlgorithm, key: SecretBytes) -> Self {
        let bits = i32::try_from(key.len().saturating_mul(8)).unwrap_or(i32::MAX);
        Self {
            key_format_type: KeyFormatType::Raw,
            key_compression_type: None,
            key_material: KeyMaterial::Bytes(key),
            cryptographic_algorithm: Some(algorithm),
            cryptographic_length: Some(bits),
            key_wrapping_data: None,
        }
    }
}

impl FieldValue for KeyBlock {
    fn read(item: &Item) -> Result<Self, Error> {
        let mut fields = Fields::new(item)?;
        let key_format_type = fields.required(Tag::KEY_FORMAT_TYPE)?;
        let key_compression_type = fields.optional(Tag::KEY_COMPRESSION_TYPE)?;
        let key_value = fields.required_item(Tag::KEY_VALUE)?;
        let cryptographic_algorithm = fields.optional(Tag::CRYPTOGRAPHIC_ALGORITHM)?;
        let cryptographic_length = fields.optional(Tag::CRYPTOGRAPHIC_LENGTH)?;
        let key_wrapping_data: Option<KeyWrappingData> = fields.optional(Tag::KEY_WRAPPING_DATA)?;
        fields.finish()?;
        let key_material = match &key_wrapping_data {
            None => read_key_value(key_value, key_format_type)?,
            Some(wrapping) => read_wrapped_key_value(key_value, key_format_type, wrapping)?,
        };
        Ok(Self {
            key_format_type,
            key_compression_type,
            key_material,
            cryptographic_algorithm,
            cryptographic_length,
            key_wrapping_data,
        })
    }

    fn value(&self) -> Value {
        let mut key_value = Builder::new();
        key_value.push_item(self.key_material.to_item());
        let mut b = Builder::new();
        b.push(Tag::KEY_FORMAT_TYPE, &self.key_format_type);
        b.push_opt(
            Tag::KEY_COMPRESSION_TYPE,
            self.key_compression_type.as_ref(),
        );
        b.push_item(key_value.finish(Tag::KEY_VALUE));
        b.push_opt(
            Tag::CRYPTOGRAPHIC_ALGORITHM,
            self.cryptographic_algorithm.as_ref(),
        );
        b.push_opt(
            Tag::CRYPTOGRAPHIC_LENGTH,
            self.cryptographic_length.as_ref(),
        );
        b.push_opt(Tag::KEY_WRAPPING_DATA, self.key_wrapping_data.as_ref());
        b.into_value()
    }
}

/// Whether `format` is one of the Transparent public or private key structures.
fn is_transparent_asymmetric(format: KeyFormatType) -> bool {
    use KeyFormatType as F;
    matches!(
        format,
        F::TransparentDsaPrivateKey
            | F::TransparentDsaPublicKey
            | F::TransparentRsaPrivateKey
            | F::TransparentRsaPublicKey
            | F::TransparentDhPrivateKey
            | F::TransparentDhPublicKey
            | F::TransparentEcdsaPrivateKey
            | F::TransparentEcdsaPublicKey
            | F::TransparentEcdhPrivateKey
            | F::TransparentEcdhPublicKey
            | F::TransparentEcmqvPrivateKey
            | F::TransparentEcmqvPublicKey
            | F::TransparentEcPrivateKey
            | F::TransparentEcPublicKey
    )
}

/// Reads an unwrapped Key Value: a structure holding only the Key Material. A wrapped key
/// value is a Byte String, refused here as the wrong type.
fn read_key_value(item: &Item, format: KeyFormatType) -> Result<KeyMaterial, Error> {
    if !matches!(item.value, Value::Structure(_)) {
        return Err(wrong_type(item, ItemType::Structure));
    }
    read_structure(item, |fields| {
        KeyMaterial::read(fields.required_item(Tag::KEY_MATERIAL)?, format)
    })
}

/// Reads the Key Value of a wrapped key block: the wrapped bytes of the key material, as a
/// Byte String (as KMIP writes it) or inside a Key Value structure's Key Material (as PyKMIP
/// and other clients write it). Only the bare key material is taken wrapped (Encoding Option
/// *No Encoding*): a wrapped TTLV-encoded Key Value, KMIP's default, is refused.
fn read_wrapped_key_value(
    item: &Item,
    format: KeyFormatType,
    wrapping: &KeyWrappingData,
) -> Result<KeyMaterial, Error> {
    if wrapping.encoding_option != Some(EncodingOption::NoEncoding) {
        return Err(Error::NotSupported {
            tag: Tag::ENCODING_OPTION,
            reason: ResultReason::EncodingOptionError,
            message: "wrapped key material is taken with the Encoding Option No Encoding only: \
                      a wrapped TTLV-encoded Key Value (the default) is not",
        });
    }
    if format == KeyFormatType::TransparentSymmetricKey || is_transparent_asymmetric(format) {
        return Err(Error::NotSupported {
            tag: Tag::KEY_FORMAT_TYPE,
            reason: ResultReason::KeyFormatTypeNotSupported,
            message: "wrapped key material without encoding is a byte string: a Transparent \
                      key structure is not taken wrapped",
        });
    }
    match &item.value {
        Value::ByteString(_) => SecretBytes::read(item).map(KeyMaterial::Bytes),
        _ => read_structure(item, |fields| {
            SecretBytes::read(fields.required_item(Tag::KEY_MATERIAL)?).map(KeyMaterial::Bytes)
        }),
    }
}

/// The type of an Opaque Object's data. KMIP defines no values: every one is a vendor
/// extension, so the raw value is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpaqueDataType(pub u32);

impl FieldValue for OpaqueDataType {
    fn read(item: &Item) -> Result<Self, Error> {
        match item.value {
            Value::Enumeration(value) => Ok(Self(value)),
            _ => Err(wrong_type(item, ItemType::Enumeration)),
        }
    }

    fn value(&self) -> Value {
        Value::Enumeration(self.0)
    }
}

kmip_struct! {
    /// A symmetric key.
    pub struct SymmetricKey {
        pub key_block: required KeyBlock => KEY_BLOCK,
    }
}

kmip_struct! {
    /// The public half of a key pair.
    pub struct PublicKey {
        pub key_block: required KeyBlock => KEY_BLOCK,
    }
}

kmip_struct! {
    /// The private half of a key pair.
    pub struct PrivateKey {
        pub key_block: required KeyBlock => KEY_BLOCK,
    }
}

kmip_struct! {
    /// A secret that is not a key: a password or a seed, of any length.
    pub struct SecretData {
        pub secret_data_type: required SecretDataType => SECRET_DATA_TYPE,
        pub key_block: required KeyBlock => KEY_BLOCK,
    }
}

kmip_struct! {
    /// A certificate: its type and its encoding (DER for X.509). Not secret, so held as plain
    /// bytes.
    pub struct Certificate {
        pub certificate_type: required CertificateType => CERTIFICATE_TYPE,
        pub certificate_value: required Vec<u8> => CERTIFICATE_VALUE,
    }
}

kmip_struct! {
    /// Bytes the server stores without interpreting.
    pub struct OpaqueObject {
        pub opaque_data_type: required OpaqueDataType => OPAQUE_DATA_TYPE,
        pub opaque_data_value: required SecretBytes => OPAQUE_DATA_VALUE,
    }
}

/// A managed object the appliance stores.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManagedObject {
    SymmetricKey(SymmetricKey),
    PublicKey(PublicKey),
    PrivateKey(PrivateKey),
    SecretData(SecretData),
    OpaqueObject(OpaqueObject),
    Certificate(Certificate),
}

impl ManagedObject {
    #[must_use]
    pub fn object_type(&self) -> ObjectType {
        match self {
            Self::SymmetricKey(_) => ObjectType::SymmetricKey,
            Self::PublicKey(_) => ObjectType::PublicKey,
            Self::PrivateKey(_) => ObjectType::PrivateKey,
            Self::SecretData(_) => ObjectType::SecretData,
            Self::OpaqueObject(_) => ObjectType::OpaqueData,
            Self::Certificate(_) => ObjectType::Certificate,
        }
    }

    /// Reads the object a payload announced as `object_type`.
    pub(crate) fn read(fields: &mut Fields<'_>, object_type: ObjectType) -> Result<Self, Error> {
        match object_type {
            ObjectType::SymmetricKey => read_structure(
                fields.required_item(Tag::SYMMETRIC_KEY)?,
                SymmetricKey::read_fields,
            )
            .map(Self::SymmetricKey),
            ObjectType::PublicKey => read_structure(
                fields.required_item(Tag::PUBLIC_KEY)?,
                PublicKey::read_fields,
            )
            .map(Self::PublicKey),
            ObjectType::PrivateKey => read_structure(
                fields.required_item(Tag::PRIVATE_KEY)?,
                PrivateKey::read_fields,
            )
            .map(Self::PrivateKey),
            ObjectType::SecretData => read_structure(
                fields.required_item(Tag::SECRET_DATA)?,
                SecretData::read_fields,
            )
            .map(Self::SecretData),
            ObjectType::OpaqueData => read_structure(
                fields.required_item(Tag::OPAQUE_OBJECT)?,
                OpaqueObject::read_fields,
            )
            .map(Self::OpaqueObject),
            ObjectType::Certificate => read_structure(
                fields.required_item(Tag::CERTIFICATE)?,
                Certificate::read_fields,
            )
            .map(Self::Certificate),
            _ => Err(Error::InvalidValue {
                tag: Tag::OBJECT_TYPE,
                reason: "object type not supported",
            }),
        }
    }

    pub(crate) fn to_item(&self) -> Item {
        // Objects are written whole: they hold no field that depends on the version.
        let latest = ProtocolVersion::V2_1;
        let mut b = Builder::new();
        let tag = match self {
            Self::SymmetricKey(key) => {
                key.write_fields(&mut b, latest);
                Tag::SYMMETRIC_KEY
            }
            Self::PublicKey(key) => {
                key.write_fields(&mut b, latest);
                Tag::PUBLIC_KEY
            }
            Self::PrivateKey(key) => {
                key.write_fields(&mut b, latest);
                Tag::PRIVATE_KEY
            }
            Self::SecretData(secret) => {
                secret.write_fields(&mut b, latest);
                Tag::SECRET_DATA
            }
            Self::OpaqueObject(opaque) => {
                opaque.write_fields(&mut b, latest);
                Tag::OPAQUE_OBJECT
            }
            Self::Certificate(certificate) => {
                certificate.write_fields(&mut b, latest);
                Tag::CERTIFICATE
            }
        };
        b.finish(tag)
    }
}
