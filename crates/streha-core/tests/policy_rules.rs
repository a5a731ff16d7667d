//! One table-driven test per rule of the policy, named after its article, each with allowed
//! and refused cases and the exact decision. `spec/policy.md` maps articles to these tests.

mod common;

use Category::*;
use Purpose::*;
use common::*;
use streha_core::*;

struct Case {
    name: &'static str,
    subject: Option<Subject>,
    consents: Vec<(ConsentGrant, Option<Timestamp>)>,
    header: DisclosureHeader,
    now: Timestamp,
    expect: Decision,
}

fn case(name: &'static str, subject: Subject, header: DisclosureHeader, expect: Decision) -> Case {
    Case {
        name,
        subject: Some(subject),
        consents: Vec::new(),
        header,
        now: at_day(10),
        expect,
    }
}

impl Case {
    fn consents(mut self, consents: Vec<(ConsentGrant, Option<Timestamp>)>) -> Self {
        self.consents = consents;
        self
    }
    fn consent(self, grant: ConsentGrant) -> Self {
        self.consents(vec![(grant, None)])
    }
    fn now(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }
}

fn check(cases: Vec<Case>) {
    let mut allowed = 0;
    let mut refused = 0;
    for c in &cases {
        let got = decide_with(c.subject.as_ref(), &c.consents, &c.header, c.now);
        assert_eq!(got, c.expect, "case `{}`", c.name);
        // Deterministic: the same inputs give the same decision and reason.
        assert_eq!(
            got,
            decide_with(c.subject.as_ref(), &c.consents, &c.header, c.now)
        );
        if got.is_allowed() {
            allowed += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        allowed > 0 && refused > 0,
        "each table has allowed and refused cases"
    );
}

fn terms_of(g: &ConsentGrant) -> ConsentTerms {
    ConsentTerms {
        id: g.id(),
        subject: g.subject(),
        granted_by: g.granted_by().clone(),
        recipients: g.recipients().to_vec(),
        categories: g.categories(),
        purposes: g.purposes(),
        valid_from: g.valid_from(),
        expires_at: g.expires_at(),
        evidence_hash: *g.evidence_hash(),
        recorded_by: g.recorded_by().clone(),
        recorded_at: g.recorded_at(),
    }
}

fn health_medical(id: u8, subject: SubjectId, by: Grantor) -> ConsentGrant {
    grant(
        id,
        subject,
        by,
        vec![Recipient::Role(Role::Health)],
        &[Medical],
        &[Assistance],
    )
}

#[test]
fn art_18_4_protection_categories_never_disclosed() {
    let mut cases = Vec::new();
    // Control: without the protection category it is allowed.
    cases.push(case(
        "control: identity and referral to social work",
        adult(),
        header(
            "police",
            "csw",
            sid(0xa1),
            &[Identity, Referral],
            Assistance,
            None,
        ),
        by_agreement(&["csw-referral"]),
    ));
    for p in [
        ProtectionMeasures,
        ProtectorIdentity,
        AssistantIdentity,
        ShelterLocation,
    ] {
        cases.push(case(
            "protection alone",
            adult(),
            header("police", "csw", sid(0xa1), &[p], Assistance, None),
            refused(RefusalReason::ProtectionCategory { category: p }),
        ));
        cases.push(case(
            "protection mixed with agreed categories",
            adult(),
            header(
                "police",
                "csw",
                sid(0xa1),
                &[Identity, Referral, p],
                Assistance,
                None,
            ),
            refused(RefusalReason::ProtectionCategory { category: p }),
        ));
        cases.push(
            case(
                "protection next to assistance under a valid consent",
                adult(),
                header(
                    "csw",
                    "health",
                    sid(0xa1),
                    &[Medical, p],
                    Assistance,
                    Some(cid(1)),
                ),
                refused(RefusalReason::ProtectionCategory { category: p }),
            )
            .consent(health_medical(1, sid(0xa1), Grantor::Subject)),
        );
        cases.push(case(
            "protection in an approved urgent-danger disclosure",
            adult(),
            approved(
                header(
                    "police",
                    "foreign",
                    sid(0xa1),
                    &[Identity, p],
                    UrgentDanger,
                    None,
                ),
                &["officer-a", "officer-b"],
            ),
            refused(RefusalReason::ProtectionCategory { category: p }),
        ));
        cases.push(case(
            "protection to an unknown recipient about an unknown subject: still protection",
            adult(),
            header("nobody", "nowhere", sid(0x99), &[p], Return, None),
            refused(RefusalReason::ProtectionCategory { category: p }),
        ));
    }
    check(cases);

    // Neither an agreement clause nor a consent can even name a protection category.
    for p in CategorySet::group(CategoryGroup::Protection).iter() {
        assert!(matches!(
            AgreementClause::new(clause("x"), Role::Police, cats(&[p]), purposes(&[Return])),
            Err(AgreementError::ProtectionCategory { .. })
        ));
        assert!(DisclosableCategory::try_from(p).is_err());
    }

    // Carried but undeclared protection content is refused as protection, before the
    // mismatch.
    let h = header("police", "csw", sid(0xa1), &[Identity], Assistance, None);
    let federation = federation();
    let subject = adult();
    let ctx = PolicyContext {
        federation: &federation,
        subject: Some(&subject),
        consents: &[],
    };
    let req = DisclosureRequest::new(&h).with_content(cats(&[Identity, ShelterLocation]));
    assert_eq!(
        decide(&ctx, &req, at_day(10)),
        refused(RefusalReason::ProtectionCategory {
            category: ShelterLocation
        })
    );
}

#[test]
fn art_18_3_assistance_needs_consent() {
    let s = sid(0xa1);
    let medical = |consent| header("csw", "health", s, &[Medical], Assistance, consent);
    let cases = vec![
        case(
            "consent in force naming the recipient's role",
            adult(),
            medical(Some(cid(1))),
            by_consent(1),
        )
        .consent(health_medical(1, s, Grantor::Subject)),
        case(
            "consent naming the recipient agency",
            adult(),
            medical(Some(cid(2))),
            by_consent(2),
        )
        .consent(grant(
            2,
            s,
            Grantor::Subject,
            vec![Recipient::Agency(agency("health"))],
            &[Medical],
            &[Assistance],
        )),
        case(
            "assistance and agreed categories together need both",
            adult(),
            header(
                "csw",
                "health",
                s,
                &[Referral, Medical],
                Assistance,
                Some(cid(1)),
            ),
            by_both(1, &["health-referral"]),
        )
        .consent(health_medical(1, s, Grantor::Subject)),
        case(
            "no consent named",
            adult(),
            medical(None),
            refused(RefusalReason::NoConsentForAssistance { category: Medical }),
        )
        .consent(health_medical(1, s, Grantor::Subject)),
        case(
            "an agreement clause cannot carry assistance: refused without consent even to a role with clauses",
            adult(),
            header(
                "police",
                "csw",
                s,
                &[Identity, Psychological],
                Assistance,
                None,
            ),
            refused(RefusalReason::NoConsentForAssistance {
                category: Psychological,
            }),
        ),
        case(
            "named consent unknown",
            adult(),
            medical(Some(cid(9))),
            refused(RefusalReason::ConsentUnknown { consent: cid(9) }),
        )
        .consent(health_medical(1, s, Grantor::Subject)),
        case(
            "consent about another subject",
            adult(),
            medical(Some(cid(1))),
            refused(RefusalReason::ConsentSubjectMismatch {
                consent: cid(1),
                subject: sid(0x77),
            }),
        )
        .consent(health_medical(1, sid(0x77), Grantor::Subject)),
        case(
            "expired",
            adult(),
            medical(Some(cid(1))),
            refused(RefusalReason::ConsentNotInForce {
                consent: cid(1),
                why: NotInForce::Expired {
                    expires_at: at_day(30),
                },
            }),
        )
        .consent(health_medical(1, s, Grantor::Subject))
        .now(at_day(30)),
        case(
            "not yet valid",
            adult(),
            medical(Some(cid(1))),
            refused(RefusalReason::ConsentNotInForce {
                consent: cid(1),
                why: NotInForce::NotYetValid {
                    valid_from: at_day(20),
                },
            }),
        )
        .consent(
            ConsentGrant::new(ConsentTerms {
                valid_from: at_day(20),
                ..terms_of(&health_medical(1, s, Grantor::Subject))
            })
            .unwrap(),
        ),
        case(
            "not yet recorded",
            adult(),
            medical(Some(cid(1))),
            refused(RefusalReason::ConsentNotInForce {
                consent: cid(1),
                why: NotInForce::NotYetRecorded {
                    recorded_at: at_day(0),
                },
            }),
        )
        .consent(health_medical(1, s, Grantor::Subject))
        .now(Timestamp(at_day(0).0 - 1)),
        case(
            "revoked before now",
            adult(),
            medical(Some(cid(1))),
            refused(RefusalReason::ConsentNotInForce {
                consent: cid(1),
                why: NotInForce::Revoked { at: at_day(5) },
            }),
        )
        .consents(vec![(
            health_medical(1, s, Grantor::Subject),
            Some(at_day(5)),
        )]),
        case(
            "revoked after now: still in force now",
            adult(),
            medical(Some(cid(1))),
            by_consent(1),
        )
        .consents(vec![(
            health_medical(1, s, Grantor::Subject),
            Some(at_day(11)),
        )]),
        case(
            "recipient not named",
            adult(),
            header("csw", "ngo", s, &[Medical], Assistance, Some(cid(1))),
            refused(RefusalReason::ConsentDoesNotCoverRecipient {
                consent: cid(1),
                recipient: agency("ngo"),
                role: Role::LicensedNgo,
            }),
        )
        .consent(health_medical(1, s, Grantor::Subject)),
        case(
            "category not covered",
            adult(),
            header(
                "csw",
                "health",
                s,
                &[Medical, Psychological],
                Assistance,
                Some(cid(1)),
            ),
            refused(RefusalReason::ConsentDoesNotCoverCategory {
                consent: cid(1),
                category: Psychological,
            }),
        )
        .consent(health_medical(1, s, Grantor::Subject)),
        case(
            "purpose not covered",
            adult(),
            header("csw", "health", s, &[Medical], Compensation, Some(cid(1))),
            refused(RefusalReason::ConsentDoesNotCoverPurpose {
                consent: cid(1),
                purpose: Compensation,
            }),
        )
        .consent(health_medical(1, s, Grantor::Subject)),
        case(
            "a named consent is checked even when no assistance category needs it",
            adult(),
            header("police", "csw", s, &[Identity], Assistance, Some(cid(1))),
            refused(RefusalReason::ConsentNotInForce {
                consent: cid(1),
                why: NotInForce::Expired {
                    expires_at: at_day(30),
                },
            }),
        )
        .consent(health_medical(1, s, Grantor::Subject))
        .now(at_day(40)),
    ];
    check(cases);
}

#[test]
fn art_18_3_child_consent_only_from_registered_representative() {
    let medical = |s: &Subject| {
        header(
            "csw",
            "health",
            s.id(),
            &[Medical],
            Assistance,
            Some(cid(1)),
        )
    };
    let c = child();
    let cases = vec![
        case(
            "child's registered representative",
            c.clone(),
            medical(&c),
            by_consent(1),
        )
        .consent(health_medical(
            1,
            c.id(),
            Grantor::Representative(rep("guardian-1")),
        )),
        case(
            "child's own consent",
            c.clone(),
            medical(&c),
            refused(RefusalReason::ChildOwnConsent { consent: cid(1) }),
        )
        .consent(health_medical(1, c.id(), Grantor::Subject)),
        case(
            "a representative not registered for this child",
            c.clone(),
            medical(&c),
            refused(RefusalReason::GrantorNotRegisteredRepresentative {
                consent: cid(1),
                representative: rep("guardian-2"),
            }),
        )
        .consent(health_medical(
            1,
            c.id(),
            Grantor::Representative(rep("guardian-2")),
        )),
        case(
            "an adult's own consent",
            adult(),
            medical(&adult()),
            by_consent(1),
        )
        .consent(health_medical(1, adult().id(), Grantor::Subject)),
        case(
            "an adult's unregistered representative",
            adult(),
            medical(&adult()),
            refused(RefusalReason::GrantorNotRegisteredRepresentative {
                consent: cid(1),
                representative: rep("guardian-1"),
            }),
        )
        .consent(health_medical(
            1,
            adult().id(),
            Grantor::Representative(rep("guardian-1")),
        )),
    ];
    check(cases);
}

#[test]
fn art_36_presumed_child_is_child() {
    let p = presumed_child();
    let medical = header(
        "csw",
        "health",
        p.id(),
        &[Medical],
        Assistance,
        Some(cid(1)),
    );
    let mut grown = p.clone();
    grown
        .record_age_status(AgeStatus::Adult, at_day(1))
        .unwrap();
    let cases = vec![
        case(
            "presumed child's own consent does not count",
            p.clone(),
            medical.clone(),
            refused(RefusalReason::ChildOwnConsent { consent: cid(1) }),
        )
        .consent(health_medical(1, p.id(), Grantor::Subject)),
        case(
            "presumed child's identity outside the agreement",
            p.clone(),
            header(
                "police",
                "ngo",
                p.id(),
                &[Identity, Referral],
                Assistance,
                None,
            ),
            refused(RefusalReason::ChildIdentificationOutsideAgreement {
                category: Identity,
                role: Role::LicensedNgo,
                purpose: Assistance,
            }),
        ),
        case(
            "presumed child's representative consents",
            p.clone(),
            medical.clone(),
            by_consent(1),
        )
        .consent(health_medical(
            1,
            p.id(),
            Grantor::Representative(rep("guardian-2")),
        )),
        case(
            "a consent the person gave as a presumed child does not count after an adult age is recorded",
            grown.clone(),
            medical.clone(),
            refused(RefusalReason::ChildOwnConsent { consent: cid(1) }),
        )
        .consent(health_medical(1, p.id(), Grantor::Subject)),
        case(
            "once an adult age is recorded, the person's new consent counts",
            grown.clone(),
            medical.clone(),
            by_consent(1),
        )
        .consent(
            ConsentGrant::new(ConsentTerms {
                recorded_at: at_day(2),
                ..terms_of(&health_medical(1, p.id(), Grantor::Subject))
            })
            .unwrap(),
        ),
    ];
    check(cases);
}

#[test]
fn art_35_1_5_child_identification_only_inside_agreement() {
    let c = child();
    let cases = vec![
        case(
            "child's identity to social work under a clause",
            c.clone(),
            header(
                "police",
                "csw",
                c.id(),
                &[Identity, Contact],
                ChildGuardianship,
                None,
            ),
            by_agreement(&["csw-referral"]),
        ),
        case(
            "child's identity to police for the investigation",
            c.clone(),
            header(
                "csw",
                "police",
                c.id(),
                &[Identity, IdentityDocuments, CaseSummary],
                CriminalInvestigationAndProsecution,
                None,
            ),
            by_agreement(&["police-identity", "police-investigation"]),
        ),
        case(
            "child's identity to an NGO with no identity clause",
            c.clone(),
            header(
                "police",
                "ngo",
                c.id(),
                &[Identity, Referral],
                IdentificationAndReferral,
                None,
            ),
            refused(RefusalReason::ChildIdentificationOutsideAgreement {
                category: Identity,
                role: Role::LicensedNgo,
                purpose: IdentificationAndReferral,
            }),
        ),
        case(
            "even with the representative's consent for the assistance part",
            c.clone(),
            header(
                "csw",
                "ngo",
                c.id(),
                &[Contact, Psychological],
                Assistance,
                Some(cid(1)),
            ),
            refused(RefusalReason::ChildIdentificationOutsideAgreement {
                category: Contact,
                role: Role::LicensedNgo,
                purpose: Assistance,
            }),
        )
        .consent(grant(
            1,
            c.id(),
            Grantor::Representative(rep("guardian-1")),
            vec![Recipient::Agency(agency("ngo"))],
            &[Psychological],
            &[Assistance],
        )),
        case(
            "child's identity documents to social work: no clause for that category",
            c.clone(),
            header(
                "police",
                "csw",
                c.id(),
                &[IdentityDocuments],
                Assistance,
                None,
            ),
            refused(RefusalReason::ChildIdentificationOutsideAgreement {
                category: IdentityDocuments,
                role: Role::CentreForSocialWork,
                purpose: Assistance,
            }),
        ),
        case(
            "child's identity to a school (no clause at all)",
            c.clone(),
            header("csw", "school", c.id(), &[Identity], Assistance, None),
            refused(RefusalReason::ChildIdentificationOutsideAgreement {
                category: Identity,
                role: Role::Education,
                purpose: Assistance,
            }),
        ),
        case(
            "non-identifying case data of a child follows the agreement as usual",
            c.clone(),
            header("police", "ngo", c.id(), &[Referral], Assistance, None),
            by_agreement(&["ngo-referral"]),
        ),
        case(
            "the same identity of an adult is refused by the agreement rule instead",
            adult(),
            header(
                "police",
                "ngo",
                sid(0xa1),
                &[Identity, Referral],
                IdentificationAndReferral,
                None,
            ),
            refused(RefusalReason::NotInAgreement {
                category: Identity,
                role: Role::LicensedNgo,
                purpose: IdentificationAndReferral,
            }),
        ),
    ];
    check(cases);
}

#[test]
fn art_18_2_agreement_governs_other_categories() {
    let s = sid(0xa1);
    let cases = vec![
        case(
            "case data to police for the investigation",
            adult(),
            header(
                "csw",
                "police",
                s,
                &[CaseSummary, Investigation],
                CriminalInvestigationAndProsecution,
                None,
            ),
            by_agreement(&["police-investigation"]),
        ),
        case(
            "the basis names the smallest clause id per category, deduplicated",
            adult(),
            header(
                "csw",
                "police",
                s,
                &[Identity, CaseSummary],
                CriminalInvestigationAndProsecution,
                None,
            ),
            by_agreement(&["police-identity", "police-investigation"]),
        ),
        case(
            "a role with no clause",
            adult(),
            header("police", "school", s, &[VictimStatus], Assistance, None),
            refused(RefusalReason::NotInAgreement {
                category: VictimStatus,
                role: Role::Education,
                purpose: Assistance,
            }),
        ),
        case(
            "a clause for the role but not the purpose",
            adult(),
            header("csw", "prosecution", s, &[CaseSummary], Compensation, None),
            refused(RefusalReason::NotInAgreement {
                category: CaseSummary,
                role: Role::Prosecution,
                purpose: Compensation,
            }),
        ),
        case(
            "a clause for role and purpose but not the category",
            adult(),
            header(
                "police",
                "prosecution",
                s,
                &[Identity, Contact],
                CriminalInvestigationAndProsecution,
                None,
            ),
            refused(RefusalReason::NotInAgreement {
                category: Contact,
                role: Role::Prosecution,
                purpose: CriminalInvestigationAndProsecution,
            }),
        ),
        case(
            "a recipient outside the roster",
            adult(),
            header(
                "police",
                "journalist",
                s,
                &[CaseSummary],
                CriminalInvestigationAndProsecution,
                None,
            ),
            refused(RefusalReason::UnknownRecipient {
                recipient: agency("journalist"),
            }),
        ),
        case(
            "a sender outside the roster",
            adult(),
            header(
                "impostor",
                "police",
                s,
                &[CaseSummary],
                CriminalInvestigationAndProsecution,
                None,
            ),
            refused(RefusalReason::UnknownSender {
                sender: agency("impostor"),
            }),
        ),
        case(
            "a disclosure to the sending agency itself, even of what a clause would allow",
            adult(),
            header(
                "police",
                "police",
                s,
                &[CaseSummary],
                CriminalInvestigationAndProsecution,
                None,
            ),
            refused(RefusalReason::RecipientIsSender {
                agency: agency("police"),
            }),
        ),
    ];
    check(cases);
}

/// Issue 18.4: a consent is refused when it is recorded — not first at a disclosure — if it
/// could never count: a child's own (Art. 18.3, 36, 38.5), an unregistered representative's
/// (Art. 18.3, 38.5), one for a re-keyed id (Art. 18.5), one naming an agency that is not a
/// member (Art. 18.3, 18.2). Each with the exact reason, in the documented order.
#[test]
fn art_18_3_consent_checked_when_recorded() {
    let federation = federation();
    let to = |recipients: Vec<Recipient>, by: Grantor, subject: SubjectId| {
        grant(1, subject, by, recipients, &[Medical], &[Assistance])
    };
    let health = || vec![Recipient::Agency(agency("health"))];
    // Allowed: an adult's own consent; a registered representative's; a role with no member.
    assert_eq!(
        check_grant(
            &federation,
            &adult(),
            &to(health(), Grantor::Subject, sid(0xa1))
        ),
        Ok(())
    );
    assert_eq!(
        check_grant(
            &federation,
            &child(),
            &to(
                health(),
                Grantor::Representative(rep("guardian-1")),
                sid(0xc1)
            )
        ),
        Ok(())
    );
    assert_eq!(
        check_grant(
            &federation,
            &adult(),
            &to(
                vec![Recipient::Role(Role::ConsularMission)],
                Grantor::Subject,
                sid(0xa1)
            )
        ),
        Ok(())
    );
    // Refused, each with its reason.
    let cases = [
        (
            "a child's own consent",
            child(),
            to(health(), Grantor::Subject, sid(0xc1)),
            RefusalReason::ChildOwnConsent { consent: cid(1) },
        ),
        (
            "a presumed child's own consent (Art. 36)",
            presumed_child(),
            to(health(), Grantor::Subject, sid(0xb1)),
            RefusalReason::ChildOwnConsent { consent: cid(1) },
        ),
        (
            "an unregistered representative",
            child(),
            to(
                health(),
                Grantor::Representative(rep("guardian-9")),
                sid(0xc1),
            ),
            RefusalReason::GrantorNotRegisteredRepresentative {
                consent: cid(1),
                representative: rep("guardian-9"),
            },
        ),
        (
            "an agency that is not in the roster, after one that is",
            adult(),
            to(
                vec![
                    Recipient::Agency(agency("health")),
                    Recipient::Agency(agency("heath")),
                ],
                Grantor::Subject,
                sid(0xa1),
            ),
            RefusalReason::ConsentRecipientNotInRoster {
                consent: cid(1),
                recipient: agency("heath"),
            },
        ),
        (
            "another subject's grant",
            adult(),
            to(health(), Grantor::Subject, sid(0xc1)),
            RefusalReason::ConsentSubjectMismatch {
                consent: cid(1),
                subject: sid(0xc1),
            },
        ),
        (
            "the grantor is checked before the recipients",
            child(),
            to(
                vec![Recipient::Agency(agency("nobody"))],
                Grantor::Subject,
                sid(0xc1),
            ),
            RefusalReason::ChildOwnConsent { consent: cid(1) },
        ),
    ];
    for (name, subject, grant, expected) in cases {
        assert_eq!(
            check_grant(&federation, &subject, &grant),
            Err(expected),
            "{name}"
        );
    }
    // A re-keyed id takes no consent at all (Art. 18.5).
    let mut closed = adult();
    closed.rekey(sid(0xa2), &[9; 32]).unwrap();
    assert_eq!(
        check_grant(
            &federation,
            &closed,
            &to(health(), Grantor::Subject, sid(0xa1))
        ),
        Err(RefusalReason::SubjectClosed { subject: sid(0xa1) })
    );
    // What is recorded is then not refused by `decide` for its grantor.
    let recorded = to(health(), Grantor::Subject, sid(0xa1));
    let h = header(
        "police",
        "health",
        sid(0xa1),
        &[Medical],
        Assistance,
        Some(cid(1)),
    );
    assert!(
        decide_with(Some(&adult()), &[(recorded, None)], &h, at_day(10)).is_allowed(),
        "a grant recorded without refusal allows what it covers"
    );
}

#[test]
fn art_45_3_urgent_danger_two_officers() {
    let s = sid(0xa1);
    let urgent = |sender: &str, c: &[Category], consent| {
        header(sender, "foreign", s, c, UrgentDanger, consent)
    };
    let allowed_urgent = Decision::Allowed {
        basis: Basis::Agreement(vec![clause("foreign-urgent")]),
        urgent_review: true,
    };
    let cases = vec![
        case(
            "police, two officers",
            adult(),
            approved(
                urgent("police", &[Identity, CaseSummary], None),
                &["officer-a", "officer-b"],
            ),
            allowed_urgent.clone(),
        ),
        case(
            "prosecution, three officers",
            adult(),
            approved(
                urgent("prosecution", &[Identity], None),
                &["officer-a", "officer-b", "officer-c"],
            ),
            allowed_urgent.clone(),
        ),
        case(
            "one officer",
            adult(),
            approved(urgent("police", &[Identity], None), &["officer-a"]),
            refused(RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 }),
        ),
        case(
            "no officer",
            adult(),
            urgent("police", &[Identity], None),
            refused(RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 0 }),
        ),
        case(
            "sent by social work",
            adult(),
            approved(
                urgent("csw", &[Identity], None),
                &["officer-a", "officer-b"],
            ),
            refused(RefusalReason::UrgentDangerSenderRole {
                role: Role::CentreForSocialWork,
            }),
        ),
        case(
            "urgent danger does not release protection data",
            adult(),
            approved(
                urgent("police", &[Identity, ShelterLocation], None),
                &["officer-a", "officer-b"],
            ),
            refused(RefusalReason::ProtectionCategory {
                category: ShelterLocation,
            }),
        ),
        case(
            "urgent danger does not bypass consent for assistance data",
            adult(),
            approved(
                urgent("police", &[Identity, Medical], None),
                &["officer-a", "officer-b"],
            ),
            refused(RefusalReason::NoConsentForAssistance { category: Medical }),
        ),
        case(
            "with a consent for the assistance part",
            adult(),
            approved(
                urgent("police", &[Identity, Medical], Some(cid(1))),
                &["officer-a", "officer-b"],
            ),
            Decision::Allowed {
                basis: Basis::ConsentAndAgreement {
                    consent: cid(1),
                    clauses: vec![clause("foreign-urgent")],
                },
                urgent_review: true,
            },
        )
        .consent(grant(
            1,
            s,
            Grantor::Subject,
            vec![Recipient::Role(Role::ForeignAuthority)],
            &[Medical],
            &[UrgentDanger],
        )),
        case(
            "urgent danger still follows the agreement",
            adult(),
            approved(
                urgent("police", &[Contact], None),
                &["officer-a", "officer-b"],
            ),
            refused(RefusalReason::NotInAgreement {
                category: Contact,
                role: Role::ForeignAuthority,
                purpose: UrgentDanger,
            }),
        ),
    ];
    check(cases);

    // Approvals count only if the caller verified them: one bad signature leaves one.
    let h = approved(
        urgent("police", &[Identity], None),
        &["officer-a", "officer-b"],
    );
    let federation = federation();
    let subject = adult();
    let ctx = PolicyContext {
        federation: &federation,
        subject: Some(&subject),
        consents: &[],
    };
    let mut seen_message = Vec::new();
    let req = DisclosureRequest::new(&h).with_verified_approvals(|sender, approval, message| {
        assert_eq!(sender, &agency("police"));
        seen_message = message.to_vec();
        approval.officer == officer("officer-a")
    });
    assert_eq!(seen_message, h.approval_message());
    assert_eq!(req.approvers(), &[officer("officer-a")]);
    assert_eq!(
        decide(&ctx, &req, at_day(10)),
        refused(RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 })
    );
    // Without verification, approvals count for nothing.
    assert_eq!(
        decide(&ctx, &DisclosureRequest::new(&h), at_day(10)),
        refused(RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 0 })
    );
    // The same officer cannot approve twice.
    let mut twice = urgent("police", &[Identity], None);
    twice
        .approvals
        .insert(UrgentApproval {
            officer: officer("officer-a"),
            signature: SignatureBytes::from_bytes([1; 64]),
        })
        .unwrap();
    assert!(matches!(
        twice.approvals.insert(UrgentApproval {
            officer: officer("officer-a"),
            signature: SignatureBytes::from_bytes([2; 64])
        }),
        Err(HeaderError::DuplicateApprover { .. })
    ));
}

