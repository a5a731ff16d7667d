//! A door for fuzzing the node's peer request handler without a network: raw bytes go in
//! exactly as if they had arrived on a stream from an authenticated peer, a response frame
//! comes out. Compiled only with the `fuzzing` feature; never part of `strehad`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use streha_audit::NoteSigner;
use streha_core::AgencyId;
use streha_crypto::{NodeIdentitySecretKey, RosterPublicKey};
use streha_store::Store;
use streha_transport::Identity;
use streha_wire::peer::{PeerRequest, PeerResponse};
use streha_wire::{ErrorCode, RemoteError, Roster, frame};

use crate::config::{Limits, WitnessConfig};
use crate::shared::Shared;

/// A node's state and request handler, without endpoints or workers.
pub struct PeerInput {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for PeerInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerInput").finish_non_exhaustive()
    }
}

impl PeerInput {
    /// A node of `agency` with a store in `data_dir`, running on the signed roster `note`.
    ///
    /// # Errors
    /// A message if the roster, keys or store are not usable.
    pub fn open(
        data_dir: &Path,
        agency: AgencyId,
        node_key: NodeIdentitySecretKey,
        note: &str,
        roster_key: RosterPublicKey,
    ) -> Result<Self, String> {
        let roster = Roster::open(note, &roster_key).map_err(|e| e.to_string())?;
        let own = roster
            .agency(&agency)
            .cloned()
            .ok_or("the agency is not in the roster")?;
        let origin = own.log_origin(roster.federation());
        let signer =
            NoteSigner::new(&origin, node_key.as_dalek().clone()).map_err(|e| e.to_string())?;
        let store = Store::open(data_dir, &origin, signer).map_err(|e| e.to_string())?;
        let identity = Identity::from_key(&node_key).map_err(|e| e.to_string())?;
        let shared = Arc::new(
            Shared::new(
                agency,
                origin,
                Arc::new(store),
                streha_store::KeyVault::open(data_dir.join(crate::server::VAULT_FILE))
                    .map_err(|e| e.to_string())?,
                roster,
                roster_key,
                data_dir.join("roster.note"),
                data_dir,
                identity,
                node_key,
                BTreeMap::new(),
                Limits::default(),
                WitnessConfig {
                    quorum: 1,
                    independent_quorum: 0,
                    submit_timeout: std::time::Duration::from_secs(10),
                    ca_pem: Vec::new(),
                    interval: std::time::Duration::from_secs(3600),
                    record_interval: std::time::Duration::from_secs(3600),
                },
            )
            .map_err(|e| e.to_string())?,
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { shared, runtime })
    }

    /// Handles `payload` (the bytes after a frame's length prefix) as a request from the
    /// node of `peer`, and returns the response frame.
    pub fn handle(&self, peer: &AgencyId, payload: &[u8]) -> Vec<u8> {
        let Some(entry) = self.shared.roster().agency(peer).cloned() else {
            return Vec::new();
        };
        let response = match frame::decode_payload::<PeerRequest>(payload) {
            Ok(request) => {
                self.runtime
                    .block_on(crate::receive::handle(&self.shared, &entry, request))
            }
            Err(error) => PeerResponse::Error(RemoteError::new(
                ErrorCode::BadRequest,
                format!("the request could not be read: {error}"),
            )),
        };
        frame::encode(&response).unwrap_or_default()
    }
}
