//! Framed streams over loopback QUIC: requests read within a deadline and a budget of bytes
//! in flight, and connection failures told apart by who refused whom.

use std::sync::Arc;
use std::time::Duration;

use streha_crypto::NodeIdentitySecretKey;
use streha_transport::{
    ByteBudget, ClientSetup, ConnectionFailure, FrameBudget, Identity, PinnedKey, ServerSetup,
    StreamError, TransportLimits, client_config_pinned, read_frame_within, server_config,
};
use streha_wire::{MAX_FRAME_LEN, PEER_ALPN};

fn identity(seed: u8) -> Identity {
    Identity::from_key(&NodeIdentitySecretKey::from_seed_bytes([seed; 32])).unwrap()
}

/// Both ends of a connection on loopback, with their endpoints (dropping an endpoint would
/// close its connections).
struct Pair {
    _endpoints: (quinn::Endpoint, quinn::Endpoint),
    client: quinn::Connection,
    server: quinn::Connection,
}

/// A server on 127.0.0.1:0 accepting `client`, and a connection from `client`.
async fn pair(server: &Identity, client: &Identity) -> Pair {
    let config = server_config(ServerSetup {
        identity: server,
        clients: Arc::new(PinnedKey(client.public_key())),
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .unwrap();
    let server_endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let address = server_endpoint.local_addr().unwrap();
    let mut client_endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let (config, _pin) = client_config_pinned(ClientSetup {
        identity: client,
        server_key: server.public_key(),
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .unwrap();
    client_endpoint.set_default_client_config(config);
    let connecting = client_endpoint.connect(address, "streha.invalid").unwrap();
    let (client, server) = tokio::join!(connecting, async {
        server_endpoint.accept().await.unwrap().await
    });
    Pair {
        _endpoints: (server_endpoint, client_endpoint),
        client: client.unwrap(),
        server: server.unwrap(),
    }
}

#[tokio::test]
async fn a_request_that_does_not_arrive_in_time_is_cut_and_gives_its_bytes_back() {
    let (server, client) = (identity(1), identity(2));
    let pair = pair(&server, &client).await;
    let (connection, served) = (&pair.client, &pair.server);
    let budget = FrameBudget::new(ByteBudget::new(8 << 20), ByteBudget::new(64 << 20));

    // Announces a frame of 100 000 bytes, sends 10.
    let (mut send, _recv) = connection.open_bi().await.unwrap();
    send.write_all(&100_000u32.to_be_bytes()).await.unwrap();
    send.write_all(&[1; 10]).await.unwrap();
    let (_send, mut recv) = served.accept_bi().await.unwrap();
    let read = read_frame_within::<Vec<u8>>(
        &mut recv,
        MAX_FRAME_LEN,
        &budget,
        Duration::from_millis(300),
    );
    let err = read.await.unwrap_err();
    assert!(matches!(err, StreamError::Deadline(_)), "{err}");
    assert_eq!(budget.shared().in_use(), 0, "the bytes are given back");
    assert_eq!(budget.connection().in_use(), 0);
}

#[tokio::test]
async fn a_frame_the_budget_cannot_hold_now_is_refused_at_once_and_one_it_can_is_read() {
    let (server, client) = (identity(1), identity(2));
    let pair = pair(&server, &client).await;
    let (connection, served) = (&pair.client, &pair.server);
    // Room for one frame of 1 MiB, not two.
    let budget = FrameBudget::new(ByteBudget::new(1_500_000), ByteBudget::new(64 << 20));
    let frame = streha_wire::frame::encode(&vec![7u8; 1_000_000]).unwrap();

    // Writes block on flow control until the server reads: write from tasks.
    let (mut first, _r1) = connection.open_bi().await.unwrap();
    let head = frame[..frame.len() - 1].to_vec();
    let first_written = tokio::spawn(async move {
        first.write_all(&head).await.unwrap();
        first
    });
    let (_s1, mut recv1) = served.accept_bi().await.unwrap();
    let reading = {
        let budget = budget.clone();
        tokio::spawn(async move {
            read_frame_within::<Vec<u8>>(
                &mut recv1,
                MAX_FRAME_LEN,
                &budget,
                Duration::from_secs(60),
            )
            .await
            .map(|(message, held)| (message.len(), held.bytes()))
        })
    };
    // The first frame's length is held as soon as its prefix is read.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while budget.connection().in_use() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first frame was never taken on"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (mut second, _r2) = connection.open_bi().await.unwrap();
    let whole = frame.clone();
    tokio::spawn(async move {
        // Stopped by the server: the write may fail.
        let _ = second.write_all(&whole).await;
        second
    });
    let (_s2, mut recv2) = served.accept_bi().await.unwrap();
    let err =
        read_frame_within::<Vec<u8>>(&mut recv2, MAX_FRAME_LEN, &budget, Duration::from_secs(60))
            .await
            .unwrap_err();
    assert!(matches!(err, StreamError::Busy(_)), "{err}");
    // As a server does: stopping the stream gives back the QUIC receive window its data
    // took, which the first stream needs.
    recv2.stop(3u32.into()).unwrap();

    // The first one completes.
    let mut first = first_written.await.unwrap();
    first.write_all(&frame[frame.len() - 1..]).await.unwrap();
    let (len, held) = reading.await.unwrap().unwrap();
    assert_eq!(len, 1_000_000);
    assert_eq!(held, frame.len() - 4);
    assert_eq!(budget.connection().in_use(), 0);
}

#[tokio::test]
async fn a_client_key_the_server_refuses_is_told_apart() {
    let (server, client) = (identity(1), identity(2));
    // The server does not accept the client's key: the client learns it from the close.
    let stranger = identity(4);
    let config = server_config(ServerSetup {
        identity: &server,
        clients: Arc::new(PinnedKey(client.public_key())),
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .unwrap();
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let address = endpoint.local_addr().unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let _ = incoming.await;
        }
    });
    let mut dialler = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let (config, pin) = client_config_pinned(ClientSetup {
        identity: &stranger,
        server_key: server.public_key(),
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .unwrap();
    dialler.set_default_client_config(config);
    let closed = match dialler.connect(address, "streha.invalid").unwrap().await {
        Err(err) => err,
        Ok(connection) => connection.closed().await,
    };
    assert_eq!(
        ConnectionFailure::of(&closed),
        ConnectionFailure::ClientKeyRefused,
        "{closed}"
    );
    assert_eq!(
        pin.refused_key(),
        None,
        "the server's key was the pinned one"
    );
}

#[tokio::test]
async fn a_server_key_the_client_refuses_is_told_apart_and_remembered() {
    let (server, client, impostor) = (identity(1), identity(2), identity(3));
    let config = server_config(ServerSetup {
        identity: &impostor,
        clients: Arc::new(PinnedKey(client.public_key())),
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .unwrap();
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let address = endpoint.local_addr().unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let _ = incoming.await;
        }
    });
    let mut dialler = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let (config, pin) = client_config_pinned(ClientSetup {
        identity: &client,
        server_key: server.public_key(),
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .unwrap();
    dialler.set_default_client_config(config);
    assert!(
        dialler
            .connect(address, "streha.invalid")
            .unwrap()
            .await
            .is_err()
    );
    let err = dialler
        .connect(address, "streha.invalid")
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(
        ConnectionFailure::of(&err),
        ConnectionFailure::ServerKeyRefused,
        "{err}"
    );
    assert_eq!(pin.refused_key(), Some(impostor.public_key()));
    assert_eq!(pin.key(), server.public_key());
}

/// Serves `connection` as a node does: each request read within `budget`, held while it
/// is "handled" (100 ms), answered "ok", or "busy" if the budget could not hold it.
async fn hold_and_answer(connection: quinn::Connection, budget: FrameBudget) {
    while let Ok((mut send, mut recv)) = connection.accept_bi().await {
        let budget = budget.clone();
        tokio::spawn(async move {
            let answer = match read_frame_within::<Vec<u8>>(
                &mut recv,
                MAX_FRAME_LEN,
                &budget,
                Duration::from_secs(60),
            )
            .await
            {
                Ok((_, held)) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    drop(held);
                    "ok"
                }
                Err(StreamError::Busy(_)) => {
                    let _ = recv.stop(3u32.into());
                    "busy"
                }
                Err(e) => panic!("{e}"),
            };
            let _ = streha_transport::write_frame(&mut send, &answer.to_owned()).await;
        });
    }
}

#[tokio::test]
async fn a_paced_sender_is_never_answered_busy_and_an_unpaced_burst_is() {
    let (server, client) = (identity(1), identity(2));
    let pair = pair(&server, &client).await;
    // The receiver holds 3 MB per connection; ten requests of 1 MB each are sent at once.
    let receiver = 3_000_000;
    let budget = FrameBudget::new(ByteBudget::new(receiver), ByteBudget::new(64 << 20));
    tokio::spawn(hold_and_answer(pair.server.clone(), budget));
    let burst = |paced: bool| {
        let connection = pair.client.clone();
        let pacing = ByteBudget::pacing(receiver);
        async move {
            let requests: Vec<_> = (0..10)
                .map(|_| {
                    let (connection, pacing) = (connection.clone(), pacing.clone());
                    tokio::spawn(async move {
                        let body = vec![1u8; 1_000_000];
                        let timeout = Duration::from_secs(120);
                        let answer: Result<String, _> = if paced {
                            streha_transport::request_paced(
                                &connection,
                                &body,
                                MAX_FRAME_LEN,
                                timeout,
                                &pacing,
                            )
                            .await
                        } else {
                            streha_transport::request(&connection, &body, MAX_FRAME_LEN, timeout)
                                .await
                        };
                        answer.unwrap_or_else(|e| format!("failed: {e}"))
                    })
                })
                .collect();
            let mut busy = 0;
            for request in requests {
                let answer = request.await.unwrap();
                assert!(answer == "ok" || answer == "busy", "{answer}");
                busy += usize::from(answer == "busy");
            }
            busy
        }
    };
    assert_eq!(burst(true).await, 0, "a paced sender was answered busy");
    assert!(
        burst(false).await > 0,
        "the unpaced burst was never refused"
    );
}
