//! The transport ceiling: the same payloads over a mutually authenticated QUIC stream with
//! no policy, no seal and no log — one stream per request, a small acknowledgement back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use streha_crypto::NodeIdentitySecretKey;
use streha_transport::{
    ClientSetup, Identity, PinnedKey, ServerSetup, TransportLimits, client_config, read_frame,
    request, server_config, write_frame,
};
use streha_wire::{MAX_FRAME_LEN, PEER_ALPN};

use crate::Sample;

/// Runs `concurrency` request loops for `duration`, each sending `size`-byte payloads.
pub(crate) async fn bare_quinn(size: usize, concurrency: usize, duration: Duration) -> Sample {
    let server_identity = Identity::from_key(&NodeIdentitySecretKey::from_seed_bytes([7; 32]))
        .expect("server identity");
    let client_identity = Identity::from_key(&NodeIdentitySecretKey::from_seed_bytes([8; 32]))
        .expect("client identity");
    let server = server_config(ServerSetup {
        identity: &server_identity,
        clients: Arc::new(PinnedKey(client_identity.public_key())),
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .expect("server config");
    let endpoint = quinn::Endpoint::server(server, "127.0.0.1:0".parse().expect("address"))
        .expect("server endpoint");
    let address = endpoint.local_addr().expect("address");
    let accept = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                    tokio::spawn(async move {
                        if let Ok(payload) = read_frame::<Vec<u8>>(&mut recv, MAX_FRAME_LEN).await {
                            let _ = write_frame(&mut send, &(payload.len() as u64)).await;
                        }
                    });
                }
            });
        }
    });

    let mut client =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("address")).expect("client endpoint");
    client.set_default_client_config(
        client_config(ClientSetup {
            identity: &client_identity,
            server_key: server_identity.public_key(),
            alpn: PEER_ALPN,
            limits: TransportLimits::default(),
        })
        .expect("client config"),
    );
    let connection = client
        .connect(address, "streha.invalid")
        .expect("connect")
        .await
        .expect("handshake");
    let payload = Arc::new(vec![0x5a_u8; size]);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (connection, payload) = (connection.clone(), Arc::clone(&payload));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < duration {
                    let t = Instant::now();
                    let ack: u64 = request(&connection, &*payload, 64, Duration::from_secs(30))
                        .await
                        .expect("echo");
                    debug_assert_eq!(ack as usize, payload.len());
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    connection.close(0u32.into(), b"done");
    endpoint.close(0u32.into(), b"done");
    Sample::new(latencies, elapsed)
}
