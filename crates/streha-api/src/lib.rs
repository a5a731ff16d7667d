//! The Streha application service: an agency's application as a local HTTP/JSON service,
//! for case-management systems written in Java, C#, PHP or Python.
//!
//! # What it does
//!
//! It **is** an application of the agency, like one that links `streha-client`: it holds the
//! agency's signing and encryption keys (read from the client profile, `client.toml`) and
//! talks to the agency's node (`strehad`) with [`streha_client`]. What the client library
//! offers, it serves as JSON over HTTP:
//!
//! ```text
//!  case system ──HTTP/JSON, bearer token──▶ streha api serve ──Client (QUIC streha-app/1)──▶ strehad
//!   (any language)   Unix socket / loopback   keys: agency signing + encryption               no keys
//!                                             seals, opens, verifies proofs                   decides, logs
//! ```
//!
//! - register a subject, add a representative, record age status;
//! - grant, revoke and list consents;
//! - submit a disclosure (fields as JSON text, binary values in base64), with or without
//!   waiting for its delivery, idempotently under a caller's request id;
//! - delivery status and held deliveries; list and open the inbox;
//! - the node's checkpoint, inclusion proofs and log export, verified.
//!
//! The OpenAPI 3.1 document ([`openapi::document`], `/openapi.json`, `spec/openapi.json`)
//! is generated from the code. Every error is JSON with a stable code and its own schema
//! ([`error`]); a policy refusal carries its exact reason (one code per
//! [`streha_core::RefusalReason`]), its article, and the log index of the refusal.
//!
//! # What it does not do
//!
//! It does not decide (the node's policy does) and stores no record: its only state is the
//! idempotency records ([`idempotency`]), which hold sealed envelopes and fingerprints, never
//! content in the clear. It serves only its own host (a Unix socket or a loopback address;
//! [`config`] says why there is no switch for other addresses), and only callers with a
//! token and the scope of the endpoint ([`auth`]). It never logs a header value, a query or
//! a body: its log lines carry routes, statuses, caller names and ids.
//!
//! # Main types
//!
//! | item | what |
//! | --- | --- |
//! | [`ApiConfig`] | `api.toml`: the profile, where to listen, budgets, callers |
//! | [`RunningApi`] | a running service |
//! | [`ApiError`] | every error answer, and the mapping from [`streha_client::ClientError`] |
//! | [`command::run`] | `streha api init / serve / token add / token list / token remove / openapi` |
//! | [`limits`] | every budget, with its default |

#![forbid(unsafe_code)]

pub mod auth;
mod body;
pub mod command;
pub mod config;
pub mod error;
pub mod idempotency;
pub mod limits;
pub mod model;
pub mod openapi;
mod profile;
mod routes;
mod server;
mod service;

pub use crate::{
    config::{ApiConfig, ConfigError, Endpoint, Limits},
    error::ApiError,
    routes::REPLAYED_HEADER,
    server::{RunningApi, StartError},
};
