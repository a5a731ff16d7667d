//! `node.toml`: the one configuration file of a node. Relative paths are resolved against
//! the file's directory. Every error names the file, the field, its line (with the value as
//! written) where the file has it, and says what to do.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use streha_core::AgencyId;
use streha_crypto::{ApplicationPublicKey, NodeIdentitySecretKey, RosterPublicKey};
use zeroize::Zeroizing;

/// A configuration problem: which field, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{path}: `{field}`: {problem}")]
pub struct ConfigError {
    /// The configuration file.
    pub path: PathBuf,
    /// The field (dotted path), or `-` for the file as a whole.
    pub field: String,
    /// What is wrong and what to do.
    pub problem: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    agency: String,
    listen: String,
    app_listen: String,
    data_dir: PathBuf,
    roster: PathBuf,
    roster_key: PathBuf,
    node_key: PathBuf,
    #[serde(default)]
    applications: BTreeMap<String, PathBuf>,
    #[serde(default)]
    metrics_listen: Option<String>,
    #[serde(default)]
    witness: RawWitness,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWitness {
    quorum: RawQuorum,
    interval_ms: u64,
    record_interval_ms: u64,
    submit_timeout_ms: u64,
    ca_file: Option<PathBuf>,
}

/// `witness.quorum`: a number (peers only), or `{ peers = N, independent = M }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawQuorum {
    Peers(usize),
    Split {
        peers: usize,
        #[serde(default)]
        independent: usize,
    },
}

impl Default for RawWitness {
    fn default() -> Self {
        Self {
            submit_timeout_ms: 10_000,
            ca_file: None,
            quorum: RawQuorum::Peers(1),
            interval_ms: 10_000,
            record_interval_ms: 300_000,
        }
    }
}

/// Witnessing (C2SP tlog-witness between the federation's nodes, and to the roster's
/// independent witnesses).
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// How many other nodes must cosign a checkpoint before it is published
    /// (`witness.quorum`, or `witness.quorum.peers`).
    pub quorum: usize,
    /// How many of the roster's independent witnesses must cosign it too
    /// (`witness.quorum.independent`, default 0).
    pub independent_quorum: usize,
    /// How long one submission to an independent witness may take.
    pub submit_timeout: Duration,
    /// Extra CA certificates (PEM) trusted for `https://` independent witnesses, besides
    /// the system's (`witness.ca_file`).
    pub ca_pem: Vec<u8>,
    /// How often to ask peers to cosign the latest checkpoint (also after each receipt).
    pub interval: Duration,
    /// How often, at most, this node records in its own log what it cosigned as a witness
    /// (one `witnessed_checkpoints` entry for every log that moved). Recording grows the
    /// log, which its peers then cosign and record in turn: the interval bounds that
    /// exchange to one entry per node per interval.
    pub record_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    request_timeout_ms: u64,
    idle_timeout_ms: u64,
    retry_initial_ms: u64,
    retry_max_ms: u64,
    max_frame_bytes: usize,
    max_streams_per_connection: u32,
    max_connections: usize,
    max_connections_per_peer: usize,
    max_connections_per_application: usize,
    max_pending_handshakes: usize,
    max_pending_handshakes_per_address: usize,
    handshake_timeout_ms: u64,
    read_timeout_ms: u64,
    max_bytes_in_flight: usize,
    max_bytes_in_flight_per_connection: usize,
    clock_skew_ms: u64,
    disk_reserve_bytes: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            request_timeout_ms: millis(limits.request_timeout),
            idle_timeout_ms: millis(limits.idle_timeout),
            retry_initial_ms: millis(limits.retry_initial),
            retry_max_ms: millis(limits.retry_max),
            max_frame_bytes: limits.max_frame_bytes,
            max_streams_per_connection: limits.max_streams_per_connection,
            max_connections: limits.max_connections,
            max_connections_per_peer: limits.max_connections_per_peer,
            max_connections_per_application: limits.max_connections_per_application,
            max_pending_handshakes: limits.max_pending_handshakes,
            max_pending_handshakes_per_address: limits.max_pending_handshakes_per_address,
            handshake_timeout_ms: millis(limits.handshake_timeout),
            read_timeout_ms: millis(limits.read_timeout),
            max_bytes_in_flight: limits.max_bytes_in_flight,
            max_bytes_in_flight_per_connection: limits.max_bytes_in_flight_per_connection,
            clock_skew_ms: millis(limits.clock_skew),
            disk_reserve_bytes: limits.disk_reserve_bytes,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Timeouts and resource limits: every budget of a node, with its default here and in
