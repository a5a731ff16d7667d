//! Large bodies (sealed envelopes) kept in files of their own, out of sled.
//!
//! sled rewrites a whole leaf page when one of its values changes, and writes a value over a
//! quarter of its segment to a blob file of its own; large values made every commit rewrite
//! large pages (`BENCHMARKS.md`). A body larger than [`INLINE_BODY_MAX`] is therefore
//! written to `bodies/<BLAKE3 hex>` in the data directory, and sled keeps only a reference
//! (hash and length) under the state key, plus a back-reference `hash ‖ key` (see `keys`)
//! so that a body shared by two keys is deleted only when the last reference goes.
//!
//! A body of at most [`INLINE_BODY_MAX`] bytes stays in sled, inline under its state key, in
//! the same `apply_batch` as the commit that references it: a file of its own would cost a
//! create, a write, an `fsync` and a rename (and, once per batch, a directory `fsync`) at
//! every node it passes, several times what the value costs sled (issue 19, "small
//! envelopes"). It is an ordinary state value: it goes with the commit that removes or
//! replaces its key, and a backup carries it as a state pair.
//!
//! Order of writes, so that a crash never leaves a reference without its file:
//! 1. the body goes to `<hash>.tmp` (mode 0600), is `fsync`ed and renamed to `<hash>`; the
//!    directory is `fsync`ed once per batch — all before the sled batch that references it;
//! 2. a file is deleted only after the batch that dropped its last reference is durable.
//!
//! A crash between leaves at worst a file that no committed value references (an orphan);
//! [`Bodies::collect`] removes orphans at open, and refuses to open a store in which a
//! referenced file is missing or has the wrong length (a dangling reference, which this
//! order never produces: something else removed or damaged the file). The content is checked
//! against its hash on every read.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::StoreError;
use crate::keys;

/// The directory of the body files, in the data directory.
pub const BODIES_DIR: &str = "bodies";

/// The largest body [`Transaction::put_body`](crate::Transaction::put_body) keeps inline in
/// sled; larger ones go to files of their own. Measured (`BENCHMARKS.md`, "Issue 19: small
/// envelopes"): a file costs an `fsync` of its own, so up to 64 KiB a batch of inline bodies
/// commits several times faster than the same bodies in files. What bounds it is sled: a
/// leaf page holds up to 17 values before it splits, and a page over a quarter of sled's
/// 512 KiB segment is written as a blob file of its own and rewritten whole — the cost that
/// moved large bodies out. At 4 KiB a leaf full of bodies stays under half of that, and the
/// record of a 1 KiB disclosure is inline.
pub const INLINE_BODY_MAX: usize = 4 * 1024;

const TEMP_SUFFIX: &str = ".tmp";

/// The body files of one store.
#[derive(Debug)]
pub(crate) struct Bodies {
    dir: PathBuf,
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

/// The hash that names a body.
pub(crate) fn body_hash(body: &[u8]) -> [u8; 32] {
    *blake3::hash(body).as_bytes()
}

impl Bodies {
    /// The body directory of the store in `data_dir`, created mode 0700 if missing.
    pub(crate) fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.join(BODIES_DIR);
        crate::datadir::create_private(&dir)?;
        Ok(Self { dir })
    }

    /// The file of the body `hash`.
    pub(crate) fn path(&self, hash: &[u8; 32]) -> PathBuf {
        self.dir.join(hex(hash))
    }

