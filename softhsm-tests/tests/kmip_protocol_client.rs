//! krypton-gateway in front of krypton-core, driven by a second KMIP client that shares no code
//! with Krypton or PyKMIP: NLnet Labs' `kmip-protocol` crate (KMIP 1.0–1.2). Requests are the
//! crate's request types encoded by its TTLV serializer; responses are decoded into its response
//! types; the identities are "app-alice" and "app-bob" over mutual TLS. Besides the symmetric key
//! lifecycle, it runs the flow of Krill's KMIP signer, the crate's reason to exist: an RSA key
//! pair, Sign, Get of the public key (also as a Transparent RSA Public Key, whose numbers the
//! crate decodes), renaming, RNG Retrieve.
//!
//! The crate's `Client` is compiled only with one of its TLS features, each of which brings a TLS
//! stack of its own (OpenSSL, or rustls 0.19 with ring 0.16), and it fixes the protocol version
//! per operation. So the tests do what its `Client::do_request` does — one request message of
//! one batch item, written to a stream, the response read with `kmip_ttlv::from_reader` — over
//! the workspace's rustls, and choose the version: first the crate's own choice (1.0 for the
//! object operations, 1.1 for Discover Versions, 1.2 for Query), then 1.0, 1.1 and 1.2 for all.
//!
//! Runs the debug binaries of the workspace (`cargo build --workspace --bins` builds them).

#![allow(clippy::unwrap_used)]

use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey};
use kmip_protocol::types::common::{
    AttributeIndex, AttributeName, AttributeValue, CryptographicAlgorithm, CryptographicParameters,
    CryptographicUsageMask, Data, DataLength, HashingAlgorithm, KeyFormatType, KeyMaterial,
    NameValue, ObjectType, Operation, PaddingMethod, RevocationReasonCode, State, UniqueIdentifier,
};
use kmip_protocol::types::request::{
    self, Attribute, BatchCount, CommonTemplateAttribute, PrivateKeyTemplateAttribute,
    ProtocolVersion, ProtocolVersionMajor, ProtocolVersionMinor, PublicKeyTemplateAttribute,
    QueryFunction, RequestHeader, RequestMessage, RequestPayload, RevocationReason,
    TemplateAttribute,
};
use kmip_protocol::types::response::{
    BatchItem, GetResponsePayload, ManagedObject, ResponseMessage, ResponsePayload, ResultReason,
    ResultStatus,
};
use krypton_dev::Stack;
use krypton_softhsm_tests::pykmip::App;
use krypton_softhsm_tests::suite::{self, Fixture, Test};
use krypton_softhsm_tests::tls::{self, TlsStream};

const ALICE: &str = "app-alice";
const BOB: &str = "app-bob";

/// The crate's own version per operation, then each version it knows for every operation.
const VERSIONS: [Version; 4] = [
    Version::CratesChoice,
    Version::Fixed(1, 0),
    Version::Fixed(1, 1),
    Version::Fixed(1, 2),
];

