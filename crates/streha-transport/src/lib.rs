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
//! What this crate does not do: decide anything, or know what the messages mean.

#![forbid(unsafe_code)]

mod pinning;
mod streams;

pub use crate::pinning::{
    ClientSetup, Identity, KeyPolicy, PinnedKey, ServerSetup, TransportLimits, client_config,
    peer_key, server_config,
};
pub use crate::streams::{StreamError, read_frame, request, write_frame};
