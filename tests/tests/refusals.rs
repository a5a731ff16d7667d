//! Every refusal reason of the policy surfaces to the application as its own error variant
//! (issue 6): [`ClientError::Refused`] carrying the exact [`RefusalReason`], with a `refused`
//! entry in the sending node's log and nothing queued, delivered or received.
//!
//! Real daemons (police, shelter, prosecution) on 127.0.0.1, driven through `streha-client`;
//! where the typed builder cannot even express the input, a raw `Submit` on the application
//! endpoint (the envelope sealed and signed with the agency's keys, as an application that
//! skips the library would).
//!
//! Where each of the 23 reasons of [`RefusalReason`] is covered:
//!
//! | reason | at the sending node (this file) | elsewhere |
//! | --- | --- | --- |
//! | `ProtectionCategory` | raw request: the builder cannot name a protection category, and the client refuses one locally (`ClientError::ProtectionCategory`, unit tests in `crates/streha-client/src/disclosure.rs`) | `security.rs` (sender, and the receiver behind a raw sender), `legal_flows.rs` (urgent danger) |
//! | `EmptyCategories` | client (a builder with no field) | `policy_rules.rs` |
//! | `ContentMismatch` | — the node never sees content | the client refuses locally (`ClientError::DeclarationMismatch`, unit tests in `crates/streha-client/src/disclosure.rs`); at the receiving application a mismatch is `ClientError::Violation` (`adversarial.rs`); `policy_rules.rs` |
//! | `UnknownSender` | — a node submits only for its own agency, which the roster lists; another sender is refused before the policy (`Unauthorized`, asserted here) | a peer outside the roster is refused at the handshake (`security.rs`); `policy_rules.rs` |
//! | `UnknownRecipient` | raw request (the client refuses locally: `ClientError::UnknownRecipient`, asserted here) | `policy_rules.rs` |
//! | `RecipientIsSender` | raw request (the client refuses locally: `ClientError::RecipientIsSender`, asserted here) | `policy_rules.rs` |
//! | `UnknownSubject` | client | `disclosure.rs` |
//! | `SubjectMismatch` | — the node looks the subject up by the header's id | `policy_rules.rs` only |
//! | `SubjectClosed` | client (after re-keying) | `legal_flows.rs` (sender and receiver) |
//! | `UrgentDangerSenderRole` | client (the shelter, with its officers' approvals) | `legal_flows.rs` |
//! | `UrgentDangerNeedsTwoApprovers` | client (one approval) | `legal_flows.rs` (duplicate, foreign and forged approvals) |
//! | `ChildIdentificationOutsideAgreement` | client | `policy_rules.rs` |
//! | `NoConsentForAssistance` | client | `disclosure.rs`, `security.rs` (receiver) |
//! | `ConsentUnknown` | client | `policy_rules.rs` |
//! | `ConsentSubjectMismatch` | — the node decides with the consents of the header's subject only, so another subject's consent is `ConsentUnknown` there (asserted here) | `policy_rules.rs` only |
//! | `ChildOwnConsent` | client (an adult's own consent, then a presumed-child status recorded, Art. 36); at grant, a child's own consent (`ClientError::ConsentRefused`, asserted here) | `disclosure.rs`, `policy_rules.rs` |
//! | `GrantorNotRegisteredRepresentative` | at grant only (`ClientError::ConsentRefused`, asserted here): the node will not record such a consent, and no request removes a representative | `policy_rules.rs` |
//! | `ConsentNotInForce` | client (revoked) | `disclosure.rs`, `legal_flows.rs` (backdated), `policy_rules.rs` (expired, not yet valid, not yet recorded) |
//! | `ConsentDoesNotCoverRecipient` | client | `policy_rules.rs` |
//! | `ConsentDoesNotCoverCategory` | client | `policy_rules.rs` |
//! | `ConsentDoesNotCoverPurpose` | client | `policy_rules.rs` |
//! | `NotInAgreement` | client | `disclosure.rs`, `policy_rules.rs` |
//! | `ConsentRecipientNotInRoster` | at grant (`ClientError::ConsentRefused`, asserted here) | `policy_rules.rs` |
//!
//! The reasons a consent is refused with when it is recorded (`streha_core::check_grant`:
//! `ChildOwnConsent`, `GrantorNotRegisteredRepresentative`, `SubjectClosed`,
//! `ConsentRecipientNotInRoster`) come back as `ClientError::ConsentRefused`, logged as
//! `consent_refused` (`consents_that_could_never_count_are_refused_when_recorded`).
//!
//! Files without a path are in `tests/tests/`, except `policy_rules.rs`, which is
//! `crates/streha-core/tests/policy_rules.rs` and covers every reason as a pure decision.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use streha_client::{ClientError, SealedDisclosure};
use streha_core::{
    AgeStatus, AgencyId, AuditEntry, Category, CategorySet, ConsentId, DisclosableCategory,
    DisclosureHeader, Grantor, NotInForce, OfficerId, Purpose, RefusalReason, RepresentativeId,
    Role, SubjectId,
};
use streha_wire::ErrorCode;
use streha_wire::app::{AppRequest, AppResponse};

