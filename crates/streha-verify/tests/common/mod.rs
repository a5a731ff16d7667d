//! A federation of three nodes played without daemons: real keys (fixed seeds), a signed
//! roster, real sealed envelopes, real encoded audit entries in Merkle trees, checkpoints
//! signed by each node's identity key under its origin, witness cosignatures by the other
//! nodes — what `strehad` writes, in the order it writes it (`crates/streha-node/src/app.rs`,
//! `receive.rs`, `outbound.rs`).
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use streha_audit::{
    Checkpoint, CosignatureSigner, LogBundle, MemoryTree, NoteSigner, NoteVerifier, SignedNote,
    sign_checkpoint,
};
use streha_core::{
    AgeStatus, AgencyId, AgreementClause, Approvals, AuditEntry, Basis, Category, CategorySet,
    ClauseId, ConsentGrant, ConsentId, ConsentRevocation, ConsentTerms, DisclosableCategory,
    DisclosureHeader, EnvelopeId, ExchangeAgreement, Field, Grantor, OfficerId, Purpose,
    PurposeSet, Recipient, Record, RefusalReason, RepresentativeId, Role, SignatureBytes,
    SubjectId, Timestamp, UrgentApproval, rekey_commitment,
};
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningSecretKey, Envelope, NodeIdentitySecretKey,
    OfficerSecretKey, RosterSecretKey,
};
use streha_wire::peer::{KeptCheckpoint, envelope_signature};
use streha_wire::{AgencyEntry, OfficerEntry, Roster};

pub const FEDERATION: &str = "kosovo-demo.example";
pub const POLICE: &str = "police-prishtina";
pub const CSW: &str = "csw-prishtina";
pub const SHELTER: &str = "shelter-prishtina";

/// 2025-06-15T15:06:40Z.
pub const T0: u64 = 1_750_000_000_000;
pub const HOUR: u64 = 3_600_000;
pub const DAY: u64 = 24 * HOUR;

pub const SUBJECT_ADULT: SubjectId = SubjectId::from_bytes([0xa1; 16]);
pub const SUBJECT_CHILD: SubjectId = SubjectId::from_bytes([0xc1; 16]);
pub const SUBJECT_REKEYED: SubjectId = SubjectId::from_bytes([0xd1; 16]);
pub const CONSENT_ADULT: ConsentId = ConsentId::from_bytes([0x01; 16]);
pub const CONSENT_GUARDIAN: ConsentId = ConsentId::from_bytes([0x02; 16]);
pub const CONSENT_REKEYED: ConsentId = ConsentId::from_bytes([0x03; 16]);

pub fn t(ms: u64) -> Timestamp {
    Timestamp(T0 + ms)
}

pub fn agency(id: &str) -> AgencyId {
    AgencyId::new(id).unwrap()
}

/// One node: its keys and its log.
pub struct Node {
    pub id: AgencyId,
    pub origin: String,
    pub node_key: NodeIdentitySecretKey,
    pub signing_key: AgencySigningSecretKey,
    pub encryption_key: AgencyEncryptionSecretKey,
    pub entries: Vec<Vec<u8>>,
    pub tree: MemoryTree,
    pub checkpoints: Vec<String>,
}

impl Node {
    fn new(id: &str, seed: u8) -> Self {
        Self {
            id: agency(id),
            origin: format!("{FEDERATION}/streha/{id}"),
            node_key: NodeIdentitySecretKey::from_seed_bytes([seed; 32]),
            signing_key: AgencySigningSecretKey::from_seed_bytes([seed + 1; 32]),
            encryption_key: AgencyEncryptionSecretKey::from_seed_bytes([seed + 2; 32]),
            entries: Vec::new(),
            tree: MemoryTree::new(),
            checkpoints: Vec::new(),
        }
    }

    /// Appends an entry; returns its index.
    pub fn append(&mut self, entry: &AuditEntry) -> u64 {
        let bytes = entry.encode();
        let index = self.tree.append_entry(&bytes);
        self.entries.push(bytes);
        index
    }

