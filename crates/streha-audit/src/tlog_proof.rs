//! Offline proofs of one entry in the C2SP `tlog-proof` text form (`c2sp.org/tlog-proof@v1`).
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64 of opaque, unauthenticated data>]
//! index <entry index, ASCII decimal, no leading zeros>
//! <base64 of one inclusion proof hash>          (zero or more lines, leaf's sibling first)
//!
//! <the signed checkpoint note, verbatim: body, blank line, signature lines>
//! ```
//!
//! The proof hashes are RFC 6962 §2.1.1 audit path hashes (SHA-256, `0x00`/`0x01` prefixes;
//! `spec/audit-log.md` §1), so the proof is exactly C2SP's and any RFC 6962 implementation
//! checks it; the entry bytes are Streha's own encoding (`spec/entries.md`).
//!
//! Verification follows the C2SP "Verifying a tlog proof" steps: (1) the leaf hash is computed
//! from the entry bytes the verifier holds; (2) the checkpoint's origin must be that of a
//! configured log key, which must have signed it; (3) the cosignatures of known witnesses
//! are verified and counted against the caller's threshold; (4) the inclusion proof binds the
//! leaf hash to the checkpoint's root at the checkpoint's size. The `extra` line is never
//! trusted.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::hash::{Hash, leaf_hash};
use crate::note::{MAX_NOTE_SIZE, NoteError, NoteVerifier, SignatureType, SignedNote};
use crate::proof::{
    InclusionProof, MAX_PROOF_HASHES, ProofError, VerifyError, inclusion_proof, verify_inclusion,
};
use crate::tree::NodeSource;

/// The first line of every proof (C2SP `tlog-proof`, "Format").
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The largest `extra` payload accepted or written, in bytes after base64 decoding (16 KiB).
pub const MAX_TLOG_PROOF_EXTRA: usize = 16 * 1024;

/// The largest proof text [`TlogProof::parse`] accepts: a maximal note, a maximal `extra`
/// line, 64 hash lines and the header lines.
pub const MAX_TLOG_PROOF_SIZE: usize = MAX_NOTE_SIZE + 32 * 1024;

/// An offline proof that one entry is in a log: index, inclusion proof and the signed
/// checkpoint it leads to (C2SP `tlog-proof@v1`).
///
/// Built by [`TlogProof::new`] or [`prove_entry`], or parsed from untrusted text by
/// [`TlogProof::parse`]; nothing in it is trusted before [`TlogProof::verify`] succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    extra: Option<Vec<u8>>,
    index: u64,
    proof: InclusionProof,
    note: SignedNote,
    checkpoint: Checkpoint,
}

impl TlogProof {
    /// A proof of entry `index` with `proof`, leading to the signed checkpoint `note_text`.
    ///
    /// The parts are checked for form only (the note parses and its body is a checkpoint);
    /// signatures and the proof are checked by [`TlogProof::verify`].
    ///
    /// # Errors
    /// [`TlogProofError::Note`] or [`TlogProofError::Checkpoint`] if `note_text` is not a
    /// signed checkpoint note.
    pub fn new(index: u64, proof: InclusionProof, note_text: &str) -> Result<Self, TlogProofError> {
        let note = SignedNote::parse(note_text).map_err(TlogProofError::Note)?;
        let checkpoint = Checkpoint::parse_body(note.body()).map_err(TlogProofError::Checkpoint)?;
        Ok(Self {
            extra: None,
            index,
            proof,
            note,
            checkpoint,
        })
    }

    /// The same proof with opaque `extra` data (application context; never authenticated).
    ///
    /// # Errors
    /// [`TlogProofError::ExtraTooLarge`] beyond [`MAX_TLOG_PROOF_EXTRA`] bytes.
    pub fn with_extra(mut self, extra: Vec<u8>) -> Result<Self, TlogProofError> {
        if extra.len() > MAX_TLOG_PROOF_EXTRA {
            return Err(TlogProofError::ExtraTooLarge {
                len: extra.len(),
                max: MAX_TLOG_PROOF_EXTRA,
            });
        }
        self.extra = Some(extra);
        Ok(self)
    }

