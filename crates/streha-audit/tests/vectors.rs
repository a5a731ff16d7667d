//! Known-answer vectors of `spec/audit-log.md`, pinned byte for byte.
//!
//! `spec/vectors/merkle.json` and `spec/vectors/checkpoint.json` must equal what this crate
//! produces, and every value in them is also checked on its own (roots recomputed, proofs
//! verified, signatures opened). If a change is intended, regenerate with
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/tgt-audit cargo test -p streha-audit --test vectors -- --ignored regenerate
//! ```
//!
//! and review the diff: a changed vector is a changed protocol.

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use streha_audit::{
    Checkpoint, ConsistencyProof, CosignatureSigner, Hash, InclusionProof, MemoryTree, NoteSigner,
    NoteVerifier, SignedNote, consistency_proof, empty_root, inclusion_proof, leaf_hash,
    open_checkpoint, sign_checkpoint, verify_consistency, verify_inclusion,
};

const MERKLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../spec/vectors/merkle.json"
);
const CHECKPOINT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../spec/vectors/checkpoint.json"
);

const REGENERATE: &str = "if the change is intended, run `cargo test -p streha-audit --test vectors -- --ignored regenerate` and review the diff";

// ---------------------------------------------------------------------------------------
// merkle.json

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct MerkleVectors {
    description: String,
    empty_root: Hash,
    leaves: Vec<LeafVector>,
    trees: Vec<TreeVector>,
    inclusion_proofs: Vec<InclusionVector>,
    consistency_proofs: Vec<ConsistencyVector>,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct LeafVector {
    index: u64,
    entry_hex: String,
    leaf_hash: Hash,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct TreeVector {
    size: u64,
    root: Hash,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct InclusionVector {
    size: u64,
    index: u64,
    leaf_hash: Hash,
    root: Hash,
    path: Vec<Hash>,
    encoded_hex: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct ConsistencyVector {
    old_size: u64,
    new_size: u64,
    old_root: Hash,
    new_root: Hash,
    path: Vec<Hash>,
    encoded_hex: String,
}

fn entry(i: u64) -> Vec<u8> {
    format!("leaf-{i}").into_bytes()
}

const TREE_SIZES: &[u64] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 13, 64, 1000];
const LARGE_INCLUSION: &[(u64, u64)] = &[
    (0, 13),
    (6, 13),
    (12, 13),
    (0, 64),
    (37, 64),
    (63, 64),
    (0, 1000),
    (500, 1000),
    (999, 1000),
];
const LARGE_CONSISTENCY: &[(u64, u64)] = &[
    (1, 13),
    (4, 13),
    (7, 13),
    (12, 13),
    (13, 64),
    (32, 64),
    (63, 64),
    (1, 1000),
    (64, 1000),
    (513, 1000),
    (999, 1000),
];

fn merkle_vectors() -> MerkleVectors {
    let tree = MemoryTree::from_entries((0..1000).map(entry));
    let leaves = (0..8)
        .map(|i| LeafVector {
            index: i,
            entry_hex: hex::encode(entry(i)),
            leaf_hash: leaf_hash(&entry(i)),
        })
        .collect();
    let trees = TREE_SIZES
        .iter()
        .map(|&size| TreeVector {
            size,
            root: tree.root_at(size).unwrap(),
        })
        .collect();
    let small_inclusion = (1..=8u64).flat_map(|size| (0..size).map(move |index| (index, size)));
    let inclusion_proofs = small_inclusion
        .chain(LARGE_INCLUSION.iter().copied())
        .map(|(index, size)| {
            let proof = inclusion_proof(index, size, &tree).unwrap();
            InclusionVector {
                size,
                index,
                leaf_hash: tree.leaf(index).unwrap(),
                root: tree.root_at(size).unwrap(),
                encoded_hex: hex::encode(proof.to_bytes()),
                path: proof.into_hashes(),
            }
        })
        .collect();
    let small_consistency = (1..=8u64).flat_map(|new| (0..=new).map(move |old| (old, new)));
    let consistency_proofs = small_consistency
        .chain(LARGE_CONSISTENCY.iter().copied())
        .map(|(old_size, new_size)| {
            let proof = consistency_proof(old_size, new_size, &tree).unwrap();
            ConsistencyVector {
                old_size,
                new_size,
                old_root: tree.root_at(old_size).unwrap(),
                new_root: tree.root_at(new_size).unwrap(),
                encoded_hex: hex::encode(proof.to_bytes()),
                path: proof.into_hashes(),
            }
        })
        .collect();
    MerkleVectors {
        description: "Streha audit log Merkle tree (spec/audit-log.md): exactly RFC 6962 \
                      section 2.1 (SHA-256); leaf hash = SHA-256(0x00 || entry), interior hash \
                      = SHA-256(0x01 || left || right), empty root = SHA-256(\"\"). Entry i is \
                      the ASCII bytes of \"leaf-{i}\". Paths are in RFC 6962 order (leaf's \
                      sibling first); encoded_hex is the compact proof form (one count byte, \
                      then the hashes)."
            .into(),
        empty_root: empty_root(),
        leaves,
        trees,
        inclusion_proofs,
        consistency_proofs,
    }
}

// ---------------------------------------------------------------------------------------
// checkpoint.json

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct CheckpointVectors {
    description: String,
    log: KeyVector,
    checkpoint: CheckpointVector,
    witness: KeyVector,
    cosignature: CosignatureVector,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct KeyVector {
    key_name: String,
    signature_type: u8,
    seed_hex: String,
    public_key_hex: String,
    key_id: String,
    vkey: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct CheckpointVector {
    origin: String,
    size: u64,
    root: Hash,
    body: String,
    note: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct CosignatureVector {
    timestamp: u64,
    signed_message: String,
    note: String,
}

const LOG_NAME: &str = "example.org/streha-test-log";
const WITNESS_NAME: &str = "example.org/streha-test-witness";
const TIMESTAMP: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn seed(first: u8) -> [u8; 32] {
    std::array::from_fn(|i| first + i as u8)
}

fn checkpoint_vectors() -> CheckpointVectors {
    let log_seed = seed(0x00);
    let witness_seed = seed(0x20);
    let signer = NoteSigner::new(LOG_NAME, SigningKey::from_bytes(&log_seed)).unwrap();
    let witness =
        CosignatureSigner::new(WITNESS_NAME, SigningKey::from_bytes(&witness_seed)).unwrap();

    let tree = MemoryTree::from_entries((0..8).map(entry));
    let checkpoint = Checkpoint::new(LOG_NAME, 8, tree.root()).unwrap();
    let note = sign_checkpoint(&checkpoint, &signer);
    let body = checkpoint.to_body();
    let mut cosigned = note.clone();
    cosigned
        .add_signature(witness.cosign(&body, TIMESTAMP).unwrap())
        .unwrap();

    let key = |name: &str, ty: u8, seed: [u8; 32], v: NoteVerifier| KeyVector {
        key_name: name.into(),
        signature_type: ty,
        seed_hex: hex::encode(seed),
        public_key_hex: hex::encode(v.verifying_key().as_bytes()),
        key_id: v.key_id().to_string(),
        vkey: v.to_vkey(),
    };
    CheckpointVectors {
        description: "Streha signed checkpoint (spec/audit-log.md): a C2SP tlog-checkpoint body \
                      for the 8-leaf tree of merkle.json, in a C2SP signed note with an Ed25519 \
                      (type 0x01) signature from the log key, then the same note with a C2SP \
                      tlog-cosignature/v1 (type 0x04) cosignature added by a witness. Seeds are \
                      RFC 8032 Ed25519 private keys; never use them for anything real."
            .into(),
        log: key(LOG_NAME, 0x01, log_seed, signer.verifier()),
        checkpoint: CheckpointVector {
            origin: LOG_NAME.into(),
            size: 8,
            root: tree.root(),
            body: body.clone(),
            note: note.to_text(),
        },
        witness: key(WITNESS_NAME, 0x04, witness_seed, witness.verifier()),
        cosignature: CosignatureVector {
            timestamp: TIMESTAMP,
            signed_message: format!("cosignature/v1\ntime {TIMESTAMP}\n{body}"),
            note: cosigned.to_text(),
        },
    }
}

// ---------------------------------------------------------------------------------------

fn render<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap();
    text.push('\n');
    text
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn merkle_vectors_are_pinned() {
    let file = read(MERKLE);
    assert!(
        file == render(&merkle_vectors()),
        "spec/vectors/merkle.json differs from this crate's output; {REGENERATE}"
    );
}

#[test]
fn checkpoint_vectors_are_pinned() {
    let file = read(CHECKPOINT);
    assert!(
        file == render(&checkpoint_vectors()),
        "spec/vectors/checkpoint.json differs from this crate's output; {REGENERATE}"
    );
}

/// Checks each value of merkle.json on its own, as an independent implementation would.
#[test]
fn merkle_vectors_verify() {
    let v: MerkleVectors = serde_json::from_str(&read(MERKLE)).unwrap();
    assert_eq!(v.empty_root, sha256(&[]));
    for leaf in &v.leaves {
        let bytes = hex::decode(&leaf.entry_hex).unwrap();
        assert_eq!(bytes, format!("leaf-{}", leaf.index).into_bytes());
        let mut input = vec![0u8];
        input.extend_from_slice(&bytes);
        assert_eq!(leaf.leaf_hash, sha256(&input));
    }
    for t in &v.trees {
        let tree = MemoryTree::from_entries((0..t.size).map(entry));
        assert_eq!(tree.root(), t.root, "root of size {}", t.size);
    }
    for p in &v.inclusion_proofs {
        let proof = InclusionProof::new(p.path.clone()).unwrap();
        assert_eq!(hex::encode(proof.to_bytes()), p.encoded_hex);
        assert_eq!(
            InclusionProof::from_bytes(&hex::decode(&p.encoded_hex).unwrap()).unwrap(),
            proof
        );
        assert_eq!(p.leaf_hash, leaf_hash(&entry(p.index)));
        verify_inclusion(&p.leaf_hash, p.index, p.size, &proof, &p.root)
            .unwrap_or_else(|e| panic!("inclusion {} in {}: {e}", p.index, p.size));
    }
    for p in &v.consistency_proofs {
        let proof = ConsistencyProof::new(p.path.clone()).unwrap();
        assert_eq!(hex::encode(proof.to_bytes()), p.encoded_hex);
        verify_consistency(p.old_size, p.new_size, &p.old_root, &p.new_root, &proof)
            .unwrap_or_else(|e| panic!("consistency {} to {}: {e}", p.old_size, p.new_size));
    }
    // The 8-leaf root in trees matches the one in checkpoint.json.
    let c: CheckpointVectors = serde_json::from_str(&read(CHECKPOINT)).unwrap();
    assert!(
        v.trees
            .iter()
            .any(|t| t.size == 8 && t.root == c.checkpoint.root)
    );
}

/// Checks each value of checkpoint.json on its own.
#[test]
fn checkpoint_vectors_verify() {
    let c: CheckpointVectors = serde_json::from_str(&read(CHECKPOINT)).unwrap();
    let log = NoteVerifier::from_vkey(&c.log.vkey).unwrap();
    let witness = NoteVerifier::from_vkey(&c.witness.vkey).unwrap();
    for (k, v) in [(&c.log, &log), (&c.witness, &witness)] {
        let seed: [u8; 32] = hex::decode(&k.seed_hex).unwrap().try_into().unwrap();
        let public = SigningKey::from_bytes(&seed).verifying_key();
        assert_eq!(hex::encode(public.as_bytes()), k.public_key_hex);
        assert_eq!(v.verifying_key(), &public);
        assert_eq!(v.key_id().to_string(), k.key_id);
        assert_eq!(v.signature_type().id(), k.signature_type);
        // key id = SHA-256(name || 0x0A || type || public key)[:4]
        use sha2::Digest as _;
        let digest = sha2::Sha256::new()
            .chain_update(k.key_name.as_bytes())
            .chain_update([0x0A, k.signature_type])
            .chain_update(public.as_bytes())
            .finalize();
        assert_eq!(hex::encode(&digest[..4]), k.key_id);
    }

    let body = format!(
        "{}\n{}\n{}\n",
        c.checkpoint.origin,
        c.checkpoint.size,
        base64_std(c.checkpoint.root.as_bytes())
    );
    assert_eq!(body, c.checkpoint.body);
    assert!(
        c.checkpoint
            .note
            .starts_with(&format!("{body}\n\u{2014} {} ", c.log.key_name))
    );
    let (cp, signers) = open_checkpoint(&c.checkpoint.note, std::slice::from_ref(&log)).unwrap();
    assert_eq!(cp.root(), &c.checkpoint.root);
    assert_eq!(signers, [c.log.key_name.as_str()]);

    // The cosigned note keeps the log's line and adds the witness's.
    assert!(c.cosignature.note.starts_with(&c.checkpoint.note));
    let note = SignedNote::parse(&c.cosignature.note).unwrap();
    let verified = note.verify(&[log.clone(), witness.clone()]).unwrap();
    assert_eq!(
        verified.signer_names(),
        [c.log.key_name.clone(), c.witness.key_name.clone()]
    );
    assert_eq!(
        verified.signers()[1].timestamp,
        Some(c.cosignature.timestamp)
    );
    // The witness signature is timestamp || Ed25519(signed_message).
    let sig = note.signatures()[1].signature_bytes();
    assert_eq!(&sig[..8], &c.cosignature.timestamp.to_be_bytes());
    let ed = ed25519_dalek::Signature::from_bytes(sig[8..].try_into().unwrap());
    witness
        .verifying_key()
        .verify_strict(c.cosignature.signed_message.as_bytes(), &ed)
        .unwrap();
    // Only the witness known: still opens (the log's signature is ignored as unknown).
    assert_eq!(
        open_checkpoint(&c.cosignature.note, &[witness]).unwrap().1,
        [c.witness.key_name.as_str()]
    );
}

fn sha256(bytes: &[u8]) -> Hash {
    use sha2::Digest as _;
    Hash::from(<[u8; 32]>::from(sha2::Sha256::digest(bytes)))
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
#[ignore = "writes spec/vectors/*.json; run on purpose"]
fn regenerate() {
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vectors")).unwrap();
    std::fs::write(MERKLE, render(&merkle_vectors())).unwrap();
    std::fs::write(CHECKPOINT, render(&checkpoint_vectors())).unwrap();
}