    /// Appends entries as one batch and signs the batch's checkpoint, as the store does
    /// (group commit: one checkpoint per batch). Returns the first index.
    pub fn commit(&mut self, entries: &[AuditEntry]) -> u64 {
        let first = self.tree.size();
        for e in entries {
            self.append(e);
        }
        self.sign();
        first
    }

    /// Signs a checkpoint of the current tree with the node identity key.
    pub fn sign(&mut self) -> String {
        let text = self.signed_checkpoint(self.tree.size(), self.tree.root());
        self.checkpoints.push(text.clone());
        text
    }

    /// A checkpoint of any size and root, signed by this node's key.
    pub fn signed_checkpoint(&self, size: u64, root: streha_audit::Hash) -> String {
        let signer = NoteSigner::new(&self.origin, self.node_key.as_dalek().clone()).unwrap();
        sign_checkpoint(
            &Checkpoint::new(self.origin.as_str(), size, root).unwrap(),
            &signer,
        )
        .to_text()
    }

    /// The verifier of this node's checkpoint signatures (its node key, under its origin).
    pub fn log_verifier(&self) -> NoteVerifier {
        NoteVerifier::new(&self.origin, *self.node_key.public_key().as_dalek()).unwrap()
    }

    /// The latest checkpoint, in the compact form another node's entry keeps it.
    pub fn kept_checkpoint(&self) -> KeptCheckpoint {
        KeptCheckpoint::open(self.checkpoints.last().unwrap(), &self.log_verifier())
            .unwrap()
            .1
    }

    /// A checkpoint of any size and root in the compact form, signed by this node's key.
    pub fn kept(&self, size: u64, root: streha_audit::Hash) -> KeptCheckpoint {
        KeptCheckpoint::open(&self.signed_checkpoint(size, root), &self.log_verifier())
            .unwrap()
            .1
    }

    pub fn bundle(&self) -> LogBundle {
        LogBundle::new(
            self.origin.clone(),
            self.entries.clone(),
            self.checkpoints.clone(),
        )
    }
}

/// The federation: roster and three nodes.
pub struct Fed {
    pub roster_key: RosterSecretKey,
    pub roster_note: String,
    pub roster: Roster,
    pub nodes: BTreeMap<String, Node>,
    pub officers: Vec<(OfficerId, OfficerSecretKey)>,
}

impl Fed {
    pub fn new() -> Self {
        let roster_key = RosterSecretKey::from_seed_bytes([0x10; 32]);
        let mut nodes = BTreeMap::new();
        for (id, seed) in [(POLICE, 0x20), (CSW, 0x30), (SHELTER, 0x40)] {
            nodes.insert(id.to_owned(), Node::new(id, seed));
        }
        let officers: Vec<(OfficerId, OfficerSecretKey)> = (1..=2u8)
            .map(|i| {
                (
                    OfficerId::new(format!("police-officer-{i}")).unwrap(),
                    OfficerSecretKey::from_seed_bytes([0x50 + i; 32]),
                )
            })
            .collect();
        let entry = |node: &Node, role: Role, officers: Vec<OfficerEntry>| AgencyEntry {
            id: node.id.clone(),
            role,
            address: "127.0.0.1:7401".into(),
            node_key: node.node_key.public_key(),
            signing_key: node.signing_key.public_key(),
            encryption_key: node.encryption_key.public_key(),
            officers,
        };
        let agencies = vec![
            entry(
                &nodes[POLICE],
                Role::Police,
                officers
                    .iter()
                    .map(|(id, key)| OfficerEntry {
                        id: id.clone(),
                        key: key.public_key(),
                    })
                    .collect(),
            ),
            entry(&nodes[CSW], Role::CentreForSocialWork, vec![]),
            entry(&nodes[SHELTER], Role::LicensedNgo, vec![]),
        ];
        let clause = |id: &str, role, cats: &[Category], purposes: &[Purpose]| {
            AgreementClause::new(
                ClauseId::new(id).unwrap(),
                role,
                CategorySet::of(cats),
                PurposeSet::of(purposes),
            )
            .unwrap()
        };
        let agreement = ExchangeAgreement::new(vec![
            clause(
                "csw-referral",
                Role::CentreForSocialWork,
                &[
                    Category::Identity,
                    Category::CaseSummary,
                    Category::Referral,
                ],
                &[
                    Purpose::IdentificationAndReferral,
                    Purpose::Assistance,
                    Purpose::UrgentDanger,
                    Purpose::ChildGuardianship,
                ],
            ),
            clause(
                "police-investigation",
                Role::Police,
                &[Category::CaseSummary, Category::Investigation],
                &[Purpose::CriminalInvestigationAndProsecution],
            ),
            clause(
                "shelter-referral",
                Role::LicensedNgo,
                &[Category::Identity, Category::Referral],
                &[Purpose::Assistance],
            ),
        ])
        .unwrap();
        let roster_note = Roster::new(FEDERATION, 1, Timestamp(T0 - DAY), agencies, agreement)
            .unwrap()
            .sign(&roster_key)
            .unwrap();
        let roster = Roster::open(&roster_note, &roster_key.public_key()).unwrap();
        Self {
            roster_key,
            roster_note,
            roster,
            nodes,
            officers,
        }
    }

