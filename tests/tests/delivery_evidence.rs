//! Issue 15.1 against a real receiving daemon: a delivery must carry the sender's `disclosed`
//! entry of exactly this envelope, proven in the sender's log under a checkpoint the
//! sender's node signed. Each way of getting that wrong — no checkpoint, a checkpoint
//! signed by another key, a bad inclusion proof, a proof of another entry, the `disclosed`
//! of another envelope — is refused with `VerificationFailed`, and nothing is stored or
//! logged; a delivery with the evidence is then received and the `received` keeps it.

mod common;

use std::time::Duration;

use common::*;
use quinn::Connection;
use streha_audit::{Hash, InclusionProof, NoteSigner, leaf_hash};
use streha_core::{
    AgeStatus, Approvals, AuditEntry, Basis, Category, CategorySet, ClauseId, DisclosureHeader,
    EnvelopeId, Field, Purpose, Record, SubjectId,
};
use streha_crypto::{Envelope, NodeIdentitySecretKey};
use streha_transport::{Identity, request};
use streha_wire::peer::{Delivery, PeerRequest, PeerResponse, ProvenEntry, SubjectFacts};
use streha_wire::{ErrorCode, MAX_FRAME_LEN, PEER_ALPN};

const T: Duration = Duration::from_secs(20);

/// An envelope from the shelter to the police that the agreement allows (identity, for
/// identification and referral), sealed with the shelter's agency key.
fn envelope(federation: &Federation, id: u8) -> Envelope {
    let (shelter, police) = (federation.member(SHELTER), federation.member(POLICE));
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([id; 16]),
        sender: shelter.id.clone(),
        recipient: police.id.clone(),
        subject: SubjectId::from_bytes([0x15; 16]),
        categories: [Category::Identity].into_iter().collect::<CategorySet>(),
        purpose: Purpose::IdentificationAndReferral,
        consent: None,
        created_at: now(),
        approvals: Approvals::new(),
    };
    let record = Record::new()
        .with(Field::text(streha_core::DisclosableCategory::Identity, "f", "v").unwrap())
        .unwrap();
    streha_crypto::seal(
        &shelter.signing_key,
        &police.encryption_key.public_key(),
        &header.encode(),
        &record.encode(),
    )
    .unwrap()
}

/// The shelter's `disclosed` entry of `envelope` (or of `header`, `hash` if given).
fn disclosed_entry(header: &DisclosureHeader, ciphertext_hash: [u8; 32]) -> Vec<u8> {
    AuditEntry::Disclosed {
        header: header.clone(),
        basis: Basis::Agreement(vec![ClauseId::new("police-identification").unwrap()]),
        urgent_review: false,
        ciphertext_hash,
        at: header.created_at,
    }
    .encode()
}

fn header_of(envelope: &Envelope) -> DisclosureHeader {
    DisclosureHeader::decode(&envelope.header.context).unwrap()
}

/// A `subject_registered` of the shelter's log: an entry that is not a disclosure.
fn other_entry() -> Vec<u8> {
    AuditEntry::SubjectRegistered {
        subject: SubjectId::from_bytes([0x16; 16]),
        age_status: AgeStatus::Adult,
        at: now(),
    }
    .encode()
}

fn delivery(envelope: Envelope, disclosed: ProvenEntry) -> PeerRequest {
    PeerRequest::Deliver(Box::new(Delivery {
        envelope,
        disclosed,
        subject: SubjectFacts {
            age_status: AgeStatus::Adult,
            adult_since: Some(streha_core::Timestamp::EPOCH),
            representatives: vec![],
        },
        consent: None,
    }))
}

async fn as_shelter_node(federation: &Federation) -> Connection {
    let identity = Identity::from_key(&federation.member(SHELTER).node_key).unwrap();
    let police = federation.member(POLICE);
    raw_connection(
        &identity,
        police.node_key.public_key().to_bytes(),
        police.peer_addr,
        PEER_ALPN,
    )
    .await
    .unwrap()
}

/// Asserts that the police node refuses `message` as unverifiable, with a message holding
/// `says`, and that nothing was stored or logged.
async fn assert_refused(
    connection: &Connection,
    police: &streha_client::Client,
    message: PeerRequest,
    says: &str,
) {
    let log_before = log_entries(police).await.len();
    let response: PeerResponse = request_of(connection, &message).await;
    match &response {
        PeerResponse::Error(e) => {
            assert_eq!(e.code, ErrorCode::VerificationFailed, "{e}");
            assert!(e.message.contains(says), "`{says}` not in: {e}");
        }
        other => panic!("expected a VerificationFailed error, got {other:?}"),
    }
    assert!(police.inbox(None, 10).await.unwrap().is_empty());
    let log = log_entries(police).await;
    assert_eq!(log.len(), log_before, "a refused delivery was logged");
    assert_eq!(count(&log, "received"), 0);
    assert_eq!(count(&log, "receive_refused"), 0);
}

