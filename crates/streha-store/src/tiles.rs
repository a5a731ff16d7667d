//! The log's interior hashes as tiles, read as a [`NodeSource`].
//!
//! A tile is a perfect subtree of height 8 (as in Tessera, Sigsum and the C2SP tlog-tiles
//! layout). Tile `t` of row `r` spans the tree levels `8r ..= 8r + 8`; the store keeps its
//! bottom level only: the 256 hashes of the perfect nodes `(8r, 256t .. 256t + 255)`. Every
//! node strictly inside a tile (levels `8r + 1 ..= 8r + 7`) is recomputed from them when a
//! proof asks for it (at most 255 hashes); the node at level `8r + 8` is the bottom of row
//! `r + 1`.
//!
//! What is written, and when:
//! - row 0 (leaf hashes): once, when its 256th entry is appended. The hashes of the last,
//!   incomplete tile are recomputed from the entries at open and kept in memory ([`Tail`]);
//! - rows ≥ 1: each time one of its hashes completes, i.e. once per 256^r entries (the
//!   incomplete tile is rewritten, at most 8 KiB, so rarely that it does not count).
//!
//! So the log writes one entry per append, plus 8 KiB per 256 entries, instead of an entry
//! and about two nodes per append. Roots and proofs are those of RFC 6962: a node is the
//! same hash whether it was stored or recomputed.

use std::collections::HashMap;

use streha_audit::{Hash, NodeSource, interior_hash, leaf_hash};

use crate::keys;

/// Height of a tile (levels of the tree per row of tiles).
pub(crate) const TILE_HEIGHT: u8 = 8;
/// Hashes at the bottom of a full tile.
pub(crate) const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// The leaf hashes of the last, incomplete row-0 tile: tile `tile` holds the first
/// `leaves.len()` of its 256 leaves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail {
    pub(crate) tile: u64,
    pub(crate) leaves: Vec<Hash>,
}

impl Tail {
    /// The tail of a log of `size` entries, from the stored entries.
    pub(crate) fn load(tree: &sled::Tree, size: u64) -> Result<Self, NodeReadError> {
        let tile = size / TILE_WIDTH;
        let mut leaves = Vec::with_capacity(TILE_WIDTH as usize);
        for index in tile * TILE_WIDTH..size {
            let entry = tree
                .get(keys::entry(index))?
                .ok_or(NodeReadError::Missing { level: 0, index })?;
            leaves.push(leaf_hash(&entry));
        }
        Ok(Self { tile, leaves })
    }
}

/// Reads perfect nodes from the stored tiles (and the in-memory [`Tail`]).
pub(crate) struct TileNodes<'a> {
    pub(crate) tree: &'a sled::Tree,
    /// The tail when the reader started, if known; without it the leaves of the incomplete
    /// tile are recomputed from the entries.
    pub(crate) tail: Option<&'a Tail>,
}

/// Why a node could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NodeReadError {
    #[error("database error: {0}")]
    Database(#[from] sled::Error),
    #[error("perfect node ({level}, {index}) is missing")]
    Missing { level: u8, index: u64 },
    #[error("the tile holding perfect node ({level}, {index}) is malformed")]
    Malformed { level: u8, index: u64 },
}

fn parse_hashes(bytes: &[u8]) -> Option<Vec<Hash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .map(|chunk| Hash::from(<[u8; 32]>::try_from(chunk).unwrap_or([0; 32])))
            .collect(),
    )
}

/// The root of the perfect subtree over `hashes` (a power of two of them).
fn fold(mut hashes: Vec<Hash>) -> Hash {
    while hashes.len() > 1 {
        hashes = hashes
            .chunks_exact(2)
            .map(|pair| interior_hash(&pair[0], &pair[1]))
            .collect();
    }
    hashes[0]
}

