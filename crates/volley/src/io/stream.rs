//! A broker connection's byte stream: plain TCP, or TLS over TCP.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The read half of a split [`BrokerStream`].
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a split [`BrokerStream`].
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Plain TCP (`PLAINTEXT`, `SASL_PLAINTEXT`) or TLS (`SSL`, `SASL_SSL`).
#[derive(Debug)]
pub enum BrokerStream {
    /// Unencrypted TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: rustls's connection state is large).
    Tls(Box<TlsStream<TcpStream>>),
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
