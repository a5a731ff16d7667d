//! Witnessing between the federation's nodes, after C2SP tlog-witness and
//! tlog-cosignature.
//!
//! **Owner side** ([`run`]): after each receipt and on a timer, a node sends every other node
//! its latest checkpoint with a consistency proof from the size that node last cosigned, and
//! keeps the cosignature it gets back. Its *published* checkpoint is the latest one cosigned
//! by at least `witness.quorum` other nodes. Every checkpoint of its own log it serves to its
//! applications carries the cosignatures it holds for it ([`with_cosignatures`]), so that
//! exported bundles and proofs can be checked offline with witnesses required. A peer counts
//! as reachable only if it answered in the last round (a witnessing request or gossip).
//!
//! **Witness side** ([`handle_witness`], [`handle_gossip`]): a node verifies the checkpoint
//! (signed by the owner's node key under its log origin, with no forged signature line under
//! another node's name) and the consistency proof from the size it last cosigned, updates
//! that size atomically, and answers with a timestamped cosignature. A checkpoint that
//! contradicts one it cosigned — same size and another root (a fork), a smaller size (a
//! rollback), or no consistency proof (a rewrite) — is refused
//! ([`PeerResponse::WitnessRefused`]), kept as evidence (both signed checkpoints), raised as
//! a security event and a metric, and logged as a `witness_alarm` entry (with its kind and
//! both sizes) in the witness's own log. Witnesses also gossip the checkpoints they cosigned,
//! so a node that shows different trees of the same size to different witnesses is caught
//! even if no single witness was shown both.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use streha_audit::{Checkpoint, CosignatureSigner, NoteSignature, SignedNote};
use streha_core::{
    AgencyId, AuditEntry, LogOrigin, MAX_WITNESSED_PER_ENTRY, WitnessAlarmKind, WitnessedCheckpoint,
};
use streha_store::Transaction;
use streha_wire::peer::{NewEpochRequest, PeerRequest, PeerResponse, WitnessRequest};
use streha_wire::{AgencyEntry, IndependentWitness, Roster};
use streha_witness::client::{Answer, Tls};
use streha_witness::rules::{
    self, KEPT_ROOTS_PER_LOG, Latest, LogKeys, MAX_WITNESS_NOTE_LEN, NoteRefusal, Opened,
    Submitter, Verdict,
};
use tokio::sync::watch;

use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::peers::Peers;
use crate::shared::{Shared, agency_of_origin, cosignature_verifier, log_verifier};
use crate::state::{
    self, COSIGNATURES, COSIGNED_BY, EVIDENCE, Evidence, NODE_META, WITNESSED, WITNESSED_ROOTS,
    WitnessView,
};

/// Most checkpoints accepted in one gossip message (the wire's own cap).
const MAX_GOSSIP: usize = streha_wire::limits::MAX_GOSSIP_NOTES;

/// The most signature lines on a gossiped checkpoint: honest witnesses gossip the body with
/// the log owner's signature only, so more is refused before any signature is checked.
pub(crate) const MAX_GOSSIP_NOTE_SIGNATURES: usize = 4;

/// Witnessing requests and gossip messages per second one peer may send this node,
/// sustained. An honest node sends one of each per witnessing round (at most a few a
/// second); more is refused (`Unavailable`, counted as `rate`) until the budget refills.
pub(crate) const WITNESS_REQUESTS_PER_SECOND: u32 = 20;

/// The burst of witnessing requests and gossip messages one peer may send at once.
pub(crate) const WITNESS_REQUEST_BURST: u32 = 40;

/// Each peer's budget of witness-side work: a token bucket of requests, and one
/// verification at a time (on a blocking thread), so that no peer can take more than one
/// thread's worth of signature checks, whatever it sends.
#[derive(Debug, Default)]
pub(crate) struct WitnessBudget {
    peers: std::sync::Mutex<std::collections::HashMap<AgencyId, PeerBudget>>,
}

#[derive(Debug)]
struct PeerBudget {
    tokens: f64,
    at: std::time::Instant,
    verifying: Arc<tokio::sync::Semaphore>,
}

impl WitnessBudget {
    /// Takes one request from `peer`'s budget. `None` if it is spent; otherwise the
    /// semaphore to hold while its checkpoints are verified.
    fn admit(&self, peer: &AgencyId) -> Option<Arc<tokio::sync::Semaphore>> {
        let now = std::time::Instant::now();
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Peers are roster agencies, so the map is bounded by the roster; one that left is
        // forgotten when the map outgrows it.
        if peers.len() > streha_wire::roster::MAX_ROSTER_AGENCIES {
            peers.clear();
        }
        let budget = peers.entry(peer.clone()).or_insert_with(|| PeerBudget {
            tokens: f64::from(WITNESS_REQUEST_BURST),
            at: now,
            verifying: Arc::new(tokio::sync::Semaphore::new(1)),
        });
        let refill =
            now.duration_since(budget.at).as_secs_f64() * f64::from(WITNESS_REQUESTS_PER_SECOND);
        budget.tokens = (budget.tokens + refill).min(f64::from(WITNESS_REQUEST_BURST));
        budget.at = now;
        if budget.tokens < 1.0 {
            return None;
        }
        budget.tokens -= 1.0;
        Some(Arc::clone(&budget.verifying))
    }
}

/// Admits a request of `peer` (see [`WitnessBudget`]), or refuses it.
async fn admit(
    shared: &Shared,
    peer: &AgencyId,
) -> Result<tokio::sync::OwnedSemaphorePermit, Failure> {
    let refused = || {
        shared.metrics.witness_refused("rate");
        Failure::Unavailable(format!(
            "too many witnessing requests from `{peer}` (at most {WITNESS_REQUESTS_PER_SECOND} a second); retry in the next round"
        ))
    };
    let verifying = shared.witness_budget.admit(peer).ok_or_else(refused)?;
    verifying.acquire_owned().await.map_err(|_| refused())
}

// ----- Witness side -------------------------------------------------------------------------

