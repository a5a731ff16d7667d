//! Streha's wire format: what crosses a QUIC stream between two nodes or between an
//! application and its node, and the signed federation roster.
//!
//! Every message is a **frame**: a 4-byte big-endian length, then that many bytes of
//! payload; the payload is the protocol version byte ([`PROTOCOL_VERSION`]) followed by the
//! postcard encoding of one message enum. A frame longer than the reader's limit (at most
//! [`MAX_FRAME_LEN`]) is refused from its length prefix alone, before anything is
//! allocated, every list in a message has a cap ([`limits`]) checked before its elements are
//! allocated, and decoding never panics on any input. `spec/protocol.md` is the normative
//! description.
//!
//! - [`peer`]: node ↔ node (ALPN `streha/1`): deliveries and receipts.
//! - [`app`]: application ↔ its node (ALPN `streha-app/1`).
//! - [`roster`]: the federation roster, a TOML document in a C2SP signed note signed by the
//!   national authority's roster key.
//! - [`text`]: texts from elsewhere (error messages, hold reasons), escaped and capped before
//!   they are logged, stored or shown.
//!
//! This crate does no IO: the node and the client read the bytes and hand them here.
//!
//! ```
//! use streha_wire::{frame, app::AppRequest};
//! let bytes = frame::encode(&AppRequest::Checkpoint).unwrap();
//! let len = frame::payload_len(bytes[..4].try_into().unwrap(), frame::MAX_FRAME_LEN).unwrap();
//! let back: AppRequest = frame::decode_payload(&bytes[4..4 + len]).unwrap();
//! assert_eq!(back, AppRequest::Checkpoint);
//! ```

#![forbid(unsafe_code)]

pub mod app;
mod error;
pub mod frame;
mod key_field;
pub mod limits;
pub mod peer;
pub mod roster;
pub mod text;

pub use crate::error::{ErrorCode, FrameError, RemoteError};
pub use crate::frame::{MAX_FRAME_LEN, PROTOCOL_VERSION};
pub use crate::roster::{AgencyEntry, IndependentWitness, OfficerEntry, Roster, RosterError};

/// ALPN protocol id for node ↔ node connections.
pub const PEER_ALPN: &[u8] = b"streha/1";
/// ALPN protocol id for application ↔ node connections.
pub const APP_ALPN: &[u8] = b"streha-app/1";
