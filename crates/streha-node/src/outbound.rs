//! Store-and-forward: delivers queued disclosures to their recipients' nodes, retrying with
//! backoff while a peer is unreachable, and logs each verified receipt.
//!
//! A queued envelope leaves the queue only in the same transaction that logs its receipt, so
//! a crash anywhere leaves it queued and it is delivered again; the receiver deduplicates by
//! envelope id and answers a repeat with its first receipt. Nothing is lost, nothing is
//! logged twice. An envelope the receiver refuses, or whose recipient left the roster, is
//! held — kept in the queue, reported (`HeldDeliveries`, the `streha_outbound_held` gauge),
//! not retried. A roster that lists the recipient again releases the holds of class
//! [`HoldClass::NotInRoster`] ([`release_returned`]); the other holds stay for a person to
//! look at.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use streha_core::{AgencyId, AuditEntry, EnvelopeId};
use streha_store::Transaction;
use streha_wire::peer::{Delivery, KeptCheckpoint, PeerRequest, PeerResponse, Receipt};
use streha_wire::text::{Untrusted, sanitized};
use streha_wire::{AgencyEntry, ErrorCode, Roster};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::at_rest::{self, Place};
use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::peers::Peers;
use crate::queue::OutboundQueue;
use crate::shared::{Shared, log_verifier};
use crate::state::{
    self, CONSENT_INDEX, DELIVERED, DISCLOSED, Delivered, HELD, Held, HoldClass, OUTBOUND,
    OUTBOUND_INDEX, Outbound, OutboundIndex, RECEIPT_INDEX,
};

/// How a delivery attempt ended, when it did not end in a logged receipt.
#[derive(Debug)]
enum Setback {
    /// Try again later (peer unreachable, timeout, transient error).
    Retry(String),
    /// Stop and wait for a person or a roster change (refused by the receiver, recipient not
    /// in the roster, a receipt that does not verify).
    Hold(HoldClass, String),
}

/// Most deliveries in flight at once. Concurrent deliveries to one recipient share its
/// connection and are group-committed by the receiver, so throughput does not stop at one
/// round trip per disclosure.
const MAX_IN_FLIGHT: usize = 64;

/// How often the scheduler reads the whole queue again, in case an envelope was queued
/// without being posted to it (a commit reported failed that had been applied, say): one
/// scan of the queue's index every few minutes, linear, never per delivery.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(300);

/// What a finished delivery task reports to the scheduler.
struct Finished {
    id: EnvelopeId,
    recipient: AgencyId,
    /// Set when the recipient looked unreachable: pause it this long.
    pause: Option<Duration>,
    /// Set when the envelope stays queued: try it again then.
    retry_at: Option<Instant>,
}

/// Runs the delivery scheduler until `shutdown` turns true, then abandons the deliveries
/// in flight: each is safe to abandon at any point (the queue entry goes only with its
/// logged receipt, and the receiver answers a repeat with its first receipt), and waiting
/// for unreachable peers would delay the shutdown by the request timeout.
///
/// The queue is indexed in memory ([`OutboundQueue`]): loaded from the store once, then
/// fed by the submissions' [`Arrivals`](crate::queue::Arrivals), so a delivery costs the
/// scheduler O(log n), never a scan of the queue.
pub(crate) async fn run(
    shared: Arc<Shared>,
    peers: Arc<Peers>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, EnvelopeId> = HashMap::new();
    let mut queue = OutboundQueue::default();
    let mut paused: HashMap<AgencyId, Instant> = HashMap::new();
    let mut loaded: Option<Instant> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if loaded.is_none_or(|at| at.elapsed() >= RECONCILE_INTERVAL) {
            match load(&shared, &mut queue) {
                Ok(()) => loaded = Some(Instant::now()),
                Err(failure) => {
                    tracing::error!(error = %failure, "cannot read the outbound queue; retrying");
                }
            }
        }
        for (id, recipient, disclosed_at) in shared.outbound_arrivals.take() {
            queue.insert(id, recipient, disclosed_at);
        }
        let wake_in = match loaded {
            Some(at) => schedule(
                &shared,
                &peers,
                &mut tasks,
                &mut running,
                &mut queue,
                &paused,
            )
            .min(RECONCILE_INTERVAL.saturating_sub(at.elapsed())),
            None => shared.limits.retry_max,
        };
        shared
            .metrics
            .outbound_scanned
            .store(queue.scanned(), std::sync::atomic::Ordering::Relaxed);
        tokio::select! {
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                match done {
                    Ok((task, done)) => {
                        running.remove(&task);
                        queue.finished(done.id, done.retry_at);
                        match done.pause {
                            Some(pause) => {
                                paused.insert(done.recipient, Instant::now() + pause);
                            }
                            None => {
                                paused.remove(&done.recipient);
                            }
                        }
                    }
                    // A delivery task that panicked: its envelope stays queued, retried later.
                    Err(error) => {
                        if let Some(id) = running.remove(&error.id()) {
                            tracing::error!(envelope = %id, "a delivery task failed; will retry");
                            queue.finished(id, Some(Instant::now() + shared.limits.retry_max));
                        }
                    }
                }
            }
            () = shared.outbound_wake.notified() => {}
            () = tokio::time::sleep(wake_in) => {}
            _ = shutdown.changed() => {}
        }
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// Indexes the queued envelopes that are not held (one scan of the queue and of the holds).
/// Envelopes already indexed keep their place and state.
fn load(shared: &Shared, queue: &mut OutboundQueue) -> Result<(), Failure> {
    let held: HashSet<Vec<u8>> = shared
        .store
        .scan(HELD, &[])?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    for (key, value) in shared.store.scan(OUTBOUND_INDEX, &[])? {
        if held.contains(&key) {
            continue;
        }
        let (Ok(id), Ok(index)) = (
            <[u8; 16]>::try_from(key.as_slice()),
            postcard::from_bytes::<OutboundIndex>(&value),
        ) else {
            tracing::error!("an outbound queue index entry does not decode; skipped");
            continue;
        };
        queue.insert(
            EnvelopeId::from_bytes(id),
            index.recipient,
            index.disclosed_at,
        );
    }
    Ok(())
}

