//! The log bundle: a log's entries and signed checkpoints in one file, for offline
//! verification (by a data-protection officer, a court expert).
//!
//! Binary layout, integers big-endian. Version 2 adds the signed roster notes the node
//! adopted; a bundle without them is written as version 1, so that the encoding is
//! canonical and older readers still read it.
//!
//! ```text
//! magic            18 bytes  "STREHA-LOG-BUNDLE\n"
//! version           u8       1 or 2
//! origin_len        u16      1..=1024
//! origin            bytes    UTF-8, a valid checkpoint origin
//! entry_count       u64
//! checkpoint_count  u32
//! roster_count      u32      version 2 only; at least 1
//! entries           entry_count × (u32 len ‖ len bytes), len <= MAX_BUNDLE_ENTRY_LEN
//! checkpoints       checkpoint_count × (u32 len ‖ len bytes of UTF-8 signed note),
//!                   len <= MAX_NOTE_SIZE
//! rosters           version 2 only: roster_count × (u32 len ‖ len bytes of UTF-8 signed
//!                   note), len <= MAX_NOTE_SIZE, in the order the node adopted them
//! (end of input: no trailing bytes; the whole bundle <= MAX_BUNDLE_SIZE)
//! ```
//!
//! The roster notes are not covered by the log's tree or checkpoints: the log commits to
//! each roster it adopted by version and hash (its `roster_changed` entries), and the notes
//! are checked against the national authority's roster key by whoever reads them (the
//! offline verifier). [`LogBundle::verify`] does not look at them.

use crate::checkpoint::{CheckpointError, open_checkpoint};
use crate::hash::Hash;
use crate::note::{MAX_NOTE_SIZE, NoteVerifier};
use crate::proof::{consistency_proof, verify_consistency};
use crate::tree::MemoryTree;

/// The magic bytes a bundle starts with.
pub const BUNDLE_MAGIC: &[u8; 18] = b"STREHA-LOG-BUNDLE\n";

/// The newest bundle format version this crate writes and reads (it reads 1 and 2; it
/// writes 1 for a bundle without roster notes, 2 otherwise).
pub const BUNDLE_VERSION: u8 = 2;

/// The first bundle format version: entries and checkpoints.
const BUNDLE_VERSION_1: u8 = 1;

/// The largest entry a bundle holds (64 KiB); the store enforces the same limit on appends.
pub const MAX_BUNDLE_ENTRY_LEN: usize = 64 * 1024;

/// The largest origin a bundle holds, in bytes.
pub const MAX_BUNDLE_ORIGIN_LEN: usize = 1024;

/// The largest bundle [`LogBundle::decode`] accepts (4 GiB).
pub const MAX_BUNDLE_SIZE: u64 = 1 << 32;

/// A log's entries (opaque bytes, in log order, from index 0) and its signed checkpoints
/// (note texts, in non-decreasing size order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogBundle {
    /// The log's origin, as in its checkpoints.
    pub origin: String,
    /// Every entry, from index 0.
    pub entries: Vec<Vec<u8>>,
    /// Signed checkpoint notes, smallest size first.
    pub checkpoints: Vec<String>,
    /// The signed roster notes the node adopted, in the order it adopted them (version 2;
    /// empty in a version 1 bundle). Untrusted until opened with the roster key.
    pub rosters: Vec<String>,
}

