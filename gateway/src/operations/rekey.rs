//! Re-key: a new key replacing one of the caller's symmetric keys (KMIP 1.4 §4.4), made as
//! Create makes one — generated here, wrapped by the core, stored only wrapped — with the old
//! key's algorithm, length, usage mask and client attributes.
//!
//! As the specification sets them: the names move to the new key; the two are linked, the old
//! key by a Replacement Object Link, the new one by a Replaced Object Link. Without an Offset,
//! the new key's Activation and Deactivation Dates are the old key's; with one, it activates
//! Offset seconds after its Initial Date (now) and deactivates as long after that as the old
//! key did after its own activation. The request may set the new key's Activation and
//! Deactivation Dates itself; it sets nothing else, since everything else is the old key's.
//!
//! The old key keeps working until the client revokes it. A key replaced once is not re-keyed
//! again: its replacement is. The new key is stored before the old one is linked to it; should
//! that second write fail, the new key stays, linked to the old one, and the client is told.

use kmip::{
    Attribute, DateTime, Link, LinkType, ObjectType, RekeyRequest, RekeyResponse, ResultReason,
    State,
};

use super::create::{key_bytes, make_key};
use crate::attribute_policy::{admit, describe};
use crate::metadata::Metadata;
use crate::operations::{Context, update};
use crate::refusal::Refusal;
use crate::vault::{Record, Vault};

pub(super) async fn rekey<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
    request: RekeyRequest,
) -> Result<RekeyResponse, Refusal> {
    let old = &record.metadata;
    if old.object_type != ObjectType::SymmetricKey {
        return Err(Refusal::new(
            ResultReason::InvalidObjectType,
            "Re-key replaces symmetric keys; the halves of a key pair are replaced with Re-key \
             Key Pair, which the gateway does not offer",
        ));
    }
    if matches!(old.state, State::Destroyed | State::DestroyedCompromised) {
        return Err(Refusal::wrong_state("Re-key", old.state));
    }
    if let Some(replacement) = linked(old, LinkType::ReplacementObjectLink) {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            format!("the key was replaced already, by {replacement}: re-key that one"),
        ));
    }
    let (Some(algorithm), Some(length)) = (old.algorithm, old.length) else {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            "the key names no Cryptographic Algorithm and Length to make its replacement with",
        ));
    };
    let key_bytes = key_bytes(algorithm, length)?;
    let metadata = replacement(context, &record, &request)?;
    let new_id = make_key(context, key_bytes, metadata).await?;
    let old_id = record.id.clone();
    let link = Attribute::Link(Link {
        link_type: LinkType::ReplacementObjectLink,
        linked_object_identifier: new_id.clone(),
    });
    update(context, record, |record| {
        let attributes = &mut record.metadata.client_attributes;
        attributes.retain(|attribute| !matches!(attribute, Attribute::Name(_)));
        attributes.push(link.clone());
        Ok(())
    })
    .await
    .map_err(|refusal| {
        Refusal::new(
            refusal.reason,
            format!(
                "the replacement key {new_id} was made, but the key it replaces could not be \
                 linked to it: {}",
                refusal.message
            ),
        )
    })?;
    tracing::info!(owner = context.owner(), key = %old_id, replacement = %new_id, "L4 key re-keyed");
    Ok(RekeyResponse {
        unique_identifier: new_id,
        attributes: Vec::new(),
    })
}

/// The metadata of the key replacing `record`'s, as of now.
fn replacement<V>(
    context: &Context<'_, V>,
    record: &Record,
    request: &RekeyRequest,
) -> Result<Metadata, Refusal> {
    let old = &record.metadata;
    let (mut activation_date, mut deactivation_date) = match request.offset {
        None => (old.activation_date, old.deactivation_date),
        Some(offset) => {
            let activation = DateTime(context.now.0.saturating_add(i64::from(offset)));
            let lifetime = old
                .activation_date
                .zip(old.deactivation_date)
                .map(|(from, to)| to.0.saturating_sub(from.0));
            let deactivation =
                lifetime.map(|seconds| DateTime(activation.0.saturating_add(seconds)));
            (Some(activation), deactivation)
        }
    };
    for attribute in &request.attributes {
        match attribute {
            Attribute::ActivationDate(date) => activation_date = Some(*date),
            Attribute::DeactivationDate(date) => deactivation_date = Some(*date),
            other => {
                return Err(Refusal::new(
                    ResultReason::InvalidField,
                    format!(
                        "Re-key sets only the new key's Activation and Deactivation Dates, not \
                         {}: its other attributes are those of the key it replaces",
                        describe(&other.reference())
                    ),
                ));
            }
        }
    }
    let mut client_attributes: Vec<Attribute> = old
        .client_attributes
        .iter()
        .filter(|attribute| !matches!(attribute, Attribute::Link(_)))
        .cloned()
        .collect();
    client_attributes.push(Attribute::Link(Link {
        link_type: LinkType::ReplacedObjectLink,
        linked_object_identifier: record.id.clone(),
    }));
    admit(&client_attributes, context.keys)?;
    Ok(Metadata {
        usage_mask: old.usage_mask,
        activation_date,
        deactivation_date,
        client_attributes,
        ..Metadata::new(old.object_type, old.algorithm, old.length, context.now)
    })
}

/// The object `metadata` links to by `link_type`, if any.
fn linked(metadata: &Metadata, link_type: LinkType) -> Option<&str> {
    metadata
        .client_attributes
        .iter()
        .find_map(|attribute| match attribute {
            Attribute::Link(link) if link.link_type == link_type => {
                Some(link.linked_object_identifier.as_str())
            }
            _ => None,
        })
}
