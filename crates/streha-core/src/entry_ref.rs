//! Audit entries decoded borrowing from their bytes: [`AuditEntryRef`], the twin of
//! [`AuditEntry`] for readers of many entries (the offline verifier replays whole logs).
//!
//! The same canonical bytes, the same size caps, the same checks and the same errors as
//! [`AuditEntry::decode`]; names (agency, officer, representative and clause ids) and the
//! `log_restored` proof note are `&str` into the input instead of `String`s, and a disclosure
//! header's approvals and a basis's clauses hold those. Rare kinds whose owned form carries
//! its own validation (consent grants and revocations, refusal reasons, witness alarms,
//! witnessed checkpoints, key kinds, origins) keep their owned fields: decoding them checks
//! exactly what the owned decoder checks. [`AuditEntryRef::to_owned`] gives the owned entry.

use serde::{Deserialize, Deserializer, Serialize};

use crate::category::CategorySet;
use crate::codec::{self, DecodeError};
use crate::consent::{ConsentGrant, ConsentRevocation};
use crate::entry::{
    AuditEntry, ENTRY_VERSION, EnvelopeSignature, KeyKind, MAX_ENTRY_LEN, MAX_PROVEN_NOTE_LEN,
    ViolationKind, WitnessedCheckpoint,
};
use crate::header::{Approvals, DisclosureHeader, MAX_APPROVALS, UrgentApproval};
use crate::ids::{
    AgencyIdRef, ClauseIdRef, ConsentId, EnvelopeId, LogOrigin, OfficerIdRef, RepresentativeIdRef,
    SignatureBytes, SubjectId,
};
use crate::policy::{Basis, RefusalReason};
use crate::subject::AgeStatus;
use crate::time::Timestamp;
use crate::{Purpose, WitnessAlarmKind};

/// An urgent-danger approval borrowing its officer id ([`UrgentApproval`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrgentApprovalRef<'a> {
    /// The approving officer.
    #[serde(borrow)]
    pub officer: OfficerIdRef<'a>,
    /// The officer's signature over the approval message.
    pub signature: SignatureBytes,
}

/// A header's approvals, borrowed ([`Approvals`]): at most [`MAX_APPROVALS`], in strictly
/// ascending officer order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApprovalsRef<'a>(Vec<UrgentApprovalRef<'a>>);

impl<'a> ApprovalsRef<'a> {
    /// The approvals, sorted by officer.
    pub fn as_slice(&self) -> &[UrgentApprovalRef<'a>] {
        &self.0
    }

    /// The owned approvals.
    pub fn to_owned(&self) -> Approvals {
        Approvals::from_checked(
            self.0
                .iter()
                .map(|a| UrgentApproval {
                    officer: a.officer.to_owned(),
                    signature: a.signature,
                })
                .collect(),
        )
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ApprovalsRef<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        // The checks of `Approvals`' decoder, in its order.
        let raw = Vec::<UrgentApprovalRef<'a>>::deserialize(d)?;
        if raw.len() > MAX_APPROVALS {
            return Err(D::Error::custom("too many approvals"));
        }
        if raw.windows(2).any(|w| w[0].officer >= w[1].officer) {
            return Err(D::Error::custom(
                "approvals not in strictly ascending officer order",
            ));
        }
        Ok(ApprovalsRef(raw))
    }
}

/// A disclosure header borrowing its agency and officer ids ([`DisclosureHeader`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureHeaderRef<'a> {
    /// The envelope's id.
    pub envelope_id: EnvelopeId,
    /// The sending agency.
    #[serde(borrow)]
    pub sender: AgencyIdRef<'a>,
    /// The receiving agency.
    #[serde(borrow)]
    pub recipient: AgencyIdRef<'a>,
    /// The subject.
    pub subject: SubjectId,
    /// The categories declared.
    pub categories: CategorySet,
    /// The purpose.
    pub purpose: Purpose,
    /// The consent relied on, if any.
    pub consent: Option<ConsentId>,
    /// When the sender created it.
    pub created_at: Timestamp,
    /// The urgent-danger approvals.
    #[serde(borrow)]
    pub approvals: ApprovalsRef<'a>,
}

impl DisclosureHeaderRef<'_> {
    /// The owned header.
    pub fn to_owned(&self) -> DisclosureHeader {
        DisclosureHeader {
            envelope_id: self.envelope_id,
            sender: self.sender.to_owned(),
            recipient: self.recipient.to_owned(),
            subject: self.subject,
            categories: self.categories,
            purpose: self.purpose,
            consent: self.consent,
            created_at: self.created_at,
            approvals: self.approvals.to_owned(),
        }
    }
}

