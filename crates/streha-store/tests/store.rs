//! Store behaviour: group commit, guards, proofs against signed checkpoints, reopening,
//! bundles, and refusals.

use std::sync::Arc;

use streha_audit::{NoteSigner, leaf_hash, open_checkpoint, verify_consistency, verify_inclusion};
use streha_store::{Namespace, Store, StoreError, Transaction};

const ORIGIN: &str = "store.test/log";
const STATE: Namespace = Namespace::new(3);

fn key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[11; 32])
}

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, key()).expect("key name")
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, ORIGIN, signer()).expect("open store")
}

/// sled's database in `dir`, opened behind the store's back. sled's background flusher lets go
/// of the file lock a moment after the last handle is dropped, so a test that has just
/// dropped a store waits for it (at most 30 s) instead of failing on a loaded machine.
fn raw_sled(dir: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline && is_lock_held(&e) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("open sled in {}: {e}", dir.display()),
        }
    }
}

fn is_lock_held(error: &sled::Error) -> bool {
    matches!(error, sled::Error::Io(e) if e.to_string().starts_with("could not acquire lock"))
}

fn append_one(store: &Store, entry: &[u8]) -> streha_store::Committed {
    let mut tx = Transaction::new();
    tx.append(entry.to_vec());
    store.commit(tx).expect("commit")
}

#[test]
fn concurrent_commits_are_grouped_and_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..50u32)
                    .map(|n| {
                        let mut tx = Transaction::new();
                        tx.append(format!("{t}/{n}").into_bytes());
                        tx.put(STATE, format!("{t}/{n}").into_bytes(), vec![1]);
                        store.commit(tx).expect("commit")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(store.tree_size(), 400);
    let mut indices: Vec<u64> = results.iter().map(|c| c.first_index).collect();
    indices.sort_unstable();
    assert_eq!(
        indices,
        (0..400).collect::<Vec<_>>(),
        "every entry gets its own index"
    );
    // Group commit: fewer checkpoints (one per batch) than commits, on any machine where
    // threads overlap at all; never more.
    let checkpoints = store.checkpoints().unwrap();
    assert!(checkpoints.len() <= 400);
    for c in &results {
        let cp = c
            .checkpoint
            .as_ref()
            .expect("each batch appended something");
        assert!(c.first_index < cp.size && cp.size == c.tree_size);
    }
    assert_eq!(store.recompute_root().unwrap(), store.root());
    drop(store);
    let reopened = open(dir.path());
    assert_eq!(reopened.tree_size(), 400);
    assert!(reopened.get(STATE, b"7/49").unwrap().is_some());
}

#[test]
fn proofs_verify_against_the_signed_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let verifier = signer().verifier();
    let mut sizes = Vec::new();
    for batch in 0..20u64 {
        let mut tx = Transaction::new();
        for k in 0..=batch % 5 {
            tx.append(format!("entry {batch}.{k}").into_bytes());
        }
        sizes.push(store.commit(tx).unwrap().tree_size);
    }
    let size = store.tree_size();
    let latest = store.latest_checkpoint().unwrap();
    let (checkpoint, signers) =
        open_checkpoint(&latest.note, std::slice::from_ref(&verifier)).unwrap();
    assert_eq!(signers, vec![ORIGIN.to_owned()]);
    assert_eq!(checkpoint.size(), size);
    for index in 0..size {
        let entry = store.entry(index).unwrap().unwrap();
        let proof = store.inclusion_proof(index, size).unwrap();
        verify_inclusion(&leaf_hash(&entry), index, size, &proof, checkpoint.root()).unwrap();
    }
    for &old in &sizes {
        let old_note = store
            .checkpoint_at(old)
            .unwrap()
            .expect("checkpoint per batch");
        let (old_cp, _) = open_checkpoint(&old_note, std::slice::from_ref(&verifier)).unwrap();
        let proof = store.consistency_proof(old, size).unwrap();
        verify_consistency(old, size, old_cp.root(), checkpoint.root(), &proof).unwrap();
    }
    assert!(matches!(
        store.inclusion_proof(size, size),
        Err(StoreError::OutOfRange { .. })
    ));
    assert!(matches!(
        store.consistency_proof(3, size + 1),
        Err(StoreError::OutOfRange { .. })
    ));
}

