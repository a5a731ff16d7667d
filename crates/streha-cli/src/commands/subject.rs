//! `streha subject register|add-representative|age|rekey`: subjects at the agency's node
//! (Art. 18.3, 18.5, 36, 38.5).

use std::fs::Permissions;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::json;
use streha_core::rekey_commitment;

use crate::cli::{
    SubjectAddRepresentativeArgs, SubjectAgeArgs, SubjectRegisterArgs, SubjectRekeyArgs,
};
use crate::error::{CliError, from_client};
use crate::profile;
use crate::util::{self, SECRET_MODE};

/// Runs `streha subject register`.
pub(crate) fn register(profile_path: &Path, args: &SubjectRegisterArgs) -> Result<(), CliError> {
    let (subject, index) = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = client
            .register_subject(args.age, args.representatives.clone())
            .await
            .map_err(|e| from_client("cannot register the subject", e));
        client.close().await;
        result
    })??;
    if args.json {
        return util::print_json(&json!({
            "subject": subject.to_string(),
            "age_status": args.age.as_str(),
            "representatives": args.representatives.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "log_index": index,
        }));
    }
    util::print_lines(&[
        format!("subject: {subject}"),
        format!(
            "Registered as {} with {} representative(s); logged at index {index}. Keep the id \
             with the person's file: the log never holds a name.",
            args.age,
            args.representatives.len()
        ),
    ])
}

/// Runs `streha subject add-representative`.
pub(crate) fn add_representative(
    profile_path: &Path,
    args: &SubjectAddRepresentativeArgs,
) -> Result<(), CliError> {
    let index = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = client
            .add_representative(args.subject, args.representative.clone())
            .await
            .map_err(|e| from_client("cannot register the representative", e));
        client.close().await;
        result
    })??;
    if args.json {
        return util::print_json(&json!({
            "subject": args.subject.to_string(),
            "representative": args.representative.as_str(),
            "log_index": index,
        }));
    }
    util::print_lines(&[format!(
        "Registered `{}` as a legal representative of {} (Art. 18.3, 38.5); logged at index \
         {index}. Their consent counts for this subject from now on.",
        args.representative, args.subject
    )])
}

/// Runs `streha subject age`.
pub(crate) fn age(profile_path: &Path, args: &SubjectAgeArgs) -> Result<(), CliError> {
    let index = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = client
            .record_age_status(args.subject, args.age)
            .await
            .map_err(|e| from_client("cannot record the age status", e));
        client.close().await;
        result
    })??;
    if args.json {
        return util::print_json(&json!({
            "subject": args.subject.to_string(),
            "age_status": args.age.as_str(),
            "log_index": index,
        }));
    }
    util::print_lines(&[format!(
        "Recorded {} as {} (Art. 36); logged at index {index}. Disclosures from now on are \
         decided with it.",
        args.subject, args.age
    )])
}

/// The salt file's text: enough for a court or DPO to check the commitment in the log.
fn salt_file_text(
    old: streha_core::SubjectId,
    new: streha_core::SubjectId,
    salt: &[u8; 32],
    index: u64,
) -> zeroize::Zeroizing<String> {
    let commitment = rekey_commitment(salt, new);
    zeroize::Zeroizing::new(format!(
        "streha-rekey-salt v1\nold: {old}\nnew: {new}\nsalt: {}\ncommitment: {}\nlog-index: {index}\n",
        hex::encode(salt),
        hex::encode(commitment)
    ))
}

/// Runs `streha subject rekey`.
pub(crate) fn rekey(profile_path: &Path, args: &SubjectRekeyArgs) -> Result<(), CliError> {
    // The re-key cannot be undone, and the salt exists only in this process: make sure it
    // can be written before asking the node.
    util::check_overwrite(&args.salt_out, false)?;
    let dir = match args.salt_out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut staged = tempfile::Builder::new()
        .prefix(".streha-salt.")
        .permissions(Permissions::from_mode(SECRET_MODE))
        .tempfile_in(&dir)
        .map_err(|e| {
            CliError::usage(format!(
                "cannot create the salt file in {}: {e}; choose a writable --salt-out",
                dir.display()
            ))
        })?;

    let (new, salt, index) = util::block_on(async {
        let client = profile::connect(profile_path).await?;
        let result = client
            .rekey_subject(args.subject)
            .await
            .map_err(|e| from_client("cannot re-key the subject", e));
        client.close().await;
        result
    })??;

    let text = salt_file_text(args.subject, new, &salt, index);
    staged
        .write_all(text.as_bytes())
        .and_then(|()| staged.as_file().sync_all())
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            staged
                .persist_noclobber(&args.salt_out)
                .map(drop)
                .map_err(|e| anyhow::Error::from(e.error))
        })
        .with_context(|| {
            format!(
                "the subject was re-keyed to {new}, but its salt could not be written to {}; \
                 the link between the ids can no longer be opened",
                args.salt_out.display()
            )
        })?;

    if args.json {
        return util::print_json(&json!({
            "old_subject": args.subject.to_string(),
            "subject": new.to_string(),
            "salt_file": args.salt_out.display().to_string(),
            "log_index": index,
        }));
    }
    util::print_lines(&[
        format!("subject: {new}"),
        format!(
            "Re-keyed {} (Art. 18.5); logged at index {index}. The old id is closed; envelopes \
             held for it were deleted. Register representatives (`streha subject \
             add-representative`) and record consents again under the new id.",
            args.subject
        ),
        format!(
            "The salt is in {} (mode 0600): keep it with the agency's protected records; it \
             alone links the two ids.",
            args.salt_out.display()
        ),
    ])
}
