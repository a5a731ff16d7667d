//! The C2SP `tlog-witness` client: one `add-checkpoint` request to a witness over HTTP/1.1
//! (hyper), plain or over TLS (`https://`, the system's trust anchors and any CA the
//! operator adds), its answer bounded and classified; and Streha's `add-new-epoch`, the
//! first checkpoint of a new log epoch with its declaration. The node submits its
//! checkpoints with it.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use streha_audit::{ConsistencyProof, InclusionProof, NoteSignature};

use crate::protocol::{
    ADD_CHECKPOINT_PATH, ADD_NEW_EPOCH_PATH, LATEST_COSIGNED_PATH, MAX_RESPONSE_LEN,
    SIZE_CONTENT_TYPE, encode_origin_segment, format_add_checkpoint, format_add_new_epoch,
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

/// TLS settings for `https://` witnesses: the system's trust anchors (as the operating
/// system's certificate store holds them), and any extra CA certificates the operator gives.
#[derive(Clone)]
pub struct Tls(Arc<tokio_rustls::rustls::ClientConfig>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// The system's trust anchors, plus the certificates of `extra_ca_pem` (PEM, may be
    /// empty). A system store that cannot be read leaves only the extra ones.
    ///
    /// # Errors
    /// [`ClientError::Tls`] if the extra certificates do not parse.
    pub fn new(extra_ca_pem: &[u8]) -> Result<Self, ClientError> {
        use tokio_rustls::rustls::pki_types::CertificateDer;
        use tokio_rustls::rustls::pki_types::pem::PemObject as _;
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        for cert in CertificateDer::pem_slice_iter(extra_ca_pem) {
            let cert = cert.map_err(|e| ClientError::Tls(format!("a CA certificate: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::Tls(format!("a CA certificate: {e}")))?;
        }
        // With no anchor at all, plain `http://` still works and every `https://` handshake
        // fails, naming the certificate.
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self(Arc::new(config)))
    }
}

/// A connection, plain or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Why no answer was had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not `http(s)://host[:port][/prefix]`.
    #[error("the witness URL `{0}` is not http(s)://host[:port][/prefix]")]
    Url(String),
    /// The TLS settings could not be built.
    #[error("TLS for independent witnesses: {0}")]
    Tls(String),
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
    tls: &Tls,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<RawAnswer, ClientError> {
    post(url, ADD_CHECKPOINT_PATH, tls, body, timeout).await
}

/// Posts `body` to `<url>/add-new-epoch` and returns the raw answer.
///
/// # Errors
/// [`ClientError::Url`] or [`ClientError::Transport`].
pub async fn post_add_new_epoch(
    url: &str,
    tls: &Tls,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<RawAnswer, ClientError> {
    post(url, ADD_NEW_EPOCH_PATH, tls, body, timeout).await
}

/// Posts `body` to `<url><path>` and returns the raw answer.
async fn post(
    url: &str,
    path: &str,
    tls: &Tls,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<RawAnswer, ClientError> {
    exchange(url, hyper::Method::POST, path, tls, Some(body), timeout).await
}

/// Asks `<url>/latest-cosigned/<origin>` (Streha's read extension, `spec/witness.md` §2.2)
/// and returns the raw answer.
///
/// # Errors
/// [`ClientError::Url`] or [`ClientError::Transport`].
pub async fn get_latest_cosigned(
    url: &str,
    tls: &Tls,
    origin: &str,
    timeout: Duration,
) -> Result<RawAnswer, ClientError> {
    let path = format!("{LATEST_COSIGNED_PATH}/{}", encode_origin_segment(origin));
    exchange(url, hyper::Method::GET, &path, tls, None, timeout).await
}

/// What a witness answered to `latest-cosigned`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LatestCosigned {
    /// 200: the checkpoint note with its signature lines (not yet verified: the caller
    /// checks the log's signature and the witness's cosignature).
    Note(String),
    /// 404: the witness has cosigned nothing of that log, follows no such log, or is not
    /// Streha's (a C2SP `tlog-witness` has no read request).
    NotFound,
    /// Any other status, with the start of its body.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The body's first bytes, control characters removed.
        message: String,
    },
}

/// Asks a witness for the latest checkpoint of the log `origin` it cosigned.
///
/// # Errors
/// [`ClientError`]; [`ClientError::Malformed`] for a 200 whose body is not UTF-8.
pub async fn latest_cosigned(
    url: &str,
    tls: &Tls,
    origin: &str,
    timeout: Duration,
) -> Result<LatestCosigned, ClientError> {
    let raw = get_latest_cosigned(url, tls, origin, timeout).await?;
    match raw.status {
        200 => String::from_utf8(raw.body)
            .map(LatestCosigned::Note)
            .map_err(|_| ClientError::Malformed {
                url: url.to_owned(),
                status: 200,
            }),
        404 => Ok(LatestCosigned::NotFound),
        status => Ok(LatestCosigned::Refused {
            status,
            message: printable_start(&raw.body),
        }),
    }
}

/// The first bytes of a body, control characters removed (for the operator's log).
fn printable_start(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Sends one request to `<url><path>` and returns the raw answer, all within `timeout`.
async fn exchange(
    url: &str,
    method: hyper::Method,
    path: &str,
    tls: &Tls,
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<RawAnswer, ClientError> {
    let Target {
        authority,
        host,
        prefix,
        secure,
    } = split_url(url)?;
    let transport = |problem: String| ClientError::Transport {
        url: url.to_owned(),
        problem,
    };
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let stream: Box<dyn Io> = if secure {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| transport(format!("the host name: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(&tls.0))
                .connect(name, tcp)
                .await
                .map_err(|e| transport(format!("TLS: {e}")))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| transport(e.to_string()))?;
        let driver = tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{prefix}{path}"))
            .header(hyper::header::HOST, authority.as_str());
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
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
    tls: &Tls,
    old_size: u64,
    proof: &ConsistencyProof,
    checkpoint: &str,
    timeout: Duration,
) -> Result<Answer, ClientError> {
    let body = format_add_checkpoint(old_size, proof, checkpoint).into_bytes();
    classify(url, post_add_checkpoint(url, tls, body, timeout).await?)
}

/// Offers the first checkpoint of a new log epoch with its declaration (entry 0 of the
/// epoch) and the declaration's inclusion proof (Streha's `add-new-epoch`,
/// `spec/witness.md` §2.1) and classifies the answer as [`add_checkpoint`]'s: a `409` with
/// a size means the witness accepted the declaration before (go on at `add-checkpoint` from
/// that size); a witness that is not Streha's answers 404.
///
/// # Errors
/// [`ClientError`].
pub async fn add_new_epoch(
    url: &str,
    tls: &Tls,
    declaration: &[u8],
    proof: &InclusionProof,
    checkpoint: &str,
    timeout: Duration,
) -> Result<Answer, ClientError> {
    let body = format_add_new_epoch(declaration, proof, checkpoint).into_bytes();
    classify(url, post_add_new_epoch(url, tls, body, timeout).await?)
}

/// Classifies a witness's raw answer.
fn classify(url: &str, raw: RawAnswer) -> Result<Answer, ClientError> {
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
            message: printable_start(&raw.body),
        }),
    }
}

/// Where a witness URL points.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    /// `host:port` to connect to.
    authority: String,
    /// The host (for TLS server name and the `Host` header's host).
    host: String,
    /// `/prefix` without a trailing slash, or empty.
    prefix: String,
    /// `https://`.
    secure: bool,
}

/// `http(s)://host[:port]/prefix`.
fn split_url(url: &str) -> Result<Target, ClientError> {
    let (rest, secure, default_port) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, true, 443)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (rest, false, 80)
    } else {
        return Err(ClientError::Url(url.to_owned()));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.ends_with(']') => {
            match port.parse::<u16>() {
                Ok(port) => (host, port),
                Err(_) => return Err(ClientError::Url(url.to_owned())),
            }
        }
        _ => (authority, default_port),
    };
    if host.is_empty() {
        return Err(ClientError::Url(url.to_owned()));
    }
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(Target {
        authority: if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        },
        host,
        prefix: path.trim_end_matches('/').to_owned(),
        secure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = split_url("http://127.0.0.1:7480").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.prefix.as_str(), t.secure),
            ("127.0.0.1:7480", "", false)
        );
        let t = split_url("https://w.example/prefix/").unwrap();
        assert_eq!(
            (
                t.authority.as_str(),
                t.host.as_str(),
                t.prefix.as_str(),
                t.secure
            ),
            ("w.example:443", "w.example", "/prefix", true)
        );
        assert_eq!(
            split_url("http://w.example").unwrap().authority,
            "w.example:80"
        );
        assert!(split_url("ftp://w.example").is_err());
        assert!(split_url("http:///x").is_err());
        assert!(split_url("http://w.example:port").is_err());
    }
}
