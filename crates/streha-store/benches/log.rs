//! Batched append throughput of the audit log (issue 4, "Measure").
//!
//! Each iteration commits one transaction of `batch` entries of [`ENTRY_LEN`] bytes: the log
//! files appended and `fdatasync`ed (storage format 3), one sled batch, one flush, one
//! `fsync` of the data file and directory, one signed checkpoint. So
//! entries/s at batch 1 is the durable-commit rate, and larger batches show what group
//! commit buys. `concurrent_64x1` has 64 threads commit one entry each, at once, and lets the
//! store group them (the node's real pattern); its time includes spawning the 64 threads.
//!
//! `sled_raw` is the ceiling of `log_append` at the same batch sizes: the same entries as one
//! sled batch in a bare sled database (same cache size), `flush`, and the `fdatasync` of the
//! data file that makes it durable (the directory's entries do not change from one batch to
//! the next, so it is synced once, as the store does); no Merkle hashing, no tree nodes, no
//! checkpoint, no log files, no high-water mark. `log_append / sled_raw` is what the log's
//! own work costs.
//!
//! `bodies_x32` commits 32 transactions at once (`commit_many`, the node's commit thread's
//! pattern), each an entry and a sealed-envelope-sized value: `put_body` (inline in the
//! batch up to `INLINE_BODY_MAX`, a file of its own above) beside `put` (always inline).
//! It is what `INLINE_BODY_MAX` was chosen from (`BENCHMARKS.md`, "Issue 19: small
//! envelopes").
//!
//! `store_proofs_1e6` fills a store with 10⁶ entries once (in batches of 4096; about half a
//! minute, and only when that benchmark is selected) and measures inclusion and consistency
//! proof generation from the log files, where every tile read is one `pread`.
//!
//! The store lives in a fresh temporary directory under `$STREHA_BENCH_DIR` (default: the
//! system temporary directory). Point it at the disk you want to measure: on tmpfs `fsync` is
//! free and the figures mean nothing.
//!
//! ```sh
//! cargo bench -p streha-store --bench log -- --warm-up-time 1 --measurement-time 3
//! ```

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use streha_audit::NoteSigner;
use streha_store::{Store, Transaction};

/// About the size of an encoded `disclosed` audit entry: ids, categories, purpose, basis,
/// hashes.
const ENTRY_LEN: usize = 200;

const ORIGIN: &str = "bench.streha.example/log";

fn bench_dir() -> PathBuf {
    std::env::var_os("STREHA_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// A store in its own temporary directory. Fields drop in order: the store closes before
/// its directory is removed.
struct BenchStore {
    store: Store,
    _dir: tempfile::TempDir,
}

fn open_store() -> BenchStore {
    let dir = tempfile::Builder::new()
        .prefix("streha-bench-log-")
        .tempdir_in(bench_dir())
        .expect("create a temporary directory for the store");
    let signer = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[7; 32])).expect("key name");
    let store = Store::open(dir.path(), ORIGIN, signer).expect("open the store");
    BenchStore { store, _dir: dir }
}

/// A distinct entry of [`ENTRY_LEN`] bytes (the counter up front, so no two are equal).
fn entry(counter: &AtomicU64) -> Vec<u8> {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    let mut entry = vec![0xa5; ENTRY_LEN];
    entry[..8].copy_from_slice(&n.to_be_bytes());
    entry
}

fn transaction(entries: usize, counter: &AtomicU64) -> Transaction {
    let mut tx = Transaction::new();
    for _ in 0..entries {
        tx.append(entry(counter));
    }
    tx
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_append");
    // Each iteration is a durable commit (0.1 to tens of milliseconds): the minimum sample
    // count keeps a run within a few seconds per size.
    group.sample_size(10);
    let counter = AtomicU64::new(0);

    for batch in [1usize, 64, 1024] {
        let bench = open_store();
        let store = &bench.store;
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter_batched(
                || transaction(batch, &counter),
                |tx| black_box(store.commit(tx).expect("commit")),
                BatchSize::SmallInput,
            );
        });
    }

    // 64 committers at once, one entry each: group commit folds them into few batches.
    let bench = open_store();
    let store = &bench.store;
    group.throughput(Throughput::Elements(64));
    group.bench_function("concurrent_64x1", |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                for _ in 0..64 {
                    let tx = transaction(1, &counter);
                    scope.spawn(move || black_box(store.commit(tx).expect("commit")));
                }
            });
        });
    });
    group.finish();
}

