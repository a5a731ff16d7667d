//! The disclosure policy: one pure, total function, [`decide`], that the sending node, the
//! receiving node and the offline verifier all call.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::agreement::Federation;
use crate::category::{Category, CategoryGroup, CategorySet};
use crate::consent::{ConsentView, Grantor, NotInForce};
use crate::header::{DisclosureHeader, UrgentApproval};
use crate::ids::{AgencyId, ClauseId, ConsentId, OfficerId, RepresentativeId, SubjectId};
use crate::role::{Purpose, Role};
use crate::subject::Subject;
use crate::time::Timestamp;

/// What [`decide`] reads besides the request: the federation (roster), the subject, and the
/// consents the caller knows of for this subject.
///
/// - The **sending node** passes its subject record and
///   [`ConsentRegistry::views_for`](crate::ConsentRegistry::views_for) (revocations applied).
/// - The **receiving node**, which has no registry, passes a [`Subject`] built from the age
///   status (with [`Subject::adult_since`], via [`Subject::record_age_status`]) and the
///   representative registrations carried in the envelope, and one
///   [`ConsentView`] for the signed grant carried in the envelope (`revoked_at: None`).
/// - The **offline verifier** passes the state it rebuilt by replaying the log up to the
///   entry.
///
/// Only the consent named by the header is ever consulted; the others are ignored.
#[derive(Clone, Copy, Debug)]
pub struct PolicyContext<'a> {
    /// The federation: member agencies, their roles, the exchange agreement.
    pub federation: &'a Federation,
    /// The subject the disclosure is about, if the caller knows it (`None` is refused).
    pub subject: Option<&'a Subject>,
    /// Consents the caller knows of, with their revocation times.
    pub consents: &'a [ConsentView<'a>],
}

/// A disclosure to decide on: the header, the officers whose urgent-danger approvals the
/// caller has verified, and, when the caller can see the record, the categories it actually
/// carries.
///
/// Approvals count only after [`with_verified_approvals`](Self::with_verified_approvals):
/// the core cannot check signatures, so the caller does, and the request holds only the
/// officers whose signatures it accepted. The node never sees record content, so it leaves
/// `content` unset; the client library and the receiving application set it with
/// [`with_content`](Self::with_content).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisclosureRequest<'a> {
    header: &'a DisclosureHeader,
    approvers: Vec<OfficerId>,
    content: Option<CategorySet>,
}

impl<'a> DisclosureRequest<'a> {
    /// A request for `header`, with no verified approvals and no known content.
    pub fn new(header: &'a DisclosureHeader) -> Self {
        DisclosureRequest {
            header,
            approvers: Vec::new(),
            content: None,
        }
    }

    /// Sets the categories the record actually carries ([`Record::categories`](crate::Record::categories)).
    pub fn with_content(mut self, content: CategorySet) -> Self {
        self.content = Some(content);
        self
    }

    /// Verifies each approval of the header with `verify(sender, approval, message)`, where
    /// `message` is [`DisclosureHeader::approval_message`], and keeps the officers for which
    /// it returns `true`. `verify` must check that the officer belongs to the sending agency
    /// and that the signature is valid under that officer's key; approvals are distinct by
    /// officer by construction of the header.
    pub fn with_verified_approvals<F>(mut self, mut verify: F) -> Self
    where
        F: FnMut(&AgencyId, &UrgentApproval, &[u8]) -> bool,
    {
        let message = self.header.approval_message();
        self.approvers = self
            .header
            .approvals
            .iter()
            .filter(|a| verify(&self.header.sender, a, &message))
            .map(|a| a.officer.clone())
            .collect();
        self
    }

    /// The header.
    pub fn header(&self) -> &DisclosureHeader {
        self.header
    }

    /// The officers whose approvals were verified, distinct, in ascending order.
    pub fn approvers(&self) -> &[OfficerId] {
        &self.approvers
    }

    /// The categories the record carries, if known.
    pub fn content(&self) -> Option<CategorySet> {
        self.content
    }
}

