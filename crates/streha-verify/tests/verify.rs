//! The verifier against a clean three-node federation and against doctored bundles: each
//! doctoring is caught with the right finding (issue 9, "Tests").

mod common;

use common::*;
use ed25519_dalek::SigningKey;
use streha_audit::{CosignatureSigner, LogBundle, NoteSigner, SignedNote, leaf_hash};
use streha_core::{
    AuditEntry, Basis, Category, EnvelopeId, Grantor, Purpose, Recipient, Timestamp,
};
use streha_verify::{Report, Rule, Severity, VerifyOptions, render_text, verify};

fn run(fed: &Fed) -> Report {
    verify(&fed.bundles(), &fed.roster, &VerifyOptions::default())
}

fn bundle_of<'a>(bundles: &'a mut [LogBundle], id: &str) -> &'a mut LogBundle {
    bundles
        .iter_mut()
        .find(|b| b.origin.ends_with(&format!("/{id}")))
        .unwrap()
}

/// Asserts that `rule` was found at `node` (and entry `index`, if given).
#[track_caller]
fn assert_found(report: &Report, rule: Rule, node: &str, index: Option<u64>) {
    let hit = report
        .with_rule(rule)
        .any(|f| f.node == node && (index.is_none() || f.entry_index == index));
    assert!(
        hit,
        "expected {rule} at {node}{}; got:\n{}",
        index.map(|i| format!("#{i}")).unwrap_or_default(),
        render_text(report)
    );
    assert!(!report.is_clean());
}

#[test]
fn clean_federation_verifies_with_zero_findings() {
    let fed = Fed::demo();
    let report = run(&fed);
    if std::env::var_os("STREHA_PRINT_REPORT").is_some() {
        println!("{}", render_text(&report));
    }
    assert!(report.is_clean(), "{}", render_text(&report));
    assert_eq!(report.findings.len(), 0);
    assert_eq!(report.totals.logs, 3);
    assert_eq!(report.totals.disclosures, 6);
    assert_eq!(report.totals.received, 5);
    assert_eq!(report.totals.refusals, 1);

    // Notes, not findings: the one undelivered disclosure and the urgent-danger review.
    let undelivered: Vec<_> = report.with_rule(Rule::Undelivered).collect();
    assert_eq!(undelivered.len(), 1);
    assert_eq!(undelivered[0].node, POLICE);
    assert_eq!(report.with_rule(Rule::UrgentReview).count(), 1);
    assert!(report.notes.iter().all(|n| n.severity == Severity::Info));

    // Every node's latest checkpoint was cosigned by the two others.
    for node in &report.nodes {
        assert!(node.replayed);
        assert_eq!(node.unsigned_entries, 0);
        assert!(node.checkpoints.iter().all(|c| c.signed && c.root_matches));
        let last = node.checkpoints.last().unwrap();
        assert_eq!(last.witnesses.len(), 2, "{:?}", node.agency);
    }
    let witnessed = verify(
        &fed.bundles(),
        &fed.roster,
        &VerifyOptions::new().min_witnesses(2),
    );
    assert!(witnessed.is_clean());
    let too_many = verify(
        &fed.bundles(),
        &fed.roster,
        &VerifyOptions::new().min_witnesses(3),
    );
    assert_eq!(too_many.with_rule(Rule::InsufficientWitnesses).count(), 3);

    // The police's disclosures, with their delivery status.
    let police = report
        .nodes
        .iter()
        .find(|n| n.agency.as_deref() == Some(POLICE))
        .unwrap();
    let statuses: Vec<&str> = police.disclosures.iter().map(|d| d.status).collect();
    assert_eq!(
        statuses,
        [
            "received",
            "received",
            "received",
            "received",
            "undelivered"
        ]
    );
    assert!(police.disclosures.iter().all(|d| d.lawful));
    assert_eq!(report.timeline.granularity, "day");
    assert_eq!(
        report.timeline.buckets.iter().map(|b| b.total).sum::<u64>(),
        6
    );
}

#[test]
fn an_entry_byte_changed_is_caught() {
    let fed = Fed::demo();
    let mut bundles = fed.bundles();
    let police = bundle_of(&mut bundles, POLICE);
    // The first `disclosed`: change one byte of its ciphertext hash.
    let index = police
        .entries
        .iter()
        .position(|e| matches!(AuditEntry::decode(e), Ok(AuditEntry::Disclosed { .. })))
        .unwrap();
    let byte = police.entries[index].len() - 8;
    police.entries[index][byte] ^= 0x01;
    let report = verify(&bundles, &fed.roster, &VerifyOptions::default());
    assert_found(&report, Rule::RootMismatch, POLICE, None);
    let f = report.with_rule(Rule::RootMismatch).next().unwrap();
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.checkpoint_index.is_some());
    assert!(
        f.seen.contains("was changed, removed or inserted"),
        "{}",
        f.seen
    );
}

