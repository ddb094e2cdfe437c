//! X.509 certificates a client registers: checked, described by the attributes KMIP gives a
//! certificate, and stored as the gateway stores everything.
//!
//! **Storage.** A certificate is not secret, yet it is wrapped by the core under the caller's
//! service key and stored only wrapped, like every key here. That keeps one path for every
//! object (one record format, one Get), binds the record to its owner and identifier (a
//! certificate swapped or copied in the vault does not unwrap in its place), and puts it under
//! the tenant's chain: unlinking the tenant makes its certificates unreadable with its keys, as
//! issue 20 asks of every new object type. The price is a call to the core on Get.
//!
//! **Attributes.** Certificate Type (X.509), Certificate Length (KMIP 1.1 on) and Digest (SHA-256
//! of the DER) are set from the certificate: the ones PyKMIP 0.11 reads back. The subject,
//! issuer and identifier attributes (1.0's Certificate Subject/Issuer/Identifier, 1.1's X.509
//! Certificate Subject/Issuer/Identifier) are not: PyKMIP raises on every one of them in a
//! response, so a Get Attributes of all of a certificate's attributes would break it.

use aws_lc_rs::digest::{SHA256, digest};
use kmip::{
    Attribute, Certificate, CertificateType, Digest, HashingAlgorithm, KeyFormatType, ObjectType,
    ResultReason, SecretBytes,
};

use super::create::Requested;
use crate::attribute_policy::admit;
use crate::metadata::Metadata;
use crate::operations::Context;
use crate::refusal::Refusal;

/// The largest certificate registered: far above real ones (a few KB, tens with long SAN
/// lists), far below what could bloat the vault.
const MAX_CERTIFICATE_LEN: usize = 64 * 1024;

/// The material (the DER) and metadata of a certificate a client registers with `attributes`.
pub(super) fn read<V>(
    context: &Context<'_, V>,
    certificate: &Certificate,
    attributes: &[Attribute],
) -> Result<(SecretBytes, Metadata), Refusal> {
    if certificate.certificate_type != CertificateType::X509 {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            format!(
                "the gateway registers X.509 certificates, not {:?}",
                certificate.certificate_type
            ),
        ));
    }
    let der = &certificate.certificate_value;
    if der.is_empty() || der.len() > MAX_CERTIFICATE_LEN {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            format!(
                "a certificate is 1 to {MAX_CERTIFICATE_LEN} bytes of DER; this one has {}",
                der.len()
            ),
        ));
    }
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], _)) => {}
        Ok(_) => return Err(not_a_certificate("bytes follow the certificate")),
        Err(error) => return Err(not_a_certificate(&error.to_string())),
    }
    let requested = Requested::read(attributes, Some(ObjectType::Certificate))?;
    if requested.algorithm.is_some() || requested.length.is_some() {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            "a certificate is registered without a Cryptographic Algorithm or Length",
        ));
    }
    admit(&requested.client_attributes, context.keys)?;
    let length = i32::try_from(der.len()).unwrap_or(i32::MAX);
    let mut metadata = requested.into_metadata(ObjectType::Certificate, context.now);
    metadata.server_attributes = vec![
        Attribute::CertificateType(CertificateType::X509),
        Attribute::CertificateLength(length),
        Attribute::Digest(Digest {
            hashing_algorithm: HashingAlgorithm::Sha256,
            digest_value: Some(digest(&SHA256, der).as_ref().to_vec()),
            // The encoding the digest was taken over. KMIP asks for it with keys; PyKMIP reads
            // no Digest without it.
            key_format_type: Some(KeyFormatType::X509),
        }),
    ];
    Ok((SecretBytes::new(der.clone()), metadata))
}

/// The certificate `der`, unwrapped from a record, as Get returns it.
pub(super) fn object(der: &SecretBytes) -> Certificate {
    Certificate {
        certificate_type: CertificateType::X509,
        certificate_value: der.to_vec(),
    }
}

fn not_a_certificate(why: &str) -> Refusal {
    Refusal::new(
        ResultReason::InvalidField,
        format!("the Certificate Value is not a DER X.509 certificate: {why}"),
    )
}
