//! Request and response messages: header, batch items, results (KMIP 1.4 §6–7, 2.1 §8–9).
//!
//! The protocol version in the header decides the form of everything inside: decoding reads the
//! version first, and encoding writes every field in the form of the message's own version,
//! leaving out fields that version does not define. A server answers in the version of the
//! request by building its [`ResponseHeader`] with the request's version.

use crate::credential::Authentication;
use crate::datetime::DateTime;
use crate::enums::{
    AttestationType, BatchErrorContinuationOption, Operation, ResultReason, ResultStatus,
};
use crate::error::Error;
use crate::operations::{RequestPayload, ResponsePayload};
use crate::structure::{Builder, FieldValue, Fields, read_structure, write_structure};
use crate::ttlv::{Item, Tag, Value};
use crate::version::ProtocolVersion;

/// A typed request payload, which knows its operation.
pub trait TypedRequest: Into<RequestPayload> {
    const OPERATION: Operation;
}

/// A typed response payload, which knows its operation.
pub trait TypedResponse: Into<ResponsePayload> {
    const OPERATION: Operation;
}

/// The header of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub protocol_version: ProtocolVersion,
    /// The largest response, in bytes, the client accepts.
    pub maximum_response_size: Option<i32>,
    /// KMIP 1.4.
    pub client_correlation_value: Option<String>,
    /// KMIP 1.4.
    pub server_correlation_value: Option<String>,
    pub asynchronous_indicator: Option<bool>,
    /// KMIP 1.2.
    pub attestation_capable_indicator: Option<bool>,
    /// KMIP 1.2.
    pub attestation_types: Vec<AttestationType>,
    pub authentication: Option<Authentication>,
    pub batch_error_continuation_option: Option<BatchErrorContinuationOption>,
    pub batch_order_option: Option<bool>,
    pub time_stamp: Option<DateTime>,
}

impl RequestHeader {
    /// A header with only the protocol version set.
    #[must_use]
    pub fn new(protocol_version: ProtocolVersion) -> Self {
        Self {
            protocol_version,
            maximum_response_size: None,
            client_correlation_value: None,
            server_correlation_value: None,
            asynchronous_indicator: None,
            attestation_capable_indicator: None,
            attestation_types: Vec::new(),
            authentication: None,
            batch_error_continuation_option: None,
            batch_order_option: None,
            time_stamp: None,
        }
    }
}

impl Header for RequestHeader {
    const MESSAGE: Tag = Tag::REQUEST_MESSAGE;
    const TAG: Tag = Tag::REQUEST_HEADER;

    fn protocol_version(&self) -> ProtocolVersion {
        self.protocol_version
    }

    fn read_fields(
        fields: &mut Fields<'_>,
        protocol_version: ProtocolVersion,
    ) -> Result<Self, Error> {
        Ok(Self {
            protocol_version,
            maximum_response_size: fields.optional(Tag::MAXIMUM_RESPONSE_SIZE)?,
            client_correlation_value: fields.optional(Tag::CLIENT_CORRELATION_VALUE)?,
            server_correlation_value: fields.optional(Tag::SERVER_CORRELATION_VALUE)?,
            asynchronous_indicator: fields.optional(Tag::ASYNCHRONOUS_INDICATOR)?,
            attestation_capable_indicator: fields.optional(Tag::ATTESTATION_CAPABLE_INDICATOR)?,
            attestation_types: fields.repeated(Tag::ATTESTATION_TYPE)?,
            authentication: fields
                .next_item(Tag::AUTHENTICATION)
                .map(Authentication::from_item)
                .transpose()?,
            batch_error_continuation_option: fields
                .optional(Tag::BATCH_ERROR_CONTINUATION_OPTION)?,
            batch_order_option: fields.optional(Tag::BATCH_ORDER_OPTION)?,
            time_stamp: fields.optional(Tag::TIME_STAMP)?,
        })
    }

