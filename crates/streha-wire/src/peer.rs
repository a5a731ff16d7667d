//! Node ↔ node messages (ALPN `streha/1`). One request and one response per bidirectional
//! stream.
//!
//! A delivery carries the sealed envelope, the sender's `disclosed` entry of it proven in the
//! sender's log under the sender's signed checkpoint, and what the receiver's decision rests
//! on, since the receiver has no access to the sender's registry: the subject's age status
//! and legal representatives as the sender holds them, and — for a consent-based disclosure
//! — the consent grant as it stands in the sender's audit log, with its inclusion proof and
//! the sender's signed checkpoint. The receipt is the receiver's `received` entry with its
//! inclusion proof and the receiver's signed checkpoint: the checkpoint signature (one per
//! batch) is what signs the receipt.
//!
//! Each side keeps the other's evidence in its own log, compactly ([`KeptCheckpoint`],
//! [`envelope_signature`]): the receiver's `received` keeps the sender's envelope signature
//! and checkpoint signature, the sender's `receipt` keeps the receiver's checkpoint
//! signature. So neither side's operator, holding only its own node key, can write a history
//! that the other side's log does not expose (`spec/protocol.md` §6, "Delivery evidence").

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use streha_audit::{
    Checkpoint, Hash, InclusionProof, NoteVerifier, SignedNote, leaf_hash, open_checkpoint,
    verify_inclusion,
};
use streha_core::{
    AgeStatus, DisclosureHeader, EnvelopeSignature, RefusalReason, RepresentativeId,
    SignatureBytes, Timestamp, WitnessAlarmKind,
};
use streha_crypto::{
    AgencyEncryptionPublicKey, AgencySigningPublicKey, ENVELOPE_VERSION, Envelope, EnvelopeHeader,
    Signature,
};

use crate::RemoteError;

/// An entry of a node's audit log with the proof that it is in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenEntry {
    /// The encoded `streha_core::AuditEntry`.
    pub entry: Vec<u8>,
    /// Its index in the log.
    pub index: u64,
    /// Its inclusion proof in the tree of the checkpoint's size.
    pub proof: InclusionProof,
    /// The log's signed checkpoint (signed-note text) the proof leads to.
    pub checkpoint: String,
}

/// What the sender holds about the subject, for the receiver's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectFacts {
    /// Age status (Art. 36: a presumed child is a child).
    pub age_status: AgeStatus,
    /// When an adult age was recorded, if it was.
    pub adult_since: Option<Timestamp>,
    /// The subject's registered legal representatives (Art. 18.3, 38.5), at most
    /// [`MAX_REPRESENTATIVES`](crate::limits::MAX_REPRESENTATIVES).
    #[serde(deserialize_with = "crate::limits::representatives")]
    pub representatives: Vec<RepresentativeId>,
}

/// A disclosure in transit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The sealed envelope, exactly as the application signed it.
    pub envelope: Envelope,
    /// The sender's `disclosed` entry for this envelope, proven in the sender's log under a
    /// checkpoint the sender's node signed. The receiver refuses the delivery unless it
    /// verifies and is the `disclosed` of exactly this envelope (header and ciphertext hash),
    /// and keeps it in its `received` entry.
    pub disclosed: ProvenEntry,
    /// The subject as the sender knows it.
    pub subject: SubjectFacts,
    /// The `consent granted` entry the disclosure relies on, proven in the sender's log.
    pub consent: Option<ProvenEntry>,
}

/// An entry of the sending or receiving node's log with its inclusion proof, in a batch
/// whose one signed checkpoint ([`DeliveryBatch::checkpoint`], [`BatchReceipt::checkpoint`])
/// the proof leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryProof {
    /// The encoded `streha_core::AuditEntry`.
    pub entry: Vec<u8>,
    /// Its index in the log.
    pub index: u64,
    /// Its inclusion proof in the tree of the batch checkpoint's size.
    pub proof: InclusionProof,
}

impl EntryProof {
    /// Checks that the entry is included at its index in `checkpoint`'s tree.
    ///
    /// # Errors
    /// [`EvidenceError::NotIncluded`].
    pub fn verify_under(&self, checkpoint: &Checkpoint) -> Result<(), EvidenceError> {
        included(&self.entry, self.index, &self.proof, checkpoint)
    }

