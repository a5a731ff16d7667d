//! What the memory-growth modes (`--sled-growth`, `--store-growth`) share: reproducible
//! ids and the report of this process's RSS every tenth of the run.

use std::time::Instant;

/// A 64-bit mix (splitmix64): random-looking, reproducible ids.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rss_mib() -> f64 {
    crate::procstat::rss("self").unwrap_or_default() as f64 / (1024.0 * 1024.0)
}

/// Prints this process's RSS every tenth of a run of `disclosures`, with the growth per
/// disclosure since the line before, and the run's duration at the end.
pub(crate) struct GrowthReport {
    disclosures: u64,
    step: u64,
    started: Instant,
    last: (u64, f64),
}

impl GrowthReport {
    /// Prints the table's header; `batch` is the smallest step the run can report at.
    pub(crate) fn start(disclosures: u64, batch: u64) -> Self {
        println!(
            "{:>12} | {:>9} | {:>14}",
            "disclosures", "RSS MiB", "B/disclosure"
        );
        Self {
            disclosures,
            step: (disclosures / 10).max(batch),
            started: Instant::now(),
            last: (0, rss_mib()),
        }
    }

    /// After `done` disclosures: a line if a tenth is complete (or the run is).
    pub(crate) fn after(&mut self, done: u64) {
        if done.is_multiple_of(self.step) || done >= self.disclosures {
            let rss = rss_mib();
            println!(
                "{:>12} | {:>9.1} | {:>14.0}",
                done,
                rss,
                (rss - self.last.1) * 1024.0 * 1024.0 / (done - self.last.0).max(1) as f64
            );
            self.last = (done, rss);
        }
    }

    /// The closing line.
    pub(crate) fn finish(&self, done: u64) {
        println!(
            "{} disclosures in {:.0} s",
            done,
            self.started.elapsed().as_secs_f64()
        );
    }
}
