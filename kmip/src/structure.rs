//! Reading the fields of a KMIP structure in the order the specification lists them, and
//! building a structure field by field.
//!
//! KMIP structures are ordered: each field has one place. [`Fields`] walks the children of a
//! structure as a cursor, so a field out of place, repeated where it may not be, or unknown is
//! reported as [`Error::UnexpectedField`] instead of being silently skipped.

use zeroize::Zeroizing;

use crate::datetime::DateTime;
use crate::enums::{KmipEnum, decode_enum};
use crate::error::Error;
use crate::ttlv::{Item, ItemType, Tag, Value};

/// A Rust type that is the value of one KMIP field.
pub(crate) trait FieldValue: Sized {
    /// Reads the value of `item`, whatever its tag.
    fn read(item: &Item) -> Result<Self, Error>;

    /// The TTLV value of this field.
    fn value(&self) -> Value;
}

/// The error for an item whose type is not `expected`.
pub(crate) fn wrong_type(item: &Item, expected: ItemType) -> Error {
    Error::UnexpectedType {
        tag: item.tag,
        expected,
        found: item.value.item_type(),
    }
}

/// A cursor over the children of one structure.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    parent: Tag,
    rest: &'a [Item],
}

impl<'a> Fields<'a> {
    /// The fields of `item`, which must be a Structure.
    pub(crate) fn new(item: &'a Item) -> Result<Self, Error> {
        match &item.value {
            Value::Structure(children) => Ok(Self {
                parent: item.tag,
                rest: children,
            }),
            _ => Err(wrong_type(item, ItemType::Structure)),
        }
    }

    /// The tag of the structure being read.
    pub(crate) fn parent(&self) -> Tag {
        self.parent
    }

    /// The next field if it has `tag`.
    pub(crate) fn next_item(&mut self, tag: Tag) -> Option<&'a Item> {
        match self.rest.split_first() {
            Some((first, rest)) if first.tag == tag => {
                self.rest = rest;
                Some(first)
            }
            _ => None,
        }
    }

    /// The next field, which must have `tag`.
    pub(crate) fn required_item(&mut self, tag: Tag) -> Result<&'a Item, Error> {
        self.next_item(tag).ok_or(Error::MissingField {
            parent: self.parent,
            field: tag,
        })
    }

    /// The run of consecutive fields with `tag` (possibly empty).
    pub(crate) fn items(&mut self, tag: Tag) -> &'a [Item] {
        let count = self.rest.iter().take_while(|item| item.tag == tag).count();
        let (run, rest) = self.rest.split_at(count);
        self.rest = rest;
        run
    }

    /// Every remaining field, whatever its tag.
    pub(crate) fn remaining(&mut self) -> &'a [Item] {
        std::mem::take(&mut self.rest)
    }

    pub(crate) fn required<T: FieldValue>(&mut self, tag: Tag) -> Result<T, Error> {
        T::read(self.required_item(tag)?)
    }

    pub(crate) fn optional<T: FieldValue>(&mut self, tag: Tag) -> Result<Option<T>, Error> {
        self.next_item(tag).map(T::read).transpose()
    }

    pub(crate) fn repeated<T: FieldValue>(&mut self, tag: Tag) -> Result<Vec<T>, Error> {
        self.items(tag).iter().map(T::read).collect()
    }

    /// Ends the walk: any field left over is one the specification does not put here.
    pub(crate) fn finish(self) -> Result<(), Error> {
        match self.rest.first() {
            None => Ok(()),
            Some(extra) => Err(Error::UnexpectedField {
                parent: self.parent,
                field: extra.tag,
            }),
        }
    }
}

/// Reads the whole of structure `item` with `read`: fields `read` leaves unread are an error.
pub(crate) fn read_structure<T>(
    item: &Item,
    read: impl FnOnce(&mut Fields<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut fields = Fields::new(item)?;
    let value = read(&mut fields)?;
    fields.finish()?;
    Ok(value)
}

/// Builds the structure `tag` from the fields `write` pushes: the mirror of [`read_structure`].
pub(crate) fn write_structure(tag: Tag, write: impl FnOnce(&mut Builder)) -> Item {
    let mut b = Builder::new();
    write(&mut b);
    b.finish(tag)
}

/// Builds the children of a structure in order.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    items: Vec<Item>,
}

impl Builder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push<T: FieldValue>(&mut self, tag: Tag, value: &T) {
        self.items.push(Item {
            tag,
            value: value.value(),
        });
    }

    pub(crate) fn push_opt<T: FieldValue>(&mut self, tag: Tag, value: Option<&T>) {
        if let Some(value) = value {
            self.push(tag, value);
        }
    }

    pub(crate) fn push_all<T: FieldValue>(&mut self, tag: Tag, values: &[T]) {
        self.items.extend(values.iter().map(|value| Item {
            tag,
            value: value.value(),
        }));
    }

    pub(crate) fn push_item(&mut self, item: Item) {
        self.items.push(item);
    }

    /// The structure built so far, under `tag`.
    pub(crate) fn finish(self, tag: Tag) -> Item {
        Item {
            tag,
            value: Value::Structure(self.items),
        }
    }

    /// The children built so far, for a caller that wraps them itself.
    pub(crate) fn into_value(self) -> Value {
        Value::Structure(self.items)
    }
}

