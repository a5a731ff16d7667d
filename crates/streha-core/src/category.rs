//! Record categories (Art. 18.3, 18.4, 35.1.5) and the sets over them.

/// A name (of a category, role, purpose or age status) that is not in the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} name; see spec/policy.md for the list of names")]
pub struct UnknownName {
    /// Which vocabulary was searched.
    pub kind: &'static str,
}

vocabulary! {
    /// The category of a record field. Every field of a record carries one; the policy decides
    /// per category.
    ///
    /// Grouped by [`CategoryGroup`]; the wire tag's high nibble is the group (0x0_ identification,
    /// 0x1_ case, 0x2_ assistance, 0x3_ protection), but the normative mapping is
    /// [`Category::group`]. Tags are stable and never reused.
    Category, "category" {
        /// Name, date and place of birth, sex, nationality: who the person is.
        Identity = 0x01, "identity";
        /// Address, telephone, e-mail: how to reach the person.
        Contact = 0x02, "contact";
        /// Passport, identity card, travel and residence documents.
        IdentityDocuments = 0x03, "identity_documents";
        /// Summary of the case: how the person was found, indicators, history.
        CaseSummary = 0x10, "case_summary";
        /// Information for a criminal investigation: statements, suspects, evidence references.
        Investigation = 0x11, "investigation";
        /// Victim status: presumed or identified victim (Art. 3.1.17, 12), reflection period.
        VictimStatus = 0x12, "victim_status";
        /// Referral within the national referral mechanism (Art. 3.1.13, 31.3).
        Referral = 0x13, "referral";
        /// Medical assistance (Art. 18.3, 31.1): confidential.
        Medical = 0x20, "medical";
        /// Psychological assistance (Art. 18.3, 31.1): confidential.
        Psychological = 0x21, "psychological";
        /// Legal assistance (Art. 18.3, 20.8, 31.1): confidential.
        LegalAssistance = 0x22, "legal_assistance";
        /// Social and other assistance or services (Art. 18.3, 31.1): confidential.
        SocialAssistance = 0x23, "social_assistance";
        /// State protection measures for the victim (Art. 18.4, 18.6): never disclosed.
        ProtectionMeasures = 0x30, "protection_measures";
        /// Identity of persons who provide protection (Art. 18.4): never disclosed.
        ProtectorIdentity = 0x31, "protector_identity";
        /// Identity of persons who provide assistance in fighting trafficking (Art. 18.4):
        /// never disclosed.
        AssistantIdentity = 0x32, "assistant_identity";
        /// Location of a shelter or safe accommodation (Art. 18.4, 18.6, 19): never disclosed.
        ShelterLocation = 0x33, "shelter_location";
    }
}

/// The group a category belongs to: what a rule of the policy names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CategoryGroup {
    /// Who the person is and how to reach them. Identifying: for a child, only to
    /// recipients inside the exchange agreement (Art. 35.1.5, 38.9).
    Identification,
    /// The case and its investigation; exchanged under the agreement (Art. 18.2, 45.1).
    Case,
    /// Information exchanged between the victim and a professional giving medical,
    /// psychological, legal or other assistance: confidential, only with consent (Art. 18.3).
    Assistance,
    /// Protection measures and the persons who protect or assist: never disclosed
    /// (Art. 18.4, 18.6).
    Protection,
}

impl Category {
    /// The group of this category. This mapping is the normative one.
    pub const fn group(self) -> CategoryGroup {
        use Category::*;
        match self {
            Identity | Contact | IdentityDocuments => CategoryGroup::Identification,
            CaseSummary | Investigation | VictimStatus | Referral => CategoryGroup::Case,
            Medical | Psychological | LegalAssistance | SocialAssistance => {
                CategoryGroup::Assistance
            }
            ProtectionMeasures | ProtectorIdentity | AssistantIdentity | ShelterLocation => {
                CategoryGroup::Protection
            }
        }
    }

    /// Whether the category identifies the person or enables identification
    /// (Art. 35.1.5): the [`CategoryGroup::Identification`] group.
    pub const fn is_identifying(self) -> bool {
        matches!(self.group(), CategoryGroup::Identification)
    }

    /// Whether the category is confidential assistance data (Art. 18.3).
    pub const fn is_assistance(self) -> bool {
        matches!(self.group(), CategoryGroup::Assistance)
    }

    /// Whether the category is protection data that is never disclosed (Art. 18.4).
    pub const fn is_protection(self) -> bool {
        matches!(self.group(), CategoryGroup::Protection)
    }
}

vocabulary! {
    /// A category that can appear in a disclosure: every [`Category`] except the protection
    /// group, which this type cannot represent (Art. 18.4). Record fields are tagged with it,
    /// so protection data has no way into a record by type. Same tags and names as
    /// [`Category`]; a protection tag is an unknown tag here.
    DisclosableCategory, "disclosable category" {
        /// See [`Category::Identity`].
        Identity = 0x01, "identity";
        /// See [`Category::Contact`].
        Contact = 0x02, "contact";
        /// See [`Category::IdentityDocuments`].
        IdentityDocuments = 0x03, "identity_documents";
        /// See [`Category::CaseSummary`].
        CaseSummary = 0x10, "case_summary";
        /// See [`Category::Investigation`].
        Investigation = 0x11, "investigation";
        /// See [`Category::VictimStatus`].
        VictimStatus = 0x12, "victim_status";
        /// See [`Category::Referral`].
        Referral = 0x13, "referral";
        /// See [`Category::Medical`].
        Medical = 0x20, "medical";
        /// See [`Category::Psychological`].
        Psychological = 0x21, "psychological";
        /// See [`Category::LegalAssistance`].
        LegalAssistance = 0x22, "legal_assistance";
        /// See [`Category::SocialAssistance`].
        SocialAssistance = 0x23, "social_assistance";
    }
}

