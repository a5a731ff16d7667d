//! The real store's memory under a sending node's write pattern (issue 19).
//!
//! Unlike `--sled-growth` (a bare sled database), this drives [`streha_store::Store`] itself:
//! per disclosure two audit entries (131 bytes each, as a sending node's `disclosed` and
//! `sent` entries are about), and `--store-random-keys` small state records (9-byte values)
//! under 16-byte envelope ids ordered by time as the client draws them; eight disclosures
//! per group commit, which signs its checkpoint. This process's resident set is printed every
//! tenth of the run with the growth per disclosure over that tenth: what the store keeps in
//! memory per entry (sled's page table for every key it holds) shows as a growth that does
//! not level off.

use std::time::Instant;

use anyhow::{Context, Result};
use streha_store::{Namespace, Store, Transaction};

/// Disclosures per group commit.
const BATCH: u64 = 8;
/// The namespace of the state records (any; the store does not interpret it).
const RECORDS: Namespace = Namespace::new(6);
const ORIGIN: &str = "bench.streha.invalid/store-growth";

/// How the run is set up.
pub(crate) struct Plan {
    /// Disclosures to write.
    pub(crate) disclosures: u64,
    /// State records under envelope-id keys per disclosure.
    pub(crate) random_keys: u8,
}

fn rss_mib() -> f64 {
    crate::procstat::rss("self").unwrap_or_default() as f64 / (1024.0 * 1024.0)
}

/// A 64-bit mix (splitmix64): random-looking, reproducible ids.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes the plan into a store in a temporary directory and prints RSS every tenth.
pub(crate) fn run(plan: &Plan) -> Result<()> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let signer = streha_audit::NoteSigner::new(ORIGIN, key).context("note signer")?;
    let store = Store::open(dir.path(), ORIGIN, signer).context("opening the store")?;
    println!(
        "store growth: {} disclosures, per disclosure 2 audit entries and {} records under time-ordered envelope ids, a group commit (and checkpoint) per {BATCH}",
        plan.disclosures, plan.random_keys
    );
    println!(
        "{:>12} | {:>9} | {:>14}",
        "disclosures", "RSS MiB", "B/disclosure"
    );
    let step = (plan.disclosures / 10).max(BATCH);
    let started = Instant::now();
    let mut done = 0u64;
    let mut last = (0u64, rss_mib());
    while done < plan.disclosures {
        let mut tx = Transaction::new();
        for _ in 0..BATCH {
            for _ in 0..2 {
                tx.append(vec![5u8; 131]);
            }
            for record in 0..u64::from(plan.random_keys) {
                let n = done * 8 + record;
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&mix(n).to_be_bytes());
                id[8..].copy_from_slice(&mix(!n).to_be_bytes());
                // 360 disclosures a second, the sustained row's rate.
                let millis = 1_750_000_000_000 + done * 1000 / 360;
                let id =
                    *streha_client::envelope_id_at(streha_core::Timestamp(millis), id).as_bytes();
                tx.put(RECORDS, id.to_vec(), vec![3u8; 9]);
            }
            done += 1;
        }
        store.commit(tx).context("commit")?;
        if done.is_multiple_of(step) || done >= plan.disclosures {
            let rss = rss_mib();
            println!(
                "{:>12} | {:>9.1} | {:>14.0}",
                done,
                rss,
                (rss - last.1) * 1024.0 * 1024.0 / (done - last.0).max(1) as f64
            );
            last = (done, rss);
        }
    }
    println!(
        "{} disclosures in {:.0} s",
        done,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
