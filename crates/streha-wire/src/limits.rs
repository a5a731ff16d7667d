//! Caps on what a message may hold, checked **while decoding**, the size budgets of the
//! answers that can grow, and the default byte budgets of the transport (`spec/protocol.md`
//! §11).
//!
//! **Lists** are capped **while decoding**. The frame limit bounds the bytes a message takes
//! on the wire, but not what decoding it allocates: a list element can take one byte on the
//! wire (an empty string, an empty byte string) and 24 or more bytes in memory, so a
//! full-size frame of tiny elements would allocate many times the frame. Every list of a
//! message has a cap here; a longer list is refused from its announced length, before any
//! element is decoded or allocated, and
//! [`frame::decode_payload`](crate::frame::decode_payload) reports it as
//! [`FrameError::TooManyItems`](crate::FrameError::TooManyItems).
//!
//! Texts meant for a person — an error message, a hold reason, a delivery's last error —
//! are logged, stored and shown, so a peer must not choose their size: each is refused
//! beyond [`MAX_TEXT_LEN`] bytes ([`FrameError::TooLong`](crate::FrameError::TooLong)).
//!
//! Every answer that lists something that can grow (log entries, checkpoints, consents, the
//! inbox, held deliveries, witness evidence) is a page: at most [`MAX_PAGE_ITEMS`] items
//! and, past its first item, at most [`MAX_PAGE_BYTES`] bytes of encoded items, so that an
//! answer always fits in a frame however large the items are. A page shorter than asked is
//! not the end; an empty page is.
//!
//! **Bytes in flight** — the frames a node is receiving or sending — are budgeted per
//! connection and for the whole node, so that neither one peer nor all of them together can
//! make a node hold more than its budget; the QUIC receive window bounds what a connection
//! may send ahead of what its reader took. These are the defaults; a node's `[limits]`
//! configuration can change them.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

/// The most legal representatives a subject's list holds in a message (the registry's own
/// limit, [`streha_core::MAX_REPRESENTATIVES`]).
pub const MAX_REPRESENTATIVES: usize = streha_core::MAX_REPRESENTATIVES;

/// The most items of one page: inbox items, log entries, checkpoints
/// ([`MAX_PAGE`](crate::app::MAX_PAGE)).
pub const MAX_PAGE_ITEMS: usize = crate::app::MAX_PAGE as usize;

/// The most signed roster notes one page carries (a note is at most
/// [`MAX_ROSTER_LEN`](crate::roster::MAX_ROSTER_LEN), 512 KiB: four fit in a frame).
pub const MAX_ROSTERS_PAGE: usize = 4;

// A full page of the largest roster notes fits in a frame.
const _: () =
    assert!(MAX_ROSTERS_PAGE * crate::roster::MAX_ROSTER_LEN + 1024 < crate::frame::MAX_FRAME_LEN);

/// The most checkpoints one gossip message carries (a node's latest per log it cosigned).
pub const MAX_GOSSIP_NOTES: usize = 256;

/// The most envelopes one delivery batch carries (`PeerRequest::DeliverBatch`): a longer
/// list is refused while decoding, and a sending node never builds one.
pub const MAX_BATCH_ENVELOPES: usize = 32;

/// The largest checkpoint note of a [`NewEpochRequest`](crate::peer::NewEpochRequest), in
/// bytes: the peer witnesses' own bound on a checkpoint note
/// (`streha_witness::rules::MAX_WITNESS_NOTE_LEN`), refused while decoding beyond.
pub const MAX_NEW_EPOCH_NOTE_LEN: usize = 8 * 1024;

/// The most bytes of envelopes (ciphertexts and header contexts) one delivery batch of more
/// than one envelope carries. A single envelope of any size within
/// `streha_crypto::MAX_ENVELOPE_LEN` travels alone, in a batch of one; a batch
/// of several above this is refused whole by the receiver, and a sending node never builds
/// one.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Default budget of bytes in flight at one node, over all its connections
/// (`limits.max_bytes_in_flight`): frames being received (counted from their announced
/// length once the reader takes them on) and answers being sent (until the peer
/// acknowledged them).
pub const MAX_BYTES_IN_FLIGHT: usize = 128 * 1024 * 1024;

/// Default budget of bytes in flight on one connection
/// (`limits.max_bytes_in_flight_per_connection`); at least one frame of the largest size
/// ([`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN)) with its prefix must fit.
pub const MAX_BYTES_IN_FLIGHT_PER_CONNECTION: usize = 8 * 1024 * 1024;

/// Default QUIC receive window of one connection (and of one stream): the most bytes a peer
/// may send ahead of what the reader has taken. A node sets it to its budget of bytes in
/// flight divided by its connection limit, so that what QUIC buffers for all connections
/// together stays within the budget too.
pub const RECEIVE_WINDOW: u64 = 512 * 1024;

