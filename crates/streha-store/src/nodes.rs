//! The perfect Merkle nodes of the log, as a [`NodeSource`] over a sled tree.

use streha_audit::{Hash, NodeSource};

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
