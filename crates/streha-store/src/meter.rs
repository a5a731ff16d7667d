//! What the group commits cost, for an operator's `/metrics`.
//!
//! A disk that is slowing down or failing shows first in how long a batch takes to become
//! durable, and in which of its writes (the write-ahead record, sled's state and the
//! checkpoints, the high-water mark; `spec/audit-log.md` §7) the time goes. The store counts, it does not
//! judge: the figures are read by `Store::commit_stats` and rendered by the node.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds, in seconds, of the buckets of [`CommitStats::batch_seconds`]: from a fast
/// disk's one `fdatasync` (about 0.1 ms) to a stall long enough to fail a client's request.
pub const COMMIT_SECONDS_BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The writes of a group commit, in the order a batch makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncedWrite {
    /// The batch's journal bytes written, and its record in the write-ahead log written and
    /// `fdatasync`ed: the commit point.
    Journal,
    /// sled's batch applied in memory, and the checkpoints of the write-ahead log (the
    /// journal synced, sled flushed, its data file and directories synced) when one is due.
    State,
    /// The high-water mark: written in place and `fdatasync`ed.
    HighWater,
}

impl SyncedWrite {
    /// Every write, in batch order.
    pub const ALL: [Self; 3] = [Self::Journal, Self::State, Self::HighWater];

    /// The write's name in metrics labels.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Journal => "journal",
            Self::State => "state",
            Self::HighWater => "high_water",
        }
    }

    fn slot(self) -> usize {
        match self {
            Self::Journal => 0,
            Self::State => 1,
            Self::HighWater => 2,
        }
    }
}

/// A snapshot of the group commits made durable since the store was opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitStats {
    /// Batches made durable.
    pub batches: u64,
    /// Transactions committed in them.
    pub transactions: u64,
    /// Log entries appended by them.
    pub entries: u64,
    /// Batches whose time from being started to being durable was at most the bound of
    /// the same index in [`COMMIT_SECONDS_BUCKETS`] (cumulative, as Prometheus counts).
    pub batch_seconds: [u64; COMMIT_SECONDS_BUCKETS.len()],
    /// The sum of those times, seconds.
    pub batch_seconds_sum: f64,
    /// Seconds spent in each durable write, over all batches, in [`SyncedWrite::ALL`]
    /// order.
    pub sync_seconds: [f64; 3],
}

/// The counters behind [`CommitStats`], updated by the batch leader.
#[derive(Debug, Default)]
pub(crate) struct CommitMeter {
    batches: AtomicU64,
    transactions: AtomicU64,
    entries: AtomicU64,
    /// Per bucket, not cumulative (a batch is counted once, in the first bucket it fits).
    buckets: [AtomicU64; COMMIT_SECONDS_BUCKETS.len()],
    batch_nanos: AtomicU64,
    sync_nanos: [AtomicU64; 3],
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl CommitMeter {
    /// Counts the time one durable write of a batch took.
    pub(crate) fn synced(&self, write: SyncedWrite, took: Duration) {
        self.sync_nanos[write.slot()].fetch_add(nanos(took), Ordering::Relaxed);
    }

    /// Counts a batch made durable, with what it committed and how long it took.
    pub(crate) fn batch(&self, transactions: u64, entries: u64, took: Duration) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.transactions.fetch_add(transactions, Ordering::Relaxed);
        self.entries.fetch_add(entries, Ordering::Relaxed);
        self.batch_nanos.fetch_add(nanos(took), Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        // A batch slower than the last bound is in no bucket: only in the count (`+Inf`).
        if let Some(bucket) = COMMIT_SECONDS_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The figures so far. Each counter is read on its own, so a snapshot taken while a
    /// batch is counted may have that batch in some figures and not yet in others.
    pub(crate) fn snapshot(&self) -> CommitStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut batch_seconds = [0u64; COMMIT_SECONDS_BUCKETS.len()];
        let mut below = 0u64;
        for (cumulative, bucket) in batch_seconds.iter_mut().zip(&self.buckets) {
            below = below.saturating_add(get(bucket));
            *cumulative = below;
        }
        let seconds = |n: u64| Duration::from_nanos(n).as_secs_f64();
        CommitStats {
            batches: get(&self.batches),
            transactions: get(&self.transactions),
            entries: get(&self.entries),
            batch_seconds,
            batch_seconds_sum: seconds(get(&self.batch_nanos)),
            sync_seconds: self.sync_nanos.each_ref().map(|n| seconds(get(n))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_counted_in_every_bucket_at_or_above_its_time() {
        let meter = CommitMeter::default();
        meter.batch(3, 6, Duration::from_micros(300));
        meter.batch(1, 2, Duration::from_millis(7));
        meter.batch(1, 0, Duration::from_secs(3));
        let stats = meter.snapshot();
        assert_eq!(
            (stats.batches, stats.transactions, stats.entries),
            (3, 5, 8)
        );
        // 0.5 ms, 1, 2, 5 ms: the first batch; from 10 ms on: both; none holds the third.
        assert_eq!(stats.batch_seconds, [1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]);
        assert!((stats.batch_seconds_sum - 3.0073).abs() < 1e-9);
    }

    #[test]
    fn a_time_on_a_bound_is_in_that_bucket() {
        let meter = CommitMeter::default();
        meter.batch(1, 1, Duration::from_millis(1));
        assert_eq!(meter.snapshot().batch_seconds[..3], [0, 1, 1]);
    }

    #[test]
    fn sync_times_add_up_per_write() {
        let meter = CommitMeter::default();
        meter.synced(SyncedWrite::Journal, Duration::from_micros(100));
        meter.synced(SyncedWrite::Journal, Duration::from_micros(150));
        meter.synced(SyncedWrite::HighWater, Duration::from_micros(80));
        let stats = meter.snapshot();
        let expected = [0.000_25, 0.0, 0.000_08];
        for (got, want) in stats.sync_seconds.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{got} != {want}");
        }
    }
}
