//! Inclusion and consistency proofs: generation from a [`NodeSource`] (RFC 9162 §2.1.3.1,
//! §2.1.4.1) and verification from bytes alone (RFC 9162 §2.1.3.2, §2.1.4.2).

use crate::hash::{Hash, empty_root, interior_hash};
use crate::tree::{NodeSource, range_hash, split_point};

/// The most hashes a proof may hold, in memory and in its byte form. An inclusion proof in a
/// tree of up to 2⁶⁴−1 leaves, and a consistency proof between trees of up to 2⁶³ leaves,
/// fit.
pub const MAX_PROOF_HASHES: usize = 64;

macro_rules! proof_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "Vec<Hash>", into = "Vec<Hash>")]
        pub struct $name {
            hashes: Vec<Hash>,
        }

        impl $name {
            /// Wraps a list of hashes, in RFC 9162 order.
            ///
            /// # Errors
            /// [`ProofDecodeError::TooManyHashes`] beyond [`MAX_PROOF_HASHES`].
            pub fn new(hashes: Vec<Hash>) -> Result<Self, ProofDecodeError> {
                if hashes.len() > MAX_PROOF_HASHES {
                    return Err(ProofDecodeError::TooManyHashes {
                        count: hashes.len(),
                        max: MAX_PROOF_HASHES,
                    });
                }
                Ok(Self { hashes })
            }

            /// The hashes, in RFC 9162 order.
            #[must_use]
            pub fn hashes(&self) -> &[Hash] {
                &self.hashes
            }

            /// The hashes, by value.
            #[must_use]
            pub fn into_hashes(self) -> Vec<Hash> {
                self.hashes
            }

            /// The compact byte form: one byte with the number of hashes (at most
            /// [`MAX_PROOF_HASHES`]), then the hashes, 32 bytes each.
            #[must_use]
            pub fn to_bytes(&self) -> Vec<u8> {
                let mut out = Vec::with_capacity(1 + 32 * self.hashes.len());
                // `new` bounds the count to 64, so it fits in a byte.
                out.push(self.hashes.len() as u8);
                for h in &self.hashes {
                    out.extend_from_slice(h.as_bytes());
                }
                out
            }

            /// Parses the compact byte form from untrusted bytes.
            ///
            /// # Errors
            /// [`ProofDecodeError::Empty`], [`ProofDecodeError::TooManyHashes`], or
            /// [`ProofDecodeError::Length`] if the input is truncated or has trailing bytes.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofDecodeError> {
                decode_hashes(bytes).map(|hashes| Self { hashes })
            }
        }

        impl TryFrom<Vec<Hash>> for $name {
            type Error = ProofDecodeError;

            fn try_from(hashes: Vec<Hash>) -> Result<Self, Self::Error> {
                Self::new(hashes)
            }
        }

        impl From<$name> for Vec<Hash> {
            fn from(proof: $name) -> Self {
                proof.hashes
            }
        }
    };
}

proof_type!(
    /// The audit path of one leaf: the sibling hashes from the leaf up to the root
    /// (RFC 9162 §2.1.3.1 `PATH(m, D[n])`). It does not carry the index or size it is for;
    /// the verifier supplies them.
    InclusionProof
);

proof_type!(
    /// The hashes proving that a tree of `old_size` leaves is a prefix of a tree of
    /// `new_size` leaves (RFC 9162 §2.1.4.1 `PROOF(m, D[n])`). It does not carry the sizes.
    ConsistencyProof
);

fn decode_hashes(bytes: &[u8]) -> Result<Vec<Hash>, ProofDecodeError> {
    let (&count, rest) = bytes.split_first().ok_or(ProofDecodeError::Empty)?;
    let count = usize::from(count);
    if count > MAX_PROOF_HASHES {
        return Err(ProofDecodeError::TooManyHashes {
            count,
            max: MAX_PROOF_HASHES,
        });
    }
    if rest.len() != 32 * count {
        return Err(ProofDecodeError::Length {
            expected: 1 + 32 * count,
            actual: bytes.len(),
        });
    }
    Ok(rest
        .chunks_exact(32)
        .map(|c| Hash::try_from(c).expect("chunks of 32 bytes"))
        .collect())
}

