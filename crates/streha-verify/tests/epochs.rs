//! V1.9: a node restored with loss continues its log under a new epoch whose entry 0
//! declares the lost range (`spec/audit-log.md` §9). An honest declaration is one warning
//! (`declared_loss`) and the other logs' evidence of the lost entries is reported under it;
//! an epoch without a declaration, or with a false one, is critical. Before V1.9 every
//! epoch bundle was `unknown_log` (critical), so each test below failed on its rule.

mod common;

use common::*;
use streha_audit::{Checkpoint, LogBundle, MemoryTree, NoteSigner, sign_checkpoint};
use streha_core::{AuditEntry, Category, LogOrigin, Purpose};
use streha_verify::{Report, Rule, Severity, VerifyOptions, render_text, verify};

const EPOCH2: &str = "/epoch/2";

/// The police node restored from a backup of its first `restored` entries; the full log is
/// what csw and the shelter saw.
struct Restore {
    fed: Fed,
    restored: usize,
}

impl Restore {
    fn new() -> Self {
        let fed = Fed::demo();
        // The backup: the size of police's first checkpoint.
        let police = &fed.nodes[POLICE];
        let restored = usize::try_from(
            Checkpoint::parse_body(
                streha_audit::SignedNote::parse(&police.checkpoints[0])
                    .unwrap()
                    .body(),
            )
            .unwrap()
            .size(),
        )
        .unwrap();
        assert!(
            restored < police.entries.len(),
            "the demo's police log grows"
        );
        Self { fed, restored }
    }

    fn police(&self) -> &Node {
        &self.fed.nodes[POLICE]
    }

    /// The previous epoch as the restored store exports it: the first `restored` entries
    /// and the checkpoints up to them.
    fn old_bundle(&self) -> LogBundle {
        let police = self.police();
        let entries = police.entries[..self.restored].to_vec();
        let checkpoints = police
            .checkpoints
            .iter()
            .filter(|c| {
                let note = streha_audit::SignedNote::parse(c).unwrap();
                Checkpoint::parse_body(note.body()).unwrap().size() <= self.restored as u64
            })
            .cloned()
            .collect();
        LogBundle::new(police.origin.clone(), entries, checkpoints)
    }

    /// The honest declaration: the restored tree, and police's latest checkpoint (the
    /// largest its peers cosigned) as csw kept it.
    fn declaration(&self) -> AuditEntry {
        let police = self.police();
        AuditEntry::LogRestored {
            previous_origin: LogOrigin::new(police.origin.clone()).unwrap(),
            restored_size: self.restored as u64,
            restored_root: MemoryTree::from_entries(&police.entries[..self.restored])
                .root()
                .to_bytes(),
            proven_note: police.checkpoints.last().unwrap().clone(),
            proven_by: agency(CSW),
            at: t(40 * DAY),
        }
    }

    /// The new epoch's bundle: `first`, then a registration, signed by `key`'s owner under
    /// the epoch's origin. (The new epoch is replayed as the old one's continuation: its
    /// entries must be ones the node could log.)
    fn epoch_bundle(&self, first: &AuditEntry, key: &ed25519_dalek::SigningKey) -> LogBundle {
        let origin = format!("{}{EPOCH2}", self.police().origin);
        let entries = vec![first.encode(), later_registration().encode()];
        let tree = MemoryTree::from_entries(&entries);
        let signer = NoteSigner::new(&origin, key.clone()).unwrap();
        let note = sign_checkpoint(
            &Checkpoint::new(origin.as_str(), tree.size(), tree.root()).unwrap(),
            &signer,
        )
        .to_text();
        LogBundle::new(origin, entries, vec![note])
    }

    fn police_key(&self) -> ed25519_dalek::SigningKey {
        self.police().node_key.as_dalek().clone()
    }

    fn run(&self, epoch: LogBundle) -> Report {
        let mut bundles: Vec<LogBundle> = self
            .fed
            .bundles()
            .into_iter()
            .filter(|b| b.origin != self.police().origin)
            .collect();
        bundles.push(self.old_bundle());
        bundles.push(epoch);
        verify(&bundles, &self.fed.roster, &VerifyOptions::default())
    }
}

/// A registration of a new subject in the new epoch.
fn later_registration() -> AuditEntry {
    AuditEntry::SubjectRegistered {
        subject: streha_core::SubjectId::from_bytes([0x77; 16]),
        age_status: streha_core::AgeStatus::Adult,
        at: t(40 * DAY),
    }
}