/// Who this node trusts for `owner`'s log: the owner's node key under its origin; every
/// roster node's name is guarded (a line under it must be that node's valid signature or
/// cosignature, or the checkpoint is forged); other names are ignored, as C2SP signed-note
/// says.
fn log_keys(roster: &Roster, owner: &AgencyEntry) -> Result<LogKeys, Failure> {
    let mut keys = LogKeys {
        origin: owner.log_origin(roster.federation()),
        log: vec![log_verifier(roster, owner)?],
        guarded_names: Vec::with_capacity(roster.agencies().len()),
        known: Vec::with_capacity(2 * roster.agencies().len()),
    };
    for agency in roster.agencies() {
        keys.guarded_names
            .push(agency.log_origin(roster.federation()));
        if agency.id != owner.id {
            keys.known.push(log_verifier(roster, agency)?);
        }
        keys.known.push(cosignature_verifier(roster, agency)?);
    }
    Ok(keys)
}

/// [`log_keys`] for `origin`, a log epoch of `owner` (`spec/audit-log.md` §9): the same
/// node key under the epoch's origin, which is guarded too.
fn epoch_keys(roster: &Roster, owner: &AgencyEntry, origin: &str) -> Result<LogKeys, Failure> {
    let mut keys = log_keys(roster, owner)?;
    if origin != keys.origin {
        keys.log = vec![
            streha_audit::NoteVerifier::new(origin, *owner.node_key.as_dalek()).map_err(|e| {
                Failure::Internal(format!("cannot build a verifier for `{origin}`: {e}"))
            })?,
        ];
        keys.origin = origin.to_owned();
        keys.guarded_names.push(origin.to_owned());
    }
    Ok(keys)
}

/// The origin a checkpoint note names, if it parses (the note is verified afterwards).
fn named_origin(note: &str) -> Option<String> {
    let parsed = SignedNote::parse(note).ok()?;
    Checkpoint::parse_body(parsed.body())
        .ok()
        .map(|c| c.origin().to_owned())
}

/// [`open_note`] on a blocking thread (signature checks are CPU work that must not hold up
/// the async threads serving applications), remembered so that a note gossiped every round
/// is verified once.
async fn open_owner_note(
    shared: &Shared,
    keys: LogKeys,
    note: String,
) -> Result<Opened, NoteRefusal> {
    let memory = Arc::clone(&shared.verified_checkpoints);
    tokio::task::spawn_blocking(move || memory.open_witness_note(&note, &keys))
        .await
        .unwrap_or_else(|_| {
            Err(NoteRefusal::Malformed(
                "the checkpoint check did not finish".into(),
            ))
        })
}

fn refusal_failure(shared: &Shared, refusal: NoteRefusal, owner: &AgencyId) -> Failure {
    shared.metrics.witness_refused(refusal_reason(&refusal));
    match refusal {
        NoteRefusal::Forged { name } => Failure::Verification(format!(
            "the checkpoint carries a signature line under `{name}` that is not a valid signature by that node's key: a forged signature; the checkpoint is refused and nothing of it was kept"
        )),
        NoteRefusal::NotSigned { .. } | NoteRefusal::WrongOrigin { .. } => Failure::Verification(
            format!("the checkpoint is not signed by `{owner}` for its log: {refusal}"),
        ),
        other => Failure::BadRequest(other.to_string()),
    }
}

/// The metric label of a refused checkpoint.
fn refusal_reason(refusal: &NoteRefusal) -> &'static str {
    match refusal {
        NoteRefusal::Forged { .. } => "forged",
        NoteRefusal::NotSigned { .. } | NoteRefusal::WrongOrigin { .. } => "unsigned",
        _ => "malformed",
    }
}

fn roots_key(origin: &str, size: u64) -> Vec<u8> {
    let mut key = origin.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&size.to_be_bytes());
    key
}

/// Answers a witnessing request from `owner`: the rules of [`streha_witness::rules`], with
/// the check and the update of the latest cosigned size under one lock and one commit.
pub(crate) async fn handle_witness(
    shared: &Shared,
    owner: &AgencyEntry,
    request: WitnessRequest,
) -> Result<PeerResponse, Failure> {
    let permit = admit(shared, &owner.id).await?;
    let roster = shared.roster();
    // A later epoch of the owner's log is witnessed here only once its declaration was
    // accepted ([`handle_witness_new_epoch`]); before, it is a log started over without
    // saying what it lost.
    let keys = match named_origin(&request.checkpoint)
        .and_then(|origin| Some((owner.epoch_of(roster.federation(), &origin)?, origin)))
    {
        Some((epoch, origin)) if epoch > streha_core::epoch::FIRST_EPOCH => {
            let accepted: Option<WitnessView> =
                state::load(&shared.store, WITNESSED, origin.as_bytes())?;
            if accepted.is_none() {
                shared.metrics.witness_refused("undeclared_epoch");
                tracing::error!(log = %owner.id, origin = %origin,
                    "security event: a new epoch of a peer's log offered without its declaration of what the previous epoch lost; refused");
                return Err(Failure::Verification(format!(
                    "`{origin}` is a new epoch of `{}`'s log; it is witnessed only after its declaration (WitnessNewEpoch)",
                    owner.id
                )));
            }
            epoch_keys(&roster, owner, &origin)?
        }
        _ => log_keys(&roster, owner)?,
    };
    let opened = open_owner_note(shared, keys, request.checkpoint)
        .await
        .map_err(|refusal| refusal_failure(shared, refusal, &owner.id))?;
    drop(permit);
    let checkpoint = &opened.checkpoint;
    let origin = checkpoint.origin().to_owned();
    let _guard = shared.witness_lock.lock().await;
    let view: Option<WitnessView> = state::load(&shared.store, WITNESSED, origin.as_bytes())?;
    if let Some(kind) = held_evidence(shared, &origin)? {
        return Ok(PeerResponse::WitnessRefused {
            kind,
            cosigned_size: view.as_ref().map_or(0, |v| v.size),
        });
    }
    let latest = view.as_ref().map(|v| Latest {
        size: v.size,
        root: streha_audit::Hash::from_bytes(v.root),
    });
    match rules::judge(
        latest.as_ref(),
        request.old_size,
        &request.proof,
        checkpoint,
        Submitter::Owner,
    ) {
        Verdict::Cosign { advance } => {
            if advance {
                let mut tx = witnessed(&origin, checkpoint, &opened.kept_note);
                forget_old_roots(shared, &origin, &mut tx)?;
                shared.commit(tx).await?;
            }
        }
        Verdict::StaleOldSize { latest } => {
            return Ok(PeerResponse::WitnessConflict { size: latest });
        }
        Verdict::OldSizeAboveCheckpoint => {
            return Err(Failure::BadRequest(format!(
                "the old size {} is above the checkpoint's size {}",
                request.old_size,
                checkpoint.size()
            )));
        }
        Verdict::BadProof => {
            return Err(Failure::BadRequest(
                "the consistency proof does not verify".into(),
            ));
        }
        Verdict::Contradiction(kind) => {
            let Some(view) = &view else {
                return Err(Failure::Internal(
                    "a contradiction with no cosigned checkpoint".into(),
                ));
            };
            return alarm(shared, &origin, kind, view, &opened.kept_note, checkpoint).await;
        }
    }
    let signer = CosignatureSigner::new(&shared.origin, shared.node_key.as_dalek().clone())
        .map_err(|e| Failure::Internal(format!("cannot build the cosigner: {e}")))?;
    let timestamp = shared.now().unix_millis() / 1000;
    let line = rules::cosign(&signer, checkpoint, timestamp)
        .map_err(|e| Failure::Internal(format!("cannot cosign: {e}")))?
        .to_line();
    Ok(PeerResponse::Cosigned(line))
}

