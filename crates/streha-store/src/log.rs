//! The store: the audit log in append-only files and the state in one sled database, written
//! together by group commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, RwLockReadGuard};

use streha_audit::{
    Checkpoint, CheckpointError, ConsistencyProof, Frontier, Hash, InclusionProof, LogBundle,
    NoteSigner, SignedNote, consistency_proof, inclusion_proof, leaf_hash,
};

#[path = "backup.rs"]
pub(crate) mod backup;

use crate::StoreError;
use crate::bodies::{Bodies, Place, body_hash};
use crate::datadir::{self, DirLock};
use crate::durability::Durability;
use crate::error::describe;
use crate::high_water::{self, HIGH_WATER_FILE, HighWater};
use crate::keys::{self, META_FORMAT, META_LOG, META_ORIGIN, META_WAL_SEQ, Stored};
use crate::logfiles::{LogFiles, Pending, Recorded};
use crate::meter::{CommitMeter, CommitStats, SyncedWrite};
use crate::tiles::{Tail, TileCache, TileNodes, TileWriter};
use crate::transaction::{Transaction, Write};
use crate::wal::{self, StateChanges, WriteAhead};

/// The largest audit entry the store accepts, matching the bundle format's limit.
pub const MAX_ENTRY_LEN: usize = streha_audit::MAX_BUNDLE_ENTRY_LEN;

/// Most transactions folded into one batch; bounds the latency a batch adds.
const MAX_BATCH_TRANSACTIONS: usize = 4096;

/// The result of one transaction of a batch, by its ticket.
type TicketResult = (u64, Result<Committed, StoreError>);
/// A key (without namespace byte) and its value.
type KeyValue = (Vec<u8>, Vec<u8>);

/// The one sled tree of storage formats 2 and 3 (see `keys`).
pub(crate) const TREE: &str = "streha-v2";
/// Trees of storage format 1; a store that has any is refused ([`StoreError::OldFormat`]).
const FORMAT_1_TREES: [&str; 5] = [
    "log_entries",
    "log_nodes",
    "log_meta",
    "log_checkpoints",
    "state",
];

/// A signed checkpoint the store issued, with its parsed size and root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size it commits to.
    pub size: u64,
    /// Root hash at that size.
    pub root: Hash,
    /// The signed note text (C2SP signed-note around a tlog-checkpoint body).
    pub note: String,
}

/// What a successful [`Store::commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Log index of the transaction's first appended entry (the tree size before it, if it
    /// appended nothing).
    pub first_index: u64,
    /// How many entries it appended.
    pub count: u64,
    /// Tree size after the batch it was part of.
    pub tree_size: u64,
    /// The checkpoint signed for that batch (`None` if the batch appended nothing).
    pub checkpoint: Option<Arc<StoredCheckpoint>>,
}

/// The durable store of one node: its audit log and its state.
///
/// `Store` is `Sync`; share it behind an `Arc`. All writes go through [`Store::commit`].
pub struct Store {
    path: PathBuf,
    origin: String,
    db: sled::Db,
    /// The log files' lengths, the body references and the state (see `keys`).
    tree: sled::Tree,
    /// The audit log: entries, tiles, checkpoints (see `logfiles`).
    log: LogFiles,
    bodies: Bodies,
    /// The interiors of complete tiles, once computed (see `tiles`).
    tile_cache: TileCache,
    durability: Durability,
    signer: NoteSigner,
    group: Mutex<Group>,
    group_changed: Condvar,
    head: Mutex<Head>,
    /// Readers hold it shared; a batch holds it exclusively while it applies its state to
    /// sled (already durable in the write-ahead log), releases the bodies it dropped and
    /// moves the head, so that a reader sees a batch whole or not at all, and never a body
    /// reference whose bytes are gone.
    gate: RwLock<()>,
    /// Set, for good, when a batch failed once any of it may have been written: from then
    /// on the store serves nothing.
    failed: AtomicBool,
    /// Batches replayed from the write-ahead log when the store was opened.
    replayed: u64,
    /// What the batches made durable so far cost (`Store::commit_stats`).
    meter: CommitMeter,
    /// Called once when the store fails (see [`Store::on_failure`]).
    failure_hook: OnceLock<Box<dyn Fn() + Send + Sync>>,
    high_water: Mutex<HighWater>,
    /// Held while the store is open; released when it is dropped or the process ends.
    _lock: DirLock,
}

impl Drop for Store {
    fn drop(&mut self) {
        if !self.failed.load(Ordering::Acquire) {
            // A clean close leaves nothing to replay (the next open writes nothing).
            let mut head = lock(&self.head);
            if !head.wal.is_empty()
                && let Err(e) = self.checkpoint_write_ahead(&mut head.wal)
            {
                tracing::warn!(error = %e, "could not checkpoint the write-ahead log at close; the next start replays it");
                // sled's own flush on drop could now wait for good (below).
                self.failed.store(true, Ordering::Release);
            }
        }
        if self.failed.load(Ordering::Acquire) {
            // sled flushes its dirty pages when its last handle is dropped, and after an IO
            // error that flush can block for good (or write the failed batch after all).
            // Keep the handles alive until the process ends: what is on disk stays what it
            // was when the failure was seen.
            std::mem::forget(self.db.clone());
            std::mem::forget(self.tree.clone());
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Group {
    next_ticket: u64,
    pending: Vec<(u64, Transaction)>,
    done: HashMap<u64, Result<Committed, StoreError>>,
    leader_active: bool,
}

/// What a state key holds during a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Absent,
    Inline,
    Body([u8; 32], u64, Place),
}

struct Head {
    /// The write-ahead log: a batch's one durable write besides the mark (see `wal`).
    wal: WriteAhead,
    frontier: Frontier,
    checkpoint: Option<Arc<StoredCheckpoint>>,
    /// The leaf hashes of the incomplete tile (see `tiles`).
    tail: Arc<Tail>,
}

/// sled's page cache (`spec/protocol.md` §11). sled counts a cached page by its size on
/// disk, and holds it in memory as a tree node whose keys and values are allocations of their
/// own: under a node's load (small values under random envelope ids) a cache of *c* bytes
/// takes about 2.5 *c* of heap (issue 19, `BENCHMARKS.md`: 48 MiB took about 120 MiB, and a
/// daemon under sustained load grew past 180 MiB). sled's default (1 GiB) is far worse.
/// Proofs read the newest tiles, which stay cached, and a lookup by envelope id reads one
/// leaf of a few hundred bytes, so a small cache costs little.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// How long opening waits for sled's own lock on `db` (see [`open_sled`]).
const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether sled could not open because another handle holds its lock on `db`.
fn is_sled_lock_held(error: &std::io::Error) -> bool {
    error.to_string().starts_with("could not acquire lock")
}

/// Opens sled in `path`, saying what a failure means: sled's recovery writes (a full disk
/// fails it), and a damaged file can make it panic rather than return an error.
fn open_sled(path: &Path) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new().path(path).cache_capacity(CACHE_BYTES);
    let open = || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
    let mut opened = open();
    // Our own lock (`store.lock`) is already held, so sled's lock on `db` is held either by a
    // process of an older version or by a store of this process dropped a moment ago: sled's
    // flusher thread lets go of it shortly after the last handle. Wait for the latter.
    let deadline = std::time::Instant::now() + SLED_LOCK_WAIT;
    while matches!(&opened, Ok(Err(sled::Error::Io(e))) if is_sled_lock_held(e))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
        opened = open();
    }
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(sled::Error::Io(e))) if e.kind() == std::io::ErrorKind::StorageFull => {
            Err(StoreError::DiskFull {
                path: path.to_path_buf(),
            })
        }
        Ok(Err(sled::Error::Io(e))) if is_sled_lock_held(&e) => {
            // sled's own lock on `db`: a process that did not take ours (an older version).
            Err(StoreError::InUse {
                path: path.to_path_buf(),
                pid: None,
            })
        }
        Ok(Err(e @ (sled::Error::Corruption { .. } | sled::Error::ReportableBug(_)))) => {
            Err(StoreError::Unrecoverable {
                path: path.to_path_buf(),
                detail: describe(&e),
            })
        }
        Ok(Err(source)) => Err(StoreError::Database {
            path: path.to_path_buf(),
            source,
        }),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".to_owned());
            Err(StoreError::Unrecoverable {
                path: path.to_path_buf(),
                detail: format!("sled failed while reading its log ({detail})"),
            })
        }
    }
}

