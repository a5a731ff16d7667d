//! Streha's audit log, as pure functions and types: the Merkle tree, its proofs, signed
//! checkpoints and the offline log bundle.
//!
//! Every disclosure, refusal, receipt and consent event of a Streha node is an entry in an
//! append-only Merkle log. This crate defines that log's mathematics and formats:
//!
//! - **The tree** of RFC 6962 §2.1, exactly: [`leaf_hash`] = `SHA-256(0x00 ‖ entry)`,
//!   [`interior_hash`] = `SHA-256(0x01 ‖ left ‖ right)`, [`empty_root`] = `SHA-256("")`, for
//!   every tree size — so any RFC 6962 implementation (Go's `golang.org/x/mod/sumdb/tlog`,
//!   a C2SP `tlog-witness`) checks Streha's proofs unchanged. The proof algorithms follow
//!   RFC 9162 §2.1, which keeps RFC 6962's tree and spells out verification. [`Frontier`] is the append state; its [`Frontier::append`] returns each
//!   perfect node it completes, which storage keeps.
//! - **Proofs** from any [`NodeSource`] (the store's nodes, a [`MemoryTree`]) in O(log n)
//!   reads: [`inclusion_proof`], [`consistency_proof`], [`root_at`]; verification from bytes
//!   alone: [`verify_inclusion`], [`verify_consistency`].
//! - **Checkpoints** ([`Checkpoint`], C2SP `tlog-checkpoint`) in **signed notes**
//!   ([`SignedNote`], C2SP `signed-note`) with Ed25519 keys ([`NoteSigner`],
//!   [`NoteVerifier`], also in the `vkey` text form), witness cosignatures
//!   ([`CosignatureSigner`], C2SP `tlog-cosignature`), and [`sign_checkpoint`] /
//!   [`open_checkpoint`]. Notes are byte-compatible with `golang.org/x/mod/sumdb/note`.
//! - **The log bundle** ([`LogBundle`]): entries and checkpoints in one file that
//!   [`LogBundle::verify`] checks offline.
//!
//! What it does not do: read or write files or sockets, read a clock (a cosignature's time is
//! a parameter), store anything, or interpret entries (they are opaque bytes; `streha-core`
//! defines them). It does not depend on `streha-crypto` or `streha-core`. The normative text
//! is `spec/audit-log.md`, with known-answer vectors in `spec/vectors/`.
//!
//! ```text
//!  entries ──leaf_hash──▶ Frontier::append ──(level, index, hash)──▶ storage (NodeSource)
//!                              │ root()                                   │
//!                              ▼                                          ▼
//!               Checkpoint ──sign_checkpoint──▶ SignedNote    inclusion_proof / consistency_proof
//!                              ▲                                          │
//!     open_checkpoint ─────────┘                       verify_inclusion / verify_consistency
//! ```
//!
//! # Example
//!
//! ```
//! use ed25519_dalek::SigningKey;
//! use streha_audit::{
//!     Checkpoint, MemoryTree, NoteSigner, consistency_proof, inclusion_proof, leaf_hash,
//!     open_checkpoint, sign_checkpoint, verify_consistency, verify_inclusion,
//! };
//!
//! // A log of five entries.
//! let mut tree = MemoryTree::new();
//! for entry in ["a", "b", "c", "d", "e"] {
//!     tree.append_entry(entry.as_bytes());
//! }
//! let root = tree.root();
//!
//! // Entry 2 is in the tree of size 5.
//! let proof = inclusion_proof(2, 5, &tree)?;
//! verify_inclusion(&leaf_hash(b"c"), 2, 5, &proof, &root)?;
//!
//! // The tree of size 3 is a prefix of the tree of size 5.
//! let old_root = tree.root_at(3)?;
//! let proof = consistency_proof(3, 5, &tree)?;
//! verify_consistency(3, 5, &old_root, &root, &proof)?;
//!
//! // The log signs a checkpoint; anyone who knows its key opens it.
//! let key = SigningKey::from_bytes(&[7; 32]); // use a real secret key
//! let signer = NoteSigner::new("example.org/log", key)?;
//! let note = sign_checkpoint(&Checkpoint::new("example.org/log", 5, root)?, &signer);
//! let text = note.to_text();
//! assert!(text.starts_with("example.org/log\n5\n"));
//! assert!(text.contains("\n\n\u{2014} example.org/log "));
//!
//! let (checkpoint, signers) = open_checkpoint(&text, &[signer.verifier()])?;
//! assert_eq!(checkpoint.size(), 5);
//! assert_eq!(checkpoint.root(), &root);
//! assert_eq!(signers, ["example.org/log"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod bundle;
mod checkpoint;
mod hash;
mod note;
mod proof;
mod tlog_proof;
mod tree;

pub use crate::bundle::{
    BUNDLE_MAGIC, BUNDLE_VERSION, BundleError, BundleReport, CheckpointReport, LogBundle,
    MAX_BUNDLE_ENTRY_LEN, MAX_BUNDLE_ORIGIN_LEN, MAX_BUNDLE_SIZE,
};
pub use crate::checkpoint::{
    Checkpoint, CheckpointError, MAX_CHECKPOINT_SIZE, open_checkpoint, sign_checkpoint,
};
pub use crate::hash::{Hash, HashParseError, empty_root, interior_hash, leaf_hash};
pub use crate::note::{
    CosignatureSigner, KeyId, KeyName, KeyNameError, MAX_NOTE_SIGNATURES, MAX_NOTE_SIZE, NoteError,
    NoteSignature, NoteSigner, NoteVerifier, SignatureType, SignedInput, SignedNote, VerifiedNote,
    VerifiedSignature, VkeyError,
};
pub use crate::proof::{
    ConsistencyProof, InclusionProof, MAX_PROOF_HASHES, ProofDecodeError, ProofError, VerifyError,
    consistency_proof, inclusion_proof, root_at, verify_consistency, verify_inclusion,
};
pub use crate::tlog_proof::{
    MAX_TLOG_PROOF_EXTRA, MAX_TLOG_PROOF_SIZE, TLOG_PROOF_HEADER, TlogProof, TlogProofError,
    VerifiedTlogProof, prove_entry,
};
pub use crate::tree::{Frontier, FrontierError, MemoryTree, MissingNode, NodeSource};
