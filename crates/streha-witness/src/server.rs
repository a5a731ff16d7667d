//! `streha witness serve`: a standalone C2SP `tlog-witness` over HTTP for an oversight body
//! (a data-protection authority, the Ombudsperson, an international monitor) that runs no
//! agency node. It follows the logs its configuration lists — each by origin and key, or
//! every agency of a signed roster — and cosigns each checkpoint consistent with the last
//! it cosigned, by the rules of [`crate::rules`].
//!
//! State: one file, `state.json` in the state directory, holding the latest cosigned
//! checkpoint of each log. A request is checked and the file replaced (written to a
//! temporary file, synced, renamed over, directory synced) under one lock, before the
//! answer: two requests can never both pass the old-size check, so the C2SP rollback race
//! cannot happen, and an answered cosignature survives `kill -9`. Refused requests that may
//! show a log misbehaving (a fork: 409; a bad proof from a known, validly signed log: 422)
//! are kept as evidence files in `evidence/`, at most [`MAX_EVIDENCE_FILES`].
//!
//! Answers (C2SP `tlog-witness`, "add-checkpoint"): 200 with the cosignature line; 400 for a
//! malformed body (bad old size line, bad base64, more than 63 proof lines, over
//! [`MAX_REQUEST_LEN`](crate::protocol::MAX_REQUEST_LEN), a truncated or oversized note) or
//! an old size above the checkpoint's; 403 without a valid signature of the log (or with a
//! forged line under its key); 404 for an unknown origin; 409 `text/x.tlog.size` for a stale
//! old size; 409 for the same size with another root; 422 for a bad proof. `GET /metrics`
//! serves counters in the Prometheus text format.
//!
//! A later epoch of a log it follows (`<origin>/epoch/<n>`, a node restored with a declared
//! loss, `spec/audit-log.md` §9) is followed only once its first checkpoint came to
//! `POST <prefix>/add-new-epoch` with its declaration and passed
//! [`judge_new_epoch`](rules::judge_new_epoch) — the rule the nodes' QUIC witnessing uses —
//! against the latest checkpoint of the previous epoch this witness cosigned
//! (`spec/witness.md` §2.1). Before that, `add-checkpoint` refuses the epoch (403).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use streha_audit::{Checkpoint, CosignatureSigner, Hash, NoteVerifier, SignatureType};
use streha_crypto::{NodeIdentitySecretKey, RosterPublicKey};

use crate::protocol::{
    ADD_CHECKPOINT_PATH, ADD_NEW_EPOCH_PATH, LATEST_COSIGNED_PATH, MAX_LATEST_COSIGNED_SEGMENT_LEN,
    MAX_NEW_EPOCH_REQUEST_LEN, MAX_REQUEST_LEN, SIZE_CONTENT_TYPE, decode_origin_segment,
    parse_add_checkpoint, parse_add_new_epoch,
};
use crate::rules::{self, EpochRefusal, Latest, LogKeys, NoteRefusal, Opened, Submitter, Verdict};

/// The most evidence files kept; past it, further evidence is counted, not kept.
pub const MAX_EVIDENCE_FILES: usize = 4096;

/// The most concurrent connections served.
pub const MAX_CONNECTIONS: usize = 256;

/// A configuration problem: which field, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}: `{field}`: {problem}")]
pub struct ConfigError {
    /// The configuration file.
    pub path: PathBuf,
    /// The field.
    pub field: String,
    /// What is wrong and what to do.
    pub problem: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    key: PathBuf,
    listen: String,
    state_dir: PathBuf,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    logs: Vec<RawLog>,
    #[serde(default)]
    roster: Option<PathBuf>,
    #[serde(default)]
    roster_key: Option<PathBuf>,
    #[serde(default)]
    tls_cert: Option<PathBuf>,
    #[serde(default)]
    tls_key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    origin: String,
    vkey: String,
}

