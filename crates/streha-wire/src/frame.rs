//! Length-prefixed frames around versioned postcard messages.
//!
//! Layout: `u32` big-endian payload length, then the payload: [`PROTOCOL_VERSION`] as one
//! byte, then the postcard encoding of the message. The reader checks the length against its
//! limit before reading the payload, so an oversized frame costs nothing.
//!
//! [`FrameReader`] reads a frame from bytes as they arrive, without IO: its buffer grows
//! with the bytes received, never from the length prefix alone, so a peer that announces a
//! large frame and sends little of it costs what it sent.

use serde::{Serialize, de::DeserializeOwned};

use crate::FrameError;

/// The protocol version byte that opens every payload.
pub const PROTOCOL_VERSION: u8 = 1;

/// The largest payload any Streha endpoint accepts: an envelope at its maximum size
/// (`streha_crypto::MAX_ENVELOPE_LEN`, about 4 MiB) plus the evidence that travels with it.
pub const MAX_FRAME_LEN: usize = streha_crypto::MAX_ENVELOPE_LEN + 256 * 1024;

/// Bytes of the length prefix in front of every payload.
pub const PREFIX_LEN: usize = 4;

/// The first allocation for a payload, before more bytes have arrived. A payload grows from
/// here as its bytes arrive (doubling, never beyond its announced length).
const FIRST_CHUNK: usize = 16 * 1024;

/// Encodes `message` as a complete frame (length prefix included).
///
/// # Errors
/// [`FrameError::EncodeTooLarge`] if the payload would exceed [`MAX_FRAME_LEN`].
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; 4];
    out.push(PROTOCOL_VERSION);
    let mut out =
        postcard::to_extend(message, out).map_err(|e| FrameError::Encode(e.to_string()))?;
    let payload_len = out.len() - 4;
    if payload_len > MAX_FRAME_LEN {
        return Err(FrameError::EncodeTooLarge {
            len: payload_len,
            max: MAX_FRAME_LEN,
        });
    }
    let prefix = u32::try_from(payload_len).map_err(|_| FrameError::EncodeTooLarge {
        len: payload_len,
        max: MAX_FRAME_LEN,
    })?;
    out[..4].copy_from_slice(&prefix.to_be_bytes());
    Ok(out)
}

/// Reads a length prefix and checks it against `limit` (itself capped at
/// [`MAX_FRAME_LEN`]). Returns the payload length to read next.
///
/// # Errors
/// [`FrameError::TooLarge`] (nothing should be read or allocated), [`FrameError::Empty`].
pub fn payload_len(prefix: [u8; 4], limit: usize) -> Result<usize, FrameError> {
    let max = limit.min(MAX_FRAME_LEN);
    let len = u32::from_be_bytes(prefix);
    match usize::try_from(len) {
        Ok(0) => Err(FrameError::Empty),
        Ok(len) if len <= max => Ok(len),
        _ => Err(FrameError::TooLarge {
            len: u64::from(len),
            max,
        }),
    }
}

/// Decodes a payload (the bytes after the length prefix) as a `T`.
///
/// # Errors
/// [`FrameError::Empty`], [`FrameError::UnsupportedVersion`], [`FrameError::Malformed`],
/// [`FrameError::TooManyItems`] for a list and [`FrameError::TooLong`] for a text over its
/// cap ([`crate::limits`]), [`FrameError::TrailingBytes`], [`FrameError::TooLarge`] for a payload over
/// [`MAX_FRAME_LEN`].
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    if payload.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len: payload.len() as u64,
            max: MAX_FRAME_LEN,
        });
    }
    let (&version, body) = payload.split_first().ok_or(FrameError::Empty)?;
    if version != PROTOCOL_VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    crate::limits::reset();
    let decoded = postcard::take_from_bytes(body);
    let too_long = crate::limits::take();
    let (message, rest) = decoded.map_err(|e| match too_long {
        Some(too_long) => too_long.into_error(),
        None => FrameError::Malformed(e.to_string()),
    })?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes(rest.len()));
    }
    Ok(message)
}

