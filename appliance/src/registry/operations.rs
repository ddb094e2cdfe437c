//! The operations of the registry, each on the caller's objects only.
//!
//! An operation on an existing object first reads the caller's record (a missing one is Item
//! Not Found, whether or not another owner has that identifier), then applies the shared KMIP
//! rule, then writes the record back under the edit lock.

use kmip::objects::attribute_edit::{self, Edit};
use kmip::objects::{Filter, Refusal, identifier, lifecycle};
use kmip::{
    ActivateResponse, CheckRequest, CheckResponse, CryptographicUsageMask, DateTime,
    DestroyResponse, GetRequest, GetResponse, KeyFormatType, KmipEnum, LocateRequest,
    LocateResponse, ProtocolVersion, RegisterResponse, RequestPayload, ResponsePayload,
    ResultReason, RevokeRequest, RevokeResponse, UniqueIdentifier,
};

use crate::registry::record::{self, Material, StoredObject};
use crate::registry::{Owner, Registry, RegistryError, register};
use crate::store::{Column, Scan};

/// How many records one step of a Locate scan opens.
const LOCATE_PAGE: usize = 256;

/// Answers one request; see [`Registry::answer`].
pub(super) fn answer(
    registry: &Registry<'_>,
    owner: &Owner,
    version: ProtocolVersion,
    now: DateTime,
    payload: RequestPayload,
) -> Result<ResponsePayload, RegistryError> {
    use RequestPayload as P;
    let on = |id: &Option<UniqueIdentifier>| Object::named(registry, owner, id);
    Ok(match payload {
        P::Register(request) => register(registry, owner, request, now)?.into(),
        P::Locate(request) => locate(registry, owner, &request, now)?.into(),
        P::Get(request) => get(&on(&request.unique_identifier)?.read()?, &request, now)?.into(),
        P::GetAttributes(request) => {
            let (id, stored) = on(&request.unique_identifier)?.read()?;
            attribute_edit::get_attributes(&id, &stored.metadata, &request, now).into()
        }
        P::GetAttributeList(request) => {
            let (id, stored) = on(&request.unique_identifier)?.read()?;
            attribute_edit::get_attribute_list(&id, &stored.metadata, now).into()
        }
        P::Check(request) => check(&on(&request.unique_identifier)?.read()?, &request, now)?.into(),
        P::Activate(request) => on(&request.unique_identifier)?.update(|id, stored| {
            lifecycle::activate(&mut stored.metadata, now)?;
            tracing::info!(tenant = %owner.tenant, identity = %owner.identity, object = %id, "object activated");
            Ok(ActivateResponse {
                unique_identifier: id.to_owned(),
            }
            .into())
        })?,
        P::Revoke(request) => on(&request.unique_identifier)?
            .update(|id, stored| revoke(owner, id, stored, &request, now).map(Into::into))?,
        P::Destroy(request) => on(&request.unique_identifier)?.update(|id, stored| {
            lifecycle::destroy(&mut stored.metadata, now)?;
            // Dropping the material wipes it (SecretBytes); the rewritten record has none.
            stored.material = None;
            tracing::info!(tenant = %owner.tenant, identity = %owner.identity, object = %id, "object destroyed");
            Ok(DestroyResponse {
                unique_identifier: id.to_owned(),
            }
            .into())
        })?,
        P::AddAttribute(request) => on(&request.unique_identifier)?
            .update(|id, stored| Ok(edit(registry, id, stored, now).add_attribute(&request)?.into()))?,
        P::ModifyAttribute(request) => on(&request.unique_identifier)?
            .update(|id, stored| Ok(edit(registry, id, stored, now).modify_attribute(&request)?.into()))?,
        P::DeleteAttribute(request) => on(&request.unique_identifier)?.update(|id, stored| {
            Ok(edit(registry, id, stored, now)
                .delete_attribute(&request, version)?
                .into())
        })?,
        P::SetAttribute(request) => on(&request.unique_identifier)?
            .update(|id, stored| Ok(edit(registry, id, stored, now).set_attribute(&request)?.into()))?,
        P::AdjustAttribute(request) => on(&request.unique_identifier)?
            .update(|id, stored| Ok(edit(registry, id, stored, now).adjust_attribute(&request)?.into()))?,
        other => {
            return Err(Refusal::new(
                ResultReason::OperationNotSupported,
                match other.operation() {
                    Some(operation) => {
                        format!("krypton-core's object registry does not offer {operation:?}")
                    }
                    None => "krypton-core does not offer this operation".to_owned(),
                },
            )
            .into());
        }
    })
}

/// One of the caller's objects, named by a request.
struct Object<'r> {
    registry: &'r Registry<'r>,
    id: String,
    key: Vec<u8>,
}