#[test]
fn art_18_5_rekey_closes_old_id() {
    let mut old = adult();
    let salt = [0x5a; 32];
    let (new, record) = old.rekey(sid(0xa2), &salt).unwrap();
    assert!(old.is_closed());
    assert!(record.opens(&salt, sid(0xa2)));
    assert_eq!(record.old, sid(0xa1));
    let old_consent = health_medical(1, old.id(), Grantor::Subject);
    let cases = vec![
        case(
            "anything under the old id",
            old.clone(),
            header("police", "csw", old.id(), &[Referral], Assistance, None),
            refused(RefusalReason::SubjectClosed { subject: old.id() }),
        ),
        case(
            "the old id's consent under the old id",
            old.clone(),
            header(
                "csw",
                "health",
                old.id(),
                &[Medical],
                Assistance,
                Some(cid(1)),
            ),
            refused(RefusalReason::SubjectClosed { subject: old.id() }),
        )
        .consent(old_consent.clone()),
        case(
            "the new id, under the agreement",
            new.clone(),
            header("police", "csw", new.id(), &[Referral], Assistance, None),
            by_agreement(&["csw-referral"]),
        ),
        case(
            "consents do not carry over to the new id",
            new.clone(),
            header(
                "csw",
                "health",
                new.id(),
                &[Medical],
                Assistance,
                Some(cid(1)),
            ),
            refused(RefusalReason::ConsentSubjectMismatch {
                consent: cid(1),
                subject: old.id(),
            }),
        )
        .consent(old_consent),
        case(
            "a new consent for the new id",
            new.clone(),
            header(
                "csw",
                "health",
                new.id(),
                &[Medical],
                Assistance,
                Some(cid(2)),
            ),
            by_consent(2),
        )
        .consent(health_medical(2, new.id(), Grantor::Subject)),
    ];
    check(cases);
}

