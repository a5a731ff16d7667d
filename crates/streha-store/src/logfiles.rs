//! The audit log's entries, tiles and checkpoints in append-only files (storage format 3).
//!
//! sled keeps a page-table slot and segment accounting for every key it ever held, for the
//! life of the process (issue 19: about 17 bytes per key, 37 bytes per disclosure for the
//! log's own keys, unbounded). The log never changes what it wrote, so it needs none of
//! what sled offers: it lives in files of its own under `log/` in the data directory, and
//! sled keeps only their lengths (under [`keys::META_LOG`], written in the same sled batch
//! as the state that goes with them).
//!
//! ```text
//! log/journal          the log itself: entries and checkpoints as frames, in log order
//!                        entry       0x01 ‖ length (4, LE) ‖ the entry
//!                        checkpoint  0x02 ‖ length (4, LE) ‖ tree size (8, LE) ‖ the note
//! log/entries.idx      per entry: the offset of its frame in the journal (8, LE)
//! log/checkpoints.idx  per checkpoint: tree size (8, LE) ‖ offset of its frame (8, LE)
//! log/tiles.<r>        r = 0..=7: the hashes at tree level 8·r (row 0: the leaf hashes),
//!                      32 bytes each, left to right: hash j is at 32·j
//! ```
//!
//! Only the journal is the record; the other files are indexes of it, which a scan of the
//! journal rebuilds. So a batch `fdatasync`s the journal alone before the sled batch that
//! records its length (one `fdatasync` per group commit, where five files each needed
//! theirs): the indexes are written with it but synced only once [`INDEX_SYNC_BYTES`] of
//! journal have accumulated past their last sync, and sled records, beside the journal's
//! lengths, the lengths the indexes had at that sync. At open the indexes are cut back to
//! those and rebuilt from the journal up to its committed length (at most
//! [`INDEX_SYNC_BYTES`] and one batch to read).
//!
//! At open, a journal longer than recorded holds the start of a batch that never committed
//! (never acknowledged) and is truncated back (after the high-water check, so that a
//! rolled-back sled keeps every byte for the operator); a journal shorter than recorded, an
//! index shorter than at its last sync, or one that does not agree with the journal there,
//! is damage, refused ([`StoreError::LogFileShort`], [`StoreError::LogIndex`],
//! [`StoreError::LogJournal`]).
//!
//! [`keys::META_LOG`]: crate::keys::META_LOG

use std::fs::File;
use std::io::{BufReader, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use streha_audit::Hash;

use crate::StoreError;
use crate::high_water::MAX_NOTE_LEN;
use crate::log::lock;

/// The directory of the log files, in the data directory.
pub const LOG_DIR: &str = "log";
/// Rows of tiles a log can have: a tree of at most 2^64 - 1 entries has hashes at levels
/// 0, 8, …, 56.
pub(crate) const ROWS: usize = 8;
/// The buffer of a sequential read of the log files (a scan of every entry or checkpoint:
/// `recompute_root`, `export_bundle`, a backup, the migration from format 2, the rebuild
/// of the indexes at open).
pub const LOG_READ_BUFFER: usize = 256 * 1024;
/// Journal bytes a batch may leave past the indexes' last sync before it syncs them (and
/// records that it did). Bounds what an open reads and hashes to rebuild the indexes; costs
/// one `fdatasync` of each index file per that many bytes of log (about 5,000 batches of
/// one disclosure).
pub const INDEX_SYNC_BYTES: u64 = 4 * 1024 * 1024;

/// Zeros written ahead of the journal's end whenever an append passes the zeros already
/// there: a batch then writes over allocated blocks without changing the file's size, so its
/// `fdatasync` flushes data only, not also a journal commit of the file system (on the VM's
/// disk, 78–84 µs against 116–129 µs per `fdatasync`; `BENCHMARKS.md`). One append in about
/// every 1 MiB of journal writes them, and pays for it.
pub const JOURNAL_ZERO_FILL: u64 = 1024 * 1024;

const JOURNAL: &str = "journal";
const ENTRIES_INDEX: &str = "entries.idx";
const CHECKPOINTS_INDEX: &str = "checkpoints.idx";

/// The kind byte of an entry's frame.
const ENTRY_FRAME: u8 = 0x01;
/// The kind byte of a checkpoint's frame.
const CHECKPOINT_FRAME: u8 = 0x02;
/// Kind and length.
const ENTRY_HEADER: usize = 5;
/// Kind, length and tree size.
const CHECKPOINT_HEADER: usize = 13;

fn row_file(row: usize) -> String {
    format!("tiles.{row}")
}

/// The hashes at level 8·`row` of a tree of `size` entries.
pub(crate) fn row_len(size: u64, row: usize) -> u64 {
    size.checked_shr(8 * row as u32).unwrap_or(0)
}

/// How far the log reaches: its entries, its checkpoints and the journal bytes that hold
/// them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lengths {
    /// Entries (the tree size).
    pub(crate) size: u64,
    /// Bytes of the journal.
    pub(crate) journal_bytes: u64,
    /// Checkpoints.
    pub(crate) checkpoints: u64,
}

impl Lengths {
    /// The index files' lengths in bytes at these lengths, by name.
    fn index_lengths(&self) -> Vec<(String, u64)> {
        let mut out = vec![
            (ENTRIES_INDEX.to_owned(), self.size.saturating_mul(8)),
            (
                CHECKPOINTS_INDEX.to_owned(),
                self.checkpoints.saturating_mul(16),
            ),
        ];
        for row in 0..ROWS {
            out.push((row_file(row), row_len(self.size, row).saturating_mul(32)));
        }
        out
    }

