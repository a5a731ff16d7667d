//! The forger's kit: a dishonest node operator who holds its own node's identity key (two
//! operators, for collusion) and writes internally consistent but false logs — entries
//! added, changed, deleted or dated at will, the Merkle tree recomputed and every checkpoint
//! signed again — on top of the honest federation of `common`.
//!
//! Reuse (from any test file of this crate):
//!
//! ```text
//! mod common;
//! mod forge;
//! use common::*;
//! use forge::*;
//! ```
//!
//! - `Node::rewrite` / `replace` / `delete` / `insert`: edit a log as decoded entries; the
//!   tree is rebuilt and the checkpoints re-signed with the node's own key at the sizes it
//!   had signed (the witnesses' cosignatures are lost, as they would be);
//! - `Fed::cosign`: a colluding node cosigns another's latest checkpoint;
//! - `Fed::next_roster`, `Fed::adopt`: roster versions signed by the national authority,
//!   adopted by a node (logged, and carried in its bundle);
//! - `Forgery`: every class of false history the verifier must catch, each applied to any
//!   valid federation by `Forgery::apply`, which returns the findings it must produce
//!   (`Expected`: exact code, severity, article, node and entry) — the example tests and
//!   the property test share them;
//! - `Honest`: a random valid federation, played as honest nodes would (the policy decides
//!   every disclosure), for the property test;
//! - `dpo_options`, `caught`, `assert_only`: verify as a data-protection officer would, and
//!   assert exactly what was found.
#![allow(dead_code, unreachable_pub)]

use proptest::prelude::*;
use streha_audit::{CosignatureSigner, LogBundle, MemoryTree, SignedNote, leaf_hash};
use streha_core::{
    AgeStatus, AuditEntry, Basis, Category, CategorySet, ConsentGrant, ConsentId,
    ConsentRevocation, ConsentTerms, ConsentView, Decision, DisclosureHeader, DisclosureRequest,
    ExchangeAgreement, Grantor, OfficerId, PolicyContext, Purpose, PurposeSet, Recipient,
    RepresentativeId, Subject, SubjectId, Timestamp, decide, decide_to_send, rekey_commitment,
};
use streha_verify::{Finding, Report, Rule, Severity, VerifyOptions, render_text, verify};
use streha_wire::Roster;

use crate::common::*;

/// Ten years, in milliseconds.
pub const TEN_YEARS: u64 = 10 * 365 * DAY;

impl Node {
    /// Every entry, decoded (an entry that does not decode is a test bug).
    pub fn decoded(&self) -> Vec<AuditEntry> {
        self.entries
            .iter()
            .map(|e| AuditEntry::decode(e).expect("a test log decodes"))
            .collect()
    }

    /// The sizes of the checkpoints the node has signed, in order.
    pub fn checkpoint_sizes(&self) -> Vec<u64> {
        self.checkpoints
            .iter()
            .map(|text| {
                let note = SignedNote::parse(text).unwrap();
                streha_audit::Checkpoint::parse_body(note.body())
                    .unwrap()
                    .size()
            })
            .collect()
    }

    /// The index of the first entry that `matches`.
    pub fn find(&self, matches: impl Fn(&AuditEntry) -> bool) -> Option<u64> {
        self.decoded().iter().position(matches).map(|i| i as u64)
    }

    /// The forger rewrites its log: `edit` changes the entries at will; the tree is rebuilt
    /// and a checkpoint signed again, with the node's own key, at every size it had signed
    /// (capped at the new size) and at the new size. Witness cosignatures are gone (the
    /// forger cannot make them; see `Fed::cosign` for a colluding witness).
    pub fn rewrite(&mut self, edit: impl FnOnce(&mut Vec<AuditEntry>)) {
        let mut entries = self.decoded();
        edit(&mut entries);
        self.entries = entries.iter().map(AuditEntry::encode).collect();
        self.tree = MemoryTree::from_entries(&self.entries);
        let size = self.tree.size();
        let mut sizes: Vec<u64> = self
            .checkpoint_sizes()
            .into_iter()
            .map(|s| s.min(size))
            .collect();
        sizes.push(size);
        sizes.dedup();
        self.checkpoints = sizes
            .into_iter()
            .map(|s| self.signed_checkpoint(s, self.tree.root_at(s).unwrap()))
            .collect();
    }

    /// Replaces entry `index` (no index shifts) and re-signs.
    pub fn replace(&mut self, index: u64, entry: AuditEntry) {
        self.rewrite(|entries| entries[index as usize] = entry);
    }

    /// Deletes entry `index` (later entries shift down) and re-signs.
    pub fn delete(&mut self, index: u64) {
        self.rewrite(|entries| {
            entries.remove(index as usize);
        });
    }

    /// Inserts `entry` at `index` and re-signs.
    pub fn insert(&mut self, index: u64, entry: AuditEntry) {
        self.rewrite(|entries| entries.insert(index as usize, entry));
    }
}

impl Fed {
    /// Node `witness` cosigns node `log`'s latest checkpoint at `at` (POSIX seconds): a
    /// witness's genuine cosignature, or a colluding node's.
    pub fn cosign(&mut self, witness: &str, log: &str, at: u64) {
        let w = &self.nodes[witness];
        let cosigner = CosignatureSigner::new(&w.origin, w.node_key.as_dalek().clone()).unwrap();
        let text = self.nodes[log].checkpoints.last().unwrap().clone();
        let mut note = SignedNote::parse(&text).unwrap();
        note.add_signature(cosigner.cosign(note.body(), at).unwrap())
            .unwrap();
        *self.node(log).checkpoints.last_mut().unwrap() = note.to_text();
    }

