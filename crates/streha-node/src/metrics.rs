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
    /// Delivery batches this node sent (each answered or not).
    pub(crate) delivery_batches_sent: AtomicU64,
    /// Delivery batches this node took on (within the batch bounds).
    pub(crate) delivery_batches_received: AtomicU64,
    pub(crate) handshake_refusals: AtomicU64,
    /// Scans of the whole log for the delivery evidence kept of a peer's log (recovery).
    pub(crate) evidence_scans: AtomicU64,
    pub(crate) bad_frames: AtomicU64,
    pub(crate) fork_alarms: AtomicU64,
    pub(crate) cosignatures_received: AtomicU64,
    pub(crate) peers_reachable: AtomicU64,
    /// Unix ms of the last checkpoint this node issued (or of its start).
    pub(crate) last_checkpoint_at: AtomicU64,
    /// Queue items the delivery scheduler examined (see `queue::OutboundQueue::scanned`).
    pub(crate) outbound_scanned: AtomicU64,
    /// Deliveries refused again for a refusal already logged (not logged again).
    pub(crate) receive_refusals_repeated: AtomicU64,
    /// Deliveries answered `Unavailable` because their sender was out of refusal budget.
    pub(crate) receive_refusals_throttled: AtomicU64,
    /// QUIC Retry packets sent to validate a client's address under load.
    pub(crate) handshake_retries: AtomicU64,
    /// Handshakes abandoned at `limits.handshake_timeout_ms`.
    pub(crate) handshake_timeouts: AtomicU64,
    /// Streams closed because the request did not arrive, or the answer was not taken,
    /// within `limits.read_timeout_ms`.
    pub(crate) stream_deadlines: AtomicU64,
    /// Answers replaced by "busy" because the budget of bytes in flight was spent.
    pub(crate) busy_answers: AtomicU64,
    /// Gauges by endpoint: [peer, app].
    pub(crate) connections_open: [AtomicU64; 2],
    pub(crate) handshakes_pending: [AtomicU64; 2],
    /// Connection attempts and connections refused for a limit, by `side/reason`.
    connections_refused: Mutex<BTreeMap<String, u64>>,
    /// Unix ms of the last cosignature of this node's log received (or of its start).
    pub(crate) last_cosignature_at: AtomicU64,
    refusals: Mutex<BTreeMap<String, u64>>,
    cosignatures: Mutex<BTreeMap<String, u64>>,
    witness_refusals: Mutex<BTreeMap<String, u64>>,
    independent_answers: Mutex<BTreeMap<String, u64>>,
    /// Rosters adopted, by source (`file`, `peer`).
    roster_adoptions: Mutex<BTreeMap<String, u64>>,
    /// Rosters refused, by reason (`crate::roster::AdoptError::name`).
    roster_refusals: Mutex<BTreeMap<String, u64>>,
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

    /// Counts a connection attempt or connection refused at `side` (`peer`, `app`) for
    /// `reason` (one of [`CONNECTION_REFUSAL_REASONS`]).
    pub(crate) fn connection_refused(&self, side: &str, reason: &str) {
        let mut map = self
            .connections_refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(format!("{side}/{reason}")).or_default() += 1;
    }

    /// Counts a cosignature received from `peer`.
    pub(crate) fn cosigned(&self, peer: &streha_core::AgencyId) {
        let mut map = self
            .cosignatures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(peer.to_string()).or_default() += 1;
        self.last_cosignature_at
            .store(crate::shared::now().unix_millis(), Ordering::Relaxed);
    }

    /// Counts a witnessing request or gossiped checkpoint refused before any state was
    /// touched, by `reason` (`rate`, `malformed`, `forged`, `unsigned`).
    pub(crate) fn witness_refused(&self, reason: &str) {
        let mut map = self
            .witness_refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(reason.to_owned()).or_default() += 1;
    }

    /// Counts an answer of an independent witness (or its absence), by `answer`.
    pub(crate) fn independent_answer(&self, answer: &str) {
        let mut map = self
            .independent_answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(answer.to_owned()).or_default() += 1;
    }

    /// Counts a roster adopted from `source` (`file` or `peer`).
    pub(crate) fn roster_adopted(&self, source: &str) {
        Self::count_in(&self.roster_adoptions, source);
    }

    /// Counts a roster refused for `reason` (`crate::roster::AdoptError::name`).
    pub(crate) fn roster_refused(&self, reason: &str) {
        Self::count_in(&self.roster_refusals, reason);
    }

    fn count_in(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
        let mut map = map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(key.to_owned()).or_default() += 1;
    }

    fn snapshot(map: &Mutex<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
        map.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Refusal counts by `side/reason`.
    pub(crate) fn refusals(&self) -> BTreeMap<String, u64> {
        self.refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Why a connection attempt or connection is refused for a limit (the label values of
/// `streha_connections_refused_total`).
pub(crate) const CONNECTION_REFUSAL_REASONS: [&str; 4] = [
    // `limits.max_pending_handshakes`
    "pending-handshakes",
    // `limits.max_pending_handshakes_per_address`
    "pending-handshakes-per-address",
    // `limits.max_connections`
    "connections",
    // `limits.max_connections_per_peer`, `limits.max_connections_per_application`
    "connections-per-key",
];

/// The endpoints, in the order of the per-side gauges.
pub(crate) const SIDES: [&str; 2] = ["peer", "app"];

/// The variant name of a refusal reason (from its Debug form, which starts with it).
fn refusal_name(reason: &streha_core::RefusalReason) -> String {
    let debug = format!("{reason:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("unknown")
        .to_owned()
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// The store's group commits: how many, how long each took to become durable (a
/// histogram), and the time spent in each synced write — where a slowing disk shows first.
fn store_commits(out: &mut String, stats: &streha_store::CommitStats) {
    use std::fmt::Write as _;
    counter(
        out,
        "streha_store_commits_total",
        "Group commits made durable (each one synced write-ahead record, and the high-water mark when it appends).",
        stats.batches,
    );
    counter(
        out,
        "streha_store_committed_transactions_total",
        "Transactions committed in those group commits.",
        stats.transactions,
    );
    let name = "streha_store_commit_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from a group commit being started to being durable.\n# TYPE {name} histogram"
    );
    for (bound, count) in streha_store::COMMIT_SECONDS_BUCKETS
        .iter()
        .zip(stats.batch_seconds)
    {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", stats.batches);
    let _ = writeln!(out, "{name}_sum {}", stats.batch_seconds_sum);
    let _ = writeln!(out, "{name}_count {}", stats.batches);
    let name = "streha_store_sync_seconds_total";
    let _ = writeln!(
        out,
        "# HELP {name} Seconds spent making each write of the group commits durable.\n# TYPE {name} counter"
    );
    for (write, seconds) in streha_store::SyncedWrite::ALL
        .iter()
        .zip(stats.sync_seconds)
    {
        let _ = writeln!(out, "{name}{{write=\"{}\"}} {seconds}", write.name());
    }
}

fn labelled(out: &mut String, name: &str, help: &str, label: &str, values: &BTreeMap<String, u64>) {
    labelled_of(out, "counter", name, help, label, values);
}

fn labelled_of(
    out: &mut String,
    kind: &str,
    name: &str,
    help: &str,
    label: &str,
    values: &BTreeMap<String, u64>,
) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (key, value) in values {
        let labels = match label {
            "side,reason" => {
                let (side, reason) = key.split_once('/').unwrap_or(("unknown", key.as_str()));
                format!("side=\"{side}\",reason=\"{reason}\"")
            }
            _ => format!("{label}=\"{key}\""),
        };
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// A metric labelled by `side` and `reason` (keys `side/reason`).
fn by_side_and_reason(
    out: &mut String,
    kind: &str,
    name: &str,
    help: &str,
    values: &BTreeMap<String, u64>,
) {
    labelled_of(out, kind, name, help, "side,reason", values);
}

/// A gauge per endpoint.
fn by_side(out: &mut String, name: &str, help: &str, values: &[AtomicU64; 2]) {
    let values = SIDES
        .iter()
        .zip(values)
        .map(|(side, value)| ((*side).to_owned(), value.load(Ordering::Relaxed)))
        .collect();
    labelled_of(out, "gauge", name, help, "side", &values);
}

impl crate::shared::Shared {
    /// The counters, queue and log figures in the Prometheus text format.
    pub(crate) fn render_metrics(&self) -> String {
        let m = &self.metrics;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        counter(
            &mut out,
            "streha_disclosures_accepted_total",
            "Disclosures this node allowed, logged and queued.",
            get(&m.disclosures_accepted),
        );
        counter(
            &mut out,
            "streha_disclosures_delivered_total",
            "Disclosures whose receipt this node verified and logged.",
            get(&m.disclosures_delivered),
        );
        counter(
            &mut out,
            "streha_disclosures_received_total",
            "Disclosures this node received, decided and stored.",
            get(&m.disclosures_received),
        );
        counter(
            &mut out,
            "streha_delivery_batches_sent_total",
            "Delivery batches (DeliverBatch requests) this node sent to its peers.",
            get(&m.delivery_batches_sent),
        );
        counter(
            &mut out,
            "streha_delivery_batches_received_total",
            "Delivery batches (DeliverBatch requests) this node took on from its peers.",
            get(&m.delivery_batches_received),
        );
        labelled(
            &mut out,
            "streha_refusals_total",
            "Policy refusals by side (send, receive, by-receiver; grant: a consent refused when recorded) and reason.",
            "side,reason",
            &m.refusals(),
        );
        counter(
            &mut out,
            "streha_receive_refusals_repeated_total",
            "Deliveries this node refused again for a refusal already logged: answered Refused, not logged again (the first refusal is the log's record).",
            get(&m.receive_refusals_repeated),
        );
        counter(
            &mut out,
            "streha_receive_refusals_throttled_total",
            "Deliveries answered Unavailable, nothing logged, because their sender had more refusals logged than its budget allows.",
            get(&m.receive_refusals_throttled),
        );
        counter(
            &mut out,
            "streha_handshake_refusals_total",
            "TLS handshakes refused because the peer's key is not pinned.",
            get(&m.handshake_refusals),
        );
        counter(
            &mut out,
            "streha_evidence_scans_total",
            "Scans of this node's whole log for the delivery evidence it keeps of a peer's log (a peer recovering, or offering a new epoch); at most one per peer per 10 s.",
            get(&m.evidence_scans),
        );
        counter(
            &mut out,
            "streha_bad_frames_total",
            "Streams closed because of a malformed or oversized frame.",
            get(&m.bad_frames),
        );
        by_side(
            &mut out,
            "streha_connections_open",
            "Authenticated connections open, by endpoint (handshakes in progress not counted).",
            &m.connections_open,
        );
        by_side(
            &mut out,
            "streha_handshakes_pending",
            "Handshakes in progress, by endpoint.",
            &m.handshakes_pending,
        );
        let mut refused: BTreeMap<String, u64> = SIDES
            .iter()
            .flat_map(|side| {
                CONNECTION_REFUSAL_REASONS
                    .iter()
                    .map(move |reason| (format!("{side}/{reason}"), 0))
            })
            .collect();
        refused.extend(
            m.connections_refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .map(|(k, v)| (k.clone(), *v)),
        );
        by_side_and_reason(
            &mut out,
            "counter",
            "streha_connections_refused_total",
            "Connection attempts refused, or connections closed after their handshake, for a limit, by endpoint and limit.",
            &refused,
        );
        counter(
            &mut out,
            "streha_handshake_retries_total",
            "QUIC Retry packets sent to validate a client's address while many handshakes were in progress.",
            get(&m.handshake_retries),
        );
        counter(
            &mut out,
            "streha_handshake_timeouts_total",
            "Handshakes abandoned because they did not complete within limits.handshake_timeout_ms.",
            get(&m.handshake_timeouts),
        );
        counter(
            &mut out,
            "streha_stream_deadlines_total",
            "Streams closed because the request did not arrive whole, or the answer was not taken, within limits.read_timeout_ms.",
            get(&m.stream_deadlines),
        );
        counter(
            &mut out,
            "streha_busy_answers_total",
            "Answers replaced by an Unavailable error because the budget of bytes in flight was spent.",
            get(&m.busy_answers),
        );
        gauge(
            &mut out,
            "streha_frame_bytes_in_flight",
            "Bytes of frames in flight (requests being read and handled, answers not yet acknowledged), over all connections.",
            self.frame_budget.in_use() as u64,
        );
        gauge(
            &mut out,
            "streha_frame_bytes_budget",
            "The budget of bytes of frames in flight over all connections (limits.max_bytes_in_flight).",
            self.frame_budget.capacity() as u64,
        );
        counter(
            &mut out,
            "streha_fork_alarms_total",
            "Checkpoints of other logs that contradicted one this node cosigned (fork, rollback, inconsistent).",
            get(&m.fork_alarms),
        );
        labelled_of(
            &mut out,
            "gauge",
            "streha_witness_evidence",
            "Evidence this node keeps as a witness (two signed checkpoints of one log that cannot both be true), by kind.",
            "kind",
            &self.evidence_figures(),
        );
        let mut witness_refusals: BTreeMap<String, u64> =
            ["rate", "malformed", "forged", "unsigned"]
                .iter()
                .map(|reason| ((*reason).to_owned(), 0))
                .collect();
        witness_refusals.extend(
            m.witness_refusals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        );
        labelled(
            &mut out,
            "streha_witness_refused_total",
            "Witnessing requests and gossiped checkpoints from peers refused before any state was touched, by reason: rate (over the per-peer budget), malformed (unparsable, oversized, repeated signature lines), forged, unsigned.",
            "reason",
            &witness_refusals,
        );
        let mut answers: BTreeMap<String, u64> = [
            "cosigned",
            "409-size",
            "400",
            "403",
            "404",
            "409",
            "422",
            "other",
            "unreachable",
            "unverified",
            "ahead",
        ]
        .iter()
        .map(|answer| ((*answer).to_owned(), 0))
        .collect();
        answers.extend(
            m.independent_answers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        );
        labelled(
            &mut out,
            "streha_independent_witness_answers_total",
            "Submissions of this node's checkpoints to the roster's independent witnesses (C2SP tlog-witness), by answer: cosigned, 409-size (retried from the size given), 400, 403, 404, 409 (a fork), 422, other, unreachable, unverified (a cosignature that does not verify), ahead (the witness cosigned more than this log holds).",
            "answer",
            &answers,
        );
        gauge(
            &mut out,
            "streha_witness_kept_checkpoints",
            "Checkpoints of other nodes' logs this node keeps as a witness (the latest cosigned sizes, at most 256 per log).",
            self.store
                .scan(crate::state::WITNESSED_ROOTS, &[])
                .map_or(0, |kept| kept.len() as u64),
        );
        let cosignatures = m
            .cosignatures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        labelled(
            &mut out,
            "streha_cosignatures_total",
            "Cosignatures of this node's checkpoints received, by witness.",
            "witness",
            &cosignatures,
        );
        let now = self.now().unix_millis();
        let (queue, oldest) = self.queue_figures(now);
        gauge(
            &mut out,
            "streha_outbound_queue_depth",
            "Disclosures waiting for their receipt (including held ones).",
            queue,
        );
        labelled_of(
            &mut out,
            "gauge",
            "streha_outbound_held",
            "Disclosures whose delivery is held (counted in the queue depth), by reason: not-in-roster (released when a roster listing the recipient again is adopted), refused, rekeyed, other.",
            "reason",
            &self.held_figures(),
        );
        counter(
            &mut out,
            "streha_outbound_scanned_total",
            "Queue items the delivery scheduler examined (indexed queue: about one per insertion, retry and attempt).",
            get(&m.outbound_scanned),
        );
        gauge(
            &mut out,
            "streha_outbound_oldest_age_seconds",
            "Age of the oldest disclosure waiting for its receipt.",
            oldest / 1000,
        );
        gauge(
            &mut out,
            "streha_peers_reachable",
            "Peers that answered in the last witnessing round (a cosignature request or gossip); a peer that is down is not counted.",
            get(&m.peers_reachable),
        );
        gauge(
            &mut out,
            "streha_last_checkpoint_age_seconds",
            "Seconds since this node last issued a checkpoint.",
            now.saturating_sub(get(&m.last_checkpoint_at)) / 1000,
        );
        gauge(
            &mut out,
            "streha_log_size",
            "Entries in the audit log.",
            self.store.tree_size(),
        );
        if let Ok(available) = self.store.available_bytes() {
            gauge(
                &mut out,
                "streha_disk_available_bytes",
                "Bytes free on the data directory's file system.",
                available,
            );
        }
        gauge(
            &mut out,
            "streha_disk_reserve_bytes",
            "Free space kept (limits.disk_reserve_bytes): below it new disclosures and deliveries are refused.",
            self.limits.disk_reserve_bytes,
        );
        gauge(
            &mut out,
            "streha_store_failed",
            "1 once a write could not be made durable: the node stops serving and restarts from disk.",
            u64::from(self.store.has_failed()),
        );
        store_commits(&mut out, &self.store.commit_stats());
        gauge(
            &mut out,
            "streha_store_replayed_batches",
            "Batches the store replayed from its write-ahead log when the node started (0 after a clean shutdown; more says the last stop was a crash).",
            self.store.replayed_at_open(),
        );
        gauge(
            &mut out,
            "streha_roster_version",
            "Version of the roster in use.",
            self.roster().version(),
        );
        gauge(
            &mut out,
            "streha_roster_expires_at_seconds",
            "When the roster in use expires (Unix seconds); 0 if it has no validity period.",
            self.roster_expires_at()
                .map_or(0, |t| t.unix_millis() / 1000),
        );
        gauge(
            &mut out,
            "streha_roster_expired",
            "1 if the roster in use has expired: no disclosure leaves this node (urgent danger excepted) until a newer roster is adopted.",
            u64::from(self.roster_expired()),
        );
        let mut adoptions = Metrics::snapshot(&m.roster_adoptions);
        for source in ["file", "peer"] {
            adoptions.entry(source.to_owned()).or_default();
        }
        labelled(
            &mut out,
            "streha_roster_adoptions_total",
            "Rosters adopted after start, by source: file (SIGHUP) or peer (the roster exchange).",
            "source",
            &adoptions,
        );
        labelled(
            &mut out,
            "streha_roster_refusals_total",
            "Rosters offered (by a peer or the file) and refused, by reason: signature, malformed, other-federation, not-newer, conflict (another roster under the version in force), own-key, storage.",
            "reason",
            &Metrics::snapshot(&m.roster_refusals),
        );
        out
    }

    /// The evidence records kept, by kind (`fork`, `rollback`, `inconsistent`); every kind
    /// is listed, with 0 if none.
    fn evidence_figures(&self) -> BTreeMap<String, u64> {
        use streha_core::WitnessAlarmKind;
        let mut figures: BTreeMap<String, u64> = [
            WitnessAlarmKind::Fork,
            WitnessAlarmKind::Rollback,
            WitnessAlarmKind::Inconsistent,
        ]
        .iter()
        .map(|k| (k.name().to_owned(), 0))
        .collect();
        let Ok(items) = self.store.scan(crate::state::EVIDENCE, &[]) else {
            return figures;
        };
        for (_, value) in items {
            if let Ok(evidence) = postcard::from_bytes::<crate::state::Evidence>(&value) {
                *figures.entry(evidence.kind.name().to_owned()).or_default() += 1;
            }
        }
        figures
    }

    /// The held deliveries, by class; every class is listed, with 0 if none.
    pub(crate) fn held_figures(&self) -> BTreeMap<String, u64> {
        use crate::state::HoldClass;
        let mut figures: BTreeMap<String, u64> = HoldClass::ALL
            .iter()
            .map(|c| (c.name().to_owned(), 0))
            .collect();
        let Ok(items) = self.store.scan(crate::state::HELD, &[]) else {
            return figures;
        };
        for (_, value) in items {
            if let Some(held) = crate::state::decode_held(&value) {
                *figures.entry(held.class.name().to_owned()).or_default() += 1;
            }
        }
        figures
    }

    /// Queue depth and the age (ms) of its oldest item.
    pub(crate) fn queue_figures(&self, now: u64) -> (u64, u64) {
        let Ok(items) = self.store.scan(crate::state::OUTBOUND_INDEX, &[]) else {
            return (0, 0);
        };
        let oldest = items
            .iter()
            .filter_map(|(_, v)| postcard::from_bytes::<crate::state::OutboundIndex>(v).ok())
            .map(|item| now.saturating_sub(item.disclosed_at.unix_millis()))
            .max()
            .unwrap_or(0);
        (items.len() as u64, oldest)
    }
}
