//! `streha-bench`: Streha's end-to-end disclosure throughput and latency, measured in one
//! run beside the ceilings that bound it — bare QUIC with the same payloads and concurrency,
//! the crypto floor of the design (seal, sign, three verifications, open; reported for the
//! old design with single verifications and for the design with delivery batches, whose
//! receiving node verifies a batch's signatures together), and the
//! durability floor (sled batch + flush + fsync) — and printed as ratios.
//!
//! End to end means: the application seals and submits, the sending node decides, logs
//! durably and acknowledges, delivers over QUIC, the receiving node decides, logs durably
//! and returns its receipt, the sender verifies and logs the receipt; the latency is taken
//! when the application learns of the receipt (`AwaitDelivery`).
//!
//! The daemons are this executable started under the name `strehad` (multi-call), so that
//! their CPU time and peak memory can be read from `/proc` per process.

#![forbid(unsafe_code)]

mod commits;
mod e2e;
mod floors;
mod growth;
mod procstat;
mod quic;
mod sled_growth;
mod store_growth;
mod sustained;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// The process name under which this executable runs the node daemon.
pub(crate) const DAEMON_NAME: &str = "strehad";

/// Latencies of completed operations over a wall-clock span.
pub(crate) struct Sample {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Sample {
    pub(crate) fn new(mut latencies: Vec<Duration>, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        Self { latencies, elapsed }
    }

    fn count(&self) -> usize {
        self.latencies.len()
    }

    fn rate(&self) -> f64 {
        self.count() as f64 / self.elapsed.as_secs_f64()
    }

    fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[index]
    }
}