    /// The entry proven under the signed checkpoint `note`, as a single delivery carries it.
    #[must_use]
    pub fn with_checkpoint(self, note: String) -> ProvenEntry {
        ProvenEntry {
            entry: self.entry,
            index: self.index,
            proof: self.proof,
            checkpoint: note,
        }
    }
}

impl ProvenEntry {
    /// Splits off the checkpoint note.
    #[must_use]
    pub fn split(self) -> (EntryProof, String) {
        (
            EntryProof {
                entry: self.entry,
                index: self.index,
                proof: self.proof,
            },
            self.checkpoint,
        )
    }
}

/// One disclosure of a [`DeliveryBatch`]: a [`Delivery`] whose evidence is proven under the
/// batch's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchedDelivery {
    /// The sealed envelope, exactly as the application signed it.
    pub envelope: Envelope,
    /// The sender's `disclosed` entry for this envelope, proven under the batch checkpoint.
    pub disclosed: EntryProof,
    /// The subject as the sender knows it.
    pub subject: SubjectFacts,
    /// The `consent granted` entry the disclosure relies on, proven under the batch
    /// checkpoint.
    pub consent: Option<EntryProof>,
}

/// Envelopes queued for one recipient, delivered together (`spec/protocol.md` §6): the
/// sender's one signed checkpoint, under which every entry the deliveries carry is proven,
/// and at most [`MAX_BATCH_ENVELOPES`](crate::limits::MAX_BATCH_ENVELOPES) deliveries
/// holding at most [`MAX_BATCH_BYTES`](crate::limits::MAX_BATCH_BYTES) of envelopes (or one
/// envelope of any size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryBatch {
    /// The sender's signed checkpoint (signed-note text).
    pub checkpoint: String,
    /// The deliveries, in the sender's queue order.
    #[serde(deserialize_with = "crate::limits::batch_items")]
    pub deliveries: Vec<BatchedDelivery>,
}

/// Why a delivery batch is refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// No delivery at all.
    #[error("the delivery batch is empty")]
    Empty,
    /// More envelopes than a batch may carry.
    #[error(
        "the delivery batch carries {count} envelopes, more than the {max} a batch may carry (MAX_BATCH_ENVELOPES)"
    )]
    TooManyEnvelopes {
        /// How many it carries.
        count: usize,
        /// [`MAX_BATCH_ENVELOPES`](crate::limits::MAX_BATCH_ENVELOPES).
        max: usize,
    },
    /// More bytes of envelopes than a batch of several may carry.
    #[error(
        "the delivery batch carries {bytes} bytes of envelopes in {count} envelopes, more than the {max} bytes a batch of several may carry (MAX_BATCH_BYTES); send large envelopes alone"
    )]
    TooManyBytes {
        /// Bytes of envelopes ([`envelope_bytes`]).
        bytes: usize,
        /// How many envelopes.
        count: usize,
        /// [`MAX_BATCH_BYTES`](crate::limits::MAX_BATCH_BYTES).
        max: usize,
    },
}

/// The bytes an envelope counts for in a batch's budget: its ciphertext and its header's
/// context (the fixed-size fields are left out). A sending node's sealed copy at rest is
/// always larger, so it can budget without opening it.
#[must_use]
pub fn envelope_bytes(envelope: &Envelope) -> usize {
    envelope
        .ciphertext
        .len()
        .saturating_add(envelope.header.context.len())
}

impl DeliveryBatch {
    /// Checks the batch's bounds: at least one delivery, at most
    /// [`MAX_BATCH_ENVELOPES`](crate::limits::MAX_BATCH_ENVELOPES), and, for more than one, at
    /// most [`MAX_BATCH_BYTES`](crate::limits::MAX_BATCH_BYTES) of envelopes.
    ///
    /// # Errors
    /// The [`BatchError`] naming the bound.
    pub fn check_bounds(&self) -> Result<(), BatchError> {
        let count = self.deliveries.len();
        if count == 0 {
            return Err(BatchError::Empty);
        }
        let max = crate::limits::MAX_BATCH_ENVELOPES;
        if count > max {
            return Err(BatchError::TooManyEnvelopes { count, max });
        }
        let bytes = self
            .deliveries
            .iter()
            .map(|d| envelope_bytes(&d.envelope))
            .fold(0_usize, usize::saturating_add);
        let max = crate::limits::MAX_BATCH_BYTES;
        if count > 1 && bytes > max {
            return Err(BatchError::TooManyBytes { bytes, count, max });
        }
        Ok(())
    }
}

