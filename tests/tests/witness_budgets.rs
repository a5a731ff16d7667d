//! A peer that floods a witness, with real daemons (issue 16, points 10 and 11): valid but
//! oversized checkpoints, a fast-growing log, repeated signature lines and gossip storms
//! are refused or bounded — the witness's store stays bounded, every refusal is counted —
//! and the witness's applications keep being served throughout.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use quinn::Connection;
use streha_audit::{
    Checkpoint, MemoryTree, NoteSigner, SignedNote, consistency_proof, sign_checkpoint,
};
use streha_core::AgeStatus;
use streha_transport::{Identity, request};
use streha_wire::peer::{PeerRequest, PeerResponse, WitnessRequest};
use streha_wire::{ErrorCode, MAX_FRAME_LEN, PEER_ALPN};

const T: Duration = Duration::from_secs(20);

/// As in `streha_witness::rules::KEPT_ROOTS_PER_LOG`.
const KEPT_ROOTS_PER_LOG: u64 = 256;

fn origin(name: &str) -> String {
    format!("{FEDERATION}/streha/{name}")
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

/// `name`'s checkpoint of `tree`, signed with its node key, with `padding` extension bytes.
fn checkpoint_of(federation: &Federation, name: &str, tree: &MemoryTree, padding: usize) -> String {
    let signer = NoteSigner::new(
        &origin(name),
        federation.member(name).node_key.as_dalek().clone(),
    )
    .unwrap();
    let mut checkpoint = Checkpoint::new(origin(name), tree.size(), tree.root()).unwrap();
    if padding > 0 {
        checkpoint = checkpoint.with_extension("x".repeat(padding)).unwrap();
    }
    sign_checkpoint(&checkpoint, &signer).to_text()
}

fn witness_request(old_size: u64, tree: &MemoryTree, note: String) -> PeerRequest {
    PeerRequest::Witness(Box::new(WitnessRequest {
        old_size,
        proof: consistency_proof(old_size, tree.size(), tree).unwrap(),
        checkpoint: note,
    }))
}

/// Sends `request_` until it is not refused for the rate budget; returns the answer and how
/// many times it was refused.
async fn admitted(connection: &Connection, request_: &PeerRequest) -> (PeerResponse, u64) {
    let mut refused = 0;
    loop {
        let response: PeerResponse = request(connection, request_, MAX_FRAME_LEN, T)
            .await
            .unwrap();
        match response {
            PeerResponse::Error(error) if error.code == ErrorCode::Unavailable => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return (other, refused),
        }
    }
}

fn labelled(member: &Member, name: &str, label: &str) -> u64 {
    metric(member, &format!("{name}{{reason=\"{label}\"}}"))
}

/// Registers subjects through the witness's own application until `stop`, counting them:
/// honest application traffic during the flood.
fn application_traffic(
    federation: &Federation,
    name: &str,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> impl std::future::Future<Output = Result<(), String>> + use<> {
    let config = federation
        .member(name)
        .client_config(&federation.roster_key);
    async move {
        let client = streha_client::Client::connect(config)
            .await
            .map_err(|e| e.to_string())?;
        while !stop.load(Ordering::Relaxed) {
            client
                .register_subject(AgeStatus::Adult, vec![])
                .await
                .map_err(|e| e.to_string())?;
            done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fast_growing_log_and_oversized_checkpoints_leave_the_witness_store_bounded() {
    let federation = Federation::new();
    // The shelter's node is not running: the test plays a hostile shelter with its key.
    let _police = federation.start(POLICE);
    let police = federation.member(POLICE);
    let connection = as_node(&federation, SHELTER, POLICE).await;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let traffic = tokio::spawn(application_traffic(
        &federation,
        POLICE,
        Arc::clone(&stop),
        Arc::clone(&served),
    ));

    // A valid checkpoint of 60 KB (a long extension line, signed by the shelter's key) is
    // refused before anything is kept.
    let mut tree = MemoryTree::new();
    tree.append_entry(b"first");
    let big = checkpoint_of(&federation, SHELTER, &tree, 60_000);
    let response: PeerResponse = request(
        &connection,
        &witness_request(0, &tree, big),
        MAX_FRAME_LEN,
        T,
    )
    .await
    .unwrap();
    match &response {
        PeerResponse::Error(error) => assert_eq!(error.code, ErrorCode::BadRequest, "{error}"),
        other => panic!("an oversized checkpoint must be refused: {other:?}"),
    }
    assert_eq!(
        labelled(police, "streha_witness_refused_total", "malformed"),
        1
    );
    assert_eq!(metric(police, "streha_witness_kept_checkpoints"), 0);

    // A log that grows by one entry per request, each checkpoint padded to 1 KB, each with
    // a valid consistency proof: every one is cosigned (those over the rate budget are
    // refused and sent again), and the witness keeps at most KEPT_ROOTS_PER_LOG of them.
    let rounds = KEPT_ROOTS_PER_LOG + 60;
    let mut old_size = 0;
    let mut rate_refusals = 0u64;
    for i in 0..rounds {
        tree.append_entry(format!("entry {i}").as_bytes());
        let note = checkpoint_of(&federation, SHELTER, &tree, 1_000);
        let (response, refused) =
            admitted(&connection, &witness_request(old_size, &tree, note)).await;
        rate_refusals += refused;
        assert!(
            matches!(response, PeerResponse::Cosigned(_)),
            "round {i}: {response:?}"
        );
        old_size = tree.size();
    }
    assert_eq!(
        metric(police, "streha_witness_kept_checkpoints"),
        KEPT_ROOTS_PER_LOG,
        "the witness keeps a bounded window of sizes, not every checkpoint it cosigned"
    );

    // The witness still knows the latest: an old size below it is a conflict naming it.
    let latest = checkpoint_of(&federation, SHELTER, &tree, 0);
    let (response, refused) = admitted(&connection, &witness_request(1, &tree, latest)).await;
    rate_refusals += refused;
    assert!(
        matches!(response, PeerResponse::WitnessConflict { size } if size == tree.size()),
        "{response:?}"
    );

    assert_eq!(
        labelled(police, "streha_witness_refused_total", "rate"),
        rate_refusals,
        "every request over the budget is refused and counted"
    );

    // The application was served all along.
    stop.store(true, Ordering::Relaxed);
    traffic
        .await
        .unwrap()
        .expect("application requests succeed during the flood");
    assert!(served.load(Ordering::Relaxed) >= 1);
    let client = federation.client(POLICE).await;
    client
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_signature_lines_and_gossip_storms_are_refused_and_counted() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let police = federation.member(POLICE);
    let connection = as_node(&federation, SHELTER, POLICE).await;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let traffic = tokio::spawn(application_traffic(
        &federation,
        POLICE,
        Arc::clone(&stop),
        Arc::clone(&served),
    ));

    // A genuine checkpoint of the shelter's log with its signature line repeated 20 times
    // (under the witness's size bound: refused for the repetition itself).
    let mut tree = MemoryTree::new();
    tree.append_entry(b"e");
    let genuine = checkpoint_of(&federation, SHELTER, &tree, 0);
    let line = genuine.split_once("\n\n").unwrap().1.to_owned();
    let repeated = format!("{genuine}{}", line.repeat(19));
    assert!(SignedNote::parse(&repeated).is_err());

    // As a witnessing request: refused as malformed, nothing kept.
    let response: PeerResponse = request(
        &connection,
        &witness_request(0, &tree, repeated.clone()),
        MAX_FRAME_LEN,
        T,
    )
    .await
    .unwrap();
    match &response {
        PeerResponse::Error(error) => {
            assert_eq!(error.code, ErrorCode::BadRequest, "{error}");
            assert!(error.message.contains("repeats a signature"), "{error}");
        }
        other => panic!("a note with repeated lines must be refused: {other:?}"),
    }
    assert_eq!(
        labelled(police, "streha_witness_refused_total", "malformed"),
        1
    );

    // As gossip: 60 checkpoints with 100 copies of the line in one message are each
    // refused, before any signature is checked, and counted.
    let hundred = format!("{genuine}{}", line.repeat(99));
    let gossip = PeerRequest::Gossip(vec![hundred; 60]);
    let response: PeerResponse = request(&connection, &gossip, MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(
        matches!(response, PeerResponse::GossipReceived),
        "{response:?}"
    );
    assert_eq!(
        labelled(police, "streha_witness_refused_total", "malformed"),
        61
    );

    // A storm of gossip messages sent at once: past the peer's burst, messages are refused
    // (Unavailable) and counted; the rest are answered.
    let storm = 200;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..storm {
        let connection = connection.clone();
        let gossip = PeerRequest::Gossip(vec![genuine.clone()]);
        tasks.spawn(async move {
            request::<_, PeerResponse>(&connection, &gossip, MAX_FRAME_LEN, T).await
        });
    }
    let (mut answered, mut refused) = (0u64, 0u64);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap().unwrap() {
            PeerResponse::GossipReceived => answered += 1,
            PeerResponse::Error(error) if error.code == ErrorCode::Unavailable => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(answered + refused, storm);
    assert!(
        refused > 0,
        "a storm of {storm} messages exceeds the per-peer budget"
    );
    assert_eq!(
        labelled(police, "streha_witness_refused_total", "rate"),
        refused
    );
    // Nothing of the gossip was kept, no alarm raised.
    assert_eq!(metric(police, "streha_witness_kept_checkpoints"), 0);
    assert_eq!(metric(police, "streha_fork_alarms_total"), 0);

    // The application was served all along.
    stop.store(true, Ordering::Relaxed);
    traffic
        .await
        .unwrap()
        .expect("application requests succeed during the storm");
    let client = federation.client(POLICE).await;
    client
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
}
