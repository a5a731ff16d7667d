//! Requests from peer nodes (ALPN `streha/1`): receiving a disclosure.
//!
//! The receiver trusts nothing the sending node decided: it checks that the envelope is
//! signed by the connected peer's agency and addressed to this agency, that the sender's log
//! holds the `disclosed` entry of exactly this envelope under a checkpoint the sender's node
//! signed, verifies the consent evidence against the sender's signed checkpoint, and decides
//! again with the same policy function. A sender that skips its own check, or its own log
//! entry, gets nothing through. The `received` entry keeps the sender's envelope signature
//! and checkpoint signature, so that the logs of both sides can be held against each other
//! offline (`spec/protocol.md` §6, "Delivery evidence").

use streha_audit::Checkpoint;
use streha_core::{
    AgencyId, AuditEntry, ConsentGrant, ConsentView, Decision, DisclosureHeader, DisclosureRequest,
    EnvelopeId, PolicyContext, RefusalReason, UrgentApproval, decide,
};
use streha_crypto::{Envelope, Signature};
use streha_store::Transaction;
use streha_wire::peer::{
    BatchOutcome, BatchReceipt, Delivery, DeliveryBatch, EntryProof, KeptCheckpoint, PeerRequest,
    PeerResponse, ProvenEntry, Receipt, SubjectFacts, envelope_signature,
};
use streha_wire::text::Untrusted;
use streha_wire::{AgencyEntry, Roster};

use crate::at_rest::{self, Place};
use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::shared::{Shared, epoch_log_verifier};
use crate::state::{self, INBOX, INBOX_ORDER, InboxRecord, LogPosition, RECEIVE_REFUSED, RECEIVED};

/// Answers one peer request. Never panics; every failure becomes an error response.
pub(crate) async fn handle(
    shared: &Shared,
    peer: &AgencyEntry,
    request: PeerRequest,
) -> PeerResponse {
    let result = match request {
        PeerRequest::Deliver(delivery) => receive_one(shared, peer, *delivery).await,
        PeerRequest::DeliverBatch(batch) => receive_batch(shared, peer, *batch).await,
        PeerRequest::Witness(request) => {
            crate::witness::handle_witness(shared, peer, *request).await
        }
        PeerRequest::Gossip(notes) => crate::witness::handle_gossip(shared, peer, notes).await,
        PeerRequest::RosterVersion(offer) => crate::roster::handle_offer(shared, peer, offer),
        PeerRequest::CosignedCheckpoint => {
            crate::recovery::handle_cosigned_checkpoint(shared, peer)
        }
        PeerRequest::WitnessNewEpoch(request) => {
            crate::witness::handle_witness_new_epoch(shared, peer, *request).await
        }
        PeerRequest::KeptCheckpoint { origin } => {
            crate::recovery::handle_kept_checkpoint(shared, peer, &origin)
        }
        _ => Err(Failure::BadRequest(
            "this node does not support that request; upgrade the node".into(),
        )),
    };
    result.unwrap_or_else(|failure| {
        // A peer chooses how many requests fail: one line per peer a minute, with a count.
        if let Some(left_out) =
            shared
                .peer_warnings
                .allow(&peer.id, "request failed", std::time::Instant::now())
        {
            tracing::warn!(peer = %peer.id, error = %Untrusted(&failure.to_string()), left_out, "peer request failed");
        }
        PeerResponse::Error(failure.to_remote())
    })
}

/// Whether `approval` is a valid urgent-danger approval by an officer of `sender` (Art.
/// 45.3): the officer is listed for that agency in the roster and signed `message`.
pub(crate) fn approval_verifies(
    roster: &Roster,
    sender: &AgencyId,
    approval: &UrgentApproval,
    message: &[u8],
) -> bool {
    roster
        .agency(sender)
        .and_then(|agency| agency.officer_key(&approval.officer))
        .is_some_and(|key| {
            key.verify(
                message,
                &Signature::from_bytes(approval.signature.to_bytes()),
            )
            .is_ok()
        })
}

/// One delivery as received, alone or in a batch: its evidence is proven under a
/// checkpoint note of the sender's log (the batch's one note, or the delivery's own).
struct Incoming<'a> {
    envelope: Envelope,
    subject: SubjectFacts,
    disclosed: EntryProof,
    disclosed_note: &'a str,
    consent: Option<(EntryProof, &'a str)>,
}

