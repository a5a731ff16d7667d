//! The roster in force: adopting a new roster is atomic with respect to deliveries and
//! disclosures (`spec/protocol.md` §8), and a roster signed by the national authority
//! reaches every node through its peers.
//!
//! Real daemons on 127.0.0.1 with real stores; deliveries from a peer are sent raw (the
//! envelope sealed and signed with the agency's keys, the evidence signed with its node
//! key), as a peer node would.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use streha_core::{
    AgeStatus, Approvals, AuditEntry, Category, CategorySet, DisclosableCategory, DisclosureHeader,
    EnvelopeId, Field, Purpose, Record, RefusalReason, SubjectId,
};
use streha_transport::{Identity, request};
use streha_wire::app::{AppRequest, AppResponse};
use streha_wire::peer::{Delivery, PeerRequest, PeerResponse, SubjectFacts};
use streha_wire::{APP_ALPN, MAX_FRAME_LEN, PEER_ALPN};

const T: Duration = Duration::from_secs(20);

/// A delivery from `from` to `to` of an identity record under envelope id `id`, with the
/// evidence `from`'s node key can sign.
fn delivery(federation: &Federation, from: &str, to: &str, id: [u8; 16]) -> PeerRequest {
    let (sender, recipient) = (federation.member(from), federation.member(to));
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes(id),
        sender: sender.id.clone(),
        recipient: recipient.id.clone(),
        subject: SubjectId::from_bytes([0x77; 16]),
        categories: [Category::Identity].into_iter().collect::<CategorySet>(),
        purpose: Purpose::IdentificationAndReferral,
        consent: None,
        created_at: now(),
        approvals: Approvals::new(),
    };
    let mut record = Record::new();
    record
        .insert(Field::text(DisclosableCategory::Identity, "name", "x").unwrap())
        .unwrap();
    let envelope = streha_crypto::seal(
        &sender.signing_key,
        &recipient.encryption_key.public_key(),
        &header.encode(),
        &record.encode(),
    )
    .unwrap();
    let disclosed = sender_evidence(federation, from, &envelope);
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

async fn as_node(federation: &Federation, from: &str, to: &str) -> quinn::Connection {
    let identity = Identity::from_key(&federation.member(from).node_key).unwrap();
    let target = federation.member(to);
    raw_connection(
        &identity,
        target.node_key.public_key().to_bytes(),
        target.peer_addr,
        PEER_ALPN,
    )
    .await
    .unwrap()
}

