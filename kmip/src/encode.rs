//! TTLV encoding (KMIP 1.4 §9.1.1): an [`Item`] tree into bytes.
//!
//! Structures are written with a placeholder length that is back-patched when the structure
//! closes, so the encoder needs no intermediate buffer per structure. The tree is walked with an
//! explicit, fixed-size stack of at most [`MAX_DEPTH`] open structures: no recursion, no heap.

use zeroize::Zeroize;

use crate::error::Error;
use crate::ttlv::{Item, ItemType, Tag, Value};

/// The deepest nesting of structures this crate encodes or decodes. An item tree deeper than
/// this is refused by the encoder; [`Limits::max_depth`](crate::Limits::max_depth) is capped at it.
pub const MAX_DEPTH: usize = 64;

/// Length of an item header: three tag bytes, one type byte, four length bytes.
pub(crate) const HEADER_LEN: usize = 8;

/// TTLV aligns every item on eight bytes.
const ALIGN: usize = 8;

const ZERO_PADDING: [u8; ALIGN] = [0; ALIGN];

/// Appends the TTLV encoding of `item` to `out`.
///
/// Into a buffer whose capacity already suffices, encoding allocates nothing. When `out` must
/// grow, the old allocation is wiped before it is freed: it may hold key material.
///
/// A Big Integer whose length is not a multiple of eight is sign-extended on the left to the
/// next multiple of eight, as KMIP requires; its numeric value is unchanged. An empty Big
/// Integer stays empty (zero is a multiple of eight), so every decoded tree re-encodes to the
/// very bytes it came from.
///
/// # Errors
///
/// [`Error::EncodeTooDeep`] if structures nest deeper than [`MAX_DEPTH`];
/// [`Error::EncodeTooLarge`] if a value or structure is too long for the 32-bit length field;
/// [`Error::EncodeInvalidTag`] if a tag is wider than three bytes.
/// On error, the bytes appended so far are wiped and `out` is truncated to its original length.
pub fn encode(item: &Item, out: &mut Vec<u8>) -> Result<(), Error> {
    let start = out.len();
    let result = encode_tree(item, out);
    if result.is_err() {
        out[start..].zeroize();
        out.truncate(start);
    }
    result
}

/// A structure whose children are being written.
#[derive(Clone, Copy)]
struct Open<'a> {
    tag: Tag,
    /// The children not yet written.
    rest: &'a [Item],
    /// Where the structure's header starts in the output.
    header_at: usize,
}

/// Writes the tree depth-first, back-patching each structure's length when it closes.
fn encode_tree(root: &Item, out: &mut Vec<u8>) -> Result<(), Error> {
    let mut open = [Open {
        tag: Tag(0),
        rest: &[],
        header_at: 0,
    }; MAX_DEPTH];
    let mut depth: usize = 0;
    let mut next = Some(root);
    loop {
        let item = match next.take() {
            Some(item) => item,
            None => {
                let Some(top) = depth.checked_sub(1) else {
                    return Ok(());
                };
                let Some((first, rest)) = open[top].rest.split_first() else {
                    close_structure(out, open[top])?;
                    depth = top;
                    continue;
                };
                open[top].rest = rest;
                first
            }
        };
        if let Value::Structure(children) = &item.value {
            if depth == MAX_DEPTH {
                return Err(Error::EncodeTooDeep {
                    tag: item.tag,
                    limit: MAX_DEPTH,
                });
            }
            open[depth] = Open {
                tag: item.tag,
                rest: children,
                header_at: out.len(),
            };
            depth += 1;
        }
        put_item(out, item)?;
    }
}

