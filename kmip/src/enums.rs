//! KMIP enumerations and bit masks, with the values the specification assigns them.
//!
//! The variant lists are derived from the enumeration tables of KMIP 1.4 §9.1.3.2 and
//! 2.1 §11 (cross-checked against PyKMIP's `kmip/core/enums.py`); each enumeration holds every
//! value defined from KMIP 1.0 to 2.1, so a message of any supported version decodes. To add a
//! value, add a line to the enumeration's table: the macro derives the conversions.
//!
//! Decoding policy: a value an enumeration does not define is refused with
//! [`Error::UnknownEnumValue`], naming the tag it arrived under. The one exception is
//! [`Operation`], whose vendor extension values (`0x8XXXXXXX`, KMIP 1.4 §9.1.3.2) are kept as
//! [`ExtensionCode`]s: a server must still answer such a batch item with *Operation Not
//! Supported*, and a proxy must be able to forward it. The Operation field of a batch item goes
//! one step further and keeps any code, as an [`UnassignedCode`]: a code KMIP does not define
//! is answered *Operation Not Supported* for that item (KMIP 1.4 §11.1), not by refusing the
//! whole message. Every other field the model interprets is one a server acts on, and a value it
//! cannot interpret is best refused early.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

use crate::error::Error;
use crate::structure::{FieldValue, wrong_type};
use crate::ttlv::{Item, ItemType, Tag, Value};
use crate::version::ProtocolVersion;

/// A KMIP enumeration: a closed set of named 32-bit values.
pub trait KmipEnum: Copy + Sized + 'static {
    /// The variant for a wire value, or `None` for a value this enumeration does not define.
    fn from_u32(value: u32) -> Option<Self>;

    /// The wire value.
    fn to_u32(self) -> u32;
}

/// A vendor extension value of an extensible enumeration: always in `0x8000_0000..=0xFFFF_FFFF`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtensionCode(u32);

impl ExtensionCode {
    /// The extension value for `code`, or `None` if `code` is not in the extension range.
    #[must_use]
    pub const fn new(code: u32) -> Option<Self> {
        if code & 0x8000_0000 != 0 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The wire value.
    #[must_use]
    pub const fn code(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for ExtensionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExtensionCode(0x{:08X})", self.0)
    }
}

/// A code of an extensible enumeration that is neither defined nor a vendor extension value
/// (say `0x0000_00FF` as an Operation). Only the Operation field of a batch item keeps one, as
/// [`Operation::Unassigned`]: a server answers that item *Operation Not Supported* and the rest
/// of the batch as usual. [`KmipEnum::from_u32`] never gives one: everywhere else such a code
/// is refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnassignedCode(u32);

impl UnassignedCode {
    /// The unassigned code `code`, or `None` if `code` is an Operation or a vendor extension.
    #[must_use]
    pub fn new(code: u32) -> Option<Self> {
        Operation::from_u32(code).is_none().then_some(Self(code))
    }

