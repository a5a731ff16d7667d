//! Shared fixtures for the policy tests: a small federation in the shape of the Kosovo
//! referral mechanism, and helpers to build subjects, consents and headers.
#![allow(dead_code)]

use streha_core::*;

pub(crate) fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).unwrap()
}

pub(crate) fn clause(s: &str) -> ClauseId {
    ClauseId::new(s).unwrap()
}

pub(crate) fn rep(s: &str) -> RepresentativeId {
    RepresentativeId::new(s).unwrap()
}

pub(crate) fn officer(s: &str) -> OfficerId {
    OfficerId::new(s).unwrap()
}

pub(crate) fn cats(c: &[Category]) -> CategorySet {
    CategorySet::of(c)
}

pub(crate) fn purposes(p: &[Purpose]) -> PurposeSet {
    PurposeSet::of(p)
}

pub(crate) fn sid(b: u8) -> SubjectId {
    SubjectId::from_bytes([b; 16])
}

pub(crate) fn cid(b: u8) -> ConsentId {
    ConsentId::from_bytes([b; 16])
}

use Category::*;
use Purpose::*;

/// The agreement used by the table tests:
///
/// | clause | role | categories | purposes |
/// | --- | --- | --- | --- |
/// | csw-referral | centre_for_social_work | identity, contact, victim_status, referral | identification_and_referral, assistance, child_guardianship |
/// | foreign-urgent | foreign_authority | identity, case_summary | urgent_danger |
/// | health-referral | health | referral | assistance |
/// | ngo-referral | licensed_ngo | victim_status, referral | identification_and_referral, assistance |
/// | police-identity | police | identity, identity_documents | criminal_investigation_and_prosecution |
/// | police-investigation | police | identity, contact, identity_documents, case_summary, investigation, victim_status | criminal_investigation_and_prosecution, identification_and_referral |
/// | prosecution-case | prosecution | identity, case_summary, investigation | criminal_investigation_and_prosecution |
pub(crate) fn agreement() -> ExchangeAgreement {
    let c = |id: &str, role, c: &[Category], p: &[Purpose]| {
        AgreementClause::new(clause(id), role, cats(c), purposes(p)).unwrap()
    };
    ExchangeAgreement::new(vec![
        c(
            "police-investigation",
            Role::Police,
            &[
                Identity,
                Contact,
                IdentityDocuments,
                CaseSummary,
                Investigation,
                VictimStatus,
            ],
            &[
                CriminalInvestigationAndProsecution,
                IdentificationAndReferral,
            ],
        ),
        c(
            "police-identity",
            Role::Police,
            &[Identity, IdentityDocuments],
            &[CriminalInvestigationAndProsecution],
        ),
        c(
            "prosecution-case",
            Role::Prosecution,
            &[Identity, CaseSummary, Investigation],
            &[CriminalInvestigationAndProsecution],
        ),
        c(
            "csw-referral",
            Role::CentreForSocialWork,
            &[Identity, Contact, VictimStatus, Referral],
            &[IdentificationAndReferral, Assistance, ChildGuardianship],
        ),
        c(
            "ngo-referral",
            Role::LicensedNgo,
            &[VictimStatus, Referral],
            &[IdentificationAndReferral, Assistance],
        ),
        c("health-referral", Role::Health, &[Referral], &[Assistance]),
        c(
            "foreign-urgent",
            Role::ForeignAuthority,
            &[Identity, CaseSummary],
            &[UrgentDanger],
        ),
    ])
    .unwrap()
}

/// Agencies: police, prosecution, csw, health, ngo, school (education: no clause at all),
/// foreign (foreign_authority).
pub(crate) fn federation() -> Federation {
    [
        ("police", Role::Police),
        ("prosecution", Role::Prosecution),
        ("csw", Role::CentreForSocialWork),
        ("health", Role::Health),
        ("ngo", Role::LicensedNgo),
        ("school", Role::Education),
        ("foreign", Role::ForeignAuthority),
    ]
    .into_iter()
    .fold(Federation::new(agreement()), |f, (a, r)| {
        f.with_agency(agency(a), r).unwrap()
    })
}