#[test]
fn a_failed_guard_applies_nothing_of_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut first = Transaction::new();
    first
        .append(b"received e1".to_vec())
        .put(STATE, b"e1".to_vec(), b"stored".to_vec())
        .require_absent(STATE, b"e1");
    store.commit(first.clone()).unwrap();
    // The same delivery again: the guard fails, no second entry, no second write.
    let err = store.commit(first).unwrap_err();
    assert!(matches!(err, StoreError::GuardFailed("present")), "{err}");
    assert_eq!(store.tree_size(), 1);

    let mut needs = Transaction::new();
    needs
        .append(b"receipt e2".to_vec())
        .require_present(STATE, b"e2");
    assert!(matches!(
        store.commit(needs),
        Err(StoreError::GuardFailed("absent"))
    ));
    let mut remove = Transaction::new();
    remove.remove(STATE, b"e1".to_vec());
    let done = store.commit(remove).unwrap();
    assert_eq!((done.count, done.tree_size), (0, 1));
    assert!(done.checkpoint.is_none(), "no entries, no new checkpoint");
    assert_eq!(store.get(STATE, b"e1").unwrap(), None);
}

/// What an operator's `/metrics` shows of the group commits: every batch made durable is
/// counted with its transactions and entries, in the histogram's buckets at and above its
/// time, and the time of each synced write is inside the batch's; a refused transaction
/// makes no batch.
#[test]
fn commit_stats_count_what_was_made_durable_and_where_the_time_went() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.commit_stats(), streha_store::CommitStats::default());

    let mut logged = Transaction::new();
    logged
        .append(b"entry 0".to_vec())
        .append(b"entry 1".to_vec())
        .put(STATE, b"k".to_vec(), b"v".to_vec())
        .require_absent(STATE, b"k");
    store.commit(logged.clone()).unwrap();
    let mut state_only = Transaction::new();
    state_only.put(STATE, b"other".to_vec(), b"v".to_vec());
    store.commit(state_only).unwrap();
    let stats = store.commit_stats();
    assert_eq!(
        (stats.batches, stats.transactions, stats.entries),
        (2, 2, 2)
    );

    // The buckets are cumulative and never count more batches than there were.
    assert!(stats.batch_seconds.windows(2).all(|w| w[0] <= w[1]));
    assert!(stats.batch_seconds.last().is_some_and(|&n| n <= 2));
    // Each write was synced (the journal and the mark once, with the entries; the state
    // twice), and inside the batches that made them.
    let [journal, state, mark] = stats.sync_seconds;
    assert!(journal > 0.0 && state > 0.0 && mark > 0.0, "{stats:?}");
    assert!(
        journal + state + mark <= stats.batch_seconds_sum,
        "{stats:?}"
    );

    // The same transaction again fails its guard: nothing was made durable.
    assert!(store.commit(logged).is_err());
    assert_eq!(store.commit_stats(), stats);
}

#[test]
fn first_index_is_written_with_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    append_one(&store, b"zero");
    let mut tx = Transaction::new();
    tx.append(b"one".to_vec())
        .append(b"two".to_vec())
        .put_first_index(STATE, b"where".to_vec());
    store.commit(tx).unwrap();
    assert_eq!(
        store.get(STATE, b"where").unwrap(),
        Some(1u64.to_be_bytes().to_vec())
    );
}

