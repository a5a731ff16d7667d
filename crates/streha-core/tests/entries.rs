//! Audit entry, disclosure header and record encodings: the known-answer vectors of
//! `spec/vectors/entries.json`, round trips, and decoding of arbitrary bytes.
//!
//! To regenerate the vector file after a deliberate format change (which also needs a new
//! version byte): `STREHA_WRITE_VECTORS=1 cargo test -p streha-core --test entries`.

use proptest::prelude::*;
use streha_core::*;

// ---------------------------------------------------------------------------------------
// Known-answer vectors
// ---------------------------------------------------------------------------------------

fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).unwrap()
}

fn officer(s: &str) -> OfficerId {
    OfficerId::new(s).unwrap()
}

fn fixed_header() -> DisclosureHeader {
    DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([0x11; 16]),
        sender: agency("police"),
        recipient: agency("csw"),
        subject: SubjectId::from_bytes([0x22; 16]),
        categories: CategorySet::of(&[
            Category::Identity,
            Category::Referral,
            Category::Psychological,
        ]),
        purpose: Purpose::Assistance,
        consent: Some(ConsentId::from_bytes([0x33; 16])),
        created_at: Timestamp(1_750_000_000_000),
        approvals: Approvals::new(),
    }
}

fn fixed_urgent_header() -> DisclosureHeader {
    let mut h = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([0x12; 16]),
        sender: agency("police"),
        recipient: agency("foreign-police"),
        subject: SubjectId::from_bytes([0x22; 16]),
        categories: CategorySet::of(&[Category::Identity]),
        purpose: Purpose::UrgentDanger,
        consent: None,
        created_at: Timestamp(1_750_000_000_000),
        approvals: Approvals::new(),
    };
    for (o, b) in [("officer-b", 0xbb), ("officer-a", 0xaa)] {
        h.approvals
            .insert(UrgentApproval {
                officer: officer(o),
                signature: SignatureBytes::from_bytes([b; 64]),
            })
            .unwrap();
    }
    h
}

fn fixed_grant() -> ConsentGrant {
    ConsentGrant::new(ConsentTerms {
        id: ConsentId::from_bytes([0x33; 16]),
        subject: SubjectId::from_bytes([0x22; 16]),
        granted_by: Grantor::Representative(RepresentativeId::new("guardian-7").unwrap()),
        recipients: vec![
            Recipient::Role(Role::CentreForSocialWork),
            Recipient::Agency(agency("csw")),
        ],
        categories: CategorySet::of(&[Category::Psychological]),
        purposes: PurposeSet::of(&[Purpose::Assistance]),
        valid_from: Timestamp(1_700_000_000_000),
        expires_at: Timestamp(1_800_000_000_000),
        evidence_hash: [0x44; 32],
        recorded_by: officer("officer-17"),
        recorded_at: Timestamp(1_700_000_000_000),
    })
    .unwrap()
}

const SALT: [u8; 32] = [0x55; 32];
const NEW_SUBJECT: SubjectId = SubjectId::from_bytes([0x66; 16]);

fn fixed_record() -> Record {
    Record::new()
        .with(Field::text(DisclosableCategory::Identity, "given_name", "A").unwrap())
        .unwrap()
        .with(
            Field::bytes(
                DisclosableCategory::Psychological,
                "assessment",
                vec![1, 2, 3],
            )
            .unwrap(),
        )
        .unwrap()
}

