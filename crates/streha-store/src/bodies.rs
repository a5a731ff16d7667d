//! Large bodies (sealed envelopes) kept out of sled, appended to segment files.
//!
//! sled rewrites a whole leaf page when one of its values changes, and writes a value over a
//! quarter of its segment to a blob file of its own; large values made every commit rewrite
//! large pages (`BENCHMARKS.md`). A body larger than [`INLINE_BODY_MAX`] is therefore
//! appended to a segment file, `bodies/segment-<number, 16 hex digits>`, at an offset that
//! is a multiple of [`BODY_ALIGN`]; sled keeps only a reference (hash and length) under the
//! state key, and a back-reference `hash ‖ key` whose value says where the bytes are
//! (see `keys`).
//!
//! Why segments and not a file per body (as up to the eighth session): a file of its own
//! cost a create, a write, an `fsync` and a rename per body and a directory `fsync` per
//! batch, one after the other in the commit thread; on a file system that avoids reusing
//! recently freed inodes (ext4 without a journal) the create alone was 40 % of that
//! thread's CPU under load. A batch's bodies are now appended where the last one ended and
//! made durable by one `fdatasync` of the segment (`BENCHMARKS.md`, "bodies in segments").
//!
//! A body of at most [`INLINE_BODY_MAX`] bytes stays in sled, inline under its state key, in
//! the same write-ahead record as the commit that references it. It is an ordinary state
//! value: it goes with the commit that removes or replaces its key, and a backup carries it
//! as a state pair.
//!
//! Order of writes, so that a crash never leaves a reference without its bytes:
//! 1. the batch's bodies are appended to the head segment (mode 0600) and the segment is
//!    `fdatasync`ed — and the directory `fsync`ed if the batch created a segment — all
//!    before the batch's write-ahead record, which is its commit point;
//! 2. a body's bytes are released only after the batch that dropped its last reference is
//!    durable: its blocks are given back to the file system (a hole is punched, so the
//!    sealed bytes are gone from the disk, not only unreferenced), and a segment whose last
//!    body went is deleted.
//!
//! A crash between leaves at worst bytes that no committed value references (an orphan);
//! [`Bodies::collect`] releases them at open, deletes the segments nothing references, and
//! refuses to open a store in which a referenced body's segment is missing or too short (a
//! dangling reference, which this order never produces: something else removed or damaged
//! the file). The content is checked against its hash on every read.
//!
//! A store written before segments keeps each body in a file named by its hash
//! (`bodies/<BLAKE3 hex>`, back-reference value: the length alone): those are still read,
//! checked at open and deleted with their last reference; new bodies go to segments.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::StoreError;
use crate::keys;

/// The directory of the body segments, in the data directory.
pub const BODIES_DIR: &str = "bodies";

/// The largest body [`Transaction::put_body`](crate::Transaction::put_body) keeps inline in
/// sled; larger ones go to segment files. Measured (`BENCHMARKS.md`, "Issue 19: small
/// envelopes"): up to 64 KiB a batch of inline bodies committed several times faster than
/// the same bodies in files of their own. What bounds it is sled: a leaf page holds up to 17
/// values before it splits, and a page over a quarter of sled's 512 KiB segment is written
/// as a blob file of its own and rewritten whole — the cost that moved large bodies out. At
/// 4 KiB a leaf full of bodies stays under half of that, and the record of a 1 KiB
/// disclosure is inline.
pub const INLINE_BODY_MAX: usize = 4 * 1024;

/// A segment takes no new body once it holds this many bytes (a larger body gets a segment
/// of its own). Bounds how long the bytes of a released body's neighbours keep a segment
/// file alive, not the disk: released bodies' blocks are given back at once.
pub const BODY_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Bodies start at multiples of this many bytes (the file system's block), so that no two
/// bodies share a block and releasing one gives back exactly its blocks.
pub const BODY_ALIGN: u64 = 4096;

const TEMP_SUFFIX: &str = ".tmp";
const SEGMENT_PREFIX: &str = "segment-";

/// Where a body's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Place {
    /// `bodies/<hash hex>`, a file of its own (a store written before segments).
    File,
    /// In segment `segment`, from byte `offset`.
    Segment { segment: u64, offset: u64 },
}

