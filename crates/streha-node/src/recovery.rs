//! Recovery after a restore from a backup (`spec/protocol.md` §13).
//!
//! A data directory written by `streha admin restore` holds [`RESTORED_FILE`]: the node
//! starts in *recovery mode*. Its log may be shorter than what its witnesses cosigned (every
//! entry after the backup is lost), and a witness rightly takes a shorter checkpoint for a
//! rollback. So, until it knows, the node appends nothing to its log (every commit that
//! would is refused, `Unavailable`: applications and peers retry later) and submits no
//! checkpoint to any witness. It asks every other node of the roster for the latest
//! checkpoint of its log that node cosigned ([`PeerRequest::CosignedCheckpoint`]) or keeps as
//! delivery evidence, and every independent witness of the roster for the latest it cosigned
//! (`GET <url>/latest-cosigned/<origin>`, Streha's read extension, `spec/witness.md` §2.2),
//! and checks each answer's signature with its own key (and a witness's cosignature with the
//! roster's key for it):
//!
//! - none is larger than the restored log (and one of equal size has its root): nothing
//!   was lost; the marker is removed and the node serves as usual;
//! - one is larger: entries were lost; the node stays in recovery mode, says so (log,
//!   `/health`, metric) with the lost range and the proving checkpoint, and never forks
//!   silently.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use streha_audit::{Checkpoint, CheckpointError, SignedNote};
use streha_core::AuditEntry;
use streha_wire::peer::{KeptCheckpoint, PeerRequest, PeerResponse};
use streha_wire::roster::AgencyEntry;
use tokio::sync::watch;

use crate::failure::Failure;
use crate::peers::Peers;
use crate::server::StartError;
use crate::shared::Shared;
use crate::state::{self, WITNESSED, WitnessView};

/// The marker, in the data directory, of a restore not yet recovered from: it holds the
/// backup's last checkpoint (empty for an empty log).
pub const RESTORED_FILE: &str = "restored-from-backup";

/// How often a node in recovery mode asks the peers that have not answered yet.
pub(crate) const RECOVERY_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// How many rounds (each at most `witness.submit_timeout_ms`, [`RECOVERY_RETRY`] apart) a
/// node in recovery mode asks an independent witness that does not answer before it decides
/// without it. Recovery waits for every peer (the federation's own nodes, which it needs
/// anyway), but not forever for a witness run by another body: one that is down, or is a
/// C2SP witness that is not Streha's, must not hold the node in recovery mode.
pub const RECOVERY_WITNESS_ATTEMPTS: u32 = 3;

/// What recovery found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// No witness cosigned more than the restored log.
    NothingLost,
    /// `witness` proves (a checkpoint signed by this node) that the log had `proven` entries;
    /// the restored log has `restored`.
    Lost {
        restored: u64,
        proven: u64,
        /// The peer's agency id, or the independent witness's key name.
        witness: String,
        note: String,
        /// `witness` is an independent witness of the roster, whose cosignature is in
        /// `note`.
        independent: bool,
    },
}

/// Answers a peer's [`PeerRequest::CosignedCheckpoint`]: the latest checkpoint of its own
/// log this node cosigned.
pub(crate) fn handle_cosigned_checkpoint(
    shared: &Shared,
    peer: &AgencyEntry,
) -> Result<PeerResponse, Failure> {
    let roster = shared.roster();
    let federation = roster.federation();
    let base = peer.log_origin(federation);
    // The latest epoch of its log this node witnessed (`spec/audit-log.md` §9).
    let mut latest: Option<(u64, Vec<u8>)> = None;
    for (origin, _) in shared.store.scan(WITNESSED, base.as_bytes())? {
        let Some(epoch) = std::str::from_utf8(&origin)
            .ok()
            .and_then(|origin| peer.epoch_of(federation, origin))
        else {
            continue;
        };
        if latest.as_ref().is_none_or(|(seen, _)| epoch > *seen) {
            latest = Some((epoch, origin));
        }
    }
    let view: Option<WitnessView> = match latest {
        Some((_, origin)) => state::load(&shared.store, WITNESSED, &origin)?,
        None => None,
    };
    Ok(PeerResponse::CosignedCheckpoint(view.map(|view| view.note)))
}