/// How a case reaches the node.
enum Submission {
    /// Built, sealed and submitted through `streha-client`.
    Client(Box<SealedDisclosure>),
    /// A raw `Submit` of this header: the typed builder cannot express it.
    Raw(DisclosureHeader),
}

/// One row of the table.
struct Case {
    /// The sending agency.
    sender: &'static str,
    /// What is submitted.
    submission: Submission,
    /// The exact reason expected.
    expected: RefusalReason,
}

/// A police → `recipient` disclosure of one field per category, sealed by the client.
fn sealed(
    client: &streha_client::Client,
    subject: SubjectId,
    recipient: &AgencyId,
    purpose: Purpose,
    categories: &[DisclosableCategory],
    consent: Option<ConsentId>,
) -> Box<SealedDisclosure> {
    let mut builder = client.disclosure(subject, recipient.clone(), purpose);
    for (n, category) in categories.iter().enumerate() {
        builder = builder
            .field(*category, format!("field-{n}"), "x")
            .expect("field");
    }
    if let Some(consent) = consent {
        builder = builder.consent(consent);
    }
    Box::new(
        client
            .seal(builder.prepare().expect("prepare"))
            .expect("seal"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_reachable_at_the_sender_reaches_the_application_as_its_own_reason() {
    let federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let _shelter_node = federation.start(SHELTER);
    let _prosecution_node = federation.start(PROSECUTION);
    let police = federation.client(POLICE).await;
    let shelter = federation.client(SHELTER).await;
    let prosecution = federation.client(PROSECUTION).await;
    let shelter_id = federation.member(SHELTER).id.clone();
    let prosecution_id = federation.member(PROSECUTION).id.clone();
    let police_id = federation.member(POLICE).id.clone();

    // The police's registry: two adults, a presumed child with a guardian, a re-keyed id.
    let (adult, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let (other_adult, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let guardian = RepresentativeId::new("guardian-1").unwrap();
    let (child, _) = police
        .register_subject(AgeStatus::PresumedChild, vec![guardian.clone()])
        .await
        .unwrap();
    let (rekeyed, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    police.rekey_subject(rekeyed).await.unwrap();
    let (shelter_subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();

    // Consents: the adult's own, for medical information to the shelter for assistance; the
    // same revoked; the child's own (which never counts).
    let medical_to_shelter = |subject, granted_by| {
        consent_terms(
            subject,
            granted_by,
            SHELTER,
            &[Category::Medical],
            &[Purpose::Assistance],
        )
    };
    let (consent, _) = police
        .grant_consent(medical_to_shelter(adult, Grantor::Subject))
        .await
        .unwrap();
    let (revoked, _) = police
        .grant_consent(medical_to_shelter(adult, Grantor::Subject))
        .await
        .unwrap();
    let revoked_at = now();
    police
        .revoke_consent(
            revoked,
            revoked_at,
            OfficerId::new("intake-officer").unwrap(),
        )
        .await
        .unwrap();
    // A child's own consent is refused when it is recorded (`consents_that_could_never_count_
    // are_refused_when_recorded`); at a disclosure, ChildOwnConsent arises for a consent an
    // adult gave before being recorded as a presumed child (Art. 36).
    let (grown, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let (childs_own, _) = police
        .grant_consent(medical_to_shelter(grown, Grantor::Subject))
        .await
        .unwrap();
    police
        .record_age_status(grown, AgeStatus::PresumedChild)
        .await
        .unwrap();

    let police_officers = &federation.member(POLICE).officers;
    let shelter_officers = &federation.member(SHELTER).officers;
    let ghost = AgencyId::new("ghost-agency").unwrap();
    let header = |recipient: &AgencyId, categories: &[Category]| DisclosureHeader {
        envelope_id: streha_core::EnvelopeId::from_bytes(rand16()),
        sender: police_id.clone(),
        recipient: recipient.clone(),
        subject: adult,
        categories: categories.iter().copied().collect::<CategorySet>(),
        purpose: Purpose::IdentificationAndReferral,
        consent: None,
        created_at: now(),
        approvals: streha_core::Approvals::new(),
    };
    let unknown_subject = SubjectId::from_bytes([0x5a; 16]);
    let unknown_consent = ConsentId::from_bytes([0x77; 16]);
    use DisclosableCategory as D;

    let cases = vec![
        Case {
            sender: POLICE,
            // Raw: `DisclosableCategory` has no protection category.
            submission: Submission::Raw(header(&shelter_id, &[Category::ShelterLocation])),
            expected: RefusalReason::ProtectionCategory {
                category: Category::ShelterLocation,
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                adult,
                &shelter_id,
                Purpose::IdentificationAndReferral,
                &[],
                None,
            )),
            expected: RefusalReason::EmptyCategories,
        },
        Case {
            sender: POLICE,
            // Raw: the client will not seal to an agency outside the roster (asserted in
            // `the_client_refuses_locally_what_it_can_check_itself`).
            submission: Submission::Raw(header(&ghost, &[Category::Identity])),
            expected: RefusalReason::UnknownRecipient {
                recipient: ghost.clone(),
            },
        },
        Case {
            sender: POLICE,
            // Raw: the client will not seal to its own agency (asserted in
            // `the_client_refuses_locally_what_it_can_check_itself`).
            submission: Submission::Raw(header(&police_id, &[Category::Identity])),
            expected: RefusalReason::RecipientIsSender {
                agency: police_id.clone(),
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                unknown_subject,
                &shelter_id,
                Purpose::IdentificationAndReferral,
                &[D::Identity],
                None,
            )),
            expected: RefusalReason::UnknownSubject {
                subject: unknown_subject,
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                rekeyed,
                &shelter_id,
                Purpose::IdentificationAndReferral,
                &[D::Identity],
                None,
            )),
            expected: RefusalReason::SubjectClosed { subject: rekeyed },
        },
        Case {
            sender: SHELTER,
            submission: Submission::Client(Box::new(
                shelter
                    .seal(
                        shelter
                            .disclosure(
                                shelter_subject,
                                prosecution_id.clone(),
                                Purpose::UrgentDanger,
                            )
                            .field(D::Identity, "alias", "A.")
                            .unwrap()
                            .urgent_approval(shelter_officers[0].0.clone(), &shelter_officers[0].1)
                            .unwrap()
                            .urgent_approval(shelter_officers[1].0.clone(), &shelter_officers[1].1)
                            .unwrap(),
                    )
                    .unwrap(),
            )),
            expected: RefusalReason::UrgentDangerSenderRole {
                role: Role::LicensedNgo,
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(Box::new(
                police
                    .seal(
                        police
                            .disclosure(adult, prosecution_id.clone(), Purpose::UrgentDanger)
                            .field(D::Identity, "alias", "A.")
                            .unwrap()
                            .urgent_approval(police_officers[0].0.clone(), &police_officers[0].1)
                            .unwrap(),
                    )
                    .unwrap(),
            )),
            expected: RefusalReason::UrgentDangerNeedsTwoApprovers { verified: 1 },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                child,
                &shelter_id,
                Purpose::CriminalInvestigationAndProsecution,
                &[D::Identity],
                None,
            )),
            expected: RefusalReason::ChildIdentificationOutsideAgreement {
                category: Category::Identity,
                role: Role::LicensedNgo,
                purpose: Purpose::CriminalInvestigationAndProsecution,
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                adult,
                &shelter_id,
                Purpose::Assistance,
                &[D::Medical],
                None,
            )),
            expected: RefusalReason::NoConsentForAssistance {
                category: Category::Medical,
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                adult,
                &shelter_id,
                Purpose::Assistance,
                &[D::Medical],
                Some(unknown_consent),
            )),
            expected: RefusalReason::ConsentUnknown {
                consent: unknown_consent,
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                grown,
                &shelter_id,
                Purpose::Assistance,
                &[D::Medical],
                Some(childs_own),
            )),
            expected: RefusalReason::ChildOwnConsent {
                consent: childs_own,
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                adult,
                &shelter_id,
                Purpose::Assistance,
                &[D::Medical],
                Some(revoked),
            )),
            expected: RefusalReason::ConsentNotInForce {
                consent: revoked,
                why: NotInForce::Revoked { at: revoked_at },
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                adult,
                &prosecution_id,
                Purpose::Assistance,
                &[D::Medical],
                Some(consent),
            )),
            expected: RefusalReason::ConsentDoesNotCoverRecipient {
                consent,
                recipient: prosecution_id.clone(),
                role: Role::Prosecution,
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                adult,
                &shelter_id,
                Purpose::Assistance,
                &[D::Medical, D::Psychological],
                Some(consent),
            )),
            expected: RefusalReason::ConsentDoesNotCoverCategory {
                consent,
                category: Category::Psychological,
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                adult,
                &shelter_id,
                Purpose::IdentificationAndReferral,
                &[D::Medical],
                Some(consent),
            )),
            expected: RefusalReason::ConsentDoesNotCoverPurpose {
                consent,
                purpose: Purpose::IdentificationAndReferral,
            },
        },
        Case {
            sender: POLICE,
            submission: Submission::Client(sealed(
                &police,
                adult,
                &shelter_id,
                Purpose::Assistance,
                &[D::CaseSummary],
                None,
            )),
            expected: RefusalReason::NotInAgreement {
                category: Category::CaseSummary,
                role: Role::LicensedNgo,
                purpose: Purpose::Assistance,
            },
        },
    ];

    // Each case is a different reason: one variant each.
    let variants: HashSet<_> = cases
        .iter()
        .map(|case| std::mem::discriminant(&case.expected))
        .collect();
    assert_eq!(
        variants.len(),
        cases.len(),
        "two cases test the same reason"
    );
    assert_eq!(cases.len(), 17, "the reasons reachable at the sending node");

    for Case {
        sender,
        submission,
        expected,
    } in cases
    {
        let client = if sender == SHELTER { &shelter } else { &police };
        let (envelope, reason, index) = match submission {
            Submission::Client(disclosure) => {
                let envelope = disclosure.envelope_id();
                match client.submit(&*disclosure).await {
                    Err(error @ ClientError::Refused { .. }) => {
                        assert_eq!(error.fault(), streha_client::Fault::Policy);
                        let Some(reason) = error.refusal().cloned() else {
                            unreachable!("a refusal has a reason")
                        };
                        let ClientError::Refused { log_index, .. } = error else {
                            unreachable!("matched above")
                        };
                        (envelope, reason, log_index)
                    }
                    other => panic!("expected {expected:?}, got {other:?}"),
                }
            }
            Submission::Raw(header) => {
                let envelope = seal_raw(&federation, sender, &header);
                match raw_request(&federation, sender, AppRequest::Submit(Box::new(envelope))).await
                {
                    AppResponse::Refused { reason, index } => (header.envelope_id, reason, index),
                    other => panic!("expected {expected:?}, got {other:?}"),
                }
            }
        };
        assert_eq!(reason, expected);

        // Logged as refused, with the same reason, at the index the application was told.
        let log = log_entries(client).await;
        match log.get(usize::try_from(index).unwrap()) {
            Some(AuditEntry::Refused {
                header,
                reason: logged,
                ..
            }) => {
                assert_eq!(header.envelope_id, envelope, "{expected:?}");
                assert_eq!(*logged, expected);
            }
            other => panic!("{expected:?}: entry {index} is {other:?}, not `refused`"),
        }
        // Nothing queued.
        let err = client.delivery_status(envelope).await.unwrap_err();
        assert_eq!(
            err.remote_code(),
            Some(ErrorCode::NotFound),
            "{expected:?}: {err}"
        );
    }

    // Nothing was disclosed, and nothing arrived anywhere.
    for client in [&police, &shelter] {
        assert_eq!(count(&log_entries(client).await, "disclosed"), 0);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for client in [&police, &shelter, &prosecution] {
        assert!(client.inbox(None, 256).await.unwrap().is_empty());
        assert_eq!(count(&log_entries(client).await, "received"), 0);
    }

    // ConsentSubjectMismatch cannot arise at a sending node: it decides with the consents of
    // the header's subject only, so another subject's consent is not known there.
    let err = police
        .submit(&*sealed(
            &police,
            other_adult,
            &shelter_id,
            Purpose::Assistance,
            &[D::Medical],
            Some(consent),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.refusal(),
        Some(&RefusalReason::ConsentUnknown { consent }),
        "{err}"
    );

    // UnknownSender cannot arise at a sending node: a header naming another sender is refused
    // before the policy (and not logged as a refusal).
    let mut forged = header(&shelter_id, &[Category::Identity]);
    forged.sender = shelter_id.clone();
    let before = log_entries(&police).await.len();
    match raw_request(
        &federation,
        POLICE,
        AppRequest::Submit(Box::new(seal_raw(&federation, POLICE, &forged))),
    )
    .await
    {
        AppResponse::Error(error) => assert_eq!(error.code, ErrorCode::Unauthorized, "{error:?}"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(log_entries(&police).await.len(), before);
}

/// What the client checks itself is refused before anything reaches the node, with its own
/// local error (`Fault::Local`), and the node's log does not change.
#[tokio::test(flavor = "multi_thread")]
async fn the_client_refuses_locally_what_it_can_check_itself() {
    let federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let (subject, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let before = log_entries(&police).await.len();

    // The twin of `RefusalReason::UnknownRecipient`.
    let ghost = AgencyId::new("ghost-agency").unwrap();
    let builder = || {
        police
            .disclosure(subject, ghost.clone(), Purpose::IdentificationAndReferral)
            .field(DisclosableCategory::Identity, "alias", "A.")
            .unwrap()
    };
    match builder().seal(&police) {
        Err(ClientError::UnknownRecipient { agency }) => assert_eq!(agency, ghost),
        other => panic!("expected UnknownRecipient, got {other:?}"),
    }
    let err = police.submit(builder()).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::UnknownRecipient { agency } if *agency == ghost),
        "{err}"
    );
    assert_eq!(err.fault(), streha_client::Fault::Local);
    assert_eq!(err.refusal(), None);

    // The twin of `RefusalReason::RecipientIsSender` (issue 18.1): a disclosure to the
    // client's own agency is refused before sealing; nothing is queued or logged.
    let own = federation.member(POLICE).id.clone();
    let to_self = || {
        police
            .disclosure(subject, own.clone(), Purpose::IdentificationAndReferral)
            .field(DisclosableCategory::Identity, "alias", "A.")
            .unwrap()
    };
    match to_self().seal(&police) {
        Err(ClientError::RecipientIsSender { agency }) => assert_eq!(agency, own),
        other => panic!("expected RecipientIsSender, got {other:?}"),
    }
    let err = police.submit(to_self()).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::RecipientIsSender { agency } if *agency == own),
        "{err}"
    );
    assert_eq!(err.fault(), streha_client::Fault::Local);
    assert!(
        police.all_held_deliveries().await.unwrap().is_empty(),
        "nothing queued"
    );

    // Approvals: the node counts only approvals that verify under the sender's officers'
    // keys (`RefusalReason::UrgentDangerNeedsTwoApprovers`); the client refuses one by an
    // officer of another agency before sealing.
    let prosecution_id = federation.member(PROSECUTION).id.clone();
    let (foreign_officer, foreign_key) = &federation.member(SHELTER).officers[0];
    let err = police
        .disclosure(subject, prosecution_id, Purpose::UrgentDanger)
        .field(DisclosableCategory::Identity, "alias", "A.")
        .unwrap()
        .urgent_approval(foreign_officer.clone(), foreign_key)
        .unwrap()
        .seal(&police)
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::UnknownOfficer { officer, .. } if officer == foreign_officer),
        "{err}"
    );

    // Nothing reached the node's log.
    assert_eq!(log_entries(&police).await.len(), before);
}

