//! Building, approving and sealing a disclosure (DESIGN.md "A disclosure, end to end",
//! steps 1–2).
//!
//! The states are types, each transition consumes the previous state:
//!
//! ```text
//! Client::disclosure ─▶ DisclosureBuilder ──prepare / urgent_approval──▶ PreparedDisclosure
//!    (subject, recipient,   .field(DisclosableCategory, …)      (header fixed: envelope id,
//!     purpose, now)         .consent(id)                         time, categories; officers
//!                                                                approve it) ──seal──▶ SealedDisclosure
//! ```
//!
//! A builder takes fields only as [`DisclosableCategory`], a type with no protection
//! category (Art. 18.4); sealing checks again at run time.

use streha_core::{
    AgencyId, CategoryGroup, CategorySet, ConsentId, DisclosableCategory, DisclosureHeader,
    EnvelopeId, Field, OfficerId, Purpose, Record, SignatureBytes, SubjectId, Timestamp,
    UrgentApproval,
};
use streha_crypto::{
    AgencySigningSecretKey, Envelope, OfficerPublicKey, OfficerSecretKey, Signature,
};
use streha_wire::Roster;
use zeroize::Zeroizing;

use crate::client::Client;
use crate::error::ClientError;

/// A disclosure being built: its subject, recipient and purpose, the record's typed fields,
/// and the consent it relies on. Made by [`Client::disclosure`].
///
/// Fields are tagged with a [`DisclosableCategory`], so a protection category cannot be
/// named at all:
///
/// ```compile_fail
/// # fn f(builder: streha_client::DisclosureBuilder) {
/// use streha_client::streha_core::Category;
/// // A `Category` is not a `DisclosableCategory`: this does not compile.
/// let _ = builder.field(Category::ShelterLocation, "address", "…");
/// # }
/// ```
///
/// `Debug` shows field names and categories, never values.
#[derive(Debug, Clone)]
pub struct DisclosureBuilder {
    sender: AgencyId,
    subject: SubjectId,
    recipient: AgencyId,
    purpose: Purpose,
    consent: Option<ConsentId>,
    created_at: Timestamp,
    record: Record,
}

impl DisclosureBuilder {
    pub(crate) fn new(
        sender: AgencyId,
        subject: SubjectId,
        recipient: AgencyId,
        purpose: Purpose,
        created_at: Timestamp,
    ) -> Self {
        Self {
            sender,
            subject,
            recipient,
            purpose,
            consent: None,
            created_at,
            record: Record::new(),
        }
    }

