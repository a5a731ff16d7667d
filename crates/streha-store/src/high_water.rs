//! The high-water mark: the last checkpoint this node signed, kept outside sled.
//!
//! sled's recovery stops at the first record it cannot read and opens the database as it was
//! before it, silently (a damaged or truncated `db` file opens at an older size, or empty).
//! An append-only log must never reopen shorter than what it acknowledged, so after every
//! batch that appended entries — once sled's data is durable and before any caller is
//! answered — the store writes that batch's signed checkpoint to this file and syncs it; at
//! open, the log sled recovered must reach the mark's size and have the mark's root there.
//!
//! ```text
//! file = slot slot                              -- 2 × SLOT_LEN bytes, preallocated
//! slot = MAGIC (16) ‖ seq (8, BE) ‖ len (4, BE) ‖ note (len) ‖ zeros ‖ BLAKE3(slot[..SLOT_LEN-32])
//! ```
//!
//! The two slots are written alternately (record `seq` goes to slot `seq % 2`), in place,
//! each followed by `fdatasync`: a write torn by a crash damages only the slot being
//! written, and the other still holds the previous mark (a lower bound, so still a valid
//! check). The valid slot with the higher `seq` is the mark. Writing in place into a
//! preallocated file changes no metadata, so one `fdatasync` makes a mark durable — no
//! rename and no directory sync per batch.

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use streha_audit::{Hash, NoteVerifier, open_checkpoint};

use crate::StoreError;

/// The high-water mark file, in the data directory.
pub const HIGH_WATER_FILE: &str = "high_water";

const MAGIC: &[u8; 16] = b"streha-hwm-v1\n\0\0";
const SLOT_LEN: usize = 4096;
const HEADER_LEN: usize = 16 + 8 + 4;
/// The longest note a slot holds.
pub(crate) const MAX_NOTE_LEN: usize = SLOT_LEN - HEADER_LEN - 32;

/// A high-water mark read from its file and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HighWaterMark {
    /// The tree size of the last checkpoint the node signed.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
    /// The signed note.
    pub note: String,
    seq: u64,
}

fn slot_bytes(seq: u64, note: &str) -> Option<Vec<u8>> {
    if note.len() > MAX_NOTE_LEN {
        return None;
    }
    let mut slot = vec![0u8; SLOT_LEN];
    slot[..16].copy_from_slice(MAGIC);
    slot[16..24].copy_from_slice(&seq.to_be_bytes());
    slot[24..28].copy_from_slice(&u32::try_from(note.len()).ok()?.to_be_bytes());
    slot[HEADER_LEN..HEADER_LEN + note.len()].copy_from_slice(note.as_bytes());
    let check = blake3::hash(&slot[..SLOT_LEN - 32]);
    slot[SLOT_LEN - 32..].copy_from_slice(check.as_bytes());
    Some(slot)
}

/// The record in `slot`, if it is intact: (seq, note).
fn parse_slot(slot: &[u8]) -> Option<(u64, String)> {
    if slot.len() != SLOT_LEN || &slot[..16] != MAGIC {
        return None;
    }
    if blake3::hash(&slot[..SLOT_LEN - 32]).as_bytes() != &slot[SLOT_LEN - 32..] {
        return None;
    }
    let seq = u64::from_be_bytes(slot[16..24].try_into().ok()?);
    let len = usize::try_from(u32::from_be_bytes(slot[24..28].try_into().ok()?)).ok()?;
    if len > MAX_NOTE_LEN {
        return None;
    }
    let note = std::str::from_utf8(&slot[HEADER_LEN..HEADER_LEN + len]).ok()?;
    Some((seq, note.to_owned()))
}