    /// Roster version `version`, made from the current roster by `edit` and signed by the
    /// national authority: its signed note and the opened roster.
    pub fn next_roster(
        &self,
        version: u64,
        edit: impl FnOnce(Roster) -> Roster,
    ) -> (String, Roster) {
        let draft = edit(
            self.roster
                .with_version(version, Timestamp(self.latest_time())),
        );
        let note = draft.sign(&self.roster_key).unwrap();
        let roster = Roster::open(&note, &self.roster_key.public_key()).unwrap();
        (note, roster)
    }

    /// The current agreement without the clause `id`.
    pub fn agreement_without(&self, id: &str) -> ExchangeAgreement {
        ExchangeAgreement::new(
            self.roster
                .agreement()
                .clauses()
                .iter()
                .filter(|c| c.id().as_str() != id)
                .cloned()
                .collect(),
        )
        .unwrap()
    }

    /// Node `node` adopts the roster whose signed note is `note` at `at`: it logs
    /// `roster_changed` and its bundle carries the note.
    pub fn adopt(&mut self, node: &str, version: u64, note: &str, at: Timestamp) -> u64 {
        let hash = *blake3::hash(note.as_bytes()).as_bytes();
        let n = self.node(node);
        n.rosters.push(note.to_owned());
        n.commit(&[AuditEntry::RosterChanged {
            version,
            roster_hash: hash,
            at,
        }])
    }

    /// The options a data-protection officer uses: the roster key (to check the rosters the
    /// bundles carry) and a generation time a day after the latest entry.
    pub fn dpo_options(&self) -> VerifyOptions {
        VerifyOptions::new()
            .roster_key(self.roster_key.public_key())
            .generated_at(Timestamp(self.latest_time() + DAY))
    }

    /// Verifies every node's bundle as a data-protection officer would.
    pub fn report(&self) -> Report {
        verify(&self.bundles(), &self.roster, &self.dpo_options())
    }

    /// A grant recorded at `recorded_at`, valid for `valid_for` milliseconds.
    #[allow(clippy::too_many_arguments)]
    pub fn grant_for(
        id: ConsentId,
        subject: SubjectId,
        granted_by: Grantor,
        recipients: Vec<Recipient>,
        categories: &[Category],
        purposes: &[Purpose],
        recorded_at: Timestamp,
        valid_for: u64,
    ) -> ConsentGrant {
        ConsentGrant::new(ConsentTerms {
            id,
            subject,
            granted_by,
            recipients,
            categories: CategorySet::of(categories),
            purposes: PurposeSet::of(purposes),
            valid_from: recorded_at,
            expires_at: Timestamp(recorded_at.0 + valid_for),
            evidence_hash: [0xee; 32],
            recorded_by: OfficerId::new("police-officer-1").unwrap(),
            recorded_at,
        })
        .unwrap()
    }
}

/// A finding a forgery must produce: exactly this code, severity and article, at this node
/// (and entry, if given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub rule: Rule,
    pub severity: Severity,
    pub article: &'static str,
    pub node: String,
    pub entry: Option<u64>,
}

impl Expected {
    pub fn new(
        rule: Rule,
        severity: Severity,
        article: &'static str,
        node: &str,
        entry: Option<u64>,
    ) -> Self {
        Self {
            rule,
            severity,
            article,
            node: node.to_owned(),
            entry,
        }
    }
}

/// Asserts that `report` holds a finding (or note) exactly as `expected`, and returns it.
#[track_caller]
pub fn caught<'r>(report: &'r Report, expected: &Expected) -> &'r Finding {
    report
        .findings
        .iter()
        .chain(&report.notes)
        .find(|f| {
            f.rule == expected.rule
                && f.node == expected.node
                && (expected.entry.is_none() || f.entry_index == expected.entry)
        })
        .inspect(|f| {
            assert_eq!(
                (f.severity, f.article),
                (expected.severity, expected.article),
                "{} at {}: severity and article\n{}",
                expected.rule,
                f.location(),
                render_text(report)
            );
        })
        .unwrap_or_else(|| {
            panic!(
                "expected {} at {}{}; got:\n{}",
                expected.rule,
                expected.node,
                expected.entry.map(|i| format!("#{i}")).unwrap_or_default(),
                render_text(report)
            )
        })
}

/// Asserts that every finding of `report` is one of `rules`.
#[track_caller]
pub fn assert_only(report: &Report, rules: &[Rule]) {
    for f in &report.findings {
        assert!(
            rules.contains(&f.rule),
            "unexpected {} at {}:\n{}",
            f.rule,
            f.location(),
            render_text(report)
        );
    }
}

