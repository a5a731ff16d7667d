//! The report's outputs: human text, JSON (stable field names), and one self-contained HTML
//! page. None prints anything a report does not hold: ids, categories, purposes, sizes and
//! hashes — logs hold no names and no record content.

mod html;
mod text;

pub use html::render_html;
pub use text::{render_subject_text, render_text};

use serde::Serialize;

use crate::report::Report;
use crate::subject::SubjectView;

/// The report as pretty-printed JSON (`format` = [`REPORT_FORMAT`](crate::REPORT_FORMAT)).
/// Field names are stable; new fields may be added.
#[must_use]
pub fn render_json(report: &Report) -> String {
    to_json(report)
}

/// The subject view as pretty-printed JSON (`format` =
/// [`SUBJECT_VIEW_FORMAT`](crate::SUBJECT_VIEW_FORMAT)).
#[must_use]
pub fn render_subject_json(view: &SubjectView) -> String {
    to_json(view)
}

fn to_json<T: Serialize>(value: &T) -> String {
    // These types serialize to JSON without fail (string map keys, no non-finite floats);
    // should that ever change, the output says so instead of panicking.
    let mut out = serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize the report: {e}\"}}"));
    out.push('\n');
    out
}

/// Shortens a 32-digit id or 64-digit hash for tables (the full value is in JSON).
pub(crate) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
