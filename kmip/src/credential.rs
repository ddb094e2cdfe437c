//! Who is asking: the `Authentication` of a request header and its `Credential`s
//! (KMIP 1.4 §2.1.2, 2.1 §2.2).
//!
//! The gateway authenticates clients by TLS certificate and passes the application's identity
//! on to the core in a [`DelegatedIdentity`] credential, so credentials are typed and
//! round-trip exactly. Passwords are [`SecretString`]s: wiped on drop and never printed.

use std::fmt;

use crate::enums::{AttestationType, CredentialType};
use crate::error::Error;
use crate::secret::SecretString;
use crate::structure::{
    Builder, Fields, kmip_struct, read_structure, structure_field, write_structure,
};
use crate::ttlv::{Item, Tag};
use crate::version::ProtocolVersion;

kmip_struct! {
    /// A username, and optionally a password.
    pub struct UsernamePasswordCredential {
        pub username: required String => USERNAME,
        pub password: optional SecretString => PASSWORD,
    }
}

kmip_struct! {
    /// The identity of a device (KMIP 1.1).
    #[derive(Default)]
    pub struct DeviceCredential {
        pub device_serial_number: optional String => DEVICE_SERIAL_NUMBER,
        pub password: optional SecretString => PASSWORD,
        pub device_identifier: optional String => DEVICE_IDENTIFIER,
        pub network_identifier: optional String => NETWORK_IDENTIFIER,
        pub machine_identifier: optional String => MACHINE_IDENTIFIER,
        pub media_identifier: optional String => MEDIA_IDENTIFIER,
    }
}

kmip_struct! {
    /// A server-issued nonce that an attestation answers (KMIP 1.2).
    pub struct Nonce {
        pub nonce_id: required Vec<u8> => NONCE_ID,
        pub nonce_value: required Vec<u8> => NONCE_VALUE,
    }
}
structure_field!(Nonce);

kmip_struct! {
    /// Evidence of the client's platform state (KMIP 1.2).
    pub struct AttestationCredential {
        pub nonce: required Nonce => NONCE,
        pub attestation_type: required AttestationType => ATTESTATION_TYPE,
        pub attestation_measurement: optional Vec<u8> => ATTESTATION_MEASUREMENT,
        pub attestation_assertion: optional Vec<u8> => ATTESTATION_ASSERTION,
    }
}

kmip_struct! {
    /// The application a Krypton gateway forwards a request for: Krypton's vendor credential
    /// (Credential Type `0x8000_0001`, extension tags `0x540001`, `0x540002` and `0x540007`).
    /// The gateway puts it in place of whatever the application sent; krypton-core accepts it
    /// only from gateway certificates it trusts.
    pub struct DelegatedIdentity {
        /// The tenant the gateway maps the application to.
        pub tenant: required String => KRYPTON_TENANT,
        /// The application's identity, as the gateway read it from its certificate.
        pub identity: required String => KRYPTON_IDENTITY,
        /// The gateway's correlation id of the request, for the audit records of both: carried
        /// here because a forwarded request keeps the application's protocol version, and
        /// versions before 1.4 have no Client Correlation Value.
        pub correlation: optional String => KRYPTON_CORRELATION,
    }
}

/// One credential.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    UsernamePassword(UsernamePasswordCredential),
    Device(DeviceCredential),
    Attestation(AttestationCredential),
    Delegated(DelegatedIdentity),
    /// A credential type this crate does not interpret (the KMIP 2.0 One Time Password, Hashed
    /// Password and Ticket), with its `Credential Value` kept as TTLV.
    Other {
        credential_type: CredentialType,
        value: Item,
    },
}

/// Prints the credential's identity fields; secrets show only their length, and an
/// uninterpreted credential value not at all.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UsernamePassword(c) => f.debug_tuple("UsernamePassword").field(c).finish(),
            Self::Device(c) => f.debug_tuple("Device").field(c).finish(),
            Self::Attestation(c) => f.debug_tuple("Attestation").field(c).finish(),
            Self::Delegated(c) => f.debug_tuple("Delegated").field(c).finish(),
            Self::Other {
                credential_type, ..
            } => f
                .debug_struct("Other")
                .field("credential_type", credential_type)
                .field("value", &format_args!("<redacted>"))
                .finish_non_exhaustive(),
        }
    }
}

impl Credential {
    /// The credential's type.
    #[must_use]
    pub fn credential_type(&self) -> CredentialType {
        match self {
            Self::UsernamePassword(_) => CredentialType::UsernameAndPassword,
            Self::Device(_) => CredentialType::Device,
            Self::Attestation(_) => CredentialType::Attestation,
            Self::Delegated(_) => CredentialType::KryptonDelegatedIdentity,
            Self::Other {
                credential_type, ..
            } => *credential_type,
        }
    }

    pub(crate) fn from_item(item: &Item) -> Result<Self, Error> {
        let mut fields = Fields::new(item)?;
        let credential_type = fields.required(Tag::CREDENTIAL_TYPE)?;
        let value = fields.required_item(Tag::CREDENTIAL_VALUE)?;
        fields.finish()?;
        Ok(match credential_type {
            CredentialType::UsernameAndPassword => Self::UsernamePassword(read_structure(
                value,
                UsernamePasswordCredential::read_fields,
            )?),
            CredentialType::Device => {
                Self::Device(read_structure(value, DeviceCredential::read_fields)?)
            }
            CredentialType::Attestation => {
                Self::Attestation(read_structure(value, AttestationCredential::read_fields)?)
            }
            CredentialType::KryptonDelegatedIdentity => {
                Self::Delegated(read_structure(value, DelegatedIdentity::read_fields)?)
            }
            credential_type => Self::Other {
                credential_type,
                value: value.clone(),
            },
        })
    }

    pub(crate) fn to_item(&self, version: ProtocolVersion) -> Item {
        let value = match self {
            Self::UsernamePassword(c) => write_whole(|b| c.write_fields(b, version)),
            Self::Device(c) => write_whole(|b| c.write_fields(b, version)),
            Self::Attestation(c) => write_whole(|b| c.write_fields(b, version)),
            Self::Delegated(c) => write_whole(|b| c.write_fields(b, version)),
            Self::Other { value, .. } => value.clone(),
        };
        let mut b = Builder::new();
        b.push(Tag::CREDENTIAL_TYPE, &self.credential_type());
        b.push_item(value);
        b.finish(Tag::CREDENTIAL)
    }
}

/// Builds a `Credential Value` structure with `write`.
fn write_whole(write: impl FnOnce(&mut Builder)) -> Item {
    write_structure(Tag::CREDENTIAL_VALUE, write)
}

/// The `Authentication` of a request header: one credential in KMIP 1.0 and 1.1, one or more
/// from 1.2 on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authentication {
    pub credentials: Vec<Credential>,
}

impl Authentication {
    pub(crate) fn from_item(item: &Item) -> Result<Self, Error> {
        let mut fields = Fields::new(item)?;
        let first = fields.required_item(Tag::CREDENTIAL)?;
        let credentials = std::iter::once(first)
            .chain(fields.items(Tag::CREDENTIAL))
            .map(Credential::from_item)
            .collect::<Result<_, _>>()?;
        fields.finish()?;
        Ok(Self { credentials })
    }

    pub(crate) fn to_item(&self, version: ProtocolVersion) -> Item {
        let mut b = Builder::new();
        for credential in &self.credentials {
            b.push_item(credential.to_item(version));
        }
        b.finish(Tag::AUTHENTICATION)
    }
}