/// A loaded `witness.toml`.
pub struct WitnessConfig {
    /// The witness's key name.
    pub name: String,
    /// Its key.
    key: NodeIdentitySecretKey,
    /// Where it listens.
    pub listen: SocketAddr,
    /// Its state directory.
    pub state_dir: PathBuf,
    /// The submission prefix (empty or `/…` without a trailing slash).
    pub prefix: String,
    /// The logs it follows, by origin.
    pub logs: BTreeMap<String, LogKeys>,
    /// TLS (`tls_cert` and `tls_key`): served as HTTPS when present.
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl std::fmt::Debug for WitnessConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessConfig")
            .field("name", &self.name)
            .field("listen", &self.listen)
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WitnessConfig {
    /// Loads `witness.toml`; relative paths are resolved against its directory.
    ///
    /// ```toml
    /// name = "dpa.example/streha-witness"   # the key name of its cosignatures
    /// key = "witness.key"                   # an Ed25519 secret key file (streha keygen node-identity)
    /// listen = "127.0.0.1:7480"
    /// state_dir = "state"
    /// prefix = ""                            # submissions go to POST <prefix>/add-checkpoint
    /// [[logs]]                               # the logs it follows, each by origin and key …
    /// origin = "kosovo.example/streha/police"
    /// vkey = "kosovo.example/streha/police+…+…"
    /// # … or every agency of a signed roster:
    /// roster = "roster.note"
    /// roster_key = "national-authority.roster.pub"
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] naming the field.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let error = |field: &str, problem: String| ConfigError {
            path: path.to_path_buf(),
            field: field.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| error("-", format!("cannot read the configuration: {e}")))?;
        let raw: RawConfig =
            toml::from_str(&text).map_err(|e| error("-", e.message().to_owned()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| base.join(p);
        let key_text = zeroize::Zeroizing::new(
            std::fs::read_to_string(resolve(&raw.key))
                .map_err(|e| error("key", format!("cannot read the key file: {e}")))?,
        );
        let key = NodeIdentitySecretKey::from_key_file(&key_text)
            .map_err(|e| error("key", e.to_string()))?;
        CosignatureSigner::new(&raw.name, key.as_dalek().clone())
            .map_err(|e| error("name", format!("not a valid key name: {e}")))?;
        let listen: SocketAddr = raw
            .listen
            .parse()
            .map_err(|_| error("listen", "write IP:port".into()))?;
        let prefix = raw.prefix.trim_end_matches('/').to_owned();
        if !(prefix.is_empty() || prefix.starts_with('/')) {
            return Err(error("prefix", "empty, or a path starting with `/`".into()));
        }
        let mut logs = BTreeMap::new();
        for (i, log) in raw.logs.iter().enumerate() {
            let verifier = NoteVerifier::from_vkey(&log.vkey)
                .map_err(|e| error(&format!("logs[{i}].vkey"), e.to_string()))?;
            if verifier.name().as_str() != log.origin {
                return Err(error(
                    &format!("logs[{i}].vkey"),
                    format!("the key's name is not the origin `{}`", log.origin),
                ));
            }
            logs.insert(log.origin.clone(), log_keys(&log.origin, vec![verifier]));
        }
        match (&raw.roster, &raw.roster_key) {
            (Some(roster), Some(roster_key)) => {
                let key_text = std::fs::read_to_string(resolve(roster_key))
                    .map_err(|e| error("roster_key", format!("cannot read: {e}")))?;
                let roster_key = RosterPublicKey::from_key_file(&key_text)
                    .map_err(|e| error("roster_key", e.to_string()))?;
                let note = std::fs::read_to_string(resolve(roster))
                    .map_err(|e| error("roster", format!("cannot read: {e}")))?;
                let roster = streha_wire::Roster::open(&note, &roster_key)
                    .map_err(|e| error("roster", e.to_string()))?;
                for agency in roster.agencies() {
                    let origin = agency.log_origin(roster.federation());
                    let verifier = NoteVerifier::new(&origin, *agency.node_key.as_dalek())
                        .map_err(|e| error("roster", e.to_string()))?;
                    logs.insert(origin.clone(), log_keys(&origin, vec![verifier]));
                }
            }
            (None, None) => {}
            _ => {
                return Err(error(
                    "roster",
                    "give both `roster` and `roster_key`, or neither".into(),
                ));
            }
        }
        let tls = match (&raw.tls_cert, &raw.tls_key) {
            (Some(cert), Some(key)) => {
                Some(tls_config(&resolve(cert), &resolve(key)).map_err(|e| error("tls_cert", e))?)
            }
            (None, None) => None,
            _ => {
                return Err(error(
                    "tls_cert",
                    "give both `tls_cert` and `tls_key` (PEM files), or neither".into(),
                ));
            }
        };
        if logs.is_empty() {
            return Err(error(
                "logs",
                "the witness follows no log: list `[[logs]]` or give a roster".into(),
            ));
        }
        Ok(Self {
            name: raw.name,
            key,
            listen,
            state_dir: resolve(&raw.state_dir),
            prefix,
            logs,
            tls,
        })
    }
}

/// The TLS server configuration from a PEM certificate chain and a PEM private key.
fn tls_config(cert: &Path, key: &Path) -> Result<Arc<tokio_rustls::rustls::ServerConfig>, String> {
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key: {e}"))?;
    Ok(Arc::new(config))
}

impl WitnessConfig {
    /// Who this witness trusts for `origin` when it is a later epoch (`<base>/epoch/<n>`,
    /// n ≥ 2) of a log it follows: the same Ed25519 key(s) under the epoch's origin, which
    /// is also the key name of the epoch's checkpoint signatures (`spec/audit-log.md` §9).
    fn epoch_keys(&self, origin: &str) -> Option<LogKeys> {
        let (base, epoch) = streha_core::epoch::split_epoch(origin)?;
        if epoch <= streha_core::epoch::FIRST_EPOCH {
            return None;
        }
        let log: Vec<NoteVerifier> = self
            .logs
            .get(base)?
            .log
            .iter()
            .filter(|v| v.signature_type() == SignatureType::Ed25519)
            .filter_map(|v| NoteVerifier::new(origin, *v.verifying_key()).ok())
            .collect();
        (!log.is_empty()).then(|| log_keys(origin, log))
    }

