//! Starting, serving and stopping a node: the two QUIC endpoints, their accept loops, and
//! the delivery worker.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use streha_store::KeyVault;

/// The file, in the data directory, of the subjects' data keys (see `at_rest`). Back it up
/// apart from the database, or not at all: a backup holding both defeats shredding.
pub(crate) const VAULT_FILE: &str = "subject-keys.vault";
use streha_transport::{
    ByteBudget, FrameBudget, Identity, KeyPolicy, LOG_INTERVAL, LogLimiter, ServerSetup,
    StreamError, close_codes, peer_key, read_frame_within, send_within, server_config,
    stream_codes,
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
    /// The data directory is not usable as it is (permissions, owner, not a directory).
    #[error("`data_dir`: {0}")]
    DataDir(String),
    /// The key vault does not match the store.
    #[error("`data_dir`: {0}")]
    Vault(String),
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
    /// Whether this is a problem of the configuration (files, keys, roster, the data
    /// directory's permissions or another node using it, an address that cannot be bound)
    /// rather than of the environment: restarting will not help.
    pub fn is_configuration(&self) -> bool {
        match self {
            StartError::Roster(_)
            | StartError::Identity { .. }
            | StartError::DataDir(_)
            | StartError::Bind { .. } => true,
            StartError::Store(e) => e.is_configuration(),
            _ => false,
        }
    }

    /// Whether the store or the key vault does not match what this node acknowledged (a
    /// shorter or different log, damaged files, missing keys): restarting will not help; a
    /// person must restore from a backup.
    pub fn is_integrity(&self) -> bool {
        match self {
            StartError::Vault(_) => true,
            StartError::Store(e) => e.is_integrity(),
            _ => false,
        }
    }
}

/// Allows the node keys of the roster's other agencies.
///
/// The key policies hold the node's state weakly: every connection holds its endpoint's
/// server configuration, and so its policy, and the state holds the open peer connections
/// (`Shared::peer_connections`); a strong reference would be a cycle that keeps the state,
/// the store and the endpoint's socket alive after the node stopped. Once the state is gone,
/// nothing is allowed.
#[derive(Debug)]
struct RosterPeers(Weak<Shared>);

impl KeyPolicy for RosterPeers {
    fn allows(&self, key: &[u8; 32]) -> bool {
        self.0.upgrade().is_some_and(|shared| {
            agency_of_node_key(&shared.roster(), key).is_some_and(|a| a.id != shared.agency)
        })
    }
    fn refused(&self, _key: &[u8; 32]) {
        if let Some(shared) = self.0.upgrade() {
            Metrics::bump(&shared.metrics.handshake_refusals);
        }
    }
}

/// Allows the enrolled application keys (held weakly, as [`RosterPeers`]).
#[derive(Debug)]
struct EnrolledApplications(Weak<Shared>);

