//! The node's commit thread: gathers the transactions of concurrent requests and commits
//! them to the store together.
//!
//! The store blocks until a batch is durable. Calling it from one blocking-pool thread per
//! request parks a thread per request and wakes all of them at the end of every batch; here
//! one thread drains everything queued since its last batch, commits it with
//! [`Store::commit_many`] and answers each request through its own channel, so a request
//! costs one wake-up and the batches grow with the load.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use streha_store::{Committed, Store, StoreError, Transaction};
use tokio::sync::oneshot;

/// The most transactions one call of [`Store::commit_many`] takes; the store splits larger
/// groups into batches of its own anyway.
const MAX_GATHERED: usize = 1024;

type Reply = oneshot::Sender<Result<Committed, StoreError>>;

/// A running commit thread. Dropping it lets the thread finish the queued work and joins it.
#[derive(Debug)]
pub(crate) struct Committer {
    queue: Option<mpsc::Sender<Vec<(Transaction, Reply)>>>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    /// Starts the commit thread for `store`.
    pub(crate) fn start(store: Arc<Store>) -> std::io::Result<Self> {
        let (queue, requests) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("streha-commit".into())
            .spawn(move || run(&store, &requests))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `tx` for commit, durably and grouped with whatever else is queued; the
    /// returned receiver yields its result. Transactions are committed, and their entries
    /// appended, in the order they are queued.
    pub(crate) fn enqueue(&self, tx: Transaction) -> Result<Answer, StoreError> {
        let mut answers = self.enqueue_group(vec![tx])?;
        answers.pop().ok_or(StoreError::Poisoned)
    }

    /// Queues `txs` together: they reach the store in one call of [`Store::commit_many`],
    /// in this order, so they share its batches (a delivery batch's entries, one group
    /// commit). One failing transaction does not fail the others.
    pub(crate) fn enqueue_group(&self, txs: Vec<Transaction>) -> Result<Vec<Answer>, StoreError> {
        let (group, answers): (Vec<_>, Vec<_>) = txs
            .into_iter()
            .map(|tx| {
                let (reply, answer) = oneshot::channel();
                ((tx, reply), Answer(answer))
            })
            .unzip();
        let queued = self
            .queue
            .as_ref()
            .is_some_and(|queue| queue.send(group).is_ok());
        if !queued {
            // Not handed over: nothing of it was written.
            return Err(StoreError::Poisoned);
        }
        Ok(answers)
    }
}

/// The result of a queued transaction, to await.
#[derive(Debug)]
pub(crate) struct Answer(oneshot::Receiver<Result<Committed, StoreError>>);

impl Answer {
    /// Waits for the commit.
    pub(crate) async fn committed(self) -> Result<Committed, StoreError> {
        // The thread answers every transaction it takes; a dropped reply means it died,
        // perhaps mid-batch: the outcome is unknown.
        self.0.await.unwrap_or_else(|_| {
            Err(StoreError::CommitFailed(
                "the commit thread stopped".to_owned(),
            ))
        })
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // Ends after the batch in progress: every sender is gone, so `recv` fails next.
            let _ = thread.join();
        }
    }
}

fn run(store: &Store, requests: &mpsc::Receiver<Vec<(Transaction, Reply)>>) {
    while let Ok(mut gathered) = requests.recv() {
        // A group is never split: it may take the gathering past the bound.
        while gathered.len() < MAX_GATHERED {
            match requests.try_recv() {
                Ok(more) => gathered.extend(more),
                Err(_) => break,
            }
        }
        let (txs, replies): (Vec<_>, Vec<_>) = gathered.into_iter().unzip();
        for (result, reply) in store.commit_many(txs).into_iter().zip(replies) {
            // A request that stopped waiting (its connection closed) needs no answer; what
            // was committed stays committed, as for any acknowledged-but-unread reply.
            let _ = reply.send(result);
        }
    }
}
