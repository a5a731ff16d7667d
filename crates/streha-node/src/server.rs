//! Starting, serving and stopping a node: the two QUIC endpoints, their accept loops, and
//! the delivery worker.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use streha_audit::NoteSigner;
use streha_store::{KeyVault, Store};

/// The file, in the data directory, of the subjects' data keys (see `at_rest`). Back it up
/// apart from the database, or not at all: a backup holding both defeats shredding.
pub(crate) const VAULT_FILE: &str = "subject-keys.vault";
use streha_transport::{
    Identity, KeyPolicy, ServerSetup, StreamError, TransportLimits, peer_key, read_frame,
    server_config, write_frame,
};
use streha_wire::app::{AppRequest, AppResponse};
use streha_wire::peer::{PeerRequest, PeerResponse};
use streha_wire::{APP_ALPN, ErrorCode, PEER_ALPN, RemoteError};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::NodeConfig;
use crate::metrics::Metrics;
use crate::shared::{Shared, agency_of_node_key};

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
        // The configured roster file, or the roster kept in the data directory if a newer
        // one was adopted since (from a peer).
        let (roster, note) = crate::roster::choose_at_start(
            &config.roster_path,
            &config.data_dir,
            &config.roster_key,
        )?;
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
        crate::roster::record_at_start(&store, &config.data_dir, &roster, &note)?;

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
                &config.data_dir,
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
        tasks.spawn(crate::roster::run(
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

    /// Re-reads the roster file and adopts it if it is validly signed, of the same
    /// federation, newer than the roster in force and keeps this node's key
    /// (`spec/protocol.md` §8). A change is logged (`roster_changed`, and a log line naming
    /// version and hash); the roster in force again is no change and is not logged.
    ///
    /// # Errors
    /// A message saying why the file was not adopted; the roster in force stays.
    pub async fn reload_roster(&self) -> Result<crate::RosterReload, String> {
        let path = self.shared.roster_path.clone();
        let note = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        crate::roster::adopt(
            &self.shared,
            &self.peers,
            note,
            crate::roster::Source::File(&path),
        )
        .await
        .map_err(|error| match error {
            crate::roster::AdoptError::NotNewer { offered, current } => format!(
                "{} has roster version {offered}, not newer than version {current} in force (kept in the data directory as {}, adopted from a peer or an earlier file); nothing to do",
                path.display(),
                crate::roster::KEPT_ROSTER_FILE
            ),
            other => other.to_string(),
        })
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