/// On what a disclosure was allowed.
///
/// Encoded as a postcard enum: variant index 0 `Consent(consent id)`, 1
/// `Agreement(clause ids)`, 2 `ConsentAndAgreement { consent, clauses }`; clause ids as a
/// non-empty postcard sequence of strings in strictly ascending order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Basis {
    /// Only assistance categories, under this consent (Art. 18.3).
    Consent(ConsentId),
    /// Only non-assistance categories, under these clauses of the agreement (Art. 18.2).
    Agreement(Vec<ClauseId>),
    /// Both: the assistance categories under the consent, the others under the clauses.
    ConsentAndAgreement {
        /// The consent for the assistance categories.
        consent: ConsentId,
        /// The clauses for the other categories.
        clauses: Vec<ClauseId>,
    },
}

impl Basis {
    /// The consent relied on, if any.
    pub fn consent(&self) -> Option<ConsentId> {
        match self {
            Basis::Consent(c) | Basis::ConsentAndAgreement { consent: c, .. } => Some(*c),
            Basis::Agreement(_) => None,
        }
    }

    /// The agreement clauses relied on (empty for a consent-only basis).
    pub fn clauses(&self) -> &[ClauseId] {
        match self {
            Basis::Consent(_) => &[],
            Basis::Agreement(c) | Basis::ConsentAndAgreement { clauses: c, .. } => c,
        }
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clauses = |f: &mut fmt::Formatter<'_>, c: &[ClauseId]| {
            f.write_str("agreement clauses ")?;
            for (i, id) in c.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "`{id}`")?;
            }
            Ok(())
        };
        match self {
            Basis::Consent(c) => write!(f, "consent {c}"),
            Basis::Agreement(c) => clauses(f, c),
            Basis::ConsentAndAgreement {
                consent,
                clauses: c,
            } => {
                write!(f, "consent {consent} and ")?;
                clauses(f, c)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Basis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        enum Raw {
            Consent(ConsentId),
            Agreement(Vec<ClauseId>),
            ConsentAndAgreement {
                consent: ConsentId,
                clauses: Vec<ClauseId>,
            },
        }
        let check = check_basis_clauses::<_, D::Error>;
        Ok(match Raw::deserialize(d)? {
            Raw::Consent(c) => Basis::Consent(c),
            Raw::Agreement(c) => {
                check(&c)?;
                Basis::Agreement(c)
            }
            Raw::ConsentAndAgreement { consent, clauses } => {
                check(&clauses)?;
                Basis::ConsentAndAgreement { consent, clauses }
            }
        })
    }
}