/// Answers the first checkpoint of a new epoch of `owner`'s log with its declaration
/// (`spec/protocol.md` §9, "A new epoch"): judged by [`rules::judge_new_epoch`] against the
/// latest checkpoint of the previous epoch this node cosigned, which it keeps. Accepted, the
/// new epoch is cosigned and witnessed from then on as any log; refused while this node had
/// cosigned the previous epoch, it is a rollback (evidence, `witness_alarm`, metrics).
pub(crate) async fn handle_witness_new_epoch(
    shared: &Shared,
    owner: &AgencyEntry,
    request: NewEpochRequest,
) -> Result<PeerResponse, Failure> {
    let permit = admit(shared, &owner.id).await?;
    let roster = shared.roster();
    let federation = roster.federation();
    let Some(origin) = named_origin(&request.checkpoint) else {
        return Err(Failure::BadRequest(
            "the new epoch's checkpoint is malformed".into(),
        ));
    };
    let Some(previous) = owner
        .epoch_of(federation, &origin)
        .and_then(|_| streha_core::epoch::previous_epoch_origin(&origin))
    else {
        return Err(Failure::BadRequest(format!(
            "`{origin}` is not a new epoch of `{}`'s log",
            owner.id
        )));
    };
    let opened = open_owner_note(
        shared,
        epoch_keys(&roster, owner, &origin)?,
        request.checkpoint,
    )
    .await
    .map_err(|refusal| refusal_failure(shared, refusal, &owner.id))?;
    drop(permit);
    let checkpoint = &opened.checkpoint;
    let previous_keys = epoch_keys(&roster, owner, &previous)?;
    let _guard = shared.witness_lock.lock().await;
    if let Some(kind) = held_evidence(shared, &previous)? {
        let seen: Option<WitnessView> = state::load(&shared.store, WITNESSED, previous.as_bytes())?;
        return Ok(PeerResponse::WitnessRefused {
            kind,
            cosigned_size: seen.map_or(0, |v| v.size),
        });
    }
    let accepted: Option<WitnessView> = state::load(&shared.store, WITNESSED, origin.as_bytes())?;
    if let Some(accepted) = accepted {
        // Asked again (an answer lost): the same checkpoint is cosigned again; anything
        // else goes through `Witness`.
        if accepted.size != checkpoint.size() || accepted.root != checkpoint.root().to_bytes() {
            return Err(Failure::BadRequest(format!(
                "the declaration of `{origin}` was accepted already; witness its later checkpoints with Witness"
            )));
        }
    } else {
        let seen: Option<WitnessView> = state::load(&shared.store, WITNESSED, previous.as_bytes())?;
        let cosigned = seen.as_ref().map(|v| Latest {
            size: v.size,
            root: streha_audit::Hash::from_bytes(v.root),
        });
        // What this node keeps of the previous epoch as delivery evidence counts as what it
        // cosigned: a declaration may hide neither (`spec/audit-log.md` §9).
        let kept =
            crate::recovery::largest_kept_of_peer(shared, owner, &previous)?.map(|(kept, _)| {
                Latest {
                    size: kept.size,
                    root: streha_audit::Hash::from_bytes(kept.root),
                }
            });
        let latest = rules::latest_seen(cosigned, kept);
        match rules::judge_new_epoch(
            checkpoint,
            Some((&request.declaration, &request.proof)),
            &previous_keys,
            latest.as_ref(),
        ) {
            Ok(loss) => {
                tracing::warn!(log = %owner.id, previous = %loss.previous_origin, new = %origin,
                    restored = loss.restored_size, proven = loss.proven_size, proven_by = %loss.proven_by,
                    "a peer restored its log with a declared loss: entries {}..{} of `{}` declared lost; its new epoch is witnessed from now on (this node keeps the previous epoch's last cosigned checkpoint)",
                    loss.restored_size, loss.proven_size, loss.previous_origin);
                shared
                    .commit(witnessed(&origin, checkpoint, &opened.kept_note))
                    .await?;
            }
            Err(refusal) => {
                shared.metrics.witness_refused("undeclared_epoch");
                tracing::error!(log = %owner.id, origin = %origin, %refusal,
                    "security event: a new epoch of a peer's log with a declaration that does not hold; refused");
                if let Some(seen) = &seen {
                    return alarm(
                        shared,
                        &previous,
                        WitnessAlarmKind::Rollback,
                        seen,
                        &opened.kept_note,
                        checkpoint,
                    )
                    .await;
                }
                return Err(Failure::Verification(format!(
                    "the declaration of `{origin}` does not hold: {refusal}"
                )));
            }
        }
    }
    let signer = CosignatureSigner::new(&shared.origin, shared.node_key.as_dalek().clone())
        .map_err(|e| Failure::Internal(format!("cannot build the cosigner: {e}")))?;
    let timestamp = shared.now().unix_millis() / 1000;
    let line = rules::cosign(&signer, checkpoint, timestamp)
        .map_err(|e| Failure::Internal(format!("cannot cosign: {e}")))?
        .to_line();
    Ok(PeerResponse::Cosigned(line))
}

