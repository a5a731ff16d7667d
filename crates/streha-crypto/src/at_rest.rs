//! Encryption at rest under erasable data keys, for crypto-shredding (Art. 18.5).
//!
//! A node keeps what it holds about a subject (received and queued envelopes) encrypted under
//! a random per-subject [`DataKey`]. Destroying that one key makes every copy of those records
//! unreadable — in the database's freed pages and in backups too — which deleting the records
//! cannot promise. XChaCha20-Poly1305 with a random 192-bit nonce, so a key may seal any
//! number of records without nonce bookkeeping; the caller's associated data binds each
//! sealed record to its place (say, the envelope id), so records cannot be swapped.

use chacha20poly1305::aead::{Aead as _, AeadInOut as _, KeyInit as _, Payload};
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

/// A record opened where it was sealed ([`DataKey::open_in_place`]): derefs to the
/// plaintext; the whole buffer (nonce and tag included) is zeroized on drop.
pub struct OpenedRecord {
    buffer: Zeroizing<Vec<u8>>,
}

impl std::ops::Deref for OpenedRecord {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // `open_in_place` made sure the buffer holds a nonce and a tag around the record.
        self.buffer
            .get(NONCE_LEN..self.buffer.len().saturating_sub(TAG_LEN))
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for OpenedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenedRecord({} bytes)", self.len())
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
    /// The caller could not write the record to be sealed ([`DataKey::seal_written`]).
    #[error("the record to seal could not be written")]
    Unwritten,
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

