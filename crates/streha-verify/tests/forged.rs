//! A dishonest node operator, holding its own node key (two, colluding), writes internally
//! consistent but false logs — tree recomputed, checkpoints signed again — and the verifier
//! catches every class with the exact finding (issue 15). The classes live in `forge`; this
//! file applies each to the demo federation, then checks what must stay clean: the demo at
//! the DPO's default options, and a roster change mid-history that removes a clause.

mod common;
mod forge;

use common::*;
use forge::*;
use streha_core::{AuditEntry, Basis, Category, Purpose, Timestamp};
use streha_verify::{InputFile, InputKind, Rule, Severity, VerifyOptions, render_text, verify};

/// Each class, on the demo federation.
#[track_caller]
fn forge(class: Forgery) -> (Fed, streha_verify::Report, Forged) {
    let mut fed = Fed::demo();
    let forged = class.apply(&mut fed, 0);
    let report = forged.assert_caught(&fed);
    (fed, report, forged)
}

#[test]
fn the_demo_verifies_clean_at_the_dpo_defaults() {
    let fed = Fed::demo();
    let report = fed.report();
    assert!(report.is_clean(), "{}", render_text(&report));
    assert_eq!(report.meta.rosters.len(), 1);
    assert_eq!(report.meta.rosters[0].sources[0], "supplied");
}

#[test]
fn a_protection_category_disclosed() {
    forge(Forgery::ProtectionCategory);
}

#[test]
fn a_childs_own_consent_used() {
    forge(Forgery::ChildOwnConsent);
}

#[test]
fn a_revoked_consent_used() {
    forge(Forgery::RevokedConsent);
}

#[test]
fn an_expired_consent_used() {
    forge(Forgery::ExpiredConsent);
}

#[test]
fn a_disclosure_without_basis_names_the_exact_article() {
    // Art. 18.2, 45.1: no clause; Art. 35.1.5, 38.9: a child's identity outside the
    // agreement; Art. 18.5: a closed subject. One mapping (`RefusalReason::article`).
    let (_, report, _) = forge(Forgery::NoBasis);
    assert_only(&report, &[Rule::DisclosureWithoutBasis]);
    let (_, report, _) = forge(Forgery::ChildIdentityOutsideAgreement);
    assert_only(&report, &[Rule::DisclosureWithoutBasis]);
    let (_, report, _) = forge(Forgery::ClosedSubject);
    assert_only(&report, &[Rule::DisclosureWithoutBasis]);
}

#[test]
fn urgent_danger_with_one_officer() {
    let (_, report, _) = forge(Forgery::UrgentOneOfficer);
    assert_only(&report, &[Rule::UrgentWithoutTwoApprovers]);
}

#[test]
fn a_one_sided_disclosure() {
    forge(Forgery::OneSidedDisclosure);
}

#[test]
fn a_hidden_reception() {
    forge(Forgery::HiddenReception);
}

#[test]
fn a_fork() {
    forge(Forgery::Fork);
}

#[test]
fn a_replaced_or_deleted_entry_against_an_older_export() {
    for class in [
        Forgery::ReplacedEntry,
        Forgery::DeletedEntry,
        Forgery::CollusionRewrite,
    ] {
        forge(class);
    }
}

/// Issue 15.4: a revocation logged after a disclosure but dated before it.
#[test]
fn a_revocation_dated_back() {
    let (_, report, forged) = forge(Forgery::RevocationDatedBack);
    assert_only(&report, &[Rule::TimeBackwards]);
    let f = caught(&report, &forged.expected[0]);
    assert!(f.seen.contains("dated back"), "{}", f.seen);
}

/// Issue 15.4: a revocation dated ten years ahead; the consent used after it is caught too,
/// judged where the revocation was logged.
#[test]
fn a_revocation_dated_ahead() {
    let (_, report, _) = forge(Forgery::RevocationDatedAhead);
    assert_only(&report, &[Rule::TimeAhead, Rule::RevokedConsentUsed]);
}

/// Issue 15.4: a disclosure whose `created_at` and `at` are backdated before a consent's
/// expiry.
#[test]
fn a_disclosure_dated_back_before_an_expiry() {
    let (_, report, _) = forge(Forgery::DisclosureDatedBack);
    assert_only(&report, &[Rule::TimeBackwards, Rule::ConsentNotInForce]);
}

/// Issue 15.4: an adult age recorded after a child's own consent but dated before it.
#[test]
fn an_adult_age_dated_back_before_a_childs_consent() {
    let (_, report, _) = forge(Forgery::AdultAgeDatedBack);
    // The child's own consent is also caught where it was recorded: the node's rule at
    // grant (`check_grant`) refuses it, whatever age is dated back after.
    assert_only(
        &report,
        &[
            Rule::TimeBackwards,
            Rule::ChildOwnConsent,
            Rule::StateEventAnomaly,
        ],
    );
}