impl<'r> Object<'r> {
    fn named(
        registry: &'r Registry<'r>,
        owner: &Owner,
        id: &Option<UniqueIdentifier>,
    ) -> Result<Self, Refusal> {
        let id = match id.as_ref().map(UniqueIdentifier::as_text) {
            Some(Some(id)) => id.to_owned(),
            Some(None) => {
                return Err(Refusal::new(
                    ResultReason::InvalidField,
                    "krypton-core's registry takes text Unique Identifiers only",
                ));
            }
            None => {
                return Err(Refusal::new(
                    ResultReason::MissingData,
                    "the request names no Unique Identifier",
                ));
            }
        };
        let key = record::record_key(owner, &id);
        Ok(Self { registry, id, key })
    }

    /// The caller's record, or Item Not Found.
    fn read(&self) -> Result<(String, StoredObject), RegistryError> {
        let stored = self
            .registry
            .store
            .get_sealed(self.registry.record_key, Column::Registry, &self.key)?
            .ok_or_else(|| Refusal::not_found(&self.id))?;
        Ok((self.id.clone(), stored))
    }

    /// Reads the record, applies `change`, and writes it back, under the edit lock. A refused
    /// change writes nothing.
    fn update(
        self,
        change: impl FnOnce(&str, &mut StoredObject) -> Result<ResponsePayload, RegistryError>,
    ) -> Result<ResponsePayload, RegistryError> {
        let _order = self.registry.edits.hold();
        let (id, mut stored) = self.read()?;
        let response = change(&id, &mut stored)?;
        let mut batch = self.registry.store.batch(self.registry.record_key);
        batch.put_sealed(Column::Registry, &self.key, &stored)?;
        batch.commit()?;
        Ok(response)
    }
}

fn edit<'a>(
    registry: &Registry<'_>,
    id: &'a str,
    stored: &'a mut StoredObject,
    now: DateTime,
) -> Edit<'a> {
    Edit {
        id,
        metadata: &mut stored.metadata,
        limits: registry.limits.attributes,
        now,
    }
}

fn register(
    registry: &Registry<'_>,
    owner: &Owner,
    request: kmip::RegisterRequest,
    now: DateTime,
) -> Result<RegisterResponse, RegistryError> {
    let (metadata, material) = register::read(request, &registry.limits, now)?;
    let object_type = metadata.object_type;
    let id = new_identifier()?;
    let stored = StoredObject {
        metadata,
        material: Some(material),
    };
    let mut batch = registry.store.batch(registry.record_key);
    batch.put_sealed(Column::Registry, &record::record_key(owner, &id), &stored)?;
    batch.commit()?;
    tracing::info!(tenant = %owner.tenant, identity = %owner.identity, object = %id, ?object_type, "object registered");
    Ok(RegisterResponse {
        unique_identifier: id,
        attributes: Vec::new(),
    })
}

/// A fresh identifier. 122 random bits: a collision with any existing object is not a
/// practical event, so none is looked for.
fn new_identifier() -> Result<String, RegistryError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| {
        Refusal::new(
            ResultReason::GeneralFailure,
            "the system random number generator failed",
        )
    })?;
    Ok(identifier::uuid_v4(bytes))
}

fn get(
    (id, stored): &(String, StoredObject),
    request: &GetRequest,
    now: DateTime,
) -> Result<GetResponse, RegistryError> {
    if request.key_compression_type.is_some() {
        return Err(Refusal::new(
            ResultReason::KeyCompressionTypeNotSupported,
            "objects are returned uncompressed",
        )
        .into());
    }
    // The wrapping keys a client owns are the gateway's: the registry has none to wrap with.
    if request.key_wrapping_specification.is_some() {
        return Err(Refusal::new(
            ResultReason::FeatureNotSupported,
            "objects held in krypton-core's registry are not returned wrapped: only keys the \
             gateway holds are",
        )
        .into());
    }
    lifecycle::check_get(&stored.metadata, now)?;
    let Some(material) = &stored.material else {
        return Err(Refusal::wrong_state("Get", stored.metadata.state).into());
    };
    let format = key_format(material, request.key_format_type)?;
    let object = material
        .to_object(&stored.metadata, format)
        .ok_or_else(|| RegistryError::Corrupt { id: id.clone() })?;
    Ok(GetResponse {
        unique_identifier: id.clone(),
        object,
    })
}

