//! Where node hashes come from ([`NodeSource`]), the append state ([`Frontier`]) and an
//! in-memory tree ([`MemoryTree`]).
//!
//! Coordinates: the perfect node `(level, index)` is the root of the perfect subtree over
//! leaves `[index << level, (index + 1) << level)`; level 0 holds the leaf hashes. A tree of
//! size `n` consists of its complete perfect nodes only; every other hash (the root of a tree
//! whose size is not a power of two, the right-hand nodes of a proof) is computed from
//! O(log n) of them by [`range_hash`].

use crate::hash::{Hash, empty_root, interior_hash};

/// A read-only view of a tree's perfect (complete) subtree hashes.
///
/// Storage implements it (the store keeps every node that [`Frontier::append`] completes);
/// proof functions ask for nodes by coordinate and never hold storage. A source is only
/// asked for nodes that are complete in the tree the caller named: for a tree of size `n`,
/// `(index + 1) << level <= n`.
pub trait NodeSource {
    /// Why a node could not be read (a database error, a missing node).
    type Error;

    /// The hash of the perfect subtree over leaves `[index << level, (index + 1) << level)`.
    /// Level 0 returns leaf hashes.
    ///
    /// # Errors
    /// Whatever the source fails with; proof functions pass it on unchanged.
    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

impl<S: NodeSource + ?Sized> NodeSource for &S {
    type Error = S::Error;

    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        (**self).perfect_node(level, index)
    }
}

/// The largest power of two `<= n`, as an exponent. `n` must be non-zero.
pub(crate) fn floor_log2(n: u64) -> u8 {
    debug_assert!(n > 0);
    (63 - n.leading_zeros()) as u8
}

/// The largest power of two strictly below `n` (RFC 9162 §2.1.1's `k`). `n` must be > 1.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n > 1);
    1u64 << floor_log2(n - 1)
}

/// `MTH(D[start:end])` for a range that RFC 9162's recursion produces: `start` is a multiple
/// of the smallest power of two `>= end - start`. Reads one perfect node per set bit of
/// `end - start` (at most 64) and folds them right to left.
pub(crate) fn range_hash<S: NodeSource>(start: u64, end: u64, src: &S) -> Result<Hash, S::Error> {
    debug_assert!(start <= end);
    if start == end {
        return Ok(empty_root());
    }
    let mut peaks: Vec<Hash> = Vec::with_capacity((end - start).count_ones() as usize);
    let mut pos = start;
    while pos < end {
        let level = floor_log2(end - pos);
        debug_assert_eq!(pos % (1u64 << level), 0, "unaligned range");
        peaks.push(src.perfect_node(level, pos >> level)?);
        pos += 1u64 << level;
    }
    Ok(fold_peaks(&peaks))
}

/// Folds peaks (highest level first) into a root: `H(p0, H(p1, … H(pk-1, pk)))`.
fn fold_peaks(peaks: &[Hash]) -> Hash {
    match peaks.split_last() {
        None => empty_root(),
        Some((last, rest)) => rest
            .iter()
            .rev()
            .fold(*last, |acc, peak| interior_hash(peak, &acc)),
    }
}

/// The append state of a tree: its size and the roots of its maximal perfect subtrees
/// ("peaks", a compact range from leaf 0), one per set bit of the size, highest first.
///
/// `append` is O(1) amortised and reports every perfect node it completes, so a store that
/// persists those nodes can later answer any proof with O(log n) reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The peaks, highest level first: the perfect node `(level, index)` for each set bit
    /// `level` of the size, where `index` counts the leaves before it `>> level`.
    #[must_use]
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// The coordinates `(level, index)` of the peaks of a tree of `size` leaves, highest
    /// first, in the order of [`Frontier::peaks`].
    #[must_use]
    pub fn peak_coordinates(size: u64) -> Vec<(u8, u64)> {
        let mut out = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                out.push((level, start >> level));
                start += 1u64 << level;
            }
        }
        out
    }

    /// Rebuilds a frontier from its size and peaks (as returned by [`Frontier::peaks`]).
    ///
    /// # Errors
    /// [`FrontierError::PeakCount`] if there is not exactly one peak per set bit of `size`.
    pub fn from_peaks(size: u64, peaks: Vec<Hash>) -> Result<Self, FrontierError> {
        let expected = size.count_ones() as usize;
        if peaks.len() != expected {
            return Err(FrontierError::PeakCount {
                size,
                expected,
                actual: peaks.len(),
            });
        }
        Ok(Self { size, peaks })
    }

    /// Rebuilds the frontier of the tree of `size` leaves from a node source, reading one
    /// node per set bit of `size` (at most 64).
    ///
    /// # Errors
    /// The source's error if a peak cannot be read.
    pub fn from_source<S: NodeSource>(size: u64, src: &S) -> Result<Self, S::Error> {
        let peaks = Self::peak_coordinates(size)
            .into_iter()
            .map(|(level, index)| src.perfect_node(level, index))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { size, peaks })
    }

    /// The root hash of the tree (RFC 9162 §2.1.1 `MTH`); [`empty_root`] for size 0.
    #[must_use]
    pub fn root(&self) -> Hash {
        fold_peaks(&self.peaks)
    }

    /// Appends a leaf hash (see [`leaf_hash`](crate::leaf_hash)) and returns every perfect
    /// node this completes as `(level, index, hash)`: the leaf itself first, at level 0 and
    /// index `size`, then each merged parent up the tree.
    ///
    /// # Panics
    /// If the tree already holds `u64::MAX` leaves.
    pub fn append(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        let index = self.size;
        assert!(index < u64::MAX, "the tree is full");
        let mut nodes = Vec::with_capacity(1 + index.trailing_ones() as usize);
        nodes.push((0u8, index, leaf));
        let mut hash = leaf;
        let mut level = 0u8;
        let mut node_index = index;
        // Each trailing one bit of the old size is a peak of the same level that the new
        // node completes.
        while node_index & 1 == 1 {
            let left = self.peaks.pop().expect("one peak per set bit of the size");
            hash = interior_hash(&left, &hash);
            level += 1;
            node_index >>= 1;
            nodes.push((level, node_index, hash));
        }
        self.peaks.push(hash);
        self.size += 1;
        nodes
    }
}

