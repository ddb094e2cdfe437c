//! The worked TTLV examples of the KMIP specification (KMIP 1.4 §9.1.2, and KMIP 2.0 §9.1.2 for
//! Date-Time Extended), byte for byte, in both directions; plus the encoder's own rules.
#![allow(clippy::unwrap_used)]

use kmip::{Error, Item, Limits, MAX_DEPTH, Tag, Value, decode, encode};
use zeroize::Zeroizing;

/// The tag every example of the specification uses.
const COMPROMISE_DATE: Tag = Tag(0x42_0020);

/// Bytes from the specification's notation: hex pairs, with `|` and spaces as separators.
fn spec(text: &str) -> Vec<u8> {
    hex::decode(text.replace([' ', '|'], "")).unwrap()
}

fn item(value: Value) -> Item {
    Item {
        tag: COMPROMISE_DATE,
        value,
    }
}

fn encoded(item: &Item) -> Vec<u8> {
    let mut out = Vec::new();
    encode(item, &mut out).unwrap();
    out
}

/// Encodes `item`, expecting exactly `wire`, and decodes `wire`, expecting exactly `item`.
fn assert_both_ways(item: &Item, wire: &str) {
    let wire = spec(wire);
    assert_eq!(
        hex::encode(encoded(item)),
        hex::encode(&wire),
        "encoding of {item:?}"
    );
    assert_eq!(
        &decode(&wire, &Limits::default()).unwrap(),
        item,
        "decoding of {wire:02x?}"
    );
}

#[test]
fn integer() {
    assert_both_ways(
        &item(Value::Integer(8)),
        "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00",
    );
}

#[test]
fn negative_integer() {
    assert_both_ways(
        &item(Value::Integer(-2)),
        "42 00 20 | 02 | 00 00 00 04 | FF FF FF FE 00 00 00 00",
    );
}

#[test]
fn long_integer() {
    assert_both_ways(
        &item(Value::LongInteger(123_456_789_000_000_000)),
        "42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00",
    );
}

#[test]
fn big_integer() {
    // 1234567890000000000000000000
    let value = spec("00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00");
    assert_both_ways(
        &item(Value::BigInteger(Zeroizing::new(value))),
        "42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00",
    );
}

#[test]
fn enumeration() {
    assert_both_ways(
        &item(Value::Enumeration(255)),
        "42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00",
    );
}

#[test]
fn boolean() {
    assert_both_ways(
        &item(Value::Boolean(true)),
        "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01",
    );
    assert_both_ways(
        &item(Value::Boolean(false)),
        "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 00",
    );
}

#[test]
fn text_string() {
    assert_both_ways(
        &item(Value::TextString("Hello World".to_owned())),
        "42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00",
    );
}

#[test]
fn empty_text_string_has_no_value_bytes() {
    assert_both_ways(
        &item(Value::TextString(String::new())),
        "42 00 20 | 07 | 00 00 00 00",
    );
}

#[test]
fn text_string_of_exactly_eight_bytes_has_no_padding() {
    assert_both_ways(
        &item(Value::TextString("ABCDEFGH".to_owned())),
        "42 00 20 | 07 | 00 00 00 08 | 41 42 43 44 45 46 47 48",
    );
}

#[test]
fn byte_string() {
    assert_both_ways(
        &item(Value::ByteString(Zeroizing::new(vec![1, 2, 3]))),
        "42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00",
    );
}

#[test]
fn date_time() {
    // Friday, March 14, 2008, 11:56:40 GMT
    assert_both_ways(
        &item(Value::DateTime(1_205_495_800)),
        "42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8",
    );
}

#[test]
fn interval() {
    // Ten days.
    assert_both_ways(
        &item(Value::Interval(10 * 24 * 3600)),
        "42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00",
    );
}

#[test]
fn date_time_extended() {
    // 2017-11-20 05:20:40.345567 UTC, in microseconds.
    assert_both_ways(
        &item(Value::DateTimeExtended(1_511_155_240_345_567)),
        "42 00 20 | 0B | 00 00 00 08 | 00 05 5E 63 3F 4D 1F DF",
    );
}

#[test]
fn structure() {
    // An Enumeration, value 254, then an Integer, value 255, with tags 420004 and 420005.
    let structure = item(Value::Structure(vec![
        Item {
            tag: Tag(0x42_0004),
            value: Value::Enumeration(254),
        },
        Item {
            tag: Tag(0x42_0005),
            value: Value::Integer(255),
        },
    ]));
    assert_both_ways(
        &structure,
        "42 00 20 | 01 | 00 00 00 20 | \
         42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 | \
         42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00",
    );
}

#[test]
fn empty_and_nested_structures() {
    let nested = item(Value::Structure(vec![
        Item {
            tag: Tag(0x42_0001),
            value: Value::Structure(Vec::new()),
        },
        Item {
            tag: Tag(0x42_0002),
            value: Value::Structure(vec![Item {
                tag: Tag(0x54_0003),
                value: Value::TextString("x".to_owned()),
            }]),
        },
    ]));
    assert_both_ways(
        &nested,
        "42 00 20 | 01 | 00 00 00 20 | \
         42 00 01 | 01 | 00 00 00 00 | \
         42 00 02 | 01 | 00 00 00 10 | \
         54 00 03 | 07 | 00 00 00 01 | 78 00 00 00 00 00 00 00",
    );
}