    /// Seals, bound to `aad`, the plaintext that `write` appends to the buffer it is given,
    /// where it was written: the same `nonce ‖ ciphertext ‖ tag` as [`DataKey::seal`], with
    /// neither a copy of the plaintext nor one of the ciphertext (a sealed envelope can be
    /// most of a megabyte, and each copy is a pass over it). `plaintext_len` is what `write`
    /// appends: reserved up front, so that the buffer is not reallocated (leaving plaintext
    /// behind in the memory it frees) while it is written. `write` returns whether it wrote
    /// the whole plaintext; if not, or if sealing fails, the buffer is zeroized.
    ///
    /// # Errors
    /// As [`DataKey::seal`]; [`AtRestError::Unwritten`] if `write` fails or takes away
    /// the nonce's room at the front of the buffer.
    pub fn seal_written(
        &self,
        aad: &[u8],
        plaintext_len: usize,
        write: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> Result<Vec<u8>, AtRestError> {
        let random = crate::rand::random_32()?;
        let nonce = XNonce::try_from(&random[..NONCE_LEN]).map_err(|_| AtRestError::TooLarge)?;
        let capacity = plaintext_len
            .checked_add(AT_REST_OVERHEAD)
            .ok_or(AtRestError::TooLarge)?;
        let mut buffer = Vec::new();
        buffer
            .try_reserve_exact(capacity)
            .map_err(|_| AtRestError::TooLarge)?;
        buffer.resize(NONCE_LEN, 0);
        // Plaintext until it is encrypted: zeroized if anything below returns early.
        let mut buffer = Zeroizing::new(buffer);
        if !write(&mut buffer) || buffer.len() < NONCE_LEN {
            return Err(AtRestError::Unwritten);
        }
        let (front, plaintext) = buffer.split_at_mut(NONCE_LEN);
        // Whatever `write` left in the nonce's room is overwritten: the nonce is ours.
        front.copy_from_slice(&random[..NONCE_LEN]);
        let tag = self
            .cipher()
            .encrypt_inout_detached(&nonce, aad, plaintext.into())
            .map_err(|_| AtRestError::TooLarge)?;
        buffer.extend_from_slice(&tag);
        // Sealed now: the ciphertext leaves, and an empty vector is what is zeroized.
        Ok(std::mem::take(&mut *buffer))
    }

    /// Opens, in the buffer that holds it, what [`DataKey::seal`] or
    /// [`DataKey::seal_written`] made with this key and the same `aad`: no second buffer
    /// and no copy of the record (a sealed envelope can be most of a megabyte). The
    /// buffer is zeroized when the opened record is dropped, or at once if it does not open.
    ///
    /// # Errors
    /// [`AtRestError::Truncated`] or [`AtRestError::Unauthentic`].
    pub fn open_in_place(&self, aad: &[u8], sealed: Vec<u8>) -> Result<OpenedRecord, AtRestError> {
        let mut buffer = Zeroizing::new(sealed);
        let len = buffer.len();
        if len < AT_REST_OVERHEAD {
            return Err(AtRestError::Truncated { len });
        }
        let (nonce, rest) = buffer.split_at_mut(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at_mut(len - AT_REST_OVERHEAD);
        let nonce = XNonce::try_from(&*nonce).map_err(|_| AtRestError::Unauthentic)?;
        let tag = chacha20poly1305::Tag::try_from(&*tag).map_err(|_| AtRestError::Unauthentic)?;
        self.cipher()
            .decrypt_inout_detached(&nonce, aad, ciphertext.into(), &tag)
            .map_err(|_| AtRestError::Unauthentic)?;
        Ok(OpenedRecord { buffer })
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
    fn a_record_sealed_where_it_was_written_opens_as_one_sealed_from_a_copy() {
        let key = DataKey::generate().unwrap();
        let record = b"an envelope, written straight into the buffer that is sealed";
        let sealed = key
            .seal_written(b"queue/7", record.len(), |buffer| {
                buffer.extend_from_slice(record);
                true
            })
            .unwrap();
        assert_eq!(sealed.len(), record.len() + AT_REST_OVERHEAD);
        assert_eq!(&**key.open(b"queue/7", &sealed).unwrap(), record);
        assert_eq!(key.open(b"queue/8", &sealed), Err(AtRestError::Unauthentic));
        // A fresh nonce each time, as `seal` has.
        let again = key
            .seal_written(b"queue/7", record.len(), |buffer| {
                buffer.extend_from_slice(record);
                true
            })
            .unwrap();
        assert_ne!(sealed[..NONCE_LEN], again[..NONCE_LEN]);
        // What the writer put in the nonce's room is not the nonce.
        let overwritten = key
            .seal_written(b"queue/7", record.len(), |buffer| {
                buffer.fill(0xaa);
                buffer.extend_from_slice(record);
                true
            })
            .unwrap();
        assert_ne!(overwritten[..NONCE_LEN], [0xaa; NONCE_LEN]);
        assert_eq!(&**key.open(b"queue/7", &overwritten).unwrap(), record);
    }

    #[test]
    fn a_record_opened_in_place_is_the_record_and_only_under_its_key_and_place() {
        let key = DataKey::generate().unwrap();
        for record in [&b""[..], b"x", &[0x5a; 70_000]] {
            let sealed = key.seal(b"inbox/1", record).unwrap();
            assert_eq!(
                &*key.open_in_place(b"inbox/1", sealed.clone()).unwrap(),
                record
            );
            assert_eq!(
                key.open_in_place(b"inbox/2", sealed.clone()).unwrap_err(),
                AtRestError::Unauthentic
            );
            let other = DataKey::generate().unwrap();
            assert_eq!(
                other.open_in_place(b"inbox/1", sealed.clone()).unwrap_err(),
                AtRestError::Unauthentic
            );
            // Every byte is covered: nonce, ciphertext and tag.
            for at in [0, NONCE_LEN, sealed.len() - 1] {
                let mut altered = sealed.clone();
                altered[at] ^= 1;
                assert_eq!(
                    key.open_in_place(b"inbox/1", altered).unwrap_err(),
                    AtRestError::Unauthentic
                );
            }
        }
        for len in 0..AT_REST_OVERHEAD {
            assert_eq!(
                key.open_in_place(b"a", vec![0; len]).unwrap_err(),
                AtRestError::Truncated { len }
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// The in-place forms make and open exactly what `seal` and `open` do: each opens
        /// the other's records, and a flipped bit anywhere, or another place, opens nothing.
        #[test]
        fn in_place_sealing_and_opening_agree_with_the_copying_forms(
            record in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            aad in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            flip in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let key = DataKey::generate().unwrap();
            let written = key
                .seal_written(&aad, record.len(), |buffer| {
                    buffer.extend_from_slice(&record);
                    true
                })
                .unwrap();
            let copied = key.seal(&aad, &record).unwrap();
            proptest::prop_assert_eq!(written.len(), copied.len());
            proptest::prop_assert_eq!(&**key.open(&aad, &written).unwrap(), &record[..]);
            proptest::prop_assert_eq!(&*key.open_in_place(&aad, copied.clone()).unwrap(), &record[..]);
            proptest::prop_assert_eq!(&*key.open_in_place(&aad, written.clone()).unwrap(), &record[..]);
            let mut altered = written.clone();
            altered[flip.index(written.len())] ^= 0x01;
            proptest::prop_assert_eq!(key.open(&aad, &altered), Err(AtRestError::Unauthentic));
            proptest::prop_assert_eq!(
                key.open_in_place(&aad, altered).unwrap_err(),
                AtRestError::Unauthentic
            );
            let mut elsewhere = aad.clone();
            elsewhere.push(0);
            proptest::prop_assert_eq!(
                key.open_in_place(&elsewhere, written).unwrap_err(),
                AtRestError::Unauthentic
            );
        }
    }

    #[test]
    fn a_writer_that_fails_or_eats_the_nonce_room_seals_nothing() {
        let key = DataKey::generate().unwrap();
        assert_eq!(
            key.seal_written(b"a", 4, |_| false),
            Err(AtRestError::Unwritten)
        );
        assert_eq!(
            key.seal_written(b"a", 4, |buffer| {
                buffer.clear();
                true
            }),
            Err(AtRestError::Unwritten)
        );
        assert_eq!(
            key.seal_written(b"a", usize::MAX, |_| true),
            Err(AtRestError::TooLarge)
        );
    }

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
