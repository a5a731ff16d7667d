//! The verifier's rate: entries per second through `verify` (V1 integrity, V2 policy
//! replay, V3 cross-node matching), on one core, over a federation of 10⁵ entries (issue 19).
//!
//! ```sh
//! cargo bench -p streha-verify --bench replay -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! - `verifier/federation_<n>_entries`: three agencies, each case a subject registered, a
//!   consent recorded and a disclosure decided at the sender (police, or the centre for
//!   social work), the envelope really sealed and signed, its `received` at the recipient
//!   (the sender's envelope signature and checkpoint kept) and the sender's `receipt` (the
//!   receiver's checkpoint kept); one case in eight also gets an age status, one in sixteen
//!   a revocation after its disclosure. Delivered in batches of 64, one signed checkpoint per
//!   batch and log, as the nodes' group commits do. Every check runs; the report is clean.
//! - `verifier/policy_<n>_entries`: the same number of entries from one log without
//!   deliveries (registration, consent, disclosure): the replay without the other side's
//!   signatures, for the share that is not Ed25519.
//! - `ed25519/strict_64`, `ed25519/batch_<n>`, `ed25519/streha_batch_<n>`: the signature
//!   floor on this machine, envelope-sized messages verified one by one (`verify_strict`),
//!   as one batch of 64, 256 or 1024 with `ed25519-dalek`'s `verify_batch`, and with
//!   `streha_crypto::verify_batch` (the same behind the checks of `R` that `verify_strict`
//!   makes beyond the equation): what the verifier's `SIGNATURE_BATCH` chooses between.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::OnceLock;

use common::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey, verify_batch};
use streha_audit::LogBundle;
use streha_core::{
    AgeStatus, Approvals, AuditEntry, Basis, Category, CategorySet, ConsentId, ConsentRevocation,
    DisclosureHeader, EnvelopeId, Grantor, OfficerId, Purpose, Recipient, SubjectId, Timestamp,
};
use streha_verify::{VerifyOptions, verify};

/// Entries the federation is built to (at least).
const ENTRIES: usize = 100_000;
/// Cases per batch (one signed checkpoint per batch and log).
const BATCH: u32 = 64;

fn id16(n: u32, tag: u8) -> [u8; 16] {
    let mut bytes = [tag; 16];
    bytes[..4].copy_from_slice(&n.to_le_bytes());
    bytes
}

