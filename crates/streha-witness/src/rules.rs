//! The witnessing rules, written once (sans-IO): what a witness checks before it cosigns a
//! checkpoint of a log it follows, and what it keeps as evidence when the log contradicts
//! itself. Used by the nodes' witnessing of each other over QUIC and by the standalone C2SP
//! `tlog-witness` HTTP witness (`streha witness serve`); each of them stores the state and
//! answers in its own protocol.
//!
//! The order of the checks is C2SP `tlog-witness` ("add-checkpoint"), with Streha's alarms
//! in it:
//!
//! 1. the note is bounded ([`MAX_WITNESS_NOTE_LEN`], [`MAX_WITNESS_NOTE_SIGNATURES`], no
//!    line repeated) and verifies under a key trusted for its origin ([`open_note`]: 403);
//! 2. from the log's owner itself, a size below the latest cosigned is a **rollback**;
//! 3. the old size is not above the checkpoint's size (400);
//! 4. a checkpoint of the latest cosigned size with another root is a **fork** (409);
//! 5. the old size is the latest cosigned size, or 0 if none (409 with that size);
//! 6. the consistency proof from the latest cosigned tree verifies (422; from the owner
//!    itself, an **inconsistent** log).
//!
//! Then the witness persists the new latest size *in the same atomic step as the checks*
//! (the C2SP rollback race) and cosigns ([`cosign`]).
//!
//! The first checkpoint of a new log epoch (a node restored with loss,
//! `spec/audit-log.md` §9) is judged by [`judge_new_epoch`] instead: accepted only with its
//! signed declaration of the lost range, which may not hide what this witness cosigned.

use streha_audit::{
    Checkpoint, ConsistencyProof, CosignatureSigner, Hash, InclusionProof, NoteError,
    NoteSignature, NoteVerifier, SignedNote, empty_root, leaf_hash, verify_consistency,
    verify_inclusion,
};
use streha_core::{AuditEntry, WitnessAlarmKind};

/// The largest checkpoint note a witness takes, in bytes. A Streha checkpoint with its
/// node's signature and a dozen cosignatures is under 2 KiB; the bound keeps what a witness
/// stores and verifies per request small.
pub const MAX_WITNESS_NOTE_LEN: usize = 8 * 1024;

/// The most signature lines on a checkpoint a witness takes (the log's signature and its
/// cosignatures).
pub const MAX_WITNESS_NOTE_SIGNATURES: usize = 32;

/// The largest checkpoint note the HTTP witness takes (any C2SP log: its own signatures may
/// be post-quantum and many witnesses may have cosigned already). Only the log's own
/// signature lines are kept, so this bounds the work per request, not the state.
pub const MAX_HTTP_NOTE_LEN: usize = 64 * 1024;

/// The most signature lines on a checkpoint the HTTP witness takes.
pub const MAX_HTTP_NOTE_SIGNATURES: usize = 64;

/// The bounds a witness puts on a checkpoint note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoteBounds {
    /// Most bytes.
    pub max_len: usize,
    /// Most signature lines.
    pub max_signatures: usize,
}

impl NoteBounds {
    /// Between the federation's nodes: [`MAX_WITNESS_NOTE_LEN`], [`MAX_WITNESS_NOTE_SIGNATURES`].
    pub const PEER: Self = Self {
        max_len: MAX_WITNESS_NOTE_LEN,
        max_signatures: MAX_WITNESS_NOTE_SIGNATURES,
    };
    /// The HTTP witness: [`MAX_HTTP_NOTE_LEN`], [`MAX_HTTP_NOTE_SIGNATURES`].
    pub const HTTP: Self = Self {
        max_len: MAX_HTTP_NOTE_LEN,
        max_signatures: MAX_HTTP_NOTE_SIGNATURES,
    };
}

/// The most consistency proof lines of a tlog-witness request (C2SP: at most 63).
pub const MAX_PROOF_LINES: usize = 63;

/// How many earlier cosigned sizes a witness remembers per log (size and root only, not the
/// note), to compare the checkpoints other witnesses gossip. Older ones are forgotten: the
/// consistency proofs between them already bind them to the latest.
pub const KEPT_ROOTS_PER_LOG: usize = 256;

