//! Authenticated but hostile peers and applications against real daemons (issue 16, points
//! 9, 10 and 12): a receiver that answers with megabytes of text, newlines and terminal
//! escapes; a sender that replays a refused envelope and floods refusals; a queue of
//! thousands of disclosures; a subject with hundreds of consents. Each attack is contained
//! and honest traffic keeps flowing.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use quinn::Connection;
use streha_client::Client;
use streha_core::{
    AgeStatus, AgencyId, Approvals, Category, CategorySet, DisclosableCategory, DisclosureHeader,
    EnvelopeId, Field, Grantor, Purpose, Record, SubjectId,
};
use streha_transport::{
    Identity, PinnedKey, ServerSetup, TransportLimits, read_frame, request, server_config,
    write_frame,
};
use streha_wire::app::{AppRequest, AppResponse, DeliveryState};
use streha_wire::limits::MAX_TEXT_LEN;
use streha_wire::peer::{
    BatchOutcome, BatchReceipt, Delivery, PeerRequest, PeerResponse, SubjectFacts,
};
use streha_wire::{ErrorCode, MAX_FRAME_LEN, PEER_ALPN, RemoteError};

const T: Duration = Duration::from_secs(20);
/// Generous: a loaded two-core machine.
const LONG: Duration = Duration::from_secs(240);

/// What a hostile receiver's text starts with: a newline, then a forged log line, then
/// terminal escapes (clear the screen, paint red).
const FORGED: &str = "no\n2031-01-01T00:00:00.000000Z ERROR FORGED-BY-RECEIVER \u{1b}[2J\u{1b}[31m";

/// An error answer as a hostile peer encodes it, with `RemoteError::new`'s cut bypassed.
fn hostile_error(code: ErrorCode, message: String) -> PeerResponse {
    PeerResponse::Error(RemoteError { code, message })
}

/// An error answer as large as a frame allows (about 4.25 MiB of text).
fn frame_sized_error(code: ErrorCode) -> PeerResponse {
    let mut message = String::from(FORGED);
    message.push_str(&"A".repeat(MAX_FRAME_LEN - message.len() - 64));
    hostile_error(code, message)
}

type Answer = dyn Fn(EnvelopeId, u32) -> PeerResponse + Send + Sync;

/// A raw QUIC peer endpoint on `as_agency`'s roster address, with its node key, accepting
/// only `from`'s node key: every delivery is answered by `answer(envelope, attempt)`
/// (attempts counted from 1), every witnessing request and gossip with a frame-sized
/// error.
fn hostile_receiver(
    federation: &Federation,
    as_agency: &str,
    from: &str,
    answer: Arc<Answer>,
) -> quinn::Endpoint {
    let member = federation.member(as_agency);
    let identity = Identity::from_key(&member.node_key).unwrap();
    let config = server_config(ServerSetup {
        identity: &identity,
        clients: Arc::new(PinnedKey(
            federation.member(from).node_key.public_key().to_bytes(),
        )),
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .unwrap();
    member.release_ports();
    let endpoint = quinn::Endpoint::server(config, member.peer_addr).unwrap();
    let accept = endpoint.clone();
    let attempts: Arc<Mutex<HashMap<EnvelopeId, u32>>> = Arc::default();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            let (answer, attempts) = (Arc::clone(&answer), Arc::clone(&attempts));
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                    let (answer, attempts) = (Arc::clone(&answer), Arc::clone(&attempts));
                    tokio::spawn(async move {
                        let Ok(request) = read_frame::<PeerRequest>(&mut recv, MAX_FRAME_LEN).await
                        else {
                            return;
                        };
                        let attempt_of = |id: EnvelopeId| {
                            let mut attempts = attempts.lock().unwrap();
                            let n = attempts.entry(id).or_default();
                            *n += 1;
                            *n
                        };
                        let id_of = |envelope: &streha_crypto::Envelope| {
                            DisclosureHeader::decode(&envelope.header.context)
                                .unwrap()
                                .envelope_id
                        };
                        let response = match request {
                            PeerRequest::Deliver(delivery) => {
                                let id = id_of(&delivery.envelope);
                                answer(id, attempt_of(id))
                            }
                            // A batch: the first envelope gets its answer (for the whole
                            // batch if it is alone); the others are asked to come back later.
                            PeerRequest::DeliverBatch(batch) => {
                                let ids: Vec<EnvelopeId> = batch
                                    .deliveries
                                    .iter()
                                    .map(|d| id_of(&d.envelope))
                                    .collect();
                                let first = answer(ids[0], attempt_of(ids[0]));
                                if ids.len() == 1 {
                                    first
                                } else {
                                    let mut outcomes = vec![match first {
                                        PeerResponse::Error(e) => BatchOutcome::Error(e),
                                        PeerResponse::Refused(r) => BatchOutcome::Refused(r),
                                        _ => BatchOutcome::Error(RemoteError::new(
                                            ErrorCode::Unavailable,
                                            "later",
                                        )),
                                    }];
                                    outcomes.extend(ids[1..].iter().map(|_| {
                                        BatchOutcome::Error(RemoteError::new(
                                            ErrorCode::Unavailable,
                                            "one at a time",
                                        ))
                                    }));
                                    PeerResponse::BatchReceipt(Box::new(BatchReceipt {
                                        checkpoint: String::new(),
                                        outcomes,
                                    }))
                                }
                            }
                            _ => frame_sized_error(ErrorCode::Unavailable),
                        };
                        let _ = write_frame(&mut send, &response).await;
                    });
                }
            });
        }
    });
    endpoint
}

