//! Target `signed_note`: signed notes, checkpoints and verifier keys as text.

use streha_audit::{Checkpoint, KeyId, NoteVerifier, SignedNote, open_checkpoint};

use crate::fixed;

/// Feeds `data` (as UTF-8 text) to `SignedNote::parse` and `verify` with the fixed keys,
/// `open_checkpoint`, `Checkpoint::parse_body`, and its first line to
/// `NoteVerifier::from_vkey`.
///
/// Asserts: a parsed note prints back to exactly the input, with at most
/// `MAX_NOTE_SIGNATURES` signatures and a newline-terminated body; every signature by a
/// fixed key that verifies is exactly the one that key makes (Ed25519 or `cosignature/v1`,
/// with the line's timestamp); an opened checkpoint is the verified body; a parsed
/// checkpoint body prints back to exactly the input; a parsed vkey prints back to a vkey
/// that parses to the same verifier, whose key id is the one computed from name, type and
/// key.
pub fn signed_note(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let first_line = text.split('\n').next().unwrap_or_default();
    if let Ok(verifier) = NoteVerifier::from_vkey(first_line) {
        let printed = verifier.to_vkey();
        assert_eq!(
            printed.to_ascii_lowercase(),
            first_line.to_ascii_lowercase(),
            "a vkey is accepted in a non-canonical form other than hex case"
        );
        assert_eq!(NoteVerifier::from_vkey(&printed).as_ref(), Ok(&verifier));
        assert_eq!(
            verifier.key_id(),
            KeyId::compute(
                verifier.name(),
                verifier.signature_type(),
                verifier.verifying_key()
            )
        );
    }

    if let Ok(checkpoint) = Checkpoint::parse_body(text) {
        assert_eq!(
            checkpoint.to_body(),
            text,
            "a checkpoint body is not canonical"
        );
        let rebuilt = checkpoint
            .extensions()
            .iter()
            .try_fold(
                Checkpoint::new(checkpoint.origin(), checkpoint.size(), *checkpoint.root())
                    .expect("a parsed checkpoint's parts are valid"),
                |c, e| c.with_extension(e.clone()),
            )
            .expect("a parsed checkpoint's extensions are valid");
        assert_eq!(rebuilt, checkpoint);
    }

    let Ok(note) = SignedNote::parse(text) else {
        assert!(open_checkpoint(text, fixed::note_verifiers()).is_err());
        return;
    };
    assert_eq!(note.to_text(), text, "a note is not canonical");
    assert!(note.body().ends_with('\n'));
    assert!(!note.signatures().is_empty());
    assert!(note.signatures().len() <= streha_audit::MAX_NOTE_SIGNATURES);
    assert_eq!(SignedNote::parse(&note.to_text()).as_ref(), Ok(&note));

    if let Ok(verified) = note.verify(fixed::note_verifiers()) {
        crate::check_verified_note(&note, &verified);
        let opened = open_checkpoint(text, fixed::note_verifiers());
        match Checkpoint::parse_body(note.body()) {
            Ok(checkpoint) => {
                let (opened, signers) = opened.expect("a verified checkpoint note opens");
                assert_eq!(opened, checkpoint);
                assert_eq!(signers, verified.signer_names());
            }
            Err(_) => assert!(opened.is_err()),
        }
    } else {
        assert!(open_checkpoint(text, fixed::note_verifiers()).is_err());
    }
}
