//! Core benchmarks: canonical JSON, event hashing and signing, signature checks. Each runs
//! beside ruma's equivalent on the same input where one exists, so the ratio is from one run.

use criterion::{Criterion, criterion_group, criterion_main};
use rechain_benches::sample_event;
use rechain_server::core::{
    canonical_json,
    signing::{self, SigningKey},
};
use ruma::{CanonicalJsonValue, room_version_rules::RedactionRules};

fn canonical(c: &mut Criterion) {
    let event = sample_event();
    let mut group = c.benchmark_group("canonical_json/event");
    group.bench_function("rechain", |b| {
        b.iter(|| canonical_json::canonicalize(std::hint::black_box(&event)).unwrap())
    });
    group.bench_function("ruma", |b| {
        b.iter(|| {
            let value = CanonicalJsonValue::try_from(std::hint::black_box(&event).clone()).unwrap();
            value.to_string()
        })
    });
    group.finish();
}

fn sign_and_verify(c: &mut Criterion) {
    let key = SigningKey::from_seed("bench", [9; 32]).unwrap();
    let event = sample_event();
    c.bench_function("event/hash_and_sign", |b| {
        b.iter(|| {
            let mut e = event.clone();
            key.hash_and_sign_event("example.org", &mut e, &RedactionRules::V11)
                .unwrap();
            e
        })
    });
    let mut signed = event.clone();
    key.hash_and_sign_event("example.org", &mut signed, &RedactionRules::V11)
        .unwrap();
    let keys = key.public_key_map("example.org");
    let mut object = serde_json::json!({"a": 1, "b": ["x", "y"], "c": {"d": true}});
    key.sign_json("example.org", &mut object).unwrap();
    c.bench_function("json/verify", |b| {
        b.iter(|| signing::verify_json(&keys, std::hint::black_box(&object)).unwrap())
    });
}

criterion_group!(benches, canonical, sign_and_verify);
criterion_main!(benches);
