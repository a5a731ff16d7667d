//! Checkpoints: the C2SP `tlog-checkpoint` note body (origin, size, root hash), signed as a
//! C2SP signed note.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::hash::Hash;
use crate::note::{NoteError, NoteSigner, NoteVerifier, SignedNote};

/// The largest checkpoint body [`Checkpoint::parse_body`] accepts, in bytes (64 KiB).
pub const MAX_CHECKPOINT_SIZE: usize = 64 * 1024;

/// A log's signed statement of its tree: origin, size and root hash, plus optional opaque
/// extension lines (C2SP tlog-checkpoint, "Note text"). Validated at construction, so its
/// body always parses back to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

fn check_line(line: &str, what: Line) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(match what {
            Line::Origin => CheckpointError::EmptyOrigin,
            Line::Extension(line) => CheckpointError::EmptyExtension { line },
        });
    }
    if let Some(offset) = line.chars().position(|c| c < ' ') {
        return Err(CheckpointError::ControlCharacter {
            line: match what {
                Line::Origin => 1,
                Line::Extension(line) => line,
            },
            offset,
        });
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Line {
    Origin,
    /// 1-based line number.
    Extension(usize),
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    ///
    /// # Errors
    /// [`CheckpointError::EmptyOrigin`] or [`CheckpointError::ControlCharacter`] (which
    /// includes a newline) in the origin; [`CheckpointError::TooLarge`].
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        let origin = origin.into();
        check_line(&origin, Line::Origin)?;
        let cp = Self {
            origin,
            size,
            root,
            extensions: Vec::new(),
        };
        cp.check_size()?;
        Ok(cp)
    }

    /// Adds an extension line (opaque; not auditable by monitors, so NOT RECOMMENDED by the
    /// spec).
    ///
    /// # Errors
    /// [`CheckpointError::EmptyExtension`], [`CheckpointError::ControlCharacter`] or
    /// [`CheckpointError::TooLarge`].
    pub fn with_extension(mut self, line: impl Into<String>) -> Result<Self, CheckpointError> {
        let line = line.into();
        check_line(&line, Line::Extension(4 + self.extensions.len()))?;
        self.extensions.push(line);
        self.check_size()?;
        Ok(self)
    }

    fn check_size(&self) -> Result<(), CheckpointError> {
        // Exactly the length of `to_body()`: origin line, decimal size line, 44 base64
        // characters of the root and a newline, then the extension lines.
        let size = self.origin.len()
            + 1
            + self.size.to_string().len()
            + 1
            + 45
            + self.extensions.iter().map(|e| e.len() + 1).sum::<usize>();
        if size > MAX_CHECKPOINT_SIZE {
            return Err(CheckpointError::TooLarge {
                size,
                max: MAX_CHECKPOINT_SIZE,
            });
        }
        Ok(())
    }

    /// The origin: the log's identity.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash at that size.
    #[must_use]
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines.
    #[must_use]
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note body: `<origin>\n<size>\n<base64 root>\n` then each extension line and a
    /// newline.
    #[must_use]
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root.as_bytes())
        );
        for e in &self.extensions {
            body.push_str(e);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body strictly: at most [`MAX_CHECKPOINT_SIZE`] bytes, ending in a
    /// newline; a non-empty origin; the size in ASCII decimal without sign or leading zeros;
    /// the root as canonical padded standard base64 of exactly 32 bytes; non-empty extension
    /// lines; no control characters.
    ///
    /// # Errors
    /// [`CheckpointError`] naming the first problem.
    pub fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        if body.len() > MAX_CHECKPOINT_SIZE {
            return Err(CheckpointError::TooLarge {
                size: body.len(),
                max: MAX_CHECKPOINT_SIZE,
            });
        }
        let content = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let mut lines = content.split('\n');
        let origin = lines.next().unwrap_or_default();
        check_line(origin, Line::Origin)?;
        let size = parse_size(lines.next().ok_or(CheckpointError::TooFewLines)?)?;
        let root = parse_root(lines.next().ok_or(CheckpointError::TooFewLines)?)?;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            check_line(line, Line::Extension(4 + i))?;
            extensions.push(line.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CheckpointError::InvalidSize {
            reason: "not an unsigned decimal number",
        });
    }
    if line.len() > 1 && line.starts_with('0') {
        return Err(CheckpointError::InvalidSize {
            reason: "leading zero",
        });
    }
    line.parse().map_err(|_| CheckpointError::InvalidSize {
        reason: "larger than 2^64-1",
    })
}

