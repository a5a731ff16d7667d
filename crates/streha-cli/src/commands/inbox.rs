//! `streha inbox list|open`: what the agency received. `list` shows header facts only;
//! `open` verifies, decrypts and prints a record — the one command that prints record content.

use std::path::Path;

use serde_json::json;
use streha_client::InboxEntry;
use streha_core::{DisclosureHeader, FieldValue};

use crate::cli::{InboxListArgs, InboxOpenArgs};
use crate::error::{CliError, from_client};
use crate::profile;
use crate::util;

fn header_json(header: &DisclosureHeader) -> serde_json::Value {
    json!({
        "envelope": header.envelope_id.to_string(),
        "sender": header.sender.as_str(),
        "recipient": header.recipient.as_str(),
        "subject": header.subject.to_string(),
        "categories": header.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "purpose": header.purpose.as_str(),
        "consent": header.consent.map(|c| c.to_string()),
        "created_at": header.created_at.to_string(),
        "approvals": header.approvals.iter().map(|a| a.officer.as_str()).collect::<Vec<_>>(),
    })
}

fn entry_line(entry: &InboxEntry) -> String {
    let h = &entry.header;
    format!(
        "{}  from {}  subject {}  {} for {}  received {} (log index {})",
        entry.envelope,
        h.sender,
        h.subject,
        h.categories,
        h.purpose,
        entry.received_at,
        entry.received_index
    )
}

/// Runs `streha inbox list`.
pub(crate) fn list(profile_path: &Path, args: &InboxListArgs) -> Result<(), CliError> {
    let (entries, more) = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = list_page(&client, args.after, args.limit)
            .await
            .map_err(|e| from_client("cannot list the inbox", e));
        client.close().await;
        result
    })??;
    if args.json {
        return util::print_json(&json!({
            "entries": entries.iter().map(|e| {
                let mut value = header_json(&e.header);
                value["received_at"] = json!(e.received_at.to_string());
                value["received_index"] = json!(e.received_index);
                value
            }).collect::<Vec<_>>(),
        }));
    }
    let mut lines = vec![format!("{} envelope(s)", entries.len())];
    lines.extend(entries.iter().map(entry_line));
    if more && let Some(last) = entries.last() {
        lines.push(format!(
            "More follow: streha inbox list --after {}",
            last.envelope
        ));
    }
    util::print_lines(&lines)
}

/// A page of the inbox and whether more follow it. A page can be shorter than asked (the
/// node bounds a page's bytes too), so whether more follow is asked, not guessed.
async fn list_page(
    client: &streha_client::Client,
    after: Option<streha_core::EnvelopeId>,
    limit: u32,
) -> Result<(Vec<streha_client::InboxEntry>, bool), streha_client::ClientError> {
    let entries = client.inbox(after, limit).await?;
    let more = match entries.last() {
        Some(last) => !client.inbox(Some(last.envelope), 1).await?.is_empty(),
        None => false,
    };
    Ok((entries, more))
}

/// Runs `streha inbox open`.
pub(crate) fn open(profile_path: &Path, args: &InboxOpenArgs) -> Result<(), CliError> {
    let opened = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = client
            .open(args.envelope)
            .await
            .map_err(|e| from_client("cannot open the envelope", e));
        client.close().await;
        result
    })??;
    let fields = opened.record.fields();
    if args.json {
        let mut value = header_json(&opened.header);
        value["fields"] = json!(
            fields
                .iter()
                .map(|f| {
                    let (kind, value) = match f.value() {
                        FieldValue::Text(text) => ("text", json!(text)),
                        FieldValue::Bytes(bytes) => ("bytes_hex", json!(hex::encode(bytes))),
                    };
                    json!({"category": f.category().as_str(), "name": f.name(), kind: value})
                })
                .collect::<Vec<_>>()
        );
        return util::print_json(&value);
    }
    let h = &opened.header;
    let mut lines = vec![
        format!("envelope: {}", h.envelope_id),
        format!("sender: {}", h.sender),
        format!("subject: {}", h.subject),
        format!("purpose: {}", h.purpose),
        format!("categories: {}", h.categories),
        format!(
            "consent: {}",
            h.consent.map_or_else(|| "-".to_owned(), |c| c.to_string())
        ),
        format!("created: {}", h.created_at),
    ];
    if !h.approvals.is_empty() {
        lines.push(format!(
            "approved by: {}",
            h.approvals
                .iter()
                .map(|a| a.officer.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    lines.push(format!("fields: {}", fields.len()));
    for field in fields {
        match field.value() {
            FieldValue::Text(text) => {
                lines.push(format!("{}:{}={text}", field.category(), field.name()));
            }
            FieldValue::Bytes(bytes) => lines.push(format!(
                "{}:{} ({} bytes, hex)={}",
                field.category(),
                field.name(),
                bytes.len(),
                hex::encode(bytes)
            )),
        }
    }
    util::print_lines(&lines)
}