    /// Who this witness trusts for `origin`, in any epoch of a log it follows.
    fn keys_at(&self, origin: &str) -> Option<LogKeys> {
        self.logs
            .get(origin)
            .cloned()
            .or_else(|| self.epoch_keys(origin))
    }

    /// The C2SP verifier key of this witness's cosignatures (`name+key id+key`, type 0x04),
    /// for the roster's `[[witnesses]]`.
    #[must_use]
    pub fn vkey(&self) -> String {
        verifier_of(&self.name, &self.key).map_or_else(String::new, |v| v.to_vkey())
    }
}

/// C2SP: the witness trusts the log's own key(s) and ignores every other signature line.
fn log_keys(origin: &str, log: Vec<NoteVerifier>) -> LogKeys {
    LogKeys {
        origin: origin.to_owned(),
        log,
        guarded_names: Vec::new(),
        known: Vec::new(),
    }
}

/// The latest cosigned checkpoint of one log, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    size: u64,
    root: String,
    note: String,
}

/// A new log epoch whose declaration this witness accepted: the evidence of an honest
/// restore, kept with the previous epoch's latest cosigned checkpoint (in `logs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Declared {
    /// The epoch the loss happened in.
    previous_origin: String,
    /// The lost range, `restored_size..proven_size` of the previous epoch.
    restored_size: u64,
    proven_size: u64,
    /// The peer whose kept checkpoint proves the loss.
    proven_by: String,
    /// The latest size of the previous epoch this witness had cosigned when it accepted.
    cosigned_size: Option<u64>,
    /// Entry 0 of the new epoch, the declaration, in base64.
    entry: String,
}

/// Every log's latest cosigned checkpoint, and the new epochs whose declaration was
/// accepted (absent when none, so a state without epochs keeps its bytes).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    format: String,
    logs: BTreeMap<String, Stored>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    declarations: BTreeMap<String, Declared>,
}

const STATE_FORMAT: &str = "streha-witness-state/v1";

/// Why the witness could not start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The state directory or file.
    #[error("the witness state in {path}: {problem}")]
    State {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Binding or serving.
    #[error("cannot serve on {addr}: {problem}")]
    Serve {
        /// The address.
        addr: String,
        /// What failed.
        problem: String,
    },
}

#[derive(Default)]
struct Counters {
    by_status: std::sync::Mutex<BTreeMap<u16, u64>>,
    evidence_kept: AtomicU64,
    evidence_dropped: AtomicU64,
    epochs_accepted: AtomicU64,
}

struct Witness {
    config: WitnessConfig,
    signer: CosignatureSigner,
    /// The state, under the lock that makes check-and-persist one step.
    state: tokio::sync::Mutex<Persisted>,
    counters: Counters,
}

