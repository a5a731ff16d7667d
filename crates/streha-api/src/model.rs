//! The JSON of the contract: what callers send and what they get back.
//!
//! Ids are 32 lowercase hex digits (subjects, consents, envelopes); agencies,
//! representatives and officers are names as in the roster; times are Unix milliseconds;
//! categories, purposes, roles and age statuses are the names of `spec/policy.md`. Every
//! request type refuses fields it does not know (`unknown_field`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use streha_core::{AgeStatus, Category, DisclosableCategory, Purpose, RefusalReason, Role};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// A string schema listing `names`.
fn names_schema(description: &str, names: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(names))
        .into()
}

macro_rules! vocabulary_name {
    ($(#[$doc:meta])* $name:ident, $description:literal, $all:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                names_schema($description, $all)
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

vocabulary_name!(
    /// A record category (`spec/policy.md`).
    CategoryName,
    "A record category (spec/policy.md).",
    Category::ALL.iter().map(|c| c.as_str())
);
vocabulary_name!(
    /// A category a field of a disclosure may carry. The protection categories
    /// (`protection_measures`, `protector_identity`, `assistant_identity`,
    /// `shelter_location`) are not among them: sent anyway, they are refused with 422
    /// `protection_category` before anything is sealed (Art. 18.4, 18.6).
    FieldCategory,
    "A category a disclosed field may carry. Protection categories are refused with 422 protection_category before sealing (Art. 18.4, 18.6).",
    DisclosableCategory::ALL.iter().map(|c| c.as_str())
);
vocabulary_name!(
    /// The purpose of a disclosure or consent.
    PurposeName,
    "The purpose of a disclosure or consent (spec/policy.md).",
    Purpose::ALL.iter().map(|p| p.as_str())
);
vocabulary_name!(
    /// What is known of a subject's age (Art. 36: a presumed child is a child).
    AgeStatusName,
    "What is known of a subject's age: adult, child, or presumed_child (treated as a child, Art. 36).",
    AgeStatus::ALL.iter().map(|a| a.as_str())
);
vocabulary_name!(
    /// The role of a member agency.
    RoleName,
    "The role of a member agency (spec/policy.md).",
    Role::ALL.iter().map(|r| r.as_str())
);

/// The exact rule of the disclosure policy that refused: one code per
/// `streha_core::RefusalReason`, in `spec/policy.md`'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefusalCode {
    /// A protection category (Art. 18.4, 18.6).
    ProtectionCategory,
    /// No category declared.
    EmptyCategories,
    /// The record carries other categories than declared.
    ContentMismatch,
    /// The sender is not in the roster (Art. 18.2).
    UnknownSender,
    /// The recipient is not in the roster (Art. 18.2).
    UnknownRecipient,
    /// The subject is not registered at this node.
    UnknownSubject,
    /// The subject of the decision is not the header's.
    SubjectMismatch,
    /// The subject was re-keyed; its id is closed (Art. 18.5).
    SubjectClosed,
    /// Urgent danger from a role other than police or prosecution (Art. 45.3).
    UrgentDangerSenderRole,
    /// Urgent danger without two officers' approvals (Art. 45.3).
    UrgentDangerNeedsTwoApprovers,
    /// A child's identifying data outside the agreement (Art. 35.1.5, 38.9).
    ChildIdentificationOutsideAgreement,
    /// Assistance data without consent (Art. 18.3).
    NoConsentForAssistance,
    /// The named consent is not known.
    ConsentUnknown,
    /// The named consent is about another subject.
    ConsentSubjectMismatch,
    /// A child's own consent (Art. 18.3, 36, 38.5).
    ChildOwnConsent,
    /// Consent by an unregistered representative (Art. 18.3, 38.5).
    GrantorNotRegisteredRepresentative,
    /// The consent is revoked, expired or not yet valid (Art. 18.3).
    ConsentNotInForce,
    /// The consent does not name the recipient (Art. 18.3).
    ConsentDoesNotCoverRecipient,
    /// The consent does not cover a category (Art. 18.3).
    ConsentDoesNotCoverCategory,
    /// The consent does not cover the purpose (Art. 18.3).
    ConsentDoesNotCoverPurpose,
    /// No agreement clause covers it (Art. 18.2, 45.1).
    NotInAgreement,
    /// The disclosure is addressed to the sending agency itself.
    RecipientIsSender,
    /// A consent names a recipient agency that is not in the roster (Art. 18.3, 18.2).
    ConsentRecipientNotInRoster,
    /// A reason newer than this service; never sent while `refusal_codes_map_one_to_one`
    /// passes.
    Unrecognized,
}

impl RefusalCode {
    /// The code of a refusal reason.
    pub fn of(reason: &RefusalReason) -> Self {
        use RefusalCode as C;
        use RefusalReason as R;
        match reason {
            R::ProtectionCategory { .. } => C::ProtectionCategory,
            R::EmptyCategories => C::EmptyCategories,
            R::ContentMismatch { .. } => C::ContentMismatch,
            R::UnknownSender { .. } => C::UnknownSender,
            R::UnknownRecipient { .. } => C::UnknownRecipient,
            R::UnknownSubject { .. } => C::UnknownSubject,
            R::SubjectMismatch { .. } => C::SubjectMismatch,
            R::SubjectClosed { .. } => C::SubjectClosed,
            R::UrgentDangerSenderRole { .. } => C::UrgentDangerSenderRole,
            R::UrgentDangerNeedsTwoApprovers { .. } => C::UrgentDangerNeedsTwoApprovers,
            R::ChildIdentificationOutsideAgreement { .. } => C::ChildIdentificationOutsideAgreement,
            R::NoConsentForAssistance { .. } => C::NoConsentForAssistance,
            R::ConsentUnknown { .. } => C::ConsentUnknown,
            R::ConsentSubjectMismatch { .. } => C::ConsentSubjectMismatch,
            R::ChildOwnConsent { .. } => C::ChildOwnConsent,
            R::GrantorNotRegisteredRepresentative { .. } => C::GrantorNotRegisteredRepresentative,
            R::ConsentNotInForce { .. } => C::ConsentNotInForce,
            R::ConsentDoesNotCoverRecipient { .. } => C::ConsentDoesNotCoverRecipient,
            R::ConsentDoesNotCoverCategory { .. } => C::ConsentDoesNotCoverCategory,
            R::ConsentDoesNotCoverPurpose { .. } => C::ConsentDoesNotCoverPurpose,
            R::NotInAgreement { .. } => C::NotInAgreement,
            R::RecipientIsSender { .. } => C::RecipientIsSender,
            R::ConsentRecipientNotInRoster { .. } => C::ConsentRecipientNotInRoster,
            _ => C::Unrecognized,
        }
    }

    /// The stable snake_case code.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

// ----- Subjects -----------------------------------------------------------------------------

/// Register a subject under a fresh random pseudonymous id (never derived from personal
/// data, Art. 18.5).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterSubject {
    /// What is known of the subject's age.
    pub age_status: AgeStatusName,
    /// Registered legal representatives (Art. 18.3, 38.5), at most 8.
    #[serde(default)]
    pub representatives: Vec<String>,
}

/// A registered subject.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubjectRegistered {
    /// The new pseudonymous id (32 hex digits): keep it with the case.
    pub subject: String,
    /// Index of the `subject registered` entry in the node's audit log.
    pub log_index: u64,
}

/// Register a legal representative of a subject (Art. 18.3, 38.5).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRepresentative {
    /// The representative's id (as the agency names them, e.g. `guardian-0042`).
    pub representative: String,
}

