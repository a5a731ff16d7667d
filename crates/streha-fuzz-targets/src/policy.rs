//! Target `policy_decide`: the disclosure policy on structured input.
//!
//! The bytes are read through `arbitrary::Unstructured` (no derive: the domain types
//! validate at construction, so they are built through their public constructors, which
//! may refuse) into a federation, a subject, the consents the caller knows of, a
//! disclosure header, the verified approvals, the record's categories and `now`. Names and
//! ids come from small pools so that senders are members, consents name the subject, and
//! the interesting cases are reached often.

use std::collections::BTreeSet;

use arbitrary::{Arbitrary as _, Unstructured};
use streha_core::{
    AgeStatus, AgencyId, AgreementClause, Approvals, Basis, Category, CategoryGroup, CategorySet,
    ClauseId, ConsentGrant, ConsentId, ConsentTerms, ConsentView, Decision, DisclosureHeader,
    DisclosureRequest, EnvelopeId, ExchangeAgreement, Federation, Grantor, OfficerId,
    PolicyContext, Purpose, PurposeSet, Recipient, RefusalReason, RepresentativeId, Role,
    SignatureBytes, Subject, SubjectId, SubjectStatus, Timestamp, UrgentApproval, decide,
};

const AGENCIES: &[(&str, Role)] = &[
    ("police-a", Role::Police),
    ("prosecution-a", Role::Prosecution),
    ("csw-a", Role::CentreForSocialWork),
    ("shelter-a", Role::LicensedNgo),
    ("health-a", Role::Health),
    ("outsider-a", Role::ForeignAuthority),
];
const CLAUSES: &[&str] = &["clause-a", "clause-b", "clause-c", "clause-d"];
const REPRESENTATIVES: &[&str] = &["rep-a", "rep-b", "rep-c"];
const OFFICERS: &[&str] = &["officer-a", "officer-b", "officer-c"];
const SUBJECTS: &[[u8; 16]] = &[[0x51; 16], [0x52; 16], [0x53; 16]];
const CONSENTS: &[[u8; 16]] = &[[0xc1; 16], [0xc2; 16], [0xc3; 16]];
const ALL_GROUPS: &[CategoryGroup] = &[
    CategoryGroup::Identification,
    CategoryGroup::Case,
    CategoryGroup::Assistance,
    CategoryGroup::Protection,
];

/// Builds a policy context, a request and `now` from `data`, and calls
/// `streha_core::decide`.
///
/// Asserts, for every input:
/// - **no protection category is ever allowed** (Art. 18.4), declared or carried, and such
///   a request is refused for that reason first;
/// - **no child's own consent is ever the basis**: if the basis names a consent granted by
///   the subject, the subject is an adult and was already one when the consent was
///   recorded (Art. 18.3, 36, 38.5); assistance categories are never allowed without a
///   consent;
/// - **no revoked consent is ever the basis**: a consent revoked at or before `now` is
///   never the basis, and revoking the basis consent at `now` turns the decision into a
///   refusal;
/// - **determinism**: deciding twice, and deciding on copies of every input, gives the same
///   decision;
/// - the decision agrees with a reference model written here from `spec/policy.md` (allowed
///   exactly when every rule holds, with the same basis and review flag).
pub fn policy_decide(data: &[u8]) {
    decide_and_check(data);
}