/// Reads one frame from bytes as they arrive (sans-IO: the caller reads the stream and
/// [`push`](Self::push)es what it got).
///
/// The length prefix is checked against the limit as soon as its four bytes are in; the
/// payload buffer then grows with the bytes pushed, at most doubling and never beyond the
/// announced length, so memory follows what the peer actually sent, not what it announced.
/// Bytes beyond the frame are not consumed: the caller learns how many were taken.
///
/// ```
/// use streha_wire::{app::AppRequest, frame::{self, FrameReader}};
/// let bytes = frame::encode(&AppRequest::Checkpoint).unwrap();
/// let mut reader = FrameReader::new(frame::MAX_FRAME_LEN);
/// for byte in &bytes {
///     assert_eq!(reader.push(std::slice::from_ref(byte)).unwrap(), 1);
/// }
/// assert!(reader.is_complete());
/// let request: AppRequest = reader.decode().unwrap();
/// assert_eq!(request, AppRequest::Checkpoint);
/// ```
#[derive(Debug)]
pub struct FrameReader {
    limit: usize,
    prefix: [u8; PREFIX_LEN],
    prefix_filled: usize,
    /// The payload length, once the prefix is in and accepted.
    len: Option<usize>,
    payload: Vec<u8>,
}

impl FrameReader {
    /// A reader of one frame of at most `limit` payload bytes (itself capped at
    /// [`MAX_FRAME_LEN`]).
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.min(MAX_FRAME_LEN),
            prefix: [0; PREFIX_LEN],
            prefix_filled: 0,
            len: None,
            payload: Vec::new(),
        }
    }

    /// Takes bytes of the frame from the front of `bytes`; returns how many it took (fewer
    /// than offered only once the frame is complete).
    ///
    /// # Errors
    /// [`FrameError::TooLarge`] or [`FrameError::Empty`] as soon as the prefix is in (no
    /// payload byte is taken or allocated); the reader must not be used further.
    pub fn push(&mut self, bytes: &[u8]) -> Result<usize, FrameError> {
        let mut taken = 0;
        if self.len.is_none() {
            let want = PREFIX_LEN - self.prefix_filled;
            let n = want.min(bytes.len());
            self.prefix[self.prefix_filled..self.prefix_filled + n].copy_from_slice(&bytes[..n]);
            self.prefix_filled += n;
            taken = n;
            if self.prefix_filled < PREFIX_LEN {
                return Ok(taken);
            }
            let len = payload_len(self.prefix, self.limit)?;
            self.len = Some(len);
            self.payload = Vec::with_capacity(len.min(FIRST_CHUNK));
        }
        let rest = &bytes[taken..];
        let n = self.wanted().min(rest.len());
        if n > 0 {
            let needed = self.payload.len() + n;
            if needed > self.payload.capacity() {
                // Grow by doubling, bounded by the announced length: never more than twice
                // what arrived, never more than the frame.
                let target = needed
                    .max(self.payload.capacity().saturating_mul(2))
                    .min(self.len.unwrap_or(needed));
                self.payload.reserve_exact(target - self.payload.len());
            }
            self.payload.extend_from_slice(&rest[..n]);
        }
        Ok(taken + n)
    }

    /// The announced payload length, once the prefix is in and within the limit.
    pub fn announced(&self) -> Option<usize> {
        self.len
    }

    /// How many more bytes the frame needs (the prefix's, until it is in).
    pub fn wanted(&self) -> usize {
        match self.len {
            None => PREFIX_LEN - self.prefix_filled,
            Some(len) => len - self.payload.len(),
        }
    }

    /// Bytes of payload held so far (its buffer's capacity: what the frame costs now).
    pub fn held(&self) -> usize {
        self.payload.capacity()
    }

    /// Whether the whole frame is in.
    pub fn is_complete(&self) -> bool {
        self.len.is_some() && self.wanted() == 0
    }

    /// Decodes the complete frame.
    ///
    /// # Errors
    /// [`FrameError::Malformed`] if the frame is not complete; otherwise as
    /// [`decode_payload`].
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, FrameError> {
        if !self.is_complete() {
            return Err(FrameError::Malformed(format!(
                "the frame is incomplete: {} more bytes expected",
                self.wanted()
            )));
        }
        decode_payload(&self.payload)
    }
}

