//! Crash test: a child process commits batches from several threads and prints every
//! acknowledged commit; the parent kills it with SIGKILL at random moments, reopens the
//! store, and checks that every acknowledged entry is there, the log only ever grew, and the
//! root matches a recomputation from the entries. Each commit also writes a body and
//! removes the previous commit's, every other one large enough for a file of its own and the
//! others inline in the batch (`INLINE_BODY_MAX`): after every crash no reference is left
//! without its file (the store opens), no file without a reference (orphans are
//! collected), and every acknowledged body of either kind is there. Entries are large enough
//! that the rounds go on until the log's journal has passed `INDEX_SYNC_BYTES` twice: the
//! kills then hit batches that sync the log's indexes and batches past their last sync,
//! which every reopen rebuilds from the journal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use streha_store::{Namespace, Store, Transaction};

const CHILD_ENV: &str = "STREHA_STORE_CRASH_CHILD_DIR";
const ROUND_ENV: &str = "STREHA_STORE_CRASH_ROUND";
const ORIGIN: &str = "crash.test/log";
const MARKS: Namespace = Namespace::new(9);
const BODIES: Namespace = Namespace::new(10);

fn signer() -> streha_audit::NoteSigner {
    streha_audit::NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[42; 32]))
        .expect("valid key name")
}

/// Odd commits' bodies go to files, even ones stay inline.
fn body(round: u32, thread: u32, n: u32) -> Vec<u8> {
    let text = format!("body {round}/{thread}/{n} ").into_bytes();
    let len = if n % 2 == 1 {
        streha_store::INLINE_BODY_MAX + 1
    } else {
        1024
    };
    let mut body = text.repeat(len / text.len() + 1);
    body.truncate(len);
    body
}

/// Bytes of every entry: a few MiB of journal per second of committing.
const ENTRY_LEN: usize = 8 * 1024;

fn entry_text(round: u32, thread: u32, n: u32, k: u32) -> Vec<u8> {
    let mut entry = format!("round {round} thread {thread} commit {n} entry {k} ").into_bytes();
    entry.resize(ENTRY_LEN, b'.');
    entry
}

