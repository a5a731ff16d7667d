//! V1.9: a node restored with loss continues its log under a new epoch whose entry 0
//! declares the lost range (`spec/audit-log.md` §9). An honest declaration is one warning
//! (`declared_loss`) and the other logs' evidence of the lost entries is reported under it;
//! an epoch without a declaration, or with a false one, is critical. Before V1.9 every
//! epoch bundle was `unknown_log` (critical), so each test below failed on its rule.

mod common;

use common::*;
use streha_audit::{Checkpoint, LogBundle, MemoryTree, NoteSigner, sign_checkpoint};
use streha_core::{AuditEntry, LogOrigin};
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

    /// The new epoch's bundle: `first`, then a roster entry, signed by `key`'s owner under
    /// the epoch's origin.
    fn epoch_bundle(&self, first: &AuditEntry, key: &ed25519_dalek::SigningKey) -> LogBundle {
        let origin = format!("{}{EPOCH2}", self.police().origin);
        let entries = vec![
            first.encode(),
            AuditEntry::RosterChanged {
                version: 1,
                roster_hash: [0; 32],
                at: t(40 * DAY),
            }
            .encode(),
        ];
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
    let other = AuditEntry::RosterChanged {
        version: 1,
        roster_hash: [0; 32],
        at: t(40 * DAY),
    };
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
