//! Create: a new L4 key, generated here, wrapped by the core, stored only wrapped.
//!
//! The key's identifier is drawn first, because the core binds it, with the owner, into the
//! wrapped blob. The
//! plaintext key exists only between the random generator and the wrap request, in memory
//! wiped on drop. Nothing is stored unless the core wrapped the key, so a Create that fails
//! leaves nothing behind. The key starts Pre-Active (or Active, once an Activation Date the
//! client gave has come).

use kmip::{
    Attribute, CreateRequest, CreateResponse, CryptographicAlgorithm, CryptographicUsageMask,
    DateTime, ObjectType, ResultReason, SecretBytes,
};
use zeroize::Zeroizing;

use crate::attribute_policy::{admit, describe, read_only};
use crate::config::KeyLimits;
use crate::metadata::Metadata;
use crate::operations::{Context, core_failure, vault_failure};
use crate::refusal::Refusal;
use crate::vault::{Record, Vault};

pub(super) async fn create<V: Vault>(
    context: &Context<'_, V>,
    request: CreateRequest,
) -> Result<CreateResponse, Refusal> {
    if request.object_type != ObjectType::SymmetricKey {
        return Err(Refusal::new(
            ResultReason::InvalidObjectType,
            "the gateway creates symmetric keys only",
        ));
    }
    let template = Template::read(&request.attributes, context.keys)?;
    let id = new_identifier()?;
    let key = random_key(template.key_bytes)?;
    let wrapped = context
        .core
        .wrap(context.principal.l3, context.owner(), &id, &key)
        .await
        .map_err(|error| core_failure("wrap the new key", error))?;
    drop(key);
    let record = Record::new(
        context.owner(),
        id.clone(),
        context.principal.l3.clone(),
        wrapped,
        template.into_metadata(context.now),
    );
    context
        .vault
        .create(record)
        .await
        .map_err(|error| vault_failure(&error))?;
    tracing::info!(owner = context.owner(), key = %id, "L4 key created");
    Ok(CreateResponse {
        object_type: ObjectType::SymmetricKey,
        unique_identifier: id,
        attributes: Vec::new(),
    })
}

/// What the client asked the new key to be.
#[derive(Debug)]
struct Template {
    algorithm: CryptographicAlgorithm,
    length: i32,
    key_bytes: usize,
    usage_mask: Option<CryptographicUsageMask>,
    activation_date: Option<DateTime>,
    deactivation_date: Option<DateTime>,
    client_attributes: Vec<Attribute>,
}

impl Template {
    fn read(attributes: &[Attribute], limits: KeyLimits) -> Result<Self, Refusal> {
        let mut algorithm = None;
        let mut length = None;
        let mut usage_mask = None;
        let mut activation_date = None;
        let mut deactivation_date = None;
        let mut client_attributes = Vec::new();
        for attribute in attributes {
            match attribute {
                Attribute::CryptographicAlgorithm(value) => {
                    once(&mut algorithm, *value, attribute)?
                }
                Attribute::CryptographicLength(value) => once(&mut length, *value, attribute)?,
                Attribute::CryptographicUsageMask(value) => {
                    once(&mut usage_mask, *value, attribute)?
                }
                Attribute::ActivationDate(value) => once(&mut activation_date, *value, attribute)?,
                Attribute::DeactivationDate(value) => {
                    once(&mut deactivation_date, *value, attribute)?;
                }
                // Redundant with the request's Object Type, which the router checked.
                Attribute::ObjectType(ObjectType::SymmetricKey) => {}
                Attribute::ObjectType(_) => return Err(read_only(&attribute.reference())),
                _ => client_attributes.push(attribute.clone()),
            }
        }
        admit(&client_attributes, limits)?;
        let algorithm = algorithm.ok_or_else(|| missing("Cryptographic Algorithm"))?;
        let length = length.ok_or_else(|| missing("Cryptographic Length"))?;
        Ok(Self {
            algorithm,
            length,
            key_bytes: key_bytes(algorithm, length)?,
            usage_mask,
            activation_date,
            deactivation_date,
            client_attributes,
        })
    }

    fn into_metadata(self, now: DateTime) -> Metadata {
        Metadata {
            usage_mask: self.usage_mask,
            activation_date: self.activation_date,
            deactivation_date: self.deactivation_date,
            client_attributes: self.client_attributes,
            ..Metadata::new(
                ObjectType::SymmetricKey,
                Some(self.algorithm),
                Some(self.length),
                now,
            )
        }
    }
}

