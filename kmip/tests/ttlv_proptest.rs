//! Properties of the codec over generated item trees and generated garbage.
#![allow(clippy::unwrap_used)]

use kmip::{Item, Limits, Tag, Value, decode, encode};
use proptest::collection::vec;
use proptest::prelude::*;
use zeroize::Zeroizing;

fn tag() -> impl Strategy<Value = Tag> {
    prop_oneof![
        0x42_0000..=0x42_FFFFu32,
        0x54_0000..=0x54_FFFFu32,
        0..=0xFF_FFFFu32
    ]
    .prop_map(Tag)
}

/// Byte strings of any length up to 40, which exercises every padding.
fn bytes() -> impl Strategy<Value = Zeroizing<Vec<u8>>> {
    vec(any::<u8>(), 0..40).prop_map(Zeroizing::new)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        any::<i64>().prop_map(Value::LongInteger),
        // Decoded Big Integers are always a multiple of eight long.
        vec(any::<[u8; 8]>(), 0..4)
            .prop_map(|words| Value::BigInteger(Zeroizing::new(words.concat()))),
        any::<u32>().prop_map(Value::Enumeration),
        any::<bool>().prop_map(Value::Boolean),
        ".{0,20}".prop_map(Value::TextString),
        bytes().prop_map(Value::ByteString),
        any::<i64>().prop_map(Value::DateTime),
        any::<u32>().prop_map(Value::Interval),
        any::<i64>().prop_map(Value::DateTimeExtended),
    ]
}

/// Item trees up to six structures deep.
fn item() -> impl Strategy<Value = Item> {
    let leaf = (tag(), leaf()).prop_map(|(tag, value)| Item { tag, value });
    leaf.prop_recursive(6, 96, 8, |inner| {
        (tag(), vec(inner, 0..8)).prop_map(|(tag, children)| Item {
            tag,
            value: Value::Structure(children),
        })
    })
}

fn encoded(item: &Item) -> Vec<u8> {
    let mut out = Vec::new();
    encode(item, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_gives_the_same_tree(item in item()) {
        let wire = encoded(&item);
        prop_assert_eq!(wire.len() % 8, 0);
        prop_assert_eq!(decode(&wire, &Limits::default()).unwrap(), item);
    }

    #[test]
    fn big_integers_keep_their_value(value in vec(any::<u8>(), 0..40)) {
        let item = Item { tag: Tag(0x42_0020), value: Value::BigInteger(Zeroizing::new(value.clone())) };
        let Value::BigInteger(decoded) = decode(&encoded(&item), &Limits::default()).unwrap().value else {
            panic!("not a big integer");
        };
        prop_assert_eq!(decoded.len() % 8, 0);
        let (extension, rest) = decoded.split_at(decoded.len() - value.len());
        prop_assert_eq!(rest, &value[..]);
        let sign = if value.first().is_some_and(|b| b & 0x80 != 0) { 0xFF } else { 0 };
        prop_assert!(extension.iter().all(|&b| b == sign));
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        check_canonical(&bytes)?;
    }

    #[test]
    fn decoder_never_panics_on_mutated_encodings(
        item in item(),
        mutations in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut wire = encoded(&item);
        for (at, byte) in mutations {
            let at = at.index(wire.len());
            wire[at] = byte;
        }
        if truncate {
            wire.truncate(cut.index(wire.len()));
        }
        check_canonical(&wire)?;
    }
}

/// Decodes `bytes`; whatever it accepts must re-encode to exactly the same bytes, because the
/// decoder accepts only the one canonical encoding of each tree.
fn check_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(item) = decode(bytes, &Limits::default()) {
        prop_assert_eq!(encoded(&item), bytes);
    }
    Ok(())
}
