//! The 64-byte Ed25519 signature.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::serde_util::{deserialize_array, serialize_array};

/// An Ed25519 signature (RFC 8032): 64 bytes, `R ‖ S`.
///
/// Any 64 bytes make a `Signature`; whether it is valid is decided by a public key's
/// `verify`. Postcard writes exactly the 64 raw bytes; human-readable formats write
/// 128 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 64]);

impl Signature {
    /// Length of a signature in bytes.
    pub const LEN: usize = 64;

    /// Wraps 64 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 64]) -> Self {
        Self(bytes)
    }

    /// The 64 bytes.
    #[must_use]
    pub const fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// The 64 bytes, borrowed.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    pub(crate) fn to_dalek(self) -> ed25519_dalek::Signature {
        ed25519_dalek::Signature::from_bytes(&self.0)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_array(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_array(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcard_writes_64_raw_bytes() {
        let mut bytes = [0u8; 64];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::try_from(i).unwrap().wrapping_mul(37);
        }
        let sig = Signature::from_bytes(bytes);
        let encoded = postcard::to_allocvec(&sig).unwrap();
        assert_eq!(encoded, bytes.to_vec());
        assert_eq!(postcard::from_bytes::<Signature>(&encoded).unwrap(), sig);
        assert!(postcard::from_bytes::<Signature>(&encoded[..63]).is_err());
        let json = serde_json::to_string(&sig).unwrap();
        assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), sig);
        assert_eq!(sig.to_bytes(), *sig.as_bytes());
    }
}
