//! Streha's QUIC transport: mutually authenticated TLS 1.3 where each side is its Ed25519 key
//! and nothing else — no certificate authority, no host names.
//!
//! Each endpoint presents a self-signed certificate made from its Ed25519 key (a node
//! identity key, or an application key). The other side accepts it only if the certificate's
//! public key is one it pins: a client dialling a node expects exactly that node's key from
//! the roster; a node accepting connections asks a [`KeyPolicy`] (the roster's node keys, or
//! the enrolled application keys), which can change at run time when the roster does. A
//! refused key is reported to the policy ([`KeyPolicy::refused`]) as a security event. Only
//! TLS 1.3 and the Ed25519 signature scheme are offered; the ALPN is `streha/1` between nodes
//! and `streha-app/1` from applications.
//!
//! On a connection, each request is one bidirectional stream carrying one frame each way
//! ([`request`], [`read_frame`], [`write_frame`]); frames are `streha-wire` frames and the
//! reader's size limit is enforced from the length prefix.
//!
//! What one peer can make an endpoint spend is bounded ([`TransportLimits`]): QUIC receive
//! and send windows, request streams per connection, connection attempts awaiting a
//! decision. A server reads each request within a deadline and holds its bytes in a
//! [`FrameBudget`] — the connection's own and one shared by all connections — from its
//! length prefix until it is handled, and its answer until the client acknowledged it
//! ([`read_frame_within`], [`send_within`]); memory grows with the bytes that arrive, never
//! from a length prefix alone. Events strangers can cause are logged through a
//! [`LogLimiter`].
//!
//! A failed connection is told apart by who refused whom ([`ConnectionFailure`]), and a
//! client can learn at once that nothing listens at an address ([`refused`]).
//!
//! What this crate does not do: decide anything, or know what the messages mean.

#![forbid(unsafe_code)]

mod budget;
mod failure;
mod pinning;
mod ratelimit;
mod streams;

pub use crate::budget::{ByteBudget, FrameBudget, OverBudget, Reservation};
pub use crate::failure::{ConnectionFailure, close_codes, refused};
pub use crate::pinning::{
    ClientSetup, Identity, KeyPolicy, PinnedKey, ServerKeyPin, ServerSetup, TransportLimits,
    client_config, client_config_pinned, peer_key, server_config,
};
pub use crate::ratelimit::{LOG_INTERVAL, LogLimiter};
pub use crate::streams::{
    StreamError, read_frame, read_frame_within, request, request_paced, send_within, stream_codes,
    write_frame,
};