    /// The entry's index in the log.
    #[must_use]
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The inclusion proof (RFC 9162 §2.1.3 order).
    #[must_use]
    pub fn proof(&self) -> &InclusionProof {
        &self.proof
    }

    /// The checkpoint the proof leads to, **unverified** until [`TlogProof::verify`]
    /// succeeds.
    #[must_use]
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed checkpoint note.
    #[must_use]
    pub fn note(&self) -> &SignedNote {
        &self.note
    }

    /// The opaque, unauthenticated extra data, if any.
    #[must_use]
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// The text form (C2SP `tlog-proof@v1`).
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(64 + 45 * self.proof.hashes().len());
        out.push_str(TLOG_PROOF_HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&BASE64.encode(extra));
            out.push('\n');
        }
        out.push_str("index ");
        out.push_str(&self.index.to_string());
        out.push('\n');
        for hash in self.proof.hashes() {
            out.push_str(&BASE64.encode(hash.as_bytes()));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.note.to_text());
        out
    }

    /// Parses the text form from untrusted input: at most [`MAX_TLOG_PROOF_SIZE`] bytes; the
    /// header line; an optional `extra` line of canonical base64 (at most
    /// [`MAX_TLOG_PROOF_EXTRA`] bytes decoded); `index` in ASCII decimal without sign or
    /// leading zeros; at most [`MAX_PROOF_HASHES`] lines each the canonical base64 of 32
    /// bytes; a blank line; a signed note whose body is a checkpoint.
    ///
    /// # Errors
    /// [`TlogProofError`] naming the first problem and, for a line, its 1-based number.
    pub fn parse(text: &str) -> Result<Self, TlogProofError> {
        if text.len() > MAX_TLOG_PROOF_SIZE {
            return Err(TlogProofError::TooLarge {
                size: text.len(),
                max: MAX_TLOG_PROOF_SIZE,
            });
        }
        let mut lines = Lines {
            rest: text,
            number: 0,
        };
        match lines.next_line() {
            Some((_, TLOG_PROOF_HEADER)) => {}
            _ => return Err(TlogProofError::MissingHeader),
        }
        let (mut number, mut line) = lines.next_line().ok_or(TlogProofError::Truncated)?;
        let mut extra = None;
        if let Some(encoded) = line.strip_prefix("extra ") {
            extra = Some(decode_extra(encoded, number)?);
            (number, line) = lines.next_line().ok_or(TlogProofError::Truncated)?;
        }
        let index = line
            .strip_prefix("index ")
            .ok_or(TlogProofError::MissingIndex { line: number })
            .and_then(|digits| parse_index(digits, number))?;

        let mut hashes = Vec::new();
        loop {
            let (number, line) = lines.next_line().ok_or(TlogProofError::Truncated)?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::TooManyHashes {
                    max: MAX_PROOF_HASHES,
                });
            }
            hashes.push(decode_hash(line, number)?);
        }
        let proof = InclusionProof::new(hashes).map_err(|_| TlogProofError::TooManyHashes {
            max: MAX_PROOF_HASHES,
        })?;
        if lines.rest.is_empty() {
            return Err(TlogProofError::Truncated);
        }
        let proof = Self::new(index, proof, lines.rest)?;
        Ok(Self { extra, ..proof })
    }

    /// Verifies the proof for the entry whose bytes are `entry` (C2SP `tlog-proof`,
    /// "Verifying a tlog proof"); see [`TlogProof::verify_leaf`].
    ///
    /// # Errors
    /// As [`TlogProof::verify_leaf`].
    pub fn verify(
        &self,
        entry: &[u8],
        logs: &[NoteVerifier],
        witnesses: &[NoteVerifier],
        min_witnesses: usize,
    ) -> Result<VerifiedTlogProof, TlogProofError> {
        self.verify_leaf(&leaf_hash(entry), logs, witnesses, min_witnesses)
    }

    /// Verifies the proof for a leaf hash:
    ///
    /// 1. the checkpoint's origin is the key name of one of `logs` (Ed25519 log keys; Streha
    ///    names a log's key after its origin), and that key signed the note;
    /// 2. every signature line by a key of `logs` or `witnesses` verifies (C2SP signed-note:
    ///    a known key's bad signature rejects the note), and the distinct witnesses that
    ///    cosigned (`cosignature/v1`, other than the log's own name) number at least
    ///    `min_witnesses`;
    /// 3. the inclusion proof binds `leaf` at the index to the checkpoint's root at its size
    ///    (RFC 9162 §2.1.3.2).
    ///
    /// Success says the log (and the witnesses) signed a tree containing this leaf at this
    /// index. It does not say the entry's content is lawful or true, and it ignores `extra`.
    ///
    /// # Errors
    /// [`TlogProofError::OriginNotTrusted`], [`TlogProofError::Note`] (a known key's
    /// signature is invalid), [`TlogProofError::NotSignedByLog`],
    /// [`TlogProofError::TooFewWitnesses`], [`TlogProofError::Inclusion`].
    pub fn verify_leaf(
        &self,
        leaf: &Hash,
        logs: &[NoteVerifier],
        witnesses: &[NoteVerifier],
        min_witnesses: usize,
    ) -> Result<VerifiedTlogProof, TlogProofError> {
        let origin = self.checkpoint.origin();
        let log = logs
            .iter()
            .find(|v| v.name().as_str() == origin && v.signature_type() == SignatureType::Ed25519)
            .ok_or_else(|| TlogProofError::OriginNotTrusted {
                origin: origin.to_owned(),
            })?;
        // Only the log's key for this origin and the witnesses' cosignature keys are known
        // here: another log's key is not an authority on this origin.
        let mut known = vec![log.clone()];
        known.extend(
            witnesses
                .iter()
                .filter(|w| {
                    w.signature_type() == SignatureType::CosignatureV1
                        && w.name().as_str() != origin
                })
                .cloned(),
        );
        let verified = self.note.verify(&known).map_err(TlogProofError::Note)?;
        if !verified
            .signers()
            .iter()
            .any(|s| s.name == *log.name() && s.key_id == log.key_id())
        {
            return Err(TlogProofError::NotSignedByLog {
                origin: origin.to_owned(),
            });
        }
        let mut cosigners: Vec<(String, u64)> = verified
            .signers()
            .iter()
            .filter(|s| s.signature_type == SignatureType::CosignatureV1)
            .map(|s| (s.name.as_str().to_owned(), s.timestamp.unwrap_or(0)))
            .collect();
        cosigners.sort();
        cosigners.dedup_by(|a, b| a.0 == b.0);
        if cosigners.len() < min_witnesses {
            return Err(TlogProofError::TooFewWitnesses {
                found: cosigners.len(),
                required: min_witnesses,
            });
        }
        verify_inclusion(
            leaf,
            self.index,
            self.checkpoint.size(),
            &self.proof,
            self.checkpoint.root(),
        )
        .map_err(TlogProofError::Inclusion)?;
        Ok(VerifiedTlogProof {
            checkpoint: self.checkpoint.clone(),
            index: self.index,
            log: log.name().as_str().to_owned(),
            witnesses: cosigners,
        })
    }
}

