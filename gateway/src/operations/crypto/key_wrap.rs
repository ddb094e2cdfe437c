//! Key wrapping under the caller's keys: a Get that returns a key wrapped as its Key Wrapping
//! Specification asks ([`Wrapper`]), and a Register of wrapped key material, unwrapped here
//! before it is stored ([`unwrap_registered`]).
//!
//! | wrapping key | how | Cryptographic Parameters (Encryption Key Information) |
//! |---|---|---|
//! | AES, 128 or 256 bits | NIST Key Wrap (RFC 3394), material of 16 bytes or more in whole 8-byte blocks | none, or Block Cipher Mode NIST Key Wrap |
//! | AES, 128 or 256 bits | AES Key Wrap Padding (RFC 5649), any material | Block Cipher Mode AES Key Wrap Padding |
//! | RSA public key (Get) / private key (Register) | RSA-OAEP ([`super::oaep`]) | Padding Method OAEP and a Hashing Algorithm (or the key's attribute) |
//!
//! Wrapping Method *Encrypt* is done, in both encodings: *No Encoding* wraps the bare key
//! material (a byte string: not a Transparent structure), as PyKMIP's server does; *TTLV
//! Encoding*, KMIP's default when no Encoding Option is named, wraps the TTLV encoding of the
//! Key Value ([`kmip::KeyMaterial::key_value_ttlv`]). MAC/signature wrapping and attributes
//! wrapped with the key are refused with the reason. The wrapping key is one of the caller's
//! keys here: Active with *Wrap Key* in its usage mask to wrap, Active or Deactivated with
//! *Unwrap Key* to unwrap (the other half of an RSA pair is found by its link). All of it is
//! decided before the core is asked to unwrap anything; the wrapping key is unwrapped by the
//! core for the one operation and wiped after.

use kmip::{
    Attribute, CryptographicParameters, EncodingOption, EncryptionKeyInformation, KeyMaterial,
    KeyWrappingData, KeyWrappingSpecification, LinkType, ObjectType, ResultReason, SecretBytes,
    WrappingMethod,
};

use super::cipher::AesKeyWrap;
use super::oaep::Oaep;
use super::{Use, admit, unwrapped};
use crate::operations::{Context, vault_failure};
use crate::refusal::Refusal;
use crate::vault::{Found, Record, Vault};

/// How key material is wrapped under one wrapping key.
#[derive(Clone, Copy, Debug)]
enum Scheme {
    Aes(AesKeyWrap),
    Oaep(Oaep),
}

/// The caller's wrapping key for a Get, admitted, and how it wraps.
#[derive(Debug)]
pub(in crate::operations) struct Wrapper {
    key: Found,
    scheme: Scheme,
    information: EncryptionKeyInformation,
    /// As the client named it: `None` is TTLV Encoding.
    encoding: Option<EncodingOption>,
}

impl Wrapper {
    /// The wrapping key `spec` names, if it may wrap now.
    pub(in crate::operations) async fn for_get<V: Vault>(
        context: &Context<'_, V>,
        spec: &KeyWrappingSpecification,
    ) -> Result<Self, Refusal> {
        require_encrypt(
            spec.wrapping_method,
            spec.mac_signature_key_information.is_some(),
        )?;
        if !spec.attribute_names.is_empty() {
            return Err(Refusal::new(
                ResultReason::FeatureNotSupported,
                "attributes are not wrapped with the key: send the Key Wrapping Specification \
                 without Attribute Names",
            ));
        }
        let information = encryption_key_information(spec.encryption_key_information.as_ref())?;
        let key = wrapping_key(context, &information.unique_identifier).await?;
        let scheme = scheme(&key.record, &information, ObjectType::PublicKey)?;
        admit(context, &key.record, Use::WrapKey)?;
        let information = EncryptionKeyInformation {
            cryptographic_parameters: Some(Box::new(match scheme {
                Scheme::Aes(wrap) => CryptographicParameters {
                    block_cipher_mode: Some(wrap.block_cipher_mode()),
                    ..CryptographicParameters::default()
                },
                Scheme::Oaep(oaep) => oaep.parameters(),
            })),
            ..information
        };
        Ok(Self {
            key,
            scheme,
            information,
            encoding: spec.encoding_option,
        })
    }

    /// Whether this wrapper wraps the bare key material, which must then be a byte string.
    pub(in crate::operations) fn wraps_bare_material(&self) -> bool {
        self.encoding == Some(EncodingOption::NoEncoding)
    }

    /// `material` wrapped, with the Key Wrapping Data that says how.
    pub(in crate::operations) async fn wrap<V: Vault>(
        self,
        context: &Context<'_, V>,
        material: &KeyMaterial,
    ) -> Result<(SecretBytes, KeyWrappingData), Refusal> {
        let plain = if self.wraps_bare_material() {
            material.key().cloned().ok_or_else(bare_structure)?
        } else {
            material.key_value_ttlv().map_err(|error| {
                tracing::error!(%error, "a key's Key Value does not encode");
                Refusal::new(
                    ResultReason::GeneralFailure,
                    "the key's Key Value could not be encoded for wrapping",
                )
            })?
        };
        let key = unwrapped(context, &self.key, Use::WrapKey).await?;
        let wrapped = match self.scheme {
            Scheme::Aes(wrap) => wrap.wrap(&key, &plain)?,
            Scheme::Oaep(oaep) => oaep.seal(&key, &plain)?,
        };
        drop(key);
        tracing::info!(owner = context.owner(), wrapping_key = %self.key.record.id, "key returned wrapped");
        let data = KeyWrappingData {
            wrapping_method: WrappingMethod::Encrypt,
            encryption_key_information: Some(self.information),
            mac_signature_key_information: None,
            mac_signature: None,
            iv_counter_nonce: None,
            encoding_option: self.encoding,
        };
        Ok((SecretBytes::new(wrapped), data))
    }
}