/// What the receiver decided about one delivery.
enum Outcome {
    /// Received and logged at this position (now, or by an earlier delivery, perhaps in an
    /// earlier epoch of the log).
    Received(LogPosition),
    /// Refused by policy; the refusal is logged.
    Refused(RefusalReason),
}

/// A delivery checked and decided, waiting for the group commit.
enum Prepared {
    /// Answered without a commit (a repeat).
    Done(Outcome),
    /// To commit: its transaction and what its commit means.
    Commit(Transaction, Pending),
}

enum Pending {
    Received {
        id: EnvelopeId,
        ciphertext_hash: [u8; 32],
    },
    Refused {
        id: EnvelopeId,
        reason: RefusalReason,
    },
}

/// A single delivery (`Deliver`): a batch of one, answered with its own receipt.
async fn receive_one(
    shared: &Shared,
    peer: &AgencyEntry,
    delivery: Delivery,
) -> Result<PeerResponse, Failure> {
    let Delivery {
        envelope,
        disclosed,
        subject,
        consent,
    } = delivery;
    let (disclosed, disclosed_note) = disclosed.split();
    let consent = consent.map(ProvenEntry::split);
    let incoming = Incoming {
        envelope,
        subject,
        disclosed,
        disclosed_note: &disclosed_note,
        consent: consent
            .as_ref()
            .map(|(proof, note)| (proof.clone(), note.as_str())),
    };
    let mut results = receive_all(shared, peer, vec![incoming]).await?;
    match results.pop() {
        Some(Ok(Outcome::Received(position))) => Ok(PeerResponse::Receipt(Box::new(Receipt {
            received: crate::epochs::prove_at(shared, position)?,
        }))),
        Some(Ok(Outcome::Refused(reason))) => Ok(PeerResponse::Refused(reason)),
        Some(Err(failure)) => Err(failure),
        None => Err(Failure::Internal("a delivery went unanswered".into())),
    }
}

/// A delivery batch (`DeliverBatch`): each delivery decided on its own, all committed in one
/// group commit, answered with one receipt under one checkpoint of this log.
async fn receive_batch(
    shared: &Shared,
    peer: &AgencyEntry,
    batch: DeliveryBatch,
) -> Result<PeerResponse, Failure> {
    // Refused whole, before anything is looked at: a sending node never builds one.
    batch
        .check_bounds()
        .map_err(|e| Failure::BadRequest(e.to_string()))?;
    Metrics::bump(&shared.metrics.delivery_batches_received);
    let DeliveryBatch {
        checkpoint,
        deliveries,
    } = batch;
    let incoming = deliveries
        .into_iter()
        .map(|d| Incoming {
            envelope: d.envelope,
            subject: d.subject,
            disclosed: d.disclosed,
            disclosed_note: &checkpoint,
            consent: d.consent.map(|c| (c, checkpoint.as_str())),
        })
        .collect();
    let results = receive_all(shared, peer, incoming).await?;
    // One checkpoint for the whole receipt: the latest, which covers every index received
    // now or before.
    let latest = shared
        .store
        .latest_checkpoint()
        .ok_or_else(|| Failure::Internal("the log has no checkpoint".into()))?;
    let current = crate::epochs::current(shared);
    let mut outcomes = Vec::with_capacity(results.len());
    for result in results {
        outcomes.push(match result {
            // Received in an earlier epoch: proven in that epoch, under its own checkpoint.
            Ok(Outcome::Received(position)) if position.epoch != current => {
                match crate::epochs::prove_at(shared, position) {
                    Ok(proven) => BatchOutcome::ReceivedInEarlierEpoch(proven),
                    Err(failure) => BatchOutcome::Error(failure.to_remote()),
                }
            }
            Ok(Outcome::Received(LogPosition { index, .. })) => {
                let entry = shared
                    .store
                    .entry(index)?
                    .ok_or_else(|| Failure::Internal(format!("log entry {index} is missing")))?;
                let proof = shared.store.inclusion_proof(index, latest.size)?;
                BatchOutcome::Received(EntryProof {
                    entry,
                    index,
                    proof,
                })
            }
            Ok(Outcome::Refused(reason)) => BatchOutcome::Refused(reason),
            Err(failure) => BatchOutcome::Error(failure.to_remote()),
        });
    }
    Ok(PeerResponse::BatchReceipt(Box::new(BatchReceipt {
        checkpoint: crate::witness::with_cosignatures(shared, latest.size, &latest.note)?,
        outcomes,
    })))
}