/// Builds the proof of entry `index` against the signed checkpoint `note_text`, reading the
/// tree's nodes from `src` (the store, a [`MemoryTree`](crate::MemoryTree)).
///
/// The checkpoint is not verified here; the proof is generated for its size. Check the
/// result with [`TlogProof::verify`] if `src` and the note may disagree.
///
/// # Errors
/// [`TlogProofError::Note`] / [`TlogProofError::Checkpoint`] for a bad note,
/// [`TlogProofError::IndexOutOfRange`] if `index` is not below the checkpoint's size, and
/// [`TlogProofError::MissingNodes`] if `src` lacks a node of that tree.
pub fn prove_entry<S: NodeSource>(
    index: u64,
    note_text: &str,
    src: &S,
) -> Result<TlogProof, TlogProofError> {
    let note = SignedNote::parse(note_text).map_err(TlogProofError::Note)?;
    let checkpoint = Checkpoint::parse_body(note.body()).map_err(TlogProofError::Checkpoint)?;
    let proof = inclusion_proof(index, checkpoint.size(), src).map_err(|e| match e {
        ProofError::IndexOutOfRange { index, size } => {
            TlogProofError::IndexOutOfRange { index, size }
        }
        _ => TlogProofError::MissingNodes,
    })?;
    Ok(TlogProof {
        extra: None,
        index,
        proof,
        note,
        checkpoint,
    })
}

