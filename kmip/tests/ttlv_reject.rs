//! Every way an input can fail to be one valid TTLV item, each with its own error, offset and
//! tag.
#![allow(clippy::unwrap_used)]

use kmip::{Error, ItemType, Limits, MAX_DEPTH, Tag, decode, peek_header};

const TAG: Tag = Tag(0x42_0020);

/// Bytes from the specification's notation: hex pairs, with `|` and spaces as separators.
fn spec(text: &str) -> Vec<u8> {
    hex::decode(text.replace([' ', '|'], "")).unwrap()
}

fn reject(wire: &str) -> Error {
    reject_bytes(&spec(wire), &Limits::default())
}

fn reject_bytes(bytes: &[u8], limits: &Limits) -> Error {
    match decode(bytes, limits) {
        Ok(item) => panic!("accepted {bytes:02x?} as {item:?}"),
        Err(error) => error,
    }
}

/// Asserts that the input is rejected with an error matching the pattern: `wire` in the
/// specification's notation (see [`spec`]) under the default limits, or `bytes = .., limits = ..`.
macro_rules! assert_rejects {
    (bytes = $bytes:expr, limits = $limits:expr, $pattern:pat $(if $guard:expr)?) => {{
        let error = reject_bytes($bytes, $limits);
        assert!(matches!(error, $pattern $(if $guard)?), "{error:?}");
    }};
    ($wire:expr, $pattern:pat $(if $guard:expr)?) => {{
        let wire: &str = $wire;
        let error = reject(wire);
        assert!(matches!(error, $pattern $(if $guard)?), "{wire:?}: {error:?}");
    }};
}

#[test]
fn unknown_item_type() {
    assert_rejects!(
        "42 00 20 | 0C | 00 00 00 04 | 00 00 00 08 00 00 00 00",
        Error::UnknownItemType {
            offset: 0,
            tag: TAG,
            byte: 0x0C
        }
    );
    assert_rejects!(
        "42 00 20 | 00 | 00 00 00 00",
        Error::UnknownItemType { byte: 0x00, .. }
    );
}

#[test]
fn wrong_length_for_fixed_size_types() {
    for (wire, item_type, length) in [
        (
            "42 00 20 | 02 | 00 00 00 08 | 00 00 00 00 00 00 00 08",
            ItemType::Integer,
            8,
        ),
        (
            "42 00 20 | 05 | 00 00 00 03 | 00 00 FF 00 00 00 00 00",
            ItemType::Enumeration,
            3,
        ),
        ("42 00 20 | 0A | 00 00 00 00", ItemType::Interval, 0),
        (
            "42 00 20 | 03 | 00 00 00 04 | 00 00 00 08 00 00 00 00",
            ItemType::LongInteger,
            4,
        ),
        (
            "42 00 20 | 06 | 00 00 00 01 | 01 00 00 00 00 00 00 00",
            ItemType::Boolean,
            1,
        ),
        (
            "42 00 20 | 09 | 00 00 00 10 | 00 00 00 00 47 DA 67 F8 00 00 00 00 00 00 00 00",
            ItemType::DateTime,
            16,
        ),
        (
            "42 00 20 | 0B | 00 00 00 07 | 00 05 5E 63 3F 4D 1F 00",
            ItemType::DateTimeExtended,
            7,
        ),
        (
            "42 00 20 | 04 | 00 00 00 0C | 03 FD 35 EB 6B C2 DF 46 18 08 00 00 00 00 00 00",
            ItemType::BigInteger,
            12,
        ),
        (
            "42 00 20 | 01 | 00 00 00 04 | 00 00 00 00 00 00 00 00",
            ItemType::Structure,
            4,
        ),
    ] {
        assert_rejects!(
            wire,
            Error::InvalidLength { offset: 0, tag: TAG, item_type: t, length: l }
                if t == item_type && l == length
        );
    }
}

#[test]
fn non_zero_padding() {
    for wire in [
        "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 01",
        "42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 80 00 00 00",
        "42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 01 00",
        "42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 20",
        "42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 FF 00 00 00",
    ] {
        assert_rejects!(
            wire,
            Error::NonZeroPadding {
                offset: 0,
                tag: TAG
            }
        );
    }
}

#[test]
fn missing_padding_at_the_end_of_the_input() {
    for wire in [
        "42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64",
        "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08",
    ] {
        assert_rejects!(
            wire,
            Error::Truncated {
                offset: 0,
                tag: Some(TAG)
            }
        );
    }
}

#[test]
fn truncated_header() {
    for wire in ["", "42", "42 00 20 | 02 | 00 00 00"] {
        assert_rejects!(
            wire,
            Error::Truncated {
                offset: 0,
                tag: None
            }
        );
    }
}

#[test]
fn length_running_past_the_message() {
    assert_rejects!(
        "42 00 20 | 07 | 00 00 00 20 | 48 65 6C 6C 6F 20 57 6F",
        Error::LengthOverrun {
            offset: 0,
            tag: TAG,
            length: 0x20,
            available: 8
        }
    );
    assert_rejects!(
        "42 00 20 | 01 | 00 00 00 18 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00",
        Error::LengthOverrun {
            offset: 0,
            length: 0x18,
            available: 16,
            ..
        }
    );
}