/// The longest any read or write on a connection may wait.
const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest response read (the crate's reader refuses a larger one before reading it).
const MAX_RESPONSE: u32 = 1 << 20;
/// Encrypt | Decrypt.
const USAGE_MASK: i32 = 0x0C;
/// The attributes Get Attributes asks for.
const CHECKED_ATTRIBUTES: [&str; 5] = [
    "State",
    "Cryptographic Algorithm",
    "Cryptographic Length",
    "Cryptographic Usage Mask",
    "Name",
];

const TESTS: [(&str, Test); 6] = [
    (
        "lifecycle_per_identity_at_each_version",
        lifecycle_per_identity_at_each_version,
    ),
    ("identities_are_isolated", identities_are_isolated),
    (
        "core_down_fails_closed_and_comes_back",
        core_down_fails_closed_and_comes_back,
    ),
    (
        "gateway_restart_keeps_every_key",
        gateway_restart_keeps_every_key,
    ),
    ("discover_versions_and_query", discover_versions_and_query),
    ("krill_signer_at_each_version", krill_signer_at_each_version),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

/// Create, Activate, Get, Get Attributes, Locate by name, Revoke, Destroy, and the refusals
/// after Destroy, for each identity at each version; every key is its own.
fn lifecycle_per_identity_at_each_version(fixture: &Fixture) {
    let stack = fixture.stack();
    let mut keys = Vec::new();
    for version in VERSIONS {
        for app in [ALICE, BOB] {
            let mut client = Client::connect(&stack, app, version);
            let name = format!("kmip-protocol-{app}-{version}");
            let id = client.create_aes_256(&name);
            assert_eq!(client.attributes(&id).state(), Some(State::PreActive));

            client.activate(&id);
            let key = client.get(&id);
            let attributes = client.attributes(&id);
            assert_eq!(attributes.state(), Some(State::Active), "{attributes}");
            assert_eq!(
                attributes.value("Cryptographic Algorithm"),
                Some(&AttributeValue::CryptographicAlgorithm(
                    CryptographicAlgorithm::AES
                )),
                "{attributes}"
            );
            assert_eq!(
                attributes.value("Cryptographic Length"),
                Some(&AttributeValue::Integer(256)),
                "{attributes}"
            );
            assert_eq!(
                attributes.value("Cryptographic Usage Mask"),
                Some(&AttributeValue::Integer(USAGE_MASK)),
                "{attributes}"
            );
            assert!(
                matches!(
                    attributes.value("Name"),
                    Some(AttributeValue::Name(NameValue(named), _)) if *named == name
                ),
                "{attributes}"
            );
            assert_eq!(client.locate(&name), vec![id.clone()]);

            client.revoke(&id, RevocationReasonCode::CessationOfOperation);
            assert_eq!(client.attributes(&id).state(), Some(State::Deactivated));
            // A revoked (Deactivated) key can still be read: old data stays decryptable.
            assert_eq!(client.get(&id), key, "{app} at {version}");

            client.destroy(&id);
            let (reason, message) = client.refused(get_request(&id));
            assert!(
                [ResultReason::ItemNotFound, ResultReason::PermissionDenied].contains(&reason),
                "Get after Destroy by {app} at {version}: {reason:?} {message}"
            );
            // Locate without a Storage Status Mask finds only live keys.
            assert_eq!(client.locate(&name), Vec::<String>::new());
            keys.push(key);
        }
    }
    for (i, key) in keys.iter().enumerate() {
        assert!(!keys[i + 1..].contains(key), "key {i} made twice");
    }
}

/// Bob, at each version, neither sees nor touches Alice's key: Item Not Found or Permission
/// Denied for every operation on it, nothing for a Locate of its name, and the key unchanged.
fn identities_are_isolated(fixture: &Fixture) {
    let stack = fixture.stack();
    for version in VERSIONS {
        let mut alice = Client::connect(&stack, ALICE, version);
        let name = format!("alice-only-{version}");
        let id = alice.create_aes_256(&name);
        let key = alice.get(&id);

        let mut bob = Client::connect(&stack, BOB, version);
        let unique_identifier = || Some(UniqueIdentifier(id.clone()));
        let attempts = [
            get_request(&id),
            RequestPayload::GetAttributes(unique_identifier(), None),
            RequestPayload::GetAttributeList(unique_identifier()),
            RequestPayload::Activate(unique_identifier()),
            revoke_request(&id, RevocationReasonCode::KeyCompromise),
            RequestPayload::Destroy(unique_identifier()),
        ];
        for attempt in attempts {
            let operation = attempt.operation();
            let (reason, message) = bob.refused(attempt);
            assert!(
                [ResultReason::ItemNotFound, ResultReason::PermissionDenied].contains(&reason),
                "Bob's {operation:?} of Alice's key at {version}: {reason:?} {message}"
            );
        }
        assert_eq!(bob.locate(&name), Vec::<String>::new(), "at {version}");

        // Alice's key is untouched: still Pre-Active, still hers, still the same bytes.
        assert_eq!(alice.attributes(&id).state(), Some(State::PreActive));
        assert_eq!(alice.get(&id), key);
        alice.destroy(&id);
    }
}

/// With the core stopped, at each version: Create and Get of an active key fail closed (General
/// Failure, the core named unreachable, no key bytes) while Revoke and Destroy, which only take
/// keys out of use, succeed. Once the core is back the failed Creates left nothing behind, and
/// Create and Get work again.
fn core_down_fails_closed_and_comes_back(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let mut keys = Vec::new();
    for version in VERSIONS {
        let mut client = Client::connect(&stack, ALICE, version);
        let id = client.create_aes_256(&format!("survives-the-core-{version}"));
        client.activate(&id);
        let key = client.get(&id);
        keys.push((version, id, key));
    }

    stack.stop_core().unwrap();
    for (version, id, key) in &keys {
        let mut client = Client::connect(&stack, ALICE, *version);
        let attempts = [
            create_request(&format!("while-the-core-is-down-{version}")),
            get_request(id),
        ];
        for attempt in attempts {
            let operation = attempt.operation();
            let (reason, message) = client.refused(attempt);
            assert_eq!(
                reason,
                ResultReason::GeneralFailure,
                "{operation:?} at {version}: {message}"
            );
            assert!(
                message.contains("unreachable"),
                "{operation:?} at {version}: {message}"
            );
            assert!(
                !message.to_lowercase().contains(&hex_of(key)),
                "{operation:?} at {version}: {message}"
            );
        }
        client.revoke(id, RevocationReasonCode::CessationOfOperation);
        client.destroy(id);
    }

    stack.restart_core().unwrap();
    for version in VERSIONS {
        let mut client = Client::connect(&stack, ALICE, version);
        assert_eq!(
            client.locate(&format!("while-the-core-is-down-{version}")),
            Vec::<String>::new(),
            "a Create that failed stored a key at {version}"
        );
        let id = client.create_aes_256(&format!("after-the-core-came-back-{version}"));
        let key = client.get(&id);
        assert!(
            keys.iter().all(|(_, _, before)| *before != key),
            "at {version}"
        );
    }
}

/// Keys of both identities, made at each version, are still theirs with the same bytes after
/// the gateway restarts on its vault.
fn gateway_restart_keeps_every_key(fixture: &Fixture) {
    let mut stack = fixture.stack();
    let mut keys = Vec::new();
    for version in VERSIONS {
        for app in [ALICE, BOB] {
            let mut client = Client::connect(&stack, app, version);
            let id = client.create_aes_256(&format!("kept-{app}-{version}"));
            let key = client.get(&id);
            keys.push((app, version, id, key));
        }
    }

    let stopped = stack.restart_gateway().unwrap();
    assert!(
        stopped.is_some_and(|status| status.success()),
        "{stopped:?}"
    );
    for &(app, version, ref id, ref key) in &keys {
        let mut client = Client::connect(&stack, app, version);
        assert_eq!(&client.get(id), key, "{app}'s {id} at {version}");
    }
}

/// Discover Versions lists what the crate speaks; Query lists the operations and object types the
/// lifecycle uses, and at KMIP 1.0 none that 1.0 lacks.
fn discover_versions_and_query(fixture: &Fixture) {
    let stack = fixture.stack();
    for version in VERSIONS {
        let mut client = Client::connect(&stack, ALICE, version);
        if version != Version::Fixed(1, 0) {
            // Discover Versions is a KMIP 1.1 operation.
            let ResponsePayload::DiscoverVersions(response) =
                client.ok(RequestPayload::DiscoverVersions(Vec::new()))
            else {
                unreachable!("checked by Client::ok")
            };
            let versions: Vec<(i32, i32)> = response
                .supported_versions
                .unwrap_or_default()
                .iter()
                .map(|v| (v.major, v.minor))
                .collect();
            for known in [(1, 0), (1, 1), (1, 2)] {
                assert!(versions.contains(&known), "{versions:?} at {version}");
            }
            let mut newest_first = versions.clone();
            newest_first.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(versions, newest_first, "at {version}");
        }

        let ResponsePayload::Query(response) = client.ok(RequestPayload::Query(vec![
            QueryFunction::QueryOperations,
            QueryFunction::QueryObjects,
            QueryFunction::QueryServerInformation,
        ])) else {
            unreachable!("checked by Client::ok")
        };
        let operations = response.operations.unwrap_or_default();
        for operation in [
            Operation::Create,
            Operation::Locate,
            Operation::Get,
            Operation::GetAttributes,
            Operation::GetAttributeList,
            Operation::Activate,
            Operation::Revoke,
            Operation::Destroy,
            Operation::Query,
        ] {
            assert!(
                operations.contains(&operation),
                "{operation:?} not in {operations:?} at {version}"
            );
        }
        assert_eq!(
            operations.contains(&Operation::DiscoverVersions),
            version != Version::Fixed(1, 0),
            "Discover Versions (KMIP 1.1) listed at {version}: {operations:?}"
        );
        let object_types = response.object_types.unwrap_or_default();
        assert!(
            object_types.contains(&ObjectType::SymmetricKey),
            "{object_types:?}"
        );
        assert!(
            response
                .vendor_identification
                .is_some_and(|vendor| vendor.starts_with("Krypton")),
            "at {version}"
        );
    }
}

/// Krill's KMIP signer, as the crate's `Client` drives it (`create_rsa_key_pair`,
/// `activate_key`, `get_key`, `sign`, `rename_key`, `rng_retrieve`, `revoke_key`,
/// `destroy_key`), at each version: an RSA-2048 pair whose halves carry their names and masks;
/// the public key read back as PKCS#1 (the only public key form the crate decodes) and the
/// PKCS#1 v1.5 SHA-256 signature of the private key checked against it by aws-lc-rs; the
/// private key renamed by Modify Attribute and found under its new name alone; 32 random bytes.
/// Sign and RNG Retrieve are KMIP 1.2 operations, served to requests labelled 1.0 or 1.1 too
/// (their encoding is the same; Query at those versions does not list them). Bob is told of
/// Alice's key what he is told of a key that does not exist.
fn krill_signer_at_each_version(fixture: &Fixture) {
    let stack = fixture.stack();
    let data = b"RPKI manifest 0001".to_vec();
    for version in VERSIONS {
        let mut alice = Client::connect(&stack, ALICE, version);
        let name = format!("krill-{version}");
        let (private, public) = alice.create_rsa_pair(&name);
        alice.activate(&private);
        alice.activate(&public);

        let ResponsePayload::Get(got) = alice.ok(get_request(&public)) else {
            unreachable!("checked by Client::ok")
        };
        assert_eq!(got.object_type, ObjectType::PublicKey);
        let ManagedObject::PublicKey(key) = got.cryptographic_object else {
            panic!("Get of {public} returned {:?}", got.cryptographic_object)
        };
        assert_eq!(key.key_block.key_format_type, KeyFormatType::PKCS1);
        assert_eq!(key.key_block.cryptographic_length, Some(2048));
        let KeyMaterial::Bytes(pkcs1) = key.key_block.key_value.key_material else {
            panic!(
                "public key material {:?}",
                key.key_block.key_value.key_material
            )
        };

        let ResponsePayload::Sign(signed) = alice.ok(sign_request(&private, &data)) else {
            unreachable!("checked by Client::ok")
        };
        assert_eq!(signed.unique_identifier.0, private);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &pkcs1)
            .verify(&data, &signed.signature_data)
            .unwrap_or_else(|_| panic!("the signature at {version} does not verify"));

        // The same keys as their numbers, decoded by the crate: the public key's verify the
        // signature.
        let mut numbers = |id: &str, format| {
            let get = RequestPayload::Get(
                Some(UniqueIdentifier(id.to_owned())),
                Some(format),
                None,
                None,
            );
            let ResponsePayload::Get(got) = alice.ok(get) else {
                unreachable!("checked by Client::ok")
            };
            let key_block = match got.cryptographic_object {
                ManagedObject::PublicKey(key) => key.key_block,
                ManagedObject::PrivateKey(key) => key.key_block,
                other => panic!("Get of {id} returned {other:?}"),
            };
            assert_eq!(key_block.key_format_type, format);
            key_block.key_value.key_material
        };
        let KeyMaterial::TransparentRSAPublicKey(public_numbers) =
            numbers(&public, KeyFormatType::TransparentRSAPublicKey)
        else {
            panic!("not a Transparent RSA Public Key at {version}")
        };
        let public_key = RsaPublicKeyComponents {
            n: unsigned(&public_numbers.modulus),
            e: unsigned(&public_numbers.public_exponent),
        };
        public_key
            .verify(&RSA_PKCS1_2048_8192_SHA256, &data, &signed.signature_data)
            .unwrap_or_else(|_| panic!("the modulus and exponent at {version} do not verify"));
        // The crate reads a Transparent RSA Private Key's modulus, and every optional number
        // after it as absent (its decoder's limit): the modulus is the public key's. (PyKMIP
        // checks all the numbers, in gateway_core.)
        let KeyMaterial::TransparentRSAPrivateKey(private_numbers) =
            numbers(&private, KeyFormatType::TransparentRSAPrivateKey)
        else {
            panic!("not a Transparent RSA Private Key at {version}")
        };
        assert_eq!(unsigned(&private_numbers.modulus), public_key.n);

        let ResponsePayload::RNGRetrieve(random) =
            alice.ok(RequestPayload::RNGRetrieve(DataLength(32)))
        else {
            unreachable!("checked by Client::ok")
        };
        assert_eq!(random.data.len(), 32);
        assert_ne!(random.data, [0; 32]);

        // Bob is told of Alice's key what he is told of a key that does not exist.
        let mut bob = Client::connect(&stack, BOB, version);
        let nowhere = "no-such-key";
        for (attempt, control) in [
            (sign_request(&private, &data), sign_request(nowhere, &data)),
            (get_request(&private), get_request(nowhere)),
        ] {
            let operation = attempt.operation();
            assert_eq!(
                bob.refused(attempt).0,
                bob.refused(control).0,
                "Bob's {operation:?} of Alice's key at {version}"
            );
        }

        let renamed = format!("{name}-renamed");
        let rename = RequestPayload::ModifyAttribute(
            Some(UniqueIdentifier(private.clone())),
            Attribute::Name(renamed.clone()),
        );
        alice.ok(rename);
        assert_eq!(alice.locate(&renamed), vec![private.clone()]);
        assert_eq!(
            alice.locate(&format!("{name}-private")),
            Vec::<String>::new()
        );

        for id in [&private, &public] {
            alice.revoke(id, RevocationReasonCode::CessationOfOperation);
            alice.destroy(id);
        }
    }
}

/// The protocol version requests are sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// What the crate's `Client` sends: `RequestPayload::protocol_version`.
    CratesChoice,
    Fixed(i32, i32),
}

