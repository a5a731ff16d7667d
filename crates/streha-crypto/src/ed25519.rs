//! The five Ed25519 key roles: one generic secret/public pair, told apart by a marker type.

use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::CryptoError;
use crate::fingerprint::Fingerprint;
use crate::kind::KeyKind;
use crate::rand::random_seed;
use crate::serde_util::{deserialize_array, serialize_array};
use crate::signature::Signature;

mod sealed {
    pub trait Sealed {}
}

/// The role of an Ed25519 key: a marker type from [`role`](crate::role).
///
/// Keys of different roles are different types, so a roster key cannot be passed where an
/// agency signing key is expected. The trait is sealed: the roles are exactly those of
/// `spec/keys.md`.
pub trait Ed25519Role: sealed::Sealed + 'static {
    /// The key-file kind of keys in this role.
    const KIND: KeyKind;
}

/// Marker types naming the Ed25519 key roles (they have no values).
pub mod role {
    use super::{Ed25519Role, KeyKind, sealed};

    macro_rules! roles {
        ($($(#[$doc:meta])* $name:ident => $kind:ident;)*) => {$(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
            pub enum $name {}
            impl sealed::Sealed for $name {}
            impl Ed25519Role for $name {
                const KIND: KeyKind = KeyKind::$kind;
            }
        )*};
    }

    roles! {
        /// A node's identity: QUIC/TLS certificates, checkpoints, receipts, cosignatures.
        NodeIdentity => NodeIdentity;
        /// An agency's envelope signatures.
        AgencySigning => AgencySigning;
        /// The national authority's roster signatures.
        Roster => Roster;
        /// An application enrolled with its node.
        Application => Application;
        /// An officer approving an urgent-danger disclosure.
        Officer => Officer;
    }
}

/// An Ed25519 secret key in role `R` (use the aliases: [`AgencySigningSecretKey`], …).
///
/// Holds the 32-byte seed of RFC 8032 §5.1.5; zeroized on drop. `Debug` prints the role and
/// the short public fingerprint only. There is no `Display` and no `Clone`: share it behind an
/// `Arc` if several tasks sign.
pub struct Ed25519SecretKey<R: Ed25519Role> {
    key: SigningKey,
    role: PhantomData<fn() -> R>,
}

/// An Ed25519 public key in role `R` (use the aliases: [`AgencySigningPublicKey`], …).
///
/// Always a canonical encoding of a point that is not of small order (checked by
/// [`from_bytes`](Self::from_bytes)). Equality, ordering and hashing are those of the 32 bytes.
/// Serde: 32 raw bytes in postcard, 64 hex digits in human-readable formats.
pub struct Ed25519PublicKey<R: Ed25519Role> {
    key: VerifyingKey,
    role: PhantomData<fn() -> R>,
}

/// Secret key of a node's identity (QUIC/TLS, checkpoints, receipts, cosignatures).
pub type NodeIdentitySecretKey = Ed25519SecretKey<role::NodeIdentity>;
/// Public key of a node's identity.
pub type NodeIdentityPublicKey = Ed25519PublicKey<role::NodeIdentity>;
/// Secret key an agency signs its envelopes with.
pub type AgencySigningSecretKey = Ed25519SecretKey<role::AgencySigning>;
/// Public key that verifies an agency's envelopes.
pub type AgencySigningPublicKey = Ed25519PublicKey<role::AgencySigning>;
/// Secret key the national authority signs the roster with.
pub type RosterSecretKey = Ed25519SecretKey<role::Roster>;
/// Public key that verifies the roster.
pub type RosterPublicKey = Ed25519PublicKey<role::Roster>;
/// Secret key of an application enrolled with its node.
pub type ApplicationSecretKey = Ed25519SecretKey<role::Application>;
/// Public key of an application enrolled with its node.
pub type ApplicationPublicKey = Ed25519PublicKey<role::Application>;
/// Secret key of an officer approving an urgent-danger disclosure.
pub type OfficerSecretKey = Ed25519SecretKey<role::Officer>;
/// Public key of an officer approving an urgent-danger disclosure.
pub type OfficerPublicKey = Ed25519PublicKey<role::Officer>;

impl<R: Ed25519Role> Ed25519SecretKey<R> {
    /// A new key from 32 bytes of operating-system randomness (`getrandom`).
    ///
    /// # Panics
    /// If the operating system's random number generator fails (the system cannot do any
    /// cryptography then; continuing would be worse).
    #[must_use]
    pub fn generate() -> Self {
        Self::from_seed_ref(&random_seed())
    }

