//! Node ↔ node messages (ALPN `streha/1`). One request and one response per bidirectional
//! stream.
//!
//! A delivery carries the sealed envelope and what the receiver's decision rests on, since
//! the receiver has no access to the sender's registry: the subject's age status and legal
//! representatives as the sender holds them, and — for a consent-based disclosure — the
//! consent grant as it stands in the sender's audit log, with its inclusion proof and the
//! sender's signed checkpoint. The receipt is the receiver's `received` entry with its
//! inclusion proof and the receiver's signed checkpoint: the checkpoint signature (one per
//! batch) is what signs the receipt.

use serde::{Deserialize, Serialize};
use streha_audit::InclusionProof;
use streha_core::{AgeStatus, RefusalReason, RepresentativeId, Timestamp, WitnessAlarmKind};
use streha_crypto::Envelope;

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
    /// Index of the sender's `disclosed` entry for this envelope.
    pub sender_log_index: u64,
    /// The subject as the sender knows it.
    pub subject: SubjectFacts,
    /// The `consent granted` entry the disclosure relies on, proven in the sender's log.
    pub consent: Option<ProvenEntry>,
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
}