/// Why a disclosure was refused: one variant per rule, carrying what a person needs to
/// understand and fix it. `Display` cites the article.
///
/// Encoded as a postcard enum (variant index in declaration order, then the fields).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum RefusalReason {
    /// A protection category was named or carried (Art. 18.4, 18.6).
    #[error(
        "category `{category}` is protection data (protection measures, the persons who protect or assist, shelter locations) and can never be disclosed, whatever the consent, agreement, role or purpose (Art. 18.4, 18.6); remove it"
    )]
    ProtectionCategory {
        /// The first protection category, by tag.
        category: Category,
    },
    /// The header names no category.
    #[error(
        "the disclosure names no category; a disclosure must declare the categories it carries"
    )]
    EmptyCategories,
    /// The record carries other categories than the header declares.
    #[error(
        "the disclosure declares {declared} but the record carries {found}; the declared categories must match the record exactly"
    )]
    ContentMismatch {
        /// Declared in the header.
        declared: CategorySet,
        /// Carried by the record.
        found: CategorySet,
    },
    /// The sender is not a member of the federation.
    #[error("the sender `{sender}` is not a member agency of the current roster")]
    UnknownSender {
        /// The sender.
        sender: AgencyId,
    },
    /// The recipient is not a member of the federation.
    #[error(
        "the recipient `{recipient}` is not a member agency of the current roster (Art. 18.2): information is exchanged only between the authorities of the agreement"
    )]
    UnknownRecipient {
        /// The recipient.
        recipient: AgencyId,
    },
    /// The subject is not known to the caller.
    #[error("subject {subject} is not registered here; register the subject first")]
    UnknownSubject {
        /// The subject named by the header.
        subject: SubjectId,
    },
    /// The subject in the context is not the subject of the header.
    #[error(
        "the disclosure is about subject {header} but the decision was asked for subject {context}"
    )]
    SubjectMismatch {
        /// Named by the header.
        header: SubjectId,
        /// Given in the context.
        context: SubjectId,
    },
    /// The subject id was re-keyed and is closed (Art. 18.5).
    #[error(
        "subject {subject} was re-keyed and its id is closed (Art. 18.5); nothing is disclosed under it"
    )]
    SubjectClosed {
        /// The closed id.
        subject: SubjectId,
    },
    /// An urgent-danger disclosure not sent by the police or the prosecution (Art. 45.3).
    #[error(
        "an urgent-danger disclosure is made on the information of the Kosovo Police or the State Prosecutor (Art. 45.3); a `{role}` agency cannot send one"
    )]
    UrgentDangerSenderRole {
        /// The sender's role.
        role: Role,
    },
    /// An urgent-danger disclosure with fewer than two verified, distinct approving officers
    /// (Art. 45.3).
    #[error(
        "an urgent-danger disclosure needs the approval of two different officers of the sending agency (Art. 45.3); {verified} verified approval(s) found"
    )]
    UrgentDangerNeedsTwoApprovers {
        /// How many distinct officers' approvals were verified.
        verified: u32,
    },
    /// An identifying category of a child to a recipient outside the agreement
    /// (Art. 35.1.5, 38.9).
    #[error(
        "`{category}` identifies a child, and a child's identity goes only to authorities inside the exchange agreement, never beyond, even with consent (Art. 35.1.5, 38.9); no clause lets a `{role}` receive it for `{purpose}`"
    )]
    ChildIdentificationOutsideAgreement {
        /// The identifying category.
        category: Category,
        /// The recipient's role.
        role: Role,
        /// The purpose.
        purpose: Purpose,
    },
    /// Assistance information without a consent (Art. 18.3).
    #[error(
        "`{category}` is confidential assistance information and leaves the agency only with the victim's consent, or a child's legal representative's (Art. 18.3); name a consent in force"
    )]
    NoConsentForAssistance {
        /// The first assistance category, by tag.
        category: Category,
    },
    /// The named consent is not among those the caller supplied.
    #[error("consent {consent} is not known here; record it, or name a consent that is")]
    ConsentUnknown {
        /// The named consent.
        consent: ConsentId,
    },
    /// The named consent is about another subject.
    #[error("consent {consent} is about subject {subject}, not the subject of this disclosure")]
    ConsentSubjectMismatch {
        /// The named consent.
        consent: ConsentId,
        /// The subject the consent is about.
        subject: SubjectId,
    },
    /// The named consent was given by the subject, who is a child or presumed child, or was
    /// recorded before the subject's adult age was (Art. 18.3, 36, 38.5).
    #[error(
        "consent {consent} was given by the subject as a child or presumed child; only the legal representative's consent counts, and an adult must consent again (Art. 18.3, 36, 38.5)"
    )]
    ChildOwnConsent {
        /// The named consent.
        consent: ConsentId,
    },
    /// The named consent was given by a representative not registered for the subject
    /// (Art. 18.3, 38.5).
    #[error(
        "consent {consent} was given by representative `{representative}`, who is not registered as this subject's legal representative (Art. 18.3, 38.5); register the representative or name another consent"
    )]
    GrantorNotRegisteredRepresentative {
        /// The named consent.
        consent: ConsentId,
        /// The representative who gave it.
        representative: RepresentativeId,
    },
    /// The named consent is not in force now (Art. 18.3).
    #[error("consent {consent} is not in force: {why} (Art. 18.3)")]
    ConsentNotInForce {
        /// The named consent.
        consent: ConsentId,
        /// Why not.
        why: NotInForce,
    },
    /// The named consent does not name the recipient or its role (Art. 18.3).
    #[error(
        "consent {consent} does not name agency `{recipient}` or its role `{role}` as a recipient (Art. 18.3)"
    )]
    ConsentDoesNotCoverRecipient {
        /// The named consent.
        consent: ConsentId,
        /// The recipient.
        recipient: AgencyId,
        /// The recipient's role.
        role: Role,
    },
    /// The named consent does not cover an assistance category (Art. 18.3).
    #[error("consent {consent} does not cover the category `{category}` (Art. 18.3)")]
    ConsentDoesNotCoverCategory {
        /// The named consent.
        consent: ConsentId,
        /// The first uncovered assistance category, by tag.
        category: Category,
    },
    /// The named consent does not cover the purpose (Art. 18.3).
    #[error("consent {consent} does not cover the purpose `{purpose}` (Art. 18.3)")]
    ConsentDoesNotCoverPurpose {
        /// The named consent.
        consent: ConsentId,
        /// The purpose.
        purpose: Purpose,
    },
    /// No clause of the exchange agreement lets the recipient's role receive a category
    /// for the purpose (Art. 18.2, 45.1).
    #[error(
        "no clause of the exchange agreement lets a `{role}` receive `{category}` for `{purpose}` (Art. 18.2, 45.1)"
    )]
    NotInAgreement {
        /// The first uncovered category, by tag.
        category: Category,
        /// The recipient's role.
        role: Role,
        /// The purpose.
        purpose: Purpose,
    },
    /// The disclosure is addressed to the sending agency itself. A disclosure moves
    /// information to another member agency; what an agency holds needs none to itself, and
    /// its own node is no peer to deliver to.
    #[error(
        "the disclosure is addressed to `{agency}`, the sending agency itself; a disclosure goes to another member agency, and what an agency holds needs none to itself: address it to the agency that is to receive it"
    )]
    RecipientIsSender {
        /// The agency, sender and recipient.
        agency: AgencyId,
    },
    /// A consent names as recipient an agency that is not a member of the federation: it
    /// could never allow a disclosure, and it would be listed as in force (Art. 18.3, 18.2).
    #[error(
        "consent {consent} names agency `{recipient}` as a recipient, which is not a member agency of the current roster (Art. 18.3, 18.2: information is exchanged only between the roster's authorities); check the agency id, or name a role"
    )]
    ConsentRecipientNotInRoster {
        /// The consent.
        consent: ConsentId,
        /// The first recipient agency not in the roster, in the grant's order.
        recipient: AgencyId,
    },
}

