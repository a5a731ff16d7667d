//! The node's state in the store: namespaces and what each holds. Values are postcard
//! unless a namespace says otherwise; the tags are a storage format and must never be
//! reused (a retired tag stays named here).
//!
//! Sled keeps every key in memory for the life of the process, so an envelope leaves one
//! kept key at the sender ([`SENT`]) and two at the receiver ([`INBOX`], [`INBOX_ORDER`]; a
//! [`RECEIVED`] key instead once a re-keying shredded it): `spec/audit-log.md` §7.2.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use streha_core::{
    AgencyId, ConsentGrant, ConsentId, Subject, SubjectId, Timestamp, WitnessAlarmKind,
};
use streha_store::{Namespace, Store, StoreError, Transaction};
use streha_wire::peer::SubjectFacts;

/// Subject id → [`Subject`].
pub(crate) const SUBJECTS: Namespace = Namespace::new(1);
/// Consent id → [`StoredConsent`].
pub(crate) const CONSENTS: Namespace = Namespace::new(2);
/// Subject id ‖ consent id → empty: the consents of a subject.
pub(crate) const SUBJECT_CONSENTS: Namespace = Namespace::new(3);
/// Consent id → [`LogPosition`] of its `consent granted` entry.
pub(crate) const CONSENT_INDEX: Namespace = Namespace::new(4);
/// Envelope id → [`Outbound`]: disclosed, not yet acknowledged by the receiver. Kept out of
/// sled (`Transaction::put_body`: a body segment when over 4 KiB).
pub(crate) const OUTBOUND: Namespace = Namespace::new(5);
/// Envelope id → [`SentRecord`]: the one record a sending node keeps of a disclosure for
/// good — the position of its `disclosed` entry (submit idempotency, the evidence its
/// delivery carries) and, once the receipt is logged, the receiver's index and the position
/// of the `receipt` entry (delivery status). Written at submission, rewritten in the
/// transaction that logs the receipt. Replaces [`DISCLOSED`], [`DELIVERED`] and
/// [`RECEIPT_INDEX`] (`migrate`).
pub(crate) const SENT: Namespace = Namespace::new(23);
/// Retired (read only by `migrate`; the tag is never reused): envelope id → [`LogPosition`]
/// of its `disclosed` entry. Now in [`SENT`].
pub(crate) const DISCLOSED: Namespace = Namespace::new(6);
/// Retired (read only by `migrate`; the tag is never reused): envelope id →
/// [`Delivered`]. Now in [`SENT`].
pub(crate) const DELIVERED: Namespace = Namespace::new(7);
/// Retired (read only by `migrate`; the tag is never reused): envelope id →
/// [`LogPosition`] of its `receipt` entry. Now in [`SENT`].
pub(crate) const RECEIPT_INDEX: Namespace = Namespace::new(14);
/// Witness side — log origin → [`WitnessView`]: the latest checkpoint of another node's log
/// this node cosigned.
pub(crate) const WITNESSED: Namespace = Namespace::new(15);
/// Witness side — log origin ‖ 0x00 ‖ size (8 BE) → [`WitnessView`]: every checkpoint this
/// node cosigned, to compare what others were shown.
pub(crate) const WITNESSED_ROOTS: Namespace = Namespace::new(16);
/// Witness side — log origin ‖ 0x00 ‖ time (8 BE) → [`Evidence`]: two signed checkpoints of
/// one log that cannot both be true.
pub(crate) const EVIDENCE: Namespace = Namespace::new(17);
/// Owner side — witness agency id → size (8 BE) it last cosigned.
pub(crate) const COSIGNED_BY: Namespace = Namespace::new(18);
/// Owner side — size (8 BE) ‖ witness agency id → cosignature line.
pub(crate) const COSIGNATURES: Namespace = Namespace::new(19);
/// Envelope id → [`OutboundIndex`]: what the delivery scheduler needs of a queued
/// envelope, without loading the envelope itself.
pub(crate) const OUTBOUND_INDEX: Namespace = Namespace::new(21);
/// New id → [`Subject`]: the successor of a re-keyed subject, registered in the log only
/// when the id is first used, so that the log does not place the two ids side by side.
pub(crate) const PENDING_SUBJECTS: Namespace = Namespace::new(20);
/// Envelope id ‖ 16 bytes of BLAKE3 over the ciphertext hash and the refusal reason → log
/// index of the `receive refused` entry: a refusal logged once, so that a repeat of the
/// same delivery is answered the same without a new entry (`receive::refusal_key`).
pub(crate) const RECEIVE_REFUSED: Namespace = Namespace::new(22);
/// Envelope id → [`Held`]: delivery stopped for a reason a person must look at.
pub(crate) const HELD: Namespace = Namespace::new(8);
/// Envelope id → [`InboxRecord`]: received envelopes. Kept out of sled
/// (`Transaction::put_body`: a body segment when over 4 KiB).
pub(crate) const INBOX: Namespace = Namespace::new(9);
/// received-at (8 bytes BE) ‖ envelope id → [`LogPosition`] of its `received` entry: the
/// inbox in arrival order, and where an envelope in the inbox was logged (delivery
/// idempotency, the inbox's headers). Written empty before `migrate` moved the position
/// here from [`RECEIVED`]; an empty value is read from there ([`received_position`]).
pub(crate) const INBOX_ORDER: Namespace = Namespace::new(10);
/// Envelope id → [`LogPosition`] of its `received` entry, for an envelope received but no
/// longer in the inbox: its content shredded by a re-keying (Art. 18.5), its receipt still
/// the answer to a repeated delivery. (Before `migrate`, kept for every received envelope.)
pub(crate) const RECEIVED: Namespace = Namespace::new(11);
/// Envelope id → empty: a violation was logged for it.
pub(crate) const VIOLATIONS: Namespace = Namespace::new(12);
/// Node metadata: `roster-version` → u64 BE of the roster in use; `roster-note/` ‖ u64 BE
/// version → the signed roster note of each version adopted (exported in log bundles);
/// `data-keys-v1` → empty once every data key of the vault has its [`DATA_KEYS`] record.
pub(crate) const NODE_META: Namespace = Namespace::new(13);
/// Subject id → `at_rest::DataKeyRecord`: the vault key the store relies on for that
/// subject's kept envelopes (its check value), or that it was shredded by a logged
/// re-keying. (Tag 40, clear of the low tags other namespaces take.)
pub(crate) const DATA_KEYS: Namespace = Namespace::new(40);