#[test]
fn an_entry_removed_is_caught() {
    let fed = Fed::demo();
    // From the middle: the signed roots no longer match.
    let mut bundles = fed.bundles();
    bundle_of(&mut bundles, POLICE).entries.remove(3);
    let report = verify(&bundles, &fed.roster, &VerifyOptions::default());
    assert_found(&report, Rule::RootMismatch, POLICE, None);

    // From the end: the node signed more entries than the bundle holds.
    let mut bundles = fed.bundles();
    bundle_of(&mut bundles, CSW).entries.pop();
    let report = verify(&bundles, &fed.roster, &VerifyOptions::default());
    assert_found(&report, Rule::CheckpointBeyondEntries, CSW, None);
}

#[test]
fn a_protection_category_disclosed_by_a_malicious_node_is_caught() {
    let mut fed = Fed::demo();
    // The node logs a disclosure of a shelter's location and signs its log: the log is
    // intact, the law is broken.
    let header = fed.header(
        0x40,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Identity, Category::ShelterLocation],
        Purpose::Assistance,
        None,
        t(13 * DAY),
    );
    let index = fed.disclose(&header, agreement(&["csw-referral"]));
    let report = run(&fed);
    assert_found(
        &report,
        Rule::ProtectionCategoryDisclosed,
        POLICE,
        Some(index),
    );
    let f = report
        .with_rule(Rule::ProtectionCategoryDisclosed)
        .next()
        .unwrap();
    assert_eq!(f.article, "Art. 18.4, 18.6");
    assert!(f.seen.contains("shelter_location"));
    assert_eq!(
        f.envelope.as_deref(),
        Some(&*EnvelopeId::from_bytes([0x40; 16]).to_string())
    );
    // Nothing wrong with the log itself.
    assert_eq!(report.with_rule(Rule::RootMismatch).count(), 0);
    assert_eq!(report.with_rule(Rule::CheckpointNotSigned).count(), 0);
}

#[test]
fn a_childs_own_consent_used_is_caught() {
    let mut fed = Fed::new();
    fed.start();
    fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
        subject: SUBJECT_CHILD,
        age_status: streha_core::AgeStatus::PresumedChild,
        at: t(0),
    }]);
    let own = streha_core::ConsentId::from_bytes([0x44; 16]);
    fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
        grant: Fed::grant(
            own,
            SUBJECT_CHILD,
            Grantor::Subject,
            vec![Recipient::Agency(agency(CSW))],
            &[Category::Psychological],
            &[Purpose::Assistance],
            t(100),
        ),
    }]);
    let header = fed.header(
        0x41,
        POLICE,
        CSW,
        SUBJECT_CHILD,
        &[Category::Psychological],
        Purpose::Assistance,
        Some(own),
        t(HOUR),
    );
    let index = fed.disclose(&header, Basis::Consent(own));
    fed.deliver(&header, Basis::Consent(own), index);
    let report = run(&fed);
    assert_found(&report, Rule::ChildOwnConsent, POLICE, Some(index));
    let f = report.with_rule(Rule::ChildOwnConsent).next().unwrap();
    assert_eq!(f.article, "Art. 18.3, 36, 38.5");
    // The receiver decided on the same evidence: it should have refused too.
    assert_found(&report, Rule::ReceivedWithoutBasis, CSW, None);
}

#[test]
fn a_revoked_consent_used_is_caught() {
    let mut fed = Fed::demo();
    // The adult revoked their consent at day 5 (in the demo); the node discloses on it at
    // day 6 anyway, and signs.
    let header = fed.header(
        0x42,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Psychological],
        Purpose::Assistance,
        Some(CONSENT_ADULT),
        t(6 * DAY),
    );
    let index = fed.disclose(&header, Basis::Consent(CONSENT_ADULT));
    fed.deliver(&header, Basis::Consent(CONSENT_ADULT), index);
    let report = run(&fed);
    assert_found(&report, Rule::RevokedConsentUsed, POLICE, Some(index));
    let f = report.with_rule(Rule::RevokedConsentUsed).next().unwrap();
    assert!(f.seen.contains("revoked at"), "{}", f.seen);
    // The receiver could not know of the revocation: no finding at the receiver.
    assert_eq!(report.with_rule(Rule::ReceivedWithoutBasis).count(), 0);
    assert_eq!(report.with_rule(Rule::ReceiverBasisMismatch).count(), 0);
}

