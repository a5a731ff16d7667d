//! What a client needs to know: where its node is, which keys it holds — given directly,
//! as key files, or as a client profile (`client.toml`).

use std::fmt;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use streha_core::AgencyId;
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningSecretKey, ApplicationSecretKey, KeyFileError,
    MAX_KEY_FILE_LEN, NodeIdentityPublicKey, RosterPublicKey,
};
use zeroize::Zeroizing;

use crate::error::ClientError;

/// The request timeout of [`ClientConfig::from_key_files`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the agency's node and which keys the application holds.
///
/// The application holds the agency's signing and encryption keys (the node holds neither:
/// it never sees record content) and its own application key, which must be enrolled in the
/// node's configuration. `Debug` prints key fingerprints, never key bytes.
pub struct ClientConfig {
    /// The node's application endpoint (ALPN `streha-app/1`).
    pub node_address: SocketAddr,
    /// The node's identity key: the only server key the client accepts (pinned, no CA), and
    /// the key that signs the node's checkpoints. Must match the roster.
    pub node_key: NodeIdentityPublicKey,
    /// This application's agency.
    pub agency: AgencyId,
    /// This application's key, enrolled in the node's configuration (QUIC client identity).
    pub application_key: ApplicationSecretKey,
    /// The agency's envelope signing key. Must match the roster.
    pub signing_key: AgencySigningSecretKey,
    /// The agency's envelope encryption key. Must match the roster.
    pub encryption_key: AgencyEncryptionSecretKey,
    /// The national authority's roster key: the roster is accepted only under it.
    pub roster_key: RosterPublicKey,
    /// How long one request (and the handshake) may take.
    pub request_timeout: Duration,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("node_address", &self.node_address)
            .field("node_key", &self.node_key)
            .field("agency", &self.agency)
            .field(
                "application_key",
                &self.application_key.fingerprint().short(),
            )
            .field("signing_key", &self.signing_key.fingerprint().short())
            .field("encryption_key", &self.encryption_key.fingerprint().short())
            .field("roster_key", &self.roster_key)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// The key files a client loads (`spec/keys.md` format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFilePaths {
    /// This application's secret key (`application` kind).
    pub application: PathBuf,
    /// The agency's secret signing key (`agency-signing` kind).
    pub signing: PathBuf,
    /// The agency's secret encryption key (`agency-encryption` kind).
    pub encryption: PathBuf,
    /// The node's public identity key (`node-identity` kind).
    pub node: PathBuf,
    /// The national authority's public roster key (`roster` kind).
    pub roster: PathBuf,
}

impl ClientConfig {
    /// A configuration from key files, with [`DEFAULT_REQUEST_TIMEOUT`].
    ///
    /// Secret key files are read into buffers that are zeroized on drop.
    ///
    /// # Errors
    /// [`ClientError::ReadKeyFile`] if a file cannot be read (or is larger than a key file
    /// can be), [`ClientError::KeyFile`] if it is not a key file of the expected kind and part.
    pub fn from_key_files(
        node_address: SocketAddr,
        agency: AgencyId,
        paths: &KeyFilePaths,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            node_address,
            node_key: load(&paths.node, NodeIdentityPublicKey::from_key_file_bytes)?,
            agency,
            application_key: load(
                &paths.application,
                ApplicationSecretKey::from_key_file_bytes,
            )?,
            signing_key: load(&paths.signing, AgencySigningSecretKey::from_key_file_bytes)?,
            encryption_key: load(
                &paths.encryption,
                AgencyEncryptionSecretKey::from_key_file_bytes,
            )?,
            roster_key: load(&paths.roster, RosterPublicKey::from_key_file_bytes)?,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }
}

/// The largest client profile read, in bytes.
pub const MAX_PROFILE_LEN: usize = 64 * 1024;