/// The least time between two scans of this node's log for the delivery evidence it keeps
/// of one peer's log ([`handle_kept_checkpoint`]): a scan reads the whole log, and a peer
/// asks only while it recovers (every [`RECOVERY_RETRY`] until answered).
pub(crate) const KEPT_SCAN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// The largest checkpoint of `owner`'s log `origin` (one of its epochs) that this node's log
/// keeps as delivery evidence — a `received` entry's sender checkpoint, a `receipt` entry's
/// receiver checkpoint — whose kept signature verifies under `origin` with `owner`'s node
/// key: the kept form and the signed note rebuilt from it. Reads the whole log (the current
/// epoch's: the evidence of this node's own earlier epochs is in their kept bundles).
pub(crate) fn largest_kept(
    shared: &Shared,
    owner: &AgencyEntry,
    origin: &str,
) -> Result<Option<(KeptCheckpoint, String)>, Failure> {
    let verifier = streha_audit::NoteVerifier::new(origin, *owner.node_key.as_dalek())
        .map_err(|e| Failure::BadRequest(format!("`{origin}` is not a valid log origin: {e}")))?;
    let mut candidates: Vec<KeptCheckpoint> = Vec::new();
    for index in 0..shared.store.tree_size() {
        let Some(bytes) = shared.store.entry(index)? else {
            continue;
        };
        let kept = match AuditEntry::decode(&bytes) {
            Ok(AuditEntry::Received {
                header,
                sender_tree_size,
                sender_root_hash,
                sender_checkpoint_signature,
                ..
            }) if header.sender == owner.id => KeptCheckpoint {
                size: sender_tree_size,
                root: sender_root_hash,
                signature: sender_checkpoint_signature,
            },
            Ok(AuditEntry::Receipt {
                recipient,
                receiver_tree_size,
                receiver_root_hash,
                receiver_checkpoint_signature,
                ..
            }) if recipient == owner.id => KeptCheckpoint {
                size: receiver_tree_size,
                root: receiver_root_hash,
                signature: receiver_checkpoint_signature,
            },
            _ => continue,
        };
        candidates.push(kept);
    }
    // The largest first; evidence of another epoch of the owner's log does not verify under
    // `origin` and is passed over.
    candidates.sort_unstable_by_key(|kept| std::cmp::Reverse(kept.size));
    candidates.dedup();
    for kept in candidates {
        if kept.verify(&verifier).is_ok() {
            let note = kept
                .to_note(&verifier)
                .map_err(|e| Failure::Internal(format!("cannot rebuild a kept checkpoint: {e}")))?;
            return Ok(Some((kept, note)));
        }
    }
    Ok(None)
}

/// Answers a peer's [`PeerRequest::KeptCheckpoint`]: the largest checkpoint of one epoch of
/// its own log that this node keeps as delivery evidence ([`largest_kept`]), at most one
/// scan per peer per [`KEPT_SCAN_INTERVAL`] (`Unavailable` meanwhile: retried).
pub(crate) fn handle_kept_checkpoint(
    shared: &Shared,
    peer: &AgencyEntry,
    origin: &str,
) -> Result<PeerResponse, Failure> {
    let roster = shared.roster();
    if peer.epoch_of(roster.federation(), origin).is_none() {
        return Err(Failure::BadRequest(format!(
            "`{origin}` is not an epoch of `{}`'s log: a node asks only about its own",
            peer.id
        )));
    }
    Ok(PeerResponse::KeptCheckpoint(
        largest_kept_of_peer(shared, peer, origin)?.map(|(_, note)| note),
    ))
}

/// The answer of the last scan for one peer ([`largest_kept_of_peer`]).
#[derive(Debug)]
pub(crate) struct EvidenceScan {
    at: std::time::Instant,
    origin: String,
    found: Option<(KeptCheckpoint, String)>,
}

/// [`largest_kept`] for a peer asking about its own log, bounded: the whole log is scanned
/// at most once per peer per [`KEPT_SCAN_INTERVAL`] — a peer recovering asks until answered,
/// and one offering a new epoch has it judged against the same evidence, so a peer that
/// repeats either request cannot make this node read its log again and again. A repeat of
/// the same question within the interval gets the last scan's answer (nothing of the
/// peer's earlier epoch is logged meanwhile: the peer appends nothing while it recovers);
/// another question within it is `Unavailable` (retried).
pub(crate) fn largest_kept_of_peer(
    shared: &Shared,
    peer: &AgencyEntry,
    origin: &str,
) -> Result<Option<(KeptCheckpoint, String)>, Failure> {
    let now = std::time::Instant::now();
    {
        let mut scans = shared
            .evidence_scans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        scans.retain(|_, scan| now.duration_since(scan.at) < KEPT_SCAN_INTERVAL);
        if let Some(scan) = scans.get(&peer.id) {
            if scan.origin == origin {
                return Ok(scan.found.clone());
            }
            return Err(Failure::Unavailable(format!(
                "this node scans its log for the evidence it keeps of one peer's log once per {} s; retry later",
                KEPT_SCAN_INTERVAL.as_secs()
            )));
        }
    }
    crate::metrics::Metrics::bump(&shared.metrics.evidence_scans);
    let found = largest_kept(shared, peer, origin)?;
    shared
        .evidence_scans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(
            peer.id.clone(),
            EvidenceScan {
                at: now,
                origin: origin.to_owned(),
                found: found.clone(),
            },
        );
    Ok(found)
}

/// Checks a peer's answer: a checkpoint of this node's log, signed by this node's key.
/// Returns its size and root.
fn check_answer(shared: &Shared, note: &str) -> Result<(u64, streha_audit::Hash), String> {
    let roster = shared.roster();
    let own = roster
        .agencies()
        .iter()
        .find(|a| a.id == shared.agency)
        .ok_or("this node is not in the roster")?;
    let verifier = streha_audit::NoteVerifier::new(shared.store.origin(), *own.node_key.as_dalek())
        .map_err(|e| e.to_string())?;
    verify_own(note, &verifier, shared.store.origin())
}