impl Version {
    fn of(self, payload: &RequestPayload) -> ProtocolVersion {
        match self {
            Self::CratesChoice => payload.protocol_version(),
            Self::Fixed(major, minor) => {
                ProtocolVersion(ProtocolVersionMajor(major), ProtocolVersionMinor(minor))
            }
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CratesChoice => f.write_str("crates-choice"),
            Self::Fixed(major, minor) => write!(f, "{major}.{minor}"),
        }
    }
}

/// One identity's connection to the gateway, speaking kmip-protocol at one [`Version`].
struct Client {
    stream: TlsStream,
    version: Version,
    app: &'static str,
}

impl Client {
    fn connect(stack: &Stack, app: &'static str, version: Version) -> Self {
        let stream = tls::connect(&App::of(stack, app), IO_TIMEOUT)
            .unwrap_or_else(|error| panic!("{app} cannot connect to the gateway: {error}"));
        Self {
            stream,
            version,
            app,
        }
    }

    /// Sends `payload` as a request of one batch item; the response's one batch item, after
    /// checking that the response came in the request's version.
    fn send(&mut self, payload: RequestPayload) -> BatchItem {
        let operation = payload.operation();
        let version = self.version.of(&payload);
        let (major, minor) = (version.0.0, version.1.0);
        let request = RequestMessage(
            RequestHeader(version, None, None, BatchCount(1)),
            vec![request::BatchItem(operation, None, payload)],
        );
        let bytes = kmip_ttlv::to_vec(&request).unwrap();
        self.stream.write_all(&bytes).unwrap();
        self.stream.flush().unwrap();
        let config = kmip_ttlv::Config::default().with_max_bytes(MAX_RESPONSE);
        let mut response: ResponseMessage = kmip_ttlv::from_reader(&mut self.stream, &config)
            .unwrap_or_else(|error| {
                panic!(
                    "{}: the response to {operation:?} at {major}.{minor} did not decode: {error}",
                    self.app
                )
            });
        let answered = response.header.protocol_version;
        assert_eq!(
            (answered.major, answered.minor),
            (major, minor),
            "{operation:?} answered in another version"
        );
        assert_eq!(response.header.batch_count, 1);
        assert_eq!(response.batch_items.len(), 1, "{response:?}");
        response.batch_items.remove(0)
    }

