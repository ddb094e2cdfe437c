//! Create Key Pair: a private key and its public key, made here with aws-lc-rs (see
//! [`super::asymmetric`]), each wrapped by the core under the caller's service key and stored
//! only wrapped, as Create stores a symmetric key. Both halves are the caller's objects.
//!
//! The request's attributes come in three sets — common to both halves, the private key's and
//! the public key's (KMIP 1.x Template-Attributes, 2.x Attributes) — and a half's own
//! single-valued attributes replace the common ones; names, groups and the other attributes
//! the gateway keeps for the client go to each half from both sets. The Cryptographic Algorithm
//! and Length choose the kind of pair and must agree between the halves. Each half starts
//! Pre-Active with its own usage mask (Sign for the private key, Verify for the public key,
//! unless the request gives one) and links to the other: the private key by a Public Key
//! Link, the public key by a Private Key Link.
//!
//! Both halves are wrapped before either is stored, so a core that refuses leaves nothing
//! behind. The public key is stored first; should the private key then not be stored, the
//! public key is destroyed again, so no half-made pair stays.

use kmip::{
    Attribute, CreateKeyPairRequest, CreateKeyPairResponse, CryptographicUsageMask, Link, LinkType,
    ObjectType, ResultReason,
};

use super::asymmetric::KeyKind;
use super::create::{Requested, new_identifier, store, wrapped_record};
use crate::attribute_policy::admit;
use crate::error::ErrorChain;
use crate::metadata::Metadata;
use crate::operations::Context;
use crate::refusal::Refusal;
use crate::vault::{Record, Vault};

pub(super) async fn create_key_pair<V: Vault>(
    context: &Context<'_, V>,
    request: CreateKeyPairRequest,
) -> Result<CreateKeyPairResponse, Refusal> {
    let common = Requested::read(&request.common_attributes, None)?;
    let private = Requested::read(
        &request.private_key_attributes,
        Some(ObjectType::PrivateKey),
    )?
    .over(&common);
    let public =
        Requested::read(&request.public_key_attributes, Some(ObjectType::PublicKey))?.over(&common);
    let kind = kind(&private, &public)?;
    let private_id = new_identifier()?;
    let public_id = new_identifier()?;
    let private_metadata = half(
        context,
        private,
        kind,
        ObjectType::PrivateKey,
        LinkType::PublicKeyLink,
        &public_id,
    )?;
    let public_metadata = half(
        context,
        public,
        kind,
        ObjectType::PublicKey,
        LinkType::PrivateKeyLink,
        &private_id,
    )?;
    let material = tokio::task::spawn_blocking(move || kind.generate())
        .await
        .map_err(|error| {
            tracing::error!(error = %ErrorChain(&error), "the key pair generation task failed");
            Refusal::new(
                ResultReason::GeneralFailure,
                "the gateway could not make the key pair",
            )
        })??;
    let private_record = wrapped_record(
        context,
        private_id.clone(),
        &material.private,
        private_metadata,
    )
    .await?;
    let public_record = wrapped_record(
        context,
        public_id.clone(),
        &material.public,
        public_metadata,
    )
    .await?;
    drop(material);
    let public_kept = public_record.clone();
    store(context, public_record).await?;
    if let Err(refusal) = store(context, private_record).await {
        return Err(undo_public(context, public_kept, refusal).await);
    }
    tracing::info!(
        owner = context.owner(),
        private_key = %private_id,
        public_key = %public_id,
        ?kind,
        "key pair created"
    );
    Ok(CreateKeyPairResponse {
        private_key_unique_identifier: private_id,
        public_key_unique_identifier: public_id,
    })
}

/// The kind of pair both halves ask for.
fn kind(private: &Requested, public: &Requested) -> Result<KeyKind, Refusal> {
    if (private.algorithm, private.length) != (public.algorithm, public.length) {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            "the private and public keys ask for different Cryptographic Algorithms or Lengths: \
             give them once, in the attributes common to both",
        ));
    }
    let algorithm = private.algorithm.ok_or_else(|| {
        Refusal::new(
            ResultReason::InvalidField,
            "Create Key Pair needs a Cryptographic Algorithm attribute",
        )
    })?;
    KeyKind::of(algorithm, private.length)
}

/// The metadata of a public or private key of `kind` (one half of a new pair, or a
/// registered key) with the `requested` attributes: its length the key's, its usage mask the
/// one asked for or the default (Sign for a private key, Verify for a public key), and `link`
/// to its other half, if it has one.
pub(super) fn key_metadata<V>(
    context: &Context<'_, V>,
    mut requested: Requested,
    kind: KeyKind,
    object_type: ObjectType,
    link: Option<Link>,
) -> Result<Metadata, Refusal> {
    requested.length = Some(kind.bits());
    requested.usage_mask = requested.usage_mask.or(Some(match object_type {
        ObjectType::PrivateKey => CryptographicUsageMask::SIGN,
        _ => CryptographicUsageMask::VERIFY,
    }));
    requested
        .client_attributes
        .extend(link.map(Attribute::Link));
    admit(&requested.client_attributes, context.keys)?;
    Ok(requested.into_metadata(object_type, context.now))
}

/// One half of a pair, linked by `link_type` to the other half, `other_id`.
fn half<V>(
    context: &Context<'_, V>,
    requested: Requested,
    kind: KeyKind,
    object_type: ObjectType,
    link_type: LinkType,
    other_id: &str,
) -> Result<Metadata, Refusal> {
    let link = Link {
        link_type,
        linked_object_identifier: other_id.to_owned(),
    };
    key_metadata(context, requested, kind, object_type, Some(link))
}

/// Destroys the public key of a pair whose private key could not be stored, and returns the
/// refusal for the request: the private key's, saying what became of the public key.
async fn undo_public<V: Vault>(
    context: &Context<'_, V>,
    public: Record,
    refusal: Refusal,
) -> Refusal {
    let id = public.id.clone();
    let outcome = match super::lifecycle::destroy(context, public).await {
        Ok(_) => "it was destroyed again".to_owned(),
        Err(undo) => {
            tracing::error!(public_key = %id, reason = ?undo.reason, message = %undo.message, "the public key of a half-made pair was not destroyed");
            format!("it could not be destroyed ({}): destroy it", undo.message)
        }
    };
    Refusal::new(
        refusal.reason,
        format!(
            "the private key was not stored: {}; the public key {id} had been stored, and {outcome}",
            refusal.message
        ),
    )
}