/// Offsets of the fixed header fields.
const VERSION_OFFSET: usize = BUNDLE_MAGIC.len();
const ORIGIN_OFFSET: usize = VERSION_OFFSET + 1;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], BundleError> {
        let start = self.pos;
        let end = start.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                self.pos = end;
                Ok(&self.buf[start..end])
            }
            None => Err(BundleError::Truncated {
                offset: start,
                what,
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], BundleError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

impl LogBundle {
    /// A bundle of these parts (checked by [`LogBundle::encode`] and [`LogBundle::verify`]).
    #[must_use]
    pub fn new(origin: impl Into<String>, entries: Vec<Vec<u8>>, checkpoints: Vec<String>) -> Self {
        Self {
            origin: origin.into(),
            entries,
            checkpoints,
            rosters: Vec::new(),
        }
    }

    /// The same bundle carrying these signed roster notes (the ones the node adopted).
    #[must_use]
    pub fn with_rosters(mut self, rosters: Vec<String>) -> Self {
        self.rosters = rosters;
        self
    }

    /// The binary form (see the module documentation and `spec/audit-log.md`).
    ///
    /// # Errors
    /// [`BundleError::InvalidOrigin`], [`BundleError::EntryTooLarge`],
    /// [`BundleError::CheckpointTooLarge`], [`BundleError::TooManyCheckpoints`] or
    /// [`BundleError::TooLarge`] if the parts exceed the format's limits; the offsets are
    /// those the item would have had.
    pub fn encode(&self) -> Result<Vec<u8>, BundleError> {
        check_origin(&self.origin, ORIGIN_OFFSET)?;
        let checkpoint_count =
            u32::try_from(self.checkpoints.len()).map_err(|_| BundleError::TooManyCheckpoints {
                count: self.checkpoints.len(),
            })?;
        let roster_count =
            u32::try_from(self.rosters.len()).map_err(|_| BundleError::TooManyRosters {
                count: self.rosters.len(),
            })?;
        let mut out = Vec::new();
        out.extend_from_slice(BUNDLE_MAGIC);
        out.push(if self.rosters.is_empty() {
            BUNDLE_VERSION_1
        } else {
            BUNDLE_VERSION
        });
        // check_origin bounds the length to 1024.
        out.extend_from_slice(&(self.origin.len() as u16).to_be_bytes());
        out.extend_from_slice(self.origin.as_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_be_bytes());
        out.extend_from_slice(&checkpoint_count.to_be_bytes());
        if roster_count > 0 {
            out.extend_from_slice(&roster_count.to_be_bytes());
        }
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.len() > MAX_BUNDLE_ENTRY_LEN {
                return Err(BundleError::EntryTooLarge {
                    index: index as u64,
                    offset: out.len(),
                    len: entry.len() as u64,
                    max: MAX_BUNDLE_ENTRY_LEN,
                });
            }
            out.extend_from_slice(&(entry.len() as u32).to_be_bytes());
            out.extend_from_slice(entry);
            check_total(out.len())?;
        }
        for (index, note) in self.checkpoints.iter().enumerate() {
            if note.len() > MAX_NOTE_SIZE {
                return Err(BundleError::CheckpointTooLarge {
                    index,
                    offset: out.len(),
                    len: note.len() as u64,
                    max: MAX_NOTE_SIZE,
                });
            }
            out.extend_from_slice(&(note.len() as u32).to_be_bytes());
            out.extend_from_slice(note.as_bytes());
            check_total(out.len())?;
        }
        for (index, note) in self.rosters.iter().enumerate() {
            if note.len() > MAX_NOTE_SIZE {
                return Err(BundleError::RosterTooLarge {
                    index,
                    offset: out.len(),
                    len: note.len() as u64,
                    max: MAX_NOTE_SIZE,
                });
            }
            out.extend_from_slice(&(note.len() as u32).to_be_bytes());
            out.extend_from_slice(note.as_bytes());
            check_total(out.len())?;
        }
        Ok(out)
    }

    /// Parses the binary form from untrusted bytes. Checks the structure and limits only;
    /// [`LogBundle::verify`] checks the content.
    ///
    /// # Errors
    /// [`BundleError`] with the byte offset of the first malformed item.
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        check_total(bytes.len())?;
        let mut r = Reader { buf: bytes, pos: 0 };
        let magic = r.take(BUNDLE_MAGIC.len(), "the magic bytes").ok();
        if magic != Some(&BUNDLE_MAGIC[..]) {
            return Err(BundleError::BadMagic);
        }
        let [version] = r.array::<1>("the version byte")?;
        if version != BUNDLE_VERSION_1 && version != BUNDLE_VERSION {
            return Err(BundleError::UnsupportedVersion { version });
        }
        let origin_len = u16::from_be_bytes(r.array("the origin length")?);
        let origin_bytes = r.take(usize::from(origin_len), "the origin")?;
        let origin = std::str::from_utf8(origin_bytes).map_err(|_| BundleError::InvalidOrigin {
            offset: ORIGIN_OFFSET,
        })?;
        check_origin(origin, ORIGIN_OFFSET)?;

        let count_offset = r.pos;
        let entry_count = u64::from_be_bytes(r.array("the entry count")?);
        let checkpoint_offset = r.pos;
        let checkpoint_count = u32::from_be_bytes(r.array("the checkpoint count")?);
        let roster_offset = r.pos;
        let roster_count = if version == BUNDLE_VERSION_1 {
            0
        } else {
            match u32::from_be_bytes(r.array("the roster count")?) {
                // Canonical: a bundle without rosters is version 1.
                0 => {
                    return Err(BundleError::NoRosters {
                        offset: roster_offset,
                    });
                }
                n => n,
            }
        };
        // Every item takes at least its 4-byte length: refuse counts the input cannot hold
        // before allocating for them.
        let room = (r.remaining() / 4) as u64;
        if entry_count > room {
            return Err(BundleError::CountTooLarge {
                offset: count_offset,
                what: "entries",
                count: entry_count,
            });
        }
        if u64::from(checkpoint_count) > room - entry_count {
            return Err(BundleError::CountTooLarge {
                offset: checkpoint_offset,
                what: "checkpoints",
                count: u64::from(checkpoint_count),
            });
        }
        if u64::from(roster_count) > room - entry_count - u64::from(checkpoint_count) {
            return Err(BundleError::CountTooLarge {
                offset: roster_offset,
                what: "rosters",
                count: u64::from(roster_count),
            });
        }

        // Reserve modestly and let the vectors grow: a count is only an upper bound.
        let mut entries = Vec::with_capacity(entry_count.min(1 << 16) as usize);
        for index in 0..entry_count {
            let offset = r.pos;
            let len = u32::from_be_bytes(r.array("an entry length")?);
            if len as usize > MAX_BUNDLE_ENTRY_LEN {
                return Err(BundleError::EntryTooLarge {
                    index,
                    offset,
                    len: u64::from(len),
                    max: MAX_BUNDLE_ENTRY_LEN,
                });
            }
            entries.push(r.take(len as usize, "an entry")?.to_vec());
        }
        let mut checkpoints = Vec::with_capacity(checkpoint_count.min(1 << 16) as usize);
        for index in 0..checkpoint_count as usize {
            let offset = r.pos;
            let len = u32::from_be_bytes(r.array("a checkpoint length")?);
            if len as usize > MAX_NOTE_SIZE {
                return Err(BundleError::CheckpointTooLarge {
                    index,
                    offset,
                    len: u64::from(len),
                    max: MAX_NOTE_SIZE,
                });
            }
            let text = r.take(len as usize, "a checkpoint")?;
            let text = std::str::from_utf8(text)
                .map_err(|_| BundleError::CheckpointNotUtf8 { index, offset })?;
            checkpoints.push(text.to_owned());
        }
        let mut rosters = Vec::with_capacity(roster_count.min(1 << 10) as usize);
        for index in 0..roster_count as usize {
            let offset = r.pos;
            let len = u32::from_be_bytes(r.array("a roster length")?);
            if len as usize > MAX_NOTE_SIZE {
                return Err(BundleError::RosterTooLarge {
                    index,
                    offset,
                    len: u64::from(len),
                    max: MAX_NOTE_SIZE,
                });
            }
            let text = r.take(len as usize, "a roster")?;
            let text = std::str::from_utf8(text)
                .map_err(|_| BundleError::RosterNotUtf8 { index, offset })?;
            rosters.push(text.to_owned());
        }
        if r.remaining() != 0 {
            return Err(BundleError::TrailingBytes { offset: r.pos });
        }
        Ok(Self {
            origin: origin.to_owned(),
            entries,
            checkpoints,
            rosters,
        })
    }

    /// Verifies the bundle: recomputes the tree from the entries; then, for each checkpoint
    /// in order, checks its signature against `verifiers` (at least one known key, every
    /// known key's signature valid), its origin, that its size does not exceed the entries
    /// nor fall below the previous checkpoint's, that its root is the recomputed root at its
    /// size, and that it is consistent with the previous checkpoint (RFC 9162 §2.1.4).
    ///
    /// Entries after the last checkpoint are counted in
    /// [`BundleReport::unsigned_entries`]: nothing vouches for them. Success says nothing
    /// about what the entries mean; decoding and replaying them is the caller's job.
    ///
    /// # Errors
    /// The first failure: [`BundleError::NoCheckpoints`], [`BundleError::InvalidOrigin`],
    /// or a checkpoint error naming the checkpoint by index — for a root mismatch, with the
    /// range of entries that the previous checkpoints do not vouch for.
    pub fn verify(&self, verifiers: &[NoteVerifier]) -> Result<BundleReport, BundleError> {
        check_origin(&self.origin, ORIGIN_OFFSET)?;
        if self.checkpoints.is_empty() {
            return Err(BundleError::NoCheckpoints);
        }
        let tree = MemoryTree::from_entries(&self.entries);
        let entries = tree.size();
        let mut reports: Vec<CheckpointReport> = Vec::with_capacity(self.checkpoints.len());
        for (index, note) in self.checkpoints.iter().enumerate() {
            let (checkpoint, signers) = open_checkpoint(note, verifiers)
                .map_err(|source| BundleError::InvalidCheckpoint { index, source })?;
            if checkpoint.origin() != self.origin {
                return Err(BundleError::CheckpointOrigin {
                    index,
                    expected: self.origin.clone(),
                    found: checkpoint.origin().to_owned(),
                });
            }
            let size = checkpoint.size();
            if size > entries {
                return Err(BundleError::CheckpointBeyondEntries {
                    index,
                    size,
                    entries,
                });
            }
            let previous = reports.last();
            let vouched = previous.map_or(0, |p| p.size);
            if size < vouched {
                return Err(BundleError::CheckpointOutOfOrder {
                    index,
                    size,
                    previous: vouched,
                });
            }
            let root = tree.root_at(size).expect("size <= entries");
            if root != *checkpoint.root() {
                return Err(BundleError::RootMismatch {
                    index,
                    size,
                    entries_from: vouched,
                });
            }
            if let Some(p) = previous {
                let proof = consistency_proof(p.size, size, &tree).expect("size <= entries");
                verify_consistency(p.size, size, &p.root, &root, &proof).map_err(|_| {
                    BundleError::Inconsistent {
                        index,
                        previous_size: p.size,
                        size,
                    }
                })?;
            }
            reports.push(CheckpointReport {
                size,
                root,
                signers,
            });
        }
        let signed_size = reports.last().map_or(0, |p| p.size);
        Ok(BundleReport {
            origin: self.origin.clone(),
            entries,
            root: tree.root(),
            signed_size,
            unsigned_entries: entries - signed_size,
            checkpoints: reports,
        })
    }
}

