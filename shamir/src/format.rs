//! Share format version 1: the text an operator reads aloud and types at the unseal prompt.
//!
//! The layout is described in the crate documentation. This module turns a [`Share`] into that
//! text and back, and does nothing else: no I/O, no key material beyond the one share.

use std::fmt;
use std::ops::Range;

use aws_lc_rs::digest;
use zeroize::Zeroizing;

use crate::error::{Error, Malformed};
use crate::{KEY_LEN, KeySetId, Share};

/// Format version written into every share. It is the first byte of every version's payload, so
/// that a share of a later format is recognised even when its length differs.
const VERSION: u8 = 1;

/// Crockford's base32 alphabet: digits and capitals without I, L, O (they read like 1, 1, 0)
/// and U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const BITS_PER_SYMBOL: usize = 5;

const GROUPS: usize = 18;
const GROUP_LEN: usize = 5;
/// Each group is four data symbols followed by one check symbol.
const DATA_PER_GROUP: usize = GROUP_LEN - 1;
const SYMBOLS: usize = GROUPS * DATA_PER_GROUP;
const PAYLOAD_LEN: usize = SYMBOLS * BITS_PER_SYMBOL / 8;

// Payload layout.
const KEY_SET: Range<usize> = 1..1 + KeySetId::LEN;
const THRESHOLD: usize = KEY_SET.end;
const INDEX: usize = THRESHOLD + 1;
const VALUE: Range<usize> = INDEX + 1..INDEX + 1 + KEY_LEN;
const CHECKSUM: Range<usize> = VALUE.end..PAYLOAD_LEN;
const CHECKSUM_DOMAIN: &[u8] = b"krypton/shamir/share/v1";

const _: () = assert!(
    SYMBOLS * BITS_PER_SYMBOL == PAYLOAD_LEN * 8,
    "no padding bits"
);
const _: () = assert!(CHECKSUM.end - CHECKSUM.start == 6, "48-bit share checksum");
const _: () = assert!(
    GROUPS < ALPHABET.len(),
    "group numbers are Luhn code points"
);

type Payload = Zeroizing<[u8; PAYLOAD_LEN]>;
type Symbols = Zeroizing<[u8; SYMBOLS]>;
type Groups = Zeroizing<[[u8; GROUP_LEN]; GROUPS]>;

/// Writes `share` as 18 space-separated groups of five characters.
pub(crate) fn write(share: &Share, out: &mut impl fmt::Write) -> fmt::Result {
    write_payload(&encode_payload(share), out)
}

/// Reads the text of a share, tolerating case, spaces, dashes and the look-alikes O, I and L.
///
/// Checks run in the order that names the most useful culprit: characters and group lengths
/// while reading; then group 1, which carries the format version; then the number of groups;
/// then every group's check symbol; then the checksum over the whole share.
pub(crate) fn read(text: &str) -> Result<Share, Error> {
    let (groups, count) = read_groups(text)?;
    if count == 0 {
        return Err(wrong_group_count(0).into());
    }
    verify_group(&groups[0], 1)?;
    let version = version_of(&groups[0]);
    if version != VERSION {
        return Err(Error::UnsupportedVersion { version });
    }
    if count != GROUPS {
        return Err(wrong_group_count(count).into());
    }
    for (number, group) in (1..).zip(groups.iter()).skip(1) {
        verify_group(group, number)?;
    }
    decode_payload(&from_symbols(&data_symbols(&groups)))
}

fn wrong_group_count(found: usize) -> Malformed {
    Malformed::WrongGroupCount {
        found,
        expected: GROUPS,
    }
}

fn encode_payload(share: &Share) -> Payload {
    let mut payload = Zeroizing::new([0; PAYLOAD_LEN]);
    payload[0] = VERSION;
    payload[KEY_SET].copy_from_slice(&share.key_set.to_bytes());
    payload[THRESHOLD] = share.threshold;
    payload[INDEX] = share.index;
    payload[VALUE].copy_from_slice(&share.value);
    let checksum = checksum(&payload);
    payload[CHECKSUM].copy_from_slice(&checksum.as_ref()[..CHECKSUM.len()]);
    payload
}

