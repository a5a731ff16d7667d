//! The log's interior hashes as tiles, read as a [`NodeSource`].
//!
//! A tile is a perfect subtree of height 8 (as in Tessera, Sigsum and the C2SP tlog-tiles
//! layout). Tile `t` of row `r` spans the tree levels `8r ..= 8r + 8`; the store keeps its
//! bottom level only: the 256 hashes of the perfect nodes `(8r, 256t .. 256t + 255)`. Every
//! node strictly inside a tile (levels `8r + 1 ..= 8r + 7`) is recomputed from them (at
//! most 255 hashes); the node at level `8r + 8` is the bottom of row `r + 1`.
//!
//! What is written, and when (storage format 3, see `logfiles`): the bottom levels of every
//! row are appended, hash by hash, to the row's file `log/tiles.<r>` as they complete: one
//! 32-byte leaf hash per entry, one hash of row `r` per 256^r entries. Nothing is ever
//! rewritten. Roots and proofs are those of RFC 6962: a node is the same hash whether it was
//! stored, cached or recomputed.
//!
//! What is kept in memory, so that a proof or an append does not read and rehash the
//! interior of recent tiles each time (issue 19: recomputing it doubled the cost of an
//! inclusion proof):
//! - the rightmost tile of every row, with every node inside it that is complete
//!   ([`Tail`]): rebuilt at open from the stored bottom of every row, then extended by every append with the nodes [`Frontier::append`] reports.
//!   A proof of a recent entry at the current size reads nothing else. At most
//!   511 hashes (16 KiB) per row;
//! - the interiors of up to [`TILE_CACHE_TILES`] complete tiles ([`TileCache`]): a complete
//!   tile never changes, so its interior, once computed, is kept until evicted (first in,
//!   first out).
//!
//! [`Frontier::append`]: streha_audit::Frontier::append

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use streha_audit::{Hash, NodeSource, interior_hash};

use crate::logfiles::LogFiles;

/// Height of a tile (levels of the tree per row of tiles).
pub(crate) const TILE_HEIGHT: u8 = 8;
/// Hashes at the bottom of a full tile.
pub(crate) const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Complete tiles whose interior a store keeps in memory (each 511 hashes, 16 KiB: about
/// 1 MiB in all). A proof touches at most two tiles per row of the tree; 64 covers the
/// proofs of every recent entry and of the few sizes that consistency proofs start from.
pub const TILE_CACHE_TILES: usize = 64;

const HEIGHTS: usize = TILE_HEIGHT as usize;

/// The known perfect nodes of one tile: `levels[h]` are those at height `h` above the
/// tile's bottom, left to right (`levels[0]` is the bottom). Only complete nodes are in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TileInterior {
    levels: [Vec<Hash>; HEIGHTS],
}

impl TileInterior {
    /// Every node of the tile that `bottom` completes.
    fn from_bottom(bottom: Vec<Hash>) -> Self {
        let mut levels: [Vec<Hash>; HEIGHTS] = Default::default();
        levels[0] = bottom;
        for height in 1..HEIGHTS {
            levels[height] = levels[height - 1]
                .chunks_exact(2)
                .map(|pair| interior_hash(&pair[0], &pair[1]))
                .collect();
        }
        Self { levels }
    }

    fn node(&self, height: u8, position: usize) -> Option<Hash> {
        self.levels.get(usize::from(height))?.get(position).copied()
    }

    fn is_full(&self) -> bool {
        self.levels[0].len() as u64 == TILE_WIDTH
    }
}

/// Where perfect node `(level, index)` lies: its row, its height inside the row's tiles,
/// its tile, and its position among the tile's nodes of that height.
fn locate(level: u8, index: u64) -> (u8, u8, u64, usize) {
    let row = level / TILE_HEIGHT;
    let height = level % TILE_HEIGHT;
    // A tile holds 2^(8 - height) nodes of that height.
    let shift = u32::from(TILE_HEIGHT - height);
    let tile = index >> shift;
    let position = (index & ((1u64 << shift) - 1)) as usize;
    (row, height, tile, position)
}

/// The rightmost tile of one row, with its complete nodes.
#[derive(Debug, Clone, Default)]
struct RowTail {
    tile: u64,
    nodes: TileInterior,
}

