//! Storage faults: a full disk mid-commit and at open, a damaged or truncated sled file, a
//! leftover of a failed start, a second process. An acknowledgement means it is on disk, a
//! failed commit serves nothing from memory, and a store never opens silently shorter.
//!
//! The full-disk tests use a small tmpfs and need root to mount it; without root they say so
//! and pass without testing (CI runs them as root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use streha_store::{Namespace, Store, StoreError, Transaction};

const ORIGIN: &str = "faults.test/log";
const STATE: Namespace = Namespace::new(4);

fn signer() -> streha_audit::NoteSigner {
    streha_audit::NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[21; 32]))
        .expect("key name")
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "8m"), or `None` (with a message) if this process may
    /// not mount one.
    fn mount(size: &str, test: &str) -> Option<Self> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIPPED {test}: needs root to mount a small tmpfs (CI runs as root)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fs");
        std::fs::create_dir(&path).expect("mount point");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("SKIPPED {test}: mounting a tmpfs failed (no mount privilege here)");
            return None;
        }
        Some(Self { _dir: dir, path })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount the tmpfs");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the file system of `dir` with `name` until fewer than `leave` bytes are free.
fn fill(dir: &Path, name: &str, leave: u64) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(dir.join(name)).expect("filler");
    let chunk = vec![0u8; 4096];
    loop {
        let stat = rustix::fs::statvfs(dir).expect("statvfs");
        let free = stat.f_bavail * stat.f_frsize;
        if free < leave + 4096 {
            break;
        }
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = file.sync_all();
}

/// How long a child may take: its work takes well under a second on an idle machine.
const CHILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

fn commit_batch(store: &Store, n: u32, value_len: usize) -> Result<u64, StoreError> {
    let mut tx = Transaction::new();
    tx.append(format!("entry {n}").into_bytes());
    tx.put(
        STATE,
        format!("k{n}").into_bytes(),
        vec![n as u8; value_len],
    );
    store.commit(tx).map(|c| c.first_index)
}

