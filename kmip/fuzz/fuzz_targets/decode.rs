//! Arbitrary bytes into the TTLV decoder. It must never panic, and whatever it accepts must be
//! the one canonical encoding of the tree it returns: re-encoding gives back the same bytes,
//! which decode to the same tree.
#![no_main]

use kmip::{Limits, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let limits = Limits::default();
    let Ok(item) = decode(bytes, &limits) else {
        return;
    };
    let mut out = Vec::with_capacity(bytes.len());
    encode(&item, &mut out).expect("a decoded tree re-encodes");
    assert_eq!(out, bytes, "the decoder accepted a non-canonical encoding");
    assert_eq!(
        decode(&out, &limits).expect("a re-encoded tree decodes"),
        item
    );
});
