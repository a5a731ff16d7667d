//! The human text form.

use std::fmt::Write as _;

use crate::finding::{Finding, Severity};
use crate::report::Report;
use crate::subject::SubjectView;

use super::short;

/// The report as plain text for a terminal: the verdict, the findings (most serious first),
/// the notes, each node, and the disclosures over time.
#[must_use]
pub fn render_text(report: &Report) -> String {
    let mut o = String::new();
    let t = &report.totals;
    let _ = writeln!(
        o,
        "Streha audit verification: federation `{}`, roster version {}",
        report.federation, report.roster_version
    );
    let m = &report.meta;
    let _ = writeln!(
        o,
        "Generated {} by {}; options: min witnesses {}, clock skew {} s",
        m.generated_at.as_deref().unwrap_or("(time not stated)"),
        m.verifier,
        m.options.min_witnesses,
        m.options.clock_skew_ms / 1000
    );
    if let Some(fingerprint) = &m.roster_key_fingerprint {
        let _ = writeln!(o, "Roster key fingerprint {fingerprint}");
    }
    for r in &m.rosters {
        let _ = writeln!(
            o,
            "Roster version {} (hash {}, issued {}; {} agencies, {} clauses), from {}",
            r.version,
            short(&r.hash),
            r.issued_at,
            r.agencies,
            r.clauses,
            r.sources.join(", ")
        );
    }
    for i in &m.inputs {
        let _ = writeln!(
            o,
            "Input {} {}: {}{}",
            match i.kind {
                crate::report::InputKind::Bundle => "bundle",
                crate::report::InputKind::Roster => "roster",
                crate::report::InputKind::RosterKey => "roster key",
            },
            i.file,
            i.sha256
                .as_deref()
                .map_or_else(|| "not read".to_owned(), |h| format!("SHA-256 {h}")),
            i.error
                .as_deref()
                .map(|e| format!("; UNREADABLE: {e}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        o,
        "{} logs, {} entries, {} checkpoints; {} disclosures, {} received, {} refusals, {} consents refused",
        t.logs, t.entries, t.checkpoints, t.disclosures, t.received, t.refusals, t.consent_refusals
    );
    if report.is_clean() {
        let _ = writeln!(
            o,
            "RESULT: no findings ({} notes). Every check of spec/verification.md passed.",
            report.notes.len()
        );
    } else {
        let _ = writeln!(
            o,
            "RESULT: {} findings ({} critical, {} error, {} warning), {} notes.",
            report.findings.len(),
            report.count(Severity::Critical),
            report.count(Severity::Error),
            report.count(Severity::Warning),
            report.notes.len()
        );
    }

    if !report.findings.is_empty() {
        let _ = writeln!(o, "\nFINDINGS");
        for f in &report.findings {
            finding(&mut o, f);
        }
    }
    if !report.notes.is_empty() {
        let _ = writeln!(o, "\nNOTES");
        for f in &report.notes {
            finding(&mut o, f);
        }
    }

    let _ = writeln!(o, "\nNODES");
    for n in &report.nodes {
        let _ = writeln!(
            o,
            "  {} ({}), origin {}{}",
            n.agency.as_deref().unwrap_or("unknown log"),
            n.role.as_deref().unwrap_or("-"),
            n.origin,
            if n.replayed { "" } else { ", not replayed" }
        );
        let kinds: Vec<String> = n
            .entries_by_kind
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            o,
            "    {} entries ({}); signed {}, unsigned {}; root {}",
            n.entries,
            kinds.join(", "),
            n.signed_size,
            n.unsigned_entries,
            short(&n.root)
        );
        let _ = writeln!(
            o,
            "    {} checkpoints, {} signed by the node with matching roots; listed: the last and any with a problem or witnesses",
            n.checkpoints.len(),
            n.good_checkpoints()
        );
        for c in n.notable_checkpoints() {
            let witnesses: Vec<&str> = c.witnesses.iter().map(|w| w.agency.as_str()).collect();
            let _ = writeln!(
                o,
                "    checkpoint {}: size {}, {}, {}; {} witness(es){}{}",
                c.index,
                c.size.map_or_else(|| "?".to_owned(), |s| s.to_string()),
                if c.signed { "signed" } else { "NOT SIGNED" },
                if c.root_matches {
                    "root matches"
                } else {
                    "ROOT DOES NOT MATCH"
                },
                c.witnesses.len(),
                if witnesses.is_empty() { "" } else { ": " },
                witnesses.join(", ")
            );
        }
        for d in &n.disclosures {
            let _ = writeln!(
                o,
                "    #{} {} -> {} [{}] for {}; {}{}; {}{}",
                d.index,
                d.created_at,
                d.recipient,
                d.categories.join(", "),
                d.purpose,
                d.basis,
                if d.urgent { "; URGENT" } else { "" },
                d.status,
                if d.lawful { "" } else { "; SEE FINDINGS" }
            );
        }
    }

    if !report.refusals.is_empty() {
        let _ = writeln!(o, "\nREFUSALS");
        for r in &report.refusals {
            let _ = writeln!(
                o,
                "  {}#{} {} {}: {} -> {} [{}] for {} about {}",
                r.node,
                r.index,
                r.at,
                r.kind,
                r.sender,
                r.recipient,
                r.categories.join(", "),
                r.purpose,
                short(&r.subject)
            );
            let _ = writeln!(
                o,
                "      {} ({})",
                r.reason,
                if r.article.is_empty() {
                    "\u{2014}"
                } else {
                    r.article
                }
            );
        }
    }
    if !report.consents.is_empty() {
        let _ = writeln!(o, "\nCONSENTS");
        for c in &report.consents {
            let _ = writeln!(
                o,
                "  {}#{} consent {} about {}: by {}{}, to {}; {} for {}; valid {} to {}{}",
                c.node,
                c.index,
                short(&c.consent),
                short(&c.subject),
                c.granted_by,
                representative(c),
                c.recipients.join(", "),
                c.categories.join(", "),
                c.purposes.join(", "),
                c.valid_from,
                c.expires_at,
                match (&c.revoked_at, c.revoked_index) {
                    (Some(at), Some(i)) => format!("; REVOKED {at} (entry {i})"),
                    _ => String::new(),
                }
            );
        }
    }

    if !report.consent_refusals.is_empty() {
        let _ = writeln!(o, "\nCONSENTS REFUSED");
        for r in &report.consent_refusals {
            let c = &r.grant;
            let _ = writeln!(
                o,
                "  {}#{} {} consent {} about {}: by {}{}, to {}; {} for {}",
                c.node,
                c.index,
                r.at,
                short(&c.consent),
                short(&c.subject),
                c.granted_by,
                representative(c),
                c.recipients.join(", "),
                c.categories.join(", "),
                c.purposes.join(", "),
            );
            let _ = writeln!(o, "      {} ({})", r.reason, r.article);
        }
    }

    if !report.timeline.buckets.is_empty() {
        let _ = writeln!(
            o,
            "\nDISCLOSURES OVER TIME (by {})",
            report.timeline.granularity
        );
        for b in &report.timeline.buckets {
            let cats: Vec<String> = b
                .by_category
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let bases: Vec<String> = b.by_basis.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(
                o,
                "  {}  {:>3}  categories: {}; basis: {}{}",
                b.period,
                b.total,
                cats.join(", "),
                bases.join(", "),
                if b.urgent > 0 {
                    format!("; urgent {}", b.urgent)
                } else {
                    String::new()
                }
            );
        }
    }
    o
}

fn finding(o: &mut String, f: &Finding) {
    let _ = writeln!(
        o,
        "  [{}] {}  {} ({}, {})",
        f.severity,
        f.location(),
        f.rule,
        f.check,
        f.article_or_dash()
    );
    if let Some(envelope) = &f.envelope {
        let _ = write!(o, "      envelope {envelope}");
        if let Some(other) = &f.counterpart {
            let _ = write!(o, ", other side {other}");
        }
        let _ = writeln!(o);
    } else if let Some(other) = &f.counterpart {
        let _ = writeln!(o, "      other side {other}");
    }
    let _ = writeln!(o, "      {}", f.seen);
}

/// The subject view as plain text.
#[must_use]
pub fn render_subject_text(view: &SubjectView) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Disclosures about subject {}", view.subject);
    if view.disclosures.is_empty() {
        let _ = writeln!(o, "  (none shown)");
    }
    for d in &view.disclosures {
        let _ = writeln!(
            o,
            "  {}  {} ({}) -> {} ({}): {} for {}; basis: {}; {}",
            d.date,
            d.sender,
            d.sender_role,
            d.recipient,
            d.recipient_role,
            d.categories.join(", "),
            d.purpose,
            d.basis,
            d.status
        );
    }
    if !view.logs_verified {
        let _ = writeln!(
            o,
            "WARNING: not every log verified; only the parts the nodes signed were read. Run `streha audit verify`."
        );
    }
    let _ = writeln!(o, "\n{}", view.notice);
    o
}

/// ` `<registration id>`` after `legal_representative`, or nothing.
fn representative(c: &crate::ConsentRow) -> String {
    c.representative
        .as_deref()
        .map(|r| format!(" `{r}`"))
        .unwrap_or_default()
}
