//! Making a flushed sled batch survive power loss.
//!
//! sled 0.34's `flush()` writes its buffers with `sync_file_range` on Linux, which flushes
//! neither file metadata nor the drive's volatile write cache (sled issue #1452). After every
//! flush we therefore `fsync` (`File::sync_all`) sled's data file and the directories it
//! creates files in, which on Linux issues the cache flush. See `spec/audit-log.md`,
//! "Durability".

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Open handles on the files whose `fsync` completes a durable flush.
#[derive(Debug)]
pub(crate) struct Durability {
    targets: Vec<(PathBuf, File)>,
}

impl Durability {
    /// Opens the data file and directories of the sled database at `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let mut targets = Vec::new();
        for path in [dir.join("db"), dir.to_path_buf(), dir.join("blobs")] {
            if !path.exists() {
                continue;
            }
            let file = File::open(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            targets.push((path, file));
        }
        Ok(Self { targets })
    }

    /// `fsync`s every target.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        for (path, file) in &self.targets {
            file.sync_all().map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}
