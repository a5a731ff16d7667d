//! V3: the logs matched against each other — the evidence each log keeps of the other side
//! (envelope signatures, the other node's signed checkpoints), every `received` has its
//! `disclosed`, every `receipt` names the receiver's `received` in the receiver's signed
//! tree, and every `disclosed` is accounted for (`spec/verification.md` §V3).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use streha_core::AuditEntryRef;

use crate::batch::verified_envelope_signatures;
use crate::borrowed::{BasisText, same_basis, same_header};
use crate::directory::Directory;
use crate::evidence::{Held, check_held, envelope_signature_finding, failed, kept_checkpoint};
use crate::finding::{Finding, Rule};
use crate::integrity::CheckedLog;
use crate::replay::Replayed;

/// One replayed log: its V1 result and its replay.
pub(crate) struct Side<'a> {
    /// The agency whose log it is (the side's key is the log's name, which names the epoch
    /// after the first: `Directory::log_name`).
    pub(crate) agency: String,
    pub(crate) log: &'a CheckedLog<'a>,
    pub(crate) replayed: Replayed<'a>,
}

/// Runs the V3 checks over the replayed logs, keyed by log name (one per agency and log
/// epoch), and sets each disclosure row's status. `known` holds the roster's agency ids.
///
/// A kept checkpoint says which epoch of the other side's log the evidence is of (the
/// origin its signature verifies under): a `received` is matched against the sender's log
/// of that epoch, a `receipt` against the receiver's. A disclosure is accounted for by a
/// `received` in any epoch of the recipient's log, and by a receipt in any of the sender's.
pub(crate) fn match_logs(
    sides: &mut BTreeMap<String, Side<'_>>,
    dir: &Directory<'_>,
    known: &BTreeSet<String>,
    findings: &mut Vec<Finding>,
    notes: &mut Vec<Finding>,
) {
    let names: Vec<String> = sides.keys().cloned().collect();
    // Each log's `disclosed` by envelope: matching is O(n log n), not one scan per entry.
    let disclosed: BTreeMap<String, HashMap<_, usize>> = sides
        .iter()
        .map(|(name, side)| (name.clone(), side.replayed.disclosed_index()))
        .collect();

    // V3.1 (envelope signatures) and V3.6 (the other node's checkpoints): the evidence of the
    // other side that each `received` and `receipt` keeps. An entry whose evidence is forged
    // is reported once, against its own log, and not matched further.
    let mut forged: BTreeSet<(String, u64)> = BTreeSet::new();
    let mut proven: BTreeMap<(String, u64), Held> = BTreeMap::new();
    let batched = verified_envelope_signatures(dir, sides);
    for name in &names {
        let side = &sides[name];
        let indices = side
            .replayed
            .received
            .iter()
            .map(|r| r.index)
            .chain(side.replayed.receipts.iter().map(|r| r.index));
        for index in indices {
            let Some(entry) = side.log.entry(index) else {
                continue;
            };
            // Settled by a batch that verified, or checked on its own.
            if !batched.contains(&(name.as_str(), index))
                && let Some(finding) = envelope_signature_finding(dir, name, index, entry)
            {
                findings.push(finding);
                forged.insert((name.clone(), index));
                continue;
            }
            match kept_checkpoint(dir, name, index, entry) {
                Some(Ok(held)) => {
                    proven.insert((name.clone(), index), held);
                }
                Some(Err(finding)) => {
                    findings.push(finding);
                    forged.insert((name.clone(), index));
                }
                None => {}
            }
        }
    }
    let logs: BTreeMap<String, &CheckedLog<'_>> = sides
        .iter()
        .map(|(name, side)| (name.clone(), side.log))
        .collect();
    let held: Vec<Held> = proven.values().cloned().collect();
    let contradicted = check_held(&logs, &held, findings);
    // Evidence that V3.1 and V3.3 cannot match entry by entry: forged (reported above), or
    // a checkpoint its signer's bundle withholds or contradicts (reported by `check_held`).
    let settled = |keeper: &str, index: u64| {
        let key = (keeper.to_owned(), index);
        forged.contains(&key) || proven.get(&key).is_some_and(|h| failed(&contradicted, h))
    };

    // V3.1, V3.2: every `received` against the sender's `disclosed`.
    for receiver in &names {
        let received: Vec<_> = sides[receiver]
            .replayed
            .received
            .iter()
            .map(|r| {
                (
                    r.index,
                    r.header,
                    r.basis,
                    r.ciphertext_hash,
                    r.sender_log_index,
                )
            })
            .collect();
        for (index, header, basis, hash, sender_index) in received {
            if settled(receiver, index) {
                continue;
            }
            let agency = header.sender.to_string();
            // The sender's log of the epoch its kept checkpoint was signed in.
            let sender = proven
                .get(&(receiver.clone(), index))
                .map_or_else(|| agency.clone(), |h| h.signer_log.clone());
            let envelope = header.envelope_id;
            let Some(side) = sides.get(&sender) else {
                if !known.contains(&agency) {
                    // A non-member sender: a finding of the replay (V2), nothing to match.
                    continue;
                }
                notes.push(
                    Finding::new(
                        Rule::CounterpartMissing,
                        receiver,
                        format!(
                            "received from `{sender}`, whose log was not supplied: the disclosure cannot be matched"
                        ),
                    )
                    .at_entry(index)
                    .envelope(envelope)
                    .counterpart(&sender, sender_index),
                );
                continue;
            };
            let Some(d) = disclosed[&sender]
                .get(&envelope)
                .map(|&i| &side.replayed.disclosed[i])
            else {
                // The sender's envelope signature and its checkpoint are valid, and its bundle
                // holds that checkpoint's tree (V3.6): the sender never logged the envelope
                // under it, so the receiver's claim that it was proven there is false.
                let at = sender_index.and_then(|i| side.log.entry(i));
                findings.push(
                    Finding::new(
                        Rule::ReceivedWithoutDisclosed,
                        receiver,
                        format!(
                            "received {} about subject {} from `{sender}`, whose log ({} entries, consistent with the checkpoint the receiver kept) has no `disclosed` of this envelope{}: the receiver's evidence is false (its log is false), though the sender's agency signed the envelope",
                            header.categories,
                            header.subject,
                            side.log.tree.size(),
                            match (sender_index, at) {
                                (Some(i), Some(e)) => format!(
                                    "; the receiver names entry {i}, a `{}`",
                                    e.kind_name()
                                ),
                                (Some(i), None) => format!("; the receiver names entry {i}"),
                                (None, _) => String::new(),
                            }
                        ),
                    )
                    .at_entry(index)
                    .envelope(envelope)
                    .counterpart(&sender, sender_index),
                );
                continue;
            };
            let mut differs = Vec::new();
            if d.ciphertext_hash != hash {
                differs.push(format!(
                    "ciphertext hash {} received, {} disclosed",
                    hex::encode(hash),
                    hex::encode(d.ciphertext_hash)
                ));
            }
            if !same_header(&d.header, header) {
                differs.push("the headers differ".to_owned());
            }
            if !differs.is_empty() {
                findings.push(
                    Finding::new(
                        Rule::DisclosureMismatch,
                        receiver,
                        format!(
                            "the `received` does not match the sender's `disclosed`: {}",
                            differs.join("; ")
                        ),
                    )
                    .at_entry(index)
                    .envelope(envelope)
                    .counterpart(&sender, Some(d.index)),
                );
            }
            if let Some(i) = sender_index
                && i != d.index
            {
                findings.push(
                    Finding::new(
                        Rule::SenderIndexMismatch,
                        receiver,
                        format!(
                            "the receiver logged sender index {i}; the sender's `disclosed` is entry {}",
                            d.index
                        ),
                    )
                    .at_entry(index)
                    .envelope(envelope)
                    .counterpart(&sender, Some(d.index)),
                );
            }
            match &d.receiver_view {
                // The sender's roster in force could not be checked (a V2.9 finding there).
                None => {}
                Some(Ok(expected)) if !same_basis(expected, basis) => findings.push(
                    Finding::new(
                        Rule::ReceiverBasisMismatch,
                        receiver,
                        format!(
                            "logged basis {}; on the sender's subject facts and consent evidence the policy gives {expected}",
                            BasisText(basis)
                        ),
                    )
                    .at_entry(index)
                    .envelope(envelope)
                    .counterpart(&sender, Some(d.index)),
                ),
                Some(Ok(_)) => {}
                Some(Err(reason)) => findings.push(
                    Finding::new(
                        Rule::ReceivedWithoutBasis,
                        receiver,
                        format!(
                            "accepted {} about subject {} for {}; on the sender's subject facts and consent evidence the policy refuses it: {reason}",
                            header.categories, header.subject, header.purpose
                        ),
                    )
                    .at_entry(index)
                    .envelope(envelope)
                    .counterpart(&sender, Some(d.index))
                    .article(reason.article()),
                ),
            }
        }
    }

    // V3.3: every receipt against the receiver's log.
    for sender in &names {
        let receipts: Vec<_> = sides[sender]
            .replayed
            .receipts
            .iter()
            .map(|r| {
                (
                    r.index,
                    r.envelope,
                    r.recipient,
                    r.receiver_log_index,
                    r.receiver_tree_size,
                )
            })
            .collect();
        let sender_agency = sides[sender].agency.clone();
        for (index, envelope, recipient, k, n) in receipts {
            if settled(sender, index) {
                continue;
            }
            // The receiver's log of the epoch its kept checkpoint was signed in.
            let recipient = proven
                .get(&(sender.clone(), index))
                .map_or(recipient, |h| h.signer_log.as_str());
            let Some(side) = sides.get(recipient) else {
                notes.push(
                    Finding::new(
                        Rule::CounterpartMissing,
                        sender,
                        format!(
                            "a receipt from `{recipient}`, whose log was not supplied: its entry {k} cannot be checked"
                        ),
                    )
                    .at_entry(index)
                    .envelope(envelope)
                    .counterpart(recipient, Some(k)),
                );
                continue;
            };
            // The receiver's node signed its tree of size `n` and its bundle has that root
            // there (V3.6): only the entry the receipt names is left to check.
            let log = side.log;
            let names_received = k < n
                && matches!(
                    log.entry(k),
                    Some(AuditEntryRef::Received { header, .. })
                        if header.envelope_id == envelope && header.sender.as_str() == sender_agency
                );
            if !names_received {
                let seen = match log.entry(k) {
                    _ if k >= n => format!("index {k} is not below the tree size {n}"),
                    Some(e) => format!(
                        "entry {k} is a `{}`, not the `received` of this envelope from `{sender_agency}`",
                        e.kind_name()
                    ),
                    None => format!("entry {k} is missing or does not decode"),
                };
                findings.push(
                    Finding::new(
                        Rule::ReceiptEntryMismatch,
                        sender,
                        format!("the receipt from `{recipient}` names its entry {k}: {seen}"),
                    )
                    .at_entry(index)
                    .envelope(envelope)
                    .counterpart(recipient, Some(k)),
                );
            }
        }
    }

    // V3.4: every `disclosed` accounted for; the rows' delivery status.
    let mut missing: BTreeMap<(String, String), usize> = BTreeMap::new();
    // By agency, over every epoch of its log supplied: receptions (with the log and entry),
    // refusals to receive, and receipts.
    let mut received: BTreeMap<&str, HashMap<_, (&str, u64)>> = BTreeMap::new();
    let mut refused: BTreeMap<&str, HashSet<_>> = BTreeMap::new();
    let mut receipts: BTreeMap<&str, HashSet<_>> = BTreeMap::new();
    for (name, side) in sides.iter() {
        let agency = side.agency.as_str();
        let by_envelope = received.entry(agency).or_default();
        for r in &side.replayed.received {
            by_envelope
                .entry(r.header.envelope_id)
                .or_insert((name.as_str(), r.index));
        }
        refused
            .entry(agency)
            .or_default()
            .extend(side.replayed.receive_refused.keys().copied());
        receipts
            .entry(agency)
            .or_default()
            .extend(side.replayed.receipts.iter().map(|r| r.envelope));
    }
    let mut all_statuses = Vec::new();
    for sender in &names {
        let mut statuses = Vec::new();
        let side = &sides[sender];
        let no_receipts = HashSet::new();
        let receipts = receipts.get(side.agency.as_str()).unwrap_or(&no_receipts);
        for d in &side.replayed.disclosed {
            let envelope = d.header.envelope_id;
            let recipient = d.header.recipient.as_str();
            let has_receipt = receipts.contains(&envelope);
            let status = match received.get(recipient) {
                None => {
                    *missing
                        .entry((sender.clone(), recipient.to_owned()))
                        .or_default() += 1;
                    if has_receipt {
                        "receipt_only"
                    } else {
                        "receiver_log_missing"
                    }
                }
                Some(by_envelope) => {
                    if let Some(&(r_log, r_index)) = by_envelope.get(&envelope) {
                        if !has_receipt {
                            notes.push(
                                Finding::new(
                                    Rule::DeliveredWithoutReceipt,
                                    sender,
                                    format!(
                                        "`{r_log}` logged it as received (entry {r_index}); this log holds no receipt for it yet"
                                    ),
                                )
                                .at_entry(d.index)
                                .envelope(envelope)
                                .counterpart(r_log, Some(r_index)),
                            );
                        }
                        "received"
                    } else if refused
                        .get(recipient)
                        .is_some_and(|r| r.contains(&envelope))
                    {
                        "refused_by_receiver"
                    } else if has_receipt {
                        // The receipt check (V3.3) has reported the receiver's missing entry.
                        "receipt_only"
                    } else {
                        notes.push(
                            Finding::new(
                                Rule::Undelivered,
                                sender,
                                format!(
                                    "no `received` in `{recipient}`'s log and no receipt here: still queued or held"
                                ),
                            )
                            .at_entry(d.index)
                            .envelope(envelope)
                            .counterpart(recipient, None),
                        );
                        "undelivered"
                    }
                }
            };
            statuses.push((d.row, status));
        }
        all_statuses.push((sender.clone(), statuses));
    }
    for (sender, statuses) in all_statuses {
        let rows = &mut sides.get_mut(&sender).expect("a known side").replayed.rows;
        for (row, status) in statuses {
            rows[row].status = status;
        }
    }
    for ((sender, recipient), count) in missing {
        notes.push(
            Finding::new(
                Rule::CounterpartMissing,
                &sender,
                format!(
                    "{count} disclosure(s) to `{recipient}`, whose log was not supplied, cannot be matched"
                ),
            )
            .counterpart(&recipient, None),
        );
    }
}
