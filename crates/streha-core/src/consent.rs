//! Consent (Art. 18.3): grants, revocations, and the registry that answers "which consents
//! were in force for this subject at time t".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::category::{Category, CategorySet};
use crate::ids::{AgencyId, ConsentId, OfficerId, RepresentativeId, SubjectId};
use crate::role::{PurposeSet, Role};
use crate::time::Timestamp;

/// The most recipients one consent may name.
pub const MAX_CONSENT_RECIPIENTS: usize = 32;

/// Who gave a consent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grantor {
    /// The subject (the victim) personally. Never counts while the subject is a child or
    /// presumed child (Art. 18.3, 36).
    Subject,
    /// A legal representative; counts only if registered for the subject (Art. 18.3, 38.5).
    Representative(RepresentativeId),
}

/// Whom a consent allows to receive: one agency, or every member agency of a role.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Recipient {
    /// One agency.
    Agency(AgencyId),
    /// Every member agency of this role.
    Role(Role),
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::Agency(a) => write!(f, "agency `{a}`"),
            Recipient::Role(r) => write!(f, "role `{r}`"),
        }
    }
}

/// Why a consent grant could not be built, or a revocation not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsentError {
    /// The consent names no category.
    #[error("the consent names no category; name the assistance categories it covers")]
    EmptyCategories,
    /// The consent names a protection category, which no consent can release (Art. 18.4).
    #[error(
        "the consent names the protection category `{category}`, which no consent can release (Art. 18.4); remove it"
    )]
    ProtectionCategory {
        /// The category.
        category: Category,
    },
    /// The consent names a category outside the assistance group. Consent is the basis for
    /// assistance information only (Art. 18.3); other categories move under the exchange
    /// agreement (Art. 18.2), so naming them in a consent would suggest a permission it does
    /// not give.
    #[error(
        "the consent names `{category}`, which is not an assistance category: consent covers only assistance information (Art. 18.3), other categories move under the exchange agreement (Art. 18.2); remove it"
    )]
    NotAssistanceCategory {
        /// The category.
        category: Category,
    },
    /// The consent names no recipient.
    #[error("the consent names no recipient; name the agencies or roles it allows")]
    NoRecipients,
    /// The consent names more than [`MAX_CONSENT_RECIPIENTS`] recipients.
    #[error("the consent names more than {max} recipients; name roles instead of many agencies")]
    TooManyRecipients {
        /// The cap.
        max: usize,
    },
    /// The consent names no purpose.
    #[error("the consent names no purpose; name at least one")]
    NoPurposes,
    /// `expires_at` is not after `valid_from`.
    #[error("the consent expires ({expires_at}) before or when it becomes valid ({valid_from})")]
    EmptyValidity {
        /// Start of validity.
        valid_from: Timestamp,
        /// End of validity.
        expires_at: Timestamp,
    },
}

/// The terms of a consent, before validation. Build a [`ConsentGrant`] from them with
/// [`ConsentGrant::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentTerms {
    /// The consent's id (16 random bytes from the caller).
    pub id: ConsentId,
    /// The subject the consent is about.
    pub subject: SubjectId,
    /// Who gave it.
    pub granted_by: Grantor,
    /// Whom it allows (agencies or roles); order and duplicates do not matter.
    pub recipients: Vec<Recipient>,
    /// The assistance categories it covers.
    pub categories: CategorySet,
    /// The purposes it covers.
    pub purposes: PurposeSet,
    /// In force from this time (inclusive).
    pub valid_from: Timestamp,
    /// In force until this time (exclusive).
    pub expires_at: Timestamp,
    /// A hash of the evidence (e.g. the signed consent form) kept by the agency.
    pub evidence_hash: [u8; 32],
    /// The officer who recorded it.
    pub recorded_by: OfficerId,
    /// When it was recorded; it is not in force before this time.
    pub recorded_at: Timestamp,
}

