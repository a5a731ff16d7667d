//! One frame each way per bidirectional stream.

use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};
use streha_wire::{FrameError, frame};

/// Why a framed exchange on a stream failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The connection could not be opened or was lost.
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Writing to the stream failed.
    #[error("cannot write to the stream: {0}")]
    Write(#[from] quinn::WriteError),
    /// Reading from the stream failed (reset by the peer, connection lost).
    #[error("cannot read from the stream: {0}")]
    Read(String),
    /// The stream ended before a whole frame arrived.
    #[error("the stream ended in the middle of a frame")]
    Truncated,
    /// The bytes were not a valid frame or message.
    #[error("invalid frame: {0}")]
    Frame(#[from] FrameError),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Writes `message` as one frame and finishes the sending side.
///
/// # Errors
/// [`StreamError::Frame`] if it cannot be encoded, [`StreamError::Write`].
pub async fn write_frame<T: Serialize>(
    send: &mut quinn::SendStream,
    message: &T,
) -> Result<(), StreamError> {
    let bytes = frame::encode(message)?;
    send.write_all(&bytes).await?;
    // The stream is already closed if the peer went away; the write above reported that.
    let _ = send.finish();
    Ok(())
}

/// Reads one frame of at most `limit` payload bytes and decodes it. The limit is checked on
/// the length prefix, before the payload is read or allocated.
///
/// # Errors
/// [`StreamError::Frame`] (too large, malformed), [`StreamError::Truncated`],
/// [`StreamError::Read`].
pub async fn read_frame<T: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
    limit: usize,
) -> Result<T, StreamError> {
    let mut prefix = [0u8; 4];
    read_exact(recv, &mut prefix).await?;
    let len = frame::payload_len(prefix, limit)?;
    let mut payload = vec![0u8; len];
    read_exact(recv, &mut payload).await?;
    Ok(frame::decode_payload(&payload)?)
}

async fn read_exact(recv: &mut quinn::RecvStream, buf: &mut [u8]) -> Result<(), StreamError> {
    recv.read_exact(buf).await.map_err(|e| match e {
        quinn::ReadExactError::FinishedEarly(_) => StreamError::Truncated,
        quinn::ReadExactError::ReadError(e) => StreamError::Read(e.to_string()),
    })
}

/// Sends `request` on a new stream of `connection` and reads the response (at most `limit`
/// bytes), within `timeout`.
///
/// # Errors
/// Any [`StreamError`].
pub async fn request<Req: Serialize, Resp: DeserializeOwned>(
    connection: &quinn::Connection,
    request: &Req,
    limit: usize,
    timeout: Duration,
) -> Result<Resp, StreamError> {
    let exchange = async {
        let (mut send, mut recv) = connection.open_bi().await?;
        write_frame(&mut send, request).await?;
        read_frame(&mut recv, limit).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| StreamError::Timeout(timeout))?
}