/// The vector entries: (name, description, entry).
fn fixed_entries() -> Vec<(&'static str, &'static str, AuditEntry)> {
    let t = Timestamp(1_750_000_000_000);
    let subject = SubjectId::from_bytes([0x22; 16]);
    let both = Basis::ConsentAndAgreement {
        consent: ConsentId::from_bytes([0x33; 16]),
        clauses: vec![ClauseId::new("csw-referral").unwrap()],
    };
    vec![
        (
            "subject_registered",
            "tag 0: subject 22..22, presumed child, at 1750000000000",
            AuditEntry::SubjectRegistered {
                subject,
                age_status: AgeStatus::PresumedChild,
                at: t,
            },
        ),
        (
            "age_status_recorded",
            "tag 1: subject 22..22 recorded as adult",
            AuditEntry::AgeStatusRecorded {
                subject,
                age_status: AgeStatus::Adult,
                at: t,
            },
        ),
        (
            "representative_registered",
            "tag 2: guardian-7 registered for subject 22..22",
            AuditEntry::RepresentativeRegistered {
                subject,
                representative: RepresentativeId::new("guardian-7").unwrap(),
                at: t,
            },
        ),
        (
            "representative_removed",
            "tag 3: guardian-7 removed",
            AuditEntry::RepresentativeRemoved {
                subject,
                representative: RepresentativeId::new("guardian-7").unwrap(),
                at: t,
            },
        ),
        (
            "consent_granted",
            "tag 4: consent 33..33 by representative guardian-7 to agency csw and role centre_for_social_work, psychological, assistance",
            AuditEntry::ConsentGranted {
                grant: fixed_grant(),
            },
        ),
        (
            "consent_revoked",
            "tag 5: consent 33..33 revoked",
            AuditEntry::ConsentRevoked {
                revocation: ConsentRevocation {
                    consent: ConsentId::from_bytes([0x33; 16]),
                    revoked_at: t,
                    recorded_by: officer("officer-17"),
                },
            },
        ),
        (
            "disclosed",
            "tag 6: the fixed header, basis consent 33..33 and clause csw-referral, ciphertext hash 77..77",
            AuditEntry::Disclosed {
                header: fixed_header(),
                basis: both.clone(),
                urgent_review: false,
                ciphertext_hash: [0x77; 32],
                at: t,
            },
        ),
        (
            "disclosed_urgent",
            "tag 6: urgent danger to foreign-police with approvals of officer-a and officer-b, flagged for review",
            AuditEntry::Disclosed {
                header: fixed_urgent_header(),
                basis: Basis::Agreement(vec![ClauseId::new("foreign-urgent").unwrap()]),
                urgent_review: true,
                ciphertext_hash: [0x78; 32],
                at: t,
            },
        ),
        (
            "refused_protection",
            "tag 7: refused, reason ProtectionCategory(shelter_location)",
            AuditEntry::Refused {
                header: fixed_header(),
                reason: RefusalReason::ProtectionCategory {
                    category: Category::ShelterLocation,
                },
                at: t,
            },
        ),
        (
            "refused_consent_revoked",
            "tag 7: refused, reason ConsentNotInForce(33..33, Revoked at 1749999999000)",
            AuditEntry::Refused {
                header: fixed_header(),
                reason: RefusalReason::ConsentNotInForce {
                    consent: ConsentId::from_bytes([0x33; 16]),
                    why: NotInForce::Revoked {
                        at: Timestamp(1_749_999_999_000),
                    },
                },
                at: t,
            },
        ),
        (
            "received",
            "tag 8: received; envelope signature by sender key a1..a1 to recipient key a2..a2, ephemeral a3..a3, signature a4..a4; the sender's disclosed at index 41 under its checkpoint of size 42, root a5..a5, signature a6..a6",
            AuditEntry::Received {
                header: fixed_header(),
                basis: both,
                ciphertext_hash: [0x77; 32],
                sender_signature: Box::new(EnvelopeSignature {
                    sender_key: [0xa1; 32],
                    recipient_key: [0xa2; 32],
                    ephemeral: [0xa3; 32],
                    signature: SignatureBytes::from_bytes([0xa4; 64]),
                }),
                sender_log_index: 41,
                sender_tree_size: 42,
                sender_root_hash: [0xa5; 32],
                sender_checkpoint_signature: SignatureBytes::from_bytes([0xa6; 64]),
                at: t,
            },
        ),
        (
            "receive_refused",
            "tag 9: the receiver refused: NoConsentForAssistance(psychological)",
            AuditEntry::ReceiveRefused {
                header: fixed_header(),
                reason: RefusalReason::NoConsentForAssistance {
                    category: Category::Psychological,
                },
                ciphertext_hash: [0x77; 32],
                at: t,
            },
        ),
        (
            "receipt",
            "tag 10: receipt from csw, receiver index 7 in a tree of size 8, root 88..88, the receiver's checkpoint signature 89..89",
            AuditEntry::Receipt {
                envelope: EnvelopeId::from_bytes([0x11; 16]),
                recipient: agency("csw"),
                receiver_log_index: 7,
                receiver_tree_size: 8,
                receiver_root_hash: [0x88; 32],
                receiver_checkpoint_signature: SignatureBytes::from_bytes([0x89; 64]),
                at: t,
            },
        ),
        (
            "violation",
            "tag 11: declared identity+referral+psychological, found identity+medical",
            AuditEntry::Violation {
                envelope: EnvelopeId::from_bytes([0x11; 16]),
                sender: agency("police"),
                kind: ViolationKind::CategoryMismatch,
                declared: CategorySet::of(&[
                    Category::Identity,
                    Category::Referral,
                    Category::Psychological,
                ]),
                found: CategorySet::of(&[Category::Identity, Category::Medical]),
                ciphertext_hash: [0x77; 32],
                at: t,
            },
        ),
        (
            "roster_changed",
            "tag 12: roster version 3, hash 99..99",
            AuditEntry::RosterChanged {
                version: 3,
                roster_hash: [0x99; 32],
                at: t,
            },
        ),
        (
            "key_changed",
            "tag 13: officer-a of police has a new key aa..aa",
            AuditEntry::KeyChanged {
                agency: agency("police"),
                kind: KeyKind::Officer(officer("officer-a")),
                public_key: [0xaa; 32],
                at: t,
            },
        ),
        (
            "subject_rekeyed",
            "tag 14: subject 22..22 re-keyed; commitment = rekey_commitment(salt 55..55, new id 66..66)",
            AuditEntry::SubjectRekeyed {
                old: subject,
                new_commitment: rekey_commitment(&SALT, NEW_SUBJECT),
                at: t,
            },
        ),
        (
            "witness_alarm_v1",
            "tag 15 (first form, no longer written): two roots for size 100 of log police.example/log",
            AuditEntry::WitnessAlarmV1 {
                origin: LogOrigin::new("police.example/log").unwrap(),
                size: 100,
                root_a: [0xa0; 32],
                root_b: [0xb0; 32],
                at: t,
            },
        ),
        (
            "witness_alarm",
            "tag 16: a rollback of log police.example/log: size 100 (root a0..a0) cosigned, then size 90 (root b0..b0) offered",
            AuditEntry::WitnessAlarm {
                origin: LogOrigin::new("police.example/log").unwrap(),
                kind: WitnessAlarmKind::Rollback,
                cosigned_size: 100,
                cosigned_root: [0xa0; 32],
                offered_size: 90,
                offered_root: [0xb0; 32],
                at: t,
            },
        ),
        (
            "witnessed_checkpoints",
            "tag 17: cosigned as a witness, log police.example/log at size 100 (root a0..a0)",
            AuditEntry::WitnessedCheckpoints {
                checkpoints: vec![streha_core::WitnessedCheckpoint {
                    origin: LogOrigin::new("police.example/log").unwrap(),
                    size: 100,
                    root: [0xa0; 32],
                }],
                at: t,
            },
        ),
        (
            "consent_refused",
            "tag 18: the consent 33..33 of tag 4 refused: GrantorNotRegisteredRepresentative(33..33, guardian-7)",
            AuditEntry::ConsentRefused {
                grant: fixed_grant(),
                reason: RefusalReason::GrantorNotRegisteredRepresentative {
                    consent: ConsentId::from_bytes([0x33; 16]),
                    representative: RepresentativeId::new("guardian-7").unwrap(),
                },
                at: t,
            },
        ),
        (
            "log_restored",
            "tag 19: log police.example/log restored at size 90 (root b0..b0), its loss proven by csw's kept note",
            AuditEntry::LogRestored {
                previous_origin: LogOrigin::new("police.example/log").unwrap(),
                restored_size: 90,
                restored_root: [0xb0; 32],
                proven_note: "police.example/log\n100\noKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKA=\n\n— police.example/log AAAAAA==\n".into(),
                proven_by: agency("csw"),
                at: t,
            },
        ),
    ]
}