/// A consent grant (Art. 18.3): the subject, or their legal representative, allows the
/// named recipients to receive the named assistance categories for the named purposes,
/// from `valid_from` (inclusive) to `expires_at` (exclusive).
///
/// Validated at construction and on deserialization: at least one recipient (at most
/// [`MAX_CONSENT_RECIPIENTS`], kept sorted and unique), at least one category, only
/// assistance categories, at least one purpose, `valid_from < expires_at`.
///
/// Encoded as the fields of [`ConsentTerms`] in declaration order (recipients as a postcard
/// sequence in strictly ascending order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsentGrant {
    id: ConsentId,
    subject: SubjectId,
    granted_by: Grantor,
    recipients: Vec<Recipient>,
    categories: CategorySet,
    purposes: PurposeSet,
    valid_from: Timestamp,
    expires_at: Timestamp,
    evidence_hash: [u8; 32],
    recorded_by: OfficerId,
    recorded_at: Timestamp,
}

impl ConsentGrant {
    /// Validates `terms` into a grant. Recipients are sorted and de-duplicated.
    ///
    /// # Errors
    /// Any [`ConsentError`] except those about revocation.
    pub fn new(terms: ConsentTerms) -> Result<Self, ConsentError> {
        let ConsentTerms {
            id,
            subject,
            granted_by,
            mut recipients,
            categories,
            purposes,
            valid_from,
            expires_at,
            evidence_hash,
            recorded_by,
            recorded_at,
        } = terms;
        if categories.is_empty() {
            return Err(ConsentError::EmptyCategories);
        }
        if let Some(category) = categories.iter().find(|c| c.is_protection()) {
            return Err(ConsentError::ProtectionCategory { category });
        }
        if let Some(category) = categories.iter().find(|c| !c.is_assistance()) {
            return Err(ConsentError::NotAssistanceCategory { category });
        }
        recipients.sort();
        recipients.dedup();
        if recipients.is_empty() {
            return Err(ConsentError::NoRecipients);
        }
        if recipients.len() > MAX_CONSENT_RECIPIENTS {
            return Err(ConsentError::TooManyRecipients {
                max: MAX_CONSENT_RECIPIENTS,
            });
        }
        if purposes.is_empty() {
            return Err(ConsentError::NoPurposes);
        }
        if valid_from >= expires_at {
            return Err(ConsentError::EmptyValidity {
                valid_from,
                expires_at,
            });
        }
        Ok(ConsentGrant {
            id,
            subject,
            granted_by,
            recipients,
            categories,
            purposes,
            valid_from,
            expires_at,
            evidence_hash,
            recorded_by,
            recorded_at,
        })
    }

    /// The consent's id.
    pub fn id(&self) -> ConsentId {
        self.id
    }
    /// The subject.
    pub fn subject(&self) -> SubjectId {
        self.subject
    }
    /// Who gave it.
    pub fn granted_by(&self) -> &Grantor {
        &self.granted_by
    }
    /// The recipients, sorted.
    pub fn recipients(&self) -> &[Recipient] {
        &self.recipients
    }
    /// The assistance categories covered.
    pub fn categories(&self) -> CategorySet {
        self.categories
    }
    /// The purposes covered.
    pub fn purposes(&self) -> PurposeSet {
        self.purposes
    }
    /// Start of validity (inclusive).
    pub fn valid_from(&self) -> Timestamp {
        self.valid_from
    }
    /// End of validity (exclusive).
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
    /// Hash of the evidence.
    pub fn evidence_hash(&self) -> &[u8; 32] {
        &self.evidence_hash
    }
    /// The recording officer.
    pub fn recorded_by(&self) -> &OfficerId {
        &self.recorded_by
    }
    /// When it was recorded.
    pub fn recorded_at(&self) -> Timestamp {
        self.recorded_at
    }

    /// Whether the consent allows `agency`, whose role is `role`.
    pub fn covers_recipient(&self, agency: &AgencyId, role: Role) -> bool {
        self.recipients.iter().any(|r| match r {
            Recipient::Agency(a) => a == agency,
            Recipient::Role(r) => *r == role,
        })
    }