#[test]
fn declared_categories_must_match_the_record() {
    let federation = federation();
    let subject = adult();
    let ctx = PolicyContext {
        federation: &federation,
        subject: Some(&subject),
        consents: &[],
    };
    let h = header(
        "police",
        "csw",
        subject.id(),
        &[Identity, Referral],
        Assistance,
        None,
    );
    let record = Record::new()
        .with(Field::text(DisclosableCategory::Identity, "given_name", "x").unwrap())
        .unwrap();
    let req = DisclosureRequest::new(&h).with_content(record.categories());
    assert_eq!(
        decide(&ctx, &req, at_day(10)),
        refused(RefusalReason::ContentMismatch {
            declared: cats(&[Identity, Referral]),
            found: cats(&[Identity])
        })
    );
    let record = record
        .with(Field::text(DisclosableCategory::Referral, "service", "x").unwrap())
        .unwrap();
    let req = DisclosureRequest::new(&h).with_content(record.categories());
    assert_eq!(
        decide(&ctx, &req, at_day(10)),
        by_agreement(&["csw-referral"])
    );

    let empty = header("police", "csw", subject.id(), &[], Assistance, None);
    assert_eq!(
        decide(&ctx, &DisclosureRequest::new(&empty), at_day(10)),
        refused(RefusalReason::EmptyCategories)
    );
}

