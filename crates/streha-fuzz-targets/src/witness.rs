//! The `tlog_witness_request` target: the C2SP tlog-witness `add-checkpoint` body parser of
//! `streha witness serve`, and the witness rules on whatever it accepts.

use ed25519_dalek::SigningKey;
use streha_audit::{Hash, NoteVerifier};
use streha_witness::protocol::{MAX_REQUEST_LEN, format_add_checkpoint, parse_add_checkpoint};
use streha_witness::rules::{Latest, LogKeys, NoteBounds, Submitter, judge, open_note_within};

/// The origin of the fixed log the target's witness follows.
pub const WITNESS_LOG_ORIGIN: &str = "fuzz.example/log";

/// Feeds `data` to `parse_add_checkpoint` and asserts: nothing over `MAX_REQUEST_LEN` is
/// accepted; what is accepted has at most 63 proof lines and is canonical (written again,
/// it is the input, byte for byte); the rules never panic on it, with no state and with a
/// cosigned size, for the owner and for anyone (the note opened within the HTTP witness's
/// bounds, as `streha witness serve` opens it).
pub fn tlog_witness_request(data: &[u8]) {
    let Ok(request) = parse_add_checkpoint(data) else {
        return;
    };
    assert!(
        data.len() <= MAX_REQUEST_LEN,
        "an oversized body was accepted"
    );
    assert!(
        request.proof.hashes().len() <= 63,
        "more than 63 proof lines"
    );
    let again = format_add_checkpoint(request.old_size, &request.proof, &request.checkpoint);
    assert_eq!(again.as_bytes(), data, "the request does not round-trip");

    let key = SigningKey::from_bytes(&[0x77; 32]);
    let keys = LogKeys {
        origin: WITNESS_LOG_ORIGIN.into(),
        log: vec![NoteVerifier::new(WITNESS_LOG_ORIGIN, key.verifying_key()).expect("name")],
        guarded_names: Vec::new(),
        known: Vec::new(),
    };
    let Ok(opened) = open_note_within(&request.checkpoint, &keys, NoteBounds::HTTP) else {
        return;
    };
    assert_eq!(opened.checkpoint.origin(), WITNESS_LOG_ORIGIN);
    let latest = Latest {
        size: 3,
        root: Hash::from_bytes([1; 32]),
    };
    for submitter in [Submitter::Owner, Submitter::Anyone] {
        let _ = judge(
            None,
            request.old_size,
            &request.proof,
            &opened.checkpoint,
            submitter,
        );
        let _ = judge(
            Some(&latest),
            request.old_size,
            &request.proof,
            &opened.checkpoint,
            submitter,
        );
    }
}