fn parse_root(line: &str) -> Result<Hash, CheckpointError> {
    let raw = BASE64
        .decode(line)
        .map_err(|_| CheckpointError::InvalidRootEncoding)?;
    // The engine rejects non-canonical trailing bits; re-encoding makes the check explicit.
    if BASE64.encode(&raw) != line {
        return Err(CheckpointError::InvalidRootEncoding);
    }
    Hash::try_from(raw.as_slice()).map_err(|_| CheckpointError::RootLength { len: raw.len() })
}

/// Why a checkpoint could not be built, parsed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The body exceeds [`MAX_CHECKPOINT_SIZE`].
    #[error("the checkpoint is {size} bytes, more than the limit of {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The body does not end with a newline.
    #[error("the checkpoint body does not end with a newline")]
    MissingFinalNewline,
    /// Fewer than the three lines origin, size, root.
    #[error("a checkpoint needs at least three lines: origin, size, root hash")]
    TooFewLines,
    /// The origin line is empty.
    #[error("the checkpoint's origin line is empty")]
    EmptyOrigin,
    /// A control character (including a newline inside a value).
    #[error("line {line} of the checkpoint has a control character at character {offset}")]
    ControlCharacter {
        /// 1-based line number.
        line: usize,
        /// 0-based character offset in the line.
        offset: usize,
    },
    /// The size line is not a canonical decimal `u64`.
    #[error("the checkpoint's size line is invalid: {reason}")]
    InvalidSize {
        /// What is wrong.
        reason: &'static str,
    },
    /// The root line is not canonical padded standard base64.
    #[error("the checkpoint's root hash is not canonical standard base64")]
    InvalidRootEncoding,
    /// The root decodes to the wrong number of bytes.
    #[error("the checkpoint's root hash is {len} bytes; it must be 32")]
    RootLength {
        /// Decoded length.
        len: usize,
    },
    /// An extension line is empty.
    #[error("line {line} of the checkpoint is an empty extension line")]
    EmptyExtension {
        /// 1-based line number.
        line: usize,
    },
    /// The note around the checkpoint did not parse or verify.
    #[error("the checkpoint's signed note is invalid: {0}")]
    Note(#[from] NoteError),
}

/// Signs a checkpoint as a C2SP signed note with one Ed25519 signature. The log's key name
/// should match the origin (tlog-checkpoint, "Signatures"); this is not enforced.
#[must_use]
pub fn sign_checkpoint(checkpoint: &Checkpoint, signer: &NoteSigner) -> SignedNote {
    // A valid checkpoint's body is newline-terminated, has no control characters and is far
    // below the note size limit, so signing cannot fail.
    let body = checkpoint.to_body();
    let sig = signer.sign_unchecked(&body);
    SignedNote::from_parts_unchecked(body, vec![sig])
}