impl Place {
    /// The value of a back-reference: the body's length, then (for a segment) where it is.
    pub(crate) fn reference_value(self, len: u64) -> Vec<u8> {
        let mut value = len.to_be_bytes().to_vec();
        if let Place::Segment { segment, offset } = self {
            value.extend_from_slice(&segment.to_be_bytes());
            value.extend_from_slice(&offset.to_be_bytes());
        }
        value
    }

    /// Parses a back-reference's value into the body's length and place.
    pub(crate) fn parse_reference(value: &[u8]) -> Option<(u64, Place)> {
        let word = |at: usize| {
            value
                .get(at..at + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
        };
        match value.len() {
            8 => Some((word(0)?, Place::File)),
            24 => Some((
                word(0)?,
                Place::Segment {
                    segment: word(8)?,
                    offset: word(16)?,
                },
            )),
            _ => None,
        }
    }
}

/// One back-reference: a state key's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) hash: [u8; 32],
    pub(crate) len: u64,
    pub(crate) place: Place,
}

/// The segment bodies are appended to.
#[derive(Debug)]
struct HeadSegment {
    number: u64,
    file: File,
    /// Where the next body goes (aligned).
    end: u64,
}

/// The writing side: the head segment and what is not yet synced.
#[derive(Debug, Default)]
struct Writer {
    head: Option<HeadSegment>,
    /// The number the next segment gets.
    next_segment: u64,
    /// Segments closed since the last sync, with bytes not yet synced.
    closed_unsynced: Vec<File>,
    /// Whether the head has bytes not yet synced.
    head_unsynced: bool,
    /// Whether a segment was created since the last sync (its name needs the directory's).
    created: bool,
    /// The committed bodies in each segment (distinct places).
    live: BTreeMap<u64, u64>,
    /// Segments no longer the head: deleted when no committed body is left in them.
    retired: Vec<u64>,
}

