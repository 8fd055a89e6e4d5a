//! A TCP connection to one broker: connect (every resolved address in turn), negotiate API
//! versions, then either make simple request/response calls or split into halves for the
//! pipelined sender.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpSocket;

use crate::error::{Error, KafkaCode, ProtocolError, Result, TlsErrorKind};
use crate::io::stream::{write_flushed, BrokerStream};
use crate::protocol::frame::{self, BrokerVersions, Request};
use crate::security::sasl::exchange::{self, SaslTransport};
use crate::security::tls::TlsConnector;
use crate::security::Security;

/// What a connection needs to know, from the producer's configuration.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `client.id`, sent in every request header.
    pub client_id: String,
    /// `socket.connection.setup.timeout.ms`: bound on TCP connect plus ApiVersions, per address.
    pub connect_timeout: Duration,
    /// `request.timeout.ms`: bound on each request of [`Connection::request`].
    pub request_timeout: Duration,
    /// `receive.message.max.bytes`: largest response frame accepted.
    pub max_response_size: usize,
    /// `send.buffer.bytes` (SO_SNDBUF); `None` for the OS default.
    pub send_buffer_bytes: Option<usize>,
    /// `receive.buffer.bytes` (SO_RCVBUF); `None` for the OS default.
    pub receive_buffer_bytes: Option<usize>,
    /// `security.protocol` with its TLS and SASL settings (default: `PLAINTEXT`).
    pub security: Security,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            client_id: "volley".into(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_size: frame::DEFAULT_MAX_RESPONSE_SIZE,
            send_buffer_bytes: Some(131_072),
            receive_buffer_bytes: Some(32_768),
            security: Security::default(),
        }
    }
}

/// A connected broker with negotiated API versions, authenticated if the security protocol
/// asks for it.
#[derive(Debug)]
pub struct Connection {
    addr: String,
    stream: BrokerStream,
    versions: BrokerVersions,
    next_correlation_id: i32,
    options: ConnectOptions,
    /// The SASL session's lifetime (KIP-368), when the broker gave one.
    session_lifetime: Option<Duration>,
}

/// Splits `host:port` (or `[v6]:port`) into host and port.
pub fn parse_host_port(s: &str) -> Result<(String, u16)> {
    let bad = |why: &str| Error::config("bootstrap.servers", format!("{s:?}: {why}"));
    let s = s.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| bad("expected [host]:port"))?;
        (h, p)
    } else {
        s.rsplit_once(':')
            .ok_or_else(|| bad("expected host:port"))?
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port: u16 = port.parse().map_err(|_| bad("invalid port"))?;
    Ok((host.to_string(), port))
}