#[test]
fn scan_returns_keys_without_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut tx = Transaction::new();
    tx.put(STATE, b"a/1".to_vec(), b"x".to_vec())
        .put(STATE, b"a/2".to_vec(), b"y".to_vec())
        .put(STATE, b"b/1".to_vec(), b"z".to_vec())
        .put(Namespace::new(4), b"a/3".to_vec(), b"other".to_vec());
    store.commit(tx).unwrap();
    let found = store.scan(STATE, b"a/").unwrap();
    assert_eq!(
        found,
        vec![
            (b"a/1".to_vec(), b"x".to_vec()),
            (b"a/2".to_vec(), b"y".to_vec())
        ]
    );
    let page = store.scan_after(STATE, Some(b"a/1"), 10).unwrap();
    assert_eq!(page.len(), 2, "a/2 and b/1, never the other namespace");
    assert_eq!(page[1].0, b"b/1".to_vec());
    assert_eq!(
        store.scan_after(STATE, None, 1).unwrap()[0].0,
        b"a/1".to_vec()
    );
}

#[test]
fn reopening_with_another_origin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let other = NoteSigner::new("other.test/log", key()).unwrap();
    let err = Store::open(dir.path(), "other.test/log", other).unwrap_err();
    assert!(matches!(err, StoreError::WrongOrigin { .. }), "{err}");
}

#[test]
fn oversized_entries_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut tx = Transaction::new();
    tx.append(vec![0; streha_store::MAX_ENTRY_LEN + 1]);
    assert!(matches!(
        store.commit(tx),
        Err(StoreError::EntryTooLarge { .. })
    ));
    assert_eq!(store.tree_size(), 0);
}

#[test]
fn exported_bundle_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for n in 0..30u32 {
        append_one(&store, format!("entry {n}").as_bytes());
    }
    let bundle = store.export_bundle().unwrap();
    let bytes = bundle.encode().unwrap();
    let decoded = streha_audit::LogBundle::decode(&bytes).unwrap();
    let report = decoded.verify(&[signer().verifier()]).unwrap();
    assert_eq!(report.entries, 30);
    assert_eq!(report.signed_size, 30);
}

#[test]
fn a_tampered_tile_is_detected_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut tx = Transaction::new();
    for n in 0..300u32 {
        tx.append(format!("entry {n}").into_bytes());
    }
    store.commit(tx).unwrap();
    // Synced, so that the tile is kept at open, not rebuilt from the journal.
    store.sync_log_indexes().unwrap();
    drop(store);
    {
        // Overwrite the root of the first 256 entries (the first hash of row 1; storage
        // format 3: `log/tiles.1`, hash j at 32·j) behind the store's back.
        use std::os::unix::fs::FileExt as _;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("log").join("tiles.1"))
            .unwrap();
        assert_eq!(
            file.metadata().unwrap().len(),
            32,
            "row 1 has its first hash"
        );
        file.write_all_at(&[0xAA; 32], 0).unwrap();
        file.sync_all().unwrap();
    }
    // The high-water mark sees it first: the root at its size is not the one signed.
    let err = Store::open(dir.path(), ORIGIN, signer()).unwrap_err();
    assert!(
        matches!(err, StoreError::Diverged { size: 300, .. }) && err.is_integrity(),
        "{err}"
    );
}

/// A store of storage format 1 (five sled trees, envelopes inside sled) is refused with a
/// message naming the format, not opened empty beside the old data.
#[test]
fn a_store_of_the_previous_format_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = raw_sled(dir.path());
        let entries = db.open_tree("log_entries").unwrap();
        entries
            .insert(0u64.to_be_bytes(), b"an old entry".to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path(), ORIGIN, signer()).unwrap_err();
    assert!(matches!(err, StoreError::OldFormat { .. }), "{err}");
    assert!(err.to_string().contains("storage format 1"), "{err}");
    assert!(err.to_string().contains("new data_dir"), "{err}");
}