#[test]
fn a_received_without_disclosed_is_caught() {
    let mut fed = Fed::demo();
    let header = fed.header(
        0x43,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Identity],
        Purpose::Assistance,
        None,
        t(13 * DAY),
    );
    let index = fed.orphan_received(&header, agreement(&["csw-referral"]), t(13 * DAY + 500));
    let report = run(&fed);
    assert_found(&report, Rule::ReceivedWithoutDisclosed, CSW, Some(index));
    let f = report
        .with_rule(Rule::ReceivedWithoutDisclosed)
        .next()
        .unwrap();
    assert_eq!(f.counterpart.as_deref(), Some(&*format!("{POLICE}#0")));
    assert_eq!(f.severity, Severity::Critical);
}

#[test]
fn two_checkpoints_of_one_size_with_different_roots_are_a_fork() {
    let mut fed = Fed::demo();
    let police = fed.node(POLICE);
    // The node signs another tree of the same size as its checkpoint 2.
    let first = SignedNote::parse(&police.checkpoints[2]).unwrap();
    let size = streha_audit::Checkpoint::parse_body(first.body())
        .unwrap()
        .size();
    let other = police.signed_checkpoint(size, leaf_hash(b"another history"));
    police.checkpoints.insert(3, other);
    let report = run(&fed);
    assert_found(&report, Rule::Fork, POLICE, None);
    let f = report.with_rule(Rule::Fork).next().unwrap();
    assert!(
        f.seen.contains(&format!("two trees of size {size}")),
        "{}",
        f.seen
    );

    // The same across two bundles of one log: each consistent on its own.
    let mut fed = Fed::demo();
    let honest = fed.nodes[CSW].bundle();
    let csw = fed.node(CSW);
    let size = csw.tree.size();
    csw.entries.pop();
    csw.tree = streha_audit::MemoryTree::from_entries(&csw.entries);
    csw.checkpoints.clear();
    let forked = AuditEntry::SubjectRegistered {
        subject: streha_core::SubjectId::from_bytes([0x77; 16]),
        age_status: streha_core::AgeStatus::Adult,
        at: t(20 * DAY),
    };
    csw.append(&forked);
    assert_eq!(csw.tree.size(), size);
    csw.sign();
    let mut bundles = fed.bundles();
    bundles.push(honest);
    let report = verify(&bundles, &fed.roster, &VerifyOptions::default());
    assert_found(&report, Rule::Fork, CSW, None);
    assert_eq!(report.with_rule(Rule::DuplicateLog).count(), 1);
}

/// C2SP signed-note: a verifier ignores signatures by keys it does not know. A line by a
/// name no roster node has, or under a node's name with a key id that is not that node's key,
/// is a note, never `forged_cosignature` (issue 15.8).
#[test]
fn signatures_by_keys_not_in_the_roster_are_ignored() {
    let mut fed = Fed::demo();
    let police = fed.node(POLICE);
    let mut note = SignedNote::parse(police.checkpoints.last().unwrap()).unwrap();
    // A witness the roster does not know (an independent witness's, say).
    let stranger = CosignatureSigner::new(
        "kosovo-demo.example/streha/mallory",
        SigningKey::from_bytes(&[0x66; 32]),
    )
    .unwrap();
    note.add_signature(stranger.cosign(note.body(), 1_767_225_600).unwrap())
        .unwrap();
    // A line under the shelter's name with another key (its key id is not the shelter's).
    let impostor = CosignatureSigner::new(
        &format!("{FEDERATION}/streha/{SHELTER}"),
        SigningKey::from_bytes(&[0x67; 32]),
    )
    .unwrap();
    note.add_signature(impostor.cosign(note.body(), 1_767_225_600).unwrap())
        .unwrap();
    // And one under the log's own name with another key.
    let own = NoteSigner::new(&police.origin, SigningKey::from_bytes(&[0x69; 32])).unwrap();
    note.add_signature(own.sign(note.body()).unwrap()).unwrap();
    *police.checkpoints.last_mut().unwrap() = note.to_text();
    let report = run(&fed);
    assert!(report.is_clean(), "{}", render_text(&report));
    let ignored: Vec<_> = report.with_rule(Rule::UnknownCosigner).collect();
    assert_eq!(ignored.len(), 3, "{}", render_text(&report));
    assert!(ignored.iter().all(|f| f.severity == Severity::Info));
    assert!(ignored.iter().any(|f| f.seen.contains("mallory")));
    assert!(
        ignored
            .iter()
            .any(|f| f.seen.contains("not a key the roster gives it"))
    );
    // The two genuine witnesses still count; neither stranger does.
    let police = report
        .nodes
        .iter()
        .find(|n| n.agency.as_deref() == Some(POLICE))
        .unwrap();
    assert_eq!(police.checkpoints.last().unwrap().witnesses.len(), 2);
}