/// Reads and verifies the mark in `path`: `None` if there is no file or no mark was ever
/// recorded in it.
///
/// # Errors
/// [`StoreError::HighWater`] if the file is damaged beyond its two copies, or its mark is not
/// a checkpoint of `origin` signed by `verifier`'s key.
pub(crate) fn read(
    path: &Path,
    origin: &str,
    verifier: &NoteVerifier,
) -> Result<Option<HighWaterMark>, StoreError> {
    let unusable = |detail: String| StoreError::HighWater {
        path: path.to_path_buf(),
        detail,
    };
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(file) => {
            file.take(2 * SLOT_LEN as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|source| StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    if bytes.iter().all(|&b| b == 0) && bytes.len() <= 2 * SLOT_LEN {
        // Created, never written (a crash before the first mark was recorded).
        return Ok(None);
    }
    let best = bytes
        .chunks(SLOT_LEN)
        .take(2)
        .filter_map(parse_slot)
        .max_by_key(|(seq, _)| *seq);
    let Some((seq, note)) = best else {
        return Err(unusable(
            "neither of its two copies is intact; if the store itself is sound, move the file \
             aside and start again (a new mark is written from the store's last checkpoint)"
                .into(),
        ));
    };
    let (checkpoint, _) = open_checkpoint(&note, std::slice::from_ref(verifier)).map_err(|e| {
        unusable(format!(
            "its checkpoint is not signed by this node's key ({e}); is this another node's data directory?"
        ))
    })?;
    if checkpoint.origin() != origin {
        return Err(unusable(format!(
            "it is a mark of the log `{}`, not `{origin}`; is this another node's data directory?",
            checkpoint.origin()
        )));
    }
    Ok(Some(HighWaterMark {
        size: checkpoint.size(),
        root: *checkpoint.root(),
        note,
        seq,
    }))
}

/// The origin of the checkpoint the mark in `data_dir` holds, not verified (the store
/// verifies the mark against the origin it is opened with): how a node finds the log epoch
/// its data directory is in (`spec/audit-log.md` §9). `None` without a readable mark.
pub fn marked_origin(data_dir: &Path) -> Option<String> {
    let file = File::open(data_dir.join(HIGH_WATER_FILE)).ok()?;
    let mut bytes = Vec::new();
    file.take(2 * SLOT_LEN as u64)
        .read_to_end(&mut bytes)
        .ok()?;
    let (_, note) = bytes
        .chunks(SLOT_LEN)
        .take(2)
        .filter_map(parse_slot)
        .max_by_key(|(seq, _)| *seq)?;
    let parsed = streha_audit::SignedNote::parse(&note).ok()?;
    let checkpoint = streha_audit::Checkpoint::parse_body(parsed.body()).ok()?;
    Some(checkpoint.origin().to_owned())
}

/// The open mark file, written after every batch that appended entries.
#[derive(Debug)]
pub(crate) struct HighWater {
    path: PathBuf,
    file: File,
    seq: u64,
}

impl HighWater {
    /// Opens (or creates, preallocated and synced) the mark file at `path`, continuing after
    /// `last` (the mark read at open, if any).
    pub(crate) fn open(path: &Path, last: Option<&HighWaterMark>) -> Result<Self, StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < 2 * SLOT_LEN as u64 {
            // Preallocate both slots so that recording a mark never changes the file's size.
            let keep = usize::try_from(len).unwrap_or(0);
            let zeros = vec![0u8; 2 * SLOT_LEN - keep];
            file.write_all_at(&zeros, len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        if created && let Some(parent) = path.parent() {
            File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(io)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            seq: last.map_or(0, |mark| mark.seq),
        })
    }

    /// Records `note` (the checkpoint just made durable in sled) as the mark, durably.
    pub(crate) fn record(&mut self, note: &str) -> Result<(), StoreError> {
        let seq = self.seq + 1;
        let slot = slot_bytes(seq, note).ok_or_else(|| StoreError::HighWater {
            path: self.path.clone(),
            detail: format!(
                "a checkpoint of {} bytes does not fit its slot of {MAX_NOTE_LEN}",
                note.len()
            ),
        })?;
        let offset = (seq % 2) * SLOT_LEN as u64;
        self.file
            .write_all_at(&slot, offset)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| StoreError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.seq = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streha_audit::{Checkpoint, NoteSigner, leaf_hash, sign_checkpoint};

    fn signer() -> NoteSigner {
        NoteSigner::new(
            "hwm.test/log",
            ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
        )
        .unwrap()
    }

    fn note(size: u64) -> String {
        let cp = Checkpoint::new("hwm.test/log", size, leaf_hash(&size.to_be_bytes())).unwrap();
        sign_checkpoint(&cp, &signer()).to_text()
    }

    #[test]
    fn the_newest_intact_copy_is_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HIGH_WATER_FILE);
        let verifier = signer().verifier();
        assert_eq!(read(&path, "hwm.test/log", &verifier).unwrap(), None);
        let mut hw = HighWater::open(&path, None).unwrap();
        assert_eq!(read(&path, "hwm.test/log", &verifier).unwrap(), None);
        for size in 1..=5 {
            hw.record(&note(size)).unwrap();
        }
        let mark = read(&path, "hwm.test/log", &verifier).unwrap().unwrap();
        assert_eq!(mark.size, 5);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * SLOT_LEN as u64);

        // A torn write of the newest copy leaves the previous one.
        let mut bytes = std::fs::read(&path).unwrap();
        // Record 5 went to slot 5 % 2 = 1.
        let newest = SLOT_LEN;
        bytes[newest + 100] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let mark = read(&path, "hwm.test/log", &verifier).unwrap().unwrap();
        assert_eq!(mark.size, 4);

        // Continuing after it.
        let mut hw = HighWater::open(&path, Some(&mark)).unwrap();
        hw.record(&note(6)).unwrap();
        assert_eq!(
            read(&path, "hwm.test/log", &verifier)
                .unwrap()
                .unwrap()
                .size,
            6
        );

        // Both damaged: refused, not taken for "no mark".
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[100] ^= 0xff;
        bytes[SLOT_LEN + 100] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            read(&path, "hwm.test/log", &verifier),
            Err(StoreError::HighWater { .. })
        ));
    }

    #[test]
    fn a_mark_of_another_key_or_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HIGH_WATER_FILE);
        let mut hw = HighWater::open(&path, None).unwrap();
        hw.record(&note(3)).unwrap();
        let other = NoteSigner::new(
            "hwm.test/log",
            ed25519_dalek::SigningKey::from_bytes(&[6; 32]),
        )
        .unwrap();
        assert!(matches!(
            read(&path, "hwm.test/log", &other.verifier()),
            Err(StoreError::HighWater { .. })
        ));
        assert!(matches!(
            read(&path, "other.test/log", &signer().verifier()),
            Err(StoreError::HighWater { .. })
        ));
    }
}