/// The writes that make `checkpoint` of log `origin` (kept as `note`) the latest this node
/// cosigned: its root by size (for the fork check) and the latest view.
fn witnessed(origin: &str, checkpoint: &Checkpoint, note: &str) -> Transaction {
    let view = WitnessView {
        size: checkpoint.size(),
        root: checkpoint.root().to_bytes(),
        note: note.to_owned(),
    };
    let mut tx = Transaction::new();
    tx.put(
        WITNESSED_ROOTS,
        roots_key(origin, checkpoint.size()),
        state::encode(&view),
    )
    .put(WITNESSED, origin.as_bytes().to_vec(), state::encode(&view));
    tx
}

/// Adds to `tx` the removal of the roots of `origin` beyond the [`KEPT_ROOTS_PER_LOG`]
/// newest (the one `tx` adds counts among them): fork detection by gossip needs recent
/// sizes only, and a log that grows fast must not grow its witnesses' stores without end.
fn forget_old_roots(shared: &Shared, origin: &str, tx: &mut Transaction) -> Result<(), Failure> {
    let mut prefix = origin.as_bytes().to_vec();
    prefix.push(0);
    let kept = shared.store.scan(WITNESSED_ROOTS, &prefix)?;
    let excess = (kept.len() + 1).saturating_sub(KEPT_ROOTS_PER_LOG);
    for (key, _) in kept.into_iter().take(excess) {
        tx.remove(WITNESSED_ROOTS, key);
    }
    Ok(())
}

/// Compares gossiped checkpoints with the ones this node cosigned.
pub(crate) async fn handle_gossip(
    shared: &Shared,
    peer: &AgencyEntry,
    notes: Vec<String>,
) -> Result<PeerResponse, Failure> {
    if notes.len() > MAX_GOSSIP {
        return Err(Failure::BadRequest(format!(
            "at most {MAX_GOSSIP} checkpoints per gossip message"
        )));
    }
    // One message, one request of the peer's budget; its notes are verified one at a time.
    let _permit = admit(shared, &peer.id).await?;
    let roster = shared.roster();
    // An honest witness gossips one checkpoint per log: the first of each origin is looked
    // at, so a message costs at most one verification of a few lines per roster agency.
    let mut origins = std::collections::HashSet::new();
    for note in notes {
        let malformed = || shared.metrics.witness_refused("malformed");
        if note.len() > MAX_WITNESS_NOTE_LEN {
            malformed();
            continue;
        }
        let Ok(parsed) = SignedNote::parse(&note) else {
            malformed();
            continue;
        };
        let Ok(body) = Checkpoint::parse_body(parsed.body()) else {
            malformed();
            continue;
        };
        if parsed.signatures().len() > MAX_GOSSIP_NOTE_SIGNATURES
            || !origins.insert(body.origin().to_owned())
        {
            malformed();
            continue;
        }
        if body.origin() == shared.origin {
            continue;
        }
        let Some(owner) = agency_of_origin(&roster, body.origin()) else {
            continue;
        };
        // Only checkpoints genuinely signed by the log's owner are evidence of anything, and
        // one carrying a forged signature comes from a dishonest peer (honest witnesses
        // gossip checkpoints with the owner's signature only): it is ignored.
        let opened = match open_owner_note(shared, log_keys(&roster, &owner)?, note).await {
            Ok(opened) => opened,
            Err(NoteRefusal::Forged { name }) => {
                shared.metrics.witness_refused("forged");
                tracing::warn!(log = %owner.id, signer = %name,
                    "a gossiped checkpoint carries a forged signature; ignored");
                continue;
            }
            Err(refusal) => {
                shared.metrics.witness_refused(refusal_reason(&refusal));
                continue;
            }
        };
        let checkpoint = &opened.checkpoint;
        let origin = checkpoint.origin().to_owned();
        let _guard = shared.witness_lock.lock().await;
        if held_evidence(shared, &origin)?.is_some() {
            continue;
        }
        let ours: Option<WitnessView> = state::load(
            &shared.store,
            WITNESSED_ROOTS,
            &roots_key(&origin, checkpoint.size()),
        )?;
        let ours_root = ours
            .as_ref()
            .map(|o| streha_audit::Hash::from_bytes(o.root));
        if let (Some(kind), Some(ours)) =
            (rules::judge_gossip(ours_root.as_ref(), checkpoint), &ours)
        {
            // The refusal is for the log's owner, should it ask; the gossiping peer is told
            // only that its gossip was received. A failure to keep the evidence is not hidden.
            alarm(shared, &origin, kind, ours, &opened.kept_note, checkpoint).await?;
        }
    }
    Ok(PeerResponse::GossipReceived)
}

/// Warns, loudly, when the quorum is larger than the number of other agencies in the
/// roster in use: no checkpoint can be published until the roster grows or the quorum is
/// lowered. Not an error, since the roster can change without a restart.
pub(crate) fn warn_if_quorum_unreachable(shared: &Shared) {
    let roster = shared.roster();
    let others = roster
        .agencies()
        .iter()
        .filter(|agency| agency.id != shared.agency)
        .count();
    if shared.witness.independent_quorum > roster.witnesses().len() {
        tracing::warn!(
            quorum = shared.witness.independent_quorum,
            independent_witnesses = roster.witnesses().len(),
            roster_version = roster.version(),
            "`witness.quorum.independent` is larger than the number of independent witnesses in the roster: no checkpoint can be published until the roster lists enough of them or the quorum is lowered"
        );
    }
    if shared.witness.quorum > others {
        tracing::warn!(
            quorum = shared.witness.quorum,
            other_agencies = others,
            roster_version = roster.version(),
            "`witness.quorum` is larger than the number of other agencies in the roster: no checkpoint can be published until the roster lists enough of them or the quorum is lowered"
        );
    }
}

