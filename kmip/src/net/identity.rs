//! Who a client is: one name read from its verified TLS certificate.
//!
//! Certificates in the field differ in where they carry the name (PyKMIP #234, #711): older
//! ones only in the subject's Common Name, web-PKI style ones in a DNS subject alternative name,
//! SPIFFE workloads in a URI subject alternative name. The operator picks the source; the
//! identity is then exactly one value of that source, or the client is refused with an error that
//! names the source.

use std::fmt;

use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::extensions::GeneralName;
use x509_parser::nom;

use crate::net::error::NetError;

/// The longest identity accepted, in bytes. SPIFFE IDs, the longest names in use, are capped at
/// 2048 bytes by their specification.
const MAX_IDENTITY_LEN: usize = 2048;

/// Where in the client certificate the peer identity is read from.
///
/// In configuration files: `"common_name"`, `"san_dns"` or `"san_uri"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    /// The subject's Common Name (CN).
    CommonName,
    /// A DNS name in the Subject Alternative Name extension.
    SanDns,
    /// A URI in the Subject Alternative Name extension, such as a SPIFFE ID.
    SanUri,
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CommonName => "subject common name (CN)",
            Self::SanDns => "DNS subject alternative name",
            Self::SanUri => "URI subject alternative name",
        })
    }
}

/// The authenticated identity of a peer: a name from its verified certificate and the source
/// the name was read from.
///
/// The name is non-empty, at most 2048 bytes, free of control characters and of surrounding
/// whitespace, so it can be logged and compared as is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerIdentity {
    name: String,
    source: IdentitySource,
}

impl PeerIdentity {
    /// Reads the identity from `certificate`, the end-entity certificate of a verified chain.
    ///
    /// # Errors
    ///
    /// [`NetError::IdentityMissing`] if the certificate has no value of `source`,
    /// [`NetError::IdentityAmbiguous`] if it has several, [`NetError::IdentityInvalid`] if the
    /// value is unusable as a name, [`NetError::Certificate`] if the certificate cannot be parsed.
    pub fn from_certificate(
        certificate: &CertificateDer<'_>,
        source: IdentitySource,
    ) -> Result<Self, NetError> {
        let (_, parsed) = x509_parser::parse_x509_certificate(certificate)
            .map_err(|error| NetError::Certificate(parse_error(error)))?;
        let values = match source {
            IdentitySource::CommonName => common_names(&parsed)?,
            IdentitySource::SanDns => alternative_names(&parsed, |name| match name {
                GeneralName::DNSName(dns) => Some(*dns),
                _ => None,
            })?,
            IdentitySource::SanUri => alternative_names(&parsed, |name| match name {
                GeneralName::URI(uri) => Some(*uri),
                _ => None,
            })?,
        };
        match values.as_slice() {
            [] => Err(NetError::IdentityMissing(source)),
            [name] => Ok(Self {
                name: validated(name, source)?.to_owned(),
                source,
            }),
            several => Err(NetError::IdentityAmbiguous {
                from: source,
                count: several.len(),
            }),
        }
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where in the certificate the name was found.
    #[must_use]
    pub fn source(&self) -> IdentitySource {
        self.source
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn common_names<'a>(certificate: &'a X509Certificate<'_>) -> Result<Vec<&'a str>, NetError> {
    certificate
        .subject()
        .iter_common_name()
        .map(|attribute| {
            attribute.as_str().map_err(|_| NetError::IdentityInvalid {
                from: IdentitySource::CommonName,
                reason: "not a UTF-8, printable or IA5 string",
            })
        })
        .collect()
}

fn alternative_names<'a>(
    certificate: &'a X509Certificate<'_>,
    pick: impl Fn(&GeneralName<'a>) -> Option<&'a str>,
) -> Result<Vec<&'a str>, NetError> {
    let names = certificate
        .subject_alternative_name()
        .map_err(NetError::Certificate)?;
    Ok(names
        .map(|extension| {
            extension
                .value
                .general_names
                .iter()
                .filter_map(pick)
                .collect()
        })
        .unwrap_or_default())
}

/// `name` if it can stand for a peer in logs and access decisions.
fn validated(name: &str, source: IdentitySource) -> Result<&str, NetError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_IDENTITY_LEN {
        "it is longer than 2048 bytes"
    } else if name.chars().any(char::is_control) {
        "it contains control characters"
    } else if name.trim() != name {
        // "admin " must not pass for "admin" in a log or a lookup.
        "it has leading or trailing whitespace"
    } else {
        return Ok(name);
    };
    Err(NetError::IdentityInvalid {
        from: source,
        reason,
    })
}

fn parse_error(error: nom::Err<X509Error>) -> X509Error {
    match error {
        nom::Err::Error(error) | nom::Err::Failure(error) => error,
        nom::Err::Incomplete(_) => X509Error::InvalidCertificate,
    }
}
