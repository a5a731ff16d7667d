//! `strehad --check`: a dry run that validates what the node would start with — the
//! configuration, the keys, the roster, the data directory — without opening the store,
//! binding a port or writing anything, so that it can run beside a live node (before a
//! `SIGHUP`, or as the supervisor's pre-start check). The start runs the same checks.
//!
//! What it does not check, and why: the store itself. sled has no read-only mode (opening
//! runs its recovery, which writes), and a live node holds it locked; so the comparison of
//! the log with its high-water mark, and of the key vault with the store's records, happen
//! when the node starts (exit code 4 if they fail). Nor whether the ports are free (a live
//! node holds them); a port in use stops the start with exit code 2 before anything is
//! created.

use std::path::Path;

use streha_audit::NoteSigner;
use streha_store::KeyVault;
use streha_wire::Roster;

use crate::config::NodeConfig;
use crate::server::{StartError, VAULT_FILE};

/// What the roster says about this node, once checked.
pub(crate) struct Identity {
    pub(crate) roster: Roster,
    pub(crate) note: String,
    pub(crate) origin: String,
    pub(crate) signer: NoteSigner,
}

/// The roster in force at start (the roster file, or the newer one kept in the data
/// directory) is signed by the roster key and lists this agency with this node's key; its
/// log origin is a valid key name.
pub(crate) fn identity(config: &NodeConfig) -> Result<Identity, StartError> {
    // The configured roster file, or the roster kept in the data directory if a newer one
    // was adopted since (from a peer): read only.
    let (roster, note) =
        crate::roster::choose_at_start(&config.roster_path, &config.data_dir, &config.roster_key)?;
    let own = roster
        .agency(&config.agency)
        .cloned()
        .ok_or_else(|| StartError::Identity {
            field: "agency",
            problem: format!(
                "agency `{}` is not in the roster (version {}); ask the national authority to add it",
                config.agency,
                roster.version()
            ),
        })?;
    if own.node_key != config.node_key.public_key() {
        return Err(StartError::Identity {
            field: "node_key",
            problem: format!(
                "the node key (fingerprint {}) is not the node key of `{}` in the roster ({})",
                config.node_key.fingerprint().short(),
                config.agency,
                own.node_key.fingerprint().short()
            ),
        });
    }
    let origin = own.log_origin(roster.federation());
    let signer = NoteSigner::new(&origin, config.node_key.as_dalek().clone()).map_err(|e| {
        StartError::Roster(format!(
            "the log origin `{origin}` is not a valid key name: {e}"
        ))
    })?;
    Ok(Identity {
        roster,
        note,
        origin,
        signer,
    })
}

/// An existing data directory must be a directory of the user running the node, with no
/// group or other permission (it holds the audit log, the queue, the inbox and the key
/// vault). A missing one is created mode 0700 by the store.
pub(crate) fn data_dir_permissions(path: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StartError::DataDir(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    if !meta.is_dir() {
        return Err(StartError::DataDir(format!(
            "{} is not a directory",
            path.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(StartError::DataDir(format!(
            "{} is accessible by other users (mode {mode:o}); it holds the audit log and the key vault: run `chmod 700 {}`",
            path.display(),
            path.display()
        )));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(StartError::DataDir(format!(
            "{} is owned by uid {}, not by uid {me} that runs strehad: run `chown -R {me} {}` or run strehad as its owner",
            path.display(),
            meta.uid(),
            path.display()
        )));
    }
    Ok(())
}

/// Runs the dry run; returns the lines to print. Changes nothing.
pub(crate) fn run(config: &NodeConfig) -> Result<Vec<String>, StartError> {
    let mut lines = Vec::new();
    let identity = identity(config)?;
    lines.push(format!(
        "roster: version {} of `{}`, signed by the roster key; lists `{}` with this node's key ({})",
        identity.roster.version(),
        identity.roster.federation(),
        config.agency,
        config.node_key.fingerprint().short()
    ));
    let others = identity
        .roster
        .agencies()
        .iter()
        .filter(|agency| agency.id != config.agency)
        .count();
    if config.witness.quorum > others {
        // The same warning as at start and on every roster reload (`witness`).
        tracing::warn!(
            quorum = config.witness.quorum,
            other_agencies = others,
            roster_version = identity.roster.version(),
            "`witness.quorum` is larger than the number of other agencies in the roster: no checkpoint can be published until the roster lists enough of them or the quorum is lowered"
        );
    }
    data_dir_permissions(&config.data_dir)?;
    let dir = &config.data_dir;
    // The log may be in a later epoch (`spec/audit-log.md` §9): the mark names it.
    let origin = crate::recovery::current_origin(dir, &identity.origin);
    let verifier =
        streha_audit::NoteVerifier::new(&origin, *config.node_key.public_key().as_dalek())
            .map_err(|e| StartError::DataDir(format!("the log origin `{origin}`: {e}")))?;
    let inspection = streha_store::inspect(dir, &origin, &verifier)?;
    if !inspection.exists {
        lines.push(format!(
            "data_dir: {} does not exist yet; the first start creates it (mode 0700)",
            dir.display()
        ));
        return Ok(lines);
    }
    lines.push(format!(
        "data_dir: {} is private to this user; {}",
        dir.display(),
        match inspection.in_use_by {
            Some(Some(pid)) => format!("in use by a running strehad (pid {pid})"),
            Some(None) => "in use by a running strehad".to_owned(),
            None => "not in use".to_owned(),
        }
    ));
    lines.push(match &inspection.high_water {
        Some(mark) => format!(
            "high-water mark: size {}, signed by this node's key for `{}` (the store must reach it at start)",
            mark.size, origin
        ),
        None => "high-water mark: none recorded yet".to_owned(),
    });
    match KeyVault::inspect(dir.join(VAULT_FILE))? {
        None => lines.push("key vault: none yet".to_owned()),
        Some(summary) => {
            lines.push(format!("key vault: {} keys", summary.keys));
            if summary.damaged_slots > 0 || summary.partial_tail_bytes > 0 {
                lines.push(format!(
                    "warning: the key vault has {} slot(s) that do not check and a partial slot of {} bytes at its end; the start refuses it if the store relies on a key among them",
                    summary.damaged_slots, summary.partial_tail_bytes
                ));
            }
        }
    }
    for leftover in &inspection.incomplete_snapshots {
        lines.push(format!(
            "note: {} is an incomplete sled snapshot (an interrupted start, typically on a full disk); the next start removes it",
            leftover.display()
        ));
    }
    if let Some(available) = inspection.available_bytes {
        let reserve = config.limits.disk_reserve_bytes;
        if available < reserve {
            lines.push(format!(
                "warning: {available} bytes free on the data directory's file system, below `limits.disk_reserve_bytes` ({reserve}): the node will refuse new disclosures and deliveries"
            ));
        } else {
            lines.push(format!("free space: {available} bytes (reserve {reserve})"));
        }
    }
    lines.push(
        "not checked here: the store itself (sled cannot open it read-only; the start compares its log with the high-water mark and the key vault with its records) and whether the ports are free"
            .to_owned(),
    );
    Ok(lines)
}
