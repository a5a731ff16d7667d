//! The state every request shares: the agency's client (the keys), the callers, the
//! idempotency store and the budgets.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use streha_client::{Client, ClientConfig};

use crate::auth::{AuthFailure, Caller, Callers, Scope};
use crate::config::Limits;
use crate::error::ApiError;
use crate::idempotency::IdempotencyStore;

/// How the service builds its client configuration again when it must reconnect (the
/// client profile's key files, read once at start).
pub(crate) type ConfigSource = Arc<dyn Fn() -> Result<ClientConfig, String> + Send + Sync>;

/// The connection to the node, made at the first request that needs it (and again if the
/// first attempts fail): the service starts, and answers `node_unavailable`, while its
/// node is down.
pub(crate) struct NodeLink {
    source: ConfigSource,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl NodeLink {
    pub(crate) fn new(source: ConfigSource) -> Self {
        Self {
            source,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The connected client.
    ///
    /// # Errors
    /// 503 `node_unavailable` if the node cannot be reached; a configuration problem (the
    /// roster does not list this agency with these keys, …) as its own error.
    pub(crate) async fn client(&self) -> Result<Arc<Client>, ApiError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(Arc::clone(client));
        }
        let config = (self.source)().map_err(|e| ApiError::internal("service_misconfigured", e))?;
        let client = Client::connect(config).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot connect to the node");
            ApiError::from_client(&e)
        })?;
        let client = Arc::new(client);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }
}

/// What the handlers share.
pub(crate) struct ApiState {
    pub(crate) node: NodeLink,
    pub(crate) callers: Callers,
    pub(crate) idempotency: IdempotencyStore,
    pub(crate) limits: Limits,
}

impl ApiState {
    /// The caller of this request, if it holds `scope`.
    ///
    /// # Errors
    /// 401 `token_missing`, `token_malformed`, `token_unknown`; 403 `scope_missing`.
    pub(crate) fn authorize(&self, headers: &HeaderMap, scope: Scope) -> Result<&Caller, ApiError> {
        let value = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
        let caller = self.callers.authenticate(value).map_err(|failure| {
            tracing::info!(?failure, %scope, "request refused: not authenticated");
            match failure {
                AuthFailure::Missing => ApiError::unauthorized(
                    "token_missing",
                    "send the caller's token as `Authorization: Bearer <token>`",
                ),
                AuthFailure::Malformed => ApiError::unauthorized(
                    "token_malformed",
                    "the Authorization header must be `Bearer <token>`",
                ),
                AuthFailure::Unknown => ApiError::unauthorized(
                    "token_unknown",
                    "no caller has this token; ask the service's operator for one (`streha api token add`)",
                ),
            }
        })?;
        if !caller.may(scope) {
            tracing::info!(caller = %caller.name, %scope, "request refused: scope missing");
            return Err(ApiError::forbidden(caller.name.as_str(), scope));
        }
        tracing::debug!(caller = %caller.name, %scope, "request authorized");
        Ok(caller)
    }
}
