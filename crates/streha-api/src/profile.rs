//! The client profile, `client.toml` (README "Application developer"): the node's address
//! and key, the agency, and the key files the application holds — read by the client
//! library, so that the service, the `streha` command and any Rust application agree on
//! one format and one set of checks.

use std::path::Path;

use streha_client::ClientConfig;

use crate::config::ConfigError;

/// Loads the profile at `path` and every key file it names (relative paths against the
/// profile's directory). Secret key files must be readable by their owner only.
///
/// # Errors
/// [`ConfigError::Profile`] naming the file and the field at fault.
pub(crate) fn load(path: &Path) -> Result<ClientConfig, ConfigError> {
    Ok(ClientConfig::from_profile(path)?)
}
