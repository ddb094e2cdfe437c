//! Encrypt and Decrypt with a key the server holds (KMIP 1.4 §4.29, §4.30). Streaming
//! (Correlation Value, Init and Final Indicators) is not supported: requests using it are
//! refused on decode. Plaintext is held in [`SecretBytes`].

use crate::attribute_values::CryptographicParameters;
use crate::identifier::UniqueIdentifier;
use crate::operations::struct_payload;
use crate::secret::SecretBytes;
use crate::structure::kmip_struct;

kmip_struct! {
    pub struct EncryptRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub cryptographic_parameters: optional CryptographicParameters => CRYPTOGRAPHIC_PARAMETERS,
        pub data: required SecretBytes => DATA,
        pub iv_counter_nonce: optional Vec<u8> => IV_COUNTER_NONCE,
        pub authenticated_encryption_additional_data: optional Vec<u8>
            => AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA since V1_4,
    }
}

kmip_struct! {
    pub struct EncryptResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
        pub data: required Vec<u8> => DATA,
        /// The IV, counter or nonce the server generated, if the client gave none.
        pub iv_counter_nonce: optional Vec<u8> => IV_COUNTER_NONCE,
        pub authenticated_encryption_tag: optional Vec<u8>
            => AUTHENTICATED_ENCRYPTION_TAG since V1_4,
    }
}

kmip_struct! {
    pub struct DecryptRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub cryptographic_parameters: optional CryptographicParameters => CRYPTOGRAPHIC_PARAMETERS,
        pub data: required Vec<u8> => DATA,
        pub iv_counter_nonce: optional Vec<u8> => IV_COUNTER_NONCE,
        pub authenticated_encryption_additional_data: optional Vec<u8>
            => AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA since V1_4,
        pub authenticated_encryption_tag: optional Vec<u8>
            => AUTHENTICATED_ENCRYPTION_TAG since V1_4,
    }
}

kmip_struct! {
    pub struct DecryptResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
        pub data: required SecretBytes => DATA,
    }
}

struct_payload!(
    EncryptRequest,
    EncryptResponse,
    DecryptRequest,
    DecryptResponse
);
