//! Test-only: a small federation with known keys.

use std::fmt::Debug;
use std::str::FromStr;

use streha_core::{
    AgreementClause, Category, CategorySet, ClauseId, ConsentId, ExchangeAgreement, Purpose,
    PurposeSet, Role, Timestamp,
};
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningSecretKey, NodeIdentitySecretKey, OfficerSecretKey,
    RosterSecretKey,
};
use streha_wire::{AgencyEntry, OfficerEntry, Roster};

/// Parses a test name; panics on a bad one.
pub(crate) fn id<T: FromStr>(s: &str) -> T
where
    T::Err: Debug,
{
    s.parse().unwrap()
}

/// Two agencies, `police` (with officers `officer-1` and `officer-2`) and `csw`, in the
/// federation `test`, signed by `roster_key`.
pub(crate) struct Federation {
    pub(crate) roster_key: RosterSecretKey,
    pub(crate) roster: Roster,
    pub(crate) police_node: NodeIdentitySecretKey,
    pub(crate) police_signing: AgencySigningSecretKey,
    pub(crate) csw_signing: AgencySigningSecretKey,
    pub(crate) csw_encryption: AgencyEncryptionSecretKey,
    pub(crate) officers: [OfficerSecretKey; 2],
    pub(crate) consent: ConsentId,
}

impl Federation {
    pub(crate) fn new() -> Self {
        let police_node = NodeIdentitySecretKey::from_seed_bytes([1; 32]);
        let police_signing = AgencySigningSecretKey::from_seed_bytes([2; 32]);
        let police_encryption = AgencyEncryptionSecretKey::from_seed_bytes([3; 32]);
        let csw_node = NodeIdentitySecretKey::from_seed_bytes([4; 32]);
        let csw_signing = AgencySigningSecretKey::from_seed_bytes([5; 32]);
        let csw_encryption = AgencyEncryptionSecretKey::from_seed_bytes([6; 32]);
        let officers = [
            OfficerSecretKey::from_seed_bytes([7; 32]),
            OfficerSecretKey::from_seed_bytes([8; 32]),
        ];
        let roster_key = RosterSecretKey::from_seed_bytes([9; 32]);
        let police = AgencyEntry {
            id: id("police"),
            role: Role::Police,
            address: "127.0.0.1:7401".into(),
            node_key: police_node.public_key(),
            signing_key: police_signing.public_key(),
            encryption_key: police_encryption.public_key(),
            officers: vec![
                OfficerEntry {
                    id: id("officer-1"),
                    key: officers[0].public_key(),
                },
                OfficerEntry {
                    id: id("officer-2"),
                    key: officers[1].public_key(),
                },
            ],
        };
        let csw = AgencyEntry {
            id: id("csw"),
            role: Role::CentreForSocialWork,
            address: "127.0.0.1:7402".into(),
            node_key: csw_node.public_key(),
            signing_key: csw_signing.public_key(),
            encryption_key: csw_encryption.public_key(),
            officers: vec![],
        };
        let clause = AgreementClause::new(
            ClauseId::new("csw-referral").unwrap(),
            Role::CentreForSocialWork,
            CategorySet::of(&[Category::Identity, Category::Referral]),
            PurposeSet::of(&[Purpose::IdentificationAndReferral, Purpose::Assistance]),
        )
        .unwrap();
        let roster = Roster::new(
            "test.example",
            1,
            Timestamp(1_700_000_000_000),
            vec![police, csw],
            ExchangeAgreement::new(vec![clause]).unwrap(),
        )
        .unwrap();
        Self {
            roster_key,
            roster,
            police_node,
            police_signing,
            csw_signing,
            csw_encryption,
            officers,
            consent: ConsentId::from_bytes([0xc0; 16]),
        }
    }

    /// The roster as a signed note.
    pub(crate) fn signed_roster(&self) -> String {
        self.roster.sign(&self.roster_key).unwrap()
    }
}