    fn write_fields(&self, b: &mut Builder) {
        let version = self.protocol_version;
        b.push_opt(
            Tag::MAXIMUM_RESPONSE_SIZE,
            self.maximum_response_size.as_ref(),
        );
        push_correlation_values(
            b,
            version,
            self.client_correlation_value.as_ref(),
            self.server_correlation_value.as_ref(),
        );
        b.push_opt(
            Tag::ASYNCHRONOUS_INDICATOR,
            self.asynchronous_indicator.as_ref(),
        );
        if version >= ProtocolVersion::V1_2 {
            b.push_opt(
                Tag::ATTESTATION_CAPABLE_INDICATOR,
                self.attestation_capable_indicator.as_ref(),
            );
            b.push_all(Tag::ATTESTATION_TYPE, &self.attestation_types);
        }
        if let Some(authentication) = &self.authentication {
            b.push_item(authentication.to_item(version));
        }
        b.push_opt(
            Tag::BATCH_ERROR_CONTINUATION_OPTION,
            self.batch_error_continuation_option.as_ref(),
        );
        b.push_opt(Tag::BATCH_ORDER_OPTION, self.batch_order_option.as_ref());
        b.push_opt(Tag::TIME_STAMP, self.time_stamp.as_ref());
    }
}

/// One operation of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestBatchItem {
    /// The operation. Decoding guarantees that a typed `payload` belongs to it, and keeps a
    /// code KMIP does not define as [`Operation::Unassigned`].
    pub operation: Operation,
    /// KMIP 2.0: the server keeps no state for this item.
    pub ephemeral: Option<bool>,
    /// Pairs this item with its response; required when a batch has several items.
    pub unique_batch_item_id: Option<Vec<u8>>,
    pub payload: RequestPayload,
    /// A vendor's message extension, kept as TTLV.
    pub message_extension: Option<Value>,
}

impl RequestBatchItem {
    /// A batch item for a typed payload.
    pub fn new<P: TypedRequest>(payload: P) -> Self {
        Self {
            operation: P::OPERATION,
            ephemeral: None,
            unique_batch_item_id: None,
            payload: payload.into(),
            message_extension: None,
        }
    }

    /// This item with `id` as its Unique Batch Item ID.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.unique_batch_item_id = Some(id.into());
        self
    }
}

impl BatchItem for RequestBatchItem {
    fn read_fields(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let operation = Operation::read_in_batch_item(fields.required_item(Tag::OPERATION)?)?;
        let ephemeral = fields.optional(Tag::EPHEMERAL)?;
        let unique_batch_item_id = fields.optional(Tag::UNIQUE_BATCH_ITEM_ID)?;
        let payload = fields.required_item(Tag::REQUEST_PAYLOAD)?;
        let payload = RequestPayload::from_item(operation, payload, version)?;
        Ok(Self {
            operation,
            ephemeral,
            unique_batch_item_id,
            payload,
            message_extension: fields.optional(Tag::MESSAGE_EXTENSION)?,
        })
    }

    fn write_fields(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push(Tag::OPERATION, &self.operation);
        if version >= ProtocolVersion::V2_0 {
            b.push_opt(Tag::EPHEMERAL, self.ephemeral.as_ref());
        }
        b.push_opt(
            Tag::UNIQUE_BATCH_ITEM_ID,
            self.unique_batch_item_id.as_ref(),
        );
        b.push_item(self.payload.to_item(version));
        b.push_opt(Tag::MESSAGE_EXTENSION, self.message_extension.as_ref());
    }
}

/// A request message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestMessage {
    pub header: RequestHeader,
    pub batch_items: Vec<RequestBatchItem>,
}

impl RequestMessage {
    /// Decodes a request. The protocol version must be one of
    /// [`ProtocolVersion::SUPPORTED`], and the batch count must match the batch items.
    pub fn from_item(item: &Item) -> Result<Self, Error> {
        read_message(item).map(|(header, batch_items)| Self {
            header,
            batch_items,
        })
    }

