//! V1.8: the times a log states, against its own order, its witnesses' cosignature times and
//! the report's generation time (`spec/verification.md` §V1.8).
//!
//! A node's operator holds its key and can re-sign any log, so the times in it are only what
//! the node says. What the log cannot hide is its order: an entry was appended after every
//! entry before it. The protocol lets times go backwards in log order, or ahead of a later
//! entry, by at most [`MAX_CLOCK_SKEW_MS`] (applications state some of them; clocks differ);
//! beyond that one of the two times is false. A witness's `cosignature/v1` time bounds from
//! above every entry of the checkpoint it cosigned, and the report's generation time every
//! entry of the log.
//!
//! Which of two contradicting times is the false one: the entry that is out of line with
//! the longest run of the log's times in non-decreasing order (found in O(n log n)). The
//! replay then judges a falsely dated entry at the time its position allows
//! ([`Times::effective`]), so that a revocation dated ten years ahead takes effect where it
//! was logged, and an adult age dated back does not reach a consent logged before it.

use streha_core::{AuditEntryRef, MAX_CLOCK_SKEW_MS, Timestamp};

use crate::finding::{Finding, Rule};
use crate::integrity::CheckedLog;

/// Per entry of one log, the time the replay judges it at when its stated time is false.
pub(crate) struct Times {
    effective: Vec<Option<Timestamp>>,
}

impl Times {
    /// No entry falsely dated (a log not checked).
    pub(crate) fn none() -> Self {
        Self {
            effective: Vec::new(),
        }
    }

    /// The time the replay uses for entry `index`, whose stated time is `stated`: the
    /// stated one, unless V1.8 found it false, then the nearest time its position allows.
    pub(crate) fn effective(&self, index: u64, stated: Timestamp) -> Timestamp {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.effective.get(i).copied().flatten())
            .unwrap_or(stated)
    }
}