#[test]
fn a_forged_witness_signature_is_caught() {
    let mut fed = Fed::demo();
    let police = fed.node(POLICE);
    let text = police.checkpoints.last().unwrap().clone();
    // Flip a bit inside the last (a witness's) signature line.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let last = lines.last_mut().unwrap();
    let pos = last.len() - 6;
    let c = if &last[pos..=pos] == "A" { "B" } else { "A" };
    last.replace_range(pos..=pos, c);
    *police.checkpoints.last_mut().unwrap() = lines.join("\n") + "\n";
    let report = run(&fed);
    assert_found(&report, Rule::ForgedCosignature, POLICE, None);
}

#[test]
fn a_checkpoint_signed_by_another_key_is_caught() {
    let mut fed = Fed::demo();
    let police = fed.node(POLICE);
    let signer = NoteSigner::new(&police.origin, SigningKey::from_bytes(&[0x68; 32])).unwrap();
    let forged = streha_audit::sign_checkpoint(
        &streha_audit::Checkpoint::new(
            police.origin.as_str(),
            police.tree.size(),
            police.tree.root(),
        )
        .unwrap(),
        &signer,
    );
    police.checkpoints.push(forged.to_text());
    let report = run(&fed);
    assert_found(&report, Rule::CheckpointNotSigned, POLICE, None);
}

#[test]
fn urgent_danger_with_one_approver_is_caught() {
    let mut fed = Fed::demo();
    let mut header = fed.header(
        0x45,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Identity],
        Purpose::UrgentDanger,
        None,
        t(13 * DAY),
    );
    fed.approve(&mut header, 1);
    let index = fed.disclose(&header, agreement(&["csw-referral"]));
    let report = run(&fed);
    assert_found(
        &report,
        Rule::UrgentWithoutTwoApprovers,
        POLICE,
        Some(index),
    );
    assert_eq!(
        report
            .with_rule(Rule::UrgentWithoutTwoApprovers)
            .next()
            .unwrap()
            .article,
        "Art. 45.3"
    );
}

#[test]
fn a_receipt_naming_a_tree_the_receiver_never_signed_is_caught() {
    let mut fed = Fed::demo();
    let header = fed.header(
        0x46,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Identity],
        Purpose::Assistance,
        None,
        t(13 * DAY),
    );
    let index = fed.disclose(&header, agreement(&["csw-referral"]));
    fed.deliver(&header, agreement(&["csw-referral"]), index);
    // The sender logs a second receipt whose root is not the receiver's: it can sign that
    // checkpoint only with its own key.
    let csw_size = fed.nodes[CSW].tree.size();
    let forged = fed.nodes[POLICE].kept(csw_size, streha_audit::Hash::from_bytes([0x55; 32]));
    let receipt = fed.node(POLICE).commit(&[AuditEntry::Receipt {
        envelope: header.envelope_id,
        recipient: agency(CSW),
        receiver_log_index: csw_size - 1,
        receiver_tree_size: csw_size,
        receiver_root_hash: [0x55; 32],
        receiver_checkpoint_signature: forged.signature,
        at: t(13 * DAY + 900),
    }]);
    let report = run(&fed);
    assert_found(
        &report,
        Rule::ForgedCheckpointEvidence,
        POLICE,
        Some(receipt),
    );
}

#[test]
fn garbage_bundles_never_panic() {
    let fed = Fed::demo();
    let mut bundles = fed.bundles();
    for b in &mut bundles {
        for e in b.entries.iter_mut().step_by(3) {
            e.truncate(e.len() / 2);
        }
        for c in b.checkpoints.iter_mut().step_by(2) {
            c.insert(3, '\u{7}');
        }
    }
    bundles.push(LogBundle::new(
        "kosovo-demo.example/streha/nobody",
        vec![vec![1, 2, 3]],
        vec![],
    ));
    let report = verify(&bundles, &fed.roster, &VerifyOptions::default());
    assert_found(&report, Rule::UndecodableEntry, POLICE, Some(0));
    assert_found(&report, Rule::MalformedCheckpoint, CSW, None);
    assert_found(
        &report,
        Rule::UnknownLog,
        "kosovo-demo.example/streha/nobody",
        None,
    );
    // A bundle from another time, with no entries and no checkpoints.
    let empty = LogBundle::new(format!("{FEDERATION}/streha/{POLICE}"), vec![], vec![]);
    let report = verify(&[empty], &fed.roster, &VerifyOptions::default());
    assert_found(&report, Rule::NoCheckpoint, POLICE, None);
}