    /// The payload of `payload`'s response, which must have succeeded.
    fn ok(&mut self, payload: RequestPayload) -> ResponsePayload {
        let operation = payload.operation();
        let item = self.send(payload);
        assert_eq!(
            item.result_status,
            ResultStatus::Success,
            "{} {operation:?} at {}: {:?} {:?}",
            self.app,
            self.version,
            item.result_reason,
            item.result_message
        );
        assert_eq!(item.operation, Some(operation));
        let payload = item.payload.unwrap();
        assert_eq!(payload_operation(&payload), operation, "{payload:?}");
        payload
    }

    /// The Result Reason and Message of `payload`'s response, which must have failed without
    /// a payload.
    fn refused(&mut self, payload: RequestPayload) -> (ResultReason, String) {
        let operation = payload.operation();
        let item = self.send(payload);
        assert_eq!(
            item.result_status,
            ResultStatus::OperationFailed,
            "{} {operation:?} at {}: {item:?}",
            self.app,
            self.version
        );
        assert_eq!(item.payload, None);
        let reason = item.result_reason.expect("a failure states its reason");
        (reason, item.result_message.unwrap_or_default())
    }

    /// Creates an AES-256 key named `name` for encryption and decryption; its identifier.
    fn create_aes_256(&mut self, name: &str) -> String {
        let ResponsePayload::Create(created) = self.ok(create_request(name)) else {
            unreachable!("checked by Client::ok")
        };
        assert_eq!(created.object_type, ObjectType::SymmetricKey);
        created.unique_identifier.0
    }