/// The body of [`policy_decide`]; returns the decision for the tests below.
fn decide_and_check(data: &[u8]) -> Decision {
    let mut g = Gen(Unstructured::new(data));
    // The header first, so that the rest can lean towards it (members that match, consents
    // about its subject and for its recipient, clauses for its purpose).
    let header = g.header();
    let now = g.time();
    let content = g.one_in(4).then(|| {
        if g.one_in(4) {
            g.categories(ALL_GROUPS)
        } else {
            header.categories
        }
    });
    let verified: Vec<bool> = (0..header.approvals.len()).map(|_| !g.one_in(4)).collect();
    let federation = g.federation(&header);
    let subject = g.subject(&header);
    let grants = g.consents(&header, now);

    let views: Vec<ConsentView<'_>> = grants
        .iter()
        .map(|(grant, revoked_at)| ConsentView {
            grant,
            revoked_at: *revoked_at,
        })
        .collect();
    let ctx = PolicyContext {
        federation: &federation,
        subject: subject.as_ref(),
        consents: &views,
    };
    let mut flags = verified.iter().copied();
    let mut request = DisclosureRequest::new(&header)
        .with_verified_approvals(|_, _, _| flags.next() == Some(true));
    if let Some(content) = content {
        request = request.with_content(content);
    }

    let decision = decide(&ctx, &request, now);

    // Determinism: the same inputs, and copies of them, give the same decision.
    assert_eq!(
        decide(&ctx, &request, now),
        decision,
        "decide is not deterministic"
    );
    {
        let federation = federation.clone();
        let subject = subject.clone();
        let grants = grants.clone();
        let header = header.clone();
        let views: Vec<ConsentView<'_>> = grants
            .iter()
            .map(|(grant, revoked_at)| ConsentView {
                grant,
                revoked_at: *revoked_at,
            })
            .collect();
        let ctx = PolicyContext {
            federation: &federation,
            subject: subject.as_ref(),
            consents: &views,
        };
        let mut flags = verified.iter().copied();
        let mut copy = DisclosureRequest::new(&header)
            .with_verified_approvals(|_, _, _| flags.next() == Some(true));
        if let Some(content) = content {
            copy = copy.with_content(content);
        }
        assert_eq!(
            decide(&ctx, &copy, now),
            decision,
            "decide differs on equal inputs"
        );
    }

    // Art. 18.4: protection first, never allowed.
    let named = header.categories.union(content.unwrap_or_default());
    if !named.in_group(CategoryGroup::Protection).is_empty() {
        assert!(
            matches!(
                decision.reason(),
                Some(RefusalReason::ProtectionCategory { .. })
            ),
            "a protection category was not refused first (Art. 18.4): {decision:?}"
        );
    }

    if let Decision::Allowed { basis, .. } = &decision {
        assert!(
            named.in_group(CategoryGroup::Protection).is_empty(),
            "a protection category was allowed (Art. 18.4)"
        );
        let assistance = header.categories.in_group(CategoryGroup::Assistance);
        if !assistance.is_empty() {
            assert!(
                basis.consent().is_some(),
                "assistance information allowed without a consent (Art. 18.3)"
            );
        }
        if let Some(id) = basis.consent() {
            assert_eq!(
                Some(id),
                header.consent,
                "the basis is not the named consent"
            );
            let view = views
                .iter()
                .find(|v| v.grant.id() == id)
                .expect("the basis consent was supplied");
            let subject = subject.as_ref().expect("allowed with a known subject");
            if *view.grant.granted_by() == Grantor::Subject {
                assert_eq!(
                    subject.age_status(),
                    AgeStatus::Adult,
                    "a child's own consent was the basis (Art. 18.3, 36, 38.5)"
                );
                assert!(
                    subject
                        .adult_since()
                        .is_some_and(|since| since <= view.grant.recorded_at()),
                    "a consent the subject gave before an adult age was recorded was the basis"
                );
            }
            assert!(
                view.revoked_at.is_none_or(|at| at > now),
                "a consent revoked at or before now was the basis"
            );

            // Revoking the basis consent now must turn the decision around.
            let revoked: Vec<ConsentView<'_>> = views
                .iter()
                .map(|v| ConsentView {
                    grant: v.grant,
                    revoked_at: if v.grant.id() == id {
                        Some(now)
                    } else {
                        v.revoked_at
                    },
                })
                .collect();
            let ctx = PolicyContext {
                consents: &revoked,
                ..ctx
            };
            assert!(
                !decide(&ctx, &request, now).is_allowed(),
                "still allowed after the basis consent was revoked at now"
            );
        }
    }

    // The reference model.
    let expected = model(
        &federation,
        subject.as_ref(),
        &views,
        &header,
        content,
        request.approvers(),
        now,
    );
    match (&decision, expected) {
        (
            Decision::Allowed {
                basis,
                urgent_review,
            },
            Some(want),
        ) => {
            assert_eq!(*basis, want, "allowed on another basis than the model's");
            assert_eq!(
                *urgent_review,
                header.purpose == Purpose::UrgentDanger,
                "urgent review flag"
            );
        }
        (Decision::Refused { .. }, None) => {}
        (decision, want) => panic!(
            "decide says {decision:?} but the model of spec/policy.md says {}",
            if want.is_some() { "allowed" } else { "refused" }
        ),
    }
    decision
}

