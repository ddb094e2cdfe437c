//! Message framing over real byte streams: in-process pipes that deliver one byte per read, TCP
//! sockets, and fixed byte sequences that end where a misbehaving peer would stop.
#![allow(clippy::unwrap_used)]

use kmip::{Error, FrameReader, FrameWriter, Item, ItemType, Limits, Tag, Value};
use tokio::io::{AsyncWriteExt, duplex};
use tokio::net::{TcpListener, TcpStream};
use zeroize::Zeroizing;

const MESSAGE: Tag = Tag(0x42_0078);

fn message(key_byte: u8) -> Item {
    Item {
        tag: MESSAGE,
        value: Value::Structure(vec![
            Item {
                tag: Tag(0x42_0094),
                value: Value::TextString("key-1".to_owned()),
            },
            Item {
                tag: Tag(0x42_0043),
                value: Value::ByteString(Zeroizing::new(vec![key_byte; 32])),
            },
        ]),
    }
}

fn encoded(item: &Item) -> Vec<u8> {
    let mut out = Vec::new();
    kmip::encode(item, &mut out).unwrap();
    out
}

fn header(tag: Tag, item_type: ItemType, length: u32) -> Vec<u8> {
    let mut header = tag.to_bytes().to_vec();
    header.push(item_type as u8);
    header.extend_from_slice(&length.to_be_bytes());
    header
}

/// Reads from a fixed byte sequence, as from a peer that sends exactly these bytes and then
/// closes. Returns the result and how many bytes were left unread.
async fn read_from(bytes: &[u8], limits: Limits) -> (Result<Option<Item>, Error>, usize) {
    let mut input = bytes;
    let result = FrameReader::new(limits).read_message(&mut input).await;
    (result, input.len())
}

#[tokio::test]
async fn messages_arriving_one_byte_per_read_are_reassembled() {
    // A pipe that holds one byte: every read the reader makes returns a single byte.
    let (mut client, mut server) = duplex(1);
    let sender = tokio::spawn(async move {
        let mut writer = FrameWriter::new();
        for key_byte in 1..=3 {
            writer
                .write_message(&mut client, &message(key_byte))
                .await
                .unwrap();
        }
    });
    let mut reader = FrameReader::new(Limits::default());
    for key_byte in 1..=3 {
        let received = reader.read_message(&mut server).await.unwrap();
        assert_eq!(received, Some(message(key_byte)));
    }
    sender.await.unwrap();
    assert!(reader.read_message(&mut server).await.unwrap().is_none());
}

#[tokio::test]
async fn messages_cross_a_tcp_connection_written_one_byte_at_a_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let sender = tokio::spawn(async move {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.set_nodelay(true).unwrap();
        for byte in encoded(&message(7)) {
            stream.write_all(&[byte]).await.unwrap();
            stream.flush().await.unwrap();
        }
        FrameWriter::new()
            .write_message(&mut stream, &message(8))
            .await
            .unwrap();
        stream.shutdown().await.unwrap();
    });
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut reader = FrameReader::new(Limits::default());
    assert_eq!(
        reader.read_message(&mut stream).await.unwrap(),
        Some(message(7))
    );
    assert_eq!(
        reader.read_message(&mut stream).await.unwrap(),
        Some(message(8))
    );
    assert!(reader.read_message(&mut stream).await.unwrap().is_none());
    sender.await.unwrap();
}

#[tokio::test]
async fn clean_end_of_stream_before_a_message_is_not_an_error() {
    let (result, _) = read_from(&[], Limits::default()).await;
    assert!(result.unwrap().is_none());
}

#[tokio::test]
async fn end_of_stream_inside_the_header_is_truncation() {
    let (result, _) = read_from(&[0x42, 0x00, 0x78], Limits::default()).await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Truncated {
                offset: 3,
                tag: None
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn end_of_stream_inside_the_body_is_truncation() {
    let whole = encoded(&message(1));
    let (result, _) = read_from(&whole[..whole.len() - 5], Limits::default()).await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::Truncated { offset, tag: Some(MESSAGE) } if offset == whole.len() - 5),
        "{error:?}"
    );
}