async fn request_of(connection: &Connection, message: &PeerRequest) -> PeerResponse {
    request(connection, message, MAX_FRAME_LEN, T)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_without_valid_disclosed_evidence_is_refused_and_nothing_is_logged() {
    let federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let connection = as_shelter_node(&federation).await;
    let shelter = federation.member(SHELTER);
    let shelter_origin = shelter.entry().log_origin(FEDERATION);

    // No checkpoint at all.
    let sealed = envelope(&federation, 0x01);
    let mut evidence = sender_evidence(&federation, SHELTER, &sealed);
    evidence.checkpoint = String::new();
    assert_refused(
        &connection,
        &police,
        delivery(sealed, evidence),
        "checkpoint is not signed by",
    )
    .await;

    // A checkpoint under the shelter's origin signed by a key that is not its node key.
    let sealed = envelope(&federation, 0x02);
    let evidence = sender_evidence(&federation, SHELTER, &sealed);
    let entries = [evidence.entry.clone()];
    let tree = streha_audit::MemoryTree::from_entries(&entries);
    let stranger = NodeIdentitySecretKey::generate();
    let forged = streha_audit::sign_checkpoint(
        &streha_audit::Checkpoint::new(shelter_origin.as_str(), 1, tree.root()).unwrap(),
        &NoteSigner::new(&shelter_origin, stranger.as_dalek().clone()).unwrap(),
    )
    .to_text();
    assert_refused(
        &connection,
        &police,
        delivery(
            sealed,
            ProvenEntry {
                checkpoint: forged,
                ..evidence
            },
        ),
        "checkpoint is not signed by",
    )
    .await;

    // A checkpoint of another roster node's log, validly signed by that node.
    let sealed = envelope(&federation, 0x03);
    let entry = disclosed_entry(&header_of(&sealed), sealed.ciphertext_hash);
    let evidence = proven_in_own_log(&federation, PROSECUTION, &[entry], 0);
    assert_refused(
        &connection,
        &police,
        delivery(sealed, evidence),
        "checkpoint is not signed by",
    )
    .await;

    // A bad inclusion proof: one hash of the path changed.
    let sealed = envelope(&federation, 0x04);
    let entries = [
        other_entry(),
        disclosed_entry(&header_of(&sealed), sealed.ciphertext_hash),
    ];
    let mut evidence = proven_in_own_log(&federation, SHELTER, &entries, 1);
    let mut hashes = evidence.proof.hashes().to_vec();
    hashes[0] = leaf_hash(b"not the sibling");
    evidence.proof = InclusionProof::new(hashes).unwrap();
    assert_refused(
        &connection,
        &police,
        delivery(sealed, evidence),
        "is not proven in",
    )
    .await;

    // A valid proof at another index than the one stated.
    let sealed = envelope(&federation, 0x05);
    let entries = [
        other_entry(),
        disclosed_entry(&header_of(&sealed), sealed.ciphertext_hash),
    ];
    let mut evidence = proven_in_own_log(&federation, SHELTER, &entries, 1);
    evidence.index = 0;
    assert_refused(
        &connection,
        &police,
        delivery(sealed, evidence),
        "is not proven in",
    )
    .await;

    // A valid proof of another entry of the shelter's log, not a `disclosed`.
    let sealed = envelope(&federation, 0x06);
    let entries = [
        other_entry(),
        disclosed_entry(&header_of(&sealed), sealed.ciphertext_hash),
    ];
    let evidence = proven_in_own_log(&federation, SHELTER, &entries, 0);
    assert_refused(
        &connection,
        &police,
        delivery(sealed, evidence),
        "is not a `disclosed` entry",
    )
    .await;

    // A valid proof of the `disclosed` of another envelope.
    let sealed = envelope(&federation, 0x07);
    let other = envelope(&federation, 0x08);
    let evidence = sender_evidence(&federation, SHELTER, &other);
    assert_refused(
        &connection,
        &police,
        delivery(sealed, evidence),
        "of another envelope",
    )
    .await;

    // The `disclosed` of this header with another ciphertext: another envelope under the id.
    let sealed = envelope(&federation, 0x09);
    let entry = disclosed_entry(&header_of(&sealed), [0x99; 32]);
    let evidence = proven_in_own_log(&federation, SHELTER, &[entry], 0);
    assert_refused(
        &connection,
        &police,
        delivery(sealed, evidence),
        "of another envelope",
    )
    .await;

    // With the evidence, the same connection's delivery is received, and the `received`
    // keeps the sender's index, checkpoint and envelope signature.
    let sealed = envelope(&federation, 0x0a);
    let entries = [
        other_entry(),
        disclosed_entry(&header_of(&sealed), sealed.ciphertext_hash),
    ];
    let evidence = proven_in_own_log(&federation, SHELTER, &entries, 1);
    let root = streha_audit::MemoryTree::from_entries(&entries).root();
    let signature = sealed.signature.to_bytes();
    let PeerResponse::Receipt(receipt) = request_of(&connection, &delivery(sealed, evidence)).await
    else {
        panic!("a delivery with valid evidence is received");
    };
    match AuditEntry::decode(&receipt.received.entry).unwrap() {
        AuditEntry::Received {
            sender_signature,
            sender_log_index,
            sender_tree_size,
            sender_root_hash,
            ..
        } => {
            assert_eq!(sender_log_index, 1);
            assert_eq!(sender_tree_size, 2);
            assert_eq!(Hash::from_bytes(sender_root_hash), root);
            assert_eq!(sender_signature.signature.to_bytes(), signature);
        }
        other => panic!("a receipt of a `{}`", other.kind_name()),
    }
    assert_eq!(police.inbox(None, 10).await.unwrap().len(), 1);
}
