//! The secrets a test looks for on disk, recovered as only someone with K shares AND the
//! customer's HSM could: the master key rebuilt from the shares as the core rebuilds it, the
//! keys derived from it, the sealed records opened with them, a tenant's L2 unwrapped by its L1
//! and its services' L3s, and data keys (L4) wrapped as the core wraps them.
//!
//! Everything is read from the formats the core documents, never through the core. Shared with
//! the end-to-end suites (softhsm-tests includes this file), so it names nothing of the test
//! harness around it.

use std::path::PathBuf;

use aws_lc_rs::aead::{
    AES_256_GCM, AES_256_GCM_SIV, Aad, Algorithm, LessSafeKey, Nonce, RandomizedNonceKey,
    UnboundKey,
};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use krypton_dev::softhsm::Token;

/// Asserts that none of `files` contains any of `secrets`, and that files of each of the
/// `kinds` were there to search.
pub fn assert_absent(files: &[(PathBuf, Vec<u8>)], secrets: &[(String, Vec<u8>)], kinds: &[&str]) {
    let names: Vec<String> = files
        .iter()
        .map(|(path, _)| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for kind in kinds {
        assert!(
            names.iter().any(|name| name.contains(kind)),
            "expected a {kind} file among {names:?}"
        );
    }
    for (path, contents) in files {
        for (what, secret) in secrets {
            assert!(
                !contents
                    .windows(secret.len())
                    .any(|window| window == secret.as_slice()),
                "{what} found in {}",
                path.display()
            );
        }
    }
}

/// The value of field `name` of a CBOR map.
pub fn field<'a>(
    fields: &'a mut [(ciborium::Value, ciborium::Value)],
    name: &str,
) -> &'a mut ciborium::Value {
    &mut fields
        .iter_mut()
        .find(|(key, _)| key.as_text() == Some(name))
        .unwrap_or_else(|| panic!("no field {name}"))
        .1
}

/// Rebuilds the master key from `shares` (at least the threshold) and the key check stored in
/// the core's database `db`, as the core does.
pub fn master_key(db: &rocksdb::DB, shares: &[String]) -> [u8; 32] {
    let meta = db.cf_handle("meta").unwrap();
    let stored = db.get_cf(meta, b"installation").unwrap().unwrap();
    let mut record: ciborium::Value = ciborium::from_reader(&stored[32..]).unwrap();
    let ciborium::Value::Array(bytes) = field(record.as_map_mut().unwrap(), "key_check") else {
        panic!("key_check is not an array");
    };
    let bytes: Vec<u8> = bytes
        .iter()
        .map(|b| u8::try_from(b.as_integer().unwrap()).unwrap())
        .collect();
    let key_check = shamir::KeyCheck::from_bytes(&bytes).unwrap();
    let parsed: Vec<shamir::Share> = shares.iter().map(|s| s.trim().parse().unwrap()).collect();
    let mut master = [0u8; 32];
    shamir::combine_into(&parsed, &key_check, &mut master).unwrap();
    master
}

/// The core's documented derivation: HKDF-SHA256, no salt, `info` = the purpose label.
pub fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Salt::new(HKDF_SHA256, &[])
        .extract(master)
        .expand(&[label], HKDF_SHA256)
        .unwrap()
        .fill(&mut out)
        .unwrap();
    out
}

/// The record key: what seals every record of the store.
pub fn record_key(master: &[u8; 32]) -> [u8; 32] {
    derive(master, b"krypton/v1/record-seal")
}