/// `spec/protocol.md` §10–11.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a request to a peer may take.
    pub request_timeout: Duration,
    /// A connection idle this long is closed.
    pub idle_timeout: Duration,
    /// First retry delay for an undelivered envelope.
    pub retry_initial: Duration,
    /// Longest retry delay (the backoff doubles up to this).
    pub retry_max: Duration,
    /// Largest frame accepted (at most `streha_wire::MAX_FRAME_LEN`).
    pub max_frame_bytes: usize,
    /// Most concurrent streams per connection.
    pub max_streams_per_connection: u32,
    /// Most concurrent authenticated connections per endpoint; more are closed right after
    /// their handshake. Handshakes in progress do not count (see `max_pending_handshakes`).
    pub max_connections: usize,
    /// Most concurrent connections of one peer node's key on the peer endpoint (a node
    /// keeps one connection to each peer).
    pub max_connections_per_peer: usize,
    /// Most concurrent connections of one application key on the application endpoint
    /// (an agency may run several processes of one enrolled application).
    pub max_connections_per_application: usize,
    /// Most handshakes in progress per endpoint. Above half of it, a client whose address
    /// is not validated is sent a QUIC Retry first (RFC 9000 §8.1.2), so that attempts
    /// from spoofed addresses cost no state; at it, attempts are refused.
    pub max_pending_handshakes: usize,
    /// Most handshakes in progress from one validated IP address per endpoint.
    pub max_pending_handshakes_per_address: usize,
    /// A handshake not complete within this is abandoned.
    pub handshake_timeout: Duration,
    /// A request must arrive whole within this from the opening of its stream, and its
    /// answer be taken within this again; otherwise the stream is closed.
    pub read_timeout: Duration,
    /// Bytes of frames in flight (requests being read and handled, answers being sent)
    /// over all connections of the node.
    pub max_bytes_in_flight: usize,
    /// Bytes of frames in flight on one connection; at least one largest frame.
    pub max_bytes_in_flight_per_connection: usize,
    /// How far a time an application states (a disclosure's `created_at`, a consent's
    /// `recorded_at`, a revocation's `revoked_at`) may be from this node's clock; at most
    /// [`streha_core::MAX_CLOCK_SKEW_MS`].
    pub clock_skew: Duration,
    /// Free space kept on the data directory's file system: below it, new disclosures and
    /// deliveries are refused (`Unavailable: disk nearly full`) so that a batch never meets
    /// a full disk; receipts, consent changes, re-keying and reads go on. 0 turns it off.
    pub disk_reserve_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            retry_initial: Duration::from_millis(250),
            retry_max: Duration::from_secs(30),
            max_frame_bytes: streha_wire::MAX_FRAME_LEN,
            max_streams_per_connection: streha_wire::limits::MAX_STREAMS_PER_CONNECTION,
            max_connections: 256,
            max_connections_per_peer: 4,
            max_connections_per_application: 64,
            max_pending_handshakes: 128,
            max_pending_handshakes_per_address: 16,
            handshake_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            max_bytes_in_flight: streha_wire::limits::MAX_BYTES_IN_FLIGHT,
            max_bytes_in_flight_per_connection:
                streha_wire::limits::MAX_BYTES_IN_FLIGHT_PER_CONNECTION,
            clock_skew: Duration::from_millis(streha_core::MAX_CLOCK_SKEW_MS),
            // Room for the largest batches (frames of up to 4 MiB, many per batch) and for
            // sled's own rewriting, with margin; a node refusing new work at 256 MiB free
            // still has room to log receipts and consent changes for a long time.
            disk_reserve_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The smallest QUIC receive window a node sets, however many connections it allows.