    /// Every file's length in bytes at these lengths, by name, the journal first.
    fn file_lengths(&self) -> Vec<(String, u64)> {
        let mut out = vec![(JOURNAL.to_owned(), self.journal_bytes)];
        out.extend(self.index_lengths());
        out
    }

    fn covers(&self, other: &Self) -> bool {
        self.size >= other.size
            && self.journal_bytes >= other.journal_bytes
            && self.checkpoints >= other.checkpoints
    }
}

/// What sled records of the log files (the value under [`crate::keys::META_LOG`]): how far
/// the journal reaches at the last committed batch, and how far the indexes reached when
/// they were last synced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// The log at the last committed batch.
    pub(crate) log: Lengths,
    /// The log as far as the index files were durable at their last sync.
    pub(crate) indexes: Lengths,
}

impl Recorded {
    /// A log whose indexes are synced as far as it reaches.
    pub(crate) fn synced(log: Lengths) -> Self {
        Self { log, indexes: log }
    }

    /// Six counts, 8 bytes BE each: the log's size, journal bytes and checkpoints, then
    /// the same at the indexes' last sync.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; 48];
        for (slot, value) in out.chunks_exact_mut(8).zip([
            self.log.size,
            self.log.journal_bytes,
            self.log.checkpoints,
            self.indexes.size,
            self.indexes.journal_bytes,
            self.indexes.checkpoints,
        ]) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
        out
    }

    /// `None` unless 48 bytes whose indexes reach no further than the log.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 48 {
            return None;
        }
        let at = |i: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[8 * i..8 * i + 8]);
            u64::from_be_bytes(word)
        };
        let recorded = Self {
            log: Lengths {
                size: at(0),
                journal_bytes: at(1),
                checkpoints: at(2),
            },
            indexes: Lengths {
                size: at(3),
                journal_bytes: at(4),
                checkpoints: at(5),
            },
        };
        recorded.log.covers(&recorded.indexes).then_some(recorded)
    }
}

/// What one batch appends, built as it is prepared, from the lengths it starts at.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    base: Lengths,
    after: Lengths,
    journal: Vec<u8>,
    entry_offsets: Vec<u8>,
    rows: [Vec<u8>; ROWS],
    checkpoint_index: Vec<u8>,
}

impl Pending {
    pub(crate) fn new(base: Lengths) -> Self {
        Self {
            base,
            after: base,
            ..Self::default()
        }
    }

    /// Appends an entry (its hashes come through [`Pending::push_node`]). The caller keeps
    /// entries within [`crate::MAX_ENTRY_LEN`], far below the frame's 4-byte length.
    pub(crate) fn push_entry(&mut self, entry: &[u8]) {
        self.entry_offsets
            .extend_from_slice(&self.after.journal_bytes.to_le_bytes());
        self.journal.push(ENTRY_FRAME);
        self.journal
            .extend_from_slice(&(entry.len() as u32).to_le_bytes());
        self.journal.extend_from_slice(entry);
        self.after.journal_bytes += (ENTRY_HEADER + entry.len()) as u64;
        self.after.size += 1;
    }

    /// Records a perfect node that `Frontier::append` completed; those at a level that is
    /// a multiple of 8 go to their row's file (they complete left to right).
    pub(crate) fn push_node(&mut self, level: u8, hash: &Hash) {
        if level.is_multiple_of(8)
            && let Some(row) = self.rows.get_mut(usize::from(level / 8))
        {
            row.extend_from_slice(hash.as_bytes());
        }
    }

    /// Appends the checkpoint signed at `size` (its note fits the high-water mark's slot,
    /// so its frame's length).
    pub(crate) fn push_checkpoint(&mut self, size: u64, note: &str) {
        self.checkpoint_index.extend_from_slice(&size.to_le_bytes());
        self.checkpoint_index
            .extend_from_slice(&self.after.journal_bytes.to_le_bytes());
        self.journal.push(CHECKPOINT_FRAME);
        self.journal
            .extend_from_slice(&(note.len() as u32).to_le_bytes());
        self.journal.extend_from_slice(&size.to_le_bytes());
        self.journal.extend_from_slice(note.as_bytes());
        self.after.journal_bytes += (CHECKPOINT_HEADER + note.len()) as u64;
        self.after.checkpoints += 1;
    }

    /// The lengths once this is appended.
    pub(crate) fn lengths(&self) -> Lengths {
        self.after
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.after == self.base
    }

    /// Bytes this appends to the journal.
    pub(crate) fn journal_len(&self) -> usize {
        self.journal.len()
    }
}

/// One frame of the journal.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// An entry's bytes.
    Entry(Vec<u8>),
    /// A checkpoint: the tree size it signs and its note.
    Checkpoint(u64, String),
}

/// The open log files and what sled recorded of them at the last committed batch.
#[derive(Debug)]
pub(crate) struct LogFiles {
    dir: PathBuf,
    journal: File,
    entries_index: File,
    checkpoints_index: File,
    rows: Vec<File>,
    /// What readers may read (the log of the last durable batch), and how far the indexes
    /// reached at their last sync.
    recorded: Mutex<Recorded>,
    /// The journal's length on disk: its committed bytes, the bytes of a batch being
    /// appended, then zeros ([`JOURNAL_ZERO_FILL`]).
    journal_len: Mutex<u64>,
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Why a read of the log files failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Damaged(String),
}

impl ReadError {
    pub(crate) fn into_store_error(self, store: &Path) -> StoreError {
        match self {
            Self::Io { path, source } => StoreError::Io { path, source },
            Self::Damaged(detail) => StoreError::Corrupt {
                path: store.to_path_buf(),
                detail,
            },
        }
    }
}

