//! Reading and writing whole TTLV messages on an async byte stream.
//!
//! A KMIP message is one top-level Structure whose header states the body length. The reader
//! takes the 8-byte header first, refuses anything that is not a Structure or is larger than
//! [`Limits::max_message_len`] before it sizes a buffer, then reads exactly the body, however
//! many reads the transport splits it into. Buffers are kept across messages, so a connection
//! does not allocate per message, and are wiped after each one because they held key material.
//!
//! Neither side sets a deadline: the caller wraps each call in a timeout that fits its
//! connection policy.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::{Zeroize, Zeroizing};

use crate::decode::{Limits, decode, peek_header};
use crate::encode::{HEADER_LEN, encode};
use crate::error::Error;
use crate::ttlv::{Item, ItemType};

/// Reads one message at a time from a stream, reusing one buffer for every message.
///
/// Not cancellation safe: if a read is abandoned mid-message, the stream is no longer at a
/// message boundary and the connection must be closed.
#[derive(Debug)]
pub struct FrameReader {
    limits: Limits,
    buf: Zeroizing<Vec<u8>>,
}

impl FrameReader {
    /// A reader that enforces `limits` on every message.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buf: Zeroizing::new(Vec::new()),
        }
    }

    /// Reads and decodes the next message.
    ///
    /// Returns `Ok(None)` if the stream ends cleanly before the first byte of a message.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if the stream ends inside a message; [`Error::UnexpectedType`] if
    /// the top-level item is not a Structure; [`Error::MessageTooLarge`] if its header announces
    /// more than the limit (nothing of the body is read then); any decode error of the body;
    /// [`Error::Io`] if the transport fails.
    pub async fn read_message<R>(&mut self, reader: &mut R) -> Result<Option<Item>, Error>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        // A read abandoned mid-message may have left bytes behind.
        wipe(&mut self.buf);
        let mut header = [0u8; HEADER_LEN];
        let got = read_full(reader, &mut header).await?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER_LEN {
            return Err(Error::Truncated {
                offset: got,
                tag: None,
            });
        }
        let (tag, item_type, length) = peek_header(&header)?;
        if item_type != ItemType::Structure {
            return Err(Error::UnexpectedType {
                tag,
                expected: ItemType::Structure,
                found: item_type,
            });
        }
        let message_len = HEADER_LEN.saturating_add(length as usize);
        if message_len > self.limits.max_message_len {
            return Err(Error::MessageTooLarge {
                length: message_len,
                limit: self.limits.max_message_len,
            });
        }

        self.buf.extend_from_slice(&header);
        self.buf.resize(message_len, 0);
        let result = match read_full(reader, &mut self.buf[HEADER_LEN..]).await {
            Ok(got) if HEADER_LEN + got < message_len => Err(Error::Truncated {
                offset: HEADER_LEN + got,
                tag: Some(tag),
            }),
            Ok(_) => decode(&self.buf, &self.limits).map(Some),
            Err(error) => Err(error),
        };
        wipe(&mut self.buf);
        result
    }
}

/// Encodes and writes one message at a time, reusing one buffer for every message.
#[derive(Debug, Default)]
pub struct FrameWriter {
    buf: Zeroizing<Vec<u8>>,
}

impl FrameWriter {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes `message`, writes it and flushes the stream.
    ///
    /// # Errors
    ///
    /// An encoding error of [`encode`], or [`Error::Io`] if the transport fails.
    pub async fn write_message<W>(&mut self, writer: &mut W, message: &Item) -> Result<(), Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        wipe(&mut self.buf);
        let result = match encode(message, &mut self.buf) {
            Ok(()) => write_all(writer, &self.buf).await,
            Err(error) => Err(error),
        };
        wipe(&mut self.buf);
        result
    }
}

/// Wipes the used part of a message buffer and empties it, keeping its capacity. The spare
/// capacity needs no wiping: it was wiped when it was last in use, and the whole allocation is
/// wiped when the buffer drops.
fn wipe(buf: &mut Vec<u8>) {
    buf.as_mut_slice().zeroize();
    buf.clear();
}

async fn write_all<W>(writer: &mut W, bytes: &[u8]) -> Result<(), Error>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    writer.write_all(bytes).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
async fn read_full<R>(reader: &mut R, buf: &mut [u8]) -> Result<usize, Error>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
