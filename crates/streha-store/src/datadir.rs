//! The data directory around the sled database: created private, locked against a second
//! process, and cleared of what sled leaves behind after a failed start.
//!
//! What lives in a data directory: sled's files (`db`, `conf`, `snap.*`, `blobs/`), the
//! lock file [`LOCK_FILE`], the high-water mark (`high_water`), and the node's key vault.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use crate::StoreError;

/// The lock file: `flock`ed exclusively by the process that has the store open, and naming
/// its process id so that a second one can say who holds it.
pub const LOCK_FILE: &str = "store.lock";

/// sled writes a snapshot to `snap.<lsn>.generating`, syncs it and renames it to
/// `snap.<lsn>`. sled 0.34 mistakes a leftover `.generating` file for a snapshot and reports
/// corruption (a start that failed on a full disk leaves a 0-byte one).
const INCOMPLETE_SNAPSHOT_SUFFIX: &str = ".generating";

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `path` (and missing parents) if it does not exist, the directory itself mode 0700
/// whatever the umask.
pub(crate) fn create_private(path: &Path) -> Result<(), StoreError> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    match DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(io_error(path)(e)),
    }
    // The umask may have taken bits off 0700 (never added any): set it exactly.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(io_error(path))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error(parent))?;
    }
    Ok(())
}

/// The data directory's lock, held while the store is open (released when the process ends,
/// however it ends: `flock` locks belong to the open file).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

/// The process id a lock file names.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Takes the lock of the data directory `dir`, or says who holds it.
pub(crate) fn lock(dir: &Path) -> Result<DirLock, StoreError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io_error(&path))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            return Err(StoreError::InUse {
                path: dir.to_path_buf(),
                pid: holder(&mut file),
            });
        }
        Err(e) => return Err(io_error(&path)(e.into())),
    }
    file.set_len(0)
        .and_then(|()| {
            use std::io::Seek as _;
            file.seek(std::io::SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())
        })
        .map_err(io_error(&path))?;
    Ok(DirLock { _file: file })
}

/// The process id holding the lock of `dir`, if a process holds it (`Some(None)`: held, by
/// a process the file does not name). Takes no lock that outlives the call.
pub(crate) fn lock_holder(dir: &Path) -> Result<Option<Option<u32>>, StoreError> {
    let path = dir.join(LOCK_FILE);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&path)(e)),
    };
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(None),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(Some(holder(&mut file))),
        Err(e) => Err(io_error(&path)(e.into())),
    }
}

/// sled's incomplete snapshots in `dir`.
pub(crate) fn incomplete_snapshots(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut found = Vec::new();
    for item in listing {
        let item = item.map_err(io_error(dir))?;
        let name = item.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(INCOMPLETE_SNAPSHOT_SUFFIX) {
            found.push(item.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Removes sled's incomplete snapshots from `dir` (the caller holds the lock, so no sled is
/// writing one). A `.generating` file is never the only copy of anything: sled renames it
/// into place only once it is complete and synced, and removes the previous snapshot only
/// after that; without the leftover, sled recovers exactly as it would have before it
/// started writing it — from the last complete snapshot and its log.
pub(crate) fn remove_incomplete_snapshots(dir: &Path) -> Result<(), StoreError> {
    let found = incomplete_snapshots(dir)?;
    for path in &found {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        tracing::warn!(
            file = %path.display(),
            bytes = len,
            "removing an incomplete sled snapshot left by an interrupted start or snapshot \
             (typically a full disk); the store is recovered from its log and last complete \
             snapshot, nothing is lost"
        );
        std::fs::remove_file(path).map_err(io_error(path))?;
    }
    if !found.is_empty() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    Ok(())
}

/// Takes group and other permissions off the files and directories sled made in `dir`
/// (created under a permissive umask by an older version, or by a library user): files
/// 0600, directories 0700.
pub(crate) fn restrict_modes(dir: &Path) -> Result<(), StoreError> {
    fn restrict(path: &Path, is_dir: bool) -> Result<(), StoreError> {
        let meta = std::fs::symlink_metadata(path).map_err(io_error(path))?;
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        let mode = meta.permissions().mode() & 0o7777;
        let wanted = if is_dir { 0o700 } else { mode & 0o700 };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))
                .map_err(io_error(path))?;
        }
        Ok(())
    }
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(dir)(e)),
    };
    for item in listing {
        let item = item.map_err(io_error(dir))?;
        let path = item.path();
        let is_dir = item.file_type().map_err(io_error(&path))?.is_dir();
        restrict(&path, is_dir)?;
        if is_dir && item.file_name() == "blobs" {
            for blob in std::fs::read_dir(&path).map_err(io_error(&path))? {
                let blob = blob.map_err(io_error(&path))?;
                match restrict(&blob.path(), false) {
                    // sled removed it meanwhile (blob garbage collection).
                    Err(StoreError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound => {}
                    other => other?,
                }
            }
        }
    }
    Ok(())
}

