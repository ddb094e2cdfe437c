//! Split and unseal as the appliance does it: every share goes through its text form, as if a
//! custodian had read it off paper and typed it.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use shamir::{Error, KeyCheck, Malformed, Share, Split, combine_into, split};

fn master(seed: u8) -> [u8; 32] {
    let mut key = [0; 32];
    for (byte, i) in key.iter_mut().zip(0u8..) {
        *byte = i.wrapping_mul(73) ^ seed;
    }
    key
}

/// The share as its custodian would type it back in.
fn retyped(share: &Share) -> Share {
    share.to_string().parse().unwrap()
}

fn pick(split: &Split, indices: &[usize]) -> Vec<Share> {
    indices.iter().map(|&i| retyped(&split.shares[i])).collect()
}

fn combine(shares: &[Share], check: &KeyCheck) -> Result<[u8; 32], Error> {
    let mut key = [0; 32];
    combine_into(shares, check, &mut key).map(|()| key)
}

/// Every subset of `0..n` with `k` members, as index lists.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    (0u32..1 << n)
        .filter(|mask| mask.count_ones() as usize == k)
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
        .collect()
}

fn assert_every_subset_rebuilds(threshold: u8, count: u8) {
    let key = master(threshold);
    let split = split(&key, threshold, count).unwrap();
    for subset in subsets(count.into(), threshold.into()) {
        assert_eq!(
            combine(&pick(&split, &subset), &split.key_check).unwrap(),
            key
        );
    }
    for subset in subsets(count.into(), usize::from(threshold) - 1) {
        assert!(matches!(
            combine(&pick(&split, &subset), &split.key_check),
            Err(Error::NotEnoughShares { need, .. }) if need == threshold
        ));
    }
}

#[test]
fn every_three_of_five_subset_rebuilds_the_key_and_no_pair_does() {
    assert_every_subset_rebuilds(3, 5);
}

#[test]
fn every_five_of_nine_subset_rebuilds_the_key_and_no_four_do() {
    assert_every_subset_rebuilds(5, 9);
}

#[test]
fn more_than_threshold_shares_also_rebuild_the_key() {
    let split = split(&master(1), 3, 5).unwrap();
    let all = pick(&split, &[0, 1, 2, 3, 4]);
    assert_eq!(combine(&all, &split.key_check).unwrap(), master(1));
}

#[test]
fn shares_carry_index_threshold_and_key_set() {
    let split = split(&master(2), 3, 5).unwrap();
    for (share, index) in split.shares.iter().zip(1..) {
        let typed = retyped(share);
        assert_eq!(typed.index(), index);
        assert_eq!(typed.threshold(), 3);
        assert_eq!(typed.key_set(), split.key_check.key_set());
    }
}

#[test]
fn a_share_entered_twice_is_named() {
    let split = split(&master(3), 3, 5).unwrap();
    let shares = pick(&split, &[1, 3, 1]);
    assert!(matches!(
        combine(&shares, &split.key_check),
        Err(Error::DuplicateIndex { index: 2 })
    ));
}

#[test]
fn shares_of_another_installation_are_refused_at_entry_and_at_combine() {
    let ours = split(&master(4), 2, 3).unwrap();
    let theirs = split(&master(5), 2, 3).unwrap();
    let foreign = retyped(&theirs.shares[0]);
    assert!(matches!(
        ours.key_check.admit(&foreign),
        Err(Error::ForeignKeySet { share, expected })
            if share == theirs.key_check.key_set() && expected == ours.key_check.key_set()
    ));
    assert!(matches!(
        combine(&pick(&theirs, &[0, 1]), &ours.key_check),
        Err(Error::ForeignKeySet { .. })
    ));
}

#[test]
fn shares_of_two_key_sets_are_not_mixed() {
    let ours = split(&master(6), 2, 3).unwrap();
    let theirs = split(&master(6), 2, 3).unwrap();
    let shares = vec![retyped(&ours.shares[0]), retyped(&theirs.shares[1])];
    assert!(matches!(
        combine(&shares, &ours.key_check),
        Err(Error::MixedKeySets { first, other })
            if first == ours.key_check.key_set() && other == theirs.key_check.key_set()
    ));
}

#[test]
fn a_mistyped_share_is_caught_at_entry_in_its_group() {
    let split = split(&master(7), 3, 5).unwrap();
    let text = split.shares[2].to_string();
    let mut groups: Vec<String> = text.split(' ').map(str::to_owned).collect();
    let typo = if groups[12].starts_with('7') {
        "8"
    } else {
        "7"
    };
    groups[12].replace_range(0..1, typo);
    let error = Share::parse(&groups.join(" ")).unwrap_err();
    assert!(matches!(
        error,
        Error::MalformedShare(Malformed::GroupCheck { group: 13 })
    ));
    assert_eq!(
        error.to_string(),
        "the share is mistyped: group 13 looks wrong: its check character does not match"
    );
}

