//! V1: each log on its own — whose log it is, its checkpoints' signatures and witness
//! cosignatures, the tree recomputed from the entries against every checkpoint, and the
//! entries' encoding (`spec/verification.md` §V1).

use std::collections::BTreeMap;
use std::slice;

use streha_audit::{
    Checkpoint, Hash, LogBundle, MemoryTree, NoteError, NoteSignature, NoteVerifier, SignedNote,
    consistency_proof, verify_consistency,
};
use streha_core::AuditEntryRef;

use crate::batch::{SIGNATURE_BATCH, settle_note_lines};
use crate::directory::Directory;
use crate::finding::{Finding, Rule};
use crate::report::{CheckpointSummary, WitnessSummary};

/// A checkpoint that parsed and carries the node's valid signature.
#[derive(Clone, Debug)]
pub(crate) struct SignedHead {
    pub(crate) checkpoint_index: usize,
    pub(crate) size: u64,
    pub(crate) root: Hash,
}

/// One bundle after the V1 checks; its entries borrow from the bundle's bytes.
pub(crate) struct CheckedLog<'b> {
    /// The bundle's position in the input.
    pub(crate) bundle: usize,
    /// The roster node, if the origin is one of its log's (in any epoch).
    pub(crate) node: Option<usize>,
    /// The log epoch (`spec/audit-log.md` §9): 1 for a base origin.
    pub(crate) epoch: u64,
    /// The agency id, or the origin for an unknown log: the name findings use.
    pub(crate) name: String,
    /// The bundle's origin.
    pub(crate) origin: String,
    /// The tree of all the bundle's entries.
    pub(crate) tree: MemoryTree,
    /// Each entry decoded (borrowing from the bundle), or `None` if it does not decode.
    pub(crate) entries: Vec<Option<AuditEntryRef<'b>>>,
    /// Every checkpoint, for the report.
    pub(crate) checkpoints: Vec<CheckpointSummary>,
    /// The node-signed checkpoints (whether or not their roots match).
    pub(crate) signed: Vec<SignedHead>,
    /// Entries `0..vouched` are covered by a signed checkpoint whose root matches the tree,
    /// with no mismatch before it.
    pub(crate) vouched: u64,
    /// Every signed checkpoint's root matched the tree.
    pub(crate) roots_ok: bool,
}

impl<'b> CheckedLog<'b> {
    /// The decoded entry `index`, if present and decodable.
    pub(crate) fn entry(&self, index: u64) -> Option<&AuditEntryRef<'b>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.entries.get(i))
            .and_then(Option::as_ref)
    }
}

