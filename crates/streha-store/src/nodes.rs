//! The perfect Merkle nodes of the log, as a [`NodeSource`] over a sled tree.

use streha_audit::{Hash, NodeSource, leaf_hash};

/// Key of the perfect node at (`level`, `index`): the level byte, then the index big-endian,
/// so that one level's nodes are contiguous and ordered.
pub(crate) fn node_key(level: u8, index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = level;
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Reads perfect nodes from the `log_nodes` tree.
pub(crate) struct SledNodes<'a> {
    pub(crate) tree: &'a sled::Tree,
}

/// Why a node could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NodeReadError {
    #[error("database error: {0}")]
    Database(#[from] sled::Error),
    #[error("perfect node ({level}, {index}) is missing")]
    Missing { level: u8, index: u64 },
    #[error("perfect node ({level}, {index}) is not 32 bytes")]
    Malformed { level: u8, index: u64 },
}

impl NodeSource for SledNodes<'_> {
    type Error = NodeReadError;

    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        let bytes = self
            .tree
            .get(node_key(level, index))?
            .ok_or(NodeReadError::Missing { level, index })?;
        let array: [u8; 32] = bytes
            .as_ref()
            .try_into()
            .map_err(|_| NodeReadError::Malformed { level, index })?;
        Ok(Hash::from(array))
    }
}

/// Whether the stored tree is hashed with this version's tree hash (RFC 6962, SHA-256): the
/// stored leaf `(0, 0)` must be the leaf hash of entry 0. A log of an earlier version (BLAKE3
/// tree) fails here; so would a corrupt first leaf. An empty log passes.
pub(crate) fn tree_hash_matches(
    entries: &sled::Tree,
    nodes: &sled::Tree,
) -> Result<bool, sled::Error> {
    let Some(first) = entries.get(0u64.to_be_bytes())? else {
        return Ok(true);
    };
    let Some(stored) = nodes.get(node_key(0, 0))? else {
        return Ok(true); // a missing node is reported when the tree is rebuilt
    };
    Ok(stored.as_ref() == leaf_hash(&first).as_bytes())
}

#[cfg(test)]
mod tests {
    use streha_audit::{Checkpoint, NoteSigner, sign_checkpoint};

    use super::node_key;
    use crate::{Store, StoreError, Transaction};

    const ORIGIN: &str = "store.test/log";

    fn signer() -> NoteSigner {
        NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[11; 32])).unwrap()
    }

    fn blake3_leaf(entry: &[u8]) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&[0x00]);
        hasher.update(entry);
        *hasher.finalize().as_bytes()
    }

    fn blake3_node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&[0x01]);
        hasher.update(left);
        hasher.update(right);
        *hasher.finalize().as_bytes()
    }

    /// A log written by the version with the BLAKE3 tree (four entries: every node and the
    /// signed checkpoint as that version stored them) is refused with its own error, not
    /// continued with mixed hashes. Its root is one stored node, so without this check it
    /// would open as if nothing were wrong.
    #[test]
    fn a_log_with_the_old_blake3_tree_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let entries: Vec<Vec<u8>> = (0..4u8).map(|n| vec![n; 10]).collect();
        let store = Store::open(dir.path(), ORIGIN, signer()).unwrap();
        for entry in &entries {
            let mut tx = Transaction::new();
            tx.append(entry.clone());
            store.commit(tx).unwrap();
        }
        drop(store);
        {
            let db = sled::open(dir.path()).unwrap();
            let nodes = db.open_tree("log_nodes").unwrap();
            let leaves: Vec<[u8; 32]> = entries.iter().map(|e| blake3_leaf(e)).collect();
            let pair0 = blake3_node(&leaves[0], &leaves[1]);
            let pair1 = blake3_node(&leaves[2], &leaves[3]);
            let root = blake3_node(&pair0, &pair1);
            for (i, leaf) in leaves.iter().enumerate() {
                nodes.insert(node_key(0, i as u64), leaf).unwrap();
            }
            nodes.insert(node_key(1, 0), &pair0).unwrap();
            nodes.insert(node_key(1, 1), &pair1).unwrap();
            nodes.insert(node_key(2, 0), &root).unwrap();
            let checkpoint = Checkpoint::new(ORIGIN, 4, root.into()).unwrap();
            let note = sign_checkpoint(&checkpoint, &signer()).to_text();
            let meta = db.open_tree("log_meta").unwrap();
            meta.insert(b"checkpoint", note.as_bytes()).unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path(), ORIGIN, signer()).unwrap_err();
        assert!(matches!(err, StoreError::OldTreeHash { .. }), "{err}");
        assert!(err.to_string().contains("new data_dir"), "{err}");
    }
}
