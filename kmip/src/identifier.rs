//! The Unique Identifier of a managed object as a request names it.
//!
//! KMIP 1.x identifiers are Text Strings, and a request that omits one means "the object the
//! previous batch item made". KMIP 2.x makes that reference explicit: an identifier may also be
//! an Enumeration naming the operation whose result it refers to (ID Placeholder, Create,
//! Locate, …), or an Integer. Servers answer with text identifiers only, so responses hold a
//! plain `String`.

use crate::enums::{UniqueIdentifierPlaceholder, decode_enum};
use crate::error::Error;
use crate::structure::{FieldValue, wrong_type};
use crate::ttlv::{Item, ItemType, Value};

/// The Unique Identifier field of a request.
///
/// Only [`UniqueIdentifier::Text`] exists in KMIP 1.x; a message built for a 1.x version is
/// expected to hold only that form (the other forms would be encoded as given, and a 1.x peer
/// would refuse them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UniqueIdentifier {
    Text(String),
    /// A KMIP 2.x reference to the object an earlier batch item created or located.
    Placeholder(UniqueIdentifierPlaceholder),
    /// A KMIP 2.x Integer identifier: an index into the identifiers of an earlier batch item.
    Index(i32),
}

impl UniqueIdentifier {
    /// The text identifier, or `None` for a placeholder or index.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Placeholder(_) | Self::Index(_) => None,
        }
    }
}

impl From<&str> for UniqueIdentifier {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for UniqueIdentifier {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl FieldValue for UniqueIdentifier {
    fn read(item: &Item) -> Result<Self, Error> {
        match &item.value {
            Value::TextString(text) => Ok(Self::Text(text.clone())),
            Value::Enumeration(value) => decode_enum(item.tag, *value).map(Self::Placeholder),
            Value::Integer(index) => Ok(Self::Index(*index)),
            _ => Err(wrong_type(item, ItemType::TextString)),
        }
    }

    fn value(&self) -> Value {
        match self {
            Self::Text(text) => Value::TextString(text.clone()),
            Self::Placeholder(placeholder) => placeholder.value(),
            Self::Index(index) => Value::Integer(*index),
        }
    }
}
