//! Resource budgets against strangers and against authenticated peers, with real daemons and
//! real QUIC clients on 127.0.0.1 (`spec/protocol.md` §11):
//!
//! - handshakes that never complete do not take connection slots, and legitimate peers and
//!   applications keep connecting (pending handshakes are bounded, per source address too,
//!   abandoned at a short timeout, and clients are asked to validate their address under
//!   load);
//! - refused handshakes are counted, and logged at most once per interval;
//! - frames in flight are held within a budget per connection and per node: 64 streams
//!   announcing the largest frame and sending all of it but the last byte do not take the
//!   node's memory up with them, and a stream that trickles is cut at the read deadline;
//! - one key holds at most its share of connections.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use streha_client::{Client, ClientError};
use streha_core::{AgeStatus, Category, DisclosableCategory, Grantor, Purpose};
use streha_crypto::NodeIdentitySecretKey;
use streha_transport::{ClientSetup, Identity, TransportLimits, client_config, request};
use streha_wire::app::DeliveryState;
use streha_wire::peer::{PeerRequest, PeerResponse};
use streha_wire::{APP_ALPN, ErrorCode, MAX_FRAME_LEN, PEER_ALPN};

/// Generous: the machine running the tests may be loaded.
const PATIENCE: Duration = Duration::from_secs(120);
const T: Duration = Duration::from_secs(30);