const MIN_RECEIVE_WINDOW: u64 = 64 * 1024;

impl Limits {
    /// The QUIC limits of the node's endpoints (serving and dialling). A connection's
    /// receive window is the node's budget of bytes in flight shared among its connections
    /// (at least 64 KiB, at most a connection's own budget), so that what
    /// QUIC buffers for all connections together stays within the budget as well.
    pub fn transport(&self) -> streha_transport::TransportLimits {
        let connections = u64::try_from(self.max_connections.max(1)).unwrap_or(u64::MAX);
        let total = u64::try_from(self.max_bytes_in_flight).unwrap_or(u64::MAX);
        let own = u64::try_from(self.max_bytes_in_flight_per_connection).unwrap_or(u64::MAX);
        let mut limits = streha_transport::TransportLimits::default();
        limits.idle_timeout = self.idle_timeout;
        limits.keep_alive = self.idle_timeout / 3;
        limits.max_concurrent_streams = self.max_streams_per_connection;
        limits.receive_window =
            (total / connections).clamp(MIN_RECEIVE_WINDOW, own.max(MIN_RECEIVE_WINDOW));
        limits.send_window = own;
        limits.max_incoming = self.max_pending_handshakes;
        limits
    }
}

/// A loaded, validated node configuration.
#[derive(Debug)]
pub struct NodeConfig {
    /// This node's agency.
    pub agency: AgencyId,
    /// Where to listen for peer nodes.
    pub listen: SocketAddr,
    /// Where to listen for applications.
    pub app_listen: SocketAddr,
    /// The store's directory.
    pub data_dir: PathBuf,
    /// The signed roster file.
    pub roster_path: PathBuf,
    /// The national authority's roster public key.
    pub roster_key: RosterPublicKey,
    /// The node identity key.
    pub node_key: NodeIdentitySecretKey,
    /// Enrolled applications: name → key.
    pub applications: BTreeMap<String, ApplicationPublicKey>,
    /// Where to serve `/metrics` and `/health` (loopback only), if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Witnessing.
    pub witness: WitnessConfig,
    /// Limits.
    pub limits: Limits,
}