impl RefusalReason {
    /// The reason's name as `spec/policy.md` §3 documents it (`ConsentNotInForce`, …): what
    /// logs and metrics carry, stable across versions, never Rust's debug form.
    pub fn name(&self) -> &'static str {
        use RefusalReason::*;
        match self {
            ProtectionCategory { .. } => "ProtectionCategory",
            EmptyCategories => "EmptyCategories",
            ContentMismatch { .. } => "ContentMismatch",
            UnknownSender { .. } => "UnknownSender",
            UnknownRecipient { .. } => "UnknownRecipient",
            UnknownSubject { .. } => "UnknownSubject",
            SubjectMismatch { .. } => "SubjectMismatch",
            SubjectClosed { .. } => "SubjectClosed",
            UrgentDangerSenderRole { .. } => "UrgentDangerSenderRole",
            UrgentDangerNeedsTwoApprovers { .. } => "UrgentDangerNeedsTwoApprovers",
            ChildIdentificationOutsideAgreement { .. } => "ChildIdentificationOutsideAgreement",
            NoConsentForAssistance { .. } => "NoConsentForAssistance",
            ConsentUnknown { .. } => "ConsentUnknown",
            ConsentSubjectMismatch { .. } => "ConsentSubjectMismatch",
            ChildOwnConsent { .. } => "ChildOwnConsent",
            GrantorNotRegisteredRepresentative { .. } => "GrantorNotRegisteredRepresentative",
            ConsentNotInForce { .. } => "ConsentNotInForce",
            ConsentDoesNotCoverRecipient { .. } => "ConsentDoesNotCoverRecipient",
            ConsentDoesNotCoverCategory { .. } => "ConsentDoesNotCoverCategory",
            ConsentDoesNotCoverPurpose { .. } => "ConsentDoesNotCoverPurpose",
            NotInAgreement { .. } => "NotInAgreement",
            RecipientIsSender { .. } => "RecipientIsSender",
            ConsentRecipientNotInRoster { .. } => "ConsentRecipientNotInRoster",
        }
    }

    /// The articles of Law 04/L-218 the rule comes from, or `""` for a well-formedness rule.
    pub fn article(&self) -> &'static str {
        use RefusalReason::*;
        match self {
            ProtectionCategory { .. } => "Art. 18.4, 18.6",
            EmptyCategories
            | ContentMismatch { .. }
            | UnknownSubject { .. }
            | SubjectMismatch { .. }
            | RecipientIsSender { .. } => "",
            UnknownSender { .. } | UnknownRecipient { .. } => "Art. 18.2",
            SubjectClosed { .. } => "Art. 18.5",
            UrgentDangerSenderRole { .. } | UrgentDangerNeedsTwoApprovers { .. } => "Art. 45.3",
            ChildIdentificationOutsideAgreement { .. } => "Art. 35.1.5, 38.9",
            ChildOwnConsent { .. } => "Art. 18.3, 36, 38.5",
            GrantorNotRegisteredRepresentative { .. } => "Art. 18.3, 38.5",
            NoConsentForAssistance { .. }
            | ConsentUnknown { .. }
            | ConsentSubjectMismatch { .. }
            | ConsentNotInForce { .. }
            | ConsentDoesNotCoverRecipient { .. }
            | ConsentDoesNotCoverCategory { .. }
            | ConsentDoesNotCoverPurpose { .. } => "Art. 18.3",
            NotInAgreement { .. } => "Art. 18.2, 45.1",
            ConsentRecipientNotInRoster { .. } => "Art. 18.3, 18.2",
        }
    }
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The disclosure may happen.
    Allowed {
        /// On what.
        basis: Basis,
        /// Flag the log entry for review (every urgent-danger disclosure, Art. 45.3).
        urgent_review: bool,
    },
    /// The disclosure must not happen.
    Refused {
        /// The first rule that failed, in the documented order.
        reason: RefusalReason,
    },
}

