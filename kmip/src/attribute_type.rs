//! The names, tags and version ranges of the standard KMIP attributes, and the reference to an
//! attribute that operations such as Get Attributes take.
//!
//! KMIP 1.x names an attribute by text (`"Cryptographic Algorithm"`); KMIP 2.x by the tag of the
//! attribute's own field (`0x420028`). [`AttributeType`] maps one to the other for every
//! standard attribute of KMIP 1.0–2.0, so an attribute this crate does not interpret still
//! translates between the two forms. The table is derived from KMIP 1.4 §3 and 2.0 §4 (and
//! PyKMIP's `attribute_name_tag_table`); to add an attribute, add a line.

use crate::error::Error;
use crate::structure::{Builder, FieldValue, Fields, wrong_type};
use crate::ttlv::{Item, ItemType, Tag, Value};
use crate::version::ProtocolVersion;

/// Declares the attribute table.
macro_rules! attribute_types {
    ($($variant:ident = ($name:literal, $tag:expr, $since:expr, $until:expr),)+) => {
        /// A standard KMIP attribute, known by both its 1.x name and its 2.x tag.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum AttributeType {
            $(#[doc = $name] $variant,)+
        }

        impl AttributeType {
            /// Every standard attribute, in alphabetical order of name.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The attribute's KMIP 1.x name.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// The tag of the attribute's field in KMIP 2.x.
            #[must_use]
            pub const fn tag(self) -> Tag {
                match self {
                    $(Self::$variant => $tag,)+
                }
            }

            /// The first protocol version that defines this attribute.
            #[must_use]
            pub const fn since(self) -> ProtocolVersion {
                match self {
                    $(Self::$variant => $since,)+
                }
            }

            /// The last protocol version that defines it, if it was later withdrawn.
            #[must_use]
            pub const fn until(self) -> Option<ProtocolVersion> {
                match self {
                    $(Self::$variant => $until,)+
                }
            }
        }
    };
}