/// Starts deliveries for due envelopes of recipients not paused, up to [`MAX_IN_FLIGHT`].
/// Returns how long to sleep until the next one is due.
fn schedule(
    shared: &Arc<Shared>,
    peers: &Arc<Peers>,
    tasks: &mut JoinSet<Finished>,
    running: &mut HashMap<tokio::task::Id, EnvelopeId>,
    queue: &mut OutboundQueue,
    paused: &HashMap<AgencyId, Instant>,
) -> Duration {
    let now = Instant::now();
    let open = |recipient: &AgencyId| paused.get(recipient).is_none_or(|until| *until <= now);
    queue.wake_due(now);
    while let Some((id, _)) = queue.next(MAX_IN_FLIGHT, open) {
        // Held since it was indexed (a re-keying holds without telling the scheduler), or
        // already gone: it leaves the index.
        let item = match shared.store.get(HELD, id.as_bytes()) {
            Ok(Some(_)) => None,
            Ok(None) => match state::load::<Outbound>(&shared.store, OUTBOUND, id.as_bytes()) {
                Ok(item) => item,
                Err(error) => {
                    tracing::error!(envelope = %id, error = %error, "cannot read a queued envelope; will retry");
                    queue.finished(id, Some(now + shared.limits.retry_max));
                    continue;
                }
            },
            Err(error) => {
                tracing::error!(envelope = %id, error = %error, "cannot read a delivery hold; will retry");
                queue.finished(id, Some(now + shared.limits.retry_max));
                continue;
            }
        };
        let Some(item) = item else {
            queue.drop_flying(id);
            continue;
        };
        let (shared, peers) = (Arc::clone(shared), Arc::clone(peers));
        let task = tasks.spawn(async move {
            let (pause, retry_at) = match deliver_one(&shared, &peers, id, &item).await {
                Ok(()) => (None, None),
                Err(Setback::Retry(reason)) => {
                    let (delay, at) = record_failure(&shared, id, &reason);
                    tracing::info!(envelope = %id, recipient = %item.recipient, error = %Untrusted(&reason), retry_in = ?delay, "delivery failed; will retry");
                    (Some(delay), Some(at))
                }
                Err(Setback::Hold(class, reason)) => {
                    tracing::warn!(envelope = %id, recipient = %item.recipient, class = class.name(), reason = %Untrusted(&reason), "delivery held; needs attention");
                    match hold(&shared, id, class, reason).await {
                        Ok(()) => (None, None),
                        Err(e) => {
                            tracing::error!(envelope = %id, error = %e, "could not record a held delivery; will retry");
                            (None, Some(Instant::now() + shared.limits.retry_max))
                        }
                    }
                }
            };
            Finished {
                id,
                recipient: item.recipient,
                pause,
                retry_at,
            }
        });
        running.insert(task.id(), id);
    }
    // Wake for the next retry, or when a paused recipient with envelopes waiting reopens.
    let reopening = queue
        .ready_recipients()
        .filter_map(|recipient| paused.get(recipient))
        .filter(|until| **until > now)
        .min()
        .copied();
    let next = [queue.next_due(), reopening]
        .into_iter()
        .flatten()
        .min()
        .map_or(shared.limits.retry_max, |at| {
            at.saturating_duration_since(now)
        });
    next.max(Duration::from_millis(10))
}