    /// The key with this 32-byte seed (RFC 8032 §5.1.5 "private key").
    ///
    /// Zeroizes the argument's copy; the caller's own copy is the caller's to zeroize.
    /// Use it to load keys and for test vectors; new keys come from [`generate`](Self::generate).
    #[must_use]
    pub fn from_seed_bytes(mut seed: [u8; 32]) -> Self {
        let key = Self::from_seed_ref(&seed);
        seed.zeroize();
        key
    }

    pub(crate) fn from_seed_ref(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
            role: PhantomData,
        }
    }

    /// The 32-byte seed, for key files only.
    pub(crate) fn seed(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> Ed25519PublicKey<R> {
        Ed25519PublicKey {
            key: self.key.verifying_key(),
            role: PhantomData,
        }
    }

    /// The fingerprint of the public key.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.public_key().fingerprint()
    }

    /// Signs `message` (pure Ed25519, RFC 8032 §5.1.6; deterministic).
    ///
    /// Callers put a domain-separation prefix in `message` (as the envelope does).
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature::from_bytes(self.key.sign(message).to_bytes())
    }

    /// The underlying `ed25519-dalek` key (for signed notes, rustls and rcgen).
    #[must_use]
    pub fn as_dalek(&self) -> &SigningKey {
        &self.key
    }

    /// The key as a PKCS#8 v2 DER document (RFC 8410, with the public key), for rustls/rcgen.
    ///
    /// # Panics
    /// Never in practice: DER-encoding a fixed 32-byte key into memory cannot fail.
    #[must_use]
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        self.key
            .to_pkcs8_der()
            .expect("PKCS#8 encoding of an in-memory Ed25519 key cannot fail")
            .to_bytes()
    }
}

impl<R: Ed25519Role> ZeroizeOnDrop for Ed25519SecretKey<R> {}

impl<R: Ed25519Role> fmt::Debug for Ed25519SecretKey<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(R::KIND.secret_type_name())
            .field(
                "fingerprint",
                &format_args!("{}", self.fingerprint().short()),
            )
            .finish_non_exhaustive()
    }
}

impl<R: Ed25519Role> Ed25519PublicKey<R> {
    /// Length of the key in bytes.
    pub const LEN: usize = 32;

    /// The public key encoded by these 32 bytes.
    ///
    /// # Errors
    /// - [`CryptoError::InvalidPublicKey`] if the bytes are not the canonical encoding of a
    ///   curve point;
    /// - [`CryptoError::WeakPublicKey`] if the point has small order.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, CryptoError> {
        let kind = R::KIND;
        let key =
            VerifyingKey::from_bytes(&bytes).map_err(|_| CryptoError::InvalidPublicKey { kind })?;
        // ZIP-215 decoding accepts y >= p; one key must have one encoding (and one fingerprint).
        if key.to_edwards().compress().to_bytes() != bytes {
            return Err(CryptoError::InvalidPublicKey { kind });
        }
        if key.is_weak() {
            return Err(CryptoError::WeakPublicKey { kind });
        }
        Ok(Self {
            key,
            role: PhantomData,
        })
    }

    /// The 32 bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The 32 bytes, borrowed.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// The underlying `ed25519-dalek` key.
    #[must_use]
    pub fn as_dalek(&self) -> &VerifyingKey {
        &self.key
    }

    /// BLAKE3 of the 32 bytes.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_key_bytes(self.as_bytes())
    }

    /// Checks `signature` over `message` with `ed25519-dalek`'s `verify_strict`: rejects
    /// non-canonical `S`, small-order `R` and small-order keys (no signature malleability).
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] if the signature is not valid.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        self.key
            .verify_strict(message, &signature.to_dalek())
            .map_err(|_| CryptoError::BadSignature)
    }
}

