//! Issue 19.1 and 19.2 against real daemons: disclosures to one recipient travel in
//! delivery batches, each answered with one signed receipt; a forged envelope inside a batch
//! is refused alone; a batch over its bounds is refused whole; a batch sent again after its
//! commit is answered from the log with the same indices, also when it mixes received and
//! new envelopes.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use quinn::Connection;
use streha_audit::{NoteVerifier, open_checkpoint};
use streha_core::{
    AgeStatus, Approvals, AuditEntry, Basis, Category, CategorySet, ClauseId, DisclosableCategory,
    DisclosureHeader, EnvelopeId, Grantor, Purpose, SubjectId, Timestamp,
};
use streha_crypto::{Envelope, Signature};
use streha_transport::{Identity, request};
use streha_verify::{VerifyOptions, render_text, verify};
use streha_wire::app::DeliveryState;
use streha_wire::limits::{MAX_BATCH_BYTES, MAX_BATCH_ENVELOPES};
use streha_wire::peer::{
    BatchOutcome, BatchReceipt, BatchedDelivery, DeliveryBatch, EntryProof, PeerRequest,
    PeerResponse, SubjectFacts,
};
use streha_wire::{ErrorCode, MAX_FRAME_LEN, PEER_ALPN, Roster};

const T: Duration = Duration::from_secs(30);

/// An envelope from the shelter to the police that the agreement allows, carrying
/// `payload` bytes (the receiver never opens it).
fn envelope(federation: &Federation, id: u8, payload: usize) -> Envelope {
    let (shelter, police) = (federation.member(SHELTER), federation.member(POLICE));
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([id; 16]),
        sender: shelter.id.clone(),
        recipient: police.id.clone(),
        subject: SubjectId::from_bytes([0x19; 16]),
        categories: [Category::Identity].into_iter().collect::<CategorySet>(),
        purpose: Purpose::IdentificationAndReferral,
        consent: None,
        created_at: now(),
        approvals: Approvals::new(),
    };
    streha_crypto::seal(
        &shelter.signing_key,
        &police.encryption_key.public_key(),
        &header.encode(),
        &vec![0x5a; payload],
    )
    .unwrap()
}

fn disclosed_entry(envelope: &Envelope) -> Vec<u8> {
    let header = DisclosureHeader::decode(&envelope.header.context).unwrap();
    AuditEntry::Disclosed {
        header: header.clone(),
        basis: Basis::Agreement(vec![ClauseId::new("police-identification").unwrap()]),
        urgent_review: false,
        ciphertext_hash: envelope.ciphertext_hash,
        at: header.created_at,
    }
    .encode()
}

