//! The service's configuration file, `api.toml` (`spec/protocol.md` §12).
//!
//! ```toml
//! profile = "client.toml"          # the agency application's client profile: node, keys
//! listen = "127.0.0.1:8480"        # loopback only; or instead:
//! # socket = "/run/streha/api.sock" # a Unix socket, created owner-only (0600)
//! state_dir = "api-state"          # the idempotency records (no record content)
//!
//! [limits]                         # all optional, defaults in `streha_api::limits`
//! max_body_bytes = 2097152
//! max_connections = 64
//! request_timeout_ms = 120000
//! idempotency_retention_hours = 168
//!
//! [[callers]]                      # written by `streha api token add`
//! name = "intake"
//! token_sha256 = "<64 hex: SHA-256 of the token>"
//! scopes = ["subjects", "consent"]
//! ```
//!
//! Relative paths are resolved against the file's directory. Unknown fields are errors.
//!
//! **Loopback only.** The service holds the agency's signing and encryption keys, like any
//! application of the agency: it belongs on the host of the case-management system that
//! calls it. It listens on a Unix socket or on a loopback address, and refuses any other
//! address; there is no switch to force it. A caller on another host reaches it through
//! a channel the operator already authenticates (an SSH tunnel, or a TLS proxy with client
//! certificates on the service's host), never over an open port.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::{Caller, CallerName, Callers, Scope, TokenHash};
use crate::limits::{
    DEFAULT_IDEMPOTENCY_RETENTION, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT, MAX_BODY_BYTES_CEILING, MAX_CALLERS, MAX_CONFIG_LEN,
};

/// Why the configuration (or the client profile it names) cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than any configuration can be.
    #[error("{} is larger than {max} bytes; is it the right file?", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the field).
        message: String,
    },
    /// A field has a value that cannot be used.
    #[error("{}: `{field}`: {problem}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The client profile or a key file it names cannot be loaded (the client library's
    /// own error: it names the file and the field).
    #[error(transparent)]
    Profile(#[from] streha_client::ProfileError),
    /// The file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Where the service listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A loopback TCP address (port 0: chosen by the operating system).
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// The budgets of a running service (defaults in [`crate::limits`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body.
    pub max_body_bytes: usize,
    /// Concurrent connections.
    pub max_connections: usize,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// How long a remembered submission is kept.
    pub idempotency_retention: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            idempotency_retention: DEFAULT_IDEMPOTENCY_RETENTION,
        }
    }
}

/// A loaded and checked configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The configuration file (for `token add` and messages).
    pub file: PathBuf,
    /// The client profile (resolved).
    pub profile: PathBuf,
    /// Where to listen.
    pub endpoint: Endpoint,
    /// The idempotency records' directory (resolved).
    pub state_dir: PathBuf,
    /// The budgets.
    pub limits: Limits,
    /// Who may call.
    pub callers: Callers,
}

/// The file format.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    pub(crate) profile: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) listen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) socket: Option<PathBuf>,
    pub(crate) state_dir: PathBuf,
    #[serde(default)]
    pub(crate) limits: LimitsFile,
    #[serde(default)]
    pub(crate) callers: Vec<CallerFile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_body_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_connections: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_retention_hours: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallerFile {
    pub(crate) name: String,
    pub(crate) token_sha256: String,
    pub(crate) scopes: Vec<String>,
}

/// Reads at most `max` bytes of a UTF-8 file.
pub(crate) fn read_bounded(path: &Path, max: usize) -> Result<String, ConfigError> {
    let read = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() > max {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
            max,
        });
    }
    String::from_utf8(bytes).map_err(|_| ConfigError::Parse {
        path: path.to_owned(),
        message: "not UTF-8 text".into(),
    })
}

impl ConfigFile {
    pub(crate) fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = read_bounded(path, MAX_CONFIG_LEN)?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })
    }
}

/// Whether the service may listen on `address`: a loopback address only.
pub fn is_allowed_address(address: &SocketAddr) -> bool {
    address.ip().is_loopback()
}

