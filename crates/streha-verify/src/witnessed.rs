//! V3.7: what the witnesses recorded against the logs they witnessed. A node that cosigns
//! another node's checkpoints records them in its own log (`witnessed_checkpoints`, entry
//! tag 17: origin, size, root); every such record that the witness's checkpoints vouch for
//! must hold in the witnessed log's bundle. A root that differs is a log rewritten after it
//! was cosigned; a bundle shorter than the recorded size withholds entries that were
//! cosigned. The federation's bundles alone show it; no older copy is needed.

use std::collections::BTreeMap;

use streha_audit::Hash;
use streha_core::AuditEntryRef;

use crate::directory::Directory;
use crate::finding::{Finding, Rule};
use crate::integrity::CheckedLog;

/// Checks every vouched-for `witnessed_checkpoints` entry of every replayed log (`primary`:
/// node and log epoch → its log's index in `logs`) against the witnessed log's tree, of
/// the epoch the recorded origin names.
pub(crate) fn check_witnessed(
    logs: &[CheckedLog<'_>],
    primary: &BTreeMap<(usize, u64), usize>,
    dir: &Directory<'_>,
    findings: &mut Vec<Finding>,
) {
    for &w in primary.values() {
        let witness = &logs[w];
        for (index, entry) in witness.entries.iter().enumerate() {
            if index as u64 >= witness.vouched {
                break;
            }
            let Some(AuditEntryRef::WitnessedCheckpoints { checkpoints, .. }) = entry else {
                continue;
            };
            for recorded in checkpoints {
                let Some(log) = dir
                    .log_of(recorded.origin.as_str())
                    .and_then(|of| primary.get(&of))
                    .map(|&l| &logs[l])
                else {
                    continue;
                };
                let root = Hash::from_bytes(recorded.root);
                let size = recorded.size;
                if size > log.tree.size() {
                    findings.push(Finding::new(
                        Rule::CosignedBeyondExport,
                        &log.name,
                        format!(
                            "`{}` recorded cosigning this log at size {size} (its entry {index}); the bundle holds {} entries: entries {}..{size} were cosigned and are withheld",
                            witness.name,
                            log.tree.size(),
                            log.tree.size()
                        ),
                    ));
                } else if log.tree.root_at(size).is_ok_and(|ours| ours != root) {
                    findings.push(Finding::new(
                        Rule::RewrittenAfterCosigning,
                        &log.name,
                        format!(
                            "`{}` recorded cosigning root {root} at size {size} (its entry {index}); this bundle's entries give another root at that size: an entry below {size} was changed after it was cosigned",
                            witness.name
                        ),
                    ));
                }
            }
        }
    }
}