/// Opens the sealed record at `key` in `family` with the record key, as the core does.
/// Version 3 (every write): `3 || key version (4, big-endian) || nonce || ciphertext || tag`,
/// AES-256-GCM-SIV, associated data `"krypton.record.v3" || key version || len(family) ||
/// family || key`. Versions 2 (AES-256-GCM-SIV) and 1 (AES-256-GCM) have no key version:
/// `version || nonce || ciphertext || tag`, labels `"krypton.record.v2"` and
/// `"krypton.record.v1"`. Returns the CBOR value.
pub fn open_record(
    db: &rocksdb::DB,
    record_key: &[u8; 32],
    family: &str,
    key: &[u8],
) -> ciborium::Value {
    let cf = db.cf_handle(family).unwrap();
    let sealed = db.get_cf(cf, key).unwrap().unwrap();
    let (algorithm, label, key_version): (_, &[u8], &[u8]) = match sealed[0] {
        1 => (&AES_256_GCM, b"krypton.record.v1", &[]),
        2 => (&AES_256_GCM_SIV, b"krypton.record.v2", &[]),
        3 => (&AES_256_GCM_SIV, b"krypton.record.v3", &sealed[1..5]),
        other => panic!("record envelope version {other}"),
    };
    let aad = [
        label,
        key_version,
        &[u8::try_from(family.len()).unwrap()],
        family.as_bytes(),
        key,
    ]
    .concat();
    let nonce_at = 1 + key_version.len();
    let body = &sealed[nonce_at..];
    let plain = aead_open(algorithm, record_key, &body[..12], &aad, &body[12..]);
    ciborium::from_reader(plain.as_slice()).unwrap()
}

/// Whether `sealed`, stored at `key` in `family`, opens under `record_key` as key version 1
/// (envelope version 3, as [`open_record`] reads it).
pub fn opens_under(record_key: &[u8; 32], family: &str, key: &[u8], sealed: &[u8]) -> bool {
    let version_1 = 1u32.to_be_bytes();
    let aad = [
        &b"krypton.record.v3"[..],
        &version_1,
        &[u8::try_from(family.len()).unwrap()],
        family.as_bytes(),
        key,
    ]
    .concat();
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM_SIV, record_key).unwrap());
    let nonce = Nonce::try_assume_unique_for_key(&sealed[5..17]).unwrap();
    let mut buffer = sealed[17..].to_vec();
    sealed[0] == 3
        && sealed[1..5] == version_1
        && key
            .open_in_place(nonce, Aad::from(&aad[..]), &mut buffer)
            .is_ok()
}

