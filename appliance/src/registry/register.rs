//! Register: what a client-supplied object and its attributes become in the registry.
//!
//! Symmetric Keys (Raw or Transparent Symmetric Key), Secret Data of any length up to the
//! object limit (libmongocrypt registers 96 bytes), and Opaque Objects are kept. The attributes
//! the server manages are taken from the object itself; a client may restate Object Type,
//! Cryptographic Algorithm and Length (PyKMIP does), which must then agree with the object, and
//! may set the Usage Mask and the Activation and Deactivation Dates. Every other attribute is
//! the client's, checked by the shared attribute policy. The object starts Pre-Active (Active
//! once an Activation Date it was given has come).

use kmip::objects::Metadata;
use kmip::objects::attribute_policy::{admit, describe};
use kmip::{
    Attribute, CryptographicAlgorithm, DateTime, KeyBlock, KeyFormatType, ManagedObject,
    RegisterRequest, ResultReason,
};

use kmip::objects::Refusal;

use crate::registry::RegistryLimits;
use crate::registry::record::Material;

/// A Register request, checked: the new object's metadata and material.
pub(super) fn read(
    request: RegisterRequest,
    limits: &RegistryLimits,
    now: DateTime,
) -> Result<(Metadata, Material), Refusal> {
    let object_type = request.object_type();
    let (algorithm, length) = check_object(&request.object, limits)?;
    let mut metadata = Metadata::new(object_type, algorithm, length, now);
    for attribute in request.attributes {
        match attribute {
            Attribute::ObjectType(given) if given == object_type => {}
            Attribute::CryptographicAlgorithm(given) if Some(given) == algorithm => {}
            Attribute::CryptographicLength(given) if Some(given) == length => {}
            Attribute::CryptographicUsageMask(mask) => {
                once(&mut metadata.usage_mask, mask, "Cryptographic Usage Mask")?;
            }
            Attribute::ActivationDate(date) => {
                once(&mut metadata.activation_date, date, "Activation Date")?;
            }
            Attribute::DeactivationDate(date) => {
                once(&mut metadata.deactivation_date, date, "Deactivation Date")?;
            }
            Attribute::ObjectType(_)
            | Attribute::CryptographicAlgorithm(_)
            | Attribute::CryptographicLength(_) => {
                return Err(Refusal::new(
                    ResultReason::InvalidField,
                    format!(
                        "{} does not match the object being registered",
                        describe(&attribute.reference())
                    ),
                ));
            }
            other => metadata.client_attributes.push(other),
        }
    }
    // The policy refuses, as read-only, any other attribute the server manages.
    admit(&metadata.client_attributes, limits.attributes)?;
    let material = Material::from_object(request.object).ok_or_else(unsupported_type)?;
    Ok((metadata, material))
}

/// Checks the object itself; returns the algorithm and length (in bits) it states.
fn check_object(
    object: &ManagedObject,
    limits: &RegistryLimits,
) -> Result<(Option<CryptographicAlgorithm>, Option<i32>), Refusal> {
    let (block, len) = match object {
        ManagedObject::SymmetricKey(key) => (Some(&key.key_block), material_len(&key.key_block)?),
        ManagedObject::SecretData(secret) => {
            (Some(&secret.key_block), material_len(&secret.key_block)?)
        }
        ManagedObject::OpaqueObject(opaque) => (None, opaque.opaque_data_value.len()),
        _ => return Err(unsupported_type()),
    };
    if len == 0 || len > limits.max_object_bytes {
        return Err(Refusal::new(
            ResultReason::ServerLimitExceeded,
            format!(
                "an object holds 1 to {} bytes; this one has {len}",
                limits.max_object_bytes
            ),
        ));
    }
    let Some(block) = block else {
        return Ok((None, None));
    };
    check_block(block, matches!(object, ManagedObject::SymmetricKey(_)), len)
}

/// Checks a key block: uncompressed, a format the registry returns, and a stated length that
/// is the material's.
fn check_block(
    block: &KeyBlock,
    symmetric: bool,
    len: usize,
) -> Result<(Option<CryptographicAlgorithm>, Option<i32>), Refusal> {
    if block.key_compression_type.is_some() {
        return Err(Refusal::new(
            ResultReason::KeyCompressionTypeNotSupported,
            "key material is registered uncompressed",
        ));
    }
    // Wrapped key material is unwrapped by the gateway, which holds the wrapping keys; what
    // reaches the registry wrapped is not its to store as a key.
    if block.key_wrapping_data.is_some() {
        return Err(Refusal::new(
            ResultReason::FeatureNotSupported,
            "krypton-core's registry takes key material unwrapped: wrapped symmetric and \
             private keys are registered with the gateway, under a wrapping key held there",
        ));
    }
    let bits = i32::try_from(len.saturating_mul(8)).unwrap_or(i32::MAX);
    if symmetric {
        if !matches!(
            block.key_format_type,
            KeyFormatType::Raw | KeyFormatType::TransparentSymmetricKey
        ) {
            return Err(Refusal::new(
                ResultReason::KeyFormatTypeNotSupported,
                format!(
                    "symmetric keys are registered Raw or Transparent Symmetric Key, not {:?}",
                    block.key_format_type
                ),
            ));
        }
        let algorithm = block.cryptographic_algorithm.ok_or_else(|| {
            Refusal::new(
                ResultReason::MissingData,
                "a symmetric key's key block names its Cryptographic Algorithm",
            )
        })?;
        if block
            .cryptographic_length
            .is_some_and(|given| given != bits)
        {
            return Err(Refusal::new(
                ResultReason::InvalidField,
                format!("the Cryptographic Length does not match the {len}-byte key"),
            ));
        }
        return Ok((Some(algorithm), Some(bits)));
    }
    if block.key_format_type == KeyFormatType::TransparentSymmetricKey {
        return Err(Refusal::new(
            ResultReason::KeyFormatTypeNotSupported,
            "Secret Data is not a Transparent Symmetric Key",
        ));
    }
    Ok((block.cryptographic_algorithm, block.cryptographic_length))
}

/// Sets a field the request may give once.
fn once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), Refusal> {
    if slot.replace(value).is_some() {
        return Err(Refusal::new(
            ResultReason::AttributeSingleValued,
            format!("{name} takes a single value"),
        ));
    }
    Ok(())
}

/// The length of a key block's material, in one of the forms the registry keeps: a byte string
/// or a Transparent Symmetric Key.
fn material_len(block: &KeyBlock) -> Result<usize, Refusal> {
    block
        .key_material
        .key()
        .map(|key| key.len())
        .ok_or_else(|| {
            Refusal::new(
                ResultReason::KeyFormatTypeNotSupported,
                format!(
                    "krypton-core's registry keeps key material as bytes or a Transparent \
                     Symmetric Key, not {:?}",
                    block.key_format_type
                ),
            )
        })
}

fn unsupported_type() -> Refusal {
    Refusal::new(
        ResultReason::InvalidObjectType,
        "krypton-core registers Symmetric Keys, Secret Data and Opaque Objects",
    )
}
