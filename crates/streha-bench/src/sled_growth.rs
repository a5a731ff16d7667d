//! sled's own memory under a node's write pattern, without the node (issue 19).
//!
//! A bare sled database, written the way a sending node writes its store per disclosure:
//! two audit entries under sequential keys (131-byte values), `--sled-random-keys` state
//! records under 16-byte envelope ids (9-byte values; ordered by time as the client draws
//! them, or wholly random with `--sled-unordered-ids`), a checkpoint and one flush
//! per group commit of 8 disclosures. The resident set of this process is printed as the
//! store grows, so that what sled keeps per page (its page table, paged out or not) can be
//! told apart from its page cache (`--sled-cache-mib`): the first grows with the store
//! whatever the cache, the second levels off.

use crate::growth::GrowthReport;

use anyhow::{Context, Result};

/// Disclosures per group commit.
const BATCH: u64 = 8;

/// How the run is set up.
pub(crate) struct Plan {
    /// Disclosures to write.
    pub(crate) disclosures: u64,
    /// sled's `cache_capacity`, bytes.
    pub(crate) cache_bytes: u64,
    /// State records under envelope-id keys per disclosure.
    pub(crate) random_keys: u8,
    /// Envelope ids ordered by time (`streha_client::envelope_id_at`), not wholly random.
    pub(crate) ordered_ids: bool,
}

/// Writes the plan into a temporary sled database and prints RSS every tenth of the run.
pub(crate) fn run(plan: &Plan) -> Result<()> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(plan.cache_bytes)
        .open()
        .context("opening sled")?;
    println!(
        "sled growth: {} disclosures, cache {} MiB, per disclosure 2 sequential entries and {} records under {} envelope ids, a flush per {BATCH}",
        plan.disclosures,
        plan.cache_bytes / (1024 * 1024),
        plan.random_keys,
        if plan.ordered_ids {
            "time-ordered"
        } else {
            "random"
        }
    );
    let mut report = GrowthReport::start(plan.disclosures, BATCH);
    let (mut entry, mut done) = (0u64, 0u64);
    while done < plan.disclosures {
        let mut batch = sled::Batch::default();
        for _ in 0..BATCH {
            for _ in 0..2 {
                let mut key = vec![0x01];
                key.extend_from_slice(&entry.to_be_bytes());
                batch.insert(key, vec![5u8; 131]);
                entry += 1;
            }
            for record in 0..u64::from(plan.random_keys) {
                let mut key = vec![0x10, 6 + record as u8];
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&crate::growth::mix(done * 8 + record).to_be_bytes());
                id[8..].copy_from_slice(&crate::growth::mix(!(done * 8 + record)).to_be_bytes());
                if plan.ordered_ids {
                    // 360 disclosures a second, the sustained row's rate.
                    let millis = 1_750_000_000_000 + done * 1000 / 360;
                    id = *streha_client::envelope_id_at(streha_core::Timestamp(millis), id)
                        .as_bytes();
                }
                key.extend_from_slice(&id);
                batch.insert(key, vec![3u8; 9]);
            }
            done += 1;
        }
        let mut key = vec![0x03];
        key.extend_from_slice(&entry.to_be_bytes());
        batch.insert(key, vec![4u8; 206]);
        db.apply_batch(batch)?;
        db.flush()?;
        report.after(done);
    }
    report.finish(done);
    Ok(())
}