impl Witness {
    fn count(&self, status: StatusCode) {
        *self
            .counters
            .by_status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(status.as_u16())
            .or_default() += 1;
    }
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

fn load_state(dir: &Path) -> Result<Persisted, ServeError> {
    let path = state_path(dir);
    let state_error = |problem: String| ServeError::State {
        path: path.clone(),
        problem,
    };
    std::fs::create_dir_all(dir.join("evidence")).map_err(|e| state_error(e.to_string()))?;
    match std::fs::read(&path) {
        Ok(bytes) => {
            let state: Persisted = serde_json::from_slice(&bytes).map_err(|e| {
                state_error(format!("does not parse ({e}); restore it from a backup"))
            })?;
            if state.format != STATE_FORMAT {
                return Err(state_error(format!("unknown format `{}`", state.format)));
            }
            Ok(state)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted {
            format: STATE_FORMAT.to_owned(),
            logs: BTreeMap::new(),
            declarations: BTreeMap::new(),
        }),
        Err(e) => Err(state_error(e.to_string())),
    }
}

/// Writes `bytes` to `path` atomically and durably: a temporary file, synced, renamed over
/// the old one, the directory synced.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Runs the witness until SIGTERM or SIGINT. Prints `streha witness ready on <addr>` on
/// standard output once it serves.
///
/// # Errors
/// [`ServeError`].
pub async fn serve(config: WitnessConfig) -> Result<(), ServeError> {
    let state = load_state(&config.state_dir)?;
    let signer =
        CosignatureSigner::new(&config.name, config.key.as_dalek().clone()).map_err(|e| {
            ServeError::Config(ConfigError {
                path: PathBuf::new(),
                field: "name".into(),
                problem: e.to_string(),
            })
        })?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServeError::Serve {
            addr: config.listen.to_string(),
            problem: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| ServeError::Serve {
        addr: config.listen.to_string(),
        problem: e.to_string(),
    })?;
    let path = format!("{}{ADD_CHECKPOINT_PATH}", config.prefix);
    let epoch_path = format!("{}{ADD_NEW_EPOCH_PATH}", config.prefix);
    let read_path = format!("{}{LATEST_COSIGNED_PATH}/{{origin}}", config.prefix);
    let witness = Arc::new(Witness {
        config,
        signer,
        state: tokio::sync::Mutex::new(state),
        counters: Counters::default(),
    });
    let app = Router::new()
        .route(&path, post(add_checkpoint))
        .route(&epoch_path, post(add_new_epoch))
        .route(&read_path, get(latest_cosigned))
        .route("/metrics", get(metrics))
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_CONNECTIONS))
        .with_state(Arc::clone(&witness));
    // Before the ready line: a SIGTERM sent as soon as it is printed must stop the witness
    // cleanly, not kill it by the signal's default action.
    let shutdown = shutdown_signal();
    println!("streha witness ready on {addr}");
    tracing::info!(%addr, logs = witness.config.logs.len(), "witness serving");
    if let Some(tls) = witness.config.tls.clone() {
        serve_tls(listener, app, tls, shutdown).await;
        return Ok(());
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| ServeError::Serve {
            addr: addr.to_string(),
            problem: e.to_string(),
        })
}

/// Serves HTTPS: each accepted connection's TLS handshake (at most 10 s), then HTTP/1.1 on
/// it, until SIGTERM or SIGINT.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => continue,
            },
            () = &mut shutdown => return,
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp))
                    .await
            else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Completes on SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match signals {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut text = message.into();
    text.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Body) -> Response {
    let response = handle(&witness, body).await;
    witness.count(response.status());
    response
}