/// The vector file's exact text.
fn vector_file() -> String {
    let mut out = String::new();
    out.push_str("{\n");
    out.push_str("  \"comment\": \"Known-answer vectors for spec/entries.md. Every hex string is lowercase. Checked by crates/streha-core/tests/entries.rs.\",\n");
    out.push_str(&format!("  \"entry_version\": {ENTRY_VERSION},\n"));
    out.push_str("  \"entries\": [\n");
    let entries = fixed_entries();
    for (i, (name, description, entry)) in entries.iter().enumerate() {
        out.push_str(&format!(
            "    {{\n      \"name\": \"{name}\",\n      \"description\": \"{description}\",\n      \"hex\": \"{}\"\n    }}{}\n",
            hex::encode(entry.encode()),
            if i + 1 < entries.len() { "," } else { "" }
        ));
    }
    out.push_str("  ],\n");
    let header = fixed_header();
    out.push_str(&format!(
        "  \"disclosure_header\": {{\n    \"description\": \"the header of the disclosed vector\",\n    \"header_version\": {HEADER_VERSION},\n    \"hex\": \"{}\",\n    \"approval_message_hex\": \"{}\"\n  }},\n",
        hex::encode(header.encode()),
        hex::encode(header.approval_message())
    ));
    let urgent = fixed_urgent_header();
    out.push_str(&format!(
        "  \"urgent_header\": {{\n    \"description\": \"the header of the disclosed_urgent vector; both officers sign approval_message_hex\",\n    \"hex\": \"{}\",\n    \"approval_message_hex\": \"{}\"\n  }},\n",
        hex::encode(urgent.encode()),
        hex::encode(urgent.approval_message())
    ));
    out.push_str(&format!(
        "  \"record\": {{\n    \"description\": \"identity/given_name = text A; psychological/assessment = bytes 010203\",\n    \"record_version\": {RECORD_VERSION},\n    \"hex\": \"{}\"\n  }},\n",
        hex::encode(fixed_record().encode())
    ));
    out.push_str(&format!(
        "  \"rekey_commitment\": {{\n    \"salt\": \"{}\",\n    \"new_subject\": \"{}\",\n    \"commitment\": \"{}\"\n  }}\n",
        hex::encode(SALT),
        NEW_SUBJECT,
        hex::encode(rekey_commitment(&SALT, NEW_SUBJECT))
    ));
    out.push_str("}\n");
    out
}

fn vector_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors/entries.json")
}

#[test]
fn vectors_match_spec() {
    let expected = vector_file();
    let path = vector_path();
    if std::env::var_os("STREHA_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read {}: {e}; regenerate with STREHA_WRITE_VECTORS=1",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "spec/vectors/entries.json differs from the encoding"
    );
    // Every vector decodes to its value.
    for (name, _, entry) in fixed_entries() {
        assert_eq!(
            AuditEntry::decode(&entry.encode()).unwrap(),
            entry,
            "{name}"
        );
    }
    assert_eq!(
        DisclosureHeader::decode(&fixed_header().encode()).unwrap(),
        fixed_header()
    );
    assert_eq!(
        Record::decode(&fixed_record().encode()).unwrap(),
        fixed_record()
    );
}