fn check_origin(origin: &str, offset: usize) -> Result<(), BundleError> {
    if origin.is_empty() || origin.len() > MAX_BUNDLE_ORIGIN_LEN || origin.bytes().any(|b| b < 0x20)
    {
        return Err(BundleError::InvalidOrigin { offset });
    }
    Ok(())
}

fn check_total(len: usize) -> Result<(), BundleError> {
    if len as u64 > MAX_BUNDLE_SIZE {
        return Err(BundleError::TooLarge {
            size: len as u64,
            max: MAX_BUNDLE_SIZE,
        });
    }
    Ok(())
}

/// What [`LogBundle::verify`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BundleReport {
    /// The log's origin.
    pub origin: String,
    /// Number of entries in the bundle.
    pub entries: u64,
    /// Root over all entries.
    pub root: Hash,
    /// Size of the last (largest) checkpoint: entries `0..signed_size` are vouched for.
    pub signed_size: u64,
    /// Entries after the last checkpoint, which no signature covers.
    pub unsigned_entries: u64,
    /// Each checkpoint, in bundle order.
    pub checkpoints: Vec<CheckpointReport>,
}

/// One verified checkpoint of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointReport {
    /// Its tree size.
    pub size: u64,
    /// Its root (equal to the recomputed one).
    pub root: Hash,
    /// Names of the known keys that signed it.
    pub signers: Vec<String>,
}

