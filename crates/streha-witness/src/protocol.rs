//! The C2SP `tlog-witness` wire text (sans-IO): the `add-checkpoint` request body, the
//! `409` size body and the `200` cosignature lines — parsed from untrusted bytes, bounded,
//! and written byte for byte as the specification says — and Streha's one extension, the
//! `add-new-epoch` request body that carries a new log epoch's first checkpoint with its
//! declaration (`spec/witness.md` §2.1).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use streha_audit::{ConsistencyProof, Hash, InclusionProof, NoteSignature};

use crate::rules::{MAX_HTTP_NOTE_LEN, MAX_PROOF_LINES};

/// The path of the submission endpoint, after the witness's submission prefix.
pub const ADD_CHECKPOINT_PATH: &str = "/add-checkpoint";

/// The path of the new-epoch endpoint (Streha's extension), after the submission prefix.
pub const ADD_NEW_EPOCH_PATH: &str = "/add-new-epoch";

/// The path of the read endpoint (Streha's extension), after the submission prefix:
/// `GET <prefix>/latest-cosigned/<origin in unpadded base64url>` answers the latest
/// checkpoint of that log this witness cosigned, with its cosignature (`spec/witness.md`
/// §2.2).
pub const LATEST_COSIGNED_PATH: &str = "/latest-cosigned";

/// The longest origin segment of a `latest-cosigned` request a witness reads: the unpadded
/// base64url of the longest log origin ([`MAX_ORIGIN_LEN`](streha_core::MAX_ORIGIN_LEN)
/// bytes). A longer one is refused (414) before it is decoded.
pub const MAX_LATEST_COSIGNED_SEGMENT_LEN: usize = (streha_core::MAX_ORIGIN_LEN * 4).div_ceil(3);

/// The path segment that names `origin` in a `latest-cosigned` request: its unpadded
/// base64url (an origin holds `/`, which a path segment cannot).
#[must_use]
pub fn encode_origin_segment(origin: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(origin.as_bytes())
}

/// The origin a `latest-cosigned` path segment names, if it is the unpadded base64url of a
/// valid log origin of at most [`MAX_ORIGIN_LEN`](streha_core::MAX_ORIGIN_LEN) bytes.
#[must_use]
pub fn decode_origin_segment(segment: &str) -> Option<String> {
    if segment.len() > MAX_LATEST_COSIGNED_SEGMENT_LEN {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .ok()?;
    let origin = String::from_utf8(bytes).ok()?;
    streha_core::LogOrigin::new(origin.as_str()).ok()?;
    Some(origin)
}

/// The largest declaration (entry 0 of a new epoch, a `log_restored` entry) an
/// `add-new-epoch` request carries, in bytes before base64: its proving note (at most
/// [`MAX_PROVEN_NOTE_LEN`](streha_core::MAX_PROVEN_NOTE_LEN)) and at most 2 KiB of origin,
/// sizes, root, agency id and time.
pub const MAX_DECLARATION_LEN: usize = streha_core::MAX_PROVEN_NOTE_LEN + 2 * 1024;

/// The largest `add-new-epoch` body a witness reads: the declaration line, 63 proof lines
/// and the largest checkpoint note the HTTP witness takes.
pub const MAX_NEW_EPOCH_REQUEST_LEN: usize = "declaration ".len()
    + MAX_DECLARATION_LEN.div_ceil(3) * 4
    + 1
    + MAX_PROOF_LINES * 45
    + 1
    + MAX_HTTP_NOTE_LEN;

/// The media type of a `409 Conflict` answer carrying the witness's latest size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The largest request body a witness reads: the old size line, 63 proof lines and the
/// largest checkpoint note the HTTP witness takes.
pub const MAX_REQUEST_LEN: usize = 32 + MAX_PROOF_LINES * 45 + 1 + MAX_HTTP_NOTE_LEN;

/// The largest `200` answer a client reads (cosignature lines).
pub const MAX_RESPONSE_LEN: usize = 16 * 1024;

/// The most cosignature lines a client takes from one answer.
pub const MAX_RESPONSE_LINES: usize = 16;

/// A parsed `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness cosigned last.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint.
    pub proof: ConsistencyProof,
    /// The checkpoint note, as sent (not yet verified).
    pub checkpoint: String,
}

