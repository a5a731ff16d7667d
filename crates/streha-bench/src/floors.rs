//! The in-process floors: what the cryptography and the disk alone allow.

use std::fs::File;
use std::time::{Duration, Instant};

use streha_core::{
    AgencyId, Approvals, CategorySet, DisclosableCategory, DisclosureHeader, EnvelopeId, Field,
    Purpose, Record, SubjectId, Timestamp,
};
use streha_crypto::{AgencyEncryptionSecretKey, AgencySigningSecretKey, Envelope, seal};

/// A record of one medical field of `size` bytes, and its header.
pub(crate) fn sample(size: usize, n: u64) -> (DisclosureHeader, Record) {
    let mut record = Record::new();
    let field = Field::bytes(DisclosableCategory::Medical, "notes", vec![0x5a; size])
        .expect("a field within the record limits");
    record.insert(field).expect("one field");
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.to_le_bytes());
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes(id),
        sender: AgencyId::new("sender").expect("agency id"),
        recipient: AgencyId::new("recipient").expect("agency id"),
        subject: SubjectId::from_bytes([1; 16]),
        categories: record.categories(),
        purpose: Purpose::Assistance,
        consent: None,
        created_at: Timestamp(1_763_856_000_000),
        approvals: Approvals::new(),
    };
    debug_assert_ne!(header.categories, CategorySet::default());
    (header, record)
}

/// Disclosures per second that the cryptography of the design allows on `threads` cores:
/// seal and sign (application), verify (sending node), verify (receiving node), verify and
/// open (receiving application).
pub(crate) fn crypto_floor(size: usize, threads: usize, duration: Duration) -> f64 {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let sender = AgencySigningSecretKey::from_seed_bytes([1; 32]);
                let recipient = AgencyEncryptionSecretKey::from_seed_bytes([2; 32]);
                let (recipient_public, sender_public) =
                    (recipient.public_key(), sender.public_key());
                let (header, record) = sample(size, t as u64);
                let (context, plaintext) = (header.encode(), record.encode());
                let started = Instant::now();
                let mut done = 0u64;
                while started.elapsed() < duration {
                    let envelope =
                        seal(&sender, &recipient_public, &context, &plaintext).expect("seal");
                    envelope
                        .verify_signature(&sender_public)
                        .expect("sender node");
                    envelope
                        .verify_signature(&sender_public)
                        .expect("receiver node");
                    let opened = envelope.open(&recipient, &sender_public).expect("open");
                    assert_eq!(opened.len(), plaintext.len());
                    done += 1;
                }
                done as f64 / started.elapsed().as_secs_f64()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
}

/// [`crypto_floor`] of the design since issue 19: the receiving node verifies the envelope
/// signatures of a delivery batch of `batch` together (Ed25519 batch verification,
/// `Envelope::verify_signatures`); sealing, the sending node's verification and the
/// receiving application's opening stay one per envelope.
pub(crate) fn crypto_floor_batched(
    size: usize,
    threads: usize,
    batch: usize,
    duration: Duration,
) -> f64 {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let sender = AgencySigningSecretKey::from_seed_bytes([1; 32]);
                let recipient = AgencyEncryptionSecretKey::from_seed_bytes([2; 32]);
                let (recipient_public, sender_public) =
                    (recipient.public_key(), sender.public_key());
                let (header, record) = sample(size, t as u64);
                let (context, plaintext) = (header.encode(), record.encode());
                let started = Instant::now();
                let mut done = 0u64;
                while started.elapsed() < duration {
                    let envelopes: Vec<Envelope> = (0..batch)
                        .map(|_| {
                            let envelope = seal(&sender, &recipient_public, &context, &plaintext)
                                .expect("seal");
                            envelope
                                .verify_signature(&sender_public)
                                .expect("sender node");
                            envelope
                        })
                        .collect();
                    let refs: Vec<&Envelope> = envelopes.iter().collect();
                    assert!(
                        Envelope::verify_signatures(&refs, &sender_public)
                            .iter()
                            .all(Result::is_ok),
                        "receiver node"
                    );
                    for envelope in &envelopes {
                        let opened = envelope.open(&recipient, &sender_public).expect("open");
                        assert_eq!(opened.len(), plaintext.len());
                    }
                    done += batch as u64;
                }
                done as f64 / started.elapsed().as_secs_f64()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
}

/// Entries per second that sled sustains for batches of `batch` entries of `size` bytes,
/// each batch flushed and the data file `fsync`ed — the durability protocol of the store.
pub(crate) fn durability_floor(size: usize, batch: usize, duration: Duration) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled::open(dir.path()).expect("sled");
    let tree = db.open_tree("entries").expect("tree");
    let data = File::open(dir.path().join("db")).expect("sled data file");
    let value = vec![0xa5; size];
    let started = Instant::now();
    let mut key = 0u64;
    while started.elapsed() < duration {
        let mut b = sled::Batch::default();
        for _ in 0..batch {
            b.insert(&key.to_be_bytes(), value.as_slice());
            key += 1;
        }
        tree.apply_batch(b).expect("batch");
        db.flush().expect("flush");
        data.sync_all().expect("fsync");
    }
    key as f64 / started.elapsed().as_secs_f64()
}
