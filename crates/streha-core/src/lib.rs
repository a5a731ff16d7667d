//! Streha's domain and policy, with no IO.
//!
//! `streha-core` holds the rules of Law No. 04/L-218 that decide whether information about a
//! victim of trafficking may move from one authority to another, and the audit entries that
//! prove afterwards that it did so lawfully:
//!
//! - **Subjects** ([`Subject`]): persons known only by a random pseudonymous [`SubjectId`],
//!   with an [`AgeStatus`] (a presumed child is a child, Art. 36), registered legal
//!   representatives (Art. 18.3, 38.5), and re-keying to a new id (Art. 18.5).
//! - **Records** ([`Record`], [`Field`]): typed fields tagged with a [`DisclosableCategory`],
//!   a type that cannot name a protection category (Art. 18.4).
//! - **Categories** ([`Category`], [`CategoryGroup`]): identification, case, assistance
//!   (confidential, Art. 18.3), protection (never disclosed, Art. 18.4).
//! - **Roles and purposes** ([`Role`], [`Purpose`]): the authorities of Art. 6, licensed NGOs
//!   (Art. 33.3), cooperation partners (Art. 32, 45); why information moves.
//! - **The exchange agreement** ([`ExchangeAgreement`], [`Federation`]): which roles may
//!   receive which non-assistance categories for which purposes (Art. 18.2, 45.1).
//! - **Consent** ([`ConsentGrant`], [`ConsentRevocation`], [`ConsentRegistry`]).
//! - **The decision** ([`decide`]): one pure, total, deterministic function, called by the
//!   sending node, the receiving node and the offline verifier alike. It answers
//!   [`Decision::Allowed`] with a [`Basis`] or [`Decision::Refused`] with a precise
//!   [`RefusalReason`] that cites the article. `spec/policy.md` lists every rule, its order,
//!   the code that enforces it and the test that proves it.
//! - **The disclosure header** ([`DisclosureHeader`]): the domain facts of an envelope, which
//!   the crypto layer carries as opaque associated data.
//! - **Audit entries** ([`AuditEntry`]): the versioned, canonical postcard documents the
//!   Merkle log stores (`spec/entries.md`).
//!
//! What it does **not** do: no network, files, clock or randomness — time is a [`Timestamp`]
//! argument and ids are built from bytes the caller draws. No cryptography: signatures and
//! keys are opaque bytes ([`SignatureBytes`], `[u8; 32]`) that the node verifies; the only
//! hash computed here is the BLAKE3 re-key commitment. It stores nothing and sends nothing.
//!
//! ```text
//!  application ──Record──▶ client ──DisclosureHeader──▶ node ──▶ decide(ctx, request, now)
//!                                                                   │
//!                          Allowed{basis} → AuditEntry::Disclosed ◀─┴─▶ Refused{reason} → AuditEntry::Refused
//! ```
//!
//! # Example
//!
//! ```
//! use streha_core::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The federation: a police agency, a centre for social work, and one agreement clause.
//! let clause = AgreementClause::new(
//!     ClauseId::new("csw-referral")?,
//!     Role::CentreForSocialWork,
//!     CategorySet::of(&[Category::Identity, Category::Referral]),
//!     PurposeSet::of(&[Purpose::IdentificationAndReferral, Purpose::Assistance]),
//! )?;
//! let police = AgencyId::new("police-prishtina")?;
//! let csw = AgencyId::new("csw-prishtina")?;
//! let federation = Federation::new(ExchangeAgreement::new(vec![clause])?)
//!     .with_agency(police.clone(), Role::Police)?
//!     .with_agency(csw.clone(), Role::CentreForSocialWork)?
//!     .with_agency(AgencyId::new("prosecution-prishtina")?, Role::Prosecution)?;
//!
//! // A presumed child (Art. 36) with a registered legal representative.
//! let guardian = RepresentativeId::new("guardian-0042")?;
//! let subject = Subject::new(SubjectId::from_bytes([0x5a; 16]), AgeStatus::PresumedChild)
//!     .with_representative(guardian.clone())?;
//!
//! // The representative consents to psychological information going to social work.
//! let grant = ConsentGrant::new(ConsentTerms {
//!     id: ConsentId::from_bytes([0xc0; 16]),
//!     subject: subject.id(),
//!     granted_by: Grantor::Representative(guardian),
//!     recipients: vec![Recipient::Role(Role::CentreForSocialWork)],
//!     categories: CategorySet::of(&[Category::Psychological]),
//!     purposes: PurposeSet::of(&[Purpose::Assistance]),
//!     valid_from: Timestamp(1_700_000_000_000),
//!     expires_at: Timestamp(1_800_000_000_000),
//!     evidence_hash: [0xee; 32],
//!     recorded_by: OfficerId::new("officer-17")?,
//!     recorded_at: Timestamp(1_700_000_000_000),
//! })?;
//! let mut consents = ConsentRegistry::new();
//! consents.add(grant)?;
//!
//! // The record, and its header.
//! let record = Record::new()
//!     .with(Field::text(DisclosableCategory::Identity, "given_name", "…")?)?
//!     .with(Field::text(DisclosableCategory::Psychological, "assessment", "…")?)?;
//! let header = DisclosureHeader {
//!     envelope_id: EnvelopeId::from_bytes([0xe1; 16]),
//!     sender: police,
//!     recipient: csw,
//!     subject: subject.id(),
//!     categories: record.categories(),
//!     purpose: Purpose::Assistance,
//!     consent: Some(ConsentId::from_bytes([0xc0; 16])),
//!     created_at: Timestamp(1_750_000_000_000),
//!     approvals: Approvals::new(),
//! };
//!
//! let views = consents.views_for(subject.id());
//! let ctx = PolicyContext { federation: &federation, subject: Some(&subject), consents: &views };
//! let request = DisclosureRequest::new(&header).with_content(record.categories());
//! let decision = decide(&ctx, &request, Timestamp(1_750_000_000_000));
//! assert_eq!(
//!     decision,
//!     Decision::Allowed {
//!         basis: Basis::ConsentAndAgreement {
//!             consent: ConsentId::from_bytes([0xc0; 16]),
//!             clauses: vec![ClauseId::new("csw-referral")?],
//!         },
//!         urgent_review: false,
//!     }
//! );
//!
//! // The same disclosure to the prosecution would give a child's identity outside the
//! // agreement.
//! let mut to_prosecution = header.clone();
//! to_prosecution.recipient = AgencyId::new("prosecution-prishtina")?;
//! let refused =
//!     decide(&ctx, &DisclosureRequest::new(&to_prosecution), Timestamp(1_750_000_000_000));
//! assert!(matches!(
//!     refused.reason(),
//!     Some(RefusalReason::ChildIdentificationOutsideAgreement { category: Category::Identity, .. })
//! ));
//!
//! // What the log records.
//! let entry = AuditEntry::Disclosed {
//!     header,
//!     basis: decision.basis().cloned().unwrap(),
//!     urgent_review: false,
//!     ciphertext_hash: [0; 32],
//!     at: Timestamp(1_750_000_000_000),
//! };
//! assert_eq!(AuditEntry::decode(&entry.encode())?, entry);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

