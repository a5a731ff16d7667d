//! Sealed envelopes, version 1 (`spec/envelope.md`).

use chacha20poly1305::aead::{Aead as _, AeadInOut as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use serde::{Deserialize, Deserializer, Serialize, de};
use subtle::ConstantTimeEq as _;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize as _, Zeroizing};

use crate::ed25519::{AgencySigningPublicKey, AgencySigningSecretKey};
use crate::signature::Signature;
use crate::x25519::{AgencyEncryptionPublicKey, AgencyEncryptionSecretKey};

/// The envelope version this crate seals and opens.
pub const ENVELOPE_VERSION: u8 = 1;

/// The largest `context` a header may carry, in bytes (16 KiB).
pub const MAX_CONTEXT_LEN: usize = 16 * 1024;

/// The largest ciphertext an envelope may carry, in bytes (4 MiB), tag included.
pub const MAX_CIPHERTEXT_LEN: usize = 4 * 1024 * 1024;

/// Length of the ChaCha20-Poly1305 authentication tag at the end of the ciphertext.
const TAG_LEN: usize = 16;

/// The largest plaintext [`seal`] accepts: [`MAX_CIPHERTEXT_LEN`] minus the 16-byte tag.
pub const MAX_PLAINTEXT_LEN: usize = MAX_CIPHERTEXT_LEN - TAG_LEN;

/// Length of the header's fixed part: version, sender, recipient, ephemeral key.
const HEADER_FIXED_LEN: usize = 1 + 32 + 32 + 32;

/// The largest encoded envelope [`Envelope::from_bytes`] reads, in bytes.
pub const MAX_ENVELOPE_LEN: usize = HEADER_FIXED_LEN
    + varint_len(MAX_CONTEXT_LEN)
    + MAX_CONTEXT_LEN
    + varint_len(MAX_CIPHERTEXT_LEN)
    + MAX_CIPHERTEXT_LEN
    + 32
    + Signature::LEN;

/// The BLAKE3 `derive_key` context of the sealing key (never change it: it is part of v1).
pub const SEALING_KEY_CONTEXT: &str = "streha 2026-11-23 envelope v1 sealing key";

/// The prefix of every envelope signature input (domain separation; ends with a NUL byte).
pub const SIGNATURE_DOMAIN: &[u8] = b"streha envelope v1 signature\0";

/// Why an envelope could not be sealed, decoded, verified or opened.
///
/// [`Envelope::open`] and [`Envelope::verify_signature`] report the *first* failing check
/// in the order of `spec/envelope.md` ("Opening"). Messages never contain plaintext or keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Check 1: the envelope's version is not [`ENVELOPE_VERSION`].
    #[error(
        "envelope version {0} is not supported (this build reads version 1): \
         upgrade Streha or ask the sender to seal with version 1"
    )]
    UnsupportedVersion(u8),
    /// Check 2: the header names another sender than the one expected.
    #[error(
        "the envelope's sender key is not the expected agency's: refuse it, and check which \
         agency the roster says sent it"
    )]
    UnexpectedSender,
    /// Check 3: the envelope is sealed to another encryption key.
    #[error(
        "the envelope is sealed to another agency encryption key: it is not for this key \
         (is the right key file loaded, or was the key rotated?)"
    )]
    WrongRecipient,
    /// Check 4: the ciphertext does not match its committed BLAKE3 hash.
    #[error(
        "the ciphertext does not match its committed hash: it was altered or corrupted after \
         sealing; refuse it and ask the sender to send it again"
    )]
    TamperedCiphertext,
    /// Check 5: the ciphertext matches its commitment but does not decrypt under the header
    /// (or the header's ephemeral key is of small order): the header was altered.
    #[error(
        "the envelope header does not authenticate the ciphertext: the header was altered \
         after sealing; refuse it"
    )]
    TamperedHeader,
    /// Check 6: the sender's Ed25519 signature over header and ciphertext hash is invalid.
    #[error("the sender's signature over the envelope is invalid: refuse it")]
    BadSignature,
    /// The header's context is longer than [`MAX_CONTEXT_LEN`].
    #[error("the envelope context is {len} bytes, over the {max}-byte limit")]
    ContextTooLarge {
        /// Length of the context.
        len: usize,
        /// [`MAX_CONTEXT_LEN`].
        max: usize,
    },
    /// The ciphertext is longer than [`MAX_CIPHERTEXT_LEN`].
    #[error("the envelope ciphertext is {len} bytes, over the {max}-byte limit")]
    CiphertextTooLarge {
        /// Length of the ciphertext.
        len: usize,
        /// [`MAX_CIPHERTEXT_LEN`].
        max: usize,
    },
    /// The plaintext given to [`seal`] is longer than [`MAX_PLAINTEXT_LEN`].
    #[error("the plaintext is {len} bytes, over the {max}-byte limit of one envelope")]
    PlaintextTooLarge {
        /// Length of the plaintext.
        len: usize,
        /// [`MAX_PLAINTEXT_LEN`].
        max: usize,
    },
    /// X25519 with the recipient key gave the all-zero secret (a small-order key).
    #[error(
        "the recipient encryption key is a low-order point (key agreement is not \
         contributory): refuse it, and check the recipient's roster entry"
    )]
    NonContributory,
    /// The operating system's random number generator failed while sealing.
    #[error(
        "the operating system's random number generator failed; nothing was sealed. Retry; if \
         it persists, the system's entropy source is broken"
    )]
    Randomness,
    /// The encoded envelope is longer than [`MAX_ENVELOPE_LEN`].
    #[error("the encoded envelope is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// [`MAX_ENVELOPE_LEN`].
        max: usize,
    },
    /// The bytes are not a canonical version-1 envelope encoding.
    #[error("malformed envelope bytes: {reason}")]
    Malformed {
        /// What is wrong, for a person.
        reason: &'static str,
    },
}