/// A decision's basis borrowing its clause ids ([`Basis`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum BasisRef<'a> {
    /// A consent in force.
    Consent(ConsentId),
    /// Clauses of the exchange agreement (strictly ascending, 1 to one per category).
    Agreement(Vec<ClauseIdRef<'a>>),
    /// Both.
    ConsentAndAgreement {
        /// The consent.
        consent: ConsentId,
        /// The clauses.
        clauses: Vec<ClauseIdRef<'a>>,
    },
}

impl BasisRef<'_> {
    /// The consent relied on, if any.
    pub fn consent(&self) -> Option<ConsentId> {
        match self {
            BasisRef::Consent(c) | BasisRef::ConsentAndAgreement { consent: c, .. } => Some(*c),
            BasisRef::Agreement(_) => None,
        }
    }

    /// The owned basis.
    pub fn to_owned(&self) -> Basis {
        let owned = |c: &[ClauseIdRef<'_>]| c.iter().map(ClauseIdRef::to_owned).collect();
        match self {
            BasisRef::Consent(c) => Basis::Consent(*c),
            BasisRef::Agreement(c) => Basis::Agreement(owned(c)),
            BasisRef::ConsentAndAgreement { consent, clauses } => Basis::ConsentAndAgreement {
                consent: *consent,
                clauses: owned(clauses),
            },
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for BasisRef<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The checks of `Basis`' decoder, in its order.
        #[derive(Deserialize)]
        enum Raw<'a> {
            Consent(ConsentId),
            Agreement(#[serde(borrow)] Vec<ClauseIdRef<'a>>),
            ConsentAndAgreement {
                consent: ConsentId,
                #[serde(borrow)]
                clauses: Vec<ClauseIdRef<'a>>,
            },
        }
        let check = crate::policy::check_basis_clauses::<_, D::Error>;
        Ok(match Raw::deserialize(d)? {
            Raw::Consent(c) => BasisRef::Consent(c),
            Raw::Agreement(c) => {
                check(&c)?;
                BasisRef::Agreement(c)
            }
            Raw::ConsentAndAgreement { consent, clauses } => {
                check(&clauses)?;
                BasisRef::ConsentAndAgreement { consent, clauses }
            }
        })
    }
}

/// One audit log entry, borrowing from the bytes it was decoded from: the twin of
/// [`AuditEntry`], variant for variant and field for field (same tags, same encoding).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
///
/// `Received`'s envelope signature is inline, not boxed as in [`AuditEntry`]: the point of
/// this type is to decode without allocating.
#[allow(missing_docs)] // Each variant and field is documented on `AuditEntry`.
#[allow(clippy::large_enum_variant)]
pub enum AuditEntryRef<'a> {
    SubjectRegistered {
        subject: SubjectId,
        age_status: AgeStatus,
        at: Timestamp,
    },
    AgeStatusRecorded {
        subject: SubjectId,
        age_status: AgeStatus,
        at: Timestamp,
    },
    RepresentativeRegistered {
        subject: SubjectId,
        #[serde(borrow)]
        representative: RepresentativeIdRef<'a>,
        at: Timestamp,
    },
    RepresentativeRemoved {
        subject: SubjectId,
        #[serde(borrow)]
        representative: RepresentativeIdRef<'a>,
        at: Timestamp,
    },
    ConsentGranted {
        grant: ConsentGrant,
    },
    ConsentRevoked {
        revocation: ConsentRevocation,
    },
    Disclosed {
        #[serde(borrow)]
        header: DisclosureHeaderRef<'a>,
        #[serde(borrow)]
        basis: BasisRef<'a>,
        urgent_review: bool,
        ciphertext_hash: [u8; 32],
        at: Timestamp,
    },
    Refused {
        #[serde(borrow)]
        header: DisclosureHeaderRef<'a>,
        reason: RefusalReason,
        at: Timestamp,
    },
    Received {
        #[serde(borrow)]
        header: DisclosureHeaderRef<'a>,
        #[serde(borrow)]
        basis: BasisRef<'a>,
        ciphertext_hash: [u8; 32],
        sender_signature: EnvelopeSignature,
        sender_log_index: u64,
        sender_tree_size: u64,
        sender_root_hash: [u8; 32],
        sender_checkpoint_signature: SignatureBytes,
        at: Timestamp,
    },
    ReceiveRefused {
        #[serde(borrow)]
        header: DisclosureHeaderRef<'a>,
        reason: RefusalReason,
        ciphertext_hash: [u8; 32],
        at: Timestamp,
    },
    Receipt {
        envelope: EnvelopeId,
        #[serde(borrow)]
        recipient: AgencyIdRef<'a>,
        receiver_log_index: u64,
        receiver_tree_size: u64,
        receiver_root_hash: [u8; 32],
        receiver_checkpoint_signature: SignatureBytes,
        at: Timestamp,
    },
    Violation {
        envelope: EnvelopeId,
        #[serde(borrow)]
        sender: AgencyIdRef<'a>,
        kind: ViolationKind,
        declared: CategorySet,
        found: CategorySet,
        ciphertext_hash: [u8; 32],
        at: Timestamp,
    },
    RosterChanged {
        version: u64,
        roster_hash: [u8; 32],
        at: Timestamp,
    },
    KeyChanged {
        #[serde(borrow)]
        agency: AgencyIdRef<'a>,
        kind: KeyKind,
        public_key: [u8; 32],
        at: Timestamp,
    },
    SubjectRekeyed {
        old: SubjectId,
        new_commitment: [u8; 32],
        at: Timestamp,
    },
    WitnessAlarmV1 {
        origin: LogOrigin,
        size: u64,
        root_a: [u8; 32],
        root_b: [u8; 32],
        at: Timestamp,
    },
    WitnessAlarm {
        origin: LogOrigin,
        kind: WitnessAlarmKind,
        cosigned_size: u64,
        cosigned_root: [u8; 32],
        offered_size: u64,
        offered_root: [u8; 32],
        at: Timestamp,
    },
    WitnessedCheckpoints {
        checkpoints: Vec<WitnessedCheckpoint>,
        at: Timestamp,
    },
    ConsentRefused {
        grant: ConsentGrant,
        reason: RefusalReason,
        at: Timestamp,
    },
    LogRestored {
        previous_origin: LogOrigin,
        restored_size: u64,
        restored_root: [u8; 32],
        proven_note: &'a str,
        #[serde(borrow)]
        proven_by: AgencyIdRef<'a>,
        at: Timestamp,
    },
}

