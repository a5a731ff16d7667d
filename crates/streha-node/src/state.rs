//! The node's state in the store: namespaces and what each holds. Values are postcard; the
//! tags are a storage format and must never be reused.

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
/// Envelope id → [`Outbound`]: disclosed, not yet acknowledged by the receiver. Kept in a
/// body file of its own (`Transaction::put_body`), not in sled.
pub(crate) const OUTBOUND: Namespace = Namespace::new(5);
/// Envelope id → [`LogPosition`] of its `disclosed` entry (submit idempotency).
pub(crate) const DISCLOSED: Namespace = Namespace::new(6);
/// Envelope id → [`Delivered`]: the receipt was verified and logged.
pub(crate) const DELIVERED: Namespace = Namespace::new(7);
/// Envelope id → [`LogPosition`] of its `receipt` entry.
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
/// Envelope id → [`InboxRecord`]: received envelopes. Kept in a body file of its own
/// (`Transaction::put_body`), not in sled.
pub(crate) const INBOX: Namespace = Namespace::new(9);
/// received-at (8 bytes BE) ‖ envelope id → empty: the inbox in arrival order.
pub(crate) const INBOX_ORDER: Namespace = Namespace::new(10);
/// Envelope id → [`LogPosition`] of its `received` entry (delivery idempotency).
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

/// A delivered disclosure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Delivered {
    pub(crate) receiver_index: u64,
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
        Some(bytes) => LogPosition::decode(&bytes)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt {
                path: store.path().to_path_buf(),
                detail: format!(
                    "state namespace {} holds a log position that is neither 8 nor 16 bytes of a valid epoch",
                    ns.tag()
                ),
            }),
    }
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

    #[test]
    fn hold_class_tags_are_a_storage_format() {
        let tags: Vec<Vec<u8>> = HoldClass::ALL.iter().map(encode).collect();
        assert_eq!(tags, vec![vec![0], vec![1], vec![2], vec![3]]);
    }
}
