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
use streha_wire::peer::{
    Delivery, PeerRequest, PeerResponse, RosterAnswer, RosterOffer, SubjectFacts,
};
use streha_wire::{APP_ALPN, AgencyEntry, MAX_FRAME_LEN, PEER_ALPN, Roster};

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

/// `GET path` on a member's metrics endpoint, whatever the status: the body.
fn get(member: &Member, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(member.metrics_addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

/// The value of the metric line that starts with `series` (name and labels).
fn series(member: &Member, series: &str) -> u64 {
    get(member, "/metrics")
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// The `roster_changed` entries of a log: (version, hash).
fn roster_changes(log: &[AuditEntry]) -> Vec<(u64, [u8; 32])> {
    log.iter()
        .filter_map(|e| match e {
            AuditEntry::RosterChanged {
                version,
                roster_hash,
                ..
            } => Some((*version, *roster_hash)),
            _ => None,
        })
        .collect()
}

fn in_a_day() -> streha_core::Timestamp {
    streha_core::Timestamp::from_unix_millis(now().unix_millis() + 86_400_000)
}

/// Issue 18.10: a roster signed as version 2 and given to one node only reaches the other
/// nodes through their peers, without a SIGHUP: each logs `roster_changed` for exactly that
/// note, serves it to its applications, counts it as adopted from a peer, and still runs on
/// it after a restart although its own roster file still holds version 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_roster_given_to_one_node_reaches_the_others_through_their_peers() {
    let mut federation = Federation::new();
    federation.separate_roster_files();
    let police_node = federation.start(POLICE);
    let _shelter_node = federation.start(SHELTER);
    let prosecution_node = federation.start(PROSECUTION);
    let everyone: Vec<AgencyEntry> = federation.members.iter().map(Member::entry).collect();
    let v2 = federation
        .roster_of(everyone.clone())
        .with_expiry(Some(in_a_day()))
        .unwrap();
    federation.give_roster(POLICE, &v2);
    police_node.hangup();

    let police = federation.client(POLICE).await;
    let shelter = federation.client(SHELTER).await;
    let prosecution = federation.client(PROSECUTION).await;
    let mut hashes = Vec::new();
    for client in [&police, &shelter, &prosecution] {
        let adopted = eventually(Duration::from_secs(60), || async {
            roster_changes(&log_entries(client).await)
                .into_iter()
                .find(|(version, _)| *version == 2)
        })
        .await;
        let (_, hash) = adopted.expect("every node adopts roster 2");
        hashes.push(hash);
    }
    assert!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "every node logs the same signed roster"
    );
    for (client, name) in [(&shelter, SHELTER), (&prosecution, PROSECUTION)] {
        assert_eq!(
            client.refresh_roster().await.unwrap().version(),
            2,
            "{name}"
        );
        let member = federation.member(name);
        assert_eq!(series(member, "streha_roster_version"), 2, "{name}");
        assert_eq!(
            series(member, "streha_roster_adoptions_total{source=\"peer\"}"),
            1,
            "{name}"
        );
    }
    assert_eq!(
        series(
            federation.member(POLICE),
            "streha_roster_adoptions_total{source=\"file\"}"
        ),
        1
    );

    // The same roster file again is no change: not logged, not counted. (Signals are handled
    // in order, so once version 3 is in force both reloads have run; at least one of them
    // read the file while it held the roster in force.)
    police_node.hangup();
    let v3 = federation
        .roster_of(everyone)
        .with_expiry(Some(in_a_day()))
        .unwrap();
    federation.give_roster(POLICE, &v3);
    police_node.hangup();
    let adopted = eventually(Duration::from_secs(60), || async {
        roster_changes(&log_entries(&police).await)
            .iter()
            .any(|(version, _)| *version == 3)
            .then_some(())
    })
    .await;
    assert!(adopted.is_some(), "the police adopts roster 3");
    let versions: Vec<u64> = roster_changes(&log_entries(&police).await)
        .iter()
        .map(|(version, _)| *version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3], "each version logged once");
    let member = federation.member(POLICE);
    assert_eq!(
        series(member, "streha_roster_adoptions_total{source=\"file\"}"),
        2
    );
    assert!(
        !get(member, "/metrics").contains("streha_roster_refusals_total{"),
        "nothing refused"
    );

    // After a restart the prosecution runs on version 2 or 3, kept in its data directory; its
    // roster file still holds version 1. Nothing new is logged: it is no change.
    prosecution.close().await;
    assert!(prosecution_node.terminate(), "a clean stop");
    let _prosecution_node = federation.start(PROSECUTION);
    let prosecution = federation.client(PROSECUTION).await;
    let running = prosecution.refresh_roster().await.unwrap().version();
    assert!(running >= 2, "runs on version {running}");
    let changes = roster_changes(&log_entries(&prosecution).await);
    let mut versions: Vec<u64> = changes.iter().map(|(version, _)| *version).collect();
    versions.dedup();
    assert_eq!(
        versions.len(),
        changes.len(),
        "no version logged twice: {changes:?}"
    );
    let own_file =
        std::fs::read_to_string(federation.member(PROSECUTION).dir.join("roster.note")).unwrap();
    assert!(own_file.contains("version = 1"), "the file was not touched");
}