fn serious(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Error)
        .map(|f| format!("{}: {}", f.rule, f.seen))
        .collect()
}

/// `rule` is found on the new epoch, and the other serious findings are the restored
/// bundle's truncation, which no valid declaration covers.
fn only(report: &Report, rule: Rule) {
    let serious: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Error)
        .collect();
    assert!(
        serious
            .iter()
            .any(|f| f.rule == rule && f.node == format!("{POLICE} (epoch 2)"))
            && serious
                .iter()
                .all(|f| f.rule == rule || (f.rule == Rule::TruncatedExport && f.node == POLICE)),
        "expected {rule}: {}",
        render_text(report)
    );
    assert!(
        report.findings.iter().all(|f| f.rule != Rule::DeclaredLoss),
        "{}",
        render_text(report)
    );
}

#[test]
fn an_honest_restore_is_one_declared_loss_and_no_critical() {
    let r = Restore::new();
    let report = r.run(r.epoch_bundle(&r.declaration(), &r.police_key()));
    assert!(serious(&report).is_empty(), "{}", render_text(&report));
    let declared: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::DeclaredLoss)
        .collect();
    assert_eq!(declared.len(), 1, "{}", render_text(&report));
    let size = r.police().tree.size();
    assert!(
        declared[0].seen.contains(&format!(
            "entries {}..{size} of `{}` declared lost",
            r.restored,
            r.police().origin
        )),
        "{}",
        declared[0].seen
    );
    assert_eq!(declared[0].severity, Severity::Warning);
    assert_eq!(declared[0].node, format!("{POLICE} (epoch 2)"));
    // Without the declaration's epoch, the same restored bundle is a truncated export.
    let mut bundles: Vec<LogBundle> = r
        .fed
        .bundles()
        .into_iter()
        .filter(|b| b.origin != r.police().origin)
        .collect();
    bundles.push(r.old_bundle());
    let bare = verify(&bundles, &r.fed.roster, &VerifyOptions::default());
    assert!(
        bare.findings
            .iter()
            .any(|f| f.rule == Rule::TruncatedExport),
        "{}",
        render_text(&bare)
    );
}

#[test]
fn a_new_epoch_without_a_declaration_is_critical() {
    let r = Restore::new();
    let other = later_registration();
    only(
        &r.run(r.epoch_bundle(&other, &r.police_key())),
        Rule::UndeclaredEpoch,
    );
}

#[test]
fn a_declaration_proven_under_another_key_is_critical() {
    let r = Restore::new();
    let AuditEntry::LogRestored {
        previous_origin,
        restored_size,
        restored_root,
        proven_by,
        at,
        ..
    } = r.declaration()
    else {
        unreachable!()
    };
    // csw's key signing a "police" checkpoint.
    let csw = r.fed.nodes[CSW].node_key.as_dalek().clone();
    let signer = NoteSigner::new(&r.police().origin, csw).unwrap();
    let forged_note = sign_checkpoint(
        &Checkpoint::new(
            r.police().origin.as_str(),
            1000,
            streha_audit::Hash::from([1; 32]),
        )
        .unwrap(),
        &signer,
    )
    .to_text();
    let forged = AuditEntry::LogRestored {
        previous_origin,
        restored_size,
        restored_root,
        proven_note: forged_note,
        proven_by,
        at,
    };
    only(
        &r.run(r.epoch_bundle(&forged, &r.police_key())),
        Rule::ForgedRestoreDeclaration,
    );
}

#[test]
fn a_declaration_that_hides_a_checkpoint_others_saw_is_critical() {
    let r = Restore::new();
    let AuditEntry::LogRestored {
        previous_origin,
        restored_size,
        restored_root,
        proven_by,
        at,
        ..
    } = r.declaration()
    else {
        unreachable!()
    };
    // Proves only one entry more than restored, though the peers kept larger checkpoints.
    let police = r.police();
    let small = r.restored + 1;
    let tree = MemoryTree::from_entries(&police.entries[..small]);
    let hiding = AuditEntry::LogRestored {
        previous_origin,
        restored_size,
        restored_root,
        proven_note: police.signed_checkpoint(small as u64, tree.root()),
        proven_by,
        at,
    };
    let report = r.run(r.epoch_bundle(&hiding, &r.police_key()));
    only(&report, Rule::ForgedRestoreDeclaration);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.seen.contains("entries hidden")),
        "{}",
        render_text(&report)
    );
}