/// Runs the V1 checks on bundle number `bundle`.
pub(crate) fn check_log<'b>(
    bundle_index: usize,
    bundle: &'b LogBundle,
    dir: &Directory<'_>,
    min_witnesses: usize,
    findings: &mut Vec<Finding>,
) -> CheckedLog<'b> {
    // A later epoch of a member's log is that member's log too: checked here under the
    // epoch's origin, replayed as the continuation of the epoch before, and its declaration
    // judged by V1.9 (`epochs`).
    let of = dir.log_of(&bundle.origin);
    let node = of.map(|(n, _)| n);
    let epoch = of.map_or(streha_core::epoch::FIRST_EPOCH, |(_, e)| e);
    let name = of.map_or_else(|| bundle.origin.clone(), |(n, e)| dir.log_name(n, e));
    let tree = MemoryTree::from_entries(&bundle.entries);
    let mut log = CheckedLog {
        bundle: bundle_index,
        node,
        epoch,
        name,
        origin: bundle.origin.clone(),
        tree,
        entries: Vec::with_capacity(bundle.entries.len()),
        checkpoints: Vec::with_capacity(bundle.checkpoints.len()),
        signed: Vec::new(),
        vouched: 0,
        roots_ok: true,
    };

    // V1.7: every entry decodes.
    for (index, bytes) in bundle.entries.iter().enumerate() {
        match AuditEntryRef::decode(bytes) {
            Ok(entry) => log.entries.push(Some(entry)),
            Err(e) => {
                findings.push(
                    Finding::new(
                        Rule::UndecodableEntry,
                        &log.name,
                        format!(
                            "{} bytes that do not decode as an audit entry: {e}",
                            bytes.len()
                        ),
                    )
                    .at_entry(index as u64),
                );
                log.entries.push(None);
            }
        }
    }

    let Some(node) = node else {
        // V1.1: nothing in a log of no member can be attributed; no key to check it with.
        findings.push(Finding::new(
            Rule::UnknownLog,
            &log.name,
            format!(
                "origin `{}` is not the log origin of any agency of roster `{}` version {}",
                bundle.origin,
                dir.roster.federation(),
                dir.roster.version()
            ),
        ));
        for (index, text) in bundle.checkpoints.iter().enumerate() {
            let parsed = SignedNote::parse(text)
                .ok()
                .and_then(|n| Checkpoint::parse_body(n.body()).ok());
            log.checkpoints.push(CheckpointSummary {
                index,
                size: parsed.as_ref().map(Checkpoint::size),
                root: parsed.as_ref().map(|c| c.root().to_hex()),
                signed: false,
                root_matches: false,
                witnesses: Vec::new(),
            });
        }
        return log;
    };

    // V1.2: at least one checkpoint.
    if bundle.checkpoints.is_empty() {
        findings.push(Finding::new(
            Rule::NoCheckpoint,
            &log.name,
            format!(
                "the bundle holds {} entries and no checkpoint: no signature vouches for them",
                bundle.entries.len()
            ),
        ));
    }

    // The node's checkpoint key in this epoch: its node identity key under the origin.
    let own_verifier = dir.log_verifier(node, epoch);
    let entry_count = log.tree.size();
    // The last checkpoint whose root matched: every entry before its size is vouched for.
    let mut previous: Option<SignedHead> = None;
    let mut mismatch_seen = false;
    let own = Own {
        verifier: own_verifier.as_ref(),
        origin: &bundle.origin,
    };
    // The notes are read a batch at a time: their signature lines are verified as one batch
    // first, and each note is then checked on its own with the lines the batch settled.
    for (batch, texts) in bundle.checkpoints.chunks(SIGNATURE_BATCH).enumerate() {
        let notes: Vec<Result<SignedNote, NoteError>> =
            texts.iter().map(|text| SignedNote::parse(text)).collect();
        let settled = settle_note_lines(&notes, |sig| line_verifiers(sig, &own, dir));
        for (in_batch, note) in notes.into_iter().enumerate() {
            let index = batch * SIGNATURE_BATCH + in_batch;
            let settled_line =
                |line: usize, verifier: &NoteVerifier| settled.is_settled(in_batch, line, verifier);
            let mut summary = CheckpointSummary {
                index,
                size: None,
                root: None,
                signed: false,
                root_matches: false,
                witnesses: Vec::new(),
            };
            let checked = check_note(
                note,
                &settled_line,
                node,
                &own,
                dir,
                &log.name,
                index,
                findings,
            );
            let Some((checkpoint, signed, witnesses)) = checked else {
                log.checkpoints.push(summary);
                continue;
            };
            summary.size = Some(checkpoint.size());
            summary.root = Some(checkpoint.root().to_hex());
            summary.signed = signed;
            summary.witnesses = witnesses;
            if !signed {
                log.checkpoints.push(summary);
                continue;
            }
            if checkpoint.origin() != bundle.origin {
                findings.push(
                    Finding::new(
                        Rule::CheckpointOriginMismatch,
                        &log.name,
                        format!(
                            "the checkpoint is for origin `{}`, the bundle is `{}`",
                            checkpoint.origin(),
                            bundle.origin
                        ),
                    )
                    .at_checkpoint(index),
                );
                log.checkpoints.push(summary);
                continue;
            }
            let head = SignedHead {
                checkpoint_index: index,
                size: checkpoint.size(),
                root: *checkpoint.root(),
            };
            log.signed.push(head.clone());
            let last_size = log
                .signed
                .iter()
                .rev()
                .nth(1)
                .map_or(0, |h: &SignedHead| h.size);
            if head.size < last_size {
                findings.push(
                Finding::new(
                    Rule::CheckpointOutOfOrder,
                    &log.name,
                    format!(
                        "size {} follows a checkpoint of size {last_size}; a bundle lists checkpoints in non-decreasing size",
                        head.size
                    ),
                )
                .at_checkpoint(index),
            );
            }
            // V1.4: the tree recomputed from the entries has the signed root.
            if head.size > entry_count {
                log.roots_ok = false;
                mismatch_seen = true;
                findings.push(
                Finding::new(
                    Rule::CheckpointBeyondEntries,
                    &log.name,
                    format!(
                        "the node signed a tree of {} entries; the bundle holds {entry_count}: entries {entry_count}..{} were removed or withheld",
                        head.size, head.size
                    ),
                )
                .at_checkpoint(index),
            );
                log.checkpoints.push(summary);
                continue;
            }
            let recomputed = log
                .tree
                .root_at(head.size)
                .unwrap_or_else(|_| Hash::from_bytes([0; 32]));
            if recomputed != head.root {
                log.roots_ok = false;
                mismatch_seen = true;
                let from = previous.as_ref().map_or(0, |p| p.size);
                findings.push(
                Finding::new(
                    Rule::RootMismatch,
                    &log.name,
                    format!(
                        "the node signed root {} for size {}; the entries give {}: one of entries {from}..{} was changed, removed or inserted",
                        head.root, head.size, recomputed, head.size
                    ),
                )
                .at_checkpoint(index),
            );
                log.checkpoints.push(summary);
                continue;
            }
            summary.root_matches = true;
            // V1.5: consistent with the previous matching checkpoint (implied by both roots
            // matching one tree; checked with an RFC 9162 §2.1.4 proof anyway).
            if let Some(p) = &previous {
                let consistent = p.size <= head.size
                    && consistency_proof(p.size, head.size, &log.tree).is_ok_and(|proof| {
                        verify_consistency(p.size, head.size, &p.root, &head.root, &proof).is_ok()
                    });
                if !consistent {
                    findings.push(
                        Finding::new(
                            Rule::InconsistentCheckpoints,
                            &log.name,
                            format!(
                                "no consistency proof from size {} (checkpoint {}) to size {}",
                                p.size, p.checkpoint_index, head.size
                            ),
                        )
                        .at_checkpoint(index),
                    );
                }
            }
            if !mismatch_seen && head.size >= log.vouched {
                log.vouched = head.size;
            }
            if previous.as_ref().is_none_or(|p| p.size <= head.size) {
                previous = Some(head);
            }
            log.checkpoints.push(summary);
        }
    }

    // V1.5: two signed checkpoints of one size with different roots, within the bundle.
    for (a, b) in forks(&log.signed) {
        findings.push(fork_finding(&log.name, a, b, "this bundle"));
    }

    // V1.3: enough witnesses on the latest checkpoint, if the caller asks for any.
    if min_witnesses > 0
        && let Some(last) = log.checkpoints.iter().rev().find(|c| c.signed)
        && last.witnesses.len() < min_witnesses
    {
        findings.push(
            Finding::new(
                Rule::InsufficientWitnesses,
                &log.name,
                format!(
                    "the latest checkpoint (size {}) has {} distinct witness cosignatures; {min_witnesses} are required",
                    last.size.unwrap_or(0),
                    last.witnesses.len()
                ),
            )
            .at_checkpoint(last.index),
        );
    }

    // V1.6: entries that no valid checkpoint covers.
    if log.roots_ok && log.vouched < entry_count && !bundle.checkpoints.is_empty() {
        findings.push(Finding::new(
            Rule::UnsignedEntries,
            &log.name,
            format!(
                "entries {}..{entry_count} come after the last valid checkpoint (size {}): no signature covers them",
                log.vouched, log.vouched
            ),
        ));
    }
    log
}