#[test]
fn checkpoints_are_read_a_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for n in 0..10u8 {
        append_one(&store, &[n]);
    }
    let all = store.checkpoints().unwrap();
    assert_eq!(all.len(), 10);
    // By position.
    assert_eq!(store.checkpoints_from(0, 3).unwrap(), all[..3].to_vec());
    assert_eq!(store.checkpoints_from(8, 5).unwrap(), all[8..].to_vec());
    assert!(store.checkpoints_from(10, 5).unwrap().is_empty());
    assert!(store.checkpoints_from(u64::MAX, 5).unwrap().is_empty());
    // By tree size: one checkpoint per batch of one entry, at sizes 1..=10.
    let page = store.checkpoints_after(0, 4).unwrap();
    assert_eq!(
        page.iter().map(|(size, _)| *size).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        page.into_iter().map(|(_, note)| note).collect::<Vec<_>>(),
        all[..4].to_vec()
    );
    let rest = store.checkpoints_after(4, 100).unwrap();
    assert_eq!(rest.len(), 6);
    assert_eq!(rest[0].0, 5);
    assert!(store.checkpoints_after(10, 100).unwrap().is_empty());
    assert!(store.checkpoints_after(u64::MAX, 100).unwrap().is_empty());
}

/// The log files of storage format 3 (`log/` in the data directory): the journal, then its
/// indexes.
const LOG_FILES: [&str; 5] = [
    "journal",
    "entries.idx",
    "tiles.0",
    "tiles.1",
    "checkpoints.idx",
];

/// A store of 300 entries in 30 batches, its indexes synced, closed; its root.
fn closed_store(dir: &std::path::Path) -> streha_audit::Hash {
    let root = crashed_store(dir);
    open(dir).sync_log_indexes().expect("sync the indexes");
    root
}

/// A store of 300 entries in 30 batches, dropped without syncing its indexes (as a crash
/// leaves it: they are far below `INDEX_SYNC_BYTES`); its root.
fn crashed_store(dir: &std::path::Path) -> streha_audit::Hash {
    let store = open(dir);
    for batch in 0..30u32 {
        let mut tx = Transaction::new();
        for k in 0..10 {
            tx.append(format!("entry {batch}.{k}").into_bytes());
        }
        store.commit(tx).expect("commit");
    }
    store.root()
}

/// Bytes past a log file's recorded length are the start of a batch that never committed
/// (never acknowledged): the store opens at its committed size, truncates them, and goes on.
#[test]
fn log_files_longer_than_recorded_are_truncated_back() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let root = closed_store(dir.path());
    let mut lengths = Vec::new();
    for name in LOG_FILES {
        let path = dir.path().join("log").join(name);
        lengths.push(std::fs::metadata(&path).unwrap().len());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&[0x5A; 100]).unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.tree_size(), 300);
    assert_eq!(store.root(), root);
    assert_eq!(store.recompute_root().unwrap(), root);
    for (name, len) in LOG_FILES.iter().zip(&lengths) {
        let path = dir.path().join("log").join(name);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), *len, "{name}");
    }
    append_one(&store, b"after");
    assert_eq!(store.entry(300).unwrap().as_deref(), Some(&b"after"[..]));
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.tree_size(), 301);
    assert_eq!(store.checkpoints().unwrap().len(), 31);
}

/// A log file shorter than its recorded length (the journal: at the last commit; an index:
/// at its last sync) lost acknowledged data: refused, naming the file, never repaired.
/// (Failed before the check: the store opened and served a shorter or unreadable log.)
#[test]
fn a_log_file_shorter_than_recorded_is_refused() {
    for name in LOG_FILES {
        let dir = tempfile::tempdir().unwrap();
        closed_store(dir.path());
        let path = dir.path().join("log").join(name);
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 1)
            .unwrap();
        let err = Store::open(dir.path(), ORIGIN, signer()).unwrap_err();
        assert!(
            matches!(&err, StoreError::LogFileShort { file, recorded, found }
                if file == &path && *recorded == len && *found == len - 1),
            "{name}: {err}"
        );
        assert!(err.is_integrity(), "{err}");
    }
}

