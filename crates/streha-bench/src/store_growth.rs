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

use crate::growth::GrowthReport;

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
    let mut report = GrowthReport::start(plan.disclosures, BATCH);
    let mut done = 0u64;
    while done < plan.disclosures {
        let mut tx = Transaction::new();
        for _ in 0..BATCH {
            for _ in 0..2 {
                tx.append(vec![5u8; 131]);
            }
            for record in 0..u64::from(plan.random_keys) {
                let n = done * 8 + record;
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&crate::growth::mix(n).to_be_bytes());
                id[8..].copy_from_slice(&crate::growth::mix(!n).to_be_bytes());
                // 360 disclosures a second, the sustained row's rate.
                let millis = 1_750_000_000_000 + done * 1000 / 360;
                let id =
                    *streha_client::envelope_id_at(streha_core::Timestamp(millis), id).as_bytes();
                tx.put(RECORDS, id.to_vec(), vec![3u8; 9]);
            }
            done += 1;
        }
        store.commit(tx).context("commit")?;
        report.after(done);
    }
    report.finish(done);
    Ok(())
}