/// The rightmost tile of every row of the log, with every node inside it that is complete.
/// A row's tile that has just been filled stays here until the row's next bottom hash
/// starts the next one.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    rows: Vec<RowTail>,
}

impl Default for Tail {
    fn default() -> Self {
        Self {
            rows: vec![RowTail::default()],
        }
    }
}

impl Tail {
    /// The tail of a log of `size` entries, from the stored hashes of every row.
    pub(crate) fn load(files: &LogFiles, size: u64) -> Result<Self, NodeReadError> {
        let mut rows = Vec::new();
        let mut row: u8 = 0;
        // The complete nodes at level 8·row.
        let mut count = size;
        while row == 0 || count > 0 {
            let tile = count / TILE_WIDTH;
            let first = tile * TILE_WIDTH;
            let bottom = if count > first {
                files
                    .row_hashes(row, first, count)
                    .map_err(|source| NodeReadError::Io {
                        level: row * TILE_HEIGHT,
                        index: first,
                        source,
                    })?
            } else {
                Vec::new()
            };
            rows.push(RowTail {
                tile,
                nodes: TileInterior::from_bottom(bottom),
            });
            row += 1;
            count >>= TILE_HEIGHT;
        }
        Ok(Self { rows })
    }

    /// Node `(level, index)` if the tail holds it.
    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        let (row, height, tile, position) = locate(level, index);
        let tail = self.rows.get(usize::from(row))?;
        if tail.tile != tile {
            return None;
        }
        tail.nodes.node(height, position)
    }
}

/// The interiors of recently used complete tiles (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct TileCache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    tiles: HashMap<(u8, u64), Arc<TileInterior>>,
    /// Insertion order, for eviction.
    order: VecDeque<(u8, u64)>,
}

impl TileCache {
    fn get(&self, row: u8, tile: u64) -> Option<Arc<TileInterior>> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.tiles.get(&(row, tile)).cloned()
    }

    /// Keeps the interior of complete tile `tile` of row `row`.
    pub(crate) fn insert(&self, row: u8, tile: u64, interior: Arc<TileInterior>) {
        if !interior.is_full() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.tiles.contains_key(&(row, tile)) {
            return;
        }
        while inner.tiles.len() >= TILE_CACHE_TILES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.tiles.remove(&oldest);
        }
        inner.tiles.insert((row, tile), interior);
        inner.order.push_back((row, tile));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tiles
            .len()
    }
}

/// Reads perfect nodes from the in-memory [`Tail`], the [`TileCache`] and the log's row
/// files.
pub(crate) struct TileNodes<'a> {
    pub(crate) files: &'a LogFiles,
    /// The committed tree size the reader reads at: no hash past it is read.
    pub(crate) size: u64,
    /// The tail when the reader started, if known.
    pub(crate) tail: Option<&'a Tail>,
    /// Where complete tiles' interiors are kept once computed, if anywhere.
    pub(crate) cache: Option<&'a TileCache>,
}

/// Why a node could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NodeReadError {
    #[error("reading the hashes around perfect node ({level}, {index}): {source}")]
    Io {
        level: u8,
        index: u64,
        source: std::io::Error,
    },
    #[error("perfect node ({level}, {index}) is missing")]
    Missing { level: u8, index: u64 },
    #[error("the tile holding perfect node ({level}, {index}) is malformed")]
    Malformed { level: u8, index: u64 },
}

/// The root of the perfect subtree over `hashes` (a power of two of them).
fn fold(hashes: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| interior_hash(&pair[0], &pair[1]))
            .collect();
    }
    level[0]
}

impl NodeSource for TileNodes<'_> {
    type Error = NodeReadError;

    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        if let Some(hash) = self.tail.and_then(|tail| tail.node(level, index)) {
            return Ok(hash);
        }
        let (row, height, tile, position) = locate(level, index);
        let missing = NodeReadError::Missing { level, index };
        if let Some(interior) = self.cache.and_then(|cache| cache.get(row, tile)) {
            return interior.node(height, position).ok_or(missing);
        }
        // The node's hashes on the bottom of its tile, as far as the reader's size has them.
        let offset = position << height;
        let end = offset + (1 << height);
        let first = tile * TILE_WIDTH;
        let stored = crate::logfiles::row_len(self.size, usize::from(row))
            .saturating_sub(first)
            .min(TILE_WIDTH) as usize;
        if stored < end {
            return Err(missing);
        }
        let io = |source| NodeReadError::Io {
            level,
            index,
            source,
        };
        if let Some(cache) = self.cache
            && stored as u64 == TILE_WIDTH
        {
            let hashes = self
                .files
                .row_hashes(row, first, first + TILE_WIDTH)
                .map_err(io)?;
            let interior = Arc::new(TileInterior::from_bottom(hashes));
            let hash = interior.node(height, position).ok_or(missing)?;
            cache.insert(row, tile, interior);
            return Ok(hash);
        }
        let hashes = self
            .files
            .row_hashes(row, first + offset as u64, first + end as u64)
            .map_err(io)?;
        Ok(fold(&hashes))
    }
}

