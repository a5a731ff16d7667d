//! The client profile, `client.toml`: what an application (here, the `streha` command
//! acting as one) needs to reach its agency's node and which key files it holds.
//!
//! ```toml
//! # streha client profile (secrets stay in the key files it names; mode 0600)
//! agency = "police-prishtina"
//! node_address = "127.0.0.1:7411"            # the node's app_listen address
//! node_key = "keys/police-prishtina.node-identity.pub"
//! roster_key = "keys/national-authority.roster.pub"
//! application_key = "keys/police-prishtina-app.application.key"
//! signing_key = "keys/police-prishtina.agency-signing.key"
//! encryption_key = "keys/police-prishtina.agency-encryption.key"
//! request_timeout_ms = 30000                 # optional
//! ```
//!
//! Relative paths are resolved against the directory of the profile, as in `node.toml`.
//! Unknown fields are errors. Secret key files must be readable by their owner only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use streha_client::{Client, ClientConfig, DEFAULT_REQUEST_TIMEOUT, KeyFilePaths};
use streha_core::AgencyId;
use streha_crypto::{KeyKind, KeyPart};

use crate::error::{CliError, from_client};
use crate::util;

/// The largest profile read.
const MAX_PROFILE_LEN: usize = 64 * 1024;

/// The file format of `client.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientProfile {
    /// The application's agency (as in the roster).
    pub(crate) agency: String,
    /// The node's application endpoint (`app_listen` of its `node.toml`).
    pub(crate) node_address: String,
    /// The node's public identity key (`node-identity` .pub).
    pub(crate) node_key: PathBuf,
    /// The national authority's public roster key (`roster` .pub).
    pub(crate) roster_key: PathBuf,
    /// The application's secret key (`application` .key), enrolled in `node.toml`.
    pub(crate) application_key: PathBuf,
    /// The agency's secret signing key (`agency-signing` .key).
    pub(crate) signing_key: PathBuf,
    /// The agency's secret encryption key (`agency-encryption` .key).
    pub(crate) encryption_key: PathBuf,
    /// How long one request may take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_timeout_ms: Option<u64>,
}

impl ClientProfile {
    /// The profile's text, with a header comment.
    pub(crate) fn to_toml(&self) -> Result<String, CliError> {
        let body = toml::to_string(self)
            .map_err(|e| anyhow::anyhow!("cannot write the client profile: {e}"))?;
        Ok(format!(
            "# Streha client profile: how an application of this agency reaches its node.\n\
             # Secret keys stay in the key files named here (mode 0600); see `streha --help`.\n\
             {body}"
        ))
    }

    /// Reads and checks `path`, loading every key file it names.
    pub(crate) fn load(path: &Path) -> Result<ClientConfig, CliError> {
        let text = util::read_text(path, MAX_PROFILE_LEN, "client profile").map_err(|e| {
            CliError::usage(format!(
                "{e}; write a client profile with `streha node init --client FILE …`, or give \
                 its path with --profile (or STREHA_PROFILE)"
            ))
        })?;
        let profile: ClientProfile = toml::from_str(&text).map_err(|e| {
            CliError::usage(format!(
                "{}: not a valid client profile: {}",
                path.display(),
                e.message()
            ))
        })?;
        let field = |name: &str, problem: String| {
            CliError::usage(format!("{}: `{name}`: {problem}", path.display()))
        };
        let agency = AgencyId::new(&profile.agency).map_err(|e| field("agency", e.to_string()))?;
        let node_address: SocketAddr = profile.node_address.parse().map_err(|_| {
            field(
                "node_address",
                format!(
                    "`{}` is not an IP address and port; write the node's app_listen \
                     address, e.g. 127.0.0.1:7411",
                    profile.node_address
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
        let paths = KeyFilePaths {
            application: resolve(&profile.application_key),
            signing: resolve(&profile.signing_key),
            encryption: resolve(&profile.encryption_key),
            node: resolve(&profile.node_key),
            roster: resolve(&profile.roster_key),
        };
        // Check each file for kind, part and mode first: the messages name the field.
        for (name, file, kind, part) in [
            (
                "application_key",
                &paths.application,
                KeyKind::Application,
                KeyPart::Secret,
            ),
            (
                "signing_key",
                &paths.signing,
                KeyKind::AgencySigning,
                KeyPart::Secret,
            ),
            (
                "encryption_key",
                &paths.encryption,
                KeyKind::AgencyEncryption,
                KeyPart::Secret,
            ),
            (
                "node_key",
                &paths.node,
                KeyKind::NodeIdentity,
                KeyPart::Public,
            ),
            (
                "roster_key",
                &paths.roster,
                KeyKind::Roster,
                KeyPart::Public,
            ),
        ] {
            util::load_key(file, kind, part).map_err(|e| field(name, e.to_string()))?;
        }
        let mut config = ClientConfig::from_key_files(node_address, agency, &paths)
            .map_err(|e| from_client("cannot load the client's key files", e))?;
        config.request_timeout = match profile.request_timeout_ms {
            None => DEFAULT_REQUEST_TIMEOUT,
            Some(0) => {
                return Err(field(
                    "request_timeout_ms",
                    "must be greater than zero".into(),
                ));
            }
            Some(ms) => Duration::from_millis(ms),
        };
        Ok(config)
    }
}

/// Connects with the profile at `path`.
pub(crate) async fn connect(path: &Path) -> Result<Client, CliError> {
    let config = ClientProfile::load(path)?;
    let address = config.node_address;
    Client::connect(config)
        .await
        .map_err(|e| from_client(&format!("cannot connect to the node at {address}"), e))
}
