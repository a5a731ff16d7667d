//! The key vault: small secret keys in a file where destroying one really destroys it.
//!
//! Crypto-shredding (Art. 18.5) needs a key that can be erased: sled never overwrites in
//! place, so a key deleted from it may survive in its log until compaction, and in every
//! backup of the database. The vault is a separate file of fixed 64-byte slots; erasing a
//! key overwrites its slot in place with zeros and `fsync`s the file. (A flash drive may
//! keep the old block internally until it reuses it; an encrypted volume closes that gap.)
//!
//! ```text
//! file  = MAGIC (16 bytes) ‖ slot*
//! slot  = id (16) ‖ key (32) ‖ check (16)      -- all zero: a free slot
//! check = BLAKE3-derive-key("streha key vault slot v1", id ‖ key)[..16]
//! ```
//!
//! Opening changes nothing in an existing file. A slot that fails its check (a write torn
//! by a crash before the key was ever used, an erasure torn likewise — or damage) and a
//! partial slot at the end (an append torn by a crash — or a truncation) are reported
//! ([`KeyVault::summary`]); they are erased or cut only by [`KeyVault::repair`], which the
//! node calls once it has checked that every key its store relies on is intact. The vault
//! cannot tell a torn write from damage; the store can, because it records which keys it
//! relies on ([`KeyVault::check_of`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use zeroize::Zeroizing;

use crate::StoreError;

const MAGIC: &[u8; 16] = b"streha-vault-v1\n";
const SLOT_LEN: u64 = 64;
const CHECK_CONTEXT: &str = "streha key vault slot v1";

/// A file of erasable 256-bit keys, each under a 16-byte id.
#[derive(Debug)]
pub struct KeyVault {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    file: File,
    keys: HashMap<[u8; 16], (u64, Zeroizing<[u8; 32]>)>,
    free: Vec<u64>,
    slots: u64,
    /// Slots that failed their check at open, not yet erased.
    damaged: Vec<u64>,
    /// Bytes of a partial slot at the end at open, not yet cut.
    partial_tail: u64,
}

/// What a key vault holds, and what of it did not check at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VaultSummary {
    /// Intact keys.
    pub keys: usize,
    /// Non-empty slots that fail their check (torn or damaged), not yet erased.
    pub damaged_slots: usize,
    /// Bytes of a partial slot at the end of the file, not yet cut.
    pub partial_tail_bytes: u64,
    /// The file's length.
    pub file_bytes: u64,
}

/// The slots of a vault file's bytes: intact keys by id (with their slot), free slots,
/// damaged slots, and the length of a partial slot at the end.
#[allow(clippy::type_complexity)]
fn parse(
    path: &Path,
    bytes: &[u8],
) -> Result<
    (
        HashMap<[u8; 16], (u64, Zeroizing<[u8; 32]>)>,
        Vec<u64>,
        Vec<u64>,
        u64,
    ),
    StoreError,
> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: if bytes.is_empty() {
                "the key vault is empty (0 bytes): truncated; restore it from its backup".into()
            } else {
                "not a Streha key vault (bad magic)".into()
            },
        });
    }
    let body = &bytes[MAGIC.len()..];
    let mut keys = HashMap::new();
    let mut free = Vec::new();
    let mut damaged = Vec::new();
    for (slot, raw) in (0u64..).zip(body.chunks_exact(SLOT_LEN as usize)) {
        if raw.iter().all(|&b| b == 0) {
            free.push(slot);
            continue;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&raw[..16]);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&raw[16..48]);
        if raw[48..] != check(&id, &key) || keys.contains_key(&id) {
            damaged.push(slot);
            continue;
        }
        keys.insert(id, (slot, key));
    }
    let partial_tail = body.len() as u64 % SLOT_LEN;
    Ok((keys, free, damaged, partial_tail))
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("keys", &self.keys.len())
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

fn check(id: &[u8; 16], key: &[u8; 32]) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new_derive_key(CHECK_CONTEXT);
    hasher.update(id);
    hasher.update(key);
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    out
}

