//! The harness against a real SoftHSM2 module: tokens, L1 keys that never leave the HSM, and the
//! AES-GCM mechanism (tenant bound as AAD) that krypton-core uses to wrap a tenant's L2 under its L1.

use std::process::ExitCode;

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType};
use krypton_dev::softhsm::{Error, SoftHsm, Token};
use krypton_softhsm_tests::suite::{self, HsmTest};
use libtest_mimic::Failed;

const TESTS: [(&str, HsmTest); 4] = [
    (
        "l1_is_sensitive_and_never_extractable",
        l1_is_sensitive_and_never_extractable,
    ),
    ("l1_gcm_binds_the_tenant", l1_gcm_binds_the_tenant),
    ("deleted_l1_is_gone", deleted_l1_is_gone),
    ("tokens_are_isolated", tokens_are_isolated),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run_on_softhsm(&TESTS) }
}

fn gcm_encrypt(
    token: &Token<'_>,
    key: &str,
    aad: &[u8],
    plain: &[u8],
) -> Result<([u8; 12], Vec<u8>), Failed> {
    let key = token.find_key(key)?;
    token.with_session(|session| {
        let mut iv = [0u8; 12];
        session.generate_random_slice(&mut iv)?;
        let mut iv_param = iv;
        let params = GcmParams::new(&mut iv_param, aad, 128.into())?;
        let sealed = session.encrypt(&Mechanism::AesGcm(params), key, plain)?;
        Ok((iv, sealed))
    })
}

fn gcm_decrypt(
    token: &Token<'_>,
    key: &str,
    aad: &[u8],
    iv: [u8; 12],
    sealed: &[u8],
) -> Result<Vec<u8>, Failed> {
    let key = token.find_key(key)?;
    token.with_session(|session| {
        let mut iv = iv;
        let params = GcmParams::new(&mut iv, aad, 128.into())?;
        Ok(session.decrypt(&Mechanism::AesGcm(params), key, sealed)?)
    })
}

fn l1_is_sensitive_and_never_extractable(hsm: &SoftHsm) -> Result<(), Failed> {
    let token = hsm.create_token("attrs")?;
    token.generate_l1("l1-attrs")?;
    let key = token.find_key("l1-attrs")?;
    let attrs = token.with_session(|s| {
        s.get_attributes(
            key,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
            ],
        )
    })?;
    for attr in &attrs {
        match attr {
            Attribute::Sensitive(v) => assert!(*v, "CKA_SENSITIVE"),
            Attribute::Extractable(v) => assert!(!*v, "CKA_EXTRACTABLE"),
            Attribute::NeverExtractable(v) => assert!(*v, "CKA_NEVER_EXTRACTABLE"),
            other => return Err(format!("unexpected attribute {other:?}").into()),
        }
    }
    assert_eq!(attrs.len(), 3);
    // The key value itself is not readable: cryptoki omits attributes the token marks sensitive.
    let value = token.with_session(|s| s.get_attributes(key, &[AttributeType::Value]))?;
    assert!(value.is_empty(), "CKA_VALUE of an L1 must not be readable");
    Ok(())
}

fn l1_gcm_binds_the_tenant(hsm: &SoftHsm) -> Result<(), Failed> {
    let token = hsm.create_token("gcm")?;
    token.generate_l1("l1-gcm")?;
    let l2 = [0x5a_u8; 32];
    let (iv, sealed) = gcm_encrypt(&token, "l1-gcm", b"tenant:acme", &l2)?;
    assert_eq!(sealed.len(), 32 + 16, "ciphertext plus a 128-bit tag");
    assert_eq!(
        gcm_decrypt(&token, "l1-gcm", b"tenant:acme", iv, &sealed)?,
        l2
    );
    let other_tenant = gcm_decrypt(&token, "l1-gcm", b"tenant:evil", iv, &sealed);
    assert!(
        other_tenant.is_err(),
        "a blob wrapped for one tenant must not open for another"
    );
    Ok(())
}

fn deleted_l1_is_gone(hsm: &SoftHsm) -> Result<(), Failed> {
    let token = hsm.create_token("delete")?;
    token.generate_l1("l1-delete")?;
    let (iv, sealed) = gcm_encrypt(&token, "l1-delete", b"t", &[1; 32])?;
    token.delete_key("l1-delete")?;
    match token.find_key("l1-delete") {
        Err(Error::KeyNotFound(label)) => assert_eq!(label, "l1-delete"),
        other => return Err(format!("expected KeyNotFound, got {other:?}").into()),
    }
    assert!(gcm_decrypt(&token, "l1-delete", b"t", iv, &sealed).is_err());
    Ok(())
}

fn tokens_are_isolated(hsm: &SoftHsm) -> Result<(), Failed> {
    let a = hsm.create_token("iso-a")?;
    let b = hsm.create_token("iso-b")?;
    a.generate_l1("l1-iso")?;
    assert!(matches!(b.find_key("l1-iso"), Err(Error::KeyNotFound(_))));
    assert!(a.find_key("l1-iso").is_ok());
    Ok(())
}
