//! The one-time rewrite, at start, of a store written before a node kept one record per
//! envelope on each side (`spec/audit-log.md` §7.2).
//!
//! Sled costs process memory for every key it holds, for the life of the process
//! (`BENCHMARKS.md`, issue 19), so what a disclosure leaves in the store for good is counted
//! in keys:
//!
//! - **Sender.** The retired `DISCLOSED`, `DELIVERED` and `RECEIPT_INDEX` (three keys per
//!   delivered envelope) become one [`SentRecord`] in [`SENT`].
//! - **Receiver.** The position of an envelope's `received` entry moves from `RECEIVED` into
//!   the value of its `INBOX_ORDER` key, which was empty; `RECEIVED` keeps only the envelopes
//!   no longer in the inbox (shredded by a re-keying, Art. 18.5), whose receipt still answers
//!   a repeated delivery. Two keys per envelope in the inbox instead of three.
//!
//! The rewrite runs before the node serves anything (`server`), in chunks of at most
//! [`CHUNK`] envelopes, each one atomic commit that writes the new records and removes the
//! old. A crash between chunks leaves a store that the next start continues from (each chunk
//! takes the old records still there), and the result is the same as one uninterrupted run.
//! [`DONE`] in `NODE_META` is set once nothing is left; from then on the start reads one key.

use streha_store::{Store, StoreError, Transaction};

use crate::state::{
    self, DELIVERED, DISCLOSED, Delivered, INBOX_ORDER, NODE_META, RECEIPT_INDEX, RECEIVED, SENT,
    SentDelivery, SentRecord,
};

/// `NODE_META` key set once the store holds only the one-record-per-envelope layout.
pub(crate) const DONE: &[u8] = b"kept-records-v1";

/// Envelopes rewritten per commit: bounds the memory and the size of one sled batch.
pub(crate) const CHUNK: usize = 1024;

/// Rewrites whatever the store holds in the old layout (see the module's documentation).
///
/// # Errors
///
/// A store error, or [`StoreError::Corrupt`] for old records that do not fit together (a
/// delivery without its receipt position or without its `disclosed` position): the start
/// stops there, nothing guessed and nothing removed.
pub(crate) fn migrate(store: &Store) -> Result<(), StoreError> {
    run(store, CHUNK, usize::MAX).map(|_| ())
}

/// [`migrate`] in chunks of `chunk` envelopes, committing at most `max_commits` of them:
/// `Ok(true)` once done. (Tests stop it part way, as a crash would.)
pub(crate) fn run(store: &Store, chunk: usize, max_commits: usize) -> Result<bool, StoreError> {
    if store.get(NODE_META, DONE)?.is_some() {
        return Ok(true);
    }
    let mut commits = 0usize;
    // Sender: every envelope with a `DISCLOSED` record, whatever else it has.
    loop {
        let batch = store.scan_after(DISCLOSED, None, chunk)?;
        if batch.is_empty() {
            break;
        }
        if commits == max_commits {
            return Ok(false);
        }
        let mut tx = Transaction::new();
        for (id, value) in batch {
            let disclosed = state::decode_position(store, DISCLOSED, &value)?;
            let delivered = state::load::<Delivered>(store, DELIVERED, &id)?;
            let receipt = state::load_position(store, RECEIPT_INDEX, &id)?;
            let delivered = match (delivered, receipt) {
                (None, None) => None,
                (Some(delivered), Some(receipt)) => Some(SentDelivery {
                    receipt,
                    receiver_index: delivered.receiver_index,
                }),
                _ => {
                    return Err(corrupt(
                        store,
                        "a delivered envelope has a receiver index without a receipt position, or a receipt position without a receiver index",
                    ));
                }
            };
            let record = SentRecord {
                disclosed,
                delivered,
            };
            tx.put(SENT, id.clone(), record.encode())
                .remove(DISCLOSED, id.clone())
                .remove(DELIVERED, id.clone())
                .remove(RECEIPT_INDEX, id);
        }
        store.commit(tx)?;
        commits += 1;
    }
    for retired in [DELIVERED, RECEIPT_INDEX] {
        if !store.scan_after(retired, None, 1)?.is_empty() {
            return Err(corrupt(
                store,
                "a delivery is recorded for an envelope this node has no disclosed position of",
            ));
        }
    }
    // Receiver: every inbox order key still empty takes its position from `RECEIVED`.
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let batch = store.scan_after(INBOX_ORDER, cursor.as_deref(), chunk)?;
        let Some((last, _)) = batch.last() else {
            break;
        };
        cursor = Some(last.clone());
        let mut tx = Transaction::new();
        for (order, value) in batch {
            // Rewritten already (by a chunk before a crash), or malformed: what a reader
            // finds there stays as it is.
            let Some(id) = order.get(8..24).filter(|_| value.is_empty()) else {
                continue;
            };
            if let Some(position) = state::load_position(store, RECEIVED, id)? {
                tx.put(INBOX_ORDER, order.clone(), position.encode())
                    .remove(RECEIVED, id.to_vec());
            }
        }
        if tx.is_empty() {
            continue;
        }
        if commits == max_commits {
            return Ok(false);
        }
        store.commit(tx)?;
        commits += 1;
    }
    let mut tx = Transaction::new();
    tx.put(NODE_META, DONE.to_vec(), Vec::new());
    store.commit(tx)?;
    Ok(true)
}