/// The tiles a batch writes, built as its entries are appended, and the tail after it.
pub(crate) struct TileWriter {
    pub(crate) tail: Tail,
    /// Tiles the batch filled, of every row: their interior goes to the cache once the
    /// batch is durable.
    full: Vec<(u8, u64, Arc<TileInterior>)>,
}

impl TileWriter {
    pub(crate) fn new(tail: Tail) -> Self {
        Self {
            tail,
            full: Vec::new(),
        }
    }

    /// Records a perfect node that [`streha_audit::Frontier::append`] completed (they come
    /// bottom up, so a node's children are always recorded before it).
    ///
    /// # Errors
    /// A node that does not line up with the tail (stored tiles that do not match the log:
    /// corruption).
    pub(crate) fn add(&mut self, level: u8, index: u64, hash: Hash) -> Result<(), NodeReadError> {
        let (row, height, tile, position) = locate(level, index);
        let malformed = NodeReadError::Malformed { level, index };
        let row_index = usize::from(row);
        if row_index == self.tail.rows.len() && height == 0 && index == 0 {
            // The first node of a new row.
            self.tail.rows.push(RowTail::default());
        }
        let tail = self
            .tail
            .rows
            .get_mut(row_index)
            .ok_or(NodeReadError::Malformed { level, index })?;
        if height == 0 && tail.nodes.is_full() && tail.tile.checked_add(1) == Some(tile) {
            // The row's next tile starts.
            *tail = RowTail {
                tile,
                nodes: TileInterior::default(),
            };
        }
        let nodes = &mut tail.nodes.levels[usize::from(height)];
        if tail.tile != tile || nodes.len() != position {
            return Err(malformed);
        }
        nodes.push(hash);
        if height == TILE_HEIGHT - 1 && position == 1 {
            // The tile's last interior node (the one below its top): the tile is full.
            self.full.push((row, tile, Arc::new(tail.nodes.clone())));
        }
        Ok(())
    }

