//! One frame each way per bidirectional stream.
//!
//! Frames are read with a [`FrameReader`]: memory grows with the bytes that arrive, never
//! from the length prefix alone. A server reads each request within a deadline and holds
//! its announced length in a [`FrameBudget`] while it reads and handles it
//! ([`read_frame_within`]); a request the budget cannot hold now is refused at once
//! ([`StreamError::Busy`]), never kept waiting with its bytes in the QUIC buffers. The
//! answer is held in the budget until the client has acknowledged it ([`send_within`]).

use std::time::Duration;

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};
use streha_wire::FrameError;
use streha_wire::frame::{self, FrameReader};

use crate::budget::{ByteBudget, FrameBudget, OverBudget, Reservation};

/// Application error codes with which a server stops or resets a stream
/// (`spec/protocol.md` §3).
pub mod stream_codes {
    /// The request could not be read: malformed, or over the frame limit.
    pub const BAD_FRAME: u32 = 1;
    /// The request did not arrive, or the answer was not taken, within the deadline.
    pub const DEADLINE: u32 = 2;
    /// The budget of bytes in flight could not hold the request now: retry later.
    pub const BUSY: u32 = 3;
}

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
    /// The request did not arrive whole within the reader's deadline.
    #[error("the request did not arrive within {0:?}; send it whole, or split a large one")]
    Deadline(Duration),
    /// The frame is larger than the reader's budget for frames in flight could ever hold.
    #[error("{0}")]
    OverBudget(#[from] OverBudget),
    /// The reader's budget for frames in flight cannot hold the frame now.
    #[error(
        "the node's budget of bytes in flight cannot take a frame of {0} bytes now; retry later"
    )]
    Busy(usize),
}

/// Writes `message` as one frame and finishes the sending side.
///
/// # Errors
/// [`StreamError::Frame`] if it cannot be encoded, [`StreamError::Write`].
pub async fn write_frame<T: Serialize>(
    send: &mut quinn::SendStream,
    message: &T,
) -> Result<(), StreamError> {
    send.write_chunk(Bytes::from(frame::encode(message)?))
        .await?;
    // The stream is already closed if the peer went away; the write above reported that.
    let _ = send.finish();
    Ok(())
}

/// Writes an encoded frame, finishes the sending side, and waits until the peer has
/// acknowledged all of it (or stopped the stream), all within `timeout`; after that the
/// stream is reset, so that a peer that does not read cannot hold the answer's memory.
/// Whoever holds the answer's [`Reservation`] keeps it until this returns. The frame is
/// handed to QUIC as it is, not copied (large envelopes pass through here).
///
/// # Errors
/// [`StreamError::Write`]; [`StreamError::Timeout`] if the peer did not take the answer in
/// time (the stream is reset with [`stream_codes::DEADLINE`]).
pub async fn send_within(
    send: &mut quinn::SendStream,
    bytes: Bytes,
    timeout: Duration,
) -> Result<(), StreamError> {
    let delivered = tokio::time::timeout(timeout, async {
        send.write_chunk(bytes).await?;
        let _ = send.finish();
        // Completes once the peer acknowledged every byte, or stopped the stream, or the
        // connection is gone: in each case nothing more is held for it.
        let _ = send.stopped().await;
        Ok::<_, StreamError>(())
    })
    .await;
    match delivered {
        Ok(result) => result,
        Err(_) => {
            let _ = send.reset(stream_codes::DEADLINE.into());
            Err(StreamError::Timeout(timeout))
        }
    }
}

/// Reads one frame of at most `limit` payload bytes and decodes it. The limit is checked on
/// the length prefix, before any payload is read, and the payload's memory grows with the
/// bytes that arrive, not with the length announced.
///
/// # Errors
/// [`StreamError::Frame`] (too large, malformed), [`StreamError::Truncated`],
/// [`StreamError::Read`].
pub async fn read_frame<T: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
    limit: usize,
) -> Result<T, StreamError> {
    read(recv, limit, None).await.map(|(message, _)| message)
}

