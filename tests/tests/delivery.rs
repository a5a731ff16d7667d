//! Store-and-forward with real daemons: a receiver that is down, and SIGKILL of either node
//! in the middle of deliveries. Nothing acknowledged is lost, nothing is delivered twice,
//! and both logs agree.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use streha_client::Client;
use streha_core::{
    AgeStatus, AuditEntry, Category, DisclosableCategory, EnvelopeId, Grantor, Purpose,
};
use streha_wire::app::DeliveryState;

/// Registers an adult at the shelter with a consent for medical data to the police.
async fn consented_subject(shelter: &Client) -> (streha_core::SubjectId, streha_core::ConsentId) {
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
    (subject, consent)
}

async fn send_medical(
    shelter: &Client,
    subject: streha_core::SubjectId,
    consent: streha_core::ConsentId,
    n: usize,
) -> EnvelopeId {
    let police = streha_core::AgencyId::new(POLICE).unwrap();
    let sealed = shelter
        .disclosure(subject, police, Purpose::Assistance)
        .field(DisclosableCategory::Medical, "note", format!("visit {n}"))
        .unwrap()
        .consent(consent)
        .prepare()
        .unwrap()
        .seal(shelter)
        .unwrap();
    let id = sealed.envelope_id();
    shelter.submit(&sealed).await.unwrap();
    id
}

async fn all_delivered(shelter: &Client, ids: &[EnvelopeId]) -> bool {
    for id in ids {
        match shelter.delivery_status(*id).await {
            Ok(DeliveryState::Delivered { .. }) => {}
            _ => return false,
        }
    }
    true
}

/// Every sent envelope is in the receiver's inbox and log exactly once, has exactly one
/// receipt at the sender, and each receipt names the receiver's `received` entry.
async fn assert_exactly_once(shelter: &Client, police: &Client, ids: &[EnvelopeId]) {
    let sent: BTreeSet<_> = ids.iter().copied().collect();
    let mut inbox = Vec::new();
    let mut after = None;
    loop {
        let page = police.inbox(after, 100).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.envelope);
        inbox.extend(page);
    }
    let inbox_ids: Vec<_> = inbox.iter().map(|i| i.envelope).collect();
    assert_eq!(inbox_ids.len(), sent.len(), "one inbox item per envelope");
    assert_eq!(inbox_ids.iter().copied().collect::<BTreeSet<_>>(), sent);

    let police_log = log_entries(police).await;
    let received: Vec<_> = police_log
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            AuditEntry::Received { header, .. } => Some((i as u64, header.envelope_id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        received.len(),
        sent.len(),
        "one received entry per envelope"
    );

    let shelter_log = log_entries(shelter).await;
    let receipts: Vec<_> = shelter_log
        .iter()
        .filter_map(|e| match e {
            AuditEntry::Receipt {
                envelope,
                receiver_log_index,
                ..
            } => Some((*envelope, *receiver_log_index)),
            _ => None,
        })
        .collect();
    assert_eq!(receipts.len(), sent.len(), "one receipt per envelope");
    for (envelope, index) in receipts {
        assert!(
            received.contains(&(index, envelope)),
            "the receipt for {envelope} names receiver entry {index}, which is not its received entry"
        );
    }
    assert_eq!(count(&shelter_log, "disclosed"), sent.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_is_down_gets_the_disclosure_once_it_returns() {
    let federation = Federation::new();
    let _shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, consent) = consented_subject(&shelter).await;
    let id = send_medical(&shelter, subject, consent, 0).await;

    // Queued while the police node is down, with failed attempts counted.
    let queued = eventually(Duration::from_secs(30), || async {
        match shelter.delivery_status(id).await.ok()? {
            DeliveryState::Queued {
                attempts,
                last_error: Some(_),
            } if attempts >= 1 => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(
        queued.is_some(),
        "the envelope waits in the queue and is retried"
    );

    let _police_node = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let delivered = eventually(Duration::from_secs(20), || async {
        all_delivered(&shelter, &[id]).await.then_some(())
    })
    .await;
    assert!(delivered.is_some(), "delivered once the receiver is back");
    assert_exactly_once(&shelter, &police, &[id]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_of_the_receiver_mid_delivery_loses_and_duplicates_nothing() {
    let federation = Federation::new();
    let _shelter_node = federation.start(SHELTER);
    let police_node = federation.start(POLICE);
    let shelter = federation.client(SHELTER).await;
    let (subject, consent) = consented_subject(&shelter).await;

    let mut ids = Vec::new();
    for n in 0..40 {
        ids.push(send_medical(&shelter, subject, consent, n).await);
        if n == 20 {
            // Deliveries are in flight: kill the receiver hard.
            police_node.kill9();
            break;
        }
    }
    for n in 21..40 {
        ids.push(send_medical(&shelter, subject, consent, n).await);
    }
    let _police_node = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let delivered = eventually(Duration::from_secs(30), || async {
        all_delivered(&shelter, &ids).await.then_some(())
    })
    .await;
    assert!(
        delivered.is_some(),
        "every accepted disclosure is delivered after the restart"
    );
    assert_exactly_once(&shelter, &police, &ids).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_of_the_sender_right_after_acknowledgement_loses_and_duplicates_nothing() {
    let federation = Federation::new();
    let shelter_node = federation.start(SHELTER);
    let _police_node = federation.start(POLICE);
    let shelter = federation.client(SHELTER).await;
    let (subject, consent) = consented_subject(&shelter).await;

    let mut ids = Vec::new();
    for n in 0..15 {
        ids.push(send_medical(&shelter, subject, consent, n).await);
    }
    // The last acknowledgement just arrived; kill the sender before it can deliver it all.
    shelter_node.kill9();
    let _shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let police = federation.client(POLICE).await;
    let delivered = eventually(Duration::from_secs(30), || async {
        all_delivered(&shelter, &ids).await.then_some(())
    })
    .await;
    assert!(
        delivered.is_some(),
        "the restarted sender delivers what it acknowledged"
    );
    assert_exactly_once(&shelter, &police, &ids).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_a_node_cleanly_and_it_resumes_where_it_was() {
    let federation = Federation::new();
    let shelter_node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, consent) = consented_subject(&shelter).await;
    let id = send_medical(&shelter, subject, consent, 0).await;
    let size_before = shelter.checkpoint().await.unwrap().size();
    assert!(
        shelter_node.terminate(),
        "SIGTERM ends strehad with exit code 0"
    );

    let _shelter_node = federation.start(SHELTER);
    let _police_node = federation.start(POLICE);
    let shelter = federation.client(SHELTER).await;
    assert!(shelter.checkpoint().await.unwrap().size() >= size_before);
    let delivered = eventually(Duration::from_secs(20), || async {
        all_delivered(&shelter, &[id]).await.then_some(())
    })
    .await;
    assert!(delivered.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_learns_at_once_that_its_node_restarted() {
    let federation = Federation::new();
    let node = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    node.kill9();
    let _node = federation.start(SHELTER);
    // The restarted node answers packets of the old connection with a stateless reset (its
    // reset key derives from its node key), so the client is told instead of timing out.
    let first = shelter.register_subject(AgeStatus::Adult, vec![]).await;
    if let Err(error) = &first {
        let text = error.to_string();
        assert!(
            !text.contains("no answer") && !text.contains("timed out"),
            "{text}"
        );
    }
    // The next call dials afresh.
    shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
}