/// Counts a failed attempt; returns the backoff delay and when to retry.
fn record_failure(shared: &Shared, id: EnvelopeId, reason: &str) -> (Duration, Instant) {
    let mut attempts = shared
        .attempts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let entry = attempts.entry(id).or_default();
    entry.count = entry.count.saturating_add(1);
    let delay = shared.backoff(entry.count);
    let at = Instant::now() + delay;
    // Served to applications (`DeliveryState::Queued`): escaped and within the text cap.
    entry.last_error = Some(sanitized(reason));
    (delay, at)
}

async fn hold(
    shared: &Shared,
    id: EnvelopeId,
    class: HoldClass,
    reason: String,
) -> Result<(), Failure> {
    let mut tx = Transaction::new();
    tx.put(
        HELD,
        id.as_bytes().to_vec(),
        state::encode(&Held {
            // Listed to applications (`HeldDeliveries`, `DeliveryStatus`) and shown to
            // operators: escaped and within the text cap, whatever the receiver answered.
            reason: sanitized(&reason),
            since: shared.now(),
            class,
        }),
    )
    .require_present(OUTBOUND, id.as_bytes());
    shared.commit(tx).await?;
    shared.delivery_waiters.wake(id);
    Ok(())
}

/// Releases the envelopes held only because their recipient was not in the roster, whose
/// recipient the roster in use lists again: they are retried at once. Holds of any other
/// class stay. Returns how many were released.
pub(crate) async fn release_returned(shared: &Shared) -> Result<usize, Failure> {
    let roster = shared.roster();
    let mut tx = Transaction::new();
    let mut released = Vec::new();
    for (key, value) in shared.store.scan(HELD, &[])? {
        let Some(held) = state::decode_held(&value) else {
            continue;
        };
        if held.class != HoldClass::NotInRoster {
            continue;
        }
        let Some(index) = state::load::<OutboundIndex>(&shared.store, OUTBOUND_INDEX, &key)? else {
            continue;
        };
        if roster.agency(&index.recipient).is_none() {
            continue;
        }
        let Ok(id) = <[u8; 16]>::try_from(key.as_slice()) else {
            continue;
        };
        tx.remove(HELD, key.clone());
        released.push((
            EnvelopeId::from_bytes(id),
            index.recipient,
            index.disclosed_at,
        ));
    }
    if released.is_empty() {
        return Ok(0);
    }
    shared.commit(tx).await?;
    {
        let mut attempts = shared
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (id, _, _) in &released {
            attempts.remove(id);
        }
    }
    for (id, recipient, disclosed_at) in &released {
        tracing::info!(envelope = %id, recipient = %recipient, "held delivery released: the recipient is in the roster again");
        shared
            .outbound_arrivals
            .post(*id, recipient.clone(), *disclosed_at);
    }
    shared.outbound_wake.notify_one();
    Ok(released.len())
}

async fn deliver_one(
    shared: &Shared,
    peers: &Peers,
    id: EnvelopeId,
    item: &Outbound,
) -> Result<(), Setback> {
    // Queued before the policy refused a disclosure to the sender itself (issue 18): its own
    // node is no peer; held, where `delivery held` shows it, rather than retried forever.
    if item.recipient == shared.agency {
        return Err(Setback::Hold(
            HoldClass::Other,
            "addressed to this node's own agency; a disclosure goes to another agency".into(),
        ));
    }
    let roster = shared.roster();
    let Some(recipient) = roster.agency(&item.recipient).cloned() else {
        return Err(Setback::Hold(
            HoldClass::NotInRoster,
            format!("`{}` is not in the current roster", item.recipient),
        ));
    };
    let internal = |f: Failure| Setback::Retry(f.to_string());
    let sender_log_index = state::load_index(&shared.store, DISCLOSED, id.as_bytes())
        .map_err(|e| internal(e.into()))?
        .ok_or_else(|| {
            Setback::Hold(
                HoldClass::Other,
                "the disclosed entry of this envelope is missing".into(),
            )
        })?;
    let consent = match item.consent {
        None => None,
        Some(consent) => {
            let index = state::load_index(&shared.store, CONSENT_INDEX, consent.as_bytes())
                .map_err(|e| internal(e.into()))?
                .ok_or_else(|| {
                    Setback::Hold(
                        HoldClass::Other,
                        format!("consent {consent} is not in this log"),
                    )
                })?;
            Some(crate::app::prove_entry(shared, index).map_err(internal)?)
        }
    };
    let envelope = at_rest::open(shared, Place::Queue, item.about, id, &item.sealed_envelope)
        .map_err(|f| match f {
            Failure::NotFound(what) => Setback::Hold(HoldClass::Other, what),
            other => Setback::Hold(
                HoldClass::Other,
                format!("the queued envelope cannot be read: {other}"),
            ),
        })?;
    // The `disclosed` entry was committed, with its checkpoint, before the envelope was
    // queued: the proof is against the latest checkpoint, which covers it.
    let disclosed = crate::app::prove_entry(shared, sender_log_index).map_err(internal)?;
    let delivery = PeerRequest::Deliver(Box::new(Delivery {
        envelope,
        disclosed,
        subject: item.subject.clone(),
        consent,
    }));

    let response = peers
        .request(shared, &recipient, &delivery)
        .await
        .map_err(Setback::Retry)?;
    match response {
        PeerResponse::Receipt(receipt) => {
            log_receipt(shared, &roster, &recipient, id, item, &receipt).await
        }
        PeerResponse::Refused(reason) => {
            shared.metrics.refused("by-receiver", &reason);
            Err(Setback::Hold(
                HoldClass::Refused,
                format!("refused by the receiver: {reason}"),
            ))
        }
        PeerResponse::Error(error) => match error.code {
            ErrorCode::Unavailable | ErrorCode::Internal => Err(Setback::Retry(error.to_string())),
            _ => Err(Setback::Hold(
                HoldClass::Other,
                format!("the receiver answered: {error}"),
            )),
        },
        _ => Err(Setback::Retry("the receiver sent an unknown answer".into())),
    }
}

