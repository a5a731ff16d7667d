//! `streha admin backup` and `streha admin restore` (`spec/protocol.md` §13).

use anyhow::anyhow;
use streha_node::admin::{self, AdminError};

use crate::cli::{AdminBackupArgs, AdminRecoverArgs, AdminRestoreArgs};
use crate::error::CliError;

fn sorted(error: AdminError) -> CliError {
    match error {
        AdminError::NotRunning { .. } => CliError::usage(error.to_string()),
        AdminError::Refused(message) => CliError::Failure(anyhow!("the node refused: {message}")),
        AdminError::Store(streha_store_error) => CliError::Failure(anyhow!("{streha_store_error}")),
        other => CliError::Failure(anyhow!("{other}")),
    }
}

/// `streha admin backup`.
pub(crate) fn backup(args: &AdminBackupArgs) -> Result<(), CliError> {
    if !args.data_dir.is_dir() {
        return Err(CliError::usage(format!(
            "--data-dir {}: no such directory",
            args.data_dir.display()
        )));
    }
    let report =
        admin::request_backup(&args.data_dir, &args.out, &args.vault_out).map_err(sorted)?;
    if args.json {
        return crate::util::print_json(&serde_json::json!({
            "origin": report.origin,
            "size": report.size,
            "checkpoint": report.checkpoint,
            "keys": report.keys,
            "out": report.out,
            "vault_out": report.vault_out,
            "epoch_bundles": report.epoch_bundles,
        }));
    }
    let epochs = if report.epoch_bundles.is_empty() {
        String::new()
    } else {
        format!(
            ", with the bundles of the log's earlier epochs ({})",
            report.epoch_bundles.join(", ")
        )
    };
    crate::util::print_lines(&[
        format!(
            "backup of log `{}` at size {} written to {}{epochs}",
            report.origin,
            report.size,
            report.out.display()
        ),
        format!(
            "key vault ({} keys) written to {}: keep it on other storage, and delete it once a newer one exists (restoring it undoes later re-keyings)",
            report.keys,
            report.vault_out.display()
        ),
    ])
}

/// `streha admin restore`.
pub(crate) fn restore(args: &AdminRestoreArgs) -> Result<(), CliError> {
    for (flag, path) in [
        ("--backup", &args.backup),
        ("--vault-backup", &args.vault_backup),
    ] {
        if !path.is_file() {
            return Err(CliError::usage(format!(
                "{flag} {}: no such file",
                path.display()
            )));
        }
    }
    let report =
        admin::restore(&args.backup, &args.vault_backup, &args.data_dir).map_err(sorted)?;
    if args.json {
        return crate::util::print_json(&serde_json::json!({
            "origin": report.origin,
            "size": report.size,
            "keys": report.keys,
            "data_dir": args.data_dir,
            "recovery_mode": true,
        }));
    }
    crate::util::print_lines(&[
        format!(
            "restored log `{}` at size {} and {} data keys into {}",
            report.origin,
            report.size,
            report.keys,
            args.data_dir.display()
        ),
        "the node started on it is in recovery mode until its peers say what they cosigned of its log (see its log and /health); re-key again every subject re-keyed after the backup".to_owned(),
    ])
}

/// `streha admin recover --accept-loss`.
pub(crate) fn recover(args: &AdminRecoverArgs) -> Result<(), CliError> {
    if !args.accept_loss {
        return Err(CliError::usage(
            "--accept-loss is required: the lost entries are declared lost for good (see --help)",
        ));
    }
    if !args.data_dir.is_dir() {
        return Err(CliError::usage(format!(
            "--data-dir {}: no such directory",
            args.data_dir.display()
        )));
    }
    let report = admin::request_recover(&args.data_dir).map_err(sorted)?;
    if args.json {
        return crate::util::print_json(&serde_json::json!({
            "previous_origin": report.previous_origin,
            "origin": report.origin,
            "restored": report.restored,
            "proven": report.proven,
            "proven_by": report.proven_by,
            "bundle": report.bundle,
        }));
    }
    crate::util::print_lines(&[
        format!(
            "entries {}..{} of `{}` declared lost (proven by `{}`); the log continues as `{}`, the node restarts",
            report.restored, report.proven, report.previous_origin, report.proven_by, report.origin
        ),
        format!(
            "the restored log's bundle is kept at {}: export it beside the new epoch's",
            report.bundle.display()
        ),
    ])
}