/// Why a request body is not an `add-checkpoint` request (C2SP: 400 Bad Request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Over [`MAX_REQUEST_LEN`] bytes.
    #[error("the request body is {len} bytes; at most {max} are read")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not UTF-8.
    #[error("the request body is not UTF-8")]
    NotUtf8,
    /// The first line is not `old <decimal>`.
    #[error("the first line must be `old <size>` in decimal without leading zeroes")]
    OldSizeLine,
    /// A proof line is not one hash in standard base64.
    #[error("proof line {line} is not one 32-byte hash in standard base64")]
    ProofLine {
        /// 1-based line number in the body.
        line: usize,
    },
    /// More than [`MAX_PROOF_LINES`] proof lines.
    #[error("more than {max} proof lines")]
    TooManyProofLines {
        /// The limit.
        max: usize,
    },
    /// No empty line before the checkpoint, or nothing after it.
    #[error("the body ends before the empty line and the checkpoint")]
    Truncated,
    /// The first line of an `add-new-epoch` body is not `declaration <base64>` of at most
    /// [`MAX_DECLARATION_LEN`] bytes.
    #[error(
        "the first line must be `declaration <entry 0 in standard base64>`, at most {max} bytes decoded"
    )]
    DeclarationLine {
        /// The limit.
        max: usize,
    },
}

/// A parsed `add-new-epoch` request: the first checkpoint of a new log epoch, with entry 0
/// of that epoch (its declaration) and the inclusion proof of entry 0 under the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddNewEpoch {
    /// Entry 0 of the new epoch, as encoded (not yet decoded or checked).
    pub declaration: Vec<u8>,
    /// The inclusion proof of entry 0 under the checkpoint.
    pub proof: InclusionProof,
    /// The checkpoint note, as sent (not yet verified).
    pub checkpoint: String,
}