#[test]
fn a_received_from_a_non_member_is_caught() {
    let mut fed = Fed::demo();
    let mut header = fed.header(
        0x47,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Identity],
        Purpose::Assistance,
        None,
        t(13 * DAY),
    );
    header.sender = agency("mallory");
    let index = fed.node(CSW).commit(&[AuditEntry::Received {
        header,
        basis: agreement(&["csw-referral"]),
        ciphertext_hash: [3; 32],
        sender_signature: Box::new(streha_core::EnvelopeSignature {
            sender_key: [4; 32],
            recipient_key: [5; 32],
            ephemeral: [6; 32],
            signature: streha_core::SignatureBytes::from_bytes([7; 64]),
        }),
        sender_log_index: 0,
        sender_tree_size: 1,
        sender_root_hash: [8; 32],
        sender_checkpoint_signature: streha_core::SignatureBytes::from_bytes([9; 64]),
        at: t(13 * DAY + 500),
    }]);
    let report = run(&fed);
    assert_found(&report, Rule::ReceivedWithoutBasis, CSW, Some(index));
}

/// Art. 18.3 and the clock skew: a node that logs a disclosure after the consent's
/// revocation, on a header dated (within the skew) before it, is caught: the replay decides
/// at the logged `at` as well as at `created_at`, as the sending node must.
#[test]
fn a_disclosure_dated_before_a_revocation_but_logged_after_it_is_caught() {
    // An adult's consent, revoked at `revoked`.
    let history = |fed: &mut Fed, revoked: Timestamp| {
        fed.start();
        fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
            subject: SUBJECT_ADULT,
            age_status: streha_core::AgeStatus::Adult,
            at: t(0),
        }]);
        fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
            grant: Fed::grant(
                CONSENT_ADULT,
                SUBJECT_ADULT,
                Grantor::Subject,
                vec![Recipient::Agency(agency(CSW))],
                &[Category::Psychological],
                &[Purpose::Assistance],
                t(100),
            ),
        }]);
        fed.node(POLICE).commit(&[AuditEntry::ConsentRevoked {
            revocation: streha_core::ConsentRevocation {
                consent: CONSENT_ADULT,
                revoked_at: revoked,
                recorded_by: streha_core::OfficerId::new("police-officer-1").unwrap(),
            },
        }]);
    };
    let revoked = t(DAY);
    let mut fed = Fed::new();
    history(&mut fed, revoked);
    let header = fed.header(
        0x45,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Psychological],
        Purpose::Assistance,
        Some(CONSENT_ADULT),
        Timestamp(revoked.0 - 30_000),
    );
    let ciphertext_hash = fed.seal(&header);
    let index = fed.node(POLICE).commit(&[AuditEntry::Disclosed {
        header: header.clone(),
        basis: Basis::Consent(CONSENT_ADULT),
        urgent_review: false,
        ciphertext_hash,
        at: Timestamp(revoked.0 + 60_000),
    }]);
    let report = run(&fed);
    assert_found(&report, Rule::RevokedConsentUsed, POLICE, Some(index));
    let f = report
        .with_rule(Rule::RevokedConsentUsed)
        .find(|f| f.entry_index == Some(index))
        .unwrap();
    assert!(f.seen.contains("revoked at"), "{}", f.seen);
    // Within the clock skew: no finding on the times themselves.
    assert_eq!(report.with_rule(Rule::TimeBackwards).count(), 0);

    // The same header, logged before the revocation, is lawful.
    let mut fed = Fed::new();
    fed.start();
    fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
        subject: SUBJECT_ADULT,
        age_status: streha_core::AgeStatus::Adult,
        at: t(0),
    }]);
    fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
        grant: Fed::grant(
            CONSENT_ADULT,
            SUBJECT_ADULT,
            Grantor::Subject,
            vec![Recipient::Agency(agency(CSW))],
            &[Category::Psychological],
            &[Purpose::Assistance],
            t(100),
        ),
    }]);
    let ciphertext_hash = fed.seal(&header);
    let index = fed.node(POLICE).commit(&[AuditEntry::Disclosed {
        header: header.clone(),
        basis: Basis::Consent(CONSENT_ADULT),
        urgent_review: false,
        ciphertext_hash,
        at: Timestamp(revoked.0 - 10_000),
    }]);
    fed.node(POLICE).commit(&[AuditEntry::ConsentRevoked {
        revocation: streha_core::ConsentRevocation {
            consent: CONSENT_ADULT,
            revoked_at: revoked,
            recorded_by: streha_core::OfficerId::new("police-officer-1").unwrap(),
        },
    }]);
    let report = run(&fed);
    assert!(
        report.findings.iter().all(|f| f.entry_index != Some(index)),
        "{}",
        render_text(&report)
    );
}

