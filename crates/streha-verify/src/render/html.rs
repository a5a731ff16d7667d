//! One self-contained HTML page: inline CSS, inline SVG, no script, no external fetch (a
//! Content-Security-Policy meta tag forbids them too), printable and fileable.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use streha_core::Category;

use crate::finding::{Finding, Severity};
use crate::report::{Report, Timeline};

use super::short;

/// The report as one HTML page a data-protection officer can open offline and file: the
/// verdict and totals, the findings first, the notes, a chart of disclosures over time by
/// category and by basis, and one section per node.
#[must_use]
pub fn render_html(report: &Report) -> String {
    let mut o = String::with_capacity(32 * 1024);
    let t = &report.totals;
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Streha audit verification: {fed}</title>
<style>{CSS}</style></head><body>
<header><h1>Streha audit verification</h1>
<p>Federation <code>{fed}</code>, roster version {ver}. Generated {gen} by <code>{by}</code>. Report format <code>{fmt}</code>.</p></header>
"#,
        fed = esc(&report.federation),
        ver = report.roster_version,
        gen = esc(report.meta.generated_at.as_deref().unwrap_or("(time not stated)")),
        by = esc(&report.meta.verifier),
        fmt = esc(report.format),
    );
    if report.is_clean() {
        let _ = write!(
            o,
            r#"<div class="verdict ok" id="verdict">No findings. Every check of <code>spec/verification.md</code> passed ({} notes).</div>"#,
            report.notes.len()
        );
    } else {
        let _ = write!(
            o,
            r#"<div class="verdict bad" id="verdict">{} findings: {} critical, {} error, {} warning ({} notes).</div>"#,
            report.findings.len(),
            report.count(Severity::Critical),
            report.count(Severity::Error),
            report.count(Severity::Warning),
            report.notes.len()
        );
    }
    let _ = write!(
        o,
        r#"<table class="totals"><tr><th>logs</th><th>entries</th><th>checkpoints</th><th>disclosures</th><th>received</th><th>refusals</th><th>consents refused</th></tr>
<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>
"#,
        t.logs, t.entries, t.checkpoints, t.disclosures, t.received, t.refusals, t.consent_refusals
    );

    o.push_str(r#"<section id="findings"><h2>Findings</h2>"#);
    if report.findings.is_empty() {
        o.push_str("<p>None.</p>");
    } else {
        findings_table(&mut o, &report.findings);
    }
    o.push_str("</section>\n");

    o.push_str(r#"<section id="notes"><h2>Notes</h2>"#);
    if report.notes.is_empty() {
        o.push_str("<p>None.</p>");
    } else {
        findings_table(&mut o, &report.notes);
    }
    o.push_str("</section>\n");

    refusals_table(&mut o, report);
    consents_table(&mut o, report);
    consent_refusals_table(&mut o, report);

    o.push_str(r#"<section id="timeline"><h2>Disclosures over time</h2>"#);
    if report.timeline.buckets.is_empty() {
        o.push_str("<p>No disclosures.</p>");
    } else {
        let _ = write!(
            o,
            "<p>Each disclosure counted once, at its sender, by {} of <code>created_at</code> (UTC).</p>",
            esc(report.timeline.granularity)
        );
        chart(
            &mut o,
            &report.timeline,
            "By category",
            "categories disclosed",
            |b| &b.by_category,
            &category_colours(),
        );
        chart(
            &mut o,
            &report.timeline,
            "By basis",
            "disclosures",
            |b| &b.by_basis,
            &[
                ("agreement", "#4e79a7"),
                ("consent", "#f28e2b"),
                ("consent_and_agreement", "#59a14f"),
            ],
        );
    }
    o.push_str("</section>\n");

    o.push_str(r#"<section id="nodes"><h2>Nodes</h2>"#);
    for n in &report.nodes {
        let _ = write!(
            o,
            r#"<article class="node"><h3>{} <small>{} &middot; <code>{}</code>{}</small></h3>"#,
            esc(n.agency.as_deref().unwrap_or("unknown log")),
            esc(n.role.as_deref().unwrap_or("-")),
            esc(&n.origin),
            if n.replayed {
                ""
            } else {
                " &middot; not replayed"
            }
        );
        let kinds: Vec<String> = n
            .entries_by_kind
            .iter()
            .map(|(k, v)| format!("{} {v}", esc(k)))
            .collect();
        let _ = write!(
            o,
            "<p>{} entries ({}); entries 0&ndash;{} covered by a valid checkpoint, {} not covered; root <code>{}</code>.</p>",
            n.entries,
            kinds.join(", "),
            n.signed_size,
            n.unsigned_entries,
            esc(&n.root)
        );
        let _ = write!(
            o,
            "<p>{} checkpoints, {} signed by the node with roots matching the entries. Listed: the last, and any with a problem or with witness cosignatures (the JSON report lists all).</p>",
            n.checkpoints.len(),
            n.good_checkpoints()
        );
        o.push_str("<table><tr><th>checkpoint</th><th>size</th><th>root</th><th>node signature</th><th>root matches entries</th><th>witnesses</th></tr>");
        for c in n.notable_checkpoints() {
            let witnesses: Vec<String> = c.witnesses.iter().map(|w| esc(&w.agency)).collect();
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                c.index,
                c.size.map_or_else(|| "?".to_owned(), |s| s.to_string()),
                esc(c.root.as_deref().map_or("?", short)),
                yes_no(c.signed),
                yes_no(c.root_matches),
                c.witnesses.len(),
                if witnesses.is_empty() {
                    String::new()
                } else {
                    format!(": {}", witnesses.join(", "))
                }
            );
        }
        o.push_str("</table>");
        if !n.disclosures.is_empty() {
            o.push_str("<table><tr><th>entry</th><th>created</th><th>envelope</th><th>subject</th><th>recipient</th><th>categories</th><th>purpose</th><th>basis</th><th>status</th></tr>");
            for d in &n.disclosures {
                let _ = write!(
                    o,
                    r#"<tr class="{}"><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>"#,
                    if d.lawful { "" } else { "flag" },
                    d.index,
                    time(&d.created_at),
                    esc(short(&d.envelope)),
                    esc(short(&d.subject)),
                    esc(&d.recipient),
                    d.recipient_role
                        .as_deref()
                        .map(|r| format!(" <small>({})</small>", esc(r)))
                        .unwrap_or_default(),
                    esc(&d.categories.join(", ")),
                    esc(&d.purpose),
                    if d.urgent { " <b>urgent</b>" } else { "" },
                    esc(&d.basis),
                    esc(d.status)
                );
            }
            o.push_str("</table>");
        }
        o.push_str("</article>\n");
    }
    o.push_str("</section>\n");
    provenance(&mut o, report);
    o.push_str("<footer>Generated offline by <code>streha audit verify</code>. Logs hold pseudonymous ids, categories, decisions and hashes only: this page holds no names and no record content.</footer>\n</body></html>\n");
    o
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1d1d1f;background:#fff;font-size:14px}
h1{margin:0 0 .2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
h3 small{font-weight:normal;color:#555}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
table{border-collapse:collapse;margin:.6rem 0;width:100%}
th,td{border:1px solid #d0d0d0;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.verdict{padding:.8rem 1rem;border-radius:6px;font-size:1.15rem;font-weight:600;margin:1rem 0}
.verdict.ok{background:#e3f4e1;border:1px solid #59a14f}
.verdict.bad{background:#fde2e1;border:1px solid #e15759}
.sev{font-weight:700;text-transform:uppercase;font-size:.8em;padding:.1rem .35rem;border-radius:3px;color:#fff}
.sev-critical{background:#b71c1c}.sev-error{background:#e15759}.sev-warning{background:#f28e2b}.sev-info{background:#76787a}
tr.flag td{background:#fff1f0}
.totals td{font-size:1.2rem;text-align:center}.totals th{text-align:center}
.chart{margin:.8rem 0 1.4rem}.chart h4{margin:.2rem 0}
.legend span{display:inline-block;margin:0 .9rem .3rem 0}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
footer{margin-top:2rem;color:#666;font-size:.85em}
td{overflow-wrap:break-word}
td code,.hash{word-break:break-all}
.sev{white-space:nowrap}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.6rem 0}
dl.meta dt{font-weight:600}dl.meta dd{margin:0;overflow-wrap:anywhere}
@page{size:A4;margin:12mm 10mm}
@media print{body{margin:0;padding:0;max-width:none;font-size:7.5pt}h2{margin-top:1.2rem}
table{page-break-inside:auto}tr{break-inside:avoid}th,td{padding:.15rem .3rem}
.chart{break-inside:avoid}.verdict{font-size:11pt}}
";

fn findings_table(o: &mut String, findings: &[Finding]) {
    o.push_str("<table><tr><th>severity</th><th>where</th><th>rule</th><th>check</th><th>article</th><th>envelope / other side</th><th>what was seen</th></tr>");
    for f in findings {
        let mut envelope = f
            .envelope
            .as_deref()
            .map(short)
            .map(esc)
            .unwrap_or_default();
        if let Some(other) = &f.counterpart {
            if !envelope.is_empty() {
                envelope.push_str("<br>");
            }
            let _ = write!(envelope, "other side {}", esc(other));
        }
        let _ = write!(
            o,
            r#"<tr class="finding"><td><span class="sev sev-{sev}">{sev}</span></td><td><code>{loc}</code></td><td><code>{rule}</code><br><small>{title}</small></td><td>{check}</td><td>{art}</td><td><code>{envelope}</code></td><td>{seen}</td></tr>"#,
            sev = f.severity,
            loc = esc(&f.location()),
            rule = esc(f.rule.code()),
            title = esc(f.rule.title()),
            check = esc(f.check),
            art = esc(f.article_or_dash()),
            seen = esc(&f.seen),
        );
    }
    o.push_str("</table>");
}

/// Every refusal: node and entry, time, who to whom, what, the reason and its article.
fn refusals_table(o: &mut String, report: &Report) {
    o.push_str(r#"<section id="refusals"><h2>Refusals</h2>"#);
    if report.refusals.is_empty() {
        o.push_str("<p>None.</p></section>\n");
        return;
    }
    o.push_str("<p>Every disclosure a node refused: <code>refused</code> at the sender (nothing left), <code>receive_refused</code> at the receiver.</p>");
    o.push_str("<table><tr><th>where</th><th>time</th><th>kind</th><th>sender &rarr; recipient</th><th>subject</th><th>categories</th><th>purpose</th><th>reason</th><th>article</th></tr>");
    for r in &report.refusals {
        let _ = write!(
            o,
            "<tr><td><code>{}#{}</code></td><td>{}</td><td>{}</td><td>{} &rarr; {}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.node),
            r.index,
            time(&r.at),
            esc(r.kind),
            esc(&r.sender),
            esc(&r.recipient),
            esc(short(&r.subject)),
            esc(&r.categories.join(", ")),
            esc(&r.purpose),
            esc(&r.reason),
            esc(if r.article.is_empty() {
                "\u{2014}"
            } else {
                r.article
            }),
        );
    }
    o.push_str("</table></section>\n");
}

/// Every consent granted and revoked: id, scope, grantor, recipients, period.
fn consents_table(o: &mut String, report: &Report) {
    o.push_str(r#"<section id="consents"><h2>Consents</h2>"#);
    if report.consents.is_empty() {
        o.push_str("<p>None.</p></section>\n");
        return;
    }
    o.push_str("<p>Every consent recorded (Art. 18.3), and its revocation.</p>");
    o.push_str("<table><tr><th>where</th><th>consent</th><th>subject</th><th>given by</th><th>recipients</th><th>categories</th><th>purposes</th><th>valid</th><th>revoked</th></tr>");
    for c in &report.consents {
        let _ = write!(
            o,
            "<tr><td><code>{}#{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} &ndash; {}</td><td>{}</td></tr>",
            esc(&c.node),
            c.index,
            esc(short(&c.consent)),
            esc(short(&c.subject)),
            esc(c.granted_by),
            representative(c),
            esc(&c.recipients.join(", ")),
            esc(&c.categories.join(", ")),
            esc(&c.purposes.join(", ")),
            time(&c.valid_from),
            time(&c.expires_at),
            match (&c.revoked_at, c.revoked_index) {
                (Some(at), Some(i)) => format!("{} (entry {i})", time(at)),
                _ => "no".to_owned(),
            }
        );
    }
    o.push_str("</table></section>\n");
}

/// Every consent grant a node refused to record: who asked for what, the reason, its article.
fn consent_refusals_table(o: &mut String, report: &Report) {
    if report.consent_refusals.is_empty() {
        return;
    }
    o.push_str(r#"<section id="consent-refusals"><h2>Consents refused</h2>"#);
    o.push_str("<p>Every consent grant a node refused to record (nothing was recorded), as the application asked for it.</p>");
    o.push_str("<table><tr><th>where</th><th>time</th><th>consent</th><th>subject</th><th>given by</th><th>recipients</th><th>categories</th><th>purposes</th><th>reason</th><th>article</th></tr>");
    for r in &report.consent_refusals {
        let c = &r.grant;
        let _ = write!(
            o,
            "<tr><td><code>{}#{}</code></td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.node),
            c.index,
            time(&r.at),
            esc(short(&c.consent)),
            esc(short(&c.subject)),
            esc(c.granted_by),
            representative(c),
            esc(&c.recipients.join(", ")),
            esc(&c.categories.join(", ")),
            esc(&c.purposes.join(", ")),
            esc(&r.reason),
            esc(r.article),
        );
    }
    o.push_str("</table></section>\n");
}

/// How the report was made: when, by what, from which files (SHA-256), under which rosters
/// and options.
fn provenance(o: &mut String, report: &Report) {
    let m = &report.meta;
    o.push_str(r#"<section id="provenance"><h2>How this report was made</h2><dl class="meta">"#);
    let _ = write!(
        o,
        "<dt>generated</dt><dd>{}</dd><dt>verifier</dt><dd><code>{}</code></dd><dt>options</dt><dd>at least {} witness(es) on each log's latest checkpoint; clock-skew bound {} s</dd><dt>roster key</dt><dd>{}</dd></dl>",
        esc(m.generated_at.as_deref().unwrap_or("(time not stated)")),
        esc(&m.verifier),
        m.options.min_witnesses,
        m.options.clock_skew_ms / 1000,
        m.roster_key_fingerprint.as_deref().map_or_else(
            || "not given".to_owned(),
            |f| format!("fingerprint <code class=\"hash\">{}</code>", esc(f))
        ),
    );
    o.push_str("<table><tr><th>roster version</th><th>issued</th><th>agencies</th><th>clauses</th><th>hash (BLAKE3 of the signed note)</th><th>from</th></tr>");
    for r in &m.rosters {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            r.version,
            time(&r.issued_at),
            r.agencies,
            r.clauses,
            esc(&r.hash),
            esc(&r.sources.join(", "))
        );
    }
    o.push_str("</table>");
    if !m.inputs.is_empty() {
        o.push_str("<table><tr><th>input</th><th>file</th><th>bytes</th><th>SHA-256</th><th>status</th></tr>");
        for i in &m.inputs {
            let kind = match i.kind {
                crate::report::InputKind::Bundle => "log bundle",
                crate::report::InputKind::Roster => "roster",
                crate::report::InputKind::RosterKey => "roster key",
            };
            let _ = write!(
                o,
                "<tr><td>{kind}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&i.file),
                i.bytes.map(|b| b.to_string()).unwrap_or_default(),
                esc(i.sha256.as_deref().unwrap_or("\u{2014}")),
                i.error.as_deref().map_or_else(
                    || "read".to_owned(),
                    |e| format!("<b>unreadable</b>: {}", esc(e))
                )
            );
        }
        o.push_str("</table>");
    }
    o.push_str("</section>\n");
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "<b>NO</b>" }
}

/// A colour per category name, grouped by hue: identification blues, case greens,
/// assistance oranges, protection reds (which should never appear).
fn category_colours() -> Vec<(&'static str, &'static str)> {
    const PALETTE: [&str; 15] = [
        "#1f4e79", "#2e75b6", "#9dc3e6", // identification
        "#375623", "#548235", "#a9d18e", "#c5e0b4", // case
        "#c55a11", "#f4b183", "#bf9000", "#ffd966", // assistance
        "#7f0000", "#c00000", "#ff0000", "#ff7c80", // protection
    ];
    Category::ALL
        .iter()
        .zip(PALETTE)
        .map(|(c, colour)| (c.as_str(), colour))
        .collect()
}

/// A stacked bar chart of one breakdown of the timeline, as inline SVG.
fn chart<'a>(
    o: &mut String,
    timeline: &'a Timeline,
    title: &str,
    unit: &str,
    series: impl Fn(&'a crate::report::TimelineBucket) -> &'a BTreeMap<String, u64>,
    colours: &[(&str, &str)],
) {
    const W: u64 = 1100;
    const H: u64 = 260;
    const LEFT: u64 = 48;
    const BOTTOM: u64 = 46;
    const TOP: u64 = 12;
    let plot_w = W - LEFT - 10;
    let plot_h = H - BOTTOM - TOP;
    let buckets = &timeline.buckets;
    let max = buckets
        .iter()
        .map(|b| series(b).values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = plot_w / (buckets.len() as u64).max(1);
    let bar = (slot * 7 / 10).clamp(2, 60);
    let colour = |name: &str| {
        colours
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("#999999", |(_, c)| *c)
    };
    let _ = write!(
        o,
        r#"<div class="chart"><h4>{} <small>({})</small></h4><svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {W} {H}" role="img" aria-label="{}">"#,
        esc(title),
        esc(unit),
        esc(title)
    );
    // Axis and grid: 0, max/2, max.
    for (i, value) in [0, max / 2, max].into_iter().enumerate() {
        if i == 1 && (value == 0 || value == max) {
            continue;
        }
        let y = TOP + plot_h - plot_h * value / max;
        let _ = write!(
            o,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" font-size="11" text-anchor="end" fill="#444">{value}</text>"##,
            W - 10,
            LEFT - 6,
            y + 4
        );
    }
    // A period label is about 80 units wide: label every n-th bar so that they never overlap.
    let label_every = usize::try_from(80u64.div_ceil(slot.max(1)))
        .unwrap_or(1)
        .max(1);
    for (i, b) in buckets.iter().enumerate() {
        let x = LEFT + slot * i as u64 + (slot - bar) / 2;
        let mut y = TOP + plot_h;
        for (name, count) in series(b) {
            let h = plot_h * count / max;
            y -= h;
            let _ = write!(
                o,
                r#"<rect x="{x}" y="{y}" width="{bar}" height="{h}" fill="{}"><title>{}: {} {}</title></rect>"#,
                colour(name),
                esc(&b.period),
                esc(name),
                count
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                o,
                r##"<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#444">{}</text>"##,
                x + bar / 2,
                TOP + plot_h + 16,
                esc(&b.period)
            );
        }
    }
    let _ = write!(
        o,
        r##"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#444"/></svg>"##,
        TOP + plot_h,
        W - 10,
        TOP + plot_h
    );
    // Legend: the series that occur.
    let mut seen: Vec<&str> = buckets
        .iter()
        .flat_map(|b| series(b).keys().map(String::as_str))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    o.push_str(r#"<div class="legend">"#);
    for name in seen {
        let _ = write!(
            o,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            colour(name),
            esc(name)
        );
    }
    o.push_str("</div></div>");
}

/// An RFC 3339 time, escaped, that may wrap after its date (and nowhere else) in a
/// narrow column.
fn time(text: &str) -> String {
    match text.split_once('T') {
        Some((date, rest)) => format!("{}<wbr>T{}", esc(date), esc(rest)),
        None => esc(text),
    }
}

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The representative's registration id after `legal_representative`, or nothing.
fn representative(c: &crate::ConsentRow) -> String {
    c.representative
        .as_deref()
        .map(|r| format!(" <code>{}</code>", esc(r)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<script>"a"&'b'</script>"#),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
    }
}