/// Checks an independent witness's `latest-cosigned` answer: a checkpoint of this node's
/// log signed by this node's key ([`check_answer`], the rule for a peer's answer), carrying
/// the witness's cosignature under the roster's key for it. Returns its size and root.
fn check_witness_answer(
    shared: &Shared,
    witness: &streha_wire::IndependentWitness,
    note: &str,
) -> Result<(u64, streha_audit::Hash), String> {
    let proven = check_answer(shared, note)?;
    let verifier = witness.verifier().map_err(|e| e.to_string())?;
    let parsed = SignedNote::parse(note).map_err(|e| e.to_string())?;
    let cosigned = parsed
        .signatures()
        .iter()
        .filter(|line| verifier.matches(line))
        .any(|line| verifier.verify_signature(parsed.body(), line).is_ok());
    if !cosigned {
        return Err("it carries no valid cosignature of this witness".into());
    }
    Ok(proven)
}

/// Asks one independent witness for the latest checkpoint of this node's log it cosigned.
/// `Some(answer)` once it answered (`Some(None)`: it cosigned nothing of this log, or is not
/// Streha's: 404); `None` if it did not answer, or answered what does not verify (logged).
async fn ask_witness(
    shared: &Shared,
    tls: &streha_witness::client::Tls,
    witness: &streha_wire::IndependentWitness,
) -> Option<Option<(u64, String)>> {
    use streha_witness::client::LatestCosigned;
    let name = witness.name();
    let answer = streha_witness::client::latest_cosigned(
        &witness.url,
        tls,
        shared.store.origin(),
        shared.witness.submit_timeout,
    )
    .await;
    match answer {
        Ok(LatestCosigned::NotFound) => {
            tracing::info!(witness = %name,
                "recovery: an independent witness has cosigned nothing of this log, or cannot say (not Streha's)");
            Some(None)
        }
        Ok(LatestCosigned::Note(note)) => match check_witness_answer(shared, witness, &note) {
            Ok((size, _)) => Some(Some((size, note))),
            Err(problem) => {
                tracing::warn!(witness = %name, %problem,
                    "recovery: an independent witness's cosigned checkpoint of this log does not verify; ignored");
                None
            }
        },
        Ok(LatestCosigned::Refused { status, message }) => {
            tracing::info!(witness = %name, status, %message,
                "recovery: an independent witness did not say what it cosigned of this log");
            None
        }
        Err(problem) => {
            tracing::info!(witness = %name, %problem,
                "recovery: independent witness not reached");
            None
        }
    }
}

/// Whether `note` names an earlier epoch of this node's log than the store's.
fn of_an_earlier_epoch(shared: &Shared, note: &str) -> bool {
    let Some(named) = SignedNote::parse(note)
        .ok()
        .and_then(|n| Checkpoint::parse_body(n.body()).ok())
        .map(|c| c.origin().to_owned())
    else {
        return false;
    };
    match (
        streha_core::epoch::split_epoch(&named),
        streha_core::epoch::split_epoch(shared.store.origin()),
    ) {
        (Some((base, epoch)), Some((own, current))) => base == own && epoch < current,
        _ => false,
    }
}

/// A checkpoint `note` of the log `origin`, signed under `verifier` (this node's key): its
/// size and root. Anything else proves nothing about this log.
fn verify_own(
    note: &str,
    verifier: &streha_audit::NoteVerifier,
    origin: &str,
) -> Result<(u64, streha_audit::Hash), String> {
    let parsed = SignedNote::parse(note).map_err(|e| e.to_string())?;
    let verified = parsed
        .verify(std::slice::from_ref(verifier))
        .map_err(|e| e.to_string())?;
    if verified.signers().is_empty() {
        return Err("not signed by this node's key".into());
    }
    let checkpoint =
        Checkpoint::parse_body(parsed.body()).map_err(|e: CheckpointError| e.to_string())?;
    if checkpoint.origin() != origin {
        return Err(format!(
            "a checkpoint of `{}`, not of this log",
            checkpoint.origin()
        ));
    }
    Ok((checkpoint.size(), *checkpoint.root()))
}

