//! The subject view (Art. 20.2.6, never pointing to a shelter or protector, Art. 18.4) and
//! one entry's `tlog-proof` written from a bundle and checked against the roster.

mod common;

use common::*;
use streha_audit::TlogProof;
use streha_core::{AuditEntry, Category, Purpose, SubjectId};
use streha_verify::{
    ProveError, SUBJECT_VIEW_NOTICE, check_proof, prove_from_bundle, render_subject_json,
    render_subject_text, subject_view,
};

#[test]
fn subject_view_shows_authorities_only() {
    let fed = Fed::demo();
    let view = subject_view(&fed.bundles(), &fed.roster, SUBJECT_ADULT);
    assert!(view.logs_verified);
    assert_eq!(view.notice, SUBJECT_VIEW_NOTICE);
    // D1 (police → csw, consent and agreement) and D5 (csw → police) are shown, once each
    // although both sides logged them; D3 (to the shelter) and D4 (urgent danger) are not.
    let shown: Vec<(&str, &str, &str)> = view
        .disclosures
        .iter()
        .map(|d| (d.sender.as_str(), d.recipient.as_str(), d.purpose.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (POLICE, CSW, "assistance"),
            (CSW, POLICE, "criminal_investigation_and_prosecution"),
        ]
    );
    assert_eq!(view.disclosures[0].date, "2025-06-15");
    assert_eq!(view.disclosures[0].status, "received");
    assert_eq!(
        view.disclosures[0].basis,
        format!("consent {CONSENT_ADULT} and exchange agreement")
    );

    // Nothing in any output names the shelter, its role, urgent danger, or a clause id.
    for out in [render_subject_text(&view), render_subject_json(&view)] {
        for banned in [
            SHELTER,
            "licensed_ngo",
            "shelter-referral",
            "csw-referral",
            "urgent",
            "withheld",
            &SUBJECT_REKEYED.to_string(),
        ] {
            assert!(!out.contains(banned), "{banned} in:\n{out}");
        }
    }
}

#[test]
fn subject_view_hides_a_shelter_as_sender_and_protection_categories() {
    let mut fed = Fed::demo();
    // The shelter sends to the police: that points to the shelter as surely.
    fed.node(SHELTER).commit(&[AuditEntry::SubjectRegistered {
        subject: SUBJECT_ADULT,
        age_status: streha_core::AgeStatus::Adult,
        at: t(20 * DAY),
    }]);
    let from_shelter = fed.header(
        0x60,
        SHELTER,
        POLICE,
        SUBJECT_ADULT,
        &[Category::CaseSummary],
        Purpose::CriminalInvestigationAndProsecution,
        None,
        t(20 * DAY + HOUR),
    );
    fed.send(&from_shelter, agreement(&["police-investigation"]));
    // A malicious disclosure of a shelter location between authorities.
    let protection = fed.header(
        0x61,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::ShelterLocation],
        Purpose::Assistance,
        None,
        t(21 * DAY),
    );
    fed.disclose(&protection, agreement(&["csw-referral"]));
    let view = subject_view(&fed.bundles(), &fed.roster, SUBJECT_ADULT);
    assert_eq!(view.disclosures.len(), 2);
    let json = render_subject_json(&view);
    assert!(!json.contains(SHELTER));
    assert!(!json.contains("shelter_location"));
}

#[test]
fn subject_view_reads_only_what_the_nodes_signed() {
    let fed = Fed::demo();
    let mut bundles = fed.bundles();
    // Entries appended to the police log without a checkpoint are not read.
    let police = bundles
        .iter_mut()
        .find(|b| b.origin.ends_with(POLICE))
        .unwrap();
    let mut header = fed.header(
        0x62,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Referral],
        Purpose::Assistance,
        None,
        t(30 * DAY),
    );
    header.categories = streha_core::CategorySet::of(&[Category::Referral]);
    police.entries.push(
        AuditEntry::Disclosed {
            header,
            basis: agreement(&["csw-referral"]),
            urgent_review: false,
            ciphertext_hash: [1; 32],
            at: t(30 * DAY),
        }
        .encode(),
    );
    let view = subject_view(&bundles, &fed.roster, SUBJECT_ADULT);
    assert!(!view.logs_verified);
    assert_eq!(view.disclosures.len(), 2);
    assert!(render_subject_text(&view).contains("WARNING"));

    // Another subject: nothing.
    let none = subject_view(&fed.bundles(), &fed.roster, SubjectId::from_bytes([9; 16]));
    assert!(none.disclosures.is_empty());
}

