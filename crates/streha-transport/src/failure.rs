//! Why a connection failed, told apart by who refused whom, and the close codes a server
//! uses to say it.

use std::net::SocketAddr;
use std::time::Duration;

/// Application close codes of a connection (`spec/protocol.md` §2).
pub mod close_codes {
    /// Closed normally (done, or the node shuts down).
    pub const DONE: u32 = 0;
    /// The handshake gave no usable peer identity.
    pub const NO_IDENTITY: u32 = 1;
    /// The peer's agency was removed from the roster.
    pub const REMOVED: u32 = 2;
    /// The node is at its connection limit, or the key holds as many connections as it may.
    pub const TOO_MANY_CONNECTIONS: u32 = 3;
}

/// The TLS alert a Streha endpoint sends when it refuses the other side's key
/// (`access_denied`, RFC 8446 §6.2; what rustls sends for
/// `CertificateError::ApplicationVerificationFailure`).
const ALERT_ACCESS_DENIED: u8 = 49;
/// The TLS alert for an ALPN the server does not speak (`no_application_protocol`).
const ALERT_NO_APPLICATION_PROTOCOL: u8 = 120;

/// Why a connection attempt or a connection failed, in terms of who must act.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionFailure {
    /// This side refused the key the server presented: it is not the pinned key.
    ServerKeyRefused,
    /// The server refused this side's key at the handshake (an application key not
    /// enrolled, a node key not in the roster).
    ClientKeyRefused,
    /// The server does not speak the protocol asked for (e.g. an application dialled a
    /// node's peer endpoint).
    WrongProtocol,
    /// The server is at a connection limit; its reason, if it gave one.
    TooManyConnections(String),
    /// The server refused the attempt before the handshake (QUIC `CONNECTION_REFUSED`):
    /// too many handshakes in progress.
    Refused,
    /// The server closed the connection for another reason; its code and reason.
    Closed {
        /// The application close code.
        code: u64,
        /// The reason it gave (sanitised, capped).
        reason: String,
    },
    /// No answer.
    TimedOut,
    /// Anything else.
    Other,
}

/// The longest reason text kept from a peer's close frame.
const MAX_REASON: usize = 200;

/// A peer's reason text, capped and with control characters replaced, fit for a log line or
/// an error message.
fn reason_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_REASON)]);
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

impl ConnectionFailure {
    /// Classifies `error`.
    pub fn of(error: &quinn::ConnectionError) -> Self {
        use quinn::{ConnectionError as E, TransportErrorCode as Code};
        match error {
            E::TransportError(e) if e.code == Code::crypto(ALERT_ACCESS_DENIED) => {
                Self::ServerKeyRefused
            }
            E::ConnectionClosed(c) if c.error_code == Code::crypto(ALERT_ACCESS_DENIED) => {
                Self::ClientKeyRefused
            }
            E::ConnectionClosed(c)
                if c.error_code == Code::crypto(ALERT_NO_APPLICATION_PROTOCOL) =>
            {
                Self::WrongProtocol
            }
            E::ConnectionClosed(c) if c.error_code == Code::CONNECTION_REFUSED => Self::Refused,
            E::ApplicationClosed(c) if c.error_code == close_codes::TOO_MANY_CONNECTIONS.into() => {
                Self::TooManyConnections(reason_text(&c.reason))
            }
            E::ApplicationClosed(c) => Self::Closed {
                code: c.error_code.into_inner(),
                reason: reason_text(&c.reason),
            },
            E::TimedOut => Self::TimedOut,
            _ => Self::Other,
        }
    }
}

/// Resolves only if `address` is refused at the network level: nothing listens on that UDP
/// port, and its host says so (ICMP port unreachable). QUIC over UDP never hears of that on
/// its own and would wait for the handshake timeout; run this beside a connection attempt
/// to fail at once instead.
///
/// It sends, from a socket of its own, a one-byte datagram every `interval`: no QUIC packet
/// (a QUIC endpoint drops it unread) and too short to draw a stateless reset. If the host
/// does not answer (a firewall drops it, or a server is there), this never resolves.
pub async fn refused(address: SocketAddr, interval: Duration) -> std::io::Error {
    use std::io::ErrorKind;
    let bind: SocketAddr = if address.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let socket = match tokio::net::UdpSocket::bind(bind).await {
        Ok(socket) => socket,
        Err(_) => return std::future::pending().await,
    };
    // A connected UDP socket is told of the ICMP error on its next send or receive.
    if socket.connect(address).await.is_err() {
        return std::future::pending().await;
    }
    let mut buf = [0u8; 64];
    loop {
        if let Err(e) = socket.send(&[0]).await
            && e.kind() == ErrorKind::ConnectionRefused
        {
            return e;
        }
        if let Ok(Err(e)) = tokio::time::timeout(interval, socket.recv(&mut buf)).await
            && e.kind() == ErrorKind::ConnectionRefused
        {
            return e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_capped_and_escaped() {
        assert_eq!(reason_text(b"busy\n\x1b[31m"), "busy\u{fffd}\u{fffd}[31m");
        assert_eq!(reason_text(&[b'a'; 1000]).len(), MAX_REASON);
    }

    #[tokio::test]
    async fn a_port_where_nothing_listens_is_refused_at_once() {
        // Bind a port, then free it: nothing listens there any more.
        let address = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let error = tokio::time::timeout(
            Duration::from_secs(60),
            refused(address, Duration::from_millis(200)),
        )
        .await
        .expect("loopback answers with port unreachable");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn a_port_that_listens_is_not_refused() {
        let listener = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let probe = tokio::spawn(refused(address, Duration::from_millis(50)));
        // The listener sees the probe's datagrams; the probe does not resolve.
        let mut buf = [0u8; 8];
        for _ in 0..3 {
            let (n, _) = listener.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &[0]);
        }
        assert!(!probe.is_finished());
        probe.abort();
    }
}