/// Why bytes are not a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofDecodeError {
    /// No bytes at all (the count byte is missing).
    #[error("the proof is empty: it must start with a count byte")]
    Empty,
    /// The count exceeds [`MAX_PROOF_HASHES`].
    #[error("a proof holds at most {max} hashes, this one claims {count}")]
    TooManyHashes {
        /// The count found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The input is truncated or has trailing bytes.
    #[error("a proof of that many hashes is {expected} bytes long, got {actual} bytes")]
    Length {
        /// Length implied by the count byte.
        expected: usize,
        /// Length of the input.
        actual: usize,
    },
}

/// Why a proof could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError<E> {
    /// The leaf index is not in the tree (`index >= size`).
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// Leaf index asked for.
        index: u64,
        /// Tree size asked for.
        size: u64,
    },
    /// The old size exceeds the new size.
    #[error("cannot prove consistency from size {old_size} to the smaller size {new_size}")]
    SizeOrder {
        /// The old size asked for.
        old_size: u64,
        /// The new size asked for.
        new_size: u64,
    },
    /// The proof would exceed [`MAX_PROOF_HASHES`] (only for trees beyond 2⁶³ leaves).
    #[error("a proof for a tree of {size} leaves does not fit in {MAX_PROOF_HASHES} hashes")]
    TreeTooLarge {
        /// The tree size asked for.
        size: u64,
    },
    /// The node source failed.
    #[error("reading a tree node failed: {0}")]
    Source(#[source] E),
}

/// Why a proof did not verify. Says nothing about which party is wrong: the proof, the leaf,
/// the sizes or a root may be the false one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The leaf index is not in the tree (`index >= size`).
    #[error("leaf {index} cannot be in a tree of {size} leaves")]
    IndexOutOfRange {
        /// Leaf index given.
        index: u64,
        /// Tree size given.
        size: u64,
    },
    /// The old size exceeds the new size.
    #[error("the old size {old_size} exceeds the new size {new_size}")]
    SizeOrder {
        /// The old size given.
        old_size: u64,
        /// The new size given.
        new_size: u64,
    },
    /// The proof has the wrong number of hashes for the sizes (and index) given.
    #[error("the proof has {actual} hashes, but these sizes need exactly {expected}")]
    ProofLength {
        /// Number of hashes the sizes imply.
        expected: usize,
        /// Number of hashes in the proof.
        actual: usize,
    },
    /// The inclusion proof and the leaf lead to a different root than the one given.
    #[error("the inclusion proof does not lead to the given root")]
    RootMismatch,
    /// The consistency proof does not reproduce the old root.
    #[error("the consistency proof does not reproduce the old root")]
    OldRootMismatch,
    /// The consistency proof does not reproduce the new root.
    #[error("the consistency proof does not reproduce the new root")]
    NewRootMismatch,
    /// Two trees of the same size have different roots: a split view, or a wrong root.
    #[error("two roots for the same tree size differ")]
    SameSizeRootsDiffer,
}

/// Number of hashes in the inclusion proof of `index` in a tree of `size` (`index < size`).
fn inclusion_len(index: u64, size: u64) -> usize {
    debug_assert!(index < size);
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index.checked_shr(inner).unwrap_or(0)).count_ones();
    (inner + border) as usize
}

