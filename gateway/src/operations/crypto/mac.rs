//! MAC and MAC Verify with one of the caller's HMAC keys (HMAC-SHA-1, -224, -256, -384 or
//! -512, as the gateway creates them), aws-lc-rs underneath.
//!
//! The hash is the key's: the Cryptographic Parameters (the request's, else the key's
//! attribute) may name the key's algorithm or its hash again, nothing else. The MAC is the
//! full HMAC output; MAC Verify compares in constant time and answers *Invalid* for any other
//! value, a shorter one included.

use aws_lc_rs::hmac;
use kmip::{
    CryptographicAlgorithm, CryptographicParameters, HashingAlgorithm, MacRequest, MacResponse,
    MacVerifyRequest, MacVerifyResponse,
};

use super::{Use, admit, parameters, unsupported, unwrapped, validity};
use crate::operations::Context;
use crate::refusal::Refusal;
use crate::vault::{Found, Record, Vault};

/// MAC: the HMAC of `request.data` under the caller's `record`.
pub(in crate::operations) async fn mac<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: MacRequest,
) -> Result<MacResponse, Refusal> {
    let record = &found.record;
    let algorithm = admitted(
        context,
        record,
        request.cryptographic_parameters.as_ref(),
        Use::Mac,
    )?;
    let key = unwrapped(context, &found, Use::Mac).await?;
    let tag = hmac::sign(&hmac::Key::new(algorithm, &key), &request.data);
    Ok(MacResponse {
        unique_identifier: found.record.id,
        mac_data: tag.as_ref().to_vec(),
    })
}

/// MAC Verify: whether `request.mac_data` is the HMAC of `request.data` under `record`.
pub(in crate::operations) async fn mac_verify<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: MacVerifyRequest,
) -> Result<MacVerifyResponse, Refusal> {
    let record = &found.record;
    let algorithm = admitted(
        context,
        record,
        request.cryptographic_parameters.as_ref(),
        Use::MacVerify,
    )?;
    let key = unwrapped(context, &found, Use::MacVerify).await?;
    let valid = hmac::verify(
        &hmac::Key::new(algorithm, &key),
        &request.data,
        &request.mac_data,
    );
    Ok(MacVerifyResponse {
        unique_identifier: found.record.id,
        validity_indicator: validity(valid.is_ok()),
    })
}

/// The HMAC `record`'s key makes, if it may be put `to` use now with these parameters.
fn admitted<V>(
    context: &Context<'_, V>,
    record: &Record,
    requested: Option<&CryptographicParameters>,
    to: Use,
) -> Result<hmac::Algorithm, Refusal> {
    let key_algorithm = record.metadata.algorithm;
    let (algorithm, hash) = match key_algorithm {
        Some(CryptographicAlgorithm::HmacSha1) => {
            (hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, HashingAlgorithm::Sha1)
        }
        Some(CryptographicAlgorithm::HmacSha224) => (hmac::HMAC_SHA224, HashingAlgorithm::Sha224),
        Some(CryptographicAlgorithm::HmacSha256) => (hmac::HMAC_SHA256, HashingAlgorithm::Sha256),
        Some(CryptographicAlgorithm::HmacSha384) => (hmac::HMAC_SHA384, HashingAlgorithm::Sha384),
        Some(CryptographicAlgorithm::HmacSha512) => (hmac::HMAC_SHA512, HashingAlgorithm::Sha512),
        other => {
            return Err(unsupported(format!(
                "{} takes HMAC keys (HMAC-SHA1 to HMAC-SHA512); this key is {other:?}",
                to.operation()
            )));
        }
    };
    if let Some(parameters) = parameters(requested, record) {
        if let Some(named) = parameters.cryptographic_algorithm
            && Some(named) != key_algorithm
        {
            return Err(unsupported(format!(
                "Cryptographic Algorithm {named:?} does not match the key's {key_algorithm:?}"
            )));
        }
        if let Some(named) = parameters.hashing_algorithm
            && named != hash
        {
            return Err(unsupported(format!(
                "Hashing Algorithm {named:?} does not match the key's {key_algorithm:?}"
            )));
        }
    }
    admit(context, record, to)?;
    Ok(algorithm)
}