/// Opens the write-ahead log and replays its current cycle: the journal bytes and the state
/// changes of every record written again, and both made durable. Returns the log, how many records were replayed, and the error to report
/// if sled's state is older than the cycle (nothing replayed; see `wal::Opened`).
fn replay_write_ahead(
    path: &Path,
    db: &sled::Db,
    tree: &sled::Tree,
    durability: &Durability,
) -> Result<(WriteAhead, u64, Option<StoreError>), StoreError> {
    let db_err = |source| StoreError::Database {
        path: path.to_path_buf(),
        source,
    };
    let state_seq = match tree.get(META_WAL_SEQ).map_err(db_err)? {
        None => 0,
        Some(bytes) => {
            let bytes: [u8; 8] = bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: "the write-ahead log's position in the state is malformed".into(),
            })?;
            u64::from_be_bytes(bytes)
        }
    };
    let wal::Opened {
        wal,
        records,
        state_behind,
    } = WriteAhead::open(path, state_seq)?;
    if state_behind.is_some() || records.is_empty() {
        return Ok((wal, 0, state_behind));
    }
    let parts: Vec<(u64, &[u8])> = records
        .iter()
        .map(|record| (record.journal_offset, record.journal.as_slice()))
        .collect();
    LogFiles::restore_journal(path, &parts)?;
    // Every record, not only those past sled's number: a batch reaches sled key by key, so
    // sled may hold part of one (its number is its last change).
    let applied = records
        .iter()
        .try_for_each(|record| tree.apply_batch(record.state().to_sled()))
        .and_then(|()| db.flush().map(drop))
        .map_err(|source| match source {
            sled::Error::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                StoreError::DiskFull {
                    path: path.to_path_buf(),
                }
            }
            source => db_err(source),
        })
        .and_then(|()| durability.sync());
    if let Err(e) = applied {
        // sled flushes when its last handle is dropped, and after a failed write that
        // flush can wait for good: keep the handles, so that the open fails instead of
        // hanging (the process exits; the next start replays again).
        std::mem::forget(db.clone());
        std::mem::forget(tree.clone());
        return Err(e);
    }
    // The cycle is kept (the next batch follows its last record; replaying it again is
    // harmless): an open refused later, say by the high-water mark, leaves the log as it was.
    tracing::info!(
        batches = records.len(),
        new_to_sled = records.iter().filter(|r| r.seq > state_seq).count(),
        "replayed the write-ahead log"
    );
    Ok((wal, records.len() as u64, None))
}