async fn handle(witness: &Witness, body: Body) -> Response {
    // Read one byte past the limit, so an oversized body is refused as such (400).
    let Ok(bytes) = to_bytes(body, MAX_REQUEST_LEN + 1).await else {
        return plain(
            StatusCode::BAD_REQUEST,
            "the request body is too large or was cut off",
        );
    };
    let request = match parse_add_checkpoint(&bytes) {
        Ok(request) => request,
        Err(e) => return plain(StatusCode::BAD_REQUEST, e.to_string()),
    };
    // The origin, from the note's first line, to find the log's keys.
    let origin = request.checkpoint.split('\n').next().unwrap_or_default();
    let keys = match witness.config.logs.get(origin) {
        Some(keys) => keys.clone(),
        None => {
            let Some(keys) = witness.config.epoch_keys(origin) else {
                return plain(
                    StatusCode::NOT_FOUND,
                    "this witness does not follow that log",
                );
            };
            // A later epoch is a new log that starts over: followed only once its
            // declaration of what the epoch before lost was accepted.
            if !witness.state.lock().await.declarations.contains_key(origin) {
                return plain(
                    StatusCode::FORBIDDEN,
                    format!(
                        "`{origin}` is a new epoch of a log this witness follows: it is cosigned only after its declaration (POST {}{ADD_NEW_EPOCH_PATH})",
                        witness.config.prefix
                    ),
                );
            }
            keys
        }
    };
    let opened = match open_checkpoint(request.checkpoint.clone(), keys).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let checkpoint = &opened.checkpoint;
    let mut state = witness.state.lock().await;
    let stored = state.logs.get(origin).cloned();
    let latest = match stored.as_ref().map(|s| Hash::from_hex(&s.root)) {
        None => None,
        Some(Ok(root)) => stored.as_ref().map(|s| Latest { size: s.size, root }),
        Some(Err(_)) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the stored state is corrupt",
            );
        }
    };
    match rules::judge(
        latest.as_ref(),
        request.old_size,
        &request.proof,
        checkpoint,
        Submitter::Anyone,
    ) {
        Verdict::Cosign { advance } => {
            if advance && let Err(response) = persist(witness, &mut state, &opened, None).await {
                return response;
            }
            drop(state);
            cosignature(witness, checkpoint)
        }
        Verdict::OldSizeAboveCheckpoint => plain(
            StatusCode::BAD_REQUEST,
            "the old size is above the checkpoint's size",
        ),
        Verdict::StaleOldSize { latest } => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
            format!("{latest}\n"),
        )
            .into_response(),
        Verdict::BadProof => {
            drop(state);
            keep_evidence(
                witness,
                "bad-proof",
                stored.as_ref(),
                &request.checkpoint,
                &format!("old_size {}", request.old_size),
                false,
            );
            plain(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the consistency proof does not verify",
            )
        }
        Verdict::Contradiction(kind) => {
            drop(state);
            tracing::error!(log = origin, %kind, "security event: a log contradicts a checkpoint this witness cosigned; evidence kept");
            keep_evidence(
                witness,
                kind.name(),
                stored.as_ref(),
                &request.checkpoint,
                &format!("old_size {}", request.old_size),
                false,
            );
            plain(
                StatusCode::CONFLICT,
                format!("this checkpoint contradicts the one this witness cosigned ({kind})"),
            )
        }
    }
}

/// Verifies a checkpoint note under `keys` (on a blocking thread: signature checks are CPU
/// work), or the answer that refuses it: 400 malformed, 404 another log, 403 not validly
/// signed.
async fn open_checkpoint(note: String, keys: LogKeys) -> Result<Opened, Response> {
    match tokio::task::spawn_blocking(move || {
        rules::open_note_within(&note, &keys, rules::NoteBounds::HTTP)
    })
    .await
    {
        Ok(Ok(opened)) => Ok(opened),
        Ok(Err(refusal)) if refusal.is_malformed() => {
            Err(plain(StatusCode::BAD_REQUEST, refusal.to_string()))
        }
        Ok(Err(NoteRefusal::WrongOrigin { .. })) => Err(plain(
            StatusCode::NOT_FOUND,
            "this witness does not follow that log",
        )),
        Ok(Err(refusal)) => Err(plain(StatusCode::FORBIDDEN, refusal.to_string())),
        Err(_) => Err(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the check did not finish",
        )),
    }
}

/// Makes `opened` the latest cosigned checkpoint of its log (and, for a new epoch, keeps
/// its accepted declaration), and writes the state durably before anything is answered.
/// If it cannot be written, the state is put back as it was and the answer is 503: nothing
/// is cosigned that the witness could forget.
async fn persist(
    witness: &Witness,
    state: &mut Persisted,
    opened: &Opened,
    declared: Option<Declared>,
) -> Result<(), Response> {
    let origin = opened.checkpoint.origin().to_owned();
    let before = state.logs.insert(
        origin.clone(),
        Stored {
            size: opened.checkpoint.size(),
            root: opened.checkpoint.root().to_hex(),
            note: opened.kept_note.clone(),
        },
    );
    let before_declared = declared.map(|d| state.declarations.insert(origin.clone(), d));
    let written = match serde_json::to_vec_pretty(&*state) {
        Ok(bytes) => {
            let dir = witness.config.state_dir.clone();
            tokio::task::spawn_blocking(move || write_durably(&state_path(&dir), &bytes))
                .await
                .is_ok_and(|r| r.is_ok())
        }
        Err(_) => false,
    };
    if written {
        return Ok(());
    }
    // Not persisted: restore the previous state, answer nothing signed.
    match before {
        Some(previous) => state.logs.insert(origin.clone(), previous),
        None => state.logs.remove(&origin),
    };
    match before_declared {
        Some(Some(previous)) => {
            state.declarations.insert(origin.clone(), previous);
        }
        Some(None) => {
            state.declarations.remove(&origin);
        }
        None => {}
    }
    tracing::error!(
        log = origin,
        "cannot persist the witness state; nothing cosigned"
    );
    Err(plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "the witness cannot persist its state; nothing was cosigned",
    ))
}