#[test]
fn subject_must_be_known_and_match() {
    let h = header("police", "csw", sid(0xa1), &[Referral], Assistance, None);
    assert_eq!(
        decide_with(None, &[], &h, at_day(10)),
        refused(RefusalReason::UnknownSubject { subject: sid(0xa1) })
    );
    assert_eq!(
        decide_with(Some(&child()), &[], &h, at_day(10)),
        refused(RefusalReason::SubjectMismatch {
            header: sid(0xa1),
            context: sid(0xc1)
        })
    );
}

#[test]
fn evaluation_order_first_failing_rule_wins() {
    // Fails every rule at once: protection wins.
    let mut closed = child();
    let _ = closed.rekey(sid(0xc2), &[1; 32]).unwrap();
    let all_wrong = header(
        "impostor",
        "journalist",
        closed.id(),
        &[Identity, Medical, ShelterLocation],
        UrgentDanger,
        None,
    );
    assert_eq!(
        decide_with(Some(&closed), &[], &all_wrong, at_day(10)),
        refused(RefusalReason::ProtectionCategory {
            category: ShelterLocation
        })
    );
    // Then, one rule fixed at a time, the next rule in the documented order is the reason.
    let mut h = all_wrong.clone();
    h.categories = cats(&[Identity, Medical]);
    assert_eq!(
        decide_with(Some(&closed), &[], &h, at_day(10)),
        refused(RefusalReason::UnknownSender {
            sender: agency("impostor")
        })
    );
    h.sender = agency("csw");
    assert_eq!(
        decide_with(Some(&closed), &[], &h, at_day(10)),
        refused(RefusalReason::UnknownRecipient {
            recipient: agency("journalist")
        })
    );
    h.recipient = agency("ngo");
    assert_eq!(
        decide_with(None, &[], &h, at_day(10)),
        refused(RefusalReason::UnknownSubject {
            subject: closed.id()
        })
    );
    assert_eq!(
        decide_with(Some(&closed), &[], &h, at_day(10)),
        refused(RefusalReason::SubjectClosed {
            subject: closed.id()
        })
    );
    let c = child();
    h.subject = c.id();
    assert_eq!(
        decide_with(Some(&c), &[], &h, at_day(10)),
        refused(RefusalReason::UrgentDangerSenderRole {
            role: Role::CentreForSocialWork
        })
    );
    h.sender = agency("police");
    assert_eq!(
        decide_with(Some(&c), &[], &h, at_day(10)),
        refused(RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 0 })
    );
    h = approved(h, &["officer-a", "officer-b"]);
    assert_eq!(
        decide_with(Some(&c), &[], &h, at_day(10)),
        refused(RefusalReason::ChildIdentificationOutsideAgreement {
            category: Identity,
            role: Role::LicensedNgo,
            purpose: UrgentDanger
        })
    );
    h.categories = cats(&[VictimStatus, Medical]);
    assert_eq!(
        decide_with(Some(&c), &[], &h, at_day(10)),
        refused(RefusalReason::NoConsentForAssistance { category: Medical })
    );
    h.consent = Some(cid(1));
    let consent = grant(
        1,
        c.id(),
        Grantor::Representative(rep("guardian-1")),
        vec![Recipient::Role(Role::LicensedNgo)],
        &[Medical],
        &[UrgentDanger],
    );
    assert_eq!(
        decide_with(Some(&c), &[(consent.clone(), None)], &h, at_day(10)),
        refused(RefusalReason::NotInAgreement {
            category: VictimStatus,
            role: Role::LicensedNgo,
            purpose: UrgentDanger
        })
    );
    h.categories = cats(&[Medical]);
    assert_eq!(
        decide_with(Some(&c), &[(consent, None)], &h, at_day(10)),
        Decision::Allowed {
            basis: Basis::Consent(cid(1)),
            urgent_review: true
        }
    );
}

