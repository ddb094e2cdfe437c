//! Enumerations and masks: every value round-trips, unknown values are refused with the tag
//! they arrived under, and vendor operation codes are kept.
#![allow(clippy::unwrap_used)]

mod items;

use std::collections::HashSet;
use std::fmt::Debug;

use items::{batch_item, enumeration, request_item, structure};
use kmip::{
    AdjustmentType, AttestationType, BatchErrorContinuationOption, BlockCipherMode, CredentialType,
    CryptographicAlgorithm, CryptographicUsageMask, DerivationMethod, DigitalSignatureAlgorithm,
    Error, ExtensionCode, HashingAlgorithm, KeyCompressionType, KeyFormatType, KeyRoleType,
    KeyWrapType, KmipEnum, LinkType, MaskGenerator, NameType, ObjectGroupMember, ObjectType,
    Operation, PaddingMethod, ProtocolVersion, QueryFunction, RequestMessage, ResultReason,
    ResultStatus, RevocationReasonCode, SecretDataType, State, StorageStatusMask, Tag,
    UniqueIdentifierPlaceholder,
};

/// Every value maps to a distinct wire value and back to itself.
fn round_trips<E: KmipEnum + Debug + Eq>(all: &[E]) {
    assert!(!all.is_empty());
    let mut seen = HashSet::new();
    for &value in all {
        let wire = value.to_u32();
        assert!(
            seen.insert(wire),
            "{value:?}: wire value 0x{wire:08X} used twice"
        );
        assert_eq!(
            E::from_u32(wire),
            Some(value),
            "{value:?} does not round-trip"
        );
    }
}

#[test]
fn every_enumeration_round_trips() {
    round_trips(Operation::ALL);
    round_trips(ResultStatus::ALL);
    round_trips(ResultReason::ALL);
    round_trips(BatchErrorContinuationOption::ALL);
    round_trips(CredentialType::ALL);
    round_trips(AttestationType::ALL);
    round_trips(ObjectType::ALL);
    round_trips(CryptographicAlgorithm::ALL);
    round_trips(State::ALL);
    round_trips(RevocationReasonCode::ALL);
    round_trips(KeyFormatType::ALL);
    round_trips(KeyCompressionType::ALL);
    round_trips(KeyWrapType::ALL);
    round_trips(NameType::ALL);
    round_trips(LinkType::ALL);
    round_trips(QueryFunction::ALL);
    round_trips(BlockCipherMode::ALL);
    round_trips(DerivationMethod::ALL);
    round_trips(PaddingMethod::ALL);
    round_trips(HashingAlgorithm::ALL);
    round_trips(KeyRoleType::ALL);
    round_trips(DigitalSignatureAlgorithm::ALL);
    round_trips(MaskGenerator::ALL);
    round_trips(SecretDataType::ALL);
    round_trips(ObjectGroupMember::ALL);
    round_trips(AdjustmentType::ALL);
    round_trips(UniqueIdentifierPlaceholder::ALL);
}

#[test]
fn spec_values_are_the_ones_on_the_wire() {
    assert_eq!(Operation::Create.to_u32(), 0x01);
    assert_eq!(Operation::Get.to_u32(), 0x0A);
    assert_eq!(Operation::DiscoverVersions.to_u32(), 0x1E);
    assert_eq!(Operation::SetAttribute.to_u32(), 0x31);
    assert_eq!(ResultStatus::Success.to_u32(), 0);
    assert_eq!(ResultReason::ItemNotFound.to_u32(), 0x01);
    assert_eq!(ResultReason::GeneralFailure.to_u32(), 0x100);
    assert_eq!(CryptographicAlgorithm::Aes.to_u32(), 0x03);
    assert_eq!(ObjectType::SecretData.to_u32(), 0x07);
    assert_eq!(State::Active.to_u32(), 0x02);
    assert_eq!(KeyFormatType::TransparentSymmetricKey.to_u32(), 0x07);
    assert_eq!(BlockCipherMode::Gcm.to_u32(), 0x09);
}

#[test]
fn vendor_operation_codes_are_kept_and_other_unknown_codes_refused() {
    let code = ExtensionCode::new(0x8000_0042).unwrap();
    assert_eq!(
        Operation::from_u32(0x8000_0042),
        Some(Operation::Extension(code))
    );
    assert_eq!(Operation::Extension(code).to_u32(), 0x8000_0042);
    assert_eq!(ExtensionCode::new(0x42), None);
    assert_eq!(Operation::from_u32(0x0000_7777), None);
    assert_eq!(CryptographicAlgorithm::from_u32(0x8000_0001), None);
}

#[test]
fn unknown_enumeration_value_names_its_tag() {
    let item = request_item(
        (1, 2),
        vec![batch_item(
            0x01,
            vec![
                enumeration(Tag::OBJECT_TYPE, 0x99),
                structure(Tag::TEMPLATE_ATTRIBUTE, vec![]),
            ],
        )],
    );
    let err = RequestMessage::from_item(&item).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnknownEnumValue {
                tag: Tag::OBJECT_TYPE,
                value: 0x99
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.result_reason(), ResultReason::InvalidField);
}

#[test]
fn masks_keep_every_bit_and_print_their_names() {
    let mask = CryptographicUsageMask::ENCRYPT | CryptographicUsageMask::DECRYPT;
    assert_eq!(mask.bits(), 0x0C);
    assert!(mask.contains(CryptographicUsageMask::ENCRYPT));
    assert!(!mask.contains(CryptographicUsageMask::SIGN));
    let odd = CryptographicUsageMask::from_bits(0x8000_0004);
    assert_eq!(odd.bits(), 0x8000_0004);
    assert_eq!(format!("{odd:?}"), "{ENCRYPT, 0x80000000}");
    assert_eq!(StorageStatusMask::ONLINE_STORAGE.bits(), 1);
}

#[test]
fn result_reasons_are_translated_for_older_clients() {
    use ResultReason::{
        InvalidMessage, ItemNotFound, ObjectNotFound, PermissionDenied, Sensitive,
        UnsupportedProtocolVersion,
    };

    for &reason in ResultReason::ALL {
        assert_eq!(reason.for_version(ProtocolVersion::V2_1), reason);
        for version in ProtocolVersion::SUPPORTED {
            let sent = reason.for_version(version);
            assert!(
                sent.since() <= version,
                "{reason:?} is sent to {version} as {sent:?}"
            );
        }
    }
    // A reason, the version of the client, what that client receives.
    for (reason, version, sent) in [
        (ObjectNotFound, ProtocolVersion::V1_4, ItemNotFound),
        (Sensitive, ProtocolVersion::V1_2, PermissionDenied),
        (Sensitive, ProtocolVersion::V1_4, Sensitive),
        (
            UnsupportedProtocolVersion,
            ProtocolVersion::V1_0,
            InvalidMessage,
        ),
    ] {
        assert_eq!(reason.for_version(version), sent, "{reason:?} to {version}");
    }
}
