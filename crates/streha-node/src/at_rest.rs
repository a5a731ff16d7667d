//! Envelopes at rest, sealed under their subject's erasable data key (Art. 18.5).
//!
//! Every envelope this node keeps — received ones in the inbox, its own in the delivery
//! queue — is stored sealed under a random key of the subject it is about, kept in the
//! store's [`KeyVault`](streha_store::KeyVault). Re-keying a subject destroys that key, and
//! with it every copy of those envelopes: in the live database, in sled's freed pages, and in
//! any backup of the database that does not also hold the vault. The associated data binds
//! each sealed envelope to its place and envelope id.
//!
//! The vault is a file of its own, so the store records which keys it relies on
//! ([`DATA_KEYS`]: the key's check value, written with every envelope sealed under it) and
//! which were shredded (written with the `subject re-keyed` entry, before the key is
//! destroyed). At start ([`verify_vault`]) every key the store relies on must be in the
//! vault with that check value, or the node does not start; a shredding a crash
//! interrupted is completed. A key missing without a logged re-keying is an integrity
//! failure, never reported as lawful shredding.

use serde::{Deserialize, Serialize};
use streha_core::{EnvelopeId, SubjectId, Timestamp};
use streha_crypto::{DataKey, Envelope};
use streha_store::{KeyVault, Store, StoreError, Transaction};

use crate::failure::Failure;
use crate::shared::Shared;
use crate::state::{self, DATA_KEYS, NODE_META};

/// Where a sealed envelope is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place {
    /// A received envelope.
    Inbox,
    /// This node's own, waiting for its receipt.
    Queue,
}

/// What the store knows of a subject's data key. Stored as its postcard enum tag (kept 0,
/// shredded 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DataKeyRecord {
    /// Envelopes are kept under the key with this check value (`KeyVault::check_of`).
    Kept { check: [u8; 16] },
    /// Destroyed by the re-keying logged at that time (Art. 18.5).
    Shredded { at: Timestamp },
}

/// `NODE_META` key set once every key of the vault has a [`DATA_KEYS`] record (stores from
/// before the records get them for the keys their vault holds at the first start).
const RECORDS_COMPLETE: &[u8] = b"data-keys-v1";

