//! Roles of member agencies (Art. 6, 33.3, 45) and purposes of a disclosure.

vocabulary! {
    /// The role of a member agency: one of the authorities of Art. 6, a licensed NGO
    /// (Art. 33.3), or a cooperation partner (Art. 32, 45). The exchange agreement names roles,
    /// not agencies, so a new agency of an existing role needs no new clause.
    Role, "role" {
        /// Kosovo Police (Art. 6.1.2; official identification, Art. 12.1).
        Police = 1, "police";
        /// State Prosecutor (Art. 6.1.14; official identification, Art. 12.1).
        Prosecution = 2, "prosecution";
        /// Courts (Art. 6.1.15).
        Court = 3, "court";
        /// Office for protection and assistance to victims, victim advocates
        /// (Art. 6.1.16, 12.1, 20.8).
        VictimAdvocate = 4, "victim_advocate";
        /// Centres for social work, including guardianship (Art. 6.1.9, 12.1, 38.4, 38.5).
        CentreForSocialWork = 5, "centre_for_social_work";
        /// Health authorities and institutions (Art. 6.1.10, 31.2).
        Health = 6, "health";
        /// Education authorities and schools (Art. 6.1.6, 38.10).
        Education = 7, "education";
        /// Labour inspectorate (Art. 12.3, 45.1).
        LabourInspectorate = 8, "labour_inspectorate";
        /// Border police and immigration (Art. 6.1.1, 12.3, 45.1).
        Immigration = 9, "immigration";
        /// Municipalities and their directorates (Art. 6.1.17, 33.2).
        Municipality = 10, "municipality";
        /// Diplomatic missions and consular offices of Kosovo (Art. 6.1.11, 32).
        ConsularMission = 11, "consular_mission";
        /// The National Authority, the National Coordinator and the Secretariat (Art. 7, 8).
        NationalAuthority = 12, "national_authority";
        /// The compensation commission (Art. 3.1.14, 39).
        CompensationCommission = 13, "compensation_commission";
        /// A non-governmental organisation licensed to provide services to victims,
        /// e.g. a shelter (Art. 33.3).
        LicensedNgo = 14, "licensed_ngo";
        /// An international organisation with an office in Kosovo (Art. 7.3, 45.2).
        InternationalOrganization = 15, "international_organization";
        /// An authority of another country (return, Art. 30; urgent danger, Art. 45.3;
        /// agreements, Art. 45.5).
        ForeignAuthority = 16, "foreign_authority";
    }
}

vocabulary! {
    /// Why a disclosure is made. Consents and agreement clauses name purposes; a disclosure
    /// states exactly one.
    Purpose, "purpose" {
        /// Identification of the victim and referral to services (Art. 12, 31.3, 3.1.13).
        IdentificationAndReferral = 1, "identification_and_referral";
        /// Providing assistance and protection to the victim (Art. 20, 31, 38).
        Assistance = 2, "assistance";
        /// Criminal investigation and prosecution (Art. 18.2, 45.1).
        CriminalInvestigationAndProsecution = 3, "criminal_investigation_and_prosecution";
        /// Compensation of the victim (Art. 39 to 44).
        Compensation = 4, "compensation";
        /// Voluntary return and repatriation (Art. 30, 32, 37).
        Return = 5, "return";
        /// The life, freedom or physical integrity of a presumed victim is in danger in another
        /// country: exchange without delay (Art. 45.3). Needs two approving officers and is
        /// flagged for review.
        UrgentDanger = 6, "urgent_danger";
        /// Notifying and working with guardianship institutions for a child (Art. 38.4, 38.5).
        ChildGuardianship = 7, "child_guardianship";
        /// Search for missing persons, in particular missing children (Art. 45.4).
        MissingPersonSearch = 8, "missing_person_search";
    }
}

tag_set! {
    /// A set of purposes: canonical (ascending tags, no duplicates), `Copy`.
    PurposeSet of Purpose
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_fit_and_names_round_trip() {
        for r in Role::ALL {
            assert!(r.tag() < 64);
            assert_eq!(r.as_str().parse::<Role>().unwrap(), *r);
        }
        for p in Purpose::ALL {
            assert!(p.tag() < 64);
            assert_eq!(p.as_str().parse::<Purpose>().unwrap(), *p);
        }
        assert!("sheriff".parse::<Role>().is_err());
    }
}
