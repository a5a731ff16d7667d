//! The roster in force: how a node adopts one, keeps it, spreads it to its peers, and what
//! it does when it expires (`spec/protocol.md` §8).
//!
//! **Adoption.** A roster comes from the node's roster file (at start, and on `SIGHUP`) or
//! from a peer (the exchange below). Either way it is adopted only if it is signed by the
//! roster key the node pins, of the same federation, strictly newer than the roster in
//! force, and keeps this node's own key ([`adopt`]). Adopting writes the signed note to
//! [`KEPT_ROSTER_FILE`] in the data directory (atomically), then — holding the registry lock
//! exclusively, so that no disclosure or delivery is decided under one roster and logged
//! under the other — logs `roster_changed` (version, BLAKE3 of the note) and swaps the
//! roster in memory. A roster with the version in force and the same note is no change and
//! is not logged; the same version with another note is a security event.
//!
//! **Distribution.** Nodes exchange roster versions ([`PeerRequest::RosterVersion`]): on
//! every new connection a node dials, after every adoption, and every
//! [`EXCHANGE_INTERVAL`]. The answer carries the peer's signed roster when it is newer; a
//! peer that learns the asker's is newer asks back. So a roster given to one node reaches
//! every node that is connected to it, directly or through others, without a `SIGHUP`.
//! Nothing but the roster key's signature is trusted: a forged, older, or foreign roster is
//! refused (logged as a security event, counted, and the peer is not asked again for
//! [`REFUSED_BACKOFF`]).
//!
//! **Lifetime.** A roster may carry `expires_at`. Past it, the roster stays in force — it is
//! still the newest the node knows, and a node accepts no peer its roster does not list —
//! but no new disclosure leaves the node (submissions are answered `Unavailable`), except
//! urgent-danger disclosures (Art. 45.3), which the law wants made without delay. Receiving,
//! delivering what was disclosed while the roster was in force, witnessing, and the roster
//! exchange (the way out of expiry) go on. The node says so in its log at every exchange
//! round, in `streha_roster_expired` and in `/health`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use streha_core::{AgencyId, AuditEntry, Timestamp};
use streha_store::{Store, Transaction};
use streha_wire::peer::{PeerRequest, PeerResponse, RosterAnswer, RosterOffer};
use streha_wire::{AgencyEntry, Roster, RosterError};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::failure::Failure;
use crate::peers::Peers;
use crate::server::StartError;
use crate::shared::{Shared, agency_of_node_key};
use crate::state::{self, NODE_META};

/// The file, in the data directory, that keeps the roster in force (its signed note), so
/// that a roster adopted from a peer survives a restart. Written atomically at every
/// adoption; read at start beside the configured roster file, the newer of the two wins.
pub(crate) const KEPT_ROSTER_FILE: &str = "roster-in-force.note";
/// How often a node offers its roster version to every peer (besides on every new
/// connection and after every adoption).
pub(crate) const EXCHANGE_INTERVAL: Duration = Duration::from_secs(600);
/// The shortest time between two exchanges with one peer that the peer's requests cause
/// (a new connection, an offer of a newer version).
pub(crate) const EXCHANGE_MIN_GAP: Duration = Duration::from_secs(2);
/// How long a peer whose roster was refused (forged, older, another federation), or that
/// does not speak the exchange, is not asked again, except at the interval.
pub(crate) const REFUSED_BACKOFF: Duration = Duration::from_secs(300);
/// The wait before a peer that could not be reached (or answered busy) is asked again.
pub(crate) const UNREACHABLE_RETRY: Duration = Duration::from_secs(10);
/// Most exchanges in flight at once.
pub(crate) const MAX_EXCHANGES_IN_FLIGHT: usize = 16;
/// How long before its expiry a roster is warned about.
pub(crate) const EXPIRY_WARNING: Duration = Duration::from_secs(7 * 24 * 3600);

