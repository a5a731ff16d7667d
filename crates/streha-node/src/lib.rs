//! `strehad`, the Streha node daemon, as a library.
//!
//! One node runs per agency. It is the only part of Streha on the network: it accepts
//! disclosures from its agency's enrolled applications, decides each with the pure policy
//! of `streha-core`, logs the decision in its Merkle audit log (`streha-store`), and delivers
//! allowed envelopes over mutually authenticated QUIC to the recipient's node, which decides
//! again, logs, stores, and answers with a receipt proven in its own log. Undeliverable
//! envelopes wait in a durable queue and are retried; nothing acknowledged is lost and
//! nothing is delivered twice. The node never holds an agency's signing or encryption key
//! and never sees record content.
//!
//! - [`NodeConfig`]: `node.toml` (see `spec/protocol.md` and the examples in
//!   `keys-example/`).
//! - [`RunningNode`]: start, serve, shut down.
//! - [`daemon_main`]: the `strehad` command line.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = streha_node::NodeConfig::load(std::path::Path::new("node.toml"))?;
//! let node = streha_node::RunningNode::start(config).await?;
//! println!("serving peers on {:?}", node.peer_addr());
//! node.shutdown().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod admin;
mod app;
mod at_rest;
mod check;
mod clock;
mod committer;
mod config;
mod daemon;
mod epochs;
mod failure;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod http;
mod metrics;
mod migrate;
#[cfg(test)]
mod node_tests;
mod outbound;
mod paging;
mod peers;
mod queue;
mod receive;
pub mod recovery;
mod roster;
mod server;
mod shared;
mod sockets;
mod state;
mod throttle;
mod verified;
mod witness;

pub use crate::config::{ConfigError, Limits, NodeConfig, WitnessConfig};
pub use crate::daemon::daemon_main;
pub use crate::roster::RosterReload;
pub use crate::server::{RunningNode, StartError};