    /// The new tail and the tiles the batch filled (for the cache). The hashes themselves
    /// go to the row files through `logfiles::Pending`.
    pub(crate) fn finish(self) -> (Tail, Vec<(u8, u64, Arc<TileInterior>)>) {
        (self.tail, self.full)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use streha_audit::{Frontier, MemoryTree, consistency_proof, inclusion_proof, leaf_hash};

    use super::*;
    use crate::logfiles::{Pending, Recorded};

    /// Log files holding `size` entries and their hashes, written in batches of the given
    /// sizes, like the store does; the filled tiles go to `cache`.
    fn build(
        size: u64,
        batch: u64,
        cache: &TileCache,
    ) -> (tempfile::TempDir, LogFiles, Tail, MemoryTree) {
        let dir = tempfile::tempdir().unwrap();
        let files = LogFiles::open(dir.path(), Recorded::default()).unwrap();
        let mut frontier = Frontier::new();
        let mut memory = MemoryTree::new();
        let mut tail = Tail::default();
        let mut written = 0;
        while written < size {
            let n = batch.min(size - written);
            let mut writer = TileWriter::new(tail);
            let mut pending = Pending::new(files.committed());
            for i in written..written + n {
                let entry = i.to_le_bytes().repeat(3);
                memory.append_entry(&entry);
                pending.push_entry(&entry);
                for (level, index, hash) in frontier.append(leaf_hash(&entry)) {
                    writer.add(level, index, hash).unwrap();
                    pending.push_node(level, &hash);
                }
            }
            pending.push_checkpoint(frontier.size(), "note");
            let recorded = files.append(&pending).unwrap();
            files.set_recorded(recorded);
            let filled;
            (tail, filled) = writer.finish();
            for (row, tile, interior) in filled {
                cache.insert(row, tile, interior);
            }
            written += n;
        }
        (dir, files, tail, memory)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Every proof from tiles equals the proof from the whole tree in memory, at random
        /// sizes and batch sizes, across tile boundaries and rows: with the in-memory tail
        /// and the cache of tile interiors (filled by the batches, and cold), with the tail
        /// loaded from the files as at open, and with neither (from the row files alone).
        #[test]
        fn tile_proofs_equal_the_reference_tree(
            size in 1u64..1500,
            batch in 1u64..700,
            picks in proptest::collection::vec((any::<u64>(), any::<u64>()), 8),
        ) {
            let warm = TileCache::default();
            let (_dir, files, tail, memory) = build(size, batch, &warm);
            let cold = TileCache::default();
            let loaded = Tail::load(&files, size).unwrap();
            let sources = [
                TileNodes { files: &files, size, tail: Some(&tail), cache: Some(&warm) },
                TileNodes { files: &files, size, tail: Some(&loaded), cache: Some(&cold) },
                TileNodes { files: &files, size, tail: None, cache: None },
            ];
            for tiles in &sources {
                prop_assert_eq!(
                    Frontier::from_source(size, tiles).unwrap().root(),
                    memory.root()
                );
                for &(a, b) in &picks {
                    let n = 1 + b % size;
                    let index = a % n;
                    prop_assert_eq!(
                        inclusion_proof(index, n, tiles).unwrap(),
                        inclusion_proof(index, n, &memory).unwrap()
                    );
                    let old = a % (n + 1);
                    prop_assert_eq!(
                        consistency_proof(old, n, tiles).unwrap(),
                        consistency_proof(old, n, &memory).unwrap()
                    );
                }
            }
        }
    }

    /// Row 1 appears once 256 tiles of row 0 are complete; a log of 2^16 + 3 entries has a
    /// full row-1 tile and proofs through it. The tail loaded from the files holds what the
    /// tail built by the appends holds.
    #[test]
    fn a_second_row_of_tiles_is_written_and_read() {
        let size = (1 << 16) + 3;
        let cache = TileCache::default();
        let (dir, files, tail, memory) = build(size, 4096, &cache);
        let len = |row: usize| {
            std::fs::metadata(dir.path().join("log").join(format!("tiles.{row}")))
                .unwrap()
                .len()
        };
        assert_eq!(len(0), size * 32, "every leaf hash");
        assert_eq!(len(1), 256 * 32, "every hash at level 8");
        assert_eq!(len(2), 32, "the one hash at level 16");
        assert_eq!(len(3), 0);
        assert_eq!(
            cache.len(),
            TILE_CACHE_TILES,
            "the cache stays within its budget"
        );
        let loaded = Tail::load(&files, size).unwrap();
        assert_eq!(loaded.rows.len(), 3);
        for (built, loaded) in tail.rows.iter().zip(&loaded.rows) {
            if built.tile == loaded.tile {
                assert_eq!(built.nodes, loaded.nodes);
            }
        }
        for tail in [&tail, &loaded] {
            let tiles = TileNodes {
                files: &files,
                size,
                tail: Some(tail),
                cache: Some(&cache),
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

    /// A proof of a recent entry at the current size reads no tile from the store: every
    /// node it needs is in the tail. Fails if the tail keeps only the leaves (the interior
    /// recomputed, as before issue 19's fix).
    #[test]
    fn a_recent_proof_needs_nothing_but_the_tail() {
        let size = 256 * 3 + 100;
        let (_dir, _files, tail, memory) = build(size, 50, &TileCache::default());
        // Log files with nothing in them: only the tail is left to answer from.
        let empty = tempfile::tempdir().unwrap();
        let nothing = LogFiles::open(empty.path(), Recorded::default()).unwrap();
        let tiles = TileNodes {
            files: &nothing,
            size,
            tail: Some(&tail),
            cache: None,
        };
        // The left siblings at levels 8 and 9 are in the row-1 tail.
        for index in 256 * 3..size {
            assert_eq!(
                inclusion_proof(index, size, &tiles).unwrap(),
                inclusion_proof(index, size, &memory).unwrap()
            );
        }
    }
}