    /// Writes `body` to its file: temporary name, `fsync`, rename. The directory still needs
    /// [`Bodies::sync_dir`] before the rename is durable.
    pub(crate) fn write(&self, hash: &[u8; 32], body: &[u8]) -> Result<(), StoreError> {
        let path = self.path(hash);
        let temp = self.dir.join(format!("{}{TEMP_SUFFIX}", hex(hash)));
        let written = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut file| {
                file.write_all(body)?;
                file.sync_all()
            })
            .and_then(|()| std::fs::rename(&temp, &path));
        written.map_err(|source| {
            // Best effort: what is left is removed at the next open anyway.
            let _ = std::fs::remove_file(&temp);
            self.not_written(source)
        })
    }

    pub(crate) fn not_written(&self, source: std::io::Error) -> StoreError {
        StoreError::BodyNotWritten {
            path: self.dir.clone(),
            full: source.kind() == std::io::ErrorKind::StorageFull,
            source,
        }
    }

    /// `fsync`s the directory, making the renames before it durable.
    pub(crate) fn sync_dir(&self) -> Result<(), std::io::Error> {
        File::open(&self.dir).and_then(|dir| dir.sync_all())
    }

    /// Reads the body `hash` of `len` bytes and checks it against its hash.
    pub(crate) fn read(&self, hash: &[u8; 32], len: u64) -> Result<Vec<u8>, String> {
        let path = self.path(hash);
        let body = std::fs::read(&path).map_err(|e| {
            format!(
                "the body file {} that the store references cannot be read: {e}",
                path.display()
            )
        })?;
        if body.len() as u64 != len || body_hash(&body) != *hash {
            return Err(format!(
                "the body file {} does not match the hash that names it",
                path.display()
            ));
        }
        Ok(body)
    }

    /// Deletes the body file `hash` (no error if it is gone).
    pub(crate) fn remove(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        let path = self.path(hash);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// Every body the committed state references, with its length, from the
    /// back-references in `tree`.
    pub(crate) fn referenced(tree: &sled::Tree) -> Result<BTreeMap<[u8; 32], u64>, String> {
        let mut referenced = BTreeMap::new();
        for item in tree.scan_prefix([keys::BODY_REF]) {
            let (key, value) = item.map_err(|e| crate::error::describe(&e))?;
            let hash: [u8; 32] = key
                .get(1..33)
                .and_then(|h| h.try_into().ok())
                .ok_or("a body reference's key is malformed")?;
            let len = <[u8; 8]>::try_from(value.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| "a body reference's length is malformed")?;
            referenced.insert(hash, len);
        }
        Ok(referenced)
    }

    /// At open: checks that every referenced body file is there with its length, and
    /// removes the files nothing references (orphans a crash left between writing a body
    /// and committing its reference, or between committing its removal and deleting it)
    /// and temporary files. Returns how many files it removed.
    ///
    /// # Errors
    /// [`StoreError::MissingBody`] for a referenced file missing or of the wrong length.
    pub(crate) fn collect(
        &self,
        data_dir: &Path,
        referenced: &BTreeMap<[u8; 32], u64>,
    ) -> Result<usize, StoreError> {
        for (hash, len) in referenced {
            let path = self.path(hash);
            let problem = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() && meta.len() == *len => continue,
                Ok(meta) => format!("it has {} bytes, not {len}", meta.len()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "it is missing".to_owned(),
                Err(e) => e.to_string(),
            };
            return Err(StoreError::MissingBody {
                path: data_dir.to_path_buf(),
                file: path,
                problem,
            });
        }
        let mut removed = 0;
        for item in std::fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let item = item.map_err(io_error(&self.dir))?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            let orphan = match name.strip_suffix(TEMP_SUFFIX) {
                Some(stem) => parse_hex(stem).is_some(),
                None => parse_hex(&name).is_some_and(|hash| !referenced.contains_key(&hash)),
            };
            if orphan {
                let path = item.path();
                std::fs::remove_file(&path).map_err(io_error(&path))?;
                removed += 1;
            } else if parse_hex(&name).is_none() {
                tracing::warn!(
                    file = %item.path().display(),
                    "a file in the body directory that the store did not write; left alone"
                );
            }
        }
        if removed > 0 {
            self.sync_dir().map_err(io_error(&self.dir))?;
            tracing::info!(
                dir = %self.dir.display(),
                removed,
                "removed body files no committed value references (left by a crash)"
            );
        }
        Ok(removed)
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
}
