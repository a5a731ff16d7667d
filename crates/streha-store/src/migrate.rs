//! The migration of a store of storage format 2 (the log in sled) to format 3 (the log in
//! files, see `logfiles`), run by `Store::open`.
//!
//! Crash-safe in this order:
//! 1. the log files are truncated to nothing (a migration interrupted before step 3 starts
//!    over), then the entries and checkpoints are copied from sled and the hashes of every
//!    row recomputed from the entries (checked against the last checkpoint by the open that
//!    follows), and every file and the log directory are `fdatasync`ed;
//! 2. one sled batch records the files' lengths and sets the format to 3; flushed and
//!    synced. From here the store is of format 3;
//! 3. the old keys (`0x01`–`0x03`) are removed in batches of [`MIGRATION_CHUNK`] keys. A
//!    format-3 store removes any left over at open.

use std::path::Path;

use streha_audit::{Frontier, leaf_hash};

use crate::StoreError;
use crate::durability::Durability;
use crate::keys::{self, META_FORMAT, META_LOG};
use crate::logfiles::{Lengths, LogFiles, Pending, Recorded};

/// Entries copied per write while migrating, and old keys removed per sled batch after it:
/// bounds the memory a migration holds (at most this many entries of
/// [`crate::MAX_ENTRY_LEN`]).
pub const MIGRATION_CHUNK: usize = 4096;