/// Reads one request frame within `deadline`, as [`read_frame`], holding its announced
/// payload length in `budget` before reading the payload. Returns the message and the
/// reservation, for the caller to hold while it handles the request.
///
/// # Errors
/// As [`read_frame`]; [`StreamError::Deadline`] if the frame did not arrive whole in time;
/// [`StreamError::Busy`] if the budget cannot hold the announced length now;
/// [`StreamError::OverBudget`] if it never could.
pub async fn read_frame_within<T: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
    limit: usize,
    budget: &FrameBudget,
    deadline: Duration,
) -> Result<(T, Reservation), StreamError> {
    tokio::time::timeout(deadline, read(recv, limit, Some(budget)))
        .await
        .map_err(|_| StreamError::Deadline(deadline))?
}

async fn read<T: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
    limit: usize,
    budget: Option<&FrameBudget>,
) -> Result<(T, Reservation), StreamError> {
    let mut reader = FrameReader::new(limit);
    let mut reservation = Reservation::none();
    while !reader.is_complete() {
        if let (Some(budget), Some(len), 0) = (budget, reader.announced(), reservation.bytes()) {
            reservation = budget.try_reserve(len)?.ok_or(StreamError::Busy(len))?;
        }
        // Never more than the frame still needs: what follows it is not ours to take.
        match recv.read_chunk(reader.wanted(), true).await {
            Ok(Some(chunk)) => {
                reader.push(&chunk.bytes)?;
            }
            Ok(None) => return Err(StreamError::Truncated),
            Err(e) => return Err(StreamError::Read(e.to_string())),
        }
    }
    Ok((reader.decode()?, reservation))
}

/// Sends `request` on a new stream of `connection` and reads the response (at most `limit`
/// bytes), within `timeout`. If the server stops the stream before the request is all
/// written (it refused it: too large, busy), its answer is still read and returned.
///
/// # Errors
/// Any [`StreamError`].
pub async fn request<Req: Serialize, Resp: DeserializeOwned>(
    connection: &quinn::Connection,
    request: &Req,
    limit: usize,
    timeout: Duration,
) -> Result<Resp, StreamError> {
    let bytes = Bytes::from(frame::encode(request)?);
    tokio::time::timeout(timeout, exchange(connection, bytes, limit))
        .await
        .map_err(|_| StreamError::Timeout(timeout))?
}

/// One request/answer exchange on a new stream. The encoded request is handed to QUIC as it
/// is: a frame of large envelopes is not copied once more.
async fn exchange<Resp: DeserializeOwned>(
    connection: &quinn::Connection,
    bytes: Bytes,
    limit: usize,
) -> Result<Resp, StreamError> {
    let (mut send, mut recv) = connection.open_bi().await?;
    match send.write_chunk(bytes).await {
        Ok(()) => {
            let _ = send.finish();
            read_frame(&mut recv, limit).await
        }
        // Refused while it was being written: the server's answer says why.
        Err(quinn::WriteError::Stopped(code)) => read_frame(&mut recv, limit)
            .await
            .map_err(|_| StreamError::Write(quinn::WriteError::Stopped(code))),
        Err(e) => Err(e.into()),
    }
}

/// [`request`], paced by `pacing`: the encoded request's bytes are held in it (waiting,
/// within `timeout`, until it has them) until the answer is read. A sender whose pacing
/// budget is [`ByteBudget::pacing`] of the receiver's budget per connection
/// ([`streha_wire::limits::MAX_BYTES_IN_FLIGHT_PER_CONNECTION`] by default) is not
/// refused as busy for that budget, however many requests it sends at once.
///
/// # Errors
/// Any [`StreamError`]; [`StreamError::OverBudget`] if the request is larger than the
/// pacing budget.
pub async fn request_paced<Req: Serialize, Resp: DeserializeOwned>(
    connection: &quinn::Connection,
    request: &Req,
    limit: usize,
    timeout: Duration,
    pacing: &ByteBudget,
) -> Result<Resp, StreamError> {
    let bytes = Bytes::from(frame::encode(request)?);
    let paced = async {
        let _held = pacing.acquire(bytes.len()).await?;
        exchange(connection, bytes, limit).await
    };
    tokio::time::timeout(timeout, paced)
        .await
        .map_err(|_| StreamError::Timeout(timeout))?
}