    /// Makes an RSA-2048 pair as the crate's `create_rsa_key_pair` does: the halves named
    /// `<name>-private` and `<name>-public`, masked Sign and Verify; (private, public).
    fn create_rsa_pair(&mut self, name: &str) -> (String, String) {
        let half = |half: &str, usage| {
            vec![
                Attribute::Name(format!("{name}-{half}")),
                Attribute::CryptographicUsageMask(usage),
            ]
        };
        let request = RequestPayload::CreateKeyPair(
            Some(CommonTemplateAttribute::unnamed(vec![
                Attribute::CryptographicAlgorithm(CryptographicAlgorithm::RSA),
                Attribute::CryptographicLength(2048),
            ])),
            Some(PrivateKeyTemplateAttribute::unnamed(half(
                "private",
                CryptographicUsageMask::Sign,
            ))),
            Some(PublicKeyTemplateAttribute::unnamed(half(
                "public",
                CryptographicUsageMask::Verify,
            ))),
        );
        let ResponsePayload::CreateKeyPair(created) = self.ok(request) else {
            unreachable!("checked by Client::ok")
        };
        (
            created.private_key_unique_identifier.0,
            created.public_key_unique_identifier.0,
        )
    }

    fn activate(&mut self, id: &str) {
        let payload = RequestPayload::Activate(Some(UniqueIdentifier(id.to_owned())));
        let ResponsePayload::Activate(activated) = self.ok(payload) else {
            unreachable!("checked by Client::ok")
        };
        assert_eq!(activated.unique_identifier.0, id);
    }