/// An index whose last offset is not where its data file ends is damage: refused.
#[test]
fn an_index_that_disagrees_with_its_data_is_refused() {
    use std::os::unix::fs::FileExt as _;
    for (name, from_end) in [
        ("entries.idx", 8u64),
        ("checkpoints.idx", 8),
        ("checkpoints.idx", 16),
    ] {
        let dir = tempfile::tempdir().unwrap();
        closed_store(dir.path());
        let path = dir.path().join("log").join(name);
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        file.write_all_at(&7u64.to_le_bytes(), len - from_end)
            .unwrap();
        let err = Store::open(dir.path(), ORIGIN, signer()).unwrap_err();
        assert!(
            matches!(&err, StoreError::LogIndex { file, .. } if file == &path),
            "{name} at {from_end} from the end: {err}"
        );
        assert!(err.is_integrity(), "{err}");
    }
}

/// Damage inside an index (not its last record) is found when the entry is read: an error,
/// never other bytes and never a panic. What reads the journal in order (the root, a bundle)
/// does not use the index, and is right.
#[test]
fn a_damaged_entry_offset_is_an_error_when_read() {
    use std::os::unix::fs::FileExt as _;
    let dir = tempfile::tempdir().unwrap();
    closed_store(dir.path());
    let path = dir.path().join("log").join("entries.idx");
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&u64::MAX.to_le_bytes(), 8 * 10).unwrap();
    file.write_all_at(&1u64.to_le_bytes(), 8 * 20).unwrap();
    let store = open(dir.path());
    assert!(matches!(store.entry(10), Err(StoreError::Corrupt { .. })));
    assert!(matches!(store.entry(20), Err(StoreError::Corrupt { .. })));
    assert!(store.entry(11).is_ok());
    assert_eq!(store.recompute_root().unwrap(), store.root());
    assert_eq!(store.export_bundle().unwrap().entries.len(), 300);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}

