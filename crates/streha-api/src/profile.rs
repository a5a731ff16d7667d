//! The client profile, `client.toml` (README "Application developer"): the node's address
//! and key, the agency, and the key files the application holds.
//!
//! The same format the `streha` command reads (`crates/streha-cli/src/profile.rs`); the
//! service loads it itself so that the CLI does not become a library. When
//! `streha_client::ClientConfig::from_profile` exists, this module becomes a call to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use streha_client::{ClientConfig, DEFAULT_REQUEST_TIMEOUT, KeyFilePaths};
use streha_core::AgencyId;

use crate::config::{ConfigError, read_bounded};

/// The largest profile read.
const MAX_PROFILE_LEN: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientProfile {
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

/// Loads the profile at `path` and every key file it names (relative paths against the
/// profile's directory). Secret key files must be readable by their owner only.
///
/// # Errors
/// [`ConfigError`] naming the file and the field at fault.
pub(crate) fn load(path: &Path) -> Result<ClientConfig, ConfigError> {
    let text = read_bounded(path, MAX_PROFILE_LEN)?;
    let profile: ClientProfile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })?;
    let field = |name: &'static str, problem: String| ConfigError::Field {
        path: path.to_owned(),
        field: name,
        problem,
    };
    let agency = AgencyId::new(&profile.agency).map_err(|e| field("agency", e.to_string()))?;
    let node_address: SocketAddr = profile.node_address.parse().map_err(|_| {
        field(
            "node_address",
            "not an IP address and port; write the node's app_listen address, e.g. 127.0.0.1:7411"
                .into(),
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
    for (name, file) in [
        ("application_key", &paths.application),
        ("signing_key", &paths.signing),
        ("encryption_key", &paths.encryption),
    ] {
        owner_only(file).map_err(|problem| field(name, problem))?;
    }
    let mut config =
        ClientConfig::from_key_files(node_address, agency, &paths).map_err(|source| {
            ConfigError::Keys {
                path: path.to_owned(),
                source: Box::new(source),
            }
        })?;
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

/// A secret key file must not be readable by group or others.
fn owner_only(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if metadata.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others (mode {:o}); a secret key file must be owner-only: chmod 600 it",
            path.display(),
            metadata.permissions().mode() & 0o777
        ));
    }
    Ok(())
}