attribute_types! {
        ActivationDate = ("Activation Date", Tag::ACTIVATION_DATE, ProtocolVersion::V1_0, None),
        AlternativeName = ("Alternative Name", Tag::ALTERNATIVE_NAME, ProtocolVersion::V1_2, None),
        AlwaysSensitive = ("Always Sensitive", Tag::ALWAYS_SENSITIVE, ProtocolVersion::V1_4, None),
        ApplicationSpecificInformation = ("Application Specific Information", Tag::APPLICATION_SPECIFIC_INFORMATION, ProtocolVersion::V1_0, None),
        ArchiveDate = ("Archive Date", Tag::ARCHIVE_DATE, ProtocolVersion::V1_0, None),
        CertificateIdentifier = ("Certificate Identifier", Tag::CERTIFICATE_IDENTIFIER, ProtocolVersion::V1_0, Some(ProtocolVersion::V1_4)),
        CertificateIssuer = ("Certificate Issuer", Tag::CERTIFICATE_ISSUER, ProtocolVersion::V1_0, Some(ProtocolVersion::V1_4)),
        CertificateIssuerC = ("Certificate Issuer C", Tag::CERTIFICATE_ISSUER_C, ProtocolVersion::V2_0, None),
        CertificateIssuerCn = ("Certificate Issuer CN", Tag::CERTIFICATE_ISSUER_CN, ProtocolVersion::V2_0, None),
        CertificateIssuerDc = ("Certificate Issuer DC", Tag::CERTIFICATE_ISSUER_DC, ProtocolVersion::V2_0, None),
        CertificateIssuerDnQualifier = ("Certificate Issuer DN Qualifier", Tag::CERTIFICATE_ISSUER_DN_QUALIFIER, ProtocolVersion::V2_0, None),
        CertificateIssuerEmail = ("Certificate Issuer Email", Tag::CERTIFICATE_ISSUER_EMAIL, ProtocolVersion::V2_0, None),
        CertificateIssuerL = ("Certificate Issuer L", Tag::CERTIFICATE_ISSUER_L, ProtocolVersion::V2_0, None),
        CertificateIssuerO = ("Certificate Issuer O", Tag::CERTIFICATE_ISSUER_O, ProtocolVersion::V2_0, None),
        CertificateIssuerOu = ("Certificate Issuer OU", Tag::CERTIFICATE_ISSUER_OU, ProtocolVersion::V2_0, None),
        CertificateIssuerSerialNumber = ("Certificate Issuer Serial Number", Tag::CERTIFICATE_ISSUER_SERIAL_NUMBER, ProtocolVersion::V2_0, None),
        CertificateIssuerSt = ("Certificate Issuer ST", Tag::CERTIFICATE_ISSUER_ST, ProtocolVersion::V2_0, None),
        CertificateIssuerTitle = ("Certificate Issuer Title", Tag::CERTIFICATE_ISSUER_TITLE, ProtocolVersion::V2_0, None),
        CertificateIssuerUid = ("Certificate Issuer UID", Tag::CERTIFICATE_ISSUER_UID, ProtocolVersion::V2_0, None),
        CertificateLength = ("Certificate Length", Tag::CERTIFICATE_LENGTH, ProtocolVersion::V1_1, None),
        CertificateSubject = ("Certificate Subject", Tag::CERTIFICATE_SUBJECT, ProtocolVersion::V1_0, Some(ProtocolVersion::V1_4)),
        CertificateSubjectC = ("Certificate Subject C", Tag::CERTIFICATE_SUBJECT_C, ProtocolVersion::V2_0, None),
        CertificateSubjectCn = ("Certificate Subject CN", Tag::CERTIFICATE_SUBJECT_CN, ProtocolVersion::V2_0, None),
        CertificateSubjectDc = ("Certificate Subject DC", Tag::CERTIFICATE_SUBJECT_DC, ProtocolVersion::V2_0, None),
        CertificateSubjectDnQualifier = ("Certificate Subject DN Qualifier", Tag::CERTIFICATE_SUBJECT_DN_QUALIFIER, ProtocolVersion::V2_0, None),
        CertificateSubjectEmail = ("Certificate Subject Email", Tag::CERTIFICATE_SUBJECT_EMAIL, ProtocolVersion::V2_0, None),
        CertificateSubjectL = ("Certificate Subject L", Tag::CERTIFICATE_SUBJECT_L, ProtocolVersion::V2_0, None),
        CertificateSubjectO = ("Certificate Subject O", Tag::CERTIFICATE_SUBJECT_O, ProtocolVersion::V2_0, None),
        CertificateSubjectOu = ("Certificate Subject OU", Tag::CERTIFICATE_SUBJECT_OU, ProtocolVersion::V2_0, None),
        CertificateSubjectSerialNumber = ("Certificate Subject Serial Number", Tag::CERTIFICATE_SUBJECT_SERIAL_NUMBER, ProtocolVersion::V2_0, None),
        CertificateSubjectSt = ("Certificate Subject ST", Tag::CERTIFICATE_SUBJECT_ST, ProtocolVersion::V2_0, None),
        CertificateSubjectTitle = ("Certificate Subject Title", Tag::CERTIFICATE_SUBJECT_TITLE, ProtocolVersion::V2_0, None),
        CertificateSubjectUid = ("Certificate Subject UID", Tag::CERTIFICATE_SUBJECT_UID, ProtocolVersion::V2_0, None),
        CertificateType = ("Certificate Type", Tag::CERTIFICATE_TYPE, ProtocolVersion::V1_0, None),
        Comment = ("Comment", Tag::COMMENT, ProtocolVersion::V1_4, None),
        CompromiseDate = ("Compromise Date", Tag::COMPROMISE_DATE, ProtocolVersion::V1_0, None),
        CompromiseOccurrenceDate = ("Compromise Occurrence Date", Tag::COMPROMISE_OCCURRENCE_DATE, ProtocolVersion::V1_0, None),
        ContactInformation = ("Contact Information", Tag::CONTACT_INFORMATION, ProtocolVersion::V1_0, None),
        CryptographicAlgorithm = ("Cryptographic Algorithm", Tag::CRYPTOGRAPHIC_ALGORITHM, ProtocolVersion::V1_0, None),
        CryptographicDomainParameters = ("Cryptographic Domain Parameters", Tag::CRYPTOGRAPHIC_DOMAIN_PARAMETERS, ProtocolVersion::V1_0, None),
        CryptographicLength = ("Cryptographic Length", Tag::CRYPTOGRAPHIC_LENGTH, ProtocolVersion::V1_0, None),
        CryptographicParameters = ("Cryptographic Parameters", Tag::CRYPTOGRAPHIC_PARAMETERS, ProtocolVersion::V1_0, None),
        CryptographicUsageMask = ("Cryptographic Usage Mask", Tag::CRYPTOGRAPHIC_USAGE_MASK, ProtocolVersion::V1_0, None),
        DeactivationDate = ("Deactivation Date", Tag::DEACTIVATION_DATE, ProtocolVersion::V1_0, None),
        Description = ("Description", Tag::DESCRIPTION, ProtocolVersion::V1_4, None),
        DestroyDate = ("Destroy Date", Tag::DESTROY_DATE, ProtocolVersion::V1_0, None),
        Digest = ("Digest", Tag::DIGEST, ProtocolVersion::V1_0, None),
        DigitalSignatureAlgorithm = ("Digital Signature Algorithm", Tag::DIGITAL_SIGNATURE_ALGORITHM, ProtocolVersion::V1_1, None),
        Extractable = ("Extractable", Tag::EXTRACTABLE, ProtocolVersion::V1_4, None),
        Fresh = ("Fresh", Tag::FRESH, ProtocolVersion::V1_1, None),
        InitialDate = ("Initial Date", Tag::INITIAL_DATE, ProtocolVersion::V1_0, None),
        KeyFormatType = ("Key Format Type", Tag::KEY_FORMAT_TYPE, ProtocolVersion::V2_0, None),
        KeyValueLocation = ("Key Value Location", Tag::KEY_VALUE_LOCATION, ProtocolVersion::V1_2, None),
        KeyValuePresent = ("Key Value Present", Tag::KEY_VALUE_PRESENT, ProtocolVersion::V1_2, None),
        LastChangeDate = ("Last Change Date", Tag::LAST_CHANGE_DATE, ProtocolVersion::V1_0, None),
        LeaseTime = ("Lease Time", Tag::LEASE_TIME, ProtocolVersion::V1_0, None),
        Link = ("Link", Tag::LINK, ProtocolVersion::V1_0, None),
        Name = ("Name", Tag::NAME, ProtocolVersion::V1_0, None),
        NeverExtractable = ("Never Extractable", Tag::NEVER_EXTRACTABLE, ProtocolVersion::V1_4, None),
        NistKeyType = ("NIST Key Type", Tag::NIST_KEY_TYPE, ProtocolVersion::V2_0, None),
        ObjectGroup = ("Object Group", Tag::OBJECT_GROUP, ProtocolVersion::V1_0, None),
        ObjectType = ("Object Type", Tag::OBJECT_TYPE, ProtocolVersion::V1_0, None),
        OpaqueDataType = ("Opaque Data Type", Tag::OPAQUE_DATA_TYPE, ProtocolVersion::V2_0, None),
        OperationPolicyName = ("Operation Policy Name", Tag::OPERATION_POLICY_NAME, ProtocolVersion::V1_0, Some(ProtocolVersion::V1_4)),
        OriginalCreationDate = ("Original Creation Date", Tag::ORIGINAL_CREATION_DATE, ProtocolVersion::V1_2, None),
        Pkcs12FriendlyName = ("PKCS#12 Friendly Name", Tag::PKCS12_FRIENDLY_NAME, ProtocolVersion::V1_4, None),
        ProcessStartDate = ("Process Start Date", Tag::PROCESS_START_DATE, ProtocolVersion::V1_0, None),
        ProtectStopDate = ("Protect Stop Date", Tag::PROTECT_STOP_DATE, ProtocolVersion::V1_0, None),
        ProtectionLevel = ("Protection Level", Tag::PROTECTION_LEVEL, ProtocolVersion::V2_0, None),
        ProtectionPeriod = ("Protection Period", Tag::PROTECTION_PERIOD, ProtocolVersion::V2_0, None),
        ProtectionStorageMask = ("Protection Storage Mask", Tag::PROTECTION_STORAGE_MASK, ProtocolVersion::V2_0, None),
        QuantumSafe = ("Quantum Safe", Tag::QUANTUM_SAFE, ProtocolVersion::V2_0, None),
        RandomNumberGenerator = ("Random Number Generator", Tag::RANDOM_NUMBER_GENERATOR, ProtocolVersion::V1_3, None),
        RevocationReason = ("Revocation Reason", Tag::REVOCATION_REASON, ProtocolVersion::V1_0, None),
        Sensitive = ("Sensitive", Tag::SENSITIVE, ProtocolVersion::V1_4, None),
        ShortUniqueIdentifier = ("Short Unique Identifier", Tag::SHORT_UNIQUE_IDENTIFIER, ProtocolVersion::V2_0, None),
        State = ("State", Tag::STATE, ProtocolVersion::V1_0, None),
        UniqueIdentifier = ("Unique Identifier", Tag::UNIQUE_IDENTIFIER, ProtocolVersion::V1_0, None),
        UsageLimits = ("Usage Limits", Tag::USAGE_LIMITS, ProtocolVersion::V1_0, None),
        X509CertificateIdentifier = ("X.509 Certificate Identifier", Tag::X_509_CERTIFICATE_IDENTIFIER, ProtocolVersion::V1_1, None),
        X509CertificateIssuer = ("X.509 Certificate Issuer", Tag::X_509_CERTIFICATE_ISSUER, ProtocolVersion::V1_1, None),
        X509CertificateSubject = ("X.509 Certificate Subject", Tag::X_509_CERTIFICATE_SUBJECT, ProtocolVersion::V1_1, None),
}