/// Implements [`FieldValue`] for a type held directly in one `Value` variant.
macro_rules! primitive_field {
    ($ty:ty, $variant:ident, |$v:ident| $read:expr, |$s:ident| $write:expr) => {
        impl FieldValue for $ty {
            fn read(item: &Item) -> Result<Self, Error> {
                match &item.value {
                    Value::$variant($v) => Ok($read),
                    _ => Err(wrong_type(item, ItemType::$variant)),
                }
            }

            fn value(&self) -> Value {
                let $s = self;
                Value::$variant($write)
            }
        }
    };
}

primitive_field!(i32, Integer, |v| *v, |s| *s);
primitive_field!(i64, LongInteger, |v| *v, |s| *s);
primitive_field!(u32, Interval, |v| *v, |s| *s);
primitive_field!(bool, Boolean, |v| *v, |s| *s);
primitive_field!(String, TextString, |v| v.clone(), |s| s.clone());
primitive_field!(Vec<u8>, ByteString, |v| v.to_vec(), |s| Zeroizing::new(
    s.clone()
));
primitive_field!(DateTime, DateTime, |v| DateTime(*v), |s| s.0);

/// Any value, kept as TTLV: for fields whose content this crate does not interpret.
impl FieldValue for Value {
    fn read(item: &Item) -> Result<Self, Error> {
        Ok(item.value.clone())
    }

    fn value(&self) -> Value {
        self.clone()
    }
}

impl<E: KmipEnum> FieldValue for E {
    fn read(item: &Item) -> Result<Self, Error> {
        match item.value {
            Value::Enumeration(value) => decode_enum(item.tag, value),
            _ => Err(wrong_type(item, ItemType::Enumeration)),
        }
    }

    fn value(&self) -> Value {
        Value::Enumeration(self.to_u32())
    }
}

/// Declares a KMIP structure whose fields are read and written in order, one line per field:
///
/// ```text
/// pub name: required String => NAME_VALUE,
/// pub located_items: optional i32 => LOCATED_ITEMS since V1_3,
/// ```
///
/// `required` fields are `T`, `optional` ones `Option<T>`, `repeated` ones `Vec<T>`. A field
/// marked `since` is left out when writing for an older protocol version; reading accepts it
/// in any version.
macro_rules! kmip_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $kind:ident $ty:ty => $tag:ident $(since $since:ident)?,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $crate::structure::field_type!($kind $ty), )*
        }

        impl $name {
            #[allow(unused_variables)]
            pub(crate) fn read_fields(
                fields: &mut $crate::structure::Fields<'_>,
            ) -> Result<Self, $crate::error::Error> {
                Ok(Self { $( $field: fields.$kind($crate::ttlv::Tag::$tag)?, )* })
            }

            #[allow(unused_variables)]
            pub(crate) fn write_fields(
                &self,
                b: &mut $crate::structure::Builder,
                version: $crate::version::ProtocolVersion,
            ) {
                $(
                    if true $(&& version >= $crate::version::ProtocolVersion::$since)? {
                        $crate::structure::push_field!($kind, b, $crate::ttlv::Tag::$tag, &self.$field);
                    }
                )*
            }
        }
    };
}

/// The Rust type of a [`kmip_struct!`] field.
macro_rules! field_type {
    (required $ty:ty) => { $ty };
    (optional $ty:ty) => { Option<$ty> };
    (repeated $ty:ty) => { Vec<$ty> };
}

/// Writes one [`kmip_struct!`] field.
macro_rules! push_field {
    (required, $b:ident, $tag:expr, $value:expr) => {
        $b.push($tag, $value)
    };
    (optional, $b:ident, $tag:expr, $value:expr) => {
        $b.push_opt($tag, ($value).as_ref())
    };
    (repeated, $b:ident, $tag:expr, $value:expr) => {
        $b.push_all($tag, $value)
    };
}

/// Makes a [`kmip_struct!`] the value of a field, read and written whole. Such structures are
/// written with every field they hold, whatever the protocol version: they are attribute values
/// and the like, which a server echoes as the client gave them.
macro_rules! structure_field {
    ($name:ident) => {
        impl $crate::structure::FieldValue for $name {
            fn read(item: &$crate::ttlv::Item) -> Result<Self, $crate::error::Error> {
                $crate::structure::read_structure(item, Self::read_fields)
            }

            fn value(&self) -> $crate::ttlv::Value {
                let mut b = $crate::structure::Builder::new();
                self.write_fields(&mut b, $crate::version::ProtocolVersion::V2_1);
                b.into_value()
            }
        }
    };
}

pub(crate) use {field_type, kmip_struct, push_field, structure_field};
