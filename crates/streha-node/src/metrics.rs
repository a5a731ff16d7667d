//! Counters a node keeps about itself (no content, no ids).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The node's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) disclosures_accepted: AtomicU64,
    pub(crate) disclosures_delivered: AtomicU64,
    pub(crate) disclosures_received: AtomicU64,
    pub(crate) handshake_refusals: AtomicU64,
    pub(crate) bad_frames: AtomicU64,
    refusals: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts one more of `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a policy refusal by its reason's article-stable name, at `side` (send/receive).
    pub(crate) fn refused(&self, side: &str, reason: &streha_core::RefusalReason) {
        let key = format!("{side}/{}", refusal_name(reason));
        let mut map = self
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(key).or_default() += 1;
    }

    /// Refusal counts by `side/reason`.
    pub(crate) fn refusals(&self) -> BTreeMap<String, u64> {
        self.refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The variant name of a refusal reason (from its Debug form, which starts with it).
fn refusal_name(reason: &streha_core::RefusalReason) -> String {
    let debug = format!("{reason:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("unknown")
        .to_owned()
}

impl crate::shared::Shared {
    /// The counters, queue and log figures in the Prometheus text format.
    pub(crate) fn render_metrics(&self) -> String {
        use std::fmt::Write as _;
        let m = &self.metrics;
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "streha_disclosures_accepted_total",
            "Disclosures this node allowed, logged and queued.",
            m.disclosures_accepted.load(Ordering::Relaxed),
        );
        counter(
            "streha_disclosures_delivered_total",
            "Disclosures whose receipt this node verified and logged.",
            m.disclosures_delivered.load(Ordering::Relaxed),
        );
        counter(
            "streha_disclosures_received_total",
            "Disclosures this node received, decided and stored.",
            m.disclosures_received.load(Ordering::Relaxed),
        );
        counter(
            "streha_handshake_refusals_total",
            "TLS handshakes refused because the peer's key is not pinned.",
            m.handshake_refusals.load(Ordering::Relaxed),
        );
        counter(
            "streha_bad_frames_total",
            "Streams closed because of a malformed or oversized frame.",
            m.bad_frames.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP streha_refusals_total Policy refusals by side and reason.\n# TYPE streha_refusals_total counter"
        );
        for (key, value) in m.refusals() {
            let (side, reason) = key.split_once('/').unwrap_or(("unknown", key.as_str()));
            let _ = writeln!(
                out,
                "streha_refusals_total{{side=\"{side}\",reason=\"{reason}\"}} {value}"
            );
        }
        let queue = self
            .store
            .scan(crate::state::OUTBOUND, &[])
            .map(|items| items.len())
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "# HELP streha_outbound_queue_depth Disclosures waiting for their receipt.\n# TYPE streha_outbound_queue_depth gauge\nstreha_outbound_queue_depth {queue}"
        );
        let _ = writeln!(
            out,
            "# HELP streha_log_size Entries in the audit log.\n# TYPE streha_log_size gauge\nstreha_log_size {}",
            self.store.tree_size()
        );
        out
    }
}
