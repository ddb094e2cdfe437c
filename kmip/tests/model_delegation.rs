//! Krypton's delegated-identity credential: the wire form the gateway and the core agree on,
//! its round trip in every protocol version, and refusal of a malformed one.
#![allow(clippy::unwrap_used)]

use kmip::{
    ActivateRequest, Authentication, Credential, CredentialType, DelegatedIdentity, Error, Item,
    KmipEnum, Limits, ProtocolVersion, RequestBatchItem, RequestHeader, RequestMessage, Tag, Value,
};

fn delegated(tenant: &str, identity: &str) -> Credential {
    Credential::Delegated(DelegatedIdentity {
        tenant: tenant.into(),
        identity: identity.into(),
        correlation: Some("9f1c0a7e3b5d2c14-1".into()),
    })
}

fn request(version: ProtocolVersion, credential: Credential) -> RequestMessage {
    let mut header = RequestHeader::new(version);
    header.authentication = Some(Authentication {
        credentials: vec![credential],
    });
    RequestMessage {
        header,
        batch_items: vec![RequestBatchItem::new(ActivateRequest::default())],
    }
}

fn through_wire(item: &Item) -> Item {
    let mut bytes = Vec::new();
    kmip::encode(item, &mut bytes).unwrap();
    kmip::decode(&bytes, &Limits::default()).unwrap()
}

fn child(item: &Item, tag: Tag) -> &Item {
    let Value::Structure(children) = &item.value else {
        panic!("{item:?} is not a structure")
    };
    children.iter().find(|c| c.tag == tag).unwrap()
}

#[test]
fn the_wire_form_is_the_agreed_one() {
    let item = request(
        ProtocolVersion::V1_4,
        delegated("acme", "spiffe://acme/app"),
    )
    .to_item();
    let credential = child(
        child(child(&item, Tag::REQUEST_HEADER), Tag::AUTHENTICATION),
        Tag::CREDENTIAL,
    );
    assert_eq!(
        child(credential, Tag::CREDENTIAL_TYPE).value,
        Value::Enumeration(0x8000_0001)
    );
    let value = child(credential, Tag::CREDENTIAL_VALUE);
    assert_eq!(
        value.value,
        Value::Structure(vec![
            Item {
                tag: Tag(0x54_0001),
                value: Value::TextString("acme".into()),
            },
            Item {
                tag: Tag(0x54_0002),
                value: Value::TextString("spiffe://acme/app".into()),
            },
            Item {
                tag: Tag(0x54_0007),
                value: Value::TextString("9f1c0a7e3b5d2c14-1".into()),
            },
        ])
    );
    assert_eq!(
        CredentialType::KryptonDelegatedIdentity.to_u32(),
        0x8000_0001
    );
}

#[test]
fn round_trips_in_every_version() {
    for version in ProtocolVersion::SUPPORTED {
        let sent = request(version, delegated("t1", "CN=app"));
        let received = RequestMessage::from_item(&through_wire(&sent.to_item())).unwrap();
        assert_eq!(received, sent, "{version}");
        let credentials = &received.header.authentication.unwrap().credentials;
        assert_eq!(
            credentials[0].credential_type(),
            CredentialType::KryptonDelegatedIdentity
        );
    }
}

#[test]
fn a_delegation_without_identity_is_refused() {
    let mut item = request(ProtocolVersion::V1_4, delegated("t1", "app")).to_item();
    // Drop the identity field from the credential value.
    let Value::Structure(message) = &mut item.value else {
        panic!()
    };
    let header = &mut message[0];
    let Value::Structure(header_fields) = &mut header.value else {
        panic!()
    };
    let authentication = header_fields
        .iter_mut()
        .find(|f| f.tag == Tag::AUTHENTICATION)
        .unwrap();
    let Value::Structure(credentials) = &mut authentication.value else {
        panic!()
    };
    let Value::Structure(credential) = &mut credentials[0].value else {
        panic!()
    };
    let Value::Structure(value) = &mut credential[1].value else {
        panic!()
    };
    value.retain(|field| field.tag != Tag(0x54_0002));
    let error = RequestMessage::from_item(&through_wire(&item)).unwrap_err();
    assert!(
        matches!(
            error,
            Error::MissingField {
                field: Tag(0x54_0002),
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn prints_who_not_how() {
    let printed = format!("{:?}", delegated("acme", "app-1"));
    assert!(printed.contains("Delegated") && printed.contains("app-1"));
}