/// Verifies many signatures at once with `ed25519-dalek`'s `verify_batch`: `true` only if
/// every `signatures[i]` is valid over `messages[i]` under `keys[i]`. For auditors checking
/// thousands of independent signatures; `false` says only that at least one is not valid
/// (or the slices differ in length), so the caller then checks each with
/// [`Ed25519PublicKey::verify`] to name it.
///
/// The batch equation is the cofactorless one `verify_strict` checks, combined with random
/// weights, so a signature `verify_strict` accepts is always accepted. Of what
/// `verify_strict` refuses beyond the equation, a non-canonical `S` is refused by
/// `verify_batch` itself, and an `R` of small order or not canonically encoded here (keys
/// of this type are canonical and not of small order by construction). The one difference
/// left: a signature
/// whose `R` has a small-order component (an honest signer never makes one, and only the
/// holder of the secret key can make one that verifies at all) fails `verify_strict` but
/// passes a batch for at least one weight in eight, and the weights derive from the inputs,
/// so its signer can search for one that passes. `spec/verification.md` §4.2 states it.
#[must_use]
pub fn verify_batch<R: Ed25519Role>(
    messages: &[&[u8]],
    signatures: &[Signature],
    keys: &[Ed25519PublicKey<R>],
) -> bool {
    if messages.len() != signatures.len() || keys.len() != signatures.len() {
        return false;
    }
    // What `verify_strict` refuses before its equation: `R` of small order (for which the
    // key's holder can make the batch equation hold exactly), and an `R` that is not the
    // canonical encoding of its point (`verify_strict` compares `R` byte for byte): y (the
    // sign bit of x cleared) below the field prime. Small order is told from the encoding
    // (decoding `R` here cost a third of the batch's time, and `verify_batch` decodes it
    // again); an `R` that is no point at all fails `verify_batch` itself.
    let r_strict = |signature: &Signature| {
        let mut r = [0u8; 32];
        r.copy_from_slice(&signature.to_bytes()[..32]);
        let mut y = r;
        y[31] &= 0x7f;
        crate::x25519::less_than_le(&y, &crate::x25519::FIELD_PRIME)
            && !small_order_encodings().contains(&r)
    };
    if !signatures.iter().all(r_strict) {
        return false;
    }
    let dalek: Vec<ed25519_dalek::Signature> = signatures.iter().map(|s| s.to_dalek()).collect();
    let keys: Vec<VerifyingKey> = keys.iter().map(|k| k.key).collect();
    ed25519_dalek::verify_batch(messages, &dalek, &keys).is_ok()
}

/// Every encoding whose y is canonical (below the field prime) that decodes to a point of
/// small order: the eight points of the eight-torsion subgroup, each with either sign bit
/// (for a point with x ≠ 0 the other sign is its negation, also of small order; for x = 0,
/// the identity and the point of order 2, both signs decode to the point itself). There are
/// exactly eight points of small order, so this is all of them (`tests`: each decodes to a
/// weak point, and they agree with decoding on arbitrary bytes).
fn small_order_encodings() -> &'static [[u8; 32]; 16] {
    static ENCODINGS: std::sync::OnceLock<[[u8; 32]; 16]> = std::sync::OnceLock::new();
    ENCODINGS.get_or_init(|| {
        let mut all = [[0u8; 32]; 16];
        for (i, point) in curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .enumerate()
        {
            let encoding = point.compress().to_bytes();
            all[2 * i] = encoding;
            all[2 * i + 1] = encoding;
            all[2 * i + 1][31] ^= 0x80;
        }
        all
    })
}

impl<R: Ed25519Role> Clone for Ed25519PublicKey<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R: Ed25519Role> Copy for Ed25519PublicKey<R> {}