    /// Adds a text field.
    ///
    /// # Errors
    /// [`ClientError::Record`]: an invalid name (1 to 64 of `a-z 0-9 _ . -`, starting with
    /// a letter), a value over 256 KiB, a duplicate (category, name), too many fields, or a
    /// record over 1 MiB.
    pub fn field(
        self,
        category: DisclosableCategory,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, ClientError> {
        self.with_field(Field::text(category, name, value).map_err(ClientError::Record)?)
    }

    /// Adds a bytes field (e.g. a scanned document).
    ///
    /// # Errors
    /// As [`field`](Self::field).
    pub fn bytes_field(
        self,
        category: DisclosableCategory,
        name: impl Into<String>,
        value: impl Into<Vec<u8>>,
    ) -> Result<Self, ClientError> {
        self.with_field(Field::bytes(category, name, value).map_err(ClientError::Record)?)
    }

    /// Adds a field built elsewhere.
    ///
    /// # Errors
    /// As [`field`](Self::field).
    pub fn with_field(mut self, field: Field) -> Result<Self, ClientError> {
        self.record.insert(field).map_err(ClientError::Record)?;
        Ok(self)
    }

    /// Names the consent the disclosure relies on (needed for assistance categories,
    /// Art. 18.3).
    #[must_use]
    pub fn consent(mut self, consent: ConsentId) -> Self {
        self.consent = Some(consent);
        self
    }

    /// The categories the record carries so far (what the header will declare).
    pub fn categories(&self) -> CategorySet {
        self.record.categories()
    }

    /// Fixes the header: draws a new envelope id ([`envelope_id_at`] of the disclosure's
    /// time) and declares exactly the record's categories. After this, fields can no longer
    /// change, and officers can approve.
    ///
    /// # Errors
    /// [`ClientError::Randomness`]; [`ClientError::ProtectionCategory`] (cannot happen
    /// through this type; checked anyway).
    pub fn prepare(self) -> Result<PreparedDisclosure, ClientError> {
        let envelope_id = envelope_id_at(self.created_at, crate::random_16()?);
        self.prepare_with_id(envelope_id)
    }

    pub(crate) fn prepare_with_id(
        self,
        envelope_id: EnvelopeId,
    ) -> Result<PreparedDisclosure, ClientError> {
        let header = DisclosureHeader {
            envelope_id,
            sender: self.sender,
            recipient: self.recipient,
            subject: self.subject,
            categories: self.record.categories(),
            purpose: self.purpose,
            consent: self.consent,
            created_at: self.created_at,
            approvals: streha_core::Approvals::new(),
        };
        check_disclosable(&header, &self.record)?;
        Ok(PreparedDisclosure {
            header,
            record: self.record,
        })
    }

    /// Prepares the disclosure and adds `officer`'s approval of it (urgent danger,
    /// Art. 45.3: two distinct officers of the sending agency must approve).
    ///
    /// # Errors
    /// As [`prepare`](Self::prepare).
    pub fn urgent_approval(
        self,
        officer: OfficerId,
        key: &OfficerSecretKey,
    ) -> Result<PreparedDisclosure, ClientError> {
        self.prepare()?.urgent_approval(officer, key)
    }

    /// Prepares and seals the disclosure for `client`'s agency.
    ///
    /// # Errors
    /// As [`prepare`](Self::prepare) and [`PreparedDisclosure::seal`].
    pub fn seal(self, client: &Client) -> Result<SealedDisclosure, ClientError> {
        self.prepare()?.seal(client)
    }
}

/// A disclosure whose header is fixed (envelope id, time, categories): officers approve
/// it, then it is sealed.
///
/// `Debug` shows the header and field names, never values.
#[derive(Debug, Clone)]
pub struct PreparedDisclosure {
    header: DisclosureHeader,
    record: Record,
}

impl PreparedDisclosure {
    /// The header as it will be sealed (approvals included).
    pub fn header(&self) -> &DisclosureHeader {
        &self.header
    }

    /// The record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The bytes an approving officer signs ([`DisclosureHeader::approval_message`]); send
    /// them to an officer who signs elsewhere with [`sign_urgent_approval`].
    pub fn approval_message(&self) -> Vec<u8> {
        self.header.approval_message()
    }

    /// Adds `officer`'s approval, signed here with `key`.
    ///
    /// # Errors
    /// [`ClientError::Approval`] if the officer already approved or the header holds the
    /// maximum of approvals.
    pub fn urgent_approval(
        self,
        officer: OfficerId,
        key: &OfficerSecretKey,
    ) -> Result<Self, ClientError> {
        let approval = sign_urgent_approval(&self.header, officer, key);
        self.add_approval(approval)
    }

    /// Adds an approval signed elsewhere ([`sign_urgent_approval`]). Its signature is
    /// checked against the roster when sealing.
    ///
    /// # Errors
    /// [`ClientError::Approval`] if the officer already approved or the header holds the
    /// maximum of approvals.
    pub fn add_approval(mut self, approval: UrgentApproval) -> Result<Self, ClientError> {
        self.header
            .approvals
            .insert(approval)
            .map_err(ClientError::Approval)?;
        Ok(self)
    }

    /// Seals the record to the recipient's encryption key from `client`'s roster, signed
    /// with the agency signing key.
    ///
    /// # Errors
    /// [`ClientError::ProtectionCategory`], [`ClientError::DeclarationMismatch`],
    /// [`ClientError::WrongSender`], [`ClientError::UnknownOfficer`],
    /// [`ClientError::InvalidApproval`], [`ClientError::UnknownRecipient`],
    /// [`ClientError::RecipientIsSender`], [`ClientError::Seal`].
    pub fn seal(self, client: &Client) -> Result<SealedDisclosure, ClientError> {
        client.seal(self)
    }
}

/// A sealed disclosure, ready to submit. Submitting is idempotent by envelope id: keep it to
/// resubmit after a timeout, and the node records it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedDisclosure {
    header: DisclosureHeader,
    envelope: Envelope,
}

