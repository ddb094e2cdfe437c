//! Item trees written out by hand: what the model tests feed the decoder where no encoder of
//! this crate would write it (unknown codes, wrong types, missing fields).
#![allow(dead_code)] // each test crate uses its own part of this module

use kmip::{Item, Tag, Value};

pub fn structure(tag: Tag, items: Vec<Item>) -> Item {
    Item {
        tag,
        value: Value::Structure(items),
    }
}

pub fn integer(tag: Tag, value: i32) -> Item {
    Item {
        tag,
        value: Value::Integer(value),
    }
}

pub fn enumeration(tag: Tag, value: u32) -> Item {
    Item {
        tag,
        value: Value::Enumeration(value),
    }
}

pub fn text(tag: Tag, value: &str) -> Item {
    Item {
        tag,
        value: Value::TextString(value.into()),
    }
}

/// A Protocol Version structure.
pub fn version(major: i32, minor: i32) -> Item {
    structure(
        Tag::PROTOCOL_VERSION,
        vec![
            integer(Tag::PROTOCOL_VERSION_MAJOR, major),
            integer(Tag::PROTOCOL_VERSION_MINOR, minor),
        ],
    )
}

/// A request header of version `major.minor` announcing `batch_count` batch items.
pub fn header(major: i32, minor: i32, batch_count: i32) -> Item {
    structure(
        Tag::REQUEST_HEADER,
        vec![
            version(major, minor),
            integer(Tag::BATCH_COUNT, batch_count),
        ],
    )
}

/// A request message of `version` whose header counts its `batch_items`.
pub fn request_item(version: (i32, i32), batch_items: Vec<Item>) -> Item {
    let count = i32::try_from(batch_items.len()).unwrap();
    let mut children = vec![header(version.0, version.1, count)];
    children.extend(batch_items);
    structure(Tag::REQUEST_MESSAGE, children)
}

/// A request batch item of the operation coded `operation`, carrying `payload`.
pub fn batch_item(operation: u32, payload: Vec<Item>) -> Item {
    structure(
        Tag::BATCH_ITEM,
        vec![
            enumeration(Tag::OPERATION, operation),
            structure(Tag::REQUEST_PAYLOAD, payload),
        ],
    )
}

/// The first item with `tag` in a depth-first walk of `item`.
pub fn find(item: &mut Item, tag: Tag) -> &mut Item {
    fn walk(item: &mut Item, tag: Tag) -> Option<&mut Item> {
        if item.tag == tag {
            return Some(item);
        }
        match &mut item.value {
            Value::Structure(children) => children.iter_mut().find_map(|c| walk(c, tag)),
            _ => None,
        }
    }
    walk(item, tag).unwrap_or_else(|| panic!("no {tag:?} in the item"))
}
