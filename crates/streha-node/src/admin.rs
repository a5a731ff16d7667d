//! The node's local admin channel, and backup and restore (`spec/protocol.md` §13).
//!
//! A running node holds its store's lock, so a consistent online backup is made by the node
//! itself: it listens on a Unix socket, [`ADMIN_SOCKET`], inside its data directory (mode
//! 0700: whoever can reach the socket can read the data directory anyway, so it needs no
//! other authentication). One request, one answer, each one line of JSON. The only command
//! is `backup`: the store is written as a logical backup (`Store::backup_to`) while no
//! batch is applied, and the key vault is snapshotted at that same moment and written to a
//! file of its own, to be kept elsewhere and for less long (it can undo shredding).
//!
//! [`restore`] writes a new data directory from the two files, marked restored
//! ([`RESTORED_FILE`](crate::recovery::RESTORED_FILE)), so that the node starts in recovery
//! mode (`recovery`).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::recovery::RESTORED_FILE;
use crate::server::VAULT_FILE;
use crate::shared::Shared;

/// The admin socket, in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";
/// The longest admin request line.
pub const MAX_ADMIN_REQUEST_BYTES: usize = 8 * 1024;
/// How long an admin client may take to send its request.
pub const ADMIN_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Admin connections served at once; more are answered "busy".
pub const MAX_ADMIN_CONNECTIONS: usize = 2;
/// How long `streha admin backup` waits for the node's answer (a backup reads the whole
/// store).
pub const ADMIN_ANSWER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// An admin request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
enum Request {
    /// Back up the store to `out` and the key vault to `vault_out` (absolute paths, new
    /// files, outside the data directory).
    Backup { out: PathBuf, vault_out: PathBuf },
    /// Continue after the loss recovery proved, declaring it in a new log epoch
    /// (`spec/protocol.md` §13). `accept_loss` must be true: the operator confirms.
    Recover { accept_loss: bool },
}

/// The answer to an admin request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
enum Answer {
    Backup(BackupReport),
    Recover(crate::recovery::RecoverReport),
    Error { message: String },
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupReport {
    /// The log's origin.
    pub origin: String,
    /// The log's size in the backup.
    pub size: u64,
    /// The backup's last checkpoint (signed note), if the log is not empty.
    pub checkpoint: Option<String>,
    /// Keys in the vault backup.
    pub keys: usize,
    /// The store backup file.
    pub out: PathBuf,
    /// The vault backup file.
    pub vault_out: PathBuf,
    /// The kept bundles of the log's earlier epochs carried in the store backup
    /// (`epochs/<n>.bundle`, restored beside the store).
    #[serde(default)]
    pub epoch_bundles: Vec<String>,
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No node answers on the data directory's admin socket.
    #[error(
        "no node is running on {data_dir} (no admin socket answers at {socket}): start the node, or check --data-dir"
    )]
    NotRunning {
        /// The data directory.
        data_dir: PathBuf,
        /// The socket path tried.
        socket: PathBuf,
    },
    /// The request was refused or failed at the node.
    #[error("the node refused: {0}")]
    Refused(String),
    /// A local file or the connection failed.
    #[error("{0}")]
    Io(String),
    /// The store or vault backup is not usable, or the target not empty.
    #[error("{0}")]
    Store(#[from] streha_store::StoreError),
}

/// Binds the admin socket (a stale one is removed: the caller holds the store's lock, so
/// no other node uses this directory).
pub(crate) fn bind(data_dir: &Path) -> std::io::Result<tokio::net::UnixListener> {
    let path = data_dir.join(ADMIN_SOCKET);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    tokio::net::UnixListener::bind(&path)
}

