//! What the verifier knows of the federation, from the roster alone: each agency's log
//! origin, the keys that sign and cosign its checkpoints, and its officers' keys.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use streha_audit::NoteVerifier;
use streha_core::epoch::{FIRST_EPOCH, epoch_origin, split_epoch};
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
    kept: RefCell<HashMap<KeptKey, Result<u64, String>>>,
    /// The later log epochs (≥ 2) of each node that the bundles name: an epoch's own bundle,
    /// and the epoch before each such bundle (its declaration continues it). The only
    /// epochs, besides the first, a kept checkpoint is tried under (`verify_kept`): bounded
    /// by the bundles, never a search.
    epochs: BTreeMap<usize, BTreeSet<u64>>,
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
            epochs: BTreeMap::new(),
        }
    }

    /// Notes the later log epochs the bundles' `origins` name (see the `epochs` field).
    pub(crate) fn note_epochs<'o>(&mut self, origins: impl IntoIterator<Item = &'o str>) {
        for origin in origins {
            let Some((node, epoch)) = self.log_of(origin) else {
                continue;
            };
            if epoch > FIRST_EPOCH {
                let known = self.epochs.entry(node).or_default();
                known.insert(epoch);
                if epoch - 1 > FIRST_EPOCH {
                    known.insert(epoch - 1);
                }
            }
        }
    }

    /// Which log epoch of node `node` the checkpoint `kept` was signed in: its `log` key
    /// under the base origin (epoch 1), else under the origin of each later epoch the
    /// bundles name ([`Directory::note_epochs`]); [`KeptCheckpoint::verify`], remembered.
    /// A kept checkpoint carries no origin, but its signature is over one: it verifies
    /// under at most one. A checkpoint signed under an epoch no bundle names does not
    /// verify here (the evidence is reported as forged, never searched for).
    pub(crate) fn verify_kept(&self, node: usize, kept: &KeptCheckpoint) -> Result<u64, String> {
        let key = (node, kept.size, kept.root, kept.signature.to_bytes());
        if let Some(known) = self.kept.borrow().get(&key) {
            return known.clone();
        }
        let mut result = self.nodes[node]
            .log
            .as_ref()
            .ok_or_else(|| "the roster gives that node no usable key name".to_owned())
            .and_then(|verifier| {
                kept.verify(verifier)
                    .map(|_| FIRST_EPOCH)
                    .map_err(|e| e.to_string())
            });
        if result.is_err()
            && let Some(epochs) = self.epochs.get(&node)
        {
            if let Some(epoch) = epochs.iter().copied().find(|&epoch| {
                self.log_verifier(node, epoch)
                    .is_some_and(|verifier| kept.verify(&verifier).is_ok())
            }) {
                result = Ok(epoch);
            } else if let Err(e) = &mut result {
                let list: Vec<String> = epochs.iter().map(u64::to_string).collect();
                e.push_str(&format!(
                    " (nor under its log epochs {} the bundles name)",
                    list.join(", ")
                ));
            }
        }
        self.kept.borrow_mut().insert(key, result.clone());
        result
    }

    /// The node and log epoch whose origin `origin` is: a member's base origin is epoch 1,
    /// `<base>/epoch/<n>` epoch `n` (`spec/audit-log.md` §9).
    pub(crate) fn log_of(&self, origin: &str) -> Option<(usize, u64)> {
        let (base, epoch) = split_epoch(origin)?;
        self.by_origin(base).map(|node| (node, epoch))
    }

    /// The name findings give the log of node `node` in `epoch`: the agency id in epoch 1,
    /// `<agency> (epoch <n>)` after.
    pub(crate) fn log_name(&self, node: usize, epoch: u64) -> String {
        let agency = &self.nodes[node].agency.id;
        if epoch <= FIRST_EPOCH {
            agency.to_string()
        } else {
            format!("{agency} (epoch {epoch})")
        }
    }

    /// The checkpoint signature key of node `node`'s log in `epoch`: its node identity key
    /// under that epoch's origin.
    pub(crate) fn log_verifier(&self, node: usize, epoch: u64) -> Option<NoteVerifier> {
        let me = &self.nodes[node];
        if epoch <= FIRST_EPOCH {
            return me.log.clone();
        }
        NoteVerifier::new(
            &epoch_origin(&me.origin, epoch),
            *me.agency.node_key.as_dalek(),
        )
        .ok()
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
