//! The key space of the store's one sled tree (storage format 3).
//!
//! Everything sled holds lives in one tree so that a batch is one `apply_batch`: atomic in
//! sled without a multi-tree transaction. The audit log itself (entries, tiles, checkpoints)
//! is in append-only files (see `logfiles`); sled records only their lengths, under
//! `0x00 ‖ "log"`, in the batch that goes with them. The first byte of a key says what it is:
//!
//! ```text
//! 0x00 ‖ name                  meta: origin, storage format, the log files' lengths,
//!                              the last batch of the write-ahead log applied
//! 0x01, 0x02, 0x03             format 2 only (entries, tiles, checkpoints): moved to the log
//!                              files by the migration at open, and removed
//! 0x04 ‖ hash (32) ‖ key       a state key that references the body `hash`; value: the
//!                              body's length (8, BE) ‖ its segment (8, BE) ‖ its offset
//!                              in the segment (8, BE) — or the length alone for a body of
//!                              an older store, in the file `bodies/<hash hex>`
//! 0x10 ‖ namespace ‖ key       node state; value: tag 0 ‖ bytes (a value, or a body of
//!                              at most `INLINE_BODY_MAX`), or tag 1 ‖ hash (32) ‖
//!                              length (8, BE) for a body kept in a segment
//! ```

/// Prefix of the audit entries.
pub(crate) const ENTRY: u8 = 0x01;
/// Prefix of the tiles.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const TILE: u8 = 0x02;
/// Prefix of the checkpoints.
pub(crate) const CHECKPOINT: u8 = 0x03;
/// Prefix of the body references.
pub(crate) const BODY_REF: u8 = 0x04;
/// Prefix of the node's state.
pub(crate) const STATE: u8 = 0x10;

/// The version of this layout, kept under [`META_FORMAT`].
pub(crate) const FORMAT: u64 = 3;
/// The previous layout: the log in sled under `0x01`–`0x03`; migrated at open.
pub(crate) const FORMAT_2: u64 = 2;

pub(crate) const META_ORIGIN: &[u8] = b"\x00origin";
pub(crate) const META_FORMAT: &[u8] = b"\x00format";
/// The log files' lengths at the last committed batch and at the indexes' last sync
/// (`logfiles::Recorded`, 48 bytes).
pub(crate) const META_LOG: &[u8] = b"\x00log";
/// The sequence number of the last batch sled holds (8 bytes, BE): where replaying the
/// write-ahead log starts (see `wal`).
pub(crate) const META_WAL_SEQ: &[u8] = b"\x00wal";

/// Tag of an inline state value.
pub(crate) const VALUE_INLINE: u8 = 0;
/// Tag of a state value kept out of sled, in a body segment.
pub(crate) const VALUE_BODY: u8 = 1;

fn indexed(prefix: u8, index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = prefix;
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

pub(crate) fn entry(index: u64) -> [u8; 9] {
    indexed(ENTRY, index)
}

#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn checkpoint(size: u64) -> [u8; 9] {
    indexed(CHECKPOINT, size)
}

#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn tile(row: u8, index: u64) -> [u8; 10] {
    let mut key = [0u8; 10];
    key[0] = TILE;
    key[1] = row;
    key[2..].copy_from_slice(&index.to_be_bytes());
    key
}

/// The index of an entry or checkpoint key (`prefix ‖ u64 BE`).
pub(crate) fn index_of(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key.get(1..)?)
        .ok()
        .map(u64::from_be_bytes)
}

pub(crate) fn body_ref(hash: &[u8; 32], state_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(33 + state_key.len());
    key.push(BODY_REF);
    key.extend_from_slice(hash);
    key.extend_from_slice(state_key);
    key
}

pub(crate) fn body_ref_prefix(hash: &[u8; 32]) -> [u8; 33] {
    let mut key = [0u8; 33];
    key[0] = BODY_REF;
    key[1..].copy_from_slice(hash);
    key
}

/// A stored state value: inline bytes or a reference to a body kept in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored<'a> {
    Inline(&'a [u8]),
    Body { hash: [u8; 32], len: u64 },
}

pub(crate) fn inline_value(value: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(1 + value.len());
    stored.push(VALUE_INLINE);
    stored.extend_from_slice(value);
    stored
}

pub(crate) fn body_value(hash: &[u8; 32], len: u64) -> [u8; 41] {
    let mut stored = [0u8; 41];
    stored[0] = VALUE_BODY;
    stored[1..33].copy_from_slice(hash);
    stored[33..].copy_from_slice(&len.to_be_bytes());
    stored
}

/// Parses a stored state value; `None` if it is malformed.
pub(crate) fn parse_value(stored: &[u8]) -> Option<Stored<'_>> {
    match stored.split_first()? {
        (&VALUE_INLINE, rest) => Some(Stored::Inline(rest)),
        (&VALUE_BODY, rest) if rest.len() == 40 => Some(Stored::Body {
            hash: rest[..32].try_into().ok()?,
            len: u64::from_be_bytes(rest[32..].try_into().ok()?),
        }),
        _ => None,
    }
}