impl NodeConfig {
    /// Reads and validates `path`, loading the keys it names.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad field.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            field: "-".into(),
            problem: format!("cannot read the file: {e}"),
        })?;
        // Each error points at the field's line, which shows the value as written.
        let error = |field: &str, problem: String| ConfigError {
            path: path.to_path_buf(),
            field: field.to_owned(),
            problem: match locate_key(&text, field) {
                Some((line, source)) => format!("line {line} (`{source}`): {problem}"),
                None => problem,
            },
        };
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            error(
                "-",
                format!(
                    "not a valid node configuration: {}",
                    toml_error_detail(&text, &e)
                ),
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        let agency = AgencyId::new(&raw.agency).map_err(|e| error("agency", e.to_string()))?;
        let address = |field: &str, value: &str| -> Result<SocketAddr, ConfigError> {
            value.parse().map_err(|_| {
                error(
                    field,
                    format!("`{value}` is not an IP address and port, e.g. 127.0.0.1:7401"),
                )
            })
        };
        let listen = address("listen", &raw.listen)?;
        let app_listen = address("app_listen", &raw.app_listen)?;
        if listen == app_listen && listen.port() != 0 {
            return Err(error(
                "app_listen",
                "must differ from `listen`: applications and peers use separate endpoints".into(),
            ));
        }
        // Key files are read into zeroizing buffers: the node key's file holds the secret.
        let read_key =
            |field: &str, p: &Path, secret: bool| -> Result<Zeroizing<String>, ConfigError> {
                let full = resolve(p);
                if secret {
                    check_secret_permissions(&full).map_err(|problem| error(field, problem))?;
                }
                read_key_file(&full)
                    .map_err(|e| error(field, format!("cannot read {}: {e}", full.display())))
            };
        let node_key =
            NodeIdentitySecretKey::from_key_file(&read_key("node_key", &raw.node_key, true)?)
                .map_err(|e| {
                    error(
                        "node_key",
                        format!("{e}; expected a node-identity secret key file"),
                    )
                })?;
        let roster_key =
            RosterPublicKey::from_key_file(&read_key("roster_key", &raw.roster_key, false)?)
                .map_err(|e| {
                    error(
                        "roster_key",
                        format!("{e}; expected a roster public key file"),
                    )
                })?;
        let mut applications = BTreeMap::new();
        for (name, key_path) in &raw.applications {
            let field = format!("applications.{name}");
            let key = ApplicationPublicKey::from_key_file(&read_key(&field, key_path, false)?)
                .map_err(|e| {
                    error(
                        &field,
                        format!("{e}; expected an application public key file"),
                    )
                })?;
            applications.insert(name.clone(), key);
        }

        let metrics_listen = match raw.metrics_listen.as_deref() {
            None => None,
            Some(text) => {
                let address = address("metrics_listen", text)?;
                if !address.ip().is_loopback() {
                    return Err(error(
                        "metrics_listen",
                        format!(
                            "`{text}` is not a loopback address; metrics are served on 127.0.0.1 or ::1 only"
                        ),
                    ));
                }
                Some(address)
            }
        };
        let (peers_quorum, independent_quorum) = match raw.witness.quorum {
            RawQuorum::Peers(peers) => (peers, 0),
            RawQuorum::Split { peers, independent } => (peers, independent),
        };
        if peers_quorum == 0 {
            return Err(error(
                "witness.quorum",
                "must be at least 1: with 0, every checkpoint would be published without any witness"
                    .into(),
            ));
        }
        let witness = WitnessConfig {
            quorum: peers_quorum,
            independent_quorum,
            submit_timeout: positive_ms(raw.witness.submit_timeout_ms)
                .map_err(|problem| error("witness.submit_timeout_ms", problem))?,
            ca_pem: match &raw.witness.ca_file {
                None => Vec::new(),
                Some(file) => {
                    let file = base.join(file);
                    let pem = std::fs::read(&file).map_err(|e| {
                        error(
                            "witness.ca_file",
                            format!("cannot read {}: {e}", file.display()),
                        )
                    })?;
                    streha_witness::client::Tls::new(&pem)
                        .map_err(|e| error("witness.ca_file", e.to_string()))?;
                    pem
                }
            },
            interval: positive_ms(raw.witness.interval_ms)
                .map_err(|problem| error("witness.interval_ms", problem))?,
            record_interval: positive_ms(raw.witness.record_interval_ms)
                .map_err(|problem| error("witness.record_interval_ms", problem))?,
        };

        let l = raw.limits;
        let positive = |field: &str, ms: u64| -> Result<Duration, ConfigError> {
            if ms == 0 {
                Err(error(field, "must be greater than zero".into()))
            } else {
                Ok(Duration::from_millis(ms))
            }
        };
        let nonzero = |field: &str, n: usize| -> Result<usize, ConfigError> {
            if n == 0 {
                Err(error(field, "must be greater than zero".into()))
            } else {
                Ok(n)
            }
        };
        let limits = Limits {
            request_timeout: positive("limits.request_timeout_ms", l.request_timeout_ms)?,
            idle_timeout: positive("limits.idle_timeout_ms", l.idle_timeout_ms)?,
            retry_initial: positive("limits.retry_initial_ms", l.retry_initial_ms)?,
            retry_max: positive("limits.retry_max_ms", l.retry_max_ms)?,
            max_frame_bytes: match l.max_frame_bytes {
                n if (1024..=streha_wire::MAX_FRAME_LEN).contains(&n) => n,
                _ => {
                    return Err(error(
                        "limits.max_frame_bytes",
                        format!("must be between 1024 and {}", streha_wire::MAX_FRAME_LEN),
                    ));
                }
            },
            max_streams_per_connection: match l.max_streams_per_connection {
                0 => {
                    return Err(error(
                        "limits.max_streams_per_connection",
                        "must be greater than zero".into(),
                    ));
                }
                n => n,
            },
            max_connections: match l.max_connections {
                0 => {
                    return Err(error(
                        "limits.max_connections",
                        "must be greater than zero".into(),
                    ));
                }
                n => n,
            },
            max_connections_per_peer: nonzero(
                "limits.max_connections_per_peer",
                l.max_connections_per_peer,
            )?,
            max_connections_per_application: nonzero(
                "limits.max_connections_per_application",
                l.max_connections_per_application,
            )?,
            max_pending_handshakes: match l.max_pending_handshakes {
                n if n >= 2 => n,
                n => {
                    return Err(error(
                        "limits.max_pending_handshakes",
                        format!(
                            "{n} is too small: must be at least 2 (half are kept for clients whose address is validated)"
                        ),
                    ));
                }
            },
            max_pending_handshakes_per_address: nonzero(
                "limits.max_pending_handshakes_per_address",
                l.max_pending_handshakes_per_address,
            )?,
            handshake_timeout: positive("limits.handshake_timeout_ms", l.handshake_timeout_ms)?,
            read_timeout: positive("limits.read_timeout_ms", l.read_timeout_ms)?,
            max_bytes_in_flight: l.max_bytes_in_flight,
            max_bytes_in_flight_per_connection: l.max_bytes_in_flight_per_connection,
            clock_skew: match positive("limits.clock_skew_ms", l.clock_skew_ms)? {
                skew if skew > Duration::from_millis(streha_core::MAX_CLOCK_SKEW_MS) => {
                    return Err(error(
                        "limits.clock_skew_ms",
                        format!(
                            "must be at most {}, the protocol's clock-skew bound: entries dated further from the node's clock would not verify",
                            streha_core::MAX_CLOCK_SKEW_MS
                        ),
                    ));
                }
                skew => skew,
            },
            disk_reserve_bytes: l.disk_reserve_bytes,
        };
        let frame = limits.max_frame_bytes + streha_wire::frame::PREFIX_LEN;
        if limits.max_bytes_in_flight_per_connection < frame {
            return Err(error(
                "limits.max_bytes_in_flight_per_connection",
                format!(
                    "{} is too small: a connection must be able to hold one frame of limits.max_frame_bytes ({frame} bytes with its prefix)",
                    limits.max_bytes_in_flight_per_connection
                ),
            ));
        }
        if limits.max_bytes_in_flight < limits.max_bytes_in_flight_per_connection {
            return Err(error(
                "limits.max_bytes_in_flight",
                format!(
                    "{} is smaller than limits.max_bytes_in_flight_per_connection ({}); it is the budget of all connections together",
                    limits.max_bytes_in_flight, limits.max_bytes_in_flight_per_connection
                ),
            ));
        }
        if limits.retry_max < limits.retry_initial {
            return Err(error(
                "limits.retry_max_ms",
                "must be at least limits.retry_initial_ms".into(),
            ));
        }

        Ok(Self {
            agency,
            listen,
            app_listen,
            data_dir: resolve(&raw.data_dir),
            roster_path: resolve(&raw.roster),
            roster_key,
            node_key,
            applications,
            metrics_listen,
            witness,
            limits,
        })
    }
}

