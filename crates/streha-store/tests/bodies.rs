//! Bodies out of sled (issue 19.3): appended to segment files and synced before the commit
//! that references them, released (their blocks given back, the bytes gone) after the
//! commit that drops the last reference, a segment deleted with its last body, orphans
//! released at open, dangling references refused, content checked on read. Bodies of at
//! most `INLINE_BODY_MAX` bytes stay inline in the sled batch instead (issue 19, small
//! envelopes).

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use streha_audit::NoteSigner;
use streha_store::{
    BODIES_DIR, BODY_SEGMENT_BYTES, INLINE_BODY_MAX, Namespace, Store, StoreError, Transaction,
};

const ORIGIN: &str = "bodies.test/log";
const INBOX: Namespace = Namespace::new(9);
const INDEX: Namespace = Namespace::new(10);

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[5; 32])).unwrap()
}

fn open(dir: &Path) -> Store {
    Store::open(dir, ORIGIN, signer()).expect("open store")
}

/// A body just over the inline limit, so kept in a segment: `text` repeated.
fn big(text: &[u8]) -> Vec<u8> {
    let mut body = text.repeat(INLINE_BODY_MAX / text.len() + 1);
    body.truncate(INLINE_BODY_MAX + 1);
    body
}

/// The names in the body directory, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(BODIES_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The one segment file in the body directory.
fn only_segment(dir: &Path) -> PathBuf {
    let names = files(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("segment-"), "{names:?}");
    dir.join(BODIES_DIR).join(&names[0])
}

/// Where `needle` is in the file at `path`, if anywhere.
fn find(path: &Path, needle: &[u8]) -> Option<usize> {
    let bytes = std::fs::read(path).unwrap();
    bytes.windows(needle.len()).position(|w| w == needle)
}

fn put_body(store: &Store, key: &[u8], body: &[u8]) {
    let mut tx = Transaction::new();
    tx.append(b"received".to_vec())
        .put_body(INBOX, key.to_vec(), body.to_vec())
        .put(INDEX, key.to_vec(), Vec::new());
    store.commit(tx).expect("commit");
}

fn remove(store: &Store, key: &[u8]) {
    let mut tx = Transaction::new();
    tx.remove(INBOX, key.to_vec());
    store.commit(tx).expect("commit");
}

/// A body is appended to a private segment; when its last reference goes, its bytes go from
/// the disk (the blocks are given back), not only from the index. Fails if a dropped body's
/// bytes stay readable in the segment.
#[test]
fn a_body_lives_in_a_private_segment_and_its_bytes_go_with_its_last_reference() {
    // Whatever the umask (only ever more permissive in this test binary).
    let old = rustix::process::umask(rustix::fs::Mode::empty());
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let body = big(b"first sealed envelope ");
    put_body(&store, b"one", &body);
    assert_eq!(
        store.get(INBOX, b"one").unwrap().as_deref(),
        Some(&body[..])
    );
    assert_eq!(
        store.scan(INBOX, b"").unwrap(),
        vec![(b"one".to_vec(), body.clone())]
    );
    let segment = only_segment(dir.path());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&segment), 0o600);
    assert_eq!(mode(&dir.path().join(BODIES_DIR)), 0o700);
    let on_disk = std::fs::metadata(&segment).unwrap().len();
    assert_eq!(
        store.body_files().unwrap(),
        vec![(segment.clone(), on_disk)]
    );
    rustix::process::umask(old);

    // The same content under a second key; a third body beside it.
    put_body(&store, b"two", &body);
    let other = big(b"second sealed envelope ");
    put_body(&store, b"three", &other);
    let at = find(&segment, &body).expect("the body is in its segment");
    assert_eq!(at % 4096, 0, "bodies start on a block");
    remove(&store, b"one");
    assert_eq!(
        store.get(INBOX, b"two").unwrap().as_deref(),
        Some(&body[..]),
        "the second reference still reads it"
    );
    // Replaced by an inline value: the reference is dropped too, and with the last one the
    // bytes are gone from the segment.
    let mut tx = Transaction::new();
    tx.put(INBOX, b"two".to_vec(), b"small".to_vec());
    store.commit(tx).unwrap();
    assert_eq!(
        find(&segment, &body),
        None,
        "the released body's bytes are gone"
    );
    assert!(
        find(&segment, &other).is_some(),
        "its neighbour is untouched"
    );
    assert_eq!(store.get(INBOX, b"three").unwrap(), Some(other));
    assert_eq!(
        store.get(INBOX, b"two").unwrap().as_deref(),
        Some(&b"small"[..])
    );
    remove(&store, b"three");
    drop(store);
    // No body left: the segment goes at the next open.
    let store = open(dir.path());
    assert!(files(dir.path()).is_empty());
    assert!(store.body_files().unwrap().is_empty());
}