/// The `NODE_META` key of the version of the roster last adopted (u64 big-endian).
const VERSION_KEY: &[u8] = b"roster-version";

/// The outcome of offering the node a roster that it did not refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RosterReload {
    /// Adopted: logged as `roster_changed` and in force.
    Adopted {
        /// Its version.
        version: u64,
        /// BLAKE3 of its signed note, hex.
        hash: String,
    },
    /// The roster in force already (same version, same note): nothing changed, nothing
    /// was logged.
    Unchanged {
        /// The version in force.
        version: u64,
    },
}

/// Why a roster offered to the node was not adopted. The roster in force stays.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdoptError {
    /// Not validly signed by the pinned roster key, or not a valid roster.
    #[error("{0}")]
    Invalid(RosterError),
    /// Of another federation.
    #[error("{0}")]
    OtherFederation(RosterError),
    /// Not newer than the roster in force.
    #[error("roster version {offered} is not newer than version {current} in force")]
    NotNewer {
        /// Its version.
        offered: u64,
        /// The version in force.
        current: u64,
    },
    /// Another signed roster under the version in force.
    #[error(
        "roster version {version} with hash {offered} differs from the roster of the same version in force (hash {current}): two different rosters carry one version; the national authority must sign a new version"
    )]
    Conflict {
        /// The version.
        version: u64,
        /// BLAKE3 of the offered note, hex.
        offered: String,
        /// BLAKE3 of the note in force, hex.
        current: String,
    },
    /// It removes this node's agency or changes its node key.
    #[error(
        "roster version {0} removes this agency or changes its node key; restart the node with its new configuration"
    )]
    OwnKey(u64),
    /// It could not be kept or logged.
    #[error("the roster could not be kept or logged: {0}")]
    Storage(String),
}

impl AdoptError {
    /// The stable name of the reason (the `reason` label of
    /// `streha_roster_refusals_total`).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            AdoptError::Invalid(RosterError::Signature(_)) => "signature",
            AdoptError::Invalid(_) => "malformed",
            AdoptError::OtherFederation(_) => "other-federation",
            AdoptError::NotNewer { .. } => "not-newer",
            AdoptError::Conflict { .. } => "conflict",
            AdoptError::OwnKey(_) => "own-key",
            AdoptError::Storage(_) => "storage",
        }
    }
}

/// Where a roster came from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// The configured roster file (`SIGHUP`).
    File(&'a Path),
    /// A peer's answer to a roster exchange.
    Peer(&'a AgencyId),
}

impl Source<'_> {
    fn label(&self) -> &'static str {
        match self {
            Source::File(_) => "file",
            Source::Peer(_) => "peer",
        }
    }
}

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => write!(f, "the roster file {}", path.display()),
            Source::Peer(agency) => write!(f, "peer `{agency}`"),
        }
    }
}

/// The node's roster bookkeeping, in [`Shared`].
#[derive(Debug)]
pub(crate) struct RosterState {
    /// [`KEPT_ROSTER_FILE`] in the data directory.
    kept_path: PathBuf,
    /// One adoption at a time (a `SIGHUP` and peers may offer at once).
    adopt_lock: tokio::sync::Mutex<()>,
    /// Peers to exchange versions with soon: they connected, or offered a newer version.
    pending: Mutex<BTreeSet<AgencyId>>,
    /// Offer the version to every peer at the next round (after an adoption).
    announce: AtomicBool,
    /// Wakes the exchange task.
    wake: tokio::sync::Notify,
    /// When each peer's same-version conflict was last warned about.
    warned: Mutex<HashMap<AgencyId, Instant>>,
}

impl RosterState {
    /// The state of a node whose data directory keeps its roster at `kept_path`.
    pub(crate) fn new(kept_path: PathBuf) -> Self {
        Self {
            kept_path,
            adopt_lock: tokio::sync::Mutex::new(()),
            pending: Mutex::new(BTreeSet::new()),
            announce: AtomicBool::new(true),
            wake: tokio::sync::Notify::new(),
            warned: Mutex::new(HashMap::new()),
        }
    }