impl TileNodes<'_> {
    /// Hashes `offset .. offset + count` of the bottom of tile `tile` of row `row`.
    fn bottom(
        &self,
        row: u8,
        tile: u64,
        offset: usize,
        count: usize,
        (level, index): (u8, u64),
    ) -> Result<Vec<Hash>, NodeReadError> {
        let missing = NodeReadError::Missing { level, index };
        let end = offset + count;
        if let Some(bytes) = self.tree.get(keys::tile(row, tile))? {
            let hashes = parse_hashes(&bytes).ok_or(NodeReadError::Malformed { level, index })?;
            if hashes.len() < end {
                return Err(missing);
            }
            return Ok(hashes[offset..end].to_vec());
        }
        if row != 0 {
            return Err(missing);
        }
        if let Some(tail) = self.tail.filter(|tail| tail.tile == tile)
            && tail.leaves.len() >= end
        {
            return Ok(tail.leaves[offset..end].to_vec());
        }
        // Not stored and not in the tail (a reader without one): from the entries.
        let first = tile * TILE_WIDTH;
        (offset..end)
            .map(|i| {
                let index = first + i as u64;
                let entry = self
                    .tree
                    .get(keys::entry(index))?
                    .ok_or(NodeReadError::Missing { level: 0, index })?;
                Ok(leaf_hash(&entry))
            })
            .collect()
    }
}

impl NodeSource for TileNodes<'_> {
    type Error = NodeReadError;

    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        let row = level / TILE_HEIGHT;
        let height = level % TILE_HEIGHT;
        // The node's first hash on its row's bottom level.
        let first = index
            .checked_shl(u32::from(height))
            .ok_or(NodeReadError::Missing { level, index })?;
        let tile = first / TILE_WIDTH;
        let offset = (first % TILE_WIDTH) as usize;
        let hashes = self.bottom(row, tile, offset, 1 << height, (level, index))?;
        Ok(fold(hashes))
    }
}

/// The tiles a batch writes, built as its entries are appended.
pub(crate) struct TileWriter {
    pub(crate) tail: Tail,
    /// Rows ≥ 1 changed by the batch: (row, tile) → the tile's bottom so far.
    rows: HashMap<(u8, u64), Vec<u8>>,
    /// Full row-0 tiles completed by the batch.
    full: Vec<(u64, Vec<u8>)>,
}

impl TileWriter {
    pub(crate) fn new(tail: Tail) -> Self {
        Self {
            tail,
            rows: HashMap::new(),
            full: Vec::new(),
        }
    }