    /// The key bytes of `id`, checked to be a Raw AES-256 Symmetric Key.
    fn get(&mut self, id: &str) -> Vec<u8> {
        let ResponsePayload::Get(got) = self.ok(get_request(id)) else {
            unreachable!("checked by Client::ok")
        };
        key_bytes(id, got)
    }

    /// The attributes of `id` the tests check, asked for by name: the crate cannot decode a
    /// Date-Time attribute (its `AttributeValue::DateTime` is a `u64`, which kmip-ttlv does not
    /// deserialize), so it cannot read a Get Attributes response listing all of them.
    fn attributes(&mut self, id: &str) -> Attributes {
        let names = CHECKED_ATTRIBUTES
            .iter()
            .map(|name| AttributeName((*name).to_owned()))
            .collect();
        let payload =
            RequestPayload::GetAttributes(Some(UniqueIdentifier(id.to_owned())), Some(names));
        let ResponsePayload::GetAttributes(response) = self.ok(payload) else {
            unreachable!("checked by Client::ok")
        };
        assert_eq!(response.unique_identifier.0, id);
        let attributes = Attributes(
            response
                .attributes
                .unwrap_or_default()
                .into_iter()
                .map(|attribute| (attribute.name.0, attribute.value))
                .collect(),
        );
        for (name, _) in &attributes.0 {
            assert!(
                CHECKED_ATTRIBUTES.contains(&name.as_str()),
                "{name} was not asked for: {attributes}"
            );
        }
        attributes
    }

