//! Proof and checkpoint costs at 10⁶ entries (issue 4, "Measure").
//!
//! One [`MemoryTree`] of 10⁶ entries (≈ 64 MB) is built once and shared by every benchmark.
//! Proofs are generated from it through the [`NodeSource`](streha_audit::NodeSource) trait,
//! as the store generates them from sled (where each node read is a sled lookup instead of a
//! vector index). Indices and sizes cycle through 1024 fixed pseudo-random values, so no
//! single path is measured.
//!
//! ```sh
//! cargo bench -p streha-audit --bench proofs -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use streha_audit::{
    Checkpoint, ConsistencyProof, Hash, InclusionProof, MemoryTree, NoteSigner, consistency_proof,
    inclusion_proof, leaf_hash, open_checkpoint, sign_checkpoint, verify_consistency,
    verify_inclusion,
};

const TREE_SIZE: u64 = 1_000_000;
const SAMPLES: usize = 1024;
const ORIGIN: &str = "bench.streha.example/log";

/// The shared tree of [`TREE_SIZE`] entries of 200 bytes, built on first use.
fn tree() -> &'static MemoryTree {
    static TREE: OnceLock<MemoryTree> = OnceLock::new();
    TREE.get_or_init(|| {
        let start = Instant::now();
        let mut tree = MemoryTree::new();
        let mut entry = [0x5a_u8; 200];
        for i in 0..TREE_SIZE {
            entry[..8].copy_from_slice(&i.to_be_bytes());
            tree.append_entry(&entry);
        }
        eprintln!(
            "built a MemoryTree of {TREE_SIZE} entries in {:.2?}",
            start.elapsed()
        );
        tree
    })
}

fn entry_of(i: u64) -> [u8; 200] {
    let mut entry = [0x5a_u8; 200];
    entry[..8].copy_from_slice(&i.to_be_bytes());
    entry
}

/// [`SAMPLES`] pseudo-random values in `lo..hi` (a fixed LCG: the same on every run).
fn spread(lo: u64, hi: u64) -> Vec<u64> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..SAMPLES)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            lo + (state >> 11) % (hi - lo)
        })
        .collect()
}

fn inclusion(c: &mut Criterion) {
    let tree = tree();
    let root = tree.root();
    let indices = spread(0, TREE_SIZE);
    let cases: Vec<(u64, Hash, InclusionProof)> = indices
        .iter()
        .map(|&i| {
            let proof = inclusion_proof(i, TREE_SIZE, tree).expect("inclusion proof");
            (i, leaf_hash(&entry_of(i)), proof)
        })
        .collect();
    for (i, leaf, proof) in &cases {
        verify_inclusion(leaf, *i, TREE_SIZE, proof, &root).expect("a valid proof");
    }

    let mut group = c.benchmark_group("inclusion_1e6");
    let mut next = 0;
    group.bench_function("generate", |b| {
        b.iter(|| {
            next = (next + 1) % SAMPLES;
            black_box(inclusion_proof(indices[next], TREE_SIZE, tree).expect("proof"))
        });
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            next = (next + 1) % SAMPLES;
            let (i, leaf, proof) = &cases[next];
            verify_inclusion(leaf, *i, TREE_SIZE, proof, &root).expect("valid");
        });
    });
    group.finish();
}

fn consistency(c: &mut Criterion) {
    let tree = tree();
    let root = tree.root();
    let old_sizes = spread(1, TREE_SIZE);
    let cases: Vec<(u64, Hash, ConsistencyProof)> = old_sizes
        .iter()
        .map(|&old| {
            let proof = consistency_proof(old, TREE_SIZE, tree).expect("consistency proof");
            (old, tree.root_at(old).expect("old root"), proof)
        })
        .collect();
    for (old, old_root, proof) in &cases {
        verify_consistency(*old, TREE_SIZE, old_root, &root, proof).expect("a valid proof");
    }

    let mut group = c.benchmark_group("consistency_1e6");
    let mut next = 0;
    group.bench_function("generate", |b| {
        b.iter(|| {
            next = (next + 1) % SAMPLES;
            black_box(consistency_proof(old_sizes[next], TREE_SIZE, tree).expect("proof"))
        });
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            next = (next + 1) % SAMPLES;
            let (old, old_root, proof) = &cases[next];
            verify_consistency(*old, TREE_SIZE, old_root, &root, proof).expect("valid");
        });
    });
    group.finish();
}

fn checkpoint(c: &mut Criterion) {
    let root = tree().root();
    let signer = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[7; 32])).expect("key name");
    let verifiers = [signer.verifier()];
    let checkpoint = Checkpoint::new(ORIGIN, TREE_SIZE, root).expect("checkpoint");
    let text = sign_checkpoint(&checkpoint, &signer).to_text();

    let mut group = c.benchmark_group("checkpoint");
    group.bench_function("sign", |b| {
        b.iter(|| black_box(sign_checkpoint(black_box(&checkpoint), &signer).to_text()));
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            let (opened, signers) = open_checkpoint(black_box(&text), &verifiers).expect("valid");
            assert_eq!(opened.size(), TREE_SIZE);
            black_box(signers)
        });
    });
    group.finish();
}

criterion_group!(benches, inclusion, consistency, checkpoint);
criterion_main!(benches);
