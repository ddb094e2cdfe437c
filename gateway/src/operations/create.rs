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
    let key_bytes = template.key_bytes;
    let id = make_key(context, key_bytes, template.into_metadata(context.now)).await?;
    tracing::info!(owner = context.owner(), key = %id, "L4 key created");
    Ok(CreateResponse {
        object_type: ObjectType::SymmetricKey,
        unique_identifier: id,
        attributes: Vec::new(),
    })
}

/// Makes a key of `key_bytes` random bytes, has the core wrap it for the caller, and stores it
/// with `metadata`: its new identifier. Nothing is stored unless the core wrapped the key.
pub(super) async fn make_key<V: Vault>(
    context: &Context<'_, V>,
    key_bytes: usize,
    metadata: Metadata,
) -> Result<String, Refusal> {
    let id = new_identifier()?;
    let key = random_bytes(key_bytes)?;
    let record = wrapped_record(context, id.clone(), &key, metadata).await?;
    drop(key);
    store(context, record).await?;
    Ok(id)
}

/// The record of the new key `key`, named `id`, once the core has wrapped it for the caller:
/// the only form in which a key is ever stored.
pub(super) async fn wrapped_record<V: Vault>(
    context: &Context<'_, V>,
    id: String,
    key: &SecretBytes,
    metadata: Metadata,
) -> Result<Record, Refusal> {
    let wrapped = context
        .core
        .wrap(context.principal.l3, context.owner(), &id, key)
        .await
        .map_err(|error| core_failure("wrap the new key", error))?;
    Ok(Record::new(
        context.owner(),
        id,
        context.principal.l3.clone(),
        wrapped,
        metadata,
    ))
}

/// Stores a new key's `record`.
pub(super) async fn store<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
) -> Result<(), Refusal> {
    context
        .vault
        .create(record)
        .await
        .map_err(|error| vault_failure(&error))
}

/// The attributes a client asks a new key to have, read from one set of a request (Create's,
/// or one of Create Key Pair's three). What the gateway sets itself is refused as read-only by
/// the attribute policy; what it does not interpret is kept as the client's.
#[derive(Debug, Default)]
pub(super) struct Requested {
    pub(super) algorithm: Option<CryptographicAlgorithm>,
    pub(super) length: Option<i32>,
    pub(super) usage_mask: Option<CryptographicUsageMask>,
    pub(super) activation_date: Option<DateTime>,
    pub(super) deactivation_date: Option<DateTime>,
    pub(super) client_attributes: Vec<Attribute>,
}

impl Requested {
    /// Reads `attributes`, in which an Object Type may only repeat `object_type` (and is
    /// refused where no object type is given, as in the attributes common to a key pair).
    pub(super) fn read(
        attributes: &[Attribute],
        object_type: Option<ObjectType>,
    ) -> Result<Self, Refusal> {
        let mut requested = Self::default();
        for attribute in attributes {
            match attribute {
                Attribute::CryptographicAlgorithm(value) => {
                    once(&mut requested.algorithm, *value, attribute)?
                }
                Attribute::CryptographicLength(value) => {
                    once(&mut requested.length, *value, attribute)?
                }
                Attribute::CryptographicUsageMask(value) => {
                    once(&mut requested.usage_mask, *value, attribute)?
                }
                Attribute::ActivationDate(value) => {
                    once(&mut requested.activation_date, *value, attribute)?
                }
                Attribute::DeactivationDate(value) => {
                    once(&mut requested.deactivation_date, *value, attribute)?;
                }
                // Redundant with the request's object type, which the router checked.
                Attribute::ObjectType(given) if Some(*given) == object_type => {}
                Attribute::ObjectType(_) => return Err(read_only(&attribute.reference())),
                _ => requested.client_attributes.push(attribute.clone()),
            }
        }
        Ok(requested)
    }

    /// These attributes over `common`: each single-valued attribute this set names replaces
    /// the common one, and the others (names, groups…) are those of both.
    pub(super) fn over(mut self, common: &Self) -> Self {
        self.algorithm = self.algorithm.or(common.algorithm);
        self.length = self.length.or(common.length);
        self.usage_mask = self.usage_mask.or(common.usage_mask);
        self.activation_date = self.activation_date.or(common.activation_date);
        self.deactivation_date = self.deactivation_date.or(common.deactivation_date);
        let mut client_attributes = common.client_attributes.clone();
        client_attributes.append(&mut self.client_attributes);
        self.client_attributes = client_attributes;
        self
    }

    /// The metadata of a new key of `object_type` with these attributes, as of `now`.
    pub(super) fn into_metadata(self, object_type: ObjectType, now: DateTime) -> Metadata {
        Metadata {
            usage_mask: self.usage_mask,
            activation_date: self.activation_date,
            deactivation_date: self.deactivation_date,
            client_attributes: self.client_attributes,
            ..Metadata::new(object_type, self.algorithm, self.length, now)
        }
    }
}

/// What the client asked the new symmetric key to be: Create's, and Derive Key's.
#[derive(Debug)]
pub(super) struct Template {
    requested: Requested,
    pub(super) key_bytes: usize,
}

impl Template {
    pub(super) fn read(attributes: &[Attribute], limits: KeyLimits) -> Result<Self, Refusal> {
        let requested = Requested::read(attributes, Some(ObjectType::SymmetricKey))?;
        admit(&requested.client_attributes, limits)?;
        let algorithm = requested
            .algorithm
            .ok_or_else(|| missing("Cryptographic Algorithm"))?;
        let length = requested
            .length
            .ok_or_else(|| missing("Cryptographic Length"))?;
        Ok(Self {
            key_bytes: key_bytes(algorithm, length)?,
            requested,
        })
    }

