//! Encode and decode times of typical KMIP messages: the codec runs on every request.
//!
//! Run with `cargo bench -p kmip --bench codec`.

mod samples;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kmip::{
    CryptographicAlgorithm, DateTime, GetResponse, Item, KeyBlock, Limits, ManagedObject,
    RequestMessage, RequestPayload, ResponseBatchItem, ResponseHeader, ResponseMessage,
    SecretBytes, SymmetricKey, decode, encode,
};

fn bench_message(c: &mut Criterion, name: &str, message: &Item) {
    let limits = Limits::default();
    let mut wire = Vec::new();
    encode(message, &mut wire).expect("sample messages encode");

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(wire.len() as u64));
    let mut out = Vec::with_capacity(wire.len());
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            encode(black_box(message), &mut out).expect("sample messages encode");
        });
    });
    group.bench_function("decode", |b| {
        b.iter(|| decode(black_box(&wire), &limits).expect("sample messages decode"));
    });
    group.bench_function("decode+encode", |b| {
        b.iter(|| {
            let item = decode(black_box(&wire), &limits).expect("sample messages decode");
            out.clear();
            encode(&item, &mut out).expect("sample messages encode");
        });
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_message(c, "get_request", &samples::get_request());
    bench_message(c, "get_response_aes256", &samples::get_response());
    bench_message(c, "create_request", &samples::create_request());
}

/// What a server does for one Get on top of the codec: decode the request bytes into the typed
/// message, build the typed response carrying an AES-256 key, and encode it.
fn get_round_trip(c: &mut Criterion) {
    let limits = Limits::default();
    let mut request = Vec::new();
    encode(&samples::get_request(), &mut request).expect("sample messages encode");
    let mut out = Vec::with_capacity(512);
    c.bench_function("get_round_trip_typed", |b| {
        b.iter(|| {
            let item = decode(black_box(&request), &limits).expect("sample messages decode");
            let message = RequestMessage::from_item(&item).expect("a Get request");
            let RequestPayload::Get(get) = &message.batch_items[0].payload else {
                unreachable!("the sample is a Get request")
            };
            let key = SymmetricKey {
                key_block: KeyBlock::raw(
                    CryptographicAlgorithm::Aes,
                    SecretBytes::new(vec![7; 32]),
                ),
            };
            let response = ResponseMessage {
                header: ResponseHeader::new(
                    message.header.protocol_version,
                    DateTime(1_700_000_000),
                ),
                batch_items: vec![ResponseBatchItem::success(GetResponse {
                    unique_identifier: get
                        .unique_identifier
                        .as_ref()
                        .and_then(|id| id.as_text())
                        .unwrap_or_default()
                        .to_owned(),
                    object: ManagedObject::SymmetricKey(key),
                })],
            };
            out.clear();
            encode(&response.to_item(), &mut out).expect("responses encode");
        });
    });
}

criterion_group!(benches, codec, get_round_trip);
criterion_main!(benches);