/// The last entry of a log has no later entry to contradict it: the witnesses' cosignature
/// times and the report's generation time do.
#[test]
fn the_last_entry_dated_ahead() {
    let (mut fed, report, _) = forge(Forgery::LastEntryDatedAhead);
    let f = report.with_rule(Rule::TimeAhead).next().unwrap();
    assert!(f.seen.contains("report was generated"), "{}", f.seen);
    // Witnessed: the cosignature time bounds it, whatever the generation time.
    fed.witness_all_at(fed.nodes[POLICE].decoded()[0].at().unix_millis() / 1000 + 30 * 86_400);
    let report = verify(&fed.bundles(), &fed.roster, &VerifyOptions::new());
    let f = report.with_rule(Rule::TimeAhead).next().unwrap();
    assert!(f.seen.contains("when a witness cosigned"), "{}", f.seen);
}

/// Issue 15.6: an entry under a roster version the DPO cannot check is its own finding.
#[test]
fn entries_under_a_roster_nobody_can_show() {
    let (_, report, _) = forge(Forgery::UnverifiableRoster);
    assert_only(&report, &[Rule::RosterUnverifiable]);
}

#[test]
fn a_roster_rollback_to_use_a_removed_clause() {
    forge(Forgery::RosterRollback);
}

#[test]
fn a_roster_change_under_another_hash() {
    forge(Forgery::RosterMismatch);
}

#[test]
fn a_roster_note_the_authority_never_signed() {
    let (_, report, _) = forge(Forgery::ForgedRosterNote);
    assert_only(&report, &[Rule::RosterNotSigned]);
}

/// Issue 15.8: `forged_cosignature` for a known key whose signature fails (and only then:
/// see `signatures_by_keys_not_in_the_roster_are_ignored` in verify.rs).
#[test]
fn a_forged_cosignature_under_a_real_key_id() {
    let (_, report, _) = forge(Forgery::ForgedCosignature);
    assert_only(&report, &[Rule::ForgedCosignature]);
}

#[test]
fn every_class_is_caught_on_the_demo() {
    for (salt, class) in Forgery::ALL.into_iter().enumerate() {
        let mut fed = Fed::demo();
        let forged = class.apply(&mut fed, salt as u8 % 16);
        let report = forged.report(&fed);
        assert!(!report.is_clean(), "{class:?}: {}", render_text(&report));
        for expected in &forged.expected {
            caught(&report, expected);
        }
    }
}

/// Issue 15.6: a roster change mid-history that removes a clause. The disclosures made
/// before it under that clause verify clean; one after it on the removed clause does not.
/// The versions the nodes adopted travel in their bundles and are checked with the roster
/// key; without the key (or the older roster) the DPO is told which entries it cannot judge.
#[test]
fn a_roster_change_mid_history_judges_each_entry_under_its_version() {
    let mut fed = Fed::demo();
    let without = fed.agreement_without("shelter-referral");
    let (note, v2) = fed.next_roster(2, |r| r.with_agreement(without).unwrap());
    let start = fed.latest_time() + HOUR;
    for node in [POLICE, CSW, SHELTER] {
        fed.adopt(node, 2, &note, Timestamp(start));
    }
    fed.witness_all();
    // The DPO holds version 2 (the newest); the demo's referral to the shelter under
    // `shelter-referral` (version 1) is lawful.
    let options = fed.dpo_options();
    let report = verify(&fed.bundles(), &v2, &options);
    assert!(report.is_clean(), "{}", render_text(&report));
    assert_eq!(report.roster_version, 2);
    let versions: Vec<u64> = report.meta.rosters.iter().map(|r| r.version).collect();
    assert_eq!(versions, [1, 2]);
    assert!(
        report.meta.rosters[0]
            .sources
            .iter()
            .any(|s| s.starts_with("bundle of")),
        "{:?}",
        report.meta.rosters
    );

    // Under version 2, the same referral is not lawful.
    let h = fed.header(
        0x61,
        POLICE,
        SHELTER,
        SUBJECT_ADULT,
        &[Category::Identity, Category::Referral],
        Purpose::Assistance,
        None,
        Timestamp(start + HOUR),
    );
    let i = fed.disclose(&h, agreement(&["shelter-referral"]));
    let report = verify(&fed.bundles(), &v2, &fed.dpo_options());
    caught(
        &report,
        &Expected::new(
            Rule::DisclosureWithoutBasis,
            Severity::Critical,
            "Art. 18.2, 45.1",
            POLICE,
            Some(i),
        ),
    );
    assert_only(&report, &[Rule::DisclosureWithoutBasis]);

    // Without the roster key the carried version 1 cannot be checked: every decision under
    // it is reported as such, never passed in silence.
    let report = verify(&fed.bundles(), &v2, &VerifyOptions::new());
    assert!(report.with_rule(Rule::RosterUnverifiable).count() >= 5);
    assert!(
        report
            .with_rule(Rule::RosterUnverifiable)
            .all(|f| f.severity == Severity::Error && f.article == "Art. 18.2")
    );
    // With version 1 supplied by hand instead, it can.
    let report = verify(
        &fed.bundles(),
        &v2,
        &VerifyOptions::new().roster(fed.roster.clone()),
    );
    assert_only(&report, &[Rule::DisclosureWithoutBasis]);
}