    /// Encodes the request in the form of its header's protocol version.
    #[must_use]
    pub fn to_item(&self) -> Item {
        message_item(&self.header, &self.batch_items)
    }

    /// The protocol version a request item claims, read leniently: for answering, in the
    /// client's version, a request that failed to decode.
    #[must_use]
    pub fn protocol_version_of(item: &Item) -> Option<ProtocolVersion> {
        let Value::Structure(children) = &item.value else {
            return None;
        };
        let header = children
            .iter()
            .find(|child| child.tag == Tag::REQUEST_HEADER)?;
        let Value::Structure(fields) = &header.value else {
            return None;
        };
        let version = fields
            .iter()
            .find(|field| field.tag == Tag::PROTOCOL_VERSION)?;
        ProtocolVersion::read(version).ok()
    }
}

/// The header of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHeader {
    pub protocol_version: ProtocolVersion,
    pub time_stamp: DateTime,
    /// KMIP 1.4.
    pub client_correlation_value: Option<String>,
    /// KMIP 1.4.
    pub server_correlation_value: Option<String>,
}

impl ResponseHeader {
    /// A header for a response in `protocol_version`, stamped `time_stamp`.
    #[must_use]
    pub fn new(protocol_version: ProtocolVersion, time_stamp: DateTime) -> Self {
        Self {
            protocol_version,
            time_stamp,
            client_correlation_value: None,
            server_correlation_value: None,
        }
    }
}

impl Header for ResponseHeader {
    const MESSAGE: Tag = Tag::RESPONSE_MESSAGE;
    const TAG: Tag = Tag::RESPONSE_HEADER;

    fn protocol_version(&self) -> ProtocolVersion {
        self.protocol_version
    }

    fn read_fields(
        fields: &mut Fields<'_>,
        protocol_version: ProtocolVersion,
    ) -> Result<Self, Error> {
        Ok(Self {
            protocol_version,
            time_stamp: fields.required(Tag::TIME_STAMP)?,
            client_correlation_value: fields.optional(Tag::CLIENT_CORRELATION_VALUE)?,
            server_correlation_value: fields.optional(Tag::SERVER_CORRELATION_VALUE)?,
        })
    }

    fn write_fields(&self, b: &mut Builder) {
        b.push(Tag::TIME_STAMP, &self.time_stamp);
        push_correlation_values(
            b,
            self.protocol_version,
            self.client_correlation_value.as_ref(),
            self.server_correlation_value.as_ref(),
        );
    }
}

/// The result of one batch item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseBatchItem {
    /// The operation, echoed from the request when the request named one.
    pub operation: Option<Operation>,
    pub unique_batch_item_id: Option<Vec<u8>>,
    pub result_status: ResultStatus,
    /// Required when the status is *Operation Failed*. Encoded as the message's version
    /// understands it ([`ResultReason::for_version`]).
    pub result_reason: Option<ResultReason>,
    pub result_message: Option<String>,
    /// Set when the status is *Operation Pending*.
    pub asynchronous_correlation_value: Option<Vec<u8>>,
    pub payload: Option<ResponsePayload>,
    /// A vendor's message extension, kept as TTLV.
    pub message_extension: Option<Value>,
}

impl ResponseBatchItem {
    /// A successful result carrying `payload`.
    pub fn success<P: TypedResponse>(payload: P) -> Self {
        Self::with_status(
            Some(P::OPERATION),
            ResultStatus::Success,
            Some(payload.into()),
        )
    }

    /// A failed result for `operation` (absent when the request item named none).
    #[must_use]
    pub fn failure(
        operation: Option<Operation>,
        reason: ResultReason,
        message: impl Into<String>,
    ) -> Self {
        Self {
            result_reason: Some(reason),
            result_message: Some(message.into()),
            ..Self::with_status(operation, ResultStatus::OperationFailed, None)
        }
    }

