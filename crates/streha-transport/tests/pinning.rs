//! Handshakes over loopback: pinned keys connect, everything else is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use streha_crypto::{ApplicationSecretKey, NodeIdentitySecretKey};
use streha_transport::{
    ClientSetup, Identity, KeyPolicy, ServerSetup, TransportLimits, client_config, peer_key,
    read_frame, request, server_config, write_frame,
};
use streha_wire::{MAX_FRAME_LEN, PEER_ALPN};

#[derive(Debug, Default)]
struct Allow {
    key: [u8; 32],
    refused: AtomicUsize,
}

impl KeyPolicy for Allow {
    fn allows(&self, key: &[u8; 32]) -> bool {
        &self.key == key
    }
    fn refused(&self, _key: &[u8; 32]) {
        self.refused.fetch_add(1, Ordering::SeqCst);
    }
}

fn identity(seed: u8) -> Identity {
    Identity::from_key(&NodeIdentitySecretKey::from_seed_bytes([seed; 32])).unwrap()
}

/// Starts an echo server on 127.0.0.1:0 that accepts only `client_key`.
async fn echo_server(
    server: &Identity,
    policy: Arc<Allow>,
) -> (quinn::Endpoint, std::net::SocketAddr) {
    let config = server_config(ServerSetup {
        identity: server,
        clients: policy,
        alpn: PEER_ALPN,
        limits: TransportLimits::default(),
    })
    .unwrap();
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let accept = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let who = peer_key(&conn).expect("authenticated peer");
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    let text: String = read_frame(&mut recv, MAX_FRAME_LEN).await.unwrap();
                    write_frame(&mut send, &(text, who.to_vec())).await.unwrap();
                }
            });
        }
    });
    (endpoint, addr)
}

async fn dial(
    client: &Identity,
    server_key: [u8; 32],
    addr: std::net::SocketAddr,
) -> Result<(String, Vec<u8>), String> {
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(
        client_config(ClientSetup {
            identity: client,
            server_key,
            alpn: PEER_ALPN,
            limits: TransportLimits::default(),
        })
        .unwrap(),
    );
    let conn = endpoint
        .connect(addr, "ignored")
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    request(
        &conn,
        &"hello".to_owned(),
        MAX_FRAME_LEN,
        Duration::from_secs(5),
    )
    .await
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn pinned_keys_connect_and_see_each_other() {
    let (server, client) = (identity(1), identity(2));
    let policy = Arc::new(Allow {
        key: client.public_key(),
        ..Default::default()
    });
    let (_endpoint, addr) = echo_server(&server, Arc::clone(&policy)).await;
    let (echo, seen) = dial(&client, server.public_key(), addr).await.unwrap();
    assert_eq!(echo, "hello");
    assert_eq!(
        seen,
        client.public_key().to_vec(),
        "the server sees the client's key"
    );
    assert_eq!(policy.refused.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unpinned_client_is_refused_and_reported() {
    let (server, client, stranger) = (identity(1), identity(2), identity(3));
    let policy = Arc::new(Allow {
        key: client.public_key(),
        ..Default::default()
    });
    let (_endpoint, addr) = echo_server(&server, Arc::clone(&policy)).await;
    assert!(dial(&stranger, server.public_key(), addr).await.is_err());
    assert_eq!(
        policy.refused.load(Ordering::SeqCst),
        1,
        "reported as a security event"
    );
    let app = Identity::from_key(&ApplicationSecretKey::from_seed_bytes([5; 32])).unwrap();
    assert!(dial(&app, server.public_key(), addr).await.is_err());
    assert_eq!(policy.refused.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_server_with_an_unexpected_key_is_refused() {
    let (server, client, impostor) = (identity(1), identity(2), identity(4));
    let policy = Arc::new(Allow {
        key: client.public_key(),
        ..Default::default()
    });
    let (_endpoint, addr) = echo_server(&impostor, policy).await;
    let err = dial(&client, server.public_key(), addr).await.unwrap_err();
    assert!(
        err.contains("certificate") || err.contains("handshake"),
        "{err}"
    );
}
