//! Application ↔ node messages (ALPN `streha-app/1`). One request and one response per
//! bidirectional stream. The application authenticates with its enrolled application key;
//! it holds the agency's signing and encryption keys, the node holds neither.

use serde::{Deserialize, Serialize};
use streha_audit::ConsistencyProof;
use streha_core::{
    AgeStatus, AgencyId, CategorySet, ConsentGrant, ConsentId, ConsentRevocation, EnvelopeId,
    RefusalReason, RepresentativeId, SubjectId, Timestamp, ViolationKind, WitnessAlarmKind,
};
use streha_crypto::Envelope;

use crate::RemoteError;

/// The most items one page returns (inbox items, log entries, checkpoints, consents, held
/// deliveries, witness evidence). A page is also cut short when its items would take more
/// than [`MAX_PAGE_BYTES`](crate::limits::MAX_PAGE_BYTES): a page shorter than asked is not
/// the end of the list; an empty page is.
pub const MAX_PAGE: u32 = 256;

/// An application's request to its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AppRequest {
    /// Register a subject under a fresh random pseudonymous id.
    RegisterSubject {
        /// The id (128 random bits drawn by the application).
        subject: SubjectId,
        /// Its age status.
        age_status: AgeStatus,
        /// Its registered legal representatives (at most
        /// [`MAX_REPRESENTATIVES`](crate::limits::MAX_REPRESENTATIVES)).
        #[serde(deserialize_with = "crate::limits::representatives")]
        representatives: Vec<RepresentativeId>,
    },
    /// Record a new age status (e.g. an adult age once established).
    RecordAgeStatus {
        /// The subject.
        subject: SubjectId,
        /// The new status.
        age_status: AgeStatus,
    },
    /// Register a legal representative for a subject.
    AddRepresentative {
        /// The subject.
        subject: SubjectId,
        /// The representative's registration id.
        representative: RepresentativeId,
    },
    /// Record a consent. Answered `Logged` (the `consent_granted` entry), or `Refused` when
    /// the policy's check of the grant refuses it (`streha_core::check_grant`; the
    /// `consent_refused` entry).
    GrantConsent(Box<ConsentGrant>),
    /// Revoke a consent.
    RevokeConsent(ConsentRevocation),
    /// The consents recorded for a subject, with their revocation times, all in one answer.
    /// A node answers it only while they fit in one page; beyond that it answers
    /// `Error{BadRequest}` (never a silently shortened list): use
    /// [`AppRequest::ConsentsPage`].
    ListConsents {
        /// The subject.
        subject: SubjectId,
    },
    /// Submit a sealed disclosure. Idempotent by envelope id.
    Submit(Box<Envelope>),
    /// Where a submitted disclosure is: queued, or delivered with its receipt.
    DeliveryStatus {
        /// The envelope.
        envelope: EnvelopeId,
    },
    /// A page of the inbox, in arrival order, after `after` (exclusive).
    Inbox {
        /// Start after this envelope (`None`: from the start).
        after: Option<EnvelopeId>,
        /// At most this many (capped at [`MAX_PAGE`]).
        limit: u32,
    },
    /// One envelope of the inbox.
    Fetch {
        /// The envelope.
        envelope: EnvelopeId,
    },
    /// The opened envelope did not hold what its header declared.
    ReportViolation {
        /// The envelope.
        envelope: EnvelopeId,
        /// What was wrong.
        kind: ViolationKind,
        /// The categories the content actually held (empty if undecodable).
        found: CategorySet,
    },
    /// The roster the node runs on (signed-note text).
    Roster,
    /// The node's latest signed checkpoint.
    Checkpoint,
    /// An entry with its inclusion proof against the latest checkpoint.
    ProveEntry {
        /// The entry's index.
        index: u64,
    },
    /// A consistency proof between two sizes of the node's log.
    ProveConsistency {
        /// Older size.
        old: u64,
        /// Newer size (at most the current size).
        new: u64,
    },
    /// A page of the log's entries, from `start`.
    Entries {
        /// First index.
        start: u64,
        /// At most this many (capped at [`MAX_PAGE`]).
        limit: u32,
    },
    /// Every checkpoint the node issued, oldest first, from the `start`-th.
    Checkpoints {
        /// Index into the list of checkpoints.
        start: u64,
        /// At most this many (capped at [`MAX_PAGE`]).
        limit: u32,
    },
    /// Move a subject to a new pseudonymous id (Art. 18.5). The node closes the old id,
    /// logs `subject re-keyed` with only a salted commitment to the new id, registers the
    /// new id with the age status carried over (child protection carries over;
    /// representatives and consents do not), deletes the envelopes it holds for the old id,
    /// and holds queued disclosures about it. The salt is used to compute the commitment and
    /// is not stored by the node: the agency keeps it, to open the link to a court or DPO.
    RekeySubject {
        /// The subject's current id (closed afterwards).
        subject: SubjectId,
        /// The new id (128 random bits).
        new_subject: SubjectId,
        /// 32 random bytes, kept by the agency.
        salt: [u8; 32],
    },
    /// The node's published checkpoint: the latest one cosigned by at least the configured
    /// number of other nodes, with their cosignatures.
    PublishedCheckpoint,
    /// An entry with its inclusion proof against the published checkpoint.
    ProvePublished {
        /// The entry's index.
        index: u64,
    },
    /// Waits until the disclosure is delivered (its receipt logged) or held, or until
    /// `timeout_ms` (at most 60 000) passed, then answers with its state.
    AwaitDelivery {
        /// The envelope.
        envelope: EnvelopeId,
        /// How long to wait, in milliseconds.
        timeout_ms: u32,
    },
    /// The disclosures whose delivery is held, in envelope-id order, after `after`
    /// (exclusive). Answered with [`AppResponse::Held`].
    HeldDeliveries {
        /// Start after this envelope (`None`: from the start).
        after: Option<EnvelopeId>,
        /// At most this many (capped at [`MAX_PAGE`]).
        limit: u32,
    },
    /// The evidence this node keeps as a witness (two signed checkpoints of another node's
    /// log that cannot both be true), by log origin then time, from the `start`-th.
    /// Answered with [`AppResponse::Evidence`].
    WitnessEvidence {
        /// Index into the list of evidence records.
        start: u64,
        /// At most this many (capped at [`MAX_PAGE`]).
        limit: u32,
    },
    /// The signed roster notes the node adopted (each logged as `roster_changed`), oldest
    /// version first, from the `start`-th: what an exported log bundle carries so that each
    /// entry can be judged under the roster in force. Answered with [`AppResponse::Rosters`].
    AdoptedRosters {
        /// Index into the list of adopted rosters.
        start: u64,
        /// At most this many (capped at
        /// [`MAX_ROSTERS_PAGE`](crate::limits::MAX_ROSTERS_PAGE)).
        limit: u32,
    },
    /// A page of the consents recorded for a subject, with their revocation times, in
    /// consent-id order after `after` (exclusive). Answered with [`AppResponse::Consents`].
    ConsentsPage {
        /// The subject.
        subject: SubjectId,
        /// Start after this consent (`None`: from the first).
        after: Option<ConsentId>,
        /// At most this many (capped at [`MAX_PAGE`]).
        limit: u32,
    },
    /// A page of the checkpoints the node issued, oldest first, from the first one of a tree
    /// larger than `after` entries. Answered with [`AppResponse::Checkpoints`]. Unlike
    /// [`AppRequest::Checkpoints`], whose `start` counts checkpoints from the first and so
    /// costs the node a walk over all those before it, the cursor is a tree size: pass the
    /// size of the last checkpoint received.
    CheckpointsAfter {
        /// Only checkpoints of a tree larger than this (0: from the first).
        after: u64,
        /// At most this many (capped at [`MAX_PAGE`]).
        limit: u32,
    },
    /// An entry of an epoch of the node's log (`spec/audit-log.md` §9) with its inclusion
    /// proof: against the latest checkpoint in the current epoch (as
    /// [`AppRequest::ProveEntry`]), against the last checkpoint of an earlier epoch, which
    /// the node keeps. Answered with [`AppResponse::Entry`]; its checkpoint names the epoch's
    /// origin.
    ProveEntryInEpoch {
        /// The log epoch (1 for a log that never continued after a declared loss).
        epoch: u64,
        /// The entry's index in that epoch.
        index: u64,
    },
}