/// The refusal for a Transparent structure to be wrapped without encoding.
pub(in crate::operations) fn bare_structure() -> Refusal {
    Refusal::new(
        ResultReason::KeyFormatTypeNotSupported,
        "with the Encoding Option No Encoding the bare key material is wrapped, a byte string \
         (Raw, PKCS#1, PKCS#8, X.509 or EC Private Key): a Transparent structure is wrapped \
         TTLV-encoded (no Encoding Option, or TTLV Encoding)",
    )
}

/// Key material a client registers wrapped (`wrapped`, as `data` says), unwrapped under the
/// caller's key it names. A wrap that does not check out is a Cryptographic Failure.
pub(in crate::operations) async fn unwrap_registered<V: Vault>(
    context: &Context<'_, V>,
    data: &KeyWrappingData,
    wrapped: &[u8],
) -> Result<SecretBytes, Refusal> {
    require_encrypt(
        data.wrapping_method,
        data.mac_signature_key_information.is_some() || data.mac_signature.is_some(),
    )?;
    if data.iv_counter_nonce.is_some() {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            "the key wraps and RSA-OAEP take no IV/Counter/Nonce",
        ));
    }
    let information = encryption_key_information(data.encryption_key_information.as_ref())?;
    let mut found = wrapping_key(context, &information.unique_identifier).await?;
    // A client names the key it wrapped with: for RSA, the public key, whose pair's private
    // key unwraps.
    if found.record.metadata.object_type == ObjectType::PublicKey
        && let Some(private) = private_key_link(&found.record)
    {
        found = wrapping_key(context, &private).await?;
    }
    let scheme = scheme(&found.record, &information, ObjectType::PrivateKey)?;
    admit(context, &found.record, Use::UnwrapKey)?;
    let key = unwrapped(context, &found, Use::UnwrapKey).await?;
    match scheme {
        Scheme::Aes(wrap) => wrap.unwrap(&key, wrapped.to_vec()),
        Scheme::Oaep(oaep) => oaep.open(&key, wrapped),
    }
}

/// Wrapping Method Encrypt, with no MAC or signature.
fn require_encrypt(method: WrappingMethod, mac_or_signature: bool) -> Result<(), Refusal> {
    if method != WrappingMethod::Encrypt || mac_or_signature {
        return Err(Refusal::new(
            ResultReason::FeatureNotSupported,
            format!(
                "keys are wrapped by encryption only (Wrapping Method Encrypt, no MAC/Signature \
                 Key Information), not {method:?}"
            ),
        ));
    }
    Ok(())
}

fn encryption_key_information(
    information: Option<&EncryptionKeyInformation>,
) -> Result<EncryptionKeyInformation, Refusal> {
    information.cloned().ok_or_else(|| {
        Refusal::new(
            ResultReason::MissingData,
            "the key wrapping names no Encryption Key Information: the caller's key to wrap with",
        )
    })
}

/// The caller's key `id`, read from the vault: another owner's key is not found, as
/// everywhere.
async fn wrapping_key<V: Vault>(context: &Context<'_, V>, id: &str) -> Result<Found, Refusal> {
    context
        .vault
        .find(context.owner(), id)
        .await
        .map_err(|error| vault_failure(&error))?
        .ok_or_else(|| {
            Refusal::new(
                ResultReason::WrappingObjectNotFound,
                format!("the wrapping key {id} is not one of the caller's keys in the gateway"),
            )
        })
}

/// The identifier of the private key a public key is linked to.
fn private_key_link(record: &Record) -> Option<String> {
    record
        .metadata
        .client_attributes
        .iter()
        .find_map(|attribute| match attribute {
            Attribute::Link(link) if link.link_type == LinkType::PrivateKeyLink => {
                Some(link.linked_object_identifier.clone())
            }
            _ => None,
        })
}

/// How `record` wraps, as `information`'s parameters say: an AES key by a key wrap, the
/// `rsa_half` of an RSA key pair by RSA-OAEP.
fn scheme(
    record: &Record,
    information: &EncryptionKeyInformation,
    rsa_half: ObjectType,
) -> Result<Scheme, Refusal> {
    let parameters = information.cryptographic_parameters.as_deref();
    match record.metadata.object_type {
        ObjectType::SymmetricKey => AesKeyWrap::of(parameters, record).map(Scheme::Aes),
        half if half == rsa_half => Oaep::of(parameters, record).map(Scheme::Oaep),
        other => Err(Refusal::new(
            ResultReason::InvalidObjectType,
            format!(
                "keys are wrapped under an AES key or an RSA key pair ({rsa_half:?} here), not \
                 a {other:?}"
            ),
        )),
    }
}