/// Locks `mutex`, poisoned or not. Shared by the store's modules (`logfiles` too).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them half-updated (every update is a
    // single assignment after the durable write), so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    /// Opens (or creates) the store in `path` for the log named `origin`, whose checkpoints
    /// `signer` signs. Reopening after a crash finds the log at its last durable batch; the
    /// stored nodes are checked against the last checkpoint, and the log against the
    /// high-water mark (the last checkpoint signed, kept outside sled).
    ///
    /// A missing directory is created mode 0700; the directory is locked against a second
    /// process (the lock names this process id); incomplete snapshots sled left behind are
    /// removed (see `datadir`); sled's files lose any group or other permission.
    ///
    /// # Errors
    /// [`StoreError::InUse`] if another process has the store open,
    /// [`StoreError::WrongOrigin`] if the directory holds another log,
    /// [`StoreError::DiskFull`] if sled cannot recover for lack of space,
    /// [`StoreError::RolledBack`] or [`StoreError::Diverged`] if sled recovered a log shorter
    /// than, or different from, the one this node signed, [`StoreError::Corrupt`],
    /// [`StoreError::Unrecoverable`] or [`StoreError::HighWater`] if the files are damaged,
    /// [`StoreError::LogFileShort`] or [`StoreError::LogIndex`] if a log file lost
    /// committed bytes or its index disagrees with it, or another database or IO error.
    ///
    /// A store of storage format 2 (the log in sled) is migrated first (see `migrate`);
    /// bytes past the log files' committed lengths (a batch that never committed) are
    /// truncated once the high-water mark has been checked.
    pub fn open(
        path: impl AsRef<Path>,
        origin: &str,
        signer: NoteSigner,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        datadir::create_private(&path)?;
        let lock = datadir::lock(&path)?;
        datadir::remove_incomplete_snapshots(&path)?;
        datadir::restrict_modes(&path)?;
        // Read before sled touches anything: the mark is what the store must still hold.
        let high_water_path = path.join(HIGH_WATER_FILE);
        let mark = high_water::read(&high_water_path, origin, &signer.verifier())?;
        // A checkpoint of this origin must fit the mark's slot (checked once, here).
        let longest = streha_audit::sign_checkpoint(
            &Checkpoint::new(origin.to_owned(), u64::MAX, Hash::from([0xff; 32]))
                .map_err(|e| StoreError::Audit(e.to_string()))?,
            &signer,
        )
        .to_text();
        if longest.len() > high_water::MAX_NOTE_LEN {
            return Err(StoreError::Audit(format!(
                "the log origin `{origin}` is too long: its checkpoints would not fit the high-water mark"
            )));
        }

        let db_err = |source| StoreError::Database {
            path: path.clone(),
            source,
        };
        let db = open_sled(&path)?;
        let names = db.tree_names();
        if FORMAT_1_TREES
            .iter()
            .any(|old| names.iter().any(|name| name.as_ref() == old.as_bytes()))
        {
            return Err(StoreError::OldFormat { path: path.clone() });
        }
        let tree = db.open_tree(TREE).map_err(db_err)?;
        let durability = Durability::open(&path)?;
        let bodies = Bodies::open(&path)?;

        let corrupt = |detail: String| StoreError::Corrupt {
            path: path.clone(),
            detail,
        };
        // Before anything reads sled or the log files: the batches committed since the last
        // checkpoint are in the write-ahead log only.
        let (wal, replayed, state_behind) = replay_write_ahead(&path, &db, &tree, &durability)?;
        let found_origin = tree.get(META_ORIGIN).map_err(db_err)?;
        if let Some(found) = &found_origin
            && found.as_ref() != origin.as_bytes()
        {
            return Err(StoreError::WrongOrigin {
                expected: origin.to_owned(),
                found: String::from_utf8_lossy(found).into_owned(),
            });
        }
        match tree.get(META_FORMAT).map_err(db_err)? {
            None if found_origin.is_none() => {}
            Some(format) if format.as_ref() == keys::FORMAT.to_be_bytes() => {}
            Some(format) if format.as_ref() == keys::FORMAT_2.to_be_bytes() => {
                // Before anything else reads the log: it moves to the log files.
                crate::migrate::from_format_2(&path, &db, &tree, &durability)?;
            }
            _ => return Err(corrupt("the storage format is missing or unknown".into())),
        }
        let recorded = match tree.get(META_LOG).map_err(db_err)? {
            Some(bytes) => Recorded::decode(&bytes).ok_or_else(|| {
                corrupt("the recorded lengths of the log files are malformed".into())
            })?,
            None if found_origin.is_none() => Recorded::default(),
            None => {
                return Err(corrupt(
                    "the lengths of the log files are not recorded".into(),
                ));
            }
        };
        // Shorter than recorded is refused here; longer (a batch that never committed) is
        // truncated once the mark has shown that sled's lengths are not a rollback. The
        // indexes past their last sync are rebuilt from the journal before anything reads
        // them (the journal itself is not changed).
        let log = LogFiles::open(&path, recorded)?;
        let size = recorded.log.size;
        // Before anything is written, even the indexes: a log that lost entries must not be
        // extended, and keeps every byte for the operator.
        if let Some(mark) = &mark
            && size < mark.size
        {
            return Err(StoreError::RolledBack {
                path: path.clone(),
                high_water: high_water_path,
                recovered: size,
                expected: mark.size,
            });
        }
        log.rebuild_indexes()?;
        // The last checkpoint is the log's head: every batch that appends writes one.
        let last = match recorded.log.checkpoints {
            0 => None,
            count => Some(
                log.checkpoint(count - 1)
                    .map_err(|e| e.into_store_error(&path))?
                    .1,
            ),
        };
        let tail = Tail::load(&log, size)
            .map_err(|e| corrupt(format!("cannot read the last tiles: {e}")))?;
        let tiles = TileNodes {
            files: &log,
            size,
            tail: Some(&tail),
            cache: None,
        };
        // Before the journal is truncated: a log that diverged from what it signed must not
        // be extended.
        if let Some(mark) = &mark {
            let root = Frontier::from_source(mark.size, &tiles)
                .map(|frontier| frontier.root())
                .map_err(|e| {
                    corrupt(format!(
                        "cannot rebuild the tree at the high-water size {}: {e}",
                        mark.size
                    ))
                })?;
            if root != mark.root {
                return Err(StoreError::Diverged {
                    path: path.clone(),
                    high_water: high_water_path,
                    size: mark.size,
                });
            }
        }
        // sled lost what a checkpoint made durable, and the mark did not already name it a
        // rollback (no entry was lost, or there is no mark): refused before anything is
        // truncated.
        if let Some(e) = state_behind {
            return Err(e);
        }
        log.truncate_uncommitted()?;
        if found_origin.is_none() {
            let mut batch = sled::Batch::default();
            batch.insert(META_ORIGIN, origin.as_bytes());
            batch.insert(META_FORMAT, &keys::FORMAT.to_be_bytes());
            batch.insert(META_LOG, Recorded::default().encode());
            tree.apply_batch(batch).map_err(db_err)?;
            db.flush().map_err(db_err)?;
            durability.sync()?;
        }
        // What a migration from format 2 left in sled (an interrupted removal).
        crate::migrate::remove_format_2_keys(&path, &db, &tree)?;
        // Bodies: every reference has its file; files nothing references go.
        let references = Bodies::references(&tree).map_err(corrupt)?;
        bodies.collect(&path, &references)?;

        let frontier = Frontier::from_source(size, &tiles)
            .map_err(|e| corrupt(format!("cannot rebuild the tree at size {size}: {e}")))?;
        let checkpoint = match last {
            None => None,
            Some(note) => {
                let parsed = SignedNote::parse(&note)
                    .map_err(CheckpointError::from)
                    .and_then(|n| Checkpoint::parse_body(n.body()))
                    .map_err(|e| corrupt(format!("the last checkpoint does not parse: {e}")))?;
                if parsed.size() != size || parsed.root() != &frontier.root() {
                    return Err(corrupt(format!(
                        "the last checkpoint (size {}) does not match the stored tree (size {size})",
                        parsed.size()
                    )));
                }
                Some(Arc::new(StoredCheckpoint {
                    size,
                    root: frontier.root(),
                    note,
                }))
            }
        };
        let mut high_water = HighWater::open(&high_water_path, mark.as_ref())?;
        match (&mark, &checkpoint) {
            (Some(mark), Some(checkpoint)) if mark.size == checkpoint.size => {}
            (mark, Some(checkpoint)) => {
                // No mark yet (a store from before marks, or its file moved aside), or one a
                // crash left behind the last durable batch: the store's own checkpoint is it.
                if mark.is_none() {
                    tracing::warn!(
                        path = %high_water_path.display(),
                        size,
                        "no high-water mark: recording the store's last checkpoint as the mark; \
                         the size the log had before cannot be checked this once"
                    );
                }
                high_water.record(&checkpoint.note)?;
            }
            _ => {}
        }
        // Every check passed: what the replayed cycle held is durable in sled and the
        // journal (the replay synced both), so a new cycle starts, and a close that committed
        // nothing needs no checkpoint (sled's flush can block for good on a full disk).
        let mut wal = wal;
        if replayed > 0 {
            wal.restart()?;
        }
        tracing::info!(path = %path.display(), origin, size, replayed, "opened store");

        Ok(Self {
            path,
            origin: origin.to_owned(),
            db,
            tree,
            log,
            bodies,
            tile_cache: TileCache::default(),
            durability,
            signer,
            group: Mutex::new(Group::default()),
            group_changed: Condvar::new(),
            head: Mutex::new(Head {
                wal,
                frontier,
                checkpoint,
                tail: Arc::new(tail),
            }),
            gate: RwLock::new(()),
            meter: CommitMeter::default(),
            failed: AtomicBool::new(false),
            failure_hook: OnceLock::new(),
            high_water: Mutex::new(high_water),
            replayed,
            _lock: lock,
        })
    }

    /// Calls `hook` once, from the thread that saw it, when the store fails (a batch could
    /// not be made durable; from then on every call returns [`StoreError::Poisoned`]); at
    /// once if it has failed already. Only the first hook set is kept. A node uses it to stop
    /// and restart from disk.
    pub fn on_failure(&self, hook: impl Fn() + Send + Sync + 'static) {
        let _ = self.failure_hook.set(Box::new(hook));
        if self.has_failed() {
            self.call_failure_hook();
        }
    }

    /// Whether the store has failed (see [`Store::on_failure`]).
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Marks the store failed for good after `what` went wrong (what is on disk is unknown
    /// until it is reopened), with a log line; returns the error's text for the callers.
    fn fail(&self, what: &str, error: &StoreError) -> String {
        self.failed.store(true, Ordering::Release);
        let detail = error.to_string();
        tracing::error!(
            path = %self.path.display(),
            error = %detail,
            "{what}; the store serves nothing more"
        );
        detail
    }

    fn call_failure_hook(&self) {
        if let Some(hook) = self.failure_hook.get() {
            hook();
        }
    }

    /// Bytes available (to the unprivileged) on the file system holding the store.
    ///
    /// # Errors
    /// The OS error of `statvfs`.
    pub fn available_bytes(&self) -> std::io::Result<u64> {
        datadir::available_bytes(&self.path)
    }

    /// A shared hold of the gate for a read, refused once the store has failed.
    fn readable(&self) -> Result<RwLockReadGuard<'_, ()>, StoreError> {
        let guard = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        if self.failed.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned);
        }
        Ok(guard)
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `tx` durably, together with whatever other transactions are waiting (group
    /// commit), and returns once its batch is flushed and `fsync`ed. Blocks the calling
    /// thread.
    ///
    /// # Errors
    /// [`StoreError::GuardFailed`] if a guard of `tx` did not hold (nothing of `tx` was
    /// written); [`StoreError::EntryTooLarge`] for an oversized entry; a database or IO error
    /// if the batch could not be made durable (then nothing of it is acknowledged, and if it
    /// may have been partly written, the store refuses further writes:
    /// [`StoreError::Poisoned`]).
    pub fn commit(&self, tx: Transaction) -> Result<Committed, StoreError> {
        self.commit_many(vec![tx])
            .pop()
            .unwrap_or(Err(StoreError::Poisoned))
    }

    /// Applies several independent transactions durably, like as many concurrent calls of
    /// [`Store::commit`] (they share batches with each other and with other callers), and
    /// returns their results in order once all are flushed and `fsync`ed. Blocks the calling
    /// thread. One failing transaction does not fail the others.
    ///
    /// A caller that gathers the transactions of many requests (a node's commit thread) so
    /// commits them with one blocked thread instead of one per request.
    pub fn commit_many(&self, txs: Vec<Transaction>) -> Vec<Result<Committed, StoreError>> {
        let mut results: Vec<Option<Result<Committed, StoreError>>> =
            (0..txs.len()).map(|_| None).collect();
        let mut tickets = Vec::with_capacity(txs.len());
        let mut group = lock(&self.group);
        for (position, tx) in txs.into_iter().enumerate() {
            if let Some(entry) = tx.appends.iter().find(|e| e.len() > MAX_ENTRY_LEN) {
                results[position] = Some(Err(StoreError::EntryTooLarge {
                    len: entry.len(),
                    max: MAX_ENTRY_LEN,
                }));
            } else if self.has_failed() {
                results[position] = Some(Err(StoreError::Poisoned));
            } else {
                let ticket = group.next_ticket;
                group.next_ticket += 1;
                group.pending.push((ticket, tx));
                tickets.push((ticket, position));
            }
        }
        while !tickets.is_empty() {
            tickets.retain(|&(ticket, position)| match group.done.remove(&ticket) {
                Some(result) => {
                    results[position] = Some(result);
                    false
                }
                None => true,
            });
            if tickets.is_empty() {
                break;
            }
            if !group.leader_active {
                // Lead one batch: everything queued so far, up to the batch limit.
                group.leader_active = true;
                let take = group.pending.len().min(MAX_BATCH_TRANSACTIONS);
                let batch: Vec<_> = group.pending.drain(..take).collect();
                drop(group);
                let (done, failed_now) = self.run_batch(batch);
                if failed_now {
                    self.call_failure_hook();
                }
                group = lock(&self.group);
                group.leader_active = false;
                group.done.extend(done);
                self.group_changed.notify_all();
                continue;
            }
            group = self
                .group_changed
                .wait(group)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(group);
        results
            .into_iter()
            .map(|result| result.unwrap_or(Err(StoreError::Poisoned)))
            .collect()
    }

    /// Applies one batch. Returns each transaction's result and whether the store failed
    /// with it (a failure once sled may have applied the batch: what is on disk is unknown,
    /// and sled's memory may hold what is not on disk).
    fn run_batch(&self, batch: Vec<(u64, Transaction)>) -> (Vec<TicketResult>, bool) {
        if self.has_failed() {
            let refused = batch
                .into_iter()
                .map(|(ticket, _)| (ticket, Err(StoreError::Poisoned)))
                .collect();
            return (refused, false);
        }
        let started = std::time::Instant::now();
        let mut head = lock(&self.head);
        let mut frontier = head.frontier.clone();
        let mut tiles = TileWriter::new(Tail::clone(&head.tail));
        // What the batch appends to the log files, from their committed ends.
        let mut pending = Pending::new(self.log.committed());
        let start_size = frontier.size();
        let mut overlay: HashMap<Vec<u8>, Slot> = HashMap::new();
        let mut results = Vec::with_capacity(batch.len());
        let mut accepted = Vec::with_capacity(batch.len());
        // Everything the batch changes in sled, written ahead and applied at once (see
        // `keys`, `wal`).
        let mut state = StateChanges::default();
        // Bodies whose reference the batch drops: released once it is durable, if no other
        // reference is left to their place.
        let mut dropped: Vec<([u8; 32], u64, Place)> = Vec::new();
        // Bodies the accepted transactions appended: committed with the batch.
        let mut appended: Vec<Place> = Vec::new();
        let mut wrote_bodies = false;

        for (ticket, tx) in batch {
            if let Err(e) = self.check_guards(&tx, &overlay) {
                results.push((ticket, Err(e)));
                continue;
            }
            // Bodies first, before anything of the transaction is in the batch: a failure
            // leaves at worst bytes no commit references (released at open).
            let mut bodies = Vec::new();
            let written = tx.writes.iter().try_for_each(|write| {
                if let Write::PutBody { body, .. } = write {
                    wrote_bodies = true;
                    let place = self.bodies.append(body)?;
                    bodies.push((body_hash(body), place));
                }
                Ok::<(), StoreError>(())
            });
            if let Err(e) = written {
                results.push((ticket, Err(e)));
                continue;
            }
            appended.extend(bodies.iter().map(|(_, place)| *place));
            let mut bodies = bodies.into_iter();

            let first_index = frontier.size();
            for entry in &tx.appends {
                for (level, node_index, hash) in frontier.append(leaf_hash(entry)) {
                    if let Err(e) = tiles.add(level, node_index, hash) {
                        return self.refuse_batch(results, accepted, ticket, &e.to_string());
                    }
                    pending.push_node(level, &hash);
                }
                pending.push_entry(entry);
            }
            for write in tx.writes {
                let (key, slot) = match write {
                    Write::Put { key, value } => {
                        state.insert(&key, keys::inline_value(&value));
                        (key, Slot::Inline)
                    }
                    Write::PutFirstIndex { key, suffix } => {
                        let mut value = first_index.to_be_bytes().to_vec();
                        value.extend_from_slice(&suffix);
                        state.insert(&key, keys::inline_value(&value));
                        (key, Slot::Inline)
                    }
                    Write::PutBody { key, body } => {
                        let Some((hash, place)) = bodies.next() else {
                            let detail = "a body of the transaction was not appended";
                            return self.refuse_batch(results, accepted, ticket, detail);
                        };
                        let len = body.len() as u64;
                        state.insert(&key, &keys::body_value(&hash, len)[..]);
                        (key, Slot::Body(hash, len, place))
                    }
                    Write::Remove { key } => {
                        state.remove(&key);
                        (key, Slot::Absent)
                    }
                };
                match self.slot(&key, &overlay) {
                    Ok(Slot::Body(old, len, place)) => {
                        state.remove(&keys::body_ref(&old, &key));
                        dropped.push((old, len, place));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return self.refuse_batch(results, accepted, ticket, &e.to_string());
                    }
                }
                if let Slot::Body(hash, len, place) = slot {
                    state.insert(&keys::body_ref(&hash, &key), place.reference_value(len));
                }
                overlay.insert(key, slot);
            }
            accepted.push((ticket, first_index, tx.appends.len() as u64));
        }
        if accepted.is_empty() {
            return (results, false);
        }
        let (tail, filled) = tiles.finish();

        let end_size = frontier.size();
        let checkpoint = if end_size > start_size {
            let root = frontier.root();
            let body = Checkpoint::new(self.origin.clone(), end_size, root);
            let note = match body.map(|cp| streha_audit::sign_checkpoint(&cp, &self.signer)) {
                Ok(note) => note.to_text(),
                Err(e) => {
                    let detail = format!("could not sign the checkpoint: {e}");
                    for (ticket, _, _) in accepted {
                        results.push((ticket, Err(StoreError::Audit(detail.clone()))));
                    }
                    return (results, false);
                }
            };
            Some(Arc::new(StoredCheckpoint {
                size: end_size,
                root,
                note,
            }))
        } else {
            None
        };
        // The last checkpoint is the log's size and head.
        if let Some(cp) = &checkpoint {
            pending.push_checkpoint(end_size, &cp.note);
        }
        // The bodies are durable before the batch that references them.
        if wrote_bodies && let Err(e) = self.bodies.sync() {
            // Nothing of the batch is applied: it is refused, known unwritten.
            for (ticket, _, _) in accepted {
                let source = std::io::Error::new(e.kind(), e.to_string());
                results.push((ticket, Err(self.bodies.not_written(source))));
            }
            return (results, false);
        }

        // Room for the batch's record, before anything of it is written: a record larger
        // than the write-ahead log grows the file now, and a full disk refuses the batch
        // known unwritten.
        let bound = wal::record_len_bound(pending.journal_len(), &state);
        if let Err(e) = head.wal.reserve(bound) {
            for (ticket, _, _) in accepted {
                results.push((ticket, Err(head.wal.not_reserved(&e))));
            }
            return (results, false);
        }

        // The journal bytes at the log's committed end, not synced: until the batch's record
        // is durable, what is past that end does not count (and is truncated away at the
        // next open). Readers read only up to the committed ends.
        let journal_started = std::time::Instant::now();
        let recorded = if pending.is_empty() {
            self.log.recorded()
        } else {
            match self.log.append(&pending) {
                Ok(recorded) => {
                    // The files' new lengths commit with the state that goes with them.
                    state.insert(META_LOG, recorded.encode());
                    recorded
                }
                Err(e) => {
                    // The files may hold bytes of a batch that failed, and a failed sync of
                    // the indexes leaves the page cache untrustworthy: the store stops and is
                    // reopened from disk, as after any failed commit.
                    let detail = self.fail("the log files could not be appended to", &e);
                    for (ticket, _, _) in accepted {
                        results.push((ticket, Err(StoreError::CommitFailed(detail.clone()))));
                    }
                    return (results, true);
                }
            }
        };
        let seq = head.wal.next_seq();
        state.insert(META_WAL_SEQ, seq.to_be_bytes());
        let (journal_offset, journal_bytes) = LogFiles::journal_part(&pending);

        // The commit point: the batch's record, synced (after a checkpoint if the log is
        // full), then the high-water mark. Only then does sled see the batch.
        let written = wal::encode(seq, journal_offset, journal_bytes, &state)
            .map_err(StoreError::Audit)
            .and_then(|record| {
                let mut checkpointed = std::time::Duration::ZERO;
                if !head.wal.fits(record.len()) {
                    let checkpoint_started = std::time::Instant::now();
                    self.checkpoint_write_ahead(&mut head.wal)?;
                    checkpointed = checkpoint_started.elapsed();
                }
                head.wal.append(&record)?;
                self.meter.synced(
                    SyncedWrite::Journal,
                    journal_started.elapsed() - checkpointed,
                );
                if !checkpointed.is_zero() {
                    self.meter.synced(SyncedWrite::State, checkpointed);
                }
                let Some(cp) = &checkpoint else {
                    return Ok(());
                };
                let mark_started = std::time::Instant::now();
                lock(&self.high_water).record(&cp.note)?;
                self.meter
                    .synced(SyncedWrite::HighWater, mark_started.elapsed());
                Ok(())
            });
        if let Err(e) = written {
            // The record may be durable or not: the outcome is known only when the store is
            // reopened from disk (and replays it, or not).
            let detail = self.fail("a commit could not be made durable", &e);
            for (ticket, _, _) in accepted {
                results.push((ticket, Err(StoreError::CommitFailed(detail.clone()))));
            }
            return (results, true);
        }

        // Durable: now readers may see it, whole.
        let gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let state_started = std::time::Instant::now();
        if let Err(source) = state.apply_to(&self.tree) {
            // Committed on disk, but sled's memory may hold part of it: stop serving; the
            // next open replays the record.
            let e = StoreError::Database {
                path: self.path.clone(),
                source,
            };
            let detail = self.fail("a committed batch could not be applied", &e);
            drop(gate);
            for (ticket, _, _) in accepted {
                results.push((ticket, Err(StoreError::CommitFailed(detail.clone()))));
            }
            return (results, true);
        }
        self.meter
            .synced(SyncedWrite::State, state_started.elapsed());
        // The batch that dropped these references is durable: release the bodies no
        // reference is left to. Under the gate, so that no reader holds a reference it read
        // before the batch. A failure here leaves an orphan, released at the next open.
        self.bodies.committed(appended);
        for (hash, len, place) in dropped {
            let still_referenced = self
                .tree
                .scan_prefix(keys::body_ref_prefix(&hash))
                .values()
                .any(|value| {
                    value.is_ok_and(|value| {
                        Place::parse_reference(&value).is_some_and(|(_, at)| at == place)
                    })
                });
            if !still_referenced && let Err(e) = self.bodies.release(&hash, len, place) {
                tracing::warn!(error = %e, "could not release a body no longer referenced; it is released at the next start");
            }
        }

        self.log.set_recorded(recorded);
        // Tiles the batch filled never change again: their interiors are kept.
        for (row, tile, interior) in filled {
            self.tile_cache.insert(row, tile, interior);
        }
        head.frontier = frontier;
        head.tail = Arc::new(tail);
        if checkpoint.is_some() {
            head.checkpoint = checkpoint.clone();
        }
        drop(gate);
        self.meter.batch(
            accepted.len() as u64,
            end_size - start_size,
            started.elapsed(),
        );
        for (ticket, first_index, count) in accepted {
            results.push((
                ticket,
                Ok(Committed {
                    first_index,
                    count,
                    tree_size: end_size,
                    checkpoint: checkpoint.clone(),
                }),
            ));
        }
        (results, false)
    }

    /// Makes everything the write-ahead log's current cycle holds durable where it belongs
    /// — the journal synced, sled flushed and its files synced — and starts a new cycle.
    /// Called with the head held (no batch in between), by a batch whose record does not
    /// fit, at a clean close, and before writes that bypass the log (the index sync, a new
    /// epoch).
    ///
    /// # Errors
    /// The IO or database error; the caller fails the store.
    fn checkpoint_write_ahead(&self, wal: &mut WriteAhead) -> Result<(), StoreError> {
        self.log.sync_journal()?;
        self.db.flush().map_err(|source| StoreError::Database {
            path: self.path.clone(),
            source,
        })?;
        self.durability.sync()?;
        wal.restart()
    }

    /// Fails a batch whose reads failed before it was applied (sled reports an earlier IO
    /// error on every later call, or the stored tiles do not line up): nothing of it was
    /// written, but sled is no longer trusted, so the store stops like after a failed
    /// commit. Every transaction accepted so far and the one being built (`ticket`) fail.
    fn refuse_batch(
        &self,
        mut results: Vec<TicketResult>,
        accepted: Vec<(u64, u64, u64)>,
        ticket: u64,
        detail: &str,
    ) -> (Vec<TicketResult>, bool) {
        self.failed.store(true, Ordering::Release);
        tracing::error!(
            path = %self.path.display(),
            error = %detail,
            "a batch could not be prepared; the store serves nothing more"
        );
        for ticket in accepted.into_iter().map(|(t, _, _)| t).chain([ticket]) {
            results.push((ticket, Err(StoreError::CommitFailed(detail.to_owned()))));
        }
        (results, true)
    }

    /// What `key` holds at this point of a batch (earlier writes of the batch included).
    fn slot(&self, key: &[u8], overlay: &HashMap<Vec<u8>, Slot>) -> Result<Slot, StoreError> {
        if let Some(slot) = overlay.get(key) {
            return Ok(*slot);
        }
        Ok(
            match self.tree.get(key).map_err(|source| self.db_error(source))? {
                None => Slot::Absent,
                Some(stored) => match keys::parse_value(&stored) {
                    Some(Stored::Body { hash, len }) => {
                        Slot::Body(hash, len, self.body_place(&hash, len, key)?)
                    }
                    _ => Slot::Inline,
                },
            },
        )
    }

    fn check_guards(
        &self,
        tx: &Transaction,
        overlay: &HashMap<Vec<u8>, Slot>,
    ) -> Result<(), StoreError> {
        let present = |key: &Vec<u8>| -> Result<bool, StoreError> {
            match overlay.get(key) {
                Some(slot) => Ok(*slot != Slot::Absent),
                None => self
                    .tree
                    .contains_key(key)
                    .map_err(|source| self.db_error(source)),
            }
        };
        for key in &tx.absent {
            if present(key)? {
                return Err(StoreError::GuardFailed("present"));
            }
        }
        for key in &tx.present {
            if !present(key)? {
                return Err(StoreError::GuardFailed("absent"));
            }
        }
        Ok(())
    }

    // Reads: every one holds the gate shared (see `gate`) and fails with
    // `StoreError::Poisoned` once the store has failed. The head (`tree_size`, `root`,
    // `latest_checkpoint`) changes only once a batch is durable, so it needs no gate.

    /// Makes the log's index files durable as far as the log reaches and records that, so
    /// that the next open rebuilds nothing from the journal (a clean shutdown calls it;
    /// batches do it on their own every [`crate::INDEX_SYNC_BYTES`] of journal).
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] if the store has failed; [`StoreError::CommitFailed`] if
    /// the sync or the record of it failed (the store fails with it, as after any failed
    /// commit).
    pub fn sync_log_indexes(&self) -> Result<(), StoreError> {
        // Holding the head: no batch writes the files or sled meanwhile.
        let mut head = lock(&self.head);
        if self.has_failed() {
            return Err(StoreError::Poisoned);
        }
        let recorded = self.log.recorded();
        if recorded.indexes == recorded.log {
            return Ok(());
        }
        let synced = Recorded::synced(recorded.log);
        // Not through the write-ahead log: the checkpoint that follows makes it durable, with
        // everything the log's cycle held (a clean shutdown leaves nothing to replay).
        let durable = self.log.sync_indexes().and_then(|()| {
            self.tree
                .insert(META_LOG, synced.encode())
                .map_err(|source| StoreError::Database {
                    path: self.path.clone(),
                    source,
                })
                .and_then(|_| self.checkpoint_write_ahead(&mut head.wal))
        });
        if let Err(e) = durable {
            let detail = self.fail("the log's indexes could not be made durable", &e);
            self.call_failure_hook();
            return Err(StoreError::CommitFailed(detail));
        }
        self.log.set_recorded(synced);
        Ok(())
    }

    /// How many batches opening the store replayed from the write-ahead log: 0 after a clean
    /// close, the batches committed since the last checkpoint after a crash.
    pub fn replayed_at_open(&self) -> u64 {
        self.replayed
    }

    /// What the group commits made durable since the store was opened cost: batches,
    /// transactions, entries, the time each batch took from being started to being durable,
    /// and the time spent in each of its synced writes (for the node's `/metrics`).
    pub fn commit_stats(&self) -> CommitStats {
        self.meter.snapshot()
    }

    /// Current tree size (entries durably in the log).
    pub fn tree_size(&self) -> u64 {
        lock(&self.head).frontier.size()
    }

    /// Current root hash.
    pub fn root(&self) -> Hash {
        lock(&self.head).frontier.root()
    }

    /// The checkpoint of the last batch that appended entries.
    pub fn latest_checkpoint(&self) -> Option<Arc<StoredCheckpoint>> {
        lock(&self.head).checkpoint.clone()
    }

    /// The signed checkpoint issued at exactly `size`, if a batch ended there: a binary
    /// search of the checkpoint index.
    ///
    /// # Errors
    /// An IO error, or a damaged checkpoint file.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<String>, StoreError> {
        let _gate = self.readable()?;
        let count = self.log.checkpoint_count();
        let position = self
            .log
            .checkpoint_position(size, count)
            .map_err(|e| e.into_store_error(&self.path))?;
        if position == count {
            return Ok(None);
        }
        let (at, note) = self
            .log
            .checkpoint(position)
            .map_err(|e| e.into_store_error(&self.path))?;
        Ok((at == size).then_some(note))
    }

    /// Up to `limit` stored checkpoints from position `first` (0: the oldest), in order,
    /// each with its tree size. The caller holds the gate.
    fn checkpoint_page(&self, first: u64, limit: usize) -> Result<Vec<(u64, String)>, StoreError> {
        let count = self.log.checkpoint_count();
        let end = first.saturating_add(limit as u64).min(count);
        (first..end)
            .map(|position| {
                self.log
                    .checkpoint(position)
                    .map_err(|e| e.into_store_error(&self.path))
            })
            .collect()
    }

    /// Every checkpoint the store issued, oldest first.
    ///
    /// # Errors
    /// An IO error, or a damaged checkpoint file.
    pub fn checkpoints(&self) -> Result<Vec<String>, StoreError> {
        let _gate = self.readable()?;
        Ok(self
            .checkpoint_page(0, usize::MAX)?
            .into_iter()
            .map(|(_, note)| note)
            .collect())
    }

    /// Up to `limit` checkpoints, oldest first, after skipping the first `start` (found by
    /// position in the checkpoint index: skipping costs nothing).
    ///
    /// # Errors
    /// An IO error, or a damaged checkpoint file.
    pub fn checkpoints_from(&self, start: u64, limit: usize) -> Result<Vec<String>, StoreError> {
        let _gate = self.readable()?;
        Ok(self
            .checkpoint_page(start, limit)?
            .into_iter()
            .map(|(_, note)| note)
            .collect())
    }

    /// Up to `limit` checkpoints of a tree larger than `after` entries, oldest first, each
    /// with its tree size.
    ///
    /// # Errors
    /// An IO error, or a damaged checkpoint file.
    pub fn checkpoints_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let _gate = self.readable()?;
        let count = self.log.checkpoint_count();
        let position = self
            .log
            .checkpoint_position(first, count)
            .map_err(|e| e.into_store_error(&self.path))?;
        self.checkpoint_page(position, limit)
    }

    /// The entry at `index`, if the log has it (two reads: its end offsets in the index,
    /// then its bytes).
    ///
    /// # Errors
    /// An IO error, or a damaged entry index.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let _gate = self.readable()?;
        self.log
            .entry(index, self.log.committed().size)
            .map_err(|e| e.into_store_error(&self.path))
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries (RFC 9162
    /// §2.1.3.1), from O(log n) tiles.
    ///
    /// # Errors
    /// [`StoreError::OutOfRange`] if `index >= size` or `size` exceeds the log.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<InclusionProof, StoreError> {
        // The head's lock is never taken while holding the gate (a batch takes them the
        // other way round).
        let (current, tail) = self.size_and_tail();
        if size > current || index >= size {
            return Err(StoreError::OutOfRange {
                size: current,
                what: format!("inclusion of entry {index} in a tree of size {size}"),
            });
        }
        let _gate = self.readable()?;
        inclusion_proof(index, size, &self.tiles(current, &tail))
            .map_err(|e| StoreError::Audit(e.to_string()))
    }

    /// The consistency proof from size `old` to size `new` (RFC 9162 §2.1.4.1).
    ///
    /// # Errors
    /// [`StoreError::OutOfRange`] if `old > new` or `new` exceeds the log.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof, StoreError> {
        let (current, tail) = self.size_and_tail();
        if new > current || old > new {
            return Err(StoreError::OutOfRange {
                size: current,
                what: format!("consistency from size {old} to size {new}"),
            });
        }
        let _gate = self.readable()?;
        consistency_proof(old, new, &self.tiles(current, &tail))
            .map_err(|e| StoreError::Audit(e.to_string()))
    }

    /// The tree size and the incomplete tile's leaves, read together.
    fn size_and_tail(&self) -> (u64, Arc<Tail>) {
        let head = lock(&self.head);
        (head.frontier.size(), Arc::clone(&head.tail))
    }

    fn tiles<'a>(&'a self, size: u64, tail: &'a Tail) -> TileNodes<'a> {
        TileNodes {
            files: &self.log,
            size,
            tail: Some(tail),
            cache: Some(&self.tile_cache),
        }
    }

    /// Recomputes the root from every stored entry (O(n), read sequentially) — an integrity
    /// check independent of the stored hashes.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if an entry is missing or its index damaged; an IO error.
    pub fn recompute_root(&self) -> Result<Hash, StoreError> {
        let mut frontier = Frontier::new();
        for entry in self.all_entries()? {
            frontier.append(leaf_hash(&entry?));
        }
        Ok(frontier.root())
    }

    /// Every committed entry in order, read sequentially (the committed size when called;
    /// the files are append-only, so what it reads never changes under it).
    fn all_entries(
        &self,
    ) -> Result<impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_, StoreError> {
        let size = {
            let _gate = self.readable()?;
            self.log.committed().size
        };
        self.entries_up_to(size)
    }

    fn entries_up_to(
        &self,
        size: u64,
    ) -> Result<impl Iterator<Item = Result<Vec<u8>, StoreError>> + '_, StoreError> {
        let reader = self
            .log
            .entries_from(0, size)
            .map_err(|e| e.into_store_error(&self.path))?;
        Ok(reader.map(|entry| entry.map_err(|e| e.into_store_error(&self.path))))
    }

    /// Exports the whole log (entries and every checkpoint) as a bundle a data-protection
    /// officer can verify offline.
    ///
    /// # Errors
    /// An IO error, or a damaged log file.
    pub fn export_bundle(&self) -> Result<LogBundle, StoreError> {
        // One committed batch's lengths: the entries and checkpoints of the same log.
        let lengths = {
            let _gate = self.readable()?;
            self.log.committed()
        };
        let entries = self
            .entries_up_to(lengths.size)?
            .collect::<Result<Vec<_>, _>>()?;
        let checkpoints = {
            let _gate = self.readable()?;
            self.checkpoint_page(
                0,
                usize::try_from(lengths.checkpoints).unwrap_or(usize::MAX),
            )?
        };
        Ok(LogBundle::new(
            self.origin.clone(),
            entries,
            checkpoints.into_iter().map(|(_, note)| note).collect(),
        ))
    }

    /// Where the body `hash` of `len` bytes that the state key `key` references is: from
    /// its back-reference.
    fn body_place(&self, hash: &[u8; 32], len: u64, key: &[u8]) -> Result<Place, StoreError> {
        let reference = self
            .tree
            .get(keys::body_ref(hash, key))
            .map_err(|source| self.db_error(source))?;
        match reference.as_deref().and_then(Place::parse_reference) {
            Some((recorded, place)) if recorded == len => Ok(place),
            _ => Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: "a state value references a body without a matching back-reference".into(),
            }),
        }
    }

    /// A stored state value under the sled key `key` as its caller wrote it: inline, or the
    /// body read from its segment and checked against its hash.
    fn value(&self, key: &[u8], stored: &[u8]) -> Result<Vec<u8>, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        };
        match keys::parse_value(stored) {
            Some(Stored::Inline(value)) => Ok(value.to_vec()),
            Some(Stored::Body { hash, len }) => {
                let place = self.body_place(&hash, len, key)?;
                self.bodies.read(&hash, len, place).map_err(corrupt)
            }
            None => Err(corrupt("a stored value has an unknown tag".into())),
        }
    }

    /// Reads `key` in `ns` (a body put with [`Transaction::put_body`] is read from its file).
    ///
    /// # Errors
    /// A database error; [`StoreError::Corrupt`] if a body is missing or does not
    /// match its hash.
    pub fn get(&self, ns: crate::Namespace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let _gate = self.readable()?;
        let key = ns.key(key);
        self.tree
            .get(&key)
            .map_err(|source| self.db_error(source))?
            .map(|stored| self.value(&key, &stored))
            .transpose()
    }

    /// Every `(key, value)` in `ns` whose key starts with `prefix`, in key order (keys
    /// without the namespace byte).
    ///
    /// # Errors
    /// A database error; [`StoreError::Corrupt`] if a body is missing or damaged.
    pub fn scan(&self, ns: crate::Namespace, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        let _gate = self.readable()?;
        self.tree
            .scan_prefix(ns.key(prefix))
            .map(|item| {
                let (k, v) = item.map_err(|source| self.db_error(source))?;
                Ok((k[2..].to_vec(), self.value(&k, &v)?))
            })
            .collect()
    }

    /// Up to `limit` `(key, value)` pairs of `ns` in key order, starting after `after`
    /// (exclusive; `None`: from the first key). Keys are returned without the namespace
    /// byte.
    ///
    /// # Errors
    /// A database error; [`StoreError::Corrupt`] if a body is missing or damaged.
    pub fn scan_after(
        &self,
        ns: crate::Namespace,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StoreError> {
        use std::ops::Bound;
        let start = match after {
            Some(key) => Bound::Excluded(ns.key(key)),
            None => Bound::Included(ns.key(&[])),
        };
        let end = match ns.tag().checked_add(1) {
            Some(next) => Bound::Excluded(vec![keys::STATE, next]),
            None => Bound::Excluded(vec![keys::STATE + 1]),
        };
        let _gate = self.readable()?;
        self.tree
            .range::<Vec<u8>, _>((start, end))
            .take(limit)
            .map(|item| {
                let (k, v) = item.map_err(|source| self.db_error(source))?;
                Ok((k[2..].to_vec(), self.value(&k, &v)?))
            })
            .collect()
    }

    /// The files that hold the bodies the committed state references (segments, and the
    /// files of an older store's bodies), each with its length on disk: what a copy of the
    /// store must carry beside the database (see `bodies`).
    ///
    /// # Errors
    /// A database error.
    pub fn body_files(&self) -> Result<Vec<(PathBuf, u64)>, StoreError> {
        let _gate = self.readable()?;
        let references = Bodies::references(&self.tree).map_err(|detail| StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        })?;
        Ok(self.bodies.files(&references))
    }

    /// sled's tree, for tests that look at what it holds.
    #[cfg(test)]
    pub(crate) fn raw_tree(&self) -> &sled::Tree {
        &self.tree
    }

    fn db_error(&self, source: sled::Error) -> StoreError {
        StoreError::Database {
            path: self.path.clone(),
            source,
        }
    }
}