/// Issue 18.4: a consent that could never count is refused when it is recorded, with the
/// policy's exact reason (`streha_core::check_grant`), and the refusal itself is logged
/// (`consent_refused`, the grant and the reason) like a refused disclosure. Nothing is
/// recorded: the consent is not listed, no `consent_granted` entry exists, and a disclosure
/// naming it finds no such consent.
#[tokio::test(flavor = "multi_thread")]
async fn consents_that_could_never_count_are_refused_when_recorded() {
    let federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let _shelter_node = federation.start(SHELTER);
    let police = federation.client(POLICE).await;
    let guardian = RepresentativeId::new("guardian-1").unwrap();
    let (child, _) = police
        .register_subject(AgeStatus::Child, vec![guardian.clone()])
        .await
        .unwrap();
    let (presumed, _) = police
        .register_subject(AgeStatus::PresumedChild, vec![])
        .await
        .unwrap();
    let (adult, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let (rekeyed, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    police.rekey_subject(rekeyed).await.unwrap();
    let medical_to = |subject, granted_by, recipient: &str| {
        consent_terms(
            subject,
            granted_by,
            recipient,
            &[Category::Medical],
            &[Purpose::Assistance],
        )
    };
    let typo = AgencyId::new("sheltr").unwrap();
    let stranger = RepresentativeId::new("stranger-9").unwrap();
    let cases = [
        (
            "a child's own consent (Art. 18.3, 38.5)",
            medical_to(child, Grantor::Subject, SHELTER),
            "ChildOwnConsent",
        ),
        (
            "a presumed child's own consent (Art. 36)",
            medical_to(presumed, Grantor::Subject, SHELTER),
            "ChildOwnConsent",
        ),
        (
            "an agency that is not in the roster",
            medical_to(adult, Grantor::Subject, typo.as_str()),
            "ConsentRecipientNotInRoster",
        ),
        (
            "a representative who is not registered",
            medical_to(child, Grantor::Representative(stranger.clone()), SHELTER),
            "GrantorNotRegisteredRepresentative",
        ),
        (
            "a re-keyed id (Art. 18.5)",
            medical_to(rekeyed, Grantor::Subject, SHELTER),
            "SubjectClosed",
        ),
    ];
    for (name, terms, expected) in cases {
        let subject = terms.subject;
        let err = police.grant_consent(terms).await.unwrap_err();
        let ClientError::ConsentRefused {
            consent,
            reason,
            log_index,
        } = &err
        else {
            panic!("{name}: expected ConsentRefused, got {err:?}");
        };
        assert_eq!(err.fault(), streha_client::Fault::Policy, "{name}");
        assert_eq!(err.refusal(), Some(reason), "{name}");
        match reason {
            RefusalReason::ChildOwnConsent { consent: c } => {
                assert_eq!(expected, "ChildOwnConsent", "{name}");
                assert_eq!(c, consent);
            }
            RefusalReason::ConsentRecipientNotInRoster {
                consent: c,
                recipient,
            } => {
                assert_eq!(expected, "ConsentRecipientNotInRoster", "{name}");
                assert_eq!((c, recipient), (consent, &typo));
            }
            RefusalReason::GrantorNotRegisteredRepresentative {
                consent: c,
                representative,
            } => {
                assert_eq!(expected, "GrantorNotRegisteredRepresentative", "{name}");
                assert_eq!((c, representative), (consent, &stranger));
            }
            RefusalReason::SubjectClosed { subject: s } => {
                assert_eq!(expected, "SubjectClosed", "{name}");
                assert_eq!(*s, rekeyed);
            }
            other => panic!("{name}: refused for another reason: {other}"),
        }
        assert!(
            !reason.article().is_empty(),
            "{name}: {reason} cites its article"
        );
        // Logged as refused, at the index the application was told, with the grant.
        let log = log_entries(&police).await;
        match log.get(usize::try_from(*log_index).unwrap()) {
            Some(AuditEntry::ConsentRefused {
                grant,
                reason: logged,
                ..
            }) => {
                assert_eq!(grant.id(), *consent, "{name}");
                assert_eq!(logged, reason, "{name}");
            }
            other => panic!("{name}: entry {log_index} is {other:?}, not `consent_refused`"),
        }
        // Nothing recorded.
        assert!(
            !log.iter().any(|e| matches!(
                e,
                AuditEntry::ConsentGranted { grant } if grant.id() == *consent
            )),
            "{name}: recorded anyway"
        );
        assert!(
            police
                .consents(subject)
                .await
                .unwrap()
                .iter()
                .all(|c| c.grant.id() != *consent),
            "{name}: listed as a consent"
        );
    }
    assert_eq!(count(&log_entries(&police).await, "consent_refused"), 5);
    assert_eq!(count(&log_entries(&police).await, "consent_granted"), 0);

    // The representative's consent for the child, and the adult's own to the shelter, are
    // recorded: the check refuses exactly what could never count.
    police
        .grant_consent(medical_to(
            child,
            Grantor::Representative(guardian),
            SHELTER,
        ))
        .await
        .unwrap();
    police
        .grant_consent(medical_to(adult, Grantor::Subject, SHELTER))
        .await
        .unwrap();
}

/// A fresh envelope id for a raw header (distinct within the test run).
fn rand16() -> [u8; 16] {
    static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0xe0);
    [NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed); 16]
}
