//! Streha's cryptography: keys, key files, signatures and sealed envelopes.
//!
//! Streha carries records about victims of trafficking between the authorities that protect
//! them. This crate is the bottom layer: it knows nothing of records, consent or the law,
//! only of keys and bytes.
//!
//! # What it does
//!
//! - **Keys** for the six roles of `spec/keys.md`, each a distinct secret and public type:
//!   node identity, agency signing, roster, application and officer keys (Ed25519), and the
//!   agency encryption key (X25519). Secret keys are zeroized on drop; their `Debug` prints
//!   the role and the public [`Fingerprint`], never key bytes; they have no `Display`.
//!   Public keys are validated when built (canonical, not of small order) and verify
//!   signatures strictly.
//! - **Key files**: a small line-oriented text format ([`KeyFile`], `spec/keys.md`) with a
//!   version, a kind, the key and its fingerprint. Parsing any input is an error or a key,
//!   never a panic.
//! - **Sealed envelopes** ([`seal`], [`Envelope`], `spec/envelope.md`): ephemeral-static
//!   X25519, a key derived with BLAKE3, ChaCha20-Poly1305 over the plaintext with the header
//!   as associated data, and the sender's Ed25519 signature over the header and the BLAKE3
//!   hash of the ciphertext (the commitment the audit log records). [`Envelope::open`] checks
//!   everything and names the first check that failed.
//!
//! ```text
//!  sender (agency signing key)                          recipient (agency encryption key)
//!  ─────────────────────────────                        ─────────────────────────────────
//!  eph ← random; shared = X25519(eph, recipient)        shared = X25519(recipient, eph_pk)
//!  key = BLAKE3-derive(shared ‖ eph_pk ‖ recipient)     key = BLAKE3-derive(…)
//!  ct  = ChaCha20-Poly1305(key, 0, plaintext, header)   check sender, recipient, hash,
//!  sig = Ed25519(domain ‖ len ‖ header ‖ BLAKE3(ct))    decrypt, signature → plaintext
//! ```
//!
//! # What it does not do
//!
//! No IO (it reads and writes no files: key files are strings), no clock, no network, no
//! policy. It takes randomness only in `generate()` and [`seal`]; the test-vector twin
//! [`danger::seal_with_ephemeral`] takes the random bytes as an argument. It does not decide
//! whom to trust: the caller passes the *expected* sender key, taken from the roster.
//!
//! # Example
//!
//! ```
//! use streha_crypto::{AgencyEncryptionSecretKey, AgencySigningSecretKey, EnvelopeError, seal};
//!
//! // Each agency has a signing key and an encryption key.
//! let police_signing = AgencySigningSecretKey::generate();
//! let shelter_encryption = AgencyEncryptionSecretKey::generate();
//!
//! // The police seal a record to the shelter. The context is opaque to this crate.
//! let envelope = seal(
//!     &police_signing,
//!     &shelter_encryption.public_key(),
//!     b"disclosure header",
//!     b"record fields",
//! )?;
//!
//! // It travels as bytes.
//! let bytes = envelope.to_bytes();
//! let received = streha_crypto::Envelope::from_bytes(&bytes)?;
//!
//! // A node without the decryption key can still check who signed it.
//! received.verify_signature(&police_signing.public_key())?;
//!
//! // The shelter opens it, naming the sender it expects.
//! let plaintext = received.open(&shelter_encryption, &police_signing.public_key())?;
//! assert_eq!(plaintext.as_slice(), b"record fields");
//!
//! // An envelope from anyone else is refused.
//! let someone_else = AgencySigningSecretKey::generate().public_key();
//! assert_eq!(
//!     received.open(&shelter_encryption, &someone_else),
//!     Err(EnvelopeError::UnexpectedSender)
//! );
//!
//! // Keys are stored as key files.
//! let text = police_signing.to_key_file();
//! let loaded = AgencySigningSecretKey::from_key_file(&text)?;
//! assert_eq!(loaded.public_key(), police_signing.public_key());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Main types
//!
//! | type | what |
//! | --- | --- |
//! | [`AgencySigningSecretKey`], [`NodeIdentitySecretKey`], … ([`Ed25519SecretKey`]) | Ed25519 secret keys, one type per role ([`role`]) |
//! | [`AgencySigningPublicKey`], … ([`Ed25519PublicKey`]) | the matching public keys |
//! | [`AgencyEncryptionSecretKey`], [`AgencyEncryptionPublicKey`] | X25519 keys envelopes are sealed to |
//! | [`Signature`], [`Fingerprint`] | 64-byte Ed25519 signature; BLAKE3 of a public key |
//! | [`KeyFile`], [`KeyFileError`] | key files of `spec/keys.md` |
//! | [`Envelope`], [`EnvelopeHeader`], [`EnvelopeError`] | sealed envelopes of `spec/envelope.md` |
#![forbid(unsafe_code)]

mod at_rest;
mod ed25519;
mod envelope;
mod error;
mod fingerprint;
mod keyfile;
mod kind;
mod rand;
mod serde_util;
mod signature;
mod x25519;

pub mod danger;

pub use crate::at_rest::{AT_REST_OVERHEAD, AtRestError, DataKey, OpenedRecord};
pub use crate::ed25519::{
    AgencySigningPublicKey, AgencySigningSecretKey, ApplicationPublicKey, ApplicationSecretKey,
    Ed25519PublicKey, Ed25519Role, Ed25519SecretKey, NodeIdentityPublicKey, NodeIdentitySecretKey,
    OfficerPublicKey, OfficerSecretKey, RosterPublicKey, RosterSecretKey, role, verify_batch,
};
pub use crate::envelope::{
    ENVELOPE_VERSION, Envelope, EnvelopeError, EnvelopeHeader, MAX_CIPHERTEXT_LEN, MAX_CONTEXT_LEN,
    MAX_ENVELOPE_LEN, MAX_PLAINTEXT_LEN, SEALING_KEY_CONTEXT, SIGNATURE_DOMAIN, seal,
};
pub use crate::error::CryptoError;
pub use crate::fingerprint::Fingerprint;
pub use crate::keyfile::{AnyPublicKey, AnySecretKey, KeyFile, KeyFileError, MAX_KEY_FILE_LEN};
pub use crate::kind::{Algorithm, KeyKind, KeyPart};
/// Serde for `Vec<u8>` fields as byte strings: `#[serde(with = "streha_crypto::serde_bytes")]`.
/// In postcard the encoding equals that of a sequence of bytes, written and read in one copy
/// instead of byte by byte.
pub use crate::serde_util::bytes as serde_bytes;
pub use crate::signature::Signature;
pub use crate::x25519::{AgencyEncryptionPublicKey, AgencyEncryptionSecretKey};
