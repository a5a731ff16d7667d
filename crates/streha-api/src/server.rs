//! Binding, the router, the budgets around every request, and a running service's handle.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{ApiConfig, ConfigError, Endpoint, is_allowed_address};
use crate::error::ApiError;
use crate::idempotency::{IdempotencyStore, StoreError};
use crate::routes;
use crate::service::{ApiState, ConfigSource, NodeLink};

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration or the client profile cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The state directory cannot be opened.
    #[error("cannot open the state directory: {0}")]
    State(#[from] StoreError),
    /// The address or socket cannot be bound.
    #[error("cannot listen on {what}: {source}")]
    Bind {
        /// The address or path.
        what: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl StartError {
    /// Whether the operator must change the configuration (rather than retry).
    pub fn is_configuration(&self) -> bool {
        matches!(self, StartError::Config(_))
    }
}

/// A connection holding one of the service's connection permits until it closes.
struct Counted<Io> {
    io: Io,
    _permit: OwnedSemaphorePermit,
}

impl<Io: AsyncRead + Unpin> AsyncRead for Counted<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Counted<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A listener that accepts a connection only while fewer than `max_connections` are open;
/// the others wait in the kernel's backlog.
struct Limited<L> {
    inner: L,
    permits: Arc<Semaphore>,
}

impl<L> axum::serve::Listener for Limited<L>
where
    L: axum::serve::Listener,
    L::Io: Unpin,
{
    type Io = Counted<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let permit = match Arc::clone(&self.permits).acquire_owned().await {
            Ok(permit) => permit,
            // The semaphore is never closed; if it were, serve no more.
            Err(_) => std::future::pending().await,
        };
        let (io, addr) = self.inner.accept().await;
        (
            Counted {
                io,
                _permit: permit,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Logs every request: method, route (the template, not the ids), status, time. Never a
/// header's value, a query or a body.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// Bounds the time of a request, reading its body included.
async fn time_limit(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let limit = state.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable(
            "request_timeout",
            None,
            format!(
                "the request took longer than {} ms (limits.request_timeout_ms); retry (a submission with the same idempotency key is never made twice)",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

/// The router of the service over `state`.
pub(crate) fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/v1/subjects", post(routes::register_subject))
        .route(
            "/v1/subjects/{subject}/representatives",
            post(routes::add_representative),
        )
        .route(
            "/v1/subjects/{subject}/age-status",
            post(routes::record_age_status),
        )
        .route(
            "/v1/subjects/{subject}/consents",
            get(routes::list_consents),
        )
        .route("/v1/consents", post(routes::grant_consent))
        .route(
            "/v1/consents/{consent}/revocation",
            post(routes::revoke_consent),
        )
        .route("/v1/disclosures", post(routes::submit_disclosure))
        .route("/v1/disclosures/{envelope}", get(routes::delivery_status))
        .route("/v1/deliveries/held", get(routes::held_deliveries))
        .route("/v1/inbox", get(routes::list_inbox))
        .route("/v1/inbox/{envelope}", get(routes::open_record))
        .route("/v1/log/checkpoint", get(routes::checkpoint))
        .route("/v1/log/entries/{index}", get(routes::prove_entry))
        .route("/v1/log/export", get(routes::export_log))
        .route("/openapi.json", get(routes::openapi))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            time_limit,
        ))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// A running service.
#[derive(Debug)]
pub struct RunningApi {
    address: Option<SocketAddr>,
    socket: Option<PathBuf>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl RunningApi {
    /// Starts the service of `config`: loads the client profile (the agency's keys), opens
    /// the state directory, binds, and serves until [`RunningApi::shutdown`]. The node is
    /// dialled at the first request that needs it (and again after a failure), so the
    /// service starts while its node is down.
    ///
    /// # Errors
    /// [`StartError`].
    pub async fn start(config: ApiConfig) -> Result<Self, StartError> {
        // Read the keys once now, so that a broken profile fails the start; then again at
        // each (re)connection, since a client owns its keys.
        crate::profile::load(&config.profile)?;
        let profile = config.profile.clone();
        let source: ConfigSource =
            Arc::new(move || crate::profile::load(&profile).map_err(|e| e.to_string()));
        let idempotency = {
            let (dir, retention) = (
                config.state_dir.clone(),
                config.limits.idempotency_retention,
            );
            tokio::task::spawn_blocking(move || -> Result<IdempotencyStore, StoreError> {
                let store = IdempotencyStore::open(&dir, retention)?;
                let pruned = store.prune()?;
                if pruned > 0 {
                    tracing::info!(pruned, "expired idempotency records removed");
                }
                Ok(store)
            })
            .await
            .map_err(|_| StoreError::Io(io::Error::other("the store's task failed")))??
        };
        let state = Arc::new(ApiState {
            node: NodeLink::new(source),
            callers: config.callers.clone(),
            idempotency,
            limits: config.limits.clone(),
        });
        if config.callers.iter().next().is_none() {
            tracing::warn!(
                "no callers are configured: every request will be refused; add one with `streha api token add`"
            );
        }
        let app = router(Arc::clone(&state));
        let permits = Arc::new(Semaphore::new(config.limits.max_connections));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let (address, socket, task) = match &config.endpoint {
            Endpoint::Tcp(address) => {
                if !is_allowed_address(address) {
                    return Err(StartError::Bind {
                        what: address.to_string(),
                        source: io::Error::other("not a loopback address"),
                    });
                }
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .map_err(|source| StartError::Bind {
                        what: address.to_string(),
                        source,
                    })?;
                let local = listener.local_addr().map_err(|source| StartError::Bind {
                    what: address.to_string(),
                    source,
                })?;
                let listener = Limited {
                    inner: listener,
                    permits,
                };
                let task = tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                });
                (Some(local), None, task)
            }
            Endpoint::Unix(path) => {
                let listener = bind_unix(path)?;
                let listener = Limited {
                    inner: listener,
                    permits,
                };
                let task = tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                });
                (None, Some(path.clone()), task)
            }
        };
        // Connect now if the node is there (a log line either way); requests connect later
        // otherwise.
        let early = Arc::clone(&state);
        tokio::spawn(async move {
            match early.node.client().await {
                Ok(client) => tracing::info!(
                    agency = %client.agency(),
                    roster_version = client.roster().version(),
                    "connected to the node"
                ),
                Err(e) => {
                    tracing::warn!(code = %e.code(), "the node is not reachable yet; requests will retry")
                }
            }
        });
        Ok(Self {
            address,
            socket,
            shutdown: Some(tx),
            task,
        })
    }

    /// The TCP address served (with the port the system chose for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.address
    }

    /// The Unix socket served.
    pub fn socket_path(&self) -> Option<&std::path::Path> {
        self.socket.as_deref()
    }

    /// Stops accepting, lets the requests in flight finish, and returns.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        if let Some(path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Waits until the server stops (it stops by itself only on an error).
    ///
    /// # Errors
    /// The server's IO error.
    pub async fn wait(&mut self) -> io::Result<()> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

/// Binds a Unix socket, owner-only, replacing a stale socket file (never another file).
fn bind_unix(path: &std::path::Path) -> Result<tokio::net::UnixListener, StartError> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let bind_error = |source| StartError::Bind {
        what: path.display().to_string(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(bind_error)?;
        }
        Ok(_) => {
            return Err(bind_error(io::Error::other(
                "a file that is not a socket is in the way; remove it or choose another path",
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(bind_error(e)),
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(bind_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_error)?;
    Ok(listener)
}