    /// Whether the consent is in force at `now`, given its revocation time if any.
    ///
    /// In force iff not revoked at or before `now`, recorded at or before `now`,
    /// `valid_from <= now` and `now < expires_at`. The reasons are checked in that order.
    ///
    /// # Errors
    /// The first [`NotInForce`] reason.
    pub fn check_in_force(
        &self,
        now: Timestamp,
        revoked_at: Option<Timestamp>,
    ) -> Result<(), NotInForce> {
        if let Some(at) = revoked_at.filter(|at| *at <= now) {
            return Err(NotInForce::Revoked { at });
        }
        if now < self.recorded_at {
            return Err(NotInForce::NotYetRecorded {
                recorded_at: self.recorded_at,
            });
        }
        if now < self.valid_from {
            return Err(NotInForce::NotYetValid {
                valid_from: self.valid_from,
            });
        }
        if now >= self.expires_at {
            return Err(NotInForce::Expired {
                expires_at: self.expires_at,
            });
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ConsentGrant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        struct Raw {
            id: ConsentId,
            subject: SubjectId,
            granted_by: Grantor,
            #[serde(deserialize_with = "bounded_recipients")]
            recipients: Vec<Recipient>,
            categories: CategorySet,
            purposes: PurposeSet,
            valid_from: Timestamp,
            expires_at: Timestamp,
            evidence_hash: [u8; 32],
            recorded_by: OfficerId,
            recorded_at: Timestamp,
        }
        let r = Raw::deserialize(d)?;
        if r.recipients.len() > MAX_CONSENT_RECIPIENTS {
            return Err(D::Error::custom("too many recipients"));
        }
        if r.recipients.windows(2).any(|w| w[0] >= w[1]) {
            return Err(D::Error::custom(
                "recipients not in strictly ascending order",
            ));
        }
        ConsentGrant::new(ConsentTerms {
            id: r.id,
            subject: r.subject,
            granted_by: r.granted_by,
            recipients: r.recipients,
            categories: r.categories,
            purposes: r.purposes,
            valid_from: r.valid_from,
            expires_at: r.expires_at,
            evidence_hash: r.evidence_hash,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
        })
        .map_err(D::Error::custom)
    }
}

/// Deserializes a consent's recipients, refusing more than [`MAX_CONSENT_RECIPIENTS`] from
/// the announced length, before any element is decoded or allocated: a role recipient takes
/// two bytes on the wire and 24 in memory, so a frame of them would allocate many times its
/// size.
fn bounded_recipients<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Recipient>, D::Error> {
    struct Bounded;

    impl<'de> serde::de::Visitor<'de> for Bounded {
        type Value = Vec<Recipient>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "at most {MAX_CONSENT_RECIPIENTS} recipients")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<Recipient>, A::Error> {
            use serde::de::Error as _;
            let too_many = || A::Error::custom("too many recipients");
            if seq.size_hint().is_some_and(|n| n > MAX_CONSENT_RECIPIENTS) {
                return Err(too_many());
            }
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(recipient) = seq.next_element()? {
                if out.len() == MAX_CONSENT_RECIPIENTS {
                    return Err(too_many());
                }
                out.push(recipient);
            }
            Ok(out)
        }
    }

    d.deserialize_seq(Bounded)
}

/// Why a consent is not in force at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotInForce {
    /// Revoked at `at`, at or before the time asked about.
    Revoked {
        /// When it was revoked.
        at: Timestamp,
    },
    /// Not yet recorded at the time asked about.
    NotYetRecorded {
        /// When it was recorded.
        recorded_at: Timestamp,
    },
    /// Not yet valid at the time asked about.
    NotYetValid {
        /// Start of validity.
        valid_from: Timestamp,
    },
    /// Expired at or before the time asked about.
    Expired {
        /// End of validity.
        expires_at: Timestamp,
    },
}

impl fmt::Display for NotInForce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotInForce::Revoked { at } => write!(f, "it was revoked at {at}"),
            NotInForce::NotYetRecorded { recorded_at } => {
                write!(f, "it was only recorded at {recorded_at}")
            }
            NotInForce::NotYetValid { valid_from } => {
                write!(f, "it is valid only from {valid_from}")
            }
            NotInForce::Expired { expires_at } => write!(f, "it expired at {expires_at}"),
        }
    }
}