#[macro_use]
mod macros;

mod agreement;
mod category;
mod codec;
mod consent;
mod entry;
mod entry_ref;
pub mod epoch;
mod header;
mod ids;
mod policy;
mod record;
mod role;
mod subject;
mod time;

pub use crate::{
    agreement::{
        AgreementClause, AgreementError, ExchangeAgreement, Federation, MAX_AGENCIES, MAX_CLAUSES,
    },
    category::{
        Category, CategoryGroup, CategorySet, DisclosableCategory, ProtectionCategoryError,
        UnknownName,
    },
    codec::DecodeError,
    consent::{
        ConsentError, ConsentGrant, ConsentRegistry, ConsentRevocation, ConsentTerms, ConsentView,
        Grantor, MAX_CONSENT_RECIPIENTS, NotInForce, Recipient, RegistryError,
    },
    entry::{
        AuditEntry, ENTRY_VERSION, EnvelopeSignature, KeyKind, MAX_ENTRY_LEN, MAX_PROVEN_NOTE_LEN,
        MAX_WITNESSED_PER_ENTRY, ViolationKind, WitnessAlarmKind, WitnessedCheckpoint,
    },
    entry_ref::{ApprovalsRef, AuditEntryRef, BasisRef, DisclosureHeaderRef, UrgentApprovalRef},
    header::{
        APPROVAL_DOMAIN, Approvals, DisclosureHeader, HEADER_VERSION, HeaderError, MAX_APPROVALS,
        MAX_HEADER_LEN, UrgentApproval,
    },
    ids::{
        AgencyId, AgencyIdRef, ClauseId, ClauseIdRef, ConsentId, EnvelopeId, IdError, LogOrigin,
        MAX_NAME_LEN, MAX_ORIGIN_LEN, OfficerId, OfficerIdRef, RepresentativeId,
        RepresentativeIdRef, SignatureBytes, SubjectId,
    },
    policy::{
        Basis, Decision, DisclosureRequest, PolicyContext, RefusalReason, check_grant, decide,
        decide_to_send,
    },
    record::{
        Field, FieldValue, MAX_FIELD_NAME_LEN, MAX_FIELD_VALUE_LEN, MAX_FIELDS, MAX_RECORD_LEN,
        RECORD_VERSION, Record, RecordError,
    },
    role::{Purpose, PurposeSet, Role},
    subject::{
        AgeStatus, MAX_REPRESENTATIVES, REKEY_COMMITMENT_DOMAIN, RekeyRecord, Subject,
        SubjectError, SubjectStatus, rekey_commitment,
    },
    time::{MAX_CLOCK_SKEW_MS, Timestamp},
};
