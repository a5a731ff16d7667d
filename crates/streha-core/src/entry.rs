//! Audit log entries: what a node appends to its Merkle log. Pseudonymous ids, categories,
//! purposes, decisions with their basis, and hashes — never a name, never record content.

use serde::{Deserialize, Serialize};

use crate::category::CategorySet;
use crate::codec::{self, DecodeError};
use crate::consent::{ConsentGrant, ConsentRevocation};
use crate::header::DisclosureHeader;
use crate::ids::{
    AgencyId, EnvelopeId, LogOrigin, OfficerId, RepresentativeId, SignatureBytes, SubjectId,
};
use crate::policy::{Basis, RefusalReason};
use crate::subject::AgeStatus;
use crate::time::Timestamp;

/// The version byte that starts an encoded [`AuditEntry`].
pub const ENTRY_VERSION: u8 = 1;
/// The largest encoded entry, in bytes (64 KiB). Every entry this crate can build is far
/// smaller (a few KiB at most).
pub const MAX_ENTRY_LEN: usize = 64 << 10;

/// What a received record violated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ViolationKind {
    /// The record carries other categories than its header declared.
    CategoryMismatch,
    /// The opened plaintext is not a valid record (e.g. it holds a protection category tag,
    /// which no honest client can encode).
    UndecodableContent,
}

/// What a witness found wrong with a log, in a [`AuditEntry::WitnessAlarm`]. Encoded as a
/// postcard enum: the tags below, in declaration order, never reordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WitnessAlarmKind {
    /// Tag 0. Two different trees of the same size: a fork. Found when the owner offers one
    /// or when another witness gossips one.
    Fork,
    /// Tag 1. A tree smaller than one the witness had cosigned: the log was rolled back (for
    /// instance, its store restored from an older copy).
    Rollback,
    /// Tag 2. A larger tree with no valid consistency proof from the one cosigned: the log
    /// was rewritten.
    Inconsistent,
}

impl WitnessAlarmKind {
    /// The stable snake_case name: `fork`, `rollback` or `inconsistent`.
    pub fn name(self) -> &'static str {
        match self {
            WitnessAlarmKind::Fork => "fork",
            WitnessAlarmKind::Rollback => "rollback",
            WitnessAlarmKind::Inconsistent => "inconsistent",
        }
    }
}

impl std::fmt::Display for WitnessAlarmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The sender's signature of an envelope as the receiver keeps it in its `received` entry,
/// with the envelope header fields that the disclosure header does not hold, so that anyone
/// can check it offline (`spec/envelope.md` §4): the signed header is `version 1 ‖
/// sender_key ‖ recipient_key ‖ ephemeral ‖ varint(len(context)) ‖ context`, where `context`
/// is the encoding of the entry's disclosure header, and the signature is over that header
/// and the entry's ciphertext hash.
///
/// It proves that the holder of `sender_key` sealed this header and this ciphertext: a
/// receiver cannot make one up. Whether `sender_key` was the sender's agency signing key is
/// the roster's to say. The core never verifies it (it knows no cryptography).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The sender's agency signing key (Ed25519) the envelope names.
    pub sender_key: [u8; 32],
    /// The recipient's agency encryption key (X25519) the envelope was sealed to.
    pub recipient_key: [u8; 32],
    /// The envelope's ephemeral X25519 public key.
    pub ephemeral: [u8; 32],
    /// The Ed25519 signature.
    pub signature: SignatureBytes,
}

/// One checkpoint of another party's log that a witness cosigned, in a
/// [`AuditEntry::WitnessedCheckpoints`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WitnessedCheckpoint {
    /// The log's origin line.
    pub origin: LogOrigin,
    /// The size of the latest checkpoint of that log the witness cosigned.
    pub size: u64,
    /// Its root hash.
    pub root: [u8; 32],
}

/// The most checkpoints one [`AuditEntry::WitnessedCheckpoints`] lists: with origins of at
/// most 255 bytes, an entry stays far under [`MAX_ENTRY_LEN`]. A witness that cosigned more
/// logs in one round writes more entries.
pub const MAX_WITNESSED_PER_ENTRY: usize = 128;

/// Which key changed, in a [`AuditEntry::KeyChanged`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyKind {
    /// The node identity key (Ed25519: QUIC/TLS, checkpoints, receipts).
    NodeIdentity,
    /// The agency signing key (Ed25519: envelopes).
    AgencySigning,
    /// The agency encryption key (X25519: envelopes).
    AgencyEncryption,
    /// An application's key (Ed25519), enrolled with the node.
    Application,
    /// An officer's key (Ed25519: urgent-danger approvals).
    Officer(OfficerId),
}