    fn with_status(
        operation: Option<Operation>,
        result_status: ResultStatus,
        payload: Option<ResponsePayload>,
    ) -> Self {
        Self {
            operation,
            unique_batch_item_id: None,
            result_status,
            result_reason: None,
            result_message: None,
            asynchronous_correlation_value: None,
            payload,
            message_extension: None,
        }
    }

    /// This item with `id` as its Unique Batch Item ID.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.unique_batch_item_id = Some(id.into());
        self
    }
}

impl BatchItem for ResponseBatchItem {
    fn read_fields(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error> {
        let operation = fields
            .next_item(Tag::OPERATION)
            .map(Operation::read_in_batch_item)
            .transpose()?;
        let unique_batch_item_id = fields.optional(Tag::UNIQUE_BATCH_ITEM_ID)?;
        let result_status = fields.required(Tag::RESULT_STATUS)?;
        let result_reason = fields.optional(Tag::RESULT_REASON)?;
        let result_message = fields.optional(Tag::RESULT_MESSAGE)?;
        let asynchronous_correlation_value =
            fields.optional(Tag::ASYNCHRONOUS_CORRELATION_VALUE)?;
        let payload = match (operation, fields.next_item(Tag::RESPONSE_PAYLOAD)) {
            (Some(operation), Some(payload)) => {
                Some(ResponsePayload::from_item(operation, payload, version)?)
            }
            (None, Some(payload)) => Some(ResponsePayload::Other(payload.clone())),
            (_, None) => None,
        };
        Ok(Self {
            operation,
            unique_batch_item_id,
            result_status,
            result_reason,
            result_message,
            asynchronous_correlation_value,
            payload,
            message_extension: fields.optional(Tag::MESSAGE_EXTENSION)?,
        })
    }

    fn write_fields(&self, b: &mut Builder, version: ProtocolVersion) {
        b.push_opt(Tag::OPERATION, self.operation.as_ref());
        b.push_opt(
            Tag::UNIQUE_BATCH_ITEM_ID,
            self.unique_batch_item_id.as_ref(),
        );
        b.push(Tag::RESULT_STATUS, &self.result_status);
        let reason = self.result_reason.map(|reason| reason.for_version(version));
        b.push_opt(Tag::RESULT_REASON, reason.as_ref());
        b.push_opt(Tag::RESULT_MESSAGE, self.result_message.as_ref());
        b.push_opt(
            Tag::ASYNCHRONOUS_CORRELATION_VALUE,
            self.asynchronous_correlation_value.as_ref(),
        );
        if let Some(payload) = &self.payload {
            b.push_item(payload.to_item(version));
        }
        b.push_opt(Tag::MESSAGE_EXTENSION, self.message_extension.as_ref());
    }
}

/// A response message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseMessage {
    pub header: ResponseHeader,
    pub batch_items: Vec<ResponseBatchItem>,
}

impl ResponseMessage {
    /// A response in `version`, stamped now, of one failed batch item that names no operation:
    /// the answer to a request that could not be read.
    #[must_use]
    pub fn failure(
        version: ProtocolVersion,
        reason: ResultReason,
        message: impl Into<String>,
    ) -> Self {
        Self {
            header: ResponseHeader::new(version, DateTime::now()),
            batch_items: vec![ResponseBatchItem::failure(None, reason, message)],
        }
    }

    /// Decodes a response. The protocol version must be one of
    /// [`ProtocolVersion::SUPPORTED`], and the batch count must match the batch items.
    pub fn from_item(item: &Item) -> Result<Self, Error> {
        read_message(item).map(|(header, batch_items)| Self {
            header,
            batch_items,
        })
    }

    /// Encodes the response in the form of its header's protocol version: fields and result
    /// reasons newer than that version are left out or mapped to older equivalents.
    #[must_use]
    pub fn to_item(&self) -> Item {
        message_item(&self.header, &self.batch_items)
    }
}

/// The header of a request or a response. Both read and write the same frame — the
/// Protocol Version first, checked before anything else is read, the Batch Count last — around
/// fields of their own.
trait Header: Sized {
    /// The tag of the message this header heads.
    const MESSAGE: Tag;
    const TAG: Tag;

