//! Strict TTLV decoding (KMIP 1.4 §9.1.1): bytes into an [`Item`] tree.
//!
//! The decoder accepts exactly the encodings the specification allows and rejects everything
//! else with a typed [`Error`] that names the offset and, once known, the tag: a lenient decoder
//! is an attack surface, and a precise error is what a peer's developer needs.
//!
//! It never recurses: open structures live on an explicit stack bounded by
//! [`Limits::max_depth`], so no input can exhaust the thread's stack. Payload bytes are copied
//! exactly once, from the input into the owned [`Value`]s.

use std::ops::Range;

use zeroize::Zeroizing;

use crate::encode::{HEADER_LEN, MAX_DEPTH, padded, padding};
use crate::error::Error;
use crate::ttlv::{Item, ItemType, Tag, Value};

/// Bounds on what the decoder accepts from a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest message, header included, in bytes. Default: 1 MiB.
    pub max_message_len: usize,
    /// The deepest nesting of structures; the top-level structure counts as one. Default: 32.
    /// Values above [`MAX_DEPTH`] act as [`MAX_DEPTH`].
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_len: 1 << 20,
            max_depth: 32,
        }
    }
}

/// Decodes `bytes` as exactly one TTLV item (usually a Request or Response Message).
///
/// # Errors
///
/// A wire-fault variant of [`Error`] if `bytes` is not exactly one valid TTLV item within
/// `limits`. Nothing panics, whatever the input.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Item, Error> {
    if bytes.len() > limits.max_message_len {
        return Err(Error::MessageTooLarge {
            length: bytes.len(),
            limit: limits.max_message_len,
        });
    }
    Decoder {
        bytes,
        pos: 0,
        open: Vec::new(),
        max_depth: limits.max_depth.min(MAX_DEPTH),
    }
    .run()
}

/// Reads an item header: its tag, type and length field.
///
/// This is what a framing layer needs to size a message before reading its body.
///
/// # Errors
///
/// [`Error::UnknownItemType`] (at offset 0) if the type byte is not a KMIP item type.
pub fn peek_header(header: &[u8; 8]) -> Result<(Tag, ItemType, u32), Error> {
    parse_header(*header, 0)
}

fn parse_header(header: [u8; HEADER_LEN], offset: usize) -> Result<(Tag, ItemType, u32), Error> {
    let [t0, t1, t2, type_byte, l0, l1, l2, l3] = header;
    let tag = Tag::from_bytes([t0, t1, t2]);
    let item_type = ItemType::from_byte(type_byte).ok_or(Error::UnknownItemType {
        offset,
        tag,
        byte: type_byte,
    })?;
    Ok((tag, item_type, u32::from_be_bytes([l0, l1, l2, l3])))
}

/// A structure whose children are still being read.
struct Open {
    tag: Tag,
    /// Offset one past the structure's last byte.
    end: usize,
    children: Vec<Item>,
}

struct Decoder<'a> {
    bytes: &'a [u8],
    /// Offset of the next header to read.
    pos: usize,
    open: Vec<Open>,
    max_depth: usize,
}

/// The header of the item being read, with where its value lies.
struct Header {
    offset: usize,
    tag: Tag,
    item_type: ItemType,
    length: u32,
    /// The value and its padding.
    body: Range<usize>,
}