fn corrupt(store: &Store, what: &str) -> StoreError {
    StoreError::Corrupt {
        path: store.path().to_path_buf(),
        detail: format!("the node state written before one record per envelope: {what}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::state::{INBOX, LogPosition};

    /// A node store of the first release, as its code wrote kept records: the test-only
    /// writer of the old layout (the log entries themselves do not matter here).
    pub(crate) struct OldLayout<'a>(pub(crate) &'a Store);

    impl OldLayout<'_> {
        /// An accepted disclosure: `DISCLOSED` only.
        pub(crate) fn accepted(&self, id: [u8; 16], disclosed: LogPosition) {
            let mut tx = Transaction::new();
            tx.put(DISCLOSED, id.to_vec(), disclosed.encode());
            self.0.commit(tx).unwrap();
        }

        /// A delivered disclosure: `DISCLOSED`, `DELIVERED` and `RECEIPT_INDEX`.
        pub(crate) fn delivered(
            &self,
            id: [u8; 16],
            disclosed: LogPosition,
            receipt: LogPosition,
            receiver_index: u64,
        ) {
            let mut tx = Transaction::new();
            tx.put(DISCLOSED, id.to_vec(), disclosed.encode())
                .put(
                    DELIVERED,
                    id.to_vec(),
                    state::encode(&Delivered { receiver_index }),
                )
                .put(RECEIPT_INDEX, id.to_vec(), receipt.encode());
            self.0.commit(tx).unwrap();
        }

        /// A received envelope in the inbox: `INBOX`, an empty `INBOX_ORDER` value and
        /// `RECEIVED`.
        pub(crate) fn received(&self, id: [u8; 16], at: u64, received: LogPosition) {
            let record = state::InboxRecord {
                about: streha_core::SubjectId::from_bytes([0x5a; 16]),
                sealed_envelope: vec![0xee; 40],
                received_at: streha_core::Timestamp(at),
            };
            let mut order = at.to_be_bytes().to_vec();
            order.extend_from_slice(&id);
            let mut tx = Transaction::new();
            tx.put_body(INBOX, id.to_vec(), state::encode(&record))
                .put(INBOX_ORDER, order, Vec::new())
                .put(RECEIVED, id.to_vec(), received.encode());
            self.0.commit(tx).unwrap();
        }

        /// A received envelope shredded by a re-keying: `RECEIVED` only.
        pub(crate) fn shredded(&self, id: [u8; 16], received: LogPosition) {
            let mut tx = Transaction::new();
            tx.put(RECEIVED, id.to_vec(), received.encode());
            self.0.commit(tx).unwrap();
        }
    }

    fn store(dir: &std::path::Path) -> Store {
        let signer = streha_audit::NoteSigner::new(
            "migrate.test/log",
            ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
        )
        .unwrap();
        Store::open(dir, "migrate.test/log", signer).unwrap()
    }

    fn at(epoch: u64, index: u64) -> LogPosition {
        LogPosition { epoch, index }
    }

    /// Five sent (two delivered, one of them in epoch 1 seen from epoch 2), three in the
    /// inbox and one shredded.
    fn old_store(store: &Store) {
        let old = OldLayout(store);
        for n in 0..3u8 {
            old.accepted([n; 16], at(1, u64::from(n)));
        }
        old.delivered([3; 16], at(1, 3), at(1, 10), 70);
        old.delivered([4; 16], at(2, 4), at(2, 11), 71);
        for n in 5..8u8 {
            old.received([n; 16], 1_000 + u64::from(n), at(1, 20 + u64::from(n)));
        }
        old.shredded([8; 16], at(2, 30));
    }

    /// Every state pair of the namespaces this rewrite touches.
    fn state_of(store: &Store) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
        [
            DISCLOSED,
            DELIVERED,
            RECEIPT_INDEX,
            SENT,
            INBOX,
            INBOX_ORDER,
            RECEIVED,
            NODE_META,
        ]
        .iter()
        .flat_map(|ns| {
            store
                .scan(*ns, &[])
                .unwrap()
                .into_iter()
                .map(|(k, v)| (ns.tag(), k, v))
        })
        .collect()
    }

    fn keys(store: &Store, ns: streha_store::Namespace) -> usize {
        store.scan(ns, &[]).unwrap().len()
    }

    #[test]
    fn the_old_layout_becomes_one_record_per_envelope() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        old_store(&store);
        migrate(&store).unwrap();

        for ns in [DISCLOSED, DELIVERED, RECEIPT_INDEX] {
            assert_eq!(keys(&store, ns), 0, "retired namespace {}", ns.tag());
        }
        assert_eq!(keys(&store, SENT), 5);
        for n in 0..3u8 {
            assert_eq!(
                state::load_sent(&store, &[n; 16]).unwrap(),
                Some(SentRecord {
                    disclosed: at(1, u64::from(n)),
                    delivered: None
                })
            );
        }
        assert_eq!(
            state::load_sent(&store, &[3; 16]).unwrap(),
            Some(SentRecord {
                disclosed: at(1, 3),
                delivered: Some(SentDelivery {
                    receipt: at(1, 10),
                    receiver_index: 70
                })
            })
        );
        assert_eq!(
            state::load_sent(&store, &[4; 16]).unwrap(),
            Some(SentRecord {
                disclosed: at(2, 4),
                delivered: Some(SentDelivery {
                    receipt: at(2, 11),
                    receiver_index: 71
                })
            })
        );
        // The inbox: two keys each; the shredded envelope keeps its `RECEIVED`.
        assert_eq!(keys(&store, INBOX), 3);
        assert_eq!(keys(&store, INBOX_ORDER), 3);
        assert_eq!(keys(&store, RECEIVED), 1);
        for n in 5..8u8 {
            assert_eq!(
                state::received_position(&store, &[n; 16]).unwrap(),
                Some(at(1, 20 + u64::from(n)))
            );
        }
        assert_eq!(
            state::received_position(&store, &[8; 16]).unwrap(),
            Some(at(2, 30))
        );
        assert_eq!(state::received_position(&store, &[9; 16]).unwrap(), None);
        assert!(store.get(NODE_META, DONE).unwrap().is_some());

        // Done once: a second start changes nothing.
        let before = state_of(&store);
        migrate(&store).unwrap();
        assert_eq!(state_of(&store), before);
    }

    /// A crash part way (here: after the first commit of a chunk of two) leaves a store the
    /// next start finishes, with exactly the state of an uninterrupted run, and readable
    /// meanwhile: the receiver's positions are read from either layout.
    #[test]
    fn an_interrupted_rewrite_is_finished_by_the_next_start_with_the_same_result() {
        let whole = tempfile::tempdir().unwrap();
        let whole = store(whole.path());
        old_store(&whole);
        assert!(run(&whole, 2, usize::MAX).unwrap());

        let cut = tempfile::tempdir().unwrap();
        let cut = store(cut.path());
        old_store(&cut);
        assert!(!run(&cut, 2, 1).unwrap(), "stopped after one chunk");
        assert!(cut.get(NODE_META, DONE).unwrap().is_none());
        assert_eq!(keys(&cut, SENT), 2, "one chunk of two rewritten");
        assert_eq!(keys(&cut, DISCLOSED), 3);
        // Every step after the first stops too, and reads stay right at each.
        for commits in 1..8 {
            let done = run(&cut, 2, 1).unwrap();
            for n in 5..8u8 {
                assert_eq!(
                    state::received_position(&cut, &[n; 16]).unwrap(),
                    Some(at(1, 20 + u64::from(n))),
                    "after {commits} more commits"
                );
            }
            if done {
                break;
            }
        }
        assert_eq!(state_of(&cut), state_of(&whole));
    }

    #[test]
    fn a_delivery_without_its_receipt_position_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        OldLayout(&store).accepted([1; 16], at(1, 1));
        let mut tx = Transaction::new();
        tx.put(
            DELIVERED,
            [1; 16].to_vec(),
            state::encode(&Delivered { receiver_index: 3 }),
        );
        store.commit(tx).unwrap();
        let err = migrate(&store).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        // Nothing removed, nothing flagged.
        assert_eq!(keys(&store, DISCLOSED), 1);
        assert_eq!(keys(&store, DELIVERED), 1);
        assert!(store.get(NODE_META, DONE).unwrap().is_none());
    }
}
