//! Public keys in the roster's text form: `<kind>:<64 lowercase hex digits>`, e.g.
//! `node_key = "node-identity:16059fe1…"` (`spec/protocol.md` §8).
//!
//! A fingerprint (`spec/keys.md` §2) is also 64 hex digits, and an Ed25519 or X25519 key
//! accepts most 32-byte values, so a bare hex value cannot tell a key from a fingerprint
//! pasted in its place: it would be accepted as a key nobody holds. The kind prefix makes
//! the two impossible to confuse, and also refuses a key of another kind in a field (an
//! agency's signing key given as its node key). Binary encodings (postcard) are unchanged:
//! the 32 bytes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use streha_crypto::{
    AgencyEncryptionPublicKey, AgencySigningPublicKey, KeyKind, NodeIdentityPublicKey,
    OfficerPublicKey,
};

/// A public key that appears in the roster, with the kind its text form names.
pub(crate) trait RosterKey: Sized + Serialize + for<'de> Deserialize<'de> {
    /// Its kind: the prefix of its text form.
    const KIND: KeyKind;
    /// Its 32 bytes.
    fn key_bytes(&self) -> [u8; 32];
    /// The key of these 32 bytes, if they are one.
    fn from_key_bytes(bytes: [u8; 32]) -> Result<Self, String>;
}

macro_rules! roster_key {
    ($($ty:ty => $kind:expr),+ $(,)?) => {$(
        impl RosterKey for $ty {
            const KIND: KeyKind = $kind;
            fn key_bytes(&self) -> [u8; 32] {
                self.to_bytes()
            }
            fn from_key_bytes(bytes: [u8; 32]) -> Result<Self, String> {
                <$ty>::from_bytes(bytes).map_err(|e| e.to_string())
            }
        }
    )+};
}

roster_key! {
    NodeIdentityPublicKey => KeyKind::NodeIdentity,
    AgencySigningPublicKey => KeyKind::AgencySigning,
    AgencyEncryptionPublicKey => KeyKind::AgencyEncryption,
    OfficerPublicKey => KeyKind::Officer,
}

/// The text form of `key`: `<kind>:<hex>`.
pub(crate) fn to_text<K: RosterKey>(key: &K) -> String {
    let mut text = String::with_capacity(K::KIND.as_str().len() + 65);
    text.push_str(K::KIND.as_str());
    text.push(':');
    for byte in key.key_bytes() {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    text
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Parses the text form of a key of kind `K`, refusing a bare 64-hex-digit value (what a
/// fingerprint looks like) and a key of another kind, each with what to do.
pub(crate) fn from_text<K: RosterKey>(text: &str) -> Result<K, String> {
    let expected = K::KIND.as_str();
    let shown: String = text.chars().take(80).collect();
    let Some((kind, hex)) = text.split_once(':') else {
        let looks_like_hex = text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
        return Err(if looks_like_hex {
            format!(
                "`{shown}` has no `{expected}:` prefix. A key in the roster is written \
                 `{expected}:<64 hex digits>`; a bare 64-hex-digit value is what a \
                 fingerprint looks like, and a fingerprint only names a key, it is not one. \
                 Add the agency from its .pub files with `streha roster add --keys DIR` (and \
                 check the fingerprints it prints with --expect-fingerprint)"
            )
        } else {
            format!("`{shown}` is not a key; write `{expected}:<64 hex digits>`")
        });
    };
    if kind != expected {
        return Err(match KeyKind::from_name(kind) {
            Some(other) => format!(
                "this field holds a key of kind {expected}, but `{shown}` is of kind {other}; \
                 give the agency's {expected} key"
            ),
            None => format!("`{shown}` is not a key; write `{expected}:<64 hex digits>`"),
        });
    }
    let mut bytes = [0u8; 32];
    if hex.len() != 64 {
        return Err(format!(
            "`{shown}`: a {expected} key is 64 hex digits after `{expected}:`, not {}",
            hex.len()
        ));
    }
    for (slot, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let digit = |c: u8| char::from(c).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => *slot = u8::try_from(hi * 16 + lo).unwrap_or(0),
            _ => {
                return Err(format!(
                    "`{shown}` holds a character that is not a hex digit"
                ));
            }
        }
    }
    K::from_key_bytes(bytes).map_err(|e| format!("`{shown}` is not a valid {expected} key: {e}"))
}

/// `#[serde(serialize_with)]`: the text form in human-readable formats, the key's own
/// encoding otherwise.
pub(crate) fn serialize<K: RosterKey, S: Serializer>(key: &K, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&to_text(key))
    } else {
        key.serialize(s)
    }
}

/// `#[serde(deserialize_with)]`: the inverse of [`serialize`].
pub(crate) fn deserialize<'de, K: RosterKey, D: Deserializer<'de>>(d: D) -> Result<K, D::Error> {
    if d.is_human_readable() {
        let text = String::deserialize(d)?;
        from_text(&text).map_err(serde::de::Error::custom)
    } else {
        K::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use streha_crypto::{AgencySigningSecretKey, NodeIdentitySecretKey};

    use super::*;

    #[test]
    fn text_form_round_trips_and_refuses_fingerprints_and_other_kinds() {
        let key = NodeIdentitySecretKey::from_seed_bytes([4; 32]).public_key();
        let text = to_text(&key);
        assert!(text.starts_with("node-identity:"), "{text}");
        assert_eq!(from_text::<NodeIdentityPublicKey>(&text).unwrap(), key);
        // A fingerprint (64 hex digits) where the key belongs.
        let fingerprint = key.fingerprint().to_hex();
        let err = from_text::<NodeIdentityPublicKey>(&fingerprint).unwrap_err();
        assert!(err.contains("fingerprint"), "{err}");
        assert!(err.contains("node-identity:<64 hex digits>"), "{err}");
        // Even with the right prefix pasted in front, the bytes must be a key of that kind
        // — and the bare key (no prefix) is refused too.
        let bare = text.trim_start_matches("node-identity:");
        assert!(from_text::<NodeIdentityPublicKey>(bare).is_err());
        // A key of another kind.
        let signing = AgencySigningSecretKey::from_seed_bytes([5; 32]).public_key();
        let err = from_text::<NodeIdentityPublicKey>(&to_text(&signing)).unwrap_err();
        assert!(err.contains("is of kind agency-signing"), "{err}");
        for bad in ["", "node-identity:", "node-identity:zz", "nonsense:00"] {
            assert!(from_text::<NodeIdentityPublicKey>(bad).is_err(), "{bad}");
        }
        let upper = to_text(&key)
            .to_uppercase()
            .replace("NODE-IDENTITY", "node-identity");
        assert_eq!(from_text::<NodeIdentityPublicKey>(&upper).unwrap(), key);
    }
}
