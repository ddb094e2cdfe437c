//! Encrypt and Decrypt (KMIP 1.4 §4.29, §4.30), Sign and Signature Verify (§4.31, §4.32), MAC
//! and MAC Verify (§4.33, §4.34) with a key the server holds, and RNG Retrieve (§4.35).
//! Streaming (Correlation Value, Init and Final Indicators) and KMIP 2.x's Digested Data are not
//! supported: requests using them are refused on decode. Plaintext, the data a MAC or a
//! signature is made over and random bytes are held in [`SecretBytes`]. Also Krypton's two vendor
//! extensions between gateway and core: Rewrap and Rewrap Report.

use crate::attribute_values::CryptographicParameters;
use crate::datetime::DateTime;
use crate::enums::ValidityIndicator;
use crate::identifier::UniqueIdentifier;
use crate::operations::struct_payload;
use crate::secret::SecretBytes;
use crate::structure::{kmip_struct, structure_field};

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

kmip_struct! {
    pub struct SignRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub cryptographic_parameters: optional CryptographicParameters => CRYPTOGRAPHIC_PARAMETERS,
        pub data: required SecretBytes => DATA,
    }
}

kmip_struct! {
    pub struct SignResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
        pub signature_data: required Vec<u8> => SIGNATURE_DATA,
    }
}

kmip_struct! {
    pub struct SignatureVerifyRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub cryptographic_parameters: optional CryptographicParameters => CRYPTOGRAPHIC_PARAMETERS,
        pub data: required SecretBytes => DATA,
        pub signature_data: required Vec<u8> => SIGNATURE_DATA,
    }
}

kmip_struct! {
    pub struct SignatureVerifyResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
        pub validity_indicator: required ValidityIndicator => VALIDITY_INDICATOR,
    }
}

kmip_struct! {
    pub struct MacRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub cryptographic_parameters: optional CryptographicParameters => CRYPTOGRAPHIC_PARAMETERS,
        pub data: required SecretBytes => DATA,
    }
}

kmip_struct! {
    pub struct MacResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
        pub mac_data: required Vec<u8> => MAC_DATA,
    }
}

kmip_struct! {
    pub struct MacVerifyRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub cryptographic_parameters: optional CryptographicParameters => CRYPTOGRAPHIC_PARAMETERS,
        pub data: required SecretBytes => DATA,
        pub mac_data: required Vec<u8> => MAC_DATA,
    }
}

kmip_struct! {
    pub struct MacVerifyResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
        pub validity_indicator: required ValidityIndicator => VALIDITY_INDICATOR,
    }
}

kmip_struct! {
    pub struct RngRetrieveRequest {
        /// How many random bytes.
        pub data_length: required i32 => DATA_LENGTH,
    }
}

kmip_struct! {
    pub struct RngRetrieveResponse {
        pub data: required SecretBytes => DATA,
    }
}

kmip_struct! {
    /// Krypton's vendor extension ([`Operation::Rewrap`](crate::Operation::Rewrap)): the
    /// wrapped blob of a data key and the Authenticated Encryption Additional Data it is bound
    /// to, under the service key named by the Unique Identifier. The server unwraps it and
    /// wraps the key again under the service key's active version, with the same additional
    /// data; a blob already under that version comes back unchanged. The data key itself
    /// never crosses the wire.
    pub struct RewrapRequest {
        pub unique_identifier: optional UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub data: required Vec<u8> => DATA,
        pub authenticated_encryption_additional_data: optional Vec<u8>
            => AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA since V1_4,
    }
}

kmip_struct! {
    /// The answer to a [`RewrapRequest`]: the blob under the active version.
    pub struct RewrapResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
        pub data: required Vec<u8> => DATA,
    }
}

kmip_struct! {
    /// Krypton's vendor extension
    /// ([`Operation::RewrapReport`](crate::Operation::RewrapReport)): a gateway's re-wrap pass
    /// over its vault, for the service key named by the Unique Identifier, is done; it began at
    /// Pass Started and left the records counted in each Version Behind under an older version
    /// than the active one (none: everything is under the active version).
    pub struct RewrapReportRequest {
        pub unique_identifier: required UniqueIdentifier => UNIQUE_IDENTIFIER,
        pub pass_started: required DateTime => KRYPTON_PASS_STARTED,
        pub behind: repeated VersionBehind => KRYPTON_VERSION_BEHIND,
    }
}

kmip_struct! {
    /// Records a re-wrap pass left under one older version of a service key.
    pub struct VersionBehind {
        pub version: required i32 => KRYPTON_KEY_VERSION,
        pub records: required i64 => KRYPTON_RECORD_COUNT,
    }
}
structure_field!(VersionBehind);

kmip_struct! {
    /// The answer to a [`RewrapReportRequest`]: the report is kept.
    pub struct RewrapReportResponse {
        pub unique_identifier: required String => UNIQUE_IDENTIFIER,
    }
}

struct_payload!(
    EncryptRequest,
    EncryptResponse,
    DecryptRequest,
    DecryptResponse,
    SignRequest,
    SignResponse,
    SignatureVerifyRequest,
    SignatureVerifyResponse,
    MacRequest,
    MacResponse,
    MacVerifyRequest,
    MacVerifyResponse,
    RngRetrieveRequest,
    RngRetrieveResponse,
    RewrapRequest,
    RewrapResponse,
    RewrapReportRequest,
    RewrapReportResponse
);
