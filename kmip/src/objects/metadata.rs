//! What a server keeps about a managed object besides its key material, and how that shows as
//! KMIP attributes.
//!
//! A server interprets only what it acts on: object type, algorithm and length, the usage mask,
//! the lifecycle state and its dates, and the revocation reason. Everything else a client sets —
//! names, object groups, descriptions, custom attributes, 1.x attributes such as Operation
//! Policy Name — is kept as given and shown back as given.
//!
//! In storage, enumerations are their KMIP values and client attributes their TTLV encoding
//! (KMIP 2.1 form, or 1.4 form for attributes 2.x withdrew), so a record does not depend on
//! this crate's Rust types. Records written before the object type was kept are Symmetric Keys.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::attribute_values::RevocationReason;
use crate::attributes::Attribute;
use crate::datetime::DateTime;
use crate::decode::{Limits, decode};
use crate::encode::encode;
use crate::enums::{
    CryptographicAlgorithm, CryptographicUsageMask, KmipEnum, ObjectType, RevocationReasonCode,
    State,
};
use crate::error::Error;
use crate::objects::bytes::Bytes;
use crate::ttlv::Item;
use crate::version::ProtocolVersion;

/// The metadata of one managed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub object_type: ObjectType,
    /// `None` for objects that have none, such as Secret Data.
    pub algorithm: Option<CryptographicAlgorithm>,
    /// In bits; `None` with the algorithm.
    pub length: Option<i32>,
    pub usage_mask: Option<CryptographicUsageMask>,
    /// The state as last written; [`Metadata::state_at`] applies the dates that have come since.
    pub state: State,
    pub initial_date: DateTime,
    pub activation_date: Option<DateTime>,
    pub deactivation_date: Option<DateTime>,
    pub destroy_date: Option<DateTime>,
    pub compromise_date: Option<DateTime>,
    pub compromise_occurrence_date: Option<DateTime>,
    pub revocation_reason: Option<RevocationReason>,
    pub last_change_date: DateTime,
    /// The attributes the client set that the gateway keeps without interpreting.
    pub client_attributes: Vec<Attribute>,
    /// Attributes the server derived from the object itself when it was registered (a
    /// certificate's type, length and digest): shown like the others, never edited. Apart from
    /// `client_attributes` because the attribute policy refuses them there.
    pub server_attributes: Vec<Attribute>,
}

impl Metadata {
    /// The metadata of an object that comes into being at `now`: Pre-Active, with no usage
    /// mask, no date but its Initial and Last Change Dates, and no client attributes.
    #[must_use]
    pub fn new(
        object_type: ObjectType,
        algorithm: Option<CryptographicAlgorithm>,
        length: Option<i32>,
        now: DateTime,
    ) -> Self {
        Self {
            object_type,
            algorithm,
            length,
            usage_mask: None,
            state: State::PreActive,
            initial_date: now,
            activation_date: None,
            deactivation_date: None,
            destroy_date: None,
            compromise_date: None,
            compromise_occurrence_date: None,
            revocation_reason: None,
            last_change_date: now,
            client_attributes: Vec::new(),
            server_attributes: Vec::new(),
        }
    }

    /// The state at `now`. A Pre-Active key whose Activation Date has come is Active, and an
    /// Active key whose Deactivation Date has come is Deactivated (KMIP 1.4 §3.22, transitions
    /// 4 and 6): the dates act without anyone writing the record.
    #[must_use]
    pub fn state_at(&self, now: DateTime) -> State {
        let reached = |date: Option<DateTime>| date.is_some_and(|date| date <= now);
        match self.state {
            State::PreActive if reached(self.activation_date) => {
                if reached(self.deactivation_date) {
                    State::Deactivated
                } else {
                    State::Active
                }
            }
            State::Active if reached(self.deactivation_date) => State::Deactivated,
            state => state,
        }
    }