/// The `NODE_META` key prefix of the adopted roster notes.
pub(crate) const ROSTER_NOTE_PREFIX: &[u8] = b"roster-note/";

/// The `NODE_META` key of the adopted roster note of `version`.
pub(crate) fn roster_note_key(version: u64) -> Vec<u8> {
    let mut key = ROSTER_NOTE_PREFIX.to_vec();
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// A consent as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredConsent {
    pub(crate) grant: ConsentGrant,
    pub(crate) revoked_at: Option<Timestamp>,
}

/// A disclosure waiting for its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Outbound {
    pub(crate) recipient: AgencyId,
    /// The subject the envelope is about, whose data key seals it.
    pub(crate) about: SubjectId,
    /// The envelope, sealed at rest under its subject's key (see `at_rest`).
    #[serde(with = "streha_crypto::serde_bytes")]
    pub(crate) sealed_envelope: Vec<u8>,
    /// The envelope's commitment to its ciphertext, to match the receipt without opening.
    pub(crate) ciphertext_hash: [u8; 32],
    /// The subject as known when the disclosure was decided.
    pub(crate) subject: SubjectFacts,
    pub(crate) consent: Option<ConsentId>,
    pub(crate) disclosed_at: Timestamp,
}

/// The small part of an [`Outbound`] item the scheduler scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutboundIndex {
    pub(crate) recipient: AgencyId,
    pub(crate) disclosed_at: Timestamp,
}