    pub fn node(&mut self, id: &str) -> &mut Node {
        self.nodes.get_mut(id).unwrap()
    }

    /// Every node's bundle, through the binary bundle format.
    pub fn bundles(&self) -> Vec<LogBundle> {
        self.nodes
            .values()
            .map(|n| LogBundle::decode(&n.bundle().encode().unwrap()).unwrap())
            .collect()
    }

    /// Each node starts by logging the roster it runs on.
    pub fn start(&mut self) {
        let hash = *blake3::hash(self.roster_note.as_bytes()).as_bytes();
        for node in self.nodes.values_mut() {
            node.commit(&[AuditEntry::RosterChanged {
                version: 1,
                roster_hash: hash,
                at: Timestamp(T0 - HOUR),
            }]);
        }
    }

    /// A header with a fresh envelope id.
    #[allow(clippy::too_many_arguments)]
    pub fn header(
        &self,
        envelope: u8,
        sender: &str,
        recipient: &str,
        subject: SubjectId,
        categories: &[Category],
        purpose: Purpose,
        consent: Option<ConsentId>,
        created_at: Timestamp,
    ) -> DisclosureHeader {
        DisclosureHeader {
            envelope_id: EnvelopeId::from_bytes([envelope; 16]),
            sender: agency(sender),
            recipient: agency(recipient),
            subject,
            categories: CategorySet::of(categories),
            purpose,
            consent,
            created_at,
            approvals: Approvals::new(),
        }
    }

    /// Both police officers approve an urgent-danger header (Art. 45.3).
    pub fn approve(&self, header: &mut DisclosureHeader, how_many: usize) {
        let message = header.approval_message();
        for (id, key) in self.officers.iter().take(how_many) {
            header
                .approvals
                .insert(UrgentApproval {
                    officer: id.clone(),
                    signature: SignatureBytes::from_bytes(key.sign(&message).to_bytes()),
                })
                .unwrap();
        }
    }

    /// The BLAKE3 hash of the ciphertext of a real envelope sealed for this header.
    pub fn seal(&self, header: &DisclosureHeader) -> [u8; 32] {
        self.envelope(header).ciphertext_hash
    }

    /// A real envelope sealed and signed for this header by the sender's agency key.
    pub fn envelope(&self, header: &DisclosureHeader) -> Envelope {
        let mut record = Record::new();
        for category in header.categories.iter() {
            let Ok(category) = DisclosableCategory::try_from(category) else {
                continue;
            };
            record = record
                .with(Field::text(category, category.as_str(), "demo value").unwrap())
                .unwrap();
        }
        let sender = &self.nodes[header.sender.as_str()];
        let recipient = &self.nodes[header.recipient.as_str()];
        streha_crypto::danger::seal_with_ephemeral(
            &sender.signing_key,
            &recipient.encryption_key.public_key(),
            &header.encode(),
            &record.encode(),
            [header.envelope_id.as_bytes()[0]; 32],
        )
        .unwrap()
    }

