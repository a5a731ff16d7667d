//! Sealing and opening envelopes, and the signatures around them (issue 11); sealing at rest
//! from a copy of the record against where it was written (issue 19.5).
//!
//! ```sh
//! cargo bench -p streha-crypto --bench envelope -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use streha_crypto::{AgencyEncryptionSecretKey, AgencySigningSecretKey, DataKey, seal};

fn envelope(c: &mut Criterion) {
    let sender = AgencySigningSecretKey::from_seed_bytes([1; 32]);
    let recipient = AgencyEncryptionSecretKey::from_seed_bytes([2; 32]);
    let (sender_public, recipient_public) = (sender.public_key(), recipient.public_key());
    let context = vec![0x11; 120];
    for size in [1024usize, 16 * 1024, 256 * 1024] {
        let plaintext = vec![0x5a; size];
        let envelope = seal(&sender, &recipient_public, &context, &plaintext).unwrap();
        let mut group = c.benchmark_group(format!("envelope_{size}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("seal", |b| {
            b.iter(|| {
                seal(
                    &sender,
                    &recipient_public,
                    black_box(&context),
                    black_box(&plaintext),
                )
                .unwrap()
            })
        });
        group.bench_function("verify_signature", |b| {
            b.iter(|| {
                black_box(&envelope)
                    .verify_signature(&sender_public)
                    .unwrap()
            })
        });
        group.bench_function("open", |b| {
            b.iter(|| {
                black_box(&envelope)
                    .open(&recipient, &sender_public)
                    .unwrap()
            })
        });
        group.finish();
    }
}

/// A record written into a buffer, then sealed from it (`DataKey::seal`: the cipher's own
/// copy, then the nonce and that copy into the result) against the record written where it
/// is sealed (`DataKey::seal_written`). Writing the record is the same one copy in both; so
/// is reading the sealed record (a clone here) before it is opened.
fn at_rest(c: &mut Criterion) {
    let key = DataKey::generate().unwrap();
    let aad = b"streha node queue v1\n0123456789abcdef";
    for size in [1024usize, 16 * 1024, 256 * 1024] {
        let record = vec![0x5a; size];
        let mut group = c.benchmark_group(format!("at_rest_{size}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("seal_from_a_copy", |b| {
            b.iter(|| {
                let written = black_box(&record).to_vec();
                key.seal(aad, &written).unwrap()
            })
        });
        group.bench_function("seal_written", |b| {
            b.iter(|| {
                key.seal_written(aad, size, |buffer| {
                    buffer.extend_from_slice(black_box(&record));
                    true
                })
                .unwrap()
            })
        });
        // Opening a record read from the store: into a second buffer, or where it was read.
        let sealed = key.seal(aad, &record).unwrap();
        group.bench_function("open_into_a_copy", |b| {
            b.iter(|| {
                let read = black_box(&sealed).clone();
                key.open(aad, &read).unwrap().len()
            })
        });
        group.bench_function("open_in_place", |b| {
            b.iter(|| {
                let read = black_box(&sealed).clone();
                key.open_in_place(aad, read).unwrap().len()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, envelope, at_rest);
criterion_main!(benches);
