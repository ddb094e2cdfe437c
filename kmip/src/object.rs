//! The managed objects Krypton stores: Symmetric Key, Public Key, Private Key, Secret Data,
//! Opaque Object and Certificate (its DER as a byte string), with the Key Block that carries
//! key material (KMIP 1.4 §2.1.3–2.1.7 and §2.2, 2.1 §2.3 and §3). Public and private keys
//! carry their material as a DER byte string (the PKCS#1, PKCS#8, SubjectPublicKeyInfo and EC
//! Private Key formats) or as a Transparent RSA or EC structure ([`crate::transparent`]).
//!
//! Key material is held in [`SecretBytes`] and [`crate::SecretInteger`]: wiped on drop, never
//! printed. A wrapped key block (one with [`KeyWrappingData`]) holds the wrapped bytes as its
//! material: of the bare Key Material (Encoding Option *No Encoding*) or of the TTLV-encoded
//! Key Value (*TTLV Encoding*, KMIP's default), which [`KeyMaterial::key_value_ttlv`] and
//! [`KeyMaterial::from_key_value_ttlv`] make and read. Attributes inside a Key Value,
//! Certificate Requests and PGP Keys are refused on decode: the appliance neither stores nor
//! returns them. The Transparent DSA and DH structures are refused with *Key Format Type
//! Not Supported* ([`Error::NotSupported`]), so a client learns which of its choices to change.

use crate::enums::EncodingOption;
use crate::enums::{
    CertificateType, CryptographicAlgorithm, KeyCompressionType, KeyFormatType, ObjectType,
    ResultReason, SecretDataType,
};
use crate::error::Error;
use crate::key_wrapping::KeyWrappingData;
use crate::secret::SecretBytes;
use crate::structure::{
    Builder, FieldValue, Fields, kmip_struct, read_structure, write_structure, wrong_type,
};
use crate::transparent::{
    TransparentEcPrivateKey, TransparentEcPublicKey, TransparentRsaPrivateKey,
    TransparentRsaPublicKey,
};
use crate::ttlv::{Item, ItemType, Tag, Value};
use crate::version::ProtocolVersion;

/// The key material inside a Key Value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMaterial {
    /// The key as a byte string: the Raw and Opaque key formats, and the PKCS formats.
    Bytes(SecretBytes),
    /// A `Transparent Symmetric Key` structure holding the key bytes.
    TransparentSymmetricKey(SecretBytes),
    /// A `Transparent RSA Public Key` structure.
    TransparentRsaPublicKey(Box<TransparentRsaPublicKey>),
    /// A `Transparent RSA Private Key` structure.
    TransparentRsaPrivateKey(Box<TransparentRsaPrivateKey>),
    /// A `Transparent EC Public Key` structure, or one of the 1.x ECDSA, ECDH and ECMQV
    /// structures of the same fields (the Key Format Type says which).
    TransparentEcPublicKey(TransparentEcPublicKey),
    /// A `Transparent EC Private Key` structure, or one of the 1.x ECDSA, ECDH and ECMQV
    /// structures of the same fields (the Key Format Type says which).
    TransparentEcPrivateKey(TransparentEcPrivateKey),
}

impl KeyMaterial {
    /// The key bytes of the byte-string forms and of a Transparent Symmetric Key; `None` for
    /// the Transparent public and private key structures, which hold numbers.
    #[must_use]
    pub fn key(&self) -> Option<&SecretBytes> {
        match self {
            Self::Bytes(key) | Self::TransparentSymmetricKey(key) => Some(key),
            Self::TransparentRsaPublicKey(_)
            | Self::TransparentRsaPrivateKey(_)
            | Self::TransparentEcPublicKey(_)
            | Self::TransparentEcPrivateKey(_) => None,
        }
    }

    /// The TTLV encoding of a Key Value holding this material: what a key wrapped with the
    /// Encoding Option *TTLV Encoding* (KMIP's default) wraps.
    ///
    /// # Errors
    /// [`Error::EncodeTooLarge`] for material beyond what a TTLV item can hold.
    pub fn key_value_ttlv(&self) -> Result<SecretBytes, Error> {
        let key_value = write_structure(Tag::KEY_VALUE, |b| b.push_item(self.to_item()));
        let mut bytes = Vec::new();
        crate::encode::encode(&key_value, &mut bytes)?;
        Ok(SecretBytes::new(bytes))
    }

    /// The material of `bytes`, the TTLV encoding of a Key Value (unwrapped: see
    /// [`Self::key_value_ttlv`]), in the form `format` gives it. As in a plain Key Block, a
    /// Key Value carrying attributes is refused.
    ///
    /// # Errors
    /// Any decoding error, as for a message: the bytes are not one Key Value of `format`.
    pub fn from_key_value_ttlv(bytes: &[u8], format: KeyFormatType) -> Result<Self, Error> {
        let item = crate::decode::decode(bytes, &crate::decode::Limits::default())?;
        if item.tag != Tag::KEY_VALUE {
            return Err(Error::UnexpectedTag {
                expected: Tag::KEY_VALUE,
                found: item.tag,
            });
        }
        read_key_value(&item, format)
    }

