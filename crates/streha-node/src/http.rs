//! A minimal HTTP/1.1 responder on a loopback address for `GET /metrics` (Prometheus text
//! format) and `GET /health` (JSON, see [`health`]). It reads one request of at most 8 KiB
//! per connection, answers, and closes; anything else gets 404 or 400. It never serves
//! anything but counters and states.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::shared::{DiskState, Shared};

const MAX_REQUEST: usize = 8 * 1024;
const MAX_CONNECTIONS: usize = 16;

/// Serves until `shutdown`.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (mut stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
            _ = shutdown.changed() => break,
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                let mut buf = vec![0u8; MAX_REQUEST];
                let mut len = 0;
                while len < buf.len() {
                    let n = stream.read(&mut buf[len..]).await.ok()?;
                    if n == 0 {
                        break;
                    }
                    len += n;
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let request = String::from_utf8_lossy(&buf[..len]);
                let line = request.lines().next().unwrap_or("");
                let (status, content_type, body) = respond(&shared, line);
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).await.ok()?;
                stream.write_all(body.as_bytes()).await.ok()?;
                stream.shutdown().await.ok()
            })
            .await;
        });
    }
}

fn respond(shared: &Shared, request_line: &str) -> (&'static str, &'static str, String) {
    let mut parts = request_line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics")) => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            shared.render_metrics(),
        ),
        (Some("GET"), Some("/health")) => {
            let health = health(shared);
            (
                http_status(health.status),
                "application/json",
                health.body + "\n",
            )
        }
        (Some(_), Some(_)) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("400 Bad Request", "text/plain", "bad request\n".into()),
    }
}

/// How long the oldest disclosure may wait for its receipt before the node is degraded.
pub(crate) const HEALTH_QUEUE_AGE: Duration = Duration::from_secs(15 * 60);
/// How long without any cosignature, while entries are unpublished, before the node is
/// degraded (at least this, or ten witnessing intervals if longer).
pub(crate) const HEALTH_COSIGNATURE_AGE: Duration = Duration::from_secs(5 * 60);

/// The overall state `/health` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Status {
    /// Serving, nothing to look at.
    Ok,
    /// Serving, with something an operator should look at (the reasons say what). HTTP 200:
    /// a load balancer keeps sending.
    Degraded,
    /// Not serving (the store failed; the node is stopping to restart from disk). HTTP 503.
    Failing,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Degraded => "degraded",
            Status::Failing => "failing",
        }
    }
}

/// The answer to `GET /health`.
pub(crate) struct Health {
    pub(crate) status: Status,
    /// The JSON document, with the reasons.
    pub(crate) body: String,
}

/// What `/health` looks at, read from the node's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) store_failed: bool,
    pub(crate) disk: DiskState,
    pub(crate) own_agency_in_roster: bool,
    /// When the roster in force expired, if it has (`expires_at` in its signed body).
    pub(crate) roster_expired_at: Option<u64>,
    /// Disclosures waiting for their receipt, those held, and the oldest's age (unknown
    /// once the store failed: it serves no read).
    pub(crate) queue: Option<(u64, u64, Duration)>,
    pub(crate) peers_reachable: u64,
    /// Whether a witnessing round has had time to complete since the start (before that,
    /// no peer has been asked and none counts as reachable).
    pub(crate) peers_judged: bool,
    pub(crate) other_agencies: u64,
    pub(crate) quorum: u64,
    pub(crate) log_size: u64,
    pub(crate) published_size: Option<u64>,
    pub(crate) cosignature_age: Duration,
    pub(crate) cosignature_stale_after: Duration,
}