impl AttributeType {
    /// The attribute with this KMIP 1.x name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// The attribute whose KMIP 2.x field has this tag.
    #[must_use]
    pub fn from_tag(tag: Tag) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.tag() == tag)
    }

    /// Whether `version` defines this attribute.
    #[must_use]
    pub fn exists_in(self, version: ProtocolVersion) -> bool {
        self.since() <= version && self.until().is_none_or(|until| version <= until)
    }
}

/// The KMIP 1.x name prefixes of custom attributes, and the KMIP 2.x vendor identifications
/// that stand for them: `x-` is set by clients, `y-` by servers (KMIP 1.4 §3.39, 2.0 §4.53).
const CUSTOM_PREFIXES: [(&str, &str); 2] = [("x-", "x"), ("y-", "y")];

/// Splits a KMIP 1.x custom attribute name `x-foo` into its 2.x vendor identification and
/// attribute name, `("x", "foo")`.
pub(crate) fn split_custom_name(name: &str) -> Option<(&'static str, &str)> {
    CUSTOM_PREFIXES
        .iter()
        .find_map(|(prefix, vendor)| name.strip_prefix(prefix).map(|rest| (*vendor, rest)))
}

/// The KMIP 1.x name of vendor attribute `vendor`/`name`, if KMIP 1.x can express it.
pub(crate) fn custom_name(vendor: &str, name: &str) -> Option<String> {
    CUSTOM_PREFIXES
        .iter()
        .find(|(_, v)| *v == vendor)
        .map(|(prefix, _)| format!("{prefix}{name}"))
}

