//! The times of this node's log entries (`spec/protocol.md` §6, "Entry times").
//!
//! Every entry states a time: most take this node's clock, but a consent's `recorded_at`
//! and a revocation's `revoked_at` are stated by the application. The protocol bounds both
//! ([`MAX_CLOCK_SKEW_MS`]): in log order an entry's time may lie at most that much before
//! the latest time already in the log, so that an operator cannot date an entry before
//! entries it follows (a revocation before the disclosure it comes after), and a stated time
//! may lie at most `limits.clock_skew_ms` (never more than the bound) from this node's clock.
//!
//! [`LogClock::admit`] enforces the order where it is decided: transactions enter the
//! commit queue, whose order is the log's, under one lock that checks and raises the latest
//! time. This node's own time ([`LogClock::now`]) never takes the log backwards beyond the
//! bound either, even when the system clock is set back.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use streha_core::{AuditEntry, MAX_CLOCK_SKEW_MS, Timestamp};
use streha_store::{Store, StoreError};

use crate::failure::Failure;

/// How many entries from the end of the log are read at start to find the latest time.
const TAIL: u64 = 4096;

/// The latest entry time of this node's log, and the rules for new ones.
#[derive(Debug)]
pub(crate) struct LogClock {
    /// The latest time (Unix milliseconds) of any entry committed or queued for commit.
    latest: Mutex<u64>,
}

/// The time an entry states, and who stated it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryTime {
    at: u64,
    /// The field, for a time an application stated (`None`: this node's clock).
    stated: Option<&'static str>,
    kind: &'static str,
}

impl EntryTime {
    /// The time `entry` states.
    pub(crate) fn of(entry: &AuditEntry) -> Self {
        let stated = match entry {
            AuditEntry::ConsentGranted { .. } => Some("consent recorded_at"),
            AuditEntry::ConsentRevoked { .. } => Some("revocation revoked_at"),
            _ => None,
        };
        Self {
            at: entry.at().unix_millis(),
            stated,
            kind: entry.kind_name(),
        }
    }
}

impl LogClock {
    /// The clock of the log in `store`: its latest entry time, found from the end of the
    /// log. If the log kept the bound, no entry lies more than [`MAX_CLOCK_SKEW_MS`] after
    /// any later one, so reading back until the latest time seen is that far above the
    /// earliest seen is exact; after [`TAIL`] entries, that earliest time plus the bound is
    /// a safe upper limit.
    ///
    /// # Errors
    /// A store read error.
    pub(crate) fn open(store: &Store) -> Result<Self, StoreError> {
        let size = store.tree_size();
        let (mut latest, mut earliest) = (0u64, u64::MAX);
        let mut exact = true;
        for (read, index) in (0..size).rev().enumerate() {
            if latest >= earliest.saturating_add(MAX_CLOCK_SKEW_MS) {
                break;
            }
            if read as u64 >= TAIL {
                exact = false;
                break;
            }
            let Some(at) = store
                .entry(index)?
                .and_then(|bytes| AuditEntry::decode(&bytes).ok())
                .map(|entry| entry.at().unix_millis())
            else {
                continue;
            };
            latest = latest.max(at);
            earliest = earliest.min(at);
        }
        if !exact {
            latest = latest.max(earliest.saturating_add(MAX_CLOCK_SKEW_MS));
        }
        Ok(Self::starting_at(latest))
    }

    /// A clock whose log's latest entry time is `latest` (Unix milliseconds).
    pub(crate) fn starting_at(latest: u64) -> Self {
        Self {
            latest: Mutex::new(latest),
        }
    }

    fn latest(&self) -> std::sync::MutexGuard<'_, u64> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This node's time for a new entry: the system clock, or, if the system clock was set
    /// back, the latest entry time less the bound (the earliest time the log takes).
    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(system_now().max(self.floor()))
    }

    /// The earliest time an entry may state now: the latest less the bound.
    fn floor(&self) -> u64 {
        self.latest().saturating_sub(MAX_CLOCK_SKEW_MS)
    }

    /// Checks a time an application states (`field`, e.g. `consent recorded_at`): at most
    /// `skew` from this node's clock, and not before the earliest time the log takes now.
    ///
    /// # Errors
    /// [`Failure::BadRequest`] naming the field, the time and the bound.
    pub(crate) fn check_stated(
        &self,
        field: &str,
        at: Timestamp,
        skew: Duration,
    ) -> Result<(), Failure> {
        let now = self.now();
        let skew_ms = u64::try_from(skew.as_millis()).unwrap_or(u64::MAX);
        let (at_ms, now_ms) = (at.unix_millis(), now.unix_millis());
        if at_ms > now_ms.saturating_add(skew_ms) {
            return Err(Failure::BadRequest(format!(
                "the {field} {at} is {} s ahead of this node's clock ({now}); at most {} s is allowed: check the application's clock",
                (at_ms - now_ms) / 1000,
                skew_ms / 1000
            )));
        }
        if at_ms < now_ms.saturating_sub(skew_ms) {
            return Err(Failure::BadRequest(format!(
                "the {field} {at} is {} s behind this node's clock ({now}); at most {} s is allowed: state the time it happened, within the bound, or check the application's clock",
                (now_ms - at_ms) / 1000,
                skew_ms / 1000
            )));
        }
        let floor = self.floor();
        if at_ms < floor {
            return Err(Failure::BadRequest(too_early(field, at_ms, floor)));
        }
        Ok(())
    }

    /// Admits the entries of one transaction, in log order, and runs `enqueue` (which must
    /// hand the transaction to the commit queue) under the same lock, so that the queue's
    /// order — the log's — is the order in which the times were checked. Each entry's time
    /// must be at least the latest time so far less [`MAX_CLOCK_SKEW_MS`]; the latest time
    /// is then raised. A transaction that fails is not queued.
    ///
    /// # Errors
    /// [`Failure::BadRequest`] naming the field for a time an application stated;
    /// [`Failure::Unavailable`] for this node's own time (a request that waited while a later
    /// time was admitted: retrying takes a new time).
    pub(crate) fn admit<T>(
        &self,
        times: &[EntryTime],
        enqueue: impl FnOnce() -> T,
    ) -> Result<T, Failure> {
        let mut latest = self.latest();
        let mut raised = *latest;
        for time in times {
            let floor = raised.saturating_sub(MAX_CLOCK_SKEW_MS);
            if time.at < floor {
                let field = time.stated.unwrap_or("entry time");
                let message = format!(
                    "the `{}` entry: {}",
                    time.kind,
                    too_early(field, time.at, floor)
                );
                return Err(match time.stated {
                    Some(_) => Failure::BadRequest(message),
                    None => Failure::Unavailable(format!("{message}; retry")),
                });
            }
            raised = raised.max(time.at);
        }
        let queued = enqueue();
        *latest = raised;
        Ok(queued)
    }
}