/// A frame's header, read and checked against the end of what may be read.
#[derive(Debug)]
struct Header {
    kind: u8,
    /// The checkpoint's tree size (0 for an entry).
    size: u64,
    /// Where the entry or note starts.
    body: u64,
    /// Its length.
    len: usize,
}

impl Header {
    /// Parses the header of the frame at `offset` from `bytes` (at least [`ENTRY_HEADER`]
    /// bytes, [`CHECKPOINT_HEADER`] for a checkpoint), the journal being `end` bytes long.
    fn parse(bytes: &[u8], offset: u64, end: u64) -> Result<Self, String> {
        let cut = || format!("the frame at byte {offset} is cut short");
        let (&kind, rest) = bytes.split_first().ok_or_else(cut)?;
        let mut word = [0u8; 4];
        word.copy_from_slice(rest.get(..4).ok_or_else(cut)?);
        let len = u32::from_le_bytes(word) as usize;
        let (header, size, limit) = match kind {
            ENTRY_FRAME => (ENTRY_HEADER, 0, crate::MAX_ENTRY_LEN),
            CHECKPOINT_FRAME => {
                let size = bytes.get(5..13).map(le).ok_or_else(cut)?;
                (CHECKPOINT_HEADER, size, MAX_NOTE_LEN)
            }
            other => {
                return Err(format!(
                    "the frame at byte {offset} is of unknown kind {other}"
                ));
            }
        };
        let body = offset + header as u64;
        if len > limit || body + len as u64 > end {
            return Err(format!(
                "the frame at byte {offset} claims {len} bytes; {} are left",
                end.saturating_sub(body)
            ));
        }
        Ok(Self {
            kind,
            size,
            body,
            len,
        })
    }
}