/// A delivered disclosure, as the retired [`DELIVERED`] held it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Delivered {
    pub(crate) receiver_index: u64,
}

/// What a sending node keeps of a disclosure it accepted ([`SENT`]).
///
/// Stored as bytes, not postcard, because the store writes the log index of an entry only
/// as the first 8 bytes of a value, when the transaction that appends it commits
/// (`Transaction::put_first_index_with`):
///
/// - accepted: `disclosed index (8) ‖ 0x00 ‖ disclosed epoch (8)` — 17 bytes;
/// - delivered: `receipt index (8) ‖ 0x01 ‖ receipt epoch (8) ‖ disclosed index (8) ‖
///   disclosed epoch (8) ‖ receiver index (8)` — 41 bytes.
///
/// Every integer big-endian; every epoch at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SentRecord {
    /// The disclosure's `disclosed` entry.
    pub(crate) disclosed: LogPosition,
    /// Set once the receipt is logged.
    pub(crate) delivered: Option<SentDelivery>,
}

/// The delivery facts of a [`SentRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SentDelivery {
    /// The `receipt` entry in this node's log.
    pub(crate) receipt: LogPosition,
    /// The index of the `received` entry in the receiver's log.
    pub(crate) receiver_index: u64,
}

const SENT_ACCEPTED: u8 = 0;
const SENT_DELIVERED: u8 = 1;

impl SentRecord {
    /// The stored form (see the type's documentation).
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self.delivered {
            None => {
                let mut value = self.disclosed.index.to_be_bytes().to_vec();
                value.extend_from_slice(&Self::accepted_suffix(self.disclosed.epoch));
                value
            }
            Some(delivered) => {
                let mut value = delivered.receipt.index.to_be_bytes().to_vec();
                value.extend_from_slice(&Self::delivered_suffix(
                    delivered.receipt.epoch,
                    self.disclosed,
                    delivered.receiver_index,
                ));
                value
            }
        }
    }

    /// Decodes a stored record; `None` for anything not exactly one of the two forms.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        let position = |index: u64, epoch: u64| {
            (streha_core::epoch::FIRST_EPOCH..=streha_core::epoch::MAX_EPOCH)
                .contains(&epoch)
                .then_some(LogPosition { epoch, index })
        };
        match (bytes.get(8), bytes.len()) {
            (Some(&SENT_ACCEPTED), 17) => Some(Self {
                disclosed: position(u64_at(0)?, u64_at(9)?)?,
                delivered: None,
            }),
            (Some(&SENT_DELIVERED), 41) => Some(Self {
                disclosed: position(u64_at(17)?, u64_at(25)?)?,
                delivered: Some(SentDelivery {
                    receipt: position(u64_at(0)?, u64_at(9)?)?,
                    receiver_index: u64_at(33)?,
                }),
            }),
            _ => None,
        }
    }

    fn accepted_suffix(epoch: u64) -> Vec<u8> {
        let mut suffix = vec![SENT_ACCEPTED];
        suffix.extend_from_slice(&epoch.to_be_bytes());
        suffix
    }

    fn delivered_suffix(epoch: u64, disclosed: LogPosition, receiver_index: u64) -> Vec<u8> {
        let mut suffix = vec![SENT_DELIVERED];
        suffix.extend_from_slice(&epoch.to_be_bytes());
        suffix.extend_from_slice(&disclosed.index.to_be_bytes());
        suffix.extend_from_slice(&disclosed.epoch.to_be_bytes());
        suffix.extend_from_slice(&receiver_index.to_be_bytes());
        suffix
    }
}

/// Records in `tx` that `id` was accepted: its [`SentRecord`] points at `tx`'s first
/// appended entry (its `disclosed` entry) in `epoch`, the epoch of the store the
/// transaction is committed to.
pub(crate) fn put_sent_accepted(tx: &mut Transaction, id: Vec<u8>, epoch: u64) {
    tx.put_first_index_with(SENT, id, SentRecord::accepted_suffix(epoch));
}