/// Record a subject's age status (e.g. an adult age once established; Art. 36).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordAgeStatus {
    /// The new status.
    pub age_status: AgeStatusName,
}

/// Logged in the node's audit log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Logged {
    /// Index of the entry in the node's audit log.
    pub log_index: u64,
}

// ----- Consent ------------------------------------------------------------------------------

/// Record a consent (Art. 18.3).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantConsent {
    /// The subject (32 hex digits).
    pub subject: String,
    /// Who gave it: `subject`, or `representative:<id>` (for a child only a registered
    /// representative's consent counts, Art. 18.3, 38.5).
    #[schema(
        pattern = "^(subject|representative:.+)$",
        example = "representative:guardian-0042"
    )]
    pub granted_by: String,
    /// Whom it allows: `agency:<id>` or `role:<role>`, at most 32.
    #[schema(example = json!(["agency:police-prishtina"]))]
    pub recipients: Vec<String>,
    /// The assistance categories it covers.
    pub categories: Vec<CategoryName>,
    /// The purposes it covers.
    pub purposes: Vec<PurposeName>,
    /// In force from (Unix ms; default: now).
    #[serde(default)]
    pub valid_from: Option<u64>,
    /// In force until (Unix ms, exclusive).
    pub expires_at: u64,
    /// BLAKE3 of the evidence the agency keeps (e.g. the signed consent form), 64 hex
    /// digits.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub evidence_blake3: String,
    /// The officer who recorded it.
    pub recorded_by: String,
    /// When it was recorded (Unix ms; default: now). Must be within the node's clock skew.
    #[serde(default)]
    pub recorded_at: Option<u64>,
}