impl Decoder<'_> {
    fn run(mut self) -> Result<Item, Error> {
        loop {
            let complete = match self.open.last() {
                Some(open) if self.pos == open.end => self.open.pop(),
                _ => None,
            };
            let item = match complete {
                Some(open) => Item {
                    tag: open.tag,
                    value: Value::Structure(open.children),
                },
                None => match self.read_item()? {
                    Some(item) => item,
                    // A structure was opened; its children come next.
                    None => continue,
                },
            };
            match self.open.last_mut() {
                Some(parent) => parent.children.push(item),
                None => return Ok(item),
            }
        }
    }

    /// Reads the item at `pos`. Returns `None` when it is a structure, which is pushed on the
    /// open stack instead: its children are read next.
    fn read_item(&mut self) -> Result<Option<Item>, Error> {
        let header = self.read_header()?;
        let (offset, tag) = (header.offset, header.tag);
        let value = match header.item_type {
            ItemType::Structure => {
                self.open_structure(&header)?;
                return Ok(None);
            }
            ItemType::Integer => Value::Integer(i32::from_be_bytes(self.fixed(&header)?)),
            ItemType::LongInteger => Value::LongInteger(i64::from_be_bytes(self.fixed(&header)?)),
            ItemType::Enumeration => Value::Enumeration(u32::from_be_bytes(self.fixed(&header)?)),
            ItemType::Interval => Value::Interval(u32::from_be_bytes(self.fixed(&header)?)),
            ItemType::DateTime => Value::DateTime(i64::from_be_bytes(self.fixed(&header)?)),
            ItemType::DateTimeExtended => {
                Value::DateTimeExtended(i64::from_be_bytes(self.fixed(&header)?))
            }
            ItemType::Boolean => match u64::from_be_bytes(self.fixed(&header)?) {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                value => return Err(Error::InvalidBoolean { offset, tag, value }),
            },
            ItemType::TextString => match std::str::from_utf8(self.value(&header)?) {
                Ok(text) => Value::TextString(text.to_owned()),
                Err(source) => {
                    return Err(Error::InvalidUtf8 {
                        offset,
                        tag,
                        source,
                    });
                }
            },
            ItemType::ByteString => {
                Value::ByteString(Zeroizing::new(self.value(&header)?.to_vec()))
            }
            ItemType::BigInteger => {
                Value::BigInteger(Zeroizing::new(self.value(&header)?.to_vec()))
            }
        };
        self.pos = header.body.end;
        Ok(Some(Item { tag, value }))
    }

    /// Reads and checks the header at `pos` against the bytes its container leaves.
    fn read_header(&self) -> Result<Header, Error> {
        let offset = self.pos;
        let container_end = self.open.last().map_or(self.bytes.len(), |open| open.end);
        let raw = self
            .bytes
            .get(offset..container_end)
            .and_then(<[u8]>::first_chunk::<HEADER_LEN>)
            .ok_or(Error::Truncated { offset, tag: None })?;
        let (tag, item_type, length) = parse_header(*raw, offset)?;
        check_length(offset, tag, item_type, length)?;

        let start = offset + HEADER_LEN;
        let available = container_end - start;
        // A u32 fits in usize on every target this crate builds for (32 and 64 bits).
        let value_len = length as usize;
        if value_len > available {
            return Err(Error::LengthOverrun {
                offset,
                tag,
                length,
                available,
            });
        }
        // Within a structure this cannot fail: every offset and end there is a multiple of
        // eight. Only a top-level item can lose its padding to the end of the input.
        let body_len = padded(value_len);
        if body_len > available {
            return Err(Error::Truncated {
                offset,
                tag: Some(tag),
            });
        }
        if self.open.is_empty() && body_len < available {
            return Err(Error::TrailingBytes {
                offset: start + body_len,
                count: available - body_len,
            });
        }
        Ok(Header {
            offset,
            tag,
            item_type,
            length,
            body: start..start + body_len,
        })
    }

    fn open_structure(&mut self, header: &Header) -> Result<(), Error> {
        if self.open.len() == self.max_depth {
            return Err(Error::TooDeep {
                offset: header.offset,
                tag: header.tag,
                limit: self.max_depth,
            });
        }
        let children = Vec::with_capacity(self.count_children(header.body.clone()));
        self.open.push(Open {
            tag: header.tag,
            end: header.body.end,
            children,
        });
        self.pos = header.body.start;
        Ok(())
    }

    /// Counts the items a structure body holds by hopping from header to header, so that its
    /// children vector is allocated once at the right size. A malformed body yields a wrong
    /// count, bounded by the body length; the fault itself is reported when the body is read.
    fn count_children(&self, body: Range<usize>) -> usize {
        let mut count = 0;
        let mut at = body.start;
        while let Some(raw) = self
            .bytes
            .get(at..body.end)
            .and_then(<[u8]>::first_chunk::<8>)
        {
            let length = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
            count += 1;
            at = at
                .saturating_add(HEADER_LEN)
                .saturating_add(padded(length as usize));
        }
        count
    }

    /// The value bytes of a leaf, after checking that its padding is zero.
    fn value(&self, header: &Header) -> Result<&[u8], Error> {
        let (offset, tag) = (header.offset, header.tag);
        // `read_header` checked the range; failing here would be a decoder bug, reported as
        // truncation rather than a panic.
        let body = self
            .bytes
            .get(header.body.clone())
            .ok_or(Error::Truncated {
                offset,
                tag: Some(tag),
            })?;
        let (value, pad) = body.split_at(body.len().min(header.length as usize));
        if pad.iter().any(|&b| b != 0) {
            return Err(Error::NonZeroPadding { offset, tag });
        }
        Ok(value)
    }

    /// The value of a fixed-size leaf, whose length `check_length` has verified.
    fn fixed<const N: usize>(&self, header: &Header) -> Result<[u8; N], Error> {
        self.value(header)?
            .first_chunk::<N>()
            .copied()
            .ok_or(Error::InvalidLength {
                offset: header.offset,
                tag: header.tag,
                item_type: header.item_type,
                length: header.length,
            })
    }
}

/// Rejects a length field that is impossible for the item's type.
fn check_length(offset: usize, tag: Tag, item_type: ItemType, length: u32) -> Result<(), Error> {
    let valid = match item_type {
        ItemType::Integer | ItemType::Enumeration | ItemType::Interval => length == 4,
        ItemType::LongInteger
        | ItemType::Boolean
        | ItemType::DateTime
        | ItemType::DateTimeExtended => length == 8,
        ItemType::BigInteger | ItemType::Structure => padding(length as usize) == 0,
        ItemType::TextString | ItemType::ByteString => true,
    };
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidLength {
            offset,
            tag,
            item_type,
            length,
        })
    }
}