#[test]
fn big_integer_is_sign_extended_to_a_multiple_of_eight() {
    // The specification's value without its leading zero bytes: 12 bytes, extended with zeros.
    let minimal = spec("03 FD 35 EB 6B C2 DF 46 18 08 00 00");
    assert_eq!(
        hex::encode(encoded(&item(Value::BigInteger(Zeroizing::new(minimal))))),
        hex::encode(spec(
            "42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00"
        )),
    );
    // -1 in one byte, extended with 0xFF.
    assert_eq!(
        hex::encode(encoded(&item(Value::BigInteger(Zeroizing::new(vec![
            0xFF
        ]))))),
        hex::encode(spec(
            "42 00 20 | 04 | 00 00 00 08 | FF FF FF FF FF FF FF FF"
        )),
    );
    // -256 in two bytes.
    assert_eq!(
        hex::encode(encoded(&item(Value::BigInteger(Zeroizing::new(vec![
            0xFF, 0x00
        ]))))),
        hex::encode(spec(
            "42 00 20 | 04 | 00 00 00 08 | FF FF FF FF FF FF FF 00"
        )),
    );
    // The empty value stays empty: zero is a multiple of eight.
    assert_both_ways(
        &item(Value::BigInteger(Zeroizing::new(Vec::new()))),
        "42 00 20 | 04 | 00 00 00 00",
    );
}

#[test]
fn encode_appends_to_what_the_buffer_holds() {
    let mut out = b"prefix".to_vec();
    encode(&item(Value::Integer(8)), &mut out).unwrap();
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(
        out[6..],
        spec("42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00")
    );
}

/// `depth` structures, each the only child of the one around it.
fn nested(depth: usize) -> Item {
    let mut item = Item {
        tag: Tag(0x42_0001),
        value: Value::Integer(1),
    };
    for _ in 0..depth {
        item = Item {
            tag: Tag(0x42_0002),
            value: Value::Structure(vec![item]),
        };
    }
    item
}

#[test]
fn encoder_accepts_max_depth_and_refuses_deeper_trees_leaving_the_buffer_as_it_was() {
    let deepest = nested(MAX_DEPTH);
    let mut out = Vec::new();
    encode(&deepest, &mut out).unwrap();
    let limits = Limits {
        max_depth: MAX_DEPTH,
        ..Limits::default()
    };
    assert_eq!(decode(&out, &limits).unwrap(), deepest);

    let mut out = b"kept".to_vec();
    let error = encode(&nested(MAX_DEPTH + 1), &mut out).unwrap_err();
    assert!(
        matches!(
            error,
            Error::EncodeTooDeep {
                tag: Tag(0x42_0002),
                limit: MAX_DEPTH
            }
        ),
        "{error:?}"
    );
    assert_eq!(out, b"kept");
}

#[test]
fn debug_never_shows_key_material_or_passwords() {
    let key = Item {
        tag: Tag(0x42_0043),
        value: Value::ByteString(Zeroizing::new(vec![0xAB; 32])),
    };
    let password = Item {
        tag: Tag(0x42_00A1),
        value: Value::TextString("hunter2".to_owned()),
    };
    let big = item(Value::BigInteger(Zeroizing::new(vec![0xCD; 16])));
    let printed = format!("{:?}", item(Value::Structure(vec![key, password, big])));
    assert!(printed.contains("ByteString(<32 bytes>)"), "{printed}");
    assert!(printed.contains("TextString(<7 bytes>)"), "{printed}");
    assert!(printed.contains("BigInteger(<16 bytes>)"), "{printed}");
    for secret in ["ab", "AB", "171", "hunter2", "cd", "CD", "205"] {
        assert!(!printed.contains(secret), "{secret} leaked in {printed}");
    }
}

#[test]
fn tags_print_as_hex() {
    assert_eq!(format!("{:?}", Tag(0x42_0094)), "Tag(0x420094)");
    assert_eq!(Tag(0x54_0001).to_string(), "0x540001");
    let text = format!(
        "{:?}",
        Item {
            tag: Tag(0x42_0094),
            value: Value::TextString("id".into())
        }
    );
    assert_eq!(
        text,
        r#"Item { tag: Tag(0x420094), value: TextString("id") }"#
    );
}

#[test]
fn encoder_refuses_tags_wider_than_three_bytes() {
    let wide = Item {
        tag: Tag(0x0142_0020),
        value: Value::Integer(8),
    };
    let mut out = Vec::new();
    let error = encode(&item(Value::Structure(vec![wide])), &mut out).unwrap_err();
    assert!(
        matches!(
            error,
            Error::EncodeInvalidTag {
                tag: Tag(0x0142_0020)
            }
        ),
        "{error:?}"
    );
    assert!(out.is_empty());
}