/// Serves admin requests until shutdown.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::UnixListener,
    data_dir: PathBuf,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_ADMIN_CONNECTIONS));
    let backup_lock = Arc::new(tokio::sync::Mutex::new(()));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            let _ = stream
                .write_all(&line(&Answer::Error {
                    message: "busy: another admin request is being served; retry".into(),
                }))
                .await;
            continue;
        };
        let (shared, data_dir, backup_lock) = (
            Arc::clone(&shared),
            data_dir.clone(),
            Arc::clone(&backup_lock),
        );
        tokio::spawn(async move {
            let _permit = permit;
            let (read, mut write) = stream.split();
            let mut reader = tokio::io::BufReader::new(read.take(MAX_ADMIN_REQUEST_BYTES as u64));
            let mut request = String::new();
            let answer = match tokio::time::timeout(
                ADMIN_READ_TIMEOUT,
                reader.read_line(&mut request),
            )
            .await
            {
                Err(_) => Answer::Error {
                    message: "no request within the deadline".into(),
                },
                Ok(Err(e)) => Answer::Error {
                    message: format!("cannot read the request: {e}"),
                },
                Ok(Ok(_)) if !request.ends_with('\n') => Answer::Error {
                    message: format!(
                        "the request is not one line of at most {MAX_ADMIN_REQUEST_BYTES} bytes"
                    ),
                },
                Ok(Ok(_)) => match serde_json::from_str::<Request>(&request) {
                    Err(e) => Answer::Error {
                        message: format!("not an admin request: {e}"),
                    },
                    Ok(Request::Backup { out, vault_out }) => {
                        let _one = backup_lock.lock().await;
                        let shared = Arc::clone(&shared);
                        tokio::task::spawn_blocking(move || {
                            backup(&shared, &data_dir, &out, &vault_out)
                        })
                        .await
                        .unwrap_or_else(|e| Err(format!("the backup task failed: {e}")))
                        .map_or_else(|message| Answer::Error { message }, Answer::Backup)
                    }
                    Ok(Request::Recover { accept_loss: false }) => Answer::Error {
                        message: "recover needs the operator's confirmation: --accept-loss".into(),
                    },
                    Ok(Request::Recover { accept_loss: true }) => {
                        let _one = backup_lock.lock().await;
                        let shared = Arc::clone(&shared);
                        tokio::task::spawn_blocking(move || {
                            crate::recovery::accept_loss(&shared, &data_dir)
                        })
                        .await
                        .unwrap_or_else(|e| Err(format!("the recover task failed: {e}")))
                        .map_or_else(|message| Answer::Error { message }, Answer::Recover)
                    }
                },
            };
            if let Answer::Error { message } = &answer {
                tracing::warn!(%message, "admin request failed");
            }
            let _ = write.write_all(&line(&answer)).await;
        });
    }
    // A stopped node leaves no socket behind (a copy of its directory is only data).
    let _ = std::fs::remove_file(data_dir.join(ADMIN_SOCKET));
}

fn line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    bytes.push(b'\n');
    bytes
}

/// Checks a backup destination: absolute, not inside the data directory, not existing.
fn destination(data_dir: &Path, path: &Path, what: &str) -> Result<(), String> {
    if !path.is_absolute() {
        return Err(format!("the {what} path must be absolute"));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("the directory of the {what} ({}): {e}", dir.display()))?;
    let data = data_dir.canonicalize().unwrap_or_else(|_| data_dir.into());
    if dir.starts_with(&data) {
        return Err(format!(
            "the {what} must not be inside the data directory: keep it on other storage"
        ));
    }
    if path.exists() {
        return Err(format!(
            "{} exists already; choose a new file name",
            path.display()
        ));
    }
    Ok(())
}

/// Takes a backup (on a blocking thread).
fn backup(
    shared: &Shared,
    data_dir: &Path,
    out: &Path,
    vault_out: &Path,
) -> Result<BackupReport, String> {
    destination(data_dir, out, "store backup")?;
    destination(data_dir, vault_out, "vault backup")?;
    if out == vault_out {
        return Err("the store and the vault backups must be two files".into());
    }
    let roster = std::fs::read(data_dir.join(crate::roster::KEPT_ROSTER_FILE)).ok();
    // Read under the admin lock, which a loss being accepted holds too: no bundle is being
    // written meanwhile.
    let epochs = epoch_bundles(data_dir)?;
    let files: Vec<(&str, &[u8])> = roster
        .as_deref()
        .map(|bytes| (crate::roster::KEPT_ROSTER_FILE, bytes))
        .into_iter()
        .chain(
            epochs
                .iter()
                .map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
        )
        .collect();
    let mut vault: Option<Zeroizing<Vec<u8>>> = None;
    let summary = shared
        .store
        .backup_to(out, &files, &mut || vault = Some(shared.vault.snapshot()))
        .map_err(|e| e.to_string())?;
    let vault = vault.ok_or("the vault was not snapshotted")?;
    let keys = streha_store::KeyVault::check_snapshot(vault_out, &vault)
        .and_then(|keys| write_private(vault_out, &vault).map(|()| keys))
        .inspect_err(|_| {
            // A store backup without its vault restores nothing readable: take none.
            let _ = std::fs::remove_file(out);
        })
        .map_err(|e| e.to_string())?;
    tracing::info!(size = summary.size, keys, out = %out.display(), vault_out = %vault_out.display(), "backup written");
    Ok(BackupReport {
        origin: summary.origin,
        size: summary.size,
        checkpoint: summary.checkpoint,
        keys,
        out: out.to_path_buf(),
        vault_out: vault_out.to_path_buf(),
        epoch_bundles: epochs.into_iter().map(|(name, _)| name).collect(),
    })
}

/// The kept bundles of the log's earlier epochs (`DATA_DIR/epochs/<n>.bundle`, written when
/// an operator accepted a loss), by their name in the data directory, in epoch order. A
/// backup carries them: a node in epoch n+1 restored without them would have lost the only
/// copy of its earlier epochs' logs that it keeps.
fn epoch_bundles(data_dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = data_dir.join(crate::recovery::EPOCHS_DIR);
    let listing = match std::fs::read_dir(&dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    let mut bundles = Vec::new();
    for item in listing {
        let item = item.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = item.file_name();
        // `<n>.bundle`, n an epoch; anything else (a temporary file of a write cut short)
        // is not a kept bundle.
        let Some(epoch) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".bundle"))
            .filter(|n| !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let bytes = std::fs::read(item.path())
            .map_err(|e| format!("cannot read {}: {e}", item.path().display()))?;
        bundles.push((epoch, bytes));
    }
    bundles.sort_by_key(|(epoch, _)| *epoch);
    Ok(bundles
        .into_iter()
        .map(|(epoch, bytes)| {
            (
                format!("{}/{epoch}.bundle", crate::recovery::EPOCHS_DIR),
                bytes,
            )
        })
        .collect())
}

