//! The node's UDP sockets, wrapped so that stopping the node can wait until each is closed.
//!
//! quinn shares a socket between its endpoint, the endpoint's driver task and every
//! connection (each holds an `Arc` of it), and closes it when the last of them is gone: after
//! the endpoint handles are dropped and every connection has drained (up to three probe
//! timeouts after it was closed) and nobody holds a handle to it any more. None of that is
//! visible from outside. A node restarted in the same process (a new log epoch) binds the
//! same addresses again, so `RunningNode::shutdown` waits for [`Closed`] before it returns.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use tokio::sync::oneshot;

/// Completes once the tracked socket is closed.
pub(crate) struct Closed(oneshot::Receiver<()>);

impl Closed {
    /// Waits until the socket is closed.
    pub(crate) async fn wait(self) {
        // The sender is never used: its drop, right after the socket's, is the signal.
        let _ = self.0.await;
    }
}

impl fmt::Debug for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed")
    }
}

/// Wraps `socket` for quinn; the [`Closed`] completes when every holder of the wrapper
/// (and so of `socket`) is gone and the socket is closed.
pub(crate) fn track(socket: Arc<dyn AsyncUdpSocket>) -> (Arc<dyn AsyncUdpSocket>, Closed) {
    let (closed, signal) = oneshot::channel();
    let tracked = Tracked {
        inner: socket,
        _closed: closed,
    };
    (Arc::new(tracked), Closed(signal))
}

#[derive(Debug)]
struct Tracked {
    inner: Arc<dyn AsyncUdpSocket>,
    /// Dropped after `inner` (fields drop in declaration order): the socket is closed by the
    /// time the [`Closed`] completes. Nothing else holds `inner` but the pollers made here,
    /// which hold the wrapper too.
    _closed: oneshot::Sender<()>,
}

/// A poller of the inner socket, holding the wrapper so that the socket outlives neither.
#[derive(Debug)]
struct TrackedPoller {
    /// Dropped first: it may hold the inner socket.
    inner: Pin<Box<dyn UdpPoller>>,
    _socket: Arc<Tracked>,
}

impl UdpPoller for TrackedPoller {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context) -> Poll<io::Result<()>> {
        self.get_mut().inner.as_mut().poll_writable(cx)
    }
}

impl AsyncUdpSocket for Tracked {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(TrackedPoller {
            inner: Arc::clone(&self.inner).create_io_poller(),
            _socket: self,
        })
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        self.inner.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_recv(cx, bufs, meta)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signal comes only once the socket itself is closed, pollers included.
    #[tokio::test]
    async fn closed_completes_once_the_socket_is_closed() {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = std_socket.local_addr().unwrap();
        let runtime = quinn::default_runtime().unwrap();
        let (socket, closed) = track(runtime.wrap_udp_socket(std_socket).unwrap());
        let poller = Arc::clone(&socket).create_io_poller();
        drop(socket);
        // The poller still holds it.
        assert!(std::net::UdpSocket::bind(address).is_err());
        let mut closed = Box::pin(closed.wait());
        assert!(futures_poll_once(closed.as_mut()).is_pending());
        drop(poller);
        closed.await;
        std::net::UdpSocket::bind(address).expect("the address is free once closed");
    }

    fn futures_poll_once<F: std::future::Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        let waker = std::task::Waker::noop();
        future.poll(&mut Context::from_waker(waker))
    }
}