    /// The identifiers of the caller's live keys named `name`.
    fn locate(&mut self, name: &str) -> Vec<String> {
        let payload = RequestPayload::Locate(vec![Attribute::Name(name.to_owned())]);
        let ResponsePayload::Locate(located) = self.ok(payload) else {
            unreachable!("checked by Client::ok")
        };
        located
            .unique_identifiers
            .into_iter()
            .map(|id| id.0)
            .collect()
    }

    fn revoke(&mut self, id: &str, reason: RevocationReasonCode) {
        let ResponsePayload::Revoke(revoked) = self.ok(revoke_request(id, reason)) else {
            unreachable!("checked by Client::ok")
        };
        assert_eq!(revoked.unique_identifier.0, id);
    }

    fn destroy(&mut self, id: &str) {
        let payload = RequestPayload::Destroy(Some(UniqueIdentifier(id.to_owned())));
        let ResponsePayload::Destroy(destroyed) = self.ok(payload) else {
            unreachable!("checked by Client::ok")
        };
        assert_eq!(destroyed.unique_identifier.0, id);
    }
}

/// Create of an AES-256 key named `name` for encryption and decryption.
fn create_request(name: &str) -> RequestPayload {
    let template = TemplateAttribute::unnamed(vec![
        Attribute::Name(name.to_owned()),
        Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
        Attribute::CryptographicLength(256),
        // The crate's helper takes one usage flag; the mask is an Integer of several.
        Attribute(
            AttributeName("Cryptographic Usage Mask".to_owned()),
            Option::<AttributeIndex>::None,
            AttributeValue::Integer(USAGE_MASK),
        ),
    ]);
    RequestPayload::Create(ObjectType::SymmetricKey, template)
}