/// sled recovered an older batch than the log files and the high-water mark hold (its own
/// rollback): refused as a rollback, and the log files keep every byte — nothing is
/// truncated before the mark has been checked. (Failed before: the files were cut back to
/// sled's older lengths, destroying acknowledged entries, and then the store was refused.)
#[test]
fn a_rolled_back_sled_leaves_the_log_files_whole() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let image = dir.path().join("image");
    let store = open(&live);
    for n in 0..10u8 {
        append_one(&store, &[n]);
    }
    // sled as a crash at size 10 leaves it.
    copy_dir(&live, &image);
    for n in 10..30u8 {
        append_one(&store, &[n]);
    }
    drop(store);
    // The log files and the mark of size 30 beside sled of size 10.
    std::fs::remove_dir_all(image.join("log")).unwrap();
    copy_dir(&live.join("log"), &image.join("log"));
    std::fs::copy(
        live.join(streha_store::HIGH_WATER_FILE),
        image.join(streha_store::HIGH_WATER_FILE),
    )
    .unwrap();
    let lengths = |dir: &std::path::Path| -> Vec<u64> {
        LOG_FILES
            .iter()
            .map(|name| std::fs::metadata(dir.join("log").join(name)).unwrap().len())
            .collect()
    };
    let before = lengths(&image);
    let err = Store::open(&image, ORIGIN, signer()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::RolledBack {
                recovered: 10,
                expected: 30,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(lengths(&image), before, "the log files are untouched");
}

/// What a store answers about its log: size, root, every entry, every checkpoint, a proof
/// of every 37th entry and a consistency proof from every 50th size.
fn log_answers(store: &Store) -> Vec<String> {
    let size = store.tree_size();
    let mut out = vec![format!("{size} {:?}", store.root())];
    for index in 0..size {
        out.push(format!("{:?}", store.entry(index).unwrap()));
    }
    out.extend(store.checkpoints().unwrap());
    for index in (0..size).step_by(37) {
        out.push(format!("{:?}", store.inclusion_proof(index, size).unwrap()));
    }
    for old in (1..size).step_by(50) {
        out.push(format!("{:?}", store.consistency_proof(old, size).unwrap()));
    }
    out
}

fn set_len(path: &std::path::Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The indexes are synced only every `INDEX_SYNC_BYTES` of journal: after a crash, what they
/// hold past their last sync may be lost, cut short or stale. The store rebuilds them from
/// the journal at open and answers exactly as before. (Refused as `LogFileShort` before the
/// indexes were derived from a journal.)
#[test]
fn indexes_lost_after_their_last_sync_are_rebuilt_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let root = crashed_store(dir.path());
    let before = log_answers(&open(dir.path()));
    assert_eq!(before.len(), 1 + 300 + 30 + 9 + 6);
    let log = dir.path().join("log");
    // Lost entirely, cut short, or overwritten with garbage: every index.
    set_len(&log.join("entries.idx"), 0);
    set_len(&log.join("tiles.0"), 32 * 7 + 5);
    std::fs::write(log.join("tiles.1"), [0xAB; 32]).unwrap();
    std::fs::write(log.join("checkpoints.idx"), vec![0xFF; 16 * 40]).unwrap();
    let store = open(dir.path());
    assert_eq!(store.root(), root);
    assert_eq!(log_answers(&store), before);
    // It goes on like any store, and reopens the same.
    append_one(&store, b"after");
    let after = log_answers(&store);
    drop(store);
    assert_eq!(log_answers(&open(dir.path())), after);
}

/// The indexes synced once and then appended to: what is past that sync is rebuilt, across
/// a tile boundary (row 1's first hash completes after the sync); what is before it is kept.
#[test]
fn indexes_past_a_sync_are_rebuilt_and_those_before_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut tx = Transaction::new();
    for n in 0..200u32 {
        tx.append(format!("early {n}").into_bytes());
    }
    store.commit(tx).unwrap();
    store.sync_log_indexes().unwrap();
    let log = dir.path().join("log");
    let synced: Vec<u64> = LOG_FILES
        .iter()
        .map(|name| std::fs::metadata(log.join(name)).unwrap().len())
        .collect();
    for n in 0..150u8 {
        append_one(&store, &[n; 3]);
    }
    let before = log_answers(&store);
    drop(store);
    assert_eq!(std::fs::metadata(log.join("tiles.1")).unwrap().len(), 32);
    // The indexes as they were at their sync: what was appended since is gone from them.
    for (name, len) in LOG_FILES.iter().zip(&synced).skip(1) {
        set_len(&log.join(name), *len);
    }
    assert_eq!(log_answers(&open(dir.path())), before);
    // Shorter than at their sync is damage, refused.
    set_len(&log.join("entries.idx"), synced[1] - 8);
    let err = Store::open(dir.path(), ORIGIN, signer()).unwrap_err();
    assert!(
        matches!(&err, StoreError::LogFileShort { recorded, .. } if *recorded == synced[1]),
        "{err}"
    );
}

/// A batch syncs the indexes on its own once `INDEX_SYNC_BYTES` of journal are past their
/// last sync, and records it: an index then cut short is refused at open, though the store
/// was never closed. (Without the batch's sync, the cut index is rebuilt and the store
/// opens.)
#[test]
fn a_batch_syncs_the_indexes_after_index_sync_bytes_of_journal() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let entry_len = 4000usize;
    let per_batch = 100usize;
    let batches = (streha_store::INDEX_SYNC_BYTES as usize).div_ceil(entry_len * per_batch) + 1;
    for batch in 0..batches {
        let mut tx = Transaction::new();
        for k in 0..per_batch {
            tx.append(vec![(batch * per_batch + k) as u8; entry_len]);
        }
        store.commit(tx).unwrap();
    }
    drop(store);
    let index = dir.path().join("log").join("entries.idx");
    set_len(&index, 8);
    let err = Store::open(dir.path(), ORIGIN, signer()).unwrap_err();
    assert!(
        matches!(&err, StoreError::LogFileShort { file, .. } if file == &index),
        "{err}"
    );
}