/// Checks and decides every delivery, commits what is to be logged in one group commit, and
/// returns each delivery's outcome in order. An error for the whole call (the connection's
/// agency left the roster, the node's storage) answers every delivery.
async fn receive_all(
    shared: &Shared,
    peer: &AgencyEntry,
    items: Vec<Incoming<'_>>,
) -> Result<Vec<Result<Outcome, Failure>>, Failure> {
    // Held shared from reading the roster to committing the outcome. A roster adoption takes
    // it exclusively over its `roster_changed` entry and the swap, so a delivery is decided
    // and logged wholly under the roster that the log says is in force at its entry: one
    // from an agency that roster removed is never logged after the change (and an offline
    // verifier judging each entry under the roster of its position finds nothing to blame).
    // A re-keying, which takes it exclusively too, sees this envelope in the inbox and
    // shreds it, or closes the id first.
    let _registry = shared.registry_lock.read().await;
    let roster = shared.roster();
    // The connection's agency was looked up before the request was read; the roster may
    // have changed since. Its entry now, under the lock, is the one that counts.
    let peer = &roster
        .agency(&peer.id)
        .filter(|now| now.node_key == peer.node_key)
        .cloned()
        .ok_or_else(|| {
            Failure::Unauthorized("this node's key is no longer in the roster".into())
        })?;
    let own = shared.own_entry()?;

    // The envelopes must be the connected agency's, signed with its agency key: checked for
    // all of them together, then each is named.
    let envelopes: Vec<&Envelope> = items.iter().map(|item| &item.envelope).collect();
    let signatures = Envelope::verify_signatures(&envelopes, &peer.signing_key);

    let mut results: Vec<Option<Result<Outcome, Failure>>> = Vec::with_capacity(items.len());
    let mut txs = Vec::new();
    let mut pending = Vec::new();
    for (position, (item, signature)) in items.iter().zip(signatures).enumerate() {
        match prepare(shared, &roster, peer, &own, item, signature) {
            Ok(Prepared::Done(outcome)) => results.push(Some(Ok(outcome))),
            Ok(Prepared::Commit(tx, what)) => {
                results.push(None);
                txs.push(tx);
                pending.push((position, what));
            }
            Err(failure) => results.push(Some(Err(failure))),
        }
    }
    let committed = match shared.commit_group(txs).await {
        Ok(committed) => committed,
        Err(failure) => pending.iter().map(|_| Err(failure.clone())).collect(),
    };
    for ((position, what), result) in pending.into_iter().zip(committed) {
        let outcome = match (what, result) {
            (Pending::Received { id, .. }, Ok(committed)) => {
                Metrics::bump(&shared.metrics.disclosures_received);
                tracing::info!(envelope = %id, peer = %peer.id, index = committed.first_index, "disclosure received");
                Ok(Outcome::Received(LogPosition {
                    epoch: crate::epochs::current(shared),
                    index: committed.first_index,
                }))
            }
            // Received concurrently (or earlier in this batch) under the same id.
            (
                Pending::Received {
                    id,
                    ciphertext_hash,
                },
                Err(Failure::Conflict(_)),
            ) => state::received_position(&shared.store, id.as_bytes())
                .map_err(Failure::from)
                .and_then(|index| {
                    index.ok_or_else(|| Failure::Internal("lost a delivery race".into()))
                })
                .and_then(|index| received_again(shared, &ciphertext_hash, index))
                .map(Outcome::Received),
            (Pending::Refused { reason, .. }, Ok(_)) => Ok(Outcome::Refused(reason)),
            // The same refusal, delivered concurrently, was logged first.
            (Pending::Refused { id, reason }, Err(Failure::Conflict(_))) => {
                Ok(repeated_refusal(shared, peer, id, reason))
            }
            (_, Err(e)) => Err(e),
        };
        results[position] = Some(outcome);
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Failure::Internal("a delivery went unanswered".into()))))
        .collect())
}