/// Runs V1.8 on one log. `generated_at` is the report's generation time, if the caller gave
/// one.
pub(crate) fn check_times(
    log: &CheckedLog<'_>,
    generated_at: Option<Timestamp>,
    findings: &mut Vec<Finding>,
) -> Times {
    let skew = MAX_CLOCK_SKEW_MS;
    let n = log.entries.len();
    let mut effective: Vec<Option<Timestamp>> = vec![None; n];

    // The witnesses' bound: an entry below a checkpoint's size existed when a witness
    // cosigned that checkpoint. For entry i, the earliest such time over the checkpoints
    // whose roots matched, with the checkpoint that gives it.
    let mut cosigned: Vec<(u64, u64, usize)> = log
        .checkpoints
        .iter()
        .filter(|c| c.signed && c.root_matches)
        .filter_map(|c| {
            let earliest = c.witnesses.iter().map(|w| w.timestamp).min()?;
            Some((c.size?, earliest, c.index))
        })
        .collect();
    cosigned.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
    let mut witness_bound: Vec<Option<(u64, u64, usize)>> = vec![None; n];
    let mut best: Option<(u64, u64, usize)> = None;
    let mut next_checkpoint = cosigned.iter().peekable();
    for i in (0..n).rev() {
        while let Some(&&(size, at, checkpoint)) = next_checkpoint.peek() {
            if size <= i as u64 {
                break;
            }
            if best.is_none_or(|(_, b, _)| at < b) {
                best = Some((size, at, checkpoint));
            }
            next_checkpoint.next();
        }
        witness_bound[i] = best;
    }

    // First, times beyond a bound from outside the log: a witness's cosignature time, the
    // report's generation time. Such an entry is dated ahead whatever the rest says, and
    // takes no part in judging the others.
    let mut bound: Vec<Option<u64>> = vec![None; n];
    for (i, entry) in log.entries.iter().enumerate() {
        let Some(entry) = entry else { continue };
        let t = entry.at().unix_millis();
        let stated = Timestamp(t);
        let kind = entry.kind_name();
        if let Some((size, at, checkpoint)) = witness_bound[i] {
            let limit = at.saturating_mul(1000).saturating_add(999);
            if limit.saturating_add(skew) < t {
                findings.push(
                    Finding::new(
                        Rule::TimeAhead,
                        &log.name,
                        format!(
                            "this `{kind}` is dated {stated}, more than the clock-skew bound ({}s) after {}, when a witness cosigned checkpoint {checkpoint} (size {size}) that already holds it: it was dated ahead",
                            skew / 1000,
                            Timestamp(at.saturating_mul(1000))
                        ),
                    )
                    .at_entry(i as u64),
                );
                bound[i] = Some(limit);
                continue;
            }
        }
        if let Some(now) = generated_at
            && now.unix_millis().saturating_add(skew) < t
        {
            findings.push(
                Finding::new(
                    Rule::TimeAhead,
                    &log.name,
                    format!(
                        "this `{kind}` is dated {stated}, more than the clock-skew bound ({}s) after this report was generated ({now}): it was dated ahead",
                        skew / 1000
                    ),
                )
                .at_entry(i as u64),
            );
            bound[i] = Some(now.unix_millis());
        }
    }

    // Then the log's own order: each other decodable entry's time, in log order.
    let timed: Vec<(usize, u64)> = log
        .entries
        .iter()
        .enumerate()
        .filter(|(i, _)| bound[*i].is_none())
        .filter_map(|(i, e)| e.as_ref().map(|e| (i, e.at().unix_millis())))
        .collect();
    let chain = longest_run(&timed);
    let mut in_chain = vec![false; n];
    for &k in &chain {
        in_chain[timed[k].0] = true;
    }
    // For each entry, the last chain entry before it and the first after it.
    let mut before: Vec<Option<(usize, u64)>> = vec![None; n];
    let mut last = None;
    for &(i, t) in &timed {
        before[i] = last;
        if in_chain[i] {
            last = Some((i, t));
        }
    }
    let mut after: Vec<Option<(usize, u64)>> = vec![None; n];
    let mut next = None;
    for (i, entry) in log.entries.iter().enumerate().rev() {
        after[i] = next;
        if in_chain[i] {
            next = entry.as_ref().map(|e| (i, e.at().unix_millis()));
        }
    }

    for (i, entry) in log.entries.iter().enumerate() {
        let Some(entry) = entry else { continue };
        let index = i as u64;
        let t = entry.at().unix_millis();
        let kind = entry.kind_name();
        let stated = Timestamp(t);
        let mut hi = bound[i].unwrap_or(u64::MAX);
        let mut lo = 0;
        if bound[i].is_some() {
            // Dated ahead of an outside bound: judged no later than the next entry either.
            if let Some((_, tq)) = after[i] {
                hi = hi.min(tq);
            }
        } else if !in_chain[i] {
            if let Some((p, tp)) = before[i]
                && t.saturating_add(skew) < tp
            {
                findings.push(
                    Finding::new(
                        Rule::TimeBackwards,
                        &log.name,
                        format!(
                            "this `{kind}` is dated {stated}, more than the clock-skew bound ({}s) before entry {p}, logged before it and dated {}: it was dated back (or entry {p} ahead)",
                            skew / 1000,
                            Timestamp(tp)
                        ),
                    )
                    .at_entry(index),
                );
                // Logged after entry p: judged just after it.
                lo = tp.saturating_add(1);
            }
            if let Some((q, tq)) = after[i]
                && tq.saturating_add(skew) < t
            {
                findings.push(
                    Finding::new(
                        Rule::TimeAhead,
                        &log.name,
                        format!(
                            "this `{kind}` is dated {stated}, more than the clock-skew bound ({}s) after entry {q}, logged after it and dated {}: it was dated ahead",
                            skew / 1000,
                            Timestamp(tq)
                        ),
                    )
                    .at_entry(index),
                );
                hi = hi.min(tq);
            }
        }
        if lo > 0 || hi < u64::MAX {
            effective[i] = Some(Timestamp(t.max(lo).min(hi)));
        }

        // A disclosure's header is dated by the application, within the skew of the node's
        // clock when the node decides (and logs); a received header by the sender, before
        // the receiver logs it (any time before: the envelope may have waited in a queue).
        let (created_at, sent) = match entry {
            AuditEntryRef::Disclosed { header, .. } | AuditEntryRef::Refused { header, .. } => {
                (header.created_at.unix_millis(), true)
            }
            AuditEntryRef::Received { header, .. }
            | AuditEntryRef::ReceiveRefused { header, .. } => {
                (header.created_at.unix_millis(), false)
            }
            _ => continue,
        };
        if created_at > t.saturating_add(skew) {
            findings.push(
                Finding::new(
                    Rule::TimeAhead,
                    &log.name,
                    format!(
                        "the header of this `{kind}` is dated {}, more than the clock-skew bound after the entry's own time {stated}: it was dated ahead",
                        Timestamp(created_at)
                    ),
                )
                .at_entry(index),
            );
        } else if sent && created_at.saturating_add(skew) < t {
            findings.push(
                Finding::new(
                    Rule::TimeBackwards,
                    &log.name,
                    format!(
                        "the header of this `{kind}` is dated {}, more than the clock-skew bound before the node decided it at {stated}; the node refuses such a header: it was dated back",
                        Timestamp(created_at)
                    ),
                )
                .at_entry(index),
            );
        }
    }
    Times { effective }
}

