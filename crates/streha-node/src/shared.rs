//! What every task of a node shares: identity, roster, store, limits.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use streha_audit::NoteVerifier;
use streha_core::{AgencyId, EnvelopeId, Timestamp};
use streha_crypto::{NodeIdentityPublicKey, RosterPublicKey};
use streha_store::{Committed, Store, Transaction};
use streha_transport::Identity;
use streha_wire::{AgencyEntry, Roster};

use crate::clock::{EntryTime, LogClock};
use crate::committer::Committer;
use crate::config::Limits;
use crate::failure::Failure;
use crate::metrics::Metrics;

/// In-memory delivery progress of a queued envelope (attempts are not worth a disk write).
#[derive(Debug, Clone, Default)]
pub(crate) struct Attempts {
    pub(crate) count: u32,
    /// Escaped and within the text cap (`streha_wire::text::sanitized`).
    pub(crate) last_error: Option<String>,
}

/// Requests waiting for the outcome of a delivery, by envelope: a receipt wakes only those
/// waiting for its envelope (waking every waiter at every receipt costs each of them a
/// store lookup per disclosure under load).
#[derive(Debug, Default)]
pub(crate) struct DeliveryWaiters {
    waiting: Mutex<HashMap<EnvelopeId, Arc<tokio::sync::Notify>>>,
}

impl DeliveryWaiters {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<EnvelopeId, Arc<tokio::sync::Notify>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A subscription to the outcome of `id`. Enable its `notified()` future before looking
    /// at the delivery's state, so that an outcome in between is not missed. Dropping the
    /// subscription (also when the request is cancelled) unsubscribes.
    pub(crate) fn subscribe(&self, id: EnvelopeId) -> DeliverySubscription<'_> {
        let notify = Arc::clone(self.waiting().entry(id).or_default());
        DeliverySubscription {
            waiters: self,
            id,
            notify,
        }
    }

    /// Wakes everyone waiting for `id`: its outcome was logged.
    pub(crate) fn wake(&self, id: EnvelopeId) {
        if let Some(notify) = self.waiting().remove(&id) {
            notify.notify_waiters();
        }
    }
}

/// A waiter's subscription to one envelope's delivery outcome (see
/// [`DeliveryWaiters::subscribe`]).
#[derive(Debug)]
pub(crate) struct DeliverySubscription<'a> {
    waiters: &'a DeliveryWaiters,
    id: EnvelopeId,
    notify: Arc<tokio::sync::Notify>,
}

impl DeliverySubscription<'_> {
    /// Completes when the outcome is logged (once enabled, see [`tokio::sync::Notify`]).
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for DeliverySubscription<'_> {
    fn drop(&mut self) {
        let mut waiting = self.waiters.waiting();
        // The last subscriber removes the entry: the map and this subscription hold the only
        // references (other subscribers clone theirs under the same lock).
        if waiting.get(&self.id).is_some_and(|notify| {
            Arc::ptr_eq(notify, &self.notify) && Arc::strong_count(notify) == 2
        }) {
            waiting.remove(&self.id);
        }
    }
}

/// Free space on the data directory's file system, against `limits.disk_reserve_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DiskState {
    /// At least the reserve is free.
    Ok { available: u64, reserve: u64 },
    /// Less than the reserve is free: new disclosures and deliveries are refused.
    BelowReserve { available: u64, reserve: u64 },
    /// `statvfs` failed.
    Unknown,
    /// The reserve is 0: not checked.
    Off,
}