fn decode_payload(payload: &[u8; PAYLOAD_LEN]) -> Result<Share, Error> {
    if checksum(payload).as_ref()[..CHECKSUM.len()] != payload[CHECKSUM] {
        return Err(Malformed::ShareCheck.into());
    }
    let mut key_set = [0; KeySetId::LEN];
    key_set.copy_from_slice(&payload[KEY_SET]);
    let mut share = Share {
        key_set: KeySetId::from_bytes(key_set),
        threshold: payload[THRESHOLD],
        index: payload[INDEX],
        value: [0; KEY_LEN],
    };
    if share.index == 0 || share.threshold < 2 {
        return Err(Malformed::Content.into());
    }
    share.value.copy_from_slice(&payload[VALUE]);
    Ok(share)
}

/// SHA-256 over a domain string and everything in the payload before the checksum. A share on
/// its own says nothing about the master key, so this hash of it discloses nothing either.
fn checksum(payload: &[u8; PAYLOAD_LEN]) -> digest::Digest {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(CHECKSUM_DOMAIN);
    context.update(&payload[..CHECKSUM.start]);
    context.finish()
}

fn write_payload(payload: &[u8; PAYLOAD_LEN], out: &mut impl fmt::Write) -> fmt::Result {
    let symbols = to_symbols(payload);
    for (number, data) in (1..).zip(symbols.chunks_exact(DATA_PER_GROUP)) {
        if number > 1 {
            out.write_char(' ')?;
        }
        let check = check_symbol(number, data);
        for &symbol in data.iter().chain([&check]) {
            out.write_char(char::from(ALPHABET[usize::from(symbol)]))?;
        }
    }
    Ok(())
}

/// Splits the text into groups of symbols. Separators are optional, but where the operator typed
/// them they must fall between groups: that pins a dropped or doubled character to its group.
/// Only the first [`GROUPS`] groups are kept; the rest are counted.
fn read_groups(text: &str) -> Result<(Groups, usize), Malformed> {
    let mut groups: Groups = Zeroizing::new([[0; GROUP_LEN]; GROUPS]);
    let mut count = 0;
    let mut filled = 0;
    for c in text.chars() {
        if c.is_whitespace() || c == '-' {
            if filled != 0 {
                return Err(Malformed::WrongGroupLength {
                    group: count + 1,
                    found: filled,
                });
            }
            continue;
        }
        let symbol = symbol_of(c).ok_or(Malformed::BadCharacter {
            group: count + 1,
            position: filled + 1,
        })?;
        if let Some(group) = groups.get_mut(count) {
            group[filled] = symbol;
        }
        filled += 1;
        if filled == GROUP_LEN {
            count += 1;
            filled = 0;
        }
    }
    if filled != 0 {
        return Err(Malformed::WrongGroupLength {
            group: count + 1,
            found: filled,
        });
    }
    Ok((groups, count))
}

fn symbol_of(c: char) -> Option<u8> {
    let byte = match u8::try_from(c).ok()?.to_ascii_uppercase() {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        other => other,
    };
    let position = ALPHABET.iter().position(|&a| a == byte)?;
    u8::try_from(position).ok()
}

fn verify_group(group: &[u8; GROUP_LEN], number: usize) -> Result<(), Malformed> {
    let (data, check) = group.split_at(DATA_PER_GROUP);
    if check == [check_symbol(number, data)] {
        Ok(())
    } else {
        Err(Malformed::GroupCheck { group: number })
    }
}

/// The Luhn mod 32 check symbol over the group number followed by the group's data symbols.
///
/// Luhn mod N catches every single substituted symbol and every swap of two adjacent symbols
/// except one pair of values. Counting the group number in means a group typed in the wrong place
/// fails its check at that place.
fn check_symbol(number: usize, data: &[u8]) -> u8 {
    const N: usize = ALPHABET.len();
    let points = std::iter::once(number % N).chain(data.iter().map(|&s| usize::from(s)));
    // From the right, every other code point is doubled and its two base-N digits are added; the
    // rightmost data symbol is doubled because the check symbol will stand to its right.
    let sum: usize = points
        .rev()
        .zip([2, 1].into_iter().cycle())
        .map(|(point, factor)| {
            let product = point * factor;
            product / N + product % N
        })
        .sum();
    // Below N = 32, so the cast is lossless.
    ((N - sum % N) % N) as u8
}

/// The format version, which is the first 8 bits of the payload: all of the first data symbol
/// and the top three bits of the second.
fn version_of(group: &[u8; GROUP_LEN]) -> u8 {
    (group[0] << 3) | (group[1] >> 2)
}