impl SealedDisclosure {
    /// A sealed disclosure from its envelope, as an application kept it before submitting
    /// (e.g. on disk, to submit the very same envelope again after a restart: the node's
    /// idempotency is by envelope, and sealing the record again would make another one).
    /// Nothing is sealed again; the node checks the envelope as for any submission.
    ///
    /// # Errors
    /// [`ClientError::InvalidArgument`] if the envelope does not carry a disclosure header;
    /// [`ClientError::ProtectionCategory`] if its header declares a protection category.
    pub fn from_envelope(envelope: Envelope) -> Result<Self, ClientError> {
        let header = DisclosureHeader::decode(&envelope.header.context).map_err(|_| {
            ClientError::InvalidArgument("the envelope does not carry a disclosure header")
        })?;
        if let Some(category) = header
            .categories
            .in_group(CategoryGroup::Protection)
            .first()
        {
            return Err(ClientError::ProtectionCategory { category });
        }
        Ok(Self { header, envelope })
    }

    /// The envelope id.
    pub fn envelope_id(&self) -> EnvelopeId {
        self.header.envelope_id
    }

    /// The disclosure header (as sealed in the envelope).
    pub fn header(&self) -> &DisclosureHeader {
        &self.header
    }

    /// The sealed envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// BLAKE3 of the ciphertext: what the audit log records of the content.
    pub fn ciphertext_hash(&self) -> &[u8; 32] {
        &self.envelope.ciphertext_hash
    }
}

/// What [`Client::submit`] accepts: a disclosure in any state. Sealed: implemented only by
/// this crate's disclosure types.
pub trait Sealable: private::Sealed {
    /// Prepares and seals the disclosure for `client` (a sealed one is returned as it is).
    ///
    /// # Errors
    /// As [`DisclosureBuilder::prepare`] and [`PreparedDisclosure::seal`].
    fn into_sealed(self, client: &Client) -> Result<SealedDisclosure, ClientError>;
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::DisclosureBuilder {}
    impl Sealed for super::PreparedDisclosure {}
    impl Sealed for super::SealedDisclosure {}
    impl Sealed for &super::SealedDisclosure {}
}

impl Sealable for DisclosureBuilder {
    fn into_sealed(self, client: &Client) -> Result<SealedDisclosure, ClientError> {
        self.seal(client)
    }
}

impl Sealable for PreparedDisclosure {
    fn into_sealed(self, client: &Client) -> Result<SealedDisclosure, ClientError> {
        self.seal(client)
    }
}

impl Sealable for SealedDisclosure {
    fn into_sealed(self, _client: &Client) -> Result<SealedDisclosure, ClientError> {
        Ok(self)
    }
}

impl Sealable for &SealedDisclosure {
    fn into_sealed(self, _client: &Client) -> Result<SealedDisclosure, ClientError> {
        Ok(self.clone())
    }
}

/// The result of a submission the node accepted: the policy allowed it, the `disclosed`
/// entry is durable in the node's log at `index`, and the envelope is queued for delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Submitted {
    /// The envelope.
    pub envelope: EnvelopeId,
    /// Index of the `disclosed` entry in the node's audit log.
    pub index: u64,
}

/// An officer's approval of an urgent-danger disclosure (Art. 45.3): their signature over
/// [`DisclosureHeader::approval_message`] (which covers every header field except the
/// approvals, so approvals can be collected in any order).
pub fn sign_urgent_approval(
    header: &DisclosureHeader,
    officer: OfficerId,
    key: &OfficerSecretKey,
) -> UrgentApproval {
    let signature = key.sign(&header.approval_message());
    UrgentApproval {
        officer,
        signature: SignatureBytes::from_bytes(signature.to_bytes()),
    }
}