async fn add_new_epoch(State(witness): State<Arc<Witness>>, body: Body) -> Response {
    let response = handle_new_epoch(&witness, body).await;
    witness.count(response.status());
    response
}

/// `add-new-epoch`: the first checkpoint of a later epoch of a log this witness follows,
/// with its declaration (entry 0) and the declaration's inclusion proof, judged by
/// [`rules::judge_new_epoch`] against the latest checkpoint of the previous epoch this
/// witness cosigned (`spec/witness.md` §2.1).
async fn handle_new_epoch(witness: &Witness, body: Body) -> Response {
    let Ok(bytes) = to_bytes(body, MAX_NEW_EPOCH_REQUEST_LEN + 1).await else {
        return plain(
            StatusCode::BAD_REQUEST,
            "the request body is too large or was cut off",
        );
    };
    let request = match parse_add_new_epoch(&bytes) {
        Ok(request) => request,
        Err(e) => return plain(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let origin = request
        .checkpoint
        .split('\n')
        .next()
        .unwrap_or_default()
        .to_owned();
    if witness.config.logs.contains_key(&origin) {
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "`{origin}` is the first epoch of its log, not a new one: submit its checkpoints to {}{ADD_CHECKPOINT_PATH}",
                witness.config.prefix
            ),
        );
    }
    let (Some(keys), Some(previous)) = (
        witness.config.epoch_keys(&origin),
        streha_core::epoch::previous_epoch_origin(&origin),
    ) else {
        return plain(
            StatusCode::NOT_FOUND,
            "this witness follows no log of which that is a new epoch",
        );
    };
    let Some(previous_keys) = witness.config.keys_at(&previous) else {
        return plain(
            StatusCode::NOT_FOUND,
            "this witness follows no log of which that is a new epoch",
        );
    };
    let opened = match open_checkpoint(request.checkpoint.clone(), keys).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let checkpoint = &opened.checkpoint;
    let mut state = witness.state.lock().await;
    if state.declarations.contains_key(&origin) {
        let latest = state.logs.get(&origin).map(|s| (s.size, s.root.clone()));
        return match latest {
            // Asked again (an answer lost): the checkpoint it accepted is cosigned again.
            Some((size, root))
                if size == checkpoint.size() && root == checkpoint.root().to_hex() =>
            {
                drop(state);
                cosignature(witness, checkpoint)
            }
            // Accepted before: the epoch is witnessed at add-checkpoint, from this size.
            latest => (
                StatusCode::CONFLICT,
                [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                format!("{}\n", latest.map_or(0, |(size, _)| size)),
            )
                .into_response(),
        };
    }
    let seen = state.logs.get(&previous).cloned();
    let latest = match seen.as_ref().map(|s| Hash::from_hex(&s.root)) {
        None => None,
        Some(Ok(root)) => seen.as_ref().map(|s| Latest { size: s.size, root }),
        Some(Err(_)) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the stored state is corrupt",
            );
        }
    };
    let loss = match rules::judge_new_epoch(
        checkpoint,
        Some((&request.declaration, &request.proof)),
        &previous_keys,
        latest.as_ref(),
    ) {
        Ok(loss) => loss,
        Err(refusal) => {
            drop(state);
            return refuse_new_epoch(
                witness,
                &origin,
                &refusal,
                seen.as_ref(),
                &String::from_utf8_lossy(&bytes),
            );
        }
    };
    let declared = Declared {
        previous_origin: loss.previous_origin.clone(),
        restored_size: loss.restored_size,
        proven_size: loss.proven_size,
        proven_by: loss.proven_by.clone(),
        cosigned_size: latest.map(|l| l.size),
        entry: BASE64.encode(&request.declaration),
    };
    if let Err(response) = persist(witness, &mut state, &opened, Some(declared)).await {
        return response;
    }
    drop(state);
    witness
        .counters
        .epochs_accepted
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(log = %origin, previous = %loss.previous_origin, restored = loss.restored_size,
        proven = loss.proven_size, proven_by = %loss.proven_by,
        "a log restored with a declared loss: entries {}..{} of `{}` declared lost; its new epoch is followed from now on (the previous epoch's last cosigned checkpoint is kept)",
        loss.restored_size, loss.proven_size, loss.previous_origin);
    cosignature(witness, checkpoint)
}