/// The envelope header: what the sender signs, the AEAD authenticates and a node reads.
///
/// Its canonical encoding ([`to_bytes`](Self::to_bytes)) is the postcard encoding of the
/// struct; `spec/envelope.md` gives the byte layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvelopeHeader {
    /// [`ENVELOPE_VERSION`].
    pub version: u8,
    /// The sender's agency signing key.
    pub sender: AgencySigningPublicKey,
    /// The recipient's agency encryption key.
    pub recipient: AgencyEncryptionPublicKey,
    /// The ephemeral X25519 public key of this envelope.
    pub ephemeral: [u8; 32],
    /// Opaque to this crate: the canonical encoding of `streha_core::DisclosureHeader`.
    /// At most [`MAX_CONTEXT_LEN`] bytes.
    #[serde(with = "crate::serde_util::bytes")]
    pub context: Vec<u8>,
}

/// A sealed envelope: header, ciphertext, the ciphertext's BLAKE3 hash, and the sender's
/// signature over header and hash.
///
/// Serde (postcard) gives the encoding of `spec/envelope.md`; deserializing enforces
/// [`MAX_CONTEXT_LEN`] and [`MAX_CIPHERTEXT_LEN`]. [`Envelope::from_bytes`] additionally
/// insists on the canonical encoding and gives precise errors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Envelope {
    /// The header.
    pub header: EnvelopeHeader,
    /// ChaCha20-Poly1305 ciphertext of the plaintext, with the 16-byte tag at the end.
    #[serde(with = "crate::serde_util::bytes")]
    pub ciphertext: Vec<u8>,
    /// BLAKE3 of `ciphertext`: the commitment the audit log records.
    pub ciphertext_hash: [u8; 32],
    /// The sender's Ed25519 signature over the signature input of `spec/envelope.md`.
    pub signature: Signature,
}

/// Seals `plaintext` to `recipient`, signed by `sender`, with `context` in the header.
///
/// A fresh ephemeral X25519 key is drawn from the operating system (`getrandom`).
///
/// # Errors
/// [`EnvelopeError::ContextTooLarge`], [`EnvelopeError::PlaintextTooLarge`],
/// [`EnvelopeError::NonContributory`] (a small-order recipient key; [`AgencyEncryptionPublicKey`]
/// already refuses those), [`EnvelopeError::Randomness`].
pub fn seal(
    sender: &AgencySigningSecretKey,
    recipient: &AgencyEncryptionPublicKey,
    context: &[u8],
    plaintext: &[u8],
) -> Result<Envelope, EnvelopeError> {
    let ephemeral = crate::rand::random_32().map_err(|_| EnvelopeError::Randomness)?;
    seal_with_ephemeral(sender, recipient, context, plaintext, &ephemeral)
}