/// A recorded consent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentGranted {
    /// The consent's id (32 hex digits): name it in disclosures.
    pub consent: String,
    /// Index of the `consent granted` entry.
    pub log_index: u64,
}

/// Revoke a consent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeConsent {
    /// The officer who records the revocation.
    pub recorded_by: String,
    /// Revoked from (Unix ms; default: now).
    #[serde(default)]
    pub revoked_at: Option<u64>,
}

/// A consent and its revocation, if any.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentView {
    /// Its id.
    pub consent: String,
    /// The subject.
    pub subject: String,
    /// `subject` or `representative:<id>`.
    pub granted_by: String,
    /// `agency:<id>` or `role:<role>`.
    pub recipients: Vec<String>,
    /// The categories it covers.
    pub categories: Vec<CategoryName>,
    /// The purposes it covers.
    pub purposes: Vec<PurposeName>,
    /// In force from (Unix ms).
    pub valid_from: u64,
    /// In force until (Unix ms, exclusive).
    pub expires_at: u64,
    /// BLAKE3 of the evidence.
    pub evidence_blake3: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// When (Unix ms).
    pub recorded_at: u64,
    /// Revoked from (Unix ms), if revoked.
    pub revoked_at: Option<u64>,
}

/// A subject's consents.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentList {
    /// Every consent recorded for the subject.
    pub consents: Vec<ConsentView>,
}

// ----- Disclosure ---------------------------------------------------------------------------

/// One field of a record: text, or bytes in base64 (exactly one of the two).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordField {
    /// Its category.
    pub category: FieldCategory,
    /// Its name: 1 to 64 of `a-z 0-9 _ . -`, starting with a letter.
    pub name: String,
    /// A text value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A binary value, standard base64 (with padding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

/// Disclose a record about a subject to another member agency. The service seals it to the
/// recipient's key from the verified roster and signs it with the agency's key; the node
/// decides with the policy, logs, and delivers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitDisclosure {
    /// The subject (32 hex digits).
    pub subject: String,
    /// The recipient agency.
    pub recipient: String,
    /// Why.
    pub purpose: PurposeName,
    /// The consent it relies on (needed for assistance categories, Art. 18.3).
    #[serde(default)]
    pub consent: Option<String>,
    /// The record: at least one field, at most 256, 1 MiB in all.
    pub fields: Vec<RecordField>,
    /// The idempotency key, if not given as the `Idempotency-Key` header (both: they must
    /// be equal). 1 to 128 of `A-Z a-z 0-9 - _ . :`.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Wait up to this long (ms, at most 60000) for the delivery before answering.
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

