//! Length-prefixed frames around versioned postcard messages.
//!
//! Layout: `u32` big-endian payload length, then the payload: [`PROTOCOL_VERSION`] as one
//! byte, then the postcard encoding of the message. The reader checks the length against its
//! limit before reading the payload, so an oversized frame costs nothing.

use serde::{Serialize, de::DeserializeOwned};

use crate::FrameError;

/// The protocol version byte that opens every payload.
pub const PROTOCOL_VERSION: u8 = 1;

/// The largest payload any Streha endpoint accepts: an envelope at its maximum size
/// (`streha_crypto::MAX_ENVELOPE_LEN`, about 4 MiB) plus the evidence that travels with it.
pub const MAX_FRAME_LEN: usize = streha_crypto::MAX_ENVELOPE_LEN + 256 * 1024;

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
