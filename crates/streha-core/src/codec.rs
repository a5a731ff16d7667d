//! The one way the core turns its documents into bytes and back: a version byte, then the
//! postcard encoding; decoding checks the size cap first and accepts only the canonical form.

use serde::{Deserialize, Serialize};

/// Why bytes could not be decoded into a core document (audit entry, disclosure header,
/// record). Decoding never panics; every failure is one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the document's size cap; nothing was parsed.
    #[error("{what}: {len} bytes is more than the limit of {max} bytes")]
    TooLong {
        /// The document kind.
        what: &'static str,
        /// The input length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The input is empty.
    #[error("{what}: the input is empty")]
    Empty {
        /// The document kind.
        what: &'static str,
    },
    /// The leading version byte is not one this build reads.
    #[error(
        "{what}: format version {found} is not supported (this build reads version {supported}); upgrade the software"
    )]
    UnsupportedVersion {
        /// The document kind.
        what: &'static str,
        /// The version byte found.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// The body is not a valid encoding: truncated, an unknown tag, an invalid name, a set
    /// out of order, a bound exceeded.
    #[error("{what}: malformed encoding ({detail})")]
    Malformed {
        /// The document kind.
        what: &'static str,
        /// What the decoder reported.
        detail: String,
    },
    /// A valid document is followed by extra bytes.
    #[error("{what}: {count} unexpected bytes after the end")]
    TrailingBytes {
        /// The document kind.
        what: &'static str,
        /// How many extra bytes.
        count: usize,
    },
    /// The bytes decode, but are not the canonical encoding of what they decode to (for
    /// example an over-long varint). Each document has exactly one encoding.
    #[error("{what}: not in canonical form")]
    NonCanonical {
        /// The document kind.
        what: &'static str,
    },
}

/// `version ‖ postcard(value)`.
pub(crate) fn encode_versioned<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    // postcard into a Vec fails only for sequences of unknown length or custom serializer
    // errors; no type of this crate produces either.
    postcard::to_extend(value, vec![version])
        .expect("postcard encoding of a streha-core type into a Vec cannot fail")
}

/// Decodes `version ‖ postcard(T)` with a size cap, rejecting trailing bytes and
/// non-canonical encodings.
pub(crate) fn decode_versioned<'a, T: Serialize + Deserialize<'a>>(
    what: &'static str,
    version: u8,
    max: usize,
    bytes: &'a [u8],
) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLong {
            what,
            len: bytes.len(),
            max,
        });
    }
    let Some((&found, body)) = bytes.split_first() else {
        return Err(DecodeError::Empty { what });
    };
    if found != version {
        return Err(DecodeError::UnsupportedVersion {
            what,
            found,
            supported: version,
        });
    }
    let (value, rest) =
        postcard::take_from_bytes::<T>(body).map_err(|e| DecodeError::Malformed {
            what,
            detail: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes {
            what,
            count: rest.len(),
        });
    }
    if !encodes_to(&value, body) {
        return Err(DecodeError::NonCanonical { what });
    }
    Ok(value)
}

/// Whether the postcard encoding of `value` is exactly `expected`, compared as it is
/// written: no buffer is allocated, and the first differing byte stops it (the canonical
/// check of every decode, on the verifier's hot path).
fn encodes_to<T: Serialize>(value: &T, expected: &[u8]) -> bool {
    postcard::serialize_with_flavor(value, Compare { rest: expected }).unwrap_or(false)
}

/// A postcard output that compares what is written against the expected bytes.
struct Compare<'a> {
    rest: &'a [u8],
}

impl postcard::ser_flavors::Flavor for Compare<'_> {
    type Output = bool;

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        match self.rest.split_at_checked(data.len()) {
            Some((head, tail)) if head == data => {
                self.rest = tail;
                Ok(())
            }
            // Longer than, or different from, the input: stop at once.
            _ => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn finalize(self) -> postcard::Result<bool> {
        Ok(self.rest.is_empty())
    }
}

/// `#[serde(with = "crate::codec::byte_string")]` for `Vec<u8>`: written with
/// `serialize_bytes`, which postcard encodes exactly like a sequence of bytes (a varint
/// length, then the bytes) but in one copy instead of one call per byte.
pub(crate) mod byte_string {
    use core::fmt;

    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(ByteString)
    }

    struct ByteString;

    impl<'de> Visitor<'de> for ByteString {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Self::Value, E> {
            Ok(bytes)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // A length hint is not trusted for an allocation.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(byte) = seq.next_element()? {
                out.push(byte);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{decode_versioned, encode_versioned, encodes_to};

    #[test]
    fn the_canonical_check_compares_exactly() {
        let value: (u32, String, Vec<u8>) = (300, "name".to_owned(), vec![1, 2, 3]);
        let bytes = encode_versioned(7, &value);
        let body = &bytes[1..];
        assert!(encodes_to(&value, body));
        // Shorter, longer, one byte different: all refused.
        assert!(!encodes_to(&value, &body[..body.len() - 1]));
        assert!(!encodes_to(&value, &[body, &[0]].concat()));
        let mut changed = body.to_vec();
        changed[3] ^= 1;
        assert!(!encodes_to(&value, &changed));
        assert!(!encodes_to(&value, &[]));
        // An over-long varint (300 as three bytes) decodes to the same value: not canonical.
        let mut long = vec![7, 0xac, 0x82, 0x00];
        long.extend_from_slice(&body[2..]);
        assert_eq!(
            decode_versioned::<(u32, String, Vec<u8>)>("test", 7, 1024, &long),
            Err(super::DecodeError::NonCanonical { what: "test" })
        );
        assert_eq!(decode_versioned("test", 7, 1024, &bytes), Ok(value));
    }
}
