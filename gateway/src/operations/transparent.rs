//! The Transparent forms of the key pairs' halves: a stored RSA or EC key (PKCS#8 or
//! `SubjectPublicKeyInfo`, [`super::asymmetric`]) as the numbers a Get in a Transparent format
//! returns, and a key a client registers as numbers turned into DER, which
//! [`KeyKind::parse_private`] and [`KeyKind::parse_public`] then check and store as any other.
//!
//! No arithmetic is done here. aws-lc-rs builds the keys from their numbers — an RSA key pair
//! from all of them, which it checks belong together; an EC key pair from its private scalar
//! and the public point it computes for it — and gives an RSA public key's numbers and an EC
//! key pair's. An RSA private key's numbers, which aws-lc-rs does not give out, are read from
//! the PKCS#1 structure inside the stored PKCS#8 by the `pkcs8` and `pkcs1` crates, and an EC
//! public point from its `SubjectPublicKeyInfo`.
//!
//! Ed25519 keys have no Transparent form: KMIP's EC structures hold a curve scalar and point,
//! and an Ed25519 private key is a seed.

use aws_lc_rs::agreement::{self, ECDH_P256, ECDH_P384};
use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPrivateKeyBin, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::error::{KeyRejected, Unspecified};
use aws_lc_rs::rsa::{self, KeyPairComponents, PublicEncryptingKey, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, EcdsaKeyPair, ParsedPublicKey,
    VerificationAlgorithm,
};
use kmip::{
    KeyMaterial, RecommendedCurve, ResultReason, SecretBytes, SecretInteger,
    TransparentEcPrivateKey, TransparentEcPublicKey, TransparentRsaPrivateKey,
    TransparentRsaPublicKey,
};
use pkcs8::PrivateKeyInfo;
use pkcs8::der::asn1::UintRef;
use pkcs8::spki::SubjectPublicKeyInfoRef;
use zeroize::Zeroizing;

use super::asymmetric::KeyKind;
use crate::refusal::Refusal;

/// The PKCS#1 `RSAPrivateKey` inside the PKCS#8 of an RSA private key.
pub(super) fn rsa_private_pkcs1(pkcs8: &[u8]) -> Result<SecretBytes, Unspecified> {
    let info = PrivateKeyInfo::try_from(pkcs8).map_err(|_| Unspecified)?;
    Ok(SecretBytes::from(info.private_key))
}

/// The stored private key `pkcs8`, of `kind`, as its Transparent structure.
pub(super) fn private(kind: KeyKind, pkcs8: &[u8]) -> Result<KeyMaterial, Unspecified> {
    if let KeyKind::Rsa(_) = kind {
        let pkcs1 = rsa_private_pkcs1(pkcs8)?;
        let key = pkcs1::RsaPrivateKey::try_from(&pkcs1[..]).map_err(|_| Unspecified)?;
        let number = |value: UintRef<'_>| SecretInteger::from_be_bytes(value.as_bytes());
        return Ok(KeyMaterial::TransparentRsaPrivateKey(Box::new(
            TransparentRsaPrivateKey {
                modulus: number(key.modulus),
                private_exponent: Some(number(key.private_exponent)),
                public_exponent: Some(number(key.public_exponent)),
                p: Some(number(key.prime1)),
                q: Some(number(key.prime2)),
                prime_exponent_p: Some(number(key.exponent1)),
                prime_exponent_q: Some(number(key.exponent2)),
                crt_coefficient: Some(number(key.coefficient)),
            },
        )));
    }
    let curve = curve_of(kind).ok_or(Unspecified)?;
    let pair = EcdsaKeyPair::from_pkcs8(kind.ecdsa().ok_or(Unspecified)?, pkcs8)?;
    let d: EcPrivateKeyBin<'_> = pair.private_key().as_be_bytes()?;
    Ok(KeyMaterial::TransparentEcPrivateKey(
        TransparentEcPrivateKey {
            recommended_curve: curve,
            d: SecretInteger::from_be_bytes(d.as_ref()),
        },
    ))
}

