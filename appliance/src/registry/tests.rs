//! The registry against a real RocksDB in a temporary directory, driven through
//! [`Registry::answer`] with typed KMIP payloads, and through the TTLV codec in KMIP 1.2, 1.4
//! and 2.0.

use kmip::{
    ActivateRequest, AddAttributeRequest, Attribute, AttributeReference, AttributeType,
    CheckRequest, CreateRequest, CryptographicAlgorithm, CryptographicUsageMask, DateTime,
    DecryptRequest, DeleteAttributeRequest, DestroyRequest, GetAttributeListRequest,
    GetAttributesRequest, GetRequest, Item, KeyBlock, KeyCompressionType, KeyFormatType,
    KeyMaterial, Limits, LocateRequest, ManagedObject, ModifyAttributeRequest, Name, ObjectType,
    OpaqueDataType, OpaqueObject, ProtocolVersion, QueryRequest, RegisterRequest, RequestBatchItem,
    RequestHeader, RequestMessage, RequestPayload, ResponseBatchItem, ResponseHeader,
    ResponseMessage, ResponsePayload, ResultReason, RevocationReason, RevocationReasonCode,
    RevokeRequest, SecretBytes, SecretData, SecretDataType, SetAttributeRequest, State,
    StorageStatusMask, SymmetricKey, UniqueIdentifier,
};
use tempfile::TempDir;

use super::*;
use crate::hsm::TenantId;
use crate::registry::record::{self, StoredObject};
use crate::secret::{SecretKey, WhenIdle};
use crate::store::Column;

const T0: DateTime = DateTime(1_700_000_000);
const V: ProtocolVersion = ProtocolVersion::V1_4;

