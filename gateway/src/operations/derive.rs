//! Derive Key (KMIP 1.4 §4.6): a new L4 symmetric key made from one of the
//! caller's keys by a key derivation function ([`super::crypto::Derivation`]), then wrapped by
//! the core and stored as Create stores the keys it makes.
//!
//! The base key must be the caller's symmetric key, Active, with Derive Key in its usage mask;
//! the core unwraps it for this one derivation, and it is wiped with the derivation. The new
//! key is what the request's attributes make it — a Cryptographic Algorithm and Length the
//! gateway makes keys of, as for Create — and starts Pre-Active, with a Derivation Base Object
//! Link to its base. The base is not linked back: a key may derive any number of keys, and its
//! record would grow with each one.
//!
//! KMIP lets a second identifier name a Secret Data object holding the Derivation Data; the
//! gateway holds no Secret Data (the core does), so the Derivation Data comes in the request,
//! and the new object is a symmetric key. Nothing is stored unless the core wrapped the new
//! key.

use kmip::{
    Attribute, DeriveKeyRequest, DeriveKeyResponse, Link, LinkType, ObjectType, ResultReason,
};

use super::create::{Template, new_identifier, store, wrapped_record};
use super::crypto::{Derivation, Use, admit, unwrapped};
use crate::attribute_policy;
use crate::operations::Context;
use crate::refusal::Refusal;
use crate::vault::{Found, Vault};

pub(super) async fn derive_key<V: Vault>(
    context: &Context<'_, V>,
    found: Found,
    request: DeriveKeyRequest,
) -> Result<DeriveKeyResponse, Refusal> {
    let base = &found.record;
    if request.object_type != ObjectType::SymmetricKey {
        return Err(Refusal::new(
            ResultReason::InvalidObjectType,
            "the gateway derives symmetric keys: Secret Data is held by krypton-core",
        ));
    }
    if request.unique_identifiers.len() > 1 {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            "the gateway derives from one base key: send the Derivation Data in the \
             Derivation Parameters rather than as a Secret Data object",
        ));
    }
    if base.metadata.object_type != ObjectType::SymmetricKey {
        return Err(Refusal::new(
            ResultReason::InvalidObjectType,
            format!(
                "Derive Key derives from symmetric keys; this object is a {:?}",
                base.metadata.object_type
            ),
        ));
    }
    admit(context, base, Use::DeriveKey)?;
    let template = Template::read(&request.attributes, context.keys)?;
    let derivation = Derivation::read(
        request.derivation_method,
        *request.derivation_parameters,
        base.metadata.algorithm,
        template.key_bytes,
    )?;
    let mut metadata = template.into_metadata(context.now);
    metadata.client_attributes.push(Attribute::Link(Link {
        link_type: LinkType::DerivationBaseObjectLink,
        linked_object_identifier: base.id.clone(),
    }));
    attribute_policy::admit(&metadata.client_attributes, context.keys)?;

    let key = unwrapped(context, &found, Use::DeriveKey).await?;
    // PBKDF2 may take seconds: off the threads that answer requests.
    let derived = tokio::task::spawn_blocking(move || derivation.derive(&key))
        .await
        .map_err(|error| {
            tracing::error!(%error, "the key derivation task failed");
            Refusal::new(ResultReason::GeneralFailure, "the key derivation failed")
        })??;
    let id = new_identifier()?;
    let record = wrapped_record(context, id.clone(), &derived, metadata).await?;
    drop(derived);
    store(context, record).await?;
    tracing::info!(owner = context.owner(), key = %id, base = %base.id, "L4 key derived");
    Ok(DeriveKeyResponse {
        unique_identifier: id,
        attributes: Vec::new(),
    })
}