impl<'a> AuditEntryRef<'a> {
    /// Decodes an entry from untrusted bytes, borrowing from them; never panics. Accepts
    /// exactly the bytes [`AuditEntry::decode`] accepts, and fails with the same error.
    ///
    /// # Errors
    /// [`DecodeError`] when the input is over [`MAX_ENTRY_LEN`], empty, of another version,
    /// malformed, followed by trailing bytes, or not canonical.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let entry: Self =
            codec::decode_versioned("audit entry", ENTRY_VERSION, MAX_ENTRY_LEN, bytes)?;
        if let AuditEntryRef::LogRestored { proven_note, .. } = &entry
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

    /// The entry's time ([`AuditEntry::at`]).
    pub fn at(&self) -> Timestamp {
        use AuditEntryRef::*;
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
            | WitnessedCheckpoints { at, .. }
            | ConsentRefused { at, .. }
            | LogRestored { at, .. } => *at,
        }
    }

    /// The entry kind's stable name ([`AuditEntry::kind_name`]).
    pub fn kind_name(&self) -> &'static str {
        use AuditEntryRef::*;
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

    /// The owned entry: equal to what [`AuditEntry::decode`] gives for the same bytes.
    pub fn to_owned(&self) -> AuditEntry {
        use AuditEntryRef as R;
        match self {
            R::SubjectRegistered {
                subject,
                age_status,
                at,
            } => AuditEntry::SubjectRegistered {
                subject: *subject,
                age_status: *age_status,
                at: *at,
            },
            R::AgeStatusRecorded {
                subject,
                age_status,
                at,
            } => AuditEntry::AgeStatusRecorded {
                subject: *subject,
                age_status: *age_status,
                at: *at,
            },
            R::RepresentativeRegistered {
                subject,
                representative,
                at,
            } => AuditEntry::RepresentativeRegistered {
                subject: *subject,
                representative: representative.to_owned(),
                at: *at,
            },
            R::RepresentativeRemoved {
                subject,
                representative,
                at,
            } => AuditEntry::RepresentativeRemoved {
                subject: *subject,
                representative: representative.to_owned(),
                at: *at,
            },
            R::ConsentGranted { grant } => AuditEntry::ConsentGranted {
                grant: grant.clone(),
            },
            R::ConsentRevoked { revocation } => AuditEntry::ConsentRevoked {
                revocation: revocation.clone(),
            },
            R::Disclosed {
                header,
                basis,
                urgent_review,
                ciphertext_hash,
                at,
            } => AuditEntry::Disclosed {
                header: header.to_owned(),
                basis: basis.to_owned(),
                urgent_review: *urgent_review,
                ciphertext_hash: *ciphertext_hash,
                at: *at,
            },
            R::Refused { header, reason, at } => AuditEntry::Refused {
                header: header.to_owned(),
                reason: reason.clone(),
                at: *at,
            },
            R::Received {
                header,
                basis,
                ciphertext_hash,
                sender_signature,
                sender_log_index,
                sender_tree_size,
                sender_root_hash,
                sender_checkpoint_signature,
                at,
            } => AuditEntry::Received {
                header: header.to_owned(),
                basis: basis.to_owned(),
                ciphertext_hash: *ciphertext_hash,
                sender_signature: Box::new(sender_signature.clone()),
                sender_log_index: *sender_log_index,
                sender_tree_size: *sender_tree_size,
                sender_root_hash: *sender_root_hash,
                sender_checkpoint_signature: *sender_checkpoint_signature,
                at: *at,
            },
            R::ReceiveRefused {
                header,
                reason,
                ciphertext_hash,
                at,
            } => AuditEntry::ReceiveRefused {
                header: header.to_owned(),
                reason: reason.clone(),
                ciphertext_hash: *ciphertext_hash,
                at: *at,
            },
            R::Receipt {
                envelope,
                recipient,
                receiver_log_index,
                receiver_tree_size,
                receiver_root_hash,
                receiver_checkpoint_signature,
                at,
            } => AuditEntry::Receipt {
                envelope: *envelope,
                recipient: recipient.to_owned(),
                receiver_log_index: *receiver_log_index,
                receiver_tree_size: *receiver_tree_size,
                receiver_root_hash: *receiver_root_hash,
                receiver_checkpoint_signature: *receiver_checkpoint_signature,
                at: *at,
            },
            R::Violation {
                envelope,
                sender,
                kind,
                declared,
                found,
                ciphertext_hash,
                at,
            } => AuditEntry::Violation {
                envelope: *envelope,
                sender: sender.to_owned(),
                kind: *kind,
                declared: *declared,
                found: *found,
                ciphertext_hash: *ciphertext_hash,
                at: *at,
            },
            R::RosterChanged {
                version,
                roster_hash,
                at,
            } => AuditEntry::RosterChanged {
                version: *version,
                roster_hash: *roster_hash,
                at: *at,
            },
            R::KeyChanged {
                agency,
                kind,
                public_key,
                at,
            } => AuditEntry::KeyChanged {
                agency: agency.to_owned(),
                kind: kind.clone(),
                public_key: *public_key,
                at: *at,
            },
            R::SubjectRekeyed {
                old,
                new_commitment,
                at,
            } => AuditEntry::SubjectRekeyed {
                old: *old,
                new_commitment: *new_commitment,
                at: *at,
            },
            R::WitnessAlarmV1 {
                origin,
                size,
                root_a,
                root_b,
                at,
            } => AuditEntry::WitnessAlarmV1 {
                origin: origin.clone(),
                size: *size,
                root_a: *root_a,
                root_b: *root_b,
                at: *at,
            },
            R::WitnessAlarm {
                origin,
                kind,
                cosigned_size,
                cosigned_root,
                offered_size,
                offered_root,
                at,
            } => AuditEntry::WitnessAlarm {
                origin: origin.clone(),
                kind: *kind,
                cosigned_size: *cosigned_size,
                cosigned_root: *cosigned_root,
                offered_size: *offered_size,
                offered_root: *offered_root,
                at: *at,
            },
            R::WitnessedCheckpoints { checkpoints, at } => AuditEntry::WitnessedCheckpoints {
                checkpoints: checkpoints.clone(),
                at: *at,
            },
            R::ConsentRefused { grant, reason, at } => AuditEntry::ConsentRefused {
                grant: grant.clone(),
                reason: reason.clone(),
                at: *at,
            },
            R::LogRestored {
                previous_origin,
                restored_size,
                restored_root,
                proven_note,
                proven_by,
                at,
            } => AuditEntry::LogRestored {
                previous_origin: previous_origin.clone(),
                restored_size: *restored_size,
                restored_root: *restored_root,
                proven_note: (*proven_note).to_owned(),
                proven_by: proven_by.to_owned(),
                at: *at,
            },
        }
    }
}