/// AES-256-GCM open of `sealed` (ciphertext || tag).
pub fn gcm_open(key: &[u8], nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Vec<u8> {
    aead_open(&AES_256_GCM, key, nonce, aad, sealed)
}

/// `algorithm` open of `sealed` (ciphertext || tag).
pub fn aead_open(
    algorithm: &'static Algorithm,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Vec<u8> {
    let key = LessSafeKey::new(UnboundKey::new(algorithm, key).unwrap());
    let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
    let mut buffer = sealed.to_vec();
    let len = key
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .unwrap()
        .len();
    buffer.truncate(len);
    buffer
}

/// The bytes of a CBOR field written by serde from a `Vec<u8>` (an array of integers).
pub fn bytes(value: &ciborium::Value) -> Vec<u8> {
    match value {
        ciborium::Value::Bytes(bytes) => bytes.clone(),
        ciborium::Value::Array(items) => items
            .iter()
            .map(|b| u8::try_from(b.as_integer().unwrap()).unwrap())
            .collect(),
        other => panic!("not bytes: {other:?}"),
    }
}

/// `tenant`'s L2: its stored wrapped L2 (`version (1) || … || IV (12) at 6 || … || ciphertext
/// and tag from 20`) decrypted in the HSM by the L1 labelled `l1`, associated data
/// `"krypton/l2-wrap/v1\0" || tenant`.
pub fn tenant_l2(
    db: &rocksdb::DB,
    record_key: &[u8; 32],
    token: &Token<'_>,
    tenant: &str,
    l1: &str,
) -> Vec<u8> {
    let mut record = open_record(db, record_key, "tenants", tenant.as_bytes());
    let wrapped = bytes(field(record.as_map_mut().unwrap(), "wrapped_l2"));
    let (mut iv, sealed) = (
        <[u8; 12]>::try_from(&wrapped[6..18]).unwrap(),
        &wrapped[20..],
    );
    let aad = [b"krypton/l2-wrap/v1\0".as_slice(), tenant.as_bytes()].concat();
    let l1 = token.find_key(l1).unwrap();
    let l2 = token
        .with_session(|session| {
            let params = GcmParams::new(&mut iv, &aad, 128.into())?;
            session.decrypt(&Mechanism::AesGcm(params), l1, sealed)
        })
        .unwrap();
    assert_eq!(l2.len(), 32);
    l2
}

/// Every version of `tenant`'s `service` L3, oldest first: each `IV (12) || ciphertext || tag`
/// under the L2, associated data `"krypton/l3-wrap/v1\0" || tenant || 0 || service || 0 ||
/// version`.
pub fn service_l3s(
    db: &rocksdb::DB,
    record_key: &[u8; 32],
    l2: &[u8],
    tenant: &str,
    service: &str,
) -> Vec<Vec<u8>> {
    let key = format!("{tenant}/{service}");
    let mut record = open_record(db, record_key, "services", key.as_bytes());
    let ciborium::Value::Array(versions) = field(record.as_map_mut().unwrap(), "versions").clone()
    else {
        panic!("versions is not an array")
    };
    versions
        .iter()
        .enumerate()
        .map(|(index, version)| {
            let stored = bytes(version);
            let number = u32::try_from(index + 1).unwrap();
            let aad = [
                b"krypton/l3-wrap/v1\0".as_slice(),
                tenant.as_bytes(),
                b"\0",
                service.as_bytes(),
                b"\0",
                &number.to_be_bytes(),
            ]
            .concat();
            let l3 = gcm_open(l2, &stored[..12], &aad, &stored[12..]);
            assert_eq!(l3.len(), 32);
            l3
        })
        .collect()
}

/// A wrapped L4 of format 1, as the core wrote it before blobs were bound to their owner:
/// `1 || L3 version || IV (12) || AES-256-GCM(l4) || tag`, associated data
/// `"krypton/l4-wrap/v1\0" || L3 version || id`.
pub fn wrap_l4_v1(l3: &[u8], version: u32, id: &str, l4: &[u8]) -> Vec<u8> {
    let aad = [
        b"krypton/l4-wrap/v1\0".as_slice(),
        &version.to_be_bytes(),
        id.as_bytes(),
    ]
    .concat();
    let key = RandomizedNonceKey::new(&AES_256_GCM, l3).unwrap();
    let mut sealed = l4.to_vec();
    let nonce = key
        .seal_in_place_append_tag(Aad::from(aad), &mut sealed)
        .unwrap();
    [&[1u8][..], &version.to_be_bytes(), nonce.as_ref(), &sealed].concat()
}

/// Opens a wrapped L4 of format 2 with its L3, from the documented layout: `2 || L3 version ||
/// nonce (12) || AES-256-GCM-SIV(l4) || tag`, associated data `"krypton/l4-wrap/v2\0" ||
/// len16(tenant) || tenant || len16(service) || service || L3 version || len16(owner) ||
/// owner || len16(id) || id`.
pub fn open_l4_v2(
    l3: &[u8],
    tenant: &str,
    service: &str,
    owner: &str,
    id: &str,
    blob: &[u8],
) -> Vec<u8> {
    assert_eq!(blob[0], 2, "format 2");
    let with_length = |field: &str| {
        [
            &u16::try_from(field.len()).unwrap().to_be_bytes()[..],
            field.as_bytes(),
        ]
        .concat()
    };
    let aad = [
        b"krypton/l4-wrap/v2\0".to_vec(),
        with_length(tenant),
        with_length(service),
        blob[1..5].to_vec(),
        with_length(owner),
        with_length(id),
    ]
    .concat();
    aead_open(&AES_256_GCM_SIV, l3, &blob[5..17], &aad, &blob[17..])
}