/// Every class of false history a node's operator (or two, colluding) can write with their
/// own keys, and the verifier must catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forgery {
    /// A protection category disclosed (Art. 18.4, 18.6).
    ProtectionCategory,
    /// A consent the subject gave as a presumed child used (Art. 18.3, 36, 38.5).
    ChildOwnConsent,
    /// A revoked consent used (Art. 18.3).
    RevokedConsent,
    /// An expired consent used (Art. 18.3).
    ExpiredConsent,
    /// A disclosure no clause of the agreement allows (Art. 18.2, 45.1).
    NoBasis,
    /// A child's identity to a recipient outside the agreement (Art. 35.1.5, 38.9).
    ChildIdentityOutsideAgreement,
    /// A disclosure about a re-keyed, closed subject id (Art. 18.5).
    ClosedSubject,
    /// Urgent danger approved by one officer (Art. 45.3).
    UrgentOneOfficer,
    /// The sender deletes a delivered disclosure (and its receipt) from its log and
    /// re-signs: one-sided.
    OneSidedDisclosure,
    /// The receiver deletes a reception the sender holds a receipt for, and re-signs.
    HiddenReception,
    /// Two signed trees of one size in the node's bundle.
    Fork,
    /// An entry replaced (no index shift) and the log re-signed; the DPO holds an older
    /// export.
    ReplacedEntry,
    /// An entry deleted and the log re-signed; the DPO holds an older export.
    DeletedEntry,
    /// Two colluding nodes: the sender rewrites its log and the other cosigns the rewritten
    /// checkpoint; the DPO holds an older export.
    CollusionRewrite,
    /// A revocation logged after a disclosure but dated before it.
    RevocationDatedBack,
    /// A revocation dated ten years ahead, and the consent used after it.
    RevocationDatedAhead,
    /// A disclosure (`created_at` and `at`) dated back before a consent's expiry.
    DisclosureDatedBack,
    /// An adult age recorded after a child's own consent but dated before it, and the
    /// consent used.
    AdultAgeDatedBack,
    /// The last entry of the log dated ten years ahead (no later entry to contradict it).
    LastEntryDatedAhead,
    /// Entries decided under a roster version the DPO cannot check.
    UnverifiableRoster,
    /// A node goes back to an older roster version to use a clause a newer one removed.
    RosterRollback,
    /// A roster change whose hash is not the signed roster of that version.
    RosterMismatch,
    /// A roster note in the bundle not signed by the roster key.
    ForgedRosterNote,
    /// A witness's cosignature line under its real key id that does not verify.
    ForgedCosignature,
}

impl Forgery {
    /// Every class.
    pub const ALL: [Forgery; 24] = [
        Forgery::ProtectionCategory,
        Forgery::ChildOwnConsent,
        Forgery::RevokedConsent,
        Forgery::ExpiredConsent,
        Forgery::NoBasis,
        Forgery::ChildIdentityOutsideAgreement,
        Forgery::ClosedSubject,
        Forgery::UrgentOneOfficer,
        Forgery::OneSidedDisclosure,
        Forgery::HiddenReception,
        Forgery::Fork,
        Forgery::ReplacedEntry,
        Forgery::DeletedEntry,
        Forgery::CollusionRewrite,
        Forgery::RevocationDatedBack,
        Forgery::RevocationDatedAhead,
        Forgery::DisclosureDatedBack,
        Forgery::AdultAgeDatedBack,
        Forgery::LastEntryDatedAhead,
        Forgery::UnverifiableRoster,
        Forgery::RosterRollback,
        Forgery::RosterMismatch,
        Forgery::ForgedRosterNote,
        Forgery::ForgedCosignature,
    ];

