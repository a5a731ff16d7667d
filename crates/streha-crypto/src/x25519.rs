//! The agency encryption key (X25519, RFC 7748).

use core::cmp::Ordering;
use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::CryptoError;
use crate::fingerprint::Fingerprint;
use crate::kind::KeyKind;
use crate::rand::random_seed;
use crate::serde_util::{deserialize_array, serialize_array};

/// The secret X25519 key envelopes are sealed to (an agency's encryption key).
///
/// Holds the 32-byte secret scalar of RFC 7748 §5 (clamped when used); zeroized on drop.
/// `Debug` prints the kind and the short public fingerprint only. No `Display`, no `Clone`.
pub struct AgencyEncryptionSecretKey {
    secret: StaticSecret,
    public: AgencyEncryptionPublicKey,
}

/// The public X25519 key envelopes are sealed to.
///
/// Always the canonical encoding (`u < 2^255 - 19`) of a point that is not of small order
/// (checked by [`from_bytes`](Self::from_bytes)); key agreement checks again that the shared
/// secret is contributory. Serde: 32 raw bytes in postcard, 64 hex digits in human-readable
/// formats.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgencyEncryptionPublicKey([u8; 32]);

impl AgencyEncryptionSecretKey {
    /// A new key from 32 bytes of operating-system randomness (`getrandom`).
    ///
    /// # Panics
    /// If the operating system's random number generator fails (the system cannot do any
    /// cryptography then; continuing would be worse).
    #[must_use]
    pub fn generate() -> Self {
        Self::from_seed_ref(&random_seed())
    }

    /// The key with this 32-byte secret scalar (RFC 7748 §5, clamped when used).
    ///
    /// Zeroizes the argument's copy; the caller's own copy is the caller's to zeroize.
    #[must_use]
    pub fn from_seed_bytes(mut seed: [u8; 32]) -> Self {
        let key = Self::from_seed_ref(&seed);
        seed.zeroize();
        key
    }

    pub(crate) fn from_seed_ref(seed: &[u8; 32]) -> Self {
        let secret = StaticSecret::from(*seed);
        let public = AgencyEncryptionPublicKey(PublicKey::from(&secret).to_bytes());
        Self { secret, public }
    }

    /// The 32-byte secret scalar, for key files only.
    pub(crate) fn seed(&self) -> &[u8; 32] {
        self.secret.as_bytes()
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> AgencyEncryptionPublicKey {
        self.public
    }

    /// The fingerprint of the public key.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.public.fingerprint()
    }

    /// X25519 with `their_public` (any 32 bytes, e.g. an envelope's ephemeral key).
    /// `None` if the result is all-zero (non-contributory: `their_public` has small order).
    pub(crate) fn diffie_hellman(&self, their_public: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*their_public));
        shared
            .was_contributory()
            .then(|| Zeroizing::new(shared.to_bytes()))
    }
}

impl ZeroizeOnDrop for AgencyEncryptionSecretKey {}

impl fmt::Debug for AgencyEncryptionSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(KeyKind::AgencyEncryption.secret_type_name())
            .field(
                "fingerprint",
                &format_args!("{}", self.fingerprint().short()),
            )
            .finish_non_exhaustive()
    }
}

/// 2^255 - 19, little-endian.
pub(crate) const FIELD_PRIME: [u8; 32] = {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

impl AgencyEncryptionPublicKey {
    /// Length of the key in bytes.
    pub const LEN: usize = 32;

    /// The public key encoded by these 32 bytes (a little-endian Montgomery `u`).
    ///
    /// # Errors
    /// - [`CryptoError::InvalidPublicKey`] if the encoding is not canonical (bit 255 set, or
    ///   `u >= 2^255 - 19`);
    /// - [`CryptoError::WeakPublicKey`] if the point has small order (including all-zero):
    ///   key agreement with it would give a secret anyone can compute.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, CryptoError> {
        let kind = KeyKind::AgencyEncryption;
        if !less_than_le(&bytes, &FIELD_PRIME) {
            return Err(CryptoError::InvalidPublicKey { kind });
        }
        // Of the canonical encodings (< p), exactly these five are points of small order on
        // the curve or its twist (libsodium's blacklist without its non-canonical entries);
        // a table lookup instead of a scalar multiplication, since every envelope decode
        // validates its recipient key. The test `small_order_table_matches_the_definition`
        // checks the table against the definition.
        if SMALL_ORDER.contains(&bytes) {
            return Err(CryptoError::WeakPublicKey { kind });
        }
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

    /// BLAKE3 of the 32 bytes.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_key_bytes(&self.0)
    }
}

