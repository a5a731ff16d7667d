//! Logical backups of a store, taken online, and their restore into a new directory.
//!
//! A backup is the store's own iteration written as records, not a copy of sled's files:
//! it does not depend on sled's format and it is consistent, because it is read while the
//! store's gate is held shared (no batch is applied, or half durable, and no body is
//! released meanwhile). It holds the origin, the last checkpoint (which becomes the restored
//! store's high-water mark), every entry, every checkpoint, the bytes of every body the
//! state references (`spec/audit-log.md` §7.1) and every state pair as stored (inline, or a
//! reference to a body by hash and length). The tiles are recomputed on restore, and the
//! recomputed root must match the last checkpoint's; every body must hash to the name it is
//! carried under, and every body reference must have its body.
//!
//! ```text
//! file   = MAGIC (16: "streha-backup-2\n") ‖ record* ‖ end
//! record = kind (1) ‖ key_len (4, BE) ‖ value_len (4, BE) ‖ key ‖ value
//! kinds  : 1 origin (value)  2 head (key: size; value: checkpoint note, empty at size 0)
//!          3 entry (key: index)  4 checkpoint (key: size; value: note)
//!          5 body (key: BLAKE3 of the value (32); value: the body's bytes), in hash order
//!          6 state (key: namespace ‖ key; value: 0 ‖ bytes, or 1 ‖ hash (32) ‖ length (8, BE)
//!            for a body carried in a body record)
//!          7 file (key: a file name in the data directory, or `dir/name` in one of its
//!            directories — a node's `epochs/<n>.bundle`; value: its bytes). A file longer
//!            than `MAX_BACKUP_VALUE_LEN` is carried as consecutive records of its name,
//!            each but the last exactly that long, concatenated on restore.
//! end    = 0xff ‖ 0 (4) ‖ 32 (4) ‖ BLAKE3(every byte before `end`)
//! ```
//!
//! Records come in kind order. Format 1 (`streha-backup-1`, storage format 1) is refused by
//! name: it is restored by the version that wrote it.
//!
//! A backup is written to a temporary file beside its destination, synced and renamed into
//! place; a restore writes a new directory beside the target — the bodies first, appended
//! to a body segment that is synced (with its directory) before any state that references
//! them is written —
//! syncs it and renames it into place, so both appear complete or not at all.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use streha_audit::{Checkpoint, CheckpointError, Frontier, NoteSigner, SignedNote, leaf_hash};

use super::{Store, TREE};
use crate::StoreError;
use crate::bodies::{Bodies, Place, body_hash};
use crate::keys::{self, META_FORMAT, META_LOG, META_ORIGIN, Stored};
use crate::logfiles::{Lengths, LogFiles, Pending, Recorded};

const MAGIC: &[u8; 16] = b"streha-backup-2\n";
const MAGIC_FORMAT_1: &[u8; 16] = b"streha-backup-1\n";
const ORIGIN: u8 = 1;
const HEAD: u8 = 2;
const ENTRY: u8 = 3;
const CHECKPOINT: u8 = 4;
const BODY: u8 = 5;
const STATE: u8 = 6;
const FILE: u8 = 7;
const END: u8 = 0xff;

/// The longest key of a backup record.
pub const MAX_BACKUP_KEY_LEN: usize = 64 * 1024;
/// The longest value of a backup record (a state value, a body or a file; entries are
/// bounded by [`crate::MAX_ENTRY_LEN`]).
pub const MAX_BACKUP_VALUE_LEN: usize = 64 * 1024 * 1024;
/// The longest name of a file carried in a backup.
const MAX_FILE_NAME_LEN: usize = 255;
/// Entries (and their tiles) written to the restored tree per sled batch.
const RESTORE_BATCH_ENTRIES: u64 = 4096;

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
    /// Bodies carried (sealed envelopes kept out of sled), each once.
    pub bodies: u64,
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

/// The name of a file a backup carries: a plain name in the data directory, or a plain name
/// in a directory of it (`epochs/2.bundle`), never deeper, never out of it.
fn is_carried_name(name: &str) -> bool {
    name.len() <= MAX_FILE_NAME_LEN
        && match name.split_once('/') {
            None => is_plain_name(name),
            Some((dir, file)) => is_plain_name(dir) && is_plain_name(file),
        }
}