/// Checks and decides one delivery (its envelope signature checked already: `signature`).
fn prepare(
    shared: &Shared,
    roster: &Roster,
    peer: &AgencyEntry,
    own: &AgencyEntry,
    item: &Incoming<'_>,
    signature: Result<(), streha_crypto::EnvelopeError>,
) -> Result<Prepared, Failure> {
    let envelope = &item.envelope;
    if envelope.header.sender != peer.signing_key {
        return Err(Failure::Unauthorized(format!(
            "the envelope is not signed with the signing key of `{}`, the agency of this connection",
            peer.id
        )));
    }
    signature.map_err(|e| Failure::Verification(format!("the envelope does not verify: {e}")))?;
    let header = DisclosureHeader::decode(&envelope.header.context)
        .map_err(|e| Failure::BadRequest(format!("the disclosure header is malformed: {e}")))?;
    let id = header.envelope_id;

    // A repeated delivery (the sender retrying after a lost receipt) gets the first receipt.
    if let Some(position) = state::received_position(&shared.store, id.as_bytes())? {
        return received_again(shared, &envelope.ciphertext_hash, position)
            .map(|index| Prepared::Done(Outcome::Received(index)));
    }
    shared.check_disk_reserve()?;
    if header.sender != peer.id {
        return Err(Failure::Unauthorized(format!(
            "the header names `{}` as sender, but the connection is from `{}`",
            header.sender, peer.id
        )));
    }
    if header.recipient != shared.agency || envelope.header.recipient != own.encryption_key {
        return Err(Failure::BadRequest(format!(
            "the envelope is addressed to `{}`, not to this agency `{}`",
            header.recipient, shared.agency
        )));
    }
    let now = shared.now();
    if header.created_at.unix_millis()
        > now
            .unix_millis()
            .saturating_add(u64::try_from(shared.limits.clock_skew.as_millis()).unwrap_or(u64::MAX))
    {
        return Err(Failure::BadRequest(
            "the disclosure is dated in the future; check the sender's clock".into(),
        ));
    }

    // Nothing is logged for a delivery whose sender's log does not hold it.
    let disclosed = verify_disclosed_evidence(
        shared,
        roster,
        peer,
        envelope,
        &header,
        &item.disclosed,
        item.disclosed_note,
    )?;

    let grant = match (&header.consent, &item.consent) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Failure::BadRequest(
                "the disclosure names a consent but carries no evidence of it".into(),
            ));
        }
        (Some(consent_id), Some((evidence, note))) => {
            let grant = verify_consent_evidence(shared, roster, peer, evidence, note)?;
            if grant.id() != *consent_id {
                return Err(Failure::BadRequest(
                    "the consent evidence is for another consent than the header names".into(),
                ));
            }
            Some(grant)
        }
    };
    // An id this agency closed (Art. 18.5) takes nothing more, whatever the sender knows.
    let locally_closed = state::load::<streha_core::Subject>(
        &shared.store,
        state::SUBJECTS,
        header.subject.as_bytes(),
    )?
    .is_some_and(|s| s.is_closed());
    let subject = state::subject_from_facts(header.subject, &item.subject)
        .map_err(|e| Failure::BadRequest(format!("the subject facts are invalid: {e}")))?;
    let views: Vec<ConsentView<'_>> = grant
        .iter()
        .map(|grant| ConsentView {
            grant,
            revoked_at: None,
        })
        .collect();
    let context = PolicyContext {
        federation: roster.policy_view(),
        subject: Some(&subject),
        consents: &views,
    };
    let request =
        DisclosureRequest::new(&header).with_verified_approvals(|sender, approval, message| {
            approval_verifies(roster, sender, approval, message)
        });
    // Decided at the disclosure's `created_at` only, on purpose: a disclosure that waited in
    // a queue is judged by the facts when it was made, not when it arrived (deciding now would
    // add only expiry, refusing what was lawful when sent). The carried grant, without its
    // revocation, is the evidence; a backdated `created_at` is ruled out by the sender, which
    // also decides at the time it logs, and by the verifier's replay of that entry
    // (`spec/protocol.md` §6, "The time of decision").
    let decision = if locally_closed {
        Decision::Refused {
            reason: RefusalReason::SubjectClosed {
                subject: header.subject,
            },
        }
    } else {
        decide(&context, &request, header.created_at)
    };
    let ciphertext_hash = envelope.ciphertext_hash;
    match decision {
        Decision::Refused { reason } => {
            // Logged once per envelope, content and reason; a repeat is answered the same
            // and counted, not logged again. A new refusal spends the peer's budget.
            let key = refusal_key(&header, &ciphertext_hash, &reason);
            if shared.store.get(RECEIVE_REFUSED, &key)?.is_some() {
                return Ok(Prepared::Done(repeated_refusal(shared, peer, id, reason)));
            }
            if !shared
                .refusal_budget
                .take(&peer.id, std::time::Instant::now())
            {
                Metrics::bump(&shared.metrics.receive_refusals_throttled);
                return Err(Failure::Unavailable(
                    "this node has logged as many refused deliveries from your agency as it logs per minute; retry later".into(),
                ));
            }
            tracing::warn!(envelope = %id, peer = %peer.id, reason = reason.name(), article = reason.article(), detail = %reason, "security event: received disclosure refused by policy");
            shared.metrics.refused("receive", &reason);
            let mut tx = Transaction::new();
            tx.append(
                AuditEntry::ReceiveRefused {
                    header,
                    reason: reason.clone(),
                    ciphertext_hash,
                    at: now,
                }
                .encode(),
            )
            .require_absent(RECEIVE_REFUSED, &key);
            state::put_position(
                &mut tx,
                RECEIVE_REFUSED,
                key.clone(),
                crate::epochs::current(shared),
            );
            Ok(Prepared::Commit(tx, Pending::Refused { id, reason }))
        }
        Decision::Allowed { basis, .. } => {
            let record = InboxRecord {
                about: header.subject,
                sealed_envelope: at_rest::seal(shared, Place::Inbox, header.subject, id, envelope)?,
                received_at: now,
            };
            let mut tx = Transaction::new();
            tx.append(
                AuditEntry::Received {
                    header,
                    basis,
                    ciphertext_hash,
                    sender_signature: Box::new(envelope_signature(envelope)),
                    sender_log_index: item.disclosed.index,
                    sender_tree_size: disclosed.size,
                    sender_root_hash: disclosed.root,
                    sender_checkpoint_signature: disclosed.signature,
                    at: now,
                }
                .encode(),
            )
            .put_body(INBOX, id.as_bytes().to_vec(), state::encode(&record))
            // Received once: neither in the inbox nor received and shredded since.
            .require_absent(INBOX, id.as_bytes())
            .require_absent(RECEIVED, id.as_bytes());
            // The inbox's order key holds where the envelope was logged: no key of its own.
            state::put_position(
                &mut tx,
                INBOX_ORDER,
                crate::app::inbox_order_key(now, id),
                crate::epochs::current(shared),
            );
            at_rest::record_key(shared, &mut tx, record.about)?;
            Ok(Prepared::Commit(
                tx,
                Pending::Received {
                    id,
                    ciphertext_hash,
                },
            ))
        }
    }
}

