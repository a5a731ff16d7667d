//! Logical backups of a store, taken online, and their restore into a new directory.
//!
//! A backup is the store's own iteration written as records, not a copy of sled's files:
//! it does not depend on sled's format and it is consistent, because it is read while the
//! store's gate is held shared (no batch is applied, or half durable, meanwhile). It holds
//! the origin, the last checkpoint (which becomes the restored store's high-water mark),
//! every entry, every checkpoint and every state pair; the Merkle nodes are recomputed on
//! restore, and the recomputed root must match the last checkpoint's.
//!
//! ```text
//! file   = MAGIC (16) ‖ record* ‖ end
//! record = kind (1) ‖ key_len (4, BE) ‖ value_len (4, BE) ‖ key ‖ value
//! kinds  : 1 origin (value)  2 head (key: size; value: checkpoint note, empty at size 0)
//!          3 entry (key: index)  4 checkpoint (key: size)  5 state (key, value)
//!          6 file (key: a file name in the data directory; value: its bytes)
//! end    = 0xff ‖ 0 (4) ‖ 32 (4) ‖ BLAKE3(every byte before `end`)
//! ```
//!
//! A backup is written to a temporary file beside its destination, synced and renamed into
//! place; a restore writes a new directory beside the target, syncs it and renames it into
//! place, so both appear complete or not at all.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use streha_audit::{Checkpoint, CheckpointError, Frontier, SignedNote, leaf_hash};

use super::{META_CHECKPOINT, META_ORIGIN, META_SIZE, Store};
use crate::StoreError;
use crate::nodes::node_key;

const MAGIC: &[u8; 16] = b"streha-backup-1\n";
const ORIGIN: u8 = 1;
const HEAD: u8 = 2;
const ENTRY: u8 = 3;
const CHECKPOINT: u8 = 4;
const STATE: u8 = 5;
const FILE: u8 = 6;
const END: u8 = 0xff;

/// The longest key of a backup record.
pub const MAX_BACKUP_KEY_LEN: usize = 64 * 1024;
/// The longest value of a backup record (a state value or a file; entries are bounded by
/// [`crate::MAX_ENTRY_LEN`]).
pub const MAX_BACKUP_VALUE_LEN: usize = 64 * 1024 * 1024;
/// The longest name of a file carried in a backup.
const MAX_FILE_NAME_LEN: usize = 255;