impl Decision {
    /// Whether the disclosure is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// The basis, if allowed.
    pub fn basis(&self) -> Option<&Basis> {
        match self {
            Decision::Allowed { basis, .. } => Some(basis),
            Decision::Refused { .. } => None,
        }
    }

    /// The reason, if refused.
    pub fn reason(&self) -> Option<&RefusalReason> {
        match self {
            Decision::Allowed { .. } => None,
            Decision::Refused { reason } => Some(reason),
        }
    }
}

/// Decides whether a disclosure may happen at `now`. Pure (no IO, no clock, no randomness),
/// total (never panics) and deterministic (the same inputs give the same decision and the
/// same reason).
///
/// The rules are checked in this fixed order and the **first** that fails is the reason
/// (`spec/policy.md` is the normative text):
///
/// 1. **Protection** (Art. 18.4, 18.6): any protection category, declared or carried →
///    [`RefusalReason::ProtectionCategory`].
/// 2. **Declared categories**: none → [`RefusalReason::EmptyCategories`]; if the content is
///    known and differs from the declaration → [`RefusalReason::ContentMismatch`].
/// 3. **Membership** (Art. 18.2): sender, then recipient, must be in the federation, and
///    they are two agencies (a disclosure to the sender itself is refused).
/// 4. **Subject**: known, the same as the header's, and not re-keyed (Art. 18.5).
/// 5. **Urgent danger** (Art. 45.3), for that purpose only: sender is police or prosecution;
///    at least two distinct verified approving officers.
/// 6. **Child identification** (Art. 35.1.5, 38.9, 36): for a child or presumed child, each
///    identifying category needs a clause for the recipient's role, the purpose and that
///    category.
/// 7. **Consent** (Art. 18.3, 36, 38.5): assistance categories need the header to name a
///    consent. A named consent — needed or not — must be supplied, about this subject, from
///    a valid grantor (the subject only if adult now and already adult when the consent was
///    recorded; a representative only if registered),
///    in force at `now`, naming the recipient (agency or role), covering every assistance
///    category carried, and the purpose.
/// 8. **Agreement** (Art. 18.2, 45.1): every non-assistance category needs a clause for the
///    recipient's role and the purpose.
///
/// Allowed: the basis names the consent if the disclosure carries assistance categories, and
/// for each other category the clause with the smallest id that allows it (deduplicated,
/// ascending). `urgent_review` is set for [`Purpose::UrgentDanger`].
pub fn decide(
    ctx: &PolicyContext<'_>,
    request: &DisclosureRequest<'_>,
    now: Timestamp,
) -> Decision {
    match evaluate(ctx, request, now) {
        Ok(basis) => Decision::Allowed {
            basis,
            urgent_review: request.header.purpose == Purpose::UrgentDanger,
        },
        Err(reason) => Decision::Refused { reason },
    }
}