/// Many deliveries from an agency race the roster change that removes it. Whatever the
/// interleaving, the receiver's log holds no `received` from that agency after its
/// `roster_changed` entry: once the log says the new roster is in force, it is. (Before the
/// adoption was atomic, deliveries checked against the old roster were committed after the
/// new one's entry, and an offline verifier judging each entry under the roster in force at
/// its position reported a breach by an honest node.)
#[tokio::test(flavor = "multi_thread")]
async fn no_delivery_from_a_removed_agency_is_logged_after_the_roster_change() {
    let mut federation = Federation::new();
    let police_node = federation.start(POLICE);
    let police = federation.client(POLICE).await;

    // Prepared beforehand, so the race is between the node's work and the reload only.
    const CONNECTIONS: usize = 4;
    const PER_CONNECTION: usize = 150;
    let mut batches = Vec::new();
    for c in 0..CONNECTIONS {
        let mut batch = Vec::new();
        for n in 0..PER_CONNECTION {
            let mut id = [0u8; 16];
            id[0] = 0xd0;
            id[1] = u8::try_from(c).unwrap();
            id[2..4].copy_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
            batch.push(delivery(&federation, SHELTER, POLICE, id));
        }
        batches.push(batch);
    }
    let received = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = tokio::task::JoinSet::new();
    for batch in batches {
        let connection = as_node(&federation, SHELTER, POLICE).await;
        let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
        senders.spawn(async move {
            // Up to 16 requests in flight on each connection.
            let mut flying = tokio::task::JoinSet::new();
            for message in batch {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                while flying.len() >= 16 {
                    flying.join_next().await;
                }
                let (connection, received) = (connection.clone(), Arc::clone(&received));
                flying.spawn(async move {
                    if let Ok(PeerResponse::Receipt(_)) =
                        request::<_, PeerResponse>(&connection, &message, MAX_FRAME_LEN, T).await
                    {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            while flying.join_next().await.is_some() {}
        });
    }

    // The roster change lands while deliveries are in flight.
    let started = eventually(Duration::from_secs(60), || async {
        (received.load(Ordering::Relaxed) >= 20).then_some(())
    })
    .await;
    assert!(
        started.is_some(),
        "deliveries from the shelter are received"
    );
    let without_shelter = federation
        .members
        .iter()
        .filter(|m| m.id.as_str() != SHELTER)
        .map(Member::entry)
        .collect();
    let v2 = federation.roster_of(without_shelter);
    federation.publish(v2);
    police_node.hangup();
    let adopted = eventually(Duration::from_secs(60), || async {
        log_entries(&police)
            .await
            .iter()
            .any(|e| matches!(e, AuditEntry::RosterChanged { version: 2, .. }))
            .then_some(())
    })
    .await;
    assert!(adopted.is_some(), "the police adopted roster 2");
    stop.store(true, Ordering::Relaxed);
    while senders.join_next().await.is_some() {}

    let log = log_entries(&police).await;
    let change = log
        .iter()
        .position(|e| matches!(e, AuditEntry::RosterChanged { version: 2, .. }))
        .expect("the roster change is logged");
    let before = log[..change]
        .iter()
        .filter(|e| matches!(e, AuditEntry::Received { header, .. } if header.sender.as_str() == SHELTER))
        .count();
    let after: Vec<u64> = log[change..]
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, AuditEntry::Received { header, .. } if header.sender.as_str() == SHELTER))
        .map(|(i, _)| (change + i) as u64)
        .collect();
    assert!(before >= 20, "deliveries before the change: {before}");
    assert!(
        after.is_empty(),
        "{} deliveries from the removed shelter logged after roster version 2 came into force (at index {change}): {after:?}",
        after.len()
    );
    assert_eq!(
        police.inbox(None, 256).await.unwrap().len(),
        before.min(256),
        "only deliveries logged before the change are in the inbox"
    );
}

/// The sending side of the same race: many submissions to an agency race the roster change
/// that removes it. No `disclosed` to it follows the `roster_changed` entry in the sender's
/// log; each submission is either disclosed before the change or refused after it
/// (`UnknownRecipient`), and every answer is one of the two.
#[tokio::test(flavor = "multi_thread")]
async fn no_disclosure_to_a_removed_agency_is_logged_after_the_roster_change() {
    let mut federation = Federation::new();
    let police_node = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let (subject, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();

    const CONNECTIONS: usize = 4;
    const PER_CONNECTION: usize = 150;
    let mut batches = Vec::new();
    for c in 0..CONNECTIONS {
        let mut batch = Vec::new();
        for n in 0..PER_CONNECTION {
            let mut id = [0u8; 16];
            id[0] = 0xe0;
            id[1] = u8::try_from(c).unwrap();
            id[2..4].copy_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
            let (sender, recipient) = (federation.member(POLICE), federation.member(SHELTER));
            let header = DisclosureHeader {
                envelope_id: EnvelopeId::from_bytes(id),
                sender: sender.id.clone(),
                recipient: recipient.id.clone(),
                subject,
                categories: [Category::Identity].into_iter().collect::<CategorySet>(),
                purpose: Purpose::IdentificationAndReferral,
                consent: None,
                created_at: now(),
                approvals: Approvals::new(),
            };
            let envelope = streha_crypto::seal(
                &sender.signing_key,
                &recipient.encryption_key.public_key(),
                &header.encode(),
                &Record::new().encode(),
            )
            .unwrap();
            batch.push(AppRequest::Submit(Box::new(envelope)));
        }
        batches.push(batch);
    }
    let accepted = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let member = federation.member(POLICE);
    let identity = Identity::from_key(&member.app_key).unwrap();
    let mut senders = tokio::task::JoinSet::new();
    for batch in batches {
        let connection = raw_connection(
            &identity,
            member.node_key.public_key().to_bytes(),
            member.app_addr,
            APP_ALPN,
        )
        .await
        .unwrap();
        let (accepted, stop) = (Arc::clone(&accepted), Arc::clone(&stop));
        senders.spawn(async move {
            let mut flying = tokio::task::JoinSet::new();
            for message in batch {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                while flying.len() >= 16 {
                    flying.join_next().await;
                }
                let (connection, accepted) = (connection.clone(), Arc::clone(&accepted));
                flying.spawn(async move {
                    match request::<_, AppResponse>(&connection, &message, MAX_FRAME_LEN, T).await {
                        Ok(AppResponse::Accepted { .. }) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(AppResponse::Refused {
                            reason: RefusalReason::UnknownRecipient { .. },
                            ..
                        }) => {}
                        other => panic!("neither accepted nor refused: {other:?}"),
                    }
                });
            }
            while let Some(done) = flying.join_next().await {
                done.expect("a submission task");
            }
        });
    }

    let started = eventually(Duration::from_secs(60), || async {
        (accepted.load(Ordering::Relaxed) >= 20).then_some(())
    })
    .await;
    assert!(started.is_some(), "submissions to the shelter are accepted");
    let without_shelter = federation
        .members
        .iter()
        .filter(|m| m.id.as_str() != SHELTER)
        .map(Member::entry)
        .collect();
    let v2 = federation.roster_of(without_shelter);
    federation.publish(v2);
    police_node.hangup();
    let adopted = eventually(Duration::from_secs(60), || async {
        log_entries(&police)
            .await
            .iter()
            .any(|e| matches!(e, AuditEntry::RosterChanged { version: 2, .. }))
            .then_some(())
    })
    .await;
    assert!(adopted.is_some(), "the police adopted roster 2");
    // Some more after the change, to see them refused.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = senders.join_next().await {
        done.expect("a connection's submissions");
    }

    let log = log_entries(&police).await;
    let change = log
        .iter()
        .position(|e| matches!(e, AuditEntry::RosterChanged { version: 2, .. }))
        .expect("the roster change is logged");
    let to_shelter = |e: &AuditEntry| matches!(e, AuditEntry::Disclosed { header, .. } if header.recipient.as_str() == SHELTER);
    let after: Vec<usize> = (change..log.len())
        .filter(|i| to_shelter(&log[*i]))
        .collect();
    assert!(
        log[..change].iter().filter(|e| to_shelter(e)).count() >= 20,
        "disclosures before the change"
    );
    assert!(
        after.is_empty(),
        "{} disclosures to the removed shelter logged after roster version 2 came into force (at index {change}): {after:?}",
        after.len()
    );
}
