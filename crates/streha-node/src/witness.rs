//! Witnessing between the federation's nodes, after C2SP tlog-witness and
//! tlog-cosignature.
//!
//! **Owner side** ([`run`]): after each receipt and on a timer, a node sends every other node
//! its latest checkpoint with a consistency proof from the size that node last cosigned, and
//! keeps the cosignature it gets back. Its *published* checkpoint is the latest one cosigned
//! by at least `witness.quorum` other nodes.
//!
//! **Witness side** ([`handle_witness`], [`handle_gossip`]): a node verifies the checkpoint
//! (signed by the owner's node key under its log origin) and the consistency proof from the
//! size it last cosigned, updates that size atomically, and answers with a timestamped
//! cosignature. A checkpoint that contradicts one it cosigned — same size and another root
//! (a fork), a smaller size (a rollback), or no consistency proof (a rewrite) — is refused,
//! kept as evidence (both signed checkpoints), raised as a security event and a metric, and
//! logged as a `witness alarm` entry in the witness's own log. Witnesses also gossip the
//! checkpoints they cosigned, so a node that shows different trees of the same size to
//! different witnesses is caught even if no single witness was shown both.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use streha_audit::{
    Checkpoint, CosignatureSigner, NoteSignature, SignedNote, open_checkpoint, verify_consistency,
};
use streha_core::{AuditEntry, LogOrigin};
use streha_store::Transaction;
use streha_wire::peer::{PeerRequest, PeerResponse, WitnessRequest};
use streha_wire::{AgencyEntry, Roster};
use tokio::sync::watch;

use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::peers::Peers;
use crate::shared::{Shared, agency_of_origin, cosignature_verifier, log_verifier};
use crate::state::{
    self, COSIGNATURES, COSIGNED_BY, EVIDENCE, Evidence, EvidenceKind, NODE_META, WITNESSED,
    WITNESSED_ROOTS, WitnessView,
};

/// Most checkpoints accepted in one gossip message (the wire's own cap).
const MAX_GOSSIP: usize = streha_wire::limits::MAX_GOSSIP_NOTES;

// ----- Witness side -------------------------------------------------------------------------

/// Verifies `note` as a checkpoint of `owner`'s log.
fn owner_checkpoint(
    roster: &Roster,
    owner: &AgencyEntry,
    note: &str,
) -> Result<Checkpoint, Failure> {
    let verifier = log_verifier(roster, owner)?;
    let (checkpoint, _) = open_checkpoint(note, std::slice::from_ref(&verifier)).map_err(|e| {
        Failure::Verification(format!(
            "the checkpoint is not signed by `{}`: {e}",
            owner.id
        ))
    })?;
    if checkpoint.origin() != owner.log_origin(roster.federation()) {
        return Err(Failure::Verification(format!(
            "the checkpoint is not for `{}`'s log",
            owner.id
        )));
    }
    Ok(checkpoint)
}

fn roots_key(origin: &str, size: u64) -> Vec<u8> {
    let mut key = origin.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&size.to_be_bytes());
    key
}

