//! Which attributes a client may set on an object, and which may hold several values.
//!
//! The server owns the attributes it acts on or that record what happened to an object: identity,
//! type, algorithm and length, usage mask, state, the lifecycle dates and the revocation reason,
//! and attributes that only a server can know (digest, a certificate's type, length, subject and
//! issuer, freshness, key value presence…). Those
//! change only through Create and the lifecycle operations. Every other attribute — names, object
//! groups, descriptions, contact information, custom `x-` attributes, and 1.x attributes such as
//! Operation Policy Name — is the client's: kept, shown back, editable, never interpreted.

use crate::attribute_type::{AttributeReference, AttributeType};
use crate::attributes::Attribute;
use crate::enums::ResultReason;
use crate::objects::metadata::stored_len;
use crate::objects::refusal::Refusal;

/// How many client attributes one object may carry, and how many bytes they may take encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttributeLimits {
    pub max_attributes: usize,
    pub max_attribute_bytes: usize,
}

impl Default for AttributeLimits {
    fn default() -> Self {
        Self {
            max_attributes: 64,
            max_attribute_bytes: 16 * 1024,
        }
    }
}

/// Whether the server keeps `reference` for itself: clients may not set or change it.
#[must_use]
pub fn is_server_managed(reference: &AttributeReference) -> bool {
    use AttributeType as T;
    matches!(
        reference,
        AttributeReference::Standard(
            T::UniqueIdentifier
                | T::ObjectType
                | T::CryptographicAlgorithm
                | T::CryptographicLength
                | T::CryptographicUsageMask
                | T::State
                | T::InitialDate
                | T::ActivationDate
                | T::DeactivationDate
                | T::DestroyDate
                | T::CompromiseDate
                | T::CompromiseOccurrenceDate
                | T::RevocationReason
                | T::LastChangeDate
                | T::ArchiveDate
                | T::OriginalCreationDate
                | T::Digest
                | T::CertificateType
                | T::CertificateLength
                | T::CertificateIdentifier
                | T::CertificateSubject
                | T::CertificateIssuer
                | T::X509CertificateIdentifier
                | T::X509CertificateSubject
                | T::X509CertificateIssuer
                | T::DigitalSignatureAlgorithm
                | T::Fresh
                | T::KeyValuePresent
                | T::KeyValueLocation
                | T::KeyFormatType
                | T::AlwaysSensitive
                | T::NeverExtractable
                | T::RandomNumberGenerator
                | T::ShortUniqueIdentifier
                | T::LeaseTime
                | T::UsageLimits
        )
    )
}

/// Whether an object may hold several instances of `reference` (KMIP 1.4 §3, 2.1 §4: Name,
/// Object Group, Link, Application Specific Information, Alternative Name and custom
/// attributes).
#[must_use]
pub fn is_multi_valued(reference: &AttributeReference) -> bool {
    use AttributeType as T;
    match reference {
        AttributeReference::Vendor { .. } => true,
        AttributeReference::Standard(attribute) => matches!(
            attribute,
            T::Name
                | T::ObjectGroup
                | T::Link
                | T::ApplicationSpecificInformation
                | T::AlternativeName
        ),
    }
}

/// Checks the client attributes an object would carry: none the server manages, no
/// single-valued attribute twice, all storable, and within the configured count and size.
///
/// # Errors
///
/// A [`Refusal`] naming the first attribute or limit at fault.
pub fn admit(attributes: &[Attribute], limits: impl Into<AttributeLimits>) -> Result<(), Refusal> {
    let limits = limits.into();
    let mut bytes = 0usize;
    for (index, attribute) in attributes.iter().enumerate() {
        let reference = attribute.reference();
        if is_server_managed(&reference) {
            return Err(read_only(&reference));
        }
        let repeated = attributes[..index]
            .iter()
            .any(|earlier| earlier.reference() == reference);
        if repeated && !is_multi_valued(&reference) {
            return Err(Refusal::new(
                ResultReason::AttributeSingleValued,
                format!("{} takes a single value", describe(&reference)),
            ));
        }
        let len = stored_len(attribute).ok_or_else(|| {
            Refusal::new(
                ResultReason::InvalidAttribute,
                format!("{} cannot be stored", describe(&reference)),
            )
        })?;
        bytes = bytes.saturating_add(len);
    }
    if attributes.len() > limits.max_attributes || bytes > limits.max_attribute_bytes {
        return Err(Refusal::new(
            ResultReason::ServerLimitExceeded,
            format!(
                "an object carries at most {} client attributes of {} bytes in all",
                limits.max_attributes, limits.max_attribute_bytes
            ),
        ));
    }
    Ok(())
}