/// A store in a temporary directory, its record key and edit lock.
struct Fixture {
    dir: TempDir,
    store: Store,
    key: SecretKey,
    edits: EditLock,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        Self {
            dir,
            store,
            key: SecretKey::random(WhenIdle::ReadOnly).unwrap(),
            edits: EditLock::default(),
        }
    }

    fn registry(&self) -> Registry<'_> {
        Registry::new(
            &self.store,
            &self.key,
            &self.edits,
            RegistryLimits::default(),
        )
    }

    fn answer(&self, owner: &Owner, payload: impl Into<RequestPayload>) -> ResponsePayload {
        self.answer_at(owner, T0, payload).unwrap()
    }

    fn answer_at(
        &self,
        owner: &Owner,
        now: DateTime,
        payload: impl Into<RequestPayload>,
    ) -> Result<ResponsePayload, RegistryError> {
        self.registry().answer(owner, V, now, payload.into())
    }

    /// The Result Reason of a refused request.
    fn refused(&self, owner: &Owner, payload: impl Into<RequestPayload>) -> ResultReason {
        match self.answer_at(owner, T0, payload) {
            Err(RegistryError::Refused(refusal)) => refusal.reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn register(&self, owner: &Owner, request: RegisterRequest) -> String {
        match self.answer(owner, request) {
            ResponsePayload::Register(response) => response.unique_identifier,
            other => panic!("{other:?}"),
        }
    }

    fn state(&self, owner: &Owner, id: &str) -> State {
        attributes(self.answer(owner, get_attributes(id)))
            .into_iter()
            .find_map(|attribute| match attribute {
                Attribute::State(state) => Some(state),
                _ => None,
            })
            .unwrap()
    }

    fn locate(&self, owner: &Owner, request: LocateRequest) -> Vec<String> {
        match self.answer(owner, request) {
            ResponsePayload::Locate(response) => response.unique_identifiers,
            other => panic!("{other:?}"),
        }
    }
}

fn owner(tenant: &str, identity: &str) -> Owner {
    Owner {
        tenant: tenant.into(),
        identity: identity.into(),
    }
}

fn alice() -> Owner {
    owner("acme", "alice")
}

fn key_bytes(len: usize, fill: u8) -> SecretBytes {
    SecretBytes::new((0..len).map(|i| fill ^ (i as u8)).collect())
}

/// A Register of an AES key as PyKMIP sends it: algorithm and length restated as attributes,
/// with a name, a usage mask and the 1.x Operation Policy Name.
fn aes_key(name: &str, key: SecretBytes) -> RegisterRequest {
    let bits = i32::try_from(key.len() * 8).unwrap();
    RegisterRequest {
        attributes: vec![
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
            Attribute::CryptographicLength(bits),
            Attribute::CryptographicUsageMask(
                CryptographicUsageMask::ENCRYPT | CryptographicUsageMask::DECRYPT,
            ),
            Attribute::Name(Name::text(name)),
            Attribute::OperationPolicyName("default".into()),
        ],
        object: ManagedObject::SymmetricKey(SymmetricKey {
            key_block: KeyBlock {
                key_format_type: KeyFormatType::Raw,
                key_compression_type: None,
                key_material: KeyMaterial::Bytes(key),
                cryptographic_algorithm: Some(CryptographicAlgorithm::Aes),
                cryptographic_length: Some(bits),
                key_wrapping_data: None,
            },
        }),
    }
}

fn secret(name: &str, data: SecretBytes) -> RegisterRequest {
    RegisterRequest {
        attributes: vec![
            Attribute::CryptographicUsageMask(CryptographicUsageMask::VERIFY),
            Attribute::Name(Name::text(name)),
        ],
        object: ManagedObject::SecretData(SecretData {
            secret_data_type: SecretDataType::Password,
            key_block: KeyBlock {
                key_format_type: KeyFormatType::Opaque,
                key_compression_type: None,
                key_material: KeyMaterial::Bytes(data),
                cryptographic_algorithm: None,
                cryptographic_length: None,
                key_wrapping_data: None,
            },
        }),
    }
}

fn id(id: &str) -> Option<UniqueIdentifier> {
    Some(UniqueIdentifier::from(id))
}

fn get(object: &str) -> GetRequest {
    GetRequest {
        unique_identifier: id(object),
        ..GetRequest::default()
    }
}

fn get_attributes(object: &str) -> GetAttributesRequest {
    GetAttributesRequest {
        unique_identifier: id(object),
        attribute_references: Vec::new(),
    }
}

fn activate(object: &str) -> ActivateRequest {
    ActivateRequest {
        unique_identifier: id(object),
    }
}

fn revoke(object: &str, code: RevocationReasonCode) -> RevokeRequest {
    RevokeRequest {
        unique_identifier: id(object),
        revocation_reason: RevocationReason {
            code,
            message: None,
        },
        compromise_occurrence_date: None,
    }
}

fn destroy(object: &str) -> DestroyRequest {
    DestroyRequest {
        unique_identifier: id(object),
    }
}

fn by_name(name: &str) -> LocateRequest {
    LocateRequest {
        attributes: vec![Attribute::Name(Name::text(name))],
        ..LocateRequest::default()
    }
}

fn attributes(response: ResponsePayload) -> Vec<Attribute> {
    match response {
        ResponsePayload::GetAttributes(response) => response.attributes,
        other => panic!("{other:?}"),
    }
}

fn object(response: ResponsePayload) -> ManagedObject {
    match response {
        ResponsePayload::Get(response) => response.object,
        other => panic!("{other:?}"),
    }
}

fn material(object: &ManagedObject) -> Vec<u8> {
    match object {
        ManagedObject::SymmetricKey(key) => key.key_block.key_material.key().unwrap().to_vec(),
        ManagedObject::SecretData(secret) => secret.key_block.key_material.key().unwrap().to_vec(),
        ManagedObject::OpaqueObject(opaque) => opaque.opaque_data_value.to_vec(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_symmetric_key_lives_its_whole_life() {
    let f = Fixture::new();
    let key = key_bytes(32, 0x5a);
    let id = f.register(&alice(), aes_key("disk", key.clone()));
    assert_eq!(f.state(&alice(), &id), State::PreActive);
    let shown = attributes(f.answer(&alice(), get_attributes(&id)));
    for expected in [
        Attribute::ObjectType(ObjectType::SymmetricKey),
        Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
        Attribute::CryptographicLength(256),
        Attribute::Name(Name::text("disk")),
        Attribute::OperationPolicyName("default".into()),
        Attribute::InitialDate(T0),
    ] {
        assert!(shown.contains(&expected), "{expected:?} in {shown:?}");
    }

    f.answer(&alice(), activate(&id));
    assert_eq!(f.state(&alice(), &id), State::Active);
    let got = object(f.answer(&alice(), get(&id)));
    assert_eq!(material(&got), key.to_vec());
    let ManagedObject::SymmetricKey(symmetric) = &got else {
        panic!("{got:?}")
    };
    assert_eq!(symmetric.key_block.key_format_type, KeyFormatType::Raw);
    assert_eq!(symmetric.key_block.cryptographic_length, Some(256));

    assert_eq!(
        f.refused(&alice(), activate(&id)),
        ResultReason::WrongKeyLifecycleState
    );
    assert_eq!(
        f.refused(&alice(), destroy(&id)),
        ResultReason::WrongKeyLifecycleState,
        "an Active object is revoked before it is destroyed"
    );
    f.answer(&alice(), revoke(&id, RevocationReasonCode::Superseded));
    assert_eq!(f.state(&alice(), &id), State::Deactivated);
    // A deactivated key still reads the data it protected.
    assert_eq!(
        material(&object(f.answer(&alice(), get(&id)))),
        key.to_vec()
    );

    let later = DateTime(T0.0 + 60);
    f.answer_at(&alice(), later, destroy(&id)).unwrap();
    assert_eq!(f.state(&alice(), &id), State::Destroyed);
    assert_eq!(f.refused(&alice(), get(&id)), ResultReason::ObjectDestroyed);
    assert_eq!(
        f.refused(&alice(), destroy(&id)),
        ResultReason::ObjectDestroyed
    );
    let shown = attributes(f.answer(&alice(), get_attributes(&id)));
    assert!(shown.contains(&Attribute::DestroyDate(later)));
    assert!(shown.contains(&Attribute::Name(Name::text("disk"))));
}

#[test]
fn destroy_removes_the_material_and_keeps_the_metadata() {
    let f = Fixture::new();
    let key = key_bytes(32, 0xc3);
    let id = f.register(&alice(), aes_key("shred-me", key.clone()));
    f.answer(&alice(), destroy(&id));
    let stored: StoredObject = f
        .store
        .get_sealed(&f.key, Column::Registry, &record::record_key(&alice(), &id))
        .unwrap()
        .unwrap();
    assert!(stored.material.is_none());
    assert_eq!(stored.metadata.state, State::Destroyed);
    assert_eq!(stored.metadata.algorithm, Some(CryptographicAlgorithm::Aes));
    // Found again only when destroyed storage is asked for (KMIP 2.0 Storage Status Mask).
    assert!(f.locate(&alice(), by_name("shred-me")).is_empty());
    let destroyed = LocateRequest {
        storage_status_mask: Some(StorageStatusMask::DESTROYED_STORAGE),
        ..by_name("shred-me")
    };
    assert_eq!(f.locate(&alice(), destroyed), [id]);
}

#[test]
fn key_material_never_reaches_the_disk_in_plaintext() {
    let f = Fixture::new();
    let key = key_bytes(32, 0x77);
    let id = f.register(&alice(), aes_key("k", key.clone()));
    f.answer(&alice(), activate(&id));
    let Fixture { dir, store, .. } = f;
    drop(store);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(key.len()).any(|window| window == &key[..]),
            "{} holds the key",
            path.display()
        );
    }
}

#[test]
fn secret_data_of_any_length_is_kept_as_sent() {
    let f = Fixture::new();
    for len in [1, 16, 96, 1000, 64 * 1024] {
        let data = key_bytes(len, 0x11);
        let id = f.register(&alice(), secret(&format!("secret-{len}"), data.clone()));
        let got = object(f.answer(&alice(), get(&id)));
        assert_eq!(material(&got), data.to_vec(), "{len} bytes");
        let ManagedObject::SecretData(secret) = &got else {
            panic!("{got:?}")
        };
        assert_eq!(secret.secret_data_type, SecretDataType::Password);
        assert_eq!(secret.key_block.key_format_type, KeyFormatType::Opaque);
        let shown = attributes(f.answer(&alice(), get_attributes(&id)));
        assert!(shown.contains(&Attribute::ObjectType(ObjectType::SecretData)));
        assert!(
            !shown
                .iter()
                .any(|a| matches!(a, Attribute::CryptographicAlgorithm(_)))
        );
    }
    for len in [0, 64 * 1024 + 1] {
        assert_eq!(
            f.refused(&alice(), secret("too", key_bytes(len, 0))),
            ResultReason::ServerLimitExceeded,
            "{len} bytes"
        );
    }
}

#[test]
fn opaque_objects_and_transparent_keys_round_trip() {
    let f = Fixture::new();
    let opaque = RegisterRequest {
        attributes: Vec::new(),
        object: ManagedObject::OpaqueObject(OpaqueObject {
            opaque_data_type: OpaqueDataType(0x8000_0001),
            opaque_data_value: key_bytes(40, 1),
        }),
    };
    let id = f.register(&alice(), opaque.clone());
    assert_eq!(object(f.answer(&alice(), get(&id))), opaque.object);

    let key = key_bytes(16, 9);
    let id = f.register(&alice(), aes_key("t", key.clone()));
    let transparent = GetRequest {
        key_format_type: Some(KeyFormatType::TransparentSymmetricKey),
        ..get(&id)
    };
    let ManagedObject::SymmetricKey(got) = object(f.answer(&alice(), transparent)) else {
        panic!()
    };
    assert_eq!(
        got.key_block.key_material,
        KeyMaterial::TransparentSymmetricKey(key)
    );
}

#[test]
fn one_owner_never_reaches_anothers_objects() {
    let f = Fixture::new();
    let id = f.register(&alice(), aes_key("shared-name", key_bytes(32, 1)));
    let strangers = [owner("acme", "bob"), owner("other", "alice")];
    for stranger in &strangers {
        let requests: Vec<RequestPayload> = vec![
            get(&id).into(),
            get_attributes(&id).into(),
            GetAttributeListRequest {
                unique_identifier: Some(UniqueIdentifier::from(id.as_str())),
            }
            .into(),
            activate(&id).into(),
            revoke(&id, RevocationReasonCode::KeyCompromise).into(),
            destroy(&id).into(),
            AddAttributeRequest {
                unique_identifier: Some(UniqueIdentifier::from(id.as_str())),
                attribute: Attribute::Description("mine now".into()),
            }
            .into(),
            CheckRequest {
                unique_identifier: Some(UniqueIdentifier::from(id.as_str())),
                ..CheckRequest::default()
            }
            .into(),
        ];
        for request in requests {
            assert_eq!(
                f.refused(stranger, request),
                ResultReason::ItemNotFound,
                "{stranger:?}"
            );
        }
        assert!(f.locate(stranger, by_name("shared-name")).is_empty());
        assert!(f.locate(stranger, LocateRequest::default()).is_empty());
        // A stranger's object of the same name stays apart.
        let theirs = f.register(stranger, aes_key("shared-name", key_bytes(32, 2)));
        assert_eq!(f.locate(stranger, by_name("shared-name")), [theirs]);
    }
    // Nothing the strangers did touched the owner's object.
    assert_eq!(f.state(&alice(), &id), State::PreActive);
    assert_eq!(f.locate(&alice(), by_name("shared-name")), [id]);
}

#[test]
fn each_revocation_reason_leads_to_its_state() {
    let f = Fixture::new();
    let codes = [
        (RevocationReasonCode::Unspecified, State::Deactivated),
        (RevocationReasonCode::KeyCompromise, State::Compromised),
        (RevocationReasonCode::CaCompromise, State::Compromised),
        (RevocationReasonCode::AffiliationChanged, State::Deactivated),
        (RevocationReasonCode::Superseded, State::Deactivated),
        (
            RevocationReasonCode::CessationOfOperation,
            State::Deactivated,
        ),
        (RevocationReasonCode::PrivilegeWithdrawn, State::Deactivated),
    ];
    for (code, expected) in codes {
        let id = f.register(&alice(), aes_key("r", key_bytes(16, 3)));
        f.answer(&alice(), activate(&id));
        f.answer(&alice(), revoke(&id, code));
        assert_eq!(f.state(&alice(), &id), expected, "{code:?}");
        let shown = attributes(f.answer(&alice(), get_attributes(&id)));
        assert!(
            shown.contains(&Attribute::RevocationReason(RevocationReason {
                code,
                message: None
            }))
        );
        if expected == State::Compromised {
            assert!(shown.contains(&Attribute::CompromiseDate(T0)));
            assert_eq!(
                f.refused(&alice(), get(&id)),
                ResultReason::WrongKeyLifecycleState
            );
            f.answer(&alice(), destroy(&id));
            assert_eq!(f.state(&alice(), &id), State::DestroyedCompromised);
        } else {
            assert!(shown.contains(&Attribute::DeactivationDate(T0)));
            assert_eq!(
                f.refused(&alice(), revoke(&id, code)),
                ResultReason::WrongKeyLifecycleState,
                "a deactivated object is not deactivated twice"
            );
        }
    }
}

#[test]
fn every_refusal_carries_its_result_reason() {
    let f = Fixture::new();
    let id = f.register(&alice(), aes_key("k", key_bytes(32, 4)));
    let object_id = || Some(UniqueIdentifier::from(id.as_str()));
    let cases: Vec<(RequestPayload, ResultReason)> = vec![
        (
            CreateRequest {
                object_type: ObjectType::SymmetricKey,
                attributes: Vec::new(),
            }
            .into(),
            ResultReason::OperationNotSupported,
        ),
        (
            DecryptRequest {
                unique_identifier: object_id(),
                cryptographic_parameters: None,
                data: vec![0; 16],
                iv_counter_nonce: None,
                authenticated_encryption_additional_data: None,
                authenticated_encryption_tag: None,
            }
            .into(),
            ResultReason::OperationNotSupported,
        ),
        (
            QueryRequest::default().into(),
            ResultReason::OperationNotSupported,
        ),
        (
            RequestPayload::Other(Item {
                tag: kmip::Tag::REQUEST_PAYLOAD,
                value: kmip::Value::Structure(Vec::new()),
            }),
            ResultReason::OperationNotSupported,
        ),
        (GetRequest::default().into(), ResultReason::MissingData),
        (get("no-such-object").into(), ResultReason::ItemNotFound),
        (
            GetRequest {
                key_format_type: Some(KeyFormatType::Pkcs1),
                ..get(&id)
            }
            .into(),
            ResultReason::KeyFormatTypeNotSupported,
        ),
        (
            GetRequest {
                key_compression_type: Some(KeyCompressionType::EcPublicKeyTypeUncompressed),
                ..get(&id)
            }
            .into(),
            ResultReason::KeyCompressionTypeNotSupported,
        ),
        // The wrapping keys are the gateway's: the registry neither wraps nor unwraps.
        (
            GetRequest {
                key_wrapping_specification: Some(kmip::KeyWrappingSpecification {
                    wrapping_method: kmip::WrappingMethod::Encrypt,
                    encryption_key_information: Some(kmip::EncryptionKeyInformation {
                        unique_identifier: "kek".into(),
                        cryptographic_parameters: None,
                    }),
                    mac_signature_key_information: None,
                    attribute_names: Vec::new(),
                    encoding_option: Some(kmip::EncodingOption::NoEncoding),
                }),
                ..get(&id)
            }
            .into(),
            ResultReason::FeatureNotSupported,
        ),
        (
            {
                let mut wrapped = aes_key("wrapped", key_bytes(40, 3));
                if let ManagedObject::SymmetricKey(key) = &mut wrapped.object {
                    key.key_block.cryptographic_length = None;
                    key.key_block.key_wrapping_data = Some(kmip::KeyWrappingData {
                        wrapping_method: kmip::WrappingMethod::Encrypt,
                        encryption_key_information: None,
                        mac_signature_key_information: None,
                        mac_signature: None,
                        iv_counter_nonce: None,
                        encoding_option: Some(kmip::EncodingOption::NoEncoding),
                    });
                }
                wrapped.attributes.remove(1);
                wrapped.into()
            },
            ResultReason::FeatureNotSupported,
        ),
        (
            AddAttributeRequest {
                unique_identifier: object_id(),
                attribute: Attribute::State(State::Active),
            }
            .into(),
            ResultReason::ReadOnlyAttribute,
        ),
        (
            AddAttributeRequest {
                unique_identifier: object_id(),
                attribute: Attribute::OperationPolicyName("again".into()),
            }
            .into(),
            ResultReason::AttributeSingleValued,
        ),
        (
            SetAttributeRequest {
                unique_identifier: object_id(),
                new_attribute: Attribute::Name(Name::text("n")),
            }
            .into(),
            ResultReason::MultiValuedAttribute,
        ),
        (
            DeleteAttributeRequest {
                unique_identifier: object_id(),
                attribute: AttributeReference::Standard(AttributeType::Description),
                attribute_index: None,
                current_attribute: None,
            }
            .into(),
            ResultReason::AttributeNotFound,
        ),
        (
            ModifyAttributeRequest {
                unique_identifier: object_id(),
                attribute_index: None,
                current_attribute: Some(Attribute::Name(Name::text("k"))),
                new_attribute: Attribute::Description("d".into()),
            }
            .into(),
            ResultReason::InvalidField,
        ),
        (
            CheckRequest {
                unique_identifier: object_id(),
                cryptographic_usage_mask: Some(CryptographicUsageMask::SIGN),
                ..CheckRequest::default()
            }
            .into(),
            ResultReason::IncompatibleCryptographicUsageMask,
        ),
        (
            LocateRequest {
                maximum_items: Some(-1),
                ..LocateRequest::default()
            }
            .into(),
            ResultReason::InvalidField,
        ),
    ];
    for (request, reason) in cases {
        let operation = request.operation();
        assert_eq!(f.refused(&alice(), request), reason, "{operation:?}");
    }

    // Register's own checks.
    let mut wrong_length = aes_key("w", key_bytes(32, 0));
    wrong_length.attributes[1] = Attribute::CryptographicLength(128);
    let mut compressed = aes_key("c", key_bytes(32, 0));
    let mut no_algorithm = aes_key("a", key_bytes(32, 0));
    let mut pkcs = aes_key("p", key_bytes(32, 0));
    if let ManagedObject::SymmetricKey(key) = &mut compressed.object {
        key.key_block.key_compression_type = Some(KeyCompressionType::EcPublicKeyTypeUncompressed);
    }
    if let ManagedObject::SymmetricKey(key) = &mut no_algorithm.object {
        key.key_block.cryptographic_algorithm = None;
    }
    no_algorithm.attributes.remove(0);
    if let ManagedObject::SymmetricKey(key) = &mut pkcs.object {
        key.key_block.key_format_type = KeyFormatType::Pkcs8;
    }
    // Secret Data whose material is a Transparent RSA key's numbers: not bytes the registry
    // keeps.
    let mut numbers = secret("n", key_bytes(32, 0));
    if let ManagedObject::SecretData(data) = &mut numbers.object {
        data.key_block.key_format_type = KeyFormatType::TransparentRsaPublicKey;
        data.key_block.key_material =
            KeyMaterial::TransparentRsaPublicKey(Box::new(kmip::TransparentRsaPublicKey {
                modulus: kmip::SecretInteger::from_be_bytes(&[0xC1; 256]),
                public_exponent: kmip::SecretInteger::from_be_bytes(&[1, 0, 1]),
            }));
    }
    let mut read_only = aes_key("s", key_bytes(32, 0));
    read_only.attributes.push(Attribute::State(State::Active));
    let mut too_many = aes_key("m", key_bytes(32, 0));
    too_many
        .attributes
        .extend((0..64).map(|n| Attribute::Name(Name::text(format!("n{n}")))));
    for (request, reason) in [
        (wrong_length, ResultReason::InvalidField),
        (compressed, ResultReason::KeyCompressionTypeNotSupported),
        (no_algorithm, ResultReason::MissingData),
        (pkcs, ResultReason::KeyFormatTypeNotSupported),
        (numbers, ResultReason::KeyFormatTypeNotSupported),
        (read_only, ResultReason::ReadOnlyAttribute),
        (too_many, ResultReason::ServerLimitExceeded),
    ] {
        assert_eq!(f.refused(&alice(), request), reason);
    }
    // No refused request left an object behind or changed the one there is.
    assert_eq!(
        f.locate(&alice(), LocateRequest::default()),
        std::slice::from_ref(&id)
    );
    assert_eq!(f.state(&alice(), &id), State::PreActive);
    // Names too long for an owner are refused before anything is read.
    let long = owner(&"t".repeat(2000), "x");
    assert_eq!(f.refused(&long, get(&id)), ResultReason::PermissionDenied);
}

#[test]
fn attribute_edits_follow_the_shared_rules() {
    let f = Fixture::new();
    let id = f.register(&alice(), aes_key("first", key_bytes(16, 5)));
    let object_id = || Some(UniqueIdentifier::from(id.as_str()));
    let later = DateTime(T0.0 + 10);
    f.answer_at(
        &alice(),
        later,
        AddAttributeRequest {
            unique_identifier: object_id(),
            attribute: Attribute::Name(Name::text("second")),
        },
    )
    .unwrap();
    f.answer(
        &alice(),
        ModifyAttributeRequest {
            unique_identifier: object_id(),
            attribute_index: None,
            current_attribute: Some(Attribute::Name(Name::text("first"))),
            new_attribute: Attribute::Name(Name::text("renamed")),
        },
    );
    f.answer(
        &alice(),
        SetAttributeRequest {
            unique_identifier: object_id(),
            new_attribute: Attribute::Description("laptop disk".into()),
        },
    );
    let shown = attributes(f.answer(&alice(), get_attributes(&id)));
    assert!(shown.contains(&Attribute::Name(Name::text("renamed"))));
    assert!(shown.contains(&Attribute::Name(Name::text("second"))));
    assert!(shown.contains(&Attribute::Description("laptop disk".into())));
    assert!(shown.contains(&Attribute::LastChangeDate(T0)));
    assert!(!shown.contains(&Attribute::Name(Name::text("first"))));
    assert_eq!(
        f.locate(&alice(), by_name("renamed")),
        std::slice::from_ref(&id)
    );

    // KMIP 1.x Delete removes one instance; the first Name here.
    let deleted = f.answer(
        &alice(),
        DeleteAttributeRequest {
            unique_identifier: object_id(),
            attribute: AttributeReference::Standard(AttributeType::Name),
            attribute_index: None,
            current_attribute: None,
        },
    );
    let ResponsePayload::DeleteAttribute(deleted) = deleted else {
        panic!("{deleted:?}")
    };
    assert_eq!(
        deleted.attribute,
        Some(Attribute::Name(Name::text("renamed")))
    );
    let ResponsePayload::GetAttributeList(list) = f.answer(
        &alice(),
        GetAttributeListRequest {
            unique_identifier: object_id(),
        },
    ) else {
        panic!()
    };
    let name = AttributeReference::Standard(AttributeType::Name);
    assert_eq!(
        list.attribute_references
            .iter()
            .filter(|r| **r == name)
            .count(),
        1
    );
    assert!(
        list.attribute_references
            .contains(&AttributeReference::Standard(AttributeType::State))
    );
}

#[test]
fn locate_filters_by_name_state_type_and_mask() {
    let f = Fixture::new();
    let key = f.register(&alice(), aes_key("key-a", key_bytes(32, 1)));
    let active = f.register(&alice(), aes_key("key-b", key_bytes(16, 2)));
    let password = f.register(&alice(), secret("pw", key_bytes(12, 3)));
    f.answer(&alice(), activate(&active));
    let mut all = vec![key.clone(), active.clone(), password.clone()];
    all.sort();
    assert_eq!(f.locate(&alice(), LocateRequest::default()), all);
    assert_eq!(
        f.locate(&alice(), by_name("key-b")),
        std::slice::from_ref(&active)
    );
    let with = |attributes: Vec<Attribute>| LocateRequest {
        attributes,
        ..LocateRequest::default()
    };
    assert_eq!(
        f.locate(&alice(), with(vec![Attribute::State(State::Active)])),
        std::slice::from_ref(&active)
    );
    assert_eq!(
        f.locate(
            &alice(),
            with(vec![Attribute::ObjectType(ObjectType::SecretData)])
        ),
        std::slice::from_ref(&password)
    );
    let mut keys = vec![key.clone(), active.clone()];
    keys.sort();
    assert_eq!(
        f.locate(
            &alice(),
            with(vec![Attribute::CryptographicUsageMask(
                CryptographicUsageMask::ENCRYPT
            )])
        ),
        keys
    );
    assert_eq!(
        f.locate(
            &alice(),
            with(vec![
                Attribute::ObjectType(ObjectType::SymmetricKey),
                Attribute::CryptographicLength(128),
            ])
        ),
        std::slice::from_ref(&active)
    );
    // Offset and Maximum Items page through the matches; Located Items counts them all.
    let ResponsePayload::Locate(page) = f.answer(
        &alice(),
        LocateRequest {
            offset_items: Some(1),
            maximum_items: Some(1),
            ..LocateRequest::default()
        },
    ) else {
        panic!()
    };
    assert_eq!(page.unique_identifiers, [all[1].clone()]);
    assert_eq!(page.located_items, Some(3));
}

#[test]
fn locate_is_bounded_and_pages_through_many_objects() {
    let f = Fixture::new();
    let limits = RegistryLimits {
        max_locate_items: 300,
        ..RegistryLimits::default()
    };
    let registry = Registry::new(&f.store, &f.key, &f.edits, limits);
    for n in 0..310 {
        let request = secret(&format!("s{n}"), key_bytes(8, 0));
        registry.answer(&alice(), V, T0, request.into()).unwrap();
    }
    let ResponsePayload::Locate(found) = registry
        .answer(&alice(), V, T0, LocateRequest::default().into())
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(found.unique_identifiers.len(), 300);
    assert_eq!(found.located_items, Some(300));
    // Matches beyond the first page of the scan are found.
    let ResponsePayload::Locate(last) = registry
        .answer(&alice(), V, T0, by_name("s309").into())
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(last.unique_identifiers.len(), 1);
}

#[test]
fn objects_survive_a_reopen() {
    let f = Fixture::new();
    let key = key_bytes(32, 0x42);
    let id = f.register(&alice(), aes_key("durable", key.clone()));
    f.answer(&alice(), activate(&id));
    let Fixture {
        dir,
        store,
        key: record_key,
        edits,
    } = f;
    drop(store);
    let f = Fixture {
        store: Store::open(dir.path()).unwrap(),
        dir,
        key: record_key,
        edits,
    };
    assert_eq!(f.state(&alice(), &id), State::Active);
    assert_eq!(
        material(&object(f.answer(&alice(), get(&id)))),
        key.to_vec()
    );
    assert_eq!(f.locate(&alice(), by_name("durable")), [id]);
}

/// One request through the codec as a client sends it, answered, and the response through the
/// codec as the client reads it.
fn over_the_wire(
    f: &Fixture,
    version: ProtocolVersion,
    payload: impl Into<RequestPayload>,
) -> ResponseBatchItem {
    let payload = payload.into();
    let operation = payload.operation().unwrap();
    let request = RequestMessage {
        header: RequestHeader::new(version),
        batch_items: vec![RequestBatchItem {
            operation,
            ephemeral: None,
            unique_batch_item_id: None,
            payload,
            message_extension: None,
        }],
    };
    let mut bytes = Vec::new();
    kmip::encode(&request.to_item(), &mut bytes).unwrap();
    let received =
        RequestMessage::from_item(&kmip::decode(&bytes, &Limits::default()).unwrap()).unwrap();
    let item = received.batch_items.into_iter().next().unwrap();
    let answered = match f.registry().answer(&alice(), version, T0, item.payload) {
        Ok(payload) => ResponseBatchItem {
            result_status: kmip::ResultStatus::Success,
            result_reason: None,
            result_message: None,
            payload: Some(payload),
            ..ResponseBatchItem::failure(Some(operation), ResultReason::GeneralFailure, "")
        },
        Err(error) => {
            let (reason, message) = crate::kmip_service::result_of(&error.into());
            ResponseBatchItem::failure(Some(operation), reason, message)
        }
    };
    let response = ResponseMessage {
        header: ResponseHeader::new(version, T0),
        batch_items: vec![answered],
    };
    let mut bytes = Vec::new();
    kmip::encode(&response.to_item(), &mut bytes).unwrap();
    let read =
        ResponseMessage::from_item(&kmip::decode(&bytes, &Limits::default()).unwrap()).unwrap();
    assert_eq!(read.header.protocol_version, version);
    read.batch_items.into_iter().next().unwrap()
}

fn payload_of(item: ResponseBatchItem) -> ResponsePayload {
    assert_eq!(item.result_status, kmip::ResultStatus::Success, "{item:?}");
    item.payload.unwrap()
}

#[test]
fn the_lifecycle_round_trips_through_the_codec_in_1_2_1_4_and_2_0() {
    for version in [
        ProtocolVersion::V1_2,
        ProtocolVersion::V1_4,
        ProtocolVersion::V2_0,
    ] {
        let f = Fixture::new();
        let key = key_bytes(32, 0x21);
        let ResponsePayload::Register(registered) =
            payload_of(over_the_wire(&f, version, aes_key("wire", key.clone())))
        else {
            panic!()
        };
        let id = registered.unique_identifier;
        let ResponsePayload::Register(secret_registered) =
            payload_of(over_the_wire(&f, version, secret("pw", key_bytes(96, 1))))
        else {
            panic!()
        };
        payload_of(over_the_wire(&f, version, activate(&id)));
        let ResponsePayload::Get(got) = payload_of(over_the_wire(&f, version, get(&id))) else {
            panic!()
        };
        assert_eq!(material(&got.object), key.to_vec(), "{version:?}");
        let ResponsePayload::Get(got) = payload_of(over_the_wire(
            &f,
            version,
            get(&secret_registered.unique_identifier),
        )) else {
            panic!()
        };
        assert_eq!(material(&got.object).len(), 96);
        let ResponsePayload::GetAttributes(shown) =
            payload_of(over_the_wire(&f, version, get_attributes(&id)))
        else {
            panic!()
        };
        assert!(shown.attributes.contains(&Attribute::State(State::Active)));
        let ResponsePayload::Locate(found) =
            payload_of(over_the_wire(&f, version, by_name("wire")))
        else {
            panic!()
        };
        assert_eq!(found.unique_identifiers, std::slice::from_ref(&id));
        payload_of(over_the_wire(
            &f,
            version,
            revoke(&id, RevocationReasonCode::KeyCompromise),
        ));
        // Refusals reach the client with their reason, in the version's own terms.
        let refused = over_the_wire(&f, version, get(&id));
        assert_eq!(refused.result_status, kmip::ResultStatus::OperationFailed);
        assert_eq!(
            refused.result_reason,
            Some(ResultReason::WrongKeyLifecycleState.for_version(version)),
            "{version:?}"
        );
        payload_of(over_the_wire(&f, version, destroy(&id)));
        let missing = over_the_wire(&f, version, get("no-such-object"));
        assert_eq!(missing.result_reason, Some(ResultReason::ItemNotFound));
        let ResponsePayload::GetAttributes(shown) =
            payload_of(over_the_wire(&f, version, get_attributes(&id)))
        else {
            panic!()
        };
        assert!(
            shown
                .attributes
                .contains(&Attribute::State(State::DestroyedCompromised))
        );
        assert_eq!(
            over_the_wire(&f, version, CheckRequest::default()).result_reason,
            Some(ResultReason::MissingData)
        );
    }
}

/// Moves object `id` of `owner` back to where the core kept it before objects were sealed
/// under their tenant: the `objects` family, sealed under `master`.
fn make_legacy(f: &Fixture, master: &SecretKey, owner: &Owner, id: &str) {
    let key = record::record_key(owner, id);
    let stored: StoredObject = f
        .store
        .get_sealed(&f.key, Column::Registry, &key)
        .unwrap()
        .unwrap();
    let mut batch = f.store.batch(master);
    batch.put_sealed(Column::Objects, &key, &stored).unwrap();
    batch.delete(Column::Registry, &key).unwrap();
    batch.commit().unwrap();
}

#[test]
fn legacy_objects_move_under_their_tenants_key_and_the_master_key_opens_none() {
    let f = Fixture::new();
    let master = SecretKey::random(WhenIdle::ReadOnly).unwrap();
    let acme = TenantId::new("acme").unwrap();
    let bytes = key_bytes(24, 0x5a);
    let ids: Vec<String> = (0..3)
        .map(|n| f.register(&alice(), secret(&format!("s{n}"), bytes.clone())))
        .collect();
    let other_tenant = owner("globex", "carol");
    let theirs = f.register(&other_tenant, secret("theirs", bytes.clone()));
    for id in &ids {
        make_legacy(&f, &master, &alice(), id);
    }
    make_legacy(&f, &master, &other_tenant, &theirs);
    // Before the move the registry finds none of acme's objects.
    assert_eq!(
        f.refused(&alice(), get(&ids[0])),
        ResultReason::ItemNotFound
    );

    assert_eq!(migrate_legacy(&f.store, &master, &f.key, &acme).unwrap(), 3);
    for id in &ids {
        assert_eq!(material(&object(f.answer(&alice(), get(id)))), bytes[..]);
        // Sealed under the tenant's key: the master key alone does not open it.
        let opened = f.store.get_sealed::<StoredObject>(
            &master,
            Column::Registry,
            &record::record_key(&alice(), id),
        );
        assert!(
            matches!(opened, Err(Error::TamperedRecord { .. })),
            "{opened:?}"
        );
    }
    // Only acme's objects moved, and a second run (or a resumed one) moves nothing.
    assert_eq!(migrate_legacy(&f.store, &master, &f.key, &acme).unwrap(), 0);
    assert!(
        f.store
            .last_key(Column::Objects)
            .unwrap()
            .is_some_and(|key| key.starts_with(&crate::store::key::tenant_prefix("globex")))
    );
}

#[test]
fn a_destroyed_tenants_objects_are_deleted_and_no_other() {
    let f = Fixture::new();
    let acme = TenantId::new("acme").unwrap();
    let bytes = key_bytes(24, 0x11);
    let ours = f.register(&alice(), secret("ours", bytes.clone()));
    let bob = owner("acme", "bob");
    let bobs = f.register(&bob, secret("bobs", bytes.clone()));
    let other_tenant = owner("acme2", "alice");
    let theirs = f.register(&other_tenant, secret("theirs", bytes.clone()));
    let mut batch = f.store.batch(&f.key);
    forget(&mut batch, &acme).unwrap();
    batch.commit().unwrap();
    assert_eq!(f.refused(&alice(), get(&ours)), ResultReason::ItemNotFound);
    assert_eq!(f.refused(&bob, get(&bobs)), ResultReason::ItemNotFound);
    assert_eq!(
        material(&object(f.answer(&other_tenant, get(&theirs)))),
        bytes[..]
    );
}