/// Why a disclosure's delivery is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum HoldReason {
    /// The recipient was not in the roster when delivery was tried. Released (retried) when
    /// the node adopts a roster that lists the recipient again.
    NotInRoster,
    /// The receiver refused the disclosure. Stays held.
    Refused,
    /// The subject was re-keyed (Art. 18.5). Stays held.
    Rekeyed,
    /// Anything else: a receipt that did not verify, a missing log entry, an error answer.
    /// Stays held.
    Other,
}

impl HoldReason {
    /// The stable name: `not-in-roster`, `refused`, `rekeyed` or `other` (also the `reason`
    /// label of the `streha_outbound_held` metric).
    pub fn name(self) -> &'static str {
        match self {
            Self::NotInRoster => "not-in-roster",
            Self::Refused => "refused",
            Self::Rekeyed => "rekeyed",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for HoldReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One held disclosure (no content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldDelivery {
    /// The envelope.
    pub envelope: EnvelopeId,
    /// Its recipient.
    pub recipient: AgencyId,
    /// Why it is held, as a class.
    pub class: HoldReason,
    /// Why it is held, in words (no content), at most
    /// `streha_wire::limits::MAX_TEXT_LEN` bytes. It may quote what the receiver
    /// answered: show it through `streha_wire::text::Untrusted`.
    #[serde(deserialize_with = "crate::limits::hold_reason")]
    pub reason: String,
    /// Since when.
    pub since: Timestamp,
}

/// Evidence kept by a witness: two signed checkpoints of one log that cannot both be true,
/// exactly as received, for the offline verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessEvidence {
    /// The origin of the log they contradict (at most
    /// `streha_core::MAX_ORIGIN_LEN` bytes).
    #[serde(deserialize_with = "crate::limits::log_origin")]
    pub origin: String,
    /// What the contradiction is (fork, rollback, inconsistent).
    pub kind: WitnessAlarmKind,
    /// The checkpoint this node had cosigned (signed-note text).
    pub first: String,
    /// The checkpoint that contradicts it (signed-note text).
    pub second: String,
    /// When the contradiction was found.
    pub at: Timestamp,
}

/// Where a submitted disclosure stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DeliveryState {
    /// Logged as disclosed and waiting in the outbound queue.
    Queued {
        /// Delivery attempts so far.
        attempts: u32,
        /// The last failure, if any (no content), at most
        /// `streha_wire::limits::MAX_TEXT_LEN` bytes; it may quote the receiver.
        #[serde(deserialize_with = "crate::limits::last_error")]
        last_error: Option<String>,
    },
    /// Delivery stopped and waits for a person: the receiver refused it, or the recipient
    /// is no longer in the roster. It is kept, never dropped.
    Held {
        /// Why (no content), at most `streha_wire::limits::MAX_TEXT_LEN` bytes; it
        /// may quote the receiver.
        #[serde(deserialize_with = "crate::limits::hold_reason")]
        reason: String,
    },
    /// Delivered: the receiver's receipt was verified and logged.
    Delivered {
        /// Index of the sender's `receipt` entry.
        receipt_index: u64,
        /// Index of the receiver's `received` entry.
        receiver_index: u64,
    },
    /// Delivered, and its receipt logged in an earlier epoch of the node's log than the
    /// current one (`spec/audit-log.md` §9): `receipt_index` counts in that epoch's log, which
    /// the node keeps; prove it with [`AppRequest::ProveEntryInEpoch`].
    DeliveredInEarlierEpoch {
        /// The log epoch of the sender's `receipt` entry.
        epoch: u64,
        /// Index of the sender's `receipt` entry in that epoch.
        receipt_index: u64,
        /// Index of the receiver's `received` entry.
        receiver_index: u64,
    },
}

/// One inbox entry (header facts only; fetch for the envelope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    /// The envelope id.
    pub envelope: EnvelopeId,
    /// The encoded `DisclosureHeader` (as in the envelope).
    pub header: Vec<u8>,
    /// Index of this node's `received` entry.
    pub received_index: u64,
    /// When it was received.
    pub received_at: Timestamp,
}