/// A stand-in for `name`'s node on its peer address, pinned to `client`'s key: it answers
/// every roster exchange with `answer`, and everything else with an error; it counts the
/// exchanges.
fn fake_peer(
    federation: &Federation,
    name: &str,
    client: [u8; 32],
    answer: PeerResponse,
) -> (quinn::Endpoint, Arc<AtomicUsize>) {
    use streha_transport::{PinnedKey, ServerSetup, TransportLimits, read_frame, write_frame};
    let member = federation.member(name);
    let identity = Identity::from_key(&member.node_key).unwrap();
    let server = streha_transport::server_config(ServerSetup {
        identity: &identity,
        clients: Arc::new(PinnedKey(client)),
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .unwrap();
    member.release_ports();
    let socket = std::net::UdpSocket::bind(member.peer_addr).unwrap();
    let endpoint = quinn::Endpoint::new(
        identity.endpoint_config(),
        Some(server),
        socket,
        quinn::default_runtime().unwrap(),
    )
    .unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let (accepting, counter) = (endpoint.clone(), Arc::clone(&asked));
    tokio::spawn(async move {
        while let Some(incoming) = accepting.accept().await {
            let (answer, counter) = (answer.clone(), Arc::clone(&counter));
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                    let response = match read_frame::<PeerRequest>(&mut recv, MAX_FRAME_LEN).await {
                        Ok(PeerRequest::RosterVersion(_)) => {
                            counter.fetch_add(1, Ordering::SeqCst);
                            answer.clone()
                        }
                        _ => PeerResponse::Error(streha_wire::RemoteError::new(
                            streha_wire::ErrorCode::Unavailable,
                            "a stand-in",
                        )),
                    };
                    let _ = write_frame(&mut send, &response).await;
                }
            });
        }
    });
    (endpoint, asked)
}

/// Issue 18.10: a node trusts nothing of a peer's roster but the roster key's signature. A
/// roster signed by another key, and an older validly signed roster passed off as newer,
/// are refused (counted by reason); the roster in force stays and nothing is logged. And a
/// node answers a peer that runs an older roster with its own signed roster.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_or_older_roster_from_a_peer_is_refused() {
    let mut federation = Federation::new();
    let everyone: Vec<AgencyEntry> = federation.members.iter().map(Member::entry).collect();
    let v1_note = federation.dir.path().join("roster.note");
    let v1_note = std::fs::read_to_string(v1_note).unwrap();
    let v2 = federation.roster_of(everyone.clone());
    federation.publish(v2);
    let police_key = federation.member(POLICE).node_key.public_key().to_bytes();

    // The shelter's stand-in offers version 9 signed by a key that is not the roster key;
    // the prosecution's offers the older version 1, validly signed, as if it were newer.
    let impostor = streha_crypto::RosterSecretKey::generate();
    let forged = Roster::new(FEDERATION, 9, now(), everyone, common::agreement())
        .unwrap()
        .sign(&impostor)
        .unwrap();
    let answer = |version, note: String| {
        PeerResponse::Roster(Box::new(RosterAnswer {
            version,
            hash: [9; 32],
            note: Some(note),
        }))
    };
    let (_shelter, forged_asked) = fake_peer(&federation, SHELTER, police_key, answer(9, forged));
    let (_prosecution, older_asked) =
        fake_peer(&federation, PROSECUTION, police_key, answer(9, v1_note));

    // The police asks every peer at start.
    let _police_node = federation.start(POLICE);
    let police = federation.member(POLICE);
    let refused = eventually(Duration::from_secs(60), || async {
        (series(police, "streha_roster_refusals_total{reason=\"signature\"}") >= 1
            && series(police, "streha_roster_refusals_total{reason=\"not-newer\"}") >= 1)
            .then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "both refused: asked {} and {} times\n{}",
        forged_asked.load(Ordering::SeqCst),
        older_asked.load(Ordering::SeqCst),
        get(police, "/metrics")
    );
    assert_eq!(series(police, "streha_roster_version"), 2);
    let client = federation.client(POLICE).await;
    assert_eq!(client.refresh_roster().await.unwrap().version(), 2);
    let log = log_entries(&client).await;
    assert_eq!(
        roster_changes(&log)
            .iter()
            .map(|(v, _)| *v)
            .collect::<Vec<_>>(),
        vec![2],
        "only the roster it started on is logged"
    );
    assert_eq!(
        series(police, "streha_roster_adoptions_total{source=\"peer\"}"),
        0
    );

    // A peer that runs an older roster gets the police's, signed; one that runs the same
    // gets none.
    let identity = Identity::from_key(&federation.member(PROSECUTION).node_key).unwrap();
    let connection = raw_connection(&identity, police_key, police.peer_addr, PEER_ALPN)
        .await
        .unwrap();
    let ask = |version| {
        PeerRequest::RosterVersion(RosterOffer {
            version,
            hash: [0; 32],
        })
    };
    let PeerResponse::Roster(answer) =
        request::<_, PeerResponse>(&connection, &ask(1), MAX_FRAME_LEN, T)
            .await
            .unwrap()
    else {
        panic!("a roster answer");
    };
    assert_eq!(answer.version, 2);
    let note = answer.note.expect("the newer roster");
    let opened = Roster::open(&note, &federation.roster_key.public_key()).unwrap();
    assert_eq!(opened.version(), 2);
    let PeerResponse::Roster(answer) =
        request::<_, PeerResponse>(&connection, &ask(2), MAX_FRAME_LEN, T)
            .await
            .unwrap()
    else {
        panic!("a roster answer");
    };
    assert_eq!((answer.version, answer.note), (2, None));
}