    pub(super) fn into_metadata(self, now: DateTime) -> Metadata {
        self.requested.into_metadata(ObjectType::SymmetricKey, now)
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
        format!("the new key needs a {attribute} attribute"),
    )
}

/// The lengths, in bits, of the keys the gateway makes of one algorithm.
#[derive(Clone, Copy, Debug)]
enum Lengths {
    /// Exactly these.
    Of(&'static [i32]),
    /// From the first to the second, in steps of the third.
    Range(i32, i32, i32),
}

impl Lengths {
    fn allow(self, bits: i32) -> bool {
        match self {
            Self::Of(lengths) => lengths.contains(&bits),
            Self::Range(min, max, step) => (min..=max).contains(&bits) && (bits - min) % step == 0,
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Of([only]) => format!("{only} bits"),
            Self::Of(lengths) => {
                let text: Vec<String> = lengths.iter().map(i32::to_string).collect();
                format!("{} bits", text.join(", "))
            }
            Self::Range(min, max, step) => format!("{min} to {max} bits, in steps of {step}"),
        }
    }
}

/// The symmetric algorithms the gateway makes keys of, at the lengths each one's definition
/// allows — and none shorter than 112 bits, the least NIST SP 800-131A accepts: single DES
/// and Skipjack keys can be searched exhaustively and are not made, nor are short Blowfish,
/// CAST5 or RC keys. HMAC-MD5 is not made either. The gateway makes random bytes of the
/// length; what it can also compute with (Encrypt: AES; MAC: HMAC-SHA-1 to -512) is up to the
/// operation.
fn lengths(algorithm: CryptographicAlgorithm) -> Option<Lengths> {
    use CryptographicAlgorithm as A;
    use Lengths::{Of, Range};
    Some(match algorithm {
        A::Aes | A::Camellia | A::Aria | A::Twofish => Of(&[128, 192, 256]),
        // Two- and three-key, counted with their parity bits as KMIP clients do.
        A::TripleDes => Of(&[128, 192]),
        A::Idea | A::Seed | A::Sm4 => Of(&[128]),
        A::Chacha20 | A::Chacha20Poly1305 | A::Gost28147_89 | A::GostR34_13_2015 => Of(&[256]),
        A::Blowfish => Range(112, 448, 8),
        A::Cast5 => Range(112, 128, 8),
        A::Mars => Range(128, 448, 32),
        A::Rc2 => Range(112, 1024, 8),
        A::Rc4 => Range(112, 2048, 8),
        A::Rc5 => Range(112, 2040, 8),
        A::HmacSha1
        | A::HmacSha224
        | A::HmacSha256
        | A::HmacSha384
        | A::HmacSha512
        | A::HmacSha3_224
        | A::HmacSha3_256
        | A::HmacSha3_384
        | A::HmacSha3_512 => Range(128, 1024, 8),
        _ => return None,
    })
}

/// The key size in bytes for `algorithm` at `length` bits, if the gateway makes such keys.
pub(super) fn key_bytes(algorithm: CryptographicAlgorithm, length: i32) -> Result<usize, Refusal> {
    let Some(lengths) = lengths(algorithm) else {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            format!(
                "the gateway does not make {algorithm:?} keys: it makes symmetric keys (AES, \
                 3DES, Camellia, ARIA, ChaCha20, HMAC and the other block and stream ciphers \
                 KMIP names) of 112 bits or more"
            ),
        ));
    };
    match usize::try_from(length / 8) {
        Ok(bytes) if lengths.allow(length) => Ok(bytes),
        _ => Err(Refusal::new(
            ResultReason::InvalidField,
            format!(
                "cannot make a {length}-bit {algorithm:?} key: {algorithm:?} keys are {}",
                lengths.describe()
            ),
        )),
    }
}

/// A fresh identifier: a random (version 4) UUID.
pub(super) fn new_identifier() -> Result<String, Refusal> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| random_failure())?;
    Ok(kmip::objects::identifier::uuid_v4(bytes))
}

/// `len` bytes from the operating system's CSPRNG, through aws-lc-rs.
pub(super) fn random_bytes(len: usize) -> Result<SecretBytes, Refusal> {
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
        assert_eq!(template.requested.client_attributes.len(), 2);
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
    fn makes_every_symmetric_algorithm_at_its_lengths_and_no_short_key() {
        use CryptographicAlgorithm as A;
        for (algorithm, length, bytes) in [
            (A::Aes, 192, 24),
            (A::TripleDes, 192, 24),
            (A::Camellia, 256, 32),
            (A::Blowfish, 448, 56),
            (A::Cast5, 128, 16),
            (A::Idea, 128, 16),
            (A::Mars, 160, 20),
            (A::Rc4, 2048, 256),
            (A::Twofish, 128, 16),
            (A::Aria, 128, 16),
            (A::Sm4, 128, 16),
            (A::HmacSha3_256, 256, 32),
        ] {
            assert_eq!(
                key_bytes(algorithm, length).unwrap(),
                bytes,
                "{algorithm:?}"
            );
        }
        for (algorithm, length) in [
            (A::Des, 64),
            (A::Skipjack, 80),
            (A::TripleDes, 64),
            (A::Blowfish, 104),
            (A::Blowfish, 452),
            (A::Mars, 136),
            (A::HmacMd5, 128),
            (A::Poly1305, 256),
            (A::Aes, -128),
        ] {
            let refusal = key_bytes(algorithm, length).unwrap_err();
            assert_eq!(refusal.reason, ResultReason::InvalidField, "{algorithm:?}");
        }
    }

    #[test]
    fn identifiers_are_uuid_v4_and_keys_random() {
        let id = new_identifier().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_identifier().unwrap());
        let (a, b) = (random_bytes(32).unwrap(), random_bytes(32).unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(&a[..], &b[..]);
    }
}
