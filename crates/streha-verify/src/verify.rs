//! The verification, in the order of `spec/verification.md`: V1 each log on its own, forks
//! across bundles of one log, V2 the policy replay, V3 the cross-node matching, then the
//! report.

use std::collections::{BTreeMap, BTreeSet};

use streha_audit::LogBundle;
use streha_core::epoch::FIRST_EPOCH;
use streha_core::{MAX_CLOCK_SKEW_MS, Timestamp};
use streha_crypto::RosterPublicKey;
use streha_wire::Roster;

use crate::cross::{Side, match_logs};
use crate::directory::Directory;
use crate::finding::{Finding, Rule, Severity};
use crate::integrity::{CheckedLog, check_log, fork_finding, heads_by_size};
use crate::replay::{Context, replay};
use crate::report::{
    InputFile, InputKind, NodeSummary, OptionsUsed, REPORT_FORMAT, Report, ReportMeta, Totals,
    timeline,
};
use crate::rosters::RosterSet;
use crate::times::{Times, check_times};

/// How to verify, and what the report says about how it was made. Every check always runs;
/// options only add requirements and evidence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The number of distinct roster nodes that must have cosigned each log's latest
    /// checkpoint (`cosignature/v1`); fewer is an
    /// [`InsufficientWitnesses`](Rule::InsufficientWitnesses) finding. Default 0: witness
    /// counts are reported, not required.
    pub min_witnesses: usize,
    /// The report's generation time. The verifier reads no clock: the caller states it. It
    /// is printed in the report, and no entry may be dated after it by more than the clock
    /// skew (V1.8).
    pub generated_at: Option<Timestamp>,
    /// The national authority's roster key the rosters were opened with. With it, the
    /// signed roster notes the bundles carry (the versions their nodes adopted) are checked
    /// and used; without it, only the supplied rosters are (an entry under another version
    /// is `roster_unverifiable`).
    pub roster_key: Option<RosterPublicKey>,
    /// Other versions of the signed roster the caller holds, already opened with the roster
    /// key (older versions the nodes ran on).
    pub rosters: Vec<Roster>,
    /// The files the caller read, with their digests, for the report; a bundle that could
    /// not be read or decoded is listed with its error and is an
    /// [`UnreadableBundle`](Rule::UnreadableBundle) finding.
    pub inputs: Vec<InputFile>,
    /// Of those, how many must be independent witnesses of the roster (`[[witnesses]]`:
    /// oversight bodies, not agencies); fewer is an
    /// [`InsufficientWitnesses`](Rule::InsufficientWitnesses) finding. Default 0.
    pub min_independent: usize,
}

impl VerifyOptions {
    /// The defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `n` distinct witnesses on each log's latest checkpoint.
    #[must_use]
    pub fn min_witnesses(mut self, n: usize) -> Self {
        self.min_witnesses = n;
        self
    }

    /// States the report's generation time (see [`VerifyOptions::generated_at`]).
    #[must_use]
    pub fn generated_at(mut self, at: Timestamp) -> Self {
        self.generated_at = Some(at);
        self
    }

    /// The roster key, to check the roster notes the bundles carry.
    #[must_use]
    pub fn roster_key(mut self, key: RosterPublicKey) -> Self {
        self.roster_key = Some(key);
        self
    }

    /// Adds a version of the signed roster (opened with the roster key).
    #[must_use]
    pub fn roster(mut self, roster: Roster) -> Self {
        self.rosters.push(roster);
        self
    }

    /// Lists an input file in the report (see [`VerifyOptions::inputs`]).
    #[must_use]
    pub fn input(mut self, input: InputFile) -> Self {
        self.inputs.push(input);
        self
    }

    /// Requires `n` of the roster's independent witnesses on each log's latest checkpoint.
    #[must_use]
    pub fn min_independent(mut self, n: usize) -> Self {
        self.min_independent = n;
        self
    }
}