    /// The sender logs `disclosed` (one batch), and returns its index.
    pub fn disclose(&mut self, header: &DisclosureHeader, basis: Basis) -> u64 {
        let ciphertext_hash = self.seal(header);
        let at = Timestamp(header.created_at.0 + 20);
        let urgent_review = header.purpose == Purpose::UrgentDanger;
        self.node(header.sender.as_str())
            .commit(&[AuditEntry::Disclosed {
                header: header.clone(),
                basis,
                urgent_review,
                ciphertext_hash,
                at,
            }])
    }

    /// The `received` entry a receiving node writes for `envelope`: the sender's envelope
    /// signature, and its `disclosed` at `sender_index` proven under `sender_checkpoint`.
    pub fn received_entry(
        header: &DisclosureHeader,
        basis: Basis,
        envelope: &Envelope,
        sender_index: u64,
        sender_checkpoint: KeptCheckpoint,
        at: Timestamp,
    ) -> AuditEntry {
        AuditEntry::Received {
            header: header.clone(),
            basis,
            ciphertext_hash: envelope.ciphertext_hash,
            sender_signature: Box::new(envelope_signature(envelope)),
            sender_log_index: sender_index,
            sender_tree_size: sender_checkpoint.size,
            sender_root_hash: sender_checkpoint.root,
            sender_checkpoint_signature: sender_checkpoint.signature,
            at,
        }
    }

    /// The `receipt` entry a sending node writes: the receiver's `received` at `index`
    /// under the receiver's checkpoint `receiver_checkpoint`.
    pub fn receipt_entry(
        header: &DisclosureHeader,
        index: u64,
        receiver_checkpoint: KeptCheckpoint,
        at: Timestamp,
    ) -> AuditEntry {
        AuditEntry::Receipt {
            envelope: header.envelope_id,
            recipient: header.recipient.clone(),
            receiver_log_index: index,
            receiver_tree_size: receiver_checkpoint.size,
            receiver_root_hash: receiver_checkpoint.root,
            receiver_checkpoint_signature: receiver_checkpoint.signature,
            at,
        }
    }

    /// The receiver logs `received` (one batch, its checkpoint) with the evidence the
    /// delivery carried — the sender's latest checkpoint, which covers its `disclosed` —
    /// and the sender logs the receipt with the receiver's checkpoint.
    pub fn deliver(&mut self, header: &DisclosureHeader, basis: Basis, sender_index: u64) {
        let envelope = self.envelope(header);
        let at = Timestamp(header.created_at.0 + 500);
        let sender_checkpoint = self.nodes[header.sender.as_str()].kept_checkpoint();
        let receiver = self.node(header.recipient.as_str());
        let index = receiver.commit(&[Self::received_entry(
            header,
            basis,
            &envelope,
            sender_index,
            sender_checkpoint,
            at,
        )]);
        let receiver_checkpoint = receiver.kept_checkpoint();
        self.node(header.sender.as_str())
            .commit(&[Self::receipt_entry(
                header,
                index,
                receiver_checkpoint,
                Timestamp(at.0 + 100),
            )]);
    }

    /// The receiver logs a `received` of an envelope the sender's agency really signed,
    /// with the sender's real latest checkpoint, but naming as the sender's `disclosed` its
    /// entry 0 (a `roster_changed`): the sender never logged this envelope, and only a
    /// receiver writing its own log can produce this entry. Returns its index.
    pub fn orphan_received(
        &mut self,
        header: &DisclosureHeader,
        basis: Basis,
        at: Timestamp,
    ) -> u64 {
        let envelope = self.envelope(header);
        let sender_checkpoint = self.nodes[header.sender.as_str()].kept_checkpoint();
        self.node(header.recipient.as_str())
            .commit(&[Self::received_entry(
                header,
                basis,
                &envelope,
                0,
                sender_checkpoint,
                at,
            )])
    }

    /// Disclose and deliver.
    pub fn send(&mut self, header: &DisclosureHeader, basis: Basis) {
        let index = self.disclose(header, basis.clone());
        self.deliver(header, basis, index);
    }