/// The positions (into `timed`) of a longest subsequence whose times do not decrease, in
/// order; of several, the one that keeps the earliest entries (so that an entry is judged
/// against what was logged before it: of two that contradict each other alone, the later
/// one is the one out of line). Patience sorting from the end, with back-pointers:
/// O(n log n).
fn longest_run(timed: &[(usize, u64)]) -> Vec<usize> {
    // Going backwards, tails[l] is the position of the latest time that starts a
    // non-decreasing run of length l + 1 (times in `tails` do not increase with l).
    let mut tails: Vec<usize> = Vec::new();
    let mut next: Vec<Option<usize>> = vec![None; timed.len()];
    for (k, &(_, t)) in timed.iter().enumerate().rev() {
        // The runs it can start: those whose first time is at least t.
        let l = tails.partition_point(|&j| timed[j].1 >= t);
        next[k] = l.checked_sub(1).map(|p| tails[p]);
        if l == tails.len() {
            tails.push(k);
        } else {
            tails[l] = k;
        }
    }
    let mut run = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied();
    while let Some(k) = at {
        run.push(k);
        at = next[k];
    }
    run
}

#[cfg(test)]
mod tests {
    use super::longest_run;

    fn run(times: &[u64]) -> Vec<u64> {
        let timed: Vec<(usize, u64)> = times.iter().copied().enumerate().collect();
        longest_run(&timed).into_iter().map(|k| times[k]).collect()
    }

    #[test]
    fn longest_run_of_non_decreasing_times() {
        assert_eq!(run(&[]), Vec::<u64>::new());
        assert_eq!(run(&[5]), [5]);
        assert_eq!(run(&[1, 2, 2, 3]), [1, 2, 2, 3]);
        // One entry far ahead is left out; one far back is left out.
        assert_eq!(run(&[1, 2, 900, 3, 4, 5]), [1, 2, 3, 4, 5]);
        assert_eq!(run(&[10, 20, 30, 1, 40]), [10, 20, 30, 40]);
        // Two that contradict each other alone: the earlier stays, the later is out.
        assert_eq!(run(&[1, 7200, 3600]), [1, 7200]);
        let long = run(&[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]);
        assert_eq!(long.len(), 5);
        assert!(long.windows(2).all(|w| w[0] <= w[1]));
    }
}