/// The journal past the indexes' last sync is read frame by frame to rebuild them: a frame
/// that does not parse, or frames that do not add up to the recorded lengths, are refused
/// as damage to the journal, never skipped.
#[test]
fn a_damaged_journal_past_the_indexes_last_sync_is_refused() {
    use std::os::unix::fs::FileExt as _;
    // (offset from the start, the byte written there): the first frame's kind, the first
    // frame's length (so that it swallows the next frames).
    for (offset, byte) in [(0u64, 0x07u8), (1, 0x30)] {
        let dir = tempfile::tempdir().unwrap();
        crashed_store(dir.path());
        let journal = dir.path().join("log").join("journal");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&journal)
            .unwrap();
        file.write_all_at(&[byte], offset).unwrap();
        let err = Store::open(dir.path(), ORIGIN, signer()).unwrap_err();
        assert!(
            matches!(&err, StoreError::LogJournal { file, .. } if file == &journal),
            "byte {offset}: {err}"
        );
        assert!(err.is_integrity(), "{err}");
    }
}

/// A batch that passes the zeros laid down ahead of the journal writes `JOURNAL_ZERO_FILL`
/// more past its end (so that the next batches' `fdatasync`s do not change the file's
/// size); they are not part of the log: the store reads up to its committed length, and the
/// next open cuts them off. (Fails without the zero fill: the journal ends at its last frame.)
#[test]
fn zeros_ahead_of_the_journal_are_not_part_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("log").join("journal");
    let store = open(dir.path());
    append_one(&store, b"first");
    let bytes = std::fs::read(&journal).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() as u64 + 1;
    assert_eq!(bytes.len() as u64, end + streha_store::JOURNAL_ZERO_FILL);
    // Later batches write over the zeros: the file's size does not change.
    for n in 0..20u8 {
        append_one(&store, &[n + 1; 100]);
    }
    assert_eq!(
        std::fs::metadata(&journal).unwrap().len(),
        bytes.len() as u64
    );
    let before = log_answers(&store);
    drop(store);
    let store = open(dir.path());
    assert_eq!(log_answers(&store), before);
    let reopened = std::fs::read(&journal).unwrap();
    assert_ne!(reopened.last(), Some(&0), "the zeros were cut off at open");
    assert!(reopened.len() < bytes.len());
}

/// The write-ahead log's records as `(offset, length)` from the start of the current cycle
/// (format: `spec/audit-log.md`, "Durability").
fn write_ahead_records(wal: &[u8]) -> Vec<(usize, usize)> {
    let word = |at: usize, n: usize| {
        let mut bytes = [0u8; 8];
        bytes[..n].copy_from_slice(&wal[at..at + n]);
        u64::from_le_bytes(bytes)
    };
    let mut expected = word(16, 8);
    let mut at = 32;
    let mut records = Vec::new();
    while at + 28 <= wal.len() && word(at + 4, 8) == expected {
        let len = 28 + word(at, 4) as usize;
        records.push((at, len));
        at += len;
        expected += 1;
    }
    records
}

/// What a crash leaves between checkpoints — sled and the journal as the page cache had
/// them, unsynced, and every acknowledged batch in the write-ahead log — reopens whole: the
/// batches are replayed, state and entries, and a clean close leaves nothing to replay.
#[test]
fn a_crash_image_reopens_whole_from_the_write_ahead_log() {
    let dir = tempfile::tempdir().unwrap();
    let image = tempfile::tempdir().unwrap();
    let root = {
        let store = open(dir.path());
        for n in 0..40u32 {
            let mut tx = Transaction::new();
            tx.append(format!("entry {n}").into_bytes()).put(
                STATE,
                format!("k{n}").into_bytes(),
                vec![n as u8; 100],
            );
            if n > 0 {
                tx.remove(STATE, format!("k{}", n - 1).into_bytes());
            }
            store.commit(tx).unwrap();
        }
        copy_dir(dir.path(), image.path());
        store.root()
    };
    // sled's own files as they were before any of the batches (a crash that lost all
    // sled wrote since the store was created): only the write-ahead log has them.
    let wal = std::fs::read(image.path().join("wal")).unwrap();
    assert_eq!(write_ahead_records(&wal).len(), 40);
    // And sled holding part of the last batch with its number (a batch reaches sled key by
    // key): every record of the cycle is applied again, not only those past that number.
    {
        let raw = raw_sled(image.path());
        let tree = raw.open_tree("streha-v2").unwrap();
        let last_seq = u64::from_le_bytes(
            wal[write_ahead_records(&wal)[39].0 + 4..][..8]
                .try_into()
                .unwrap(),
        );
        tree.insert(b"\x00wal", &last_seq.to_be_bytes()).unwrap();
        tree.remove([&[0x10, 3][..], b"k39"].concat()).unwrap();
        raw.flush().unwrap();
    }
    let store = open(image.path());
    assert_eq!(store.replayed_at_open(), 40);
    assert_eq!(store.tree_size(), 40);
    assert_eq!(store.root(), root);
    assert_eq!(store.entry(39).unwrap().unwrap(), b"entry 39");
    assert_eq!(store.get(STATE, b"k39").unwrap().unwrap(), vec![39u8; 100]);
    assert!(store.get(STATE, b"k38").unwrap().is_none());
    drop(store);
    let store = open(image.path());
    assert_eq!(store.replayed_at_open(), 0, "a clean close checkpoints");
    assert_eq!(store.root(), root);
    // The original, closed cleanly, replays nothing either.
    assert_eq!(open(dir.path()).replayed_at_open(), 0);
}

