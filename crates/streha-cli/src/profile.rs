//! The client profile, `client.toml`: what an application (here, the `streha` command
//! acting as one) needs to reach its agency's node and which key files it holds. The format
//! is the client library's ([`streha_client::ClientProfile`], one definition for every
//! application); this module adds the command's own checks of each key file (kind, part,
//! mode), whose messages say which file to give instead.

use std::path::Path;

use streha_client::{Client, ClientConfig, ProfileError};
use streha_crypto::{KeyKind, KeyPart};

pub(crate) use streha_client::ClientProfile;

use crate::error::{CliError, from_client};
use crate::util;

/// Reads and checks the profile at `path`, loading every key file it names.
pub(crate) fn load(path: &Path) -> Result<ClientConfig, CliError> {
    let profile = ClientProfile::read(path).map_err(|e| match e {
        ProfileError::Read { .. } => CliError::usage(format!(
            "{e}, or give its path with --profile (or STREHA_PROFILE)"
        )),
        other => CliError::usage(other.to_string()),
    })?;
    // Each key file's kind, part and mode first: the messages name the field and the fix.
    for (name, file, kind, part) in [
        (
            "application_key",
            &profile.application_key,
            KeyKind::Application,
            KeyPart::Secret,
        ),
        (
            "signing_key",
            &profile.signing_key,
            KeyKind::AgencySigning,
            KeyPart::Secret,
        ),
        (
            "encryption_key",
            &profile.encryption_key,
            KeyKind::AgencyEncryption,
            KeyPart::Secret,
        ),
        (
            "node_key",
            &profile.node_key,
            KeyKind::NodeIdentity,
            KeyPart::Public,
        ),
        (
            "roster_key",
            &profile.roster_key,
            KeyKind::Roster,
            KeyPart::Public,
        ),
    ] {
        util::load_key(file, kind, part)
            .map_err(|e| CliError::usage(format!("{}: `{name}`: {e}", path.display())))?;
    }
    ClientConfig::from_client_profile(&profile, path).map_err(|e| CliError::usage(e.to_string()))
}

/// Connects with the profile at `path`.
pub(crate) async fn connect(path: &Path) -> Result<Client, CliError> {
    let config = load(path)?;
    let address = config.node_address;
    Client::connect(config)
        .await
        .map_err(|e| from_client(&format!("cannot connect to the node at {address}"), e))
}