    /// Writes this forgery into `fed` (any valid federation that has started: every node
    /// logged its roster), after everything already in it, with ids made from `salt` (0 to
    /// 15) so that they are new. Returns what the DPO is given and must find.
    pub fn apply(self, fed: &mut Fed, salt: u8) -> Forged {
        let s = fed.latest_time() + HOUR;
        // The DPO verifies three days later, by its own clock.
        let generated_at = Timestamp(s + 3 * DAY);
        let at = |ms: u64| Timestamp(s + ms);
        let subject = SubjectId::from_bytes([
            0xe0 ^ salt,
            0x5a,
            salt,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            13,
        ]);
        let consent = ConsentId::from_bytes([
            0xc0 ^ salt,
            0x5a,
            salt,
            9,
            8,
            7,
            6,
            5,
            4,
            3,
            2,
            1,
            0,
            1,
            2,
            3,
        ]);
        let envelope = 0xf0 | (salt & 0x0f);
        let officer = || OfficerId::new("police-officer-1").unwrap();
        let critical = |rule: Rule, article: &'static str, node: &str, entry: Option<u64>| {
            Expected::new(rule, Severity::Critical, article, node, entry)
        };
        let register = |fed: &mut Fed, age: AgeStatus, when: Timestamp| {
            fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
                subject,
                age_status: age,
                at: when,
            }])
        };
        let own_consent =
            |granted_by: Grantor, when: Timestamp, valid_for: u64| AuditEntry::ConsentGranted {
                grant: Fed::grant_for(
                    consent,
                    subject,
                    granted_by,
                    vec![Recipient::Agency(agency(CSW))],
                    &[Category::Psychological],
                    &[Purpose::Assistance],
                    when,
                    valid_for,
                ),
            };
        let on_consent = |fed: &Fed, created: Timestamp| {
            fed.header(
                envelope,
                POLICE,
                CSW,
                subject,
                &[Category::Psychological],
                Purpose::Assistance,
                Some(consent),
                created,
            )
        };
        let disclosed = |fed: &Fed, header: &DisclosureHeader, basis: Basis, when: Timestamp| {
            AuditEntry::Disclosed {
                header: header.clone(),
                basis,
                urgent_review: header.purpose == Purpose::UrgentDanger,
                ciphertext_hash: fed.seal(header),
                at: when,
            }
        };
        let revocation = |revoked_at: Timestamp| AuditEntry::ConsentRevoked {
            revocation: ConsentRevocation {
                consent,
                revoked_at,
                recorded_by: officer(),
            },
        };
        let mut older: Vec<LogBundle> = Vec::new();
        let expected = match self {
            Forgery::ProtectionCategory => {
                register(fed, AgeStatus::Adult, at(0));
                let h = fed.header(
                    envelope,
                    POLICE,
                    CSW,
                    subject,
                    &[Category::Identity, Category::ShelterLocation],
                    Purpose::Assistance,
                    None,
                    at(HOUR),
                );
                let i = fed.disclose(&h, agreement(&["csw-referral"]));
                vec![critical(
                    Rule::ProtectionCategoryDisclosed,
                    "Art. 18.4, 18.6",
                    POLICE,
                    Some(i),
                )]
            }
            Forgery::ChildOwnConsent => {
                register(fed, AgeStatus::PresumedChild, at(0));
                fed.node(POLICE)
                    .commit(&[own_consent(Grantor::Subject, at(1000), 365 * DAY)]);
                let h = on_consent(fed, at(HOUR));
                let i = fed.disclose(&h, Basis::Consent(consent));
                vec![critical(
                    Rule::ChildOwnConsent,
                    "Art. 18.3, 36, 38.5",
                    POLICE,
                    Some(i),
                )]
            }
            Forgery::RevokedConsent => {
                register(fed, AgeStatus::Adult, at(0));
                fed.node(POLICE)
                    .commit(&[own_consent(Grantor::Subject, at(1000), 365 * DAY)]);
                fed.node(POLICE).commit(&[revocation(at(HOUR))]);
                let h = on_consent(fed, at(2 * HOUR));
                let i = fed.disclose(&h, Basis::Consent(consent));
                vec![critical(
                    Rule::RevokedConsentUsed,
                    "Art. 18.3",
                    POLICE,
                    Some(i),
                )]
            }
            Forgery::ExpiredConsent => {
                register(fed, AgeStatus::Adult, at(0));
                fed.node(POLICE)
                    .commit(&[own_consent(Grantor::Subject, at(1000), DAY)]);
                let h = on_consent(fed, at(2 * DAY));
                let i = fed.disclose(&h, Basis::Consent(consent));
                vec![critical(
                    Rule::ConsentNotInForce,
                    "Art. 18.3",
                    POLICE,
                    Some(i),
                )]
            }
            Forgery::NoBasis => {
                register(fed, AgeStatus::Adult, at(0));
                let h = fed.header(
                    envelope,
                    POLICE,
                    CSW,
                    subject,
                    &[Category::Investigation],
                    Purpose::Assistance,
                    None,
                    at(HOUR),
                );
                let i = fed.disclose(&h, agreement(&["csw-referral"]));
                vec![critical(
                    Rule::DisclosureWithoutBasis,
                    "Art. 18.2, 45.1",
                    POLICE,
                    Some(i),
                )]
            }
            Forgery::ChildIdentityOutsideAgreement => {
                register(fed, AgeStatus::PresumedChild, at(0));
                let h = fed.header(
                    envelope,
                    POLICE,
                    CSW,
                    subject,
                    &[Category::Identity],
                    Purpose::CriminalInvestigationAndProsecution,
                    None,
                    at(HOUR),
                );
                let i = fed.disclose(&h, agreement(&["csw-referral"]));
                vec![critical(
                    Rule::DisclosureWithoutBasis,
                    "Art. 35.1.5, 38.9",
                    POLICE,
                    Some(i),
                )]
            }
            Forgery::ClosedSubject => {
                register(fed, AgeStatus::Adult, at(0));
                fed.node(POLICE).commit(&[AuditEntry::SubjectRekeyed {
                    old: subject,
                    new_commitment: rekey_commitment(&[salt; 32], SUBJECT_REKEYED),
                    at: at(1000),
                }]);
                let h = fed.header(
                    envelope,
                    POLICE,
                    CSW,
                    subject,
                    &[Category::Identity],
                    Purpose::Assistance,
                    None,
                    at(HOUR),
                );
                let i = fed.disclose(&h, agreement(&["csw-referral"]));
                vec![critical(
                    Rule::DisclosureWithoutBasis,
                    "Art. 18.5",
                    POLICE,
                    Some(i),
                )]
            }
            Forgery::UrgentOneOfficer => {
                register(fed, AgeStatus::Adult, at(0));
                let mut h = fed.header(
                    envelope,
                    POLICE,
                    CSW,
                    subject,
                    &[Category::Identity],
                    Purpose::UrgentDanger,
                    None,
                    at(HOUR),
                );
                fed.approve(&mut h, 1);
                let i = fed.disclose(&h, agreement(&["csw-referral"]));
                vec![critical(
                    Rule::UrgentWithoutTwoApprovers,
                    "Art. 45.3",
                    POLICE,
                    Some(i),
                )]
            }
            Forgery::OneSidedDisclosure => {
                register(fed, AgeStatus::Adult, at(0));
                let h = fed.header(
                    envelope,
                    POLICE,
                    CSW,
                    subject,
                    &[Category::Identity],
                    Purpose::Assistance,
                    None,
                    at(HOUR),
                );
                fed.send(&h, agreement(&["csw-referral"]));
                // The sender erases the disclosure and its receipt, and signs again.
                fed.node(POLICE).rewrite(|entries| {
                    entries.retain(|e| match e {
                        AuditEntry::Disclosed { header, .. } => header.envelope_id != h.envelope_id,
                        AuditEntry::Receipt { envelope, .. } => *envelope != h.envelope_id,
                        _ => true,
                    });
                });
                // And goes on logging, so that its export covers the index the receiver
                // names (a shorter export is the class of issue 15.1 and 15.2).
                for k in 0..3u8 {
                    fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
                        subject: SubjectId::from_bytes([
                            salt ^ 0x66,
                            k,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                        ]),
                        age_status: AgeStatus::Adult,
                        at: at(2 * HOUR + u64::from(k)),
                    }]);
                }
                // The receiver's `received` keeps the sender's signed checkpoint of the
                // disclosure (issue 15.1): the sender's re-signed log contradicts it.
                vec![critical(Rule::RewrittenLog, "", POLICE, None)]
            }
            Forgery::HiddenReception => {
                register(fed, AgeStatus::Adult, at(0));
                let h = fed.header(
                    envelope,
                    POLICE,
                    CSW,
                    subject,
                    &[Category::Identity],
                    Purpose::Assistance,
                    None,
                    at(HOUR),
                );
                fed.send(&h, agreement(&["csw-referral"]));
                // The receiver goes on logging, then erases the reception and signs again.
                fed.node(CSW).commit(&[AuditEntry::SubjectRegistered {
                    subject,
                    age_status: AgeStatus::Adult,
                    at: at(2 * HOUR),
                }]);
                fed.node(CSW).rewrite(|entries| {
                    entries.retain(|e| {
                        !matches!(e, AuditEntry::Received { header, .. } if header.envelope_id == h.envelope_id)
                    });
                });
                // The sender's `receipt` keeps the receiver's signed checkpoint (issue
                // 15.2): the receiver's re-signed log contradicts it.
                vec![critical(Rule::RewrittenLog, "", CSW, None)]
            }
            Forgery::Fork => {
                register(fed, AgeStatus::Adult, at(0));
                let police = fed.node(POLICE);
                let size = police.tree.size();
                let other = police.signed_checkpoint(size, leaf_hash(b"another history"));
                police.checkpoints.push(other);
                vec![critical(Rule::Fork, "", POLICE, None)]
            }
            Forgery::ReplacedEntry | Forgery::DeletedEntry | Forgery::CollusionRewrite => {
                register(fed, AgeStatus::Adult, at(0));
                let h = fed.header(
                    envelope,
                    POLICE,
                    CSW,
                    subject,
                    &[Category::Identity, Category::CaseSummary],
                    Purpose::Assistance,
                    None,
                    at(HOUR),
                );
                let i = fed.disclose(&h, agreement(&["csw-referral"]));
                fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
                    subject: SubjectId::from_bytes([salt; 16]),
                    age_status: AgeStatus::Adult,
                    at: at(2 * HOUR),
                }]);
                // Last year's export, which the DPO kept.
                older.push(fed.nodes[POLICE].bundle());
                match self {
                    Forgery::DeletedEntry => fed.node(POLICE).delete(i),
                    _ => fed.node(POLICE).replace(
                        i,
                        AuditEntry::SubjectRegistered {
                            subject: SubjectId::from_bytes([salt ^ 0x33; 16]),
                            age_status: AgeStatus::Adult,
                            at: at(HOUR),
                        },
                    ),
                }
                if self == Forgery::CollusionRewrite {
                    // The centre for social work, colluding, cosigns the rewritten log.
                    fed.cosign(CSW, POLICE, (s + 3 * HOUR) / 1000);
                }
                vec![critical(Rule::Fork, "", POLICE, None)]
            }
            Forgery::RevocationDatedBack => {
                register(fed, AgeStatus::Adult, at(0));
                fed.node(POLICE)
                    .commit(&[own_consent(Grantor::Subject, at(1000), 365 * DAY)]);
                let h = on_consent(fed, at(2 * HOUR));
                fed.disclose(&h, Basis::Consent(consent));
                // Recorded after the disclosure, dated an hour before it.
                let r = fed.node(POLICE).commit(&[revocation(at(HOUR))]);
                vec![critical(Rule::TimeBackwards, "", POLICE, Some(r))]
            }
            Forgery::RevocationDatedAhead => {
                register(fed, AgeStatus::Adult, at(0));
                fed.node(POLICE)
                    .commit(&[own_consent(Grantor::Subject, at(1000), 365 * DAY)]);
                let r = fed.node(POLICE).commit(&[revocation(at(TEN_YEARS))]);
                let h = on_consent(fed, at(HOUR));
                let i = fed.disclose(&h, Basis::Consent(consent));
                vec![
                    critical(Rule::TimeAhead, "", POLICE, Some(r)),
                    critical(Rule::RevokedConsentUsed, "Art. 18.3", POLICE, Some(i)),
                ]
            }
            Forgery::DisclosureDatedBack => {
                register(fed, AgeStatus::Adult, at(0));
                fed.node(POLICE)
                    .commit(&[own_consent(Grantor::Subject, at(1000), DAY)]);
                // Life goes on past the expiry...
                fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
                    subject: SubjectId::from_bytes([salt ^ 0x44; 16]),
                    age_status: AgeStatus::Adult,
                    at: at(2 * DAY),
                }]);
                // ...and a disclosure is logged, dated (header and entry) before it.
                let h = on_consent(fed, at(DAY - HOUR));
                let entry = disclosed(fed, &h, Basis::Consent(consent), at(DAY - HOUR + 20));
                let i = fed.node(POLICE).commit(&[entry]);
                vec![
                    critical(Rule::TimeBackwards, "", POLICE, Some(i)),
                    critical(Rule::ConsentNotInForce, "Art. 18.3", POLICE, Some(i)),
                ]
            }
            Forgery::AdultAgeDatedBack => {
                register(fed, AgeStatus::PresumedChild, at(0));
                fed.node(POLICE)
                    .commit(&[own_consent(Grantor::Subject, at(HOUR), 365 * DAY)]);
                // The adult age is recorded after the child's own consent, dated before it.
                let a = fed.node(POLICE).commit(&[AuditEntry::AgeStatusRecorded {
                    subject,
                    age_status: AgeStatus::Adult,
                    at: at(1000),
                }]);
                let h = on_consent(fed, at(3 * HOUR));
                let i = fed.disclose(&h, Basis::Consent(consent));
                vec![
                    critical(Rule::TimeBackwards, "", POLICE, Some(a)),
                    critical(
                        Rule::ChildOwnConsent,
                        "Art. 18.3, 36, 38.5",
                        POLICE,
                        Some(i),
                    ),
                ]
            }
            Forgery::LastEntryDatedAhead => {
                register(fed, AgeStatus::Adult, at(0));
                let r = fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
                    subject: SubjectId::from_bytes([salt ^ 0x55; 16]),
                    age_status: AgeStatus::Adult,
                    at: at(TEN_YEARS),
                }]);
                vec![critical(Rule::TimeAhead, "", POLICE, Some(r))]
            }
            Forgery::UnverifiableRoster => {
                // A roster version 99 nobody can show.
                let r = fed.node(POLICE).commit(&[AuditEntry::RosterChanged {
                    version: 99,
                    roster_hash: [salt; 32],
                    at: at(0),
                }]);
                register(fed, AgeStatus::Adult, at(1000));
                let h = fed.header(
                    envelope,
                    POLICE,
                    CSW,
                    subject,
                    &[Category::Identity],
                    Purpose::Assistance,
                    None,
                    at(HOUR),
                );
                let i = fed.disclose(&h, agreement(&["csw-referral"]));
                let error = |entry| {
                    Expected::new(
                        Rule::RosterUnverifiable,
                        Severity::Error,
                        "Art. 18.2",
                        POLICE,
                        Some(entry),
                    )
                };
                vec![error(r), error(i)]
            }
            Forgery::RosterRollback => {
                // The authority removes the clause; the node adopts that roster...
                let version = fed.nodes[POLICE]
                    .decoded()
                    .iter()
                    .filter_map(|e| match e {
                        AuditEntry::RosterChanged { version, .. } => Some(*version),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(1);
                let agreement_without = fed.agreement_without("csw-referral");
                let (note, _) = fed.next_roster(version + 1, |r| {
                    r.with_agreement(agreement_without).unwrap()
                });
                fed.adopt(POLICE, version + 1, &note, at(0));
                // ...then claims the older version again, to use the removed clause.
                let old = fed.roster_note.clone();
                let back = fed.adopt(POLICE, fed.roster.version(), &old, at(1000));
                register(fed, AgeStatus::Adult, at(2000));
                let h = fed.header(
                    envelope,
                    POLICE,
                    CSW,
                    subject,
                    &[Category::Identity],
                    Purpose::Assistance,
                    None,
                    at(HOUR),
                );
                let i = fed.disclose(&h, agreement(&["csw-referral"]));
                vec![
                    critical(Rule::RosterRollback, "Art. 18.2", POLICE, Some(back)),
                    critical(
                        Rule::DisclosureWithoutBasis,
                        "Art. 18.2, 45.1",
                        POLICE,
                        Some(i),
                    ),
                ]
            }
            Forgery::RosterMismatch => {
                let r = fed.node(POLICE).commit(&[AuditEntry::RosterChanged {
                    version: 1,
                    roster_hash: [salt ^ 0x77; 32],
                    at: at(0),
                }]);
                vec![Expected::new(
                    Rule::RosterMismatch,
                    Severity::Error,
                    "Art. 18.2",
                    POLICE,
                    Some(r),
                )]
            }
            Forgery::ForgedRosterNote => {
                // A roster the authority never signed, carried in the bundle.
                // Seeds 0x80..=0x8f: never the federation's roster key (seed 0x10).
                let impostor = streha_crypto::RosterSecretKey::from_seed_bytes([0x80 | salt; 32]);
                let note = fed
                    .roster
                    .with_version(77, Timestamp(s))
                    .sign(&impostor)
                    .unwrap();
                fed.node(POLICE).rosters.push(note);
                vec![Expected::new(
                    Rule::RosterNotSigned,
                    Severity::Warning,
                    "",
                    POLICE,
                    None,
                )]
            }
            Forgery::ForgedCosignature => {
                register(fed, AgeStatus::Adult, at(0));
                // The node puts the centre for social work's cosignature on its checkpoint,
                // under that node's real key id, with a signature it made up.
                let csw_key = fed.nodes[CSW].node_key.as_dalek().clone();
                let fake = CosignatureSigner::new(&fed.nodes[CSW].origin, csw_key).unwrap();
                let police = fed.node(POLICE);
                let mut note = SignedNote::parse(police.checkpoints.last().unwrap()).unwrap();
                // A genuine signature over another body: well formed, under the real key
                // id, and false for this checkpoint.
                let forged = fake.cosign("another checkpoint\n", s / 1000).unwrap();
                note.add_signature(forged).unwrap();
                *police.checkpoints.last_mut().unwrap() = note.to_text();
                vec![critical(Rule::ForgedCosignature, "", POLICE, None)]
            }
        };
        let mut bundles = fed.bundles();
        bundles.extend(older);
        Forged {
            bundles,
            expected,
            options: VerifyOptions::new()
                .roster_key(fed.roster_key.public_key())
                .generated_at(generated_at),
        }
    }
}