#[tokio::test]
async fn oversize_message_is_refused_from_its_header_before_the_body_is_read() {
    let limits = Limits::default();
    let announced = u32::try_from(limits.max_message_len).unwrap();
    let mut bytes = header(MESSAGE, ItemType::Structure, announced);
    bytes.extend_from_slice(&[0; 64]);
    let (result, unread) = read_from(&bytes, limits).await;
    let error = result.unwrap_err();
    assert!(
        matches!(error, Error::MessageTooLarge { length, limit } if length == limits.max_message_len + 8 && limit == limits.max_message_len),
        "{error:?}"
    );
    assert_eq!(
        unread, 64,
        "the reader consumed body bytes of a refused message"
    );
}

#[tokio::test]
async fn largest_announced_length_is_refused_without_overflow() {
    let (result, _) = read_from(
        &header(MESSAGE, ItemType::Structure, u32::MAX),
        Limits::default(),
    )
    .await;
    assert!(
        matches!(result, Err(Error::MessageTooLarge { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn top_level_item_must_be_a_structure() {
    let bytes = encoded(&Item {
        tag: MESSAGE,
        value: Value::Integer(8),
    });
    let (result, unread) = read_from(&bytes, Limits::default()).await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            Error::UnexpectedType {
                tag: MESSAGE,
                expected: ItemType::Structure,
                found: ItemType::Integer
            }
        ),
        "{error:?}"
    );
    assert_eq!(unread, 8);
}

#[tokio::test]
async fn unknown_type_in_the_header_is_refused() {
    let (result, _) = read_from(&[0x42, 0x00, 0x78, 0x1F, 0, 0, 0, 0], Limits::default()).await;
    assert!(
        matches!(
            result,
            Err(Error::UnknownItemType {
                offset: 0,
                byte: 0x1F,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn depth_bomb_is_refused() {
    let limits = Limits::default();
    let depth = limits.max_depth + 1;
    let mut bytes = Vec::new();
    for level in 0..depth {
        let body = u32::try_from((depth - level - 1) * 8).unwrap();
        bytes.extend_from_slice(&header(MESSAGE, ItemType::Structure, body));
    }
    let (result, _) = read_from(&bytes, limits).await;
    assert!(
        matches!(result, Err(Error::TooDeep { limit: 32, .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn reader_goes_on_after_a_malformed_body() {
    // Dirty the padding of the Text String "key-1": its value is at 16..21, padding at 21..24.
    let mut bad = encoded(&message(1));
    bad[21] = 0xEE;
    let mut stream = bad;
    stream.extend_from_slice(&encoded(&message(2)));

    let mut input = &stream[..];
    let mut reader = FrameReader::new(Limits::default());
    let error = reader.read_message(&mut input).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::NonZeroPadding {
                offset: 8,
                tag: Tag(0x42_0094)
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        reader.read_message(&mut input).await.unwrap(),
        Some(message(2))
    );
}

#[tokio::test]
async fn transport_failures_keep_their_io_error() {
    let (mut client, mut server) = duplex(64);
    client
        .write_all(&header(MESSAGE, ItemType::Structure, 16))
        .await
        .unwrap();
    drop(client);
    // The peer vanished after the header: that is truncation, not I/O failure.
    let error = FrameReader::new(Limits::default())
        .read_message(&mut server)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Truncated {
                offset: 8,
                tag: Some(MESSAGE)
            }
        ),
        "{error:?}"
    );

    // Writing to a closed pipe is an I/O failure.
    let (mut client, server) = duplex(64);
    drop(server);
    let error = FrameWriter::new()
        .write_message(&mut client, &message(1))
        .await
        .unwrap_err();
    match error {
        Error::Io(io) => assert_eq!(io.kind(), std::io::ErrorKind::BrokenPipe),
        other => panic!("{other:?}"),
    }
}
