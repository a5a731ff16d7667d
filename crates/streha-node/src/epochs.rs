//! The node's own earlier log epochs (`spec/audit-log.md` §9, "Kept state across epochs").
//!
//! An epoch switch starts the log over, but keeps every state pair, and some of them point
//! at the entry that justifies them ([`LogPosition`]: a `disclosed`, `received`, `receipt` or
//! `consent granted` entry). A position in an earlier epoch is read, and proven, from that
//! epoch's bundle the switch kept (`DATA_DIR/epochs/<n>.bundle`): verified when it is loaded
//! (every checkpoint signed by this node's key under the epoch's origin, roots recomputed
//! from the entries), proven under its last signed checkpoint, which the peers verify under
//! the epoch's origin (`shared::epoch_log_verifier`). Never an entry of the wrong log: a
//! position in the current epoch is read from the store, one in an earlier epoch from its
//! bundle, and one whose bundle is missing or does not verify is an error that names it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use streha_audit::{LogBundle, MemoryTree, NoteVerifier};
use streha_wire::peer::ProvenEntry;

use crate::failure::Failure;
use crate::recovery::EPOCHS_DIR;
use crate::shared::Shared;
use crate::state::LogPosition;

/// One earlier epoch of this node's log, loaded from its kept bundle and verified.
#[derive(Debug)]
pub(crate) struct KeptEpoch {
    /// The epoch's origin.
    pub(crate) origin: String,
    /// Its entries, up to its last signed checkpoint.
    entries: Vec<Vec<u8>>,
    tree: MemoryTree,
    /// Its last signed checkpoint (note text), of `entries.len()` entries.
    checkpoint: String,
}

impl KeptEpoch {
    /// Decodes and verifies the bundle of epoch `origin` (signed by `key`).
    fn load(
        bytes: &[u8],
        origin: &str,
        key: &streha_crypto::NodeIdentityPublicKey,
    ) -> Result<Self, String> {
        let bundle = LogBundle::decode(bytes).map_err(|e| e.to_string())?;
        if bundle.origin != origin {
            return Err(format!("it is the bundle of `{}`", bundle.origin));
        }
        let verifier = NoteVerifier::new(origin, *key.as_dalek()).map_err(|e| e.to_string())?;
        let report = bundle
            .verify(std::slice::from_ref(&verifier))
            .map_err(|e| e.to_string())?;
        let signed = usize::try_from(report.signed_size).map_err(|e| e.to_string())?;
        let checkpoint = bundle
            .checkpoints
            .last()
            .cloned()
            .ok_or("it has no checkpoint")?;
        let mut entries = bundle.entries;
        entries.truncate(signed);
        let tree = MemoryTree::from_entries(&entries);
        Ok(Self {
            origin: origin.to_owned(),
            entries,
            tree,
            checkpoint,
        })
    }

    /// Entry `index` of the epoch, if its last checkpoint covers it.
    pub(crate) fn entry(&self, index: u64) -> Option<&[u8]> {
        self.entries
            .get(usize::try_from(index).ok()?)
            .map(Vec::as_slice)
    }

    /// Entry `index` with its inclusion proof under the epoch's last checkpoint.
    pub(crate) fn prove(&self, index: u64) -> Result<ProvenEntry, Failure> {
        let entry = self.entry(index).ok_or_else(|| {
            Failure::Internal(format!(
                "entry {index} of `{}` is beyond its kept bundle",
                self.origin
            ))
        })?;
        let proof = streha_audit::inclusion_proof(index, self.tree.size(), &self.tree)
            .map_err(|e| Failure::Internal(format!("cannot prove entry {index}: {e}")))?;
        Ok(ProvenEntry {
            entry: entry.to_vec(),
            index,
            proof,
            checkpoint: self.checkpoint.clone(),
        })
    }
}

/// The earlier epochs loaded so far, each once (a bundle is read only when a position in
/// its epoch is needed, and then kept in memory: about as large as the file).
#[derive(Debug, Default)]
pub(crate) struct KeptEpochs {
    loaded: Mutex<HashMap<u64, Arc<KeptEpoch>>>,
}

/// The epoch of the node's log (the store's origin).
pub(crate) fn current(shared: &Shared) -> u64 {
    streha_core::epoch::split_epoch(shared.store.origin())
        .map_or(streha_core::epoch::FIRST_EPOCH, |(_, epoch)| epoch)
}

