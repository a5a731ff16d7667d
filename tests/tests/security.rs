//! What a malicious or broken party cannot do to a node: send protection data, bypass the
//! sender's policy, connect with an unpinned key, or upset it with garbage frames.

mod common;

use std::time::Duration;

use common::*;
use quinn::Connection;
use streha_core::{
    AgeStatus, Approvals, AuditEntry, Category, CategorySet, DisclosureHeader, EnvelopeId, Field,
    Purpose, Record, RefusalReason,
};
use streha_crypto::{ApplicationSecretKey, NodeIdentitySecretKey};
use streha_transport::{Identity, request};
use streha_wire::app::{AppRequest, AppResponse};
use streha_wire::peer::{Delivery, PeerRequest, PeerResponse, SubjectFacts};
use streha_wire::{APP_ALPN, ErrorCode, MAX_FRAME_LEN, PEER_ALPN};

const T: Duration = Duration::from_secs(10);

/// A header and sealed envelope from `from` to `to`, bypassing the client library (which
/// cannot express a protection category at all).
fn forged_envelope(
    federation: &Federation,
    from: &str,
    to: &str,
    subject: streha_core::SubjectId,
    categories: &[Category],
    purpose: Purpose,
) -> streha_crypto::Envelope {
    let (sender, recipient) = (federation.member(from), federation.member(to));
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes(rand_bytes()),
        sender: sender.id.clone(),
        recipient: recipient.id.clone(),
        subject,
        categories: categories.iter().copied().collect::<CategorySet>(),
        purpose,
        consent: None,
        created_at: now(),
        approvals: Approvals::new(),
    };
    let mut record = Record::new();
    for category in categories {
        if let Ok(disclosable) = streha_core::DisclosableCategory::try_from(*category) {
            record
                .insert(Field::text(disclosable, "f", "v").unwrap())
                .unwrap();
        }
    }
    streha_crypto::seal(
        &sender.signing_key,
        &recipient.encryption_key.public_key(),
        &header.encode(),
        &record.encode(),
    )
    .unwrap()
}

fn rand_bytes() -> [u8; 16] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut out = [0u8; 16];
    out.copy_from_slice(&nanos.to_le_bytes());
    out[15] ^= 0x5a;
    out
}

async fn app_connection(federation: &Federation, name: &str) -> Connection {
    let member = federation.member(name);
    let identity = Identity::from_key(&member.app_key).unwrap();
    raw_connection(
        &identity,
        member.node_key.public_key().to_bytes(),
        member.app_addr,
        APP_ALPN,
    )
    .await
    .unwrap()
}