    /// Every node cosigns every other node's latest checkpoint (witnessing).
    pub fn witness_all(&mut self) {
        let ids: Vec<String> = self.nodes.keys().cloned().collect();
        for log in &ids {
            let Some(last) = self.nodes[log].checkpoints.last().cloned() else {
                continue;
            };
            let mut note = SignedNote::parse(&last).unwrap();
            for witness in ids.iter().filter(|w| *w != log) {
                let w = &self.nodes[witness];
                let cosigner =
                    CosignatureSigner::new(&w.origin, w.node_key.as_dalek().clone()).unwrap();
                note.add_signature(
                    cosigner
                        .cosign(note.body(), T0 / 1000 + 7 * 86_400)
                        .unwrap(),
                )
                .unwrap();
            }
            *self.node(log).checkpoints.last_mut().unwrap() = note.to_text();
        }
    }

    pub fn grant(
        id: ConsentId,
        subject: SubjectId,
        granted_by: Grantor,
        recipients: Vec<Recipient>,
        categories: &[Category],
        purposes: &[Purpose],
        recorded_at: Timestamp,
    ) -> ConsentGrant {
        ConsentGrant::new(ConsentTerms {
            id,
            subject,
            granted_by,
            recipients,
            categories: CategorySet::of(categories),
            purposes: PurposeSet::of(purposes),
            valid_from: recorded_at,
            expires_at: Timestamp(recorded_at.0 + 365 * DAY),
            evidence_hash: [0xee; 32],
            recorded_by: OfficerId::new("police-officer-1").unwrap(),
            recorded_at,
        })
        .unwrap()
    }