/// The stored public key `spki`, of `kind`, as its Transparent structure.
pub(super) fn public(kind: KeyKind, spki: &[u8]) -> Result<KeyMaterial, Unspecified> {
    if let KeyKind::Rsa(_) = kind {
        let key = rsa::PublicKey::from_der(spki)?;
        let number = |value: &[u8]| SecretInteger::from_be_bytes(value);
        return Ok(KeyMaterial::TransparentRsaPublicKey(Box::new(
            TransparentRsaPublicKey {
                modulus: number(key.modulus().big_endian_without_leading_zero()),
                public_exponent: number(key.exponent().big_endian_without_leading_zero()),
            },
        )));
    }
    let curve = curve_of(kind).ok_or(Unspecified)?;
    let info = SubjectPublicKeyInfoRef::try_from(spki).map_err(|_| Unspecified)?;
    let point = info.subject_public_key.as_bytes().ok_or(Unspecified)?;
    Ok(KeyMaterial::TransparentEcPublicKey(
        TransparentEcPublicKey {
            recommended_curve: curve,
            q_string: point.to_vec(),
        },
    ))
}

/// The PKCS#8 of a private key a client registers as a Transparent RSA or EC structure.
pub(super) fn private_der(material: &KeyMaterial) -> Result<SecretBytes, Refusal> {
    match material {
        KeyMaterial::TransparentRsaPrivateKey(key) => rsa_private_der(key),
        KeyMaterial::TransparentEcPrivateKey(key) => ec_private_der(key),
        _ => Err(Refusal::new(
            ResultReason::KeyFormatTypeNotSupported,
            "a private key is registered as PKCS#8, PKCS#1, EC Private Key, or a Transparent \
             RSA or EC Private Key",
        )),
    }
}

/// The `SubjectPublicKeyInfo` of a public key a client registers as a Transparent RSA or EC
/// structure.
pub(super) fn public_der(material: &KeyMaterial) -> Result<SecretBytes, Refusal> {
    let spki = match material {
        KeyMaterial::TransparentRsaPublicKey(key) => {
            let components = PublicKeyComponents {
                n: rsa_number(&key.modulus)?,
                e: rsa_number(&key.public_exponent)?,
            };
            let key: PublicEncryptingKey = components
                .try_into()
                .map_err(|Unspecified| not_a_key("RSA public"))?;
            key.as_der()
        }
        KeyMaterial::TransparentEcPublicKey(key) => {
            let (_, curve) = curve_named(key.recommended_curve)?;
            // Uncompressed, as the Key Block (which names no compression) says it is.
            if key.q_string.first() != Some(&0x04) {
                return Err(not_a_key("uncompressed EC public"));
            }
            ParsedPublicKey::new(curve.verification, &key.q_string)
                .map_err(|_| not_a_key("EC public"))?
                .as_der()
        }
        _ => {
            return Err(Refusal::new(
                ResultReason::KeyFormatTypeNotSupported,
                "a public key is registered as X.509 (SubjectPublicKeyInfo), PKCS#1, or a \
                 Transparent RSA or EC Public Key",
            ));
        }
    };
    let spki: PublicKeyX509Der<'_> = spki.map_err(|Unspecified| not_a_key("public"))?;
    Ok(SecretBytes::from(spki.as_ref()))
}

fn rsa_private_der(key: &TransparentRsaPrivateKey) -> Result<SecretBytes, Refusal> {
    let (Some(d), Some(e), Some(p), Some(q), Some(dp), Some(dq), Some(q_inv)) = (
        &key.private_exponent,
        &key.public_exponent,
        &key.p,
        &key.q,
        &key.prime_exponent_p,
        &key.prime_exponent_q,
        &key.crt_coefficient,
    ) else {
        return Err(Refusal::new(
            ResultReason::InvalidField,
            "a Transparent RSA Private Key is registered with all of its numbers: the private \
             and public exponents, P, Q, both prime exponents and the CRT coefficient",
        ));
    };
    let components = KeyPairComponents {
        public_key: PublicKeyComponents {
            n: rsa_number(&key.modulus)?,
            e: rsa_number(e)?,
        },
        d: rsa_number(d)?,
        p: rsa_number(p)?,
        q: rsa_number(q)?,
        dP: rsa_number(dp)?,
        dQ: rsa_number(dq)?,
        qInv: rsa_number(q_inv)?,
    };
    let pair = rsa::KeyPair::from_components(&components)
        .map_err(|_: KeyRejected| not_a_key("RSA private"))?;
    let pkcs8: Pkcs8V1Der<'_> = pair
        .as_der()
        .map_err(|Unspecified| not_a_key("RSA private"))?;
    Ok(SecretBytes::from(pkcs8.as_ref()))
}

/// The largest RSA number taken, checked before aws-lc-rs reads it: the modulus of the largest
/// key the gateway uses (4096 bits), which no other number of the key exceeds.
const MAX_RSA_NUMBER_LEN: usize = 512;