/// Who a witness trusts for one log.
#[derive(Debug, Clone)]
pub struct LogKeys {
    /// The log's origin line.
    pub origin: String,
    /// The log's own signing keys (Ed25519 under the origin's key name): one must have
    /// signed.
    pub log: Vec<NoteVerifier>,
    /// Key names whose every signature line must verify under one of `known`: a line under
    /// such a name that is not a valid signature by its key is forged (in a federation, the
    /// members' names). Other names are ignored, as C2SP signed-note says.
    pub guarded_names: Vec<String>,
    /// The keys of the guarded names (plain Ed25519 and cosignature/v1).
    pub known: Vec<NoteVerifier>,
}

/// A checkpoint that passed [`open_note`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// What a witness keeps of the note: the body and the log's own valid signatures only
    /// (cosignatures are not the witness's to keep or pass on).
    pub kept_note: String,
}

/// Why a checkpoint note is not taken (C2SP: 400 for a malformed note, 403 for the rest).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteRefusal {
    /// Over [`MAX_WITNESS_NOTE_LEN`] bytes.
    #[error("the checkpoint note is {len} bytes; a witness takes at most {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_WITNESS_NOTE_SIGNATURES`] signature lines.
    #[error("the checkpoint carries {count} signature lines; a witness takes at most {max}")]
    TooManySignatures {
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Not a signed note (including a repeated signature line), or not a checkpoint.
    #[error("the checkpoint is malformed: {0}")]
    Malformed(String),
    /// For another log than the one asked about.
    #[error("the checkpoint is for `{found}`, not `{expected}`")]
    WrongOrigin {
        /// The origin expected.
        expected: String,
        /// The origin on the checkpoint.
        found: String,
    },
    /// No valid signature by a key trusted for the log.
    #[error("the checkpoint carries no valid signature by the key of `{origin}`")]
    NotSigned {
        /// The log.
        origin: String,
    },
    /// A signature line under a trusted key, or under a guarded name, that is not a valid
    /// signature by that name's key.
    #[error(
        "the checkpoint carries a signature line under `{name}` that is not a valid signature by its key: a forged signature; the checkpoint is refused and nothing of it was kept"
    )]
    Forged {
        /// The key name on the line.
        name: String,
    },
}

impl NoteRefusal {
    /// Whether the note is malformed (C2SP: 400) rather than not validly signed (403).
    #[must_use]
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            Self::TooLarge { .. } | Self::TooManySignatures { .. } | Self::Malformed(_)
        )
    }
}

/// Parses and verifies a checkpoint note of the log `keys`, verifying each distinct
/// signature line at most once: every line under a trusted log key or a guarded name must
/// verify; at least one log key must have signed.
///
/// # Errors
/// [`NoteRefusal`].
pub fn open_note(text: &str, keys: &LogKeys) -> Result<Opened, NoteRefusal> {
    open_note_within(text, keys, NoteBounds::PEER)
}

/// [`open_note`] within other bounds (the HTTP witness takes [`NoteBounds::HTTP`]).
///
/// # Errors
/// [`NoteRefusal`].
pub fn open_note_within(
    text: &str,
    keys: &LogKeys,
    bounds: NoteBounds,
) -> Result<Opened, NoteRefusal> {
    if text.len() > bounds.max_len {
        return Err(NoteRefusal::TooLarge {
            len: text.len(),
            max: bounds.max_len,
        });
    }
    let note = SignedNote::parse(text).map_err(|e| match e {
        NoteError::TooManySignatures { count, .. } => NoteRefusal::TooManySignatures {
            count,
            max: bounds.max_signatures,
        },
        other => NoteRefusal::Malformed(other.to_string()),
    })?;
    if note.signatures().len() > bounds.max_signatures {
        return Err(NoteRefusal::TooManySignatures {
            count: note.signatures().len(),
            max: bounds.max_signatures,
        });
    }
    let checkpoint =
        Checkpoint::parse_body(note.body()).map_err(|e| NoteRefusal::Malformed(e.to_string()))?;
    if checkpoint.origin() != keys.origin {
        return Err(NoteRefusal::WrongOrigin {
            expected: keys.origin.clone(),
            found: checkpoint.origin().to_owned(),
        });
    }
    let mut kept = String::new();
    for signature in note.signatures() {
        // `SignedNote::parse` refuses repeated (name, key id) pairs, so each check below
        // runs once per distinct key.
        let forged = || NoteRefusal::Forged {
            name: signature.name().as_str().to_owned(),
        };
        if let Some(verifier) = keys.log.iter().find(|v| v.matches(signature)) {
            verifier
                .verify_signature(note.body(), signature)
                .map_err(|_| forged())?;
            kept.push_str(&signature.to_line());
            continue;
        }
        if let Some(verifier) = keys.known.iter().find(|v| v.matches(signature)) {
            verifier
                .verify_signature(note.body(), signature)
                .map_err(|_| forged())?;
            continue;
        }
        if keys
            .guarded_names
            .iter()
            .any(|name| name == signature.name().as_str())
        {
            return Err(forged());
        }
    }
    if kept.is_empty() {
        return Err(NoteRefusal::NotSigned {
            origin: keys.origin.clone(),
        });
    }
    Ok(Opened {
        kept_note: format!("{}\n{kept}", note.body()),
        checkpoint,
    })
}

