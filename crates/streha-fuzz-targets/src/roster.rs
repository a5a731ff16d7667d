//! Target `roster`: a roster as a node receives it (signed-note text) or as `streha roster`
//! edits it (the unsigned TOML body).

use std::collections::BTreeSet;

use streha_audit::SignedNote;
use streha_wire::Roster;

use crate::fixed;

/// Feeds `data` (as UTF-8 text) to `Roster::open` with the fixed roster key and to
/// `Roster::from_unsigned_body`.
///
/// Asserts: an opened roster's note verifies under the roster key with exactly the
/// signature that key makes over the body (no forgery, no malleability), its body parses to
/// the same roster, and the roster keeps the note text; every roster that parses has unique
/// agency ids and unique keys, a valid federation name, and its body (`to_body`) parses back
/// to the same roster; a validity period is never empty.
pub fn roster(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let roster_key = fixed::roster_key().public_key();
    if let Ok(roster) = Roster::open(text, &roster_key) {
        assert_eq!(roster.signed_note(), Some(text));
        let note = SignedNote::parse(text).expect("an opened roster is a note");
        let signer = fixed::roster_note_signer();
        let verified = note
            .verify(std::slice::from_ref(&signer.verifier()))
            .expect("an opened roster's note verifies");
        crate::check_verified_note(&note, &verified);
        let unsigned = Roster::from_unsigned_body(note.body()).expect("the body parses");
        assert_eq!(unsigned, without_note(&roster));
        check(&roster);
    }
    if let Ok(roster) = Roster::from_unsigned_body(text) {
        assert_eq!(roster.signed_note(), None);
        check(&roster);
    }
}

fn check(roster: &Roster) {
    let name = roster.federation();
    assert!(!name.is_empty() && name.len() <= 64);
    let mut ids = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for agency in roster.agencies() {
        assert!(ids.insert(agency.id.clone()), "duplicate agency accepted");
        assert_eq!(roster.policy_view().role_of(&agency.id), Some(agency.role));
        let mut agency_keys = vec![
            agency.node_key.to_bytes(),
            agency.signing_key.to_bytes(),
            agency.encryption_key.to_bytes(),
        ];
        agency_keys.extend(agency.officers.iter().map(|o| o.key.to_bytes()));
        for key in agency_keys {
            assert!(keys.insert(key), "a key is used twice in the roster");
        }
        assert!(!agency.address.chars().any(char::is_whitespace));
    }
    let body = roster.to_body().expect("a valid roster serialises");
    let again = Roster::from_unsigned_body(&body).expect("a roster's own body parses");
    assert_eq!(
        again,
        without_note(roster),
        "the roster body does not round-trip"
    );
    if let Some(end) = roster.expires_at() {
        assert!(
            end > roster.issued_at(),
            "an empty validity period accepted"
        );
    }
}

/// The same roster, its signed note (if any) forgotten.
fn without_note(roster: &Roster) -> Roster {
    roster
        .clone()
        .with_expiry(roster.expires_at())
        .expect("a parsed roster's validity period is valid")
}