    /// Exchange versions with `peer` soon (a new connection to it, or it runs a newer
    /// roster).
    pub(crate) fn exchange_soon(&self, peer: AgencyId) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer);
        self.wake.notify_one();
    }

    /// Exchange with `peer` again once its gap has passed (after it could not be reached),
    /// without waking the loop now.
    fn pending_again(&self, peer: AgencyId) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer);
    }

    fn announce_soon(&self) {
        self.announce.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn take_pending(&self) -> BTreeSet<AgencyId> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn done_with(&self, peer: &AgencyId) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(peer);
    }
}

/// BLAKE3 of a roster's signed note: the `roster_hash` of its `roster_changed` entry.
pub(crate) fn note_hash(roster: &Roster) -> [u8; 32] {
    *blake3::hash(roster.signed_note().unwrap_or_default().as_bytes()).as_bytes()
}

fn hex(hash: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*hash).to_hex().to_string()
}

/// The roster a node starts on: the configured roster file, or the roster kept in the data
/// directory ([`KEPT_ROSTER_FILE`]) if that is newer and of the same federation (a roster
/// adopted from a peer since the file was installed). A kept roster that cannot be read or
/// does not verify is reported and ignored. Reads only; `strehad --check` can use it.
///
/// # Errors
/// [`StartError::Roster`] if the configured file cannot be read or is not validly signed.
pub(crate) fn choose_at_start(
    roster_path: &Path,
    data_dir: &Path,
    roster_key: &streha_crypto::RosterPublicKey,
) -> Result<(Roster, String), StartError> {
    let note = std::fs::read_to_string(roster_path)
        .map_err(|e| StartError::Roster(format!("cannot read {}: {e}", roster_path.display())))?;
    let from_file =
        Roster::open(&note, roster_key).map_err(|e| StartError::Roster(e.to_string()))?;
    let kept_path = data_dir.join(KEPT_ROSTER_FILE);
    let kept = match std::fs::read_to_string(&kept_path) {
        Ok(kept) => kept,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((from_file, note)),
        Err(e) => {
            tracing::warn!(path = %kept_path.display(), error = %e, "the kept roster cannot be read; starting on the roster file");
            return Ok((from_file, note));
        }
    };
    match Roster::open(&kept, roster_key) {
        Ok(roster)
            if roster.federation() == from_file.federation()
                && roster.version() > from_file.version() =>
        {
            tracing::info!(
                version = roster.version(),
                file_version = from_file.version(),
                path = %kept_path.display(),
                "starting on the kept roster, newer than the roster file (adopted from a peer or an earlier file)"
            );
            Ok((roster, kept))
        }
        Ok(_) => Ok((from_file, note)),
        Err(e) => {
            tracing::warn!(path = %kept_path.display(), error = %e, "security event: the kept roster does not verify; ignored, starting on the roster file");
            Ok((from_file, note))
        }
    }
}