#[test]
fn refusal_reasons_cite_their_article() {
    let reasons = [
        RefusalReason::ProtectionCategory {
            category: ShelterLocation,
        },
        RefusalReason::NoConsentForAssistance { category: Medical },
        RefusalReason::ChildOwnConsent { consent: cid(1) },
        RefusalReason::GrantorNotRegisteredRepresentative {
            consent: cid(1),
            representative: rep("guardian-1"),
        },
        RefusalReason::ChildIdentificationOutsideAgreement {
            category: Identity,
            role: Role::LicensedNgo,
            purpose: Assistance,
        },
        RefusalReason::NotInAgreement {
            category: CaseSummary,
            role: Role::Education,
            purpose: Assistance,
        },
        RefusalReason::SubjectClosed { subject: sid(1) },
        RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 },
        RefusalReason::UrgentDangerSenderRole { role: Role::Health },
        RefusalReason::ConsentNotInForce {
            consent: cid(1),
            why: NotInForce::Expired {
                expires_at: at_day(30),
            },
        },
        RefusalReason::ConsentRecipientNotInRoster {
            consent: cid(1),
            recipient: agency("heath"),
        },
    ];
    let spec = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/policy.md"),
    )
    .unwrap();
    for r in reasons {
        // The name logs carry is the variant's, as spec/policy.md §3 documents it.
        assert!(format!("{r:?}").starts_with(r.name()), "{}", r.name());
        assert!(spec.contains(&format!("`{}", r.name())), "{}", r.name());
        let msg = r.to_string();
        assert!(!r.article().is_empty());
        let first = r.article().split(',').next().unwrap();
        assert!(msg.contains(first), "`{msg}` should cite {}", r.article());
    }
    assert!(
        RefusalReason::ConsentNotInForce {
            consent: cid(1),
            why: NotInForce::Expired {
                expires_at: at_day(30)
            }
        }
        .to_string()
        .contains("2023-12-14T22:13:20.000Z")
    );
}

