//! Starting, serving and stopping a node: the two QUIC endpoints, their accept loops, and
//! the delivery worker.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use streha_audit::NoteSigner;
use streha_core::AuditEntry;
use streha_store::{KeyVault, Store, Transaction};

/// The file, in the data directory, of the subjects' data keys (see `at_rest`). Back it up
/// apart from the database, or not at all: a backup holding both defeats shredding.
pub(crate) const VAULT_FILE: &str = "subject-keys.vault";
use streha_transport::{
    Identity, KeyPolicy, ServerSetup, StreamError, TransportLimits, peer_key, read_frame,
    server_config, write_frame,
};
use streha_wire::app::{AppRequest, AppResponse};
use streha_wire::peer::{PeerRequest, PeerResponse};
use streha_wire::{APP_ALPN, ErrorCode, PEER_ALPN, RemoteError, Roster};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::NodeConfig;
use crate::metrics::Metrics;
use crate::shared::{Shared, agency_of_node_key};
use crate::state::{self, NODE_META};

/// Why a node could not start. [`StartError::is_configuration`] tells the configuration
/// problems (exit code 2) from the rest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The roster file cannot be read or is not validly signed.
    #[error("`roster`: {0}")]
    Roster(String),
    /// This node's agency is not in the roster, or its key does not match.
    #[error("`{field}`: {problem}")]
    Identity {
        /// The configuration field concerned.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The store could not be opened.
    #[error("`data_dir`: {0}")]
    Store(#[from] streha_store::StoreError),
    /// An endpoint could not be bound.
    #[error("`{field}`: cannot listen on {address}: {source}")]
    Bind {
        /// `listen` or `app_listen`.
        field: &'static str,
        /// The address.
        address: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// TLS set-up failed.
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    /// A thread of the node could not be started.
    #[error("cannot start the node's threads: {0}")]
    Runtime(String),
}

impl StartError {
    /// Whether this is a problem of the configuration (files, keys, roster) rather than of
    /// the environment.
    pub fn is_configuration(&self) -> bool {
        matches!(self, StartError::Roster(_) | StartError::Identity { .. })
    }
}

/// Allows the node keys of the roster's other agencies.
#[derive(Debug)]
struct RosterPeers(Arc<Shared>);

impl KeyPolicy for RosterPeers {
    fn allows(&self, key: &[u8; 32]) -> bool {
        agency_of_node_key(&self.0.roster(), key).is_some_and(|a| a.id != self.0.agency)
    }
    fn refused(&self, _key: &[u8; 32]) {
        Metrics::bump(&self.0.metrics.handshake_refusals);
    }
}

/// Allows the enrolled application keys.
#[derive(Debug)]
struct EnrolledApplications(Arc<Shared>);

impl KeyPolicy for EnrolledApplications {
    fn allows(&self, key: &[u8; 32]) -> bool {
        self.0.applications.contains_key(key)
    }
    fn refused(&self, _key: &[u8; 32]) {
        Metrics::bump(&self.0.metrics.handshake_refusals);
    }
}

/// A running node. Dropping it does not stop it; call [`RunningNode::shutdown`].
#[derive(Debug)]
pub struct RunningNode {
    shared: Arc<Shared>,
    peers: Arc<crate::peers::Peers>,
    peer_endpoint: quinn::Endpoint,
    metrics_addr: Option<SocketAddr>,
    app_endpoint: quinn::Endpoint,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningNode {
    /// Opens the store, checks the roster and keys, binds both endpoints and starts serving.
    ///
    /// # Errors
    /// A [`StartError`] naming the configuration field at fault where there is one.
    pub async fn start(config: NodeConfig) -> Result<Self, StartError> {
        let note = std::fs::read_to_string(&config.roster_path).map_err(|e| {
            StartError::Roster(format!("cannot read {}: {e}", config.roster_path.display()))
        })?;
        let roster = Roster::open(&note, &config.roster_key)
            .map_err(|e| StartError::Roster(e.to_string()))?;
        let own = roster.agency(&config.agency).cloned().ok_or_else(|| StartError::Identity {
            field: "agency",
            problem: format!(
                "agency `{}` is not in the roster (version {}); ask the national authority to add it",
                config.agency,
                roster.version()
            ),
        })?;
        if own.node_key != config.node_key.public_key() {
            return Err(StartError::Identity {
                field: "node_key",
                problem: format!(
                    "the node key (fingerprint {}) is not the node key of `{}` in the roster ({})",
                    config.node_key.fingerprint().short(),
                    config.agency,
                    own.node_key.fingerprint().short()
                ),
            });
        }
        let origin = own.log_origin(roster.federation());
        let signer = NoteSigner::new(&origin, config.node_key.as_dalek().clone()).map_err(|e| {
            StartError::Roster(format!(
                "the log origin `{origin}` is not a valid key name: {e}"
            ))
        })?;
        let store = {
            let (dir, origin) = (config.data_dir.clone(), origin.clone());
            tokio::task::spawn_blocking(move || Store::open(dir, &origin, signer))
                .await
                .map_err(|e| StartError::Tls(format!("store task failed: {e}")))??
        };
        let store = Arc::new(store);
        let vault = KeyVault::open(config.data_dir.join(VAULT_FILE))?;
        adopt_roster(&store, &roster, note.as_bytes())?;

        let identity =
            Identity::from_key(&config.node_key).map_err(|e| StartError::Tls(e.to_string()))?;
        let applications: BTreeMap<[u8; 32], String> = config
            .applications
            .iter()
            .map(|(name, key)| (key.to_bytes(), name.clone()))
            .collect();
        let shared = Arc::new(
            Shared::new(
                config.agency.clone(),
                origin,
                Arc::clone(&store),
                vault,
                roster,
                config.roster_key,
                config.roster_path.clone(),
                identity,
                config.node_key,
                applications,
                config.limits,
                config.witness,
            )
            .map_err(|e| StartError::Runtime(e.to_string()))?,
        );
        let limits = TransportLimits {
            idle_timeout: config.limits.idle_timeout,
            keep_alive: config.limits.idle_timeout / 3,
            max_concurrent_streams: config.limits.max_streams_per_connection,
        };
        let bind = |field: &'static str,
                    address: SocketAddr,
                    alpn: &'static [u8],
                    clients: Arc<dyn KeyPolicy>|
         -> Result<quinn::Endpoint, StartError> {
            let server = server_config(ServerSetup {
                identity: &shared.identity,
                clients,
                alpn,
                limits,
            })
            .map_err(|e| StartError::Tls(e.to_string()))?;
            let bind_error = |source| StartError::Bind {
                field,
                address,
                source,
            };
            let socket = std::net::UdpSocket::bind(address).map_err(bind_error)?;
            let runtime = quinn::default_runtime()
                .ok_or_else(|| StartError::Tls("no async runtime for the QUIC endpoint".into()))?;
            quinn::Endpoint::new(
                shared.identity.endpoint_config(),
                Some(server),
                socket,
                runtime,
            )
            .map_err(bind_error)
        };
        let peer_endpoint = bind(
            "listen",
            config.listen,
            PEER_ALPN,
            Arc::new(RosterPeers(Arc::clone(&shared))),
        )?;
        let app_endpoint = bind(
            "app_listen",
            config.app_listen,
            APP_ALPN,
            Arc::new(EnrolledApplications(Arc::clone(&shared))),
        )?;

        let (shutdown, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(
            Arc::clone(&shared),
            peer_endpoint.clone(),
            shutdown.subscribe(),
            Side::Peer,
        ));
        tasks.spawn(accept_loop(
            Arc::clone(&shared),
            app_endpoint.clone(),
            shutdown.subscribe(),
            Side::App,
        ));
        let peers = Arc::new(crate::peers::Peers::new(peer_endpoint.clone()));
        tasks.spawn(crate::outbound::run(
            Arc::clone(&shared),
            Arc::clone(&peers),
            shutdown.subscribe(),
        ));
        tasks.spawn(crate::witness::run(
            Arc::clone(&shared),
            Arc::clone(&peers),
            shutdown.subscribe(),
        ));
        let metrics_addr = match config.metrics_listen {
            None => None,
            Some(address) => {
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .map_err(|source| StartError::Bind {
                        field: "metrics_listen",
                        address,
                        source,
                    })?;
                let bound = listener.local_addr().ok();
                tasks.spawn(crate::http::serve(
                    Arc::clone(&shared),
                    listener,
                    shutdown.subscribe(),
                ));
                bound
            }
        };
        tracing::info!(
            agency = %shared.agency,
            peers = %peer_endpoint.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            applications = %app_endpoint.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            log_size = store.tree_size(),
            "node started"
        );
        crate::witness::warn_if_quorum_unreachable(&shared);
        // The roster may have changed while the node was down.
        match crate::outbound::release_returned(&shared).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(
                released,
                "held deliveries released: their recipients are in the roster"
            ),
            Err(error) => {
                tracing::error!(%error, "could not release held deliveries; they stay held")
            }
        }
        Ok(Self {
            shared,
            peers,
            peer_endpoint,
            app_endpoint,
            metrics_addr,
            shutdown,
            tasks,
        })
    }

    /// The address peers connect to.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_endpoint.local_addr().ok()
    }

    /// The address of the metrics and health endpoint, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The address applications connect to.
    pub fn app_addr(&self) -> Option<SocketAddr> {
        self.app_endpoint.local_addr().ok()
    }

    /// The current audit log size.
    pub fn log_size(&self) -> u64 {
        self.shared.store.tree_size()
    }

    /// Re-reads the roster file and adopts it if it is validly signed and newer than the
    /// roster in use (a roster change is logged). Returns the version in use afterwards.
    ///
    /// # Errors
    /// A message saying why the file was not adopted; the roster in use stays.
    pub async fn reload_roster(&self) -> Result<u64, String> {
        let shared = Arc::clone(&self.shared);
        let path = shared.roster_path.clone();
        let note = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let roster = Roster::open(&note, &shared.roster_key).map_err(|e| e.to_string())?;
        let current = shared.roster();
        if roster.version() == current.version() && roster.signed_note() == current.signed_note() {
            return Ok(current.version());
        }
        roster.check_replaces(&current).map_err(|e| e.to_string())?;
        if roster.agency(&shared.agency).map(|a| a.node_key)
            != current.agency(&shared.agency).map(|a| a.node_key)
        {
            return Err("the new roster changes or removes this node's own key; restart the node with its new configuration".to_owned());
        }
        let version = roster.version();
        let store = Arc::clone(&shared.store);
        let note_bytes = note.into_bytes();
        let adopted = roster.clone();
        {
            // Exclusive over the entry and the swap: every disclosure and delivery holds the
            // lock shared from reading the roster to committing its entry, so each entry is
            // decided under the roster the log says is in force at its position.
            let _registry = shared.registry_lock.write().await;
            tokio::task::spawn_blocking(move || adopt_roster(&store, &adopted, &note_bytes))
                .await
                .map_err(|e| format!("storage task failed: {e}"))?
                .map_err(|e| e.to_string())?;
            shared.set_roster(roster);
        }
        // Agencies no longer in the roster: their open connections are closed, in both
        // directions; envelopes queued to them are held by the delivery worker.
        let current = shared.roster();
        self.peers.retain(|id| current.agency(id).is_some()).await;
        shared
            .peer_connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(key, connection)| {
                let kept = agency_of_node_key(&current, key).is_some();
                if !kept {
                    connection.close(2u32.into(), b"removed from the roster");
                }
                kept && connection.close_reason().is_none()
            });
        // Envelopes held because their recipient had left the roster, whose recipient this
        // roster lists again, are retried; holds of every other kind stay.
        match crate::outbound::release_returned(&shared).await {
            Ok(0) => {}
            Ok(released) => {
                tracing::info!(released, "held deliveries released by the roster change")
            }
            Err(error) => {
                tracing::error!(%error, "could not release held deliveries; they stay held")
            }
        }
        crate::witness::warn_if_quorum_unreachable(&shared);
        shared.outbound_wake.notify_one();
        shared.witness_wake.notify_one();
        tracing::info!(version, "roster updated");
        Ok(version)
    }

    /// The node's counters in the Prometheus text exposition format.
    pub fn metrics(&self) -> String {
        self.shared.render_metrics()
    }

    /// Stops accepting, lets in-flight requests finish, stops the delivery worker and closes
    /// the endpoints. Every acknowledged change is already durable.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.peers.close_all().await;
        self.app_endpoint.close(0u32.into(), b"node shutting down");
        self.peer_endpoint.close(0u32.into(), b"node shutting down");
        // Let close frames reach connected peers; handshakes still pending with peers that
        // are down would hold `wait_idle` until their timeout, so do not wait for those.
        let idle = async {
            self.app_endpoint.wait_idle().await;
            self.peer_endpoint.wait_idle().await;
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), idle).await;
        tracing::info!(agency = %self.shared.agency, "node stopped");
    }
}

