//! Identifiers: validated names (agencies, officers, representatives, clauses, log origins)
//! and random 128-bit ids (subjects, envelopes, consents), plus the opaque signature bytes.
//!
//! Names are validated when built and when deserialized, so an invalid one cannot exist.
//! Error messages never echo the rejected input: a representative id typed as a person's name
//! must not end up in a log line.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// A name (agency, officer, representative, clause) broke the naming rule.
    #[error(
        "invalid {kind}: {rule}; use 1 to 64 characters of a-z, 0-9 and '-', starting with a letter"
    )]
    InvalidName {
        /// Which kind of identifier.
        kind: &'static str,
        /// Which part of the rule was broken.
        rule: &'static str,
    },
    /// A log origin was empty, too long, or held a non-printable character.
    #[error(
        "invalid log origin: {rule}; use 1 to 255 printable ASCII characters without line breaks"
    )]
    InvalidOrigin {
        /// Which part of the rule was broken.
        rule: &'static str,
    },
    /// A 128-bit id was not written as 32 lowercase hexadecimal digits.
    #[error("invalid {kind}: expected exactly 32 lowercase hexadecimal digits")]
    InvalidHex {
        /// Which kind of identifier.
        kind: &'static str,
    },
}

/// Longest validated name, in characters (= bytes, the alphabet is ASCII).
pub const MAX_NAME_LEN: usize = 64;

fn check_name(s: &str, kind: &'static str) -> Result<(), IdError> {
    let bad = |rule| Err(IdError::InvalidName { kind, rule });
    let Some(first) = s.bytes().next() else {
        return bad("it is empty");
    };
    if s.len() > MAX_NAME_LEN {
        return bad("it is longer than 64 characters");
    }
    if !first.is_ascii_lowercase() {
        return bad("it does not start with a lowercase letter");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return bad("it holds a character other than a-z, 0-9 and '-'");
    }
    Ok(())
}

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $borrowed:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// Rule: 1 to 64 characters of `a-z`, `0-9` and `-`, starting with a letter. Checked by
        /// [`new`](Self::new), by [`FromStr`] and on deserialization. Encoded as a postcard
        /// string (varint length, then the ASCII bytes).
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `name`; fails closed on anything outside the rule.
            ///
            /// # Errors
            /// [`IdError::InvalidName`] when the rule is broken.
            pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
                let name = name.into();
                check_name(&name, $kind)?;
                Ok(Self(name))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The borrowed form.
            pub fn as_borrowed(&self) -> $borrowed<'_> {
                $borrowed(&self.0)
            }
        }

        #[doc = concat!("A [`", stringify!($name), "`] borrowed from the bytes it was decoded from (see [`AuditEntryRef`](crate::AuditEntryRef)): the same rule, checked on deserialization, and the same encoding.")]
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $borrowed<'a>(&'a str);

        impl<'a> $borrowed<'a> {
            /// The name as a string slice of the decoded bytes.
            pub fn as_str(&self) -> &'a str {
                self.0
            }

            /// The owned name.
            pub fn to_owned(&self) -> $name {
                // Checked when it was decoded.
                $name(self.0.to_owned())
            }
        }

        impl fmt::Display for $borrowed<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }

        impl fmt::Debug for $borrowed<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl PartialEq<$name> for $borrowed<'_> {
            fn eq(&self, other: &$name) -> bool {
                self.0 == other.0
            }
        }

        impl Serialize for $borrowed<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.0)
            }
        }

        impl<'de: 'a, 'a> Deserialize<'de> for $borrowed<'a> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <&'de str>::deserialize(d)?;
                check_name(s, $kind).map_err(de::Error::custom)?;
                Ok(Self(s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(de::Error::custom)
            }
        }
    };
}

validated_name!(
    /// A member agency of the federation, e.g. `police-prishtina`.
    AgencyId,
    AgencyIdRef,
    "agency id"
);
validated_name!(
    /// An officer of an agency (records consents, approves urgent disclosures). A staff
    /// identifier, never a name.
    OfficerId,
    OfficerIdRef,
    "officer id"
);
validated_name!(
    /// A legal representative's registration id (Art. 18.3, 38.5): the guardian's or
    /// representative's number in the guardianship register, never a name.
    RepresentativeId,
    RepresentativeIdRef,
    "representative id"
);
validated_name!(
    /// The id of a clause of the exchange agreement (Art. 18.2), e.g. `police-case`.
    ClauseId,
    ClauseIdRef,
    "clause id"
);

/// Longest log origin, in bytes.
pub const MAX_ORIGIN_LEN: usize = 255;

/// The origin line of a log (C2SP tlog-checkpoint), e.g. `police.example/streha-log`.
///
/// Rule: 1 to 255 printable ASCII characters (0x20..=0x7E), not starting or ending with a
/// space. Encoded as a postcard string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogOrigin(String);

impl LogOrigin {
    /// Validates `origin`.
    ///
    /// # Errors
    /// [`IdError::InvalidOrigin`] when the rule is broken.
    pub fn new(origin: impl Into<String>) -> Result<Self, IdError> {
        let origin = origin.into();
        let bad = |rule| Err(IdError::InvalidOrigin { rule });
        if origin.is_empty() {
            return bad("it is empty");
        }
        if origin.len() > MAX_ORIGIN_LEN {
            return bad("it is longer than 255 bytes");
        }
        if !origin.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return bad("it holds a character outside printable ASCII");
        }
        if origin.starts_with(' ') || origin.ends_with(' ') {
            return bad("it starts or ends with a space");
        }
        Ok(Self(origin))
    }

    /// The origin as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LogOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LogOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogOrigin({:?})", self.0)
    }
}

impl Serialize for LogOrigin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LogOrigin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(de::Error::custom)
    }
}