fn bodies(c: &mut Criterion) {
    let mut group = c.benchmark_group("bodies_x32");
    group.sample_size(10);
    let counter = AtomicU64::new(0);
    for size in [1024usize, 4096, 16 * 1024, 64 * 1024] {
        for inline in [false, true] {
            let bench = open_store();
            let store = &bench.store;
            group.throughput(Throughput::Elements(32));
            let name = if inline { "put" } else { "put_body" };
            group.bench_function(format!("{name}_{size}"), |b| {
                b.iter_batched(
                    || {
                        (0..32)
                            .map(|_| {
                                let mut tx = transaction(1, &counter);
                                let n = counter.fetch_add(1, Ordering::Relaxed);
                                let mut body = vec![0x5a; size];
                                body[..8].copy_from_slice(&n.to_be_bytes());
                                let (ns, key) = (streha_store::Namespace::new(9), n.to_be_bytes());
                                if inline {
                                    tx.put(ns, key.to_vec(), body);
                                } else {
                                    tx.put_body(ns, key.to_vec(), body);
                                }
                                tx
                            })
                            .collect::<Vec<_>>()
                    },
                    |txs| black_box(store.commit_many(txs)),
                    BatchSize::SmallInput,
                );
            });
        }
    }
    group.finish();
}

fn sled_raw(c: &mut Criterion) {
    let mut group = c.benchmark_group("sled_raw");
    group.sample_size(10);
    let counter = AtomicU64::new(0);
    for batch in [1usize, 64, 1024] {
        let dir = tempfile::Builder::new()
            .prefix("streha-bench-sled-")
            .tempdir_in(bench_dir())
            .expect("create a temporary directory");
        let db = sled::Config::new()
            .path(dir.path())
            .cache_capacity(48 * 1024 * 1024)
            .open()
            .expect("open sled");
        let data = std::fs::File::open(dir.path().join("db")).expect("sled's data file");
        std::fs::File::open(dir.path())
            .and_then(|directory| directory.sync_all())
            .expect("fsync the directory");
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter_batched(
                || {
                    let mut sled_batch = sled::Batch::default();
                    for _ in 0..batch {
                        let entry = entry(&counter);
                        sled_batch.insert(entry[..8].to_vec(), entry);
                    }
                    sled_batch
                },
                |sled_batch| {
                    db.apply_batch(sled_batch).expect("apply");
                    db.flush().expect("flush");
                    data.sync_data().expect("fdatasync data");
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

const PROOF_TREE_SIZE: u64 = 1_000_000;

/// A store of [`PROOF_TREE_SIZE`] entries.
fn big_store() -> BenchStore {
    let start = Instant::now();
    let big = open_store();
    let counter = AtomicU64::new(0);
    let mut left = PROOF_TREE_SIZE;
    while left > 0 {
        let n = left.min(4096);
        big.store
            .commit(transaction(n as usize, &counter))
            .expect("commit");
        left -= n;
    }
    eprintln!(
        "filled a store with {PROOF_TREE_SIZE} entries in {:.1?}",
        start.elapsed()
    );
    big
}

/// `n` pseudo-random values in `lo..hi` (a fixed LCG: the same on every run).
fn spread(lo: u64, hi: u64, n: usize) -> Vec<u64> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            lo + (state >> 11) % (hi - lo)
        })
        .collect()
}

fn proofs(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_proofs_1e6");
    let indices = spread(0, PROOF_TREE_SIZE, 1024);
    let old_sizes = spread(1, PROOF_TREE_SIZE, 1024);
    // Filled on first use (only if a benchmark here is selected), removed when this returns.
    let big = OnceCell::new();
    let mut next = 0;
    group.bench_function("inclusion_generate", |b| {
        let store = &big.get_or_init(big_store).store;
        b.iter(|| {
            next = (next + 1) % indices.len();
            black_box(
                store
                    .inclusion_proof(indices[next], PROOF_TREE_SIZE)
                    .expect("proof"),
            )
        });
    });
    group.bench_function("consistency_generate", |b| {
        let store = &big.get_or_init(big_store).store;
        b.iter(|| {
            next = (next + 1) % old_sizes.len();
            black_box(
                store
                    .consistency_proof(old_sizes[next], PROOF_TREE_SIZE)
                    .expect("proof"),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, append, sled_raw, bodies, proofs);
criterion_main!(benches);
