//! The report's three forms. The HTML page is also rendered in headless Chromium by
//! `scripts/render-report.sh`, which runs `doctored_report_as_html` with
//! `STREHA_REPORT_HTML` set to the path to write.

mod common;

use common::*;
use streha_core::{Category, Purpose};
use streha_verify::{
    REPORT_FORMAT, Report, Rule, VerifyOptions, render_html, render_json, render_text, verify,
};

/// The demo with two findings (a protection category disclosed; a `received` without its
/// `disclosed`) and a month of disclosures for the chart.
fn doctored() -> (Fed, Report) {
    let mut fed = Fed::demo();
    for day in 14..40u64 {
        let header = fed.header(
            0x80 + day as u8,
            POLICE,
            CSW,
            SUBJECT_ADULT,
            if day % 3 == 0 {
                &[Category::Identity, Category::CaseSummary]
            } else {
                &[Category::Referral]
            },
            Purpose::Assistance,
            None,
            t(day * DAY),
        );
        let basis = agreement(&["csw-referral"]);
        fed.send(&header, basis);
    }
    let bad = fed.header(
        0x40,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Identity, Category::ShelterLocation],
        Purpose::Assistance,
        None,
        t(41 * DAY),
    );
    fed.disclose(&bad, agreement(&["csw-referral"]));
    let orphan = fed.header(
        0x41,
        POLICE,
        CSW,
        SUBJECT_ADULT,
        &[Category::Identity],
        Purpose::Assistance,
        None,
        t(42 * DAY),
    );
    fed.orphan_received(&orphan, agreement(&["csw-referral"]), t(42 * DAY + 500));
    let report = verify(&fed.bundles(), &fed.roster, &VerifyOptions::default());
    (fed, report)
}

#[test]
fn doctored_report_as_html() {
    let (_, report) = doctored();
    assert!(report.with_rule(Rule::ProtectionCategoryDisclosed).count() >= 1);
    assert!(report.with_rule(Rule::ReceivedWithoutDisclosed).count() >= 1);
    let html = render_html(&report);

    // Self-contained: no script, no external reference of any kind.
    let lower = html.to_ascii_lowercase();
    for banned in ["<script", "http://", "https://", "src=", "@import", "url("] {
        let allowed_svg_ns = banned == "http://"
            && lower.matches("http://").count()
                == lower
                    .matches("xmlns=\"http://www.w3.org/2000/svg\"")
                    .count();
        assert!(
            !lower.contains(banned) || allowed_svg_ns,
            "the page must not contain {banned}"
        );
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Content-Security-Policy"));

    // Findings first, with their rule, article and location.
    let findings = html.find(r#"id="findings""#).unwrap();
    let nodes = html.find(r#"id="nodes""#).unwrap();
    let chart = html.find("<svg").unwrap();
    assert!(findings < chart && chart < nodes);
    for f in &report.findings {
        assert!(html.contains(f.rule.code()), "{}", f.rule);
        assert!(html.contains(&f.location()));
    }
    assert!(html.contains("protection_category_disclosed"));
    assert!(html.contains("Art. 18.4, 18.6"));
    assert!(html.contains("received_without_disclosed"));
    assert!(html.contains(r#"class="verdict bad""#));
    assert_eq!(html.matches("<svg").count(), 2);

    if let Some(path) = std::env::var_os("STREHA_REPORT_HTML") {
        std::fs::write(&path, &html).unwrap();
        eprintln!("wrote {}", path.to_string_lossy());
    }
}

#[test]
fn clean_report_as_html_says_so() {
    let fed = Fed::demo();
    let report = verify(&fed.bundles(), &fed.roster, &VerifyOptions::default());
    let html = render_html(&report);
    assert!(html.contains(r#"class="verdict ok""#));
    assert!(html.contains("No findings."));
}

#[test]
fn json_has_stable_field_names() {
    let (_, report) = doctored();
    let json: serde_json::Value = serde_json::from_str(&render_json(&report)).unwrap();
    assert_eq!(json["format"], REPORT_FORMAT);
    assert_eq!(json["federation"], FEDERATION);
    let finding = &json["findings"][0];
    for field in [
        "severity",
        "rule",
        "check",
        "article",
        "node",
        "entry_index",
        "checkpoint_index",
        "envelope",
        "counterpart",
        "seen",
    ] {
        assert!(finding.get(field).is_some(), "{field}");
    }
    assert_eq!(finding["severity"], "critical");
    let node = &json["nodes"][0];
    for field in [
        "agency",
        "role",
        "origin",
        "replayed",
        "entries",
        "entries_by_kind",
        "root",
        "signed_size",
        "unsigned_entries",
        "checkpoints",
        "disclosures",
    ] {
        assert!(node.get(field).is_some(), "{field}");
    }
    assert_eq!(json["timeline"]["granularity"], "day");
    assert!(json["timeline"]["buckets"][0]["by_category"].is_object());
    assert!(json["totals"]["by_severity"]["critical"].as_u64().unwrap() >= 2);
}

#[test]
fn text_lists_findings_first() {
    let (_, report) = doctored();
    let text = render_text(&report);
    let findings = text.find("FINDINGS").unwrap();
    assert!(findings < text.find("NODES").unwrap());
    assert!(text.contains("protection_category_disclosed (V2.1, Art. 18.4, 18.6)"));
    assert!(text.contains("received_without_disclosed"));
}
