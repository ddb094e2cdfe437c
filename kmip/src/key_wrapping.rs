//! Key wrapping (KMIP 1.4 §2.1.5–2.1.8, 2.1 §2.1.9–2.1.12): the Key Wrapping Specification a
//! Get names to have a key returned wrapped, and the Key Wrapping Data a Key Block carries
//! when its material is wrapped. Both are modelled whole, as the same structures in 1.x and
//! 2.x; what a server does with them (which methods and encodings it takes) is its own
//! decision.

use crate::attribute_values::CryptographicParameters;
use crate::enums::{EncodingOption, WrappingMethod};
use crate::error::Error;
use crate::structure::{FieldValue, kmip_struct, structure_field};
use crate::ttlv::{Item, Value};

/// The Cryptographic Parameters of a key wrapping structure, boxed: they travel inside Get
/// requests and key blocks, which they would otherwise more than double.
impl FieldValue for Box<CryptographicParameters> {
    fn read(item: &Item) -> Result<Self, Error> {
        CryptographicParameters::read(item).map(Box::new)
    }

    fn value(&self) -> Value {
        (**self).value()
    }
}

kmip_struct! {
    /// The key that encrypts (or decrypts) wrapped key material, and how.
    pub struct EncryptionKeyInformation {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
        pub cryptographic_parameters: optional Box<CryptographicParameters>
            => CRYPTOGRAPHIC_PARAMETERS,
    }
}
structure_field!(EncryptionKeyInformation);

kmip_struct! {
    /// The key that MACs or signs wrapped key material, and how.
    pub struct MacSignatureKeyInformation {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
        pub cryptographic_parameters: optional Box<CryptographicParameters>
            => CRYPTOGRAPHIC_PARAMETERS,
    }
}
structure_field!(MacSignatureKeyInformation);

kmip_struct! {
    /// How a Get asks for its key to be wrapped. Without an Encoding Option KMIP means TTLV
    /// encoding: the wrapped Key Value structure, not the bare key material.
    pub struct KeyWrappingSpecification {
        pub wrapping_method: required WrappingMethod => WRAPPING_METHOD,
        pub encryption_key_information: optional EncryptionKeyInformation
            => ENCRYPTION_KEY_INFORMATION,
        pub mac_signature_key_information: optional MacSignatureKeyInformation
            => MAC_SIGNATURE_KEY_INFORMATION,
        pub attribute_names: repeated String => ATTRIBUTE_NAME,
        pub encoding_option: optional EncodingOption => ENCODING_OPTION,
    }
}
structure_field!(KeyWrappingSpecification);

kmip_struct! {
    /// How the material of a Key Block was wrapped.
    pub struct KeyWrappingData {
        pub wrapping_method: required WrappingMethod => WRAPPING_METHOD,
        pub encryption_key_information: optional EncryptionKeyInformation
            => ENCRYPTION_KEY_INFORMATION,
        pub mac_signature_key_information: optional MacSignatureKeyInformation
            => MAC_SIGNATURE_KEY_INFORMATION,
        pub mac_signature: optional Vec<u8> => MAC_SIGNATURE,
        pub iv_counter_nonce: optional Vec<u8> => IV_COUNTER_NONCE,
        pub encoding_option: optional EncodingOption => ENCODING_OPTION,
    }
}
structure_field!(KeyWrappingData);
