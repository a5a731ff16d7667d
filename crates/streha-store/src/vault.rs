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
//! A slot that fails its check (a write torn by a crash, before the key was ever used, or
//! an erasure torn likewise) is zeroed at open. A partial slot at the end (an append torn
//! by a crash) is cut off.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Read as _;
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
    /// Opens the vault at `path`, creating it (mode 0600) if it does not exist.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the file cannot be read, written or synced;
    /// [`StoreError::Corrupt`] if it is not a key vault.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        if created || bytes.is_empty() {
            file.write_all_at(MAGIC, 0).map_err(io)?;
            file.sync_all().map_err(io)?;
            if let Some(parent) = path.parent() {
                File::open(parent)
                    .and_then(|dir| dir.sync_all())
                    .map_err(io)?;
            }
            bytes = MAGIC.to_vec();
        }
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(StoreError::Corrupt {
                path,
                detail: "not a Streha key vault (bad magic)".into(),
            });
        }
        let body = &bytes[MAGIC.len()..];
        let slots = body.len() as u64 / SLOT_LEN;
        let mut inner = Inner {
            file,
            keys: HashMap::new(),
            free: Vec::new(),
            slots,
        };
        let mut repaired = false;
        if !(body.len() as u64).is_multiple_of(SLOT_LEN) {
            inner.file.set_len(offset(slots)).map_err(io)?;
            repaired = true;
        }
        for (slot, raw) in (0u64..).zip(body.chunks_exact(SLOT_LEN as usize)) {
            if raw.iter().all(|&b| b == 0) {
                inner.free.push(slot);
                continue;
            }
            let mut id = [0u8; 16];
            id.copy_from_slice(&raw[..16]);
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&raw[16..48]);
            if raw[48..] != check(&id, &key) || inner.keys.contains_key(&id) {
                tracing::warn!(path = %path.display(), slot, "a key vault slot did not check; erased it");
                inner
                    .file
                    .write_all_at(&[0u8; SLOT_LEN as usize], offset(slot))
                    .map_err(io)?;
                inner.free.push(slot);
                repaired = true;
                continue;
            }
            inner.keys.insert(id, (slot, key));
        }
        if repaired {
            inner.file.sync_all().map_err(io)?;
        }
        // Reuse low slots first.
        inner.free.sort_unstable_by(|a, b| b.cmp(a));
        Ok(Self {
            path,
            inner: Mutex::new(inner),
        })
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
    fn torn_slots_are_erased_and_a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let vault = KeyVault::open(&path).unwrap();
        vault.insert_if_absent(&[1; 16], &[0xaa; 32]).unwrap();
        vault.insert_if_absent(&[2; 16], &[0xbb; 32]).unwrap();
        drop(vault);
        // A torn overwrite of the first slot, and half a slot appended.
        let mut bytes = file_bytes(&path);
        bytes[16 + 20] ^= 0xff;
        bytes.extend_from_slice(&[9u8; 30]);
        std::fs::write(&path, &bytes).unwrap();

        let vault = KeyVault::open(&path).unwrap();
        assert!(vault.get(&[1; 16]).is_none());
        assert_eq!(*vault.get(&[2; 16]).unwrap(), [0xbb; 32]);
        let bytes = file_bytes(&path);
        assert_eq!(bytes.len(), 16 + 2 * 64);
        assert!(bytes[16..80].iter().all(|&b| b == 0));
        drop(vault);

        std::fs::write(&path, b"something else entirely").unwrap();
        assert!(matches!(
            KeyVault::open(&path),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