/// Asks every other node of the roster until each has answered, then decides.
pub(crate) async fn run(
    shared: Arc<Shared>,
    peers: Arc<Peers>,
    data_dir: std::path::PathBuf,
    mut shutdown: watch::Receiver<bool>,
) {
    let restored = shared.store.tree_size();
    let restored_root = shared.store.root();
    // Per peer, the largest checkpoint of this log it cosigned; and, asked once that is
    // known, the largest it keeps as delivery evidence (a delivery's or a receipt's
    // checkpoint, which no witness may have cosigned yet): a declaration of a loss proves
    // the largest of all, so that it hides nothing a peer holds (`spec/audit-log.md` §9).
    let mut answered: std::collections::BTreeMap<String, Option<(u64, String)>> =
        std::collections::BTreeMap::new();
    let mut kept: std::collections::BTreeMap<String, Option<(u64, String)>> =
        std::collections::BTreeMap::new();
    // Per independent witness (by key name), the latest checkpoint of this log it cosigned,
    // and how often it was asked without an answer (at most [`RECOVERY_WITNESS_ATTEMPTS`]).
    let mut from_witnesses: std::collections::BTreeMap<String, Option<(u64, String)>> =
        std::collections::BTreeMap::new();
    let mut unanswered: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
    let tls = match streha_witness::client::Tls::new(&shared.witness.ca_pem) {
        Ok(tls) => Some(tls),
        Err(e) => {
            tracing::error!(error = %e, "recovery: no TLS for independent witnesses; they are not asked");
            None
        }
    };
    loop {
        if *shutdown.borrow() {
            return;
        }
        let roster = shared.roster();
        let others: Vec<AgencyEntry> = roster
            .agencies()
            .iter()
            .filter(|a| a.id != shared.agency)
            .cloned()
            .collect();
        for peer in &others {
            if answered.contains_key(peer.id.as_str()) {
                continue;
            }
            let answer = tokio::select! {
                answer = peers.request(&shared, peer, &PeerRequest::CosignedCheckpoint) => answer,
                _ = shutdown.changed() => return,
            };
            match answer {
                Ok(PeerResponse::CosignedCheckpoint(None)) => {
                    answered.insert(peer.id.as_str().to_owned(), None);
                }
                Ok(PeerResponse::CosignedCheckpoint(Some(note)))
                    if of_an_earlier_epoch(&shared, &note) =>
                {
                    // The peer witnessed only an earlier epoch of this log: nothing of this
                    // one.
                    answered.insert(peer.id.as_str().to_owned(), None);
                }
                Ok(PeerResponse::CosignedCheckpoint(Some(note))) => {
                    match check_answer(&shared, &note) {
                        Ok((size, root)) => {
                            if size == restored && root != restored_root {
                                tracing::error!(peer = %peer.id, size,
                                    "security event: a peer cosigned a checkpoint of this log of the restored size with another root: the backup is not of this log's history");
                            }
                            answered.insert(peer.id.as_str().to_owned(), Some((size, note)));
                        }
                        Err(problem) => {
                            tracing::warn!(peer = %peer.id, %problem,
                                "recovery: a peer's cosigned checkpoint of this log does not verify; ignored")
                        }
                    }
                }
                Ok(_) => tracing::warn!(peer = %peer.id, "recovery: unexpected answer"),
                Err(problem) => {
                    tracing::info!(peer = %peer.id, %problem, "recovery: peer not reached yet; retrying")
                }
            }
        }
        for peer in &others {
            if answered.contains_key(peer.id.as_str())
                && !kept.contains_key(peer.id.as_str())
                && let Some(answer) = ask_kept(&shared, &peers, peer, &mut shutdown).await
            {
                kept.insert(peer.id.as_str().to_owned(), answer);
            }
        }
        let witnesses = if tls.is_some() {
            roster.witnesses().to_vec()
        } else {
            Vec::new()
        };
        for witness in &witnesses {
            let name = witness.name();
            if from_witnesses.contains_key(&name)
                || unanswered.get(&name).copied().unwrap_or(0) >= RECOVERY_WITNESS_ATTEMPTS
            {
                continue;
            }
            let Some(tls) = tls.as_ref() else { break };
            let answer = tokio::select! {
                answer = ask_witness(&shared, tls, witness) => answer,
                _ = shutdown.changed() => return,
            };
            match answer {
                Some(answer) => {
                    from_witnesses.insert(name, answer);
                }
                None => {
                    let attempts = unanswered.entry(name.clone()).or_insert(0);
                    *attempts += 1;
                    if *attempts >= RECOVERY_WITNESS_ATTEMPTS {
                        tracing::warn!(witness = %name, attempts = *attempts,
                            "recovery: an independent witness did not say what it cosigned of this log; deciding without it (if it cosigned more, it refuses this log's next checkpoints or its declaration: a security event)");
                    }
                }
            }
        }
        if *shutdown.borrow() {
            return;
        }
        let waiting: Vec<String> = others
            .iter()
            .map(|a| a.id.as_str())
            .filter(|id| !answered.contains_key(*id) || !kept.contains_key(*id))
            .map(str::to_owned)
            .chain(
                witnesses
                    .iter()
                    .map(streha_wire::IndependentWitness::name)
                    .filter(|name| {
                        !from_witnesses.contains_key(name)
                            && unanswered.get(name).copied().unwrap_or(0)
                                < RECOVERY_WITNESS_ATTEMPTS
                    }),
            )
            .collect();
        if waiting.is_empty() {
            break;
        }
        tracing::info!(waiting = %waiting.join(","),
            "recovery mode: waiting for these peers and witnesses to say what they cosigned of this log; disclosures wait");
        tokio::select! {
            () = tokio::time::sleep(RECOVERY_RETRY) => {}
            _ = shutdown.changed() => return,
        }
    }
    // Both answers of a peer count as one: the larger.
    for (peer, answer) in kept {
        let Some((size, note)) = answer else {
            continue;
        };
        let slot = answered.entry(peer).or_insert(None);
        if slot.as_ref().is_none_or(|(cosigned, _)| size > *cosigned) {
            *slot = Some((size, note));
        }
    }
    let outcome = decide_all(restored, &answered, &from_witnesses);
    match &outcome {
        Outcome::NothingLost => {
            if let Err(e) = clear_marker(&data_dir) {
                tracing::error!(error = %e, "recovery: cannot remove the restore marker; the node stays in recovery mode");
                return;
            }
            shared.recovering.store(false, Ordering::Release);
            shared.witness_wake.notify_one();
            tracing::info!(
                size = restored,
                "recovery complete: no witness cosigned more of this log than the backup holds; nothing was lost; serving"
            );
        }
        Outcome::Lost {
            restored,
            proven,
            witness,
            ..
        } => {
            shared
                .lost_entries
                .store(proven - restored, Ordering::Release);
            *shared
                .proven_loss
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(outcome.clone());
            tracing::error!(
                restored,
                proven,
                witness = %witness,
                "recovery: entries {restored}..{proven} of this log were lost (the backup is older than what `{witness}` cosigned); the node stays in recovery mode and appends nothing, so that its log does not fork silently"
            );
        }
    }
}