/// Parses and verifies a signed checkpoint note; returns the checkpoint and the names of the
/// known keys that signed it (see [`SignedNote::verify`] for the rules).
///
/// Success does not say that the checkpoint is consistent with any other: check that with a
/// consistency proof against the last checkpoint you trust.
///
/// # Errors
/// [`CheckpointError::Note`] if the note is malformed or not validly signed by a known key;
/// another [`CheckpointError`] if the body is not a checkpoint.
pub fn open_checkpoint(
    note_text: &str,
    verifiers: &[NoteVerifier],
) -> Result<(Checkpoint, Vec<String>), CheckpointError> {
    let verified = SignedNote::parse(note_text)?.verify(verifiers)?;
    let checkpoint = Checkpoint::parse_body(verified.body())?;
    Ok((checkpoint, verified.signer_names()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use ed25519_dalek::SigningKey;

    fn cp() -> Checkpoint {
        Checkpoint::new("example.org/log", 42, leaf_hash(b"r")).unwrap()
    }

    #[test]
    fn body_round_trip() {
        let c = cp();
        let body = c.to_body();
        assert!(body.starts_with("example.org/log\n42\n"));
        assert_eq!(body.lines().count(), 3);
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), c);
        let e = c.clone().with_extension("ext one").unwrap();
        assert_eq!(Checkpoint::parse_body(&e.to_body()).unwrap(), e);
        let zero = Checkpoint::new("o", 0, leaf_hash(b"")).unwrap();
        assert_eq!(Checkpoint::parse_body(&zero.to_body()).unwrap().size(), 0);
        let max = Checkpoint::new("o", u64::MAX, leaf_hash(b"")).unwrap();
        assert_eq!(Checkpoint::parse_body(&max.to_body()).unwrap(), max);
    }

    #[test]
    fn malformed_bodies() {
        let root = BASE64.encode(leaf_hash(b"r").as_bytes());
        let short = BASE64.encode([0u8; 31]);
        let cases: Vec<(String, CheckpointError)> = vec![
            (
                format!("o\n1\n{root}"),
                CheckpointError::MissingFinalNewline,
            ),
            ("o\n1\n".into(), CheckpointError::TooFewLines),
            ("o\n".into(), CheckpointError::TooFewLines),
            (format!("\n1\n{root}\n"), CheckpointError::EmptyOrigin),
            (
                format!("o\n01\n{root}\n"),
                CheckpointError::InvalidSize {
                    reason: "leading zero",
                },
            ),
            (
                format!("o\n+1\n{root}\n"),
                CheckpointError::InvalidSize {
                    reason: "not an unsigned decimal number",
                },
            ),
            (
                format!("o\n\n{root}\n"),
                CheckpointError::InvalidSize {
                    reason: "not an unsigned decimal number",
                },
            ),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                CheckpointError::InvalidSize {
                    reason: "larger than 2^64-1",
                },
            ),
            ("o\n1\n!!!!\n".into(), CheckpointError::InvalidRootEncoding),
            (
                format!("o\n1\n{}\n", root.trim_end_matches('=')),
                CheckpointError::InvalidRootEncoding,
            ),
            (
                format!("o\n1\n{short}\n"),
                CheckpointError::RootLength { len: 31 },
            ),
            (
                format!("o\n1\n{root}\n\n"),
                CheckpointError::EmptyExtension { line: 4 },
            ),
            (
                format!("o\u{7}\n1\n{root}\n"),
                CheckpointError::ControlCharacter { line: 1, offset: 1 },
            ),
        ];
        for (body, want) in cases {
            assert_eq!(Checkpoint::parse_body(&body), Err(want), "{body:?}");
        }
        let big = format!("{}\n1\n{root}\n", "o".repeat(MAX_CHECKPOINT_SIZE));
        assert_eq!(
            Checkpoint::parse_body(&big),
            Err(CheckpointError::TooLarge {
                size: big.len(),
                max: MAX_CHECKPOINT_SIZE
            })
        );
        // Non-canonical base64: the last character before '=' carries two bits that must be
        // zero for a 32-byte value.
        let zero = BASE64.encode([0u8; 32]);
        let noncanonical = format!("{}B=", &zero[..42]);
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n1\n{noncanonical}\n")),
            Err(CheckpointError::InvalidRootEncoding)
        );
        assert!(Checkpoint::parse_body(&format!("o\n1\n{zero}\n")).is_ok());
    }

    #[test]
    fn construction_validates() {
        assert_eq!(
            Checkpoint::new("", 1, leaf_hash(b"")),
            Err(CheckpointError::EmptyOrigin)
        );
        assert!(matches!(
            Checkpoint::new("a\nb", 1, leaf_hash(b"")),
            Err(CheckpointError::ControlCharacter { .. })
        ));
        assert!(cp().with_extension("").is_err());
        assert!(cp().with_extension("a\nb").is_err());
        assert!(matches!(
            cp().with_extension("x".repeat(MAX_CHECKPOINT_SIZE)),
            Err(CheckpointError::TooLarge { .. })
        ));
    }

    #[test]
    fn sign_and_open() {
        let signer = NoteSigner::new("example.org/log", SigningKey::from_bytes(&[3; 32])).unwrap();
        let note = sign_checkpoint(&cp(), &signer).to_text();
        let (c, names) = open_checkpoint(&note, &[signer.verifier()]).unwrap();
        assert_eq!(c, cp());
        assert_eq!(names, ["example.org/log"]);
        let other = NoteSigner::new("example.org/log", SigningKey::from_bytes(&[4; 32])).unwrap();
        assert!(matches!(
            open_checkpoint(&note, &[other.verifier()]),
            Err(CheckpointError::Note(NoteError::NoKnownSignature { .. }))
        ));
        // A validly signed note that is not a checkpoint.
        let not_cp = SignedNote::sign("hello\n", &signer).unwrap().to_text();
        assert_eq!(
            open_checkpoint(&not_cp, &[signer.verifier()]),
            Err(CheckpointError::TooFewLines)
        );
    }

    /// A checkpoint whose body is exactly at the size limit can be built as well as parsed.
    #[test]
    fn new_accepts_what_parse_accepts_at_the_size_limit() {
        let root = Hash::from_bytes([7; 32]);
        let fixed = "\n0\n".len() + 44 + 1;
        let origin = "o".repeat(MAX_CHECKPOINT_SIZE - fixed);
        let built = Checkpoint::new(origin.clone(), 0, root).unwrap();
        assert_eq!(built.to_body().len(), MAX_CHECKPOINT_SIZE);
        assert_eq!(Checkpoint::parse_body(&built.to_body()).unwrap(), built);
        let over = Checkpoint::new(origin + "o", 0, root);
        assert!(matches!(over, Err(CheckpointError::TooLarge { .. })));
    }
}
