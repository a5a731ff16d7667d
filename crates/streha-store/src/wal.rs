//! The write-ahead log: one record per group commit, the only write a commit waits for
//! besides the high-water mark.
//!
//! A batch's log bytes (what it appends to the journal) and its state changes (the sled
//! batch, with the log files' new lengths and the record's own sequence number) are written
//! as one record to `DATA_DIR/wal` and `fdatasync`ed; then the batch is applied to sled in
//! memory and its journal bytes are left in the page cache. Neither sled nor the journal is
//! synced per batch: sled's flush (`pwrite` and `sync_file_range` through its IO threads,
//! then our `fdatasync` of its files and directories) and the journal's `fdatasync` happen
//! at a *checkpoint*, when the file is full (every [`WRITE_AHEAD_BYTES`]), at a clean close
//! and at open. After a checkpoint every record in the file is obsolete, and the file is
//! written again from its start: the file is zero-filled once, so a record's `fdatasync`
//! changes no file-system metadata.
//!
//! At open the records of the current cycle are read — a header names the sequence number
//! the cycle starts at, and the records follow it with consecutive numbers, each with a
//! checksum — and replayed: their journal bytes written back, their state changes applied
//! again in order (each change sets a key to a value or removes it, so applying one twice is
//! harmless; sled may hold any part of a batch, which it receives key by key). The cycle ends at the first
//! record that is torn, has another number (a record of an earlier cycle) or runs past the
//! file: a batch is committed once its record is durable, and only the last record can be
//! torn, since no batch is acknowledged before its record is synced. See
//! `spec/audit-log.md`, "Durability", for the format.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// The write-ahead log's file in the data directory.
pub(crate) const WAL_FILE: &str = "wal";
/// A `wal` being created: written, synced, then renamed (a leftover is removed at open).
const WAL_TEMP_FILE: &str = "wal.tmp";

/// The write-ahead log's size: the file is zero-filled to this once, and a checkpoint is
/// taken when the next record would not fit (a larger record grows the file). At 1 KiB
/// disclosures this is a checkpoint every quarter of a second at full load, each costing
/// what one commit used to (`spec/protocol.md` §11).
pub const WRITE_AHEAD_BYTES: u64 = 1024 * 1024;

/// `streha-wal` and a version byte.
const MAGIC: [u8; 16] = *b"streha-wal\0\0\0\0\0\x01";
/// Magic, the cycle's first sequence number (u64 LE), and a checksum of both (8 bytes).
pub(crate) const HEADER_LEN: u64 = 32;
/// Payload length (u32 LE), sequence number (u64 LE), checksum (16 bytes).
const RECORD_HEADER_LEN: usize = 28;
/// Bytes written at a time when zero-filling.
const ZERO_CHUNK: usize = 64 * 1024;

/// Change to one sled key.
type Op = (Vec<u8>, Option<Vec<u8>>);

/// The state changes of one batch, in the order they were made: what goes into its record
/// and, as a `sled::Batch`, into sled.
#[derive(Debug, Default)]
pub(crate) struct StateChanges {
    ops: Vec<Op>,
}

impl StateChanges {
    pub(crate) fn insert(&mut self, key: &[u8], value: impl Into<Vec<u8>>) {
        self.ops.push((key.to_vec(), Some(value.into())));
    }

    pub(crate) fn remove(&mut self, key: &[u8]) {
        self.ops.push((key.to_vec(), None));
    }

    /// The changes as one sled batch (a later change to a key overrides an earlier one, as
    /// in sled's own batch).
    pub(crate) fn to_sled(&self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (key, value) in &self.ops {
            match value {
                Some(value) => batch.insert(key.as_slice(), value.as_slice()),
                None => batch.remove(key.as_slice()),
            }
        }
        batch
    }

    /// Applies the changes to `tree` one key at a time, in order. Not one sled batch: sled
    /// makes a batch atomic by writing out its IO buffer (through its IO threads, with a
    /// `sync_file_range`) at every `apply_batch`, work the write-ahead log makes needless —
    /// the store's gate makes the changes visible together, and a crash that leaves part of
    /// them in sled is repaired at open by replaying the whole cycle.
    pub(crate) fn apply_to(&self, tree: &sled::Tree) -> sled::Result<()> {
        for (key, value) in &self.ops {
            match value {
                Some(value) => tree.insert(key.as_slice(), value.as_slice()).map(drop)?,
                None => tree.remove(key.as_slice()).map(drop)?,
            }
        }
        Ok(())
    }