impl LogFiles {
    /// Opens (creating what is missing) the log files in `data/log`, checked against what
    /// sled `recorded`: a journal shorter than its committed length, or an index shorter
    /// than at its last sync or that disagrees with the journal there, is refused. Nothing
    /// is changed here: bytes past the committed journal (a batch that never committed)
    /// stay until [`LogFiles::truncate_uncommitted`], once the caller has checked that
    /// sled's recorded lengths are not themselves a rollback (the high-water mark), so that
    /// a refused store keeps every byte it had; the indexes past their last sync are
    /// rebuilt by [`LogFiles::rebuild_indexes`].
    ///
    /// # Errors
    /// [`StoreError::LogFileShort`] or [`StoreError::LogIndex`] for damage; an IO error.
    pub(crate) fn open(data: &Path, recorded: Recorded) -> Result<Self, StoreError> {
        let dir = data.join(LOG_DIR);
        let mut created_dir = false;
        if !dir.is_dir() {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(io_at(&dir))?;
            created_dir = true;
        }
        let mut created_file = false;
        let mut open = |name: &str| -> Result<File, StoreError> {
            let path = dir.join(name);
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
            {
                Ok(file) => Ok(file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    created_file = true;
                    std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&path)
                        .map_err(io_at(&path))
                }
                Err(e) => Err(io_at(&path)(e)),
            }
        };
        let journal = open(JOURNAL)?;
        let entries_index = open(ENTRIES_INDEX)?;
        let checkpoints_index = open(CHECKPOINTS_INDEX)?;
        let rows = (0..ROWS)
            .map(|row| open(&row_file(row)))
            .collect::<Result<Vec<_>, _>>()?;
        if created_file {
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(io_at(&dir))?;
        }
        if created_dir {
            File::open(data)
                .and_then(|d| d.sync_all())
                .map_err(io_at(data))?;
        }
        let files = Self {
            dir,
            journal,
            entries_index,
            checkpoints_index,
            rows,
            recorded: Mutex::new(recorded),
            journal_len: Mutex::new(0),
        };
        files.check(recorded)?;
        let len = files
            .journal
            .metadata()
            .map_err(io_at(&files.path(JOURNAL)))?
            .len();
        *lock(&files.journal_len) = len;
        Ok(files)
    }

    /// The index files, in the order of [`Lengths::index_lengths`].
    fn index_files(&self) -> Vec<(String, &File)> {
        let mut out = vec![
            (ENTRIES_INDEX.to_owned(), &self.entries_index),
            (CHECKPOINTS_INDEX.to_owned(), &self.checkpoints_index),
        ];
        for (row, file) in self.rows.iter().enumerate() {
            out.push((row_file(row), file));
        }
        out
    }

    /// Every file, in the order of [`Lengths::file_lengths`].
    fn files(&self) -> Vec<(String, &File)> {
        let mut out = vec![(JOURNAL.to_owned(), &self.journal)];
        out.extend(self.index_files());
        out
    }

    /// Truncates every file longer than the committed lengths back to them: what is past
    /// them is a batch that never committed, so was never acknowledged, or (the journal)
    /// the zeros laid down ahead of it.
    pub(crate) fn truncate_uncommitted(&self) -> Result<(), StoreError> {
        let committed = self.committed();
        for ((name, file), (_, expected)) in self.files().iter().zip(committed.file_lengths()) {
            let path = self.dir.join(name);
            let found = file.metadata().map_err(io_at(&path))?.len();
            if found > expected {
                if name == JOURNAL && only_zeros(file, expected, found).map_err(io_at(&path))? {
                    file.set_len(expected)
                        .and_then(|()| file.sync_data())
                        .map_err(io_at(&path))?;
                    continue;
                }
                tracing::info!(
                    file = %path.display(),
                    recorded = expected,
                    found,
                    "the log file holds bytes past its recorded length (a batch that never committed, so never acknowledged): truncated back"
                );
                file.set_len(expected)
                    .and_then(|()| file.sync_data())
                    .map_err(io_at(&path))?;
            }
        }
        *lock(&self.journal_len) = committed.journal_bytes;
        Ok(())
    }

    fn check(&self, recorded: Recorded) -> Result<(), StoreError> {
        let short = |path: PathBuf, recorded: u64, file: &File| -> Result<(), StoreError> {
            let found = file.metadata().map_err(io_at(&path))?.len();
            if found < recorded {
                return Err(StoreError::LogFileShort {
                    file: path,
                    recorded,
                    found,
                });
            }
            Ok(())
        };
        short(
            self.path(JOURNAL),
            recorded.log.journal_bytes,
            &self.journal,
        )?;
        for ((name, file), (_, expected)) in self
            .index_files()
            .into_iter()
            .zip(recorded.indexes.index_lengths())
        {
            short(self.path(&name), expected, file)?;
        }
        self.check_indexes_at(recorded.indexes)
    }

    /// The indexes, as far as `at` (their last sync), end where the journal does there: the
    /// last checkpoint's record points at a checkpoint frame of its size that ends the
    /// journal, the last entry's at an entry frame before it.
    fn check_indexes_at(&self, at: Lengths) -> Result<(), StoreError> {
        let index = |name: &str, detail: String| StoreError::LogIndex {
            file: self.path(name),
            detail,
        };
        if at.checkpoints == 0 {
            if at.size != 0 || at.journal_bytes != 0 {
                return Err(index(
                    CHECKPOINTS_INDEX,
                    "entries are recorded without a checkpoint".into(),
                ));
            }
            return Ok(());
        }
        let (size, offset) = self
            .checkpoint_record(at.checkpoints - 1)
            .map_err(io_at(&self.path(CHECKPOINTS_INDEX)))?;
        let header = self.header(offset, at.journal_bytes).map_err(|e| match e {
            ReadError::Damaged(detail) => index(CHECKPOINTS_INDEX, detail),
            ReadError::Io { path, source } => StoreError::Io { path, source },
        })?;
        if header.kind != CHECKPOINT_FRAME
            || header.size != size
            || size != at.size
            || header.body + header.len as u64 != at.journal_bytes
        {
            return Err(index(
                CHECKPOINTS_INDEX,
                format!(
                    "the last checkpoint (of size {size}, at byte {offset}) does not end the journal's {} bytes of {} entries",
                    at.journal_bytes, at.size
                ),
            ));
        }
        if at.size > 0 {
            let entry = read_u64(&self.entries_index, (at.size - 1) * 8)
                .map_err(io_at(&self.path(ENTRIES_INDEX)))?;
            let header = self.header(entry, offset).map_err(|e| match e {
                ReadError::Damaged(detail) => index(ENTRIES_INDEX, detail),
                ReadError::Io { path, source } => StoreError::Io { path, source },
            })?;
            if header.kind != ENTRY_FRAME {
                return Err(index(
                    ENTRIES_INDEX,
                    format!(
                        "the last entry's offset {entry} is not an entry frame before the last checkpoint"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Cuts the indexes back to their last sync and rebuilds them from the journal up to its
    /// committed length (written, not synced: a crash before their next sync rebuilds them
    /// again). Called at open, after [`LogFiles::open`] and before anything reads them.
    ///
    /// # Errors
    /// [`StoreError::LogJournal`] if the journal's frames do not add up to the recorded
    /// lengths; an IO error.
    pub(crate) fn rebuild_indexes(&self) -> Result<(), StoreError> {
        use streha_audit::{Frontier, leaf_hash};

        let Recorded { log, indexes } = self.recorded();
        for ((name, file), (_, len)) in self.index_files().iter().zip(indexes.index_lengths()) {
            let path = self.path(name);
            if file.metadata().map_err(io_at(&path))?.len() > len {
                file.set_len(len).map_err(io_at(&path))?;
            }
        }
        if log == indexes {
            return Ok(());
        }
        let journal = |detail: String| StoreError::LogJournal {
            file: self.path(JOURNAL),
            detail,
        };
        let tail = crate::tiles::Tail::load(self, indexes.size).map_err(|e| {
            journal(format!(
                "cannot read the tiles at their last sync (size {}): {e}",
                indexes.size
            ))
        })?;
        let tiles = crate::tiles::TileNodes {
            files: self,
            size: indexes.size,
            tail: Some(&tail),
            cache: None,
        };
        let mut frontier = Frontier::from_source(indexes.size, &tiles).map_err(|e| {
            journal(format!(
                "cannot rebuild the tree at the indexes' last sync (size {}): {e}",
                indexes.size
            ))
        })?;
        let mut pending = Pending::new(indexes);
        let mut last_checkpoint = (indexes.checkpoints > 0).then_some(indexes.size);
        let frames = self
            .frames(indexes.journal_bytes, log.journal_bytes)
            .map_err(|e| e.into_store_error(&self.dir))?;
        for frame in frames {
            let (offset, frame) = frame.map_err(|e| match e {
                ReadError::Damaged(detail) => journal(detail),
                ReadError::Io { path, source } => StoreError::Io { path, source },
            })?;
            match frame {
                Frame::Entry(entry) => {
                    for (level, _, hash) in frontier.append(leaf_hash(&entry)) {
                        pending.push_node(level, &hash);
                    }
                    pending.push_entry(&entry);
                }
                Frame::Checkpoint(size, note) => {
                    if size > pending.after.size || last_checkpoint.is_some_and(|l| size <= l) {
                        return Err(journal(format!(
                            "the checkpoint at byte {offset} is of size {size}, after {} entries and a checkpoint of size {}",
                            pending.after.size,
                            last_checkpoint.unwrap_or(0)
                        )));
                    }
                    pending.push_checkpoint(size, &note);
                    last_checkpoint = Some(size);
                }
            }
            // Only the indexes are written: the journal holds these bytes already.
            pending.journal.clear();
        }
        let rebuilt = pending.lengths();
        if rebuilt != log || (log.checkpoints > 0 && last_checkpoint != Some(log.size)) {
            return Err(journal(format!(
                "its first {} bytes hold {} entries and {} checkpoints (the last of size {}); {} and {} (the last of size {}) are recorded",
                log.journal_bytes,
                rebuilt.size,
                rebuilt.checkpoints,
                last_checkpoint.unwrap_or(0),
                log.size,
                log.checkpoints,
                log.size
            )));
        }
        self.write_parts(&pending, false)?;
        tracing::info!(
            entries = log.size - indexes.size,
            checkpoints = log.checkpoints - indexes.checkpoints,
            "rebuilt the log's indexes from the journal past their last sync"
        );
        Ok(())
    }

    /// Truncates every file back to `lengths` and syncs it (a migration starting over, a
    /// new epoch once its sled batch is durable).
    pub(crate) fn truncate_to(&self, lengths: Lengths) -> Result<(), StoreError> {
        for ((name, file), (_, len)) in self.files().iter().zip(lengths.file_lengths()) {
            let path = self.dir.join(name);
            file.set_len(len)
                .and_then(|()| file.sync_data())
                .map_err(io_at(&path))?;
        }
        *lock(&self.journal_len) = lengths.journal_bytes;
        self.set_recorded(Recorded::synced(lengths));
        Ok(())
    }

    /// The log of the last committed batch.
    pub(crate) fn committed(&self) -> Lengths {
        self.recorded().log
    }

    /// What sled holds of the log files at the last committed batch.
    pub(crate) fn recorded(&self) -> Recorded {
        *lock(&self.recorded)
    }

    /// Records that the batch that recorded `recorded` in sled is durable (called under the
    /// store's gate).
    pub(crate) fn set_recorded(&self, recorded: Recorded) {
        *lock(&self.recorded) = recorded;
    }

    /// Writes `pending` at the ends it was built from, without syncing the journal (the
    /// batch's record in the write-ahead log holds its bytes until a checkpoint syncs it);
    /// syncs the indexes once [`INDEX_SYNC_BYTES`] of journal are past their last sync.
    /// Returns what the sled batch must record. Nothing of it counts until the batch's
    /// record is durable.
    ///
    /// # Errors
    /// The IO error of a write or sync (ENOSPC, EIO, ...), with the file's path.
    pub(crate) fn append(&self, pending: &Pending) -> Result<Recorded, StoreError> {
        self.write(pending)?;
        self.zero_fill_past(pending.lengths().journal_bytes)?;
        let synced = self.recorded().indexes;
        let log = pending.lengths();
        if log.journal_bytes - synced.journal_bytes < INDEX_SYNC_BYTES {
            return Ok(Recorded {
                log,
                indexes: synced,
            });
        }
        self.sync_indexes()?;
        Ok(Recorded::synced(log))
    }

    /// Writes [`JOURNAL_ZERO_FILL`] zeros past `end` if the journal's bytes on disk end
    /// before it (not synced here: the append's `fdatasync` covers them).
    fn zero_fill_past(&self, end: u64) -> Result<(), StoreError> {
        let mut len = lock(&self.journal_len);
        if end <= *len {
            return Ok(());
        }
        let target = end + JOURNAL_ZERO_FILL;
        let mut at = end;
        while at < target {
            let n = (target - at).min(ZEROS.len() as u64) as usize;
            self.journal
                .write_all_at(&ZEROS[..n], at)
                .map_err(io_at(&self.path(JOURNAL)))?;
            at += n as u64;
        }
        *len = target;
        Ok(())
    }

    /// Writes `pending` (journal and indexes) at the ends it was built from, without
    /// syncing.
    pub(crate) fn write(&self, pending: &Pending) -> Result<(), StoreError> {
        self.write_parts(pending, true)
    }

    fn write_parts(&self, pending: &Pending, with_journal: bool) -> Result<(), StoreError> {
        let base = pending.base;
        let mut parts: Vec<(String, &File, u64, &[u8])> = Vec::with_capacity(3 + ROWS);
        if with_journal {
            parts.push((
                JOURNAL.to_owned(),
                &self.journal,
                base.journal_bytes,
                &pending.journal,
            ));
        }
        parts.push((
            ENTRIES_INDEX.to_owned(),
            &self.entries_index,
            base.size * 8,
            &pending.entry_offsets,
        ));
        parts.push((
            CHECKPOINTS_INDEX.to_owned(),
            &self.checkpoints_index,
            base.checkpoints * 16,
            &pending.checkpoint_index,
        ));
        for (row, file) in self.rows.iter().enumerate() {
            let bytes = &pending.rows[row];
            let expected = (row_len(pending.after.size, row) - row_len(base.size, row)) * 32;
            if bytes.len() as u64 != expected {
                return Err(StoreError::Corrupt {
                    path: self.dir.clone(),
                    detail: format!(
                        "a batch's hashes of row {row} do not line up with its entries"
                    ),
                });
            }
            parts.push((row_file(row), file, row_len(base.size, row) * 32, bytes));
        }
        for (name, file, offset, bytes) in parts {
            if !bytes.is_empty() {
                file.write_all_at(bytes, offset)
                    .map_err(io_at(&self.path(&name)))?;
            }
        }
        Ok(())
    }

    /// `fdatasync`s the journal (a checkpoint of the write-ahead log).
    pub(crate) fn sync_journal(&self) -> Result<(), StoreError> {
        self.journal.sync_data().map_err(io_at(&self.path(JOURNAL)))
    }

    /// The bytes `pending` appends to the journal, and where.
    pub(crate) fn journal_part(pending: &Pending) -> (u64, &[u8]) {
        (pending.base.journal_bytes, &pending.journal)
    }

    /// Writes back journal bytes a batch's write-ahead record holds (at open, before
    /// [`LogFiles::open`]), and `fdatasync`s them.
    ///
    /// # Errors
    /// The IO error; a missing journal is not created (an error, not a new log).
    pub(crate) fn restore_journal(data: &Path, parts: &[(u64, &[u8])]) -> Result<(), StoreError> {
        if parts.iter().all(|(_, bytes)| bytes.is_empty()) {
            return Ok(());
        }
        let path = data.join(LOG_DIR).join(JOURNAL);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        for (offset, bytes) in parts {
            file.write_all_at(bytes, *offset).map_err(io_at(&path))?;
        }
        file.sync_data().map_err(io_at(&path))
    }

    /// `fdatasync`s every index file.
    pub(crate) fn sync_indexes(&self) -> Result<(), StoreError> {
        for (name, file) in self.index_files() {
            file.sync_data().map_err(io_at(&self.path(&name)))?;
        }
        Ok(())
    }

    /// `fdatasync`s every log file and the log directory.
    pub(crate) fn sync_all(&self) -> Result<(), StoreError> {
        for (name, file) in self.files() {
            file.sync_data().map_err(io_at(&self.path(&name)))?;
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&self.dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn io(&self, name: &str) -> impl FnOnce(std::io::Error) -> ReadError + use<> {
        let path = self.path(name);
        move |source| ReadError::Io { path, source }
    }

    fn checkpoint_record(&self, position: u64) -> std::io::Result<(u64, u64)> {
        let mut record = [0u8; 16];
        self.checkpoints_index
            .read_exact_at(&mut record, position * 16)?;
        let (size, offset) = record.split_at(8);
        Ok((le(size), le(offset)))
    }

    /// The header of the frame at `offset` of a journal of `end` bytes.
    fn header(&self, offset: u64, end: u64) -> Result<Header, ReadError> {
        let available = end.saturating_sub(offset).min(CHECKPOINT_HEADER as u64) as usize;
        if available < ENTRY_HEADER {
            return Err(ReadError::Damaged(format!(
                "a frame at byte {offset} of a journal of {end} bytes"
            )));
        }
        let mut bytes = [0u8; CHECKPOINT_HEADER];
        self.journal
            .read_exact_at(&mut bytes[..available], offset)
            .map_err(self.io(JOURNAL))?;
        Header::parse(&bytes[..available], offset, end).map_err(ReadError::Damaged)
    }

    /// The body of a frame whose header was read.
    fn body(&self, header: &Header) -> Result<Vec<u8>, ReadError> {
        let mut body = vec![0u8; header.len];
        self.journal
            .read_exact_at(&mut body, header.body)
            .map_err(self.io(JOURNAL))?;
        Ok(body)
    }

    /// Entry `index` of a log of `size` committed entries (`None` past it).
    pub(crate) fn entry(&self, index: u64, size: u64) -> Result<Option<Vec<u8>>, ReadError> {
        if index >= size {
            return Ok(None);
        }
        let offset = read_u64(&self.entries_index, index * 8).map_err(self.io(ENTRIES_INDEX))?;
        let header = self.header(offset, self.committed().journal_bytes)?;
        if header.kind != ENTRY_FRAME {
            return Err(ReadError::Damaged(format!(
                "the index places entry {index} at byte {offset}, which is not an entry's frame"
            )));
        }
        self.body(&header).map(Some)
    }

    /// The entries `first..size` in order, read sequentially.
    pub(crate) fn entries_from(&self, first: u64, size: u64) -> Result<EntryReader, ReadError> {
        let (start, end) = if first >= size {
            (0, 0)
        } else {
            (
                read_u64(&self.entries_index, first * 8).map_err(self.io(ENTRIES_INDEX))?,
                self.committed().journal_bytes,
            )
        };
        Ok(EntryReader {
            frames: self.frames(start, end)?,
            left: size.saturating_sub(first),
        })
    }

    /// The frames of the journal from `start` (a frame's offset) to `end`, read in order.
    pub(crate) fn frames(&self, start: u64, end: u64) -> Result<FrameReader, ReadError> {
        Ok(FrameReader {
            reader: sequential(&self.path(JOURNAL), start).map_err(self.io(JOURNAL))?,
            at: start,
            end,
            path: self.path(JOURNAL),
        })
    }

    /// The hashes `first..end` of row `row`, which must be committed.
    pub(crate) fn row_hashes(&self, row: u8, first: u64, end: u64) -> std::io::Result<Vec<Hash>> {
        let file = &self.rows[usize::from(row)];
        let mut bytes = vec![0u8; ((end - first) * 32) as usize];
        file.read_exact_at(&mut bytes, first * 32)?;
        Ok(bytes
            .chunks_exact(32)
            .map(|chunk| {
                let mut hash = [0u8; 32];
                hash.copy_from_slice(chunk);
                Hash::from(hash)
            })
            .collect())
    }

    /// How many checkpoints are committed.
    pub(crate) fn checkpoint_count(&self) -> u64 {
        self.committed().checkpoints
    }

    /// The checkpoint at `position` (0: the oldest): its tree size and note.
    pub(crate) fn checkpoint(&self, position: u64) -> Result<(u64, String), ReadError> {
        let (size, offset) = self
            .checkpoint_record(position)
            .map_err(self.io(CHECKPOINTS_INDEX))?;
        let header = self.header(offset, self.committed().journal_bytes)?;
        if header.kind != CHECKPOINT_FRAME || header.size != size {
            return Err(ReadError::Damaged(format!(
                "the index places checkpoint {position} (of size {size}) at byte {offset}, which is not its frame"
            )));
        }
        let note = String::from_utf8(self.body(&header)?)
            .map_err(|_| ReadError::Damaged(format!("checkpoint {position} is not UTF-8")))?;
        Ok((size, note))
    }

    /// The position of the first checkpoint of a tree size of at least `size` among the
    /// `count` committed (`count` if none): a binary search of the index.
    pub(crate) fn checkpoint_position(&self, size: u64, count: u64) -> Result<u64, ReadError> {
        let (mut low, mut high) = (0u64, count);
        while low < high {
            let middle = low + (high - low) / 2;
            let (at, _) = self
                .checkpoint_record(middle)
                .map_err(self.io(CHECKPOINTS_INDEX))?;
            if at < size {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(low)
    }
}

/// A run of zeros, written ahead of the journal and compared against its tail.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Whether `file` holds only zero bytes from `start` to `end`.
fn only_zeros(file: &File, start: u64, end: u64) -> std::io::Result<bool> {
    let mut buffer = vec![0u8; ZEROS.len()];
    let mut at = start;
    while at < end {
        let n = (end - at).min(buffer.len() as u64) as usize;
        file.read_exact_at(&mut buffer[..n], at)?;
        if buffer[..n] != ZEROS[..n] {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

fn le(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

fn read_u64(file: &File, offset: u64) -> std::io::Result<u64> {
    let mut word = [0u8; 8];
    file.read_exact_at(&mut word, offset)?;
    Ok(u64::from_le_bytes(word))
}

/// A buffered reader of `path` from `offset`, with a file handle of its own (so that it
/// shares no file position with anyone).
fn sequential(path: &Path, offset: u64) -> std::io::Result<BufReader<File>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    Ok(BufReader::with_capacity(LOG_READ_BUFFER, file))
}

/// Frames of the journal, read in order up to an end (see [`LogFiles::frames`]); each with
/// the offset it starts at. The first error ends it.
pub(crate) struct FrameReader {
    reader: BufReader<File>,
    at: u64,
    end: u64,
    path: PathBuf,
}

impl FrameReader {
    fn read(&mut self) -> Result<(u64, Frame), ReadError> {
        let offset = self.at;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReadError::Io { path, source }
        };
        let available = (self.end - offset).min(CHECKPOINT_HEADER as u64) as usize;
        if available < ENTRY_HEADER {
            return Err(ReadError::Damaged(format!(
                "the journal ends inside the frame at byte {offset}"
            )));
        }
        let mut bytes = [0u8; CHECKPOINT_HEADER];
        self.reader
            .read_exact(&mut bytes[..ENTRY_HEADER])
            .map_err(io(&self.path))?;
        if bytes[0] == CHECKPOINT_FRAME && available == CHECKPOINT_HEADER {
            self.reader
                .read_exact(&mut bytes[ENTRY_HEADER..])
                .map_err(io(&self.path))?;
        }
        let header =
            Header::parse(&bytes[..available], offset, self.end).map_err(ReadError::Damaged)?;
        let mut body = vec![0u8; header.len];
        self.reader.read_exact(&mut body).map_err(io(&self.path))?;
        self.at = header.body + header.len as u64;
        let frame = match header.kind {
            ENTRY_FRAME => Frame::Entry(body),
            _ => Frame::Checkpoint(
                header.size,
                String::from_utf8(body).map_err(|_| {
                    ReadError::Damaged(format!("the checkpoint at byte {offset} is not UTF-8"))
                })?,
            ),
        };
        Ok((offset, frame))
    }
}

impl Iterator for FrameReader {
    type Item = Result<(u64, Frame), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        let frame = self.read();
        if frame.is_err() {
            self.at = self.end;
        }
        Some(frame)
    }
}

/// Committed entries, read in order (see [`LogFiles::entries_from`]).
pub(crate) struct EntryReader {
    frames: FrameReader,
    left: u64,
}

impl Iterator for EntryReader {
    type Item = Result<Vec<u8>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.left > 0 {
            match self.frames.next() {
                None => {
                    self.left = 0;
                    return Some(Err(ReadError::Damaged(
                        "the journal ends before the last committed entry".into(),
                    )));
                }
                Some(Err(e)) => {
                    self.left = 0;
                    return Some(Err(e));
                }
                Some(Ok((_, Frame::Entry(entry)))) => {
                    self.left -= 1;
                    return Some(Ok(entry));
                }
                Some(Ok((_, Frame::Checkpoint(..)))) => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use streha_audit::{Frontier, leaf_hash};

    use super::*;

    /// Appends `batches` (entry counts) as the store does, syncing the indexes after the
    /// batches `sync_after` lists; returns what sled would hold.
    fn write_log(files: &LogFiles, batches: &[usize], sync_after: &[bool]) -> Recorded {
        let mut frontier = Frontier::new();
        for (number, &count) in batches.iter().enumerate() {
            let mut pending = Pending::new(files.committed());
            for _ in 0..count {
                let entry = frontier.size().to_le_bytes().repeat(1 + number % 5);
                for (level, _, hash) in frontier.append(leaf_hash(&entry)) {
                    pending.push_node(level, &hash);
                }
                pending.push_entry(&entry);
            }
            let note = format!("note at {}\n", frontier.size());
            pending.push_checkpoint(frontier.size(), &note);
            let mut recorded = files.append(&pending).unwrap();
            if sync_after.get(number).copied().unwrap_or(false) {
                files.sync_indexes().unwrap();
                recorded = Recorded::synced(recorded.log);
            }
            files.set_recorded(recorded);
        }
        files.recorded()
    }

    fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
        Lengths::default()
            .file_lengths()
            .into_iter()
            .map(|(name, _)| {
                let bytes = std::fs::read(dir.join(LOG_DIR).join(&name)).unwrap();
                (name, bytes)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Whatever a crash leaves of the indexes past their last sync (cut anywhere, grown
        /// with garbage, overwritten), the rebuild at open makes them byte for byte what
        /// they were, and leaves the journal as it was.
        #[test]
        fn indexes_past_their_last_sync_are_rebuilt_byte_for_byte(
            batches in proptest::collection::vec(1usize..300, 1..12),
            sync_after in proptest::collection::vec(any::<bool>(), 12),
            damage in proptest::collection::vec((0usize..ROWS + 2, any::<u16>(), 0u8..3), 0..6),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let recorded = {
                let files = LogFiles::open(dir.path(), Recorded::default()).unwrap();
                write_log(&files, &batches, &sync_after)
            };
            let before = contents(dir.path());
            let synced = recorded.indexes.index_lengths();
            for (file, at, how) in damage {
                let (name, synced_len) = &synced[file];
                let path = dir.path().join(LOG_DIR).join(name);
                let len = std::fs::metadata(&path).unwrap().len();
                let handle = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                // Only past the last sync: before it, the file is durable.
                let span = len.saturating_sub(*synced_len);
                match how {
                    0 => handle.set_len(synced_len + u64::from(at) % (span + 1)).unwrap(),
                    1 => handle.write_all_at(&[0xA5; 40], len + u64::from(at) % 64).unwrap(),
                    _ if span > 0 => {
                        let offset = synced_len + u64::from(at) % span;
                        handle.write_all_at(&[0x5A], offset).unwrap();
                    }
                    _ => {}
                }
            }
            let files = LogFiles::open(dir.path(), recorded).unwrap();
            files.rebuild_indexes().unwrap();
            prop_assert_eq!(contents(dir.path()), before);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever bytes the journal holds past the indexes' last sync (damage, or a sled
        /// record that does not match the files), the rebuild answers rebuilt or
        /// `LogJournal`/`LogIndex` — never a panic, never indexes that disagree with what
        /// sled recorded.
        #[test]
        fn any_journal_bytes_past_the_last_sync_are_rebuilt_or_refused(
            synced_batches in proptest::collection::vec(1usize..20, 0..4),
            tail in proptest::collection::vec(any::<u8>(), 0..600),
            claimed in (0u64..40, 0u64..40),
            frames_of_the_log in proptest::collection::vec(1usize..20, 0..4),
            keep_real_frames in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            // The log as synced, and the same log with more batches, never synced.
            let synced = {
                let files = LogFiles::open(dir.path(), Recorded::default()).unwrap();
                write_log(&files, &synced_batches, &vec![true; synced_batches.len()])
            };
            let longer = tempfile::tempdir().unwrap();
            let real = {
                let all_batches = [&synced_batches[..], &frames_of_the_log[..]].concat();
                let files = LogFiles::open(longer.path(), Recorded::default()).unwrap();
                let recorded = write_log(&files, &all_batches, &[]);
                let journal = std::fs::read(longer.path().join(LOG_DIR).join(JOURNAL)).unwrap();
                (recorded, journal)
            };
            let (real_recorded, real_journal) = real;
            let path = dir.path().join(LOG_DIR).join(JOURNAL);
            let mut journal = real_journal[..synced.log.journal_bytes as usize].to_vec();
            let log = if keep_real_frames {
                journal = real_journal.clone();
                journal.extend_from_slice(&tail);
                real_recorded.log
            } else {
                journal.extend_from_slice(&tail);
                Lengths {
                    size: synced.log.size + claimed.0,
                    journal_bytes: journal.len() as u64,
                    checkpoints: synced.log.checkpoints + claimed.1,
                }
            };
            std::fs::write(&path, &journal).unwrap();
            let recorded = Recorded { log, indexes: synced.log };
            let files = LogFiles::open(dir.path(), recorded).unwrap();
            match files.rebuild_indexes() {
                Ok(()) => {
                    // Rebuilt: the indexes reach exactly what sled recorded.
                    for (name, len) in log.index_lengths() {
                        let found = std::fs::metadata(dir.path().join(LOG_DIR).join(&name)).unwrap().len();
                        prop_assert_eq!(found, len, "{}", name);
                    }
                    if log.checkpoints > 0 {
                        let (size, _) = files.checkpoint(log.checkpoints - 1).unwrap();
                        prop_assert_eq!(size, log.size);
                    }
                }
                Err(StoreError::LogJournal { .. } | StoreError::LogIndex { .. }) => {}
                Err(other) => prop_assert!(false, "unexpected error: {other}"),
            }
        }
    }

    /// A recorded value whose indexes reach past the log is malformed, not trusted.
    #[test]
    fn recorded_lengths_round_trip_and_indexes_past_the_log_are_refused() {
        let log = Lengths {
            size: 10,
            journal_bytes: 900,
            checkpoints: 3,
        };
        let recorded = Recorded {
            log,
            indexes: Lengths {
                size: 4,
                journal_bytes: 300,
                checkpoints: 1,
            },
        };
        assert_eq!(Recorded::decode(&recorded.encode()), Some(recorded));
        let backwards = Recorded {
            log: recorded.indexes,
            indexes: log,
        };
        assert_eq!(Recorded::decode(&backwards.encode()), None);
        assert_eq!(Recorded::decode(&[0; 32]), None);
    }
}