impl ApiConfig {
    /// Loads and checks `path`. The client profile it names is not loaded here (the
    /// service loads it when it starts).
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the field at fault.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_file(path, ConfigFile::read(path)?)
    }

    pub(crate) fn from_file(path: &Path, file: ConfigFile) -> Result<Self, ConfigError> {
        let field = |name: &'static str, problem: String| ConfigError::Field {
            path: path.to_owned(),
            field: name,
            problem,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let endpoint = match (&file.listen, &file.socket) {
            (Some(_), Some(_)) => {
                return Err(field(
                    "socket",
                    "give either `listen` (a loopback address) or `socket` (a Unix socket path), not both".into(),
                ));
            }
            (None, None) => {
                return Err(field(
                    "listen",
                    "missing: give `listen` (a loopback address, e.g. 127.0.0.1:8480) or `socket` (a Unix socket path)".into(),
                ));
            }
            (Some(listen), None) => {
                let address: SocketAddr = listen.parse().map_err(|_| {
                    field(
                        "listen",
                        format!("`{listen}` is not an IP address and port, e.g. 127.0.0.1:8480"),
                    )
                })?;
                if !is_allowed_address(&address) {
                    return Err(field(
                        "listen",
                        format!(
                            "{address} is not a loopback address; the service holds the agency's keys and serves only this host (127.0.0.1, ::1, or a Unix socket); callers elsewhere come through an SSH tunnel or a TLS proxy with client certificates on this host"
                        ),
                    ));
                }
                Endpoint::Tcp(address)
            }
            (None, Some(socket)) => Endpoint::Unix(resolve(socket)),
        };
        let defaults = Limits::default();
        let positive = |name: &'static str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(field(name, "must be greater than zero".into())),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        let max_body_bytes = match file.limits.max_body_bytes {
            None => defaults.max_body_bytes,
            Some(n) if (1024..=MAX_BODY_BYTES_CEILING).contains(&n) => n,
            Some(_) => {
                return Err(field(
                    "limits.max_body_bytes",
                    format!("must be 1024 ..= {MAX_BODY_BYTES_CEILING}"),
                ));
            }
        };
        let max_connections = positive(
            "limits.max_connections",
            file.limits.max_connections.map(|n| n as u64),
            defaults.max_connections as u64,
        )? as usize;
        let request_timeout = Duration::from_millis(positive(
            "limits.request_timeout_ms",
            file.limits.request_timeout_ms,
            defaults.request_timeout.as_millis() as u64,
        )?);
        let idempotency_retention = Duration::from_secs(
            positive(
                "limits.idempotency_retention_hours",
                file.limits.idempotency_retention_hours,
                defaults.idempotency_retention.as_secs() / 3600,
            )?
            .saturating_mul(3600),
        );
        if file.callers.len() > MAX_CALLERS {
            return Err(field(
                "callers",
                format!("at most {MAX_CALLERS} callers; remove unused ones"),
            ));
        }
        let mut callers: Vec<Caller> = Vec::with_capacity(file.callers.len());
        for entry in &file.callers {
            let name = CallerName::new(&entry.name)
                .map_err(|e| field("callers.name", format!("`{}`: {e}", entry.name)))?;
            if callers.iter().any(|c| c.name == name) {
                return Err(field(
                    "callers.name",
                    format!("`{name}` appears twice; caller names are unique"),
                ));
            }
            let token = TokenHash::from_hex(&entry.token_sha256).ok_or_else(|| {
                field(
                    "callers.token_sha256",
                    format!(
                        "caller `{name}`: not 64 lowercase hex digits; create tokens with `streha api token add`"
                    ),
                )
            })?;
            if callers.iter().any(|c| c.token == token) {
                return Err(field(
                    "callers.token_sha256",
                    format!("caller `{name}` shares its token with another caller"),
                ));
            }
            let mut scopes = Vec::new();
            for scope in &entry.scopes {
                let scope: Scope = scope
                    .parse()
                    .map_err(|e| field("callers.scopes", format!("caller `{name}`: {e}")))?;
                if !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
            callers.push(Caller {
                name,
                token,
                scopes,
            });
        }
        Ok(Self {
            file: path.to_owned(),
            profile: resolve(&file.profile),
            endpoint,
            state_dir: resolve(&file.state_dir),
            limits: Limits {
                max_body_bytes,
                max_connections,
                request_timeout,
                idempotency_retention,
            },
            callers: Callers::new(callers),
        })
    }
}

