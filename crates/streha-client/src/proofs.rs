//! Checkpoints and proofs of a node's audit log, verified before the application sees them.
//!
//! Sans-IO: these functions take what the node sent and the log's identity (its origin and
//! its node identity key, both from the roster) and check it. The [`Client`](crate::Client)
//! fetches and calls them; an auditor holding a receipt from another node can call them too.

use streha_audit::{
    Checkpoint, ConsistencyProof, Hash, NoteVerifier, leaf_hash, open_checkpoint,
    verify_consistency, verify_inclusion,
};
use streha_core::{AuditEntry, DecodeError};
use streha_crypto::NodeIdentityPublicKey;
use streha_wire::peer::ProvenEntry;

use crate::error::ClientError;

/// A checkpoint of a node's log whose signature was verified: signed by the node identity
/// key under the key name equal to the log's origin (`streha/<federation>/<agency>`,
/// C2SP tlog-checkpoint "Signatures"), for that origin.
///
/// Success does not say that the checkpoint is consistent with any other; the
/// [`Client`](crate::Client) checks each new checkpoint against the last one it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    checkpoint: Checkpoint,
    note: String,
}

impl VerifiedCheckpoint {
    /// Verifies a signed checkpoint note of the log `origin` kept by the node whose identity
    /// key is `node_key`.
    ///
    /// # Errors
    /// [`ClientError::Checkpoint`] if the note is malformed or not validly signed by
    /// `node_key` under the name `origin`; [`ClientError::CheckpointOrigin`] if it is signed
    /// but names another origin.
    pub fn verify(
        note: &str,
        origin: &str,
        node_key: &NodeIdentityPublicKey,
    ) -> Result<Self, ClientError> {
        let verifier = log_verifier(origin, node_key)?;
        let (checkpoint, _signers) = open_checkpoint(note, std::slice::from_ref(&verifier))
            .map_err(ClientError::Checkpoint)?;
        if checkpoint.origin() != origin {
            return Err(ClientError::CheckpointOrigin {
                expected: origin.to_owned(),
                found: checkpoint.origin().to_owned(),
            });
        }
        Ok(Self {
            checkpoint,
            note: note.to_owned(),
        })
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.checkpoint.origin()
    }

    /// The other member agencies whose witness cosignatures (C2SP cosignature/v1, by their
    /// node identity key under the name of their own log origin) on this checkpoint verify.
    /// Cosignatures by keys the roster does not list are ignored.
    pub fn witnesses(&self, roster: &streha_wire::Roster) -> Vec<streha_core::AgencyId> {
        let Ok(note) = streha_audit::SignedNote::parse(&self.note) else {
            return Vec::new();
        };
        roster
            .agencies()
            .iter()
            .filter(|agency| agency.log_origin(roster.federation()) != self.checkpoint.origin())
            .filter(|agency| {
                NoteVerifier::cosignature_v1(
                    &agency.log_origin(roster.federation()),
                    *agency.node_key.as_dalek(),
                )
                .ok()
                .and_then(|verifier| note.verify(std::slice::from_ref(&verifier)).ok())
                .is_some_and(|verified| !verified.signers().is_empty())
            })
            .map(|agency| agency.id.clone())
            .collect()
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.checkpoint.size()
    }

    /// The root hash at that size.
    pub fn root(&self) -> &Hash {
        self.checkpoint.root()
    }

    /// The parsed checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note text, as the node sent it (for an offline auditor).
    pub fn note(&self) -> &str {
        &self.note
    }
}

/// An audit entry proven to be in a node's log: its signed checkpoint verified, and its
/// inclusion proof (RFC 9162 §2.1.3.2) leading from the entry to that checkpoint's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    proven: ProvenEntry,
    checkpoint: VerifiedCheckpoint,
}

impl VerifiedEntry {
    /// Verifies `proven` as an entry of the log `origin` of the node with key `node_key`.
    ///
    /// # Errors
    /// As [`VerifiedCheckpoint::verify`] for its checkpoint; [`ClientError::InclusionProof`]
    /// if the proof does not lead from the entry to the checkpoint's root (including an
    /// index beyond the checkpoint's size).
    pub fn verify(
        proven: ProvenEntry,
        origin: &str,
        node_key: &NodeIdentityPublicKey,
    ) -> Result<Self, ClientError> {
        let checkpoint = VerifiedCheckpoint::verify(&proven.checkpoint, origin, node_key)?;
        verify_inclusion(
            &leaf_hash(&proven.entry),
            proven.index,
            checkpoint.size(),
            &proven.proof,
            checkpoint.root(),
        )
        .map_err(|source| ClientError::InclusionProof {
            index: proven.index,
            source,
        })?;
        Ok(Self { proven, checkpoint })
    }

    /// The entry's index in the log.
    pub fn index(&self) -> u64 {
        self.proven.index
    }

    /// The encoded entry (`streha_core::AuditEntry`).
    pub fn entry_bytes(&self) -> &[u8] {
        &self.proven.entry
    }