/// The federation of the bench: see the module documentation.
fn federation() -> (Fed, Vec<LogBundle>) {
    let mut fed = Fed::new();
    fed.start();
    let mut n: u32 = 0;
    let mut clock: u64 = 0;
    let total = |fed: &Fed| fed.nodes.values().map(|x| x.entries.len()).sum::<usize>();
    while total(&fed) < ENTRIES {
        // One batch: the senders decide, the receivers receive, the senders log receipts.
        let mut cases = Vec::new();
        let mut sent: Vec<Vec<AuditEntry>> = vec![Vec::new(), Vec::new()];
        for _ in 0..BATCH {
            let (sender, recipient, s) = match n % 3 {
                0 => (POLICE, CSW, 0),
                1 => (POLICE, SHELTER, 0),
                _ => (CSW, SHELTER, 1),
            };
            let subject = SubjectId::from_bytes(id16(n, 0x51));
            let consent = ConsentId::from_bytes(id16(n, 0xc0));
            let at = t(clock);
            clock += 10;
            let log = &mut sent[s];
            log.push(AuditEntry::SubjectRegistered {
                subject,
                age_status: AgeStatus::Adult,
                at,
            });
            if n % 8 == 3 {
                log.push(AuditEntry::AgeStatusRecorded {
                    subject,
                    age_status: AgeStatus::Adult,
                    at: Timestamp(at.0 + 1),
                });
            }
            log.push(AuditEntry::ConsentGranted {
                grant: Fed::grant(
                    consent,
                    subject,
                    Grantor::Subject,
                    vec![Recipient::Agency(agency(recipient))],
                    &[Category::Medical],
                    &[Purpose::Assistance],
                    Timestamp(at.0 + 2),
                ),
            });
            let header = DisclosureHeader {
                envelope_id: EnvelopeId::from_bytes(id16(n, 0xe0)),
                sender: agency(sender),
                recipient: agency(recipient),
                subject,
                categories: CategorySet::of(&[Category::Medical]),
                purpose: Purpose::Assistance,
                consent: Some(consent),
                created_at: Timestamp(at.0 + 3),
                approvals: Approvals::new(),
            };
            let envelope = fed.envelope(&header);
            log.push(AuditEntry::Disclosed {
                header: header.clone(),
                basis: Basis::Consent(consent),
                urgent_review: false,
                ciphertext_hash: envelope.ciphertext_hash,
                at: Timestamp(at.0 + 4),
            });
            let index = log.len() - 1;
            if n % 16 == 5 {
                log.push(AuditEntry::ConsentRevoked {
                    revocation: ConsentRevocation {
                        consent,
                        revoked_at: Timestamp(at.0 + 5),
                        recorded_by: OfficerId::new("police-officer-1").unwrap(),
                    },
                });
            }
            cases.push((header, envelope, s, index));
            n += 1;
        }
        // The senders' group commits.
        let mut first = [0u64; 2];
        for (s, id) in [POLICE, CSW].into_iter().enumerate() {
            first[s] = fed.node(id).commit(&sent[s]);
        }
        let kept = [
            fed.nodes[POLICE].kept_checkpoint(),
            fed.nodes[CSW].kept_checkpoint(),
        ];
        // The receivers' group commits of `received`.
        let at = t(clock);
        clock += 10;
        let mut received: Vec<(String, Vec<AuditEntry>)> = vec![
            (CSW.to_owned(), Vec::new()),
            (SHELTER.to_owned(), Vec::new()),
        ];
        let mut delivered = Vec::new();
        for (header, envelope, s, index) in &cases {
            let r = usize::from(header.recipient.as_str() == SHELTER);
            let position = received[r].1.len();
            received[r].1.push(Fed::received_entry(
                header,
                Basis::Consent(header.consent.unwrap()),
                envelope,
                first[*s] + *index as u64,
                kept[*s],
                at,
            ));
            delivered.push((r, position));
        }
        let mut received_first = [0u64; 2];
        for (r, (id, entries)) in received.iter().enumerate() {
            received_first[r] = fed.node(id).commit(entries);
        }
        let receiver_kept = [
            fed.nodes[CSW].kept_checkpoint(),
            fed.nodes[SHELTER].kept_checkpoint(),
        ];
        // The senders' group commits of receipts.
        let at = Timestamp(at.0 + 5);
        let mut receipts: Vec<Vec<AuditEntry>> = vec![Vec::new(), Vec::new()];
        for ((header, _, s, _), (r, position)) in cases.iter().zip(&delivered) {
            receipts[*s].push(Fed::receipt_entry(
                header,
                received_first[*r] + *position as u64,
                receiver_kept[*r],
                at,
            ));
        }
        for (s, id) in [POLICE, CSW].into_iter().enumerate() {
            fed.node(id).commit(&receipts[s]);
        }
    }
    let bundles = fed.bundles();
    (fed, bundles)
}

/// One log of registrations, consents and disclosures, `entries` long.
fn policy_only(entries: usize) -> (Fed, Vec<LogBundle>) {
    let mut fed = Fed::new();
    fed.start();
    let mut batch = Vec::new();
    let mut n = 0u32;
    // The other two logs hold their `roster_changed` each.
    while 2 + fed.nodes[POLICE].entries.len() + batch.len() < entries {
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
        batch.push(AuditEntry::Disclosed {
            header: DisclosureHeader {
                envelope_id: EnvelopeId::from_bytes(id16(n, 0xe0)),
                sender: agency(POLICE),
                recipient: agency(SHELTER),
                subject,
                categories: CategorySet::of(&[Category::Medical]),
                purpose: Purpose::Assistance,
                consent: Some(consent),
                created_at: Timestamp(at.0 + 5),
                approvals: Approvals::new(),
            },
            basis: Basis::Consent(consent),
            urgent_review: false,
            ciphertext_hash: [0x42; 32],
            at: Timestamp(at.0 + 6),
        });
        if batch.len() >= 256 {
            fed.node(POLICE).commit(&batch);
            batch.clear();
        }
        n += 1;
    }
    fed.node(POLICE).commit(&batch);
    let bundles = fed.bundles();
    (fed, bundles)
}