fn get_request(id: &str) -> RequestPayload {
    RequestPayload::Get(Some(UniqueIdentifier(id.to_owned())), None, None, None)
}

fn revoke_request(id: &str, reason: RevocationReasonCode) -> RequestPayload {
    RequestPayload::Revoke(
        Some(UniqueIdentifier(id.to_owned())),
        RevocationReason(reason, None),
        None,
    )
}

/// Sign as the crate's `sign` asks for it: RSA, PKCS#1 v1.5 padding, SHA-256.
fn sign_request(id: &str, data: &[u8]) -> RequestPayload {
    RequestPayload::Sign(
        Some(UniqueIdentifier(id.to_owned())),
        Some(
            CryptographicParameters::default()
                .with_padding_method(PaddingMethod::PKCS1_v1_5)
                .with_hashing_algorithm(HashingAlgorithm::SHA256)
                .with_cryptographic_algorithm(CryptographicAlgorithm::RSA),
        ),
        Data(data.to_vec()),
    )
}

/// The bytes of a Get response that must be the Raw AES-256 key `id`.
fn key_bytes(id: &str, got: GetResponsePayload) -> Vec<u8> {
    assert_eq!(got.unique_identifier.0, id);
    assert_eq!(got.object_type, ObjectType::SymmetricKey);
    let ManagedObject::SymmetricKey(key) = got.cryptographic_object else {
        panic!("Get of {id} returned {:?}", got.cryptographic_object)
    };
    let block = key.key_block;
    assert_eq!(block.key_format_type, KeyFormatType::Raw);
    assert_eq!(
        block.cryptographic_algorithm,
        Some(CryptographicAlgorithm::AES)
    );
    assert_eq!(block.cryptographic_length, Some(256));
    let KeyMaterial::Bytes(bytes) = block.key_value.key_material else {
        panic!(
            "Get of {id}: key material {:?}",
            block.key_value.key_material
        )
    };
    assert_eq!(bytes.len(), 32, "{id}");
    bytes
}

/// A Big Integer as the crate decodes it (two's complement, sign-extended), as the unsigned
/// big-endian bytes aws-lc-rs takes.
fn unsigned(bytes: &[u8]) -> Vec<u8> {
    let first = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The operation a response payload answers.
fn payload_operation(payload: &ResponsePayload) -> Operation {
    match payload {
        ResponsePayload::Create(_) => Operation::Create,
        ResponsePayload::CreateKeyPair(_) => Operation::CreateKeyPair,
        ResponsePayload::ModifyAttribute(_) => Operation::ModifyAttribute,
        ResponsePayload::Sign(_) => Operation::Sign,
        ResponsePayload::RNGRetrieve(_) => Operation::RNGRetrieve,
        ResponsePayload::Locate(_) => Operation::Locate,
        ResponsePayload::Get(_) => Operation::Get,
        ResponsePayload::GetAttributes(_) => Operation::GetAttributes,
        ResponsePayload::Activate(_) => Operation::Activate,
        ResponsePayload::Revoke(_) => Operation::Revoke,
        ResponsePayload::Destroy(_) => Operation::Destroy,
        ResponsePayload::Query(_) => Operation::Query,
        ResponsePayload::DiscoverVersions(_) => Operation::DiscoverVersions,
        other => panic!("a payload the tests never ask for: {other:?}"),
    }
}

/// The attributes of a Get Attributes response, by name.
struct Attributes(Vec<(String, AttributeValue)>);

impl Attributes {
    fn value(&self, name: &str) -> Option<&AttributeValue> {
        self.0
            .iter()
            .find(|(named, _)| named == name)
            .map(|(_, value)| value)
    }

    fn state(&self) -> Option<State> {
        match self.value("State")? {
            AttributeValue::State(state) => Some(*state),
            other => panic!("State is {other:?}"),
        }
    }
}

impl fmt::Display for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