/// Streha's end-to-end benchmark beside its ceilings.
#[derive(Debug, Parser)]
#[command(name = "streha-bench", version, about)]
struct Args {
    /// Payload sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "1024,16384,262144")]
    sizes: Vec<usize>,
    /// Concurrent applications.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Measure Streha only, not the ceilings (for profiling the daemons).
    #[arg(long)]
    streha_only: bool,
    /// Sustained load instead of the table: run this many seconds at `--load` × the maximum
    /// throughput, sampling throughput, p99 and each daemon's RSS every `--window` seconds,
    /// with the first of `--sizes` and the largest `--concurrency` (the maximum is measured first
    /// for `--seconds`, closed loop, unless `--max-rate` gives it).
    #[arg(long, value_name = "SECONDS")]
    sustained: Option<f64>,
    /// The fraction of the maximum throughput the sustained load runs at.
    #[arg(long, default_value_t = 0.8)]
    load: f64,
    /// The maximum throughput (disclosures/s) to take instead of measuring it.
    #[arg(long)]
    max_rate: Option<f64>,
    /// Seconds per sample of the sustained load.
    #[arg(long, default_value_t = 10.0)]
    window: f64,
    /// The most disclosures the sustained load keeps in flight, over the largest
    /// `--concurrency` application connections (default: four times as many). A safety
    /// bound, not a load: capped at the concurrency of the closed-loop maximum, an open loop
    /// holds its rate only while latency stays within the maximum's own (Little's law), so
    /// a slower hour of the disk reads as the node falling behind.
    #[arg(long, value_name = "N")]
    in_flight: Option<usize>,
    /// Instead of the daemons: write this many disclosures' worth of a sending node's keys
    /// into a bare sled database and print this process's RSS as it grows (sled's own
    /// memory, issue 19; see `sled_growth.rs`).
    #[arg(long, value_name = "DISCLOSURES")]
    sled_growth: Option<u64>,
    /// sled's cache capacity for `--sled-growth`, MiB.
    #[arg(long, default_value_t = 8)]
    sled_cache_mib: u64,
    /// State records under envelope-id keys per disclosure for `--sled-growth` (a sending
    /// node keeps one since issue 19's record merge; it kept three before).
    #[arg(long, default_value_t = 1)]
    sled_random_keys: u8,
    /// For `--sled-growth`: envelope ids wholly random (as before issue 19's change), not
    /// ordered by time as the client draws them now (`streha_client::envelope_id_at`).
    #[arg(long)]
    sled_unordered_ids: bool,
    /// Instead of the daemons: commit this many disclosures' worth of a sending node's
    /// writes into a real `streha_store::Store` and print this process's RSS as it grows
    /// (issue 19; see `store_growth.rs`).
    #[arg(long, value_name = "DISCLOSURES")]
    store_growth: Option<u64>,
    /// State records under time-ordered envelope ids per disclosure for `--store-growth`.
    #[arg(long, default_value_t = 0)]
    store_random_keys: u8,
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() -> ExitCode {
    let invoked_as = std::env::args_os().next();
    if invoked_as
        .as_deref()
        .and_then(|arg0| Path::new(arg0).file_name())
        .is_some_and(|name| name == DAEMON_NAME)
    {
        return streha_node::daemon_main();
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("streha-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("streha-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let duration = Duration::from_secs_f64(args.seconds);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "streha-bench: {cores} cores, {} s per measurement, payloads {:?} bytes, concurrency {:?}",
        args.seconds, args.sizes, args.concurrency
    );
    if let Some(disclosures) = args.sled_growth {
        let plan = sled_growth::Plan {
            disclosures,
            cache_bytes: args.sled_cache_mib.max(1) * 1024 * 1024,
            random_keys: args.sled_random_keys,
            ordered_ids: !args.sled_unordered_ids,
        };
        return tokio::task::spawn_blocking(move || sled_growth::run(&plan)).await?;
    }
    if let Some(disclosures) = args.store_growth {
        let plan = store_growth::Plan {
            disclosures,
            random_keys: args.store_random_keys,
        };
        return tokio::task::spawn_blocking(move || store_growth::run(&plan)).await?;
    }
    let federation = e2e::Federation::start().await?;
    if let Some(seconds) = args.sustained {
        anyhow::ensure!(
            args.load > 0.0 && args.load <= 1.0 && args.window > 0.0 && seconds > 0.0,
            "--load must be in (0, 1], --window and --sustained above 0"
        );
        let concurrency = args.concurrency.iter().copied().max().unwrap_or(1).max(1);
        let plan = sustained::Plan {
            seconds,
            load: args.load,
            max_rate: args.max_rate,
            probe_seconds: args.seconds,
            window: args.window,
            size: args.sizes.first().copied().unwrap_or(1024),
            concurrency,
            in_flight: args
                .in_flight
                .unwrap_or(concurrency.saturating_mul(sustained::IN_FLIGHT_PER_CONNECTION)),
        };
        anyhow::ensure!(
            plan.in_flight >= plan.concurrency,
            "--in-flight must be at least the largest --concurrency ({concurrency})"
        );
        return sustained::run(&federation, &plan).await;
    }
    println!(
        "\n{:>8} {:>5} | {:>9} {:>8} {:>8} {:>8} {:>8} | {:>9} {:>7} | {:>9} {:>7} | {:>9} {:>6} | {:>9} {:>6} | {:>9} {:>6}",
        "size",
        "conc",
        "streha/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "cpu ms",
        "quinn/s",
        "ratio",
        "relay/s",
        "ratio",
        "crypto/s",
        "ratio",
        "crypto b/s",
        "ratio",
        "sled e/s",
        "ratio"
    );
    for &size in &args.sizes {
        let (crypto, crypto_batched, sled_entries) = if args.streha_only {
            (f64::NAN, f64::NAN, f64::NAN)
        } else {
            (
                floors::crypto_floor(size, cores, duration),
                floors::crypto_floor_batched(
                    size,
                    cores,
                    streha_wire::limits::MAX_BATCH_ENVELOPES,
                    duration,
                ),
                floors::durability_floor(size, 64, duration),
            )
        };
        // Each disclosure makes three durable writes of about its size (disclosed + queue at
        // the sender, received + inbox at the receiver, receipt at the sender).
        let sled_disclosures = sled_entries / 3.0;
        for &concurrency in &args.concurrency {
            let (quinn, relayed) = if args.streha_only {
                let none = || Sample::new(Vec::new(), Duration::from_secs(1));
                (none(), none())
            } else {
                (
                    quic::bare_quinn(size, concurrency, duration).await,
                    quic::relayed_quinn(size, concurrency, duration).await,
                )
            };
            let cpu_before: Duration = federation.cpu().iter().sum::<Duration>()
                + procstat::cpu_time("self").unwrap_or_default();
            let streha = federation.run(size, concurrency, duration).await?;
            let cpu_after: Duration = federation.cpu().iter().sum::<Duration>()
                + procstat::cpu_time("self").unwrap_or_default();
            let cpu_per = (cpu_after.saturating_sub(cpu_before)).as_secs_f64() * 1000.0
                / streha.count().max(1) as f64;
            println!(
                "{:>8} {:>5} | {:>9.0} {:>8} {:>8} {:>8} {:>8.3} | {:>9.0} {:>7.3} | {:>9.0} {:>7.3} | {:>9.0} {:>6.3} | {:>9.0} {:>6.3} | {:>9.0} {:>6.3}",
                size,
                concurrency,
                streha.rate(),
                ms(streha.quantile(0.5)),
                ms(streha.quantile(0.99)),
                ms(streha.quantile(1.0)),
                cpu_per,
                quinn.rate(),
                streha.rate() / quinn.rate().max(f64::MIN_POSITIVE),
                relayed.rate(),
                streha.rate() / relayed.rate().max(f64::MIN_POSITIVE),
                crypto,
                streha.rate() / crypto,
                crypto_batched,
                streha.rate() / crypto_batched,
                sled_disclosures,
                streha.rate() / sled_disclosures,
            );
        }
    }
    let rss: Vec<String> = federation
        .peak_rss()
        .iter()
        .map(|b| format!("{:.1} MiB", *b as f64 / (1024.0 * 1024.0)))
        .collect();
    println!(
        "\npeak RSS of the daemons (sender, receiver): {}",
        rss.join(", ")
    );
    println!(
        "columns: streha/s = disclosures acknowledged durable at the sender with the receipt returned; \
         cpu ms = CPU of both daemons and the applications per disclosure; quinn/s = same payloads \
         over bare mutually authenticated QUIC; relay/s = the same through a relay, the two hops \
         of a disclosure (application to node, node to node) with nothing stored; crypto/s = the old design's floor (before issue 19): \
         seal + sign + 3 single verifications + open on {cores} cores; crypto b/s = the floor of \
         the design with delivery batches: the receiving node verifies the envelope signatures \
         of a full batch ({batch}) with Ed25519 batch verification, the rest as before; sled e/s = sled batches of 64 + flush + fsync, divided by the 3 writes a \
         disclosure makes; ratio = streha / ceiling",
        batch = streha_wire::limits::MAX_BATCH_ENVELOPES
    );
    Ok(())
}
