//! The delivery scheduler's index of the outbound queue, in memory.
//!
//! The durable queue is the store's [`OUTBOUND`](crate::state::OUTBOUND) namespace; this
//! index says which of its envelopes to try next without reading them: per recipient, the
//! envelopes ready to try in queue order (disclosure time, then id); the envelopes waiting
//! for their retry, by due time; and the ones in flight. Every operation costs O(log n) in
//! the queue's size (a scheduling round O(r) more, in the number of recipients with ready
//! envelopes), so draining n queued disclosures costs O(n log n), not a scan of the whole
//! queue after each delivery. [`OutboundQueue::scanned`] counts the envelopes it handed
//! out or moved, the figure behind `streha_outbound_scanned_total`.
//!
//! The index is built from the store at start (one scan) and fed afterwards by
//! [`Arrivals`]: a submission or a released hold posts its envelope after its commit. The
//! scheduler also reads the store again every few minutes (`outbound::RECONCILE_INTERVAL`),
//! so an envelope queued without being posted is never stranded until a restart. Holds
//! are not posted: the scheduler reads the envelope's hold before each attempt, so a hold
//! committed by another task (a re-keying) is seen, and the envelope leaves the index then.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use streha_core::{AgencyId, EnvelopeId, Timestamp};

/// The order of an envelope in its recipient's queue: disclosure time, then id.
type Order = (Timestamp, EnvelopeId);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In its recipient's ready set.
    Ready,
    /// Waiting for its retry, due at this instant.
    Waiting(Instant),
    /// Handed out; its delivery has not finished.
    Flying,
}

#[derive(Debug, Clone)]
struct Item {
    recipient: AgencyId,
    order: Order,
    phase: Phase,
}

/// The scheduler's index of the outbound queue (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct OutboundQueue {
    items: HashMap<EnvelopeId, Item>,
    ready: BTreeMap<AgencyId, BTreeSet<Order>>,
    waiting: BTreeSet<(Instant, EnvelopeId)>,
    /// The same, per recipient: a batch to a recipient takes its waiting envelopes along.
    waiting_of: HashMap<AgencyId, BTreeSet<(Instant, EnvelopeId)>>,
    flying: usize,
    /// The recipient served last, so that a round starts after it (round robin).
    last_served: Option<AgencyId>,
    scanned: u64,
}

impl OutboundQueue {
    /// Adds a queued envelope, ready to try. An envelope already known is left as it is.
    pub(crate) fn insert(&mut self, id: EnvelopeId, recipient: AgencyId, disclosed_at: Timestamp) {
        if self.items.contains_key(&id) {
            return;
        }
        self.scanned += 1;
        let order = (disclosed_at, id);
        self.ready
            .entry(recipient.clone())
            .or_default()
            .insert(order);
        self.items.insert(
            id,
            Item {
                recipient,
                order,
                phase: Phase::Ready,
            },
        );
    }

    /// Moves the envelopes whose retry is due at `now` back to their recipients' queues.
    pub(crate) fn wake_due(&mut self, now: Instant) {
        while let Some(&(due, id)) = self.waiting.first() {
            if due > now {
                break;
            }
            self.waiting.pop_first();
            self.scanned += 1;
            if let Some(item) = self.items.get_mut(&id) {
                remove_waiting(&mut self.waiting_of, &item.recipient, (due, id));
                item.phase = Phase::Ready;
                self.ready
                    .entry(item.recipient.clone())
                    .or_default()
                    .insert(item.order);
            }
        }
    }

    /// The next envelope to try, if fewer than `max_in_flight` are in flight: the first
    /// ready one of the next recipient (round robin) for which `open` is true. It is in
    /// flight from then on, until [`finished`](Self::finished).
    pub(crate) fn next(
        &mut self,
        max_in_flight: usize,
        mut open: impl FnMut(&AgencyId) -> bool,
    ) -> Option<(EnvelopeId, AgencyId)> {
        if self.flying >= max_in_flight {
            return None;
        }
        // Recipients after the last one served, then from the first: each at most once.
        let recipient = {
            use std::ops::Bound::{Excluded, Unbounded};
            let mut candidates: Box<dyn Iterator<Item = &AgencyId>> = match &self.last_served {
                Some(last) => Box::new(
                    self.ready
                        .range::<AgencyId, _>((Excluded(last), Unbounded))
                        .chain(self.ready.range::<AgencyId, _>(..=last))
                        .map(|(recipient, _)| recipient),
                ),
                None => Box::new(self.ready.keys()),
            };
            candidates.find(|recipient| open(recipient)).cloned()?
        };
        let set = self.ready.get_mut(&recipient)?;
        let (_, id) = set.pop_first()?;
        if set.is_empty() {
            self.ready.remove(&recipient);
        }
        self.scanned += 1;
        self.flying += 1;
        if let Some(item) = self.items.get_mut(&id) {
            item.phase = Phase::Flying;
        }
        self.last_served = Some(recipient.clone());
        Some((id, recipient))
    }

