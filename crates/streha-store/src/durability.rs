//! Making a flushed sled batch survive power loss.
//!
//! sled 0.34's `flush()` writes its buffers with `sync_file_range` on Linux, which flushes
//! neither file metadata nor the drive's volatile write cache (sled issue #1452). After every
//! flush we therefore `fdatasync` sled's data file, and `fsync` the directories it creates
//! files in (when their entries changed) and every blob file sled wrote since the last sync:
//! sled writes a page larger than a quarter of its segment (128 KiB by default; a large
//! envelope makes one) to a file of its own under `blobs/` and never syncs it. See
//! `spec/audit-log.md`, "Durability".
//!
//! `fdatasync` is enough for the data file: it writes the data and the metadata needed to
//! read it back (the file's size and block allocation) and flushes the drive's cache; it
//! skips only the timestamps, so a flush that overwrites within the file costs no journal
//! commit of the file system (`fsync` cost one per batch for the modification time).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::DirEntryExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::StoreError;

/// Open handles on the files whose `fsync` completes a durable flush.
#[derive(Debug)]
pub(crate) struct Durability {
    /// sled's data file: synced at every flush.
    db: Option<(PathBuf, File)>,
    /// The store directory and `blobs/`, synced when their entries changed.
    dirs: [WatchedDir; 2],
    blobs: PathBuf,
    /// Blob files already synced. sled never rewrites a blob file (each has a new name), so
    /// one sync each is enough; names of removed blobs are forgotten at the next sync.
    synced_blobs: Mutex<HashSet<OsString>>,
}

/// A directory's entries, each name with its inode (a file renamed over another of the
/// same name is a change), sorted by name.
type Listing = Vec<(OsString, u64)>;

/// A directory whose entries a flush must make durable, and what they were when it was
/// last synced.
#[derive(Debug)]
struct WatchedDir {
    path: PathBuf,
    /// The listing taken just before the last `fsync` (`None`: never synced).
    synced: Mutex<Option<Listing>>,
    /// `fsync`s of this directory (for tests).
    #[cfg(test)]
    syncs: std::sync::atomic::AtomicUsize,
}

impl WatchedDir {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            synced: Mutex::new(None),
            #[cfg(test)]
            syncs: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// `fsync`s the directory unless its entries are the ones it had at its last `fsync`.
    /// Sound because the listing is taken before the `fsync`: a change after the listing
    /// shows in the next one, and one before it is in the `fsync`. An unchanged directory
    /// still costs the disk a cache flush per `fsync` (about 0.09 ms here, two per batch).
    fn sync_if_changed(&self, now: Option<Listing>) -> Result<(), StoreError> {
        let Some(now) = now else {
            // Not there (yet): nothing in it to make durable.
            return Ok(());
        };
        let mut synced = self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        if synced.as_ref() == Some(&now) {
            return Ok(());
        }
        File::open(&self.path)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error(&self.path))?;
        #[cfg(test)]
        self.syncs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *synced = Some(now);
        Ok(())
    }
}