/// One audit log entry.
///
/// Encoding ([`AuditEntry::encode`]): the byte [`ENTRY_VERSION`], then the postcard enum —
/// variant index (varint; the tags below, in declaration order, never reordered), then the
/// fields in declaration order. At most [`MAX_ENTRY_LEN`] bytes. `spec/entries.md` is the
/// byte-level description and `spec/vectors/entries.json` pins it.
///
/// Every entry carries its time (`at`, or the grant's `recorded_at` / the revocation's
/// `revoked_at`) so the offline verifier can replay the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditEntry {
    /// Tag 0. A subject was registered.
    SubjectRegistered {
        /// The new subject's id.
        subject: SubjectId,
        /// Its age status.
        age_status: AgeStatus,
        /// When.
        at: Timestamp,
    },
    /// Tag 1. A subject's age status changed (Art. 36: until an adult age is recorded, a
    /// presumed child is a child).
    AgeStatusRecorded {
        /// The subject.
        subject: SubjectId,
        /// The new age status.
        age_status: AgeStatus,
        /// When.
        at: Timestamp,
    },
    /// Tag 2. A legal representative was registered for a subject (Art. 18.3, 38.5).
    RepresentativeRegistered {
        /// The subject.
        subject: SubjectId,
        /// The representative's registration id.
        representative: RepresentativeId,
        /// When.
        at: Timestamp,
    },
    /// Tag 3. A legal representative's registration was removed.
    RepresentativeRemoved {
        /// The subject.
        subject: SubjectId,
        /// The representative's registration id.
        representative: RepresentativeId,
        /// When.
        at: Timestamp,
    },
    /// Tag 4. A consent was recorded (time: the grant's `recorded_at`).
    ConsentGranted {
        /// The grant.
        grant: ConsentGrant,
    },
    /// Tag 5. A consent was revoked (time: the revocation's `revoked_at`).
    ConsentRevoked {
        /// The revocation.
        revocation: ConsentRevocation,
    },
    /// Tag 6. The sending node allowed a disclosure and queued it.
    Disclosed {
        /// The header decided on (with the approvals and their signatures).
        header: DisclosureHeader,
        /// The basis of the decision.
        basis: Basis,
        /// Whether it is flagged for review (urgent danger, Art. 45.3).
        urgent_review: bool,
        /// BLAKE3 of the envelope ciphertext: a commitment to exactly what left.
        ciphertext_hash: [u8; 32],
        /// When it was decided.
        at: Timestamp,
    },
    /// Tag 7. The sending node refused a disclosure.
    Refused {
        /// The header refused.
        header: DisclosureHeader,
        /// Why.
        reason: RefusalReason,
        /// When.
        at: Timestamp,
    },
    /// Tag 8. The receiving node accepted an envelope after deciding again, and after
    /// verifying that the sender's log holds its `Disclosed` entry: the entry, proven by an
    /// inclusion proof under a checkpoint the sender's node signed. The entry keeps that
    /// evidence compactly (the sender's checkpoint signature, size and root, and the index),
    /// and the sender's signature of the envelope, so that an auditor can tell offline which
    /// side's log is false when the two logs disagree (`spec/verification.md` V3.1).
    Received {
        /// The header (the sender is `header.sender`).
        header: DisclosureHeader,
        /// The basis of the receiver's decision.
        basis: Basis,
        /// BLAKE3 of the envelope ciphertext.
        ciphertext_hash: [u8; 32],
        /// The sender's signature of the envelope (header and ciphertext hash). Boxed only
        /// to keep the enum small; encoded as the struct itself.
        sender_signature: Box<EnvelopeSignature>,
        /// The index of the sender's `Disclosed` entry of this envelope, proven under the
        /// checkpoint below.
        sender_log_index: u64,
        /// The size of the sender's signed checkpoint the inclusion was proven under.
        sender_tree_size: u64,
        /// Its root hash.
        sender_root_hash: [u8; 32],
        /// The sender's node's Ed25519 signature of that checkpoint: the signed note's
        /// signature under the sender's log origin, over the checkpoint body `origin ‖ size ‖
        /// root` rebuilt from the roster (`spec/protocol.md` §6, "Delivery evidence").
        sender_checkpoint_signature: SignatureBytes,
        /// When.
        at: Timestamp,
    },
    /// Tag 9. The receiving node refused an envelope (its own decision said no).
    ReceiveRefused {
        /// The header.
        header: DisclosureHeader,
        /// Why.
        reason: RefusalReason,
        /// BLAKE3 of the envelope ciphertext.
        ciphertext_hash: [u8; 32],
        /// When.
        at: Timestamp,
    },
    /// Tag 10. The sender got the recipient's signed receipt.
    Receipt {
        /// The envelope.
        envelope: EnvelopeId,
        /// The receiving agency.
        recipient: AgencyId,
        /// The index of the `Received` entry in the receiver's log.
        receiver_log_index: u64,
        /// The size of the receiver's checkpoint that includes it.
        receiver_tree_size: u64,
        /// The root hash of that checkpoint.
        receiver_root_hash: [u8; 32],
        /// The receiver's node's Ed25519 signature of that checkpoint (its signed note's
        /// signature under the receiver's log origin): the receipt's signature, and the proof
        /// that the receiver's log once held this tree, so that a receiver's export ending
        /// before it is seen as truncated.
        receiver_checkpoint_signature: SignatureBytes,
        /// When.
        at: Timestamp,
    },
    /// Tag 11. An opened record did not match its signed header: a provable violation by the
    /// sender.
    Violation {
        /// The envelope.
        envelope: EnvelopeId,
        /// The sending agency.
        sender: AgencyId,
        /// What was violated.
        kind: ViolationKind,
        /// The categories the header declared.
        declared: CategorySet,
        /// The categories the record carried (empty if undecodable).
        found: CategorySet,
        /// BLAKE3 of the envelope ciphertext.
        ciphertext_hash: [u8; 32],
        /// When.
        at: Timestamp,
    },
    /// Tag 12. The node adopted a new roster.
    RosterChanged {
        /// The roster's version.
        version: u64,
        /// The hash of the signed roster document.
        roster_hash: [u8; 32],
        /// When.
        at: Timestamp,
    },
    /// Tag 13. A key of an agency changed.
    KeyChanged {
        /// The agency.
        agency: AgencyId,
        /// Which key.
        kind: KeyKind,
        /// The new public key (32 bytes).
        public_key: [u8; 32],
        /// When.
        at: Timestamp,
    },
    /// Tag 14. A subject was re-keyed (Art. 18.5): the old id, now closed, and only a salted
    /// commitment to the new one.
    SubjectRekeyed {
        /// The old, closed id.
        old: SubjectId,
        /// [`rekey_commitment`](crate::rekey_commitment)`(salt, new id)`.
        new_commitment: [u8; 32],
        /// When.
        at: Timestamp,
    },
    /// Tag 15. The first form of the witness alarm, which did not record what was found:
    /// written by nodes before [`AuditEntry::WitnessAlarm`] (tag 16) existed, and still
    /// decoded so that their logs verify. `size` is the size the witness had cosigned;
    /// the contradiction may have been a fork, a rollback or a rewrite. Nodes no longer
    /// write it.
    WitnessAlarmV1 {
        /// The log's origin line.
        origin: LogOrigin,
        /// The size of the checkpoint the witness had cosigned.
        size: u64,
        /// The root hash the witness had cosigned.
        root_a: [u8; 32],
        /// The root hash of the contradicting checkpoint.
        root_b: [u8; 32],
        /// When.
        at: Timestamp,
    },
    /// Tag 16. Witnessing found a checkpoint of another node's log that contradicts one this
    /// node had cosigned; both signed checkpoints are kept as evidence at the witness.
    WitnessAlarm {
        /// The log's origin line.
        origin: LogOrigin,
        /// What the contradiction is.
        kind: WitnessAlarmKind,
        /// The size of the checkpoint this node had cosigned (for a fork found by gossip,
        /// the cosigned checkpoint of the offered size).
        cosigned_size: u64,
        /// Its root hash.
        cosigned_root: [u8; 32],
        /// The size of the contradicting checkpoint: equal for a fork, smaller for a
        /// rollback, larger for an inconsistent one.
        offered_size: u64,
        /// Its root hash.
        offered_root: [u8; 32],
        /// When.
        at: Timestamp,
    },
    /// Tag 17. What this node cosigned as a witness since its previous such entry: for each
    /// log whose latest cosigned checkpoint moved, that checkpoint's size and root (at most
    /// [`MAX_WITNESSED_PER_ENTRY`], one entry per witnessing round, not one per
    /// cosignature). With the federation's bundles alone, a log whose entries give another
    /// root at a size its witness cosigned was rewritten after the fact.
    WitnessedCheckpoints {
        /// The latest cosigned checkpoint of each log that moved, by origin.
        checkpoints: Vec<WitnessedCheckpoint>,
        /// When.
        at: Timestamp,
    },
    /// Tag 18. The node refused to record a consent grant
    /// ([`check_grant`](crate::check_grant)): the refusal itself is logged, like a refused
    /// disclosure. Nothing was recorded; the grant is kept as the application asked for it.
    ConsentRefused {
        /// The grant refused (its `recorded_at` is the time the application stated).
        grant: ConsentGrant,
        /// Why.
        reason: RefusalReason,
        /// When the node refused it (its own time).
        at: Timestamp,
    },
    /// Tag 19. The first entry of a new log epoch (`spec/audit-log.md` §8): this node's
    /// store was restored from a backup older than what its witnesses had cosigned, so the
    /// entries `restored_size..` of `previous_origin` are lost, and the node continues under
    /// the next epoch's origin instead of forking the old log silently. Signed as every
    /// entry is: it is entry 0 of the new log, under the node's signed checkpoints.
    LogRestored {
        /// The origin of the epoch the loss happened in (the log this one continues).
        previous_origin: LogOrigin,
        /// The size of the restored log: the backup's last checkpoint.
        restored_size: u64,
        /// Its root hash.
        restored_root: [u8; 32],
        /// The proof of the loss: a checkpoint of `previous_origin` larger than
        /// `restored_size`, signed by this node (signed-note text, as the peer that kept it
        /// sent it, its cosignatures included; at most [`MAX_PROVEN_NOTE_LEN`] bytes). The
        /// lost range is `restored_size..` that checkpoint's size.
        proven_note: String,
        /// The peer whose kept checkpoint `proven_note` is.
        proven_by: AgencyId,
        /// When the node continued under the new epoch.
        at: Timestamp,
    },
}

