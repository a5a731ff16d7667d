//! Sealed envelopes: round trips, and that every single-byte change is refused by the check
//! that `spec/envelope.md` ("Opening") says comes first.

use proptest::prelude::*;
use streha_crypto::danger::seal_with_ephemeral;
use streha_crypto::{
    AgencyEncryptionSecretKey, AgencySigningPublicKey, AgencySigningSecretKey, Envelope,
    EnvelopeError, seal,
};

struct Parties {
    sender: AgencySigningSecretKey,
    recipient: AgencyEncryptionSecretKey,
}

impl Parties {
    fn fixed() -> Self {
        Self {
            sender: AgencySigningSecretKey::from_seed_bytes([0x31; 32]),
            recipient: AgencyEncryptionSecretKey::from_seed_bytes([0x32; 32]),
        }
    }

    fn sender_public(&self) -> AgencySigningPublicKey {
        self.sender.public_key()
    }

    fn seal(&self, context: &[u8], plaintext: &[u8]) -> Envelope {
        seal(
            &self.sender,
            &self.recipient.public_key(),
            context,
            plaintext,
        )
        .unwrap()
    }

    fn open(&self, envelope: &Envelope) -> Result<Vec<u8>, EnvelopeError> {
        envelope
            .open(&self.recipient, &self.sender_public())
            .map(|plaintext| plaintext.to_vec())
    }
}

/// Where a byte of an encoded envelope lies, and which check must catch a change to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Version,
    Sender,
    Recipient,
    Ephemeral,
    LengthPrefix,
    Context,
    Ciphertext,
    CiphertextHash,
    Signature,
}

fn region(envelope: &Envelope, index: usize) -> Region {
    let context_len = envelope.header.context.len();
    let prefix = |n: usize| {
        if n < 0x80 {
            1
        } else if n < 0x4000 {
            2
        } else {
            3
        }
    };
    let context_start = 97 + prefix(context_len);
    let context_end = context_start + context_len;
    let ciphertext_start = context_end + prefix(envelope.ciphertext.len());
    let ciphertext_end = ciphertext_start + envelope.ciphertext.len();
    match index {
        0 => Region::Version,
        1..33 => Region::Sender,
        33..65 => Region::Recipient,
        65..97 => Region::Ephemeral,
        i if i < context_start => Region::LengthPrefix,
        i if i < context_end => Region::Context,
        i if i < ciphertext_start => Region::LengthPrefix,
        i if i < ciphertext_end => Region::Ciphertext,
        i if i < ciphertext_end + 32 => Region::CiphertextHash,
        _ => Region::Signature,
    }
}

/// Changes byte `index` of the encoding by `mask`, then decodes and opens. Asserts that the
/// result is an error and, where the check order fixes it, which one.
fn assert_flip_refused(parties: &Parties, envelope: &Envelope, index: usize, mask: u8) {
    assert_ne!(mask, 0);
    let mut bytes = envelope.to_bytes();
    bytes[index] ^= mask;
    let region = region(envelope, index);
    let result: Result<(), EnvelopeError> = Envelope::from_bytes(&bytes).and_then(|decoded| {
        // A node's check agrees with open() on every field it can see.
        let verified = decoded.verify_signature(&parties.sender_public());
        let opened = parties.open(&decoded);
        let opened_error = opened.expect_err("a changed envelope opened");
        match region {
            Region::Ciphertext | Region::CiphertextHash => {
                assert_eq!(verified, Err(EnvelopeError::TamperedCiphertext));
            }
            Region::Recipient | Region::Ephemeral | Region::Context | Region::Signature => {
                assert_eq!(verified, Err(EnvelopeError::BadSignature));
            }
            Region::Sender => assert_eq!(verified, Err(EnvelopeError::UnexpectedSender)),
            Region::Version | Region::LengthPrefix => assert!(verified.is_err()),
        }
        Err(opened_error)
    });
    let error = result.expect_err("a changed envelope decoded and opened");
    let expected = match region {
        Region::Version => Some(EnvelopeError::UnsupportedVersion(1 ^ mask)),
        // Either not a valid key any more (refused at decoding) or another key.
        Region::Sender => (!matches!(error, EnvelopeError::Malformed { .. }))
            .then_some(EnvelopeError::UnexpectedSender),
        Region::Recipient => (!matches!(error, EnvelopeError::Malformed { .. }))
            .then_some(EnvelopeError::WrongRecipient),
        Region::Ephemeral | Region::Context => Some(EnvelopeError::TamperedHeader),
        Region::Ciphertext | Region::CiphertextHash => Some(EnvelopeError::TamperedCiphertext),
        Region::Signature => Some(EnvelopeError::BadSignature),
        // The layout shifts: any refusal will do.
        Region::LengthPrefix => None,
    };
    if let Some(expected) = expected {
        assert_eq!(error, expected, "byte {index} ({region:?}) ^ {mask:#04x}");
    }
}