/// The latest checkpoint of a log a witness cosigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    /// Its size.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
}

/// Who submits a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitter {
    /// The log's owner, authenticated (a node over its pinned QUIC connection): what it
    /// offers is what its log says now, so a smaller size is a rollback and a missing proof
    /// a rewrite.
    Owner,
    /// Anyone (C2SP tlog-witness over HTTP): an old checkpoint or a bad proof may be a
    /// stranger's replay, not the log's misbehaviour.
    Anyone,
}

/// What the witness does with a submission, after [`open_note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Cosign. If `advance`, the checkpoint's size becomes the latest cosigned (persist it,
    /// atomically with the checks, before answering).
    Cosign {
        /// Whether the latest cosigned size moves.
        advance: bool,
    },
    /// The old size is above the checkpoint's size (C2SP 400).
    OldSizeAboveCheckpoint,
    /// The old size is not the latest cosigned size (C2SP 409 with `text/x.tlog.size`).
    StaleOldSize {
        /// The latest cosigned size (0 if none).
        latest: u64,
    },
    /// The consistency proof does not verify (C2SP 422), from a submitter whose bad proof
    /// is not evidence against the log.
    BadProof,
    /// The log contradicts a checkpoint this witness cosigned: keep both notes as evidence
    /// and refuse (a fork is C2SP 409).
    Contradiction(WitnessAlarmKind),
}

/// Judges a verified checkpoint against the latest one this witness cosigned.
#[must_use]
pub fn judge(
    latest: Option<&Latest>,
    old_size: u64,
    proof: &ConsistencyProof,
    checkpoint: &Checkpoint,
    submitter: Submitter,
) -> Verdict {
    let latest_size = latest.map_or(0, |l| l.size);
    if let Some(latest) = latest
        && submitter == Submitter::Owner
        && checkpoint.size() < latest.size
    {
        return Verdict::Contradiction(WitnessAlarmKind::Rollback);
    }
    if old_size > checkpoint.size() {
        return Verdict::OldSizeAboveCheckpoint;
    }
    if let Some(latest) = latest
        && checkpoint.size() == latest.size
        && *checkpoint.root() != latest.root
    {
        return Verdict::Contradiction(WitnessAlarmKind::Fork);
    }
    if old_size != latest_size {
        return Verdict::StaleOldSize {
            latest: latest_size,
        };
    }
    if checkpoint.size() == latest_size {
        // Same size, same root (or size 0 twice): nothing new, cosigned again.
        return Verdict::Cosign { advance: false };
    }
    let old_root = latest.map_or_else(empty_root, |l| l.root);
    if verify_consistency(
        latest_size,
        checkpoint.size(),
        &old_root,
        checkpoint.root(),
        proof,
    )
    .is_err()
    {
        return match (submitter, latest) {
            (Submitter::Owner, Some(_)) => Verdict::Contradiction(WitnessAlarmKind::Inconsistent),
            _ => Verdict::BadProof,
        };
    }
    Verdict::Cosign { advance: true }
}

/// Judges a checkpoint another witness gossiped (verified with [`open_note`]) against the
/// root this witness cosigned for the same size, if it remembers one: a different root is a
/// fork.
#[must_use]
pub fn judge_gossip(
    ours_at_size: Option<&Hash>,
    checkpoint: &Checkpoint,
) -> Option<WitnessAlarmKind> {
    ours_at_size
        .filter(|ours| *ours != checkpoint.root())
        .map(|_| WitnessAlarmKind::Fork)
}

/// A declared loss a witness accepted ([`judge_new_epoch`]): what it keeps, with the
/// previous epoch's last cosigned checkpoint, as the evidence of an honest restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredLoss {
    /// The epoch the loss happened in.
    pub previous_origin: String,
    /// The size of the restored log (the backup's last checkpoint).
    pub restored_size: u64,
    /// Its root.
    pub restored_root: Hash,
    /// The size the log was proven to have had (the lost range is
    /// `restored_size..proven_size`).
    pub proven_size: u64,
    /// Its root.
    pub proven_root: Hash,
    /// The peer that kept the proving checkpoint.
    pub proven_by: String,
}