impl KeyPolicy for EnrolledApplications {
    fn allows(&self, key: &[u8; 32]) -> bool {
        self.0
            .upgrade()
            .is_some_and(|shared| shared.applications.contains_key(key))
    }
    fn refused(&self, _key: &[u8; 32]) {
        if let Some(shared) = self.0.upgrade() {
            Metrics::bump(&shared.metrics.handshake_refusals);
        }
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
    /// Complete when the endpoints' sockets are closed (see `crate::sockets`).
    sockets_closed: [crate::sockets::Closed; 2],
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningNode {
    /// Checks the roster, keys and data directory (as `strehad --check` does), binds the
    /// endpoints, then opens the store and the key vault, checks them against each other,
    /// and starts serving. Nothing is created before every address is bound.
    ///
    /// # Errors
    /// A [`StartError`] naming the configuration field at fault where there is one.
    pub async fn start(config: NodeConfig) -> Result<Self, StartError> {
        let crate::check::Identity {
            roster,
            note,
            origin,
            signer,
        } = crate::check::identity(&config)?;
        crate::check::data_dir_permissions(&config.data_dir)?;
        // Bound before the store is created: an address in use is a configuration error
        // that must leave nothing behind.
        let bind_udp = |field: &'static str, address: SocketAddr| {
            std::net::UdpSocket::bind(address).map_err(|source| StartError::Bind {
                field,
                address,
                source,
            })
        };
        let peer_socket = bind_udp("listen", config.listen)?;
        let app_socket = bind_udp("app_listen", config.app_listen)?;
        let metrics_listener = match config.metrics_listen {
            None => None,
            Some(address) => {
                let bind_error = |source| StartError::Bind {
                    field: "metrics_listen",
                    address,
                    source,
                };
                let listener = std::net::TcpListener::bind(address).map_err(bind_error)?;
                listener.set_nonblocking(true).map_err(bind_error)?;
                Some(tokio::net::TcpListener::from_std(listener).map_err(bind_error)?)
            }
        };

        let store = {
            let (dir, origin) = (config.data_dir.clone(), origin.clone());
            let secret = config.node_key.as_dalek().clone();
            drop(signer);
            let make_signer = move |origin: &str| {
                streha_audit::NoteSigner::new(origin, secret.clone()).map_err(|e| e.to_string())
            };
            tokio::task::spawn_blocking(move || {
                crate::recovery::open_store(&dir, &origin, make_signer)
            })
            .await
            .map_err(|e| StartError::Runtime(format!("store task failed: {e}")))??
        };
        let store = Arc::new(store);
        let vault_path = config.data_dir.join(VAULT_FILE);
        let vault = KeyVault::open(&vault_path)?;
        let vault = {
            let (store, path) = (Arc::clone(&store), vault_path.clone());
            let checked = tokio::task::spawn_blocking(move || {
                crate::at_rest::verify_vault(&store, &vault, &path).map(|()| vault)
            })
            .await
            .map_err(|e| StartError::Runtime(format!("vault check task failed: {e}")))?;
            match checked {
                Ok(vault) => vault,
                Err(crate::at_rest::VaultMismatch::Store(e)) => return Err(e.into()),
                Err(mismatch) => return Err(StartError::Vault(mismatch.to_string())),
            }
        };
        // Before anything is served: nothing reads a store half in the old layout.
        {
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || crate::migrate::migrate(&store))
                .await
                .map_err(|e| StartError::Runtime(format!("state rewrite task failed: {e}")))??;
        }
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
        let limits = config.limits.transport();
        let bind = |field: &'static str,
                    address: SocketAddr,
                    socket: std::net::UdpSocket,
                    alpn: &'static [u8],
                    clients: Arc<dyn KeyPolicy>|
         -> Result<(quinn::Endpoint, crate::sockets::Closed), StartError> {
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
            let runtime = quinn::default_runtime()
                .ok_or_else(|| StartError::Tls("no async runtime for the QUIC endpoint".into()))?;
            let (socket, closed) =
                crate::sockets::track(runtime.wrap_udp_socket(socket).map_err(bind_error)?);
            let endpoint = quinn::Endpoint::new_with_abstract_socket(
                shared.identity.endpoint_config(),
                Some(server),
                socket,
                runtime,
            )
            .map_err(bind_error)?;
            Ok((endpoint, closed))
        };
        let (peer_endpoint, peer_closed) = bind(
            "listen",
            config.listen,
            peer_socket,
            PEER_ALPN,
            Arc::new(RosterPeers(Arc::downgrade(&shared))),
        )?;
        let (app_endpoint, app_closed) = bind(
            "app_listen",
            config.app_listen,
            app_socket,
            APP_ALPN,
            Arc::new(EnrolledApplications(Arc::downgrade(&shared))),
        )?;

        // After a restore: recovery mode until the witnesses said what they cosigned.
        let restored = config
            .data_dir
            .join(crate::recovery::RESTORED_FILE)
            .exists();
        if restored {
            shared
                .recovering
                .store(true, std::sync::atomic::Ordering::Release);
            tracing::warn!(
                "this data directory was restored from a backup: recovery mode (nothing is appended to the log until the peers say what they cosigned of it)"
            );
        }
        let admin_listener = crate::admin::bind(&config.data_dir).map_err(|e| {
            StartError::DataDir(format!(
                "cannot listen on the admin socket {}: {e}",
                config.data_dir.join(crate::admin::ADMIN_SOCKET).display()
            ))
        })?;
        let (shutdown, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(crate::admin::serve(
            Arc::clone(&shared),
            admin_listener,
            config.data_dir.clone(),
            shutdown.subscribe(),
        ));
        // A failed store serves nothing more: stop taking requests at once (the daemon then
        // exits for its supervisor to restart it from disk; see `RunningNode::storage_failed`).
        tasks.spawn(stop_on_storage_failure(
            shared.storage_failed.clone(),
            shutdown.clone(),
        ));
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
        if restored {
            tasks.spawn(crate::recovery::run(
                Arc::clone(&shared),
                Arc::clone(&peers),
                config.data_dir.clone(),
                shutdown.subscribe(),
            ));
        }
        let metrics_addr = match metrics_listener {
            None => None,
            Some(listener) => {
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
            sockets_closed: [peer_closed, app_closed],
            shutdown,
            tasks,
        })
    }

    /// Completes when the store has failed (a commit could not be made durable): the node
    /// has stopped serving and must be restarted, which reopens the store from what is on
    /// disk. Never completes otherwise.
    pub async fn storage_failed(&self) {
        let mut failed = self.shared.storage_failed.clone();
        if failed.wait_for(|failed| *failed).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Completes when the node must be restarted: an operator accepted a proven loss
    /// (`streha admin recover --accept-loss`), and the log continues in a new epoch, which
    /// is opened at start. The daemon restarts the node at once.
    pub async fn restart_requested(&self) {
        let mut restart = self.shared.restart.subscribe();
        if restart.wait_for(|restart| *restart).await.is_err() {
            std::future::pending::<()>().await;
        }
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
    ///
    /// When it returns, the endpoints' UDP sockets are closed (their addresses can be bound
    /// again at once, as a restart into a new log epoch does), unless that took longer than
    /// [`SOCKET_CLOSE_WAIT`], which is logged.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.peers.close_all().await;
        // The peers' connections the node accepted; `Shared` may outlive this (a request on
        // the admin socket still being answered), so they are closed and dropped here.
        let accepted = std::mem::take(
            &mut *self
                .shared
                .peer_connections
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (_, connection) in accepted {
            connection.close(close_codes::DONE.into(), b"node shutting down");
        }
        self.app_endpoint
            .close(close_codes::DONE.into(), b"node shutting down");
        self.peer_endpoint
            .close(close_codes::DONE.into(), b"node shutting down");
        let Self {
            shared,
            peers,
            peer_endpoint,
            app_endpoint,
            sockets_closed,
            ..
        } = self;
        drop((peers, peer_endpoint, app_endpoint));
        // A socket is closed once its endpoint's connections have drained (the close frames
        // sent to connected peers; a handshake with a peer that is down, closed above, within
        // three probe timeouts) and the last handle to it is gone.
        let [peer_closed, app_closed] = sockets_closed;
        let closed = async {
            peer_closed.wait().await;
            app_closed.wait().await;
        };
        if tokio::time::timeout(SOCKET_CLOSE_WAIT, closed)
            .await
            .is_err()
        {
            tracing::warn!(
                wait_s = SOCKET_CLOSE_WAIT.as_secs(),
                "the node's UDP sockets were not closed within the wait; they close in the \
                 background (a restart retries binding their addresses)"
            );
        }
        // Nothing commits any more: the log's indexes are made durable and the store's
        // write-ahead log checkpointed, so that the next start rebuilds and replays nothing
        // (a failure is logged; the next start rebuilds and replays, as after a crash).
        let store = Arc::clone(&shared.store);
        match tokio::task::spawn_blocking(move || store.sync_log_indexes()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the log's indexes were not synced at shutdown; the next start rebuilds them")
            }
            Err(e) => {
                tracing::warn!(error = %e, "the log's indexes were not synced at shutdown; the next start rebuilds them")
            }
        }
        tracing::info!(agency = %shared.agency, "node stopped");
    }
}

/// How long [`RunningNode::shutdown`] waits for the endpoints' sockets to close: a closed
/// connection drains for three probe timeouts (about 3 s for a handshake that never got an
/// answer), on a loaded machine longer.
pub(crate) const SOCKET_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Stops the node's loops when the store fails (or returns when the node stops).
async fn stop_on_storage_failure(mut failed: watch::Receiver<bool>, shutdown: watch::Sender<bool>) {
    let mut stopping = shutdown.subscribe();
    tokio::select! {
        result = failed.wait_for(|failed| *failed) => {
            if result.is_ok() {
                tracing::error!(
                    "the store failed: a commit could not be made durable; the node stops \
                     serving (nothing more is answered from memory) and must restart from disk"
                );
                shutdown.send_replace(true);
            }
        }
        _ = stopping.wait_for(|stop| *stop) => {}
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Peer,
    App,
}

impl Side {
    /// The label of the endpoint in metrics and logs.
    fn name(self) -> &'static str {
        crate::metrics::SIDES[self.index()]
    }

    fn index(self) -> usize {
        match self {
            Side::Peer => 0,
            Side::App => 1,
        }
    }
}

/// Refusals strangers can cause are logged at most once per interval (and counted each).
static REFUSAL_LOG: LogLimiter = LogLimiter::new(LOG_INTERVAL);
/// Bad frames and missed deadlines are logged at most once per interval (and counted each).
static STREAM_LOG: LogLimiter = LogLimiter::new(LOG_INTERVAL);

/// The address a client's handshakes are counted under: its IPv4 address, or the /64 of its
/// IPv6 address (what one host usually holds).
fn address_key(address: SocketAddr) -> IpAddr {
    match address.ip() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut bytes = v6.octets();
                bytes[8..].fill(0);
                IpAddr::V6(std::net::Ipv6Addr::from(bytes))
            }
        },
    }
}