/// The status and its reasons, from the facts: the rules of `/health` in one place.
pub(crate) fn assess(facts: &Facts) -> (Status, Vec<String>) {
    let mut status = Status::Ok;
    let mut reasons = Vec::new();
    let mut flag = |level: Status, reason: String| {
        status = status.max(level);
        reasons.push(reason);
    };
    if facts.store_failed {
        flag(
            Status::Failing,
            "the store failed (a write could not be made durable): the node has stopped serving and restarts from disk".into(),
        );
    }
    match facts.disk {
        DiskState::BelowReserve { available, reserve } => flag(
            Status::Degraded,
            format!(
                "disk nearly full: {available} bytes free, below the reserve of {reserve}; new disclosures and deliveries are refused"
            ),
        ),
        DiskState::Unknown => flag(
            Status::Degraded,
            "the free space of the data directory cannot be read".into(),
        ),
        DiskState::Ok { .. } | DiskState::Off => {}
    }
    if !facts.own_agency_in_roster {
        flag(
            Status::Failing,
            "this node's agency is not in the roster in use".into(),
        );
    }
    if let Some(expired_at) = facts.roster_expired_at {
        flag(
            Status::Degraded,
            format!(
                "the roster in force expired (at {expired_at} ms since the epoch): only urgent-danger disclosures (Art. 45.3) leave until the national authority's newer roster is installed"
            ),
        );
    }
    if let Some((queued, held, oldest)) = facts.queue
        && oldest > HEALTH_QUEUE_AGE
    {
        flag(
            Status::Degraded,
            format!(
                "the oldest disclosure has waited {} s for its receipt ({held} of {queued} queued are held and wait for a person: `streha delivery held`)",
                oldest.as_secs()
            ),
        );
    }
    let needed = facts.quorum.min(facts.other_agencies);
    if facts.peers_judged && facts.peers_reachable < needed {
        flag(
            Status::Degraded,
            format!(
                "{} of {} peers answered the last witnessing round; {needed} are needed to publish checkpoints",
                facts.peers_reachable, facts.other_agencies
            ),
        );
    }
    if let Some(published) = facts.published_size
        && published < facts.log_size
        && facts.cosignature_age > facts.cosignature_stale_after
    {
        flag(
            Status::Degraded,
            format!(
                "{} log entries are not yet cosigned by the quorum, and no cosignature arrived for {} s",
                facts.log_size - published,
                facts.cosignature_age.as_secs()
            ),
        );
    }
    (status, reasons)
}

/// The node's health from its state (read-only): the store, the disk reserve, the roster,
/// the outbound queue, the peers, witnessing.
pub(crate) fn health(shared: &Shared) -> Health {
    use std::sync::atomic::Ordering;
    let now = shared.now().unix_millis();
    let store_failed = shared.store.has_failed();
    let roster = shared.roster();
    let queue = (!store_failed).then(|| {
        let (queued, oldest) = shared.queue_figures(now);
        let held: u64 = shared.held_figures().values().sum();
        (queued, held, Duration::from_millis(oldest))
    });
    let published_size = if store_failed {
        None
    } else {
        crate::state::load_index(&shared.store, crate::state::NODE_META, b"published")
            .ok()
            .map(|p| p.unwrap_or(0))
    };
    let facts = Facts {
        store_failed,
        disk: shared.disk_state(),
        own_agency_in_roster: roster.agency(&shared.agency).is_some(),
        roster_expired_at: shared
            .roster_expired()
            .then(|| shared.roster_expires_at().map(|t| t.unix_millis()))
            .flatten(),
        queue,
        peers_reachable: shared.metrics.peers_reachable.load(Ordering::Relaxed),
        peers_judged: shared.started.elapsed()
            > shared.witness.interval + shared.limits.request_timeout,
        other_agencies: roster
            .agencies()
            .iter()
            .filter(|agency| agency.id != shared.agency)
            .count() as u64,
        quorum: shared.witness.quorum as u64,
        log_size: shared.store.tree_size(),
        published_size,
        cosignature_age: Duration::from_millis(
            now.saturating_sub(shared.metrics.last_cosignature_at.load(Ordering::Relaxed)),
        ),
        cosignature_stale_after: HEALTH_COSIGNATURE_AGE
            .max(shared.witness.interval.saturating_mul(10)),
    };
    let (status, reasons) = assess(&facts);
    let (available, reserve) = match facts.disk {
        DiskState::Ok { available, reserve } | DiskState::BelowReserve { available, reserve } => {
            (Some(available), reserve)
        }
        DiskState::Unknown => (None, shared.limits.disk_reserve_bytes),
        DiskState::Off => (shared.store.available_bytes().ok(), 0),
    };
    let body = serde_json::json!({
        "status": status.name(),
        "reasons": reasons,
        "agency": shared.agency.as_str(),
        "log_size": facts.log_size,
        "log_origin": shared.store.origin(),
        "store": if store_failed { "failed" } else { "writable" },
        "recovery": {
            "recovering": shared.recovering.load(Ordering::Acquire),
            "lost_entries": shared.lost_entries.load(Ordering::Acquire),
        },
        "disk": {
            "available_bytes": available,
            "reserve_bytes": reserve,
            "below_reserve": matches!(facts.disk, DiskState::BelowReserve { .. }),
        },
        "roster": {
            "version": roster.version(),
            "issued_at": roster.issued_at().unix_millis(),
            "expires_at": shared.roster_expires_at().map(|t| t.unix_millis()),
            "expired": shared.roster_expired(),
        },
        "outbound": {
            "queued": queue.map(|q| q.0),
            "held": queue.map(|q| q.1),
            "oldest_age_seconds": queue.map(|q| q.2.as_secs()),
        },
        "peers": {
            "reachable": facts.peers_reachable,
            "others": facts.other_agencies,
            "quorum": facts.quorum,
        },
        "witnessing": {
            "published_size": published_size,
            "last_cosignature_age_seconds": facts.cosignature_age.as_secs(),
        },
    })
    .to_string();
    Health { status, body }
}

