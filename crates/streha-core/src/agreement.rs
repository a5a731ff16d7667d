//! The exchange agreement (Art. 18.2, 45.1) and the federation: the policy-relevant part of
//! the roster.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::category::{Category, CategorySet};
use crate::ids::{AgencyId, ClauseId};
use crate::role::{Purpose, PurposeSet, Role};

/// The most clauses in one agreement.
pub const MAX_CLAUSES: usize = 256;
/// The most agencies in one federation.
pub const MAX_AGENCIES: usize = 4096;

/// Why an agreement clause, an agreement or a federation could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgreementError {
    /// A clause names no category.
    #[error("clause `{clause}` names no category; name at least one")]
    EmptyCategories {
        /// The clause.
        clause: ClauseId,
    },
    /// A clause names no purpose.
    #[error("clause `{clause}` names no purpose; name at least one")]
    EmptyPurposes {
        /// The clause.
        clause: ClauseId,
    },
    /// A clause names an assistance category: those move only with the victim's consent
    /// (Art. 18.3), never under the agreement.
    #[error(
        "clause `{clause}` names the assistance category `{category}`: assistance information moves only with the victim's consent (Art. 18.3), never under the agreement; remove it from the clause"
    )]
    AssistanceCategory {
        /// The clause.
        clause: ClauseId,
        /// The offending category.
        category: Category,
    },
    /// A clause names a protection category: those are never disclosed (Art. 18.4).
    #[error(
        "clause `{clause}` names the protection category `{category}`, which can never be disclosed (Art. 18.4); remove it from the clause"
    )]
    ProtectionCategory {
        /// The clause.
        clause: ClauseId,
        /// The offending category.
        category: Category,
    },
    /// Two clauses share an id.
    #[error("two clauses have the id `{clause}`; clause ids must be unique")]
    DuplicateClause {
        /// The repeated id.
        clause: ClauseId,
    },
    /// More than [`MAX_CLAUSES`] clauses.
    #[error("the agreement has more than {max} clauses")]
    TooManyClauses {
        /// The cap.
        max: usize,
    },
    /// The agency is already a member.
    #[error("agency `{agency}` is already a member of the federation")]
    DuplicateAgency {
        /// The agency.
        agency: AgencyId,
    },
    /// More than [`MAX_AGENCIES`] agencies.
    #[error("the federation has more than {max} agencies")]
    TooManyAgencies {
        /// The cap.
        max: usize,
    },
}

/// One clause of the exchange agreement: agencies of role `recipient` may receive the
/// `categories` for any of the `purposes` (Art. 18.2, 45.1).
///
/// A clause never names an assistance category (those need consent, Art. 18.3) or a
/// protection category (never disclosed, Art. 18.4): [`AgreementClause::new`] and
/// deserialization refuse it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgreementClause {
    id: ClauseId,
    recipient: Role,
    categories: CategorySet,
    purposes: PurposeSet,
}

impl AgreementClause {
    /// A clause, validated.
    ///
    /// # Errors
    /// [`AgreementError::EmptyCategories`], [`AgreementError::EmptyPurposes`],
    /// [`AgreementError::ProtectionCategory`], [`AgreementError::AssistanceCategory`].
    pub fn new(
        id: ClauseId,
        recipient: Role,
        categories: CategorySet,
        purposes: PurposeSet,
    ) -> Result<Self, AgreementError> {
        if categories.is_empty() {
            return Err(AgreementError::EmptyCategories { clause: id });
        }
        if purposes.is_empty() {
            return Err(AgreementError::EmptyPurposes { clause: id });
        }
        if let Some(category) = categories.iter().find(|c| c.is_protection()) {
            return Err(AgreementError::ProtectionCategory {
                clause: id,
                category,
            });
        }
        if let Some(category) = categories.iter().find(|c| c.is_assistance()) {
            return Err(AgreementError::AssistanceCategory {
                clause: id,
                category,
            });
        }
        Ok(AgreementClause {
            id,
            recipient,
            categories,
            purposes,
        })
    }