/// What a backup holds, or what a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupSummary {
    /// The log's origin.
    pub origin: String,
    /// The tree size at the backup.
    pub size: u64,
    /// The last checkpoint at the backup (signed note), `None` for an empty log.
    pub checkpoint: Option<String>,
    /// Entries, checkpoints and state pairs written.
    pub records: u64,
    /// The names of the extra files carried (see [`Store::backup_to`]).
    pub files: Vec<String>,
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> HashingWriter<W> {
    fn record(&mut self, kind: u8, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        let mut header = [0u8; 9];
        header[0] = kind;
        header[1..5].copy_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_be_bytes());
        header[5..9].copy_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes());
        for part in [&header[..], key, value] {
            self.hasher.update(part);
            self.inner.write_all(part)?;
        }
        Ok(())
    }
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn bad(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::BadBackup {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_LEN
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0')
}

impl Store {
    /// Writes a consistent backup of the whole store to `dest` (a new file, mode 0600;
    /// an existing one is refused), with the `files` given (name in the data directory,
    /// bytes) carried along to be restored beside the store. Holds the store's gate shared
    /// meanwhile, so commits wait until it is done, and readers do not; `while_held` is
    /// called once while it is held, for a snapshot of what must be consistent with the
    /// store (a node's key vault).
    ///
    /// # Errors
    /// [`StoreError::Io`] if `dest` exists or cannot be written and synced;
    /// [`StoreError::BadBackup`] for a file name that is not a plain name; a database
    /// error.
    pub fn backup_to(
        &self,
        dest: &Path,
        files: &[(&str, &[u8])],
        while_held: &mut dyn FnMut(),
    ) -> Result<BackupSummary, StoreError> {
        let io = |source| StoreError::Io {
            path: dest.to_path_buf(),
            source,
        };
        if let Some((name, _)) = files.iter().find(|(name, _)| !is_plain_name(name)) {
            return Err(bad(dest, format!("`{name}` is not a file name")));
        }
        if dest.exists() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the backup file exists already; choose a new name",
            )));
        }
        let dir = parent_of(dest);
        let temp = tempfile::Builder::new()
            .prefix(".streha-backup-")
            .tempfile_in(&dir)
            .map_err(io)?;
        let mut out = HashingWriter {
            inner: BufWriter::new(temp.as_file()),
            hasher: blake3::Hasher::new(),
        };
        out.hasher.update(MAGIC);
        out.inner.write_all(MAGIC).map_err(io)?;
        let summary = {
            let _gate = self.readable()?;
            while_held();
            self.write_records(&mut out, files)
                .map_err(|e| e.into_store_error(dest))?
        };
        let digest = out.hasher.finalize();
        let mut end = [0u8; 9];
        end[0] = END;
        end[5..9].copy_from_slice(&32u32.to_be_bytes());
        out.inner.write_all(&end).map_err(io)?;
        out.inner.write_all(digest.as_bytes()).map_err(io)?;
        out.inner.flush().map_err(io)?;
        drop(out);
        temp.as_file().sync_all().map_err(io)?;
        temp.persist_noclobber(dest).map_err(|e| io(e.error))?;
        sync_dir(&dir).map_err(io)?;
        Ok(summary)
    }

    /// Writes every record; the caller holds the gate.
    fn write_records<W: Write>(
        &self,
        out: &mut HashingWriter<W>,
        files: &[(&str, &[u8])],
    ) -> Result<BackupSummary, RecordError> {
        let size = match self.meta.get(META_SIZE)? {
            None => 0,
            Some(bytes) => u64::from_be_bytes(
                bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| RecordError::Corrupt("the stored size is not 8 bytes".into()))?,
            ),
        };
        let checkpoint = self
            .meta
            .get(META_CHECKPOINT)?
            .map(|bytes| String::from_utf8(bytes.to_vec()))
            .transpose()
            .map_err(|_| RecordError::Corrupt("the last checkpoint is not UTF-8".into()))?;
        out.record(ORIGIN, &[], self.origin.as_bytes())?;
        out.record(
            HEAD,
            &size.to_be_bytes(),
            checkpoint.as_deref().unwrap_or("").as_bytes(),
        )?;
        let mut records = 0u64;
        for index in 0..size {
            let entry = self
                .entries
                .get(index.to_be_bytes())?
                .ok_or_else(|| RecordError::Corrupt(format!("entry {index} is missing")))?;
            out.record(ENTRY, &index.to_be_bytes(), &entry)?;
            records += 1;
        }
        for item in self.checkpoints.iter() {
            let (key, value) = item?;
            out.record(CHECKPOINT, &key, &value)?;
            records += 1;
        }
        for item in self.state.iter() {
            let (key, value) = item?;
            out.record(STATE, &key, &value)?;
            records += 1;
        }
        for (name, bytes) in files {
            out.record(FILE, name.as_bytes(), bytes)?;
        }
        Ok(BackupSummary {
            origin: self.origin.clone(),
            size,
            checkpoint,
            records,
            files: files.iter().map(|(name, _)| (*name).to_owned()).collect(),
        })
    }

    /// Restores the backup at `backup` into `dir`, which must not exist or be empty: the
    /// whole backup is read and checked first (checksum, order, the recomputed root against
    /// the last checkpoint), then written into a new directory beside `dir`, synced, and
    /// renamed into place, with the high-water mark of the backup's last checkpoint and the
    /// backup's files, and then the `extra` files given. The restored store is opened by
    /// [`Store::open`] as any other; the checkpoint's signature is checked there, against
    /// the node's key.
    ///
    /// # Errors
    /// [`StoreError::BadBackup`] if the backup is damaged, truncated or not a backup;
    /// [`StoreError::Io`] if `dir` is not empty or cannot be written; a database error.
    pub fn restore_from(
        backup: &Path,
        dir: &Path,
        extra: &[(&str, &[u8])],
    ) -> Result<BackupSummary, StoreError> {
        let summary = read_backup(backup, None)?;
        if let Some((name, _)) = extra.iter().find(|(name, _)| !is_plain_name(name)) {
            return Err(bad(backup, format!("`{name}` is not a file name")));
        }
        let dir_io = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        match std::fs::read_dir(dir) {
            Ok(mut listing) => {
                if listing.next().is_some() {
                    return Err(dir_io(std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "the directory to restore into is not empty; restore into a new one",
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(dir_io(e)),
        }
        let parent = parent_of(dir);
        let temp = tempfile::Builder::new()
            .prefix(".streha-restore-")
            .tempdir_in(&parent)
            .map_err(dir_io)?;
        let target = temp.path().to_path_buf();
        {
            use std::os::unix::fs::PermissionsExt as _;
            // Private whatever the umask: it will hold the log and the key vault.
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700))
                .map_err(dir_io)?;
        }
        {
            let db = sled::Config::new().path(&target).open().map_err(|source| {
                StoreError::Database {
                    path: target.clone(),
                    source,
                }
            })?;
            let sink = Sink::open(&db).map_err(|source| StoreError::Database {
                path: target.clone(),
                source,
            })?;
            read_backup(backup, Some((&sink, &target)))?;
            sink.finish(&summary)
                .map_err(|source| StoreError::Database {
                    path: target.clone(),
                    source,
                })?;
            db.flush().map_err(|source| StoreError::Database {
                path: target.clone(),
                source,
            })?;
        }
        if let Some(note) = &summary.checkpoint {
            let mut mark = crate::high_water::HighWater::open(
                &target.join(crate::high_water::HIGH_WATER_FILE),
                None,
            )?;
            mark.record(note)?;
        }
        for (name, bytes) in extra {
            write_new(&target.join(name), bytes)?;
        }
        crate::durability::Durability::open(&target)?.sync()?;
        sync_dir(&target).map_err(dir_io)?;
        let kept = temp.keep();
        if dir.exists() {
            std::fs::remove_dir(dir).map_err(dir_io)?;
        }
        std::fs::rename(&kept, dir).map_err(dir_io)?;
        sync_dir(&parent).map_err(dir_io)?;
        Ok(summary)
    }
}

/// Writes a new file of `bytes`, mode 0600, synced.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io)
}

