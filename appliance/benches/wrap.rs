//! The cost of the AEAD behind every L4 wrap and unwrap and every sealed record: blob format 1
//! and record envelope version 1 (AES-256-GCM) against format 2 and version 2
//! (AES-256-GCM-SIV), each called as `hierarchy::gcm` and `store::sealed_record` call it — the
//! key read from guarded memory, aws-lc's randomized-nonce key built per call, sealed or opened
//! in place — on the sizes they see: a 32-byte data key with its format's associated data, and a
//! 256-byte record; and the seal alone, its key set up once, to show what the cipher itself
//! costs.
//!
//! Run with `cargo bench -p krypton-core --bench wrap`.

use std::hint::black_box;

use aws_lc_rs::aead::{
    AES_256_GCM, AES_256_GCM_SIV, Aad, Algorithm, NONCE_LEN, Nonce, RandomizedNonceKey,
};
use criterion::{Criterion, criterion_group, criterion_main};
use krypton_core::{SecretKey, WhenIdle};

/// A wrap's associated data in format 1: domain, L3 version, a UUID identifier.
fn aad_v1() -> Vec<u8> {
    [
        &b"krypton/l4-wrap/v1\0"[..],
        &1u32.to_be_bytes(),
        b"06064737-f32a-4e83-aae6-827fd5fee25d",
    ]
    .concat()
}

/// A wrap's associated data in format 2: domain, tenant, service, L3 version, owner and the
/// UUID identifier, the names each with their length.
fn aad_v2() -> Vec<u8> {
    [
        &b"krypton/l4-wrap/v2\0"[..],
        b"\x00\x04demo\x00\x03app",
        &1u32.to_be_bytes(),
        b"\x00\x09app-alice\x00\x2406064737-f32a-4e83-aae6-827fd5fee25d",
    ]
    .concat()
}

/// A record's associated data: label, family and record key.
fn aad_record(version: u8) -> Vec<u8> {
    [
        format!("krypton.record.v{version}").as_bytes(),
        b"\x08registry",
        b"demo/app-alice/06064737-f32a-4e83-aae6-827fd5fee25d",
    ]
    .concat()
}

fn seal(algorithm: &'static Algorithm, key: &SecretKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
    sealed.extend_from_slice(plaintext);
    let nonce = key
        .expose(|bytes| {
            RandomizedNonceKey::new(algorithm, bytes)?
                .seal_in_place_append_tag(Aad::from(aad), &mut sealed)
        })
        .expect("seal");
    [&nonce.as_ref()[..], &sealed].concat()
}

fn open(algorithm: &'static Algorithm, key: &SecretKey, aad: &[u8], blob: &[u8]) -> usize {
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let mut buffer = sealed.to_vec();
    key.expose(|bytes| {
        let nonce = Nonce::try_assume_unique_for_key(nonce)?;
        RandomizedNonceKey::new(algorithm, bytes)?
            .open_in_place(nonce, Aad::from(aad), &mut buffer)
            .map(|plain| plain.len())
    })
    .expect("open")
}

fn bench(
    c: &mut Criterion,
    group: &str,
    plaintext: &[u8],
    cases: [(&str, &'static Algorithm, Vec<u8>); 2],
) {
    // The guarded memory the core keeps L3s in: no access while idle.
    let key = SecretKey::random(WhenIdle::NoAccess).expect("guarded key");
    let mut group = c.benchmark_group(group);
    for (name, algorithm, aad) in &cases {
        let blob = seal(algorithm, &key, aad, plaintext);
        group.bench_function(format!("seal {name}"), |b| {
            b.iter(|| seal(algorithm, &key, black_box(aad), black_box(plaintext)));
        });
        group.bench_function(format!("open {name}"), |b| {
            b.iter(|| open(algorithm, &key, black_box(aad), black_box(&blob)));
        });
        // The cipher alone: the key set up once, outside guarded memory.
        let ready = key
            .expose(|bytes| RandomizedNonceKey::new(algorithm, bytes))
            .expect("key");
        group.bench_function(format!("seal {name}, cipher only"), |b| {
            b.iter(|| {
                let mut sealed = black_box(plaintext).to_vec();
                ready
                    .seal_in_place_append_tag(Aad::from(black_box(aad)), &mut sealed)
                    .expect("seal")
            });
        });
    }
    group.finish();
}

fn wraps(c: &mut Criterion) {
    bench(
        c,
        "l4 wrap (32-byte key)",
        &[0x5a; 32],
        [
            ("format 1 (GCM)", &AES_256_GCM, aad_v1()),
            ("format 2 (GCM-SIV)", &AES_256_GCM_SIV, aad_v2()),
        ],
    );
    bench(
        c,
        "sealed record (256 bytes)",
        &[0x5a; 256],
        [
            ("version 1 (GCM)", &AES_256_GCM, aad_record(1)),
            ("version 2 (GCM-SIV)", &AES_256_GCM_SIV, aad_record(2)),
        ],
    );
}

criterion_group!(benches, wraps);
criterion_main!(benches);