/// The decision of the **sending** node (Art. 18.3): [`decide`] at the header's `created_at`
/// and again at `sent_at`, the node's own time, which it logs as the entry's `at`; refused if
/// either refuses.
///
/// `created_at` is stated by the application and may lie up to the clock skew in the past,
/// so deciding only there would let a disclosure dated just before a revocation or an
/// expiry leave after it. The refusal at `created_at` is reported first; otherwise the one
/// at `sent_at`. Only consent validity depends on the time, so when both allow, they allow
/// on the same basis, and the decision at `created_at` is returned. Pure, total and
/// deterministic like [`decide`]; the offline verifier replays a `disclosed` entry with it.
pub fn decide_to_send(
    ctx: &PolicyContext<'_>,
    request: &DisclosureRequest<'_>,
    sent_at: Timestamp,
) -> Decision {
    let at_creation = decide(ctx, request, request.header.created_at);
    if !at_creation.is_allowed() || sent_at == request.header.created_at {
        return at_creation;
    }
    match decide(ctx, request, sent_at) {
        Decision::Allowed { .. } => at_creation,
        refused @ Decision::Refused { .. } => refused,
    }
}

fn evaluate(
    ctx: &PolicyContext<'_>,
    request: &DisclosureRequest<'_>,
    now: Timestamp,
) -> Result<Basis, RefusalReason> {
    let h = request.header;
    let declared = h.categories;
    let agreement = ctx.federation.agreement();

    // 1. Protection, whatever else (Art. 18.4, 18.6).
    let named = declared.union(request.content.unwrap_or_default());
    if let Some(category) = named.in_group(CategoryGroup::Protection).first() {
        return Err(RefusalReason::ProtectionCategory { category });
    }

    // 2. The declaration.
    if declared.is_empty() {
        return Err(RefusalReason::EmptyCategories);
    }
    if let Some(found) = request.content.filter(|found| *found != declared) {
        return Err(RefusalReason::ContentMismatch { declared, found });
    }

    // 3. Membership (Art. 18.2).
    let Some(sender_role) = ctx.federation.role_of(&h.sender) else {
        return Err(RefusalReason::UnknownSender {
            sender: h.sender.clone(),
        });
    };
    let Some(role) = ctx.federation.role_of(&h.recipient) else {
        return Err(RefusalReason::UnknownRecipient {
            recipient: h.recipient.clone(),
        });
    };
    if h.recipient == h.sender {
        return Err(RefusalReason::RecipientIsSender {
            agency: h.recipient.clone(),
        });
    }

    // 4. The subject (Art. 18.5).
    let Some(subject) = ctx.subject else {
        return Err(RefusalReason::UnknownSubject { subject: h.subject });
    };
    if subject.id() != h.subject {
        return Err(RefusalReason::SubjectMismatch {
            header: h.subject,
            context: subject.id(),
        });
    }
    if subject.is_closed() {
        return Err(RefusalReason::SubjectClosed {
            subject: subject.id(),
        });
    }

    // 5. Urgent danger (Art. 45.3).
    if h.purpose == Purpose::UrgentDanger {
        if !matches!(sender_role, Role::Police | Role::Prosecution) {
            return Err(RefusalReason::UrgentDangerSenderRole { role: sender_role });
        }
        let mut officers: Vec<&OfficerId> = request.approvers.iter().collect();
        officers.sort();
        officers.dedup();
        if officers.len() < 2 {
            return Err(RefusalReason::UrgentDangerNeedsTwoApprovers {
                verified: u32::try_from(officers.len()).unwrap_or(u32::MAX),
            });
        }
    }

    // 6. A child's identity only inside the agreement (Art. 35.1.5, 38.9; Art. 36).
    if subject.age_status().is_child()
        && let Some(category) = declared
            .in_group(CategoryGroup::Identification)
            .iter()
            .find(|c| agreement.clause_for(role, h.purpose, *c).is_none())
    {
        return Err(RefusalReason::ChildIdentificationOutsideAgreement {
            category,
            role,
            purpose: h.purpose,
        });
    }

    // 7. Consent for assistance (Art. 18.3, 36, 38.5).
    let assistance = declared.in_group(CategoryGroup::Assistance);
    let consent = match h.consent {
        Some(id) => {
            check_consent(ctx, subject, h, role, assistance, id, now)?;
            Some(id)
        }
        None => {
            if let Some(category) = assistance.first() {
                return Err(RefusalReason::NoConsentForAssistance { category });
            }
            None
        }
    };

    // 8. The agreement for everything else (Art. 18.2, 45.1).
    let mut clauses: Vec<ClauseId> = Vec::new();
    for category in declared.difference(assistance).iter() {
        match agreement.clause_for(role, h.purpose, category) {
            Some(clause) => clauses.push(clause.id().clone()),
            None => {
                return Err(RefusalReason::NotInAgreement {
                    category,
                    role,
                    purpose: h.purpose,
                });
            }
        }
    }
    clauses.sort();
    clauses.dedup();

    let consent = consent.filter(|_| !assistance.is_empty());
    Ok(match (consent, clauses.is_empty()) {
        (Some(consent), true) => Basis::Consent(consent),
        (Some(consent), false) => Basis::ConsentAndAgreement { consent, clauses },
        (None, _) => Basis::Agreement(clauses),
    })
}

