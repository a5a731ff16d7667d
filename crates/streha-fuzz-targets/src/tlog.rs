//! Target `tlog_proof`: an offline proof of one entry (C2SP `tlog-proof` text), as
//! `streha audit check-proof` reads it from a file it was handed.

use std::sync::LazyLock;

use ed25519_dalek::SigningKey;
use streha_audit::{
    CosignatureSigner, Hash, InclusionProof, MemoryTree, NoteSigner, NoteVerifier, TlogProof,
    TlogProofError, VerifiedTlogProof, inclusion_proof, interior_hash, leaf_hash,
};
use streha_core::{AgencyId, AuditEntry, ExchangeAgreement, Role, Timestamp};
use streha_crypto::NodeIdentitySecretKey;
use streha_verify::check_proof;
use streha_wire::{AgencyEntry, Roster};

use crate::fixed;

/// The agency whose log the proofs are about: its node key is [`fixed::LOG_SEED`], so its
/// log origin `fuzz.example/streha/police-a` is [`fixed::LOG_ORIGIN`].
pub const TLOG_LOG_AGENCY: &str = "police-a";
/// The witnessing agency: its node key is [`fixed::WITNESS_SEED`], so its cosignature key
/// is [`fixed::witness`] (name [`fixed::WITNESS_NAME`]).
pub const TLOG_WITNESS_AGENCY: &str = "shelter-a";
/// The number of entries of the fixed log tree the seeds prove entries of.
pub const TLOG_TREE_SIZE: u64 = 21;

/// The witness cosignature timestamp the seeds use.
pub const TLOG_COSIGNED_AT: u64 = 1_767_225_600;

/// Entry `i` of the fixed log: a real audit entry bytes for even `i`, other bytes for odd.
#[must_use]
pub fn tlog_entry(i: u64) -> Vec<u8> {
    if i.is_multiple_of(2) {
        AuditEntry::SubjectRegistered {
            subject: streha_core::SubjectId::from_bytes([u8::try_from(i % 256).unwrap_or(0); 16]),
            age_status: streha_core::AgeStatus::Adult,
            at: Timestamp(1_000 + i),
        }
        .encode()
    } else {
        format!("tlog-entry-{i}").into_bytes()
    }
}

/// The fixed log tree: [`TLOG_TREE_SIZE`] entries [`tlog_entry`].
pub fn tlog_tree() -> &'static MemoryTree {
    static TREE: LazyLock<MemoryTree> = LazyLock::new(|| {
        MemoryTree::from_entries((0..TLOG_TREE_SIZE).map(tlog_entry).collect::<Vec<_>>())
    });
    &TREE
}

/// The roster the target checks proofs against (federation `fuzz`): [`TLOG_LOG_AGENCY`]
/// with node key [`fixed::LOG_SEED`] and [`TLOG_WITNESS_AGENCY`] with node key
/// [`fixed::WITNESS_SEED`]. Each node's key signs its own log's checkpoints and cosigns the
/// other's.
pub fn tlog_roster() -> &'static Roster {
    static ROSTER: LazyLock<Roster> = LazyLock::new(|| {
        let entry = |id: &str, role, node: [u8; 32], signing, encryption| AgencyEntry {
            id: AgencyId::new(id).expect("agency id"),
            role,
            address: "127.0.0.1:1".into(),
            node_key: NodeIdentitySecretKey::from_seed_bytes(node).public_key(),
            signing_key: signing,
            encryption_key: encryption,
            officers: vec![],
        };
        Roster::new(
            "fuzz.example",
            1,
            Timestamp(1),
            vec![
                entry(
                    TLOG_LOG_AGENCY,
                    Role::Police,
                    fixed::LOG_SEED,
                    fixed::sender().public_key(),
                    fixed::recipient().public_key(),
                ),
                entry(
                    TLOG_WITNESS_AGENCY,
                    Role::LicensedNgo,
                    fixed::WITNESS_SEED,
                    fixed::other_sender().public_key(),
                    fixed::other_recipient().public_key(),
                ),
            ],
            ExchangeAgreement::new(vec![]).expect("empty agreement"),
        )
        .expect("roster")
    });
    &ROSTER
}

/// One roster node as the target knows it: agency, log origin, and its key.
struct Node {
    agency: &'static str,
    origin: String,
    key: SigningKey,
}

fn nodes() -> &'static [Node] {
    static NODES: LazyLock<Vec<Node>> = LazyLock::new(|| {
        [
            (TLOG_LOG_AGENCY, fixed::LOG_SEED),
            (TLOG_WITNESS_AGENCY, fixed::WITNESS_SEED),
        ]
        .into_iter()
        .map(|(agency, seed)| Node {
            agency,
            origin: format!("fuzz.example/streha/{agency}"),
            key: SigningKey::from_bytes(&seed),
        })
        .collect()
    });
    &NODES
}