/// The blocks of a released body are given back to the file system (a hole), so a node
/// under steady load does not grow its disk with delivered envelopes. Fails if a release
/// only forgets the reference.
#[test]
fn a_released_body_gives_its_blocks_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let keep = big(b"kept ");
    put_body(&store, b"keep", &keep);
    let segment = only_segment(dir.path());
    let blocks = |p: &Path| std::fs::metadata(p).unwrap().blocks();
    let before = blocks(&segment);
    for round in 0..8u8 {
        put_body(&store, b"passing", &vec![round; 256 * 1024]);
    }
    remove(&store, b"passing");
    let after = blocks(&segment);
    assert!(
        after < before + 64,
        "eight 256 KiB bodies released, yet the segment holds {after} blocks of 512 bytes (from {before})"
    );
    assert!(std::fs::metadata(&segment).unwrap().len() > 8 * 256 * 1024);
    assert_eq!(store.get(INBOX, b"keep").unwrap(), Some(keep));
}

/// A segment takes no more than `BODY_SEGMENT_BYTES`: the next body starts a new one, and
/// a full segment is deleted once its last body goes. Fails if segments never rotate or are
/// never deleted.
#[test]
fn segments_rotate_and_a_full_one_goes_with_its_last_body() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let chunk = 24 * 1024 * 1024;
    let bodies: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i + 1; chunk]).collect();
    for (i, body) in bodies.iter().enumerate() {
        put_body(&store, format!("b{i}").as_bytes(), body);
    }
    let segments = files(dir.path());
    let expected = (4 * chunk as u64).div_ceil(BODY_SEGMENT_BYTES) as usize;
    assert!(segments.len() >= expected, "{segments:?}");
    assert!(
        segments.len() >= 2,
        "four 24 MiB bodies fit no one segment: {segments:?}"
    );
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(
            store
                .get(INBOX, format!("b{i}").as_bytes())
                .unwrap()
                .as_ref(),
            Some(body)
        );
    }
    // The first segment's bodies go: the segment goes with them, the others stay.
    remove(&store, b"b0");
    remove(&store, b"b1");
    let left = files(dir.path());
    assert!(!left.contains(&segments[0]), "{left:?}");
    assert_eq!(left.len(), segments.len() - 1, "{left:?}");
    assert_eq!(store.get(INBOX, b"b3").unwrap().as_ref(), Some(&bodies[3]));
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.get(INBOX, b"b2").unwrap().as_ref(), Some(&bodies[2]));
    assert_eq!(store.get(INBOX, b"b0").unwrap(), None);
}

#[test]
fn a_transaction_whose_guard_fails_writes_no_body() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put_body(&store, b"one", &big(b"first body"));
    let segment = only_segment(dir.path());
    let len = std::fs::metadata(&segment).unwrap().len();
    let second = big(b"second body");
    let mut tx = Transaction::new();
    tx.put_body(INBOX, b"other".to_vec(), second.clone())
        .require_absent(INDEX, b"one");
    assert!(matches!(store.commit(tx), Err(StoreError::GuardFailed(_))));
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), len);
    assert_eq!(find(&segment, &second), None);
}

/// A crash after a body was appended but before the commit that references it (or after
/// the commit that dropped it, before it was released) leaves bytes nothing references: the
/// next open releases them, deletes segments nothing references and the files of an
/// interrupted write of an older store, and leaves files the store did not write alone.
/// Fails without `Bodies::collect`.
#[test]
fn orphan_bodies_are_released_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let kept = big(b"a kept body");
    put_body(&store, b"kept", &kept);
    drop(store);
    let segment = only_segment(dir.path());
    // Bytes appended past the last committed body, as by a batch that never committed.
    let orphan = big(b"a body never committed ");
    {
        use std::os::unix::fs::FileExt as _;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap();
        file.write_all_at(&orphan, 64 * 1024).unwrap();
    }
    let bodies = dir.path().join(BODIES_DIR);
    let unreferenced = bodies.join("segment-00000000000000ff");
    std::fs::write(&unreferenced, &orphan).unwrap();
    let old_file = bodies.join(blake3::hash(b"an old body").to_hex().as_str());
    std::fs::write(&old_file, b"an old body").unwrap();
    let temp = old_file.with_extension("tmp");
    std::fs::write(&temp, b"half a bo").unwrap();
    let foreign = bodies.join("README");
    std::fs::write(&foreign, b"not ours").unwrap();

    let store = open(dir.path());
    assert_eq!(
        find(&segment, &orphan),
        None,
        "the orphan bytes were released"
    );
    assert!(
        !unreferenced.exists(),
        "the unreferenced segment was deleted"
    );
    assert!(
        !old_file.exists(),
        "the unreferenced old body file was deleted"
    );
    assert!(!temp.exists(), "the temporary file was deleted");
    assert!(
        foreign.exists(),
        "a file the store did not write is left alone"
    );
    assert_eq!(store.get(INBOX, b"kept").unwrap(), Some(kept.clone()));
    // New bodies go past every segment there was, never over one.
    put_body(&store, b"new", &big(b"a new body"));
    assert_eq!(store.get(INBOX, b"kept").unwrap(), Some(kept));
    assert!(
        files(dir.path())
            .iter()
            .any(|name| name.as_str() > "segment-00000000000000ff"),
        "{:?}",
        files(dir.path())
    );
}

