//! `streha send`: seal a record and submit it to the agency's node, which decides with the
//! policy and logs the decision (DESIGN.md "A disclosure, end to end").

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::json;
use streha_client::{Client, DeliveryState, DisclosureBuilder};
use streha_core::{Field, FieldValue, MAX_FIELD_VALUE_LEN, Purpose};
use streha_crypto::{AnySecretKey, KeyKind};

use crate::cli::{FieldArg, FieldSource, SendArgs, parse_field};
use crate::commands::operations;
use crate::error::{CliError, from_client};
use crate::profile;
use crate::util;

/// The largest fields file read.
const MAX_FIELDS_FILE_LEN: usize = 1024 * 1024;

/// Reads the value of a field from its source; a file is text if it is UTF-8, else bytes.
/// `base` resolves relative file names (the fields file's directory).
fn field_of(arg: &FieldArg, base: Option<&Path>) -> Result<Field, CliError> {
    let value = match &arg.value {
        FieldSource::Inline(text) => FieldValue::Text(text.clone()),
        FieldSource::File(path) => {
            let path = match base {
                Some(base) if path.is_relative() => base.join(path),
                _ => path.clone(),
            };
            let file = std::fs::File::open(&path).map_err(|e| {
                CliError::usage(format!(
                    "cannot open {} (the value of field {}:{}): {e}",
                    path.display(),
                    arg.category,
                    arg.name
                ))
            })?;
            let mut bytes = Vec::new();
            file.take(MAX_FIELD_VALUE_LEN as u64 + 1)
                .read_to_end(&mut bytes)
                .with_context(|| format!("cannot read {}", path.display()))?;
            match String::from_utf8(bytes) {
                Ok(text) => FieldValue::Text(text),
                Err(e) => FieldValue::Bytes(e.into_bytes()),
            }
        }
    };
    Field::new(arg.category, arg.name.clone(), value)
        .map_err(|e| CliError::usage(format!("field {}:{}: {e}", arg.category, arg.name)))
}

/// Every field of the command line and the fields file.
fn collect_fields(args: &SendArgs) -> Result<Vec<Field>, CliError> {
    let mut fields = Vec::new();
    for arg in &args.fields {
        fields.push(field_of(arg, None)?);
    }
    if let Some(file) = &args.fields_file {
        let text = util::read_text(file, MAX_FIELDS_FILE_LEN, "fields file")?;
        let base = file.parent().map(PathBuf::from);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let arg = parse_field(line)
                .map_err(|e| CliError::usage(format!("{} line {}: {e}", file.display(), n + 1)))?;
            fields.push(field_of(&arg, base.as_deref())?);
        }
    }
    if fields.is_empty() {
        return Err(CliError::usage(
            "the record has no field; give --field CATEGORY:NAME=VALUE or --fields-file FILE",
        ));
    }
    Ok(fields)
}

/// Runs `streha send`.
pub(crate) fn run(profile_path: &Path, args: &SendArgs) -> Result<(), CliError> {
    let fields = collect_fields(args)?;
    if !args.approvals.is_empty() && args.purpose != Purpose::UrgentDanger {
        return Err(CliError::usage(format!(
            "officer approvals are for purpose urgent_danger (Art. 45.3), not {}; drop \
             --approval or change --purpose",
            args.purpose
        )));
    }
    let mut officers = Vec::with_capacity(args.approvals.len());
    for (officer, file) in &args.approvals {
        let AnySecretKey::Officer(key) = util::load_secret(file, KeyKind::Officer)? else {
            unreachable!("load_secret checked the kind")
        };
        officers.push((officer.clone(), key));
    }

    let outcome = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = submit(&client, args, fields, officers).await;
        client.close().await;
        result
    })??;
    let (envelope, index, state) = outcome;

    if args.json {
        util::print_json(&json!({
            "envelope": envelope.to_string(),
            "log_index": index,
            "delivery": state.as_ref().map_or(json!(null), operations::delivery_json),
        }))?;
    } else {
        let mut lines = vec![
            format!("envelope: {envelope}"),
            format!(
                "Allowed by the policy and logged as disclosed at index {index}; queued for \
                 delivery to {}.",
                args.to
            ),
        ];
        if let Some(state) = &state {
            lines.push(operations::delivery_sentence(state, Some(args.to.as_str())));
        }
        util::print_lines(&lines)?;
    }
    if let Some(DeliveryState::Held { reason }) = state {
        return Err(operations::held_error(envelope, &reason));
    }
    Ok(())
}

type Outcome = (streha_core::EnvelopeId, u64, Option<DeliveryState>);

async fn submit(
    client: &Client,
    args: &SendArgs,
    fields: Vec<Field>,
    officers: Vec<(streha_core::OfficerId, streha_crypto::OfficerSecretKey)>,
) -> Result<Outcome, CliError> {
    let local = |e| from_client("cannot build the disclosure", e);
    let mut builder: DisclosureBuilder =
        client.disclosure(args.subject, args.to.clone(), args.purpose);
    for field in fields {
        builder = builder.with_field(field).map_err(local)?;
    }
    if let Some(consent) = args.consent {
        builder = builder.consent(consent);
    }
    let mut prepared = builder.prepare().map_err(local)?;
    for (officer, key) in &officers {
        prepared = prepared
            .urgent_approval(officer.clone(), key)
            .map_err(|e| from_client("cannot add the approval", e))?;
    }
    let sealed = client
        .seal(prepared)
        .map_err(|e| from_client("cannot seal the disclosure", e))?;
    let submitted = client
        .submit(&sealed)
        .await
        .map_err(|e| from_client("the disclosure was not made", e))?;
    let state = match args.wait {
        None => None,
        Some(seconds) => {
            Some(operations::wait_for_delivery(client, submitted.envelope, seconds).await?)
        }
    };
    Ok((submitted.envelope, submitted.index, state))
}