/// A forgery written: what the DPO is given, and what it must find.
pub struct Forged {
    /// Every bundle the DPO holds: the nodes' current exports, and an older export where
    /// the class needs one.
    pub bundles: Vec<LogBundle>,
    /// The findings the forgery must produce.
    pub expected: Vec<Expected>,
    /// The DPO's options: the roster key, and the generation time by the DPO's clock.
    pub options: VerifyOptions,
}

impl Forged {
    /// Verifies as the DPO does.
    pub fn report(&self, fed: &Fed) -> Report {
        verify(&self.bundles, &fed.roster, &self.options)
    }

    /// Verifies and asserts every expected finding, exactly.
    #[track_caller]
    pub fn assert_caught(&self, fed: &Fed) -> Report {
        let report = self.report(fed);
        assert!(!report.is_clean(), "{}", render_text(&report));
        for expected in &self.expected {
            caught(&report, expected);
        }
        report
    }
}

/// One step of an honest federation.
#[derive(Clone, Debug)]
pub enum Step {
    /// The police register a subject (a presumed child gets a legal representative).
    Register { child: bool },
    /// A consent for a registered subject, by the subject or its representative.
    Grant {
        subject: usize,
        by_representative: bool,
        to_shelter: bool,
    },
    /// A consent is revoked.
    Revoke { consent: usize },
    /// A subject's adult age is recorded.
    Adult { subject: usize },
    /// The police ask to disclose; the policy decides. Delivered or left queued.
    Disclose {
        subject: usize,
        to: u8,
        categories: u8,
        purpose: u8,
        consent: Option<usize>,
        deliver: bool,
    },
    /// The centre for social work sends a case to the police under the agreement.
    Refer { subject: usize },
    /// Every node cosigns every other's latest checkpoint.
    Witness,
}