/// Writes a new file (mode 0600) beside `path`, synced, and renames it into place without
/// replacing anything.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), streha_store::StoreError> {
    let io = |source| streha_store::StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut temp = tempfile::Builder::new()
        .prefix(".streha-vault-backup-")
        .tempfile_in(dir)
        .map_err(io)?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(io)?;
    temp.persist_noclobber(path).map_err(|e| io(e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

/// Asks the node running on `data_dir` for a backup (`streha admin backup`). Blocks.
///
/// # Errors
/// [`AdminError::NotRunning`] if no node answers; [`AdminError::Refused`] with the node's
/// reason; [`AdminError::Io`] if the connection fails.
pub fn request_backup(
    data_dir: &Path,
    out: &Path,
    vault_out: &Path,
) -> Result<BackupReport, AdminError> {
    let absolute = |p: &Path| -> Result<PathBuf, AdminError> {
        std::path::absolute(p).map_err(|e| AdminError::Io(format!("{}: {e}", p.display())))
    };
    let request = Request::Backup {
        out: absolute(out)?,
        vault_out: absolute(vault_out)?,
    };
    match ask(data_dir, &request)? {
        Answer::Backup(report) => Ok(report),
        Answer::Error { message } => Err(AdminError::Refused(message)),
        Answer::Recover(_) => Err(AdminError::Io("the node answered another request".into())),
    }
}

/// Asks the node running on `data_dir` to continue after the loss its recovery proved
/// (`streha admin recover --accept-loss`): it declares the loss in a new log epoch and
/// restarts. Blocks.
///
/// # Errors
/// As [`request_backup`]; [`AdminError::Refused`] if the node is not in recovery mode with
/// a proven loss.
pub fn request_recover(data_dir: &Path) -> Result<crate::recovery::RecoverReport, AdminError> {
    match ask(data_dir, &Request::Recover { accept_loss: true })? {
        Answer::Recover(report) => Ok(report),
        Answer::Error { message } => Err(AdminError::Refused(message)),
        Answer::Backup(_) => Err(AdminError::Io("the node answered another request".into())),
    }
}

/// Sends one request to the node's admin socket and reads its answer.
fn ask(data_dir: &Path, request: &Request) -> Result<Answer, AdminError> {
    let socket = data_dir.join(ADMIN_SOCKET);
    let not_running = || AdminError::NotRunning {
        data_dir: data_dir.to_path_buf(),
        socket: socket.clone(),
    };
    let mut stream =
        std::os::unix::net::UnixStream::connect(&socket).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => not_running(),
            _ => AdminError::Io(format!(
                "cannot reach the node at {}: {e}",
                socket.display()
            )),
        })?;
    let io = |e: std::io::Error| AdminError::Io(format!("admin connection: {e}"));
    stream
        .set_read_timeout(Some(ADMIN_ANSWER_TIMEOUT))
        .map_err(io)?;
    stream.write_all(&line(request)).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(stream.try_clone().map_err(io)?.take(1024 * 1024))
        .read_line(&mut answer)
        .map_err(io)?;
    serde_json::from_str::<Answer>(&answer)
        .map_err(|e| AdminError::Io(format!("the node's answer is not understood: {e}")))
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The log's origin.
    pub origin: String,
    /// The log's size restored.
    pub size: u64,
    /// Keys restored into the vault.
    pub keys: usize,
}

/// Writes a new data directory `data_dir` (which must not exist or be empty) from a store
/// backup and its vault backup, marked restored so that the node starts in recovery mode
/// (`streha admin restore`). Nothing is written unless both files check.
///
/// # Errors
/// [`AdminError::Store`] if a backup is damaged or the directory not empty;
/// [`AdminError::Io`] if the vault backup cannot be read.
pub fn restore(
    backup: &Path,
    vault_backup: &Path,
    data_dir: &Path,
) -> Result<RestoreReport, AdminError> {
    let vault = std::fs::read(vault_backup)
        .map(Zeroizing::new)
        .map_err(|e| AdminError::Io(format!("cannot read {}: {e}", vault_backup.display())))?;
    let keys = streha_store::KeyVault::check_snapshot(vault_backup, &vault)?;
    let summary = streha_store::inspect_backup(backup)?;
    let marker = summary.checkpoint.clone().unwrap_or_default();
    let restored = streha_store::Store::restore_from(
        backup,
        data_dir,
        &[
            (VAULT_FILE, vault.as_slice()),
            (RESTORED_FILE, marker.as_bytes()),
        ],
    )?;
    Ok(RestoreReport {
        origin: restored.origin,
        size: restored.size,
        keys,
    })
}