/// Default most concurrent request streams per connection
/// (`limits.max_streams_per_connection`).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 64;

const _: () = assert!(
    MAX_BYTES_IN_FLIGHT_PER_CONNECTION >= crate::frame::MAX_FRAME_LEN + crate::frame::PREFIX_LEN
);
const _: () = assert!(MAX_BYTES_IN_FLIGHT >= MAX_BYTES_IN_FLIGHT_PER_CONNECTION);

/// The most bytes of a text meant for a person that a message may carry: an error message
/// ([`RemoteError::message`](crate::RemoteError::message)), a hold reason, a delivery's last
/// error. Longer is refused at decode, before the text is copied. A node cuts what it builds
/// to this with [`text::bounded`](crate::text::bounded).
pub const MAX_TEXT_LEN: usize = 1024;

/// The most bytes the encoded items of one page take, past its first item (a page always
/// holds at least one item if any is left, so that paging moves on). With every item far
/// below the frame limit (an audit entry is at most 64 KiB), a page always fits in a frame.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// What a list or text that exceeded its cap while decoding was measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Elements of a list.
    Items,
    /// Bytes of a text.
    Bytes,
}

/// A list or a text that exceeded its cap while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListTooLong {
    /// Which list or text.
    pub(crate) what: &'static str,
    /// Its announced length (the cap plus one if the format announced none).
    pub(crate) len: u64,
    /// The cap.
    pub(crate) max: usize,
    /// Elements or bytes.
    pub(crate) unit: Unit,
}

impl ListTooLong {
    /// The frame error that reports it.
    pub(crate) fn into_error(self) -> crate::FrameError {
        let Self {
            what,
            len,
            max,
            unit,
        } = self;
        match unit {
            Unit::Items => crate::FrameError::TooManyItems { what, len, max },
            Unit::Bytes => crate::FrameError::TooLong { what, len, max },
        }
    }
}

thread_local! {
    /// The last list refused for its length on this thread. Serde's error type (postcard's)
    /// keeps no message, so the precise reason travels beside it; decoding is synchronous,
    /// so the frame decoder reads it right after the failure on the same thread.
    static TOO_LONG: Cell<Option<ListTooLong>> = const { Cell::new(None) };
}

/// Forgets any earlier refusal (before decoding a payload).
pub(crate) fn reset() {
    TOO_LONG.with(|c| c.set(None));
}

/// The list refused for its length during the last decoding on this thread, if any.
pub(crate) fn take() -> Option<ListTooLong> {
    TOO_LONG.with(Cell::take)
}

fn too_long<E: de::Error>(what: &'static str, len: u64, max: usize) -> E {
    TOO_LONG.with(|c| {
        c.set(Some(ListTooLong {
            what,
            len,
            max,
            unit: Unit::Items,
        }))
    });
    E::custom(format_args!(
        "{what}: {len} elements, more than the limit of {max}"
    ))
}

fn text_too_long<E: de::Error>(what: &'static str, len: usize, max: usize) -> E {
    TOO_LONG.with(|c| {
        c.set(Some(ListTooLong {
            what,
            len: len as u64,
            max,
            unit: Unit::Bytes,
        }))
    });
    E::custom(format_args!(
        "{what}: {len} bytes, more than the limit of {max}"
    ))
}

/// Deserializes a text of at most `max` bytes. The length is checked on the borrowed bytes
/// of the frame, before the text is copied.
fn capped_text<'de, D>(d: D, what: &'static str, max: usize) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    struct Capped {
        what: &'static str,
        max: usize,
    }

    impl Visitor<'_> for Capped {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a {} of at most {} bytes", self.what, self.max)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            if v.len() > self.max {
                return Err(text_too_long(self.what, v.len(), self.max));
            }
            Ok(v.to_owned())
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            if v.len() > self.max {
                return Err(text_too_long(self.what, v.len(), self.max));
            }
            Ok(v)
        }
    }

    d.deserialize_str(Capped { what, max })
}

/// An error message: at most [`MAX_TEXT_LEN`] bytes.
pub(crate) fn error_message<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    capped_text(d, "error message", MAX_TEXT_LEN)
}

/// Why a delivery is held: at most [`MAX_TEXT_LEN`] bytes.
pub(crate) fn hold_reason<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    capped_text(d, "hold reason", MAX_TEXT_LEN)
}

/// The log origin named by witness evidence: at most
/// [`MAX_ORIGIN_LEN`](streha_core::MAX_ORIGIN_LEN) bytes, as every log origin.
pub(crate) fn log_origin<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    capped_text(d, "log origin", streha_core::MAX_ORIGIN_LEN)
}