/// Answers a witnessing request from `owner`.
pub(crate) async fn handle_witness(
    shared: &Shared,
    owner: &AgencyEntry,
    request: WitnessRequest,
) -> Result<PeerResponse, Failure> {
    let roster = shared.roster();
    let checkpoint = owner_checkpoint(&roster, owner, &request.checkpoint)?;
    let origin = checkpoint.origin().to_owned();
    let _guard = shared.witness_lock.lock().await;
    if has_evidence(shared, &origin)? {
        return Err(Failure::Verification(format!(
            "this witness holds evidence that `{}`'s log forked or was rolled back; it cosigns nothing more of it",
            owner.id
        )));
    }
    let view: Option<WitnessView> = state::load(&shared.store, WITNESSED, origin.as_bytes())?;
    let root = checkpoint.root().to_bytes();
    if let Some(view) = &view {
        if checkpoint.size() < view.size {
            return alarm(
                shared,
                &origin,
                EvidenceKind::Rollback,
                view,
                &request.checkpoint,
                &checkpoint,
            )
            .await;
        }
        if checkpoint.size() == view.size && root != view.root {
            return alarm(
                shared,
                &origin,
                EvidenceKind::Fork,
                view,
                &request.checkpoint,
                &checkpoint,
            )
            .await;
        }
    }
    let seen = view.as_ref().map_or(0, |v| v.size);
    if checkpoint.size() > seen {
        if request.old_size != seen {
            return Ok(PeerResponse::WitnessConflict { size: seen });
        }
        if let Some(view) = &view {
            let old_root = streha_audit::Hash::from_bytes(view.root);
            if verify_consistency(
                seen,
                checkpoint.size(),
                &old_root,
                checkpoint.root(),
                &request.proof,
            )
            .is_err()
            {
                return alarm(
                    shared,
                    &origin,
                    EvidenceKind::Inconsistent,
                    view,
                    &request.checkpoint,
                    &checkpoint,
                )
                .await;
            }
        }
        let new_view = WitnessView {
            size: checkpoint.size(),
            root,
            note: request.checkpoint.clone(),
        };
        let mut tx = Transaction::new();
        tx.put(
            WITNESSED_ROOTS,
            roots_key(&origin, checkpoint.size()),
            state::encode(&new_view),
        )
        .put(
            WITNESSED,
            origin.as_bytes().to_vec(),
            state::encode(&new_view),
        );
        shared.commit(tx).await?;
    }
    let signer = CosignatureSigner::new(&shared.origin, shared.node_key.as_dalek().clone())
        .map_err(|e| Failure::Internal(format!("cannot build the cosigner: {e}")))?;
    let timestamp = shared.now().unix_millis() / 1000;
    let line = signer
        .cosign(checkpoint.to_body().as_str(), timestamp)
        .map_err(|e| Failure::Internal(format!("cannot cosign: {e}")))?
        .to_line();
    Ok(PeerResponse::Cosigned(line))
}

/// Compares gossiped checkpoints with the ones this node cosigned.
pub(crate) async fn handle_gossip(
    shared: &Shared,
    notes: Vec<String>,
) -> Result<PeerResponse, Failure> {
    if notes.len() > MAX_GOSSIP {
        return Err(Failure::BadRequest(format!(
            "at most {MAX_GOSSIP} checkpoints per gossip message"
        )));
    }
    let roster = shared.roster();
    for note in notes {
        let Ok(parsed) = SignedNote::parse(&note) else {
            continue;
        };
        let Ok(body) = Checkpoint::parse_body(parsed.body()) else {
            continue;
        };
        if body.origin() == shared.origin {
            continue;
        }
        let Some(owner) = agency_of_origin(&roster, body.origin()) else {
            continue;
        };
        // Only checkpoints genuinely signed by the log's owner are evidence of anything.
        let Ok(checkpoint) = owner_checkpoint(&roster, &owner, &note) else {
            continue;
        };
        let origin = checkpoint.origin().to_owned();
        let _guard = shared.witness_lock.lock().await;
        if has_evidence(shared, &origin)? {
            continue;
        }
        let ours: Option<WitnessView> = state::load(
            &shared.store,
            WITNESSED_ROOTS,
            &roots_key(&origin, checkpoint.size()),
        )?;
        if let Some(ours) = ours
            && &ours.root != checkpoint.root().as_bytes()
        {
            // The alarm's refusal is for the offering party; gossip itself succeeded.
            let _ = alarm(
                shared,
                &origin,
                EvidenceKind::Fork,
                &ours,
                &note,
                &checkpoint,
            )
            .await;
        }
    }
    Ok(PeerResponse::GossipReceived)
}

fn has_evidence(shared: &Shared, origin: &str) -> Result<bool, Failure> {
    let mut prefix = origin.as_bytes().to_vec();
    prefix.push(0);
    Ok(!shared.store.scan(EVIDENCE, &prefix)?.is_empty())
}

