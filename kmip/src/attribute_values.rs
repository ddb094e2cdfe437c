//! The structured values of attributes: Name, Link, Digest, Revocation Reason, Cryptographic
//! Parameters (KMIP 1.4 §3, 2.1 §4).

use crate::enums::{
    BlockCipherMode, CryptographicAlgorithm, DigitalSignatureAlgorithm, HashingAlgorithm,
    KeyFormatType, KeyRoleType, LinkType, MaskGenerator, NameType, PaddingMethod,
    RevocationReasonCode,
};
use crate::structure::{kmip_struct, structure_field};

kmip_struct! {
    /// A name of a managed object (KMIP 1.4 §3.2).
    pub struct Name {
        pub value: required String => NAME_VALUE,
        pub name_type: required NameType => NAME_TYPE,
    }
}
structure_field!(Name);

impl Name {
    /// A name of type *Uninterpreted Text String*, the type clients use for labels.
    #[must_use]
    pub fn text(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            name_type: NameType::UninterpretedTextString,
        }
    }
}

kmip_struct! {
    /// A link from one managed object to another (KMIP 1.4 §3.35).
    pub struct Link {
        pub link_type: required LinkType => LINK_TYPE,
        pub linked_object_identifier: required String => LINKED_OBJECT_IDENTIFIER,
    }
}
structure_field!(Link);

kmip_struct! {
    /// A digest of an object's key material (KMIP 1.4 §3.17). The value is optional from
    /// KMIP 1.1 on; the key format type arrived in 1.1.
    pub struct Digest {
        pub hashing_algorithm: required HashingAlgorithm => HASHING_ALGORITHM,
        pub digest_value: optional Vec<u8> => DIGEST_VALUE,
        pub key_format_type: optional KeyFormatType => KEY_FORMAT_TYPE,
    }
}
structure_field!(Digest);

kmip_struct! {
    /// Why an object was revoked (KMIP 1.4 §3.31).
    pub struct RevocationReason {
        pub code: required RevocationReasonCode => REVOCATION_REASON_CODE,
        pub message: optional String => REVOCATION_MESSAGE,
    }
}
structure_field!(RevocationReason);

kmip_struct! {
    /// Parameters of a cryptographic operation (KMIP 1.4 §3.6). Every field is optional;
    /// fields from the digital signature algorithm on arrived in KMIP 1.2, from the salt length
    /// on in 1.4.
    #[derive(Default)]
    pub struct CryptographicParameters {
        pub block_cipher_mode: optional BlockCipherMode => BLOCK_CIPHER_MODE,
        pub padding_method: optional PaddingMethod => PADDING_METHOD,
        pub hashing_algorithm: optional HashingAlgorithm => HASHING_ALGORITHM,
        pub key_role_type: optional KeyRoleType => KEY_ROLE_TYPE,
        pub digital_signature_algorithm: optional DigitalSignatureAlgorithm
            => DIGITAL_SIGNATURE_ALGORITHM,
        pub cryptographic_algorithm: optional CryptographicAlgorithm => CRYPTOGRAPHIC_ALGORITHM,
        pub random_iv: optional bool => RANDOM_IV,
        pub iv_length: optional i32 => IV_LENGTH,
        pub tag_length: optional i32 => TAG_LENGTH,
        pub fixed_field_length: optional i32 => FIXED_FIELD_LENGTH,
        pub invocation_field_length: optional i32 => INVOCATION_FIELD_LENGTH,
        pub counter_length: optional i32 => COUNTER_LENGTH,
        pub initial_counter_value: optional i32 => INITIAL_COUNTER_VALUE,
        pub salt_length: optional i32 => SALT_LENGTH,
        pub mask_generator: optional MaskGenerator => MASK_GENERATOR,
        pub mask_generator_hashing_algorithm: optional HashingAlgorithm
            => MASK_GENERATOR_HASHING_ALGORITHM,
        pub p_source: optional Vec<u8> => P_SOURCE,
        pub trailer_field: optional i32 => TRAILER_FIELD,
    }
}
structure_field!(CryptographicParameters);
