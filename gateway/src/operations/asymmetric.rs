//! The key pairs the gateway makes, all with aws-lc-rs: RSA of 2048, 3072 or 4096 bits, ECDSA
//! on P-256 or P-384, and Ed25519; their DER encodings, and the other formats a Get may ask
//! for.
//!
//! **Stored forms.** A private key is kept (wrapped by the core, like any L4) as PKCS#8
//! (`PrivateKeyInfo`, version 1), a public key as X.509 `SubjectPublicKeyInfo`: the forms
//! every client and library reads, and the ones aws-lc-rs both writes and parses for every
//! algorithm here. Get returns them in these forms unless the client names another format —
//! except an RSA public key, which a Get naming no format returns as PKCS#1 `RSAPublicKey`: the
//! form KMIP 1.x's Asymmetric Key Lifecycle profile, its OASIS test cases and PyKMIP's server
//! use, and the only one some 1.x clients (NLnet Labs' `kmip-protocol`, so Krill) can decode.
//!
//! | object | formats |
//! |---|---|
//! | Private Key | PKCS#8 (the default); PKCS#1 `RSAPrivateKey` and Transparent RSA Private Key for RSA keys; EC Private Key (RFC 5915) and Transparent EC (or 1.x ECDSA, ECDH, ECMQV) Private Key for EC keys |
//! | Public Key | PKCS#1 `RSAPublicKey` (RSA keys: the default) or X.509 `SubjectPublicKeyInfo` (the default of the others); Transparent RSA Public Key for RSA keys, Transparent EC (or 1.x ECDSA, ECDH, ECMQV) Public Key for EC keys |
//!
//! The Transparent structures are converted by [`super::transparent`]; Ed25519 keys have none.
//!
//! **Registered keys** ([`KeyKind::parse_private`], [`KeyKind::parse_public`]) are parsed by
//! aws-lc-rs from the formats it reads — PKCS#8, PKCS#1 (RSA) and EC Private Key for private
//! keys, `SubjectPublicKeyInfo` and PKCS#1 (RSA) for public keys, and the Transparent
//! structures made into those first — and re-encoded in the stored forms, so a registered key
//! is stored, returned and used exactly as a made one. Only the kinds above are taken: a key
//! the gateway could not use (RSA-1024, P-521, DSA…) is refused rather than kept unusable.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::error::Unspecified;
use aws_lc_rs::rsa::{self, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1,
    ECDSA_P384_SHA384_ASN1_SIGNING, ED25519, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair,
    KeyPair, ParsedPublicKey, VerificationAlgorithm,
};
use kmip::{
    CryptographicAlgorithm, KeyFormatType, KeyMaterial, ObjectType, ResultReason, SecretBytes,
};

use super::transparent;
use crate::metadata::Metadata;
use crate::refusal::Refusal;

/// A kind of key pair the gateway makes and uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Rsa(KeySize),
    P256,
    P384,
    Ed25519,
}

/// The largest key material a client may register, checked before it is parsed: every key of
/// a kind the gateway uses is smaller in every format (an RSA-4096 private key is about 2.4 KB
/// as PKCS#8).
pub(super) const MAX_REGISTERED_KEY_LEN: usize = 4096;

/// A new key pair's two halves, DER-encoded; the private one wiped on drop.
pub(super) struct KeyPairMaterial {
    /// PKCS#8.
    pub(super) private: SecretBytes,
    /// `SubjectPublicKeyInfo`.
    pub(super) public: SecretBytes,
}