/// The key under which a logged refusal is remembered ([`RECEIVE_REFUSED`]): the envelope
/// id, then the first 16 bytes of BLAKE3 over the ciphertext hash and the encoded reason.
/// A repeat with other content or refused for another reason is a new refusal.
fn refusal_key(
    header: &DisclosureHeader,
    ciphertext_hash: &[u8; 32],
    reason: &streha_core::RefusalReason,
) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"streha receive refused v1\n");
    hasher.update(ciphertext_hash);
    hasher.update(&state::encode(reason));
    let mut key = header.envelope_id.as_bytes().to_vec();
    key.extend_from_slice(&hasher.finalize().as_bytes()[..16]);
    key
}

/// The answer to a delivery refused again for a refusal already logged: the same refusal,
/// counted (`streha_receive_refusals_repeated_total`) and at most one warning line per peer
/// a minute, carrying the count of those left out; no log entry.
fn repeated_refusal(
    shared: &Shared,
    peer: &AgencyEntry,
    id: EnvelopeId,
    reason: RefusalReason,
) -> Outcome {
    Metrics::bump(&shared.metrics.receive_refusals_repeated);
    if let Some(left_out) =
        shared
            .peer_warnings
            .allow(&peer.id, "repeated refusal", std::time::Instant::now())
    {
        tracing::warn!(envelope = %id, peer = %peer.id, left_out, "security event: a delivery already refused and logged was sent again; refused again, not logged again");
    }
    Outcome::Refused(reason)
}