/// What a verified [`TlogProof`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedTlogProof {
    /// The checkpoint, signed by the log.
    pub checkpoint: Checkpoint,
    /// The entry's index.
    pub index: u64,
    /// The name of the log key that signed (the origin).
    pub log: String,
    /// The distinct witnesses that cosigned, by key name, with the time each states (POSIX
    /// seconds, not checked against any clock), in name order.
    pub witnesses: Vec<(String, u64)>,
}

/// Splits newline-terminated lines off the front of a text, counting them.
struct Lines<'a> {
    rest: &'a str,
    number: usize,
}

impl<'a> Lines<'a> {
    /// The next line (without its newline) and its 1-based number; `None` if no complete
    /// line remains.
    fn next_line(&mut self) -> Option<(usize, &'a str)> {
        let (line, tail) = self.rest.split_once('\n')?;
        self.rest = tail;
        self.number += 1;
        Some((self.number, line))
    }
}

fn decode_extra(encoded: &str, line: usize) -> Result<Vec<u8>, TlogProofError> {
    if encoded.len() > MAX_TLOG_PROOF_EXTRA.div_ceil(3) * 4 {
        return Err(TlogProofError::ExtraTooLarge {
            len: encoded.len() / 4 * 3,
            max: MAX_TLOG_PROOF_EXTRA,
        });
    }
    let raw = BASE64
        .decode(encoded)
        .map_err(|_| TlogProofError::MalformedBase64 { line })?;
    if BASE64.encode(&raw) != encoded {
        return Err(TlogProofError::MalformedBase64 { line });
    }
    if raw.len() > MAX_TLOG_PROOF_EXTRA {
        return Err(TlogProofError::ExtraTooLarge {
            len: raw.len(),
            max: MAX_TLOG_PROOF_EXTRA,
        });
    }
    Ok(raw)
}

fn parse_index(digits: &str, line: usize) -> Result<u64, TlogProofError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TlogProofError::MalformedIndex {
            line,
            reason: "not an unsigned decimal number",
        });
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(TlogProofError::MalformedIndex {
            line,
            reason: "leading zero",
        });
    }
    digits.parse().map_err(|_| TlogProofError::MalformedIndex {
        line,
        reason: "larger than 2^64-1",
    })
}

fn decode_hash(encoded: &str, line: usize) -> Result<Hash, TlogProofError> {
    // 32 bytes are 44 base64 characters; refuse anything longer before decoding.
    if encoded.len() != 44 {
        return Err(TlogProofError::MalformedHash { line });
    }
    let raw = BASE64
        .decode(encoded)
        .map_err(|_| TlogProofError::MalformedHash { line })?;
    if BASE64.encode(&raw) != encoded {
        return Err(TlogProofError::MalformedHash { line });
    }
    Hash::try_from(raw.as_slice()).map_err(|_| TlogProofError::MalformedHash { line })
}