/// Issue 18.10: a roster's validity period. While it runs, `/health` and the metrics show
/// when it ends; once it has passed, the node says so in `/health` and
/// `streha_roster_expired`, refuses every disclosure but urgent-danger ones (Art. 45.3)
/// before anything is logged, and still receives, delivers and exchanges rosters. A newer
/// roster in force ends it.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_roster_is_reported_and_lets_only_urgent_disclosures_leave() {
    let mut federation = Federation::new();
    let everyone: Vec<AgencyEntry> = federation.members.iter().map(Member::entry).collect();
    let until = in_a_day();
    let v2 = federation
        .roster_of(everyone.clone())
        .with_expiry(Some(until))
        .unwrap();
    federation.publish(v2);
    let police_node = federation.start(POLICE);
    let _prosecution_node = federation.start(PROSECUTION);
    let health = get(federation.member(POLICE), "/health");
    assert!(health.contains("\"expired\":false"), "{health}");
    assert!(
        health.contains(&format!("\"expires_at\":{}", until.unix_millis())),
        "{health}"
    );
    assert_eq!(
        series(federation.member(POLICE), "streha_roster_expired"),
        0
    );
    assert_eq!(
        series(
            federation.member(POLICE),
            "streha_roster_expires_at_seconds"
        ),
        until.unix_millis() / 1000
    );

    // Version 3 expires in two seconds.
    let soon = streha_core::Timestamp::from_unix_millis(now().unix_millis() + 2_000);
    let v3 = federation
        .roster_of(everyone.clone())
        .with_expiry(Some(soon))
        .unwrap();
    federation.publish(v3);
    police_node.hangup();
    let expired = eventually(Duration::from_secs(60), || async {
        get(federation.member(POLICE), "/health")
            .contains("\"expired\":true")
            .then_some(())
    })
    .await;
    assert!(
        expired.is_some(),
        "{}",
        get(federation.member(POLICE), "/health")
    );
    let health = get(federation.member(POLICE), "/health");
    assert!(
        health.contains("\"status\":\"degraded\"") && health.contains("roster in force expired"),
        "an expired roster degrades the node's health: {health}"
    );
    assert_eq!(
        series(federation.member(POLICE), "streha_roster_version"),
        3
    );
    assert_eq!(
        series(federation.member(POLICE), "streha_roster_expired"),
        1
    );

    let client = federation.client(POLICE).await;
    let prosecution_id = federation.member(PROSECUTION).id.clone();
    let (subject, _) = client
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    let before = log_entries(&client).await.len();
    let err = client
        .submit(
            client
                .disclosure(
                    subject,
                    prosecution_id.clone(),
                    Purpose::CriminalInvestigationAndProsecution,
                )
                .field(DisclosableCategory::Identity, "alias", "A.")
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.remote_code(),
        Some(streha_wire::ErrorCode::Unavailable),
        "{err}"
    );
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(log_entries(&client).await.len(), before, "nothing logged");

    // Urgent danger (Art. 45.3) still goes, and is delivered.
    let officers = &federation.member(POLICE).officers;
    let urgent = client
        .submit(
            client
                .disclosure(subject, prosecution_id.clone(), Purpose::UrgentDanger)
                .field(DisclosableCategory::Identity, "alias", "A.")
                .unwrap()
                .urgent_approval(officers[0].0.clone(), &officers[0].1)
                .unwrap()
                .urgent_approval(officers[1].0.clone(), &officers[1].1)
                .unwrap(),
        )
        .await
        .expect("an urgent-danger disclosure leaves under an expired roster");
    let state = client
        .await_delivery(urgent.envelope, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        matches!(state, streha_wire::app::DeliveryState::Delivered { .. }),
        "{state:?}"
    );

    // A newer roster in force ends it.
    let v4 = federation
        .roster_of(everyone)
        .with_expiry(Some(in_a_day()))
        .unwrap();
    federation.publish(v4);
    police_node.hangup();
    let renewed = eventually(Duration::from_secs(60), || async {
        get(federation.member(POLICE), "/health")
            .contains("\"expired\":false")
            .then_some(())
    })
    .await;
    assert!(
        renewed.is_some(),
        "{}",
        get(federation.member(POLICE), "/health")
    );
    client
        .submit(
            client
                .disclosure(
                    subject,
                    prosecution_id,
                    Purpose::CriminalInvestigationAndProsecution,
                )
                .field(DisclosableCategory::Identity, "alias", "A.")
                .unwrap(),
        )
        .await
        .expect("disclosures leave again");
}
