//! The L4 keys the tests put in a vault: records of an AES-256 key, as the gateway stores them.

use kmip::{
    Attribute, CryptographicAlgorithm, CryptographicUsageMask, DateTime, Name, ObjectType, State,
};
use krypton_gateway::{L3Ref, Metadata, Record, WrappedKey};

/// When every test key was created (and, if Active, activated).
pub const CREATED: DateTime = DateTime(1_700_000_000);

/// The L3 of `tenant`'s `service`.
pub fn l3(tenant: &str, service: &str) -> L3Ref {
    L3Ref {
        tenant: tenant.into(),
        service: service.into(),
    }
}

/// A Pre-Active AES-256 key for encryption and decryption, created at [`CREATED`] and named
/// `names`.
pub fn metadata(names: &[&str]) -> Metadata {
    Metadata {
        usage_mask: Some(CryptographicUsageMask::ENCRYPT | CryptographicUsageMask::DECRYPT),
        client_attributes: names
            .iter()
            .map(|name| Attribute::Name(Name::text(*name)))
            .collect(),
        ..Metadata::new(
            ObjectType::SymmetricKey,
            Some(CryptographicAlgorithm::Aes),
            Some(256),
            CREATED,
        )
    }
}

/// `owner`'s key `id` with [`metadata`] `names`, wrapped by acme's `payments` L3 (app-a's) into
/// the blob `blob of <id>`.
pub fn record(owner: &str, id: &str, names: &[&str]) -> Record {
    Record::new(
        owner,
        id,
        l3("acme", "payments"),
        WrappedKey::new(format!("blob of {id}").into_bytes()),
        metadata(names),
    )
}

/// app-a's key `id` (see [`record`]) in `state`; an Active key was activated at [`CREATED`].
pub fn app_a_key(id: &str, state: State, names: &[&str]) -> Record {
    let mut record = record("app-a", id, names);
    record.metadata.state = state;
    if state == State::Active {
        record.metadata.activation_date = Some(CREATED);
    }
    record
}