impl KeyKind {
    /// The kind of pair `algorithm` at `length` bits names, if the gateway makes it. An EC
    /// curve is chosen by its length (256: P-256, 384: P-384); Ed25519 has one length, which
    /// the client may leave out.
    pub(super) fn of(
        algorithm: CryptographicAlgorithm,
        length: Option<i32>,
    ) -> Result<Self, Refusal> {
        use CryptographicAlgorithm as A;
        let kind = match (algorithm, length) {
            (A::Rsa, Some(2048)) => Self::Rsa(KeySize::Rsa2048),
            (A::Rsa, Some(3072)) => Self::Rsa(KeySize::Rsa3072),
            (A::Rsa, Some(4096)) => Self::Rsa(KeySize::Rsa4096),
            (A::Ec | A::Ecdsa, Some(256)) => Self::P256,
            (A::Ec | A::Ecdsa, Some(384)) => Self::P384,
            (A::Ed25519, None | Some(256)) => Self::Ed25519,
            (A::Rsa | A::Ec | A::Ecdsa | A::Ed25519, _) => {
                return Err(Refusal::new(
                    ResultReason::InvalidField,
                    format!(
                        "cannot make a {algorithm:?} key pair of length {length:?}: RSA pairs \
                         are 2048, 3072 or 4096 bits, EC and ECDSA pairs 256 (P-256) or 384 \
                         (P-384), Ed25519 pairs 256"
                    ),
                ));
            }
            _ => {
                return Err(Refusal::new(
                    ResultReason::InvalidField,
                    format!(
                        "the gateway does not make {algorithm:?} key pairs: it makes RSA, EC \
                         (ECDSA) and Ed25519 pairs"
                    ),
                ));
            }
        };
        Ok(kind)
    }

    /// The kind of a stored public or private key, from its metadata; `None` for any other
    /// object, or one the gateway did not make.
    pub(super) fn of_record(metadata: &Metadata) -> Option<Self> {
        if !matches!(
            metadata.object_type,
            ObjectType::PublicKey | ObjectType::PrivateKey
        ) {
            return None;
        }
        Self::of(metadata.algorithm?, metadata.length).ok()
    }

    /// Whether `algorithm` names keys of this kind: a registered key's Cryptographic
    /// Algorithm, checked against the key itself.
    pub(super) fn is_named_by(self, algorithm: CryptographicAlgorithm) -> bool {
        use CryptographicAlgorithm as A;
        matches!(
            (self, algorithm),
            (Self::Rsa(_), A::Rsa)
                | (Self::P256 | Self::P384, A::Ec | A::Ecdsa)
                | (Self::Ed25519, A::Ed25519)
        )
    }

    /// The Cryptographic Algorithm a registered key of this kind is given when the client
    /// names none (EC, the key's own type, for both curves).
    pub(super) fn algorithm(self) -> CryptographicAlgorithm {
        match self {
            Self::Rsa(_) => CryptographicAlgorithm::Rsa,
            Self::P256 | Self::P384 => CryptographicAlgorithm::Ec,
            Self::Ed25519 => CryptographicAlgorithm::Ed25519,
        }
    }

    /// The kind of an RSA key with a modulus of `bytes` bytes, if the gateway uses it.
    pub(super) fn rsa_of(bytes: usize) -> Option<Self> {
        [KeySize::Rsa2048, KeySize::Rsa3072, KeySize::Rsa4096]
            .into_iter()
            .find(|size| size.len() == bytes)
            .map(Self::Rsa)
    }

    /// A private key a client registers, `der` in `format`: its kind and its PKCS#8 (the stored
    /// form). aws-lc-rs parses the key and writes it anew, so what is stored is its canonical
    /// encoding.
    pub(super) fn parse_private(
        format: KeyFormatType,
        der: &[u8],
    ) -> Result<(Self, SecretBytes), Refusal> {
        let parsed = match format {
            KeyFormatType::Pkcs8 => Self::private_from_pkcs8(der),
            KeyFormatType::Pkcs1 => rsa::KeyPair::from_der(der)
                .ok()
                .and_then(|pair| Self::rsa_private(&pair)),
            KeyFormatType::EcPrivateKey => [Self::P256, Self::P384].into_iter().find_map(|kind| {
                let pair = EcdsaKeyPair::from_private_key_der(kind.ecdsa()?, der).ok()?;
                Some((kind, secret(pair.to_pkcs8v1().ok()?.as_ref())))
            }),
            _ => {
                return Err(unregistrable(
                    format,
                    "private keys are registered as PKCS#8, PKCS#1 (RSA) or EC Private Key (P-256, P-384)",
                ));
            }
        };
        parsed.ok_or_else(|| unusable(format, "private"))
    }

