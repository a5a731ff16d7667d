//! Signatures checked as batches (issue 19): the envelope signatures the `received` entries
//! keep (V3.1) are independent of each other, so they are verified with
//! [`streha_crypto::verify_batch`], 64 at a time, before the matching. A batch that passes
//! settles every signature in it; a batch that fails settles none, and the matching then
//! checks each of its signatures on its own, exactly as it checks one outside any batch, so
//! that a forged signature among many is reported at its own entry with the same finding.

use std::collections::{BTreeMap, HashSet};

use streha_core::AuditEntryRef;
use streha_crypto::{AgencySigningPublicKey, Signature, verify_batch};
use streha_wire::peer::envelope_signature_input;

use crate::borrowed::agency_named;
use crate::cross::Side;
use crate::directory::Directory;

/// Signatures per batch: large enough for the batch's gain (about 2× per signature on this
/// machine), small enough that one bad signature costs only its batch's single checks.
pub(crate) const SIGNATURE_BATCH: usize = 64;

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