/// The evidence this witness keeps, by log origin then time: `limit` records (capped at
/// [`MAX_PAGE`](streha_wire::app::MAX_PAGE)) from the `start`-th, within the page byte
/// budget (`crate::paging`); read a batch at a time, never all at once.
pub(crate) fn evidence_page(
    shared: &Shared,
    start: u64,
    limit: u32,
) -> Result<Vec<streha_wire::app::WitnessEvidence>, Failure> {
    let mut page = crate::paging::Page::new(limit);
    let mut cursor: Option<Vec<u8>> = None;
    let mut skipped = 0u64;
    'pages: loop {
        let batch = shared.store.scan_after(
            EVIDENCE,
            cursor.as_deref(),
            streha_wire::app::MAX_PAGE as usize,
        )?;
        let Some((last, _)) = batch.last() else {
            break;
        };
        cursor = Some(last.clone());
        for (key, value) in batch {
            if skipped < start {
                skipped += 1;
                continue;
            }
            let origin_len = key.iter().position(|b| *b == 0).ok_or_else(|| {
                Failure::Internal("a stored witness evidence key has no origin".into())
            })?;
            let origin = String::from_utf8(key[..origin_len].to_vec()).map_err(|_| {
                Failure::Internal(
                    "a stored witness evidence key holds an origin that is not UTF-8".into(),
                )
            })?;
            let evidence: Evidence = postcard::from_bytes(&value).map_err(|e| {
                Failure::Internal(format!("stored witness evidence does not decode: {e}"))
            })?;
            let item = streha_wire::app::WitnessEvidence {
                origin,
                kind: evidence.kind,
                first: evidence.first,
                second: evidence.second,
                at: evidence.at,
            };
            if !page.offer(item) {
                break 'pages;
            }
        }
    }
    Ok(page.into_items())
}

/// The kind of the first evidence this witness keeps against the log `origin`, if any.
fn held_evidence(shared: &Shared, origin: &str) -> Result<Option<WitnessAlarmKind>, Failure> {
    let mut prefix = origin.as_bytes().to_vec();
    prefix.push(0);
    let Some((_, value)) = shared.store.scan(EVIDENCE, &prefix)?.into_iter().next() else {
        return Ok(None);
    };
    let evidence: Evidence = postcard::from_bytes(&value)
        .map_err(|e| Failure::Internal(format!("stored witness evidence does not decode: {e}")))?;
    Ok(Some(evidence.kind))
}

