//! V3: the logs matched against each other — every `received` has its `disclosed`, every
//! `receipt` names the receiver's `received` in the receiver's signed tree, and every
//! `disclosed` is accounted for (`spec/verification.md` §V3).

use std::collections::{BTreeMap, BTreeSet};

use streha_audit::{Hash, inclusion_proof, leaf_hash, verify_inclusion};
use streha_core::AuditEntry;

use crate::finding::{Finding, Rule};
use crate::integrity::CheckedLog;
use crate::replay::Replayed;

/// One replayed log: its V1 result and its replay.
pub(crate) struct Side<'a> {
    pub(crate) log: &'a CheckedLog,
    pub(crate) replayed: Replayed,
}

/// Runs the V3 checks over the replayed logs, keyed by agency id, and sets each
/// disclosure row's status. `known` holds the roster's agency ids.
pub(crate) fn match_logs(
    sides: &mut BTreeMap<String, Side<'_>>,
    known: &BTreeSet<String>,
    findings: &mut Vec<Finding>,
    notes: &mut Vec<Finding>,
) {
    let names: Vec<String> = sides.keys().cloned().collect();
    // Each log's `disclosed` by envelope: matching is O(n log n), not one scan per entry.
    let disclosed: BTreeMap<String, BTreeMap<_, usize>> = sides
        .iter()
        .map(|(name, side)| (name.clone(), side.replayed.disclosed_index()))
        .collect();

    // V3.1, V3.2: every `received` against the sender's `disclosed`.
    for receiver in &names {
        let received: Vec<_> = sides[receiver]
            .replayed
            .received
            .iter()
            .map(|r| {
                (
                    r.index,
                    r.header.clone(),
                    r.basis.clone(),
                    r.ciphertext_hash,
                    r.sender_log_index,
                )
            })
            .collect();
        for (index, header, basis, hash, sender_index) in received {
            let sender = header.sender.to_string();
            let envelope = header.envelope_id;
            let Some(side) = sides.get(&sender) else {
                if !known.contains(&sender) {
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
                let beyond = sender_index.is_some_and(|i| i >= side.log.tree.size());
                if beyond {
                    notes.push(
                        Finding::new(
                            Rule::CounterpartMissing,
                            receiver,
                            format!(
                                "received from `{sender}`, whose bundle ends at {} entries, before the sender's index {}: export a newer bundle",
                                side.log.tree.size(),
                                sender_index.unwrap_or_default()
                            ),
                        )
                        .at_entry(index)
                        .envelope(envelope)
                        .counterpart(&sender, sender_index),
                    );
                } else {
                    findings.push(
                        Finding::new(
                            Rule::ReceivedWithoutDisclosed,
                            receiver,
                            format!(
                                "received {} about subject {} from `{sender}`, whose log ({} entries) has no `disclosed` of this envelope{}",
                                header.categories,
                                header.subject,
                                side.log.tree.size(),
                                sender_index
                                    .map(|i| format!(" (the receiver names index {i})"))
                                    .unwrap_or_default()
                            ),
                        )
                        .at_entry(index)
                        .envelope(envelope)
                        .counterpart(&sender, sender_index),
                    );
                }
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
            if d.header != header {
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
                Some(Ok(expected)) if *expected != basis => findings.push(
                    Finding::new(
                        Rule::ReceiverBasisMismatch,
                        receiver,
                        format!(
                            "logged basis {basis}; on the sender's subject facts and consent evidence the policy gives {expected}"
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
                    r.recipient.clone(),
                    r.receiver_log_index,
                    r.receiver_tree_size,
                    r.receiver_root,
                )
            })
            .collect();
        for (index, envelope, recipient, k, n, root) in receipts {
            let Some(side) = sides.get(&recipient) else {
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
                    .counterpart(&recipient, Some(k)),
                );
                continue;
            };
            let log = side.log;
            if n > log.tree.size() {
                notes.push(
                    Finding::new(
                        Rule::CounterpartMissing,
                        sender,
                        format!(
                            "the receipt names `{recipient}`'s tree of size {n}; its bundle holds {} entries: export a newer bundle",
                            log.tree.size()
                        ),
                    )
                    .at_entry(index)
                    .envelope(envelope)
                    .counterpart(&recipient, Some(k)),
                );
                continue;
            }
            let names_received = k < n
                && matches!(
                    log.entry(k),
                    Some(AuditEntry::Received { header, .. })
                        if header.envelope_id == envelope && header.sender.as_str() == sender
                );
            if !names_received {
                let seen = match log.entry(k) {
                    _ if k >= n => format!("index {k} is not below the tree size {n}"),
                    Some(e) => format!(
                        "entry {k} is a `{}`, not the `received` of this envelope from `{sender}`",
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
                    .counterpart(&recipient, Some(k)),
                );
                continue;
            }
            let claimed = Hash::from_bytes(root);
            let actual = log.tree.root_at(n).ok();
            let included = actual.is_some_and(|actual| actual == claimed)
                && inclusion_proof(k, n, &log.tree).is_ok_and(|proof| {
                    let leaf = leaf_hash(&log.raw[k as usize]);
                    verify_inclusion(&leaf, k, n, &proof, &claimed).is_ok()
                });
            if !included {
                findings.push(
                    Finding::new(
                        Rule::ReceiptNotInReceiverLog,
                        sender,
                        format!(
                            "the receipt names `{recipient}`'s tree of size {n} with root {claimed}; that log's entries give {}: the receiver showed the sender another log",
                            actual.map_or_else(|| "no root".to_owned(), |h| h.to_hex())
                        ),
                    )
                    .at_entry(index)
                    .envelope(envelope)
                    .counterpart(&recipient, Some(k)),
                );
            }
        }
    }

    // V3.4: every `disclosed` accounted for; the rows' delivery status.
    let mut missing: BTreeMap<(String, String), usize> = BTreeMap::new();
    let received: BTreeMap<String, BTreeMap<_, u64>> = sides
        .iter()
        .map(|(name, side)| {
            let mut by_envelope = BTreeMap::new();
            for r in &side.replayed.received {
                by_envelope.entry(r.header.envelope_id).or_insert(r.index);
            }
            (name.clone(), by_envelope)
        })
        .collect();
    for sender in &names {
        let mut statuses = Vec::new();
        let receipts: BTreeSet<_> = sides[sender]
            .replayed
            .receipts
            .iter()
            .map(|r| r.envelope)
            .collect();
        for d in &sides[sender].replayed.disclosed {
            let envelope = d.header.envelope_id;
            let recipient = d.header.recipient.to_string();
            let has_receipt = receipts.contains(&envelope);
            let status = match sides.get(&recipient) {
                None => {
                    *missing
                        .entry((sender.clone(), recipient.clone()))
                        .or_default() += 1;
                    if has_receipt {
                        "receipt_only"
                    } else {
                        "receiver_log_missing"
                    }
                }
                Some(side) => {
                    if let Some(&r_index) = received[&recipient].get(&envelope) {
                        if !has_receipt {
                            notes.push(
                                Finding::new(
                                    Rule::DeliveredWithoutReceipt,
                                    sender,
                                    format!(
                                        "`{recipient}` logged it as received (entry {r_index}); this log holds no receipt for it yet"
                                    ),
                                )
                                .at_entry(d.index)
                                .envelope(envelope)
                                .counterpart(&recipient, Some(r_index)),
                            );
                        }
                        "received"
                    } else if side.replayed.receive_refused.contains_key(&envelope) {
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
                            .counterpart(&recipient, None),
                        );
                        "undelivered"
                    }
                }
            };
            statuses.push((d.row, status));
        }
        let rows = &mut sides.get_mut(sender).expect("a known side").replayed.rows;
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
