//! The verifier's replay rate: entries per second through `verify` (integrity, policy
//! replay, cross-node matching) over a large police log (issue 11).
//!
//! ```sh
//! cargo bench -p streha-verify --bench replay -- --warm-up-time 1 --measurement-time 5
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use streha_core::{
    AgeStatus, Approvals, AuditEntry, Basis, Category, CategorySet, ConsentId, DisclosureHeader,
    EnvelopeId, Grantor, Purpose, Recipient, SubjectId,
};
use streha_verify::{VerifyOptions, verify};

/// Subjects in the log; each contributes a registration, a consent and a disclosure.
const SUBJECTS: u32 = 30_000;
/// Entries per batch (one signed checkpoint each).
const BATCH: u32 = 256;

fn id16(n: u32, tag: u8) -> [u8; 16] {
    let mut bytes = [tag; 16];
    bytes[..4].copy_from_slice(&n.to_le_bytes());
    bytes
}

fn replay(c: &mut Criterion) {
    let mut fed = Fed::new();
    fed.start();
    let mut batch = Vec::new();
    for n in 0..SUBJECTS {
        let subject = SubjectId::from_bytes(id16(n, 0x51));
        let consent = ConsentId::from_bytes(id16(n, 0xc0));
        let at = t(u64::from(n) * 10);
        batch.push(AuditEntry::SubjectRegistered {
            subject,
            age_status: AgeStatus::Adult,
            at,
        });
        batch.push(AuditEntry::ConsentGranted {
            grant: Fed::grant(
                consent,
                subject,
                Grantor::Subject,
                vec![Recipient::Agency(agency(SHELTER))],
                &[Category::Medical],
                &[Purpose::Assistance],
                at,
            ),
        });
        let header = DisclosureHeader {
            envelope_id: EnvelopeId::from_bytes(id16(n, 0xe0)),
            sender: agency(POLICE),
            recipient: agency(SHELTER),
            subject,
            categories: CategorySet::of(&[Category::Medical]),
            purpose: Purpose::Assistance,
            consent: Some(consent),
            created_at: streha_core::Timestamp(at.0 + 5),
            approvals: Approvals::new(),
        };
        batch.push(AuditEntry::Disclosed {
            header,
            basis: Basis::Consent(consent),
            urgent_review: false,
            ciphertext_hash: [0x42; 32],
            at: streha_core::Timestamp(at.0 + 6),
        });
        if batch.len() as u32 >= BATCH {
            fed.node(POLICE).commit(&batch);
            batch.clear();
        }
    }
    fed.node(POLICE).commit(&batch);
    let bundles = fed.bundles();
    let entries: u64 = bundles.iter().map(|b| b.entries.len() as u64).sum();
    let options = VerifyOptions::new();
    let report = verify(&bundles, &fed.roster, &options);
    assert_eq!(report.totals.disclosures, u64::from(SUBJECTS));

    let mut group = c.benchmark_group("verifier");
    group.throughput(Throughput::Elements(entries));
    group.sample_size(10);
    group.bench_function(format!("replay_{entries}_entries"), |b| {
        b.iter(|| verify(black_box(&bundles), &fed.roster, &options))
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
