//! `streha delivery status|held` and `streha witness evidence`: where a disclosure stands,
//! what a node holds back, and the evidence it keeps against other nodes' logs. None prints
//! record content.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use streha_client::Client;
use streha_core::EnvelopeId;
use streha_wire::app::DeliveryState;
use streha_wire::text::Untrusted;

use crate::cli::{DeliveryStatusArgs, ProfileJsonArgs};
use crate::error::{CliError, from_client};
use crate::profile;
use crate::util;

/// A delivery state as JSON: `{"state": "queued"|"held"|"delivered", …}`.
pub(crate) fn delivery_json(state: &DeliveryState) -> serde_json::Value {
    match state {
        DeliveryState::Queued {
            attempts,
            last_error,
        } => json!({"state": "queued", "attempts": attempts, "last_error": last_error}),
        DeliveryState::Held { reason } => json!({"state": "held", "reason": reason}),
        DeliveryState::Delivered {
            receipt_index,
            receiver_index,
        } => json!({
            "state": "delivered",
            "receipt_index": receipt_index,
            "receiver_index": receiver_index,
        }),
        DeliveryState::DeliveredInEarlierEpoch {
            epoch,
            receipt_index,
            receiver_index,
        } => json!({
            "state": "delivered",
            "receipt_epoch": epoch,
            "receipt_index": receipt_index,
            "receiver_index": receiver_index,
        }),
        _ => json!({"state": "unknown"}),
    }
}

/// A delivery state in one sentence; `recipient` names the receiving agency, if known.
pub(crate) fn delivery_sentence(state: &DeliveryState, recipient: Option<&str>) -> String {
    let who = recipient.unwrap_or("the recipient");
    match state {
        DeliveryState::Delivered {
            receipt_index,
            receiver_index,
        } => format!(
            "Delivered: {who} logged it as received at index {receiver_index}; the receipt is \
             logged here at index {receipt_index}."
        ),
        DeliveryState::DeliveredInEarlierEpoch {
            epoch,
            receipt_index,
            receiver_index,
        } => format!(
            "Delivered: {who} logged it as received at index {receiver_index}; the receipt is \
             logged here at index {receipt_index} of log epoch {epoch}, before this node's log \
             continued in a new epoch."
        ),
        DeliveryState::Queued {
            attempts,
            last_error,
        } => format!(
            "Not delivered yet after {attempts} attempt(s){}: it stays queued and is retried \
             until {who} answers.",
            last_error
                .as_deref()
                .map(|e| format!(" (last error: {})", Untrusted(e)))
                .unwrap_or_default()
        ),
        DeliveryState::Held { reason } => {
            format!("Held, not delivered: {}", Untrusted(reason))
        }
        _ => "Delivery state unknown to this version.".into(),
    }
}

/// Polls the delivery state of `envelope` until it leaves the queue or `seconds` passed.
pub(crate) async fn wait_for_delivery(
    client: &Client,
    envelope: EnvelopeId,
    seconds: u64,
) -> Result<DeliveryState, CliError> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let state = client
            .delivery_status(envelope)
            .await
            .map_err(|e| from_client("cannot ask for the delivery status", e))?;
        if !matches!(state, DeliveryState::Queued { .. }) || Instant::now() >= deadline {
            return Ok(state);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The error of a held delivery: it needs an operator (exit 1).
pub(crate) fn held_error(envelope: EnvelopeId, reason: &str) -> CliError {
    CliError::Failure(anyhow::anyhow!(
        "envelope {envelope} is held by your node and will not be delivered without an \
         operator: {}; `streha delivery held` lists the held disclosures",
        Untrusted(reason)
    ))
}

/// Runs `streha delivery status`.
pub(crate) fn status(profile_path: &Path, args: &DeliveryStatusArgs) -> Result<(), CliError> {
    let state = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = match args.wait {
            Some(seconds) => wait_for_delivery(&client, args.envelope, seconds).await,
            None => client
                .delivery_status(args.envelope)
                .await
                .map_err(|e| from_client("cannot ask for the delivery status", e)),
        };
        client.close().await;
        result
    })??;
    if args.json {
        util::print_json(&json!({
            "envelope": args.envelope.to_string(),
            "delivery": delivery_json(&state),
        }))?;
    } else {
        util::print_lines(&[
            format!("envelope: {}", args.envelope),
            delivery_sentence(&state, None),
        ])?;
    }
    match state {
        DeliveryState::Held { reason } => Err(held_error(args.envelope, &reason)),
        _ => Ok(()),
    }
}

/// Runs `streha delivery held`.
pub(crate) fn held(profile_path: &Path, args: &ProfileJsonArgs) -> Result<(), CliError> {
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
pub(crate) fn evidence(profile_path: &Path, args: &ProfileJsonArgs) -> Result<(), CliError> {
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