/// Parses an `add-checkpoint` body: `old <size>\n`, at most 63 lines of one base64 hash
/// each, an empty line, then the checkpoint note (everything that follows).
///
/// # Errors
/// [`RequestError`].
pub fn parse_add_checkpoint(body: &[u8]) -> Result<AddCheckpoint, RequestError> {
    if body.len() > MAX_REQUEST_LEN {
        return Err(RequestError::TooLarge {
            len: body.len(),
            max: MAX_REQUEST_LEN,
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| RequestError::NotUtf8)?;
    let (first, rest) = text.split_once('\n').ok_or(RequestError::Truncated)?;
    let old_size = first
        .strip_prefix("old ")
        .and_then(parse_decimal)
        .ok_or(RequestError::OldSizeLine)?;
    let (hashes, checkpoint) = proof_and_note(rest)?;
    let proof = ConsistencyProof::new(hashes).map_err(|_| RequestError::TooManyProofLines {
        max: MAX_PROOF_LINES,
    })?;
    Ok(AddCheckpoint {
        old_size,
        proof,
        checkpoint: checkpoint.to_owned(),
    })
}

/// Parses an `add-new-epoch` body: `declaration <base64>\n` (entry 0 of the new epoch, at
/// most [`MAX_DECLARATION_LEN`] bytes decoded), at most 63 lines of one base64 hash each
/// (the inclusion proof of entry 0), an empty line, then the checkpoint note.
///
/// # Errors
/// [`RequestError`].
pub fn parse_add_new_epoch(body: &[u8]) -> Result<AddNewEpoch, RequestError> {
    if body.len() > MAX_NEW_EPOCH_REQUEST_LEN {
        return Err(RequestError::TooLarge {
            len: body.len(),
            max: MAX_NEW_EPOCH_REQUEST_LEN,
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| RequestError::NotUtf8)?;
    let (first, rest) = text.split_once('\n').ok_or(RequestError::Truncated)?;
    let bad_declaration = || RequestError::DeclarationLine {
        max: MAX_DECLARATION_LEN,
    };
    let encoded = first
        .strip_prefix("declaration ")
        .filter(|e| !e.is_empty() && e.len() <= MAX_DECLARATION_LEN.div_ceil(3) * 4)
        .ok_or_else(bad_declaration)?;
    let declaration = BASE64.decode(encoded).map_err(|_| bad_declaration())?;
    if declaration.len() > MAX_DECLARATION_LEN {
        return Err(bad_declaration());
    }
    let (hashes, checkpoint) = proof_and_note(rest)?;
    let proof = InclusionProof::new(hashes).map_err(|_| RequestError::TooManyProofLines {
        max: MAX_PROOF_LINES,
    })?;
    Ok(AddNewEpoch {
        declaration,
        proof,
        checkpoint: checkpoint.to_owned(),
    })
}

/// Writes an `add-new-epoch` body.
#[must_use]
pub fn format_add_new_epoch(
    declaration: &[u8],
    proof: &InclusionProof,
    checkpoint: &str,
) -> String {
    let mut out = format!("declaration {}\n", BASE64.encode(declaration));
    for hash in proof.hashes() {
        out.push_str(&BASE64.encode(hash.as_bytes()));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(checkpoint);
    out
}

/// The proof lines after a request's first line, then the empty line and the note: at most
/// [`MAX_PROOF_LINES`] hashes, and a note that is not empty.
fn proof_and_note(mut rest: &str) -> Result<(Vec<Hash>, &str), RequestError> {
    let mut hashes = Vec::new();
    let mut line = 1;
    loop {
        line += 1;
        let (current, after) = rest.split_once('\n').ok_or(RequestError::Truncated)?;
        rest = after;
        if current.is_empty() {
            break;
        }
        if hashes.len() == MAX_PROOF_LINES {
            return Err(RequestError::TooManyProofLines {
                max: MAX_PROOF_LINES,
            });
        }
        let bytes = BASE64
            .decode(current)
            .map_err(|_| RequestError::ProofLine { line })?;
        let hash =
            Hash::try_from(bytes.as_slice()).map_err(|_| RequestError::ProofLine { line })?;
        hashes.push(hash);
    }
    if rest.is_empty() {
        return Err(RequestError::Truncated);
    }
    Ok((hashes, rest))
}

/// Writes an `add-checkpoint` body.
#[must_use]
pub fn format_add_checkpoint(old_size: u64, proof: &ConsistencyProof, checkpoint: &str) -> String {
    let mut out = format!("old {old_size}\n");
    for hash in proof.hashes() {
        out.push_str(&BASE64.encode(hash.as_bytes()));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(checkpoint);
    out
}

/// Parses the body of a `409` answer with [`SIZE_CONTENT_TYPE`]: a decimal size and a
/// newline.
#[must_use]
pub fn parse_size_response(body: &[u8]) -> Option<u64> {
    if body.len() > 32 {
        return None;
    }
    std::str::from_utf8(body)
        .ok()?
        .strip_suffix('\n')
        .and_then(parse_decimal)
}

/// Parses the body of a `200` answer: one or more signature lines, each ending in a
/// newline, at most [`MAX_RESPONSE_LINES`].
#[must_use]
pub fn parse_cosignatures(body: &[u8]) -> Option<Vec<NoteSignature>> {
    if body.len() > MAX_RESPONSE_LEN {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?.strip_suffix('\n')?;
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.is_empty() || lines.len() > MAX_RESPONSE_LINES {
        return None;
    }
    lines
        .into_iter()
        .map(|line| NoteSignature::from_line(line).ok())
        .collect()
}

/// An ASCII decimal with no leading zeroes (`0` alone for zero), as C2SP writes sizes.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty()
        || text.len() > 20
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use streha_audit::leaf_hash;

    const NOTE: &str = "example.org/log\n5\nAAAA\n\n\u{2014} example.org/log AAAAAAA=\n";

    #[test]
    fn an_origin_segment_round_trips_and_only_an_origin_decodes() {
        let origin = "kosovo.example/streha/police/epoch/2";
        let segment = encode_origin_segment(origin);
        assert!(!segment.contains(['/', '+', '=']), "{segment}");
        assert_eq!(decode_origin_segment(&segment).as_deref(), Some(origin));
        let longest = "o".repeat(streha_core::MAX_ORIGIN_LEN);
        let segment = encode_origin_segment(&longest);
        assert_eq!(segment.len(), MAX_LATEST_COSIGNED_SEGMENT_LEN);
        assert_eq!(decode_origin_segment(&segment), Some(longest));
        for bad in [
            encode_origin_segment(&"o".repeat(streha_core::MAX_ORIGIN_LEN + 1)),
            format!("{}=", encode_origin_segment(origin)),
            "a/b".to_owned(),
            encode_origin_segment("tab\there"),
            encode_origin_segment(""),
            String::new(),
        ] {
            assert_eq!(decode_origin_segment(&bad), None, "{bad}");
        }
    }

    #[test]
    fn a_request_round_trips() {
        let proof = ConsistencyProof::new(vec![leaf_hash(b"a"), leaf_hash(b"b")]).unwrap();
        let body = format_add_checkpoint(3, &proof, NOTE);
        assert!(body.starts_with("old 3\n"));
        let parsed = parse_add_checkpoint(body.as_bytes()).unwrap();
        assert_eq!(parsed.old_size, 3);
        assert_eq!(parsed.proof, proof);
        assert_eq!(parsed.checkpoint, NOTE);
        let empty = format_add_checkpoint(0, &ConsistencyProof::new(vec![]).unwrap(), NOTE);
        assert_eq!(empty, format!("old 0\n\n{NOTE}"));
        assert_eq!(parse_add_checkpoint(empty.as_bytes()).unwrap().old_size, 0);
    }

    #[test]
    fn malformed_requests_are_refused() {
        let hash = BASE64.encode([0u8; 32]);
        let cases: Vec<(Vec<u8>, RequestError)> = vec![
            (b"old 01\n\nx\n".to_vec(), RequestError::OldSizeLine),
            (b"old -1\n\nx\n".to_vec(), RequestError::OldSizeLine),
            (b"new 1\n\nx\n".to_vec(), RequestError::OldSizeLine),
            (b"old 1".to_vec(), RequestError::Truncated),
            (b"old 1\n".to_vec(), RequestError::Truncated),
            (b"old 1\n\n".to_vec(), RequestError::Truncated),
            (
                format!("old 1\n{hash}\n").into_bytes(),
                RequestError::Truncated,
            ),
            (
                b"old 1\n!!!!\n\nx\n".to_vec(),
                RequestError::ProofLine { line: 2 },
            ),
            (
                format!("old 1\n{}\n\nx\n", BASE64.encode([0u8; 31])).into_bytes(),
                RequestError::ProofLine { line: 2 },
            ),
            (
                format!("old 1\n{}\nx\n", format!("{hash}\n").repeat(64)).into_bytes(),
                RequestError::TooManyProofLines { max: 63 },
            ),
            (vec![b'o', 0xff, b'\n'], RequestError::NotUtf8),
            (
                vec![b'x'; MAX_REQUEST_LEN + 1],
                RequestError::TooLarge {
                    len: MAX_REQUEST_LEN + 1,
                    max: MAX_REQUEST_LEN,
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_add_checkpoint(&body),
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(&body)
            );
        }
        // 63 proof lines parse.
        let ok = format!("old 1\n{}\nx\n", format!("{hash}\n").repeat(63));
        assert_eq!(
            parse_add_checkpoint(ok.as_bytes())
                .unwrap()
                .proof
                .hashes()
                .len(),
            63
        );
    }

    #[test]
    fn a_new_epoch_request_round_trips_and_is_bounded() {
        let proof = InclusionProof::new(vec![leaf_hash(b"a"), leaf_hash(b"b")]).unwrap();
        let body = format_add_new_epoch(b"entry zero", &proof, NOTE);
        let parsed = parse_add_new_epoch(body.as_bytes()).unwrap();
        assert_eq!(parsed.declaration, b"entry zero");
        assert_eq!(parsed.proof, proof);
        assert_eq!(parsed.checkpoint, NOTE);
        let bad = RequestError::DeclarationLine {
            max: MAX_DECLARATION_LEN,
        };
        let hash = BASE64.encode([0u8; 32]);
        let longest = vec![7u8; MAX_DECLARATION_LEN];
        let cases: Vec<(Vec<u8>, RequestError)> = vec![
            (b"old 1\n\nx\n".to_vec(), bad.clone()),
            (b"declaration \n\nx\n".to_vec(), bad.clone()),
            (b"declaration !!!!\n\nx\n".to_vec(), bad.clone()),
            (
                format!(
                    "declaration {}\n\nx\n",
                    BASE64.encode(vec![7u8; MAX_DECLARATION_LEN + 1])
                )
                .into_bytes(),
                bad,
            ),
            (b"declaration AAAA\n".to_vec(), RequestError::Truncated),
            (
                b"declaration AAAA\n!!\n\nx\n".to_vec(),
                RequestError::ProofLine { line: 2 },
            ),
            (
                format!("declaration AAAA\n{}\nx\n", format!("{hash}\n").repeat(64)).into_bytes(),
                RequestError::TooManyProofLines { max: 63 },
            ),
            (
                vec![b'x'; MAX_NEW_EPOCH_REQUEST_LEN + 1],
                RequestError::TooLarge {
                    len: MAX_NEW_EPOCH_REQUEST_LEN + 1,
                    max: MAX_NEW_EPOCH_REQUEST_LEN,
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_add_new_epoch(&body),
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(&body)
            );
        }
        // The largest declaration, 63 proof lines and the largest note fit the limit.
        let full_proof = InclusionProof::new(vec![leaf_hash(b"a"); 63]).unwrap();
        let note = "n".repeat(MAX_HTTP_NOTE_LEN);
        let body = format_add_new_epoch(&longest, &full_proof, &note);
        assert!(body.len() <= MAX_NEW_EPOCH_REQUEST_LEN, "{}", body.len());
        assert_eq!(
            parse_add_new_epoch(body.as_bytes()).unwrap().declaration,
            longest
        );
    }

    #[test]
    fn answers_parse() {
        assert_eq!(parse_size_response(b"42\n"), Some(42));
        assert_eq!(parse_size_response(b"0\n"), Some(0));
        assert_eq!(parse_size_response(b"42"), None);
        assert_eq!(parse_size_response(b"042\n"), None);
        assert_eq!(parse_cosignatures(b""), None);
        assert_eq!(parse_cosignatures(b"no\n"), None);
        let line = "\u{2014} w.example AAAAAAAA\n";
        assert_eq!(parse_cosignatures(line.as_bytes()).unwrap().len(), 1);
    }
}