/// Byte-level facts that `spec/entries.md` states, pinned.
#[test]
fn encoding_walkthrough_of_spec() {
    let t = Timestamp(1_750_000_000_000);
    let e = AuditEntry::SubjectRegistered {
        subject: SubjectId::from_bytes([0x22; 16]),
        age_status: AgeStatus::PresumedChild,
        at: t,
    };
    let mut expected = vec![0x01, 0x00];
    expected.extend_from_slice(&[0x22; 16]);
    expected.push(0x03);
    // 1_750_000_000_000 as a LEB128 varint.
    expected.extend_from_slice(&[0x80, 0xb8, 0x83, 0xa1, 0xf7, 0x32]);
    assert_eq!(e.encode(), expected);

    // `received` ends with the sender's evidence (spec/entries.md §4): envelope signature
    // (sender key, recipient key, ephemeral key, signature), the sender's index, its
    // checkpoint's size, root and signature, then `at`.
    let at = [0x80, 0xb8, 0x83, 0xa1, 0xf7, 0x32];
    let vector = |wanted: &str| {
        fixed_entries()
            .into_iter()
            .find(|(name, _, _)| *name == wanted)
            .unwrap()
            .2
            .encode()
    };
    let mut tail = Vec::new();
    tail.extend_from_slice(&[0xa1; 32]);
    tail.extend_from_slice(&[0xa2; 32]);
    tail.extend_from_slice(&[0xa3; 32]);
    tail.extend_from_slice(&[0xa4; 64]);
    tail.extend_from_slice(&[41, 42]);
    tail.extend_from_slice(&[0xa5; 32]);
    tail.extend_from_slice(&[0xa6; 64]);
    tail.extend_from_slice(&at);
    let received = vector("received");
    assert_eq!(&received[..2], &[0x01, 0x08]);
    assert!(received.ends_with(&tail));
    // `receipt`, byte for byte.
    let mut expected = vec![0x01, 0x0a];
    expected.extend_from_slice(&[0x11; 16]);
    expected.extend_from_slice(&[0x03, b'c', b's', b'w', 7, 8]);
    expected.extend_from_slice(&[0x88; 32]);
    expected.extend_from_slice(&[0x89; 64]);
    expected.extend_from_slice(&at);
    assert_eq!(vector("receipt"), expected);

    // Each variant's tag is its position.
    for (i, (name, _, entry)) in fixed_entries().iter().enumerate() {
        let tag = entry.encode()[1];
        let want = [
            0, 1, 2, 3, 4, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
        ][i];
        assert_eq!(tag, want, "{name}");
        assert_eq!(name.split('_').next(), entry.kind_name().split('_').next());
    }
}

#[test]
fn largest_documents_fit_their_caps() {
    // The largest consent: 32 recipients with 64-character names.
    let name = |i: usize| AgencyId::new(format!("a{i:02}{}", "x".repeat(61))).unwrap();
    let grant = ConsentGrant::new(ConsentTerms {
        id: ConsentId::MAX,
        subject: SubjectId::MAX,
        granted_by: Grantor::Representative(RepresentativeId::new("r".repeat(64)).unwrap()),
        recipients: (0..MAX_CONSENT_RECIPIENTS)
            .map(|i| Recipient::Agency(name(i)))
            .collect(),
        categories: CategorySet::group(CategoryGroup::Assistance),
        purposes: Purpose::ALL.iter().copied().collect(),
        valid_from: Timestamp(0),
        expires_at: Timestamp::MAX,
        evidence_hash: [0xff; 32],
        recorded_by: OfficerId::new("o".repeat(64)).unwrap(),
        recorded_at: Timestamp::MAX,
    })
    .unwrap();
    let e = AuditEntry::ConsentGranted { grant };
    assert!(e.encode().len() <= MAX_ENTRY_LEN);
    assert_eq!(AuditEntry::decode(&e.encode()).unwrap(), e);

    // The largest header: 64-character names, every category, 8 approvals.
    let mut h = DisclosureHeader {
        envelope_id: EnvelopeId::MAX,
        sender: name(0),
        recipient: name(1),
        subject: SubjectId::MAX,
        categories: Category::ALL.iter().copied().collect(),
        purpose: Purpose::MissingPersonSearch,
        consent: Some(ConsentId::MAX),
        created_at: Timestamp::MAX,
        approvals: Approvals::new(),
    };
    for i in 0..MAX_APPROVALS {
        h.approvals
            .insert(UrgentApproval {
                officer: OfficerId::new(format!("o{i}{}", "x".repeat(62))).unwrap(),
                signature: SignatureBytes::from_bytes([0xff; 64]),
            })
            .unwrap();
    }
    assert!(h.encode().len() <= MAX_HEADER_LEN, "{}", h.encode().len());
    let e = AuditEntry::Refused {
        header: h,
        reason: RefusalReason::ProtectionCategory {
            category: Category::ShelterLocation,
        },
        at: Timestamp::MAX,
    };
    assert!(e.encode().len() <= MAX_ENTRY_LEN);
    assert_eq!(AuditEntry::decode(&e.encode()).unwrap(), e);
}

#[test]
fn decode_refuses_oversized_and_foreign_versions() {
    assert!(matches!(
        AuditEntry::decode(&vec![ENTRY_VERSION; MAX_ENTRY_LEN + 1]),
        Err(DecodeError::TooLong { .. })
    ));
    assert!(matches!(
        AuditEntry::decode(&[]),
        Err(DecodeError::Empty { .. })
    ));
    assert!(matches!(
        AuditEntry::decode(&[2, 0]),
        Err(DecodeError::UnsupportedVersion {
            found: 2,
            supported: 1,
            ..
        })
    ));
    // Tag 16 does not exist.
    assert!(matches!(
        AuditEntry::decode(&[1, 16]),
        Err(DecodeError::Malformed { .. })
    ));
    // An unknown age status tag.
    let mut bad = AuditEntry::SubjectRegistered {
        subject: SubjectId::MIN,
        age_status: AgeStatus::Adult,
        at: Timestamp(0),
    }
    .encode();
    bad[18] = 0;
    assert!(matches!(
        AuditEntry::decode(&bad),
        Err(DecodeError::Malformed { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

fn arb_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,12}"
}

fn arb_agency() -> impl Strategy<Value = AgencyId> {
    arb_name().prop_map(|s| AgencyId::new(s).unwrap())
}

fn arb_officer() -> impl Strategy<Value = OfficerId> {
    arb_name().prop_map(|s| OfficerId::new(s).unwrap())
}

fn arb_rep() -> impl Strategy<Value = RepresentativeId> {
    arb_name().prop_map(|s| RepresentativeId::new(s).unwrap())
}

fn arb_clause_id() -> impl Strategy<Value = ClauseId> {
    arb_name().prop_map(|s| ClauseId::new(s).unwrap())
}

fn arb_time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![any::<u64>(), 0u64..1000].prop_map(Timestamp)
}

fn arb_category() -> impl Strategy<Value = Category> {
    prop::sample::select(Category::ALL)
}

fn arb_categories() -> impl Strategy<Value = CategorySet> {
    prop::collection::vec(arb_category(), 0..6).prop_map(|v| v.into_iter().collect())
}

fn arb_purpose() -> impl Strategy<Value = Purpose> {
    prop::sample::select(Purpose::ALL)
}

fn arb_role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL)
}

