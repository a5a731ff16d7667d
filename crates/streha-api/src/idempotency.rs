//! Idempotent submissions: a caller's request id → the sealed envelope → the first answer,
//! kept durably in `state_dir` (`spec/protocol.md` §12).
//!
//! The node's rule is that a submission is idempotent **by envelope**: the same envelope
//! again gets the same `Accepted`, and a different envelope under a used id is a conflict.
//! Sealing draws fresh randomness, so sealing the same record twice gives two envelopes.
//! The service therefore keeps, per (caller, request id), the sealed envelope **before** it
//! submits it — written to a temporary file, flushed and renamed, the directory flushed —
//! and a retry submits that very envelope again. After a restart at any point:
//!
//! - before the record was written: nothing was sealed or sent; the retry seals anew;
//! - after it was written, whether or not the node received or accepted it: the retry
//!   submits the kept envelope, and the node answers as it did (or decides now if it never
//!   saw it); nothing is disclosed twice;
//! - after the answer was written: the retry gets the kept answer without asking the node.
//!
//! Answers kept are acceptances and policy refusals (a refusal is logged at the node each
//! time it is submitted, so a kept refusal also keeps a retry from logging it again).
//! Errors (the node unreachable, a timeout) are not answers: the record stays pending.
//!
//! A record holds no record content in the clear: the envelope is sealed to the recipient
//! (this service cannot open it), and the request is kept only as a keyed BLAKE3
//! fingerprint (the key, `fingerprint.key`, is drawn at first start and kept beside the
//! records, owner-only), to tell a retry from a different request under the same id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::auth::CallerName;
use crate::limits::{MAX_IDEMPOTENCY_RECORD_LEN, MAX_REQUEST_ID_LEN};

/// The directory of the records, under `state_dir`.
const RECORDS: &str = "submissions";
/// The fingerprint key's file, under `state_dir`.
const FINGERPRINT_KEY: &str = "fingerprint.key";
/// The record format's version.
const RECORD_VERSION: u32 = 1;

