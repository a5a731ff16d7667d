//! What a client needs to know: where its node is, which keys it holds.

use std::fmt;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