fn arb_header() -> impl Strategy<Value = DisclosureHeader> {
    (
        any::<[u8; 16]>(),
        arb_agency(),
        arb_agency(),
        any::<[u8; 16]>(),
        arb_categories(),
        arb_purpose(),
        prop::option::of(any::<[u8; 16]>()),
        arb_time(),
        prop::collection::btree_map(arb_officer(), any::<u8>(), 0..=MAX_APPROVALS),
    )
        .prop_map(
            |(e, sender, recipient, s, categories, purpose, consent, created_at, approvals)| {
                let mut a = Approvals::new();
                for (officer, b) in approvals {
                    a.insert(UrgentApproval {
                        officer,
                        signature: SignatureBytes::from_bytes([b; 64]),
                    })
                    .unwrap();
                }
                DisclosureHeader {
                    envelope_id: EnvelopeId::from_bytes(e),
                    sender,
                    recipient,
                    subject: SubjectId::from_bytes(s),
                    categories,
                    purpose,
                    consent: consent.map(ConsentId::from_bytes),
                    created_at,
                    approvals: a,
                }
            },
        )
}

fn arb_grant() -> impl Strategy<Value = ConsentGrant> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        prop::option::of(arb_rep()),
        prop::collection::vec(
            prop_oneof![
                arb_agency().prop_map(Recipient::Agency),
                arb_role().prop_map(Recipient::Role)
            ],
            1..5,
        ),
        prop::sample::subsequence(
            CategorySet::group(CategoryGroup::Assistance)
                .iter()
                .collect::<Vec<_>>(),
            1..=4,
        ),
        prop::sample::subsequence(Purpose::ALL.to_vec(), 1..=3),
        (0u64..u64::MAX - 1, 1u64..1000),
        any::<[u8; 32]>(),
        arb_officer(),
        arb_time(),
    )
        .prop_map(
            |(id, s, rep, recipients, cats, purposes, (from, len), evidence, officer, rec)| {
                ConsentGrant::new(ConsentTerms {
                    id: ConsentId::from_bytes(id),
                    subject: SubjectId::from_bytes(s),
                    granted_by: rep.map_or(Grantor::Subject, Grantor::Representative),
                    recipients,
                    categories: cats.into_iter().collect(),
                    purposes: purposes.into_iter().collect(),
                    valid_from: Timestamp(from),
                    expires_at: Timestamp(from.saturating_add(len)),
                    evidence_hash: evidence,
                    recorded_by: officer,
                    recorded_at: rec,
                })
                .unwrap()
            },
        )
}

fn arb_clauses() -> impl Strategy<Value = Vec<ClauseId>> {
    prop::collection::btree_set(arb_clause_id(), 1..4).prop_map(|s| s.into_iter().collect())
}

fn arb_basis() -> impl Strategy<Value = Basis> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(|c| Basis::Consent(ConsentId::from_bytes(c))),
        arb_clauses().prop_map(Basis::Agreement),
        (any::<[u8; 16]>(), arb_clauses()).prop_map(|(c, clauses)| Basis::ConsentAndAgreement {
            consent: ConsentId::from_bytes(c),
            clauses
        }),
    ]
}

fn arb_not_in_force() -> impl Strategy<Value = NotInForce> {
    prop_oneof![
        arb_time().prop_map(|at| NotInForce::Revoked { at }),
        arb_time().prop_map(|recorded_at| NotInForce::NotYetRecorded { recorded_at }),
        arb_time().prop_map(|valid_from| NotInForce::NotYetValid { valid_from }),
        arb_time().prop_map(|expires_at| NotInForce::Expired { expires_at }),
    ]
}

fn arb_reason() -> impl Strategy<Value = RefusalReason> {
    let consent = || any::<[u8; 16]>().prop_map(ConsentId::from_bytes);
    prop_oneof![
        arb_category().prop_map(|category| RefusalReason::ProtectionCategory { category }),
        Just(RefusalReason::EmptyCategories),
        (arb_categories(), arb_categories())
            .prop_map(|(declared, found)| RefusalReason::ContentMismatch { declared, found }),
        arb_agency().prop_map(|sender| RefusalReason::UnknownSender { sender }),
        arb_agency().prop_map(|recipient| RefusalReason::UnknownRecipient { recipient }),
        any::<[u8; 16]>().prop_map(|s| RefusalReason::SubjectClosed {
            subject: SubjectId::from_bytes(s)
        }),
        arb_role().prop_map(|role| RefusalReason::UrgentDangerSenderRole { role }),
        any::<u32>().prop_map(|verified| RefusalReason::UrgentDangerNeedsTwoApprovers { verified }),
        (arb_category(), arb_role(), arb_purpose()).prop_map(|(category, role, purpose)| {
            RefusalReason::ChildIdentificationOutsideAgreement {
                category,
                role,
                purpose,
            }
        }),
        consent().prop_map(|consent| RefusalReason::ChildOwnConsent { consent }),
        (consent(), arb_rep()).prop_map(|(consent, representative)| {
            RefusalReason::GrantorNotRegisteredRepresentative {
                consent,
                representative,
            }
        }),
        (consent(), arb_not_in_force())
            .prop_map(|(consent, why)| RefusalReason::ConsentNotInForce { consent, why }),
        (consent(), arb_agency(), arb_role()).prop_map(|(consent, recipient, role)| {
            RefusalReason::ConsentDoesNotCoverRecipient {
                consent,
                recipient,
                role,
            }
        }),
        (arb_category(), arb_role(), arb_purpose()).prop_map(|(category, role, purpose)| {
            RefusalReason::NotInAgreement {
                category,
                role,
                purpose,
            }
        }),
    ]
}