/// Why a bundle could not be encoded, decoded or verified. Offsets are bytes from the start
/// of the bundle; indices are 0-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle exceeds [`MAX_BUNDLE_SIZE`].
    #[error("the bundle is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The input does not start with [`BUNDLE_MAGIC`].
    #[error("this is not a Streha log bundle (bad magic bytes at offset 0)")]
    BadMagic,
    /// A version this crate does not read.
    #[error(
        "log bundle version {version} is not supported (offset 18); this tool reads version 1 — use a newer tool"
    )]
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// The input ends inside an item.
    #[error("the bundle is truncated: it ends inside {what} starting at byte {offset}")]
    Truncated {
        /// Where the item starts.
        offset: usize,
        /// Which item.
        what: &'static str,
    },
    /// The origin is empty, too long, not UTF-8 or has control characters.
    #[error(
        "the bundle's origin (length prefix at byte {offset}) is invalid (empty, over 1024 bytes, not UTF-8 or with control characters)"
    )]
    InvalidOrigin {
        /// Where the origin's length prefix is.
        offset: usize,
    },
    /// A count is larger than the rest of the input can hold.
    #[error("the count of {count} {what} at byte {offset} cannot fit in the rest of the bundle")]
    CountTooLarge {
        /// Where the count is.
        offset: usize,
        /// Entries or checkpoints.
        what: &'static str,
        /// The count.
        count: u64,
    },
    /// An entry exceeds [`MAX_BUNDLE_ENTRY_LEN`].
    #[error("entry {index} (byte {offset}) is {len} bytes, more than the limit of {max}")]
    EntryTooLarge {
        /// Entry index.
        index: u64,
        /// Where its length prefix is.
        offset: usize,
        /// Its length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A checkpoint exceeds [`MAX_NOTE_SIZE`].
    #[error("checkpoint {index} (byte {offset}) is {len} bytes, more than the limit of {max}")]
    CheckpointTooLarge {
        /// Checkpoint index.
        index: usize,
        /// Where its length prefix is.
        offset: usize,
        /// Its length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A checkpoint is not UTF-8 text.
    #[error("checkpoint {index} (byte {offset}) is not UTF-8 text")]
    CheckpointNotUtf8 {
        /// Checkpoint index.
        index: usize,
        /// Where its length prefix is.
        offset: usize,
    },
    /// More checkpoints than the format can count.
    #[error("{count} checkpoints exceed the format's limit of 2^32-1")]
    TooManyCheckpoints {
        /// How many.
        count: usize,
    },
    /// A roster note exceeds [`MAX_NOTE_SIZE`].
    #[error("roster {index} (byte {offset}) is {len} bytes, more than the limit of {max}")]
    RosterTooLarge {
        /// Roster index.
        index: usize,
        /// Where its length prefix is.
        offset: usize,
        /// Its length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A roster note is not UTF-8 text.
    #[error("roster {index} (byte {offset}) is not UTF-8 text")]
    RosterNotUtf8 {
        /// Roster index.
        index: usize,
        /// Where its length prefix is.
        offset: usize,
    },
    /// More roster notes than the format can count.
    #[error("{count} roster notes exceed the format's limit of 2^32-1")]
    TooManyRosters {
        /// How many.
        count: usize,
    },
    /// A version 2 bundle that carries no roster (a bundle without rosters is version 1).
    #[error(
        "the bundle is version 2 but its roster count (byte {offset}) is 0; a bundle without rosters is version 1"
    )]
    NoRosters {
        /// Where the roster count is.
        offset: usize,
    },
    /// Bytes after the last item.
    #[error("the bundle has unexpected bytes after its last item, from byte {offset}")]
    TrailingBytes {
        /// Where they start.
        offset: usize,
    },
    /// The bundle has no checkpoint, so nothing vouches for its entries.
    #[error("the bundle holds no signed checkpoint, so nothing vouches for its entries")]
    NoCheckpoints,
    /// A checkpoint does not parse or its signatures do not verify.
    #[error("checkpoint {index} is invalid: {source}")]
    InvalidCheckpoint {
        /// Checkpoint index.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: CheckpointError,
    },
    /// A checkpoint is for another log.
    #[error("checkpoint {index} is for log `{found}`, not `{expected}`")]
    CheckpointOrigin {
        /// Checkpoint index.
        index: usize,
        /// The bundle's origin.
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
    /// A checkpoint claims more entries than the bundle holds: entries are missing.
    #[error(
        "checkpoint {index} covers {size} entries but the bundle holds only {entries}; entries are missing"
    )]
    CheckpointBeyondEntries {
        /// Checkpoint index.
        index: usize,
        /// Its size.
        size: u64,
        /// Entries in the bundle.
        entries: u64,
    },
    /// Checkpoints are not in non-decreasing size order.
    #[error(
        "checkpoint {index} (size {size}) comes after a checkpoint of size {previous}; checkpoints must be in size order"
    )]
    CheckpointOutOfOrder {
        /// Checkpoint index.
        index: usize,
        /// Its size.
        size: u64,
        /// The previous checkpoint's size.
        previous: u64,
    },
    /// The recomputed root differs from a checkpoint's: an entry in
    /// `entries_from..size` was altered, inserted, removed or reordered (entries before
    /// `entries_from` match the previous checkpoint).
    #[error(
        "checkpoint {index} (size {size}) does not match the entries: at least one of entries {entries_from}..{size} was altered, inserted, removed or reordered"
    )]
    RootMismatch {
        /// Checkpoint index.
        index: usize,
        /// Its size.
        size: u64,
        /// First entry not vouched for by an earlier checkpoint.
        entries_from: u64,
    },
    /// Two consecutive checkpoints are not consistent.
    #[error(
        "checkpoint {index} (size {size}) is not consistent with the previous one (size {previous_size})"
    )]
    Inconsistent {
        /// Checkpoint index.
        index: usize,
        /// The previous checkpoint's size.
        previous_size: u64,
        /// Its size.
        size: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, sign_checkpoint};
    use crate::note::NoteSigner;
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "example.org/log";

    fn signer() -> NoteSigner {
        NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    fn bundle(n: u64, checkpoint_sizes: &[u64]) -> LogBundle {
        let entries: Vec<Vec<u8>> = (0..n).map(|i| format!("entry-{i}").into_bytes()).collect();
        let tree = MemoryTree::from_entries(&entries);
        let s = signer();
        let checkpoints = checkpoint_sizes
            .iter()
            .map(|&size| {
                let cp = Checkpoint::new(ORIGIN, size, tree.root_at(size).unwrap()).unwrap();
                sign_checkpoint(&cp, &s).to_text()
            })
            .collect();
        LogBundle::new(ORIGIN, entries, checkpoints)
    }

    #[test]
    fn round_trip_and_verify() {
        let b = bundle(20, &[0, 3, 3, 8, 17]);
        let bytes = b.encode().unwrap();
        assert_eq!(&bytes[..18], BUNDLE_MAGIC);
        let back = LogBundle::decode(&bytes).unwrap();
        assert_eq!(back, b);
        let report = back.verify(&[signer().verifier()]).unwrap();
        assert_eq!(report.entries, 20);
        assert_eq!(report.signed_size, 17);
        assert_eq!(report.unsigned_entries, 3);
        assert_eq!(report.checkpoints.len(), 5);
        assert_eq!(report.checkpoints[4].signers, [ORIGIN]);
        assert_eq!(report.root, MemoryTree::from_entries(&b.entries).root());
    }

    #[test]
    fn verification_failures() {
        let v = [signer().verifier()];
        let mut b = bundle(10, &[4, 10]);
        b.entries[6] = b"tampered".to_vec();
        assert_eq!(
            b.verify(&v),
            Err(BundleError::RootMismatch {
                index: 1,
                size: 10,
                entries_from: 4
            })
        );
        let mut b = bundle(10, &[4, 10]);
        b.entries.swap(0, 1);
        assert!(matches!(
            b.verify(&v),
            Err(BundleError::RootMismatch {
                index: 0,
                entries_from: 0,
                ..
            })
        ));
        let mut b = bundle(10, &[4, 10]);
        b.entries.pop();
        assert_eq!(
            b.verify(&v),
            Err(BundleError::CheckpointBeyondEntries {
                index: 1,
                size: 10,
                entries: 9
            })
        );
        let b = bundle(10, &[8, 4]);
        assert_eq!(
            b.verify(&v),
            Err(BundleError::CheckpointOutOfOrder {
                index: 1,
                size: 4,
                previous: 8
            })
        );
        let b = bundle(10, &[]);
        assert_eq!(b.verify(&v), Err(BundleError::NoCheckpoints));
        let mut b = bundle(10, &[4]);
        b.origin = "other.example/log".into();
        assert!(matches!(
            b.verify(&v),
            Err(BundleError::CheckpointOrigin { index: 0, .. })
        ));
        let b = bundle(10, &[4]);
        let other = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[2; 32])).unwrap();
        assert!(matches!(
            b.verify(&[other.verifier()]),
            Err(BundleError::InvalidCheckpoint { index: 0, .. })
        ));
        let mut b = bundle(10, &[4, 6]);
        b.checkpoints[1] = b.checkpoints[1].replacen("\n6\n", "\n7\n", 1);
        assert!(matches!(
            b.verify(&v),
            Err(BundleError::InvalidCheckpoint { index: 1, .. })
        ));
    }

    #[test]
    fn decode_failures_report_offsets() {
        let b = bundle(3, &[3]);
        let bytes = b.encode().unwrap();
        assert_eq!(LogBundle::decode(b"nope"), Err(BundleError::BadMagic));
        let mut v = bytes.clone();
        v[18] = 3;
        assert_eq!(
            LogBundle::decode(&v),
            Err(BundleError::UnsupportedVersion { version: 3 })
        );
        for cut in 0..bytes.len() {
            assert!(LogBundle::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            LogBundle::decode(&long),
            Err(BundleError::TrailingBytes {
                offset: bytes.len()
            })
        );
        // First entry's length prefix: after magic, version, origin length and origin, counts.
        let first_entry = 18 + 1 + 2 + ORIGIN.len() + 8 + 4;
        let mut big = bytes.clone();
        big[first_entry..first_entry + 4].copy_from_slice(&(70_000u32).to_be_bytes());
        assert_eq!(
            LogBundle::decode(&big),
            Err(BundleError::EntryTooLarge {
                index: 0,
                offset: first_entry,
                len: 70_000,
                max: MAX_BUNDLE_ENTRY_LEN
            })
        );
        let mut count = bytes.clone();
        count[first_entry - 12..first_entry - 4].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(
            LogBundle::decode(&count),
            Err(BundleError::CountTooLarge {
                what: "entries",
                ..
            })
        ));
        let mut origin = bytes.clone();
        origin[21] = b'\n';
        assert_eq!(
            LogBundle::decode(&origin),
            Err(BundleError::InvalidOrigin { offset: 19 })
        );
    }

    #[test]
    fn rosters_make_version_2_and_round_trip() {
        let plain = bundle(3, &[3]);
        assert_eq!(plain.encode().unwrap()[18], 1);
        let carried = plain.clone().with_rosters(vec![
            "roster one\n\n— key abc\n".to_owned(),
            "roster two".to_owned(),
        ]);
        let bytes = carried.encode().unwrap();
        assert_eq!(bytes[18], 2);
        assert_eq!(LogBundle::decode(&bytes), Ok(carried.clone()));
        for cut in 0..bytes.len() {
            assert!(LogBundle::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // The rosters are not part of the log: the bundle verifies as before.
        let verified = carried.verify(&[signer().verifier()]).unwrap();
        assert_eq!(verified, plain.verify(&[signer().verifier()]).unwrap());
        // Canonical: version 2 with no roster is refused.
        let roster_count = 18 + 1 + 2 + ORIGIN.len() + 8 + 4;
        let mut empty = bytes.clone();
        empty[roster_count..roster_count + 4].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(
            LogBundle::decode(&empty),
            Err(BundleError::NoRosters {
                offset: roster_count
            })
        );
        let mut huge = bytes;
        huge[roster_count..roster_count + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            LogBundle::decode(&huge),
            Err(BundleError::CountTooLarge {
                what: "rosters",
                ..
            })
        ));
    }

    #[test]
    fn encode_limits() {
        let mut b = bundle(2, &[2]);
        b.entries[1] = vec![0; MAX_BUNDLE_ENTRY_LEN + 1];
        assert!(matches!(
            b.encode(),
            Err(BundleError::EntryTooLarge { index: 1, .. })
        ));
        b.entries[1] = vec![0; MAX_BUNDLE_ENTRY_LEN];
        assert!(LogBundle::decode(&b.encode().unwrap()).is_ok());
        b.origin = String::new();
        assert!(matches!(b.encode(), Err(BundleError::InvalidOrigin { .. })));
    }
}