/// Keeps the evidence, logs a `witness alarm`, raises the metric; refuses the checkpoint.
async fn alarm(
    shared: &Shared,
    origin: &str,
    kind: EvidenceKind,
    seen: &WitnessView,
    offered_note: &str,
    offered: &Checkpoint,
) -> Result<PeerResponse, Failure> {
    let at = shared.now();
    tracing::error!(
        log = origin,
        kind = ?kind,
        seen_size = seen.size,
        offered_size = offered.size(),
        "security event: a log contradicts a checkpoint this node cosigned; evidence kept"
    );
    shared.metrics.fork_alarms.fetch_add(1, Ordering::Relaxed);
    let origin_id = LogOrigin::new(origin)
        .map_err(|e| Failure::Internal(format!("log origin not representable: {e}")))?;
    let mut key = origin.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&at.unix_millis().to_be_bytes());
    let mut tx = Transaction::new();
    tx.append(
        AuditEntry::WitnessAlarm {
            origin: origin_id,
            size: seen.size,
            root_a: seen.root,
            root_b: offered.root().to_bytes(),
            at,
        }
        .encode(),
    )
    .put(
        EVIDENCE,
        key,
        state::encode(&Evidence {
            kind,
            first: seen.note.clone(),
            second: offered_note.to_owned(),
            at,
        }),
    );
    shared.commit(tx).await?;
    Err(Failure::Verification(format!(
        "the checkpoint contradicts one this witness cosigned ({kind:?}); the evidence is kept"
    )))
}

// ----- Owner side ---------------------------------------------------------------------------

/// Asks every other node to cosign the latest checkpoint, then gossips; repeats after each
/// wake-up (a receipt) or each interval, until `shutdown`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    peers: Arc<Peers>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Receipts wake the worker, but rounds are spaced at least this far apart, so that a busy
    // node asks for one cosignature per burst of receipts, not one per receipt.
    let min_gap = shared
        .witness
        .interval
        .min(std::time::Duration::from_secs(1))
        / 2;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let started = tokio::time::Instant::now();
        // A round waits on peers that may be down; shutdown must not wait for it.
        tokio::select! {
            () = round(&shared, &peers) => {}
            _ = shutdown.changed() => break,
        }
        tokio::select! {
            () = shared.witness_wake.notified() => {
                tokio::select! {
                    () = tokio::time::sleep_until(started + min_gap) => {}
                    _ = shutdown.changed() => break,
                }
            }
            () = tokio::time::sleep(shared.witness.interval) => {}
            _ = shutdown.changed() => break,
        }
    }
}

async fn round(shared: &Arc<Shared>, peers: &Arc<Peers>) {
    let roster = shared.roster();
    let gossip = witnessed_notes(shared).unwrap_or_default();
    // Peers are asked concurrently, so one that is down does not delay the others.
    let mut tasks = tokio::task::JoinSet::new();
    for peer in roster
        .agencies()
        .iter()
        .filter(|a| a.id != shared.agency)
        .cloned()
    {
        let (shared, peers, roster, gossip) = (
            Arc::clone(shared),
            Arc::clone(peers),
            Arc::clone(&roster),
            gossip.clone(),
        );
        tasks.spawn(async move {
            let reached = match witness_with(&shared, &peers, &roster, &peer).await {
                Ok(()) => true,
                Err(problem) => {
                    tracing::debug!(peer = %peer.id, %problem, "witnessing round incomplete");
                    false
                }
            };
            if !gossip.is_empty() {
                let _ = peers
                    .request(&shared, &peer, &PeerRequest::Gossip(gossip))
                    .await;
            }
            reached
        });
    }
    let mut reachable = 0u64;
    while let Some(result) = tasks.join_next().await {
        if matches!(result, Ok(true)) {
            reachable += 1;
        }
    }
    shared
        .metrics
        .peers_reachable
        .store(reachable, Ordering::Relaxed);
}

/// The latest checkpoint of each log this node cosigned.
fn witnessed_notes(shared: &Shared) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for (_, value) in shared
        .store
        .scan(WITNESSED, &[])?
        .into_iter()
        .take(MAX_GOSSIP)
    {
        if let Ok(view) = postcard::from_bytes::<WitnessView>(&value) {
            out.push(view.note);
        }
    }
    Ok(out)
}