/// At start: records a roster the node has not run on before (`roster_changed`), refusing
/// one older than the last, and keeps its note in the data directory.
pub(crate) fn record_at_start(
    store: &Store,
    data_dir: &Path,
    roster: &Roster,
    note: &str,
) -> Result<(), StartError> {
    let last = state::load_index(store, NODE_META, VERSION_KEY)?;
    match last {
        Some(last) if last > roster.version() => {
            return Err(StartError::Roster(format!(
                "the roster file has version {}, older than version {last} this node already ran on (and {} in the data directory does not hold it); install the current roster",
                roster.version(),
                KEPT_ROSTER_FILE
            )));
        }
        Some(last) if last == roster.version() => {
            // A node that adopted it before it kept the notes: keep it now.
            let key = state::roster_note_key(roster.version());
            if store.get(NODE_META, &key)?.is_none() {
                let mut tx = Transaction::new();
                tx.put(NODE_META, key, note.as_bytes().to_vec());
                store.commit(tx)?;
            }
        }
        _ => {
            // Written outside the commit queue (nothing else runs yet): its time comes from
            // the log itself, so that a clock set back cannot take the log back (`clock`).
            let at = crate::clock::LogClock::open(store)?.now();
            let hash = *blake3::hash(note.as_bytes()).as_bytes();
            store.commit(change_transaction(roster.version(), hash, at, note))?;
            tracing::info!(version = roster.version(), hash = %hex(&hash), "roster adopted at start");
        }
    }
    let kept = data_dir.join(KEPT_ROSTER_FILE);
    if std::fs::read_to_string(&kept).ok().as_deref() != Some(note) {
        write_kept(&kept, note).map_err(|e| {
            StartError::Runtime(format!("cannot keep the roster in {}: {e}", kept.display()))
        })?;
    }
    complain_about_expiry(roster, crate::shared::now());
    Ok(())
}

fn change_transaction(version: u64, hash: [u8; 32], at: Timestamp, note: &str) -> Transaction {
    let mut tx = Transaction::new();
    tx.append(
        AuditEntry::RosterChanged {
            version,
            roster_hash: hash,
            at,
        }
        .encode(),
    )
    .put(
        NODE_META,
        VERSION_KEY.to_vec(),
        version.to_be_bytes().to_vec(),
    )
    // The signed note is kept with it (exported in log bundles, `AppRequest::AdoptedRosters`).
    .put(
        NODE_META,
        state::roster_note_key(version),
        note.as_bytes().to_vec(),
    );
    tx
}