fn aad(place: Place, id: EnvelopeId) -> Vec<u8> {
    let tag: &[u8] = match place {
        Place::Inbox => b"streha node inbox v1\n",
        Place::Queue => b"streha node queue v1\n",
    };
    let mut aad = tag.to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// The data key of `subject`, made (and stored durably) at its first use.
fn key_of(shared: &Shared, subject: SubjectId) -> Result<DataKey, Failure> {
    if let Some(bytes) = shared.vault.get(subject.as_bytes()) {
        return Ok(DataKey::from_bytes(*bytes));
    }
    let fresh = DataKey::generate()
        .map_err(|e| Failure::Internal(format!("cannot make a data key: {e}")))?;
    let bytes = shared
        .vault
        .insert_if_absent(subject.as_bytes(), &fresh.to_bytes())
        .map_err(Failure::from)?;
    Ok(DataKey::from_bytes(*bytes))
}

/// Seals `envelope` (about `subject`) for keeping at `place`. The transaction that keeps it
/// must also carry [`record_key`]. The envelope is encoded straight into the buffer that is
/// sealed: one pass to write it, one to encrypt it, however large it is.
pub(crate) fn seal(
    shared: &Shared,
    place: Place,
    subject: SubjectId,
    id: EnvelopeId,
    envelope: &Envelope,
) -> Result<Vec<u8>, Failure> {
    seal_with(&key_of(shared, subject)?, place, id, envelope)
}

/// [`seal`] under `key`: the envelope's encoding is measured first (postcard's measuring
/// flavor, a stable API unlike `experimental::serialized_size`), so that the buffer is
/// reserved once at its final size and never reallocated with the encoding in it.
fn seal_with(
    key: &DataKey,
    place: Place,
    id: EnvelopeId,
    envelope: &Envelope,
) -> Result<Vec<u8>, Failure> {
    let sealing = |e: &dyn std::fmt::Display| {
        Failure::Internal(format!("cannot seal an envelope at rest: {e}"))
    };
    let len = postcard::serialize_with_flavor::<_, _, usize>(
        envelope,
        postcard::ser_flavors::Size::default(),
    )
    .map_err(|e| sealing(&e))?;
    key.seal_written(&aad(place, id), len, |buffer| {
        postcard::to_io(envelope, buffer).is_ok()
    })
    .map_err(|e| sealing(&e))
}

/// Adds to `tx` (which keeps an envelope sealed by [`seal`] for `subject`) the record that
/// the store relies on the subject's current vault key.
pub(crate) fn record_key(
    shared: &Shared,
    tx: &mut Transaction,
    subject: SubjectId,
) -> Result<(), Failure> {
    let check = shared.vault.check_of(subject.as_bytes()).ok_or_else(|| {
        Failure::Internal("the data key just used to seal an envelope is gone".into())
    })?;
    tx.put(
        DATA_KEYS,
        subject.as_bytes().to_vec(),
        state::encode(&DataKeyRecord::Kept { check }),
    );
    Ok(())
}

/// Adds to `tx` (the re-keying of `subject`, logged at `at`) the record that its key is
/// shredded. Commit it before calling [`shred`]: a crash in between is completed at the
/// next start ([`verify_vault`]), while the other order would leave a key missing without
/// a logged re-keying.
pub(crate) fn record_shredding(tx: &mut Transaction, subject: SubjectId, at: Timestamp) {
    tx.put(
        DATA_KEYS,
        subject.as_bytes().to_vec(),
        state::encode(&DataKeyRecord::Shredded { at }),
    );
}

fn record_of(store: &Store, subject: SubjectId) -> Result<Option<DataKeyRecord>, Failure> {
    Ok(state::load::<DataKeyRecord>(
        store,
        DATA_KEYS,
        subject.as_bytes(),
    )?)
}

/// Opens an envelope kept at `place`, in the buffer read from the store (no copy of it is
/// made to decrypt). An envelope whose subject's key was destroyed by a logged re-keying is
/// gone; one whose key is missing otherwise is an integrity failure.
pub(crate) fn open(
    shared: &Shared,
    place: Place,
    subject: SubjectId,
    id: EnvelopeId,
    sealed: Vec<u8>,
) -> Result<Envelope, Failure> {
    let Some(bytes) = shared.vault.get(subject.as_bytes()) else {
        if let Some(DataKeyRecord::Shredded { .. }) = record_of(&shared.store, subject)? {
            return Err(Failure::NotFound(format!(
                "envelope {id} was shredded: its subject was re-keyed (Art. 18.5)"
            )));
        }
        tracing::error!(
            envelope = %id,
            "integrity failure: the data key of a kept envelope is missing from the key vault \
             and no re-keying was logged; the vault does not match the store (restore \
             subject-keys.vault from its backup)"
        );
        return Err(Failure::Internal(format!(
            "envelope {id} cannot be opened: its data key is missing from this node's key vault \
             although no re-keying was logged (an integrity failure at the node, not a lawful \
             shredding); the node's operator must restore the vault"
        )));
    };
    let plain = DataKey::from_bytes(*bytes)
        .open_in_place(&aad(place, id), sealed)
        .map_err(|e| Failure::Internal(format!("a stored envelope does not open: {e}")))?;
    postcard::from_bytes(&plain)
        .map_err(|_| Failure::Internal("a stored envelope does not decode".into()))
}

/// Destroys the data key of `subject`: what is kept about it becomes unreadable everywhere.
/// Only after the re-keying and [`record_shredding`] are committed.
pub(crate) fn shred(shared: &Shared, subject: SubjectId) -> Result<bool, Failure> {
    shared
        .vault
        .destroy(subject.as_bytes())
        .map_err(Failure::from)
}

/// Why the vault does not match the store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VaultMismatch {
    /// Keys the store relies on are missing or differ.
    #[error(
        "the key vault {path} does not match the store: {missing} data key(s) the store relies on are missing and {differ} differ (the vault holds {keys} intact keys, {damaged} slot(s) that do not check, and a partial slot of {tail} bytes at its end). A key missing without a logged re-keying is not a lawful shredding: do not start the node on this vault; restore subject-keys.vault from its backup (the one taken with this store), and report it"
    )]
    Mismatch {
        /// The vault file.
        path: String,
        /// Keys recorded as kept that the vault lacks.
        missing: usize,
        /// Keys whose check value differs.
        differ: usize,
        /// Intact keys in the vault.
        keys: usize,
        /// Damaged slots.
        damaged: usize,
        /// Bytes of a partial slot at the end.
        tail: u64,
    },
    /// The store could not be read or written.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Checks `vault` against the store's [`DATA_KEYS`] records at start: every key the store