/// The withdrawal of a consent. A consent revoked at `t` is not in force at any `t' >= t`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRevocation {
    /// The revoked consent.
    pub consent: ConsentId,
    /// When it was revoked.
    pub revoked_at: Timestamp,
    /// The officer who recorded the revocation.
    pub recorded_by: OfficerId,
}

/// A consent grant with what the caller knows of its revocation: what the policy reads.
///
/// The sending node builds these from its [`ConsentRegistry`]; the receiving node builds one
/// from the signed grant carried in the envelope (with `revoked_at: None`, since revocations
/// are the sender's to know and apply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentView<'a> {
    /// The grant.
    pub grant: &'a ConsentGrant,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl ConsentView<'_> {
    /// See [`ConsentGrant::check_in_force`].
    ///
    /// # Errors
    /// The first [`NotInForce`] reason.
    pub fn check_in_force(&self, now: Timestamp) -> Result<(), NotInForce> {
        self.grant.check_in_force(now, self.revoked_at)
    }
}

/// Why the registry refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A consent with this id is already registered (even an identical one: each id is
    /// recorded once).
    #[error("consent {consent} is already registered; a new consent needs a new id")]
    DuplicateConsent {
        /// The id.
        consent: ConsentId,
    },
    /// No consent with this id is registered.
    #[error("no consent {consent} is registered; check the id")]
    UnknownConsent {
        /// The id.
        consent: ConsentId,
    },
    /// The consent is already revoked.
    #[error("consent {consent} was already revoked at {revoked_at}")]
    AlreadyRevoked {
        /// The id.
        consent: ConsentId,
        /// The earlier revocation time.
        revoked_at: Timestamp,
    },
    /// The revocation is dated before the consent was recorded.
    #[error(
        "the revocation of consent {consent} is dated {revoked_at}, before the consent was recorded at {recorded_at}; check the time"
    )]
    RevokedBeforeRecorded {
        /// The id.
        consent: ConsentId,
        /// The revocation time.
        revoked_at: Timestamp,
        /// When the consent was recorded.
        recorded_at: Timestamp,
    },
}

#[derive(Clone, Debug)]
struct Stored {
    grant: ConsentGrant,
    revoked_at: Option<Timestamp>,
}

/// An agency's consents, indexed by id and by subject (`O(log n)` lookups; fine for tens of
/// thousands of consents).
///
/// Rules: each id is added once; a revocation needs a known, unrevoked consent and may not
/// be dated before the consent was recorded. A revocation dated before `valid_from` is
/// allowed — the person withdrew before it began, and it never comes into force — and so is
/// one after expiry (it records the withdrawal; it changes nothing).
#[derive(Clone, Debug, Default)]
pub struct ConsentRegistry {
    grants: BTreeMap<ConsentId, Stored>,
    by_subject: BTreeSet<(SubjectId, ConsentId)>,
}