/// A strategy of honest histories.
pub fn steps() -> impl Strategy<Value = Vec<(Step, u64)>> {
    let step = prop_oneof![
        2 => any::<bool>().prop_map(|child| Step::Register { child }),
        2 => (any::<usize>(), any::<bool>(), any::<bool>()).prop_map(|(subject, by_representative, to_shelter)| Step::Grant { subject, by_representative, to_shelter }),
        1 => any::<usize>().prop_map(|consent| Step::Revoke { consent }),
        1 => any::<usize>().prop_map(|subject| Step::Adult { subject }),
        4 => (any::<usize>(), 0u8..3, any::<u8>(), 0u8..5, proptest::option::of(any::<usize>()), any::<bool>())
            .prop_map(|(subject, to, categories, purpose, consent, deliver)| Step::Disclose { subject, to, categories, purpose, consent, deliver }),
        1 => any::<usize>().prop_map(|subject| Step::Refer { subject }),
        1 => Just(Step::Witness),
    ];
    // Each step after a gap of one second to a day.
    proptest::collection::vec((step, 1_000u64..DAY), 1..24)
}

/// The honest police node's registry, as it decides.
pub struct Honest {
    pub fed: Fed,
    subjects: Vec<Subject>,
    consents: Vec<(ConsentGrant, Option<Timestamp>)>,
    csw_knows: Vec<SubjectId>,
    now: u64,
    next_envelope: u8,
}