/// The rules of `spec/policy.md`, written out again: `Some(basis)` when every rule holds.
fn model(
    federation: &Federation,
    subject: Option<&Subject>,
    views: &[ConsentView<'_>],
    h: &DisclosureHeader,
    content: Option<CategorySet>,
    approvers: &[OfficerId],
    now: Timestamp,
) -> Option<Basis> {
    let declared = h.categories;
    let has_protection = |s: CategorySet| s.iter().any(Category::is_protection);
    // 1–2. Protection; the declaration.
    if has_protection(declared) || content.is_some_and(has_protection) {
        return None;
    }
    if declared.is_empty() || content.is_some_and(|c| c != declared) {
        return None;
    }
    // 3. Membership, and two agencies.
    let sender_role = federation.role_of(&h.sender)?;
    let role = federation.role_of(&h.recipient)?;
    if h.recipient == h.sender {
        return None;
    }
    // 4. The subject.
    let subject = subject?;
    if subject.id() != h.subject || subject.status() != SubjectStatus::Active {
        return None;
    }
    // 5. Urgent danger.
    if h.purpose == Purpose::UrgentDanger {
        if !matches!(sender_role, Role::Police | Role::Prosecution) {
            return None;
        }
        if approvers.iter().collect::<BTreeSet<_>>().len() < 2 {
            return None;
        }
    }
    let clause_for = |category: Category| {
        federation
            .agreement()
            .clauses()
            .iter()
            .filter(|c| {
                c.recipient() == role
                    && c.purposes().contains(h.purpose)
                    && c.categories().contains(category)
            })
            .map(|c| c.id().clone())
            .min()
    };
    // 6. A child's identity.
    if subject.age_status() != AgeStatus::Adult {
        for category in declared.iter().filter(|c| c.is_identifying()) {
            clause_for(category)?;
        }
    }
    // 7. Consent.
    let assistance: CategorySet = declared.iter().filter(|c| c.is_assistance()).collect();
    match h.consent {
        None if !assistance.is_empty() => return None,
        None => {}
        Some(id) => {
            let view = views.iter().find(|v| v.grant.id() == id)?;
            let grant = view.grant;
            if grant.subject() != subject.id() {
                return None;
            }
            let grantor_ok = match grant.granted_by() {
                Grantor::Subject => {
                    subject.age_status() == AgeStatus::Adult
                        && subject
                            .adult_since()
                            .is_some_and(|since| since <= grant.recorded_at())
                }
                Grantor::Representative(r) => subject.representatives().contains(r),
            };
            let in_force = view.revoked_at.is_none_or(|at| at > now)
                && grant.recorded_at() <= now
                && grant.valid_from() <= now
                && now < grant.expires_at();
            let covers_recipient = grant.recipients().iter().any(|r| match r {
                Recipient::Agency(a) => *a == h.recipient,
                Recipient::Role(r) => *r == role,
            });
            if !grantor_ok
                || !in_force
                || !covers_recipient
                || !assistance.is_subset(&grant.categories())
                || !grant.purposes().contains(h.purpose)
            {
                return None;
            }
        }
    }
    // 8. The agreement.
    let mut clauses = Vec::new();
    for category in declared.iter().filter(|c| !c.is_assistance()) {
        clauses.push(clause_for(category)?);
    }
    clauses.sort();
    clauses.dedup();
    let consent = h.consent.filter(|_| !assistance.is_empty());
    Some(match (consent, clauses.is_empty()) {
        (Some(consent), true) => Basis::Consent(consent),
        (Some(consent), false) => Basis::ConsentAndAgreement { consent, clauses },
        (None, _) => Basis::Agreement(clauses),
    })
}

/// Draws domain values from the fuzzer's bytes; once they run out, every draw is the
/// smallest value.
struct Gen<'a>(Unstructured<'a>);