/// [`seal`] with a given ephemeral secret: for test vectors only (see [`crate::danger`]).
pub(crate) fn seal_with_ephemeral(
    sender: &AgencySigningSecretKey,
    recipient: &AgencyEncryptionPublicKey,
    context: &[u8],
    plaintext: &[u8],
    ephemeral_secret: &[u8; 32],
) -> Result<Envelope, EnvelopeError> {
    check_context(context.len())?;
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(EnvelopeError::PlaintextTooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }

    let ephemeral_secret = StaticSecret::from(*ephemeral_secret);
    let ephemeral = PublicKey::from(&ephemeral_secret).to_bytes();
    let shared = ephemeral_secret.diffie_hellman(&PublicKey::from(recipient.to_bytes()));
    if !shared.was_contributory() {
        return Err(EnvelopeError::NonContributory);
    }
    let shared = Zeroizing::new(shared.to_bytes());
    let cipher = cipher(&shared, &ephemeral, recipient.as_bytes());

    let header = EnvelopeHeader {
        version: ENVELOPE_VERSION,
        sender: sender.public_key(),
        recipient: *recipient,
        ephemeral,
        context: context.to_vec(),
    };
    let aad = header.to_bytes();
    let ciphertext = cipher
        .encrypt(
            &Nonce::default(),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| EnvelopeError::PlaintextTooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        })?;
    let ciphertext_hash = *blake3::hash(&ciphertext).as_bytes();
    let signature = sender.sign(&signature_input(&aad, &ciphertext_hash));
    Ok(Envelope {
        header,
        ciphertext,
        ciphertext_hash,
        signature,
    })
}

/// ChaCha20-Poly1305 keyed with
/// `blake3::derive_key(SEALING_KEY_CONTEXT, shared ‖ ephemeral ‖ recipient)`.
fn cipher(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> ChaCha20Poly1305 {
    let mut material = Zeroizing::new([0u8; 96]);
    material[..32].copy_from_slice(shared);
    material[32..64].copy_from_slice(ephemeral);
    material[64..].copy_from_slice(recipient);
    let key = Zeroizing::new(blake3::derive_key(SEALING_KEY_CONTEXT, &*material));
    let mut cipher_key = chacha20poly1305::Key::default();
    cipher_key.copy_from_slice(&*key);
    // The cipher keeps its own copy of the key and zeroizes it on drop.
    let cipher = ChaCha20Poly1305::new(&cipher_key);
    cipher_key.as_mut_slice().zeroize();
    cipher
}

/// `SIGNATURE_DOMAIN ‖ u32_be(len(header)) ‖ header ‖ ciphertext_hash`.
fn signature_input(header: &[u8], ciphertext_hash: &[u8; 32]) -> Vec<u8> {
    // A header is at most HEADER_FIXED_LEN + 3 + MAX_CONTEXT_LEN bytes: it fits a u32.
    let header_len = u32::try_from(header.len()).unwrap_or(u32::MAX);
    let mut input = Vec::with_capacity(SIGNATURE_DOMAIN.len() + 4 + header.len() + 32);
    input.extend_from_slice(SIGNATURE_DOMAIN);
    input.extend_from_slice(&header_len.to_be_bytes());
    input.extend_from_slice(header);
    input.extend_from_slice(ciphertext_hash);
    input
}

/// Whether a signature's `R` does not decode to a point, is not the canonical encoding of
/// its point, or is of small order (`verify_strict` refuses all three).
fn small_order_r(signature: &Signature) -> bool {
    let bytes = signature.to_bytes();
    let mut r = [0_u8; 32];
    r.copy_from_slice(&bytes[..32]);
    curve25519_dalek::edwards::CompressedEdwardsY(r)
        .decompress()
        .is_none_or(|point| point.is_small_order() || point.compress().0 != r)
}

fn check_context(len: usize) -> Result<(), EnvelopeError> {
    if len > MAX_CONTEXT_LEN {
        return Err(EnvelopeError::ContextTooLarge {
            len,
            max: MAX_CONTEXT_LEN,
        });
    }
    Ok(())
}

fn check_ciphertext(len: usize) -> Result<(), EnvelopeError> {
    if len > MAX_CIPHERTEXT_LEN {
        return Err(EnvelopeError::CiphertextTooLarge {
            len,
            max: MAX_CIPHERTEXT_LEN,
        });
    }
    Ok(())
}

/// Length of the unsigned LEB128 (postcard varint) encoding of `value`.
const fn varint_len(mut value: usize) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Appends the unsigned LEB128 (postcard varint) encoding of `value`.
fn push_varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        // Truncation intended: the low seven bits, with the continuation bit.
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

impl EnvelopeHeader {
    /// The canonical encoding: the AEAD's associated data and part of the signature input.
    ///
    /// `version ‖ sender ‖ recipient ‖ ephemeral ‖ varint(len(context)) ‖ context`
    /// (equal to the postcard encoding of the struct).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write(&mut out);
        out
    }

    /// Checks the sender's signature over this header and a ciphertext hash, without the
    /// ciphertext (`spec/envelope.md` §4.2): what an auditor holding only a `received` entry
    /// can check, and all the signature ever covers of the ciphertext.
    ///
    /// Success means: the holder of `self.sender` signed exactly this header and this hash.
    /// It does not say that `self.sender` is anyone's key in particular (compare it with the
    /// roster), nor that a ciphertext with this hash exists or decrypts.
    ///
    /// # Errors
    /// [`EnvelopeError::UnsupportedVersion`], [`EnvelopeError::ContextTooLarge`] or
    /// [`EnvelopeError::BadSignature`].
    pub fn verify_detached(
        &self,
        ciphertext_hash: &[u8; 32],
        signature: &Signature,
    ) -> Result<(), EnvelopeError> {
        self.sender
            .verify(&self.signed_message(ciphertext_hash)?, signature)
            .map_err(|_| EnvelopeError::BadSignature)
    }

    /// The bytes the sender's signature covers for this header and a ciphertext hash (what
    /// [`EnvelopeHeader::verify_detached`] verifies), for checking many envelope signatures
    /// as one batch ([`verify_batch`](crate::verify_batch)).
    ///
    /// # Errors
    /// [`EnvelopeError::UnsupportedVersion`] or [`EnvelopeError::ContextTooLarge`].
    pub fn signed_message(&self, ciphertext_hash: &[u8; 32]) -> Result<Vec<u8>, EnvelopeError> {
        if self.version != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(self.version));
        }
        check_context(self.context.len())?;
        Ok(signature_input(&self.to_bytes(), ciphertext_hash))
    }

    fn encoded_len(&self) -> usize {
        HEADER_FIXED_LEN + varint_len(self.context.len()) + self.context.len()
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.version);
        out.extend_from_slice(self.sender.as_bytes());
        out.extend_from_slice(self.recipient.as_bytes());
        out.extend_from_slice(&self.ephemeral);
        push_varint(out, self.context.len());
        out.extend_from_slice(&self.context);
    }
}

