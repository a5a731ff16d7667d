//! The one error type of the store, split by what went wrong.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The underlying database reported an error (disk full, permissions, corruption found by
    /// sled). Nothing of the failed commit was acknowledged.
    #[error("storage error in {path}: {source}; check disk space and permissions")]
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
    /// An earlier commit failed after it was partly written, so the state on disk is not
    /// known to this process. Every later commit is refused; restart the node, which reopens
    /// the store at its last durable state.
    #[error(
        "the store stopped accepting writes after an earlier durability failure; restart the node"
    )]
    Poisoned,
    /// The stored log was hashed with the BLAKE3 tree of an earlier Streha version; this
    /// version's tree is RFC 6962 (SHA-256, `spec/audit-log.md` §1) and cannot continue it.
    #[error(
        "the audit log in {path} was written by an earlier Streha version with a BLAKE3 tree; \
         this version uses the RFC 6962 tree (spec/audit-log.md §1) and cannot continue it: \
         keep that directory (and its exported bundle) for audit with the version that wrote \
         it, and start this node on a new data_dir"
    )]
    OldTreeHash {
        /// The store's directory.
        path: PathBuf,
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
    /// A commit could not be made durable; nothing of its batch is acknowledged.
    #[error("the commit could not be made durable: {0}; nothing was acknowledged")]
    CommitFailed(String),
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
}