/// What became of one delivery of a batch, in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchOutcome {
    /// Received and durably logged (now, or by an earlier delivery of the same envelope):
    /// the receiver's `received` entry, proven under the receipt's checkpoint.
    Received(EntryProof),
    /// The receiver's policy refused it; the refusal is logged at the receiver.
    Refused(RefusalReason),
    /// Not acceptable for another reason (as [`PeerResponse::Error`] for a single delivery).
    Error(RemoteError),
    /// Received and logged by an earlier delivery in an earlier epoch of the receiver's log
    /// (`spec/audit-log.md` §9): the receiver's `received` entry, proven under a checkpoint
    /// of that epoch (the entry's own, not the receipt's), which the sender opens under the
    /// origin it names.
    ReceivedInEarlierEpoch(ProvenEntry),
}

/// The receiver's signed answer to a [`DeliveryBatch`]: one checkpoint of its log, signed
/// once, and per delivery, in order, its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReceipt {
    /// The receiver's signed checkpoint (signed-note text), which every `Received` outcome's
    /// proof leads to.
    pub checkpoint: String,
    /// One outcome per delivery of the batch, in the batch's order.
    #[serde(deserialize_with = "crate::limits::batch_items")]
    pub outcomes: Vec<BatchOutcome>,
}

/// A node's request to another node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PeerRequest {
    /// Deliver one envelope. Idempotent by envelope id: a repeated delivery gets the receipt
    /// of the first.
    Deliver(Box<Delivery>),
    /// Ask the peer to witness (cosign) the sender's latest checkpoint (C2SP tlog-witness
    /// "add-checkpoint").
    Witness(Box<WitnessRequest>),
    /// Checkpoints of other logs this node has cosigned (its latest per log), so witnesses
    /// can compare what each was shown. At most
    /// [`MAX_GOSSIP_NOTES`](crate::limits::MAX_GOSSIP_NOTES).
    Gossip(#[serde(deserialize_with = "crate::limits::gossip_notes")] Vec<String>),
    /// The version of the roster the sending node runs (`spec/protocol.md` §8,
    /// "Distribution"), sent on every new connection, after every adoption and at an
    /// interval. The peer answers [`PeerResponse::Roster`] with its own, and its signed
    /// roster if that is newer; if the sender's is newer, the peer asks for it the same way.
    RosterVersion(RosterOffer),
    /// Deliver the envelopes queued for one recipient, under one checkpoint of the sender's
    /// log (`spec/protocol.md` §6). Answered [`PeerResponse::BatchReceipt`], or, refused
    /// whole, [`PeerResponse::Error`]. Each delivery is idempotent by envelope id as
    /// [`PeerRequest::Deliver`] is.
    DeliverBatch(Box<DeliveryBatch>),
    /// The latest checkpoint of the *sender's own* log that this node cosigned, as the
    /// sender signed it (`spec/protocol.md` §13, recovery after a restore). The peer answers
    /// [`PeerResponse::CosignedCheckpoint`].
    CosignedCheckpoint,
    /// Variant 6. Ask the peer to witness the first checkpoint of a new epoch of the
    /// sender's log, with the epoch's declaration (`spec/protocol.md` §9, "A new epoch";
    /// judged by `streha_witness::rules::judge_new_epoch`). Answered as
    /// [`PeerRequest::Witness`] is.
    WitnessNewEpoch(Box<NewEpochRequest>),
    /// Variant 7. The largest checkpoint of the *sender's own* log `origin` (one of its
    /// epochs) that this node keeps as delivery evidence — a `received` entry's sender
    /// checkpoint, a `receipt` entry's receiver checkpoint — as the sender signed it
    /// (`spec/protocol.md` §13, recovery after a restore: a declaration of a loss must not
    /// hide evidence a peer kept, even of a checkpoint no witness cosigned). The peer answers
    /// [`PeerResponse::KeptCheckpoint`].
    KeptCheckpoint {
        /// The epoch of the sender's log asked about (its origin), at most
        /// `streha_core::MAX_ORIGIN_LEN` bytes.
        #[serde(deserialize_with = "crate::limits::log_origin")]
        origin: String,
    },
}