    /// The clause id.
    pub fn id(&self) -> &ClauseId {
        &self.id
    }

    /// The role of agencies that may receive under this clause.
    pub fn recipient(&self) -> Role {
        self.recipient
    }

    /// The categories the clause allows (never assistance or protection).
    pub fn categories(&self) -> CategorySet {
        self.categories
    }

    /// The purposes the clause allows.
    pub fn purposes(&self) -> PurposeSet {
        self.purposes
    }

    /// Whether the clause allows `category` to an agency of `role` for `purpose`.
    pub fn allows(&self, role: Role, purpose: Purpose, category: Category) -> bool {
        self.recipient == role
            && self.purposes.contains(purpose)
            && self.categories.contains(category)
    }
}

impl<'de> Deserialize<'de> for AgreementClause {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Unknown fields are refused: a misspelt field must not silently vanish.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            id: ClauseId,
            recipient: Role,
            categories: CategorySet,
            purposes: PurposeSet,
        }
        let r = Raw::deserialize(d)?;
        AgreementClause::new(r.id, r.recipient, r.categories, r.purposes)
            .map_err(serde::de::Error::custom)
    }
}

/// The exchange agreement between the member agencies (Art. 18.2, 45.1): which roles may
/// receive which non-assistance categories for which purposes. Carried in the signed roster.
///
/// Clauses are kept sorted by id (unique), so the agreement has one canonical encoding: a
/// postcard sequence of clauses in ascending id order, at most [`MAX_CLAUSES`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExchangeAgreement {
    clauses: Vec<AgreementClause>,
}

impl ExchangeAgreement {
    /// An agreement from its clauses (in any order).
    ///
    /// # Errors
    /// [`AgreementError::DuplicateClause`], [`AgreementError::TooManyClauses`].
    pub fn new(clauses: Vec<AgreementClause>) -> Result<Self, AgreementError> {
        if clauses.len() > MAX_CLAUSES {
            return Err(AgreementError::TooManyClauses { max: MAX_CLAUSES });
        }
        let mut clauses = clauses;
        clauses.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(w) = clauses.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(AgreementError::DuplicateClause {
                clause: w[0].id.clone(),
            });
        }
        Ok(ExchangeAgreement { clauses })
    }

    /// The clauses, in ascending id order.
    pub fn clauses(&self) -> &[AgreementClause] {
        &self.clauses
    }

    /// The clause with the smallest id that allows `category` to `role` for `purpose`.
    pub fn clause_for(
        &self,
        role: Role,
        purpose: Purpose,
        category: Category,
    ) -> Option<&AgreementClause> {
        self.clauses
            .iter()
            .find(|c| c.allows(role, purpose, category))
    }
}

impl<'de> Deserialize<'de> for ExchangeAgreement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        struct Raw {
            clauses: Vec<AgreementClause>,
        }
        let raw = Raw::deserialize(d)?;
        if raw.clauses.windows(2).any(|w| w[0].id >= w[1].id) {
            return Err(D::Error::custom(
                "clauses not in strictly ascending id order",
            ));
        }
        ExchangeAgreement::new(raw.clauses).map_err(D::Error::custom)
    }
}

/// The policy-relevant part of the roster: the member agencies with their roles, and the
/// exchange agreement. The signed roster document (keys, addresses, signature) is built on
/// top of it by another crate.
///
/// Encoded as: the agencies as a postcard sequence of `(agency id, role tag)` pairs in
/// strictly ascending id order (at most [`MAX_AGENCIES`]), then the agreement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Federation {
    agencies: BTreeMap<AgencyId, Role>,
    agreement: ExchangeAgreement,
}

impl Federation {
    /// A federation with no agencies yet, under `agreement`.
    pub fn new(agreement: ExchangeAgreement) -> Self {
        Federation {
            agencies: BTreeMap::new(),
            agreement,
        }
    }