    fn private_from_pkcs8(der: &[u8]) -> Option<(Self, SecretBytes)> {
        if let Ok(pair) = rsa::KeyPair::from_pkcs8(der) {
            return Self::rsa_private(&pair);
        }
        for kind in [Self::P256, Self::P384] {
            if let Ok(pair) = EcdsaKeyPair::from_pkcs8(kind.ecdsa()?, der) {
                return Some((kind, secret(pair.to_pkcs8v1().ok()?.as_ref())));
            }
        }
        let pair = Ed25519KeyPair::from_pkcs8(der).ok()?;
        Some((Self::Ed25519, secret(pair.to_pkcs8v1().ok()?.as_ref())))
    }

    fn rsa_private(pair: &rsa::KeyPair) -> Option<(Self, SecretBytes)> {
        let kind = Self::rsa_of(pair.public_modulus_len())?;
        let pkcs8: Pkcs8V1Der<'_> = pair.as_der().ok()?;
        Some((kind, secret(pkcs8.as_ref())))
    }

    /// A public key a client registers, `der` in `format`: its kind and its
    /// `SubjectPublicKeyInfo` (the stored form). The DER given must be exactly the encoding
    /// `format` names: aws-lc-rs would also read a bare EC point or Ed25519 key, or PKCS#1
    /// where X.509 is announced, which a client announcing X.509 did not mean.
    pub(super) fn parse_public(
        format: KeyFormatType,
        der: &[u8],
    ) -> Result<(Self, SecretBytes), Refusal> {
        let parsed = match format {
            KeyFormatType::X509 => Self::public_from_spki(der),
            KeyFormatType::Pkcs1 => rsa::PublicKey::from_der(der).ok().and_then(|public| {
                if public.as_ref() != der {
                    return None;
                }
                let spki: PublicKeyX509Der<'_> = public.as_der().ok()?;
                Some((Self::rsa_of(public.modulus_len())?, secret(spki.as_ref())))
            }),
            _ => {
                return Err(unregistrable(
                    format,
                    "public keys are registered as X.509 (SubjectPublicKeyInfo) or PKCS#1 (RSA)",
                ));
            }
        };
        parsed.ok_or_else(|| unusable(format, "public"))
    }

    fn public_from_spki(der: &[u8]) -> Option<(Self, SecretBytes)> {
        let canonical = |spki: PublicKeyX509Der<'_>| (spki.as_ref() == der).then(|| secret(der));
        if let Ok(public) = rsa::PublicKey::from_der(der) {
            let kind = Self::rsa_of(public.modulus_len())?;
            return Some((kind, canonical(public.as_der().ok()?)?));
        }
        let curves: [(Self, &'static dyn VerificationAlgorithm); 3] = [
            (Self::P256, &ECDSA_P256_SHA256_ASN1),
            (Self::P384, &ECDSA_P384_SHA384_ASN1),
            (Self::Ed25519, &ED25519),
        ];
        curves.into_iter().find_map(|(kind, algorithm)| {
            let public = ParsedPublicKey::new(algorithm, der).ok()?;
            Some((kind, canonical(public.as_der().ok()?)?))
        })
    }

    /// The Cryptographic Length of keys of this kind, in bits.
    pub(super) fn bits(self) -> i32 {
        match self {
            Self::Rsa(size) => i32::try_from(size.len().saturating_mul(8)).unwrap_or(i32::MAX),
            Self::P256 | Self::Ed25519 => 256,
            Self::P384 => 384,
        }
    }

    /// The ECDSA signing algorithm of an EC kind.
    pub(super) fn ecdsa(self) -> Option<&'static EcdsaSigningAlgorithm> {
        match self {
            Self::P256 => Some(&ECDSA_P256_SHA256_ASN1_SIGNING),
            Self::P384 => Some(&ECDSA_P384_SHA384_ASN1_SIGNING),
            Self::Rsa(_) | Self::Ed25519 => None,
        }
    }