impl Envelope {
    /// The canonical encoding (equal to the postcard encoding of the struct):
    /// `header ‖ varint(len(ciphertext)) ‖ ciphertext ‖ ciphertext_hash ‖ signature`.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.header.write(&mut out);
        push_varint(&mut out, self.ciphertext.len());
        out.extend_from_slice(&self.ciphertext);
        out.extend_from_slice(&self.ciphertext_hash);
        out.extend_from_slice(self.signature.as_bytes());
        out
    }

    fn encoded_len(&self) -> usize {
        self.header.encoded_len()
            + varint_len(self.ciphertext.len())
            + self.ciphertext.len()
            + 32
            + Signature::LEN
    }

    /// Decodes an envelope from its canonical encoding.
    ///
    /// Checks the size limits and the encoding only; a decoded envelope is not yet verified
    /// (call [`verify_signature`](Self::verify_signature) or [`open`](Self::open)).
    ///
    /// # Errors
    /// [`EnvelopeError::TooLarge`], [`EnvelopeError::UnsupportedVersion`] (the first byte is
    /// the version: the rest is not read),  [`EnvelopeError::ContextTooLarge`],
    /// [`EnvelopeError::CiphertextTooLarge`], or [`EnvelopeError::Malformed`] (truncated,
    /// an invalid public key, trailing bytes, or a non-minimal length prefix).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::TooLarge {
                len: bytes.len(),
                max: MAX_ENVELOPE_LEN,
            });
        }
        match bytes.first() {
            None => {
                return Err(EnvelopeError::Malformed {
                    reason: "no bytes at all",
                });
            }
            Some(&ENVELOPE_VERSION) => {}
            Some(&version) => return Err(EnvelopeError::UnsupportedVersion(version)),
        }
        let (repr, rest) = postcard::take_from_bytes::<EnvelopeRepr>(bytes).map_err(|_| {
            EnvelopeError::Malformed {
                reason: "truncated, or a key in the header is not a valid public key",
            }
        })?;
        if !rest.is_empty() {
            return Err(EnvelopeError::Malformed {
                reason: "trailing bytes after the signature",
            });
        }
        let envelope = repr.into_envelope()?;
        // Every field but the two length prefixes re-encodes to its own bytes, so equal
        // lengths mean equal bytes: one envelope, one encoding.
        if envelope.encoded_len() != bytes.len() {
            return Err(EnvelopeError::Malformed {
                reason: "a length prefix is not minimally encoded",
            });
        }
        Ok(envelope)
    }

    /// What a node (which holds no decryption key) checks before it accepts an envelope:
    /// version, size limits, that the sender is `expected_sender`, that `ciphertext_hash`
    /// is BLAKE3 of the ciphertext, and the signature.
    ///
    /// Success does *not* mean the ciphertext decrypts: only the recipient can tell.
    ///
    /// # Errors
    /// The first failing check, in this order: [`EnvelopeError::UnsupportedVersion`],
    /// [`EnvelopeError::ContextTooLarge`] / [`EnvelopeError::CiphertextTooLarge`],
    /// [`EnvelopeError::UnexpectedSender`], [`EnvelopeError::TamperedCiphertext`],
    /// [`EnvelopeError::BadSignature`].
    pub fn verify_signature(
        &self,
        expected_sender: &AgencySigningPublicKey,
    ) -> Result<(), EnvelopeError> {
        self.check_version_and_limits()?;
        self.check_sender(expected_sender)?;
        self.check_commitment()?;
        self.check_signature(&self.header.to_bytes())
    }

    /// [`verify_signature`](Self::verify_signature) for several envelopes of one sender,
    /// each judged on its own: the result of each, in order.
    ///
    /// The signatures of the envelopes that pass the other checks are verified together
    /// with Ed25519 batch verification (`ed25519_dalek::verify_batch`), about half the cost
    /// of verifying them one by one for a batch of 32. If the batch fails, each is verified
    /// alone (`verify_strict`), so that exactly the envelopes whose signature does not verify
    /// are refused and the others are not. A signature whose `R` is of small order is refused
    /// before, as `verify_strict` refuses it, and so is one whose `R` is not
    /// canonically encoded.
    ///
    /// What batch verification accepts: the cofactored equation, for every signature at
    /// once (a false acceptance has probability below 2⁻¹²⁸). A signature passes it and
    /// fails `verify_strict` only if its `R` has a torsion component, which only the holder
    /// of the signing key can make (it is no forgery: that key signed this message); the
    /// roster's keys are checked against small-order keys when they are read.
    #[must_use]
    pub fn verify_signatures(
        envelopes: &[&Envelope],
        expected_sender: &AgencySigningPublicKey,
    ) -> Vec<Result<(), EnvelopeError>> {
        let mut results: Vec<Result<(), EnvelopeError>> = envelopes
            .iter()
            .map(|envelope| {
                envelope.check_version_and_limits()?;
                envelope.check_sender(expected_sender)?;
                envelope.check_commitment()?;
                if small_order_r(&envelope.signature) {
                    return Err(EnvelopeError::BadSignature);
                }
                Ok(())
            })
            .collect();
        let candidates: Vec<usize> = (0..envelopes.len())
            .filter(|&i| results[i].is_ok())
            .collect();
        if candidates.len() >= 2 {
            let inputs: Vec<Vec<u8>> = candidates
                .iter()
                .map(|&i| {
                    signature_input(
                        &envelopes[i].header.to_bytes(),
                        &envelopes[i].ciphertext_hash,
                    )
                })
                .collect();
            let messages: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
            let signatures: Vec<ed25519_dalek::Signature> = candidates
                .iter()
                .map(|&i| envelopes[i].signature.to_dalek())
                .collect();
            let keys = vec![*expected_sender.as_dalek(); candidates.len()];
            if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
                return results;
            }
        }
        // One by one: names the envelopes whose signature does not verify.
        for i in candidates {
            results[i] = envelopes[i].check_signature(&envelopes[i].header.to_bytes());
        }
        results
    }

    /// Opens the envelope: checks everything, then returns the plaintext.
    ///
    /// Checks, in this order, and fails with the first that does not hold:
    /// 1. version is 1 — else [`EnvelopeError::UnsupportedVersion`]
    ///    (then the size limits: [`EnvelopeError::ContextTooLarge`],
    ///    [`EnvelopeError::CiphertextTooLarge`]);
    /// 2. the header's sender is `expected_sender` — else [`EnvelopeError::UnexpectedSender`];
    /// 3. the header's recipient is `recipient`'s public key — else
    ///    [`EnvelopeError::WrongRecipient`];
    /// 4. BLAKE3 of the ciphertext is `ciphertext_hash` — else
    ///    [`EnvelopeError::TamperedCiphertext`];
    /// 5. the ciphertext decrypts with the header as associated data — else
    ///    [`EnvelopeError::TamperedHeader`];
    /// 6. the signature verifies — else [`EnvelopeError::BadSignature`].
    ///
    /// The plaintext is released only when all pass, in a buffer zeroized on drop.
    ///
    /// # Errors
    /// As listed above.
    pub fn open(
        &self,
        recipient: &AgencyEncryptionSecretKey,
        expected_sender: &AgencySigningPublicKey,
    ) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        self.check_version_and_limits()?;
        self.check_sender(expected_sender)?;
        if self.header.recipient != recipient.public_key() {
            return Err(EnvelopeError::WrongRecipient);
        }
        self.check_commitment()?;

        let aad = self.header.to_bytes();
        let shared = recipient
            .diffie_hellman(&self.header.ephemeral)
            .ok_or(EnvelopeError::TamperedHeader)?;
        let cipher = cipher(
            &shared,
            &self.header.ephemeral,
            self.header.recipient.as_bytes(),
        );
        let mut plaintext = Zeroizing::new(self.ciphertext.clone());
        cipher
            .decrypt_in_place(&Nonce::default(), &aad, &mut *plaintext)
            .map_err(|_| EnvelopeError::TamperedHeader)?;

        self.check_signature(&aad)?;
        Ok(plaintext)
    }

    fn check_version_and_limits(&self) -> Result<(), EnvelopeError> {
        if self.header.version != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(self.header.version));
        }
        check_context(self.header.context.len())?;
        check_ciphertext(self.ciphertext.len())
    }

    fn check_sender(&self, expected: &AgencySigningPublicKey) -> Result<(), EnvelopeError> {
        if self.header.sender != *expected {
            return Err(EnvelopeError::UnexpectedSender);
        }
        Ok(())
    }

    fn check_commitment(&self) -> Result<(), EnvelopeError> {
        let hash = blake3::hash(&self.ciphertext);
        if !bool::from(hash.as_bytes().ct_eq(&self.ciphertext_hash)) {
            return Err(EnvelopeError::TamperedCiphertext);
        }
        Ok(())
    }

    fn check_signature(&self, header: &[u8]) -> Result<(), EnvelopeError> {
        self.header
            .sender
            .verify(
                &signature_input(header, &self.ciphertext_hash),
                &self.signature,
            )
            .map_err(|_| EnvelopeError::BadSignature)
    }
}

