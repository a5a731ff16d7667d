//! Per-peer budgets for what an authenticated peer can make this node write: audit entries
//! for deliveries it refused, and warning lines in the operator's log (`spec/protocol.md`
//! §11).
//!
//! An authenticated peer is trusted to be who it is, not to behave. Each delivery this node
//! refuses is one permanent `receive_refused` entry: without a budget, a peer replaying
//! refused envelopes grows the log without end (issue 16.10). A repeat of a refusal already
//! logged is not logged again ([`crate::receive`]); a new refusal costs the peer a token of
//! [`RefusalBudget`], and a peer out of tokens is answered `Unavailable` (retry later) with
//! nothing logged, so an honest sender retries with backoff and its refusal is logged then.
//! Warnings a peer can cause are [`Warnings`]: the first is logged, then at most one per
//! [`WARNING_INTERVAL`], carrying the count of those left out.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use streha_core::AgencyId;

/// How many refused deliveries of one peer this node logs back to back (the bucket size).
pub(crate) const REFUSALS_BURST: u32 = 64;

/// How many refused deliveries of one peer this node logs per minute, sustained.
pub(crate) const REFUSALS_PER_MINUTE: u32 = 60;

/// At most one warning line per peer and kind per interval; the others are counted and the
/// count is logged with the next line.
pub(crate) const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// A token bucket, in thousandths of a token.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    millis: u64,
    at: Instant,
}

/// Per-peer token buckets for logged refusals: [`REFUSALS_BURST`] at once,
/// [`REFUSALS_PER_MINUTE`] sustained.
#[derive(Debug, Default)]
pub(crate) struct RefusalBudget {
    buckets: Mutex<HashMap<AgencyId, Bucket>>,
}

impl RefusalBudget {
    /// Takes one token of `peer`'s bucket at `now`; false if it has none left.
    pub(crate) fn take(&self, peer: &AgencyId, now: Instant) -> bool {
        const ONE: u64 = 1000;
        let full = u64::from(REFUSALS_BURST) * ONE;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(peer.clone()).or_insert(Bucket {
            millis: full,
            at: now,
        });
        let elapsed =
            u64::try_from(now.saturating_duration_since(bucket.at).as_millis()).unwrap_or(u64::MAX);
        // REFUSALS_PER_MINUTE tokens per 60 000 ms, in thousandths of a token.
        let refill = elapsed
            .saturating_mul(u64::from(REFUSALS_PER_MINUTE) * ONE)
            .checked_div(60_000)
            .unwrap_or(0);
        bucket.millis = bucket.millis.saturating_add(refill).min(full);
        bucket.at = bucket.at.max(now);
        if bucket.millis < ONE {
            return false;
        }
        bucket.millis -= ONE;
        true
    }
}

/// A kind of warning about one peer.
type WarningKey = (AgencyId, &'static str);

/// When a warning was last logged, and how many were left out since.
type WarningState = (Instant, u64);

/// Rate-limited warning lines, per peer and kind.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    last: Mutex<HashMap<WarningKey, WarningState>>,
}

impl Warnings {
    /// Whether a warning of `kind` about `peer` may be logged at `now`: `Some(n)` with the
    /// number `n` of such warnings left out since the last one logged, or `None` (counted,
    /// to be reported with the next).
    pub(crate) fn allow(&self, peer: &AgencyId, kind: &'static str, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match last.get_mut(&(peer.clone(), kind)) {
            Some((at, left_out)) if now.saturating_duration_since(*at) < WARNING_INTERVAL => {
                *left_out = left_out.saturating_add(1);
                None
            }
            Some((at, left_out)) => {
                let n = *left_out;
                *at = now;
                *left_out = 0;
                Some(n)
            }
            None => {
                last.insert((peer.clone(), kind), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str) -> AgencyId {
        AgencyId::new(name).unwrap()
    }

    #[test]
    fn a_peer_gets_its_burst_then_its_rate_and_others_are_unaffected() {
        let budget = RefusalBudget::default();
        let t0 = Instant::now();
        for _ in 0..REFUSALS_BURST {
            assert!(budget.take(&peer("police"), t0));
        }
        assert!(!budget.take(&peer("police"), t0));
        assert!(budget.take(&peer("shelter"), t0), "per peer");
        // One token a second comes back.
        let per_token = Duration::from_millis(60_000 / u64::from(REFUSALS_PER_MINUTE));
        assert!(!budget.take(&peer("police"), t0 + per_token / 2));
        assert!(budget.take(&peer("police"), t0 + per_token));
        assert!(!budget.take(&peer("police"), t0 + per_token));
        // Never more than the burst, however long the pause.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..REFUSALS_BURST {
            assert!(budget.take(&peer("police"), later));
        }
        assert!(!budget.take(&peer("police"), later));
    }

    #[test]
    fn warnings_are_one_per_interval_with_the_count_left_out() {
        let warnings = Warnings::default();
        let t0 = Instant::now();
        assert_eq!(warnings.allow(&peer("police"), "refused", t0), Some(0));
        for _ in 0..1000 {
            assert_eq!(warnings.allow(&peer("police"), "refused", t0), None);
        }
        assert_eq!(warnings.allow(&peer("police"), "failed", t0), Some(0));
        assert_eq!(warnings.allow(&peer("shelter"), "refused", t0), Some(0));
        assert_eq!(
            warnings.allow(&peer("police"), "refused", t0 + WARNING_INTERVAL),
            Some(1000)
        );
        assert_eq!(
            warnings.allow(&peer("police"), "refused", t0 + WARNING_INTERVAL),
            None
        );
    }
}
