//! What the verifier knows of the federation, from the roster alone: each agency's log
//! origin, the keys that sign and cosign its checkpoints, and its officers' keys.

use std::cell::RefCell;
use std::collections::HashMap;

use streha_audit::NoteVerifier;
use streha_core::{AgencyId, UrgentApproval};
use streha_crypto::Signature;
use streha_wire::peer::KeptCheckpoint;
use streha_wire::{AgencyEntry, Roster};

/// One member agency's node, as the roster describes it.
pub(crate) struct NodeKeys<'r> {
    /// The roster entry.
    pub(crate) agency: &'r AgencyEntry,
    /// Its log origin, `streha/<federation>/<agency>`, which is also its key name.
    pub(crate) origin: String,
    /// Its checkpoint signature key (Ed25519, type 0x01), if the name is a valid key name.
    pub(crate) log: Option<NoteVerifier>,
    /// Its witness cosignature key (cosignature/v1, type 0x04): the same node identity key.
    pub(crate) cosigner: Option<NoteVerifier>,
}

/// The roster, indexed for the verifier.
pub(crate) struct Directory<'r> {
    pub(crate) roster: &'r Roster,
    pub(crate) nodes: Vec<NodeKeys<'r>>,
    /// Checkpoints kept in other logs' entries, verified once each: the entries of one
    /// delivery batch keep the same checkpoint (node, size, root, signature).
    kept: RefCell<HashMap<KeptKey, Result<(), String>>>,
}

/// A kept checkpoint, by the node that must have signed it.
type KeptKey = (usize, u64, [u8; 32], [u8; 64]);

impl<'r> Directory<'r> {
    pub(crate) fn new(roster: &'r Roster) -> Self {
        Self::union(&[roster])
    }

    /// The nodes of several versions of one federation's roster, `rosters` newest first:
    /// each agency with its entry in the newest version that lists it (so that the log of an
    /// agency a later version removed is still known). `roster` is the newest.
    ///
    /// # Panics
    /// If `rosters` is empty.
    pub(crate) fn union(rosters: &[&'r Roster]) -> Self {
        let roster = rosters[0];
        let mut nodes: Vec<NodeKeys<'r>> = Vec::new();
        for r in rosters {
            for agency in r.agencies() {
                if nodes.iter().any(|n| n.agency.id == agency.id) {
                    continue;
                }
                let origin = agency.log_origin(roster.federation());
                let key = *agency.node_key.as_dalek();
                nodes.push(NodeKeys {
                    agency,
                    log: NoteVerifier::new(&origin, key).ok(),
                    cosigner: NoteVerifier::cosignature_v1(&origin, key).ok(),
                    origin,
                });
            }
        }
        Self {
            roster,
            nodes,
            kept: RefCell::new(HashMap::new()),
        }
    }

    /// Whether node `node` signed the checkpoint `kept` (its `log` key, under its origin):
    /// [`KeptCheckpoint::verify`], remembered.
    pub(crate) fn verify_kept(&self, node: usize, kept: &KeptCheckpoint) -> Result<(), String> {
        let key = (node, kept.size, kept.root, kept.signature.to_bytes());
        if let Some(known) = self.kept.borrow().get(&key) {
            return known.clone();
        }
        let result = self.nodes[node]
            .log
            .as_ref()
            .ok_or_else(|| "the roster gives that node no usable key name".to_owned())
            .and_then(|verifier| kept.verify(verifier).map(|_| ()).map_err(|e| e.to_string()));
        self.kept.borrow_mut().insert(key, result.clone());
        result
    }

    /// The node whose log origin is `origin`.
    pub(crate) fn by_origin(&self, origin: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.origin == origin)
    }
}

/// Whether `approval` is a valid urgent-danger approval by an officer of `sender` (Art. 45.3):
/// the officer is listed for that agency in the roster and signed `message`
/// ([`DisclosureHeader::approval_message`](streha_core::DisclosureHeader::approval_message)).
/// The same check the sending and receiving nodes make.
pub(crate) fn approval_verifies(
    roster: &Roster,
    sender: &AgencyId,
    approval: &UrgentApproval,
    message: &[u8],
) -> bool {
    roster
        .agency(sender)
        .and_then(|agency| agency.officer_key(&approval.officer))
        .is_some_and(|key| {
            key.verify(
                message,
                &Signature::from_bytes(approval.signature.to_bytes()),
            )
            .is_ok()
        })
}
