//! Bodies out of sled (issue 19.3): files written before the commit that references them,
//! deleted after the commit that drops the last reference, orphans collected at open,
//! dangling references refused, content checked on read. Bodies of at most
//! `INLINE_BODY_MAX` bytes stay inline in the sled batch instead (issue 19, small
//! envelopes).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use streha_audit::NoteSigner;
use streha_store::{BODIES_DIR, INLINE_BODY_MAX, Namespace, Store, StoreError, Transaction};

const ORIGIN: &str = "bodies.test/log";
const INBOX: Namespace = Namespace::new(9);
const INDEX: Namespace = Namespace::new(10);

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[5; 32])).unwrap()
}

fn open(dir: &Path) -> Store {
    Store::open(dir, ORIGIN, signer()).expect("open store")
}

/// A body just over the inline limit, so kept in a file: `text` repeated.
fn big(text: &[u8]) -> Vec<u8> {
    let mut body = text.repeat(INLINE_BODY_MAX / text.len() + 1);
    body.truncate(INLINE_BODY_MAX + 1);
    body
}

fn body_file(dir: &Path, body: &[u8]) -> PathBuf {
    dir.join(BODIES_DIR)
        .join(blake3::hash(body).to_hex().as_str())
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(BODIES_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
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

#[test]
fn a_body_lives_in_its_own_private_file_and_goes_with_its_last_reference() {
    // Whatever the umask (only ever more permissive in this test binary).
    let old = rustix::process::umask(rustix::fs::Mode::empty());
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let body = vec![0x5a; 300 * 1024];
    put_body(&store, b"one", &body);
    assert_eq!(
        store.get(INBOX, b"one").unwrap().as_deref(),
        Some(&body[..])
    );
    assert_eq!(
        store.scan(INBOX, b"").unwrap(),
        vec![(b"one".to_vec(), body.clone())]
    );
    let file = body_file(dir.path(), &body);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&dir.path().join(BODIES_DIR)), 0o700);
    assert_eq!(
        store.body_files().unwrap(),
        vec![(file.clone(), body.len() as u64)]
    );
    rustix::process::umask(old);

    // A second key with the same body shares the file; it goes with the last reference.
    put_body(&store, b"two", &body);
    remove(&store, b"one");
    assert!(file.exists(), "still referenced by `two`");
    assert_eq!(
        store.get(INBOX, b"two").unwrap().as_deref(),
        Some(&body[..])
    );
    // Replaced by an inline value: the reference is dropped too.
    let mut tx = Transaction::new();
    tx.put(INBOX, b"two".to_vec(), b"small".to_vec());
    store.commit(tx).unwrap();
    assert!(!file.exists(), "no reference left");
    assert!(files(dir.path()).is_empty());
    assert_eq!(
        store.get(INBOX, b"two").unwrap().as_deref(),
        Some(&b"small"[..])
    );
}

#[test]
fn a_transaction_whose_guard_fails_writes_no_body_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    put_body(&store, b"one", &big(b"first body"));
    let mut tx = Transaction::new();
    tx.put_body(INBOX, b"other".to_vec(), big(b"second body"))
        .require_absent(INDEX, b"one");
    assert!(matches!(store.commit(tx), Err(StoreError::GuardFailed(_))));
    assert_eq!(files(dir.path()).len(), 1);
}

/// A crash after a body's file was written but before the commit that references it (or
/// after the commit that dropped it, before the file was deleted) leaves an orphan: the next
/// open removes it, and the temporary file of an interrupted write too. Files the store did
/// not write are left alone. Fails without `Bodies::collect`.
#[test]
fn orphan_body_files_are_collected_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let kept = big(b"a kept body");
    put_body(&store, b"kept", &kept);
    drop(store);
    let orphan = body_file(dir.path(), b"a body never committed");
    std::fs::write(&orphan, b"a body never committed").unwrap();
    let temp = orphan.with_extension("tmp");
    std::fs::write(&temp, b"half a bo").unwrap();
    let foreign = dir.path().join(BODIES_DIR).join("README");
    std::fs::write(&foreign, b"not ours").unwrap();

    let store = open(dir.path());
    assert!(!orphan.exists(), "the orphan was collected");
    assert!(!temp.exists(), "the temporary file was collected");
    assert!(
        foreign.exists(),
        "a file the store did not write is left alone"
    );
    assert!(body_file(dir.path(), &kept).exists());
    assert_eq!(store.get(INBOX, b"kept").unwrap(), Some(kept));
}