    /// Every attribute of object `id` as KMIP shows it, with the state at `now`.
    #[must_use]
    pub fn attributes(&self, id: &str, now: DateTime) -> Vec<Attribute> {
        let mut attributes = vec![
            Attribute::UniqueIdentifier(id.to_owned()),
            Attribute::ObjectType(self.object_type),
        ];
        attributes.extend(self.algorithm.map(Attribute::CryptographicAlgorithm));
        attributes.extend(self.length.map(Attribute::CryptographicLength));
        attributes.extend(self.usage_mask.map(Attribute::CryptographicUsageMask));
        attributes.push(Attribute::State(self.state_at(now)));
        attributes.push(Attribute::InitialDate(self.initial_date));
        let dates = [
            (
                self.activation_date,
                Attribute::ActivationDate as fn(_) -> _,
            ),
            (self.deactivation_date, Attribute::DeactivationDate),
            (self.destroy_date, Attribute::DestroyDate),
            (self.compromise_date, Attribute::CompromiseDate),
            (
                self.compromise_occurrence_date,
                Attribute::CompromiseOccurrenceDate,
            ),
        ];
        attributes.extend(dates.into_iter().filter_map(|(date, wrap)| date.map(wrap)));
        attributes.extend(
            self.revocation_reason
                .clone()
                .map(Attribute::RevocationReason),
        );
        attributes.push(Attribute::LastChangeDate(self.last_change_date));
        attributes.extend(self.server_attributes.iter().cloned());
        attributes.extend(self.client_attributes.iter().cloned());
        attributes
    }
}

/// Why stored metadata could not be read back or written.
#[derive(Debug)]
enum StoredError {
    Enumeration { what: &'static str, value: u32 },
    Attribute(Error),
    Unstorable,
}

impl fmt::Display for StoredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Enumeration { what, value } => {
                write!(f, "unknown {what} value 0x{value:08x}")
            }
            Self::Attribute(error) => write!(f, "stored attribute does not decode: {error}"),
            Self::Unstorable => f.write_str("attribute has no KMIP 2.1 or 1.4 form"),
        }
    }
}

/// The storage form of [`Metadata`].
#[derive(Serialize, Deserialize)]
struct StoredMetadata {
    #[serde(default = "symmetric_key")]
    object_type: u32,
    algorithm: Option<u32>,
    length: Option<i32>,
    usage_mask: Option<u32>,
    state: u32,
    initial_date: i64,
    activation_date: Option<i64>,
    deactivation_date: Option<i64>,
    destroy_date: Option<i64>,
    compromise_date: Option<i64>,
    compromise_occurrence_date: Option<i64>,
    revocation_reason: Option<(u32, Option<String>)>,
    last_change_date: i64,
    client_attributes: Vec<StoredAttribute>,
    /// Absent from records that have none (every record written before it was kept), so
    /// their stored form is unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    server_attributes: Vec<StoredAttribute>,
}

/// One client attribute: its TTLV encoding in the form of `version`.
#[derive(Serialize, Deserialize)]
struct StoredAttribute {
    version: (i32, i32),
    ttlv: Bytes,
}

/// The forms tried for a stored attribute: KMIP 2.1, then 1.4 for attributes 2.x withdrew.
const STORAGE_VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V2_1, ProtocolVersion::V1_4];

impl StoredAttribute {
    fn from_attribute(attribute: &Attribute) -> Result<Self, StoredError> {
        let (version, item) = STORAGE_VERSIONS
            .iter()
            .find_map(|&version| attribute.to_item(version).map(|item| (version, item)))
            .ok_or(StoredError::Unstorable)?;
        let mut ttlv = Vec::new();
        encode(&item, &mut ttlv).map_err(StoredError::Attribute)?;
        Ok(Self {
            version: (version.major, version.minor),
            ttlv: Bytes(ttlv),
        })
    }

    fn to_attribute(&self) -> Result<Attribute, StoredError> {
        let version = ProtocolVersion::new(self.version.0, self.version.1)
            .supported()
            .map_err(StoredError::Attribute)?;
        let item: Item =
            decode(&self.ttlv.0, &Limits::default()).map_err(StoredError::Attribute)?;
        Attribute::from_item(&item, version).map_err(StoredError::Attribute)
    }
}

/// How many bytes `attribute` takes in a record, or `None` if it cannot be kept in one. Every
/// attribute the KMIP model holds can; the check keeps that promise explicit where client
/// attributes come in.
#[must_use]
pub fn stored_len(attribute: &Attribute) -> Option<usize> {
    StoredAttribute::from_attribute(attribute)
        .ok()
        .map(|stored| stored.ttlv.0.len())
}

/// The object type of records written before it was kept: the gateway's keys.
fn symmetric_key() -> u32 {
    ObjectType::SymmetricKey.to_u32()
}

fn enumeration<E: KmipEnum>(what: &'static str, value: u32) -> Result<E, StoredError> {
    E::from_u32(value).ok_or(StoredError::Enumeration { what, value })
}

fn stored_attributes(attributes: &[Attribute]) -> Result<Vec<StoredAttribute>, StoredError> {
    attributes
        .iter()
        .map(StoredAttribute::from_attribute)
        .collect()
}

fn attributes(stored: &[StoredAttribute]) -> Result<Vec<Attribute>, StoredError> {
    stored.iter().map(StoredAttribute::to_attribute).collect()
}