/// Checks an approval of `header` under the officer's public key.
///
/// # Errors
/// [`ClientError::InvalidApproval`] if the signature does not verify.
pub fn verify_urgent_approval(
    header: &DisclosureHeader,
    approval: &UrgentApproval,
    key: &OfficerPublicKey,
) -> Result<(), ClientError> {
    key.verify(
        &header.approval_message(),
        &Signature::from_bytes(approval.signature.to_bytes()),
    )
    .map_err(|_| ClientError::InvalidApproval {
        officer: approval.officer.clone(),
    })
}

/// The run-time twin of the type rule: no protection category (Art. 18.4, 18.6) in the
/// header or the record, and the header declares exactly the record's categories.
pub(crate) fn check_disclosable(
    header: &DisclosureHeader,
    record: &Record,
) -> Result<(), ClientError> {
    let found = record.categories();
    if let Some(category) = header
        .categories
        .union(found)
        .in_group(CategoryGroup::Protection)
        .first()
    {
        return Err(ClientError::ProtectionCategory { category });
    }
    if header.categories != found {
        return Err(ClientError::DeclarationMismatch {
            declared: header.categories,
            found,
        });
    }
    Ok(())
}

/// Seals a prepared disclosure (sans-IO: the keys and the roster are arguments).
pub(crate) fn seal_prepared(
    prepared: PreparedDisclosure,
    agency: &AgencyId,
    signing_key: &AgencySigningSecretKey,
    roster: &Roster,
) -> Result<SealedDisclosure, ClientError> {
    let PreparedDisclosure { header, record } = prepared;
    check_disclosable(&header, &record)?;
    if header.sender != *agency {
        return Err(ClientError::WrongSender {
            sender: header.sender,
            agency: agency.clone(),
        });
    }
    let sender = roster
        .agency(agency)
        .ok_or_else(|| ClientError::AgencyNotInRoster {
            agency: agency.clone(),
            version: roster.version(),
        })?;
    for approval in header.approvals.iter() {
        let key =
            sender
                .officer_key(&approval.officer)
                .ok_or_else(|| ClientError::UnknownOfficer {
                    officer: approval.officer.clone(),
                    agency: agency.clone(),
                })?;
        verify_urgent_approval(&header, approval, key)?;
    }
    if header.recipient == *agency {
        return Err(ClientError::RecipientIsSender {
            agency: agency.clone(),
        });
    }
    let recipient =
        roster
            .agency(&header.recipient)
            .ok_or_else(|| ClientError::UnknownRecipient {
                agency: header.recipient.clone(),
            })?;
    let plaintext = Zeroizing::new(record.encode());
    let envelope = streha_crypto::seal(
        signing_key,
        &recipient.encryption_key,
        &header.encode(),
        &plaintext,
    )
    .map_err(ClientError::Seal)?;
    Ok(SealedDisclosure { header, envelope })
}

