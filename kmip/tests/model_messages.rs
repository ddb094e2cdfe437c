//! Request and response messages: unknown operations, required fields, batch bookkeeping,
//! protocol versions, identifiers and the secrets that must not print.
#![allow(clippy::unwrap_used)]

mod items;

use items::{batch_item, enumeration, header, integer, request_item, structure, text};
use kmip::{
    ActivateRequest, Authentication, Credential, CryptographicAlgorithm, DateTime, Error,
    ExtensionCode, GetResponse, Item, KeyBlock, KmipEnum, Limits, ManagedObject, Operation,
    ProtocolVersion, RequestBatchItem, RequestHeader, RequestMessage, RequestPayload,
    ResponseBatchItem, ResponseHeader, ResponseMessage, ResultReason, SecretBytes, SymmetricKey,
    Tag, UnassignedCode, UniqueIdentifier, UniqueIdentifierPlaceholder, UsernamePasswordCredential,
    Value,
};

/// Decodes `item` through the wire, to exercise the codec as well.
fn through_wire(item: &Item) -> Item {
    let mut bytes = Vec::new();
    kmip::encode(item, &mut bytes).unwrap();
    kmip::decode(&bytes, &Limits::default()).unwrap()
}

#[test]
fn unknown_operations_keep_their_code_and_raw_payload() {
    let vendor_payload = vec![
        text(Tag(0x54_0001), "vendor data"),
        integer(Tag(0x54_0002), 7),
    ];
    let certify_payload = vec![text(Tag::UNIQUE_IDENTIFIER, "k1")];
    let item = request_item(
        (1, 4),
        vec![
            batch_item(0x8000_0042, vendor_payload.clone()),
            batch_item(Operation::Certify.to_u32(), certify_payload.clone()),
        ],
    );
    let message = RequestMessage::from_item(&through_wire(&item)).unwrap();
    let code = ExtensionCode::new(0x8000_0042).unwrap();
    assert_eq!(message.batch_items[0].operation, Operation::Extension(code));
    assert_eq!(
        message.batch_items[0].payload,
        RequestPayload::Other(structure(Tag::REQUEST_PAYLOAD, vendor_payload))
    );
    assert_eq!(message.batch_items[1].operation, Operation::Certify);
    assert_eq!(
        message.batch_items[1].payload,
        RequestPayload::Other(structure(Tag::REQUEST_PAYLOAD, certify_payload))
    );
    // Forwarded unchanged.
    assert_eq!(message.to_item(), item);

    // And answered with the operation echoed.
    let answer = ResponseMessage {
        header: ResponseHeader::new(ProtocolVersion::V1_4, DateTime(0)),
        batch_items: vec![ResponseBatchItem::failure(
            Some(Operation::Extension(code)),
            ResultReason::OperationNotSupported,
            "operation not supported",
        )],
    };
    let decoded = ResponseMessage::from_item(&through_wire(&answer.to_item())).unwrap();
    assert_eq!(decoded, answer);
}

#[test]
fn operation_codes_kmip_does_not_define_are_kept_only_in_batch_items() {
    let payload = vec![text(Tag::UNIQUE_IDENTIFIER, "k1")];
    let item = request_item((2, 0), vec![batch_item(0x00AB_CDEF, payload.clone())]);
    let message = RequestMessage::from_item(&through_wire(&item)).unwrap();
    let code = UnassignedCode::new(0x00AB_CDEF).unwrap();
    assert_eq!(
        message.batch_items[0].operation,
        Operation::Unassigned(code)
    );
    assert_eq!(
        message.batch_items[0].payload,
        RequestPayload::Other(structure(Tag::REQUEST_PAYLOAD, payload))
    );
    assert_eq!(message.to_item(), item);

    // Echoed in the answer, which decodes.
    let answer = ResponseMessage {
        header: ResponseHeader::new(ProtocolVersion::V2_0, DateTime(0)),
        batch_items: vec![ResponseBatchItem::failure(
            Some(Operation::Unassigned(code)),
            ResultReason::OperationNotSupported,
            "not a KMIP operation",
        )],
    };
    let decoded = ResponseMessage::from_item(&through_wire(&answer.to_item())).unwrap();
    assert_eq!(decoded, answer);

    // Anywhere else, such a code is refused: here, in a Query answer's list.
    let query = structure(
        Tag::RESPONSE_PAYLOAD,
        vec![enumeration(Tag::OPERATION, 0x00AB_CDEF)],
    );
    let err = kmip::ResponsePayload::from_item(Operation::Query, &query, ProtocolVersion::V2_0)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnknownEnumValue {
                tag: Tag::OPERATION,
                value: 0x00AB_CDEF
            }
        ),
        "{err:?}"
    );
    assert_eq!(UnassignedCode::new(Operation::Rekey.to_u32()), None);
    assert_eq!(UnassignedCode::new(0x8000_0042), None, "a vendor extension");
}