fn arb_hash() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn arb_signature() -> impl Strategy<Value = SignatureBytes> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut bytes = [0; 64];
        bytes[..32].copy_from_slice(&a);
        bytes[32..].copy_from_slice(&b);
        SignatureBytes::from_bytes(bytes)
    })
}

fn arb_entry() -> impl Strategy<Value = AuditEntry> {
    let subject = || any::<[u8; 16]>().prop_map(SubjectId::from_bytes);
    let age = || prop::sample::select(AgeStatus::ALL);
    prop_oneof![
        (subject(), age(), arb_time()).prop_map(|(subject, age_status, at)| {
            AuditEntry::SubjectRegistered {
                subject,
                age_status,
                at,
            }
        }),
        (subject(), age(), arb_time()).prop_map(|(subject, age_status, at)| {
            AuditEntry::AgeStatusRecorded {
                subject,
                age_status,
                at,
            }
        }),
        (subject(), arb_rep(), arb_time()).prop_map(|(subject, representative, at)| {
            AuditEntry::RepresentativeRegistered {
                subject,
                representative,
                at,
            }
        }),
        (subject(), arb_rep(), arb_time()).prop_map(|(subject, representative, at)| {
            AuditEntry::RepresentativeRemoved {
                subject,
                representative,
                at,
            }
        }),
        arb_grant().prop_map(|grant| AuditEntry::ConsentGranted { grant }),
        (any::<[u8; 16]>(), arb_time(), arb_officer()).prop_map(|(c, revoked_at, recorded_by)| {
            AuditEntry::ConsentRevoked {
                revocation: ConsentRevocation {
                    consent: ConsentId::from_bytes(c),
                    revoked_at,
                    recorded_by,
                },
            }
        }),
        (
            arb_header(),
            arb_basis(),
            any::<bool>(),
            arb_hash(),
            arb_time()
        )
            .prop_map(|(header, basis, urgent_review, ciphertext_hash, at)| {
                AuditEntry::Disclosed {
                    header,
                    basis,
                    urgent_review,
                    ciphertext_hash,
                    at,
                }
            }),
        (arb_header(), arb_reason(), arb_time())
            .prop_map(|(header, reason, at)| AuditEntry::Refused { header, reason, at }),
        (
            (arb_header(), arb_basis(), arb_hash()),
            (arb_hash(), arb_hash(), arb_hash(), arb_signature()),
            (any::<u64>(), any::<u64>(), arb_hash(), arb_signature()),
            arb_time()
        )
            .prop_map(
                |(
                    (header, basis, ciphertext_hash),
                    (sender_key, recipient_key, ephemeral, signature),
                    (
                        sender_log_index,
                        sender_tree_size,
                        sender_root_hash,
                        sender_checkpoint_signature,
                    ),
                    at,
                )| {
                    AuditEntry::Received {
                        header,
                        basis,
                        ciphertext_hash,
                        sender_signature: Box::new(EnvelopeSignature {
                            sender_key,
                            recipient_key,
                            ephemeral,
                            signature,
                        }),
                        sender_log_index,
                        sender_tree_size,
                        sender_root_hash,
                        sender_checkpoint_signature,
                        at,
                    }
                }
            ),
        (arb_header(), arb_reason(), arb_hash(), arb_time()).prop_map(
            |(header, reason, ciphertext_hash, at)| {
                AuditEntry::ReceiveRefused {
                    header,
                    reason,
                    ciphertext_hash,
                    at,
                }
            }
        ),
        (
            (any::<[u8; 16]>(), arb_agency(), any::<u64>()),
            (any::<u64>(), arb_hash(), arb_signature()),
            arb_time()
        )
            .prop_map(
                |(
                    (e, recipient, receiver_log_index),
                    (receiver_tree_size, receiver_root_hash, receiver_checkpoint_signature),
                    at,
                )| {
                    AuditEntry::Receipt {
                        envelope: EnvelopeId::from_bytes(e),
                        recipient,
                        receiver_log_index,
                        receiver_tree_size,
                        receiver_root_hash,
                        receiver_checkpoint_signature,
                        at,
                    }
                }
            ),
        (
            any::<[u8; 16]>(),
            arb_agency(),
            any::<bool>(),
            arb_categories(),
            arb_categories(),
            arb_hash(),
            arb_time()
        )
            .prop_map(|(e, sender, k, declared, found, ciphertext_hash, at)| {
                AuditEntry::Violation {
                    envelope: EnvelopeId::from_bytes(e),
                    sender,
                    kind: if k {
                        ViolationKind::CategoryMismatch
                    } else {
                        ViolationKind::UndecodableContent
                    },
                    declared,
                    found,
                    ciphertext_hash,
                    at,
                }
            }),
        (any::<u64>(), arb_hash(), arb_time()).prop_map(|(version, roster_hash, at)| {
            AuditEntry::RosterChanged {
                version,
                roster_hash,
                at,
            }
        }),
        (
            arb_agency(),
            prop_oneof![
                Just(KeyKind::NodeIdentity),
                Just(KeyKind::AgencySigning),
                Just(KeyKind::AgencyEncryption),
                Just(KeyKind::Application),
                arb_officer().prop_map(KeyKind::Officer)
            ],
            arb_hash(),
            arb_time()
        )
            .prop_map(|(agency, kind, public_key, at)| AuditEntry::KeyChanged {
                agency,
                kind,
                public_key,
                at
            }),
        (subject(), arb_hash(), arb_time()).prop_map(|(old, new_commitment, at)| {
            AuditEntry::SubjectRekeyed {
                old,
                new_commitment,
                at,
            }
        }),
        (
            "[ -~]{0,40}[!-~]",
            any::<u64>(),
            arb_hash(),
            arb_hash(),
            arb_time()
        )
            .prop_map(|(origin, size, root_a, root_b, at)| {
                AuditEntry::WitnessAlarmV1 {
                    origin: LogOrigin::new(origin.trim_start().to_string() + "x").unwrap(),
                    size,
                    root_a,
                    root_b,
                    at,
                }
            }),
        (
            "[ -~]{0,40}[!-~]",
            prop::sample::select(vec![
                WitnessAlarmKind::Fork,
                WitnessAlarmKind::Rollback,
                WitnessAlarmKind::Inconsistent,
            ]),
            (any::<u64>(), arb_hash()),
            (any::<u64>(), arb_hash()),
            arb_time()
        )
            .prop_map(|(origin, kind, cosigned, offered, at)| {
                AuditEntry::WitnessAlarm {
                    origin: LogOrigin::new(origin.trim_start().to_string() + "x").unwrap(),
                    kind,
                    cosigned_size: cosigned.0,
                    cosigned_root: cosigned.1,
                    offered_size: offered.0,
                    offered_root: offered.1,
                    at,
                }
            }),
        (
            "[ -~]{0,40}[!-~]",
            (any::<u64>(), arb_hash()),
            "\\PC{0,200}",
            arb_agency(),
            arb_time()
        )
            .prop_map(|(origin, restored, proven_note, proven_by, at)| {
                AuditEntry::LogRestored {
                    previous_origin: LogOrigin::new(origin.trim_start().to_string() + "x").unwrap(),
                    restored_size: restored.0,
                    restored_root: restored.1,
                    proven_note,
                    proven_by,
                    at,
                }
            }),
    ]
}

