//! The transport ceilings: the same payloads over mutually authenticated QUIC streams with
//! no policy, no seal and no log — one stream per request, a small acknowledgement back.
//! [`bare_quinn`] is one hop (application to server); [`relayed_quinn`] is the two hops a
//! disclosure takes (application to its node, node to the receiving node), the relay
//! forwarding each payload on a stream of its own connection and answering once the far end
//! has: the transport floor of any store-and-forward design, before it stores anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use streha_crypto::NodeIdentitySecretKey;
use streha_transport::{
    ClientSetup, Identity, PinnedKey, ServerSetup, TransportLimits, client_config, read_frame,
    request, server_config, write_frame,
};
use streha_wire::{MAX_FRAME_LEN, PEER_ALPN};

use crate::Sample;

/// How long one request may take before the run is abandoned.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn identity(seed: u8) -> Identity {
    Identity::from_key(&NodeIdentitySecretKey::from_seed_bytes([seed; 32])).expect("identity")
}

/// A server endpoint on loopback that accepts only `client`.
fn server(identity: &Identity, client: &Identity) -> (quinn::Endpoint, SocketAddr) {
    let config = server_config(ServerSetup {
        identity,
        clients: Arc::new(PinnedKey(client.public_key())),
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .expect("server config");
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().expect("address"))
        .expect("server endpoint");
    let address = endpoint.local_addr().expect("address");
    (endpoint, address)
}

/// `identity`'s connection to the server at `address` that presents `server`.
async fn connect(
    identity: &Identity,
    server: &Identity,
    address: SocketAddr,
) -> (quinn::Endpoint, quinn::Connection) {
    let mut endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("address")).expect("client endpoint");
    endpoint.set_default_client_config(
        client_config(ClientSetup {
            identity,
            server_key: server.public_key(),
            alpn: PEER_ALPN,
            limits: TransportLimits::default(),
        })
        .expect("client config"),
    );
    let connection = endpoint
        .connect(address, "streha.invalid")
        .expect("connect")
        .await
        .expect("handshake");
    (endpoint, connection)
}

/// Serves every stream of every connection to `endpoint`: reads one payload, hands it to
/// `answer`, writes back what it returns.
fn serve<F, Fut>(endpoint: &quinn::Endpoint, answer: F)
where
    F: Fn(Vec<u8>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Option<u64>> + Send,
{
    let accept = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                    let answer = answer.clone();
                    tokio::spawn(async move {
                        if let Ok(payload) = read_frame::<Vec<u8>>(&mut recv, MAX_FRAME_LEN).await
                            && let Some(ack) = answer(payload).await
                        {
                            let _ = write_frame(&mut send, &ack).await;
                        }
                    });
                }
            });
        }
    });
}

/// Runs `concurrency` request loops on `connection` for `duration`, each sending
/// `size`-byte payloads and waiting for their acknowledgement.
async fn drive(
    connection: &quinn::Connection,
    size: usize,
    concurrency: usize,
    duration: Duration,
) -> Sample {
    let payload = Arc::new(vec![0x5a_u8; size]);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (connection, payload) = (connection.clone(), Arc::clone(&payload));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < duration {
                    let t = Instant::now();
                    let ack: u64 = request(&connection, &*payload, 64, REQUEST_TIMEOUT)
                        .await
                        .expect("acknowledgement");
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
    Sample::new(latencies, started.elapsed())
}

/// One hop: `concurrency` request loops for `duration`, each sending `size`-byte payloads.
pub(crate) async fn bare_quinn(size: usize, concurrency: usize, duration: Duration) -> Sample {
    let (server_identity, client_identity) = (identity(7), identity(8));
    let (endpoint, address) = server(&server_identity, &client_identity);
    serve(&endpoint, |payload: Vec<u8>| async move {
        Some(payload.len() as u64)
    });
    let (client, connection) = connect(&client_identity, &server_identity, address).await;
    let sample = drive(&connection, size, concurrency, duration).await;
    connection.close(0u32.into(), b"done");
    client.close(0u32.into(), b"done");
    endpoint.close(0u32.into(), b"done");
    sample
}

/// Two hops: as [`bare_quinn`], through a relay that forwards each payload to the far end
/// (on one connection, a stream per payload, as a node delivers) and acknowledges it once
/// the far end has.
pub(crate) async fn relayed_quinn(size: usize, concurrency: usize, duration: Duration) -> Sample {
    let (far_identity, relay_identity, client_identity) = (identity(7), identity(9), identity(8));
    let (far, far_address) = server(&far_identity, &relay_identity);
    serve(&far, |payload: Vec<u8>| async move {
        Some(payload.len() as u64)
    });
    let (relay_client, onward) = connect(&relay_identity, &far_identity, far_address).await;
    let (relay, relay_address) = server(&relay_identity, &client_identity);
    let forward = onward.clone();
    serve(&relay, move |payload: Vec<u8>| {
        let forward = forward.clone();
        async move {
            request::<_, u64>(&forward, &payload, 64, REQUEST_TIMEOUT)
                .await
                .ok()
        }
    });
    let (client, connection) = connect(&client_identity, &relay_identity, relay_address).await;
    let sample = drive(&connection, size, concurrency, duration).await;
    connection.close(0u32.into(), b"done");
    onward.close(0u32.into(), b"done");
    for endpoint in [client, relay, relay_client, far] {
        endpoint.close(0u32.into(), b"done");
    }
    sample
}
