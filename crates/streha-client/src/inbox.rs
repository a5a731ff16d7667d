//! Receiving: the inbox and opening an envelope (DESIGN.md "A disclosure, end to end",
//! step 5).

use streha_core::{
    AgencyId, CategorySet, DisclosureHeader, EnvelopeId, Record, Timestamp, ViolationKind,
};
use streha_crypto::{AgencyEncryptionSecretKey, Envelope};
use streha_wire::Roster;
use streha_wire::app::InboxItem;

use crate::error::ClientError;

/// One envelope waiting in the inbox: header facts only ([`Client::open`] opens it).
///
/// [`Client::open`]: crate::Client::open
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxEntry {
    /// The envelope id.
    pub envelope: EnvelopeId,
    /// Its disclosure header (who sent what kind of information about whom, why).
    pub header: DisclosureHeader,
    /// Index of the node's `received` entry.
    pub received_index: u64,
    /// When the node received it.
    pub received_at: Timestamp,
}

impl InboxEntry {
    pub(crate) fn from_item(item: InboxItem) -> Result<Self, ClientError> {
        let header =
            DisclosureHeader::decode(&item.header).map_err(|e| ClientError::InvalidResponse {
                request: "Inbox",
                problem: format!(
                    "the header of envelope {} does not decode: {e}",
                    item.envelope
                ),
            })?;
        if header.envelope_id != item.envelope {
            return Err(ClientError::InvalidResponse {
                request: "Inbox",
                problem: format!(
                    "the item for envelope {} carries the header of envelope {}",
                    item.envelope, header.envelope_id
                ),
            });
        }
        Ok(Self {
            envelope: item.envelope,
            header,
            received_index: item.received_index,
            received_at: item.received_at,
        })
    }
}

/// A received record, opened and checked: the sender's signature verified against the
/// roster, the content decrypted, and its categories exactly those the header declared.
///
/// `Debug` never prints field values. The record's field values are ordinary `String`s and
/// byte vectors (a `streha_core` type): drop the record as soon as it has been stored where
/// the application keeps such data; the decrypted bytes it was decoded from are zeroized.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenedRecord {
    /// The disclosure header.
    pub header: DisclosureHeader,
    /// The record.
    pub record: Record,
}

/// The outcome of opening a validly signed envelope.
#[derive(Debug)]
pub(crate) enum Opened {
    /// The content holds exactly what the header declared.
    Record(OpenedRecord),
    /// The content breaks the declaration: a violation by the sender.
    Violation {
        sender: AgencyId,
        kind: ViolationKind,
        declared: CategorySet,
        found: CategorySet,
    },
}

/// Opens `envelope` (fetched as `expected`) for `agency` with its encryption key, checking
/// the sender against the roster and the content against the header (sans-IO).
pub(crate) fn open_envelope(
    envelope: &Envelope,
    expected: EnvelopeId,
    agency: &AgencyId,
    key: &AgencyEncryptionSecretKey,
    roster: &Roster,
) -> Result<Opened, ClientError> {
    let invalid = |problem: String| ClientError::InvalidResponse {
        request: "Fetch",
        problem,
    };
    let header = DisclosureHeader::decode(&envelope.header.context).map_err(|e| {
        invalid(format!(
            "the disclosure header of envelope {expected} does not decode: {e}"
        ))
    })?;
    if header.envelope_id != expected {
        return Err(invalid(format!(
            "asked for envelope {expected}, received envelope {}",
            header.envelope_id
        )));
    }
    if header.recipient != *agency {
        return Err(invalid(format!(
            "envelope {expected} is addressed to `{}`, not to this agency",
            header.recipient
        )));
    }
    let sender = roster
        .agency(&header.sender)
        .ok_or_else(|| ClientError::UnknownSender {
            envelope: expected,
            agency: header.sender.clone(),
        })?;
    // Every check of spec/envelope.md, against the sender's key from the roster.
    let plaintext =
        envelope
            .open(key, &sender.signing_key)
            .map_err(|source| ClientError::Envelope {
                envelope: expected,
                source,
            })?;
    let declared = header.categories;
    let violation = |kind, found| Opened::Violation {
        sender: header.sender.clone(),
        kind,
        declared,
        found,
    };
    let record = match Record::decode(&plaintext) {
        Ok(record) => record,
        Err(_) => {
            return Ok(violation(
                ViolationKind::UndecodableContent,
                CategorySet::new(),
            ));
        }
    };
    drop(plaintext);
    let found = record.categories();
    if found != declared {
        return Ok(violation(ViolationKind::CategoryMismatch, found));
    }
    Ok(Opened::Record(OpenedRecord { header, record }))
}

#[cfg(test)]
mod tests {
    use streha_core::{Approvals, Category, DisclosableCategory, Field, Purpose, SubjectId};

    use super::*;
    use crate::test_support::{Federation, id};

