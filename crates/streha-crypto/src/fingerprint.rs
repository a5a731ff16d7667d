//! Fingerprints: BLAKE3 of a public key's 32 bytes.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::CryptoError;
use crate::serde_util::{deserialize_array, serialize_array};

/// The BLAKE3 hash of a public key's 32 bytes (`spec/keys.md`, "Fingerprints").
///
/// - Full form ([`Display`](fmt::Display), [`Fingerprint::to_hex`]): 64 lowercase hex digits.
///   Use it wherever a key is pinned.
/// - Short form ([`Fingerprint::short`], `Debug`): the first 8 bytes as four groups of four hex
///   digits joined by `:`, e.g. `3f2a:91c0:7d4e:0b18`. For people comparing keys by eye
///   (64 bits: enough to spot a mistake, not to resist a forger who searches for a collision).
///
/// The fingerprint does not name the key's kind: the same 32 bytes have the same fingerprint
/// whatever role they are used in.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Length of a fingerprint in bytes.
    pub const LEN: usize = 32;

    /// The fingerprint of a public key given as its 32 bytes.
    #[must_use]
    pub fn of_key_bytes(public_key: &[u8; 32]) -> Self {
        Self(*blake3::hash(public_key).as_bytes())
    }

    /// Wraps 32 bytes that already are a fingerprint.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the full form: 64 hex digits (either case).
    ///
    /// # Errors
    /// [`CryptoError::BadFingerprint`] if the text is not exactly 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| CryptoError::BadFingerprint)?;
        Ok(Self(bytes))
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The 32 bytes, borrowed.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The full form: 64 lowercase hex digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The short human form: `xxxx:xxxx:xxxx:xxxx`, the first 8 bytes in lowercase hex.
    #[must_use]
    pub fn short(&self) -> String {
        let hex = hex::encode(&self.0[..8]);
        format!(
            "{}:{}:{}:{}",
            &hex[0..4],
            &hex[4..8],
            &hex[8..12],
            &hex[12..16]
        )
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.short())
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_array(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_array(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let fp = Fingerprint::of_key_bytes(&[7u8; 32]);
        assert_eq!(fp.to_bytes(), *blake3::hash(&[7u8; 32]).as_bytes());
        let full = fp.to_hex();
        assert_eq!(full.len(), 64);
        assert_eq!(fp.to_string(), full);
        let short = fp.short();
        assert_eq!(short.len(), 19);
        assert_eq!(short.replace(':', ""), full[..16]);
        assert_eq!(format!("{fp:?}"), format!("Fingerprint({short})"));
        assert_eq!(Fingerprint::from_hex(&full), Ok(fp));
        assert_eq!(Fingerprint::from_hex(&full.to_uppercase()), Ok(fp));
        assert_eq!(
            Fingerprint::from_hex(&full[1..]),
            Err(CryptoError::BadFingerprint)
        );
        assert_eq!(
            Fingerprint::from_hex("zz"),
            Err(CryptoError::BadFingerprint)
        );
    }

    #[test]
    fn serde_forms() {
        let fp = Fingerprint::from_bytes([0xab; 32]);
        assert_eq!(postcard::to_allocvec(&fp).unwrap(), vec![0xab; 32]);
        let back: Fingerprint = postcard::from_bytes(&[0xab; 32]).unwrap();
        assert_eq!(back, fp);
        let json = serde_json::to_string(&fp).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), fp);
    }
}