/// Writes `note` to `path` atomically: a temporary file beside it, flushed, renamed over
/// it, and the directory flushed. Owner-only permissions, like everything in the data
/// directory.
fn write_kept(path: &Path, note: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("note.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(note.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Adopts the roster `note` from `source` if it may replace the roster in force (see the
/// module doc), and does what a roster change entails: closes the connections of agencies
/// no longer listed, releases the deliveries held because their recipient was not listed,
/// and offers the new version to every peer.
///
/// # Errors
/// An [`AdoptError`]; the roster in force stays.
pub(crate) async fn adopt(
    shared: &Shared,
    peers: &Peers,
    note: String,
    source: Source<'_>,
) -> Result<RosterReload, AdoptError> {
    let result = adopt_inner(shared, peers, note).await;
    match &result {
        Ok(RosterReload::Adopted { version, hash }) => {
            shared.metrics.roster_adopted(source.label());
            let roster = shared.roster();
            tracing::info!(
                version,
                hash = %hash,
                source = %source,
                expires_at = %roster.expires_at().map(|t| t.to_string()).unwrap_or_else(|| "never".into()),
                "roster adopted"
            );
            complain_about_expiry(&roster, shared.now());
        }
        Ok(RosterReload::Unchanged { .. }) => {}
        Err(error) => shared.metrics.roster_refused(error.name()),
    }
    result
}

async fn adopt_inner(
    shared: &Shared,
    peers: &Peers,
    note: String,
) -> Result<RosterReload, AdoptError> {
    let _one = shared.roster_state.adopt_lock.lock().await;
    let roster = Roster::open(&note, &shared.roster_key).map_err(AdoptError::Invalid)?;
    let hash = *blake3::hash(note.as_bytes()).as_bytes();
    let current = shared.roster();
    if roster.version() == current.version() {
        let current_hash = note_hash(&current);
        return if hash == current_hash {
            Ok(RosterReload::Unchanged {
                version: current.version(),
            })
        } else {
            Err(AdoptError::Conflict {
                version: roster.version(),
                offered: hex(&hash),
                current: hex(&current_hash),
            })
        };
    }
    roster.check_replaces(&current).map_err(|e| match e {
        RosterError::NotNewer { offered, current } => AdoptError::NotNewer { offered, current },
        other => AdoptError::OtherFederation(other),
    })?;
    if roster.agency(&shared.agency).map(|a| a.node_key)
        != current.agency(&shared.agency).map(|a| a.node_key)
    {
        return Err(AdoptError::OwnKey(roster.version()));
    }
    // Kept first: if the node stops before the entry is logged, it starts on this roster
    // and logs it then; the reverse order could log a version the node cannot start on.
    let kept_path = shared.roster_state.kept_path.clone();
    let kept_note = note.clone();
    tokio::task::spawn_blocking(move || write_kept(&kept_path, &kept_note))
        .await
        .map_err(|e| AdoptError::Storage(format!("storage task failed: {e}")))?
        .map_err(|e| AdoptError::Storage(e.to_string()))?;
    let version = roster.version();
    {
        // Exclusive over the entry and the swap: every disclosure and delivery holds the
        // lock shared from reading the roster to committing its entry, so each entry is
        // decided under the roster the log says is in force at its position.
        let _registry = shared.registry_lock.write().await;
        shared
            .commit(change_transaction(version, hash, shared.now(), &note))
            .await
            .map_err(|e| AdoptError::Storage(e.to_string()))?;
        shared.set_roster(roster);
    }
    after_change(shared, peers).await;
    shared.roster_state.announce_soon();
    Ok(RosterReload::Adopted {
        version,
        hash: hex(&hash),
    })
}

/// What a roster change entails besides the swap.
async fn after_change(shared: &Shared, peers: &Peers) {
    // Agencies no longer in the roster: their open connections are closed, in both
    // directions; envelopes queued to them are held by the delivery worker.
    let current = shared.roster();
    peers.retain(|id| current.agency(id).is_some()).await;
    shared
        .peer_connections
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(key, connection)| {
            let kept = agency_of_node_key(&current, key).is_some();
            if !kept {
                connection.close(
                    streha_transport::close_codes::REMOVED.into(),
                    b"removed from the roster",
                );
            }
            kept && connection.close_reason().is_none()
        });
    // Envelopes held because their recipient had left the roster, whose recipient this
    // roster lists again, are retried; holds of every other kind stay.
    match crate::outbound::release_returned(shared).await {
        Ok(0) => {}
        Ok(released) => {
            tracing::info!(released, "held deliveries released by the roster change")
        }
        Err(error) => {
            tracing::error!(%error, "could not release held deliveries; they stay held")
        }
    }
    crate::witness::warn_if_quorum_unreachable(shared);
    shared.outbound_wake.notify_one();
    shared.witness_wake.notify_one();
}

/// Logs, loudly, a roster that has expired or expires soon.
fn complain_about_expiry(roster: &Roster, now: Timestamp) {
    let Some(end) = roster.expires_at() else {
        return;
    };
    if roster.is_expired_at(now) {
        tracing::error!(
            version = roster.version(),
            expired_at = %end,
            "ROSTER EXPIRED: no disclosure leaves this node (urgent-danger disclosures excepted, Art. 45.3) until a newer roster is adopted; ask the national authority for a roster signed with a new validity period and install it (any peer that has it passes it on)"
        );
    } else if end.unix_millis().saturating_sub(now.unix_millis())
        < u64::try_from(EXPIRY_WARNING.as_millis()).unwrap_or(u64::MAX)
    {
        tracing::warn!(
            version = roster.version(),
            expires_at = %end,
            "the roster expires within 7 days; ask the national authority for the next roster"
        );
    }
}

/// Answers a peer's [`PeerRequest::RosterVersion`]: this node's version and hash, and its
/// signed roster if that is newer than the peer's. If the peer's is newer, asks it soon.
pub(crate) fn handle_offer(
    shared: &Shared,
    peer: &AgencyEntry,
    offer: RosterOffer,
) -> Result<PeerResponse, Failure> {
    let current = shared.roster();
    let (version, hash) = (current.version(), note_hash(&current));
    let note = if offer.version < version {
        Some(
            current
                .signed_note()
                .ok_or_else(|| Failure::Internal("the roster in force has no signed form".into()))?
                .to_owned(),
        )
    } else {
        None
    };
    if offer.version > version {
        tracing::info!(peer = %peer.id, version = offer.version, current = version, "a peer runs a newer roster; asking it");
        shared.roster_state.exchange_soon(peer.id.clone());
    } else if offer.version == version && offer.hash != hash {
        let mut warned = shared
            .roster_state
            .warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if warned
            .get(&peer.id)
            .is_none_or(|at| now.duration_since(*at) >= REFUSED_BACKOFF)
        {
            warned.insert(peer.id.clone(), now);
            tracing::warn!(peer = %peer.id, version, peer_hash = %hex(&offer.hash), hash = %hex(&hash), "security event: a peer runs another roster under the version in force; the national authority must sign a new version");
            shared.metrics.roster_refused("conflict");
        }
    }
    Ok(PeerResponse::Roster(Box::new(RosterAnswer {
        version,
        hash,
        note,
    })))
}

/// How one exchange ended, for the next one's timing.
enum Exchanged {
    /// Versions compared (and a newer roster adopted, if there was one).
    Done,
    /// The peer's roster was refused, or the peer does not speak the exchange.
    Refused,
    /// The peer could not be reached.
    Unreachable,
}

/// Offers this node's roster version to `peer` and adopts the roster it answers with, if it
/// is newer.
async fn exchange_with(shared: &Shared, peers: &Peers, peer: &AgencyEntry) -> Exchanged {
    let current = shared.roster();
    let offer = RosterOffer {
        version: current.version(),
        hash: note_hash(&current),
    };
    let answer = match peers
        .request(shared, peer, &PeerRequest::RosterVersion(offer))
        .await
    {
        Ok(PeerResponse::Roster(answer)) => answer,
        Ok(PeerResponse::Error(error)) if error.code == streha_wire::ErrorCode::Unavailable => {
            tracing::debug!(peer = %peer.id, %error, "roster exchange: the peer is busy");
            return Exchanged::Unreachable;
        }
        Ok(PeerResponse::Error(error)) => {
            tracing::debug!(peer = %peer.id, %error, "the peer does not exchange roster versions");
            return Exchanged::Refused;
        }
        Ok(_) => {
            tracing::debug!(peer = %peer.id, "the peer answered a roster exchange with something else");
            return Exchanged::Refused;
        }
        Err(error) => {
            tracing::debug!(peer = %peer.id, %error, "roster exchange: the peer is unreachable");
            return Exchanged::Unreachable;
        }
    };
    let Some(note) = answer.note else {
        if answer.version == offer.version && answer.hash != offer.hash {
            tracing::warn!(peer = %peer.id, version = offer.version, "security event: a peer runs another roster under the version in force; the national authority must sign a new version");
            shared.metrics.roster_refused("conflict");
        }
        return Exchanged::Done;
    };
    match adopt(shared, peers, note, Source::Peer(&peer.id)).await {
        Ok(_) => Exchanged::Done,
        // Adopted meanwhile from elsewhere (a race between exchanges): not the peer's fault.
        Err(AdoptError::NotNewer { offered, .. }) if offered > offer.version => Exchanged::Done,
        Err(AdoptError::Storage(error)) => {
            tracing::error!(peer = %peer.id, %error, "a newer roster from a peer could not be adopted; the roster in force stays");
            Exchanged::Done
        }
        Err(AdoptError::OwnKey(version)) => {
            tracing::error!(peer = %peer.id, version, "a newer roster removes this agency or changes its node key; the node keeps its roster: restart it with its new configuration");
            Exchanged::Refused
        }
        Err(error) => {
            tracing::warn!(peer = %peer.id, %error, "security event: the roster a peer offered is refused");
            Exchanged::Refused
        }
    }
}

/// Runs the roster exchange until `shutdown` turns true: a round with every peer at start,
/// after each adoption and every [`EXCHANGE_INTERVAL`]; an exchange with a peer soon after
/// it connected or offered a newer version (at most once per [`EXCHANGE_MIN_GAP`], or
/// [`REFUSED_BACKOFF`] after its roster was refused).
pub(crate) async fn run(
    shared: Arc<Shared>,
    peers: Arc<Peers>,
    mut shutdown: watch::Receiver<bool>,
) {
    let state = &shared.roster_state;
    let mut next_round = Instant::now();
    let mut not_before: HashMap<AgencyId, Instant> = HashMap::new();
    // The version whose expiry was last reported (besides at every round).
    let mut reported: Option<u64> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = Instant::now();
        let roster = shared.roster();
        let mut targets = BTreeSet::new();
        let expired = roster.is_expired_at(shared.now());
        let everyone = || {
            roster
                .agencies()
                .iter()
                .filter(|a| a.id != shared.agency)
                .map(|a| a.id.clone())
                .collect::<Vec<_>>()
        };
        if state.announce.swap(false, Ordering::AcqRel) || now >= next_round {
            // At start, after an adoption and every round: every peer is offered the version.
            next_round = now + EXCHANGE_INTERVAL;
            complain_about_expiry(&roster, shared.now());
            reported = expired.then_some(roster.version());
            targets.extend(everyone());
        } else if expired && reported != Some(roster.version()) {
            complain_about_expiry(&roster, shared.now());
            reported = Some(roster.version());
            targets.extend(everyone());
        }
        let mut wake_at = next_round;
        for id in state.take_pending() {
            match not_before.get(&id) {
                Some(at) if *at > now && !targets.contains(&id) => {
                    wake_at = wake_at.min(*at);
                    state
                        .pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(id);
                }
                _ => {
                    targets.insert(id);
                }
            }
        }
        let mut exchanges = JoinSet::new();
        for id in targets {
            let Some(peer) = roster
                .agency(&id)
                .filter(|a| a.id != shared.agency)
                .cloned()
            else {
                continue;
            };
            while exchanges.len() >= MAX_EXCHANGES_IN_FLIGHT {
                if let Some(Ok((id, gap))) = exchanges.join_next().await {
                    not_before.insert(id, Instant::now() + gap);
                }
            }
            let (shared, peers) = (Arc::clone(&shared), Arc::clone(&peers));
            exchanges.spawn(async move {
                let outcome = exchange_with(&shared, &peers, &peer).await;
                shared.roster_state.done_with(&peer.id);
                let gap = match outcome {
                    Exchanged::Done => EXCHANGE_MIN_GAP,
                    Exchanged::Refused => REFUSED_BACKOFF,
                    Exchanged::Unreachable => {
                        // Tried again soon, not only at the next round: a peer that was
                        // starting, busy or briefly unreachable must not wait ten minutes
                        // for a roster (an agency it removed may still be in its own).
                        shared.roster_state.pending_again(peer.id.clone());
                        UNREACHABLE_RETRY
                    }
                };
                (peer.id, gap)
            });
        }
        while let Some(done) = exchanges.join_next().await {
            if let Ok((id, gap)) = done {
                not_before.insert(id, Instant::now() + gap);
            }
        }
        // Wake at the moment the roster expires, to say so.
        if let Some(end) = shared.roster().expires_at() {
            let left = end.unix_millis().saturating_sub(shared.now().unix_millis());
            if left > 0 {
                wake_at = wake_at.min(Instant::now() + Duration::from_millis(left));
            }
        }
        tokio::select! {
            () = state.wake.notified() => {}
            () = tokio::time::sleep_until(wake_at.into()) => {}
            _ = shutdown.changed() => {}
        }
    }
}