/// The first checkpoint of a new log epoch with its declaration: entry 0 of the new log
/// (a `log_restored` entry) and its inclusion proof under the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEpochRequest {
    /// The new epoch's signed checkpoint (signed-note text), at most
    /// [`MAX_NEW_EPOCH_NOTE_LEN`](crate::limits::MAX_NEW_EPOCH_NOTE_LEN) bytes.
    #[serde(deserialize_with = "crate::limits::new_epoch_note")]
    pub checkpoint: String,
    /// Entry 0 of the new epoch, encoded, at most
    /// [`MAX_ENTRY_LEN`](streha_core::MAX_ENTRY_LEN) bytes.
    #[serde(deserialize_with = "crate::limits::declaration_bytes")]
    pub declaration: Vec<u8>,
    /// Its inclusion proof at index 0 under the checkpoint.
    pub proof: InclusionProof,
}

/// A node's roster version and the hash of its signed roster (BLAKE3 of the note text, the
/// `roster_hash` of its `roster_changed` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterOffer {
    /// The version of the roster in force at the sender.
    pub version: u64,
    /// BLAKE3 of its signed note.
    pub hash: [u8; 32],
}

/// The answer to [`PeerRequest::RosterVersion`]: the answering node's roster version and
/// hash, and its signed roster when that is newer than the one offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterAnswer {
    /// The version of the roster in force at the answering node.
    pub version: u64,
    /// BLAKE3 of its signed note.
    pub hash: [u8; 32],
    /// Its signed roster (note text), only if `version` is above the offered one. At most
    /// [`MAX_ROSTER_LEN`](crate::roster::MAX_ROSTER_LEN) bytes, refused while decoding
    /// beyond that. The asking node trusts nothing of it but the roster key's signature.
    #[serde(deserialize_with = "crate::limits::roster_note")]
    pub note: Option<String>,
}

/// A witnessing request: the log's new checkpoint and a consistency proof from the size the
/// owner believes the witness last cosigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRequest {
    /// The size the owner believes the witness last cosigned (0 if never).
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size (empty from 0).
    pub proof: streha_audit::ConsistencyProof,
    /// The signed checkpoint (signed-note text) to cosign.
    pub checkpoint: String,
}

/// The receiver's signed acknowledgement of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The receiver's `received` entry for the envelope, proven in the receiver's log.
    pub received: ProvenEntry,
}

/// A node's answer to a [`PeerRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PeerResponse {
    /// Delivered and durably logged.
    Receipt(Box<Receipt>),
    /// The receiver's own policy decision refused the disclosure; nothing was stored. The
    /// refusal is logged at the receiver.
    Refused(RefusalReason),
    /// The delivery was not acceptable for another reason (bad signature, unknown sender,
    /// malformed evidence, node unavailable).
    Error(RemoteError),
    /// The witness cosigned: one C2SP cosignature/v1 signature line, by the witness's node
    /// key under the name of the witness's own log origin.
    Cosigned(String),
    /// The witness's view of the log is at another size than `old_size` said: retry with a
    /// consistency proof from this size (C2SP tlog-witness 409).
    WitnessConflict {
        /// The size the witness last cosigned.
        size: u64,
    },
    /// Gossip received.
    GossipReceived,
    /// The witness refuses to cosign: the checkpoint contradicts one it cosigned (a fork, a
    /// rollback or an inconsistent tree), or it already holds evidence that this log did.
    /// It kept both signed checkpoints as evidence, logged a `witness_alarm` entry and
    /// cosigns nothing more of the log.
    WitnessRefused {
        /// What the witness found (when it already held evidence: the first it kept).
        kind: WitnessAlarmKind,
        /// The size of the latest checkpoint of the log the witness cosigned.
        cosigned_size: u64,
    },
    /// The answer to [`PeerRequest::RosterVersion`].
    Roster(Box<RosterAnswer>),
    /// The answer to [`PeerRequest::DeliverBatch`]: one signed receipt for the batch.
    BatchReceipt(Box<BatchReceipt>),
    /// The answer to [`PeerRequest::CosignedCheckpoint`]: the latest checkpoint of the
    /// asking node's log that this node cosigned (signed note text, as the asking node
    /// signed it), or `None` if it has cosigned none.
    CosignedCheckpoint(Option<String>),
    /// Variant 10. The answer to [`PeerRequest::KeptCheckpoint`]: the largest checkpoint of
    /// the asked log that this node keeps as delivery evidence (signed note text, rebuilt
    /// from the kept size, root and signature), or `None` if it keeps none.
    KeptCheckpoint(Option<String>),
}

