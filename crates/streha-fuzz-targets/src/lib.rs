//! Streha's fuzz targets, as plain functions of bytes.
//!
//! Every decoder and verifier that reads bytes from outside a Streha process has a target
//! here: a `pub fn <target>(data: &[u8])` that feeds `data` to it and **asserts invariants**
//! on what comes back. A target returns normally for any input the code handles correctly,
//! whether the input is accepted or refused; it panics only when an invariant is broken —
//! that is a bug, in the code under test or (rarely) in the target.
//!
//! The same functions are driven two ways:
//!
//! - by **cargo-fuzz** (libFuzzer, nightly flags): `fuzz/fuzz_targets/<target>.rs` calls
//!   the function of the same name; see `fuzz/README.md`, the reviewer guide;
//! - on **stable Rust** by `tests/corpus.rs`, which replays every committed corpus and
//!   crash file under `fuzz/corpus/<target>/` (and `fuzz/artifacts/<target>/`, if present)
//!   through them, so CI catches a regression without nightly.
//!
//! | target | under test | what it asserts beyond "no panic" |
//! | --- | --- | --- |
//! | [`wire_frame`] | `streha_wire::frame::{decode, payload_len}` for the four message enums | limits respected; re-encoding decodes to the same message and is no longer than the input; embedded envelopes, entries and checkpoints go through their own checks |
//! | [`envelope`] | `Envelope::from_bytes`, `verify_signature`, `open` with fixed keys | canonical (re-encodes to the input, agrees with postcard); a verified signature is exactly the fixed sender's deterministic signature (no forgery, no malleability); `open` never succeeds where `verify_signature` fails, nor for another recipient or sender |
//! | [`key_file`] | `KeyFile::parse_bytes` and the twelve typed readers | accepted files are canonical up to hex case and the final newline; typed readers agree with the generic one; errors never echo the key |
//! | [`roster`] | `Roster::open` (fixed roster key), `Roster::from_unsigned_body` | an opened roster was signed by the roster key (deterministic signature); the body round-trips; agencies and keys are unique |
//! | [`signed_note`] | `SignedNote::parse`/`verify`, `open_checkpoint`, `Checkpoint::parse_body`, `NoteVerifier::from_vkey` | parsing is canonical; every verified signature is the fixed key's deterministic one; checkpoints round-trip; vkeys round-trip with a consistent key id |
//! | [`merkle_proof`] | `InclusionProof`/`ConsistencyProof::from_bytes`, `verify_inclusion`, `verify_consistency` on arbitrary sizes and roots | against a real tree: a proof that verifies proves the real leaf / the real old root (soundness), and real proofs verify (completeness) |
//! | [`log_bundle`] | `LogBundle::decode`, `LogBundle::verify` with fixed keys | canonical decoding; a verified bundle's checkpoints are genuine, ordered, and their roots are the recomputed ones |
//! | [`core_decode`] | `AuditEntry::decode`, `DisclosureHeader::decode`, `Record::decode` | canonical; size caps; no protection category in a record; sorted approvals and clause lists |
//! | [`policy_decide`] | `streha_core::decide` on structured input built from the bytes | a reference model of every rule: no protection category ever allowed, no child's own consent (or one recorded before `adult_since`) ever the basis, no consent revoked at or before `now` ever the basis, and determinism |
//! | [`tlog_proof`] | `TlogProof::parse`, `TlogProof::verify` and `streha_verify::check_proof` (what `streha audit check-proof` runs) with a fixed roster | parsing is canonical; `check_proof` and `verify` agree; a checked proof's checkpoint is signed by the roster log with exactly its key's signature, its witnesses are other roster nodes with genuine cosignatures, the root recomputes independently from the entry and the proof, a checkpoint of the fixed tree proves only the real entry with the real proof, and the threshold behaves monotonically |
//! | [`tlog_witness_request`] | `streha_witness::protocol::parse_add_checkpoint` (the body `streha witness serve` reads), then `open_note` and `judge` | nothing oversized accepted; at most 63 proof lines; canonical (written again, the input byte for byte); the rules never panic |
//! | [`node_request`] | the node's peer request handler (`streha_node::fuzzing`), raw bytes as from an authenticated peer | always a well-formed answer; a receipt only for a `received` entry from that peer with no protection category |
//!
//! The fixed keys of the targets are in [`fixed`]; the seed corpora are written by
//! `examples/generate_corpus.rs` with those keys.