/// The entries of `dir` with their inodes, sorted; `None` if it does not exist.
fn list(dir: &Path) -> Result<Option<Listing>, StoreError> {
    let items = match std::fs::read_dir(dir) {
        Ok(items) => items,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut listing = Vec::new();
    for item in items {
        let item = item.map_err(io_error(dir))?;
        listing.push((item.file_name(), item.ino()));
    }
    listing.sort_unstable();
    Ok(Some(listing))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Durability {
    /// Opens the data file of the sled database at `dir`, and watches `dir` and its
    /// `blobs/`. The blobs present at open are synced once, and both directories, at the
    /// first sync.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let db_path = dir.join("db");
        let db = if db_path.exists() {
            let file = File::open(&db_path).map_err(io_error(&db_path))?;
            Some((db_path, file))
        } else {
            None
        };
        let blobs = dir.join("blobs");
        Ok(Self {
            db,
            dirs: [
                WatchedDir::new(dir.to_path_buf()),
                WatchedDir::new(blobs.clone()),
            ],
            blobs,
            synced_blobs: Mutex::new(HashSet::new()),
        })
    }

    /// `fsync`s the blob files not synced yet, `fdatasync`s the data file, then `fsync`s each directory whose
    /// entries changed since it was last synced (the blob directory's after its files, so
    /// that no entry names a file whose data may be lost).
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        let blobs = list(&self.blobs)?;
        if let Some(listing) = &blobs {
            self.sync_new_blobs(listing)?;
        }
        if let Some((path, file)) = &self.db {
            file.sync_data().map_err(io_error(path))?;
        }
        let [store_dir, blob_dir] = &self.dirs;
        store_dir.sync_if_changed(list(&store_dir.path)?)?;
        blob_dir.sync_if_changed(blobs)
    }

    fn sync_new_blobs(&self, listing: &Listing) -> Result<(), StoreError> {
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut present = HashSet::with_capacity(synced.len());
        for (name, _) in listing {
            if !synced.contains(name) {
                let path = self.blobs.join(name);
                match File::open(&path) {
                    Ok(file) => file.sync_all().map_err(io_error(&path))?,
                    // sled removed it meanwhile (blob garbage collection): nothing to keep.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_error(&path)(e)),
                }
            }
            present.insert(name.clone());
        }
        *synced = present;
        Ok(())
    }

    /// How many blob files have been synced and are still present (for tests).
    #[cfg(test)]
    pub(crate) fn synced_blob_count(&self) -> usize {
        self.synced_blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// `fsync`s of the store directory and of `blobs/` so far (for tests).
    #[cfg(test)]
    fn dir_syncs(&self) -> [usize; 2] {
        self.dirs
            .each_ref()
            .map(|dir| dir.syncs.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory is `fsync`ed at the first flush and then only when its entries changed:
    /// a file added, removed, or renamed over another of the same name.
    #[test]
    fn a_directory_is_synced_when_its_entries_changed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"").unwrap();
        let durability = Durability::open(dir.path()).unwrap();
        durability.sync().unwrap();
        assert_eq!(
            durability.dir_syncs(),
            [1, 0],
            "no blobs/ yet: nothing to sync"
        );
        durability.sync().unwrap();
        durability.sync().unwrap();
        assert_eq!(durability.dir_syncs(), [1, 0], "unchanged: no fsync");

        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::write(dir.path().join("blobs/1"), b"blob").unwrap();
        durability.sync().unwrap();
        assert_eq!(
            durability.dir_syncs(),
            [2, 1],
            "blobs/ created, a blob in it"
        );
        durability.sync().unwrap();
        assert_eq!(durability.dir_syncs(), [2, 1]);

        // The same name, another file: sled's snapshots are written so.
        std::fs::write(dir.path().join("snap.tmp"), b"new").unwrap();
        durability.sync().unwrap();
        assert_eq!(durability.dir_syncs(), [3, 1]);
        std::fs::write(dir.path().join("snap.next"), b"newer").unwrap();
        std::fs::rename(dir.path().join("snap.next"), dir.path().join("snap.tmp")).unwrap();
        durability.sync().unwrap();
        assert_eq!(
            durability.dir_syncs(),
            [4, 1],
            "renamed over: another inode"
        );

        std::fs::remove_file(dir.path().join("blobs/1")).unwrap();
        durability.sync().unwrap();
        assert_eq!(durability.dir_syncs(), [4, 2], "a blob removed");
        // Writing inside a file changes no entry.
        std::fs::write(dir.path().join("db"), b"more").unwrap();
        durability.sync().unwrap();
        assert_eq!(durability.dir_syncs(), [4, 2]);
    }

    #[test]
    fn blob_files_sled_writes_for_large_values_are_synced() {
        // (Directories: `a_directory_is_synced_when_its_entries_changed`.)
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