impl Store {
    /// Writes a consistent backup of the whole store to `dest` (a new file, mode 0600;
    /// an existing one is refused), the bodies the state references included, with the
    /// `files` given (name in the data directory, bytes) carried along to be restored
    /// beside the store. Holds the store's gate shared meanwhile, so commits wait until it
    /// is done, and readers do not; `while_held` is called once while it is held, for a
    /// snapshot of what must be consistent with the store (a node's key vault).
    ///
    /// # Errors
    /// [`StoreError::Io`] if `dest` exists or cannot be written and synced;
    /// [`StoreError::BadBackup`] for a file name that is not a plain name;
    /// [`StoreError::Corrupt`] if a referenced body is missing or does not match its hash;
    /// a database error.
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
        if let Some((name, _)) = files.iter().find(|(name, _)| !is_carried_name(name)) {
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
                .map_err(|e| e.into_store_error(dest, &self.path))?
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
        // The log files' lengths of the last committed batch: the gate is held, so they go
        // with the sled state read below, whatever a batch appends past them meanwhile.
        let lengths = self.log.committed();
        let size = lengths.size;
        let read = |e: crate::logfiles::ReadError| RecordError::Corrupt(e.to_string());
        let checkpoint = match lengths.checkpoints {
            0 => None,
            count => Some(self.log.checkpoint(count - 1).map_err(read)?.1),
        };
        out.record(ORIGIN, &[], self.origin.as_bytes())?;
        out.record(
            HEAD,
            &size.to_be_bytes(),
            checkpoint.as_deref().unwrap_or("").as_bytes(),
        )?;
        let mut records = 0u64;
        for (index, entry) in (0..size).zip(self.log.entries_from(0, size).map_err(read)?) {
            out.record(ENTRY, &index.to_be_bytes(), &entry.map_err(read)?)?;
            records += 1;
        }
        for position in 0..lengths.checkpoints {
            let (at, note) = self.log.checkpoint(position).map_err(read)?;
            out.record(CHECKPOINT, &at.to_be_bytes(), note.as_bytes())?;
            records += 1;
        }
        // The bodies, read and checked against their hash, before the state that
        // references them (a restore writes them first).
        let referenced = Bodies::referenced(&self.tree).map_err(RecordError::Corrupt)?;
        for (hash, (len, place)) in &referenced {
            let body = self
                .bodies
                .read(hash, *len, *place)
                .map_err(RecordError::Corrupt)?;
            out.record(BODY, hash, &body)?;
        }
        for item in self.tree.scan_prefix([keys::STATE]) {
            let (key, value) = item?;
            out.record(STATE, &key[1..], &value)?;
            records += 1;
        }
        for (name, bytes) in files {
            // A kept epoch bundle grows with its log: carried in records of bounded length.
            if bytes.is_empty() {
                out.record(FILE, name.as_bytes(), &[])?;
            }
            for chunk in bytes.chunks(MAX_BACKUP_VALUE_LEN) {
                out.record(FILE, name.as_bytes(), chunk)?;
            }
        }
        Ok(BackupSummary {
            origin: self.origin.clone(),
            size,
            checkpoint,
            records,
            bodies: referenced.len() as u64,
            files: files.iter().map(|(name, _)| (*name).to_owned()).collect(),
        })
    }