#[test]
fn round_trip_through_bytes_and_serde() {
    let parties = Parties::fixed();
    for (context, plaintext) in [
        (&b""[..], &b""[..]),
        (b"context", b"plaintext"),
        (&[0xab; 300][..], &[0xcd; 5000][..]),
    ] {
        let envelope = parties.seal(context, plaintext);
        assert_eq!(envelope.header.context, context);
        assert_eq!(envelope.header.sender, parties.sender_public());
        assert_eq!(envelope.header.recipient, parties.recipient.public_key());
        assert_eq!(
            envelope.ciphertext_hash,
            *blake3::hash(&envelope.ciphertext).as_bytes()
        );
        let bytes = envelope.to_bytes();
        let decoded = Envelope::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, envelope);
        assert_eq!(postcard::to_allocvec(&envelope).unwrap(), bytes);
        assert_eq!(postcard::from_bytes::<Envelope>(&bytes).unwrap(), envelope);
        let json = serde_json::to_string(&envelope).unwrap();
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), envelope);
        assert_eq!(parties.open(&decoded).unwrap(), plaintext);
        decoded.verify_signature(&parties.sender_public()).unwrap();
    }
}

#[test]
fn wrong_recipient_key() {
    let parties = Parties::fixed();
    let envelope = parties.seal(b"ctx", b"secret record");
    let other = AgencyEncryptionSecretKey::from_seed_bytes([0x33; 32]);
    assert_eq!(
        envelope.open(&other, &parties.sender_public()),
        Err(EnvelopeError::WrongRecipient)
    );
}

#[test]
fn wrong_expected_sender() {
    let parties = Parties::fixed();
    let envelope = parties.seal(b"ctx", b"secret record");
    let other = AgencySigningSecretKey::from_seed_bytes([0x34; 32]).public_key();
    assert_eq!(
        envelope.open(&parties.recipient, &other),
        Err(EnvelopeError::UnexpectedSender)
    );
    assert_eq!(
        envelope.verify_signature(&other),
        Err(EnvelopeError::UnexpectedSender)
    );
}

#[test]
fn re_signing_someone_elses_ciphertext_does_not_work() {
    // Mallory takes Alice's envelope, names herself as sender and signs it. The header is the
    // AEAD's associated data, so the ciphertext no longer decrypts.
    let parties = Parties::fixed();
    let envelope = parties.seal(b"ctx", b"Alice's record");
    let mallory = AgencySigningSecretKey::from_seed_bytes([0x66; 32]);
    let forged = seal_with_ephemeral(
        &mallory,
        &parties.recipient.public_key(),
        b"ctx",
        b"anything",
        [0x77; 32],
    )
    .unwrap();
    let mut stolen = envelope.clone();
    stolen.header.sender = mallory.public_key();
    stolen.signature = forged.signature; // any signature: check 5 comes first
    assert_eq!(
        stolen.open(&parties.recipient, &mallory.public_key()),
        Err(EnvelopeError::TamperedHeader)
    );
}

#[test]
fn swapped_parts_of_two_envelopes_are_refused() {
    let parties = Parties::fixed();
    let a = parties.seal(b"ctx", b"first");
    let b = parties.seal(b"ctx", b"second");
    // Ciphertext and its (valid) hash from another envelope: the header does not match.
    let mut mixed = a.clone();
    mixed.ciphertext = b.ciphertext.clone();
    mixed.ciphertext_hash = b.ciphertext_hash;
    assert_eq!(parties.open(&mixed), Err(EnvelopeError::TamperedHeader));
    // Header from another envelope with the same context: AEAD fails too.
    let mut mixed = a.clone();
    mixed.header = b.header.clone();
    assert_eq!(parties.open(&mixed), Err(EnvelopeError::TamperedHeader));
    // Signature of another envelope.
    let mut mixed = a.clone();
    mixed.signature = b.signature;
    assert_eq!(parties.open(&mixed), Err(EnvelopeError::BadSignature));
    assert_eq!(
        mixed.verify_signature(&parties.sender_public()),
        Err(EnvelopeError::BadSignature)
    );
}

