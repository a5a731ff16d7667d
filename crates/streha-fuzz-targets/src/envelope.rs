//! Target `envelope`: a sealed envelope's bytes, decoded, verified and opened with fixed keys.

use streha_core::{DisclosureHeader, Record};
use streha_crypto::{Envelope, SIGNATURE_DOMAIN};

use crate::fixed;

/// Feeds `data` to `Envelope::from_bytes`, then `verify_signature` and `open` with the fixed
/// keys of [`fixed`], and the opened plaintext to `Record::decode`, the header context to
/// `DisclosureHeader::decode`.
///
/// Asserts: decoding is canonical (the envelope re-encodes to exactly `data`, and postcard
/// decodes the same envelope); `verify_signature` succeeds only for the header's own sender,
/// and then the header's sender is one of the fixed keys and the signature is exactly the one it
/// makes over
/// `SIGNATURE_DOMAIN ‖ u32 length ‖ header ‖ BLAKE3(ciphertext)` — no key we do not hold
/// can have signed, and no second signature of the same message is accepted; `open`
/// succeeds only for the header's recipient and only when `verify_signature` does.
pub fn envelope(data: &[u8]) {
    let Ok(envelope) = Envelope::from_bytes(data) else {
        return;
    };
    assert_eq!(envelope.to_bytes(), data, "decoding is not canonical");
    assert_eq!(
        postcard::from_bytes::<Envelope>(data).as_ref(),
        Ok(&envelope),
        "postcard decodes another envelope"
    );
    check_decoded(&envelope);
}

/// The checks on a decoded envelope (shared with the `wire_frame` target).
pub(crate) fn check_decoded(envelope: &Envelope) {
    let sender = fixed::sender().public_key();
    let header_bytes = envelope.header.to_bytes();

    // Under the key the header names (what a node does after looking the sender up).
    let verified = envelope.verify_signature(&envelope.header.sender).is_ok();
    if verified {
        let signer = fixed::signing_keys()
            .into_iter()
            .find(|k| k.public_key() == envelope.header.sender)
            .expect("a signature verified under a key whose secret nobody here holds: forged");
        assert_eq!(
            *blake3::hash(&envelope.ciphertext).as_bytes(),
            envelope.ciphertext_hash,
            "verified with a wrong ciphertext commitment"
        );
        let mut input = SIGNATURE_DOMAIN.to_vec();
        let len = u32::try_from(header_bytes.len()).expect("a header is below 4 GiB");
        input.extend_from_slice(&len.to_be_bytes());
        input.extend_from_slice(&header_bytes);
        input.extend_from_slice(&envelope.ciphertext_hash);
        assert_eq!(
            signer.sign(&input),
            envelope.signature,
            "a signature verified but is not the one its key makes: malleable"
        );
    }
    // Under the fixed sender key: the same answer, or a refusal naming the sender.
    match envelope.verify_signature(&sender) {
        Ok(()) => assert!(verified, "verified under the expected sender only"),
        Err(_) => assert!(!verified || envelope.header.sender != sender),
    }

    for key in [fixed::recipient(), fixed::other_recipient()] {
        if let Ok(plaintext) = envelope.open(key, &sender) {
            assert_eq!(
                envelope.header.recipient,
                key.public_key(),
                "opened with a key it was not sealed to"
            );
            assert!(
                verified,
                "opened an envelope whose signature does not verify"
            );
            let _ = Record::decode(&plaintext);
        }
    }
    let _ = DisclosureHeader::decode(&envelope.header.context);
}