    fn read(item: &Item, format: KeyFormatType) -> Result<Self, Error> {
        use KeyFormatType as F;
        match format {
            F::TransparentSymmetricKey => read_structure(item, |fields| fields.required(Tag::KEY))
                .map(Self::TransparentSymmetricKey),
            F::TransparentRsaPublicKey => {
                read_structure(item, TransparentRsaPublicKey::read_fields)
                    .map(|key| Self::TransparentRsaPublicKey(Box::new(key)))
            }
            F::TransparentRsaPrivateKey => {
                read_structure(item, TransparentRsaPrivateKey::read_fields)
                    .map(|key| Self::TransparentRsaPrivateKey(Box::new(key)))
            }
            F::TransparentEcdsaPublicKey
            | F::TransparentEcdhPublicKey
            | F::TransparentEcmqvPublicKey
            | F::TransparentEcPublicKey => {
                read_structure(item, TransparentEcPublicKey::read_fields)
                    .map(Self::TransparentEcPublicKey)
            }
            F::TransparentEcdsaPrivateKey
            | F::TransparentEcdhPrivateKey
            | F::TransparentEcmqvPrivateKey
            | F::TransparentEcPrivateKey => {
                read_structure(item, TransparentEcPrivateKey::read_fields)
                    .map(Self::TransparentEcPrivateKey)
            }
            F::TransparentDsaPrivateKey
            | F::TransparentDsaPublicKey
            | F::TransparentDhPrivateKey
            | F::TransparentDhPublicKey => Err(Error::NotSupported {
                tag: Tag::KEY_FORMAT_TYPE,
                reason: ResultReason::KeyFormatTypeNotSupported,
                message: "Transparent DSA and DH key structures are not accepted: the \
                          Transparent structures taken are the symmetric, RSA and EC ones",
            }),
            F::Raw | F::Opaque | F::Pkcs1 | F::Pkcs8 | F::X509 | F::EcPrivateKey | F::Pkcs12 => {
                SecretBytes::read(item).map(Self::Bytes)
            }
        }
    }

    fn to_item(&self) -> Item {
        // Every field of a Transparent structure exists in every version that has the
        // structure, so the newest version's writer serves all of them.
        let latest = ProtocolVersion::V2_1;
        let structure = |write: &dyn Fn(&mut Builder)| write_structure(Tag::KEY_MATERIAL, write);
        match self {
            Self::Bytes(key) => Item {
                tag: Tag::KEY_MATERIAL,
                value: key.value(),
            },
            Self::TransparentSymmetricKey(key) => structure(&|b| b.push(Tag::KEY, key)),
            Self::TransparentRsaPublicKey(key) => structure(&|b| key.write_fields(b, latest)),
            Self::TransparentRsaPrivateKey(key) => structure(&|b| key.write_fields(b, latest)),
            Self::TransparentEcPublicKey(key) => structure(&|b| key.write_fields(b, latest)),
            Self::TransparentEcPrivateKey(key) => structure(&|b| key.write_fields(b, latest)),
        }
    }
}

/// A Key Block: key material, plain or wrapped.
///
/// Decoding guarantees that the material's form matches `key_format_type` (a Transparent
/// structure exactly for its Transparent format). With `key_wrapping_data`, the material is
/// [`KeyMaterial::Bytes`] holding the wrapped bytes: of the key material of `key_format_type`
/// with the Encoding Option *No Encoding*, else of the TTLV-encoded Key Value
/// ([`KeyMaterial::from_key_value_ttlv`]).
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

/// Reads the Key Value of a wrapped key block: the wrapped bytes, as a Byte String (as KMIP
/// writes it) or inside a Key Value structure's Key Material (as PyKMIP and other clients write
/// it). What was wrapped is the bare key material with the Encoding Option *No Encoding*, which
/// a Transparent structure cannot be, and otherwise (TTLV Encoding, KMIP's default) the TTLV
/// encoding of the Key Value ([`KeyMaterial::from_key_value_ttlv`]).
fn read_wrapped_key_value(
    item: &Item,
    format: KeyFormatType,
    wrapping: &KeyWrappingData,
) -> Result<KeyMaterial, Error> {
    if wrapping.encoding_option == Some(EncodingOption::NoEncoding) && format.is_transparent() {
        return Err(Error::NotSupported {
            tag: Tag::KEY_FORMAT_TYPE,
            reason: ResultReason::KeyFormatTypeNotSupported,
            message: "wrapped key material without encoding is a byte string: a Transparent \
                      key structure is wrapped TTLV-encoded",
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