#[test]
fn unsupported_version_comes_first() {
    let parties = Parties::fixed();
    let mut envelope = parties.seal(b"ctx", b"x");
    envelope.header.version = 2;
    // Also break everything else: the version is still what is reported.
    envelope.ciphertext_hash = [0; 32];
    let other = AgencyEncryptionSecretKey::from_seed_bytes([0x33; 32]);
    let other_sender = AgencySigningSecretKey::from_seed_bytes([0x34; 32]).public_key();
    assert_eq!(
        envelope.open(&other, &other_sender),
        Err(EnvelopeError::UnsupportedVersion(2))
    );
    assert_eq!(
        envelope.verify_signature(&other_sender),
        Err(EnvelopeError::UnsupportedVersion(2))
    );
}

#[test]
fn every_single_byte_change_is_refused() {
    let parties = Parties::fixed();
    let envelope = parties.seal(&[0x5c; 40], &[0xc5; 30]);
    let len = envelope.to_bytes().len();
    for index in 0..len {
        for mask in [0x01, 0x80, 0xff] {
            assert_flip_refused(&parties, &envelope, index, mask);
        }
    }
}

#[test]
fn truncations_are_refused() {
    let parties = Parties::fixed();
    let bytes = parties.seal(b"context", b"plaintext").to_bytes();
    for len in 0..bytes.len() {
        assert!(Envelope::from_bytes(&bytes[..len]).is_err());
        assert!(postcard::from_bytes::<Envelope>(&bytes[..len]).is_err());
    }
}

fn parties() -> &'static Parties {
    static PARTIES: std::sync::OnceLock<Parties> = std::sync::OnceLock::new();
    PARTIES.get_or_init(Parties::fixed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_envelopes_round_trip(
        context in proptest::collection::vec(any::<u8>(), 0..300),
        plaintext in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let parties = parties();
        let envelope = parties.seal(&context, &plaintext);
        let decoded = Envelope::from_bytes(&envelope.to_bytes()).unwrap();
        prop_assert_eq!(parties.open(&decoded).unwrap(), plaintext);
    }

    #[test]
    fn flipping_any_byte_of_the_encoding_is_refused(
        context in proptest::collection::vec(any::<u8>(), 0..200),
        plaintext in proptest::collection::vec(any::<u8>(), 0..200),
        position in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let parties = parties();
        let envelope = parties.seal(&context, &plaintext);
        let index = position.index(envelope.to_bytes().len());
        assert_flip_refused(parties, &envelope, index, mask);
    }

    #[test]
    fn flipping_any_byte_of_a_field_is_refused(
        field in 0usize..5,
        position in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let parties = parties();
        let mut envelope = parties.seal(b"a context of some length", b"a plaintext");
        let expected = match field {
            0 => {
                let i = position.index(envelope.header.context.len());
                envelope.header.context[i] ^= mask;
                EnvelopeError::TamperedHeader
            }
            1 => {
                let i = position.index(32);
                envelope.header.ephemeral[i] ^= mask;
                EnvelopeError::TamperedHeader
            }
            2 => {
                let i = position.index(envelope.ciphertext.len());
                envelope.ciphertext[i] ^= mask;
                EnvelopeError::TamperedCiphertext
            }
            3 => {
                let i = position.index(32);
                envelope.ciphertext_hash[i] ^= mask;
                EnvelopeError::TamperedCiphertext
            }
            _ => {
                let mut signature = envelope.signature.to_bytes();
                signature[position.index(64)] ^= mask;
                envelope.signature = streha_crypto::Signature::from_bytes(signature);
                EnvelopeError::BadSignature
            }
        };
        prop_assert_eq!(parties.open(&envelope), Err(expected));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Envelope::from_bytes(&bytes);
        let _ = postcard::from_bytes::<Envelope>(&bytes);
        let mut versioned = bytes.clone();
        if let Some(first) = versioned.first_mut() {
            *first = 1;
        }
        let _ = Envelope::from_bytes(&versioned);
    }
}
