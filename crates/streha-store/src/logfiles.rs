//! The audit log's entries, tiles and checkpoints in append-only files (storage format 3).
//!
//! sled keeps a page-table slot and segment accounting for every key it ever held, for the
//! life of the process (issue 19: about 17 bytes per key, 37 bytes per disclosure for the
//! log's own keys, unbounded). The log never changes what it wrote, so it needs none of
//! what sled offers: it lives in files of its own under `log/` in the data directory, and
//! sled keeps only the lengths those files had at the last committed batch (under
//! [`keys::META_LOG`], written in the same sled batch as the state that goes with them).
//!
//! ```text
//! log/entries          the entries' bytes, back to back
//! log/entries.idx      per entry: the end offset of its bytes in `entries` (8, LE)
//! log/tiles.<r>        r = 0..=7: the hashes at tree level 8·r (row 0: the leaf hashes),
//!                      32 bytes each, left to right: hash j is at 32·j
//! log/checkpoints      the signed notes, back to back
//! log/checkpoints.idx  per checkpoint: tree size (8, LE) ‖ end offset in `checkpoints` (8, LE)
//! ```
//!
//! A batch appends to every file at its recorded end and `fdatasync`s every file it wrote,
//! before the sled batch that records the new lengths. So at open a file longer than
//! recorded holds the start of a batch that never committed (it was never acknowledged) and
//! is truncated back; a file shorter than recorded, or an index that does not end where its
//! data file does, is damage, refused ([`StoreError::LogFileShort`],
//! [`StoreError::LogIndex`]).

use std::fs::File;
use std::io::{BufReader, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use streha_audit::Hash;

use crate::StoreError;

/// The directory of the log files, in the data directory.
pub const LOG_DIR: &str = "log";
/// Rows of tiles a log can have: a tree of at most 2^64 - 1 entries has hashes at levels
/// 0, 8, …, 56.
pub(crate) const ROWS: usize = 8;
/// The buffer of a sequential read of the log files (a scan of every entry or checkpoint:
/// `recompute_root`, `export_bundle`, a backup, the migration from format 2).
pub const LOG_READ_BUFFER: usize = 256 * 1024;

const ENTRIES: &str = "entries";
const ENTRIES_INDEX: &str = "entries.idx";
const CHECKPOINTS: &str = "checkpoints";
const CHECKPOINTS_INDEX: &str = "checkpoints.idx";

fn row_file(row: usize) -> String {
    format!("tiles.{row}")
}

/// The hashes at level 8·`row` of a tree of `size` entries.
pub(crate) fn row_len(size: u64, row: usize) -> u64 {
    size.checked_shr(8 * row as u32).unwrap_or(0)
}

/// What the log files held at the last committed batch, as sled records it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lengths {
    /// Entries (the tree size).
    pub(crate) size: u64,
    /// Bytes of `entries`.
    pub(crate) entry_bytes: u64,
    /// Checkpoints.
    pub(crate) checkpoints: u64,
    /// Bytes of `checkpoints`.
    pub(crate) checkpoint_bytes: u64,
}