    /// Bytes these changes take in a record.
    pub(crate) fn encoded_len(&self) -> usize {
        self.ops
            .iter()
            .map(|(key, value)| 5 + key.len() + value.as_ref().map_or(0, |v| 4 + v.len()))
            .sum::<usize>()
            + 4
    }
}

/// One batch as the write-ahead log holds it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) seq: u64,
    /// Where the batch's journal bytes start in the journal.
    pub(crate) journal_offset: u64,
    pub(crate) journal: Vec<u8>,
    pub(crate) ops: Vec<Op>,
}

impl Record {
    pub(crate) fn state(&self) -> StateChanges {
        StateChanges {
            ops: self.ops.clone(),
        }
    }
}

/// Bytes of a payload before its journal bytes: their offset (8) and length (4).
const PAYLOAD_HEADER_LEN: usize = 12;
/// Room for the meta changes a batch adds to its state after [`record_len_bound`] is taken:
/// the log files' lengths (48-byte value) and the record's number (8), keys included.
const META_CHANGES_LEN: usize = 128;

/// An upper bound on the length of the record of a batch with `journal_len` journal bytes
/// and `state` (before the batch adds its meta changes): what [`WriteAhead::reserve`] must
/// make room for before anything of the batch is written.
pub(crate) fn record_len_bound(journal_len: usize, state: &StateChanges) -> usize {
    RECORD_HEADER_LEN + PAYLOAD_HEADER_LEN + journal_len + state.encoded_len() + META_CHANGES_LEN
}

/// Encodes a record: header, then the journal bytes and the state changes (little-endian
/// lengths, as in the journal).
pub(crate) fn encode(
    seq: u64,
    journal_offset: u64,
    journal: &[u8],
    state: &StateChanges,
) -> Result<Vec<u8>, String> {
    let too_long = || "a batch too large for the write-ahead log".to_owned();
    let journal_len = u32::try_from(journal.len()).map_err(|_| too_long())?;
    let ops_len = u32::try_from(state.ops.len()).map_err(|_| too_long())?;
    let mut payload = Vec::with_capacity(PAYLOAD_HEADER_LEN + journal.len() + state.encoded_len());
    payload.extend_from_slice(&journal_offset.to_le_bytes());
    payload.extend_from_slice(&journal_len.to_le_bytes());
    payload.extend_from_slice(journal);
    payload.extend_from_slice(&ops_len.to_le_bytes());
    for (key, value) in &state.ops {
        let key_len = u32::try_from(key.len()).map_err(|_| too_long())?;
        payload.push(u8::from(value.is_some()));
        payload.extend_from_slice(&key_len.to_le_bytes());
        payload.extend_from_slice(key);
        if let Some(value) = value {
            let value_len = u32::try_from(value.len()).map_err(|_| too_long())?;
            payload.extend_from_slice(&value_len.to_le_bytes());
            payload.extend_from_slice(value);
        }
    }
    let len = u32::try_from(payload.len()).map_err(|_| too_long())?;
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&record_check(len, seq, &payload));
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The first 16 bytes of BLAKE3 over the length, the sequence number and the payload.
fn record_check(len: u32, seq: u64, payload: &[u8]) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&len.to_le_bytes());
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    let mut check = [0u8; 16];
    check.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    check
}

fn header_bytes(start: u64) -> [u8; HEADER_LEN as usize] {
    let mut out = [0u8; HEADER_LEN as usize];
    out[..16].copy_from_slice(&MAGIC);
    out[16..24].copy_from_slice(&start.to_le_bytes());
    let check = blake3::hash(&out[..24]);
    out[24..].copy_from_slice(&check.as_bytes()[..8]);
    out
}

/// A payload's fields, read with bounds checks.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<usize> {
        let mut word = [0u8; 4];
        word.copy_from_slice(self.take(4)?);
        usize::try_from(u32::from_le_bytes(word)).ok()
    }

    fn u64(&mut self) -> Option<u64> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Some(u64::from_le_bytes(word))
    }
}