/// Asks `peer` for the largest checkpoint of this node's log (in its current epoch) it keeps
/// as delivery evidence. `Some(answer)` once answered (`Some(None)`: it keeps none, or it is
/// a node that does not know the request, which is logged); `None` to ask again later.
async fn ask_kept(
    shared: &Arc<Shared>,
    peers: &Arc<Peers>,
    peer: &AgencyEntry,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Option<(u64, String)>> {
    let request = PeerRequest::KeptCheckpoint {
        origin: shared.store.origin().to_owned(),
    };
    let answer = tokio::select! {
        answer = peers.request(shared, peer, &request) => answer,
        _ = shutdown.changed() => return None,
    };
    match answer {
        Ok(PeerResponse::KeptCheckpoint(None)) => Some(None),
        Ok(PeerResponse::KeptCheckpoint(Some(note))) => match check_answer(shared, &note) {
            Ok((size, _)) => Some(Some((size, note))),
            Err(problem) => {
                tracing::warn!(peer = %peer.id, %problem,
                    "recovery: a peer's kept delivery evidence of this log does not verify; ignored");
                None
            }
        },
        Ok(PeerResponse::Error(error)) if error.code == streha_wire::ErrorCode::BadRequest => {
            tracing::warn!(peer = %peer.id, error = %error,
                "recovery: a peer cannot say what delivery evidence it keeps of this log (an older node?); only what it cosigned counts");
            Some(None)
        }
        Ok(PeerResponse::Error(error)) => {
            tracing::info!(peer = %peer.id, error = %error, "recovery: peer's kept evidence not known yet; retrying");
            None
        }
        Ok(_) => {
            tracing::warn!(peer = %peer.id, "recovery: unexpected answer");
            None
        }
        Err(problem) => {
            tracing::info!(peer = %peer.id, %problem, "recovery: peer not reached yet; retrying");
            None
        }
    }
}

/// The outcome of the peers' answers ([`decide`]) and the independent witnesses' (witness
/// key name → the latest size it cosigned, and that checkpoint's note): the larger proof; a
/// peer's on a tie (its agency id names it in the declaration).
pub(crate) fn decide_all(
    restored: u64,
    peers: &std::collections::BTreeMap<String, Option<(u64, String)>>,
    witnesses: &std::collections::BTreeMap<String, Option<(u64, String)>>,
) -> Outcome {
    match (decide(restored, peers), decide(restored, witnesses)) {
        (
            Outcome::Lost { proven, .. },
            witness @ Outcome::Lost {
                proven: by_witness, ..
            },
        ) if by_witness > proven => as_independent(witness),
        (Outcome::NothingLost, witness) => as_independent(witness),
        (peer, _) => peer,
    }
}

/// Marks a loss proven by an independent witness as such.
fn as_independent(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Lost {
            restored,
            proven,
            witness,
            note,
            ..
        } => Outcome::Lost {
            restored,
            proven,
            witness,
            note,
            independent: true,
        },
        other => other,
    }
}

/// The outcome of the answers (peer → the largest size it cosigned or keeps as delivery
/// evidence, and that checkpoint's note).
pub(crate) fn decide(
    restored: u64,
    answered: &std::collections::BTreeMap<String, Option<(u64, String)>>,
) -> Outcome {
    let best = answered
        .iter()
        .filter_map(|(peer, answer)| answer.as_ref().map(|(size, note)| (peer, *size, note)))
        .max_by_key(|(_, size, _)| *size);
    match best {
        Some((peer, size, note)) if size > restored => Outcome::Lost {
            restored,
            proven: size,
            witness: peer.clone(),
            note: note.clone(),
            independent: false,
        },
        _ => Outcome::NothingLost,
    }
}