impl Lengths {
    /// The value under [`crate::keys::META_LOG`]: the four counts, 8 bytes BE each.
    pub(crate) fn encode(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (slot, value) in out.chunks_exact_mut(8).zip([
            self.size,
            self.entry_bytes,
            self.checkpoints,
            self.checkpoint_bytes,
        ]) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 {
            return None;
        }
        let at = |i: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[8 * i..8 * i + 8]);
            u64::from_be_bytes(word)
        };
        Some(Self {
            size: at(0),
            entry_bytes: at(1),
            checkpoints: at(2),
            checkpoint_bytes: at(3),
        })
    }

    /// Every file's length in bytes, by name.
    fn file_lengths(&self) -> Vec<(String, u64)> {
        let mut out = vec![
            (ENTRIES.to_owned(), self.entry_bytes),
            (ENTRIES_INDEX.to_owned(), self.size.saturating_mul(8)),
            (CHECKPOINTS.to_owned(), self.checkpoint_bytes),
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
}

/// What one batch appends, built as it is prepared, from the lengths it starts at.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    base: Lengths,
    after: Lengths,
    entries: Vec<u8>,
    entry_ends: Vec<u8>,
    rows: [Vec<u8>; ROWS],
    checkpoints: Vec<u8>,
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

    /// Appends an entry (its hashes come through [`Pending::push_node`]).
    pub(crate) fn push_entry(&mut self, entry: &[u8]) {
        self.entries.extend_from_slice(entry);
        self.after.entry_bytes += entry.len() as u64;
        self.after.size += 1;
        self.entry_ends
            .extend_from_slice(&self.after.entry_bytes.to_le_bytes());
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

    /// Appends the checkpoint signed at `size`.
    pub(crate) fn push_checkpoint(&mut self, size: u64, note: &str) {
        self.checkpoints.extend_from_slice(note.as_bytes());
        self.after.checkpoint_bytes += note.len() as u64;
        self.after.checkpoints += 1;
        self.checkpoint_index.extend_from_slice(&size.to_le_bytes());
        self.checkpoint_index
            .extend_from_slice(&self.after.checkpoint_bytes.to_le_bytes());
    }

    /// The lengths once this is appended.
    pub(crate) fn lengths(&self) -> Lengths {
        self.after
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.after == self.base
    }
}

/// The open log files and the lengths of the last committed batch.
#[derive(Debug)]
pub(crate) struct LogFiles {
    dir: PathBuf,
    entries: File,
    entries_index: File,
    checkpoints: File,
    checkpoints_index: File,
    rows: Vec<File>,
    /// What readers may read: the lengths of the last durable batch.
    committed: Mutex<Lengths>,
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

impl LogFiles {
    /// Opens (creating what is missing) the log files in `data/log`, checked against the
    /// `recorded` lengths: shorter ones are refused. Longer ones (a batch that never
    /// committed) are left as they are until [`LogFiles::truncate_uncommitted`]: the caller
    /// first checks that sled's recorded lengths are not themselves a rollback (the
    /// high-water mark), so that a refused store keeps every byte it had.
    ///
    /// # Errors
    /// [`StoreError::LogFileShort`] or [`StoreError::LogIndex`] for damage; an IO error.
    pub(crate) fn open(data: &Path, recorded: Lengths) -> Result<Self, StoreError> {
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
        let entries = open(ENTRIES)?;
        let entries_index = open(ENTRIES_INDEX)?;
        let checkpoints = open(CHECKPOINTS)?;
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
            entries,
            entries_index,
            checkpoints,
            checkpoints_index,
            rows,
            committed: Mutex::new(recorded),
        };
        files.check(recorded)?;
        Ok(files)
    }

    fn files(&self) -> Vec<(String, &File)> {
        let mut out = vec![
            (ENTRIES.to_owned(), &self.entries),
            (ENTRIES_INDEX.to_owned(), &self.entries_index),
            (CHECKPOINTS.to_owned(), &self.checkpoints),
            (CHECKPOINTS_INDEX.to_owned(), &self.checkpoints_index),
        ];
        for (row, file) in self.rows.iter().enumerate() {
            out.push((row_file(row), file));
        }
        out
    }

    /// Truncates every file longer than the committed lengths back to them: what is past
    /// them is a batch that never committed, so was never acknowledged.
    pub(crate) fn truncate_uncommitted(&self) -> Result<(), StoreError> {
        let committed = self.committed();
        for ((name, file), (_, expected)) in self.files().iter().zip(committed.file_lengths()) {
            let path = self.dir.join(name);
            let found = file.metadata().map_err(io_at(&path))?.len();
            if found > expected {
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
        Ok(())
    }

    fn check(&self, recorded: Lengths) -> Result<(), StoreError> {
        let files = self.files();
        for ((name, file), (_, expected)) in files.iter().zip(recorded.file_lengths()) {
            let path = self.dir.join(name);
            let found = file.metadata().map_err(io_at(&path))?.len();
            if found < expected {
                return Err(StoreError::LogFileShort {
                    file: path,
                    recorded: expected,
                    found,
                });
            }
        }
        // The indexes end where their data files do.
        let index = |path: PathBuf, detail: String| StoreError::LogIndex { file: path, detail };
        if recorded.size > 0 {
            let path = self.dir.join(ENTRIES_INDEX);
            let end =
                read_u64(&self.entries_index, (recorded.size - 1) * 8).map_err(io_at(&path))?;
            if end != recorded.entry_bytes {
                return Err(index(
                    path,
                    format!(
                        "the last entry ends at {end}, the entries file at {}",
                        recorded.entry_bytes
                    ),
                ));
            }
        } else if recorded.entry_bytes != 0 {
            return Err(index(
                self.dir.join(ENTRIES_INDEX),
                "no entry is recorded, but entry bytes are".into(),
            ));
        }
        if recorded.checkpoints > 0 {
            let path = self.dir.join(CHECKPOINTS_INDEX);
            let (size, end) = self
                .checkpoint_record(recorded.checkpoints - 1)
                .map_err(io_at(&path))?;
            if end != recorded.checkpoint_bytes || size != recorded.size {
                return Err(index(
                    path,
                    format!(
                        "the last checkpoint is of size {size} and ends at {end}; the log has {} entries and the checkpoints file {} bytes",
                        recorded.size, recorded.checkpoint_bytes
                    ),
                ));
            }
        } else if recorded.checkpoint_bytes != 0 || recorded.size != 0 {
            return Err(index(
                self.dir.join(CHECKPOINTS_INDEX),
                "entries are recorded without a checkpoint".into(),
            ));
        }
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
        *self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = lengths;
        Ok(())
    }

    /// The lengths of the last committed batch.
    pub(crate) fn committed(&self) -> Lengths {
        *self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that the batch that appended up to `lengths` is durable (called under the
    /// store's gate, with the sled batch that records them).
    pub(crate) fn set_committed(&self, lengths: Lengths) {
        *self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = lengths;
    }

    /// Writes `pending` at the ends it was built from and `fdatasync`s every file written.
    /// Nothing of it counts until the sled batch recording its lengths is durable.
    ///
    /// # Errors
    /// The IO error of a write or sync (ENOSPC, EIO, ...), with the file's path.
    pub(crate) fn append(&self, pending: &Pending) -> Result<(), StoreError> {
        let written = self.write(pending)?;
        // The files are synced at once, each from a thread of its own: the file system
        // joins their journal commits, where one after the other each would wait for its
        // own (a batch writes five files).
        std::thread::scope(|scope| {
            let others: Vec<_> = written
                .iter()
                .skip(1)
                .map(|(path, file)| scope.spawn(move || file.sync_data().map_err(io_at(path))))
                .collect();
            let first = match written.first() {
                Some((path, file)) => file.sync_data().map_err(io_at(path)),
                None => Ok(()),
            };
            others.into_iter().fold(first, |result, handle| {
                let synced = handle.join().unwrap_or_else(|_| {
                    Err(StoreError::CommitFailed("a log file sync panicked".into()))
                });
                result.and(synced)
            })
        })
    }

    /// Writes `pending` at the ends it was built from, without syncing; returns the files
    /// written.
    pub(crate) fn write(&self, pending: &Pending) -> Result<Vec<(PathBuf, &File)>, StoreError> {
        let base = pending.base;
        let mut parts: Vec<(&str, &File, u64, &[u8])> = vec![
            (ENTRIES, &self.entries, base.entry_bytes, &pending.entries),
            (
                ENTRIES_INDEX,
                &self.entries_index,
                base.size * 8,
                &pending.entry_ends,
            ),
            (
                CHECKPOINTS,
                &self.checkpoints,
                base.checkpoint_bytes,
                &pending.checkpoints,
            ),
            (
                CHECKPOINTS_INDEX,
                &self.checkpoints_index,
                base.checkpoints * 16,
                &pending.checkpoint_index,
            ),
        ];
        let row_names: Vec<String> = (0..ROWS).map(row_file).collect();
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
            parts.push((&row_names[row], file, row_len(base.size, row) * 32, bytes));
        }
        let mut written = Vec::new();
        for (name, file, offset, bytes) in parts {
            if bytes.is_empty() {
                continue;
            }
            let path = self.dir.join(name);
            file.write_all_at(bytes, offset).map_err(io_at(&path))?;
            written.push((path, file));
        }
        Ok(written)
    }

    /// `fdatasync`s every log file and the log directory.
    pub(crate) fn sync_all(&self) -> Result<(), StoreError> {
        for (name, file) in self.files() {
            file.sync_data().map_err(io_at(&self.dir.join(name)))?;
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
        let (size, end) = record.split_at(8);
        Ok((le(size), le(end)))
    }

    /// Entry `index` of a log of `size` committed entries (`None` past it).
    pub(crate) fn entry(&self, index: u64, size: u64) -> Result<Option<Vec<u8>>, ReadError> {
        if index >= size {
            return Ok(None);
        }
        let total = self.committed().entry_bytes;
        let (start, end) = if index == 0 {
            (
                0,
                read_u64(&self.entries_index, 0).map_err(self.io(ENTRIES_INDEX))?,
            )
        } else {
            let mut both = [0u8; 16];
            self.entries_index
                .read_exact_at(&mut both, (index - 1) * 8)
                .map_err(self.io(ENTRIES_INDEX))?;
            (le(&both[..8]), le(&both[8..]))
        };
        if start > end || end > total || end - start > crate::MAX_ENTRY_LEN as u64 {
            return Err(ReadError::Damaged(format!(
                "the index places entry {index} at bytes {start}..{end} of {total}"
            )));
        }
        let mut entry = vec![0u8; (end - start) as usize];
        self.entries
            .read_exact_at(&mut entry, start)
            .map_err(self.io(ENTRIES))?;
        Ok(Some(entry))
    }

    /// The entries `first..size` in order, read sequentially.
    pub(crate) fn entries_from(&self, first: u64, size: u64) -> Result<EntryReader, ReadError> {
        let start = if first == 0 || first >= size {
            0
        } else {
            read_u64(&self.entries_index, (first - 1) * 8).map_err(self.io(ENTRIES_INDEX))?
        };
        Ok(EntryReader {
            index: sequential(&self.path(ENTRIES_INDEX), first * 8)
                .map_err(self.io(ENTRIES_INDEX))?,
            data: sequential(&self.path(ENTRIES), start).map_err(self.io(ENTRIES))?,
            next: first,
            size,
            at: start,
            dir: self.dir.clone(),
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
        let (size, end) = self
            .checkpoint_record(position)
            .map_err(self.io(CHECKPOINTS_INDEX))?;
        let start = if position == 0 {
            0
        } else {
            self.checkpoint_record(position - 1)
                .map_err(self.io(CHECKPOINTS_INDEX))?
                .1
        };
        let total = self.committed().checkpoint_bytes;
        // Every checkpoint the store signs fits the high-water mark's slot (checked at open).
        if start > end || end > total || end - start > crate::high_water::MAX_NOTE_LEN as u64 {
            return Err(ReadError::Damaged(format!(
                "the index places checkpoint {position} at bytes {start}..{end} of {total}"
            )));
        }
        let mut note = vec![0u8; (end - start) as usize];
        self.checkpoints
            .read_exact_at(&mut note, start)
            .map_err(self.io(CHECKPOINTS))?;
        let note = String::from_utf8(note)
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

/// Committed entries, read in order (see [`LogFiles::entries_from`]).
pub(crate) struct EntryReader {
    index: BufReader<File>,
    data: BufReader<File>,
    next: u64,
    size: u64,
    at: u64,
    dir: PathBuf,
}

impl Iterator for EntryReader {
    type Item = Result<Vec<u8>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.size {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let io = |name: &str| {
            let path = self.dir.join(name);
            move |source| ReadError::Io { path, source }
        };
        let mut word = [0u8; 8];
        if let Err(e) = self.index.read_exact(&mut word) {
            self.next = self.size;
            return Some(Err(io(ENTRIES_INDEX)(e)));
        }
        let end = u64::from_le_bytes(word);
        if end < self.at || end - self.at > crate::MAX_ENTRY_LEN as u64 {
            self.next = self.size;
            return Some(Err(ReadError::Damaged(format!(
                "the index places entry {index} at bytes {}..{end}",
                self.at
            ))));
        }
        let mut entry = vec![0u8; (end - self.at) as usize];
        if let Err(e) = self.data.read_exact(&mut entry) {
            self.next = self.size;
            return Some(Err(io(ENTRIES)(e)));
        }
        self.at = end;
        Some(Ok(entry))
    }
}