    /// A new key pair of this kind. RSA generation takes up to seconds: the caller runs it off
    /// the async workers.
    pub(super) fn generate(self) -> Result<KeyPairMaterial, Refusal> {
        self.generate_der().map_err(|Unspecified| {
            tracing::error!(kind = ?self, "aws-lc-rs failed to make a key pair");
            Refusal::new(
                ResultReason::CryptographicFailure,
                "the gateway could not make the key pair",
            )
        })
    }

    fn generate_der(self) -> Result<KeyPairMaterial, Unspecified> {
        let material = |private: &[u8], public: PublicKeyX509Der<'_>| KeyPairMaterial {
            private: secret(private),
            public: secret(public.as_ref()),
        };
        Ok(match self {
            Self::Rsa(size) => {
                let pair = rsa::KeyPair::generate(size)?;
                let private: Pkcs8V1Der<'_> = pair.as_der()?;
                material(private.as_ref(), pair.public_key().as_der()?)
            }
            Self::P256 | Self::P384 => {
                let pair = EcdsaKeyPair::generate(self.ecdsa().ok_or(Unspecified)?)?;
                material(pair.to_pkcs8v1()?.as_ref(), pair.public_key().as_der()?)
            }
            Self::Ed25519 => {
                let pair = Ed25519KeyPair::generate()?;
                material(pair.to_pkcs8v1()?.as_ref(), pair.public_key().as_der()?)
            }
        })
    }

    /// The format a Get of a key of this kind and `object_type` answers in when the client
    /// asks for `requested` (`None`: the default of the module's table), decided before the
    /// key is unwrapped.
    pub(super) fn format(
        self,
        object_type: ObjectType,
        requested: Option<KeyFormatType>,
    ) -> Result<KeyFormatType, Refusal> {
        let private = object_type == ObjectType::PrivateKey;
        let format = match requested {
            None if private => KeyFormatType::Pkcs8,
            None if matches!(self, Self::Rsa(_)) => KeyFormatType::Pkcs1,
            None => KeyFormatType::X509,
            Some(format) => format,
        };
        let (rsa, ec) = (matches!(self, Self::Rsa(_)), self.ecdsa().is_some());
        let offered = match format {
            KeyFormatType::Pkcs8 => private,
            KeyFormatType::X509 => !private,
            KeyFormatType::Pkcs1 => rsa,
            KeyFormatType::EcPrivateKey => private && ec,
            KeyFormatType::TransparentRsaPrivateKey => private && rsa,
            KeyFormatType::TransparentRsaPublicKey => !private && rsa,
            KeyFormatType::TransparentEcPrivateKey
            | KeyFormatType::TransparentEcdsaPrivateKey
            | KeyFormatType::TransparentEcdhPrivateKey
            | KeyFormatType::TransparentEcmqvPrivateKey => private && ec,
            KeyFormatType::TransparentEcPublicKey
            | KeyFormatType::TransparentEcdsaPublicKey
            | KeyFormatType::TransparentEcdhPublicKey
            | KeyFormatType::TransparentEcmqvPublicKey => !private && ec,
            _ => false,
        };
        if offered {
            Ok(format)
        } else {
            Err(Refusal::new(
                ResultReason::KeyFormatTypeNotSupported,
                format!(
                    "{} keys of this kind are returned as {}, not {format:?}",
                    if private { "private" } else { "public" },
                    match (private, self) {
                        (true, Self::Rsa(_)) => "PKCS#8, PKCS#1 or Transparent RSA Private Key",
                        (true, Self::P256 | Self::P384) => {
                            "PKCS#8, EC Private Key or Transparent EC Private Key"
                        }
                        (true, Self::Ed25519) => "PKCS#8",
                        (false, Self::Rsa(_)) => {
                            "X.509 (SubjectPublicKeyInfo), PKCS#1 or Transparent RSA Public Key"
                        }
                        (false, Self::P256 | Self::P384) => {
                            "X.509 (SubjectPublicKeyInfo) or Transparent EC Public Key"
                        }
                        (false, Self::Ed25519) => "X.509 (SubjectPublicKeyInfo)",
                    }
                ),
            ))
        }
    }

    /// `stored` (PKCS#8 or `SubjectPublicKeyInfo`, as `object_type` says) in `format`, which
    /// [`Self::format`] chose.
    pub(super) fn encode(
        self,
        object_type: ObjectType,
        format: KeyFormatType,
        stored: SecretBytes,
    ) -> Result<KeyMaterial, Refusal> {
        let private = object_type == ObjectType::PrivateKey;
        let bytes = |der: &[u8]| KeyMaterial::Bytes(secret(der));
        let converted = match format {
            KeyFormatType::EcPrivateKey => self
                .ecdsa()
                .ok_or(Unspecified)
                .and_then(|ecdsa| {
                    EcdsaKeyPair::from_pkcs8(ecdsa, &stored).map_err(Unspecified::from)
                })
                .and_then(|pair| pair.private_key().as_der())
                .map(|der| bytes(der.as_ref())),
            KeyFormatType::Pkcs1 if private => {
                transparent::rsa_private_pkcs1(&stored).map(KeyMaterial::Bytes)
            }
            KeyFormatType::Pkcs1 => rsa::PublicKey::from_der(&stored)
                .map(|public| bytes(public.as_ref()))
                .map_err(Unspecified::from),
            format if format.is_transparent() && private => transparent::private(self, &stored),
            format if format.is_transparent() => transparent::public(self, &stored),
            _ => return Ok(KeyMaterial::Bytes(stored)),
        };
        converted.map_err(|Unspecified| {
            tracing::error!(kind = ?self, ?format, "a stored key does not convert");
            Refusal::new(
                ResultReason::CryptographicFailure,
                "the stored key could not be converted to the format asked for",
            )
        })
    }
}

