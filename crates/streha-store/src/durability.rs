//! Making a flushed sled batch survive power loss.
//!
//! sled 0.34's `flush()` writes its buffers with `sync_file_range` on Linux, which flushes
//! neither file metadata nor the drive's volatile write cache (sled issue #1452). After every
//! flush we therefore `fsync` (`File::sync_all`) sled's data file, the directories it creates
//! files in, and every blob file sled wrote since the last sync: sled writes a page larger
//! than a quarter of its segment (128 KiB by default; a large envelope makes one) to a file
//! of its own under `blobs/` and never syncs it. See `spec/audit-log.md`, "Durability".

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::StoreError;

/// Open handles on the files whose `fsync` completes a durable flush.
#[derive(Debug)]
pub(crate) struct Durability {
    targets: Vec<(PathBuf, File)>,
    blobs: PathBuf,
    /// Blob files already synced. sled never rewrites a blob file (each has a new name), so
    /// one sync each is enough; names of removed blobs are forgotten at the next sync.
    synced_blobs: Mutex<HashSet<OsString>>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Durability {
    /// Opens the data file and directories of the sled database at `dir`. The blobs
    /// present at open are synced once, at the first sync.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let mut targets = Vec::new();
        let blobs = dir.join("blobs");
        for path in [dir.join("db"), dir.to_path_buf(), blobs.clone()] {
            if !path.exists() {
                continue;
            }
            let file = File::open(&path).map_err(io_error(&path))?;
            targets.push((path, file));
        }
        Ok(Self {
            targets,
            blobs,
            synced_blobs: Mutex::new(HashSet::new()),
        })
    }

    /// `fsync`s the blob files not synced yet, then every target (the blob directory's
    /// entries last, so that no entry names a file whose data may be lost).
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        self.sync_new_blobs()?;
        for (path, file) in &self.targets {
            file.sync_all().map_err(io_error(path))?;
        }
        Ok(())
    }

    fn sync_new_blobs(&self) -> Result<(), StoreError> {
        let listing = match std::fs::read_dir(&self.blobs) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(&self.blobs)(e)),
        };
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut present = HashSet::with_capacity(synced.len());
        let mut any_new = false;
        for item in listing {
            let item = item.map_err(io_error(&self.blobs))?;
            let name = item.file_name();
            if !synced.contains(&name) {
                let path = item.path();
                match File::open(&path) {
                    Ok(file) => {
                        file.sync_all().map_err(io_error(&path))?;
                        any_new = true;
                    }
                    // sled removed it meanwhile (blob garbage collection): nothing to keep.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_error(&path)(e)),
                }
            }
            present.insert(name);
        }
        // A store created empty had no blob directory to hold open: sync its entries here.
        if any_new && !self.targets.iter().any(|(path, _)| *path == self.blobs) {
            File::open(&self.blobs)
                .and_then(|dir| dir.sync_all())
                .map_err(io_error(&self.blobs))?;
        }
        *synced = present;
        Ok(())
    }

    /// How many blob files have been synced and are still present (for tests).
    #[cfg(test)]
    pub(crate) fn synced_blob_count(&self) -> usize {
        self.synced_blobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_files_sled_writes_for_large_values_are_synced() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let durability = Durability::open(dir.path()).unwrap();
        durability.sync().unwrap();
        assert_eq!(durability.synced_blob_count(), 0);

        // A value over a quarter of sled's 512 KiB segment goes to a blob file.
        db.insert(b"large", vec![7u8; 300 * 1024]).unwrap();
        db.flush().unwrap();
        let on_disk = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert!(
            on_disk >= 1,
            "sled wrote no blob file; the test no longer covers blobs"
        );
        durability.sync().unwrap();
        assert_eq!(durability.synced_blob_count(), on_disk);

        // Synced blobs are not synced again, and removed ones are forgotten.
        db.insert(b"small", b"x".to_vec()).unwrap();
        db.flush().unwrap();
        durability.sync().unwrap();
        let on_disk = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert_eq!(durability.synced_blob_count(), on_disk);
    }
}
