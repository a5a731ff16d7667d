//! Signatures checked as batches (issue 19): the envelope signatures the `received` entries
//! keep (V3.1) are independent of each other, so they are verified with
//! [`streha_crypto::verify_batch`], 256 at a time, before the matching; so are the signature
//! lines of a bundle's checkpoint notes (V1.2, V1.3), 256 notes at a time. A batch that passes
//! settles every signature in it; a batch that fails settles none, and the matching then
//! checks each of its signatures on its own, exactly as it checks one outside any batch, so
//! that a forged signature among many is reported at its own entry with the same finding.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use streha_audit::{NoteError, NoteSignature, NoteVerifier, SignedNote};
use streha_core::AuditEntryRef;
use streha_crypto::{AgencySigningPublicKey, NodeIdentityPublicKey, Signature, verify_batch};
use streha_wire::peer::envelope_signature_input;

use crate::borrowed::agency_named;
use crate::cross::Side;
use crate::directory::Directory;

/// Signatures per batch: large enough for the batch's gain (per signature, 64 in a batch
/// cost about half of one checked alone, 256 about 12 % less again: past about 190 points
/// the multiscalar multiplication switches to Pippenger's method; `BENCHMARKS.md`), small
/// enough that one bad signature costs only its batch's single checks (256 of them, about
/// 13 ms).
pub(crate) const SIGNATURE_BATCH: usize = 256;

/// A signature waiting for its batch: the entry (agency of the log, index), the signed
/// bytes, the signature and the key.
type Pending<'s> = ((&'s str, u64), Vec<u8>, Signature, AgencySigningPublicKey);

/// The `received` entries (agency of the log, entry index) whose kept envelope signature
/// verifies under the key the roster of `dir` gives their sender as its agency signing key:
/// the entries for which [`envelope_signature_finding`](crate::evidence::envelope_signature_finding)
/// has nothing to report. An entry not in the set is left to it.
pub(crate) fn verified_envelope_signatures<'s>(
    dir: &Directory<'_>,
    sides: &'s BTreeMap<String, Side<'_>>,
) -> HashSet<(&'s str, u64)> {
    let mut verified = HashSet::new();
    let mut pending: Vec<Pending<'s>> = Vec::with_capacity(SIGNATURE_BATCH);
    let mut flush = |pending: &mut Vec<_>| {
        let messages: Vec<&[u8]> = pending
            .iter()
            .map(|(_, m, _, _): &Pending<'_>| m.as_slice())
            .collect();
        let signatures: Vec<Signature> = pending.iter().map(|(_, _, s, _)| *s).collect();
        let keys: Vec<AgencySigningPublicKey> = pending.iter().map(|(_, _, _, k)| *k).collect();
        if verify_batch(&messages, &signatures, &keys) {
            verified.extend(pending.iter().map(|(at, _, _, _)| *at));
        }
        pending.clear();
    };
    for (name, side) in sides {
        for r in &side.replayed.received {
            let Some(AuditEntryRef::Received {
                header,
                ciphertext_hash,
                sender_signature,
                ..
            }) = side.log.entry(r.index)
            else {
                continue;
            };
            // Only a signature that names the roster's key for its sender can be settled
            // here; any other is the single check's to report.
            let Some(sender) = agency_named(dir.roster, header.sender.as_str()) else {
                continue;
            };
            // The wire builds the signed bytes from the owned header.
            let Some((message, signature)) = envelope_signature_input(
                &header.to_owned(),
                ciphertext_hash,
                sender_signature,
                &sender.signing_key,
            ) else {
                continue;
            };
            pending.push((
                (name.as_str(), r.index),
                message,
                signature,
                sender.signing_key,
            ));
            if pending.len() == SIGNATURE_BATCH {
                flush(&mut pending);
            }
        }
    }
    if !pending.is_empty() {
        flush(&mut pending);
    }
    verified
}

/// The signature lines of a run of checkpoint notes whose equations verified as one batch
/// (issue 19.2: the checkpoint notes of a bundle are independent signatures). A line is
/// settled under one verifier only: the check of that line under that verifier then skips
/// the equation and applies every other rule ([`SignedNote::verify_settled`]); anything not
/// settled is verified on its own, exactly as before, so a forged line among many is
/// reported at its own checkpoint with the same finding.
#[derive(Debug, Default)]
pub(crate) struct SettledLines {
    /// (note within the run, line of the note) → the verifiers it verified under.
    lines: HashMap<(usize, usize), Vec<NoteVerifier>>,
}

impl SettledLines {
    /// Whether line `line` of note `note` of the run verified under `verifier` in the batch.
    pub(crate) fn is_settled(&self, note: usize, line: usize, verifier: &NoteVerifier) -> bool {
        self.lines
            .get(&(note, line))
            .is_some_and(|verifiers| verifiers.contains(verifier))
    }
}

/// Verifies, as one batch, every signature line of `notes` under every verifier
/// `verifiers_of` gives for it (the roster keys the line names). If the batch verifies,
/// every one of those lines is settled; if not, none is (the single checks decide).
pub(crate) fn settle_note_lines(
    notes: &[Result<SignedNote, NoteError>],
    verifiers_of: impl Fn(&NoteSignature) -> Vec<NoteVerifier>,
) -> SettledLines {
    let mut lines: HashMap<(usize, usize), Vec<NoteVerifier>> = HashMap::new();
    let mut messages: Vec<Cow<'_, [u8]>> = Vec::new();
    let mut signatures: Vec<Signature> = Vec::new();
    let mut keys: Vec<NodeIdentityPublicKey> = Vec::new();
    for (n, note) in notes.iter().enumerate() {
        let Ok(note) = note else { continue };
        for (l, sig) in note.signatures().iter().enumerate() {
            for verifier in verifiers_of(sig) {
                let Some(input) = verifier.signed_input(note.body(), sig) else {
                    continue;
                };
                // A key the strict decoding refuses is left to the single check.
                let Ok(key) = NodeIdentityPublicKey::from_bytes(verifier.key_bytes()) else {
                    continue;
                };
                messages.push(input.message);
                signatures.push(Signature::from_bytes(input.signature));
                keys.push(key);
                lines.entry((n, l)).or_default().push(verifier);
            }
        }
    }
    if messages.is_empty() {
        return SettledLines::default();
    }
    let messages: Vec<&[u8]> = messages.iter().map(AsRef::as_ref).collect();
    if verify_batch(&messages, &signatures, &keys) {
        SettledLines { lines }
    } else {
        SettledLines::default()
    }
}
