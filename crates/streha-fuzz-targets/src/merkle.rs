//! Target `merkle_proof`: inclusion and consistency proofs in their byte form, verified for
//! arbitrary indices, sizes and roots against a real tree.

use std::sync::LazyLock;

use streha_audit::{
    ConsistencyProof, Hash, InclusionProof, MemoryTree, consistency_proof, empty_root,
    inclusion_proof, leaf_hash, verify_consistency, verify_inclusion,
};

/// The number of entries of the fixed tree the proofs are checked against.
pub const MERKLE_TREE_SIZE: u64 = 300;

/// Entry `index` of the fixed tree.
pub fn merkle_entry(index: u64) -> Vec<u8> {
    format!("entry-{index}").into_bytes()
}

/// The fixed tree: entries `merkle_entry(0..MERKLE_TREE_SIZE)`.
pub fn merkle_tree() -> &'static MemoryTree {
    static TREE: LazyLock<MemoryTree> =
        LazyLock::new(|| MemoryTree::from_entries((0..MERKLE_TREE_SIZE).map(merkle_entry)));
    &TREE
}

/// Mode bits of the first byte.
pub mod mode {
    /// Set: a consistency proof; clear: an inclusion proof.
    pub const CONSISTENCY: u8 = 1;
    /// Set: both sizes are taken modulo `MERKLE_TREE_SIZE + 1`, so they fall in the tree.
    pub const IN_TREE: u8 = 2;
    /// Inclusion: the leaf hash is 32 raw bytes instead of a length-prefixed entry.
    /// Consistency: the old root is 32 raw bytes instead of the tree's.
    pub const RAW_FIRST: u8 = 4;
    /// Inclusion: the root is 32 raw bytes instead of the tree's. Consistency: the new root
    /// is 32 raw bytes instead of the tree's.
    pub const RAW_SECOND: u8 = 8;
}

/// Feeds the proof bytes to `InclusionProof::from_bytes` / `ConsistencyProof::from_bytes`
/// and then to `verify_inclusion` / `verify_consistency`.
///
/// Input layout: a mode byte ([`mode`]); two little-endian `u64`s (index and size, or old
/// and new size); for an inclusion proof, the leaf (a length byte and the entry, or 32 raw
/// bytes) and the root (nothing: the tree's, or 32 raw bytes); for a consistency proof, the
/// old root and the new root (each nothing or 32 raw bytes); the rest is the proof.
///
/// Asserts: a decoded proof re-encodes to its bytes. When the root comes from the real
/// tree at the claimed size: an inclusion proof verifies only for the real entry at the
/// index and only as the real proof (soundness), a consistency proof verifies only for the
/// real old root and as the real proof; and the real proofs verify (completeness).
pub fn merkle_proof(data: &[u8]) {
    let mut r = Reader(data);
    let Some(mode) = r.byte() else { return };
    let (Some(a), Some(b)) = (r.u64(), r.u64()) else {
        return;
    };
    let (a, b) = if mode & mode::IN_TREE != 0 {
        (a % (MERKLE_TREE_SIZE + 1), b % (MERKLE_TREE_SIZE + 1))
    } else {
        (a, b)
    };
    if mode & mode::CONSISTENCY == 0 {
        inclusion(&mut r, mode, a, b);
    } else {
        consistency(&mut r, mode, a, b);
    }
}

fn inclusion(r: &mut Reader<'_>, mode: u8, index: u64, size: u64) {
    let (leaf, entry) = if mode & mode::RAW_FIRST != 0 {
        let Some(leaf) = r.hash() else { return };
        (leaf, None)
    } else {
        let Some(len) = r.byte() else { return };
        let Some(entry) = r.take(usize::from(len)) else {
            return;
        };
        (leaf_hash(entry), Some(entry))
    };
    let real_root = real_root(size);
    let root = if mode & mode::RAW_SECOND != 0 {
        let Some(root) = r.hash() else { return };
        root
    } else {
        real_root.unwrap_or_else(empty_root)
    };
    let proof_bytes = r.rest();
    let Ok(proof) = InclusionProof::from_bytes(proof_bytes) else {
        return;
    };
    assert_eq!(
        proof.to_bytes(),
        proof_bytes,
        "proof bytes are not canonical"
    );

    let result = verify_inclusion(&leaf, index, size, &proof, &root);
    let tree = merkle_tree();
    if result.is_ok() {
        assert!(index < size, "verified an index outside the tree");
    }
    if let Some(real) = real_root.filter(|r| *r == root)
        && index < size
    {
        let real_proof = inclusion_proof(index, size, tree).expect("in the tree");
        let real_leaf = tree.leaf(index).expect("in the tree");
        verify_inclusion(&real_leaf, index, size, &real_proof, &real)
            .expect("a real inclusion proof verifies");
        if result.is_ok()
            && let Some(entry) = entry
        {
            assert_eq!(
                entry,
                merkle_entry(index).as_slice(),
                "an inclusion proof verified for an entry that is not in the tree"
            );
            assert_eq!(proof, real_proof, "a second inclusion proof verified");
        }
    }
}

fn consistency(r: &mut Reader<'_>, mode: u8, old: u64, new: u64) {
    let real_old = real_root(old);
    let real_new = real_root(new);
    let old_root = if mode & mode::RAW_FIRST != 0 {
        let Some(root) = r.hash() else { return };
        root
    } else {
        real_old.unwrap_or_else(empty_root)
    };
    let new_root = if mode & mode::RAW_SECOND != 0 {
        let Some(root) = r.hash() else { return };
        root
    } else {
        real_new.unwrap_or_else(empty_root)
    };
    let proof_bytes = r.rest();
    let Ok(proof) = ConsistencyProof::from_bytes(proof_bytes) else {
        return;
    };
    assert_eq!(
        proof.to_bytes(),
        proof_bytes,
        "proof bytes are not canonical"
    );

    let result = verify_consistency(old, new, &old_root, &new_root, &proof);
    if result.is_ok() {
        assert!(old <= new, "verified a shrinking tree");
    }
    let tree = merkle_tree();
    if let (Some(real_old), Some(real_new)) = (real_old, real_new)
        && old <= new
    {
        let real_proof = consistency_proof(old, new, tree).expect("in the tree");
        verify_consistency(old, new, &real_old, &real_new, &real_proof)
            .expect("a real consistency proof verifies");
        if result.is_ok() && new_root == real_new {
            assert_eq!(
                old_root, real_old,
                "a consistency proof verified for an old root that is not the tree's"
            );
            assert_eq!(proof, real_proof, "a second consistency proof verified");
        }
    }
}

/// The real tree's root at `size`, if `size` is within the tree.
fn real_root(size: u64) -> Option<Hash> {
    (size <= MERKLE_TREE_SIZE).then(|| merkle_tree().root_at(size).expect("in the tree"))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn hash(&mut self) -> Option<Hash> {
        self.take(32).and_then(|b| Hash::try_from(b).ok())
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}