impl From<DisclosableCategory> for Category {
    fn from(c: DisclosableCategory) -> Category {
        // Same tags by construction (checked by a unit test).
        match Category::from_tag(c.tag()) {
            Some(cat) => cat,
            None => unreachable_category(),
        }
    }
}

#[cold]
fn unreachable_category() -> Category {
    // Every DisclosableCategory tag is a Category tag; the unit test
    // `disclosable_is_category_minus_protection` pins this. Returning a protection category
    // here would be refused by every rule, so even a broken table fails closed.
    Category::ProtectionMeasures
}

/// The error of `DisclosableCategory::try_from(Category)`: the category is protection data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "category `{0}` is protection data and can never be disclosed (Art. 18.4); leave it out of the record"
)]
pub struct ProtectionCategoryError(pub Category);

impl TryFrom<Category> for DisclosableCategory {
    type Error = ProtectionCategoryError;
    fn try_from(c: Category) -> Result<Self, ProtectionCategoryError> {
        if c.is_protection() {
            return Err(ProtectionCategoryError(c));
        }
        DisclosableCategory::from_tag(c.tag()).ok_or(ProtectionCategoryError(c))
    }
}

tag_set! {
    /// A set of categories: canonical (ascending tags, no duplicates), bounded by the
    /// vocabulary (at most 15 values), `Copy`.
    CategorySet of Category
}

impl CategorySet {
    /// The categories of this set that belong to `group`.
    pub fn in_group(self, group: CategoryGroup) -> CategorySet {
        self.iter().filter(|c| c.group() == group).collect()
    }

    /// Every category of `group`.
    pub fn group(group: CategoryGroup) -> CategorySet {
        Category::ALL
            .iter()
            .copied()
            .filter(|c| c.group() == group)
            .collect()
    }
}

impl From<DisclosableCategory> for CategorySet {
    fn from(c: DisclosableCategory) -> Self {
        CategorySet::from(Category::from(c))
    }
}

impl FromIterator<DisclosableCategory> for CategorySet {
    fn from_iter<I: IntoIterator<Item = DisclosableCategory>>(iter: I) -> Self {
        iter.into_iter().map(Category::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disclosable_is_category_minus_protection() {
        for c in Category::ALL {
            match DisclosableCategory::try_from(*c) {
                Ok(d) => {
                    assert!(!c.is_protection());
                    assert_eq!(Category::from(d), *c);
                    assert_eq!(d.as_str(), c.as_str());
                    assert_eq!(d.tag(), c.tag());
                }
                Err(e) => {
                    assert!(c.is_protection());
                    assert_eq!(e.0, *c);
                }
            }
        }
        assert_eq!(
            DisclosableCategory::ALL.len() + CategorySet::group(CategoryGroup::Protection).len(),
            Category::ALL.len()
        );
    }

    #[test]
    fn tags_fit_the_bit_mask_and_ascend() {
        let mut last = 0;
        for c in Category::ALL {
            assert!(c.tag() < 64 && c.tag() > last);
            last = c.tag();
            assert_eq!(Category::from_tag(c.tag()), Some(*c));
            assert_eq!(c.as_str().parse::<Category>().unwrap(), *c);
        }
    }

    #[test]
    fn set_encoding_is_canonical() {
        let set = CategorySet::of(&[Category::Medical, Category::Identity]);
        let bytes = postcard::to_stdvec(&set).unwrap();
        assert_eq!(bytes, vec![2, 0x01, 0x20]);
        assert_eq!(postcard::from_bytes::<CategorySet>(&bytes).unwrap(), set);
        // Out of order, duplicate, unknown tag: refused.
        assert!(postcard::from_bytes::<CategorySet>(&[2, 0x20, 0x01]).is_err());
        assert!(postcard::from_bytes::<CategorySet>(&[2, 0x01, 0x01]).is_err());
        assert!(postcard::from_bytes::<CategorySet>(&[1, 0x3f]).is_err());
        assert_eq!(set.to_string(), "{identity, medical}");
    }

    /// A set a person writes (TOML, JSON) is a set: any order, written back canonically; a
    /// repeated or unknown name is refused, naming it and (if unknown) the valid names. The
    /// binary form stays canonical-only (`set_encoding_is_canonical`).
    #[test]
    fn human_written_sets_take_any_order_and_errors_name_the_value() {
        let set: CategorySet = serde_json::from_str(r#"["medical", "identity"]"#).unwrap();
        assert_eq!(
            set,
            CategorySet::of(&[Category::Identity, Category::Medical])
        );
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["identity","medical"]"#
        );
        let err = serde_json::from_str::<CategorySet>(r#"["medical", "medical"]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`medical` is listed twice"), "{err}");
        let err = serde_json::from_str::<CategorySet>(r#"["identity", "medicall"]"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown category `medicall`; one of: identity, contact"),
            "{err}"
        );
        assert!(err.contains("shelter_location"), "{err}");
    }

    #[test]
    fn disclosable_rejects_protection_tags_on_the_wire() {
        assert!(postcard::from_bytes::<DisclosableCategory>(&[0x33]).is_err());
        assert_eq!(
            postcard::from_bytes::<DisclosableCategory>(&[0x20]).unwrap(),
            DisclosableCategory::Medical
        );
    }
}