/// Earlier epoch `epoch` of this node's log, loaded from its kept bundle.
pub(crate) fn kept(shared: &Shared, epoch: u64) -> Result<Arc<KeptEpoch>, Failure> {
    if let Some(kept) = shared
        .kept_epochs
        .loaded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&epoch)
    {
        return Ok(Arc::clone(kept));
    }
    let (base, now) = streha_core::epoch::split_epoch(shared.store.origin())
        .ok_or_else(|| Failure::Internal("the log's origin names no valid epoch".into()))?;
    if epoch >= now {
        return Err(Failure::Internal(format!(
            "a kept position names epoch {epoch}, not an earlier one than the log's ({now})"
        )));
    }
    let origin = streha_core::epoch::epoch_origin(base, epoch);
    let path = shared
        .data_dir
        .join(EPOCHS_DIR)
        .join(format!("{epoch}.bundle"));
    // The path and the cause go to the operator's log only; the answer (which may go to a
    // peer) names the epoch.
    let unusable = |problem: String| {
        tracing::error!(epoch, path = %path.display(), %problem,
            "the kept bundle of an earlier log epoch is unusable: what points into that epoch cannot be read or proven until it is restored (from the exported bundles)");
        Failure::Internal(format!(
            "the kept log of epoch {epoch} (`{origin}`) of this node is unusable; its operator is told"
        ))
    };
    let bytes = std::fs::read(&path).map_err(|e| unusable(format!("cannot be read: {e}")))?;
    let kept = KeptEpoch::load(&bytes, &origin, &shared.node_key.public_key())
        .map_err(|e| unusable(format!("does not verify: {e}")))?;
    let kept = Arc::new(kept);
    shared
        .kept_epochs
        .loaded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(epoch, Arc::clone(&kept));
    Ok(kept)
}

/// The entry at `position`: from the store in the current epoch, from the kept bundle in
/// an earlier one.
pub(crate) fn entry_at(shared: &Shared, position: LogPosition) -> Result<Vec<u8>, Failure> {
    if position.epoch == current(shared) {
        return shared
            .store
            .entry(position.index)?
            .ok_or_else(|| Failure::Internal(format!("log entry {} is missing", position.index)));
    }
    let kept = kept(shared, position.epoch)?;
    kept.entry(position.index)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            Failure::Internal(format!(
                "entry {} of `{}` is beyond its kept bundle",
                position.index, kept.origin
            ))
        })
}

/// The entry at `position` with its inclusion proof: under the latest checkpoint in the
/// current epoch, under the epoch's last checkpoint in an earlier one.
pub(crate) fn prove_at(shared: &Shared, position: LogPosition) -> Result<ProvenEntry, Failure> {
    if position.epoch == current(shared) {
        return crate::app::prove_entry(shared, position.index);
    }
    kept(shared, position.epoch)?.prove(position.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_bundle(origin: &str, key: &ed25519_dalek::SigningKey, entries: &[&[u8]]) -> Vec<u8> {
        let entries: Vec<Vec<u8>> = entries.iter().map(|e| e.to_vec()).collect();
        let tree = MemoryTree::from_entries(&entries);
        let signer = streha_audit::NoteSigner::new(origin, key.clone()).unwrap();
        let note = streha_audit::sign_checkpoint(
            &streha_audit::Checkpoint::new(origin, tree.size(), tree.root()).unwrap(),
            &signer,
        )
        .to_text();
        LogBundle::new(origin, entries, vec![note])
            .encode()
            .unwrap()
    }

    /// An earlier epoch's entry is proven under that epoch's own signed checkpoint, and a
    /// bundle of another log or signed by another key is refused, never served.
    #[test]
    fn a_kept_epoch_proves_its_entries_and_only_its_own_bundle_loads() {
        let origin = "fed.example/streha/shelter";
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let bytes = signed_bundle(origin, &key, &[b"zero", b"one", b"two"]);
        let public = |k: &ed25519_dalek::SigningKey| {
            streha_crypto::NodeIdentityPublicKey::from_bytes(k.verifying_key().to_bytes()).unwrap()
        };
        let kept = KeptEpoch::load(&bytes, origin, &public(&key)).unwrap();
        let proven = kept.prove(1).unwrap();
        assert_eq!(proven.entry, b"one");
        let verifier = NoteVerifier::new(origin, key.verifying_key()).unwrap();
        proven.verify(&verifier).unwrap();
        assert!(kept.prove(3).is_err());

        let other = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        assert!(KeptEpoch::load(&bytes, origin, &public(&other)).is_err());
        assert!(KeptEpoch::load(&bytes, "fed.example/streha/police", &public(&key)).is_err());
        assert!(KeptEpoch::load(b"not a bundle", origin, &public(&key)).is_err());
    }
}