/// Where a disclosure stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// `queued` (waiting to be delivered, retried), `held` (stopped, waits for a person;
    /// never dropped), `delivered` (the receiver's signed receipt verified and logged), or
    /// `unknown` (the service could not ask the node; see `error`).
    pub state: String,
    /// Delivery attempts so far (`queued`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// The last failure (`queued`), why it is held (`held`), or why the state is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Index of the sender's `receipt` entry (`delivered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_index: Option<u64>,
    /// The log epoch `receipt_index` counts in, when it is an earlier one than the node's
    /// current epoch (`delivered` before the node's log continued after a declared loss;
    /// `spec/audit-log.md` §9). Absent: the current epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_epoch: Option<u64>,
    /// Index of the receiver's `received` entry (`delivered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_index: Option<u64>,
}

/// The policy allowed the disclosure: the `disclosed` entry is durable in the node's log
/// and the envelope is queued for delivery. A repeated request with the same idempotency
/// key gets this same answer (with the header `Idempotent-Replayed: true`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DisclosureAccepted {
    /// The envelope id.
    pub envelope: String,
    /// Index of the `disclosed` entry.
    pub log_index: u64,
    /// The delivery state, when `wait_ms` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// A disclosure whose delivery the node holds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeldDelivery {
    /// The envelope.
    pub envelope: String,
    /// Its recipient.
    pub recipient: String,
    /// `not-in-roster`, `refused`, `rekeyed` or `other`.
    pub class: String,
    /// Why, in words (no content).
    pub reason: String,
    /// Since when (Unix ms).
    pub since: u64,
}

/// A page of held deliveries, in envelope-id order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HeldPage {
    /// The page.
    pub held: Vec<HeldDelivery>,
    /// Pass as `after` for the next page; null at the end.
    pub next_after: Option<String>,
}

// ----- Inbox --------------------------------------------------------------------------------

/// A received envelope: its header facts, not its content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InboxItem {
    /// The envelope id.
    pub envelope: String,
    /// The sending agency.
    pub sender: String,
    /// The subject (the sender's pseudonymous id).
    pub subject: String,
    /// The categories it declares.
    pub categories: Vec<CategoryName>,
    /// Why it was sent.
    pub purpose: PurposeName,
    /// The consent it relies on.
    pub consent: Option<String>,
    /// When the sender made it (Unix ms).
    pub created_at: u64,
    /// Index of this node's `received` entry.
    pub received_index: u64,
    /// When this node received it (Unix ms).
    pub received_at: u64,
}

/// A page of the inbox, in arrival order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InboxPage {
    /// The page.
    pub items: Vec<InboxItem>,
    /// Pass as `after` for the next page; null at the end.
    pub next_after: Option<String>,
}

/// A received record, opened: the sender's signature verified against the roster, the
/// content decrypted, and its categories exactly those declared.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OpenedRecord {
    /// The envelope id.
    pub envelope: String,
    /// The sending agency.
    pub sender: String,
    /// The recipient (this agency).
    pub recipient: String,
    /// The subject.
    pub subject: String,
    /// The declared (and carried) categories.
    pub categories: Vec<CategoryName>,
    /// Why it was sent.
    pub purpose: PurposeName,
    /// The consent it relies on.
    pub consent: Option<String>,
    /// When the sender made it (Unix ms).
    pub created_at: u64,
    /// The fields.
    pub fields: Vec<RecordField>,
}

// ----- Audit log ----------------------------------------------------------------------------

/// The node's latest signed checkpoint, verified by the service (signed by the node's key
/// under its log origin, consistent with every checkpoint it saw before).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    /// The log origin, `<federation>/streha/<agency>`.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The RFC 6962 root hash, 64 lowercase hex digits (the note carries it in base64).
    pub root: String,
    /// The signed note (C2SP tlog-checkpoint), with cosignatures.
    pub note: String,
}

/// An entry of the node's log with its inclusion proof, verified by the service.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryProof {
    /// The entry's index.
    pub index: u64,
    /// The size of the tree it is proven in.
    pub tree_size: u64,
    /// The entry's kind (`disclosed`, `refused`, `consent_granted`, …), or null if this
    /// version cannot read it.
    pub kind: Option<String>,
    /// The entry's bytes (`spec/entries.md`), base64.
    pub entry: String,
    /// The proof as a C2SP tlog-proof (checkable offline with `streha audit check-proof`).
    pub tlog_proof: String,
}
