//! V1.9: log epochs (`spec/audit-log.md` §9). A bundle of `<base>/epoch/<n>`, `n` ≥ 2, is a
//! member's log continued after a restore with loss: its entry 0 must be a valid
//! `log_restored` declaration. A valid one is its own finding (`declared_loss`, a warning),
//! and the evidence other logs keep of the previous epoch's lost entries (a checkpoint it
//! signed beyond the restored bundle) is reported under it, not as a truncated export; a
//! missing or false one is critical.

use streha_audit::{LogBundle, MemoryTree, NoteVerifier, open_checkpoint, root_at};
use streha_core::epoch::{FIRST_EPOCH, previous_epoch_origin};
use streha_core::{AuditEntry, AuditEntryRef};

use crate::directory::Directory;
use crate::evidence::kept_of;
use crate::finding::{Finding, Rule};
use crate::integrity::CheckedLog;

/// A declaration that held: the previous epoch's log lost `restored..proven`.
struct Declared {
    /// The node (roster index).
    node: usize,
    /// The epoch that declares the loss (the previous one lost it).
    epoch: u64,
    /// The previous epoch's origin.
    previous: String,
    /// The finding, completed once the evidence it covers is known.
    finding: Finding,
}

/// Whether `origin` is a later epoch of a roster node's log: that node and the epoch.
fn epoch_of_member(dir: &Directory<'_>, origin: &str) -> Option<(usize, u64)> {
    dir.log_of(origin).filter(|&(_, epoch)| epoch > FIRST_EPOCH)
}

