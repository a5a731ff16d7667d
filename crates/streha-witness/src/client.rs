//! The C2SP `tlog-witness` client: one `add-checkpoint` request to a witness over HTTP/1.1
//! (hyper), its answer bounded and classified. The node submits its checkpoints with it.

use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use streha_audit::{ConsistencyProof, NoteSignature};

use crate::protocol::{
    ADD_CHECKPOINT_PATH, MAX_RESPONSE_LEN, SIZE_CONTENT_TYPE, format_add_checkpoint,
    parse_cosignatures, parse_size_response,
};

/// What a witness answered to `add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200: its signature lines (not yet verified: the caller checks them).
    Cosigned(Vec<NoteSignature>),
    /// 409 with `text/x.tlog.size`: the size it last cosigned; retry from there.
    StaleOldSize(u64),
    /// Any other status (403, 404, 409 for a fork, 422, 400, 5xx), with the start of its body.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The body's first bytes, control characters removed (for the operator's log).
        message: String,
    },
}

/// Why no answer was had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not `http://host:port[/prefix]`.
    #[error("the witness URL `{0}` is not http://host[:port][/prefix]")]
    Url(String),
    /// Connecting, sending or reading failed, or took longer than the timeout.
    #[error("the witness at {url} did not answer: {problem}")]
    Transport {
        /// The witness URL.
        url: String,
        /// What failed.
        problem: String,
    },
    /// A 200 whose body is not signature lines, or a 409 size that does not parse.
    #[error("the witness at {url} answered {status} with a malformed body")]
    Malformed {
        /// The witness URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
}

/// The raw answer of a witness: status, content type and body (at most
/// [`MAX_RESPONSE_LEN`] bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Posts `body` to `<url>/add-checkpoint` and returns the raw answer.
///
/// # Errors
/// [`ClientError::Url`] or [`ClientError::Transport`].
pub async fn post_add_checkpoint(
    url: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<RawAnswer, ClientError> {
    let (authority, prefix) = split_url(url)?;
    let transport = |problem: String| ClientError::Transport {
        url: url.to_owned(),
        problem,
    };
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| transport(e.to_string()))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::post(format!("{prefix}{ADD_CHECKPOINT_PATH}"))
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| transport(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = Limited::new(response.into_body(), MAX_RESPONSE_LEN)
            .collect()
            .await
            .map_err(|e| transport(format!("reading the answer: {e}")))?
            .to_bytes()
            .to_vec();
        driver.abort();
        Ok(RawAnswer {
            status,
            content_type,
            body,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| transport(format!("no answer within {} s", timeout.as_secs())))?
}

/// Submits a checkpoint (C2SP `add-checkpoint`) and classifies the answer.
///
/// # Errors
/// [`ClientError`].
pub async fn add_checkpoint(
    url: &str,
    old_size: u64,
    proof: &ConsistencyProof,
    checkpoint: &str,
    timeout: Duration,
) -> Result<Answer, ClientError> {
    let body = format_add_checkpoint(old_size, proof, checkpoint).into_bytes();
    let raw = post_add_checkpoint(url, body, timeout).await?;
    let malformed = || ClientError::Malformed {
        url: url.to_owned(),
        status: raw.status,
    };
    match raw.status {
        200 => parse_cosignatures(&raw.body)
            .map(Answer::Cosigned)
            .ok_or_else(malformed),
        409 if raw
            .content_type
            .as_deref()
            .is_some_and(|t| t.trim().starts_with(SIZE_CONTENT_TYPE)) =>
        {
            parse_size_response(&raw.body)
                .map(Answer::StaleOldSize)
                .ok_or_else(malformed)
        }
        status => Ok(Answer::Refused {
            status,
            message: String::from_utf8_lossy(&raw.body[..raw.body.len().min(200)])
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        }),
    }
}

/// `http://host:port/prefix` → (`host:port`, `/prefix` without a trailing slash).
fn split_url(url: &str) -> Result<(String, String), ClientError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ClientError::Url(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(ClientError::Url(url.to_owned()));
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.trim_end_matches('/').to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:7480").unwrap(),
            ("127.0.0.1:7480".into(), String::new())
        );
        assert_eq!(
            split_url("http://w.example/prefix/").unwrap(),
            ("w.example:80".into(), "/prefix".into())
        );
        assert!(split_url("https://w.example").is_err());
        assert!(split_url("http:///x").is_err());
    }
}
