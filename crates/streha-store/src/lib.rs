//! Durable storage for a Streha node, on [sled].
//!
//! One [`Store`] holds a node's append-only audit log (entries, the interior hashes as tiles
//! of height 8 that make every proof O(log n) reads, and one signed checkpoint per committed
//! batch), in append-only files under [`LOG_DIR`], and the node's own state (outbound queue,
//! inbox, consent registry, ...) as namespaced key/value pairs in one sled tree, which also
//! records the log files' committed lengths; large values (sealed envelopes over
//! [`INLINE_BODY_MAX`], put with [`Transaction::put_body`]) are appended to segment files
//! under [`BODIES_DIR`], synced once per batch before its commit. Every
//! change goes through [`Store::commit`]: concurrent callers are grouped into one batch, whose
//! log bytes and sled changes are written as one record of a write-ahead log and
//! `fdatasync`ed — with the high-water mark, the only writes a caller waits for — before the
//! batch is applied to sled in memory and any caller is answered (group commit). sled and the
//! log's journal are made durable in place at checkpoints of the write-ahead log, and a
//! crash between two is replayed from it at open (see `wal`). So an acknowledged commit
//! survives a crash or power loss, and a log append and the state change it justifies (say,
//! a `received` entry and the stored envelope) land together or not at all.
//!
//! What this crate does not do: interpret entries (they are opaque bytes; `streha-core`
//! defines them), decide anything, or talk to the network. It is synchronous and blocking; an
//! async caller runs it on a blocking thread.
//!
//! ```
//! use streha_store::{Store, Transaction, Namespace};
//! # let dir = tempfile::tempdir().unwrap();
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let signer = streha_audit::NoteSigner::new("example.org/log", key).unwrap();
//! let store = Store::open(dir.path(), "example.org/log", signer).unwrap();
//!
//! const INBOX: Namespace = Namespace::new(1);
//! let mut tx = Transaction::new();
//! tx.append(b"an audit entry".to_vec());
//! tx.put(INBOX, b"envelope-1".to_vec(), b"sealed bytes".to_vec());
//! let done = store.commit(tx).unwrap();
//! assert_eq!(done.first_index, 0);
//! assert_eq!(done.tree_size, 1);
//! assert!(store.get(INBOX, b"envelope-1").unwrap().is_some());
//! let proof = store.inclusion_proof(0, 1).unwrap();
//! assert!(proof.hashes().is_empty());
//! ```

#![forbid(unsafe_code)]

mod bodies;
mod datadir;
mod durability;
mod error;
mod high_water;
mod keys;
mod log;
mod logfiles;
mod meter;
mod migrate;
mod tiles;
mod transaction;
mod vault;
mod wal;

pub use crate::bodies::{BODIES_DIR, BODY_ALIGN, BODY_SEGMENT_BYTES, INLINE_BODY_MAX};
pub use crate::datadir::{DataDirInspection, LOCK_FILE, inspect};
pub use crate::error::StoreError;
pub use crate::high_water::{HIGH_WATER_FILE, HighWaterMark, marked_origin};
pub use crate::log::backup::{
    BackupSummary, MAX_BACKUP_KEY_LEN, MAX_BACKUP_VALUE_LEN, inspect_backup,
};
pub use crate::log::{Committed, MAX_ENTRY_LEN, Store, StoredCheckpoint};
pub use crate::logfiles::{INDEX_SYNC_BYTES, JOURNAL_ZERO_FILL, LOG_DIR, LOG_READ_BUFFER};
pub use crate::meter::{COMMIT_SECONDS_BUCKETS, CommitStats, SyncedWrite};
pub use crate::migrate::MIGRATION_CHUNK;
pub use crate::tiles::TILE_CACHE_TILES;
pub use crate::transaction::{Namespace, Transaction};
pub use crate::vault::{KeyVault, VaultSummary};
pub use crate::wal::WRITE_AHEAD_BYTES;