/// A checked request id: 1 to [`MAX_REQUEST_ID_LEN`] of `A-Z a-z 0-9 - _ . :`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// Checks `id`.
    pub fn new(id: &str) -> Option<Self> {
        let ok = !id.is_empty()
            && id.len() <= MAX_REQUEST_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        ok.then(|| Self(id.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An answer kept for replay: the HTTP status and the JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: serde_json::Value,
}

/// What is kept under one (caller, request id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    version: u32,
    /// The caller.
    pub caller: String,
    /// The request id.
    pub request_id: String,
    /// The keyed fingerprint of the request (hex).
    pub fingerprint: String,
    /// When the record was first written (Unix ms).
    pub created_at: u64,
    /// The envelope id.
    pub envelope_id: String,
    /// The sealed envelope (base64 of `Envelope::to_bytes`), while no answer is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<String>,
    /// The first answer, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
}

impl Submission {
    /// A pending submission of `envelope`.
    pub fn pending(
        caller: &CallerName,
        id: &RequestId,
        fingerprint: String,
        envelope_id: String,
        envelope: &[u8],
    ) -> Self {
        Self {
            version: RECORD_VERSION,
            caller: caller.as_str().to_owned(),
            request_id: id.as_str().to_owned(),
            fingerprint,
            created_at: now_ms(),
            envelope_id,
            envelope: Some(base64::engine::general_purpose::STANDARD.encode(envelope)),
            answer: None,
        }
    }

    /// The kept envelope's bytes, if pending.
    pub fn envelope_bytes(&self) -> Option<Result<Vec<u8>, StoreError>> {
        self.envelope.as_ref().map(|text| {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| StoreError::Corrupt("the kept envelope is not base64".into()))
        })
    }

    /// The same submission with its answer (the envelope is no longer needed).
    #[must_use]
    pub fn answered(mut self, answer: Answer) -> Self {
        self.answer = Some(answer);
        self.envelope = None;
        self
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("the idempotency store failed: {0}")]
    Io(#[from] std::io::Error),
    /// A record is not what this service writes.
    #[error("an idempotency record is corrupt: {0}")]
    Corrupt(String),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The durable store, and a lock per key so that two concurrent requests with one key are
/// handled one after the other.
#[derive(Debug)]
pub struct IdempotencyStore {
    dir: PathBuf,
    key: Zeroizing<[u8; 32]>,
    retention: Duration,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl IdempotencyStore {
    /// Opens (creating, owner-only) the store under `state_dir`.
    ///
    /// # Errors
    /// [`StoreError`] if the directory or the key cannot be created or read.
    pub fn open(state_dir: &Path, retention: Duration) -> Result<Self, StoreError> {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        let dir = state_dir.join(RECORDS);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let key_path = state_dir.join(FINGERPRINT_KEY);
        let key = match std::fs::read(&key_path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt(format!("{} is not 32 bytes", key_path.display()))
                })?;
                Zeroizing::new(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new([0u8; 32]);
                getrandom::fill(key.as_mut()).map_err(|e| {
                    StoreError::Io(std::io::Error::other(format!("no randomness: {e}")))
                })?;
                let mut temp = tempfile::NamedTempFile::new_in(state_dir)?;
                temp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o600))?;
                std::io::Write::write_all(&mut temp, key.as_ref())?;
                temp.as_file().sync_all()?;
                temp.persist_noclobber(&key_path).map_err(|e| e.error)?;
                sync_dir(state_dir)?;
                key
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            dir,
            key,
            retention,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// The keyed fingerprint of a request's canonical bytes.
    pub fn fingerprint(&self, canonical: &[u8]) -> String {
        blake3::keyed_hash(&self.key, canonical)
            .to_hex()
            .to_string()
    }

    fn file(&self, caller: &CallerName, id: &RequestId) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(caller.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(id.as_str().as_bytes());
        self.dir
            .join(format!("{}.json", hex::encode(hasher.finalize())))
    }

    /// Waits for the lock of (caller, id); hold the guard while handling the request.
    pub async fn lock(&self, caller: &CallerName, id: &RequestId) -> KeyGuard<'_> {
        let name = format!("{caller}\0{}", id.as_str());
        let mutex = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(locks.entry(name.clone()).or_default())
        };
        let guard = Arc::clone(&mutex).lock_owned().await;
        KeyGuard {
            store: self,
            name,
            _guard: guard,
        }
    }

    /// The record of (caller, id), if any (an expired one counts as none).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn load(
        &self,
        caller: &CallerName,
        id: &RequestId,
    ) -> Result<Option<Submission>, StoreError> {
        let path = self.file(caller, id);
        let bytes = match read_bounded(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let record: Submission = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
        if record.version != RECORD_VERSION
            || record.caller != caller.as_str()
            || record.request_id != id.as_str()
        {
            return Err(StoreError::Corrupt(format!(
                "{} is not the record of this caller and request id",
                path.display()
            )));
        }
        if self.expired(&record) {
            return Ok(None);
        }
        Ok(Some(record))
    }

    fn expired(&self, record: &Submission) -> bool {
        let age = now_ms().saturating_sub(record.created_at);
        u128::from(age) > self.retention.as_millis()
    }

    /// Writes `record` durably (temporary file, flush, rename, directory flush).
    ///
    /// # Errors
    /// [`StoreError`]; on error the previous record (if any) is still in place.
    pub fn save(
        &self,
        caller: &CallerName,
        id: &RequestId,
        record: &Submission,
    ) -> Result<(), StoreError> {
        use std::io::Write as _;
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.file(caller, id);
        let bytes = serde_json::to_vec(record)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode a record: {e}")))?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        temp.write_all(&bytes)?;
        temp.as_file().sync_all()?;
        temp.persist(&path).map_err(|e| e.error)?;
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// Removes the records older than the retention; returns how many.
    ///
    /// # Errors
    /// [`StoreError`] if the directory cannot be listed.
    pub fn prune(&self) -> Result<usize, StoreError> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                // A temporary file left by a crash mid-write.
                if path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(".tmp"))
                {
                    let _ = std::fs::remove_file(&path);
                }
                continue;
            }
            let Ok(bytes) = read_bounded(&path) else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<Submission>(&bytes) else {
                continue;
            };
            if self.expired(&record) && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Holds the lock of one (caller, request id).