/// Every test that `spec/policy.md` cites exists.
#[test]
fn spec_policy_names_existing_tests() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(root.join("../../spec/policy.md")).unwrap();
    let mut checked = 0;
    for cite in spec.split('`').skip(1).step_by(2) {
        let Some((file, name)) = cite.split_once("::") else {
            continue;
        };
        if !(file.starts_with("tests/") || file.starts_with("src/")) || !file.ends_with(".rs") {
            continue;
        }
        let text = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("spec/policy.md cites {file}: {e}"));
        assert!(
            text.contains(&format!("fn {name}(")),
            "spec/policy.md cites {cite}, which does not exist"
        );
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} citations found");
}

/// Art. 18.3 at the sending node: a disclosure is decided at its `created_at` and again at
/// the node's own time, so a `created_at` dated before a revocation or an expiry does not
/// get past it.
#[test]
fn art_18_3_sender_decides_at_creation_and_at_sending() {
    let s = sid(0xa1);
    let consent = health_medical(1, s, Grantor::Subject);
    let h = header("csw", "health", s, &[Medical], Assistance, Some(cid(1)));
    let federation = federation();
    let subject = adult();
    let send = |revoked_at: Option<Timestamp>, sent_at: Timestamp| {
        let views = [ConsentView {
            grant: &consent,
            revoked_at,
        }];
        let ctx = PolicyContext {
            federation: &federation,
            subject: Some(&subject),
            consents: &views,
        };
        let request = DisclosureRequest::new(&h);
        decide_to_send(&ctx, &request, sent_at)
    };
    let created = h.created_at;
    let later = created.saturating_add_millis(60_000);
    // In force at both times: allowed, on the same basis as `decide`.
    assert_eq!(send(None, later), by_consent(1));
    // Revoked after `created_at` but before the node's time: refused, with the revocation.
    let revoked = created.saturating_add_millis(30_000);
    assert_eq!(
        send(Some(revoked), later),
        refused(RefusalReason::ConsentNotInForce {
            consent: cid(1),
            why: NotInForce::Revoked { at: revoked },
        })
    );
    // `decide` alone, at `created_at`, would have allowed it.
    assert_eq!(
        decide_with(
            Some(&subject),
            &[(consent.clone(), Some(revoked))],
            &h,
            created
        ),
        by_consent(1)
    );
    // Expired between the two times: refused.
    let expiry = consent.expires_at();
    let mut late = h.clone();
    late.created_at = Timestamp(expiry.0 - 1_000);
    let views = [ConsentView {
        grant: &consent,
        revoked_at: None,
    }];
    let ctx = PolicyContext {
        federation: &federation,
        subject: Some(&subject),
        consents: &views,
    };
    assert!(matches!(
        decide_to_send(
            &ctx,
            &DisclosureRequest::new(&late),
            Timestamp(expiry.0 + 1_000)
        ),
        Decision::Refused {
            reason: RefusalReason::ConsentNotInForce {
                why: NotInForce::Expired { .. },
                ..
            }
        }
    ));
    // Refused at `created_at` (revoked before it): that reason, whatever the later time.
    let early = Timestamp(created.0 - 1_000);
    assert_eq!(
        send(Some(early), later),
        refused(RefusalReason::ConsentNotInForce {
            consent: cid(1),
            why: NotInForce::Revoked { at: early },
        })
    );
}