async fn witness_with(
    shared: &Shared,
    peers: &Peers,
    roster: &Roster,
    peer: &AgencyEntry,
) -> Result<(), String> {
    let Some(checkpoint) = shared.store.latest_checkpoint() else {
        return Ok(());
    };
    let mut old_size = state::load_index(&shared.store, COSIGNED_BY, peer.id.as_str().as_bytes())
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    if old_size == checkpoint.size {
        return Ok(());
    }
    // One retry after a conflict, with a proof from the size the witness says it has.
    for _ in 0..2 {
        if old_size > checkpoint.size {
            tracing::error!(peer = %peer.id, witness_size = old_size, our_size = checkpoint.size,
                "security event: a witness has cosigned more of this log than this node holds; was the store rolled back?");
            return Err("the witness is ahead of this log".into());
        }
        let proof = shared
            .store
            .consistency_proof(old_size, checkpoint.size)
            .map_err(|e| e.to_string())?;
        let request = PeerRequest::Witness(Box::new(WitnessRequest {
            old_size,
            proof,
            checkpoint: checkpoint.note.clone(),
        }));
        match peers.request(shared, peer, &request).await? {
            PeerResponse::Cosigned(line) => {
                return keep_cosignature(shared, roster, peer, &checkpoint, &line)
                    .await
                    .map_err(|e| e.to_string());
            }
            PeerResponse::WitnessConflict { size } => old_size = size,
            PeerResponse::Error(error) => return Err(error.to_string()),
            _ => return Err("unexpected answer to a witnessing request".into()),
        }
    }
    Err("the witness kept reporting another size".into())
}

async fn keep_cosignature(
    shared: &Shared,
    roster: &Roster,
    peer: &AgencyEntry,
    checkpoint: &streha_store::StoredCheckpoint,
    line: &str,
) -> Result<(), Failure> {
    let signature = NoteSignature::from_line(line).map_err(|e| {
        Failure::Verification(format!("malformed cosignature from `{}`: {e}", peer.id))
    })?;
    let mut note = SignedNote::parse(&checkpoint.note)
        .map_err(|e| Failure::Internal(format!("own checkpoint does not parse: {e}")))?;
    note.add_signature(signature)
        .map_err(|e| Failure::Verification(format!("cosignature from `{}`: {e}", peer.id)))?;
    let verifier = cosignature_verifier(roster, peer)?;
    let verified = note.verify(std::slice::from_ref(&verifier)).map_err(|e| {
        Failure::Verification(format!(
            "cosignature from `{}` does not verify: {e}",
            peer.id
        ))
    })?;
    if verified.signers().is_empty() {
        return Err(Failure::Verification(format!(
            "the cosignature is not by `{}`",
            peer.id
        )));
    }
    let mut key = checkpoint.size.to_be_bytes().to_vec();
    key.extend_from_slice(peer.id.as_str().as_bytes());
    let mut tx = Transaction::new();
    tx.put(COSIGNATURES, key, line.as_bytes().to_vec()).put(
        COSIGNED_BY,
        peer.id.as_str().as_bytes().to_vec(),
        checkpoint.size.to_be_bytes().to_vec(),
    );
    let cosigners = shared
        .store
        .scan(COSIGNATURES, &checkpoint.size.to_be_bytes())?
        .iter()
        .filter(|(k, _)| &k[8..] != peer.id.as_str().as_bytes())
        .count()
        + 1;
    let published = state::load_index(&shared.store, NODE_META, b"published")?.unwrap_or(0);
    if cosigners >= shared.witness.quorum && checkpoint.size > published {
        tx.put(
            NODE_META,
            b"published".to_vec(),
            checkpoint.size.to_be_bytes().to_vec(),
        );
    }
    shared.commit(tx).await?;
    Metrics::bump(&shared.metrics.cosignatures_received);
    shared.metrics.cosigned(&peer.id);
    Ok(())
}

/// The published checkpoint: the latest one cosigned by at least the quorum, with every
/// cosignature it has, as signed-note text.
pub(crate) fn published_checkpoint(shared: &Shared) -> Result<Option<(u64, String)>, Failure> {
    let Some(size) = state::load_index(&shared.store, NODE_META, b"published")? else {
        return Ok(None);
    };
    let note = shared
        .store
        .checkpoint_at(size)?
        .ok_or_else(|| Failure::Internal(format!("the published checkpoint {size} is missing")))?;
    let mut note = SignedNote::parse(&note)
        .map_err(|e| Failure::Internal(format!("a stored checkpoint does not parse: {e}")))?;
    for (_, line) in shared.store.scan(COSIGNATURES, &size.to_be_bytes())? {
        let line = String::from_utf8_lossy(&line);
        if let Ok(signature) = NoteSignature::from_line(&line) {
            let _ = note.add_signature(signature);
        }
    }
    Ok(Some((size, note.to_text())))
}
