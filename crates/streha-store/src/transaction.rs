//! What one caller asks to commit: log appends, state writes, and the guards they rest on.

/// A namespace of the node's state, so that callers keep their keys apart (`inbox`,
/// `outbound`, `consents`, ...). The number is the first byte of every key stored under it;
/// the node defines the numbers and must never reuse one for something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(u8);

impl Namespace {
    /// The namespace with tag `tag`.
    pub const fn new(tag: u8) -> Self {
        Self(tag)
    }

    /// Its tag byte.
    pub const fn tag(self) -> u8 {
        self.0
    }

    /// The key under which `key` of this namespace is stored: the state prefix, the tag,
    /// then `key` (see `keys`).
    pub(crate) fn key(self, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(2 + key.len());
        full.push(crate::keys::STATE);
        full.push(self.0);
        full.extend_from_slice(key);
        full
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Write {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// Set `key` to a body kept out of sled, in a body segment (see `bodies`).
    PutBody {
        key: Vec<u8>,
        body: Vec<u8>,
    },
    Remove {
        key: Vec<u8>,
    },
    /// Set `key` to the big-endian index of the transaction's first appended entry, which is
    /// only known when the batch is applied, followed by `suffix`.
    PutFirstIndex {
        key: Vec<u8>,
        suffix: Vec<u8>,
    },
}

/// One atomic unit of change: entries to append to the audit log and state writes that
/// land with them, all or nothing. A transaction may carry guards — keys that must be absent
/// (or present) when it is applied; if a guard fails, nothing of this transaction is applied
/// and [`Store::commit`](crate::Store::commit) returns
/// [`StoreError::GuardFailed`](crate::StoreError::GuardFailed), while the other transactions
/// of the same batch go ahead.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    pub(crate) appends: Vec<Vec<u8>>,
    pub(crate) writes: Vec<Write>,
    pub(crate) absent: Vec<Vec<u8>>,
    pub(crate) present: Vec<Vec<u8>>,
}

impl Transaction {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `entry` to the audit log. Entries of one transaction get consecutive indices
    /// in the order they were added.
    pub fn append(&mut self, entry: Vec<u8>) -> &mut Self {
        self.appends.push(entry);
        self
    }

    /// Sets `key` in `ns` to `value`.
    pub fn put(&mut self, ns: Namespace, key: Vec<u8>, value: Vec<u8>) -> &mut Self {
        self.writes.push(Write::Put {
            key: ns.key(&key),
            value,
        });
        self
    }

    /// Sets `key` in `ns` to `body`: for sealed envelopes and other values that may be
    /// large. A body larger than [`INLINE_BODY_MAX`](crate::INLINE_BODY_MAX) is kept out of
    /// the database, appended to a body segment and synced before the commit that
    /// references it (by its hash), and released — its blocks punched out — once a commit
    /// that removes or replaces the key is durable; [`Store::get`](crate::Store::get) and the scans return the body itself,
    /// checked against its hash. A smaller one is stored inline like [`put`](Self::put), in
    /// the same sled batch.
    pub fn put_body(&mut self, ns: Namespace, key: Vec<u8>, body: Vec<u8>) -> &mut Self {
        if body.len() <= crate::INLINE_BODY_MAX {
            return self.put(ns, key, body);
        }
        self.writes.push(Write::PutBody {
            key: ns.key(&key),
            body,
        });
        self
    }

    /// Sets `key` in `ns` to the log index (8 bytes, big-endian) of this transaction's first
    /// appended entry — known only when the batch is applied — so that state can point at
    /// the entry that justifies it, atomically with it. Without appends, the value is the
    /// tree size before the transaction.
    pub fn put_first_index(&mut self, ns: Namespace, key: Vec<u8>) -> &mut Self {
        self.put_first_index_with(ns, key, Vec::new())
    }

    /// As [`put_first_index`](Self::put_first_index), the value being the 8-byte index
    /// followed by `suffix` (a caller's qualifier of the index, such as the log epoch it
    /// counts in).
    pub fn put_first_index_with(
        &mut self,
        ns: Namespace,
        key: Vec<u8>,
        suffix: Vec<u8>,
    ) -> &mut Self {
        self.writes.push(Write::PutFirstIndex {
            key: ns.key(&key),
            suffix,
        });
        self
    }

    /// Removes `key` from `ns` (no error if it is not there).
    pub fn remove(&mut self, ns: Namespace, key: Vec<u8>) -> &mut Self {
        self.writes.push(Write::Remove { key: ns.key(&key) });
        self
    }

    /// Applies this transaction only if `key` is absent from `ns` at that moment (including
    /// writes of earlier transactions in the same batch).
    pub fn require_absent(&mut self, ns: Namespace, key: &[u8]) -> &mut Self {
        self.absent.push(ns.key(key));
        self
    }

    /// Applies this transaction only if `key` is present in `ns` at that moment.
    pub fn require_present(&mut self, ns: Namespace, key: &[u8]) -> &mut Self {
        self.present.push(ns.key(key));
        self
    }

    /// The log entries this transaction appends, in order.
    pub fn appended(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.appends.iter().map(Vec::as_slice)
    }

    /// The number of log entries this transaction appends.
    pub fn append_count(&self) -> usize {
        self.appends.len()
    }

    /// True if the transaction changes nothing.
    pub fn is_empty(&self) -> bool {
        self.appends.is_empty() && self.writes.is_empty()
    }
}
