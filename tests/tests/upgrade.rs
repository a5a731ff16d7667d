//! A federation of the first release upgraded in place (issue 19): the nodes' stores are put
//! back into the layout the first release wrote — three kept records per envelope on each
//! side, `spec/audit-log.md` §7.2 — and restarted; every answer that reads those records is
//! what it was, the disclosure queued across the upgrade is delivered, and the stores are
//! left in the new layout.

mod common;

use std::time::Duration;

use common::*;
use streha_core::{DisclosableCategory, DisclosureHeader, EnvelopeId, Purpose};
use streha_crypto::Envelope;
use streha_store::{Namespace, Store, Transaction};
use streha_wire::ErrorCode;
use streha_wire::app::{AppRequest, AppResponse, DeliveryState};

const PATIENCE: Duration = Duration::from_secs(30);

// The node's namespaces (`spec/audit-log.md` §7.2), written here from the specification.
const DISCLOSED: Namespace = Namespace::new(6);
const DELIVERED: Namespace = Namespace::new(7);
const INBOX_ORDER: Namespace = Namespace::new(10);
const RECEIVED: Namespace = Namespace::new(11);
const NODE_META: Namespace = Namespace::new(13);
const RECEIPT_INDEX: Namespace = Namespace::new(14);
const SENT: Namespace = Namespace::new(23);

/// The store of a stopped node.
fn open_store(federation: &Federation, name: &str) -> Store {
    let member = federation.member(name);
    let origin = member.entry().log_origin(FEDERATION);
    let signer = streha_audit::NoteSigner::new(&origin, member.node_key.as_dalek().clone())
        .expect("key name");
    Store::open(member.dir.join("data"), &origin, signer).expect("the stopped node's store")
}