/// Why delivery evidence does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The checkpoint note is malformed, or carries no valid signature by the log's node.
    #[error("the checkpoint is not signed by the node of log `{origin}`: {reason}")]
    Checkpoint {
        /// The log origin (the node's key name) it was checked against.
        origin: String,
        /// What failed.
        reason: String,
    },
    /// The checkpoint is of another log than expected.
    #[error("the checkpoint is for log `{found}`, not `{expected}`")]
    OtherLog {
        /// The expected origin.
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
    /// The checkpoint has extension lines. A Streha node's checkpoints have none, and the
    /// compact form an entry keeps could not rebuild them.
    #[error("the checkpoint has extension lines, which a Streha node's checkpoints never have")]
    Extensions,
    /// The entry is not included in the checkpoint's tree at the stated index.
    #[error("the entry is not proven at index {index} of the tree of size {size}: {reason}")]
    NotIncluded {
        /// The stated index.
        index: u64,
        /// The checkpoint's size.
        size: u64,
        /// What failed.
        reason: String,
    },
    /// A key kept with an envelope signature is not a valid public key of its kind.
    #[error("the kept {0} is not a valid public key")]
    InvalidKey(&'static str),
    /// The envelope signature does not verify under the key it names.
    #[error("the envelope signature does not verify: {0}")]
    EnvelopeSignature(String),
}

/// A log's signed checkpoint in the compact form another log's entry keeps it: the tree's
/// size and root and the Ed25519 signature of the log's node (its signed-note signature
/// under the log origin, C2SP signed-note, type `0x01`). The note is rebuilt from these and
/// the node's key name and key (the roster's): `origin\nsize\nbase64(root)\n`, no extension
/// lines, one signature line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeptCheckpoint {
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub root: [u8; 32],
    /// The node's signature of the checkpoint note.
    pub signature: SignatureBytes,
}

impl KeptCheckpoint {
    /// Opens a signed checkpoint note of the log whose node `verifier` checks (its name is the
    /// log origin), and keeps it compactly.
    ///
    /// # Errors
    /// [`EvidenceError::Checkpoint`], [`EvidenceError::OtherLog`] or
    /// [`EvidenceError::Extensions`].
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<(Checkpoint, Self), EvidenceError> {
        let (checkpoint, _) = open_checkpoint(note, std::slice::from_ref(verifier))
            .map_err(|e| checkpoint_error(verifier, &e))?;
        let kept = Self::from_verified(note, &checkpoint, verifier)?;
        Ok((checkpoint, kept))
    }

    /// Keeps a checkpoint whose note the caller has already opened with `verifier` (for
    /// instance through a cache of verified notes): takes the node's signature line from the
    /// note. The note must be the one that verified; nothing is verified again.
    ///
    /// # Errors
    /// [`EvidenceError::Checkpoint`] if the note has no signature line by `verifier`'s key,
    /// [`EvidenceError::OtherLog`] or [`EvidenceError::Extensions`].
    pub fn from_verified(
        note: &str,
        checkpoint: &Checkpoint,
        verifier: &NoteVerifier,
    ) -> Result<Self, EvidenceError> {
        if checkpoint.origin() != verifier.name().as_str() {
            return Err(EvidenceError::OtherLog {
                expected: verifier.name().as_str().to_owned(),
                found: checkpoint.origin().to_owned(),
            });
        }
        if !checkpoint.extensions().is_empty() {
            return Err(EvidenceError::Extensions);
        }
        let parsed = SignedNote::parse(note).map_err(|e| checkpoint_error(verifier, &e))?;
        let signature = parsed
            .signatures()
            .iter()
            .filter(|sig| sig.name() == verifier.name() && sig.key_id() == verifier.key_id())
            .find_map(|sig| <[u8; 64]>::try_from(sig.signature_bytes()).ok())
            .ok_or_else(|| EvidenceError::Checkpoint {
                origin: verifier.name().as_str().to_owned(),
                reason: "no Ed25519 signature line by the node's key".into(),
            })?;
        Ok(Self {
            size: checkpoint.size(),
            root: checkpoint.root().to_bytes(),
            signature: SignatureBytes::from_bytes(signature),
        })
    }

