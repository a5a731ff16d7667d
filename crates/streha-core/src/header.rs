//! The disclosure header: the domain facts of one envelope, carried (as the envelope
//! header's opaque `context`) in the clear next to the sealed record, and decided on.

use serde::{Deserialize, Deserializer, Serialize};

use crate::category::CategorySet;
use crate::codec::{self, DecodeError};
use crate::ids::{AgencyId, ConsentId, EnvelopeId, OfficerId, SignatureBytes, SubjectId};
use crate::role::Purpose;
use crate::time::Timestamp;

/// The version byte that starts an encoded [`DisclosureHeader`].
pub const HEADER_VERSION: u8 = 1;
/// The largest encoded header, in bytes.
pub const MAX_HEADER_LEN: usize = 4096;
/// The most urgent-danger approvals one header carries.
pub const MAX_APPROVALS: usize = 8;
/// The domain-separation prefix of the message an approving officer signs
/// (see [`DisclosureHeader::approval_message`]).
pub const APPROVAL_DOMAIN: &[u8] = b"streha/urgent-approval/v1\0";

/// Why an approval could not be added to a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The officer already approved this header.
    #[error(
        "officer `{officer}` has already approved this disclosure; a second approval must come from a different officer"
    )]
    DuplicateApprover {
        /// The officer.
        officer: OfficerId,
    },
    /// The header already carries [`MAX_APPROVALS`] approvals.
    #[error("the disclosure already carries the maximum of {max} approvals")]
    TooManyApprovals {
        /// The cap.
        max: usize,
    },
}

/// One officer's approval of an urgent-danger disclosure (Art. 45.3): the officer's id and
/// their Ed25519 signature over [`DisclosureHeader::approval_message`]. The core does not
/// verify it; the node does, against the officer's key of the sending agency.
///
/// Encoded as: officer (postcard string), signature (64 raw bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrgentApproval {
    /// The approving officer.
    pub officer: OfficerId,
    /// The officer's signature over the approval message.
    pub signature: SignatureBytes,
}

/// The approvals of a header: at most [`MAX_APPROVALS`], one per officer, kept sorted by
/// officer id so the header has one canonical encoding (a postcard sequence in strictly
/// ascending officer order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Approvals(Vec<UrgentApproval>);

impl Approvals {
    /// No approvals.
    pub const fn new() -> Self {
        Approvals(Vec::new())
    }

    /// Adds an approval.
    ///
    /// # Errors
    /// [`HeaderError::DuplicateApprover`], [`HeaderError::TooManyApprovals`].
    pub fn insert(&mut self, approval: UrgentApproval) -> Result<(), HeaderError> {
        match self
            .0
            .binary_search_by(|a| a.officer.cmp(&approval.officer))
        {
            Ok(_) => Err(HeaderError::DuplicateApprover {
                officer: approval.officer,
            }),
            Err(_) if self.0.len() >= MAX_APPROVALS => {
                Err(HeaderError::TooManyApprovals { max: MAX_APPROVALS })
            }
            Err(pos) => {
                self.0.insert(pos, approval);
                Ok(())
            }
        }
    }

    /// Approvals already checked (at most [`MAX_APPROVALS`], strictly ascending officers).
    pub(crate) fn from_checked(approvals: Vec<UrgentApproval>) -> Self {
        Approvals(approvals)
    }

    /// The approvals, sorted by officer.
    pub fn as_slice(&self) -> &[UrgentApproval] {
        &self.0
    }

    /// The approvals, sorted by officer.
    pub fn iter(&self) -> impl Iterator<Item = &UrgentApproval> + '_ {
        self.0.iter()
    }

    /// How many approvals.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Approvals {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = Vec::<UrgentApproval>::deserialize(d)?;
        if raw.len() > MAX_APPROVALS {
            return Err(D::Error::custom("too many approvals"));
        }
        if raw.windows(2).any(|w| w[0].officer >= w[1].officer) {
            return Err(D::Error::custom(
                "approvals not in strictly ascending officer order",
            ));
        }
        Ok(Approvals(raw))
    }
}