/// Checks a consent grant before it is recorded: the node's decision at `GrantConsent`,
/// so that nothing is listed as in force that could never allow a disclosure. Pure, total
/// and deterministic like [`decide`]; its refusals are [`RefusalReason`]s, logged like
/// `decide`'s (`consent_refused`, `spec/entries.md`).
///
/// The rules, in this order (`spec/policy.md` §5.1); the **first** that fails is the reason:
///
/// 1. The grant is about `subject` ([`RefusalReason::ConsentSubjectMismatch`]).
/// 2. The subject id is not closed by re-keying ([`RefusalReason::SubjectClosed`],
///    Art. 18.5).
/// 3. A grant by the subject needs the subject adult, and adult already when the grant was
///    recorded (`adult_since <= recorded_at`): a child's or presumed child's own consent
///    never counts ([`RefusalReason::ChildOwnConsent`], Art. 18.3, 36, 38.5). A grant by a
///    representative needs the representative registered for the subject
///    ([`RefusalReason::GrantorNotRegisteredRepresentative`], Art. 18.3, 38.5).
/// 4. Every agency the grant names as recipient is a member of `federation`
///    ([`RefusalReason::ConsentRecipientNotInRoster`], Art. 18.3, 18.2). A role needs no
///    member: a consent to a role covers the agencies of that role the roster lists when a
///    disclosure is decided.
///
/// Rules 1 and 3 are the same as `decide`'s rules 7c–7e at the time of recording, so a
/// grant recorded now is not refused by them at disclosure unless the subject's facts
/// change (a representative removed, a presumed-child status recorded).
///
/// # Errors
/// The first rule that fails, as a [`RefusalReason`].
pub fn check_grant(
    federation: &Federation,
    subject: &Subject,
    grant: &crate::ConsentGrant,
) -> Result<(), RefusalReason> {
    let consent = grant.id();
    if grant.subject() != subject.id() {
        return Err(RefusalReason::ConsentSubjectMismatch {
            consent,
            subject: grant.subject(),
        });
    }
    if subject.is_closed() {
        return Err(RefusalReason::SubjectClosed {
            subject: subject.id(),
        });
    }
    check_grantor(subject, grant)?;
    for recipient in grant.recipients() {
        if let crate::Recipient::Agency(agency) = recipient
            && federation.role_of(agency).is_none()
        {
            return Err(RefusalReason::ConsentRecipientNotInRoster {
                consent,
                recipient: agency.clone(),
            });
        }
    }
    Ok(())
}

