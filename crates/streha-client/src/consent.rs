//! Recording consent (Art. 18.3): the terms an application supplies; the client draws the id.

use streha_core::{
    CategorySet, ConsentGrant, ConsentId, ConsentTerms, Grantor, OfficerId, PurposeSet, Recipient,
    SubjectId, Timestamp,
};

use crate::error::ClientError;

/// The terms of a new consent ([`ConsentTerms`] without its id, which
/// [`Client::grant_consent`](crate::Client::grant_consent) draws at random).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewConsent {
    /// The subject the consent is about.
    pub subject: SubjectId,
    /// Who gave it: the subject, or a registered legal representative (for a child,
    /// only a representative's consent counts, Art. 18.3, 38.5).
    pub granted_by: Grantor,
    /// Whom it allows (agencies or roles).
    pub recipients: Vec<Recipient>,
    /// The assistance categories it covers.
    pub categories: CategorySet,
    /// The purposes it covers.
    pub purposes: PurposeSet,
    /// In force from this time (inclusive).
    pub valid_from: Timestamp,
    /// In force until this time (exclusive).
    pub expires_at: Timestamp,
    /// A hash of the evidence (e.g. the signed consent form) the agency keeps.
    pub evidence_hash: [u8; 32],
    /// The officer who recorded it.
    pub recorded_by: OfficerId,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

impl NewConsent {
    /// Validates the terms under `id`.
    pub(crate) fn into_grant(self, id: ConsentId) -> Result<ConsentGrant, ClientError> {
        ConsentGrant::new(ConsentTerms {
            id,
            subject: self.subject,
            granted_by: self.granted_by,
            recipients: self.recipients,
            categories: self.categories,
            purposes: self.purposes,
            valid_from: self.valid_from,
            expires_at: self.expires_at,
            evidence_hash: self.evidence_hash,
            recorded_by: self.recorded_by,
            recorded_at: self.recorded_at,
        })
        .map_err(ClientError::Consent)
    }
}

#[cfg(test)]
mod tests {
    use streha_core::{Category, ConsentError, Purpose, Role};

    use super::*;
    use crate::test_support::id;

    #[test]
    fn terms_are_validated_locally() {
        let terms = NewConsent {
            subject: SubjectId::from_bytes([1; 16]),
            granted_by: Grantor::Subject,
            recipients: vec![Recipient::Role(Role::CentreForSocialWork)],
            categories: CategorySet::of(&[Category::Medical]),
            purposes: PurposeSet::of(&[Purpose::Assistance]),
            valid_from: Timestamp(1),
            expires_at: Timestamp(2),
            evidence_hash: [0; 32],
            recorded_by: id("officer-1"),
            recorded_at: Timestamp(1),
        };
        let grant = terms
            .clone()
            .into_grant(ConsentId::from_bytes([9; 16]))
            .unwrap();
        assert_eq!(grant.id(), ConsentId::from_bytes([9; 16]));
        let mut protection = terms;
        protection.categories = CategorySet::of(&[Category::ProtectorIdentity]);
        assert!(matches!(
            protection.into_grant(ConsentId::from_bytes([9; 16])),
            Err(ClientError::Consent(
                ConsentError::ProtectionCategory { .. }
            ))
        ));
    }
}