/// Number of hashes in the consistency proof from `old` to `new` (`0 < old < new`).
fn consistency_len(old: u64, new: u64) -> usize {
    debug_assert!(0 < old && old < new);
    let path = inclusion_len(old - 1, new);
    let shift = old.trailing_zeros() as usize;
    let seed = usize::from(!old.is_power_of_two());
    path.saturating_sub(shift) + seed
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size` leaves,
/// RFC 9162 §2.1.3.1. Reads O(log n) nodes: one per level, plus the peaks of at most one
/// ragged right-hand subtree.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] if `index >= size`; [`ProofError::Source`] if a node
/// cannot be read (for instance because `size` exceeds what the source holds).
pub fn inclusion_proof<S: NodeSource>(
    index: u64,
    size: u64,
    src: &S,
) -> Result<InclusionProof, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // PATH(m, D[lo:hi]) descends towards the leaf; each step contributes the sibling subtree.
    // We walk top-down and reverse, since the RFC lists the deepest sibling first.
    let mut hashes = Vec::with_capacity(inclusion_len(index, size));
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            hashes.push(range_hash(lo + k, hi, src).map_err(ProofError::Source)?);
            hi = lo + k;
        } else {
            hashes.push(range_hash(lo, lo + k, src).map_err(ProofError::Source)?);
            lo += k;
        }
    }
    hashes.reverse();
    Ok(InclusionProof { hashes })
}

/// The consistency proof from the tree of `old_size` leaves to the tree of `new_size`
/// leaves, RFC 9162 §2.1.4.1 (`PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`). Reads O(log n)
/// nodes.
///
/// The proof is empty when `old_size == new_size` and when `old_size == 0` (the RFC defines
/// no proof from the empty tree; every tree extends it).
///
/// # Errors
/// [`ProofError::SizeOrder`] if `old_size > new_size`; [`ProofError::TreeTooLarge`] beyond
/// 2⁶³ leaves; [`ProofError::Source`] if a node cannot be read.
pub fn consistency_proof<S: NodeSource>(
    old_size: u64,
    new_size: u64,
    src: &S,
) -> Result<ConsistencyProof, ProofError<S::Error>> {
    if old_size > new_size {
        return Err(ProofError::SizeOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(ConsistencyProof { hashes: Vec::new() });
    }
    let len = consistency_len(old_size, new_size);
    if len > MAX_PROOF_HASHES {
        return Err(ProofError::TreeTooLarge { size: new_size });
    }
    let mut hashes = Vec::with_capacity(len);
    // SUBPROOF(m, D[lo:hi], b), walked top-down; `m` is `old_size - lo`.
    let (mut lo, mut hi, mut whole) = (0u64, new_size, true);
    loop {
        let n = hi - lo;
        let m = old_size - lo;
        if m == n {
            // SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}.
            if !whole {
                hashes.push(range_hash(lo, hi, src).map_err(ProofError::Source)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            hashes.push(range_hash(lo + k, hi, src).map_err(ProofError::Source)?);
            hi = lo + k;
        } else {
            hashes.push(range_hash(lo, lo + k, src).map_err(ProofError::Source)?);
            lo += k;
            whole = false;
        }
    }
    hashes.reverse();
    debug_assert_eq!(hashes.len(), len);
    Ok(ConsistencyProof { hashes })
}

/// The root of the tree of `size` leaves (RFC 9162 §2.1.1 `MTH`), from one node per set bit
/// of `size`.
///
/// # Errors
/// [`ProofError::Source`] if a node cannot be read.
pub fn root_at<S: NodeSource>(size: u64, src: &S) -> Result<Hash, ProofError<S::Error>> {
    range_hash(0, size, src).map_err(ProofError::Source)
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is
/// `root`, RFC 9162 §2.1.3.2.
///
/// Success does **not** imply that `root` is the log's real root at `size`: check the root
/// against a signed checkpoint of that size. Nor does it bind `size` by itself: a root does
/// not commit to its size, so a proof can also verify for another size whose tree has the
/// same shape along the path. Always take the size from the same checkpoint as the root.
///
/// # Errors
/// [`VerifyError::IndexOutOfRange`], [`VerifyError::ProofLength`] or
/// [`VerifyError::RootMismatch`].
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &InclusionProof,
    root: &Hash,
) -> Result<(), VerifyError> {
    // Step 1.
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    if proof.hashes.len() != expected {
        return Err(VerifyError::ProofLength {
            expected,
            actual: proof.hashes.len(),
        });
    }
    // Steps 2–3.
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf_hash;
    // Step 4.
    for p in &proof.hashes {
        if s == 0 {
            return Err(VerifyError::ProofLength {
                expected,
                actual: proof.hashes.len(),
            });
        }
        if f & 1 == 1 || f == s {
            r = interior_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = interior_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    // Step 5.
    if s != 0 {
        return Err(VerifyError::ProofLength {
            expected,
            actual: proof.hashes.len(),
        });
    }
    if r != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `old_size` leaves with root `old_root` is a prefix of the tree
/// of `new_size` leaves with root `new_root`, RFC 9162 §2.1.4.2.
///
/// Edge cases, decided here: `old_size == new_size` needs an empty proof and equal roots;
/// `old_size == 0` needs an empty proof and `old_root ==` [`empty_root`] (every tree extends
/// the empty tree, so `new_root` is not checked).
///
/// Success does **not** imply that either root is genuine: check both against signed
/// checkpoints of those sizes.
///
/// # Errors
/// [`VerifyError::SizeOrder`], [`VerifyError::ProofLength`],
/// [`VerifyError::SameSizeRootsDiffer`], [`VerifyError::OldRootMismatch`] or
/// [`VerifyError::NewRootMismatch`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &ConsistencyProof,
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizeOrder { old_size, new_size });
    }
    let path = &proof.hashes;
    if old_size == 0 || old_size == new_size {
        if !path.is_empty() {
            return Err(VerifyError::ProofLength {
                expected: 0,
                actual: path.len(),
            });
        }
        if old_size == 0 {
            return if *old_root == empty_root() {
                Ok(())
            } else {
                Err(VerifyError::OldRootMismatch)
            };
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(VerifyError::SameSizeRootsDiffer)
        };
    }
    let expected = consistency_len(old_size, new_size);
    if path.len() != expected {
        return Err(VerifyError::ProofLength {
            expected,
            actual: path.len(),
        });
    }
    // Steps 1–2: if `old_size` is a power of two, the old root is the implicit first element.
    let (seed, rest) = if old_size.is_power_of_two() {
        (*old_root, &path[..])
    } else {
        (path[0], &path[1..])
    };
    // Steps 3–4.
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (seed, seed);
    // Step 6.
    for c in rest {
        if s == 0 {
            return Err(VerifyError::ProofLength {
                expected,
                actual: path.len(),
            });
        }
        if f & 1 == 1 || f == s {
            fr = interior_hash(c, &fr);
            sr = interior_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = interior_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    // Step 7.
    if s != 0 {
        return Err(VerifyError::ProofLength {
            expected,
            actual: path.len(),
        });
    }
    if fr != *old_root {
        return Err(VerifyError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(VerifyError::NewRootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tree::{MemoryTree, MissingNode};

    fn tree(n: u64) -> MemoryTree {
        MemoryTree::from_entries((0..n).map(|i| format!("leaf-{i}")))
    }

    /// Counts node reads.
    struct Counting<'a>(&'a MemoryTree, std::cell::Cell<usize>);

    impl NodeSource for Counting<'_> {
        type Error = MissingNode;
        fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
            self.1.set(self.1.get() + 1);
            self.0.perfect_node(level, index)
        }
    }

    #[test]
    fn rfc_example_shapes() {
        // RFC 9162 §2.1.5: the 7-leaf tree.
        let t = tree(7);
        assert_eq!(inclusion_proof(0, 7, &t).unwrap().hashes().len(), 3);
        assert_eq!(inclusion_proof(3, 7, &t).unwrap().hashes().len(), 3);
        assert_eq!(inclusion_proof(4, 7, &t).unwrap().hashes().len(), 3);
        assert_eq!(inclusion_proof(6, 7, &t).unwrap().hashes().len(), 2);
        // PROOF(3, D[7]) = [c, d, g, l]; PROOF(4, D[7]) = [l]; PROOF(6, D[7]) = [i, j, k].
        assert_eq!(consistency_proof(3, 7, &t).unwrap().hashes().len(), 4);
        let p = consistency_proof(4, 7, &t).unwrap();
        assert_eq!(p.hashes(), &[range_hash(4, 7, &t).unwrap()]);
        let p = consistency_proof(6, 7, &t).unwrap();
        assert_eq!(p.hashes()[0], t.perfect_node(1, 2).unwrap()); // i = MTH(D[4:6])
        assert_eq!(p.hashes()[1], t.leaf(6).unwrap()); // j = leaf 6
        assert_eq!(p.hashes()[2], t.perfect_node(2, 0).unwrap()); // k = MTH(D[0:4])
    }

    #[test]
    fn all_small_proofs_verify() {
        for n in 0..=40u64 {
            let t = tree(n);
            let root = t.root();
            for i in 0..n {
                let p = inclusion_proof(i, n, &t).unwrap();
                verify_inclusion(&t.leaf(i).unwrap(), i, n, &p, &root).unwrap();
            }
            for m in 0..=n {
                let p = consistency_proof(m, n, &t).unwrap();
                verify_consistency(m, n, &t.root_at(m).unwrap(), &root, &p).unwrap();
            }
        }
    }

    #[test]
    fn reads_are_logarithmic() {
        let t = tree(1000);
        for (i, n) in [(0, 1000), (999, 1000), (511, 1000), (700, 777)] {
            let c = Counting(&t, 0.into());
            inclusion_proof(i, n, &c).unwrap();
            assert!(c.1.get() <= 2 * 10 + 1, "{} reads", c.1.get());
        }
        for (m, n) in [(1, 1000), (999, 1000), (333, 1000), (512, 777)] {
            let c = Counting(&t, 0.into());
            consistency_proof(m, n, &c).unwrap();
            assert!(c.1.get() <= 2 * 10 + 1, "{} reads", c.1.get());
        }
    }

    #[test]
    fn generation_edge_cases() {
        let t = tree(5);
        assert_eq!(
            inclusion_proof(5, 5, &t),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            inclusion_proof(0, 0, &t),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            consistency_proof(4, 3, &t),
            Err(ProofError::SizeOrder {
                old_size: 4,
                new_size: 3
            })
        );
        assert!(consistency_proof(0, 5, &t).unwrap().hashes().is_empty());
        assert!(consistency_proof(5, 5, &t).unwrap().hashes().is_empty());
        assert!(matches!(
            inclusion_proof(0, 6, &t),
            Err(ProofError::Source(_))
        ));
        assert_eq!(root_at(0, &t).unwrap(), empty_root());
        // The longest proofs: 64 hashes up to 2^63 leaves, 65 beyond (not representable).
        assert_eq!(consistency_len(3, 1 << 63), 64);
        assert_eq!(consistency_len(3, u64::MAX), 65);
        assert_eq!(inclusion_len(0, u64::MAX), 64);
        assert_eq!(
            consistency_proof(3, u64::MAX, &t),
            Err(ProofError::TreeTooLarge { size: u64::MAX })
        );
    }

    #[test]
    fn verification_edge_cases() {
        let t = tree(8);
        let root = t.root();
        let leaf = t.leaf(2).unwrap();
        let p = inclusion_proof(2, 8, &t).unwrap();
        assert_eq!(
            verify_inclusion(&leaf, 8, 8, &p, &root),
            Err(VerifyError::IndexOutOfRange { index: 8, size: 8 })
        );
        let mut long = p.hashes().to_vec();
        long.push(root);
        assert_eq!(
            verify_inclusion(&leaf, 2, 8, &InclusionProof::new(long).unwrap(), &root),
            Err(VerifyError::ProofLength {
                expected: 3,
                actual: 4
            })
        );
        let short = InclusionProof::new(p.hashes()[..2].to_vec()).unwrap();
        assert_eq!(
            verify_inclusion(&leaf, 2, 8, &short, &root),
            Err(VerifyError::ProofLength {
                expected: 3,
                actual: 2
            })
        );
        assert_eq!(
            verify_inclusion(&leaf_hash(b"other"), 2, 8, &p, &root),
            Err(VerifyError::RootMismatch)
        );

        let empty = ConsistencyProof::new(vec![]).unwrap();
        let r5 = t.root_at(5).unwrap();
        assert_eq!(
            verify_consistency(6, 5, &root, &r5, &empty),
            Err(VerifyError::SizeOrder {
                old_size: 6,
                new_size: 5
            })
        );
        assert_eq!(
            verify_consistency(0, 8, &empty_root(), &root, &empty),
            Ok(())
        );
        assert_eq!(
            verify_consistency(0, 8, &root, &root, &empty),
            Err(VerifyError::OldRootMismatch)
        );
        assert_eq!(verify_consistency(8, 8, &root, &root, &empty), Ok(()));
        assert_eq!(
            verify_consistency(8, 8, &root, &r5, &empty),
            Err(VerifyError::SameSizeRootsDiffer)
        );
        let one = ConsistencyProof::new(vec![root]).unwrap();
        assert_eq!(
            verify_consistency(8, 8, &root, &root, &one),
            Err(VerifyError::ProofLength {
                expected: 0,
                actual: 1
            })
        );
        assert_eq!(
            verify_consistency(5, 8, &r5, &root, &empty),
            Err(VerifyError::ProofLength {
                expected: 4,
                actual: 0
            })
        );
        let good = consistency_proof(5, 8, &t).unwrap();
        assert_eq!(
            verify_consistency(5, 8, &r5, &r5, &good),
            Err(VerifyError::NewRootMismatch)
        );
        assert_eq!(
            verify_consistency(5, 8, &root, &root, &good),
            Err(VerifyError::OldRootMismatch)
        );
    }

    /// Documented in spec/audit-log.md §2.3: the same proof and root verify leaf 0 in sizes
    /// 5 and 6, because a root does not commit to its size.
    #[test]
    fn a_root_does_not_commit_to_its_size() {
        let t = tree(5);
        let p = inclusion_proof(0, 5, &t).unwrap();
        verify_inclusion(&t.leaf(0).unwrap(), 0, 6, &p, &t.root()).unwrap();
    }

    #[test]
    fn byte_form() {
        let t = tree(13);
        let p = inclusion_proof(6, 13, &t).unwrap();
        let bytes = p.to_bytes();
        assert_eq!(bytes[0] as usize, p.hashes().len());
        assert_eq!(InclusionProof::from_bytes(&bytes).unwrap(), p);
        assert_eq!(
            InclusionProof::from_bytes(&[]),
            Err(ProofDecodeError::Empty)
        );
        assert_eq!(InclusionProof::from_bytes(&[0]).unwrap().hashes().len(), 0);
        assert_eq!(
            InclusionProof::from_bytes(&[65]),
            Err(ProofDecodeError::TooManyHashes { count: 65, max: 64 })
        );
        for cut in 1..bytes.len() {
            assert!(matches!(
                InclusionProof::from_bytes(&bytes[..cut]),
                Err(ProofDecodeError::Length { .. })
            ));
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            ConsistencyProof::from_bytes(&longer),
            Err(ProofDecodeError::Length { .. })
        ));
        assert!(InclusionProof::new(vec![empty_root(); 65]).is_err());
    }

    #[test]
    fn serde_form() {
        let t = tree(13);
        let p = consistency_proof(5, 13, &t).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.starts_with("[\""));
        assert_eq!(serde_json::from_str::<ConsistencyProof>(&json).unwrap(), p);
        let too_many = serde_json::to_string(&vec![empty_root(); 65]).unwrap();
        assert!(serde_json::from_str::<ConsistencyProof>(&too_many).is_err());
    }
}