fn offset(slot: u64) -> u64 {
    MAGIC.len() as u64 + slot * SLOT_LEN
}

impl KeyVault {
    /// Opens the vault at `path`, creating it (mode 0600) if it does not exist. An existing
    /// file is not changed: damaged slots and a partial tail are only reported
    /// ([`KeyVault::summary`]) until [`KeyVault::repair`].
    ///
    /// # Errors
    /// [`StoreError::Io`] if the file cannot be read, created or synced;
    /// [`StoreError::Corrupt`] if it is not a key vault (including an existing empty file:
    /// a truncated vault is never taken for a new one).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let mut file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(MAGIC)
                    .and_then(|()| file.sync_all())
                    .map_err(io)?;
                if let Some(parent) = path.parent() {
                    File::open(parent)
                        .and_then(|dir| dir.sync_all())
                        .map_err(io)?;
                }
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io)?,
            Err(e) => return Err(io(e)),
        };
        let mut bytes = Zeroizing::new(Vec::new());
        file.seek(std::io::SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(io)?;
        let (keys, mut free, damaged, partial_tail) = parse(&path, &bytes)?;
        let slots = (bytes.len() - MAGIC.len()) as u64 / SLOT_LEN;
        // Reuse low slots first.
        free.sort_unstable_by(|a, b| b.cmp(a));
        Ok(Self {
            path,
            inner: Mutex::new(Inner {
                file,
                keys,
                free,
                slots,
                damaged,
                partial_tail,
            }),
        })
    }

    /// Reads the vault at `path` without changing or creating anything, and says what it
    /// holds (`None` if there is no file).
    ///
    /// # Errors
    /// [`StoreError::Io`] if it cannot be read; [`StoreError::Corrupt`] if it is not a key
    /// vault.
    pub fn inspect(path: impl AsRef<Path>) -> Result<Option<VaultSummary>, StoreError> {
        let path = path.as_ref();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let (keys, _, damaged, partial_tail) = parse(path, &bytes)?;
        Ok(Some(VaultSummary {
            keys: keys.len(),
            damaged_slots: damaged.len(),
            partial_tail_bytes: partial_tail,
            file_bytes: bytes.len() as u64,
        }))
    }

    /// What the vault holds, and what did not check at open.
    #[must_use]
    pub fn summary(&self) -> VaultSummary {
        let inner = self.inner();
        VaultSummary {
            keys: inner.keys.len(),
            damaged_slots: inner.damaged.len(),
            partial_tail_bytes: inner.partial_tail,
            file_bytes: MAGIC.len() as u64 + inner.slots * SLOT_LEN + inner.partial_tail,
        }
    }

    /// Erases the slots that failed their check at open and cuts a partial slot at the end,
    /// then syncs. Call it only once the keys the caller relies on are known intact: a
    /// damaged slot may be the only trace of a key. Returns how many slots were erased.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the file cannot be written or synced.
    pub fn repair(&self) -> Result<usize, StoreError> {
        let mut inner = self.inner();
        if inner.damaged.is_empty() && inner.partial_tail == 0 {
            return Ok(0);
        }
        let damaged = std::mem::take(&mut inner.damaged);
        for &slot in &damaged {
            inner
                .file
                .write_all_at(&[0u8; SLOT_LEN as usize], offset(slot))
                .map_err(self.io())?;
        }
        if inner.partial_tail > 0 {
            let slots = inner.slots;
            inner.file.set_len(offset(slots)).map_err(self.io())?;
            inner.partial_tail = 0;
        }
        inner.file.sync_all().map_err(self.io())?;
        inner.free.extend(damaged.iter().copied());
        inner.free.sort_unstable_by(|a, b| b.cmp(a));
        tracing::warn!(path = %self.path.display(), erased = damaged.len(), "key vault repaired: slots that did not check were erased");
        Ok(damaged.len())
    }

    /// A 16-byte check value of the key under `id` (a keyed hash of id and key, from which
    /// the key cannot be learnt), for a store to record which key it relies on.
    #[must_use]
    pub fn check_of(&self, id: &[u8; 16]) -> Option<[u8; 16]> {
        self.inner().keys.get(id).map(|(_, key)| check(id, key))
    }

    /// The ids of every intact key with its check value.
    #[must_use]
    pub fn checks(&self) -> Vec<([u8; 16], [u8; 16])> {
        self.inner()
            .keys
            .iter()
            .map(|(id, (_, key))| (*id, check(id, key)))
            .collect()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// The key under `id`, if there is one.
    #[must_use]
    pub fn get(&self, id: &[u8; 16]) -> Option<Zeroizing<[u8; 32]>> {
        self.inner().keys.get(id).map(|(_, key)| key.clone())
    }

    /// Stores `key` under `id` durably unless `id` has a key already, and returns the key in
    /// force under `id` (the existing one, or `key`).
    ///
    /// # Errors
    /// [`StoreError::Io`] if the slot cannot be written and synced (then no key is stored).
    pub fn insert_if_absent(
        &self,
        id: &[u8; 16],
        key: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 32]>, StoreError> {
        let mut inner = self.inner();
        if let Some((_, existing)) = inner.keys.get(id) {
            return Ok(existing.clone());
        }
        let (slot, appended) = match inner.free.pop() {
            Some(slot) => (slot, false),
            None => (inner.slots, true),
        };
        let mut raw = Zeroizing::new([0u8; SLOT_LEN as usize]);
        raw[..16].copy_from_slice(id);
        raw[16..48].copy_from_slice(key);
        raw[48..].copy_from_slice(&check(id, key));
        let written = inner
            .file
            .write_all_at(&*raw, offset(slot))
            .and_then(|()| inner.file.sync_data());
        if let Err(e) = written {
            if !appended {
                inner.free.push(slot);
            }
            return Err(self.io()(e));
        }
        if appended {
            inner.slots += 1;
        }
        inner.keys.insert(*id, (slot, Zeroizing::new(*key)));
        Ok(Zeroizing::new(*key))
    }

    /// Destroys the key under `id`: its slot is overwritten with zeros and the file synced.
    /// Returns whether there was one.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the overwrite cannot be written or synced; the key is then
    /// forgotten by this process anyway, and erased again at the next open if the write did
    /// not reach the disk whole (its slot fails its check) — or, if nothing was written,
    /// found again: retry.
    pub fn destroy(&self, id: &[u8; 16]) -> Result<bool, StoreError> {
        let mut inner = self.inner();
        let Some((slot, _key)) = inner.keys.remove(id) else {
            return Ok(false);
        };
        inner
            .file
            .write_all_at(&[0u8; SLOT_LEN as usize], offset(slot))
            .and_then(|()| inner.file.sync_data())
            .map_err(self.io())?;
        inner.free.push(slot);
        Ok(true)
    }

    /// The bytes of a vault file holding exactly the intact keys of this one, compacted (no
    /// free or damaged slot), read under the vault's lock so that no insertion or
    /// destruction is half in it. It is a backup of secret keys: whoever keeps it can undo
    /// every shredding done after it was taken (see `spec/protocol.md` on backups).
    #[must_use]
    pub fn snapshot(&self) -> Zeroizing<Vec<u8>> {
        let inner = self.inner();
        let mut bytes = Zeroizing::new(Vec::with_capacity(
            MAGIC.len() + inner.keys.len() * SLOT_LEN as usize,
        ));
        bytes.extend_from_slice(MAGIC);
        let mut keys: Vec<_> = inner.keys.iter().collect();
        keys.sort_unstable_by_key(|(_, (slot, _))| *slot);
        for (id, (_, key)) in keys {
            bytes.extend_from_slice(id);
            bytes.extend_from_slice(&key[..]);
            bytes.extend_from_slice(&check(id, key));
        }
        bytes
    }

    /// Checks that `bytes` are a vault file with no damaged slot and no partial tail, and
    /// says how many keys it holds.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if they are not such a vault (`path` names it).
    pub fn check_snapshot(path: &Path, bytes: &[u8]) -> Result<usize, StoreError> {
        let (keys, _, damaged, partial_tail) = parse(path, bytes)?;
        if !damaged.is_empty() || partial_tail != 0 {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!(
                    "the key vault backup has {} damaged slots and {partial_tail} stray bytes",
                    damaged.len()
                ),
            });
        }
        Ok(keys.len())
    }

    /// How many keys the vault holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner().keys.len()
    }

    /// Whether the vault holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_bytes(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    #[test]
    fn keys_survive_reopening_and_destroyed_keys_leave_no_trace_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let vault = KeyVault::open(&path).unwrap();
        assert!(vault.is_empty());
        let (a, b) = ([1u8; 16], [2u8; 16]);
        assert_eq!(
            *vault.insert_if_absent(&a, &[0xaa; 32]).unwrap(),
            [0xaa; 32]
        );
        assert_eq!(
            *vault.insert_if_absent(&b, &[0xbb; 32]).unwrap(),
            [0xbb; 32]
        );
        // The first key stays in force.
        assert_eq!(
            *vault.insert_if_absent(&a, &[0xcc; 32]).unwrap(),
            [0xaa; 32]
        );
        drop(vault);

        let vault = KeyVault::open(&path).unwrap();
        assert_eq!(vault.len(), 2);
        assert_eq!(*vault.get(&a).unwrap(), [0xaa; 32]);
        assert!(vault.destroy(&a).unwrap());
        assert!(!vault.destroy(&a).unwrap());
        assert!(vault.get(&a).is_none());
        let bytes = file_bytes(&path);
        assert!(
            !bytes.windows(32).any(|w| w == [0xaa; 32]),
            "the destroyed key is still in the file"
        );
        assert!(bytes.windows(32).any(|w| w == [0xbb; 32]));
        // The freed slot is reused: the file does not grow.
        let len = bytes.len();
        vault.insert_if_absent(&[3; 16], &[0xdd; 32]).unwrap();
        assert_eq!(file_bytes(&path).len(), len);
        drop(vault);

        let vault = KeyVault::open(&path).unwrap();
        assert!(vault.get(&a).is_none());
        assert_eq!(*vault.get(&[3; 16]).unwrap(), [0xdd; 32]);
    }

    #[test]
    fn torn_slots_are_reported_and_erased_only_on_repair_and_a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let vault = KeyVault::open(&path).unwrap();
        vault.insert_if_absent(&[1; 16], &[0xaa; 32]).unwrap();
        vault.insert_if_absent(&[2; 16], &[0xbb; 32]).unwrap();
        let check_b = vault.check_of(&[2; 16]).unwrap();
        drop(vault);
        // A torn overwrite of the first slot, and half a slot appended.
        let mut bytes = file_bytes(&path);
        bytes[16 + 20] ^= 0xff;
        bytes.extend_from_slice(&[9u8; 30]);
        std::fs::write(&path, &bytes).unwrap();

        let vault = KeyVault::open(&path).unwrap();
        assert!(vault.get(&[1; 16]).is_none());
        assert_eq!(*vault.get(&[2; 16]).unwrap(), [0xbb; 32]);
        assert_eq!(vault.check_of(&[2; 16]), Some(check_b));
        let summary = vault.summary();
        assert_eq!(
            (
                summary.keys,
                summary.damaged_slots,
                summary.partial_tail_bytes
            ),
            (1, 1, 30)
        );
        assert_eq!(
            KeyVault::inspect(&path).unwrap(),
            Some(summary),
            "inspecting reads the same, without a change"
        );
        assert_eq!(file_bytes(&path), bytes, "opening changed nothing");

        assert_eq!(vault.repair().unwrap(), 1);
        let repaired = file_bytes(&path);
        assert_eq!(repaired.len(), 16 + 2 * 64);
        assert!(repaired[16..80].iter().all(|&b| b == 0));
        drop(vault);

        // An emptied vault is not taken for a new one, nor is a foreign file.
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(
            KeyVault::open(&path),
            Err(StoreError::Corrupt { .. })
        ));
        std::fs::write(&path, b"something else entirely").unwrap();
        assert!(matches!(
            KeyVault::open(&path),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