/// The child side: runs only when the parent re-executes this test binary with the env var.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u32 = std::env::var(ROUND_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let store = Arc::new(Store::open(&dir, ORIGIN, signer()).expect("child opens store"));
    let threads: Vec<_> = (0..4u32)
        .map(|thread| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for n in 0.. {
                    let count = 1 + (n + thread) % 7;
                    let mut tx = Transaction::new();
                    for k in 0..count {
                        tx.append(entry_text(round, thread, n, k));
                    }
                    tx.put(
                        MARKS,
                        format!("{round}/{thread}/{n}").into_bytes(),
                        count.to_be_bytes().to_vec(),
                    );
                    tx.put_body(
                        BODIES,
                        format!("{round}/{thread}/{n}").into_bytes(),
                        body(round, thread, n),
                    );
                    if n > 0 {
                        tx.remove(BODIES, format!("{round}/{thread}/{}", n - 1).into_bytes());
                    }
                    let done = store.commit(tx).expect("child commit");
                    // The line goes out only after the commit is durable.
                    println!("ACK {} {thread} {n} {count}", done.first_index);
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[derive(Debug)]
struct Ack {
    first_index: u64,
    thread: u32,
    n: u32,
    count: u32,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut parts = line.strip_prefix("ACK ")?.split(' ');
    Some(Ack {
        first_index: parts.next()?.parse().ok()?,
        thread: parts.next()?.parse().ok()?,
        n: parts.next()?.parse().ok()?,
        count: parts.next()?.parse().ok()?,
    })
}

/// A small deterministic generator for the kill delays (no dependency needed).
fn next_delay(state: &mut u64) -> Duration {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    Duration::from_millis(30 + *state % 400)
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary path");
    let mut previous: Vec<Vec<u8>> = Vec::new();
    let mut rng = 0x5eed_u64;
    let mut total_acks = 0usize;
    let mut replayed = 0u64;

    let journal = dir.path().join(streha_store::LOG_DIR).join("journal");
    for round in 0u32.. {
        let journal_len = std::fs::metadata(&journal).map_or(0, |m| m.len());
        if round >= 6 && journal_len > 2 * streha_store::INDEX_SYNC_BYTES {
            eprintln!("{round} rounds, {journal_len} bytes of journal");
            break;
        }
        assert!(
            round < 60,
            "the journal reached only {journal_len} bytes in {round} rounds"
        );
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| parse_ack(&l))
                .collect::<Vec<_>>()
        });
        // Let it run until it has acknowledged something, then a random while longer.
        let delay = next_delay(&mut rng);
        let started = Instant::now();
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL the child");
        let _ = child.wait();
        let acks = reader.join().expect("reader thread");
        assert!(
            !acks.is_empty() || started.elapsed() < Duration::from_secs(5),
            "the child acknowledged nothing in {delay:?}"
        );
        total_acks += acks.len();

        let store = Store::open(dir.path(), ORIGIN, signer()).expect("reopen after SIGKILL");
        replayed += store.replayed_at_open();
        let size = store.tree_size();
        // Every acknowledged entry is present with the content the child wrote.
        for ack in &acks {
            for k in 0..ack.count {
                let index = ack.first_index + u64::from(k);
                assert!(
                    index < size,
                    "acknowledged entry {index} lost (size {size})"
                );
                let entry = store.entry(index).expect("read").expect("entry present");
                assert_eq!(entry, entry_text(round, ack.thread, ack.n, k));
            }
            let mark = store
                .get(
                    MARKS,
                    format!("{round}/{}/{}", ack.thread, ack.n).as_bytes(),
                )
                .expect("read state");
            assert!(
                mark.is_some(),
                "the state write of an acknowledged commit was lost"
            );
        }
        // A body is there, intact, until the thread's next commit removed it.
        for ack in &acks {
            let key = format!("{round}/{}/{}", ack.thread, ack.n);
            let stored = store.get(BODIES, key.as_bytes()).expect("read body");
            let next_acked = acks
                .iter()
                .any(|other| other.thread == ack.thread && other.n == ack.n + 1);
            // The next commit is in the store if its mark is (acknowledged or not).
            let next_committed = store
                .get(
                    MARKS,
                    format!("{round}/{}/{}", ack.thread, ack.n + 1).as_bytes(),
                )
                .expect("read state")
                .is_some();
            match stored {
                Some(stored) => assert_eq!(stored, body(round, ack.thread, ack.n)),
                None => assert!(
                    next_committed,
                    "the body of an acknowledged commit was lost"
                ),
            }
            if next_acked {
                assert!(
                    store.get(BODIES, key.as_bytes()).expect("read").is_none(),
                    "the acknowledged removal of {key} was lost"
                );
            }
        }
        // No orphan is left: exactly the referenced files are on disk.
        let on_disk = std::fs::read_dir(dir.path().join(streha_store::BODIES_DIR))
            .expect("body directory")
            .count();
        assert_eq!(store.body_files().expect("body files").len(), on_disk);
        // The log only grew: the previous round's log is a prefix of this one.
        assert!(size as usize >= previous.len());
        for (index, old) in previous.iter().enumerate() {
            let now = store.entry(index as u64).expect("read").expect("present");
            assert_eq!(&now, old, "entry {index} changed across a crash");
        }
        // Stored nodes, recomputation and the last checkpoint all agree.
        assert_eq!(store.recompute_root().expect("recompute"), store.root());
        if size > 0 {
            let cp = store.latest_checkpoint().expect("checkpoint");
            assert_eq!(cp.size, size);
            assert_eq!(cp.root, store.root());
        }
        previous = (0..size)
            .map(|i| store.entry(i).expect("read").expect("present"))
            .collect();
    }
    assert!(total_acks > 0, "no round acknowledged anything");
    // The batches since the last checkpoint were in the write-ahead log only: the test
    // exercised its replay, not just sled's recovery.
    assert!(replayed > 0, "no reopen replayed the write-ahead log");
}
