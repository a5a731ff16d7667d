//! Subjects: pseudonymous persons (victims, presumed victims), their age status (Art. 36),
//! their registered legal representatives (Art. 18.3, 38.5), and re-keying (Art. 18.5).

use serde::{Deserialize, Deserializer, Serialize};

use crate::ids::{RepresentativeId, SubjectId};
use crate::time::Timestamp;

/// The most legal representatives registered for one subject.
pub const MAX_REPRESENTATIVES: usize = 8;

/// The domain-separation prefix of a re-key commitment (see [`rekey_commitment`]).
pub const REKEY_COMMITMENT_DOMAIN: &[u8] = b"streha/rekey-commitment/v1\0";

vocabulary! {
    /// What is known of a subject's age (Art. 3.1.2, 36).
    AgeStatus, "age status" {
        /// An adult age has been recorded.
        Adult = 1, "adult";
        /// Known to be under 18 (Art. 3.1.2).
        Child = 2, "child";
        /// Age unknown but there are reasons to believe the person is under 18: treated as a
        /// child for every rule until an adult age is recorded (Art. 36).
        PresumedChild = 3, "presumed_child";
    }
}

impl AgeStatus {
    /// Whether every child rule applies: `Child` and `PresumedChild` (Art. 36).
    pub const fn is_child(self) -> bool {
        !matches!(self, AgeStatus::Adult)
    }
}

/// Whether a subject id is still in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SubjectStatus {
    /// In use.
    Active,
    /// Re-keyed to a new id (Art. 18.5): closed, every disclosure under it is refused.
    Rekeyed,
}

/// Why a subject operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// The subject id is closed (re-keyed, Art. 18.5); use the new id.
    #[error("subject {subject} was re-keyed and is closed (Art. 18.5); use the subject's new id")]
    Closed {
        /// The closed id.
        subject: SubjectId,
    },
    /// The representative is already registered.
    #[error("representative `{representative}` is already registered for subject {subject}")]
    DuplicateRepresentative {
        /// The subject.
        subject: SubjectId,
        /// The representative.
        representative: RepresentativeId,
    },
    /// The subject already has [`MAX_REPRESENTATIVES`] representatives.
    #[error("subject {subject} already has the maximum of {max} representatives")]
    TooManyRepresentatives {
        /// The subject.
        subject: SubjectId,
        /// The cap.
        max: usize,
    },
    /// Re-keying to the same id.
    #[error("the new subject id must differ from the old one; draw 16 fresh random bytes")]
    SameId,
    /// The re-key salt is all zero bytes: it did not come from a random source.
    #[error(
        "the re-key salt is all zeros; draw 32 bytes from a cryptographically secure random source"
    )]
    ZeroSalt,
}

/// A subject: a person known to the system only by a random pseudonymous id.
///
/// Holds no name and nothing derived from personal data. Encoded as: id (16 bytes), age
/// status tag (1 byte), adult since (postcard option of a varint timestamp; present exactly
/// when the age status is adult), representatives (postcard sequence of strings, strictly
/// ascending, at most [`MAX_REPRESENTATIVES`]), status (variant index: 0 active, 1 re-keyed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subject {
    id: SubjectId,
    age_status: AgeStatus,
    adult_since: Option<Timestamp>,
    representatives: Vec<RepresentativeId>,
    status: SubjectStatus,
}

/// What the audit log records of a re-keying (Art. 18.5): the old id and only a salted
/// commitment to the new one. The salt stays with the agency, to be opened to a court or a
/// data-protection officer with [`RekeyRecord::opens`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RekeyRecord {
    /// The old, now closed, id.
    pub old: SubjectId,
    /// [`rekey_commitment`]`(salt, new id)`.
    pub new_commitment: [u8; 32],
}

impl RekeyRecord {
    /// Whether `(salt, new_id)` opens this commitment.
    pub fn opens(&self, salt: &[u8; 32], new_id: SubjectId) -> bool {
        rekey_commitment(salt, new_id) == self.new_commitment
    }
}

/// The commitment to a new subject id: BLAKE3 in keyed mode with the 32-byte `salt` as key,
/// over [`REKEY_COMMITMENT_DOMAIN`] ‖ the 16 bytes of `new_id`. Hiding while the salt is
/// secret (it is random and as long as the key), binding by the collision resistance of
/// BLAKE3.
pub fn rekey_commitment(salt: &[u8; 32], new_id: SubjectId) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_keyed(salt);
    hasher.update(REKEY_COMMITMENT_DOMAIN);
    hasher.update(new_id.as_bytes());
    *hasher.finalize().as_bytes()
}