/// Verifies the receiver's receipt and logs it, removing the envelope from the queue.
async fn log_receipt(
    shared: &Shared,
    roster: &Roster,
    recipient: &AgencyEntry,
    id: EnvelopeId,
    item: &Outbound,
    receipt: &Receipt,
) -> Result<(), Setback> {
    let proven = &receipt.received;
    let bad = |what: String| {
        tracing::warn!(envelope = %id, recipient = %recipient.id, problem = %what, "security event: a receipt did not verify");
        Setback::Hold(
            HoldClass::Other,
            format!("the receipt did not verify: {what}"),
        )
    };
    let verifier = log_verifier(roster, recipient).map_err(|e| bad(e.to_string()))?;
    let checkpoint = shared
        .verified_checkpoints
        .open(&proven.checkpoint, &verifier)
        .map_err(|e| bad(format!("checkpoint: {e}")))?;
    // The receipt entry keeps the receiver's checkpoint signature: a receiver's export that
    // ends before this checkpoint is then seen as truncated.
    let kept = KeptCheckpoint::from_verified(&proven.checkpoint, &checkpoint, &verifier)
        .map_err(|e| bad(format!("checkpoint: {e}")))?;
    proven
        .verify_under(&checkpoint)
        .map_err(|e| bad(format!("inclusion: {e}")))?;
    match AuditEntry::decode(&proven.entry) {
        Ok(AuditEntry::Received {
            header,
            ciphertext_hash,
            ..
        }) if header.envelope_id == id && ciphertext_hash == item.ciphertext_hash => {}
        _ => {
            return Err(bad(
                "the proven entry is not the receipt of this envelope".into()
            ));
        }
    }

    let mut tx = Transaction::new();
    tx.append(
        AuditEntry::Receipt {
            envelope: id,
            recipient: recipient.id.clone(),
            receiver_log_index: proven.index,
            receiver_tree_size: kept.size,
            receiver_root_hash: kept.root,
            receiver_checkpoint_signature: kept.signature,
            at: shared.now(),
        }
        .encode(),
    )
    .remove(OUTBOUND, id.as_bytes().to_vec())
    .remove(OUTBOUND_INDEX, id.as_bytes().to_vec())
    .put(
        DELIVERED,
        id.as_bytes().to_vec(),
        state::encode(&Delivered {
            receiver_index: proven.index,
        }),
    )
    .put_first_index(RECEIPT_INDEX, id.as_bytes().to_vec())
    .require_present(OUTBOUND, id.as_bytes());
    match shared.commit(tx).await {
        Ok(committed) => {
            Metrics::bump(&shared.metrics.disclosures_delivered);
            shared.witness_wake.notify_one();
            shared.delivery_waiters.wake(id);
            shared
                .attempts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&id);
            tracing::info!(envelope = %id, recipient = %recipient.id, receipt_index = committed.first_index, receiver_index = proven.index, "delivered");
            Ok(())
        }
        // Already logged by an earlier attempt: nothing to do.
        Err(Failure::Conflict(_)) => Ok(()),
        Err(e) => Err(Setback::Retry(e.to_string())),
    }
}