    /// The decoded entry.
    ///
    /// # Errors
    /// A [`DecodeError`] if the (proven) bytes are not an entry this build reads.
    pub fn audit_entry(&self) -> Result<AuditEntry, DecodeError> {
        AuditEntry::decode(&self.proven.entry)
    }

    /// The checkpoint the proof leads to.
    pub fn checkpoint(&self) -> &VerifiedCheckpoint {
        &self.checkpoint
    }

    /// The entry with its proof and checkpoint, as the node sent them.
    pub fn proven(&self) -> &ProvenEntry {
        &self.proven
    }

    /// The entry with its proof and checkpoint, as the node sent them.
    pub fn into_proven(self) -> ProvenEntry {
        self.proven
    }
}

/// The note verifier of a node's log: key name = origin, key = node identity key.
pub(crate) fn log_verifier(
    origin: &str,
    node_key: &NodeIdentityPublicKey,
) -> Result<NoteVerifier, ClientError> {
    NoteVerifier::new(origin, *node_key.as_dalek()).map_err(|e| ClientError::CheckpointOrigin {
        expected: origin.to_owned(),
        found: format!("(the origin is not a valid key name: {e})"),
    })
}

/// Orders two checkpoints by size: (smaller, larger).
pub(crate) fn by_size<'a>(
    a: &'a VerifiedCheckpoint,
    b: &'a VerifiedCheckpoint,
) -> (&'a VerifiedCheckpoint, &'a VerifiedCheckpoint) {
    if a.size() <= b.size() { (a, b) } else { (b, a) }
}

/// Whether the consistency of `old` and `new` (`old.size() <= new.size()`) can be decided
/// without a proof from the node (equal sizes, or an empty old tree).
pub(crate) fn needs_proof(old: &VerifiedCheckpoint, new: &VerifiedCheckpoint) -> bool {
    old.size() != 0 && old.size() != new.size()
}