/// Art. 18.5: the node logs the new id's `subject_registered` at its first use, not with the
/// re-keying, and nothing links the two ids. An unrelated subject registered as adult right
/// after a re-keying, at the same time, is a new subject (adult since the epoch), not the
/// successor: it does not inherit the closed id's `adult_since`.
#[test]
fn a_registration_right_after_a_rekeying_is_not_taken_for_the_successor() {
    let mut fed = Fed::new();
    fed.start();
    let old = SUBJECT_CHILD;
    let other = streha_core::SubjectId::from_bytes([0x5e; 16]);
    let successor = SUBJECT_REKEYED;
    fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
        subject: old,
        age_status: streha_core::AgeStatus::PresumedChild,
        at: t(0),
    }]);
    // The old id's adult age is recorded at one hour, then it is re-keyed.
    fed.node(POLICE).commit(&[AuditEntry::AgeStatusRecorded {
        subject: old,
        age_status: streha_core::AgeStatus::Adult,
        at: t(HOUR),
    }]);
    let rekeyed_at = t(HOUR + 1_000);
    fed.node(POLICE).commit(&[AuditEntry::SubjectRekeyed {
        old,
        new_commitment: streha_core::rekey_commitment(&[0x99; 32], successor),
        at: rekeyed_at,
    }]);
    // Another person, registered as an adult in the very next entry, in the same millisecond.
    fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
        subject: other,
        age_status: streha_core::AgeStatus::Adult,
        at: rekeyed_at,
    }]);
    // Their own consent, recorded (backdated within the skew) before the old id's adult age.
    let own = streha_core::ConsentId::from_bytes([0x46; 16]);
    fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
        grant: Fed::grant(
            own,
            other,
            Grantor::Subject,
            vec![Recipient::Agency(agency(CSW))],
            &[Category::Psychological],
            &[Purpose::Assistance],
            t(HOUR - 1_000),
        ),
    }]);
    let header = fed.header(
        0x46,
        POLICE,
        CSW,
        other,
        &[Category::Psychological],
        Purpose::Assistance,
        Some(own),
        t(HOUR + 2_000),
    );
    let index = fed.disclose(&header, Basis::Consent(own));
    fed.deliver(&header, Basis::Consent(own), index);

    // The successor is registered later, at its first use, with the carried-over status.
    fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
        subject: successor,
        age_status: streha_core::AgeStatus::Adult,
        at: t(2 * DAY),
    }]);
    fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
        grant: Fed::grant(
            CONSENT_REKEYED,
            successor,
            Grantor::Subject,
            vec![Recipient::Agency(agency(CSW))],
            &[Category::Psychological],
            &[Purpose::Assistance],
            t(2 * DAY + 1_000),
        ),
    }]);
    let later = fed.header(
        0x47,
        POLICE,
        CSW,
        successor,
        &[Category::Psychological],
        Purpose::Assistance,
        Some(CONSENT_REKEYED),
        t(2 * DAY + HOUR),
    );
    fed.send(&later, Basis::Consent(CONSENT_REKEYED));
    // Disclosures under the old id stay refused by the replay: it is closed.
    let closed = fed.header(
        0x48,
        POLICE,
        CSW,
        old,
        &[Category::Identity],
        Purpose::Assistance,
        None,
        t(2 * DAY + 2 * HOUR),
    );
    let closed_index = fed.disclose(&closed, agreement(&["csw-referral"]));
    fed.witness_all();

    let report = run(&fed);
    for rule in [
        Rule::ChildOwnConsent,
        Rule::StateEventAnomaly,
        Rule::ReceivedWithoutBasis,
    ] {
        assert_eq!(
            report.with_rule(rule).count(),
            0,
            "{rule}: {}",
            render_text(&report)
        );
    }
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.entry_index == Some(closed_index)),
        "{}",
        render_text(&report)
    );
    assert_found(
        &report,
        Rule::DisclosureWithoutBasis,
        POLICE,
        Some(closed_index),
    );
}