/// A delivery's last error, if any: at most [`MAX_TEXT_LEN`] bytes.
pub(crate) fn last_error<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct LastError(String);

    impl<'de> Deserialize<'de> for LastError {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            capped_text(d, "last delivery error", MAX_TEXT_LEN).map(LastError)
        }
    }

    Ok(Option::<LastError>::deserialize(d)?.map(|e| e.0))
}

/// Deserializes a list of at most `max` elements, refusing a longer one from its announced
/// length before decoding any element.
fn bounded<'de, D, T>(d: D, what: &'static str, max: usize) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Bounded<T> {
        what: &'static str,
        max: usize,
        item: PhantomData<T>,
    }

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Bounded<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {} {}", self.max, self.what)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let announced = seq.size_hint();
            if let Some(len) = announced
                && len > self.max
            {
                return Err(too_long(self.what, len as u64, self.max));
            }
            let mut out = Vec::with_capacity(announced.unwrap_or(0));
            while let Some(item) = seq.next_element()? {
                if out.len() == self.max {
                    return Err(too_long(self.what, self.max as u64 + 1, self.max));
                }
                out.push(item);
            }
            Ok(out)
        }
    }

    d.deserialize_seq(Bounded {
        what,
        max,
        item: PhantomData,
    })
}

/// A subject's legal representatives: at most [`MAX_REPRESENTATIVES`].
pub(crate) fn representatives<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "representatives", MAX_REPRESENTATIVES)
}

/// A page of inbox items: at most [`MAX_PAGE_ITEMS`].
pub(crate) fn inbox_page<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "inbox items", MAX_PAGE_ITEMS)
}

/// A page of log entries: at most [`MAX_PAGE_ITEMS`].
pub(crate) fn entries_page<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "log entries", MAX_PAGE_ITEMS)
}

/// A page of checkpoints: at most [`MAX_PAGE_ITEMS`].
pub(crate) fn checkpoints_page<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "checkpoints", MAX_PAGE_ITEMS)
}

/// A page of signed roster notes: at most [`MAX_ROSTERS_PAGE`].
pub(crate) fn rosters_page<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "roster notes", MAX_ROSTERS_PAGE)
}

/// A page of held deliveries: at most [`MAX_PAGE_ITEMS`].
pub(crate) fn held_page<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "held deliveries", MAX_PAGE_ITEMS)
}

/// A page of consents: at most [`MAX_PAGE_ITEMS`].
pub(crate) fn consents_page<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "consents", MAX_PAGE_ITEMS)
}

/// A page of witness evidence: at most [`MAX_PAGE_ITEMS`].
pub(crate) fn evidence_page<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "witness evidence records", MAX_PAGE_ITEMS)
}

/// The checkpoint of a new epoch: at most [`MAX_NEW_EPOCH_NOTE_LEN`] bytes.
pub(crate) fn new_epoch_note<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    capped_text(d, "new epoch checkpoint", MAX_NEW_EPOCH_NOTE_LEN)
}

/// The declaration of a new epoch (an encoded audit entry): at most
/// [`MAX_ENTRY_LEN`](streha_core::MAX_ENTRY_LEN) bytes.
pub(crate) fn declaration_bytes<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "declaration bytes", streha_core::MAX_ENTRY_LEN)
}

/// The checkpoints of a gossip message: at most [`MAX_GOSSIP_NOTES`].
pub(crate) fn gossip_notes<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "gossip checkpoints", MAX_GOSSIP_NOTES)
}

/// The deliveries of a batch, or the outcomes of its receipt: at most
/// [`MAX_BATCH_ENVELOPES`].
pub(crate) fn batch_items<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "envelopes of a delivery batch", MAX_BATCH_ENVELOPES)
}

/// A signed roster carried in a message: at most
/// [`MAX_ROSTER_LEN`](crate::roster::MAX_ROSTER_LEN) bytes, refused from the string's
/// announced length before it is copied (reported as
/// [`FrameError::TooManyItems`](crate::FrameError::TooManyItems), `what` naming the bytes).
pub(crate) fn roster_note<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Note;

    impl<'de> Visitor<'de> for Note {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "a signed roster of at most {} bytes",
                crate::roster::MAX_ROSTER_LEN
            )
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
            if text.len() > crate::roster::MAX_ROSTER_LEN {
                return Err(too_long(
                    "roster note bytes",
                    text.len() as u64,
                    crate::roster::MAX_ROSTER_LEN,
                ));
            }
            Ok(text.to_owned())
        }
    }

    struct MaybeNote;

    impl<'de> Visitor<'de> for MaybeNote {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an optional signed roster")
        }

        fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Option<String>, D2::Error> {
            d.deserialize_str(Note).map(Some)
        }
    }

    d.deserialize_option(MaybeNote)
}