    /// Adds a member agency with its role.
    ///
    /// # Errors
    /// [`AgreementError::DuplicateAgency`], [`AgreementError::TooManyAgencies`].
    pub fn add_agency(&mut self, agency: AgencyId, role: Role) -> Result<(), AgreementError> {
        if self.agencies.contains_key(&agency) {
            return Err(AgreementError::DuplicateAgency { agency });
        }
        if self.agencies.len() >= MAX_AGENCIES {
            return Err(AgreementError::TooManyAgencies { max: MAX_AGENCIES });
        }
        self.agencies.insert(agency, role);
        Ok(())
    }

    /// Adds a member agency, builder style.
    ///
    /// # Errors
    /// As [`Federation::add_agency`].
    pub fn with_agency(mut self, agency: AgencyId, role: Role) -> Result<Self, AgreementError> {
        self.add_agency(agency, role)?;
        Ok(self)
    }

    /// The role of a member agency, or `None` if it is not a member.
    pub fn role_of(&self, agency: &AgencyId) -> Option<Role> {
        self.agencies.get(agency).copied()
    }

    /// The member agencies and their roles, in ascending id order.
    pub fn agencies(&self) -> impl Iterator<Item = (&AgencyId, Role)> + '_ {
        self.agencies.iter().map(|(a, r)| (a, *r))
    }

    /// The exchange agreement.
    pub fn agreement(&self) -> &ExchangeAgreement {
        &self.agreement
    }
}

impl Serialize for Federation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Raw<'a> {
            agencies: Vec<(&'a AgencyId, Role)>,
            agreement: &'a ExchangeAgreement,
        }
        Raw {
            agencies: self.agencies().collect(),
            agreement: &self.agreement,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Federation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        struct Raw {
            agencies: Vec<(AgencyId, Role)>,
            agreement: ExchangeAgreement,
        }
        let raw = Raw::deserialize(d)?;
        if raw.agencies.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(D::Error::custom(
                "agencies not in strictly ascending id order",
            ));
        }
        let mut f = Federation::new(raw.agreement);
        for (a, r) in raw.agencies {
            f.add_agency(a, r).map_err(D::Error::custom)?;
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(s: &str) -> ClauseId {
        ClauseId::new(s).unwrap()
    }

    #[test]
    fn clauses_refuse_assistance_and_protection() {
        let p = PurposeSet::from(Purpose::Assistance);
        assert!(matches!(
            AgreementClause::new(
                cid("a"),
                Role::Health,
                CategorySet::from(Category::Medical),
                p
            ),
            Err(AgreementError::AssistanceCategory {
                category: Category::Medical,
                ..
            })
        ));
        assert!(matches!(
            AgreementClause::new(
                cid("a"),
                Role::Police,
                CategorySet::of(&[Category::Identity, Category::ShelterLocation]),
                p
            ),
            Err(AgreementError::ProtectionCategory {
                category: Category::ShelterLocation,
                ..
            })
        ));
        assert!(AgreementClause::new(cid("a"), Role::Police, CategorySet::new(), p).is_err());
        assert!(
            AgreementClause::new(
                cid("a"),
                Role::Police,
                Category::Identity.into(),
                PurposeSet::new()
            )
            .is_err()
        );
    }

    #[test]
    fn federation_round_trips_canonically() {
        let clause = AgreementClause::new(
            cid("police-case"),
            Role::Police,
            CategorySet::of(&[Category::Identity, Category::CaseSummary]),
            PurposeSet::from(Purpose::CriminalInvestigationAndProsecution),
        )
        .unwrap();
        let f = Federation::new(ExchangeAgreement::new(vec![clause]).unwrap())
            .with_agency(AgencyId::new("police").unwrap(), Role::Police)
            .unwrap()
            .with_agency(AgencyId::new("csw").unwrap(), Role::CentreForSocialWork)
            .unwrap();
        let bytes = postcard::to_stdvec(&f).unwrap();
        assert_eq!(postcard::from_bytes::<Federation>(&bytes).unwrap(), f);
        assert!(
            ExchangeAgreement::new(vec![
                f.agreement().clauses()[0].clone(),
                f.agreement().clauses()[0].clone()
            ])
            .is_err()
        );
    }
}