/// Why records could not be written.
enum RecordError {
    Io(std::io::Error),
    Db(sled::Error),
    Corrupt(String),
}

impl From<std::io::Error> for RecordError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<sled::Error> for RecordError {
    fn from(e: sled::Error) -> Self {
        Self::Db(e)
    }
}

impl RecordError {
    fn into_store_error(self, dest: &Path) -> StoreError {
        match self {
            Self::Io(source) => StoreError::Io {
                path: dest.to_path_buf(),
                source,
            },
            Self::Db(source) => StoreError::Database {
                path: dest.to_path_buf(),
                source,
            },
            Self::Corrupt(detail) => StoreError::Corrupt {
                path: dest.to_path_buf(),
                detail,
            },
        }
    }
}

/// The trees of a store being restored.
struct Sink {
    entries: sled::Tree,
    nodes: sled::Tree,
    meta: sled::Tree,
    checkpoints: sled::Tree,
    state: sled::Tree,
    frontier: std::cell::RefCell<Frontier>,
}

impl Sink {
    fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(Self {
            entries: db.open_tree("log_entries")?,
            nodes: db.open_tree("log_nodes")?,
            meta: db.open_tree("log_meta")?,
            checkpoints: db.open_tree("log_checkpoints")?,
            state: db.open_tree("state")?,
            frontier: std::cell::RefCell::new(Frontier::new()),
        })
    }

    fn put(&self, kind: u8, key: &[u8], value: &[u8]) -> Result<(), sled::Error> {
        match kind {
            ENTRY => {
                let mut frontier = self.frontier.borrow_mut();
                let index = frontier.size();
                for (level, node_index, hash) in frontier.append(leaf_hash(value)) {
                    self.nodes
                        .insert(node_key(level, node_index), hash.as_bytes())?;
                }
                self.entries.insert(index.to_be_bytes(), value)?;
            }
            CHECKPOINT => {
                self.checkpoints.insert(key, value)?;
            }
            STATE => {
                self.state.insert(key, value)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&self, summary: &BackupSummary) -> Result<(), sled::Error> {
        self.meta.insert(META_ORIGIN, summary.origin.as_bytes())?;
        self.meta.insert(META_SIZE, &summary.size.to_be_bytes())?;
        if let Some(note) = &summary.checkpoint {
            self.meta.insert(META_CHECKPOINT, note.as_bytes())?;
        }
        Ok(())
    }
}

/// Reads one record header and its bytes, growing with what arrives (a length prefix
/// alone allocates nothing).
fn read_record<R: Read>(
    input: &mut R,
    hasher: &mut blake3::Hasher,
    path: &Path,
) -> Result<(u8, Vec<u8>, Vec<u8>), StoreError> {
    let mut header = [0u8; 9];
    input
        .read_exact(&mut header)
        .map_err(|_| bad(path, "the backup is truncated (no end record)"))?;
    let kind = header[0];
    let key_len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let value_len = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
    if key_len > MAX_BACKUP_KEY_LEN || value_len > MAX_BACKUP_VALUE_LEN {
        return Err(bad(
            path,
            format!("a record of {key_len}+{value_len} bytes is over the limits"),
        ));
    }
    let mut read = |len: usize| -> Result<Vec<u8>, StoreError> {
        let mut bytes = Vec::new();
        input
            .take(len as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(path, format!("cannot read the backup: {e}")))?;
        if bytes.len() != len {
            return Err(bad(path, "the backup is truncated"));
        }
        Ok(bytes)
    };
    let key = read(key_len)?;
    let value = read(value_len)?;
    if kind != END {
        hasher.update(&header);
        hasher.update(&key);
        hasher.update(&value);
    }
    Ok((kind, key, value))
}

fn size_key(path: &Path, key: &[u8], what: &str) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| bad(path, format!("the key of {what} is not a tree size")))
}