impl TryFrom<&Metadata> for StoredMetadata {
    type Error = StoredError;

    fn try_from(metadata: &Metadata) -> Result<Self, StoredError> {
        let seconds = |date: Option<DateTime>| date.map(DateTime::unix_seconds);
        Ok(Self {
            object_type: metadata.object_type.to_u32(),
            algorithm: metadata.algorithm.map(KmipEnum::to_u32),
            length: metadata.length,
            usage_mask: metadata.usage_mask.map(CryptographicUsageMask::bits),
            state: metadata.state.to_u32(),
            initial_date: metadata.initial_date.unix_seconds(),
            activation_date: seconds(metadata.activation_date),
            deactivation_date: seconds(metadata.deactivation_date),
            destroy_date: seconds(metadata.destroy_date),
            compromise_date: seconds(metadata.compromise_date),
            compromise_occurrence_date: seconds(metadata.compromise_occurrence_date),
            revocation_reason: metadata
                .revocation_reason
                .as_ref()
                .map(|reason| (reason.code.to_u32(), reason.message.clone())),
            last_change_date: metadata.last_change_date.unix_seconds(),
            client_attributes: stored_attributes(&metadata.client_attributes)?,
            server_attributes: stored_attributes(&metadata.server_attributes)?,
        })
    }
}

impl TryFrom<StoredMetadata> for Metadata {
    type Error = StoredError;