#[test]
fn a_declaration_whose_restored_root_is_not_the_old_epochs_is_critical() {
    let r = Restore::new();
    let AuditEntry::LogRestored {
        previous_origin,
        restored_size,
        proven_note,
        proven_by,
        at,
        ..
    } = r.declaration()
    else {
        unreachable!()
    };
    let alien = AuditEntry::LogRestored {
        previous_origin,
        restored_size,
        restored_root: [0xee; 32],
        proven_note,
        proven_by,
        at,
    };
    let report = r.run(r.epoch_bundle(&alien, &r.police_key()));
    only(&report, Rule::ForgedRestoreDeclaration);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.seen.contains("restored tree")),
        "{}",
        render_text(&report)
    );
}

#[test]
fn a_new_epoch_not_signed_by_the_node_is_critical() {
    let r = Restore::new();
    let csw = r.fed.nodes[CSW].node_key.as_dalek().clone();
    only(
        &r.run(r.epoch_bundle(&r.declaration(), &csw)),
        Rule::CheckpointNotSigned,
    );
}

/// Police restored from a backup that holds its subjects and the guardian's consent, and
/// continued in epoch 2, where it discloses to csw on that consent (recorded in epoch 1)
/// and receives from csw: the evidence each side keeps of police's epoch 2 is signed under
/// the epoch's origin.
struct Continued {
    fed: Fed,
    /// The restored epoch 1, as the node keeps it (`epochs/1.bundle`).
    old: LogBundle,
    /// Police's epoch-2 index of its disclosure to csw.
    d7_index: u64,
}

impl Continued {
    fn new() -> Self {
        let mut fed = Fed::demo();
        let police = &fed.nodes[POLICE];
        // The backup: the first checkpoint that holds the guardian's consent.
        let has_guardian = |entries: &[Vec<u8>]| {
            entries.iter().any(|e| {
                matches!(AuditEntry::decode(e), Ok(AuditEntry::ConsentGranted { grant }) if grant.id() == CONSENT_GUARDIAN)
            })
        };
        let sizes: Vec<u64> = police
            .checkpoints
            .iter()
            .map(|c| {
                Checkpoint::parse_body(streha_audit::SignedNote::parse(c).unwrap().body())
                    .unwrap()
                    .size()
            })
            .collect();
        let restored = sizes
            .iter()
            .map(|&s| usize::try_from(s).unwrap())
            .find(|&s| has_guardian(&police.entries[..s]))
            .unwrap();
        assert!(restored < police.entries.len());
        let old = LogBundle::new(
            police.origin.clone(),
            police.entries[..restored].to_vec(),
            police
                .checkpoints
                .iter()
                .zip(&sizes)
                .filter(|(_, s)| **s <= restored as u64)
                .map(|(c, _)| c.clone())
                .collect(),
        )
        .with_rosters(police.rosters.clone());
        let declaration = AuditEntry::LogRestored {
            previous_origin: LogOrigin::new(police.origin.clone()).unwrap(),
            restored_size: restored as u64,
            restored_root: MemoryTree::from_entries(&police.entries[..restored])
                .root()
                .to_bytes(),
            proven_note: police.checkpoints.last().unwrap().clone(),
            proven_by: agency(CSW),
            at: t(40 * DAY),
        };
        // The node switches to epoch 2: a new log under the epoch's origin, same key.
        {
            let police = fed.node(POLICE);
            police.origin = format!("{}{EPOCH2}", police.origin);
            police.entries.clear();
            police.tree = MemoryTree::new();
            police.checkpoints.clear();
            police.commit(&[declaration]);
        }
        // D7: the child's identity and medical information on the guardian's consent,
        // recorded in epoch 1.
        let d7 = fed.header(
            0x21,
            POLICE,
            CSW,
            SUBJECT_CHILD,
            &[Category::Identity, Category::Medical],
            Purpose::ChildGuardianship,
            Some(CONSENT_GUARDIAN),
            t(41 * DAY),
        );
        let d7_index = fed.disclose(&d7, consent_and("csw-referral", CONSENT_GUARDIAN));
        fed.deliver(&d7, consent_and("csw-referral", CONSENT_GUARDIAN), d7_index);
        // D8: csw to police, received in police's epoch 2.
        let d8 = fed.header(
            0x22,
            CSW,
            POLICE,
            SUBJECT_ADULT,
            &[Category::CaseSummary],
            Purpose::CriminalInvestigationAndProsecution,
            None,
            t(42 * DAY),
        );
        fed.send(&d8, agreement(&["police-investigation"]));
        Self { fed, old, d7_index }
    }