/// A disclosure of identity data from the client's agency to `to`, about `subject`, for
/// identification and referral (the agreement lets the shelter and the police receive it).
async fn send_identity(client: &Client, subject: SubjectId, to: &str, n: usize) -> EnvelopeId {
    send_identity_for(client, subject, to, Purpose::IdentificationAndReferral, n).await
}

async fn send_identity_for(
    client: &Client,
    subject: SubjectId,
    to: &str,
    purpose: Purpose,
    n: usize,
) -> EnvelopeId {
    let sealed = client
        .disclosure(subject, AgencyId::new(to).unwrap(), purpose)
        .field(DisclosableCategory::Identity, "name", format!("person {n}"))
        .unwrap()
        .prepare()
        .unwrap()
        .seal(client)
        .unwrap();
    client.submit(&sealed).await.unwrap();
    sealed.envelope_id()
}

fn read_log(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_receiver_cannot_flood_or_forge_the_senders_log_nor_break_its_status_answers() {
    let federation = Federation::new();
    let log = federation.dir.path().join("police.log");
    let _police = federation.start_logging_to(POLICE, &log);
    let _prosecution = federation.start(PROSECUTION);
    let police = federation.client(POLICE).await;
    let (subject, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();

    // The shelter's node is a hostile peer holding the shelter's roster key. Envelope A:
    // three frame-sized "retry later" answers full of newlines and escapes, then a short
    // "bad request" carrying a forged log line (held). Envelope B: frame-sized "bad
    // request" answers only, whose hold reason would not fit in any answer.
    let first: Arc<Mutex<Option<EnvelopeId>>> = Arc::default();
    let which = Arc::clone(&first);
    let _shelter = hostile_receiver(
        &federation,
        SHELTER,
        POLICE,
        Arc::new(move |id, attempt| {
            let is_a = *which.lock().unwrap().get_or_insert(id) == id;
            match (is_a, attempt) {
                (true, 1..=3) => frame_sized_error(ErrorCode::Unavailable),
                (true, _) => hostile_error(
                    ErrorCode::BadRequest,
                    format!("{FORGED}red and a fake prompt$ "),
                ),
                (false, _) => frame_sized_error(ErrorCode::BadRequest),
            }
        }),
    );
    let a = send_identity(&police, subject, SHELTER, 1).await;
    eventually(T, || async { first.lock().unwrap().map(|_| ()) })
        .await
        .expect("the hostile receiver saw envelope A");
    let b = send_identity(&police, subject, SHELTER, 2).await;

    // A is held, with the receiver's words escaped and cut to the text cap.
    let held_reason = eventually(LONG, || async {
        match police.delivery_status(a).await {
            Ok(DeliveryState::Held { reason }) => Some(reason),
            _ => None,
        }
    })
    .await
    .expect("envelope A is held");
    assert!(held_reason.len() <= MAX_TEXT_LEN, "{}", held_reason.len());
    assert!(held_reason.contains(r"\n2031-01-01"), "{held_reason}");
    assert!(held_reason.contains(r"\u{1b}[31m"), "{held_reason}");
    assert!(!held_reason.contains('\n') && !held_reason.contains('\u{1b}'));

    // B stays queued: a frame-sized answer is refused at decode, retried, and its status
    // still answers, with an error within the cap. (While A was retried, B travelled in
    // A's batches and was asked to come back later: its own answers come once A is held.)
    let last_error = eventually(LONG, || async {
        match police.delivery_status(b).await {
            Ok(DeliveryState::Queued {
                attempts,
                last_error: Some(error),
            }) if attempts >= 3 && error.contains("more than the limit") => Some(error),
            _ => None,
        }
    })
    .await
    .expect("envelope B is retried");
    assert!(last_error.len() <= MAX_TEXT_LEN);
    assert!(
        last_error.contains("error message") && last_error.contains("more than the limit"),
        "{last_error}"
    );
    // `streha send --wait` and `streha delivery held` keep working.
    assert!(matches!(
        police.await_delivery(b, Duration::from_millis(200)).await,
        Ok(DeliveryState::Queued { .. })
    ));
    let held = police.all_held_deliveries().await.unwrap();
    assert_eq!(held.iter().map(|h| h.envelope).collect::<Vec<_>>(), vec![a]);
    assert_eq!(held[0].reason, held_reason);

    // Honest traffic flows: the prosecution receives.
    let honest = send_identity_for(
        &police,
        subject,
        PROSECUTION,
        Purpose::CriminalInvestigationAndProsecution,
        3,
    )
    .await;
    assert!(matches!(
        police.await_delivery(honest, LONG).await,
        Ok(DeliveryState::Delivered { .. })
    ));

    // The sender's log: bounded (each of at least six frame-sized answers would have
    // written more than 4 MiB), no forged line, no escape code.
    let text = read_log(&log);
    assert!(
        text.len() < 512 * 1024,
        "the sender's log holds {} bytes",
        text.len()
    );
    assert!(!text.contains(&0x1b), "an escape code reached the log");
    let text = String::from_utf8_lossy(&text);
    for line in text.lines() {
        assert!(
            !line.starts_with("2031-01-01"),
            "a forged line in the log: {line}"
        );
    }
    assert!(
        text.contains(r"\n2031-01-01T00:00:00.000000Z ERROR FORGED-BY-RECEIVER"),
        "the receiver's words are logged, escaped"
    );
}

/// An envelope from `from` to `to` sealed by hand with envelope id `[id; 16]`, declaring
/// and carrying `categories`, for identification and referral, without consent.
fn envelope(
    federation: &Federation,
    from: &str,
    to: &str,
    id: [u8; 16],
    categories: &[DisclosableCategory],
) -> streha_crypto::Envelope {
    let (sender, recipient) = (federation.member(from), federation.member(to));
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes(id),
        sender: sender.id.clone(),
        recipient: recipient.id.clone(),
        subject: SubjectId::from_bytes([0x55; 16]),
        categories: categories
            .iter()
            .map(|c| Category::from(*c))
            .collect::<CategorySet>(),
        purpose: Purpose::IdentificationAndReferral,
        consent: None,
        created_at: now(),
        approvals: Approvals::new(),
    };
    let mut record = Record::new();
    for category in categories {
        record
            .insert(Field::text(*category, "f", "v").unwrap())
            .unwrap();
    }
    streha_crypto::seal(
        &sender.signing_key,
        &recipient.encryption_key.public_key(),
        &header.encode(),
        &record.encode(),
    )
    .unwrap()
}

async fn as_node(federation: &Federation, from: &str, to: &str) -> Connection {
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

async fn deliver(
    federation: &Federation,
    from: &str,
    connection: &Connection,
    envelope: &streha_crypto::Envelope,
) -> PeerResponse {
    let delivery = PeerRequest::Deliver(Box::new(Delivery {
        envelope: envelope.clone(),
        disclosed: sender_evidence(federation, from, envelope),
        subject: SubjectFacts {
            age_status: AgeStatus::Adult,
            adult_since: Some(streha_core::Timestamp::EPOCH),
            representatives: vec![],
        },
        consent: None,
    }));
    request(connection, &delivery, MAX_FRAME_LEN, T)
        .await
        .unwrap()
}

/// Case summaries are in no clause of the agreement for the police: refused by policy.
const REFUSED: &[DisclosableCategory] = &[DisclosableCategory::CaseSummary];
/// Identity data for identification: the police clause allows it.
const ALLOWED: &[DisclosableCategory] = &[DisclosableCategory::Identity];

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_envelope_replayed_is_logged_once_and_a_flood_of_refusals_is_throttled() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let shelter = as_node(&federation, SHELTER, POLICE).await;

    // One refused envelope, replayed: the same refusal every time, one entry.
    let replayed = envelope(&federation, SHELTER, POLICE, [1; 16], REFUSED);
    let PeerResponse::Refused(reason) = deliver(&federation, SHELTER, &shelter, &replayed).await
    else {
        panic!("the policy refuses case summaries to the police");
    };
    const REPLAYS: u64 = 300;
    for _ in 0..REPLAYS {
        let again = deliver(&federation, SHELTER, &shelter, &replayed).await;
        assert_eq!(again, PeerResponse::Refused(reason.clone()));
    }
    let police = federation.client(POLICE).await;
    assert_eq!(count(&log_entries(&police).await, "receive_refused"), 1);
    let member = federation.member(POLICE);
    assert_eq!(
        metric(member, "streha_receive_refusals_repeated_total"),
        REPLAYS
    );

    // A flood of distinct refused envelopes: logged up to the peer's budget, the rest
    // answered "retry later" with nothing logged.
    let mut refused = 0u64;
    let mut throttled = 0u64;
    for n in 0..200u8 {
        let mut id = [2; 16];
        id[15] = n;
        match deliver(
            &federation,
            SHELTER,
            &shelter,
            &envelope(&federation, SHELTER, POLICE, id, REFUSED),
        )
        .await
        {
            PeerResponse::Refused(_) => refused += 1,
            PeerResponse::Error(e) if e.code == ErrorCode::Unavailable => throttled += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(throttled > 0, "the flood was throttled");
    assert_eq!(refused + throttled, 200);
    let entries = log_entries(&police).await;
    assert_eq!(
        count(&entries, "receive_refused") as u64,
        1 + refused,
        "every refusal answered is logged, and only those"
    );
    assert_eq!(
        metric(member, "streha_receive_refusals_throttled_total"),
        throttled
    );

    // Honest traffic flows: another peer's refusal is logged (the budget is per peer), and
    // a lawful disclosure from the flooding peer is received.
    let prosecution = as_node(&federation, PROSECUTION, POLICE).await;
    let other = envelope(&federation, PROSECUTION, POLICE, [3; 16], REFUSED);
    assert!(matches!(
        deliver(&federation, PROSECUTION, &prosecution, &other).await,
        PeerResponse::Refused(_)
    ));
    let lawful = envelope(&federation, SHELTER, POLICE, [4; 16], ALLOWED);
    assert!(matches!(
        deliver(&federation, SHELTER, &shelter, &lawful).await,
        PeerResponse::Receipt(_)
    ));
    assert_eq!(police.inbox(None, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_of_thousands_drains_with_work_linear_in_its_size() {
    const N: u64 = 2000;
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let police = Arc::new(federation.client(POLICE).await);
    let (subject, _) = police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();

    // The shelter is down: N disclosures queue up at the police.
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let police = Arc::clone(&police);
        tasks.spawn(async move {
            for n in (worker..N).step_by(16) {
                send_identity(&police, subject, SHELTER, n as usize).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let member = federation.member(POLICE);
    assert_eq!(metric(member, "streha_outbound_queue_depth"), N);

    // The shelter comes up: the queue drains, each disclosure delivered once.
    let before = metric(member, "streha_outbound_scanned_total");
    let _shelter = federation.start(SHELTER);
    eventually(Duration::from_secs(600), || async {
        (metric(member, "streha_disclosures_delivered_total") == N).then_some(())
    })
    .await
    .expect("the queue drains");
    let scanned = metric(member, "streha_outbound_scanned_total") - before;
    eprintln!("the scheduler looked at {scanned} queue items to deliver {N}");
    // Two looks per try (handed out, and moved back when its retry falls due), and an
    // envelope may be tried a few times while the recipient is down or answers busy: a
    // small multiple of N. A scheduler that rescans the queue after each delivery looks
    // N²/2 = 2,000,000 times.
    assert!(
        scanned <= 6 * N,
        "the scheduler looked at {scanned} queue items to deliver {N}"
    );
    assert_eq!(metric(member, "streha_outbound_queue_depth"), 0);
    let shelter = federation.client(SHELTER).await;
    assert_eq!(count(&log_entries(&shelter).await, "received") as u64, N);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subject_with_many_consents_is_listed_by_pages_never_cut_short() {
    const CONSENTS: usize = 300;
    let federation = Federation::new();
    let _shelter = federation.start(SHELTER);
    let _police = federation.start(POLICE);
    let shelter = Arc::new(federation.client(SHELTER).await);
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let shelter = Arc::clone(&shelter);
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for _ in (worker..CONSENTS).step_by(8) {
                let (id, _) = shelter
                    .grant_consent(consent_terms(
                        subject,
                        Grantor::Subject,
                        POLICE,
                        &[Category::Medical],
                        &[Purpose::Assistance],
                    ))
                    .await
                    .unwrap();
                ids.push(id);
            }
            ids
        });
    }
    let mut granted = Vec::new();
    while let Some(ids) = tasks.join_next().await {
        granted.extend(ids.unwrap());
    }
    granted.sort();

    // All of them, in pages, in order.
    let listed = shelter.consents(subject).await.unwrap();
    assert_eq!(
        listed.iter().map(|c| c.grant.id()).collect::<Vec<_>>(),
        granted
    );
    let first = shelter.consents_page(subject, None, 1000).await.unwrap();
    assert_eq!(first.len(), 256);
    let rest = shelter
        .consents_page(subject, Some(first[255].grant.id()), 1000)
        .await
        .unwrap();
    assert_eq!(rest.len(), CONSENTS - 256);
    assert!(
        shelter
            .consents_page(subject, Some(rest[rest.len() - 1].grant.id()), 1000)
            .await
            .unwrap()
            .is_empty()
    );

    // The one-answer request is refused with a reason, never answered with a shortened
    // list.
    let app = raw_connection(
        &Identity::from_key(&federation.member(SHELTER).app_key).unwrap(),
        federation.member(SHELTER).node_key.public_key().to_bytes(),
        federation.member(SHELTER).app_addr,
        streha_wire::APP_ALPN,
    )
    .await
    .unwrap();
    let answer: AppResponse = request(
        &app,
        &AppRequest::ListConsents { subject },
        MAX_FRAME_LEN,
        T,
    )
    .await
    .unwrap();
    assert!(
        matches!(&answer, AppResponse::Error(e) if e.code == ErrorCode::BadRequest && e.message.contains("by pages")),
        "{answer:?}"
    );

    // A disclosure resting on one of them is decided on that one and delivered.
    let sealed = shelter
        .disclosure(subject, AgencyId::new(POLICE).unwrap(), Purpose::Assistance)
        .field(DisclosableCategory::Medical, "note", "visit")
        .unwrap()
        .consent(granted[CONSENTS / 2])
        .prepare()
        .unwrap()
        .seal(&shelter)
        .unwrap();
    let submitted = shelter.submit(&sealed).await.unwrap();
    assert!(matches!(
        shelter.await_delivery(submitted.envelope, LONG).await,
        Ok(DeliveryState::Delivered { .. })
    ));
}
