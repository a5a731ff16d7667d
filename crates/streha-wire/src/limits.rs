//! Caps on the number of elements of the lists inside messages, checked **while decoding**
//! (`spec/protocol.md` §11).
//!
//! The frame limit bounds the bytes a message takes on the wire, but not what decoding it
//! allocates: a list element can take one byte on the wire (an empty string, an empty byte
//! string) and 24 or more bytes in memory, so a full-size frame of tiny elements would
//! allocate many times the frame. Every list of a message has a cap here; a longer list is
//! refused from its announced length, before any element is decoded or allocated, and
//! [`frame::decode_payload`](crate::frame::decode_payload) reports it as
//! [`FrameError::TooManyItems`](crate::FrameError::TooManyItems).

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

/// The most checkpoints one gossip message carries (a node's latest per log it cosigned).
pub const MAX_GOSSIP_NOTES: usize = 256;

/// A list that exceeded its cap while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListTooLong {
    /// Which list.
    pub(crate) what: &'static str,
    /// Its announced length (the cap plus one if the format announced none).
    pub(crate) len: u64,
    /// The cap.
    pub(crate) max: usize,
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
    TOO_LONG.with(|c| c.set(Some(ListTooLong { what, len, max })));
    E::custom(format_args!(
        "{what}: {len} elements, more than the limit of {max}"
    ))
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

/// A page of held deliveries: at most [`MAX_PAGE_ITEMS`].
pub(crate) fn held_page<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "held deliveries", MAX_PAGE_ITEMS)
}

/// A page of witness evidence: at most [`MAX_PAGE_ITEMS`].
pub(crate) fn evidence_page<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "witness evidence records", MAX_PAGE_ITEMS)
}

/// The checkpoints of a gossip message: at most [`MAX_GOSSIP_NOTES`].
pub(crate) fn gossip_notes<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    bounded(d, "gossip checkpoints", MAX_GOSSIP_NOTES)
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
