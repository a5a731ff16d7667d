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
use streha_wire::limits::{MAX_BATCH_BYTES, MAX_BATCH_ENVELOPES};
use streha_wire::peer::{
    BatchOutcome, BatchReceipt, BatchedDelivery, Delivery, DeliveryBatch, EntryProof,
    KeptCheckpoint, PeerRequest, PeerResponse, ProvenEntry,
};
use streha_wire::text::{Untrusted, sanitized};
use streha_wire::{AgencyEntry, ErrorCode, Roster};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::at_rest::{self, Place};
use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::peers::Peers;
use crate::queue::OutboundQueue;
use crate::shared::{Shared, epoch_log_verifier};
use crate::state::{
    self, CONSENT_INDEX, HELD, Held, HoldClass, OUTBOUND, OUTBOUND_INDEX, Outbound, OutboundIndex,
};

/// How a delivery attempt ended, when it did not end in a logged receipt.
#[derive(Debug)]
pub(crate) enum Setback {
    /// Try again later (peer unreachable, timeout, transient error).
    Retry(String),
    /// Stop and wait for a person or a roster change (refused by the receiver, recipient not
    /// in the roster, a receipt that does not verify).
    Hold(HoldClass, String),
}

/// Most envelopes in flight at once, over all batches. The envelopes ready for one
/// recipient travel in batches of at most
/// [`MAX_BATCH_ENVELOPES`](streha_wire::limits::MAX_BATCH_ENVELOPES), so at least two
/// batches to one recipient can be in flight while the next one fills.
const MAX_IN_FLIGHT: usize = 64;

/// Most batches in flight to one recipient. The envelopes that arrive while they are in
/// flight gather in the recipient's queue and leave together in the next batch, so that
/// under load the batches grow instead of their number (group commit, as the receiver's
/// commit thread does); two keep the connection busy while a receipt is on its way back.
const MAX_BATCHES_PER_RECIPIENT: usize = 2;

/// How often the scheduler reads the whole queue again, in case an envelope was queued
/// without being posted to it (a commit reported failed that had been applied, say): one
/// scan of the queue's index every few minutes, linear, never per delivery.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(300);

