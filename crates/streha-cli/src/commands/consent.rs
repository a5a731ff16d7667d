//! `streha consent grant|revoke|list`: consent to disclose assistance information
//! (Art. 18.3; for a child, a registered legal representative's, Art. 38.5).

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::json;
use streha_client::{ConsentStatus, NewConsent};
use streha_core::{CategorySet, ConsentGrant, Grantor, PurposeSet, Recipient, Timestamp};

use crate::cli::{ConsentGrantArgs, ConsentListArgs, ConsentRevokeArgs};
use crate::error::{CliError, from_client};
use crate::profile;
use crate::util::{self, DAY_MS};

/// The largest evidence file hashed (a scanned form).
const MAX_EVIDENCE_LEN: u64 = 256 * 1024 * 1024;

fn grantor_text(grantor: &Grantor) -> String {
    match grantor {
        Grantor::Subject => "subject".to_owned(),
        Grantor::Representative(id) => format!("representative:{id}"),
    }
}

fn recipient_text(recipient: &Recipient) -> String {
    match recipient {
        Recipient::Agency(id) => format!("agency:{id}"),
        Recipient::Role(role) => format!("role:{role}"),
    }
}

/// BLAKE3 of the evidence file, streamed.
fn hash_evidence(path: &Path) -> Result<[u8; 32], CliError> {
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::usage(format!(
            "cannot open the evidence file {}: {e}",
            path.display()
        ))
    })?;
    let mut hasher = blake3::Hasher::new();
    let mut reader = file.take(MAX_EVIDENCE_LEN + 1);
    let copied = std::io::copy(&mut reader, &mut hasher)
        .with_context(|| format!("cannot read the evidence file {}", path.display()))?;
    if copied > MAX_EVIDENCE_LEN {
        return Err(CliError::usage(format!(
            "the evidence file {} is larger than {} MiB; hash a smaller scan",
            path.display(),
            MAX_EVIDENCE_LEN >> 20
        )));
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Runs `streha consent grant`.
pub(crate) fn grant(profile_path: &Path, args: &ConsentGrantArgs) -> Result<(), CliError> {
    let now = util::now();
    let valid_from = args.valid_from.unwrap_or(now);
    let expires_at = match (args.expires, args.days) {
        (Some(expires), _) => expires,
        (None, Some(days)) => valid_from.saturating_add_millis(days.saturating_mul(DAY_MS)),
        (None, None) => {
            return Err(CliError::usage("give --expires TIME or --days N"));
        }
    };
    if expires_at <= valid_from {
        return Err(CliError::usage(format!(
            "--expires ({expires_at}) must be after --valid-from ({valid_from})"
        )));
    }
    if expires_at <= now {
        return Err(CliError::usage(format!(
            "the consent would already have expired ({expires_at}), so it could never allow a \
             disclosure; check --expires or --days (nothing was recorded)"
        )));
    }
    let evidence_hash = match &args.evidence {
        Some(path) => hash_evidence(path)?,
        None => [0; 32],
    };
    let terms = NewConsent {
        subject: args.subject,
        granted_by: args.granted_by.clone(),
        recipients: args.recipients.clone(),
        categories: args.categories.iter().copied().collect::<CategorySet>(),
        purposes: args.purposes.iter().copied().collect::<PurposeSet>(),
        valid_from,
        expires_at,
        evidence_hash,
        recorded_by: args.recorded_by.clone(),
        recorded_at: now,
    };
    let (consent, index) = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = client
            .grant_consent(terms)
            .await
            .map_err(|e| from_client("cannot record the consent", e));
        client.close().await;
        result
    })??;
    if args.json {
        return util::print_json(&json!({
            "consent": consent.to_string(),
            "subject": args.subject.to_string(),
            "valid_from": valid_from.to_string(),
            "expires_at": expires_at.to_string(),
            "log_index": index,
        }));
    }
    util::print_lines(&[
        format!("consent: {consent}"),
        format!(
            "Recorded for subject {} by {}: {} to {} for {}, in force {valid_from} to \
             {expires_at}; logged at index {index}.{}",
            args.subject,
            grantor_text(&args.granted_by),
            args.categories
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            args.recipients
                .iter()
                .map(recipient_text)
                .collect::<Vec<_>>()
                .join(", "),
            args.purposes
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if args.evidence.is_none() {
                " No evidence file was hashed (--evidence)."
            } else {
                ""
            }
        ),
    ])
}

/// Runs `streha consent revoke`.
pub(crate) fn revoke(profile_path: &Path, args: &ConsentRevokeArgs) -> Result<(), CliError> {
    let at = args.at.unwrap_or_else(util::now);
    let index = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = client
            .revoke_consent(args.consent, at, args.recorded_by.clone())
            .await
            .map_err(|e| from_client("cannot revoke the consent", e));
        client.close().await;
        result
    })??;
    if args.json {
        return util::print_json(&json!({
            "consent": args.consent.to_string(),
            "revoked_at": at.to_string(),
            "log_index": index,
        }));
    }
    util::print_lines(&[format!(
        "Revoked consent {} from {at}; logged at index {index}. Disclosures relying on it are \
         refused from then on.",
        args.consent
    )])
}

fn state(status: &ConsentStatus, now: Timestamp) -> String {
    match status.grant.check_in_force(now, status.revoked_at) {
        Ok(()) => "in force".to_owned(),
        Err(why) => format!("not in force: {why}"),
    }
}

fn grant_json(status: &ConsentStatus, now: Timestamp) -> serde_json::Value {
    let grant: &ConsentGrant = &status.grant;
    json!({
        "consent": grant.id().to_string(),
        "granted_by": grantor_text(grant.granted_by()),
        "recipients": grant.recipients().iter().map(recipient_text).collect::<Vec<_>>(),
        "categories": grant.categories().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "purposes": grant.purposes().iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "valid_from": grant.valid_from().to_string(),
        "expires_at": grant.expires_at().to_string(),
        "recorded_at": grant.recorded_at().to_string(),
        "revoked_at": status.revoked_at.map(|t| t.to_string()),
        "in_force": grant.check_in_force(now, status.revoked_at).is_ok(),
        "log_index": status.log_index,
    })
}

/// Runs `streha consent list`.
pub(crate) fn list(profile_path: &Path, args: &ConsentListArgs) -> Result<(), CliError> {
    let consents = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = client
            .consents(args.subject)
            .await
            .map_err(|e| from_client("cannot list the consents", e));
        client.close().await;
        result
    })??;
    let now = util::now();
    if args.json {
        return util::print_json(&json!({
            "subject": args.subject.to_string(),
            "consents": consents.iter().map(|c| grant_json(c, now)).collect::<Vec<_>>(),
        }));
    }
    let mut lines = vec![format!(
        "{} consent(s) for subject {}",
        consents.len(),
        args.subject
    )];
    for status in &consents {
        let grant = &status.grant;
        lines.push(format!(
            "{}  by {}  {} to {} for {}  {} to {}  [{}]  (log index {})",
            grant.id(),
            grantor_text(grant.granted_by()),
            grant.categories(),
            grant
                .recipients()
                .iter()
                .map(recipient_text)
                .collect::<Vec<_>>()
                .join(", "),
            grant.purposes(),
            grant.valid_from(),
            grant.expires_at(),
            state(status, now),
            status.log_index
        ));
    }
    util::print_lines(&lines)
}