/// Records in `tx` that `id`, disclosed at `disclosed`, was delivered: `tx`'s first
/// appended entry (its `receipt` entry, in `epoch`) proves the receiver logged it at
/// `receiver_index`.
pub(crate) fn put_sent_delivered(
    tx: &mut Transaction,
    id: Vec<u8>,
    disclosed: LogPosition,
    receiver_index: u64,
    epoch: u64,
) {
    tx.put_first_index_with(
        SENT,
        id,
        SentRecord::delivered_suffix(epoch, disclosed, receiver_index),
    );
}

/// Reads the [`SentRecord`] of an envelope.
pub(crate) fn load_sent(store: &Store, id: &[u8]) -> Result<Option<SentRecord>, StoreError> {
    match store.get(SENT, id)? {
        None => Ok(None),
        Some(bytes) => SentRecord::decode(&bytes)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt {
                path: store.path().to_path_buf(),
                detail: format!(
                    "state namespace {} holds a value that is not a sent record",
                    SENT.tag()
                ),
            }),
    }
}

/// Where the `received` entry of an envelope this node received is, or `None` if it was
/// never received: read from its [`INBOX_ORDER`] key while it is in the inbox, from
/// [`RECEIVED`] once it is not (or if the store was written before `migrate`).
pub(crate) fn received_position(
    store: &Store,
    id: &[u8],
) -> Result<Option<LogPosition>, StoreError> {
    if let Some(record) = load::<InboxRecord>(store, INBOX, id)? {
        let mut order = record.received_at.unix_millis().to_be_bytes().to_vec();
        order.extend_from_slice(id);
        if let Some(position) = order_position(store, &order)? {
            return Ok(Some(position));
        }
    }
    load_position(store, RECEIVED, id)
}

/// The position an [`INBOX_ORDER`] key holds, `None` if it holds none (written before
/// `migrate`, or absent).
pub(crate) fn order_position(
    store: &Store,
    order: &[u8],
) -> Result<Option<LogPosition>, StoreError> {
    match store.get(INBOX_ORDER, order)? {
        Some(bytes) if !bytes.is_empty() => decode_position(store, INBOX_ORDER, &bytes).map(Some),
        _ => Ok(None),
    }
}

/// A disclosure whose delivery stopped and waits for a person (the receiver refused it, or
/// the recipient left the roster). The envelope stays in [`OUTBOUND`]; it is never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Held {
    pub(crate) reason: String,
    pub(crate) since: Timestamp,
    /// Why, as a class: which holds a roster change may release.
    pub(crate) class: HoldClass,
}

/// The class of a hold. Stored as its postcard enum tag (not in roster 0, refused 1,
/// re-keyed 2, other 3); a [`Held`] written before the class existed has none and reads as
/// [`HoldClass::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum HoldClass {
    /// The recipient was not in the roster when delivery was tried: released when a roster
    /// that lists it again is adopted.
    NotInRoster,
    /// The receiver refused the disclosure: stays held.
    Refused,
    /// The subject was re-keyed (Art. 18.5): stays held.
    Rekeyed,
    /// Anything else (a receipt that does not verify, a missing entry, an error answer):
    /// stays held.
    Other,
}

impl HoldClass {
    /// The stable name used in metrics and listings.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::NotInRoster => "not-in-roster",
            Self::Refused => "refused",
            Self::Rekeyed => "rekeyed",
            Self::Other => "other",
        }
    }

    /// Every class, in tag order.
    pub(crate) const ALL: [Self; 4] =
        [Self::NotInRoster, Self::Refused, Self::Rekeyed, Self::Other];
}

/// A [`Held`] as written before holds had a class.
#[derive(Deserialize)]
struct LegacyHeld {
    reason: String,
    since: Timestamp,
}