fn clear_marker(data_dir: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_file(data_dir.join(RESTORED_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::File::open(data_dir)?.sync_all()
}

/// The directory, in the data directory, that keeps the bundles of the log's earlier epochs
/// (`<n>.bundle`, the whole log of epoch `n` as it was when the node continued after a
/// proven loss): exported beside the current epoch's, the verifier ties them together.
pub const EPOCHS_DIR: &str = "epochs";

/// The file, in the data directory, of an accepted loss not yet carried out: the node
/// starts its log over under [`PendingEpoch::origin`] at its next start (and at once: the
/// daemon restarts itself), appending the declaration as entry 0.
pub const PENDING_EPOCH_FILE: &str = "epoch-pending";

/// An accepted loss (`streha admin recover --accept-loss`), written before the switch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PendingEpoch {
    /// The origin of the restored log (the epoch the loss happened in).
    pub(crate) previous_origin: String,
    /// The new epoch's origin.
    pub(crate) origin: String,
    /// The `log_restored` declaration (encoded entry), to be entry 0 of the new epoch.
    pub(crate) declaration: Vec<u8>,
}

/// What `streha admin recover --accept-loss` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct RecoverReport {
    /// The restored log's origin.
    pub previous_origin: String,
    /// The new epoch's origin.
    pub origin: String,
    /// The lost range: entries `restored..proven` of `previous_origin`.
    pub restored: u64,
    /// The size the proving checkpoint shows.
    pub proven: u64,
    /// The peer whose kept checkpoint proves the loss, or the independent witness (its key
    /// name) whose cosigned checkpoint does.
    pub proven_by: String,
    /// Where the restored epoch's bundle is kept.
    pub bundle: std::path::PathBuf,
}

