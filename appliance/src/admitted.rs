//! A connection admitted by one of the core's listeners: it holds its place under the
//! listener's connection cap until it closes, and carries what the listener learnt of the peer
//! (the kernel's credentials on the control socket, the certificate's identity on the
//! orchestration listener), which tonic puts on every request.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tonic::transport::server::Connected;

/// `stream`, admitted, with `peer` for every request.
#[derive(Debug)]
pub(crate) struct Admitted<S, P> {
    stream: S,
    peer: P,
    _place: OwnedSemaphorePermit,
}

impl<S, P> Admitted<S, P> {
    pub(crate) fn new(stream: S, peer: P, place: OwnedSemaphorePermit) -> Self {
        Self {
            stream,
            peer,
            _place: place,
        }
    }

    /// What the listener learnt of the peer.
    pub(crate) fn peer(&self) -> &P {
        &self.peer
    }
}

impl<S, P: Clone + Send + Sync + 'static> Connected for Admitted<S, P> {
    type ConnectInfo = P;

    fn connect_info(&self) -> P {
        self.peer.clone()
    }
}

impl<S: AsyncRead + Unpin, P: Unpin> AsyncRead for Admitted<S, P> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin, P: Unpin> AsyncWrite for Admitted<S, P> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