/// The forks among `heads`: each head whose root differs from the first head of its size,
/// paired with that first head, in the order of `heads`. Linear for heads in non-decreasing
/// size (as a bundle lists them): each is compared with the first of its run of one size;
/// O(n log n) otherwise (a stable sort by size first). Never pair by pair: a bundle may
/// hold millions of checkpoints.
pub(crate) fn forks(heads: &[SignedHead]) -> Vec<(&SignedHead, &SignedHead)> {
    let mut out = Vec::new();
    if heads.windows(2).all(|w| w[0].size <= w[1].size) {
        let mut first: Option<&SignedHead> = None;
        for head in heads {
            match first {
                Some(a) if a.size == head.size => {
                    if a.root != head.root {
                        out.push((a, head));
                    }
                }
                _ => first = Some(head),
            }
        }
        return out;
    }
    // Out of order (a `checkpoint_out_of_order` finding): positions grouped by size, each
    // group in list order, and the forks put back in list order.
    let mut order: Vec<usize> = (0..heads.len()).collect();
    order.sort_by_key(|&i| heads[i].size);
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut first: Option<usize> = None;
    for &i in &order {
        match first {
            Some(a) if heads[a].size == heads[i].size => {
                if heads[a].root != heads[i].root {
                    found.push((a, i));
                }
            }
            _ => first = Some(i),
        }
    }
    found.sort_unstable_by_key(|&(_, b)| b);
    out.extend(found.into_iter().map(|(a, b)| (&heads[a], &heads[b])));
    out
}

/// The first signed head of each size.
pub(crate) fn heads_by_size(heads: &[SignedHead]) -> BTreeMap<u64, &SignedHead> {
    let mut by_size = BTreeMap::new();
    for head in heads {
        by_size.entry(head.size).or_insert(head);
    }
    by_size
}