/// Why a witness refuses the first checkpoint of a new log epoch. From the log's owner,
/// every refusal is a security event: a log that starts over without a valid declaration of
/// what it lost is a rollback (`spec/protocol.md` §9, "A new epoch").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpochRefusal {
    /// The origin is not of epoch 2 or later (or spells its epoch non-canonically).
    #[error("`{origin}` is not the origin of a new log epoch")]
    NotAnEpoch {
        /// The origin.
        origin: String,
    },
    /// No declaration came with it: an undeclared new log.
    #[error("a new log epoch without a declaration of what its previous epoch lost")]
    Undeclared,
    /// The declaration is not entry 0 of the checkpoint's tree.
    #[error("the declaration is not the first entry of the new epoch's checkpoint")]
    NotFirstEntry,
    /// Entry 0 is not a `log_restored` entry.
    #[error("the new epoch's first entry is not a log_restored declaration: {0}")]
    NotADeclaration(String),
    /// The declaration continues another log than the epoch before this one.
    #[error("the declaration continues `{found}`, not the epoch before, `{expected}`")]
    WrongPrevious {
        /// The epoch before the checkpoint's.
        expected: String,
        /// What the declaration names.
        found: String,
    },
    /// The proving note is not a checkpoint of the previous epoch signed by the node's key.
    #[error(
        "the declaration's proof is not a checkpoint of the previous epoch signed by its node: {0}"
    )]
    ProofNotSigned(NoteRefusal),
    /// The proof shows no loss (its size is not above the restored size).
    #[error(
        "the declaration proves size {proven}, not more than the restored size {restored}: no loss to declare"
    )]
    NothingLost {
        /// The restored size.
        restored: u64,
        /// The proven size.
        proven: u64,
    },
    /// The declaration hides entries this witness cosigned: it proves less than this
    /// witness's latest cosigned checkpoint of the previous epoch, or another root at that
    /// size.
    #[error(
        "the declaration proves size {proven}, but this witness cosigned size {cosigned} of the previous epoch with another history"
    )]
    HidesCosigned {
        /// This witness's latest cosigned size of the previous epoch.
        cosigned: u64,
        /// The declaration's proven size.
        proven: u64,
    },
    /// The restored log has the size this witness cosigned but another root: the backup is
    /// not of this log's history.
    #[error("the declaration's restored tree of size {size} is not the one this witness cosigned")]
    RestoredNotCosigned {
        /// The size.
        size: u64,
    },
}

