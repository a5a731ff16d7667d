//! The one error type of the store, split by what went wrong.

use std::path::PathBuf;

/// Why a store operation failed.
///
/// [`StoreError::is_integrity`] and [`StoreError::is_configuration`] sort the errors of
/// [`Store::open`](crate::Store::open) for whoever maps them to exit codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The underlying database reported an error (disk full, permissions, corruption found by
    /// sled). Nothing of the failed commit was acknowledged.
    #[error(
        "storage error in {path}: {}; check disk space and permissions",
        describe(source)
    )]
    Database {
        /// The store's directory.
        path: PathBuf,
        /// The sled error.
        #[source]
        source: sled::Error,
    },
    /// A file-system operation of the durability protocol failed.
    #[error("could not make {path} durable: {source}; check the disk")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A body of the transaction could not be written to its segment (or the segment
    /// synced), so the transaction was refused before its commit: nothing of it was
    /// recorded, and the store goes on. Bytes left behind are an orphan, released at the
    /// next open.
    #[error(
        "could not write a body in {path}{}: {source}; nothing of this request was recorded",
        if *full { " (the file system is full)" } else { "" }
    )]
    BodyNotWritten {
        /// The body directory.
        path: PathBuf,
        /// Whether the file system is full.
        full: bool,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An earlier commit failed, so what is on disk is not known to this process, and its
    /// memory may hold changes that never reached the disk. The store serves nothing more —
    /// no read, no write — and this request was refused before anything of it was written.
    /// Restart the node: it reopens the store from what is on disk.
    #[error(
        "the store stopped after an earlier write failed; nothing of this request was written; restart the node, which reopens the store from disk"
    )]
    Poisoned,
    /// The store was written by an earlier Streha version in an older storage format
    /// (format 1, up to Streha 0.1.0 before issue 19: five sled trees, sealed envelopes
    /// inside sled; or the BLAKE3 tree before that). This version keeps the log in one tree
    /// with tiles and the envelopes in files (format 2, `spec/audit-log.md` §7.1) and does
    /// not convert a store in place.
    #[error(
        "the store in {path} was written by an earlier Streha version (storage format 1); \
         this version uses storage format 2 (spec/audit-log.md §7.1) and does not convert it: \
         keep that directory (and the log bundle exported with the version that wrote it) \
         for audit, and start this node on a new data_dir"
    )]
    OldFormat {
        /// The store's directory.
        path: PathBuf,
    },
    /// A body that the committed state references is missing or cut short (its segment, or
    /// its file in an older store). The store syncs a body before the commit that
    /// references it and releases it only after the commit that drops the reference, so
    /// something outside the store removed or changed it. The store does not open: restore
    /// the data directory from a backup.
    #[error(
        "the store in {path} references a body in {file}, but {problem}: something outside the store removed or changed it; do not use this store, restore the data directory from a backup and report it"
    )]
    MissingBody {
        /// The store's directory.
        path: PathBuf,
        /// The segment (or file) that holds the body.
        file: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The stored log does not match itself (size, nodes, checkpoint). The store must not be
    /// used; restore it from a backup and report it.
    #[error(
        "the audit log in {path} is inconsistent: {detail}; do not use this store, restore it from a backup"
    )]
    Corrupt {
        /// The store's directory.
        path: PathBuf,
        /// What did not match (no entry content).
        detail: String,
    },
    /// A log file (`log/`, storage format 3) is shorter than the length the last committed
    /// batch recorded in sled: acknowledged entries, hashes or checkpoints are gone. Never
    /// repaired: restore the store from a backup.
    #[error(
        "the log file {file} holds {found} bytes but the last committed batch recorded {recorded}: acknowledged log data is missing; do not use this store, restore it from a backup"
    )]
    LogFileShort {
        /// The damaged file.
        file: PathBuf,
        /// The length sled recorded for it.
        recorded: u64,
        /// Its length on disk.
        found: u64,
    },
    /// A log index (`log/entries.idx`, `log/checkpoints.idx`) does not agree, at its last
    /// sync, with the journal or with the recorded lengths. Never repaired: restore from a backup.
    #[error(
        "the log index {file} does not agree with its data: {detail}; do not use this store, restore it from a backup"
    )]
    LogIndex {
        /// The index file.
        file: PathBuf,
        /// What disagrees (sizes and offsets only).
        detail: String,
    },
    /// The log's journal (`log/journal`) does not hold, up to its committed length, the
    /// frames sled recorded (found when the indexes past their last sync are rebuilt from
    /// it). Never repaired: restore from a backup.
    #[error(
        "the log journal {file} is damaged: {detail}; do not use this store, restore it from a backup"
    )]
    LogJournal {
        /// The journal.
        file: PathBuf,
        /// What does not add up (sizes and offsets only).
        detail: String,
    },
    /// A commit could not be made durable. Whether it reached the disk is unknown (sled may
    /// have written part of the batch, or write it later); nothing of it is acknowledged,
    /// and the store is poisoned ([`StoreError::Poisoned`]) from then on.
    #[error(
        "the commit could not be made durable ({0}); whether it was recorded is unknown until the store is reopened from disk"
    )]
    CommitFailed(String),
    /// The data directory is held by another process (the lock file's `flock`).
    #[error(
        "the data directory {path} is in use by another strehad{}; stop that one first, or give this node its own `data_dir`",
        match pid { Some(pid) => format!(" (pid {pid})"), None => String::new() }
    )]
    InUse {
        /// The data directory.
        path: PathBuf,
        /// The process id the lock file names, if it names one.
        pid: Option<u32>,
    },
    /// The file system holding the store has no space left, so the store could not be
    /// opened (sled writes while it recovers). Nothing is corrupt and nothing acknowledged
    /// is lost.
    #[error(
        "the file system of {path} is full, so the store cannot be opened (sled writes while it recovers); nothing is corrupt: free space on that file system, then start again"
    )]
    DiskFull {
        /// The data directory.
        path: PathBuf,
    },
    /// sled recovered a shorter log than this node acknowledged: the high-water mark (the
    /// last signed checkpoint, kept outside sled) is larger than the log sled opened.
    #[error(
        "the audit log in {path} opened at size {recovered}, but this node signed and acknowledged a log of size {expected} (its high-water mark, {high_water}): the store lost entries {recovered}..{expected} (a damaged or truncated sled file, or an older copy restored). Do not serve from it: stop, restore the data directory from the newest backup whose log has at least {expected} entries (the witnesses hold the last size they cosigned), and report it; see spec/audit-log.md §7"
    )]
    RolledBack {
        /// The data directory.
        path: PathBuf,
        /// The high-water mark file.
        high_water: PathBuf,
        /// The size sled recovered.
        recovered: u64,
        /// The size of the last checkpoint this node signed.
        expected: u64,
    },
    /// The log sled recovered is not the log this node signed: its root at the high-water
    /// mark's size differs from the mark's.
    #[error(
        "the audit log in {path} does not contain the log this node signed: at size {size} its root differs from the high-water mark ({high_water}). Do not serve from it: restore the data directory from a backup and report it; see spec/audit-log.md §7"
    )]
    Diverged {
        /// The data directory.
        path: PathBuf,
        /// The high-water mark file.
        high_water: PathBuf,
        /// The size compared.
        size: u64,
    },
    /// The high-water mark file exists but cannot be trusted (both copies damaged, not
    /// signed by this node's key, or for another log).
    #[error("the high-water mark {path} is not usable: {detail}")]
    HighWater {
        /// The high-water mark file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// sled could not recover its files (it failed or panicked while reading them).
    #[error(
        "sled cannot recover the store in {path}: {detail}; its files are damaged: restore the data directory from a backup and report it"
    )]
    Unrecoverable {
        /// The data directory.
        path: PathBuf,
        /// sled's error (no content).
        detail: String,
    },
    /// An entry exceeds the log's entry size limit.
    #[error("an audit entry of {len} bytes exceeds the limit of {max} bytes")]
    EntryTooLarge {
        /// The entry's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A guard of the transaction did not hold; nothing of it was applied.
    #[error("the transaction's precondition did not hold (a key was {0}); nothing was written")]
    GuardFailed(&'static str),
    /// The store was opened for a different log origin.
    #[error(
        "the store holds the log `{found}`, not `{expected}`; check the data directory in the configuration"
    )]
    WrongOrigin {
        /// The origin asked for.
        expected: String,
        /// The origin on disk.
        found: String,
    },
    /// A proof or checkpoint was asked for a size or index the log does not have.
    #[error("the log has {size} entries; {what} is out of range")]
    OutOfRange {
        /// Current log size.
        size: u64,
        /// What was asked for.
        what: String,
    },
    /// Signing or building a checkpoint or proof failed.
    #[error("audit log error: {0}")]
    Audit(String),
    /// A backup file is damaged, truncated, or not a Streha backup; nothing was restored.
    #[error("{path} is not a usable backup: {detail}; nothing was restored")]
    BadBackup {
        /// The backup file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
}

/// sled's error in words: its `Display` of an IO error is the `Debug` form of the OS error.
pub(crate) fn describe(error: &sled::Error) -> String {
    match error {
        sled::Error::Io(io) => io.to_string(),
        sled::Error::Corruption { .. } => "sled read corrupted data".to_owned(),
        other => other.to_string(),
    }
}

impl StoreError {
    /// Whether the store on disk does not match what this node acknowledged or what sled can
    /// read: restarting will not help; a person must restore from a backup.
    #[must_use]
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. }
                | StoreError::LogFileShort { .. }
                | StoreError::LogIndex { .. }
                | StoreError::LogJournal { .. }
                | StoreError::MissingBody { .. }
                | StoreError::RolledBack { .. }
                | StoreError::Diverged { .. }
                | StoreError::HighWater { .. }
                | StoreError::Unrecoverable { .. }
        )
    }

    /// Whether the error is one of the configuration (another node's data directory, or one
    /// in use by another process).
    #[must_use]
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            StoreError::InUse { .. } | StoreError::WrongOrigin { .. }
        )
    }
}