/// The V1.5 finding for two signed heads of one size with different roots.
pub(crate) fn fork_finding(name: &str, a: &SignedHead, b: &SignedHead, where_b: &str) -> Finding {
    Finding::new(
        Rule::Fork,
        name,
        format!(
            "the node signed two trees of size {}: root {} (checkpoint {}) and root {} (checkpoint {} of {where_b})",
            a.size, a.root, a.checkpoint_index, b.root, b.checkpoint_index
        ),
    )
    .at_checkpoint(b.checkpoint_index)
}

/// V1.2 and V1.3 for one checkpoint note: parses it, checks the node's signature, and checks
/// every other signature line against the roster. Returns the checkpoint, whether the node
/// signed it, and the distinct valid witnesses; `None` if it does not parse.
/// The key a log's own checkpoints are signed with, and its name: the node identity key
/// under the log's origin in its epoch.
struct Own<'v> {
    verifier: Option<&'v NoteVerifier>,
    origin: &'v str,
}

/// Every roster key a signature line names, as check_note would check it: the log's own
/// key, an independent witness's, a node's cosignature or plain key.
fn line_verifiers(sig: &NoteSignature, own: &Own<'_>, dir: &Directory<'_>) -> Vec<NoteVerifier> {
    let mut verifiers = Vec::new();
    if let Some(verifier) = own.verifier.filter(|v| v.matches(sig)) {
        verifiers.push(verifier.clone());
    }
    let signer = sig.name().as_str();
    if let Some(verifier) = dir
        .roster
        .witness_named(signer)
        .and_then(|independent| independent.verifier().ok())
        .filter(|verifier| verifier.matches(sig))
    {
        verifiers.push(verifier);
    }
    if let Some(n) = dir.by_origin(signer) {
        let node = &dir.nodes[n];
        for verifier in [node.cosigner.as_ref(), node.log.as_ref()]
            .into_iter()
            .flatten()
        {
            if verifier.matches(sig) && !verifiers.contains(verifier) {
                verifiers.push(verifier.clone());
            }
        }
    }
    verifiers
}