/// Keeps the evidence, logs a `witness alarm`, raises the metric; refuses the checkpoint
/// with [`PeerResponse::WitnessRefused`].
async fn alarm(
    shared: &Shared,
    origin: &str,
    kind: WitnessAlarmKind,
    seen: &WitnessView,
    offered_note: &str,
    offered: &Checkpoint,
) -> Result<PeerResponse, Failure> {
    let at = shared.now();
    tracing::error!(
        log = origin,
        kind = %kind,
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
            kind,
            cosigned_size: seen.size,
            cosigned_root: seen.root,
            offered_size: offered.size(),
            offered_root: offered.root().to_bytes(),
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
    Ok(PeerResponse::WitnessRefused {
        kind,
        cosigned_size: seen.size,
    })
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
    // The TLS settings for `https://` independent witnesses, once (the system's trust
    // anchors are read from disk). Checked at configuration load, so this fails only if
    // the system store vanished since; submissions are then counted as unreachable.
    let tls = match Tls::new(&shared.witness.ca_pem) {
        Ok(tls) => Some(tls),
        Err(e) => {
            tracing::error!(error = %e, "no TLS for independent witnesses; their submissions are skipped");
            None
        }
    };
    let mut recorded_at = tokio::time::Instant::now();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let started = tokio::time::Instant::now();
        if started.duration_since(recorded_at) >= shared.witness.record_interval {
            recorded_at = started;
            if let Err(problem) = record_witnessed(&shared).await {
                tracing::warn!(%problem, "could not record what this node cosigned; retried next interval");
            }
        }
        // A round waits on peers that may be down; shutdown must not wait for it.
        tokio::select! {
            () = round(&shared, &peers, tls.as_ref()) => {}
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

async fn round(shared: &Arc<Shared>, peers: &Arc<Peers>, tls: Option<&Tls>) {
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
            let (contact, outcome) = witness_with(&shared, &peers, &roster, &peer).await;
            if let Err(problem) = outcome {
                tracing::debug!(peer = %peer.id, %problem, "witnessing round incomplete");
            }
            match contact {
                // Down: no point waiting for it a second time this round.
                Contact::Failed => false,
                Contact::Answered => {
                    if !gossip.is_empty() {
                        let _ = peers
                            .request(&shared, &peer, &PeerRequest::Gossip(gossip))
                            .await;
                    }
                    true
                }
                // Gossip goes out even empty: with nothing new to cosign, its answer is
                // what shows that the peer is still there.
                Contact::NotTried => peers
                    .request(&shared, &peer, &PeerRequest::Gossip(gossip))
                    .await
                    .is_ok(),
            }
        });
    }
    for witness in roster.witnesses() {
        let Some(tls) = tls else {
            shared.metrics.independent_answer("unreachable");
            continue;
        };
        let (shared, tls, witness) = (Arc::clone(shared), tls.clone(), witness.clone());
        tasks.spawn(async move {
            if let Err(problem) = submit_independent(&shared, &tls, &witness).await {
                tracing::debug!(witness = %witness.name(), %problem, "independent witnessing incomplete");
            }
            // Independent witnesses are not peers: not counted as reachable peers.
            false
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

/// `NODE_META` key of the size of `origin`'s log last recorded in a `witnessed_checkpoints`
/// entry.
fn recorded_key(origin: &[u8]) -> Vec<u8> {
    let mut key = b"witnessed-recorded\0".to_vec();
    key.extend_from_slice(origin);
    key
}

/// Records in this node's own log, in as few entries as fit, the latest cosigned checkpoint
/// of every log that moved since it was last recorded (issue 15: the federation's bundles
/// alone then show a log rewritten after it was cosigned). The entries and the recorded
/// sizes are one commit.
pub(crate) async fn record_witnessed(shared: &Shared) -> Result<(), Failure> {
    let _guard = shared.witness_lock.lock().await;
    let mut moved = Vec::new();
    for (origin, value) in shared.store.scan(WITNESSED, &[])? {
        let view: WitnessView = postcard::from_bytes(&value).map_err(|e| {
            Failure::Internal(format!(
                "a stored witnessed checkpoint does not decode: {e}"
            ))
        })?;
        let recorded =
            state::load_index(&shared.store, NODE_META, &recorded_key(&origin))?.unwrap_or(0);
        if view.size <= recorded {
            continue;
        }
        let Ok(log) = std::str::from_utf8(&origin)
            .map_err(|_| ())
            .and_then(|o| LogOrigin::new(o).map_err(|_| ()))
        else {
            continue;
        };
        moved.push((
            origin,
            WitnessedCheckpoint {
                origin: log,
                size: view.size,
                root: view.root,
            },
        ));
    }
    if moved.is_empty() {
        return Ok(());
    }
    let at = shared.now();
    let mut tx = Transaction::new();
    for batch in moved.chunks(MAX_WITNESSED_PER_ENTRY) {
        for (origin, checkpoint) in batch {
            tx.put(
                NODE_META,
                recorded_key(origin),
                checkpoint.size.to_be_bytes().to_vec(),
            );
        }
        tx.append(
            AuditEntry::WitnessedCheckpoints {
                checkpoints: batch.iter().map(|(_, c)| c.clone()).collect(),
                at,
            }
            .encode(),
        );
    }
    shared.commit(tx).await?;
    Ok(())
}

/// Whether a witnessing exchange reached the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contact {
    /// Nothing was sent: the peer has cosigned the latest checkpoint already, or this node
    /// could not prepare the request.
    NotTried,
    /// A request was sent and got no answer (the peer is down, unreachable or too slow).
    Failed,
    /// The peer answered — a cosignature, a conflict or a refusal.
    Answered,
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

/// Asks `peer` to cosign the latest checkpoint, unless it has already. Says whether the
/// peer was reached, and what went wrong if no cosignature was kept.
async fn witness_with(
    shared: &Shared,
    peers: &Peers,
    roster: &Roster,
    peer: &AgencyEntry,
) -> (Contact, Result<(), String>) {
    let Some(checkpoint) = shared.store.latest_checkpoint() else {
        return (Contact::NotTried, Ok(()));
    };
    if shared.recovering.load(Ordering::Acquire) {
        // A restored log may be shorter than what the peer cosigned: it would be a rollback.
        return (Contact::NotTried, Ok(()));
    }
    let mut old_size =
        match state::load_index(&shared.store, COSIGNED_BY, peer.id.as_str().as_bytes()) {
            Ok(size) => size.unwrap_or(0),
            Err(e) => return (Contact::NotTried, Err(e.to_string())),
        };
    if old_size == checkpoint.size {
        return (Contact::NotTried, Ok(()));
    }
    let mut contact = Contact::NotTried;
    // The first checkpoint of a new epoch goes with its declaration (`spec/protocol.md`
    // §13): a peer witness refuses a later epoch of this log without it.
    let epoch = streha_core::epoch::split_epoch(shared.store.origin())
        .map_or(streha_core::epoch::FIRST_EPOCH, |(_, epoch)| epoch);
    if epoch > streha_core::epoch::FIRST_EPOCH && old_size == 0 {
        match new_epoch_with(shared, peers, roster, peer, &checkpoint).await {
            (contact, Ok(true)) => return (contact, Ok(())),
            // Accepted before (an answer lost): witnessed as any log from here on.
            (answered, Ok(false)) => contact = answered,
            (contact, Err(problem)) => return (contact, Err(problem)),
        }
    }
    // One retry after a conflict, with a proof from the size the witness says it has.
    for _ in 0..2 {
        if old_size > checkpoint.size {
            tracing::error!(peer = %peer.id, witness_size = old_size, our_size = checkpoint.size,
                "security event: a witness has cosigned more of this log than this node holds; was the store rolled back?");
            return (contact, Err("the witness is ahead of this log".into()));
        }
        let proof = match shared.store.consistency_proof(old_size, checkpoint.size) {
            Ok(proof) => proof,
            Err(e) => return (contact, Err(e.to_string())),
        };
        let request = PeerRequest::Witness(Box::new(WitnessRequest {
            old_size,
            proof,
            checkpoint: checkpoint.note.clone(),
        }));
        let response = match peers.request(shared, peer, &request).await {
            Ok(response) => response,
            Err(e) => return (Contact::Failed, Err(e)),
        };
        contact = Contact::Answered;
        match response {
            PeerResponse::Cosigned(line) => {
                let kept = keep_cosignature(shared, roster, peer, &checkpoint, &line)
                    .await
                    .map_err(|e| e.to_string());
                return (contact, kept);
            }
            PeerResponse::WitnessConflict { size } => old_size = size,
            PeerResponse::WitnessRefused {
                kind,
                cosigned_size,
            } => {
                tracing::error!(peer = %peer.id, %kind, witness_size = cosigned_size,
                    our_size = checkpoint.size,
                    "security event: a witness refuses to cosign this log: it holds evidence that the log contradicts a checkpoint it cosigned; was the store rolled back or the key used elsewhere?");
                return (
                    contact,
                    Err(format!(
                        "the witness refuses to cosign ({kind}; it cosigned size {cosigned_size})"
                    )),
                );
            }
            PeerResponse::Error(error) => return (contact, Err(error.to_string())),
            _ => {
                return (
                    contact,
                    Err("unexpected answer to a witnessing request".into()),
                );
            }
        }
    }
    (
        contact,
        Err("the witness kept reporting another size".into()),
    )
}

/// Offers `peer` the new epoch's `checkpoint` with its declaration (entry 0) and the
/// declaration's inclusion proof (`PeerRequest::WitnessNewEpoch`). `Ok(true)` if the
/// cosignature was kept; `Ok(false)` if the peer answered with an error (it accepted the
/// declaration already, or serves no such request): the caller goes on with `Witness`.
async fn new_epoch_with(
    shared: &Shared,
    peers: &Peers,
    roster: &Roster,
    peer: &AgencyEntry,
    checkpoint: &streha_store::StoredCheckpoint,
) -> (Contact, Result<bool, String>) {
    let declaration = match shared.store.entry(0) {
        Ok(Some(declaration)) => declaration,
        Ok(None) => {
            return (
                Contact::NotTried,
                Err("the new epoch has no entry 0".into()),
            );
        }
        Err(e) => return (Contact::NotTried, Err(e.to_string())),
    };
    let proof = match shared.store.inclusion_proof(0, checkpoint.size) {
        Ok(proof) => proof,
        Err(e) => return (Contact::NotTried, Err(e.to_string())),
    };
    let request = PeerRequest::WitnessNewEpoch(Box::new(NewEpochRequest {
        checkpoint: checkpoint.note.clone(),
        declaration,
        proof,
    }));
    let response = match peers.request(shared, peer, &request).await {
        Ok(response) => response,
        Err(e) => return (Contact::Failed, Err(e)),
    };
    match response {
        PeerResponse::Cosigned(line) => {
            let kept = keep_cosignature(shared, roster, peer, checkpoint, &line)
                .await
                .map(|()| true)
                .map_err(|e| e.to_string());
            (Contact::Answered, kept)
        }
        PeerResponse::WitnessRefused {
            kind,
            cosigned_size,
        } => {
            tracing::error!(peer = %peer.id, %kind, witness_size = cosigned_size,
                "security event: a witness refuses this log's new epoch: it holds evidence against the declaration (it cosigned more of the previous epoch than the declaration proves?)");
            (
                Contact::Answered,
                Err(format!(
                    "the witness refuses the new epoch ({kind}; it cosigned size {cosigned_size} of the previous one)"
                )),
            )
        }
        PeerResponse::Error(error) => {
            tracing::info!(peer = %peer.id, %error, "the witness did not take the new epoch's declaration; witnessing as usual");
            (Contact::Answered, Ok(false))
        }
        _ => (
            Contact::Answered,
            Err("unexpected answer to a new epoch".into()),
        ),
    }
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
    record_cosignature(shared, checkpoint.size, peer.id.as_str().as_bytes(), line).await?;
    Metrics::bump(&shared.metrics.cosignatures_received);
    shared.metrics.cosigned(&peer.id);
    Ok(())
}

/// The first byte of the key of an independent witness in [`COSIGNED_BY`] and, after the
/// size, in [`COSIGNATURES`]: 0x00, which no agency id holds, then the witness's name.
const INDEPENDENT: u8 = 0;

fn independent_key(name: &str) -> Vec<u8> {
    let mut key = vec![INDEPENDENT];
    key.extend_from_slice(name.as_bytes());
    key
}

/// Keeps a verified cosignature of this node's checkpoint of `size` by `who` (an agency id,
/// or [`independent_key`]), and publishes that checkpoint if it now has the quorum of peers
/// and of independent witnesses. Serialised, so that concurrent cosignatures are counted
/// together.
async fn record_cosignature(
    shared: &Shared,
    size: u64,
    who: &[u8],
    line: &str,
) -> Result<(), Failure> {
    let _guard = shared.witness_lock.lock().await;
    let mut key = size.to_be_bytes().to_vec();
    key.extend_from_slice(who);
    let mut tx = Transaction::new();
    tx.put(COSIGNATURES, key, line.as_bytes().to_vec()).put(
        COSIGNED_BY,
        who.to_vec(),
        size.to_be_bytes().to_vec(),
    );
    let (mut peers, mut independent) = (0usize, 0usize);
    for (k, _) in shared.store.scan(COSIGNATURES, &size.to_be_bytes())? {
        let by = &k[8..];
        if by == who {
            continue;
        }
        if by.first() == Some(&INDEPENDENT) {
            independent += 1;
        } else {
            peers += 1;
        }
    }
    if who.first() == Some(&INDEPENDENT) {
        independent += 1;
    } else {
        peers += 1;
    }
    let published = state::load_index(&shared.store, NODE_META, b"published")?.unwrap_or(0);
    if peers >= shared.witness.quorum
        && independent >= shared.witness.independent_quorum
        && size > published
    {
        tx.put(
            NODE_META,
            b"published".to_vec(),
            size.to_be_bytes().to_vec(),
        );
    }
    shared.commit(tx).await?;
    Ok(())
}

/// Submits the latest checkpoint to an independent witness (C2SP tlog-witness over HTTP),
/// unless it has cosigned it already: from the size it last cosigned, retrying once from the
/// size a `409 text/x.tlog.size` names; its cosignature is verified under the roster's key
/// for it and kept. In a later log epoch, while the witness has cosigned nothing of it, the
/// checkpoint goes first to `add-new-epoch` with the epoch's declaration (`spec/witness.md`
/// §2.1). Every answer is counted (`streha_independent_witness_answers_total`).
async fn submit_independent(
    shared: &Shared,
    tls: &Tls,
    witness: &IndependentWitness,
) -> Result<(), String> {
    let name = witness.name();
    let Some(checkpoint) = shared.store.latest_checkpoint() else {
        return Ok(());
    };
    if shared.recovering.load(Ordering::Acquire) {
        return Ok(());
    }
    let key = independent_key(&name);
    let mut old_size = state::load_index(&shared.store, COSIGNED_BY, &key)
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    if old_size == checkpoint.size {
        return Ok(());
    }
    let verifier = witness.verifier().map_err(|e| e.to_string())?;
    let epoch = streha_core::epoch::split_epoch(shared.store.origin())
        .map_or(streha_core::epoch::FIRST_EPOCH, |(_, epoch)| epoch);
    if epoch > streha_core::epoch::FIRST_EPOCH && old_size == 0 {
        let declaration = shared
            .store
            .entry(0)
            .map_err(|e| e.to_string())?
            .ok_or("the new epoch has no entry 0")?;
        let proof = shared
            .store
            .inclusion_proof(0, checkpoint.size)
            .map_err(|e| e.to_string())?;
        let answer = streha_witness::client::add_new_epoch(
            &witness.url,
            tls,
            &declaration,
            &proof,
            &checkpoint.note,
            shared.witness.submit_timeout,
        )
        .await;
        match answer {
            Ok(Answer::Cosigned(lines)) => {
                return keep_independent(shared, &verifier, &name, &key, &checkpoint, lines).await;
            }
            // Accepted before (an answer lost): witnessed at add-checkpoint from this size.
            Ok(Answer::StaleOldSize(size)) => {
                shared.metrics.independent_answer("409-size");
                old_size = size;
            }
            // A C2SP witness that is not Streha's knows no declaration: to it the epoch is a
            // new log, witnessed from size 0.
            Ok(Answer::Refused { status: 404, .. }) => {
                shared.metrics.independent_answer("404");
            }
            Ok(Answer::Refused { status, message }) => {
                if status == 409 {
                    tracing::error!(witness = %name, %message,
                        "security event: an independent witness refuses this log's new epoch: it cosigned more of the previous one than the declaration proves, or another history");
                }
                return Err(refused_by_independent(shared, &name, status, &message));
            }
            Err(e) => {
                shared.metrics.independent_answer("unreachable");
                return Err(e.to_string());
            }
        }
    }
    for _ in 0..2 {
        if old_size > checkpoint.size {
            shared.metrics.independent_answer("ahead");
            tracing::error!(witness = %name, witness_size = old_size, our_size = checkpoint.size,
                "security event: an independent witness has cosigned more of this log than this node holds; was the store rolled back?");
            return Err("the witness is ahead of this log".into());
        }
        let proof = shared
            .store
            .consistency_proof(old_size, checkpoint.size)
            .map_err(|e| e.to_string())?;
        let answer = streha_witness::client::add_checkpoint(
            &witness.url,
            tls,
            old_size,
            &proof,
            &checkpoint.note,
            shared.witness.submit_timeout,
        )
        .await;
        match answer {
            Ok(Answer::Cosigned(lines)) => {
                return keep_independent(shared, &verifier, &name, &key, &checkpoint, lines).await;
            }
            Ok(Answer::StaleOldSize(size)) => {
                shared.metrics.independent_answer("409-size");
                old_size = size;
            }
            Ok(Answer::Refused { status, message }) => {
                return Err(refused_by_independent(shared, &name, status, &message));
            }
            Err(e) => {
                shared.metrics.independent_answer("unreachable");
                return Err(e.to_string());
            }
        }
    }
    Err(format!("`{name}` kept reporting another size"))
}

/// Keeps an independent witness's cosignature of `checkpoint` from the lines it answered:
/// the one under its key, verified on the checkpoint.
async fn keep_independent(
    shared: &Shared,
    verifier: &streha_audit::NoteVerifier,
    name: &str,
    key: &[u8],
    checkpoint: &streha_store::StoredCheckpoint,
    lines: Vec<NoteSignature>,
) -> Result<(), String> {
    let Some(line) = lines.into_iter().find(|l| verifier.matches(l)) else {
        shared.metrics.independent_answer("unverified");
        return Err(format!("`{name}` answered no cosignature under its key"));
    };
    let body = SignedNote::parse(&checkpoint.note)
        .map_err(|e| e.to_string())?
        .body()
        .to_owned();
    if verifier.verify_signature(&body, &line).is_err() {
        shared.metrics.independent_answer("unverified");
        tracing::warn!(witness = %name, "an independent witness's cosignature does not verify; not kept");
        return Err(format!("the cosignature of `{name}` does not verify"));
    }
    record_cosignature(shared, checkpoint.size, key, &line.to_line())
        .await
        .map_err(|e| e.to_string())?;
    shared.metrics.independent_answer("cosigned");
    Ok(())
}

/// Counts and logs an independent witness's refusal; the problem, for the round's log.
fn refused_by_independent(shared: &Shared, name: &str, status: u16, message: &str) -> String {
    let label = match status {
        400 | 403 | 404 | 409 | 422 => status.to_string(),
        _ => "other".to_owned(),
    };
    shared.metrics.independent_answer(&label);
    tracing::warn!(witness = %name, status, %message, "an independent witness refused this node's checkpoint");
    format!("`{name}` answered {status}")
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
    Ok(Some((size, with_cosignatures(shared, size, &note)?)))
}

/// `note`, this node's own checkpoint of size `size` as stored, with every witness
/// cosignature this node holds for that size added — the form in which a checkpoint is
/// served to applications (and so goes into exported bundles and proofs).
///
/// Only cosignatures that verify on this very note, under the key the *current* roster
/// names for their witness, are added: one kept for another note of that size (a store
/// restored from a copy) or by a witness whose key has since changed would read as a
/// forged cosignature to the offline verifier. Past the note's signature limit, the rest
/// are left out.
pub(crate) fn with_cosignatures(shared: &Shared, size: u64, note: &str) -> Result<String, Failure> {
    let kept = shared.store.scan(COSIGNATURES, &size.to_be_bytes())?;
    if kept.is_empty() {
        return Ok(note.to_owned());
    }
    let roster = shared.roster();
    let mut signed = SignedNote::parse(note)
        .map_err(|e| Failure::Internal(format!("a stored checkpoint does not parse: {e}")))?;
    for (key, line) in kept {
        if key.get(8) == Some(&INDEPENDENT) {
            let Some(verifier) = key
                .get(9..)
                .and_then(|name| std::str::from_utf8(name).ok())
                .and_then(|name| roster.witness_named(name))
                .and_then(|w| w.verifier().ok())
            else {
                continue;
            };
            let Ok(signature) = std::str::from_utf8(&line)
                .map_err(|_| ())
                .and_then(|line| NoteSignature::from_line(line).map_err(|_| ()))
            else {
                continue;
            };
            if verifier.verify_signature(signed.body(), &signature).is_ok() {
                let mut candidate = signed.clone();
                if candidate.add_signature(signature).is_ok() {
                    signed = candidate;
                }
            }
            continue;
        }
        let Some(witness) = key
            .get(8..)
            .and_then(|id| std::str::from_utf8(id).ok())
            .and_then(|id| AgencyId::new(id).ok())
            .and_then(|id| roster.agency(&id).cloned())
        else {
            continue;
        };
        let Ok(signature) = std::str::from_utf8(&line)
            .map_err(|_| ())
            .and_then(|line| NoteSignature::from_line(line).map_err(|_| ()))
        else {
            continue;
        };
        let Ok(verifier) = cosignature_verifier(&roster, &witness) else {
            continue;
        };
        let mut candidate = signed.clone();
        if candidate.add_signature(signature).is_err() {
            continue;
        }
        let verifies = candidate
            .verify(std::slice::from_ref(&verifier))
            .is_ok_and(|v| !v.signers().is_empty());
        if verifies {
            signed = candidate;
        }
    }
    Ok(signed.to_text())
}