    /// The wire value.
    #[must_use]
    pub const fn code(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for UnassignedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnassignedCode(0x{:08X})", self.0)
    }
}

/// Declares a KMIP enumeration from its table of values.
///
/// `extensible` adds an `Extension(ExtensionCode)` variant that keeps vendor values, and an
/// `Unassigned(UnassignedCode)` variant that only a batch item's decoder makes.
macro_rules! kmip_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($table:tt)+ }) => {
        kmip_enum!(@define $(#[$meta])* $name [] [_ => None] [] { $($table)+ });
    };
    ($(#[$meta:meta])* extensible pub enum $name:ident { $($table:tt)+ }) => {
        kmip_enum!(@define $(#[$meta])* $name
            [
                /// A vendor extension value.
                Extension(ExtensionCode),
                /// A code KMIP does not define, kept only in a batch item's Operation field.
                Unassigned(UnassignedCode),
            ]
            [value => ExtensionCode::new(value).map(Self::Extension)]
            [Self::Extension(code) => code.code(), Self::Unassigned(code) => code.code(),]
            { $($table)+ }
        );
    };
    // The enumeration, with the extra variants, the `from_u32` arm for values outside the table
    // and the `to_u32` arms for the extra variants that the two forms above pass in.
    (
        @define $(#[$meta:meta])* $name:ident
        [$($extra_variant:tt)*] [$($from_other:tt)+] [$($to_extra:tt)*]
        { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            $($extra_variant)*
        }

        impl $name {
            /// Every value the specification defines, in its order (vendor extensions excluded).
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The value's name as the specification spells it, without spaces ("Other" for a
            /// vendor extension or an unassigned code): a bounded set of labels for metrics.
            #[must_use]
            pub fn name(self) -> &'static str {
                #[allow(unreachable_patterns)] // the catch-all exists only with the extras
                match self {
                    $(Self::$variant => stringify!($variant),)+
                    _ => "Other",
                }
            }
        }

        impl KmipEnum for $name {
            fn from_u32(value: u32) -> Option<Self> {
                match value {
                    $($value => Some(Self::$variant),)+
                    $($from_other)+
                }
            }

            fn to_u32(self) -> u32 {
                match self {
                    $(Self::$variant => $value,)+
                    $($to_extra)*
                }
            }
        }
    };
}

/// Decodes the enumeration value `value` that arrived under `tag`.
pub(crate) fn decode_enum<E: KmipEnum>(tag: Tag, value: u32) -> Result<E, Error> {
    E::from_u32(value).ok_or(Error::UnknownEnumValue { tag, value })
}

impl Operation {
    /// The specification's name in lower kebab case (`get-attributes`, `other` for a code it
    /// does not name): for logs and audit records.
    #[must_use]
    pub fn kebab_name(self) -> String {
        let mut name = String::new();
        for c in self.name().chars() {
            if c.is_ascii_uppercase() && !name.is_empty() {
                name.push('-');
            }
            name.push(c.to_ascii_lowercase());
        }
        name
    }

    /// Reads the Operation field of a batch item, which keeps any code: one KMIP does not
    /// define becomes [`Self::Unassigned`], for the server to answer that item *Operation Not
    /// Supported* rather than refuse the message.
    pub(crate) fn read_in_batch_item(item: &Item) -> Result<Self, Error> {
        match item.value {
            Value::Enumeration(value) => {
                Ok(Self::from_u32(value).unwrap_or(Self::Unassigned(UnassignedCode(value))))
            }
            _ => Err(wrong_type(item, ItemType::Enumeration)),
        }
    }

    /// The first protocol version that defines this operation (vendor extensions and
    /// unassigned codes: any).
    #[must_use]
    pub fn since(self) -> ProtocolVersion {
        match self.to_u32() {
            0x01..=0x1C => ProtocolVersion::V1_0,
            0x1D..=0x1E => ProtocolVersion::V1_1,
            0x1F..=0x29 => ProtocolVersion::V1_2,
            0x2A..=0x2B => ProtocolVersion::V1_4,
            0x2C..=0x35 => ProtocolVersion::V2_0,
            0x36..=0x3B => ProtocolVersion::V2_1,
            _ => ProtocolVersion::V1_0,
        }
    }
}

impl ObjectType {
    /// The first protocol version that defines this object type.
    #[must_use]
    pub fn since(self) -> ProtocolVersion {
        match self {
            Self::PgpKey => ProtocolVersion::V1_2,
            Self::CertificateRequest => ProtocolVersion::V2_0,
            _ => ProtocolVersion::V1_0,
        }
    }
}

impl ResultReason {
    /// The first protocol version that defines this reason.
    #[must_use]
    pub fn since(self) -> ProtocolVersion {
        match self.to_u32() {
            0x01..=0x11 | 0x100 => ProtocolVersion::V1_0,
            0x12 => ProtocolVersion::V1_1,
            0x13..=0x15 => ProtocolVersion::V1_2,
            0x16..=0x18 => ProtocolVersion::V1_4,
            _ => ProtocolVersion::V2_0,
        }
    }

    /// This reason as a peer speaking `version` understands it: a reason that `version` does
    /// not define is replaced by the closest one it does, so a KMIP 1.0 client never receives a
    /// value it cannot decode.
    #[must_use]
    pub fn for_version(self, version: ProtocolVersion) -> Self {
        if self.since() <= version {
            return self;
        }
        match self {
            Self::ObjectNotFound | Self::WrappingObjectNotFound => Self::ItemNotFound,
            Self::NotAuthorised
            | Self::WrongKeyLifecycleState
            | Self::ObjectDestroyed
            | Self::IncompatibleCryptographicUsageMask => Self::PermissionDenied,
            // A missing IV as KMIP 1.4's Basic Cryptographic test cases (CS-BC-M-11..13-14)
            // answer it.
            Self::CodecError
            | Self::UnsupportedProtocolVersion
            | Self::UnknownMessageExtension
            | Self::UnknownTag
            | Self::MissingInitializationVector => Self::InvalidMessage,
            Self::InvalidAttribute
            | Self::InvalidAttributeValue
            | Self::UnknownEnumeration
            | Self::InvalidDataType
            | Self::NumericRange
            | Self::BadCryptographicParameters
            | Self::InvalidObjectType
            | Self::IllegalObjectType
            | Self::ReadOnlyAttribute
            | Self::AttributeReadOnly
            | Self::AttributeSingleValued
            | Self::MultiValuedAttribute => Self::InvalidField,
            Self::AttributeNotFound | Self::AttributeInstanceNotFound => Self::ItemNotFound,
            Self::UnsupportedAttribute | Self::UnsupportedCryptographicParameters => {
                Self::FeatureNotSupported
            }
            Self::KeyValueNotPresent | Self::Sensitive | Self::NotExtractable => {
                Self::PermissionDenied
            }
            Self::ObjectAlreadyExists => Self::IllegalOperation,
            Self::AttestationRequired | Self::AttestationFailed => {
                Self::AuthenticationNotSuccessful
            }
            Self::EncodingOptionError => Self::InvalidField,
            _ => Self::GeneralFailure,
        }
    }
}

/// Declares a bit mask carried as a KMIP Integer.
macro_rules! kmip_mask {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($(#[$fmeta:meta])* $flag:ident = $value:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u32);

        impl $name {
            $($(#[$fmeta])* pub const $flag: Self = Self($value);)+

            /// The empty mask.
            pub const EMPTY: Self = Self(0);

            /// The mask with exactly the bits of `bits`, including bits no version of KMIP has
            /// assigned yet: they are kept so a mask round-trips unchanged.
            #[must_use]
            pub const fn from_bits(bits: u32) -> Self {
                Self(bits)
            }

            /// The raw bits.
            #[must_use]
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// Whether every bit of `other` is set in `self`.
            #[must_use]
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }

        impl BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0;
            }
        }

        impl BitAnd for $name {
            type Output = Self;
            fn bitand(self, rhs: Self) -> Self {
                Self(self.0 & rhs.0)
            }
        }

        /// A mask travels as a KMIP Integer holding its bits.
        impl FieldValue for $name {
            fn read(item: &Item) -> Result<Self, Error> {
                match item.value {
                    Value::Integer(bits) => Ok(Self(u32::from_ne_bytes(bits.to_ne_bytes()))),
                    _ => Err(wrong_type(item, ItemType::Integer)),
                }
            }

            fn value(&self) -> Value {
                Value::Integer(i32::from_ne_bytes(self.0.to_ne_bytes()))
            }
        }

        /// Lists the named flags that are set, then any unnamed remainder.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut set = f.debug_set();
                let mut rest = self.0;
                $(
                    if self.0 & $value != 0 {
                        set.entry(&format_args!(stringify!($flag)));
                        rest &= !$value;
                    }
                )+
                if rest != 0 {
                    set.entry(&format_args!("0x{rest:08X}"));
                }
                set.finish()
            }
        }
    };
}

kmip_mask! {
    /// What a key may be used for (KMIP 1.4 §9.1.3.3.1, 2.1 §11.15).
    pub struct CryptographicUsageMask {
        SIGN = 0x0000_0001,
        VERIFY = 0x0000_0002,
        ENCRYPT = 0x0000_0004,
        DECRYPT = 0x0000_0008,
        WRAP_KEY = 0x0000_0010,
        UNWRAP_KEY = 0x0000_0020,
        /// Reserved from KMIP 2.0 on.
        EXPORT = 0x0000_0040,
        MAC_GENERATE = 0x0000_0080,
        MAC_VERIFY = 0x0000_0100,
        DERIVE_KEY = 0x0000_0200,
        CONTENT_COMMITMENT = 0x0000_0400,
        KEY_AGREEMENT = 0x0000_0800,
        CERTIFICATE_SIGN = 0x0000_1000,
        CRL_SIGN = 0x0000_2000,
        GENERATE_CRYPTOGRAM = 0x0000_4000,
        VALIDATE_CRYPTOGRAM = 0x0000_8000,
        TRANSLATE_ENCRYPT = 0x0001_0000,
        TRANSLATE_DECRYPT = 0x0002_0000,
        TRANSLATE_WRAP = 0x0004_0000,
        TRANSLATE_UNWRAP = 0x0008_0000,
        /// KMIP 2.0.
        AUTHENTICATE = 0x0010_0000,
        /// KMIP 2.0.
        UNRESTRICTED = 0x0020_0000,
        /// KMIP 2.0.
        FPE_ENCRYPT = 0x0040_0000,
        /// KMIP 2.0.
        FPE_DECRYPT = 0x0080_0000,
    }
}

kmip_mask! {
    /// Which storage a Locate searches (KMIP 1.4 §9.1.3.3.2, 2.1 §11.56).
    pub struct StorageStatusMask {
        ONLINE_STORAGE = 0x0000_0001,
        ARCHIVAL_STORAGE = 0x0000_0002,
        /// KMIP 2.0.
        DESTROYED_STORAGE = 0x0000_0004,
    }
}

kmip_enum! {
    /// An operation (KMIP 1.4 §9.1.3.2.27, 2.1 §11.38). Vendor extension codes (`0x8XXXXXXX`)
    /// are kept, so a server can answer *Operation Not Supported* and a proxy can forward them;
    /// in a batch item, so is any other code ([`UnassignedCode`]).
    extensible pub enum Operation {
        Create = 0x00000001,
        CreateKeyPair = 0x00000002,
        Register = 0x00000003,
        Rekey = 0x00000004,
        DeriveKey = 0x00000005,
        Certify = 0x00000006,
        Recertify = 0x00000007,
        Locate = 0x00000008,
        Check = 0x00000009,
        Get = 0x0000000A,
        GetAttributes = 0x0000000B,
        GetAttributeList = 0x0000000C,
        AddAttribute = 0x0000000D,
        ModifyAttribute = 0x0000000E,
        DeleteAttribute = 0x0000000F,
        ObtainLease = 0x00000010,
        GetUsageAllocation = 0x00000011,
        Activate = 0x00000012,
        Revoke = 0x00000013,
        Destroy = 0x00000014,
        Archive = 0x00000015,
        Recover = 0x00000016,
        Validate = 0x00000017,
        Query = 0x00000018,
        Cancel = 0x00000019,
        Poll = 0x0000001A,
        Notify = 0x0000001B,
        Put = 0x0000001C,
        RekeyKeyPair = 0x0000001D,
        DiscoverVersions = 0x0000001E,
        Encrypt = 0x0000001F,
        Decrypt = 0x00000020,
        Sign = 0x00000021,
        SignatureVerify = 0x00000022,
        Mac = 0x00000023,
        MacVerify = 0x00000024,
        RngRetrieve = 0x00000025,
        RngSeed = 0x00000026,
        Hash = 0x00000027,
        CreateSplitKey = 0x00000028,
        JoinSplitKey = 0x00000029,
        Import = 0x0000002A,
        Export = 0x0000002B,
        Log = 0x0000002C,
        Login = 0x0000002D,
        Logout = 0x0000002E,
        DelegatedLogin = 0x0000002F,
        AdjustAttribute = 0x00000030,
        SetAttribute = 0x00000031,
        SetEndpointRole = 0x00000032,
        Pkcs11 = 0x00000033,
        Interop = 0x00000034,
        Reprovision = 0x00000035,
        // KMIP 2.1
        SetDefaults = 0x00000036,
        SetConstraints = 0x00000037,
        GetConstraints = 0x00000038,
        QueryAsynchronousRequests = 0x00000039,
        Process = 0x0000003A,
        Ping = 0x0000003B,
        /// Krypton's vendor extension: unwrap a wrapped data key and wrap it again under the
        /// active version of its service key, in one step inside krypton-core, so the key never
        /// leaves it (see [`crate::RewrapRequest`]). Only krypton-gateway sends it.
        Rewrap = 0x8000_4B01,
        /// Krypton's vendor extension: what a gateway's last re-wrap pass left under the older
        /// versions of a service key (see [`crate::RewrapReportRequest`]). Only krypton-gateway
        /// sends it.
        RewrapReport = 0x8000_4B02,
    }
}

kmip_enum! {
    /// The outcome of one batch item.
    pub enum ResultStatus {
        Success = 0x00000000,
        OperationFailed = 0x00000001,
        OperationPending = 0x00000002,
        OperationUndone = 0x00000003,
    }
}

kmip_enum! {
    /// Why a batch item failed. Values above `0x18` (other than General Failure) exist only
    /// in KMIP 2.0 and later: see [`ResultReason::for_version`].
    pub enum ResultReason {
        ItemNotFound = 0x00000001,
        ResponseTooLarge = 0x00000002,
        AuthenticationNotSuccessful = 0x00000003,
        InvalidMessage = 0x00000004,
        OperationNotSupported = 0x00000005,
        MissingData = 0x00000006,
        InvalidField = 0x00000007,
        FeatureNotSupported = 0x00000008,
        OperationCanceledByRequester = 0x00000009,
        CryptographicFailure = 0x0000000A,
        IllegalOperation = 0x0000000B,
        PermissionDenied = 0x0000000C,
        ObjectArchived = 0x0000000D,
        IndexOutOfBounds = 0x0000000E,
        ApplicationNamespaceNotSupported = 0x0000000F,
        KeyFormatTypeNotSupported = 0x00000010,
        KeyCompressionTypeNotSupported = 0x00000011,
        EncodingOptionError = 0x00000012,
        KeyValueNotPresent = 0x00000013,
        AttestationRequired = 0x00000014,
        AttestationFailed = 0x00000015,
        Sensitive = 0x00000016,
        NotExtractable = 0x00000017,
        ObjectAlreadyExists = 0x00000018,
        GeneralFailure = 0x00000100,
        InvalidTicket = 0x00000019,
        UsageLimitExceeded = 0x0000001A,
        NumericRange = 0x0000001B,
        InvalidDataType = 0x0000001C,
        ReadOnlyAttribute = 0x0000001D,
        MultiValuedAttribute = 0x0000001E,
        UnsupportedAttribute = 0x0000001F,
        AttributeInstanceNotFound = 0x00000020,
        AttributeNotFound = 0x00000021,
        AttributeReadOnly = 0x00000022,
        AttributeSingleValued = 0x00000023,
        BadCryptographicParameters = 0x00000024,
        BadPassword = 0x00000025,
        CodecError = 0x00000026,
        IllegalObjectType = 0x00000028,
        IncompatibleCryptographicUsageMask = 0x00000029,
        InternalServerError = 0x0000002A,
        InvalidAsynchronousCorrelationValue = 0x0000002B,
        InvalidAttribute = 0x0000002C,
        InvalidAttributeValue = 0x0000002D,
        InvalidCorrelationValue = 0x0000002E,
        InvalidCsr = 0x0000002F,
        InvalidObjectType = 0x00000030,
        KeyWrapTypeNotSupported = 0x00000032,
        MissingInitializationVector = 0x00000034,
        NonUniqueNameAttribute = 0x00000035,
        ObjectDestroyed = 0x00000036,
        ObjectNotFound = 0x00000037,
        NotAuthorised = 0x00000039,
        ServerLimitExceeded = 0x0000003A,
        UnknownEnumeration = 0x0000003B,
        UnknownMessageExtension = 0x0000003C,
        UnknownTag = 0x0000003D,
        UnsupportedCryptographicParameters = 0x0000003E,
        UnsupportedProtocolVersion = 0x0000003F,
        WrappingObjectArchived = 0x00000040,
        WrappingObjectDestroyed = 0x00000041,
        WrappingObjectNotFound = 0x00000042,
        WrongKeyLifecycleState = 0x00000043,
        ProtectionStorageUnavailable = 0x00000044,
        Pkcs11CodecError = 0x00000045,
        Pkcs11InvalidFunction = 0x00000046,
        Pkcs11InvalidInterface = 0x00000047,
    }
}

kmip_enum! {
    /// What a server does with the rest of a batch after an item fails.
    pub enum BatchErrorContinuationOption {
        Continue = 0x00000001,
        Stop = 0x00000002,
        Undo = 0x00000003,
    }
}

kmip_enum! {
    /// The kind of a [`Credential`](crate::Credential).
    pub enum CredentialType {
        UsernameAndPassword = 0x00000001,
        Device = 0x00000002,
        Attestation = 0x00000003,
        OneTimePassword = 0x00000004,
        HashedPassword = 0x00000005,
        Ticket = 0x00000006,
        /// Krypton's vendor extension: the application a gateway forwards a request for
        /// ([`DelegatedIdentity`](crate::DelegatedIdentity)).
        KryptonDelegatedIdentity = 0x80000001,
    }
}

kmip_enum! {
    /// The kind of evidence an attestation credential carries (KMIP 1.2).
    pub enum AttestationType {
        TpmQuote = 0x00000001,
        TcgIntegrityReport = 0x00000002,
        SamlAssertion = 0x00000003,
    }
}

kmip_enum! {
    /// The kind of a managed object.
    pub enum ObjectType {
        Certificate = 0x00000001,
        SymmetricKey = 0x00000002,
        PublicKey = 0x00000003,
        PrivateKey = 0x00000004,
        SplitKey = 0x00000005,
        Template = 0x00000006,
        SecretData = 0x00000007,
        OpaqueData = 0x00000008,
        PgpKey = 0x00000009,
        CertificateRequest = 0x0000000A,
    }
}

kmip_enum! {
    /// The kind of a Certificate object (KMIP 1.4 §3.8).
    pub enum CertificateType {
        X509 = 0x00000001,
        Pgp = 0x00000002,
    }
}

kmip_enum! {
    /// A cryptographic algorithm.
    pub enum CryptographicAlgorithm {
        Des = 0x00000001,
        TripleDes = 0x00000002,
        Aes = 0x00000003,
        Rsa = 0x00000004,
        Dsa = 0x00000005,
        Ecdsa = 0x00000006,
        HmacSha1 = 0x00000007,
        HmacSha224 = 0x00000008,
        HmacSha256 = 0x00000009,
        HmacSha384 = 0x0000000A,
        HmacSha512 = 0x0000000B,
        HmacMd5 = 0x0000000C,
        Dh = 0x0000000D,
        Ecdh = 0x0000000E,
        Ecmqv = 0x0000000F,
        Blowfish = 0x00000010,
        Camellia = 0x00000011,
        Cast5 = 0x00000012,
        Idea = 0x00000013,
        Mars = 0x00000014,
        Rc2 = 0x00000015,
        Rc4 = 0x00000016,
        Rc5 = 0x00000017,
        Skipjack = 0x00000018,
        Twofish = 0x00000019,
        Ec = 0x0000001A,
        OneTimePad = 0x0000001B,
        Chacha20 = 0x0000001C,
        Poly1305 = 0x0000001D,
        Chacha20Poly1305 = 0x0000001E,
        Sha3_224 = 0x0000001F,
        Sha3_256 = 0x00000020,
        Sha3_384 = 0x00000021,
        Sha3_512 = 0x00000022,
        HmacSha3_224 = 0x00000023,
        HmacSha3_256 = 0x00000024,
        HmacSha3_384 = 0x00000025,
        HmacSha3_512 = 0x00000026,
        Shake128 = 0x00000027,
        Shake256 = 0x00000028,
        Aria = 0x00000029,
        Seed = 0x0000002A,
        Sm2 = 0x0000002B,
        Sm3 = 0x0000002C,
        Sm4 = 0x0000002D,
        GostR34_10_2012 = 0x0000002E,
        GostR34_11_2012 = 0x0000002F,
        GostR34_13_2015 = 0x00000030,
        Gost28147_89 = 0x00000031,
        Xmss = 0x00000032,
        Sphincs256 = 0x00000033,
        Mceliece = 0x00000034,
        Mceliece6960119 = 0x00000035,
        Mceliece8192128 = 0x00000036,
        Ed25519 = 0x00000037,
        Ed448 = 0x00000038,
    }
}

kmip_enum! {
    /// The lifecycle state of a managed object.
    pub enum State {
        PreActive = 0x00000001,
        Active = 0x00000002,
        Deactivated = 0x00000003,
        Compromised = 0x00000004,
        Destroyed = 0x00000005,
        DestroyedCompromised = 0x00000006,
    }
}

kmip_enum! {
    /// The answer of a verification (MAC Verify, Signature Verify).
    pub enum ValidityIndicator {
        Valid = 0x00000001,
        Invalid = 0x00000002,
        Unknown = 0x00000003,
    }
}

kmip_enum! {
    /// Why an object was revoked.
    pub enum RevocationReasonCode {
        Unspecified = 0x00000001,
        KeyCompromise = 0x00000002,
        CaCompromise = 0x00000003,
        AffiliationChanged = 0x00000004,
        Superseded = 0x00000005,
        CessationOfOperation = 0x00000006,
        PrivilegeWithdrawn = 0x00000007,
    }
}

kmip_enum! {
    /// The encoding of key material inside a Key Block.
    pub enum KeyFormatType {
        Raw = 0x00000001,
        Opaque = 0x00000002,
        Pkcs1 = 0x00000003,
        Pkcs8 = 0x00000004,
        X509 = 0x00000005,
        EcPrivateKey = 0x00000006,
        TransparentSymmetricKey = 0x00000007,
        TransparentDsaPrivateKey = 0x00000008,
        TransparentDsaPublicKey = 0x00000009,
        TransparentRsaPrivateKey = 0x0000000A,
        TransparentRsaPublicKey = 0x0000000B,
        TransparentDhPrivateKey = 0x0000000C,
        TransparentDhPublicKey = 0x0000000D,
        TransparentEcdsaPrivateKey = 0x0000000E,
        TransparentEcdsaPublicKey = 0x0000000F,
        TransparentEcdhPrivateKey = 0x00000010,
        TransparentEcdhPublicKey = 0x00000011,
        TransparentEcmqvPrivateKey = 0x00000012,
        TransparentEcmqvPublicKey = 0x00000013,
        TransparentEcPrivateKey = 0x00000014,
        TransparentEcPublicKey = 0x00000015,
        Pkcs12 = 0x00000016,
    }
}

impl KeyFormatType {
    /// Whether this is one of the Transparent formats: key material as a structure of fields
    /// rather than one byte string.
    #[must_use]
    pub fn is_transparent(self) -> bool {
        use KeyFormatType as F;
        match self {
            F::TransparentSymmetricKey
            | F::TransparentDsaPrivateKey
            | F::TransparentDsaPublicKey
            | F::TransparentRsaPrivateKey
            | F::TransparentRsaPublicKey
            | F::TransparentDhPrivateKey
            | F::TransparentDhPublicKey
            | F::TransparentEcdsaPrivateKey
            | F::TransparentEcdsaPublicKey
            | F::TransparentEcdhPrivateKey
            | F::TransparentEcdhPublicKey
            | F::TransparentEcmqvPrivateKey
            | F::TransparentEcmqvPublicKey
            | F::TransparentEcPrivateKey
            | F::TransparentEcPublicKey => true,
            F::Raw | F::Opaque | F::Pkcs1 | F::Pkcs8 | F::X509 | F::EcPrivateKey | F::Pkcs12 => {
                false
            }
        }
    }
}

kmip_enum! {
    /// The named elliptic curves, as the Transparent EC key structures name theirs (KMIP 1.2
    /// added the SEC, ANSI X9.62 and Brainpool curves, 2.0 Curve25519 and Curve448).
    pub enum RecommendedCurve {
        P192 = 0x00000001,
        K163 = 0x00000002,
        B163 = 0x00000003,
        P224 = 0x00000004,
        K233 = 0x00000005,
        B233 = 0x00000006,
        P256 = 0x00000007,
        K283 = 0x00000008,
        B283 = 0x00000009,
        P384 = 0x0000000A,
        K409 = 0x0000000B,
        B409 = 0x0000000C,
        P521 = 0x0000000D,
        K571 = 0x0000000E,
        B571 = 0x0000000F,
        Secp112r1 = 0x00000010,
        Secp112r2 = 0x00000011,
        Secp128r1 = 0x00000012,
        Secp128r2 = 0x00000013,
        Secp160k1 = 0x00000014,
        Secp160r1 = 0x00000015,
        Secp160r2 = 0x00000016,
        Secp191k1 = 0x00000017,
        Secp224k1 = 0x00000018,
        Secp256k1 = 0x00000019,
        Sect113r1 = 0x0000001A,
        Sect113r2 = 0x0000001B,
        Sect131r1 = 0x0000001C,
        Sect131r2 = 0x0000001D,
        Sect163r1 = 0x0000001E,
        Sect193r1 = 0x0000001F,
        Sect193r2 = 0x00000020,
        Sect239k1 = 0x00000021,
        Ansix9p192v2 = 0x00000022,
        Ansix9p192v3 = 0x00000023,
        Ansix9p239v1 = 0x00000024,
        Ansix9p239v2 = 0x00000025,
        Ansix9p239v3 = 0x00000026,
        Ansix9c2pnb163v1 = 0x00000027,
        Ansix9c2pnb163v2 = 0x00000028,
        Ansix9c2pnb163v3 = 0x00000029,
        Ansix9c2pnb176v1 = 0x0000002A,
        Ansix9c2tnb191v1 = 0x0000002B,
        Ansix9c2tnb191v2 = 0x0000002C,
        Ansix9c2tnb191v3 = 0x0000002D,
        Ansix9c2pnb208w1 = 0x0000002E,
        Ansix9c2tnb239v1 = 0x0000002F,
        Ansix9c2tnb239v2 = 0x00000030,
        Ansix9c2tnb239v3 = 0x00000031,
        Ansix9c2pnb272w1 = 0x00000032,
        Ansix9c2pnb304w1 = 0x00000033,
        Ansix9c2tnb359v1 = 0x00000034,
        Ansix9c2pnb368w1 = 0x00000035,
        Ansix9c2tnb431r1 = 0x00000036,
        Brainpoolp160r1 = 0x00000037,
        Brainpoolp160t1 = 0x00000038,
        Brainpoolp192r1 = 0x00000039,
        Brainpoolp192t1 = 0x0000003A,
        Brainpoolp224r1 = 0x0000003B,
        Brainpoolp224t1 = 0x0000003C,
        Brainpoolp256r1 = 0x0000003D,
        Brainpoolp256t1 = 0x0000003E,
        Brainpoolp320r1 = 0x0000003F,
        Brainpoolp320t1 = 0x00000040,
        Brainpoolp384r1 = 0x00000041,
        Brainpoolp384t1 = 0x00000042,
        Brainpoolp512r1 = 0x00000043,
        Brainpoolp512t1 = 0x00000044,
        Curve25519 = 0x00000045,
        Curve448 = 0x00000046,
    }
}

kmip_enum! {
    /// The compression of elliptic-curve public key material.
    pub enum KeyCompressionType {
        EcPublicKeyTypeUncompressed = 0x00000001,
        EcPublicKeyTypeX9_62CompressedPrime = 0x00000002,
        EcPublicKeyTypeX9_62CompressedChar2 = 0x00000003,
        EcPublicKeyTypeX9_62Hybrid = 0x00000004,
    }
}

kmip_enum! {
    /// Whether Get returns key material unwrapped or as registered (KMIP 1.4).
    pub enum KeyWrapType {
        NotWrapped = 0x00000001,
        AsRegistered = 0x00000002,
    }
}

kmip_enum! {
    /// How key material is wrapped (KMIP 1.0).
    pub enum WrappingMethod {
        Encrypt = 0x00000001,
        MacSign = 0x00000002,
        EncryptThenMacSign = 0x00000003,
        MacSignThenEncrypt = 0x00000004,
        Tr31 = 0x00000005,
    }
}

kmip_enum! {
    /// What a key wrap encrypts: the Key Material's bytes alone, or the TTLV-encoded Key Value
    /// (KMIP 1.1).
    pub enum EncodingOption {
        NoEncoding = 0x00000001,
        TtlvEncoding = 0x00000002,
    }
}

kmip_enum! {
    /// How the value of a Name is to be read.
    pub enum NameType {
        UninterpretedTextString = 0x00000001,
        Uri = 0x00000002,
    }
}

kmip_enum! {
    /// The relation a Link expresses.
    pub enum LinkType {
        CertificateLink = 0x00000101,
        PublicKeyLink = 0x00000102,
        PrivateKeyLink = 0x00000103,
        DerivationBaseObjectLink = 0x00000104,
        DerivedKeyLink = 0x00000105,
        ReplacementObjectLink = 0x00000106,
        ReplacedObjectLink = 0x00000107,
        ParentLink = 0x00000108,
        ChildLink = 0x00000109,
        PreviousLink = 0x0000010A,
        NextLink = 0x0000010B,
        Pkcs12CertificateLink = 0x0000010C,
        Pkcs12PasswordLink = 0x0000010D,
        WrappingKeyLink = 0x0000010E,
    }
}

kmip_enum! {
    /// What a Query asks the server to list.
    pub enum QueryFunction {
        QueryOperations = 0x00000001,
        QueryObjects = 0x00000002,
        QueryServerInformation = 0x00000003,
        QueryApplicationNamespaces = 0x00000004,
        QueryExtensionList = 0x00000005,
        QueryExtensionMap = 0x00000006,
        QueryAttestationTypes = 0x00000007,
        QueryRngs = 0x00000008,
        QueryValidations = 0x00000009,
        QueryProfiles = 0x0000000A,
        QueryCapabilities = 0x0000000B,
        QueryClientRegistrationMethods = 0x0000000C,
        QueryDefaultsInformation = 0x0000000D,
        QueryStorageProtectionMasks = 0x0000000E,
    }
}

kmip_enum! {
    /// How Derive Key makes the new key from its base object.
    pub enum DerivationMethod {
        Pbkdf2 = 0x00000001,
        Hash = 0x00000002,
        Hmac = 0x00000003,
        Encrypt = 0x00000004,
        Nist800_108C = 0x00000005,
        Nist800_108F = 0x00000006,
        Nist800_108Dpi = 0x00000007,
        /// KMIP 1.4.
        AsymmetricKey = 0x00000008,
        /// KMIP 2.0.
        AwsSignatureVersion4 = 0x00000009,
        /// KMIP 2.0.
        Hkdf = 0x0000000A,
    }
}

kmip_enum! {
    /// A block cipher mode of operation.
    pub enum BlockCipherMode {
        Cbc = 0x00000001,
        Ecb = 0x00000002,
        Pcbc = 0x00000003,
        Cfb = 0x00000004,
        Ofb = 0x00000005,
        Ctr = 0x00000006,
        Cmac = 0x00000007,
        Ccm = 0x00000008,
        Gcm = 0x00000009,
        CbcMac = 0x0000000A,
        Xts = 0x0000000B,
        AesKeyWrapPadding = 0x0000000C,
        NistKeyWrap = 0x0000000D,
        X9_102Aeskw = 0x0000000E,
        X9_102Tdkw = 0x0000000F,
        X9_102Akw1 = 0x00000010,
        X9_102Akw2 = 0x00000011,
        Aead = 0x00000012,
    }
}

kmip_enum! {
    /// A padding method.
    pub enum PaddingMethod {
        None = 0x00000001,
        Oaep = 0x00000002,
        Pkcs5 = 0x00000003,
        Ssl3 = 0x00000004,
        Zeros = 0x00000005,
        AnsiX923 = 0x00000006,
        Iso10126 = 0x00000007,
        Pkcs1v15 = 0x00000008,
        X931 = 0x00000009,
        Pss = 0x0000000A,
    }
}

kmip_enum! {
    /// A hash function.
    pub enum HashingAlgorithm {
        Md2 = 0x00000001,
        Md4 = 0x00000002,
        Md5 = 0x00000003,
        Sha1 = 0x00000004,
        Sha224 = 0x00000005,
        Sha256 = 0x00000006,
        Sha384 = 0x00000007,
        Sha512 = 0x00000008,
        Ripemd160 = 0x00000009,
        Tiger = 0x0000000A,
        Whirlpool = 0x0000000B,
        Sha512_224 = 0x0000000C,
        Sha512_256 = 0x0000000D,
        Sha3_224 = 0x0000000E,
        Sha3_256 = 0x0000000F,
        Sha3_384 = 0x00000010,
        Sha3_512 = 0x00000011,
    }
}

kmip_enum! {
    /// The role of a key in payment and other standards.
    pub enum KeyRoleType {
        Bdk = 0x00000001,
        Cvk = 0x00000002,
        Dek = 0x00000003,
        Mkac = 0x00000004,
        Mksmc = 0x00000005,
        Mksmi = 0x00000006,
        Mkdac = 0x00000007,
        Mkdn = 0x00000008,
        Mkcp = 0x00000009,
        Mkoth = 0x0000000A,
        Kek = 0x0000000B,
        Mac16609 = 0x0000000C,
        Mac97971 = 0x0000000D,
        Mac97972 = 0x0000000E,
        Mac97973 = 0x0000000F,
        Mac97974 = 0x00000010,
        Mac97975 = 0x00000011,
        Zpk = 0x00000012,
        Pvkibm = 0x00000013,
        Pvkpvv = 0x00000014,
        Pvkoth = 0x00000015,
        Dukpt = 0x00000016,
        Iv = 0x00000017,
        Trkbk = 0x00000018,
    }
}

kmip_enum! {
    /// A signature algorithm (KMIP 1.1).
    pub enum DigitalSignatureAlgorithm {
        Md2WithRsaEncryption = 0x00000001,
        Md5WithRsaEncryption = 0x00000002,
        Sha1WithRsaEncryption = 0x00000003,
        Sha224WithRsaEncryption = 0x00000004,
        Sha256WithRsaEncryption = 0x00000005,
        Sha384WithRsaEncryption = 0x00000006,
        Sha512WithRsaEncryption = 0x00000007,
        RsassaPss = 0x00000008,
        DsaWithSha1 = 0x00000009,
        DsaWithSha224 = 0x0000000A,
        DsaWithSha256 = 0x0000000B,
        EcdsaWithSha1 = 0x0000000C,
        EcdsaWithSha224 = 0x0000000D,
        EcdsaWithSha256 = 0x0000000E,
        EcdsaWithSha384 = 0x0000000F,
        EcdsaWithSha512 = 0x00000010,
        Sha3_256WithRsaEncryption = 0x00000011,
        Sha3_384WithRsaEncryption = 0x00000012,
        Sha3_512WithRsaEncryption = 0x00000013,
    }
}

kmip_enum! {
    /// A mask generation function (KMIP 1.4).
    pub enum MaskGenerator {
        Mgf1 = 0x00000001,
    }
}

kmip_enum! {
    /// The kind of a Secret Data object.
    pub enum SecretDataType {
        Password = 0x00000001,
        Seed = 0x00000002,
    }
}

kmip_enum! {
    /// Which member of an object group a Locate selects (KMIP 1.1).
    pub enum ObjectGroupMember {
        GroupMemberFresh = 0x00000001,
        GroupMemberDefault = 0x00000002,
    }
}

kmip_enum! {
    /// How Adjust Attribute changes a value (KMIP 2.0).
    pub enum AdjustmentType {
        Increment = 0x00000001,
        Decrement = 0x00000002,
        Negate = 0x00000003,
    }
}

kmip_enum! {
    /// A KMIP 2.0 Unique Identifier given as an Enumeration: a reference to an object
    /// created or located earlier in the same batch.
    pub enum UniqueIdentifierPlaceholder {
        IdPlaceholder = 0x00000001,
        Certify = 0x00000002,
        Create = 0x00000003,
        CreateKeyPair = 0x00000004,
        CreateKeyPairPrivateKey = 0x00000005,
        CreateKeyPairPublicKey = 0x00000006,
        CreateSplitKey = 0x00000007,
        DeriveKey = 0x00000008,
        Import = 0x00000009,
        JoinSplitKey = 0x0000000A,
        Locate = 0x0000000B,
        Register = 0x0000000C,
        Rekey = 0x0000000D,
        Recertify = 0x0000000E,
        RekeyKeyPair = 0x0000000F,
        RekeyKeyPairPrivateKey = 0x00000010,
        RekeyKeyPairPublicKey = 0x00000011,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_names_follow_the_specifications_names() {
        assert_eq!(Operation::Get.kebab_name(), "get");
        assert_eq!(
            Operation::GetAttributeList.kebab_name(),
            "get-attribute-list"
        );
        assert_eq!(Operation::RewrapReport.kebab_name(), "rewrap-report");
    }
}