/// The log keys (Ed25519) and witness keys (`cosignature/v1`) of the roster, as
/// `check_proof` derives them.
fn verifiers() -> &'static (Vec<NoteVerifier>, Vec<NoteVerifier>) {
    static VERIFIERS: LazyLock<(Vec<NoteVerifier>, Vec<NoteVerifier>)> = LazyLock::new(|| {
        let logs = nodes()
            .iter()
            .map(|n| NoteVerifier::new(&n.origin, n.key.verifying_key()).expect("key name"))
            .collect();
        let witnesses = nodes()
            .iter()
            .map(|n| {
                NoteVerifier::cosignature_v1(&n.origin, n.key.verifying_key()).expect("key name")
            })
            .collect();
        (logs, witnesses)
    });
    &VERIFIERS
}

/// Feeds `data` (as UTF-8 text) to `TlogProof::parse` and, for several candidate entries
/// and witness thresholds, to `TlogProof::verify` and `streha_verify::check_proof` (what
/// `streha audit check-proof` runs) with the fixed roster [`tlog_roster`].
///
/// The candidate entries are the `extra` data (unauthenticated, so the fuzzer chooses the
/// entry there), the real entry at the proof's index of the fixed tree [`tlog_tree`], and
/// the real entry at the next index.
///
/// Asserts: parsing is canonical (`to_text()` gives the input back); `check_proof` and
/// `verify` agree exactly (same result or same error); and whatever checks is internally
/// consistent: the checkpoint's origin is a roster log whose key signed it, with exactly the
/// signature that key makes (no forgery, no malleability), every reported witness is
/// another roster node whose cosignature line is in the note with exactly that key's
/// signature and the reported time, names are distinct and sorted, at least the threshold;
/// the index is below the size, and the root recomputed here independently from the
/// entry's leaf hash and the proof hashes (RFC 9162 §2.1.3.2) is the checkpoint's root; a
/// checkpoint of the fixed tree proves only its real entry at that index, with the real
/// proof; raising the threshold only removes successes, at exactly the witness count; the
/// report of `check_proof` names the agency, origin, index, size, root and entry kind of
/// what verified.
pub fn tlog_proof(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(proof) = TlogProof::parse(text) else {
        return;
    };
    assert_eq!(proof.to_text(), text, "tlog-proof parsing is not canonical");
    assert_eq!(TlogProof::parse(&proof.to_text()).as_ref(), Ok(&proof));

    let mut candidates: Vec<Vec<u8>> = Vec::new();
    if let Some(extra) = proof.extra() {
        candidates.push(extra.to_vec());
    }
    for i in [proof.index(), proof.index().saturating_add(1)] {
        if i < TLOG_TREE_SIZE {
            candidates.push(tlog_entry(i));
        }
    }
    candidates.push(Vec::new());
    let (logs, witnesses) = verifiers();
    for entry in &candidates {
        let mut previous: Option<VerifiedTlogProof> = None;
        for min_witnesses in 0..=3 {
            let verified = proof.verify(entry, logs, witnesses, min_witnesses);
            let checked = check_proof(text, entry, tlog_roster(), min_witnesses);
            match (&verified, &checked) {
                (Ok(v), Ok(c)) => {
                    check_verified(&proof, entry, v, min_witnesses);
                    let node = nodes().iter().find(|n| n.origin == v.log).expect("checked");
                    assert_eq!(c.agency, node.agency);
                    assert_eq!(c.origin, v.log);
                    assert_eq!(c.index, v.index);
                    assert_eq!(c.size, v.checkpoint.size());
                    assert_eq!(c.root, v.checkpoint.root().to_hex());
                    assert_eq!(
                        c.entry_kind,
                        AuditEntry::decode(entry).ok().map(|e| e.kind_name())
                    );
                    let agencies: Vec<(String, u64)> = v
                        .witnesses
                        .iter()
                        .map(|(name, ts)| {
                            let agency = nodes()
                                .iter()
                                .find(|n| n.origin == *name)
                                .expect("a roster witness")
                                .agency;
                            (agency.to_owned(), *ts)
                        })
                        .collect();
                    assert_eq!(c.witnesses, agencies);
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "check_proof and verify disagree"),
                _ => panic!("check_proof and verify disagree: {verified:?} vs {checked:?}"),
            }
            match (&previous, &verified) {
                (Some(p), Ok(v)) => assert_eq!(p, v, "the threshold changed the result"),
                (Some(p), Err(e)) => assert_eq!(
                    *e,
                    TlogProofError::TooFewWitnesses {
                        found: p.witnesses.len(),
                        required: min_witnesses,
                    },
                    "a higher threshold failed for another reason"
                ),
                (None, Ok(_)) => assert_eq!(min_witnesses, 0, "a lower threshold failed"),
                (None, Err(_)) => {}
            }
            previous = verified.ok();
        }
    }
}