/// A new envelope id for a disclosure created at `created_at`: the time's 48 low bits of
/// milliseconds, big-endian, then 80 bits of `random` (`spec/entries.md`, "Ids").
///
/// Both nodes index their per-envelope records by this id, and the store's memory grows by
/// far less per record when new keys arrive in order than when they land on random pages
/// (issue 19, `BENCHMARKS.md`). The time is already in the header beside the id, so the
/// prefix discloses nothing the header does not; 80 random bits keep ids of one millisecond
/// apart. A receiving node does not rely on the order: a peer's ids may be anything.
#[must_use]
pub fn envelope_id_at(created_at: Timestamp, random: [u8; 16]) -> EnvelopeId {
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&created_at.unix_millis().to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&random[..10]);
    EnvelopeId::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use streha_core::{Category, Record};
    use streha_crypto::AgencyEncryptionSecretKey;

    use super::*;
    use crate::inbox::{Opened, open_envelope};
    use crate::test_support::{Federation, id};

    fn builder(f: &Federation, purpose: Purpose) -> DisclosureBuilder {
        DisclosureBuilder::new(
            id("police"),
            SubjectId::from_bytes([7; 16]),
            id("csw"),
            purpose,
            Timestamp(1_750_000_000_000),
        )
        .consent(f.consent)
    }

    /// Envelope ids sort by their disclosures' times (the store's memory depends on it) and
    /// keep 80 random bits: ids drawn in one millisecond differ.
    #[test]
    fn envelope_ids_are_ordered_by_time_and_random_within_a_millisecond() {
        let at = Timestamp(1_750_000_000_000);
        let id = envelope_id_at(at, [0xab; 16]);
        assert_eq!(&id.as_bytes()[..6], &at.unix_millis().to_be_bytes()[2..]);
        assert_eq!(&id.as_bytes()[6..], &[0xab; 10]);
        let later = envelope_id_at(Timestamp(at.unix_millis() + 1), [0x00; 16]);
        assert!(later.as_bytes() > id.as_bytes());

        let f = Federation::new();
        let draw = || {
            builder(&f, Purpose::Assistance)
                .field(DisclosableCategory::Identity, "name", "value")
                .unwrap()
                .prepare()
                .unwrap()
                .header()
                .envelope_id
        };
        let (first, second) = (draw(), draw());
        assert_eq!(first.as_bytes()[..6], second.as_bytes()[..6]);
        assert_ne!(first, second, "80 random bits each");
    }

    #[test]
    fn no_category_the_builder_takes_is_a_protection_category() {
        let f = Federation::new();
        for (i, category) in DisclosableCategory::ALL.iter().enumerate() {
            let prepared = builder(&f, Purpose::Assistance)
                .field(*category, format!("f{i}"), "value")
                .unwrap()
                .prepare()
                .unwrap();
            let header = prepared.header();
            assert_eq!(header.categories, CategorySet::from(*category));
            assert!(
                header
                    .categories
                    .in_group(CategoryGroup::Protection)
                    .is_empty()
            );
        }
        // Every disclosable category at once.
        let mut all = builder(&f, Purpose::Assistance);
        for (i, category) in DisclosableCategory::ALL.iter().enumerate() {
            all = all.field(*category, format!("f{i}"), "v").unwrap();
        }
        let header = all.prepare().unwrap().header().clone();
        assert_eq!(header.categories.len(), DisclosableCategory::ALL.len());
        assert!(!header.categories.iter().any(Category::is_protection));
    }

    #[test]
    fn the_run_time_check_catches_a_forged_header() {
        let f = Federation::new();
        let prepared = builder(&f, Purpose::Assistance)
            .field(DisclosableCategory::Medical, "diagnosis", "…")
            .unwrap()
            .prepare()
            .unwrap();
        let (mut header, record) = (prepared.header.clone(), prepared.record.clone());
        assert!(check_disclosable(&header, &record).is_ok());

        // A header forged to declare a protection category (not reachable through the API).
        header.categories = CategorySet::of(&[Category::Medical, Category::ShelterLocation]);
        assert!(matches!(
            check_disclosable(&header, &record),
            Err(ClientError::ProtectionCategory {
                category: Category::ShelterLocation
            })
        ));
        let forged = PreparedDisclosure {
            header: header.clone(),
            record: record.clone(),
        };
        assert!(matches!(
            seal_prepared(forged, &id("police"), &f.police_signing, &f.roster),
            Err(ClientError::ProtectionCategory { .. })
        ));

        // A header that under-declares.
        header.categories = CategorySet::of(&[Category::Identity]);
        assert!(matches!(
            check_disclosable(&header, &record),
            Err(ClientError::DeclarationMismatch { .. })
        ));
    }

    #[test]
    fn sealing_gives_an_envelope_the_recipient_opens_with_the_roster_keys() {
        let f = Federation::new();
        let prepared = builder(&f, Purpose::Assistance)
            .field(DisclosableCategory::Identity, "given_name", "Arta")
            .unwrap()
            .bytes_field(
                DisclosableCategory::Psychological,
                "assessment",
                vec![1, 2, 3],
            )
            .unwrap()
            .prepare()
            .unwrap();
        let sealed = seal_prepared(prepared, &id("police"), &f.police_signing, &f.roster).unwrap();
        let header = DisclosureHeader::decode(&sealed.envelope().header.context).unwrap();
        assert_eq!(&header, sealed.header());
        assert_eq!(header.envelope_id, sealed.envelope_id());
        assert_eq!(header.sender, id("police"));
        assert_eq!(header.consent, Some(f.consent));

        // The recipient opens it with its own key and the sender's key from the roster.
        let Opened::Record(opened) = open_envelope(
            sealed.envelope(),
            sealed.envelope_id(),
            &id("csw"),
            &f.csw_encryption,
            &f.roster,
        )
        .unwrap() else {
            panic!("a violation in an honest envelope")
        };
        assert_eq!(opened.header, header);
        assert_eq!(opened.record.categories(), header.categories);
        assert_eq!(
            opened.header.categories,
            CategorySet::of(&[Category::Identity, Category::Psychological])
        );
        assert_eq!(opened.record.fields().len(), 2);

        // Nobody else can.
        let stranger = AgencyEncryptionSecretKey::from_seed_bytes([99; 32]);
        assert!(matches!(
            open_envelope(
                sealed.envelope(),
                sealed.envelope_id(),
                &id("csw"),
                &stranger,
                &f.roster
            ),
            Err(ClientError::Envelope { .. })
        ));
    }

    #[test]
    fn sealing_refuses_unknown_recipients_and_senders() {
        let f = Federation::new();
        let mut b = builder(&f, Purpose::Assistance)
            .field(DisclosableCategory::Medical, "x", "y")
            .unwrap();
        b.recipient = id("nobody");
        let prepared = b.prepare().unwrap();
        assert!(matches!(
            seal_prepared(
                prepared.clone(),
                &id("police"),
                &f.police_signing,
                &f.roster
            ),
            Err(ClientError::UnknownRecipient { .. })
        ));
        assert!(matches!(
            seal_prepared(prepared, &id("csw"), &f.police_signing, &f.roster),
            Err(ClientError::WrongSender { .. })
        ));
        // Issue 18.1: to its own agency, refused before anything is sealed or sent.
        let mut b = builder(&f, Purpose::Assistance)
            .field(DisclosableCategory::Medical, "x", "y")
            .unwrap();
        b.recipient = id("police");
        let prepared = b.prepare().unwrap();
        assert!(matches!(
            seal_prepared(prepared, &id("police"), &f.police_signing, &f.roster),
            Err(ClientError::RecipientIsSender { agency }) if agency == id("police")
        ));
    }

    #[test]
    fn urgent_approvals_verify_against_the_officer_keys() {
        let f = Federation::new();
        let prepared = builder(&f, Purpose::UrgentDanger)
            .field(DisclosableCategory::Identity, "given_name", "Arta")
            .unwrap()
            .urgent_approval(id("officer-1"), &f.officers[0])
            .unwrap();
        // The second officer signs elsewhere, from the approval message alone.
        let message = prepared.approval_message();
        let elsewhere = sign_urgent_approval(prepared.header(), id("officer-2"), &f.officers[1]);
        let prepared = prepared.add_approval(elsewhere).unwrap();
        assert_eq!(
            message,
            prepared.approval_message(),
            "approvals do not change it"
        );

        let header = prepared.header().clone();
        assert_eq!(header.approvals.len(), 2);
        for (approval, key) in header.approvals.iter().zip(&f.officers) {
            verify_urgent_approval(&header, approval, &key.public_key()).unwrap();
            let signature = Signature::from_bytes(approval.signature.to_bytes());
            key.public_key()
                .verify(&header.approval_message(), &signature)
                .unwrap();
        }
        // The approval binds the whole header.
        let mut other = header.clone();
        other.created_at = Timestamp(other.created_at.0 + 1);
        assert!(matches!(
            verify_urgent_approval(
                &other,
                &header.approvals.as_slice()[0],
                &f.officers[0].public_key()
            ),
            Err(ClientError::InvalidApproval { .. })
        ));
        // An officer's approval under another officer's key does not verify.
        assert!(
            verify_urgent_approval(
                &header,
                &header.approvals.as_slice()[0],
                &f.officers[1].public_key()
            )
            .is_err()
        );

        // Sealing checks approvals against the roster; it travels intact.
        let sealed = seal_prepared(
            prepared.clone(),
            &id("police"),
            &f.police_signing,
            &f.roster,
        )
        .unwrap();
        let carried = DisclosureHeader::decode(&sealed.envelope().header.context).unwrap();
        assert_eq!(carried.approvals, header.approvals);

        // The same officer twice is refused.
        assert!(matches!(
            prepared
                .clone()
                .urgent_approval(id("officer-1"), &f.officers[0]),
            Err(ClientError::Approval(_))
        ));
        // An officer not in the roster, and a forged signature, are refused at sealing.
        let stranger = OfficerSecretKey::from_seed_bytes([77; 32]);
        let unknown = prepared
            .clone()
            .urgent_approval(id("officer-9"), &stranger)
            .unwrap();
        assert!(matches!(
            seal_prepared(unknown, &id("police"), &f.police_signing, &f.roster),
            Err(ClientError::UnknownOfficer { .. })
        ));
        let forged = builder(&f, Purpose::UrgentDanger)
            .field(DisclosableCategory::Identity, "given_name", "Arta")
            .unwrap()
            .urgent_approval(id("officer-1"), &stranger)
            .unwrap();
        assert!(matches!(
            seal_prepared(forged, &id("police"), &f.police_signing, &f.roster),
            Err(ClientError::InvalidApproval { .. })
        ));
    }

    #[test]
    fn a_kept_envelope_is_the_same_sealed_disclosure() {
        let f = Federation::new();
        let prepared = builder(&f, Purpose::Assistance)
            .field(DisclosableCategory::Medical, "note", "x")
            .unwrap()
            .prepare()
            .unwrap();
        let sealed = seal_prepared(prepared, &id("police"), &f.police_signing, &f.roster).unwrap();
        let kept = streha_crypto::Envelope::from_bytes(&sealed.envelope().to_bytes()).unwrap();
        assert_eq!(SealedDisclosure::from_envelope(kept).unwrap(), sealed);

        // A hand-built envelope declaring a protection category is refused here too.
        let mut header = sealed.header().clone();
        header.categories = CategorySet::of(&[Category::ShelterLocation]);
        let forged = streha_crypto::seal(
            &f.police_signing,
            &AgencyEncryptionSecretKey::from_seed_bytes([3; 32]).public_key(),
            &header.encode(),
            &Record::new().encode(),
        )
        .unwrap();
        assert!(matches!(
            SealedDisclosure::from_envelope(forged),
            Err(ClientError::ProtectionCategory {
                category: Category::ShelterLocation
            })
        ));
        let mut garbage = sealed.envelope().clone();
        garbage.header.context = vec![0xff; 3];
        assert!(matches!(
            SealedDisclosure::from_envelope(garbage),
            Err(ClientError::InvalidArgument(_))
        ));
    }

    #[test]
    fn record_errors_are_local() {
        let f = Federation::new();
        let err = builder(&f, Purpose::Assistance)
            .field(DisclosableCategory::Medical, "Bad Name", "x")
            .unwrap_err();
        assert!(matches!(err, ClientError::Record(_)));
        let err = builder(&f, Purpose::Assistance)
            .field(DisclosableCategory::Medical, "a", "first-secret-value")
            .unwrap()
            .field(DisclosableCategory::Medical, "a", "second-secret-value")
            .unwrap_err();
        assert!(matches!(err, ClientError::Record(_)));
        assert!(!format!("{err} {err:?}").contains("secret-value"));
        let big = vec![0u8; streha_core::MAX_FIELD_VALUE_LEN];
        let mut b = builder(&f, Purpose::Assistance);
        let mut i = 0;
        let err = loop {
            match b.bytes_field(
                DisclosableCategory::Medical,
                format!("part-{i}"),
                big.clone(),
            ) {
                Ok(next) => b = next,
                Err(err) => break err,
            }
            i += 1;
        };
        assert!(
            matches!(err, ClientError::Record(_)),
            "record too large: {err}"
        );
        assert!(Record::new().fields().is_empty());
    }
}