/// An RSA number as aws-lc-rs takes it, if it is not larger than any the gateway uses.
fn rsa_number(number: &SecretInteger) -> Result<&[u8], Refusal> {
    let bytes = number.be_bytes();
    if bytes.is_empty() || bytes.len() > MAX_RSA_NUMBER_LEN {
        return Err(not_a_key("RSA"));
    }
    Ok(bytes)
}

fn ec_private_der(key: &TransparentEcPrivateKey) -> Result<SecretBytes, Refusal> {
    let (kind, curve) = curve_named(key.recommended_curve)?;
    // The scalar at the curve's full length, as aws-lc-rs takes it.
    let d = key.d.be_bytes();
    let Some(padding) = curve.scalar_len.checked_sub(d.len()) else {
        return Err(not_a_key("EC private"));
    };
    let mut scalar = Zeroizing::new(vec![0; padding]);
    scalar.extend_from_slice(d);
    let pair = agreement::PrivateKey::from_private_key(curve.agreement, &scalar)
        .map_err(Unspecified::from)
        .and_then(|private| private.compute_public_key())
        .and_then(|public| {
            let ecdsa = kind.ecdsa().ok_or(Unspecified)?;
            EcdsaKeyPair::from_private_key_and_public_key(ecdsa, &scalar, public.as_ref())
                .map_err(Unspecified::from)
        })
        .and_then(|pair| pair.to_pkcs8v1())
        .map_err(|Unspecified| not_a_key("EC private"))?;
    Ok(SecretBytes::from(pair.as_ref()))
}

/// What aws-lc-rs needs of a curve the gateway uses.
struct Curve {
    agreement: &'static agreement::Algorithm,
    verification: &'static dyn VerificationAlgorithm,
    scalar_len: usize,
}

const P256: Curve = Curve {
    agreement: &ECDH_P256,
    verification: &ECDSA_P256_SHA256_ASN1,
    scalar_len: 32,
};

const P384: Curve = Curve {
    agreement: &ECDH_P384,
    verification: &ECDSA_P384_SHA384_ASN1,
    scalar_len: 48,
};

/// The Recommended Curve of an EC kind.
fn curve_of(kind: KeyKind) -> Option<RecommendedCurve> {
    match kind {
        KeyKind::P256 => Some(RecommendedCurve::P256),
        KeyKind::P384 => Some(RecommendedCurve::P384),
        KeyKind::Rsa(_) | KeyKind::Ed25519 => None,
    }
}

/// The EC kind and curve a registered key's Recommended Curve names, if the gateway uses it.
fn curve_named(curve: RecommendedCurve) -> Result<(KeyKind, Curve), Refusal> {
    match curve {
        RecommendedCurve::P256 => Ok((KeyKind::P256, P256)),
        RecommendedCurve::P384 => Ok((KeyKind::P384, P384)),
        other => Err(Refusal::new(
            ResultReason::InvalidField,
            format!("EC keys are registered on P-256 or P-384, not {other:?}"),
        )),
    }
}