/// Moves the log of a format-2 store in `path` to the log files (see the module).
///
/// # Errors
/// [`StoreError::Corrupt`] if sled's log has a gap or does not end at its last checkpoint;
/// a database or IO error (the store stays of format 2, and the next open starts over).
pub(crate) fn from_format_2(
    path: &Path,
    db: &sled::Db,
    tree: &sled::Tree,
    durability: &Durability,
) -> Result<(), StoreError> {
    let db_err = |source| StoreError::Database {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    // The last checkpoint is a format-2 log's size.
    let size = match tree
        .scan_prefix([keys::CHECKPOINT])
        .next_back()
        .transpose()
        .map_err(db_err)?
    {
        None => 0,
        Some((key, _)) => keys::index_of(&key)
            .ok_or_else(|| corrupt("a checkpoint's key is not a tree size".into()))?,
    };
    tracing::info!(path = %path.display(), size, "moving the audit log out of sled (storage format 2 to 3)");
    // Whatever an interrupted migration wrote goes first: the files start empty.
    let log = LogFiles::open(path, Recorded::default())?;
    log.truncate_to(Lengths::default())?;

    let mut frontier = Frontier::new();
    let mut pending = Pending::new(Lengths::default());
    let mut chunk = 0;
    for item in tree.range(keys::entry(0)..keys::entry(size)) {
        let (key, entry) = item.map_err(db_err)?;
        let index = keys::index_of(&key).unwrap_or(u64::MAX);
        if index != frontier.size() {
            return Err(corrupt(format!("entry {} is missing", frontier.size())));
        }
        for (level, _, hash) in frontier.append(leaf_hash(&entry)) {
            pending.push_node(level, &hash);
        }
        pending.push_entry(&entry);
        chunk += 1;
        if chunk == MIGRATION_CHUNK {
            log.write(&pending)?;
            pending = Pending::new(pending.lengths());
            chunk = 0;
        }
    }
    if frontier.size() != size {
        return Err(corrupt(format!("entry {} is missing", frontier.size())));
    }
    log.write(&pending)?;
    let mut pending = Pending::new(pending.lengths());
    let mut last = None;
    for item in tree.scan_prefix([keys::CHECKPOINT]) {
        let (key, note) = item.map_err(db_err)?;
        let at = keys::index_of(&key)
            .ok_or_else(|| corrupt("a checkpoint's key is not a tree size".into()))?;
        let note = std::str::from_utf8(&note)
            .map_err(|_| corrupt(format!("the checkpoint at size {at} is not UTF-8")))?;
        pending.push_checkpoint(at, note);
        last = Some(at);
        if pending
            .lengths()
            .checkpoints
            .is_multiple_of(MIGRATION_CHUNK as u64)
        {
            log.write(&pending)?;
            pending = Pending::new(pending.lengths());
        }
    }
    if last.unwrap_or(0) != size {
        return Err(corrupt("the last checkpoint is not the log's size".into()));
    }
    log.write(&pending)?;
    let lengths = pending.lengths();
    log.sync_all()?;

    let mut batch = sled::Batch::default();
    batch.insert(META_LOG, Recorded::synced(lengths).encode());
    batch.insert(META_FORMAT, &keys::FORMAT.to_be_bytes());
    tree.apply_batch(batch).map_err(db_err)?;
    db.flush().map_err(db_err)?;
    durability.sync()?;
    tracing::info!(path = %path.display(), size, checkpoints = lengths.checkpoints, "the audit log is in the log files (storage format 3)");
    Ok(())
}

/// Removes the keys of format 2's log (`0x01`–`0x03`) that are left in sled, in batches of
/// [`MIGRATION_CHUNK`]; nothing reads them any more, so an interrupted removal is finished
/// at the next open.
///
/// # Errors
/// A database error.
pub(crate) fn remove_format_2_keys(
    path: &Path,
    db: &sled::Db,
    tree: &sled::Tree,
) -> Result<(), StoreError> {
    let db_err = |source| StoreError::Database {
        path: path.to_path_buf(),
        source,
    };
    let range = || tree.range(vec![keys::ENTRY]..vec![keys::BODY_REF]);
    if range().next().is_none() {
        return Ok(());
    }
    let mut removed = 0u64;
    loop {
        let mut batch = sled::Batch::default();
        let mut count = 0;
        for key in range().keys().take(MIGRATION_CHUNK) {
            batch.remove(key.map_err(db_err)?);
            count += 1;
        }
        if count == 0 {
            break;
        }
        tree.apply_batch(batch).map_err(db_err)?;
        removed += count as u64;
    }
    db.flush().map_err(db_err)?;
    tracing::info!(path = %path.display(), removed, "removed the log's old keys from sled");
    Ok(())
}

#[cfg(test)]
mod tests {
    use streha_audit::{
        Checkpoint, Hash, MemoryTree, NoteSigner, consistency_proof, inclusion_proof,
        sign_checkpoint,
    };

    use super::*;
    use crate::high_water::HighWater;
    use crate::{HIGH_WATER_FILE, Namespace, Store, Transaction};

    const ORIGIN: &str = "migrate.test/log";
    const STATE: Namespace = Namespace::new(4);

    fn signer() -> NoteSigner {
        NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[5; 32])).unwrap()
    }

    fn entry(index: u64) -> Vec<u8> {
        // Lengths vary, so that offsets in the index do.
        format!("entry {index} {}", "x".repeat((index % 37) as usize)).into_bytes()
    }

    /// What a format-2 store held, to compare the migrated store with.
    struct Reference {
        memory: MemoryTree,
        notes: Vec<(u64, String)>,
    }

    /// Writes a store of storage format 2 in `dir` as the previous release laid it out
    /// (`keys`: one tree, entries under `0x01`, tiles under `0x02` — every full tile, and
    /// the incomplete tile of rows ≥ 1 — and a checkpoint per batch under `0x03`), with a
    /// state value and the high-water mark of its last checkpoint.
    fn write_format_2(dir: &Path, batches: &[u64]) -> Reference {
        let db = sled::Config::new().path(dir).open().unwrap();
        let tree = db.open_tree(crate::log::TREE).unwrap();
        tree.insert(keys::META_ORIGIN, ORIGIN.as_bytes()).unwrap();
        tree.insert(META_FORMAT, &keys::FORMAT_2.to_be_bytes())
            .unwrap();
        let mut frontier = Frontier::new();
        let mut memory = MemoryTree::new();
        let mut rows: Vec<Vec<Hash>> = vec![Vec::new(); 8];
        let mut notes = Vec::new();
        for &n in batches {
            for _ in 0..n {
                let index = frontier.size();
                let bytes = entry(index);
                memory.append_entry(&bytes);
                for (level, _, hash) in frontier.append(leaf_hash(&bytes)) {
                    if level % 8 == 0 {
                        rows[usize::from(level / 8)].push(hash);
                    }
                }
                tree.insert(keys::entry(index), bytes).unwrap();
            }
            for (row, hashes) in rows.iter().enumerate() {
                for (tile, chunk) in hashes.chunks(256).enumerate() {
                    if row == 0 && chunk.len() < 256 {
                        continue;
                    }
                    let bytes: Vec<u8> = chunk.iter().flat_map(|h| *h.as_bytes()).collect();
                    tree.insert(keys::tile(row as u8, tile as u64), bytes)
                        .unwrap();
                }
            }
            let size = frontier.size();
            let note = sign_checkpoint(
                &Checkpoint::new(ORIGIN.to_owned(), size, frontier.root()).unwrap(),
                &signer(),
            )
            .to_text();
            tree.insert(keys::checkpoint(size), note.as_bytes())
                .unwrap();
            notes.push((size, note));
        }
        tree.insert(STATE.key(b"kept"), keys::inline_value(b"state"))
            .unwrap();
        db.flush().unwrap();
        drop(tree);
        drop(db);
        let mut mark = HighWater::open(&dir.join(HIGH_WATER_FILE), None).unwrap();
        mark.record(&notes.last().unwrap().1).unwrap();
        Reference { memory, notes }
    }

    /// The store reads as the format-2 store it came from: root, every entry, proofs,
    /// checkpoints, state; and sled holds none of the old log keys.
    fn assert_same(store: &Store, reference: &Reference) {
        let size = reference.memory.size();
        assert_eq!(store.tree_size(), size);
        assert_eq!(store.root(), reference.memory.root());
        assert_eq!(store.recompute_root().unwrap(), reference.memory.root());
        for index in 0..size {
            assert_eq!(store.entry(index).unwrap(), Some(entry(index)));
        }
        assert_eq!(store.entry(size).unwrap(), None);
        for (index, n) in [(0, size), (size - 1, size), (255, 300), (256, size), (3, 7)] {
            assert_eq!(
                store.inclusion_proof(index, n).unwrap(),
                inclusion_proof(index, n, &reference.memory).unwrap()
            );
        }
        for (old, new) in [(1, size), (256, size), (300, 511), (7, 8)] {
            assert_eq!(
                store.consistency_proof(old, new).unwrap(),
                consistency_proof(old, new, &reference.memory).unwrap()
            );
        }
        let notes: Vec<String> = reference.notes.iter().map(|(_, n)| n.clone()).collect();
        assert_eq!(store.checkpoints().unwrap(), notes);
        for (at, note) in &reference.notes {
            assert_eq!(
                store.checkpoint_at(*at).unwrap().as_deref(),
                Some(note.as_str())
            );
        }
        assert_eq!(store.checkpoint_at(2).unwrap(), None);
        assert_eq!(
            store.get(STATE, b"kept").unwrap().as_deref(),
            Some(&b"state"[..])
        );
        let old = store
            .raw_tree()
            .range(vec![keys::ENTRY]..vec![keys::BODY_REF])
            .count();
        assert_eq!(old, 0, "the old log keys are gone from sled");
        assert_eq!(
            store.raw_tree().get(META_FORMAT).unwrap().as_deref(),
            Some(&keys::FORMAT.to_be_bytes()[..])
        );
    }

    const BATCHES: [u64; 6] = [1, 300, 7, 500, 2, 40];

    /// A store of the previous release opens, migrated, and reads byte for byte as it did;
    /// it goes on from there, and reopens as a format-3 store.
    #[test]
    fn a_format_2_store_is_migrated_and_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let mut reference = write_format_2(dir.path(), &BATCHES);
        let store = Store::open(dir.path(), ORIGIN, signer()).unwrap();
        assert_same(&store, &reference);
        let mut tx = Transaction::new();
        tx.append(entry(reference.memory.size()));
        let committed = store.commit(tx).unwrap();
        reference
            .memory
            .append_entry(&entry(reference.memory.size()));
        let checkpoint = committed.checkpoint.unwrap();
        reference
            .notes
            .push((checkpoint.size, checkpoint.note.clone()));
        assert_same(&store, &reference);
        drop(store);
        let store = Store::open(dir.path(), ORIGIN, signer()).unwrap();
        assert_same(&store, &reference);
    }

    /// A migration interrupted before it recorded format 3 (log files partly written, full
    /// of anything) starts over from sled and ends the same.
    #[test]
    fn an_interrupted_migration_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let reference = write_format_2(dir.path(), &BATCHES);
        let log = dir.path().join(crate::LOG_DIR);
        std::fs::create_dir(&log).unwrap();
        for name in ["journal", "entries.idx", "tiles.0", "checkpoints.idx"] {
            std::fs::write(log.join(name), vec![0xA5; 1000]).unwrap();
        }
        let store = Store::open(dir.path(), ORIGIN, signer()).unwrap();
        assert_same(&store, &reference);
    }

    /// Old log keys left in sled (a removal interrupted after format 3 was recorded) are
    /// removed at the next open, and change nothing of what the store reads.
    #[test]
    fn old_keys_left_over_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let reference = write_format_2(dir.path(), &BATCHES);
        let store = Store::open(dir.path(), ORIGIN, signer()).unwrap();
        let tree = store.raw_tree();
        tree.insert(keys::entry(3), b"stale".to_vec()).unwrap();
        tree.insert(keys::tile(0, 0), vec![0; 64]).unwrap();
        tree.insert(keys::checkpoint(1), b"stale".to_vec()).unwrap();
        tree.flush().unwrap();
        drop(store);
        let store = Store::open(dir.path(), ORIGIN, signer()).unwrap();
        assert_same(&store, &reference);
    }
}