/// Re-runs this test binary as a child doing `role` on the store in `dir` (a failed store
/// keeps sled's handles, and so its lock, until its process ends); returns its output.
fn child(role: &str, dir: &Path) -> String {
    let mut running = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STREHA_FAULTS_CHILD", role)
        .env("STREHA_FAULTS_DIR", dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run child");
    // Read as it comes (a full pipe would stop the child).
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(running.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(running.stderr.take().map(|p| Box::new(p) as _));
    // A store that hangs (say in sled's flush on a full disk) fails the test, not CI.
    let deadline = std::time::Instant::now() + CHILD_TIMEOUT;
    let mut hung = false;
    while running.try_wait().expect("wait for child").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = running.kill();
            let _ = running.wait();
            hung = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = std::process::Output {
        status: running.wait().expect("child status"),
        stdout: stdout.join().expect("child stdout"),
        stderr: stderr.join().expect("child stderr"),
    };
    assert!(
        !hung,
        "the `{role}` child hung for {CHILD_TIMEOUT:?}: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    // The child's own lines start with a marker; the test harness prints around them.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let found = ["OPENED ", "ERROR ", "ACKNOWLEDGED "]
        .iter()
        .find_map(|marker| stdout.find(marker).map(|at| stdout[at..].lines().next()));
    match found {
        Some(Some(line)) => line.to_owned(),
        _ => format!(
            "the child printed no result: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// The child side of [`child`]: `open` prints what it found; `fill` commits until the disk
/// is full and checks what the failed store serves.
#[test]
fn child_process() {
    let (Ok(role), Ok(dir)) = (
        std::env::var("STREHA_FAULTS_CHILD"),
        std::env::var("STREHA_FAULTS_DIR"),
    ) else {
        return;
    };
    match role.as_str() {
        "open" => match Store::open(&dir, ORIGIN, signer()) {
            Ok(store) => {
                let mut with_state = 0u64;
                for n in 0..store.tree_size() {
                    let entry = store.entry(n).expect("read entry").expect("entry present");
                    let key = String::from_utf8(entry)
                        .expect("utf-8")
                        .replace("entry ", "k");
                    if store.get(STATE, key.as_bytes()).expect("read").is_some() {
                        with_state += 1;
                    }
                }
                println!(
                    "OPENED size={} state_of_all_entries={}",
                    store.tree_size(),
                    with_state == store.tree_size()
                );
            }
            Err(e) => println!("ERROR {e}"),
        },
        "fill" => fill_until_a_commit_fails(Path::new(&dir)),
        "fill-log" => fill_the_log_files(Path::new(&dir)),
        _ => panic!("unknown child role"),
    }
}

fn fill_until_a_commit_fails(data: &Path) {
    let store = Store::open(data, ORIGIN, signer()).expect("open");
    let failures = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&failures);
    store.on_failure(move || {
        seen.fetch_add(1, Ordering::SeqCst);
    });

    let mut acknowledged = 0u32;
    let error = loop {
        match commit_batch(&store, acknowledged, 20_000) {
            Ok(index) => {
                assert_eq!(index, u64::from(acknowledged));
                acknowledged += 1;
            }
            Err(e) => break e,
        }
        assert!(acknowledged < 10_000, "an 8 MiB file system never filled");
    };
    assert!(
        matches!(error, StoreError::CommitFailed(_)),
        "the failing commit's outcome is unknown: {error}"
    );
    assert!(
        error.to_string().contains("unknown"),
        "never 'nothing was recorded': {error}"
    );
    assert!(store.has_failed());
    assert_eq!(failures.load(Ordering::SeqCst), 1, "the hook ran once");

    // Nothing is served any more: not the failed batch's state, not its entry, and not
    // even what was durable before (memory is no longer the truth).
    let failed_key = format!("k{acknowledged}");
    for read in [
        store.get(STATE, failed_key.as_bytes()).map(|_| ()),
        store.get(STATE, b"k0").map(|_| ()),
        store.entry(u64::from(acknowledged)).map(|_| ()),
        store.scan(STATE, b"").map(|_| ()),
        store.checkpoints().map(|_| ()),
        store.inclusion_proof(0, 1).map(|_| ()),
    ] {
        assert!(
            matches!(read, Err(StoreError::Poisoned)),
            "a read after the failure: {read:?}"
        );
    }
    assert!(matches!(
        commit_batch(&store, acknowledged + 1, 10),
        Err(StoreError::Poisoned)
    ));
    assert_eq!(
        store.tree_size(),
        u64::from(acknowledged),
        "the durable size"
    );
    // Dropping a failed store does not hang on sled's flush-on-drop.
    drop(store);
    println!("ACKNOWLEDGED {acknowledged}");
}

/// Large entries, small state: what fills the disk is the log files' appends (storage
/// format 3), not sled. Commits until one fails; checks that the failure is one of the log
/// files and that the failed store serves nothing.
fn fill_the_log_files(data: &Path) {
    let store = Store::open(data, ORIGIN, signer()).expect("open");
    let mut acknowledged = 0u32;
    let error = loop {
        let mut tx = Transaction::new();
        tx.append(log_entry(acknowledged));
        tx.put(STATE, format!("k{acknowledged}").into_bytes(), vec![1]);
        match store.commit(tx) {
            Ok(committed) => {
                assert_eq!(committed.first_index, u64::from(acknowledged));
                acknowledged += 1;
            }
            Err(e) => break e,
        }
        assert!(acknowledged < 10_000, "an 8 MiB file system never filled");
    };
    assert!(
        matches!(error, StoreError::CommitFailed(_)) && error.to_string().contains("unknown"),
        "the failing commit's outcome is unknown: {error}"
    );
    assert!(
        error.to_string().contains("/log/"),
        "the log files filled the disk, not sled: {error}"
    );
    assert!(store.has_failed());
    assert!(matches!(store.entry(0), Err(StoreError::Poisoned)));
    assert_eq!(store.tree_size(), u64::from(acknowledged));
    drop(store);
    println!("ACKNOWLEDGED {acknowledged}");
}

/// Entry `n` of [`fill_the_log_files`]: 48 KiB, its bytes telling its number.
fn log_entry(n: u32) -> Vec<u8> {
    let mut entry = format!("entry {n} ").into_bytes();
    entry.resize(48 * 1024, (n % 251) as u8);
    entry
}

/// A disk that fills while the log files are appended to: the batch fails with an unknown
/// outcome, nothing acknowledged is lost, and the store reopens (the bytes of the failed
/// batch past the recorded lengths are truncated) and goes on.
#[test]
fn a_disk_full_while_appending_the_log_files_loses_nothing_acknowledged() {
    let Some(fs) = Tmpfs::mount("8m", "a_disk_full_while_appending_the_log_files") else {
        return;
    };
    let data = fs.path().join("data");
    let filled = child("fill-log", &data);
    let acknowledged: u64 = filled
        .strip_prefix("ACKNOWLEDGED ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the filling child failed: {filled}"));
    assert!(
        acknowledged > 10,
        "only {acknowledged} commits before the disk was full"
    );
    // sled needs room to recover (`a_full_disk_at_open_is_disk_full…`): freed first.
    fs.resize("32m");
    let store = Store::open(&data, ORIGIN, signer()).expect("reopen");
    assert_eq!(
        store.tree_size(),
        acknowledged,
        "sled never saw the failed batch"
    );
    for n in 0..acknowledged {
        let n32 = u32::try_from(n).expect("small");
        assert_eq!(store.entry(n).expect("read"), Some(log_entry(n32)));
        assert!(
            store
                .get(STATE, format!("k{n}").as_bytes())
                .expect("read")
                .is_some()
        );
    }
    assert_eq!(
        store.recompute_root().expect("recompute"),
        store.root(),
        "the stored hashes agree with the entries"
    );
    let mut tx = Transaction::new();
    tx.append(b"after the disk was freed".to_vec());
    assert_eq!(store.commit(tx).expect("commit").first_index, acknowledged);
}

/// Issue 16.1: before the fix, the key of the failed batch was served (`Ok(Some)`) from
/// sled's memory after the commit had been answered "nothing was recorded".
#[test]
fn after_a_failed_commit_the_store_serves_nothing_from_memory() {
    let Some(fs) = Tmpfs::mount("8m", "after_a_failed_commit_the_store_serves_nothing") else {
        return;
    };
    let data = fs.path().join("data");
    let filled = child("fill", &data);
    let acknowledged: u64 = filled
        .strip_prefix("ACKNOWLEDGED ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the filling child failed: {filled}"));

    // Reopened from disk once there is room: every acknowledged entry is there with its
    // state; the failed batch may or may not be (its outcome was "unknown").
    fs.resize("32m");
    let store = Store::open(&data, ORIGIN, signer()).expect("reopen");
    let size = store.tree_size();
    assert!(
        (acknowledged..=acknowledged + 1).contains(&size),
        "acknowledged {acknowledged}, reopened at {size}"
    );
    for n in 0..size {
        let key = format!("k{n}");
        assert!(store.get(STATE, key.as_bytes()).expect("read").is_some());
    }
}

/// Issue 16.4: a start on a full disk leaves an incomplete snapshot that made every later
/// start fail with "Read corrupted data". At every fill level, opening is either fine or a
/// clear "disk full" — never "corrupt" — and once there is room it opens at the same size.
#[test]
fn a_full_disk_at_open_is_disk_full_and_leaves_nothing_that_breaks_the_next_start() {
    let Some(fs) = Tmpfs::mount("32m", "a_full_disk_at_open_is_disk_full") else {
        return;
    };
    for (round, leave) in [0u64, 32 << 10, 64 << 10, 128 << 10, 256 << 10, 512 << 10]
        .into_iter()
        .enumerate()
    {
        let live = fs.path().join(format!("live-{round}"));
        let copy = fs.path().join(format!("copy-{round}"));
        {
            let store = Store::open(&live, ORIGIN, signer()).expect("open");
            for n in 0..150 {
                commit_batch(&store, n, 20_000).expect("commit");
            }
            // A copy of a store in use: what a crash leaves (sled recovers it at open).
            copy_dir(&live, &copy);
        }
        std::fs::remove_dir_all(&live).expect("remove live");
        fill(fs.path(), "filler", leave);
        let at_full = child("open", &copy);
        assert!(
            at_full.starts_with("OPENED size=150")
                || (at_full.starts_with("ERROR the file system of") && at_full.contains("is full")),
            "leaving {leave} bytes: {at_full}"
        );
        std::fs::remove_file(fs.path().join("filler")).expect("remove filler");
        let after = child("open", &copy);
        assert!(
            after.starts_with("OPENED size=150 state_of_all_entries=true"),
            "leaving {leave} bytes, then freeing: {after}"
        );
        std::fs::remove_dir_all(&copy).expect("remove copy");
    }
}

/// A way to damage a `db` file.
type Damage = Box<dyn Fn(&Path)>;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for item in std::fs::read_dir(from).expect("list") {
        let item = item.expect("entry");
        let target = to.join(item.file_name());
        if item.file_type().expect("type").is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).expect("copy file");
        }
    }
}

