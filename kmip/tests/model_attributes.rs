//! Attributes in both forms: KMIP 1.x named `Attribute` structures in a Template-Attribute,
//! KMIP 2.x tagged values in an `Attributes` structure; custom and vendor attributes; the
//! attributes a version lacks.
#![allow(clippy::unwrap_used)]

mod items;

use items::{batch_item, enumeration, integer, request_item, structure, text, version};
use kmip::{
    Attribute, AttributeReference, AttributeType, CreateRequest, CryptographicAlgorithm, DateTime,
    Error, GetAttributesResponse, Item, ModifyAttributeRequest, Name, ObjectType, ProtocolVersion,
    RequestBatchItem, RequestHeader, RequestMessage, RequestPayload, ResponseBatchItem,
    ResponseHeader, ResponseMessage, Tag, Value, VendorAttribute,
};

fn named(name: &str, value: Value) -> Item {
    structure(
        Tag::ATTRIBUTE,
        vec![
            text(Tag::ATTRIBUTE_NAME, name),
            Item {
                tag: Tag::ATTRIBUTE_VALUE,
                value,
            },
        ],
    )
}

fn create(version: ProtocolVersion, attributes: Vec<Attribute>) -> RequestMessage {
    RequestMessage {
        header: RequestHeader::new(version),
        batch_items: vec![RequestBatchItem::new(CreateRequest {
            object_type: ObjectType::SymmetricKey,
            attributes,
        })],
    }
}

/// The children of the payload of the first batch item of a message item.
fn payload_fields(message: &Item) -> Vec<Item> {
    let Value::Structure(children) = &message.value else {
        panic!("not a structure")
    };
    let Value::Structure(batch) = &children[1].value else {
        panic!("no batch item")
    };
    let payload = batch
        .iter()
        .find(|i| matches!(i.tag, Tag::REQUEST_PAYLOAD | Tag::RESPONSE_PAYLOAD))
        .unwrap();
    let Value::Structure(fields) = &payload.value else {
        panic!("payload not a structure")
    };
    fields.clone()
}

fn decode_create(item: &Item) -> Vec<Attribute> {
    let message = RequestMessage::from_item(item).unwrap();
    let RequestPayload::Create(create) = &message.batch_items[0].payload else {
        panic!()
    };
    create.attributes.clone()
}

#[test]
fn the_version_decides_the_attribute_form() {
    let attributes = vec![
        Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
        Attribute::Name(Name::text("key-1")),
    ];
    let v1 = create(ProtocolVersion::V1_2, attributes.clone()).to_item();
    let fields = payload_fields(&v1);
    assert_eq!(
        fields[1],
        structure(
            Tag::TEMPLATE_ATTRIBUTE,
            vec![
                named("Cryptographic Algorithm", Value::Enumeration(3)),
                named(
                    "Name",
                    Value::Structure(vec![
                        text(Tag::NAME_VALUE, "key-1"),
                        enumeration(Tag::NAME_TYPE, 1),
                    ])
                ),
            ]
        )
    );

    let v2 = create(ProtocolVersion::V2_0, attributes.clone()).to_item();
    let fields = payload_fields(&v2);
    assert_eq!(
        fields[1],
        structure(
            Tag::ATTRIBUTES,
            vec![
                enumeration(Tag::CRYPTOGRAPHIC_ALGORITHM, 3),
                structure(
                    Tag::NAME,
                    vec![
                        text(Tag::NAME_VALUE, "key-1"),
                        enumeration(Tag::NAME_TYPE, 1),
                    ]
                ),
            ]
        )
    );

    assert_eq!(decode_create(&v1), attributes);
    assert_eq!(decode_create(&v2), attributes);
}

#[test]
fn a_2_x_message_must_use_the_attributes_structure() {
    let mut item = create(
        ProtocolVersion::V1_2,
        vec![Attribute::CryptographicLength(256)],
    )
    .to_item();
    let Value::Structure(children) = &mut item.value else {
        unreachable!()
    };
    let Value::Structure(header) = &mut children[0].value else {
        unreachable!()
    };
    header[0] = version(2, 0);
    let err = RequestMessage::from_item(&item).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingField {
                parent: Tag::REQUEST_PAYLOAD,
                field: Tag::ATTRIBUTES
            }
        ),
        "{err:?}"
    );
}

