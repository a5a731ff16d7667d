//! A node shut down in-process (`RunningNode::shutdown`, as `strehad` does before it restarts
//! into a new log epoch) lets go of its addresses by the time `shutdown` returns: the same
//! UDP and TCP ports can be bound at once, with live connections in both directions, an open
//! application connection and dials to a peer that never answers in flight at the time.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use common::*;
use streha_core::AgeStatus;
use streha_transport::{Identity, request};
use streha_wire::peer::{PeerRequest, PeerResponse};
use streha_wire::{MAX_FRAME_LEN, PEER_ALPN};

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn a_node_shut_down_releases_its_addresses_when_shutdown_returns() {
    let federation = Federation::new();
    // The police answers; the prosecution's port stays bound by the harness and never
    // answers, so the shelter's dials to it stay in their handshake.
    let _police = federation.start(POLICE);
    let member = federation.member(SHELTER);
    member.release_ports();
    let config = streha_node::NodeConfig::load(&member.dir.join("node.toml")).unwrap();
    let node = streha_node::RunningNode::start(config).await.unwrap();
    assert_eq!(node.peer_addr(), Some(member.peer_addr));

    // An application connection, and entries for the witnesses to cosign: the shelter
    // dials the police (cosigned) and the prosecution (no answer).
    let client = federation.client(SHELTER).await;
    for _ in 0..2 {
        client
            .register_subject(AgeStatus::Adult, vec![])
            .await
            .unwrap();
    }
    eventually(T, || async {
        node.metrics()
            .lines()
            .any(|line| {
                line.starts_with("streha_cosignatures_total")
                    && line
                        .rsplit(' ')
                        .next()
                        .and_then(|n| n.parse::<f64>().ok())
                        .is_some_and(|n| n > 0.0)
            })
            .then_some(())
    })
    .await
    .expect("the police cosigns the shelter's log");
    // A peer's connection into the shelter, answered (so the node holds it as a peer's).
    let police = Identity::from_key(&federation.member(POLICE).node_key).unwrap();
    let inbound = raw_connection(
        &police,
        member.node_key.public_key().to_bytes(),
        member.peer_addr,
        PEER_ALPN,
    )
    .await
    .unwrap();
    let answer = request(&inbound, &PeerRequest::CosignedCheckpoint, MAX_FRAME_LEN, T)
        .await
        .unwrap();
    assert!(
        !matches!(answer, PeerResponse::Error(_)),
        "the shelter answers its peer: {answer:?}"
    );

    node.shutdown().await;
    // Not retried: `shutdown` has returned, so every socket of the node is closed.
    for address in [member.peer_addr, member.app_addr] {
        if let Err(error) = UdpSocket::bind(address) {
            panic!("{address} is still in use after shutdown: {error}");
        }
    }
    if let Err(error) = TcpListener::bind(member.metrics_addr) {
        panic!(
            "{} is still in use after shutdown: {error}",
            member.metrics_addr
        );
    }
    drop((client, inbound));
}

/// `strehad` answers SIGTERM and SIGHUP from the moment it says it is ready: a signal sent
/// right after the ready line stops it cleanly (exit code 0) or reloads its roster, and never
/// kills it by the signal's default action.
#[test]
fn a_daemon_answers_signals_sent_as_soon_as_it_is_ready() {
    let federation = Federation::new();
    for _ in 0..3 {
        assert!(
            federation.start(POLICE).terminate(),
            "strehad stops cleanly on a SIGTERM sent right after its ready line"
        );
    }
    let mut daemon = federation.start(POLICE);
    daemon.hangup();
    // SIGHUP's default action would end the process; the reload keeps it serving.
    assert_eq!(
        daemon.wait_for_exit(Duration::from_secs(2)),
        None,
        "strehad survives a SIGHUP sent right after its ready line"
    );
    assert!(daemon.terminate());
}

/// The harness holds a member's ports again as soon as its daemon has exited, until the
/// next start: a port left free between a stop and a restart was handed to another
/// socket bound to port 0 (another test's federation, a request's source port) and the
/// restart failed with "address in use" (`witnessing::a_node_restored_from_an_older_copy_is_caught_by_its_peers`
/// on a clean-clone CI run). Fails if the ports are free after a stop.
#[test]
fn a_stopped_daemons_ports_stay_held_until_it_starts_again() {
    let federation = Federation::new();
    let member = federation.member(POLICE);
    let held = || {
        std::net::TcpListener::bind(member.metrics_addr).is_err()
            && std::net::UdpSocket::bind(member.peer_addr).is_err()
            && std::net::UdpSocket::bind(member.app_addr).is_err()
    };
    assert!(held(), "held from the start");
    assert!(federation.start(POLICE).terminate());
    assert!(held(), "held again after SIGTERM");
    federation.start(POLICE).kill9();
    assert!(held(), "held again after SIGKILL");
    drop(federation.start(POLICE));
    assert!(held(), "held again after the daemon was dropped");
    // And the next start gets them.
    assert!(federation.start(POLICE).terminate());
}