impl<R: Ed25519Role> PartialEq for Ed25519PublicKey<R> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<R: Ed25519Role> Eq for Ed25519PublicKey<R> {}

impl<R: Ed25519Role> PartialOrd for Ed25519PublicKey<R> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<R: Ed25519Role> Ord for Ed25519PublicKey<R> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl<R: Ed25519Role> Hash for Ed25519PublicKey<R> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl<R: Ed25519Role> fmt::Debug for Ed25519PublicKey<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({})",
            R::KIND.public_type_name(),
            self.fingerprint().short()
        )
    }
}

impl<R: Ed25519Role> Serialize for Ed25519PublicKey<R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_array(self.as_bytes(), serializer)
    }
}

impl<'de, R: Ed25519Role> Deserialize<'de> for Ed25519PublicKey<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = deserialize_array(deserializer)?;
        Self::from_bytes(bytes).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_of(n: usize) -> (Vec<Vec<u8>>, Vec<Signature>, Vec<AgencySigningPublicKey>) {
        let secrets = [
            AgencySigningSecretKey::from_seed_bytes([1; 32]),
            AgencySigningSecretKey::from_seed_bytes([2; 32]),
        ];
        let messages: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("envelope {i}").into_bytes())
            .collect();
        let signatures = messages
            .iter()
            .enumerate()
            .map(|(i, m)| secrets[i % 2].sign(m))
            .collect();
        let keys = (0..n).map(|i| secrets[i % 2].public_key()).collect();
        (messages, signatures, keys)
    }

    fn batch(
        messages: &[Vec<u8>],
        signatures: &[Signature],
        keys: &[AgencySigningPublicKey],
    ) -> bool {
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        verify_batch(&refs, signatures, keys)
    }

    #[test]
    fn a_batch_passes_only_if_every_signature_is_valid() {
        let (mut messages, mut signatures, keys) = batch_of(70);
        assert!(batch(&messages, &signatures, &keys));
        assert!(batch(&[], &[], &keys[..0]));
        // One message changed, one signature of another message, one key swapped.
        messages[41].push(b'!');
        assert!(!batch(&messages, &signatures, &keys));
        messages[41].pop();
        signatures.swap(3, 5);
        assert!(!batch(&messages, &signatures, &keys));
        signatures.swap(3, 5);
        let mut swapped = keys.clone();
        swapped.swap(0, 1);
        assert!(!batch(&messages, &signatures, &swapped));
        // Slices of different lengths.
        assert!(!batch(&messages[..69], &signatures, &keys));
        assert!(!batch(&messages, &signatures, &keys[..69]));
    }

    #[test]
    fn a_batch_refuses_a_non_canonical_r_as_verify_strict_does() {
        let (messages, mut signatures, keys) = batch_of(3);
        // y = 2^255 - 1 ≥ p: not the canonical encoding of any point.
        let mut bytes = signatures[1].to_bytes();
        bytes[..32].copy_from_slice(&[0xff; 32]);
        bytes[31] = 0x7f;
        signatures[1] = Signature::from_bytes(bytes);
        assert!(keys[1].verify(&messages[1], &signatures[1]).is_err());
        assert!(!batch(&messages, &signatures, &keys));
    }

    /// A signature only the key's holder can make: `R` the identity (small order) and
    /// `S = k·a`, for which the batch equation holds exactly, whatever its weights.
    /// `verify_strict` refuses it (small-order `R`); so must the batch — with `R` the
    /// identity's canonical encoding, and with its sign bit set (x = 0, so it decodes to the
    /// identity too).
    #[test]
    fn a_batch_refuses_a_small_order_r_that_satisfies_its_equation() {
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest, Sha512};

        let seed = [2u8; 32];
        let h = Sha512::digest(seed);
        let mut a = [0u8; 32];
        a.copy_from_slice(&h[..32]);
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut signed_identity = identity;
        signed_identity[31] |= 0x80;
        for r in [identity, signed_identity] {
            let (messages, mut signatures, keys) = batch_of(3);
            let k = Scalar::from_bytes_mod_order_wide(&{
                let mut hasher = Sha512::new();
                hasher.update(r);
                hasher.update(keys[1].as_bytes());
                hasher.update(&messages[1]);
                let mut wide = [0u8; 64];
                wide.copy_from_slice(&hasher.finalize());
                wide
            });
            let s = k * a;
            let mut bytes = [0u8; 64];
            bytes[..32].copy_from_slice(&r);
            bytes[32..].copy_from_slice(s.as_bytes());
            signatures[1] = Signature::from_bytes(bytes);
            // The forged signature satisfies the cofactorless equation: the batch of it
            // alone, without this function's checks, passes.
            let dalek = [signatures[1].to_dalek()];
            assert!(
                ed25519_dalek::verify_batch(&[&messages[1]], &dalek, &[*keys[1].as_dalek()])
                    .is_ok()
            );
            assert!(keys[1].verify(&messages[1], &signatures[1]).is_err());
            assert!(!batch(&messages, &signatures, &keys), "{r:?}");
        }
    }

    /// The encodings the batch refuses as small-order `R`s are exactly those that decode to
    /// a point of small order: each of them does, the eight points are distinct, and
    /// `is_weak` of any other decodable encoding is false (below, on arbitrary bytes).
    #[test]
    fn the_small_order_encodings_are_every_small_order_point() {
        let mut points = std::collections::HashSet::new();
        for encoding in small_order_encodings() {
            let point = VerifyingKey::from_bytes(encoding).expect("decodes");
            assert!(point.is_weak(), "{encoding:?}");
            points.insert(point.to_edwards().compress().to_bytes());
        }
        assert_eq!(points.len(), 8, "the eight points of small order");
        // A signature whose `R` is any of them fails the batch, as `verify_strict` fails it.
        let (messages, signatures, keys) = batch_of(3);
        for encoding in small_order_encodings() {
            let mut forged = signatures.clone();
            let mut bytes = forged[2].to_bytes();
            bytes[..32].copy_from_slice(encoding);
            forged[2] = Signature::from_bytes(bytes);
            assert!(keys[2].verify(&messages[2], &forged[2]).is_err());
            assert!(!batch(&messages, &forged, &keys));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Telling small order from the encoding agrees with decoding: on arbitrary bytes,
        /// and on points of mixed order (a point of the prime-order group plus a torsion
        /// point, which is not of small order).
        #[test]
        fn small_order_by_encoding_agrees_with_decoding(
            bytes in proptest::prelude::any::<[u8; 32]>(),
            scalar in proptest::prelude::any::<[u8; 32]>(),
            torsion in 0usize..8,
        ) {
            use curve25519_dalek::{constants, scalar::Scalar};
            let mixed = (constants::ED25519_BASEPOINT_POINT * Scalar::from_bytes_mod_order(scalar)
                + constants::EIGHT_TORSION[torsion])
                .compress()
                .to_bytes();
            for r in [bytes, mixed] {
                // Only encodings with y canonical reach the check (the batch refuses the
                // others first).
                let mut y = r;
                y[31] &= 0x7f;
                if !crate::x25519::less_than_le(&y, &crate::x25519::FIELD_PRIME) {
                    continue;
                }
                let decoded_weak = VerifyingKey::from_bytes(&r).is_ok_and(|p| p.is_weak());
                proptest::prop_assert_eq!(small_order_encodings().contains(&r), decoded_weak);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// One bit flipped anywhere (a signature's R or S, a message): the batch passes
        /// exactly when `verify_strict` passes every signature.
        #[test]
        fn a_batch_agrees_with_verify_strict(which in 0usize..8, bit in 0usize..512, in_message: bool) {
            let (mut messages, mut signatures, keys) = batch_of(8);
            if in_message {
                let m = &mut messages[which];
                let at = bit % (m.len() * 8);
                m[at / 8] ^= 1 << (at % 8);
            } else {
                let mut bytes = signatures[which].to_bytes();
                bytes[bit / 8] ^= 1 << (bit % 8);
                signatures[which] = Signature::from_bytes(bytes);
            }
            let strict = messages
                .iter()
                .zip(&signatures)
                .zip(&keys)
                .all(|((m, s), k)| k.verify(m, s).is_ok());
            proptest::prop_assert_eq!(batch(&messages, &signatures, &keys), strict);
        }
    }

    #[test]
    fn sign_verify_and_roles() {
        let secret = AgencySigningSecretKey::from_seed_bytes([1; 32]);
        let public = secret.public_key();
        let sig = secret.sign(b"message");
        assert_eq!(public.verify(b"message", &sig), Ok(()));
        assert_eq!(
            public.verify(b"messagE", &sig),
            Err(CryptoError::BadSignature)
        );
        let mut bad = sig.to_bytes();
        bad[63] ^= 0x40;
        assert_eq!(
            public.verify(b"message", &Signature::from_bytes(bad)),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            AgencySigningPublicKey::from_bytes(public.to_bytes()),
            Ok(public)
        );
        assert_eq!(public.fingerprint(), secret.fingerprint());
        assert_eq!(secret.seed(), &[1; 32]);
        // Same seed, different role: same bytes, but a different type.
        let roster = RosterSecretKey::from_seed_bytes([1; 32]);
        assert_eq!(roster.public_key().to_bytes(), public.to_bytes());
    }

    #[test]
    fn generate_gives_distinct_keys() {
        let a = OfficerSecretKey::generate();
        let b = OfficerSecretKey::generate();
        assert_ne!(a.public_key(), b.public_key());
    }

    #[test]
    fn rejects_weak_and_non_canonical_points() {
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            NodeIdentityPublicKey::from_bytes(identity),
            Err(CryptoError::WeakPublicKey {
                kind: KeyKind::NodeIdentity
            })
        );
        // y = p + 1 is a non-canonical encoding of the identity.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        assert_eq!(
            NodeIdentityPublicKey::from_bytes(non_canonical),
            Err(CryptoError::InvalidPublicKey {
                kind: KeyKind::NodeIdentity
            })
        );
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert!(NodeIdentityPublicKey::from_bytes(off_curve).is_err());
    }

    #[test]
    fn debug_shows_fingerprint_only() {
        let secret = ApplicationSecretKey::from_seed_bytes([0x5a; 32]);
        let short = secret.fingerprint().short();
        let debug = format!("{secret:?}");
        assert_eq!(
            debug,
            format!("ApplicationSecretKey {{ fingerprint: {short}, .. }}")
        );
        assert!(!debug.contains(&hex::encode([0x5a; 32])));
        assert_eq!(
            format!("{:?}", secret.public_key()),
            format!("ApplicationPublicKey({short})")
        );
    }

    #[test]
    fn pkcs8_der_round_trips_through_dalek() {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        let secret = NodeIdentitySecretKey::from_seed_bytes([9; 32]);
        let der = secret.to_pkcs8_der();
        let back = SigningKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(back.to_bytes(), [9; 32]);
        assert_eq!(secret.as_dalek().to_bytes(), [9; 32]);
    }

    #[test]
    fn serde_is_32_raw_bytes() {
        let public = RosterSecretKey::from_seed_bytes([3; 32]).public_key();
        let encoded = postcard::to_allocvec(&public).unwrap();
        assert_eq!(encoded, public.to_bytes().to_vec());
        assert_eq!(
            postcard::from_bytes::<RosterPublicKey>(&encoded).unwrap(),
            public
        );
        let json = serde_json::to_string(&public).unwrap();
        assert_eq!(json, format!("\"{}\"", hex::encode(public.to_bytes())));
        assert_eq!(
            serde_json::from_str::<RosterPublicKey>(&json).unwrap(),
            public
        );
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(postcard::from_bytes::<RosterPublicKey>(&identity).is_err());
    }
}