#[test]
fn a_log_restored_proof_note_over_its_bound_is_refused() {
    let entry = |len: usize| AuditEntry::LogRestored {
        previous_origin: LogOrigin::new("police.example/log").unwrap(),
        restored_size: 1,
        restored_root: [0; 32],
        proven_note: "n".repeat(len),
        proven_by: agency("csw"),
        at: Timestamp(1),
    };
    let fits = entry(MAX_PROVEN_NOTE_LEN);
    assert_eq!(AuditEntry::decode(&fits.encode()).unwrap(), fits);
    assert!(matches!(
        AuditEntry::decode(&entry(MAX_PROVEN_NOTE_LEN + 1).encode()),
        Err(DecodeError::Malformed { .. })
    ));
}

/// A byte-level edit of an encoding.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len();
        match *m {
            Mutation::Flip(i, x) if n > 0 => bytes[i % n] ^= x,
            Mutation::Truncate(i) => bytes.truncate(i % (n + 1)),
            Mutation::Insert(i, x) => bytes.insert(i % (n + 1), x),
            Mutation::Remove(i) if n > 0 => {
                bytes.remove(i % n);
            }
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn entry_round_trip(entry in arb_entry()) {
        let bytes = entry.encode();
        prop_assert!(bytes.len() <= MAX_ENTRY_LEN);
        prop_assert_eq!(bytes[0], ENTRY_VERSION);
        prop_assert_eq!(AuditEntry::decode(&bytes).unwrap(), entry);
    }

    #[test]
    fn header_round_trip(header in arb_header()) {
        let bytes = header.encode();
        prop_assert!(bytes.len() <= MAX_HEADER_LEN);
        prop_assert_eq!(DisclosureHeader::decode(&bytes).unwrap(), header.clone());
        // Approvals never change what the officers sign.
        let mut bare = header.clone();
        bare.approvals = Approvals::new();
        prop_assert_eq!(bare.approval_message(), header.approval_message());
    }

    /// Arbitrary bytes never panic a decoder; whatever decodes is canonical.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..512), version in any::<bool>()) {
        if version && !bytes.is_empty() {
            bytes[0] = 1;
        }
        if let Ok(e) = AuditEntry::decode(&bytes) {
            prop_assert_eq!(e.encode(), bytes.clone());
        }
        if let Ok(h) = DisclosureHeader::decode(&bytes) {
            prop_assert_eq!(h.encode(), bytes.clone());
        }
        if let Ok(r) = Record::decode(&bytes) {
            prop_assert_eq!(r.encode(), bytes.clone());
        }
    }

    /// Edited valid encodings never panic the decoder; whatever decodes is canonical.
    #[test]
    fn decoding_mutated_entries_never_panics(entry in arb_entry(), mutations in prop::collection::vec(arb_mutation(), 1..4)) {
        let bytes = mutate(entry.encode(), &mutations);
        if let Ok(e) = AuditEntry::decode(&bytes) {
            prop_assert_eq!(e.encode(), bytes);
        }
    }
}