/// A client profile, `client.toml`: where the agency's node is and which key files the
/// application holds — what `streha node init --client` writes and every `streha` command
/// that talks to a node reads.
///
/// ```toml
/// # Streha client profile (secrets stay in the key files it names; mode 0600)
/// agency = "police-prishtina"
/// node_address = "127.0.0.1:7411"            # the node's app_listen address
/// node_key = "keys/police-prishtina.node-identity.pub"
/// roster_key = "keys/national-authority.roster.pub"
/// application_key = "keys/police-prishtina-app.application.key"   # enrolled in node.toml
/// signing_key = "keys/police-prishtina.agency-signing.key"
/// encryption_key = "keys/police-prishtina.agency-encryption.key"
/// request_timeout_ms = 30000                 # optional
/// ```
///
/// Relative paths are resolved against the profile's directory (as in `node.toml`), so a
/// profile can sit beside its keys anywhere. Unknown fields are errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientProfile {
    /// The application's agency (as in the roster).
    pub agency: AgencyId,
    /// The node's application endpoint (`app_listen` of its `node.toml`).
    pub node_address: SocketAddr,
    /// The node's public identity key file (`node-identity` .pub).
    pub node_key: PathBuf,
    /// The national authority's public roster key file (`roster` .pub).
    pub roster_key: PathBuf,
    /// The application's secret key file (`application` .key), enrolled in `node.toml`.
    pub application_key: PathBuf,
    /// The agency's secret signing key file (`agency-signing` .key).
    pub signing_key: PathBuf,
    /// The agency's secret encryption key file (`agency-encryption` .key).
    pub encryption_key: PathBuf,
    /// How long one request may take, in milliseconds [default:
    /// [`DEFAULT_REQUEST_TIMEOUT`]].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
}

/// The profile as written, before its fields are checked (so that each error names its
/// field and value).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    agency: String,
    node_address: String,
    node_key: PathBuf,
    roster_key: PathBuf,
    application_key: PathBuf,
    signing_key: PathBuf,
    encryption_key: PathBuf,
    #[serde(default)]
    request_timeout_ms: Option<u64>,
}

