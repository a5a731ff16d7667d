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
    /// Every refusal, at a sender (`refused`) or a receiver (`receive_refused`), in node and
    /// log order.
    pub refusals: Vec<RefusalRow>,
    /// Every consent granted, with its revocation if any, in node and log order.
    pub consents: Vec<ConsentRow>,
    /// Every consent grant a node refused to record (`consent_refused`), in node and log
    /// order.
    pub consent_refusals: Vec<ConsentRefusalRow>,
    /// Totals over every log.
    pub totals: Totals,
    /// What makes the report evidence: when and by what it was made, from which files,
    /// under which rosters and options.
    pub meta: ReportMeta,
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

/// How the report was made. The verifier reads no file and no clock: the caller (the CLI)
/// supplies the generation time and the input files' digests through
/// [`VerifyOptions`](crate::VerifyOptions).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReportMeta {
    /// When the report was generated (RFC 3339, UTC), as the caller stated it.
    pub generated_at: Option<String>,
    /// The verifier that made it: `streha-verify <version>`.
    pub verifier: String,
    /// Every input file, with its SHA-256.
    pub inputs: Vec<InputFile>,
    /// Every roster version the verifier could check, oldest first.
    pub rosters: Vec<RosterUsed>,
    /// The fingerprint of the roster key the rosters were checked with (`spec/keys.md`).
    pub roster_key_fingerprint: Option<String>,
    /// The options used.
    pub options: OptionsUsed,
}

/// The options a report was made with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OptionsUsed {
    /// Distinct witnesses required on each log's latest checkpoint.
    pub min_witnesses: usize,
    /// The clock-skew bound entry times were checked against (milliseconds).
    pub clock_skew_ms: u64,
}

/// What an input file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InputKind {
    /// An exported log bundle.
    Bundle,
    /// A signed roster note.
    Roster,
    /// The roster public key file.
    RosterKey,
}

/// One input file, as the caller read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct InputFile {
    /// What it is.
    pub kind: InputKind,
    /// Its name as given (a path).
    pub file: String,
    /// SHA-256 of its bytes (hex), if it could be read.
    pub sha256: Option<String>,
    /// Its size in bytes, if it could be read.
    pub bytes: Option<u64>,
    /// Why it could not be used, if so (an unreadable bundle is also a finding).
    pub error: Option<String>,
}

impl InputFile {
    /// A file read whole: its digest and size.
    #[must_use]
    pub fn read(kind: InputKind, file: impl Into<String>, bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self {
            kind,
            file: file.into(),
            sha256: Some(hex::encode(sha2::Sha256::digest(bytes))),
            bytes: Some(bytes.len() as u64),
            error: None,
        }
    }

    /// A file that could not be used: read (`bytes`) but not decoded, or not read at all.
    #[must_use]
    pub fn unreadable(
        kind: InputKind,
        file: impl Into<String>,
        bytes: Option<&[u8]>,
        error: impl Into<String>,
    ) -> Self {
        let mut input = match bytes {
            Some(bytes) => Self::read(kind, file, bytes),
            None => Self {
                kind,
                file: file.into(),
                sha256: None,
                bytes: None,
                error: None,
            },
        };
        input.error = Some(error.into());
        input
    }
}

/// One roster version the verifier could check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RosterUsed {
    /// Its version.
    pub version: u64,
    /// BLAKE3 of its signed note (hex), as `roster_changed` entries name it.
    pub hash: String,
    /// When the national authority issued it (RFC 3339).
    pub issued_at: String,
    /// Member agencies.
    pub agencies: usize,
    /// Clauses of its exchange agreement.
    pub clauses: usize,
    /// Where it came from: `supplied`, or `bundle of <agency>`.
    pub sources: Vec<String>,
}

/// One refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RefusalRow {
    /// The node that refused.
    pub node: String,
    /// The entry's index in its log.
    pub index: u64,
    /// `refused` (the sender's policy said no; nothing left) or `receive_refused` (the
    /// receiver's decision said no).
    pub kind: &'static str,
    /// When (RFC 3339).
    pub at: String,
    /// Envelope id (hex).
    pub envelope: String,
    /// The sending agency.
    pub sender: String,
    /// The recipient agency.
    pub recipient: String,
    /// Pseudonymous subject id (hex).
    pub subject: String,
    /// The categories asked for.
    pub categories: Vec<String>,
    /// The purpose.
    pub purpose: String,
    /// The policy's reason.
    pub reason: String,
    /// The exact article of the reason
    /// ([`RefusalReason::article`](streha_core::RefusalReason::article)), `""` for a
    /// well-formedness rule.
    pub article: &'static str,
}

/// One consent granted, and its revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConsentRow {
    /// The node whose log recorded it.
    pub node: String,
    /// The `consent_granted` entry's index.
    pub index: u64,
    /// Consent id (hex).
    pub consent: String,
    /// Pseudonymous subject id (hex).
    pub subject: String,
    /// Who gave it: `subject` or `legal_representative` (Art. 18.3, 38.5).
    pub granted_by: &'static str,
    /// The representative's registration id, if a representative gave it.
    pub representative: Option<String>,
    /// The recipients it names (agencies, or `role:<role>`).
    pub recipients: Vec<String>,
    /// The assistance categories it covers.
    pub categories: Vec<String>,
    /// The purposes it covers.
    pub purposes: Vec<String>,
    /// Valid from (RFC 3339).
    pub valid_from: String,
    /// Expires at (RFC 3339).
    pub expires_at: String,
    /// When it was recorded (RFC 3339).
    pub recorded_at: String,
    /// The officer who recorded it.
    pub recorded_by: String,
    /// When it was revoked, if it was (RFC 3339).
    pub revoked_at: Option<String>,
    /// The `consent_revoked` entry's index.
    pub revoked_index: Option<u64>,
    /// The officer who recorded the revocation.
    pub revoked_by: Option<String>,
}

/// One consent grant a node refused to record (`consent_refused`, `streha_core::check_grant`):
/// nothing was recorded; the grant is shown as the application asked for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConsentRefusalRow {
    /// When the node refused it (RFC 3339, the node's time).
    pub at: String,
    /// The grant as asked for (`node` and `index` are the `consent_refused` entry's; no
    /// revocation).
    pub grant: ConsentRow,
    /// The policy's reason.
    pub reason: String,
    /// The exact article of the reason.
    pub article: &'static str,
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
    /// `consent_refused` entries.
    pub consent_refusals: u64,
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
    /// The last roster version the node logged adopting (`roster_changed`), if any.
    pub roster_version: Option<u64>,
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