    fn header(categories: CategorySet) -> DisclosureHeader {
        DisclosureHeader {
            envelope_id: EnvelopeId::from_bytes([5; 16]),
            sender: id("police"),
            recipient: id("csw"),
            subject: SubjectId::from_bytes([7; 16]),
            categories,
            purpose: Purpose::Assistance,
            consent: None,
            created_at: Timestamp(1),
            approvals: Approvals::new(),
        }
    }

    /// What a dishonest sender seals: any header, any plaintext.
    fn raw(f: &Federation, header: &DisclosureHeader, plaintext: &[u8]) -> Envelope {
        streha_crypto::seal(
            &f.police_signing,
            &f.csw_encryption.public_key(),
            &header.encode(),
            plaintext,
        )
        .unwrap()
    }

    #[test]
    fn a_mismatch_is_a_violation() {
        let f = Federation::new();
        let record = Record::new()
            .with(Field::text(DisclosableCategory::Identity, "name", "x").unwrap())
            .unwrap()
            .with(Field::text(DisclosableCategory::Medical, "diagnosis", "y").unwrap())
            .unwrap();
        // Declares identity only, carries medical too.
        let declared = CategorySet::of(&[Category::Identity]);
        let envelope = raw(&f, &header(declared), &record.encode());
        let opened = open_envelope(
            &envelope,
            EnvelopeId::from_bytes([5; 16]),
            &id("csw"),
            &f.csw_encryption,
            &f.roster,
        )
        .unwrap();
        let Opened::Violation {
            sender,
            kind,
            declared: d,
            found,
        } = opened
        else {
            panic!("not a violation")
        };
        assert_eq!(sender, id("police"));
        assert_eq!(kind, ViolationKind::CategoryMismatch);
        assert_eq!(d, declared);
        assert_eq!(found, record.categories());

        // Not a record at all (here: a protection tag no honest client can encode).
        let protection = [1, 1, 0x33, 1, b'x', 0, 1, b'y'];
        let envelope = raw(&f, &header(declared), &protection);
        let opened = open_envelope(
            &envelope,
            EnvelopeId::from_bytes([5; 16]),
            &id("csw"),
            &f.csw_encryption,
            &f.roster,
        )
        .unwrap();
        assert!(matches!(
            opened,
            Opened::Violation {
                kind: ViolationKind::UndecodableContent,
                ..
            }
        ));
    }

    #[test]
    fn envelopes_that_do_not_fit_are_refused() {
        let f = Federation::new();
        let record = Record::new()
            .with(Field::text(DisclosableCategory::Identity, "name", "x").unwrap())
            .unwrap();
        let h = header(record.categories());
        let envelope = raw(&f, &h, &record.encode());
        let id5 = EnvelopeId::from_bytes([5; 16]);

        // Asked for another id.
        assert!(matches!(
            open_envelope(
                &envelope,
                EnvelopeId::from_bytes([6; 16]),
                &id("csw"),
                &f.csw_encryption,
                &f.roster
            ),
            Err(ClientError::InvalidResponse { .. })
        ));
        // Addressed to another agency.
        assert!(matches!(
            open_envelope(&envelope, id5, &id("police"), &f.csw_encryption, &f.roster),
            Err(ClientError::InvalidResponse { .. })
        ));
        // A sender outside the roster.
        let mut stranger = h.clone();
        stranger.sender = id("stranger");
        let envelope_from_stranger = raw(&f, &stranger, &record.encode());
        assert!(matches!(
            open_envelope(
                &envelope_from_stranger,
                id5,
                &id("csw"),
                &f.csw_encryption,
                &f.roster
            ),
            Err(ClientError::UnknownSender { .. })
        ));
        // A header naming the police but signed by someone else's key.
        let mut forged = envelope.clone();
        forged.header.sender = f.csw_signing.public_key();
        assert!(matches!(
            open_envelope(&forged, id5, &id("csw"), &f.csw_encryption, &f.roster),
            Err(ClientError::Envelope { .. })
        ));
        // Altered ciphertext.
        let mut altered = envelope.clone();
        altered.ciphertext[0] ^= 1;
        assert!(matches!(
            open_envelope(&altered, id5, &id("csw"), &f.csw_encryption, &f.roster),
            Err(ClientError::Envelope { .. })
        ));
    }

    #[test]
    fn inbox_items_decode_and_match() {
        let h = header(CategorySet::of(&[Category::Identity]));
        let item = InboxItem {
            envelope: h.envelope_id,
            header: h.encode(),
            received_index: 3,
            received_at: Timestamp(9),
        };
        let entry = InboxEntry::from_item(item.clone()).unwrap();
        assert_eq!(entry.header, h);
        let mut wrong = item.clone();
        wrong.envelope = EnvelopeId::from_bytes([0; 16]);
        assert!(InboxEntry::from_item(wrong).is_err());
        let mut garbage = item;
        garbage.header = vec![1, 2, 3];
        assert!(InboxEntry::from_item(garbage).is_err());
    }
}
