//! Bodies out of sled (issue 19.3): files written before the commit that references them,
//! deleted after the commit that drops the last reference, orphans collected at open,
//! dangling references refused, content checked on read.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use streha_audit::NoteSigner;
use streha_store::{BODIES_DIR, Namespace, Store, StoreError, Transaction};

const ORIGIN: &str = "bodies.test/log";
const INBOX: Namespace = Namespace::new(9);
const INDEX: Namespace = Namespace::new(10);

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[5; 32])).unwrap()
}

fn open(dir: &Path) -> Store {
    Store::open(dir, ORIGIN, signer()).expect("open store")
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
    put_body(&store, b"one", b"first body");
    let mut tx = Transaction::new();
    tx.put_body(INBOX, b"other".to_vec(), b"second body".to_vec())
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
    put_body(&store, b"kept", b"a kept body");
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
    assert!(body_file(dir.path(), b"a kept body").exists());
    assert_eq!(
        store.get(INBOX, b"kept").unwrap().as_deref(),
        Some(&b"a kept body"[..])
    );
}

/// A referenced body file that is missing or truncated stops the open with an integrity
/// error naming the file — never an open that serves a reference to nothing.
#[test]
fn a_reference_without_its_file_refuses_to_open() {
    for damage in ["remove", "truncate"] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        put_body(&store, b"one", b"a body that will go missing");
        drop(store);
        let file = body_file(dir.path(), b"a body that will go missing");
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
    put_body(&store, b"one", b"the sealed envelope");
    let file = body_file(dir.path(), b"the sealed envelope");
    std::fs::write(&file, b"THE SEALED ENVELOPE").unwrap();
    let err = store.get(INBOX, b"one").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(!err.to_string().contains("SEALED"), "no content in errors");
}