/// Judges the first checkpoint a witness is shown of a new log epoch (`origin`
/// `<base>/epoch/<n>`, n ≥ 2; [`streha_core::epoch`]), verified with [`open_note`] under the
/// new origin. The witness accepts it only with the epoch's declaration: `declaration` is
/// entry 0 of the new log (its encoding) and its inclusion proof under `checkpoint`, so the
/// declaration is signed by the node as every entry is. The declaration's proving note must
/// be a checkpoint of the epoch before, signed under `previous_keys` (the same node's key,
/// under the previous origin), larger than the restored size, and not smaller than — nor of
/// another root at — `previous_latest`, the latest checkpoint of the previous epoch this
/// witness cosigned or keeps as delivery evidence ([`latest_seen`]): a declaration cannot
/// hide what this witness saw.
///
/// The same rule for the nodes' QUIC witnessing and for `streha witness serve`.
///
/// # Errors
/// [`EpochRefusal`]; from the owner, a security event (the witness keeps the previous
/// epoch's latest cosigned checkpoint and what it was offered).
pub fn judge_new_epoch(
    checkpoint: &Checkpoint,
    declaration: Option<(&[u8], &InclusionProof)>,
    previous_keys: &LogKeys,
    previous_latest: Option<&Latest>,
) -> Result<DeclaredLoss, EpochRefusal> {
    let origin = checkpoint.origin();
    let Some(expected) = streha_core::epoch::previous_epoch_origin(origin) else {
        return Err(EpochRefusal::NotAnEpoch {
            origin: origin.to_owned(),
        });
    };
    let Some((entry, proof)) = declaration else {
        return Err(EpochRefusal::Undeclared);
    };
    if checkpoint.size() == 0
        || verify_inclusion(
            &leaf_hash(entry),
            0,
            checkpoint.size(),
            proof,
            checkpoint.root(),
        )
        .is_err()
    {
        return Err(EpochRefusal::NotFirstEntry);
    }
    let decoded =
        AuditEntry::decode(entry).map_err(|e| EpochRefusal::NotADeclaration(e.to_string()))?;
    let AuditEntry::LogRestored {
        previous_origin,
        restored_size,
        restored_root,
        proven_note,
        proven_by,
        ..
    } = decoded
    else {
        return Err(EpochRefusal::NotADeclaration(format!(
            "a `{}` entry",
            decoded.kind_name()
        )));
    };
    if previous_origin.as_str() != expected || previous_keys.origin != expected {
        return Err(EpochRefusal::WrongPrevious {
            expected,
            found: previous_origin.as_str().to_owned(),
        });
    }
    let proven = open_note(&proven_note, previous_keys)
        .map_err(EpochRefusal::ProofNotSigned)?
        .checkpoint;
    if proven.size() <= restored_size {
        return Err(EpochRefusal::NothingLost {
            restored: restored_size,
            proven: proven.size(),
        });
    }
    let restored_root = Hash::from(restored_root);
    if let Some(latest) = previous_latest {
        if proven.size() < latest.size
            || (proven.size() == latest.size && *proven.root() != latest.root)
        {
            return Err(EpochRefusal::HidesCosigned {
                cosigned: latest.size,
                proven: proven.size(),
            });
        }
        if restored_size == latest.size && restored_root != latest.root {
            return Err(EpochRefusal::RestoredNotCosigned {
                size: restored_size,
            });
        }
    }
    Ok(DeclaredLoss {
        previous_origin: expected,
        restored_size,
        restored_root,
        proven_size: proven.size(),
        proven_root: *proven.root(),
        proven_by: proven_by.as_str().to_owned(),
    })
}

/// The checkpoint of a log epoch a judge of its declaration of loss holds it to
/// ([`judge_new_epoch`]'s `previous_latest`): the larger of the latest one it `cosigned` and
/// the largest one it `kept` as delivery evidence (a `received` entry's sender checkpoint, a
/// `receipt`'s receiver checkpoint, which no witness may have cosigned); the cosigned one at
/// equal size. A declaration proves the largest size any peer holds in either form, so an
/// honest one covers both (`spec/audit-log.md` §9); the verifier holds it to the same
/// (`verification.md` V1.9).
pub fn latest_seen(cosigned: Option<Latest>, kept: Option<Latest>) -> Option<Latest> {
    match (cosigned, kept) {
        (Some(cosigned), Some(kept)) if kept.size > cosigned.size => Some(kept),
        (Some(cosigned), _) => Some(cosigned),
        (None, kept) => kept,
    }
}