impl Subject {
    /// A new, active subject with no representatives.
    ///
    /// A subject registered as an adult counts as adult since the epoch: every consent they
    /// gave counts. A subject registered as a child or presumed child becomes adult only
    /// through [`record_age_status`](Self::record_age_status), at a time.
    pub fn new(id: SubjectId, age_status: AgeStatus) -> Self {
        Subject {
            id,
            age_status,
            adult_since: (age_status == AgeStatus::Adult).then_some(Timestamp::EPOCH),
            representatives: Vec::new(),
            status: SubjectStatus::Active,
        }
    }

    /// The pseudonymous id.
    pub fn id(&self) -> SubjectId {
        self.id
    }

    /// The age status.
    pub fn age_status(&self) -> AgeStatus {
        self.age_status
    }

    /// Since when the subject counts as an adult: `None` while a child or presumed child,
    /// the epoch if registered as an adult, otherwise the time the adult age was recorded.
    /// A consent the subject gave (recorded) before this time was given as a child and never
    /// counts (Art. 18.3, 36).
    pub fn adult_since(&self) -> Option<Timestamp> {
        self.adult_since
    }

    /// The registered legal representatives, in ascending order.
    pub fn representatives(&self) -> &[RepresentativeId] {
        &self.representatives
    }

    /// Whether `representative` is registered for this subject.
    pub fn has_representative(&self, representative: &RepresentativeId) -> bool {
        self.representatives.binary_search(representative).is_ok()
    }

    /// The status.
    pub fn status(&self) -> SubjectStatus {
        self.status
    }

    /// Whether the id is closed (re-keyed).
    pub fn is_closed(&self) -> bool {
        self.status == SubjectStatus::Rekeyed
    }

    fn ensure_active(&self) -> Result<(), SubjectError> {
        if self.is_closed() {
            Err(SubjectError::Closed { subject: self.id })
        } else {
            Ok(())
        }
    }

    /// Records the age status ascertained at `at`, e.g. `Adult` once an adult age is
    /// established (Art. 36). Recording `Adult` for a subject already adult changes nothing;
    /// recording `Adult` after a child status starts [`adult_since`](Self::adult_since) at
    /// `at`; recording a child status clears it.
    ///
    /// # Errors
    /// [`SubjectError::Closed`].
    pub fn record_age_status(
        &mut self,
        age_status: AgeStatus,
        at: Timestamp,
    ) -> Result<(), SubjectError> {
        self.ensure_active()?;
        self.adult_since = match (age_status, self.adult_since) {
            (AgeStatus::Adult, Some(since)) => Some(since),
            (AgeStatus::Adult, None) => Some(at),
            (AgeStatus::Child | AgeStatus::PresumedChild, _) => None,
        };
        self.age_status = age_status;
        Ok(())
    }

    /// Registers a legal representative (Art. 18.3, 38.5).
    ///
    /// # Errors
    /// [`SubjectError::Closed`], [`SubjectError::DuplicateRepresentative`],
    /// [`SubjectError::TooManyRepresentatives`].
    pub fn add_representative(
        &mut self,
        representative: RepresentativeId,
    ) -> Result<(), SubjectError> {
        self.ensure_active()?;
        match self.representatives.binary_search(&representative) {
            Ok(_) => Err(SubjectError::DuplicateRepresentative {
                subject: self.id,
                representative,
            }),
            Err(_) if self.representatives.len() >= MAX_REPRESENTATIVES => {
                Err(SubjectError::TooManyRepresentatives {
                    subject: self.id,
                    max: MAX_REPRESENTATIVES,
                })
            }
            Err(pos) => {
                self.representatives.insert(pos, representative);
                Ok(())
            }
        }
    }

    /// Registers a legal representative, builder style.
    ///
    /// # Errors
    /// As [`Subject::add_representative`].
    pub fn with_representative(
        mut self,
        representative: RepresentativeId,
    ) -> Result<Self, SubjectError> {
        self.add_representative(representative)?;
        Ok(self)
    }