/// Names one attribute, as Get Attributes, Delete Attribute and Adjust Attribute take it: a
/// text name in KMIP 1.x, an `Attribute Reference` in KMIP 2.x.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttributeReference {
    Standard(AttributeType),
    /// A custom attribute: in KMIP 1.x, vendor `x` or `y` with name `foo` is `x-foo`.
    Vendor {
        vendor_identification: String,
        attribute_name: String,
    },
}

impl AttributeReference {
    /// Whether `version` can express this reference.
    #[must_use]
    pub fn exists_in(&self, version: ProtocolVersion) -> bool {
        match self {
            Self::Standard(t) => t.exists_in(version),
            Self::Vendor {
                vendor_identification,
                ..
            } => {
                version.uses_tagged_attributes()
                    || CUSTOM_PREFIXES
                        .iter()
                        .any(|(_, v)| v == vendor_identification)
            }
        }
    }

    /// Reads a KMIP 1.x `Attribute Name`.
    pub(crate) fn from_name(item: &Item) -> Result<Self, Error> {
        let name = String::read(item)?;
        if let Some(t) = AttributeType::from_name(&name) {
            return Ok(Self::Standard(t));
        }
        match split_custom_name(&name) {
            Some((vendor, rest)) => Ok(Self::Vendor {
                vendor_identification: vendor.to_owned(),
                attribute_name: rest.to_owned(),
            }),
            None => Err(Error::InvalidValue {
                tag: item.tag,
                reason: "unknown attribute name",
            }),
        }
    }