impl Connection {
    /// Resolves `addr` (`host:port`), tries every address it resolves to in turn, and on the
    /// first that connects runs the TLS handshake (`SSL`, `SASL_SSL`), negotiates API versions,
    /// and authenticates (`SASL_*`). Each address gets `connect_timeout` for all of it.
    ///
    /// Errors: `Error::Network`, `Error::Protocol`, `Error::Tls`, `Error::Authentication`.
    pub async fn connect(addr: &str, options: &ConnectOptions) -> Result<Connection> {
        let (host, port) = parse_host_port(addr)?;
        let resolved: Vec<SocketAddr> = tokio::time::timeout(
            options.connect_timeout,
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        .map_err(|_| Error::Network {
            broker: addr.to_string(),
            message: "DNS resolution timed out".into(),
            source: None,
        })?
        .map_err(|e| Error::network(addr, e))?
        .collect();
        if resolved.is_empty() {
            return Err(Error::Network {
                broker: addr.to_string(),
                message: "host resolved to no address".into(),
                source: None,
            });
        }
        let mut last_err = None;
        for sa in resolved {
            match Self::connect_one(addr, &host, sa, options).await {
                Ok(c) => return Ok(c),
                // Every address of the name presents the same listener: a TLS or SASL
                // refusal will not change with the next one.
                Err(e) if e.is_authentication() => return Err(e),
                Err(e) => {
                    tracing::debug!(broker = addr, address = %sa, error = %e, "connect failed");
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.expect("at least one address was tried"))
    }

    async fn connect_one(
        addr: &str,
        host: &str,
        sa: SocketAddr,
        options: &ConnectOptions,
    ) -> Result<Connection> {
        let fut = async {
            let socket = if sa.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
            .map_err(|e| Error::network(addr, e))?;
            if let Some(n) = options.send_buffer_bytes {
                socket
                    .set_send_buffer_size(n.min(u32::MAX as usize) as u32)
                    .map_err(|e| Error::network(addr, e))?;
            }
            if let Some(n) = options.receive_buffer_bytes {
                socket
                    .set_recv_buffer_size(n.min(u32::MAX as usize) as u32)
                    .map_err(|e| Error::network(addr, e))?;
            }
            let stream = socket
                .connect(sa)
                .await
                .map_err(|e| Error::network(addr, e))?;
            stream
                .set_nodelay(true)
                .map_err(|e| Error::network(addr, e))?;
            let stream = match &options.security.tls {
                Some(tls) => BrokerStream::Tls(Box::new(tls.connect(addr, host, stream).await?)),
                None => BrokerStream::Plain(stream),
            };
            let mut conn = Connection {
                addr: addr.to_string(),
                stream,
                versions: BrokerVersions::default(),
                next_correlation_id: 0,
                options: options.clone(),
                session_lifetime: None,
            };
            conn.negotiate_versions().await?;
            if let Some(sasl) = options.security.sasl.clone() {
                let done = exchange::authenticate(&mut conn, &sasl).await?;
                conn.session_lifetime = done.session_lifetime;
            }
            Ok(conn)
        };
        tokio::time::timeout(options.connect_timeout, fut)
            .await
            .map_err(|_| Error::Network {
                broker: addr.to_string(),
                message: format!(
                    "connection setup timed out after {:?} (socket.connection.setup.timeout.ms)",
                    options.connect_timeout
                ),
                source: None,
            })?
    }

    /// ApiVersions: try v3; a broker that does not speak it answers with its range and we retry
    /// with the highest version both speak.
    async fn negotiate_versions(&mut self) -> Result<()> {
        let mut version = 3i16;
        for _ in 0..2 {
            let req = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("volley"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            let corr = self.send_frame(&req, version).await?;
            let frame = self.read_frame().await?;
            let resp = frame::decode_api_versions(frame, version, corr)
                .map_err(|e| Error::protocol(&self.addr, e))?;
            let code = KafkaCode(resp.error_code);
            if code == KafkaCode::UNSUPPORTED_VERSION {
                let theirs = resp
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map(|k| k.max_version)
                    .unwrap_or(0);
                version = theirs.min(version - 1).max(0);
                continue;
            }
            if !code.is_ok() {
                return Err(Error::request("ApiVersions", code, None));
            }
            self.versions = BrokerVersions::new(
                resp.api_keys
                    .iter()
                    .map(|k| (k.api_key, k.min_version, k.max_version)),
            )
            .with_finalized_features(
                resp.finalized_features_epoch,
                resp.finalized_features
                    .iter()
                    .map(|f| (f.name.as_str(), f.max_version_level)),
            );
            // Produce v3 (record batch v2) is the floor: fail now, with a clear error, rather
            // than at the first send.
            self.versions
                .negotiate(ApiKey::Produce)
                .map_err(|e| Error::protocol(&self.addr, e))?;
            return Ok(());
        }
        Err(Error::protocol(
            &self.addr,
            ProtocolError::UnsupportedVersion {
                api: "ApiVersions",
                client_min: 0,
                client_max: 3,
                broker: "unknown".into(),
            },
        ))
    }

    /// The broker address this connection was made to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The broker's API version ranges.
    pub fn versions(&self) -> &BrokerVersions {
        &self.versions
    }

    async fn send_frame<R: Request>(&mut self, req: &R, version: i16) -> Result<i32> {
        let corr = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let mut buf = BytesMut::new();
        frame::encode_request(&mut buf, version, corr, &self.options.client_id, req)
            .map_err(|e| Error::protocol(&self.addr, e))?;
        if let Err(e) = write_flushed(&mut self.stream, &buf).await {
            return Err(io_error(
                &self.addr,
                e,
                self.options.security.tls.as_deref(),
            ));
        }
        Ok(corr)
    }

    async fn read_frame(&mut self) -> Result<Bytes> {
        read_frame_in(
            &mut self.stream,
            self.options.max_response_size,
            &self.addr,
            self.options.security.tls.as_deref(),
        )
        .await
    }

    /// Sends one request at the highest version both sides speak and waits for its response,
    /// bounded by `request.timeout.ms`.
    pub async fn request<R: Request>(&mut self, req: &R) -> Result<R::Response> {
        let version = self
            .versions
            .negotiate(R::KEY)
            .map_err(|e| Error::protocol(&self.addr, e))?;
        self.request_version(req, version).await
    }

    /// Like [`Connection::request`] at an explicit version.
    pub async fn request_version<R: Request>(
        &mut self,
        req: &R,
        version: i16,
    ) -> Result<R::Response> {
        let timeout = self.options.request_timeout;
        let addr = self.addr.clone();
        let fut = async {
            let corr = self.send_frame(req, version).await?;
            let frame = self.read_frame().await?;
            frame::decode_response::<R>(frame, version, corr)
                .map_err(|e| Error::protocol(&self.addr, e))
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| Error::Network {
                broker: addr,
                message: format!("request timed out after {timeout:?} (request.timeout.ms)"),
                source: None,
            })?
    }

    /// The SASL session lifetime the broker gave (KIP-368): re-authenticate before it ends.
    pub fn session_lifetime(&self) -> Option<Duration> {
        self.session_lifetime
    }

    /// Hands the stream over to the pipelined driver.
    pub fn into_parts(self) -> (BrokerStream, BrokerVersions, i32) {
        (self.stream, self.versions, self.next_correlation_id)
    }
}

impl SaslTransport for Connection {
    fn broker(&self) -> &str {
        &self.addr
    }

    fn versions(&self) -> &BrokerVersions {
        &self.versions
    }

    async fn round_trip<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        self.request_version(req, version).await
    }
}

/// Reads one size-prefixed frame. The size is checked against `max` before anything is
/// allocated, and the body's buffer then grows with the bytes that arrive (it holds at most
/// twice what arrived, or 64 KiB), never to the announced size up front; a connection closed
/// mid-frame is a network error, a TLS alert (or other TLS failure) read from a TLS stream an
/// `Error::Tls`.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize, addr: &str) -> Result<Bytes> {
    read_frame_in(r, max, addr, None).await
}

/// [`read_frame`] on a stream of `tls`, whose settings word a TLS error.
async fn read_frame_in<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    addr: &str,
    tls: Option<&TlsConnector>,
) -> Result<Bytes> {
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix)
        .await
        .map_err(|e| closed_or(addr, e, tls))?;
    if looks_like_tls_record(prefix) {
        return Err(Error::Tls {
            broker: addr.to_string(),
            kind: TlsErrorKind::ProtocolMismatch,
            message: "the broker answered with a TLS record, not a Kafka frame: this listener \
                      expects TLS (security.protocol SSL or SASL_SSL)"
                .into(),
        });
    }
    let size = frame::check_frame_size(prefix, max).map_err(|e| Error::protocol(addr, e))?;
    let mut body: Vec<u8> = Vec::new();
    while body.len() < size {
        if body.len() == body.capacity() {
            // Room for what may come next, never more than the frame has left: what a frame
            // holds is at most twice what has arrived (and at least the first chunk).
            let want = body.len().max(FRAME_CHUNK).min(size - body.len());
            body.reserve_exact(want);
        }
        let room = size - body.len();
        let n = r
            .read_buf(&mut (&mut body).limit(room))
            .await
            .map_err(|e| closed_or(addr, e, tls))?;
        if n == 0 {
            return Err(closed_or(
                addr,
                std::io::ErrorKind::UnexpectedEof.into(),
                tls,
            ));
        }
    }
    Ok(Bytes::from(body))
}

