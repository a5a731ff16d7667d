//! Sealing and opening envelopes, and the signatures around them (issue 11).
//!
//! ```sh
//! cargo bench -p streha-crypto --bench envelope -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use streha_crypto::{AgencyEncryptionSecretKey, AgencySigningSecretKey, seal};

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

criterion_group!(benches, envelope);
criterion_main!(benches);
