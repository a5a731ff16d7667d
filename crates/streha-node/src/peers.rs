//! Outgoing connections to peer nodes: one cached QUIC connection per agency, dialled on
//! demand and pinned to the agency's node key in the current roster.

use std::collections::HashMap;

use streha_core::AgencyId;
use streha_transport::{ByteBudget, ClientSetup, client_config, close_codes, request_paced};
use streha_wire::AgencyEntry;
use streha_wire::PEER_ALPN;
use streha_wire::peer::{PeerRequest, PeerResponse};
use tokio::sync::Mutex;

use crate::shared::Shared;

/// The connections this node dialled.
#[derive(Debug)]
pub(crate) struct Peers {
    endpoint: quinn::Endpoint,
    connections: Mutex<HashMap<AgencyId, quinn::Connection>>,
    /// Bytes of requests in flight to each peer, within what a peer holds per connection
    /// (`limits.max_bytes_in_flight_per_connection`, the same default everywhere; see
    /// `ByteBudget::pacing`), so that a burst of deliveries waits here instead of being
    /// answered "busy" there.
    pacing: std::sync::Mutex<HashMap<AgencyId, ByteBudget>>,
}

impl Peers {
    pub(crate) fn new(endpoint: quinn::Endpoint) -> Self {
        Self {
            endpoint,
            connections: Mutex::new(HashMap::new()),
            pacing: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn pacing(&self, shared: &Shared, peer: &AgencyId) -> ByteBudget {
        self.pacing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(peer.clone())
            .or_insert_with(|| ByteBudget::pacing(shared.limits.max_bytes_in_flight_per_connection))
            .clone()
    }

    /// Sends `message` to `peer` and reads its answer. A failed exchange drops the cached
    /// connection so the next one dials afresh.
    pub(crate) async fn request(
        &self,
        shared: &Shared,
        peer: &AgencyEntry,
        message: &PeerRequest,
    ) -> Result<PeerResponse, String> {
        let connection = self.connection(shared, peer).await?;
        match request_paced(
            &connection,
            message,
            shared.limits.max_frame_bytes,
            shared.limits.request_timeout,
            &self.pacing(shared, &peer.id),
        )
        .await
        {
            Ok(response) => Ok(response),
            Err(e) => {
                self.connections.lock().await.remove(&peer.id);
                Err(e.to_string())
            }
        }
    }

    async fn connection(
        &self,
        shared: &Shared,
        peer: &AgencyEntry,
    ) -> Result<quinn::Connection, String> {
        {
            let mut cache = self.connections.lock().await;
            if let Some(connection) = cache.get(&peer.id) {
                // A cached connection is reused only while it is open and the peer's key is
                // the one the roster names now.
                if connection.close_reason().is_none()
                    && streha_transport::peer_key(connection) == Some(peer.node_key.to_bytes())
                {
                    return Ok(connection.clone());
                }
                cache.remove(&peer.id);
            }
        }
        // Dial without holding the cache: a peer that is down must not delay the others.
        let address = tokio::net::lookup_host(peer.address.as_str())
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", peer.address))?
            .next()
            .ok_or_else(|| format!("{} resolves to nothing", peer.address))?;
        let config = client_config(ClientSetup {
            identity: &shared.identity,
            server_key: peer.node_key.to_bytes(),
            alpn: PEER_ALPN,
            limits: shared.limits.transport(),
        })
        .map_err(|e| format!("TLS configuration: {e}"))?;
        let connecting = self
            .endpoint
            .connect_with(config, address, "streha.invalid")
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        let connection = tokio::time::timeout(shared.limits.request_timeout, connecting)
            .await
            .map_err(|_| format!("no answer from {address}"))?
            .map_err(|e| format!("handshake with {address} failed: {e}"))?;
        self.connections
            .lock()
            .await
            .insert(peer.id.clone(), connection.clone());
        // Roster versions are exchanged on every new connection (`crate::roster`).
        shared.roster_state.exchange_soon(peer.id.clone());
        Ok(connection)
    }

    /// Closes connections to agencies that are no longer in the roster.
    pub(crate) async fn retain(&self, keep: impl Fn(&AgencyId) -> bool) {
        self.connections.lock().await.retain(|id, connection| {
            let kept = keep(id);
            if !kept {
                connection.close(close_codes::REMOVED.into(), b"removed from the roster");
            }
            kept
        });
    }

    /// Closes every connection.
    pub(crate) async fn close_all(&self) {
        for (_, connection) in self.connections.lock().await.drain() {
            connection.close(close_codes::DONE.into(), b"shutdown");
        }
    }
}
