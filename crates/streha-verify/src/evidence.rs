//! The other side's evidence each log keeps (`spec/verification.md` V3.1, V3.6): a
//! `received` keeps the sender's envelope signature and the sender's signed checkpoint under
//! which the receiving node verified the sender's `disclosed`; a `receipt` keeps the
//! receiver's signed checkpoint. Checked against the roster's keys, these say which side's
//! log is false when two logs disagree, and every checkpoint a node signed that another log
//! keeps must be in that node's bundle, with the same root.

use std::collections::{BTreeMap, BTreeSet};

use streha_audit::Hash;
use streha_core::{AuditEntryRef, EnvelopeId};
use streha_wire::peer::{KeptCheckpoint, verify_envelope_signature};

use crate::borrowed::agency_named;
use crate::directory::Directory;
use crate::finding::{Finding, Rule};
use crate::integrity::CheckedLog;

/// A checkpoint of `signer`'s log, signed by its node (the signature verified), kept in
/// another log's entry.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    /// The log it is a checkpoint of: the signer's log in the epoch its signature was made
    /// under (`Directory::log_name`).
    pub(crate) signer_log: String,
    /// The tree size.
    pub(crate) size: u64,
    /// The root.
    pub(crate) root: Hash,
    /// The agency whose log keeps it.
    pub(crate) keeper: String,
    /// The keeping entry's index.
    pub(crate) keeper_index: u64,
    /// The kind of the keeping entry (`received` or `receipt`).
    pub(crate) kept_in: &'static str,
    /// The envelope the keeping entry is about.
    pub(crate) envelope: EnvelopeId,
}

impl Held {
    fn key(&self) -> (String, u64, [u8; 32]) {
        (self.signer_log.clone(), self.size, self.root.to_bytes())
    }
}

/// The checkpoint, and the agency whose node must have signed it, of the evidence an entry
/// keeps: the sender's for a `received`, the receiver's for a `receipt`.
pub(crate) fn kept_of<'e>(entry: &AuditEntryRef<'e>) -> Option<(&'e str, KeptCheckpoint)> {
    match entry {
        AuditEntryRef::Received {
            header,
            sender_tree_size,
            sender_root_hash,
            sender_checkpoint_signature,
            ..
        } => Some((
            header.sender.as_str(),
            KeptCheckpoint {
                size: *sender_tree_size,
                root: *sender_root_hash,
                signature: *sender_checkpoint_signature,
            },
        )),
        AuditEntryRef::Receipt {
            recipient,
            receiver_tree_size,
            receiver_root_hash,
            receiver_checkpoint_signature,
            ..
        } => Some((
            recipient.as_str(),
            KeptCheckpoint {
                size: *receiver_tree_size,
                root: *receiver_root_hash,
                signature: *receiver_checkpoint_signature,
            },
        )),
        _ => None,
    }
}

/// V3.1: whether the `received` at `index` of `receiver`'s log was signed by its sender:
/// the kept envelope signature verifies over the header and ciphertext hash, under the key
/// the roster gives the sender as its agency signing key. `None` for a sender the roster
/// does not know (the replay reports it) or an entry that is not a `received`; otherwise
/// the finding if it was not. The key is the supplied roster's: a history of rosters
/// (a signing key rotated since) is to be judged under the version in force at the entry.
pub(crate) fn envelope_signature_finding(
    dir: &Directory<'_>,
    receiver: &str,
    index: u64,
    entry: &AuditEntryRef<'_>,
) -> Option<Finding> {
    let AuditEntryRef::Received {
        header,
        ciphertext_hash,
        sender_signature,
        sender_log_index,
        ..
    } = entry
    else {
        return None;
    };
    let sender = agency_named(dir.roster, header.sender.as_str())?;
    // The wire's check rebuilds the signed envelope header from the owned one; this runs only
    // for a signature no batch settled (`batch`).
    let problem = match verify_envelope_signature(
        &header.to_owned(),
        ciphertext_hash,
        sender_signature,
    ) {
        Ok(key) if key == sender.signing_key => return None,
        Ok(_) => format!(
            "the kept envelope signature verifies, but under a key that is not the agency signing key of `{}` in the roster",
            sender.id
        ),
        Err(e) => e.to_string(),
    };
    Some(
        Finding::new(
            Rule::ForgedEnvelopeSignature,
            receiver,
            format!(
                "received {} about subject {} from `{}`: {problem}. The sender never signed this envelope: the receiver's log is false",
                header.categories, header.subject, sender.id
            ),
        )
        .at_entry(index)
        .envelope(header.envelope_id)
        .counterpart(sender.id.as_str(), Some(*sender_log_index)),
    )
}

