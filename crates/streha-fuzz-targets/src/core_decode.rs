//! Target `core_decode`: the three versioned documents of `streha-core` that arrive from
//! outside: audit entries (in log bundles and proven entries), disclosure headers (in every
//! envelope) and records (the opened plaintext).

use streha_core::{
    AuditEntry, Basis, CategoryGroup, DisclosureHeader, MAX_APPROVALS, MAX_ENTRY_LEN,
    MAX_HEADER_LEN, MAX_RECORD_LEN, Record,
};

/// Feeds `data` to `AuditEntry::decode`, `DisclosureHeader::decode` and `Record::decode`.
///
/// Asserts: each accepted input is within its size cap and is exactly the canonical
/// encoding of what it decodes to; a record carries no protection category (Art. 18.4: the
/// type cannot hold one) and its fields are sorted and unique; a header's approvals are at
/// most `MAX_APPROVALS`, sorted and distinct by officer; a basis lists its clauses strictly
/// ascending, and an agreement basis names at least one.
pub fn core_decode(data: &[u8]) {
    if let Ok(entry) = AuditEntry::decode(data) {
        assert!(data.len() <= MAX_ENTRY_LEN);
        assert_eq!(entry.encode(), data, "an audit entry is not canonical");
        match &entry {
            AuditEntry::Disclosed { header, basis, .. }
            | AuditEntry::Received { header, basis, .. } => {
                check_header(header);
                check_basis(basis);
            }
            AuditEntry::Refused { header, .. } | AuditEntry::ReceiveRefused { header, .. } => {
                check_header(header);
            }
            _ => {}
        }
        let _ = entry.at();
        let _ = entry.kind_name();
    }
    if let Ok(header) = DisclosureHeader::decode(data) {
        assert!(data.len() <= MAX_HEADER_LEN);
        assert_eq!(header.encode(), data, "a header is not canonical");
        check_header(&header);
    }
    if let Ok(record) = Record::decode(data) {
        assert!(data.len() <= MAX_RECORD_LEN);
        assert_eq!(record.encode(), data, "a record is not canonical");
        assert!(
            record
                .categories()
                .in_group(CategoryGroup::Protection)
                .is_empty(),
            "a record holds a protection category"
        );
        assert!(
            record
                .fields()
                .windows(2)
                .all(|w| { (w[0].category(), w[0].name()) < (w[1].category(), w[1].name()) }),
            "record fields out of order or duplicated"
        );
    }
}

fn check_header(header: &DisclosureHeader) {
    assert!(header.approvals.len() <= MAX_APPROVALS);
    let approvals = header.approvals.as_slice();
    assert!(
        approvals.windows(2).all(|w| w[0].officer < w[1].officer),
        "approvals out of order or duplicated"
    );
    let message = header.approval_message();
    let mut bare = header.clone();
    bare.approvals = streha_core::Approvals::new();
    assert_eq!(message, bare.approval_message());
}

fn check_basis(basis: &Basis) {
    let clauses = basis.clauses();
    assert!(
        clauses.windows(2).all(|w| w[0] < w[1]),
        "basis clauses not strictly ascending"
    );
    if let Basis::Agreement(c) | Basis::ConsentAndAgreement { clauses: c, .. } = basis {
        assert!(!c.is_empty(), "an agreement basis with no clause");
    }
}