/// How many entries [`federation`] builds: the same loop, counted without building (so that
/// a filtered run builds only what it measures).
fn federation_size() -> u64 {
    let mut total = 3usize;
    let mut n = 0u32;
    while total < ENTRIES {
        for _ in 0..BATCH {
            total += 5 + usize::from(n % 8 == 3) + usize::from(n % 16 == 5);
            n += 1;
        }
    }
    total as u64
}

/// How many entries [`policy_only`] builds for `entries`.
fn policy_size(entries: usize) -> u64 {
    3 + 3 * (entries.saturating_sub(3) as u64).div_ceil(3)
}

fn replay(c: &mut Criterion) {
    static FEDERATION: OnceLock<(Fed, Vec<LogBundle>)> = OnceLock::new();
    static POLICY: OnceLock<(Fed, Vec<LogBundle>)> = OnceLock::new();
    let options = VerifyOptions::new();
    let mut group = c.benchmark_group("verifier");
    group.sample_size(10);

    let entries = federation_size();
    group.throughput(Throughput::Elements(entries));
    group.bench_function(format!("federation_{entries}_entries"), |b| {
        let (fed, bundles) = FEDERATION.get_or_init(|| {
            let (fed, bundles) = federation();
            let report = verify(&bundles, &fed.roster, &VerifyOptions::new());
            assert!(
                report.findings.is_empty(),
                "{}",
                streha_verify::render_text(&report)
            );
            assert!(report.totals.received > 15_000, "{:?}", report.totals);
            assert_eq!(report.totals.entries, entries);
            (fed, bundles)
        });
        b.iter(|| verify(black_box(bundles), &fed.roster, &options))
    });

    let policy = policy_size(entries as usize);
    group.throughput(Throughput::Elements(policy));
    group.bench_function(format!("policy_{policy}_entries"), |b| {
        let (fed, bundles) = POLICY.get_or_init(|| {
            let (fed, bundles) = policy_only(entries as usize);
            let report = verify(&bundles, &fed.roster, &VerifyOptions::new());
            assert!(report.findings.is_empty());
            assert_eq!(report.totals.entries, policy);
            (fed, bundles)
        });
        b.iter(|| verify(black_box(bundles), &fed.roster, &options))
    });
    group.finish();
}

fn ed25519(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let messages: Vec<Vec<u8>> = (0..1024u32).map(|i| i.to_be_bytes().repeat(50)).collect();
    let signatures: Vec<_> = messages.iter().map(|m| key.sign(m)).collect();
    let keys = vec![key.verifying_key(); 1024];
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let ours: Vec<streha_crypto::Signature> = signatures
        .iter()
        .map(|s| streha_crypto::Signature::from_bytes(s.to_bytes()))
        .collect();
    let our_keys =
        vec![
            streha_crypto::AgencySigningPublicKey::from_bytes(key.verifying_key().to_bytes())
                .unwrap();
            1024
        ];
    let mut group = c.benchmark_group("ed25519");
    group.throughput(Throughput::Elements(64));
    group.bench_function("strict_64", |b| {
        b.iter(|| {
            for (m, s) in refs[..64].iter().zip(&signatures) {
                keys[0].verify_strict(black_box(m), s).unwrap();
            }
        })
    });
    for n in [64, 256, 1024] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("batch_{n}"), |b| {
            b.iter(|| verify_batch(black_box(&refs[..n]), &signatures[..n], &keys[..n]).unwrap())
        });
        // What the verifier calls: the batch equation behind the checks `verify_strict`
        // makes beyond it.
        group.bench_function(format!("streha_batch_{n}"), |b| {
            b.iter(|| {
                assert!(streha_crypto::verify_batch(
                    black_box(&refs[..n]),
                    &ours[..n],
                    &our_keys[..n]
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, replay, ed25519);
criterion_main!(benches);