impl ConsentRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a grant.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateConsent`].
    pub fn add(&mut self, grant: ConsentGrant) -> Result<(), RegistryError> {
        let id = grant.id();
        if self.grants.contains_key(&id) {
            return Err(RegistryError::DuplicateConsent { consent: id });
        }
        self.by_subject.insert((grant.subject(), id));
        self.grants.insert(
            id,
            Stored {
                grant,
                revoked_at: None,
            },
        );
        Ok(())
    }

    /// Records a revocation.
    ///
    /// # Errors
    /// [`RegistryError::UnknownConsent`], [`RegistryError::AlreadyRevoked`],
    /// [`RegistryError::RevokedBeforeRecorded`].
    pub fn revoke(&mut self, revocation: &ConsentRevocation) -> Result<(), RegistryError> {
        let consent = revocation.consent;
        let Some(stored) = self.grants.get_mut(&consent) else {
            return Err(RegistryError::UnknownConsent { consent });
        };
        if let Some(revoked_at) = stored.revoked_at {
            return Err(RegistryError::AlreadyRevoked {
                consent,
                revoked_at,
            });
        }
        if revocation.revoked_at < stored.grant.recorded_at() {
            return Err(RegistryError::RevokedBeforeRecorded {
                consent,
                revoked_at: revocation.revoked_at,
                recorded_at: stored.grant.recorded_at(),
            });
        }
        stored.revoked_at = Some(revocation.revoked_at);
        Ok(())
    }

    /// The consent with this id, with its revocation time.
    pub fn get(&self, id: ConsentId) -> Option<ConsentView<'_>> {
        self.grants.get(&id).map(|s| ConsentView {
            grant: &s.grant,
            revoked_at: s.revoked_at,
        })
    }

    /// Every consent about `subject`, in ascending id order, with revocation times: what
    /// [`PolicyContext::consents`](crate::PolicyContext) takes.
    pub fn views_for(&self, subject: SubjectId) -> Vec<ConsentView<'_>> {
        self.by_subject
            .range((subject, ConsentId::MIN)..=(subject, ConsentId::MAX))
            .filter_map(|(_, id)| self.get(*id))
            .collect()
    }

    /// The consents about `subject` in force at `t`, in ascending id order.
    pub fn in_force(
        &self,
        subject: SubjectId,
        t: Timestamp,
    ) -> impl Iterator<Item = &ConsentGrant> + '_ {
        self.by_subject
            .range((subject, ConsentId::MIN)..=(subject, ConsentId::MAX))
            .filter_map(|(_, id)| self.grants.get(id))
            .filter(move |s| s.grant.check_in_force(t, s.revoked_at).is_ok())
            .map(|s| &s.grant)
    }

    /// How many consents are registered.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether no consent is registered.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Purpose;

    fn terms() -> ConsentTerms {
        ConsentTerms {
            id: ConsentId::from_bytes([1; 16]),
            subject: SubjectId::from_bytes([2; 16]),
            granted_by: Grantor::Subject,
            recipients: vec![Recipient::Role(Role::Health), Recipient::Role(Role::Health)],
            categories: CategorySet::from(Category::Medical),
            purposes: PurposeSet::from(Purpose::Assistance),
            valid_from: Timestamp(100),
            expires_at: Timestamp(200),
            evidence_hash: [3; 32],
            recorded_by: OfficerId::new("officer-1").unwrap(),
            recorded_at: Timestamp(90),
        }
    }

    #[test]
    fn recipients_over_the_cap_are_refused_while_decoding() {
        /// The wire layout of a grant (the fields of `ConsentGrant`, in order), without its
        /// checks.
        #[derive(Serialize)]
        struct Unchecked {
            id: ConsentId,
            subject: SubjectId,
            granted_by: Grantor,
            recipients: Vec<Recipient>,
            categories: CategorySet,
            purposes: PurposeSet,
            valid_from: Timestamp,
            expires_at: Timestamp,
            evidence_hash: [u8; 32],
            recorded_by: OfficerId,
            recorded_at: Timestamp,
        }
        let encode = |recipients: Vec<Recipient>| {
            let t = terms();
            postcard::to_allocvec(&Unchecked {
                id: t.id,
                subject: t.subject,
                granted_by: t.granted_by,
                recipients,
                categories: t.categories,
                purposes: t.purposes,
                valid_from: t.valid_from,
                expires_at: t.expires_at,
                evidence_hash: t.evidence_hash,
                recorded_by: t.recorded_by,
                recorded_at: t.recorded_at,
            })
            .unwrap()
        };
        let agencies = |n: usize| {
            (0..n)
                .map(|i| Recipient::Agency(AgencyId::new(format!("agency-{i:03}")).unwrap()))
                .collect::<Vec<_>>()
        };
        let at_cap = encode(agencies(MAX_CONSENT_RECIPIENTS));
        let grant: ConsentGrant = postcard::from_bytes(&at_cap).unwrap();
        assert_eq!(grant.recipients().len(), MAX_CONSENT_RECIPIENTS);
        let over = encode(agencies(MAX_CONSENT_RECIPIENTS + 1));
        assert!(postcard::from_bytes::<ConsentGrant>(&over).is_err());
        // 100 000 role recipients announced (two bytes each on the wire).
        let many = encode(vec![Recipient::Role(Role::Health); 100_000]);
        assert!(postcard::from_bytes::<ConsentGrant>(&many).is_err());
    }

    #[test]
    fn grants_validate() {
        let g = ConsentGrant::new(terms()).unwrap();
        assert_eq!(g.recipients().len(), 1);
        let mut t = terms();
        t.categories = CategorySet::from(Category::ShelterLocation);
        assert!(matches!(
            ConsentGrant::new(t),
            Err(ConsentError::ProtectionCategory { .. })
        ));
        let mut t = terms();
        t.categories = CategorySet::of(&[Category::Medical, Category::Identity]);
        assert!(matches!(
            ConsentGrant::new(t),
            Err(ConsentError::NotAssistanceCategory { .. })
        ));
        let mut t = terms();
        t.expires_at = Timestamp(100);
        assert!(matches!(
            ConsentGrant::new(t),
            Err(ConsentError::EmptyValidity { .. })
        ));
        let mut t = terms();
        t.recipients.clear();
        assert!(matches!(
            ConsentGrant::new(t),
            Err(ConsentError::NoRecipients)
        ));
        let mut t = terms();
        t.purposes = PurposeSet::new();
        assert!(matches!(
            ConsentGrant::new(t),
            Err(ConsentError::NoPurposes)
        ));
    }

    #[test]
    fn in_force_window() {
        let g = ConsentGrant::new(terms()).unwrap();
        assert!(matches!(
            g.check_in_force(Timestamp(95), None),
            Err(NotInForce::NotYetValid { .. })
        ));
        assert!(matches!(
            g.check_in_force(Timestamp(80), None),
            Err(NotInForce::NotYetRecorded { .. })
        ));
        assert!(g.check_in_force(Timestamp(100), None).is_ok());
        assert!(g.check_in_force(Timestamp(199), None).is_ok());
        assert!(matches!(
            g.check_in_force(Timestamp(200), None),
            Err(NotInForce::Expired { .. })
        ));
        assert!(matches!(
            g.check_in_force(Timestamp(150), Some(Timestamp(150))),
            Err(NotInForce::Revoked { .. })
        ));
        assert!(
            g.check_in_force(Timestamp(149), Some(Timestamp(150)))
                .is_ok()
        );
    }

    #[test]
    fn registry_rules() {
        let mut reg = ConsentRegistry::new();
        let g = ConsentGrant::new(terms()).unwrap();
        reg.add(g.clone()).unwrap();
        assert!(matches!(
            reg.add(g.clone()),
            Err(RegistryError::DuplicateConsent { .. })
        ));
        let subject = g.subject();
        assert_eq!(reg.in_force(subject, Timestamp(150)).count(), 1);
        assert_eq!(
            reg.in_force(SubjectId::from_bytes([9; 16]), Timestamp(150))
                .count(),
            0
        );
        let officer = OfficerId::new("officer-1").unwrap();
        let early = ConsentRevocation {
            consent: g.id(),
            revoked_at: Timestamp(10),
            recorded_by: officer.clone(),
        };
        assert!(matches!(
            reg.revoke(&early),
            Err(RegistryError::RevokedBeforeRecorded { .. })
        ));
        let unknown = ConsentRevocation {
            consent: ConsentId::from_bytes([7; 16]),
            revoked_at: Timestamp(150),
            recorded_by: officer.clone(),
        };
        assert!(matches!(
            reg.revoke(&unknown),
            Err(RegistryError::UnknownConsent { .. })
        ));
        // Revoking before valid_from is allowed: it then never comes into force.
        let rev = ConsentRevocation {
            consent: g.id(),
            revoked_at: Timestamp(95),
            recorded_by: officer,
        };
        reg.revoke(&rev).unwrap();
        assert!(matches!(
            reg.revoke(&rev),
            Err(RegistryError::AlreadyRevoked { .. })
        ));
        assert_eq!(reg.in_force(subject, Timestamp(150)).count(), 0);
        assert_eq!(reg.views_for(subject).len(), 1);
        assert_eq!(reg.get(g.id()).unwrap().revoked_at, Some(Timestamp(95)));
    }
}
