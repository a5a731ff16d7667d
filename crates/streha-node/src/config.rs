//! `node.toml`: the one configuration file of a node. Relative paths are resolved against
//! the file's directory. Every error names the field and says what to do.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use streha_core::AgencyId;
use streha_crypto::{ApplicationPublicKey, NodeIdentitySecretKey, RosterPublicKey};

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
    quorum: usize,
    interval_ms: u64,
}

impl Default for RawWitness {
    fn default() -> Self {
        Self {
            quorum: 1,
            interval_ms: 10_000,
        }
    }
}

/// Witnessing (C2SP tlog-witness between the federation's nodes).
#[derive(Debug, Clone, Copy)]
pub struct WitnessConfig {
    /// How many other nodes must cosign a checkpoint before it is published.
    pub quorum: usize,
    /// How often to ask peers to cosign the latest checkpoint (also after each receipt).
    pub interval: Duration,
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
            clock_skew_ms: millis(limits.clock_skew),
            disk_reserve_bytes: limits.disk_reserve_bytes,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Timeouts and resource limits.
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
    /// Most concurrent connections per endpoint; more are refused.
    pub max_connections: usize,
    /// How far a disclosure's creation time may be from this node's clock.
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
            max_streams_per_connection: 64,
            max_connections: 256,
            clock_skew: Duration::from_secs(300),
            // Room for the largest batches (frames of up to 4 MiB, many per batch) and for
            // sled's own rewriting, with margin; a node refusing new work at 256 MiB free
            // still has room to log receipts and consent changes for a long time.
            disk_reserve_bytes: 256 * 1024 * 1024,
        }
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
        let error = |field: &str, problem: String| ConfigError {
            path: path.to_path_buf(),
            field: field.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| error("-", format!("cannot read the file: {e}")))?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            error(
                "-",
                format!("not a valid node configuration: {}", e.message()),
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
        let read_key = |field: &str, p: &Path, secret: bool| -> Result<String, ConfigError> {
            let full = resolve(p);
            if secret {
                check_secret_permissions(&full).map_err(|problem| error(field, problem))?;
            }
            std::fs::read_to_string(&full)
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
        if raw.witness.quorum == 0 {
            return Err(error(
                "witness.quorum",
                "must be at least 1: with 0, every checkpoint would be published without any witness"
                    .into(),
            ));
        }
        let witness = WitnessConfig {
            quorum: raw.witness.quorum,
            interval: positive_ms(raw.witness.interval_ms)
                .map_err(|problem| error("witness.interval_ms", problem))?,
        };

        let l = raw.limits;
        let positive = |field: &str, ms: u64| -> Result<Duration, ConfigError> {
            if ms == 0 {
                Err(error(field, "must be greater than zero".into()))
            } else {
                Ok(Duration::from_millis(ms))
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
            clock_skew: positive("limits.clock_skew_ms", l.clock_skew_ms)?,
            disk_reserve_bytes: l.disk_reserve_bytes,
        };
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