/// The refusal to let a client set an attribute the server manages.
#[must_use]
pub fn read_only(reference: &AttributeReference) -> Refusal {
    Refusal::new(
        ResultReason::ReadOnlyAttribute,
        format!(
            "{} is set by the server, not by clients",
            describe(reference)
        ),
    )
}

/// The attribute's name for messages: its KMIP 1.x name, or vendor and name.
#[must_use]
pub fn describe(reference: &AttributeReference) -> String {
    match reference {
        AttributeReference::Standard(attribute) => attribute.name().to_owned(),
        AttributeReference::Vendor {
            vendor_identification,
            attribute_name,
        } => format!("custom attribute {vendor_identification}/{attribute_name}"),
    }
}

#[cfg(test)]
mod tests {
    use crate::attribute_values::Name;
    use crate::enums::State;

    use super::*;

    fn standard(attribute: AttributeType) -> AttributeReference {
        AttributeReference::Standard(attribute)
    }

    #[test]
    fn lifecycle_attributes_are_the_servers() {
        for attribute in [
            AttributeType::State,
            AttributeType::ActivationDate,
            AttributeType::CryptographicUsageMask,
            AttributeType::UniqueIdentifier,
        ] {
            assert!(is_server_managed(&standard(attribute)), "{attribute:?}");
        }
    }

    #[test]
    fn descriptive_attributes_are_the_clients() {
        for attribute in [
            AttributeType::Name,
            AttributeType::ObjectGroup,
            AttributeType::OperationPolicyName,
            AttributeType::Description,
            AttributeType::ContactInformation,
        ] {
            assert!(!is_server_managed(&standard(attribute)), "{attribute:?}");
        }
        let custom = AttributeReference::Vendor {
            vendor_identification: "x".into(),
            attribute_name: "team".into(),
        };
        assert!(!is_server_managed(&custom));
        assert!(is_multi_valued(&custom));
    }

    #[test]
    fn names_repeat_and_descriptions_do_not() {
        assert!(is_multi_valued(&standard(AttributeType::Name)));
        assert!(!is_multi_valued(&standard(AttributeType::Description)));
    }

    #[test]
    fn admit_enforces_ownership_multiplicity_and_limits() {
        let limits = AttributeLimits::default();
        let names = vec![
            Attribute::Name(Name::text("a")),
            Attribute::Name(Name::text("b")),
            Attribute::Description("d".into()),
        ];
        admit(&names, limits).unwrap();
        let refusal = admit(&[Attribute::State(State::Active)], limits).unwrap_err();
        assert_eq!(refusal.reason, ResultReason::ReadOnlyAttribute);
        let twice = vec![
            Attribute::Description("d".into()),
            Attribute::Description("e".into()),
        ];
        assert_eq!(
            admit(&twice, limits).unwrap_err().reason,
            ResultReason::AttributeSingleValued
        );
        let small = AttributeLimits {
            max_attributes: 2,
            ..limits
        };
        assert_eq!(
            admit(&names, small).unwrap_err().reason,
            ResultReason::ServerLimitExceeded
        );
        let tight = AttributeLimits {
            max_attribute_bytes: 40,
            ..limits
        };
        assert_eq!(
            admit(&names, tight).unwrap_err().reason,
            ResultReason::ServerLimitExceeded
        );
    }
}