/// Decodes a stored [`Held`], reading one written before holds had a class as
/// [`HoldClass::Other`] (never released by a roster change).
pub(crate) fn decode_held(bytes: &[u8]) -> Option<Held> {
    postcard::from_bytes::<Held>(bytes).ok().or_else(|| {
        postcard::from_bytes::<LegacyHeld>(bytes)
            .ok()
            .map(|legacy| Held {
                reason: legacy.reason,
                since: legacy.since,
                class: HoldClass::Other,
            })
    })
}

/// Reads a stored [`Held`] (see [`decode_held`]).
pub(crate) fn load_held(store: &Store, key: &[u8]) -> Result<Option<Held>, StoreError> {
    match store.get(HELD, key)? {
        None => Ok(None),
        Some(bytes) => decode_held(&bytes)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt {
                path: store.path().to_path_buf(),
                detail: format!("state namespace {} holds an undecodable value", HELD.tag()),
            }),
    }
}

/// The latest checkpoint of a log this node cosigned as a witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WitnessView {
    pub(crate) size: u64,
    pub(crate) root: [u8; 32],
    pub(crate) note: String,
}

/// Kept evidence: both signed checkpoints, exactly as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Evidence {
    /// Stored as the postcard enum of [`WitnessAlarmKind`] (fork 0, rollback 1,
    /// inconsistent 2).
    pub(crate) kind: WitnessAlarmKind,
    pub(crate) first: String,
    pub(crate) second: String,
    pub(crate) at: Timestamp,
}

/// A received envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InboxRecord {
    /// The subject the envelope is about, whose data key seals it.
    pub(crate) about: SubjectId,
    /// The envelope, sealed at rest under its subject's key (see `at_rest`).
    #[serde(with = "streha_crypto::serde_bytes")]
    pub(crate) sealed_envelope: Vec<u8>,
    pub(crate) received_at: Timestamp,
}

/// Encodes a stored value.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoding our own in-memory types into a Vec cannot fail (postcard only fails on a
    // full fixed buffer or on types that serde cannot express).
    postcard::to_allocvec(value).unwrap_or_default()
}

/// Reads and decodes a stored value.
pub(crate) fn load<T: DeserializeOwned>(
    store: &Store,
    ns: Namespace,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    match store.get(ns, key)? {
        None => Ok(None),
        Some(bytes) => postcard::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path: store.path().to_path_buf(),
                detail: format!(
                    "state namespace {} holds an undecodable value: {e}",
                    ns.tag()
                ),
            }),
    }
}

/// Where an entry of this node's log is: its log epoch (`spec/audit-log.md` §9) and its
/// index in that epoch's log. Kept state that points at the entry justifying it (a
/// `disclosed`, `received`, `receipt` or `consent granted` entry) outlives an epoch switch,
/// which starts the log over; an index alone would then point into the wrong log.
///
/// Stored as the 8-byte big-endian index for epoch 1 — the format written before epochs
/// existed, so an 8-byte value is always epoch 1 — and as index ‖ epoch (16 bytes, both
/// big-endian) from epoch 2 on ([`put_position`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogPosition {
    pub(crate) epoch: u64,
    pub(crate) index: u64,
}

impl LogPosition {
    /// Decodes a stored position (see the type's documentation).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let index = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let epoch = match bytes.len() {
            8 => streha_core::epoch::FIRST_EPOCH,
            16 => u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?),
            _ => return None,
        };
        (streha_core::epoch::FIRST_EPOCH..=streha_core::epoch::MAX_EPOCH)
            .contains(&epoch)
            .then_some(Self { epoch, index })
    }

    /// The stored form, as [`put_position`] writes it.
    pub(crate) fn encode(self) -> Vec<u8> {
        let mut value = self.index.to_be_bytes().to_vec();
        value.extend_from_slice(&Self::suffix(self.epoch));
        value
    }

    /// The suffix [`put_position`] writes after the index in `epoch`.
    fn suffix(epoch: u64) -> Vec<u8> {
        if epoch <= streha_core::epoch::FIRST_EPOCH {
            Vec::new()
        } else {
            epoch.to_be_bytes().to_vec()
        }
    }
}