    /// The signed note rebuilt for the log whose node `verifier` checks.
    ///
    /// # Errors
    /// [`EvidenceError::Checkpoint`] if `verifier`'s name is not a valid log origin.
    pub fn to_note(&self, verifier: &NoteVerifier) -> Result<String, EvidenceError> {
        let origin = verifier.name().as_str();
        let body = Checkpoint::new(origin, self.size, Hash::from_bytes(self.root))
            .map_err(|e| checkpoint_error(verifier, &e))?
            .to_body();
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&verifier.key_id().to_bytes());
        raw.extend_from_slice(self.signature.as_bytes());
        Ok(format!(
            "{body}\n\u{2014} {origin} {}\n",
            BASE64.encode(raw)
        ))
    }

    /// Verifies the kept signature: the node of the log `verifier` checks signed a checkpoint
    /// of this size and root.
    ///
    /// # Errors
    /// [`EvidenceError::Checkpoint`] if it does not verify.
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<Checkpoint, EvidenceError> {
        let note = self.to_note(verifier)?;
        open_checkpoint(&note, std::slice::from_ref(verifier))
            .map(|(checkpoint, _)| checkpoint)
            .map_err(|e| checkpoint_error(verifier, &e))
    }
}

fn checkpoint_error(verifier: &NoteVerifier, error: &dyn std::fmt::Display) -> EvidenceError {
    EvidenceError::Checkpoint {
        origin: verifier.name().as_str().to_owned(),
        reason: error.to_string(),
    }
}

impl ProvenEntry {
    /// Verifies the evidence against the node of the log `verifier` checks: the checkpoint
    /// is that log's and signed by its node, and the entry is included at `index` in its
    /// tree (RFC 9162 §2.1.3.2). Returns the checkpoint and its compact form.
    ///
    /// Success says the log holds these entry bytes at `index`; what the entry says is the
    /// caller's to check.
    ///
    /// # Errors
    /// As [`KeptCheckpoint::open`], or [`EvidenceError::NotIncluded`].
    pub fn verify(
        &self,
        verifier: &NoteVerifier,
    ) -> Result<(Checkpoint, KeptCheckpoint), EvidenceError> {
        let (checkpoint, kept) = KeptCheckpoint::open(&self.checkpoint, verifier)?;
        self.verify_under(&checkpoint)?;
        Ok((checkpoint, kept))
    }

    /// Checks only the inclusion of the entry in `checkpoint`'s tree, for a checkpoint the
    /// caller has already opened from [`ProvenEntry::checkpoint`].
    ///
    /// # Errors
    /// [`EvidenceError::NotIncluded`].
    pub fn verify_under(&self, checkpoint: &Checkpoint) -> Result<(), EvidenceError> {
        included(&self.entry, self.index, &self.proof, checkpoint)
    }
}

fn included(
    entry: &[u8],
    index: u64,
    proof: &InclusionProof,
    checkpoint: &Checkpoint,
) -> Result<(), EvidenceError> {
    verify_inclusion(
        &leaf_hash(entry),
        index,
        checkpoint.size(),
        proof,
        checkpoint.root(),
    )
    .map_err(|e| EvidenceError::NotIncluded {
        index,
        size: checkpoint.size(),
        reason: e.to_string(),
    })
}

/// The sender's envelope signature as a `received` entry keeps it.
#[must_use]
pub fn envelope_signature(envelope: &Envelope) -> EnvelopeSignature {
    EnvelopeSignature {
        sender_key: envelope.header.sender.to_bytes(),
        recipient_key: *envelope.header.recipient.as_bytes(),
        ephemeral: envelope.header.ephemeral,
        signature: SignatureBytes::from_bytes(envelope.signature.to_bytes()),
    }
}

/// Verifies a kept envelope signature: the holder of `kept.sender_key` signed the envelope
/// header rebuilt from `kept` and `header` (its encoding is the envelope's context), with
/// `ciphertext_hash` (`spec/envelope.md` §4.2). Returns the signing key, which the caller
/// compares with the sender's key in the roster.
///
/// # Errors
/// [`EvidenceError::InvalidKey`] or [`EvidenceError::EnvelopeSignature`].
pub fn verify_envelope_signature(
    header: &DisclosureHeader,
    ciphertext_hash: &[u8; 32],
    kept: &EnvelopeSignature,
) -> Result<AgencySigningPublicKey, EvidenceError> {
    let (sender, rebuilt) = rebuild_envelope_header(header, kept)?;
    rebuilt
        .verify_detached(
            ciphertext_hash,
            &Signature::from_bytes(kept.signature.to_bytes()),
        )
        .map_err(|e| EvidenceError::EnvelopeSignature(e.to_string()))?;
    Ok(sender)
}