/// The line (from 1) of the key `dotted` (`limits.retry_max_ms`: key `retry_max_ms` under
/// `[limits]`, or written as a dotted key), and that line's text.
fn locate_key(text: &str, dotted: &str) -> Option<(usize, String)> {
    let (table, key) = match dotted.split_once('.') {
        Some((table, key)) => (Some(table), key),
        None => (None, dotted),
    };
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            current = Some(header.trim().to_owned());
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches('"');
        let found = match (table, current.as_deref()) {
            (None, None) => k == key,
            (Some(table), Some(current)) => current == table && k == key,
            (Some(_), None) => k == dotted,
            (None, Some(_)) => false,
        };
        if found {
            return Some((i + 1, line.chars().take(120).collect()));
        }
    }
    None
}

/// A TOML error as `line L, column C: `<that line>`: <what>`.
fn toml_error_detail(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    let Some(span) = error.span() else {
        return message.to_owned();
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..line_start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let line: String = text[line_start..]
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(120)
        .collect();
    format!("line {line_no}, column {column}: `{line}`: {message}")
}

/// Reads a key file into a buffer that is zeroized when dropped, sized once from the file's
/// length (a growing `String` would leave copies of the secret behind in freed memory), and
/// refusing a file larger than any key file.
fn read_key_file(path: &Path) -> std::io::Result<Zeroizing<String>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    if len > streha_crypto::MAX_KEY_FILE_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{len} bytes is larger than any key file ({} bytes at most)",
                streha_crypto::MAX_KEY_FILE_LEN
            ),
        ));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(len + 1));
    file.take(streha_crypto::MAX_KEY_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > streha_crypto::MAX_KEY_FILE_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file grew while it was read; larger than any key file",
        ));
    }
    let text = String::from_utf8(std::mem::take(&mut *bytes)).map_err(|e| {
        // Keep the bytes zeroizing on this path too.
        let _ = Zeroizing::new(e.into_bytes());
        std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")
    })?;
    Ok(Zeroizing::new(text))
}