/// Why a [`Frontier`] cannot be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrontierError {
    /// The number of peaks does not match the size.
    #[error("a tree of size {size} has {expected} peaks, got {actual}")]
    PeakCount {
        /// The size given.
        size: u64,
        /// One per set bit of the size.
        expected: usize,
        /// How many were given.
        actual: usize,
    },
}

/// A [`MemoryTree`] was asked for a node it does not hold (not complete at its size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tree has no complete node at level {level}, index {index}")]
pub struct MissingNode {
    /// Level asked for.
    pub level: u8,
    /// Index asked for.
    pub index: u64,
}

/// A whole tree in memory: every perfect node, as a [`NodeSource`]. For tests, tools and the
/// offline verifier; about 64 bytes per leaf (10⁶ leaves ≈ 64 MB).
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the perfect node `(l, i)`.
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemoryTree {
    /// The empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of the given entries, in order.
    #[must_use]
    pub fn from_entries<I, E>(entries: I) -> Self
    where
        I: IntoIterator<Item = E>,
        E: AsRef<[u8]>,
    {
        let mut tree = Self::new();
        for e in entries {
            tree.append_entry(e.as_ref());
        }
        tree
    }

    /// Appends a leaf hash; returns its index.
    pub fn append(&mut self, leaf: Hash) -> u64 {
        let index = self.frontier.size();
        for (level, _, hash) in self.frontier.append(leaf) {
            let level = usize::from(level);
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
        }
        index
    }

    /// Appends an entry (hashing it with [`leaf_hash`](crate::leaf_hash)); returns its index.
    pub fn append_entry(&mut self, entry: &[u8]) -> u64 {
        self.append(crate::hash::leaf_hash(entry))
    }

    /// Number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The current root.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The current frontier.
    #[must_use]
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The leaf hash at `index`, if present.
    #[must_use]
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.node(0, index)
    }

    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        let row = self.levels.get(usize::from(level))?;
        row.get(usize::try_from(index).ok()?).copied()
    }

    /// The root of the tree at an earlier `size` (`size <= self.size()`).
    ///
    /// # Errors
    /// [`MissingNode`] if `size` exceeds the tree.
    pub fn root_at(&self, size: u64) -> Result<Hash, MissingNode> {
        range_hash(0, size, self)
    }
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;

    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.node(level, index).ok_or(MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    /// RFC 9162 §2.1.1 MTH, recursively, straight from the definition.
    pub(crate) fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                interior_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf-{i}").as_bytes()))
            .collect()
    }

    #[test]
    fn roots_match_the_definition() {
        let all = leaves(70);
        let mut f = Frontier::new();
        let mut t = MemoryTree::new();
        assert_eq!(f.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            f.append(*leaf);
            t.append(*leaf);
            let want = reference_root(&all[..=i]);
            assert_eq!(f.root(), want, "size {}", i + 1);
            assert_eq!(t.root(), want);
            for size in 0..=(i as u64 + 1) {
                assert_eq!(
                    t.root_at(size).unwrap(),
                    reference_root(&all[..size as usize])
                );
            }
        }
    }

    #[test]
    fn append_reports_completed_nodes() {
        let mut f = Frontier::new();
        let all = leaves(8);
        assert_eq!(f.append(all[0]), vec![(0, 0, all[0])]);
        let n = f.append(all[1]);
        assert_eq!(n.len(), 2);
        assert_eq!(n[1], (1, 0, interior_hash(&all[0], &all[1])));
        f.append(all[2]);
        let n = f.append(all[3]);
        assert_eq!(
            n.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(),
            [(0, 3), (1, 1), (2, 0)]
        );
        assert_eq!(n[2].2, reference_root(&all[..4]));
    }

    #[test]
    fn from_source_and_from_peaks() {
        let mut t = MemoryTree::new();
        for (i, leaf) in leaves(100).into_iter().enumerate() {
            t.append(leaf);
            let size = i as u64 + 1;
            let f = Frontier::from_source(size, &t).unwrap();
            assert_eq!(&f, t.frontier());
            let g = Frontier::from_peaks(size, f.peaks().to_vec()).unwrap();
            assert_eq!(g, f);
        }
        assert_eq!(
            Frontier::from_source(101, &t),
            Err(MissingNode {
                level: 0,
                index: 100
            })
        );
        assert_eq!(
            Frontier::from_peaks(3, vec![]),
            Err(FrontierError::PeakCount {
                size: 3,
                expected: 2,
                actual: 0
            })
        );
    }

    #[test]
    fn peak_coordinates() {
        assert_eq!(Frontier::peak_coordinates(0), vec![]);
        assert_eq!(
            Frontier::peak_coordinates(13),
            vec![(3, 0), (2, 2), (0, 12)]
        );
        assert_eq!(Frontier::peak_coordinates(u64::MAX).len(), 64);
    }
}