/// `a < b` for little-endian 256-bit numbers.
/// The canonical u-coordinates of small order (curve and twist), after libsodium's
/// `has_small_order` list.
const SMALL_ORDER: [[u8; 32]; 5] = [
    // u = 0
    [0; 32],
    // u = 1
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    // a point of order 8
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    // a point of order 8
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    // u = p - 1
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

pub(crate) fn less_than_le(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().rev().cmp(b.iter().rev()) == Ordering::Less
}

impl PartialOrd for AgencyEncryptionPublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AgencyEncryptionPublicKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl fmt::Debug for AgencyEncryptionPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({})",
            KeyKind::AgencyEncryption.public_type_name(),
            self.fingerprint().short()
        )
    }
}

impl Serialize for AgencyEncryptionPublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_array(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for AgencyEncryptionPublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = deserialize_array(deserializer)?;
        Self::from_bytes(bytes).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(small: u8) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        bytes[0] = small;
        bytes
    }

    #[test]
    fn agreement_is_symmetric() {
        let a = AgencyEncryptionSecretKey::from_seed_bytes([2; 32]);
        let b = AgencyEncryptionSecretKey::generate();
        let ab = a.diffie_hellman(b.public_key().as_bytes()).unwrap();
        let ba = b.diffie_hellman(a.public_key().as_bytes()).unwrap();
        assert_eq!(*ab, *ba);
        assert_eq!(a.seed(), &[2; 32]);
        assert_eq!(
            AgencyEncryptionPublicKey::from_bytes(a.public_key().to_bytes()),
            Ok(a.public_key())
        );
    }

    #[test]
    fn rejects_low_order_and_non_canonical() {
        let weak = Err(CryptoError::WeakPublicKey {
            kind: KeyKind::AgencyEncryption,
        });
        let invalid = Err(CryptoError::InvalidPublicKey {
            kind: KeyKind::AgencyEncryption,
        });
        // u = 0 and u = 1 have small order.
        assert_eq!(AgencyEncryptionPublicKey::from_bytes(u(0)), weak);
        assert_eq!(AgencyEncryptionPublicKey::from_bytes(u(1)), weak);
        // A point of order 8 (RFC 7748 / libsodium blacklist).
        let order8 =
            hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
                .unwrap();
        assert_eq!(
            AgencyEncryptionPublicKey::from_bytes(order8.try_into().unwrap()),
            weak
        );
        // p itself, and anything with bit 255 set.
        assert_eq!(AgencyEncryptionPublicKey::from_bytes(FIELD_PRIME), invalid);
        let mut high = u(9);
        high[31] |= 0x80;
        assert_eq!(AgencyEncryptionPublicKey::from_bytes(high), invalid);
        // p - 1 (u = -1) is canonical but of small order; p - 2 is canonical and fine.
        let mut p_minus_1 = FIELD_PRIME;
        p_minus_1[0] -= 1;
        assert_eq!(AgencyEncryptionPublicKey::from_bytes(p_minus_1), weak);
        let mut p_minus_2 = FIELD_PRIME;
        p_minus_2[0] -= 2;
        assert!(AgencyEncryptionPublicKey::from_bytes(p_minus_2).is_ok());
        // Agreement with a low-order point is refused.
        let a = AgencyEncryptionSecretKey::from_seed_bytes([2; 32]);
        assert!(a.diffie_hellman(&u(0)).is_none());
        assert!(a.diffie_hellman(&u(1)).is_none());
    }

    #[test]
    fn debug_shows_fingerprint_only() {
        let secret = AgencyEncryptionSecretKey::from_seed_bytes([0x77; 32]);
        let debug = format!("{secret:?}");
        assert!(debug.starts_with("AgencyEncryptionSecretKey { fingerprint: "));
        assert!(!debug.contains(&hex::encode([0x77; 32])));
        assert!(!debug.contains("119, 119"));
    }

    /// The table holds exactly the canonical encodings that the definition (a clamped scalar
    /// multiplication, which maps precisely the small-order points to zero) rejects: each
    /// entry is rejected by the definition, and random canonical keys agree with it.
    #[test]
    fn small_order_table_matches_the_definition() {
        let weak = |u: [u8; 32]| {
            x25519_dalek::x25519(x25519_dalek::X25519_BASEPOINT_BYTES, u) == [0u8; 32]
        };
        for u in SMALL_ORDER {
            assert!(less_than_le(&u, &FIELD_PRIME));
            assert!(weak(u), "{u:02x?} is not of small order");
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2000 {
            let mut u = [0u8; 32];
            for chunk in u.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes());
            }
            u[31] &= 0x7f;
            if less_than_le(&u, &FIELD_PRIME) {
                assert_eq!(weak(u), SMALL_ORDER.contains(&u));
            }
        }
    }
}