    fn try_from(stored: StoredMetadata) -> Result<Self, StoredError> {
        Ok(Self {
            object_type: enumeration("Object Type", stored.object_type)?,
            algorithm: stored
                .algorithm
                .map(|value| enumeration("Cryptographic Algorithm", value))
                .transpose()?,
            length: stored.length,
            usage_mask: stored.usage_mask.map(CryptographicUsageMask::from_bits),
            state: enumeration("State", stored.state)?,
            initial_date: DateTime(stored.initial_date),
            activation_date: stored.activation_date.map(DateTime),
            deactivation_date: stored.deactivation_date.map(DateTime),
            destroy_date: stored.destroy_date.map(DateTime),
            compromise_date: stored.compromise_date.map(DateTime),
            compromise_occurrence_date: stored.compromise_occurrence_date.map(DateTime),
            revocation_reason: stored
                .revocation_reason
                .map(|(code, message)| {
                    Ok::<_, StoredError>(RevocationReason {
                        code: enumeration::<RevocationReasonCode>("Revocation Reason", code)?,
                        message,
                    })
                })
                .transpose()?,
            last_change_date: DateTime(stored.last_change_date),
            client_attributes: attributes(&stored.client_attributes)?,
            server_attributes: attributes(&stored.server_attributes)?,
        })
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredMetadata::try_from(self)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::try_from(StoredMetadata::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use ciborium::cbor;

    use crate::attribute_values::Name;
    use crate::attributes::VendorAttribute;
    use crate::ttlv::Value;

    use super::*;

    fn to_cbor<T: Serialize>(value: &T) -> Vec<u8> {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).unwrap();
        bytes
    }

    fn from_cbor(bytes: &[u8]) -> Result<Metadata, ciborium::de::Error<std::io::Error>> {
        ciborium::from_reader(bytes)
    }

    fn sample() -> Metadata {
        Metadata {
            usage_mask: Some(CryptographicUsageMask::ENCRYPT | CryptographicUsageMask::DECRYPT),
            client_attributes: vec![
                Attribute::Name(Name::text("disk-key")),
                Attribute::OperationPolicyName("default".into()),
                Attribute::Vendor(VendorAttribute {
                    vendor_identification: "x".into(),
                    attribute_name: "owner-team".into(),
                    value: Value::TextString("storage".into()),
                }),
            ],
            ..Metadata::new(
                ObjectType::SymmetricKey,
                Some(CryptographicAlgorithm::Aes),
                Some(256),
                DateTime(1_000),
            )
        }
    }

    #[test]
    fn server_attributes_are_kept_and_absent_from_records_without_them() {
        use crate::enums::CertificateType;
        let plain = sample();
        let without = to_cbor(&plain);
        let mut certificate = Metadata::new(ObjectType::Certificate, None, None, DateTime(1_000));
        certificate.server_attributes = vec![
            Attribute::CertificateType(CertificateType::X509),
            Attribute::CertificateLength(564),
        ];
        let with = to_cbor(&certificate);
        assert_eq!(from_cbor(&with).unwrap(), certificate);
        assert!(
            certificate
                .attributes("c1", DateTime(1_000))
                .contains(&Attribute::CertificateLength(564))
        );
        let field = b"server_attributes";
        assert!(with.windows(field.len()).any(|w| w == field));
        assert!(
            !without.windows(field.len()).any(|w| w == field),
            "the stored form of records without them is unchanged"
        );
    }

    #[test]
    fn round_trips_through_cbor() {
        let mut metadata = sample();
        metadata.state = State::Compromised;
        metadata.compromise_date = Some(DateTime(2_000));
        metadata.revocation_reason = Some(RevocationReason {
            code: RevocationReasonCode::KeyCompromise,
            message: Some("laptop stolen".into()),
        });
        assert_eq!(from_cbor(&to_cbor(&metadata)).unwrap(), metadata);
    }

    #[test]
    fn attributes_other_versions_withdrew_survive_storage() {
        // Operation Policy Name does not exist in KMIP 2.x: it is kept in its 1.4 form.
        let metadata = sample();
        let decoded = from_cbor(&to_cbor(&metadata)).unwrap();
        assert!(
            decoded
                .client_attributes
                .contains(&Attribute::OperationPolicyName("default".into()))
        );
        assert!(
            metadata
                .client_attributes
                .iter()
                .all(|attribute| stored_len(attribute).is_some_and(|len| len > 0))
        );
    }

    #[test]
    fn dates_move_the_state_without_a_write() {
        let mut metadata = sample();
        assert_eq!(metadata.state_at(DateTime(5_000)), State::PreActive);
        metadata.activation_date = Some(DateTime(2_000));
        assert_eq!(metadata.state_at(DateTime(1_999)), State::PreActive);
        assert_eq!(metadata.state_at(DateTime(2_000)), State::Active);
        metadata.deactivation_date = Some(DateTime(3_000));
        assert_eq!(metadata.state_at(DateTime(3_000)), State::Deactivated);
        metadata.state = State::Compromised;
        assert_eq!(metadata.state_at(DateTime(3_000)), State::Compromised);
    }

    #[test]
    fn attributes_show_the_current_state_and_every_date_set() {
        let mut metadata = sample();
        metadata.activation_date = Some(DateTime(2_000));
        let attributes = metadata.attributes("k1", DateTime(2_500));
        assert!(attributes.contains(&Attribute::UniqueIdentifier("k1".into())));
        assert!(attributes.contains(&Attribute::State(State::Active)));
        assert!(attributes.contains(&Attribute::ActivationDate(DateTime(2_000))));
        assert!(
            !attributes
                .iter()
                .any(|a| matches!(a, Attribute::DestroyDate(_)))
        );
        assert!(attributes.contains(&Attribute::Name(Name::text("disk-key"))));
    }

    #[test]
    fn a_corrupt_enumeration_is_an_error_not_a_guess() {
        let mut stored = StoredMetadata::try_from(&sample()).unwrap();
        stored.state = 0x77;
        let error = from_cbor(&to_cbor(&stored)).unwrap_err();
        assert!(error.to_string().contains("State"), "{error}");
    }

    #[test]
    fn secret_data_has_no_algorithm_and_round_trips() {
        let mut metadata = sample();
        metadata.object_type = ObjectType::SecretData;
        metadata.algorithm = None;
        metadata.length = None;
        let attributes = metadata.attributes("s1", DateTime(1_000));
        assert!(attributes.contains(&Attribute::ObjectType(ObjectType::SecretData)));
        assert!(!attributes.iter().any(|a| matches!(
            a,
            Attribute::CryptographicAlgorithm(_) | Attribute::CryptographicLength(_)
        )));
        assert_eq!(from_cbor(&to_cbor(&metadata)).unwrap(), metadata);
    }

    #[test]
    fn records_without_an_object_type_are_symmetric_keys() {
        // A record as the gateway wrote it before the object type was kept: written out field
        // by field rather than derived from `StoredMetadata`, so it stays the old layout.
        let before = cbor!({
            "algorithm" => CryptographicAlgorithm::Aes.to_u32(),
            "length" => 128,
            "usage_mask" => null,
            "state" => State::Active.to_u32(),
            "initial_date" => 5,
            "activation_date" => 6,
            "deactivation_date" => null,
            "destroy_date" => null,
            "compromise_date" => null,
            "compromise_occurrence_date" => null,
            "revocation_reason" => null,
            "last_change_date" => 6,
            "client_attributes" => [],
        })
        .unwrap();
        let metadata = from_cbor(&to_cbor(&before)).unwrap();
        assert_eq!(metadata.object_type, ObjectType::SymmetricKey);
        assert_eq!(metadata.algorithm, Some(CryptographicAlgorithm::Aes));
        assert_eq!(metadata.length, Some(128));
    }
}