/// Verifies exported log bundles against the federation roster, offline, and reports every
/// finding (`spec/verification.md`).
///
/// The roster must already be opened with the national authority's roster key
/// ([`Roster::open`]); with the other versions of [`VerifyOptions::rosters`] and the notes
/// the bundles carry (checked with [`VerifyOptions::roster_key`]), it supplies the node keys
/// (checkpoint signatures and witness cosignatures), the officer keys (urgent-danger
/// approvals), the members' roles and the exchange agreement — each entry judged under the
/// version in force at its position in its log.
///
/// For each bundle, in order: **V1** — the log is a roster member's (by origin); every
/// checkpoint is signed by that node's identity key; witness cosignatures verify under other
/// nodes' keys (distinct witnesses counted; a signature by a key the roster does not hold is
/// ignored); the tree recomputed from the entries has every signed root; checkpoints are
/// consistent and no two of one size differ (fork, also across bundles of one log); entries
/// decode; their times keep to their order within the clock skew. **V2** — the policy
/// replayed over the entries in log order, with subjects and consents rebuilt from the log.
/// **V3** — `received` against `disclosed`, `receipt` against the receiver's signed tree,
/// every disclosure accounted for.
///
/// Pure: no IO, no clock. Never panics on any bundle content.
#[must_use]
pub fn verify(bundles: &[LogBundle], roster: &Roster, options: &VerifyOptions) -> Report {
    let mut findings = Vec::new();
    let mut notes = Vec::new();

    // §1: inputs that could not be used.
    for input in &options.inputs {
        if let (InputKind::Bundle, Some(error)) = (input.kind, &input.error) {
            findings.push(Finding::new(
                Rule::UnreadableBundle,
                &input.file,
                format!("the bundle could not be used, so its log was not verified: {error}"),
            ));
        }
    }

    // The roster versions: supplied, and carried by the bundles.
    let rosters = RosterSet::build(roster, options, bundles, &mut findings);
    let newest = rosters.newest_first();
    let mut keys = Directory::union(&newest);
    keys.note_epochs(bundles.iter().map(|b| b.origin.as_str()));
    let dirs: Vec<Directory<'_>> = rosters.rosters.iter().map(Directory::new).collect();

    // V1, each bundle on its own.
    let logs: Vec<CheckedLog<'_>> = bundles
        .iter()
        .enumerate()
        .map(|(i, b)| check_log(i, b, &keys, options.min_witnesses, &mut findings))
        .collect();

    // V1.3: enough independent witnesses on each log's latest checkpoint, if asked.
    if options.min_independent > 0 {
        for log in logs.iter().filter(|l| l.node.is_some()) {
            let Some(last) = log.checkpoints.iter().rev().find(|c| c.signed) else {
                continue;
            };
            let independent = last
                .witnesses
                .iter()
                .filter(|w| roster.witness_named(&w.agency).is_some())
                .count();
            if independent < options.min_independent {
                findings.push(
                    Finding::new(
                        Rule::InsufficientWitnesses,
                        &log.name,
                        format!(
                            "the latest checkpoint (size {}) has {independent} independent witness cosignatures; {} are required",
                            last.size.unwrap_or(0),
                            options.min_independent
                        ),
                    )
                    .at_checkpoint(last.index),
                );
            }
        }
    }

    // V1.1 and V1.5 across bundles of one log (one node, one epoch): the longest is
    // replayed; every signed checkpoint of one must be a prefix of the others' trees.
    let mut primary: BTreeMap<(usize, u64), usize> = BTreeMap::new();
    for (i, log) in logs.iter().enumerate() {
        let Some(node) = log.node.map(|n| (n, log.epoch)) else {
            continue;
        };
        match primary.get(&node) {
            Some(&p) => {
                notes.push(Finding::new(
                    Rule::DuplicateLog,
                    &log.name,
                    format!(
                        "bundles {} and {} are both of log `{}`; the longer is replayed",
                        logs[p].bundle, log.bundle, log.origin
                    ),
                ));
                if log.tree.size() > logs[p].tree.size() {
                    primary.insert(node, i);
                }
            }
            None => {
                primary.insert(node, i);
            }
        }
    }
    for (i, a) in logs.iter().enumerate() {
        for b in logs.iter().skip(i + 1) {
            if a.node.is_none() || a.node != b.node || a.epoch != b.epoch {
                continue;
            }
            cross_bundle_forks(a, b, &mut findings);
            cross_bundle_forks(b, a, &mut findings);
        }
    }

    // V1.8, each log on its own.
    let mut times: BTreeMap<usize, Times> = BTreeMap::new();
    for &i in primary.values() {
        let log = &logs[i];
        let t = if log.roots_ok {
            check_times(log, options.generated_at, &mut findings)
        } else {
            // Entries the node did not sign as they are: their times prove nothing more.
            Times::none()
        };
        times.insert(i, t);
    }

    // V2, each node's log replayed: its epochs in order as one history (`spec/audit-log.md`
    // §9), from its first epoch; after an epoch that was not supplied, anew.
    let mut sides: BTreeMap<String, Side<'_>> = BTreeMap::new();
    let mut by_node: BTreeMap<usize, Vec<(u64, usize)>> = BTreeMap::new();
    for (&(node, epoch), &i) in &primary {
        by_node.entry(node).or_default().push((epoch, i));
    }
    for (node, epochs) in by_node {
        let mut runs: Vec<Vec<(u64, usize)>> = Vec::new();
        for (epoch, i) in epochs {
            match runs.last_mut() {
                Some(run) if run.last().is_some_and(|&(e, _)| e + 1 == epoch) => {
                    run.push((epoch, i));
                }
                _ => runs.push(vec![(epoch, i)]),
            }
        }
        for run in runs {
            let chain: Vec<(&CheckedLog<'_>, &Times)> =
                run.iter().map(|&(_, i)| (&logs[i], &times[&i])).collect();
            let cx = Context {
                node,
                keys: &keys,
                rosters: &rosters,
                dirs: &dirs,
            };
            let mut own = Vec::new();
            let mut replayed = replay(&chain, &cx, &mut own, &mut notes);
            let first = run[0].0;
            if first > FIRST_EPOCH {
                // The state the node carried into this epoch is not known: a finding that
                // depends on it would be false, so it is counted, not reported.
                let before = own.len();
                own.retain(|f| !depends_on_carried_state(f.rule));
                let withheld = before - own.len();
                for r in &mut replayed {
                    for d in &mut r.disclosed {
                        d.receiver_view = None;
                    }
                }
                let log = &logs[run[0].1];
                findings.push(Finding::new(
                    Rule::MissingEpoch,
                    &log.name,
                    format!(
                        "epoch {} of `{}`'s log was not supplied (its node keeps it as `epochs/{}.bundle` in its data directory): from `{}` on, the entries are replayed without the subjects, consents, representatives and roster the node carried over, and {withheld} finding(s) that depend on them are not reported; supply that bundle to judge them",
                        first - 1,
                        keys.nodes[node].agency.id,
                        first - 1,
                        log.origin
                    ),
                ));
            }
            findings.extend(own);
            for (&(_, i), replayed) in run.iter().zip(replayed) {
                let log = &logs[i];
                sides.insert(
                    log.name.clone(),
                    Side {
                        agency: keys.nodes[node].agency.id.to_string(),
                        log,
                        replayed,
                    },
                );
            }
        }
    }

    // V3, the logs against each other.
    let members: BTreeSet<String> = keys.nodes.iter().map(|n| n.agency.id.to_string()).collect();
    crate::witnessed::check_witnessed(&logs, &primary, &keys, &mut findings);
    match_logs(&mut sides, &keys, &members, &mut findings, &mut notes);
    // V1.9, after V3: a valid declaration covers the evidence of its lost range.
    crate::epochs::check_epochs(bundles, &logs, &keys, &mut findings);

    // Notes found among the checks go with the notes.
    let (info, problems): (Vec<Finding>, Vec<Finding>) = findings
        .into_iter()
        .partition(|f| f.severity == Severity::Info);
    let mut findings = problems;
    notes.extend(info);

    // The report.
    let mut nodes = Vec::with_capacity(logs.len());
    let mut refusals = Vec::new();
    let mut consents = Vec::new();
    let mut consent_refusals = Vec::new();
    let mut totals = Totals {
        logs: logs.len(),
        ..Totals::default()
    };
    for (i, log) in logs.iter().enumerate() {
        let side = log
            .node
            .filter(|&n| primary.get(&(n, log.epoch)) == Some(&i))
            .and_then(|_| sides.get(&log.name));
        let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
        for entry in log.entries.iter().flatten() {
            *kinds.entry(entry.kind_name()).or_default() += 1;
        }
        let mut by_kind: BTreeMap<String, u64> =
            kinds.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
        let undecodable = log.entries.iter().filter(|e| e.is_none()).count() as u64;
        if undecodable > 0 {
            by_kind.insert("undecodable".to_owned(), undecodable);
        }
        totals.entries += log.tree.size();
        totals.checkpoints += log.checkpoints.len();
        let count = |kind: &str| by_kind.get(kind).copied().unwrap_or(0);
        totals.disclosures += count("disclosed");
        totals.received += count("received");
        totals.refusals += count("refused") + count("receive_refused");
        totals.consent_refusals += count("consent_refused");
        if let Some(side) = side {
            refusals.extend(side.replayed.refusals.iter().cloned());
            consents.extend(side.replayed.consents.iter().cloned());
            consent_refusals.extend(side.replayed.consent_refusals.iter().cloned());
        }
        let agency = log.node.map(|n| keys.nodes[n].agency);
        nodes.push(NodeSummary {
            agency: agency.map(|a| a.id.to_string()),
            role: agency.map(|a| a.role.to_string()),
            origin: log.origin.clone(),
            replayed: side.is_some(),
            entries: log.tree.size(),
            root: log.tree.root().to_hex(),
            signed_size: log.vouched,
            unsigned_entries: log.tree.size() - log.vouched,
            checkpoints: log.checkpoints.clone(),
            disclosures: side.map(|s| s.replayed.rows.clone()).unwrap_or_default(),
            refusals: count("refused"),
            received: count("received"),
            receipts: count("receipt"),
            roster_version: side.and_then(|s| s.replayed.roster_version),
            entries_by_kind: by_kind,
        });
    }
    let timeline = timeline(nodes.iter().flat_map(|n| n.disclosures.iter()));

    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.node.cmp(&b.node))
            .then_with(|| a.entry_index.cmp(&b.entry_index))
            .then_with(|| a.checkpoint_index.cmp(&b.checkpoint_index))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    notes.sort_by(|a, b| {
        a.node
            .cmp(&b.node)
            .then_with(|| a.entry_index.cmp(&b.entry_index))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    for severity in [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ] {
        let n = findings
            .iter()
            .chain(&notes)
            .filter(|f| f.severity == severity)
            .count();
        totals.by_severity.insert(severity.as_str().to_owned(), n);
    }
    let meta = ReportMeta {
        generated_at: options.generated_at.map(|t| t.to_string()),
        verifier: format!("streha-verify {}", env!("CARGO_PKG_VERSION")),
        inputs: options.inputs.clone(),
        rosters: rosters.used(),
        roster_key_fingerprint: options
            .roster_key
            .as_ref()
            .map(|k| k.fingerprint().to_hex()),
        options: OptionsUsed {
            min_witnesses: options.min_witnesses,
            clock_skew_ms: MAX_CLOCK_SKEW_MS,
        },
    };
    Report {
        format: REPORT_FORMAT,
        federation: roster.federation().to_owned(),
        roster_version: roster.version(),
        findings,
        notes,
        nodes,
        timeline,
        refusals,
        consents,
        consent_refusals,
        totals,
        meta,
    }
}

/// Whether a finding of the replay (V2) depends on the state a node carries from one log
/// epoch into the next (subjects, consents, representatives, the roster in force, what it
/// sent), so that it would be false when the earlier epoch is not supplied.
fn depends_on_carried_state(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::DisclosureWithoutBasis
            | Rule::BasisMismatch
            | Rule::ConsentNotInForce
            | Rule::RevokedConsentUsed
            | Rule::ChildOwnConsent
            | Rule::ConsentNotFromRepresentative
            | Rule::UrgentWithoutTwoApprovers
            | Rule::StateEventAnomaly
            | Rule::ReceiptWithoutDisclosed
    )
}

/// V1.5 across two bundles of one log: each signed checkpoint of `other` that fits in
/// `log`'s tree must have `log`'s root at its size (checked if `log`'s own checkpoints all
/// match its tree, so that the tree is the one the node signed); two signed checkpoints of
/// one size must have one root.
fn cross_bundle_forks(log: &CheckedLog<'_>, other: &CheckedLog<'_>, findings: &mut Vec<Finding>) {
    let mine_by_size = heads_by_size(&log.signed);
    for head in &other.signed {
        if let Some(mine) = mine_by_size.get(&head.size) {
            if mine.root != head.root && log.bundle < other.bundle {
                findings.push(fork_finding(
                    &log.name,
                    mine,
                    head,
                    &format!("bundle {}", other.bundle),
                ));
            }
            continue;
        }
        if log.roots_ok
            && head.size <= log.tree.size()
            && log
                .tree
                .root_at(head.size)
                .is_ok_and(|root| root != head.root)
        {
            findings.push(
                Finding::new(
                    Rule::InconsistentCheckpoints,
                    &log.name,
                    format!(
                        "checkpoint {} of bundle {} signs root {} for size {}; bundle {}'s entries, which its own checkpoints vouch for, give another root",
                        head.checkpoint_index, other.bundle, head.root, head.size, log.bundle
                    ),
                )
                .at_checkpoint(head.checkpoint_index),
            );
        }
    }
}