impl Gen<'_> {
    fn bool(&mut self) -> bool {
        bool::arbitrary(&mut self.0).unwrap_or(false)
    }

    fn one_in(&mut self, n: u8) -> bool {
        self.0.ratio(1u8, n).unwrap_or(false)
    }

    fn below(&mut self, n: usize) -> usize {
        match n {
            0 => 0,
            n => self.0.int_in_range(0..=n - 1).unwrap_or(0),
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn time(&mut self) -> Timestamp {
        match self.below(8) {
            0 => Timestamp::EPOCH,
            1 => Timestamp::MAX,
            2 => Timestamp(u64::arbitrary(&mut self.0).unwrap_or(0)),
            _ => Timestamp(self.below(11) as u64 * 1000),
        }
    }

    fn categories(&mut self, groups: &[CategoryGroup]) -> CategorySet {
        let mask = u16::arbitrary(&mut self.0).unwrap_or(0);
        let mut set = CategorySet::new();
        for (bit, &category) in Category::ALL.iter().enumerate() {
            if groups.contains(&category.group()) && mask & (1 << bit) != 0 {
                set.insert(category);
            }
        }
        set
    }

    fn purposes(&mut self) -> PurposeSet {
        let mask = u8::arbitrary(&mut self.0).unwrap_or(0);
        let mut set = PurposeSet::new();
        for (bit, &purpose) in Purpose::ALL.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                set.insert(purpose);
            }
        }
        set
    }

    /// Usually `like`, sometimes another subject.
    fn subject_like(&mut self, like: SubjectId) -> SubjectId {
        if self.one_in(12) {
            SubjectId::from_bytes(self.pick(SUBJECTS))
        } else {
            like
        }
    }

    /// A time near `now` (at or before it when `before`), or any time.
    fn time_near(&mut self, now: Timestamp, before: bool) -> Timestamp {
        if self.one_in(4) {
            return self.time();
        }
        let delta = self.below(3) as u64 * 1000;
        if before {
            Timestamp(now.0.saturating_sub(delta))
        } else {
            now.saturating_add_millis(delta + 1)
        }
    }

    fn agency(&mut self) -> AgencyId {
        // The outsider (rarely a member) only now and then.
        let members = &AGENCIES[..AGENCIES.len() - 1];
        agency(if self.one_in(12) {
            AGENCIES[AGENCIES.len() - 1].0
        } else {
            self.pick(members).0
        })
    }

    fn federation(&mut self, header: &DisclosureHeader) -> Federation {
        let recipient_role = AGENCIES
            .iter()
            .find(|(name, _)| *name == header.recipient.as_str())
            .map_or(Role::Police, |(_, role)| *role);
        let mut clauses: Vec<AgreementClause> = Vec::new();
        for _ in 0..self.below(5) {
            let id = ClauseId::new(self.pick(CLAUSES)).expect("valid clause id");
            if clauses.iter().any(|c| *c.id() == id) {
                continue;
            }
            let mut categories = if self.one_in(16) {
                self.categories(ALL_GROUPS)
            } else {
                self.categories(&[CategoryGroup::Identification, CategoryGroup::Case])
            };
            let mut purposes = self.purposes();
            let role = if self.bool() {
                // A clause for this disclosure's recipient and purpose.
                purposes.insert(header.purpose);
                categories = categories.union(
                    header
                        .categories
                        .in_group(CategoryGroup::Identification)
                        .union(header.categories.in_group(CategoryGroup::Case)),
                );
                recipient_role
            } else {
                self.pick(Role::ALL)
            };
            if let Ok(clause) = AgreementClause::new(id, role, categories, purposes) {
                clauses.push(clause);
            }
        }
        let agreement = ExchangeAgreement::new(clauses).unwrap_or_default();
        let mut federation = Federation::new(agreement);
        for &(name, usual_role) in AGENCIES {
            let member = if name == "outsider-a" {
                self.one_in(4)
            } else {
                !self.one_in(8)
            };
            if member {
                let role = if self.one_in(4) {
                    self.pick(Role::ALL)
                } else {
                    usual_role
                };
                federation
                    .add_agency(agency(name), role)
                    .expect("a new agency");
            }
        }
        federation
    }

    fn subject(&mut self, header: &DisclosureHeader) -> Option<Subject> {
        if self.one_in(16) {
            return None;
        }
        let id = self.subject_like(header.subject);
        let mut subject = Subject::new(id, self.pick(AgeStatus::ALL));
        for _ in 0..self.below(5) {
            match self.below(8) {
                0 => {
                    let status = self.pick(AgeStatus::ALL);
                    let at = self.time();
                    let _ = subject.record_age_status(status, at);
                }
                2..=4 => {
                    let _ = subject.add_representative(representative(self.pick(REPRESENTATIVES)));
                }
                1 | 5 => {
                    let _ =
                        subject.remove_representative(&representative(self.pick(REPRESENTATIVES)));
                }
                6 if self.one_in(2) => {
                    let new_id = SubjectId::from_bytes(self.pick(SUBJECTS));
                    let keep_new = self.bool();
                    if let Ok((new, _)) = subject.rekey(new_id, &[7; 32])
                        && keep_new
                    {
                        subject = new;
                    }
                }
                _ => {}
            }
        }
        Some(subject)
    }

    fn consents(
        &mut self,
        header: &DisclosureHeader,
        now: Timestamp,
    ) -> Vec<(ConsentGrant, Option<Timestamp>)> {
        let mut out: Vec<(ConsentGrant, Option<Timestamp>)> = Vec::new();
        for n in 0..self.below(4) {
            let id = match header.consent {
                Some(named) if n == 0 && !self.one_in(8) => named,
                _ => ConsentId::from_bytes(self.pick(CONSENTS)),
            };
            if out.iter().any(|(g, _)| g.id() == id) {
                // A registry holds each id once.
                continue;
            }
            let subject = self.subject_like(header.subject);
            let granted_by = if self.bool() {
                Grantor::Subject
            } else {
                Grantor::Representative(representative(self.pick(REPRESENTATIVES)))
            };
            let mut recipients = Vec::new();
            if self.bool() {
                recipients.push(Recipient::Agency(header.recipient.clone()));
            }
            for _ in 0..=self.below(2) {
                recipients.push(if self.bool() {
                    Recipient::Agency(self.agency())
                } else {
                    Recipient::Role(self.pick(Role::ALL))
                });
            }
            let mut categories = if self.one_in(16) {
                self.categories(ALL_GROUPS)
            } else {
                self.categories(&[CategoryGroup::Assistance])
            };
            let mut purposes = self.purposes();
            if self.bool() {
                categories =
                    categories.union(header.categories.in_group(CategoryGroup::Assistance));
                purposes.insert(header.purpose);
            }
            let recorded_at = self.time_near(now, true);
            let valid_from = self.time_near(now, true);
            let expires_at = self.time_near(now, false);
            let revoked_at = if self.one_in(3) {
                let before = self.bool();
                Some(self.time_near(now, before))
            } else {
                None
            };
            let terms = ConsentTerms {
                id,
                subject,
                granted_by,
                recipients,
                categories,
                purposes,
                valid_from,
                expires_at,
                evidence_hash: [0xee; 32],
                recorded_by: officer("officer-a"),
                recorded_at,
            };
            if let Ok(grant) = ConsentGrant::new(terms) {
                out.push((grant, revoked_at));
            }
        }
        out
    }

    fn header(&mut self) -> DisclosureHeader {
        let sender = self.agency();
        let recipient = self.agency();
        let subject = SubjectId::from_bytes(if self.one_in(12) {
            self.pick(SUBJECTS)
        } else {
            SUBJECTS[0]
        });
        let groups: &[CategoryGroup] = match self.below(8) {
            0 => ALL_GROUPS,
            1 | 2 => &[CategoryGroup::Assistance],
            3 | 4 => &[CategoryGroup::Identification, CategoryGroup::Case],
            _ => &[
                CategoryGroup::Identification,
                CategoryGroup::Case,
                CategoryGroup::Assistance,
            ],
        };
        let categories = self.categories(groups);
        let purpose = self.pick(Purpose::ALL);
        let consent = (!self.one_in(4)).then(|| ConsentId::from_bytes(self.pick(CONSENTS)));
        let created_at = self.time();
        let mut approvals = Approvals::new();
        let count = if purpose == Purpose::UrgentDanger {
            self.below(4)
        } else {
            usize::from(self.one_in(8))
        };
        for _ in 0..count {
            let _ = approvals.insert(UrgentApproval {
                officer: officer(self.pick(OFFICERS)),
                signature: SignatureBytes::from_bytes([0; 64]),
            });
        }
        DisclosureHeader {
            envelope_id: EnvelopeId::from_bytes([0xe1; 16]),
            sender,
            recipient,
            subject,
            categories,
            purpose,
            consent,
            created_at,
            approvals,
        }
    }
}