/// The state shared by a node's tasks.
pub(crate) struct Shared {
    pub(crate) agency: AgencyId,
    pub(crate) origin: String,
    pub(crate) store: Arc<Store>,
    roster: RwLock<Arc<Roster>>,
    pub(crate) roster_key: RosterPublicKey,
    pub(crate) roster_path: std::path::PathBuf,
    /// The roster's adoption, keeping, exchange and lifetime (`crate::roster`).
    pub(crate) roster_state: crate::roster::RosterState,
    pub(crate) identity: Identity,
    /// Signs witness cosignatures (checkpoints are signed by the store's own signer).
    pub(crate) node_key: streha_crypto::NodeIdentitySecretKey,
    pub(crate) applications: BTreeMap<[u8; 32], String>,
    pub(crate) limits: Limits,
    pub(crate) witness: crate::config::WitnessConfig,
    /// Wakes the delivery worker when something is queued.
    pub(crate) outbound_wake: tokio::sync::Notify,
    /// Envelopes queued since the delivery worker last looked (see `queue`).
    pub(crate) outbound_arrivals: crate::queue::Arrivals,
    /// Refused deliveries each peer may still have logged (see `throttle`).
    pub(crate) refusal_budget: crate::throttle::RefusalBudget,
    /// Warning lines peers can cause, rate-limited (see `throttle`).
    pub(crate) peer_warnings: crate::throttle::Warnings,
    /// Wakes the requests waiting for a delivery when its receipt or hold is logged.
    pub(crate) delivery_waiters: DeliveryWaiters,
    /// Wakes the witnessing worker when the log grew.
    pub(crate) witness_wake: tokio::sync::Notify,
    /// Serialises witness-side updates.
    pub(crate) witness_lock: tokio::sync::Mutex<()>,
    /// Each peer's budget of witness-side work.
    pub(crate) witness_budget: crate::witness::WitnessBudget,
    /// Open incoming peer connections, to close those of agencies removed from the roster.
    pub(crate) peer_connections: Mutex<Vec<([u8; 32], quinn::Connection)>>,
    /// Changes of subjects and consents take it exclusively (read-modify-write); a
    /// disclosure, sent or received, holds it shared from reading the registry to logging
    /// its decision.
    pub(crate) registry_lock: tokio::sync::RwLock<()>,
    pub(crate) attempts: Mutex<HashMap<EnvelopeId, Attempts>>,
    pub(crate) metrics: Metrics,
    /// Bytes of frames in flight over all connections (`limits.max_bytes_in_flight`).
    pub(crate) frame_budget: streha_transport::ByteBudget,
    /// The subjects' data keys, which seal the envelopes kept at rest (see `at_rest`).
    pub(crate) vault: streha_store::KeyVault,
    /// Peers' checkpoints verified before (receipts and consent evidence repeat them).
    pub(crate) verified_checkpoints: Arc<crate::verified::VerifiedCheckpoints>,
    /// Commits every request's transaction, grouped (see [`Committer`]).
    committer: Committer,
    /// The log's entry times (see [`LogClock`]).
    clock: LogClock,
    /// Becomes true, for good, when the store fails (a commit could not be made durable):
    /// the node then stops, and its supervisor restarts it from what is on disk.
    pub(crate) storage_failed: tokio::sync::watch::Receiver<bool>,
    /// Whether the last reserve check found free space below the reserve (to log each
    /// crossing once).
    below_reserve: std::sync::atomic::AtomicBool,
    /// When the node started (peers are judged once a witnessing round has had time).
    pub(crate) started: std::time::Instant,
    /// Whether the node is in recovery mode after a restore (`recovery`): nothing is
    /// appended to the log and no checkpoint is submitted to a witness meanwhile.
    pub(crate) recovering: std::sync::atomic::AtomicBool,
    /// Entries recovery found lost (0 if none, or not known yet).
    pub(crate) lost_entries: std::sync::atomic::AtomicU64,
    /// The loss recovery proved, for the operator to accept (`streha admin recover`).
    pub(crate) proven_loss: Mutex<Option<crate::recovery::Outcome>>,
    /// Becomes true when the node must restart (an accepted loss: the log continues in a
    /// new epoch, opened at start).
    pub(crate) restart: tokio::sync::watch::Sender<bool>,
    /// The data directory (where the bundles of the log's earlier epochs are kept).
    pub(crate) data_dir: std::path::PathBuf,
    /// The log's earlier epochs, loaded from their kept bundles when needed (`epochs`).
    pub(crate) kept_epochs: crate::epochs::KeptEpochs,
    /// The last scan of this node's log for the delivery evidence it keeps of each peer's
    /// log (`recovery::largest_kept_of_peer`): one scan per peer per
    /// `recovery::KEPT_SCAN_INTERVAL`, its answer reused meanwhile; one per roster member.
    pub(crate) evidence_scans: Mutex<HashMap<AgencyId, crate::recovery::EvidenceScan>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("agency", &self.agency)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        agency: AgencyId,
        origin: String,
        store: Arc<Store>,
        vault: streha_store::KeyVault,
        roster: Roster,
        roster_key: RosterPublicKey,
        roster_path: std::path::PathBuf,
        data_dir: &std::path::Path,
        identity: Identity,
        node_key: streha_crypto::NodeIdentitySecretKey,
        applications: BTreeMap<[u8; 32], String>,
        limits: Limits,
        witness: crate::config::WitnessConfig,
    ) -> std::io::Result<Self> {
        let clock = LogClock::open(&store).map_err(std::io::Error::other)?;
        let committer = Committer::start(Arc::clone(&store))?;
        let (failed, storage_failed) = tokio::sync::watch::channel(false);
        store.on_failure(move || {
            failed.send_replace(true);
        });
        let metrics = Metrics::default();
        metrics
            .last_checkpoint_at
            .store(now().unix_millis(), std::sync::atomic::Ordering::Relaxed);
        metrics
            .last_cosignature_at
            .store(now().unix_millis(), std::sync::atomic::Ordering::Relaxed);
        Ok(Self {
            vault,
            verified_checkpoints: Arc::default(),
            committer,
            clock,
            witness,
            agency,
            origin,
            store,
            roster: RwLock::new(Arc::new(roster)),
            roster_key,
            roster_path,
            roster_state: crate::roster::RosterState::new(
                data_dir.join(crate::roster::KEPT_ROSTER_FILE),
            ),
            identity,
            node_key,
            applications,
            limits,
            outbound_wake: tokio::sync::Notify::new(),
            outbound_arrivals: crate::queue::Arrivals::default(),
            refusal_budget: crate::throttle::RefusalBudget::default(),
            peer_warnings: crate::throttle::Warnings::default(),
            witness_wake: tokio::sync::Notify::new(),
            delivery_waiters: DeliveryWaiters::default(),
            witness_lock: tokio::sync::Mutex::new(()),
            witness_budget: crate::witness::WitnessBudget::default(),
            peer_connections: Mutex::new(Vec::new()),
            registry_lock: tokio::sync::RwLock::new(()),
            attempts: Mutex::new(HashMap::new()),
            metrics,
            frame_budget: streha_transport::ByteBudget::new(limits.max_bytes_in_flight),
            storage_failed,
            below_reserve: std::sync::atomic::AtomicBool::new(false),
            started: std::time::Instant::now(),
            recovering: std::sync::atomic::AtomicBool::new(false),
            lost_entries: std::sync::atomic::AtomicU64::new(0),
            proven_loss: Mutex::new(None),
            restart: tokio::sync::watch::channel(false).0,
            data_dir: data_dir.to_path_buf(),
            kept_epochs: crate::epochs::KeptEpochs::default(),
            evidence_scans: Mutex::new(HashMap::new()),
        })
    }

    /// The roster in use.
    pub(crate) fn roster(&self) -> Arc<Roster> {
        Arc::clone(&self.roster.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the roster in use.
    pub(crate) fn set_roster(&self, roster: Roster) {
        *self.roster.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(roster);
    }

    /// When the roster in force expires, if it has a validity period.
    pub(crate) fn roster_expires_at(&self) -> Option<Timestamp> {
        self.roster().expires_at()
    }

    /// Whether the roster in force has expired (by this node's clock): then no disclosure
    /// leaves the node but urgent-danger ones (`spec/protocol.md` §8, "Lifetime").
    pub(crate) fn roster_expired(&self) -> bool {
        self.roster().is_expired_at(now())
    }

    /// This node's agency entry in the current roster.
    pub(crate) fn own_entry(&self) -> Result<AgencyEntry, Failure> {
        self.roster().agency(&self.agency).cloned().ok_or_else(|| {
            Failure::Unavailable(format!(
                "agency `{}` is not in the current roster; this node cannot act for it",
                self.agency
            ))
        })
    }

    /// This node's time for a new entry (the system clock, kept from taking the log
    /// backwards beyond the clock-skew bound: [`LogClock::now`]).
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// In recovery mode after a restore (`recovery`), nothing is appended to the log: every
    /// commit that would append is refused `Unavailable`, and retried later by its caller.
    fn refuse_appends_in_recovery(&self, appends: bool) -> Result<(), Failure> {
        if appends && self.recovering.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Failure::Unavailable(
                "the node is in recovery mode after a restore from a backup: it appends nothing to its log until its witnesses have said what they cosigned of it; retry later".into(),
            ));
        }
        Ok(())
    }

    /// Commits durably, grouped with the other requests' commits, after checking the
    /// entries' times against the log's ([`LogClock::admit`]).
    pub(crate) async fn commit(&self, tx: Transaction) -> Result<Committed, Failure> {
        self.refuse_appends_in_recovery(tx.appended().next().is_some())?;
        let times: Vec<EntryTime> = tx
            .appended()
            .filter_map(|bytes| streha_core::AuditEntry::decode(bytes).ok())
            .map(|entry| EntryTime::of(&entry))
            .collect();
        let answer = self
            .clock
            .admit(&times, || self.committer.enqueue(tx))?
            .map_err(Failure::from)?;
        let committed = answer.committed().await.map_err(Failure::from)?;
        if committed.checkpoint.is_some() {
            self.metrics.last_checkpoint_at.store(
                self.now().unix_millis(),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        Ok(committed)
    }

    /// Commits `txs` durably as one group ([`Committer::enqueue_group`]: one call of the
    /// store's group commit), after checking all their entries' times against the log's.
    /// Returns each transaction's result in order; an entry time refused refuses the whole
    /// group, and nothing of it is queued.
    pub(crate) async fn commit_group(
        &self,
        txs: Vec<Transaction>,
    ) -> Result<Vec<Result<Committed, Failure>>, Failure> {
        if txs.is_empty() {
            return Ok(Vec::new());
        }
        // A group (a delivery batch, its receipts) appends as much as one commit does.
        self.refuse_appends_in_recovery(txs.iter().any(|tx| tx.appended().next().is_some()))?;
        let times: Vec<EntryTime> = txs
            .iter()
            .flat_map(Transaction::appended)
            .filter_map(|bytes| streha_core::AuditEntry::decode(bytes).ok())
            .map(|entry| EntryTime::of(&entry))
            .collect();
        let answers = self
            .clock
            .admit(&times, || self.committer.enqueue_group(txs))?
            .map_err(Failure::from)?;
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(answer.committed().await.map_err(Failure::from));
        }
        if results
            .iter()
            .any(|r| r.as_ref().is_ok_and(|c| c.checkpoint.is_some()))
        {
            self.metrics.last_checkpoint_at.store(
                self.now().unix_millis(),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        Ok(results)
    }

    /// Refuses new work (a disclosure or a delivery) while free space on the data
    /// directory's file system is below `limits.disk_reserve_bytes`, so that a batch never
    /// meets a full disk; what frees or needs little space (receipts, consent changes,
    /// re-keying, reads) is not refused.
    pub(crate) fn check_disk_reserve(&self) -> Result<(), Failure> {
        match self.disk_state() {
            DiskState::BelowReserve { available, reserve } => {
                // Once per crossing, not once per refused request.
                if !self
                    .below_reserve
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(
                        available,
                        reserve,
                        "disk nearly full: new disclosures and deliveries are refused until free space is back above limits.disk_reserve_bytes"
                    );
                }
                Err(Failure::Unavailable(format!(
                    "disk nearly full: the node keeps {reserve} bytes free for what it has \
                     accepted and has {available} left; it accepts no new disclosures or \
                     deliveries until its operator frees space (retry later)"
                )))
            }
            DiskState::Ok { available, reserve } => {
                if self
                    .below_reserve
                    .swap(false, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::info!(
                        available,
                        reserve,
                        "free space is above the reserve again: new disclosures and deliveries are accepted"
                    );
                }
                Ok(())
            }
            DiskState::Unknown | DiskState::Off => Ok(()),
        }
    }

    /// Free space on the data directory's file system against the reserve.
    pub(crate) fn disk_state(&self) -> DiskState {
        let reserve = self.limits.disk_reserve_bytes;
        if reserve == 0 {
            return DiskState::Off;
        }
        match self.store.available_bytes() {
            Ok(available) if available < reserve => DiskState::BelowReserve { available, reserve },
            Ok(available) => DiskState::Ok { available, reserve },
            Err(error) => {
                tracing::warn!(%error, "cannot read the free space of the data directory");
                DiskState::Unknown
            }
        }
    }

    /// Checks a time an application states (`field`, e.g. `consent recorded_at`): within
    /// `limits.clock_skew` of this node's clock, and not earlier than the log's entries
    /// allow ([`LogClock::check_stated`]).
    pub(crate) fn check_skew(&self, field: &str, at: Timestamp) -> Result<(), Failure> {
        self.clock.check_stated(field, at, self.limits.clock_skew)
    }

    /// Delay before retry number `attempt` (1-based): exponential from the initial delay.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(16))
            .unwrap_or(u32::MAX);
        self.limits
            .retry_initial
            .saturating_mul(factor)
            .min(self.limits.retry_max)
    }
}

