//! Adversarial tests against real daemons (issue 10): each attack gets a clear refusal,
//! nothing is stored, nothing is logged as accepted, and the node goes on serving.
//! Truncated, garbage and oversized frames are in `security.rs`.

mod common;

use std::time::Duration;

use common::*;
use quinn::Connection;
use streha_audit::{CosignatureSigner, LogBundle, SignedNote};
use streha_client::ClientError;
use streha_core::{
    AgeStatus, Approvals, Category, CategorySet, DisclosableCategory, DisclosureHeader, EnvelopeId,
    Field, Purpose, Record, SubjectId,
};
use streha_crypto::NodeIdentitySecretKey;
use streha_transport::{Identity, request};
use streha_wire::app::{AppRequest, AppResponse};
use streha_wire::peer::{Delivery, PeerRequest, PeerResponse, SubjectFacts};
use streha_wire::{APP_ALPN, ErrorCode, MAX_FRAME_LEN, PEER_ALPN};

const T: Duration = Duration::from_secs(10);

/// An envelope from `from` to `to`, sealed by hand: the header declares `declared`, the
/// record carries `carried`.
fn envelope(
    federation: &Federation,
    from: &str,
    to: &str,
    id: u8,
    declared: &[Category],
    carried: &[DisclosableCategory],
) -> streha_crypto::Envelope {
    let (sender, recipient) = (federation.member(from), federation.member(to));
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([id; 16]),
        sender: sender.id.clone(),
        recipient: recipient.id.clone(),
        subject: SubjectId::from_bytes([0x77; 16]),
        categories: declared.iter().copied().collect::<CategorySet>(),
        purpose: Purpose::IdentificationAndReferral,
        consent: None,
        created_at: now(),
        approvals: Approvals::new(),
    };
    let mut record = Record::new();
    for category in carried {
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

/// A delivery of `envelope` with the evidence its sender's node key can sign.
fn delivery(federation: &Federation, envelope: streha_crypto::Envelope) -> PeerRequest {
    let sender = DisclosureHeader::decode(&envelope.header.context)
        .unwrap()
        .sender;
    let disclosed = sender_evidence(federation, sender.as_str(), &envelope);
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
    connection: &Connection,
    envelope: streha_crypto::Envelope,
) -> PeerResponse {
    request(
        connection,
        &delivery(federation, envelope),
        MAX_FRAME_LEN,
        T,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_envelope_is_received_once_and_a_reused_id_is_refused() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let connection = as_node(&federation, SHELTER, POLICE).await;
    let original = envelope(
        &federation,
        SHELTER,
        POLICE,
        1,
        &[Category::Identity],
        &[DisclosableCategory::Identity],
    );
    let PeerResponse::Receipt(first) = deliver(&federation, &connection, original.clone()).await
    else {
        panic!("the first delivery is received");
    };
    // The same envelope again (a replay, or a retry after a lost receipt): the first receipt.
    let PeerResponse::Receipt(again) = deliver(&federation, &connection, original).await else {
        panic!("a replay gets the first receipt");
    };
    assert_eq!(again.received.index, first.received.index);
    // Another envelope under the used id: refused, nothing stored.
    let reused = envelope(
        &federation,
        SHELTER,
        POLICE,
        1,
        &[Category::Identity, Category::VictimStatus],
        &[
            DisclosableCategory::Identity,
            DisclosableCategory::VictimStatus,
        ],
    );
    let response = deliver(&federation, &connection, reused).await;
    assert!(
        matches!(&response, PeerResponse::Error(e) if e.code == ErrorCode::Conflict),
        "{response:?}"
    );
    let police = federation.client(POLICE).await;
    assert_eq!(police.inbox(None, 10).await.unwrap().len(), 1);
    assert_eq!(count(&log_entries(&police).await, "received"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_envelope_readdressed_to_another_recipient_is_refused() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, PROSECUTION]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let to_police = envelope(
        &federation,
        SHELTER,
        POLICE,
        2,
        &[Category::Identity],
        &[DisclosableCategory::Identity],
    );
    // Forwarded unchanged to the prosecution.
    let connection = as_node(&federation, SHELTER, PROSECUTION).await;
    let response = deliver(&federation, &connection, to_police.clone()).await;
    assert!(
        matches!(&response, PeerResponse::Error(e) if e.code == ErrorCode::BadRequest),
        "{response:?}"
    );
    // With the header edited to name the prosecution: the signature no longer holds.
    let mut edited = to_police;
    let mut header = DisclosureHeader::decode(&edited.header.context).unwrap();
    header.recipient = federation.member(PROSECUTION).id.clone();
    edited.header.context = header.encode();
    edited.header.recipient = federation.member(PROSECUTION).encryption_key.public_key();
    let response = deliver(&federation, &connection, edited).await;
    assert!(
        matches!(&response, PeerResponse::Error(e) if e.code == ErrorCode::VerificationFailed),
        "{response:?}"
    );
    let prosecution = federation.client(PROSECUTION).await;
    assert!(prosecution.inbox(None, 10).await.unwrap().is_empty());
    let log = log_entries(&prosecution).await;
    assert_eq!(count(&log, "received"), 0);
    // The node serves on: the same peer connection is answered, and so is its application.
    let gossip: PeerResponse = request(&connection, &PeerRequest::Gossip(vec![]), MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(matches!(gossip, PeerResponse::GossipReceived), "{gossip:?}");
    prosecution
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    assert_eq!(count(&log_entries(&prosecution).await, "received"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agency_removed_from_the_roster_gets_nothing_through() {
    let mut federation = Federation::new();
    let police_node = federation.start(POLICE);
    let connection = as_node(&federation, SHELTER, POLICE).await;
    let before = envelope(
        &federation,
        SHELTER,
        POLICE,
        3,
        &[Category::Identity],
        &[DisclosableCategory::Identity],
    );
    assert!(matches!(
        deliver(&federation, &connection, before).await,
        PeerResponse::Receipt(_)
    ));

    let entries = federation
        .members
        .iter()
        .filter(|m| m.id.as_str() != SHELTER)
        .map(Member::entry)
        .collect();
    let v2 = federation.roster_of(entries);
    federation.publish(v2);
    police_node.hangup();
    let police = federation.client(POLICE).await;
    let adopted = eventually(Duration::from_secs(10), || async {
        log_entries(&police)
            .await
            .iter()
            .any(|e| matches!(e, streha_core::AuditEntry::RosterChanged { version: 2, .. }))
            .then_some(())
    })
    .await;
    assert!(adopted.is_some(), "the police adopted roster 2");

    // A valid envelope, signed by the removed agency, over the connection opened before.
    let after = envelope(
        &federation,
        SHELTER,
        POLICE,
        4,
        &[Category::Identity],
        &[DisclosableCategory::Identity],
    );
    let old = request::<_, PeerResponse>(
        &connection,
        &delivery(&federation, after.clone()),
        MAX_FRAME_LEN,
        T,
    )
    .await;
    assert!(
        match &old {
            Err(_) => true,
            Ok(PeerResponse::Error(e)) => e.code == ErrorCode::Unauthorized,
            Ok(_) => false,
        },
        "{old:?}"
    );
    // And over a new connection: refused at the handshake.
    let identity = Identity::from_key(&federation.member(SHELTER).node_key).unwrap();
    let target = federation.member(POLICE);
    if let Ok(fresh) = raw_connection(
        &identity,
        target.node_key.public_key().to_bytes(),
        target.peer_addr,
        PEER_ALPN,
    )
    .await
    {
        assert!(
            request::<_, PeerResponse>(&fresh, &delivery(&federation, after), MAX_FRAME_LEN, T)
                .await
                .is_err()
        );
    }
    assert_eq!(
        police.inbox(None, 10).await.unwrap().len(),
        1,
        "only the delivery from before"
    );
    // Nothing logged as received for the refused envelope: only the delivery from before.
    let log = log_entries(&police).await;
    assert_eq!(count(&log, "received"), 1, "only the delivery from before");
    assert!(
        !log.iter().any(|e| matches!(
            e,
            streha_core::AuditEntry::Received { header, .. }
                if header.envelope_id == EnvelopeId::from_bytes([4; 16])
        )),
        "the removed agency's envelope was logged as received"
    );
    // The node serves on: a member still in the roster is answered.
    let member = as_node(&federation, PROSECUTION, POLICE).await;
    let gossip: PeerResponse = request(&member, &PeerRequest::Gossip(vec![]), MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(matches!(gossip, PeerResponse::GossipReceived), "{gossip:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn content_that_breaks_its_header_is_caught_by_the_receiver_and_logged_as_a_violation() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let shelter = federation.client(SHELTER).await;
    let (subject, _) = shelter
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    // The header declares identity only (which the agreement allows); the sealed record
    // also carries case data. Submitted raw: the node sees headers, never content.
    let (sender, recipient) = (federation.member(SHELTER), federation.member(POLICE));
    let header = DisclosureHeader {
        envelope_id: EnvelopeId::from_bytes([5; 16]),
        sender: sender.id.clone(),
        recipient: recipient.id.clone(),
        subject,
        categories: [Category::Identity].into_iter().collect(),
        purpose: Purpose::IdentificationAndReferral,
        consent: None,
        created_at: now(),
        approvals: Approvals::new(),
    };
    let record = Record::new()
        .with(Field::text(DisclosableCategory::Identity, "n", "x").unwrap())
        .unwrap()
        .with(Field::text(DisclosableCategory::CaseSummary, "c", "undeclared").unwrap())
        .unwrap();
    let sealed = streha_crypto::seal(
        &sender.signing_key,
        &recipient.encryption_key.public_key(),
        &header.encode(),
        &record.encode(),
    )
    .unwrap();
    let identity = Identity::from_key(&sender.app_key).unwrap();
    let app = raw_connection(
        &identity,
        sender.node_key.public_key().to_bytes(),
        sender.app_addr,
        APP_ALPN,
    )
    .await
    .unwrap();
    let response: AppResponse = request(
        &app,
        &AppRequest::Submit(Box::new(sealed)),
        MAX_FRAME_LEN,
        T,
    )
    .await
    .unwrap();
    assert!(
        matches!(response, AppResponse::Accepted { .. }),
        "{response:?}"
    );

    let police = federation.client(POLICE).await;
    let arrived = eventually(Duration::from_secs(15), || async {
        police
            .inbox(None, 10)
            .await
            .ok()?
            .into_iter()
            .find(|i| i.envelope == header.envelope_id)
    })
    .await
    .expect("delivered");
    let err = police.open(arrived.envelope).await.unwrap_err();
    assert!(matches!(err, ClientError::Violation { .. }), "{err}");
    let log = log_entries(&police).await;
    assert!(log.iter().any(|e| matches!(e, streha_core::AuditEntry::Violation { envelope, .. } if *envelope == header.envelope_id)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_connections_from_unknown_keys_is_refused_and_the_node_serves_on() {
    let federation = Federation::new();
    let police_node = federation.start(POLICE);
    let target = federation.member(POLICE);
    let attempts: Vec<_> = (0..100)
        .map(|_| {
            let (key, addr) = (target.node_key.public_key().to_bytes(), target.peer_addr);
            tokio::spawn(async move {
                let stranger = Identity::from_key(&NodeIdentitySecretKey::generate()).unwrap();
                match raw_connection(&stranger, key, addr, PEER_ALPN).await {
                    Err(_) => true,
                    Ok(connection) => request::<_, PeerResponse>(
                        &connection,
                        &PeerRequest::Gossip(vec![]),
                        MAX_FRAME_LEN,
                        T,
                    )
                    .await
                    .is_err(),
                }
            })
        })
        .collect();
    for attempt in attempts {
        assert!(attempt.await.unwrap(), "an unknown key got an answer");
    }
    // Each attempt is refused, for its key or, before the key is looked at, for the limit
    // on handshakes in progress from one address; each is counted.
    let refused = metric(target, "streha_handshake_refusals_total")
        + metric_sum(target, "streha_connections_refused_total");
    assert!(refused >= 100, "every refusal is counted: {refused}");
    let police = federation.client(POLICE).await;
    police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    // Bounded resources: the daemon's peak memory stays small.
    let status = std::fs::read_to_string(format!("/proc/{}/status", police_node.pid())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_cosignature_and_a_truncated_bundle_are_caught_offline() {
    let federation = Federation::new();
    let _nodes: Vec<_> = [POLICE, SHELTER]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let shelter = federation.client(SHELTER).await;
    for _ in 0..3 {
        shelter
            .register_subject(AgeStatus::Adult, vec![])
            .await
            .unwrap();
    }
    let roster = streha_wire::Roster::open(
        &std::fs::read_to_string(federation.dir.path().join("roster.note")).unwrap(),
        &federation.roster_key.public_key(),
    )
    .unwrap();
    let bundle = shelter.export_bundle().await.unwrap();
    assert!(
        streha_verify::verify(
            std::slice::from_ref(&bundle),
            &roster,
            &streha_verify::VerifyOptions::new()
        )
        .findings
        .is_empty()
    );

    // A cosignature under the police's name, made with a key that is not the police's: a
    // key the roster does not hold, ignored (C2SP signed-note), a note at most.
    let mut impostor_line = bundle.clone();
    let last = impostor_line.checkpoints.last_mut().unwrap();
    let mut note = SignedNote::parse(last).unwrap();
    let impostor = CosignatureSigner::new(
        &format!("{FEDERATION}/streha/{POLICE}"),
        NodeIdentitySecretKey::generate().as_dalek().clone(),
    )
    .unwrap();
    note.add_signature(impostor.cosign(note.body(), 1_763_856_000).unwrap())
        .unwrap();
    *last = note.to_text();
    let report = streha_verify::verify(
        &[impostor_line],
        &roster,
        &streha_verify::VerifyOptions::new(),
    );
    assert!(
        report.findings.is_empty()
            && report
                .notes
                .iter()
                .any(|f| f.rule == streha_verify::Rule::UnknownCosigner),
        "{}",
        streha_verify::render_text(&report)
    );
    // A cosignature under the police's name and its real key id that does not verify (the
    // police's signature over another checkpoint): forged.
    let mut forged = bundle.clone();
    let last = forged.checkpoints.last_mut().unwrap();
    let mut note = SignedNote::parse(last).unwrap();
    let police_key = federation.member(POLICE).node_key.as_dalek().clone();
    let police =
        CosignatureSigner::new(&format!("{FEDERATION}/streha/{POLICE}"), police_key).unwrap();
    note.add_signature(
        police
            .cosign("another checkpoint\n", 1_763_856_000)
            .unwrap(),
    )
    .unwrap();
    *last = note.to_text();
    let report = streha_verify::verify(&[forged], &roster, &streha_verify::VerifyOptions::new());
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == streha_verify::Rule::ForgedCosignature),
        "{}",
        streha_verify::render_text(&report)
    );

    // A bundle cut short: the import says where.
    let bytes = bundle.encode().unwrap();
    let error = LogBundle::decode(&bytes[..bytes.len() - 7]).unwrap_err();
    assert!(
        error.to_string().contains("offset") || error.to_string().contains("byte"),
        "{error}"
    );
    // Entries cut from the tail under intact checkpoints: the checkpoints name entries that
    // are not there.
    let mut short = bundle;
    short.entries.pop();
    let report = streha_verify::verify(&[short], &roster, &streha_verify::VerifyOptions::new());
    assert!(
        report.findings.iter().any(|f| {
            f.rule == streha_verify::Rule::CheckpointBeyondEntries
                && f.rule.severity() == streha_verify::Severity::Critical
        }),
        "a truncated log is a `checkpoint_beyond_entries` finding: {}",
        streha_verify::render_text(&report)
    );
}

/// A checkpoint of `name`'s log (a tree of three made-up entries, `seed` telling trees
/// apart), signed by its node key, as signed-note text.
fn owner_checkpoint(federation: &Federation, name: &str, seed: u8) -> String {
    let origin = format!("{FEDERATION}/streha/{name}");
    let signer =
        streha_audit::NoteSigner::new(&origin, federation.member(name).node_key.as_dalek().clone())
            .unwrap();
    let mut tree = streha_audit::MemoryTree::new();
    for i in 0..3u8 {
        tree.append_entry(&[seed, i]);
    }
    streha_audit::sign_checkpoint(
        &streha_audit::Checkpoint::new(origin, tree.size(), tree.root()).unwrap(),
        &signer,
    )
    .to_text()
}

/// `note` with a cosignature under `witness`'s name made with a key that is not its own.
fn with_forged_cosignature(note: &str, witness: &str) -> String {
    let mut note = SignedNote::parse(note).unwrap();
    let impostor = CosignatureSigner::new(
        &format!("{FEDERATION}/streha/{witness}"),
        NodeIdentitySecretKey::generate().as_dalek().clone(),
    )
    .unwrap();
    note.add_signature(impostor.cosign(note.body(), 1_763_856_000).unwrap())
        .unwrap();
    note.to_text()
}

fn witness_request(note: &str) -> PeerRequest {
    PeerRequest::Witness(Box::new(streha_wire::peer::WitnessRequest {
        old_size: 0,
        proof: streha_audit::consistency_proof(0, 0, &streha_audit::MemoryTree::new()).unwrap(),
        checkpoint: note.to_owned(),
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_with_a_forged_cosignature_from_a_peer_is_refused_and_nothing_is_kept() {
    let federation = Federation::new();
    // The shelter's node is not running: the test plays a dishonest shelter with its key.
    let _nodes: Vec<_> = [POLICE, PROSECUTION]
        .iter()
        .map(|n| federation.start(n))
        .collect();
    let police = federation.member(POLICE);
    let connection = as_node(&federation, SHELTER, POLICE).await;
    let genuine = owner_checkpoint(&federation, SHELTER, b'a');
    let forged = with_forged_cosignature(&genuine, PROSECUTION);

    // Witnessing: a genuine checkpoint of the shelter's log that claims a prosecution
    // cosignature it does not have is refused, naming the forged line.
    let response: PeerResponse = request(&connection, &witness_request(&forged), MAX_FRAME_LEN, T)
        .await
        .unwrap();
    match &response {
        PeerResponse::Error(error) => {
            assert_eq!(error.code, ErrorCode::VerificationFailed, "{error}");
            assert!(error.message.contains("forged"), "{error}");
            assert!(error.message.contains(PROSECUTION), "{error}");
        }
        other => panic!("a forged cosignature must be refused: {other:?}"),
    }
    // Nothing of it was kept: another tree of the same size is not a fork to this witness,
    // it is cosigned as the first it sees.
    let other = owner_checkpoint(&federation, SHELTER, b'b');
    let response: PeerResponse = request(&connection, &witness_request(&other), MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(
        matches!(response, PeerResponse::Cosigned(_)),
        "{response:?}"
    );

    // Gossip: the cosigned tree with a forged cosignature under the police's own name, and
    // the first tree with one under the prosecution's, are ignored — no alarm, no evidence.
    let gossip = PeerRequest::Gossip(vec![
        with_forged_cosignature(&other, POLICE),
        forged.clone(),
    ]);
    let response: PeerResponse = request(&connection, &gossip, MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(
        matches!(response, PeerResponse::GossipReceived),
        "{response:?}"
    );
    // The same through the prosecution, which has seen nothing of the shelter's log.
    let to_prosecution = as_node(&federation, SHELTER, PROSECUTION).await;
    let response: PeerResponse = request(&to_prosecution, &gossip, MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(
        matches!(response, PeerResponse::GossipReceived),
        "{response:?}"
    );

    // No false alarm anywhere, no evidence kept, nothing in either log.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for name in [POLICE, PROSECUTION] {
        let member = federation.member(name);
        assert_eq!(metric(member, "streha_fork_alarms_total"), 0, "{name}");
        for kind in ["fork", "rollback", "inconsistent"] {
            assert_eq!(
                metric(
                    member,
                    &format!("streha_witness_evidence{{kind=\"{kind}\"}}")
                ),
                0,
                "{name}: {kind}"
            );
        }
        let client = federation.client(name).await;
        assert_eq!(
            count(&log_entries(&client).await, "witness_alarm"),
            0,
            "{name}"
        );
    }

    // The police serves on: its peer and application doors answer.
    let response: PeerResponse =
        request(&connection, &PeerRequest::Gossip(vec![]), MAX_FRAME_LEN, T)
            .await
            .unwrap();
    assert!(matches!(response, PeerResponse::GossipReceived));
    let client = federation.client(POLICE).await;
    client
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    assert!(metric(police, "streha_log_size") >= 1);
}