/// V3.6: the checkpoint a `received` or `receipt` keeps must be signed by the node of the
/// other side (the roster's node key, under its log origin in epoch 1 or in a later epoch
/// the bundles name: `Directory::verify_kept`), and must be able to hold the
/// entry the keeping entry names in it. Returns the checkpoint if it holds, or the finding
/// against the keeper. `None` for another kind of entry or another side the roster does not
/// know.
pub(crate) fn kept_checkpoint(
    dir: &Directory<'_>,
    keeper: &str,
    index: u64,
    entry: &AuditEntryRef<'_>,
) -> Option<Result<Held, Finding>> {
    let (signer, kept) = kept_of(entry)?;
    let node = dir
        .nodes
        .iter()
        .position(|n| n.agency.id.as_str() == signer)?;
    let (envelope, named, side) = match entry {
        AuditEntryRef::Received {
            header,
            sender_log_index,
            ..
        } => (header.envelope_id, *sender_log_index, "sender"),
        AuditEntryRef::Receipt {
            envelope,
            receiver_log_index,
            ..
        } => (*envelope, *receiver_log_index, "receiver"),
        _ => return None,
    };
    let verified = dir.verify_kept(node, &kept);
    let problem = match &verified {
        Err(e) => Some(format!(
            "its {side} `{signer}`'s checkpoint of size {} (root {}) is not signed by `{signer}`'s node: {e}",
            kept.size,
            Hash::from_bytes(kept.root)
        )),
        // The keeping node verified an inclusion proof of entry `named` in this tree, which
        // cannot exist for an index outside it.
        Ok(_) if named >= kept.size => Some(format!(
            "it names `{signer}`'s entry {named} in `{signer}`'s checkpoint of size {}, which cannot hold it",
            kept.size
        )),
        Ok(_) => None,
    };
    Some(match problem {
        Some(problem) => Err(Finding::new(
            Rule::ForgedCheckpointEvidence,
            keeper,
            format!(
                "a `{}` whose evidence does not hold: {problem}. The node of this log never received that evidence: this log is false",
                entry.kind_name()
            ),
        )
        .at_entry(index)
        .envelope(envelope)
        .counterpart(signer, Some(named))),
        None => Ok(Held {
            signer_log: dir.log_name(node, verified.unwrap_or(streha_core::epoch::FIRST_EPOCH)),
            size: kept.size,
            root: Hash::from_bytes(kept.root),
            keeper: keeper.to_owned(),
            keeper_index: index,
            kept_in: entry.kind_name(),
            envelope,
        }),
    })
}

/// V3.6: every checkpoint in `held` must be in its signer's bundle of its epoch (in `logs`,
/// by log name; a log not supplied is a note of the matching, V3.5):
/// no larger than its entries (`truncated_export`) and with the bundle's root at its size
/// (`rewritten_log`). One finding per node and kind, naming the largest (truncation) or
/// smallest (rewrite) such checkpoint and how many there are. Returns the checkpoints that
/// failed, so that the matching of the entries that keep them is not reported again.
pub(crate) fn check_held(
    logs: &BTreeMap<String, &CheckedLog<'_>>,
    held: &[Held],
    findings: &mut Vec<Finding>,
) -> BTreeSet<(String, u64, [u8; 32])> {
    let mut failed = BTreeSet::new();
    let mut by_signer: BTreeMap<&str, Vec<&Held>> = BTreeMap::new();
    for h in held {
        by_signer.entry(h.signer_log.as_str()).or_default().push(h);
    }
    for (signer, held) in by_signer {
        let Some(log) = logs.get(signer) else {
            continue;
        };
        let entries = log.tree.size();
        let beyond: Vec<&&Held> = held.iter().filter(|h| h.size > entries).collect();
        if let Some(largest) = beyond.iter().max_by_key(|h| h.size) {
            findings.push(
                Finding::new(
                    Rule::TruncatedExport,
                    signer,
                    format!(
                        "the bundle holds {entries} entries, but `{signer}`'s node signed a tree of {} entries (root {}), kept by `{}` in its `{}` entry {}{}: the export withholds entries {entries}..{} that the node had committed to. If the bundles were not exported together, export this log again",
                        largest.size,
                        largest.root,
                        largest.keeper,
                        largest.kept_in,
                        largest.keeper_index,
                        match distinct(beyond.iter().map(|h| h.key())) {
                            1 => String::new(),
                            n => format!(" (and {} more checkpoints beyond the bundle)", n - 1),
                        },
                        largest.size
                    ),
                )
                .envelope(largest.envelope)
                .counterpart(&largest.keeper, Some(largest.keeper_index)),
            );
            failed.extend(beyond.iter().map(|h| h.key()));
        }
        let rewritten: Vec<(&&Held, Hash)> = held
            .iter()
            .filter(|h| h.size <= entries)
            .filter_map(|h| {
                let actual = log.tree.root_at(h.size).ok()?;
                (actual != h.root).then_some((h, actual))
            })
            .collect();
        if let Some((smallest, actual)) = rewritten.iter().min_by_key(|(h, _)| h.size) {
            findings.push(
                Finding::new(
                    Rule::RewrittenLog,
                    signer,
                    format!(
                        "`{signer}`'s node signed root {} for size {}, kept by `{}` in its `{}` entry {}; this bundle's entries give {actual}{}: the log was changed after its node signed it",
                        smallest.root,
                        smallest.size,
                        smallest.keeper,
                        smallest.kept_in,
                        smallest.keeper_index,
                        match distinct(rewritten.iter().map(|(h, _)| h.key())) {
                            1 => String::new(),
                            n => format!(
                                " (and {} more kept checkpoints contradict it)",
                                n - 1
                            ),
                        }
                    ),
                )
                .envelope(smallest.envelope)
                .counterpart(&smallest.keeper, Some(smallest.keeper_index)),
            );
            failed.extend(rewritten.iter().map(|(h, _)| h.key()));
        }
    }
    failed
}

/// How many distinct checkpoints `keys` names (one can be kept by many entries).
fn distinct(keys: impl Iterator<Item = (String, u64, [u8; 32])>) -> usize {
    keys.collect::<BTreeSet<_>>().len()
}

/// Whether `held` is among the checkpoints [`check_held`] found failing.
pub(crate) fn failed(set: &BTreeSet<(String, u64, [u8; 32])>, held: &Held) -> bool {
    set.contains(&held.key())
}
