//! Property tests: proofs from a `MemoryTree` verify, any tampering fails, the frontier agrees
//! with the tree, and no parser panics on arbitrary input.

use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use streha_audit::{
    Checkpoint, ConsistencyProof, Frontier, Hash, InclusionProof, LogBundle, MemoryTree,
    NodeSource, NoteSignature, NoteSigner, NoteVerifier, SignedNote, VerifyError,
    consistency_proof, inclusion_proof, leaf_hash, root_at, sign_checkpoint, verify_consistency,
    verify_inclusion,
};

const MAX_SIZE: u64 = 3000;

/// One shared tree of `MAX_SIZE` leaves; smaller trees are its prefixes (`root_at`).
fn big_tree() -> &'static MemoryTree {
    static TREE: OnceLock<MemoryTree> = OnceLock::new();
    TREE.get_or_init(|| MemoryTree::from_entries((0..MAX_SIZE).map(|i| format!("entry {i}"))))
}

fn flip(h: &Hash, byte: usize, bit: u8) -> Hash {
    let mut b = h.to_bytes();
    b[byte] ^= 1 << bit;
    Hash::from(b)
}

/// The control flow of RFC 9162 §2.1.3.2 for (index, size): which side each proof hash goes
/// on. Two claims with the same trace compute the same root from the same proof.
fn inclusion_trace(index: u64, size: u64) -> Option<Vec<bool>> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut out = Vec::new();
    while s > 0 {
        if f & 1 == 1 || f == s {
            out.push(true);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            out.push(false);
        }
        f >>= 1;
        s >>= 1;
    }
    Some(out)
}

