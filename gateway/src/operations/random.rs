//! RNG Retrieve: random bytes from the gateway's generator (the operating system's CSPRNG
//! through aws-lc-rs: the generator of the keys it creates), for clients without a good source of their
//! own. Bounded per request: a client wanting more asks again.

use kmip::{ResultReason, RngRetrieveRequest, RngRetrieveResponse};

use super::create::random_bytes;
use crate::refusal::Refusal;

/// The most bytes one request gets.
const MAX_RANDOM_BYTES: usize = 64 * 1024;

/// RNG Retrieve: `request.data_length` random bytes.
pub(super) fn rng_retrieve(request: &RngRetrieveRequest) -> Result<RngRetrieveResponse, Refusal> {
    let length = usize::try_from(request.data_length)
        .ok()
        .filter(|length| (1..=MAX_RANDOM_BYTES).contains(length))
        .ok_or_else(|| {
            Refusal::new(
                ResultReason::InvalidField,
                format!(
                    "a Data Length of {} bytes cannot be served: ask for 1 to {MAX_RANDOM_BYTES}",
                    request.data_length
                ),
            )
        })?;
    Ok(RngRetrieveResponse {
        data: random_bytes(length)?,
    })
}