fn keys(store: &Store, ns: Namespace) -> usize {
    store.scan(ns, &[]).expect("scan").len()
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// A log position as the first release stored it: the index, and the epoch from epoch 2 on.
fn position(index: u64, epoch: u64) -> Vec<u8> {
    let mut value = index.to_be_bytes().to_vec();
    if epoch > 1 {
        value.extend_from_slice(&epoch.to_be_bytes());
    }
    value
}

/// Puts a stopped node's kept records back into the first release's layout, reading the
/// new one as §7.2 documents it.
fn back_to_the_first_release(store: &Store) {
    let mut tx = Transaction::new();
    for (id, sent) in store.scan(SENT, &[]).expect("scan") {
        match (sent[8], sent.len()) {
            (0, 17) => {
                tx.put(
                    DISCLOSED,
                    id.clone(),
                    position(u64_at(&sent, 0), u64_at(&sent, 9)),
                );
            }
            (1, 41) => {
                // `Delivered { receiver_index }` in postcard: one unsigned LEB128 varint.
                let mut receiver = Vec::new();
                let mut n = u64_at(&sent, 33);
                loop {
                    let byte = (n & 0x7f) as u8;
                    n >>= 7;
                    if n == 0 {
                        receiver.push(byte);
                        break;
                    }
                    receiver.push(byte | 0x80);
                }
                tx.put(
                    DISCLOSED,
                    id.clone(),
                    position(u64_at(&sent, 17), u64_at(&sent, 25)),
                )
                .put(DELIVERED, id.clone(), receiver)
                .put(
                    RECEIPT_INDEX,
                    id.clone(),
                    position(u64_at(&sent, 0), u64_at(&sent, 9)),
                );
            }
            other => panic!("not a sent record: {other:?}"),
        }
        tx.remove(SENT, id);
    }
    for (order, received) in store.scan(INBOX_ORDER, &[]).expect("scan") {
        assert!(!received.is_empty(), "the inbox order key holds a position");
        tx.put(RECEIVED, order[8..24].to_vec(), received)
            .put(INBOX_ORDER, order, Vec::new());
    }
    tx.remove(NODE_META, b"kept-records-v1".to_vec());
    store.commit(tx).expect("commit");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_federation_of_the_first_release_upgrades_in_place_and_answers_as_before() {
    let federation = Federation::new();
    let police_node = federation.start(POLICE);
    let shelter_node = federation.start(SHELTER);
    // The prosecution stays down: a disclosure to it waits in the police's queue.
    let police = federation.client(POLICE).await;
    let (subject, _) = police
        .register_subject(streha_core::AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let header = |to: &str, purpose: Purpose, category: DisclosableCategory| {
        police
            .disclosure(subject, federation.member(to).id.clone(), purpose)
            .field(category, "note", "…")
            .unwrap()
            .prepare()
            .unwrap()
            .header()
            .clone()
    };
    let referral = seal_raw(
        &federation,
        POLICE,
        &header(
            SHELTER,
            Purpose::IdentificationAndReferral,
            DisclosableCategory::Identity,
        ),
    );
    let case = seal_raw(
        &federation,
        POLICE,
        &header(
            PROSECUTION,
            Purpose::CriminalInvestigationAndProsecution,
            DisclosableCategory::CaseSummary,
        ),
    );
    let id_of = |envelope: &Envelope| {
        DisclosureHeader::decode(&envelope.header.context)
            .unwrap()
            .envelope_id
    };
    let (referral_id, case_id) = (id_of(&referral), id_of(&case));
    let submit = |envelope: &Envelope| {
        raw_request(
            &federation,
            POLICE,
            AppRequest::Submit(Box::new(envelope.clone())),
        )
    };
    for envelope in [&referral, &case] {
        let answer = submit(envelope).await;
        assert!(matches!(answer, AppResponse::Accepted { .. }), "{answer:?}");
    }
    let status = |id: EnvelopeId| {
        raw_request(
            &federation,
            POLICE,
            AppRequest::DeliveryStatus { envelope: id },
        )
    };
    eventually(PATIENCE, || async {
        matches!(
            status(referral_id).await,
            AppResponse::Delivery(DeliveryState::Delivered { .. })
        )
        .then_some(())
    })
    .await
    .expect("the referral is delivered");

    // What reads the kept records, asked before and after.
    let observe = || async {
        let mut seen = vec![
            submit(&referral).await,
            submit(&case).await,
            status(referral_id).await,
            raw_request(
                &federation,
                POLICE,
                AppRequest::AwaitDelivery {
                    envelope: referral_id,
                    timeout_ms: 0,
                },
            )
            .await,
            raw_request(
                &federation,
                SHELTER,
                AppRequest::Inbox {
                    after: None,
                    limit: 16,
                },
            )
            .await,
        ];
        let mut proofs = Vec::new();
        for answer in seen.clone() {
            let index = match answer {
                AppResponse::Accepted { index, .. } => index,
                AppResponse::Delivery(DeliveryState::Delivered { receipt_index, .. }) => {
                    receipt_index
                }
                _ => continue,
            };
            // The entry proven (its proof leads to the latest checkpoint, which may have
            // grown meanwhile: the nodes witness each other).
            match raw_request(&federation, POLICE, AppRequest::ProveEntry { index }).await {
                AppResponse::Entry(proven) => {
                    proofs.push(format!("entry {}: {:?}", proven.index, proven.entry));
                }
                other => panic!("{other:?}"),
            }
        }
        // Another envelope under a used id: the same header sealed again.
        let other = submit(&seal_raw(
            &federation,
            POLICE,
            &DisclosureHeader::decode(&referral.header.context).unwrap(),
        ))
        .await;
        assert!(
            matches!(&other, AppResponse::Error(e) if e.code == ErrorCode::Conflict),
            "{other:?}"
        );
        seen.push(other);
        assert!(
            matches!(
                status(case_id).await,
                AppResponse::Delivery(DeliveryState::Queued { .. })
            ),
            "the case waits for the prosecution"
        );
        let mut seen: Vec<String> = seen.iter().map(|a| format!("{a:?}")).collect();
        seen.extend(proofs);
        seen
    };
    let before = observe().await;
    assert!(police_node.terminate(), "the police node stops cleanly");
    assert!(shelter_node.terminate(), "the shelter node stops cleanly");

    {
        let police = open_store(&federation, POLICE);
        back_to_the_first_release(&police);
        assert_eq!(keys(&police, DISCLOSED), 2);
        assert_eq!(keys(&police, DELIVERED), 1);
        assert_eq!(keys(&police, RECEIPT_INDEX), 1);
        assert_eq!(keys(&police, SENT), 0);
        let shelter = open_store(&federation, SHELTER);
        back_to_the_first_release(&shelter);
        assert_eq!(keys(&shelter, RECEIVED), 1);
    }

    // The upgrade: the new code starts on the old stores.
    let police_node = federation.start(POLICE);
    let shelter_node = federation.start(SHELTER);
    assert_eq!(observe().await, before);
    let prosecution_node = federation.start(PROSECUTION);
    eventually(PATIENCE, || async {
        matches!(
            status(case_id).await,
            AppResponse::Delivery(DeliveryState::Delivered { .. })
        )
        .then_some(())
    })
    .await
    .expect("the case queued across the upgrade is delivered");
    assert!(police_node.terminate());
    assert!(shelter_node.terminate());
    assert!(prosecution_node.terminate());

    let police = open_store(&federation, POLICE);
    for retired in [DISCLOSED, DELIVERED, RECEIPT_INDEX] {
        assert_eq!(keys(&police, retired), 0);
    }
    assert_eq!(keys(&police, SENT), 2, "one record per disclosure");
    let shelter = open_store(&federation, SHELTER);
    assert_eq!(keys(&shelter, RECEIVED), 0);
    assert!(
        shelter
            .scan(INBOX_ORDER, &[])
            .unwrap()
            .iter()
            .all(|(_, position)| !position.is_empty())
    );
    assert!(
        shelter
            .get(NODE_META, b"kept-records-v1")
            .unwrap()
            .is_some()
    );
}