/// The wire shape of a header, before the size limits are checked.
#[derive(Deserialize)]
struct HeaderRepr {
    version: u8,
    sender: AgencySigningPublicKey,
    recipient: AgencyEncryptionPublicKey,
    ephemeral: [u8; 32],
    #[serde(with = "crate::serde_util::bytes")]
    context: Vec<u8>,
}

/// The wire shape of an envelope, before the size limits are checked.
#[derive(Deserialize)]
struct EnvelopeRepr {
    header: HeaderRepr,
    #[serde(with = "crate::serde_util::bytes")]
    ciphertext: Vec<u8>,
    ciphertext_hash: [u8; 32],
    signature: Signature,
}

impl HeaderRepr {
    fn into_header(self) -> Result<EnvelopeHeader, EnvelopeError> {
        // The same version rule as `Envelope::from_bytes`, so that an envelope decoded from
        // inside a protocol message is held to it too.
        if self.version != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(self.version));
        }
        check_context(self.context.len())?;
        Ok(EnvelopeHeader {
            version: self.version,
            sender: self.sender,
            recipient: self.recipient,
            ephemeral: self.ephemeral,
            context: self.context,
        })
    }
}

impl EnvelopeRepr {
    fn into_envelope(self) -> Result<Envelope, EnvelopeError> {
        let header = self.header.into_header()?;
        check_ciphertext(self.ciphertext.len())?;
        Ok(Envelope {
            header,
            ciphertext: self.ciphertext,
            ciphertext_hash: self.ciphertext_hash,
            signature: self.signature,
        })
    }
}