#[test]
fn witness_alarms_are_reported_by_kind_and_the_first_form_still_decodes() {
    use streha_core::{LogOrigin, WitnessAlarmKind};
    let mut fed = Fed::demo();
    let origin = LogOrigin::new(format!("demo.example/streha/{SHELTER}")).unwrap();
    let alarm = |kind, cosigned_size, offered_size| AuditEntry::WitnessAlarm {
        origin: origin.clone(),
        kind,
        cosigned_size,
        cosigned_root: [0xa0; 32],
        offered_size,
        offered_root: [0xb0; 32],
        at: t(20 * DAY),
    };
    let first = fed.node(POLICE).commit(&[
        alarm(WitnessAlarmKind::Rollback, 12, 7),
        alarm(WitnessAlarmKind::Fork, 9, 9),
        alarm(WitnessAlarmKind::Inconsistent, 9, 15),
        AuditEntry::WitnessAlarmV1 {
            origin: origin.clone(),
            size: 12,
            root_a: [0xa0; 32],
            root_b: [0xb0; 32],
            at: t(20 * DAY),
        },
    ]);
    let report = run(&fed);
    let seen = |index: u64| {
        report
            .with_rule(Rule::WitnessAlarm)
            .find(|f| f.node == POLICE && f.entry_index == Some(index))
            .map(|f| f.seen.clone())
            .unwrap_or_else(|| panic!("no alarm at #{index}:\n{}", render_text(&report)))
    };
    let rollback = seen(first);
    assert!(rollback.contains("rollback"), "{rollback}");
    assert!(
        rollback.contains("size 12") && rollback.contains("size 7"),
        "{rollback}"
    );
    assert!(!rollback.contains("two trees"), "{rollback}");
    let fork = seen(first + 1);
    assert!(
        fork.contains("two trees of size 9") && fork.contains("fork"),
        "{fork}"
    );
    let inconsistent = seen(first + 2);
    assert!(
        inconsistent.contains("size 15") && inconsistent.contains("rewritten"),
        "{inconsistent}"
    );
    let legacy = seen(first + 3);
    assert!(legacy.contains("does not say which"), "{legacy}");
    // No other finding: every form decodes.
    assert_eq!(report.findings.len(), 4, "{}", render_text(&report));
}

/// A consent the node's own rule at grant (`streha_core::check_grant`) refuses — a child's
/// own consent (Art. 18.3, 36), one to an agency the roster does not have — but that a node
/// recorded anyway is a `state_event_anomaly` at its `consent_granted` entry, even if no
/// disclosure ever uses it.
#[test]
fn a_consent_the_node_must_refuse_at_grant_is_an_anomaly_where_it_was_recorded() {
    use streha_core::{AgeStatus, ConsentId, SubjectId};
    let child = SubjectId::from_bytes([0xc7; 16]);
    let mut fed = Fed::demo();
    let start = fed.latest_time() + 1;
    fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
        subject: child,
        age_status: AgeStatus::PresumedChild,
        at: t(start),
    }]);
    let own = fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
        grant: Fed::grant(
            ConsentId::from_bytes([0x71; 16]),
            child,
            Grantor::Subject,
            vec![Recipient::Agency(agency(CSW))],
            &[Category::Psychological],
            &[Purpose::Assistance],
            t(start + 1),
        ),
    }]);
    let stranger = fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
        grant: Fed::grant(
            ConsentId::from_bytes([0x72; 16]),
            SUBJECT_ADULT,
            Grantor::Subject,
            vec![Recipient::Agency(agency("clinic-not-in-roster"))],
            &[Category::Medical],
            &[Purpose::Assistance],
            t(start + 2),
        ),
    }]);
    fed.witness_all();

    let report = run(&fed);
    for (index, reason) in [(own, "ChildOwnConsent"), (stranger, "NotInRoster")] {
        let hit = report.with_rule(Rule::StateEventAnomaly).find(|f| {
            f.node == POLICE && f.entry_index == Some(index) && f.seen.contains("refuse at grant")
        });
        assert!(
            hit.is_some(),
            "{reason} at #{index}:\n{}",
            render_text(&report)
        );
    }
    assert_eq!(
        report.with_rule(Rule::StateEventAnomaly).count(),
        2,
        "{}",
        render_text(&report)
    );
}