/// Writes `text` to `path` atomically (a temporary file in the same directory, flushed,
/// then renamed), owner-only.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), ConfigError> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let write = |source| ConfigError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let mut temp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new("."))).map_err(write)?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(write)?;
    temp.write_all(text.as_bytes()).map_err(write)?;
    temp.as_file().sync_all().map_err(write)?;
    temp.persist(path).map_err(|e| write(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ApiConfig, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "api.toml".into(),
            message: e.message().to_owned(),
        })?;
        ApiConfig::from_file(Path::new("/etc/streha/api.toml"), file)
    }

    const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn a_minimal_configuration_loads_with_the_defaults() {
        let config = load(&format!(
            "profile = \"client.toml\"\nlisten = \"127.0.0.1:8480\"\nstate_dir = \"state\"\n\
             [[callers]]\nname = \"intake\"\ntoken_sha256 = \"{HASH}\"\nscopes = [\"subjects\", \"consent\", \"consent\"]\n"
        ))
        .unwrap();
        assert_eq!(config.profile, Path::new("/etc/streha/client.toml"));
        assert_eq!(config.state_dir, Path::new("/etc/streha/state"));
        assert_eq!(
            config.endpoint,
            Endpoint::Tcp("127.0.0.1:8480".parse().unwrap())
        );
        assert_eq!(config.limits, Limits::default());
        let caller = config.callers.iter().next().unwrap();
        assert_eq!(caller.scopes, vec![Scope::Subjects, Scope::Consent]);
    }

    #[test]
    fn non_loopback_addresses_are_refused() {
        for address in ["0.0.0.0:8480", "10.0.0.5:8480", "[::]:8480"] {
            let err = load(&format!(
                "profile = \"c.toml\"\nlisten = \"{address}\"\nstate_dir = \"s\"\n"
            ))
            .unwrap_err();
            assert!(err.to_string().contains("not a loopback address"), "{err}");
        }
        assert!(load("profile = \"c.toml\"\nlisten = \"[::1]:1\"\nstate_dir = \"s\"\n").is_ok());
        let unix =
            load("profile = \"c.toml\"\nsocket = \"api.sock\"\nstate_dir = \"s\"\n").unwrap();
        assert_eq!(unix.endpoint, Endpoint::Unix("/etc/streha/api.sock".into()));
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            ("profile = \"c\"\nstate_dir = \"s\"\n", "`listen`"),
            (
                "profile = \"c\"\nlisten = \"127.0.0.1:1\"\nsocket = \"x\"\nstate_dir = \"s\"\n",
                "not both",
            ),
            (
                "profile = \"c\"\nlisten = \"127.0.0.1:1\"\nstate_dir = \"s\"\n[limits]\nmax_body_bytes = 1\n",
                "`limits.max_body_bytes`",
            ),
            (
                "profile = \"c\"\nlisten = \"127.0.0.1:1\"\nstate_dir = \"s\"\n[limits]\nmax_connections = 0\n",
                "`limits.max_connections`",
            ),
            (
                "profile = \"c\"\nlisten = \"127.0.0.1:1\"\nstate_dir = \"s\"\n[[callers]]\nname = \"a\"\ntoken_sha256 = \"xy\"\nscopes = []\n",
                "`callers.token_sha256`",
            ),
            (
                "profile = \"c\"\nlisten = \"127.0.0.1:1\"\nstate_dir = \"s\"\n[[callers]]\nname = \"a\"\ntoken_sha256 = \"0000000000000000000000000000000000000000000000000000000000000001\"\nscopes = [\"root\"]\n",
                "unknown scope `root`",
            ),
            (
                "profile = \"c\"\nlisten = \"127.0.0.1:1\"\nstate_dir = \"s\"\nsurprise = 1\n",
                "surprise",
            ),
        ];
        for (text, expected) in cases {
            let err = load(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