/// Sets `slot` to `value`, refusing a second value of the same attribute.
fn once<T>(slot: &mut Option<T>, value: T, attribute: &Attribute) -> Result<(), Refusal> {
    if slot.replace(value).is_some() {
        return Err(Refusal::new(
            ResultReason::AttributeSingleValued,
            format!("{} is given twice", describe(&attribute.reference())),
        ));
    }
    Ok(())
}

fn missing(attribute: &'static str) -> Refusal {
    Refusal::new(
        ResultReason::InvalidField,
        format!("Create needs a {attribute} attribute"),
    )
}

/// The key size in bytes for `algorithm` at `length` bits, if the gateway makes such keys.
fn key_bytes(algorithm: CryptographicAlgorithm, length: i32) -> Result<usize, Refusal> {
    use CryptographicAlgorithm as A;
    let supported = match algorithm {
        A::Aes => matches!(length, 128 | 192 | 256),
        A::Chacha20 => length == 256,
        A::HmacSha1 | A::HmacSha224 | A::HmacSha256 | A::HmacSha384 | A::HmacSha512 => {
            (128..=1024).contains(&length) && length % 8 == 0
        }
        _ => false,
    };
    match usize::try_from(length / 8) {
        Ok(bytes) if supported => Ok(bytes),
        _ => Err(Refusal::new(
            ResultReason::InvalidField,
            format!(
                "cannot create a {length}-bit {algorithm:?} key: the gateway creates AES keys of \
                 128, 192 or 256 bits, ChaCha20 keys of 256 bits and HMAC keys of 128 to 1024 bits"
            ),
        )),
    }
}

/// A fresh identifier: a random (version 4) UUID.
fn new_identifier() -> Result<String, Refusal> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| random_failure())?;
    Ok(kmip::objects::identifier::uuid_v4(bytes))
}

/// `len` bytes from the operating system's CSPRNG, through aws-lc-rs.
fn random_key(len: usize) -> Result<SecretBytes, Refusal> {
    let mut key = Zeroizing::new(vec![0u8; len]);
    aws_lc_rs::rand::fill(&mut key).map_err(|_| random_failure())?;
    Ok(SecretBytes::new(std::mem::take(&mut *key)))
}

fn random_failure() -> Refusal {
    tracing::error!("the random number generator failed");
    Refusal::new(
        ResultReason::GeneralFailure,
        "the gateway's random number generator failed",
    )
}

#[cfg(test)]
mod tests {
    use kmip::{Name, State};

    use super::*;

    fn aes(length: i32) -> Vec<Attribute> {
        vec![
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Aes),
            Attribute::CryptographicLength(length),
        ]
    }

    #[test]
    fn reads_what_clients_send() {
        let mut attributes = aes(256);
        attributes.extend([
            Attribute::CryptographicUsageMask(CryptographicUsageMask::ENCRYPT),
            Attribute::Name(Name::text("k")),
            Attribute::OperationPolicyName("default".into()),
            Attribute::ObjectType(ObjectType::SymmetricKey),
        ]);
        let template = Template::read(&attributes, KeyLimits::default()).unwrap();
        assert_eq!(template.key_bytes, 32);
        assert_eq!(template.client_attributes.len(), 2);
        let metadata = template.into_metadata(DateTime(7));
        assert_eq!(metadata.state, State::PreActive);
        assert_eq!(metadata.initial_date, DateTime(7));
    }

    #[test]
    fn refuses_what_it_cannot_make_or_must_not_take() {
        let limits = KeyLimits::default();
        let reason =
            |attributes: &[Attribute]| Template::read(attributes, limits).unwrap_err().reason;
        assert_eq!(reason(&aes(100)), ResultReason::InvalidField);
        assert_eq!(reason(&aes(256)[..1]), ResultReason::InvalidField);
        let mut with_state = aes(128);
        with_state.push(Attribute::State(State::Active));
        assert_eq!(reason(&with_state), ResultReason::ReadOnlyAttribute);
        let mut twice = aes(128);
        twice.push(Attribute::CryptographicLength(256));
        assert_eq!(reason(&twice), ResultReason::AttributeSingleValued);
        let rsa = [
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::Rsa),
            Attribute::CryptographicLength(2048),
        ];
        assert_eq!(reason(&rsa), ResultReason::InvalidField);
    }

    #[test]
    fn identifiers_are_uuid_v4_and_keys_random() {
        let id = new_identifier().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_identifier().unwrap());
        let (a, b) = (random_key(32).unwrap(), random_key(32).unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(&a[..], &b[..]);
    }
}
