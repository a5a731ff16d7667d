//! Checkpoints this node has already verified, so that no signature is verified twice.
//!
//! A receiving node commits many deliveries in one batch under one checkpoint, so the
//! sender gets the same signed checkpoint with many receipts; consent evidence repeats the
//! sender's checkpoint across the disclosures it justifies. Verifying an Ed25519 signature
//! costs about as much as the rest of a receipt's checks together.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use streha_audit::{Checkpoint, CheckpointError, NoteVerifier, open_checkpoint};
use streha_witness::rules::{LogKeys, NoteRefusal, Opened, open_note};

/// How many verified checkpoints are remembered (oldest forgotten first).
const CAPACITY: usize = 256;

/// A bounded memory of `(verifier, note text) → checkpoint` for notes that verified.
#[derive(Debug, Default)]
pub(crate) struct VerifiedCheckpoints {
    inner: Mutex<Memory>,
}

#[derive(Debug, Default)]
struct Memory {
    checkpoints: HashMap<[u8; 32], Checkpoint>,
    order: VecDeque<[u8; 32]>,
    /// Other nodes' checkpoints as a witness opened them (gossip repeats them every round).
    witnessed: HashMap<[u8; 32], Opened>,
    witnessed_order: VecDeque<[u8; 32]>,
}

impl VerifiedCheckpoints {
    /// [`open_checkpoint`] with `verifier` alone, remembering success: a note text verified
    /// before under the same key name and key is not verified again. Failures are not
    /// remembered (they are rare, and each is reported).
    pub(crate) fn open(
        &self,
        note: &str,
        verifier: &NoteVerifier,
    ) -> Result<Checkpoint, CheckpointError> {
        let key = memory_key(note, verifier);
        if let Some(checkpoint) = self.memory().checkpoints.get(&key) {
            return Ok(checkpoint.clone());
        }
        let (checkpoint, _) = open_checkpoint(note, std::slice::from_ref(verifier))?;
        let mut memory = self.memory();
        if memory.checkpoints.insert(key, checkpoint.clone()).is_none() {
            memory.order.push_back(key);
            if memory.order.len() > CAPACITY
                && let Some(oldest) = memory.order.pop_front()
            {
                memory.checkpoints.remove(&oldest);
            }
        }
        Ok(checkpoint)
    }

    /// [`open_note`] for a witness, remembering success: a note opened before under the same
    /// keys is not verified again. CPU work: call it off the async threads.
    pub(crate) fn open_witness_note(
        &self,
        note: &str,
        keys: &LogKeys,
    ) -> Result<Opened, NoteRefusal> {
        let key = witness_memory_key(note, keys);
        if let Some(opened) = self.memory().witnessed.get(&key) {
            return Ok(opened.clone());
        }
        let opened = open_note(note, keys)?;
        let mut memory = self.memory();
        if memory.witnessed.insert(key, opened.clone()).is_none() {
            memory.witnessed_order.push_back(key);
            if memory.witnessed_order.len() > CAPACITY
                && let Some(oldest) = memory.witnessed_order.pop_front()
            {
                memory.witnessed.remove(&oldest);
            }
        }
        Ok(opened)
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// BLAKE3 over the verifier's signature type, name and key, and the note text, each length
/// prefixed: equal only for the same note checked with the same key.
fn memory_key(note: &str, verifier: &NoteVerifier) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("streha node verified checkpoint v1");
    let name = verifier.name().as_str().as_bytes();
    hasher.update(&[verifier.signature_type().id()]);
    hasher.update(&(name.len() as u64).to_le_bytes());
    hasher.update(name);
    hasher.update(verifier.verifying_key().as_bytes());
    hasher.update(&(note.len() as u64).to_le_bytes());
    hasher.update(note.as_bytes());
    *hasher.finalize().as_bytes()
}

/// BLAKE3 over every key and name of `keys` and the note text, each length prefixed.
fn witness_memory_key(note: &str, keys: &LogKeys) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("streha node witnessed checkpoint v1");
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(keys.origin.as_bytes());
    // Each list is prefixed with its length, so that no item moves from one to another.
    field(&(keys.log.len() as u64).to_le_bytes());
    for verifier in &keys.log {
        field(verifier.to_vkey().as_bytes());
    }
    field(&(keys.guarded_names.len() as u64).to_le_bytes());
    for name in &keys.guarded_names {
        field(name.as_bytes());
    }
    field(&(keys.known.len() as u64).to_le_bytes());
    for verifier in &keys.known {
        field(verifier.to_vkey().as_bytes());
    }
    field(note.as_bytes());
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use streha_audit::{NoteSigner, SignedNote, leaf_hash};

    fn note(origin: &str, size: u64, key: &SigningKey) -> String {
        let body = Checkpoint::new(origin, size, leaf_hash(b"root"))
            .unwrap()
            .to_body();
        let signer = NoteSigner::new(origin, key.clone()).unwrap();
        SignedNote::sign(&body, &signer).unwrap().to_text()
    }

    #[test]
    fn a_remembered_note_verifies_only_under_its_own_key() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let other = SigningKey::from_bytes(&[2; 32]);
        let text = note("example.org/log", 3, &key);
        let right = NoteVerifier::new("example.org/log", key.verifying_key()).unwrap();
        let wrong = NoteVerifier::new("example.org/log", other.verifying_key()).unwrap();
        let memory = VerifiedCheckpoints::default();

        assert_eq!(memory.open(&text, &right).unwrap().size(), 3);
        assert_eq!(memory.open(&text, &right).unwrap().size(), 3);
        assert!(memory.open(&text, &wrong).is_err());
        let mut tampered = text.clone();
        tampered.replace_range(16..17, "4");
        assert!(memory.open(&tampered, &right).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let verifier = NoteVerifier::new("example.org/log", key.verifying_key()).unwrap();
        let memory = VerifiedCheckpoints::default();
        for size in 0..(CAPACITY as u64 + 10) {
            memory
                .open(&note("example.org/log", size, &key), &verifier)
                .unwrap();
        }
        let inner = memory.memory();
        assert_eq!(inner.checkpoints.len(), CAPACITY);
        assert_eq!(inner.order.len(), CAPACITY);
    }
}
