//! The verifier's reading of entries borrowed from the bundle ([`AuditEntryRef`]): the
//! comparisons, texts and look-ups its checks make on the owned types, made on the borrowed
//! ones without building the owned value (issue 19 item 6). Each gives exactly what the
//! owned operation gives on the entry's [`to_owned`](AuditEntryRef::to_owned) form; the
//! tests below compare them.

use std::fmt;

use streha_core::{Basis, BasisRef, ClauseIdRef, DisclosureHeader, DisclosureHeaderRef};
use streha_wire::{AgencyEntry, Roster};

/// The roster's agency named `id` ([`Roster::agency`], looked up by the name's text).
pub(crate) fn agency_named<'r>(roster: &'r Roster, id: &str) -> Option<&'r AgencyEntry> {
    roster.agencies().iter().find(|a| a.id.as_str() == id)
}

/// `owned == borrowed.to_owned()`, field for field.
pub(crate) fn same_header(owned: &DisclosureHeader, borrowed: &DisclosureHeaderRef<'_>) -> bool {
    owned.envelope_id == borrowed.envelope_id
        && borrowed.sender == owned.sender
        && borrowed.recipient == owned.recipient
        && owned.subject == borrowed.subject
        && owned.categories == borrowed.categories
        && owned.purpose == borrowed.purpose
        && owned.consent == borrowed.consent
        && owned.created_at == borrowed.created_at
        && owned.approvals.len() == borrowed.approvals.as_slice().len()
        && owned
            .approvals
            .iter()
            .zip(borrowed.approvals.as_slice())
            .all(|(o, b)| b.officer == o.officer && o.signature == b.signature)
}

/// `owned == borrowed.to_owned()`.
pub(crate) fn same_basis(owned: &Basis, borrowed: &BasisRef<'_>) -> bool {
    let clauses = |o: &[streha_core::ClauseId], b: &[ClauseIdRef<'_>]| {
        o.len() == b.len() && o.iter().zip(b).all(|(o, b)| *b == *o)
    };
    match (owned, borrowed) {
        (Basis::Consent(o), BasisRef::Consent(b)) => o == b,
        (Basis::Agreement(o), BasisRef::Agreement(b)) => clauses(o, b),
        (
            Basis::ConsentAndAgreement {
                consent: oc,
                clauses: o,
            },
            BasisRef::ConsentAndAgreement {
                consent: bc,
                clauses: b,
            },
        ) => oc == bc && clauses(o, b),
        _ => false,
    }
}

/// A borrowed basis written as [`Basis`]'s `Display` writes its owned form.
pub(crate) struct BasisText<'b, 'a>(pub(crate) &'b BasisRef<'a>);

impl fmt::Display for BasisText<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clauses = |f: &mut fmt::Formatter<'_>, c: &[ClauseIdRef<'_>]| {
            f.write_str("agreement clauses ")?;
            for (i, id) in c.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "`{id}`")?;
            }
            Ok(())
        };
        match self.0 {
            BasisRef::Consent(c) => write!(f, "consent {c}"),
            BasisRef::Agreement(c) => clauses(f, c),
            BasisRef::ConsentAndAgreement {
                consent,
                clauses: c,
            } => {
                write!(f, "consent {consent} and ")?;
                clauses(f, c)
            }
        }
    }
}

