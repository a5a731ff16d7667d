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
    drop(store);
    {
        // Overwrite the root of the first 256 entries (the first hash of tile 0 of row 1;
        // format 2: one tree, tiles under 0x02 ‖ row ‖ tile index) behind the store's back.
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("streha-v2").unwrap();
        let mut key = [0u8; 10];
        key[0] = 0x02;
        key[1] = 1;
        let mut tile = tree
            .get(key)
            .unwrap()
            .expect("row 1 has its first hash")
            .to_vec();
        tile[..32].copy_from_slice(&[0xAA; 32]);
        tree.insert(key, tile).unwrap();
        db.flush().unwrap();
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
        let db = sled::open(dir.path()).unwrap();
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
