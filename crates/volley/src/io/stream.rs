//! A broker connection's byte stream: plain TCP, or TLS over TCP.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The read half of a split [`BrokerStream`].
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a split [`BrokerStream`].
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Writes `bytes` and flushes: a TLS stream may otherwise hold encrypted records back when the
/// socket is full, until something else is written (a no-op on plain TCP).
pub(crate) async fn write_flushed<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    bytes: &[u8],
) -> io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

/// Plain TCP (`PLAINTEXT`, `SASL_PLAINTEXT`) or TLS (`SSL`, `SASL_SSL`).
#[derive(Debug)]
pub enum BrokerStream {
    /// Unencrypted TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: rustls's connection state is large).
    Tls(Box<TlsStream<TlsTcp>>),
}

/// The TCP stream under a TLS session. It notes whether the broker sent any byte, which tells
/// a listener that closed on the TLS ClientHello (a PLAINTEXT port, reading it as an oversized
/// request) from a handshake that failed.
#[derive(Debug)]
pub struct TlsTcp {
    tcp: TcpStream,
    received: bool,
}

impl TlsTcp {
    pub(crate) fn new(tcp: TcpStream) -> TlsTcp {
        TlsTcp {
            tcp,
            received: false,
        }
    }

    /// Whether any byte was read from the broker.
    pub(crate) fn received(&self) -> bool {
        self.received
    }
}

impl AsyncRead for TlsTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.received = true;
        }
        polled
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

impl BrokerStream {
    /// Splits into halves that a reader task and a writer task own. Plain TCP splits without a
    /// lock; TLS shares one session behind tokio's split lock.
    pub fn split(self) -> (ReadHalf, WriteHalf) {
        match self {
            BrokerStream::Plain(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            BrokerStream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (Box::new(r), Box::new(w))
            }
        }
    }
}

impl AsyncRead for BrokerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            BrokerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for BrokerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BrokerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            BrokerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            BrokerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            BrokerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
