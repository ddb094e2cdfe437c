//! Splitting a master key into shares and rebuilding it, on top of blahaj's GF(256) arithmetic.

use aws_lc_rs::rand::SystemRandom;
use blahaj::Sharks;
use zeroize::{Zeroize, Zeroizing};

use crate::rng::DealerRng;
use crate::{Error, KEY_LEN, KeyCheck, KeySetId, Share};

/// The result of [`split`]: the shares to hand to their custodians, and the key check to store.
#[derive(Debug)]
pub struct Split {
    /// Shares with indices 1 to N, in order.
    pub shares: Vec<Share>,
    /// The value that later tells whether a set of shares rebuilt this master key.
    pub key_check: KeyCheck,
}

/// Splits `master` into `count` shares of which any `threshold` rebuild it, under a fresh random
/// key-set id.
///
/// Requires `2 <= threshold <= count` ([`Error::InvalidParameters`] otherwise); `count` is at most
/// 255 by its type.
pub fn split(master: &[u8; KEY_LEN], threshold: u8, count: u8) -> Result<Split, Error> {
    if threshold < 2 || threshold > count {
        return Err(Error::InvalidParameters { threshold, count });
    }
    let rng = SystemRandom::new();
    let key_set = KeySetId::random(&rng)?;
    let mut dealer_rng = DealerRng::new(rng);
    let shares = Sharks(threshold)
        .dealer_rng(master, &mut dealer_rng)
        .take(count.into())
        .map(|dealt| from_dealt(key_set, threshold, &dealt))
        .collect();
    dealer_rng.finish().map_err(Error::Random)?;
    Ok(Split {
        shares,
        key_check: KeyCheck::compute(master, key_set, threshold),
    })
}

/// Rebuilds the master key from `shares` into `out`, and proves it against `check`.
///
/// `out` is caller-provided so the key can go straight into guarded memory; every intermediate
/// copy made on the way is wiped. The shares must all come from `check`'s key set, have distinct
/// indices and number at least the threshold; each of those faults has its own [`Error`]. If they
/// pass and the result still fails the key check, the error is [`Error::WrongKey`]: these shares
/// do not rebuild this master key. On any error `out` is left zeroed.
pub fn combine_into(
    shares: &[Share],
    check: &KeyCheck,
    out: &mut [u8; KEY_LEN],
) -> Result<(), Error> {
    let result = check_set(shares, check)
        .and_then(|()| interpolate(shares, check.threshold(), out))
        .and_then(|()| check.verify(out));
    if result.is_err() {
        out.zeroize();
    }
    result
}

/// The faults an operator can make before any arithmetic: mixed or foreign shares, a share
/// entered twice, too few shares.
fn check_set(shares: &[Share], check: &KeyCheck) -> Result<(), Error> {
    if let Some(first) = shares.first()
        && let Some(other) = shares.iter().find(|s| s.key_set() != first.key_set())
    {
        return Err(Error::MixedKeySets {
            first: first.key_set(),
            other: other.key_set(),
        });
    }
    let mut seen = [false; 256];
    for share in shares {
        check.admit(share)?;
        let seen = &mut seen[usize::from(share.index())];
        if *seen {
            return Err(Error::DuplicateIndex {
                index: share.index(),
            });
        }
        *seen = true;
    }
    if shares.len() < usize::from(check.threshold()) {
        return Err(Error::NotEnoughShares {
            have: shares.len(),
            need: check.threshold(),
        });
    }
    Ok(())
}

/// Lagrange interpolation at zero, by blahaj. Its shares wipe themselves on drop; the `Vec` it
/// returns does not, so it goes straight into a `Zeroizing`.
fn interpolate(shares: &[Share], threshold: u8, out: &mut [u8; KEY_LEN]) -> Result<(), Error> {
    let dealt = shares.iter().map(to_dealt).collect::<Result<Vec<_>, _>>()?;
    // blahaj's only refusals are too few or unequal shares, which `check_set` and `Share` rule out.
    let key = Zeroizing::new(
        Sharks(threshold)
            .recover(&dealt)
            .map_err(|_| Error::Internal("blahaj refused shares that passed validation"))?,
    );
    let key: &[u8; KEY_LEN] = key
        .as_slice()
        .try_into()
        .map_err(|_| Error::Internal("rebuilt key has the wrong length"))?;
    out.copy_from_slice(key);
    Ok(())
}

fn from_dealt(key_set: KeySetId, threshold: u8, dealt: &blahaj::Share) -> Share {
    let mut share = Share {
        key_set,
        threshold,
        index: dealt.x.0,
        value: [0; KEY_LEN],
    };
    for (byte, element) in share.value.iter_mut().zip(&dealt.y) {
        *byte = element.0;
    }
    share
}

/// blahaj's `Share` fields have a type outside its public API, so a share goes in through its
/// byte form: the index, then the value.
fn to_dealt(share: &Share) -> Result<blahaj::Share, Error> {
    let mut bytes = Zeroizing::new([0; 1 + KEY_LEN]);
    bytes[0] = share.index;
    bytes[1..].copy_from_slice(&share.value);
    blahaj::Share::try_from(&bytes[..]).map_err(Error::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: [u8; KEY_LEN] = [0x42; KEY_LEN];

    #[test]
    fn fewer_than_threshold_shares_interpolate_to_another_key() {
        let split = split(&MASTER, 4, 6).unwrap();
        let mut rebuilt = [0; KEY_LEN];
        interpolate(&split.shares[..3], 3, &mut rebuilt).unwrap();
        assert_ne!(rebuilt, MASTER);
        assert!(matches!(
            split.key_check.verify(&rebuilt),
            Err(Error::WrongKey)
        ));
    }

    #[test]
    fn a_corrupted_share_value_is_a_wrong_key_and_leaves_no_key_behind() {
        let mut split = split(&MASTER, 2, 3).unwrap();
        split.shares[1].value[5] ^= 0x01;
        let mut out = [0xff; KEY_LEN];
        let result = combine_into(&split.shares[..2], &split.key_check, &mut out);
        assert!(matches!(result, Err(Error::WrongKey)));
        assert_eq!(out, [0; KEY_LEN]);
    }

    #[test]
    fn dealt_shares_round_trip_through_blahaj() {
        let split = split(&MASTER, 2, 2).unwrap();
        let share = &split.shares[1];
        let back = from_dealt(share.key_set, share.threshold, &to_dealt(share).unwrap());
        assert_eq!((back.index, back.value), (share.index, share.value));
    }
}