/// Writes `bytes` to `path` durably: a temporary file beside it, synced, renamed, the
/// directory synced.
fn write_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    let mut file = tempfile::Builder::new()
        .prefix(".streha-epoch-")
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Accepts the loss recovery proved (`spec/protocol.md` §13, "Continuing after a proven
/// loss"): builds the `log_restored` declaration, keeps the restored epoch's bundle in
/// [`EPOCHS_DIR`], and writes [`PENDING_EPOCH_FILE`]; the node then restarts, and
/// [`open_store`] starts the log over. Refused unless the node is in recovery mode with a
/// proven loss.
pub(crate) fn accept_loss(
    shared: &Shared,
    data_dir: &std::path::Path,
) -> Result<RecoverReport, String> {
    if !shared.recovering.load(Ordering::Acquire) {
        return Err(
            "the node is not in recovery mode: there is no loss to accept (a restore that lost nothing leaves recovery mode by itself)".into(),
        );
    }
    let outcome = shared
        .proven_loss
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let Some(Outcome::Lost {
        restored,
        proven,
        witness,
        note,
        independent,
    }) = outcome
    else {
        return Err(
            "no loss is proven (yet): recovery has not heard from every peer, or found that nothing was lost; see /health and the log".into(),
        );
    };
    if data_dir.join(PENDING_EPOCH_FILE).exists() {
        return Err("the loss was accepted already; the node is starting the new epoch".into());
    }
    let previous_origin = shared.store.origin().to_owned();
    let (base, epoch) = streha_core::epoch::split_epoch(&previous_origin)
        .ok_or("this log's origin names no valid epoch")?;
    if epoch >= streha_core::epoch::MAX_EPOCH {
        return Err("this log has reached the last epoch: give the agency a new id".into());
    }
    let origin = streha_core::epoch::epoch_origin(base, epoch + 1);
    if shared.store.tree_size() != restored {
        return Err("the log changed since recovery decided; refusing".into());
    }
    let declaration = streha_core::AuditEntry::LogRestored {
        previous_origin: streha_core::LogOrigin::new(previous_origin.as_str())
            .map_err(|e| e.to_string())?,
        restored_size: restored,
        restored_root: shared.store.root().to_bytes(),
        proven_note: note,
        // An independent witness has no agency id: the declaration then names this node,
        // and the witness is named by its cosignature in the proving note (`spec/entries.md`,
        // `log_restored`).
        proven_by: if independent {
            shared.agency.clone()
        } else {
            streha_core::AgencyId::new(witness.as_str()).map_err(|e| e.to_string())?
        },
        at: shared.now(),
    }
    .encode();
    let bundle = shared
        .store
        .export_bundle()
        .map_err(|e| format!("cannot export the restored log: {e}"))?
        .encode()
        .map_err(|e| format!("cannot encode the restored log: {e}"))?;
    let epochs = data_dir.join(EPOCHS_DIR);
    std::fs::create_dir_all(&epochs)
        .map_err(|e| format!("cannot create {}: {e}", epochs.display()))?;
    let bundle_path = epochs.join(format!("{epoch}.bundle"));
    write_durably(&bundle_path, &bundle)
        .map_err(|e| format!("cannot write {}: {e}", bundle_path.display()))?;
    let pending = PendingEpoch {
        previous_origin: previous_origin.clone(),
        origin: origin.clone(),
        declaration,
    };
    let pending_bytes = serde_json::to_vec(&pending).map_err(|e| e.to_string())?;
    write_durably(&data_dir.join(PENDING_EPOCH_FILE), &pending_bytes)
        .map_err(|e| format!("cannot write {PENDING_EPOCH_FILE}: {e}"))?;
    tracing::warn!(previous = %previous_origin, %origin, restored, proven, witness = %witness,
        "loss accepted by the operator: the node restarts and continues its log in a new epoch, declaring entries {restored}..{proven} lost");
    shared.restart.send_replace(true);
    Ok(RecoverReport {
        previous_origin,
        origin,
        restored,
        proven,
        proven_by: witness,
        bundle: bundle_path,
    })
}

/// The origin of the log in `data_dir` whose base origin is `base`: the high-water mark's,
/// if that is an epoch of `base`, else `base` (the store checks it when opened).
pub(crate) fn current_origin(data_dir: &std::path::Path, base: &str) -> String {
    streha_store::marked_origin(data_dir)
        .filter(
            |origin| matches!(streha_core::epoch::split_epoch(origin), Some((b, _)) if b == base),
        )
        .unwrap_or_else(|| base.to_owned())
}

/// Opens the node's store (`spec/audit-log.md` §9): in the epoch its data directory is in
/// (the high-water mark's origin, if it is an epoch of `base`), and first carries out an
/// accepted loss ([`PENDING_EPOCH_FILE`]): the log starts over under the new epoch's origin
/// and the declaration is appended as entry 0, then the restore marker and the pending file
/// are removed. Each step is durable before the next, and a crash between them is taken up
/// at the next start.
pub(crate) fn open_store(
    data_dir: &std::path::Path,
    base: &str,
    make_signer: impl Fn(&str) -> Result<streha_audit::NoteSigner, String>,
) -> Result<streha_store::Store, StartError> {
    use streha_store::Store;
    let dir_err = StartError::DataDir;
    let signer = |origin: &str| {
        make_signer(origin)
            .map_err(|e| StartError::DataDir(format!("`{origin}` is not a valid key name: {e}")))
    };
    let is_ours =
        |origin: &str| matches!(streha_core::epoch::split_epoch(origin), Some((b, _)) if b == base);
    let pending_path = data_dir.join(PENDING_EPOCH_FILE);
    let pending: Option<PendingEpoch> = match std::fs::read(&pending_path) {
        Ok(bytes) => Some(
            serde_json::from_slice(&bytes)
                .map_err(|e| dir_err(format!("{} is damaged: {e}", pending_path.display())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(dir_err(format!(
                "cannot read {}: {e}",
                pending_path.display()
            )));
        }
    };
    let Some(pending) = pending else {
        let origin = current_origin(data_dir, base);
        return Ok(Store::open(data_dir, &origin, signer(&origin)?)?);
    };
    if !is_ours(&pending.origin)
        || streha_core::epoch::previous_epoch_origin(&pending.origin).as_deref()
            != Some(pending.previous_origin.as_str())
    {
        return Err(dir_err(format!(
            "{} names another log's epoch",
            pending_path.display()
        )));
    }
    let store = match Store::open(
        data_dir,
        &pending.previous_origin,
        signer(&pending.previous_origin)?,
    ) {
        Ok(old) => old.start_new_epoch(&pending.origin, signer(&pending.origin)?)?,
        // Switched already (a crash after the switch): the new epoch's log.
        Err(_) => Store::open(data_dir, &pending.origin, signer(&pending.origin)?)?,
    };
    if store.tree_size() == 0 {
        let mut tx = streha_store::Transaction::new();
        tx.append(pending.declaration.clone());
        // What the witnesses cosigned of the old epoch is by size: it says nothing of the
        // new log (a size of the old one would be taken for a rollback, and a cosignature
        // kept for size n for one of the new log's checkpoint n).
        for ns in [state::COSIGNED_BY, state::COSIGNATURES] {
            for (key, _) in store.scan(ns, &[])? {
                tx.remove(ns, key);
            }
        }
        store.commit(tx)?;
    } else if store.entry(0)?.as_deref() != Some(pending.declaration.as_slice()) {
        return Err(dir_err(format!(
            "the log of {} does not begin with the accepted declaration; {} left in place",
            pending.origin,
            pending_path.display()
        )));
    }
    clear_marker(data_dir)
        .map_err(|e| dir_err(format!("cannot remove the restore marker: {e}")))?;
    std::fs::remove_file(&pending_path)
        .and_then(|()| std::fs::File::open(data_dir)?.sync_all())
        .map_err(|e| dir_err(format!("cannot remove {}: {e}", pending_path.display())))?;
    tracing::warn!(origin = %pending.origin, "the log continues in a new epoch; its entry 0 declares the loss");
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_checkpoint_of_this_log_signed_by_this_node_proves_a_size() {
        let origin = "fed.example/streha/shelter";
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let verifier = streha_audit::NoteVerifier::new(origin, key.verifying_key()).unwrap();
        let note = |origin: &str, key: &ed25519_dalek::SigningKey| {
            let signer = streha_audit::NoteSigner::new(origin, key.clone()).unwrap();
            let checkpoint =
                Checkpoint::new(origin.to_owned(), 42, streha_audit::Hash::from([7; 32])).unwrap();
            streha_audit::sign_checkpoint(&checkpoint, &signer).to_text()
        };
        let (size, root) = verify_own(&note(origin, &key), &verifier, origin).unwrap();
        assert_eq!((size, root), (42, streha_audit::Hash::from([7; 32])));
        // A peer forging a larger size with another key proves no loss.
        let forger = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
        assert!(verify_own(&note(origin, &forger), &verifier, origin).is_err());
        // Nor does a checkpoint of another log, even under this node's key.
        let other = "fed.example/streha/police";
        let other_verifier = streha_audit::NoteVerifier::new(other, key.verifying_key()).unwrap();
        assert!(verify_own(&note(other, &key), &other_verifier, origin).is_err());
        assert!(verify_own("not a note", &verifier, origin).is_err());
    }

    /// Issue 18.18: an accepted loss starts the log over under the next epoch's origin with
    /// the declaration as entry 0, keeps the state, clears the markers, and the epoch
    /// survives a restart (the high-water mark names it).
    #[test]
    fn an_accepted_loss_starts_the_next_epoch_and_a_restart_keeps_it() {
        use streha_store::{Namespace, Transaction};
        let dir = tempfile::tempdir().unwrap();
        let base = "fed.example/streha/shelter";
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let signer = |origin: &str| {
            streha_audit::NoteSigner::new(origin, key.clone()).map_err(|e| e.to_string())
        };
        const STATE: Namespace = Namespace::new(0x21);
        {
            let store = open_store(dir.path(), base, signer).unwrap();
            let mut tx = Transaction::new();
            tx.append(b"one".to_vec());
            tx.append(b"two".to_vec());
            tx.put(STATE, b"kept".to_vec(), b"state".to_vec());
            tx.put(
                state::COSIGNED_BY,
                b"police".to_vec(),
                2u64.to_be_bytes().to_vec(),
            );
            store.commit(tx).unwrap();
        }
        std::fs::write(dir.path().join(RESTORED_FILE), b"").unwrap();
        let pending = PendingEpoch {
            previous_origin: base.into(),
            origin: format!("{base}/epoch/2"),
            declaration: b"the declaration".to_vec(),
        };
        std::fs::write(
            dir.path().join(PENDING_EPOCH_FILE),
            serde_json::to_vec(&pending).unwrap(),
        )
        .unwrap();
        for _ in 0..2 {
            let store = open_store(dir.path(), base, signer).unwrap();
            assert_eq!(store.origin(), pending.origin);
            assert_eq!(store.tree_size(), 1);
            assert_eq!(store.entry(0).unwrap().unwrap(), pending.declaration);
            assert_eq!(store.get(STATE, b"kept").unwrap().unwrap(), b"state");
            // What a witness cosigned of the old epoch is forgotten.
            assert!(store.get(state::COSIGNED_BY, b"police").unwrap().is_none());
            assert!(!dir.path().join(PENDING_EPOCH_FILE).exists());
            assert!(!dir.path().join(RESTORED_FILE).exists());
        }
        // A pending epoch naming another log is refused, and changes nothing.
        let foreign = PendingEpoch {
            previous_origin: "fed.example/streha/police".into(),
            origin: "fed.example/streha/police/epoch/2".into(),
            declaration: vec![1],
        };
        std::fs::write(
            dir.path().join(PENDING_EPOCH_FILE),
            serde_json::to_vec(&foreign).unwrap(),
        )
        .unwrap();
        assert!(open_store(dir.path(), base, signer).is_err());
    }

    #[test]
    fn the_largest_cosigned_size_above_the_restored_one_is_a_loss() {
        let mut answers = std::collections::BTreeMap::new();
        answers.insert("a".to_owned(), None);
        assert_eq!(decide(5, &answers), Outcome::NothingLost);
        answers.insert("b".to_owned(), Some((5, "n5".to_owned())));
        answers.insert("c".to_owned(), Some((3, "n3".to_owned())));
        assert_eq!(decide(5, &answers), Outcome::NothingLost);
        answers.insert("d".to_owned(), Some((9, "n9".to_owned())));
        answers.insert("e".to_owned(), Some((7, "n7".to_owned())));
        assert_eq!(
            decide(5, &answers),
            Outcome::Lost {
                restored: 5,
                proven: 9,
                witness: "d".into(),
                note: "n9".into(),
                independent: false,
            }
        );
        // An independent witness that cosigned more proves the loss; one that cosigned as
        // much as a peer does not displace the peer.
        let mut witnesses = std::collections::BTreeMap::new();
        witnesses.insert("w.example/w".to_owned(), Some((9, "w9".to_owned())));
        witnesses.insert("down.example/w".to_owned(), None);
        assert_eq!(decide_all(5, &answers, &witnesses), decide(5, &answers));
        witnesses.insert("w.example/w".to_owned(), Some((11, "w11".to_owned())));
        assert_eq!(
            decide_all(5, &answers, &witnesses),
            Outcome::Lost {
                restored: 5,
                proven: 11,
                witness: "w.example/w".into(),
                note: "w11".into(),
                independent: true,
            }
        );
        let mut nothing = std::collections::BTreeMap::new();
        nothing.insert("a".to_owned(), Some((5, "n5".to_owned())));
        assert_eq!(
            decide_all(5, &nothing, &witnesses),
            Outcome::Lost {
                restored: 5,
                proven: 11,
                witness: "w.example/w".into(),
                note: "w11".into(),
                independent: true,
            }
        );
        witnesses.insert("w.example/w".to_owned(), Some((4, "w4".to_owned())));
        assert_eq!(decide_all(5, &nothing, &witnesses), Outcome::NothingLost);
    }
}