/// A referenced body whose segment is missing or cut short stops the open with an
/// integrity error naming the file — never an open that serves a reference to nothing.
#[test]
fn a_reference_without_its_bytes_refuses_to_open() {
    for damage in ["remove", "truncate"] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let body = big(b"a body that will go missing");
        put_body(&store, b"one", &body);
        drop(store);
        let segment = only_segment(dir.path());
        match damage {
            "remove" => std::fs::remove_file(&segment).unwrap(),
            _ => std::fs::write(&segment, b"a body").unwrap(),
        }
        let err = Store::open(dir.path(), ORIGIN, signer()).unwrap_err();
        assert!(
            matches!(err, StoreError::MissingBody { .. }) && err.is_integrity(),
            "{damage}: {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&segment.display().to_string()),
            "{message}"
        );
        assert!(message.contains("restore"), "{message}");
    }
}

/// A body changed in place in its segment (same length) is found on read: the store
/// answers `Corrupt`, never the changed bytes.
#[test]
fn a_changed_body_is_refused_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let body = big(b"the sealed envelope ");
    put_body(&store, b"one", &body);
    let segment = only_segment(dir.path());
    let at = find(&segment, &body).expect("in its segment") as u64;
    {
        use std::os::unix::fs::FileExt as _;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap();
        file.write_all_at(&body.to_ascii_uppercase(), at).unwrap();
    }
    let err = store.get(INBOX, b"one").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(!err.to_string().contains("SEALED"), "no content in errors");
}

/// A body of at most `INLINE_BODY_MAX` bytes is an inline value: no segment, no reference,
/// in the same batch as its commit; one byte more and it is in a segment. Either replaces
/// the other under one key (the segment's bytes go with their last reference), a removal
/// drops both, and both are there after a reopen. Fails if small bodies still go out of
/// sled.
#[test]
fn small_bodies_stay_in_the_batch_and_large_ones_go_to_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let small = vec![0x11; 1024];
    let limit = vec![0x22; INLINE_BODY_MAX];
    let large = vec![0x33; INLINE_BODY_MAX + 1];
    put_body(&store, b"small", &small);
    put_body(&store, b"limit", &limit);
    assert!(
        files(dir.path()).is_empty(),
        "no segment for an inline body"
    );
    assert!(store.body_files().unwrap().is_empty());
    put_body(&store, b"large", &large);
    let segment = only_segment(dir.path());
    assert_eq!(store.body_files().unwrap().len(), 1);
    assert_eq!(store.body_files().unwrap()[0].0, segment);
    for (key, body) in [
        (&b"small"[..], &small),
        (b"limit", &limit),
        (b"large", &large),
    ] {
        assert_eq!(store.get(INBOX, key).unwrap().as_ref(), Some(body));
    }
    assert_eq!(store.scan(INBOX, b"").unwrap().len(), 3);

    // An inline body replaces a segment's body under the same key: its bytes go.
    let mut tx = Transaction::new();
    tx.put_body(INBOX, b"large".to_vec(), small.clone());
    store.commit(tx).unwrap();
    assert_eq!(find(&segment, &large), None);
    assert!(store.body_files().unwrap().is_empty());
    assert_eq!(store.get(INBOX, b"large").unwrap(), Some(small.clone()));
    // A segment's body replaces an inline body; a removal drops an inline body.
    let mut tx = Transaction::new();
    tx.put_body(INBOX, b"small".to_vec(), large.clone())
        .remove(INBOX, b"limit".to_vec());
    store.commit(tx).unwrap();
    assert!(find(&segment, &large).is_some());
    assert_eq!(store.body_files().unwrap().len(), 1);
    assert_eq!(store.get(INBOX, b"limit").unwrap(), None);
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.get(INBOX, b"small").unwrap(), Some(large.clone()));
    assert_eq!(store.get(INBOX, b"large").unwrap(), Some(small));
    assert_eq!(store.get(INBOX, b"limit").unwrap(), None);
    assert_eq!(store.body_files().unwrap().len(), 1);
}