    fn protocol_version(&self) -> ProtocolVersion;

    /// Reads the fields between the Protocol Version and the Batch Count.
    fn read_fields(
        fields: &mut Fields<'_>,
        protocol_version: ProtocolVersion,
    ) -> Result<Self, Error>;

    /// Writes the fields between the Protocol Version and the Batch Count, in the form of the
    /// header's own version.
    fn write_fields(&self, b: &mut Builder);
}

/// One batch item of a request or a response, read and written in the form of the message's
/// protocol version.
trait BatchItem: Sized {
    fn read_fields(fields: &mut Fields<'_>, version: ProtocolVersion) -> Result<Self, Error>;

    fn write_fields(&self, b: &mut Builder, version: ProtocolVersion);
}

/// Decodes a message headed by an `H`. The protocol version must be one of
/// [`ProtocolVersion::SUPPORTED`]: it decides the form of the batch items, so it is checked
/// before any of them is read.
fn read_message<H: Header, B: BatchItem>(item: &Item) -> Result<(H, Vec<B>), Error> {
    expect_tag(item, H::MESSAGE)?;
    read_structure(item, |fields| {
        let (header, batch_count) = read_structure(fields.required_item(H::TAG)?, |fields| {
            let protocol_version = fields.required::<ProtocolVersion>(Tag::PROTOCOL_VERSION)?;
            let header = H::read_fields(fields, protocol_version.supported()?)?;
            Ok((header, fields.required(Tag::BATCH_COUNT)?))
        })?;
        let version = header.protocol_version();
        let batch_items = read_batch(fields, batch_count, |item| {
            read_structure(item, |fields| B::read_fields(fields, version))
        })?;
        Ok((header, batch_items))
    })
}

/// Builds a message in the form of its header's protocol version.
fn message_item<H: Header, B: BatchItem>(header: &H, batch_items: &[B]) -> Item {
    let version = header.protocol_version();
    write_structure(H::MESSAGE, |b| {
        b.push_item(write_structure(H::TAG, |b| {
            b.push(Tag::PROTOCOL_VERSION, &version);
            header.write_fields(b);
            b.push(Tag::BATCH_COUNT, &batch_count(batch_items.len()));
        }));
        for item in batch_items {
            b.push_item(write_structure(Tag::BATCH_ITEM, |b| {
                item.write_fields(b, version);
            }));
        }
    })
}

/// Writes the correlation values both headers carry from KMIP 1.4 on.
fn push_correlation_values(
    b: &mut Builder,
    version: ProtocolVersion,
    client: Option<&String>,
    server: Option<&String>,
) {
    if version >= ProtocolVersion::V1_4 {
        b.push_opt(Tag::CLIENT_CORRELATION_VALUE, client);
        b.push_opt(Tag::SERVER_CORRELATION_VALUE, server);
    }
}

/// Refuses a top-level item that is not the message expected.
fn expect_tag(item: &Item, expected: Tag) -> Result<(), Error> {
    if item.tag == expected {
        Ok(())
    } else {
        Err(Error::UnexpectedTag {
            expected,
            found: item.tag,
        })
    }
}

/// Reads the batch items of a message, which must number `batch_count` (at least one).
fn read_batch<T>(
    fields: &mut Fields<'_>,
    batch_count: i32,
    read: impl Fn(&Item) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    let items = fields.items(Tag::BATCH_ITEM);
    if items.is_empty() {
        return Err(Error::MissingField {
            parent: fields.parent(),
            field: Tag::BATCH_ITEM,
        });
    }
    if usize::try_from(batch_count).ok() != Some(items.len()) {
        return Err(Error::InvalidValue {
            tag: Tag::BATCH_COUNT,
            reason: "does not match the number of batch items",
        });
    }
    items.iter().map(read).collect()
}

/// The Batch Count of `len` items. A message cannot hold more than `i32::MAX` items: the
/// codec bounds its size far below that.
fn batch_count(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}
