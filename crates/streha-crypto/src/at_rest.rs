//! Encryption at rest under erasable data keys, for crypto-shredding (Art. 18.5).
//!
//! A node keeps what it holds about a subject (received and queued envelopes) encrypted under
//! a random per-subject [`DataKey`]. Destroying that one key makes every copy of those records
//! unreadable — in the database's freed pages and in backups too — which deleting the records
//! cannot promise. XChaCha20-Poly1305 with a random 192-bit nonce, so a key may seal any
//! number of records without nonce bookkeeping; the caller's associated data binds each
//! sealed record to its place (say, the envelope id), so records cannot be swapped.

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::CryptoError;

/// Bytes a sealed record adds: the nonce in front, the tag after.
pub const AT_REST_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A random 256-bit key for records at rest. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// Why a record at rest could not be opened or sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtRestError {
    /// Shorter than a nonce and a tag.
    #[error("the sealed record is truncated ({len} bytes, at least {AT_REST_OVERHEAD} needed)")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// Wrong key, wrong associated data, or altered bytes.
    #[error(
        "the sealed record does not open under this key and place: altered, moved, or sealed under another key"
    )]
    Unauthentic,
    /// The operating system's randomness failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The record is too large for the cipher.
    #[error("the record is too large to seal")]
    TooLarge,
}

impl DataKey {
    /// A fresh random key.
    ///
    /// # Errors
    /// [`AtRestError::Crypto`] if the operating system's randomness fails.
    pub fn generate() -> Result<Self, AtRestError> {
        Ok(Self(crate::rand::random_32()?))
    }

    /// The key from its 32 stored bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut bytes = bytes;
        let key = Self(Zeroizing::new(bytes));
        bytes.zeroize();
        key
    }

    /// The 32 bytes to store (in a place that can be erased: see the store's key vault).
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        let mut key = chacha20poly1305::Key::default();
        key.copy_from_slice(&*self.0);
        let cipher = XChaCha20Poly1305::new(&key);
        key.as_mut_slice().zeroize();
        cipher
    }

    /// Seals `plaintext`, bound to `aad`: `nonce ‖ ciphertext ‖ tag`.
    ///
    /// # Errors
    /// [`AtRestError::Crypto`] if randomness fails, [`AtRestError::TooLarge`] past the
    /// cipher's limit.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, AtRestError> {
        let random = crate::rand::random_32()?;
        let nonce = XNonce::try_from(&random[..NONCE_LEN]).map_err(|_| AtRestError::TooLarge)?;
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| AtRestError::TooLarge)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`DataKey::seal`] made with this key and the same `aad`.
    ///
    /// # Errors
    /// [`AtRestError::Truncated`] or [`AtRestError::Unauthentic`].
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AtRestError> {
        if sealed.len() < AT_REST_OVERHEAD {
            return Err(AtRestError::Truncated { len: sealed.len() });
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| AtRestError::Unauthentic)?;
        self.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| AtRestError::Unauthentic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_records_open_only_with_their_key_and_place() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal(b"inbox/1", b"record").unwrap();
        assert_eq!(sealed.len(), 6 + AT_REST_OVERHEAD);
        assert_eq!(&**key.open(b"inbox/1", &sealed).unwrap(), b"record");
        assert_eq!(key.open(b"inbox/2", &sealed), Err(AtRestError::Unauthentic));
        let other = DataKey::generate().unwrap();
        assert_eq!(
            other.open(b"inbox/1", &sealed),
            Err(AtRestError::Unauthentic)
        );
        let restored = DataKey::from_bytes(*key.to_bytes());
        assert_eq!(&**restored.open(b"inbox/1", &sealed).unwrap(), b"record");
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 1;
            assert_eq!(
                key.open(b"inbox/1", &flipped),
                Err(AtRestError::Unauthentic)
            );
        }
        assert_eq!(
            key.open(b"inbox/1", &sealed[..AT_REST_OVERHEAD - 1]),
            Err(AtRestError::Truncated {
                len: AT_REST_OVERHEAD - 1
            })
        );
        assert_ne!(key.seal(b"a", b"x").unwrap(), key.seal(b"a", b"x").unwrap());
        assert_eq!(format!("{key:?}"), "DataKey(..)");
    }
}