async fn peer_connection(federation: &Federation, from: &str, to: &str) -> Connection {
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

#[tokio::test(flavor = "multi_thread")]
async fn a_protection_category_never_leaves_the_sender() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let shelter = federation.client(SHELTER).await;
    let police = federation.client(POLICE).await;
    let police_log_before = log_entries(&police).await.len();
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();

    let envelope = forged_envelope(
        &federation,
        SHELTER,
        POLICE,
        subject,
        &[Category::ShelterLocation, Category::Identity],
        Purpose::IdentificationAndReferral,
    );
    let connection = app_connection(&federation, SHELTER).await;
    let response: AppResponse = request(
        &connection,
        &AppRequest::Submit(Box::new(envelope)),
        MAX_FRAME_LEN,
        T,
    )
    .await
    .unwrap();
    let AppResponse::Refused { reason, index } = response else {
        panic!("expected a refusal, got {response:?}");
    };
    assert!(matches!(
        reason,
        RefusalReason::ProtectionCategory {
            category: Category::ShelterLocation
        }
    ));
    match shelter
        .prove_entry(index)
        .await
        .unwrap()
        .audit_entry()
        .unwrap()
    {
        AuditEntry::Refused { reason, .. } => {
            assert!(matches!(reason, RefusalReason::ProtectionCategory { .. }))
        }
        other => panic!("expected refused, got {}", other.kind_name()),
    }
    // Nothing reached the police: give the queue time to (not) deliver.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(police.inbox(None, 10).await.unwrap().is_empty());
    assert_eq!(log_entries(&police).await.len(), police_log_before);
    assert_eq!(count(&log_entries(&shelter).await, "disclosed"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sender_that_skips_its_own_check_is_refused_by_the_receiver() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let police = federation.client(POLICE).await;
    let subject = streha_core::SubjectId::from_bytes([3; 16]);

    // The shelter's node key, speaking the wire protocol directly, with no consent.
    let connection = peer_connection(&federation, SHELTER, POLICE).await;
    let envelope = forged_envelope(
        &federation,
        SHELTER,
        POLICE,
        subject,
        &[Category::Medical],
        Purpose::Assistance,
    );
    let disclosed = sender_evidence(&federation, SHELTER, &envelope);
    let delivery = PeerRequest::Deliver(Box::new(Delivery {
        envelope,
        disclosed,
        subject: SubjectFacts {
            age_status: AgeStatus::Adult,
            adult_since: Some(streha_core::Timestamp::EPOCH),
            representatives: vec![],
        },
        consent: None,
    }));
    let response: PeerResponse = request(&connection, &delivery, MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(
        matches!(
            response,
            PeerResponse::Refused(RefusalReason::NoConsentForAssistance { .. })
        ),
        "{response:?}"
    );
    // A protection category straight to the receiver is refused the same way.
    let envelope = forged_envelope(
        &federation,
        SHELTER,
        POLICE,
        subject,
        &[Category::ProtectorIdentity],
        Purpose::IdentificationAndReferral,
    );
    let disclosed = sender_evidence(&federation, SHELTER, &envelope);
    let delivery = PeerRequest::Deliver(Box::new(Delivery {
        envelope,
        disclosed,
        subject: SubjectFacts {
            age_status: AgeStatus::Adult,
            adult_since: Some(streha_core::Timestamp::EPOCH),
            representatives: vec![],
        },
        consent: None,
    }));
    let response: PeerResponse = request(&connection, &delivery, MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(
        matches!(
            response,
            PeerResponse::Refused(RefusalReason::ProtectionCategory { .. })
        ),
        "{response:?}"
    );
    // Nothing stored; both refusals logged as such.
    assert!(police.inbox(None, 10).await.unwrap().is_empty());
    let log = log_entries(&police).await;
    assert_eq!(count(&log, "received"), 0);
    assert_eq!(count(&log, "receive_refused"), 2);

    // An envelope signed by one agency cannot be delivered over another agency's connection.
    let prosecution_federation_key =
        Identity::from_key(&federation.member(PROSECUTION).node_key).unwrap();
    let target = federation.member(POLICE);
    let impersonation = raw_connection(
        &prosecution_federation_key,
        target.node_key.public_key().to_bytes(),
        target.peer_addr,
        PEER_ALPN,
    )
    .await
    .unwrap();
    let envelope = forged_envelope(
        &federation,
        SHELTER,
        POLICE,
        subject,
        &[Category::Identity],
        Purpose::IdentificationAndReferral,
    );
    let disclosed = sender_evidence(&federation, SHELTER, &envelope);
    let delivery = PeerRequest::Deliver(Box::new(Delivery {
        envelope,
        disclosed,
        subject: SubjectFacts {
            age_status: AgeStatus::Adult,
            adult_since: Some(streha_core::Timestamp::EPOCH),
            representatives: vec![],
        },
        consent: None,
    }));
    let response: PeerResponse = request(&impersonation, &delivery, MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(
        matches!(&response, PeerResponse::Error(e) if e.code == ErrorCode::Unauthorized),
        "{response:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unpinned_keys_are_refused_at_the_handshake() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let police = federation.member(POLICE);
    let stranger = Identity::from_key(&NodeIdentitySecretKey::generate()).unwrap();
    let peer = raw_connection(
        &stranger,
        police.node_key.public_key().to_bytes(),
        police.peer_addr,
        PEER_ALPN,
    )
    .await;
    // The server refuses the client certificate; the client notices on first use.
    if let Ok(connection) = peer {
        let envelope = forged_envelope(
            &federation,
            SHELTER,
            POLICE,
            streha_core::SubjectId::from_bytes([1; 16]),
            &[Category::Identity],
            Purpose::IdentificationAndReferral,
        );
        let result: Result<PeerResponse, _> = request(
            &connection,
            &PeerRequest::Deliver(Box::new(Delivery {
                disclosed: sender_evidence(&federation, SHELTER, &envelope),
                envelope,
                subject: SubjectFacts {
                    age_status: AgeStatus::Adult,
                    adult_since: None,
                    representatives: vec![],
                },
                consent: None,
            })),
            MAX_FRAME_LEN,
            T,
        )
        .await;
        assert!(result.is_err(), "an unknown node key gets no answer");
    }
    // An application key that is not enrolled.
    let app = Identity::from_key(&ApplicationSecretKey::generate()).unwrap();
    if let Ok(connection) = raw_connection(
        &app,
        police.node_key.public_key().to_bytes(),
        police.app_addr,
        APP_ALPN,
    )
    .await
    {
        let result: Result<AppResponse, _> =
            request(&connection, &AppRequest::Checkpoint, MAX_FRAME_LEN, T).await;
        assert!(result.is_err(), "an unenrolled application gets no answer");
    }
    // A node's key is not an application key, and vice versa.
    let node_as_app = Identity::from_key(&federation.member(SHELTER).node_key).unwrap();
    if let Ok(connection) = raw_connection(
        &node_as_app,
        police.node_key.public_key().to_bytes(),
        police.app_addr,
        APP_ALPN,
    )
    .await
    {
        let result: Result<AppResponse, _> =
            request(&connection, &AppRequest::Checkpoint, MAX_FRAME_LEN, T).await;
        assert!(result.is_err());
    }
    // The node still serves its own application.
    let client = federation.client(POLICE).await;
    client
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_and_oversized_frames_close_their_stream_and_the_node_serves_on() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let connection = peer_connection(&federation, SHELTER, POLICE).await;
    let police = federation.client(POLICE).await;
    let log_before = log_entries(&police).await.len();

    // Garbage payload behind a valid length prefix.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&[0, 0, 0, 5, 1, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let _ = send.finish();
    let response: PeerResponse = streha_transport::read_frame(&mut recv, MAX_FRAME_LEN)
        .await
        .unwrap();
    assert!(
        matches!(&response, PeerResponse::Error(e) if e.code == ErrorCode::BadRequest),
        "{response:?}"
    );

    // A length prefix far over the limit: refused without reading the payload.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    // The node stops the stream as soon as it has read the prefix; writing more may fail.
    let _ = send.write_all(&[0u8; 1024]).await;
    let response: PeerResponse = streha_transport::read_frame(&mut recv, MAX_FRAME_LEN)
        .await
        .unwrap();
    assert!(
        matches!(&response, PeerResponse::Error(e) if e.code == ErrorCode::BadRequest),
        "{response:?}"
    );

    // A length prefix one byte over the limit: refused from the prefix alone, too.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let just_over = u32::try_from(MAX_FRAME_LEN + 1).unwrap();
    send.write_all(&just_over.to_be_bytes()).await.unwrap();
    let _ = send.write_all(&[0u8; 1024]).await;
    let response: PeerResponse = streha_transport::read_frame(&mut recv, MAX_FRAME_LEN)
        .await
        .unwrap();
    assert!(
        matches!(&response, PeerResponse::Error(e) if e.code == ErrorCode::BadRequest),
        "{response:?}"
    );

    // A truncated frame.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&[0, 0, 1, 0, 1, 2, 3]).await.unwrap();
    let _ = send.finish();
    let response: PeerResponse = streha_transport::read_frame(&mut recv, MAX_FRAME_LEN)
        .await
        .unwrap();
    assert!(matches!(&response, PeerResponse::Error(e) if e.code == ErrorCode::BadRequest));

    // A well-formed frame whose list announces far more elements than its cap (100 000
    // empty checkpoints in a gossip message, 24 bytes each once decoded): refused while
    // decoding, naming the list and its cap.
    let mut payload =
        streha_wire::frame::encode(&PeerRequest::Gossip(vec![])).unwrap()[4..].to_vec();
    payload.pop();
    payload.extend_from_slice(&[0xa0, 0x8d, 0x06]); // varint 100 000
    payload.resize(payload.len() + 100_000, 0);
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&u32::try_from(payload.len()).unwrap().to_be_bytes())
        .await
        .unwrap();
    let _ = send.write_all(&payload).await;
    let _ = send.finish();
    let response: PeerResponse = streha_transport::read_frame(&mut recv, MAX_FRAME_LEN)
        .await
        .unwrap();
    assert!(
        matches!(&response, PeerResponse::Error(e) if e.code == ErrorCode::BadRequest
            && e.message.contains("gossip checkpoints: 100000 elements, more than the limit of 256")),
        "{response:?}"
    );

    // Nothing was stored or logged: the inbox is empty and the audit log did not grow.
    assert!(police.inbox(None, 10).await.unwrap().is_empty());
    let log = log_entries(&police).await;
    assert_eq!(log.len(), log_before, "a refused frame was logged");
    assert_eq!(count(&log, "received"), 0);

    // The same connection and the node go on serving.
    let envelope = forged_envelope(
        &federation,
        SHELTER,
        POLICE,
        streha_core::SubjectId::from_bytes([4; 16]),
        &[Category::Identity],
        Purpose::IdentificationAndReferral,
    );
    let disclosed = sender_evidence(&federation, SHELTER, &envelope);
    let delivery = PeerRequest::Deliver(Box::new(Delivery {
        envelope,
        disclosed,
        subject: SubjectFacts {
            age_status: AgeStatus::Adult,
            adult_since: Some(streha_core::Timestamp::EPOCH),
            representatives: vec![],
        },
        consent: None,
    }));
    let response: PeerResponse = request(&connection, &delivery, MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(matches!(response, PeerResponse::Receipt(_)), "{response:?}");
    assert_eq!(police.inbox(None, 10).await.unwrap().len(), 1);
    assert_eq!(count(&log_entries(&police).await, "received"), 1);
}
