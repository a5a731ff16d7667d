//! Target `log_bundle`: an exported log bundle, imported and verified offline.

use streha_audit::{LogBundle, MemoryTree, SignedNote, open_checkpoint};

use crate::fixed;

/// Feeds `data` to `LogBundle::decode` and the result to `LogBundle::verify` with the fixed
/// keys.
///
/// Asserts: decoding is canonical (the bundle re-encodes to exactly `data`); a verified
/// bundle has at least one checkpoint, each checkpoint is signed by a fixed key with exactly
/// the signature that key makes, has the bundle's origin, is no larger than the entries and
/// no smaller than the one before, and its root is the root of the entries at its size,
/// recomputed here independently; the report's counts add up.
pub fn log_bundle(data: &[u8]) {
    let Ok(bundle) = LogBundle::decode(data) else {
        return;
    };
    assert_eq!(
        bundle.encode().as_deref(),
        Ok(data),
        "bundle decoding is not canonical"
    );
    let Ok(report) = bundle.verify(fixed::note_verifiers()) else {
        return;
    };
    assert!(!bundle.checkpoints.is_empty());
    assert_eq!(report.origin, bundle.origin);
    assert_eq!(report.entries, bundle.entries.len() as u64);
    assert_eq!(report.checkpoints.len(), bundle.checkpoints.len());
    let tree = MemoryTree::from_entries(&bundle.entries);
    assert_eq!(report.root, tree.root());
    let mut previous = 0;
    for (note_text, checkpoint_report) in bundle.checkpoints.iter().zip(&report.checkpoints) {
        let note = SignedNote::parse(note_text).expect("a verified checkpoint parses");
        let verified = note
            .verify(fixed::note_verifiers())
            .expect("a verified checkpoint verifies");
        crate::check_verified_note(&note, &verified);
        let (checkpoint, _) =
            open_checkpoint(note_text, fixed::note_verifiers()).expect("a verified checkpoint");
        assert_eq!(checkpoint.origin(), bundle.origin);
        assert_eq!(checkpoint.size(), checkpoint_report.size);
        assert!(
            checkpoint.size() <= report.entries,
            "a checkpoint beyond the entries"
        );
        assert!(checkpoint.size() >= previous, "checkpoints out of order");
        assert_eq!(
            *checkpoint.root(),
            tree.root_at(checkpoint.size()).expect("within the entries"),
            "a checkpoint root is not the root of the entries"
        );
        assert_eq!(checkpoint_report.root, *checkpoint.root());
        previous = checkpoint.size();
    }
    assert_eq!(report.signed_size, previous);
    assert_eq!(report.unsigned_entries, report.entries - previous);
}