/// What can be learnt about a data directory without opening the store: for a check that
/// must work beside a running node and change nothing (`strehad --check`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataDirInspection {
    /// Whether the directory exists.
    pub exists: bool,
    /// `Some` if a process holds the store open: the process id its lock file names, if any.
    pub in_use_by: Option<Option<u32>>,
    /// The high-water mark, verified (signature and origin), if one was recorded.
    pub high_water: Option<crate::HighWaterMark>,
    /// sled's incomplete snapshots, which the next open removes.
    pub incomplete_snapshots: Vec<PathBuf>,
    /// Bytes available on the directory's file system (`None` if it does not exist).
    pub available_bytes: Option<u64>,
}

/// Inspects the data directory `dir` of the log `origin` (checkpoints verified with
/// `verifier`) without opening the store and without writing anything: whether a process
/// holds it, its high-water mark, leftovers of a failed start, free space. What it cannot
/// tell without sled: whether the log sled would recover reaches the mark — that is checked
/// when the store is opened ([`Store::open`](crate::Store::open)).
///
/// # Errors
/// [`StoreError::HighWater`] if the mark is damaged or not this log's; an IO error.
pub fn inspect(
    dir: &Path,
    origin: &str,
    verifier: &streha_audit::NoteVerifier,
) -> Result<DataDirInspection, StoreError> {
    if !dir.exists() {
        return Ok(DataDirInspection {
            exists: false,
            in_use_by: None,
            high_water: None,
            incomplete_snapshots: Vec::new(),
            available_bytes: None,
        });
    }
    Ok(DataDirInspection {
        exists: true,
        in_use_by: lock_holder(dir)?,
        high_water: crate::high_water::read(&dir.join(crate::HIGH_WATER_FILE), origin, verifier)?,
        incomplete_snapshots: incomplete_snapshots(dir)?,
        available_bytes: available_bytes(dir).ok(),
    })
}

/// Bytes available to unprivileged users on the file system holding `dir`.
pub(crate) fn available_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_the_first_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        assert_eq!(
            lock_holder(dir.path()).unwrap(),
            Some(Some(std::process::id()))
        );
        match lock(dir.path()) {
            Err(StoreError::InUse { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(first);
        assert_eq!(lock_holder(dir.path()).unwrap(), None);
        lock(dir.path()).unwrap();
    }

    #[test]
    fn a_created_directory_is_private_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b/data");
        create_private(&data).unwrap();
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn modes_are_restricted_and_incomplete_snapshots_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"x").unwrap();
        std::fs::set_permissions(
            dir.path().join("db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::write(dir.path().join("blobs/1"), b"x").unwrap();
        std::fs::set_permissions(
            dir.path().join("blobs/1"),
            std::fs::Permissions::from_mode(0o664),
        )
        .unwrap();
        std::fs::write(dir.path().join("snap.00000000000000AB.generating"), b"").unwrap();
        std::fs::write(dir.path().join("snap.00000000000000AA"), b"keep").unwrap();

        restrict_modes(dir.path()).unwrap();
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("db"), 0o600);
        assert_eq!(mode("blobs"), 0o700);
        assert_eq!(mode("blobs/1"), 0o600);

        assert_eq!(incomplete_snapshots(dir.path()).unwrap().len(), 1);
        remove_incomplete_snapshots(dir.path()).unwrap();
        assert!(incomplete_snapshots(dir.path()).unwrap().is_empty());
        assert!(dir.path().join("snap.00000000000000AA").exists());
    }
}