/// Decodes a payload whose checksum matched; `None` if its fields do not add up (which a
/// checksummed payload written by this code never does).
fn decode_payload(seq: u64, payload: &[u8]) -> Option<Record> {
    let mut reader = Reader { bytes: payload };
    let journal_offset = reader.u64()?;
    let journal_len = reader.u32()?;
    let journal = reader.take(journal_len)?.to_vec();
    let count = reader.u32()?;
    let mut ops = Vec::with_capacity(count.min(payload.len() / 5));
    for _ in 0..count {
        let kind = reader.take(1)?[0];
        let key_len = reader.u32()?;
        let key = reader.take(key_len)?.to_vec();
        let value = match kind {
            0 => None,
            1 => {
                let value_len = reader.u32()?;
                Some(reader.take(value_len)?.to_vec())
            }
            _ => return None,
        };
        ops.push((key, value));
    }
    reader.bytes.is_empty().then_some(Record {
        seq,
        journal_offset,
        journal,
        ops,
    })
}

/// Reads the records of the cycle that starts at `start` from `bytes` (the whole file).
/// Returns them and where the next record goes.
fn read_cycle(bytes: &[u8], start: u64) -> (Vec<Record>, u64) {
    let mut records = Vec::new();
    let mut at = HEADER_LEN as usize;
    let mut expected = start;
    while let Some(header) = bytes.get(at..at + RECORD_HEADER_LEN) {
        let mut word = [0u8; 4];
        word.copy_from_slice(&header[..4]);
        let len = u32::from_le_bytes(word);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&header[4..12]);
        let seq = u64::from_le_bytes(seq);
        if seq != expected {
            break;
        }
        let body_start = at + RECORD_HEADER_LEN;
        let Some(payload) = usize::try_from(len)
            .ok()
            .and_then(|len| body_start.checked_add(len))
            .and_then(|end| bytes.get(body_start..end))
        else {
            break;
        };
        if record_check(len, seq, payload) != header[12..28] {
            break;
        }
        let Some(record) = decode_payload(seq, payload) else {
            break;
        };
        records.push(record);
        at = body_start + payload.len();
        // A forged number at the end of the range ends the cycle, never an overflow.
        let Some(next) = expected.checked_add(1) else {
            break;
        };
        expected = next;
    }
    (records, at as u64)
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| {
        if source.kind() == ErrorKind::StorageFull {
            StoreError::DiskFull {
                path: path.to_path_buf(),
            }
        } else {
            StoreError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Writes zeros over `[from, to)` of `file`.
fn zero_fill(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut at = from;
    while at < to {
        let n = (to - at).min(ZERO_CHUNK as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// The open write-ahead log.
#[derive(Debug)]
pub(crate) struct WriteAhead {
    path: PathBuf,
    file: File,
    /// The file's length (zero-filled past the last record).
    capacity: u64,
    /// Where the next record goes.
    offset: u64,
    /// The next record's sequence number.
    next_seq: u64,
}

/// What opening found: the file, and the records of its current cycle to replay.
pub(crate) struct Opened {
    pub(crate) wal: WriteAhead,
    pub(crate) records: Vec<Record>,
    /// Set (with the error to report) if sled's state is older than the cycle's start:
    /// nothing can be replayed, and the store must not open.
    pub(crate) state_behind: Option<StoreError>,
}

impl WriteAhead {
    /// Opens `dir/wal`, or creates it for a store whose durable state ends at `state_seq`
    /// (the state must then be durable: the old storage kept it so at every commit). A
    /// leftover `wal.tmp` is removed.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the header is damaged or sled's state holds batches the
    /// cycle does not; [`StoreError::DiskFull`] or an IO error. A state older than the
    /// cycle's start is not an error here but [`Opened::state_behind`].
    pub(crate) fn open(dir: &Path, state_seq: u64) -> Result<Opened, StoreError> {
        let path = dir.join(WAL_FILE);
        let temp = dir.join(WAL_TEMP_FILE);
        match std::fs::remove_file(&temp) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&temp)(e)),
        }
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let start = state_seq
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Corrupt {
                        path: path.clone(),
                        detail: "the state's batch number is out of range".into(),
                    })?;
                let wal = Self::create(dir, start)?;
                return Ok(Opened {
                    wal,
                    records: Vec::new(),
                    state_behind: None,
                });
            }
            Err(e) => return Err(io_at(&path)(e)),
        };
        let corrupt = |detail: String| StoreError::Corrupt {
            path: path.clone(),
            detail,
        };
        let header = bytes
            .get(..HEADER_LEN as usize)
            .ok_or_else(|| corrupt("the write-ahead log is shorter than its header".into()))?;
        let mut start = [0u8; 8];
        start.copy_from_slice(&header[16..24]);
        let start = u64::from_le_bytes(start);
        if header != header_bytes(start) || start == 0 {
            return Err(corrupt("the write-ahead log's header is damaged".into()));
        }
        let (records, offset) = read_cycle(&bytes, start);
        // `start` ≥ 1 and the records' numbers are consecutive from it without overflow.
        let last = start - 1 + records.len() as u64;
        let next_seq = last.checked_add(1).ok_or_else(|| {
            corrupt("the write-ahead log's batch numbers are out of range".into())
        })?;
        // sled rolled back past a checkpoint: the cycle cannot be applied to it. Reported by
        // the caller once the high-water mark has had its say (a rollback of the log is
        // named as such, with both sizes).
        let state_behind = (state_seq.saturating_add(1) < start).then(|| {
            corrupt(format!(
                "the state ends at batch {state_seq}, before the write-ahead log's start \
                 ({start}): batches made durable at a checkpoint were lost"
            ))
        });
        if state_behind.is_none() && state_seq > last {
            return Err(corrupt(format!(
                "the state holds batches up to {state_seq}, the write-ahead log only up to {last}"
            )));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        Ok(Opened {
            wal: Self {
                path,
                file,
                capacity: bytes.len() as u64,
                offset,
                next_seq,
            },
            // Nothing can be replayed onto a state older than the cycle.
            records: if state_behind.is_some() {
                Vec::new()
            } else {
                records
            },
            state_behind,
        })
    }

    /// Creates the file, zero-filled, whose cycle starts at `start`: written to a
    /// temporary name, synced, renamed, and the directory synced.
    fn create(dir: &Path, start: u64) -> Result<Self, StoreError> {
        let path = dir.join(WAL_FILE);
        let temp = dir.join(WAL_TEMP_FILE);
        // Private whatever the umask: it holds the node's state changes.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io_at(&temp))?;
        let written = zero_fill(&file, 0, WRITE_AHEAD_BYTES)
            .and_then(|()| file.write_all_at(&header_bytes(start), 0))
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            // Nothing refers to it; the next open removes it if this cannot.
            let _ = std::fs::remove_file(&temp);
            return Err(io_at(&temp)(e));
        }
        std::fs::rename(&temp, &path).map_err(io_at(&path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(dir))?;
        Ok(Self {
            path,
            file,
            capacity: WRITE_AHEAD_BYTES,
            offset: HEADER_LEN,
            next_seq: start,
        })
    }

    /// The next record's sequence number.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether a record of `len` bytes fits after the last one (if not, a checkpoint must
    /// come first, and [`WriteAhead::restart`]).
    pub(crate) fn fits(&self, len: usize) -> bool {
        self.offset.saturating_add(len as u64) <= self.capacity
    }

    /// Makes the file long enough for a record of up to `len` bytes after the header
    /// (zero-filled and synced), so that a checkpoint never waits for space. Records already
    /// written are not touched.
    ///
    /// # Errors
    /// The IO error (ENOSPC: the disk is full); the file is then as it was, in what counts.
    pub(crate) fn reserve(&mut self, len: usize) -> std::io::Result<()> {
        let needed = HEADER_LEN.saturating_add(len as u64);
        if needed <= self.capacity {
            return Ok(());
        }
        let target = needed.div_ceil(ZERO_CHUNK as u64) * ZERO_CHUNK as u64;
        zero_fill(&self.file, self.capacity, target).and_then(|()| self.file.sync_data())?;
        self.capacity = target;
        Ok(())
    }

    /// What a batch refused because [`WriteAhead::reserve`] failed gets.
    pub(crate) fn not_reserved(&self, error: &std::io::Error) -> StoreError {
        io_at(&self.path)(std::io::Error::new(error.kind(), error.to_string()))
    }

    /// Starts a new cycle at the next sequence number, from the start of the file. Called
    /// only once everything the records of the last cycle hold is durable elsewhere (a
    /// checkpoint).
    ///
    /// # Errors
    /// The IO error of the write or its sync.
    pub(crate) fn restart(&mut self) -> Result<(), StoreError> {
        self.file
            .write_all_at(&header_bytes(self.next_seq), 0)
            .and_then(|()| self.file.sync_data())
            .map_err(io_at(&self.path))?;
        self.offset = HEADER_LEN;
        Ok(())
    }

    /// Whether the current cycle holds no record.
    pub(crate) fn is_empty(&self) -> bool {
        self.offset == HEADER_LEN
    }

    /// Writes `record` (encoded with [`WriteAhead::next_seq`]) after the last one and
    /// `fdatasync`s it: from then on its batch is committed.
    ///
    /// # Errors
    /// The IO error of the write or its sync; the store must then fail (the page cache of a
    /// failed `fdatasync` cannot be trusted).
    pub(crate) fn append(&mut self, record: &[u8]) -> Result<(), StoreError> {
        if !self.fits(record.len()) {
            return Err(StoreError::Io {
                path: self.path.clone(),
                source: std::io::Error::other("a record past the write-ahead log's end"),
            });
        }
        self.file
            .write_all_at(record, self.offset)
            .and_then(|()| self.file.sync_data())
            .map_err(io_at(&self.path))?;
        self.offset += record.len() as u64;
        self.next_seq += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&[u8], Option<&[u8]>)]) -> StateChanges {
        let mut state = StateChanges::default();
        for (key, value) in pairs {
            match value {
                Some(value) => state.insert(key, value.to_vec()),
                None => state.remove(key),
            }
        }
        state
    }

    fn append(wal: &mut WriteAhead, journal: &[u8], pairs: &[(&[u8], Option<&[u8]>)]) {
        let seq = wal.next_seq();
        let record = encode(seq, 100 * seq, journal, &state(pairs)).unwrap();
        assert!(wal.fits(record.len()));
        wal.append(&record).unwrap();
    }

    #[test]
    fn records_round_trip_and_a_clean_cycle_replays_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WriteAhead::open(dir.path(), 0).unwrap().wal;
        assert!(wal.is_empty());
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(WAL_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "private whatever the umask");
        }
        append(&mut wal, b"entry one", &[(b"a", Some(b"1")), (b"b", None)]);
        append(&mut wal, b"", &[(b"c", Some(b""))]);
        drop(wal);
        let opened = WriteAhead::open(dir.path(), 0).unwrap();
        assert_eq!(opened.records.len(), 2);
        assert_eq!(opened.records[0].seq, 1);
        assert_eq!(opened.records[0].journal_offset, 100);
        assert_eq!(opened.records[0].journal, b"entry one");
        assert_eq!(
            opened.records[0].ops,
            vec![(b"a".to_vec(), Some(b"1".to_vec())), (b"b".to_vec(), None)]
        );
        assert_eq!(opened.records[1].ops, vec![(b"c".to_vec(), Some(vec![]))]);
        assert_eq!(opened.wal.next_seq(), 3);
        // sled already holds both: nothing is lost, nothing refused.
        assert_eq!(WriteAhead::open(dir.path(), 2).unwrap().records.len(), 2);
    }

    #[test]
    fn a_torn_or_damaged_last_record_ends_the_cycle() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WriteAhead::open(dir.path(), 0).unwrap().wal;
        append(&mut wal, b"kept", &[(b"k", Some(b"v"))]);
        let second_at = wal.offset;
        append(&mut wal, b"torn", &[(b"k", Some(b"w"))]);
        drop(wal);
        let path = dir.path().join(WAL_FILE);
        for flip in [second_at + 3, second_at + 20, second_at + 40] {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[flip as usize] ^= 0x40;
            let damaged = tempfile::tempdir().unwrap();
            std::fs::write(damaged.path().join(WAL_FILE), &bytes).unwrap();
            let opened = WriteAhead::open(damaged.path(), 0).unwrap();
            assert_eq!(opened.records.len(), 1, "flipped byte {flip}");
            assert_eq!(opened.records[0].journal, b"kept");
            // The next record overwrites the damaged one.
            assert_eq!(opened.wal.offset, second_at);
            assert_eq!(opened.wal.next_seq(), 2);
        }
    }

    #[test]
    fn after_a_restart_records_of_the_old_cycle_are_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WriteAhead::open(dir.path(), 0).unwrap().wal;
        for n in 0..5u8 {
            append(&mut wal, &[n; 300], &[(b"k", Some(&[n]))]);
        }
        // A checkpoint made batches 1..=5 durable elsewhere.
        wal.restart().unwrap();
        assert!(wal.is_empty());
        drop(wal);
        let opened = WriteAhead::open(dir.path(), 5).unwrap();
        assert!(
            opened.records.is_empty(),
            "the old cycle's records are stale"
        );
        let mut wal = opened.wal;
        // A shorter record than the one it overwrites: the bytes after it are the middle of
        // an old record, and the old record after that has an old number.
        append(&mut wal, b"new", &[]);
        drop(wal);
        let opened = WriteAhead::open(dir.path(), 5).unwrap();
        assert_eq!(opened.records.len(), 1);
        assert_eq!(opened.records[0].seq, 6);
        assert_eq!(opened.records[0].journal, b"new");
    }

    #[test]
    fn state_and_log_that_do_not_line_up_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WriteAhead::open(dir.path(), 0).unwrap().wal;
        append(&mut wal, b"", &[(b"k", Some(b"v"))]);
        wal.restart().unwrap();
        append(&mut wal, b"", &[(b"k", Some(b"w"))]);
        drop(wal);
        // The cycle starts at 2: a state at 0 lost batch 1, made durable at the checkpoint.
        let behind = WriteAhead::open(dir.path(), 0).unwrap();
        assert!(behind.records.is_empty(), "nothing to replay onto it");
        assert!(matches!(
            behind.state_behind,
            Some(StoreError::Corrupt { .. })
        ));
        // A state at 3 holds a batch the log never had.
        assert!(matches!(
            WriteAhead::open(dir.path(), 3),
            Err(StoreError::Corrupt { .. })
        ));
        let in_line = WriteAhead::open(dir.path(), 1).unwrap();
        assert_eq!(in_line.records.len(), 1);
        assert!(in_line.state_behind.is_none());
        // A damaged header is refused, not read as an empty cycle.
        let path = dir.path().join(WAL_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[17] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            WriteAhead::open(dir.path(), 1),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn numbers_at_the_end_of_the_range_are_refused_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = vec![0u8; 4096];
        bytes[..HEADER_LEN as usize].copy_from_slice(&header_bytes(u64::MAX));
        let record = encode(u64::MAX, 0, b"", &StateChanges::default()).unwrap();
        bytes[HEADER_LEN as usize..][..record.len()].copy_from_slice(&record);
        std::fs::write(dir.path().join(WAL_FILE), &bytes).unwrap();
        assert!(matches!(
            WriteAhead::open(dir.path(), u64::MAX - 1),
            Err(StoreError::Corrupt { .. })
        ));
        // And a state at the end of the range has no next batch to start a log at.
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            WriteAhead::open(empty.path(), u64::MAX),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_record_larger_than_the_file_grows_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WriteAhead::open(dir.path(), 0).unwrap().wal;
        let big = vec![7u8; WRITE_AHEAD_BYTES as usize + 10];
        let record = encode(wal.next_seq(), 0, &big, &StateChanges::default()).unwrap();
        assert!(!wal.fits(record.len()));
        wal.reserve(record.len()).unwrap();
        wal.restart().unwrap();
        wal.append(&record).unwrap();
        drop(wal);
        let opened = WriteAhead::open(dir.path(), 0).unwrap();
        assert_eq!(opened.records.len(), 1);
        assert_eq!(opened.records[0].journal, big);
    }
}
