//! `streha delivery held` and `streha witness evidence`: what a node holds back, and the
//! evidence it keeps against other nodes' logs. Neither prints record content.

use std::path::Path;

use serde_json::json;
use streha_wire::text::Untrusted;

use crate::cli::JsonArgs;
use crate::error::{CliError, from_client};
use crate::profile;
use crate::util;

/// Runs `streha delivery held`.
pub(crate) fn held(profile_path: &Path, args: &JsonArgs) -> Result<(), CliError> {
    let held = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = client
            .all_held_deliveries()
            .await
            .map_err(|e| from_client("cannot list the held deliveries", e));
        client.close().await;
        result
    })??;
    if args.json {
        return util::print_json(&json!({
            "held": held.iter().map(|h| json!({
                "envelope": h.envelope.to_string(),
                "recipient": h.recipient.as_str(),
                "class": h.class.name(),
                "reason": h.reason,
                "since": h.since.to_string(),
            })).collect::<Vec<_>>(),
        }));
    }
    let mut lines = vec![format!("{} held delivery(ies)", held.len())];
    // A reason may quote what the receiver answered: shown escaped, never raw.
    lines.extend(held.iter().map(|h| {
        format!(
            "{}  to {}  {}: {}  since {}",
            h.envelope,
            h.recipient,
            h.class,
            Untrusted(&h.reason),
            h.since
        )
    }));
    util::print_lines(&lines)
}

/// Runs `streha witness evidence`.
pub(crate) fn evidence(profile_path: &Path, args: &JsonArgs) -> Result<(), CliError> {
    let evidence = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = client
            .all_witness_evidence()
            .await
            .map_err(|e| from_client("cannot fetch the witness evidence", e));
        client.close().await;
        result
    })??;
    if args.json {
        return util::print_json(&json!({
            "evidence": evidence.iter().map(|e| json!({
                "origin": e.origin,
                "kind": e.kind.name(),
                "at": e.at.to_string(),
                "first": e.first,
                "second": e.second,
            })).collect::<Vec<_>>(),
        }));
    }
    let mut lines = vec![format!("{} evidence record(s)", evidence.len())];
    // The notes are as another node sent them: each line shown escaped.
    for e in &evidence {
        lines.push(format!(
            "{} of {} found {}",
            e.kind,
            Untrusted(&e.origin),
            e.at
        ));
        lines.push("-- checkpoint cosigned by this node:".to_owned());
        lines.extend(e.first.lines().map(|line| Untrusted(line).to_string()));
        lines.push("-- checkpoint that contradicts it:".to_owned());
        lines.extend(e.second.lines().map(|line| Untrusted(line).to_string()));
    }
    util::print_lines(&lines)
}