#[test]
fn missing_required_fields_name_the_structure_and_the_field() {
    let no_header = structure(Tag::REQUEST_MESSAGE, vec![]);
    let err = RequestMessage::from_item(&no_header).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingField {
                parent: Tag::REQUEST_MESSAGE,
                field: Tag::REQUEST_HEADER
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.result_reason(), ResultReason::InvalidMessage);

    // A Revoke without its Revocation Reason.
    let item = request_item(
        (1, 0),
        vec![batch_item(0x13, vec![text(Tag::UNIQUE_IDENTIFIER, "k1")])],
    );
    let err = RequestMessage::from_item(&item).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingField {
                parent: Tag::REQUEST_PAYLOAD,
                field: Tag::REVOCATION_REASON
            }
        ),
        "{err:?}"
    );

    // A 2.0 Name attribute without its Name Type.
    let name = structure(Tag::NAME, vec![text(Tag::NAME_VALUE, "key-1")]);
    let create = batch_item(
        0x01,
        vec![
            enumeration(Tag::OBJECT_TYPE, 2),
            structure(Tag::ATTRIBUTES, vec![name]),
        ],
    );
    let err = RequestMessage::from_item(&request_item((2, 0), vec![create])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingField {
                parent: Tag::NAME,
                field: Tag::NAME_TYPE
            }
        ),
        "{err:?}"
    );

    // A Derive Key naming no object to derive from.
    let derive = batch_item(
        Operation::DeriveKey.to_u32(),
        vec![
            enumeration(Tag::OBJECT_TYPE, 2),
            enumeration(Tag::DERIVATION_METHOD, 1),
            structure(Tag::DERIVATION_PARAMETERS, vec![]),
            structure(Tag::ATTRIBUTES, vec![]),
        ],
    );
    let err = RequestMessage::from_item(&request_item((2, 0), vec![derive])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingField {
                parent: Tag::REQUEST_PAYLOAD,
                field: Tag::UNIQUE_IDENTIFIER
            }
        ),
        "{err:?}"
    );

    // A message without batch items.
    let empty = structure(Tag::REQUEST_MESSAGE, vec![header(1, 0, 0)]);
    let err = RequestMessage::from_item(&empty).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingField {
                parent: Tag::REQUEST_MESSAGE,
                field: Tag::BATCH_ITEM
            }
        ),
        "{err:?}"
    );
}