    /// The next envelope of `recipient` to add to a batch that [`next`](Self::next)
    /// started, if fewer than `max_in_flight` are in flight: its next ready one, else the
    /// one whose retry is due first (the recipient is being contacted anyway; its backoff
    /// is for the recipient, whose pause [`next`](Self::next) respects). It is in flight
    /// from then on.
    pub(crate) fn next_of(
        &mut self,
        recipient: &AgencyId,
        max_in_flight: usize,
    ) -> Option<EnvelopeId> {
        if self.flying >= max_in_flight {
            return None;
        }
        let id = if let Some(set) = self.ready.get_mut(recipient) {
            let (_, id) = set.pop_first()?;
            if set.is_empty() {
                self.ready.remove(recipient);
            }
            id
        } else {
            loop {
                let set = self.waiting_of.get_mut(recipient)?;
                let (due, id) = set.pop_first()?;
                if set.is_empty() {
                    self.waiting_of.remove(recipient);
                }
                // Only an envelope still waiting for exactly this retry (never a stale mark).
                if self
                    .items
                    .get(&id)
                    .is_some_and(|item| item.phase == Phase::Waiting(due))
                {
                    self.waiting.remove(&(due, id));
                    break id;
                }
            }
        };
        self.scanned += 1;
        self.flying += 1;
        if let Some(item) = self.items.get_mut(&id) {
            item.phase = Phase::Flying;
        }
        Some(id)
    }

    /// Puts an envelope handed out but not sent (it did not fit its batch) back at its
    /// place in its recipient's queue, ready.
    pub(crate) fn put_back(&mut self, id: EnvelopeId) {
        let Some(item) = self.items.get_mut(&id) else {
            return;
        };
        if item.phase == Phase::Flying {
            self.flying -= 1;
        }
        item.phase = Phase::Ready;
        self.ready
            .entry(item.recipient.clone())
            .or_default()
            .insert(item.order);
    }

    /// A delivery handed out by [`next`](Self::next) ended. `retry_at`: try it again then;
    /// `None`: it left the queue (delivered or held) and is forgotten.
    pub(crate) fn finished(&mut self, id: EnvelopeId, retry_at: Option<Instant>) {
        let Some(item) = self.items.get_mut(&id) else {
            return;
        };
        if item.phase == Phase::Flying {
            self.flying -= 1;
        }
        match retry_at {
            Some(at) => {
                item.phase = Phase::Waiting(at);
                self.waiting.insert((at, id));
                self.waiting_of
                    .entry(item.recipient.clone())
                    .or_default()
                    .insert((at, id));
            }
            None => {
                self.items.remove(&id);
            }
        }
    }

    /// Forgets an envelope handed out by [`next`](Self::next) that turned out not to be
    /// deliverable now (held, or gone from the store).
    pub(crate) fn drop_flying(&mut self, id: EnvelopeId) {
        self.finished(id, None);
    }

    /// When the next waiting envelope is due, if any.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.waiting.first().map(|(at, _)| *at)
    }

    /// The recipients with envelopes ready to try.
    pub(crate) fn ready_recipients(&self) -> impl Iterator<Item = &AgencyId> {
        self.ready.keys()
    }

    /// How many envelopes are in flight.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.flying
    }

    /// Envelopes handed out or moved so far (each insertion, each retry that fell due, each
    /// envelope handed out): the scheduler's work, linear in the deliveries it makes.
    pub(crate) fn scanned(&self) -> u64 {
        self.scanned
    }

    /// How many envelopes the index holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

fn remove_waiting(
    waiting_of: &mut HashMap<AgencyId, BTreeSet<(Instant, EnvelopeId)>>,
    recipient: &AgencyId,
    key: (Instant, EnvelopeId),
) {
    if let Some(set) = waiting_of.get_mut(recipient) {
        set.remove(&key);
        if set.is_empty() {
            waiting_of.remove(recipient);
        }
    }
}

/// Envelopes queued since the scheduler last looked: a submission (or a released hold)
/// posts its envelope here right after its commit, then wakes the scheduler.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    posted: Mutex<Vec<(EnvelopeId, AgencyId, Timestamp)>>,
}

