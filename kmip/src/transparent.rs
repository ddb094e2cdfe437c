//! The Transparent public and private key structures: a key's numbers as Big Integers (and an
//! EC point as a byte string) instead of one DER encoding (the Key Material Object Structures
//! of KMIP 1.4 §2.1.7). RSA keys and EC keys on a named curve are modelled; the DSA and DH structures are
//! refused on decode, as keys of kinds Krypton does not keep.
//!
//! KMIP 1.0–1.2 name an EC key's structure after its use (Transparent ECDSA, ECDH and ECMQV
//! Private and Public Key); 1.3 added Transparent EC Private and Public Key, and 2.0 kept only
//! those. All have the same fields, so one type models each half, and the Key Block's Key
//! Format Type says which name it went under.

use crate::enums::RecommendedCurve;
use crate::secret::SecretInteger;
use crate::structure::kmip_struct;

kmip_struct! {
    /// A Transparent RSA Public Key.
    pub struct TransparentRsaPublicKey {
        pub modulus: required SecretInteger => MODULUS,
        pub public_exponent: required SecretInteger => PUBLIC_EXPONENT,
    }
}

kmip_struct! {
    /// A Transparent RSA Private Key. Only the modulus is required: KMIP lets a client send the
    /// private exponent alone, or the primes and CRT values without it; a server that uses the
    /// key decides which it needs.
    pub struct TransparentRsaPrivateKey {
        pub modulus: required SecretInteger => MODULUS,
        pub private_exponent: optional SecretInteger => PRIVATE_EXPONENT,
        pub public_exponent: optional SecretInteger => PUBLIC_EXPONENT,
        pub p: optional SecretInteger => P,
        pub q: optional SecretInteger => Q,
        pub prime_exponent_p: optional SecretInteger => PRIME_EXPONENT_P,
        pub prime_exponent_q: optional SecretInteger => PRIME_EXPONENT_Q,
        pub crt_coefficient: optional SecretInteger => CRT_COEFFICIENT,
    }
}

kmip_struct! {
    /// A Transparent EC Private Key (or a 1.x Transparent ECDSA, ECDH or ECMQV Private Key):
    /// the curve and the private scalar D.
    pub struct TransparentEcPrivateKey {
        pub recommended_curve: required RecommendedCurve => RECOMMENDED_CURVE,
        pub d: required SecretInteger => D,
    }
}

kmip_struct! {
    /// A Transparent EC Public Key (or a 1.x Transparent ECDSA, ECDH or ECMQV Public Key): the
    /// curve and the point Q as an octet string (SEC 1 §2.3.3; uncompressed unless the Key
    /// Block names a Key Compression Type).
    pub struct TransparentEcPublicKey {
        pub recommended_curve: required RecommendedCurve => RECOMMENDED_CURVE,
        pub q_string: required Vec<u8> => Q_STRING,
    }
}