/// Issue 16.4 without a full disk: the leftover itself is recognised and removed.
#[test]
fn an_incomplete_snapshot_is_removed_not_called_corruption() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), ORIGIN, signer()).expect("open");
        for n in 0..20 {
            commit_batch(&store, n, 100).expect("commit");
        }
    }
    let leftover = dir.path().join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&leftover, b"").expect("leftover");
    let store = Store::open(dir.path(), ORIGIN, signer()).expect("opens despite the leftover");
    assert_eq!(store.tree_size(), 20);
    assert!(!leftover.exists());
}

/// Issue 16.3: a damaged or truncated `db` made sled recover an older log (even an empty
/// one, its origin re-created) and the store open there silently; some damage made sled
/// panic. Now: the same size, or a refusal naming both sizes — never a shorter log, never
/// a panic.
#[test]
fn a_damaged_or_truncated_log_never_opens_shorter() {
    let image = tempfile::tempdir().expect("temp dir");
    {
        let source = tempfile::tempdir().expect("temp dir");
        let store = Store::open(source.path(), ORIGIN, signer()).expect("open");
        for batch in 0..300u32 {
            let mut tx = Transaction::new();
            for k in 0..10 {
                tx.append(format!("entry {batch} {k} {}", "x".repeat(100)).into_bytes());
            }
            store.commit(tx).expect("commit");
            if batch == 199 {
                // Two thirds of the log made durable in sled and the journal (a checkpoint
                // of the write-ahead log); the rest only in the write-ahead log.
                store.sync_log_indexes().expect("checkpoint");
            }
        }
        // As a crash would leave it: copied while open, after the last acknowledged commit.
        copy_dir(source.path(), image.path());
    }
    let db_len = std::fs::metadata(image.path().join("db"))
        .expect("db")
        .len();
    let mut damages: Vec<(String, Damage)> = Vec::new();
    for block in 0..db_len / 65536 {
        damages.push((
            format!("4 KiB of random bytes at {}", block * 65536),
            Box::new(move |db: &Path| {
                let mut bytes = std::fs::read(db).expect("read db");
                let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ block;
                let start = usize::try_from(block * 65536).expect("offset");
                for byte in bytes.iter_mut().skip(start).take(4096) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *byte = x as u8;
                }
                std::fs::write(db, bytes).expect("write db");
            }),
        ));
    }
    for tenth in [3u64, 5, 8] {
        damages.push((
            format!("db truncated to {tenth}/10"),
            Box::new(move |db: &Path| {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(db)
                    .expect("open db");
                file.set_len(db_len * tenth / 10).expect("truncate");
            }),
        ));
    }
    let mut refused = 0;
    for (what, damage) in &damages {
        let work = tempfile::tempdir().expect("temp dir");
        copy_dir(image.path(), work.path());
        damage(&work.path().join("db"));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Store::open(work.path(), ORIGIN, signer()).map(|s| s.tree_size())
        }));
        match outcome {
            Err(_) => panic!("{what}: opening panicked"),
            Ok(Ok(size)) => assert_eq!(size, 3000, "{what}: opened at a shorter size"),
            Ok(Err(e)) => {
                assert!(e.is_integrity(), "{what}: {e}");
                if let StoreError::RolledBack {
                    recovered,
                    expected,
                    ..
                } = &e
                {
                    assert_eq!(*expected, 3000);
                    let message = e.to_string();
                    assert!(
                        message.contains(&format!("size {recovered}"))
                            && message.contains("size 3000")
                            && message.contains("restore"),
                        "{message}"
                    );
                }
                refused += 1;
            }
        }
    }
    assert!(
        refused > 0,
        "no damage was caught: the test no longer bites"
    );
}

