//! Decoding audit entries, owned (`AuditEntry::decode`) and borrowed
//! (`AuditEntryRef::decode`), over the mix a federation's logs hold: per case a subject
//! registered, a consent recorded, a disclosure decided, its `received` at the recipient and
//! the sender's `receipt` (issue 19, item 6).
//!
//! ```sh
//! cargo bench -p streha-core --bench entries -- --quick
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use streha_core::{
    AgeStatus, AgencyId, Approvals, AuditEntry, AuditEntryRef, Basis, Category, ClauseId,
    ConsentGrant, ConsentId, ConsentTerms, DisclosureHeader, EnvelopeId, EnvelopeSignature,
    Grantor, OfficerId, Purpose, Recipient, SignatureBytes, SubjectId, Timestamp,
};

const CASES: u32 = 2_000;

fn id16(n: u32, tag: u8) -> [u8; 16] {
    let mut b = [tag; 16];
    b[..4].copy_from_slice(&n.to_le_bytes());
    b
}

fn entries() -> Vec<Vec<u8>> {
    let police = AgencyId::new("police-prishtina").unwrap();
    let shelter = AgencyId::new("shelter-prishtina").unwrap();
    let mut out = Vec::new();
    for n in 0..CASES {
        let subject = SubjectId::from_bytes(id16(n, 1));
        let consent = ConsentId::from_bytes(id16(n, 2));
        let envelope = EnvelopeId::from_bytes(id16(n, 3));
        let at = Timestamp(1_763_856_000_000 + u64::from(n));
        out.push(AuditEntry::SubjectRegistered {
            subject,
            age_status: AgeStatus::Adult,
            at,
        });
        out.push(AuditEntry::ConsentGranted {
            grant: ConsentGrant::new(ConsentTerms {
                id: consent,
                subject,
                granted_by: Grantor::Subject,
                recipients: vec![Recipient::Agency(police.clone())],
                categories: [Category::Medical].into_iter().collect(),
                purposes: [Purpose::Assistance].into_iter().collect(),
                valid_from: Timestamp(0),
                expires_at: Timestamp(u64::MAX / 2),
                evidence_hash: [4; 32],
                recorded_by: OfficerId::new("intake-officer").unwrap(),
                recorded_at: at,
            })
            .unwrap(),
        });
        let header = DisclosureHeader {
            envelope_id: envelope,
            sender: shelter.clone(),
            recipient: police.clone(),
            subject,
            categories: [Category::Identity].into_iter().collect(),
            purpose: Purpose::IdentificationAndReferral,
            consent: None,
            created_at: at,
            approvals: Approvals::new(),
        };
        let basis = Basis::Agreement(vec![ClauseId::new("identification").unwrap()]);
        out.push(AuditEntry::Disclosed {
            header: header.clone(),
            basis: basis.clone(),
            urgent_review: false,
            ciphertext_hash: [5; 32],
            at,
        });
        out.push(AuditEntry::Received {
            header,
            basis,
            ciphertext_hash: [5; 32],
            sender_signature: Box::new(EnvelopeSignature {
                sender_key: [6; 32],
                recipient_key: [7; 32],
                ephemeral: [8; 32],
                signature: SignatureBytes::from_bytes([9; 64]),
            }),
            sender_log_index: u64::from(n) * 3 + 2,
            sender_tree_size: u64::from(n) * 3 + 3,
            sender_root_hash: [10; 32],
            sender_checkpoint_signature: SignatureBytes::from_bytes([11; 64]),
            at,
        });
        out.push(AuditEntry::Receipt {
            envelope,
            recipient: police.clone(),
            receiver_log_index: u64::from(n),
            receiver_tree_size: u64::from(n) + 1,
            receiver_root_hash: [12; 32],
            receiver_checkpoint_signature: SignatureBytes::from_bytes([13; 64]),
            at,
        });
    }
    out.iter().map(AuditEntry::encode).collect()
}

fn decode(c: &mut Criterion) {
    let entries = entries();
    let mut group = c.benchmark_group("entry_decode");
    group.throughput(Throughput::Elements(entries.len() as u64));
    group.bench_function("owned", |b| {
        b.iter(|| {
            for bytes in &entries {
                black_box(AuditEntry::decode(black_box(bytes)).unwrap());
            }
        })
    });
    group.bench_function("borrowed", |b| {
        b.iter(|| {
            for bytes in &entries {
                black_box(AuditEntryRef::decode(black_box(bytes)).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