fn too_early(field: &str, at: u64, floor: u64) -> String {
    format!(
        "the {field} {} is more than {} s before the latest entry of this node's log ({}): entry times may not go backwards in the log by more than the protocol's clock-skew bound",
        Timestamp::from_unix_millis(at),
        MAX_CLOCK_SKEW_MS / 1000,
        Timestamp::from_unix_millis(floor.saturating_add(MAX_CLOCK_SKEW_MS))
    )
}

/// The system clock, Unix milliseconds.
pub(crate) fn system_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKEW: Duration = Duration::from_millis(MAX_CLOCK_SKEW_MS);

    fn stated(at: u64) -> EntryTime {
        EntryTime {
            at,
            stated: Some("consent recorded_at"),
            kind: "consent_granted",
        }
    }

    fn own(at: u64) -> EntryTime {
        EntryTime {
            at,
            stated: None,
            kind: "receipt",
        }
    }

    #[test]
    fn entries_may_go_back_by_the_bound_and_no_more() {
        let clock = LogClock::starting_at(1_000_000);
        let mut queued = Vec::new();
        clock
            .admit(&[stated(1_000_000 - MAX_CLOCK_SKEW_MS)], || queued.push(1))
            .unwrap();
        // A later time raises the floor for what follows, within the same transaction too.
        let err = clock
            .admit(
                &[stated(2_000_000), stated(2_000_000 - MAX_CLOCK_SKEW_MS - 1)],
                || queued.push(2),
            )
            .unwrap_err();
        assert!(
            matches!(&err, Failure::BadRequest(m) if m.contains("consent recorded_at")),
            "{err}"
        );
        // Nothing was queued or raised by the refused transaction.
        assert_eq!(queued, [1]);
        clock
            .admit(&[own(1_000_000 - MAX_CLOCK_SKEW_MS)], || queued.push(3))
            .unwrap();
        // This node's own time, too early: retry (it takes a new time).
        clock
            .admit(&[stated(1_500_000)], || queued.push(4))
            .unwrap();
        let err = clock
            .admit(&[own(1_500_000 - MAX_CLOCK_SKEW_MS - 1)], || queued.push(5))
            .unwrap_err();
        assert!(matches!(err, Failure::Unavailable(_)), "{err}");
        assert_eq!(queued, [1, 3, 4]);
    }

    #[test]
    fn stated_times_stay_within_the_skew_of_the_clock_and_the_log() {
        let clock = LogClock::starting_at(0);
        let now = clock.now();
        let ok = |ms: i64| Timestamp::from_unix_millis(now.unix_millis().saturating_add_signed(ms));
        clock
            .check_stated("revocation revoked_at", ok(-60_000), SKEW)
            .unwrap();
        clock
            .check_stated("revocation revoked_at", ok(60_000), SKEW)
            .unwrap();
        for (at, says) in [
            (
                ok(-(MAX_CLOCK_SKEW_MS as i64) - 60_000),
                "behind this node's clock",
            ),
            (ok(10 * 365 * 86_400_000), "ahead of this node's clock"),
        ] {
            let err = clock
                .check_stated("revocation revoked_at", at, SKEW)
                .unwrap_err();
            assert!(
                matches!(&err, Failure::BadRequest(m) if m.contains("revocation revoked_at") && m.contains(says)),
                "{err}"
            );
        }
        // After an entry dated 4 minutes ahead, a time 4 minutes behind is too early for
        // the log, though within the skew of the clock.
        clock
            .admit(&[stated(ok(240_000).unix_millis())], || ())
            .unwrap();
        let err = clock
            .check_stated("consent recorded_at", ok(-240_000), SKEW)
            .unwrap_err();
        assert!(
            matches!(&err, Failure::BadRequest(m) if m.contains("before the latest entry")),
            "{err}"
        );
    }

    #[test]
    fn the_node_time_never_takes_the_log_back_beyond_the_bound() {
        let ahead = system_now() + 3_600_000;
        let clock = LogClock::starting_at(ahead);
        assert_eq!(clock.now().unix_millis(), ahead - MAX_CLOCK_SKEW_MS);
        clock
            .admit(&[own(clock.now().unix_millis())], || ())
            .unwrap();
    }
}