/// `decide`'s rules 7d and 7e, and `check_grant`'s rule 3: who may grant.
fn check_grantor(subject: &Subject, grant: &crate::ConsentGrant) -> Result<(), RefusalReason> {
    let consent = grant.id();
    match grant.granted_by() {
        // A child's own consent never counts, nor one the subject gave before an adult age
        // was recorded (it was given as a child or presumed child).
        Grantor::Subject => {
            if subject
                .adult_since()
                .is_none_or(|since| grant.recorded_at() < since)
            {
                return Err(RefusalReason::ChildOwnConsent { consent });
            }
        }
        Grantor::Representative(representative) => {
            if !subject.has_representative(representative) {
                return Err(RefusalReason::GrantorNotRegisteredRepresentative {
                    consent,
                    representative: representative.clone(),
                });
            }
        }
    }
    Ok(())
}

fn check_consent(
    ctx: &PolicyContext<'_>,
    subject: &Subject,
    h: &DisclosureHeader,
    role: Role,
    assistance: CategorySet,
    consent: ConsentId,
    now: Timestamp,
) -> Result<(), RefusalReason> {
    let Some(view) = ctx.consents.iter().find(|v| v.grant.id() == consent) else {
        return Err(RefusalReason::ConsentUnknown { consent });
    };
    let grant = view.grant;
    if grant.subject() != subject.id() {
        return Err(RefusalReason::ConsentSubjectMismatch {
            consent,
            subject: grant.subject(),
        });
    }
    check_grantor(subject, grant)?;
    if let Err(why) = view.check_in_force(now) {
        return Err(RefusalReason::ConsentNotInForce { consent, why });
    }
    if !grant.covers_recipient(&h.recipient, role) {
        return Err(RefusalReason::ConsentDoesNotCoverRecipient {
            consent,
            recipient: h.recipient.clone(),
            role,
        });
    }
    if let Some(category) = assistance.difference(grant.categories()).first() {
        return Err(RefusalReason::ConsentDoesNotCoverCategory { consent, category });
    }
    if !grant.purposes().contains(h.purpose) {
        return Err(RefusalReason::ConsentDoesNotCoverPurpose {
            consent,
            purpose: h.purpose,
        });
    }
    Ok(())
}

/// The rule on a basis's clauses, one for the owned and the borrowed decoder
/// (`entry_ref`): at least one, at most one per category, strictly ascending — so a basis
/// has one encoding.
pub(crate) fn check_basis_clauses<T: Ord, E: serde::de::Error>(clauses: &[T]) -> Result<(), E> {
    if clauses.is_empty() || clauses.len() > Category::ALL.len() {
        return Err(E::custom("basis names no clause or too many"));
    }
    if clauses.windows(2).any(|w| w[0] >= w[1]) {
        return Err(E::custom("basis clauses not in strictly ascending order"));
    }
    Ok(())
}