/// Why a `tlog-proof` could not be built, parsed or verified. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogProofError {
    /// The text exceeds [`MAX_TLOG_PROOF_SIZE`].
    #[error("the proof is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The first line is not `c2sp.org/tlog-proof@v1`.
    #[error("this is not a tlog proof: the first line must be `{TLOG_PROOF_HEADER}`")]
    MissingHeader,
    /// The text ends before the checkpoint.
    #[error("the proof is truncated: it must end with a blank line and the signed checkpoint note")]
    Truncated,
    /// The `extra` line is not canonical standard base64.
    #[error("line {line} of the proof: the extra data is not canonical standard base64")]
    MalformedBase64 {
        /// The line.
        line: usize,
    },
    /// The extra data exceeds [`MAX_TLOG_PROOF_EXTRA`].
    #[error("the proof's extra data is {len} bytes, more than the limit of {max}")]
    ExtraTooLarge {
        /// Its (approximate, if refused before decoding) length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No `index` line where one is required.
    #[error("line {line} of the proof must be `index <number>`")]
    MissingIndex {
        /// The line.
        line: usize,
    },
    /// The index is not a canonical decimal number.
    #[error("line {line} of the proof: the index is invalid ({reason})")]
    MalformedIndex {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A proof line is not the canonical base64 of 32 bytes.
    #[error("line {line} of the proof is not a base64 hash of 32 bytes")]
    MalformedHash {
        /// The line.
        line: usize,
    },
    /// More than [`MAX_PROOF_HASHES`] proof lines.
    #[error("the proof has more than {max} hash lines")]
    TooManyHashes {
        /// The limit.
        max: usize,
    },
    /// The checkpoint note does not parse, or a known key's signature on it is invalid.
    #[error("the proof's checkpoint note is invalid: {0}")]
    Note(#[source] NoteError),
    /// The note's body is not a checkpoint.
    #[error("the proof's checkpoint is malformed: {0}")]
    Checkpoint(#[source] CheckpointError),
    /// No configured log key has the checkpoint's origin as its name.
    #[error(
        "the checkpoint is for log `{origin}`, which is not among the trusted logs; check the roster"
    )]
    OriginNotTrusted {
        /// The checkpoint's origin.
        origin: String,
    },
    /// The log's key did not sign the checkpoint.
    #[error("the checkpoint is not signed by the key of log `{origin}`")]
    NotSignedByLog {
        /// The origin.
        origin: String,
    },
    /// Fewer distinct witnesses cosigned than required.
    #[error("the checkpoint has {found} witness cosignatures, fewer than the {required} required")]
    TooFewWitnesses {
        /// Distinct witnesses that cosigned validly.
        found: usize,
        /// The threshold.
        required: usize,
    },
    /// The inclusion proof does not bind the entry to the checkpoint's root.
    #[error(
        "the entry is not proven in the checkpoint's tree: {0}; the entry file or the proof is not the one the log signed"
    )]
    Inclusion(#[source] VerifyError),
    /// Building a proof for an index not in the checkpoint's tree.
    #[error("entry {index} is not in the checkpoint's tree of {size} entries")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The node source lacks a node of the checkpoint's tree.
    #[error(
        "the tree does not hold every node of the checkpoint's size; it is not this log's tree"
    )]
    MissingNodes,
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    use super::*;
    use crate::checkpoint::sign_checkpoint;
    use crate::note::{CosignatureSigner, NoteSigner};
    use crate::tree::MemoryTree;

    const ORIGIN: &str = "test.example/streha/police";

    fn fixture() -> (MemoryTree, NoteSigner, CosignatureSigner, String) {
        let mut tree = MemoryTree::new();
        for i in 0..13u32 {
            tree.append_entry(format!("entry-{i}").as_bytes());
        }
        let log = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).unwrap();
        let witness =
            CosignatureSigner::new("test.example/streha/csw", SigningKey::from_bytes(&[2; 32]))
                .unwrap();
        let checkpoint = Checkpoint::new(ORIGIN, 13, tree.root()).unwrap();
        let mut note = sign_checkpoint(&checkpoint, &log);
        note.add_signature(witness.cosign(note.body(), 1_767_225_600).unwrap())
            .unwrap();
        (tree, log, witness, note.to_text())
    }

    #[test]
    fn round_trip_and_verify() {
        let (tree, log, witness, note) = fixture();
        let proof = prove_entry(6, &note, &tree).unwrap();
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 6\n"));
        assert!(text.contains(&format!("\n\n{note}")));
        assert!(text.ends_with(&note));
        let parsed = TlogProof::parse(&text).unwrap();
        assert_eq!(parsed, proof);
        assert_eq!(parsed.to_text(), text);

        let verified = parsed
            .verify(b"entry-6", &[log.verifier()], &[witness.verifier()], 1)
            .unwrap();
        assert_eq!(verified.index, 6);
        assert_eq!(verified.log, ORIGIN);
        assert_eq!(
            verified.witnesses,
            vec![("test.example/streha/csw".to_owned(), 1_767_225_600)]
        );
        assert_eq!(verified.checkpoint.size(), 13);

        // Another entry, another index, too many witnesses asked: refused.
        assert!(matches!(
            parsed.verify(b"entry-7", &[log.verifier()], &[], 0),
            Err(TlogProofError::Inclusion(_))
        ));
        assert!(matches!(
            parsed.verify(b"entry-6", &[log.verifier()], &[witness.verifier()], 2),
            Err(TlogProofError::TooFewWitnesses {
                found: 1,
                required: 2
            })
        ));
        // Without the witness key the witness line is ignored.
        assert!(
            parsed
                .verify(b"entry-6", &[log.verifier()], &[], 0)
                .unwrap()
                .witnesses
                .is_empty()
        );
    }

    #[test]
    fn extra_round_trips_and_is_not_authenticated() {
        let (tree, log, _, note) = fixture();
        let proof = prove_entry(0, &note, &tree)
            .unwrap()
            .with_extra(b"context".to_vec())
            .unwrap();
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra Y29udGV4dA==\nindex 0\n"));
        let parsed = TlogProof::parse(&text).unwrap();
        assert_eq!(parsed.extra(), Some(&b"context"[..]));
        let changed = text.replace("Y29udGV4dA==", "b3RoZXI=");
        let other = TlogProof::parse(&changed).unwrap();
        assert!(other.verify(b"entry-0", &[log.verifier()], &[], 0).is_ok());
        assert!(matches!(
            proof.clone().with_extra(vec![0; MAX_TLOG_PROOF_EXTRA + 1]),
            Err(TlogProofError::ExtraTooLarge { .. })
        ));
    }

    #[test]
    fn wrong_keys_are_refused() {
        let (tree, log, witness, note) = fixture();
        let proof = prove_entry(3, &note, &tree).unwrap();
        let other = NoteSigner::new(
            "test.example/streha/other",
            SigningKey::from_bytes(&[3; 32]),
        )
        .unwrap();
        assert!(matches!(
            proof.verify(b"entry-3", &[other.verifier()], &[], 0),
            Err(TlogProofError::OriginNotTrusted { .. })
        ));
        // The right name with another key: the log did not sign.
        let impostor = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[4; 32])).unwrap();
        assert!(matches!(
            proof.verify(b"entry-3", &[impostor.verifier()], &[], 0),
            Err(TlogProofError::Note(NoteError::NoKnownSignature { .. }))
        ));
        // A forged witness line (right name and key id, wrong signature) rejects the note.
        let mut forged = SignedNote::parse(&note).unwrap();
        let sig = witness.cosign("another body\n", 5).unwrap();
        forged.add_signature(sig).unwrap();
        let forged = TlogProof::new(3, proof.proof().clone(), &forged.to_text()).unwrap();
        assert!(matches!(
            forged.verify(b"entry-3", &[log.verifier()], &[witness.verifier()], 0),
            Err(TlogProofError::Note(NoteError::InvalidSignature { .. }))
        ));
        // A cosignature by the log's own name never counts as a witness.
        let self_witness =
            CosignatureSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).unwrap();
        let mut selfie = SignedNote::parse(&note).unwrap();
        selfie
            .add_signature(self_witness.cosign(selfie.body(), 9).unwrap())
            .unwrap();
        let selfie = TlogProof::new(3, proof.proof().clone(), &selfie.to_text()).unwrap();
        let verified = selfie
            .verify(
                b"entry-3",
                &[log.verifier()],
                &[witness.verifier(), self_witness.verifier()],
                0,
            )
            .unwrap();
        assert_eq!(verified.witnesses.len(), 1);
    }

    #[test]
    fn building_fails_cleanly() {
        let (tree, _, _, note) = fixture();
        assert!(matches!(
            prove_entry(13, &note, &tree),
            Err(TlogProofError::IndexOutOfRange {
                index: 13,
                size: 13
            })
        ));
        let small = MemoryTree::from_entries([b"a"]);
        assert_eq!(
            prove_entry(2, &note, &small).unwrap_err(),
            TlogProofError::MissingNodes
        );
        assert!(matches!(
            prove_entry(0, "not a note", &tree),
            Err(TlogProofError::Note(_))
        ));
    }

    #[test]
    fn malformed_inputs() {
        let (tree, _, _, note) = fixture();
        let good = prove_entry(6, &note, &tree).unwrap().to_text();
        let hash_line = good.lines().nth(2).unwrap().to_owned();
        type Expect = fn(&TlogProofError) -> bool;
        let cases: Vec<(String, Expect)> = vec![
            (String::new(), |e| *e == TlogProofError::MissingHeader),
            ("c2sp.org/tlog-proof@v2\n".into(), |e| {
                *e == TlogProofError::MissingHeader
            }),
            ("c2sp.org/tlog-proof@v1".into(), |e| {
                *e == TlogProofError::MissingHeader
            }),
            ("c2sp.org/tlog-proof@v1\n".into(), |e| {
                *e == TlogProofError::Truncated
            }),
            ("c2sp.org/tlog-proof@v1\nindex 1\n".into(), |e| {
                *e == TlogProofError::Truncated
            }),
            ("c2sp.org/tlog-proof@v1\nindex 1\n\n".into(), |e| {
                *e == TlogProofError::Truncated
            }),
            ("c2sp.org/tlog-proof@v1\nsize 1\n\n".into(), |e| {
                *e == TlogProofError::MissingIndex { line: 2 }
            }),
            ("c2sp.org/tlog-proof@v1\nindex 01\n\n".into(), |e| {
                matches!(e, TlogProofError::MalformedIndex { line: 2, .. })
            }),
            ("c2sp.org/tlog-proof@v1\nindex -1\n\n".into(), |e| {
                matches!(e, TlogProofError::MalformedIndex { .. })
            }),
            (
                "c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n\n".into(),
                |e| matches!(e, TlogProofError::MalformedIndex { .. }),
            ),
            (
                "c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\n".into(),
                |e| *e == TlogProofError::MalformedBase64 { line: 2 },
            ),
            (
                "c2sp.org/tlog-proof@v1\nextra YQ\nindex 1\n\n".into(),
                |e| *e == TlogProofError::MalformedBase64 { line: 2 },
            ),
            ("c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\n".into(), |e| {
                *e == TlogProofError::MalformedHash { line: 3 }
            }),
            (
                good.replacen(&hash_line, &format!("{hash_line} "), 1),
                |e| *e == TlogProofError::MalformedHash { line: 3 },
            ),
            (
                format!(
                    "c2sp.org/tlog-proof@v1\nindex 1\n{}\n{note}",
                    format!("{hash_line}\n").repeat(65)
                ),
                |e| matches!(e, TlogProofError::TooManyHashes { max: 64 }),
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\n\nnot a note\n".into(),
                |e| matches!(e, TlogProofError::Note(_)),
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\n\nbody\n\n\u{2014} k AAAAAAAA\n".into(),
                |e| matches!(e, TlogProofError::Checkpoint(_)),
            ),
            (good.replace('\n', "\r\n"), |e| {
                *e == TlogProofError::MissingHeader
            }),
            ("x".repeat(MAX_TLOG_PROOF_SIZE + 1), |e| {
                matches!(e, TlogProofError::TooLarge { .. })
            }),
            (
                format!(
                    "c2sp.org/tlog-proof@v1\nextra {}\nindex 1\n\n",
                    "A".repeat(MAX_TLOG_PROOF_EXTRA / 3 * 4 + 8)
                ),
                |e| matches!(e, TlogProofError::ExtraTooLarge { .. }),
            ),
        ];
        for (text, expected) in cases {
            let err = TlogProof::parse(&text).unwrap_err();
            assert!(expected(&err), "{text:?} gave {err:?}");
            assert!(!err.to_string().is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn parsing_arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = TlogProof::parse(&text);
            let _ = TlogProof::parse(&format!("{TLOG_PROOF_HEADER}\n{text}"));
            let _ = TlogProof::parse(&format!("{TLOG_PROOF_HEADER}\nindex 3\n{text}"));
        }

        #[test]
        fn mutated_proofs_never_panic(cut in 0usize..2000, byte in any::<u8>()) {
            let (tree, log, witness, note) = fixture();
            let text = prove_entry(5, &note, &tree).unwrap().to_text();
            let mut bytes = text.into_bytes();
            let at = cut % bytes.len();
            bytes[at] = byte;
            if let Ok(text) = String::from_utf8(bytes)
                && let Ok(proof) = TlogProof::parse(&text)
            {
                let _ = proof.verify(b"entry-5", &[log.verifier()], &[witness.verifier()], 0);
                prop_assert_eq!(TlogProof::parse(&proof.to_text()).unwrap(), proof);
            }
        }
    }
}