/// A referenced body file that is missing or truncated stops the open with an integrity
/// error naming the file — never an open that serves a reference to nothing.
#[test]
fn a_reference_without_its_file_refuses_to_open() {
    for damage in ["remove", "truncate"] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let body = big(b"a body that will go missing");
        put_body(&store, b"one", &body);
        drop(store);
        let file = body_file(dir.path(), &body);
        match damage {
            "remove" => std::fs::remove_file(&file).unwrap(),
            _ => std::fs::write(&file, b"a body").unwrap(),
        }
        let err = Store::open(dir.path(), ORIGIN, signer()).unwrap_err();
        assert!(
            matches!(err, StoreError::MissingBody { .. }) && err.is_integrity(),
            "{damage}: {err}"
        );
        let message = err.to_string();
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(message.contains("restore"), "{message}");
    }
}

/// A body file changed in place (same length) is found on read: the store answers
/// `Corrupt`, never the changed bytes.
#[test]
fn a_changed_body_file_is_refused_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let body = big(b"the sealed envelope ");
    put_body(&store, b"one", &body);
    let file = body_file(dir.path(), &body);
    std::fs::write(&file, body.to_ascii_uppercase()).unwrap();
    let err = store.get(INBOX, b"one").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(!err.to_string().contains("SEALED"), "no content in errors");
}

/// A body of at most `INLINE_BODY_MAX` bytes is an inline value: no file, no reference, in
/// the same batch as its commit; one byte more and it is a file. Either replaces the other
/// under one key (the file goes with its last reference), a removal drops both, and both
/// are there after a reopen. Fails if small bodies still go to files.
#[test]
fn small_bodies_stay_in_the_batch_and_large_ones_go_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let small = vec![0x11; 1024];
    let limit = vec![0x22; INLINE_BODY_MAX];
    let large = vec![0x33; INLINE_BODY_MAX + 1];
    put_body(&store, b"small", &small);
    put_body(&store, b"limit", &limit);
    assert!(files(dir.path()).is_empty(), "no file for an inline body");
    assert!(store.body_files().unwrap().is_empty());
    put_body(&store, b"large", &large);
    assert_eq!(
        store.body_files().unwrap(),
        vec![(body_file(dir.path(), &large), large.len() as u64)]
    );
    for (key, body) in [
        (&b"small"[..], &small),
        (b"limit", &limit),
        (b"large", &large),
    ] {
        assert_eq!(store.get(INBOX, key).unwrap().as_ref(), Some(body));
    }
    assert_eq!(store.scan(INBOX, b"").unwrap().len(), 3);

    // An inline body replaces a file under the same key: the file goes.
    let mut tx = Transaction::new();
    tx.put_body(INBOX, b"large".to_vec(), small.clone());
    store.commit(tx).unwrap();
    assert!(files(dir.path()).is_empty());
    assert_eq!(store.get(INBOX, b"large").unwrap(), Some(small.clone()));
    // A file replaces an inline body; a removal drops an inline body.
    let mut tx = Transaction::new();
    tx.put_body(INBOX, b"small".to_vec(), large.clone())
        .remove(INBOX, b"limit".to_vec());
    store.commit(tx).unwrap();
    assert_eq!(
        files(dir.path()),
        vec![blake3::hash(&large).to_hex().to_string()]
    );
    assert_eq!(store.get(INBOX, b"limit").unwrap(), None);
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.get(INBOX, b"small").unwrap(), Some(large.clone()));
    assert_eq!(store.get(INBOX, b"large").unwrap(), Some(small));
    assert_eq!(store.get(INBOX, b"limit").unwrap(), None);
    assert_eq!(store.body_files().unwrap().len(), 1);
}
