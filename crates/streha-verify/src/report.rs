//! The verifier's report: findings first, notes, one summary per node, and the disclosures
//! over time. Serializes to JSON with stable field names (`REPORT_FORMAT`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::finding::{Finding, Rule, Severity};

/// The `format` field of every report: bump on an incompatible change of the JSON form.
pub const REPORT_FORMAT: &str = "streha-verify-report/v1";

/// What [`verify`](crate::verify) found.
///
/// [`Report::findings`] are problems (severity warning, error or critical), sorted most
/// serious first; [`Report::notes`] are informational ([`Severity::Info`]). A report is
/// **clean** when it has no findings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Always [`REPORT_FORMAT`].
    pub format: &'static str,
    /// The roster's federation.
    pub federation: String,
    /// The roster's version (the decisions were replayed under it).
    pub roster_version: u64,
    /// Problems, most serious first, then by node and entry.
    pub findings: Vec<Finding>,
    /// Notes: undelivered disclosures, counterpart logs not supplied, urgent reviews.
    pub notes: Vec<Finding>,
    /// One summary per bundle, in the order given.
    pub nodes: Vec<NodeSummary>,
    /// Disclosures (each counted once, at its sender) over time.
    pub timeline: Timeline,
    /// Totals over every log.
    pub totals: Totals,
}

impl Report {
    /// No findings (notes do not count).
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// The number of findings (or, for [`Severity::Info`], notes) of `severity`.
    #[must_use]
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .chain(&self.notes)
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The findings and notes of `rule`.
    pub fn with_rule(&self, rule: Rule) -> impl Iterator<Item = &Finding> + '_ {
        self.findings
            .iter()
            .chain(&self.notes)
            .filter(move |f| f.rule == rule)
    }
}

/// Totals over every log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Totals {
    /// Bundles supplied.
    pub logs: usize,
    /// Entries in all bundles.
    pub entries: u64,
    /// Checkpoints in all bundles.
    pub checkpoints: usize,
    /// `disclosed` entries.
    pub disclosures: u64,
    /// `received` entries.
    pub received: u64,
    /// `refused` and `receive_refused` entries.
    pub refusals: u64,
    /// Findings by severity name (notes under `info`).
    pub by_severity: BTreeMap<String, usize>,
}

/// One log, as verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NodeSummary {
    /// The agency, if the roster knows the log's origin.
    pub agency: Option<String>,
    /// The agency's role.
    pub role: Option<String>,
    /// The bundle's origin.
    pub origin: String,
    /// Whether this bundle was replayed (the longest bundle of each known log is).
    pub replayed: bool,
    /// Entries in the bundle.
    pub entries: u64,
    /// Entries by kind (`disclosed`, `received`, …).
    pub entries_by_kind: BTreeMap<String, u64>,
    /// The root over all entries (hex).
    pub root: String,
    /// Entries `0..signed_size` are covered by a valid checkpoint whose root matches.
    pub signed_size: u64,
    /// Entries after `signed_size`.
    pub unsigned_entries: u64,
    /// Each checkpoint, in bundle order.
    pub checkpoints: Vec<CheckpointSummary>,
    /// Each `disclosed` entry.
    pub disclosures: Vec<DisclosureRow>,
    /// `refused` entries (the sender's policy said no; nothing left).
    pub refusals: u64,
    /// `received` entries.
    pub received: u64,
    /// `receipt` entries.
    pub receipts: u64,
}

/// One checkpoint of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CheckpointSummary {
    /// Position in the bundle.
    pub index: usize,
    /// Its size, if it parsed.
    pub size: Option<u64>,
    /// Its root (hex), if it parsed.
    pub root: Option<String>,
    /// Signed by the node's identity key under the log's origin.
    pub signed: bool,
    /// Its root equals the root recomputed from the entries at its size.
    pub root_matches: bool,
    /// The distinct roster nodes whose `cosignature/v1` verified.
    pub witnesses: Vec<WitnessSummary>,
}

