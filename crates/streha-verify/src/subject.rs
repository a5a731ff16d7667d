//! The subject view (Art. 20.2.6: the victim's right to privacy and confidentiality): which
//! agencies received which categories about one pseudonymous subject, when, and under which
//! basis — and never anything that points to a shelter, a protector or an assistant
//! (Art. 18.4).
//!
//! How Art. 18.4 is ensured is documented on [`subject_view`].

use std::collections::BTreeMap;

use serde::Serialize;
use streha_audit::LogBundle;
use streha_core::{
    AuditEntryRef, BasisRef, CategoryGroup, DisclosureHeaderRef, EnvelopeId, Purpose, Role,
    SubjectId,
};
use streha_wire::Roster;

use crate::borrowed::agency_named;
use crate::directory::Directory;
use crate::integrity::check_log;

/// The `format` field of every subject view.
pub const SUBJECT_VIEW_FORMAT: &str = "streha-subject-view/v1";

/// The roles whose disclosures a subject view may show (as sender and as recipient): public
/// authorities that neither shelter nor protect. See [`subject_view`].
pub const SHOWN_ROLES: &[Role] = &[
    Role::Police,
    Role::Prosecution,
    Role::Court,
    Role::CentreForSocialWork,
    Role::Health,
    Role::Education,
    Role::LabourInspectorate,
    Role::Immigration,
    Role::ConsularMission,
    Role::NationalAuthority,
    Role::CompensationCommission,
    Role::ForeignAuthority,
];

/// The notice every subject view carries, word for word.
pub const SUBJECT_VIEW_NOTICE: &str = "This view lists disclosures between public authorities \
only. By law (Art. 18.4 of Law No. 04/L-218) it never shows anything about shelters, \
protection measures, or the persons who protect or assist, and it does not say whether any \
such record exists. Ask the data-protection officer for a complete account.";

/// What the logs say about one subject, safe to hand to the subject (see [`subject_view`]
/// for what is left out and why).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SubjectView {
    /// Always [`SUBJECT_VIEW_FORMAT`].
    pub format: &'static str,
    /// The pseudonymous subject id (hex).
    pub subject: String,
    /// The disclosures shown, oldest first.
    pub disclosures: Vec<SubjectDisclosure>,
    /// Whether every bundle was a roster member's, fully covered by node-signed checkpoints
    /// whose roots match. If not, only the signed, matching part was read; run
    /// [`verify`](crate::verify) for the details.
    pub logs_verified: bool,
    /// [`SUBJECT_VIEW_NOTICE`].
    pub notice: &'static str,
}

/// One disclosure about the subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SubjectDisclosure {
    /// The day it was made (`YYYY-MM-DD`, UTC).
    pub date: String,
    /// The sending agency.
    pub sender: String,
    /// Its role.
    pub sender_role: String,
    /// The receiving agency.
    pub recipient: String,
    /// Its role.
    pub recipient_role: String,
    /// The categories of information.
    pub categories: Vec<String>,
    /// Why.
    pub purpose: String,
    /// `consent <id>`, `exchange agreement`, or both.
    pub basis: String,
    /// `received` (the recipient logged it) or `sent` (only the sender's log shows it).
    pub status: &'static str,
}