/// The domain header of a disclosure: who sends what kind of information about whom to whom,
/// why, and on what consent. It travels in the clear inside the envelope header (as the
/// opaque `context`), is bound to the ciphertext as associated data, is signed by the
/// sending agency, and is what [`decide`](crate::decide) decides on and what the audit log
/// records. It never holds a name or record content.
///
/// Encoding ([`DisclosureHeader::encode`]): the byte [`HEADER_VERSION`], then the postcard
/// encoding of the fields in declaration order; at most [`MAX_HEADER_LEN`] bytes. See
/// `spec/entries.md`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureHeader {
    /// The envelope's id (16 random bytes from the sender).
    pub envelope_id: EnvelopeId,
    /// The sending agency.
    pub sender: AgencyId,
    /// The receiving agency.
    pub recipient: AgencyId,
    /// The subject the record is about.
    pub subject: SubjectId,
    /// The categories the record carries: exactly those, no more, no fewer.
    pub categories: CategorySet,
    /// Why it is disclosed.
    pub purpose: Purpose,
    /// The consent it relies on, if any (needed for assistance categories, Art. 18.3).
    pub consent: Option<ConsentId>,
    /// When the sender built it.
    pub created_at: Timestamp,
    /// Approvals of an urgent-danger disclosure (Art. 45.3); empty otherwise.
    pub approvals: Approvals,
}

impl DisclosureHeader {
    /// The canonical encoding: `HEADER_VERSION ‖ postcard(header)`.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_versioned(HEADER_VERSION, self)
    }

    /// Decodes a header from untrusted bytes; never panics.
    ///
    /// # Errors
    /// [`DecodeError`] when the input is over [`MAX_HEADER_LEN`], of another version,
    /// malformed (unknown category or purpose tag, invalid id, approvals out of order or more
    /// than [`MAX_APPROVALS`]), followed by trailing bytes, or not canonical.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode_versioned("disclosure header", HEADER_VERSION, MAX_HEADER_LEN, bytes)
    }

    /// The bytes each approving officer signs: [`APPROVAL_DOMAIN`] ‖ the encoding of this
    /// header with its approvals emptied. So every approval covers every other field, and
    /// approvals can be collected in any order.
    pub fn approval_message(&self) -> Vec<u8> {
        let mut unapproved = self.clone();
        unapproved.approvals = Approvals::new();
        let mut msg = APPROVAL_DOMAIN.to_vec();
        msg.extend_from_slice(&unapproved.encode());
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Category;

    pub(crate) fn header() -> DisclosureHeader {
        DisclosureHeader {
            envelope_id: EnvelopeId::from_bytes([1; 16]),
            sender: AgencyId::new("police").unwrap(),
            recipient: AgencyId::new("csw").unwrap(),
            subject: SubjectId::from_bytes([2; 16]),
            categories: CategorySet::of(&[Category::Identity, Category::Medical]),
            purpose: Purpose::Assistance,
            consent: Some(ConsentId::from_bytes([3; 16])),
            created_at: Timestamp(1_000),
            approvals: Approvals::new(),
        }
    }

    #[test]
    fn header_round_trip_and_limits() {
        let mut h = header();
        for i in 0..MAX_APPROVALS {
            h.approvals
                .insert(UrgentApproval {
                    officer: OfficerId::new(format!("o{}", "x".repeat(60 - i))).unwrap(),
                    signature: SignatureBytes::from_bytes([i as u8; 64]),
                })
                .unwrap();
        }
        assert!(matches!(
            h.approvals.insert(UrgentApproval {
                officer: OfficerId::new("z").unwrap(),
                signature: SignatureBytes::from_bytes([0; 64]),
            }),
            Err(HeaderError::TooManyApprovals { .. })
        ));
        let bytes = h.encode();
        assert!(bytes.len() <= MAX_HEADER_LEN);
        assert_eq!(DisclosureHeader::decode(&bytes).unwrap(), h);
        // Approvals do not change the approval message.
        assert_eq!(h.approval_message(), header().approval_message());
        assert!(h.approval_message().starts_with(APPROVAL_DOMAIN));
    }

    #[test]
    fn header_decode_refuses_bad_input() {
        let bytes = header().encode();
        assert!(matches!(
            DisclosureHeader::decode(&[]),
            Err(DecodeError::Empty { .. })
        ));
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert!(matches!(
            DisclosureHeader::decode(&v2),
            Err(DecodeError::UnsupportedVersion { found: 2, .. })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            DisclosureHeader::decode(&trailing),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
        for n in 0..bytes.len() {
            assert!(DisclosureHeader::decode(&bytes[..n]).is_err());
        }
        assert!(matches!(
            DisclosureHeader::decode(&vec![1; MAX_HEADER_LEN + 1]),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn header_decode_refuses_overlong_varint() {
        // created_at = 1000 is the varint e8 07; re-encode it over-long as e8 87 00.
        let bytes = header().encode();
        let pos = bytes
            .windows(3)
            .position(|w| w == [0xe8, 0x07, 0x00])
            .expect("created_at followed by empty approvals");
        let mut long = bytes[..pos].to_vec();
        long.extend_from_slice(&[0xe8, 0x87, 0x00]);
        long.extend_from_slice(&bytes[pos + 2..]);
        assert!(matches!(
            DisclosureHeader::decode(&long),
            Err(DecodeError::NonCanonical { .. })
        ));
    }
}
