//! Sustained load (issue 19): the two daemons run for minutes at a fixed fraction of the
//! throughput they reached when pushed, with throughput, p99 and each daemon's RSS sampled
//! every window, and a verdict on whether memory or latency grow over the run.
//!
//! The load is open-loop: disclosure `k` is due at `start + k / rate`, whoever is free takes
//! it, and its latency runs from when it was due, not from when a worker got to it. A daemon
//! that falls behind therefore shows as a growing p99 (and a throughput below the target),
//! instead of the load quietly slowing down to what it can do (coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::mpsc;

use crate::e2e::Federation;

/// Disclosures in flight per application connection when `--in-flight` is not given.
///
/// The open loop must not be capped at the concurrency the maximum was measured with: there
/// the mean latency is exactly what that concurrency allows at that rate, so at 80 % of it
/// any rise of latency above 1.25 × the maximum's (a slower disk for a minute) would cap the
/// completions below the rate while the daemons have CPU to spare, and read as the node
/// falling behind (measured, `BENCHMARKS.md`). Four per connection leaves room for latency
/// to quadruple, well inside the node's budget of concurrent streams per connection
/// (`limits.max_streams_per_connection`, 64).
pub(crate) const IN_FLIGHT_PER_CONNECTION: usize = 4;

/// How the sustained run is set up.
pub(crate) struct Plan {
    /// Seconds at the sustained rate.
    pub(crate) seconds: f64,
    /// The fraction of the measured maximum to run at.
    pub(crate) load: f64,
    /// The maximum in disclosures per second, if given; measured first otherwise.
    pub(crate) max_rate: Option<f64>,
    /// Seconds of the measurement of the maximum.
    pub(crate) probe_seconds: f64,
    /// Seconds per sample.
    pub(crate) window: f64,
    /// Payload bytes.
    pub(crate) size: usize,
    /// Applications, each its own connection; the closed-loop maximum is measured with
    /// this many.
    pub(crate) concurrency: usize,
    /// The most disclosures in flight during the sustained run, spread over the
    /// applications' connections (at least `concurrency`).
    pub(crate) in_flight: usize,
}

/// One window of the run.
struct Window {
    /// Seconds from the start of the sustained run to the end of the window.
    end: f64,
    /// Disclosures completed in the window, per second.
    rate: f64,
    /// 99th percentile of their latencies.
    p99: Duration,
    /// Resident set of each daemon at the end of the window, bytes (shelter, police).
    rss: Vec<u64>,
}

/// Least-squares slope of `ys` over `xs`.
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    if xs.len() < 2 {
        return 0.0;
    }
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

fn p99(latencies: &mut [Duration]) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    latencies.sort_unstable();
    latencies[((latencies.len() - 1) as f64 * 0.99).round() as usize]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Runs the plan against `federation` and prints the table and the verdict.