/// The signed-note verifier for the log of `agency` (its checkpoints are signed by its node
/// identity key under the name of its log origin).
pub(crate) fn log_verifier(roster: &Roster, agency: &AgencyEntry) -> Result<NoteVerifier, Failure> {
    NoteVerifier::new(
        &agency.log_origin(roster.federation()),
        *agency.node_key.as_dalek(),
    )
    .map_err(|e| Failure::Internal(format!("cannot build a verifier for `{}`: {e}", agency.id)))
}

/// The signed-note verifier for `note`, a checkpoint of `agency`'s log in any epoch
/// (`spec/audit-log.md` §9): under the origin the note names if that is an epoch of the
/// agency's log, else under its base origin (the note then fails to verify, naming the log
/// it should be of). A delivery's evidence and a receipt carry the peer's checkpoint as it
/// was signed, so a peer continuing its log after a declared loss is checked in its epoch.
pub(crate) fn epoch_log_verifier(
    roster: &Roster,
    agency: &AgencyEntry,
    note: &str,
) -> Result<NoteVerifier, Failure> {
    let named = streha_audit::SignedNote::parse(note)
        .ok()
        .and_then(|parsed| streha_audit::Checkpoint::parse_body(parsed.body()).ok())
        .map(|checkpoint| checkpoint.origin().to_owned());
    match named {
        Some(origin) if agency.epoch_of(roster.federation(), &origin).is_some() => {
            NoteVerifier::new(&origin, *agency.node_key.as_dalek()).map_err(|e| {
                Failure::Internal(format!("cannot build a verifier for `{}`: {e}", agency.id))
            })
        }
        _ => log_verifier(roster, agency),
    }
}

