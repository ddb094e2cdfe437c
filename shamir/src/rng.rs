//! aws-lc-rs's system RNG, seen through the `rand_core` traits that blahaj's dealer takes.
//!
//! blahaj's own `Sharks::dealer` draws the polynomial coefficients from `rand::rng()`, a ChaCha
//! generator in thread-local memory that is never wiped. Feeding the dealer from aws-lc-rs keeps
//! one audited RNG for the whole appliance and leaves no generator state behind.

use std::convert::Infallible;

use aws_lc_rs::error::Unspecified;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rand_core::{TryCryptoRng, TryRng, utils};

/// `rand_core`'s `CryptoRng` must be infallible while `SystemRandom::fill` is not, so a failure
/// is latched here and reported by [`DealerRng::finish`], and whatever was dealt meanwhile is
/// thrown away.
pub(crate) struct DealerRng {
    rng: SystemRandom,
    failure: Option<Unspecified>,
}

impl DealerRng {
    pub(crate) fn new(rng: SystemRandom) -> Self {
        Self { rng, failure: None }
    }

    /// Whether every byte handed out came from the system RNG.
    pub(crate) fn finish(self) -> Result<(), Unspecified> {
        self.failure.map_or(Ok(()), Err)
    }
}

impl TryRng for DealerRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        utils::next_word_via_fill(self)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        utils::next_word_via_fill(self)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if let Err(failure) = self.rng.fill(dst) {
            self.failure = Some(failure);
        }
        Ok(())
    }
}

impl TryCryptoRng for DealerRng {}