pub(crate) async fn run(federation: &Federation, plan: &Plan) -> Result<()> {
    let max = match plan.max_rate {
        Some(rate) => {
            println!("maximum (given): {rate:.0} disclosures/s");
            rate
        }
        None => {
            let sample = federation
                .run(
                    plan.size,
                    plan.concurrency,
                    Duration::from_secs_f64(plan.probe_seconds),
                )
                .await?;
            println!(
                "maximum (measured over {} s, {} applications, closed loop): {:.0} disclosures/s",
                plan.probe_seconds,
                plan.concurrency,
                sample.rate()
            );
            sample.rate()
        }
    };
    let rate = max * plan.load;
    anyhow::ensure!(rate > 0.0, "the target rate is zero");
    println!(
        "sustained: {:.0} disclosures/s ({:.0} % of the maximum) for {} s, {} B payloads, at most {} in flight over {} application connections, sampled every {} s\n",
        rate,
        plan.load * 100.0,
        plan.seconds,
        plan.size,
        plan.in_flight,
        plan.concurrency,
        plan.window
    );
    println!(
        "{:>6} | {:>9} {:>9} | {:>11} {:>11} | group commits of each daemon: per s, transactions each, ms each (ms in the journal / state / high-water syncs)",
        "t s", "done/s", "p99 ms", "RSS shelter", "RSS police"
    );
    let mut counters = federation.commit_counters().await;

    let clients = federation.clients(plan.concurrency).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Duration)>();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let duration = Duration::from_secs_f64(plan.seconds);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut workers = Vec::new();
    // `in_flight` workers over the connections, round robin: each takes the next due
    // disclosure when its previous one is done.
    for client in clients
        .iter()
        .cycle()
        .take(plan.in_flight.max(clients.len()))
    {
        let client = Arc::clone(client);
        let (tx, next) = (tx.clone(), Arc::clone(&next));
        let disclose = federation.discloser(plan.size);
        workers.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(due) = u32::try_from(k)
                    .ok()
                    .and_then(|k| interval.checked_mul(k))
                    .filter(|d| *d < duration)
                    .map(|d| started + d)
                else {
                    return Ok::<_, anyhow::Error>(());
                };
                tokio::time::sleep_until(due.into()).await;
                disclose.once(&client).await?;
                let done = Instant::now();
                // The receiver only stops when the run is over.
                let _ = tx.send((done, done.saturating_duration_since(due)));
            }
        }));
    }
    drop(tx);

    let window = Duration::from_secs_f64(plan.window);
    let mut windows: Vec<Window> = Vec::new();
    let mut pending: Vec<(Instant, Duration)> = Vec::new();
    let mut open = true;
    let mut window_start = started;
    while open {
        let window_end = window_start + window;
        // Collect what completes until the window's end.
        loop {
            tokio::select! {
                item = rx.recv() => match item {
                    Some(item) => pending.push(item),
                    None => { open = false; break; }
                },
                () = tokio::time::sleep_until(window_end.into()) => break,
            }
        }
        let end = if open { window_end } else { Instant::now() };
        let (mut inside, later): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(d, _)| *d <= end);
        pending = later;
        let span = end.saturating_duration_since(window_start).as_secs_f64();
        if span < plan.window / 2.0 && !windows.is_empty() {
            // A short tail after the last full window: folded into nothing.
            break;
        }
        let mut latencies: Vec<Duration> = inside.drain(..).map(|(_, l)| l).collect();
        let row = Window {
            end: end.saturating_duration_since(started).as_secs_f64(),
            rate: latencies.len() as f64 / span.max(f64::MIN_POSITIVE),
            p99: p99(&mut latencies),
            rss: federation.rss(),
        };
        let now = federation.commit_counters().await;
        let commits: Vec<String> = ["shelter", "police"]
            .iter()
            .zip(now.iter().zip(&counters))
            .map(|(name, pair)| match pair {
                (Some(now), Some(then)) => format!("{name} {}", now.since(then, span)),
                _ => format!("{name} (no /metrics)"),
            })
            .collect();
        counters = now;
        println!(
            "{:>6.0} | {:>9.0} {:>9.2} | {:>7.1} MiB {:>7.1} MiB | {}",
            row.end,
            row.rate,
            row.p99.as_secs_f64() * 1000.0,
            mib(row.rss.first().copied().unwrap_or(0)),
            mib(row.rss.get(1).copied().unwrap_or(0)),
            commits.join(" | "),
        );
        windows.push(row);
        window_start = end;
    }
    for worker in workers {
        worker.await??;
    }
    verdict(&windows, rate);
    Ok(())
}

/// Growth over the run: least-squares slopes of each daemon's RSS and of the p99 over the
/// windows after the first (start-up: caches filling, connections opening), and the rise
/// the slope gives over the whole run against the first window's value.
fn verdict(windows: &[Window], rate: f64) {
    let steady: &[Window] = windows.get(1..).unwrap_or(&[]);
    if steady.len() < 3 {
        println!(
            "\nverdict: too few windows ({}) to fit a slope; run longer",
            windows.len()
        );
        return;
    }
    let xs: Vec<f64> = steady.iter().map(|w| w.end / 60.0).collect();
    let span = xs.last().copied().unwrap_or(0.0) - xs.first().copied().unwrap_or(0.0);
    let mut grows = Vec::new();
    println!();
    for (i, name) in ["shelter (sender)", "police (receiver)"].iter().enumerate() {
        let ys: Vec<f64> = steady
            .iter()
            .map(|w| mib(w.rss.get(i).copied().unwrap_or(0)))
            .collect();
        let s = slope(&xs, &ys);
        let rise = s * span;
        let limit = (ys[0] * 0.10).max(4.0);
        println!(
            "RSS {name}: {:.1} → {:.1} MiB, slope {s:+.2} MiB/min, fitted rise {rise:+.1} MiB over {span:.1} min (limit {limit:.1} MiB)",
            ys[0],
            ys[ys.len() - 1]
        );
        if rise > limit {
            grows.push(format!("RSS of {name}"));
        }
    }
    let ys: Vec<f64> = steady
        .iter()
        .map(|w| w.p99.as_secs_f64() * 1000.0)
        .collect();
    let s = slope(&xs, &ys);
    let rise = s * span;
    let first = ys[0].max(1.0);
    println!(
        "p99: {:.2} → {:.2} ms, slope {s:+.2} ms/min, fitted rise {rise:+.2} ms over {span:.1} min (limit {:.2} ms, half the first window's)",
        ys[0],
        ys[ys.len() - 1],
        first * 0.5
    );
    if rise > first * 0.5 {
        grows.push("p99".to_owned());
    }
    let short: Vec<String> = steady
        .iter()
        .filter(|w| w.rate < rate * 0.95)
        .map(|w| format!("{:.0} s ({:.0}/s)", w.end, w.rate))
        .collect();
    if !short.is_empty() {
        println!(
            "windows below 95 % of the target rate: {}",
            short.join(", ")
        );
        grows.push("falling behind the target rate".to_owned());
    }
    if grows.is_empty() {
        println!("verdict: no growth (RSS and p99 flat within the limits, the target rate held)");
    } else {
        println!("verdict: GROWTH: {}", grows.join("; "));
    }
}