/// Issue 15.7: refusals and consents are listed, with the exact article, and the report
/// says how it was made.
#[test]
fn the_report_lists_refusals_and_consents_and_its_provenance() {
    let fed = Fed::demo();
    let options = fed
        .dpo_options()
        .min_witnesses(2)
        .input(InputFile::read(InputKind::Bundle, "police.bundle", b"abc"))
        .input(InputFile::unreadable(
            InputKind::Bundle,
            "broken.bundle",
            Some(b"nope"),
            "this is not a Streha log bundle",
        ));
    let report = verify(&fed.bundles(), &fed.roster, &options);
    // The unreadable bundle is a finding; the others are verified.
    assert_eq!(report.findings.len(), 1, "{}", render_text(&report));
    let f = &report.findings[0];
    assert_eq!(
        (f.rule, f.severity, f.node.as_str()),
        (Rule::UnreadableBundle, Severity::Critical, "broken.bundle")
    );
    assert_eq!(report.totals.logs, 3);

    assert_eq!(report.refusals.len(), 1);
    let r = &report.refusals[0];
    assert_eq!(
        (r.node.as_str(), r.kind, r.recipient.as_str(), r.article),
        (POLICE, "refused", CSW, "Art. 18.4, 18.6")
    );
    assert_eq!(r.categories, ["protection_measures"]);
    assert!(r.reason.contains("protection"), "{}", r.reason);

    let consents: Vec<(&str, &str, Option<&str>)> = report
        .consents
        .iter()
        .map(|c| (c.consent.as_str(), c.granted_by, c.revoked_at.as_deref()))
        .collect();
    assert_eq!(consents.len(), 3);
    assert_eq!(consents[0].1, "subject");
    assert!(consents[0].2.is_some(), "the adult's consent was revoked");
    assert_eq!(consents[1].1, "legal_representative");
    assert_eq!(
        report.consents[1].representative.as_deref(),
        Some("guardian-7")
    );
    assert_eq!(
        report.consents[1].recipients,
        ["role:centre_for_social_work"]
    );

    let meta = &report.meta;
    assert!(meta.verifier.starts_with("streha-verify "));
    assert!(meta.generated_at.is_some());
    assert_eq!(meta.options.min_witnesses, 2);
    assert_eq!(meta.options.clock_skew_ms, streha_core::MAX_CLOCK_SKEW_MS);
    assert_eq!(
        meta.roster_key_fingerprint.as_deref(),
        Some(&*fed.roster_key.public_key().fingerprint().to_hex())
    );
    assert_eq!(
        meta.inputs[0].sha256.as_deref(),
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        meta.inputs[1].error.as_deref(),
        Some("this is not a Streha log bundle")
    );
}

/// Entries a node logs while the bound holds, within the clock skew of each other, verify
/// clean (applications state some times; clocks differ).
#[test]
fn times_within_the_clock_skew_verify_clean() {
    let mut fed = Fed::demo();
    let s = fed.latest_time() + HOUR;
    let skew = streha_core::MAX_CLOCK_SKEW_MS;
    fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
        subject: streha_core::SubjectId::from_bytes([0x71; 16]),
        age_status: streha_core::AgeStatus::Adult,
        at: Timestamp(s + skew),
    }]);
    fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
        subject: streha_core::SubjectId::from_bytes([0x72; 16]),
        age_status: streha_core::AgeStatus::Adult,
        at: Timestamp(s),
    }]);
    let h = fed.header(
        0x62,
        POLICE,
        CSW,
        streha_core::SubjectId::from_bytes([0x72; 16]),
        &[Category::Identity],
        Purpose::Assistance,
        None,
        Timestamp(s + 10),
    );
    // The header dated the full skew before the node decided.
    let hash = fed.seal(&h);
    fed.node(POLICE).commit(&[AuditEntry::Disclosed {
        header: h,
        basis: agreement(&["csw-referral"]),
        urgent_review: false,
        ciphertext_hash: hash,
        at: Timestamp(s + 10 + skew),
    }]);
    fed.witness_all();
    let report = fed.report();
    assert_only(&report, &[]);
    // One millisecond more is a finding.
    let mut fed2 = Fed::demo();
    fed2.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
        subject: streha_core::SubjectId::from_bytes([0x71; 16]),
        age_status: streha_core::AgeStatus::Adult,
        at: Timestamp(s + skew + 1),
    }]);
    fed2.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
        subject: streha_core::SubjectId::from_bytes([0x72; 16]),
        age_status: streha_core::AgeStatus::Adult,
        at: Timestamp(s),
    }]);
    let report = fed2.report();
    assert_eq!(
        report.with_rule(Rule::TimeBackwards).count() + report.with_rule(Rule::TimeAhead).count(),
        1,
        "{}",
        render_text(&report)
    );
    let _ = Basis::Consent;
}