/// Adds `key = value` lines to a member's `[limits]` (the last table of its node.toml).
fn set_limits(member: &Member, limits: &[(&str, u64)]) {
    let path = member.dir.join("node.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    assert!(text.trim_end().ends_with(|c: char| c.is_ascii_digit()) && text.contains("[limits]"));
    for (key, value) in limits {
        text.push_str(&format!("{key} = {value}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// A gauge or counter with labels, e.g. `streha_connections_open{side="peer"}`.
fn labelled(member: &Member, name: &str, labels: &str) -> u64 {
    metric(member, &format!("{name}{{{labels}}}"))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Whether a datagram from a server is a QUIC Retry (long header, type 3).
fn is_retry(datagram: &[u8]) -> bool {
    datagram
        .first()
        .is_some_and(|b| b & 0x80 != 0 && b & 0x30 == 0x30)
}

/// A real QUIC client whose handshake stalls: its datagrams go to `node` through a relay
/// bound to `from`, which passes the client's first flight (again after a Retry, so the
/// address is validated) and drops everything the client sends once the node has answered
/// with its handshake. The node is left with a handshake that never completes. Counts in
/// `answered` once the node answered it in any way (Retry, handshake, refusal).
async fn stalled_handshake(
    node: SocketAddr,
    node_key: [u8; 32],
    alpn: &'static [u8],
    from: IpAddr,
    answered: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    let front = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = tokio::net::UdpSocket::bind((from, 0)).await.unwrap();
    let stranger = Identity::from_key(&NodeIdentitySecretKey::generate()).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(
        client_config(ClientSetup {
            identity: &stranger,
            server_key: node_key,
            alpn,
            limits: TransportLimits::default(),
        })
        .unwrap(),
    );
    let connecting = endpoint
        .connect(front.local_addr().unwrap(), "streha.invalid")
        .unwrap();
    tokio::spawn(async move {
        // Held, not awaited: the client's connection runs on its own until the relay ends.
        let _client = (endpoint, connecting);
        let (mut up, mut down) = (vec![0u8; 65536], vec![0u8; 65536]);
        let (mut client, mut stalled, mut counted) = (None, false, false);
        loop {
            tokio::select! {
                Ok((n, source)) = front.recv_from(&mut up) => {
                    client = Some(source);
                    if !stalled {
                        let _ = back.send_to(&up[..n], node).await;
                    }
                }
                Ok((n, _)) = back.recv_from(&mut down) => {
                    if !counted {
                        counted = true;
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    if !is_retry(&down[..n]) {
                        stalled = true;
                    }
                    if let Some(client) = client {
                        let _ = front.send_to(&down[..n], client).await;
                    }
                }
            }
        }
    })
}

/// Where stalled handshakes go, from where, and what they count.
#[derive(Clone)]
struct Stalling {
    node: SocketAddr,
    node_key: [u8; 32],
    alpn: &'static [u8],
    from: IpAddr,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Stalling {
    /// Keeps `slots` stalled handshakes going, each replaced by a new one every `every`,
    /// until `stop`.
    fn keep(&self, slots: usize, every: Duration) -> Vec<tokio::task::JoinHandle<()>> {
        (0..slots)
            .map(|_| {
                let this = self.clone();
                tokio::spawn(async move {
                    while !this.stop.load(Ordering::SeqCst) {
                        let attempt = stalled_handshake(
                            this.node,
                            this.node_key,
                            this.alpn,
                            this.from,
                            Arc::clone(&this.answered),
                        )
                        .await;
                        tokio::time::sleep(every).await;
                        attempt.abort();
                    }
                })
            })
            .collect()
    }
}

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

/// Sends a medical note from the shelter to the police and waits until it is delivered.
async fn delivered(
    shelter: &Client,
    subject: streha_core::SubjectId,
    consent: streha_core::ConsentId,
) {
    let police = streha_core::AgencyId::new(POLICE).unwrap();
    let sealed = shelter
        .disclosure(subject, police, Purpose::Assistance)
        .field(DisclosableCategory::Medical, "note", "follow-up visit")
        .unwrap()
        .consent(consent)
        .prepare()
        .unwrap()
        .seal(shelter)
        .unwrap();
    shelter.submit(&sealed).await.unwrap();
    let id = sealed.envelope_id();
    let done = eventually(PATIENCE, || async {
        matches!(
            shelter.delivery_status(id).await,
            Ok(DeliveryState::Delivered { .. })
        )
        .then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "the disclosure was not delivered to the police"
    );
}

async fn as_node(
    federation: &Federation,
    from: &str,
    to: &str,
) -> Result<quinn::Connection, String> {
    let identity = Identity::from_key(&federation.member(from).node_key).unwrap();
    let target = federation.member(to);
    raw_connection(
        &identity,
        target.node_key.public_key().to_bytes(),
        target.peer_addr,
        PEER_ALPN,
    )
    .await
}

async fn gossip(connection: &quinn::Connection) -> Result<PeerResponse, String> {
    request(connection, &PeerRequest::Gossip(vec![]), MAX_FRAME_LEN, T)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn handshakes_that_never_complete_lock_nobody_out() {
    let federation = Federation::new();
    let target = federation.member(POLICE);
    // Few connection slots, so that stalled handshakes counted as connections (as they
    // were) would take them all.
    set_limits(
        target,
        &[
            ("max_connections", 8),
            ("max_pending_handshakes", 32),
            ("max_pending_handshakes_per_address", 4),
            ("handshake_timeout_ms", 3000),
        ],
    );
    let _police = federation.start(POLICE);
    let _shelter = federation.start(SHELTER);
    let shelter = federation.client(SHELTER).await;
    let (subject, consent) = consented_subject(&shelter).await;

    // Two attacking addresses keep 30 stalled handshakes each going on each endpoint of the
    // police node, each renewed every 2 s.
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let key = target.node_key.public_key().to_bytes();
    let mut attack = Vec::new();
    for last in [2u8, 3] {
        let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
        for (node, alpn) in [(target.peer_addr, PEER_ALPN), (target.app_addr, APP_ALPN)] {
            let stalling = Stalling {
                node,
                node_key: key,
                alpn,
                from,
                answered: Arc::clone(&answered),
                stop: Arc::clone(&stop),
            };
            attack.extend(stalling.keep(30, Duration::from_secs(2)));
        }
    }
    // The node has answered (a handshake, a Retry or a refusal) 120 attempts and more.
    let reached = eventually(PATIENCE, || async {
        (answered.load(Ordering::SeqCst) >= 240).then_some(())
    })
    .await;
    assert!(reached.is_some(), "the attack did not reach the node");

    // Under attack: the police application connects and works, and the shelter's node
    // delivers to the police node.
    let police = federation.client(POLICE).await;
    police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    delivered(&shelter, subject, consent).await;

    // The handshakes took no connection slots; the node held few of them, sent Retries
    // under load and refused the rest.
    for side in ["peer", "app"] {
        let side = format!("side=\"{side}\"");
        let open = labelled(target, "streha_connections_open", &side);
        assert!(open <= 2, "{side}: {open} connections open");
        let pending = labelled(target, "streha_handshakes_pending", &side);
        assert!(pending <= 32, "{side}: {pending} handshakes pending");
    }
    assert!(metric(target, "streha_handshake_retries_total") > 0);

    // The attack stops; every stalled handshake is abandoned at the handshake timeout.
    stop.store(true, Ordering::SeqCst);
    for task in attack {
        task.abort();
    }
    let drained = eventually(PATIENCE, || async {
        (labelled(target, "streha_handshakes_pending", "side=\"peer\"") == 0
            && labelled(target, "streha_handshakes_pending", "side=\"app\"") == 0)
            .then_some(())
    })
    .await;
    assert!(drained.is_some(), "stalled handshakes were never abandoned");
    assert!(metric(target, "streha_handshake_timeouts_total") > 0);
    police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
}

/// A `strehad` whose standard error is kept, to count its log lines. Killed on drop.
struct Logged {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_logged(member: &Member) -> Logged {
    member.release_ports();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strehad-test"))
        .arg("--config")
        .arg(member.dir.join("node.toml"))
        .env("STREHA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().unwrap();
    let kept = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    let stdout = child.stdout.take().unwrap();
    let mut ready = BufReader::new(stdout).lines();
    loop {
        match ready.next() {
            Some(Ok(line)) if line.starts_with("strehad ready") => break,
            Some(_) => {}
            None => panic!("strehad exited during start-up"),
        }
    }
    Logged { child, lines }
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_handshakes_are_all_counted_but_logged_at_most_once_per_interval() {
    let federation = Federation::new();
    let police = federation.member(POLICE);
    let node = start_logged(police);
    let key = police.node_key.public_key().to_bytes();
    for _ in 0..60 {
        let stranger = Identity::from_key(&NodeIdentitySecretKey::generate()).unwrap();
        if let Ok(connection) = raw_connection(&stranger, key, police.peer_addr, PEER_ALPN).await {
            assert!(
                gossip(&connection).await.is_err(),
                "a stranger got an answer"
            );
        }
    }
    let counted = eventually(PATIENCE, || async {
        let n = metric(police, "streha_handshake_refusals_total");
        (n >= 60).then_some(n)
    })
    .await;
    assert!(counted.is_some(), "every refusal is counted");
    let logged = node
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("TLS handshake refused"))
        .count();
    // One line per 10 s at most: the 60 refusals took far less than a minute, or the line
    // count says how long they took.
    assert!(
        (1..=6).contains(&logged),
        "{logged} log lines for 60 refused handshakes"
    );
}

/// A stream that announces a frame of `MAX_FRAME_LEN` bytes and sends all but the last
/// byte, then waits for the node's answer. Adds what it wrote to `written`.
async fn all_but_the_last_byte(
    connection: quinn::Connection,
    written: Arc<AtomicU64>,
) -> Result<PeerResponse, String> {
    let (mut send, mut recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
    let writer = async {
        let len = u32::try_from(MAX_FRAME_LEN).unwrap();
        send.write_all(&len.to_be_bytes()).await?;
        written.fetch_add(4, Ordering::SeqCst);
        let chunk = vec![0u8; 64 * 1024];
        let mut left = MAX_FRAME_LEN - 1;
        while left > 0 {
            let n = left.min(chunk.len());
            send.write_all(&chunk[..n]).await?;
            written.fetch_add(n as u64, Ordering::SeqCst);
            left -= n;
        }
        // Never the last byte, never finished.
        std::future::pending::<()>().await;
        Ok::<_, quinn::WriteError>(())
    };
    let reader = streha_transport::read_frame::<PeerResponse>(&mut recv, MAX_FRAME_LEN);
    tokio::select! {
        // The node stops the stream: the writer fails; its answer may still be read.
        _ = writer => streha_transport::read_frame::<PeerResponse>(&mut recv, MAX_FRAME_LEN)
            .await
            .map_err(|e| e.to_string()),
        answer = reader => answer.map_err(|e| e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_announcing_the_largest_frame_do_not_take_memory_with_them() {
    let federation = Federation::new();
    let target = federation.member(POLICE);
    set_limits(target, &[("read_timeout_ms", 4000)]);
    let node = federation.start(POLICE);
    let police = federation.client(POLICE).await;
    let baseline = rss_kib(node.pid());

    // An authenticated peer opens 64 streams, each announcing the largest frame and sending
    // all of it but the last byte.
    let attacker = as_node(&federation, SHELTER, POLICE).await.unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let streams: Vec<_> = (0..64)
        .map(|_| {
            tokio::spawn(all_but_the_last_byte(
                attacker.clone(),
                Arc::clone(&written),
            ))
        })
        .collect();

    // One frame is taken on (the connection's budget holds one of the largest), the others
    // are answered "busy" at once, and the taken one arrives but for its last byte.
    let per_connection = streha_wire::limits::MAX_BYTES_IN_FLIGHT_PER_CONNECTION as u64;
    let taken = eventually(PATIENCE, || async {
        let in_flight = metric(target, "streha_frame_bytes_in_flight");
        (in_flight >= MAX_FRAME_LEN as u64
            && metric(target, "streha_busy_answers_total") >= 1
            && written.load(Ordering::SeqCst) >= MAX_FRAME_LEN as u64)
            .then_some(in_flight)
    })
    .await;
    let in_flight = taken.expect("the frames never reached the node");
    assert!(in_flight <= per_connection, "{in_flight} bytes in flight");
    // The node's memory did not grow with the 64 announced frames (272 MiB): a generous
    // bound, far below.
    let grown = rss_kib(node.pid()).saturating_sub(baseline);
    assert!(grown < 96 * 1024, "the node grew by {grown} KiB");
    let sent = written.load(Ordering::SeqCst);
    eprintln!("under attack: the node grew by {grown} KiB, held {in_flight} bytes, took {sent}");
    assert!(
        sent < 64 << 20,
        "the node took {sent} bytes from the streams"
    );

    // Honest traffic flows meanwhile: on the same connection (a small request fits beside
    // the held frame), from another peer, and from the application.
    assert!(matches!(
        gossip(&attacker).await,
        Ok(PeerResponse::GossipReceived)
    ));
    let other = as_node(&federation, PROSECUTION, POLICE).await.unwrap();
    assert!(matches!(
        gossip(&other).await,
        Ok(PeerResponse::GossipReceived)
    ));
    police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();

    // Every stream ends: "busy" at once, or cut at the read deadline.
    let (mut busy, mut cut) = (0, 0);
    for stream in streams {
        let answer = tokio::time::timeout(PATIENCE, stream)
            .await
            .expect("a stream was left open")
            .unwrap();
        match answer {
            Ok(PeerResponse::Error(e)) if e.code == ErrorCode::Unavailable => busy += 1,
            Ok(PeerResponse::Error(e)) if e.message.contains("did not arrive within") => cut += 1,
            // Stopped before the answer could be read.
            Err(_) => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(busy >= 1 && cut >= 1, "busy {busy}, cut {cut}");
    assert!(metric(target, "streha_busy_answers_total") >= 63);
    assert!(metric(target, "streha_stream_deadlines_total") >= 1);
    let released = eventually(PATIENCE, || async {
        (metric(target, "streha_frame_bytes_in_flight") == 0).then_some(())
    })
    .await;
    assert!(released.is_some(), "bytes in flight were never given back");
    police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_trickling_in_is_cut_at_the_read_deadline() {
    let federation = Federation::new();
    let target = federation.member(POLICE);
    set_limits(target, &[("read_timeout_ms", 2000)]);
    let _node = federation.start(POLICE);
    let connection = as_node(&federation, SHELTER, POLICE).await.unwrap();
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let trickle = tokio::spawn(async move {
        // A frame of 100 bytes, one byte every half second: 50 s if the node waited.
        send.write_all(&100u32.to_be_bytes()).await?;
        for _ in 0..100 {
            send.write_all(&[1]).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok::<_, quinn::WriteError>(send)
    });
    let answer: PeerResponse = tokio::time::timeout(
        Duration::from_secs(40),
        streha_transport::read_frame(&mut recv, MAX_FRAME_LEN),
    )
    .await
    .expect("the trickling stream was not cut")
    .unwrap();
    assert!(
        matches!(&answer, PeerResponse::Error(e) if e.code == ErrorCode::BadRequest
            && e.message.contains("did not arrive within")),
        "{answer:?}"
    );
    trickle.abort();
    assert!(metric(target, "streha_stream_deadlines_total") >= 1);
    // The connection serves on.
    assert!(matches!(
        gossip(&connection).await,
        Ok(PeerResponse::GossipReceived)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_key_holds_at_most_its_share_of_connections() {
    let federation = Federation::new();
    let target = federation.member(POLICE);
    set_limits(
        target,
        &[
            ("max_connections_per_peer", 3),
            ("max_connections_per_application", 2),
        ],
    );
    let _node = federation.start(POLICE);

    let mut held = Vec::new();
    for _ in 0..3 {
        let connection = as_node(&federation, SHELTER, POLICE).await.unwrap();
        assert!(matches!(
            gossip(&connection).await,
            Ok(PeerResponse::GossipReceived)
        ));
        held.push(connection);
    }
    // A fourth connection of the same key is closed right after its handshake, saying why.
    let fourth = as_node(&federation, SHELTER, POLICE).await;
    if let Ok(connection) = fourth {
        assert!(
            gossip(&connection).await.is_err(),
            "a fourth connection was served"
        );
        let reason = connection.closed().await;
        assert!(
            matches!(
                streha_transport::ConnectionFailure::of(&reason),
                streha_transport::ConnectionFailure::TooManyConnections(ref why)
                    if why.contains("max_connections_per_peer")
            ),
            "{reason}"
        );
    }
    assert_eq!(
        labelled(
            target,
            "streha_connections_refused_total",
            "side=\"peer\",reason=\"connections-per-key\""
        ),
        1
    );
    // Other keys are not affected.
    let other = as_node(&federation, PROSECUTION, POLICE).await.unwrap();
    assert!(matches!(
        gossip(&other).await,
        Ok(PeerResponse::GossipReceived)
    ));
    let police = federation.client(POLICE).await;
    police
        .register_subject(AgeStatus::Adult, vec![])
        .await
        .unwrap();
    // The same for an application key, whose client says which limit.
    let second = federation.client(POLICE).await;
    let err = Client::connect(target.client_config(&federation.roster_key))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::NodeBusy { reason, .. }
            if reason.contains("limits.max_connections_per_application")),
        "{err}"
    );
    drop(second);
    // A slot given back is free again.
    held.pop().unwrap().close(0u32.into(), b"done");
    let again = eventually(PATIENCE, || async {
        let connection = as_node(&federation, SHELTER, POLICE).await.ok()?;
        matches!(gossip(&connection).await, Ok(PeerResponse::GossipReceived)).then_some(())
    })
    .await;
    assert!(
        again.is_some(),
        "a freed slot was not given to the key again"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_is_told_which_key_is_wrong_and_fails_at_once_when_nothing_listens() {
    let federation = Federation::new();
    let member = federation.member(POLICE);
    let _node = federation.start(POLICE);

    // An application key the node has not enrolled.
    let mut config = member.client_config(&federation.roster_key);
    config.application_key = streha_crypto::ApplicationSecretKey::generate();
    let fingerprint = config.application_key.fingerprint().to_hex();
    let err = Client::connect(config).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::NotEnrolled { fingerprint: f, .. } if *f == fingerprint),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&fingerprint)
            && message.contains("[applications]")
            && message.contains("node.toml"),
        "{message}"
    );

    // A node key pinned that is not the node's.
    let mut config = member.client_config(&federation.roster_key);
    let presented = config.node_key.fingerprint().to_hex();
    config.node_key = NodeIdentitySecretKey::generate().public_key();
    let err = Client::connect(config).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::NodeKeyMismatch { presented: p, .. } if *p == presented),
        "{err}"
    );
    assert!(
        !err.to_string().contains("ApplicationVerificationFailure"),
        "{err}"
    );

    // The peer endpoint where the application endpoint belongs.
    let mut config = member.client_config(&federation.roster_key);
    config.node_address = member.peer_addr;
    let err = Client::connect(config).await.unwrap_err();
    assert!(matches!(&err, ClientError::WrongEndpoint { .. }), "{err}");

    // Nothing listening: refused at once, not at the (hour-long) timeout.
    let mut config = member.client_config(&federation.roster_key);
    config.node_address = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    config.request_timeout = Duration::from_secs(3600);
    let err = tokio::time::timeout(PATIENCE, Client::connect(config))
        .await
        .expect("refused at once")
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::ConnectionRefused { .. }),
        "{err}"
    );
}

#[test]
fn every_budget_is_configurable_and_checked_at_load() {
    let federation = Federation::new();
    let member = federation.member(POLICE);
    let good = std::fs::read_to_string(member.dir.join("node.toml")).unwrap();
    let load = |extra: &str| {
        let path = member.dir.join("budget-case.toml");
        std::fs::write(&path, format!("{good}{extra}\n")).unwrap();
        streha_node::NodeConfig::load(&path)
    };

    // The defaults, and every budget set.
    let limits = load("").unwrap().limits;
    assert_eq!(limits.max_connections_per_peer, 4);
    assert_eq!(limits.max_connections_per_application, 64);
    assert_eq!(limits.max_pending_handshakes, 128);
    assert_eq!(limits.max_pending_handshakes_per_address, 16);
    assert_eq!(limits.handshake_timeout, Duration::from_secs(5));
    assert_eq!(limits.read_timeout, Duration::from_secs(10));
    assert_eq!(
        limits.max_bytes_in_flight,
        streha_wire::limits::MAX_BYTES_IN_FLIGHT
    );
    assert_eq!(
        limits.max_bytes_in_flight_per_connection,
        streha_wire::limits::MAX_BYTES_IN_FLIGHT_PER_CONNECTION
    );
    // The QUIC windows follow the budgets: 128 MiB over 256 connections.
    assert_eq!(limits.transport().receive_window, 512 * 1024);
    let set = load(
        "max_connections_per_peer = 2\nmax_connections_per_application = 5\n\
         max_pending_handshakes = 10\n\
         max_pending_handshakes_per_address = 3\nhandshake_timeout_ms = 700\n\
         read_timeout_ms = 900\nmax_bytes_in_flight = 40000000\n\
         max_bytes_in_flight_per_connection = 20000000\nmax_connections = 10",
    )
    .unwrap()
    .limits;
    assert_eq!(
        (
            set.max_connections_per_peer,
            set.max_connections_per_application,
            set.max_pending_handshakes,
            set.max_pending_handshakes_per_address,
            set.handshake_timeout,
            set.read_timeout,
            set.max_bytes_in_flight,
            set.max_bytes_in_flight_per_connection,
        ),
        (
            2,
            5,
            10,
            3,
            Duration::from_millis(700),
            Duration::from_millis(900),
            40_000_000,
            20_000_000
        )
    );
    assert_eq!(set.transport().receive_window, 4_000_000);
    assert_eq!(set.transport().max_incoming, 10);

    // Each impossible budget names its field.
    for (extra, field) in [
        (
            "max_connections_per_peer = 0",
            "limits.max_connections_per_peer",
        ),
        (
            "max_connections_per_application = 0",
            "limits.max_connections_per_application",
        ),
        (
            "max_pending_handshakes = 1",
            "limits.max_pending_handshakes",
        ),
        (
            "max_pending_handshakes_per_address = 0",
            "limits.max_pending_handshakes_per_address",
        ),
        ("handshake_timeout_ms = 0", "limits.handshake_timeout_ms"),
        ("read_timeout_ms = 0", "limits.read_timeout_ms"),
        (
            "max_bytes_in_flight_per_connection = 1000000",
            "limits.max_bytes_in_flight_per_connection",
        ),
        (
            "max_bytes_in_flight = 9000000\nmax_bytes_in_flight_per_connection = 10000000",
            "limits.max_bytes_in_flight",
        ),
    ] {
        let err = load(extra).unwrap_err();
        assert_eq!(err.field, field, "{extra}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn honest_bursts_of_large_disclosures_wait_their_turn_and_are_never_answered_busy() {
    let federation = Federation::new();
    let _police = federation.start(POLICE);
    let _shelter = federation.start(SHELTER);
    let shelter = Arc::new(federation.client(SHELTER).await);
    let (subject, consent) = consented_subject(&shelter).await;
    let police = streha_core::AgencyId::new(POLICE).unwrap();

    // 16 disclosures of about 1 MiB each, submitted at once over one connection: twice
    // what a node holds in flight per connection; the sender's node then delivers them
    // together over its one connection to the police node.
    let sealed: Vec<_> = (0..16u8)
        .map(|n| {
            let mut disclosure = shelter.disclosure(subject, police.clone(), Purpose::Assistance);
            for part in 0..4u8 {
                disclosure = disclosure
                    .bytes_field(
                        DisclosableCategory::Medical,
                        format!("scan-{part}"),
                        vec![n ^ part; streha_core::MAX_FIELD_VALUE_LEN - 1024],
                    )
                    .unwrap();
            }
            disclosure
                .consent(consent)
                .prepare()
                .unwrap()
                .seal(&shelter)
                .unwrap()
        })
        .collect();
    let submissions: Vec<_> = sealed
        .iter()
        .map(|s| {
            let (shelter, s) = (Arc::clone(&shelter), s.clone());
            tokio::spawn(async move { shelter.submit(s).await.map(|_| ()) })
        })
        .collect();
    for submission in submissions {
        submission
            .await
            .unwrap()
            .expect("accepted, not answered busy");
    }
    for s in &sealed {
        let state = shelter
            .await_delivery(s.envelope_id(), PATIENCE)
            .await
            .unwrap();
        assert!(
            matches!(state, DeliveryState::Delivered { .. }),
            "{state:?}"
        );
    }
    for name in [SHELTER, POLICE] {
        let busy = metric(federation.member(name), "streha_busy_answers_total");
        assert_eq!(busy, 0, "{name} answered busy to honest traffic");
    }
}

#[test]
fn key_files_are_read_within_their_size_bound() {
    use std::os::unix::fs::PermissionsExt;
    let federation = Federation::new();
    let member = federation.member(POLICE);
    let config = member.dir.join("node.toml");
    let key = member.dir.join("node.key");
    // The node key followed by a megabyte: refused before it is read whole, naming the field.
    let mut text = std::fs::read_to_string(&key).unwrap();
    text.push_str(&"#".repeat(1 << 20));
    std::fs::write(&key, text).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = streha_node::NodeConfig::load(&config).unwrap_err();
    assert_eq!(err.field, "node_key", "{err}");
    assert!(err.problem.contains("larger than any key file"), "{err}");
    // Not text: refused, and the bytes are not repeated.
    std::fs::write(&key, [0xff, 0xfe, b's', b'e', b'c', b'r', b'e', b't']).unwrap();
    let err = streha_node::NodeConfig::load(&config).unwrap_err();
    assert_eq!(err.field, "node_key", "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
}
