//! The secrets a test looks for on disk: the master key rebuilt from the shares as the core
//! rebuilds it, the keys derived from it, the sealed records opened with them.

use std::path::PathBuf;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};

use super::Site;

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

/// Rebuilds the master key from `shares` (at least the threshold) and the stored key check,
/// as the core does.
pub fn master_key(site: &Site, shares: &[String]) -> [u8; 32] {
    let db = site.open_db();
    let meta = db.cf_handle("meta").unwrap();
    let stored = db.get_cf(meta, b"installation").unwrap().unwrap();
    let mut record: ciborium::Value = ciborium::from_reader(&stored[32..]).unwrap();
    let ciborium::Value::Array(bytes) = super::field(record.as_map_mut().unwrap(), "key_check")
    else {
        panic!("key_check is not an array");
    };
    let bytes: Vec<u8> = bytes
        .iter()
        .map(|b| u8::try_from(b.as_integer().unwrap()).unwrap())
        .collect();
    let key_check = shamir::KeyCheck::from_bytes(&bytes).unwrap();
    let parsed: Vec<shamir::Share> = shares.iter().map(|s| s.parse().unwrap()).collect();
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

/// Opens the sealed record at `key` in `family` with the record key, as the core does:
/// `version || nonce || ciphertext || tag`, associated data `"krypton.record.v1" || len(family)
/// || family || key`. Returns the CBOR value.
pub fn open_record(
    db: &rocksdb::DB,
    record_key: &[u8; 32],
    family: &str,
    key: &[u8],
) -> ciborium::Value {
    let cf = db.cf_handle(family).unwrap();
    let sealed = db.get_cf(cf, key).unwrap().unwrap();
    let aad = [
        b"krypton.record.v1".as_slice(),
        &[u8::try_from(family.len()).unwrap()],
        family.as_bytes(),
        key,
    ]
    .concat();
    let plain = gcm_open(record_key, &sealed[1..13], &aad, &sealed[13..]);
    ciborium::from_reader(plain.as_slice()).unwrap()
}

/// AES-256-GCM open of `sealed` (ciphertext || tag).
pub fn gcm_open(key: &[u8], nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Vec<u8> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
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