#[test]
fn swapped_groups_are_caught_where_they_land() {
    let split = split(&master(8), 3, 5).unwrap();
    let text = split.shares[0].to_string();
    let mut groups: Vec<&str> = text.split(' ').collect();
    groups.swap(2, 3);
    assert!(matches!(
        Share::parse(&groups.join(" ")),
        Err(Error::MalformedShare(Malformed::GroupCheck { group: 3 }))
    ));
}

#[test]
fn a_damaged_key_check_reports_that_the_shares_do_not_rebuild_the_key() {
    let split = split(&master(9), 2, 3).unwrap();
    let mut stored = split.key_check.to_bytes();
    *stored.last_mut().unwrap() ^= 0x80;
    let damaged = KeyCheck::from_bytes(&stored).unwrap();
    let error = combine(&pick(&split, &[0, 2]), &damaged).unwrap_err();
    assert!(matches!(error, Error::WrongKey));
    assert_eq!(
        error.to_string(),
        "these shares do not rebuild this master key"
    );
}

#[test]
fn key_check_survives_storage_and_refuses_garbage() {
    let split = split(&master(10), 3, 4).unwrap();
    let stored = split.key_check.to_bytes();
    assert_eq!(stored.len(), KeyCheck::LEN);
    let loaded = KeyCheck::from_bytes(&stored).unwrap();
    assert_eq!(loaded, split.key_check);
    assert_eq!(
        combine(&pick(&split, &[3, 0, 2]), &loaded).unwrap(),
        master(10)
    );

    assert!(matches!(
        KeyCheck::from_bytes(&stored[1..]),
        Err(Error::MalformedKeyCheck)
    ));
    let mut other_version = stored;
    other_version[0] = 2;
    assert!(matches!(
        KeyCheck::from_bytes(&other_version),
        Err(Error::MalformedKeyCheck)
    ));
}

#[test]
fn a_share_claiming_another_threshold_is_refused() {
    let split = split(&master(11), 3, 4).unwrap();
    let mut stored = split.key_check.to_bytes();
    stored[5] = 2; // the threshold byte
    let forged = KeyCheck::from_bytes(&stored).unwrap();
    assert!(matches!(
        forged.admit(&split.shares[0]),
        Err(Error::ThresholdMismatch {
            share: 3,
            expected: 2
        })
    ));
}

#[test]
fn split_refuses_impossible_parameters() {
    for (threshold, count) in [(0, 3), (1, 3), (4, 3), (2, 0), (2, 1)] {
        assert!(matches!(
            split(&master(12), threshold, count),
            Err(Error::InvalidParameters { .. })
        ));
    }
    assert_eq!(split(&master(12), 255, 255).unwrap().shares.len(), 255);
}

#[test]
fn debug_output_names_the_share_but_not_its_value() {
    let split = split(&master(13), 2, 2).unwrap();
    let id = split.key_check.key_set();
    assert_eq!(
        format!("{:?}", split.shares[1]),
        format!("Share {{ key_set: KeySetId({id}), threshold: 2, index: 2, .. }}")
    );
    assert_eq!(
        format!("{:?}", split.key_check),
        format!("KeyCheck {{ key_set: KeySetId({id}), threshold: 2, .. }}")
    );
    assert_eq!(id.to_string().len(), 8);
}

proptest! {
    #[test]
    fn any_threshold_subset_rebuilds_and_one_fewer_does_not(
        key in any::<[u8; 32]>(),
        (count, threshold, order) in (2u8..=24)
            .prop_flat_map(|n| (Just(n), 2..=n))
            .prop_flat_map(|(n, k)| {
                (Just(n), Just(k), Just((0..usize::from(n)).collect::<Vec<_>>()).prop_shuffle())
            }),
    ) {
        let split = split(&key, threshold, count).unwrap();
        let chosen = &order[..threshold.into()];
        prop_assert_eq!(combine(&pick(&split, chosen), &split.key_check).unwrap(), key);
        let too_few = &order[..usize::from(threshold) - 1];
        let is_not_enough = matches!(
            combine(&pick(&split, too_few), &split.key_check),
            Err(Error::NotEnoughShares { .. })
        );
        prop_assert!(is_not_enough);
    }
}