/// Back-patches the length of a structure whose last child has been written.
fn close_structure(out: &mut [u8], structure: Open<'_>) -> Result<(), Error> {
    let at = structure.header_at;
    let length = wire_len(structure.tag, out.len() - at - HEADER_LEN)?;
    out[at + 4..at + HEADER_LEN].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

/// Writes one item, padding included; a structure only as its header.
fn put_item(out: &mut Vec<u8>, item: &Item) -> Result<(), Error> {
    let tag = item.tag;
    if tag.0 > 0xFF_FFFF {
        return Err(Error::EncodeInvalidTag { tag });
    }
    match &item.value {
        Value::Integer(v) => put_word(out, tag, ItemType::Integer, &v.to_be_bytes()),
        Value::Enumeration(v) => put_word(out, tag, ItemType::Enumeration, &v.to_be_bytes()),
        Value::Interval(v) => put_word(out, tag, ItemType::Interval, &v.to_be_bytes()),
        Value::LongInteger(v) => put_word(out, tag, ItemType::LongInteger, &v.to_be_bytes()),
        Value::DateTime(v) => put_word(out, tag, ItemType::DateTime, &v.to_be_bytes()),
        Value::DateTimeExtended(v) => {
            put_word(out, tag, ItemType::DateTimeExtended, &v.to_be_bytes());
        }
        Value::Boolean(v) => put_word(out, tag, ItemType::Boolean, &u64::from(*v).to_be_bytes()),
        Value::TextString(s) => put_bytes(out, tag, ItemType::TextString, &[], s.as_bytes())?,
        Value::ByteString(b) => put_bytes(out, tag, ItemType::ByteString, &[], b)?,
        Value::BigInteger(b) => {
            let sign = if b.first().is_some_and(|msb| msb & 0x80 != 0) {
                0xFF
            } else {
                0x00
            };
            let extension = [sign; ALIGN];
            let extension = &extension[..padding(b.len())];
            put_bytes(out, tag, ItemType::BigInteger, extension, b)?;
        }
        // The length is a placeholder until the structure closes.
        Value::Structure(_) => put_header(out, tag, ItemType::Structure, 0),
    }
    Ok(())
}

/// Writes a fixed-size value of four or eight bytes as one 16-byte item.
fn put_word(out: &mut Vec<u8>, tag: Tag, item_type: ItemType, value: &[u8]) {
    let mut item = [0u8; HEADER_LEN + ALIGN];
    item[..HEADER_LEN].copy_from_slice(&header(tag, item_type, value.len() as u32));
    item[HEADER_LEN..HEADER_LEN + value.len()].copy_from_slice(value);
    reserve_wiped(out, item.len());
    out.extend_from_slice(&item);
}

/// Writes a variable-length value: `prefix` then `value`, then zero padding to eight bytes.
fn put_bytes(
    out: &mut Vec<u8>,
    tag: Tag,
    item_type: ItemType,
    prefix: &[u8],
    value: &[u8],
) -> Result<(), Error> {
    let len = prefix.len() + value.len();
    let header = header(tag, item_type, wire_len(tag, len)?);
    reserve_wiped(out, HEADER_LEN + padded(len));
    out.extend_from_slice(&header);
    out.extend_from_slice(prefix);
    out.extend_from_slice(value);
    out.extend_from_slice(&ZERO_PADDING[..padding(len)]);
    Ok(())
}

fn put_header(out: &mut Vec<u8>, tag: Tag, item_type: ItemType, length: u32) {
    reserve_wiped(out, HEADER_LEN);
    out.extend_from_slice(&header(tag, item_type, length));
}

/// Makes room for `additional` more bytes. Unlike a plain `Vec` growth, wipes the old
/// allocation after moving its bytes to the new one: they may be key material, which the
/// allocator would otherwise free as it is.
fn reserve_wiped(out: &mut Vec<u8>, additional: usize) {
    if out.capacity() - out.len() >= additional {
        return;
    }
    let wanted = out.len().saturating_add(additional);
    let mut larger = Vec::with_capacity(wanted.max(out.capacity().saturating_mul(2)));
    larger.extend_from_slice(out);
    out.zeroize();
    *out = larger;
}

fn header(tag: Tag, item_type: ItemType, length: u32) -> [u8; HEADER_LEN] {
    let [t0, t1, t2] = tag.to_bytes();
    let [l0, l1, l2, l3] = length.to_be_bytes();
    [t0, t1, t2, item_type as u8, l0, l1, l2, l3]
}

/// The length field for a value of `len` bytes, if it fits in 32 bits.
fn wire_len(tag: Tag, len: usize) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error::EncodeTooLarge { tag, length: len })
}

/// Zero bytes that follow `len` bytes of value.
pub(crate) const fn padding(len: usize) -> usize {
    (ALIGN - len % ALIGN) % ALIGN
}

/// `len` rounded up to the alignment; saturates instead of overflowing.
pub(crate) const fn padded(len: usize) -> usize {
    len.saturating_add(padding(len))
}