/// The invariants of one successful verification of `proof` for `entry`.
fn check_verified(proof: &TlogProof, entry: &[u8], v: &VerifiedTlogProof, min_witnesses: usize) {
    let checkpoint = proof.checkpoint();
    assert_eq!(v.checkpoint, *checkpoint);
    assert_eq!(v.index, proof.index());
    assert_eq!(v.log, checkpoint.origin());
    let log = nodes()
        .iter()
        .find(|n| n.origin == v.log)
        .expect("a proof verified for a log not in the roster");

    // The log's own signature is present and is exactly what its key makes.
    let body = proof.note().body();
    let log_signer = NoteSigner::new(&log.origin, log.key.clone()).expect("key name");
    let expected = log_signer.sign(body).expect("a verified body is signable");
    let log_lines: Vec<_> = proof
        .note()
        .signatures()
        .iter()
        .filter(|s| *s.name() == *log_signer.name() && s.key_id() == log_signer.key_id())
        .collect();
    assert!(
        !log_lines.is_empty(),
        "verified without the log's signature"
    );
    for line in log_lines {
        assert_eq!(
            line.signature_bytes(),
            expected.signature_bytes(),
            "the log's signature verified but is not the one its key makes"
        );
    }

    // Every reported witness is another roster node with a genuine cosignature line.
    assert!(v.witnesses.len() >= min_witnesses, "too few witnesses");
    assert!(
        v.witnesses.windows(2).all(|w| w[0].0 < w[1].0),
        "witnesses not distinct and sorted"
    );
    for (name, timestamp) in &v.witnesses {
        assert_ne!(*name, v.log, "the log counted as its own witness");
        let node = nodes()
            .iter()
            .find(|n| n.origin == *name)
            .expect("a witness not in the roster");
        let cosigner = CosignatureSigner::new(&node.origin, node.key.clone()).expect("key name");
        let expected = cosigner
            .cosign(body, *timestamp)
            .expect("a verified body is cosignable");
        assert!(
            proof.note().signatures().iter().any(|s| {
                *s.name() == *cosigner.name()
                    && s.key_id() == cosigner.key_id()
                    && s.signature_bytes() == expected.signature_bytes()
            }),
            "a reported witness has no genuine cosignature at the reported time"
        );
        // Every line under that key verified, so each is genuine at its own time.
        for line in proof
            .note()
            .signatures()
            .iter()
            .filter(|s| *s.name() == *cosigner.name() && s.key_id() == cosigner.key_id())
        {
            let bytes = line.signature_bytes();
            assert_eq!(bytes.len(), 72);
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&bytes[..8]);
            let again = cosigner
                .cosign(body, u64::from_be_bytes(ts))
                .expect("cosignable");
            assert_eq!(
                bytes,
                again.signature_bytes(),
                "a cosignature verified but is not the one the key makes"
            );
        }
    }
    // The inclusion proof binds the entry to the root, recomputed independently.
    let size = checkpoint.size();
    assert!(v.index < size, "an index outside the checkpoint's tree");
    assert_eq!(
        root_from_inclusion(&leaf_hash(entry), v.index, size, proof.proof()),
        Some(*checkpoint.root()),
        "the proof verified but does not recompute to the root"
    );

    // A checkpoint of the fixed tree proves only its real entries, with the real proof.
    if size <= TLOG_TREE_SIZE && tlog_tree().root_at(size).ok().as_ref() == Some(checkpoint.root())
    {
        assert_eq!(
            entry,
            tlog_entry(v.index),
            "another entry proven in the tree"
        );
        assert_eq!(
            *proof.proof(),
            inclusion_proof(v.index, size, tlog_tree()).expect("in the tree"),
            "another proof accepted for a real entry"
        );
    }
}

/// The root an inclusion proof leads to from `leaf` at `index` in a tree of `size`
/// (RFC 9162 §2.1.3.2), written here independently of `streha_audit`; `None` if the proof
/// does not fit the position.
fn root_from_inclusion(leaf: &Hash, index: u64, size: u64, proof: &InclusionProof) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let mut f = index;
    let mut s = size - 1;
    let mut r = *leaf;
    for p in proof.hashes() {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = interior_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = interior_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}