/// The largest `proven_note` of a [`AuditEntry::LogRestored`], in bytes: a checkpoint note a
/// peer witness keeps (the witnesses' own bound, 8 KiB), so the entry stays far under
/// [`MAX_ENTRY_LEN`].
pub const MAX_PROVEN_NOTE_LEN: usize = 8 * 1024;

impl AuditEntry {
    /// The canonical encoding: `ENTRY_VERSION ‖ postcard(entry)`.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_versioned(ENTRY_VERSION, self)
    }

    /// Decodes an entry from untrusted bytes; never panics.
    ///
    /// # Errors
    /// [`DecodeError`] when the input is over [`MAX_ENTRY_LEN`], empty, of another version,
    /// malformed, followed by trailing bytes, or not canonical.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let entry: Self =
            codec::decode_versioned("audit entry", ENTRY_VERSION, MAX_ENTRY_LEN, bytes)?;
        if let AuditEntry::LogRestored { proven_note, .. } = &entry
            && proven_note.len() > MAX_PROVEN_NOTE_LEN
        {
            return Err(DecodeError::Malformed {
                what: "audit entry",
                detail: format!(
                    "a log_restored proof note of {} bytes is over the limit of {MAX_PROVEN_NOTE_LEN}",
                    proven_note.len()
                ),
            });
        }
        Ok(entry)
    }

    /// The entry's time.
    pub fn at(&self) -> Timestamp {
        use AuditEntry::*;
        match self {
            ConsentGranted { grant } => grant.recorded_at(),
            ConsentRevoked { revocation } => revocation.revoked_at,
            SubjectRegistered { at, .. }
            | AgeStatusRecorded { at, .. }
            | RepresentativeRegistered { at, .. }
            | RepresentativeRemoved { at, .. }
            | Disclosed { at, .. }
            | Refused { at, .. }
            | Received { at, .. }
            | ReceiveRefused { at, .. }
            | Receipt { at, .. }
            | Violation { at, .. }
            | RosterChanged { at, .. }
            | KeyChanged { at, .. }
            | SubjectRekeyed { at, .. }
            | WitnessAlarmV1 { at, .. }
            | WitnessAlarm { at, .. }
            | WitnessedCheckpoints { at, .. } => *at,
            ConsentRefused { at, .. } | LogRestored { at, .. } => *at,
        }
    }

    /// The stable snake_case name of the entry's kind, e.g. `disclosed`. Both forms of the
    /// witness alarm (tags 15 and 16) are `witness_alarm`.
    pub fn kind_name(&self) -> &'static str {
        use AuditEntry::*;
        match self {
            SubjectRegistered { .. } => "subject_registered",
            AgeStatusRecorded { .. } => "age_status_recorded",
            RepresentativeRegistered { .. } => "representative_registered",
            RepresentativeRemoved { .. } => "representative_removed",
            ConsentGranted { .. } => "consent_granted",
            ConsentRevoked { .. } => "consent_revoked",
            Disclosed { .. } => "disclosed",
            Refused { .. } => "refused",
            Received { .. } => "received",
            ReceiveRefused { .. } => "receive_refused",
            Receipt { .. } => "receipt",
            Violation { .. } => "violation",
            RosterChanged { .. } => "roster_changed",
            KeyChanged { .. } => "key_changed",
            SubjectRekeyed { .. } => "subject_rekeyed",
            WitnessAlarmV1 { .. } | WitnessAlarm { .. } => "witness_alarm",
            WitnessedCheckpoints { .. } => "witnessed_checkpoints",
            ConsentRefused { .. } => "consent_refused",
            LogRestored { .. } => "log_restored",
        }
    }
}