/// Runs V1.9 over every bundle of a later epoch, after V3 (it moves the V3.6/V3.7 findings
/// on a previous epoch's lost range under the declaration).
pub(crate) fn check_epochs(
    bundles: &[LogBundle],
    logs: &[CheckedLog<'_>],
    dir: &Directory<'_>,
    findings: &mut Vec<Finding>,
) {
    let mut declared = Vec::new();
    for bundle in bundles {
        let Some((node, epoch)) = epoch_of_member(dir, &bundle.origin) else {
            continue;
        };
        let name = dir.log_name(node, epoch);
        match judge(bundle, bundles, logs, dir, node, epoch) {
            Ok(mut d) => {
                d.finding.node = name;
                declared.push(d);
            }
            Err((rule, seen)) => findings.push(Finding::new(rule, name, seen).at_entry(0)),
        }
    }
    for d in declared {
        // The previous epoch's bundle is named as its log (`Directory::log_name`): its
        // evidence of entries in the declared lost range is the declared loss, seen from the
        // other logs.
        let previous = dir.log_name(d.node, d.epoch - 1);
        let before = findings.len();
        findings.retain(|f| {
            !(f.node == previous
                && matches!(f.rule, Rule::TruncatedExport | Rule::CosignedBeyondExport))
        });
        let covered = before - findings.len();
        let mut finding = d.finding;
        if covered > 0 {
            finding.seen.push_str(&format!(
                "; {covered} finding(s) of other logs' evidence of `{}` beyond its restored size (all within the declared range) are reported under this one",
                d.previous
            ));
        }
        findings.push(finding);
    }
}

/// The checks of one later-epoch bundle; `Err` is the critical finding.
fn judge(
    bundle: &LogBundle,
    bundles: &[LogBundle],
    logs: &[CheckedLog<'_>],
    dir: &Directory<'_>,
    node: usize,
    epoch: u64,
) -> Result<Declared, (Rule, String)> {
    let key = *dir.nodes[node].agency.node_key.as_dalek();
    let forged = |seen: String| (Rule::ForgedRestoreDeclaration, seen);
    let Some(previous) = previous_epoch_origin(&bundle.origin) else {
        return Err(forged(format!("`{}` names no epoch", bundle.origin)));
    };
    // The new epoch's log must be the node's: a checkpoint of it, signed by the node's key
    // under the epoch's origin, whose root the entries give.
    let epoch_key = NoteVerifier::new(&bundle.origin, key)
        .map_err(|e| forged(format!("the epoch's origin is no key name: {e}")))?;
    let tree = MemoryTree::from_entries(&bundle.entries);
    let vouched = bundle.checkpoints.iter().any(|text| {
        open_checkpoint(text, std::slice::from_ref(&epoch_key)).is_ok_and(|(c, _)| {
            c.origin() == bundle.origin
                && c.size() >= 1
                && c.size() <= tree.size()
                && root_at(c.size(), &tree).is_ok_and(|root| root == *c.root())
        })
    });
    if !vouched {
        return Err((
            Rule::CheckpointNotSigned,
            format!(
                "no checkpoint of the new epoch `{}` signed by the node's key gives the root of its entries",
                bundle.origin
            ),
        ));
    }
    let Some(AuditEntry::LogRestored {
        previous_origin,
        restored_size,
        restored_root,
        proven_note,
        proven_by,
        at,
    }) = bundle
        .entries
        .first()
        .and_then(|bytes| AuditEntry::decode(bytes).ok())
    else {
        return Err((
            Rule::UndeclaredEpoch,
            format!(
                "the new log epoch `{}` does not begin with a log_restored declaration: a log started over without saying what it lost",
                bundle.origin
            ),
        ));
    };
    if previous_origin.as_str() != previous {
        return Err(forged(format!(
            "the declaration continues `{previous_origin}`, not the epoch before, `{previous}`"
        )));
    }
    let previous_key = NoteVerifier::new(&previous, key)
        .map_err(|e| forged(format!("the previous origin is no key name: {e}")))?;
    let proven = match open_checkpoint(&proven_note, std::slice::from_ref(&previous_key)) {
        Ok((c, _)) if c.origin() == previous => c,
        Ok((c, _)) => {
            return Err(forged(format!(
                "the declaration's proof is a checkpoint of `{}`",
                c.origin()
            )));
        }
        Err(e) => {
            return Err(forged(format!(
                "the declaration's proof is not a checkpoint of `{previous}` signed by the node's key: {e}"
            )));
        }
    };
    if proven.size() <= restored_size {
        return Err(forged(format!(
            "the declaration proves size {}, not more than the restored size {restored_size}: no loss",
            proven.size()
        )));
    }
    // The previous epoch's entries, where a bundle covers the restored size, give the
    // restored root; its signed checkpoints are not beyond the proven size.
    for old in bundles.iter().filter(|b| b.origin == previous) {
        if let Some(restored) = usize::try_from(restored_size)
            .ok()
            .and_then(|n| old.entries.get(..n))
        {
            let root = MemoryTree::from_entries(restored).root();
            if root.to_bytes() != restored_root {
                return Err(forged(format!(
                    "the declaration's restored tree (size {restored_size}) is not the first {restored_size} entries of `{previous}`'s bundle"
                )));
            }
        }
        for text in &old.checkpoints {
            if let Ok((c, _)) = open_checkpoint(text, std::slice::from_ref(&previous_key))
                && c.size() > proven.size()
            {
                return Err(forged(format!(
                    "the declaration proves size {}, but the node signed size {} of `{previous}` (its bundle shows it): entries hidden",
                    proven.size(),
                    c.size()
                )));
            }
        }
    }
    // What the other logs saw of the previous epoch: a witness's record, a kept checkpoint
    // (of that epoch: its signature verifies under the previous origin; a kept checkpoint of
    // another epoch of the node's log says nothing of this one's size).
    let agency = dir.nodes[node].agency.id.as_str();
    for log in logs.iter().filter(|l| l.origin != bundle.origin) {
        for (index, entry) in log.entries.iter().enumerate() {
            let seen = match entry {
                Some(AuditEntryRef::WitnessedCheckpoints { checkpoints, .. }) => checkpoints
                    .iter()
                    .filter(|c| c.origin.as_str() == previous)
                    .map(|c| c.size)
                    .max(),
                Some(entry @ (AuditEntryRef::Received { .. } | AuditEntryRef::Receipt { .. })) => {
                    kept_of(entry)
                        .filter(|(signer, kept)| {
                            *signer == agency && dir.verify_kept(node, kept) == Ok(epoch - 1)
                        })
                        .map(|(_, kept)| kept.size)
                }
                _ => None,
            };
            if let Some(size) = seen.filter(|s| *s > proven.size()) {
                return Err(forged(format!(
                    "the declaration proves size {}, but `{}` entry {index} shows size {size} of `{previous}`: entries hidden",
                    proven.size(),
                    log.name
                )));
            }
        }
    }
    let seen = format!(
        "entries {restored_size}..{} of `{previous}` declared lost on restore at {at}, proven by `{proven_by}`'s kept checkpoint; `{}` continues that log (its entries are replayed as that log's continuation)",
        proven.size(),
        bundle.origin
    );
    Ok(Declared {
        node,
        epoch,
        previous,
        finding: Finding::new(Rule::DeclaredLoss, "", seen).at_entry(0),
    })
}