/// relies on must be there with its check value. Completes shreddings a crash interrupted,
/// records the keys of a vault from before the records (once), and only then erases the
/// vault's damaged slots (`KeyVault::repair`).
pub(crate) fn verify_vault(
    store: &Store,
    vault: &KeyVault,
    vault_path: &std::path::Path,
) -> Result<(), VaultMismatch> {
    let (mut missing, mut differ, mut completed) = (0usize, 0usize, 0usize);
    for (subject, value) in store.scan(DATA_KEYS, &[])? {
        let id: [u8; 16] = subject
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::Corrupt {
                path: store.path().to_path_buf(),
                detail: "a data-key record has a malformed subject id".into(),
            })?;
        let record: DataKeyRecord =
            postcard::from_bytes(&value).map_err(|_| StoreError::Corrupt {
                path: store.path().to_path_buf(),
                detail: "a data-key record does not decode".into(),
            })?;
        match record {
            DataKeyRecord::Kept { check } => match vault.check_of(&id) {
                Some(found) if found == check => {}
                Some(_) => differ += 1,
                None => missing += 1,
            },
            DataKeyRecord::Shredded { .. } => {
                if vault.destroy(&id)? {
                    completed += 1;
                }
            }
        }
    }
    if missing + differ > 0 {
        let summary = vault.summary();
        return Err(VaultMismatch::Mismatch {
            path: vault_path.display().to_string(),
            missing,
            differ,
            keys: summary.keys,
            damaged: summary.damaged_slots,
            tail: summary.partial_tail_bytes,
        });
    }
    if completed > 0 {
        tracing::warn!(
            completed,
            "completed the shredding of re-keyed subjects' data keys interrupted by a crash"
        );
    }
    if store.get(NODE_META, RECORDS_COMPLETE)?.is_none() {
        let mut tx = Transaction::new();
        for (id, check) in vault.checks() {
            if store.get(DATA_KEYS, &id)?.is_none() {
                tx.put(
                    DATA_KEYS,
                    id.to_vec(),
                    state::encode(&DataKeyRecord::Kept { check }),
                );
            }
        }
        tx.put(NODE_META, RECORDS_COMPLETE.to_vec(), Vec::new());
        store.commit(tx)?;
    }
    vault.repair()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &std::path::Path) -> Store {
        let signer = streha_audit::NoteSigner::new(
            "at-rest.test/log",
            ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
        )
        .expect("key name");
        Store::open(dir.join("store"), "at-rest.test/log", signer).expect("open store")
    }

    fn record(store: &Store, subject: [u8; 16], record: DataKeyRecord) {
        let mut tx = Transaction::new();
        tx.put(DATA_KEYS, subject.to_vec(), state::encode(&record));
        store.commit(tx).expect("commit");
    }

    #[test]
    fn an_envelope_sealed_at_rest_fills_its_buffer_exactly_and_opens_only_at_its_place() {
        let sender = streha_crypto::AgencySigningSecretKey::from_seed_bytes([1; 32]);
        let recipient = streha_crypto::AgencyEncryptionSecretKey::from_seed_bytes([2; 32]);
        let key = DataKey::from_bytes([9; 32]);
        let id = EnvelopeId::from_bytes([5; 16]);
        for size in [0, 1, 4096, 300_000] {
            let envelope = streha_crypto::seal(
                &sender,
                &recipient.public_key(),
                b"a header",
                &vec![0x5a; size],
            )
            .expect("seal");
            let sealed = seal_with(&key, Place::Queue, id, &envelope).expect("seal at rest");
            // Reserved once at its final size: no reallocation left a copy of the encoding
            // in memory that was freed without being zeroized.
            assert_eq!(sealed.capacity(), sealed.len());
            assert_eq!(
                sealed.len(),
                state::encode(&envelope).len() + streha_crypto::AT_REST_OVERHEAD
            );
            let opened = key
                .open_in_place(&aad(Place::Queue, id), sealed.clone())
                .expect("open at its place");
            assert_eq!(
                postcard::from_bytes::<Envelope>(&opened).expect("decode"),
                envelope
            );
            assert!(
                key.open_in_place(&aad(Place::Inbox, id), sealed.clone())
                    .is_err()
            );
            let other = EnvelopeId::from_bytes([6; 16]);
            assert!(
                key.open_in_place(&aad(Place::Queue, other), sealed)
                    .is_err()
            );
        }
    }

    #[test]
    fn the_vault_must_hold_every_key_the_store_relies_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(dir.path());
        let path = dir.path().join("vault");
        let vault = KeyVault::open(&path).expect("vault");
        // A vault from before the records: its keys are recorded at the first check.
        vault
            .insert_if_absent(&[1; 16], &[0xa1; 32])
            .expect("insert");
        verify_vault(&store, &vault, &path).expect("first check");
        assert!(store.get(NODE_META, RECORDS_COMPLETE).unwrap().is_some());
        assert!(store.get(DATA_KEYS, &[1; 16]).unwrap().is_some());

        // A key relied on and missing (a vault restored without it, or cut) stops the start.
        vault
            .insert_if_absent(&[2; 16], &[0xa2; 32])
            .expect("insert");
        let check = vault.check_of(&[2; 16]).expect("check");
        record(&store, [2; 16], DataKeyRecord::Kept { check });
        verify_vault(&store, &vault, &path).expect("all there");
        vault
            .destroy(&[2; 16])
            .expect("destroy behind the store's back");
        let mismatch = verify_vault(&store, &vault, &path).expect_err("missing key");
        let message = mismatch.to_string();
        assert!(
            message.contains("1 data key(s) the store relies on are missing")
                && !message.contains("shredded"),
            "{message}"
        );
        // A different key under the same id is no better.
        vault
            .insert_if_absent(&[2; 16], &[0xff; 32])
            .expect("insert");
        assert!(
            verify_vault(&store, &vault, &path)
                .expect_err("other key")
                .to_string()
                .contains("1 differ")
        );
    }

    #[test]
    fn a_shredding_interrupted_by_a_crash_is_completed_at_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(dir.path());
        let path = dir.path().join("vault");
        let vault = KeyVault::open(&path).expect("vault");
        vault
            .insert_if_absent(&[7; 16], &[0x77; 32])
            .expect("insert");
        // The re-keying was committed; the process died before destroying the key.
        record(
            &store,
            [7; 16],
            DataKeyRecord::Shredded {
                at: Timestamp::from_unix_millis(1),
            },
        );
        verify_vault(&store, &vault, &path).expect("check");
        assert!(vault.get(&[7; 16]).is_none());
        drop(vault);
        let reopened = KeyVault::open(&path).expect("vault");
        assert!(reopened.get(&[7; 16]).is_none(), "destroyed on disk");
    }
}
