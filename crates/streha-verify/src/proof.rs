//! One entry's offline proof (C2SP `tlog-proof`): written from a bundle, checked against the
//! roster.

use streha_audit::{
    LogBundle, MemoryTree, NoteVerifier, SignedNote, TlogProof, TlogProofError, leaf_hash,
    prove_entry, verify_inclusion,
};
use streha_core::AuditEntry;
use streha_wire::Roster;

use crate::directory::Directory;

/// Why a proof could not be written from a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProveError {
    /// No checkpoint of the bundle covers the entry.
    #[error(
        "no checkpoint of the bundle covers entry {index} (the largest signs {signed} entries); export a newer bundle"
    )]
    NotCovered {
        /// The entry asked for.
        index: u64,
        /// The largest checkpoint's size.
        signed: u64,
    },
    /// The checkpoint's root is not the root of the bundle's entries: the bundle is damaged.
    #[error(
        "the bundle's entries do not match its checkpoint of size {size}; run `streha audit verify` on it"
    )]
    RootMismatch {
        /// The checkpoint's size.
        size: u64,
    },
    /// The proof could not be built.
    #[error(transparent)]
    Proof(#[from] TlogProofError),
}

/// Writes the `tlog-proof` of entry `index` of a bundle, against the bundle's **last**
/// checkpoint that covers it (the one most likely to carry witness cosignatures).
///
/// The proof is checked against the checkpoint's root before it is returned; signatures are
/// not checked here ([`check_proof`] does that).
///
/// # Errors
/// [`ProveError::NotCovered`], [`ProveError::RootMismatch`], or [`ProveError::Proof`] if
/// the checkpoint does not parse.
pub fn prove_from_bundle(bundle: &LogBundle, index: u64) -> Result<TlogProof, ProveError> {
    let tree = MemoryTree::from_entries(&bundle.entries);
    let mut signed = 0;
    let mut chosen = None;
    for text in &bundle.checkpoints {
        let Ok(note) = SignedNote::parse(text) else {
            continue;
        };
        let Ok(checkpoint) = streha_audit::Checkpoint::parse_body(note.body()) else {
            continue;
        };
        signed = signed.max(checkpoint.size());
        if checkpoint.size() > index && checkpoint.size() <= tree.size() {
            chosen = Some(text);
        }
    }
    let text = chosen.ok_or(ProveError::NotCovered { index, signed })?;
    let proof = prove_entry(index, text, &tree)?;
    let entry = usize::try_from(index)
        .ok()
        .and_then(|i| bundle.entries.get(i))
        .ok_or(ProveError::NotCovered { index, signed })?;
    let checkpoint = proof.checkpoint();
    verify_inclusion(
        &leaf_hash(entry),
        index,
        checkpoint.size(),
        proof.proof(),
        checkpoint.root(),
    )
    .map_err(|_| ProveError::RootMismatch {
        size: checkpoint.size(),
    })?;
    Ok(proof)
}

/// What [`check_proof`] established.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ProofCheck {
    /// The agency whose log holds the entry.
    pub agency: String,
    /// Its log origin.
    pub origin: String,
    /// The entry's index.
    pub index: u64,
    /// The checkpoint's size.
    pub size: u64,
    /// The checkpoint's root (hex).
    pub root: String,
    /// The entry's kind (`disclosed`, …), if it decodes as an audit entry.
    pub entry_kind: Option<&'static str>,
    /// The roster agencies that cosigned the checkpoint as witnesses, with the time each
    /// states (POSIX seconds).
    pub witnesses: Vec<(String, u64)>,
}

/// Checks a `tlog-proof` (text) for the entry bytes `entry` against the roster: the
/// checkpoint must be for the log of a roster agency — in any epoch of it
/// (`<base>/epoch/<n>`, `spec/audit-log.md` §9; [`AgencyEntry::epoch_of`](streha_wire::AgencyEntry::epoch_of)) — and signed by
/// that node's identity key under the checkpoint's origin;
/// cosignatures by other roster nodes are verified and counted (at least `min_witnesses`);
/// the inclusion proof must bind the entry to the checkpoint's root.
///
/// Says that the agency's log holds these bytes at this index; says nothing about whether
/// the entry was lawful (run [`verify`](crate::verify) on the bundles for that).
///
/// # Errors
/// [`TlogProofError`] naming what failed.
pub fn check_proof(
    proof_text: &str,
    entry: &[u8],
    roster: &Roster,
    min_witnesses: usize,
) -> Result<ProofCheck, TlogProofError> {
    let proof = TlogProof::parse(proof_text)?;
    let dir = Directory::new(roster);
    let mut logs: Vec<NoteVerifier> = dir.nodes.iter().filter_map(|n| n.log.clone()).collect();
    // A later epoch of an agency's log is that agency's log, under the same node key: the
    // key name is the epoch's origin. Only the canonical spelling of an epoch is one.
    let origin = proof.checkpoint().origin();
    let epoch_owner = roster.agencies().iter().find(|a| {
        a.epoch_of(roster.federation(), origin)
            .is_some_and(|epoch| epoch > streha_core::epoch::FIRST_EPOCH)
    });
    if let Some(owner) = epoch_owner
        && let Ok(verifier) = NoteVerifier::new(origin, *owner.node_key.as_dalek())
    {
        logs.push(verifier);
    }
    // Peers and the roster's independent witnesses alike.
    let witnesses: Vec<NoteVerifier> = dir
        .nodes
        .iter()
        .filter_map(|n| n.cosigner.clone())
        .chain(roster.witnesses().iter().filter_map(|w| w.verifier().ok()))
        .collect();
    let verified = proof.verify(entry, &logs, &witnesses, min_witnesses)?;
    let agency = epoch_owner.map_or_else(
        || {
            dir.by_origin(&verified.log)
                .map(|n| dir.nodes[n].agency.id.to_string())
                .unwrap_or_default()
        },
        |owner| owner.id.to_string(),
    );
    let witnesses = verified
        .witnesses
        .iter()
        .map(|(name, ts)| {
            let agency = dir
                .by_origin(name)
                .map_or_else(|| name.clone(), |n| dir.nodes[n].agency.id.to_string());
            (agency, *ts)
        })
        .collect();
    Ok(ProofCheck {
        agency,
        origin: verified.log.clone(),
        index: verified.index,
        size: verified.checkpoint.size(),
        root: verified.checkpoint.root().to_hex(),
        entry_kind: AuditEntry::decode(entry).ok().map(|e| e.kind_name()),
        witnesses,
    })
}
