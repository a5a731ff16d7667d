//! Rate-limited log lines: what strangers can trigger must not grow the log at their pace.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The default interval between two lines of one [`LogLimiter`].
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Lets one log line through per interval and counts the rest, so that the next line can say
/// how many were left out. Events a stranger can cause (a refused handshake, a refused
/// connection) are logged through one of these; their exact number is in a counter metric.
///
/// ```
/// use std::time::Duration;
/// use streha_transport::LogLimiter;
/// let limiter = LogLimiter::new(Duration::from_secs(3600));
/// assert_eq!(limiter.allow(), Some(0)); // the first line goes out
/// assert_eq!(limiter.allow(), None); // the next ones are counted
/// assert_eq!(limiter.allow(), None);
/// ```
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// A limiter that lets one line through per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(State {
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// Whether a line may be written now: `Some(n)` with the number of lines left out since
    /// the last one written, or `None` (the line is counted and left out).
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                state.suppressed = state.suppressed.saturating_add(1);
                None
            }
            _ => {
                state.last = Some(now);
                Some(std::mem::take(&mut state.suppressed))
            }
        }
    }
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self::new(LOG_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_the_count_of_the_rest() {
        let limiter = LogLimiter::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(limiter.allow_at(start), Some(0));
        for n in 1..=1000 {
            assert_eq!(limiter.allow_at(start + Duration::from_millis(n)), None);
        }
        assert_eq!(
            limiter.allow_at(start + Duration::from_secs(10)),
            Some(1000)
        );
        assert_eq!(limiter.allow_at(start + Duration::from_secs(11)), None);
        assert_eq!(limiter.allow_at(start + Duration::from_secs(20)), Some(1));
    }
}