/// Why a client profile cannot be used. Each message names the file, and the field and the
/// value at fault where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The file cannot be read.
    #[error(
        "cannot read the client profile {}: {source}; write one with `streha node init \
         --client FILE`",
        path.display()
    )]
    Read {
        /// The profile.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Larger than [`MAX_PROFILE_LEN`], or not UTF-8: not a profile.
    #[error("{} is not a client profile: {problem}", path.display())]
    NotAProfile {
        /// The profile.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// Not valid TOML, a missing or unknown field.
    #[error("{}: {detail}", path.display())]
    Malformed {
        /// The profile.
        path: PathBuf,
        /// Where (line and column) and what.
        detail: String,
    },
    /// The profile cannot be written as TOML (a path that is not UTF-8).
    #[error("cannot write the client profile: {0}; use key file paths that are UTF-8")]
    Unwritable(String),
    /// A field's value is not usable.
    #[error("{}: `{field}`: {problem}", path.display())]
    Field {
        /// The profile.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong with its value and what to do.
        problem: String,
    },
}

impl ClientProfile {
    /// Reads and checks the profile at `path`; the key file paths of the result are
    /// resolved against the profile's directory. The key files themselves are read by
    /// [`ClientConfig::from_client_profile`].
    ///
    /// # Errors
    /// A [`ProfileError`] naming the file, and the field and value at fault.
    pub fn read(path: &Path) -> Result<Self, ProfileError> {
        let file = std::fs::File::open(path).map_err(|source| ProfileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut bytes = Vec::new();
        file.take(MAX_PROFILE_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| ProfileError::Read {
                path: path.to_owned(),
                source,
            })?;
        let not = |problem| ProfileError::NotAProfile {
            path: path.to_owned(),
            problem,
        };
        if bytes.len() > MAX_PROFILE_LEN {
            return Err(not("it is larger than 64 KiB"));
        }
        let text = String::from_utf8(bytes).map_err(|_| not("it is not UTF-8 text"))?;
        Self::parse(&text, path)
    }

    /// Parses profile text; `path` names it in errors and is the base of relative paths.
    ///
    /// # Errors
    /// As [`ClientProfile::read`].
    pub fn parse(text: &str, path: &Path) -> Result<Self, ProfileError> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| ProfileError::Malformed {
            path: path.to_owned(),
            detail: toml_error_detail(text, &e),
        })?;
        let field = |field, problem| ProfileError::Field {
            path: path.to_owned(),
            field,
            problem,
        };
        let agency = AgencyId::new(&raw.agency)
            .map_err(|e| field("agency", format!("`{}`: {e}", raw.agency)))?;
        let node_address: SocketAddr = raw.node_address.parse().map_err(|_| {
            field(
                "node_address",
                format!(
                    "`{}` is not an IP address and port; write the node's app_listen address, \
                     e.g. 127.0.0.1:7411",
                    raw.node_address
                ),
            )
        })?;
        if raw.request_timeout_ms == Some(0) {
            return Err(field(
                "request_timeout_ms",
                "0 is not a timeout; give milliseconds greater than zero, or leave it out for \
                 30000"
                    .into(),
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        Ok(Self {
            agency,
            node_address,
            node_key: resolve(raw.node_key),
            roster_key: resolve(raw.roster_key),
            application_key: resolve(raw.application_key),
            signing_key: resolve(raw.signing_key),
            encryption_key: resolve(raw.encryption_key),
            request_timeout_ms: raw.request_timeout_ms,
        })
    }

    /// The profile as TOML, with a header comment.
    ///
    /// # Errors
    /// [`ProfileError::Unwritable`] if a path is not UTF-8 (TOML cannot hold it).
    pub fn to_toml(&self) -> Result<String, ProfileError> {
        let body = toml::to_string(self).map_err(|e| ProfileError::Unwritable(e.to_string()))?;
        Ok(format!(
            "# Streha client profile: how an application of this agency reaches its node.\n\
             # Secret keys stay in the key files named here (mode 0600).\n\
             {body}"
        ))
    }

    /// The key files it names.
    #[must_use]
    pub fn key_file_paths(&self) -> KeyFilePaths {
        KeyFilePaths {
            application: self.application_key.clone(),
            signing: self.signing_key.clone(),
            encryption: self.encryption_key.clone(),
            node: self.node_key.clone(),
            roster: self.roster_key.clone(),
        }
    }

    /// The request timeout it sets, or [`DEFAULT_REQUEST_TIMEOUT`].
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout_ms
            .map_or(DEFAULT_REQUEST_TIMEOUT, Duration::from_millis)
    }
}

impl ClientConfig {
    /// The configuration a client profile (`client.toml`) describes, with every key file it
    /// names loaded: the application's way to start from the file `streha node init
    /// --client` writes.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use streha_client::{Client, ClientConfig};
    ///
    /// let client = Client::connect(ClientConfig::from_profile("client.toml".as_ref())?).await?;
    /// # client.close().await;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// A [`ProfileError`] naming the file, and the field and value at fault: the profile is
    /// malformed, or a key file it names is unreadable, of the wrong kind or part, or (a
    /// secret) readable by other users.
    pub fn from_profile(path: &Path) -> Result<Self, ProfileError> {
        Self::from_client_profile(&ClientProfile::read(path)?, path)
    }

    /// The configuration of an already read `profile` (read from `path`, which names it in
    /// errors).
    ///
    /// # Errors
    /// As [`ClientConfig::from_profile`], for the key files.
    pub fn from_client_profile(profile: &ClientProfile, path: &Path) -> Result<Self, ProfileError> {
        let field = |field, problem: String| ProfileError::Field {
            path: path.to_owned(),
            field,
            problem,
        };
        for (name, file) in [
            ("application_key", &profile.application_key),
            ("signing_key", &profile.signing_key),
            ("encryption_key", &profile.encryption_key),
        ] {
            check_secret_mode(file).map_err(|problem| field(name, problem))?;
        }
        let key =
            |name, file: &Path, e: ClientError| field(name, format!("{}: {e}", file.display()));
        Ok(Self {
            node_address: profile.node_address,
            node_key: load(
                &profile.node_key,
                NodeIdentityPublicKey::from_key_file_bytes,
            )
            .map_err(|e| key("node_key", &profile.node_key, e))?,
            agency: profile.agency.clone(),
            application_key: load(
                &profile.application_key,
                ApplicationSecretKey::from_key_file_bytes,
            )
            .map_err(|e| key("application_key", &profile.application_key, e))?,
            signing_key: load(
                &profile.signing_key,
                AgencySigningSecretKey::from_key_file_bytes,
            )
            .map_err(|e| key("signing_key", &profile.signing_key, e))?,
            encryption_key: load(
                &profile.encryption_key,
                AgencyEncryptionSecretKey::from_key_file_bytes,
            )
            .map_err(|e| key("encryption_key", &profile.encryption_key, e))?,
            roster_key: load(&profile.roster_key, RosterPublicKey::from_key_file_bytes)
                .map_err(|e| key("roster_key", &profile.roster_key, e))?,
            request_timeout: profile.request_timeout(),
        })
    }
}

/// Refuses a secret key file that group or others may read or write.
#[cfg(unix)]
fn check_secret_mode(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => Err(format!(
            "{} holds a secret key but is accessible to group or others (mode {:04o}); \
             restrict it with: chmod 600 {}",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        )),
        // A missing file is reported when it is read, with the path.
        _ => Ok(()),
    }
}

#[cfg(not(unix))]
fn check_secret_mode(_: &Path) -> Result<(), String> {
    Ok(())
}

/// A TOML error as `line L, column C: <the line>: <what>` (the line shows the field and
/// its value).
fn toml_error_detail(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    let Some(span) = error.span() else {
        return message.to_owned();
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..line_start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    format!("line {line_no}, column {column}: `{line}`: {message}")
}

fn load<T>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, KeyFileError>,
) -> Result<T, ClientError> {
    let read_error = |source| ClientError::ReadKeyFile {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    // Sized once (one byte over the limit, to notice an oversized file) so that no
    // reallocation leaves a copy of a secret behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_LEN + 1));
    file.take(MAX_KEY_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    parse(&bytes).map_err(|source| ClientError::KeyFile {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_no_secrets_and_key_files_load() {
        let dir = std::env::temp_dir().join(format!("streha-client-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let application = ApplicationSecretKey::from_seed_bytes([1; 32]);
        let signing = AgencySigningSecretKey::from_seed_bytes([2; 32]);
        let encryption = AgencyEncryptionSecretKey::from_seed_bytes([3; 32]);
        let node = streha_crypto::NodeIdentitySecretKey::from_seed_bytes([4; 32]).public_key();
        let roster = streha_crypto::RosterSecretKey::from_seed_bytes([5; 32]).public_key();
        let paths = KeyFilePaths {
            application: dir.join("app.key"),
            signing: dir.join("signing.key"),
            encryption: dir.join("encryption.key"),
            node: dir.join("node.pub"),
            roster: dir.join("roster.pub"),
        };
        std::fs::write(&paths.application, application.to_key_file().as_bytes()).unwrap();
        std::fs::write(&paths.signing, signing.to_key_file().as_bytes()).unwrap();
        std::fs::write(&paths.encryption, encryption.to_key_file().as_bytes()).unwrap();
        std::fs::write(&paths.node, node.to_key_file()).unwrap();
        std::fs::write(&paths.roster, roster.to_key_file()).unwrap();

        let config = ClientConfig::from_key_files(
            "127.0.0.1:7443".parse().unwrap(),
            AgencyId::new("police").unwrap(),
            &paths,
        )
        .unwrap();
        assert_eq!(config.signing_key.public_key(), signing.public_key());
        assert_eq!(config.node_key, node);
        let debug = format!("{config:?}");
        for secret in [hex(&[1; 32]), hex(&[2; 32]), hex(&[3; 32])] {
            assert!(!debug.contains(&secret));
        }
        assert!(debug.contains(&signing.fingerprint().short()));

        // A key file of the wrong kind names the file.
        let mut swapped = paths.clone();
        swapped.signing = paths.application.clone();
        let err = ClientConfig::from_key_files(
            "127.0.0.1:7443".parse().unwrap(),
            AgencyId::new("police").unwrap(),
            &swapped,
        )
        .unwrap_err();
        assert!(matches!(err, ClientError::KeyFile { .. }), "{err}");
        assert!(err.to_string().contains("app.key"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `ClientConfig::from_profile` (issue 18 point 17): relative paths resolved against the
    /// profile's directory, every error naming the file, the field (and line) and the value.
    #[test]
    fn a_profile_loads_and_its_errors_name_file_field_and_value() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        let secret = |name: &str, text: &str| {
            let path = keys.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        secret(
            "app.key",
            &ApplicationSecretKey::from_seed_bytes([1; 32]).to_key_file(),
        );
        secret(
            "signing.key",
            &AgencySigningSecretKey::from_seed_bytes([2; 32]).to_key_file(),
        );
        secret(
            "encryption.key",
            &AgencyEncryptionSecretKey::from_seed_bytes([3; 32]).to_key_file(),
        );
        let node = streha_crypto::NodeIdentitySecretKey::from_seed_bytes([4; 32]).public_key();
        std::fs::write(keys.join("node.pub"), node.to_key_file()).unwrap();
        let roster = streha_crypto::RosterSecretKey::from_seed_bytes([5; 32]).public_key();
        std::fs::write(keys.join("roster.pub"), roster.to_key_file()).unwrap();
        let text = "agency = \"police\"\nnode_address = \"127.0.0.1:7411\"\n\
                    node_key = \"keys/node.pub\"\nroster_key = \"keys/roster.pub\"\n\
                    application_key = \"keys/app.key\"\nsigning_key = \"keys/signing.key\"\n\
                    encryption_key = \"keys/encryption.key\"\nrequest_timeout_ms = 5000\n";
        let path = dir.path().join("client.toml");
        std::fs::write(&path, text).unwrap();

        let config = ClientConfig::from_profile(&path).unwrap();
        assert_eq!(config.node_key, node);
        assert_eq!(config.roster_key, roster);
        assert_eq!(config.agency.as_str(), "police");
        assert_eq!(config.request_timeout, Duration::from_millis(5000));
        // What it writes, it reads back (paths now absolute).
        let profile = ClientProfile::read(&path).unwrap();
        assert_eq!(profile.node_key, keys.join("node.pub"));
        let again = dir.path().join("again.toml");
        std::fs::write(&again, profile.to_toml().unwrap()).unwrap();
        assert_eq!(ClientProfile::read(&again).unwrap(), profile);

        let err = |text: &str| {
            std::fs::write(&path, text).unwrap();
            ClientConfig::from_profile(&path).unwrap_err().to_string()
        };
        let e = err(&text.replace("127.0.0.1:7411", "node.example:7411"));
        assert!(
            e.contains("client.toml: `node_address`: `node.example:7411`"),
            "{e}"
        );
        let e = err(&text.replace("\"police\"", "\"Police\""));
        assert!(e.contains("`agency`: `Police`"), "{e}");
        let e = err(&format!("{text}colour = \"blue\"\n"));
        assert!(
            e.contains("client.toml: line 9, column 1: `colour = \"blue\"`"),
            "{e}"
        );
        let e = err(&text.replace("request_timeout_ms = 5000", "request_timeout_ms = \"5s\""));
        assert!(
            e.contains("line 8") && e.contains("request_timeout_ms = \"5s\""),
            "{e}"
        );
        let e = err(&text.replace("5000", "0"));
        assert!(
            e.contains("`request_timeout_ms`: 0 is not a timeout"),
            "{e}"
        );
        // The signing key where the encryption key belongs: the field and the file named.
        let e = err(&text.replace("keys/encryption.key", "keys/signing.key"));
        assert!(
            e.contains("`encryption_key`") && e.contains("signing.key"),
            "{e}"
        );
        // A secret readable by others.
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(keys.join("app.key"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let e = ClientConfig::from_profile(&path).unwrap_err().to_string();
        assert!(
            e.contains("`application_key`") && e.contains("chmod 600"),
            "{e}"
        );
        let e = ClientConfig::from_profile(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing.toml") && e.contains("streha node init"),
            "{e}"
        );
    }

    #[test]
    fn now_is_after_2025() {
        assert!(crate::now().unix_millis() > 1_735_689_600_000);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