/// An acknowledged batch whose record the disk lost (torn or damaged after it was synced)
/// is not silently dropped: the high-water mark, written after the record, names the size
/// the log had, and the store refuses to open shorter.
#[test]
fn a_lost_write_ahead_record_is_a_rollback_not_a_shorter_log() {
    let dir = tempfile::tempdir().unwrap();
    let image = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        for n in 0..5u32 {
            append_one(&store, format!("entry {n}").as_bytes());
        }
        copy_dir(dir.path(), image.path());
    }
    let wal_path = image.path().join("wal");
    let mut wal = std::fs::read(&wal_path).unwrap();
    let records = write_ahead_records(&wal);
    assert_eq!(records.len(), 5);
    let (at, len) = records[4];
    wal[at + len - 1] ^= 0x01;
    std::fs::write(&wal_path, &wal).unwrap();
    match Store::open(image.path(), ORIGIN, signer()) {
        Err(StoreError::RolledBack {
            recovered,
            expected,
            ..
        }) => assert_eq!((recovered, expected), (4, 5)),
        other => panic!("expected a rollback, got {other:?}"),
    }
    // The refusal changed nothing of the write-ahead log: with the record repaired, the
    // store opens whole.
    assert_eq!(std::fs::read(&wal_path).unwrap(), wal);
    wal[at + len - 1] ^= 0x01;
    std::fs::write(&wal_path, &wal).unwrap();
    assert_eq!(open(image.path()).tree_size(), 5);
}

/// An entry is read in one piece whatever its size: within the read-ahead (one `pread64`
/// for header and body), across its edge, beyond it, and the last one before the journal's
/// end; after a reopen too.
#[test]
fn entries_of_every_size_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let lens = [0usize, 1, 200, 4090, 4091, 4092, 4096, 10_000, 60_000];
    let entries: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(n, &len)| (0..len).map(|i| (i * 7 + n) as u8).collect())
        .collect();
    {
        let store = open(dir.path());
        for entry in &entries {
            append_one(&store, entry);
        }
        // Several in one batch, so that entries follow each other without a checkpoint.
        let mut tx = Transaction::new();
        for entry in &entries {
            tx.append(entry.clone());
        }
        store.commit(tx).unwrap();
        for (n, entry) in entries.iter().chain(&entries).enumerate() {
            assert_eq!(&store.entry(n as u64).unwrap().unwrap(), entry, "entry {n}");
        }
    }
    let store = open(dir.path());
    for (n, entry) in entries.iter().chain(&entries).enumerate() {
        assert_eq!(&store.entry(n as u64).unwrap().unwrap(), entry, "entry {n}");
    }
    assert!(store.entry(2 * entries.len() as u64).unwrap().is_none());
}