/// The subject view of `subject` from these bundles: which agencies received which
/// categories about the subject, when, and under which basis (Art. 20.2.6).
///
/// Pure and total: any bundle content gives a view, never a panic.
///
/// # How Art. 18.4 is ensured
///
/// A disclosure is shown only if **all** of these hold; otherwise it is left out entirely,
/// and the view does not say whether anything was left out (not even a count):
///
/// 1. **Both** its sender and its recipient are roster agencies whose role is in
///    [`SHOWN_ROLES`], an allow-list of public authorities. Left out are, in particular,
///    `licensed_ngo` (licensed NGOs run the shelters, Art. 33.3–33.4),
///    `international_organization` (they run shelters and assistance programmes, Art. 45.2),
///    `municipality` (municipal shelter and assistance services, Art. 33.2) and
///    `victim_advocate` ("persons that provide assistance", Art. 18.4, 20.8); any role added
///    later is left out until it is added to the list on purpose; an agency the roster does
///    not know is left out. The sender counts as much as the recipient: "the shelter sent
///    your identity to the police" points to the shelter as surely as the reverse.
/// 2. Its purpose is not `urgent_danger`: an Art. 45.3 exchange is made "in order to take
///    appropriate protection measures", so that it happened is itself protection data.
/// 3. It declares no protection category (never lawful; a finding of the verifier).
/// 4. It is covered by a node-signed checkpoint whose root matches (what the log did not
///    sign is not shown).
///
/// What a shown disclosure reveals: the date (day only, not the time), the two agencies and
/// their roles, the categories, the purpose, and the basis as `consent <id>` and/or `exchange
/// agreement` — **not** the agreement clause ids, which are free text the national authority
/// chooses. Re-keying (Art. 18.5, itself a protection measure) is never shown, and a view of
/// one id never mentions another: the view of an old id does not lead to the new one.
#[must_use]
pub fn subject_view(bundles: &[LogBundle], roster: &Roster, subject: SubjectId) -> SubjectView {
    let dir = Directory::new(roster);
    let mut logs_verified = true;
    // Envelope id → (created_at, disclosure); a `received` replaces a `disclosed`.
    let mut shown: BTreeMap<EnvelopeId, (u64, SubjectDisclosure)> = BTreeMap::new();
    for (i, bundle) in bundles.iter().enumerate() {
        let mut findings = Vec::new();
        let log = check_log(i, bundle, &dir, 0, &mut findings);
        if log.node.is_none()
            || !log.roots_ok
            || log.vouched < log.tree.size()
            || findings
                .iter()
                .any(|f| f.severity >= crate::Severity::Error)
        {
            logs_verified = false;
        }
        if log.node.is_none() {
            continue;
        }
        let vouched = usize::try_from(log.vouched).unwrap_or(usize::MAX);
        for entry in log.entries.iter().take(vouched).flatten() {
            let (header, basis, status) = match entry {
                AuditEntryRef::Disclosed { header, basis, .. } => (header, basis, "sent"),
                AuditEntryRef::Received { header, basis, .. } => (header, basis, "received"),
                _ => continue,
            };
            if header.subject != subject {
                continue;
            }
            let Some(row) = row(roster, header, basis, status) else {
                continue;
            };
            match shown.get(&header.envelope_id) {
                Some((_, existing)) if existing.status == "received" => {}
                _ => {
                    shown.insert(header.envelope_id, (header.created_at.unix_millis(), row));
                }
            }
        }
    }
    let mut disclosures: Vec<(u64, SubjectDisclosure)> = shown.into_values().collect();
    disclosures.sort_by_key(|a| a.0);
    SubjectView {
        format: SUBJECT_VIEW_FORMAT,
        subject: subject.to_string(),
        disclosures: disclosures.into_iter().map(|(_, d)| d).collect(),
        logs_verified,
        notice: SUBJECT_VIEW_NOTICE,
    }
}

/// The row for a disclosure, or `None` if it must not be shown (Art. 18.4).
fn row(
    roster: &Roster,
    header: &DisclosureHeaderRef<'_>,
    basis: &BasisRef<'_>,
    status: &'static str,
) -> Option<SubjectDisclosure> {
    let shown = |role: Role| SHOWN_ROLES.contains(&role);
    let sender_role = agency_named(roster, header.sender.as_str())?.role;
    let recipient_role = agency_named(roster, header.recipient.as_str())?.role;
    if !shown(sender_role)
        || !shown(recipient_role)
        || header.purpose == Purpose::UrgentDanger
        || !header
            .categories
            .in_group(CategoryGroup::Protection)
            .is_empty()
    {
        return None;
    }
    let basis = match basis {
        BasisRef::Consent(id) => format!("consent {id}"),
        BasisRef::Agreement(_) => "exchange agreement".to_owned(),
        BasisRef::ConsentAndAgreement { consent, .. } => {
            format!("consent {consent} and exchange agreement")
        }
    };
    let created = header.created_at.to_string();
    Some(SubjectDisclosure {
        date: crate::report::day(&created).to_owned(),
        sender: header.sender.to_string(),
        sender_role: sender_role.to_string(),
        recipient: header.recipient.to_string(),
        recipient_role: recipient_role.to_string(),
        categories: header.categories.iter().map(|c| c.to_string()).collect(),
        purpose: header.purpose.to_string(),
        basis,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_roles_exclude_those_that_shelter_protect_or_assist() {
        for role in [
            Role::LicensedNgo,
            Role::InternationalOrganization,
            Role::Municipality,
            Role::VictimAdvocate,
        ] {
            assert!(!SHOWN_ROLES.contains(&role), "{role}");
        }
        // Every role is either shown or deliberately withheld: a new role fails this test
        // until someone decides.
        assert_eq!(SHOWN_ROLES.len() + 4, Role::ALL.len());
    }
}