/// Who may hold what on one endpoint: handshakes in progress (bounded in total, and per
/// validated source address), and authenticated connections (bounded in total, and per key).
/// Slots are counted only once a handshake has authenticated its key: a handshake that
/// never completes holds a pending slot until `limits.handshake_timeout_ms`, never a
/// connection slot.
#[derive(Debug)]
struct Admission {
    shared: Arc<Shared>,
    side: Side,
    state: Mutex<AdmissionState>,
}

#[derive(Debug, Default)]
struct AdmissionState {
    pending: usize,
    /// Handshakes in progress from validated addresses, by address.
    pending_by_address: HashMap<IpAddr, usize>,
    open: usize,
    open_by_key: HashMap<[u8; 32], usize>,
}

/// What to do with a connection attempt.
enum Decision {
    /// Hand it to the handshake, holding a pending slot.
    Accept(PendingSlot),
    /// Ask the client to prove its address first (QUIC Retry, RFC 9000 §8.1.2).
    Retry,
    /// Refuse it, for this limit (a [`crate::metrics::CONNECTION_REFUSAL_REASONS`] name).
    Refuse(&'static str),
}

/// A handshake in progress; its slot is given back on drop.
struct PendingSlot {
    admission: Arc<Admission>,
    validated: Option<IpAddr>,
}

/// An authenticated connection's slot; given back on drop.
struct ConnectionSlot {
    admission: Arc<Admission>,
    key: [u8; 32],
}

impl Admission {
    fn new(shared: Arc<Shared>, side: Side) -> Arc<Self> {
        Arc::new(Self {
            shared,
            side,
            state: Mutex::new(AdmissionState::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, AdmissionState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn publish(&self, state: &AdmissionState) {
        let m = &self.shared.metrics;
        let i = self.side.index();
        m.handshakes_pending[i].store(state.pending as u64, Ordering::Relaxed);
        m.connections_open[i].store(state.open as u64, Ordering::Relaxed);
    }

    /// Decides on a connection attempt. Half of the pending handshakes are for clients
    /// whose address is not validated; above that, such a client is sent a Retry (which
    /// costs this node no state), so attempts from spoofed addresses can never take the
    /// other half. Per-address limits apply only to validated addresses, so that nobody
    /// can use up another's share by forging its address.
    fn decide(self: &Arc<Self>, incoming: &quinn::Incoming) -> Decision {
        let limits = &self.shared.limits;
        let mut state = self.state();
        let validated = incoming.remote_address_validated();
        let address = address_key(incoming.remote_address());
        if !validated {
            if state.pending >= limits.max_pending_handshakes / 2 {
                return if incoming.may_retry() {
                    Decision::Retry
                } else {
                    Decision::Refuse("pending-handshakes")
                };
            }
        } else {
            if state.pending >= limits.max_pending_handshakes {
                return Decision::Refuse("pending-handshakes");
            }
            let from_address = state.pending_by_address.entry(address).or_default();
            if *from_address >= limits.max_pending_handshakes_per_address {
                return Decision::Refuse("pending-handshakes-per-address");
            }
            *from_address += 1;
        }
        state.pending += 1;
        self.publish(&state);
        Decision::Accept(PendingSlot {
            admission: Arc::clone(self),
            validated: validated.then_some(address),
        })
    }

    /// Gives an authenticated connection of `key` its slot, or says which limit it is over.
    fn open(self: &Arc<Self>, key: [u8; 32]) -> Result<ConnectionSlot, &'static str> {
        let limits = &self.shared.limits;
        let mut state = self.state();
        if state.open >= limits.max_connections {
            return Err("connections");
        }
        let of_key = state.open_by_key.entry(key).or_default();
        if *of_key >= self.per_key() {
            return Err("connections-per-key");
        }
        *of_key += 1;
        state.open += 1;
        self.publish(&state);
        Ok(ConnectionSlot {
            admission: Arc::clone(self),
            key,
        })
    }

    /// The most connections one key may hold on this endpoint, and the field that says so.
    fn per_key(&self) -> usize {
        self.per_key_field().1
    }

    fn per_key_field(&self) -> (&'static str, usize) {
        let limits = &self.shared.limits;
        match self.side {
            Side::Peer => ("max_connections_per_peer", limits.max_connections_per_peer),
            Side::App => (
                "max_connections_per_application",
                limits.max_connections_per_application,
            ),
        }
    }

    /// Counts and (rate-limited) logs a refusal for `reason`.
    fn refused(&self, reason: &'static str, remote: SocketAddr) {
        self.shared
            .metrics
            .connection_refused(self.side.name(), reason);
        if let Some(suppressed) = REFUSAL_LOG.allow() {
            tracing::warn!(
                endpoint = self.side.name(),
                %remote,
                limit = reason,
                suppressed,
                "connection refused: over a limit (logged at most once per 10 s; `suppressed` more since the last line; see streha_connections_refused_total)"
            );
        }
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut state = self.admission.state();
        state.pending = state.pending.saturating_sub(1);
        if let Some(address) = self.validated
            && let Some(n) = state.pending_by_address.get_mut(&address)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.pending_by_address.remove(&address);
            }
        }
        self.admission.publish(&state);
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut state = self.admission.state();
        state.open = state.open.saturating_sub(1);
        if let Some(n) = state.open_by_key.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.open_by_key.remove(&self.key);
            }
        }
        self.admission.publish(&state);
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    mut shutdown: watch::Receiver<bool>,
    side: Side,
) {
    let admission = Admission::new(Arc::clone(&shared), side);
    let mut connections = JoinSet::new();
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => incoming,
            _ = shutdown.changed() => break,
        };
        let Some(incoming) = incoming else { break };
        let remote = incoming.remote_address();
        let pending = match admission.decide(&incoming) {
            Decision::Accept(pending) => pending,
            Decision::Retry => {
                Metrics::bump(&shared.metrics.handshake_retries);
                if incoming.retry().is_err() {
                    admission.refused("pending-handshakes", remote);
                }
                continue;
            }
            Decision::Refuse(reason) => {
                admission.refused(reason, remote);
                incoming.refuse();
                continue;
            }
        };
        let (shared, admission, shutdown) = (
            Arc::clone(&shared),
            Arc::clone(&admission),
            shutdown.clone(),
        );
        connections.spawn(async move {
            let Ok(connecting) = incoming.accept() else {
                return;
            };
            let connection =
                match tokio::time::timeout(shared.limits.handshake_timeout, connecting).await {
                    Ok(Ok(connection)) => connection,
                    // A refused key is counted and logged by the key policy.
                    Ok(Err(_)) => return,
                    Err(_) => {
                        // Dropping the attempt closes it.
                        Metrics::bump(&shared.metrics.handshake_timeouts);
                        return;
                    }
                };
            drop(pending);
            let Some(key) = peer_key(&connection) else {
                connection.close(close_codes::NO_IDENTITY.into(), b"no peer identity");
                return;
            };
            let slot = match admission.open(key) {
                Ok(slot) => slot,
                Err(reason) => {
                    admission.refused(reason, remote);
                    let limits = &shared.limits;
                    let why = if reason == "connections" {
                        format!(
                            "the node is at its limit of {} connections; retry later",
                            limits.max_connections
                        )
                    } else {
                        let (field, most) = admission.per_key_field();
                        format!(
                            "this key already holds {most} connections to this node (limits.{field}); close one, or share a connection"
                        )
                    };
                    connection.close(close_codes::TOO_MANY_CONNECTIONS.into(), why.as_bytes());
                    return;
                }
            };
            serve_connection(&shared, connection, key, side, shutdown).await;
            drop(slot);
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
    key: [u8; 32],
    side: Side,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Side::Peer = side {
        let mut open = shared
            .peer_connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        open.retain(|(_, c)| c.close_reason().is_none());
        open.push((key, connection.clone()));
    }
    // The connection's own budget of bytes in flight, within the node's.
    let budget = FrameBudget::new(
        ByteBudget::new(shared.limits.max_bytes_in_flight_per_connection),
        shared.frame_budget.clone(),
    );
    let mut streams = JoinSet::new();
    loop {
        let (send, recv) = tokio::select! {
            stream = connection.accept_bi() => match stream {
                Ok(stream) => stream,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let (shared, budget) = (Arc::clone(shared), budget.clone());
        streams.spawn(async move {
            match side {
                Side::Peer => serve_peer_stream(&shared, &budget, key, send, recv).await,
                Side::App => serve_app_stream(&shared, &budget, send, recv).await,
            }
        });
        while streams.try_join_next().is_some() {}
    }
    while streams.join_next().await.is_some() {}
}

async fn serve_peer_stream(
    shared: &Shared,
    budget: &FrameBudget,
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
        answer(
            shared,
            budget,
            &mut send,
            &PeerResponse::Error(error),
            PeerResponse::Error,
        )
        .await;
        return;
    };
    let read = read_frame_within::<PeerRequest>(
        &mut recv,
        shared.limits.max_frame_bytes,
        budget,
        shared.limits.read_timeout,
    )
    .await;
    let response = match read {
        Ok((request, held)) => {
            let response = crate::receive::handle(shared, &peer, request).await;
            drop(held);
            response
        }
        Err(error) => PeerResponse::Error(unreadable(
            shared,
            Side::Peer,
            peer.id.as_str(),
            &error,
            &mut recv,
        )),
    };
    answer(shared, budget, &mut send, &response, PeerResponse::Error).await;
}

async fn serve_app_stream(
    shared: &Shared,
    budget: &FrameBudget,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let read = read_frame_within::<AppRequest>(
        &mut recv,
        shared.limits.max_frame_bytes,
        budget,
        shared.limits.read_timeout,
    )
    .await;
    let response = match read {
        Ok((request, held)) => {
            let response = crate::app::handle(shared, request).await;
            drop(held);
            response
        }
        Err(error) => AppResponse::Error(unreadable(shared, Side::App, "-", &error, &mut recv)),
    };
    answer(shared, budget, &mut send, &response, AppResponse::Error).await;
}

/// The answer to a request the budget of bytes in flight cannot take now.
fn busy() -> RemoteError {
    RemoteError::new(
        ErrorCode::Unavailable,
        "the node is busy: its budget of bytes in flight is spent; retry later",
    )
}

/// Counts, logs (rate-limited) and stops a stream whose request could not be read, and
/// builds its answer.
fn unreadable(
    shared: &Shared,
    side: Side,
    peer: &str,
    error: &StreamError,
    recv: &mut quinn::RecvStream,
) -> RemoteError {
    let (code, answer) = match error {
        StreamError::Busy(_) => {
            // Not the client's fault, and not worth a log line: the counter says it.
            Metrics::bump(&shared.metrics.busy_answers);
            let _ = recv.stop(stream_codes::BUSY.into());
            return busy();
        }
        StreamError::Deadline(_) => {
            Metrics::bump(&shared.metrics.stream_deadlines);
            (stream_codes::DEADLINE, ErrorCode::BadRequest)
        }
        _ => {
            Metrics::bump(&shared.metrics.bad_frames);
            (stream_codes::BAD_FRAME, ErrorCode::BadRequest)
        }
    };
    if let Some(suppressed) = STREAM_LOG.allow() {
        tracing::warn!(
            endpoint = side.name(),
            peer,
            %error,
            suppressed,
            "a request could not be read; stream closed (logged at most once per 10 s; see streha_bad_frames_total, streha_stream_deadlines_total)"
        );
    }
    let _ = recv.stop(code.into());
    RemoteError::new(answer, format!("the request could not be read: {error}"))
}

/// Sends `response` within the read deadline, holding its bytes in the budget until the
/// client acknowledged them. If the budget cannot hold it now, a short `Unavailable` error
/// (made by `error`) goes instead, so that answers nobody takes cannot pile up in memory.
async fn answer<T: serde::Serialize>(
    shared: &Shared,
    budget: &FrameBudget,
    send: &mut quinn::SendStream,
    response: &T,
    error: impl Fn(RemoteError) -> T,
) {
    let encode = |message: &T| streha_wire::frame::encode(message);
    let (bytes, _held) = match encode(response) {
        Ok(bytes) => match budget.try_reserve(bytes.len()) {
            Ok(Some(held)) => (bytes, Some(held)),
            Ok(None) | Err(_) => {
                Metrics::bump(&shared.metrics.busy_answers);
                match encode(&error(busy())) {
                    Ok(bytes) => (bytes, None),
                    Err(_) => return,
                }
            }
        },
        Err(e) => {
            tracing::error!(error = %e, "an answer could not be encoded");
            let failed = error(RemoteError::new(
                ErrorCode::Internal,
                format!("the answer could not be encoded: {e}"),
            ));
            match encode(&failed) {
                Ok(bytes) => (bytes, None),
                Err(_) => return,
            }
        }
    };
    if let Err(StreamError::Timeout(_)) =
        send_within(send, bytes.into(), shared.limits.read_timeout).await
    {
        Metrics::bump(&shared.metrics.stream_deadlines);
    }
}
