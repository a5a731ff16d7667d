//! Text that came from somewhere else — a peer node, an application, a node answering its
//! application — made safe to log, store and show.
//!
//! Two dangers, one answer each:
//!
//! - **Size.** A peer controls the length of every string it sends. Texts meant for people
//!   (error messages, hold reasons) are refused at decode beyond
//!   [`MAX_TEXT_LEN`] bytes ([`crate::limits`]), and what a
//!   node builds from them is cut to the same cap with [`bounded`] before it is stored or
//!   sent, so that its own applications never refuse its answers.
//! - **Forgery.** A newline in a logged field starts what looks like a new log line; an ANSI
//!   escape sequence repaints the operator's terminal; a bidirectional-override character
//!   reorders what is shown. [`Untrusted`] shows a text with every such character escaped
//!   (`\n`, `\r`, `\t`, `\u{1b}`, …) and at most [`MAX_TEXT_LEN`]
//!   bytes of it. Every logged or printed field that comes from a peer or an application
//!   goes through it.
//!
//! Escaping leaves a backslash as it is, so that escaping an escaped text changes nothing:
//! a message escaped by the node and shown again by the command line reads the same.
//!
//! ```
//! use streha_wire::text::{Untrusted, bounded};
//! let hostile = "refused\n2031-01-01 INFO forged line \u{1b}[31mred";
//! assert_eq!(
//!     Untrusted(hostile).to_string(),
//!     r"refused\n2031-01-01 INFO forged line \u{1b}[31mred"
//! );
//! assert_eq!(bounded("abcdef".repeat(100), 10).len(), 10);
//! ```

use std::fmt::{self, Write as _};

use crate::limits::MAX_TEXT_LEN;

/// A text from elsewhere, shown with its control characters escaped and cut after
/// [`MAX_TEXT_LEN`] bytes (the rest is counted, not shown).
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

/// Whether `c` is escaped when shown: control characters (C0, DEL, C1), the line and
/// paragraph separators, and the bidirectional formatting characters.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = prefix(self.0, MAX_TEXT_LEN);
        for c in shown.chars() {
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if needs_escape(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        if shown.len() < self.0.len() {
            write!(f, "… ({} bytes in all)", self.0.len())?;
        }
        Ok(())
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` cut to at most `max` bytes (at a character boundary, ending with `…` when cut).
/// A node builds every text it stores or sends (hold reasons, error messages) through this,
/// so that none exceeds the cap its peers and applications enforce at decode.
pub fn bounded(text: impl Into<String>, max: usize) -> String {
    const MARK: &str = "…";
    let mut text = text.into();
    if text.len() <= max {
        return text;
    }
    let keep = prefix(&text, max.saturating_sub(MARK.len())).len();
    text.truncate(keep);
    if text.len() + MARK.len() <= max {
        text.push_str(MARK);
    }
    text
}

/// `text` escaped as [`Untrusted`] shows it and cut to [`MAX_TEXT_LEN`] bytes: the form in
/// which a node keeps or forwards a text it got from a peer.
pub fn sanitized(text: &str) -> String {
    bounded(Untrusted(text).to_string(), MAX_TEXT_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_characters_and_bidi_overrides_are_escaped() {
        assert_eq!(
            Untrusted("a\nb\r\tc\u{1b}[2J\u{7}\u{7f}\u{9b}\u{202e}\u{2028}d").to_string(),
            r"a\nb\r\tc\u{1b}[2J\u{7}\u{7f}\u{9b}\u{202e}\u{2028}d"
        );
        assert_eq!(
            Untrusted("plain, ünïcode ✓").to_string(),
            "plain, ünïcode ✓"
        );
    }

    #[test]
    fn a_long_text_is_cut_and_counted() {
        let long = "x".repeat(5 * MAX_TEXT_LEN);
        let shown = Untrusted(&long).to_string();
        assert!(shown.starts_with(&"x".repeat(MAX_TEXT_LEN)));
        assert!(shown.ends_with(&format!("… ({} bytes in all)", 5 * MAX_TEXT_LEN)));
        assert!(shown.len() < MAX_TEXT_LEN + 40);
    }

    #[test]
    fn bounded_cuts_at_a_character_boundary() {
        assert_eq!(bounded("short", 10), "short");
        let cut = bounded("ééééé", 7);
        assert_eq!(cut, "éé…");
        assert!(cut.len() <= 7);
        assert_eq!(bounded("abc", 0), "");
    }

    proptest! {
        #[test]
        fn shown_text_never_holds_a_control_character_and_escaping_is_idempotent(
            chars in proptest::collection::vec(any::<char>(), 0..100)
        ) {
            // At most 100 characters, each escaped to at most 10 bytes: under the cap.
            let text: String = chars.into_iter().collect();
            let once = Untrusted(&text).to_string();
            prop_assert!(!once.chars().any(needs_escape));
            prop_assert_eq!(Untrusted(&once).to_string(), once.clone());
        }

        #[test]
        fn sanitized_text_fits_the_cap(text in any::<String>(), repeat in 1usize..200) {
            let long = text.repeat(repeat);
            let clean = sanitized(&long);
            prop_assert!(clean.len() <= MAX_TEXT_LEN);
            prop_assert!(!clean.chars().any(needs_escape));
        }
    }
}