/// The answer to a new epoch whose declaration does not hold: 409 if it hides what this
/// witness cosigned of the previous epoch (a rollback), 422 if it does not hold in itself,
/// 400 if the checkpoint is not of a new epoch at all. Except for 400, the request (its
/// checkpoint signed by the log's key) is kept as evidence with the previous epoch's last
/// cosigned checkpoint.
fn refuse_new_epoch(
    witness: &Witness,
    origin: &str,
    refusal: &EpochRefusal,
    seen: Option<&Stored>,
    offered: &str,
) -> Response {
    let (status, kind) = match refusal {
        EpochRefusal::NotAnEpoch { .. } | EpochRefusal::Undeclared => {
            return plain(StatusCode::BAD_REQUEST, refusal.to_string());
        }
        EpochRefusal::HidesCosigned { .. } | EpochRefusal::RestoredNotCosigned { .. } => {
            (StatusCode::CONFLICT, "rollback")
        }
        EpochRefusal::NotFirstEntry => (StatusCode::UNPROCESSABLE_ENTITY, "bad-declaration-proof"),
        EpochRefusal::NotADeclaration(_)
        | EpochRefusal::WrongPrevious { .. }
        | EpochRefusal::ProofNotSigned(_)
        | EpochRefusal::NothingLost { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "bad-declaration"),
    };
    if status == StatusCode::CONFLICT {
        tracing::error!(log = origin, %refusal, "security event: a new epoch of a log whose declaration hides what this witness cosigned of the previous epoch: a rollback; evidence kept");
    } else {
        tracing::warn!(log = origin, %refusal, "a new epoch whose declaration does not hold; refused, evidence kept");
    }
    // The node offers its new epoch again every round: the same refused request is kept
    // once.
    keep_evidence(
        witness,
        kind,
        seen,
        offered,
        &format!("new_epoch {origin}"),
        true,
    );
    plain(status, format!("the new epoch is refused: {refusal}"))
}

async fn latest_cosigned(
    State(witness): State<Arc<Witness>>,
    axum::extract::Path(segment): axum::extract::Path<String>,
) -> Response {
    let response = handle_latest_cosigned(&witness, &segment).await;
    witness.count(response.status());
    response
}

/// `latest-cosigned` (Streha's read extension, `spec/witness.md` §2.2): the latest
/// checkpoint of a log this witness follows (any epoch of it) that it cosigned, as the log
/// signed it, with this witness's cosignature made now. C2SP `tlog-cosignature`: a v1
/// cosignature says that, as of its time, this is the largest consistent checkpoint the
/// witness has seen of the log — which the latest cosigned checkpoint is, under the state
/// lock; it is the answer `add-checkpoint` gives when that checkpoint is submitted again.
/// Reads only: 404 for a log it does not follow or has cosigned nothing of, 414 for an
/// origin segment over [`MAX_LATEST_COSIGNED_SEGMENT_LEN`], 400 for one that does not name
/// a log origin.
async fn handle_latest_cosigned(witness: &Witness, segment: &str) -> Response {
    if segment.len() > MAX_LATEST_COSIGNED_SEGMENT_LEN {
        return plain(
            StatusCode::URI_TOO_LONG,
            "the origin is longer than any log origin",
        );
    }
    let Some(origin) = decode_origin_segment(segment) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "the path does not end in the unpadded base64url of a log origin",
        );
    };
    let not_found = || {
        plain(
            StatusCode::NOT_FOUND,
            "this witness has cosigned nothing of that log",
        )
    };
    if witness.config.keys_at(&origin).is_none() {
        return not_found();
    }
    let state = witness.state.lock().await;
    let Some(stored) = state.logs.get(&origin).cloned() else {
        return not_found();
    };
    let (Ok(root), Ok(note)) = (
        Hash::from_hex(&stored.root),
        streha_audit::SignedNote::parse(&stored.note),
    ) else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the stored state is corrupt",
        );
    };
    let checkpoint = match Checkpoint::parse_body(note.body()) {
        Ok(checkpoint)
            if checkpoint.origin() == origin
                && checkpoint.size() == stored.size
                && *checkpoint.root() == root =>
        {
            checkpoint
        }
        _ => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the stored state is corrupt",
            );
        }
    };
    // Cosigned while the state is held: no later checkpoint of the log can have been
    // cosigned before this cosignature's time.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let line = match rules::cosign(&witness.signer, &checkpoint, now) {
        Ok(line) => line,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot cosign: {e}"),
            );
        }
    };
    drop(state);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}{}", stored.note, line.to_line()),
    )
        .into_response()
}

