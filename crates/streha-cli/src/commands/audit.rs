//! `streha audit checkpoint|prove|export`: the agency's node's audit log, fetched and
//! verified against the node's key from the roster. (The offline checks — `verify`, `subject`,
//! `check-proof` — are in `audit_offline.rs`.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use streha_audit::TlogProof;
use streha_core::{AgencyId, AuditEntry};

use crate::cli::{AuditCheckpointArgs, AuditExportArgs, AuditProveArgs};
use crate::error::{CliError, from_client};
use crate::profile;
use crate::util::{self, PUBLIC_MODE};

/// One line on what an entry records (pseudonymous ids, categories, decisions; entries
/// never hold record content).
pub(crate) fn describe(entry: &AuditEntry) -> String {
    match entry {
        AuditEntry::SubjectRegistered {
            subject,
            age_status,
            ..
        } => format!("subject {subject} registered ({age_status})"),
        AuditEntry::AgeStatusRecorded {
            subject,
            age_status,
            ..
        } => format!("age status of {subject} recorded: {age_status}"),
        AuditEntry::RepresentativeRegistered {
            subject,
            representative,
            ..
        } => format!("representative {representative} registered for {subject}"),
        AuditEntry::RepresentativeRemoved {
            subject,
            representative,
            ..
        } => format!("representative {representative} removed for {subject}"),
        AuditEntry::ConsentGranted { grant } => format!(
            "consent {} granted for {} ({} for {})",
            grant.id(),
            grant.subject(),
            grant.categories(),
            grant.purposes()
        ),
        AuditEntry::ConsentRevoked { revocation } => {
            format!("consent {} revoked", revocation.consent)
        }
        AuditEntry::Disclosed {
            header,
            basis,
            urgent_review,
            ..
        } => format!(
            "disclosed {} {} → {} about {} for {} (basis: {basis}){}",
            header.envelope_id,
            header.sender,
            header.recipient,
            header.subject,
            header.purpose,
            if *urgent_review {
                ", flagged for urgent-danger review"
            } else {
                ""
            }
        ),
        AuditEntry::Refused { header, reason, .. } => format!(
            "refused {} {} → {} ({}): {reason}",
            header.envelope_id, header.sender, header.recipient, header.categories
        ),
        AuditEntry::Received { header, .. } => format!(
            "received {} from {} about {} ({} for {})",
            header.envelope_id, header.sender, header.subject, header.categories, header.purpose
        ),
        AuditEntry::ReceiveRefused { header, reason, .. } => format!(
            "receive refused {} from {}: {reason}",
            header.envelope_id, header.sender
        ),
        AuditEntry::Receipt {
            envelope,
            recipient,
            receiver_log_index,
            ..
        } => {
            format!("receipt for {envelope} from {recipient} (its log index {receiver_log_index})")
        }
        AuditEntry::Violation {
            envelope,
            sender,
            kind,
            ..
        } => format!("violation by {sender} in {envelope}: {kind:?}"),
        AuditEntry::RosterChanged { version, .. } => format!("roster version {version} adopted"),
        AuditEntry::ConsentRefused { grant, reason, .. } => format!(
            "consent {} for subject {} refused, not recorded: {reason}",
            grant.id(),
            grant.subject()
        ),
        AuditEntry::LogRestored {
            previous_origin,
            restored_size,
            proven_by,
            ..
        } => format!(
            "log restored from a backup: {previous_origin} continues here; entries from {restored_size} on, as proven by {proven_by}'s kept checkpoint, were lost"
        ),
        AuditEntry::KeyChanged { agency, kind, .. } => {
            format!("key of {agency} changed ({kind:?})")
        }
        AuditEntry::SubjectRekeyed { old, .. } => {
            format!("subject {old} re-keyed (Art. 18.5); only a commitment to the new id")
        }
        AuditEntry::WitnessAlarmV1 { origin, size, .. } => format!(
            "witness alarm: a checkpoint of {origin} contradicted the one of size {size} this node cosigned (kind not recorded)"
        ),
        AuditEntry::WitnessAlarm {
            origin,
            kind,
            cosigned_size,
            offered_size,
            ..
        } => match kind {
            streha_core::WitnessAlarmKind::Fork => {
                format!("witness alarm (fork): two trees of size {cosigned_size} for {origin}")
            }
            streha_core::WitnessAlarmKind::Rollback => format!(
                "witness alarm (rollback): {origin} showed a tree of size {offered_size} after this node cosigned size {cosigned_size}"
            ),
            streha_core::WitnessAlarmKind::Inconsistent => format!(
                "witness alarm (inconsistent): {origin} showed a tree of size {offered_size} that does not extend the one of size {cosigned_size} this node cosigned"
            ),
        },
        AuditEntry::WitnessedCheckpoints { checkpoints, .. } => format!(
            "cosigned as a witness: {}",
            checkpoints
                .iter()
                .map(|c| format!("{} at size {}", c.origin, c.size))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Runs `streha audit checkpoint`.
pub(crate) fn checkpoint(profile_path: &Path, args: &AuditCheckpointArgs) -> Result<(), CliError> {
    if let Some(out) = &args.out {
        util::check_target(out, args.force)?;
    }
    let (checkpoint, witnesses, origin) = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = if args.published {
            client
                .published_checkpoint()
                .await
                .map(|(c, w)| (c, Some(w)))
                .map_err(|e| from_client("cannot fetch the published checkpoint", e))
        } else {
            client
                .checkpoint()
                .await
                .map(|c| (c, None))
                .map_err(|e| from_client("cannot fetch the checkpoint", e))
        };
        client.close().await;
        // The checkpoint's own origin: the node's current log epoch (`spec/audit-log.md` §9).
        result.map(|(c, w)| {
            let origin = c.origin().to_owned();
            (c, w, origin)
        })
    })??;
    if let Some(out) = &args.out {
        util::write_file(out, checkpoint.note().as_bytes(), PUBLIC_MODE, args.force)?;
    }
    if args.json {
        let mut value = json!({
            "origin": origin,
            "size": checkpoint.size(),
            "root": hex::encode(checkpoint.root().as_bytes()),
            "note": checkpoint.note(),
        });
        if let Some(witnesses) = &witnesses {
            value["witnesses"] = json!(witnesses.iter().map(|a| a.as_str()).collect::<Vec<_>>());
        }
        return util::print_json(&value);
    }
    match &args.out {
        Some(out) => util::print_lines(&[format!(
            "Checkpoint of {origin} at size {} (signature verified) written to {}.",
            checkpoint.size(),
            out.display()
        )]),
        None => {
            // The note as the node signed it: origin, size, root, blank line, signatures.
            util::print_text(checkpoint.note())
        }
    }
}

/// Entry `index` proven against the node's published checkpoint (cosigned by its
/// witnesses), once that covers the node's latest checkpoint at the start, waiting up to
/// `wait` for it. An entry beyond the latest checkpoint fails at once, as `prove_entry`
/// says.
async fn prove_cosigned(
    client: &streha_client::Client,
    index: u64,
    wait: Duration,
) -> Result<(streha_client::VerifiedEntry, Option<Vec<AgencyId>>), streha_client::ClientError> {
    let latest = client.checkpoint().await?.size();
    if index >= latest {
        return client.prove_entry(index).await.map(|entry| (entry, None));
    }
    let deadline = std::time::Instant::now() + wait;
    loop {
        let published = match client.published_checkpoint().await {
            Ok((published, _)) => Some(published.size()),
            Err(streha_client::ClientError::Remote(error))
                if error.code == streha_wire::ErrorCode::NotFound =>
            {
                None
            }
            Err(other) => return Err(other),
        };
        if published.is_some_and(|size| size >= latest) {
            return client
                .prove_published(index)
                .await
                .map(|(entry, witnesses)| (entry, Some(witnesses)));
        }
        if std::time::Instant::now() >= deadline {
            return Err(streha_client::ClientError::NotCosigned { latest, published });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `streha audit prove`.
pub(crate) fn prove(profile_path: &Path, args: &AuditProveArgs) -> Result<(), CliError> {
    let entry_out = PathBuf::from(format!("{}.entry", args.out.display()));
    util::check_target(&args.out, args.force)?;
    util::check_target(&entry_out, args.force)?;
    let (verified, witnesses) = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = if args.latest {
            client
                .prove_entry(args.index)
                .await
                .map(|entry| (entry, None))
        } else {
            prove_cosigned(&client, args.index, Duration::from_secs(args.wait)).await
        }
        .map_err(|e| from_client(&format!("cannot prove entry {}", args.index), e));
        client.close().await;
        result
    })??;
    let proven = verified.proven();
    let proof = TlogProof::new(proven.index, proven.proof.clone(), &proven.checkpoint)
        .map_err(|e| CliError::verification(format!("the node's proof is malformed: {e}")))?;
    util::write_file(
        &args.out,
        proof.to_text().as_bytes(),
        PUBLIC_MODE,
        args.force,
    )?;
    util::write_file(&entry_out, &proven.entry, PUBLIC_MODE, args.force)?;
    let what = verified.audit_entry().map_or_else(
        |e| format!("an entry this version cannot read ({e})"),
        |e| describe(&e),
    );
    if args.json {
        let mut value = json!({
            "index": proven.index,
            "tree_size": verified.checkpoint().size(),
            "root": hex::encode(verified.checkpoint().root().as_bytes()),
            "proof": args.out.display().to_string(),
            "entry": entry_out.display().to_string(),
            "describes": what,
        });
        if let Some(witnesses) = &witnesses {
            value["witnesses"] = json!(witnesses.iter().map(|a| a.as_str()).collect::<Vec<_>>());
        }
        return util::print_json(&value);
    }
    let cosigned = match &witnesses {
        None => String::new(),
        Some(w) => format!(
            "; the checkpoint is published, cosigned by {}",
            w.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    util::print_lines(&[
        format!("entry {}: {what}", proven.index),
        format!(
            "Included in the node's log of size {} (proof and checkpoint signature \
             verified{cosigned}).",
            verified.checkpoint().size()
        ),
        format!(
            "Wrote the proof (C2SP tlog-proof, RFC 6962 tree) to {} and the entry's bytes to {}.",
            args.out.display(),
            entry_out.display()
        ),
    ])
}

/// Runs `streha audit export`.
pub(crate) fn export(profile_path: &Path, args: &AuditExportArgs) -> Result<(), CliError> {
    util::check_target(&args.out, args.force)?;
    let bundle = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = if args.latest {
            client.export_bundle().await
        } else {
            client
                .export_cosigned_bundle(Duration::from_secs(args.wait))
                .await
        }
        .map_err(|e| from_client("cannot export the log", e));
        client.close().await;
        result
    })??;
    let bytes = bundle
        .encode()
        .map_err(|e| anyhow::anyhow!("cannot encode the log bundle: {e}"))?;
    util::write_file(&args.out, &bytes, PUBLIC_MODE, args.force)?;
    if args.json {
        return util::print_json(&json!({
            "origin": bundle.origin,
            "entries": bundle.entries.len(),
            "checkpoints": bundle.checkpoints.len(),
            "file": args.out.display().to_string(),
        }));
    }
    util::print_lines(&[format!(
        "Exported {}: {} entries and {} signed checkpoints, verified, to {} ({} bytes). Check it \
         offline with `streha audit verify`.",
        bundle.origin,
        bundle.entries.len(),
        bundle.checkpoints.len(),
        args.out.display(),
        bytes.len()
    )])
}

#[cfg(test)]
mod tests {
    use streha_core::{AuditEntry, LogOrigin, Timestamp, WitnessAlarmKind};

    use super::describe;

    fn alarm(kind: WitnessAlarmKind, cosigned_size: u64, offered_size: u64) -> AuditEntry {
        AuditEntry::WitnessAlarm {
            origin: LogOrigin::new("demo.example/streha/shelter").unwrap(),
            kind,
            cosigned_size,
            cosigned_root: [1; 32],
            offered_size,
            offered_root: [2; 32],
            at: Timestamp(0),
        }
    }

    #[test]
    fn witness_alarms_are_described_by_kind() {
        let rollback = describe(&alarm(WitnessAlarmKind::Rollback, 9, 4));
        assert!(rollback.contains("rollback"), "{rollback}");
        assert!(
            rollback.contains("size 4") && rollback.contains("size 9"),
            "{rollback}"
        );
        assert!(!rollback.contains("two trees"), "{rollback}");
        let fork = describe(&alarm(WitnessAlarmKind::Fork, 3, 3));
        assert!(fork.contains("two trees of size 3"), "{fork}");
        let rewritten = describe(&alarm(WitnessAlarmKind::Inconsistent, 3, 8));
        assert!(rewritten.contains("inconsistent"), "{rewritten}");
        let first_form = describe(&AuditEntry::WitnessAlarmV1 {
            origin: LogOrigin::new("demo.example/streha/shelter").unwrap(),
            size: 9,
            root_a: [1; 32],
            root_b: [2; 32],
            at: Timestamp(0),
        });
        assert!(first_form.contains("kind not recorded"), "{first_form}");
    }
}