/// The position of the first `received` entry of an envelope already received, if the
/// repeat is the same envelope (the same ciphertext hash): read in the epoch it was logged
/// in, from the kept bundle if that is an earlier one (`spec/audit-log.md` §9).
fn received_again(
    shared: &Shared,
    ciphertext: &[u8; 32],
    position: LogPosition,
) -> Result<LogPosition, Failure> {
    let entry = crate::epochs::entry_at(shared, position)?;
    match AuditEntry::decode(&entry) {
        Ok(AuditEntry::Received {
            ciphertext_hash, ..
        }) if ciphertext_hash == *ciphertext => Ok(position),
        _ => Err(Failure::Conflict(
            "this envelope id was already received with different content; a replay or a bug at the sender".into(),
        )),
    }
}

/// Opens the checkpoint of an entry proven in `peer`'s log (`what` names the evidence in
/// errors): signed by `peer`'s node key under its log origin, and the entry included in its
/// tree. Returns the checkpoint and its compact form, which a log entry keeps.
fn open_proven(
    shared: &Shared,
    roster: &Roster,
    peer: &AgencyEntry,
    evidence: &EntryProof,
    note: &str,
    what: &str,
) -> Result<(Checkpoint, KeptCheckpoint), Failure> {
    let verifier = epoch_log_verifier(roster, peer, note)?;
    let checkpoint = shared
        .verified_checkpoints
        .open(note, &verifier)
        .map_err(|e| {
            Failure::Verification(format!(
                "the {what}'s checkpoint is not signed by `{}`: {e}",
                peer.id
            ))
        })?;
    let kept = KeptCheckpoint::from_verified(note, &checkpoint, &verifier)
        .map_err(|e| Failure::Verification(format!("the {what}'s checkpoint: {e}")))?;
    evidence.verify_under(&checkpoint).map_err(|e| {
        Failure::Verification(format!(
            "the {what} is not proven in `{}`'s log: {e}",
            peer.id
        ))
    })?;
    Ok((checkpoint, kept))
}

/// Checks that the delivery's proven entry is `peer`'s `disclosed` entry of exactly this
/// envelope — the same header and ciphertext hash — in `peer`'s log under a checkpoint its
/// node signed. Returns that checkpoint, compactly, for the `received` entry to keep.
fn verify_disclosed_evidence(
    shared: &Shared,
    roster: &Roster,
    peer: &AgencyEntry,
    envelope: &Envelope,
    header: &DisclosureHeader,
    evidence: &EntryProof,
    note: &str,
) -> Result<KeptCheckpoint, Failure> {
    let (_, kept) = open_proven(
        shared,
        roster,
        peer,
        evidence,
        note,
        "sender's `disclosed` entry",
    )?;
    match AuditEntry::decode(&evidence.entry) {
        Ok(AuditEntry::Disclosed {
            header: logged,
            ciphertext_hash,
            ..
        }) if logged == *header && ciphertext_hash == envelope.ciphertext_hash => Ok(kept),
        Ok(AuditEntry::Disclosed { .. }) => Err(Failure::Verification(format!(
            "the `disclosed` entry proven at index {} of `{}`'s log is of another envelope than the one delivered (its header or ciphertext hash differ)",
            evidence.index, peer.id
        ))),
        _ => Err(Failure::Verification(format!(
            "the entry proven at index {} of `{}`'s log is not a `disclosed` entry",
            evidence.index, peer.id
        ))),
    }
}

/// Checks a `consent granted` entry proven in `peer`'s log and returns the grant.
fn verify_consent_evidence(
    shared: &Shared,
    roster: &Roster,
    peer: &AgencyEntry,
    evidence: &EntryProof,
    note: &str,
) -> Result<ConsentGrant, Failure> {
    open_proven(shared, roster, peer, evidence, note, "consent evidence")?;
    match AuditEntry::decode(&evidence.entry) {
        Ok(AuditEntry::ConsentGranted { grant }) => Ok(grant),
        _ => Err(Failure::BadRequest(
            "the consent evidence is not a `consent granted` entry".into(),
        )),
    }
}
