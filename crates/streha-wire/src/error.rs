//! Errors of framing and decoding, and the error a peer or node sends back.

use serde::{Deserialize, Serialize};

/// Why bytes could not be read as a frame or a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than the limit; nothing was read or allocated.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: u64,
        /// Limit.
        max: usize,
    },
    /// The payload is empty (no version byte).
    #[error("empty frame")]
    Empty,
    /// The payload's protocol version is not one this build speaks.
    #[error("unsupported protocol version {0}; upgrade the older side")]
    UnsupportedVersion(u8),
    /// The payload is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A list in the message has more elements than its cap ([`crate::limits`],
    /// `spec/protocol.md` §11). Refused from the announced length, before the elements
    /// are decoded or allocated.
    #[error("{what}: {len} elements, more than the limit of {max}")]
    TooManyItems {
        /// Which list (`representatives`, `log entries`, …).
        what: &'static str,
        /// The announced number of elements.
        len: u64,
        /// The cap.
        max: usize,
    },
    /// A text meant for a person (an error message, a hold reason) is longer than its cap
    /// ([`crate::limits::MAX_TEXT_LEN`], `spec/protocol.md` §11). Refused before the text is
    /// copied.
    #[error("{what}: {len} bytes, more than the limit of {max}")]
    TooLong {
        /// Which text (`error message`, `hold reason`, …).
        what: &'static str,
        /// Its length in bytes.
        len: u64,
        /// The cap.
        max: usize,
    },
    /// Bytes were left after the message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The message could not be encoded (too large for a frame).
    #[error("message of {len} bytes is too large for a frame (limit {max})")]
    EncodeTooLarge {
        /// Encoded length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Encoding failed.
    #[error("cannot encode message: {0}")]
    Encode(String),
}

/// A machine-readable class for an error a node returns, so that one function maps errors
/// to the wire and a client can act on them without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request was malformed or inconsistent (the caller's fault).
    BadRequest,
    /// The caller is not allowed to do this (wrong role, not enrolled, wrong agency).
    Unauthorized,
    /// The named object (subject, consent, envelope, entry) does not exist.
    NotFound,
    /// The object already exists with different content.
    Conflict,
    /// A signature, proof or checkpoint did not verify.
    VerificationFailed,
    /// The node cannot serve this now (shutting down, storage failure); retry later.
    Unavailable,
    /// A bug or unexpected state on the node; its operator should look at its log.
    Internal,
}

/// An error as sent over the wire: a code and a human message that never contains record
/// content or key material.
///
/// The message comes from the other side, which chooses its bytes: it is refused at decode
/// beyond [`MAX_TEXT_LEN`](crate::limits::MAX_TEXT_LEN) bytes, and `Display` shows it with
/// its control characters escaped ([`Untrusted`](crate::text::Untrusted)), so a logged or
/// printed error cannot forge log lines or drive a terminal. The field itself holds the
/// text as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {}", crate::text::Untrusted(message))]
pub struct RemoteError {
    /// Its class.
    pub code: ErrorCode,
    /// What went wrong and, where possible, what to do. At most
    /// [`MAX_TEXT_LEN`](crate::limits::MAX_TEXT_LEN) bytes.
    #[serde(deserialize_with = "crate::limits::error_message")]
    pub message: String,
}

impl RemoteError {
    /// An error with `code` and `message`, cut to
    /// [`MAX_TEXT_LEN`](crate::limits::MAX_TEXT_LEN) bytes so that the other side accepts
    /// it.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: crate::text::bounded(message, crate::limits::MAX_TEXT_LEN),
        }
    }
}