/// Reads and checks the whole backup at `path`; with a sink, writes its records there as
/// they are read (the caller has checked the backup once before, without a sink).
fn read_backup(path: &Path, sink: Option<(&Sink, &Path)>) -> Result<BackupSummary, StoreError> {
    let file = File::open(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut input = BufReader::new(file);
    let mut magic = [0u8; 16];
    input
        .read_exact(&mut magic)
        .map_err(|_| bad(path, "not a Streha backup (too short)"))?;
    if &magic != MAGIC {
        return Err(bad(path, "not a Streha backup (wrong magic)"));
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(MAGIC);
    let db = |target: &Path| {
        let target = target.to_path_buf();
        move |source| StoreError::Database {
            path: target.clone(),
            source,
        }
    };

    let (kind, _, origin) = read_record(&mut input, &mut hasher, path)?;
    let origin = match (kind, String::from_utf8(origin)) {
        (ORIGIN, Ok(origin)) if !origin.is_empty() => origin,
        _ => return Err(bad(path, "the backup does not begin with its log's origin")),
    };
    let (kind, key, note) = read_record(&mut input, &mut hasher, path)?;
    if kind != HEAD {
        return Err(bad(path, "the backup does not name its last checkpoint"));
    }
    let size = size_key(path, &key, "the last checkpoint")?;
    let checkpoint = if note.is_empty() {
        if size != 0 {
            return Err(bad(path, format!("no checkpoint for size {size}")));
        }
        None
    } else {
        let note =
            String::from_utf8(note).map_err(|_| bad(path, "the last checkpoint is not UTF-8"))?;
        let parsed = SignedNote::parse(&note)
            .map_err(CheckpointError::from)
            .and_then(|n| Checkpoint::parse_body(n.body()))
            .map_err(|e| bad(path, format!("the last checkpoint does not parse: {e}")))?;
        if parsed.size() != size || parsed.origin() != origin {
            return Err(bad(path, "the last checkpoint is not of this log and size"));
        }
        Some((note, *parsed.root()))
    };

    let mut frontier = Frontier::new();
    let mut records = 0u64;
    let mut files = Vec::new();
    let mut last_kind = HEAD;
    loop {
        let (kind, key, value) = read_record(&mut input, &mut hasher, path)?;
        if kind != END && kind < last_kind {
            return Err(bad(path, "the backup's records are out of order"));
        }
        match kind {
            ENTRY => {
                if size_key(path, &key, "an entry")? != frontier.size() {
                    return Err(bad(path, "the backup's entries are not contiguous"));
                }
                if value.len() > crate::MAX_ENTRY_LEN {
                    return Err(bad(path, "an entry is over the size limit"));
                }
                frontier.append(leaf_hash(&value));
            }
            CHECKPOINT => {
                let at = size_key(path, &key, "a checkpoint")?;
                if at > size || std::str::from_utf8(&value).is_err() {
                    return Err(bad(
                        path,
                        format!("the checkpoint at size {at} is not valid"),
                    ));
                }
            }
            STATE => {
                if key.is_empty() {
                    return Err(bad(path, "a state record has no key"));
                }
            }
            FILE => {
                let name = String::from_utf8(key.clone())
                    .ok()
                    .filter(|name| is_plain_name(name))
                    .ok_or_else(|| bad(path, "a carried file's name is not a file name"))?;
                if let Some((_, target)) = sink {
                    write_new(&target.join(&name), &value)?;
                }
                files.push(name);
            }
            END => {
                let digest = hasher.finalize();
                if !key.is_empty() || value.as_slice() != digest.as_bytes() {
                    return Err(bad(
                        path,
                        "the backup's checksum does not match: it is damaged",
                    ));
                }
                let mut rest = [0u8; 1];
                if input
                    .read(&mut rest)
                    .map_err(|e| bad(path, e.to_string()))?
                    != 0
                {
                    return Err(bad(path, "bytes follow the backup's end"));
                }
                break;
            }
            other => return Err(bad(path, format!("unknown record kind {other}"))),
        }
        if let Some((sink, target)) = sink {
            sink.put(kind, &key, &value).map_err(db(target))?;
        }
        if matches!(kind, ENTRY | CHECKPOINT | STATE) {
            records += 1;
        }
        last_kind = kind;
    }
    if frontier.size() != size {
        return Err(bad(
            path,
            format!(
                "the backup holds {} entries, its checkpoint says {size}",
                frontier.size()
            ),
        ));
    }
    if let Some((_, root)) = &checkpoint
        && frontier.root() != *root
    {
        return Err(bad(
            path,
            "the backup's entries do not hash to its last checkpoint's root",
        ));
    }
    Ok(BackupSummary {
        origin,
        size,
        checkpoint: checkpoint.map(|(note, _)| note),
        records,
        files,
    })
}

/// Reads and checks a backup without restoring it (for `streha admin restore --check` and
/// for the tests).
///
/// # Errors
/// [`StoreError::BadBackup`] if it is damaged, truncated or not a backup; an IO error.
pub fn inspect_backup(path: &Path) -> Result<BackupSummary, StoreError> {
    read_backup(path, None)
}

#[cfg(test)]
mod tests {
    use streha_audit::NoteSigner;

    use crate::{Namespace, Store, StoreError, Transaction};

    const ORIGIN: &str = "backup.test/log";
    const NS: Namespace = Namespace::new(3);

    fn signer() -> NoteSigner {
        NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[21; 32])).unwrap()
    }

    fn filled(dir: &std::path::Path, entries: u8) -> Store {
        let store = Store::open(dir, ORIGIN, signer()).unwrap();
        for i in 0..entries {
            let mut tx = Transaction::new();
            tx.append(vec![i; 40]).put(NS, vec![i], vec![i; 3]);
            store.commit(tx).unwrap();
        }
        store
    }

    #[test]
    fn a_restored_store_is_the_store_at_the_backup() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(&dir.path().join("live"), 9);
        let backup = dir.path().join("b1");
        let summary = store
            .backup_to(&backup, &[("carried.note", b"hello")], &mut || {})
            .unwrap();
        assert_eq!(summary.size, 9);
        // Later commits are not in it.
        let mut tx = Transaction::new();
        tx.append(b"after".to_vec());
        store.commit(tx).unwrap();
        // The file is private and a second backup under its name is refused.
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0);
        assert!(matches!(
            store.backup_to(&backup, &[], &mut || {}),
            Err(StoreError::Io { .. })
        ));

        let target = dir.path().join("restored");
        let restored = Store::restore_from(&backup, &target, &[("marker", b"m")]).unwrap();
        assert_eq!(restored, summary);
        assert_eq!(
            std::fs::read(target.join("carried.note")).unwrap(),
            b"hello"
        );
        assert_eq!(std::fs::read(target.join("marker")).unwrap(), b"m");
        let dir_mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o077, 0, "the restored directory is private");
        let reopened = Store::open(&target, ORIGIN, signer()).unwrap();
        assert_eq!(reopened.tree_size(), 9);
        assert_eq!(
            reopened.latest_checkpoint().unwrap().note,
            summary.checkpoint.clone().unwrap()
        );
        assert_eq!(reopened.recompute_root().unwrap(), reopened.root());
        assert_eq!(reopened.get(NS, &[4]).unwrap(), Some(vec![4; 3]));
        assert_eq!(reopened.checkpoints().unwrap().len(), 9);
        reopened.consistency_proof(3, 9).unwrap();
        // It continues like any store.
        let mut tx = Transaction::new();
        tx.append(b"next".to_vec());
        assert_eq!(reopened.commit(tx).unwrap().tree_size, 10);
    }

    #[test]
    fn a_damaged_or_truncated_backup_restores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(&dir.path().join("live"), 4);
        let backup = dir.path().join("b");
        store.backup_to(&backup, &[], &mut || {}).unwrap();
        let good = std::fs::read(&backup).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("flipped byte", {
                let mut b = good.clone();
                b[60] ^= 1;
                b
            }),
            ("truncated", good[..good.len() - 10].to_vec()),
            ("no end", good[..good.len() - 41].to_vec()),
            ("trailing", {
                let mut b = good.clone();
                b.push(0);
                b
            }),
            ("not a backup", b"hello world, this is no backup".to_vec()),
            ("huge prefix", {
                let mut b = good[..16].to_vec();
                b.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
                b
            }),
        ];
        for (what, bytes) in cases {
            let bad = dir.path().join(format!("bad-{}", what.replace(' ', "-")));
            std::fs::write(&bad, &bytes).unwrap();
            let target = dir.path().join(format!("t-{}", what.replace(' ', "-")));
            let err = Store::restore_from(&bad, &target, &[]).unwrap_err();
            assert!(matches!(err, StoreError::BadBackup { .. }), "{what}: {err}");
            assert!(!target.exists(), "{what}: nothing written");
        }
        // Nor into a directory that holds anything.
        let busy = dir.path().join("busy");
        std::fs::create_dir(&busy).unwrap();
        std::fs::write(busy.join("x"), b"x").unwrap();
        assert!(matches!(
            Store::restore_from(&backup, &busy, &[]),
            Err(StoreError::Io { .. })
        ));
        assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);
    }

    #[test]
    fn an_empty_store_backs_up_and_restores() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("live"), ORIGIN, signer()).unwrap();
        let backup = dir.path().join("b");
        let summary = store.backup_to(&backup, &[], &mut || {}).unwrap();
        assert_eq!((summary.size, summary.checkpoint), (0, None));
        let target = dir.path().join("r");
        Store::restore_from(&backup, &target, &[]).unwrap();
        assert_eq!(
            Store::open(&target, ORIGIN, signer()).unwrap().tree_size(),
            0
        );
    }
}