    /// The KMIP 1.x `Attribute Name`, or `None` when 1.x cannot name this attribute.
    pub(crate) fn name(&self) -> Option<String> {
        match self {
            Self::Standard(t) => Some(t.name().to_owned()),
            Self::Vendor {
                vendor_identification,
                attribute_name,
            } => custom_name(vendor_identification, attribute_name),
        }
    }

    /// Reads a KMIP 2.x `Attribute Reference`: the attribute's tag as an Enumeration, or a
    /// structure naming a vendor attribute.
    pub(crate) fn from_reference(item: &Item) -> Result<Self, Error> {
        match &item.value {
            Value::Enumeration(tag) => AttributeType::from_tag(Tag(*tag))
                .map(Self::Standard)
                .ok_or(Error::UnknownEnumValue {
                    tag: item.tag,
                    value: *tag,
                }),
            Value::Structure(_) => {
                let mut fields = Fields::new(item)?;
                let vendor_identification = fields.required(Tag::VENDOR_IDENTIFICATION)?;
                let attribute_name = fields.required(Tag::ATTRIBUTE_NAME)?;
                fields.finish()?;
                Ok(Self::Vendor {
                    vendor_identification,
                    attribute_name,
                })
            }
            _ => Err(wrong_type(item, ItemType::Enumeration)),
        }
    }

    /// The KMIP 2.x `Attribute Reference`.
    pub(crate) fn to_reference(&self) -> Item {
        match self {
            Self::Standard(t) => Item {
                tag: Tag::ATTRIBUTE_REFERENCE,
                value: Value::Enumeration(t.tag().0),
            },
            Self::Vendor {
                vendor_identification,
                attribute_name,
            } => {
                let mut b = Builder::new();
                b.push(Tag::VENDOR_IDENTIFICATION, vendor_identification);
                b.push(Tag::ATTRIBUTE_NAME, attribute_name);
                b.finish(Tag::ATTRIBUTE_REFERENCE)
            }
        }
    }

    /// Reads the references of a payload: `Attribute Name`s in 1.x, `Attribute Reference`s in
    /// 2.x.
    pub(crate) fn read_all(
        fields: &mut Fields<'_>,
        version: ProtocolVersion,
    ) -> Result<Vec<Self>, Error> {
        if version.uses_tagged_attributes() {
            fields
                .items(Tag::ATTRIBUTE_REFERENCE)
                .iter()
                .map(Self::from_reference)
                .collect()
        } else {
            fields
                .items(Tag::ATTRIBUTE_NAME)
                .iter()
                .map(Self::from_name)
                .collect()
        }
    }

    /// Writes references in the form of `version`, leaving out those it cannot express.
    pub(crate) fn push_all(b: &mut Builder, references: &[Self], version: ProtocolVersion) {
        for reference in references.iter().filter(|r| r.exists_in(version)) {
            if version.uses_tagged_attributes() {
                b.push_item(reference.to_reference());
            } else if let Some(name) = reference.name() {
                b.push(Tag::ATTRIBUTE_NAME, &name);
            }
        }
    }
}
