//! The tree's hash function: SHA-256 with the domain separation of RFC 6962 §2.1 (the same
//! as RFC 9162 §2.1.1 with SHA-256): `0x00` before a leaf, `0x01` before two child hashes.
//!
//! This is exactly the tree of Certificate Transparency, Go's `golang.org/x/mod/sumdb/tlog`
//! and C2SP `tlog-checkpoint`, so any RFC 6962 implementation checks Streha's proofs and any
//! C2SP witness can cosign Streha's checkpoints. (BLAKE3 remains Streha's hash for envelope
//! key derivation, ciphertext commitments and fingerprints — never for the tree.)

use std::fmt;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// A 32-byte SHA-256 output: a leaf hash, an interior node hash or a root hash.
///
/// Equality is constant-time (a root or proof node compared against an attacker-supplied
/// value leaks nothing through timing). `Debug` and `Display` print lowercase hex.
///
/// A root hash means nothing without the tree size it was computed at: always carry the two
/// together (a [`Checkpoint`](crate::Checkpoint) does).
#[derive(Clone, Copy)]
pub struct Hash([u8; 32]);

impl Hash {
    /// Length of a hash in bytes.
    pub const LEN: usize = 32;

    /// Wraps 32 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 32 bytes, by value.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// Parses 64 hex digits (either case).
    ///
    /// # Errors
    /// [`HashParseError::Length`] unless the text is 64 characters long,
    /// [`HashParseError::NotHex`] naming the first character that is not a hex digit.
    pub fn from_hex(text: &str) -> Result<Self, HashParseError> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(HashParseError::Length { len: bytes.len() });
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or(HashParseError::NotHex { position: 2 * i })?;
            let lo = hex_value(pair[1]).ok_or(HashParseError::NotHex {
                position: 2 * i + 1,
            })?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }

    /// Lowercase hex, 64 characters (the same as `Display`).
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Hash {}

impl std::hash::Hash for Hash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl From<Hash> for [u8; 32] {
    fn from(hash: Hash) -> Self {
        hash.0
    }
}

impl TryFrom<&[u8]> for Hash {
    type Error = HashParseError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| HashParseError::Length { len: bytes.len() })?;
        Ok(Self(array))
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Hash {
    type Err = HashParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

/// Serialized as a lowercase hex string in human-readable formats (JSON, TOML) and as 32 raw
/// bytes otherwise (postcard).
impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Hash;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-byte hash (64 hex digits or 32 bytes)")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Hash, E> {
                Hash::from_hex(v).map_err(E::custom)
            }

            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Hash, E> {
                Hash::try_from(v).map_err(E::custom)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Hash, A::Error> {
                let mut out = [0u8; 32];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                if seq.next_element::<u8>()?.is_some() {
                    return Err(serde::de::Error::invalid_length(33, &self));
                }
                Ok(Hash(out))
            }
        }

        if deserializer.is_human_readable() {
            deserializer.deserialize_str(Visitor)
        } else {
            deserializer.deserialize_bytes(Visitor)
        }
    }
}

/// Why text or bytes are not a [`Hash`](struct@Hash).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashParseError {
    /// Wrong length: 64 hex digits or 32 bytes are needed.
    #[error("a hash is 32 bytes (64 hex digits), got {len}")]
    Length {
        /// The length found (characters for hex, bytes for raw input).
        len: usize,
    },
    /// A character that is not a hex digit.
    #[error("character {position} of the hash is not a hex digit")]
    NotHex {
        /// Zero-based position of the offending character.
        position: usize,
    },
}

/// The hash of a leaf: `SHA-256(0x00 ‖ entry)` (RFC 6962 §2.1, `MTH({d(0)})`).
#[must_use]
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let digest = Sha256::new()
        .chain_update([LEAF_PREFIX])
        .chain_update(entry)
        .finalize();
    Hash(digest.into())
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)` (RFC 6962 §2.1).
#[must_use]
pub fn interior_hash(left: &Hash, right: &Hash) -> Hash {
    let digest = Sha256::new()
        .chain_update([NODE_PREFIX])
        .chain_update(left.0)
        .chain_update(right.0)
        .finalize();
    Hash(digest.into())
}

/// The root of the empty tree: `SHA-256("")` (RFC 6962 §2.1: the hash of an empty string).
#[must_use]
pub fn empty_root() -> Hash {
    Hash(Sha256::digest(b"").into())
}

/// The byte before a leaf's entry in its hash input (RFC 6962 §2.1).
const LEAF_PREFIX: u8 = 0x00;

/// The byte before two child hashes in an interior node's hash input (RFC 6962 §2.1).
const NODE_PREFIX: u8 = 0x01;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_case() {
        let h = leaf_hash(b"x");
        let hex = h.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex, hex.to_lowercase());
        assert_eq!(Hash::from_hex(&hex).unwrap(), h);
        assert_eq!(Hash::from_hex(&hex.to_uppercase()).unwrap(), h);
        assert_eq!(format!("{h:?}"), hex);
    }

    #[test]
    fn hex_errors() {
        assert_eq!(Hash::from_hex("ab"), Err(HashParseError::Length { len: 2 }));
        let mut bad = "0".repeat(64);
        bad.replace_range(7..8, "g");
        assert_eq!(
            Hash::from_hex(&bad),
            Err(HashParseError::NotHex { position: 7 })
        );
        assert!(Hash::from_hex(&"é".repeat(32)).is_err());
    }

    #[test]
    fn domain_separation() {
        // A leaf hash of 64 bytes must differ from the interior hash of the same bytes.
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let mut concat = Vec::new();
        concat.extend_from_slice(a.as_bytes());
        concat.extend_from_slice(b.as_bytes());
        assert_ne!(leaf_hash(&concat), interior_hash(&a, &b));
        assert_ne!(leaf_hash(b""), empty_root());
    }

    /// Known answers of RFC 6962 trees, as Certificate Transparency's and Go's
    /// `sumdb/tlog` test data pin them: SHA-256 of the empty string, the leaf hash of the
    /// empty entry, and the root of the two-leaf tree over the entries `[]` and `[0x00]`.
    #[test]
    fn known_rfc6962_answers() {
        assert_eq!(
            empty_root().to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            leaf_hash(b"").to_string(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            interior_hash(&leaf_hash(b""), &leaf_hash(&[0x00])).to_string(),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
    }

    #[test]
    fn serde_forms() {
        let h = leaf_hash(b"serde");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{h}\""));
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<Hash>("\"00\"").is_err());
    }

    #[test]
    fn try_from_slice() {
        assert!(Hash::try_from(&[0u8; 31][..]).is_err());
        assert_eq!(
            Hash::try_from(&[7u8; 32][..]).unwrap(),
            Hash::from([7u8; 32])
        );
    }
}