/// Sets `key` in `ns` to the [`LogPosition`] of `tx`'s first appended entry in `epoch` (the
/// epoch of the store the transaction is committed to).
pub(crate) fn put_position(tx: &mut Transaction, ns: Namespace, key: Vec<u8>, epoch: u64) {
    tx.put_first_index_with(ns, key, LogPosition::suffix(epoch));
}

/// Reads a stored [`LogPosition`].
pub(crate) fn load_position(
    store: &Store,
    ns: Namespace,
    key: &[u8],
) -> Result<Option<LogPosition>, StoreError> {
    match store.get(ns, key)? {
        None => Ok(None),
        Some(bytes) => decode_position(store, ns, &bytes).map(Some),
    }
}

/// Decodes a [`LogPosition`] read from `ns`.
pub(crate) fn decode_position(
    store: &Store,
    ns: Namespace,
    bytes: &[u8],
) -> Result<LogPosition, StoreError> {
    LogPosition::decode(bytes).ok_or_else(|| StoreError::Corrupt {
        path: store.path().to_path_buf(),
        detail: format!(
            "state namespace {} holds a log position that is neither 8 nor 16 bytes of a valid epoch",
            ns.tag()
        ),
    })
}

/// Reads a stored log index.
pub(crate) fn load_index(
    store: &Store,
    ns: Namespace,
    key: &[u8],
) -> Result<Option<u64>, StoreError> {
    match store.get(ns, key)? {
        None => Ok(None),
        Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
            .map(|b| Some(u64::from_be_bytes(b)))
            .map_err(|_| StoreError::Corrupt {
                path: store.path().to_path_buf(),
                detail: format!(
                    "state namespace {} holds an index that is not 8 bytes",
                    ns.tag()
                ),
            }),
    }
}

/// The facts about `subject` that travel with a disclosure.
pub(crate) fn facts_of(subject: &Subject) -> SubjectFacts {
    SubjectFacts {
        age_status: subject.age_status(),
        adult_since: subject.adult_since(),
        representatives: subject.representatives().to_vec(),
    }
}