fn cosignature(witness: &Witness, checkpoint: &Checkpoint) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    match rules::cosign(&witness.signer, checkpoint, now) {
        Ok(line) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            line.to_line(),
        )
            .into_response(),
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot cosign: {e}"),
        ),
    }
}

/// Keeps a refused request that may show a log misbehaving: what was offered, and the
/// checkpoint this witness had cosigned. Bounded by [`MAX_EVIDENCE_FILES`]. With `once`, the
/// file is named by its content's hash and the same evidence is kept once.
fn keep_evidence(
    witness: &Witness,
    kind: &str,
    cosigned: Option<&Stored>,
    offered: &str,
    detail: &str,
    once: bool,
) {
    let dir = witness.config.state_dir.join("evidence");
    let count = std::fs::read_dir(&dir).map_or(0, Iterator::count);
    if count >= MAX_EVIDENCE_FILES {
        witness
            .counters
            .evidence_dropped
            .fetch_add(1, Ordering::Relaxed);
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let text = format!(
        "kind {kind}\n{detail}\n\n--- cosigned ---\n{}\n--- offered ---\n{offered}",
        cosigned.map_or("(none)", |s| s.note.as_str())
    );
    let path = if once {
        let path = dir.join(format!(
            "{kind}-{}.txt",
            streha_audit::leaf_hash(text.as_bytes()).to_hex()
        ));
        if path.exists() {
            return;
        }
        path
    } else {
        dir.join(format!("{now}-{kind}.txt"))
    };
    if write_durably(&path, text.as_bytes()).is_ok() {
        witness
            .counters
            .evidence_kept
            .fetch_add(1, Ordering::Relaxed);
    }
}

async fn metrics(State(witness): State<Arc<Witness>>) -> Response {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP streha_witness_http_requests_total add-checkpoint and add-new-epoch requests answered, by HTTP status.\n# TYPE streha_witness_http_requests_total counter"
    );
    let by_status = witness
        .counters
        .by_status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for code in [200u16, 400, 403, 404, 409, 414, 422, 503] {
        let _ = writeln!(
            out,
            "streha_witness_http_requests_total{{code=\"{code}\"}} {}",
            by_status.get(&code).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(
        out,
        "# HELP streha_witness_evidence_kept_total Refused requests kept as evidence (forks, bad proofs).\n# TYPE streha_witness_evidence_kept_total counter\nstreha_witness_evidence_kept_total {}",
        witness.counters.evidence_kept.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP streha_witness_evidence_dropped_total Evidence not kept because the evidence directory is full.\n# TYPE streha_witness_evidence_dropped_total counter\nstreha_witness_evidence_dropped_total {}",
        witness.counters.evidence_dropped.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP streha_witness_epochs_accepted_total New log epochs whose declaration of a loss was accepted.\n# TYPE streha_witness_epochs_accepted_total counter\nstreha_witness_epochs_accepted_total {}",
        witness.counters.epochs_accepted.load(Ordering::Relaxed)
    );
    let state = witness.state.lock().await;
    let _ = writeln!(
        out,
        "# HELP streha_witness_cosigned_size The size of the latest checkpoint cosigned, by log.\n# TYPE streha_witness_cosigned_size gauge"
    );
    for (origin, stored) in &state.logs {
        let _ = writeln!(
            out,
            "streha_witness_cosigned_size{{log=\"{}\"}} {}",
            origin.replace(['"', '\\', '\n'], "_"),
            stored.size
        );
    }
    drop(state);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
        .into_response()
}

/// `streha witness serve --config FILE`: loads the configuration, logs to standard error
/// (`STREHA_LOG`, default `info`), and serves until SIGTERM. Returns the process exit code:
/// 0 after a clean stop, 2 for a configuration error, 1 for anything else.
pub fn main_with_config(config: &Path) -> i32 {
    let config = match WitnessConfig::load(config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("streha witness: {e}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("streha witness: cannot start the runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("streha witness: {e}");
            1
        }
    }
}

/// The cosignature verifier of this witness's key, for clients and the roster (`vkey`).
#[must_use]
pub fn verifier_of(name: &str, key: &NodeIdentitySecretKey) -> Option<NoteVerifier> {
    CosignatureSigner::new(name, key.as_dalek().clone())
        .ok()
        .map(|s| s.verifier())
}