/// The first allocation for a frame's body, and the least each further one adds. The size
/// prefix is the peer's word: a frame's buffer grows with the bytes that arrive (doubling), so
/// a broker announcing a large frame and sending it slowly (or never) costs what it sent, not
/// what it announced (up to `receive.message.max.bytes`).
const FRAME_CHUNK: usize = 64 * 1024;

/// Whether a frame's size prefix is really the header of a TLS record (an alert or handshake,
/// TLS 1.0 to 1.3): a TLS listener answering a plaintext client. As a size it would be over
/// 352 MB, more than any response a producer gets.
fn looks_like_tls_record(prefix: [u8; 4]) -> bool {
    matches!(prefix[0], 0x15 | 0x16) && prefix[1] == 0x03 && prefix[2] <= 0x04
}

fn closed_or(addr: &str, e: std::io::Error, tls: Option<&TlsConnector>) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::Network {
            broker: addr.to_string(),
            message: "connection closed by broker".into(),
            source: Some(std::sync::Arc::new(e)),
        }
    } else {
        io_error(addr, e, tls)
    }
}

/// The error for a failed read or write: `Error::Tls` when it carries a TLS failure (such as
/// the alert a broker sends after the handshake when it refuses a missing client certificate
/// under TLS 1.3), else `Error::Network`. `tls`, when known, words the hint.
pub(crate) fn io_error(addr: &str, e: std::io::Error, tls: Option<&TlsConnector>) -> Error {
    let typed = match tls {
        Some(t) => t.stream_error(addr, &e),
        None => crate::security::tls::stream_error(addr, &e),
    };
    typed.unwrap_or_else(|| Error::network(addr, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], max: usize) -> Result<Bytes> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut r = bytes;
        rt.block_on(read_frame(&mut r, max, "b:9092"))
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    // Failure: a frame larger than the first chunk read short or long (the buffer grows in
    // steps), or a frame whose announced size never arrives taken as complete. Invariant: the
    // body is exactly the announced bytes, whatever its size; a short one is a network error.
    #[test]
    fn frames_of_every_size_read_exactly_and_a_short_one_is_a_network_error() {
        for len in [
            0,
            1,
            FRAME_CHUNK - 1,
            FRAME_CHUNK,
            FRAME_CHUNK + 1,
            5 * FRAME_CHUNK + 3,
        ] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut bytes = framed(&body);
            bytes.extend_from_slice(b"next frame");
            assert_eq!(&read(&bytes, 1 << 20).unwrap()[..], &body[..], "{len}");
        }
        // 64 MiB announced, 10 bytes sent, then the connection ends.
        let mut short = (64i32 << 20).to_be_bytes().to_vec();
        short.extend_from_slice(&[7; 10]);
        match read(&short, 100_000_000) {
            Err(Error::Network { message, .. }) => {
                assert!(message.contains("closed"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read(&framed(&[1; 11]), 10),
            Err(Error::Protocol { .. })
        ));
    }

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            parse_host_port("localhost:9092").unwrap(),
            ("localhost".into(), 9092)
        );
        assert_eq!(
            parse_host_port("[::1]:19092").unwrap(),
            ("::1".into(), 19092)
        );
        assert!(parse_host_port("nohost").is_err());
        assert!(parse_host_port(":9092").is_err());
        assert!(parse_host_port("h:99999").is_err());
    }
}