/// `consent`, `agreement` or `consent_and_agreement`: the report's `basis_kind`.
pub(crate) fn basis_kind(basis: &BasisRef<'_>) -> &'static str {
    match basis {
        BasisRef::Consent(_) => "consent",
        BasisRef::Agreement(_) => "agreement",
        BasisRef::ConsentAndAgreement { .. } => "consent_and_agreement",
    }
}

#[cfg(test)]
mod tests {
    use streha_core::{
        AgencyId, AuditEntry, AuditEntryRef, Category, CategorySet, ClauseId, ConsentId,
        EnvelopeId, OfficerId, Purpose, SignatureBytes, SubjectId, Timestamp, UrgentApproval,
    };

    use super::*;

    fn header(approvers: &[&str]) -> DisclosureHeader {
        let mut h = DisclosureHeader {
            envelope_id: EnvelopeId::from_bytes([7; 16]),
            sender: AgencyId::new("police-prishtina").unwrap(),
            recipient: AgencyId::new("csw-prishtina").unwrap(),
            subject: SubjectId::from_bytes([9; 16]),
            categories: CategorySet::of(&[Category::Identity, Category::Referral]),
            purpose: Purpose::UrgentDanger,
            consent: None,
            created_at: Timestamp(1_700_000_000_000),
            approvals: streha_core::Approvals::new(),
        };
        for (i, officer) in approvers.iter().enumerate() {
            h.approvals
                .insert(UrgentApproval {
                    officer: OfficerId::new(*officer).unwrap(),
                    signature: SignatureBytes::from_bytes([i as u8; 64]),
                })
                .unwrap();
        }
        h
    }

    fn clauses(ids: &[&str]) -> Vec<ClauseId> {
        ids.iter().map(|c| ClauseId::new(*c).unwrap()).collect()
    }

    fn bases() -> Vec<Basis> {
        let consent = ConsentId::from_bytes([3; 16]);
        let other = ConsentId::from_bytes([4; 16]);
        vec![
            Basis::Consent(consent),
            Basis::Consent(other),
            Basis::Agreement(clauses(&["csw-referral"])),
            Basis::Agreement(clauses(&["csw-referral", "police-identity"])),
            Basis::Agreement(clauses(&["police-identity"])),
            Basis::ConsentAndAgreement {
                consent,
                clauses: clauses(&["csw-referral"]),
            },
            Basis::ConsentAndAgreement {
                consent: other,
                clauses: clauses(&["csw-referral"]),
            },
        ]
    }

    /// The logged bytes of a `disclosed` with `header` and `basis`.
    fn disclosed(header: &DisclosureHeader, basis: &Basis) -> Vec<u8> {
        AuditEntry::Disclosed {
            header: header.clone(),
            basis: basis.clone(),
            urgent_review: false,
            ciphertext_hash: [1; 32],
            at: Timestamp(1_700_000_000_001),
        }
        .encode()
    }

    fn parts<'a>(bytes: &'a [u8]) -> (DisclosureHeaderRef<'a>, BasisRef<'a>) {
        match AuditEntryRef::decode(bytes).unwrap() {
            AuditEntryRef::Disclosed { header, basis, .. } => (header, basis),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_comparison_is_the_owned_one() {
        let mut other_recipient = header(&["officer-a"]);
        other_recipient.recipient = AgencyId::new("shelter-one").unwrap();
        let mut other_time = header(&["officer-a"]);
        other_time.created_at = Timestamp(1);
        // The same officer, another signature.
        let mut other_signature = header(&[]);
        other_signature
            .approvals
            .insert(UrgentApproval {
                officer: OfficerId::new("officer-a").unwrap(),
                signature: SignatureBytes::from_bytes([9; 64]),
            })
            .unwrap();
        let headers = [
            header(&[]),
            header(&["officer-a"]),
            header(&["officer-b"]),
            header(&["officer-a", "officer-b"]),
            other_recipient,
            other_time,
            other_signature,
        ];
        let basis = &bases()[0];
        for a in &headers {
            let bytes = disclosed(a, basis);
            let (borrowed, _) = parts(&bytes);
            for b in &headers {
                assert_eq!(
                    same_header(b, &borrowed),
                    *b == borrowed.to_owned(),
                    "{b:?}"
                );
                assert_eq!(same_header(b, &borrowed), a == b);
            }
        }
    }

    #[test]
    fn basis_comparison_text_and_kind_are_the_owned_ones() {
        let h = header(&[]);
        for a in bases() {
            let bytes = disclosed(&h, &a);
            let (_, borrowed) = parts(&bytes);
            assert_eq!(BasisText(&borrowed).to_string(), a.to_string());
            let owned_kind = match a {
                Basis::Consent(_) => "consent",
                Basis::Agreement(_) => "agreement",
                Basis::ConsentAndAgreement { .. } => "consent_and_agreement",
            };
            assert_eq!(basis_kind(&borrowed), owned_kind);
            for b in bases() {
                assert_eq!(same_basis(&b, &borrowed), a == b, "{a:?} {b:?}");
            }
        }
    }
}