    /// Records a perfect node that [`streha_audit::Frontier::append`] completed.
    ///
    /// # Errors
    /// A database error, or stored tiles that do not line up with the log (corruption).
    pub(crate) fn add(
        &mut self,
        tree: &sled::Tree,
        level: u8,
        index: u64,
        hash: Hash,
    ) -> Result<(), NodeReadError> {
        if level == 0 {
            let position = self.tail.tile * TILE_WIDTH + self.tail.leaves.len() as u64;
            if position != index {
                return Err(NodeReadError::Malformed { level, index });
            }
            self.tail.leaves.push(hash);
            if self.tail.leaves.len() as u64 == TILE_WIDTH {
                let bytes = self
                    .tail
                    .leaves
                    .iter()
                    .flat_map(|h| *h.as_bytes())
                    .collect();
                self.full.push((self.tail.tile, bytes));
                self.tail = Tail {
                    tile: self.tail.tile + 1,
                    leaves: Vec::with_capacity(TILE_WIDTH as usize),
                };
            }
            return Ok(());
        }
        if !level.is_multiple_of(TILE_HEIGHT) {
            return Ok(()); // inside a tile: recomputed when needed
        }
        let row = level / TILE_HEIGHT;
        let tile = index / TILE_WIDTH;
        let position = (index % TILE_WIDTH) as usize;
        let bottom = match self.rows.entry((row, tile)) {
            std::collections::hash_map::Entry::Occupied(bottom) => bottom.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let stored = tree
                    .get(keys::tile(row, tile))?
                    .map(|bytes| bytes.to_vec())
                    .unwrap_or_default();
                slot.insert(stored)
            }
        };
        if bottom.len() != position * 32 {
            return Err(NodeReadError::Malformed { level, index });
        }
        bottom.extend_from_slice(hash.as_bytes());
        Ok(())
    }

    /// Adds the tiles to `batch`; returns the new tail.
    pub(crate) fn finish(self, batch: &mut sled::Batch) -> Tail {
        for (tile, bytes) in self.full {
            batch.insert(&keys::tile(0, tile), bytes);
        }
        for ((row, tile), bytes) in self.rows {
            batch.insert(&keys::tile(row, tile), bytes);
        }
        self.tail
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use streha_audit::{Frontier, MemoryTree, consistency_proof, inclusion_proof, leaf_hash};

    use super::*;

    /// A sled tree holding `size` entries and their tiles, written in batches of the given
    /// sizes, like the store does.
    fn build(size: u64, batch: u64) -> (sled::Db, sled::Tree, Tail, MemoryTree) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        let mut frontier = Frontier::new();
        let mut memory = MemoryTree::new();
        let mut tail = Tail::default();
        let mut written = 0;
        while written < size {
            let n = batch.min(size - written);
            let mut writer = TileWriter::new(tail);
            let mut sled_batch = sled::Batch::default();
            for i in written..written + n {
                let entry = i.to_le_bytes().repeat(3);
                memory.append_entry(&entry);
                for (level, index, hash) in frontier.append(leaf_hash(&entry)) {
                    writer.add(&tree, level, index, hash).unwrap();
                }
                sled_batch.insert(&keys::entry(i), entry);
            }
            tail = writer.finish(&mut sled_batch);
            tree.apply_batch(sled_batch).unwrap();
            written += n;
        }
        (db, tree, tail, memory)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Every proof from tiles (with the in-memory tail, and without it: recomputed
        /// from entries) equals the proof from the whole tree in memory, at random sizes
        /// and batch sizes, across tile boundaries and rows.
        #[test]
        fn tile_proofs_equal_the_reference_tree(
            size in 1u64..1500,
            batch in 1u64..700,
            picks in proptest::collection::vec((any::<u64>(), any::<u64>()), 8),
        ) {
            let (_db, tree, tail, memory) = build(size, batch);
            for tail in [Some(&tail), None] {
                let tiles = TileNodes { tree: &tree, tail };
                prop_assert_eq!(
                    Frontier::from_source(size, &tiles).unwrap().root(),
                    memory.root()
                );
                for &(a, b) in &picks {
                    let n = 1 + b % size;
                    let index = a % n;
                    prop_assert_eq!(
                        inclusion_proof(index, n, &tiles).unwrap(),
                        inclusion_proof(index, n, &memory).unwrap()
                    );
                    let old = a % (n + 1);
                    prop_assert_eq!(
                        consistency_proof(old, n, &tiles).unwrap(),
                        consistency_proof(old, n, &memory).unwrap()
                    );
                }
            }
        }
    }

    /// Row 1 appears once 256 tiles of row 0 are complete; a log of 2^16 + 3 entries has a
    /// full row-1 tile and proofs through it.
    #[test]
    fn a_second_row_of_tiles_is_written_and_read() {
        let size = (1 << 16) + 3;
        let (_db, tree, tail, memory) = build(size, 4096);
        assert_eq!(
            tree.get(keys::tile(1, 0)).unwrap().map(|v| v.len()),
            Some(256 * 32)
        );
        assert_eq!(
            tree.get(keys::tile(0, 255)).unwrap().map(|v| v.len()),
            Some(256 * 32)
        );
        assert!(
            tree.get(keys::tile(0, 256)).unwrap().is_none(),
            "the tail is not stored"
        );
        let tiles = TileNodes {
            tree: &tree,
            tail: Some(&tail),
        };
        for (index, n) in [(0, size), (65_535, size), (65_536, size), (1000, 65_536)] {
            assert_eq!(
                inclusion_proof(index, n, &tiles).unwrap(),
                inclusion_proof(index, n, &memory).unwrap()
            );
        }
        assert_eq!(
            consistency_proof(300, size, &tiles).unwrap(),
            consistency_proof(300, size, &memory).unwrap()
        );
    }
}