    fn bundles(&self) -> Vec<LogBundle> {
        let mut bundles = self.fed.bundles();
        bundles.push(self.old.clone());
        bundles
    }
}

/// Issue 18.18: deliveries to and from a node in its second epoch are evidence signed under
/// the epoch's origin, matched against that epoch's bundle; its disclosure on a consent
/// recorded in epoch 1 is lawful, since the node kept its state. Before the verifier knew
/// epochs, csw's evidence of police's epoch 2 was `forged_checkpoint_evidence` and police's
/// epoch 2 was not replayed.
#[test]
fn a_later_epoch_is_replayed_as_the_continuation_and_its_evidence_matches() {
    let c = Continued::new();
    let report = verify(&c.bundles(), &c.fed.roster, &VerifyOptions::default());
    assert!(serious(&report).is_empty(), "{}", render_text(&report));
    let warnings: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.rule, f.node.as_str()))
        .collect();
    let epoch2 = format!("{POLICE} (epoch 2)");
    assert_eq!(
        warnings,
        vec![(Rule::DeclaredLoss, epoch2.as_str())],
        "{}",
        render_text(&report)
    );
    // The epoch-2 disclosure is replayed, lawful and received.
    let node = report
        .nodes
        .iter()
        .find(|n| n.origin.ends_with(EPOCH2))
        .unwrap();
    assert!(node.replayed, "{}", render_text(&report));
    let row = node
        .disclosures
        .iter()
        .find(|d| d.index == c.d7_index)
        .unwrap();
    assert!(row.lawful, "{row:?}");
    assert_eq!(row.status, "received", "{row:?}");
}

/// A checkpoint of police's log signed under an epoch no bundle names (and no declaration
/// continues) is not evidence: the keeper's entry is `forged_checkpoint_evidence`.
#[test]
fn evidence_under_an_epoch_never_declared_is_forged() {
    let mut c = Continued::new();
    let police = &c.fed.nodes[POLICE];
    let base = police.origin.trim_end_matches(EPOCH2).to_owned();
    let undeclared = format!("{base}/epoch/5");
    let signer = NoteSigner::new(&undeclared, police.node_key.as_dalek().clone()).unwrap();
    let note = sign_checkpoint(
        &Checkpoint::new(undeclared.as_str(), police.tree.size(), police.tree.root()).unwrap(),
        &signer,
    )
    .to_text();
    let verifier =
        streha_audit::NoteVerifier::new(&undeclared, *police.node_key.public_key().as_dalek())
            .unwrap();
    let kept = streha_wire::peer::KeptCheckpoint::open(&note, &verifier)
        .unwrap()
        .1;
    let d9 = c.fed.header(
        0x23,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Identity, Category::Referral],
        Purpose::Assistance,
        None,
        t(43 * DAY),
    );
    let envelope = c.fed.envelope(&d9);
    let index = c.fed.node(CSW).commit(&[Fed::received_entry(
        &d9,
        agreement(&["csw-referral"]),
        &envelope,
        c.d7_index,
        kept,
        t(43 * DAY),
    )]);
    let report = verify(&c.bundles(), &c.fed.roster, &VerifyOptions::default());
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == Rule::ForgedCheckpointEvidence
                && f.node == CSW
                && f.entry_index == Some(index)
                && f.severity == Severity::Critical),
        "{}",
        render_text(&report)
    );
}

/// Without the restored epoch's bundle, the new epoch is replayed without the state the
/// node carried over: that is one `missing_epoch` warning, not false criticals about the
/// consent recorded in epoch 1.
#[test]
fn a_missing_earlier_epoch_is_one_warning_not_false_criticals() {
    let c = Continued::new();
    let report = verify(&c.fed.bundles(), &c.fed.roster, &VerifyOptions::default());
    assert!(serious(&report).is_empty(), "{}", render_text(&report));
    let missing: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::MissingEpoch)
        .collect();
    assert_eq!(missing.len(), 1, "{}", render_text(&report));
    assert_eq!(missing[0].severity, Severity::Warning);
    assert!(
        missing[0].seen.contains("epochs/1.bundle"),
        "{}",
        missing[0].seen
    );
    assert!(!report.is_clean());
}
