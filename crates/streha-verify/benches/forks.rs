//! The fork check at scale (issue 15.9): a bundle may hold millions of checkpoints (one per
//! batch), and the check used to compare every pair (60,000 checkpoints took 80 s). Now it
//! groups them by size: O(n log n).
//!
//! ```sh
//! cargo bench -p streha-verify --bench forks -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! - `fork_check/1000000`: V1.5's fork check alone over 10⁶ signed checkpoints (every size
//!   twice, one pair forked);
//! - `verify_checkpoints/60000`: the whole `verify` of one log of 60,000 entries with a
//!   signed checkpoint after each (signatures, roots, consistency proofs, forks, times and
//!   the replay): the case of the issue.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use streha_core::{AgeStatus, AuditEntry, SubjectId};
use streha_verify::{VerifyOptions, verify};

fn fork_check(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    // Sizes 1..=N/2, each signed twice with the same root, and one pair forked.
    let mut heads: Vec<(u64, [u8; 32])> = (0..N)
        .map(|i| {
            let size = i / 2 + 1;
            let mut root = [0u8; 32];
            root[..8].copy_from_slice(&size.to_le_bytes());
            (size, root)
        })
        .collect();
    heads[N as usize - 1].1[31] ^= 1;
    assert_eq!(streha_verify::__bench::fork_check(&heads), 1);
    let mut group = c.benchmark_group("fork_check");
    group.throughput(Throughput::Elements(N));
    group.sample_size(10);
    group.bench_with_input(BenchmarkId::from_parameter(N), &heads, |b, heads| {
        b.iter(|| black_box(streha_verify::__bench::fork_check(black_box(heads))));
    });
    group.finish();
}

fn verify_checkpoints(c: &mut Criterion) {
    const N: u32 = 60_000;
    let mut fed = Fed::new();
    fed.start();
    for n in 0..N {
        let mut id = [0x51; 16];
        id[..4].copy_from_slice(&n.to_le_bytes());
        fed.node(POLICE).commit(&[AuditEntry::SubjectRegistered {
            subject: SubjectId::from_bytes(id),
            age_status: AgeStatus::Adult,
            at: t(u64::from(n)),
        }]);
    }
    let bundles = vec![fed.nodes[POLICE].bundle()];
    let report = verify(&bundles, &fed.roster, &VerifyOptions::new());
    assert!(report.is_clean());
    assert_eq!(report.totals.checkpoints, N as usize + 1);
    let mut group = c.benchmark_group("verify_checkpoints");
    group.throughput(Throughput::Elements(u64::from(N)));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_with_input(BenchmarkId::from_parameter(N), &bundles, |b, bundles| {
        b.iter(|| black_box(verify(bundles, &fed.roster, &VerifyOptions::new())));
    });
    group.finish();
}

criterion_group!(benches, fork_check, verify_checkpoints);
criterion_main!(benches);