fn data_symbols(groups: &[[u8; GROUP_LEN]; GROUPS]) -> Symbols {
    let mut symbols = Zeroizing::new([0; SYMBOLS]);
    for (data, group) in symbols.chunks_exact_mut(DATA_PER_GROUP).zip(groups) {
        data.copy_from_slice(&group[..DATA_PER_GROUP]);
    }
    symbols
}

/// Payload bits, most significant first, five to a symbol.
fn to_symbols(payload: &[u8; PAYLOAD_LEN]) -> Symbols {
    let mut symbols = Zeroizing::new([0; SYMBOLS]);
    for (first_bit, symbol) in (0..).step_by(BITS_PER_SYMBOL).zip(symbols.iter_mut()) {
        *symbol = (first_bit..first_bit + BITS_PER_SYMBOL).fold(0, |acc, bit| {
            (acc << 1) | (payload[bit / 8] >> (7 - bit % 8)) & 1
        });
    }
    symbols
}

fn from_symbols(symbols: &[u8; SYMBOLS]) -> Payload {
    let mut payload = Zeroizing::new([0; PAYLOAD_LEN]);
    for (first_bit, byte) in (0..).step_by(8).zip(payload.iter_mut()) {
        *byte = (first_bit..first_bit + 8).fold(0, |acc, bit| {
            let shift = BITS_PER_SYMBOL - 1 - bit % BITS_PER_SYMBOL;
            (acc << 1) | (symbols[bit / BITS_PER_SYMBOL] >> shift) & 1
        });
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(index: u8) -> Share {
        let mut value = [0; KEY_LEN];
        for (byte, i) in value.iter_mut().zip(0u8..) {
            *byte = i.wrapping_mul(37).wrapping_add(index);
        }
        Share {
            key_set: KeySetId::from_bytes([0xde, 0xad, 0xbe, 0xef]),
            threshold: 3,
            index,
            value,
        }
    }

    fn text(share: &Share) -> String {
        let mut text = String::new();
        write(share, &mut text).unwrap();
        text
    }

    fn malformed(text: &str) -> Malformed {
        match read(text) {
            Err(Error::MalformedShare(malformed)) => malformed,
            other => panic!("expected a malformed share, got {other:?}"),
        }
    }

    fn same(a: &Share, b: &Share) -> bool {
        a.key_set == b.key_set
            && a.threshold == b.threshold
            && a.index == b.index
            && a.value == b.value
    }

    #[test]
    fn text_is_eighteen_groups_of_five() {
        let text = text(&share(1));
        let groups: Vec<&str> = text.split(' ').collect();
        assert_eq!(groups.len(), 18);
        assert!(groups.iter().all(|g| g.len() == 5));
        assert!(text.bytes().all(|b| b == b' ' || ALPHABET.contains(&b)));
    }

    #[test]
    fn round_trips() {
        for index in [1, 2, 127, 255] {
            let original = share(index);
            assert!(same(&read(&text(&original)).unwrap(), &original));
        }
    }

    #[test]
    fn tolerates_case_dashes_missing_separators_and_look_alikes() {
        let original = share(7);
        let canonical = text(&original);
        let variants = [
            canonical.to_lowercase(),
            canonical.replace(' ', "-"),
            canonical.replace(' ', ""),
            canonical.replace(' ', "  \n"),
            format!("  {canonical}\n"),
            canonical.replace('0', "o").replace('1', "l"),
            canonical.replace('0', "O").replace('1', "I"),
        ];
        for variant in variants {
            assert!(same(&read(&variant).unwrap(), &original), "{variant}");
        }
    }

    #[test]
    fn check_symbol_catches_every_single_substitution() {
        for number in 1..=GROUPS {
            for data in [
                [0, 0, 0, 0],
                [31, 31, 31, 31],
                [1, 17, 30, 4],
                [16, 0, 15, 31],
            ] {
                let mut group = [0; GROUP_LEN];
                group[..DATA_PER_GROUP].copy_from_slice(&data);
                group[DATA_PER_GROUP] = check_symbol(number, &data);
                assert!(verify_group(&group, number).is_ok());
                for position in 0..GROUP_LEN {
                    for wrong in (0..32).filter(|&s| s != group[position]) {
                        let mut typo = group;
                        typo[position] = wrong;
                        assert!(verify_group(&typo, number).is_err());
                    }
                }
            }
        }
    }

    #[test]
    fn every_single_typo_names_its_group() {
        let canonical = text(&share(200));
        let alternatives: Vec<char> = ALPHABET.iter().map(|&b| char::from(b)).collect();
        for (offset, original) in canonical.char_indices().filter(|(_, c)| *c != ' ') {
            let group = offset / (GROUP_LEN + 1) + 1;
            for &typo in alternatives.iter().filter(|&&c| c != original) {
                let mut mistyped = canonical.clone();
                mistyped.replace_range(offset..=offset, &typo.to_string());
                // Even a typo in the version bits is named as a bad group 1, not as another
                // version: group 1's check runs before its version is read.
                match read(&mistyped) {
                    Err(Error::MalformedShare(malformed)) => {
                        assert_eq!(malformed.group(), Some(group), "{mistyped}");
                    }
                    other => panic!("{mistyped}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn groups_typed_in_the_wrong_order_are_caught_where_they_land() {
        let canonical = text(&share(9));
        let mut groups: Vec<&str> = canonical.split(' ').collect();
        groups.swap(4, 11);
        assert_eq!(
            malformed(&groups.join(" ")),
            Malformed::GroupCheck { group: 5 }
        );
    }

    #[test]
    fn a_group_from_another_share_fails_the_share_checksum() {
        let first = text(&share(1));
        let second = text(&share(2));
        let mut groups: Vec<&str> = first.split(' ').collect();
        let other: Vec<&str> = second.split(' ').collect();
        groups[10] = other[10];
        assert_eq!(malformed(&groups.join(" ")), Malformed::ShareCheck);
    }

    #[test]
    fn lengths_and_characters_are_located() {
        let canonical = text(&share(3));
        let mut groups: Vec<String> = canonical.split(' ').map(str::to_owned).collect();

        let mut short = groups.clone();
        short[6].pop();
        assert_eq!(
            malformed(&short.join(" ")),
            Malformed::WrongGroupLength { group: 7, found: 4 }
        );

        let mut bad = groups.clone();
        bad[2].replace_range(3..4, "U");
        assert_eq!(
            malformed(&bad.join(" ")),
            Malformed::BadCharacter {
                group: 3,
                position: 4
            }
        );

        let mut non_ascii = groups.clone();
        non_ascii[0].replace_range(0..1, "é");
        assert_eq!(
            malformed(&non_ascii.join(" ")),
            Malformed::BadCharacter {
                group: 1,
                position: 1
            }
        );

        groups.pop();
        assert_eq!(
            malformed(&groups.join(" ")),
            Malformed::WrongGroupCount {
                found: 17,
                expected: 18
            }
        );
        assert_eq!(
            malformed(""),
            Malformed::WrongGroupCount {
                found: 0,
                expected: 18
            }
        );
    }

    #[test]
    fn other_versions_are_named_before_their_length_is_judged() {
        let mut payload = encode_payload(&share(4));
        payload[0] = 2;
        let mut text = String::new();
        write_payload(&payload, &mut text).unwrap();
        let truncated: Vec<&str> = text.split(' ').take(12).collect();
        assert!(matches!(
            read(&truncated.join(" ")),
            Err(Error::UnsupportedVersion { version: 2 })
        ));
    }

    #[test]
    fn impossible_fields_are_refused() {
        let mut zero_index = share(1);
        zero_index.index = 0;
        assert_eq!(malformed(&text(&zero_index)), Malformed::Content);
        let mut low_threshold = share(1);
        low_threshold.threshold = 1;
        assert_eq!(malformed(&text(&low_threshold)), Malformed::Content);
    }

    #[test]
    fn the_share_in_the_crate_documentation_reads() {
        let documented = "048SV W4ZA5 0C0W9 GPBN5 Z4F8G 7SGH7 BJEDT Q5N0T 1Z8RN YZYGG PZ7P1 \
                          SHPB0 JP5KV THVAR J7JP3 M3GVY GQ4V3 T7D06";
        let share = read(documented).unwrap();
        assert_eq!((share.index, share.threshold), (1, 3));
        assert_eq!(share.key_set.to_string(), "119e13ea");
        assert_eq!(
            text(&share),
            documented.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }

    #[test]
    fn bit_packing_round_trips() {
        let mut payload = [0; PAYLOAD_LEN];
        for (byte, i) in payload.iter_mut().zip(0u8..) {
            *byte = i.wrapping_mul(151) ^ 0x5a;
        }
        let symbols = to_symbols(&payload);
        assert!(symbols.iter().all(|&s| s < 32));
        assert_eq!(*from_symbols(&symbols), payload);
        // Most significant bit first: 0x5a = 01011 010.. gives symbol 0b01011 first.
        assert_eq!(symbols[0], 0b01011);
    }
}