/// What a finished delivery task (one batch) reports to the scheduler.
struct Finished {
    recipient: AgencyId,
    /// Set when the recipient looked unreachable: pause it this long.
    pause: Option<Duration>,
    /// Each envelope of the batch, and, when it stays queued, when to try it again.
    envelopes: Vec<(EnvelopeId, Option<Instant>)>,
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
    let mut running: HashMap<tokio::task::Id, (AgencyId, Vec<EnvelopeId>)> = HashMap::new();
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
                        for (id, retry_at) in done.envelopes {
                            queue.finished(id, retry_at);
                        }
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
                        let ids = running.remove(&error.id()).map(|(_, ids)| ids);
                        for id in ids.unwrap_or_default() {
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
///
/// The same scan bounds the in-memory attempt counts (`Shared::attempts`) by the queue: the
/// count of an envelope that is no longer queued is forgotten. A delivery forgets its own
/// count when it logs the receipt, but not when the receipt had already been logged by an
/// earlier attempt whose commit was reported failed (`Failure::Conflict`), nor for an
/// envelope that left the queue any other way; without this, those counts would pile up
/// for the life of the process. No envelope can be in flight without being in this scan:
/// the scheduler hands out only what it indexed, and it indexes new arrivals after this.
pub(crate) fn load(shared: &Shared, queue: &mut OutboundQueue) -> Result<(), Failure> {
    let held: HashSet<Vec<u8>> = shared
        .store
        .scan(HELD, &[])?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let mut queued: HashSet<EnvelopeId> = HashSet::new();
    for (key, value) in shared.store.scan(OUTBOUND_INDEX, &[])? {
        let Ok(id) = <[u8; 16]>::try_from(key.as_slice()).map(EnvelopeId::from_bytes) else {
            tracing::error!("an outbound queue index entry does not decode; skipped");
            continue;
        };
        queued.insert(id);
        if held.contains(&key) {
            continue;
        }
        let Ok(index) = postcard::from_bytes::<OutboundIndex>(&value) else {
            tracing::error!("an outbound queue index entry does not decode; skipped");
            continue;
        };
        queue.insert(id, index.recipient, index.disclosed_at);
    }
    shared
        .attempts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .retain(|id, _| queued.contains(id));
    Ok(())
}

/// Starts deliveries for due envelopes of recipients not paused, up to [`MAX_IN_FLIGHT`]
/// envelopes: the ready envelopes of one recipient, in queue order, go in one batch of at
/// most [`MAX_BATCH_ENVELOPES`] and [`MAX_BATCH_BYTES`] (a larger envelope alone). Returns
/// how long to sleep until the next one is due.
fn schedule(
    shared: &Arc<Shared>,
    peers: &Arc<Peers>,
    tasks: &mut JoinSet<Finished>,
    running: &mut HashMap<tokio::task::Id, (AgencyId, Vec<EnvelopeId>)>,
    queue: &mut OutboundQueue,
    paused: &HashMap<AgencyId, Instant>,
) -> Duration {
    let now = Instant::now();
    let mut batches_to: HashMap<AgencyId, usize> = HashMap::new();
    for (recipient, _) in running.values() {
        *batches_to.entry(recipient.clone()).or_default() += 1;
    }
    queue.wake_due(now);
    while let Some((first, recipient)) = queue.next(MAX_IN_FLIGHT, |recipient| {
        paused.get(recipient).is_none_or(|until| *until <= now)
            && batches_to.get(recipient).copied().unwrap_or(0) < MAX_BATCHES_PER_RECIPIENT
    }) {
        let mut batch: Vec<(EnvelopeId, Outbound)> = Vec::new();
        // Bytes of the envelopes sealed at rest: never fewer than the batch's envelope bytes.
        let mut bytes = 0_usize;
        let mut candidate = Some(first);
        while let Some(id) = candidate {
            if let Some(item) = queued(shared, queue, id, now) {
                let size = item.sealed_envelope.len();
                if !batch.is_empty() && bytes.saturating_add(size) > MAX_BATCH_BYTES {
                    // The next batch starts with it.
                    queue.put_back(id);
                    break;
                }
                bytes = bytes.saturating_add(size);
                batch.push((id, item));
            }
            if batch.len() >= MAX_BATCH_ENVELOPES {
                break;
            }
            candidate = queue.next_of(&recipient, MAX_IN_FLIGHT);
        }
        if batch.is_empty() {
            continue;
        }
        let ids: Vec<EnvelopeId> = batch.iter().map(|(id, _)| *id).collect();
        *batches_to.entry(recipient.clone()).or_default() += 1;
        let to = recipient.clone();
        let (shared, peers) = (Arc::clone(shared), Arc::clone(peers));
        let task = tasks.spawn(async move {
            let results = deliver_batch(&shared, &peers, &recipient, &mut batch).await;
            let mut pause = None;
            let mut envelopes = Vec::with_capacity(results.len());
            for ((id, item), result) in batch.iter().zip(results) {
                let (delay, retry_at) = settle(&shared, *id, item, result).await;
                pause = pause.max(delay);
                envelopes.push((*id, retry_at));
            }
            Finished {
                recipient,
                pause,
                envelopes,
            }
        });
        running.insert(task.id(), (to, ids));
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

/// The queued envelope `id`, handed out by the queue, if it is still to deliver: one held
/// since it was indexed (a re-keying holds without telling the scheduler), or already gone,
/// leaves the index; one that cannot be read now is retried later.
fn queued(
    shared: &Shared,
    queue: &mut OutboundQueue,
    id: EnvelopeId,
    now: Instant,
) -> Option<Outbound> {
    let item = match shared.store.get(HELD, id.as_bytes()) {
        Ok(Some(_)) => None,
        Ok(None) => match state::load::<Outbound>(&shared.store, OUTBOUND, id.as_bytes()) {
            Ok(item) => item,
            Err(error) => {
                tracing::error!(envelope = %id, error = %error, "cannot read a queued envelope; will retry");
                queue.finished(id, Some(now + shared.limits.retry_max));
                return None;
            }
        },
        Err(error) => {
            tracing::error!(envelope = %id, error = %error, "cannot read a delivery hold; will retry");
            queue.finished(id, Some(now + shared.limits.retry_max));
            return None;
        }
    };
    if item.is_none() {
        queue.drop_flying(id);
    }
    item
}

/// Records how one envelope's delivery attempt ended: returns the pause for its recipient
/// (when it is retried) and when to retry it (`None`: it left the queue or is held).
async fn settle(
    shared: &Shared,
    id: EnvelopeId,
    item: &Outbound,
    result: Result<(), Setback>,
) -> (Option<Duration>, Option<Instant>) {
    match result {
        Ok(()) => (None, None),
        Err(Setback::Retry(reason)) => {
            let (delay, at) = record_failure(shared, id, &reason);
            tracing::info!(envelope = %id, recipient = %item.recipient, error = %Untrusted(&reason), retry_in = ?delay, "delivery failed; will retry");
            (Some(delay), Some(at))
        }
        Err(Setback::Hold(class, reason)) => {
            tracing::warn!(envelope = %id, recipient = %item.recipient, class = class.name(), reason = %Untrusted(&reason), "delivery held; needs attention");
            match hold(shared, id, class, reason).await {
                Ok(()) => (None, None),
                Err(e) => {
                    tracing::error!(envelope = %id, error = %e, "could not record a held delivery; will retry");
                    (None, Some(Instant::now() + shared.limits.retry_max))
                }
            }
        }
    }
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

/// Delivers a batch of envelopes queued for `recipient` and logs the receipts of those
/// received, in one group commit. Returns each envelope's result, in order.
async fn deliver_batch(
    shared: &Shared,
    peers: &Peers,
    recipient: &AgencyId,
    batch: &mut [(EnvelopeId, Outbound)],
) -> Vec<Result<(), Setback>> {
    let all = |setback: &Setback| {
        batch
            .iter()
            .map(|_| {
                Err(match setback {
                    Setback::Retry(reason) => Setback::Retry(reason.clone()),
                    Setback::Hold(class, reason) => Setback::Hold(*class, reason.clone()),
                })
            })
            .collect()
    };
    // Queued before the policy refused a disclosure to the sender itself (issue 18): its own
    // node is no peer; held, where `delivery held` shows it, rather than retried forever.
    if *recipient == shared.agency {
        return all(&Setback::Hold(
            HoldClass::Other,
            "addressed to this node's own agency; a disclosure goes to another agency".into(),
        ));
    }
    let roster = shared.roster();
    let Some(peer) = roster.agency(recipient).cloned() else {
        return all(&Setback::Hold(
            HoldClass::NotInRoster,
            format!("`{recipient}` is not in the current roster"),
        ));
    };
    // Every entry of the batch is proven under one checkpoint: the latest, which covers
    // every `disclosed` entry (each was committed, with its checkpoint, before its envelope
    // was queued) and every consent it relies on.
    let Some(latest) = shared.store.latest_checkpoint() else {
        return all(&Setback::Retry("the log has no checkpoint yet".into()));
    };
    let checkpoint = match crate::witness::with_cosignatures(shared, latest.size, &latest.note) {
        Ok(note) => note,
        Err(e) => return all(&Setback::Retry(e.to_string())),
    };
    let mut results: Vec<Option<Result<(), Setback>>> = Vec::with_capacity(batch.len());
    let mut deliveries = Vec::with_capacity(batch.len());
    // Position in `batch` of each delivery sent.
    let mut sent = Vec::with_capacity(batch.len());
    for (position, (id, item)) in batch.iter_mut().enumerate() {
        match batched(shared, latest.size, *id, item) {
            Ok(Prepared::Batched(delivery)) => {
                results.push(None);
                deliveries.push(*delivery);
                sent.push(position);
            }
            // Its evidence is (partly) in an earlier epoch of the log: each proof under its
            // own epoch's checkpoint, in a delivery of its own (`spec/audit-log.md` §9).
            Ok(Prepared::Alone(delivery)) => {
                let request = PeerRequest::Deliver(delivery);
                let answered = match peers.request(shared, &peer, &request).await {
                    Err(reason) => Err(Setback::Retry(reason)),
                    Ok(response) => answer(
                        shared,
                        &roster,
                        &peer,
                        &[(*id, item)],
                        as_batch_receipt(response),
                    )
                    .await
                    .pop()
                    .unwrap_or_else(|| Err(Setback::Retry("no outcome".into()))),
                };
                results.push(Some(answered));
            }
            Err(setback) => results.push(Some(Err(setback))),
        }
    }
    if !deliveries.is_empty() {
        let request = PeerRequest::DeliverBatch(Box::new(DeliveryBatch {
            checkpoint,
            deliveries,
        }));
        Metrics::bump(&shared.metrics.delivery_batches_sent);
        let answered: Vec<Result<(), Setback>> = match peers.request(shared, &peer, &request).await
        {
            Err(reason) => sent
                .iter()
                .map(|_| Err(Setback::Retry(reason.clone())))
                .collect(),
            Ok(response) => {
                let items: Vec<(EnvelopeId, &Outbound)> = sent
                    .iter()
                    .map(|&position| (batch[position].0, &batch[position].1))
                    .collect();
                answer(shared, &roster, &peer, &items, response).await
            }
        };
        for (position, result) in sent.into_iter().zip(answered) {
            results[position] = Some(result);
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Setback::Retry("not sent".into()))))
        .collect()
}

/// A delivery ready to send.
enum Prepared {
    /// Every proof in the current epoch: one delivery of a batch, proven under the batch's
    /// checkpoint.
    Batched(Box<BatchedDelivery>),
    /// A proof in an earlier epoch of the log (an envelope disclosed before the log
    /// continued in a new epoch, or a consent granted before): a delivery of its own, each
    /// proof with its epoch's checkpoint.
    Alone(Box<Delivery>),
}

/// The answer to a single delivery in the form of a batch's receipt of one, so that one
/// code checks and logs receipts.
fn as_batch_receipt(response: PeerResponse) -> PeerResponse {
    match response {
        PeerResponse::Receipt(receipt) => {
            let ProvenEntry {
                entry,
                index,
                proof,
                checkpoint,
            } = receipt.received;
            PeerResponse::BatchReceipt(Box::new(BatchReceipt {
                checkpoint,
                outcomes: vec![BatchOutcome::Received(EntryProof {
                    entry,
                    index,
                    proof,
                })],
            }))
        }
        PeerResponse::Refused(reason) => PeerResponse::BatchReceipt(Box::new(BatchReceipt {
            checkpoint: String::new(),
            outcomes: vec![BatchOutcome::Refused(reason)],
        })),
        other => other,
    }
}

/// Where the `disclosed` entry of envelope `id` is, from its sent record: a store error is
/// retried, a missing record held (the envelope was queued without one).
fn disclosed_position(shared: &Shared, id: EnvelopeId) -> Result<state::LogPosition, Setback> {
    state::load_sent(&shared.store, id.as_bytes())
        .map_err(|e| Setback::Retry(Failure::from(e).to_string()))?
        .map(|sent| sent.disclosed)
        .ok_or_else(|| {
            Setback::Hold(
                HoldClass::Other,
                "the disclosed entry of this envelope is missing".into(),
            )
        })
}

/// One envelope to deliver, with its `disclosed` entry (and its consent's `consent granted`
/// entry) proven: in the tree of size `size` when both are in the current epoch (a batch's
/// delivery), else each in its epoch (a delivery of its own). The sealed envelope is taken
/// out of `item` and opened where it lies (each attempt reads the item from the store anew).
fn batched(
    shared: &Shared,
    size: u64,
    id: EnvelopeId,
    item: &mut Outbound,
) -> Result<Prepared, Setback> {
    let internal = |f: Failure| Setback::Retry(f.to_string());
    let prove = |index: u64| -> Result<EntryProof, Setback> {
        if index >= size {
            return Err(Setback::Retry(format!(
                "entry {index} is beyond the latest checkpoint (size {size})"
            )));
        }
        let entry = shared
            .store
            .entry(index)
            .map_err(|e| internal(e.into()))?
            .ok_or_else(|| Setback::Retry(format!("log entry {index} is missing")))?;
        let proof = shared
            .store
            .inclusion_proof(index, size)
            .map_err(|e| internal(e.into()))?;
        Ok(EntryProof {
            entry,
            index,
            proof,
        })
    };
    let disclosed = disclosed_position(shared, id)?;
    let consent = match item.consent {
        None => None,
        Some(consent) => Some(
            state::load_position(&shared.store, CONSENT_INDEX, consent.as_bytes())
                .map_err(|e| internal(e.into()))?
                .ok_or_else(|| {
                    Setback::Hold(
                        HoldClass::Other,
                        format!("consent {consent} is not in this log"),
                    )
                })?,
        ),
    };
    let sealed = std::mem::take(&mut item.sealed_envelope);
    let envelope =
        at_rest::open(shared, Place::Queue, item.about, id, sealed).map_err(|f| match f {
            // Shredded by a re-keying that ran while this attempt was under way: held as
            // the re-keying holds it, whichever of the two writes the hold last.
            Failure::NotFound(what) => Setback::Hold(HoldClass::Rekeyed, what),
            other => Setback::Hold(
                HoldClass::Other,
                format!("the queued envelope cannot be read: {other}"),
            ),
        })?;
    let current = crate::epochs::current(shared);
    if disclosed.epoch == current && consent.is_none_or(|c| c.epoch == current) {
        return Ok(Prepared::Batched(Box::new(BatchedDelivery {
            envelope,
            disclosed: prove(disclosed.index)?,
            subject: item.subject.clone(),
            consent: consent.map(|c| prove(c.index)).transpose()?,
        })));
    }
    // A kept epoch that cannot be read is for a person to look at, not to retry forever.
    let in_epoch = |position| {
        crate::epochs::prove_at(shared, position).map_err(|f| match f {
            Failure::Internal(what) => Setback::Hold(HoldClass::Other, what),
            other => Setback::Retry(other.to_string()),
        })
    };
    Ok(Prepared::Alone(Box::new(Delivery {
        envelope,
        disclosed: in_epoch(disclosed)?,
        subject: item.subject.clone(),
        consent: consent.map(in_epoch).transpose()?,
    })))
}

/// What the receiver's answer to a batch means for each of its envelopes: the receipts
/// verified (one checkpoint signature for all) and logged in one group commit.
pub(crate) async fn answer(
    shared: &Shared,
    roster: &Roster,
    recipient: &AgencyEntry,
    items: &[(EnvelopeId, &Outbound)],
    response: PeerResponse,
) -> Vec<Result<(), Setback>> {
    let each = |make: &dyn Fn() -> Setback| items.iter().map(|_| Err(make())).collect();
    let receipt = match response {
        PeerResponse::BatchReceipt(receipt) => receipt,
        PeerResponse::Error(error) => {
            return match error.code {
                ErrorCode::Unavailable | ErrorCode::Internal => {
                    each(&|| Setback::Retry(error.to_string()))
                }
                _ => each(&|| {
                    Setback::Hold(HoldClass::Other, format!("the receiver answered: {error}"))
                }),
            };
        }
        _ => return each(&|| Setback::Retry("the receiver sent an unknown answer".into())),
    };
    let bad = |what: String| {
        tracing::warn!(recipient = %recipient.id, problem = %what, "security event: a receipt did not verify");
        Setback::Hold(
            HoldClass::Other,
            format!("the receipt did not verify: {what}"),
        )
    };
    if receipt.outcomes.len() != items.len() {
        let message = format!(
            "it answers {} deliveries of a batch of {}",
            receipt.outcomes.len(),
            items.len()
        );
        return each(&|| bad(message.clone()));
    }
    // The receiver's checkpoint signature, verified once for the whole batch (and only if it
    // proves something: a batch refused or failed throughout needs none).
    let any_received = receipt
        .outcomes
        .iter()
        .any(|outcome| matches!(outcome, BatchOutcome::Received(_)));
    // A receipt proven in an earlier epoch of the receiver's log carries its own checkpoint.
    let open_own = |note: &str| {
        epoch_log_verifier(roster, recipient, note)
            .map_err(|e| e.to_string())
            .and_then(|verifier| {
                let checkpoint = shared
                    .verified_checkpoints
                    .open(note, &verifier)
                    .map_err(|e| format!("checkpoint: {e}"))?;
                let kept = KeptCheckpoint::from_verified(note, &checkpoint, &verifier)
                    .map_err(|e| format!("checkpoint: {e}"))?;
                Ok((checkpoint, kept))
            })
    };
    let opened = if any_received {
        epoch_log_verifier(roster, recipient, &receipt.checkpoint)
            .map_err(|e| e.to_string())
            .and_then(|verifier| {
                let checkpoint = shared
                    .verified_checkpoints
                    .open(&receipt.checkpoint, &verifier)
                    .map_err(|e| format!("checkpoint: {e}"))?;
                // Each receipt entry keeps the receiver's checkpoint signature: a receiver's
                // export that ends before this checkpoint is then seen as truncated.
                let kept =
                    KeptCheckpoint::from_verified(&receipt.checkpoint, &checkpoint, &verifier)
                        .map_err(|e| format!("checkpoint: {e}"))?;
                Ok(Some((checkpoint, kept)))
            })
    } else {
        Ok(None)
    };
    let mut results: Vec<Option<Result<(), Setback>>> = Vec::with_capacity(items.len());
    let mut txs = Vec::new();
    let mut logging = Vec::new();
    for (position, ((id, item), outcome)) in items.iter().zip(&receipt.outcomes).enumerate() {
        match outcome {
            BatchOutcome::Received(proven) => {
                let checked = match &opened {
                    Ok(Some((checkpoint, kept))) => {
                        receipt_tx(shared, recipient, *id, item, checkpoint, kept, proven, &bad)
                    }
                    Ok(None) => Err(bad("no checkpoint was opened".to_owned())),
                    Err(what) => Err(bad(what.clone())),
                };
                match checked {
                    Ok(tx) => {
                        results.push(None);
                        txs.push(tx);
                        logging.push((position, *id, proven.index));
                    }
                    Err(setback) => results.push(Some(Err(setback))),
                }
            }
            BatchOutcome::ReceivedInEarlierEpoch(proven) => {
                let (entry, note) = proven.clone().split();
                let checked = open_own(&note)
                    .map_err(&bad)
                    .and_then(|(checkpoint, kept)| {
                        receipt_tx(
                            shared,
                            recipient,
                            *id,
                            item,
                            &checkpoint,
                            &kept,
                            &entry,
                            &bad,
                        )
                    });
                match checked {
                    Ok(tx) => {
                        results.push(None);
                        txs.push(tx);
                        logging.push((position, *id, proven.index));
                    }
                    Err(setback) => results.push(Some(Err(setback))),
                }
            }
            BatchOutcome::Refused(reason) => {
                shared.metrics.refused("by-receiver", reason);
                results.push(Some(Err(Setback::Hold(
                    HoldClass::Refused,
                    format!("refused by the receiver: {reason}"),
                ))));
            }
            BatchOutcome::Error(error) => results.push(Some(Err(match error.code {
                ErrorCode::Unavailable | ErrorCode::Internal => Setback::Retry(error.to_string()),
                _ => Setback::Hold(HoldClass::Other, format!("the receiver answered: {error}")),
            }))),
        }
    }
    let committed = match shared.commit_group(txs).await {
        Ok(committed) => committed,
        Err(failure) => logging.iter().map(|_| Err(failure.clone())).collect(),
    };
    let mut any = false;
    for ((position, id, receiver_index), result) in logging.into_iter().zip(committed) {
        results[position] = Some(match result {
            Ok(committed) => {
                any = true;
                Metrics::bump(&shared.metrics.disclosures_delivered);
                shared.delivery_waiters.wake(id);
                shared
                    .attempts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&id);
                tracing::info!(envelope = %id, recipient = %recipient.id, receipt_index = committed.first_index, receiver_index, "delivered");
                Ok(())
            }
            // Already logged by an earlier attempt: nothing to do but forget the count.
            Err(Failure::Conflict(_)) => {
                shared
                    .attempts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&id);
                Ok(())
            }
            Err(e) => Err(Setback::Retry(e.to_string())),
        });
    }
    if any {
        shared.witness_wake.notify_one();
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Setback::Retry("no outcome".into()))))
        .collect()
}

/// Checks one receipt of a batch — the proven entry is in the receiver's tree and is its
/// `received` of exactly this envelope — and builds the transaction that logs it and takes
/// the envelope out of the queue, rewriting its [`SentRecord`](state::SentRecord) as
/// delivered. A receipt that does not check is `bad`.
#[allow(clippy::too_many_arguments)]
fn receipt_tx(
    shared: &Shared,
    recipient: &AgencyEntry,
    id: EnvelopeId,
    item: &Outbound,
    checkpoint: &streha_audit::Checkpoint,
    kept: &KeptCheckpoint,
    proven: &EntryProof,
    bad: &dyn Fn(String) -> Setback,
) -> Result<Transaction, Setback> {
    proven
        .verify_under(checkpoint)
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
    let disclosed = disclosed_position(shared, id)?;
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
    .require_present(OUTBOUND, id.as_bytes());
    state::put_sent_delivered(
        &mut tx,
        id.as_bytes().to_vec(),
        disclosed,
        proven.index,
        crate::epochs::current(shared),
    );
    Ok(tx)
}