pub(crate) const T0: Timestamp = Timestamp(1_700_000_000_000);
pub(crate) const DAY: u64 = 86_400_000;

pub(crate) fn at_day(d: u64) -> Timestamp {
    T0.saturating_add_millis(d * DAY)
}

/// An adult subject.
pub(crate) fn adult() -> Subject {
    Subject::new(sid(0xa1), AgeStatus::Adult)
}

/// A child with registered representative `guardian-1`.
pub(crate) fn child() -> Subject {
    Subject::new(sid(0xc1), AgeStatus::Child)
        .with_representative(rep("guardian-1"))
        .unwrap()
}

/// A presumed child with registered representative `guardian-2`.
pub(crate) fn presumed_child() -> Subject {
    Subject::new(sid(0xb1), AgeStatus::PresumedChild)
        .with_representative(rep("guardian-2"))
        .unwrap()
}

/// A consent valid from day 0 to day 30, recorded on day 0, evidence hash 0xee.
pub(crate) fn grant(
    id: u8,
    subject: SubjectId,
    granted_by: Grantor,
    recipients: Vec<Recipient>,
    categories: &[Category],
    p: &[Purpose],
) -> ConsentGrant {
    ConsentGrant::new(ConsentTerms {
        id: cid(id),
        subject,
        granted_by,
        recipients,
        categories: cats(categories),
        purposes: purposes(p),
        valid_from: at_day(0),
        expires_at: at_day(30),
        evidence_hash: [0xee; 32],
        recorded_by: officer("officer-1"),
        recorded_at: at_day(0),
    })
    .unwrap()
}

pub(crate) fn header(
    sender: &str,
    recipient: &str,
    subject: SubjectId,
    categories: &[Category],
    purpose: Purpose,
    consent: Option<ConsentId>,
) -> DisclosureHeader {
    DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([0xe0; 16]),
        sender: agency(sender),
        recipient: agency(recipient),
        subject,
        categories: cats(categories),
        purpose,
        consent,
        created_at: at_day(10),
        approvals: Approvals::new(),
    }
}

/// Adds an approval by each officer (signature bytes = the officer's first letter).
pub(crate) fn approved(mut h: DisclosureHeader, officers: &[&str]) -> DisclosureHeader {
    for o in officers {
        h.approvals
            .insert(UrgentApproval {
                officer: officer(o),
                signature: SignatureBytes::from_bytes([o.as_bytes()[0]; 64]),
            })
            .unwrap();
    }
    h
}

/// Decides with the fixture federation, the given subject and consents (with revocation
/// times), at `now`, with every approval treated as verified and no content known.
pub(crate) fn decide_with(
    subject: Option<&Subject>,
    consents: &[(ConsentGrant, Option<Timestamp>)],
    h: &DisclosureHeader,
    now: Timestamp,
) -> Decision {
    let federation = federation();
    let views: Vec<ConsentView<'_>> = consents
        .iter()
        .map(|(grant, revoked_at)| ConsentView {
            grant,
            revoked_at: *revoked_at,
        })
        .collect();
    let ctx = PolicyContext {
        federation: &federation,
        subject,
        consents: &views,
    };
    let request = DisclosureRequest::new(h).with_verified_approvals(|_, _, _| true);
    decide(&ctx, &request, now)
}

pub(crate) fn refused(reason: RefusalReason) -> Decision {
    Decision::Refused { reason }
}

pub(crate) fn by_agreement(clauses: &[&str]) -> Decision {
    Decision::Allowed {
        basis: Basis::Agreement(clauses.iter().map(|c| clause(c)).collect()),
        urgent_review: false,
    }
}

pub(crate) fn by_consent(id: u8) -> Decision {
    Decision::Allowed {
        basis: Basis::Consent(cid(id)),
        urgent_review: false,
    }
}

pub(crate) fn by_both(id: u8, clauses: &[&str]) -> Decision {
    Decision::Allowed {
        basis: Basis::ConsentAndAgreement {
            consent: cid(id),
            clauses: clauses.iter().map(|c| clause(c)).collect(),
        },
        urgent_review: false,
    }
}