#[derive(Debug)]
pub struct KeyGuard<'a> {
    store: &'a IdempotencyStore,
    name: String,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut locks = self
            .store
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Forget the lock when nobody else holds or waits for it (the map holds one
        // reference, this guard's mutex another).
        if locks
            .get(&self.name)
            .is_some_and(|m| Arc::strong_count(m) <= 2)
        {
            locks.remove(&self.name);
        }
    }
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_IDEMPOTENCY_RECORD_LEN as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_IDEMPOTENCY_RECORD_LEN {
        return Err(std::io::Error::other(
            "record larger than any this service writes",
        ));
    }
    Ok(bytes)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> (CallerName, RequestId) {
        (
            CallerName::new("intake").unwrap(),
            RequestId::new("case-17:disclosure-3").unwrap(),
        )
    }

    #[test]
    fn records_survive_reopening_and_keep_the_first_answer() {
        let dir = tempfile::tempdir().unwrap();
        let (caller, id) = names();
        let store = IdempotencyStore::open(dir.path(), Duration::from_secs(3600)).unwrap();
        assert_eq!(store.load(&caller, &id).unwrap(), None);
        let fingerprint = store.fingerprint(b"request");
        let pending = Submission::pending(
            &caller,
            &id,
            fingerprint.clone(),
            "ab".repeat(16),
            b"sealed",
        );
        store.save(&caller, &id, &pending).unwrap();

        // A restart: the same key, the same fingerprint, the record as written.
        drop(store);
        let store = IdempotencyStore::open(dir.path(), Duration::from_secs(3600)).unwrap();
        assert_eq!(store.fingerprint(b"request"), fingerprint);
        let loaded = store.load(&caller, &id).unwrap().unwrap();
        assert_eq!(loaded, pending);
        assert_eq!(loaded.envelope_bytes().unwrap().unwrap(), b"sealed");

        let answered = loaded.answered(Answer {
            status: 201,
            body: serde_json::json!({"envelope": "ab", "log_index": 3}),
        });
        store.save(&caller, &id, &answered).unwrap();
        let loaded = store.load(&caller, &id).unwrap().unwrap();
        assert_eq!(loaded.answer.as_ref().unwrap().status, 201);
        assert!(loaded.envelope.is_none());

        // Another caller's key of the same name is another record.
        let other = CallerName::new("records").unwrap();
        assert_eq!(store.load(&other, &id).unwrap(), None);
    }

    #[test]
    fn expired_records_are_none_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let (caller, id) = names();
        let store = IdempotencyStore::open(dir.path(), Duration::from_secs(3600)).unwrap();
        let mut old = Submission::pending(&caller, &id, "f".into(), "e".into(), b"x");
        old.created_at = now_ms() - 7_200_000;
        store.save(&caller, &id, &old).unwrap();
        assert_eq!(store.load(&caller, &id).unwrap(), None);
        assert_eq!(store.prune().unwrap(), 1);
        assert_eq!(
            std::fs::read_dir(dir.path().join(RECORDS)).unwrap().count(),
            0
        );
    }

    #[test]
    fn request_ids_are_checked() {
        assert!(RequestId::new("a").is_some());
        assert!(RequestId::new(&"a".repeat(MAX_REQUEST_ID_LEN)).is_some());
        for bad in ["", "a b", "é", "a/b", &"a".repeat(MAX_REQUEST_ID_LEN + 1)] {
            assert!(RequestId::new(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_corrupt_record_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let (caller, id) = names();
        let store = IdempotencyStore::open(dir.path(), Duration::from_secs(3600)).unwrap();
        std::fs::write(store.file(&caller, &id), b"{not json").unwrap();
        assert!(matches!(
            store.load(&caller, &id),
            Err(StoreError::Corrupt(_))
        ));
    }
}