/// Decodes one complete frame (length prefix and payload) from `bytes`, which must hold
/// exactly that frame.
///
/// # Errors
/// As [`payload_len`] and [`decode_payload`]; [`FrameError::Malformed`] if `bytes` is
/// shorter or longer than the frame it announces.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, FrameError> {
    let prefix: [u8; 4] = bytes
        .get(..4)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| FrameError::Malformed("shorter than a length prefix".into()))?;
    let len = payload_len(prefix, limit)?;
    let payload = &bytes[4..];
    if payload.len() != len {
        return Err(FrameError::Malformed(format!(
            "frame announces {len} bytes but {} follow",
            payload.len()
        )));
    }
    decode_payload(payload)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::app::AppRequest;

    /// A frame whose prefix announces the largest payload, followed by `sent` payload bytes.
    fn announced_max(sent: usize) -> Vec<u8> {
        let len = u32::try_from(MAX_FRAME_LEN).unwrap();
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.resize(PREFIX_LEN + sent, 0);
        bytes
    }

    #[test]
    fn memory_follows_the_bytes_sent_not_the_prefix() {
        // A prefix announcing the largest frame, and nothing more: nothing is held beyond
        // the first chunk.
        let mut reader = FrameReader::new(MAX_FRAME_LEN);
        assert_eq!(reader.push(&announced_max(0)).unwrap(), PREFIX_LEN);
        assert_eq!(reader.announced(), Some(MAX_FRAME_LEN));
        assert!(reader.held() <= FIRST_CHUNK, "held {}", reader.held());

        // All but the last byte, in small pieces: at most twice what arrived is held, never
        // more than the frame.
        let body = announced_max(MAX_FRAME_LEN - 1);
        let mut fed = 0;
        for piece in body[PREFIX_LEN..].chunks(1200) {
            reader.push(piece).unwrap();
            fed += piece.len();
            assert!(
                reader.held() <= (2 * fed).max(FIRST_CHUNK),
                "{} for {fed}",
                reader.held()
            );
            assert!(reader.held() <= MAX_FRAME_LEN);
        }
        assert!(!reader.is_complete());
        assert_eq!(reader.wanted(), 1);
        assert!(matches!(
            reader.decode::<AppRequest>(),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn an_oversized_prefix_is_refused_before_any_payload_is_taken() {
        let mut reader = FrameReader::new(1024);
        let mut bytes = 1025u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; 64]);
        assert!(matches!(
            reader.push(&bytes),
            Err(FrameError::TooLarge {
                len: 1025,
                max: 1024
            })
        ));
        assert_eq!(reader.held(), 0);
        let mut reader = FrameReader::new(1024);
        assert!(matches!(reader.push(&[0, 0, 0, 0]), Err(FrameError::Empty)));
    }

    #[test]
    fn bytes_after_the_frame_are_left_to_the_caller() {
        let mut bytes = encode(&AppRequest::Roster).unwrap();
        let frame_len = bytes.len();
        bytes.extend_from_slice(b"next");
        let mut reader = FrameReader::new(MAX_FRAME_LEN);
        assert_eq!(reader.push(&bytes).unwrap(), frame_len);
        assert_eq!(reader.push(b"more").unwrap(), 0);
        assert_eq!(reader.decode::<AppRequest>().unwrap(), AppRequest::Roster);
    }

    proptest! {
        #[test]
        fn any_split_reads_the_same_frame(
            subject in any::<[u8; 16]>(),
            cuts in proptest::collection::vec(1usize..64, 0..16),
        ) {
            let request = AppRequest::ListConsents {
                subject: streha_core::SubjectId::from_bytes(subject),
            };
            let bytes = encode(&request).unwrap();
            let mut reader = FrameReader::new(MAX_FRAME_LEN);
            let mut at = 0;
            for cut in cuts {
                let end = (at + cut).min(bytes.len());
                prop_assert_eq!(reader.push(&bytes[at..end]).unwrap(), end - at);
                at = end;
            }
            prop_assert_eq!(reader.push(&bytes[at..]).unwrap(), bytes.len() - at);
            prop_assert!(reader.is_complete());
            prop_assert_eq!(reader.decode::<AppRequest>().unwrap(), request);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut reader = FrameReader::new(128);
            if reader.push(&bytes).is_ok() && reader.is_complete() {
                let _ = reader.decode::<AppRequest>();
            }
        }
    }
}