fn secret(der: &[u8]) -> SecretBytes {
    SecretBytes::new(der.to_vec())
}

/// The refusal for a key registered in a format the gateway does not take for its object type.
fn unregistrable(format: KeyFormatType, offered: &str) -> Refusal {
    Refusal::new(
        ResultReason::KeyFormatTypeNotSupported,
        format!("{offered}, not {format:?}"),
    )
}

/// The refusal for registered key material that is not a key of a kind the gateway uses, in
/// the format announced.
fn unusable(format: KeyFormatType, half: &str) -> Refusal {
    Refusal::new(
        ResultReason::InvalidField,
        format!(
            "the key material is not a {format:?} {half} key of a kind the gateway uses: RSA of \
             2048, 3072 or 4096 bits, EC on P-256 or P-384, or Ed25519"
        ),
    )
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{
        ECDSA_P384_SHA384_ASN1, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
    };

    use super::*;

    #[test]
    fn makes_pairs_whose_halves_belong_together() {
        let message = b"to be signed";
        let rsa = KeyKind::Rsa(KeySize::Rsa2048).generate().unwrap();
        let pair = rsa::KeyPair::from_pkcs8(&rsa.private).unwrap();
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            message,
            &mut signature,
        )
        .unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &rsa.public[..])
            .verify(message, &signature)
            .unwrap();

        let ec = KeyKind::P384.generate().unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &ec.private).unwrap();
        let signature = pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
            .unwrap();
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, &ec.public[..])
            .verify(message, signature.as_ref())
            .unwrap();

        let ed = KeyKind::Ed25519.generate().unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(&ed.private).unwrap();
        UnparsedPublicKey::new(&ED25519, &ed.public[..])
            .verify(message, pair.sign(message).as_ref())
            .unwrap();
    }

    /// The DER a conversion gave.
    fn der(material: KeyMaterial) -> SecretBytes {
        let KeyMaterial::Bytes(der) = material else {
            panic!("not DER")
        };
        der
    }

    #[test]
    fn converts_to_the_formats_offered_and_refuses_the_others() {
        let rsa = KeyKind::Rsa(KeySize::Rsa2048);
        let pair = rsa.generate().unwrap();
        let format = rsa
            .format(ObjectType::PublicKey, Some(KeyFormatType::Pkcs1))
            .unwrap();
        let pkcs1 = der(rsa
            .encode(ObjectType::PublicKey, format, pair.public.clone())
            .unwrap());
        assert_ne!(&pkcs1[..], &pair.public[..]);
        // PKCS#1 parses back to the same key.
        let again: PublicKeyX509Der<'_> =
            rsa::PublicKey::from_der(&pkcs1).unwrap().as_der().unwrap();
        assert_eq!(again.as_ref(), &pair.public[..]);
        // So does a private key's.
        let format = rsa
            .format(ObjectType::PrivateKey, Some(KeyFormatType::Pkcs1))
            .unwrap();
        let pkcs1 = der(rsa
            .encode(ObjectType::PrivateKey, format, pair.private.clone())
            .unwrap());
        let again: Pkcs8V1Der<'_> = rsa::KeyPair::from_der(&pkcs1).unwrap().as_der().unwrap();
        assert_eq!(again.as_ref(), &pair.private[..]);

        let ec = KeyKind::P256;
        let pair = ec.generate().unwrap();
        let format = ec
            .format(ObjectType::PrivateKey, Some(KeyFormatType::EcPrivateKey))
            .unwrap();
        let sec1 = der(ec
            .encode(ObjectType::PrivateKey, format, pair.private.clone())
            .unwrap());
        EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &sec1).unwrap();

        for (kind, object, format) in [
            (rsa, ObjectType::PrivateKey, KeyFormatType::X509),
            (rsa, ObjectType::PublicKey, KeyFormatType::Pkcs8),
            (
                rsa,
                ObjectType::PublicKey,
                KeyFormatType::TransparentRsaPrivateKey,
            ),
            (
                rsa,
                ObjectType::PrivateKey,
                KeyFormatType::TransparentEcPrivateKey,
            ),
            (ec, ObjectType::PublicKey, KeyFormatType::Pkcs1),
            (
                ec,
                ObjectType::PrivateKey,
                KeyFormatType::TransparentEcPublicKey,
            ),
            (
                ec,
                ObjectType::PublicKey,
                KeyFormatType::TransparentRsaPublicKey,
            ),
            (
                ec,
                ObjectType::PublicKey,
                KeyFormatType::TransparentDsaPublicKey,
            ),
            (
                KeyKind::Ed25519,
                ObjectType::PrivateKey,
                KeyFormatType::EcPrivateKey,
            ),
            (
                KeyKind::Ed25519,
                ObjectType::PrivateKey,
                KeyFormatType::TransparentEcPrivateKey,
            ),
            (ec, ObjectType::PublicKey, KeyFormatType::Raw),
        ] {
            let refusal = kind.format(object, Some(format)).unwrap_err();
            assert_eq!(
                refusal.reason,
                ResultReason::KeyFormatTypeNotSupported,
                "{kind:?} {object:?} {format:?}"
            );
        }
        assert_eq!(
            rsa.format(ObjectType::PublicKey, None).unwrap(),
            KeyFormatType::Pkcs1
        );
        assert_eq!(
            ec.format(ObjectType::PublicKey, None).unwrap(),
            KeyFormatType::X509
        );
        assert_eq!(
            ec.format(ObjectType::PrivateKey, None).unwrap(),
            KeyFormatType::Pkcs8
        );
    }

    #[test]
    fn registered_keys_are_read_in_every_format_and_stored_as_made_ones() {
        for kind in [
            KeyKind::Rsa(KeySize::Rsa2048),
            KeyKind::P256,
            KeyKind::P384,
            KeyKind::Ed25519,
        ] {
            let made = kind.generate().unwrap();
            let (private, pkcs8) =
                KeyKind::parse_private(KeyFormatType::Pkcs8, &made.private).unwrap();
            assert_eq!((private, &pkcs8[..]), (kind, &made.private[..]), "{kind:?}");
            let (public, spki) = KeyKind::parse_public(KeyFormatType::X509, &made.public).unwrap();
            assert_eq!((public, &spki[..]), (kind, &made.public[..]), "{kind:?}");
            // The other formats Get offers for this kind read back to the same stored form.
            if let Ok(format) =
                kind.format(ObjectType::PrivateKey, Some(KeyFormatType::EcPrivateKey))
            {
                let sec1 = der(kind
                    .encode(ObjectType::PrivateKey, format, made.private.clone())
                    .unwrap());
                let (_, again) = KeyKind::parse_private(format, &sec1).unwrap();
                assert_eq!(&again[..], &made.private[..], "{kind:?}");
            }
            if let Ok(format) = kind.format(ObjectType::PublicKey, Some(KeyFormatType::Pkcs1)) {
                let pkcs1 = der(kind
                    .encode(ObjectType::PublicKey, format, made.public.clone())
                    .unwrap());
                let (_, again) = KeyKind::parse_public(format, &pkcs1).unwrap();
                assert_eq!(&again[..], &made.public[..], "{kind:?}");
                // PKCS#1 is not taken where SubjectPublicKeyInfo is announced.
                let refusal = KeyKind::parse_public(KeyFormatType::X509, &pkcs1).unwrap_err();
                assert_eq!(refusal.reason, ResultReason::InvalidField);
            }
        }
        let ed = KeyKind::Ed25519.generate().unwrap();
        let bare = &ed.public[ed.public.len() - 32..];
        for refusal in [
            KeyKind::parse_public(KeyFormatType::X509, bare).unwrap_err(),
            KeyKind::parse_private(KeyFormatType::Pkcs1, &ed.private).unwrap_err(),
            KeyKind::parse_private(KeyFormatType::EcPrivateKey, &ed.private).unwrap_err(),
        ] {
            assert_eq!(refusal.reason, ResultReason::InvalidField);
        }
        for refusal in [
            KeyKind::parse_private(KeyFormatType::X509, &ed.private).unwrap_err(),
            KeyKind::parse_public(KeyFormatType::Pkcs8, &ed.public).unwrap_err(),
            KeyKind::parse_public(KeyFormatType::Raw, bare).unwrap_err(),
        ] {
            assert_eq!(refusal.reason, ResultReason::KeyFormatTypeNotSupported);
        }
        assert!(KeyKind::P384.is_named_by(CryptographicAlgorithm::Ecdsa));
        assert!(!KeyKind::Ed25519.is_named_by(CryptographicAlgorithm::Ec));
    }

    #[test]
    fn makes_the_kinds_and_lengths_it_names_and_no_other() {
        use CryptographicAlgorithm as A;
        for (algorithm, length, kind) in [
            (A::Rsa, Some(3072), KeyKind::Rsa(KeySize::Rsa3072)),
            (A::Ecdsa, Some(256), KeyKind::P256),
            (A::Ec, Some(384), KeyKind::P384),
            (A::Ed25519, None, KeyKind::Ed25519),
        ] {
            assert_eq!(KeyKind::of(algorithm, length).unwrap(), kind);
        }
        for (algorithm, length) in [
            (A::Rsa, Some(1024)),
            (A::Rsa, None),
            (A::Ecdsa, Some(521)),
            (A::Ed25519, Some(255)),
            (A::Aes, Some(256)),
            (A::Dsa, Some(2048)),
        ] {
            let refusal = KeyKind::of(algorithm, length).unwrap_err();
            assert_eq!(refusal.reason, ResultReason::InvalidField, "{algorithm:?}");
        }
        assert_eq!(KeyKind::Rsa(KeySize::Rsa4096).bits(), 4096);
    }
}