/// The cosignature line (C2SP tlog-cosignature, cosignature/v1) of `checkpoint` at
/// `timestamp` (POSIX seconds; never 0: C2SP tlog-witness forbids omitting it, so 0 is
/// taken as 1).
///
/// # Errors
/// If the timestamp is beyond 2⁶³−1.
pub fn cosign(
    signer: &CosignatureSigner,
    checkpoint: &Checkpoint,
    timestamp: u64,
) -> Result<NoteSignature, NoteError> {
    signer.cosign(checkpoint.to_body().as_str(), timestamp.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18.18: a declaration is held to the larger of what a witness cosigned and what
    /// it keeps as delivery evidence.
    #[test]
    fn a_declaration_is_held_to_the_largest_checkpoint_cosigned_or_kept() {
        let at = |size: u64, root: u8| Latest {
            size,
            root: Hash::from([root; 32]),
        };
        assert_eq!(latest_seen(None, None), None);
        assert_eq!(latest_seen(Some(at(5, 1)), None), Some(at(5, 1)));
        assert_eq!(latest_seen(None, Some(at(7, 2))), Some(at(7, 2)));
        assert_eq!(latest_seen(Some(at(5, 1)), Some(at(7, 2))), Some(at(7, 2)));
        assert_eq!(latest_seen(Some(at(9, 1)), Some(at(7, 2))), Some(at(9, 1)));
        assert_eq!(latest_seen(Some(at(7, 1)), Some(at(7, 2))), Some(at(7, 1)));
    }
    use ed25519_dalek::SigningKey;
    use streha_audit::{MemoryTree, NoteSigner, consistency_proof, sign_checkpoint};

    const ORIGIN: &str = "example.org/log";

    fn keys(log: &SigningKey) -> LogKeys {
        LogKeys {
            origin: ORIGIN.into(),
            log: vec![NoteVerifier::new(ORIGIN, log.verifying_key()).unwrap()],
            guarded_names: vec![ORIGIN.into(), "peer".into()],
            known: vec![
                NoteVerifier::cosignature_v1(
                    "peer",
                    SigningKey::from_bytes(&[9; 32]).verifying_key(),
                )
                .unwrap(),
            ],
        }
    }

    fn tree(n: u8, tag: u8) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.append_entry(&[tag, i]);
        }
        t
    }

    fn note(key: &SigningKey, t: &MemoryTree) -> String {
        let signer = NoteSigner::new(ORIGIN, key.clone()).unwrap();
        sign_checkpoint(
            &Checkpoint::new(ORIGIN, t.size(), t.root()).unwrap(),
            &signer,
        )
        .to_text()
    }

    #[test]
    fn a_note_is_bounded_and_checked_line_by_line() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let k = keys(&key);
        let t = tree(3, b'a');
        let text = note(&key, &t);
        let opened = open_note(&text, &k).unwrap();
        assert_eq!(opened.checkpoint.size(), 3);
        assert_eq!(opened.kept_note, text);

        // An unknown signer is ignored and not kept.
        let mut with_other = SignedNote::parse(&text).unwrap();
        let stranger =
            CosignatureSigner::new("stranger", SigningKey::from_bytes(&[5; 32])).unwrap();
        with_other
            .add_signature(stranger.cosign(with_other.body(), 7).unwrap())
            .unwrap();
        assert_eq!(
            open_note(&with_other.to_text(), &k).unwrap().kept_note,
            text
        );

        // A line under a guarded name with another key is forged.
        let mut forged = SignedNote::parse(&text).unwrap();
        let impostor = CosignatureSigner::new("peer", SigningKey::from_bytes(&[6; 32])).unwrap();
        forged
            .add_signature(impostor.cosign(forged.body(), 7).unwrap())
            .unwrap();
        assert!(matches!(
            open_note(&forged.to_text(), &k),
            Err(NoteRefusal::Forged { .. })
        ));

        // Signed by another key only: not signed.
        let other = note(&SigningKey::from_bytes(&[2; 32]), &t);
        let mut loose = k.clone();
        loose.guarded_names.clear();
        assert!(matches!(
            open_note(&other, &loose),
            Err(NoteRefusal::NotSigned { .. })
        ));
        assert!(matches!(
            open_note(&other, &k),
            Err(NoteRefusal::Forged { .. })
        ));

        // Bounds: a repeated line, too many lines, too many bytes.
        let line = text.split_once("\n\n").unwrap().1;
        let repeated = format!("{text}{line}");
        assert!(open_note(&repeated, &k).unwrap_err().is_malformed());
        let mut many = SignedNote::parse(&text).unwrap();
        for i in 0..MAX_WITNESS_NOTE_SIGNATURES {
            let s =
                CosignatureSigner::new(&format!("w{i}"), SigningKey::from_bytes(&[7; 32])).unwrap();
            many.add_signature(s.cosign(many.body(), 1).unwrap())
                .unwrap();
        }
        assert!(matches!(
            open_note(&many.to_text(), &k),
            Err(NoteRefusal::TooManySignatures { .. })
        ));
        let big = format!("{}{text}", "x".repeat(MAX_WITNESS_NOTE_LEN));
        assert!(matches!(
            open_note(&big, &k),
            Err(NoteRefusal::TooLarge { .. })
        ));
    }

    #[test]
    fn the_rules_in_their_order() {
        let t3 = tree(3, b'a');
        let t5 = tree(5, b'a');
        let f3 = tree(3, b'b');
        let cp = |t: &MemoryTree| Checkpoint::new(ORIGIN, t.size(), t.root()).unwrap();
        let none = ConsistencyProof::new(vec![]).unwrap();
        let p35 = consistency_proof(3, 5, &t5).unwrap();
        let latest = Latest {
            size: 3,
            root: t3.root(),
        };
        use Submitter::{Anyone, Owner};

        // First sight: old size 0, no proof.
        assert_eq!(
            judge(None, 0, &none, &cp(&t3), Anyone),
            Verdict::Cosign { advance: true }
        );
        assert_eq!(
            judge(None, 2, &none, &cp(&t3), Anyone),
            Verdict::StaleOldSize { latest: 0 }
        );
        // Growth with a good proof; a bad proof.
        assert_eq!(
            judge(Some(&latest), 3, &p35, &cp(&t5), Anyone),
            Verdict::Cosign { advance: true }
        );
        assert_eq!(
            judge(Some(&latest), 3, &none, &cp(&t5), Anyone),
            Verdict::BadProof
        );
        assert_eq!(
            judge(Some(&latest), 3, &none, &cp(&t5), Owner),
            Verdict::Contradiction(WitnessAlarmKind::Inconsistent)
        );
        // Stale old size, old size above the checkpoint.
        assert_eq!(
            judge(Some(&latest), 0, &none, &cp(&t5), Anyone),
            Verdict::StaleOldSize { latest: 3 }
        );
        assert_eq!(
            judge(Some(&latest), 6, &none, &cp(&t5), Anyone),
            Verdict::OldSizeAboveCheckpoint
        );
        // Same size: same root cosigned again, another root a fork.
        assert_eq!(
            judge(Some(&latest), 3, &none, &cp(&t3), Anyone),
            Verdict::Cosign { advance: false }
        );
        assert_eq!(
            judge(Some(&latest), 3, &none, &cp(&f3), Anyone),
            Verdict::Contradiction(WitnessAlarmKind::Fork)
        );
        // Smaller: a rollback from the owner, a stale request from anyone else.
        let t2 = tree(2, b'a');
        assert_eq!(
            judge(Some(&latest), 0, &none, &cp(&t2), Owner),
            Verdict::Contradiction(WitnessAlarmKind::Rollback)
        );
        assert_eq!(
            judge(Some(&latest), 0, &none, &cp(&t2), Anyone),
            Verdict::StaleOldSize { latest: 3 }
        );
        // Gossip.
        assert_eq!(judge_gossip(Some(&t3.root()), &cp(&t3)), None);
        assert_eq!(
            judge_gossip(Some(&t3.root()), &cp(&f3)),
            Some(WitnessAlarmKind::Fork)
        );
        assert_eq!(judge_gossip(None, &cp(&f3)), None);
    }

    /// The restore rule (`judge_new_epoch`): an honest declaration is accepted; each
    /// forgery — none, not entry 0, not a declaration, of another log, a proof under another
    /// key, a proof that hides what this witness cosigned or shows no loss, a restored tree
    /// that is not the cosigned one — is refused.
    #[test]
    fn a_new_epoch_is_accepted_only_with_its_declaration() {
        use streha_audit::inclusion_proof;
        use streha_core::{AgencyId, LogOrigin, Timestamp};
        const NEW: &str = "example.org/log/epoch/2";
        let key = SigningKey::from_bytes(&[1; 32]);
        let prev = keys(&key);
        let t3 = tree(3, b'a');
        let t5 = tree(5, b'a');
        let declaration = |restored: &MemoryTree, proven: &str, previous: &str| {
            AuditEntry::LogRestored {
                previous_origin: LogOrigin::new(previous).unwrap(),
                restored_size: restored.size(),
                restored_root: *restored.root().as_bytes(),
                proven_note: proven.to_owned(),
                proven_by: AgencyId::new("csw").unwrap(),
                at: Timestamp(1),
            }
            .encode()
        };
        // The new epoch: entry 0, then two more entries.
        let epoch = |first: &[u8]| {
            let mut t = MemoryTree::new();
            t.append_entry(first);
            t.append_entry(b"next");
            t.append_entry(b"and next");
            let cp = Checkpoint::new(NEW, t.size(), t.root()).unwrap();
            let proof = inclusion_proof(0, t.size(), &t).unwrap();
            (cp, proof)
        };
        let honest = declaration(&t3, &note(&key, &t5), ORIGIN);
        let (cp, proof) = epoch(&honest);
        let seen = |t: &MemoryTree| Latest {
            size: t.size(),
            root: t.root(),
        };

        // Honest: accepted whatever this witness saw up to the proven size.
        for latest in [
            None,
            Some(seen(&t3)),
            Some(seen(&tree(4, b'a'))),
            Some(seen(&t5)),
        ] {
            let loss =
                judge_new_epoch(&cp, Some((&honest, &proof)), &prev, latest.as_ref()).unwrap();
            assert_eq!(
                (
                    loss.restored_size,
                    loss.proven_size,
                    loss.proven_by.as_str()
                ),
                (3, 5, "csw")
            );
            assert_eq!(loss.previous_origin, ORIGIN);
        }

        // No declaration: an undeclared new log.
        assert_eq!(
            judge_new_epoch(&cp, None, &prev, None),
            Err(EpochRefusal::Undeclared)
        );
        // Not an epoch origin at all.
        assert!(matches!(
            judge_new_epoch(&cp_of(&t5), Some((&honest, &proof)), &prev, None),
            Err(EpochRefusal::NotAnEpoch { .. })
        ));
        // The declaration is not entry 0 of this checkpoint (another entry's proof, or a
        // declaration that is not in the tree).
        let (_, proof_of_1) = {
            let mut t = MemoryTree::new();
            t.append_entry(b"other");
            t.append_entry(&honest);
            t.append_entry(b"and next");
            (0, inclusion_proof(1, 3, &t).unwrap())
        };
        assert_eq!(
            judge_new_epoch(&cp, Some((&honest, &proof_of_1)), &prev, None),
            Err(EpochRefusal::NotFirstEntry)
        );
        let elsewhere = declaration(&t3, &note(&key, &tree(6, b'a')), ORIGIN);
        assert_eq!(
            judge_new_epoch(&cp, Some((&elsewhere, &proof)), &prev, None),
            Err(EpochRefusal::NotFirstEntry)
        );
        // Entry 0 is another kind of entry.
        let other = AuditEntry::RosterChanged {
            version: 1,
            roster_hash: [0; 32],
            at: Timestamp(1),
        }
        .encode();
        let (cp_other, proof_other) = epoch(&other);
        assert!(matches!(
            judge_new_epoch(&cp_other, Some((&other, &proof_other)), &prev, None),
            Err(EpochRefusal::NotADeclaration(_))
        ));
        // It continues another log.
        let wrong = declaration(&t3, &note(&key, &t5), "example.org/other");
        let (cp_w, proof_w) = epoch(&wrong);
        assert!(matches!(
            judge_new_epoch(&cp_w, Some((&wrong, &proof_w)), &prev, None),
            Err(EpochRefusal::WrongPrevious { .. })
        ));
        // The proof is signed by another key than the node's.
        let forged = declaration(&t3, &note(&SigningKey::from_bytes(&[2; 32]), &t5), ORIGIN);
        let (cp_f, proof_f) = epoch(&forged);
        assert!(matches!(
            judge_new_epoch(&cp_f, Some((&forged, &proof_f)), &prev, None),
            Err(EpochRefusal::ProofNotSigned(_))
        ));
        // The proof shows no loss.
        let none_lost = declaration(&t5, &note(&key, &t5), ORIGIN);
        let (cp_n, proof_n) = epoch(&none_lost);
        assert_eq!(
            judge_new_epoch(&cp_n, Some((&none_lost, &proof_n)), &prev, None),
            Err(EpochRefusal::NothingLost {
                restored: 5,
                proven: 5
            })
        );
        // The proof hides what this witness cosigned: a smaller size, or another root at
        // its size.
        let t4 = tree(4, b'a');
        let short = declaration(&t3, &note(&key, &t4), ORIGIN);
        let (cp_s, proof_s) = epoch(&short);
        assert_eq!(
            judge_new_epoch(&cp_s, Some((&short, &proof_s)), &prev, Some(&seen(&t5))),
            Err(EpochRefusal::HidesCosigned {
                cosigned: 5,
                proven: 4
            })
        );
        let forked = declaration(&t3, &note(&key, &tree(5, b'b')), ORIGIN);
        let (cp_k, proof_k) = epoch(&forked);
        assert_eq!(
            judge_new_epoch(&cp_k, Some((&forked, &proof_k)), &prev, Some(&seen(&t5))),
            Err(EpochRefusal::HidesCosigned {
                cosigned: 5,
                proven: 5
            })
        );
        // The restored tree has the cosigned size and another root.
        let alien = declaration(&tree(3, b'c'), &note(&key, &t5), ORIGIN);
        let (cp_a, proof_a) = epoch(&alien);
        assert_eq!(
            judge_new_epoch(&cp_a, Some((&alien, &proof_a)), &prev, Some(&seen(&t3))),
            Err(EpochRefusal::RestoredNotCosigned { size: 3 })
        );
    }

    fn cp_of(t: &MemoryTree) -> Checkpoint {
        Checkpoint::new(ORIGIN, t.size(), t.root()).unwrap()
    }
}