/// The verifier of `agency`'s witness cosignatures (C2SP cosignature/v1 by its node key
/// under the name of its own log origin).
pub(crate) fn cosignature_verifier(
    roster: &Roster,
    agency: &AgencyEntry,
) -> Result<NoteVerifier, Failure> {
    NoteVerifier::cosignature_v1(
        &agency.log_origin(roster.federation()),
        *agency.node_key.as_dalek(),
    )
    .map_err(|e| Failure::Internal(format!("cannot build a verifier for `{}`: {e}", agency.id)))
}

/// The agency of the roster whose log origin is `origin`.
pub(crate) fn agency_of_origin(roster: &Roster, origin: &str) -> Option<AgencyEntry> {
    roster
        .agencies()
        .iter()
        .find(|a| a.log_origin(roster.federation()) == origin)
        .cloned()
}

/// The agency of the roster whose node key is `key`.
pub(crate) fn agency_of_node_key(roster: &Roster, key: &[u8; 32]) -> Option<AgencyEntry> {
    let key = NodeIdentityPublicKey::from_bytes(*key).ok()?;
    roster.agency_by_node_key(&key).cloned()
}

/// The system clock (for times that are not entry times: see [`Shared::now`]).
pub(crate) fn now() -> Timestamp {
    Timestamp::from_unix_millis(crate::clock::system_now())
}