    /// Restores the backup at `backup` into `dir`, which must not exist or be empty: the
    /// whole backup is read and checked first (checksum, order, every body against its
    /// hash, every body reference against its body, the recomputed root against the last
    /// checkpoint), then written into a new directory beside `dir` (bodies first, then
    /// the one tree with its recomputed tiles), synced, and renamed into place, with the
    /// high-water mark of the backup's last checkpoint and the backup's files, and then the
    /// `extra` files given. The restored store is opened by [`Store::open`] as any other;
    /// the checkpoint's signature is checked there, against the node's key.
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
            let mut sink = Sink::open(&db, &target)?;
            read_backup(backup, Some(&mut sink))?;
            sink.finish(&summary.origin)?;
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

/// Appends `bytes` to the file at `path` (written by [`write_new`]), synced.
fn append_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
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

impl Store {
    /// Starts the log over under `new_origin`, the next log epoch's (`spec/audit-log.md`
    /// §9), keeping every state pair and body: the node continues after a proven loss. The
    /// caller has exported the old epoch's bundle before (its entries are removed here) and
    /// appends the `log_restored` declaration as the new log's entry 0.
    ///
    /// Crash-safe in this order: the high-water mark (a checkpoint of the old origin) is
    /// removed first — a crash then reopens the old log, which records a new mark — then the
    /// log files' recorded lengths are set to nothing and the origin replaced in one sled
    /// batch, made durable, and the files truncated (a crash before that leaves them longer
    /// than recorded: the next open truncates them); the store is reopened under
    /// `new_origin`, signed by `signer`.
    ///
    /// # Errors
    /// A database or IO error; the store is then either the old log or the new empty one.
    pub fn start_new_epoch(
        self,
        new_origin: &str,
        signer: NoteSigner,
    ) -> Result<Store, StoreError> {
        let path = self.path.clone();
        let db_err = |source| StoreError::Database {
            path: path.clone(),
            source,
        };
        let io_err = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        // Everything the write-ahead log holds, durable where it belongs first: the batch
        // below bypasses it, and the old epoch's records must not be replayed into the new.
        {
            let mut head = super::lock(&self.head);
            self.checkpoint_write_ahead(&mut head.wal)?;
        }
        match std::fs::remove_file(path.join(crate::HIGH_WATER_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        File::open(&path)
            .and_then(|d| d.sync_all())
            .map_err(io_err)?;
        let mut batch = sled::Batch::default();
        batch.insert(META_LOG, Recorded::default().encode());
        batch.insert(META_ORIGIN, new_origin.as_bytes());
        self.tree.apply_batch(batch).map_err(db_err)?;
        self.db.flush().map_err(db_err)?;
        self.durability.sync()?;
        self.log.truncate_to(Lengths::default())?;
        tracing::warn!(origin = new_origin, "the log starts over in a new epoch");
        drop(self);
        Store::open(&path, new_origin, signer)
    }
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
    fn into_store_error(self, dest: &Path, store: &Path) -> StoreError {
        match self {
            Self::Io(source) => StoreError::Io {
                path: dest.to_path_buf(),
                source,
            },
            Self::Db(source) => StoreError::Database {
                path: store.to_path_buf(),
                source,
            },
            Self::Corrupt(detail) => StoreError::Corrupt {
                path: store.to_path_buf(),
                detail,
            },
        }
    }
}

/// The store being restored: its one tree, its log files (with the hashes of every row
/// recomputed), its body segments.
struct Sink {
    target: PathBuf,
    tree: sled::Tree,
    log: LogFiles,
    bodies: Bodies,
    /// Where each body carried so far was written.
    placed: HashMap<[u8; 32], Place>,
    /// Whether the bodies were synced since the last body was written.
    bodies_synced: bool,
    frontier: Frontier,
    /// Entries and checkpoints not yet written to the log files.
    appends: Pending,
    pending: u64,
    /// The name of the last file written: the next file record of that name continues it.
    last_file: Option<String>,
}

impl Sink {
    fn open(db: &sled::Db, target: &Path) -> Result<Self, StoreError> {
        let tree = db.open_tree(TREE).map_err(|source| StoreError::Database {
            path: target.to_path_buf(),
            source,
        })?;
        Ok(Self {
            target: target.to_path_buf(),
            tree,
            log: {
                let log = LogFiles::open(target, Recorded::default())?;
                log.truncate_uncommitted()?;
                log
            },
            bodies: Bodies::open(target)?,
            placed: HashMap::new(),
            bodies_synced: true,
            frontier: Frontier::new(),
            appends: Pending::new(Lengths::default()),
            pending: 0,
            last_file: None,
        })
    }

    fn db(&self, source: sled::Error) -> StoreError {
        StoreError::Database {
            path: self.target.clone(),
            source,
        }
    }

    /// Writes the entries, hashes and checkpoints gathered so far to the log files (synced
    /// once, in [`Sink::finish`]).
    fn apply_entries(&mut self) -> Result<(), StoreError> {
        if self.appends.is_empty() {
            return Ok(());
        }
        self.log.write(&self.appends)?;
        self.appends = Pending::new(self.appends.lengths());
        self.pending = 0;
        Ok(())
    }

    /// Makes the bodies written so far durable: before any state that references them.
    fn sync_bodies(&mut self) -> Result<(), StoreError> {
        if !self.bodies_synced {
            self.bodies.sync().map_err(|source| StoreError::Io {
                path: self.target.join(crate::BODIES_DIR),
                source,
            })?;
            self.bodies_synced = true;
        }
        Ok(())
    }

    /// Writes one record the caller has checked.
    fn put(&mut self, kind: u8, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if kind != ENTRY && kind != CHECKPOINT {
            self.apply_entries()?;
        }
        match kind {
            ENTRY => {
                for (level, _, hash) in self.frontier.append(leaf_hash(value)) {
                    self.appends.push_node(level, &hash);
                }
                self.appends.push_entry(value);
                self.pending += 1;
                if self.pending >= RESTORE_BATCH_ENTRIES {
                    self.apply_entries()?;
                }
            }
            CHECKPOINT => {
                // Checked by `read_backup`: a size, and a note of this log.
                let at = u64::from_be_bytes(key.try_into().unwrap_or([0xff; 8]));
                self.appends
                    .push_checkpoint(at, &String::from_utf8_lossy(value));
                self.pending += 1;
                if self.pending >= RESTORE_BATCH_ENTRIES {
                    self.apply_entries()?;
                }
            }
            BODY => {
                let hash: [u8; 32] = key.try_into().map_err(|_| StoreError::Corrupt {
                    path: self.target.clone(),
                    detail: "a body's hash is not 32 bytes".into(),
                })?;
                let place = self.bodies.append(value)?;
                self.placed.insert(hash, place);
                self.bodies_synced = false;
            }
            STATE => {
                self.sync_bodies()?;
                let mut full = vec![keys::STATE];
                full.extend_from_slice(key);
                if let Some(Stored::Body { hash, len }) = keys::parse_value(value) {
                    // Checked by `read_backup`: the backup carries every body it references.
                    let place =
                        self.placed
                            .get(&hash)
                            .copied()
                            .ok_or_else(|| StoreError::Corrupt {
                                path: self.target.clone(),
                                detail: "a state value references a body the backup does not carry"
                                    .into(),
                            })?;
                    self.tree
                        .insert(keys::body_ref(&hash, &full), place.reference_value(len))
                        .map_err(|e| self.db(e))?;
                }
                self.tree.insert(full, value).map_err(|e| self.db(e))?;
            }
            FILE => {
                let name = String::from_utf8_lossy(key).into_owned();
                if self.last_file.as_deref() == Some(name.as_str()) {
                    // Checked by `read_backup`: the continuation of the file just written.
                    append_synced(&self.target.join(&name), value)?;
                    return Ok(());
                }
                self.last_file = Some(name.clone());
                match name.split_once('/') {
                    None => write_new(&self.target.join(&name), value)?,
                    Some((dir, file)) => {
                        // A directory of the data directory (`epochs`): private, and synced
                        // with the file in it (the data directory is synced at the end).
                        let dir = self.target.join(dir);
                        let io = |source| StoreError::Io {
                            path: dir.clone(),
                            source,
                        };
                        if !dir.is_dir() {
                            use std::os::unix::fs::DirBuilderExt as _;
                            std::fs::DirBuilder::new()
                                .mode(0o700)
                                .create(&dir)
                                .map_err(io)?;
                        }
                        write_new(&dir.join(file), value)?;
                        sync_dir(&dir).map_err(io)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, origin: &str) -> Result<(), StoreError> {
        let lengths = self.appends.lengths();
        self.apply_entries()?;
        self.log.sync_all()?;
        self.sync_bodies()?;
        let mut batch = sled::Batch::default();
        batch.insert(META_ORIGIN, origin.as_bytes());
        batch.insert(META_FORMAT, &keys::FORMAT.to_be_bytes());
        batch.insert(META_LOG, Recorded::synced(lengths).encode());
        self.tree.apply_batch(batch).map_err(|e| self.db(e))
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
fn read_backup(path: &Path, mut sink: Option<&mut Sink>) -> Result<BackupSummary, StoreError> {
    let file = File::open(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut input = BufReader::new(file);
    let mut magic = [0u8; 16];
    input
        .read_exact(&mut magic)
        .map_err(|_| bad(path, "not a Streha backup (too short)"))?;
    if &magic == MAGIC_FORMAT_1 {
        return Err(bad(
            path,
            "a backup of storage format 1 (Streha before issue 19): restore it with the \
             version that wrote it",
        ));
    }
    if &magic != MAGIC {
        return Err(bad(path, "not a Streha backup (wrong magic)"));
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(MAGIC);

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
    // The last file record's name and length: a file may continue in the next record.
    let mut last_file: Option<(String, usize)> = None;
    // Each body carried: its length, and whether a state value references it.
    let mut bodies: BTreeMap<[u8; 32], (u64, bool)> = BTreeMap::new();
    let mut last_checkpoint: Option<(u64, Vec<u8>)> = None;
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
                let in_order = last_checkpoint.as_ref().is_none_or(|(last, _)| *last < at);
                if at == 0 || at > size || !in_order || std::str::from_utf8(&value).is_err() {
                    return Err(bad(
                        path,
                        format!("the checkpoint at size {at} is not valid"),
                    ));
                }
                last_checkpoint = Some((at, value.clone()));
            }
            BODY => {
                let hash: [u8; 32] = key
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad(path, "a body's name is not a BLAKE3 hash"))?;
                if body_hash(&value) != hash {
                    return Err(bad(
                        path,
                        "a body does not match the hash that names it: the backup is damaged",
                    ));
                }
                if bodies
                    .last_key_value()
                    .is_some_and(|(last, _)| *last >= hash)
                {
                    return Err(bad(path, "the backup's bodies are out of order"));
                }
                bodies.insert(hash, (value.len() as u64, false));
            }
            STATE => {
                if key.is_empty() {
                    return Err(bad(path, "a state record has no key"));
                }
                match keys::parse_value(&value) {
                    Some(Stored::Inline(_)) => {}
                    Some(Stored::Body { hash, len }) => match bodies.get_mut(&hash) {
                        Some((carried, referenced)) if *carried == len => *referenced = true,
                        _ => {
                            return Err(bad(
                                path,
                                "a state value references a body the backup does not carry",
                            ));
                        }
                    },
                    None => return Err(bad(path, "a state value has an unknown tag")),
                }
            }
            FILE => {
                if !String::from_utf8(key.clone()).is_ok_and(|name| is_carried_name(&name)) {
                    return Err(bad(path, "a carried file's name is not a file name"));
                }
                let name = String::from_utf8_lossy(&key).into_owned();
                match &last_file {
                    // The next record of a file carried in several: only after a full one.
                    Some((last, len)) if *last == name => {
                        if *len != MAX_BACKUP_VALUE_LEN {
                            return Err(bad(path, format!("`{name}` is carried twice")));
                        }
                    }
                    _ if files.contains(&name) => {
                        return Err(bad(path, format!("`{name}` is carried twice")));
                    }
                    _ => files.push(name.clone()),
                }
                last_file = Some((name, value.len()));
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
        if let Some(sink) = sink.as_deref_mut() {
            sink.put(kind, &key, &value)?;
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
    // The restored store's head is its last checkpoint: it must be the one named.
    let head_matches = match (&checkpoint, &last_checkpoint) {
        (None, None) => true,
        (Some((note, _)), Some((at, last))) => *at == size && last.as_slice() == note.as_bytes(),
        _ => false,
    };
    if !head_matches {
        return Err(bad(
            path,
            "the backup's last checkpoint is not the last of its checkpoints",
        ));
    }
    if bodies.values().any(|(_, referenced)| !referenced) {
        return Err(bad(
            path,
            "the backup carries a body no state value references",
        ));
    }
    Ok(BackupSummary {
        origin,
        size,
        checkpoint: checkpoint.map(|(note, _)| note),
        records,
        bodies: bodies.len() as u64,
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
            .backup_to(
                &backup,
                &[("carried.note", b"hello"), ("epochs/1.bundle", b"epoch 1")],
                &mut || {},
            )
            .unwrap();
        // Files from out of the data directory, or deeper than one directory, are not
        // carried.
        for name in ["../x", "epochs/../x", "a/b/c", "/abs", "epochs/", "./x/y/z"] {
            assert!(
                matches!(
                    store.backup_to(&dir.path().join("bx"), &[(name, b"x")], &mut || {}),
                    Err(StoreError::BadBackup { .. })
                ),
                "{name}"
            );
        }
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
        assert_eq!(
            std::fs::read(target.join("epochs/1.bundle")).unwrap(),
            b"epoch 1"
        );
        let epochs_mode = std::fs::metadata(target.join("epochs"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(epochs_mode & 0o077, 0, "the carried directory is private");
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

    /// A commit that appends to the log files while a backup holds the gate: the backup
    /// carries the log up to the lengths committed with the sled state it carries, not the
    /// bytes appended past them meanwhile; the commit completes once the backup is done.
    /// No timing: the backup waits (polling) until the commit's appends are on disk.
    #[test]
    fn a_backup_carries_the_log_as_committed_while_a_batch_appends() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let store = std::sync::Arc::new(filled(&live, 9));
        let journal = live.join(crate::LOG_DIR).join("journal");
        // The committed journal; zeros follow it on disk (`JOURNAL_ZERO_FILL`).
        let before = store.log.committed().journal_bytes;
        let appended = || {
            use std::os::unix::fs::FileExt as _;
            let mut kind = [0u8];
            let file = std::fs::File::open(&journal).unwrap();
            file.read_at(&mut kind, before).unwrap() == 1 && kind[0] != 0
        };
        let backup = dir.path().join("b");
        let mut committer = None;
        let summary = store
            .backup_to(&backup, &[], &mut || {
                let store = std::sync::Arc::clone(&store);
                committer = Some(std::thread::spawn(move || {
                    let mut tx = Transaction::new();
                    tx.append(vec![0xEE; 500])
                        .put(NS, b"late".to_vec(), vec![1]);
                    store.commit(tx).unwrap()
                }));
                // The batch appends its entry (and syncs it) before it waits for the gate.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
                while !appended() {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the commit never appended"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            })
            .unwrap();
        let committed = committer.unwrap().join().unwrap();
        assert_eq!(
            committed.first_index, 9,
            "the commit went on after the backup"
        );
        assert_eq!(summary.size, 9);
        let target = dir.path().join("restored");
        Store::restore_from(&backup, &target, &[]).unwrap();
        let restored = Store::open(&target, ORIGIN, signer()).unwrap();
        assert_eq!(restored.tree_size(), 9);
        assert_eq!(restored.entry(9).unwrap(), None);
        assert_eq!(restored.get(NS, b"late").unwrap(), None);
        assert_eq!(restored.checkpoints().unwrap().len(), 9);
        assert_eq!(restored.recompute_root().unwrap(), restored.root());
        for index in 0..9u8 {
            assert_eq!(
                restored.entry(u64::from(index)).unwrap(),
                Some(vec![index; 40])
            );
        }
        assert_eq!(
            std::fs::metadata(target.join(crate::LOG_DIR).join("journal"))
                .unwrap()
                .len(),
            before
        );
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

    const INBOX: Namespace = Namespace::new(9);
    const OUTBOUND: Namespace = Namespace::new(11);

    /// The backup with its end checksum recomputed, so that only the checks inside it can
    /// catch what was changed.
    fn resealed(mut bytes: Vec<u8>) -> Vec<u8> {
        let body_end = bytes.len() - 41;
        let digest = blake3::hash(&bytes[..body_end]);
        let at = bytes.len() - 32;
        bytes[at..].copy_from_slice(digest.as_bytes());
        bytes
    }

    /// A kept epoch bundle grows with its log: a file longer than one record's value is
    /// carried in several records and restored whole; two records of one name that are
    /// not one file's consecutive full chunks are refused.
    #[test]
    fn a_file_longer_than_one_record_is_carried_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = filled(&dir.path().join("live"), 2);
        let big: Vec<u8> = (0..super::MAX_BACKUP_VALUE_LEN + 1000)
            .map(|i| (i % 251) as u8)
            .collect();
        let backup = dir.path().join("b");
        let summary = store
            .backup_to(
                &backup,
                &[("epochs/1.bundle", &big), ("empty", b"")],
                &mut || {},
            )
            .unwrap();
        assert_eq!(summary.files, ["epochs/1.bundle", "empty"]);
        let target = dir.path().join("restored");
        Store::restore_from(&backup, &target, &[]).unwrap();
        assert!(std::fs::read(target.join("epochs/1.bundle")).unwrap() == big);
        assert!(std::fs::read(target.join("empty")).unwrap().is_empty());

        // `b` renamed `a`: a second record of `a` after a short one.
        let small = dir.path().join("s");
        store
            .backup_to(&small, &[("a", b"one"), ("b", b"two")], &mut || {})
            .unwrap();
        let mut bytes = std::fs::read(&small).unwrap();
        let record_b = [7, 0, 0, 0, 1, 0, 0, 0, 3, b'b'];
        let at = bytes
            .windows(record_b.len())
            .position(|w| w == record_b)
            .unwrap();
        bytes[at + 9] = b'a';
        let forged = dir.path().join("forged");
        std::fs::write(&forged, resealed(bytes)).unwrap();
        let error = Store::restore_from(&forged, &dir.path().join("r2"), &[]).unwrap_err();
        assert!(
            matches!(&error, StoreError::BadBackup { .. }) && error.to_string().contains("twice"),
            "{error}"
        );
        assert!(!dir.path().join("r2").exists());
    }

    #[test]
    fn envelope_bodies_are_carried_and_checked_against_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let store = filled(&live, 3);
        let inbox_body = vec![0xa5; 70_000];
        let outbound_body = b"sealed outbound envelope ".repeat(800);
        assert!(outbound_body.len() > crate::INLINE_BODY_MAX);
        // A small body stays inline in sled: the backup carries it as a state pair.
        let small_body = b"a small sealed envelope".repeat(40);
        let mut tx = Transaction::new();
        tx.append(b"received".to_vec())
            .put_body(INBOX, b"env-1".to_vec(), inbox_body.clone())
            .put_body(INBOX, b"env-small".to_vec(), small_body.clone())
            .put_body(OUTBOUND, b"out-1".to_vec(), outbound_body.clone())
            // The same body under a second key: two references.
            .put_body(OUTBOUND, b"out-2".to_vec(), outbound_body.clone())
            .put(OUTBOUND, b"inline".to_vec(), b"small".to_vec());
        store.commit(tx).unwrap();
        let backup = dir.path().join("b");
        let summary = store.backup_to(&backup, &[], &mut || {}).unwrap();
        assert_eq!(summary.bodies, 2);
        assert_eq!(crate::inspect_backup(&backup).unwrap(), summary);
        // The backup owes nothing to the live files once taken.
        let mut tx = Transaction::new();
        tx.append(b"deleted".to_vec())
            .remove(INBOX, b"env-1".to_vec())
            .remove(OUTBOUND, b"out-1".to_vec())
            .remove(OUTBOUND, b"out-2".to_vec());
        store.commit(tx).unwrap();
        assert!(store.body_files().unwrap().is_empty());

        let target = dir.path().join("restored");
        assert_eq!(Store::restore_from(&backup, &target, &[]).unwrap(), summary);
        let restored = Store::open(&target, ORIGIN, signer()).unwrap();
        assert_eq!(restored.tree_size(), 4);
        assert_eq!(
            restored.get(INBOX, b"env-1").unwrap(),
            Some(inbox_body.clone())
        );
        assert_eq!(
            restored.get(OUTBOUND, b"out-2").unwrap(),
            Some(outbound_body.clone())
        );
        assert_eq!(
            restored.get(OUTBOUND, b"inline").unwrap(),
            Some(b"small".to_vec())
        );
        assert_eq!(restored.get(INBOX, b"env-small").unwrap(), Some(small_body));
        // Both bodies in one segment of the restored store.
        let files = restored.body_files().unwrap();
        assert_eq!(files.len(), 1);
        let (segment, len) = &files[0];
        assert!(segment.starts_with(target.join(crate::BODIES_DIR)));
        assert_eq!(std::fs::metadata(segment).unwrap().len(), *len);
        let holds = |body: &[u8]| {
            let bytes = std::fs::read(segment).unwrap();
            bytes.windows(body.len()).any(|w| w == body)
        };
        // The back-references were rebuilt: the body carried once is shared by both keys;
        // dropping one keeps it, the last one releases it.
        let mut tx = Transaction::new();
        tx.remove(OUTBOUND, b"out-1".to_vec());
        restored.commit(tx).unwrap();
        assert_eq!(
            restored.get(OUTBOUND, b"out-2").unwrap(),
            Some(outbound_body.clone())
        );
        assert!(holds(&outbound_body));
        let mut tx = Transaction::new();
        tx.remove(OUTBOUND, b"out-2".to_vec());
        restored.commit(tx).unwrap();
        assert!(!holds(&outbound_body), "released with its last reference");
        assert_eq!(
            restored.get(INBOX, b"env-1").unwrap(),
            Some(inbox_body.clone())
        );

        // A body altered inside the backup is refused, even with the checksum made to fit.
        let good = std::fs::read(&backup).unwrap();
        let at = good
            .windows(outbound_body.len())
            .position(|w| w == outbound_body.as_slice())
            .unwrap();
        let mut altered = good.clone();
        altered[at] ^= 1;
        for (what, bytes) in [
            ("altered", altered.clone()),
            ("altered and resealed", resealed(altered)),
        ] {
            let bad = dir.path().join(what.replace(' ', "-"));
            std::fs::write(&bad, bytes).unwrap();
            let target = dir.path().join(format!("t-{}", what.replace(' ', "-")));
            let err = Store::restore_from(&bad, &target, &[]).unwrap_err();
            assert!(matches!(err, StoreError::BadBackup { .. }), "{what}: {err}");
            assert!(!target.exists(), "{what}: nothing written");
        }
        let resealed_err = crate::inspect_backup(&dir.path().join("altered-and-resealed"))
            .unwrap_err()
            .to_string();
        assert!(resealed_err.contains("hash"), "{resealed_err}");
    }

    #[test]
    fn a_body_file_damaged_in_the_store_fails_the_backup() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let store = filled(&live, 1);
        let mut tx = Transaction::new();
        let body = vec![0x5e; crate::INLINE_BODY_MAX + 1];
        tx.append(b"received".to_vec())
            .put_body(INBOX, b"env".to_vec(), body.clone());
        store.commit(tx).unwrap();
        let (file, _) = store.body_files().unwrap().remove(0);
        let mut changed = body;
        changed[0] ^= 1;
        std::fs::write(&file, changed).unwrap();
        let backup = dir.path().join("b");
        let err = store.backup_to(&backup, &[], &mut || {}).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(!backup.exists());
    }

    #[test]
    fn a_long_log_restores_with_its_tiles() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("live"), ORIGIN, signer()).unwrap();
        // More than one restore batch and many row-0 tiles, in a few commits.
        for chunk in 0..3u32 {
            let mut tx = Transaction::new();
            for i in 0..2000u32 {
                tx.append((chunk * 2000 + i).to_be_bytes().to_vec());
            }
            store.commit(tx).unwrap();
        }
        let backup = dir.path().join("b");
        store.backup_to(&backup, &[], &mut || {}).unwrap();
        let target = dir.path().join("r");
        Store::restore_from(&backup, &target, &[]).unwrap();
        let restored = Store::open(&target, ORIGIN, signer()).unwrap();
        assert_eq!(restored.tree_size(), 6000);
        assert_eq!(restored.root(), store.root());
        for (index, size) in [(0, 6000), (255, 256), (256, 5000), (5999, 6000)] {
            assert_eq!(
                restored.inclusion_proof(index, size).unwrap(),
                store.inclusion_proof(index, size).unwrap()
            );
        }
        assert_eq!(
            restored.consistency_proof(300, 5000).unwrap(),
            store.consistency_proof(300, 5000).unwrap()
        );
        assert_eq!(
            restored.checkpoints().unwrap(),
            store.checkpoints().unwrap()
        );
    }

    #[test]
    fn a_backup_of_format_1_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old");
        std::fs::write(&old, b"streha-backup-1\n\x01\0\0\0\0\0\0\0\0").unwrap();
        let err = crate::inspect_backup(&old).unwrap_err().to_string();
        assert!(err.contains("format 1"), "{err}");
    }
}