/// The format Get returns the material in: a symmetric key Raw or Transparent Symmetric Key as
/// asked (as registered when not asked), anything else only as registered.
fn key_format(
    material: &Material,
    wanted: Option<KeyFormatType>,
) -> Result<Option<KeyFormatType>, Refusal> {
    match (material, wanted) {
        (_, None) => Ok(None),
        (
            Material::SymmetricKey { .. },
            Some(format @ (KeyFormatType::Raw | KeyFormatType::TransparentSymmetricKey)),
        ) => Ok(Some(format)),
        (Material::SecretData { format, .. }, Some(wanted)) if wanted.to_u32() == *format => {
            Ok(None)
        }
        (_, Some(wanted)) => Err(Refusal::new(
            ResultReason::KeyFormatTypeNotSupported,
            format!("the object cannot be returned as {wanted:?}"),
        )),
    }
}

fn revoke(
    owner: &Owner,
    id: &str,
    stored: &mut StoredObject,
    request: &RevokeRequest,
    now: DateTime,
) -> Result<RevokeResponse, RegistryError> {
    lifecycle::revoke(
        &mut stored.metadata,
        request.revocation_reason.clone(),
        request.compromise_occurrence_date,
        now,
    )?;
    tracing::info!(
        tenant = %owner.tenant,
        identity = %owner.identity,
        object = %id,
        reason = ?request.revocation_reason.code,
        state = ?stored.metadata.state,
        "object revoked"
    );
    Ok(RevokeResponse {
        unique_identifier: id.to_owned(),
    })
}

/// Check: whether the object may be used as asked. The registry keeps no usage limits and
/// grants no leases, so only the state and the usage mask can refuse; a refused check names
/// the mask it failed.
fn check(
    (id, stored): &(String, StoredObject),
    request: &CheckRequest,
    now: DateTime,
) -> Result<CheckResponse, RegistryError> {
    lifecycle::check_get(&stored.metadata, now)?;
    if let Some(wanted) = request.cryptographic_usage_mask {
        let allowed = stored
            .metadata
            .usage_mask
            .unwrap_or(CryptographicUsageMask::from_bits(u32::MAX));
        if !allowed.contains(wanted) {
            return Err(Refusal::new(
                ResultReason::IncompatibleCryptographicUsageMask,
                "the object's Cryptographic Usage Mask does not allow that use",
            )
            .into());
        }
    }
    Ok(CheckResponse {
        unique_identifier: id.clone(),
        usage_limits_count: None,
        cryptographic_usage_mask: None,
        lease_time: None,
    })
}

/// Locate over the caller's objects, in identifier order. At most `max_locate_items` matches
/// are kept and counted; Offset and Maximum Items apply to them.
fn locate(
    registry: &Registry<'_>,
    owner: &Owner,
    request: &LocateRequest,
    now: DateTime,
) -> Result<LocateResponse, RegistryError> {
    if request.object_group_member.is_some() {
        return Err(Refusal::new(
            ResultReason::FeatureNotSupported,
            "krypton-core keeps no object groups' freshness: Locate without Object Group Member",
        )
        .into());
    }
    let offset = count("Offset Items", request.offset_items)?.unwrap_or(0);
    let maximum = count("Maximum Items", request.maximum_items)?;
    let filter = Filter::new(request.attributes.clone(), request.storage_status_mask, now);
    let found = matching(registry, owner, &filter)?;
    let located = i32::try_from(found.len()).unwrap_or(i32::MAX);
    Ok(LocateResponse {
        located_items: Some(located),
        unique_identifiers: found
            .into_iter()
            .skip(offset)
            .take(maximum.unwrap_or(usize::MAX))
            .collect(),
    })
}

/// The identifiers of the caller's objects that `filter` matches, at most `max_locate_items`.
fn matching(
    registry: &Registry<'_>,
    owner: &Owner,
    filter: &Filter,
) -> Result<Vec<String>, RegistryError> {
    let prefix = record::owner_prefix(owner);
    let mut from = prefix.clone();
    let mut found = Vec::new();
    loop {
        let page = registry.store.scan_sealed::<StoredObject>(
            registry.record_key,
            Column::Registry,
            Scan::Within {
                prefix: &prefix,
                from: &from,
            },
            LOCATE_PAGE,
        )?;
        let full = page.len() == LOCATE_PAGE;
        for entry in &page {
            let Some(id) = record::id_of(&prefix, &entry.key) else {
                continue;
            };
            if filter.matches(id, &entry.value.metadata) {
                found.push(id.to_owned());
                if found.len() == registry.limits.max_locate_items {
                    return Ok(found);
                }
            }
        }
        match page.last() {
            Some(last) if full => {
                // The next key after the last one read.
                from = last.key.to_vec();
                from.push(0);
            }
            _ => return Ok(found),
        }
    }
}

/// A count the client gave, which must not be negative.
fn count(field: &'static str, value: Option<i32>) -> Result<Option<usize>, Refusal> {
    value
        .map(|value| {
            usize::try_from(value).map_err(|_| {
                Refusal::new(ResultReason::InvalidField, format!("{field} is negative"))
            })
        })
        .transpose()
}