#[test]
fn a_second_open_of_one_directory_names_the_holder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _first = Store::open(dir.path(), ORIGIN, signer()).expect("open");
    let error = Store::open(dir.path(), ORIGIN, signer()).expect_err("second open");
    assert!(
        matches!(error, StoreError::InUse { pid: Some(pid), .. } if pid == std::process::id()),
        "{error}"
    );
    assert!(
        error.to_string().contains(&format!(
            "in use by another strehad (pid {})",
            std::process::id()
        )),
        "{error}"
    );
}

/// Issue 19.3: a full disk met while a body is appended to its segment refuses that
/// transaction before its commit — known unwritten, `BodyNotWritten` — and the store goes on
/// (not poisoned); it reopens with every acknowledged body whole and without the refused one.
#[test]
fn a_full_disk_while_writing_a_body_refuses_before_the_commit() {
    let Some(fs) = Tmpfs::mount("4m", "a_full_disk_while_writing_a_body") else {
        return;
    };
    let data = fs.path().join("data");
    let store = Store::open(&data, ORIGIN, signer()).expect("open");
    let mut acknowledged = 0u32;
    let error = loop {
        let mut tx = Transaction::new();
        tx.append(format!("entry {acknowledged}").into_bytes());
        tx.put_body(
            STATE,
            format!("k{acknowledged}").into_bytes(),
            vec![acknowledged as u8; 256 * 1024],
        );
        match store.commit(tx) {
            Ok(_) => acknowledged += 1,
            Err(e) => break e,
        }
        assert!(acknowledged < 1000, "a 4 MiB file system never filled");
    };
    assert!(
        matches!(error, StoreError::BodyNotWritten { full: true, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("nothing of this request was recorded")
    );
    assert!(
        !store.has_failed(),
        "refused before the commit: the store goes on"
    );
    assert_eq!(store.tree_size(), u64::from(acknowledged));
    assert!(store.get(STATE, b"k0").expect("still serving").is_some());
    drop(store);
    // sled writes while it recovers: room first.
    fs.resize("8m");
    let store = Store::open(&data, ORIGIN, signer()).expect("reopen");
    // Every acknowledged body reads back whole; the refused one was never referenced.
    for n in 0..acknowledged {
        assert_eq!(
            store.get(STATE, format!("k{n}").as_bytes()).expect("read"),
            Some(vec![n as u8; 256 * 1024]),
            "acknowledged body {n}"
        );
    }
    assert_eq!(
        store
            .get(STATE, format!("k{acknowledged}").as_bytes())
            .expect("read"),
        None
    );
    assert_eq!(store.tree_size(), u64::from(acknowledged));
}
