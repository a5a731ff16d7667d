//! Recovery after a restore from a backup (`spec/protocol.md` §13).
//!
//! A data directory written by `streha admin restore` holds [`RESTORED_FILE`]: the node
//! starts in *recovery mode*. Its log may be shorter than what its witnesses cosigned (every
//! entry after the backup is lost), and a witness rightly takes a shorter checkpoint for a
//! rollback. So, until it knows, the node appends nothing to its log (every commit that
//! would is refused, `Unavailable`: applications and peers retry later) and submits no
//! checkpoint to any witness. It asks every other node of the roster for the latest
//! checkpoint of its log that node cosigned ([`PeerRequest::CosignedCheckpoint`]) and checks
//! each answer's signature with its own key:
//!
//! - none is larger than the restored log (and one of equal size has its root): nothing
//!   was lost; the marker is removed and the node serves as usual;
//! - one is larger: entries were lost; the node stays in recovery mode, says so (log,
//!   `/health`, metric) with the lost range and the proving checkpoint, and never forks
//!   silently.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use streha_audit::{Checkpoint, CheckpointError, SignedNote};
use streha_wire::peer::{PeerRequest, PeerResponse};
use streha_wire::roster::AgencyEntry;
use tokio::sync::watch;

use crate::failure::Failure;
use crate::peers::Peers;
use crate::shared::{Shared, log_verifier};
use crate::state::{self, WITNESSED, WitnessView};

/// The marker, in the data directory, of a restore not yet recovered from: it holds the
/// backup's last checkpoint (empty for an empty log).
pub const RESTORED_FILE: &str = "restored-from-backup";

/// How often a node in recovery mode asks the peers that have not answered yet.
pub(crate) const RECOVERY_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

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
        witness: String,
        note: String,
    },
}

/// Answers a peer's [`PeerRequest::CosignedCheckpoint`]: the latest checkpoint of its own
/// log this node cosigned.
pub(crate) fn handle_cosigned_checkpoint(
    shared: &Shared,
    peer: &AgencyEntry,
) -> Result<PeerResponse, Failure> {
    let roster = shared.roster();
    let origin = peer.log_origin(roster.federation());
    let view: Option<WitnessView> = state::load(&shared.store, WITNESSED, origin.as_bytes())?;
    Ok(PeerResponse::CosignedCheckpoint(view.map(|view| view.note)))
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
    let verifier = log_verifier(&roster, own).map_err(|e| e.to_string())?;
    verify_own(note, &verifier, &shared.origin)
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
    let mut answered: std::collections::BTreeMap<String, Option<(u64, String)>> =
        std::collections::BTreeMap::new();
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
        let waiting: Vec<&str> = others
            .iter()
            .map(|a| a.id.as_str())
            .filter(|id| !answered.contains_key(*id))
            .collect();
        if waiting.is_empty() {
            break;
        }
        tracing::info!(waiting = %waiting.join(","),
            "recovery mode: waiting for these peers to say what they cosigned of this log; disclosures wait");
        tokio::select! {
            () = tokio::time::sleep(RECOVERY_RETRY) => {}
            _ = shutdown.changed() => return,
        }
    }
    let outcome = decide(restored, &answered);
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
            tracing::error!(
                restored,
                proven,
                witness = %witness,
                "recovery: entries {restored}..{proven} of this log were lost (the backup is older than what `{witness}` cosigned); the node stays in recovery mode and appends nothing, so that its log does not fork silently"
            );
        }
    }
}

/// The outcome of the answers (peer → its latest cosigned size and note).
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
                note: "n9".into()
            }
        );
    }
}
