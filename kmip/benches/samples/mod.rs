//! Typical KMIP 1.4 messages as raw item trees, laid out as the specification prescribes (KMIP
//! 1.4 §7 message structure, §4 operations, §2.2 managed objects). Shared by the codec benchmarks
//! and the tests that hold the codec to its allocation budget.

use kmip::{Item, Tag, Value};
use zeroize::Zeroizing;

const OPERATION_CREATE: u32 = 0x01;
const OPERATION_GET: u32 = 0x0A;
const OBJECT_TYPE_SYMMETRIC_KEY: u32 = 0x02;
const KEY_FORMAT_RAW: u32 = 0x01;
const ALGORITHM_AES: u32 = 0x03;
const NAME_TYPE_UNINTERPRETED_TEXT: u32 = 0x01;
const RESULT_SUCCESS: u32 = 0x00;
/// Encrypt | Decrypt.
const USAGE_ENCRYPT_DECRYPT: i32 = 0x04 | 0x08;

/// The identifier the samples use: a UUID, as most servers issue.
pub const KEY_ID: &str = "49a1ca88-6bea-4fb2-b450-7e58802c3038";

fn item(tag: Tag, value: Value) -> Item {
    Item { tag, value }
}

fn structure(tag: Tag, children: Vec<Item>) -> Item {
    item(tag, Value::Structure(children))
}

fn text(tag: Tag, text: &str) -> Item {
    item(tag, Value::TextString(text.to_owned()))
}

fn protocol_version() -> Item {
    structure(
        Tag::PROTOCOL_VERSION,
        vec![
            item(Tag::PROTOCOL_VERSION_MAJOR, Value::Integer(1)),
            item(Tag::PROTOCOL_VERSION_MINOR, Value::Integer(4)),
        ],
    )
}

fn request(operation: u32, payload: Vec<Item>) -> Item {
    structure(
        Tag::REQUEST_MESSAGE,
        vec![
            structure(
                Tag::REQUEST_HEADER,
                vec![
                    protocol_version(),
                    item(Tag::BATCH_COUNT, Value::Integer(1)),
                ],
            ),
            structure(
                Tag::BATCH_ITEM,
                vec![
                    item(Tag::OPERATION, Value::Enumeration(operation)),
                    structure(Tag::REQUEST_PAYLOAD, payload),
                ],
            ),
        ],
    )
}

/// Get of one key by its identifier.
pub fn get_request() -> Item {
    request(OPERATION_GET, vec![text(Tag::UNIQUE_IDENTIFIER, KEY_ID)])
}

/// The answer to [`get_request`]: a 256-bit AES key in Raw format.
pub fn get_response() -> Item {
    let key_block = structure(
        Tag::KEY_BLOCK,
        vec![
            item(Tag::KEY_FORMAT_TYPE, Value::Enumeration(KEY_FORMAT_RAW)),
            structure(
                Tag::KEY_VALUE,
                vec![item(
                    Tag::KEY_MATERIAL,
                    Value::ByteString(Zeroizing::new((0..32).collect())),
                )],
            ),
            item(
                Tag::CRYPTOGRAPHIC_ALGORITHM,
                Value::Enumeration(ALGORITHM_AES),
            ),
            item(Tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(256)),
        ],
    );
    structure(
        Tag::RESPONSE_MESSAGE,
        vec![
            structure(
                Tag::RESPONSE_HEADER,
                vec![
                    protocol_version(),
                    item(Tag::TIME_STAMP, Value::DateTime(1_795_392_000)),
                    item(Tag::BATCH_COUNT, Value::Integer(1)),
                ],
            ),
            structure(
                Tag::BATCH_ITEM,
                vec![
                    item(Tag::OPERATION, Value::Enumeration(OPERATION_GET)),
                    item(Tag::RESULT_STATUS, Value::Enumeration(RESULT_SUCCESS)),
                    structure(
                        Tag::RESPONSE_PAYLOAD,
                        vec![
                            item(
                                Tag::OBJECT_TYPE,
                                Value::Enumeration(OBJECT_TYPE_SYMMETRIC_KEY),
                            ),
                            text(Tag::UNIQUE_IDENTIFIER, KEY_ID),
                            structure(Tag::SYMMETRIC_KEY, vec![key_block]),
                        ],
                    ),
                ],
            ),
        ],
    )
}

fn attribute(name: &str, value: Value) -> Item {
    structure(
        Tag::ATTRIBUTE,
        vec![
            text(Tag::ATTRIBUTE_NAME, name),
            item(Tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

/// Create of a named 256-bit AES key for encryption and decryption, with a Template-Attribute.
pub fn create_request() -> Item {
    let name = Value::Structure(vec![
        text(Tag::NAME_VALUE, "Key1"),
        item(
            Tag::NAME_TYPE,
            Value::Enumeration(NAME_TYPE_UNINTERPRETED_TEXT),
        ),
    ]);
    request(
        OPERATION_CREATE,
        vec![
            item(
                Tag::OBJECT_TYPE,
                Value::Enumeration(OBJECT_TYPE_SYMMETRIC_KEY),
            ),
            structure(
                Tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attribute("Cryptographic Algorithm", Value::Enumeration(ALGORITHM_AES)),
                    attribute("Cryptographic Length", Value::Integer(256)),
                    attribute(
                        "Cryptographic Usage Mask",
                        Value::Integer(USAGE_ENCRYPT_DECRYPT),
                    ),
                    attribute("Name", name),
                ],
            ),
        ],
    )
}
