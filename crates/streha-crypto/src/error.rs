//! Errors of key construction, signature verification and randomness.

use crate::kind::KeyKind;

/// Why a key could not be built, a signature did not verify, or randomness was unavailable.
///
/// Messages never contain key bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The 32 bytes are not the canonical encoding of a point on the curve.
    #[error(
        "not a valid {kind} public key: the bytes do not encode a curve point canonically; \
         check that the key was copied whole and from the right file"
    )]
    InvalidPublicKey {
        /// The kind of key that was being built.
        kind: KeyKind,
    },
    /// The public key is a point of small order, which any signature or key agreement could
    /// be forged or predicted against.
    #[error(
        "refusing a weak {kind} public key (a low-order point): \
         no honest key generator produces it, so the key is forged or corrupt"
    )]
    WeakPublicKey {
        /// The kind of key that was being built.
        kind: KeyKind,
    },
    /// The signature does not verify under the public key (strict RFC 8032 verification).
    #[error(
        "signature verification failed: the message or signature was altered, or the key is not the signer's"
    )]
    BadSignature,
    /// A fingerprint written as text is not 64 hex digits.
    #[error("a fingerprint is 64 hex digits (BLAKE3 of the public key)")]
    BadFingerprint,
    /// The operating system's random number generator failed.
    #[error(
        "the operating system's random number generator failed; nothing was generated. \
         Retry; if it persists, the system's entropy source is broken"
    )]
    Randomness,
}