#![forbid(unsafe_code)]

pub mod fixed;

mod bundle;
mod core_decode;
mod envelope;
mod key_file;
mod merkle;
mod node;
mod note;
mod policy;
mod roster;
mod tlog;
mod wire;
mod witness;

pub use crate::bundle::log_bundle;
pub use crate::core_decode::core_decode;
pub use crate::envelope::envelope;
pub use crate::key_file::key_file;
pub use crate::merkle::{
    MERKLE_TREE_SIZE, merkle_entry, merkle_proof, merkle_tree, mode as merkle_mode,
};
pub use crate::node::{NODE_AGENCY, PEER_AGENCY, PEER_NODE_SEED, node_request, node_roster};
pub use crate::note::signed_note;
pub use crate::policy::policy_decide;
pub use crate::roster::roster;
pub use crate::tlog::{
    TLOG_COSIGNED_AT, TLOG_LOG_AGENCY, TLOG_TREE_SIZE, TLOG_WITNESS_AGENCY, tlog_entry, tlog_proof,
    tlog_roster, tlog_tree,
};
pub use crate::wire::wire_frame;
pub use crate::witness::{WITNESS_LOG_ORIGIN, tlog_witness_request};

/// A target: a function of the fuzzer's bytes.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its `fuzz/fuzz_targets/<name>.rs` and of its corpus
/// directory).
pub const TARGETS: &[(&str, Target)] = &[
    ("core_decode", core_decode),
    ("envelope", envelope),
    ("key_file", key_file),
    ("log_bundle", log_bundle),
    ("merkle_proof", merkle_proof),
    ("node_request", node_request),
    ("policy_decide", policy_decide),
    ("roster", roster),
    ("signed_note", signed_note),
    ("tlog_proof", tlog_proof),
    ("tlog_witness_request", tlog_witness_request),
    ("wire_frame", wire_frame),
];

/// Checks one signature line that verified under a fixed key: it must be exactly what that
/// key signs over the same message (Ed25519 is deterministic), or it is a forgery or a
/// malleated signature.
pub(crate) fn check_note_signature(
    body: &str,
    line: &streha_audit::NoteSignature,
    signature_type: streha_audit::SignatureType,
) {
    let name = line.name().as_str();
    let expected = match signature_type {
        streha_audit::SignatureType::Ed25519 => {
            fixed::note_signer_for(name).map(|s| s.sign(body).expect("a verified body is signable"))
        }
        streha_audit::SignatureType::CosignatureV1 => {
            let bytes = line.signature_bytes();
            assert_eq!(bytes.len(), 72, "a verified cosignature is 72 bytes");
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&bytes[..8]);
            fixed::cosigner_for(name).map(|s| {
                s.cosign(body, u64::from_be_bytes(ts))
                    .expect("a verified body is cosignable")
            })
        }
        _ => None,
    };
    let expected = expected
        .unwrap_or_else(|| panic!("a signature verified under {name:?}, which is not a fixed key"));
    assert_eq!(
        expected.signature_bytes(),
        line.signature_bytes(),
        "a signature verified under the fixed key {name:?} but is not the one that key makes: \
         forged or malleable"
    );
}

/// Checks every verified signature of a note against the fixed keys: each line by a
/// verified signer (name and key id) is that key's own signature.
pub(crate) fn check_verified_note(
    note: &streha_audit::SignedNote,
    verified: &streha_audit::VerifiedNote,
) {
    assert_eq!(verified.body(), note.body());
    assert!(!verified.signers().is_empty(), "verified with no signer");
    for signer in verified.signers() {
        let mut lines = note
            .signatures()
            .iter()
            .filter(|s| s.name() == &signer.name && s.key_id() == signer.key_id)
            .peekable();
        assert!(
            lines.peek().is_some(),
            "a verified signer has no signature line"
        );
        for line in lines {
            check_note_signature(note.body(), line, signer.signature_type);
        }
    }
}