impl Arrivals {
    /// Posts a queued envelope.
    pub(crate) fn post(&self, id: EnvelopeId, recipient: AgencyId, disclosed_at: Timestamp) {
        self.posted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, recipient, disclosed_at));
    }

    /// Everything posted since the last call.
    pub(crate) fn take(&self) -> Vec<(EnvelopeId, AgencyId, Timestamp)> {
        std::mem::take(&mut *self.posted.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id(n: u32) -> EnvelopeId {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        EnvelopeId::from_bytes(bytes)
    }

    fn agency(name: &str) -> AgencyId {
        AgencyId::new(name).unwrap()
    }

    #[test]
    fn envelopes_go_out_in_queue_order_per_recipient_and_recipients_take_turns() {
        let mut queue = OutboundQueue::default();
        // Ids in the reverse of their disclosure order: the order is the time.
        queue.insert(id(9), agency("shelter"), Timestamp(1));
        queue.insert(id(8), agency("shelter"), Timestamp(2));
        queue.insert(id(7), agency("police"), Timestamp(3));
        queue.insert(id(7), agency("police"), Timestamp(3)); // twice: once
        assert_eq!(queue.len(), 3);
        let mut out = Vec::new();
        while let Some((id, _)) = queue.next(64, |_| true) {
            out.push(id);
        }
        assert_eq!(out, vec![id(7), id(9), id(8)]);
        assert_eq!(queue.in_flight(), 3);
    }

    #[test]
    fn in_flight_is_capped_and_closed_recipients_wait() {
        let mut queue = OutboundQueue::default();
        for n in 0..5 {
            queue.insert(id(n), agency("shelter"), Timestamp(u64::from(n)));
        }
        queue.insert(id(100), agency("police"), Timestamp(0));
        assert_eq!(
            queue.next(2, |r| r.as_str() == "shelter"),
            Some((id(0), agency("shelter")))
        );
        assert_eq!(
            queue.next(2, |r| r.as_str() == "shelter"),
            Some((id(1), agency("shelter")))
        );
        assert_eq!(queue.next(2, |_| true), None, "two in flight");
        queue.finished(id(0), None);
        assert_eq!(
            queue.next(2, |r| r.as_str() != "shelter"),
            Some((id(100), agency("police")))
        );
        assert_eq!(queue.next(3, |r| r.as_str() != "shelter"), None);
    }

    #[test]
    fn a_failed_delivery_waits_for_its_retry_and_keeps_its_place() {
        let mut queue = OutboundQueue::default();
        let t0 = Instant::now();
        queue.insert(id(1), agency("shelter"), Timestamp(1));
        queue.insert(id(2), agency("shelter"), Timestamp(2));
        let (first, _) = queue.next(1, |_| true).unwrap();
        assert_eq!(first, id(1));
        queue.finished(first, Some(t0 + Duration::from_secs(5)));
        assert_eq!(queue.next_due(), Some(t0 + Duration::from_secs(5)));
        queue.wake_due(t0 + Duration::from_secs(1));
        assert_eq!(queue.next(1, |_| true), Some((id(2), agency("shelter"))));
        queue.finished(id(2), Some(t0 + Duration::from_secs(6)));
        queue.wake_due(t0 + Duration::from_secs(10));
        assert_eq!(queue.next_due(), None);
        // Both due again: the older first.
        assert_eq!(queue.next(2, |_| true), Some((id(1), agency("shelter"))));
        assert_eq!(queue.next(2, |_| true), Some((id(2), agency("shelter"))));
        queue.drop_flying(id(1));
        queue.finished(id(2), None);
        assert_eq!(queue.len(), 0);
        assert_eq!(queue.in_flight(), 0);
    }

    #[test]
    fn draining_a_large_queue_costs_work_linear_in_its_size() {
        let mut queue = OutboundQueue::default();
        let n = 20_000u32;
        for i in 0..n {
            let to = if i % 3 == 0 { "police" } else { "shelter" };
            queue.insert(id(i), agency(to), Timestamp(u64::from(i)));
        }
        let mut delivered = 0;
        while let Some((id, _)) = queue.next(64, |_| true) {
            queue.finished(id, None);
            delivered += 1;
        }
        assert_eq!(delivered, n);
        assert_eq!(queue.scanned(), 2 * u64::from(n));
    }

    #[test]
    fn arrivals_are_taken_once() {
        let arrivals = Arrivals::default();
        arrivals.post(id(1), agency("shelter"), Timestamp(1));
        assert_eq!(arrivals.take().len(), 1);
        assert!(arrivals.take().is_empty());
    }
}