/// What [`verify_envelope_signature`] checks, without checking it, for an auditor verifying
/// many as one batch ([`streha_crypto::verify_batch`]): the bytes the kept signature must
/// cover and the signature, if the signature names `sender` as its key (the key the roster
/// gives the sender). `None` if it names another key or the kept evidence is malformed:
/// [`verify_envelope_signature`] says why, as it does for a batch that fails.
#[must_use]
pub fn envelope_signature_input(
    header: &DisclosureHeader,
    ciphertext_hash: &[u8; 32],
    kept: &EnvelopeSignature,
    sender: &AgencySigningPublicKey,
) -> Option<(Vec<u8>, Signature)> {
    if kept.sender_key != *sender.as_bytes() {
        return None;
    }
    let recipient = AgencyEncryptionPublicKey::from_bytes(kept.recipient_key).ok()?;
    let rebuilt = EnvelopeHeader {
        version: ENVELOPE_VERSION,
        sender: *sender,
        recipient,
        ephemeral: kept.ephemeral,
        context: header.encode(),
    };
    let message = rebuilt.signed_message(ciphertext_hash).ok()?;
    Some((message, Signature::from_bytes(kept.signature.to_bytes())))
}

/// The envelope header the sender signed, rebuilt from the logged header and the kept keys.
fn rebuild_envelope_header(
    header: &DisclosureHeader,
    kept: &EnvelopeSignature,
) -> Result<(AgencySigningPublicKey, EnvelopeHeader), EvidenceError> {
    let sender = AgencySigningPublicKey::from_bytes(kept.sender_key)
        .map_err(|_| EvidenceError::InvalidKey("sender signing key"))?;
    let recipient = AgencyEncryptionPublicKey::from_bytes(kept.recipient_key)
        .map_err(|_| EvidenceError::InvalidKey("recipient encryption key"))?;
    Ok((
        sender,
        EnvelopeHeader {
            version: ENVELOPE_VERSION,
            sender,
            recipient,
            ephemeral: kept.ephemeral,
            context: header.encode(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use streha_audit::{
        CosignatureSigner, MemoryTree, NoteSigner, inclusion_proof, sign_checkpoint,
    };
    use streha_core::{Approvals, Category, CategorySet, EnvelopeId, Purpose, SubjectId};
    use streha_crypto::{AgencyEncryptionSecretKey, AgencySigningSecretKey, NodeIdentitySecretKey};

    use super::*;

    const ORIGIN: &str = "streha/test/police";

    fn node() -> NodeIdentitySecretKey {
        NodeIdentitySecretKey::from_seed_bytes([1; 32])
    }

    fn verifier(key: &NodeIdentitySecretKey) -> NoteVerifier {
        NoteVerifier::new(ORIGIN, *key.public_key().as_dalek()).unwrap()
    }

    /// A checkpoint of a two-entry log, signed by `node()` and cosigned by a witness.
    fn note(checkpoint: &Checkpoint) -> String {
        let mut note = sign_checkpoint(
            checkpoint,
            &NoteSigner::new(ORIGIN, node().as_dalek().clone()).unwrap(),
        );
        let witness = NodeIdentitySecretKey::from_seed_bytes([2; 32]);
        let cosigner =
            CosignatureSigner::new("streha/test/csw", witness.as_dalek().clone()).unwrap();
        note.add_signature(cosigner.cosign(note.body(), 1_700_000_000).unwrap())
            .unwrap();
        note.to_text()
    }

    fn tree() -> MemoryTree {
        MemoryTree::from_entries([b"first".as_slice(), b"second".as_slice()])
    }

    #[test]
    fn a_kept_checkpoint_rebuilds_and_verifies_and_nothing_else_does() {
        let checkpoint = Checkpoint::new(ORIGIN, 2, tree().root()).unwrap();
        let (opened, kept) = KeptCheckpoint::open(&note(&checkpoint), &verifier(&node())).unwrap();
        assert_eq!(opened, checkpoint);
        assert_eq!((kept.size, kept.root), (2, tree().root().to_bytes()));
        assert_eq!(kept.verify(&verifier(&node())).unwrap(), checkpoint);
        // Another size, another root, another signature or another node: no.
        let other_key = NodeIdentitySecretKey::from_seed_bytes([3; 32]);
        for (changed, key) in [
            (KeptCheckpoint { size: 3, ..kept }, node()),
            (
                KeptCheckpoint {
                    root: [9; 32],
                    ..kept
                },
                node(),
            ),
            (
                KeptCheckpoint {
                    signature: SignatureBytes::from_bytes([7; 64]),
                    ..kept
                },
                node(),
            ),
            (kept, other_key),
        ] {
            assert!(matches!(
                changed.verify(&verifier(&key)),
                Err(EvidenceError::Checkpoint { .. })
            ));
        }
    }

    #[test]
    fn a_checkpoint_with_extension_lines_or_of_another_log_is_not_kept() {
        let checkpoint = Checkpoint::new(ORIGIN, 2, tree().root())
            .unwrap()
            .with_extension("extra")
            .unwrap();
        assert_eq!(
            KeptCheckpoint::open(&note(&checkpoint), &verifier(&node())).unwrap_err(),
            EvidenceError::Extensions
        );
        let other = Checkpoint::new("streha/test/other", 2, tree().root()).unwrap();
        let text = sign_checkpoint(
            &other,
            &NoteSigner::new(ORIGIN, node().as_dalek().clone()).unwrap(),
        )
        .to_text();
        assert!(matches!(
            KeptCheckpoint::open(&text, &verifier(&node())),
            Err(EvidenceError::OtherLog { .. })
        ));
    }

    #[test]
    fn a_proven_entry_verifies_only_at_its_index() {
        let checkpoint = Checkpoint::new(ORIGIN, 2, tree().root()).unwrap();
        let mut proven = ProvenEntry {
            entry: b"second".to_vec(),
            index: 1,
            proof: inclusion_proof(1, 2, &tree()).unwrap(),
            checkpoint: note(&checkpoint),
        };
        proven.verify(&verifier(&node())).unwrap();
        proven.index = 0;
        assert!(matches!(
            proven.verify(&verifier(&node())),
            Err(EvidenceError::NotIncluded { .. })
        ));
        proven.index = 1;
        proven.entry = b"other".to_vec();
        assert!(matches!(
            proven.verify(&verifier(&node())),
            Err(EvidenceError::NotIncluded { .. })
        ));
    }

    #[test]
    fn a_kept_envelope_signature_verifies_offline_under_its_sender_key_only() {
        let sender = AgencySigningSecretKey::from_seed_bytes([4; 32]);
        let recipient = AgencyEncryptionSecretKey::from_seed_bytes([5; 32]);
        let header = DisclosureHeader {
            envelope_id: EnvelopeId::from_bytes([6; 16]),
            sender: streha_core::AgencyId::new("police").unwrap(),
            recipient: streha_core::AgencyId::new("csw").unwrap(),
            subject: SubjectId::from_bytes([7; 16]),
            categories: [Category::Identity].into_iter().collect::<CategorySet>(),
            purpose: Purpose::IdentificationAndReferral,
            consent: None,
            created_at: Timestamp(1_750_000_000_000),
            approvals: Approvals::new(),
        };
        let envelope = streha_crypto::seal(
            &sender,
            &recipient.public_key(),
            &header.encode(),
            b"record",
        )
        .unwrap();
        let kept = envelope_signature(&envelope);
        assert_eq!(
            verify_envelope_signature(&header, &envelope.ciphertext_hash, &kept).unwrap(),
            sender.public_key()
        );
        let mut other = header.clone();
        other.categories = [Category::Medical].into_iter().collect();
        assert!(matches!(
            verify_envelope_signature(&other, &envelope.ciphertext_hash, &kept),
            Err(EvidenceError::EnvelopeSignature(_))
        ));
        let forged = EnvelopeSignature {
            sender_key: AgencySigningSecretKey::from_seed_bytes([8; 32])
                .public_key()
                .to_bytes(),
            ..kept.clone()
        };
        assert!(matches!(
            verify_envelope_signature(&header, &envelope.ciphertext_hash, &forged),
            Err(EvidenceError::EnvelopeSignature(_))
        ));
    }
}