#[test]
fn operation_policy_name_is_accepted_from_1_x_clients_and_not_sent_to_2_x() {
    let attributes = vec![
        Attribute::OperationPolicyName("default".into()),
        Attribute::CryptographicLength(256),
    ];
    let v1 = create(ProtocolVersion::V1_0, attributes.clone()).to_item();
    assert_eq!(decode_create(&v1), attributes);
    let v2 = create(ProtocolVersion::V2_0, attributes).to_item();
    assert_eq!(
        decode_create(&v2),
        vec![Attribute::CryptographicLength(256)]
    );
}

#[test]
fn newer_attributes_are_not_sent_to_older_clients() {
    let answer = |version| ResponseMessage {
        header: ResponseHeader::new(version, DateTime(0)),
        batch_items: vec![ResponseBatchItem::success(GetAttributesResponse {
            unique_identifier: "k1".into(),
            attributes: vec![
                Attribute::Sensitive(true),
                Attribute::OriginalCreationDate(DateTime(5)),
                Attribute::CryptographicLength(256),
            ],
        })],
    };
    let attributes_in = |version| {
        let message = ResponseMessage::from_item(&answer(version).to_item()).unwrap();
        let Some(kmip::ResponsePayload::GetAttributes(got)) = &message.batch_items[0].payload
        else {
            panic!()
        };
        got.attributes
            .iter()
            .map(|a| a.attribute_type().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        attributes_in(ProtocolVersion::V1_0),
        vec![AttributeType::CryptographicLength]
    );
    assert_eq!(
        attributes_in(ProtocolVersion::V1_2),
        vec![
            AttributeType::OriginalCreationDate,
            AttributeType::CryptographicLength
        ]
    );
    assert_eq!(attributes_in(ProtocolVersion::V1_4).len(), 3);
    assert_eq!(attributes_in(ProtocolVersion::V2_0).len(), 3);
}

#[test]
fn custom_attributes_map_to_vendor_attributes() {
    let department = Attribute::Vendor(VendorAttribute {
        vendor_identification: "x".into(),
        attribute_name: "department".into(),
        value: Value::TextString("payments".into()),
    });
    assert_eq!(
        department.to_item(ProtocolVersion::V1_4).unwrap(),
        named("x-department", Value::TextString("payments".into()))
    );
    assert_eq!(
        department.to_item(ProtocolVersion::V2_0).unwrap(),
        structure(
            Tag::ATTRIBUTE,
            vec![
                text(Tag::VENDOR_IDENTIFICATION, "x"),
                text(Tag::ATTRIBUTE_NAME, "department"),
                text(Tag::ATTRIBUTE_VALUE, "payments"),
            ]
        )
    );
    for version in [ProtocolVersion::V1_4, ProtocolVersion::V2_0] {
        let item = department.to_item(version).unwrap();
        assert_eq!(Attribute::from_item(&item, version).unwrap(), department);
    }

    let acme = Attribute::Vendor(VendorAttribute {
        vendor_identification: "acme".into(),
        attribute_name: "tier".into(),
        value: Value::Integer(3),
    });
    assert_eq!(
        acme.to_item(ProtocolVersion::V1_4),
        None,
        "KMIP 1.x cannot name it"
    );
    assert!(acme.to_item(ProtocolVersion::V2_1).is_some());
}

#[test]
fn standard_attributes_this_crate_does_not_interpret_still_cross_forms() {
    let lease = named("Lease Time", Value::Interval(3600));
    let attribute = Attribute::from_item(&lease, ProtocolVersion::V1_2).unwrap();
    let Attribute::Other(other) = &attribute else {
        panic!("{attribute:?}")
    };
    assert_eq!(other.attribute_type(), AttributeType::LeaseTime);
    assert_eq!(other.value(), &Value::Interval(3600));
    assert_eq!(
        attribute.to_item(ProtocolVersion::V2_0).unwrap(),
        Item {
            tag: Tag::LEASE_TIME,
            value: Value::Interval(3600)
        }
    );
    assert_eq!(attribute.to_item(ProtocolVersion::V1_0).unwrap(), lease);
}

#[test]
fn unknown_attributes_are_refused() {
    let err = Attribute::from_item(
        &named("Frobnication", Value::Integer(1)),
        ProtocolVersion::V1_4,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidValue {
                tag: Tag::ATTRIBUTE_NAME,
                ..
            }
        ),
        "{err:?}"
    );

    let unknown = structure(Tag::ATTRIBUTES, vec![integer(Tag(0x42_0001 + 0x7000), 1)]);
    let message = create_v2_1(unknown);
    let err = RequestMessage::from_item(&message).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedField {
                parent: Tag::ATTRIBUTES,
                field: Tag(0x42_7001)
            }
        ),
        "{err:?}"
    );

    // A wrongly typed standard attribute names the attribute value it arrived in.
    let mistyped = structure(
        Tag::ATTRIBUTES,
        vec![text(Tag::CRYPTOGRAPHIC_LENGTH, "256")],
    );
    let message = create_v2_1(mistyped);
    let err = RequestMessage::from_item(&message).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedType {
                tag: Tag::CRYPTOGRAPHIC_LENGTH,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A KMIP 2.1 Create request for a symmetric key with `attributes` (an Attributes structure).
fn create_v2_1(attributes: Item) -> Item {
    let create = batch_item(1, vec![enumeration(Tag::OBJECT_TYPE, 2), attributes]);
    request_item((2, 1), vec![create])
}

#[test]
fn attribute_names_and_tags_map_both_ways() {
    let mut names = std::collections::HashSet::new();
    let mut tags = std::collections::HashSet::new();
    for &attribute_type in AttributeType::ALL {
        assert!(names.insert(attribute_type.name()), "{attribute_type:?}");
        assert!(tags.insert(attribute_type.tag()), "{attribute_type:?}");
        assert_eq!(
            AttributeType::from_name(attribute_type.name()),
            Some(attribute_type)
        );
        assert_eq!(
            AttributeType::from_tag(attribute_type.tag()),
            Some(attribute_type)
        );
    }
    assert_eq!(
        AttributeType::from_name("Cryptographic Usage Mask")
            .unwrap()
            .tag(),
        Tag::CRYPTOGRAPHIC_USAGE_MASK
    );
    assert!(AttributeType::OperationPolicyName.exists_in(ProtocolVersion::V1_4));
    assert!(!AttributeType::OperationPolicyName.exists_in(ProtocolVersion::V2_0));
    assert!(!AttributeType::Sensitive.exists_in(ProtocolVersion::V1_3));
}

#[test]
fn a_1_x_attribute_index_is_kept_where_it_selects_an_instance() {
    let modify = ModifyAttributeRequest {
        unique_identifier: Some("k1".into()),
        attribute_index: Some(2),
        current_attribute: None,
        new_attribute: Attribute::Name(Name::text("renamed")),
    };
    let message = RequestMessage {
        header: RequestHeader::new(ProtocolVersion::V1_1),
        batch_items: vec![RequestBatchItem::new(modify)],
    };
    assert_eq!(
        RequestMessage::from_item(&message.to_item()).unwrap(),
        message
    );
    let fields = payload_fields(&message.to_item());
    let Value::Structure(attribute) = &fields[1].value else {
        panic!()
    };
    assert_eq!(attribute[1], integer(Tag::ATTRIBUTE_INDEX, 2));
}

#[test]
fn references_name_attributes_in_both_forms() {
    let reference = AttributeReference::Vendor {
        vendor_identification: "y".into(),
        attribute_name: "rotation".into(),
    };
    assert!(reference.exists_in(ProtocolVersion::V1_0));
    assert!(AttributeReference::Standard(AttributeType::State).exists_in(ProtocolVersion::V1_0));
    assert!(
        !AttributeReference::Standard(AttributeType::QuantumSafe).exists_in(ProtocolVersion::V1_4)
    );
}

/// A 2.x Re-key takes its Attributes, and also a 1.x Template-Attribute in their place: PyKMIP
/// 0.11 writes one into its 2.0 Re-key request. Either way the same attributes are read.
#[test]
fn a_2_0_rekey_takes_a_template_attribute_for_its_attributes() {
    let attributes = vec![Attribute::Name(Name::text("replacement"))];
    let rekey = |version| RequestMessage {
        header: RequestHeader::new(version),
        batch_items: vec![RequestBatchItem::new(kmip::RekeyRequest {
            unique_identifier: Some("k1".into()),
            offset: None,
            attributes: attributes.clone(),
        })],
    };
    let expected = rekey(ProtocolVersion::V2_0);
    assert_eq!(
        RequestMessage::from_item(&expected.to_item()).unwrap(),
        expected
    );
    // The 1.4 request (a Template-Attribute), announced as 2.0.
    let mut item = rekey(ProtocolVersion::V1_4).to_item();
    *items::find(&mut item, Tag::PROTOCOL_VERSION_MINOR) = integer(Tag::PROTOCOL_VERSION_MINOR, 0);
    *items::find(&mut item, Tag::PROTOCOL_VERSION_MAJOR) = integer(Tag::PROTOCOL_VERSION_MAJOR, 2);
    assert_eq!(RequestMessage::from_item(&item).unwrap(), expected);
}