/// The body segments of one store.
#[derive(Debug)]
pub(crate) struct Bodies {
    dir: PathBuf,
    writer: Mutex<Writer>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn hex(hash: &[u8; 32]) -> String {
    use std::fmt::Write as _;
    hash.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn parse_hex(name: &str) -> Option<[u8; 32]> {
    if name.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(name.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    // Only the lower-case form this module writes.
    (hex(&hash) == name).then_some(hash)
}

fn segment_name(number: u64) -> String {
    format!("{SEGMENT_PREFIX}{number:016x}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(SEGMENT_PREFIX)?;
    let number = u64::from_str_radix(digits, 16).ok()?;
    (segment_name(number) == name).then_some(number)
}

fn align_up(at: u64) -> u64 {
    at.div_ceil(BODY_ALIGN).saturating_mul(BODY_ALIGN)
}

/// The hash that names a body.
pub(crate) fn body_hash(body: &[u8]) -> [u8; 32] {
    *blake3::hash(body).as_bytes()
}

/// Gives the blocks of `[offset, offset + len)` back to the file system; where holes cannot
/// be punched, overwrites the range with zeros instead, so the bytes are gone either way.
fn release_range(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use rustix::fs::{FallocateFlags, fallocate};
    match fallocate(
        file,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
        offset,
        len,
    ) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => {
            let zeros = vec![0u8; 64 * 1024];
            let mut at = offset;
            while at < offset + len {
                let n = (offset + len - at).min(zeros.len() as u64);
                file.write_all_at(&zeros[..n as usize], at)?;
                at += n;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

impl Bodies {
    /// The body directory of the store in `data_dir`, created mode 0700 if missing. No
    /// segment is written before [`Bodies::collect`] has looked at what is there.
    pub(crate) fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.join(BODIES_DIR);
        crate::datadir::create_private(&dir)?;
        Ok(Self {
            dir,
            writer: Mutex::new(Writer::default()),
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The file of a body of an older store, kept in a file of its own.
    fn file_path(&self, hash: &[u8; 32]) -> PathBuf {
        self.dir.join(hex(hash))
    }

    /// The file of segment `number`.
    fn segment_path(&self, number: u64) -> PathBuf {
        self.dir.join(segment_name(number))
    }

    /// The file that holds a body at `place`.
    pub(crate) fn path(&self, hash: &[u8; 32], place: Place) -> PathBuf {
        match place {
            Place::File => self.file_path(hash),
            Place::Segment { segment, .. } => self.segment_path(segment),
        }
    }

    /// Appends `body` to the head segment (a new one if it is full), not synced: the batch
    /// calls [`Bodies::sync`] once for all its bodies, before its commit.
    pub(crate) fn append(&self, body: &[u8]) -> Result<Place, StoreError> {
        let mut writer = self.writer();
        let len = body.len() as u64;
        let full = writer
            .head
            .as_ref()
            .is_none_or(|head| head.end > 0 && head.end.saturating_add(len) > BODY_SEGMENT_BYTES);
        if full {
            let number = writer.next_segment;
            // A number is never tried twice, whatever the outcome: a name something else
            // took is passed over, not retried forever.
            writer.next_segment = number.saturating_add(1);
            let path = self.segment_path(number);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|source| self.not_written(source))?;
            writer.created = true;
            if let Some(old) = writer.head.replace(HeadSegment {
                number,
                file,
                end: 0,
            }) {
                writer.retired.push(old.number);
                if std::mem::take(&mut writer.head_unsynced) {
                    writer.closed_unsynced.push(old.file);
                }
            }
        }
        let Writer {
            head,
            head_unsynced,
            ..
        } = &mut *writer;
        let Some(head) = head.as_mut() else {
            return Err(self.not_written(std::io::Error::other("no head segment")));
        };
        let offset = head.end;
        *head_unsynced = true;
        // The next body starts past this one whatever happens: bytes a failed write left
        // are never under a committed reference, and are released at the next open.
        head.end = align_up(offset.saturating_add(len));
        head.file
            .write_all_at(body, offset)
            .map_err(|source| self.not_written(source))?;
        Ok(Place::Segment {
            segment: head.number,
            offset,
        })
    }

    pub(crate) fn not_written(&self, source: std::io::Error) -> StoreError {
        StoreError::BodyNotWritten {
            path: self.dir.clone(),
            full: source.kind() == std::io::ErrorKind::StorageFull,
            source,
        }
    }

    /// Makes the bodies appended since the last call durable: `fdatasync` of every segment
    /// written, and of the directory if a segment was created.
    pub(crate) fn sync(&self) -> Result<(), std::io::Error> {
        let mut writer = self.writer();
        for file in std::mem::take(&mut writer.closed_unsynced) {
            file.sync_data()?;
        }
        if writer.head_unsynced {
            if let Some(head) = &writer.head {
                head.file.sync_data()?;
            }
            writer.head_unsynced = false;
        }
        if writer.created {
            File::open(&self.dir).and_then(|dir| dir.sync_all())?;
            writer.created = false;
        }
        Ok(())
    }

    /// Records that a batch holding bodies at `places` is durable: each is now a committed
    /// body of its segment. Deletes the retired segments that hold no committed body.
    pub(crate) fn committed(&self, places: impl IntoIterator<Item = Place>) {
        let mut writer = self.writer();
        for place in places {
            if let Place::Segment { segment, .. } = place {
                *writer.live.entry(segment).or_default() += 1;
            }
        }
        self.delete_empty_retired(&mut writer);
    }

    fn delete_empty_retired(&self, writer: &mut Writer) {
        let live = &writer.live;
        let (empty, kept): (Vec<u64>, Vec<u64>) = writer
            .retired
            .iter()
            .partition(|number| live.get(number).is_none_or(|count| *count == 0));
        writer.retired = kept;
        for number in empty {
            writer.live.remove(&number);
            let path = self.segment_path(number);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    error = %e, file = %path.display(),
                    "could not delete a body segment no body is left in; it is removed at the next start"
                ),
            }
        }
    }

    /// Releases the body at `place` of `len` bytes, whose last reference a durable batch
    /// dropped: its blocks go back to the file system, and its segment goes with its last
    /// body (the file of a body of an older store is deleted).
    pub(crate) fn release(
        &self,
        hash: &[u8; 32],
        len: u64,
        place: Place,
    ) -> Result<(), StoreError> {
        let Place::Segment { segment, offset } = place else {
            let path = self.file_path(hash);
            return match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_error(&path)(e)),
            };
        };
        let mut writer = self.writer();
        let released = match writer.head.as_ref().filter(|head| head.number == segment) {
            Some(head) => release_range(&head.file, offset, align_up(len)),
            None => {
                let path = self.segment_path(segment);
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|file| release_range(&file, offset, align_up(len)))
            }
        };
        if let Some(count) = writer.live.get_mut(&segment) {
            *count = count.saturating_sub(1);
        }
        self.delete_empty_retired(&mut writer);
        released.map_err(io_error(&self.segment_path(segment)))
    }

    /// Reads the body `hash` of `len` bytes at `place` and checks it against its hash.
    pub(crate) fn read(&self, hash: &[u8; 32], len: u64, place: Place) -> Result<Vec<u8>, String> {
        let path = self.path(hash, place);
        let unreadable = |e: std::io::Error| {
            format!(
                "a body the store references cannot be read from {}: {e}",
                path.display()
            )
        };
        let body = match place {
            Place::File => std::fs::read(&path).map_err(unreadable)?,
            Place::Segment { offset, .. } => {
                let len = usize::try_from(len)
                    .map_err(|_| format!("a body in {} is too long to read", path.display()))?;
                let mut body = vec![0u8; len];
                File::open(&path)
                    .and_then(|file| file.read_exact_at(&mut body, offset))
                    .map_err(unreadable)?;
                body
            }
        };
        if body.len() as u64 != len || body_hash(&body) != *hash {
            return Err(format!(
                "a body in {} does not match the hash that names it",
                path.display()
            ));
        }
        Ok(body)
    }

    /// Every back-reference in `tree`: each state key's body, with its length and place.
    pub(crate) fn references(tree: &sled::Tree) -> Result<Vec<Reference>, String> {
        let mut references = Vec::new();
        for item in tree.scan_prefix([keys::BODY_REF]) {
            let (key, value) = item.map_err(|e| crate::error::describe(&e))?;
            let hash: [u8; 32] = key
                .get(1..33)
                .and_then(|h| h.try_into().ok())
                .ok_or("a body reference's key is malformed")?;
            let (len, place) =
                Place::parse_reference(&value).ok_or("a body reference's value is malformed")?;
            references.push(Reference { hash, len, place });
        }
        Ok(references)
    }

    /// Every body the committed state references, once, with its length and one place that
    /// holds it (in hash order, as a backup carries them).
    pub(crate) fn referenced(
        tree: &sled::Tree,
    ) -> Result<BTreeMap<[u8; 32], (u64, Place)>, String> {
        let mut referenced = BTreeMap::new();
        for reference in Self::references(tree)? {
            referenced
                .entry(reference.hash)
                .or_insert((reference.len, reference.place));
        }
        Ok(referenced)
    }

    /// The files that hold the committed state's bodies, each with its length on disk.
    pub(crate) fn files(&self, references: &[Reference]) -> Vec<(PathBuf, u64)> {
        // Many bodies share a segment: each file is looked at once.
        let paths: std::collections::BTreeSet<PathBuf> = references
            .iter()
            .map(|reference| self.path(&reference.hash, reference.place))
            .collect();
        paths
            .into_iter()
            .map(|path| {
                let len = std::fs::metadata(&path).map_or(0, |meta| meta.len());
                (path, len)
            })
            .collect()
    }

    /// At open: checks that every referenced body is there (its segment long enough, or
    /// its file of the right length), releases the bytes of segments that nothing
    /// references (orphans a crash left between appending a body and committing its
    /// reference, or between committing its removal and releasing it), deletes the segments
    /// and files nothing references and temporary files, and sets where the next segment
    /// starts. Returns how many files it removed.
    ///
    /// # Errors
    /// [`StoreError::MissingBody`] for a referenced body missing or cut short.
    pub(crate) fn collect(
        &self,
        data_dir: &Path,
        references: &[Reference],
    ) -> Result<usize, StoreError> {
        let mut files: HashMap<[u8; 32], u64> = HashMap::new();
        // Each segment's committed bodies: offset → aligned end (distinct places).
        let mut segments: BTreeMap<u64, BTreeMap<u64, u64>> = BTreeMap::new();
        for reference in references {
            match reference.place {
                Place::File => {
                    files.insert(reference.hash, reference.len);
                }
                Place::Segment { segment, offset } => {
                    let end = offset.saturating_add(reference.len);
                    let ends = segments.entry(segment).or_default();
                    let kept = ends.entry(offset).or_insert(end);
                    *kept = (*kept).max(end);
                }
            }
        }
        let missing = |file: PathBuf, problem: String| StoreError::MissingBody {
            path: data_dir.to_path_buf(),
            file,
            problem,
        };
        for (hash, len) in &files {
            let path = self.file_path(hash);
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() && meta.len() == *len => {}
                Ok(meta) => {
                    return Err(missing(
                        path,
                        format!("it has {} bytes, not {len}", meta.len()),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(missing(path, "it is missing".to_owned()));
                }
                Err(e) => return Err(missing(path, e.to_string())),
            }
        }
        for (number, ends) in &segments {
            let path = self.segment_path(*number);
            let needed = ends.values().copied().max().unwrap_or(0);
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() && meta.len() >= needed => {}
                Ok(meta) => {
                    return Err(missing(
                        path,
                        format!(
                            "it has {} bytes, and a body it holds ends at byte {needed}",
                            meta.len()
                        ),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(missing(path, "it is missing".to_owned()));
                }
                Err(e) => return Err(missing(path, e.to_string())),
            }
        }

        let mut removed = 0;
        let mut highest = None::<u64>;
        for item in std::fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let item = item.map_err(io_error(&self.dir))?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            let path = item.path();
            if let Some(number) = parse_segment_name(&name) {
                highest = highest.max(Some(number));
                match segments.get(&number) {
                    None => {
                        std::fs::remove_file(&path).map_err(io_error(&path))?;
                        removed += 1;
                    }
                    Some(ends) => self.release_gaps(&path, ends)?,
                }
                continue;
            }
            let orphan = match name.strip_suffix(TEMP_SUFFIX) {
                Some(stem) => parse_hex(stem).is_some(),
                None => parse_hex(&name).is_some_and(|hash| !files.contains_key(&hash)),
            };
            if orphan {
                std::fs::remove_file(&path).map_err(io_error(&path))?;
                removed += 1;
            } else if parse_hex(&name).is_none() {
                tracing::warn!(
                    file = %path.display(),
                    "a file in the body directory that the store did not write; left alone"
                );
            }
        }
        if removed > 0 {
            File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(io_error(&self.dir))?;
            tracing::info!(
                dir = %self.dir.display(),
                removed,
                "removed body files no committed value references (left by a crash)"
            );
        }
        let mut writer = self.writer();
        writer.next_segment = highest
            .into_iter()
            .chain(segments.keys().copied())
            .max()
            .map_or(0, |n| n.saturating_add(1));
        writer.live = segments
            .iter()
            .map(|(number, ends)| (*number, ends.len() as u64))
            .collect();
        writer.retired = segments.keys().copied().collect();
        Ok(removed)
    }

    /// Releases the bytes of segment `path` outside its committed bodies `ends`.
    fn release_gaps(&self, path: &Path, ends: &BTreeMap<u64, u64>) -> Result<(), StoreError> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_error(path))?;
        let len = file.metadata().map_err(io_error(path))?.len();
        let mut at = 0u64;
        for (offset, end) in ends {
            if *offset > at {
                release_range(&file, at, offset - at).map_err(io_error(path))?;
            }
            at = at.max(align_up(*end));
        }
        if len > at {
            release_range(&file, at, len - at).map_err(io_error(path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_lower_case_hex_of_the_hash() {
        let hash = body_hash(b"x");
        assert_eq!(parse_hex(&hex(&hash)), Some(hash));
        assert_eq!(parse_hex(&hex(&hash).to_uppercase()), None);
        assert_eq!(parse_hex("zz"), None);
    }

    #[test]
    fn segment_names_and_back_references_round_trip() {
        assert_eq!(parse_segment_name(&segment_name(0x1f)), Some(0x1f));
        assert_eq!(parse_segment_name("segment-1f"), None);
        assert_eq!(parse_segment_name("segment-000000000000001F"), None);
        for place in [
            Place::File,
            Place::Segment {
                segment: 3,
                offset: 8192,
            },
        ] {
            let value = place.reference_value(4097);
            assert_eq!(Place::parse_reference(&value), Some((4097, place)));
        }
        assert_eq!(Place::parse_reference(&[0; 16]), None);
        assert_eq!(align_up(0), 0);
        assert_eq!(align_up(1), BODY_ALIGN);
        assert_eq!(align_up(BODY_ALIGN), BODY_ALIGN);
    }

    /// A state value that references a body whose back-reference (which says where the
    /// bytes are) is gone — a damaged database — is refused as corrupt on read, never
    /// answered with other bytes or nothing.
    #[test]
    fn a_body_without_its_back_reference_is_corrupt() {
        use crate::{Namespace, Store, StoreError, Transaction};
        const INBOX: Namespace = Namespace::new(9);
        let origin = "bodies.test/log";
        let signer =
            streha_audit::NoteSigner::new(origin, ed25519_dalek::SigningKey::from_bytes(&[5; 32]))
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), origin, signer).unwrap();
        let body = vec![0x17; INLINE_BODY_MAX + 1];
        let mut tx = Transaction::new();
        tx.append(b"received".to_vec())
            .put_body(INBOX, b"env".to_vec(), body.clone());
        store.commit(tx).unwrap();
        store
            .raw_tree()
            .remove(keys::body_ref(&body_hash(&body), &INBOX.key(b"env")))
            .unwrap();
        let err = store.get(INBOX, b"env").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(store.scan(INBOX, b"").is_err());
    }

    /// A store written before segments keeps each body in a file named by its hash, with a
    /// back-reference holding the length alone: such a body is still read, checked at open,
    /// and deleted with its last reference. Fails if only segments are understood.
    #[test]
    fn a_body_of_an_older_store_in_a_file_of_its_own_is_read_and_deleted() {
        use crate::{Namespace, Store, Transaction};
        const INBOX: Namespace = Namespace::new(9);
        let origin = "bodies.test/log";
        let signer = || {
            streha_audit::NoteSigner::new(origin, ed25519_dalek::SigningKey::from_bytes(&[5; 32]))
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let body = vec![0x42; INLINE_BODY_MAX + 100];
        let hash = body_hash(&body);
        {
            let store = Store::open(dir.path(), origin, signer()).unwrap();
            let mut tx = Transaction::new();
            tx.append(b"received".to_vec())
                .put_body(INBOX, b"old".to_vec(), body.clone());
            store.commit(tx).unwrap();
            // Rewrite it as the older layout had it: a file of its own, and the length alone
            // in its back-reference.
            let key = INBOX.key(b"old");
            let tree = store.raw_tree();
            tree.insert(
                keys::body_ref(&hash, &key),
                Place::File.reference_value(body.len() as u64),
            )
            .unwrap();
            tree.flush().unwrap();
            std::fs::write(dir.path().join(BODIES_DIR).join(hex(&hash)), &body).unwrap();
        }
        let store = Store::open(dir.path(), origin, signer()).unwrap();
        let file = dir.path().join(BODIES_DIR).join(hex(&hash));
        assert_eq!(store.get(INBOX, b"old").unwrap(), Some(body.clone()));
        assert_eq!(
            store.body_files().unwrap(),
            vec![(file.clone(), body.len() as u64)]
        );
        let names = || {
            std::fs::read_dir(dir.path().join(BODIES_DIR))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(),
            vec![hex(&hash)],
            "the unreferenced segment went at open"
        );
        let mut tx = Transaction::new();
        tx.remove(INBOX, b"old".to_vec());
        store.commit(tx).unwrap();
        assert!(!file.exists(), "deleted with its last reference");
    }
}