/// Serialize a fixed-size byte array: a hex string in human-readable formats (JSON, TOML), a
/// tuple of raw bytes (no length prefix) in binary formats such as postcard.
fn serialize_fixed<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    s: S,
) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&hex::encode(bytes))
    } else {
        let mut t = s.serialize_tuple(N)?;
        for b in bytes {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

fn deserialize_fixed<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    struct FixedVisitor<const N: usize>;
    impl<'de, const N: usize> Visitor<'de> for FixedVisitor<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<[u8; N], E> {
            let mut out = [0u8; N];
            hex::decode_to_slice(v, &mut out).map_err(|_| E::custom("expected lowercase hex"))?;
            if v.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(E::custom("expected lowercase hex"));
            }
            Ok(out)
        }
    }
    if d.is_human_readable() {
        d.deserialize_str(FixedVisitor::<N>)
    } else {
        d.deserialize_tuple(N, FixedVisitor::<N>)
    }
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// The caller supplies the 16 bytes, which must come from a cryptographically secure
        /// random source (the core has none). Displayed and parsed as 32 lowercase hex digits;
        /// encoded in postcard as 16 raw bytes (no length prefix), in human-readable formats
        /// as the hex string.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; 16]);

        impl $name {
            /// The smallest id (all zero bytes); useful as a range bound.
            pub const MIN: $name = $name([0; 16]);
            /// The largest id (all 0xFF bytes); useful as a range bound.
            pub const MAX: $name = $name([0xff; 16]);

            /// An id from 16 random bytes supplied by the caller.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The 16 bytes.
            pub const fn to_bytes(self) -> [u8; 16] {
                self.0
            }

            /// The 16 bytes, borrowed.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), hex::encode(self.0))
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            /// Parses exactly 32 lowercase hex digits.
            fn from_str(s: &str) -> Result<Self, IdError> {
                let err = IdError::InvalidHex { kind: $kind };
                if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                    return Err(err);
                }
                let mut out = [0u8; 16];
                hex::decode_to_slice(s, &mut out).map_err(|_| err)?;
                Ok(Self(out))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_fixed(&self.0, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_fixed::<D, 16>(d).map(Self)
            }
        }
    };
}

random_id!(
    /// A subject's pseudonymous id: 128 random bits, never derived from personal data.
    /// Re-keying (Art. 18.5) moves a subject to a fresh id and closes the old one.
    SubjectId,
    "subject id"
);
random_id!(
    /// The id of one disclosure envelope.
    EnvelopeId,
    "envelope id"
);
random_id!(
    /// The id of one consent grant.
    ConsentId,
    "consent id"
);

/// An Ed25519 signature as 64 opaque bytes. The core never verifies it; the node does.
///
/// Encoded in postcard as exactly 64 raw bytes (no length prefix); in human-readable formats
/// as 128 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureBytes([u8; 64]);

impl SignatureBytes {
    /// Wraps 64 signature bytes.
    pub const fn from_bytes(bytes: [u8; 64]) -> Self {
        Self(bytes)
    }

    /// The 64 bytes.
    pub const fn to_bytes(self) -> [u8; 64] {
        self.0
    }

    /// The 64 bytes, borrowed.
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureBytes({})", hex::encode(self.0))
    }
}

impl Serialize for SignatureBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for SignatureBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_fixed::<D, 64>(d).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fail_closed() {
        for ok in ["a", "police", "csw-prizren-2", &"a".repeat(64)] {
            assert!(AgencyId::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1police",
            "-police",
            "Police",
            "police prishtina",
            "polícia",
            "police_1",
            &"a".repeat(65),
        ] {
            assert!(AgencyId::new(bad).is_err(), "{bad:?}");
            assert!(RepresentativeId::new(bad).is_err(), "{bad:?}");
        }
        // The error never echoes the input.
        let msg = RepresentativeId::new("Ana Krasniqi")
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("Ana"), "{msg}");
    }

    #[test]
    fn names_validate_on_deserialize() {
        let bytes = postcard::to_stdvec("Not Valid").unwrap();
        assert!(postcard::from_bytes::<AgencyId>(&bytes).is_err());
        let bytes = postcard::to_stdvec("valid-1").unwrap();
        assert_eq!(
            postcard::from_bytes::<AgencyId>(&bytes).unwrap(),
            AgencyId::new("valid-1").unwrap()
        );
    }

    #[test]
    fn random_ids_hex_round_trip() {
        let id = SubjectId::from_bytes([0xab; 16]);
        let s = id.to_string();
        assert_eq!(s, "ab".repeat(16));
        assert_eq!(s.parse::<SubjectId>().unwrap(), id);
        assert!("AB".repeat(16).parse::<SubjectId>().is_err());
        assert!("ab".repeat(15).parse::<SubjectId>().is_err());
        assert!("+b".repeat(16).parse::<SubjectId>().is_err());
        assert_eq!(postcard::to_stdvec(&id).unwrap(), vec![0xab; 16]);
    }

    #[test]
    fn signature_is_64_raw_bytes() {
        let sig = SignatureBytes::from_bytes([7; 64]);
        let bytes = postcard::to_stdvec(&sig).unwrap();
        assert_eq!(bytes, vec![7; 64]);
        assert_eq!(postcard::from_bytes::<SignatureBytes>(&bytes).unwrap(), sig);
        assert!(postcard::from_bytes::<SignatureBytes>(&bytes[..63]).is_err());
    }

    #[test]
    fn origins() {
        assert!(LogOrigin::new("police.example/log").is_ok());
        assert!(LogOrigin::new("").is_err());
        assert!(LogOrigin::new("a\nb").is_err());
        assert!(LogOrigin::new(" a").is_err());
        assert!(LogOrigin::new("x".repeat(256)).is_err());
    }
}
