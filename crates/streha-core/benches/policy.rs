//! The policy `decide` with 10^4 consents in the registry (issue 11).
//!
//! ```sh
//! cargo bench -p streha-core --bench policy -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use streha_core::{
    AgeStatus, AgencyId, Approvals, Category, ConsentGrant, ConsentId, ConsentRegistry,
    ConsentTerms, DisclosureHeader, DisclosureRequest, EnvelopeId, ExchangeAgreement, Federation,
    Grantor, OfficerId, PolicyContext, Purpose, Recipient, Role, Subject, SubjectId, Timestamp,
    decide,
};

fn id16(n: u32, tag: u8) -> [u8; 16] {
    let mut b = [tag; 16];
    b[..4].copy_from_slice(&n.to_le_bytes());
    b
}

fn policy(c: &mut Criterion) {
    let police = AgencyId::new("police").unwrap();
    let shelter = AgencyId::new("shelter").unwrap();
    let federation = Federation::new(ExchangeAgreement::new(vec![]).unwrap())
        .with_agency(police.clone(), Role::Police)
        .unwrap()
        .with_agency(shelter.clone(), Role::LicensedNgo)
        .unwrap();
    // 10^4 consents over 10^3 subjects, ten each.
    let mut registry = ConsentRegistry::new();
    for n in 0..10_000u32 {
        let grant = ConsentGrant::new(ConsentTerms {
            id: ConsentId::from_bytes(id16(n, 1)),
            subject: SubjectId::from_bytes(id16(n / 10, 2)),
            granted_by: Grantor::Subject,
            recipients: vec![Recipient::Agency(police.clone())],
            categories: [Category::Medical].into_iter().collect(),
            purposes: [Purpose::Assistance].into_iter().collect(),
            valid_from: Timestamp(0),
            expires_at: Timestamp(u64::MAX / 2),
            evidence_hash: [3; 32],
            recorded_by: OfficerId::new("officer").unwrap(),
            recorded_at: Timestamp(1),
        })
        .unwrap();
        registry.add(grant).unwrap();
    }
    let subject_id = SubjectId::from_bytes(id16(500, 2));
    let subject = Subject::new(subject_id, AgeStatus::Adult);
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([9; 16]),
        sender: shelter,
        recipient: police,
        subject: subject_id,
        categories: [Category::Medical].into_iter().collect(),
        purpose: Purpose::Assistance,
        consent: Some(ConsentId::from_bytes(id16(5003, 1))),
        created_at: Timestamp(1_000),
        approvals: Approvals::new(),
    };
    c.bench_function("decide_10k_consents", |b| {
        b.iter(|| {
            let views = registry.views_for(black_box(subject_id));
            let context = PolicyContext {
                federation: &federation,
                subject: Some(&subject),
                consents: &views,
            };
            let decision = decide(&context, &DisclosureRequest::new(&header), Timestamp(1_000));
            assert!(decision.is_allowed());
            decision
        })
    });
}

criterion_group!(benches, policy);
criterion_main!(benches);
