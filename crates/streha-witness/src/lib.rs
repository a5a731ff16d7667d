//! Streha's witness: the witnessing rules, written once.
//!
//! A witness follows other parties' logs and cosigns each checkpoint that is consistent
//! with the last one it cosigned (C2SP `tlog-witness`, `tlog-cosignature`). Streha has two
//! kinds: the federation's nodes witness each other over the QUIC connections they already
//! hold (`streha-node`), and an oversight body runs a standalone C2SP HTTP witness
//! (`streha witness serve`). Both take their decisions here:
//!
//! - [`rules`] — **sans-IO**: [`open_note`](rules::open_note) (a bounded checkpoint note,
//!   each distinct signature line verified once, forged lines refused),
//!   [`judge`](rules::judge) (rollback, stale old size, fork, consistency, in the C2SP
//!   order) and [`judge_gossip`](rules::judge_gossip), and [`cosign`](rules::cosign).
//! - [`protocol`] — **sans-IO**: the `add-checkpoint` request body and the answers, parsed
//!   from untrusted bytes and written as C2SP says.
//!
//! - [`client`] (feature `client`): one `add-checkpoint` request over HTTP/1.1, the answer
//!   classified (the nodes' submissions to independent witnesses).
//! - [`server`] (feature `server`): `streha witness serve`, the standalone C2SP witness
//!   over HTTP (axum), with its durable state and evidence.
//!
//! What it does not do in `rules` and `protocol`: read or write files or sockets, read a clock, or
//! store anything; the callers hold the state (the node's sled store, the HTTP witness's
//! state file) and make the check-and-persist step atomic.

#![forbid(unsafe_code)]

#[cfg(feature = "client")]
pub mod client;
pub mod protocol;
pub mod rules;
#[cfg(feature = "server")]
pub mod server;
