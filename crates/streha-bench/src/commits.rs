//! The daemons' group commits, read from their `/metrics` (issue 19): how many batches each
//! made durable and where their time went, so that a sustained run shows whether the disk
//! slows down as the stores grow.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How long a scrape may take before the window is printed without it.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// A daemon's commit counters at one moment (`streha_store_*` in `/metrics`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CommitCounters {
    /// Group commits made durable.
    pub(crate) batches: f64,
    /// Transactions in them.
    pub(crate) transactions: f64,
    /// Seconds from start to durable, summed over the batches.
    pub(crate) seconds: f64,
    /// Seconds in the journal's, the state's and the high-water mark's sync, summed.
    pub(crate) sync_seconds: [f64; 3],
}

impl CommitCounters {
    /// Parses the counters out of a `/metrics` text.
    fn parse(text: &str) -> Result<Self> {
        let value = |name: &str| -> Result<f64> {
            let line = text
                .lines()
                .find(|line| line.strip_prefix(name).is_some_and(|v| v.starts_with(' ')))
                .with_context(|| format!("{name} missing from /metrics"))?;
            line[name.len()..]
                .trim()
                .parse()
                .with_context(|| format!("{name} is not a number"))
        };
        Ok(Self {
            batches: value("streha_store_commits_total")?,
            transactions: value("streha_store_committed_transactions_total")?,
            seconds: value("streha_store_commit_seconds_sum")?,
            sync_seconds: [
                value("streha_store_sync_seconds_total{write=\"journal\"}")?,
                value("streha_store_sync_seconds_total{write=\"state\"}")?,
                value("streha_store_sync_seconds_total{write=\"high_water\"}")?,
            ],
        })
    }

    /// What happened between `earlier` and `self`, as one line: group commits per second,
    /// transactions per commit, milliseconds per commit and per sync of each file.
    pub(crate) fn since(&self, earlier: &Self, seconds: f64) -> String {
        let batches = self.batches - earlier.batches;
        if batches <= 0.0 {
            return "no commits".to_owned();
        }
        let per_batch = |now: f64, then: f64| (now - then) * 1000.0 / batches;
        format!(
            "{:>5.0}/s {:>4.1} tx {:>5.2} ms ({:.2}/{:.2}/{:.2})",
            batches / seconds.max(f64::MIN_POSITIVE),
            (self.transactions - earlier.transactions) / batches,
            per_batch(self.seconds, earlier.seconds),
            per_batch(self.sync_seconds[0], earlier.sync_seconds[0]),
            per_batch(self.sync_seconds[1], earlier.sync_seconds[1]),
            per_batch(self.sync_seconds[2], earlier.sync_seconds[2]),
        )
    }
}

/// Reads a daemon's commit counters from its `/metrics` on `address` (loopback).
pub(crate) async fn scrape(address: SocketAddr) -> Result<CommitCounters> {
    let read = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(SCRAPE_TIMEOUT, read)
        .await
        .context("/metrics did not answer in time")?
        .context("reading /metrics")?;
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        bail!("/metrics answered without a body");
    };
    if !head.starts_with("HTTP/1.1 200") {
        bail!("/metrics answered {}", head.lines().next().unwrap_or(""));
    }
    CommitCounters::parse(body)
}