    /// Removes a legal representative; returns whether it was registered.
    ///
    /// # Errors
    /// [`SubjectError::Closed`].
    pub fn remove_representative(
        &mut self,
        representative: &RepresentativeId,
    ) -> Result<bool, SubjectError> {
        self.ensure_active()?;
        match self.representatives.binary_search(representative) {
            Ok(pos) => {
                self.representatives.remove(pos);
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }

    /// Re-keys the subject (Art. 18.5): closes this id and returns the subject under
    /// `new_id`, with the record for the audit log.
    ///
    /// `new_id` and `salt` must come from a cryptographically secure random source. The new
    /// subject keeps the age status and the time since which it counts as adult (child
    /// protection carries over) but **no
    /// representatives**: registering the same representative id under the new id would link
    /// the two ids in the audit log, so representatives are registered again, under a
    /// registration the old id does not reveal. Consents do not carry over either: they name
    /// the old id, which is closed.
    ///
    /// # Errors
    /// [`SubjectError::Closed`], [`SubjectError::SameId`], [`SubjectError::ZeroSalt`].
    pub fn rekey(
        &mut self,
        new_id: SubjectId,
        salt: &[u8; 32],
    ) -> Result<(Subject, RekeyRecord), SubjectError> {
        self.ensure_active()?;
        if new_id == self.id {
            return Err(SubjectError::SameId);
        }
        if salt.iter().all(|b| *b == 0) {
            return Err(SubjectError::ZeroSalt);
        }
        self.status = SubjectStatus::Rekeyed;
        let record = RekeyRecord {
            old: self.id,
            new_commitment: rekey_commitment(salt, new_id),
        };
        let mut new = Subject::new(new_id, self.age_status);
        new.adult_since = self.adult_since;
        Ok((new, record))
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        struct Raw {
            id: SubjectId,
            age_status: AgeStatus,
            adult_since: Option<Timestamp>,
            representatives: Vec<RepresentativeId>,
            status: SubjectStatus,
        }
        let raw = Raw::deserialize(d)?;
        if raw.adult_since.is_some() != (raw.age_status == AgeStatus::Adult) {
            return Err(D::Error::custom(
                "adult_since must be present exactly when the age status is adult",
            ));
        }
        if raw.representatives.len() > MAX_REPRESENTATIVES {
            return Err(D::Error::custom("too many representatives"));
        }
        if raw.representatives.windows(2).any(|w| w[0] >= w[1]) {
            return Err(D::Error::custom(
                "representatives not in strictly ascending order",
            ));
        }
        Ok(Subject {
            id: raw.id,
            age_status: raw.age_status,
            adult_since: raw.adult_since,
            representatives: raw.representatives,
            status: raw.status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presumed_child_is_child() {
        assert!(AgeStatus::PresumedChild.is_child());
        assert!(AgeStatus::Child.is_child());
        assert!(!AgeStatus::Adult.is_child());
    }

    #[test]
    fn rekey_closes_and_commits() {
        let mut s = Subject::new(SubjectId::from_bytes([1; 16]), AgeStatus::PresumedChild)
            .with_representative(RepresentativeId::new("rep-1").unwrap())
            .unwrap();
        let salt = [9; 32];
        let new_id = SubjectId::from_bytes([2; 16]);
        let (new, record) = s.rekey(new_id, &salt).unwrap();
        assert!(s.is_closed());
        assert_eq!(new.id(), new_id);
        assert_eq!(new.age_status(), AgeStatus::PresumedChild);
        assert!(new.representatives().is_empty());
        assert_eq!(record.old, SubjectId::from_bytes([1; 16]));
        assert!(record.opens(&salt, new_id));
        assert!(!record.opens(&[8; 32], new_id));
        assert!(!record.opens(&salt, SubjectId::from_bytes([3; 16])));
        assert!(matches!(
            s.rekey(SubjectId::from_bytes([4; 16]), &salt),
            Err(SubjectError::Closed { .. })
        ));
        assert!(
            s.add_representative(RepresentativeId::new("rep-2").unwrap())
                .is_err()
        );
    }

    #[test]
    fn adult_since_follows_recorded_ages() {
        assert_eq!(
            Subject::new(SubjectId::MIN, AgeStatus::Adult).adult_since(),
            Some(Timestamp::EPOCH)
        );
        let mut s = Subject::new(SubjectId::MIN, AgeStatus::PresumedChild);
        assert_eq!(s.adult_since(), None);
        s.record_age_status(AgeStatus::Adult, Timestamp(50))
            .unwrap();
        assert_eq!(s.adult_since(), Some(Timestamp(50)));
        s.record_age_status(AgeStatus::Adult, Timestamp(80))
            .unwrap();
        assert_eq!(s.adult_since(), Some(Timestamp(50)));
        s.record_age_status(AgeStatus::Child, Timestamp(90))
            .unwrap();
        assert_eq!(s.adult_since(), None);
        let bytes = postcard::to_stdvec(&s).unwrap();
        assert_eq!(postcard::from_bytes::<Subject>(&bytes).unwrap(), s);
    }
}