#[test]
fn length_running_past_the_parent_structure() {
    // The inner structure claims 16 bytes but its Text String child needs 24.
    assert_rejects!(
        "42 00 20 | 01 | 00 00 00 20 | \
         42 00 01 | 01 | 00 00 00 10 | \
         42 00 02 | 07 | 00 00 00 10 | 41 42 43 44 45 46 47 48 | 41 42 43 44 45 46 47 48",
        Error::LengthOverrun {
            offset: 16,
            tag: Tag(0x42_0002),
            length: 16,
            available: 8
        }
    );
}

#[test]
fn invalid_utf8_in_a_text_string() {
    let error = reject(
        "42 00 20 | 01 | 00 00 00 10 | 42 00 21 | 07 | 00 00 00 02 | C3 28 00 00 00 00 00 00",
    );
    match error {
        Error::InvalidUtf8 {
            offset: 8,
            tag: Tag(0x42_0021),
            source,
        } => {
            assert_eq!(source.valid_up_to(), 0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn boolean_other_than_zero_or_one() {
    assert_rejects!(
        "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 02",
        Error::InvalidBoolean {
            offset: 0,
            tag: TAG,
            value: 2
        }
    );
}

/// `depth` structures, each the only child of the one before, around one Integer.
fn depth_bomb(depth: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for level in 0..depth {
        let body = u32::try_from((depth - level) * 8 + 16 - 8).unwrap();
        bytes.extend_from_slice(&[0x42, 0x00, 0x01, 0x01]);
        bytes.extend_from_slice(&body.to_be_bytes());
    }
    bytes.extend_from_slice(&spec(
        "42 00 02 | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00",
    ));
    bytes
}

#[test]
fn nesting_deeper_than_the_limit() {
    let limits = Limits::default();
    assert!(decode(&depth_bomb(limits.max_depth), &limits).is_ok());
    assert_rejects!(
        bytes = &depth_bomb(limits.max_depth + 1),
        limits = &limits,
        Error::TooDeep { offset, tag: Tag(0x42_0001), limit: 32 } if offset == 32 * 8
    );
}

#[test]
fn depth_limit_is_capped_at_max_depth() {
    let limits = Limits {
        max_depth: usize::MAX,
        ..Limits::default()
    };
    assert!(decode(&depth_bomb(MAX_DEPTH), &limits).is_ok());
    assert_rejects!(
        bytes = &depth_bomb(MAX_DEPTH + 1),
        limits = &limits,
        Error::TooDeep {
            limit: MAX_DEPTH,
            ..
        }
    );
}

#[test]
fn message_larger_than_the_limit() {
    let bytes =
        spec("42 00 20 | 07 | 00 00 00 10 | 41 42 43 44 45 46 47 48 | 41 42 43 44 45 46 47 48");
    let limit = |max_message_len| Limits {
        max_message_len,
        ..Limits::default()
    };
    assert_rejects!(
        bytes = &bytes,
        limits = &limit(23),
        Error::MessageTooLarge {
            length: 24,
            limit: 23
        }
    );
    assert!(decode(&bytes, &limit(24)).is_ok());
}

#[test]
fn trailing_bytes_after_the_top_level_item() {
    assert_rejects!(
        "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00 | 42 00 20 | 02 | 00 00 00 04",
        Error::TrailingBytes {
            offset: 16,
            count: 8
        }
    );
    assert_rejects!(
        "42 00 20 | 01 | 00 00 00 00 | 00",
        Error::TrailingBytes {
            offset: 8,
            count: 1
        }
    );
}

#[test]
fn faults_deep_inside_report_their_own_offset_and_tag() {
    // The second child's padding is dirty.
    assert_rejects!(
        "42 00 20 | 01 | 00 00 00 20 | \
         42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 | \
         42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 07 00",
        Error::NonZeroPadding {
            offset: 24,
            tag: Tag(0x42_0005)
        }
    );
}

#[test]
fn peek_header_reads_tag_type_and_length() {
    let header: [u8; 8] = spec("42 00 78 | 01 | 00 00 01 20").try_into().unwrap();
    let (tag, item_type, length) = peek_header(&header).unwrap();
    assert_eq!(
        (tag, item_type, length),
        (Tag(0x42_0078), ItemType::Structure, 0x120)
    );
    let header: [u8; 8] = spec("42 00 78 | 42 | 00 00 01 20").try_into().unwrap();
    assert!(matches!(
        peek_header(&header),
        Err(Error::UnknownItemType {
            offset: 0,
            byte: 0x42,
            ..
        })
    ));
}

#[test]
fn errors_say_where_and_what() {
    let error = reject("42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 02");
    assert_eq!(
        error.to_string(),
        "item 0x420020 at offset 0: boolean value 2 is neither 0 nor 1"
    );
}