/// Verifies that `old` is a prefix of `new` with `proof` (RFC 9162 §2.1.4.2).
pub(crate) fn check_consistency(
    old: &VerifiedCheckpoint,
    new: &VerifiedCheckpoint,
    proof: &ConsistencyProof,
) -> Result<(), ClientError> {
    verify_consistency(old.size(), new.size(), old.root(), new.root(), proof).map_err(|source| {
        ClientError::Inconsistent {
            old_size: old.size(),
            new_size: new.size(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use streha_audit::{
        CheckpointError, MemoryTree, NoteError, NoteSigner, VerifyError, consistency_proof,
        inclusion_proof, sign_checkpoint,
    };
    use streha_crypto::NodeIdentitySecretKey;

    use super::*;

    const ORIGIN: &str = "kosovo-demo.example/streha/police-prishtina";

    fn node() -> NodeIdentitySecretKey {
        NodeIdentitySecretKey::from_seed_bytes([11; 32])
    }

    fn signed(
        tree: &MemoryTree,
        size: u64,
        name: &str,
        origin: &str,
        key: &NodeIdentitySecretKey,
    ) -> String {
        let signer = NoteSigner::new(name, key.as_dalek().clone()).unwrap();
        let checkpoint = Checkpoint::new(origin, size, tree.root_at(size).unwrap()).unwrap();
        sign_checkpoint(&checkpoint, &signer).to_text()
    }

    fn tree(n: usize) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for i in 0..n {
            tree.append_entry(format!("entry {i}").as_bytes());
        }
        tree
    }

    #[test]
    fn a_good_checkpoint_verifies() {
        let tree = tree(5);
        let note = signed(&tree, 5, ORIGIN, ORIGIN, &node());
        let cp = VerifiedCheckpoint::verify(&note, ORIGIN, &node().public_key()).unwrap();
        assert_eq!(cp.size(), 5);
        assert_eq!(cp.root(), &tree.root());
        assert_eq!(cp.origin(), ORIGIN);
        assert_eq!(cp.note(), note);
    }

    #[test]
    fn doctored_checkpoints_fail() {
        let tree = tree(5);
        let public = node().public_key();
        let note = signed(&tree, 5, ORIGIN, ORIGIN, &node());

        // The size changed after signing.
        let doctored = note.replacen("\n5\n", "\n6\n", 1);
        assert!(matches!(
            VerifiedCheckpoint::verify(&doctored, ORIGIN, &public),
            Err(ClientError::Checkpoint(CheckpointError::Note(
                NoteError::InvalidSignature { .. }
            )))
        ));

        // Signed by another key under the right name.
        let other = NodeIdentitySecretKey::from_seed_bytes([12; 32]);
        let forged = signed(&tree, 5, ORIGIN, ORIGIN, &other);
        assert!(matches!(
            VerifiedCheckpoint::verify(&forged, ORIGIN, &public),
            Err(ClientError::Checkpoint(CheckpointError::Note(
                NoteError::NoKnownSignature { .. }
            )))
        ));

        // Signed by the node's key, but under another name: not this log's signature.
        let other_name = signed(&tree, 5, "kosovo-demo.example/streha/csw", ORIGIN, &node());
        assert!(matches!(
            VerifiedCheckpoint::verify(&other_name, ORIGIN, &public),
            Err(ClientError::Checkpoint(CheckpointError::Note(
                NoteError::NoKnownSignature { .. }
            )))
        ));

        // Signed under the right name, for another log.
        let other_log = signed(&tree, 5, ORIGIN, "kosovo-demo.example/streha/csw", &node());
        assert!(matches!(
            VerifiedCheckpoint::verify(&other_log, ORIGIN, &public),
            Err(ClientError::CheckpointOrigin { .. })
        ));

        // Not a note at all.
        assert!(matches!(
            VerifiedCheckpoint::verify("garbage", ORIGIN, &public),
            Err(ClientError::Checkpoint(_))
        ));
    }

    fn proven(tree: &MemoryTree, index: u64, size: u64) -> ProvenEntry {
        ProvenEntry {
            entry: format!("entry {index}").into_bytes(),
            index,
            proof: inclusion_proof(index, size, tree).unwrap(),
            checkpoint: signed(tree, size, ORIGIN, ORIGIN, &node()),
        }
    }

    #[test]
    fn a_good_proof_verifies_and_doctored_ones_fail() {
        let tree = tree(7);
        let public = node().public_key();
        for index in 0..7 {
            let entry = VerifiedEntry::verify(proven(&tree, index, 7), ORIGIN, &public).unwrap();
            assert_eq!(entry.index(), index);
            assert_eq!(entry.checkpoint().size(), 7);
        }

        // The entry was altered.
        let mut altered = proven(&tree, 3, 7);
        altered.entry = b"entry 4".to_vec();
        assert!(matches!(
            VerifiedEntry::verify(altered, ORIGIN, &public),
            Err(ClientError::InclusionProof {
                index: 3,
                source: VerifyError::RootMismatch
            })
        ));

        // A proof hash was altered.
        let mut doctored = proven(&tree, 3, 7);
        let mut hashes = doctored.proof.hashes().to_vec();
        let mut first = hashes[0].to_bytes();
        first[0] ^= 1;
        hashes[0] = Hash::from_bytes(first);
        doctored.proof = streha_audit::InclusionProof::new(hashes).unwrap();
        assert!(matches!(
            VerifiedEntry::verify(doctored, ORIGIN, &public),
            Err(ClientError::InclusionProof {
                source: VerifyError::RootMismatch,
                ..
            })
        ));

        // The proof claims another index.
        let mut moved = proven(&tree, 3, 7);
        moved.index = 2;
        assert!(matches!(
            VerifiedEntry::verify(moved, ORIGIN, &public),
            Err(ClientError::InclusionProof { index: 2, .. })
        ));

        // An index beyond the checkpoint.
        let mut beyond = proven(&tree, 3, 7);
        beyond.index = 7;
        assert!(matches!(
            VerifiedEntry::verify(beyond, ORIGIN, &public),
            Err(ClientError::InclusionProof {
                source: VerifyError::IndexOutOfRange { .. },
                ..
            })
        ));

        // A good proof under a doctored checkpoint.
        let mut bad_checkpoint = proven(&tree, 3, 7);
        bad_checkpoint.checkpoint = bad_checkpoint.checkpoint.replacen("\n7\n", "\n8\n", 1);
        assert!(matches!(
            VerifiedEntry::verify(bad_checkpoint, ORIGIN, &public),
            Err(ClientError::Checkpoint(_))
        ));
    }

    #[test]
    fn consistency_between_checkpoints() {
        let public = node().public_key();
        let tree = tree(9);
        let old =
            VerifiedCheckpoint::verify(&signed(&tree, 4, ORIGIN, ORIGIN, &node()), ORIGIN, &public)
                .unwrap();
        let new =
            VerifiedCheckpoint::verify(&signed(&tree, 9, ORIGIN, ORIGIN, &node()), ORIGIN, &public)
                .unwrap();
        let proof = consistency_proof(4, 9, &tree).unwrap();
        check_consistency(&old, &new, &proof).unwrap();

        // A rewritten log: the same sizes, another history.
        let mut forked = MemoryTree::new();
        for i in 0..9 {
            let entry = if i == 1 {
                "rewritten".to_owned()
            } else {
                format!("entry {i}")
            };
            forked.append_entry(entry.as_bytes());
        }
        let forked_new = VerifiedCheckpoint::verify(
            &signed(&forked, 9, ORIGIN, ORIGIN, &node()),
            ORIGIN,
            &public,
        )
        .unwrap();
        let forked_proof = consistency_proof(4, 9, &forked).unwrap();
        assert!(matches!(
            check_consistency(&old, &forked_new, &forked_proof),
            Err(ClientError::Inconsistent {
                old_size: 4,
                new_size: 9,
                ..
            })
        ));
        // Two roots for one size: a split view.
        assert!(matches!(
            check_consistency(&new, &forked_new, &ConsistencyProof::new(vec![]).unwrap()),
            Err(ClientError::Inconsistent {
                source: VerifyError::SameSizeRootsDiffer,
                ..
            })
        ));
        assert!(needs_proof(&old, &new));
        assert!(!needs_proof(&new, &forked_new));
        assert_eq!(by_size(&new, &old).0.size(), 4);
    }
}