/// Rebuilds a subject from the facts a sender sent.
pub(crate) fn subject_from_facts(
    id: streha_core::SubjectId,
    facts: &SubjectFacts,
) -> Result<Subject, streha_core::SubjectError> {
    use streha_core::AgeStatus;
    let mut subject = match (facts.age_status, facts.adult_since) {
        (AgeStatus::Adult, Some(Timestamp::EPOCH)) => Subject::new(id, AgeStatus::Adult),
        (AgeStatus::Adult, Some(since)) => {
            let mut s = Subject::new(id, AgeStatus::PresumedChild);
            s.record_age_status(AgeStatus::Adult, since)?;
            s
        }
        // An adult with no time since when is not something an honest sender sends; treat
        // the subject as a presumed child (Art. 36), the conservative reading.
        (AgeStatus::Adult, None) => Subject::new(id, AgeStatus::PresumedChild),
        (status, _) => Subject::new(id, status),
    };
    for representative in &facts.representatives {
        subject.add_representative(representative.clone())?;
    }
    Ok(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct WrittenBeforeClasses {
        reason: String,
        since: Timestamp,
    }

    #[test]
    fn a_hold_keeps_its_class_and_an_old_hold_reads_as_other() {
        for class in HoldClass::ALL {
            let held = Held {
                reason: "why".into(),
                since: Timestamp(7),
                class,
            };
            assert_eq!(decode_held(&encode(&held)), Some(held));
        }
        let old = encode(&WrittenBeforeClasses {
            reason: "refused by the receiver".into(),
            since: Timestamp(9),
        });
        assert_eq!(
            decode_held(&old),
            Some(Held {
                reason: "refused by the receiver".into(),
                since: Timestamp(9),
                class: HoldClass::Other,
            })
        );
        assert_eq!(decode_held(&[0xff, 0xff]), None);
    }

    /// A position written before epochs existed (8 bytes) is epoch 1; from epoch 2 on the
    /// epoch is kept with the index; anything else is refused, never guessed.
    #[test]
    fn a_log_position_keeps_its_epoch_and_an_old_index_is_epoch_1() {
        assert_eq!(
            LogPosition::decode(&7u64.to_be_bytes()),
            Some(LogPosition { epoch: 1, index: 7 })
        );
        assert!(LogPosition::suffix(1).is_empty());
        let mut two = 9u64.to_be_bytes().to_vec();
        two.extend_from_slice(&LogPosition::suffix(2));
        assert_eq!(
            LogPosition::decode(&two),
            Some(LogPosition { epoch: 2, index: 9 })
        );
        let mut zero = 9u64.to_be_bytes().to_vec();
        zero.extend_from_slice(&0u64.to_be_bytes());
        assert_eq!(LogPosition::decode(&zero), None);
        assert_eq!(LogPosition::decode(&[1, 2, 3]), None);
        assert_eq!(LogPosition::decode(&[0; 12]), None);
    }

    /// The store writes a sent record's latest index when its entry commits; the rest is
    /// the suffix. What it writes reads back as the record, and [`SentRecord::encode`]
    /// (the rewrite of old stores) writes the same bytes; anything else is refused.
    #[test]
    fn a_sent_record_is_written_by_the_commit_that_logs_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        let signer = streha_audit::NoteSigner::new(
            "state.test/log",
            ed25519_dalek::SigningKey::from_bytes(&[4; 32]),
        )
        .unwrap();
        let store = Store::open(dir.path(), "state.test/log", signer).unwrap();
        let id = [1u8; 16];
        for epoch in [1, 2] {
            let mut tx = Transaction::new();
            tx.append(b"first".to_vec()).append(b"disclosed".to_vec());
            put_sent_accepted(&mut tx, id.to_vec(), epoch);
            store.commit(tx).unwrap();
            let disclosed = LogPosition {
                epoch,
                index: store.tree_size() - 2,
            };
            let accepted = SentRecord {
                disclosed,
                delivered: None,
            };
            assert_eq!(load_sent(&store, &id).unwrap(), Some(accepted));
            assert_eq!(store.get(SENT, &id).unwrap(), Some(accepted.encode()));

            let mut tx = Transaction::new();
            tx.append(b"receipt".to_vec());
            put_sent_delivered(&mut tx, id.to_vec(), disclosed, 77, epoch + 1);
            store.commit(tx).unwrap();
            let delivered = SentRecord {
                disclosed,
                delivered: Some(SentDelivery {
                    receipt: LogPosition {
                        epoch: epoch + 1,
                        index: store.tree_size() - 1,
                    },
                    receiver_index: 77,
                }),
            };
            assert_eq!(load_sent(&store, &id).unwrap(), Some(delivered));
            assert_eq!(store.get(SENT, &id).unwrap(), Some(delivered.encode()));
        }
        let good = SentRecord {
            disclosed: LogPosition { epoch: 1, index: 5 },
            delivered: None,
        }
        .encode();
        assert_eq!(good.len(), 17);
        for bad in [&good[..16], &[good.as_slice(), &[0]].concat(), &[0; 17][..]] {
            assert_eq!(SentRecord::decode(bad), None, "{bad:?}");
        }
        let mut wrong_form = good.clone();
        wrong_form[8] = 1;
        assert_eq!(SentRecord::decode(&wrong_form), None);
    }

    #[test]
    fn hold_class_tags_are_a_storage_format() {
        let tags: Vec<Vec<u8>> = HoldClass::ALL.iter().map(encode).collect();
        assert_eq!(tags, vec![vec![0], vec![1], vec![2], vec![3]]);
    }
}