/// A consent with its revocation, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentStatus {
    /// The grant.
    pub grant: ConsentGrant,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// Index of its `consent granted` entry.
    pub log_index: u64,
}

/// A node's answer to an [`AppRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AppResponse {
    /// Done; the change is durable in the log at `index` (the first entry written).
    Logged {
        /// Log index of the entry that records it.
        index: u64,
    },
    /// A submitted disclosure was allowed, logged as `disclosed` (durably), and queued.
    Accepted {
        /// The envelope.
        envelope: EnvelopeId,
        /// Index of the `disclosed` entry.
        index: u64,
    },
    /// The policy refused the disclosure (`Submit`), or the consent (`GrantConsent`); the
    /// refusal is logged at `index`; nothing left, nothing was recorded.
    Refused {
        /// Why.
        reason: RefusalReason,
        /// Index of the `refused` (or `consent_refused`) entry.
        index: u64,
    },
    /// Answer to [`AppRequest::ListConsents`] and [`AppRequest::ConsentsPage`] (at most
    /// [`MAX_PAGE_ITEMS`](crate::limits::MAX_PAGE_ITEMS)).
    Consents(#[serde(deserialize_with = "crate::limits::consents_page")] Vec<ConsentStatus>),
    /// Answer to [`AppRequest::DeliveryStatus`].
    Delivery(DeliveryState),
    /// Answer to [`AppRequest::Inbox`] (at most
    /// [`MAX_PAGE_ITEMS`](crate::limits::MAX_PAGE_ITEMS)).
    Inbox(#[serde(deserialize_with = "crate::limits::inbox_page")] Vec<InboxItem>),
    /// Answer to [`AppRequest::Fetch`].
    Envelope(Box<Envelope>),
    /// Answer to [`AppRequest::Roster`] and [`AppRequest::Checkpoint`]: signed-note text.
    Note(String),
    /// Answer to [`AppRequest::ProveEntry`].
    Entry(Box<crate::peer::ProvenEntry>),
    /// Answer to [`AppRequest::ProveConsistency`].
    Consistency(ConsistencyProof),
    /// Answer to [`AppRequest::Entries`] (at most
    /// [`MAX_PAGE_ITEMS`](crate::limits::MAX_PAGE_ITEMS)).
    Entries(#[serde(deserialize_with = "crate::limits::entries_page")] Vec<Vec<u8>>),
    /// Answer to [`AppRequest::Checkpoints`] and [`AppRequest::CheckpointsAfter`] (at most
    /// [`MAX_PAGE_ITEMS`](crate::limits::MAX_PAGE_ITEMS)).
    Checkpoints(#[serde(deserialize_with = "crate::limits::checkpoints_page")] Vec<String>),
    /// Answer to [`AppRequest::HeldDeliveries`] (at most
    /// [`MAX_PAGE_ITEMS`](crate::limits::MAX_PAGE_ITEMS)).
    Held(#[serde(deserialize_with = "crate::limits::held_page")] Vec<HeldDelivery>),
    /// Answer to [`AppRequest::WitnessEvidence`] (at most
    /// [`MAX_PAGE_ITEMS`](crate::limits::MAX_PAGE_ITEMS)).
    Evidence(#[serde(deserialize_with = "crate::limits::evidence_page")] Vec<WitnessEvidence>),
    /// The request failed.
    Error(RemoteError),
    /// Answer to [`AppRequest::AdoptedRosters`]: signed roster notes, oldest version first
    /// (at most [`MAX_ROSTERS_PAGE`](crate::limits::MAX_ROSTERS_PAGE)).
    Rosters(#[serde(deserialize_with = "crate::limits::rosters_page")] Vec<String>),
}