    /// The clean demo: every disclosure lawful, all but one delivered, every log witnessed.
    pub fn demo() -> Self {
        let mut fed = Self::new();
        fed.start();
        let guardian = RepresentativeId::new("guardian-7").unwrap();

        // Police registers an adult and a presumed child with a legal representative.
        fed.node(POLICE).commit(&[
            AuditEntry::SubjectRegistered {
                subject: SUBJECT_ADULT,
                age_status: AgeStatus::Adult,
                at: t(0),
            },
            AuditEntry::SubjectRegistered {
                subject: SUBJECT_CHILD,
                age_status: AgeStatus::PresumedChild,
                at: t(10),
            },
            AuditEntry::RepresentativeRegistered {
                subject: SUBJECT_CHILD,
                representative: guardian.clone(),
                at: t(10),
            },
        ]);
        // Consents: the adult's own; the child's from the representative.
        fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
            grant: Self::grant(
                CONSENT_ADULT,
                SUBJECT_ADULT,
                Grantor::Subject,
                vec![Recipient::Agency(agency(CSW))],
                &[Category::Psychological],
                &[Purpose::Assistance],
                t(100),
            ),
        }]);
        fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
            grant: Self::grant(
                CONSENT_GUARDIAN,
                SUBJECT_CHILD,
                Grantor::Representative(guardian),
                vec![Recipient::Role(Role::CentreForSocialWork)],
                &[Category::Medical],
                &[Purpose::Assistance, Purpose::ChildGuardianship],
                t(200),
            ),
        }]);

        // D1: identity, referral and psychological to the centre for social work.
        let d1 = fed.header(
            0x11,
            POLICE,
            CSW,
            SUBJECT_ADULT,
            &[
                Category::Identity,
                Category::Referral,
                Category::Psychological,
            ],
            Purpose::Assistance,
            Some(CONSENT_ADULT),
            t(HOUR),
        );
        fed.send(&d1, consent_and("csw-referral", CONSENT_ADULT));

        // D2: the child's identity and medical information, on the guardian's consent.
        let d2 = fed.header(
            0x12,
            POLICE,
            CSW,
            SUBJECT_CHILD,
            &[Category::Identity, Category::Medical],
            Purpose::ChildGuardianship,
            Some(CONSENT_GUARDIAN),
            t(DAY),
        );
        fed.send(&d2, consent_and("csw-referral", CONSENT_GUARDIAN));

        // D3: referral to the shelter, under the agreement.
        let d3 = fed.header(
            0x13,
            POLICE,
            SHELTER,
            SUBJECT_ADULT,
            &[Category::Identity, Category::Referral],
            Purpose::Assistance,
            None,
            t(2 * DAY),
        );
        fed.send(&d3, agreement(&["shelter-referral"]));

        // A refused attempt: protection measures never leave (the refusal is logged).
        let refused = fed.header(
            0x14,
            POLICE,
            CSW,
            SUBJECT_ADULT,
            &[Category::ProtectionMeasures],
            Purpose::Assistance,
            None,
            t(2 * DAY + HOUR),
        );
        fed.node(POLICE).commit(&[AuditEntry::Refused {
            header: refused,
            reason: RefusalReason::ProtectionCategory {
                category: Category::ProtectionMeasures,
            },
            at: t(2 * DAY + HOUR + 20),
        }]);

        // D4: urgent danger, two officers approve (Art. 45.3).
        let mut d4 = fed.header(
            0x15,
            POLICE,
            CSW,
            SUBJECT_ADULT,
            &[Category::Identity, Category::CaseSummary],
            Purpose::UrgentDanger,
            None,
            t(3 * DAY),
        );
        fed.approve(&mut d4, 2);
        fed.send(&d4, agreement(&["csw-referral"]));

        // The adult revokes their consent; the child is found to be adult.
        fed.node(POLICE).commit(&[AuditEntry::ConsentRevoked {
            revocation: ConsentRevocation {
                consent: CONSENT_ADULT,
                revoked_at: t(5 * DAY),
                recorded_by: OfficerId::new("police-officer-1").unwrap(),
            },
        }]);
        fed.node(POLICE).commit(&[AuditEntry::AgeStatusRecorded {
            subject: SUBJECT_CHILD,
            age_status: AgeStatus::Adult,
            at: t(10 * DAY),
        }]);

        // D5: the centre for social work sends the case to the police for investigation.
        fed.node(CSW).commit(&[AuditEntry::SubjectRegistered {
            subject: SUBJECT_ADULT,
            age_status: AgeStatus::Adult,
            at: t(4 * DAY),
        }]);
        let d5 = fed.header(
            0x16,
            CSW,
            POLICE,
            SUBJECT_ADULT,
            &[Category::CaseSummary],
            Purpose::CriminalInvestigationAndProsecution,
            None,
            t(4 * DAY + HOUR),
        );
        fed.send(&d5, agreement(&["police-investigation"]));

        // Art. 18.5: the former presumed child is re-keyed; the new id consents as an adult.
        // As the node does, the new id is registered only at its first use, a day later, with
        // the age status carried over: nothing in the log links it to the old id.
        fed.node(POLICE).commit(&[AuditEntry::SubjectRekeyed {
            old: SUBJECT_CHILD,
            new_commitment: rekey_commitment(&[0x99; 32], SUBJECT_REKEYED),
            at: t(11 * DAY),
        }]);
        fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
            subject: SUBJECT_REKEYED,
            age_status: AgeStatus::Adult,
            at: t(12 * DAY),
        }]);
        fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
            grant: Self::grant(
                CONSENT_REKEYED,
                SUBJECT_REKEYED,
                Grantor::Subject,
                vec![Recipient::Agency(agency(CSW))],
                &[Category::Psychological],
                &[Purpose::Assistance],
                t(12 * DAY),
            ),
        }]);
        // D6: still in the outbound queue (undelivered: a note, not a finding).
        let d6 = fed.header(
            0x17,
            POLICE,
            CSW,
            SUBJECT_REKEYED,
            &[Category::Psychological],
            Purpose::Assistance,
            Some(CONSENT_REKEYED),
            t(12 * DAY + HOUR),
        );
        fed.disclose(&d6, Basis::Consent(CONSENT_REKEYED));

        fed.witness_all();
        fed
    }
}

pub fn agreement(clauses: &[&str]) -> Basis {
    Basis::Agreement(clauses.iter().map(|c| ClauseId::new(*c).unwrap()).collect())
}

pub fn consent_and(clause: &str, consent: ConsentId) -> Basis {
    Basis::ConsentAndAgreement {
        consent,
        clauses: vec![ClauseId::new(clause).unwrap()],
    }
}
