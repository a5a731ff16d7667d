//! V3.6: a log rewritten after a witness cosigned it, exposed by the witness's own record
//! in its log (`witnessed_checkpoints`), from the federation's bundles alone.

mod common;

use common::*;
use streha_audit::{LogBundle, MemoryTree};
use streha_core::{AuditEntry, LogOrigin, WitnessedCheckpoint};
use streha_verify::{Rule, Severity, VerifyOptions, render_text, verify};

/// The demo federation in which the CSW node records, in its own log, that it cosigned the
/// police log at its latest size.
fn recorded() -> (Fed, u64) {
    let mut fed = Fed::demo();
    let police = &fed.nodes[POLICE];
    let size = police.tree.size();
    let record = AuditEntry::WitnessedCheckpoints {
        checkpoints: vec![WitnessedCheckpoint {
            origin: LogOrigin::new(police.origin.clone()).unwrap(),
            size,
            root: police.tree.root().to_bytes(),
        }],
        at: t(30 * DAY),
    };
    fed.node(CSW).commit(&[record]);
    (fed, size)
}

/// The police bundle as a dishonest operator holding the police node key rebuilds it:
/// `entries`, every checkpoint signed again over the new tree (no cosignature: they cannot
/// be forged), so the bundle is internally consistent.
fn rebuilt(fed: &Fed, entries: Vec<Vec<u8>>) -> LogBundle {
    let police = &fed.nodes[POLICE];
    let tree = MemoryTree::from_entries(&entries);
    let checkpoints = vec![police.signed_checkpoint(tree.size(), tree.root())];
    LogBundle::new(police.origin.clone(), entries, checkpoints)
}

fn with_police(fed: &Fed, police: LogBundle) -> Vec<LogBundle> {
    fed.bundles()
        .into_iter()
        .map(|b| {
            if b.origin == police.origin {
                police.clone()
            } else {
                b
            }
        })
        .collect()
}

#[test]
fn an_honest_record_verifies_clean() {
    let (fed, _) = recorded();
    let report = verify(&fed.bundles(), &fed.roster, &VerifyOptions::default());
    assert!(report.is_clean(), "{}", render_text(&report));
}

#[test]
fn an_entry_replaced_and_re_signed_after_it_was_cosigned_is_caught() {
    let (fed, _) = recorded();
    // Replace the first `disclosed` by a `refused` of the same header: no index shifts, the
    // tree and its checkpoint are signed again, the bundle is consistent in itself.
    let mut entries = fed.nodes[POLICE].entries.clone();
    let index = entries
        .iter()
        .position(|e| matches!(AuditEntry::decode(e), Ok(AuditEntry::Disclosed { .. })))
        .unwrap();
    let Ok(AuditEntry::Disclosed { header, at, .. }) = AuditEntry::decode(&entries[index]) else {
        unreachable!()
    };
    entries[index] = AuditEntry::Refused {
        header,
        reason: streha_core::RefusalReason::EmptyCategories,
        at,
    }
    .encode();
    let bundles = with_police(&fed, rebuilt(&fed, entries));

    let report = verify(&bundles, &fed.roster, &VerifyOptions::default());
    let found: Vec<_> = report.with_rule(Rule::RewrittenAfterCosigning).collect();
    assert_eq!(found.len(), 1, "{}", render_text(&report));
    assert_eq!(found[0].node, POLICE);
    assert_eq!(found[0].severity, Severity::Critical);
    assert!(found[0].seen.contains(CSW), "{}", found[0].seen);
    // Without the witness's bundle, nothing shows the rewrite of the police log itself.
    let alone: Vec<_> = bundles
        .iter()
        .filter(|b| b.origin.ends_with(POLICE))
        .cloned()
        .collect();
    let report = verify(&alone, &fed.roster, &VerifyOptions::default());
    assert_eq!(report.with_rule(Rule::RewrittenAfterCosigning).count(), 0);
}

#[test]
fn a_bundle_cut_before_a_cosigned_size_is_caught() {
    let (fed, size) = recorded();
    let mut entries = fed.nodes[POLICE].entries.clone();
    entries.pop();
    let bundles = with_police(&fed, rebuilt(&fed, entries));
    let report = verify(&bundles, &fed.roster, &VerifyOptions::default());
    let found: Vec<_> = report.with_rule(Rule::CosignedBeyondExport).collect();
    assert_eq!(found.len(), 1, "{}", render_text(&report));
    assert_eq!(found[0].node, POLICE);
    assert!(
        found[0].seen.contains(&format!("size {size}")),
        "{}",
        found[0].seen
    );
}
