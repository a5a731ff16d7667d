//! Every budget of the service, named once, with its default (`spec/protocol.md` §12).
//!
//! A caller holds a token, but a caller is still a program that can be wrong or taken over:
//! each resource a request can make the service spend — connections, bytes read, time,
//! disk, entries listed — has a bound here, enforced where the input arrives.

use std::time::Duration;

/// The largest request body read, by default: a disclosure at the record limit (1 MiB,
/// `streha_core::MAX_RECORD_LEN`) with binary values in base64 (4/3) and JSON framing fits.
/// A body announced larger is refused with 413 from its `Content-Length`, before any of it
/// is read; a chunked body is refused as soon as it passes the limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The largest `limits.max_body_bytes` a configuration may set.
pub const MAX_BODY_BYTES_CEILING: usize = 8 * 1024 * 1024;

/// Concurrent connections served, by default; further connections wait in the listen
/// backlog until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// How long one request may take, by default, reading its body included. Longer than the
/// longest wait for a delivery ([`MAX_WAIT`]) plus a node request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The longest a submit may wait for the delivery (`wait_ms`), as the node's own bound.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Items in one page of the inbox or of the held deliveries when the caller does not say.
pub const DEFAULT_PAGE: u32 = 50;

/// Items in one page at most (the node's own page size, `streha_wire::app::MAX_PAGE`).
pub const MAX_PAGE: u32 = streha_wire::app::MAX_PAGE;

/// The longest idempotency key (`Idempotency-Key` header or `request_id`).
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The longest caller name in the configuration.
pub const MAX_CALLER_NAME_LEN: usize = 64;

/// Callers in one configuration at most.
pub const MAX_CALLERS: usize = 256;

/// The largest configuration file read.
pub const MAX_CONFIG_LEN: usize = 256 * 1024;

/// The longest bearer token looked at; a longer `Authorization` header is refused unread.
pub const MAX_TOKEN_LEN: usize = 256;

/// How long a remembered submission (idempotency key → answer) is kept, by default.
pub const DEFAULT_IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The largest record of the idempotency store read back (a sealed envelope at the frame
/// limit, in base64, with its metadata).
pub const MAX_IDEMPOTENCY_RECORD_LEN: usize = streha_wire::MAX_FRAME_LEN * 2;