/// Records a roster the node has not run on before, refusing one older than the last.
fn adopt_roster(store: &Store, roster: &Roster, note: &[u8]) -> Result<(), StartError> {
    let last = state::load_index(store, NODE_META, b"roster-version")?;
    match last {
        Some(last) if last > roster.version() => Err(StartError::Roster(format!(
            "the roster file has version {}, older than version {last} this node already ran on; install the current roster",
            roster.version()
        ))),
        Some(last) if last == roster.version() => Ok(()),
        _ => {
            // Written outside the commit queue (at start and on SIGHUP): its time comes from
            // the log itself, so that a clock set back cannot take the log back (`clock`).
            let at = crate::clock::LogClock::open(store)?.now();
            let mut tx = Transaction::new();
            tx.append(
                AuditEntry::RosterChanged {
                    version: roster.version(),
                    roster_hash: *blake3::hash(note).as_bytes(),
                    at,
                }
                .encode(),
            )
            .put(
                NODE_META,
                b"roster-version".to_vec(),
                roster.version().to_be_bytes().to_vec(),
            );
            store.commit(tx)?;
            Ok(())
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Peer,
    App,
}

async fn accept_loop(
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    mut shutdown: watch::Receiver<bool>,
    side: Side,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut connections = JoinSet::new();
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => incoming,
            _ = shutdown.changed() => break,
        };
        let Some(incoming) = incoming else { break };
        if open.load(Ordering::Acquire) >= shared.limits.max_connections {
            tracing::warn!(remote = %incoming.remote_address(), "connection refused: too many open connections");
            incoming.refuse();
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let (shared, open, shutdown) = (Arc::clone(&shared), Arc::clone(&open), shutdown.clone());
        connections.spawn(async move {
            if let Ok(connection) = incoming.await {
                serve_connection(&shared, connection, side, shutdown).await;
            }
            open.fetch_sub(1, Ordering::AcqRel);
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    // Shutdown: in-flight requests of open connections finish; no new streams are taken.
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(
    shared: &Arc<Shared>,
    connection: quinn::Connection,
    side: Side,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(key) = peer_key(&connection) else {
        connection.close(1u32.into(), b"no peer identity");
        return;
    };
    if let Side::Peer = side {
        let mut open = shared
            .peer_connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.retain(|(_, c)| c.close_reason().is_none());
        open.push((key, connection.clone()));
    }
    let mut streams = JoinSet::new();
    loop {
        let (send, recv) = tokio::select! {
            stream = connection.accept_bi() => match stream {
                Ok(stream) => stream,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let shared = Arc::clone(shared);
        streams.spawn(async move {
            match side {
                Side::Peer => serve_peer_stream(&shared, key, send, recv).await,
                Side::App => serve_app_stream(&shared, send, recv).await,
            }
        });
        while streams.try_join_next().is_some() {}
    }
    while streams.join_next().await.is_some() {}
}

/// Error code with which a stream carrying a bad frame is stopped.
const BAD_FRAME: u32 = 1;

async fn serve_peer_stream(
    shared: &Shared,
    key: [u8; 32],
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    // The roster may have changed since the handshake: check the peer on every request.
    let Some(peer) = agency_of_node_key(&shared.roster(), &key) else {
        let error = RemoteError::new(
            ErrorCode::Unauthorized,
            "this node's key is no longer in the roster",
        );
        let _ = write_frame(&mut send, &PeerResponse::Error(error)).await;
        return;
    };
    let response = match read_frame::<PeerRequest>(&mut recv, shared.limits.max_frame_bytes).await {
        Ok(request) => crate::receive::handle(shared, &peer, request).await,
        Err(error) => {
            Metrics::bump(&shared.metrics.bad_frames);
            tracing::warn!(peer = %peer.id, error = %error, "bad frame from a peer; stream closed");
            let _ = recv.stop(BAD_FRAME.into());
            PeerResponse::Error(RemoteError::new(ErrorCode::BadRequest, bad_frame(&error)))
        }
    };
    let _ = write_frame(&mut send, &response).await;
}

async fn serve_app_stream(
    shared: &Shared,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let response = match read_frame::<AppRequest>(&mut recv, shared.limits.max_frame_bytes).await {
        Ok(request) => crate::app::handle(shared, request).await,
        Err(error) => {
            Metrics::bump(&shared.metrics.bad_frames);
            tracing::warn!(error = %error, "bad frame from an application; stream closed");
            let _ = recv.stop(BAD_FRAME.into());
            AppResponse::Error(RemoteError::new(ErrorCode::BadRequest, bad_frame(&error)))
        }
    };
    let _ = write_frame(&mut send, &response).await;
}

fn bad_frame(error: &StreamError) -> String {
    format!("the request could not be read: {error}")
}