fn not_a_key(what: &str) -> Refusal {
    Refusal::new(
        ResultReason::InvalidField,
        format!(
            "the numbers given are not a {what} key of a kind the gateway uses: RSA of 2048, \
             3072 or 4096 bits, EC on P-256 or P-384"
        ),
    )
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::KeySize;
    use kmip::{KeyFormatType, ObjectType};

    use super::*;

    fn numbers(
        kind: KeyKind,
        object: ObjectType,
        format: KeyFormatType,
    ) -> (SecretBytes, KeyMaterial) {
        let made = kind.generate().unwrap();
        let stored = if object == ObjectType::PrivateKey {
            made.private
        } else {
            made.public
        };
        let format = kind.format(object, Some(format)).unwrap();
        let material = kind.encode(object, format, stored.clone()).unwrap();
        (stored, material)
    }

    /// Every RSA and EC kind, both halves: the numbers a Get gives make, registered, the very
    /// key that was stored.
    #[test]
    fn numbers_given_out_register_as_the_same_key() {
        let kinds = [
            KeyKind::Rsa(KeySize::Rsa2048),
            KeyKind::Rsa(KeySize::Rsa4096),
            KeyKind::P256,
            KeyKind::P384,
        ];
        for kind in kinds {
            let (private_format, public_format) = match kind {
                KeyKind::Rsa(_) => (
                    KeyFormatType::TransparentRsaPrivateKey,
                    KeyFormatType::TransparentRsaPublicKey,
                ),
                _ => (
                    KeyFormatType::TransparentEcdsaPrivateKey,
                    KeyFormatType::TransparentEcPublicKey,
                ),
            };
            let (stored, material) = numbers(kind, ObjectType::PrivateKey, private_format);
            let (again, pkcs8) =
                KeyKind::parse_private(KeyFormatType::Pkcs8, &private_der(&material).unwrap())
                    .unwrap();
            assert_eq!((again, &pkcs8[..]), (kind, &stored[..]), "{kind:?}");

            let (stored, material) = numbers(kind, ObjectType::PublicKey, public_format);
            let (again, spki) =
                KeyKind::parse_public(KeyFormatType::X509, &public_der(&material).unwrap())
                    .unwrap();
            assert_eq!((again, &spki[..]), (kind, &stored[..]), "{kind:?}");
        }
    }

    fn refusal(result: Result<SecretBytes, Refusal>) -> ResultReason {
        result.map(drop).unwrap_err().reason
    }

    /// Numbers that do not make a key the gateway uses are refused as an Invalid Field, before
    /// anything is stored: missing, inconsistent, oversized, off the curve, on another curve.
    #[test]
    fn numbers_that_make_no_usable_key_are_refused() {
        let kind = KeyKind::Rsa(KeySize::Rsa2048);
        let (_, material) = numbers(
            kind,
            ObjectType::PrivateKey,
            KeyFormatType::TransparentRsaPrivateKey,
        );
        let KeyMaterial::TransparentRsaPrivateKey(rsa) = material else {
            panic!()
        };
        let with = |change: &dyn Fn(&mut TransparentRsaPrivateKey)| {
            let mut key = rsa.clone();
            change(&mut key);
            private_der(&KeyMaterial::TransparentRsaPrivateKey(key))
        };
        // The modulus and private exponent alone; a CRT value that does not belong; a modulus
        // of 8192 bits.
        for result in [
            with(&|key| key.p = None),
            with(&|key| key.crt_coefficient = Some(SecretInteger::from_be_bytes(&[7; 100]))),
            with(&|key| key.modulus = SecretInteger::from_be_bytes(&[0xC1; 1024])),
        ] {
            assert_eq!(refusal(result), ResultReason::InvalidField);
        }

        let ec = |curve, d: &[u8]| {
            private_der(&KeyMaterial::TransparentEcPrivateKey(
                TransparentEcPrivateKey {
                    recommended_curve: curve,
                    d: SecretInteger::from_be_bytes(d),
                },
            ))
        };
        // A short scalar is taken (it is padded to the curve's length); zero, one past the
        // order of P-256, a scalar longer than the curve's, and a curve not used are not.
        assert!(ec(RecommendedCurve::P256, &[5]).is_ok());
        for result in [
            ec(RecommendedCurve::P256, &[]),
            ec(RecommendedCurve::P256, &[0xFF; 32]),
            ec(RecommendedCurve::P256, &[1; 33]),
            ec(RecommendedCurve::P521, &[1; 66]),
        ] {
            assert_eq!(refusal(result), ResultReason::InvalidField);
        }

        let (_, material) = numbers(
            KeyKind::P256,
            ObjectType::PublicKey,
            KeyFormatType::TransparentEcPublicKey,
        );
        let KeyMaterial::TransparentEcPublicKey(point) = material else {
            panic!()
        };
        let public = |change: &dyn Fn(&mut TransparentEcPublicKey)| {
            let mut key = point.clone();
            change(&mut key);
            public_der(&KeyMaterial::TransparentEcPublicKey(key))
        };
        for result in [
            // Compressed (its X alone), off the curve, on the other curve.
            public(&|key| {
                key.q_string.truncate(33);
                key.q_string[0] = 2;
            }),
            public(&|key| key.q_string[64] ^= 1),
            public(&|key| key.recommended_curve = RecommendedCurve::P384),
        ] {
            assert_eq!(refusal(result), ResultReason::InvalidField);
        }

        // A private structure where a public key is registered, and the other way round.
        let private = KeyMaterial::TransparentRsaPrivateKey(rsa);
        assert_eq!(
            refusal(public_der(&private)),
            ResultReason::KeyFormatTypeNotSupported
        );
        assert_eq!(
            refusal(private_der(&KeyMaterial::TransparentEcPublicKey(point))),
            ResultReason::KeyFormatTypeNotSupported
        );
    }
}
