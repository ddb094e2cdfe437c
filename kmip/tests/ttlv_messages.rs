//! Whole KMIP messages through the codec: the Get request byte for byte as the specification
//! lays it out, and the allocation budget of the hot path (none at all to encode into a warmed
//! buffer).
#![allow(clippy::unwrap_used)]

#[path = "../benches/samples/mod.rs"]
mod samples;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use kmip::{Item, Limits, decode, encode};

/// Counts the allocations made by the current thread, so that tests running in parallel do not
/// disturb each other's counts.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_allocation() {
    // `try_with`: the allocator is also called while thread-locals are being torn down.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged,
// so the system allocator's guarantees carry over; counting touches no allocated memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which we pass on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn spec(text: &str) -> Vec<u8> {
    hex::decode(text.replace([' ', '|'], "")).unwrap()
}

#[test]
fn get_request_is_laid_out_as_the_specification_says() {
    let mut out = Vec::new();
    encode(&samples::get_request(), &mut out).unwrap();
    let expected = spec(
        "42 00 78 | 01 | 00 00 00 90 | \
           42 00 77 | 01 | 00 00 00 38 | \
             42 00 69 | 01 | 00 00 00 20 | \
               42 00 6A | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00 | \
               42 00 6B | 02 | 00 00 00 04 | 00 00 00 04 00 00 00 00 | \
             42 00 0D | 02 | 00 00 00 04 | 00 00 00 01 00 00 00 00 | \
           42 00 0F | 01 | 00 00 00 48 | \
             42 00 5C | 05 | 00 00 00 04 | 00 00 00 0A 00 00 00 00 | \
             42 00 79 | 01 | 00 00 00 30 | \
               42 00 94 | 07 | 00 00 00 24 | \
                 34 39 61 31 63 61 38 38 2D 36 62 65 61 2D 34 66 62 32 2D \
                 62 34 35 30 2D 37 65 35 38 38 30 32 63 33 30 33 38 | 00 00 00 00",
    );
    assert_eq!(hex::encode(&out), hex::encode(&expected));
}

#[test]
fn sample_messages_round_trip() {
    for message in [
        samples::get_request(),
        samples::get_response(),
        samples::create_request(),
    ] {
        let mut out = Vec::new();
        encode(&message, &mut out).unwrap();
        assert_eq!(decode(&out, &Limits::default()).unwrap(), message);
    }
}

#[test]
fn encoding_into_a_warmed_buffer_allocates_nothing() {
    let messages: [Item; 3] = [
        samples::get_request(),
        samples::get_response(),
        samples::create_request(),
    ];
    let mut out = Vec::new();
    for message in &messages {
        encode(message, &mut out).unwrap();
    }
    for message in &messages {
        out.clear();
        let allocations = allocations_during(|| encode(message, &mut out).unwrap());
        assert_eq!(allocations, 0, "encoding {message:?}");
    }
}

#[test]
fn decoding_allocates_once_per_structure_and_variable_length_value() {
    // The Get response holds 9 structures, one Text String and one Byte String: each gets
    // exactly one allocation (children vectors are sized before they are filled), plus one
    // for the decoder's stack of open structures.
    let mut out = Vec::new();
    encode(&samples::get_response(), &mut out).unwrap();
    let allocations = allocations_during(|| {
        decode(&out, &Limits::default()).unwrap();
    });
    assert_eq!(allocations, 9 + 2 + 1);
}