#[test]
fn a_proof_written_from_a_bundle_checks_against_the_roster() {
    let fed = Fed::demo();
    let bundles = fed.bundles();
    let police = bundles.iter().find(|b| b.origin.ends_with(POLICE)).unwrap();
    let index = 6;
    let proof = prove_from_bundle(police, index).unwrap();
    // The last checkpoint, with its two witnesses.
    assert_eq!(proof.checkpoint().size(), police.entries.len() as u64);
    let text = proof.to_text();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 6\n"));
    let entry = &police.entries[index as usize];

    let checked = check_proof(&text, entry, &fed.roster, 2).unwrap();
    assert_eq!(checked.agency, POLICE);
    assert_eq!(checked.index, 6);
    assert_eq!(checked.entry_kind, Some("disclosed"));
    let witnesses: Vec<&str> = checked.witnesses.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(witnesses, [CSW, SHELTER]);

    // Another entry's bytes, a higher witness threshold, a tampered proof: refused.
    assert!(check_proof(&text, &police.entries[5], &fed.roster, 0).is_err());
    assert!(check_proof(&text, entry, &fed.roster, 3).is_err());
    let parsed = TlogProof::parse(&text).unwrap();
    let tampered = text.replacen(
        &format!("index {index}"),
        &format!("index {}", index + 1),
        1,
    );
    assert_eq!(TlogProof::parse(&tampered).unwrap().index(), 7);
    assert!(check_proof(&tampered, entry, &fed.roster, 0).is_err());
    assert_eq!(parsed.index(), 6);

    // A checkpoint of a log not in the roster.
    let without = fed.roster.without_agency(&agency(POLICE)).unwrap();
    assert!(check_proof(&text, entry, &without, 0).is_err());

    // Beyond the signed entries.
    assert!(matches!(
        prove_from_bundle(police, police.entries.len() as u64),
        Err(ProveError::NotCovered { .. })
    ));
}

/// Issue 18.18: a bundle of a later epoch of an agency's log (`<base>/epoch/2`, after a
/// restore with a declared loss) is provable, and its proof checks under the roster's node
/// key for that agency under the epoch's origin, cosignatures counted as in epoch 1. The
/// same proof under a forged epoch origin — signed by another node's key, or an origin that
/// spells an epoch non-canonically — is refused. (Before: every epoch proof was refused as
/// a log the roster does not name.)
#[test]
fn a_proof_from_a_later_epoch_checks_under_the_epoch_origin() {
    use streha_audit::{
        Checkpoint, CosignatureSigner, LogBundle, MemoryTree, NoteSigner, SignedNote,
        sign_checkpoint,
    };
    let fed = Fed::demo();
    let police = &fed.nodes[POLICE];
    let csw = &fed.nodes[CSW];
    let registration = |seed: u8| {
        AuditEntry::SubjectRegistered {
            subject: SubjectId::from_bytes([seed; 16]),
            age_status: streha_core::AgeStatus::Adult,
            at: t(40 * DAY),
        }
        .encode()
    };
    let entries = vec![registration(0x71), registration(0x72), registration(0x73)];
    let tree = MemoryTree::from_entries(&entries);
    // A bundle of `origin`, signed by `key` and cosigned by csw.
    let bundle = |origin: &str, key: &streha_crypto::NodeIdentitySecretKey| {
        let note = sign_checkpoint(
            &Checkpoint::new(origin, tree.size(), tree.root()).unwrap(),
            &NoteSigner::new(origin, key.as_dalek().clone()).unwrap(),
        );
        let mut note = SignedNote::parse(&note.to_text()).unwrap();
        let cosigner =
            CosignatureSigner::new(&csw.origin, csw.node_key.as_dalek().clone()).unwrap();
        note.add_signature(cosigner.cosign(note.body(), 1_700_000_000).unwrap())
            .unwrap();
        LogBundle::new(origin.to_owned(), entries.clone(), vec![note.to_text()])
    };
    let epoch2 = format!("{}/epoch/2", police.origin);
    let proof = prove_from_bundle(&bundle(&epoch2, &police.node_key), 1)
        .unwrap()
        .to_text();
    let checked = check_proof(&proof, &entries[1], &fed.roster, 1).unwrap();
    assert_eq!(checked.agency, POLICE);
    assert_eq!(checked.origin, epoch2);
    assert_eq!(checked.index, 1);
    assert_eq!(checked.entry_kind, Some("subject_registered"));
    let witnesses: Vec<&str> = checked.witnesses.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(witnesses, [CSW]);
    assert!(check_proof(&proof, &entries[2], &fed.roster, 0).is_err());

    // Forged: police's epoch signed by the shelter's node key; epochs spelled
    // non-canonically (under police's own key); an epoch of an agency not in the roster.
    let shelter = &fed.nodes[SHELTER];
    for (origin, key) in [
        (epoch2.clone(), &shelter.node_key),
        (format!("{}/epoch/02", police.origin), &police.node_key),
        (format!("{}/epoch/1", police.origin), &police.node_key),
    ] {
        let forged = prove_from_bundle(&bundle(&origin, key), 1)
            .unwrap()
            .to_text();
        assert!(
            check_proof(&forged, &entries[1], &fed.roster, 0).is_err(),
            "{origin}"
        );
    }
    let without = fed.roster.without_agency(&agency(POLICE)).unwrap();
    assert!(check_proof(&proof, &entries[1], &without, 0).is_err());
}