/// The HTTP status line of a health status: a load balancer or probe acts on 503.
pub(crate) fn http_status(status: Status) -> &'static str {
    match status {
        Status::Ok | Status::Degraded => "200 OK",
        Status::Failing => "503 Service Unavailable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Facts {
        Facts {
            store_failed: false,
            disk: DiskState::Ok {
                available: 10 << 30,
                reserve: 256 << 20,
            },
            own_agency_in_roster: true,
            roster_expired_at: None,
            queue: Some((3, 0, Duration::from_secs(2))),
            peers_reachable: 2,
            peers_judged: true,
            other_agencies: 2,
            quorum: 1,
            log_size: 100,
            published_size: Some(90),
            cosignature_age: Duration::from_secs(1),
            cosignature_stale_after: HEALTH_COSIGNATURE_AGE,
        }
    }

    #[test]
    fn each_fact_moves_the_status_with_a_reason() {
        assert_eq!(assess(&healthy()), (Status::Ok, vec![]));

        let failed = Facts {
            store_failed: true,
            queue: None,
            published_size: None,
            ..healthy()
        };
        let (status, reasons) = assess(&failed);
        assert_eq!(status, Status::Failing);
        assert!(reasons[0].contains("store failed"));
        assert_eq!(http_status(status), "503 Service Unavailable");

        let cases: Vec<(Facts, &str)> = vec![
            (
                Facts {
                    disk: DiskState::BelowReserve {
                        available: 1,
                        reserve: 2,
                    },
                    ..healthy()
                },
                "disk nearly full",
            ),
            (
                Facts {
                    queue: Some((5, 1, HEALTH_QUEUE_AGE + Duration::from_secs(1))),
                    ..healthy()
                },
                "oldest disclosure",
            ),
            (
                Facts {
                    peers_reachable: 0,
                    ..healthy()
                },
                "peers answered",
            ),
            (
                Facts {
                    cosignature_age: HEALTH_COSIGNATURE_AGE + Duration::from_secs(1),
                    ..healthy()
                },
                "not yet cosigned",
            ),
        ];
        for (facts, reason) in cases {
            let (status, reasons) = assess(&facts);
            assert_eq!(status, Status::Degraded, "{reason}");
            assert!(reasons.iter().any(|r| r.contains(reason)), "{reasons:?}");
            assert_eq!(http_status(status), "200 OK");
        }

        // Everything cosigned: an old cosignature is no reason.
        let quiet = Facts {
            published_size: Some(100),
            cosignature_age: HEALTH_COSIGNATURE_AGE * 10,
            ..healthy()
        };
        assert_eq!(assess(&quiet).0, Status::Ok);
        // Right after the start no round has been made: no peer is missed yet.
        let starting = Facts {
            peers_reachable: 0,
            peers_judged: false,
            ..healthy()
        };
        assert_eq!(assess(&starting).0, Status::Ok);
        // A node with no other agency in its roster has no peers to miss.
        let alone = Facts {
            peers_reachable: 0,
            other_agencies: 0,
            ..healthy()
        };
        assert_eq!(assess(&alone).0, Status::Ok);
    }
}