#[allow(clippy::too_many_arguments)]
fn check_note(
    note: Result<SignedNote, NoteError>,
    settled: &dyn Fn(usize, &NoteVerifier) -> bool,
    node: usize,
    own: &Own<'_>,
    dir: &Directory<'_>,
    name: &str,
    index: usize,
    findings: &mut Vec<Finding>,
) -> Option<(Checkpoint, bool, Vec<WitnessSummary>)> {
    let me = &dir.nodes[node];
    let malformed = |findings: &mut Vec<Finding>, why: String| {
        findings.push(Finding::new(Rule::MalformedCheckpoint, name, why).at_checkpoint(index));
    };
    let note = match note {
        Ok(note) => note,
        Err(e) => {
            malformed(findings, format!("the note does not parse: {e}"));
            return None;
        }
    };
    let checkpoint = match Checkpoint::parse_body(note.body()) {
        Ok(c) => c,
        Err(e) => {
            malformed(
                findings,
                format!("the note's body is not a checkpoint: {e}"),
            );
            return None;
        }
    };

    // The node's own signature, under its origin, by its node identity key.
    let signed = match own.verifier {
        Some(verifier) => match note.verify_settled(slice::from_ref(verifier), settled) {
            Ok(_) => true,
            Err(e) => {
                findings.push(
                    Finding::new(
                        Rule::CheckpointNotSigned,
                        name,
                        format!(
                            "size {}: no valid signature by the node identity key of `{}` under `{}` ({e})",
                            checkpoint.size(),
                            me.agency.id,
                            own.origin
                        ),
                    )
                    .at_checkpoint(index),
                );
                false
            }
        },
        None => false,
    };

    // Every other signature line, by the key its name and key id select (C2SP signed-note,
    // "Signatures"): a line of no roster key is ignored (a note); a line of a roster key must
    // verify.
    let mut witnesses: Vec<WitnessSummary> = Vec::new();
    for (line, sig) in note.signatures().iter().enumerate() {
        let signer = sig.name().as_str();
        let key_id = sig.key_id();
        if signer == own.origin && own.verifier.is_some_and(|v| v.key_id() == key_id) {
            // The node's own signature, checked above.
            continue;
        }
        if let Some(independent) = dir.roster.witness_named(signer) {
            // An independent witness of the roster (an oversight body's C2SP witness).
            match independent.verifier() {
                Ok(verifier) if verifier.key_id() == key_id => {
                    let checked = if settled(line, &verifier) {
                        verifier
                            .signed_input(note.body(), sig)
                            .map(|input| input.timestamp)
                            .ok_or(())
                    } else {
                        verifier.verify_signature(note.body(), sig).map_err(drop)
                    };
                    match checked {
                        Ok(timestamp) => {
                            if !witnesses.iter().any(|x| x.agency == signer) {
                                witnesses.push(WitnessSummary {
                                    agency: signer.to_owned(),
                                    timestamp: timestamp.unwrap_or(0),
                                });
                            }
                        }
                        Err(_) => findings.push(
                            Finding::new(
                                Rule::ForgedCosignature,
                                name,
                                format!(
                                    "a signature line under `{signer}` (an independent witness of the roster, key id {key_id}) does not verify under its key"
                                ),
                            )
                            .at_checkpoint(index),
                        ),
                    }
                }
                // Another key of that name: not the roster's; ignored, as C2SP says.
                _ => {}
            }
            continue;
        }
        let known = dir.by_origin(signer).and_then(|n| {
            let node = &dir.nodes[n];
            let cosigner = node.cosigner.as_ref().filter(|v| v.key_id() == key_id);
            let plain = node.log.as_ref().filter(|v| v.key_id() == key_id);
            cosigner
                .map(|v| (n, v, true))
                .or_else(|| plain.map(|v| (n, v, false)))
        });
        let Some((witness, verifier, cosignature)) = known else {
            let whose = dir.by_origin(signer).map_or_else(
                || "no node of the roster".to_owned(),
                |n| {
                    format!(
                        "the name of `{}`'s log, but not a key the roster gives it",
                        dir.nodes[n].agency.id
                    )
                },
            );
            findings.push(
                Finding::new(
                    Rule::UnknownCosigner,
                    name,
                    format!(
                        "a signature line by `{signer}` (key id {key_id}): {whose}; ignored (C2SP signed-note)"
                    ),
                )
                .at_checkpoint(index),
            );
            continue;
        };
        let w = &dir.nodes[witness];
        match note.verify_settled(slice::from_ref(verifier), settled) {
            // The node's own cosignature, or another node's plain signature: valid, not a
            // witness (a witness signs `cosignature/v1`).
            Ok(_) if witness == node || !cosignature => {}
            Ok(verified) => {
                let timestamp = verified
                    .signers()
                    .first()
                    .and_then(|s| s.timestamp)
                    .unwrap_or(0);
                if !witnesses.iter().any(|x| x.agency == w.agency.id.as_str()) {
                    witnesses.push(WitnessSummary {
                        agency: w.agency.id.to_string(),
                        timestamp,
                    });
                }
            }
            Err(_) => findings.push(
                Finding::new(
                    Rule::ForgedCosignature,
                    name,
                    format!(
                        "a signature line under `{signer}` with key id {key_id}, the {} key of `{}`, does not verify",
                        if cosignature { "cosignature/v1" } else { "Ed25519" },
                        w.agency.id
                    ),
                )
                .at_checkpoint(index),
            ),
        }
    }
    Some((checkpoint, signed, witnesses))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use streha_audit::Hash;

    use super::{SignedHead, forks};

    /// The definition: each head against the first head of its size, in list order.
    fn reference(heads: &[SignedHead]) -> Vec<(usize, usize)> {
        let mut first: BTreeMap<u64, &SignedHead> = BTreeMap::new();
        let mut out = Vec::new();
        for head in heads {
            match first.get(&head.size) {
                Some(a) if a.root != head.root => {
                    out.push((a.checkpoint_index, head.checkpoint_index))
                }
                Some(_) => {}
                None => {
                    first.insert(head.size, head);
                }
            }
        }
        out
    }

    fn heads(spec: &[(u64, u8)]) -> Vec<SignedHead> {
        spec.iter()
            .enumerate()
            .map(|(i, &(size, root))| SignedHead {
                checkpoint_index: i,
                size,
                root: Hash::from_bytes([root; 32]),
            })
            .collect()
    }

    proptest! {
        /// Sorted (the linear pass) or not (grouped after a sort): the same forks, in the
        /// same order, as the definition.
        #[test]
        fn forks_are_those_of_the_definition(
            mut spec in proptest::collection::vec((0u64..6, 0u8..3), 0..40),
            sorted in any::<bool>(),
        ) {
            if sorted {
                spec.sort_by_key(|&(size, _)| size);
            }
            let heads = heads(&spec);
            let found: Vec<(usize, usize)> = forks(&heads)
                .into_iter()
                .map(|(a, b)| (a.checkpoint_index, b.checkpoint_index))
                .collect();
            prop_assert_eq!(found, reference(&heads));
        }
    }
}