fn positive_ms(ms: u64) -> Result<Duration, String> {
    if ms == 0 {
        Err("must be greater than zero".into())
    } else {
        Ok(Duration::from_millis(ms))
    }
}

/// A secret key file must be readable by its owner only.
#[cfg(unix)]
fn check_secret_permissions(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by other users (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_secret_permissions(_path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::NodeConfig;

    /// Every `node.toml` error names the file, the field, its line and the value as written
    /// (issue 18 point 7).
    #[test]
    fn errors_name_file_field_line_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let base = "agency = \"police\"\nlisten = \"127.0.0.1:7401\"\n\
                    app_listen = \"127.0.0.1:7411\"\ndata_dir = \"data\"\n\
                    roster = \"roster.note\"\nroster_key = \"roster.pub\"\nnode_key = \"node.key\"\n\n\
                    [witness]\nquorum = 1\n";
        let error = |text: &str| {
            std::fs::write(&path, text).unwrap();
            NodeConfig::load(&path).unwrap_err().to_string()
        };
        let e = error(&base.replace("127.0.0.1:7401", "police.example:7401"));
        assert!(e.contains("node.toml: `listen`: line 2"), "{e}");
        assert!(e.contains("`listen = \"police.example:7401\"`"), "{e}");
        let e = error(&base.replace("quorum = 1", "quorom = 1"));
        assert!(e.contains("node.toml: `-`"), "{e}");
        assert!(e.contains("line 10, column 1: `quorom = 1`"), "{e}");
        assert!(e.contains("quorum"), "{e}");
        let e = error(&base.replace("\"police\"", "\"Police\""));
        assert!(
            e.contains("`agency`: line 1 (`agency = \"Police\"`)"),
            "{e}"
        );
        let e = error(&base.replace("listen = \"127.0.0.1:7401\"", "listen = 7401"));
        assert!(e.contains("line 2, column 10: `listen = 7401`"), "{e}");
    }
}