impl<'de> Deserialize<'de> for EnvelopeHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        HeaderRepr::deserialize(deserializer)?
            .into_header()
            .map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        EnvelopeRepr::deserialize(deserializer)?
            .into_envelope()
            .map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (
        AgencySigningSecretKey,
        AgencyEncryptionSecretKey,
        AgencySigningPublicKey,
    ) {
        let sender = AgencySigningSecretKey::from_seed_bytes([1; 32]);
        let recipient = AgencyEncryptionSecretKey::from_seed_bytes([2; 32]);
        let sender_public = sender.public_key();
        (sender, recipient, sender_public)
    }

    #[test]
    fn batch_verification_refuses_exactly_the_envelopes_that_do_not_verify() {
        let (sender, recipient, sender_public) = keys();
        let mut sealed: Vec<Envelope> = (0..8_u8)
            .map(|n| seal(&sender, &recipient.public_key(), &[n; 4], b"plaintext").unwrap())
            .collect();
        let all = |sealed: &[Envelope]| {
            let refs: Vec<&Envelope> = sealed.iter().collect();
            Envelope::verify_signatures(&refs, &sender_public)
        };
        assert!(all(&sealed).iter().all(Result::is_ok));
        // A forged signature (S changed), a small-order R, and another sender's envelope.
        let mut forged = sealed[2].signature.to_bytes();
        forged[40] ^= 1;
        sealed[2].signature = Signature::from_bytes(forged);
        let mut small = sealed[5].signature.to_bytes();
        small[..32].copy_from_slice(&[0; 32]);
        small[0] = 1; // the identity point
        sealed[5].signature = Signature::from_bytes(small);
        let stranger = AgencySigningSecretKey::from_seed_bytes([9; 32]);
        sealed[7] = seal(&stranger, &recipient.public_key(), b"x", b"plaintext").unwrap();
        let results = all(&sealed);
        for (i, result) in results.iter().enumerate() {
            match i {
                2 | 5 => assert_eq!(*result, Err(EnvelopeError::BadSignature), "{i}"),
                7 => assert_eq!(*result, Err(EnvelopeError::UnexpectedSender), "{i}"),
                _ => assert_eq!(*result, Ok(()), "{i}"),
            }
        }
        // Each result is the one-by-one check's.
        for (envelope, result) in sealed.iter().zip(&results) {
            assert_eq!(envelope.verify_signature(&sender_public), *result);
        }
    }

    #[test]
    fn detached_signature_checks_header_and_hash_only() {
        let (sender, recipient, sender_public) = keys();
        let sealed = seal(&sender, &recipient.public_key(), b"context", b"plaintext").unwrap();
        assert_eq!(
            sealed
                .header
                .verify_detached(&sealed.ciphertext_hash, &sealed.signature),
            Ok(())
        );
        assert_eq!(sealed.header.sender, sender_public);
        let mut other_hash = sealed.ciphertext_hash;
        other_hash[0] ^= 1;
        assert_eq!(
            sealed
                .header
                .verify_detached(&other_hash, &sealed.signature),
            Err(EnvelopeError::BadSignature)
        );
        let mut header = sealed.header.clone();
        header.context = b"other context".to_vec();
        assert_eq!(
            header.verify_detached(&sealed.ciphertext_hash, &sealed.signature),
            Err(EnvelopeError::BadSignature)
        );
    }

    #[test]
    fn round_trip() {
        let (sender, recipient, sender_public) = keys();
        let envelope = seal(&sender, &recipient.public_key(), b"ctx", b"hello").unwrap();
        assert_eq!(envelope.header.version, ENVELOPE_VERSION);
        assert_eq!(envelope.ciphertext.len(), 5 + TAG_LEN);
        assert_eq!(envelope.verify_signature(&sender_public), Ok(()));
        let plaintext = envelope.open(&recipient, &sender_public).unwrap();
        assert_eq!(plaintext.as_slice(), b"hello");
        // Fresh ephemeral key each time.
        let again = seal(&sender, &recipient.public_key(), b"ctx", b"hello").unwrap();
        assert_ne!(again.header.ephemeral, envelope.header.ephemeral);
    }

    #[test]
    fn manual_encoding_is_postcard() {
        let (sender, recipient, _) = keys();
        for (context_len, plaintext_len) in [(0, 0), (127, 111), (128, 112), (300, 20_000)] {
            let envelope = seal(
                &sender,
                &recipient.public_key(),
                &vec![0x42; context_len],
                &vec![0x17; plaintext_len],
            )
            .unwrap();
            assert_eq!(
                envelope.header.to_bytes(),
                postcard::to_allocvec(&envelope.header).unwrap()
            );
            let bytes = envelope.to_bytes();
            assert_eq!(bytes, postcard::to_allocvec(&envelope).unwrap());
            assert_eq!(bytes.len(), envelope.encoded_len());
            assert_eq!(Envelope::from_bytes(&bytes), Ok(envelope.clone()));
            assert_eq!(postcard::from_bytes::<Envelope>(&bytes), Ok(envelope));
        }
    }

    #[test]
    fn varints() {
        for value in [0usize, 1, 127, 128, 16_383, 16_384, MAX_CIPHERTEXT_LEN] {
            let mut out = Vec::new();
            push_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value));
            assert_eq!(out, postcard::to_allocvec(&value).unwrap());
        }
        assert_eq!(varint_len(MAX_CONTEXT_LEN), 3);
        assert_eq!(varint_len(MAX_CIPHERTEXT_LEN), 4);
    }

    #[test]
    fn limits() {
        let (sender, recipient, sender_public) = keys();
        let public = recipient.public_key();
        assert_eq!(
            seal(&sender, &public, &vec![0; MAX_CONTEXT_LEN + 1], b""),
            Err(EnvelopeError::ContextTooLarge {
                len: MAX_CONTEXT_LEN + 1,
                max: MAX_CONTEXT_LEN
            })
        );
        assert_eq!(
            seal(&sender, &public, b"", &vec![0; MAX_PLAINTEXT_LEN + 1]),
            Err(EnvelopeError::PlaintextTooLarge {
                len: MAX_PLAINTEXT_LEN + 1,
                max: MAX_PLAINTEXT_LEN
            })
        );
        let mut envelope = seal(&sender, &public, &vec![0; MAX_CONTEXT_LEN], b"x").unwrap();
        envelope.open(&recipient, &sender_public).unwrap();
        envelope.header.context.push(0);
        let too_large = EnvelopeError::ContextTooLarge {
            len: MAX_CONTEXT_LEN + 1,
            max: MAX_CONTEXT_LEN,
        };
        assert_eq!(
            envelope.open(&recipient, &sender_public).unwrap_err(),
            too_large
        );
        assert_eq!(
            envelope.verify_signature(&sender_public).unwrap_err(),
            too_large
        );
        assert_eq!(
            Envelope::from_bytes(&envelope.to_bytes()).unwrap_err(),
            too_large
        );
        assert!(postcard::from_bytes::<Envelope>(&envelope.to_bytes()).is_err());

        envelope.header.context.clear();
        envelope.ciphertext = vec![0; MAX_CIPHERTEXT_LEN + 1];
        let too_large = EnvelopeError::CiphertextTooLarge {
            len: MAX_CIPHERTEXT_LEN + 1,
            max: MAX_CIPHERTEXT_LEN,
        };
        assert_eq!(
            envelope.open(&recipient, &sender_public).unwrap_err(),
            too_large
        );
        assert_eq!(
            Envelope::from_bytes(&envelope.to_bytes()).unwrap_err(),
            too_large
        );
        assert!(postcard::from_bytes::<Envelope>(&envelope.to_bytes()).is_err());
    }

    #[test]
    fn largest_envelope_is_accepted_and_one_more_byte_is_not() {
        let (sender, recipient, sender_public) = keys();
        let envelope = seal(
            &sender,
            &recipient.public_key(),
            &vec![1; MAX_CONTEXT_LEN],
            &vec![2; MAX_PLAINTEXT_LEN],
        )
        .unwrap();
        let mut bytes = envelope.to_bytes();
        assert_eq!(bytes.len(), MAX_ENVELOPE_LEN);
        let decoded = Envelope::from_bytes(&bytes).unwrap();
        assert_eq!(
            decoded.open(&recipient, &sender_public).unwrap().len(),
            MAX_PLAINTEXT_LEN
        );
        bytes.push(0);
        assert_eq!(
            Envelope::from_bytes(&bytes),
            Err(EnvelopeError::TooLarge {
                len: MAX_ENVELOPE_LEN + 1,
                max: MAX_ENVELOPE_LEN
            })
        );
    }

    #[test]
    fn decoding_refuses_non_canonical_and_trailing_bytes() {
        let (sender, recipient, _) = keys();
        let envelope = seal(&sender, &recipient.public_key(), b"abc", b"x").unwrap();
        let bytes = envelope.to_bytes();
        // Context length 3 written as the two-byte varint 0x83 0x00.
        let mut overlong = bytes[..HEADER_FIXED_LEN].to_vec();
        overlong.extend_from_slice(&[0x83, 0x00]);
        overlong.extend_from_slice(&bytes[HEADER_FIXED_LEN + 1..]);
        assert!(matches!(
            Envelope::from_bytes(&overlong),
            Err(EnvelopeError::Malformed { .. })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Envelope::from_bytes(&trailing),
            Err(EnvelopeError::Malformed { .. })
        ));
        assert!(matches!(
            Envelope::from_bytes(&[]),
            Err(EnvelopeError::Malformed { .. })
        ));
        assert_eq!(
            Envelope::from_bytes(&[2, 0, 0]),
            Err(EnvelopeError::UnsupportedVersion(2))
        );
        for len in 0..bytes.len() {
            assert!(Envelope::from_bytes(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn non_contributory_ephemeral_is_a_tampered_header() {
        let (sender, recipient, sender_public) = keys();
        let mut envelope = seal(&sender, &recipient.public_key(), b"", b"x").unwrap();
        envelope.header.ephemeral = [0; 32];
        assert_eq!(
            envelope.open(&recipient, &sender_public),
            Err(EnvelopeError::TamperedHeader)
        );
    }

    #[test]
    fn signature_input_layout() {
        let input = signature_input(&[0xaa; 3], &[0xbb; 32]);
        let mut expected = b"streha envelope v1 signature\0".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 3, 0xaa, 0xaa, 0xaa]);
        expected.extend_from_slice(&[0xbb; 32]);
        assert_eq!(input, expected);
    }
}