impl Honest {
    /// Plays `steps` as honest nodes would: every disclosure decided by the policy (allowed
    /// ones logged as disclosed and, if asked, delivered; refused ones logged as refused).
    pub fn play(steps: &[(Step, u64)]) -> Fed {
        let mut h = Honest {
            fed: Fed::new(),
            subjects: Vec::new(),
            consents: Vec::new(),
            csw_knows: Vec::new(),
            now: T0,
            next_envelope: 1,
        };
        h.fed.start();
        for (step, gap) in steps {
            h.now += gap;
            h.step(step);
        }
        h.fed.witness_all();
        h.fed
    }

    fn step(&mut self, step: &Step) {
        let now = Timestamp(self.now);
        let guardian = RepresentativeId::new("guardian-1").unwrap();
        match step {
            Step::Register { child } => {
                if self.subjects.len() >= 200 {
                    return;
                }
                let n = self.subjects.len() as u8;
                let id = SubjectId::from_bytes([0x30, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                let age = if *child {
                    AgeStatus::PresumedChild
                } else {
                    AgeStatus::Adult
                };
                let mut entries = vec![AuditEntry::SubjectRegistered {
                    subject: id,
                    age_status: age,
                    at: now,
                }];
                let mut subject = Subject::new(id, age);
                if *child {
                    entries.push(AuditEntry::RepresentativeRegistered {
                        subject: id,
                        representative: guardian.clone(),
                        at: now,
                    });
                    subject.add_representative(guardian).unwrap();
                }
                self.fed.node(POLICE).commit(&entries);
                self.subjects.push(subject);
            }
            Step::Grant {
                subject,
                by_representative,
                to_shelter,
            } => {
                let Some(s) = self.pick_subject(*subject) else {
                    return;
                };
                if self.consents.len() >= 200 {
                    return;
                }
                let n = self.consents.len() as u8;
                let id = ConsentId::from_bytes([0x40, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                let granted_by = if *by_representative && s.has_representative(&guardian) {
                    Grantor::Representative(guardian)
                } else if s.adult_since().is_some() {
                    Grantor::Subject
                } else {
                    // An honest application records no consent from a child.
                    return;
                };
                let recipient = if *to_shelter { SHELTER } else { CSW };
                let grant = Fed::grant_for(
                    id,
                    s.id(),
                    granted_by,
                    vec![Recipient::Agency(agency(recipient))],
                    &[Category::Psychological, Category::Medical],
                    &[Purpose::Assistance, Purpose::ChildGuardianship],
                    now,
                    30 * DAY,
                );
                self.fed.node(POLICE).commit(&[AuditEntry::ConsentGranted {
                    grant: grant.clone(),
                }]);
                self.consents.push((grant, None));
            }
            Step::Revoke { consent } => {
                if self.consents.is_empty() {
                    return;
                }
                let i = consent % self.consents.len();
                if self.consents[i].1.is_some() {
                    return;
                }
                self.consents[i].1 = Some(now);
                self.fed.node(POLICE).commit(&[AuditEntry::ConsentRevoked {
                    revocation: ConsentRevocation {
                        consent: self.consents[i].0.id(),
                        revoked_at: now,
                        recorded_by: OfficerId::new("police-officer-1").unwrap(),
                    },
                }]);
            }
            Step::Adult { subject } => {
                if self.subjects.is_empty() {
                    return;
                }
                let i = subject % self.subjects.len();
                if self.subjects[i].age_status() == AgeStatus::Adult {
                    return;
                }
                self.subjects[i]
                    .record_age_status(AgeStatus::Adult, now)
                    .unwrap();
                self.fed
                    .node(POLICE)
                    .commit(&[AuditEntry::AgeStatusRecorded {
                        subject: self.subjects[i].id(),
                        age_status: AgeStatus::Adult,
                        at: now,
                    }]);
            }
            Step::Disclose {
                subject,
                to,
                categories,
                purpose,
                consent,
                deliver,
            } => {
                let Some(s) = self.pick_subject(*subject) else {
                    return;
                };
                // Half the time a disclosure the agreement foresees (most are lawful), half
                // the time any mix (most are refused, and logged as refused).
                let templates: [(&str, &[Category], Purpose); 5] = [
                    (
                        CSW,
                        &[Category::Identity, Category::Referral],
                        Purpose::Assistance,
                    ),
                    (
                        CSW,
                        &[Category::CaseSummary],
                        Purpose::IdentificationAndReferral,
                    ),
                    (
                        SHELTER,
                        &[Category::Identity, Category::Referral],
                        Purpose::Assistance,
                    ),
                    (CSW, &[Category::Psychological], Purpose::Assistance),
                    (
                        CSW,
                        &[Category::Identity, Category::CaseSummary],
                        Purpose::UrgentDanger,
                    ),
                ];
                let pool = [
                    Category::Identity,
                    Category::CaseSummary,
                    Category::Referral,
                    Category::Psychological,
                    Category::Medical,
                    Category::Investigation,
                ];
                let (recipient, chosen, purpose) = if categories & 0x80 == 0 {
                    let (r, c, p) = templates[*categories as usize % templates.len()];
                    (r, c.to_vec(), p)
                } else {
                    let chosen: Vec<Category> = pool
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| categories & (1 << i) != 0)
                        .map(|(_, c)| *c)
                        .collect();
                    let chosen = if chosen.is_empty() {
                        vec![Category::Referral]
                    } else {
                        chosen
                    };
                    let purpose = [
                        Purpose::Assistance,
                        Purpose::IdentificationAndReferral,
                        Purpose::ChildGuardianship,
                        Purpose::UrgentDanger,
                        Purpose::CriminalInvestigationAndProsecution,
                    ][*purpose as usize % 5];
                    ([CSW, SHELTER, CSW][*to as usize % 3], chosen, purpose)
                };
                let consent = consent
                    .filter(|_| !self.consents.is_empty())
                    .map(|c| self.consents[c % self.consents.len()].0.id());
                let envelope = self.next_envelope;
                self.next_envelope = self.next_envelope.wrapping_add(1).max(1);
                let mut header = self.fed.header(
                    envelope,
                    POLICE,
                    recipient,
                    s.id(),
                    &chosen,
                    purpose,
                    consent,
                    now,
                );
                if purpose == Purpose::UrgentDanger {
                    self.fed.approve(&mut header, 2);
                }
                let views: Vec<ConsentView<'_>> = self
                    .consents
                    .iter()
                    .filter(|(g, _)| g.subject() == s.id())
                    .map(|(g, r)| ConsentView {
                        grant: g,
                        revoked_at: *r,
                    })
                    .collect();
                let roster = self.fed.roster.clone();
                let request =
                    DisclosureRequest::new(&header).with_verified_approvals(|_, _, _| true);
                let context = PolicyContext {
                    federation: roster.policy_view(),
                    subject: Some(&s),
                    consents: &views,
                };
                let at = Timestamp(header.created_at.0 + 20);
                let decision = decide_to_send(&context, &request, at);
                // The receiver decides on the carried evidence, without revocations.
                let carried: Vec<ConsentView<'_>> = views
                    .iter()
                    .map(|v| ConsentView {
                        grant: v.grant,
                        revoked_at: None,
                    })
                    .collect();
                let receiver = PolicyContext {
                    consents: &carried,
                    ..context
                };
                let received = decide(&receiver, &request, header.created_at);
                drop(views);
                match decision {
                    Decision::Allowed { basis, .. } => {
                        let index = self.fed.disclose(&header, basis);
                        if *deliver && let Decision::Allowed { basis, .. } = received {
                            self.fed.deliver(&header, basis, index);
                        }
                    }
                    Decision::Refused { reason } => {
                        self.fed
                            .node(POLICE)
                            .commit(&[AuditEntry::Refused { header, reason, at }]);
                    }
                }
                self.now += 1_000;
            }
            Step::Refer { subject } => {
                let Some(s) = self.pick_subject(*subject) else {
                    return;
                };
                if s.age_status() != AgeStatus::Adult {
                    return;
                }
                if !self.csw_knows.contains(&s.id()) {
                    self.fed.node(CSW).commit(&[AuditEntry::SubjectRegistered {
                        subject: s.id(),
                        age_status: AgeStatus::Adult,
                        at: now,
                    }]);
                    self.csw_knows.push(s.id());
                }
                let envelope = self.next_envelope;
                self.next_envelope = self.next_envelope.wrapping_add(1).max(1);
                let header = self.fed.header(
                    envelope,
                    CSW,
                    POLICE,
                    s.id(),
                    &[Category::CaseSummary],
                    Purpose::CriminalInvestigationAndProsecution,
                    None,
                    Timestamp(self.now + 10),
                );
                self.fed.send(&header, agreement(&["police-investigation"]));
                self.now += 1_000;
            }
            Step::Witness => self.fed.witness_all_at(self.now / 1000 + 1),
        }
    }

    fn pick_subject(&self, i: usize) -> Option<Subject> {
        (!self.subjects.is_empty()).then(|| self.subjects[i % self.subjects.len()].clone())
    }
}