impl NodeSummary {
    /// The checkpoints worth listing to a person: those not signed, whose root does not
    /// match, or that carry witness cosignatures, and the last one. (A log issues one
    /// checkpoint per batch; the JSON form lists them all.)
    pub fn notable_checkpoints(&self) -> impl Iterator<Item = &CheckpointSummary> + '_ {
        let last = self.checkpoints.len().checked_sub(1);
        self.checkpoints.iter().filter(move |c| {
            !c.signed || !c.root_matches || !c.witnesses.is_empty() || Some(c.index) == last
        })
    }

    /// The number of checkpoints signed by the node whose root matches the entries.
    #[must_use]
    pub fn good_checkpoints(&self) -> usize {
        self.checkpoints
            .iter()
            .filter(|c| c.signed && c.root_matches)
            .count()
    }
}

/// A valid witness cosignature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WitnessSummary {
    /// The witnessing agency.
    pub agency: String,
    /// The time the witness states (POSIX seconds).
    pub timestamp: u64,
}

/// One `disclosed` entry, for the report's tables and chart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DisclosureRow {
    /// Entry index in the sender's log.
    pub index: u64,
    /// Envelope id (hex).
    pub envelope: String,
    /// Pseudonymous subject id (hex).
    pub subject: String,
    /// The header's `created_at` (RFC 3339, UTC): the time the law is applied at.
    pub created_at: String,
    /// The recipient agency.
    pub recipient: String,
    /// Its role, if in the roster.
    pub recipient_role: Option<String>,
    /// Declared categories.
    pub categories: Vec<String>,
    /// The purpose.
    pub purpose: String,
    /// `consent`, `agreement` or `consent_and_agreement`.
    pub basis_kind: &'static str,
    /// The logged basis, e.g. ``consent 33… and agreement clauses `csw-referral` ``.
    pub basis: String,
    /// Flagged for review (urgent danger, Art. 45.3).
    pub urgent: bool,
    /// Whether the replay reproduced the decision (no finding on this entry).
    pub lawful: bool,
    /// `received`, `receipt_only`, `refused_by_receiver`, `undelivered` or
    /// `receiver_log_missing`.
    pub status: &'static str,
}

/// Disclosures over time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Timeline {
    /// `day` (`YYYY-MM-DD`) or, beyond 62 distinct days, `month` (`YYYY-MM`).
    pub granularity: &'static str,
    /// Periods with at least one disclosure, in time order.
    pub buckets: Vec<TimelineBucket>,
}

/// Disclosures in one period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TimelineBucket {
    /// The period.
    pub period: String,
    /// Disclosures.
    pub total: u64,
    /// Disclosures naming each category (a disclosure counts once per category).
    pub by_category: BTreeMap<String, u64>,
    /// Disclosures by basis kind.
    pub by_basis: BTreeMap<String, u64>,
    /// Urgent-danger disclosures.
    pub urgent: u64,
}

/// The timeline of these rows (each a disclosure at its sender).
pub(crate) fn timeline<'a>(rows: impl Iterator<Item = &'a DisclosureRow> + Clone) -> Timeline {
    let days: std::collections::BTreeSet<&str> = rows.clone().map(|r| day(&r.created_at)).collect();
    let (granularity, cut) = if days.len() > 62 {
        ("month", 7)
    } else {
        ("day", 10)
    };
    let mut buckets: BTreeMap<String, TimelineBucket> = BTreeMap::new();
    for row in rows {
        let period = row
            .created_at
            .get(..cut)
            .unwrap_or(&row.created_at)
            .to_owned();
        let bucket = buckets
            .entry(period.clone())
            .or_insert_with(|| TimelineBucket {
                period,
                ..TimelineBucket::default()
            });
        bucket.total += 1;
        for c in &row.categories {
            *bucket.by_category.entry(c.clone()).or_default() += 1;
        }
        *bucket
            .by_basis
            .entry(row.basis_kind.to_owned())
            .or_default() += 1;
        bucket.urgent += u64::from(row.urgent);
    }
    Timeline {
        granularity,
        buckets: buckets.into_values().collect(),
    }
}

/// `YYYY-MM-DD` of an RFC 3339 time.
pub(crate) fn day(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}