/// A batch of `envelopes`, each with its `disclosed` entry proven under one checkpoint of a
/// shelter log made of exactly these entries (signed by the shelter's node key).
fn batch(federation: &Federation, envelopes: Vec<Envelope>) -> PeerRequest {
    let entries: Vec<Vec<u8>> = envelopes.iter().map(disclosed_entry).collect();
    let mut checkpoint = String::new();
    let deliveries = envelopes
        .into_iter()
        .enumerate()
        .map(|(index, envelope)| {
            let proven = proven_in_own_log(federation, SHELTER, &entries, index as u64);
            let (disclosed, note) = proven.split();
            checkpoint = note;
            BatchedDelivery {
                envelope,
                disclosed,
                subject: SubjectFacts {
                    age_status: AgeStatus::Adult,
                    adult_since: Some(Timestamp::EPOCH),
                    representatives: vec![],
                },
                consent: None,
            }
        })
        .collect();
    PeerRequest::DeliverBatch(Box::new(DeliveryBatch {
        checkpoint,
        deliveries,
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

async fn send(connection: &Connection, message: &PeerRequest) -> PeerResponse {
    request(connection, message, MAX_FRAME_LEN, T)
        .await
        .unwrap()
}

/// The receipt, checked as a sender checks it: one checkpoint signed by the police node,
/// every `Received` outcome proven under it. Returns each outcome's index (`None`: not
/// received).
fn checked_receipt(federation: &Federation, receipt: &BatchReceipt) -> Vec<Option<u64>> {
    let police = federation.member(POLICE);
    let verifier = NoteVerifier::new(
        &police.entry().log_origin(FEDERATION),
        *police.node_key.public_key().as_dalek(),
    )
    .unwrap();
    let (checkpoint, _) =
        open_checkpoint(&receipt.checkpoint, std::slice::from_ref(&verifier)).unwrap();
    receipt
        .outcomes
        .iter()
        .map(|outcome| match outcome {
            BatchOutcome::Received(EntryProof {
                entry,
                index,
                proof,
            }) => {
                streha_audit::verify_inclusion(
                    &streha_audit::leaf_hash(entry),
                    *index,
                    checkpoint.size(),
                    proof,
                    checkpoint.root(),
                )
                .unwrap();
                assert!(matches!(
                    AuditEntry::decode(entry).unwrap(),
                    AuditEntry::Received { .. }
                ));
                Some(*index)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_to_one_recipient_travels_in_batches_and_every_evidence_check_holds() {
    let federation = Federation::new();
    let _shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let (consent, _) = shelter
        .grant_consent(consent_terms(
            subject,
            Grantor::Subject,
            POLICE,
            &[Category::Medical],
            &[Purpose::Assistance],
        ))
        .await
        .unwrap();
    // Queued while the police node is down: they leave together once it is up.
    let police_id = streha_core::AgencyId::new(POLICE).unwrap();
    let mut ids = Vec::new();
    for n in 0..40 {
        let sealed = shelter
            .disclosure(subject, police_id.clone(), Purpose::Assistance)
            .field(DisclosableCategory::Medical, "note", format!("visit {n}"))
            .unwrap()
            .consent(consent)
            .prepare()
            .unwrap()
            .seal(&shelter)
            .unwrap();
        ids.push(sealed.envelope_id());
        shelter.submit(&sealed).await.unwrap();
    }
    let _police_node = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let delivered = eventually(Duration::from_secs(60), || async {
        for id in &ids {
            match shelter.delivery_status(*id).await.ok()? {
                DeliveryState::Delivered { .. } => {}
                _ => return None,
            }
        }
        Some(())
    })
    .await;
    assert!(delivered.is_some(), "every disclosure is delivered");

    let received = metric(
        federation.member(POLICE),
        "streha_disclosures_received_total",
    );
    let batches = metric(
        federation.member(POLICE),
        "streha_delivery_batches_received_total",
    );
    assert_eq!(received, 40);
    assert!(
        (1..40).contains(&batches),
        "40 disclosures to one recipient arrived in {batches} batches"
    );

    // Once each in both logs, and every receipt names its `received` entry.
    let police_log = log_entries(&police).await;
    let shelter_log = log_entries(&shelter).await;
    let received: BTreeSet<(u64, EnvelopeId)> = police_log
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            AuditEntry::Received { header, .. } => Some((i as u64, header.envelope_id)),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 40);
    let receipts: Vec<(u64, EnvelopeId)> = shelter_log
        .iter()
        .filter_map(|e| match e {
            AuditEntry::Receipt {
                envelope,
                receiver_log_index,
                ..
            } => Some((*receiver_log_index, *envelope)),
            _ => None,
        })
        .collect();
    assert_eq!(receipts.len(), 40);
    assert!(receipts.iter().all(|r| received.contains(r)));

    // The offline verifier checks every envelope's evidence (V3.6) on both logs: nothing.
    let bundles = vec![
        shelter.export_bundle().await.unwrap(),
        police.export_bundle().await.unwrap(),
    ];
    let note = std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap();
    let key = federation.roster_key.public_key();
    let roster = Roster::open(&note, &key).unwrap();
    let report = verify(
        &bundles,
        &roster,
        &VerifyOptions::new().roster_key(key).generated_at(now()),
    );
    assert!(report.findings.is_empty(), "{}", render_text(&report));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_envelope_inside_a_batch_is_refused_alone() {
    let federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let connection = as_shelter_node(&federation).await;

    let mut envelopes: Vec<Envelope> = (1..=5).map(|n| envelope(&federation, n, 100)).collect();
    // The third: a signature the shelter's key never made, over an envelope whose evidence
    // is otherwise perfect.
    let mut forged = envelopes[2].signature.to_bytes();
    forged[7] ^= 0x40;
    envelopes[2].signature = Signature::from_bytes(forged);

    let PeerResponse::BatchReceipt(receipt) =
        send(&connection, &batch(&federation, envelopes)).await
    else {
        panic!("a batch is answered with one receipt");
    };
    let indices = checked_receipt(&federation, &receipt);
    assert_eq!(indices.iter().filter(|i| i.is_some()).count(), 4);
    match &receipt.outcomes[2] {
        BatchOutcome::Error(e) => {
            assert_eq!(e.code, ErrorCode::VerificationFailed, "{e}");
            assert!(e.message.contains("does not verify"), "{e}");
        }
        other => panic!("the forged envelope was not refused: {other:?}"),
    }
    assert_eq!(police.inbox(None, 10).await.unwrap().len(), 4);
    let log = log_entries(&police).await;
    assert_eq!(count(&log, "received"), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_over_its_bounds_is_refused_whole() {
    let federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let connection = as_shelter_node(&federation).await;
    let before = log_entries(&police).await.len();

    // One envelope more than a batch may carry: refused while decoding.
    let count_over: Vec<Envelope> = (0..=MAX_BATCH_ENVELOPES)
        .map(|n| envelope(&federation, n as u8, 10))
        .collect();
    match send(&connection, &batch(&federation, count_over)).await {
        PeerResponse::Error(e) => {
            assert_eq!(e.code, ErrorCode::BadRequest, "{e}");
            assert!(e.message.contains("envelopes of a delivery batch"), "{e}");
        }
        other => panic!("a batch over MAX_BATCH_ENVELOPES was taken: {other:?}"),
    }

    // Two envelopes of more than half the byte bound each.
    let half = MAX_BATCH_BYTES / 2 + 1024;
    let bytes_over = vec![
        envelope(&federation, 0x70, half),
        envelope(&federation, 0x71, half),
    ];
    match send(&connection, &batch(&federation, bytes_over)).await {
        PeerResponse::Error(e) => {
            assert_eq!(e.code, ErrorCode::BadRequest, "{e}");
            assert!(e.message.contains("MAX_BATCH_BYTES"), "{e}");
        }
        other => panic!("a batch over MAX_BATCH_BYTES was taken: {other:?}"),
    }
    assert_eq!(
        log_entries(&police).await.len(),
        before,
        "nothing is logged"
    );
    assert!(police.inbox(None, 10).await.unwrap().is_empty());

    // One envelope above the byte bound travels alone.
    let alone = vec![envelope(&federation, 0x72, MAX_BATCH_BYTES + 1024)];
    let PeerResponse::BatchReceipt(receipt) = send(&connection, &batch(&federation, alone)).await
    else {
        panic!("a single large envelope is a valid batch");
    };
    assert!(checked_receipt(&federation, &receipt)[0].is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_sent_again_is_answered_from_the_log_with_the_same_indices() {
    let federation = Federation::new();
    let _police_node = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let connection = as_shelter_node(&federation).await;

    let first: Vec<Envelope> = (0x21..=0x23)
        .map(|n| envelope(&federation, n, 64))
        .collect();
    let PeerResponse::BatchReceipt(receipt) =
        send(&connection, &batch(&federation, first.clone())).await
    else {
        panic!("a receipt");
    };
    let indices = checked_receipt(&federation, &receipt);
    assert!(indices.iter().all(Option::is_some), "{receipt:?}");
    let logged = log_entries(&police).await.len();

    // The connection was lost after the commit: the sender sends the same batch again.
    let PeerResponse::BatchReceipt(again) =
        send(&connection, &batch(&federation, first.clone())).await
    else {
        panic!("a receipt");
    };
    assert_eq!(checked_receipt(&federation, &again), indices);
    assert_eq!(
        log_entries(&police).await.len(),
        logged,
        "nothing logged twice"
    );

    // A batch mixing a received envelope and a new one.
    let mixed = vec![first[1].clone(), envelope(&federation, 0x24, 64)];
    let PeerResponse::BatchReceipt(mixed) = send(&connection, &batch(&federation, mixed)).await
    else {
        panic!("a receipt");
    };
    let mixed = checked_receipt(&federation, &mixed);
    assert_eq!(mixed[0], indices[1]);
    assert!(mixed[1].is_some_and(|i| !indices.contains(&Some(i))));
    assert_eq!(log_entries(&police).await.len(), logged + 1);
    assert_eq!(police.inbox(None, 10).await.unwrap().len(), 4);
}