/// The control flow of RFC 9162 §2.1.4.2 for (old, new), for 0 < old < new.
fn consistency_trace(old: u64, new: u64) -> Option<(bool, Vec<bool>)> {
    if old == 0 || old >= new {
        return None;
    }
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut out = Vec::new();
    while s > 0 {
        if f & 1 == 1 || f == s {
            out.push(true);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            out.push(false);
        }
        f >>= 1;
        s >>= 1;
    }
    Some((old.is_power_of_two(), out))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every inclusion and consistency proof of a random tree verifies.
    #[test]
    fn every_proof_verifies(size in 0..=MAX_SIZE) {
        let tree = big_tree();
        let root = root_at(size, tree).unwrap();
        for index in 0..size {
            let proof = inclusion_proof(index, size, tree).unwrap();
            verify_inclusion(&tree.leaf(index).unwrap(), index, size, &proof, &root).unwrap();
        }
        for old in 0..=size {
            let proof = consistency_proof(old, size, tree).unwrap();
            let old_root = root_at(old, tree).unwrap();
            verify_consistency(old, size, &old_root, &root, &proof).unwrap();
        }
    }

    /// Flipping any bit-position in any byte of the proof, the leaf or the root, or changing
    /// the index, fails; changing the size fails unless the RFC algorithm takes the very same
    /// steps for the other size (a root does not commit to its size: see the spec).
    #[test]
    fn tampered_inclusion_fails(
        size in 1..=MAX_SIZE,
        index_seed in any::<u64>(),
        other_seed in any::<u64>(),
        bit in 0u8..8,
    ) {
        let tree = big_tree();
        let index = index_seed % size;
        let root = root_at(size, tree).unwrap();
        let leaf = tree.leaf(index).unwrap();
        let proof = inclusion_proof(index, size, tree).unwrap();

        for (i, h) in proof.hashes().iter().enumerate() {
            for byte in 0..32 {
                let mut hashes = proof.hashes().to_vec();
                hashes[i] = flip(h, byte, bit);
                let bad = InclusionProof::new(hashes).unwrap();
                prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            }
        }
        for byte in 0..32 {
            prop_assert_eq!(
                verify_inclusion(&flip(&leaf, byte, bit), index, size, &proof, &root),
                Err(VerifyError::RootMismatch)
            );
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &flip(&root, byte, bit)).is_err());
        }
        let bytes = proof.to_bytes();
        for pos in 1..bytes.len() {
            let mut b = bytes.clone();
            b[pos] ^= 1 << bit;
            let bad = InclusionProof::from_bytes(&b).unwrap();
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
        }

        let other_index = other_seed % size;
        if other_index != index {
            prop_assert!(verify_inclusion(&leaf, other_index, size, &proof, &root).is_err());
        }
        for other_size in [size - 1, size + 1, size * 2, 1 + other_seed % (2 * MAX_SIZE)] {
            if other_size == size {
                continue;
            }
            let result = verify_inclusion(&leaf, index, other_size, &proof, &root);
            if inclusion_trace(index, other_size) == inclusion_trace(index, size) {
                prop_assert!(result.is_ok());
            } else {
                prop_assert!(result.is_err(), "size {} -> {}", size, other_size);
            }
        }
    }

    /// The same for consistency proofs.
    #[test]
    fn tampered_consistency_fails(
        new in 2..=MAX_SIZE,
        old_seed in any::<u64>(),
        other_seed in any::<u64>(),
        bit in 0u8..8,
    ) {
        let tree = big_tree();
        let old = 1 + old_seed % (new - 1);
        let old_root = root_at(old, tree).unwrap();
        let new_root = root_at(new, tree).unwrap();
        let proof = consistency_proof(old, new, tree).unwrap();

        for (i, h) in proof.hashes().iter().enumerate() {
            for byte in 0..32 {
                let mut hashes = proof.hashes().to_vec();
                hashes[i] = flip(h, byte, bit);
                let bad = ConsistencyProof::new(hashes).unwrap();
                prop_assert!(verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
            }
        }
        for byte in 0..32 {
            prop_assert!(verify_consistency(old, new, &flip(&old_root, byte, bit), &new_root, &proof).is_err());
            prop_assert!(verify_consistency(old, new, &old_root, &flip(&new_root, byte, bit), &proof).is_err());
        }
        let mut shorter = proof.hashes().to_vec();
        shorter.pop();
        let shorter = ConsistencyProof::new(shorter).unwrap();
        prop_assert!(verify_consistency(old, new, &old_root, &new_root, &shorter).is_err());
        let mut longer = proof.hashes().to_vec();
        longer.push(new_root);
        let longer = ConsistencyProof::new(longer).unwrap();
        prop_assert!(verify_consistency(old, new, &old_root, &new_root, &longer).is_err());

        let other = 1 + other_seed % (2 * MAX_SIZE);
        for (o, n) in [(old + 1, new), (old - 1, new), (old, new + 1), (old, new - 1), (other, new), (old, other)] {
            if (o, n) == (old, new) {
                continue;
            }
            let result = verify_consistency(o, n, &old_root, &new_root, &proof);
            if consistency_trace(o, n).is_some() && consistency_trace(o, n) == consistency_trace(old, new) {
                prop_assert!(result.is_ok());
            } else {
                prop_assert!(result.is_err(), "({}, {}) -> ({}, {})", old, new, o, n);
            }
        }
    }

    /// `Frontier::append` reports exactly the tree's perfect nodes, and `from_source` at any
    /// size rebuilds the frontier that appending would have produced.
    #[test]
    fn frontier_matches_tree(size in 0..=MAX_SIZE, cut_seed in any::<u64>()) {
        let tree = big_tree();
        let cut = cut_seed % (size + 1);
        let mut frontier = Frontier::new();
        let mut reported = 0u64;
        let mut at_cut = frontier.clone();
        for index in 0..size {
            if index == cut {
                at_cut = frontier.clone();
            }
            let nodes = frontier.append(tree.leaf(index).unwrap());
            prop_assert_eq!(nodes[0], (0, index, tree.leaf(index).unwrap()));
            for (level, node_index, hash) in nodes {
                prop_assert_eq!(tree.perfect_node(level, node_index).unwrap(), hash);
                reported += 1;
            }
        }
        if cut == size {
            at_cut = frontier.clone();
        }
        // A tree of n leaves has sum over levels of (n >> level) perfect nodes.
        let expected: u64 = (0..64).map(|l| size >> l).sum();
        prop_assert_eq!(reported, expected);
        prop_assert_eq!(frontier.root(), root_at(size, tree).unwrap());
        prop_assert_eq!(&Frontier::from_source(size, tree).unwrap(), &frontier);
        prop_assert_eq!(&Frontier::from_source(cut, tree).unwrap(), &at_cut);
        prop_assert_eq!(at_cut.root(), root_at(cut, tree).unwrap());
    }

    /// Proof byte decoding never panics and round-trips what it accepts.
    #[test]
    fn proof_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = InclusionProof::from_bytes(&bytes) {
            prop_assert_eq!(p.to_bytes(), bytes.clone());
        }
        if let Ok(p) = ConsistencyProof::from_bytes(&bytes) {
            prop_assert_eq!(p.to_bytes(), bytes);
        }
    }

    /// Text parsers never panic, on arbitrary text and on text made of note-like pieces.
    #[test]
    fn text_parsers_never_panic(
        text in ".{0,300}",
        pieces in proptest::collection::vec(
            prop_oneof![
                Just("\n"), Just("\n\n"), Just("\u{2014} "), Just(" "), Just("+"), Just("="),
                Just("a"), Just("0"), Just("1"), Just("example.org/log"), Just("AAAA"),
                Just("AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"), Just("08f07eb6"),
                Just("xsQqOhE3eQcGONSnfbRKcU5kzcoAUDxYsZBw21poB2c="), Just("\u{0}"), Just("é"),
            ],
            0..40,
        ),
    ) {
        let built: String = pieces.concat();
        for t in [text.as_str(), built.as_str()] {
            if let Ok(note) = SignedNote::parse(t) {
                let again = SignedNote::parse(&note.to_text()).unwrap();
                prop_assert_eq!(&again, &note);
                let _ = note.verify(&[verifier()]);
            }
            if let Ok(cp) = Checkpoint::parse_body(t) {
                prop_assert_eq!(cp.to_body(), t);
            }
            let _ = NoteVerifier::from_vkey(t);
            let _ = NoteSignature::from_line(t);
            let _ = Hash::from_hex(t);
        }
    }

    /// Bundle decoding never panics on arbitrary bytes.
    #[test]
    fn bundle_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(b) = LogBundle::decode(&bytes) {
            let _ = b.verify(&[verifier()]);
        }
        let mut with_magic = b"STREHA-LOG-BUNDLE\n\x01".to_vec();
        with_magic.extend_from_slice(&bytes);
        if let Ok(b) = LogBundle::decode(&with_magic) {
            prop_assert_eq!(b.encode().unwrap(), with_magic);
            let _ = b.verify(&[verifier()]);
        }
    }

    /// Any single changed byte of a valid bundle makes decoding or verification fail, and so
    /// does any truncation.
    #[test]
    fn tampered_bundle_fails(pos_seed in any::<usize>(), xor in 1u8..=255, cut_seed in any::<usize>()) {
        let bytes = sample_bundle();
        let pos = pos_seed % bytes.len();
        let mut bad = bytes.clone();
        bad[pos] ^= xor;
        let result = LogBundle::decode(&bad).and_then(|b| b.verify(&[verifier()]));
        prop_assert!(result.is_err(), "byte {} ^ {:#x} went unnoticed", pos, xor);
        let cut = cut_seed % bytes.len();
        prop_assert!(LogBundle::decode(&bytes[..cut]).is_err());
    }
}

fn signer() -> NoteSigner {
    NoteSigner::new("example.org/log", SigningKey::from_bytes(&[9; 32])).unwrap()
}

fn verifier() -> NoteVerifier {
    signer().verifier()
}

fn sample_bundle() -> Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES
        .get_or_init(|| {
            let entries: Vec<Vec<u8>> =
                (0..12).map(|i| format!("entry {i}").into_bytes()).collect();
            let tree = MemoryTree::from_entries(&entries);
            let s = signer();
            let checkpoints = [3, 7, 12]
                .iter()
                .map(|&n| {
                    let cp =
                        Checkpoint::new("example.org/log", n, tree.root_at(n).unwrap()).unwrap();
                    sign_checkpoint(&cp, &s).to_text()
                })
                .collect();
            let bundle = LogBundle::new("example.org/log", entries, checkpoints);
            bundle.verify(&[verifier()]).unwrap();
            bundle.encode().unwrap()
        })
        .clone()
}

#[test]
fn leaf_hash_is_used_by_memory_tree() {
    let t = MemoryTree::from_entries(["x"]);
    assert_eq!(t.root(), leaf_hash(b"x"));
}