/// The variant indices of `RefusalReason` that `spec/entries.md` §4 lists.
#[test]
fn refusal_reason_tags_are_pinned() {
    let c = ConsentId::MIN;
    let s = SubjectId::MIN;
    let a = agency("a");
    let reasons = [
        RefusalReason::ProtectionCategory {
            category: Category::ShelterLocation,
        },
        RefusalReason::EmptyCategories,
        RefusalReason::ContentMismatch {
            declared: CategorySet::new(),
            found: CategorySet::new(),
        },
        RefusalReason::UnknownSender { sender: a.clone() },
        RefusalReason::UnknownRecipient {
            recipient: a.clone(),
        },
        RefusalReason::UnknownSubject { subject: s },
        RefusalReason::SubjectMismatch {
            header: s,
            context: s,
        },
        RefusalReason::SubjectClosed { subject: s },
        RefusalReason::UrgentDangerSenderRole { role: Role::Health },
        RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 },
        RefusalReason::ChildIdentificationOutsideAgreement {
            category: Category::Identity,
            role: Role::Health,
            purpose: Purpose::Assistance,
        },
        RefusalReason::NoConsentForAssistance {
            category: Category::Medical,
        },
        RefusalReason::ConsentUnknown { consent: c },
        RefusalReason::ConsentSubjectMismatch {
            consent: c,
            subject: s,
        },
        RefusalReason::ChildOwnConsent { consent: c },
        RefusalReason::GrantorNotRegisteredRepresentative {
            consent: c,
            representative: RepresentativeId::new("r").unwrap(),
        },
        RefusalReason::ConsentNotInForce {
            consent: c,
            why: NotInForce::Expired {
                expires_at: Timestamp(0),
            },
        },
        RefusalReason::ConsentDoesNotCoverRecipient {
            consent: c,
            recipient: a.clone(),
            role: Role::Health,
        },
        RefusalReason::ConsentDoesNotCoverCategory {
            consent: c,
            category: Category::Medical,
        },
        RefusalReason::ConsentDoesNotCoverPurpose {
            consent: c,
            purpose: Purpose::Return,
        },
        RefusalReason::NotInAgreement {
            category: Category::Identity,
            role: Role::Health,
            purpose: Purpose::Return,
        },
        RefusalReason::RecipientIsSender { agency: a.clone() },
        RefusalReason::ConsentRecipientNotInRoster {
            consent: c,
            recipient: a,
        },
    ];
    for (i, r) in reasons.iter().enumerate() {
        let e = AuditEntry::Refused {
            header: fixed_header(),
            reason: r.clone(),
            at: Timestamp(0),
        };
        let bytes = e.encode();
        let header_len = fixed_header().encode().len() - 1;
        assert_eq!(usize::from(bytes[2 + header_len]), i, "{r:?}");
        assert_eq!(AuditEntry::decode(&bytes).unwrap(), e);
    }
}

/// The borrowed decoder agrees with the owned one: the same result, error for error, and
/// what decodes converts to exactly the owned entry.
fn borrowed_agrees(bytes: &[u8]) -> Result<(), TestCaseError> {
    let owned = AuditEntry::decode(bytes);
    let borrowed = AuditEntryRef::decode(bytes);
    match (&owned, &borrowed) {
        (Ok(o), Ok(b)) => {
            prop_assert_eq!(&b.to_owned(), o);
            prop_assert_eq!(b.at(), o.at());
            prop_assert_eq!(b.kind_name(), o.kind_name());
        }
        (Err(o), Err(b)) => prop_assert_eq!(o, b),
        _ => prop_assert!(
            false,
            "owned {:?} but borrowed {:?}",
            owned.as_ref().map(|_| ()),
            borrowed.as_ref().map(|_| ())
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn borrowed_decoding_of_valid_entries_is_the_owned_one(entry in arb_entry()) {
        let bytes = entry.encode();
        prop_assert_eq!(AuditEntryRef::decode(&bytes).unwrap().to_owned(), entry);
    }

    #[test]
    fn borrowed_and_owned_decoding_agree_on_arbitrary_bytes(mut bytes in prop::collection::vec(any::<u8>(), 0..512), version in any::<bool>()) {
        if version && !bytes.is_empty() {
            bytes[0] = ENTRY_VERSION;
        }
        borrowed_agrees(&bytes)?;
    }

    #[test]
    fn borrowed_and_owned_decoding_agree_on_edited_entries(entry in arb_entry(), mutations in prop::collection::vec(arb_mutation(), 1..4)) {
        borrowed_agrees(&mutate(entry.encode(), &mutations))?;
    }
}

/// The vectors of `spec/entries.md`, the size caps and the proof note's bound hold for the
/// borrowed decoder as for the owned one.
#[test]
fn borrowed_decoding_keeps_the_caps() {
    for (_, _, entry) in fixed_entries() {
        let bytes = entry.encode();
        assert_eq!(AuditEntryRef::decode(&bytes).unwrap().to_owned(), entry);
    }
    let note = |len: usize| AuditEntry::LogRestored {
        previous_origin: LogOrigin::new("police.example/log").unwrap(),
        restored_size: 1,
        restored_root: [0; 32],
        proven_note: "n".repeat(len),
        proven_by: agency("csw"),
        at: Timestamp(1),
    };
    for len in [MAX_PROVEN_NOTE_LEN, MAX_PROVEN_NOTE_LEN + 1] {
        let bytes = note(len).encode();
        assert_eq!(
            AuditEntryRef::decode(&bytes).map(|e| e.to_owned()),
            AuditEntry::decode(&bytes)
        );
    }
    let long = vec![ENTRY_VERSION; MAX_ENTRY_LEN + 1];
    assert_eq!(
        AuditEntryRef::decode(&long).unwrap_err(),
        AuditEntry::decode(&long).unwrap_err()
    );
    assert!(matches!(
        AuditEntryRef::decode(&long),
        Err(DecodeError::TooLong { .. })
    ));
}