/// A consent grant the node refused (`consent_refused`, tag 18) is listed in the report with
/// the grant as asked for, the reason and its article, and counted in the totals; it changes
/// nothing in the replayed registry (no finding).
#[test]
fn a_refused_consent_grant_is_listed_in_the_report() {
    use streha_core::{ConsentId, RefusalReason};
    let mut fed = Fed::demo();
    let at = fed.latest_time() + 1;
    let consent = ConsentId::from_bytes([0x73; 16]);
    let grant = Fed::grant(
        consent,
        SUBJECT_ADULT,
        Grantor::Subject,
        vec![Recipient::Agency(agency("clinic-not-in-roster"))],
        &[Category::Medical],
        &[Purpose::Assistance],
        t(at),
    );
    let index = fed.node(POLICE).commit(&[AuditEntry::ConsentRefused {
        grant,
        reason: RefusalReason::ConsentRecipientNotInRoster {
            consent,
            recipient: agency("clinic-not-in-roster"),
        },
        at: t(at + 5),
    }]);
    fed.witness_all();

    let report = run(&fed);
    assert!(report.is_clean(), "{}", render_text(&report));
    assert_eq!(report.totals.consent_refusals, 1);
    let [row] = report.consent_refusals.as_slice() else {
        panic!("one consent refusal: {:?}", report.consent_refusals);
    };
    assert_eq!((row.grant.node.as_str(), row.grant.index), (POLICE, index));
    assert_eq!(row.grant.consent, consent.to_string());
    assert_eq!(row.grant.recipients, ["clinic-not-in-roster"]);
    assert_eq!(row.at, t(at + 5).to_string());
    assert_eq!(row.article, "Art. 18.3, 18.2");
    assert!(
        row.reason.contains("clinic-not-in-roster"),
        "{}",
        row.reason
    );
    let text = render_text(&report);
    assert!(text.contains("CONSENTS REFUSED"), "{text}");
    let html = streha_verify::render_html(&report);
    assert!(html.contains(r#"id="consent-refusals""#), "{html}");
}

/// Flips one base64 character inside the signature bytes of the line of `text` that starts
/// with `prefix` (its key id, at the start of the bytes, is left alone).
fn forge_line(text: &str, prefix: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let line = lines
        .iter_mut()
        .find(|l| l.starts_with(prefix))
        .expect("the line to forge");
    let pos = line.len() - 6;
    let c = if &line[pos..=pos] == "A" { "B" } else { "A" };
    line.replace_range(pos..=pos, c);
    lines.join("\n") + "\n"
}

/// Issue 19.2: a bundle's checkpoint notes are verified 256 at a time as one batch
/// (`batch::SIGNATURE_BATCH`; 64 until the eighth session). Forged lines among many (the
/// node's own signature on one checkpoint, a witness's cosignature on another) fail their
/// batch, and the single checks that follow report each at its own checkpoint, with
/// nothing reported of the others.
#[test]
fn one_forged_checkpoint_signature_among_many_is_reported_at_its_checkpoint() {
    let mut fed = Fed::new();
    fed.start();
    for n in 0..150u32 {
        let mut id = [0x52; 16];
        id[..4].copy_from_slice(&n.to_le_bytes());
        fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
            subject: streha_core::SubjectId::from_bytes(id),
            age_status: streha_core::AgeStatus::Adult,
            at: t(u64::from(n)),
        }]);
        fed.witness_all();
    }
    let clean = run(&fed);
    assert_eq!(clean.with_rule(Rule::CheckpointNotSigned).count(), 0);
    assert_eq!(clean.with_rule(Rule::ForgedCosignature).count(), 0);

    let police = fed.node(POLICE);
    let count = police.checkpoints.len();
    assert!(count > 128, "{count} checkpoints");
    let own_prefix = format!("\u{2014} {} ", police.origin);
    let (own_at, cosigned_at) = (70, count - 5);
    police.checkpoints[own_at] = forge_line(&police.checkpoints[own_at], &own_prefix);
    let witness_line = police.checkpoints[cosigned_at]
        .lines()
        .rfind(|l| l.starts_with('\u{2014}') && !l.starts_with(&own_prefix))
        .expect("a witness's cosignature")
        .split(' ')
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        + " ";
    police.checkpoints[cosigned_at] = forge_line(&police.checkpoints[cosigned_at], &witness_line);

    let report = run(&fed);
    let at = |rule| {
        report
            .with_rule(rule)
            .map(|f| (f.node.clone(), f.checkpoint_index))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        at(Rule::CheckpointNotSigned),
        [(POLICE.to_owned(), Some(own_at))]
    );
    assert_eq!(
        at(Rule::ForgedCosignature),
        [(POLICE.to_owned(), Some(cosigned_at))]
    );
}