#[test]
fn fields_out_of_place_are_refused() {
    let activate = batch_item(
        0x12,
        vec![
            text(Tag::UNIQUE_IDENTIFIER, "k1"),
            text(Tag::UNIQUE_IDENTIFIER, "k2"),
        ],
    );
    let err = RequestMessage::from_item(&request_item((1, 2), vec![activate])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedField {
                parent: Tag::REQUEST_PAYLOAD,
                field: Tag::UNIQUE_IDENTIFIER
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.result_reason(), ResultReason::InvalidMessage);

    let wrong_type = batch_item(0x12, vec![integer(Tag::UNIQUE_IDENTIFIER, 1)]);
    // An Integer identifier is a KMIP 2.x form, accepted as such...
    let message = RequestMessage::from_item(&request_item((2, 0), vec![wrong_type])).unwrap();
    let RequestPayload::Activate(activate) = &message.batch_items[0].payload else {
        panic!()
    };
    assert_eq!(activate.unique_identifier, Some(UniqueIdentifier::Index(1)));
    // ...but a Boolean never is.
    let boolean = batch_item(
        0x12,
        vec![Item {
            tag: Tag::UNIQUE_IDENTIFIER,
            value: Value::Boolean(true),
        }],
    );
    let err = RequestMessage::from_item(&request_item((2, 0), vec![boolean])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedType {
                tag: Tag::UNIQUE_IDENTIFIER,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn batch_count_must_match_the_batch() {
    let mut item = request_item((1, 0), vec![batch_item(0x12, vec![])]);
    let Value::Structure(children) = &mut item.value else {
        unreachable!()
    };
    children[0] = header(1, 0, 2);
    let err = RequestMessage::from_item(&item).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidValue {
                tag: Tag::BATCH_COUNT,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unsupported_versions_are_refused_but_still_readable_for_the_answer() {
    let item = request_item((3, 0), vec![batch_item(0x12, vec![])]);
    let err = RequestMessage::from_item(&item).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedVersion { major: 3, minor: 0 }),
        "{err:?}"
    );
    assert_eq!(err.result_reason(), ResultReason::InvalidMessage);
    assert_eq!(
        RequestMessage::protocol_version_of(&item),
        Some(ProtocolVersion::new(3, 0))
    );
    for version in ProtocolVersion::SUPPORTED {
        let item = request_item(
            (version.major, version.minor),
            vec![batch_item(0x12, vec![])],
        );
        assert!(RequestMessage::from_item(&item).is_ok(), "{version}");
    }
}

#[test]
fn a_response_is_not_a_request() {
    let response = ResponseMessage {
        header: ResponseHeader::new(ProtocolVersion::V1_0, DateTime(0)),
        batch_items: vec![ResponseBatchItem::failure(
            None,
            ResultReason::InvalidMessage,
            "bad",
        )],
    };
    let err = RequestMessage::from_item(&response.to_item()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedTag {
                expected: Tag::REQUEST_MESSAGE,
                found: Tag::RESPONSE_MESSAGE
            }
        ),
        "{err:?}"
    );
}

#[test]
fn codec_faults_are_invalid_messages() {
    let mut bytes = Vec::new();
    kmip::encode(
        &request_item((1, 0), vec![batch_item(0x12, vec![])]),
        &mut bytes,
    )
    .unwrap();
    let err = kmip::decode(&bytes[..bytes.len() - 3], &Limits::default()).unwrap_err();
    assert_eq!(err.result_reason(), ResultReason::InvalidMessage);
}

#[test]
fn identifiers_may_be_kmip_2_placeholders() {
    let placeholder = batch_item(0x12, vec![enumeration(Tag::UNIQUE_IDENTIFIER, 1)]);
    let item = request_item((2, 0), vec![placeholder]);
    let message = RequestMessage::from_item(&item).unwrap();
    let expected = ActivateRequest {
        unique_identifier: Some(UniqueIdentifier::Placeholder(
            UniqueIdentifierPlaceholder::IdPlaceholder,
        )),
    };
    assert_eq!(message.batch_items[0], RequestBatchItem::new(expected));
    assert_eq!(message.to_item(), item);
    assert_eq!(UniqueIdentifier::from("k1").as_text(), Some("k1"));
    assert_eq!(UniqueIdentifier::Index(3).as_text(), None);
}

#[test]
fn headers_leave_out_fields_older_versions_lack() {
    let mut header = ResponseHeader::new(ProtocolVersion::V1_0, DateTime(1));
    header.server_correlation_value = Some("corr".into());
    let message = |header: ResponseHeader| ResponseMessage {
        header,
        batch_items: vec![ResponseBatchItem::failure(
            None,
            ResultReason::InvalidMessage,
            "x",
        )],
    };
    let old = message(header.clone());
    let decoded = ResponseMessage::from_item(&old.to_item()).unwrap();
    assert_eq!(decoded.header.server_correlation_value, None);

    header.protocol_version = ProtocolVersion::V1_4;
    let new = message(header);
    assert_eq!(ResponseMessage::from_item(&new.to_item()).unwrap(), new);
}

#[test]
fn requests_round_trip_with_every_header_field() {
    let mut header = RequestHeader::new(ProtocolVersion::V1_4);
    header.maximum_response_size = Some(1 << 16);
    header.client_correlation_value = Some("client".into());
    header.asynchronous_indicator = Some(false);
    header.attestation_capable_indicator = Some(true);
    header.authentication = Some(Authentication {
        credentials: vec![
            Credential::UsernamePassword(UsernamePasswordCredential {
                username: "app".into(),
                password: Some("pw".into()),
            }),
            Credential::Device(kmip::DeviceCredential {
                device_serial_number: Some("SN-1".into()),
                ..kmip::DeviceCredential::default()
            }),
        ],
    });
    header.batch_order_option = Some(true);
    header.time_stamp = Some(DateTime(1_700_000_000));
    let message = RequestMessage {
        header,
        batch_items: vec![RequestBatchItem::new(ActivateRequest::default()).with_id(*b"a")],
    };
    assert_eq!(
        RequestMessage::from_item(&through_wire(&message.to_item())).unwrap(),
        message
    );
}

#[test]
fn secrets_do_not_print() {
    let key = SecretBytes::new(vec![0xAB; 32]);
    let got = GetResponse {
        unique_identifier: "k1".into(),
        object: ManagedObject::SymmetricKey(SymmetricKey {
            key_block: KeyBlock::raw(CryptographicAlgorithm::Aes, key),
        }),
    };
    let printed = format!("{got:?}");
    assert!(printed.contains("<32 bytes>"), "{printed}");
    assert!(
        !printed.contains("171") && !printed.to_lowercase().contains("ab, "),
        "{printed}"
    );

    let credential = Credential::UsernamePassword(UsernamePasswordCredential {
        username: "app".into(),
        password: Some("hunter2".into()),
    });
    let printed = format!("{credential:?}");
    assert!(
        printed.contains("app") && !printed.contains("hunter2"),
        "{printed}"
    );
    let item = credential_item(&credential);
    assert!(!format!("{item:?}").contains("hunter2"));
}

/// The credential as it travels, to check the item tree's own redaction.
fn credential_item(credential: &Credential) -> Item {
    let mut header = RequestHeader::new(ProtocolVersion::V1_2);
    header.authentication = Some(Authentication {
        credentials: vec![credential.clone()],
    });
    RequestMessage {
        header,
        batch_items: vec![RequestBatchItem::new(ActivateRequest::default())],
    }
    .to_item()
}

#[test]
fn query_answers_list_only_what_the_client_version_defines() {
    let offer = kmip::QueryResponse {
        operations: vec![
            Operation::Create,
            Operation::Encrypt,
            Operation::SetAttribute,
        ],
        object_types: vec![
            kmip::ObjectType::SymmetricKey,
            kmip::ObjectType::CertificateRequest,
        ],
        ..kmip::QueryResponse::default()
    };
    let listed = |version| {
        let message = ResponseMessage {
            header: ResponseHeader::new(version, DateTime(0)),
            batch_items: vec![ResponseBatchItem::success(offer.clone())],
        };
        let decoded = ResponseMessage::from_item(&message.to_item()).unwrap();
        let Some(kmip::ResponsePayload::Query(query)) = &decoded.batch_items[0].payload else {
            panic!()
        };
        (query.operations.len(), query.object_types.len())
    };
    assert_eq!(listed(ProtocolVersion::V1_0), (1, 1));
    assert_eq!(listed(ProtocolVersion::V1_2), (2, 1));
    assert_eq!(listed(ProtocolVersion::V2_0), (3, 2));
}