fn agency(name: &str) -> AgencyId {
    AgencyId::new(name).expect("valid agency id")
}

fn representative(name: &str) -> RepresentativeId {
    RepresentativeId::new(name).expect("valid representative id")
}

fn officer(name: &str) -> OfficerId {
    OfficerId::new(name).expect("valid officer id")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structured generator reaches the interesting outcomes from plain random bytes:
    /// allowed on each kind of basis, and refused for each group of rules.
    #[test]
    fn random_bytes_reach_every_kind_of_outcome() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut seen = BTreeSet::new();
        for i in 0..4000usize {
            let data: Vec<u8> = (0..64 + i % 200)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 32) as u8
                })
                .collect();
            let outcome = match decide_and_check(&data) {
                Decision::Allowed {
                    basis: Basis::Consent(_),
                    ..
                } => "allowed on consent",
                Decision::Allowed {
                    basis: Basis::Agreement(_),
                    ..
                } => "allowed on agreement",
                Decision::Allowed { .. } => "allowed on both",
                Decision::Refused {
                    reason: RefusalReason::ProtectionCategory { .. },
                } => "refused: protection",
                Decision::Refused {
                    reason: RefusalReason::ChildOwnConsent { .. },
                } => "refused: child's own consent",
                Decision::Refused {
                    reason: RefusalReason::ConsentNotInForce { .. },
                } => "refused: consent not in force",
                Decision::Refused {
                    reason: RefusalReason::ChildIdentificationOutsideAgreement { .. },
                } => "refused: child identification",
                Decision::Refused { .. } => "refused: other",
            };
            seen.insert(outcome);
        }
        assert_eq!(seen.len(), 8, "only reached {seen:?}");
    }
}
